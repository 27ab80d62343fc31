package site

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/analysis"
)

// Entry is what the list pages, feeds and statistics know of one changeset. Entries are kept
// in the build's state, so an incremental run re-renders only the changesets that changed.
type Entry struct {
	// The fields every list reads of every changeset each run come first, in the first
	// cache lines of the struct: an incremental run at 150,000 changesets goes over all
	// entries a dozen times, and what it costs is mostly reading them from memory.
	ID   int64
	Time time.Time
	Day  string // YYYY-MM-DD (UTC)
	UID  int64
	// Hash fingerprints the entry as the list pages show it; HTMLAt and HTMLLen locate that
	// HTML in the state's entries.html (htmlStore; not kept in memory).
	Hash uint64
	// Data fingerprints what the review and map shards and changesets.geojson read of the
	// entry (dataSum): they fingerprint their entries by it, one number each, instead of
	// hashing their strings again every run.
	Data uint64
	// PageSum and JSONSum fingerprint the files changesets/ID.html and ID.json as written
	// (JSONSum 0: no document, no file). The changeset files are not in the state's file list:
	// an entry in the state means its files were written.
	PageSum uint64
	JSONSum uint64
	// Severity is the entry's place in the review queue (InQueue: it is in it at all) and
	// Codes its distinct reason codes: derived from the entry and the configuration when it
	// is rendered (classify) and kept in the state (a change of the configuration makes a
	// full run).
	Severity int
	Labels   []string
	User     string
	// Reviewed: the last comment of one of publish.reviewers in the discussion.
	ReviewedBy string
	// Totals are the element versions created, modified and deleted.
	Totals  [3]int
	BBox    *[4]float64
	Codes   []string
	HTMLLen int32
	InQueue bool
	// A bot's changeset (the tag bot=yes or a user name ending in "bot", any case), still open.
	Bot  bool
	Open bool
	// For the review queue: the regions its labels matched in.
	Regions []string
	// InRegions are the configured regions the changeset is in (Regions, plus those its
	// bounding box meets): the region pages list it.
	InRegions []string
	Reasons   []ReasonBrief

	// The rest: what pages and feeds show of the changesets on them.
	Comment  string
	Editor   string
	Hashtags []string
	Status   []Badge
	State    string
	// Counts by action (create, modify, delete) and type (node, way, relation); HasTypes is
	// false when only totals are known (no analysis yet).
	Counts   [3][3]int
	HasTypes bool
	// RoadCreatedM / RoadDeletedM are metres of highway=* created and deleted.
	RoadCreatedM float64
	RoadDeletedM float64
	Updated      time.Time
	HTMLAt       int64
	// Sum fingerprints the database row the entry was rendered from (row.Sum); Version is its
	// row version (rowVersion).
	Sum     uint64
	Version string
	// LabelDesc is the description of each label whose rule has one.
	LabelDesc     map[string]string
	CommentsCount int // as the changeset feed counts them
	ReviewedAt    time.Time
	ReviewedText  string
}

// CountsView is the counts as the pages print them.
type CountsView struct {
	Create, Modify, Delete int
	Titles                 struct{ Create, Modify, Delete string }
	ByType                 string
}

// countsView depends on Totals, Counts and HasTypes only: renderParts keeps the rendered counts
// by those (fragCache); a new input must go into that key too.
func countsView(e *Entry) CountsView {
	c := CountsView{Create: e.Totals[0], Modify: e.Totals[1], Delete: e.Totals[2]}
	if !e.HasTypes {
		return c
	}
	t := func(verb string, n [3]int) string {
		return fmt.Sprintf("%s: %d nodes, %d ways, %d relations", verb, n[0], n[1], n[2])
	}
	k := e.Counts
	c.Titles.Create, c.Titles.Modify, c.Titles.Delete = t("created", k[0]), t("modified", k[1]), t("deleted", k[2])
	c.ByType = fmt.Sprintf("(n %d/%d/%d · w %d/%d/%d · r %d/%d/%d)", k[0][0], k[1][0], k[2][0], k[0][1], k[1][1], k[2][1], k[0][2], k[1][2], k[2][2])
	return c
}

// ReasonBrief is a reason as lists show it.
type ReasonBrief struct {
	Code string
	Text string
}

// Badge is a status badge: Class is one of open, waiting, failed, incomplete, done.
type Badge struct {
	Class string
	Text  string
	Title string
}

// dataSum fingerprints the fields the review and map shards and changesets.geojson read
// (reviewItem, geoProps): no more, so that a change they do not show (a tag, the update time)
// does not rewrite them.
func (e *Entry) dataSum() uint64 {
	f := newFingerprint("entry").u64(uint64(e.ID)).str(e.User).u64(uint64(e.UID)).u64(uint64(e.Time.UnixNano())).str(e.Day)
	f.str(e.Comment).str(e.Editor).str(e.ReviewedBy)
	for _, l := range [][]string{e.ReasonCodes(), e.Labels, e.Regions} {
		f.u64(uint64(len(l)))
		for _, s := range l {
			f.str(s)
		}
	}
	for _, n := range e.Totals {
		f.u64(uint64(n))
	}
	flags := uint64(0)
	for i, b := range []bool{e.Bot, e.Open, e.BBox != nil} {
		if b {
			flags |= 1 << i
		}
	}
	f.u64(flags)
	if e.BBox != nil {
		for _, v := range e.BBox {
			f.u64(math.Float64bits(v))
		}
	}
	return f.sum()
}

// Elements is the number of element versions changed.
func (e *Entry) Elements() int { return e.Totals[0] + e.Totals[1] + e.Totals[2] }

// ReasonCodes lists the distinct reason codes (shared: callers must not change the slice).
func (e *Entry) ReasonCodes() []string { return e.Codes }

func reasonCodes(reasons []ReasonBrief) []string {
	var out []string
	if len(reasons) > 16 {
		seen := map[string]bool{}
		for _, r := range reasons {
			if !seen[r.Code] {
				seen[r.Code] = true
				out = append(out, r.Code)
			}
		}
		return out
	}
	// A few reasons (nearly always): no map.
	for i, r := range reasons {
		dup := false
		for _, q := range reasons[:i] {
			if q.Code == r.Code {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, r.Code)
		}
	}
	return out
}

var botName = regexp.MustCompile(`(?i)bot$`)

// newEntry builds the entry of a changeset from its row and (possibly nil) document.
func newEntry(r *row, doc *docView) *Entry {
	e := &Entry{ID: r.ID, User: r.User, UID: r.UID, Time: r.Time, Day: r.Time.Format("2006-01-02"),
		Comment: r.Tags["comment"], Editor: r.Tags["created_by"], BBox: r.BBox, State: r.State, Updated: r.UpdatedAt}
	if h := r.Tags["hashtags"]; h != "" {
		for _, t := range strings.Split(h, ";") {
			if t = strings.TrimSpace(t); t != "" {
				e.Hashtags = append(e.Hashtags, t)
			}
		}
	}
	seenRegion := map[string]bool{}
	for _, l := range r.Labels {
		e.Labels = append(e.Labels, l.Label)
		var le labelEvidence
		if json.Unmarshal(l.Evidence, &le) == nil {
			if le.Description != "" {
				if e.LabelDesc == nil {
					e.LabelDesc = map[string]string{}
				}
				e.LabelDesc[l.Label] = truncate(le.Description, 300)
			}
			for _, ev := range le.Evidence {
				if ev.Region != "" && !seenRegion[ev.Region] && len(e.Regions) < 20 {
					seenRegion[ev.Region] = true
					e.Regions = append(e.Regions, truncate(ev.Region, 100))
				}
			}
		}
	}
	sort.Strings(e.Regions)
	e.Open = r.Open != nil && *r.Open
	if r.CommentsCount != nil {
		e.CommentsCount = *r.CommentsCount
	}
	e.Bot = strings.EqualFold(r.Tags["bot"], "yes") || botName.MatchString(r.User)
	e.Totals = [3]int{r.NumCreate, r.NumModify, r.NumDelete}
	if doc != nil {
		if doc.Changeset.Comment != "" && e.Comment == "" {
			e.Comment = doc.Changeset.Comment
		}
		if doc.Changeset.Editor != "" && e.Editor == "" {
			e.Editor = doc.Changeset.Editor
		}
		if e.BBox == nil && doc.Changeset.BBox != nil {
			b := *doc.Changeset.BBox
			e.BBox = &b
		}
		c := doc.Counts
		e.Counts = [3][3]int{
			{c.Create.Node, c.Create.Way, c.Create.Relation},
			{c.Modify.Node, c.Modify.Way, c.Modify.Relation},
			{c.Delete.Node, c.Delete.Way, c.Delete.Relation},
		}
		e.Totals = [3]int{c.Create.Sum(), c.Modify.Sum(), c.Delete.Sum()}
		e.HasTypes = true
		for _, rs := range doc.Reasons {
			e.Reasons = append(e.Reasons, ReasonBrief{Code: rs.Code, Text: rs.Text})
		}
		for k, l := range doc.LengthM {
			if strings.HasPrefix(k, "highway=") {
				e.RoadCreatedM += l.Created
				e.RoadDeletedM += l.Deleted
			}
		}
	} else {
		for _, code := range r.Reasons {
			e.Reasons = append(e.Reasons, ReasonBrief{Code: code})
		}
	}
	e.Status = badges(r)
	return e
}

// entryThumb is the entry's picture: its document's geometry, else its bounding box. Only
// the entry's HTML shows it: the Entry does not keep it (at 150,000 changesets, what the
// entries keep is most of what a run keeps in memory).
func entryThumb(e *Entry, doc *docView) Thumb {
	var t Thumb
	if doc != nil {
		t = thumbnail(doc)
	}
	if t.Empty() && e.BBox != nil {
		t = bboxThumb(*e.BBox)
	}
	return t
}

func badges(r *row) []Badge {
	var out []Badge
	if r.Open != nil && *r.Open {
		out = append(out, Badge{Class: "open", Text: "open", Title: "the changeset is still open: more edits may come"})
	}
	switch r.State {
	case "filtered":
		out = append(out, Badge{Class: "waiting", Text: "waiting", Title: "waiting for analysis"})
	case "new":
		out = append(out, Badge{Class: "waiting", Text: "waiting", Title: "new edits arrived: waiting to be filtered and analysed again"})
	case "failed":
		t := "analysis failed"
		if r.Attempts > 0 {
			t += fmt.Sprintf(" after %d attempt(s)", r.Attempts)
		}
		if r.NextAttemptAt != nil {
			t += "; next attempt " + r.NextAttemptAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		out = append(out, Badge{Class: "failed", Text: "failed: " + truncate(r.Error, 200), Title: t})
	}
	if r.HasAnalysis && !r.Complete {
		out = append(out, Badge{Class: "incomplete", Text: "incomplete", Title: "some before-states were unavailable: the analysis is partial"})
	}
	return out
}

// truncate cuts s to at most n runes, adding "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos] + "…"
		}
		i++
	}
	return s
}

// Thumb is a tiny server-rendered picture of the edit: paths in a 64×64 box by action.
type Thumb struct {
	Paths []ThumbPath
}

// ThumbPath is one SVG path; Class is create, modify or delete.
type ThumbPath struct {
	Class string
	D     string
	Dot   bool
}

// Empty reports whether there is nothing to draw.
func (t Thumb) Empty() bool { return len(t.Paths) == 0 }

const thumbSize = 64.0

type projector struct {
	minX, minY, kx, scale, offX, offY float64
}

func newProjector(b orb.Bound) projector {
	kx := math.Cos((b.Min[1] + b.Max[1]) / 2 * math.Pi / 180)
	w := (b.Max[0] - b.Min[0]) * kx
	h := b.Max[1] - b.Min[1]
	m := math.Max(w, h)
	if m <= 0 {
		m = 1e-4
	}
	s := (thumbSize - 8) / m
	return projector{minX: b.Min[0], minY: b.Min[1], kx: kx, scale: s,
		offX: 4 + (thumbSize-8-w*s)/2, offY: 4 + (thumbSize-8-h*s)/2}
}

func (p projector) xy(pt orb.Point) (float64, float64) {
	x := p.offX + (pt[0]-p.minX)*p.scale*p.kx
	y := thumbSize - (p.offY + (pt[1]-p.minY)*p.scale)
	return x, y
}

func fnum(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// docView is the analysis document as publish reads it: the geometry stays raw JSON, which
// the changeset map embeds as it is; the thumbnail decodes it lightly.
type docView struct {
	analysis.Document
	Geometry *rawFC `json:"geometry"`
}

// decodeDoc decodes an analysis document as the pages read it. It uses goccy/go-json, a
// drop-in for encoding/json that decodes this document in about half the time
// (BenchmarkRenderChangeset; decoding was about an eighth of a full publish's CPU).
func decodeDoc(raw []byte) (*docView, error) {
	doc := &docView{}
	if err := gojson.Unmarshal(raw, doc); err != nil {
		return nil, err
	}
	return doc, nil
}

type rawFC struct {
	Features []rawFeature `json:"features"`
}

type rawFeature struct {
	Geometry   json.RawMessage `json:"geometry"`
	Properties map[string]any  `json:"properties"`
}

// decodeGeometry decodes a GeoJSON geometry into orb types (nil when it cannot).
func decodeGeometry(raw json.RawMessage) orb.Geometry {
	var g struct {
		Type        string            `json:"type"`
		Coordinates json.RawMessage   `json:"coordinates"`
		Geometries  []json.RawMessage `json:"geometries"`
	}
	if json.Unmarshal(raw, &g) != nil {
		return nil
	}
	var err error
	switch g.Type {
	case "Point":
		var c orb.Point
		err = json.Unmarshal(g.Coordinates, &c)
		if err == nil {
			return c
		}
	case "MultiPoint":
		var c orb.MultiPoint
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			return c
		}
	case "LineString":
		var c orb.LineString
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			return c
		}
	case "MultiLineString":
		var c orb.MultiLineString
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			return c
		}
	case "Polygon":
		var c orb.Polygon
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			return c
		}
	case "MultiPolygon":
		var c orb.MultiPolygon
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			return c
		}
	case "GeometryCollection":
		var c orb.Collection
		for _, r := range g.Geometries {
			if sub := decodeGeometry(r); sub != nil {
				c = append(c, sub)
			}
		}
		return c
	}
	return nil
}

// thumbnail draws the document's geometry (at most 300 features).
func thumbnail(doc *docView) Thumb {
	if doc.Geometry == nil || len(doc.Geometry.Features) == 0 {
		return Thumb{}
	}
	type feat struct {
		g     orb.Geometry
		class string
	}
	var feats []feat
	b := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for i, f := range doc.Geometry.Features {
		if i >= 300 {
			break
		}
		class := featureClass(f.Properties)
		if class == "before" {
			continue
		}
		g := decodeGeometry(f.Geometry)
		if g == nil {
			continue
		}
		b = b.Union(g.Bound())
		feats = append(feats, feat{g, class})
	}
	if len(feats) == 0 {
		return Thumb{}
	}
	p := newProjector(b)
	byClass := map[string]*strings.Builder{}
	dots := map[string]*strings.Builder{}
	for _, f := range feats {
		class := f.class
		switch g := f.g.(type) {
		case orb.Point:
			sb := dots[class]
			if sb == nil {
				sb = &strings.Builder{}
				dots[class] = sb
			}
			x, y := p.xy(g)
			sb.WriteString("M" + fnum(x) + " " + fnum(y) + "h0")
		default:
			sb := byClass[class]
			if sb == nil {
				sb = &strings.Builder{}
				byClass[class] = sb
			}
			for _, ls := range lines(g) {
				step := 1
				if len(ls) > 60 {
					step = len(ls) / 60
				}
				for j := 0; j < len(ls); j += step {
					x, y := p.xy(ls[j])
					if j == 0 {
						sb.WriteString("M")
					} else {
						sb.WriteString("L")
					}
					sb.WriteString(fnum(x) + " " + fnum(y))
				}
				last := ls[len(ls)-1]
				x, y := p.xy(last)
				sb.WriteString("L" + fnum(x) + " " + fnum(y))
			}
		}
	}
	var t Thumb
	for _, c := range []string{"modify", "delete", "create"} {
		if sb := byClass[c]; sb != nil && sb.Len() > 0 {
			t.Paths = append(t.Paths, ThumbPath{Class: c, D: sb.String()})
		}
		if sb := dots[c]; sb != nil && sb.Len() > 0 {
			t.Paths = append(t.Paths, ThumbPath{Class: c, D: sb.String(), Dot: true})
		}
	}
	return t
}

func bboxThumb(bb [4]float64) Thumb {
	b := orb.Bound{Min: orb.Point{bb[0], bb[1]}, Max: orb.Point{bb[2], bb[3]}}
	p := newProjector(b)
	x0, y0 := p.xy(b.Min)
	x1, y1 := p.xy(b.Max)
	d := fmt.Sprintf("M%s %sL%s %sL%s %sL%s %sZ", fnum(x0), fnum(y0), fnum(x1), fnum(y0), fnum(x1), fnum(y1), fnum(x0), fnum(y1))
	return Thumb{Paths: []ThumbPath{{Class: "bbox", D: d}}}
}

// lines returns the line strings and rings of a geometry.
func lines(g orb.Geometry) []orb.LineString {
	switch g := g.(type) {
	case orb.LineString:
		if len(g) > 0 {
			return []orb.LineString{g}
		}
	case orb.MultiLineString:
		var out []orb.LineString
		for _, l := range g {
			if len(l) > 0 {
				out = append(out, l)
			}
		}
		return out
	case orb.Ring:
		if len(g) > 0 {
			return []orb.LineString{orb.LineString(g)}
		}
	case orb.Polygon:
		var out []orb.LineString
		for _, r := range g {
			if len(r) > 0 {
				out = append(out, orb.LineString(r))
			}
		}
		return out
	case orb.MultiPolygon:
		var out []orb.LineString
		for _, p := range g {
			out = append(out, lines(p)...)
		}
		return out
	case orb.Collection:
		var out []orb.LineString
		for _, c := range g {
			out = append(out, lines(c)...)
		}
		return out
	case orb.MultiPoint:
		// drawn as nothing in thumbnails
	}
	return nil
}

// featureClass is how a feature of the analysis geometry is drawn: create, delete, before
// (the old geometry of a modified element) or modify (its new geometry).
func featureClass(props map[string]any) string {
	action, _ := props["action"].(string)
	st, _ := props["state"].(string)
	switch action {
	case "create":
		return "create"
	case "delete":
		return "delete"
	}
	if st == "before" {
		return "before"
	}
	return "modify"
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
