package fetch

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmchange"
)

// ElementAPI fetches the current version of elements (Current) or exact versions (Versions)
// with the OSM API's multi-fetch calls (nodes?nodes=…, nodes?nodes=7v2,…, ways?ways=…,
// relations?relations=…), batched within the client's URL length and rate limit;
// *osmapi.Client is one. Elements the API does not have come back in missing.
type ElementAPI interface {
	Current(ctx context.Context, ids []osm.FeatureID) (osm.Objects, []osm.FeatureID, error)
	Versions(ctx context.Context, ids []osm.ObjectID) (osm.Objects, []osm.ObjectID, error)
}

// DefaultMaxFill bounds the elements one diff asks the API for (Fetcher.MaxFill): about 8
// requests at the default URL length, 4 s at the default rate.
const DefaultMaxFill = 5_000

// metaMargin is how far the changeset metadata feed must be past an edit for a changeset it
// did not keep to count as known not to touch a region.
const metaMargin = 2 * time.Minute

// fill asks the API for the locations a keep decision needs and the diff and the store lack:
// the nodes of ways not kept whose nodes have no known location, and the members (nodes, and
// ways with their nodes) of relations not kept whose members are unknown. Only for elements
// of changesets that could touch a region: their metadata bbox intersects a region, or the
// metadata is not known yet. The answers go into the store (source api), so nothing is asked
// twice. It returns how many elements were asked for; an API failure fails the diff.
func (mt *matcher) fill(ctx context.Context, tx pgx.Tx, st elements.PG) (int, error) {
	// What each changeset's undecided elements lack.
	type need struct {
		nodes []int64
		ways  []int64
		ts    time.Time // the newest edit of the changeset in this diff
	}
	needs := map[int64]*need{}
	inDiff := map[elemKey]bool{}
	for i := range mt.els {
		inDiff[key(mt.els[i].Type, mt.els[i].ID)] = true
	}
	done := map[elemKey]bool{}
	for i := range mt.els {
		e := &mt.els[i]
		k := key(e.Type, e.ID)
		// A relation kept because the store holds an earlier version still needs its members'
		// locations: filter and analyse locate it by them (a member way never asked for
		// leaves the edit without a location).
		relTracked := e.Type == osmchange.Relation && mt.tracked[k]
		if (mt.kept[k] && !relTracked) || done[k] || (e.Type != osmchange.Way && e.Type != osmchange.Relation) {
			continue
		}
		done[k] = true
		var nodes, ways []int64
		for _, n := range e.Nodes {
			if _, ok := mt.pos[n]; !ok && !mt.answered[n] {
				nodes = append(nodes, n)
			}
		}
		for _, mem := range e.Members {
			switch mem.Type {
			case osmchange.Node:
				if _, ok := mt.pos[mem.Ref]; !ok && !mt.answered[mem.Ref] && !mt.tracked[key(mem.Type, mem.Ref)] {
					nodes = append(nodes, mem.Ref)
				}
			case osmchange.Way:
				if mk := (key(mem.Type, mem.Ref)); !inDiff[mk] && !mt.tracked[mk] {
					ways = append(ways, mem.Ref)
				}
			}
		}
		if len(nodes) == 0 && len(ways) == 0 {
			continue
		}
		nd := needs[e.Changeset]
		if nd == nil {
			nd = &need{}
			needs[e.Changeset] = nd
		}
		nd.nodes, nd.ways = append(nd.nodes, nodes...), append(nd.ways, ways...)
		if e.Timestamp.After(nd.ts) {
			nd.ts = e.Timestamp
		}
	}
	if len(needs) == 0 {
		return 0, nil
	}
	touch, err := mt.couldTouch(ctx, tx, func(yield func(int64, time.Time) bool) {
		for id, nd := range needs {
			if !yield(id, nd.ts) {
				return
			}
		}
	})
	if err != nil {
		return 0, err
	}
	var nodes, ways []int64
	seenN, seenW := map[int64]bool{}, map[int64]bool{}
	csIDs := make([]int64, 0, len(needs))
	for id := range needs {
		csIDs = append(csIDs, id)
	}
	// Changesets whose bbox is known to touch a region first: what MaxFill cuts off is what
	// is least likely to be in a region.
	slices.SortFunc(csIDs, func(a, b int64) int {
		if touch[a] != touch[b] {
			return int(touch[b]) - int(touch[a])
		}
		return cmp.Compare(a, b)
	})
	skipped := 0
	for _, id := range csIDs {
		nd := needs[id]
		if touch[id] == touchNo {
			skipped++
			continue
		}
		for _, n := range nd.nodes {
			if !seenN[n] {
				seenN[n] = true
				nodes = append(nodes, n)
			}
		}
		for _, w := range nd.ways {
			if !seenW[w] {
				seenW[w] = true
				ways = append(ways, w)
			}
		}
	}
	if len(nodes) == 0 && len(ways) == 0 {
		return 0, nil
	}
	max := mt.f.maxFill()
	asked := 0
	var answers []elements.Element
	ask := func(ids []osm.FeatureID) (osm.Objects, error) {
		if asked+len(ids) > max {
			mt.f.log().Warn("API fill: too many elements for one diff, the rest stays unlocated", "asked", asked, "more", len(ids), "max", max)
			ids = ids[:max-asked]
		}
		if len(ids) == 0 {
			return nil, nil
		}
		asked += len(ids)
		objs, _, err := mt.f.API.Current(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("API fill: %d elements: %w", len(ids), err)
		}
		for _, o := range objs {
			if e, ok := elements.FromObject(o, 0); ok {
				answers = append(answers, e)
			}
		}
		return objs, nil
	}
	// Member ways the store holds (from the API earlier) need no request.
	if mt.wayNodes == nil {
		mt.wayNodes = map[int64][]int64{}
	}
	var missingWays []int64
	if len(ways) > 0 {
		keys := make([]elements.Key, len(ways))
		for i, w := range ways {
			keys[i] = key(osmchange.Way, w)
		}
		stored, err := st.Latest(ctx, keys)
		if err != nil {
			return 0, err
		}
		for _, e := range stored {
			mt.wayNodes[e.ID] = e.Nodes
		}
		for _, w := range ways {
			if _, ok := mt.wayNodes[w]; !ok {
				missingWays = append(missingWays, w)
			}
		}
	}
	// Round 1: the nodes and the member ways.
	ids := make([]osm.FeatureID, 0, len(nodes)+len(missingWays))
	for _, n := range nodes {
		ids = append(ids, osm.NodeID(n).FeatureID())
	}
	for _, w := range missingWays {
		ids = append(ids, osm.WayID(w).FeatureID())
	}
	objs, err := ask(ids)
	if err != nil {
		return asked, err
	}
	mt.take(objs)
	// Round 2: the nodes of member ways without a location yet (store first).
	var more []int64
	seen := map[int64]bool{}
	for _, w := range ways {
		for _, n := range mt.wayNodes[w] {
			if _, ok := mt.pos[n]; !ok && !mt.answered[n] && !seenN[n] && !seen[n] {
				seen[n] = true
				more = append(more, n)
			}
		}
	}
	if len(more) > 0 {
		stored, err := st.Positions(ctx, more, false)
		if err != nil {
			return asked, err
		}
		mt.addStored(stored)
		ids = ids[:0]
		for _, n := range more {
			if _, ok := stored[n]; !ok {
				ids = append(ids, osm.NodeID(n).FeatureID())
			}
		}
		objs, err := ask(ids)
		if err != nil {
			return asked, err
		}
		mt.take(objs)
	}
	// Round 3: nodes deleted since the edit. The API answers with the current version, and a
	// fetch behind the present (a backfill, a catch-up after an outage) asks about edits made
	// before later changesets deleted the nodes: the current answer has no location, the
	// version before the deletion has the one the node had (at the latest) when it was deleted.
	if gone := mt.gone; len(gone) > 0 {
		mt.gone = nil
		vids := make([]osm.ObjectID, 0, len(gone))
		for _, g := range gone {
			vids = append(vids, osm.NodeID(g.id).ObjectID(g.version-1))
		}
		if asked+len(vids) > max {
			mt.f.log().Warn("API fill: too many elements for one diff, the rest stays unlocated", "asked", asked, "more", len(vids), "max", max)
			vids = vids[:max-asked]
		}
		if len(vids) > 0 {
			asked += len(vids)
			objs, _, err := mt.f.API.Versions(ctx, vids)
			if err != nil {
				return asked, fmt.Errorf("API fill: %d versions of deleted nodes: %w", len(vids), err)
			}
			for _, o := range objs {
				if e, ok := elements.FromObject(o, 0); ok {
					answers = append(answers, e)
				}
			}
			mt.take(objs)
			mt.gone = nil // a version before a deletion that is itself a deletion stays unlocated
		}
	}
	// In key order: two fetches (live and backfill) storing the same answers wait for each
	// other instead of deadlocking.
	elements.Sort(answers)
	if err := st.Write(ctx, answers, elements.SourceAPI, 0, false); err != nil {
		return asked, fmt.Errorf("API fill: %w", err)
	}
	mt.f.log().Debug("API fill", "elements", asked, "answers", len(answers), "changesets", len(needs)-skipped, "changesets_skipped", skipped)
	return asked, nil
}

// take adds the API's answers: node locations (tested against the regions) and ways' nodes.
func (mt *matcher) take(objs osm.Objects) {
	for _, o := range objs {
		switch v := o.(type) {
		case *osm.Node:
			mt.answered[int64(v.ID)] = true
			if v.Visible {
				mt.pos[int64(v.ID)] = orb.Point{v.Lon, v.Lat}
				mt.setCheck(int64(v.ID))
			} else if v.Version > 1 {
				mt.gone = append(mt.gone, goneNode{int64(v.ID), int(v.Version)})
			}
		case *osm.Way:
			ns := make([]int64, len(v.Nodes))
			for i, n := range v.Nodes {
				ns[i] = int64(n.ID)
			}
			mt.wayNodes[int64(v.ID)] = ns
		}
	}
}

// goneNode is a node the API answered for as deleted, with the version that deleted it.
type goneNode struct {
	id      int64
	version int
}

// touch is whether a changeset could touch a region.
type touch int8

const (
	touchNo      touch = iota // its bbox touches no region
	touchUnknown              // no metadata (or no bbox) yet
	touchYes                  // its bbox touches a region
)

// couldTouch reports which changesets could touch a region: the metadata bbox (when known)
// intersects one; without metadata, unless the metadata feed is past the edit (it skips the
// changesets whose bbox touches no region and that no diff tracked).
func (mt *matcher) couldTouch(ctx context.Context, tx pgx.Tx, cs func(func(int64, time.Time) bool)) (map[int64]touch, error) {
	var ids []int64
	newest := map[int64]time.Time{}
	for id, ts := range cs {
		ids = append(ids, id)
		newest[id] = ts
	}
	var feedAt *time.Time
	if err := tx.QueryRow(ctx, `SELECT max(seq_timestamp) FROM replication_state WHERE feed = 'changesets'`).Scan(&feedAt); err != nil {
		return nil, fmt.Errorf("API fill: read the changeset feed's pointer: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT id, meta_seq IS NOT NULL, ST_XMin(bbox), ST_YMin(bbox), ST_XMax(bbox), ST_YMax(bbox)
		FROM changesets WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("API fill: read changeset bboxes: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]touch, len(ids))
	seen := map[int64]bool{}
	for rows.Next() {
		var id int64
		var meta bool
		var x0, y0, x1, y1 *float64
		if err := rows.Scan(&id, &meta, &x0, &y0, &x1, &y1); err != nil {
			return nil, fmt.Errorf("API fill: read changeset bboxes: %w", err)
		}
		if !meta {
			continue // no metadata yet: decided below
		}
		seen[id] = true
		if x0 == nil {
			out[id] = touchUnknown // metadata from before its first edit
			continue
		}
		b := orb.Bound{Min: orb.Point{*x0, *y0}, Max: orb.Point{*x1, *y1}}
		for _, r := range mt.f.Regions {
			if r.IntersectsBound(b) {
				out[id] = touchYes
				break
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("API fill: read changeset bboxes: %w", err)
	}
	for _, id := range ids {
		if !seen[id] && (feedAt == nil || !feedAt.After(newest[id].Add(metaMargin))) {
			out[id] = touchUnknown
		}
	}
	return out, nil
}
