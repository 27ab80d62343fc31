package site

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/osmtrack/osmtrack/etl/analysis"
)

// Evidence for people: each reason and label as a sentence, numbers with their unit and the
// limit they crossed, elements named and linked. The raw evidence stays in changesets/ID.json.

// part is a piece of a sentence: our text, a stranger's text (User: isolated with <bdi>), or a
// link.
type part struct {
	Text     string
	Href     string
	User     bool
	External bool // Href is off the site (rel=nofollow)
}

// fact is one readable name and value ("limit", "10 km").
type fact struct {
	Name  string
	Value string
	User  bool // the value is a stranger's text
}

// sentence is a reason or label explained.
type sentence struct {
	Parts []part
	Facts []fact
}

// compact joins neighbouring plain parts (no link, not a stranger's text) into one: the page
// shows the same text with one template action instead of several.
func (s sentence) compact() sentence {
	var out []part
	for _, p := range s.Parts {
		if n := len(out); n > 0 && p.Href == "" && !p.User && out[n-1].Href == "" && !out[n-1].User {
			out[n-1].Text += p.Text
			continue
		}
		out = append(out, p)
	}
	s.Parts = out
	return s
}

var reasonNames = map[string]string{
	"dragged_node":       "dragged node",
	"large_building":     "large building",
	"major_road_deleted": "major road deleted",
	"place_changed":      "place changed",
	"very_long_name":     "very long name",
	"possible_import":    "possible import",
	"mass_modification":  "mass modification",
	"mass_deletion":      "mass deletion",
	"no_editor":          "no editor declared",
	"suspect_word":       "suspect word",
	"review_requested":   "review requested",
	"new_mapper":         "new mapper",
	"multiple_blocks":    "blocked before",
}

// reasonName is a reason code as people read it: "dragged node", "iD warning: crossing ways".
func reasonName(code string) string {
	if n, ok := reasonNames[code]; ok {
		return n
	}
	if w, ok := strings.CutPrefix(code, "warning:"); ok {
		return "iD warning: " + humanKey(w)
	}
	return humanKey(code)
}

// humanKey turns a snake_case or kebab-case key into words.
func humanKey(k string) string {
	return strings.TrimSpace(keySpaces.Replace(k))
}

// keySpaces replaces a key's underscores and hyphens by spaces (built once: a Replacer
// builds its tables on first use, which was most of humanKey's time).
var keySpaces = strings.NewReplacer("_", " ", "-", " ")

// Units by key suffix; the value is converted for display.
func fmtValue(key string, v any) (string, bool) {
	f, isNum := toFloat(v)
	switch {
	case !isNum:
	case strings.HasSuffix(key, "_m2"):
		return fmtThousands(f) + " m²", true
	case strings.HasSuffix(key, "_m"):
		return fmtDistance(f), true
	case strings.HasSuffix(key, "_km"):
		return fmtDistance(f * 1000), true
	case key == "ratio" || strings.HasPrefix(key, "ratio_"):
		return strconv.FormatFloat(f*100, 'f', -1, 64) + " %", true
	default:
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	switch x := v.(type) {
	case nil:
		return "none", true
	case bool:
		if x {
			return "yes", true
		}
		return "no", true
	case string:
		return truncate(x, 300), false
	case []any:
		var s []string
		for i, e := range x {
			if i == 20 {
				s = append(s, fmt.Sprintf("… %d more", len(x)-20))
				break
			}
			t, _ := fmtValue("", e)
			s = append(s, t)
		}
		return strings.Join(s, ", "), false
	case map[string]any:
		var s []string
		for _, k := range sortedKeys(x) {
			if len(s) == 20 {
				s = append(s, "…")
				break
			}
			t, _ := fmtValue(k, x[k])
			s = append(s, humanKey(k)+": "+t)
		}
		return strings.Join(s, "; "), false
	}
	b, _ := json.Marshal(v)
	return truncate(string(b), 300), false
}

// factName is a key as a label: the unit suffix dropped, "threshold" read as "limit".
func factName(k string) string {
	for _, suf := range []string{"_m2", "_km", "_m"} {
		k = strings.TrimSuffix(k, suf)
	}
	switch k {
	case "threshold", "ratio_threshold":
		return "limit"
	}
	k = strings.Replace(k, "threshold", "limit", 1)
	return humanKey(k)
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func toFloatOr(v any) float64 { f, _ := toFloat(v); return f }

func fmtDistance(m float64) string {
	if math.Abs(m) < 1000 {
		return strconv.FormatFloat(math.Round(m*10)/10, 'f', -1, 64) + " m"
	}
	return strconv.FormatFloat(math.Round(m/100)/10, 'f', -1, 64) + " km"
}

func fmtThousands(f float64) string {
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune(' ')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func pct(f float64) string { return strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64) + " %" }

// elemIndex names the elements of a document for the sentences.
type elemIndex map[string]analysis.Element

func newElemIndex(doc *docView) elemIndex {
	ix := elemIndex{}
	if doc == nil {
		return ix
	}
	for _, el := range doc.Elements {
		ix[fmt.Sprintf("%s/%d", el.Type, el.ID)] = el
	}
	return ix
}

var labelRE = regexp.MustCompile(`^([^ =]+=[^ ]*) "(.*)"$`)

// readableLabel turns `highway=residential "Main Street"` into `Main Street (highway=residential)`.
func readableLabel(l string) string {
	if m := labelRE.FindStringSubmatch(l); m != nil {
		if n, err := strconv.Unquote(`"` + m[2] + `"`); err == nil {
			return n + " (" + m[1] + ")"
		}
		return m[2] + " (" + m[1] + ")"
	}
	return l
}

// elemParts names an element: a link to it on openstreetmap.org, its label, and a link to its
// row in the element table of the page.
func (ix elemIndex) elemParts(typ string, id int64) []part {
	ps := []part{{Text: fmt.Sprintf("%s %d", typeName(typ), id), Href: osmElementURL(typ, id), External: true}}
	if el, ok := ix[fmt.Sprintf("%s/%d", typ, id)]; ok {
		if l := readableLabel(el.Label); l != "" && l != fmt.Sprintf("%s %d", typ, id) {
			ps = append(ps, part{Text: " "}, part{Text: truncate(l, 120), User: true})
		}
		ps = append(ps, part{Text: " "}, part{Text: "(tags)", Href: "#" + elemAnchor(typ, id)})
	}
	return ps
}

func elemAnchor(typ string, id int64) string { return fmt.Sprintf("%s-%d", typeName(typ), id) }

func typeName(t string) string {
	switch t {
	case "n":
		return "node"
	case "w":
		return "way"
	case "r":
		return "relation"
	}
	return t
}

var elemRefRE = regexp.MustCompile(`^(node|way|relation)[ /](\d+)`)

// reasonSentence explains one reason of the analysis.
func reasonSentence(rs analysis.Reason, ix elemIndex, user string) sentence {
	ev := rs.Evidence
	var s sentence
	txt := func(t string) { s.Parts = append(s.Parts, part{Text: t}) }
	usr := func(t string) { s.Parts = append(s.Parts, part{Text: truncate(t, 300), User: true}) }
	num := func(k string) (float64, bool) { return toFloat(ev[k]) }
	str := func(k string) string { v, _ := ev[k].(string); return v }
	elem := func() bool {
		if rs.Element == nil {
			return false
		}
		s.Parts = append(s.Parts, ix.elemParts(rs.Element.Type, rs.Element.ID)...)
		return true
	}
	limit := func(k string, f func(float64) string) {
		if v, ok := num(k); ok {
			txt(" — limit " + f(v))
		}
	}
	used := map[string]bool{}
	use := func(ks ...string) {
		for _, k := range ks {
			used[k] = true
		}
	}
	switch rs.Code {
	case "dragged_node":
		use("moved_m", "threshold_m", "because", "from", "to", "ways") // ways: drawn on the map
		if !elem() {
			break
		}
		if via := str("because"); via != "" {
			if m := elemRefRE.FindStringSubmatch(via); m != nil {
				id, _ := strconv.ParseInt(m[2], 10, 64)
				txt(" of ")
				s.Parts = append(s.Parts, ix.elemParts(m[1], id)...)
				if _, named := ix[m[1]+"/"+m[2]]; named {
					// its label says what the way is
				} else if rest := strings.TrimSpace(strings.TrimPrefix(via, m[0])); rest != "" {
					txt(" (")
					usr(rest)
					txt(")")
				}
			} else {
				txt(" (")
				usr(via)
				txt(")")
			}
		}
		if v, ok := num("moved_m"); ok {
			txt(" moved " + fmtDistance(v))
		}
		limit("threshold_m", fmtDistance)
	case "large_building":
		use("area_m2", "threshold_m2", "building")
		txt("Building ")
		elem()
		if v, ok := num("area_m2"); ok {
			txt(" covers " + fmtThousands(v) + " m²")
		}
		limit("threshold_m2", func(f float64) string { return fmtThousands(f) + " m²" })
	case "very_long_name":
		use("name", "length", "threshold")
		elem()
		if v, ok := num("length"); ok {
			txt(fmt.Sprintf(" has a name of %s characters", fmtThousands(v)))
		}
		limit("threshold", func(f float64) string { return fmtThousands(f) + " characters" })
		if n := str("name"); n != "" {
			txt(": ")
			usr(n)
		}
	case "major_road_deleted":
		use("highway", "major_roads", "name", "length_m")
		txt("Major road ")
		elem()
		if h := str("highway"); h != "" {
			txt(" (highway=")
			usr(h)
			txt(")")
		}
		if v, ok := num("length_m"); ok {
			txt(", " + fmtDistance(v) + " long,")
		}
		txt(" was deleted")
	case "place_changed":
		use("before", "after", "action")
		txt("Place ")
		elem()
		b, _ := ev["before"].(map[string]any)
		a, _ := ev["after"].(map[string]any)
		if str("action") == "delete" || a == nil {
			txt(" was deleted")
		} else {
			txt(" changed from ")
			usr(placeText(b))
			txt(" to ")
			usr(placeText(a))
		}
	case "possible_import", "mass_modification", "mass_deletion":
		verb := map[string]string{"possible_import": "created", "mass_modification": "modified", "mass_deletion": "deleted"}[rs.Code]
		minKey := map[string]string{"possible_import": "min_created", "mass_modification": "min_modified", "mass_deletion": "min_deleted"}[rs.Code]
		use(verb, "total", "ratio", "ratio_threshold", minKey)
		n, _ := num(verb)
		tot, _ := num("total")
		r, _ := num("ratio")
		txt(fmt.Sprintf("%s of %s elements %s (%s)", fmtThousands(n), fmtThousands(tot), verb, pct(r)))
		if v, ok := num("ratio_threshold"); ok {
			txt(" — limit " + pct(v))
			if m, ok := num(minKey); ok {
				txt(fmt.Sprintf(" with more than %s %s", fmtThousands(m), verb))
			}
		}
	case "no_editor":
		use("tag", "present")
		txt("The changeset has no created_by tag: the editor it was made with is unknown")
	case "suspect_word":
		use("field", "words", "text")
		f := str("field")
		if f == "" {
			f = "comment"
		}
		if f == "warnings" { // iD's own warning: the source tags name what it flagged
			txt("iD warned of an incompatible source")
			break
		}
		txt("The " + humanKey(f) + " contains ")
		if ws, ok := ev["words"].([]any); ok {
			for i, w := range ws {
				if i == 10 {
					txt(", …")
					break
				}
				if i > 0 {
					txt(", ")
				}
				ws, _ := w.(string)
				txt("“")
				usr(ws)
				txt("”")
			}
		} else {
			usr(rs.Text)
		}
		if t := str("text"); t != "" {
			s.Facts = append(s.Facts, fact{Name: "text", Value: truncate(t, 500), User: true})
		}
	case "review_requested":
		use("tag", "value")
		txt("The mapper asked for a review (review_requested=")
		usr(str("value"))
		txt(")")
	case "new_mapper":
		use("changesets_count", "threshold", "from")
		usr(orUnknown(user))
		if v, ok := num("changesets_count"); ok {
			txt(fmt.Sprintf(" has made %s changesets", fmtThousands(v)))
		}
		if v, ok := num("threshold"); ok {
			txt(fmt.Sprintf(" — fewer than %s counts as new", fmtThousands(v)))
		}
		if f := str("from"); f != "" {
			txt(" (count from ")
			usr(f)
			txt(")")
		}
	case "multiple_blocks":
		use("blocks_received", "blocks_active", "threshold")
		usr(orUnknown(user))
		if v, ok := num("blocks_received"); ok {
			txt(fmt.Sprintf(" has been blocked %s times", fmtThousands(v)))
		}
		if v, ok := num("blocks_active"); ok && v > 0 {
			txt(fmt.Sprintf(", %s block(s) active now", fmtThousands(v)))
		}
		limit("threshold", fmtThousands)
	default:
		usr(rs.Text)
		if elem := rs.Element; elem != nil {
			txt(" (")
			s.Parts = append(s.Parts, ix.elemParts(elem.Type, elem.ID)...)
			txt(")")
		}
	}
	if len(s.Parts) == 0 {
		usr(rs.Text)
	}
	// Whatever the sentence did not say, as readable facts.
	for _, k := range sortedKeys(ev) {
		if used[k] || len(s.Facts) >= 30 {
			continue
		}
		v, isNum := fmtValue(k, ev[k])
		s.Facts = append(s.Facts, fact{Name: truncate(factName(k), 80), Value: v, User: !isNum})
	}
	return s
}

func placeText(m map[string]any) string {
	if m == nil {
		return "nothing"
	}
	n, _ := m["name"].(string)
	p, _ := m["place"].(string)
	switch {
	case n != "" && p != "":
		return n + " (place=" + p + ")"
	case n != "":
		return n
	case p != "":
		return "place=" + p
	}
	return "no name"
}

// labelEvidence is a label's evidence as filter and analyse store it (rules.Label).
type labelEvidence struct {
	Description string `json:"description"`
	Rule        string `json:"rule"`
	Evidence    []struct {
		Predicate string   `json:"predicate"`
		Detail    string   `json:"detail"`
		Element   string   `json:"element"`
		Region    string   `json:"region"`
		Count     *float64 `json:"count"`
		Threshold *float64 `json:"threshold"`
		Reason    string   `json:"reason"`
	} `json:"evidence"`
}

// labelSentences explains why a label was given: one sentence per matching predicate.
func labelSentences(raw json.RawMessage, ix elemIndex) (desc, rule string, out []sentence) {
	var le labelEvidence
	if json.Unmarshal(raw, &le) != nil || (len(le.Evidence) == 0 && le.Description == "") {
		// Not the shape filter writes: show its values as facts.
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return "", "", []sentence{{Parts: []part{{Text: truncate(string(raw), 300), User: true}}}}
		}
		s := sentence{}
		for _, k := range sortedKeys(m) {
			v, isNum := fmtValue(k, m[k])
			s.Facts = append(s.Facts, fact{Name: truncate(factName(k), 80), Value: v, User: !isNum})
		}
		return "", "", []sentence{s}
	}
	for i, e := range le.Evidence {
		if i == 50 {
			out = append(out, sentence{Parts: []part{{Text: fmt.Sprintf("… and %d more", len(le.Evidence)-50)}}})
			break
		}
		var s sentence
		d := e.Detail
		if d == "" {
			d = e.Predicate
		}
		s.Parts = append(s.Parts, part{Text: truncate(d, 500), User: true})
		if e.Reason != "" {
			s.Parts = append(s.Parts, part{Text: " (reason: " + reasonName(e.Reason) + ")"})
		}
		if m := elemRefRE.FindStringSubmatch(e.Element); m != nil {
			id, _ := strconv.ParseInt(m[2], 10, 64)
			s.Parts = append(s.Parts, part{Text: ": "})
			s.Parts = append(s.Parts, ix.elemParts(m[1], id)...)
		}
		if e.Region != "" {
			s.Parts = append(s.Parts, part{Text: " in region "}, part{Text: truncate(e.Region, 100), User: true})
		}
		out = append(out, s)
	}
	return truncate(le.Description, 500), truncate(le.Rule, 200), out
}
