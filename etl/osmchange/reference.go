package osmchange

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/paulmach/osm"
)

// anyElem catches child elements the osm types do not know.
type anyElem struct {
	XMLName xml.Name
}

type refNode struct {
	osm.Node
	Extra []anyElem `xml:",any"`
}

type refWay struct {
	osm.Way
	Extra []anyElem `xml:",any"`
}

type refRelation struct {
	osm.Relation
	Extra []anyElem `xml:",any"`
}

// DecodeReference decodes with encoding/xml into paulmach/osm's types. It is strict about
// structure: the root must be <osmChange>, its children <create>, <modify> or <delete>, theirs
// <node>, <way> or <relation>, and theirs <tag>, <nd> (ways) or <member> (relations), which
// have no children; text other than white space is an error anywhere, and so are numbers that
// are empty or not decimal. It rejects what the fast decoder rejects.
func DecodeReference(data []byte) (*Change, error) { return decodeReference(data, Limits{}) }

func decodeReference(data []byte, lim Limits) (*Change, error) {
	// A first pass checks structure, numbers and limits on the tokens alone, before
	// paulmach/osm's types allocate anything.
	if err := checkStructure(data, lim); err != nil {
		return nil, err
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	c := &Change{}
	depth := 0
	var action Action
	sawRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if !sawRoot {
				return nil, errors.New("no <osmChange> element")
			}
			return c, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			line, _ := d.InputPos()
			switch depth {
			case 0:
				if sawRoot {
					return nil, fmt.Errorf("line %d: <%s> after the end of <osmChange>", line, t.Name.Local)
				}
				if t.Name.Local != "osmChange" || t.Name.Space != "" {
					return nil, fmt.Errorf("line %d: root element is <%s>, not <osmChange>", line, qname(t.Name))
				}
				sawRoot = true
				depth = 1
			case 1:
				if t.Name.Space != "" {
					return nil, fmt.Errorf("line %d: unknown element <%s> in <osmChange>", line, qname(t.Name))
				}
				switch t.Name.Local {
				case "create":
					action = Create
				case "modify":
					action = Modify
				case "delete":
					action = Delete
				default:
					return nil, fmt.Errorf("line %d: unknown element <%s> in <osmChange>", line, qname(t.Name))
				}
				depth = 2
			case 2:
				e, err := decodeRefElement(d, t, action)
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", line, err)
				}
				c.Elements = append(c.Elements, e)
			}
		case xml.EndElement:
			depth--
		}
	}
}

func qname(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

func hasAttr(t xml.StartElement, name string) bool {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return true
		}
	}
	return false
}

func unknownChild(parent string, extra []anyElem) error {
	if len(extra) > 0 {
		return fmt.Errorf("unknown element <%s> in <%s>", qname(extra[0].XMLName), parent)
	}
	return nil
}

func decodeRefElement(d *xml.Decoder, t xml.StartElement, action Action) (Element, error) {
	e := Element{Action: action, Visible: action != Delete}
	if t.Name.Space != "" {
		return e, fmt.Errorf("unknown element <%s> in <%s>", qname(t.Name), action)
	}
	hasVisible := hasAttr(t, "visible")
	switch t.Name.Local {
	case "node":
		var n refNode
		if err := d.DecodeElement(&n, &t); err != nil {
			return e, err
		}
		if err := unknownChild("node", n.Extra); err != nil {
			return e, err
		}
		e.Type, e.ID, e.Version, e.Changeset = Node, int64(n.ID), n.Version, int64(n.ChangesetID)
		e.Timestamp, e.UID, e.User = n.Timestamp, int64(n.UserID), n.User
		if hasVisible {
			e.Visible = n.Visible
		}
		e.HasCoords = hasAttr(t, "lat") && hasAttr(t, "lon")
		if e.HasCoords {
			e.Lat, e.Lon = n.Lat, n.Lon
		}
		e.Tags = refTags(n.Tags)
	case "way":
		var w refWay
		if err := d.DecodeElement(&w, &t); err != nil {
			return e, err
		}
		if err := unknownChild("way", w.Extra); err != nil {
			return e, err
		}
		if len(w.Updates) > 0 || w.Bounds != nil {
			return e, errors.New("unexpected <update> or <bounds> in <way>")
		}
		e.Type, e.ID, e.Version, e.Changeset = Way, int64(w.ID), w.Version, int64(w.ChangesetID)
		e.Timestamp, e.UID, e.User = w.Timestamp, int64(w.UserID), w.User
		if hasVisible {
			e.Visible = w.Visible
		}
		e.Tags = refTags(w.Tags)
		if len(w.Nodes) > 0 {
			e.Nodes = make([]int64, len(w.Nodes))
			for i, n := range w.Nodes {
				e.Nodes[i] = int64(n.ID)
			}
		}
	case "relation":
		var r refRelation
		if err := d.DecodeElement(&r, &t); err != nil {
			return e, err
		}
		if err := unknownChild("relation", r.Extra); err != nil {
			return e, err
		}
		if len(r.Updates) > 0 || r.Bounds != nil {
			return e, errors.New("unexpected <update> or <bounds> in <relation>")
		}
		e.Type, e.ID, e.Version, e.Changeset = Relation, int64(r.ID), r.Version, int64(r.ChangesetID)
		e.Timestamp, e.UID, e.User = r.Timestamp, int64(r.UserID), r.User
		if hasVisible {
			e.Visible = r.Visible
		}
		e.Tags = refTags(r.Tags)
		if len(r.Members) > 0 {
			e.Members = make([]Member, len(r.Members))
			for i, m := range r.Members {
				var mt byte
				switch m.Type {
				case osm.TypeNode:
					mt = Node
				case osm.TypeWay:
					mt = Way
				case osm.TypeRelation:
					mt = Relation
				default:
					return e, fmt.Errorf("relation %d: member of unknown type %q", r.ID, string(m.Type))
				}
				e.Members[i] = Member{Type: mt, Ref: m.Ref, Role: m.Role}
			}
		}
	default:
		return e, fmt.Errorf("unknown element <%s> in <%s>", t.Name.Local, action)
	}
	return e, nil
}

func refTags(ts osm.Tags) []Tag {
	if len(ts) == 0 {
		return nil
	}
	out := make([]Tag, len(ts))
	for i, t := range ts {
		out[i] = Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

// checkStructure walks the tokens: the nesting osmChange > action > node|way|relation >
// tag|nd|member, no text but white space, decimal numbers in the numeric attributes, and lim.
func checkStructure(data []byte, lim Limits) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	var stack []string // open element names
	var key string     // the element being read ("node 5 v2")
	elements, tags, nodes, members := 0, 0, 0, 0
	sawRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		line, _ := d.InputPos()
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.Trim(t, " \t\r\n")) > 0 {
				where := "outside <osmChange>"
				if len(stack) > 0 {
					where = "in <" + stack[len(stack)-1] + ">"
				}
				return fmt.Errorf("line %d: text %q %s", line, excerptText(t), where)
			}
		case xml.StartElement:
			name := qname(t.Name)
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			ok := false
			switch len(stack) {
			case 0:
				ok = name == "osmChange" && !sawRoot
				sawRoot = true
			case 1:
				ok = name == "create" || name == "modify" || name == "delete"
			case 2:
				ok = name == "node" || name == "way" || name == "relation"
				if ok {
					elements++
					tags, nodes, members = 0, 0, 0
					key = name + " " + attrValue(t, "id") + " v" + attrValue(t, "version")
					if over(elements, lim.MaxElements) {
						return &LimitError{What: "elements in the document", Limit: lim.MaxElements}
					}
					if err := checkNumbers(t, key, "id", "version", "changeset", "uid"); err != nil {
						return fmt.Errorf("line %d: %w", line, err)
					}
					if name == "node" {
						if err := checkFloats(t, key, "lat", "lon"); err != nil {
							return fmt.Errorf("line %d: %w", line, err)
						}
					}
					if over(len(attrValue(t, "user")), lim.MaxValueBytes) {
						return &LimitError{What: "bytes in the user name of " + key, Limit: lim.MaxValueBytes}
					}
				}
			case 3:
				switch name {
				case "tag":
					ok = true
					tags++
					if over(tags, lim.MaxTags) {
						return &LimitError{What: "tags in " + key, Limit: lim.MaxTags}
					}
					if over(len(attrValue(t, "k")), lim.MaxValueBytes) {
						return &LimitError{What: "bytes in a tag key of " + key, Limit: lim.MaxValueBytes}
					}
					if over(len(attrValue(t, "v")), lim.MaxValueBytes) {
						return &LimitError{What: "bytes in the value of tag " + attrValue(t, "k") + " of " + key, Limit: lim.MaxValueBytes}
					}
				case "nd":
					ok = parent == "way"
					nodes++
					if over(nodes, lim.MaxWayNodes) {
						return &LimitError{What: "nodes in " + key, Limit: lim.MaxWayNodes}
					}
					if ok {
						if err := checkNumbers(t, key, "ref"); err != nil {
							return fmt.Errorf("line %d: %w", line, err)
						}
					}
				case "member":
					ok = parent == "relation"
					members++
					if over(members, lim.MaxMembers) {
						return &LimitError{What: "members in " + key, Limit: lim.MaxMembers}
					}
					if over(len(attrValue(t, "role")), lim.MaxValueBytes) {
						return &LimitError{What: "bytes in a member role of " + key, Limit: lim.MaxValueBytes}
					}
					if ok {
						if err := checkNumbers(t, key, "ref"); err != nil {
							return fmt.Errorf("line %d: %w", line, err)
						}
					}
				}
			}
			if !ok {
				if len(stack) == 0 {
					if name == "osmChange" {
						return fmt.Errorf("line %d: <%s> after the end of <osmChange>", line, name)
					}
					return fmt.Errorf("line %d: root element is <%s>, not <osmChange>", line, name)
				}
				return fmt.Errorf("line %d: unknown element <%s> in <%s>", line, name, parent)
			}
			stack = append(stack, name)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
}

func attrValue(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// checkNumbers checks that the named attributes, where present, are decimal integers.
func checkNumbers(t xml.StartElement, key string, names ...string) error {
	for _, a := range t.Attr {
		if a.Name.Space != "" {
			continue
		}
		for _, n := range names {
			if a.Name.Local == n && !intRe.MatchString(a.Value) {
				return fmt.Errorf("%s: %s=%q is not a decimal integer", key, n, a.Value)
			}
		}
	}
	return nil
}

// checkFloats checks that the named attributes, where present, are decimal numbers.
func checkFloats(t xml.StartElement, key string, names ...string) error {
	for _, a := range t.Attr {
		if a.Name.Space != "" {
			continue
		}
		for _, n := range names {
			if a.Name.Local == n && !floatRe.MatchString(a.Value) {
				return fmt.Errorf("%s: %s=%q is not a decimal number", key, n, a.Value)
			}
		}
	}
	return nil
}

func excerptText(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 20 {
		return string(b[:20]) + "…"
	}
	return string(b)
}
