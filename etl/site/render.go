package site

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/osmtrack/osmtrack/etl/analysis"
	assets "github.com/osmtrack/osmtrack/site"
)

// siteInfo is what every page knows of the site.
type siteInfo struct {
	Title           string
	BaseURL         string
	TileURL         string
	TileAttribution string
	Generated       time.Time
	Regions         string // regions.geojson when there are regions, for the maps
}

// page is the model of the layout.
type page struct {
	Site  *siteInfo
	Root  string
	Title string
	Feeds []feedLink
	// FeedHTML is Feeds rendered ("feedhead", "feedsub"); render sets it.
	FeedHTML feedLinksHTML
	Map      bool
	Body     any
	// Scripts are a page's own scripts (paths under the site root), after site.js and before
	// Leaflet and map.js.
	Scripts []string
}

type feedLinksHTML struct{ Head, Subscribe template.HTML }

type feedLink struct {
	Title string
	Href  string
	Type  string
}

func atomLink(title, href string) feedLink {
	return feedLink{Title: title, Href: href, Type: "application/atom+xml"}
}

// templates holds one template set per kind of page.
type templates struct {
	pages map[string]*template.Template // each kind's "layout", looked up once
	entry *template.Template            // "entry", looked up once
	// parts are "user", "badges", "counts" and "links" of the entry's set, in the order of
	// entryParts' fields; feedHead and feedSub render a page's feeds.
	parts             [4]*template.Template
	feedHead, feedSub *template.Template
	usercard          *template.Template
	rowTpl            map[string]*template.Template // "tagrow", "lenrow", "sumrow", "diffrow"
	// frags keeps fragments by the values they were rendered from (fragCache); rows the
	// changeset page's table rows (many, some rare: they do not push the others out).
	frags, rows fragCache
	hash        uint64
}

// fragCache keeps small fragments html/template rendered, by a key that encodes every value
// the fragment was rendered from: a user's links, a set of badges, the feed links of a user
// and labels recur on thousands of pages, and each costs html/template a dozen reflective
// calls to render again. The same values give the same bytes, inserted in the same context.
type fragCache struct {
	mu sync.Mutex
	m  map[string]template.HTML
}

// fragCacheMax bounds the cache (a few MB); when full it starts over.
const fragCacheMax = 50000

// get returns the fragment of key, rendering t with data when it is not kept.
func (c *fragCache) get(key string, t *template.Template, data any) (template.HTML, error) {
	c.mu.Lock()
	h, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return h, nil
	}
	b := getBuf()
	defer putBuf(b)
	if err := t.Execute(b, data); err != nil {
		return "", err
	}
	h = template.HTML(b.String())
	c.mu.Lock()
	if c.m == nil || len(c.m) >= fragCacheMax {
		c.m = map[string]template.HTML{}
	}
	c.m[key] = h
	c.mu.Unlock()
	return h, nil
}

// fragKey builds a cache key: a kind, then each value with its length (no separator a value
// could contain can make two different lists one key).
type fragKey struct{ b []byte }

func newFragKey(kind string) *fragKey { return &fragKey{b: append(make([]byte, 0, 128), kind...)} }

func (k *fragKey) str(s string) *fragKey {
	k.b = strconv.AppendInt(append(k.b, 0), int64(len(s)), 10)
	k.b = append(append(k.b, ':'), s...)
	return k
}

func (k *fragKey) num(n int64) *fragKey {
	k.b = strconv.AppendInt(append(k.b, 0), n, 10)
	return k
}

func (k *fragKey) String() string { return string(k.b) }

var pageKinds = []string{"list", "changeset", "stats", "status", "map", "labels", "feeds", "review"}

func loadTemplates() (*templates, error) {
	base := template.New("base").Funcs(funcs)
	var all bytes.Buffer
	for _, f := range []string{"layout.html", "partials.html"} {
		b, err := fs.ReadFile(assets.Templates, "templates/"+f)
		if err != nil {
			return nil, err
		}
		all.Write(b)
		if _, err := base.New(f).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("template %s: %w", f, err)
		}
	}
	t := &templates{pages: map[string]*template.Template{}}
	for _, k := range pageKinds {
		b, err := fs.ReadFile(assets.Templates, "templates/"+k+".html")
		if err != nil {
			return nil, err
		}
		all.Write(b)
		c, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := c.New(k + ".html").Parse(string(b)); err != nil {
			return nil, fmt.Errorf("template %s.html: %w", k, err)
		}
		l := c.Lookup("layout")
		if l == nil {
			return nil, fmt.Errorf("template %s.html: no layout", k)
		}
		t.pages[k] = l
	}
	e, err := base.Clone()
	if err != nil {
		return nil, err
	}
	t.entry = e.Lookup("entry")
	if t.entry == nil {
		return nil, fmt.Errorf("template partials.html: no entry")
	}
	for i, name := range []string{"user", "badges", "counts", "links"} {
		if t.parts[i] = e.Lookup(name); t.parts[i] == nil {
			return nil, fmt.Errorf("template partials.html: no %s", name)
		}
	}
	if t.feedHead, t.feedSub = e.Lookup("feedhead"), e.Lookup("feedsub"); t.feedHead == nil || t.feedSub == nil {
		return nil, fmt.Errorf("template layout.html: no feedhead or feedsub")
	}
	if t.usercard = e.Lookup("usercard"); t.usercard == nil {
		return nil, fmt.Errorf("template partials.html: no usercard")
	}
	t.rowTpl = map[string]*template.Template{}
	for _, name := range []string{"tagrow", "lenrow", "sumrow", "diffrow"} {
		if t.rowTpl[name] = e.Lookup(name); t.rowTpl[name] == nil {
			return nil, fmt.Errorf("template partials.html: no %s", name)
		}
	}
	t.hash = hashBytes(all.Bytes())
	return t, nil
}

func (t *templates) render(w io.Writer, kind string, p *page) error {
	l, ok := t.pages[kind]
	if !ok {
		return fmt.Errorf("no template %q", kind)
	}
	if len(p.Feeds) > 0 {
		k := newFragKey("feeds")
		for _, f := range p.Feeds {
			k.str(f.Title).str(f.Href).str(f.Type)
		}
		key := k.String()
		var err error
		if p.FeedHTML.Head, err = t.frags.get("head"+key, t.feedHead, p.Feeds); err != nil {
			return err
		}
		if p.FeedHTML.Subscribe, err = t.frags.get("sub"+key, t.feedSub, p.Feeds); err != nil {
			return err
		}
	}
	return l.Execute(w, p)
}

// entryParts are the pieces a changeset's entry and its page both show, each rendered once
// by html/template (its partial of the same name) and inserted as it is by both templates,
// always where an element's content goes (the context html/template rendered it for):
// rendering them a second time for the page was a fifth of its template calls.
type entryParts struct {
	User, Badges, Counts, Links template.HTML
}

// entryView is what the "entry" template renders: the entry's fields it shows, its parts, and
// the strings the template shows computed here (each function call in a template costs a
// reflective call; html/template escapes the strings all the same). It does not embed the
// Entry: text/template looks a field up by name on every access, and through an embedded
// struct that is reflect's slow breadth-first search (FieldByNameFunc).
type entryView struct {
	ID                int64
	Thumb             Thumb
	TimeISO, TimeText string
	Parts             *entryParts
	Editor, Comment   string // truncated
	ReasonsTitle      string // "2 reasons to look"
	Reasons           []reasonLine
}

type reasonLine struct{ Name, Text string }

// linksView is the links to the changeset elsewhere ("links"; JOSM and ID "" without a
// bounding box).
type linksView struct{ OSM, Achavi, OSMCha, JOSM, ID, Level0 string }

func newLinksView(e *Entry) linksView {
	return linksView{OSM: osmChangesetURL(e.ID), Achavi: achaviURL(e.ID), OSMCha: osmchaURL(e.ID), JOSM: josmURL(e), ID: idURL(e),
		Level0: level0URL(e.ID)}
}

// badgesView is an entry's badges ("badges"), truncated.
type badgesView struct {
	ReviewedBy, ReviewedText string
	Status                   []Badge
	Labels                   []linkView
	Reasons                  []reasonView // Code and Name
}

func newBadgesView(e *Entry) badgesView {
	v := badgesView{ReviewedBy: truncate(e.ReviewedBy, 60), ReviewedText: truncate(e.ReviewedText, 300), Status: e.Status}
	for _, l := range e.Labels {
		v.Labels = append(v.Labels, linkView{Text: truncate(l, 60), Href: labelFile(l)})
	}
	for _, c := range e.ReasonCodes() {
		v.Reasons = append(v.Reasons, reasonView{Code: truncate(c, 60), Name: truncate(reasonName(c), 60)})
	}
	return v
}

// renderParts renders the entry's parts (renderEntry and the changeset page use them).
func (t *templates) renderParts(e *Entry) (*entryParts, error) {
	p := &entryParts{}
	var err error
	if p.User, err = t.userHTML(e.User, e.UID); err != nil {
		return nil, err
	}
	bv := newBadgesView(e)
	k := newFragKey("badges").str(bv.ReviewedBy).str(bv.ReviewedText).num(int64(len(bv.Status)))
	for _, s := range bv.Status {
		k.str(s.Class).str(s.Text).str(s.Title)
	}
	k.num(int64(len(bv.Labels)))
	for _, l := range bv.Labels {
		k.str(l.Text).str(l.Href)
	}
	for _, r := range bv.Reasons {
		k.str(r.Code).str(r.Name)
	}
	if p.Badges, err = t.frags.get(k.String(), t.parts[1], bv); err != nil {
		return nil, err
	}
	k = newFragKey("counts")
	for _, n := range e.Totals {
		k.num(int64(n))
	}
	if e.HasTypes {
		for _, c := range e.Counts {
			k.num(int64(c[0])).num(int64(c[1])).num(int64(c[2]))
		}
	}
	if p.Counts, err = t.frags.get(k.String(), t.parts[2], struct{ CountsView CountsView }{countsView(e)}); err != nil {
		return nil, err
	}
	b := getBuf()
	defer putBuf(b)
	if err := t.parts[3].Execute(b, newLinksView(e)); err != nil {
		return nil, err
	}
	p.Links = template.HTML(b.String())
	return p, nil
}

// userRef is what the "user" partial reads.
type userRef struct {
	User string
	UID  int64
}

// userHTML is the "user" partial of a user (fragCache).
func (t *templates) userHTML(user string, uid int64) (template.HTML, error) {
	return t.frags.get(newFragKey("user").str(user).num(uid).String(), t.parts[0], userRef{user, uid})
}

// rowsHTML renders n table rows with the template name, row i from item(i) and keyed by
// key(k, i), each through the rows' fragCache, and joins them (each row is a complete <tr>
// element: joined they stay where an element's content goes).
func (t *templates) rowsHTML(name string, n int, key func(k *fragKey, i int), item func(i int) any) (template.HTML, error) {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		k := newFragKey(name)
		key(k, i)
		h, err := t.rows.get(k.String(), t.rowTpl[name], item(i))
		if err != nil {
			return "", err
		}
		sb.WriteString(string(h))
	}
	return template.HTML(sb.String()), nil
}

// cacheFragments renders the changeset page's user card, the users of its discussion and of
// the elements it changed, and the rows of its tables through fragCache (the same user, tag
// or tag change on many pages).
func (t *templates) cacheFragments(v *csView) error {
	var err error
	if v.TagsHTML, err = t.rowsHTML("tagrow", len(v.Tags), func(k *fragKey, i int) { k.str(v.Tags[i].K).str(v.Tags[i].V) },
		func(i int) any { return v.Tags[i] }); err != nil {
		return err
	}
	if v.LengthsHTML, err = t.rowsHTML("lenrow", len(v.Lengths), func(k *fragKey, i int) {
		l := v.Lengths[i]
		k.str(l.Key).str(l.Created).str(l.Deleted).str(l.Modified)
	}, func(i int) any { return v.Lengths[i] }); err != nil {
		return err
	}
	if v.TagSummaryHTML, err = t.rowsHTML("sumrow", len(v.TagSummary), func(k *fragKey, i int) {
		c := v.TagSummary[i]
		k.str(c.Class).str(c.Text).num(int64(c.N))
	}, func(i int) any { return v.TagSummary[i] }); err != nil {
		return err
	}
	for j := range v.Elements {
		rows := v.Elements[j].Rows
		if v.Elements[j].RowsHTML, err = t.rowsHTML("diffrow", len(rows), func(k *fragKey, i int) {
			k.str(rows[i].Class).str(rows[i].K).str(rows[i].Old).str(rows[i].New)
		}, func(i int) any { return rows[i] }); err != nil {
			return err
		}
	}
	for i := range v.OtherUsers {
		u := &v.OtherUsers[i]
		if u.UserHTML, err = t.userHTML(u.User, u.UID); err != nil {
			return err
		}
	}
	for i := range v.Discussion {
		c := &v.Discussion[i]
		if c.UserHTML, err = t.userHTML(c.User, c.UID); err != nil {
			return err
		}
	}
	if c := v.Card; c != nil {
		k := newFragKey("usercard").str(c.User).str(c.PageHref).str(c.ProfileHref).str(c.HDYCHref).str(c.OSMChaHref)
		k.str(c.Age).str(c.Created).str(c.AsOf).str(c.FirstHere)
		for _, n := range []int{c.Changesets, c.BlocksReceived, c.BlocksActive, c.SeenHere, c.FlaggedHere} {
			k.num(int64(n))
		}
		for _, b := range []bool{c.Known, c.HasHere} {
			if b {
				k.num(1)
			} else {
				k.num(0)
			}
		}
		if v.CardHTML, err = t.frags.get(k.String(), t.usercard, c); err != nil {
			return err
		}
	}
	return nil
}

// renderEntry renders the entry as the lists show it, with its parts (renderParts).
func (t *templates) renderEntry(e *Entry, parts *entryParts, thumb Thumb) (template.HTML, error) {
	v := entryView{ID: e.ID, Thumb: thumb, TimeISO: isoTime(e.Time), TimeText: fmtTime(e.Time), Parts: parts,
		Editor: truncate(e.Editor, 60), Comment: truncate(e.Comment, 300)}
	if n := len(e.Reasons); n > 0 {
		v.ReasonsTitle = "1 reason to look"
		if n > 1 {
			v.ReasonsTitle = strconv.Itoa(n) + " reasons to look"
		}
		v.Reasons = make([]reasonLine, n)
		for i, r := range e.Reasons {
			v.Reasons[i] = reasonLine{Name: truncate(reasonName(r.Code), 60), Text: truncate(r.Text, 300)}
		}
	}
	b := getBuf()
	defer putBuf(b)
	if err := t.entry.Execute(b, v); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}

var funcs = template.FuncMap{
	"trunc":      func(n int, s string) string { return truncate(s, n) },
	"reasonName": reasonName,
	"reviewHref": reviewHref,
	"fmtTime":    func(t any) string { return fmtTime(t) },
	"iso":        func(t any) string { return isoTime(t) },
	"km":         km,
	"dur": func(s *float64) string {
		if s == nil {
			return "?"
		}
		return (time.Duration(*s) * time.Second).Round(time.Second).String()
	},
	"osmUser":  func(name string) string { return "https://www.openstreetmap.org/user/" + url.PathEscape(name) },
	"userHref": func(name string, uid int64) string { return userPage(name, uid, 1) },
}

func osmChangesetURL(id int64) string {
	return fmt.Sprintf("https://www.openstreetmap.org/changeset/%d", id)
}

func achaviURL(id int64) string {
	return fmt.Sprintf("https://overpass-api.de/achavi/?changeset=%d", id)
}

func osmchaURL(id int64) string { return fmt.Sprintf("https://osmcha.org/changesets/%d", id) }

func km(m float64) string { return strconv.FormatFloat(m/1000, 'f', 2, 64) }

func toTime(t any) (time.Time, bool) {
	switch v := t.(type) {
	case time.Time:
		return v, !v.IsZero()
	case *time.Time:
		if v == nil {
			return time.Time{}, false
		}
		return *v, !v.IsZero()
	}
	return time.Time{}, false
}

func fmtTime(t any) string {
	v, ok := toTime(t)
	if !ok {
		return ""
	}
	return v.UTC().Format("2006-01-02 15:04 UTC")
}

func isoTime(t any) string {
	v, ok := toTime(t)
	if !ok {
		return ""
	}
	return v.UTC().Format(time.RFC3339)
}

// josmURL is the JOSM remote control link that loads the changeset's bounding box.
func josmURL(e *Entry) string {
	if e.BBox == nil {
		return ""
	}
	b := *e.BBox
	pad := 0.0005
	return fmt.Sprintf("http://127.0.0.1:8111/load_and_zoom?left=%.6f&right=%.6f&top=%.6f&bottom=%.6f&changeset_ids=%d",
		b[0]-pad, b[2]+pad, b[3]+pad, b[1]-pad, e.ID)
}

// idURL opens iD at the changeset's bounding box ("" without one).
func idURL(e *Entry) string {
	if e.BBox == nil {
		return ""
	}
	b := *e.BBox
	z := 18
	for span := math.Max(b[2]-b[0], b[3]-b[1]); z > 10 && span > 360/math.Pow(2, float64(z))*2; z-- {
	}
	return fmt.Sprintf("https://www.openstreetmap.org/edit?editor=id#map=%d/%.6f/%.6f", z, (b[1]+b[3])/2, (b[0]+b[2])/2)
}

// level0URL loads the changeset in Level0 (its number prefixed with "c").
func level0URL(id int64) string { return fmt.Sprintf("https://level0.osmz.ru/?url=c%d", id) }

// The changeset page.

// commentView is a comment of the changeset discussion.
type commentView struct {
	User     string
	UID      int64
	UserHTML template.HTML // the "user" partial (cacheFragments)
	Time     time.Time
	Text     string
	Reviewer bool
}

type csView struct {
	Parts       *entryParts // the entry's parts, rendered once (renderParts)
	Editor      string      // truncated
	Comment     string      // truncated
	OSMHref     string      // the changeset on openstreetmap.org
	Card        *userCard
	CardHTML    template.HTML // Card rendered (cacheFragments)
	RegionLinks []linkView    // the region pages of the regions it is in
	Discussion  []commentView
	E           *Entry
	TimeISO     string // of E.Time
	TimeText    string
	ClosedAt    *time.Time
	JSONHref    string
	MapData     *mapData
	Failed      string
	Incomplete  string
	Reasons     []reasonView
	Labels      []labelView
	Tags        []kv
	// TagsHTML, LengthsHTML and TagSummaryHTML are the rows of Tags, Lengths and TagSummary
	// (cacheFragments).
	TagsHTML, LengthsHTML, TagSummaryHTML template.HTML
	Lengths                               []lengthView
	OtherUsers                            []otherUser
	TagSummary                            []tagCount
	Elements                              []elemView
	MoreElements                          int
}

type kv struct{ K, V string }

type reasonView struct {
	Code, Name, Text string
	Sentence         sentence
}

type labelView struct {
	Name, Href, Source, Description, Rule string
	ByFilter, ByAnalysis                  bool // Source is "filter", "analyse"
	Sentences                             []sentence
}

type lengthView struct {
	Key                        string
	Created, Deleted, Modified string // km
}

type otherUser struct {
	User              string
	UID               int64
	UserHTML          template.HTML // the "user" partial (cacheFragments)
	Modified, Deleted int
}

type tagCount struct {
	Class, Text string
	N           int
}

type elemView struct {
	Action, Type, Label, Href, Anchor string
	Title                             string // "node 12 v3"
	ID                                int64
	Version                           int
	Rows                              []diffRow
	RowsHTML                          template.HTML // Rows rendered (cacheFragments)
	Notes                             []string
	Open                              bool
}

type diffRow struct{ Class, K, Old, New string }

// mapData is the JSON the page's map script draws.
type mapData struct {
	Type     string       `json:"type"`
	Features []mapFeature `json:"features"`
	BBox     *[4]float64  `json:"bbox,omitempty"`
}

type mapFeature struct {
	Type       string          `json:"type"`
	Geometry   json.RawMessage `json:"geometry"`
	Properties mapProps        `json:"properties"`
}

type mapProps struct {
	R    bool        `json:"r,omitempty"` // the changeset has a reason to look (overview map)
	C    string      `json:"c"`
	T    string      `json:"t"`
	ID   int64       `json:"id,omitempty"`
	Rows [][3]string `json:"rows,omitempty"`
}

// maxElements is how many elements a changeset page lists (the JSON has them all).
const maxElements = 300

// maxMapFeatures is how many features a changeset page's map draws.
const maxMapFeatures = 2000

func osmElementURL(typ string, id int64) string {
	return fmt.Sprintf("https://www.openstreetmap.org/%s/%d", url.PathEscape(typ), id)
}

func newCSView(r *row, e *Entry, doc *docView) *csView {
	v := &csView{E: e, TimeISO: isoTime(e.Time), TimeText: fmtTime(e.Time), ClosedAt: r.ClosedAt, JSONHref: changesetJSON(r.ID), MapData: &mapData{Type: "FeatureCollection", Features: []mapFeature{}, BBox: e.BBox},
		Editor: truncate(e.Editor, 200), Comment: truncate(e.Comment, 1000), OSMHref: osmChangesetURL(e.ID)}
	if r.State == "failed" {
		v.Failed = r.Error
		if v.Failed == "" {
			v.Failed = "unknown error"
		}
	}
	for _, k := range sortedKeys(r.Tags) {
		if k == "comment" {
			continue
		}
		v.Tags = append(v.Tags, kv{truncate(k, 200), truncate(r.Tags[k], 1000)})
	}
	ix := newElemIndex(doc)
	for _, l := range r.Labels {
		lv := labelView{Name: truncate(l.Label, 80), Href: labelFile(l.Label), Source: l.Source, ByFilter: l.Source == "filter", ByAnalysis: l.Source == "analyse"}
		lv.Description, lv.Rule, lv.Sentences = labelSentences(l.Evidence, ix)
		for i := range lv.Sentences {
			lv.Sentences[i] = lv.Sentences[i].compact()
		}
		v.Labels = append(v.Labels, lv)
	}
	if doc == nil {
		for _, c := range r.Reasons {
			v.Reasons = append(v.Reasons, reasonView{Code: truncate(c, 80), Name: truncate(reasonName(c), 80)})
		}
		return v
	}
	if !doc.Complete {
		v.Incomplete = doc.Incomplete
		if v.Incomplete == "" {
			v.Incomplete = "some before-states were unavailable"
		}
	}
	for _, rs := range doc.Reasons {
		v.Reasons = append(v.Reasons, reasonView{Code: truncate(rs.Code, 80), Name: truncate(reasonName(rs.Code), 80), Text: rs.Text, Sentence: reasonSentence(rs, ix, r.User).compact()})
	}
	keys := sortedKeys(doc.LengthM)
	sort.SliceStable(keys, func(i, j int) bool {
		hi, hj := strings.HasPrefix(keys[i], "highway="), strings.HasPrefix(keys[j], "highway=")
		return hi && !hj
	})
	for _, k := range keys {
		l := doc.LengthM[k]
		v.Lengths = append(v.Lengths, lengthView{Key: truncate(k, 120), Created: km(l.Created), Deleted: km(l.Deleted), Modified: km(l.Modified)})
	}
	for _, u := range doc.OtherUsers {
		v.OtherUsers = append(v.OtherUsers, otherUser{User: u.User, UID: u.UID, Modified: u.Modified, Deleted: u.Deleted})
	}
	add := func(class string, m map[string]int, prefix string) {
		for _, k := range sortedKeys(m) {
			v.TagSummary = append(v.TagSummary, tagCount{Class: class, Text: truncate(prefix+k, 300), N: m[k]})
		}
	}
	add("added", doc.TagSummary.Added, "+ ")
	add("removed", doc.TagSummary.Removed, "− ")
	add("changed", doc.TagSummary.Changed, "~ ")
	if len(v.TagSummary) > 500 {
		v.TagSummary = v.TagSummary[:500]
	}

	type ekey struct {
		t  string
		id int64
	}
	rowsByElem := map[ekey][][3]string{}
	titles := map[ekey]string{}
	for i, el := range doc.Elements {
		rows := diffRows(el)
		if i < maxElements {
			ev := elemView{Action: el.Action, Type: el.Type, ID: el.ID, Version: el.Version, Label: truncate(el.Label, 200),
				Href: osmElementURL(el.Type, el.ID), Anchor: elemAnchor(el.Type, el.ID), Open: len(doc.Elements) <= 20,
				Title: el.Type + " " + strconv.FormatInt(el.ID, 10) + " v" + strconv.Itoa(el.Version)}
			for _, r := range rows {
				ev.Rows = append(ev.Rows, diffRow{Class: r.Class, K: truncate(r.K, 200), Old: truncate(r.Old, 500), New: truncate(r.New, 500)})
			}
			ev.Notes = elemNotes(el)
			v.Elements = append(v.Elements, ev)
		}
		k := ekey{el.Type, el.ID}
		var pr [][3]string
		for j, r := range rows {
			if j >= 40 {
				pr = append(pr, [3]string{"…", fmt.Sprintf("%d more", len(rows)-40), ""})
				break
			}
			pr = append(pr, [3]string{truncate(r.K, 100), truncate(r.Old, 200), truncate(r.New, 200)})
		}
		rowsByElem[k] = pr
		titles[k] = truncate(fmt.Sprintf("%s %s %d v%d %s", el.Action, el.Type, el.ID, el.Version, el.Label), 300)
	}
	if len(doc.Elements) > maxElements {
		v.MoreElements = len(doc.Elements) - maxElements
	}
	// A dragged node: a line from where it was to where it is.
	for _, rs := range doc.Reasons {
		from, ok1 := rs.Evidence["from"].([]any)
		to, ok2 := rs.Evidence["to"].([]any)
		if rs.Code != "dragged_node" || !ok1 || !ok2 || len(from) != 2 || len(to) != 2 || len(v.MapData.Features) >= maxMapFeatures {
			continue
		}
		f0, _ := toFloat(from[0])
		f1, _ := toFloat(from[1])
		t0, _ := toFloat(to[0])
		t1, _ := toFloat(to[1])
		if math.Abs(f0) > 180 || math.Abs(t0) > 180 || math.Abs(f1) > 90 || math.Abs(t1) > 90 {
			continue
		}
		t := "moved"
		if rs.Element != nil {
			t = fmt.Sprintf("node %d moved %s", rs.Element.ID, fmtDistance(toFloatOr(rs.Evidence["moved_m"])))
		}
		v.MapData.Features = append(v.MapData.Features, mapFeature{Type: "Feature",
			Geometry:   json.RawMessage(fmt.Sprintf(`{"type":"LineString","coordinates":[[%g,%g],[%g,%g]]}`, f0, f1, t0, t1)),
			Properties: mapProps{C: "moved", T: t}})
		// Its parent ways that the edit did not touch: before (dashed) and after the move.
		ways, _ := rs.Evidence["ways"].([]any)
		for i, w := range ways {
			wm, ok := w.(map[string]any)
			if !ok || i >= 5 {
				continue
			}
			name := truncate(fmt.Sprintf("way %v %v (not edited) with node %s", wm["id"], wm["label"], strings.TrimPrefix(t, "node ")), 300)
			for _, st := range []struct{ key, c, title string }{{"before", "before", name + ", before"}, {"after", "parent", name}} {
				if g := lineJSON(wm[st.key]); g != nil && len(v.MapData.Features) < maxMapFeatures {
					v.MapData.Features = append(v.MapData.Features, mapFeature{Type: "Feature", Geometry: g, Properties: mapProps{C: st.c, T: st.title}})
				}
			}
		}
	}
	if doc.Geometry != nil {
		for i, f := range doc.Geometry.Features {
			if i >= maxMapFeatures || len(f.Geometry) == 0 || string(f.Geometry) == "null" {
				continue
			}
			typ, _ := f.Properties["type"].(string)
			id := toInt64(f.Properties["id"])
			k := ekey{typ, id}
			c := featureClass(f.Properties)
			t := titles[k]
			if t == "" {
				t = truncate(fmt.Sprintf("%s %d", typ, id), 300)
			}
			p := mapProps{C: c, T: t}
			if c == "before" {
				p.T = "before: " + t
			} else {
				p.Rows = rowsByElem[k]
			}
			v.MapData.Features = append(v.MapData.Features, mapFeature{Type: "Feature", Geometry: f.Geometry, Properties: p})
		}
	}
	return v
}

func anyMap(m map[string]any) any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case int64:
		return x
	case int:
		return int64(x)
	case json.Number:
		n, _ := x.Int64()
		return n
	}
	return 0
}

func diffRows(el analysis.Element) []diffRow {
	var out []diffRow
	for _, k := range sortedKeys(el.TagsAdded) {
		out = append(out, diffRow{Class: "added", K: k, New: el.TagsAdded[k]})
	}
	for _, k := range sortedKeys(el.TagsRemoved) {
		out = append(out, diffRow{Class: "removed", K: k, Old: el.TagsRemoved[k]})
	}
	for _, k := range sortedKeys(el.TagsChanged) {
		c := el.TagsChanged[k]
		out = append(out, diffRow{Class: "changed", K: k, Old: c[0], New: c[1]})
	}
	return out
}

func elemNotes(el analysis.Element) []string {
	var n []string
	if el.MovedM != nil && *el.MovedM > 0 {
		n = append(n, fmt.Sprintf("moved %.1f m", *el.MovedM))
	}
	if el.NodesAdded != nil && *el.NodesAdded > 0 {
		n = append(n, fmt.Sprintf("+%d nodes", *el.NodesAdded))
	}
	if el.NodesRemoved != nil && *el.NodesRemoved > 0 {
		n = append(n, fmt.Sprintf("−%d nodes", *el.NodesRemoved))
	}
	if el.MembersAdded != nil && *el.MembersAdded > 0 {
		n = append(n, fmt.Sprintf("+%d members", *el.MembersAdded))
	}
	if el.MembersRemoved != nil && *el.MembersRemoved > 0 {
		n = append(n, fmt.Sprintf("−%d members", *el.MembersRemoved))
	}
	if el.MembersReordered != nil && *el.MembersReordered {
		n = append(n, "members reordered")
	}
	if el.LengthM != nil {
		n = append(n, fmt.Sprintf("%.0f m", *el.LengthM))
	}
	if el.PrevUser != "" {
		n = append(n, "previous: "+isolate(truncate(el.PrevUser, 60)))
	}
	if el.BeforeMissing {
		n = append(n, "before-state missing")
	}
	return n
}

// List pages.

type listView struct {
	Card    *userCard
	Heading string
	Intro   string
	Links   []linkView
	Entries []template.HTML
	Pager   pager
	Days    []dayLink
	// Regions link the region pages (index); RegionMap is a region page's map.
	Regions   []dayLink
	RegionMap *regionMap
}

type linkView struct {
	Text, Href string
	Local      bool // a page of this site (no rel=nofollow)
}

type pager struct {
	N, Of      int
	Prev, Next string
}

// newPager is page n of pages, with name giving each page's file.
func newPager(n, pages int, name func(int) string) pager {
	pg := pager{N: n, Of: pages}
	if n > 1 {
		pg.Prev = name(n - 1)
	}
	if n < pages {
		pg.Next = name(n + 1)
	}
	return pg
}

type dayLink struct {
	Day, Href string
	N         int
}

// round for charts.
func round1(v float64) float64 { return math.Round(v*10) / 10 }

// lineJSON is a GeoJSON LineString of [lon, lat] points from a decoded document ([]any of
// []any), nil when it has fewer than two valid points (at most 2000 are kept).
func lineJSON(v any) json.RawMessage {
	pts, _ := v.([]any)
	var b strings.Builder
	n := 0
	b.WriteString(`{"type":"LineString","coordinates":[`)
	for _, p := range pts {
		xy, ok := p.([]any)
		if !ok || len(xy) != 2 || n >= 2000 {
			continue
		}
		x, ok1 := toFloat(xy[0])
		y, ok2 := toFloat(xy[1])
		if !ok1 || !ok2 || math.Abs(x) > 180 || math.Abs(y) > 90 || math.IsNaN(x) || math.IsNaN(y) {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "[%g,%g]", x, y)
		n++
	}
	if n < 2 {
		return nil
	}
	b.WriteString("]}")
	return json.RawMessage(b.String())
}
