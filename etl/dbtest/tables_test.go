package dbtest

import (
	"context"
	"testing"
)

// Tables sees a change in any column, and a wall-clock column only when it becomes set or unset.
func TestTables(t *testing.T) {
	db := PG(t)
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO changesets (id, username, state, updated_at) VALUES (1, 'a', 'new', now())`)
	before := Tables(t, db.Pool)
	if len(before) < 10 || before["changesets"] == "" {
		t.Fatalf("tables: %v", before)
	}
	exec(`UPDATE changesets SET updated_at = now() + interval '1 hour'`)
	if after := Tables(t, db.Pool); after["changesets"] != before["changesets"] {
		t.Errorf("a new wall-clock time changed the checksum")
	}
	exec(`UPDATE changesets SET download_status = 200`)
	if after := Tables(t, db.Pool); after["changesets"] == before["changesets"] {
		t.Errorf("download_status changed and the checksum did not")
	}
	exec(`UPDATE changesets SET download_status = NULL, download_at = now()`)
	if after := Tables(t, db.Pool); after["changesets"] == before["changesets"] {
		t.Errorf("download_at became set and the checksum did not change")
	}
	if _, ok := Tables(t, db.Pool, "job_runs")["job_runs"]; ok {
		t.Errorf("a skipped table is listed")
	}
}
