package changeset

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
)

const osmData = "../../testdata/osm"

var ctx = context.Background()

func mustRegion(t testing.TB, name string, mp orb.MultiPolygon) *region.Region {
	t.Helper()
	r, err := region.New(name, "test", mp, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func box(x0, y0, x1, y1 float64) orb.MultiPolygon {
	return orb.MultiPolygon{{{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}}}
}

func mustParse(t testing.TB, src string, regions region.Set) *rules.Set {
	t.Helper()
	s, err := rules.Parse([]byte(src), "rules.yaml", regions)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rules test over a real changeset replication file, bbox mode: exactly the changesets whose
// bbox intersects the triangle (5,45) (20,45) (5,55), computed by hand:
// x' = (lon-5)/15 + (lat-45)/10 <= 1 at the bbox's corner nearest (5,45).
func TestReplicationFileBBoxMode(t *testing.T) {
	tri, err := region.New("tri", "test", orb.MultiPolygon{{{{5, 45}, {20, 45}, {5, 55}, {5, 45}}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := mustParse(t, "labels:\n  - label: tri\n    region: tri\n    match: bbox\nprefilter: tri\n", region.Set{tri})
	css, err := ReadFiles(ctx, Files{Changesets: []string{filepath.Join(osmData, "changeset-replication/245.osm.gz")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(css) != 25 || css[0].ID != 31982803 || css[0].User != "GarrettB" || css[0].Tags["comment"] != "Added Emerald Pool Waterfall" {
		t.Fatalf("read %d changesets, first %+v", len(css), css[0])
	}
	var got []int64
	for _, cs := range css {
		labels, v := s.Evaluate(cs, rules.PhaseFilter)
		if v.Analyse != (len(labels) == 1) {
			t.Errorf("%d: verdict %+v with labels %v", cs.ID, v, labels)
		}
		if len(labels) == 1 {
			got = append(got, cs.ID)
		}
	}
	// 31984170 (8.24,51.56): 0.22+0.66 = 0.87 in; 31984180 (11.54,45.29): 0.44+0.03 in;
	// 31984181 (14.50,46.03): 0.63+0.10 in; 31984185 (16.4046,47.3125): 0.760+0.231 = 0.991 in.
	// Out: 31984176 (11.6485,50.8590): 0.443+0.586 = 1.029; 31984169 (19.048,47.360): 1.17;
	// 31984163 (12.29,53.59): 1.35; 31984187 (4.80..4.81): west of 5; 31984171 (21.02): east of 20.
	want := []int64{31984170, 31984180, 31984181, 31984185}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("matched %v, want %v", got, want)
	}
}

// match: edits over a real minutely diff: the changesets with a node inside a box around
// Fort Lauderdale, and no other.
func TestMinutelyDiffEditsMode(t *testing.T) {
	fl := mustRegion(t, "fort-lauderdale", box(-80.5, 25.9, -80.0, 26.3))
	s := mustParse(t, "labels:\n  - label: fl\n    region: fort-lauderdale\n", region.Set{fl})
	css, err := ReadFiles(ctx, Files{OSC: []string{filepath.Join(osmData, "minutely/241.osc")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(css) != 59 {
		t.Errorf("%d changesets in 241.osc, want 59", len(css))
	}
	var got []int64
	nodes := 0
	for _, cs := range css {
		for _, e := range cs.Elements {
			if e.Type == elements.Node {
				nodes++
			}
		}
		labels, v := s.Evaluate(cs, rules.PhaseFilter)
		if len(labels) > 0 {
			got = append(got, cs.ID)
			if !v.Analyse {
				t.Errorf("%d: labelled but verdict %+v", cs.ID, v)
			}
		}
	}
	// 85063091 lies at the same longitude but at latitude 41.6: not inside.
	want := []int64{85063042, 85063045, 85063095}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("matched %v, want %v", got, want)
	}
	if nodes < 4000 {
		t.Errorf("only %d node versions read", nodes)
	}
}

func TestOldVersionFromFiles(t *testing.T) {
	// 241.osc holds some objects in several versions: the later one gets the earlier as Old.
	css, err := ReadFiles(ctx, Files{OSC: []string{filepath.Join(osmData, "minutely/241.osc")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	withOld := 0
	for _, cs := range css {
		for _, e := range cs.Elements {
			if e.Old != nil {
				withOld++
				if e.Old.Version >= e.Version {
					t.Errorf("%s: old version %d", e.Ref(), e.Old.Version)
				}
			}
		}
	}
	if withOld == 0 {
		t.Error("no element got its previous version")
	}
}
