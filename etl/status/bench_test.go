package status

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
	dbtest.Exec(b, db.Pool, `INSERT INTO diffs (seq, seq_timestamp, bytes, elements, elements_kept, changesets, processing_ms)
		SELECT s, $1::timestamptz - (129600 - s) * interval '1 minute', 1, 1, 1, 1, 1 FROM generate_series(1, 129600) s
		WHERE s NOT IN (5000, 70000, 70001)`, now)
	dbtest.Exec(b, db.Pool, `INSERT INTO replication_state (name, seq, seq_timestamp) VALUES ('minute', 129600, $1)`, now)
	dbtest.Exec(b, db.Pool, `INSERT INTO changesets (id, state) SELECT i, (ARRAY['new','filtered','dropped','analysed','done','failed'])[1 + i % 6] FROM generate_series(1, 20000) i`)
	dbtest.Exec(b, db.Pool, `INSERT INTO job_runs (run_id, job, started_at, finished_at, outcome)
		SELECT 'r' || i, (ARRAY['fetch','filter','analyse','publish'])[1 + i % 4], $1::timestamptz - i * interval '1 minute', $1::timestamptz - i * interval '1 minute', 'ok'
		FROM generate_series(1, 43200) i`, now)
	dbtest.Exec(b, db.Pool, `ANALYZE`)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		r, err := Collect(ctx, db.Pool, Options{})
		if err != nil || r.GapsTotal != 2 {
			b.Fatalf("%v %d", err, r.GapsTotal)
		}
	}
}
