package analysis

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmapi"
)

// The reason rules. Each is a function over values (the changeset's metadata and counts, one
// element's change, the user's details, the dragged nodes' facts) that returns its reasons
// with their evidence; none asks the store or the API (Analyse asked them before).

// changesetRules are the changeset-level rules, in the order their reasons appear.
var changesetRules = []struct {
	codes string // what it gives
	check func(rc config.AnalyseReasons, meta Meta, counts Counts) []Reason
}{
	{"possible_import | mass_modification | mass_deletion", countReasons},
	{"no_editor", noEditor},
	{"suspect_word (comment)", commentWords},
	{"suspect_word (source, imagery_used)", sourceWords},
	{"review_requested", reviewRequested},
	{"suspect_word (iD's incompatible_source), warning:*", idWarnings},
}

// elementReasons are the per-element rules, in the order their reasons appear for one element.
// dragged_node, which needs the nodes' ways, is draggedNodes.
var elementReasons = []struct {
	code  string
	check func(rc config.AnalyseReasons, c *change) []Reason
}{
	{"place_changed", placeChanged},
	{"large_building", largeBuilding},
	{"major_road_deleted", majorRoadDeleted},
	{"very_long_name", veryLongName},
}

// changesetReasons are the reasons from counts and changeset tags.
func changesetReasons(c config.Analyse, meta Meta, counts Counts) []Reason {
	out := []Reason{}
	for _, r := range changesetRules {
		out = append(out, r.check(c.Reasons, meta, counts)...)
	}
	return out
}

// IsPowerfulEditor reports whether created_by names a powerful editor (no created_by counts).
func IsPowerfulEditor(cfg config.AnalyseReasons, createdBy string) bool {
	if createdBy == "" {
		return true
	}
	lc := strings.ToLower(createdBy)
	for _, p := range cfg.PowerfulEditors {
		if strings.Contains(lc, strings.ToLower(p)) {
			return true
		}
	}
	return false
}

// countReasons: possible_import, else mass_modification, else mass_deletion.
func countReasons(rc config.AnalyseReasons, meta Meta, counts Counts) []Reason {
	createdBy := meta.Tags["created_by"]
	powerful := IsPowerfulEditor(rc, createdBy)
	C, M, D := counts.Create.Sum(), counts.Modify.Sum(), counts.Delete.Sum()
	n := C + M + D
	if n == 0 {
		return nil
	}
	fc, fm, fd := float64(C)/float64(n), float64(M)/float64(n), float64(D)/float64(n)
	switch {
	case fc > rc.ImportRatio && C > rc.ImportMin && (powerful || C > rc.ImportMinAnyEditor):
		return []Reason{{Code: "possible_import", Text: fmt.Sprintf("%d of %d elements created (%.0f%%)", C, n, fc*100),
			Evidence: map[string]any{"created": C, "total": n, "ratio": round3(fc), "ratio_threshold": rc.ImportRatio, "min_created": rc.ImportMin,
				"powerful_editor": powerful, "editor": createdBy, "min_created_any_editor": rc.ImportMinAnyEditor}}}
	case fm > rc.ModifyRatio && M > rc.ModifyMin:
		return []Reason{{Code: "mass_modification", Text: fmt.Sprintf("%d of %d elements modified (%.0f%%)", M, n, fm*100),
			Evidence: map[string]any{"modified": M, "total": n, "ratio": round3(fm), "ratio_threshold": rc.ModifyRatio, "min_modified": rc.ModifyMin}}}
	case (fd > rc.DeleteRatio && D > rc.DeleteMin) || D > rc.DeleteMinAbsolute:
		return []Reason{{Code: "mass_deletion", Text: fmt.Sprintf("%d of %d elements deleted (%.0f%%)", D, n, fd*100),
			Evidence: map[string]any{"deleted": D, "total": n, "ratio": round3(fd), "ratio_threshold": rc.DeleteRatio, "min_deleted": rc.DeleteMin, "min_deleted_any_ratio": rc.DeleteMinAbsolute}}}
	}
	return nil
}

// noEditor: the changeset has no created_by tag.
func noEditor(_ config.AnalyseReasons, meta Meta, _ Counts) []Reason {
	if _, ok := meta.Tags["created_by"]; ok {
		return nil
	}
	return []Reason{{Code: "no_editor", Text: "Software editor was not declared", Evidence: map[string]any{"tag": "created_by", "present": false}}}
}

// commentWords: the comment contains a suspect or source word (not only as part of an
// excluded one).
func commentWords(rc config.AnalyseReasons, meta Meta, _ Counts) []Reason {
	cm := meta.Tags["comment"]
	if cm == "" {
		return nil
	}
	suspect := append(append([]string{}, rc.SuspectWords...), rc.SourceWords...)
	v := CheckComment(cm, suspect, rc.ExcludedWords)
	if !v.Flagged {
		return nil
	}
	words := []string{}
	for _, m := range v.Suspect {
		words = append(words, m.Word)
	}
	excl := []string{}
	for _, m := range v.Excluded {
		excl = append(excl, m.Word)
	}
	return []Reason{{Code: "suspect_word", Text: "Comment contains " + quotedList(words),
		Evidence: map[string]any{"field": "comment", "words": words, "excluded": excl, "text": cm}}}
}

// sourceWords: the source or imagery_used tag mentions a source word.
func sourceWords(rc config.AnalyseReasons, meta Meta, _ Counts) []Reason {
	var out []Reason
	for _, f := range []struct {
		field, text string
		exc         []string
	}{{"source", meta.Tags["source"], rc.SourceExceptions}, {"imagery_used", meta.Tags["imagery_used"], nil}} {
		if f.text == "" {
			continue
		}
		if ws := FindSubstrings(f.text, rc.SourceWords, f.exc); len(ws) > 0 {
			out = append(out, Reason{Code: "suspect_word", Text: fmt.Sprintf("%s mentions %s", f.field, strings.Join(ws, ", ")),
				Evidence: map[string]any{"field": f.field, "words": ws, "text": f.text}})
		}
	}
	return out
}

// reviewRequested: review_requested=yes.
func reviewRequested(_ config.AnalyseReasons, meta Meta, _ Counts) []Reason {
	if !strings.EqualFold(strings.TrimSpace(meta.Tags["review_requested"]), "yes") {
		return nil
	}
	return []Reason{{Code: "review_requested", Text: "The mapper asked for a review", Evidence: map[string]any{"tag": "review_requested", "value": meta.Tags["review_requested"]}}}
}

// idWarnings: iD's warnings:* tags of the configured kinds (warning:<kind>; a generic name is
// warning:generic_name) and incompatible_source (suspect_word), each with its tags.
func idWarnings(rc config.AnalyseReasons, meta Meta, _ Counts) []Reason {
	tags := meta.Tags
	var out []Reason
	warn := map[string][]string{}
	var warnOrder []string
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var incompatible []string
	for _, k := range keys {
		if !strings.HasPrefix(k, "warnings:") {
			continue
		}
		rest := strings.TrimPrefix(k, "warnings:")
		name, _, _ := strings.Cut(rest, ":")
		code := ""
		switch {
		case strings.HasPrefix(rest, "suspicious_name:generic_name"):
			code = "warning:generic_name"
		case name == "incompatible_source":
			incompatible = append(incompatible, k)
			continue
		default:
			for _, w := range rc.Warnings {
				if name == w {
					code = "warning:" + name
				}
			}
		}
		if code == "" {
			continue
		}
		if _, ok := warn[code]; !ok {
			warnOrder = append(warnOrder, code)
		}
		warn[code] = append(warn[code], k)
	}
	if len(incompatible) > 0 {
		vals := map[string]any{}
		for _, k := range incompatible {
			vals[k] = tags[k]
		}
		out = append(out, Reason{Code: "suspect_word", Text: "iD warned of an incompatible source", Evidence: map[string]any{"field": "warnings", "tags": vals}})
	}
	for _, code := range warnOrder {
		vals := map[string]any{}
		for _, k := range warn[code] {
			vals[k] = tags[k]
		}
		out = append(out, Reason{Code: code, Text: fmt.Sprintf("iD warned: %s", strings.ReplaceAll(strings.TrimPrefix(code, "warning:"), "_", " ")), Evidence: map[string]any{"tags": vals}})
	}
	return out
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// quotedList quotes each word and joins them with commas: `"import", "google"`.
func quotedList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	return strings.Join(q, ", ")
}

// userReasons: new_mapper (from the changesets_count tag, else the user's details) and
// multiple_blocks (user details). u is nil when the details are unknown.
func userReasons(rc config.AnalyseReasons, meta Meta, u *osmapi.User) []Reason {
	var out []Reason
	count, from := -1, ""
	if v, ok := meta.Tags["changesets_count"]; ok {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d", &n); err == nil && n >= 0 {
			count, from = n, "changesets_count tag"
		}
	}
	if count < 0 && u != nil {
		count, from = u.ChangesetsCount, "OSM API user details"
	}
	if count >= 0 && count <= rc.NewMapperChangesets {
		out = append(out, Reason{Code: "new_mapper", Text: fmt.Sprintf("%s has %d changesets", meta.User, count),
			Evidence: map[string]any{"changesets_count": count, "threshold": rc.NewMapperChangesets, "from": from}})
	}
	if u != nil && u.BlocksReceived > rc.MaxBlocks {
		out = append(out, Reason{Code: "multiple_blocks", Text: fmt.Sprintf("%s received %d blocks", meta.User, u.BlocksReceived),
			Evidence: map[string]any{"blocks_received": u.BlocksReceived, "blocks_active": u.BlocksActive, "threshold": rc.MaxBlocks}})
	}
	return out
}

// placeChanged: a place node deleted, or its place or name changed.
func placeChanged(_ config.AnalyseReasons, c *change) []Reason {
	before, after := c.Before, c.After
	if c.Key.Type != 'n' || before == nil || tag(before, "place") == "" {
		return nil
	}
	if !(c.Action == "delete" || (after != nil && (tag(after, "place") != tag(before, "place") || tag(after, "name") != tag(before, "name")))) {
		return nil
	}
	ev := map[string]any{"before": map[string]any{"place": tag(before, "place"), "name": tag(before, "name")}}
	if after != nil {
		ev["after"] = map[string]any{"place": tag(after, "place"), "name": tag(after, "name")}
	} else {
		ev["after"] = nil
	}
	ev["action"] = c.Action
	what := "renamed or retyped"
	if c.Action == "delete" {
		what = "deleted"
	}
	return []Reason{{Code: "place_changed", Text: fmt.Sprintf("Place %s was %s", c.Label, what), Evidence: ev, Element: c.Ref}}
}

// largeBuilding: a building (closed way, every node located) after the changeset larger than
// LargeBuildingM2.
func largeBuilding(rc config.AnalyseReasons, c *change) []Reason {
	if c.Key.Type != 'w' || c.After == nil {
		return nil
	}
	ls := c.AfterLine
	bv, ok := c.After.Tag("building")
	if !ok || bv == "no" || !c.AfterOK || len(ls) < 4 || ls[0] != ls[len(ls)-1] {
		return nil
	}
	area := geo.Area(orb.Polygon{orb.Ring(ls)})
	if area <= rc.LargeBuildingM2 {
		return nil
	}
	return []Reason{{Code: "large_building", Text: fmt.Sprintf("Building %s covers %.0f m²", c.Label, area),
		Evidence: map[string]any{"area_m2": math.Round(area), "threshold_m2": rc.LargeBuildingM2, "building": bv}, Element: c.Ref}}
}

// majorRoadDeleted: a way whose highway value is one of MajorRoads was deleted.
func majorRoadDeleted(rc config.AnalyseReasons, c *change) []Reason {
	if c.Key.Type != 'w' || c.Action != "delete" || c.Before == nil {
		return nil
	}
	var out []Reason
	hw := tag(c.Before, "highway")
	for _, mr := range rc.MajorRoads {
		if hw != mr {
			continue
		}
		ev := map[string]any{"highway": hw, "major_roads": rc.MajorRoads}
		if n := tag(c.Before, "name"); n != "" {
			ev["name"] = n
		}
		if c.BeforeOK {
			ev["length_m"] = round1(c.BeforeLen)
		}
		out = append(out, Reason{Code: "major_road_deleted", Text: fmt.Sprintf("Major road %s was deleted", c.Label), Evidence: ev, Element: c.Ref})
	}
	return out
}

// veryLongName: a new or changed name longer than LongNameChars characters.
func veryLongName(rc config.AnalyseReasons, c *change) []Reason {
	if c.After == nil {
		return nil
	}
	n := tag(c.After, "name")
	if len([]rune(n)) <= rc.LongNameChars || (c.Before != nil && tag(c.Before, "name") == n) {
		return nil
	}
	return []Reason{{Code: "very_long_name", Text: fmt.Sprintf("%s has a name of %d characters", strings.ToUpper(c.Label[:1])+c.Label[1:], len([]rune(n))),
		Evidence: map[string]any{"name": n, "length": len([]rune(n)), "threshold": rc.LongNameChars}, Element: c.Ref}}
}

// drag is what dragged_node decides over: the nodes of the changeset moved farther than
// DraggedNodeM, why each move matters (because), and the lines of their ways outside the
// changeset before and after the move (ways, for the evidence).
type drag struct {
	moved map[int64]float64
	// because is "tag highway=…" (the node's tag), "way 5 highway=…" (one of its ways), "untagged
	// way node (its ways are unknown)"; "-" or "": the move does not matter.
	because map[int64]string
	ways    map[int64][]map[string]any
}

// draggedNodes: a node moved farther than DraggedNodeM that matters (see drag.because), in
// node id order.
func (s *state) draggedNodes(rc config.AnalyseReasons, d drag) []Reason {
	var ids []int64
	for id := range d.moved {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var out []Reason
	for _, id := range ids {
		via := d.because[id]
		if via == "" || via == "-" {
			continue
		}
		k := elements.Key{Type: 'n', ID: id}
		b, a := s.before(k), s.after(k)
		vs := s.cs[k]
		ev := map[string]any{"moved_m": round1(d.moved[id]), "threshold_m": rc.DraggedNodeM, "because": via,
			"from": []float64{b.Lon, b.Lat}, "to": []float64{a.Lon, a.Lat}}
		if pw := d.ways[id]; len(pw) > 0 {
			ev["ways"] = pw
		}
		out = append(out, Reason{Code: "dragged_node", Text: fmt.Sprintf("Node %d (%s) moved %.1f km", id, via, d.moved[id]/1000),
			Evidence: ev, Element: &ElementRef{Type: "node", ID: id, Version: vs[len(vs)-1].Version}})
	}
	return out
}
