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

// mixedAPI is an ElementAPI that can ask for current and exact versions in one request per
// type (*osmapi.Client.Mixed).
type mixedAPI interface {
	Mixed(ctx context.Context, current []osm.FeatureID, versions []osm.ObjectID) (osm.Objects, error)
}

// prefetch asks the API for the previous versions (m.prev) and way nodes (m.nodes) that the
// store lacks, and stores the answers (source api) in the diff's transaction: analyse then
// finds the before-states of the kept versions in the store instead of asking the API for
// them changeset by changeset. Round 1 asks for the previous versions and for the current
// version of the nodes known to be needed, mixed in one request per type; round 2 for the
// nodes of previous way versions that round 1 brought. It returns how many elements were
// asked for.
func (f *Fetcher) prefetch(ctx context.Context, st elements.PG, m *matched, limit int) (asked int, err error) {
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
	nodes := slices.Clone(m.nodes)
	for _, e := range held {
		have[e.VKey()] = true
		nodes = append(nodes, e.Nodes...) // a previous way's nodes: analyse places the way before the edit
	}
	var versions []osm.ObjectID
	for _, k := range prev {
		if !have[k] {
			versions = append(versions, objectID(k))
		}
	}
	known := map[int64]bool{}
	current, err := unknownNodes(ctx, st, nodes, known)
	if err != nil {
		return 0, err
	}
	var answers []elements.Element
	ask := func(current []osm.FeatureID, versions []osm.ObjectID) ([]elements.Element, error) {
		if asked+len(current)+len(versions) > limit {
			f.log().Warn("prefetch: too many elements for one diff, analyse asks for the rest", "asked", asked,
				"more", len(current)+len(versions), "max", limit)
			n := max(0, limit-asked)
			versions = versions[:min(len(versions), n)]
			current = current[:min(len(current), n-len(versions))]
		}
		if len(current)+len(versions) == 0 {
			return nil, nil
		}
		asked += len(current) + len(versions)
		var objs osm.Objects
		if mx, ok := f.API.(mixedAPI); ok {
			if objs, err = mx.Mixed(ctx, current, versions); err != nil {
				return nil, fmt.Errorf("prefetch: %d elements: %w", len(current)+len(versions), err)
			}
		} else {
			if len(versions) > 0 {
				if objs, _, err = f.API.Versions(ctx, versions); err != nil {
					return nil, fmt.Errorf("prefetch: %d previous versions: %w", len(versions), err)
				}
			}
			if len(current) > 0 {
				cur, _, err := f.API.Current(ctx, current)
				if err != nil {
					return nil, fmt.Errorf("prefetch: %d way nodes: %w", len(current), err)
				}
				objs = append(objs, cur...)
			}
		}
		var out []elements.Element
		for _, o := range objs {
			if e, ok := elements.FromObject(o, 0); ok {
				out = append(out, e)
				if e.Type == elements.Node {
					known[e.ID] = true
				}
			}
		}
		return out, nil
	}
	got, err := ask(current, versions)
	if err != nil {
		return asked, err
	}
	answers = append(answers, got...)
	// Round 2: the nodes of the previous way versions round 1 brought.
	nodes = nodes[:0]
	for _, e := range got {
		if e.Type == elements.Way {
			nodes = append(nodes, e.Nodes...)
		}
	}
	if current, err = unknownNodes(ctx, st, nodes, known); err != nil {
		return asked, err
	}
	if got, err = ask(current, nil); err != nil {
		return asked, err
	}
	answers = append(answers, got...)
	// In key order, as the fill's: concurrent fetches storing the same answers wait for each
	// other instead of deadlocking.
	elements.Sort(answers)
	if err := st.Write(ctx, answers, elements.SourceAPI, 0, false); err != nil {
		return asked, fmt.Errorf("prefetch: %w", err)
	}
	return asked, nil
}

// unknownNodes returns the nodes the store holds no version of and known does not list
// (known gets them all).
func unknownNodes(ctx context.Context, st elements.PG, nodes []int64, known map[int64]bool) ([]osm.FeatureID, error) {
	var ask []int64
	for _, n := range nodes {
		if !known[n] {
			known[n] = true
			ask = append(ask, n)
		}
	}
	if len(ask) == 0 {
		return nil, nil
	}
	slices.Sort(ask)
	pos, err := st.Positions(ctx, ask, false)
	if err != nil {
		return nil, fmt.Errorf("prefetch: %w", err)
	}
	var ids []osm.FeatureID
	for _, n := range ask {
		if _, ok := pos[n]; !ok {
			ids = append(ids, osm.NodeID(n).FeatureID())
		}
	}
	return ids, nil
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
