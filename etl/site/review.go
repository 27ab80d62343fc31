package site

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/osmtrack/osmtrack/etl/config"
)

// The review queue: review.html lists the changesets with at least one reason (or a label of
// publish.review_labels), most severe first. Without JavaScript it is a paged list
// (review.html, review-p2.html, …). With it, assets/review.js loads review/index.json and the
// per-day shards review/DAY.json and filters them in the browser; the filter state lives in
// the URL's query string.

// reviewItem is one changeset of the queue in a shard; short keys keep shards small.
type reviewItem struct {
	ID       int64    `json:"i"`
	Time     int64    `json:"t"` // unix seconds
	User     string   `json:"u"`
	UID      int64    `json:"uid,omitempty"`
	Editor   string   `json:"e,omitempty"`
	Comment  string   `json:"c,omitempty"`
	Reasons  []string `json:"r,omitempty"`
	Labels   []string `json:"l,omitempty"`
	Regions  []string `json:"g,omitempty"`
	Changes  int      `json:"n"`
	Severity int      `json:"s"`
	Bot      bool     `json:"b,omitempty"`
	Reviewed bool     `json:"v,omitempty"` // a reviewer commented (publish.reviewers)
	Open     bool     `json:"o,omitempty"`
	// For the overview map's shards (map/DAY.json): the centre of the bounding box, and
	// whether it is in the review queue (red).
	Point   *[2]float64 `json:"p,omitempty"`
	Flagged bool        `json:"f,omitempty"`
}

// reviewIndex is review/index.json: the days with their shard and count, and the values the
// filters offer.
type reviewIndex struct {
	Days    []reviewDay       `json:"days"`
	Total   int               `json:"total"`
	Reasons map[string]string `json:"reasons"` // code -> readable name
	Labels  []string          `json:"labels"`
	Regions []string          `json:"regions"`
}

type reviewDay struct {
	Day  string `json:"day"`
	File string `json:"file"`
	N    int    `json:"n"`
}

// classify derives what the lists ask of an entry many times (its reason codes, its place in
// the review queue) once, when it is rendered; the state keeps them.
func classify(pc *config.Publish, e *Entry) {
	e.Codes = reasonCodes(e.Reasons)
	e.Severity, e.InQueue = computeSeverity(pc, e)
}

// severity of an entry in the queue, and whether it is in the queue at all (classify).
func severity(e *Entry) (int, bool) { return e.Severity, e.InQueue }

func computeSeverity(pc *config.Publish, e *Entry) (int, bool) {
	s, in := -1, false
	for _, c := range e.ReasonCodes() {
		in = true
		if v := pc.SeverityOf(c); v > s {
			s = v
		}
	}
	for _, l := range e.Labels {
		for _, rl := range pc.ReviewLabels {
			if l == rl {
				in = true
				if config.DefaultSeverity > s {
					s = config.DefaultSeverity
				}
			}
		}
	}
	return s, in
}

type queued struct {
	e *Entry
	s int
}

// reviewQueue is the queue, most severe first, then newest first: all is newest first
// (sortedEntries), and a stable sort by severity keeps that order within a severity.
func reviewQueue(all []*Entry) []queued {
	var q []queued
	for _, e := range all {
		if s, ok := severity(e); ok {
			q = append(q, queued{e, s})
		}
	}
	slices.SortStableFunc(q, func(a, b queued) int { return cmp.Compare(b.s, a.s) })
	return q
}

// shardFile is the day's shard in dir (review or map).
func shardFile(dir, day string) string { return dir + "/" + day + ".json" }

func reviewShard(day string) string { return shardFile("review", day) }

// renderMapShards writes map/index.json and map/DAY.json: every changeset of the window with a
// bounding box, as a point with the fields the filters read (the queue's shape). map.js loads
// the last 24 hours' shards, or the day asked for, or all of them.
func (p *publisher) renderMapShards(all []*Entry) error {
	set := newShardSet("map", p.mapItem)
	for _, e := range all {
		if e.BBox != nil {
			set.add(e)
		}
	}
	return p.writeShards(set)
}

// reviewItem is e as the queue's shards hold it. What it reads of e, Entry.Data must
// fingerprint (TestEntryDataCoversShards).
func (p *publisher) reviewItem(e *Entry, it *reviewItem) {
	s, _ := severity(e)
	*it = reviewItem{ID: e.ID, Time: e.Time.Unix(), User: truncate(e.User, 100), UID: e.UID, Editor: truncate(e.Editor, 100),
		Comment: truncate(e.Comment, 300), Reasons: e.ReasonCodes(), Labels: e.Labels, Regions: e.Regions,
		Changes: e.Elements(), Severity: s, Bot: e.Bot, Open: e.Open, Reviewed: e.ReviewedBy != ""}
}

// mapItem is e (which has a bounding box) as the map's shards hold it: a point, red when
// it is in the queue.
func (p *publisher) mapItem(e *Entry, it *reviewItem) {
	p.reviewItem(e, it)
	it.Comment = truncate(e.Comment, 200)
	_, it.Flagged = severity(e)
	if !it.Flagged {
		it.Severity = 0
	}
	b := *e.BBox
	it.Point = &[2]float64{math.Round((b[0]+b[2])/2*1e6) / 1e6, math.Round((b[1]+b[3])/2*1e6) / 1e6}
}

// shardSet gathers queue-shaped items per day, with the index the filters read (reason names,
// labels, regions, days), for one folder of the site (review/ or map/).
type shardSet struct {
	dir string
	// item fills in e's item. The items are built again for the shards that are written
	// (one or two days in an incremental run) instead of kept for every changeset.
	item            func(e *Entry, it *reviewItem)
	byDay           map[string][]*Entry
	fps             map[string]*fingerprint // per day: of the entries in it (a shard is written when it changed)
	lastDay         string                  // the day of the last entry added (entries come in runs of a day)
	lastFP          *fingerprint
	idx             reviewIndex
	labels, regions map[string]bool
}

func newShardSet(dir string, item func(e *Entry, it *reviewItem)) *shardSet {
	return &shardSet{dir: dir, item: item, byDay: map[string][]*Entry{}, fps: map[string]*fingerprint{}, labels: map[string]bool{}, regions: map[string]bool{},
		idx: reviewIndex{Reasons: map[string]string{}, Days: []reviewDay{}, Labels: []string{}, Regions: []string{}}}
}

// add puts e's item into its day's shard. The day's fingerprint is over its entries' Data:
// the items are made of the entry's fields and the configuration (which the state's
// fingerprint covers: a change makes a full run), and folding one number per entry costs much
// less than building and hashing the items.
func (s *shardSet) add(e *Entry) {
	day := e.Day
	f := s.lastFP
	if day != s.lastDay || f == nil {
		f = s.fps[day]
		if f == nil {
			f = newFingerprint("shard").str(s.dir).str(day)
			s.fps[day] = f
		}
		s.lastDay, s.lastFP = day, f
	}
	f.u64(e.Data)
	for _, c := range e.ReasonCodes() {
		if _, ok := s.idx.Reasons[c]; !ok {
			s.idx.Reasons[c] = reasonName(c)
		}
	}
	for _, l := range e.Labels {
		s.labels[l] = true
	}
	for _, g := range e.Regions {
		s.regions[g] = true
	}
	s.byDay[day] = append(s.byDay[day], e)
	s.idx.Total++
}

// writeShards writes DIR/DAY.json for each day, newest first in the index, and DIR/index.json.
func (p *publisher) writeShards(s *shardSet) error {
	s.idx.Labels, s.idx.Regions = sortedKeys(s.labels), sortedKeys(s.regions)
	days := sortedKeys(s.byDay)
	sort.Sort(sort.Reverse(sort.StringSlice(days)))
	for _, d := range days {
		file := shardFile(s.dir, d)
		es := s.byDay[d]
		err := p.b.lazy(file, s.fps[d].sum(), func(w io.Writer) error {
			items := make([]reviewItem, len(es))
			for i, e := range es {
				s.item(e, &items[i])
			}
			b, err := json.Marshal(items)
			if err != nil {
				return fmt.Errorf("%s shard %s: %w", s.dir, d, err)
			}
			_, err = w.Write(b)
			return err
		})
		if err != nil {
			return err
		}
		s.idx.Days = append(s.idx.Days, reviewDay{Day: d, File: file, N: len(s.byDay[d])})
	}
	b, err := json.Marshal(s.idx)
	if err != nil {
		return fmt.Errorf("publish: %s index: %w", s.dir, err)
	}
	return p.b.write(s.dir+"/index.json", b)
}

// reviewView is the body of review.html.
type reviewView struct {
	listView
	Total int
}

// renderReview writes review.html (and its pages), review/index.json and the day shards.
func (p *publisher) renderReview(all []*Entry) error {
	q := reviewQueue(all)
	set := newShardSet("review", p.reviewItem)
	for _, x := range q {
		set.add(x.e)
	}
	if err := p.writeShards(set); err != nil {
		return err
	}

	// The queue's feed: newest first (the feed holds page_size entries).
	var flagged []*Entry
	for _, e := range all {
		if len(flagged) == p.pc.PageSize {
			break
		}
		if _, in := severity(e); in {
			flagged = append(flagged, e)
		}
	}
	if err := p.feed("review.atom", p.pc.Title+": to review", flagged); err != nil {
		return err
	}

	// The paged list, for readers without JavaScript (and search engines): without the
	// reviewed ones, as the filters' default.
	var entries []*Entry
	var sev []int
	for _, x := range q {
		if x.e.ReviewedBy == "" {
			entries = append(entries, x.e)
			sev = append(sev, x.s)
		}
	}
	size := p.pc.PageSize
	pages := (len(entries) + size - 1) / size
	if pages == 0 {
		pages = 1
	}
	name := func(n int) string {
		if n == 1 {
			return "review.html"
		}
		return fmt.Sprintf("review-p%d.html", n)
	}
	feeds := []feedLink{atomLink("To review", "review.atom"), atomLink("All changesets", "atom.xml")}
	for n := 1; n <= pages; n++ {
		lo, hi := (n-1)*size, n*size
		if hi > len(entries) {
			hi = len(entries)
		}
		chunk := entries[lo:hi]
		rel := name(n)
		fp := newFingerprint("review").str(rel).u64(uint64(pages)).u64(uint64(len(entries)))
		for i, e := range chunk {
			fp.u64(e.Hash).u64(uint64(sev[lo+i]))
		}
		pg := newPager(n, pages, name)
		err := p.b.lazy(rel, fp.sum(), func(w io.Writer) error {
			v := &reviewView{Total: len(entries), listView: listView{Heading: "Review queue", Pager: pg,
				Intro: fmt.Sprintf("%d changesets with a reason to look, most severe first (%d reviewed ones not listed).", len(entries), len(q)-len(entries))}}
			t := "Review queue"
			if n > 1 {
				t += fmt.Sprintf(" (page %d)", n)
			}
			return p.html.withHTML(chunk, func(hs []template.HTML) error {
				v.Entries = hs
				return p.tpl.render(w, "review", &page{Site: p.site, Root: rootFrom(rel), Title: t, Feeds: feeds, Body: v, Scripts: []string{"assets/filter.js", "assets/review.js"}})
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// reviewHref is the queue with a filter preset ("label", "roads").
func reviewHref(key, value string) string {
	return "review.html?" + key + "=" + strings.ReplaceAll(url.QueryEscape(value), "+", "%20")
}
