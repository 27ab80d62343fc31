package analysis

import (
	"context"
	"fmt"
	"sort"
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
func (p *PGStore) Versions(ctx context.Context, keys []VKey) ([]Elem, error) {
	vks := make([]elements.VKey, len(keys))
	for i, k := range keys {
		vks[i] = elements.VKey{Type: k.Type, ID: k.ID, Version: k.Version}
	}
	es, err := p.elementStore().Versions(ctx, vks)
	return fromStore(es), err
}

// History implements Store.
func (p *PGStore) History(ctx context.Context, keys []Key) ([]Elem, error) {
	es, err := p.elementStore().History(ctx, storeKeys(keys))
	return fromStore(es), err
}

// ChangesetElements returns the versions the store holds of changeset id.
func (p *PGStore) ChangesetElements(ctx context.Context, id int64) ([]Elem, error) {
	es, err := p.elementStore().ChangesetElements(ctx, []int64{id})
	if err != nil {
		return nil, fmt.Errorf("changeset %d: %w", id, err)
	}
	out := fromStore(es)
	SortElems(out)
	return out, nil
}

// WaysWithNodes implements WayFinder: the newest stored version of each way referencing any of
// the nodes.
func (p *PGStore) WaysWithNodes(ctx context.Context, nodes []int64) ([]Elem, error) {
	es, err := p.elementStore().WaysWithNodes(ctx, nodes)
	return fromStore(es), err
}

// Put implements Store: versions already stored are left alone. Each version is stored with
// its Source (api when unset).
func (p *PGStore) Put(ctx context.Context, elems []Elem) error {
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
		bySource[src] = append(bySource[src], toStore(e))
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

func storeKeys(keys []Key) []elements.Key {
	out := make([]elements.Key, len(keys))
	for i, k := range keys {
		out[i] = elements.Key{Type: k.Type, ID: k.ID}
	}
	return out
}

// toStore converts a version for the element store.
func toStore(e Elem) elements.Element {
	out := elements.Element{Type: e.Type, ID: e.ID, Version: e.Version, Changeset: e.Changeset, Timestamp: e.TS,
		UID: e.UID, User: e.User, Visible: e.Visible, HasCoords: e.HasLoc, Nodes: e.Nodes, Source: e.Source}
	if e.HasLoc {
		out.Lat, out.Lon = e.Lat, e.Lon
	}
	out.Action, _ = elements.ParseAction(e.Action)
	if e.Type == 'w' && out.Nodes == nil {
		out.Nodes = []int64{}
	}
	if len(e.Tags) > 0 {
		keys := make([]string, 0, len(e.Tags))
		for k := range e.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out.Tags = make([]elements.Tag, len(keys))
		for i, k := range keys {
			out.Tags[i] = elements.Tag{Key: k, Value: e.Tags[k]}
		}
	}
	if e.Type == 'r' {
		out.Members = make([]elements.Member, 0, len(e.Members))
		for _, m := range e.Members {
			if len(m.Type) == 1 {
				out.Members = append(out.Members, elements.Member{Type: m.Type[0], Ref: m.Ref, Role: m.Role})
			}
		}
	}
	return out
}

// fromStore converts versions read from the element store.
func fromStore(es []elements.Element) []Elem {
	if es == nil {
		return nil
	}
	out := make([]Elem, len(es))
	for i := range es {
		e := &es[i]
		out[i] = Elem{Type: e.Type, ID: e.ID, Version: e.Version, Changeset: e.Changeset, TS: e.Timestamp, UID: e.UID,
			User: e.User, Visible: e.Visible, Action: e.Action.String(), Tags: e.TagMap(), HasLoc: e.HasCoords,
			Nodes: e.Nodes, Source: e.Source}
		if e.HasCoords {
			out[i].Lat, out[i].Lon = e.Lat, e.Lon
		}
		if e.Members != nil {
			out[i].Members = make([]Member, len(e.Members))
			for j, m := range e.Members {
				out[i].Members[j] = Member{Type: string(rune(m.Type)), Ref: m.Ref, Role: m.Role}
			}
		}
	}
	return out
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
