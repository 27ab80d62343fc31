package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ReadStats reads the statistics Generate wrote to dir/stats.json.
func ReadStats(dir string) (*Stats, error) {
	b, err := os.ReadFile(filepath.Join(dir, "stats.json"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("sim: stats %s: %w", dir, errNoStats)
		}
		return nil, fmt.Errorf("sim: stats: %w", err)
	}
	var st Stats
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("sim: stats %s: stats.json: %w", dir, err)
	}
	return &st, nil
}

// PlanetRanges are the volumes a planet-profile minute must have.
var PlanetRanges = struct {
	Changesets, Elements, XMLBytes [2]int64
}{
	Changesets: [2]int64{150, 300},
	Elements:   [2]int64{10_000, 40_000},
	XMLBytes:   [2]int64{1_000_000, 4_000_000},
}

// Write prints the statistics as a readable report.
func (st *Stats) Write(w io.Writer) error {
	end := st.StartTime.Add(time.Duration(st.Minutes) * time.Minute)
	fmt.Fprintf(w, "profile     %s (seed %d", st.Profile, st.Seed)
	if st.Base != "" {
		fmt.Fprintf(w, ", base %s", st.Base)
	}
	fmt.Fprintf(w, ")\nsequences   %d..%d (%d minutes, %s .. %s)\n", st.StartSeq, st.EndSeq, st.Minutes,
		st.StartTime.Format(time.RFC3339), end.Format(time.RFC3339))
	fmt.Fprintf(w, "changesets  %d with edits, %d touching the region; %d mappers\n", st.Changesets, st.RegionChangesets, st.Users)
	if st.Elapsed > 0 {
		fmt.Fprintf(w, "generated   in %s\n", st.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "\nper minute            min      median         max        total\n")
	row := func(name string, r Range) {
		fmt.Fprintf(w, "%-16s %10d  %10d  %10d  %11d\n", name, r.Min, r.Median, r.Max, r.Total)
	}
	row("changesets", st.ChangesetsPerMinute)
	row("element versions", st.ElementsPerMinute)
	var c, m, d int64
	for _, x := range st.PerMinute {
		c, m, d = c+int64(x.Creates), m+int64(x.Modifies), d+int64(x.Deletes)
	}
	if all := c + m + d; all > 0 {
		fmt.Fprintf(w, "  of which        create %d%%, modify %d%%, delete %d%%\n", 100*c/all, 100*m/all, 100*d/all)
	}
	row("osmChange bytes", st.XMLBytesPerMinute)
	row("gzip bytes", st.GzBytesPerMinute)
	if st.Profile == ProfilePlanet {
		in := func(r Range, lim [2]int64) string {
			if r.Min >= lim[0] && r.Max <= lim[1] {
				return "ok"
			}
			return "OUT OF RANGE"
		}
		fmt.Fprintf(w, "\nplanet ranges: changesets %d-%d %s, element versions %d-%d %s, osmChange bytes %d-%d %s\n",
			PlanetRanges.Changesets[0], PlanetRanges.Changesets[1], in(st.ChangesetsPerMinute, PlanetRanges.Changesets),
			PlanetRanges.Elements[0], PlanetRanges.Elements[1], in(st.ElementsPerMinute, PlanetRanges.Elements),
			PlanetRanges.XMLBytes[0], PlanetRanges.XMLBytes[1], in(st.XMLBytesPerMinute, PlanetRanges.XMLBytes))
	}
	if len(st.Kinds) > 0 {
		fmt.Fprintf(w, "\nregion changesets by kind:\n")
		ks := make([]string, 0, len(st.Kinds))
		for k := range st.Kinds {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		for _, k := range ks {
			fmt.Fprintf(w, "  %-20s %6d\n", k, st.Kinds[k])
		}
	}
	return nil
}

// PlanetOK says whether every minute is inside the planet ranges.
func (st *Stats) PlanetOK() bool {
	ok := func(r Range, lim [2]int64) bool { return r.Min >= lim[0] && r.Max <= lim[1] }
	return ok(st.ChangesetsPerMinute, PlanetRanges.Changesets) && ok(st.ElementsPerMinute, PlanetRanges.Elements) &&
		ok(st.XMLBytesPerMinute, PlanetRanges.XMLBytes)
}
