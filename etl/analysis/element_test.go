package analysis

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/elements"
)

var (
	tBefore = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	tEdit   = time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
)

func node(id int64, v int, cs int64, lat, lon float64, tags map[string]string) elements.Element {
	return elements.Element{Type: 'n', ID: id, Version: v, Changeset: cs, Timestamp: tBefore, UID: 99, User: "other", Visible: true, HasCoords: true, Lat: lat, Lon: lon, Tags: tagList(tags)}
}

func way(id int64, v int, cs int64, nds []int64, tags map[string]string) elements.Element {
	return elements.Element{Type: 'w', ID: id, Version: v, Changeset: cs, Timestamp: tBefore, UID: 99, User: "other", Visible: true, Nodes: nds, Tags: tagList(tags)}
}

func edit(e elements.Element, action string) elements.Element {
	e.Action, e.Changeset, e.Timestamp, e.UID, e.User = act(action), 1, tEdit, 7, "u"
	if action == "delete" {
		e.Visible, e.HasCoords, e.Tags, e.Nodes, e.Members = false, false, nil, nil, nil
	}
	return e
}

func TestElementDiffsAndReasons(t *testing.T) {
	// Before: a primary road 10-11-12, a place node 20, a footway 30-31 (31 will move),
	// a node 40 on a highway to be dragged far, a residential road 50-51.
	hist := []elements.Element{
		node(10, 1, 100, 50.0, 8.0, nil), node(11, 1, 100, 50.0, 8.01, nil), node(12, 1, 100, 50.0, 8.02, nil),
		way(1, 3, 101, []int64{10, 11, 12}, map[string]string{"highway": "primary", "name": "Main Road"}),
		node(20, 4, 102, 50.1, 8.1, map[string]string{"place": "village", "name": "Oldtown"}),
		node(30, 1, 100, 50.2, 8.2, nil), node(31, 1, 100, 50.2, 8.201, nil),
		way(2, 1, 100, []int64{30, 31}, map[string]string{"highway": "footway"}),
		node(40, 2, 103, 50.3, 8.3, nil), node(41, 1, 100, 50.3, 8.301, nil),
		way(3, 5, 104, []int64{40, 41}, map[string]string{"highway": "residential", "name": "Side Street"}),
	}
	long := strings.Repeat("Very long name ", 6)
	cs := []elements.Element{
		edit(way(1, 4, 0, nil, nil), "delete"),
		edit(node(20, 5, 0, 50.1, 8.1, map[string]string{"place": "town", "name": "Newtown"}), "modify"),
		edit(node(31, 2, 0, 50.2, 8.202, nil), "modify"),                                        // moved ~71 m
		edit(node(40, 3, 0, 50.5, 8.3, nil), "modify"),                                          // dragged ~22 km, in way 3 (highway)
		edit(way(2, 2, 0, []int64{30, 31, 60}, map[string]string{"highway": "path"}), "modify"), // retagged, node added
		edit(node(60, 1, 0, 50.2, 8.203, nil), "create"),
		// A large building created: a square of ~0.01° × 0.01° (~1.1 km × 0.7 km).
		edit(node(70, 1, 0, 51.0, 9.0, nil), "create"), edit(node(71, 1, 0, 51.0, 9.01, nil), "create"),
		edit(node(72, 1, 0, 51.01, 9.01, nil), "create"), edit(node(73, 1, 0, 51.01, 9.0, nil), "create"),
		edit(way(5, 1, 0, []int64{70, 71, 72, 73, 70}, map[string]string{"building": "yes", "name": long}), "create"),
	}
	store := NewMemStore(hist)
	a := &Analyzer{Config: config.Default().Analyse, Store: store}
	d, st, err := a.Analyse(context.Background(), Input{Meta: meta(map[string]string{"created_by": "iD", "changesets_count": "500"}), Elems: cs})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Complete || d.Incomplete != "" || st.Missing != 0 {
		t.Fatalf("complete=%v incomplete=%q stats=%+v", d.Complete, d.Incomplete, st)
	}
	validate(t, validator(t), d) // with the dragged node's parent ways
	got := d.ReasonCodes()
	want := []string{"place_changed", "major_road_deleted", "large_building", "very_long_name", "dragged_node"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("reasons %v, want %v", got, want)
	}
	for _, r := range d.Reasons {
		if r.Element == nil {
			t.Errorf("%s does not name its element", r.Code)
		}
		switch r.Code {
		case "dragged_node":
			if r.Element.ID != 40 || !strings.Contains(r.Evidence["because"].(string), "way 3 highway=residential") {
				t.Errorf("dragged_node = %+v", r)
			}
			if m := r.Evidence["moved_m"].(float64); math.Abs(m-Haversine(orb.Point{8.3, 50.3}, orb.Point{8.3, 50.5})) > 0.1 {
				t.Errorf("moved_m %v", m)
			}
			// Its parent way 3, which the changeset did not touch, before and after the move
			// (node 41 from the store).
			ways, _ := r.Evidence["ways"].([]map[string]any)
			if len(ways) != 1 || ways[0]["id"] != int64(3) || ways[0]["label"] != `highway=residential "Side Street"` ||
				fmt.Sprint(ways[0]["before"]) != "[[8.3 50.3] [8.301 50.3]]" || fmt.Sprint(ways[0]["after"]) != "[[8.3 50.5] [8.301 50.3]]" {
				t.Errorf("dragged_node ways = %v", r.Evidence["ways"])
			}
		case "major_road_deleted":
			if r.Element.ID != 1 || r.Evidence["highway"] != "primary" {
				t.Errorf("major_road_deleted = %+v", r)
			}
		case "place_changed":
			if r.Element.ID != 20 {
				t.Errorf("place_changed = %+v", r)
			}
		}
	}
	byID := map[string]Element{}
	for _, e := range d.Elements {
		byID[e.Type+itoa(e.ID)] = e
	}
	w2 := byID["way2"]
	if w2.TagsChanged["highway"] != [2]string{"footway", "path"} || *w2.NodesAdded != 1 || *w2.NodesRemoved != 0 || w2.PrevUser != "other" {
		t.Errorf("way 2 = %+v", w2)
	}
	if n31 := byID["node31"]; n31.MovedM == nil || math.Abs(*n31.MovedM-71.5) > 1 {
		t.Errorf("node 31 moved %v", n31.MovedM)
	}
	if n20 := byID["node20"]; n20.TagsChanged["name"] != [2]string{"Oldtown", "Newtown"} || n20.Label != `place=town "Newtown"` {
		t.Errorf("node 20 = %+v", n20)
	}
	if w1 := byID["way1"]; w1.TagsRemoved["highway"] != "primary" || w1.Label != `highway=primary "Main Road"` || *w1.NodesRemoved != 3 {
		t.Errorf("way 1 = %+v", w1)
	}
	// Lengths: independent haversine sums.
	lPrimary := Haversine(orb.Point{8.0, 50}, orb.Point{8.01, 50}) + Haversine(orb.Point{8.01, 50}, orb.Point{8.02, 50})
	lFootBefore := Haversine(orb.Point{8.2, 50.2}, orb.Point{8.201, 50.2})
	lPathAfter := Haversine(orb.Point{8.2, 50.2}, orb.Point{8.202, 50.2}) + Haversine(orb.Point{8.202, 50.2}, orb.Point{8.203, 50.2})
	check := func(kv string, field string, got, want float64) {
		if math.Abs(got-want) > 0.11 {
			t.Errorf("length_m[%s].%s = %.1f, want %.1f", kv, field, got, want)
		}
	}
	check("highway=primary", "deleted", d.LengthM["highway=primary"].Deleted, lPrimary)
	check("highway=footway", "modified", d.LengthM["highway=footway"].Modified, -lFootBefore)
	check("highway=path", "modified", d.LengthM["highway=path"].Modified, lPathAfter)
	if len(d.OtherUsers) != 1 || d.OtherUsers[0].User != "other" || d.OtherUsers[0].Count != 5 || d.OtherUsers[0].Deleted != 1 {
		t.Errorf("other_users = %+v", d.OtherUsers)
	}
	if d.TagSummary.Changed["highway: footway → path"] != 1 || d.TagSummary.Removed["highway=primary"] != 1 || d.TagSummary.Added["building=yes"] != 1 {
		t.Errorf("tag_summary = %+v", d.TagSummary)
	}
	// Geometry: the deleted road before, the modified way before and after, the building after.
	states := map[string]int{}
	for _, f := range d.Geometry.Features {
		states[f.Properties["type"].(string)+"/"+f.Properties["state"].(string)]++
	}
	if states["way/before"] != 2 || states["way/after"] != 2 {
		t.Errorf("geometry states = %v", states)
	}
	validate(t, validator(t), d)
}

func TestRelationMembersAndEditedTwice(t *testing.T) {
	r1 := elements.Element{Type: 'r', ID: 9, Version: 1, Changeset: 100, Timestamp: tBefore, UID: 99, User: "other", Visible: true, Tags: tagList(map[string]string{"type": "route"}),
		Members: []elements.Member{{Type: 'w', Ref: 1}, {Type: 'w', Ref: 2}, {Type: 'w', Ref: 3}}}
	r2 := edit(r1, "modify")
	r2.Version = 2
	r2.Members = []elements.Member{{Type: 'w', Ref: 2}, {Type: 'w', Ref: 1}, {Type: 'w', Ref: 4, Role: "forward"}}
	r3 := r2
	r3.Version = 3
	r3.Tags = tagList(map[string]string{"type": "route", "route": "bus"})
	d, _, err := (&Analyzer{Store: NewMemStore([]elements.Element{r1})}).Analyse(context.Background(), Input{Meta: meta(map[string]string{"created_by": "iD"}), Elems: []elements.Element{r3, r2}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Counts.Modify.Relation != 2 || len(d.Elements) != 2 || !d.Complete {
		t.Fatalf("counts %+v, elements %d, complete %v", d.Counts, len(d.Elements), d.Complete)
	}
	e2, e3 := d.Elements[0], d.Elements[1]
	if *e2.MembersAdded != 1 || *e2.MembersRemoved != 1 || !*e2.MembersReordered || e2.PrevUser != "other" {
		t.Errorf("v2 = %+v", e2)
	}
	if *e3.MembersAdded != 0 || *e3.MembersReordered || e3.TagsAdded["route"] != "bus" || e3.PrevUser != "u" {
		t.Errorf("v3 = %+v", e3)
	}
	if len(d.OtherUsers) != 1 || d.OtherUsers[0].Count != 1 {
		t.Errorf("other_users = %+v (the second version's previous is the changeset's own)", d.OtherUsers)
	}
}

func TestNodePositionAtEditTime(t *testing.T) {
	// Node 2 moved after the edit (version 2 is later): the way's geometry uses version 1.
	n1 := node(1, 1, 100, 50, 8, nil)
	n2v1 := node(2, 1, 100, 50, 8.01, nil)
	n2v2 := node(2, 2, 200, 50, 8.5, nil)
	n2v2.Timestamp = tEdit.Add(time.Hour)
	w := edit(way(1, 1, 0, []int64{1, 2}, map[string]string{"highway": "track"}), "create")
	d, _, err := (&Analyzer{Store: NewMemStore([]elements.Element{n1, n2v1, n2v2})}).Analyse(context.Background(), Input{Meta: meta(map[string]string{"created_by": "iD"}), Elems: []elements.Element{w}})
	if err != nil {
		t.Fatal(err)
	}
	want := Haversine(orb.Point{8, 50}, orb.Point{8.01, 50})
	if got := d.LengthM["highway=track"].Created; math.Abs(got-want) > 0.1 {
		t.Errorf("created length %.1f, want %.1f", got, want)
	}
}

func TestHaversine(t *testing.T) {
	// One degree of latitude on the mean-radius sphere: R·π/180.
	if got, want := Haversine(orb.Point{0, 0}, orb.Point{0, 1}), 6371008.8*math.Pi/180; math.Abs(got-want) > 1e-6 {
		t.Errorf("%f, want %f", got, want)
	}
}

func TestFewerElementsThanTheDiffsSaw(t *testing.T) {
	m := meta(map[string]string{"created_by": "iD"})
	m.DiffTotal = 5
	d, _, err := (&Analyzer{}).Analyse(context.Background(), Input{Meta: m, Elems: nodes("create", 3, 1, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Complete || !strings.Contains(d.Incomplete, "2 element versions of the changeset not in the store") {
		t.Errorf("complete=%v incomplete=%q", d.Complete, d.Incomplete)
	}
}
