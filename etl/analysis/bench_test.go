package analysis

import (
	"context"
	"testing"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/elements"
)

// BenchmarkAnalyse5000 analyses a 5,000-element changeset whose before-states are all in the
// PostGIS element store (target ≤ 500 ms per analysis).
func BenchmarkAnalyse5000(b *testing.B) {
	db := dbtest.PG(b)
	ctx := context.Background()
	hist, cs := synth(77, 5000)
	ps := &PGStore{DB: db.Pool}
	if err := ps.Put(ctx, append(append([]elements.Element{}, hist...), cs...)); err != nil {
		b.Fatal(err)
	}
	db.Pool.Exec(ctx, `ANALYZE elements`)
	a := &Analyzer{Config: config.Default().Analyse, Store: ps, Log: quiet}
	m := meta(map[string]string{"created_by": "JOSM/1.5", "comment": "resurface streets"})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		elems, err := ps.ChangesetElements(ctx, 77)
		if err != nil {
			b.Fatal(err)
		}
		d, _, err := a.Analyse(ctx, Input{Meta: m, Elems: elems})
		if err != nil {
			b.Fatal(err)
		}
		if !d.Complete || d.Counts.Total != 5000 {
			b.Fatalf("complete=%v total=%d", d.Complete, d.Counts.Total)
		}
	}
}

// BenchmarkAnalyse5000Memory is the same analysis with the before-states in memory: the cost
// of the analysis itself, without the database.
func BenchmarkAnalyse5000Memory(b *testing.B) {
	hist, cs := synth(77, 5000)
	a := &Analyzer{Config: config.Default().Analyse, Store: NewMemStore(hist), Log: quiet}
	m := meta(map[string]string{"created_by": "JOSM/1.5", "comment": "resurface streets"})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := a.Analyse(context.Background(), Input{Meta: m, Elems: cs}); err != nil {
			b.Fatal(err)
		}
	}
}
