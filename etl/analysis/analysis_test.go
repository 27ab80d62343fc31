package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/osm"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/schema"
)

const testdata = "../../testdata/osm/changesets"

// validator compiles schema/analysis.schema.json.
func validator(t testing.TB) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.AnalysisJSONSchema))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("analysis.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("analysis.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t testing.TB, s *jsonschema.Schema, d *Document) {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("changeset %d: document does not validate: %v", d.Changeset.ID, err)
	}
}

// countIndependently counts the elements per action and type with paulmach/osm.
func countIndependently(t *testing.T, path string) Counts {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ch osm.Change
	if err := xml.Unmarshal(data, &ch); err != nil {
		t.Fatal(err)
	}
	tc := func(o *osm.OSM) TypeCounts {
		if o == nil {
			return TypeCounts{}
		}
		return TypeCounts{Node: len(o.Nodes), Way: len(o.Ways), Relation: len(o.Relations)}
	}
	c := Counts{Create: tc(ch.Create), Modify: tc(ch.Modify), Delete: tc(ch.Delete)}
	c.Total = c.Create.Sum() + c.Modify.Sum() + c.Delete.Sum()
	return c
}

func codes(d *Document) []string { return d.ReasonCodes() }

// TestRealChangesets analyses the five real changesets from files alone (no history, no API).
//
// Reasons worked out by hand (C, M, D from the independent count; n = C+M+D; thresholds 0.7,
// 200, 1000, 30):
//   - 151837465 (JOSM, powerful): C=38 M=10 D=76 n=124. C/n=.31, M/n=.08, D/n=.61 ≤ .7 and
//     D ≤ 1000: no count reason. Comment words: none; source "Bing; National Agriculture Imagery
//     Program; NPS": no source word. No changesets_count tag and no API: no new_mapper. → none
//   - 153177572 (iD): n=2 relations modified. M/n=1 but M ≤ 200. Comment "…remove education=no
//     (likely a tagging mistake)…": no word starts a word; imagery "Bing Maps Aerial": none;
//     changesets_count=1795 > 50. → none
//   - 154042452 (JOSM): C=1238 M=150 D=208 n=1596. C/n=.776 > .7, C > 200, powerful editor
//     → possible_import (the chain stops there). → possible_import
//   - 154244909 (iD): C=335 M=244 D=20 n=599: C/n=.56, M/n=.41, D/n=.03: none. Tags
//     warnings:almost_junction:…, warnings:disconnected_way:…, warnings:mismatched_geometry:…
//     → warning:almost_junction, warning:disconnected_way, warning:mismatched_geometry
//     (resolved:* tags are not warnings). changesets_count=1913.
//   - 155176527 (iD): n=14, changesets_count=1987, comment without words. → none
//
// Per-element reasons need before-states for most rules; created elements: no name longer
// than 80 characters, no created building over 500,000 m² (checked by the code paths with
// synthetic data in other tests).
func TestRealChangesets(t *testing.T) {
	want := map[string][]string{
		"151837465": {},
		"153177572": {},
		"154042452": {"possible_import"},
		"154244909": {"warning:almost_junction", "warning:disconnected_way", "warning:mismatched_geometry"},
		"155176527": {},
	}
	sch := validator(t)
	for id, wantReasons := range want {
		t.Run(id, func(t *testing.T) {
			osc := filepath.Join(testdata, id+".osc")
			m, err := ReadMeta(filepath.Join(testdata, id+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			elems, err := ReadElements(osc)
			if err != nil {
				t.Fatal(err)
			}
			a := &Analyzer{Config: config.Default().Analyse}
			d, _, err := a.Analyse(context.Background(), Input{Meta: m, Elems: elems})
			if err != nil {
				t.Fatal(err)
			}
			if wc := countIndependently(t, osc); d.Counts != wc {
				t.Errorf("counts = %+v, want %+v", d.Counts, wc)
			}
			if d.Counts.Total != m.ChangesCount {
				t.Errorf("total %d, metadata changes_count %d", d.Counts.Total, m.ChangesCount)
			}
			if got := codes(d); !slices.Equal(got, wantReasons) {
				t.Errorf("reasons = %v, want %v", got, wantReasons)
			}
			for _, r := range d.Reasons {
				if len(r.Evidence) == 0 || r.Text == "" {
					t.Errorf("reason %s without text or evidence", r.Code)
				}
			}
			if len(d.Elements) != d.Counts.Total {
				t.Errorf("%d elements listed, %d counted", len(d.Elements), d.Counts.Total)
			}
			if d.Counts.Modify.Sum()+d.Counts.Delete.Sum() > 0 && (d.Complete || !strings.Contains(d.Incomplete, "previous version")) {
				t.Errorf("without history the document must be incomplete: complete=%v incomplete=%q", d.Complete, d.Incomplete)
			}
			if d.Changeset.Editor != m.Tags["created_by"] || d.Changeset.ID != m.ID || d.Changeset.BBox == nil {
				t.Errorf("changeset block = %+v", d.Changeset)
			}
			validate(t, sch, d)
		})
	}
}

func TestCreatedTagsCountedFromFiles(t *testing.T) {
	m, err := ReadMeta(filepath.Join(testdata, "151837465.xml"))
	if err != nil {
		t.Fatal(err)
	}
	elems, err := ReadElements(filepath.Join(testdata, "151837465.osc"))
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := (&Analyzer{}).Analyse(context.Background(), Input{Meta: m, Elems: elems})
	if err != nil {
		t.Fatal(err)
	}
	// Independently: amenity=bench on created nodes.
	n := 0
	for _, e := range elems {
		if e.Action == elements.Create && tag(&e, "amenity") == "bench" {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("151837465.osc has no created amenity=bench node: the test needs one")
	}
	if d.TagSummary.Added["amenity=bench"] != n {
		t.Errorf("tag_summary.added[amenity=bench] = %d, want %d (created amenity=bench nodes in the file)", d.TagSummary.Added["amenity=bench"], n)
	}
	for _, el := range d.Elements {
		if el.Action == "delete" && el.Type == "node" && el.Label != "node "+itoa(el.ID) {
			t.Errorf("deleted node without before-state labelled %q", el.Label)
		}
	}
}

func itoa(i int64) string { b, _ := json.Marshal(i); return string(b) }

func TestWordRules(t *testing.T) {
	r := config.DefaultAnalyseReasons()
	suspect := append(append([]string{}, r.SuspectWords...), r.SourceWords...)
	for _, tc := range []struct {
		comment string
		flagged bool
	}{
		{"import buildings", true},
		{"important edit", false},
		{"Where is here?", false},
		{"Imported buildings from county data", true},
		{"IMPORT", true},
		{"reimport of addresses", true},
		{"re-import of addresses", true},
		{"Important: import of buildings", true}, // two suspect (import-ant, import), one excluded
		{"important fix", false},
		{"import import important", true}, // two suspect, one excluded
		{"fixed a bad junction", true},
		{"badminton court", true}, // a word prefix, as OSMCha counts
		{"added abandoned railway", false},
		{"contest area", false}, // "test" inside a word does not count
		{"test", true},
		{"traced from google maps", true},
		{"yandex panorama survey", false}, // yandex 1 vs yandex panorama 1
		{"Импорт зданий", true},
		{"импортировать дома", true},
		{"インポート", true},
		{"", false},
		{"vandalism revert", true},
		{"dragged nodes back", true},
		{"harmonized tags", true},
		{"fix\ttest", true}, // after a tab
		{"(import)", false},
	} {
		v := CheckComment(tc.comment, suspect, r.ExcludedWords)
		if v.Flagged != tc.flagged {
			t.Errorf("%q: flagged=%v, want %v (suspect %v, excluded %v)", tc.comment, v.Flagged, tc.flagged, v.Suspect, v.Excluded)
		}
	}
	for _, tc := range []struct {
		source string
		want   []string
	}{
		{"Bing; National Agriculture Imagery Program", nil},
		{"Google Maps", []string{"google"}},
		{"survey; Yandex Panorama", nil},
		{"Яндекс.Панорамы", nil},
		{"яндекс панорамы; Яндекс карты", []string{"яндекс"}},
		{"Yandex Panorama; google", []string{"google"}},
		{"yandex maps", []string{"yandex"}},
		{"http://goo.gl/abc", []string{"goo.gl"}},
	} {
		got := FindSubstrings(tc.source, r.SourceWords, r.SourceExceptions)
		if !slices.Equal(got, tc.want) {
			t.Errorf("source %q: %v, want %v", tc.source, got, tc.want)
		}
	}
}

func meta(tags map[string]string) Meta {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return Meta{ID: 1, User: "u", UID: 7, CreatedAt: &t0, Tags: tags}
}

func nodes(action string, n int, startID int64, tags map[string]string) []elements.Element {
	var out []elements.Element
	for i := 0; i < n; i++ {
		v := 1
		if action != "create" {
			v = 2
		}
		out = append(out, elements.Element{Type: 'n', ID: startID + int64(i), Version: v, Changeset: 1, Action: act(action), Visible: action != "delete",
			HasCoords: action != "delete", Lat: 50, Lon: 8 + float64(i)*1e-4, Tags: tagList(tags), Timestamp: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)})
	}
	return out
}

func TestChangesetReasons(t *testing.T) {
	ctx := context.Background()
	josm := map[string]string{"created_by": "JOSM/1.5", "comment": "survey"}
	id := map[string]string{"created_by": "iD 2.30", "comment": "survey", "changesets_count": "3"}
	cat := func(parts ...[]elements.Element) []elements.Element {
		var out []elements.Element
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		tags  map[string]string
		elems []elements.Element
		want  []string
	}{
		{"import with JOSM", josm, cat(nodes("create", 250, 1, nil), nodes("modify", 10, 1000, nil)), []string{"possible_import"}},
		{"many creations with iD, not 1000", map[string]string{"created_by": "iD", "comment": "x"}, nodes("create", 250, 1, nil), nil},
		{"import with any editor over 1000", map[string]string{"created_by": "iD", "comment": "x"}, nodes("create", 1001, 1, nil), []string{"possible_import"}},
		{"exactly 200 created", josm, nodes("create", 200, 1, nil), nil},
		{"mass modification", josm, nodes("modify", 201, 1, nil), []string{"mass_modification"}},
		{"mass deletion ratio", josm, nodes("delete", 31, 1, nil), []string{"mass_deletion"}},
		{"30 deleted is not mass", josm, nodes("delete", 30, 1, nil), nil},
		{"deletion over 1000 at any ratio", josm, cat(nodes("delete", 1001, 1, nil), nodes("create", 1500, 5000, nil)), []string{"mass_deletion"}},
		{"chain: import wins over deletion", josm, cat(nodes("delete", 1001, 1, nil), nodes("create", 5000, 5000, nil)), []string{"possible_import"}},
		{"chain: import before deletion", josm, cat(nodes("delete", 1001, 1, nil), nodes("modify", 10, 9000, nil)), []string{"mass_deletion"}},
		{"no editor counts as powerful", map[string]string{"comment": "x"}, nodes("create", 201, 1, nil), []string{"possible_import", "no_editor"}},
		{"no elements, no count reason", map[string]string{"comment": "x"}, nil, []string{"no_editor"}},
		{"new mapper from iD tag", id, nodes("create", 1, 1, nil), []string{"new_mapper"}},
		{"50 changesets is new", map[string]string{"created_by": "iD", "changesets_count": "50"}, nil, []string{"new_mapper"}},
		{"51 changesets is not new", map[string]string{"created_by": "iD", "changesets_count": "51"}, nil, nil},
		{"review requested", map[string]string{"created_by": "iD", "review_requested": "yes"}, nil, []string{"review_requested"}},
		{"review not requested", map[string]string{"created_by": "iD", "review_requested": "no"}, nil, nil},
		{"comment word", map[string]string{"created_by": "iD", "comment": "import buildings"}, nil, []string{"suspect_word"}},
		{"source word", map[string]string{"created_by": "iD", "source": "Google"}, nil, []string{"suspect_word"}},
		{"imagery word", map[string]string{"created_by": "iD", "imagery_used": "Yandex Satellite"}, nil, []string{"suspect_word"}},
		{"warnings", map[string]string{"created_by": "iD", "warnings:crossing_ways:building-building": "2", "warnings:suspicious_name:generic_name": "1",
			"warnings:incompatible_source:google": "1", "warnings:unknown_thing": "1", "warnings:close_nodes:detached": "1"}, nil,
			[]string{"suspect_word", "warning:close_nodes", "warning:crossing_ways", "warning:generic_name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _, err := (&Analyzer{Config: config.Default().Analyse}).Analyse(ctx, Input{Meta: meta(tc.tags), Elems: tc.elems})
			if err != nil {
				t.Fatal(err)
			}
			got := codes(d)
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("reasons = %v, want %v", got, want)
			}
			for _, r := range d.Reasons {
				if len(r.Evidence) == 0 {
					t.Errorf("%s without evidence", r.Code)
				}
			}
		})
	}
}

func TestUnreadableInputNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.osc")
	os.WriteFile(bad, []byte("<osmChange>\n<create>\n<node id=\"1\" version=\"1\" lat=\"1\" lon=\"1\">\n</way>\n</create></osmChange>\n"), 0o644)
	_, err := ReadElements(bad)
	var ie *InputError
	if !errorsAs(err, &ie) || ie.File != bad || ie.Line != 4 {
		t.Fatalf("err = %v, want an InputError naming %s line 4", err, bad)
	}
	badMeta := filepath.Join(dir, "meta.xml")
	os.WriteFile(badMeta, []byte("<osm>\n<changeset id=\"x\">\n</changeset></osm>"), 0o644)
	if _, err := ReadMeta(badMeta); !errorsAs(err, &ie) || ie.File != badMeta || ie.Line == 0 {
		t.Fatalf("err = %v, want an InputError naming %s and a line", err, badMeta)
	}
	if _, err := ReadMeta(filepath.Join(dir, "missing.xml")); !errorsAs(err, &ie) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestSuspectWordText pins the reason sentence for one and for several suspect words: each word
// is quoted on its own (not "import\", \"google" from quoting an already joined string).
func TestSuspectWordText(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ comment, want string }{
		{"import buildings", `Comment contains "import"`},
		{"import from google maps", `Comment contains "import", "google"`},
	} {
		d, _, err := (&Analyzer{Config: config.Default().Analyse}).Analyse(ctx, Input{Meta: meta(map[string]string{"created_by": "iD", "comment": tc.comment})})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range d.Reasons {
			if r.Code == "suspect_word" {
				got = append(got, r.Text)
			}
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("comment %q: suspect_word reasons %q, want exactly [%q]", tc.comment, got, tc.want)
		}
	}
}
