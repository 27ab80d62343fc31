package sim

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// ID spaces of elements and changesets created in the simulation (like today's real ones).
const (
	firstNewNode      = 13_000_000_000
	firstNewWay       = 1_400_000_000
	firstNewRelation  = 19_000_000
	firstNewChangeset = 170_000_000
)

type comment struct {
	id   int64
	ts   int64
	uid  int64
	user string
	text string
}

type changeset struct {
	id         int64
	m          *mapper
	kind       string
	createdAt  int64
	closedAt   int64 // 0 while open
	tags       []tag
	changes    int
	hasBBox    bool
	minLat     int32
	maxLat     int32
	minLon     int32
	maxLon     int32
	comments   []comment
	inRegion   bool
	background bool
	counted    bool
}

// task is work scheduled for a later minute (uploads of changesets that stay open, comments, closing).
type task struct {
	minute int
	order  int
	run    func(g *gen, t0 int64)
}

type gen struct {
	o     Options
	r     *rand.Rand
	w     *world
	pop   *population
	bg    *background
	start int64

	nextNode, nextWay, nextRel, nextCS, nextComment int64

	minute  int
	evs     []ev
	touched map[int64]*changeset // changesets to write in this minute's changeset file
	tasks   []task
	taskSeq int

	kinds      map[string]int
	out        *output
	forced     map[int][]string
	stats      *Stats
	distinctCS int
	regionCS   int
	warnings   int // warnings changesets made so far
}

func generate(ctx context.Context, o Options) (*Stats, error) {
	began := time.Now()
	g := &gen{
		o:           o,
		r:           rand.New(rand.NewPCG(uint64(o.Seed), 0x6f736d747261636b)),
		start:       o.StartTime.Unix(),
		nextNode:    firstNewNode,
		nextWay:     firstNewWay,
		nextRel:     firstNewRelation,
		nextCS:      firstNewChangeset,
		nextComment: 9_000_000,
		touched:     map[int64]*changeset{},
		kinds:       map[string]int{},
	}
	g.pop = newPopulation(g.r, g.start, o.Profile == ProfilePlanet)
	var err error
	if o.Base != "" {
		g.w, err = loadBase(ctx, o.Base)
		if err != nil {
			return nil, err
		}
	} else {
		g.w = g.buildTown()
	}
	if o.Profile == ProfilePlanet {
		g.bg = newBackground(g)
	}
	g.forced = forcedKinds(o.Minutes)

	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	g.out, err = newOutput(o)
	if err != nil {
		return nil, err
	}
	defer g.out.abort()
	if err := g.out.writeBase(g.w); err != nil {
		return nil, err
	}
	if err := writePoly(filepath.Join(o.Out, "region.poly"), g.w.poly); err != nil {
		return nil, err
	}
	g.stats = &Stats{Profile: o.Profile, Seed: o.Seed, Base: o.Base, StartSeq: o.StartSeq,
		EndSeq: o.StartSeq + uint64(o.Minutes) - 1, StartTime: o.StartTime, Minutes: o.Minutes}

	for g.minute = 0; g.minute < o.Minutes; g.minute++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := g.runMinute(); err != nil {
			return nil, err
		}
	}
	if err := g.out.finish(); err != nil {
		return nil, err
	}
	if err := g.writeUsers(); err != nil {
		return nil, err
	}
	if err := g.out.writeMeta(); err != nil {
		return nil, err
	}
	st := g.stats
	g.out.fillGz(st)
	st.Kinds = g.kinds
	st.Changesets = g.distinctCS
	st.RegionChangesets = g.regionCS
	st.Users = len(g.pop.all)
	summarize(st)
	st.Elapsed = time.Since(began)
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return nil, fmt.Errorf("sim: stats: %w", err)
	}
	// stats.json carries the elapsed time: written outside the deterministic tree's data files.
	if err := os.WriteFile(filepath.Join(o.Out, "stats.json"), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return st, nil
}

func summarize(st *Stats) {
	rng := func(f func(m MinuteStats) int64) Range {
		var v []int64
		var r Range
		for _, m := range st.PerMinute {
			x := f(m)
			v = append(v, x)
			r.Total += x
		}
		if len(v) == 0 {
			return r
		}
		slices.Sort(v)
		r.Min, r.Max, r.Median = v[0], v[len(v)-1], v[len(v)/2]
		return r
	}
	st.ChangesetsPerMinute = rng(func(m MinuteStats) int64 { return int64(m.Changesets) })
	st.ElementsPerMinute = rng(func(m MinuteStats) int64 { return int64(m.Elements) })
	st.XMLBytesPerMinute = rng(func(m MinuteStats) int64 { return m.XMLBytes })
	st.GzBytesPerMinute = rng(func(m MinuteStats) int64 { return m.GzBytes })
}

func (g *gen) t0() int64 { return g.start + int64(g.minute)*60 }

func (g *gen) schedule(minute int, run func(g *gen, t0 int64)) {
	g.taskSeq++
	g.tasks = append(g.tasks, task{minute: minute, order: g.taskSeq, run: run})
}

func (g *gen) runMinute() error {
	t0 := g.t0()
	// Scheduled work first.
	var due []task
	rest := g.tasks[:0]
	for _, t := range g.tasks {
		if t.minute == g.minute {
			due = append(due, t)
		} else {
			rest = append(rest, t)
		}
	}
	g.tasks = rest
	sort.Slice(due, func(i, j int) bool { return due[i].order < due[j].order })
	for _, t := range due {
		t.run(g, t0)
	}
	// New region changesets: a few a minute, plus the kinds this minute must show.
	type plan struct {
		kind string
		at   int64
	}
	var plans []plan
	n := poisson(g.r, 2.5)
	for i := 0; i < n; i++ {
		plans = append(plans, plan{g.drawKind(), t0 + int64(g.r.IntN(50))})
	}
	for _, k := range g.forced[g.minute] {
		plans = append(plans, plan{k, t0 + int64(g.r.IntN(50))})
	}
	slices.SortStableFunc(plans, func(a, b plan) int { return cmp.Compare(a.at, b.at) })
	for _, p := range plans {
		g.kinds[p.kind]++
		g.runKind(p.kind, p.at)
	}
	if g.bg != nil {
		g.bg.minute(t0)
	}
	return g.flushMinute()
}

func poisson(r *rand.Rand, lambda float64) int {
	l := math.Exp(-lambda)
	k, p := 0, 1.0
	for {
		p *= r.Float64()
		if p < l {
			return k
		}
		k++
	}
}

// newChangeset opens a changeset for mapper m at time at.
func (g *gen) newChangeset(m *mapper, kind string, at int64, tags []tag) *changeset {
	cs := &changeset{id: g.nextCS, m: m, kind: kind, createdAt: at}
	g.nextCS++
	m.made++
	var all []tag
	if m.editor != "" { // a script without an editor name writes no created_by
		all = append(all, tag{"created_by", m.editor})
	}
	all = append(all, tags...)
	switch {
	case m.editor == edID:
		all = append(all, tag{"locale", "en-US"}, tag{"host", "https://www.openstreetmap.org/edit"},
			tag{"imagery_used", "Bing Maps Aerial"}, tag{"changesets_count", fmt.Sprint(m.changesets + m.made)})
	case m.editor == edSC:
		all = append(all, tag{"source", "survey"}, tag{"locale", "de"})
	case m.editor == edBot:
		all = append(all, tag{"bot", "yes"})
	}
	slices.SortStableFunc(all, func(a, b tag) int { return cmp.Compare(a.k, b.k) })
	cs.tags = all
	g.touched[cs.id] = cs
	return cs
}

// closeChangeset closes cs at time at (in the current minute).
func (g *gen) closeChangeset(cs *changeset, at int64) {
	if cs.closedAt != 0 {
		return
	}
	cs.closedAt = at
	g.touched[cs.id] = cs
}

func (g *gen) addComment(cs *changeset, m *mapper, at int64, text string) {
	g.nextComment++
	cs.comments = append(cs.comments, comment{id: g.nextComment, ts: at, uid: m.uid, user: m.name, text: text})
	g.touched[cs.id] = cs
}

func (cs *changeset) extend(lat, lon int32) {
	if !cs.hasBBox {
		cs.hasBBox = true
		cs.minLat, cs.maxLat, cs.minLon, cs.maxLon = lat, lat, lon, lon
		return
	}
	cs.minLat = min(cs.minLat, lat)
	cs.maxLat = max(cs.maxLat, lat)
	cs.minLon = min(cs.minLon, lon)
	cs.maxLon = max(cs.maxLon, lon)
}

// emit records one element version in the current minute and updates the changeset.
func (g *gen) emit(cs *changeset, e ev) {
	e.cs = cs.id
	e.uid = cs.m.uid
	e.user = cs.m.name
	g.evs = append(g.evs, e)
	cs.changes++
	g.touched[cs.id] = cs
	switch e.typ {
	case 'n':
		cs.extend(e.lat, e.lon)
		if !cs.background && !cs.inRegion && g.w.inside(deg(e.lat), deg(e.lon)) {
			cs.inRegion = true
		}
	case 'w':
		if cs.background { // the background extends the bbox itself
			break
		}
		for _, id := range e.nodes {
			if n := g.w.nodes[id]; n != nil {
				cs.extend(n.lat, n.lon)
				if !cs.inRegion && g.w.inside(deg(n.lat), deg(n.lon)) {
					cs.inRegion = true
				}
			}
		}
	case 'r':
		// Like the API: a relation's bbox covers its member nodes and the nodes of its member ways.
		ext := func(id int64) {
			if n := g.w.nodes[id]; n != nil && n.visible {
				cs.extend(n.lat, n.lon)
				if !cs.inRegion && g.w.inside(deg(n.lat), deg(n.lon)) {
					cs.inRegion = true
				}
			}
		}
		for _, m := range e.members {
			switch m.typ {
			case 'n':
				ext(m.ref)
			case 'w':
				if x := g.w.ways[m.ref]; x != nil && x.visible {
					for _, id := range x.nodes {
						ext(id)
					}
				}
			}
		}
	}
}

// World edits. Tags and node lists are never mutated in place: emitted versions share them.

func (g *gen) newNode(cs *changeset, at int64, lat, lon float64, tags []tag) *node {
	n := &node{id: g.nextNode, lat: fix(lat), lon: fix(lon), tags: tags}
	g.nextNode++
	n.meta = meta{ver: 1, visible: true, cs: cs.id, uid: cs.m.uid, user: cs.m.name, ts: at}
	g.w.nodes[n.id] = n
	g.emit(cs, ev{typ: 'n', act: 'c', id: n.id, ver: 1, ts: at, lat: n.lat, lon: n.lon, tags: tags})
	return n
}

func (g *gen) modNode(cs *changeset, at int64, n *node) {
	n.meta = meta{ver: n.ver + 1, visible: true, cs: cs.id, uid: cs.m.uid, user: cs.m.name, ts: at}
	g.emit(cs, ev{typ: 'n', act: 'm', id: n.id, ver: n.ver, ts: at, lat: n.lat, lon: n.lon, tags: n.tags})
}

// moveNode moves n by dlat, dlon (1e-7 degrees) in cs. Like the API's, the changeset's bbox
// covers the node's old position as well as its new one (a node dragged out of the region
// leaves a changeset that still touches the region).
func (g *gen) moveNode(cs *changeset, at int64, n *node, dlat, dlon int32) {
	cs.extend(n.lat, n.lon)
	if !cs.background && !cs.inRegion && g.w.inside(deg(n.lat), deg(n.lon)) {
		cs.inRegion = true
	}
	n.lat += dlat
	n.lon += dlon
	g.modNode(cs, at, n)
}

func (g *gen) delNode(cs *changeset, at int64, n *node) {
	n.meta = meta{ver: n.ver + 1, visible: false, cs: cs.id, uid: cs.m.uid, user: cs.m.name, ts: at}
	g.emit(cs, ev{typ: 'n', act: 'd', id: n.id, ver: n.ver, ts: at, lat: n.lat, lon: n.lon})
}

func (g *gen) newWay(cs *changeset, at int64, nodes []int64, tags []tag) *way {
	wy := &way{id: g.nextWay, nodes: nodes, tags: tags}
	g.nextWay++
	wy.meta = meta{ver: 1, visible: true, cs: cs.id, uid: cs.m.uid, user: cs.m.name, ts: at}
	g.w.ways[wy.id] = wy
	for _, id := range nodes {
		g.w.nodeRefs[id]++
	}
	g.emit(cs, ev{typ: 'w', act: 'c', id: wy.id, ver: 1, ts: at, nodes: nodes, tags: tags})
	return wy
}

// modWay sets new nodes (nil keeps them) and tags.
func (g *gen) modWay(cs *changeset, at int64, wy *way, nodes []int64, tags []tag) {
	if nodes != nil {
		for _, id := range wy.nodes {
			g.w.nodeRefs[id]--
		}
		for _, id := range nodes {
			g.w.nodeRefs[id]++
		}
		wy.nodes = nodes
	}
	wy.tags = tags
	wy.meta = meta{ver: wy.ver + 1, visible: true, cs: cs.id, uid: cs.m.uid, user: cs.m.name, ts: at}
	g.emit(cs, ev{typ: 'w', act: 'm', id: wy.id, ver: wy.ver, ts: at, nodes: wy.nodes, tags: wy.tags})
}

func (g *gen) delWay(cs *changeset, at int64, wy *way) {
	// The bbox of a deleted way covers its nodes: emit before dropping the refs.
	wy.meta = meta{ver: wy.ver + 1, visible: false, cs: cs.id, uid: cs.m.uid, user: cs.m.name, ts: at}
	g.emit(cs, ev{typ: 'w', act: 'd', id: wy.id, ver: wy.ver, ts: at})
	for _, id := range wy.nodes {
		if n := g.w.nodes[id]; n != nil {
			cs.extend(n.lat, n.lon)
		}
		g.w.nodeRefs[id]--
	}
}

func (g *gen) newRel(cs *changeset, at int64, members []member, tags []tag) *rel {
	r := &rel{id: g.nextRel, members: members, tags: tags}
	g.nextRel++
	r.meta = meta{ver: 1, visible: true, cs: cs.id, uid: cs.m.uid, user: cs.m.name, ts: at}
	g.w.rels[r.id] = r
	for _, m := range members {
		if m.typ == 'w' {
			g.w.wayRels[m.ref]++
		}
	}
	g.emit(cs, ev{typ: 'r', act: 'c', id: r.id, ver: 1, ts: at, members: members, tags: tags})
	return r
}

func (g *gen) modRel(cs *changeset, at int64, r *rel, members []member, tags []tag) {
	if members != nil {
		for _, m := range r.members {
			if m.typ == 'w' {
				g.w.wayRels[m.ref]--
			}
		}
		for _, m := range members {
			if m.typ == 'w' {
				g.w.wayRels[m.ref]++
			}
		}
		r.members = members
	}
	r.tags = tags
	r.meta = meta{ver: r.ver + 1, visible: true, cs: cs.id, uid: cs.m.uid, user: cs.m.name, ts: at}
	g.emit(cs, ev{typ: 'r', act: 'm', id: r.id, ver: r.ver, ts: at, members: r.members, tags: r.tags})
}

// flushMinute writes the minute's diff, changeset file and state files.
func (g *gen) flushMinute() error {
	evs := g.evs
	slices.SortStableFunc(evs, func(a, b ev) int {
		if c := cmp.Compare(typeOrder(a.typ), typeOrder(b.typ)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.id, b.id); c != 0 {
			return c
		}
		return cmp.Compare(a.ver, b.ver)
	})
	ms := MinuteStats{Seq: g.o.StartSeq + uint64(g.minute), Elements: len(evs)}
	seen := map[int64]bool{}
	for i := range evs {
		switch evs[i].act {
		case 'c':
			ms.Creates++
		case 'm':
			ms.Modifies++
		default:
			ms.Deletes++
		}
		if !seen[evs[i].cs] {
			seen[evs[i].cs] = true
		}
	}
	ms.Changesets = len(seen)
	css := make([]*changeset, 0, len(g.touched))
	for _, cs := range g.touched {
		css = append(css, cs)
	}
	slices.SortFunc(css, func(a, b *changeset) int { return cmp.Compare(a.id, b.id) })
	for id := range seen {
		cs := g.touched[id]
		if cs == nil {
			continue
		}
		if cs.inRegion {
			ms.RegionChangesets++
		}
	}
	g.countDistinct(css, seen)
	if err := g.out.writeMinute(g.minute, g.t0()+60, evs, css, &ms); err != nil {
		return err
	}
	g.stats.PerMinute = append(g.stats.PerMinute, ms)
	g.evs = evs[:0]
	clear(g.touched)
	return nil
}

func (g *gen) countDistinct(css []*changeset, seen map[int64]bool) {
	for _, cs := range css {
		if seen[cs.id] && !cs.counted {
			cs.counted = true
			g.distinctCS++
			if cs.inRegion {
				g.regionCS++
			}
		}
	}
}

func typeOrder(t byte) int {
	switch t {
	case 'n':
		return 0
	case 'w':
		return 1
	}
	return 2
}
