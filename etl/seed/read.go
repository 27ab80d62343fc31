package seed

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmpbf"
	"github.com/paulmach/osm/osmxml"
)

// Format is the encoding of an extract, known from its name.
type Format int

const (
	PBF    Format = iota + 1 // .osm.pbf
	XML                      // .osm
	XMLGz                    // .osm.gz
	XMLBz2                   // .osm.bz2
)

func (f Format) String() string {
	switch f {
	case PBF:
		return "osm.pbf"
	case XML:
		return "osm"
	case XMLGz:
		return "osm.gz"
	case XMLBz2:
		return "osm.bz2"
	}
	return "unknown"
}

// FormatOf tells the format from a file name or URL path (a query string is ignored).
func FormatOf(name string) (Format, error) {
	n := strings.ToLower(name)
	if i := strings.IndexAny(n, "?#"); i >= 0 && strings.Contains(n, "://") {
		n = n[:i]
	}
	switch {
	case strings.HasSuffix(n, ".pbf"):
		return PBF, nil
	case strings.HasSuffix(n, ".osm"):
		return XML, nil
	case strings.HasSuffix(n, ".osm.gz"):
		return XMLGz, nil
	case strings.HasSuffix(n, ".osm.bz2"):
		return XMLBz2, nil
	}
	return 0, fmt.Errorf("%s: unknown extract format (want .osm.pbf, .osm, .osm.gz or .osm.bz2)", name)
}

// countingReader counts the bytes read from the file (compressed bytes for .gz and .bz2).
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// filter decides, while decoding, which elements reach the consumer. A nil function keeps all.
// They may run concurrently (PBF blocks are decoded on several goroutines).
type filter struct {
	node     func(*osm.Node) bool
	way      func(*osm.Way) bool
	relation func(*osm.Relation) bool
	skipWays bool // pass 2: ways are not needed
}

// scanner reads the elements of one extract, in file order.
type scanner struct {
	name    string
	format  Format
	cr      *countingReader
	pbf     *osmpbf.Scanner
	xml     *osmxml.Scanner
	gz      *gzip.Reader
	header  time.Time // osmosis_replication_timestamp (zero: none)
	obj     osm.Object
	last    string // the last element read, for errors ("way 123")
	err     error
	skipped atomic.Int64 // elements dropped by the filter (counted as read)
	f       filter
}

// newScanner starts reading r (a whole extract of format fm) and reads its header.
func newScanner(ctx context.Context, name string, fm Format, r io.Reader, f filter) (*scanner, error) {
	s := &scanner{name: name, format: fm, cr: &countingReader{r: r}, f: f}
	switch fm {
	case PBF:
		s.pbf = osmpbf.New(ctx, s.cr, max(1, runtime.GOMAXPROCS(0)))
		s.pbf.SkipWays = f.skipWays
		if f.node != nil {
			s.pbf.FilterNode = func(n *osm.Node) bool {
				if f.node(n) {
					return true
				}
				s.skipped.Add(1)
				return false
			}
		}
		if f.way != nil {
			s.pbf.FilterWay = func(w *osm.Way) bool {
				if f.way(w) {
					return true
				}
				s.skipped.Add(1)
				return false
			}
		}
		if f.relation != nil {
			s.pbf.FilterRelation = func(r *osm.Relation) bool {
				if f.relation(r) {
					return true
				}
				s.skipped.Add(1)
				return false
			}
		}
		h, err := s.pbf.Header()
		if err != nil {
			return nil, s.wrap(fmt.Errorf("header: %w", err))
		}
		if h != nil {
			s.header = h.ReplicationTimestamp
		}
	default:
		var in io.Reader = s.cr
		switch fm {
		case XMLGz:
			gz, err := gzip.NewReader(bufio.NewReaderSize(s.cr, 64<<10))
			if err != nil {
				return nil, s.wrap(fmt.Errorf("gunzip: %w", err))
			}
			s.gz = gz
			in = gz
		case XMLBz2:
			in = bzip2.NewReader(bufio.NewReaderSize(s.cr, 64<<10))
		}
		br := bufio.NewReaderSize(in, 256<<10)
		ts, err := xmlHeaderTimestamp(br)
		if err != nil {
			return nil, s.wrap(err)
		}
		s.header = ts
		s.xml = osmxml.New(ctx, br)
	}
	return s, nil
}

// xmlHeaderTimestamp reads the replication timestamp from the <osm> start tag without consuming
// it: osmium writes it as timestamp="…", osmosis as osmosis_replication_timestamp="…".
func xmlHeaderTimestamp(br *bufio.Reader) (time.Time, error) {
	head, err := br.Peek(8 << 10)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return time.Time{}, fmt.Errorf("header: %w", err)
	}
	i := bytes.Index(head, []byte("<osm"))
	if i < 0 {
		return time.Time{}, fmt.Errorf("header: no <osm> element in the first %d bytes (not an OSM XML file?)", len(head))
	}
	j := bytes.IndexByte(head[i:], '>')
	if j < 0 {
		return time.Time{}, errors.New("header: the <osm> start tag does not end in the first 8 KiB")
	}
	tag := bytes.TrimSuffix(head[i:i+j+1], []byte("/>"))
	if !bytes.HasSuffix(tag, []byte(">")) {
		tag = append(append([]byte(nil), tag...), '>')
	}
	d := xml.NewDecoder(bytes.NewReader(tag))
	tok, err := d.Token()
	if err != nil {
		return time.Time{}, fmt.Errorf("header: <osm> start tag: %w", err)
	}
	se, ok := tok.(xml.StartElement)
	if !ok || se.Name.Local != "osm" {
		return time.Time{}, errors.New("header: the root element is not <osm>")
	}
	var v string
	for _, a := range se.Attr {
		if a.Name.Local == "osmosis_replication_timestamp" || (a.Name.Local == "timestamp" && v == "") {
			v = a.Value
		}
	}
	if v == "" {
		return time.Time{}, nil
	}
	ts, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("header: replication timestamp %q: %w", v, err)
	}
	return ts.UTC(), nil
}

// Scan advances to the next node, way or relation the filter keeps.
func (s *scanner) Scan() bool {
	if s.err != nil {
		return false
	}
	if s.pbf != nil {
		if !s.pbf.Scan() {
			if err := s.pbf.Err(); err != nil {
				s.err = s.wrap(err)
			}
			return false
		}
		s.obj = s.pbf.Object()
		return true
	}
	for s.xml.Scan() {
		o := s.xml.Object()
		keep := true
		switch o := o.(type) {
		case *osm.Node:
			s.last = "node " + fmt.Sprint(o.ID)
			keep = s.f.node == nil || s.f.node(o)
		case *osm.Way:
			s.last = "way " + fmt.Sprint(o.ID)
			keep = !s.f.skipWays && (s.f.way == nil || s.f.way(o))
		case *osm.Relation:
			s.last = "relation " + fmt.Sprint(o.ID)
			keep = s.f.relation == nil || s.f.relation(o)
		default:
			continue
		}
		if !keep {
			s.skipped.Add(1)
			continue
		}
		s.obj = o
		return true
	}
	if err := s.xml.Err(); err != nil {
		s.err = s.wrap(err)
	} else if s.gz != nil {
		// The XML ended: the gzip stream must end cleanly too (its checksum is checked at EOF).
		if _, err := io.Copy(io.Discard, s.gz); err != nil {
			s.err = s.wrap(fmt.Errorf("gunzip: %w", err))
		}
	}
	return false
}

// Object is the element Scan stopped at.
func (s *scanner) Object() osm.Object { return s.obj }

// Err is the first error, naming the file, the byte offset reached and the last element read.
func (s *scanner) Err() error { return s.err }

// Bytes is how many bytes of the file have been read.
func (s *scanner) Bytes() int64 { return s.cr.n.Load() }

// Close stops the decoders (it does not close the file).
func (s *scanner) Close() {
	if s.pbf != nil {
		s.pbf.Close()
	}
	if s.xml != nil {
		s.xml.Close()
	}
}

// setLast records the element the consumer is at (PBF: the scanner does not know it).
func (s *scanner) setLast(o osm.Object) {
	if s.pbf == nil {
		return
	}
	switch o := o.(type) {
	case *osm.Node:
		s.last = "node " + fmt.Sprint(o.ID)
	case *osm.Way:
		s.last = "way " + fmt.Sprint(o.ID)
	case *osm.Relation:
		s.last = "relation " + fmt.Sprint(o.ID)
	}
}

// CorruptError is a truncated or corrupt extract: where it broke and why.
type CorruptError struct {
	File   string
	Offset int64  // bytes of the file read when the error was found
	After  string // the last element read before it ("way 123"), empty at the start
	Err    error
}

func (e *CorruptError) Error() string {
	s := fmt.Sprintf("seed %s: at byte %d", e.File, e.Offset)
	if e.After != "" {
		s += " (after " + e.After + ")"
	}
	return s + ": " + e.Err.Error()
}

func (e *CorruptError) Unwrap() error { return e.Err }

func (s *scanner) wrap(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	off := s.cr.n.Load()
	if s.pbf != nil && s.pbf.FullyScannedBytes() > 0 {
		// PBF blocks are decoded ahead: the end of the last block fully read is where it broke.
		off = s.pbf.FullyScannedBytes()
	}
	return &CorruptError{File: s.name, Offset: off, After: s.last, Err: err}
}
