package elements

import "github.com/paulmach/osm"

// FromObject converts a paulmach/osm node, way or relation (from the API, a changeset download
// or an extract); ok is false for other objects. A node has a location when it is visible
// (a deleted node's zero lat/lon is no location; a visible node at 0,0 is one).
func FromObject(o osm.Object, action Action) (Element, bool) {
	switch v := o.(type) {
	case *osm.Node:
		e := Element{Action: action, Type: Node, ID: int64(v.ID), Version: v.Version, Changeset: int64(v.ChangesetID),
			Timestamp: v.Timestamp.UTC(), UID: int64(v.UserID), User: v.User, Visible: v.Visible, Tags: tags(v.Tags)}
		if v.Visible {
			e.HasCoords, e.Lat, e.Lon = true, v.Lat, v.Lon
		}
		return e, true
	case *osm.Way:
		e := Element{Action: action, Type: Way, ID: int64(v.ID), Version: v.Version, Changeset: int64(v.ChangesetID),
			Timestamp: v.Timestamp.UTC(), UID: int64(v.UserID), User: v.User, Visible: v.Visible, Tags: tags(v.Tags)}
		e.Nodes = make([]int64, len(v.Nodes))
		for i, n := range v.Nodes {
			e.Nodes[i] = int64(n.ID)
		}
		return e, true
	case *osm.Relation:
		e := Element{Action: action, Type: Relation, ID: int64(v.ID), Version: v.Version, Changeset: int64(v.ChangesetID),
			Timestamp: v.Timestamp.UTC(), UID: int64(v.UserID), User: v.User, Visible: v.Visible, Tags: tags(v.Tags)}
		e.Members = make([]Member, 0, len(v.Members))
		for _, m := range v.Members {
			if t := typeByte(m.Type); t != 0 {
				e.Members = append(e.Members, Member{Type: t, Ref: m.Ref, Role: m.Role})
			}
		}
		return e, true
	}
	return Element{}, false
}

func tags(ts osm.Tags) []Tag {
	if len(ts) == 0 {
		return nil
	}
	out := make([]Tag, len(ts))
	for i, t := range ts {
		out[i] = Tag{t.Key, t.Value}
	}
	return out
}

func typeByte(t osm.Type) byte {
	switch t {
	case osm.TypeNode:
		return Node
	case osm.TypeWay:
		return Way
	case osm.TypeRelation:
		return Relation
	}
	return 0
}

// FeatureID is the paulmach/osm id of an element.
func (k Key) FeatureID() osm.FeatureID {
	switch k.Type {
	case Node:
		return osm.NodeID(k.ID).FeatureID()
	case Way:
		return osm.WayID(k.ID).FeatureID()
	default:
		return osm.RelationID(k.ID).FeatureID()
	}
}

// ObjectID is the paulmach/osm id of a version.
func (k VKey) ObjectID() osm.ObjectID { return k.Key().FeatureID().ObjectID(k.Version) }

// KeyOf is the key of a paulmach/osm feature id.
func KeyOf(id osm.FeatureID) Key { return Key{typeByte(id.Type()), id.Ref()} }
