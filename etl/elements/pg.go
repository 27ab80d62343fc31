package elements

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what PG needs of a connection: *pgxpool.Pool, *pgx.Conn and pgx.Tx all do.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// PG is the element store in PostGIS (table elements). It is a small value: make one per
// transaction (PG{DB: tx}) to read and write inside it.
type PG struct {
	DB DB
}

var _ Store = PG{}

// cols are the columns scanRows reads, from alias e.
const cols = `e.type::text, e.id, e.version, e.changeset, e.ts, e.uid, e.username, e.visible, e.action, e.tags,
	ST_X(e.geom), ST_Y(e.geom), e.nodes, e.members, e.seq, e.source`

func scanRows(rows pgx.Rows, err error) ([]Element, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Element
	for rows.Next() {
		var (
			e              Element
			t              string
			uid, seq       *int64
			user, act, src *string
			tags, members  []byte
			x, y           *float64
			version        int32
		)
		if err := rows.Scan(&t, &e.ID, &version, &e.Changeset, &e.Timestamp, &uid, &user, &e.Visible, &act, &tags,
			&x, &y, &e.Nodes, &members, &seq, &src); err != nil {
			return nil, err
		}
		if len(t) == 1 {
			e.Type = t[0]
		}
		e.Version = int(version)
		e.Timestamp = e.Timestamp.UTC()
		if uid != nil {
			e.UID = *uid
		}
		if user != nil {
			e.User = *user
		}
		if act != nil {
			if e.Action, err = ParseAction(*act); err != nil {
				return nil, fmt.Errorf("%s: %w", e.Ref(), err)
			}
		}
		if x != nil && y != nil {
			e.HasCoords, e.Lon, e.Lat = true, *x, *y
		}
		if e.Tags, err = DecodeTags(tags); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Ref(), err)
		}
		if e.Members, err = DecodeMembers(members); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Ref(), err)
		}
		if seq != nil {
			e.Seq = *seq
		}
		e.Source = sourceOf(src, seq)
		out = append(out, e)
	}
	return out, rows.Err()
}

// rowArrays is a batch of versions in column arrays (the unnest path) or COPY rows.
type rowArrays struct {
	types    []string
	ids      []int64
	versions []int32
	csets    []int64
	tss      []time.Time
	uids     []*int64
	users    []*string
	visible  []bool
	actions  []*string
	tags     []string
	lons     []*float64
	lats     []*float64
	nodes    []*string
	members  []*string
}

func encode(els []Element) *rowArrays {
	n := len(els)
	r := &rowArrays{
		types: make([]string, 0, n), ids: make([]int64, 0, n), versions: make([]int32, 0, n),
		csets: make([]int64, 0, n), tss: make([]time.Time, 0, n), uids: make([]*int64, 0, n),
		users: make([]*string, 0, n), visible: make([]bool, 0, n), actions: make([]*string, 0, n),
		tags: make([]string, 0, n), lons: make([]*float64, 0, n), lats: make([]*float64, 0, n),
		nodes: make([]*string, 0, n), members: make([]*string, 0, n),
	}
	var (
		buf     []byte
		actStr  = [4]string{"", "create", "modify", "delete"}
		typeStr = map[byte]string{Node: "n", Way: "w", Relation: "r"}
	)
	for i := range els {
		e := &els[i]
		t, ok := typeStr[e.Type]
		if !ok {
			t = string(rune(e.Type))
		}
		r.types = append(r.types, t)
		r.ids = append(r.ids, e.ID)
		r.versions = append(r.versions, int32(e.Version))
		r.csets = append(r.csets, e.Changeset)
		r.tss = append(r.tss, e.Timestamp)
		if e.UID != 0 {
			u := e.UID
			r.uids = append(r.uids, &u)
		} else {
			r.uids = append(r.uids, nil)
		}
		if e.User != "" {
			u := e.User
			r.users = append(r.users, &u)
		} else {
			r.users = append(r.users, nil)
		}
		r.visible = append(r.visible, e.Visible)
		if e.Action >= Create && e.Action <= Delete {
			r.actions = append(r.actions, &actStr[e.Action])
		} else {
			r.actions = append(r.actions, nil)
		}
		buf = AppendTagsJSON(buf[:0], e.Tags)
		r.tags = append(r.tags, string(buf))
		if e.HasCoords {
			lon, lat := e.Lon, e.Lat
			r.lons, r.lats = append(r.lons, &lon), append(r.lats, &lat)
		} else {
			r.lons, r.lats = append(r.lons, nil), append(r.lats, nil)
		}
		if e.Type == Way {
			buf = AppendNodesArray(buf[:0], e.Nodes)
			s := string(buf)
			r.nodes = append(r.nodes, &s)
		} else {
			r.nodes = append(r.nodes, nil)
		}
		if e.Type == Relation {
			buf = AppendMembersJSON(buf[:0], e.Members)
			s := string(buf)
			r.members = append(r.members, &s)
		} else {
			r.members = append(r.members, nil)
		}
	}
	return r
}

const conflictKeep = `ON CONFLICT (type, id, version) DO NOTHING`

// conflictDiff keeps versions already held, except that a diff says what a version the API
// answered for or a changeset download held did (action, seq, source diff): the diff's word is
// the better one.
const conflictDiff = `ON CONFLICT (type, id, version) DO UPDATE SET action = EXCLUDED.action, seq = EXCLUDED.seq,
	source = EXCLUDED.source WHERE elements.source IN ('api', 'download')`

const conflictReplace = `ON CONFLICT (type, id, version) DO UPDATE SET changeset = EXCLUDED.changeset, ts = EXCLUDED.ts,
	uid = EXCLUDED.uid, username = EXCLUDED.username, visible = EXCLUDED.visible, action = EXCLUDED.action,
	tags = EXCLUDED.tags, geom = EXCLUDED.geom, nodes = EXCLUDED.nodes, members = EXCLUDED.members, seq = EXCLUDED.seq,
	source = EXCLUDED.source`

func nullSeq(seq int64) *int64 {
	if seq == 0 {
		return nil
	}
	return &seq
}

// Write implements Store with one statement (column arrays unnested server-side): the path for
// a diff's or an API answer's versions, up to some ten thousands. Use WriteBulk for millions.
// A diff's versions must be distinct (osmchange.Check); a version held from the API takes the
// diff's action, seq and source.
func (p PG) Write(ctx context.Context, els []Element, src Source, seq int64, replace bool) error {
	if len(els) == 0 {
		return nil
	}
	if !src.Valid() {
		return fmt.Errorf("write elements: unknown source %d", src)
	}
	r := encode(els)
	conflict := conflictKeep
	switch {
	case replace:
		conflict = conflictReplace
	case src == SourceDiff:
		conflict = conflictDiff
	}
	_, err := p.DB.Exec(ctx, `INSERT INTO elements (type, id, version, changeset, ts, uid, username, visible, action, tags, geom, nodes, members, seq, source)
		SELECT t::"char", id, v, cs, ts, uid, un, vis, act, tg::jsonb,
			CASE WHEN lon IS NULL OR lat IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326) END,
			nd::bigint[], mem::jsonb, $15, $16
		FROM unnest($1::text[], $2::bigint[], $3::int[], $4::bigint[], $5::timestamptz[], $6::bigint[], $7::text[],
			$8::bool[], $9::text[], $10::text[], $11::float8[], $12::float8[], $13::text[], $14::text[])
			AS u(t, id, v, cs, ts, uid, un, vis, act, tg, lon, lat, nd, mem)
		`+conflict,
		r.types, r.ids, r.versions, r.csets, r.tss, r.uids, r.users, r.visible, r.actions, r.tags, r.lons, r.lats, r.nodes, r.members,
		nullSeq(seq), src.String())
	if err != nil {
		return fmt.Errorf("write %d element versions: %w", len(els), err)
	}
	return nil
}

// stageColumns are the columns of the COPY staging table.
var stageColumns = []string{"t", "id", "v", "cs", "ts", "uid", "un", "vis", "act", "tg", "lon", "lat", "nd", "mem"}

// WriteBulk stores versions from src with COPY into a temporary staging table and one
// INSERT … ON CONFLICT DO NOTHING from it: versions already held are kept. It is the path for
// loading extracts: call it with batches of some 10,000–100,000 versions (memory is the
// batch's). It runs in its own transaction (a savepoint when DB is a transaction), so a failed
// batch leaves nothing. It returns how many versions were new.
func (p PG) WriteBulk(ctx context.Context, els []Element, src Source) (int64, error) {
	if len(els) == 0 {
		return 0, nil
	}
	if !src.Valid() {
		return 0, fmt.Errorf("bulk write elements: unknown source %d", src)
	}
	tx, err := p.DB.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("bulk write elements: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	// The staging table lives as long as the connection and is emptied at every commit.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS elements_stage (
			t text, id bigint, v int, cs bigint, ts timestamptz, uid bigint, un text, vis bool, act text,
			tg text, lon float8, lat float8, nd bigint[], mem text) ON COMMIT DELETE ROWS`); err != nil {
		return 0, fmt.Errorf("bulk write elements: staging table: %w", err)
	}
	if _, err := tx.Exec(ctx, `TRUNCATE elements_stage`); err != nil {
		return 0, fmt.Errorf("bulk write elements: staging table: %w", err)
	}
	var buf []byte
	row := make([]any, len(stageColumns))
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"elements_stage"}, stageColumns, pgx.CopyFromSlice(len(els), func(i int) ([]any, error) {
		e := &els[i]
		row[0] = string(rune(e.Type))
		row[1], row[2], row[3], row[4] = e.ID, int32(e.Version), e.Changeset, e.Timestamp
		row[5], row[6] = nil, nil
		if e.UID != 0 {
			row[5] = e.UID
		}
		if e.User != "" {
			row[6] = e.User
		}
		row[7] = e.Visible
		row[8] = nil
		if e.Action >= Create && e.Action <= Delete {
			row[8] = e.Action.String()
		}
		buf = AppendTagsJSON(buf[:0], e.Tags)
		row[9] = string(buf)
		row[10], row[11] = nil, nil
		if e.HasCoords {
			row[10], row[11] = e.Lon, e.Lat
		}
		row[12], row[13] = nil, nil
		switch e.Type {
		case Way:
			if e.Nodes == nil {
				row[12] = []int64{}
			} else {
				row[12] = e.Nodes
			}
		case Relation:
			buf = AppendMembersJSON(buf[:0], e.Members)
			row[13] = string(buf)
		}
		return row, nil
	}))
	if err != nil {
		return 0, fmt.Errorf("bulk write elements: copy: %w", err)
	}
	if n != int64(len(els)) {
		return 0, fmt.Errorf("bulk write elements: copied %d of %d rows", n, len(els))
	}
	tag, err := tx.Exec(ctx, `INSERT INTO elements (type, id, version, changeset, ts, uid, username, visible, action, tags, geom, nodes, members, source)
		SELECT t::"char", id, v, cs, ts, uid, un, vis, act, tg::jsonb,
			CASE WHEN lon IS NULL OR lat IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326) END,
			nd, mem::jsonb, $1
		FROM elements_stage `+conflictKeep, src.String())
	if err != nil {
		return 0, fmt.Errorf("bulk write elements: insert: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("bulk write elements: commit: %w", err)
	}
	return tag.RowsAffected(), nil
}

func keyArrays(keys []Key) ([]string, []int64) {
	ts, ids := make([]string, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		ts[i], ids[i] = string(rune(k.Type)), k.ID
	}
	return ts, ids
}

func vkeyArrays(keys []VKey) ([]string, []int64, []int32) {
	ts, ids, vs := make([]string, len(keys)), make([]int64, len(keys)), make([]int32, len(keys))
	for i, k := range keys {
		ts[i], ids[i], vs[i] = string(rune(k.Type)), k.ID, int32(k.Version)
	}
	return ts, ids, vs
}

// Versions implements Store.
func (p PG) Versions(ctx context.Context, keys []VKey) ([]Element, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ts, ids, vs := vkeyArrays(keys)
	es, err := scanRows(p.DB.Query(ctx, `SELECT `+cols+` FROM unnest($1::text[], $2::bigint[], $3::int[]) k(t, i, v)
		JOIN elements e ON e.type = k.t::"char" AND e.id = k.i AND e.version = k.v`, ts, ids, vs))
	if err != nil {
		return nil, fmt.Errorf("read element versions: %w", err)
	}
	return es, nil
}

// History implements Store.
func (p PG) History(ctx context.Context, keys []Key) ([]Element, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ts, ids := keyArrays(keys)
	es, err := scanRows(p.DB.Query(ctx, `SELECT `+cols+` FROM unnest($1::text[], $2::bigint[]) k(t, i)
		JOIN elements e ON e.type = k.t::"char" AND e.id = k.i ORDER BY e.type, e.id, e.version`, ts, ids))
	if err != nil {
		return nil, fmt.Errorf("read element history: %w", err)
	}
	Sort(es)
	return es, nil
}

// Latest implements Store.
func (p PG) Latest(ctx context.Context, keys []Key) ([]Element, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ts, ids := keyArrays(keys)
	es, err := scanRows(p.DB.Query(ctx, `SELECT `+cols+` FROM (SELECT DISTINCT t, i FROM unnest($1::text[], $2::bigint[]) k(t, i)) k
		CROSS JOIN LATERAL (SELECT * FROM elements e WHERE e.type = k.t::"char" AND e.id = k.i ORDER BY e.version DESC LIMIT 1) e`, ts, ids))
	if err != nil {
		return nil, fmt.Errorf("read newest element versions: %w", err)
	}
	Sort(es)
	return es, nil
}

// Previous implements Store.
func (p PG) Previous(ctx context.Context, keys []VKey) (map[VKey]Element, error) {
	out := map[VKey]Element{}
	if len(keys) == 0 {
		return out, nil
	}
	ts, ids, vs := vkeyArrays(keys)
	rows, err := p.DB.Query(ctx, `SELECT k.v, `+cols+` FROM unnest($1::text[], $2::bigint[], $3::int[]) k(t, i, v)
		CROSS JOIN LATERAL (SELECT * FROM elements e WHERE e.type = k.t::"char" AND e.id = k.i AND e.version < k.v
			ORDER BY e.version DESC LIMIT 1) e`, ts, ids, vs)
	if err != nil {
		return nil, fmt.Errorf("read previous versions: %w", err)
	}
	// The first column is the version asked for; scan it apart from the element columns.
	es, of, err := scanWithInt(rows)
	if err != nil {
		return nil, fmt.Errorf("read previous versions: %w", err)
	}
	for i, e := range es {
		out[VKey{e.Type, e.ID, of[i]}] = e
	}
	return out, nil
}

// scanWithInt scans rows whose first column is an int before the element columns.
func scanWithInt(rows pgx.Rows) ([]Element, []int, error) {
	var ints []int
	es, err := scanRows(&prefixRows{Rows: rows, ints: &ints}, nil)
	return es, ints, err
}

// prefixRows peels a leading int column off each row for scanRows.
type prefixRows struct {
	pgx.Rows
	ints *[]int
}

func (r *prefixRows) Scan(dest ...any) error {
	var v int32
	if err := r.Rows.Scan(append([]any{&v}, dest...)...); err != nil {
		return err
	}
	*r.ints = append(*r.ints, int(v))
	return nil
}

// Known implements Store.
func (p PG) Known(ctx context.Context, keys []Key, from ...Source) (map[Key]bool, error) {
	out := map[Key]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	var ids [3][]int64
	for _, k := range keys {
		ids[TypeIndex(k.Type)] = append(ids[TypeIndex(k.Type)], k.ID)
	}
	q := `SELECT DISTINCT type, id FROM elements
		WHERE ((type = 'n' AND id = ANY($1)) OR (type = 'w' AND id = ANY($2)) OR (type = 'r' AND id = ANY($3)))`
	args := []any{ids[0], ids[1], ids[2]}
	if len(from) > 0 {
		names := make([]string, len(from))
		for i, s := range from {
			names[i] = s.String()
		}
		q += ` AND coalesce(source, CASE WHEN seq IS NULL THEN 'api' ELSE 'diff' END) = ANY($4)`
		args = append(args, names)
	}
	rows, err := p.DB.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("look up stored elements: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t byte
		var id int64
		if err := rows.Scan(&t, &id); err != nil {
			return nil, fmt.Errorf("look up stored elements: %w", err)
		}
		out[Key{t, id}] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up stored elements: %w", err)
	}
	return out, nil
}

// Positions implements Store.
func (p PG) Positions(ctx context.Context, ids []int64, located bool) (map[int64]Position, error) {
	out := make(map[int64]Position, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	where := ``
	if located {
		where = ` AND geom IS NOT NULL`
	}
	rows, err := p.DB.Query(ctx, `SELECT DISTINCT ON (id) id, version, ST_X(geom), ST_Y(geom), seq, source FROM elements
		WHERE type = 'n' AND id = ANY($1)`+where+` ORDER BY id, version DESC`, ids)
	if err != nil {
		return nil, fmt.Errorf("look up stored nodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id      int64
			version int32
			x, y    *float64
			seq     *int64
			src     *string
		)
		if err := rows.Scan(&id, &version, &x, &y, &seq, &src); err != nil {
			return nil, fmt.Errorf("look up stored nodes: %w", err)
		}
		pos := Position{Version: int(version), Source: sourceOf(src, seq)}
		if x != nil && y != nil {
			pos.HasCoords, pos.Lon, pos.Lat = true, *x, *y
		}
		out[id] = pos
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up stored nodes: %w", err)
	}
	return out, nil
}

// waysWithNodesSQL finds the ways by elements_way_nodes_idx (a GIN index over the nodes of
// ways: the type = 'w' and && here are its predicate and operator).
const waysWithNodesSQL = `SELECT DISTINCT ON (e.id) ` + cols + ` FROM elements e
	WHERE e.type = 'w' AND e.nodes && $1::bigint[] ORDER BY e.id, e.version DESC`

// WaysWithNodes implements Store.
func (p PG) WaysWithNodes(ctx context.Context, nodes []int64) ([]Element, error) {
	if len(nodes) == 0 {
		return nil, nil
	}
	es, err := scanRows(p.DB.Query(ctx, waysWithNodesSQL, nodes))
	if err != nil {
		return nil, fmt.Errorf("find ways of nodes: %w", err)
	}
	return es, nil
}

// ChangesetElements implements Store.
func (p PG) ChangesetElements(ctx context.Context, changesets []int64) ([]Element, error) {
	if len(changesets) == 0 {
		return nil, nil
	}
	es, err := scanRows(p.DB.Query(ctx, `SELECT `+cols+` FROM elements e WHERE e.changeset = ANY($1)`, changesets))
	if err != nil {
		return nil, fmt.Errorf("read elements of changesets: %w", err)
	}
	sortElements(es, func(a, b *Element) bool {
		if a.Changeset != b.Changeset {
			return a.Changeset < b.Changeset
		}
		return lessVKey(a.VKey(), b.VKey())
	})
	return es, nil
}

// PruneBatch implements Store.
func (p PG) PruneBatch(ctx context.Context, cutoff time.Time, cur *PruneCursor, limit int) (deleted, scanned int64, err error) {
	var (
		ts      *time.Time
		typ     *string
		id      *int64
		version *int32
	)
	start, styp, sid, sver := time.Time{}, "", int64(-1<<63), int32(-1<<31)
	if cur.Set {
		start, styp, sid, sver = cur.TS, string(rune(cur.Type)), cur.ID, int32(cur.Version)
	}
	err = p.DB.QueryRow(ctx, `
		WITH cand AS (
			SELECT type, id, version, ts FROM elements
			WHERE ts < $1 AND ts >= $2 AND (ts, type::text, id, version) > ($2, $3, $4, $5)
			ORDER BY ts, type::text, id, version
			LIMIT $6
		), del AS (
			DELETE FROM elements e USING cand c
			WHERE e.type = c.type AND e.id = c.id AND e.version = c.version
			  AND EXISTS (SELECT 1 FROM elements n WHERE n.type = e.type AND n.id = e.id AND n.version > e.version)
			RETURNING 1
		), last AS (
			SELECT ts, type::text AS type, id, version FROM cand ORDER BY ts DESC, type::text DESC, id DESC, version DESC LIMIT 1
		)
		SELECT (SELECT count(*) FROM del), (SELECT count(*) FROM cand), last.ts, last.type, last.id, last.version
		FROM (SELECT 1) one LEFT JOIN last ON true`,
		cutoff, start, styp, sid, sver, limit).Scan(&deleted, &scanned, &ts, &typ, &id, &version)
	if err != nil {
		return 0, 0, fmt.Errorf("prune elements: %w", err)
	}
	if scanned > 0 {
		if ts == nil || typ == nil || id == nil || version == nil || len(*typ) != 1 {
			return deleted, scanned, errors.New("prune elements: no cursor after a batch")
		}
		*cur = PruneCursor{TS: *ts, Type: (*typ)[0], ID: *id, Version: int(*version), Set: true}
	}
	return deleted, scanned, nil
}
