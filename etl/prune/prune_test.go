package prune

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

const day = 24 * time.Hour

type elemKey struct {
	typ     string
	id      int64
	version int
}

// fill60Days writes 60 days of pipeline data ending at now and returns what the windows of
// TestPrune must remove.
func fill60Days(t *testing.T, db *pgxpool.Pool, now time.Time) (want Result, keepElems map[elemKey]bool) {
	t.Helper()
	ctx := context.Background()
	var b pgx.Batch
	csCut, elCut, diffCut, runCut := now.Add(-30*day), now.Add(-30*day), now.Add(-45*day), now.Add(-14*day)

	// A changeset every 6 hours; even ones closed an hour after creation; one in 3 labelled and analysed.
	for i := 0; i < 240; i++ {
		created := now.Add(-time.Duration(i) * 6 * time.Hour)
		age := created
		var closed *time.Time
		if i%2 == 0 {
			c := created.Add(time.Hour)
			closed, age = &c, c
		}
		b.Queue(`INSERT INTO changesets (id, created_at, closed_at, first_seen, state) VALUES ($1, $2, $3, $4, 'done')`, i+1, created, closed, now)
		if i%3 == 0 {
			b.Queue(`INSERT INTO changeset_labels (changeset_id, label, source, evidence) VALUES ($1, 'x', 'filter', '{}'), ($1, 'y', 'analyse', '{}')`, i+1)
			b.Queue(`INSERT INTO analyses (changeset_id, schema_version, doc, complete) VALUES ($1, 1, '{}', true)`, i+1)
		}
		if age.Before(csCut) {
			want.Changesets++
			if i%3 == 0 {
				want.Labels += 2
				want.Analyses++
			}
		}
	}
	// Without metadata: first_seen decides.
	b.Queue(`INSERT INTO changesets (id, first_seen) VALUES (1001, $1), (1002, $2)`, now.Add(-31*day), now.Add(-29*day))
	want.Changesets++
	// Exactly at the cutoff is not older than it.
	b.Queue(`INSERT INTO changesets (id, created_at, first_seen) VALUES (1003, $1, $1)`, csCut)

	// Element versions: element k has 1 + k%5 versions, version v made 60 - 12v + k%7 days ago.
	keepElems = map[elemKey]bool{}
	for _, typ := range []string{"n", "w", "r"} {
		for k := int64(1); k <= 150; k++ {
			n := 1 + int(k%5)
			for v := 1; v <= n; v++ {
				ts := now.Add(-time.Duration(60-12*v+int(k%7)) * day).Add(-time.Duration(k) * time.Minute)
				b.Queue(`INSERT INTO elements (type, id, version, changeset, ts, visible, tags) VALUES ($1, $2, $3, 1, $4, true, '{}')`, typ, k, v, ts)
				if ts.Before(elCut) && v < n {
					want.Elements++
				} else {
					keepElems[elemKey{typ, k, v}] = true
				}
			}
		}
	}
	// An old version whose newer one is exactly at the cutoff: removed; the newer one kept.
	b.Queue(`INSERT INTO elements (type, id, version, changeset, ts, visible) VALUES ('n', 9999, 1, 1, $1, true), ('n', 9999, 2, 1, $2, true)`, elCut.Add(-day), elCut)
	want.Elements++
	keepElems[elemKey{"n", 9999, 2}] = true

	// A diff an hour and a job run an hour, for 60 days.
	for h := 0; h < 60*24; h++ {
		ts := now.Add(-time.Duration(h) * time.Hour)
		b.Queue(`INSERT INTO diffs (seq, seq_timestamp, bytes, elements, elements_kept, changesets, processing_ms) VALUES ($1, $2, 1, 1, 1, 1, 1)`, 100000-h, ts)
		b.Queue(`INSERT INTO job_runs (run_id, job, started_at, finished_at, outcome) VALUES ($1, 'fetch', $2, $2, 'ok')`, "r"+ts.Format(time.RFC3339), ts)
		if ts.Before(diffCut) {
			want.Diffs++
		}
		if ts.Before(runCut) {
			want.JobRuns++
		}
	}
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		t.Fatal(err)
	}
	return want, keepElems
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	db := dbtest.PG(t)
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	want, keep := fill60Days(t, db.Pool, now)
	if want.Changesets == 0 || want.Elements == 0 || want.Diffs == 0 || want.JobRuns == 0 {
		t.Fatalf("fixture removes nothing somewhere: %+v", want)
	}
	newest := func() map[[2]any]int {
		rows, _ := db.Pool.Query(ctx, `SELECT type::text, id, max(version) FROM elements GROUP BY 1, 2`)
		m := map[[2]any]int{}
		for rows.Next() {
			var typ string
			var id int64
			var v int
			rows.Scan(&typ, &id, &v)
			m[[2]any{typ, id}] = v
		}
		rows.Close()
		return m
	}
	newestBefore := newest()
	opts := Options{Changesets: 30 * day, Elements: 30 * day, Diffs: 45 * day, JobRuns: 14 * day, BatchSize: 37, Now: func() time.Time { return now }}
	got, err := Run(ctx, db.Pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("pruned %+v, want %+v", got, want)
	}
	// What is left is exactly what is not older than the windows.
	var old int
	db.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM changesets WHERE coalesce(closed_at, created_at, first_seen) < $1) +
		(SELECT count(*) FROM diffs WHERE seq_timestamp < $2) +
		(SELECT count(*) FROM job_runs WHERE started_at < $3)`, now.Add(-30*day), now.Add(-45*day), now.Add(-14*day)).Scan(&old)
	if old != 0 {
		t.Errorf("%d rows older than their window remain", old)
	}
	rows, err := db.Pool.Query(ctx, `SELECT type::text, id, version FROM elements`)
	if err != nil {
		t.Fatal(err)
	}
	left := map[elemKey]bool{}
	for rows.Next() {
		var k elemKey
		rows.Scan(&k.typ, &k.id, &k.version)
		left[k] = true
	}
	rows.Close()
	if len(left) != len(keep) {
		t.Errorf("%d element versions left, want %d", len(left), len(keep))
	}
	for k := range keep {
		if !left[k] {
			t.Errorf("element version %v was removed", k)
		}
	}
	newestAfter := newest()
	if len(newestAfter) != len(newestBefore) {
		t.Errorf("%d elements left, want %d", len(newestAfter), len(newestBefore))
	}
	for k, v := range newestBefore {
		if newestAfter[k] != v {
			t.Errorf("element %v: newest version %d, want %d", k, newestAfter[k], v)
		}
	}
	var orphans int
	db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM analyses WHERE changeset_id NOT IN (SELECT id FROM changesets)) +
		(SELECT count(*) FROM changeset_labels WHERE changeset_id NOT IN (SELECT id FROM changesets))`).Scan(&orphans)
	if orphans != 0 {
		t.Errorf("%d analyses or labels of removed changesets remain", orphans)
	}

	again, err := Run(ctx, db.Pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Total() != 0 {
		t.Errorf("second run removed %+v", again)
	}
	// Zero windows keep everything.
	if r, err := Run(ctx, db.Pool, Options{Now: func() time.Time { return now.Add(365 * day) }}); err != nil || r.Total() != 0 {
		t.Errorf("prune with no windows: %+v %v", r, err)
	}
}

// Analyse's per-day cache of OSM user details keeps only the days it can still read.
func TestPruneUserCache(t *testing.T) {
	ctx := context.Background()
	db := dbtest.PG(t)
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for d := range 6 {
		if _, err := db.Pool.Exec(ctx, `INSERT INTO osm_users (uid, day, changesets_count, blocks_received, blocks_active)
			VALUES (7, $1::date, 10, 0, 0)`, now.Add(-time.Duration(d)*day)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Run(ctx, db.Pool, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var left int
	var oldest time.Time
	db.Pool.QueryRow(ctx, `SELECT count(*), min(day) FROM osm_users`).Scan(&left, &oldest)
	if got.UserCache != 3 || left != 3 || oldest.Format("2006-01-02") != "2026-11-20" {
		t.Fatalf("removed %d, left %d from %s; want 3 removed and 2026-11-20..22 kept", got.UserCache, left, oldest)
	}
	if again, _ := Run(ctx, db.Pool, Options{Now: func() time.Time { return now }}); again.Total() != 0 {
		t.Fatalf("second run removed %+v", again)
	}
}
