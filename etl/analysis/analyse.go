package analysis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"

	"github.com/osmtrack/osmtrack/etl/config"
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
	Elems []Elem
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
	known        map[VKey]*Elem
	hist         map[Key][]*Elem // versions known per element, sorted by version
	cs           map[Key][]*Elem // the changeset's versions per element
	csKeys       []Key
	at           map[int64]*Elem // node version valid at tAt (nodes outside the changeset)
	tAt          time.Time
	stats        Stats
	missPrev     int
	missPos      int
	missNode     map[int64]bool // distinct way nodes without a position
	countMissing bool
	dlNote       string // completes "… holds N of the changeset's M changes"
}

func (s *state) add(e *Elem) bool {
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

func (s *state) addAll(es []Elem) int {
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
func (a *Analyzer) Analyse(ctx context.Context, in Input) (*Document, Stats, error) {
	// A copy with the defaults filled in: an Analyzer may be shared by goroutines.
	ac := *a
	a = &ac
	if a.Log == nil {
		a.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if a.Config.Reasons.LongNameChars == 0 && a.Config.Reasons.LargeBuildingM2 == 0 {
		a.Config = config.Default().Analyse
	}
	s := &state{a: a, csID: in.Meta.ID, known: map[VKey]*Elem{}, hist: map[Key][]*Elem{}, cs: map[Key][]*Elem{}, at: map[int64]*Elem{}, missNode: map[int64]bool{}}
	elems, err := s.complete(ctx, in, in.Elems, now().UTC())
	if err != nil {
		return nil, s.stats, err
	}
	elems = append([]Elem(nil), elems...)
	SortElems(elems)
	for i := range elems {
		e := &elems[i]
		if e.Action == "" {
			e.Action = "modify"
			if e.Version == 1 {
				e.Action = "create"
			}
			if !e.Visible {
				e.Action = "delete"
			}
		}
		if e.Tags == nil {
			e.Tags = map[string]string{}
		}
		s.add(e)
		k := e.Key()
		if _, ok := s.cs[k]; !ok {
			s.csKeys = append(s.csKeys, k)
		}
		s.cs[k] = append(s.cs[k], e)
	}
	s.tAt = now().UTC()
	if len(elems) > 0 {
		s.tAt = elems[0].TS
		for i := range elems {
			if elems[i].TS.After(s.tAt) {
				s.tAt = elems[i].TS
			}
		}
	} else if in.Meta.ClosedAt != nil {
		s.tAt = *in.Meta.ClosedAt
	}

	// 1. Previous versions of everything modified or deleted.
	var need []VKey
	for i := range elems {
		e := &elems[i]
		if e.Version > 1 {
			pk := VKey{Type: e.Type, ID: e.ID, Version: e.Version - 1}
			if _, ok := s.known[pk]; !ok {
				need = append(need, pk)
			}
		}
	}
	if err := s.fetchExact(ctx, need); err != nil {
		return nil, s.stats, err
	}
	for _, k := range need {
		if _, ok := s.known[k]; !ok {
			s.missPrev++
		}
	}

	// 2. Positions of the way nodes the changeset does not hold, at the time of the edit.
	wantNodes := map[int64]bool{}
	for _, k := range s.csKeys {
		if k.Type != 'w' {
			continue
		}
		if after := s.after(k); after != nil {
			for _, n := range after.Nodes {
				wantNodes[n] = true
			}
		}
		if before := s.before(k); before != nil {
			for _, n := range before.Nodes {
				wantNodes[n] = true
			}
		}
	}
	var outside []int64
	for n := range wantNodes {
		if _, ok := s.cs[Key{Type: 'n', ID: n}]; !ok {
			outside = append(outside, n)
		}
	}
	sort.Slice(outside, func(i, j int) bool { return outside[i] < outside[j] })
	if err := s.resolveNodes(ctx, outside); err != nil {
		return nil, s.stats, err
	}

	doc := s.build(ctx, in.Meta, elems, now().UTC())
	if err := s.userReasons(ctx, in.Meta, doc); err != nil {
		return nil, s.stats, err
	}
	// Changeset-level reasons first, then per-element ones, each group in the order found.
	sort.SliceStable(doc.Reasons, func(i, j int) bool { return doc.Reasons[i].Element == nil && doc.Reasons[j].Element != nil })
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
	return doc, s.stats, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// fetchExact makes the given versions known: from the store, then from the API (whose answers
// go into the store).
func (s *state) fetchExact(ctx context.Context, keys []VKey) error {
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
	var ids []VKey
	for _, k := range keys {
		if _, ok := s.known[k]; !ok {
			ids = append(ids, k)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	oids := make([]osmObjectID, len(ids))
	for i, k := range ids {
		oids[i] = k.ObjectID()
	}
	objs, _, err := s.a.API.Versions(ctx, oids)
	if err != nil {
		return fmt.Errorf("OSM API: %w", err)
	}
	return s.putFetched(ctx, FromObjects(objs, ""))
}

func (s *state) putFetched(ctx context.Context, es []Elem) error {
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
	keys := make([]Key, len(ids))
	for i, id := range ids {
		keys[i] = Key{Type: 'n', ID: id}
	}
	if s.a.Store != nil {
		got, err := s.a.Store.History(ctx, keys)
		if err != nil {
			return fmt.Errorf("element store: %w", err)
		}
		s.stats.FromStore += s.addAll(got)
	}
	askedCurrent := map[int64]bool{}
	askedExact := map[VKey]bool{}
	pending := ids
	for round := 0; ; round++ {
		var exact []VKey
		var current []Key
		var still []int64
		for _, id := range pending {
			h := s.hist[Key{Type: 'n', ID: id}]
			var pick *Elem
			for i := len(h) - 1; i >= 0; i-- {
				if !h[i].TS.After(s.tAt) {
					pick = h[i]
					break
				}
			}
			if pick != nil {
				s.at[id] = pick
				continue
			}
			switch {
			case len(h) > 0 && h[0].Version > 1 && !askedExact[VKey{Type: 'n', ID: id, Version: h[0].Version - 1}]:
				vk := VKey{Type: 'n', ID: id, Version: h[0].Version - 1}
				askedExact[vk] = true
				exact = append(exact, vk)
			case len(h) == 0 && !askedCurrent[id]:
				askedCurrent[id] = true
				current = append(current, Key{Type: 'n', ID: id})
			default:
				continue // nobody has it
			}
			still = append(still, id)
		}
		pending = still
		if len(pending) == 0 || s.a.API == nil || round > 50 {
			break
		}
		if len(exact) > 0 {
			if err := s.fetchExact(ctx, exact); err != nil {
				return err
			}
		}
		if len(current) > 0 {
			fids := make([]osmFeatureID, len(current))
			for i, k := range current {
				fids[i] = k.FeatureID()
			}
			objs, _, err := s.a.API.Current(ctx, fids)
			if err != nil {
				return fmt.Errorf("OSM API: %w", err)
			}
			if err := s.putFetched(ctx, FromObjects(objs, "")); err != nil {
				return err
			}
		}
	}
	return nil
}

// before is the element's state before the changeset (nil when created or unknown).
func (s *state) before(k Key) *Elem {
	vs := s.cs[k]
	if len(vs) == 0 || vs[0].Version <= 1 {
		return nil
	}
	return s.known[VKey{Type: k.Type, ID: k.ID, Version: vs[0].Version - 1}]
}

// after is the element's state after the changeset (nil when deleted).
func (s *state) after(k Key) *Elem {
	vs := s.cs[k]
	if len(vs) == 0 {
		return nil
	}
	l := vs[len(vs)-1]
	if !l.Visible || l.Action == "delete" {
		return nil
	}
	return l
}

// prevOf is the version before e (nil for version 1 or unknown).
func (s *state) prevOf(e *Elem) *Elem {
	if e.Version <= 1 {
		return nil
	}
	return s.known[VKey{Type: e.Type, ID: e.ID, Version: e.Version - 1}]
}

// nodePos is a node's position after (after=true) or before the changeset.
func (s *state) nodePos(id int64, after bool) (orb.Point, bool) {
	var e *Elem
	if _, ok := s.cs[Key{Type: 'n', ID: id}]; ok {
		if after {
			e = s.after(Key{Type: 'n', ID: id})
		} else {
			e = s.before(Key{Type: 'n', ID: id})
		}
	} else {
		e = s.at[id]
	}
	if e == nil || !e.Visible || !e.HasLoc {
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
func (s *state) parentWays(ctx context.Context, node int64, ways []*Elem) []map[string]any {
	var out []map[string]any
	seen := map[int64]bool{}
	var need []Key
	for _, w := range ways {
		if len(out) >= maxParentWays || seen[w.ID] {
			continue
		}
		if _, touched := s.cs[Key{Type: 'w', ID: w.ID}]; touched {
			continue
		}
		seen[w.ID] = true
		for i, n := range w.Nodes {
			if i >= maxParentWayNodes || len(need) >= maxParentWayLookup {
				break
			}
			if _, in := s.cs[Key{Type: 'n', ID: n}]; !in && s.at[n] == nil {
				need = append(need, Key{Type: 'n', ID: n})
			}
		}
		out = append(out, map[string]any{"id": w.ID, "label": Label('w', w.ID, w.Tags), "w": w})
	}
	if len(need) > 0 && s.a.Store != nil {
		vs, err := s.a.Store.History(ctx, need)
		if err != nil {
			s.a.Log.Info("dragged_node: positions of its ways' nodes unavailable", "node", node, "err", err)
		}
		for i := range vs {
			v := &vs[i]
			if v.Type != 'n' || v.TS.After(s.tAt) || !v.Visible || !v.HasLoc {
				continue
			}
			if cur := s.at[v.ID]; cur == nil || cur.Version < v.Version {
				s.at[v.ID] = v
			}
		}
	}
	var res []map[string]any
	for _, m := range out {
		w := m["w"].(*Elem)
		delete(m, "w")
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
		m["before"], m["after"] = before, after
		res = append(res, m)
	}
	return res
}

// wayLine is the way's line from node positions; missing counts nodes without a position.
func (s *state) wayLine(w *Elem, after bool) (orb.LineString, int) {
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
func Label(t byte, id int64, tags map[string]string) string {
	name := tags["name"]
	for _, k := range labelKeys {
		if v, ok := tags[k]; ok {
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

func (s *state) lengthKey(tags map[string]string) []string {
	var out []string
	for _, k := range s.a.Config.LengthKeys {
		if v, ok := tags[k]; ok && v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
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

func tagDiff(before, after map[string]string) (added, removed map[string]string, changed map[string][2]string) {
	added, removed, changed = map[string]string{}, map[string]string{}, map[string][2]string{}
	for k, v := range after {
		if ov, ok := before[k]; !ok {
			added[k] = v
		} else if ov != v {
			changed[k] = [2]string{ov, v}
		}
	}
	for k, v := range before {
		if _, ok := after[k]; !ok {
			removed[k] = v
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

func memberDiff(before, after []Member) (added, removed int, reordered bool) {
	bc := map[Member]int{}
	for _, m := range before {
		bc[m]++
	}
	ac := map[Member]int{}
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
	var kb, ka []Member
	keep := map[Member]int{}
	for m, n := range bc {
		keep[m] = min(n, ac[m])
	}
	k1 := map[Member]int{}
	for _, m := range before {
		if k1[m] < keep[m] {
			k1[m]++
			kb = append(kb, m)
		}
	}
	k2 := map[Member]int{}
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

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func (s *state) build(ctx context.Context, meta Meta, elems []Elem, now time.Time) *Document {
	cfg := s.a.Config
	d := &Document{SchemaVersion: SchemaVersion, AnalysedAt: now,
		Elements: []Element{}, LengthM: map[string]Length{}, OtherUsers: []OtherUser{}, Reasons: []Reason{},
		TagSummary: TagSummary{Added: map[string]int{}, Removed: map[string]int{}, Changed: map[string]int{}}}
	tags := meta.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	d.Changeset = Changeset{ID: meta.ID, User: meta.User, UID: meta.UID, CreatedAt: meta.CreatedAt, ClosedAt: meta.ClosedAt,
		Open: meta.Open, CommentsCount: meta.CommentsCount, ChangesCount: meta.ChangesCount, Tags: tags, BBox: meta.BBox,
		Editor: tags["created_by"], Hashtags: hashtags(meta), Comment: tags["comment"]}

	others := map[int64]*OtherUser{}
	var otherOrder []int64
	for i := range elems {
		e := &elems[i]
		tc := &d.Counts.Create
		switch e.Action {
		case "modify":
			tc = &d.Counts.Modify
		case "delete":
			tc = &d.Counts.Delete
		}
		switch e.Type {
		case 'n':
			tc.Node++
		case 'w':
			tc.Way++
		case 'r':
			tc.Relation++
		}
		prev := s.prevOf(e)
		el := Element{Type: TypeName(e.Type), ID: e.ID, Version: e.Version, Action: e.Action}
		cur := e.Tags
		if e.Action == "delete" {
			cur = map[string]string{}
		}
		var before map[string]string
		switch {
		case e.Action == "create":
			before = map[string]string{}
		case prev != nil:
			before = prev.Tags
		}
		if before != nil {
			el.TagsAdded, el.TagsRemoved, el.TagsChanged = tagDiff(before, cur)
		} else {
			el.TagsAdded, el.TagsRemoved, el.TagsChanged = map[string]string{}, map[string]string{}, map[string][2]string{}
			el.BeforeMissing = true
		}
		shown := cur
		if e.Action == "delete" && prev != nil {
			shown = prev.Tags
		}
		if len(shown) > 0 {
			el.Tags = shown
		}
		for k, v := range el.TagsAdded {
			d.TagSummary.Added[k+"="+v]++
		}
		for k, v := range el.TagsRemoved {
			d.TagSummary.Removed[k+"="+v]++
		}
		for k, v := range el.TagsChanged {
			d.TagSummary.Changed[k+": "+v[0]+" → "+v[1]]++
		}
		if prev != nil {
			el.PrevUser, el.PrevUID, el.PrevVersion, el.PrevSource = prev.User, prev.UID, prev.Version, prev.Source.String()
			if prev.Changeset != s.csID && (prev.UID != meta.UID || (prev.UID == 0 && prev.User != meta.User)) {
				o := others[prev.UID]
				if o == nil {
					o = &OtherUser{User: prev.User, UID: prev.UID}
					others[prev.UID] = o
					otherOrder = append(otherOrder, prev.UID)
				}
				o.Count++
				if e.Action == "delete" {
					o.Deleted++
				} else {
					o.Modified++
				}
			}
		}
		switch e.Type {
		case 'n':
			if e.Action == "modify" && prev != nil && prev.HasLoc && e.HasLoc {
				el.MovedM = ptr(round1(Haversine(orb.Point{prev.Lon, prev.Lat}, orb.Point{e.Lon, e.Lat})))
			}
		case 'w':
			var a, r int
			switch {
			case e.Action == "create":
				a = len(e.Nodes)
			case prev == nil:
			case e.Action == "delete":
				r = len(prev.Nodes)
			default:
				bc, ac := idCounts(prev.Nodes), idCounts(e.Nodes)
				for id, n := range ac {
					if dd := n - bc[id]; dd > 0 {
						a += dd
					}
				}
				for id, n := range bc {
					if dd := n - ac[id]; dd > 0 {
						r += dd
					}
				}
			}
			if e.Action == "create" || prev != nil {
				el.NodesAdded, el.NodesRemoved = ptr(a), ptr(r)
			}
			w := e
			isAfter := true
			if e.Action == "delete" {
				w, isAfter = prev, false
			}
			if w != nil && (e.Version == s.cs[e.Key()][len(s.cs[e.Key()])-1].Version) {
				ls, miss := s.wayLine(w, isAfter)
				if miss == 0 && len(ls) > 1 {
					el.LengthM = ptr(round1(LineLength(ls)))
				} else if miss > 0 {
					el.BeforeMissing = el.BeforeMissing || !isAfter
				}
			}
		case 'r':
			switch {
			case e.Action == "create":
				el.MembersAdded, el.MembersRemoved, el.MembersReordered = ptr(len(e.Members)), ptr(0), ptr(false)
			case prev == nil:
			case e.Action == "delete":
				el.MembersAdded, el.MembersRemoved, el.MembersReordered = ptr(0), ptr(len(prev.Members)), ptr(false)
			default:
				a, r, ro := memberDiff(prev.Members, e.Members)
				el.MembersAdded, el.MembersRemoved, el.MembersReordered = ptr(a), ptr(r), ptr(ro)
			}
		}
		lt := shown
		if lt == nil {
			lt = map[string]string{}
		}
		el.Label = Label(e.Type, e.ID, lt)
		d.Elements = append(d.Elements, el)
	}
	d.Counts.Total = d.Counts.Create.Sum() + d.Counts.Modify.Sum() + d.Counts.Delete.Sum()
	for _, uid := range otherOrder {
		d.OtherUsers = append(d.OtherUsers, *others[uid])
	}
	sort.SliceStable(d.OtherUsers, func(i, j int) bool { return d.OtherUsers[i].Count > d.OtherUsers[j].Count })

	s.netPass(ctx, d)
	d.Reasons = append(changesetReasons(cfg, meta, d.Counts), d.Reasons...)
	return d
}

// netPass computes, per element (first version before, last version after): geometry, lengths
// and the per-element reasons.
func (s *state) netPass(ctx context.Context, d *Document) {
	cfg := s.a.Config
	rc := cfg.Reasons
	s.countMissing = true
	defer func() { s.countMissing = false; s.missPos = len(s.missNode) }()
	fc := geojson.NewFeatureCollection()
	// Nodes drawn as part of a way are not drawn again unless tagged.
	inWay := map[int64]bool{}
	dragKeys := map[int64]string{}
	for _, k := range s.csKeys {
		if k.Type != 'w' {
			continue
		}
		for _, w := range []*Elem{s.before(k), s.after(k)} {
			if w == nil {
				continue
			}
			dk := ""
			for _, key := range rc.DraggedNodeKeys {
				if v, ok := w.Tags[key]; ok {
					dk = fmt.Sprintf("way %d %s=%s", w.ID, key, v)
					break
				}
			}
			for _, n := range w.Nodes {
				inWay[n] = true
				if dk != "" && dragKeys[n] == "" {
					dragKeys[n] = dk
				}
			}
		}
	}
	addFeature := func(g orb.Geometry, action string, e *Elem, st string) {
		f := geojson.NewFeature(g)
		f.Properties["action"] = action
		f.Properties["type"] = TypeName(e.Type)
		f.Properties["id"] = e.ID
		f.Properties["version"] = e.Version
		f.Properties["state"] = st
		if l := Label(e.Type, e.ID, e.Tags); l != "" {
			f.Properties["label"] = l
		}
		fc.Append(f)
	}
	var dragCandidates []int64
	moved := map[int64]float64{}
	for _, k := range s.csKeys {
		vs := s.cs[k]
		first, last := vs[0], vs[len(vs)-1]
		before := s.before(k)
		after := s.after(k)
		action := "modify"
		switch {
		case first.Version == 1 || first.Action == "create":
			action = "create"
			before = nil
		case after == nil:
			action = "delete"
		}
		if action == "create" && after == nil {
			continue
		}
		ref := &ElementRef{Type: TypeName(k.Type), ID: k.ID, Version: last.Version}
		label := ""
		if after != nil {
			label = Label(k.Type, k.ID, after.Tags)
		} else if before != nil {
			label = Label(k.Type, k.ID, before.Tags)
		}
		switch k.Type {
		case 'n':
			show := func(e *Elem) bool { return e != nil && (len(e.Tags) > 0 || !inWay[k.ID]) && e.HasLoc }
			if show(before) {
				addFeature(orb.Point{before.Lon, before.Lat}, action, before, "before")
			}
			if show(after) {
				addFeature(orb.Point{after.Lon, after.Lat}, action, after, "after")
			}
			if before != nil && after != nil && before.HasLoc && after.HasLoc {
				m := Haversine(orb.Point{before.Lon, before.Lat}, orb.Point{after.Lon, after.Lat})
				if m > rc.DraggedNodeM {
					moved[k.ID] = m
					for _, key := range rc.DraggedNodeKeys {
						for _, t := range []map[string]string{after.Tags, before.Tags} {
							if v, ok := t[key]; ok && dragKeys[k.ID] == "" {
								dragKeys[k.ID] = fmt.Sprintf("tag %s=%s", key, v)
							}
						}
					}
					if dragKeys[k.ID] == "" {
						dragCandidates = append(dragCandidates, k.ID)
					}
				}
			}
			if before != nil && (before.Tags["place"] != "") && (action == "delete" || (after != nil && (after.Tags["place"] != before.Tags["place"] || after.Tags["name"] != before.Tags["name"]))) {
				ev := map[string]any{"before": map[string]any{"place": before.Tags["place"], "name": before.Tags["name"]}}
				if after != nil {
					ev["after"] = map[string]any{"place": after.Tags["place"], "name": after.Tags["name"]}
				} else {
					ev["after"] = nil
				}
				ev["action"] = action
				d.Reasons = append(d.Reasons, Reason{Code: "place_changed", Text: fmt.Sprintf("Place %s was %s", label, map[bool]string{true: "deleted", false: "renamed or retyped"}[action == "delete"]), Evidence: ev, Element: ref})
			}
		case 'w':
			var lb, la float64
			var okb, oka bool
			if before != nil {
				ls, miss := s.wayLine(before, false)
				if len(ls) > 1 {
					addFeature(ls, action, before, "before")
				}
				lb, okb = LineLength(ls), miss == 0
			}
			if after != nil {
				ls, miss := s.wayLine(after, true)
				if len(ls) > 1 {
					addFeature(ls, action, after, "after")
				}
				la, oka = LineLength(ls), miss == 0
				if bv, ok := after.Tags["building"]; ok && bv != "no" && oka && len(ls) >= 4 && ls[0] == ls[len(ls)-1] {
					area := geo.Area(orb.Polygon{orb.Ring(ls)})
					if area > rc.LargeBuildingM2 {
						d.Reasons = append(d.Reasons, Reason{Code: "large_building", Text: fmt.Sprintf("Building %s covers %.0f m²", label, area),
							Evidence: map[string]any{"area_m2": math.Round(area), "threshold_m2": rc.LargeBuildingM2, "building": bv}, Element: ref})
					}
				}
			}
			switch action {
			case "create":
				if oka {
					for _, kv := range s.lengthKey(after.Tags) {
						l := d.LengthM[kv]
						l.Created += la
						d.LengthM[kv] = l
					}
				}
			case "delete":
				if before != nil && okb {
					for _, kv := range s.lengthKey(before.Tags) {
						l := d.LengthM[kv]
						l.Deleted += lb
						d.LengthM[kv] = l
					}
				}
				if before != nil {
					hw := before.Tags["highway"]
					for _, mr := range rc.MajorRoads {
						if hw == mr {
							ev := map[string]any{"highway": hw, "major_roads": rc.MajorRoads}
							if n := before.Tags["name"]; n != "" {
								ev["name"] = n
							}
							if okb {
								ev["length_m"] = round1(lb)
							}
							d.Reasons = append(d.Reasons, Reason{Code: "major_road_deleted", Text: fmt.Sprintf("Major road %s was deleted", label), Evidence: ev, Element: ref})
						}
					}
				}
			case "modify":
				if before != nil && okb && oka {
					bk, ak := s.lengthKey(before.Tags), s.lengthKey(after.Tags)
					for _, kv := range bk {
						l := d.LengthM[kv]
						l.Modified -= lb
						d.LengthM[kv] = l
					}
					for _, kv := range ak {
						l := d.LengthM[kv]
						l.Modified += la
						d.LengthM[kv] = l
					}
				}
			}
		}
		// very_long_name: a new or changed name.
		if after != nil {
			if n := after.Tags["name"]; len([]rune(n)) > rc.LongNameChars && (before == nil || before.Tags["name"] != n) {
				d.Reasons = append(d.Reasons, Reason{Code: "very_long_name", Text: fmt.Sprintf("%s has a name of %d characters", strings.ToUpper(label[:1])+label[1:], len([]rune(n))),
					Evidence: map[string]any{"name": n, "length": len([]rune(n)), "threshold": rc.LongNameChars}, Element: ref})
			}
		}
	}
	// Nodes moved far whose tags do not say highway/waterway: look for their ways in the store.
	// nodeWays keeps the ways found per node (the map's context: its parent ways).
	nodeWays := map[int64][]*Elem{}
	if len(dragCandidates) > 0 {
		if wf, ok := s.a.Store.(WayFinder); ok && s.a.Store != nil {
			ways, err := wf.WaysWithNodes(ctx, dragCandidates)
			if err != nil {
				s.a.Log.Warn("dragged_node: could not look up ways", "err", err)
			}
			for i := range ways {
				w := &ways[i]
				for _, n := range w.Nodes {
					if _, m := moved[n]; m {
						nodeWays[n] = append(nodeWays[n], w)
					}
				}
				for _, key := range rc.DraggedNodeKeys {
					if v, ok := w.Tags[key]; ok {
						for _, n := range w.Nodes {
							if _, m := moved[n]; m && dragKeys[n] == "" {
								dragKeys[n] = fmt.Sprintf("way %d %s=%s", w.ID, key, v)
							}
						}
						break
					}
				}
			}
		}
	}
	// Still unknown: ask the API for the node's ways; when it cannot tell, an untagged node
	// (a way node) moved that far is flagged all the same, saying so.
	for _, id := range dragCandidates {
		if dragKeys[id] != "" {
			continue
		}
		if nw, ok := s.a.API.(NodeWays); ok && s.a.API != nil {
			objs, err := nw.WaysOfNode(ctx, id)
			if err == nil {
				ways := FromObjects(objs, "")
				if s.a.Store != nil {
					if err := s.a.Store.Put(ctx, ways); err != nil {
						s.a.Log.Warn("dragged_node: could not store ways", "err", err)
					}
				}
				for i := range ways {
					w := &ways[i]
					nodeWays[id] = append(nodeWays[id], w)
					for _, key := range rc.DraggedNodeKeys {
						if v, ok := w.Tags[key]; ok && dragKeys[id] == "" {
							dragKeys[id] = fmt.Sprintf("way %d %s=%s", w.ID, key, v)
						}
					}
				}
				if len(ways) > 0 && dragKeys[id] == "" {
					dragKeys[id] = "-" // its ways are known and none is a highway or waterway
				}
			} else {
				s.a.Log.Info("dragged_node: ways of node unavailable", "node", id, "err", err)
			}
		}
		if dragKeys[id] == "" {
			if b := s.before(Key{Type: 'n', ID: id}); b != nil && len(b.Tags) == 0 {
				dragKeys[id] = "untagged way node (its ways are unknown)"
			}
		}
	}
	var movedIDs []int64
	for id := range moved {
		movedIDs = append(movedIDs, id)
	}
	sort.Slice(movedIDs, func(i, j int) bool { return movedIDs[i] < movedIDs[j] })
	for _, id := range movedIDs {
		via := dragKeys[id]
		if via == "" || via == "-" {
			continue
		}
		k := Key{Type: 'n', ID: id}
		b, a := s.before(k), s.after(k)
		vs := s.cs[k]
		ev := map[string]any{"moved_m": round1(moved[id]), "threshold_m": rc.DraggedNodeM, "because": via,
			"from": []float64{b.Lon, b.Lat}, "to": []float64{a.Lon, a.Lat}}
		if pw := s.parentWays(ctx, id, nodeWays[id]); len(pw) > 0 {
			ev["ways"] = pw
		}
		d.Reasons = append(d.Reasons, Reason{Code: "dragged_node", Text: fmt.Sprintf("Node %d (%s) moved %.1f km", id, via, moved[id]/1000),
			Evidence: ev, Element: &ElementRef{Type: "node", ID: id, Version: vs[len(vs)-1].Version}})
	}
	for kv, l := range d.LengthM {
		r := Length{Created: round1(l.Created), Deleted: round1(l.Deleted), Modified: round1(l.Modified)}
		if r == (Length{}) {
			delete(d.LengthM, kv) // retagged or touched without a length change
			continue
		}
		d.LengthM[kv] = r
	}
	d.Geometry = fc
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

// changesetReasons are the reasons from counts and changeset tags.
func changesetReasons(c config.Analyse, meta Meta, counts Counts) []Reason {
	rc := c.Reasons
	out := []Reason{}
	tags := meta.Tags
	createdBy, hasEditor := tags["created_by"]
	powerful := IsPowerfulEditor(rc, createdBy)
	C, M, D := counts.Create.Sum(), counts.Modify.Sum(), counts.Delete.Sum()
	n := C + M + D
	if n > 0 {
		fc, fm, fd := float64(C)/float64(n), float64(M)/float64(n), float64(D)/float64(n)
		switch {
		case fc > rc.ImportRatio && C > rc.ImportMin && (powerful || C > rc.ImportMinAnyEditor):
			out = append(out, Reason{Code: "possible_import", Text: fmt.Sprintf("%d of %d elements created (%.0f%%)", C, n, fc*100),
				Evidence: map[string]any{"created": C, "total": n, "ratio": round3(fc), "ratio_threshold": rc.ImportRatio, "min_created": rc.ImportMin,
					"powerful_editor": powerful, "editor": createdBy, "min_created_any_editor": rc.ImportMinAnyEditor}})
		case fm > rc.ModifyRatio && M > rc.ModifyMin:
			out = append(out, Reason{Code: "mass_modification", Text: fmt.Sprintf("%d of %d elements modified (%.0f%%)", M, n, fm*100),
				Evidence: map[string]any{"modified": M, "total": n, "ratio": round3(fm), "ratio_threshold": rc.ModifyRatio, "min_modified": rc.ModifyMin}})
		case (fd > rc.DeleteRatio && D > rc.DeleteMin) || D > rc.DeleteMinAbsolute:
			out = append(out, Reason{Code: "mass_deletion", Text: fmt.Sprintf("%d of %d elements deleted (%.0f%%)", D, n, fd*100),
				Evidence: map[string]any{"deleted": D, "total": n, "ratio": round3(fd), "ratio_threshold": rc.DeleteRatio, "min_deleted": rc.DeleteMin, "min_deleted_any_ratio": rc.DeleteMinAbsolute}})
		}
	}
	if !hasEditor {
		out = append(out, Reason{Code: "no_editor", Text: "Software editor was not declared", Evidence: map[string]any{"tag": "created_by", "present": false}})
	}
	if cm := tags["comment"]; cm != "" {
		suspect := append(append([]string{}, rc.SuspectWords...), rc.SourceWords...)
		v := CheckComment(cm, suspect, rc.ExcludedWords)
		if v.Flagged {
			words := []string{}
			for _, m := range v.Suspect {
				words = append(words, m.Word)
			}
			excl := []string{}
			for _, m := range v.Excluded {
				excl = append(excl, m.Word)
			}
			out = append(out, Reason{Code: "suspect_word", Text: "Comment contains " + quotedList(words),
				Evidence: map[string]any{"field": "comment", "words": words, "excluded": excl, "text": cm}})
		}
	}
	for _, f := range []struct {
		field, text string
		exc         []string
	}{{"source", tags["source"], rc.SourceExceptions}, {"imagery_used", tags["imagery_used"], nil}} {
		if f.text == "" {
			continue
		}
		if ws := FindSubstrings(f.text, rc.SourceWords, f.exc); len(ws) > 0 {
			out = append(out, Reason{Code: "suspect_word", Text: fmt.Sprintf("%s mentions %s", f.field, strings.Join(ws, ", ")),
				Evidence: map[string]any{"field": f.field, "words": ws, "text": f.text}})
		}
	}
	if strings.EqualFold(strings.TrimSpace(tags["review_requested"]), "yes") {
		out = append(out, Reason{Code: "review_requested", Text: "The mapper asked for a review", Evidence: map[string]any{"tag": "review_requested", "value": tags["review_requested"]}})
	}
	// iD warnings.
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

// userReasons adds new_mapper and multiple_blocks.
func (s *state) userReasons(ctx context.Context, meta Meta, d *Document) error {
	rc := s.a.Config.Reasons
	count, from := -1, ""
	if v, ok := meta.Tags["changesets_count"]; ok {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d", &n); err == nil && n >= 0 {
			count, from = n, "changesets_count tag"
		}
	}
	var u *osmapi.User
	if meta.UID > 0 && s.a.Config.UserDetails && (s.a.Users != nil || s.a.UserCache != nil) {
		day := d.AnalysedAt.UTC().Truncate(24 * time.Hour)
		if s.a.UserCache != nil {
			cu, ok, err := s.a.UserCache.CachedUser(ctx, meta.UID, day)
			if err != nil {
				return fmt.Errorf("user cache: %w", err)
			}
			if ok {
				u = &cu
			}
		}
		if u == nil && s.a.Users != nil {
			fu, err := s.a.Users.User(ctx, meta.UID)
			switch {
			case errors.Is(err, osmapi.ErrNotFound):
				s.a.Log.Info("user details unavailable", "uid", meta.UID, "err", err)
			case err != nil:
				return fmt.Errorf("OSM API: %w", err)
			default:
				u = &fu
				if s.a.UserCache != nil {
					if err := s.a.UserCache.PutUser(ctx, fu, day); err != nil {
						return fmt.Errorf("user cache: %w", err)
					}
				}
			}
		}
	}
	if count < 0 && u != nil {
		count, from = u.ChangesetsCount, "OSM API user details"
	}
	if count >= 0 && count <= rc.NewMapperChangesets {
		d.Reasons = append(d.Reasons, Reason{Code: "new_mapper", Text: fmt.Sprintf("%s has %d changesets", meta.User, count),
			Evidence: map[string]any{"changesets_count": count, "threshold": rc.NewMapperChangesets, "from": from}})
	}
	if u != nil && u.BlocksReceived > rc.MaxBlocks {
		d.Reasons = append(d.Reasons, Reason{Code: "multiple_blocks", Text: fmt.Sprintf("%s received %d blocks", meta.User, u.BlocksReceived),
			Evidence: map[string]any{"blocks_received": u.BlocksReceived, "blocks_active": u.BlocksActive, "threshold": rc.MaxBlocks}})
	}
	return nil
}

// quotedList quotes each word and joins them with commas: `"import", "google"`.
func quotedList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	return strings.Join(q, ", ")
}
