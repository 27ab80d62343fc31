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
	"testing"
	"time"

	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/config"
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
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sim.Generate(ctx, sim.Options{Profile: sim.ProfileRegion, Minutes: 1440, Seed: 1, Out: dir})
	if err != nil {
		t.Fatal(err)
	}

	// The element store: the base world and every diff; the changesets' elements from the diffs.
	store := NewMemStore(nil)
	base := readGz(t, filepath.Join(dir, "api/base.osm.gz"), DecodeElements)
	if err := store.Put(ctx, base); err != nil {
		t.Fatal(err)
	}
	elems := map[int64][]Elem{}
	for seq := st.StartSeq; seq <= st.EndSeq; seq++ {
		p := filepath.Join(dir, "replication/minute", fmt.Sprintf("%03d/%03d/%03d.osc.gz", seq/1000000, seq/1000%1000, seq%1000))
		es := readGz(t, p, DecodeElements)
		if err := store.Put(ctx, es); err != nil {
			t.Fatal(err)
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
		o := readGz(t, p, func(r io.Reader, name string) (*osm.OSM, error) {
			var o osm.OSM
			if err := xml.NewDecoder(r).Decode(&o); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return &o, nil
		})
		for _, c := range o.Changesets {
			metas[int64(c.ID)] = c
		}
	}

	h, err := sim.NewServer(dir, sim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := apiClient(t, srv.URL+"/api/0.6/")
	a := &Analyzer{Config: config.Default().Analyse, Store: store, API: client, Users: client, UserCache: store, Log: quiet}

	ids := make([]int64, 0, len(elems))
	for id := range elems {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	first := map[string]int64{} // code → first changeset that gave it
	for _, id := range ids {
		c := metas[id]
		if c == nil {
			t.Fatalf("changeset %d has elements but no metadata", id)
		}
		d, _, err := a.Analyse(ctx, Input{Meta: simMeta(c, len(elems[id])), Elems: elems[id]})
		if err != nil {
			t.Fatalf("changeset %d: %v", id, err)
		}
		for _, code := range d.ReasonCodes() {
			if _, ok := first[code]; !ok {
				first[code] = id
			}
		}
	}
	t.Logf("%d changesets analysed; first changeset per reason: %v", len(ids), first)
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

func readGz[T any](t *testing.T, path string, decode func(io.Reader, string) (T, error)) T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	v, err := decode(zr, path)
	if err != nil {
		t.Fatal(err)
	}
	return v
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
