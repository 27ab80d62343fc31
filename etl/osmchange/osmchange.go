// Package osmchange decodes osmChange documents (the minutely replication diffs) into a flat
// list of element versions.
//
// Decode first tries a hand-rolled byte scanner that understands the subset of XML real diffs
// use (the declaration, elements, attributes in single or double quotes, the five standard
// entities and numeric character references). On anything else — comments, CDATA, other
// entities, namespaces, unknown elements or attributes, odd numbers, truncation — it gives up
// and the document is decoded by the reference path, encoding/xml through paulmach/osm's types,
// which also produces the error message for bad input. A fuzz test asserts that both paths
// agree on every input the fast path accepts.
package osmchange

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"
)

// Action is what an element version does.
type Action uint8

// The actions of an osmChange.
const (
	Create Action = iota + 1
	Modify
	Delete
)

func (a Action) String() string {
	switch a {
	case Create:
		return "create"
	case Modify:
		return "modify"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("action(%d)", a)
}

// Element types, as stored in elements.type.
const (
	Node     byte = 'n'
	Way      byte = 'w'
	Relation byte = 'r'
)

// TypeName is the XML name of an element type byte.
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

// Element is one element version with the action that carries it.
type Element struct {
	Action    Action
	Type      byte // Node, Way or Relation
	ID        int64
	Version   int
	Changeset int64
	Timestamp time.Time
	UID       int64
	User      string
	// Visible is the visible attribute when present, otherwise Action != Delete.
	Visible bool
	// HasCoords reports that both lat and lon were present (nodes only).
	HasCoords bool
	Lat, Lon  float64
	Tags      []Tag
	Nodes     []int64  // ways
	Members   []Member // relations
}

// Key identifies an element version.
func (e *Element) Key() string { return fmt.Sprintf("%s %d v%d", TypeName(e.Type), e.ID, e.Version) }

// Change is a decoded osmChange.
type Change struct {
	Elements []Element
	// Fallback is why the fast path gave up ("" when it decoded the document).
	Fallback string
}

// Counts returns the number of nodes, ways and relations.
func (c *Change) Counts() (nodes, ways, relations int) {
	for i := range c.Elements {
		switch c.Elements[i].Type {
		case Node:
			nodes++
		case Way:
			ways++
		case Relation:
			relations++
		}
	}
	return
}

// Decode decodes an osmChange document: fast path first, reference decoder on fallback.
// A document that is not a valid osmChange is an error naming the cause (and the line for
// XML syntax errors). Decode does not check element values; see Check. It applies no
// Limits; DecodeLimited does.
func Decode(data []byte) (*Change, error) { return DecodeLimited(data, Limits{}) }

// DecodeLimited is Decode within lim: a document past one of them is a *LimitError, found
// while decoding (before the memory is spent).
func DecodeLimited(data []byte, lim Limits) (*Change, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty document")
	}
	c, err := decodeFast(data, lim)
	if err == nil {
		return c, nil
	}
	var fb *FallbackError
	if !errors.As(err, &fb) {
		return nil, err
	}
	c, err = decodeReference(data, lim)
	if err != nil {
		return nil, err
	}
	c.Fallback = fb.Reason
	return c, nil
}

// FallbackError is returned by DecodeFast when the input is outside the subset it handles.
type FallbackError struct {
	Offset int
	Reason string
}

func (e *FallbackError) Error() string {
	return fmt.Sprintf("fast decoder fallback at byte %d: %s", e.Offset, e.Reason)
}

// Check validates the decoded elements: positive ids and changesets, versions from 1 that fit
// the integer column, a
// timestamp, coordinates in range for visible nodes, known member types, positive node refs,
// and no element version twice. The error names the element.
func (c *Change) Check() error {
	seen := make(map[[2]int64]struct{}, len(c.Elements))
	for i := range c.Elements {
		e := &c.Elements[i]
		switch {
		case e.Type != Node && e.Type != Way && e.Type != Relation:
			return fmt.Errorf("element %d: unknown type %q", i, e.Type)
		case e.ID <= 0:
			return fmt.Errorf("%s: id must be positive", e.Key())
		case e.Version < 1:
			return fmt.Errorf("%s: version must be at least 1", e.Key())
		case e.Version > math.MaxInt32:
			return fmt.Errorf("%s: version %d out of range (elements.version is an integer, at most %d)", e.Key(), e.Version, math.MaxInt32)
		case e.Changeset <= 0:
			return fmt.Errorf("%s: changeset must be positive", e.Key())
		case e.Timestamp.IsZero():
			return fmt.Errorf("%s: no timestamp", e.Key())
		}
		if e.Type == Node && e.Action != Delete {
			if !e.HasCoords {
				return fmt.Errorf("%s: no lat/lon", e.Key())
			}
		}
		if e.HasCoords && (math.IsNaN(e.Lat) || math.IsNaN(e.Lon) || e.Lat < -90 || e.Lat > 90 || e.Lon < -180 || e.Lon > 180) {
			return fmt.Errorf("%s: coordinates lat=%v lon=%v out of range", e.Key(), e.Lat, e.Lon)
		}
		for _, n := range e.Nodes {
			if n <= 0 {
				return fmt.Errorf("%s: references node %d, which nobody can know (ids are positive)", e.Key(), n)
			}
		}
		for _, m := range e.Members {
			if m.Type != Node && m.Type != Way && m.Type != Relation {
				return fmt.Errorf("%s: member of unknown type", e.Key())
			}
			if m.Ref <= 0 {
				return fmt.Errorf("%s: references %s %d, which nobody can know (ids are positive)", e.Key(), TypeName(m.Type), m.Ref)
			}
		}
		k := [2]int64{int64(e.Type)<<56 ^ int64(e.Version), e.ID}
		if _, dup := seen[k]; dup {
			return fmt.Errorf("%s appears twice", e.Key())
		}
		seen[k] = struct{}{}
	}
	return nil
}
