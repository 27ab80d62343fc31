package site

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"net/url"
	"strings"
	"time"
)

// absURL joins the configured base URL and a site path.
func absURL(base, rel string) string {
	if base == "" {
		base = "/"
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + rel
}

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Links   []atomLinkX `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomLinkX struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type atomEntry struct {
	Title    string      `xml:"title"`
	ID       string      `xml:"id"`
	Updated  string      `xml:"updated"`
	Link     atomLinkX   `xml:"link"`
	Author   atomAuthor  `xml:"author"`
	Category []atomCat   `xml:"category"`
	Content  atomContent `xml:"content"`
}

type atomAuthor struct {
	Name string `xml:"name"`
	URI  string `xml:"uri,omitempty"`
}

type atomCat struct {
	Term string `xml:"term,attr"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

// entryID is a changeset's id in feeds: absolute and stable (it does not change when the
// changeset does; its <updated> does). A tag: URI (RFC 4151) whose authority is the host of
// publish.base_url when that is absolute, else "osmtrack.invalid" (publish warns).
func entryID(base string, id int64) string {
	return fmt.Sprintf("tag:%s,2024:changeset:%d", feedAuthority(base), id)
}

func feedAuthority(base string) string {
	if u, err := url.Parse(base); err == nil && u.IsAbs() && u.Hostname() != "" {
		return strings.ToLower(u.Hostname())
	}
	return "osmtrack.invalid"
}

// feedTitle is the one-line title of an entry in feeds.
func feedTitle(e *Entry) string {
	c := e.Comment
	if c == "" {
		c = "(no comment)"
	}
	return fmt.Sprintf("#%d by %s: %s", e.ID, isolate(truncate(orUnknown(e.User), 60)), isolate(truncate(c, 140)))
}

// isolate wraps text that strangers wrote in Unicode's first-strong isolate (U+2068) and pop
// directional isolate (U+2069): where <bdi> cannot be used (titles, attributes, SVG, feeds),
// a right-to-left override inside stays inside.
func isolate(s string) string { return "\u2068" + strings.ToValidUTF8(s, "\uFFFD") + "\u2069" }

func orUnknown(s string) string {
	if s == "" {
		return "unknown user"
	}
	return s
}

// feedHTML is an entry's summary as (escaped) HTML for feed readers.
func feedHTML(base string, e *Entry) string {
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<p><a href="%s">Changeset %d</a> by <bdi>%s</bdi> at %s</p>`, esc(absURL(base, changesetFile(e.ID))), e.ID, esc(truncate(orUnknown(e.User), 100)), e.Time.UTC().Format("2006-01-02 15:04 UTC"))
	if e.Comment != "" {
		fmt.Fprintf(&b, `<p><bdi>%s</bdi></p>`, esc(truncate(e.Comment, 1000)))
	} else {
		b.WriteString(`<p><b>no comment</b></p>`)
	}
	fmt.Fprintf(&b, `<p>+%d created, ~%d modified, −%d deleted</p>`, e.Totals[0], e.Totals[1], e.Totals[2])
	if len(e.Labels) > 0 {
		b.WriteString(`<p>Labels:`)
		for i, l := range e.Labels {
			if i == 20 {
				b.WriteString(" …")
				break
			}
			fmt.Fprintf(&b, ` <bdi>%s</bdi>`, esc(truncate(l, 60)))
		}
		b.WriteString(`</p>`)
	}
	if len(e.Reasons) > 0 {
		b.WriteString(`<ul>`)
		for _, r := range e.Reasons {
			fmt.Fprintf(&b, `<li><bdi>%s</bdi>: <bdi>%s</bdi></li>`, esc(truncate(r.Code, 60)), esc(truncate(r.Text, 300)))
		}
		b.WriteString(`</ul>`)
	}
	for _, st := range e.Status {
		fmt.Fprintf(&b, `<p>Status: <bdi>%s</bdi></p>`, esc(truncate(st.Text, 300)))
	}
	fmt.Fprintf(&b, `<p><a href="%s">OSM</a> · <a href="%s">achavi</a> · <a href="%s">OSMCha</a>`, osmChangesetURL(e.ID), achaviURL(e.ID), osmchaURL(e.ID))
	if u := josmURL(e); u != "" {
		fmt.Fprintf(&b, ` · <a href="%s">JOSM</a>`, esc(u))
	}
	if u := idURL(e); u != "" {
		fmt.Fprintf(&b, ` · <a href="%s">iD</a>`, esc(u))
	}
	fmt.Fprintf(&b, ` · <a href="%s">Level0</a></p>`, esc(level0URL(e.ID)))
	return b.String()
}

func atomXML(base, title, self string, updated time.Time, entries []*Entry) ([]byte, error) {
	f := atomFeed{Title: title, ID: fmt.Sprintf("tag:%s,2024:feed:%s", feedAuthority(base), self), Updated: updated.UTC().Format(time.RFC3339),
		Links: []atomLinkX{{Href: absURL(base, self), Rel: "self", Type: "application/atom+xml"}, {Href: absURL(base, "index.html"), Rel: "alternate", Type: "text/html"}}}
	for _, e := range entries {
		ae := atomEntry{
			Title:   feedTitle(e),
			ID:      entryID(base, e.ID),
			Updated: e.Updated.UTC().Format(time.RFC3339),
			Link:    atomLinkX{Href: absURL(base, changesetFile(e.ID)), Rel: "alternate", Type: "text/html"},
			Author:  atomAuthor{Name: isolate(truncate(orUnknown(e.User), 100))},
			Content: atomContent{Type: "html", Body: feedHTML(base, e)},
		}
		if e.User != "" {
			ae.Author.URI = "https://www.openstreetmap.org/user/" + pathEscape(e.User)
		}
		for _, l := range e.Labels {
			ae.Category = append(ae.Category, atomCat{Term: isolate(truncate(l, 100))})
		}
		for _, c := range e.ReasonCodes() {
			ae.Category = append(ae.Category, atomCat{Term: "reason:" + isolate(truncate(c, 100))})
		}
		f.Entries = append(f.Entries, ae)
	}
	out, err := xml.MarshalIndent(f, "", " ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}

type jsonFeed struct {
	Version     string     `json:"version"`
	Title       string     `json:"title"`
	HomePageURL string     `json:"home_page_url"`
	FeedURL     string     `json:"feed_url"`
	Items       []jsonItem `json:"items"`
}

type jsonItem struct {
	ID            string       `json:"id"`
	URL           string       `json:"url"`
	Title         string       `json:"title"`
	ContentHTML   string       `json:"content_html"`
	DatePublished string       `json:"date_published"`
	DateModified  string       `json:"date_modified"`
	Authors       []jsonAuthor `json:"authors,omitempty"`
	Tags          []string     `json:"tags,omitempty"`
}

type jsonAuthor struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
}

func jsonFeedBytes(base, title string, entries []*Entry) ([]byte, error) {
	f := jsonFeed{Version: "https://jsonfeed.org/version/1.1", Title: title, HomePageURL: absURL(base, "index.html"), FeedURL: absURL(base, "feed.json"), Items: []jsonItem{}}
	for _, e := range entries {
		it := jsonItem{ID: entryID(base, e.ID), URL: absURL(base, changesetFile(e.ID)), Title: feedTitle(e), ContentHTML: feedHTML(base, e),
			DatePublished: e.Time.UTC().Format(time.RFC3339), DateModified: e.Updated.UTC().Format(time.RFC3339)}
		if e.User != "" {
			it.Authors = []jsonAuthor{{Name: isolate(truncate(e.User, 100)), URL: "https://www.openstreetmap.org/user/" + pathEscape(e.User)}}
		}
		it.Tags = append(it.Tags, e.Labels...)
		for _, c := range e.ReasonCodes() {
			it.Tags = append(it.Tags, "reason:"+c)
		}
		f.Items = append(f.Items, it)
	}
	return json.MarshalIndent(f, "", " ")
}

// geoFeature is one changeset in changesets.geojson and on the overview map.
type geoFeature struct {
	Type       string          `json:"type"`
	Geometry   json.RawMessage `json:"geometry"`
	Properties geoProps        `json:"properties"`
}

type geoProps struct {
	ID      int64     `json:"id"`
	User    string    `json:"user"`
	UID     int64     `json:"uid,omitempty"`
	Time    string    `json:"time"`
	Labels  []string  `json:"labels"`
	Reasons []string  `json:"reasons"`
	Counts  geoCounts `json:"counts"`
	URL     string    `json:"url"`
}

// geoCounts are a feature's counts, in the order a map's keys were written (a map per feature
// was a tenth of the file's encoding at 150,000 changesets).
type geoCounts struct {
	Create int `json:"create"`
	Delete int `json:"delete"`
	Modify int `json:"modify"`
}

// bboxGeometry is the entry's bbox as a GeoJSON Polygon (a Point when it has no extent).
func bboxGeometry(b [4]float64) json.RawMessage {
	if b[0] == b[2] && b[1] == b[3] {
		return json.RawMessage(fmt.Sprintf(`{"type":"Point","coordinates":[%g,%g]}`, b[0], b[1]))
	}
	return json.RawMessage(fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}`,
		b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3], b[0], b[1]))
}

func geoJSONBytes(base string, entries []*Entry) ([]byte, error) {
	fc := struct {
		Type     string       `json:"type"`
		Features []geoFeature `json:"features"`
	}{Type: "FeatureCollection", Features: []geoFeature{}}
	for _, e := range entries {
		if e.BBox == nil {
			continue
		}
		p := geoProps{ID: e.ID, User: e.User, UID: e.UID, Time: e.Time.UTC().Format(time.RFC3339), Labels: e.Labels, Reasons: e.ReasonCodes(),
			Counts: geoCounts{Create: e.Totals[0], Modify: e.Totals[1], Delete: e.Totals[2]}, URL: absURL(base, changesetFile(e.ID))}
		if p.Labels == nil {
			p.Labels = []string{}
		}
		if p.Reasons == nil {
			p.Reasons = []string{}
		}
		fc.Features = append(fc.Features, geoFeature{Type: "Feature", Geometry: bboxGeometry(*e.BBox), Properties: p})
	}
	return json.Marshal(fc)
}
