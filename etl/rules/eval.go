package rules

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/region"
)

// Evaluate runs the rules of phase over cs and returns the labels, each with its evidence, in
// rule order. In PhaseFilter (and PhaseAll) the verdict comes from the prefilter; in
// PhaseAnalyse the verdict is the zero Verdict (the changeset is already being analysed).
// Evaluate is safe for concurrent use.
func (s *Set) Evaluate(cs *Changeset, phase Phase) ([]Label, Verdict) {
	ec := &evalCtx{cs: cs, bboxArea: -1}
	var labels []Label
	var have []bool
	if phase != PhaseAnalyse {
		have = make([]bool, len(s.Rules))
	}
	for i, r := range s.Rules {
		if (phase == PhaseFilter && r.analysis) || (phase == PhaseAnalyse && !r.analysis) {
			continue
		}
		ok, ev := r.cond.eval(ec)
		if !ok || len(ev) == 0 {
			continue
		}
		labels = append(labels, Label{Label: r.Label, Description: r.Description, Rule: r.Where, Evidence: ev})
		if have != nil {
			have[i] = true
		}
	}
	if phase == PhaseAnalyse {
		return labels, Verdict{}
	}
	return labels, s.verdict(ec, have)
}

// Pending returns the labels whose rules need the analysis (skipped by PhaseFilter).
func (s *Set) Pending() []string {
	var out []string
	for _, r := range s.Rules {
		if r.analysis {
			out = append(out, r.Label)
		}
	}
	return out
}

func (s *Set) verdict(ec *evalCtx, have []bool) Verdict {
	if s.prefilter != nil {
		if s.prefilter.eval(have) {
			return Verdict{Analyse: true, Reason: "prefilter " + s.prefilterDesc + " matched" + s.presentLabels(have)}
		}
		return Verdict{Analyse: false, Reason: "prefilter " + s.prefilterDesc + " not matched" + s.presentLabels(have)}
	}
	// Default: an edit inside a region (every changeset when no regions are defined).
	if len(s.regions) == 0 {
		return Verdict{Analyse: true, Reason: "no regions defined: the whole planet is tracked"}
	}
	total := 0
	for _, r := range s.regions {
		h := ec.edits(r)
		total = h.total
		if h.n > 0 {
			return Verdict{Analyse: true, Reason: fmt.Sprintf("edit inside region %s (%s)", r.Name, h.first)}
		}
	}
	if total == 0 {
		return Verdict{Analyse: false, Reason: "no edit locations known, so no edit inside a region"}
	}
	return Verdict{Analyse: false, Reason: fmt.Sprintf("none of %d edit locations is inside a region", total)}
}

func (s *Set) presentLabels(have []bool) string {
	var l []string
	for i, h := range have {
		if h {
			l = append(l, s.Rules[i].Label)
		}
	}
	if len(l) == 0 {
		return " (no labels)"
	}
	return " (labels: " + strings.Join(l, ", ") + ")"
}

// evalCtx caches what several predicates share while evaluating one changeset.
type evalCtx struct {
	cs       *Changeset
	hits     []regionHit
	bboxArea float64
}

type regionHit struct {
	r        *region.Region
	n, total int
	first    string
}

// edits counts the edit locations inside r: element points (and previous locations), then
// EditPoints.
func (ec *evalCtx) edits(r *region.Region) regionHit {
	for _, h := range ec.hits {
		if h.r == r {
			return h
		}
	}
	h := regionHit{r: r}
	check := func(p orb.Point, ref func() string, src string) {
		h.total++
		if r.Contains(p) {
			h.n++
			if h.first == "" {
				h.first = ref() + " at " + fmtPoint(p)
				if src != "" {
					h.first += ", location from " + src
				}
			}
		}
	}
	for i := range ec.cs.Elements {
		e := &ec.cs.Elements[i]
		p, ok := e.Point()
		if ok {
			check(p, e.Ref, e.Source.String())
		}
		if q, qok := e.OldPoint(); qok && (!ok || q != p) {
			check(q, func() string { return e.Ref() + " (previous location)" }, e.Old.Source.String())
		}
	}
	for _, ep := range ec.cs.EditPoints {
		check(ep.Point, func() string { return ep.Ref }, ep.Source)
	}
	ec.hits = append(ec.hits, h)
	return h
}

func (ec *evalCtx) bboxM2() float64 {
	if ec.bboxArea < 0 {
		b := *ec.cs.BBox
		ec.bboxArea = math.Abs(geo.Area(b.ToPolygon()))
	}
	return ec.bboxArea
}

func fmtPoint(p orb.Point) string {
	return strconv.FormatFloat(p[1], 'f', 5, 64) + "," + strconv.FormatFloat(p[0], 'f', 5, 64)
}

func fmtBound(b orb.Bound) string {
	return fmt.Sprintf("[%.5f,%.5f,%.5f,%.5f]", b.Min[0], b.Min[1], b.Max[0], b.Max[1])
}

// short keeps evidence values readable.
func short(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

type cond interface {
	eval(ec *evalCtx) (bool, []Evidence)
	needsAnalysis() bool
	describe() string
}

type allCond struct{ cs []cond }

func (c *allCond) eval(ec *evalCtx) (bool, []Evidence) {
	var ev []Evidence
	for _, x := range c.cs {
		ok, e := x.eval(ec)
		if !ok {
			return false, nil
		}
		ev = append(ev, e...)
	}
	return true, ev
}

func (c *allCond) needsAnalysis() bool { return anyNeeds(c.cs) }
func (c *allCond) describe() string    { return "all of [" + describeList(c.cs) + "]" }

type anyCond struct{ cs []cond }

func (c *anyCond) eval(ec *evalCtx) (bool, []Evidence) {
	var ev []Evidence
	ok := false
	for _, x := range c.cs {
		if o, e := x.eval(ec); o {
			ok = true
			ev = append(ev, e...)
		}
	}
	return ok, ev
}

func (c *anyCond) needsAnalysis() bool { return anyNeeds(c.cs) }
func (c *anyCond) describe() string    { return "any of [" + describeList(c.cs) + "]" }

func anyNeeds(cs []cond) bool {
	for _, c := range cs {
		if c.needsAnalysis() {
			return true
		}
	}
	return false
}

func describeList(cs []cond) string {
	d := make([]string, len(cs))
	for i, c := range cs {
		d[i] = c.describe()
	}
	return strings.Join(d, "; ")
}

type notCond struct {
	c    cond
	desc string
}

func (c *notCond) eval(ec *evalCtx) (bool, []Evidence) {
	if ok, _ := c.c.eval(ec); ok {
		return false, nil
	}
	return true, []Evidence{{Predicate: c.desc, Detail: "did not match: " + c.c.describe()}}
}

func (c *notCond) needsAnalysis() bool { return c.c.needsAnalysis() }
func (c *notCond) describe() string    { return "not " + c.c.describe() }

// regionPred: region NAME (or a list), match edits|bbox|centroid, max_bbox_ratio.
type regionPred struct {
	desc     string
	names    []string
	regions  []*region.Region
	mode     string
	maxRatio float64
}

func (p *regionPred) describe() string {
	d := "region " + strings.Join(p.names, "|") + " (match " + p.mode
	if p.maxRatio > 0 {
		d += ", max_bbox_ratio " + num(p.maxRatio)
	}
	return d + ")"
}

func (p *regionPred) needsAnalysis() bool { return false }

func (p *regionPred) eval(ec *evalCtx) (bool, []Evidence) {
	cs := ec.cs
	var ev []Evidence
	for _, r := range p.regions {
		var e Evidence
		switch p.mode {
		case "edits":
			h := ec.edits(r)
			if h.n == 0 {
				continue
			}
			e = Evidence{Detail: fmt.Sprintf("%d of %d edit locations inside %s, first %s", h.n, h.total, r.Name, h.first), Count: fptr(float64(h.n))}
		case "bbox":
			if cs.BBox == nil || !r.IntersectsBound(*cs.BBox) {
				continue
			}
			e = Evidence{Detail: fmt.Sprintf("changeset bbox %s intersects %s", fmtBound(*cs.BBox), r.Name)}
		case "centroid":
			if cs.BBox == nil {
				continue
			}
			c := cs.BBox.Center()
			if !r.Contains(c) {
				continue
			}
			e = Evidence{Detail: fmt.Sprintf("centre of the changeset bbox (%s) is inside %s", fmtPoint(c), r.Name)}
		}
		e.Predicate, e.Region = p.desc, r.Name
		if p.maxRatio > 0 {
			if cs.BBox == nil || r.AreaM2() <= 0 {
				continue
			}
			ratio := ec.bboxM2() / r.AreaM2()
			if ratio > p.maxRatio {
				continue
			}
			e.Detail += fmt.Sprintf("; bbox area %.3g km² is %.3g× the region's %.3g km² (at most %s)", ec.bboxM2()/1e6, ratio, r.AreaM2()/1e6, num(p.maxRatio))
			e.Count, e.Threshold = fptr(ratio), fptr(p.maxRatio)
		}
		ev = append(ev, e)
	}
	return len(ev) > 0, ev
}

// tagPred: a changeset tag with regex|contains|equals|exists.
type tagPred struct {
	desc          string
	key           string
	op            string
	arg, argFold  string
	re            *regexp.Regexp
	exists        bool
	caseSensitive bool
}

func (p *tagPred) needsAnalysis() bool { return false }

func (p *tagPred) describe() string {
	switch p.op {
	case "exists":
		if p.exists {
			return p.key + " exists"
		}
		return p.key + " does not exist"
	}
	d := fmt.Sprintf("%s %s %q", p.key, p.op, p.arg)
	if p.caseSensitive {
		d += " (case-sensitive)"
	}
	return d
}

func (p *tagPred) eval(ec *evalCtx) (bool, []Evidence) {
	v, ok := ec.cs.Tags[p.key]
	e := Evidence{Predicate: p.desc, Tag: p.key}
	if p.op == "exists" {
		if ok != p.exists {
			return false, nil
		}
		if ok {
			e.Value = short(v)
			e.Detail = fmt.Sprintf("changeset tag %s is set: %q", p.key, short(v))
		} else {
			e.Detail = fmt.Sprintf("changeset has no %s tag", p.key)
		}
		return true, []Evidence{e}
	}
	if !ok {
		return false, nil
	}
	e.Value = short(v)
	switch p.op {
	case "regex":
		loc := p.re.FindStringIndex(v)
		if loc == nil {
			return false, nil
		}
		e.Found = short(v[loc[0]:loc[1]])
		e.Detail = fmt.Sprintf("%s %q matches /%s/ at %q", p.key, short(v), p.arg, e.Found)
	case "contains":
		var i int
		if p.caseSensitive {
			i = strings.Index(v, p.arg)
		} else {
			i = indexFold(v, p.arg)
		}
		if i < 0 {
			return false, nil
		}
		e.Found = v[i : i+len(p.arg)]
		e.Detail = fmt.Sprintf("%s %q contains %q", p.key, short(v), e.Found)
	case "equals":
		if p.caseSensitive && v != p.arg || !p.caseSensitive && !strings.EqualFold(v, p.arg) {
			return false, nil
		}
		e.Found = v
		e.Detail = fmt.Sprintf("%s is %q", p.key, short(v))
	}
	return true, []Evidence{e}
}

// indexFold finds sub in s ignoring case; the match in s has len(sub) bytes when ASCII
// case-folding suffices, else it falls back to a case-insensitive regexp.
func indexFold(s, sub string) int {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return i
		}
	}
	if re, err := regexp.Compile("(?i)" + regexp.QuoteMeta(sub)); err == nil {
		if loc := re.FindStringIndex(s); loc != nil && loc[1]-loc[0] == n {
			return loc[0]
		}
	}
	return -1
}

type userPred struct {
	names []string
	desc  string
}

func (p *userPred) needsAnalysis() bool { return false }
func (p *userPred) describe() string    { return "user in [" + strings.Join(p.names, ", ") + "]" }
func (p *userPred) eval(ec *evalCtx) (bool, []Evidence) {
	if ec.cs.User == "" {
		return false, nil
	}
	for _, n := range p.names {
		if strings.EqualFold(n, ec.cs.User) {
			return true, []Evidence{{Predicate: p.desc, Detail: fmt.Sprintf("user %s (uid %d) is on the list", ec.cs.User, ec.cs.UID), Value: ec.cs.User}}
		}
	}
	return false, nil
}

type uidPred struct {
	desc string
	ids  map[int64]bool
	list []string
}

func (p *uidPred) needsAnalysis() bool { return false }
func (p *uidPred) describe() string    { return "uid in [" + strings.Join(p.list, ", ") + "]" }
func (p *uidPred) eval(ec *evalCtx) (bool, []Evidence) {
	if !p.ids[ec.cs.UID] {
		return false, nil
	}
	return true, []Evidence{{Predicate: p.desc, Detail: fmt.Sprintf("uid %d (%s) is on the list", ec.cs.UID, ec.cs.User), Value: strconv.FormatInt(ec.cs.UID, 10)}}
}

type editorPred struct {
	desc string
	re   *regexp.Regexp
	src  string
}

func (p *editorPred) needsAnalysis() bool { return false }
func (p *editorPred) describe() string    { return fmt.Sprintf("editor regex %q", p.src) }
func (p *editorPred) eval(ec *evalCtx) (bool, []Evidence) {
	v, ok := ec.cs.Tags["created_by"]
	if !ok {
		return false, nil
	}
	loc := p.re.FindStringIndex(v)
	if loc == nil {
		return false, nil
	}
	return true, []Evidence{{Predicate: p.desc, Tag: "created_by", Value: short(v), Found: v[loc[0]:loc[1]],
		Detail: fmt.Sprintf("editor (created_by) %q matches /%s/", short(v), p.src)}}
}

// elementPred: elements by action, type, tag key (exact or ^regex) and value regex, on the
// new version or (old: true) the previous one.
type elementPred struct {
	desc          string
	action, typ   string
	key, value    string
	keyRE         *regexp.Regexp
	valueRE       *regexp.Regexp
	old           bool
	caseSensitive bool
	min           int
}

func (p *elementPred) needsAnalysis() bool { return false }

func (p *elementPred) describe() string {
	var b strings.Builder
	b.WriteString("element")
	if p.action != "any" {
		b.WriteString(" action " + p.action)
	}
	if p.typ != "any" {
		b.WriteString(" type " + p.typ)
	}
	if p.key != "" {
		fmt.Fprintf(&b, " key %q", p.key)
	}
	if p.value != "" {
		fmt.Fprintf(&b, " value %q", p.value)
	}
	if p.old {
		b.WriteString(" (previous version)")
	}
	if p.min > 1 {
		fmt.Fprintf(&b, " at least %d", p.min)
	}
	return b.String()
}

func (p *elementPred) matchTags(tags []elements.Tag) (string, string, bool) {
	if p.keyRE == nil {
		for _, t := range tags {
			if t.Key == p.key {
				if p.valueRE != nil && !p.valueRE.MatchString(t.Value) {
					return "", "", false
				}
				return p.key, t.Value, true
			}
		}
		return "", "", false
	}
	best, bestV, found := "", "", false
	for _, t := range tags {
		if p.keyRE.MatchString(t.Key) && (p.valueRE == nil || p.valueRE.MatchString(t.Value)) && (!found || t.Key < best) {
			best, bestV, found = t.Key, t.Value, true
		}
	}
	return best, bestV, found
}

func (p *elementPred) eval(ec *evalCtx) (bool, []Evidence) {
	const maxShown = 3
	type hit struct {
		e    *Element
		k, v string
	}
	var shown [maxShown]hit
	n := 0
	for i := range ec.cs.Elements {
		e := &ec.cs.Elements[i]
		if (p.action != "any" && e.Action.String() != p.action) || (p.typ != "any" && e.TypeName() != p.typ) {
			continue
		}
		tags := e.Tags
		if p.old {
			if e.Old == nil {
				continue
			}
			tags = e.Old.Tags
		}
		var k, v string
		if p.key != "" {
			var ok bool
			if k, v, ok = p.matchTags(tags); !ok {
				continue
			}
		}
		if n < maxShown {
			shown[n] = hit{e, k, v}
		}
		n++
	}
	if n < p.min || n == 0 {
		return false, nil
	}
	desc := p.desc
	ev := make([]Evidence, 0, maxShown+1)
	for _, h := range shown[:min(n, maxShown)] {
		e := h.e
		ref := e.Ref()
		d := ref + " (" + e.Action.String() + ")"
		if h.k != "" {
			if p.old {
				d += fmt.Sprintf(" had %s=%s in its previous version v%d", h.k, short(h.v), e.Old.Version)
			} else {
				d += fmt.Sprintf(" has %s=%s", h.k, short(h.v))
			}
		}
		ev = append(ev, Evidence{Predicate: desc, Detail: d, Element: ref, Tag: h.k, Value: short(h.v)})
	}
	if n > maxShown || p.min > 1 {
		ev = append(ev, Evidence{Predicate: desc, Detail: fmt.Sprintf("%d elements match (at least %d needed)", n, p.min),
			Count: fptr(float64(n)), Threshold: fptr(float64(p.min))})
	}
	return true, ev
}

// countPred: how many elements by action and type, absolute (min/max) or as a share of all
// edits (min_ratio/max_ratio).
type countPred struct {
	desc, whatS              string
	action, typ              string
	r                        numRange
	minRatio, maxRatio       float64
	hasMinRatio, hasMaxRatio bool
}

func (p *countPred) needsAnalysis() bool { return false }

func (p *countPred) what() string {
	w := "edits"
	if p.action != "any" {
		w = p.action + "s"
	}
	if p.typ != "any" {
		w = p.typ + " " + w
	}
	return w
}

func (p *countPred) describe() string {
	var parts []string
	if p.r.hasMin {
		parts = append(parts, ">= "+num(p.r.min))
	}
	if p.r.hasMx {
		parts = append(parts, "<= "+num(p.r.max))
	}
	if p.hasMinRatio {
		parts = append(parts, "ratio >= "+num(p.minRatio))
	}
	if p.hasMaxRatio {
		parts = append(parts, "ratio <= "+num(p.maxRatio))
	}
	return "count " + p.what() + " " + strings.Join(parts, ", ")
}

func (p *countPred) eval(ec *evalCtx) (bool, []Evidence) {
	cs := ec.cs
	var n, total int
	if p.typ == "any" && cs.Counts != nil {
		for a, c := range cs.Counts {
			total += c
			if p.action == "any" || a == p.action {
				n += c
			}
		}
	} else {
		total = len(cs.Elements)
		for i := range cs.Elements {
			e := &cs.Elements[i]
			if (p.action == "any" || e.Action.String() == p.action) && (p.typ == "any" || e.TypeName() == p.typ) {
				n++
			}
		}
	}
	d, w := p.desc, p.whatS
	var ev []Evidence
	fn := float64(n)
	if p.r.hasMin {
		if fn < p.r.min {
			return false, nil
		}
		ev = append(ev, Evidence{Predicate: d, Detail: fmt.Sprintf("%d %s, at least %s", n, w, num(p.r.min)), Count: fptr(fn), Threshold: fptr(p.r.min)})
	}
	if p.r.hasMx {
		if fn > p.r.max {
			return false, nil
		}
		ev = append(ev, Evidence{Predicate: d, Detail: fmt.Sprintf("%d %s, at most %s", n, w, num(p.r.max)), Count: fptr(fn), Threshold: fptr(p.r.max)})
	}
	if p.hasMinRatio || p.hasMaxRatio {
		if total == 0 {
			return false, nil
		}
		ratio := fn / float64(total)
		if p.hasMinRatio {
			if ratio < p.minRatio {
				return false, nil
			}
			ev = append(ev, Evidence{Predicate: d, Detail: fmt.Sprintf("%d of %d edits are %s (%.3g, at least %s)", n, total, w, ratio, num(p.minRatio)), Count: fptr(ratio), Threshold: fptr(p.minRatio)})
		}
		if p.hasMaxRatio {
			if ratio > p.maxRatio {
				return false, nil
			}
			ev = append(ev, Evidence{Predicate: d, Detail: fmt.Sprintf("%d of %d edits are %s (%.3g, at most %s)", n, total, w, ratio, num(p.maxRatio)), Count: fptr(ratio), Threshold: fptr(p.maxRatio)})
		}
	}
	return true, ev
}

// numPred: comments_count or changes_count from the metadata.
type numPred struct {
	desc string
	what string
	r    numRange
}

func (p *numPred) needsAnalysis() bool { return false }
func (p *numPred) describe() string {
	var parts []string
	if p.r.hasMin {
		parts = append(parts, ">= "+num(p.r.min))
	}
	if p.r.hasMx {
		parts = append(parts, "<= "+num(p.r.max))
	}
	return p.what + " " + strings.Join(parts, ", ")
}

func (p *numPred) eval(ec *evalCtx) (bool, []Evidence) {
	if !ec.cs.MetadataKnown {
		return false, nil
	}
	n := ec.cs.CommentsCount
	if p.what == "changes_count" {
		n = ec.cs.ChangesCount
	}
	fn := float64(n)
	var ev []Evidence
	if p.r.hasMin {
		if fn < p.r.min {
			return false, nil
		}
		ev = append(ev, Evidence{Predicate: p.desc, Detail: fmt.Sprintf("%s is %d, at least %s", p.what, n, num(p.r.min)), Count: fptr(fn), Threshold: fptr(p.r.min)})
	}
	if p.r.hasMx {
		if fn > p.r.max {
			return false, nil
		}
		ev = append(ev, Evidence{Predicate: p.desc, Detail: fmt.Sprintf("%s is %d, at most %s", p.what, n, num(p.r.max)), Count: fptr(fn), Threshold: fptr(p.r.max)})
	}
	return true, ev
}

type openPred struct {
	want bool
	desc string
}

func (p *openPred) needsAnalysis() bool { return false }
func (p *openPred) describe() string    { return "open " + strconv.FormatBool(p.want) }
func (p *openPred) eval(ec *evalCtx) (bool, []Evidence) {
	if !ec.cs.MetadataKnown || ec.cs.Open != p.want {
		return false, nil
	}
	d := "the changeset is open"
	if !p.want {
		d = "the changeset is closed"
		if !ec.cs.ClosedAt.IsZero() {
			d += " (" + ec.cs.ClosedAt.UTC().Format("2006-01-02 15:04Z") + ")"
		}
	}
	return true, []Evidence{{Predicate: p.desc, Detail: d}}
}

// reasonPred: an analysis reason code; evaluable only after analysis.
type reasonPred struct {
	codes []string
	desc  string
}

func (p *reasonPred) needsAnalysis() bool { return true }
func (p *reasonPred) describe() string    { return "reason in [" + strings.Join(p.codes, ", ") + "]" }
func (p *reasonPred) eval(ec *evalCtx) (bool, []Evidence) {
	var ev []Evidence
	for _, c := range p.codes {
		for _, r := range ec.cs.Reasons {
			if r == c {
				ev = append(ev, Evidence{Predicate: p.desc, Detail: "the analysis found " + c, Reason: c})
				break
			}
		}
	}
	return len(ev) > 0, ev
}

// expr is the prefilter over labels.
type expr interface {
	eval(have []bool) bool // have[i]: rule i gave its label
	describe() string
}

type labelExpr struct {
	name string
	idx  int // index of the rule in Set.Rules
}

func (e labelExpr) eval(have []bool) bool { return have[e.idx] }
func (e labelExpr) describe() string      { return e.name }

type listExpr struct {
	op string
	es []expr
}

func (e *listExpr) eval(have []bool) bool {
	for _, x := range e.es {
		if x.eval(have) != (e.op == "all") {
			return e.op != "all"
		}
	}
	return e.op == "all"
}

func (e *listExpr) describe() string {
	d := make([]string, len(e.es))
	for i, x := range e.es {
		d[i] = x.describe()
	}
	return e.op + " of [" + strings.Join(d, ", ") + "]"
}

type notExpr struct{ e expr }

func (e *notExpr) eval(have []bool) bool { return !e.e.eval(have) }
func (e *notExpr) describe() string      { return "not " + e.e.describe() }

// finish caches a predicate's description (used in every piece of evidence it gives).
func finish(c cond) cond {
	switch p := c.(type) {
	case *notCond:
		p.desc = p.describe()
	case *regionPred:
		p.desc = p.describe()
	case *tagPred:
		p.desc = p.describe()
	case *userPred:
		p.desc = p.describe()
	case *uidPred:
		p.desc = p.describe()
	case *editorPred:
		p.desc = p.describe()
	case *elementPred:
		p.desc = p.describe()
	case *countPred:
		p.desc, p.whatS = p.describe(), p.what()
	case *numPred:
		p.desc = p.describe()
	case *openPred:
		p.desc = p.describe()
	case *reasonPred:
		p.desc = p.describe()
	}
	return c
}
