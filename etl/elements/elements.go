// Package elements is osmtrack's element store: the versions of OSM elements that fetch keeps
// from the minutely diffs, that `osmtrack seed` loads from an extract, that fetch and analyse
// fill from the OSM API, and that prune thins out. It owns the one Element type, the keys, the
// row codec and every SQL statement on the `elements` table, behind the Store interface with a
// PostGIS implementation (PG) and an in-memory one (Mem) for tests.
//
// A location is either known (HasCoords, with Lat/Lon) or not: "no location" is a NULL
// geometry in the table, never POINT(0 0).
package elements

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Element types, as stored in elements.type.
const (
	Node     byte = 'n'
	Way      byte = 'w'
	Relation byte = 'r'
)

// TypeName is the OSM name of an element type byte: node, way or relation.
func TypeName(t byte) string {
	switch t {
	case Node:
		return "node"
	case Way:
		return "way"
	case Relation:
		return "relation"
	}
	return fmt.Sprintf("type(%q)", t)
}

// TypeIndex is 0 for nodes, 1 for ways, 2 for relations (and anything else).
func TypeIndex(t byte) int {
	switch t {
	case Node:
		return 0
	case Way:
		return 1
	}
	return 2
}

// Action is what an element version did in its changeset (0: unknown, e.g. a version read from
// an extract or the API).
type Action uint8

// The actions of an osmChange.
const (
	Create Action = iota + 1
	Modify
	Delete
)

func (a Action) String() string {
	switch a {
	case 0:
		return ""
	case Create:
		return "create"
	case Modify:
		return "modify"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("action(%d)", a)
}

// ParseAction is the inverse of Action.String ("" is 0).
func ParseAction(s string) (Action, error) {
	switch s {
	case "":
		return 0, nil
	case "create":
		return Create, nil
	case "modify":
		return Modify, nil
	case "delete":
		return Delete, nil
	}
	return 0, fmt.Errorf("unknown action %q", s)
}

// Source is where a stored version came from (elements.source). The zero value is unknown
// (a version not read from the store).
type Source uint8

// The sources of element versions.
const (
	SourceDiff     Source = iota + 1 // a minutely diff (fetch)
	SourceSeed                       // an extract (`osmtrack seed`)
	SourceAPI                        // the OSM API's multi-fetch (fetch's API fill, analyse)
	SourceDownload                   // a changeset download (analyse)
)

var sourceNames = [...]string{"", "diff", "seed", "api", "download"}

// String is the source as stored: diff, seed, api or download ("" when unknown).
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}

// ParseSource reads a stored source.
func ParseSource(name string) (Source, error) {
	for i, n := range sourceNames {
		if i > 0 && n == name {
			return Source(i), nil
		}
	}
	return 0, fmt.Errorf("unknown element source %q", name)
}

// Tracking are the sources whose versions make fetch keep later edits of their elements (a
// diff's kept versions, an extract's): the others (the API's answers, a changeset download's
// versions) were stored for their locations and before-states, and may lie outside every
// region.
var Tracking = []Source{SourceDiff, SourceSeed}

// Tracks reports whether s is one of Tracking.
func (s Source) Tracks() bool { return slices.Contains(Tracking, s) }

// Valid reports whether s is one of the sources.
func (s Source) Valid() bool { return s >= SourceDiff && s <= SourceDownload }

// Tag is one key/value pair, in document order.
type Tag struct {
	Key, Value string
}

// Member is a relation member.
type Member struct {
	Type byte // Node, Way or Relation
	Ref  int64
	Role string
}

// Key identifies an element (any version).
type Key struct {
	Type byte
	ID   int64
}

func (k Key) String() string { return TypeName(k.Type) + "/" + strconv.FormatInt(k.ID, 10) }

// VKey identifies an element version.
type VKey struct {
	Type    byte
	ID      int64
	Version int
}

// Key drops the version.
func (k VKey) Key() Key { return Key{k.Type, k.ID} }

func (k VKey) String() string {
	return TypeName(k.Type) + "/" + strconv.FormatInt(k.ID, 10) + " v" + strconv.Itoa(k.Version)
}

// Element is one element version.
type Element struct {
	Action Action // what the version did; 0 when unknown
	Type   byte   // Node, Way or Relation
	// Source is where the version came from (set when read from the store).
	Source Source
	// Visible is the visible attribute when present, otherwise Action != Delete.
	Visible bool
	// HasCoords reports that the version has a location (nodes only): lat and lon were
	// present. Without it Lat and Lon mean nothing (stored as a NULL geometry).
	HasCoords bool
	ID        int64
	Version   int
	Changeset int64
	Timestamp time.Time
	UID       int64
	User      string
	Lat, Lon  float64
	Tags      []Tag
	Nodes     []int64  // ways
	Members   []Member // relations
	// Seq is the diff that wrote the version (0: none; set when read from the store).
	Seq int64
}

// Key is the element's key.
func (e *Element) Key() Key { return Key{e.Type, e.ID} }

// VKey is the version's key.
func (e *Element) VKey() VKey { return VKey{e.Type, e.ID, e.Version} }

// Ref is "node/123 v4".
func (e *Element) Ref() string { return e.VKey().String() }

// Tag returns the value of tag k ("" and false when absent).
func (e *Element) Tag(k string) (string, bool) {
	for _, t := range e.Tags {
		if t.Key == k {
			return t.Value, true
		}
	}
	return "", false
}

// TagMap returns the tags as a map.
func (e *Element) TagMap() map[string]string {
	m := make(map[string]string, len(e.Tags))
	for _, t := range e.Tags {
		m[t.Key] = t.Value
	}
	return m
}

// Position is the location of the newest stored version of a node.
type Position struct {
	Version   int
	HasCoords bool // false: the newest version has no location (deleted)
	Lat, Lon  float64
	Source    Source
}
