package elements

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Mem is an element store in memory, for tests and for analysing files. It is safe for
// concurrent use. Its zero value is empty and ready.
type Mem struct {
	mu    sync.Mutex
	byVer map[VKey]Element
	byKey map[Key][]int // versions held, sorted
}

var _ Store = (*Mem)(nil)

// NewMem returns a store holding els, from src.
func NewMem(els []Element, src Source) *Mem {
	m := &Mem{}
	m.Write(context.Background(), els, src, 0, false)
	return m
}

// Len is the number of versions held.
func (m *Mem) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byVer)
}

// Write implements Store.
func (m *Mem) Write(_ context.Context, els []Element, src Source, seq int64, replace bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byVer == nil {
		m.byVer, m.byKey = map[VKey]Element{}, map[Key][]int{}
	}
	for _, e := range els {
		vk := e.VKey()
		if old, ok := m.byVer[vk]; ok && !replace {
			if src == SourceDiff && (old.Source == SourceAPI || old.Source == SourceDownload) {
				old.Action, old.Seq, old.Source = e.Action, seq, src
				m.byVer[vk] = old
			}
			continue
		} else if !ok {
			vs := append(m.byKey[vk.Key()], vk.Version)
			slices.Sort(vs)
			m.byKey[vk.Key()] = vs
		}
		e.Source, e.Seq = src, seq
		if !e.HasCoords {
			e.Lat, e.Lon = 0, 0
		}
		m.byVer[vk] = e
	}
	return nil
}

// Versions implements Store.
func (m *Mem) Versions(_ context.Context, keys []VKey) ([]Element, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Element
	for _, k := range keys {
		if e, ok := m.byVer[k]; ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// History implements Store.
func (m *Mem) History(_ context.Context, keys []Key) ([]Element, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Element
	seen := map[Key]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		for _, v := range m.byKey[k] {
			out = append(out, m.byVer[VKey{k.Type, k.ID, v}])
		}
	}
	Sort(out)
	return out, nil
}

// Latest implements Store.
func (m *Mem) Latest(_ context.Context, keys []Key) ([]Element, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Element
	seen := map[Key]bool{}
	for _, k := range keys {
		vs := m.byKey[k]
		if seen[k] || len(vs) == 0 {
			continue
		}
		seen[k] = true
		out = append(out, m.byVer[VKey{k.Type, k.ID, vs[len(vs)-1]}])
	}
	Sort(out)
	return out, nil
}

// Previous implements Store.
func (m *Mem) Previous(_ context.Context, keys []VKey) (map[VKey]Element, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[VKey]Element{}
	for _, k := range keys {
		vs := m.byKey[k.Key()]
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i] < k.Version {
				out[k] = m.byVer[VKey{k.Type, k.ID, vs[i]}]
				break
			}
		}
	}
	return out, nil
}

// Known implements Store.
func (m *Mem) Known(_ context.Context, keys []Key, from ...Source) (map[Key]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[Key]bool{}
	for _, k := range keys {
		for _, v := range m.byKey[k] {
			if len(from) == 0 || slices.Contains(from, m.byVer[VKey{k.Type, k.ID, v}].Source) {
				out[k] = true
				break
			}
		}
	}
	return out, nil
}

// Positions implements Store.
func (m *Mem) Positions(_ context.Context, ids []int64, located bool) (map[int64]Position, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int64]Position, len(ids))
	for _, id := range ids {
		vs := m.byKey[Key{Node, id}]
		for i := len(vs) - 1; i >= 0; i-- {
			e := m.byVer[VKey{Node, id, vs[i]}]
			if located && !e.HasCoords {
				continue
			}
			out[id] = Position{Version: e.Version, HasCoords: e.HasCoords, Lat: e.Lat, Lon: e.Lon, Source: e.Source}
			break
		}
	}
	return out, nil
}

// WaysWithNodes implements Store.
func (m *Mem) WaysWithNodes(_ context.Context, nodes []int64) ([]Element, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := make(map[int64]bool, len(nodes))
	for _, n := range nodes {
		want[n] = true
	}
	var out []Element
	for k, vs := range m.byKey {
		if k.Type != Way {
			continue
		}
		for i := len(vs) - 1; i >= 0; i-- {
			e := m.byVer[VKey{Way, k.ID, vs[i]}]
			if slices.ContainsFunc(e.Nodes, func(n int64) bool { return want[n] }) {
				out = append(out, e)
				break
			}
		}
	}
	Sort(out)
	return out, nil
}

// ChangesetElements implements Store.
func (m *Mem) ChangesetElements(_ context.Context, changesets []int64) ([]Element, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Element
	for _, e := range m.byVer {
		if slices.Contains(changesets, e.Changeset) {
			out = append(out, e)
		}
	}
	sortElements(out, func(a, b *Element) bool {
		if a.Changeset != b.Changeset {
			return a.Changeset < b.Changeset
		}
		return lessVKey(a.VKey(), b.VKey())
	})
	return out, nil
}

// PruneBatch implements Store (the walk is over the whole store at once: scanned is 0 after).
func (m *Mem) PruneBatch(_ context.Context, cutoff time.Time, cur *PruneCursor, limit int) (deleted, scanned int64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur.Set {
		return 0, 0, nil
	}
	for k, vs := range m.byKey {
		keep := vs[:0]
		for i, v := range vs {
			vk := VKey{k.Type, k.ID, v}
			if i < len(vs)-1 && m.byVer[vk].Timestamp.Before(cutoff) {
				delete(m.byVer, vk)
				deleted++
				continue
			}
			keep = append(keep, v)
		}
		m.byKey[k] = keep
		scanned += int64(len(vs))
	}
	cur.Set = true
	return deleted, min(scanned, int64(limit)-1), nil
}
