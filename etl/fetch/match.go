package fetch

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/osmchange"
)

type elemKey struct {
	typ byte
	id  int64
}

// matched is the outcome of region matching for one diff.
type matched struct {
	keep []bool // per element of the change
	kept int
	// per tracked changeset: its share of this diff
	changesets map[int64]*csShare
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
// member, or it modifies or deletes an element the store holds. All versions of an element in
// one diff share the decision. With no regions everything is kept.
func (f *Fetcher) match(ctx context.Context, tx pgx.Tx, c *osmchange.Change) (*matched, error) {
	els := c.Elements
	m := &matched{keep: make([]bool, len(els)), changesets: map[int64]*csShare{}}
	planet := len(f.Regions) == 0

	// Positions of nodes in this diff (the newest version with coordinates wins).
	pos := make(map[int64]orb.Point, len(els))
	posVer := make(map[int64]int, len(els))
	for i := range els {
		e := &els[i]
		if e.Type == osmchange.Node && e.HasCoords && e.Version >= posVer[e.ID] {
			pos[e.ID], posVer[e.ID] = orb.Point{e.Lon, e.Lat}, e.Version
		}
	}
	// Node refs of ways not positioned by this diff: their stored positions give the extent,
	// and (with regions) their presence in the store keeps the way.
	var refs []int64
	seenRef := map[int64]bool{}
	for i := range els {
		for _, n := range els[i].Nodes {
			if _, ok := pos[n]; !ok && !seenRef[n] {
				seenRef[n] = true
				refs = append(refs, n)
			}
		}
	}
	stored := map[elemKey]bool{}
	if len(refs) > 0 {
		rows, err := tx.Query(ctx, `SELECT DISTINCT ON (id) id, ST_X(geom), ST_Y(geom) FROM elements
			WHERE type = 'n' AND id = ANY($1) ORDER BY id, version DESC`, refs)
		if err != nil {
			return nil, fmt.Errorf("look up stored nodes: %w", err)
		}
		for rows.Next() {
			var id int64
			var x, y *float64
			if err := rows.Scan(&id, &x, &y); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up stored nodes: %w", err)
			}
			stored[elemKey{osmchange.Node, id}] = true
			if x != nil && y != nil {
				pos[id] = orb.Point{*x, *y}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("look up stored nodes: %w", err)
		}
	}

	keptEl := map[elemKey]bool{}
	if planet {
		for i := range m.keep {
			m.keep[i] = true
		}
	} else {
		// Which elements of the diff (and members of its relations) does the store hold?
		var ids [3][]int64
		add := func(t byte, id int64) {
			if !stored[elemKey{t, id}] {
				ids[typeIndex(t)] = append(ids[typeIndex(t)], id)
			}
		}
		for i := range els {
			add(els[i].Type, els[i].ID)
			for _, mem := range els[i].Members {
				add(mem.Type, mem.Ref)
			}
		}
		rows, err := tx.Query(ctx, `SELECT DISTINCT type, id FROM elements
			WHERE (type = 'n' AND id = ANY($1)) OR (type = 'w' AND id = ANY($2)) OR (type = 'r' AND id = ANY($3))`,
			ids[0], ids[1], ids[2])
		if err != nil {
			return nil, fmt.Errorf("look up stored elements: %w", err)
		}
		for rows.Next() {
			var t byte
			var id int64
			if err := rows.Scan(&t, &id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up stored elements: %w", err)
			}
			stored[elemKey{t, id}] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("look up stored elements: %w", err)
		}
		isKept := func(t byte, id int64) bool { return keptEl[elemKey{t, id}] || stored[elemKey{t, id}] }
		// Nodes, then ways, then relations until nothing changes (relations of relations).
		for i := range els {
			e := &els[i]
			if e.Type != osmchange.Node {
				continue
			}
			if stored[elemKey{e.Type, e.ID}] || (e.HasCoords && f.Regions.Contains(orb.Point{e.Lon, e.Lat})) {
				keptEl[elemKey{e.Type, e.ID}] = true
			}
		}
		for i := range els {
			e := &els[i]
			if e.Type != osmchange.Way {
				continue
			}
			if stored[elemKey{e.Type, e.ID}] {
				keptEl[elemKey{e.Type, e.ID}] = true
				continue
			}
			for _, n := range e.Nodes {
				if isKept(osmchange.Node, n) {
					keptEl[elemKey{e.Type, e.ID}] = true
					break
				}
			}
		}
		for changed := true; changed; {
			changed = false
			for i := range els {
				e := &els[i]
				k := elemKey{e.Type, e.ID}
				if e.Type != osmchange.Relation || keptEl[k] {
					continue
				}
				keep := stored[k]
				for _, mem := range e.Members {
					if keep {
						break
					}
					keep = isKept(mem.Type, mem.Ref)
				}
				if keep {
					keptEl[k], changed = true, true
				}
			}
		}
		for i := range els {
			m.keep[i] = keptEl[elemKey{els[i].Type, els[i].ID}]
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
			if p, ok := pos[n]; ok {
				s.extend(p)
			}
		}
	}
	return m, nil
}

func typeIndex(t byte) int {
	switch t {
	case osmchange.Node:
		return 0
	case osmchange.Way:
		return 1
	}
	return 2
}

// writeElements inserts the kept element versions with one statement (arrays unnested
// server-side). Versions already stored are left alone, or overwritten with force.
func writeElements(ctx context.Context, tx pgx.Tx, c *osmchange.Change, m *matched, seq uint64, force bool) error {
	n := m.kept
	if n == 0 {
		return nil
	}
	var (
		types    = make([]string, 0, n)
		ids      = make([]int64, 0, n)
		versions = make([]int32, 0, n)
		csets    = make([]int64, 0, n)
		tss      = make([]time.Time, 0, n)
		uids     = make([]*int64, 0, n)
		users    = make([]*string, 0, n)
		visible  = make([]bool, 0, n)
		actions  = make([]string, 0, n)
		tags     = make([]string, 0, n)
		lons     = make([]*float64, 0, n)
		lats     = make([]*float64, 0, n)
		nodes    = make([]*string, 0, n)
		members  = make([]*string, 0, n)
	)
	var buf []byte
	for i := range c.Elements {
		if !m.keep[i] {
			continue
		}
		e := &c.Elements[i]
		types = append(types, string(rune(e.Type)))
		ids = append(ids, e.ID)
		versions = append(versions, int32(e.Version))
		csets = append(csets, e.Changeset)
		tss = append(tss, e.Timestamp)
		if e.UID != 0 {
			u := e.UID
			uids = append(uids, &u)
		} else {
			uids = append(uids, nil)
		}
		if e.User != "" {
			u := e.User
			users = append(users, &u)
		} else {
			users = append(users, nil)
		}
		visible = append(visible, e.Visible)
		actions = append(actions, e.Action.String())
		buf = appendTagsJSON(buf[:0], e.Tags)
		tags = append(tags, string(buf))
		if e.HasCoords {
			lon, lat := e.Lon, e.Lat
			lons, lats = append(lons, &lon), append(lats, &lat)
		} else {
			lons, lats = append(lons, nil), append(lats, nil)
		}
		if e.Type == osmchange.Way {
			buf = append(buf[:0], '{')
			for j, r := range e.Nodes {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = strconv.AppendInt(buf, r, 10)
			}
			buf = append(buf, '}')
			s := string(buf)
			nodes = append(nodes, &s)
		} else {
			nodes = append(nodes, nil)
		}
		if e.Type == osmchange.Relation {
			buf = appendMembersJSON(buf[:0], e.Members)
			s := string(buf)
			members = append(members, &s)
		} else {
			members = append(members, nil)
		}
	}
	conflict := `ON CONFLICT (type, id, version) DO NOTHING`
	if force {
		conflict = `ON CONFLICT (type, id, version) DO UPDATE SET changeset = EXCLUDED.changeset, ts = EXCLUDED.ts,
			uid = EXCLUDED.uid, username = EXCLUDED.username, visible = EXCLUDED.visible, action = EXCLUDED.action,
			tags = EXCLUDED.tags, geom = EXCLUDED.geom, nodes = EXCLUDED.nodes, members = EXCLUDED.members, seq = EXCLUDED.seq`
	}
	_, err := tx.Exec(ctx, `INSERT INTO elements (type, id, version, changeset, ts, uid, username, visible, action, tags, geom, nodes, members, seq)
		SELECT t::"char", id, v, cs, ts, uid, un, vis, act, tg::jsonb,
			CASE WHEN lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326) END,
			nd::bigint[], mem::jsonb, $15
		FROM unnest($1::text[], $2::bigint[], $3::int[], $4::bigint[], $5::timestamptz[], $6::bigint[], $7::text[],
			$8::bool[], $9::text[], $10::text[], $11::float8[], $12::float8[], $13::text[], $14::text[])
			AS u(t, id, v, cs, ts, uid, un, vis, act, tg, lon, lat, nd, mem)
		`+conflict,
		types, ids, versions, csets, tss, uids, users, visible, actions, tags, lons, lats, nodes, members, int64(seq))
	if err != nil {
		return fmt.Errorf("write elements: %w", err)
	}
	return nil
}

func appendJSONString(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "\"\\") && isPlainASCII(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func appendTagsJSON(b []byte, tags []osmchange.Tag) []byte {
	b = append(b, '{')
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, t.Key)
		b = append(b, ':')
		b = appendJSONString(b, t.Value)
	}
	return append(b, '}')
}

func appendMembersJSON(b []byte, ms []osmchange.Member) []byte {
	b = append(b, '[')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"`...)
		b = append(b, m.Type)
		b = append(b, `","ref":`...)
		b = strconv.AppendInt(b, m.Ref, 10)
		b = append(b, `,"role":`...)
		b = appendJSONString(b, m.Role)
		b = append(b, '}')
	}
	return append(b, ']')
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
