package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
)

const csdir = "../testdata/osm/changesets"

func TestAnalyseFile(t *testing.T) {
	code, out, msg := runIO(t, "analyse-file", "--meta", filepath.Join(csdir, "154042452.xml"), "--osc", filepath.Join(csdir, "154042452.osc"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, msg)
	}
	var doc struct {
		Counts   struct{ Total int }
		Reasons  []struct{ Code string }
		Complete bool
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Counts.Total != 1596 || len(doc.Reasons) != 1 || doc.Reasons[0].Code != "possible_import" || doc.Complete {
		t.Errorf("doc %+v", doc)
	}
	code, out, msg = runIO(t, "analyse-file", "--format", "text", "--meta", filepath.Join(csdir, "154244909.xml"), "--osc", filepath.Join(csdir, "154244909.osc"))
	if code != exitOK || !strings.Contains(out, "warning:almost_junction") || !strings.Contains(out, "complete: no") {
		t.Errorf("text: exit %d %s\n%s", code, msg, out)
	}
}

func TestAnalyseFileBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.osc")
	os.WriteFile(bad, []byte("<osmChange>\n<modify>\n<node id=\"1\" version=\"2\"\n</modify>\n"), 0o644)
	meta := filepath.Join(csdir, "155176527.xml")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--meta", meta, "--osc", bad}, bad + ":4"},
		{[]string{"--meta", meta, "--osc", filepath.Join(dir, "none.osc")}, "none.osc"},
		{[]string{"--meta", bad, "--osc", filepath.Join(csdir, "155176527.osc")}, bad},
		{[]string{"--meta", meta, "--osc", filepath.Join(csdir, "155176527.osc"), "--history", bad}, bad + ":4"},
		{[]string{"--meta", meta}, "--osc are required"},
		{[]string{"--meta", meta, "--osc", bad, "--format", "xml"}, "--format"},
	} {
		code, msg := runCLI(t, append([]string{"analyse-file"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 naming %q", tc.args, code, msg, tc.want)
		}
	}
}

func TestAnalyseStep(t *testing.T) {
	db := dbtest.PG(t)
	t.Setenv(config.EnvDatabaseURL, db.URL)
	t.Setenv(config.EnvInfluxURL, "")
	ctx := context.Background()
	if code, msg := runCLI(t, "analyse", "--no-api"); code != exitOK {
		t.Fatalf("nothing to do: exit %d %s", code, msg)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO changesets (id, username, uid, created_at, closed_at, open, tags, state, meta_updated_at)
		VALUES (5, 'u', 1, now() - interval '1 hour', now() - interval '30 minutes', false, '{"created_by":"iD","changesets_count":"3"}', 'filtered', now() - interval '30 minutes');
		INSERT INTO elements (type, id, version, changeset, ts, visible, action, tags, geom)
		VALUES ('n', 1, 1, 5, now(), true, 'create', '{"amenity":"bench"}', ST_SetSRID(ST_MakePoint(8, 50), 4326))`); err != nil {
		t.Fatal(err)
	}
	if code, msg := runCLI(t, "analyse", "--no-api"); code != exitOK {
		t.Fatalf("exit %d %s", code, msg)
	}
	var state string
	var reasons []string
	if err := db.Pool.QueryRow(ctx, `SELECT c.state, a.reasons FROM changesets c JOIN analyses a ON a.changeset_id = c.id WHERE c.id = 5`).Scan(&state, &reasons); err != nil {
		t.Fatal(err)
	}
	if state != "done" || len(reasons) != 1 || reasons[0] != "new_mapper" {
		t.Errorf("state %s reasons %v", state, reasons)
	}
	var outcome string
	db.Pool.QueryRow(ctx, `SELECT outcome FROM job_runs WHERE job = 'analyse' ORDER BY started_at DESC LIMIT 1`).Scan(&outcome)
	if outcome != "ok" {
		t.Errorf("job run outcome %q", outcome)
	}
}
