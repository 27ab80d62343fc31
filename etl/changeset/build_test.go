package changeset

import (
	"strings"
	"testing"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
)

func node(cs, id int64, v int, a elements.Action, lon, lat float64, tags ...elements.Tag) elements.Element {
	e := elements.Element{Type: elements.Node, ID: id, Version: v, Changeset: cs, Action: a, Visible: a != elements.Delete, Tags: tags}
	if a != elements.Delete {
		e.HasCoords, e.Lon, e.Lat = true, lon, lat
	}
	return e
}

func write(t *testing.T, st *elements.Mem, src elements.Source, els ...elements.Element) {
	t.Helper()
	if err := st.Write(ctx, els, src, 0, false); err != nil {
		t.Fatal(err)
	}
}

// TestBuild is what the rules see, built from an element store in memory (no PostGIS): previous
// versions, the nodes of a modified way, a relation's members, a deleted way's nodes and the
// way of a dragged node, each location naming where it came from.
func TestBuild(t *testing.T) {
	berlin := mustRegion(t, "berlin", box(13.09, 52.34, 13.76, 52.68))
	set := mustParse(t, `
labels:
  - label: deleted-address-node
    element: {action: delete, type: node, key: '^addr:', old: true}
  - label: in-berlin
    region: berlin
`, region.Set{berlin})
	st := &elements.Mem{}
	// Changeset 10 (earlier): node 100 with an address, node 101 (seed), way 8 {200,201},
	// way 9 {300,301} with nodes 200, 201, 300, 301 in Berlin.
	write(t, st, elements.SourceDiff, node(10, 100, 1, elements.Create, 13.40, 52.52,
		elements.Tag{Key: "addr:street", Value: "Unter den Linden"}, elements.Tag{Key: "addr:housenumber", Value: "1"}))
	write(t, st, elements.SourceSeed, node(10, 101, 1, elements.Create, 13.41, 52.52))
	for _, id := range []int64{200, 201, 300, 301} {
		write(t, st, elements.SourceDiff, node(10, id, 1, elements.Create, 13.40+float64(id%10)/100, 52.52))
	}
	write(t, st, elements.SourceDiff,
		elements.Element{Type: elements.Way, ID: 8, Version: 1, Changeset: 10, Action: elements.Create, Visible: true, Nodes: []int64{200, 201}},
		elements.Element{Type: elements.Way, ID: 9, Version: 1, Changeset: 10, Action: elements.Create, Visible: true, Nodes: []int64{300, 301}})
	// Node 102, a relation member, located by the API.
	write(t, st, elements.SourceAPI, node(0, 102, 4, 0, 13.42, 52.52))
	// 11 deletes node 100; 12 modifies way 7 {100,101}; 13 changes relation 30's tags;
	// 20 deletes way 8; 6 dragged node 300 (of way 9) to Munich and 21 drags it further, so
	// way 9 has one of its nodes in Berlin left (relation 30: 2 of 3 locations); 22 moves a lone
	// node in Munich.
	write(t, st, elements.SourceDiff, node(11, 100, 2, elements.Delete, 0, 0),
		elements.Element{Type: elements.Way, ID: 7, Version: 2, Changeset: 12, Action: elements.Modify, Visible: true, Nodes: []int64{100, 101}},
		elements.Element{Type: elements.Relation, ID: 30, Version: 2, Changeset: 13, Action: elements.Modify, Visible: true,
			Members: []elements.Member{{Type: elements.Node, Ref: 102, Role: "stop"}, {Type: elements.Way, Ref: 9}}},
		elements.Element{Type: elements.Way, ID: 8, Version: 2, Changeset: 20, Action: elements.Delete},
		node(6, 300, 2, elements.Modify, 11.5, 48.1), node(21, 300, 3, elements.Modify, 11.6, 48.2),
		node(5, 400, 1, elements.Create, 11.5, 48.1), node(22, 400, 2, elements.Modify, 11.51, 48.1))

	var metas []Meta
	for _, id := range []int64{11, 12, 13, 20, 21, 22} {
		metas = append(metas, Meta{ID: id})
	}
	css, err := Build(ctx, st, region.Set{berlin}, metas)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, cs := range css {
		labels, v := set.Evaluate(cs, rules.PhaseFilter)
		var b strings.Builder
		for _, l := range labels {
			for _, e := range l.Evidence {
				b.WriteString(l.Label + ": " + e.Detail + "\n")
			}
		}
		b.WriteString("verdict: " + v.Reason)
		got[cs.ID] = b.String()
	}
	for id, want := range map[int64][]string{
		11: {"deleted-address-node: node/100 v2 (delete) had addr:housenumber=1 in its previous version v1",
			"node/100 v2 (previous location) at 52.52000,13.40000, location from diff"},
		12: {"2 of 2 edit locations inside berlin, first node/100 of way/7 at 52.52000,13.40000, location from diff"},
		13: {"node/102, member of relation/30 at 52.52000,13.42000, location from api", "2 of 3 edit locations"},
		20: {"node/200 of deleted way/8"},
		21: {"node/301 of way/9, which has the edited node/300"},
		22: {"verdict: none of"},
	} {
		for _, w := range want {
			if !strings.Contains(got[id], w) {
				t.Errorf("changeset %d:\n%s\nwant %q", id, got[id], w)
			}
		}
	}
	if strings.Contains(got[22], "in-berlin") {
		t.Errorf("a lone node in Munich is in Berlin:\n%s", got[22])
	}
}
