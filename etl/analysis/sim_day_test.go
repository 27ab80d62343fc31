package analysis

import (
	"compress/gzip"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmapi"
	"github.com/osmtrack/osmtrack/etl/sim"
)

// allReasonCodes is every reason code the analysis can emit (issue 6). scripts/demo.sh checks
// its site against the same list: keep them in step.
var allReasonCodes = []string{
	"possible_import", "mass_modification", "mass_deletion", "no_editor", "suspect_word", "review_requested",
	"warning:almost_junction", "warning:close_nodes", "warning:crossing_ways", "warning:disconnected_way",
	"warning:impossible_oneway", "warning:mismatched_geometry", "warning:missing_role", "warning:missing_tag",
	"warning:outdated_tags", "warning:private_data", "warning:unsquare_way", "warning:generic_name",
	"new_mapper", "multiple_blocks", "large_building", "dragged_node", "very_long_name", "major_road_deleted",
	"place_changed",
}

// TestSimulatedDayReasons: the region day that scripts/demo.sh generates (profile region, 1440
// minutes, seed 1), analysed changeset by changeset from the simulator's own data in memory (the
// base world and every diff in the store, as fetch fills it; user details from the simulator's
// API), gives every reason code the analysis knows at least once, and no other.
func TestSimulatedDayReasons(t *testing.T) {
	day := simulatedDay(t)
	first := map[string]int64{} // code → first changeset that gave it
	for i, id := range day.ids {
		for _, code := range day.docs[i].ReasonCodes() {
			if _, ok := first[code]; !ok {
				first[code] = id
			}
		}
	}
	t.Logf("%d changesets analysed; first changeset per reason: %v", len(day.ids), first)
	for _, code := range allReasonCodes {
		if _, ok := first[code]; !ok {
			t.Errorf("no changeset of the simulated region day gave reason %s", code)
		}
	}
	for code, id := range first {
		if !slices.Contains(allReasonCodes, code) {
			t.Errorf("changeset %d: reason %s is not in allReasonCodes (add it there and to scripts/demo.sh)", id, code)
		}
	}
}

// simDay is the region day of scripts/demo.sh analysed changeset by changeset (see
// simulatedDay): the changeset ids in order and their documents.
type simDay struct {
	ids  []int64
	docs []*Document
}

var (
	simDayOnce sync.Once
	simDayVal  simDay
	simDayErr  error
)

// simulatedDay analyses the region day that scripts/demo.sh generates (profile region, 1440
// minutes, seed 1), changeset by changeset in id order, from the simulator's own data in memory
// (the base world and every diff in the store, as fetch fills it; user details from the
// simulator's API). Once per test binary.
func simulatedDay(t *testing.T) simDay {
	t.Helper()
	simDayOnce.Do(func() { simDayVal, simDayErr = analyseSimulatedDay() })
	if simDayErr != nil {
		t.Fatal(simDayErr)
	}
	return simDayVal
}

func analyseSimulatedDay() (simDay, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "analysis-simday-")
	if err != nil {
		return simDay{}, err
	}
	defer os.RemoveAll(dir)
	st, err := sim.Generate(ctx, sim.Options{Profile: sim.ProfileRegion, Minutes: 1440, Seed: 1, Out: dir})
	if err != nil {
		return simDay{}, err
	}

	// The element store: the base world and every diff; the changesets' elements from the diffs.
	store := NewMemStore(nil)
	base, err := readGzFile(filepath.Join(dir, "api/base.osm.gz"), DecodeElements)
	if err != nil {
		return simDay{}, err
	}
	if err := store.Put(ctx, base); err != nil {
		return simDay{}, err
	}
	elems := map[int64][]elements.Element{}
	for seq := st.StartSeq; seq <= st.EndSeq; seq++ {
		p := filepath.Join(dir, "replication/minute", fmt.Sprintf("%03d/%03d/%03d.osc.gz", seq/1000000, seq/1000%1000, seq%1000))
		es, err := readGzFile(p, DecodeElements)
		if err != nil {
			return simDay{}, err
		}
		if err := store.Put(ctx, es); err != nil {
			return simDay{}, err
		}
		for _, e := range es {
			elems[e.Changeset] = append(elems[e.Changeset], e)
		}
	}

	// Changeset metadata: the newest appearance in the changeset feed.
	metas := map[int64]*osm.Changeset{}
	var files []string
	filepath.WalkDir(filepath.Join(dir, "replication/changesets"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".osm.gz") {
			files = append(files, p)
		}
		return err
	})
	sort.Strings(files) // zero-padded: file order
	for _, p := range files {
		o, err := readGzFile(p, func(r io.Reader, name string) (*osm.OSM, error) {
			var o osm.OSM
			if err := xml.NewDecoder(r).Decode(&o); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return &o, nil
		})
		if err != nil {
			return simDay{}, err
		}
		for _, c := range o.Changesets {
			metas[int64(c.ID)] = c
		}
	}

	h, err := sim.NewServer(dir, sim.Faults{})
	if err != nil {
		return simDay{}, err
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client, err := osmapi.New(osmapi.Options{BaseURL: srv.URL + "/api/0.6/", RequestsPerSecond: 10000, Burst: 100, Backoff: time.Millisecond, Retries: 1, UserAgent: "osmtrack-test"})
	if err != nil {
		return simDay{}, err
	}
	a := &Analyzer{Config: config.Default().Analyse, Store: store, API: client, Users: client, UserCache: store, Log: quiet}

	var day simDay
	for id := range elems {
		day.ids = append(day.ids, id)
	}
	slices.Sort(day.ids)
	for _, id := range day.ids {
		c := metas[id]
		if c == nil {
			return simDay{}, fmt.Errorf("changeset %d has elements but no metadata", id)
		}
		d, _, err := a.Analyse(ctx, Input{Meta: simMeta(c, len(elems[id])), Elems: elems[id]})
		if err != nil {
			return simDay{}, fmt.Errorf("changeset %d: %w", id, err)
		}
		day.docs = append(day.docs, d)
	}
	return day, nil
}

func readGzFile[T any](path string, decode func(io.Reader, string) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return decode(zr, path)
}

// simMeta is what /api/0.6/changeset/ID says, from the changeset feed's record.
func simMeta(c *osm.Changeset, total int) Meta {
	m := Meta{ID: int64(c.ID), User: c.User, UID: int64(c.UserID), Open: c.Open, CommentsCount: c.CommentsCount,
		ChangesCount: c.ChangesCount, Tags: c.Tags.Map(), DiffTotal: total}
	for _, p := range []struct {
		t   time.Time
		dst **time.Time
	}{{c.CreatedAt, &m.CreatedAt}, {c.ClosedAt, &m.ClosedAt}} {
		if !p.t.IsZero() {
			v := p.t.UTC()
			*p.dst = &v
		}
	}
	if c.MinLat != 0 || c.MaxLat != 0 {
		m.BBox = &[4]float64{c.MinLon, c.MinLat, c.MaxLon, c.MaxLat}
	}
	return m
}
