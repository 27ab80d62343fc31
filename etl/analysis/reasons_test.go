package analysis

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/sim"
)

// TestChangesetRules runs each changeset-level rule alone over the metadata of the five real
// changesets and their independent counts (see TestRealChangesets for the arithmetic).
func TestChangesetRules(t *testing.T) {
	rc := config.Default().Analyse.Reasons
	// id → rule → codes it must give (every other rule: none).
	want := map[string]map[string][]string{
		"151837465": {},
		"153177572": {},
		"154042452": {"possible_import | mass_modification | mass_deletion": {"possible_import"}},
		"154244909": {"suspect_word (iD's incompatible_source), warning:*": {"warning:almost_junction", "warning:disconnected_way", "warning:mismatched_geometry"}},
		"155176527": {},
	}
	for id, byRule := range want {
		m, err := ReadMeta(filepath.Join(testdata, id+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		counts := countIndependently(t, filepath.Join(testdata, id+".osc"))
		for _, r := range changesetRules {
			var got []string
			for _, reason := range r.check(rc, m, counts) {
				got = append(got, reason.Code)
				if reason.Text == "" || len(reason.Evidence) == 0 || reason.Element != nil {
					t.Errorf("%s: %s: reason %+v: want text, evidence and no element", id, r.codes, reason)
				}
			}
			if !slices.Equal(got, byRule[r.codes]) {
				t.Errorf("%s: %s gives %v, want %v", id, r.codes, got, byRule[r.codes])
			}
		}
	}
	// The evidence of possible_import: the numbers worked out by hand.
	m, err := ReadMeta(filepath.Join(testdata, "154042452.xml"))
	if err != nil {
		t.Fatal(err)
	}
	r := countReasons(rc, m, countIndependently(t, filepath.Join(testdata, "154042452.osc")))
	if len(r) != 1 || r[0].Text != "1238 of 1596 elements created (78%)" || r[0].Evidence["created"] != 1238 || r[0].Evidence["ratio"] != 0.776 {
		t.Errorf("possible_import of 154042452 = %+v", r)
	}
}

// TestElementRules runs each per-element rule alone over the changes of simulated changesets
// of each edit kind (the simulator's API and an in-memory store: no PostGIS): the rule meant
// for the kind gives its reason with the evidence that justifies it, on the element it names;
// over plain road additions no rule gives anything.
func TestElementRules(t *testing.T) {
	dir := simWorld(t)
	h, err := sim.NewServer(dir, sim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := srv.URL + "/api/0.6/"
	css := simChangesets(t, dir)
	rc := config.Default().Analyse.Reasons

	checks := map[string]func(r Reason, c *change) error{
		"place_changed": func(r Reason, c *change) error {
			if c.Before == nil || tag(c.Before, "place") == "" || r.Evidence["action"] != c.Action {
				return fmt.Errorf("not a place before: %+v", c.Before)
			}
			return nil
		},
		"large_building": func(r Reason, c *change) error {
			if a, _ := r.Evidence["area_m2"].(float64); a <= rc.LargeBuildingM2 || tag(c.After, "building") == "" {
				return fmt.Errorf("area %v of %v", r.Evidence["area_m2"], c.After.Tags)
			}
			return nil
		},
		"major_road_deleted": func(r Reason, c *change) error {
			if c.Action != "delete" || !slices.Contains(rc.MajorRoads, tag(c.Before, "highway")) || r.Evidence["length_m"] == nil {
				return fmt.Errorf("action %s highway %q length %v", c.Action, tag(c.Before, "highway"), r.Evidence["length_m"])
			}
			return nil
		},
		"very_long_name": func(r Reason, c *change) error {
			if n, _ := r.Evidence["length"].(int); n <= rc.LongNameChars || n != len([]rune(tag(c.After, "name"))) {
				return fmt.Errorf("name length %v: %q", r.Evidence["length"], tag(c.After, "name"))
			}
			return nil
		},
	}
	kinds := []struct {
		comment []string
		want    string // the code some element of each such changeset gives ("": none at all)
	}{
		{[]string{"corrected name"}, "place_changed"},
		{[]string{"added factory hall"}, "large_building"},
		{[]string{"added name"}, "very_long_name"},
		{[]string{"Added service road", "new footway", "added track"}, ""},
	}
	ctx := context.Background()
	for _, k := range kinds {
		var ids []int64
		for id, c := range css {
			if slices.Contains(k.comment, c) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		if len(ids) == 0 {
			t.Fatalf("no changeset %q in the simulation", k.comment)
		}
		for _, id := range ids[:min(len(ids), 4)] {
			got := map[string]int{}
			for _, c := range simChanges(t, ctx, base, id) {
				for _, rule := range elementReasons {
					for _, r := range rule.check(rc, &c) {
						got[r.Code]++
						if r.Code != rule.code || r.Element != c.Ref || r.Text == "" || !strings.Contains(strings.ToLower(r.Text), strings.ToLower(c.Label)) {
							t.Errorf("changeset %d: %s on %s gave %+v", id, rule.code, c.Key, r)
						}
						if err := checks[r.Code](r, &c); err != nil {
							t.Errorf("changeset %d: %s on %s: %v", id, r.Code, c.Key, err)
						}
					}
				}
			}
			switch {
			case k.want == "" && len(got) > 0:
				t.Errorf("%q changeset %d: rules gave %v, want none", k.comment, id, got)
			case k.want != "" && got[k.want] == 0:
				t.Errorf("%q changeset %d: no %s (got %v)", k.comment, id, k.want, got)
			}
		}
	}

	// Vandalism: some deleted major road with its length, some dragged node with its ways.
	seen := map[string]bool{}
	for id, c := range css {
		if !slices.Contains([]string{"lol fuck this map", "haha deleted your stupid roads", "test test asdf", "shit map, fixed it lol"}, c) {
			continue
		}
		s, _, f := simAsk(t, ctx, base, id)
		for _, c := range s.changes() {
			for _, r := range majorRoadDeleted(rc, &c) {
				seen[r.Code] = true
				if err := checks[r.Code](r, &c); err != nil {
					t.Errorf("changeset %d: %v", id, err)
				}
			}
		}
		for _, r := range s.draggedNodes(rc, f.drag) {
			seen[r.Code] = true
			if m, _ := r.Evidence["moved_m"].(float64); m <= rc.DraggedNodeM || r.Evidence["because"] == "" || r.Element.Type != "node" {
				t.Errorf("changeset %d: dragged_node %+v", id, r)
			}
		}
	}
	for _, code := range []string{"major_road_deleted", "dragged_node"} {
		if !seen[code] {
			t.Errorf("no simulated vandalism gave %s", code)
		}
	}
}

// simAsk runs analysis's asking part for a simulated changeset: an empty in-memory store, the
// simulator's API.
func simAsk(t *testing.T, ctx context.Context, base string, id int64) (*state, []elements.Element, facts) {
	t.Helper()
	store := NewMemStore(nil)
	client := apiClient(t, base)
	a := &Analyzer{Config: config.Default().Analyse, Store: store, API: client, Users: client, UserCache: store, Log: quiet}
	s, es, f, err := a.ask(ctx, simInput(t, base, id))
	if err != nil {
		t.Fatalf("changeset %d: %v", id, err)
	}
	return s, es, f
}

func simChanges(t *testing.T, ctx context.Context, base string, id int64) []change {
	s, _, _ := simAsk(t, ctx, base, id)
	return s.changes()
}
