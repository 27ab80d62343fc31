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

	"github.com/osmtrack/osmtrack/etl/elements"
)

// The element types of etl/elements: a decoded diff is a list of element store versions.
type (
	// Action is what an element version does.
	Action = elements.Action
	// Tag is one key/value pair, in document order.
	Tag = elements.Tag
	// Member is a relation member.
	Member = elements.Member
	// Element is one element version with the action that carries it.
	Element = elements.Element
)

// The actions of an osmChange.
const (
	Create = elements.Create
	Modify = elements.Modify
	Delete = elements.Delete
)

// Element types, as stored in elements.type.
const (
	Node     = elements.Node
	Way      = elements.Way
	Relation = elements.Relation
)

// TypeName is the XML name of an element type byte.
func TypeName(t byte) string { return elements.TypeName(t) }

// ref names an element version in errors: "node 5 v2".
func refOf(e *Element) string { return fmt.Sprintf("%s %d v%d", TypeName(e.Type), e.ID, e.Version) }

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
			return fmt.Errorf("%s: id must be positive", refOf(e))
		case e.Version < 1:
			return fmt.Errorf("%s: version must be at least 1", refOf(e))
		case e.Version > math.MaxInt32:
			return fmt.Errorf("%s: version %d out of range (elements.version is an integer, at most %d)", refOf(e), e.Version, math.MaxInt32)
		case e.Changeset <= 0:
			return fmt.Errorf("%s: changeset must be positive", refOf(e))
		case e.Timestamp.IsZero():
			return fmt.Errorf("%s: no timestamp", refOf(e))
		}
		if e.Type == Node && e.Action != Delete {
			if !e.HasCoords {
				return fmt.Errorf("%s: no lat/lon", refOf(e))
			}
		}
		if e.HasCoords && (math.IsNaN(e.Lat) || math.IsNaN(e.Lon) || e.Lat < -90 || e.Lat > 90 || e.Lon < -180 || e.Lon > 180) {
			return fmt.Errorf("%s: coordinates lat=%v lon=%v out of range", refOf(e), e.Lat, e.Lon)
		}
		for _, n := range e.Nodes {
			if n <= 0 {
				return fmt.Errorf("%s: references node %d, which nobody can know (ids are positive)", refOf(e), n)
			}
		}
		for _, m := range e.Members {
			if m.Type != Node && m.Type != Way && m.Type != Relation {
				return fmt.Errorf("%s: member of unknown type", refOf(e))
			}
			if m.Ref <= 0 {
				return fmt.Errorf("%s: references %s %d, which nobody can know (ids are positive)", refOf(e), TypeName(m.Type), m.Ref)
			}
		}
		k := [2]int64{int64(e.Type)<<56 ^ int64(e.Version), e.ID}
		if _, dup := seen[k]; dup {
			return fmt.Errorf("%s appears twice", refOf(e))
		}
		seen[k] = struct{}{}
	}
	return nil
}
