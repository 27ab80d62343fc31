package analysis

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/changeset"
	"github.com/osmtrack/osmtrack/etl/elements"
)

// Meta is the changeset's metadata.
type Meta struct {
	ID            int64
	User          string
	UID           int64
	CreatedAt     *time.Time
	ClosedAt      *time.Time
	Open          bool
	CommentsCount int
	ChangesCount  int
	Tags          map[string]string
	BBox          *[4]float64
	// DiffTotal is how many element versions the replication diffs reported for the changeset
	// (changesets.num_create + num_modify + num_delete); 0 when unknown. When the elements
	// analysed are fewer, the document is incomplete.
	DiffTotal int
}

// InputError is unreadable input: the file, the line (0 when unknown) and what went wrong.
// `osmtrack analyse-file` exits 2 on it.
type InputError struct {
	File string
	Line int
	Err  error
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

func lineOf(dec *xml.Decoder, err error) int {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return se.Line
	}
	l, _ := dec.InputPos()
	return l
}

// ReadMeta reads a changeset's metadata as /api/0.6/changeset/ID serves it (an <osm> with one
// <changeset>; a bare <changeset> is accepted too).
func ReadMeta(path string) (Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return Meta{}, &InputError{File: path, Err: err}
	}
	defer f.Close()
	return DecodeMeta(f, path)
}

// DecodeMeta is ReadMeta on a reader; name is used in errors. It reads with the one
// changeset-XML parser (etl/changeset) and takes the first changeset.
func DecodeMeta(r io.Reader, name string) (Meta, error) {
	list, err := changeset.Decode(r)
	if err != nil {
		ie := &InputError{File: name, Err: err}
		var se *changeset.SyntaxError
		if errors.As(err, &se) {
			ie.Line, ie.Err = se.Line, se.Err
		}
		return Meta{}, ie
	}
	if len(list) == 0 {
		return Meta{}, &InputError{File: name, Err: errors.New("no <changeset> element")}
	}
	return MetaOf(list[0]), nil
}

// MetaOf is the analysis' view of a changeset's metadata (absent counts are 0).
func MetaOf(c changeset.Meta) Meta {
	m := Meta{ID: c.ID, User: c.User, CreatedAt: c.CreatedAt, ClosedAt: c.ClosedAt, Open: c.Open, Tags: c.Tags}
	if c.UID != nil {
		m.UID = *c.UID
	}
	if c.CommentsCount != nil {
		m.CommentsCount = *c.CommentsCount
	}
	if c.ChangesCount != nil {
		m.ChangesCount = *c.ChangesCount
	}
	if m.Tags == nil {
		m.Tags = map[string]string{}
	}
	if b := c.Bound; b != nil {
		m.BBox = &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}
	}
	return m
}

// ReadElements reads an osmChange file (a changeset download: the versions get the action of
// their block) or an OSM XML file (history: no action).
func ReadElements(path string) ([]elements.Element, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{File: path, Err: err}
	}
	defer f.Close()
	return DecodeElements(f, path)
}

// DecodeElements is ReadElements on a reader; name is used in errors.
func DecodeElements(r io.Reader, name string) ([]elements.Element, error) {
	dec := xml.NewDecoder(r)
	var out []elements.Element
	action := ""
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &InputError{File: name, Line: lineOf(dec, err), Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = t.Name.Local
				if root != "osmChange" && root != "osm" {
					return nil, &InputError{File: name, Line: lineOf(dec, nil), Err: fmt.Errorf("root element <%s>: want <osmChange> or <osm>", root)}
				}
				continue
			}
			var obj osm.Object
			switch t.Name.Local {
			case "create", "modify", "delete":
				action = t.Name.Local
				continue
			case "node":
				obj = &osm.Node{}
			case "way":
				obj = &osm.Way{}
			case "relation":
				obj = &osm.Relation{}
			default:
				if err := dec.Skip(); err != nil {
					return nil, &InputError{File: name, Line: lineOf(dec, err), Err: err}
				}
				continue
			}
			line, _ := dec.InputPos()
			if err := dec.DecodeElement(obj, &t); err != nil {
				return nil, &InputError{File: name, Line: lineOf(dec, err), Err: err}
			}
			act, _ := elements.ParseAction(action)
			e, _ := elements.FromObject(obj, act)
			if !hasAttr(t, "visible") {
				// Replication diffs and some tools omit visible: present unless deleted.
				e.Visible = true
				if n, ok := obj.(*osm.Node); ok {
					e.Lat, e.Lon = n.Lat, n.Lon
				}
				e.HasCoords = e.Type == 'n' && !(e.Lat == 0 && e.Lon == 0)
			}
			if e.ID == 0 || e.Version < 1 {
				return nil, &InputError{File: name, Line: line, Err: fmt.Errorf("<%s> without id or version", t.Name.Local)}
			}
			if action == "delete" {
				e.Visible = false
				e.HasCoords = false
			}
			if e.Type == 'n' && e.Visible && (e.Lat < -90 || e.Lat > 90 || e.Lon < -180 || e.Lon > 180) {
				return nil, &InputError{File: name, Line: line, Err: fmt.Errorf("node %d: lat/lon out of range", e.ID)}
			}
			out = append(out, e)
		case xml.EndElement:
			switch t.Name.Local {
			case "create", "modify", "delete":
				action = ""
			}
		}
	}
	if root == "" {
		return nil, &InputError{File: name, Err: errors.New("empty file: no XML element")}
	}
	if root == "osmChange" {
		for i := range out {
			if out[i].Action == 0 {
				return nil, &InputError{File: name, Err: fmt.Errorf("%s %d outside create/modify/delete", TypeName(out[i].Type), out[i].ID)}
			}
		}
	}
	elements.Sort(out)
	return out, nil
}

func hasAttr(se xml.StartElement, name string) bool {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return true
		}
	}
	return false
}
