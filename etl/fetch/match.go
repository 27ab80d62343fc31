package fetch

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmchange"
)

type elemKey = elements.Key

// matched is the outcome of region matching for one diff.
type matched struct {
	keep []bool // per element of the change
	kept int
	// per tracked changeset: its share of this diff
	changesets map[int64]*csShare
	// elements asked of the API for locations (fill)
	apiElements int
	// what analyse will need of the API for the kept versions (prefetch): previous versions
	// the diff does not hold, nodes of kept ways the diff does not keep
	prev  []elements.VKey
	nodes []int64
}

type csShare struct {
	create, modify, delete int
	bound                  orb.Bound
	hasBound               bool
}

func (s *csShare) extend(p orb.Point) {
	if !s.hasBound {
		s.bound, s.hasBound = orb.Bound{Min: p, Max: p}, true
		return
	}
	s.bound = s.bound.Extend(p)
}

// match decides which element versions to keep. An element is kept when a node lies inside a
// region, a way references a kept node (in this diff or in the store), a relation has a kept
// member, or it modifies or deletes an element the store holds from a diff or a seed. All
// versions of an element in one diff share the decision. With no regions everything is kept.
//
// Versions the store holds only because the API answered for them (source api) or a changeset
// download held them (source download, analyse) do not keep an element by being there, but
// their locations count: a way is kept when one of its nodes lies inside a region wherever
// its location came from. With an API (f.API), the locations
// the diff and the store lack are asked for (fill).
func (f *Fetcher) match(ctx context.Context, tx pgx.Tx, c *osmchange.Change) (*matched, error) {
	els := c.Elements
	m := &matched{keep: make([]bool, len(els)), changesets: map[int64]*csShare{}}
	planet := len(f.Regions) == 0
	st := elements.PG{DB: tx}
	mt := &matcher{f: f, els: els, pos: make(map[int64]orb.Point, len(els)), tracked: map[elemKey]bool{}, answered: map[int64]bool{}}

	// Positions of nodes in this diff (the newest version with coordinates wins).
	posVer := make(map[int64]int, len(els))
	for i := range els {
		e := &els[i]
		if e.Type == osmchange.Node && e.HasCoords && e.Version >= posVer[e.ID] {
			mt.pos[e.ID], posVer[e.ID] = orb.Point{e.Lon, e.Lat}, e.Version
		}
	}
	// Node refs of ways not positioned by this diff: their stored positions give the extent,
	// and (with regions) their presence in the store keeps the way.
	var refs []int64
	seenRef := map[int64]bool{}
	for i := range els {
		for _, n := range els[i].Nodes {
			if _, ok := mt.pos[n]; !ok && !seenRef[n] {
				seenRef[n] = true
				refs = append(refs, n)
			}
		}
	}
	if len(refs) > 0 {
		stored, err := st.Positions(ctx, refs, false)
		if err != nil {
			return nil, err
		}
		mt.addStored(stored)
	}

	if planet {
		for i := range m.keep {
			m.keep[i] = true
		}
	} else {
		// Which elements of the diff (and members of its relations) does the store hold
		// from a diff or a seed?
		// (Duplicates are harmless in the lookup; no map to drop them.)
		keys := make([]elements.Key, 0, len(els))
		add := func(t byte, id int64) {
			if k := key(t, id); !mt.tracked[k] {
				keys = append(keys, k)
			}
		}
		for i := range els {
			add(els[i].Type, els[i].ID)
			for _, mem := range els[i].Members {
				add(mem.Type, mem.Ref)
			}
		}
		known, err := st.Known(ctx, keys, elements.Tracking...)
		if err != nil {
			return nil, err
		}
		for k := range known {
			mt.tracked[k] = true
		}
		mt.decide()
		if f.API != nil {
			n, err := mt.fill(ctx, tx, st)
			if err != nil {
				return nil, err
			}
			m.apiElements = n
			if n > 0 {
				mt.decide()
			}
		}
		for i := range els {
			m.keep[i] = mt.kept[key(els[i].Type, els[i].ID)]
		}
		if err := mt.memberWays(ctx, st); err != nil {
			return nil, err
		}
		if f.API != nil {
			m.prefetchKeys(els)
			n, err := f.prefetch(ctx, st, m, f.maxFill())
			if err != nil {
				return nil, fmt.Errorf("API fill: %w", err)
			}
			m.apiElements += n
		}
	}

	for i := range els {
		if !m.keep[i] {
			continue
		}
		e := &els[i]
		m.kept++
		s := m.changesets[e.Changeset]
		if s == nil {
			s = &csShare{}
			m.changesets[e.Changeset] = s
		}
		switch e.Action {
		case osmchange.Create:
			s.create++
		case osmchange.Modify:
			s.modify++
		case osmchange.Delete:
			s.delete++
		}
		if e.HasCoords {
			s.extend(orb.Point{e.Lon, e.Lat})
		}
		for _, n := range e.Nodes {
			if p, ok := mt.pos[n]; ok {
				s.extend(p)
			}
		}
		// A relation's extent: its member nodes and the nodes of its member ways, where known.
		for _, mem := range e.Members {
			switch mem.Type {
			case osmchange.Node:
				if p, ok := mt.pos[mem.Ref]; ok {
					s.extend(p)
				}
			case osmchange.Way:
				ns, ok := mt.wayNodes[mem.Ref]
				if !ok {
					ns = mt.diffWayNodes(mem.Ref)
				}
				for _, n := range ns {
					if p, ok := mt.pos[n]; ok {
						s.extend(p)
					}
				}
			}
		}
	}
	return m, nil
}

// memberWays reads from the store the nodes (and their locations) of the member ways of kept
// relations that neither the diff nor the API fill gave, for the relations' extents.
func (mt *matcher) memberWays(ctx context.Context, st elements.PG) error {
	var keys []elements.Key
	seen := map[int64]bool{}
	for i := range mt.els {
		e := &mt.els[i]
		if e.Type != osmchange.Relation || !mt.kept[key(e.Type, e.ID)] {
			continue
		}
		for _, mem := range e.Members {
			if mem.Type != osmchange.Way || seen[mem.Ref] {
				continue
			}
			seen[mem.Ref] = true
			if _, ok := mt.wayNodes[mem.Ref]; ok || mt.diffWayNodes(mem.Ref) != nil {
				continue
			}
			keys = append(keys, key(osmchange.Way, mem.Ref))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	ways, err := st.Latest(ctx, keys)
	if err != nil {
		return err
	}
	if mt.wayNodes == nil {
		mt.wayNodes = map[int64][]int64{}
	}
	var need []int64
	for _, w := range ways {
		mt.wayNodes[w.ID] = w.Nodes
		for _, n := range w.Nodes {
			if _, ok := mt.pos[n]; !ok && !mt.answered[n] {
				mt.answered[n] = true // asked below
				need = append(need, n)
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	stored, err := st.Positions(ctx, need, false)
	if err != nil {
		return err
	}
	for id, p := range stored {
		if p.HasCoords {
			mt.pos[id] = orb.Point{p.Lon, p.Lat}
		}
	}
	return nil
}

// diffWayNodes returns the nodes of the newest version of way id in the diff (nil if none).
func (mt *matcher) diffWayNodes(id int64) []int64 {
	if mt.diffWays == nil {
		mt.diffWays = map[int64][]int64{}
		for i := range mt.els {
			if e := &mt.els[i]; e.Type == osmchange.Way {
				mt.diffWays[e.ID] = e.Nodes // versions are in document order: the newest last
			}
		}
	}
	return mt.diffWays[id]
}

// matcher holds what the keep decision of one diff knows.
type matcher struct {
	f   *Fetcher
	els []osmchange.Element
	// node locations: the diff's, the store's, the API's
	pos map[int64]orb.Point
	// locations from the API (now or earlier: api rows): tested against the regions, once
	check, in map[int64]bool
	// elements the store holds from a diff or a seed
	tracked map[elemKey]bool
	// nodes the store holds (located or not: a deleted node's answer is no location)
	answered map[int64]bool
	// ways outside the diff looked up for relations: their nodes
	wayNodes map[int64][]int64
	diffWays map[int64][]int64 // ways of the diff: their nodes (built on first use)
	kept     map[elemKey]bool
	// nodes the API answered for as deleted, not yet asked for their version before that
	gone []goneNode
}

// addStored takes node positions read from the store.
func (mt *matcher) addStored(stored map[int64]elements.Position) {
	for id, p := range stored {
		mt.answered[id] = true
		if p.HasCoords {
			mt.pos[id] = orb.Point{p.Lon, p.Lat}
		}
		if !p.Source.Tracks() { // the API's or a changeset download's: the location counts
			if p.HasCoords {
				mt.setCheck(id)
			}
		} else {
			mt.tracked[key(osmchange.Node, id)] = true
		}
	}
}

func (mt *matcher) setCheck(id int64) {
	if mt.check == nil {
		mt.check, mt.in = map[int64]bool{}, map[int64]bool{}
	}
	mt.check[id] = true
}

// nodeIn reports whether a node located by the API lies inside a region.
func (mt *matcher) nodeIn(id int64) bool {
	if !mt.check[id] {
		return false
	}
	in, ok := mt.in[id]
	if !ok {
		in = mt.f.Regions.Contains(mt.pos[id])
		mt.in[id] = in
	}
	return in
}

func (mt *matcher) isKept(t byte, id int64) bool {
	k := key(t, id)
	if mt.kept[k] || mt.tracked[k] {
		return true
	}
	switch t {
	case osmchange.Node:
		return mt.nodeIn(id)
	case osmchange.Way:
		for _, n := range mt.wayNodes[id] {
			if mt.isKept(osmchange.Node, n) {
				return true
			}
		}
	}
	return false
}

// decide computes kept: nodes, then ways, then relations until nothing changes (relations of
// relations).
func (mt *matcher) decide() {
	els := mt.els
	mt.kept = make(map[elemKey]bool, len(mt.kept))
	for i := range els {
		e := &els[i]
		if e.Type != osmchange.Node {
			continue
		}
		if mt.tracked[key(e.Type, e.ID)] || (e.HasCoords && mt.f.Regions.Contains(orb.Point{e.Lon, e.Lat})) {
			mt.kept[key(e.Type, e.ID)] = true
		}
	}
	for i := range els {
		e := &els[i]
		if e.Type != osmchange.Way {
			continue
		}
		if mt.tracked[key(e.Type, e.ID)] {
			mt.kept[key(e.Type, e.ID)] = true
			continue
		}
		for _, n := range e.Nodes {
			if mt.isKept(osmchange.Node, n) {
				mt.kept[key(e.Type, e.ID)] = true
				break
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for i := range els {
			e := &els[i]
			k := key(e.Type, e.ID)
			if e.Type != osmchange.Relation || mt.kept[k] {
				continue
			}
			keep := mt.tracked[k]
			for _, mem := range e.Members {
				if keep {
					break
				}
				keep = mt.isKept(mem.Type, mem.Ref)
			}
			if keep {
				mt.kept[k], changed = true, true
			}
		}
	}
}

// writeElements inserts the kept element versions with one statement. Versions already stored
// are left alone, or overwritten with force.
func writeElements(ctx context.Context, tx pgx.Tx, c *osmchange.Change, m *matched, seq uint64, force bool) error {
	if m.kept == 0 {
		return nil
	}
	els := c.Elements
	if m.kept < len(els) {
		els = make([]osmchange.Element, 0, m.kept)
		for i := range c.Elements {
			if m.keep[i] {
				els = append(els, c.Elements[i])
			}
		}
	}
	if err := (elements.PG{DB: tx}).Write(ctx, els, elements.SourceDiff, int64(seq), force); err != nil {
		return fmt.Errorf("write elements: %w", err)
	}
	return nil
}

// writeChangesets records each tracked changeset's share of this diff and recomputes its edit
// summary from all its shares, so the result does not depend on the order diffs are applied in
// or on applying one twice. A changeset with new elements goes back to state 'new'.
func writeChangesets(ctx context.Context, tx pgx.Tx, m *matched, seq uint64) (int, error) {
	if len(m.changesets) == 0 {
		return 0, nil
	}
	ids := make([]int64, 0, len(m.changesets))
	for id := range m.changesets {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	// Create or lock the rows in one statement, in id order: concurrent runs touching the same
	// changesets (another fetch, or the metadata feed, which upserts in id order too) serialise
	// here without deadlocking, and the sums below see each other's committed shares. (Inserting
	// first and locking existing rows afterwards deadlocks against the metadata feed: the insert
	// holds the new rows while the lock waits for existing ones.)
	if _, err := tx.Exec(ctx, `INSERT INTO changesets AS c (id, tracked) SELECT unnest($1::bigint[]), true
		ON CONFLICT (id) DO UPDATE SET tracked = true`, ids); err != nil {
		return 0, fmt.Errorf("lock changesets: %w", err)
	}
	nc, nm, nd := make([]int32, len(ids)), make([]int32, len(ids)), make([]int32, len(ids))
	x0, y0, x1, y1 := make([]*float64, len(ids)), make([]*float64, len(ids)), make([]*float64, len(ids)), make([]*float64, len(ids))
	for i, id := range ids {
		s := m.changesets[id]
		nc[i], nm[i], nd[i] = int32(s.create), int32(s.modify), int32(s.delete)
		if s.hasBound && !math.IsNaN(s.bound.Min[0]) {
			b := s.bound
			x0[i], y0[i], x1[i], y1[i] = &b.Min[0], &b.Min[1], &b.Max[0], &b.Max[1]
		}
	}
	rows, err := tx.Query(ctx, `INSERT INTO changeset_diffs (changeset_id, seq, num_create, num_modify, num_delete, extent)
		SELECT id, $2, c, m, d, CASE WHEN x0 IS NULL THEN NULL ELSE ST_MakeEnvelope(x0, y0, x1, y1, 4326) END
		FROM unnest($1::bigint[], $3::int[], $4::int[], $5::int[], $6::float8[], $7::float8[], $8::float8[], $9::float8[])
			AS u(id, c, m, d, x0, y0, x1, y1)
		ON CONFLICT (changeset_id, seq) DO UPDATE SET num_create = EXCLUDED.num_create, num_modify = EXCLUDED.num_modify,
			num_delete = EXCLUDED.num_delete, extent = EXCLUDED.extent
		RETURNING changeset_id, (xmax = 0)`,
		ids, int64(seq), nc, nm, nd, x0, y0, x1, y1)
	if err != nil {
		return 0, fmt.Errorf("write changeset shares: %w", err)
	}
	var fresh []int64
	for rows.Next() {
		var id int64
		var inserted bool
		if err := rows.Scan(&id, &inserted); err != nil {
			rows.Close()
			return 0, fmt.Errorf("write changeset shares: %w", err)
		}
		if inserted {
			fresh = append(fresh, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("write changeset shares: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE changesets c SET tracked = true,
			first_seq = s.first_seq, last_seq = s.last_seq,
			num_create = s.nc, num_modify = s.nm, num_delete = s.nd, edit_extent = s.ext,
			state = CASE WHEN c.id = ANY($2) THEN 'new' ELSE c.state END,
			state_reason = CASE WHEN c.id = ANY($2) THEN NULL ELSE c.state_reason END,
			updated_at = now()
		FROM (SELECT changeset_id, min(seq) AS first_seq, max(seq) AS last_seq,
				sum(num_create)::int AS nc, sum(num_modify)::int AS nm, sum(num_delete)::int AS nd,
				ST_SetSRID(ST_Extent(extent)::geometry, 4326) AS ext
			FROM changeset_diffs WHERE changeset_id = ANY($1) GROUP BY changeset_id) s
		WHERE c.id = s.changeset_id`, ids, fresh); err != nil {
		return 0, fmt.Errorf("update changesets: %w", err)
	}
	return len(ids), nil
}

func key(t byte, id int64) elemKey { return elemKey{Type: t, ID: id} }
