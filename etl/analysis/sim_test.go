package analysis

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmapi"
	"github.com/osmtrack/osmtrack/etl/sim"
)

var (
	simOnce sync.Once
	simDir  string
	simErr  error
)

// simWorld generates a region world long enough for every edit kind (once per test binary).
func simWorld(t *testing.T) string {
	t.Helper()
	simOnce.Do(func() {
		simDir, simErr = os.MkdirTemp("", "analysis-sim-")
		if simErr == nil {
			_, simErr = sim.Generate(context.Background(), sim.Options{Profile: sim.ProfileRegion, Minutes: len(sim.Kinds()) + 4, Seed: 11, Out: simDir})
		}
	})
	if simErr != nil {
		t.Fatal(simErr)
	}
	return simDir
}

// simChangesets lists the generated changesets (from the changeset replication) by comment.
func simChangesets(t *testing.T, dir string) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	filepath.Walk(filepath.Join(dir, "replication/changesets"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || !strings.HasSuffix(p, ".osm.gz") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var o osm.OSM
		if err := xml.NewDecoder(zr).Decode(&o); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, c := range o.Changesets {
			out[int64(c.ID)] = c.Tags.Find("comment")
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatal("no changesets in the simulation")
	}
	return out
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// countingAPI counts element fetches (Versions, Current).
type countingAPI struct {
	*osmapi.Client
	n atomic.Int64
}

func (c *countingAPI) Versions(ctx context.Context, ids []osm.ObjectID) (osm.Objects, []osm.ObjectID, error) {
	c.n.Add(1)
	return c.Client.Versions(ctx, ids)
}

func (c *countingAPI) Current(ctx context.Context, ids []osm.FeatureID) (osm.Objects, []osm.FeatureID, error) {
	c.n.Add(1)
	return c.Client.Current(ctx, ids)
}

type simCase struct {
	id    int64
	doc   *Document
	elems []elements.Element
}

// TestSimulatorChangesets analyses simulated changesets of each kind twice: with an empty store
// (the API fills it, within one request per 200 missing elements), then from the filled store
// with zero API calls; reasons and lengths are checked against the generator's intent.
func TestSimulatorChangesets(t *testing.T) {
	dir := simWorld(t)
	h, err := sim.NewServer(dir, sim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := srv.URL + "/api/0.6/"
	css := simChangesets(t, dir)
	ctx := context.Background()

	// kind by comment → the reasons that must be present.
	kinds := []struct {
		name    string
		comment func(string) bool
		want    []string
	}{
		{"import", func(c string) bool { return strings.HasPrefix(c, "Import of building footprints") }, []string{"possible_import", "suspect_word"}},
		{"mass deletion", func(c string) bool { return c == "cleanup of wrong buildings" }, []string{"mass_deletion"}},
		{"vandalism", func(c string) bool {
			return slices.Contains([]string{"lol fuck this map", "haha deleted your stupid roads", "test test asdf", "shit map, fixed it lol"}, c)
		}, []string{"suspect_word"}},
		{"new mapper", func(c string) bool { return c == "my first edit" }, []string{"new_mapper"}},
		{"warnings", func(c string) bool { return c == "added road" }, []string{"warning:crossing_ways", "warning:generic_name"}},
		{"review", func(c string) bool { return c == "not sure about this, please review" }, []string{"review_requested"}},
		{"road added", func(c string) bool {
			return slices.Contains([]string{"Added service road", "new footway", "added track"}, c)
		}, nil},
		{"large building", func(c string) bool { return c == "added factory hall" }, []string{"large_building"}},
		{"long name", func(c string) bool { return c == "added name" }, []string{"very_long_name"}},
		{"place", func(c string) bool { return c == "corrected name" }, []string{"place_changed"}},
	}
	seenVandal := map[string]bool{}
	for _, k := range kinds {
		var ids []int64
		for id, c := range css {
			if k.comment(c) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		if len(ids) == 0 {
			t.Errorf("%s: no such changeset in the simulation", k.name)
			continue
		}
		if len(ids) > 8 {
			ids = ids[:8]
		}
		for _, id := range ids {
			c := analyseSim(t, ctx, base, id)
			d := c.doc
			got := d.ReasonCodes()
			for _, w := range k.want {
				if !slices.Contains(got, w) {
					t.Errorf("%s: changeset %d: reasons %v lack %s", k.name, id, got, w)
				}
			}
			for _, r := range got {
				seenVandal[r] = true
			}
			if k.name == "road added" {
				checkRoadLengths(t, base, c)
			}
		}
	}
	// The vandal kinds beyond words: a major road deleted and a node dragged, somewhere.
	for _, r := range []string{"major_road_deleted", "dragged_node"} {
		if !seenVandal[r] {
			t.Errorf("no simulated vandalism gave %s", r)
		}
	}
	// Deleted roads give deleted lengths.
	for id, c := range css {
		if c == "haha deleted your stupid roads" || c == "lol fuck this map" {
			sc := analyseSim(t, ctx, base, id)
			for _, r := range sc.doc.Reasons {
				if r.Code == "major_road_deleted" && r.Evidence["length_m"] == nil {
					t.Errorf("changeset %d: major_road_deleted without length", id)
				}
			}
		}
	}
}

// simInput is a simulated changeset's metadata and download, from the simulator's API.
func simInput(t *testing.T, base string, id int64) Input {
	t.Helper()
	m, err := DecodeMeta(bytes.NewReader(get(t, fmt.Sprintf("%schangeset/%d", base, id))), "meta")
	if err != nil {
		t.Fatal(err)
	}
	elems, err := DecodeElements(bytes.NewReader(get(t, fmt.Sprintf("%schangeset/%d/download", base, id))), "download")
	if err != nil {
		t.Fatal(err)
	}
	return Input{Meta: m, Elems: elems}
}

// analyseSim analyses one simulated changeset with an empty store and the simulator's API, then
// again from the store that the API filled.
func analyseSim(t *testing.T, ctx context.Context, base string, id int64) simCase {
	t.Helper()
	in := simInput(t, base, id)
	store := NewMemStore(nil)
	client := apiClient(t, base)
	counted := &countingAPI{Client: client}
	a := &Analyzer{Config: config.Default().Analyse, Store: store, API: counted, Users: client, UserCache: store, Log: quiet}
	d, st, err := a.Analyse(ctx, in)
	if err != nil {
		t.Fatalf("changeset %d: %v", id, err)
	}
	calls := counted.n.Load()
	req, _, _ := client.Stats()
	elemReq := req
	if in.Meta.Tags["changesets_count"] == "" || a.Config.UserDetails {
		elemReq-- // the user details request
	}
	// One request per 200 versions, per element type and lookup round (previous versions,
	// then way nodes), plus node/ID/ways for far-moved nodes.
	if bound := int64((st.FromAPI+199)/200) + 3 + int64(len(d.Reasons)); st.FromAPI > 0 && elemReq > bound {
		t.Errorf("changeset %d: %d element requests for %d versions fetched", id, elemReq, st.FromAPI)
	}
	if !d.Complete {
		t.Errorf("changeset %d: incomplete with the API: %s", id, d.Incomplete)
	}
	validate(t, validator(t), d)
	// From the filled store: zero API calls, the same document.
	d2, st2, err := a.Analyse(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// node/ID/ways (dragged_node) is not an element fetch: the simulator does not serve it, so
	// nothing is stored and it is asked again; element fetches must be zero.
	if st2.FromAPI != 0 || !d2.Complete || counted.n.Load() != calls {
		req2, _, _ := client.Stats()
		t.Errorf("changeset %d: from the store: %d element fetches (%d requests), stats %+v", id, counted.n.Load()-calls, req2-req, st2)
	}
	if !slices.Equal(d.ReasonCodes(), d2.ReasonCodes()) {
		t.Errorf("changeset %d: reasons differ: %v / %v", id, d.ReasonCodes(), d2.ReasonCodes())
	}
	return simCase{id: id, doc: d, elems: in.Elems}
}

// checkRoadLengths compares length_m of created roads with an independent computation: node
// positions from the simulator's node history, lengths with orb/geo (its own Earth radius).
func checkRoadLengths(t *testing.T, base string, c simCase) {
	t.Helper()
	byID := map[int64]elements.Element{}
	for _, e := range c.elems {
		if e.Type == 'n' {
			byID[e.ID] = e
		}
	}
	want := map[string]float64{}
	for _, e := range c.elems {
		if e.Type != 'w' || e.Action != elements.Create || tag(&e, "highway") == "" {
			continue
		}
		var ls orb.LineString
		for _, n := range e.Nodes {
			if ne, ok := byID[n]; ok {
				ls = append(ls, orb.Point{ne.Lon, ne.Lat})
				continue
			}
			hist, err := DecodeElements(bytes.NewReader(get(t, fmt.Sprintf("%snode/%d/history", base, n))), "history")
			if err != nil {
				t.Fatal(err)
			}
			var pick *elements.Element
			for i := range hist {
				if !hist[i].Timestamp.After(e.Timestamp) {
					pick = &hist[i]
				}
			}
			if pick == nil {
				t.Fatalf("node %d has no version before way %d", n, e.ID)
			}
			ls = append(ls, orb.Point{pick.Lon, pick.Lat})
		}
		want["highway="+tag(&e, "highway")] += geo.LengthHaversine(ls)
	}
	if len(want) == 0 {
		t.Errorf("changeset %d: no road created", c.id)
	}
	for kv, w := range want {
		got := c.doc.LengthM[kv].Created
		if w == 0 || math.Abs(got-w)/w > 0.005 {
			t.Errorf("changeset %d: length_m[%s].created = %.1f, independent %.1f", c.id, kv, got, w)
		}
	}
}
