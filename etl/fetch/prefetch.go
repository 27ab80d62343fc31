package fetch

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmchange"
)

// The prefetch: analyse needs, for every kept version, the version before it (its
// before-state) and the positions of its ways' nodes; on an unseeded store it asked the API for
// them changeset by changeset. fetch knows them first and asks for those the store lacks once
// per diff, in as few multi-fetch requests as the URL length allows.

// prefetchKeys notes, for the kept versions of a diff, the previous versions the diff does not
// hold and the nodes of kept ways that this diff does not keep.
func (m *matched) prefetchKeys(els []osmchange.Element) {
	inDiff := make(map[elements.VKey]bool, len(els))
	keptNode := map[int64]bool{}
	for i := range els {
		e := &els[i]
		inDiff[elements.VKey{Type: e.Type, ID: e.ID, Version: e.Version}] = true
		if m.keep[i] && e.Type == osmchange.Node {
			keptNode[e.ID] = true
		}
	}
	for i := range els {
		if !m.keep[i] {
			continue
		}
		e := &els[i]
		if e.Version > 1 {
			if k := (elements.VKey{Type: e.Type, ID: e.ID, Version: e.Version - 1}); !inDiff[k] {
				m.prev = append(m.prev, k)
			}
		}
		for _, n := range e.Nodes {
			if !keptNode[n] {
				m.nodes = append(m.nodes, n)
			}
		}
	}
}

// prefetch asks the API for the previous versions (m.prev) and way nodes (m.nodes) that the
// store lacks, and stores the answers (source api) in the diff's transaction: analyse then
// finds the before-states of the kept versions in the store instead of asking the API for
// them changeset by changeset. It returns how many elements were asked for.
func (f *Fetcher) prefetch(ctx context.Context, st elements.PG, m *matched) (asked int, err error) {
	if len(m.prev) == 0 && len(m.nodes) == 0 {
		return 0, nil
	}
	prev := slices.Clone(m.prev)
	slices.SortFunc(prev, func(a, b elements.VKey) int {
		if c := elements.TypeIndex(a.Type) - elements.TypeIndex(b.Type); c != 0 {
			return c
		}
		if a.ID != b.ID {
			return cmp.Compare(a.ID, b.ID)
		}
		return a.Version - b.Version
	})
	prev = slices.Compact(prev)
	held, err := st.Versions(ctx, prev)
	if err != nil {
		return 0, fmt.Errorf("prefetch: %w", err)
	}
	have := make(map[elements.VKey]bool, len(held))
	var ways []elements.Element
	for _, e := range held {
		have[e.VKey()] = true
		if e.Type == elements.Way {
			ways = append(ways, e)
		}
	}
	var ask []osm.ObjectID
	for _, k := range prev {
		if !have[k] {
			ask = append(ask, objectID(k))
		}
	}
	var answers []elements.Element
	if len(ask) > 0 {
		asked += len(ask)
		objs, _, err := f.API.Versions(ctx, ask)
		if err != nil {
			return asked, fmt.Errorf("prefetch: %d previous versions: %w", len(ask), err)
		}
		for _, o := range objs {
			if e, ok := elements.FromObject(o, 0); ok {
				answers = append(answers, e)
				if e.Type == elements.Way {
					ways = append(ways, e)
				}
			}
		}
	}
	// The nodes of the ways' previous versions too: analyse places the way before the edit.
	nodes := slices.Clone(m.nodes)
	for _, w := range ways {
		nodes = append(nodes, w.Nodes...)
	}
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	if len(nodes) > 0 {
		pos, err := st.Positions(ctx, nodes, false)
		if err != nil {
			return asked, fmt.Errorf("prefetch: %w", err)
		}
		var ids []osm.FeatureID
		for _, n := range nodes {
			if _, ok := pos[n]; !ok {
				ids = append(ids, osm.NodeID(n).FeatureID())
			}
		}
		if len(ids) > 0 {
			asked += len(ids)
			objs, _, err := f.API.Current(ctx, ids)
			if err != nil {
				return asked, fmt.Errorf("prefetch: %d way nodes: %w", len(ids), err)
			}
			for _, o := range objs {
				if e, ok := elements.FromObject(o, 0); ok {
					answers = append(answers, e)
				}
			}
		}
	}
	// In key order, as the fill's: concurrent fetches storing the same answers wait for each
	// other instead of deadlocking.
	elements.Sort(answers)
	if err := st.Write(ctx, answers, elements.SourceAPI, 0, false); err != nil {
		return asked, fmt.Errorf("prefetch: %w", err)
	}
	return asked, nil
}

func objectID(k elements.VKey) osm.ObjectID {
	switch k.Type {
	case elements.Way:
		return osm.WayID(k.ID).ObjectID(k.Version)
	case elements.Relation:
		return osm.RelationID(k.ID).ObjectID(k.Version)
	}
	return osm.NodeID(k.ID).ObjectID(k.Version)
}
