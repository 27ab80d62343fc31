package filter

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/changeset"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
)

const osmData = "../../testdata/osm"

// TestDecide is the filter's decision table over real changesets, without a database: a real
// minutely diff (241.osc, no metadata) and a real changeset replication file (245.osm.gz, bbox
// mode), built as the filter builds them (changeset.Build, here over the in-memory store that
// `rules test` uses), decided in the states they could be claimed in.
func TestDecide(t *testing.T) {
	fl, err := region.New("fort-lauderdale", "test", orb.MultiPolygon{{{{-80.5, 25.9}, {-80.0, 25.9}, {-80.0, 26.3}, {-80.5, 26.3}, {-80.5, 25.9}}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tri, err := region.New("tri", "test", orb.MultiPolygon{{{{5, 45}, {20, 45}, {5, 55}, {5, 45}}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	regions := region.Set{fl, tri}
	set := ruleSet(t, `
labels:
  - label: fl
    region: fort-lauderdale
  - label: tri
    region: tri
    match: bbox
  - label: big
    count: {min: 1000}
prefilter: [fl, tri]
`, regions)
	css, err := changeset.ReadFiles(ctx, changeset.Files{Changesets: []string{filepath.Join(osmData, "changeset-replication/245.osm.gz")},
		OSC: []string{filepath.Join(osmData, "minutely/241.osc")}}, regions)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]*rules.Changeset{}
	for _, cs := range css {
		byID[cs.ID] = cs
	}
	for _, tc := range []struct {
		id       int64
		claimed  string // the state it was claimed in
		refilter bool
		state    string
		labels   []string
		reason   string
	}{
		// Edits in Fort Lauderdale: to analysis.
		{85063042, "new", false, "filtered", []string{"fl"}, "prefilter any of [fl, tri] matched (labels: fl)"},
		{85063095, "new", false, "filtered", []string{"fl"}, "prefilter any of [fl, tri] matched (labels: fl)"},
		// Same longitude, latitude 41.6: outside.
		{85063091, "new", false, "dropped", nil, "prefilter any of [fl, tri] not matched (no labels)"},
		// bbox mode over the metadata: 31984170 (8.24,51.56) is inside the triangle, 31984176 not.
		{31984170, "new", false, "filtered", []string{"tri"}, "prefilter any of [fl, tri] matched (labels: tri)"},
		{31984176, "new", false, "dropped", nil, "prefilter any of [fl, tri] not matched (no labels)"},
		// Refilter: analysed and failed changesets keep their state, only the labels change;
		// filtered and dropped ones follow the verdict.
		{85063042, "analysed", true, "analysed", []string{"fl"}, "prefilter any of [fl, tri] matched (labels: fl)"},
		{85063091, "failed", true, "failed", nil, "prefilter any of [fl, tri] not matched (no labels)"},
		{85063042, "dropped", true, "filtered", []string{"fl"}, "prefilter any of [fl, tri] matched (labels: fl)"},
		{85063091, "filtered", true, "dropped", nil, "prefilter any of [fl, tri] not matched (no labels)"},
	} {
		cs := byID[tc.id]
		if cs == nil {
			t.Fatalf("changeset %d not read", tc.id)
		}
		d := Decide(set, []*rules.Changeset{cs}, []string{tc.claimed}, tc.refilter)[0]
		var labels []string
		for _, l := range d.Labels {
			labels = append(labels, l.Label)
			if len(l.Evidence) == 0 {
				t.Errorf("%d: label %s without evidence", tc.id, l.Label)
			}
		}
		if d.ID != tc.id || d.State != tc.state || !slices.Equal(labels, tc.labels) || !strings.HasPrefix(d.Reason, tc.reason) {
			t.Errorf("%d claimed %s (refilter %v): %s %v %q; want %s %v %q", tc.id, tc.claimed, tc.refilter,
				d.State, labels, d.Reason, tc.state, tc.labels, tc.reason)
		}
	}
	// One call decides a whole batch, in order.
	ds := Decide(set, css, make([]string, len(css)), false)
	kept := 0
	for i, d := range ds {
		if d.ID != css[i].ID {
			t.Fatalf("decision %d is for %d, not %d", i, d.ID, css[i].ID)
		}
		if d.State == "filtered" {
			kept++
		}
	}
	if kept != 3+4 {
		t.Errorf("%d of %d changesets to analysis, want 7 (3 in Fort Lauderdale, 4 bboxes in the triangle)", kept, len(ds))
	}
}
