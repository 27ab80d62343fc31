package site

import (
	"regexp"
	"strings"
	"testing"

	"github.com/osmtrack/osmtrack/etl/analysis"
)

func sentenceText(s sentence) string {
	var b strings.Builder
	for _, p := range s.Parts {
		b.WriteString(p.Text)
	}
	for _, f := range s.Facts {
		b.WriteString(" | " + f.Name + ": " + f.Value)
	}
	return b.String()
}

// The evidence maps are the shapes etl/analysis writes (analyse.go).
func TestReasonSentences(t *testing.T) {
	doc := &docView{}
	doc.Elements = []analysis.Element{
		{Type: "node", ID: 13000001378, Label: "node 13000001378"},
		{Type: "way", ID: 77, Label: `highway=residential "Lindenstraße"`},
		{Type: "way", ID: 78, Label: `building=yes`},
	}
	ix := newElemIndex(doc)
	snake := regexp.MustCompile(`\b[a-z]+_[a-z_]+\b`)
	for _, c := range []struct {
		r    analysis.Reason
		want string
	}{
		{analysis.Reason{Code: "dragged_node", Evidence: map[string]any{"moved_m": 17412.3, "threshold_m": 10000.0, "because": "way 77 highway=residential",
			"from": []any{13.4, 52.5}, "to": []any{13.6, 52.6}}, Element: &analysis.ElementRef{Type: "node", ID: 13000001378, Version: 3}},
			"node 13000001378 (tags) of way 77 Lindenstraße (highway=residential) (tags) moved 17.4 km — limit 10 km"},
		{analysis.Reason{Code: "large_building", Evidence: map[string]any{"area_m2": 25000.0, "threshold_m2": 20000.0, "building": "yes"}, Element: &analysis.ElementRef{Type: "way", ID: 78}},
			"Building way 78 building=yes (tags) covers 25 000 m² — limit 20 000 m²"},
		{analysis.Reason{Code: "possible_import", Evidence: map[string]any{"created": 950.0, "total": 1000.0, "ratio": 0.95, "ratio_threshold": 0.9, "min_created": 500.0,
			"powerful_editor": true, "editor": "JOSM/1.5", "min_created_any_editor": 2000.0}},
			"950 of 1 000 elements created (95 %) — limit 90 % with more than 500 created | editor: JOSM/1.5 | min created any editor: 2000 | powerful editor: yes"},
		{analysis.Reason{Code: "new_mapper", Evidence: map[string]any{"changesets_count": 3.0, "threshold": 10.0, "from": "api"}},
			"alice has made 3 changesets — fewer than 10 counts as new (count from api)"},
		{analysis.Reason{Code: "suspect_word", Text: "x", Evidence: map[string]any{"field": "comment", "words": []any{"import"}, "text": "bulk import"}},
			"The comment contains “import” | text: bulk import"},
		{analysis.Reason{Code: "suspect_word", Text: "iD warned of an incompatible source", Evidence: map[string]any{"field": "warnings", "tags": map[string]any{"warnings:incompatible_source:google": "1"}}},
			"iD warned of an incompatible source | tags: warnings:incompatible source:google: 1"},
		{analysis.Reason{Code: "mass_deletion", Evidence: map[string]any{"deleted": 40.0, "total": 50.0, "ratio": 0.8, "ratio_threshold": 0.5, "min_deleted": 20.0, "min_deleted_any_ratio": 500.0}},
			"40 of 50 elements deleted (80 %) — limit 50 % with more than 20 deleted | min deleted any ratio: 500"},
	} {
		got := sentenceText(reasonSentence(c.r, ix, "alice"))
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.r.Code, got, c.want)
		}
		if strings.HasPrefix(c.r.Code, "possible") || strings.HasPrefix(c.r.Code, "mass") {
			continue // their facts name the config keys they are compared with, humanised
		}
		if m := snake.FindString(got); m != "" {
			t.Errorf("%s: snake_case %q in %q", c.r.Code, m, got)
		}
	}
	for code, want := range map[string]string{"dragged_node": "dragged node", "warning:crossing_ways": "iD warning: crossing ways", "x-y": "x y"} {
		if got := reasonName(code); got != want {
			t.Errorf("reasonName(%q) = %q, want %q", code, got, want)
		}
	}
}
