package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/osmapi"
)

// PGStore is the PostGIS element store (table elements) and the user cache (osm_users).
type PGStore struct {
	DB *pgxpool.Pool
}

const elemCols = `e.type::text, e.id, e.version, e.changeset, e.ts, coalesce(e.uid, 0), coalesce(e.username, ''), e.visible,
	coalesce(e.action, ''), e.tags, e.geom IS NOT NULL, coalesce(ST_X(e.geom), 0), coalesce(ST_Y(e.geom), 0), e.nodes, e.members`

func scanElems(rows pgx.Rows) ([]Elem, error) {
	defer rows.Close()
	var out []Elem
	for rows.Next() {
		var e Elem
		var t string
		var tags, members []byte
		if err := rows.Scan(&t, &e.ID, &e.Version, &e.Changeset, &e.TS, &e.UID, &e.User, &e.Visible, &e.Action, &tags, &e.HasLoc, &e.Lon, &e.Lat, &e.Nodes, &members); err != nil {
			return nil, err
		}
		if len(t) > 0 {
			e.Type = t[0]
		}
		e.TS = e.TS.UTC()
		if err := json.Unmarshal(tags, &e.Tags); err != nil {
			return nil, fmt.Errorf("%s %d v%d: tags: %w", TypeName(e.Type), e.ID, e.Version, err)
		}
		if len(members) > 0 {
			if err := json.Unmarshal(members, &e.Members); err != nil {
				return nil, fmt.Errorf("%s %d v%d: members: %w", TypeName(e.Type), e.ID, e.Version, err)
			}
		}
		if e.Tags == nil {
			e.Tags = map[string]string{}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Versions implements Store.
func (p *PGStore) Versions(ctx context.Context, keys []VKey) ([]Elem, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ts, ids, vs := make([]string, len(keys)), make([]int64, len(keys)), make([]int32, len(keys))
	for i, k := range keys {
		ts[i], ids[i], vs[i] = string(k.Type), k.ID, int32(k.Version)
	}
	rows, err := p.DB.Query(ctx, `SELECT `+elemCols+` FROM unnest($1::text[], $2::bigint[], $3::int[]) k(t, i, v)
		JOIN elements e ON e.type = k.t::"char" AND e.id = k.i AND e.version = k.v`, ts, ids, vs)
	if err != nil {
		return nil, fmt.Errorf("read element versions: %w", err)
	}
	return scanElems(rows)
}

// History implements Store.
func (p *PGStore) History(ctx context.Context, keys []Key) ([]Elem, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ts, ids := make([]string, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		ts[i], ids[i] = string(k.Type), k.ID
	}
	rows, err := p.DB.Query(ctx, `SELECT `+elemCols+` FROM unnest($1::text[], $2::bigint[]) k(t, i)
		JOIN elements e ON e.type = k.t::"char" AND e.id = k.i`, ts, ids)
	if err != nil {
		return nil, fmt.Errorf("read element history: %w", err)
	}
	return scanElems(rows)
}

// ChangesetElements returns the versions the store holds of changeset id.
func (p *PGStore) ChangesetElements(ctx context.Context, id int64) ([]Elem, error) {
	rows, err := p.DB.Query(ctx, `SELECT `+elemCols+` FROM elements e WHERE e.changeset = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("read elements of changeset %d: %w", id, err)
	}
	es, err := scanElems(rows)
	if err != nil {
		return nil, fmt.Errorf("read elements of changeset %d: %w", id, err)
	}
	SortElems(es)
	return es, nil
}

// WaysWithNodes implements WayFinder: the newest stored version of each way referencing any of
// the nodes.
func (p *PGStore) WaysWithNodes(ctx context.Context, nodes []int64) ([]Elem, error) {
	rows, err := p.DB.Query(ctx, `SELECT DISTINCT ON (e.id) `+elemCols+` FROM elements e
		WHERE e.type = 'w' AND e.nodes && $1::bigint[] ORDER BY e.id, e.version DESC`, nodes)
	if err != nil {
		return nil, fmt.Errorf("find ways of nodes: %w", err)
	}
	return scanElems(rows)
}

// Put implements Store: versions already stored are left alone.
func (p *PGStore) Put(ctx context.Context, elems []Elem) error {
	if len(elems) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, e := range elems {
		tags, err := json.Marshal(orEmpty(e.Tags))
		if err != nil {
			return err
		}
		var members any
		if e.Type == 'r' {
			m, err := json.Marshal(orEmptyMembers(e.Members))
			if err != nil {
				return err
			}
			members = string(m)
		}
		var nodes any
		if e.Type == 'w' {
			nodes = orEmptyNodes(e.Nodes)
		}
		var action any
		if e.Action != "" {
			action = e.Action
		}
		var uid any
		if e.UID != 0 {
			uid = e.UID
		}
		b.Queue(`INSERT INTO elements (type, id, version, changeset, ts, uid, username, visible, action, tags, geom, nodes, members)
			VALUES ($1::text::"char", $2, $3, $4, $5, $6, nullif($7, ''), $8, $9, $10::jsonb,
			        CASE WHEN $11 THEN ST_SetSRID(ST_MakePoint($12, $13), 4326) END, $14, $15::jsonb)
			ON CONFLICT (type, id, version) DO NOTHING`,
			string(e.Type), e.ID, e.Version, e.Changeset, e.TS, uid, e.User, e.Visible, action, string(tags),
			e.HasLoc, e.Lon, e.Lat, nodes, members)
	}
	if err := p.DB.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store %d element versions: %w", len(elems), err)
	}
	return nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func orEmptyMembers(m []Member) []Member {
	if m == nil {
		return []Member{}
	}
	return m
}

func orEmptyNodes(n []int64) []int64 {
	if n == nil {
		return []int64{}
	}
	return n
}

// CachedUser implements UserCache.
func (p *PGStore) CachedUser(ctx context.Context, uid int64, day time.Time) (osmapi.User, bool, error) {
	u := osmapi.User{ID: uid}
	var created *time.Time
	var name *string
	err := p.DB.QueryRow(ctx, `SELECT display_name, changesets_count, blocks_received, blocks_active, account_created
		FROM osm_users WHERE uid = $1 AND day = $2::date`, uid, day.UTC().Format("2006-01-02")).
		Scan(&name, &u.ChangesetsCount, &u.BlocksReceived, &u.BlocksActive, &created)
	if err == pgx.ErrNoRows {
		return osmapi.User{}, false, nil
	}
	if err != nil {
		return osmapi.User{}, false, fmt.Errorf("read user %d: %w", uid, err)
	}
	if name != nil {
		u.Name = *name
	}
	if created != nil {
		u.CreatedAt = *created
	}
	return u, true, nil
}

// PutUser implements UserCache.
func (p *PGStore) PutUser(ctx context.Context, u osmapi.User, day time.Time) error {
	var created any
	if !u.CreatedAt.IsZero() {
		created = u.CreatedAt
	}
	_, err := p.DB.Exec(ctx, `INSERT INTO osm_users (uid, day, display_name, changesets_count, blocks_received, blocks_active, account_created)
		VALUES ($1, $2::date, $3, $4, $5, $6, $7)
		ON CONFLICT (uid, day) DO UPDATE SET display_name = EXCLUDED.display_name, changesets_count = EXCLUDED.changesets_count,
			blocks_received = EXCLUDED.blocks_received, blocks_active = EXCLUDED.blocks_active, fetched_at = now()`,
		u.ID, day.UTC().Format("2006-01-02"), u.Name, u.ChangesetsCount, u.BlocksReceived, u.BlocksActive, created)
	if err != nil {
		return fmt.Errorf("store user %d: %w", u.ID, err)
	}
	return nil
}
