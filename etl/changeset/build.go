package changeset

import (
	"context"
	"fmt"
	"strconv"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
)

// maxLookup bounds each location lookup of one Build; the rest stay unlocated.
const maxLookup = 200_000

// Build is the one builder of what the rules see: for each changeset, its metadata (Meta.Rules)
// and, read from the element store st, its element versions with their previous versions, and
// the further locations its edits touch (EditPoints): the nodes of its ways that it did not edit
// itself, the members of its relations and the nodes of its deleted ways (locateMembers), and,
// when regions are given and no location of its own lies inside one, the ways its edited nodes
// belong to (locateNodeWays). The filter step and the analyse step read st from PostGIS
// (elements.PG); `osmtrack rules test` from its files (ReadFiles, elements.Mem).
func Build(ctx context.Context, st elements.Store, regions region.Set, metas []Meta) ([]*rules.Changeset, error) {
	out := make([]*rules.Changeset, len(metas))
	byID := make(map[int64]*rules.Changeset, len(metas))
	ids := make([]int64, len(metas))
	for i := range metas {
		out[i] = metas[i].Rules()
		byID[metas[i].ID] = out[i]
		ids[i] = metas[i].ID
	}
	if len(ids) == 0 {
		return out, nil
	}
	if err := loadElements(ctx, st, ids, byID); err != nil {
		return nil, err
	}
	if err := locateMembers(ctx, st, byID); err != nil {
		return nil, err
	}
	if err := locateNodeWays(ctx, st, byID, regions); err != nil {
		return nil, err
	}
	return out, nil
}

// Element is what the rules see of an element version and its previous version (nil: none
// known): the store's versions, a version without an action counting as a modify (a delete
// when not visible).
func Element(e, prev *elements.Element) rules.Element {
	el := rules.Element{Element: *e}
	if el.Action == 0 {
		el.Action = elements.Delete
		if e.Visible {
			el.Action = elements.Modify
		}
	}
	if prev != nil {
		p := *prev
		el.Old = &p
	}
	return el
}

// loadElements reads the changesets' element versions with their previous versions, and the
// locations of the nodes of their ways that the changeset did not edit itself, each with where
// its location came from (relations: locateMembers).
func loadElements(ctx context.Context, st elements.Store, ids []int64, byID map[int64]*rules.Changeset) error {
	els, err := st.ChangesetElements(ctx, ids)
	if err != nil {
		return err
	}
	vkeys := make([]elements.VKey, len(els))
	for i := range els {
		vkeys[i] = els[i].VKey()
	}
	prev, err := st.Previous(ctx, vkeys)
	if err != nil {
		return err
	}
	var ways []wayNodes
	edited := map[int64]map[int64]bool{} // changeset -> node ids it edited
	for i := range els {
		e := &els[i]
		cs := byID[e.Changeset]
		if cs == nil {
			continue
		}
		var pv *elements.Element
		if p, ok := prev[e.VKey()]; ok {
			pv = &p
		}
		cs.Elements = append(cs.Elements, Element(e, pv))
		if edited[e.Changeset] == nil {
			edited[e.Changeset] = map[int64]bool{}
		}
		switch e.Type {
		case elements.Node:
			edited[e.Changeset][e.ID] = true
		case elements.Way:
			if len(e.Nodes) > 0 {
				ways = append(ways, wayNodes{e.Changeset, "way/" + strconv.FormatInt(e.ID, 10), e.Nodes})
			}
		}
	}
	return locateWayNodes(ctx, st, ways, edited, byID)
}

// wayNodes are the nodes of a way version of changeset cs.
type wayNodes struct {
	cs    int64
	ref   string // "way/7"
	nodes []int64
}

// locateWayNodes adds the located nodes of the changesets' ways that they did not edit
// themselves (edited: changeset -> node ids) to their EditPoints, once per changeset and node.
func locateWayNodes(ctx context.Context, st elements.Store, ways []wayNodes, edited map[int64]map[int64]bool, byID map[int64]*rules.Changeset) error {
	var need []int64
	seen := map[int64]bool{}
	for _, w := range ways {
		for _, n := range w.nodes {
			if !seen[n] && !edited[w.cs][n] && len(need) < maxLookup {
				seen[n] = true
				need = append(need, n)
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	pos, err := st.Positions(ctx, need, true)
	if err != nil {
		return fmt.Errorf("read way nodes: %w", err)
	}
	for _, w := range ways {
		cs := byID[w.cs]
		for _, n := range w.nodes {
			if p, ok := pos[n]; ok && !edited[w.cs][n] {
				edited[w.cs][n] = true // once per changeset
				cs.EditPoints = append(cs.EditPoints, rules.EditPoint{Point: orb.Point{p.Lon, p.Lat},
					Ref: fmt.Sprintf("node/%d of %s", n, w.ref), Source: p.Source.String()})
			}
		}
	}
	return nil
}
