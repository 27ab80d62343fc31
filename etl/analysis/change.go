package analysis

import (
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/osmtrack/osmtrack/etl/elements"
)

// change is one element of the changeset as a whole (its first version's before-state, its
// last version's after-state) with its geometry: what the map, the length accounting and the
// per-element reasons read.
type change struct {
	Key    elements.Key
	Action string // create, modify or delete
	// Before is the state before the changeset (nil when created or unknown); After the state
	// after it (nil when deleted).
	Before, After *elements.Element
	Ref           *ElementRef // the element's last version in the changeset
	Label         string      // from After's tags, else Before's
	// Ways: the lines before and after from the node positions known, their lengths, and
	// whether every node had a position (BeforeOK, AfterOK).
	BeforeLine, AfterLine orb.LineString
	BeforeLen, AfterLen   float64
	BeforeOK, AfterOK     bool
}

// beforeAfter is the element's action over the whole changeset with its states before and
// after; ok is false for an element created and deleted in the changeset.
func (s *state) beforeAfter(k elements.Key) (action string, before, after *elements.Element, ok bool) {
	vs := s.cs[k]
	first := vs[0]
	before, after = s.before(k), s.after(k)
	action = "modify"
	switch {
	case first.Version == 1 || first.Action == elements.Create:
		action = "create"
		before = nil
	case after == nil:
		action = "delete"
	}
	return action, before, after, !(action == "create" && after == nil)
}

// changes builds the changeset's elements in order with their ways' lines. The way nodes
// without a position count as missing (s.missPos).
func (s *state) changes() []change {
	s.countMissing = true
	defer func() { s.countMissing = false; s.missPos = len(s.missNode) }()
	out := make([]change, 0, len(s.csKeys))
	for _, k := range s.csKeys {
		action, before, after, ok := s.beforeAfter(k)
		if !ok {
			continue
		}
		vs := s.cs[k]
		c := change{Key: k, Action: action, Before: before, After: after,
			Ref: &ElementRef{Type: TypeName(k.Type), ID: k.ID, Version: vs[len(vs)-1].Version}}
		if after != nil {
			c.Label = Label(k.Type, k.ID, after.Tags)
		} else if before != nil {
			c.Label = Label(k.Type, k.ID, before.Tags)
		}
		if k.Type == 'w' {
			if before != nil {
				ls, miss := s.wayLine(before, false)
				c.BeforeLine, c.BeforeLen, c.BeforeOK = ls, LineLength(ls), miss == 0
			}
			if after != nil {
				ls, miss := s.wayLine(after, true)
				c.AfterLine, c.AfterLen, c.AfterOK = ls, LineLength(ls), miss == 0
			}
		}
		out = append(out, c)
	}
	return out
}

// nodesInWays are the nodes of the changeset's ways (before or after).
func (s *state) nodesInWays() map[int64]bool {
	in := map[int64]bool{}
	s.eachWayVersion(func(w *elements.Element) {
		for _, n := range w.Nodes {
			in[n] = true
		}
	})
	return in
}

// eachWayVersion calls f with each of the changeset's ways, its before-state then its
// after-state (those known).
func (s *state) eachWayVersion(f func(w *elements.Element)) {
	for _, k := range s.csKeys {
		if k.Type != 'w' {
			continue
		}
		for _, w := range []*elements.Element{s.before(k), s.after(k)} {
			if w != nil {
				f(w)
			}
		}
	}
}

// geometry draws the changes, before and after: nodes as points (a node drawn as part of a
// way, inWay, is not drawn again unless tagged), ways as lines of two points or more.
func geometry(changes []change, inWay map[int64]bool) *geojson.FeatureCollection {
	fc := geojson.NewFeatureCollection()
	add := func(g orb.Geometry, action string, e *elements.Element, st string) {
		f := geojson.NewFeature(g)
		f.Properties["action"] = action
		f.Properties["type"] = TypeName(e.Type)
		f.Properties["id"] = e.ID
		f.Properties["version"] = e.Version
		f.Properties["state"] = st
		if l := Label(e.Type, e.ID, e.Tags); l != "" {
			f.Properties["label"] = l
		}
		fc.Append(f)
	}
	for i := range changes {
		c := &changes[i]
		switch c.Key.Type {
		case 'n':
			show := func(e *elements.Element) bool {
				return e != nil && (len(e.Tags) > 0 || !inWay[c.Key.ID]) && e.HasCoords
			}
			if show(c.Before) {
				add(orb.Point{c.Before.Lon, c.Before.Lat}, c.Action, c.Before, "before")
			}
			if show(c.After) {
				add(orb.Point{c.After.Lon, c.After.Lat}, c.Action, c.After, "after")
			}
		case 'w':
			if c.Before != nil && len(c.BeforeLine) > 1 {
				add(c.BeforeLine, c.Action, c.Before, "before")
			}
			if c.After != nil && len(c.AfterLine) > 1 {
				add(c.AfterLine, c.Action, c.After, "after")
			}
		}
	}
	return fc
}

// lengths accounts the ways' lengths per key=value of keys (highway=residential, …): metres
// created, deleted, and the change of modified ways (whose lines are complete before and
// after), rounded to 0.1 m. Keys without a change are left out.
func lengths(changes []change, keys []string) map[string]Length {
	out := map[string]Length{}
	add := func(tags []elements.Tag, f func(*Length)) {
		for _, kv := range lengthKeys(keys, tags) {
			l := out[kv]
			f(&l)
			out[kv] = l
		}
	}
	for i := range changes {
		c := &changes[i]
		if c.Key.Type != 'w' {
			continue
		}
		switch c.Action {
		case "create":
			if c.AfterOK {
				add(c.After.Tags, func(l *Length) { l.Created += c.AfterLen })
			}
		case "delete":
			if c.Before != nil && c.BeforeOK {
				add(c.Before.Tags, func(l *Length) { l.Deleted += c.BeforeLen })
			}
		case "modify":
			if c.Before != nil && c.BeforeOK && c.AfterOK {
				add(c.Before.Tags, func(l *Length) { l.Modified -= c.BeforeLen })
				add(c.After.Tags, func(l *Length) { l.Modified += c.AfterLen })
			}
		}
	}
	for kv, l := range out {
		r := Length{Created: round1(l.Created), Deleted: round1(l.Deleted), Modified: round1(l.Modified)}
		if r == (Length{}) {
			delete(out, kv) // retagged or touched without a length change
			continue
		}
		out[kv] = r
	}
	return out
}

// lengthKeys are the key=value pairs of tags whose key is one of keys (in keys' order).
func lengthKeys(keys []string, tags []elements.Tag) []string {
	var out []string
	for _, k := range keys {
		for _, t := range tags {
			if t.Key == k {
				if t.Value != "" {
					out = append(out, k+"="+t.Value)
				}
				break
			}
		}
	}
	return out
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
