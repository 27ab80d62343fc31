package analysis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmapi"
)

// EarthRadius is the mean Earth radius (m) used for lengths and distances.
const EarthRadius = 6371008.8

// Analyzer builds analysis documents. Store, API and Users are optional: without a store and
// an API, before-states are unknown and the document is incomplete.
type Analyzer struct {
	Config    config.Analyse
	Store     Store
	API       API
	Users     Users
	UserCache UserCache
	Log       *slog.Logger
	Now       func() time.Time
}

// Input is one changeset: its metadata and its element versions (each with its action).
type Input struct {
	Meta  Meta
	Elems []elements.Element
	// Source names what holds Elems, for the incomplete text ("the element store" when empty).
	Source string
	// Download is the changeset download an earlier analysis recorded (nil: none). When the
	// metadata's changes_count exceeds the versions of Elems, the changeset is downloaded (once:
	// not when a download is recorded), see Analyzer.Analyse.
	Download *Download
}

// Stats says where the before-states came from.
type Stats struct {
	FromStore int // versions found in the store
	FromAPI   int // versions the API answered (and that went into the store)
	Missing   int // versions or node positions nobody had, and changes the changeset lacks
	// Download is the changeset download this analysis made (nil: none).
	Download *Download
}

type state struct {
	a            *Analyzer
	csID         int64
	known        map[elements.VKey]*elements.Element
	hist         map[elements.Key][]*elements.Element // versions known per element, sorted by version
	cs           map[elements.Key][]*elements.Element // the changeset's versions per element
	csKeys       []elements.Key
	at           map[int64]*elements.Element // node version valid at tAt (nodes outside the changeset)
	tAt          time.Time
	stats        Stats
	missPrev     int
	missPos      int
	missNode     map[int64]bool // distinct way nodes without a position
	countMissing bool
	dlNote       string // completes "… holds N of the changeset's M changes"
}

func (s *state) add(e *elements.Element) bool {
	vk := e.VKey()
	if _, ok := s.known[vk]; ok {
		return false
	}
	s.known[vk] = e
	k := e.Key()
	h := s.hist[k]
	i := sort.Search(len(h), func(i int) bool { return h[i].Version >= e.Version })
	h = append(h, nil)
	copy(h[i+1:], h[i:])
	h[i] = e
	s.hist[k] = h
	return true
}

func (s *state) addAll(es []elements.Element) int {
	n := 0
	for i := range es {
		if s.add(&es[i]) {
			n++
		}
	}
	return n
}

// Analyse builds the document of one changeset.
//
// When the metadata's changes_count (all the changeset's changes) exceeds the versions in
// in.Elems, the changeset is final (closed, or created more than ChangesetMaxLifetime ago), no
// download is recorded (in.Download) and the API can download (Downloader), the whole changeset
// is downloaded once (changeset/ID/download), put into the store and analysed in full. A
// changeset still short of versions is incomplete, the text saying how many the analysis had.
//
// Analyse first asks the store and the API for everything the decision needs (previous
// versions, positions of way nodes, the ways of dragged nodes, the user's details), then
// builds the document over those values (state.build), asking nobody.
func (a *Analyzer) Analyse(ctx context.Context, in Input) (*Document, Stats, error) {
	s, elems, f, err := a.ask(ctx, in)
	if err != nil {
		return nil, s.stats, err
	}
	doc := s.build(in.Meta, elems, f)
	s.completeness(in, doc)
	return doc, s.stats, nil
}

// ask gathers what the decision reads: the changeset's versions (downloaded when short), their
// previous versions, the positions of their ways' nodes, the ways of nodes moved far and the
// user's details, from the store, then the API.
func (a *Analyzer) ask(ctx context.Context, in Input) (*state, []elements.Element, facts, error) {
	a = a.withDefaults()
	now := a.Now
	s := &state{a: a, csID: in.Meta.ID, known: map[elements.VKey]*elements.Element{}, hist: map[elements.Key][]*elements.Element{}, cs: map[elements.Key][]*elements.Element{}, at: map[int64]*elements.Element{}, missNode: map[int64]bool{}}
	var f facts
	elems, err := s.complete(ctx, in, in.Elems, now().UTC())
	if err != nil {
		return s, nil, f, err
	}
	elems = s.index(elems)
	s.tAt = editTime(elems, in.Meta, now().UTC())

	// 1. Previous versions of everything modified or deleted.
	if err := s.fetchPrevious(ctx, elems); err != nil {
		return s, nil, f, err
	}
	// 2. Positions of the way nodes the changeset does not hold, at the time of the edit.
	if err := s.resolveNodes(ctx, s.outsideWayNodes()); err != nil {
		return s, nil, f, err
	}
	f.analysedAt = now().UTC()
	// 3. The ways of the nodes moved far (dragged_node), 4. the user's details.
	f.drag = s.dragFacts(ctx)
	if f.user, err = s.userDetails(ctx, in.Meta, f.analysedAt); err != nil {
		return s, nil, f, err
	}
	return s, elems, f, nil
}

// facts are what analysis asked the store and the API beyond element versions and positions
// (those are in the state), and when: what the decision reads besides the state.
type facts struct {
	analysedAt time.Time // when the analysis asked (the document's analysed_at)
	drag       drag
	user       *osmapi.User // nil: unknown
}

// withDefaults is a copy of a with the defaults filled in (an Analyzer may be shared by
// goroutines).
func (a *Analyzer) withDefaults() *Analyzer {
	ac := *a
	if ac.Log == nil {
		ac.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if ac.Now == nil {
		ac.Now = time.Now
	}
	if ac.Config.Reasons.LongNameChars == 0 && ac.Config.Reasons.LargeBuildingM2 == 0 {
		ac.Config = config.Default().Analyse
	}
	return &ac
}

// index sorts a copy of the changeset's versions, fills in their actions (from version and
// visibility when unknown) and makes them known: the versions the analysis reads.
func (s *state) index(in []elements.Element) []elements.Element {
	elems := append([]elements.Element(nil), in...)
	elements.Sort(elems)
	for i := range elems {
		e := &elems[i]
		if e.Action == 0 {
			e.Action = elements.Modify
			if e.Version == 1 {
				e.Action = elements.Create
			}
			if !e.Visible {
				e.Action = elements.Delete
			}
		}
		s.add(e)
		k := e.Key()
		if _, ok := s.cs[k]; !ok {
			s.csKeys = append(s.csKeys, k)
		}
		s.cs[k] = append(s.cs[k], e)
	}
	return elems
}

// editTime is when the changeset edited: its newest version's timestamp, else its closing
// time, else now. Nodes outside the changeset are placed as they were then.
func editTime(elems []elements.Element, meta Meta, now time.Time) time.Time {
	t := now
	if len(elems) > 0 {
		t = elems[0].Timestamp
		for i := range elems {
			if elems[i].Timestamp.After(t) {
				t = elems[i].Timestamp
			}
		}
	} else if meta.ClosedAt != nil {
		t = *meta.ClosedAt
	}
	return t
}

// fetchPrevious makes the previous version of every version modified or deleted known (store,
// then API); those nobody has count as missing.
func (s *state) fetchPrevious(ctx context.Context, elems []elements.Element) error {
	var need []elements.VKey
	for i := range elems {
		e := &elems[i]
		if e.Version > 1 {
			pk := elements.VKey{Type: e.Type, ID: e.ID, Version: e.Version - 1}
			if _, ok := s.known[pk]; !ok {
				need = append(need, pk)
			}
		}
	}
	if err := s.fetchExact(ctx, need); err != nil {
		return err
	}
	for _, k := range need {
		if _, ok := s.known[k]; !ok {
			s.missPrev++
		}
	}
	return nil
}

// outsideWayNodes are the nodes of the changeset's ways (before and after) that the changeset
// does not hold, by id.
func (s *state) outsideWayNodes() []int64 {
	want := map[int64]bool{}
	for _, k := range s.csKeys {
		if k.Type != 'w' {
			continue
		}
		if after := s.after(k); after != nil {
			for _, n := range after.Nodes {
				want[n] = true
			}
		}
		if before := s.before(k); before != nil {
			for _, n := range before.Nodes {
				want[n] = true
			}
		}
	}
	var outside []int64
	for n := range want {
		if _, ok := s.cs[elements.Key{Type: 'n', ID: n}]; !ok {
			outside = append(outside, n)
		}
	}
	sort.Slice(outside, func(i, j int) bool { return outside[i] < outside[j] })
	return outside
}

// completeness says whether the document is complete (Complete, Missing, Incomplete): every
// previous version and way node position known, and no fewer changes than the metadata (or the
// diffs) counted.
func (s *state) completeness(in Input, doc *Document) {
	s.stats.Missing = s.missPrev + s.missPos
	doc.Missing = s.stats.Missing
	var why []string
	if want := in.Meta.ChangesCount; want > doc.Counts.Total {
		// The metadata counts more changes than the analysis had (and the download, if any, did
		// not make up for them).
		n := want - doc.Counts.Total
		s.stats.Missing += n
		doc.Missing += n
		src := in.Source
		if src == "" {
			src = "the element store"
		}
		why = append(why, fmt.Sprintf("%s holds %d of the changeset's %d changes%s", src, doc.Counts.Total, want, s.dlNote))
	} else if in.Meta.DiffTotal > doc.Counts.Total {
		// The diffs saw more versions of this changeset than the store holds.
		n := in.Meta.DiffTotal - doc.Counts.Total
		s.stats.Missing += n
		doc.Missing += n
		why = append(why, plural(n, "element version", "element versions")+" of the changeset not in the store")
	}
	doc.Complete = s.stats.Missing == 0
	if s.missPrev > 0 {
		why = append(why, plural(s.missPrev, "previous version", "previous versions")+" unavailable")
	}
	if s.missPos > 0 {
		why = append(why, plural(s.missPos, "way node position", "way node positions")+" unavailable")
	}
	doc.Incomplete = strings.Join(why, "; ")
}

// userDetails are the user's details of the analysis day, from the user cache, else the API
// (then cached); nil when not wanted (analyse.user_details), not asked for or unknown.
func (s *state) userDetails(ctx context.Context, meta Meta, analysedAt time.Time) (*osmapi.User, error) {
	if meta.UID <= 0 || !s.a.Config.UserDetails || (s.a.Users == nil && s.a.UserCache == nil) {
		return nil, nil
	}
	day := analysedAt.UTC().Truncate(24 * time.Hour)
	if s.a.UserCache != nil {
		cu, ok, err := s.a.UserCache.CachedUser(ctx, meta.UID, day)
		if err != nil {
			return nil, fmt.Errorf("user cache: %w", err)
		}
		if ok {
			return &cu, nil
		}
	}
	if s.a.Users == nil {
		return nil, nil
	}
	fu, err := s.a.Users.User(ctx, meta.UID)
	switch {
	case errors.Is(err, osmapi.ErrNotFound):
		s.a.Log.Info("user details unavailable", "uid", meta.UID, "err", err)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("OSM API: %w", err)
	}
	if s.a.UserCache != nil {
		if err := s.a.UserCache.PutUser(ctx, fu, day); err != nil {
			return nil, fmt.Errorf("user cache: %w", err)
		}
	}
	return &fu, nil
}

// dragFacts finds the nodes of the changeset moved farther than DraggedNodeM and why each
// move matters: a highway or waterway tag (DraggedNodeKeys) on the node or on one of its ways,
// from the changeset's ways, then the store's (WayFinder), then the API's (NodeWays); an
// untagged node whose ways nobody knows matters all the same. It also draws the lines of the
// moved nodes' ways outside the changeset (parentWays). Lookups that fail are logged: the
// reason then says less.
func (s *state) dragFacts(ctx context.Context) drag {
	d := drag{moved: map[int64]float64{}, because: s.wayNodesThatMatter(), ways: map[int64][]map[string]any{}}
	candidates := s.movedNodes(d)
	nodeWays := s.waysOfMovedNodes(ctx, d, candidates)
	var ids []int64
	for id := range d.moved {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if via := d.because[id]; via == "" || via == "-" {
			continue
		}
		if pw := s.parentWays(ctx, id, nodeWays[id]); len(pw) > 0 {
			d.ways[id] = pw
		}
	}
	return d
}

// wayNodesThatMatter are the nodes of the changeset's ways (before or after) tagged highway or
// waterway (DraggedNodeKeys), each with the first such way: "way 5 highway=primary".
func (s *state) wayNodesThatMatter() map[int64]string {
	because := map[int64]string{}
	s.eachWayVersion(func(w *elements.Element) {
		dk := ""
		for _, key := range s.a.Config.Reasons.DraggedNodeKeys {
			if v, ok := w.Tag(key); ok {
				dk = fmt.Sprintf("way %d %s=%s", w.ID, key, v)
				break
			}
		}
		for _, n := range w.Nodes {
			if dk != "" && because[n] == "" {
				because[n] = dk
			}
		}
	})
	return because
}

// movedNodes puts the changeset's nodes moved farther than DraggedNodeM into d.moved, with
// their own highway or waterway tag as the reason when nothing gave one yet; candidates are
// the moved nodes still without a reason, by id.
func (s *state) movedNodes(d drag) (candidates []int64) {
	rc := s.a.Config.Reasons
	for _, k := range s.csKeys {
		if k.Type != 'n' {
			continue
		}
		_, before, after, ok := s.beforeAfter(k)
		if !ok || before == nil || after == nil || !before.HasCoords || !after.HasCoords {
			continue
		}
		m := Haversine(orb.Point{before.Lon, before.Lat}, orb.Point{after.Lon, after.Lat})
		if m <= rc.DraggedNodeM {
			continue
		}
		d.moved[k.ID] = m
		for _, key := range rc.DraggedNodeKeys {
			for _, e := range []*elements.Element{after, before} {
				if v, ok := e.Tag(key); ok && d.because[k.ID] == "" {
					d.because[k.ID] = fmt.Sprintf("tag %s=%s", key, v)
				}
			}
		}
		if d.because[k.ID] == "" {
			candidates = append(candidates, k.ID)
		}
	}
	return candidates
}

// waysOfMovedNodes looks up the ways of the moved nodes whose move does not matter yet
// (candidates): in the store, then the API (whose answers go into the store). It sets
// d.because when one of them is a highway or waterway ("-": their ways are known and none is)
// and returns the ways found per moved node.
func (s *state) waysOfMovedNodes(ctx context.Context, d drag, candidates []int64) map[int64][]*elements.Element {
	nodeWays := map[int64][]*elements.Element{}
	if len(candidates) == 0 {
		return nodeWays
	}
	s.waysFromStore(ctx, d, candidates, nodeWays)
	// Still unknown: ask the API for the node's ways; when it cannot tell, an untagged node
	// (a way node) moved that far is flagged all the same, saying so.
	for _, id := range candidates {
		if d.because[id] != "" {
			continue
		}
		s.waysFromAPI(ctx, d, id, nodeWays)
		if d.because[id] == "" {
			if b := s.before(elements.Key{Type: 'n', ID: id}); b != nil && len(b.Tags) == 0 {
				d.because[id] = "untagged way node (its ways are unknown)"
			}
		}
	}
	return nodeWays
}

// waysFromStore adds the ways the store (a WayFinder) knows of the candidates to nodeWays, and
// the first highway or waterway among them to d.because.
func (s *state) waysFromStore(ctx context.Context, d drag, candidates []int64, nodeWays map[int64][]*elements.Element) {
	wf, ok := s.a.Store.(WayFinder)
	if !ok || s.a.Store == nil {
		return
	}
	ways, err := wf.WaysWithNodes(ctx, candidates)
	if err != nil {
		s.a.Log.Warn("dragged_node: could not look up ways", "err", err)
	}
	for i := range ways {
		w := &ways[i]
		for _, n := range w.Nodes {
			if _, m := d.moved[n]; m {
				nodeWays[n] = append(nodeWays[n], w)
			}
		}
		for _, key := range s.a.Config.Reasons.DraggedNodeKeys {
			if v, ok := w.Tag(key); ok {
				for _, n := range w.Nodes {
					if _, m := d.moved[n]; m && d.because[n] == "" {
						d.because[n] = fmt.Sprintf("way %d %s=%s", w.ID, key, v)
					}
				}
				break
			}
		}
	}
}

// waysFromAPI asks the API (a NodeWays) for the ways of node id, stores them, adds them to
// nodeWays and sets d.because: the first highway or waterway, or "-" when none is.
func (s *state) waysFromAPI(ctx context.Context, d drag, id int64, nodeWays map[int64][]*elements.Element) {
	nw, ok := s.a.API.(NodeWays)
	if !ok || s.a.API == nil {
		return
	}
	objs, err := nw.WaysOfNode(ctx, id)
	if err != nil {
		s.a.Log.Info("dragged_node: ways of node unavailable", "node", id, "err", err)
		return
	}
	ways := fromObjects(objs)
	if s.a.Store != nil {
		if err := s.a.Store.Put(ctx, ways); err != nil {
			s.a.Log.Warn("dragged_node: could not store ways", "err", err)
		}
	}
	for i := range ways {
		w := &ways[i]
		nodeWays[id] = append(nodeWays[id], w)
		for _, key := range s.a.Config.Reasons.DraggedNodeKeys {
			if v, ok := w.Tag(key); ok && d.because[id] == "" {
				d.because[id] = fmt.Sprintf("way %d %s=%s", w.ID, key, v)
			}
		}
	}
	if len(ways) > 0 && d.because[id] == "" {
		d.because[id] = "-" // its ways are known and none is a highway or waterway
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// fetchExact makes the given versions known: from the store, then from the API (whose answers
// go into the store).
func (s *state) fetchExact(ctx context.Context, keys []elements.VKey) error {
	if len(keys) == 0 {
		return nil
	}
	if s.a.Store != nil {
		got, err := s.a.Store.Versions(ctx, keys)
		if err != nil {
			return fmt.Errorf("element store: %w", err)
		}
		s.stats.FromStore += s.addAll(got)
	}
	if s.a.API == nil {
		return nil
	}
	var ids []elements.VKey
	for _, k := range keys {
		if _, ok := s.known[k]; !ok {
			ids = append(ids, k)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	oids := make([]osm.ObjectID, len(ids))
	for i, k := range ids {
		oids[i] = k.ObjectID()
	}
	objs, _, err := s.a.API.Versions(ctx, oids)
	if err != nil {
		return fmt.Errorf("OSM API: %w", err)
	}
	return s.putFetched(ctx, fromObjects(objs))
}

func (s *state) putFetched(ctx context.Context, es []elements.Element) error {
	if len(es) == 0 {
		return nil
	}
	if s.a.Store != nil {
		if err := s.a.Store.Put(ctx, es); err != nil {
			return fmt.Errorf("element store: put API answers: %w", err)
		}
	}
	s.stats.FromAPI += s.addAll(es)
	return nil
}

// resolveNodes finds, for nodes outside the changeset, the version valid at s.tAt: the newest
// known version not newer than tAt. Missing versions come from the store, then the API: the
// current version (multi-fetch), then older versions one step at a time, each round batched.
func (s *state) resolveNodes(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	keys := make([]elements.Key, len(ids))
	for i, id := range ids {
		keys[i] = elements.Key{Type: 'n', ID: id}
	}
	if s.a.Store != nil {
		got, err := s.a.Store.History(ctx, keys)
		if err != nil {
			return fmt.Errorf("element store: %w", err)
		}
		s.stats.FromStore += s.addAll(got)
	}
	asked := nodeAsks{current: map[int64]bool{}, exact: map[elements.VKey]bool{}}
	pending := ids
	for round := 0; ; round++ {
		exact, current, still := s.placeNodes(pending, asked)
		pending = still
		if len(pending) == 0 || s.a.API == nil || round > 50 {
			break
		}
		if len(exact) > 0 {
			if err := s.fetchExact(ctx, exact); err != nil {
				return err
			}
		}
		if err := s.fetchCurrent(ctx, current); err != nil {
			return err
		}
	}
	return nil
}

// nodeAsks are the node versions (exact) and current nodes asked for already.
type nodeAsks struct {
	current map[int64]bool
	exact   map[elements.VKey]bool
}

// placeNodes sets, for each node, the version valid at s.tAt when known (s.at), and lists what
// to ask for the others: the version before the oldest known (exact), or the current version
// when none is known (current), each once. still are the nodes waiting for an answer; nodes
// nobody can place any more are dropped.
func (s *state) placeNodes(ids []int64, asked nodeAsks) (exact []elements.VKey, current []elements.Key, still []int64) {
	for _, id := range ids {
		h := s.hist[elements.Key{Type: 'n', ID: id}]
		var pick *elements.Element
		for i := len(h) - 1; i >= 0; i-- {
			if !h[i].Timestamp.After(s.tAt) {
				pick = h[i]
				break
			}
		}
		if pick != nil {
			s.at[id] = pick
			continue
		}
		switch {
		case len(h) > 0 && h[0].Version > 1 && !asked.exact[elements.VKey{Type: 'n', ID: id, Version: h[0].Version - 1}]:
			vk := elements.VKey{Type: 'n', ID: id, Version: h[0].Version - 1}
			asked.exact[vk] = true
			exact = append(exact, vk)
		case len(h) == 0 && !asked.current[id]:
			asked.current[id] = true
			current = append(current, elements.Key{Type: 'n', ID: id})
		default:
			continue // nobody has it
		}
		still = append(still, id)
	}
	return exact, current, still
}

// fetchCurrent asks the API for the current versions of the elements (they go into the store).
func (s *state) fetchCurrent(ctx context.Context, keys []elements.Key) error {
	if len(keys) == 0 {
		return nil
	}
	fids := make([]osm.FeatureID, len(keys))
	for i, k := range keys {
		fids[i] = k.FeatureID()
	}
	objs, _, err := s.a.API.Current(ctx, fids)
	if err != nil {
		return fmt.Errorf("OSM API: %w", err)
	}
	return s.putFetched(ctx, fromObjects(objs))
}

// before is the element's state before the changeset (nil when created or unknown).
func (s *state) before(k elements.Key) *elements.Element {
	vs := s.cs[k]
	if len(vs) == 0 || vs[0].Version <= 1 {
		return nil
	}
	return s.known[elements.VKey{Type: k.Type, ID: k.ID, Version: vs[0].Version - 1}]
}

// after is the element's state after the changeset (nil when deleted).
func (s *state) after(k elements.Key) *elements.Element {
	vs := s.cs[k]
	if len(vs) == 0 {
		return nil
	}
	l := vs[len(vs)-1]
	if !l.Visible || l.Action == elements.Delete {
		return nil
	}
	return l
}

// prevOf is the version before e (nil for version 1 or unknown).
func (s *state) prevOf(e *elements.Element) *elements.Element {
	if e.Version <= 1 {
		return nil
	}
	return s.known[elements.VKey{Type: e.Type, ID: e.ID, Version: e.Version - 1}]
}

// nodePos is a node's position after (after=true) or before the changeset.
func (s *state) nodePos(id int64, after bool) (orb.Point, bool) {
	var e *elements.Element
	if _, ok := s.cs[elements.Key{Type: 'n', ID: id}]; ok {
		if after {
			e = s.after(elements.Key{Type: 'n', ID: id})
		} else {
			e = s.before(elements.Key{Type: 'n', ID: id})
		}
	} else {
		e = s.at[id]
	}
	if e == nil || !e.Visible || !e.HasCoords {
		return orb.Point{}, false
	}
	return orb.Point{e.Lon, e.Lat}, true
}

// Bounds of a dragged node's parent ways in its evidence.
const (
	maxParentWays      = 5
	maxParentWayNodes  = 2000
	maxParentWayLookup = 5000 // node positions looked up in the store per node
)

// parentWays returns the ways of a dragged node that the changeset did not touch (the ways
// of the changeset are in the geometry already), each with its line before and after the move:
// {"id", "label", "before", "after"} with [lon, lat] points. The positions of their other nodes
// come from what analysis knows, then from the store (the newest version at the changeset's
// time); nodes without a position are left out of the lines. Only ways with two points or more.
func (s *state) parentWays(ctx context.Context, node int64, ways []*elements.Element) []map[string]any {
	picked, need := s.parentWaysToDraw(ways)
	s.locateAtEditTime(ctx, node, need)
	return s.parentLines(picked)
}

// parentWaysToDraw picks up to maxParentWays distinct ways the changeset did not touch, and
// the nodes of theirs without a known position (at most maxParentWayLookup).
func (s *state) parentWaysToDraw(ways []*elements.Element) (picked []*elements.Element, need []elements.Key) {
	seen := map[int64]bool{}
	for _, w := range ways {
		if len(picked) >= maxParentWays || seen[w.ID] {
			continue
		}
		if _, touched := s.cs[elements.Key{Type: 'w', ID: w.ID}]; touched {
			continue
		}
		seen[w.ID] = true
		for i, n := range w.Nodes {
			if i >= maxParentWayNodes || len(need) >= maxParentWayLookup {
				break
			}
			if _, in := s.cs[elements.Key{Type: 'n', ID: n}]; !in && s.at[n] == nil {
				need = append(need, elements.Key{Type: 'n', ID: n})
			}
		}
		picked = append(picked, w)
	}
	return picked, need
}

// locateAtEditTime reads the nodes' versions from the store and keeps, per node, the newest
// located version not newer than the edit (s.at). A failure is logged: the lines then lack
// those nodes.
func (s *state) locateAtEditTime(ctx context.Context, node int64, need []elements.Key) {
	if len(need) == 0 || s.a.Store == nil {
		return
	}
	vs, err := s.a.Store.History(ctx, need)
	if err != nil {
		s.a.Log.Info("dragged_node: positions of its ways' nodes unavailable", "node", node, "err", err)
	}
	for i := range vs {
		v := &vs[i]
		if v.Type != 'n' || v.Timestamp.After(s.tAt) || !v.Visible || !v.HasCoords {
			continue
		}
		if cur := s.at[v.ID]; cur == nil || cur.Version < v.Version {
			s.at[v.ID] = v
		}
	}
}

// parentLines draws the ways before and after the changeset from the positions known (up to
// maxParentWayNodes nodes each); ways with fewer than two points both times are left out.
func (s *state) parentLines(ways []*elements.Element) []map[string]any {
	var res []map[string]any
	for _, w := range ways {
		nodes := w.Nodes
		if len(nodes) > maxParentWayNodes {
			nodes = nodes[:maxParentWayNodes]
		}
		line := func(after bool) [][]float64 {
			ls := make([][]float64, 0, len(nodes))
			for _, n := range nodes {
				if p, ok := s.nodePos(n, after); ok {
					ls = append(ls, []float64{p[0], p[1]})
				}
			}
			return ls
		}
		before, after := line(false), line(true)
		if len(before) < 2 && len(after) < 2 {
			continue
		}
		res = append(res, map[string]any{"id": w.ID, "label": Label('w', w.ID, w.Tags), "before": before, "after": after})
	}
	return res
}

// wayLine is the way's line from node positions; missing counts nodes without a position.
func (s *state) wayLine(w *elements.Element, after bool) (orb.LineString, int) {
	ls := make(orb.LineString, 0, len(w.Nodes))
	missing := 0
	for _, n := range w.Nodes {
		p, ok := s.nodePos(n, after)
		if !ok {
			missing++
			if s.countMissing {
				s.missNode[n] = true
			}
			continue
		}
		ls = append(ls, p)
	}
	return ls, missing
}

// Haversine is the great-circle distance in metres (mean Earth radius 6,371,008.8 m).
func Haversine(a, b orb.Point) float64 {
	lat1, lat2 := a[1]*math.Pi/180, b[1]*math.Pi/180
	dlat := lat2 - lat1
	dlon := (b[0] - a[0]) * math.Pi / 180
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1)*math.Cos(lat2)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * EarthRadius * math.Asin(math.Min(1, math.Sqrt(h)))
}

// LineLength is the haversine length of a line in metres.
func LineLength(ls orb.LineString) float64 {
	l := 0.0
	for i := 1; i < len(ls); i++ {
		l += Haversine(ls[i-1], ls[i])
	}
	return l
}

var labelKeys = []string{"highway", "building", "amenity", "shop", "leisure", "tourism", "landuse", "natural", "waterway",
	"railway", "place", "boundary", "man_made", "power", "barrier", "aeroway", "aerialway", "public_transport", "office",
	"craft", "historic", "emergency", "military", "healthcare", "sport", "route", "cycleway", "entrance", "information", "type"}

// Label is what a person reads for an element: `highway=residential "Main Street"`, else
// `node 123` (with the name when there is one).
func Label(t byte, id int64, tags []elements.Tag) string {
	get := func(k string) (string, bool) {
		for _, tg := range tags {
			if tg.Key == k {
				return tg.Value, true
			}
		}
		return "", false
	}
	name, _ := get("name")
	for _, k := range labelKeys {
		if v, ok := get(k); ok {
			if name != "" {
				return fmt.Sprintf("%s=%s %q", k, v, name)
			}
			return k + "=" + v
		}
	}
	if name != "" {
		return fmt.Sprintf("%s %d %q", TypeName(t), id, name)
	}
	return fmt.Sprintf("%s %d", TypeName(t), id)
}

// tagMap is tags as a map (nil and no tags: an empty map).
func tagMap(tags []elements.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

func hashtags(meta Meta) []string {
	out := []string{}
	seen := map[string]bool{}
	add := func(h string) {
		h = strings.TrimSpace(h)
		h = strings.TrimRight(h, ".,;:!?)")
		if len(h) < 2 || !strings.HasPrefix(h, "#") || seen[strings.ToLower(h)] {
			return
		}
		seen[strings.ToLower(h)] = true
		out = append(out, h)
	}
	if v := meta.Tags["hashtags"]; v != "" {
		for _, h := range strings.Split(v, ";") {
			h = strings.TrimSpace(h)
			if h != "" && !strings.HasPrefix(h, "#") {
				h = "#" + h
			}
			add(h)
		}
	}
	for _, w := range strings.Fields(meta.Tags["comment"]) {
		if strings.HasPrefix(w, "#") {
			add(w)
		}
	}
	return out
}

func tagDiff(before, after []elements.Tag) (added, removed map[string]string, changed map[string][2]string) {
	added, removed, changed = map[string]string{}, map[string]string{}, map[string][2]string{}
	find := func(tags []elements.Tag, k string) (string, bool) {
		for _, t := range tags {
			if t.Key == k {
				return t.Value, true
			}
		}
		return "", false
	}
	for _, t := range after {
		if ov, ok := find(before, t.Key); !ok {
			added[t.Key] = t.Value
		} else if ov != t.Value {
			changed[t.Key] = [2]string{ov, t.Value}
		}
	}
	for _, t := range before {
		if _, ok := find(after, t.Key); !ok {
			removed[t.Key] = t.Value
		}
	}
	return
}

func idCounts(ids []int64) map[int64]int {
	m := make(map[int64]int, len(ids))
	for _, id := range ids {
		m[id]++
	}
	return m
}

func memberDiff(before, after []elements.Member) (added, removed int, reordered bool) {
	bc := map[elements.Member]int{}
	for _, m := range before {
		bc[m]++
	}
	ac := map[elements.Member]int{}
	for _, m := range after {
		ac[m]++
	}
	for m, n := range ac {
		if d := n - bc[m]; d > 0 {
			added += d
		}
	}
	for m, n := range bc {
		if d := n - ac[m]; d > 0 {
			removed += d
		}
	}
	// Order of the members both versions keep.
	var kb, ka []elements.Member
	keep := map[elements.Member]int{}
	for m, n := range bc {
		keep[m] = min(n, ac[m])
	}
	k1 := map[elements.Member]int{}
	for _, m := range before {
		if k1[m] < keep[m] {
			k1[m]++
			kb = append(kb, m)
		}
	}
	k2 := map[elements.Member]int{}
	for _, m := range after {
		if k2[m] < keep[m] {
			k2[m]++
			ka = append(ka, m)
		}
	}
	for i := range kb {
		if kb[i] != ka[i] {
			reordered = true
			break
		}
	}
	return
}

func ptr[T any](v T) *T { return &v }
