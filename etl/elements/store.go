package elements

import (
	"context"
	"sort"
	"time"
)

// Store is the element store. PG and Mem implement it.
type Store interface {
	// Write stores versions, all from src; seq is the diff that carried them (0: none).
	// Versions already held are kept, unless replace (fetch --force) overwrites them; a diff
	// gives a version held from the API or a changeset download its action, seq and source.
	Write(ctx context.Context, els []Element, src Source, seq int64, replace bool) error
	// Versions returns the versions held among keys.
	Versions(ctx context.Context, keys []VKey) ([]Element, error)
	// History returns every version held of the elements, by key and version.
	History(ctx context.Context, keys []Key) ([]Element, error)
	// Latest returns the newest version held of each element (ways' nodes, relations'
	// members).
	Latest(ctx context.Context, keys []Key) ([]Element, error)
	// Previous returns, for each version, the newest version held below it.
	Previous(ctx context.Context, keys []VKey) (map[VKey]Element, error)
	// Known reports which of the elements the store holds a version of from one of the
	// sources from (none: any source).
	Known(ctx context.Context, keys []Key, from ...Source) (map[Key]bool, error)
	// Positions returns the newest version held of each node; with located, the newest
	// version that has a location.
	Positions(ctx context.Context, ids []int64, located bool) (map[int64]Position, error)
	// WaysWithNodes returns, for each way with a version referencing any of the nodes, the
	// newest such version.
	WaysWithNodes(ctx context.Context, nodes []int64) ([]Element, error)
	// ChangesetElements returns the versions of the changesets, by changeset, key and version.
	ChangesetElements(ctx context.Context, changesets []int64) ([]Element, error)
	// PruneBatch deletes versions older than cutoff that have a newer version, walking at most
	// limit versions from cursor on in (ts, type, id, version) order. scanned < limit means
	// the walk is done.
	PruneBatch(ctx context.Context, cutoff time.Time, cur *PruneCursor, limit int) (deleted, scanned int64, err error)
}

// PruneCursor is where a prune walk goes on from; the zero value starts at the oldest.
type PruneCursor struct {
	TS      time.Time
	Type    byte
	ID      int64
	Version int
	Set     bool
}

func lessVKey(a, b VKey) bool {
	if a.Type != b.Type {
		return TypeIndex(a.Type) < TypeIndex(b.Type)
	}
	if a.ID != b.ID {
		return a.ID < b.ID
	}
	return a.Version < b.Version
}

// Sort sorts versions by type (node, way, relation), id and version.
func Sort(es []Element) {
	sortElements(es, func(a, b *Element) bool { return lessVKey(a.VKey(), b.VKey()) })
}

func sortElements(es []Element, less func(a, b *Element) bool) {
	sort.Slice(es, func(i, j int) bool { return less(&es[i], &es[j]) })
}
