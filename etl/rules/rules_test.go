package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/region"
)

const osmData = "../../testdata/osm"

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

func mustParse(t testing.TB, src string, regions region.Set) *Set {
	t.Helper()
	s, err := Parse([]byte(src), "rules.yaml", regions)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pt(x, y float64) *orb.Point { p := orb.Point{x, y}; return &p }

// el is an edited element version: type name, id, version, action, tags, location (nil: none).
func el(typ string, id int64, v int, action string, tags map[string]string, p *orb.Point) Element {
	types := map[string]byte{"node": elements.Node, "way": elements.Way, "relation": elements.Relation}
	a, err := elements.ParseAction(action)
	if err != nil {
		panic(err)
	}
	e := Element{Element: *ver(v, tags, p)}
	e.Type, e.ID, e.Action, e.Visible = types[typ], id, a, a != elements.Delete
	return e
}

func withOld(e Element, old *elements.Element) Element {
	old.Type, old.ID = e.Type, e.ID
	e.Old = old
	return e
}

// ver is a version with tags and a location (nil: none).
func ver(v int, tags map[string]string, p *orb.Point) *elements.Element {
	e := &elements.Element{Version: v}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.Tags = append(e.Tags, elements.Tag{Key: k, Value: tags[k]})
	}
	if p != nil {
		e.HasCoords, e.Lon, e.Lat = true, p[0], p[1]
	}
	return e
}

func labelNames(ls []Label) string {
	var n []string
	for _, l := range ls {
		n = append(n, l.Label)
	}
	return strings.Join(n, ",")
}

func TestParseErrors(t *testing.T) {
	regions := region.Set{mustRegion(t, "hamburg", box(9.7, 53.3, 10.3, 53.7))}
	cases := []struct{ name, src, want string }{
		{"unknown top key", "labelz: []\n", `rules.yaml:1: unknown key "labelz"`},
		{"not a list", "labels: {a: 1}\n", "rules.yaml:1: labels must be a list"},
		{"no label", "labels:\n  - description: x\n    open: true\n", "rules.yaml:2: rule has no label"},
		{"bad slug", "labels:\n  - label: Big Import\n    open: true\n", `rules.yaml:2: label "Big Import" must be a slug`},
		{"no condition", "labels:\n  - label: a\n    description: x\n", `rules.yaml:2: rule "a" has no condition`},
		{"unknown predicate", "labels:\n  - label: a\n    comentt: {regex: x}\n", `rules.yaml:3: unknown key "comentt": a condition is one of`},
		{"two heads", "labels:\n  - label: a\n    open: true\n    user: bob\n", `rules.yaml:4: "open" and "user" in one condition`},
		{"bad regex", "labels:\n  - label: a\n    comment:\n      regex: '(import'\n", `rules.yaml:4: regular expression "(import"`},
		{"two ops", "labels:\n  - label: a\n    tag: source\n    regex: x\n    contains: y\n", `tag "source" needs exactly one of`},
		{"unknown region", "labels:\n  - label: a\n    region: berlin\n", `rules.yaml:3: unknown region "berlin" (defined: hamburg)`},
		{"bad match", "labels:\n  - label: a\n    region: hamburg\n    match: everywhere\n", `rules.yaml:4: match must be edits, bbox or centroid`},
		{"option of another predicate", "labels:\n  - label: a\n    user: bob\n    match: bbox\n", `rules.yaml:4: unknown key "match" next to user`},
		{"element bad action", "labels:\n  - label: a\n    element: {action: remove}\n", `rules.yaml:3: action must be create, modify, delete or any`},
		{"element value without key", "labels:\n  - label: a\n    element: {value: x}\n", `value needs a key`},
		{"element unknown key", "labels:\n  - label: a\n    element:\n      tags: x\n", `rules.yaml:4: unknown key "tags" in element`},
		{"count without threshold", "labels:\n  - label: a\n    count: {action: delete}\n", `count needs min`},
		{"count bad number", "labels:\n  - label: a\n    count: {min: lots}\n", `rules.yaml:3: min must be a number`},
		{"empty any", "labels:\n  - label: a\n    any: []\n", `rules.yaml:3: any needs a non-empty list`},
		{"duplicate label", "labels:\n  - label: a\n    open: true\n  - label: a\n    open: false\n", `rules.yaml:4: label "a" is already defined at rules.yaml:2`},
		{"duplicate key", "labels:\n  - label: a\n    open: true\n    open: false\n", `rules.yaml:4: duplicate key "open"`},
		{"prefilter unknown label", "labels:\n  - label: a\n    open: true\nprefilter: b\n", `rules.yaml:4: prefilter: unknown label "b"`},
		{"prefilter on analysis label", "labels:\n  - label: a\n    reason: mass_delete\nprefilter: a\n", `rules.yaml:4: prefilter: label "a" needs the analysis`},
		{"prefilter bad key", "labels:\n  - label: a\n    open: true\nprefilter: {some: [a]}\n", `rules.yaml:4: prefilter: unknown key "some"`},
		{"uid not a number", "labels:\n  - label: a\n    uid: [12, bob]\n", `rules.yaml:3: uid "bob" is not a user id`},
		{"yaml syntax", "labels:\n  - label: a\n   open: true\n", `rules rules.yaml: line 1: did not find expected`},
		{"empty", "", "empty rules file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.src), "rules.yaml", regions)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestPredicatesWithEvidence(t *testing.T) {
	hh := mustRegion(t, "hamburg", box(9.7, 53.3, 10.3, 53.7))
	src := `
labels:
  - label: import
    description: mentions an import
    comment: {regex: '\bimport'}
  - label: bing
    source: {contains: bing}
  - label: exact-source
    tag: source
    equals: survey
    case_sensitive: true
  - label: has-imagery
    imagery_used: {exists: true}
  - label: no-hashtags
    hashtags: {exists: false}
  - label: watched
    any:
      - user: [Alice, bob]
      - uid: [42]
  - label: josm
    editor: '^JOSM/'
  - label: deleted-address-node
    element: {action: delete, type: node, key: '^addr:', old: true}
  - label: new-shop
    element: {action: create, key: shop, value: '^(bakery|butcher)$'}
  - label: mass-delete
    all:
      - count: {action: delete, '>=': 3}
      - count: {action: delete, min_ratio: 0.5}
  - label: small
    count: {max: 10}
  - label: discussed
    comments_count: {min: 1}
  - label: open
    open: true
  - label: in-hamburg
    region: hamburg
  - label: not-josm
    not: {editor: JOSM}
  - label: needs-analysis
    reason: [mass_delete, big_area]
`
	s := mustParse(t, src, region.Set{hh})
	cs := &Changeset{
		ID: 7, User: "alice", UID: 1, MetadataKnown: true, Open: true, CommentsCount: 2,
		Tags: map[string]string{"comment": "Bulk Import of addresses #hamburg", "source": "Bing aerial; survey", "created_by": "JOSM/1.5 (19039 en)", "imagery_used": "Bing aerial imagery"},
		Elements: []Element{
			withOld(el("node", 1, 3, "delete", nil, nil), ver(2, map[string]string{"addr:street": "Hauptstraße", "addr:housenumber": "1"}, pt(10, 53.5))),
			withOld(el("node", 2, 2, "delete", nil, nil), ver(1, map[string]string{"amenity": "bench"}, nil)),
			el("node", 3, 4, "delete", nil, nil),
			el("node", 4, 1, "create", map[string]string{"shop": "Bakery"}, pt(20, 50)),
		},
	}
	labels, verdict := s.Evaluate(cs, PhaseFilter)
	want := "import,bing,has-imagery,no-hashtags,watched,josm,deleted-address-node,new-shop,mass-delete,small,discussed,open,in-hamburg"
	if got := labelNames(labels); got != want {
		t.Errorf("labels\n got %s\nwant %s", got, want)
	}
	ev := map[string][]Evidence{}
	for _, l := range labels {
		if len(l.Evidence) == 0 {
			t.Errorf("label %s has no evidence", l.Label)
		}
		if !strings.HasPrefix(l.Rule, "rules.yaml:") {
			t.Errorf("label %s: rule %q, want rules.yaml:LINE", l.Label, l.Rule)
		}
		ev[l.Label] = l.Evidence
	}
	checks := []struct{ label, field, want string }{
		{"import", "found", "Import"},
		{"import", "tag", "comment"},
		{"import", "detail", `comment "Bulk Import of addresses #hamburg" matches /\bimport/ at "Import"`},
		{"bing", "found", "Bing"},
		{"watched", "detail", "user alice (uid 1) is on the list"},
		{"josm", "found", "JOSM/"},
		{"deleted-address-node", "element", "node/1 v3"},
		{"deleted-address-node", "detail", "node/1 v3 (delete) had addr:housenumber=1 in its previous version v2"},
		{"new-shop", "detail", "node/4 v1 (create) has shop=Bakery"},
		{"mass-delete", "detail", "3 deletes, at least 3"},
		{"in-hamburg", "detail", "1 of 2 edit locations inside hamburg, first node/1 v3 (previous location) at 53.50000,10.00000"},
		{"in-hamburg", "region", "hamburg"},
		{"discussed", "detail", "comments_count is 2, at least 1"},
	}
	for _, c := range checks {
		var got []string
		for _, e := range ev[c.label] {
			m := map[string]string{"found": e.Found, "tag": e.Tag, "detail": e.Detail, "element": e.Element, "region": e.Region}
			got = append(got, m[c.field])
		}
		if !contains(got, c.want) {
			t.Errorf("%s evidence %s: got %q, want %q", c.label, c.field, got, c.want)
		}
	}
	if md := ev["mass-delete"]; len(md) != 2 || *md[1].Count != 0.75 || *md[1].Threshold != 0.5 {
		t.Errorf("mass-delete evidence %+v: want the count and the ratio 0.75 ≥ 0.5", md)
	}
	if !verdict.Analyse || !strings.Contains(verdict.Reason, "edit inside region hamburg") {
		t.Errorf("verdict %+v: want analyse (default prefilter: an edit inside a region)", verdict)
	}

	// The reason rule is skipped by the filter phase and is all the analyse phase runs.
	cs.Reasons = []string{"big_area"}
	labels, v := s.Evaluate(cs, PhaseAnalyse)
	if labelNames(labels) != "needs-analysis" || labels[0].Evidence[0].Reason != "big_area" || v != (Verdict{}) {
		t.Errorf("analyse phase: %+v %+v", labels, v)
	}
	if p := s.Pending(); len(p) != 1 || p[0] != "needs-analysis" {
		t.Errorf("Pending = %v", p)
	}

	// Case sensitivity and negation.
	cs2 := &Changeset{ID: 8, User: "carol", MetadataKnown: true, Tags: map[string]string{"source": "Survey", "created_by": "iD 2.20", "hashtags": "#x"}}
	labels, verdict = s.Evaluate(cs2, PhaseFilter)
	if got := labelNames(labels); got != "small,not-josm" {
		t.Errorf("labels %s, want small,not-josm (equals is case-sensitive here; no elements)", got)
	}
	if verdict.Analyse || verdict.Reason != "no edit locations known, so no edit inside a region" {
		t.Errorf("verdict %+v", verdict)
	}
}

func TestPrefilter(t *testing.T) {
	src := `
labels:
  - label: watched
    user: [mallory]
  - label: big
    count: {min: 100}
  - label: bot
    editor: bot
prefilter:
  any:
    - watched
    - all: [big, {not: bot}]
`
	s := mustParse(t, src, nil)
	elems := func(n int) []Element {
		out := make([]Element, n)
		for i := range out {
			out[i] = el("node", int64(i+1), 1, "create", nil, nil)
		}
		return out
	}
	for _, c := range []struct {
		name string
		cs   Changeset
		want bool
	}{
		{"watched user", Changeset{User: "Mallory", MetadataKnown: true}, true},
		{"big, no bot", Changeset{Elements: elems(100)}, true},
		{"big bot", Changeset{Elements: elems(100), Tags: map[string]string{"created_by": "MyBot 1.0"}}, false},
		{"small", Changeset{Elements: elems(3)}, false},
	} {
		_, v := s.Evaluate(&c.cs, PhaseFilter)
		if v.Analyse != c.want {
			t.Errorf("%s: verdict %+v, want analyse=%v", c.name, v, c.want)
		}
		if !strings.HasPrefix(v.Reason, "prefilter any of [watched, all of [big, not bot]]") {
			t.Errorf("%s: reason %q", c.name, v.Reason)
		}
	}
	// With no regions and no prefilter, everything goes on.
	_, v := mustParse(t, "labels: []\n", nil).Evaluate(&Changeset{}, PhaseFilter)
	if !v.Analyse {
		t.Errorf("no regions: %+v", v)
	}
}

// The OSMCha complaint: a continent-spanning bbox whose edits are all outside the region.
func TestContinentBBoxEditsOutside(t *testing.T) {
	berlin := mustRegion(t, "berlin", box(13.09, 52.34, 13.76, 52.68))
	s := mustParse(t, `
labels:
  - label: edits
    region: berlin
  - label: bbox
    region: berlin
    match: bbox
  - label: centroid
    region: berlin
    match: centroid
  - label: bbox-small
    region: berlin
    match: bbox
    max_bbox_ratio: 10
`, region.Set{berlin})
	cs := &Changeset{ID: 1, MetadataKnown: true,
		BBox: &orb.Bound{Min: orb.Point{-9.5, 36.0}, Max: orb.Point{30.0, 60.0}},
		Elements: []Element{
			el("node", 1, 1, "create", nil, pt(-9.5, 38.7)), // Lisbon
			el("node", 2, 1, "create", nil, pt(30.0, 60.0)), // St Petersburg
		}}
	labels, v := s.Evaluate(cs, PhaseFilter)
	if got := labelNames(labels); got != "bbox" {
		t.Errorf("labels %q, want only bbox", got)
	}
	if v.Analyse || v.Reason != "none of 2 edit locations is inside a region" {
		t.Errorf("verdict %+v", v)
	}
	// A small changeset in Berlin passes the area ratio.
	cs.BBox = &orb.Bound{Min: orb.Point{13.40, 52.50}, Max: orb.Point{13.42, 52.52}}
	labels, _ = s.Evaluate(cs, PhaseFilter)
	if got := labelNames(labels); got != "bbox,centroid,bbox-small" {
		t.Errorf("labels %q", got)
	}
	for _, l := range labels {
		if l.Label == "bbox-small" && (l.Evidence[0].Threshold == nil || *l.Evidence[0].Threshold != 10 || *l.Evidence[0].Count > 0.01) {
			t.Errorf("bbox-small evidence %+v", l.Evidence[0])
		}
	}
}

func TestEvidenceJSON(t *testing.T) {
	s := mustParse(t, "labels:\n  - label: a\n    description: d\n    count: {min: 1}\n", nil)
	labels, _ := s.Evaluate(&Changeset{Elements: []Element{el("way", 1, 1, "create", nil, nil)}}, PhaseFilter)
	b, _ := json.Marshal(labels[0])
	want := `{"label":"a","description":"d","rule":"rules.yaml:2","evidence":[{"predicate":"count edits \u003e= 1","detail":"1 edits, at least 1","count":1,"threshold":1}]}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
}

// BenchmarkLabel1000 labels 1,000 changesets (with their edit points) against a
// 10,000-vertex region and 20 rules. Target: ≤ 100 ms per op.
func BenchmarkLabel1000(b *testing.B) {
	n := 10000
	ring := make(orb.Ring, 0, n+1)
	for i := 0; i < n; i++ {
		a := 2 * math.Pi * float64(i) / float64(n)
		rad := 1 + 0.2*math.Sin(a*13) + 0.03*math.Sin(a*197)
		ring = append(ring, orb.Point{10 + rad*math.Cos(a)*1.6, 53.5 + rad*math.Sin(a)})
	}
	ring = append(ring, ring[0])
	reg := mustRegion(b, "big", orb.MultiPolygon{{ring}})
	src := `
labels:
  - {label: r-edits, region: big}
  - {label: r-bbox, region: big, match: bbox}
  - {label: r-centroid, region: big, match: centroid}
  - {label: r-small, region: big, match: bbox, max_bbox_ratio: 0.5}
  - {label: import, comment: {regex: '\bimports?\b'}}
  - {label: bing, source: {contains: bing}}
  - {label: hashtag, hashtags: {exists: true}}
  - {label: josm, editor: '^JOSM'}
  - {label: watched, user: [alice, bob, carol, dave]}
  - {label: watched-uid, uid: [1, 2, 3, 4, 5]}
  - {label: del-addr, element: {action: delete, type: node, key: '^addr:', old: true}}
  - {label: new-shop, element: {action: create, key: shop}}
  - {label: name-change, element: {action: modify, key: name, old: true}}
  - {label: mass-delete, count: {action: delete, min: 50}}
  - {label: mostly-delete, count: {action: delete, min_ratio: 0.8}}
  - {label: big-ways, count: {type: way, min: 20}}
  - {label: discussed, comments_count: {min: 1}}
  - {label: open, open: true}
  - {label: new-user-import, all: [{comment: {contains: import}}, {not: {editor: JOSM}}]}
  - {label: review, any: [{source: {regex: google}}, {comment: {regex: '(?i)copy'}}]}
`
	s := mustParse(b, src, region.Set{reg})
	css := make([]*Changeset, 1000)
	for i := range css {
		x, y := 7.5+5*float64(i%100)/100, 51.5+4*float64(i/100)/10
		cs := &Changeset{ID: int64(i), User: fmt.Sprint("user", i), UID: int64(i), MetadataKnown: true,
			Tags: map[string]string{"comment": "Added some shops and an import of buildings", "source": "Bing", "created_by": "iD 2.27"},
			BBox: &orb.Bound{Min: orb.Point{x, y}, Max: orb.Point{x + 0.05, y + 0.05}}}
		for j := 0; j < 20; j++ {
			p := orb.Point{x + float64(j)*0.0025, y + float64(j)*0.0025}
			act := []string{"create", "modify", "delete"}[j%3]
			cs.Elements = append(cs.Elements, withOld(el("node", int64(i*100+j), 2, act, map[string]string{"shop": "bakery"}, &p),
				ver(1, map[string]string{"addr:street": "X", "name": "Y"}, nil)))
		}
		for j := 0; j < 30; j++ {
			cs.EditPoints = append(cs.EditPoints, EditPoint{Point: orb.Point{x + float64(j)*0.001, y}, Ref: "node of a way"})
		}
		css[i] = cs
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, cs := range css {
			s.Evaluate(cs, PhaseFilter)
		}
	}
}

// The rule examples in docs/rules.md parse.
func TestDocExamplesParse(t *testing.T) {
	doc, err := os.ReadFile("../../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	regions := region.Set{mustRegion(t, "hamburg", box(9.7, 53.3, 10.3, 53.7))}
	blocks := strings.Split(string(doc), "```yaml\n")
	n := 0
	for _, b := range blocks[1:] {
		b = b[:strings.Index(b, "```")]
		switch {
		case strings.HasPrefix(b, "  - label"):
			b = "labels:\n" + b
		case strings.HasPrefix(b, "labels:"):
		default:
			continue // regions (files) and prefilter fragments
		}
		if _, err := Parse([]byte(b), "docs/rules.md", regions); err != nil {
			t.Errorf("%v\n%s", err, b)
		}
		n++
	}
	if n < 5 {
		t.Errorf("only %d examples found", n)
	}
}
