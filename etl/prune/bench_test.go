package prune

import (
	"context"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// BenchmarkPruneElements: pruning 100,000 old element versions out of 150,000 (every element
// keeps its newest), 5,000 per batch. One iteration is one full prune of a fresh copy.
func BenchmarkPruneElements(b *testing.B) {
	db := dbtest.PG(b)
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		dbtest.Exec(b, db.Pool, `TRUNCATE elements`)
		dbtest.Exec(b, db.Pool, `INSERT INTO elements (type, id, version, changeset, ts, visible)
			SELECT 'n', i, v, 1, $1::timestamptz - (75 - v * 20) * interval '1 day' - i * interval '1 second', true
			FROM generate_series(1, 50000) i, generate_series(1, 3) v`, now)
		dbtest.Exec(b, db.Pool, `ANALYZE elements`)
		b.StartTimer()
		r, err := Run(ctx, db.Pool, Options{Elements: 30 * day, BatchSize: 5000, Now: func() time.Time { return now }})
		if err != nil || r.Elements != 100000 {
			b.Fatalf("%v %+v", err, r)
		}
	}
}
