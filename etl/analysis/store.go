package analysis

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmapi"
)

// Store holds element versions: the PostGIS element store (PGStore) or history files in memory
// (MemStore). Analysis reads before-states from it and puts there what the API answered.
type Store interface {
	// Versions returns the versions it holds among keys.
	Versions(ctx context.Context, keys []elements.VKey) ([]elements.Element, error)
	// History returns every version it holds of the elements.
	History(ctx context.Context, keys []elements.Key) ([]elements.Element, error)
	// Put stores versions (idempotent: a version already held is left alone).
	Put(ctx context.Context, elems []elements.Element) error
}

// WayFinder is implemented by stores that can list the ways referencing nodes (used for
// dragged_node when the way is not part of the changeset).
type WayFinder interface {
	WaysWithNodes(ctx context.Context, nodes []int64) ([]elements.Element, error)
}

// API fetches what the store lacks; *osmapi.Client satisfies it.
type API interface {
	Versions(ctx context.Context, ids []osm.ObjectID) (osm.Objects, []osm.ObjectID, error)
	Current(ctx context.Context, ids []osm.FeatureID) (osm.Objects, []osm.FeatureID, error)
}

// NodeWays is implemented by APIs that list the current ways of a node (node/ID/ways);
// *osmapi.Client does. Used for dragged_node when neither the changeset nor the store knows
// the node's ways.
type NodeWays interface {
	WaysOfNode(ctx context.Context, id int64) (osm.Objects, error)
}

// Users looks up user details; *osmapi.Client satisfies it.
type Users interface {
	User(ctx context.Context, uid int64) (osmapi.User, error)
}

// UserCache keeps user details per user per day (PGStore: table osm_users).
type UserCache interface {
	CachedUser(ctx context.Context, uid int64, day time.Time) (osmapi.User, bool, error)
	PutUser(ctx context.Context, u osmapi.User, day time.Time) error
}

// MemStore is a Store in memory (history files, the API's answers in analyse-file). It is safe
// for concurrent use.
type MemStore struct {
	mu    sync.Mutex
	byVer map[elements.VKey]elements.Element
	byKey map[elements.Key][]int // versions held, sorted
	users map[int64]osmapi.User
}

// NewMemStore returns a store holding elems.
func NewMemStore(elems []elements.Element) *MemStore {
	m := &MemStore{byVer: map[elements.VKey]elements.Element{}, byKey: map[elements.Key][]int{}, users: map[int64]osmapi.User{}}
	m.Put(context.Background(), elems)
	return m
}

// Len is the number of versions held.
func (m *MemStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byVer)
}

// Versions implements Store.
func (m *MemStore) Versions(_ context.Context, keys []elements.VKey) ([]elements.Element, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []elements.Element
	for _, k := range keys {
		if e, ok := m.byVer[k]; ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// History implements Store.
func (m *MemStore) History(_ context.Context, keys []elements.Key) ([]elements.Element, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []elements.Element
	for _, k := range keys {
		for _, v := range m.byKey[k] {
			out = append(out, m.byVer[elements.VKey{Type: k.Type, ID: k.ID, Version: v}])
		}
	}
	return out, nil
}

// Put implements Store.
func (m *MemStore) Put(_ context.Context, elems []elements.Element) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range elems {
		vk := e.VKey()
		if _, ok := m.byVer[vk]; ok {
			continue
		}
		m.byVer[vk] = e
		vs := append(m.byKey[e.Key()], e.Version)
		sort.Ints(vs)
		m.byKey[e.Key()] = vs
	}
	return nil
}

// WaysWithNodes implements WayFinder (newest held version of each way, by id).
func (m *MemStore) WaysWithNodes(_ context.Context, nodes []int64) ([]elements.Element, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[int64]bool{}
	for _, n := range nodes {
		want[n] = true
	}
	var out []elements.Element
	for k, vs := range m.byKey {
		if k.Type != 'w' {
			continue
		}
		e := m.byVer[elements.VKey{Type: k.Type, ID: k.ID, Version: vs[len(vs)-1]}]
		for _, n := range e.Nodes {
			if want[n] {
				out = append(out, e)
				break
			}
		}
	}
	elements.Sort(out) // by id, as PGStore answers
	return out, nil
}

// CachedUser implements UserCache (the day is ignored in memory).
func (m *MemStore) CachedUser(_ context.Context, uid int64, _ time.Time) (osmapi.User, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[uid]
	return u, ok, nil
}

// PutUser implements UserCache.
func (m *MemStore) PutUser(_ context.Context, u osmapi.User, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[u.ID] = u
	return nil
}
