package changeset

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/paulmach/orb"
)

// SyntaxError is changeset XML that cannot be read: the line (0 when unknown) and what went
// wrong.
type SyntaxError struct {
	Line int
	Err  error
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return e.Err.Error()
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// xmlChangeset is the one decoding of a <changeset> element, as the changeset replication
// feed (num_changes) and the API (changes_count, a <discussion> child) write it.
type xmlChangeset struct {
	ID            int64      `xml:"id,attr"`
	User          string     `xml:"user,attr"`
	UID           *int64     `xml:"uid,attr"`
	CreatedAt     *time.Time `xml:"created_at,attr"`
	ClosedAt      *time.Time `xml:"closed_at,attr"`
	Open          bool       `xml:"open,attr"`
	CommentsCount *int       `xml:"comments_count,attr"`
	ChangesCount  *int       `xml:"changes_count,attr"`
	NumChanges    *int       `xml:"num_changes,attr"`
	MinLat        *float64   `xml:"min_lat,attr"`
	MinLon        *float64   `xml:"min_lon,attr"`
	MaxLat        *float64   `xml:"max_lat,attr"`
	MaxLon        *float64   `xml:"max_lon,attr"`
	Tags          []struct {
		K string `xml:"k,attr"`
		V string `xml:"v,attr"`
	} `xml:"tag"`
}

// Decode reads changeset XML: a changeset replication file or the API's changeset metadata
// (an <osm> whose children are <changeset> elements), or a bare <changeset>. Every changeset
// has a positive id and, when it has a bbox, a valid one; anything else in <osm> is an error.
// Errors are *SyntaxError naming the line. The caller bounds the input's size (fetch:
// osm.max_uncompressed_bytes).
func Decode(r io.Reader) ([]Meta, error) { return decode(r, true) }

// DecodeFeed is Decode for a changeset replication file: the root must be <osm>.
func DecodeFeed(r io.Reader) ([]Meta, error) { return decode(r, false) }

func decode(r io.Reader, bare bool) ([]Meta, error) {
	d := xml.NewDecoder(r)
	var out []Meta
	depth := 0
	sawRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if !sawRoot {
				return nil, &SyntaxError{Err: errors.New("no <osm> element")}
			}
			return out, nil
		}
		if err != nil {
			return nil, &SyntaxError{Line: lineOf(d, err), Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			line, _ := d.InputPos()
			if depth == 0 {
				if sawRoot || t.Name.Local != "osm" && !(bare && t.Name.Local == "changeset") {
					return nil, &SyntaxError{Line: line, Err: fmt.Errorf("root element is <%s>, not <osm>", t.Name.Local)}
				}
				sawRoot = true
				if t.Name.Local == "osm" {
					depth = 1
					continue
				}
			} else if t.Name.Local != "changeset" {
				return nil, &SyntaxError{Line: line, Err: fmt.Errorf("unknown element <%s> in <osm>", t.Name.Local)}
			}
			var x xmlChangeset
			if err := d.DecodeElement(&x, &t); err != nil {
				return nil, &SyntaxError{Line: line, Err: err}
			}
			m, err := x.meta()
			if err != nil {
				return nil, &SyntaxError{Line: line, Err: err}
			}
			m.Line = line
			out = append(out, m)
		case xml.EndElement:
			depth--
		}
	}
}

func lineOf(d *xml.Decoder, err error) int {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return se.Line
	}
	l, _ := d.InputPos()
	return l
}

func (x *xmlChangeset) meta() (Meta, error) {
	if x.ID <= 0 {
		return Meta{}, errors.New("changeset without a positive id")
	}
	m := Meta{ID: x.ID, Known: true, User: x.User, UID: x.UID, CreatedAt: utc(x.CreatedAt), ClosedAt: utc(x.ClosedAt),
		Open: x.Open, CommentsCount: x.CommentsCount, ChangesCount: x.ChangesCount, Tags: make(map[string]string, len(x.Tags))}
	if m.ChangesCount == nil {
		m.ChangesCount = x.NumChanges
	}
	for _, t := range x.Tags {
		if _, dup := m.Tags[t.K]; !dup {
			m.Tags[t.K] = t.V
		}
	}
	if x.MinLat != nil && x.MinLon != nil && x.MaxLat != nil && x.MaxLon != nil {
		b := orb.Bound{Min: orb.Point{*x.MinLon, *x.MinLat}, Max: orb.Point{*x.MaxLon, *x.MaxLat}}
		if b.Min[1] < -90 || b.Max[1] > 90 || b.Min[0] < -180 || b.Max[0] > 180 || b.Min[0] > b.Max[0] || b.Min[1] > b.Max[1] {
			return Meta{}, fmt.Errorf("changeset %d has an invalid bbox", x.ID)
		}
		m.Bound = &b
	}
	return m, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
