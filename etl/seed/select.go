package seed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/region"
)

// Writer receives the kept elements in batches: pass 1's nodes, ways and relations in file
// order, then pass 2's nodes and relations. A batch is not used after Write returns.
type Writer interface {
	Write(ctx context.Context, batch []osm.Object) error
}

// Source is an extract that can be read (twice when regions are configured).
type Source interface {
	Name() string
	Format() Format
	Open(ctx context.Context) (io.ReadCloser, error)
}

// Options says what Load keeps and how it reports.
type Options struct {
	Regions   region.Set    // empty: everything in the file
	Log       *slog.Logger  // progress lines [none]
	Progress  time.Duration // between progress lines [10s]
	BatchSize int           // elements per Write [5000]
}

// Counts is a number of nodes, ways and relations.
type Counts struct{ Nodes, Ways, Relations int64 }

// Total is the sum.
func (c Counts) Total() int64 { return c.Nodes + c.Ways + c.Relations }

// Stats is what Load read and kept.
type Stats struct {
	Header       time.Time // the extract's osmosis_replication_timestamp (zero: none)
	Read         int64     // elements read in pass 1 (every element of the file)
	Kept         Counts    // elements written
	MissingNodes int64     // nodes of kept ways that the file lacks (a clipped extract)
	Bytes        int64     // bytes read, both passes
	Passes       int
	Duration     time.Duration
	// IDs is the peak number of element ids held in memory (8 bytes each): the memory bound.
	IDs int64
}

// idSet is a set of ids: appended in any order, then sorted once and searched.
type idSet struct {
	ids    []int64
	sorted bool
	dedup  int // length after the last compaction
}

func (s *idSet) add(id int64) {
	if n := len(s.ids); n > 0 && s.ids[n-1] >= id {
		s.sorted = false
	}
	s.ids = append(s.ids, id)
	// Ways share nodes: compact now and then so duplicates never dominate.
	if !s.sorted && len(s.ids) > 2*s.dedup+1<<20 {
		s.compact()
	}
}

func (s *idSet) compact() {
	if !s.sorted {
		slices.Sort(s.ids)
		s.ids = slices.Compact(s.ids)
		s.sorted = true
	}
	s.dedup = len(s.ids)
}

func (s *idSet) has(id int64) bool {
	_, ok := slices.BinarySearch(s.ids, id)
	return ok
}

// newIDSet starts an empty set (sorted: ids appended in increasing order keep it sorted).
func newIDSet() *idSet { return &idSet{sorted: true} }

// Load reads the extract and writes what the regions need to w: every node inside a region
// (with its buffer), every way with at least one such node and all the nodes of those ways
// (complete ways), every relation with such a node or way as a member and, recursively, the
// relations that have those as members (osmium extract's complete_ways strategy). With no
// regions it writes every element in one pass. Memory: the ids of the nodes inside, of the kept
// ways, of the nodes those ways need and of relation-in-relation memberships, 8 bytes each
// (Stats.IDs), plus one batch; nothing is buffered per element beyond that.
func Load(ctx context.Context, src Source, w Writer, o Options) (Stats, error) {
	if o.Progress <= 0 {
		o.Progress = 10 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	l := &loader{src: src, w: w, o: o, start: time.Now(), lastLog: time.Now()}
	err := l.run(ctx)
	l.st.Duration = time.Since(l.start)
	return l.st, err
}

type loader struct {
	src     Source
	w       Writer
	o       Options
	st      Stats
	batch   []osm.Object
	start   time.Time
	lastLog time.Time
	n       int   // elements consumed, for the progress check
	read1   int64 // elements pass 1's consumer saw (the filter counts the rest)

	inside   *idSet // nodes inside a region
	ways     *idSet // kept ways
	needed   *idSet // nodes of kept ways outside every region (pass 2)
	rels     *idSet // relations kept in pass 1
	parents  [][2]int64
	extraRel *idSet // parent relations found after pass 1 (pass 2)
}

func (l *loader) run(ctx context.Context) error {
	regions := l.o.Regions
	var f filter
	if len(regions) > 0 {
		f.node = func(n *osm.Node) bool { return regions.Contains(orb.Point{n.Lon, n.Lat}) }
		l.inside, l.ways, l.needed, l.rels = newIDSet(), newIDSet(), newIDSet(), newIDSet()
	}
	sc, closeFile, err := l.open(ctx, f)
	if err != nil {
		return err
	}
	l.st.Header = sc.header
	l.st.Passes = 1
	err = l.pass1(ctx, sc)
	l.st.Read = l.readCount(sc)
	l.st.Bytes += sc.Bytes()
	sc.Close()
	closeFile()
	if err != nil {
		return err
	}
	if err := l.flush(ctx); err != nil {
		return err
	}
	if len(regions) == 0 {
		l.progress("seed pass 1 done", nil)
		return nil
	}
	l.needed.compact()
	l.closeRelations()
	l.st.IDs = max(l.st.IDs, l.idCount())
	l.progress("seed pass 1 done", nil)
	if len(l.needed.ids) == 0 && len(l.extraRel.ids) == 0 {
		return nil
	}
	// Pass 2: the nodes of kept ways outside the regions, and parent relations.
	needed, extra := l.needed, l.extraRel
	f2 := filter{
		node:     func(n *osm.Node) bool { return needed.has(int64(n.ID)) },
		relation: func(r *osm.Relation) bool { return extra.has(int64(r.ID)) },
		skipWays: true,
	}
	sc2, closeFile2, err := l.open(ctx, f2)
	if err != nil {
		return err
	}
	defer closeFile2()
	defer sc2.Close()
	l.st.Passes = 2
	var found int64
	for sc2.Scan() {
		o := sc2.Object()
		sc2.setLast(o)
		if _, ok := o.(*osm.Node); ok {
			found++
			l.st.Kept.Nodes++
		} else if _, ok := o.(*osm.Relation); ok {
			l.st.Kept.Relations++
		}
		if err := l.add(ctx, o, sc2); err != nil {
			return err
		}
	}
	l.st.Bytes += sc2.Bytes()
	if err := sc2.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l.st.MissingNodes = int64(len(needed.ids)) - found
	if err := l.flush(ctx); err != nil {
		return err
	}
	l.progress("seed pass 2 done", nil)
	return nil
}

func (l *loader) open(ctx context.Context, f filter) (*scanner, func(), error) {
	rc, err := l.src.Open(ctx)
	if err != nil {
		return nil, nil, err
	}
	sc, err := newScanner(ctx, l.src.Name(), l.src.Format(), rc, f)
	if err != nil {
		rc.Close()
		return nil, nil, err
	}
	return sc, func() { rc.Close() }, nil
}

func (l *loader) readCount(sc *scanner) int64 {
	return l.read1 + sc.skipped.Load()
}

func (l *loader) idCount() int64 {
	n := int64(len(l.inside.ids) + len(l.ways.ids) + len(l.needed.ids) + len(l.rels.ids) + 2*len(l.parents))
	if l.extraRel != nil {
		n += int64(len(l.extraRel.ids))
	}
	return n
}

func (l *loader) pass1(ctx context.Context, sc *scanner) error {
	all := len(l.o.Regions) == 0
	for sc.Scan() {
		o := sc.Object()
		sc.setLast(o)
		l.read1++
		switch o := o.(type) {
		case *osm.Node:
			if !all {
				l.inside.add(int64(o.ID))
			}
			l.st.Kept.Nodes++
		case *osm.Way:
			if !all {
				if !l.inside.sorted {
					l.inside.compact()
				}
				if !l.keepWay(o) {
					continue
				}
			}
			l.st.Kept.Ways++
		case *osm.Relation:
			if !all {
				if !l.ways.sorted {
					l.ways.compact()
				}
				if !l.keepRelation(o) {
					continue
				}
			}
			l.st.Kept.Relations++
		}
		if err := l.add(ctx, o, sc); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return ctx.Err()
}

func (l *loader) keepWay(w *osm.Way) bool {
	in := false
	for _, n := range w.Nodes {
		if l.inside.has(int64(n.ID)) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	l.ways.add(int64(w.ID))
	for _, n := range w.Nodes {
		if !l.inside.has(int64(n.ID)) {
			l.needed.add(int64(n.ID))
		}
	}
	if n := l.idCount(); n > l.st.IDs {
		l.st.IDs = n
	}
	return true
}

func (l *loader) keepRelation(r *osm.Relation) bool {
	keep := false
	for _, m := range r.Members {
		switch m.Type {
		case osm.TypeNode:
			keep = keep || l.inside.has(m.Ref)
		case osm.TypeWay:
			keep = keep || l.ways.has(m.Ref)
		case osm.TypeRelation:
			l.parents = append(l.parents, [2]int64{m.Ref, int64(r.ID)})
		}
	}
	if keep {
		l.rels.add(int64(r.ID))
	}
	return keep
}

// closeRelations finds the relations that have a kept relation as a member, recursively.
func (l *loader) closeRelations() {
	l.rels.compact()
	slices.SortFunc(l.parents, func(a, b [2]int64) int {
		if a[0] != b[0] {
			return int(min(max(a[0]-b[0], -1), 1))
		}
		return int(min(max(a[1]-b[1], -1), 1))
	})
	l.extraRel = newIDSet()
	queue := slices.Clone(l.rels.ids)
	seen := map[int64]bool{}
	for len(queue) > 0 {
		child := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		i, _ := slices.BinarySearchFunc(l.parents, child, func(e [2]int64, t int64) int {
			return int(min(max(e[0]-t, -1), 1))
		})
		for ; i < len(l.parents) && l.parents[i][0] == child; i++ {
			p := l.parents[i][1]
			if seen[p] || l.rels.has(p) {
				continue
			}
			seen[p] = true
			l.extraRel.add(p)
			queue = append(queue, p)
		}
	}
	l.extraRel.compact()
}

func (l *loader) add(ctx context.Context, o osm.Object, sc *scanner) error {
	l.batch = append(l.batch, o)
	if len(l.batch) >= l.o.BatchSize {
		if err := l.flush(ctx); err != nil {
			return err
		}
	}
	l.n++
	if l.n&0xfff == 0 && time.Since(l.lastLog) >= l.o.Progress {
		l.progress("seed progress", sc)
	}
	return nil
}

func (l *loader) flush(ctx context.Context) error {
	if len(l.batch) == 0 {
		return nil
	}
	if err := l.w.Write(ctx, l.batch); err != nil {
		return fmt.Errorf("seed %s: write: %w", l.src.Name(), err)
	}
	clear(l.batch)
	l.batch = l.batch[:0]
	return nil
}

func (l *loader) progress(msg string, sc *scanner) {
	l.lastLog = time.Now()
	secs := max(time.Since(l.start).Seconds(), 1e-3)
	read, bytes := l.st.Read, l.st.Bytes
	if sc != nil {
		bytes += sc.Bytes()
		if l.st.Passes == 1 {
			read = l.readCount(sc)
		}
	}
	kept := l.st.Kept.Total()
	l.o.Log.Info(msg, "pass", l.st.Passes, "read", read, "kept", kept,
		"nodes", l.st.Kept.Nodes, "ways", l.st.Kept.Ways, "relations", l.st.Kept.Relations,
		"read_per_s", int64(float64(read)/secs), "kept_per_s", int64(float64(kept)/secs),
		"bytes", bytes, "seconds", int64(secs))
}
