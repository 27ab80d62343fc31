package ops

import (
	"context"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// BenchmarkStatus: a status report over 90 days of diffs (129,600 rows, 3 gaps), 20,000
// changesets and 30 days of job runs — the gap scan is the cost.
func BenchmarkStatus(b *testing.B) {
	db := dbtest.PG(b)
	now := time.Now().UTC()
	mustExec(b, db.Pool, `INSERT INTO diffs (seq, seq_timestamp, bytes, elements, elements_kept, changesets, processing_ms)
		SELECT s, $1::timestamptz - (129600 - s) * interval '1 minute', 1, 1, 1, 1, 1 FROM generate_series(1, 129600) s
		WHERE s NOT IN (5000, 70000, 70001)`, now)
	mustExec(b, db.Pool, `INSERT INTO replication_state (name, seq, seq_timestamp) VALUES ('minute', 129600, $1)`, now)
	mustExec(b, db.Pool, `INSERT INTO changesets (id, state) SELECT i, (ARRAY['new','filtered','dropped','analysed','done','failed'])[1 + i % 6] FROM generate_series(1, 20000) i`)
	mustExec(b, db.Pool, `INSERT INTO job_runs (run_id, job, started_at, finished_at, outcome)
		SELECT 'r' || i, (ARRAY['fetch','filter','analyse','publish'])[1 + i % 4], $1::timestamptz - i * interval '1 minute', $1::timestamptz - i * interval '1 minute', 'ok'
		FROM generate_series(1, 43200) i`, now)
	mustExec(b, db.Pool, `ANALYZE`)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		r, err := Status(ctx, db.Pool, StatusOptions{})
		if err != nil || r.GapsTotal != 2 {
			b.Fatalf("%v %d", err, r.GapsTotal)
		}
	}
}

// BenchmarkPruneElements: pruning 100,000 old element versions out of 150,000 (every element
// keeps its newest), 5,000 per batch. One iteration is one full prune of a fresh copy.
func BenchmarkPruneElements(b *testing.B) {
	db := dbtest.PG(b)
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		mustExec(b, db.Pool, `TRUNCATE elements`)
		mustExec(b, db.Pool, `INSERT INTO elements (type, id, version, changeset, ts, visible)
			SELECT 'n', i, v, 1, $1::timestamptz - (75 - v * 20) * interval '1 day' - i * interval '1 second', true
			FROM generate_series(1, 50000) i, generate_series(1, 3) v`, now)
		mustExec(b, db.Pool, `ANALYZE elements`)
		b.StartTimer()
		r, err := Prune(ctx, db.Pool, PruneOptions{Elements: 30 * day, BatchSize: 5000, Now: func() time.Time { return now }})
		if err != nil || r.Elements != 100000 {
			b.Fatalf("%v %+v", err, r)
		}
	}
}

// BenchmarkBackupPostGIS: pg_dump of the fillPostGIS data set with its manifest.
func BenchmarkBackupPostGIS(b *testing.B) {
	db := dbtest.PG(b)
	fillPostGIS(b, db.Pool)
	ctx := context.Background()
	dir := b.TempDir()
	for b.Loop() {
		if _, _, err := BackupPostGIS(ctx, dir, PostGISOptions{URL: db.URL}); err != nil {
			b.Fatal(err)
		}
	}
}
