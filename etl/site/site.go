// Package site publishes the static site reviewers browse: the latest changesets (by day, by
// label, by user), a page per changeset with its map, statistics as server-rendered SVG, the
// pipeline's status, and Atom, JSON Feed and GeoJSON feeds. It only reads the database (publish
// connects as the read-only role), writes only the files whose content changed, each one
// atomically (see writer.go), and re-renders only the changesets that changed since the
// previous run.
package site

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/simplify"
	"golang.org/x/sync/errgroup"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/status"
	assets "github.com/osmtrack/osmtrack/site"
)

// DB is what publish needs of the database: read-only transactions.
type DB interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Options configure one publish run.
type Options struct {
	// Publish is the configuration's publish section (title, URLs, page size, days, severity,
	// review labels, reviewers).
	Publish config.Publish
	// Regions are the configured regions, loaded: outlines on the maps, region pages. Empty
	// draws no outline.
	Regions region.Set
	// Out is the output folder (see writer.go for its layout); required.
	Out string
	// Full re-renders everything instead of only what changed.
	Full bool
	// LeafletDir holds Leaflet's dist files (leaflet.js, leaflet.css, images/); see FindLeaflet.
	LeafletDir string
	// Status builds the status page's report; nil leaves the page saying it is unavailable.
	Status func(ctx context.Context) (*status.Report, error)
	// Runs lists recent runs from InfluxDB's job_run measurement for the status page (see
	// metrics.Reader.RecentRuns); nil leaves that part out.
	Runs func(ctx context.Context) ([]metrics.Run, error)
	// Overlap is subtracted from the previous run's snapshot time when looking for changed
	// changesets, so that transactions still open at that time are not missed (default 10m).
	Overlap time.Duration
	// Workers render changeset pages in parallel (default GOMAXPROCS: rendering is CPU work;
	// one more goroutine writes the files).
	Workers int
	Log     *slog.Logger
}

// Result says what a run did.
type Result struct {
	Build      string // the site's folder under Out (Out/current points to it)
	Full       bool   // a full rebuild (asked for, or no usable previous build)
	Changesets int    // changesets on the site
	Rendered   int    // changeset pages rendered this run
	Removed    int    // changesets of the previous build no longer on the site
	Written    int    // files written
	Linked     int    // files left as the previous run wrote them (unchanged)
	// WindowScan: an incremental run read the update time of every changeset in the window,
	// because some left it without their rows changing (deleted); otherwise it reads only
	// the changed ones.
	WindowScan bool
	Snapshot   time.Time
	// Phases is how long each part of the run took.
	Phases []Phase
}

// Phase is a named part of a run and its duration.
type Phase struct {
	Name string
	D    time.Duration
}

// MemoryLimit is the soft limit of the Go heap that `osmtrack publish` sets when GOMEMLIMIT is
// not set: the garbage collector works harder near it instead of letting the heap grow to
// twice what is live. A full publish of 150,000 changesets keeps its entries (not their HTML:
// htmlStore) and its state in memory; the target is a peak RSS of at most 1 GiB.
const MemoryLimit = 768 << 20

// GCPercent is the garbage collector's target (GOGC) that `osmtrack publish` sets when GOGC is
// not set: a full publish allocates about 100 kB per changeset page (html/template, the
// analysis document) while what stays live grows slowly, so collecting every time the heap
// doubled marked the live heap again and again. With 400 the heap grows to five times what is
// live, and MemoryLimit still bounds it: near the limit the collector runs as often as needed.
// At 50,000 changesets: full-cpu-s 44.6 s with 100, 35.9 s with 300. An incremental run holds
// the entries (about 250 MB at 150,000) for little garbage: GC mark 0.45 s → 0.19 s of CPU
// over three runs.
const GCPercent = 400

// ErrNoLeaflet means Leaflet's files were not found.
var ErrNoLeaflet = errors.New("leaflet not found: run `npm ci` in site/ (scripts/install.sh node) or set publish.leaflet_dir")

// FindLeaflet returns the first folder among dir (when not empty), ./site/node_modules/leaflet/dist
// and the same path next to the executable's parent folder that holds leaflet.js.
func FindLeaflet(dir string) (string, error) {
	var cands []string
	if dir != "" {
		cands = append(cands, dir)
	} else {
		cands = append(cands, filepath.Join("site", "node_modules", "leaflet", "dist"))
		if exe, err := os.Executable(); err == nil {
			root := filepath.Dir(filepath.Dir(exe))
			cands = append(cands, filepath.Join(root, "site", "node_modules", "leaflet", "dist"), filepath.Join(root, "share", "osmtrack", "leaflet"))
		}
	}
	for _, c := range cands {
		if st, err := os.Stat(filepath.Join(c, "leaflet.js")); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("publish: %w (looked in %s)", ErrNoLeaflet, strings.Join(cands, ", "))
}

var (
	tplOnce sync.Once
	tplSet  *templates
	tplErr  error
)

func getTemplates() (*templates, error) {
	tplOnce.Do(func() { tplSet, tplErr = loadTemplates() })
	return tplSet, tplErr
}

func pathEscape(s string) string { return url.PathEscape(s) }

// publisher is one run.
type publisher struct {
	pc      config.Publish
	opts    Options
	tpl     *templates
	b       *builder
	site    *siteInfo
	log     *slog.Logger
	mu      sync.Mutex
	entries map[int64]*Entry
	// maybe are the previous build's entries of changesets updated within the overlap: kept
	// when their row's fingerprint did not change.
	maybe  map[int64]*Entry
	sorted []*Entry // the entries newest first (sortedEntries)
	// prevEntries are the previous run's entries (nil in a full run).
	prevEntries map[int64]*Entry
	// render are the changesets an incremental run renders again (or reads to compare, maybe)
	// and removed those of the previous run that left the window.
	render, removed []int64
	html            *htmlStore // the entries' HTML
	regions         region.Set // the configured regions (outlines on the maps)
	users           map[int64]userInfo
}

// Publish renders the site into opts.Out and swaps it in.
func Publish(ctx context.Context, db DB, opts Options) (*Result, error) {
	if opts.Out == "" {
		return nil, errors.New("publish: no output folder")
	}
	if opts.LeafletDir == "" {
		return nil, fmt.Errorf("publish: %w", ErrNoLeaflet)
	}
	if opts.Overlap <= 0 {
		opts.Overlap = 10 * time.Minute
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tpl, err := getTemplates()
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	pc := opts.Publish
	p := &publisher{pc: pc, regions: opts.Regions, opts: opts, tpl: tpl, log: log, entries: map[int64]*Entry{},
		site: &siteInfo{Title: pc.Title, BaseURL: pc.BaseURL, TileURL: pc.TileURL, TileAttribution: pc.TileAttribution}}
	b, err := newBuilder(opts.Out)
	if err != nil {
		return nil, err
	}
	p.b = b
	if feedAuthority(pc.BaseURL) == "osmtrack.invalid" {
		log.Warn("publish.base_url is not an absolute URL: feed readers cannot follow the feeds' links; set it to where the site is served, e.g. https://osm.example.org/", "base_url", pc.BaseURL)
	}
	res, err := p.run(ctx, db)
	if err != nil {
		b.abort()
		return nil, err
	}
	return res, nil
}

func (p *publisher) configFingerprint() uint64 {
	f := newFingerprint("config").u64(p.tpl.hash).str(p.pc.Title).str(p.pc.BaseURL).str(p.pc.TileURL).str(p.pc.TileAttribution)
	f.u64(uint64(p.pc.PageSize)).u64(uint64(p.pc.Days)).str(fmt.Sprint(p.pc.MapCenter, p.pc.MapZoom))
	for _, k := range sortedKeys(p.pc.Severity) {
		f.str(k).u64(uint64(p.pc.Severity[k]))
	}
	// The entries keep their severity (classify): a new release's built-in table must
	// make a full run too.
	f.u64(uint64(config.DefaultSeverity))
	for _, k := range sortedKeys(config.BuiltinSeverity) {
		f.str(k).u64(uint64(config.BuiltinSeverity[k]))
	}
	f.str(strings.Join(p.pc.ReviewLabels, "\x00")).str(strings.Join(p.pc.Reviewers, "\x00"))
	for _, r := range p.regions {
		f.str(r.Name) // the changeset pages point to regions.geojson when there are regions
	}
	return f.sum()
}

func (p *publisher) run(ctx context.Context, db DB) (*Result, error) {
	res := &Result{Build: p.b.name, Full: p.opts.Full}
	t0 := time.Now()
	phase := func(name string) {
		now := time.Now()
		res.Phases = append(res.Phases, Phase{name, now.Sub(t0)})
		t0 = now
	}
	// The previous run's state is read before anything is written: the first write removes it
	// (a run killed from there on leaves no state, and the next run is full).
	var prev *state
	if !p.opts.Full {
		st, err := p.b.loadState()
		switch {
		case err != nil:
			p.log.Warn("previous state unreadable: publishing everything", "err", err)
		case st == nil:
		case st.Config != p.configFingerprint():
			p.log.Info("configuration or templates changed: publishing everything")
		default:
			prev = st
		}
		if prev == nil {
			res.Full = true
			p.b.prev = map[string]uint64{} // nothing to link: render every file
		}
	}
	if p.opts.Full {
		p.b.prev = map[string]uint64{}
	}
	if err := p.writeRegions(); err != nil {
		return nil, err
	}
	p.site.Regions = p.regionsHref()

	hs, err := openHTMLStore(p.b.state, res.Full)
	if err != nil {
		return nil, err
	}
	defer hs.close()
	p.html = hs

	snap, err := beginSnapshot(ctx, db)
	if err != nil {
		return nil, err
	}
	defer snap.close(ctx)
	res.Snapshot = snap.now
	p.site.Generated = snap.now
	cutoff := snap.now.Add(-time.Duration(p.pc.Days) * 24 * time.Hour)
	if p.users, err = snap.users(ctx); err != nil {
		return nil, err
	}

	phase("start")
	var ids []int64 // nil: everything in the window
	if prev != nil {
		since := prev.Snapshot.Add(-p.opts.Overlap)
		// Where each changeset of the previous run is (in the window or not, with its update
		// time and row version), and the new ones.
		changes, n, err := snap.changedSince(ctx, cutoff, since)
		if err != nil {
			return nil, err
		}
		inWindow, newIDs := changes.window(prev.Entries, cutoff, since)
		keep := p.sortOut(prev, inWindow, newIDs, since)
		if gone := len(p.removed); len(prev.Entries)-gone+len(newIDs) != n {
			// Changesets left the window without their rows changing (deleted by prune,
			// say): list the whole window and sort out again.
			p.log.Info("changesets left the window unseen: reading every changeset's update time", "changed", len(changes), "window", n, "expected", len(prev.Entries)-gone+len(newIDs))
			res.WindowScan = true
			window, err := snap.windowIDs(ctx, cutoff, since)
			if err != nil {
				return nil, err
			}
			newIDs = newIDs[:0]
			for id := range window {
				if prev.Entries[id] == nil {
					newIDs = append(newIDs, id)
				}
			}
			keep = p.sortOut(prev, func(id int64, _ *Entry) (windowEntry, bool) {
				w, ok := window[id]
				return w, ok
			}, newIDs, since)
		}
		p.prevEntries = prev.Entries
		p.entries = make(map[int64]*Entry, len(prev.Entries)+len(newIDs))
		p.render = append(p.render, p.keepChangesets(keep)...)
		res.Removed = len(p.removed)
		for _, id := range p.removed {
			p.b.markDirty(id)
		}
		ids = p.render
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	}
	phase("keep")
	if ids == nil || len(ids) > 0 {
		n, err := p.renderChangesets(ctx, snap, cutoff, ids)
		if err != nil {
			return nil, err
		}
		res.Rendered = n
	}
	res.Changesets = len(p.entries)

	phase("changesets")
	center, zoom, bounds := p.mapView()
	if err := p.renderLists(ctx); err != nil {
		return nil, err
	}
	phase("lists")
	if err := p.renderOthers(ctx, center, zoom, bounds); err != nil {
		return nil, err
	}
	if err := p.copyAssets(); err != nil {
		return nil, err
	}
	phase("others")
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := &state{Snapshot: snap.now, Config: p.configFingerprint(), Entries: p.entries}
	if err := p.b.invalidate(); err != nil {
		return nil, err
	}
	moved, err := p.html.commit(p.entries)
	if err != nil {
		return nil, err
	}
	if err := p.removeStaleChangesets(); err != nil {
		return nil, err
	}
	p.b.owned = p.ownsChangesetFile
	if err := p.b.commit(st, res.Full || moved); err != nil {
		return nil, err
	}
	phase("commit")
	p.b.cleanup()
	phase("cleanup")
	res.Written, res.Linked = p.b.written, p.b.kept
	return res, nil
}

// sortOut decides for each changeset of the previous run, given where it is (inWindow),
// whether to keep its files, render it (p.render, with the new ones, newIDs) or remove it
// (p.removed); it returns those to keep.
//
// Changed for sure: updated after the previous snapshot, or not in the previous build.
// Unchanged for sure: updated before the overlap. In between (a transaction that may have
// committed after the previous snapshot): read the row and compare its fingerprint with the
// previous build's (p.maybe); render only when it differs.
func (p *publisher) sortOut(prev *state, inWindow func(int64, *Entry) (windowEntry, bool), newIDs []int64, since time.Time) (keep []*Entry) {
	p.render = append([]int64{}, newIDs...)
	p.removed = nil
	keep = make([]*Entry, 0, len(prev.Entries))
	p.maybe = map[int64]*Entry{}
	for id, pe := range prev.Entries {
		w, in := inWindow(id, pe)
		switch {
		case !in:
			p.removed = append(p.removed, id)
		case !w.Updated.After(since):
			keep = append(keep, pe)
		case pe.Version != "" && pe.Version == w.Version:
			// Not one of its rows was written since it was rendered (the demo's second
			// publish right after the first: everything is within the overlap).
			keep = append(keep, pe)
		case !w.Updated.After(prev.Snapshot) && pe.Sum != 0:
			p.maybe[id] = pe
			p.render = append(p.render, id)
		default:
			p.render = append(p.render, id)
		}
	}
	return keep
}

// keepChangesets leaves the pages of unchanged changesets as they are; it returns the ids
// of those the previous run did not write (to render again). Nothing else runs yet: no lock.
func (p *publisher) keepChangesets(keep []*Entry) []int64 {
	var missing []int64
	kept := 0
	for _, pe := range keep {
		if pe.PageSum == 0 {
			missing = append(missing, pe.ID) // the previous run did not write it
			continue
		}
		kept += p.keepEntry(pe)
	}
	p.b.countKept(kept)
	return missing
}

// keepEntry takes the previous run's entry into this run as it is and returns how many files
// of its stay (its page, and its document when it has one). The caller holds p.mu when
// others may write p.entries.
func (p *publisher) keepEntry(pe *Entry) int {
	p.entries[pe.ID] = pe
	p.html.keep(pe)
	if pe.JSONSum != 0 {
		return 2
	}
	return 1
}

// keepOne leaves an unchanged changeset's files as the previous run wrote them; false when
// that run did not write them (render it again).
func (p *publisher) keepOne(pe *Entry) bool {
	if pe == nil || pe.PageSum == 0 {
		return false
	}
	p.mu.Lock()
	n := p.keepEntry(pe)
	p.mu.Unlock()
	p.b.countKept(n)
	return true
}

// ownsChangesetFile reports whether rel is a changeset's page or document of this run.
func (p *publisher) ownsChangesetFile(rel string) bool {
	name, ok := strings.CutPrefix(rel, "changesets/")
	if !ok {
		return false
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		base, ext = name[:i], name[i:]
	}
	id, err := strconv.ParseInt(base, 10, 64)
	if err != nil || changesetFile(id) != rel && changesetJSON(id) != rel {
		return false
	}
	e := p.entries[id]
	return e != nil && (ext == ".html" || e.JSONSum != 0)
}

// removeStaleChangesets removes the files of the changesets of the previous run that left
// the window, and the documents of those that no longer have one.
func (p *publisher) removeStaleChangesets() error {
	rm := func(rel string) error {
		if err := os.Remove(filepath.Join(p.b.dir, filepath.FromSlash(rel))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("publish: remove %s: %w", rel, err)
		}
		return nil
	}
	// Only a changeset removed or rendered again can have lost a file: the others' entries
	// are the previous run's.
	for _, ids := range [][]int64{p.removed, p.render} {
		for _, id := range ids {
			pe := p.prevEntries[id]
			if pe == nil {
				continue
			}
			e := p.entries[id]
			if e == nil {
				if err := rm(changesetFile(id)); err != nil {
					return err
				}
			}
			if pe.JSONSum != 0 && (e == nil || e.JSONSum == 0) {
				if err := rm(changesetJSON(id)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// renderChangesets renders the pages of the changesets in ids (all in the window when nil).
//
// opts.Workers goroutines decode and render (the CPU part, html/template mostly) while one
// writer creates the files: concurrent creates in one folder contend for its lock in the
// kernel and burn system time, a single writer does not, and rendering goes on meanwhile.
// Each page depends only on its own row, so the bytes are the same whatever the scheduling.
// The first error (with the changeset it concerns) cancels the rest.
func (p *publisher) renderChangesets(ctx context.Context, snap *snapshot, cutoff time.Time, ids []int64) (int, error) {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows := make(chan *row, p.opts.Workers*2)
	out := make(chan *renderedChangeset, p.opts.Workers*4)
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	var n int
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for rc := range out {
			if ctx.Err() == nil {
				if err := p.writeChangeset(rc); err != nil {
					fail(err)
				} else {
					n++
				}
			}
			putBuf(rc.page)
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < p.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rows {
				if ctx.Err() != nil {
					continue
				}
				rc, err := p.renderChangeset(r)
				if err != nil {
					fail(err)
					continue
				}
				out <- rc
			}
		}()
	}
	err := snap.eachRow(ctx, cutoff, ids, func(r *row) error {
		if pe := p.maybe[r.ID]; pe != nil && pe.Sum == r.Sum {
			if p.keepOne(pe) {
				return nil
			}
		}
		select {
		case rows <- r:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(rows)
	wg.Wait()
	close(out)
	<-writerDone
	if firstErr != nil {
		return n, firstErr
	}
	if err != nil {
		return n, err
	}
	// Workers skip their rows once the context is done: do not report a partial run as done.
	return n, parent.Err()
}

// renderedChangeset is a changeset's entry and page, rendered, waiting to be written.
type renderedChangeset struct {
	r     *row
	e     *Entry
	page  *bytes.Buffer // from bufPool
	entry []byte        // e as the lists show it (for the htmlStore)
}

// renderChangeset decodes a changeset's document and renders its entry and page.
func (p *publisher) renderChangeset(r *row) (*renderedChangeset, error) {
	var doc *docView
	if r.Doc != nil {
		var err error
		if doc, err = decodeDoc(r.Doc); err != nil {
			// A document publish cannot read is shown as such; the rest of the site goes on.
			p.log.Warn("analysis document unreadable", "changeset", r.ID, "err", err)
			doc = nil
			r.Reasons = append(r.Reasons, "unreadable-analysis")
		}
	}
	e := newEntry(r, doc)
	for _, c := range r.Comments {
		for _, rv := range p.pc.Reviewers {
			if rv != "" && strings.EqualFold(c.User, rv) {
				e.ReviewedBy, e.ReviewedAt, e.ReviewedText = c.User, c.Time.UTC(), truncate(c.Text, 300)
			}
		}
	}
	e.InRegions = p.inRegions(e)
	classify(&p.pc, e)
	parts, err := p.tpl.renderParts(e)
	if err != nil {
		return nil, fmt.Errorf("publish: changeset %d: %w", r.ID, err)
	}
	h, err := p.tpl.renderEntry(e, parts, entryThumb(e, doc))
	if err != nil {
		return nil, fmt.Errorf("publish: changeset %d: %w", r.ID, err)
	}
	e.Hash = hashString(string(h))
	e.Data = e.dataSum()
	e.Sum = r.Sum
	e.Version = r.Version
	v := newCSView(r, e, doc)
	v.Parts = parts
	v.Card = p.card(r.User, r.UID, r.Time) // the account's age at the time of the edit
	for _, g := range e.InRegions {
		v.RegionLinks = append(v.RegionLinks, linkView{Text: g, Href: regionFile(g), Local: true})
	}
	for i, c := range r.Comments {
		if i == 200 {
			break
		}
		cv := commentView{User: c.User, UID: c.UID, Time: c.Time.UTC(), Text: truncate(c.Text, 5000)}
		for _, rv := range p.pc.Reviewers {
			cv.Reviewer = cv.Reviewer || (rv != "" && strings.EqualFold(c.User, rv))
		}
		v.Discussion = append(v.Discussion, cv)
	}
	if r.Doc == nil {
		v.JSONHref = ""
	}
	if err := p.tpl.cacheFragments(v); err != nil {
		return nil, fmt.Errorf("publish: changeset %d: %w", r.ID, err)
	}
	rel := changesetFile(r.ID)
	pg := &page{Site: p.site, Root: rootFrom(rel), Title: fmt.Sprintf("Changeset %d", r.ID), Map: true, Body: v,
		Feeds: p.entryFeeds(e)}
	buf := getBuf()
	if err := p.tpl.render(buf, "changeset", pg); err != nil {
		putBuf(buf)
		return nil, fmt.Errorf("publish: changeset %d: %w", r.ID, err)
	}
	return &renderedChangeset{r: r, e: e, page: buf, entry: []byte(h)}, nil
}

// writeChangeset writes a rendered changeset's page and document and records its entry.
func (p *publisher) writeChangeset(rc *renderedChangeset) error {
	r, e := rc.r, rc.e
	if err := p.html.put(e, rc.entry); err != nil {
		return err
	}
	// A page rendered again with the same bytes (its row changed in what the page does not
	// show) is not written again.
	pe := p.prevEntries[r.ID]
	e.PageSum = newFingerprint("page").bytes(rc.page.Bytes()).sum()
	if err := p.b.writeIf(changesetFile(r.ID), rc.page.Bytes(), pe == nil || pe.PageSum != e.PageSum); err != nil {
		return err
	}
	if r.Doc != nil {
		e.JSONSum = newFingerprint("json").bytes(r.Doc).sum()
		if err := p.b.writeIf(changesetJSON(r.ID), r.Doc, pe == nil || pe.JSONSum != e.JSONSum); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.entries[r.ID] = rc.e
	p.mu.Unlock()
	p.b.markDirty(r.ID)
	return nil
}

// entryFeeds are the feeds a changeset page points to: its user's and its labels'.
func (p *publisher) entryFeeds(e *Entry) []feedLink {
	fl := []feedLink{atomLink("All changesets", "atom.xml")}
	if e.User != "" || e.UID > 0 {
		fl = append(fl, atomLink("User "+isolate(truncate(orUnknown(e.User), 60)), strings.TrimSuffix(userPage(e.User, e.UID, 1), ".html")+".atom"))
	}
	for _, l := range e.Labels {
		fl = append(fl, atomLink("Label "+isolate(truncate(l, 60)), strings.TrimSuffix(labelFile(l), ".html")+".atom"))
	}
	return fl
}

// sortedEntries returns the entries newest first (sorted once, after the changesets are read).
func (p *publisher) sortedEntries() []*Entry {
	if p.sorted != nil && len(p.sorted) == len(p.entries) {
		return p.sorted
	}
	// Sorted by keys in one array: comparing through the pointers would read an entry from
	// memory at each step (a third of the time at 150,000).
	type key struct {
		t, id int64
		e     *Entry
	}
	keys := make([]key, 0, len(p.entries))
	for _, e := range p.entries {
		keys = append(keys, key{e.Time.UnixNano(), e.ID, e})
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(b.t, a.t); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	out := make([]*Entry, len(keys))
	for i, k := range keys {
		out[i] = k.e
	}
	p.sorted = out
	return out
}

// newestFirst orders entries by time, newest first, then by id, highest first.
func newestFirst(a, b *Entry) int {
	if c := b.Time.Compare(a.Time); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// groupByUser groups entries (newest first) by userKey, keeping the order. It groups by uid
// first (names only without one) so that userKey, which allocates, runs once per user.
func groupByUser(all []*Entry) map[string][]*Entry {
	type who struct {
		uid  int64
		name string
	}
	by := map[who][]*Entry{}
	for _, e := range all {
		k := who{uid: e.UID}
		if e.UID <= 0 {
			k.name = e.User
		}
		by[k] = append(by[k], e)
	}
	out := make(map[string][]*Entry, len(by))
	for _, es := range by {
		k := userKey(es[0].User, es[0].UID)
		if prev, ok := out[k]; ok {
			// Two names without a uid that slug alike share their files.
			es = append(slices.Clone(prev), es...)
			slices.SortFunc(es, newestFirst)
		}
		out[k] = es
	}
	return out
}

// listPages writes a paginated list of entries: page 1 at pageName(1), and so on.
// listTop is what a list shows above its entries besides its links: a user's card (user
// pages), a region's map (region pages).
type listTop struct {
	card *userCard
	rmap *regionMap
}

func (p *publisher) listPages(kind string, all []*Entry, pageName func(n int) string, title string, feeds []feedLink, intro string, links []linkView, top listTop) error {
	size := p.pc.PageSize
	pages := (len(all) + size - 1) / size
	if pages == 0 {
		pages = 1
	}
	card, rmap := top.card, top.rmap
	// What every page of the list shows besides its entries, fingerprinted once.
	common := newFingerprint(kind).str(title).str(intro).u64(uint64(pages)).str(fmt.Sprintf("%+v", card))
	if rmap != nil {
		common.str(rmap.Bounds).str(rmap.Regions)
		for _, f := range rmap.MapData.Features {
			common.str(string(f.Geometry)).str(fmt.Sprintf("%+v", f.Properties))
		}
	}
	for _, f := range feeds {
		common.str(f.Href).str(f.Title)
	}
	for _, l := range links {
		common.str(l.Href).str(l.Text)
	}
	for n := 1; n <= pages; n++ {
		lo, hi := (n-1)*size, n*size
		if hi > len(all) {
			hi = len(all)
		}
		chunk := all[lo:hi]
		rel := pageName(n)
		fp := newFingerprint("page").u64(common.sum()).str(rel)
		for _, e := range chunk {
			fp.u64(e.Hash)
		}
		pg := newPager(n, pages, pageName)
		err := p.b.lazy(rel, fp.sum(), func(w io.Writer) error {
			v := &listView{Heading: title, Intro: intro, Links: links, Pager: pg, Card: card, RegionMap: rmap}
			t := title
			if n > 1 {
				t += fmt.Sprintf(" (page %d)", n)
			}
			return p.html.withHTML(chunk, func(hs []template.HTML) error {
				v.Entries = hs
				return p.tpl.render(w, "list", &page{Site: p.site, Root: rootFrom(rel), Title: t, Feeds: feeds, Body: v, Map: rmap != nil})
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

type labelInfo struct {
	Name, Href, Feed, ReviewFeed, Review, Description string
	N, Flagged                                        int
}

// renderLists writes the lists, the review queue, the map's shards, the feeds and the
// statistics. They are independent of each other and only read the entries, so they are
// built on opts.Workers goroutines.
func (p *publisher) renderLists(ctx context.Context) error {
	all := p.sortedEntries()
	var g errgroup.Group
	g.SetLimit(p.opts.Workers)
	for _, task := range []func([]*Entry) error{p.renderReview, p.renderMapShards, p.renderDays, p.renderLabels, p.renderUsers, p.renderSiteFeeds} {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return task(all)
		})
	}
	return g.Wait()
}

// siteFeeds are the feeds of the whole site, as the pages link them.
func siteFeeds() []feedLink {
	return []feedLink{atomLink("All changesets (Atom)", "atom.xml"), {Title: "JSON Feed", Href: "feed.json", Type: "application/feed+json"}}
}

// renderDays writes the pages of each day, of each region and the index.
func (p *publisher) renderDays(all []*Entry) error {
	// By day.
	// all is newest first: a day's entries are one run of it.
	byDay := map[string][]*Entry{}
	var days []string
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].Day == all[i].Day {
			j++
		}
		d := all[i].Day
		if _, ok := byDay[d]; !ok {
			days = append(days, d)
		}
		byDay[d] = append(byDay[d], all[i:j:j]...)
		i = j
	}
	var dayLinks []dayLink
	for _, d := range days {
		dayLinks = append(dayLinks, dayLink{Day: d, Href: dayPage(d, 1), N: len(byDay[d])})
	}
	siteFeeds := siteFeeds()
	for _, d := range days {
		d := d
		if err := p.listPages("day", byDay[d], func(n int) string { return dayPage(d, n) }, "Changesets of "+d, siteFeeds, "",
			[]linkView{{Text: "Review queue of this day", Href: reviewHref("day", d), Local: true}}, listTop{}); err != nil {
			return err
		}
	}
	regionLinks, err := p.renderRegionPages(all, siteFeeds)
	if err != nil {
		return err
	}
	// Index: the latest page plus the days.
	latest := all
	if len(latest) > p.pc.PageSize {
		latest = latest[:p.pc.PageSize]
	}
	iv := &listView{Heading: "Latest changesets", Days: dayLinks, Regions: regionLinks, Links: []linkView{{Text: "Review queue: the changesets with a reason to look, most severe first", Href: "review.html", Local: true}},
		Intro: fmt.Sprintf("%d changesets in the last %d days; updated %s.", len(all), p.pc.Days, fmtTime(p.site.Generated))}
	var buf bytes.Buffer
	if err := p.html.withHTML(latest, func(hs []template.HTML) error {
		iv.Entries = hs
		return p.tpl.render(&buf, "list", &page{Site: p.site, Root: "", Title: "Latest changesets", Feeds: siteFeeds, Body: iv})
	}); err != nil {
		return fmt.Errorf("publish: index: %w", err)
	}
	if err := p.b.write("index.html", buf.Bytes()); err != nil {
		return err
	}

	return nil
}

// renderLabels writes each label's pages and feeds, the labels' index and feeds.html.
func (p *publisher) renderLabels(all []*Entry) error {
	siteFeeds := siteFeeds()
	byLabel := map[string][]*Entry{}
	for _, e := range all {
		for _, l := range e.Labels {
			byLabel[l] = append(byLabel[l], e)
		}
	}
	var labels []labelInfo
	for _, l := range sortedKeys(byLabel) {
		feed := strings.TrimSuffix(labelFile(l), ".html") + ".atom"
		reviewFeed := strings.TrimSuffix(labelFile(l), ".html") + "-review.atom"
		li := labelInfo{Name: l, Href: labelFile(l), Feed: feed, ReviewFeed: reviewFeed, N: len(byLabel[l]), Review: reviewHref("label", l)}
		var flagged []*Entry
		for _, e := range byLabel[l] {
			if li.Description == "" && e.LabelDesc[l] != "" {
				li.Description = e.LabelDesc[l]
			}
			if _, in := severity(e); in {
				flagged = append(flagged, e)
			}
		}
		li.Flagged = len(flagged)
		labels = append(labels, li)
		l := l
		fl := []feedLink{atomLink("Label "+isolate(truncate(l, 60))+" (Atom)", feed), atomLink("Label "+isolate(truncate(l, 60))+", to review (Atom)", reviewFeed)}
		if err := p.feed(reviewFeed, p.pc.Title+": label "+isolate(truncate(l, 100))+", to review", flagged); err != nil {
			return err
		}
		if err := p.listPages("label", byLabel[l], func(n int) string { return labelPage(l, n) }, "Label: "+isolate(truncate(l, 200)), fl, "",
			[]linkView{{Text: "Review queue filtered by this label", Href: reviewHref("label", l), Local: true}}, listTop{}); err != nil {
			return err
		}
		if err := p.feed(feed, p.pc.Title+": label "+isolate(truncate(l, 100)), byLabel[l]); err != nil {
			return err
		}
	}
	reasons := map[string]int{}
	for _, e := range all {
		for _, c := range e.ReasonCodes() {
			reasons[c]++
		}
	}
	var reasonRows []kv
	for _, c := range sortedKeys(reasons) {
		reasonRows = append(reasonRows, kv{c, fmt.Sprint(reasons[c])})
	}
	if err := p.renderPage("labels/index.html", "labels", "Labels", []feedLink{atomLink("All changesets", "atom.xml")}, false,
		struct {
			Labels  []labelInfo
			Reasons []kv
		}{labels, reasonRows}); err != nil {
		return err
	}
	if err := p.renderPage("feeds.html", "feeds", "Feeds", siteFeeds, false, struct{ Labels []labelInfo }{labels}); err != nil {
		return err
	}

	return nil
}

// renderUsers writes each user's pages and feed, and the statistics.
func (p *publisher) renderUsers(all []*Entry) error {
	byUser := groupByUser(all)
	for _, k := range sortedKeys(byUser) {
		es := byUser[k]
		u, uid := es[0].User, es[0].UID
		feed := "users/" + k + ".atom"
		fl := []feedLink{atomLink("User "+isolate(truncate(orUnknown(u), 60))+" (Atom)", feed)}
		links := []linkView{{Text: "Review queue filtered by this user", Href: reviewHref("user", u), Local: true}}
		c := p.card(u, uid, p.site.Generated)
		if c != nil {
			c.HasHere, c.SeenHere = true, len(es)
			c.FirstHere = es[len(es)-1].Day
			for _, e := range es {
				if _, in := severity(e); in {
					c.FlaggedHere++
				}
			}
		}
		if err := p.listPages("user", es, func(n int) string { return userPage(u, uid, n) }, "User: "+isolate(truncate(orUnknown(u), 200)), fl,
			fmt.Sprintf("%d changesets in the last %d days.", len(es), p.pc.Days), links, listTop{card: c}); err != nil {
			return err
		}
		if err := p.feed(feed, p.pc.Title+": user "+isolate(truncate(orUnknown(u), 100)), es); err != nil {
			return err
		}
	}

	return p.renderStats(all, byUser)
}

// renderSiteFeeds writes atom.xml, feed.json and changesets.geojson.
func (p *publisher) renderSiteFeeds(all []*Entry) error {
	if err := p.feed("atom.xml", p.pc.Title, all); err != nil {
		return err
	}
	top := all
	if len(top) > p.pc.PageSize {
		top = top[:p.pc.PageSize]
	}
	jf, err := jsonFeedBytes(p.pc.BaseURL, p.pc.Title, top)
	if err != nil {
		return fmt.Errorf("publish: feed.json: %w", err)
	}
	if err := p.b.write("feed.json", jf); err != nil {
		return err
	}
	// changesets.geojson holds every changeset (tens of MB at 150,000): written only when what
	// it shows of them changed.
	gfp := newFingerprint("geojson").str(p.pc.BaseURL)
	for _, e := range all {
		if e.BBox != nil {
			gfp.u64(e.Data)
		}
	}
	if err := p.b.lazy("changesets.geojson", gfp.sum(), func(w io.Writer) error {
		gj, err := geoJSONBytes(p.pc.BaseURL, all)
		if err != nil {
			return err
		}
		_, err = w.Write(gj)
		return err
	}); err != nil {
		return err
	}
	return nil
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// feed writes an Atom feed of the newest page_size entries of es (newest first).
func (p *publisher) feed(rel, title string, es []*Entry) error {
	if len(es) > p.pc.PageSize {
		es = es[:p.pc.PageSize]
	}
	fp := newFingerprint("atom").str(rel).str(title)
	for _, e := range es {
		fp.u64(e.Hash).u64(uint64(e.Updated.UnixNano()))
	}
	return p.b.lazy(rel, fp.sum(), func(w io.Writer) error {
		updated := p.site.Generated
		if len(es) > 0 {
			updated = es[0].Updated
			for _, e := range es {
				if e.Updated.After(updated) {
					updated = e.Updated
				}
			}
		}
		b, err := atomXML(p.pc.BaseURL, title, rel, updated, es)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
}

func (p *publisher) renderPage(rel, kind, title string, feeds []feedLink, withMap bool, body any) error {
	var buf bytes.Buffer
	if err := p.tpl.render(&buf, kind, &page{Site: p.site, Root: rootFrom(rel), Title: title, Feeds: feeds, Map: withMap, Body: body}); err != nil {
		return fmt.Errorf("publish: %s: %w", rel, err)
	}
	return p.b.write(rel, buf.Bytes())
}

type topUser struct {
	User                 string
	UID                  int64
	Changesets, Elements int
}

func (p *publisher) renderStats(all []*Entry, byUser map[string][]*Entry) error {
	// One slot per day of the window, oldest first.
	nd := p.pc.Days
	if nd > 120 {
		nd = 120
	}
	start := p.site.Generated.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(nd - 1))
	days := make([]string, nd)
	idx := map[string]int{}
	for i := range days {
		days[i] = start.AddDate(0, 0, i).Format("2006-01-02")
		idx[days[i]] = i
	}
	cs := series{Class: "bar", Name: "changesets", Values: make([]float64, nd)}
	cr := series{Class: "series-create", Name: "created", Values: make([]float64, nd)}
	mo := series{Class: "series-modify", Name: "modified", Values: make([]float64, nd)}
	de := series{Class: "series-delete", Name: "deleted", Values: make([]float64, nd)}
	ra := series{Class: "road-add", Name: "roads added (km)", Values: make([]float64, nd)}
	rd := series{Class: "road-del", Name: "roads removed (km)", Values: make([]float64, nd)}
	labels := map[string]float64{}
	var elements int
	var roadC, roadD float64
	for _, e := range all {
		elements += e.Elements()
		roadC += e.RoadCreatedM
		roadD += e.RoadDeletedM
		for _, l := range e.Labels {
			labels[l]++
		}
		i, ok := idx[e.Day]
		if !ok {
			continue
		}
		cs.Values[i]++
		cr.Values[i] += float64(e.Totals[0])
		mo.Values[i] += float64(e.Totals[1])
		de.Values[i] += float64(e.Totals[2])
		ra.Values[i] += e.RoadCreatedM / 1000
		rd.Values[i] += e.RoadDeletedM / 1000
	}
	var lv []namedValue
	for _, l := range sortedKeys(labels) {
		lv = append(lv, namedValue{l, labels[l]})
	}
	sort.SliceStable(lv, func(i, j int) bool { return lv[i].Value > lv[j].Value })
	if len(lv) > 30 {
		lv = lv[:30]
	}
	var tu []*topUser
	for _, es := range byUser {
		u := &topUser{User: es[0].User, UID: es[0].UID, Changesets: len(es)}
		for _, e := range es {
			u.Elements += e.Elements()
		}
		tu = append(tu, u)
	}
	sort.Slice(tu, func(i, j int) bool {
		if tu[i].Changesets != tu[j].Changesets {
			return tu[i].Changesets > tu[j].Changesets
		}
		return tu[i].User < tu[j].User
	})
	if len(tu) > 20 {
		tu = tu[:20]
	}
	var uv []namedValue
	for _, u := range tu {
		uv = append(uv, namedValue{orUnknown(u.User), float64(u.Changesets)})
	}
	charts := []chart{
		dayChart("Changesets per day", days, []series{cs}, true),
		dayChart("Element versions per day", days, []series{cr, mo, de}, true),
		dayChart("Roads added and removed per day (km)", days, []series{ra, rd}, false),
		barChart("Changesets per label", lv),
		barChart("Top users (changesets)", uv),
	}
	body := struct {
		Days, Changesets, Elements int
		RoadCreated, RoadDeleted   float64
		Charts                     []chart
		TopUsers                   []*topUser
	}{p.pc.Days, len(all), elements, roadC, roadD, charts, tu}
	return p.renderPage("stats.html", "stats", "Statistics", []feedLink{atomLink("All changesets", "atom.xml")}, false, body)
}

// mapView is the overview map's view: publish.map_center and map_zoom ("lat,lon", zoom), else
// the regions' bounds ("minlat,minlon,maxlat,maxlon"); with neither the map fits its features.
func (p *publisher) mapView() (center string, zoom int, bounds string) {
	zoom = p.pc.MapZoom
	if len(p.pc.MapCenter) == 2 {
		if zoom == 0 {
			zoom = 12
		}
		return fmt.Sprintf("%g,%g", p.pc.MapCenter[0], p.pc.MapCenter[1]), zoom, ""
	}
	if len(p.regions) > 0 {
		b := p.regions.Bound()
		return "", zoom, fmt.Sprintf("%.6f,%.6f,%.6f,%.6f", b.Min[1], b.Min[0], b.Max[1], b.Max[0])
	}
	return "", zoom, ""
}

func (p *publisher) renderOthers(ctx context.Context, center string, zoom int, bounds string) error {
	// Map of today's edits: the changesets of the last 24 hours.
	since := p.site.Generated.Add(-24 * time.Hour)
	md := &mapData{Type: "FeatureCollection", Features: []mapFeature{}}
	today := []*Entry{}
	for _, e := range p.sortedEntries() {
		if !e.Time.Before(since) && e.BBox != nil {
			today = append(today, e)
		}
	}
	// Each changeset is a point at the centre of its bounding box; map.js clusters them per
	// zoom and colours them by whether they have reasons to look.
	flagged := 0
	for _, e := range today {
		b := *e.BBox
		pr := mapProps{C: "cs", ID: e.ID, T: truncate(fmt.Sprintf("by %s: %s", orUnknown(e.User), e.Comment), 200)}
		if _, in := severity(e); in {
			pr.R = true
			flagged++
		}
		md.Features = append(md.Features, mapFeature{Type: "Feature",
			Geometry: json.RawMessage(fmt.Sprintf(`{"type":"Point","coordinates":[%.6f,%.6f]}`, (b[0]+b[2])/2, (b[1]+b[3])/2)), Properties: pr})
	}
	body := struct {
		Heading, Intro, Center, Bounds, Regions string
		Zoom                                    int
		Recent                                  int64
		MapData                                 *mapData
	}{"Today's edits", fmt.Sprintf("%d changesets of the last 24 hours (%d with a reason to look, red), clustered by zoom; the regions outlined.", len(md.Features), flagged),
		center, bounds, p.regionsHref(), zoom, since.Unix(), md}
	var buf bytes.Buffer
	if err := p.tpl.render(&buf, "map", &page{Site: p.site, Root: "", Title: "Map", Feeds: []feedLink{atomLink("All changesets", "atom.xml")}, Map: true, Body: body,
		Scripts: []string{"assets/filter.js"}}); err != nil {
		return fmt.Errorf("publish: map.html: %w", err)
	}
	if err := p.b.write("map.html", buf.Bytes()); err != nil {
		return err
	}

	// Status.
	sv := struct {
		Now       time.Time
		Report    *status.Report
		Error     string
		States    []kv
		Published int
		Runs      []metrics.Run
		RunsError string
		HasRuns   bool
	}{Now: p.site.Generated, Published: len(p.entries)}
	if p.opts.Runs != nil {
		sv.HasRuns = true
		runs, err := p.opts.Runs(ctx)
		if err != nil {
			sv.RunsError = err.Error()
		}
		sv.Runs = runs
	}
	if p.opts.Status != nil {
		r, err := p.opts.Status(ctx)
		if err != nil {
			sv.Error = err.Error()
		}
		sv.Report = r
		if r != nil {
			for _, s := range status.ChangesetStates {
				sv.States = append(sv.States, kv{s, fmt.Sprint(r.Changesets[s])})
			}
		}
	} else {
		sv.Error = "no status source configured"
	}
	return p.renderPage("status.html", "status", "Status", nil, false, sv)
}

// copyAssets writes the stylesheet and scripts, and Leaflet's files under assets/leaflet/.
func (p *publisher) copyAssets() error {
	err := fs.WalkDir(assets.Static, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets.Static, path)
		if err != nil {
			return err
		}
		return p.b.write("assets/"+strings.TrimPrefix(path, "static/"), b)
	})
	if err != nil {
		return fmt.Errorf("publish: assets: %w", err)
	}
	want := []string{"leaflet.js", "leaflet.css"}
	imgs, _ := os.ReadDir(filepath.Join(p.opts.LeafletDir, "images"))
	for _, im := range imgs {
		if !im.IsDir() && strings.HasSuffix(im.Name(), ".png") {
			want = append(want, "images/"+im.Name())
		}
	}
	for _, f := range want {
		b, err := os.ReadFile(filepath.Join(p.opts.LeafletDir, filepath.FromSlash(f)))
		if err != nil {
			return fmt.Errorf("publish: leaflet: %w", err)
		}
		if err := p.b.write("assets/leaflet/"+f, b); err != nil {
			return err
		}
	}
	return nil
}

// regionsFile is the configured regions' outlines, simplified, for the maps.
const regionsFile = "regions.geojson"

func (p *publisher) regionsHref() string {
	if len(p.regions) == 0 {
		return ""
	}
	return regionsFile
}

// writeRegions writes regions.geojson: each region's outline simplified to about a
// two-thousandth of its extent (a country's outline stays a few hundred kB at most).
func (p *publisher) writeRegions() error {
	if len(p.regions) == 0 {
		return nil
	}
	fc := geojson.NewFeatureCollection()
	for _, r := range p.regions {
		mp := r.Outline().Clone()
		b := mp.Bound()
		tol := math.Max(b.Max[0]-b.Min[0], b.Max[1]-b.Min[1]) / 2000
		mp = simplify.DouglasPeucker(tol).MultiPolygon(mp)
		f := geojson.NewFeature(mp)
		f.Properties = geojson.Properties{"name": r.Name}
		fc.Append(f)
	}
	b, err := fc.MarshalJSON()
	if err != nil {
		return fmt.Errorf("publish: %s: %w", regionsFile, err)
	}
	return p.b.write(regionsFile, b)
}
