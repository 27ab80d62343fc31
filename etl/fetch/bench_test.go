package fetch

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/osmtrack/osmtrack/etl/sim"
)

// BenchmarkFetchPlanetDiff is one planet-profile minutely diff end to end: download from the
// simulator's server, gunzip, parse, match a city region, write to PostGIS and commit.
// Compare with `osmium cat FILE.osc.gz -f opl -o /dev/null` on the same files: set
// OSMTRACK_BENCH_SIM_DIR to a directory made by `osmtrack sim generate --profile planet
// --minutes 5 --seed 42` to use it (and its replication/minute/006/000/00[0-4].osc.gz with osmium).
func BenchmarkFetchPlanetDiff(b *testing.B) {
	const minutes = 5
	dir := os.Getenv("OSMTRACK_BENCH_SIM_DIR")
	if dir == "" {
		dir = simDir(b, sim.ProfilePlanet, minutes)
	}
	srv := simServer(b, dir, sim.Faults{})
	db := pg(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		region bool
	}{{"city", true}, {"planet", false}} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFetcher(db, srv.URL, nil)
			if bc.region {
				f.Regions = simRegion(b, dir)
			}
			i := 0
			for b.Loop() {
				if i%minutes == 0 {
					b.StopTimer()
					if _, err := db.Exec(ctx, `TRUNCATE elements, diffs, changesets, changeset_diffs, replication_state CASCADE`); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				res, err := f.Run(ctx, Options{Pointer: "bench", Start: fmt.Sprint(simStart), MaxFiles: 1})
				if err != nil || res.Applied != 1 {
					b.Fatalf("%+v %v", res, err)
				}
				i++
			}
		})
	}
}
