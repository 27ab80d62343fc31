package analysis

import (
	"sort"
	"time"

	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/elements"
)

// Elem is one element version, normalised from paulmach/osm objects or store rows.
type Elem struct {
	Type      byte // 'n', 'w' or 'r'
	ID        int64
	Version   int
	Changeset int64
	TS        time.Time
	UID       int64
	User      string
	Visible   bool
	// Action is create, modify or delete for the versions of the changeset analysed
	// (and for store rows written by fetch); "" for versions from history or the API.
	Action  string
	Tags    map[string]string
	Lat     float64
	Lon     float64
	HasLoc  bool
	Nodes   []int64
	Members []Member
	// Source is where the version came from (diff, seed, api, download); when storing, ""
	// is api.
	Source elements.Source
}

// Member is a relation member.
type Member struct {
	Type string `json:"type"` // n, w, r
	Ref  int64  `json:"ref"`
	Role string `json:"role"`
}

// Key names an element (any version): the element store's key.
type Key = elements.Key

// VKey names an element version: the element store's versioned key.
type VKey = elements.VKey

// Key returns the element's key.
func (e *Elem) Key() Key { return Key{Type: e.Type, ID: e.ID} }

// VKey returns the version's key.
func (e *Elem) VKey() VKey { return VKey{Type: e.Type, ID: e.ID, Version: e.Version} }

// TypeName is node, way or relation.
func TypeName(t byte) string {
	switch t {
	case 'n':
		return "node"
	case 'w':
		return "way"
	case 'r':
		return "relation"
	}
	return string(t)
}

func typeByte(t osm.Type) byte {
	switch t {
	case osm.TypeNode:
		return 'n'
	case osm.TypeWay:
		return 'w'
	case osm.TypeRelation:
		return 'r'
	}
	return 0
}

func osmType(t byte) osm.Type {
	switch t {
	case 'n':
		return osm.TypeNode
	case 'w':
		return osm.TypeWay
	default:
		return osm.TypeRelation
	}
}

func tagMap(tags osm.Tags) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

// FromObject converts a paulmach/osm node, way or relation; ok is false for other objects.
func FromObject(o osm.Object, action string) (Elem, bool) {
	switch v := o.(type) {
	case *osm.Node:
		e := Elem{Type: 'n', ID: int64(v.ID), Version: v.Version, Changeset: int64(v.ChangesetID), TS: v.Timestamp,
			UID: int64(v.UserID), User: v.User, Visible: v.Visible, Action: action, Tags: tagMap(v.Tags), Lat: v.Lat, Lon: v.Lon}
		// A visible node has a location (0,0 included); a deleted one has none.
		e.HasLoc = v.Visible
		return e, true
	case *osm.Way:
		e := Elem{Type: 'w', ID: int64(v.ID), Version: v.Version, Changeset: int64(v.ChangesetID), TS: v.Timestamp,
			UID: int64(v.UserID), User: v.User, Visible: v.Visible, Action: action, Tags: tagMap(v.Tags)}
		e.Nodes = make([]int64, len(v.Nodes))
		for i, n := range v.Nodes {
			e.Nodes[i] = int64(n.ID)
		}
		return e, true
	case *osm.Relation:
		e := Elem{Type: 'r', ID: int64(v.ID), Version: v.Version, Changeset: int64(v.ChangesetID), TS: v.Timestamp,
			UID: int64(v.UserID), User: v.User, Visible: v.Visible, Action: action, Tags: tagMap(v.Tags)}
		e.Members = make([]Member, len(v.Members))
		for i, m := range v.Members {
			e.Members[i] = Member{Type: string(typeByte(m.Type)), Ref: m.Ref, Role: m.Role}
		}
		return e, true
	}
	return Elem{}, false
}

// FromObjects converts the nodes, ways and relations of objs.
func FromObjects(objs osm.Objects, action string) []Elem {
	out := make([]Elem, 0, len(objs))
	for _, o := range objs {
		if e, ok := FromObject(o, action); ok {
			out = append(out, e)
		}
	}
	return out
}

// FromChange lists the versions of an osmChange with their actions, sorted by type, id and
// version. A delete block's elements are marked invisible.
func FromChange(c *osm.Change) []Elem {
	var out []Elem
	add := func(o *osm.OSM, action string) {
		if o == nil {
			return
		}
		for _, e := range FromObjects(o.Objects(), action) {
			if action == "delete" {
				e.Visible = false
				e.HasLoc = false
			}
			out = append(out, e)
		}
	}
	add(c.Create, "create")
	add(c.Modify, "modify")
	add(c.Delete, "delete")
	SortElems(out)
	return out
}

// SortElems sorts versions by type (node, way, relation), id and version.
func SortElems(es []Elem) {
	rank := map[byte]int{'n': 0, 'w': 1, 'r': 2}
	sort.Slice(es, func(i, j int) bool {
		a, b := &es[i], &es[j]
		if a.Type != b.Type {
			return rank[a.Type] < rank[b.Type]
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Version < b.Version
	})
}

type (
	osmObjectID  = osm.ObjectID
	osmFeatureID = osm.FeatureID
)
