package analysis

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmapi"
)

// PGStore is the PostGIS element store (table elements) and the user cache (osm_users). DB is
// a pool, or the transaction of one changeset's analysis (Worker): then everything the analysis
// writes (downloaded versions, users) commits with its result, or not at all.
type PGStore struct {
	DB elements.DB
}

// elementStore is the element store under PGStore: every statement on the elements table
// lives in etl/elements.
func (p *PGStore) elementStore() elements.PG { return elements.PG{DB: p.DB} }

// Versions implements Store.
func (p *PGStore) Versions(ctx context.Context, keys []elements.VKey) ([]elements.Element, error) {
	return p.elementStore().Versions(ctx, keys)
}

// History implements Store.
func (p *PGStore) History(ctx context.Context, keys []elements.Key) ([]elements.Element, error) {
	return p.elementStore().History(ctx, keys)
}

// ChangesetElements returns the versions the store holds of changeset id.
func (p *PGStore) ChangesetElements(ctx context.Context, id int64) ([]elements.Element, error) {
	es, err := p.elementStore().ChangesetElements(ctx, []int64{id})
	if err != nil {
		return nil, fmt.Errorf("changeset %d: %w", id, err)
	}
	elements.Sort(es)
	return es, nil
}

// WaysWithNodes implements WayFinder: the newest stored version of each way referencing any of
// the nodes.
func (p *PGStore) WaysWithNodes(ctx context.Context, nodes []int64) ([]elements.Element, error) {
	return p.elementStore().WaysWithNodes(ctx, nodes)
}

// Put implements Store: versions already stored are left alone. Each version is stored with
// its Source (api when unset).
func (p *PGStore) Put(ctx context.Context, elems []elements.Element) error {
	bySource := map[elements.Source][]elements.Element{}
	var order []elements.Source
	for _, e := range elems {
		src := e.Source
		if src == 0 {
			src = elements.SourceAPI
		}
		if _, ok := bySource[src]; !ok {
			order = append(order, src)
		}
		bySource[src] = append(bySource[src], e)
	}
	for _, src := range order {
		es := bySource[src]
		elements.Sort(es)
		if err := p.elementStore().Write(ctx, es, src, 0, false); err != nil {
			return err
		}
	}
	return nil
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
