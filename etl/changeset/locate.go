package changeset

import (
	"context"
	"fmt"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
)

// need is an element of a changeset whose location comes from what it is made of.
type need struct {
	cs  int64
	key elements.VKey
}

// locateMembers gives relations and deleted ways, which have no location of their own, the
// locations of what they are made of, from the element store (fed by the diffs and by
// `osmtrack seed`): a relation's member nodes and the nodes of its member ways (newest stored
// versions), a deleted way's nodes and a deleted relation's members as its previous version
// had them. Member relations are not followed.
func locateMembers(ctx context.Context, store elements.Store, byID map[int64]*rules.Changeset) error {
	var rels, deleted []need
	for id, cs := range byID {
		for _, e := range cs.Elements {
			switch {
			case e.Type == elements.Relation:
				rels = append(rels, need{id, e.VKey()})
			case e.Type == elements.Way && e.Action == elements.Delete:
				deleted = append(deleted, need{id, e.VKey()})
			}
		}
	}
	if len(rels) == 0 && len(deleted) == 0 {
		return nil
	}
	shape, err := shapes(ctx, store, rels, deleted)
	if err != nil {
		return err
	}
	wayNodes, err := memberWayNodes(ctx, store, rels, shape)
	if err != nil {
		return err
	}
	var pts pointSet
	for _, n := range deleted {
		for _, nd := range shape(n.key).Nodes {
			pts.add(n.cs, nd, fmt.Sprintf("node/%d of deleted way/%d", nd, n.key.ID))
		}
	}
	for _, n := range rels {
		for _, m := range shape(n.key).Members {
			switch m.Type {
			case elements.Node:
				pts.add(n.cs, m.Ref, fmt.Sprintf("node/%d, member of relation/%d", m.Ref, n.key.ID))
			case elements.Way:
				for _, nd := range wayNodes[m.Ref] {
					pts.add(n.cs, nd, fmt.Sprintf("node/%d of way/%d, member of relation/%d", nd, m.Ref, n.key.ID))
				}
			}
		}
	}
	return pts.locate(ctx, store, byID)
}

// shapes reads what relations and deleted ways are made of: a relation's members from its
// version, or from its previous version when the version has none (deleted); a deleted way's
// nodes from its previous version.
func shapes(ctx context.Context, store elements.Store, rels, deleted []need) (func(elements.VKey) elements.Element, error) {
	var keys []elements.VKey
	for _, n := range rels {
		keys = append(keys, n.key)
	}
	cur, err := store.Versions(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read relations: %w", err)
	}
	byKey := map[elements.VKey]elements.Element{}
	for _, e := range cur {
		byKey[e.VKey()] = e
	}
	var prevKeys []elements.VKey
	for _, n := range deleted {
		prevKeys = append(prevKeys, n.key)
	}
	for _, n := range rels {
		if e, ok := byKey[n.key]; !ok || !e.Visible || len(e.Members) == 0 {
			prevKeys = append(prevKeys, n.key)
		}
	}
	prev, err := store.Previous(ctx, prevKeys)
	if err != nil {
		return nil, fmt.Errorf("read previous versions: %w", err)
	}
	return func(k elements.VKey) elements.Element {
		if e, ok := byKey[k]; ok && e.Visible && (len(e.Members) > 0 || len(e.Nodes) > 0) {
			return e
		}
		return prev[k]
	}, nil
}

// memberWayNodes reads the newest stored nodes of the relations' member ways, by way id.
func memberWayNodes(ctx context.Context, store elements.Store, rels []need, shape func(elements.VKey) elements.Element) (map[int64][]int64, error) {
	var wayKeys []elements.Key
	for _, n := range rels {
		for _, m := range shape(n.key).Members {
			if m.Type == elements.Way {
				wayKeys = append(wayKeys, elements.Key{Type: elements.Way, ID: m.Ref})
			}
		}
	}
	ways, err := store.Latest(ctx, wayKeys)
	if err != nil {
		return nil, fmt.Errorf("read member ways: %w", err)
	}
	wayNodes := map[int64][]int64{}
	for _, w := range ways {
		wayNodes[w.ID] = w.Nodes
	}
	return wayNodes, nil
}

// pointSet collects the nodes whose locations are edit points of changesets (at most
// maxLookup), to be located in one lookup.
type pointSet struct {
	pts  []point
	seen map[int64]bool
	ids  []int64
}

type point struct {
	cs   int64
	node int64
	ref  string
}

func (s *pointSet) add(cs, n int64, ref string) {
	if len(s.ids) >= maxLookup {
		return
	}
	if s.seen == nil {
		s.seen = map[int64]bool{}
	}
	s.pts = append(s.pts, point{cs, n, ref})
	if !s.seen[n] {
		s.seen[n] = true
		s.ids = append(s.ids, n)
	}
}

// locate adds the located nodes to their changesets' EditPoints, once per changeset and node.
func (s *pointSet) locate(ctx context.Context, store elements.Store, byID map[int64]*rules.Changeset) error {
	pos, err := store.Positions(ctx, s.ids, true)
	if err != nil {
		return fmt.Errorf("read member positions: %w", err)
	}
	done := map[[2]int64]bool{}
	for _, p := range s.pts {
		q, ok := pos[p.node]
		if !ok || !q.HasCoords || done[[2]int64{p.cs, p.node}] {
			continue
		}
		done[[2]int64{p.cs, p.node}] = true
		cs := byID[p.cs]
		cs.EditPoints = append(cs.EditPoints, rules.EditPoint{Point: orb.Point{q.Lon, q.Lat}, Ref: p.ref, Source: q.Source.String()})
	}
	return nil
}

// locateNodeWays gives a changeset whose every known edit location lies outside the regions the
// locations of the ways its edited nodes belong to: a node of a road inside a region dragged
// far away (or moved again while it is away) edits that road. Only such changesets pay for the
// lookup (ways by node in the store).
func locateNodeWays(ctx context.Context, store elements.Store, byID map[int64]*rules.Changeset, regions region.Set) error {
	if len(regions) == 0 {
		return nil
	}
	nodeCS, nodes := nodesOutside(byID, regions)
	if len(nodes) == 0 {
		return nil
	}
	ways, err := store.WaysWithNodes(ctx, nodes)
	if err != nil {
		return fmt.Errorf("ways of edited nodes: %w", err)
	}
	var ids []int64
	seen := map[int64]bool{}
	for _, w := range ways {
		for _, n := range w.Nodes {
			if !seen[n] && len(ids) < maxLookup {
				seen[n] = true
				ids = append(ids, n)
			}
		}
	}
	pos, err := store.Positions(ctx, ids, true)
	if err != nil {
		return fmt.Errorf("positions of ways of edited nodes: %w", err)
	}
	for _, w := range ways {
		added := map[int64]bool{}
		for _, v := range w.Nodes {
			for _, csID := range nodeCS[v] { // v: an edited node of this way
				if added[csID] {
					continue
				}
				added[csID] = true
				if p, ok := firstInside(w.Nodes, pos, regions); ok {
					byID[csID].EditPoints = append(byID[csID].EditPoints, rules.EditPoint{Point: orb.Point{p.pos.Lon, p.pos.Lat},
						Ref: fmt.Sprintf("node/%d of way/%d, which has the edited node/%d", p.id, w.ID, v), Source: p.pos.Source.String()})
				}
			}
		}
	}
	return nil
}

// nodesOutside lists the edited nodes (with an earlier stored version: a new node is in no other
// way yet) of the changesets with no edit location inside a region, each with the changesets
// that edited it.
func nodesOutside(byID map[int64]*rules.Changeset, regions region.Set) (map[int64][]int64, []int64) {
	nodeCS := map[int64][]int64{}
	var nodes []int64
	for id, cs := range byID {
		if insideRegions(cs, regions) {
			continue
		}
		for _, e := range cs.Elements {
			if e.Type == elements.Node && e.Old != nil && len(nodes) < maxLookup {
				if nodeCS[e.ID] == nil {
					nodes = append(nodes, e.ID)
				}
				nodeCS[e.ID] = append(nodeCS[e.ID], id)
			}
		}
	}
	return nodeCS, nodes
}

// insideRegions reports whether a known edit location of cs lies inside a region.
func insideRegions(cs *rules.Changeset, regions region.Set) bool {
	for i := range cs.Elements {
		e := &cs.Elements[i]
		if p, ok := e.Point(); ok && regions.Contains(p) {
			return true
		}
		if p, ok := e.OldPoint(); ok && regions.Contains(p) {
			return true
		}
	}
	for _, p := range cs.EditPoints {
		if regions.Contains(p.Point) {
			return true
		}
	}
	return false
}

type located struct {
	id  int64
	pos elements.Position
}

// firstInside is the first of nodes located inside a region.
func firstInside(nodes []int64, pos map[int64]elements.Position, regions region.Set) (located, bool) {
	for _, n := range nodes {
		if q, ok := pos[n]; ok && q.HasCoords && regions.Contains(orb.Point{q.Lon, q.Lat}) {
			return located{n, q}, true
		}
	}
	return located{}, false
}
