package osmchange

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// DecodeFast decodes the subset of XML that real diffs use. Anything else returns a
// *FallbackError: the caller then uses DecodeReference, which is authoritative.
func DecodeFast(data []byte) (c *Change, err error) { return decodeFast(data, Limits{}) }

func decodeFast(data []byte, lim Limits) (c *Change, err error) {
	s := &scanner{b: data, lim: lim, intern: make(map[string]string, 1024)}
	defer func() {
		if r := recover(); r != nil {
			switch e := r.(type) {
			case *FallbackError:
				c, err = nil, e
			case *LimitError:
				c, err = nil, e
			default:
				panic(r)
			}
		}
	}()
	return s.document(), nil
}

type scanner struct {
	b      []byte
	i      int
	lim    Limits
	intern map[string]string
	lastTS []byte
	lastT  time.Time
	tags   []Tag
	nodes  []int64
	membs  []Member
	val    []byte // scratch for values with entities
}

func (s *scanner) fail(reason string) {
	panic(&FallbackError{Offset: s.i, Reason: reason})
}

// limitErr stops the decoding at a limit (callers test over() first: no closure, no
// allocation on the hot path).
func (s *scanner) limitErr(what string, limit int) {
	panic(&LimitError{What: what, Limit: limit})
}

func isSpace(b byte) bool { return b == ' ' || b == '\n' || b == '\t' || b == '\r' }

func (s *scanner) skipSpace() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

func (s *scanner) peek(p string) bool {
	return len(s.b)-s.i >= len(p) && string(s.b[s.i:s.i+len(p)]) == p
}

// name reads an element or attribute name of ASCII letters, digits and _ (no namespaces).
func (s *scanner) name() []byte {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || (s.i > start && ('0' <= c && c <= '9' || c == '-' || c == '.')) {
			s.i++
			continue
		}
		break
	}
	if s.i == start {
		s.fail("expected a name")
	}
	if s.i < len(s.b) && !isSpace(s.b[s.i]) && s.b[s.i] != '=' && s.b[s.i] != '/' && s.b[s.i] != '>' {
		s.fail("unusual character in name")
	}
	return s.b[start:s.i]
}

// attr reads ` name="value"`; ok is false at the end of the start tag (after '>' or "/>"),
// with selfClosing set accordingly.
func (s *scanner) attr() (name, value []byte, ok, selfClosing bool) {
	hadSpace := s.i < len(s.b) && isSpace(s.b[s.i])
	s.skipSpace()
	if s.i >= len(s.b) {
		s.fail("unexpected end in start tag")
	}
	switch s.b[s.i] {
	case '>':
		s.i++
		return nil, nil, false, false
	case '/':
		if s.peek("/>") {
			s.i += 2
			return nil, nil, false, true
		}
		s.fail("unexpected / in start tag")
	}
	if !hadSpace {
		s.fail("no space before attribute")
	}
	name = s.name()
	if s.i >= len(s.b) || s.b[s.i] != '=' {
		s.fail("expected = after attribute name")
	}
	s.i++
	if s.i >= len(s.b) || (s.b[s.i] != '"' && s.b[s.i] != '\'') {
		s.fail("unquoted attribute value")
	}
	q := s.b[s.i]
	s.i++
	start := s.i
	plain := true
	for s.i < len(s.b) && s.b[s.i] != q {
		c := s.b[s.i]
		if c < 0x20 || c >= 0x80 || c == '&' || c == '<' {
			plain = false
		}
		s.i++
	}
	if s.i >= len(s.b) {
		s.fail("unterminated attribute value")
	}
	value = s.b[start:s.i]
	s.i++
	if !plain {
		value = s.unescape(value)
	}
	return name, value, true, false
}

// unescape resolves the five standard entities and numeric character references and checks
// characters as encoding/xml does; anything else falls back.
func (s *scanner) unescape(v []byte) []byte {
	out := s.val[:0]
	for j := 0; j < len(v); {
		c := v[j]
		switch {
		case c == '<':
			s.fail("< in attribute value")
		case c < 0x20:
			s.fail("control character in attribute value")
		case c >= 0x80:
			r, size := utf8.DecodeRune(v[j:])
			if r == utf8.RuneError && size == 1 || !inCharRange(r) {
				s.fail("invalid character in attribute value")
			}
			out = append(out, v[j:j+size]...)
			j += size
			continue
		case c == '&':
			end := -1
			for k := j + 1; k < len(v) && k < j+12; k++ {
				if v[k] == ';' {
					end = k
					break
				}
			}
			if end < 0 {
				s.fail("unterminated entity")
			}
			ent := v[j+1 : end]
			switch string(ent) {
			case "lt":
				out = append(out, '<')
			case "gt":
				out = append(out, '>')
			case "amp":
				out = append(out, '&')
			case "quot":
				out = append(out, '"')
			case "apos":
				out = append(out, '\'')
			default:
				if len(ent) < 2 || ent[0] != '#' {
					s.fail("unknown entity")
				}
				base, digits := 10, ent[1:]
				if digits[0] == 'x' {
					base, digits = 16, digits[1:]
				}
				if len(digits) == 0 {
					s.fail("bad character reference")
				}
				for _, d := range digits {
					if !('0' <= d && d <= '9' || base == 16 && ('a' <= d && d <= 'f' || 'A' <= d && d <= 'F')) {
						s.fail("bad character reference")
					}
				}
				n, err := strconv.ParseUint(string(digits), base, 32)
				if err != nil || !inCharRange(rune(n)) || (n >= 0xD800 && n <= 0xDFFF) {
					s.fail("character reference out of range")
				}
				out = utf8.AppendRune(out, rune(n))
			}
			j = end + 1
			continue
		default:
			out = append(out, c)
		}
		j++
	}
	s.val = out
	return out
}

// inCharRange is the XML Char production, as encoding/xml checks it.
func inCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func (s *scanner) str(b []byte) string {
	if v, ok := s.intern[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(s.intern) < 100000 {
		s.intern[v] = v
	}
	return v
}

func (s *scanner) int64(b []byte) int64 {
	if len(b) == 0 || len(b) > 18 {
		s.fail("unusual integer")
	}
	neg := false
	j := 0
	if b[0] == '-' {
		neg, j = true, 1
		if len(b) == 1 {
			s.fail("unusual integer")
		}
	}
	var n int64
	for ; j < len(b); j++ {
		d := b[j] - '0'
		if d > 9 {
			s.fail("unusual integer")
		}
		n = n*10 + int64(d)
	}
	if neg {
		n = -n
	}
	return n
}

func (s *scanner) float(b []byte) float64 {
	if len(b) == 0 {
		s.fail("empty number")
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+') {
			s.fail("unusual number")
		}
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil {
		s.fail("unusual number")
	}
	return f
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// timestamp parses exactly YYYY-MM-DDTHH:MM:SSZ.
func (s *scanner) timestamp(b []byte) time.Time {
	if string(b) == string(s.lastTS) && s.lastTS != nil {
		return s.lastT
	}
	if len(b) != 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != 'Z' {
		s.fail("unusual timestamp")
	}
	y, ok1 := digits(b[0:4])
	mo, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	h, ok4 := digits(b[11:13])
	mi, ok5 := digits(b[14:16])
	se, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59 {
		s.fail("unusual timestamp")
	}
	t := time.Date(y, time.Month(mo), d, h, mi, se, 0, time.UTC)
	if t.Day() != d {
		s.fail("day out of range")
	}
	s.lastTS = append(s.lastTS[:0], b...)
	s.lastT = t
	return t
}

func (s *scanner) bool(b []byte) bool {
	switch string(b) {
	case "true":
		return true
	case "false":
		return false
	}
	s.fail("unusual boolean")
	return false
}

func (s *scanner) document() *Change {
	if s.peek("\xEF\xBB\xBF") {
		s.fail("byte order mark")
	}
	s.skipSpace()
	if s.peek("<?xml") {
		s.i += len("<?xml")
		s.decl()
	}
	s.skipSpace()
	if !s.peek("<osmChange") {
		s.fail("no <osmChange> at the start")
	}
	s.i += len("<osmChange")
	// Room for the elements the document really opens (counted, at most the limit), not a
	// guess from its length: no growth copies for a big diff, nothing for a white-space bomb.
	c := &Change{Elements: make([]Element, 0, s.elementCount())}
	selfClosing := false
	for {
		name, _, ok, sc := s.attr()
		if !ok {
			selfClosing = sc
			break
		}
		if len(name) >= 5 && string(name[:5]) == "xmlns" {
			s.fail("namespace declaration")
		}
	}
	if !selfClosing {
		for {
			s.skipSpace()
			if s.peek("</osmChange>") {
				s.i += len("</osmChange>")
				break
			}
			var a Action
			switch {
			case s.peek("<create"):
				a, s.i = Create, s.i+len("<create")
			case s.peek("<modify"):
				a, s.i = Modify, s.i+len("<modify")
			case s.peek("<delete"):
				a, s.i = Delete, s.i+len("<delete")
			default:
				s.fail("unexpected content in <osmChange>")
			}
			s.action(c, a)
		}
	}
	s.skipSpace()
	if s.i != len(s.b) {
		s.fail("content after </osmChange>")
	}
	return c
}

// elementCount is how many <node, <way and <relation the document holds (an upper bound of its
// elements), at most the element limit.
func (s *scanner) elementCount() int {
	n := 0
	rest := s.b[s.i:]
	for {
		j := bytes.IndexByte(rest, '<')
		if j < 0 || over(n, s.lim.MaxElements) {
			break
		}
		rest = rest[j+1:]
		if bytes.HasPrefix(rest, []byte("node")) || bytes.HasPrefix(rest, []byte("way")) || bytes.HasPrefix(rest, []byte("relation")) {
			n++
		}
	}
	if s.lim.MaxElements > 0 {
		n = min(n, s.lim.MaxElements+1)
	}
	return n
}

func (s *scanner) decl() {
	if s.i >= len(s.b) || !isSpace(s.b[s.i]) {
		s.fail("unusual declaration")
	}
	for j := s.i; j < len(s.b) && !(s.b[j] == '?' && j+1 < len(s.b) && s.b[j+1] == '>'); j++ {
		if s.b[j] == '&' || s.b[j] == '<' || s.b[j] >= 0x80 {
			s.fail("unusual declaration")
		}
	}
	for {
		s.skipSpace()
		if s.peek("?>") {
			s.i += 2
			return
		}
		// attr() expects a leading space; it has been skipped, so step back one.
		s.i--
		name, value, ok, _ := s.attr()
		if !ok {
			s.fail("unusual declaration")
		}
		switch string(name) {
		case "version":
			if string(value) != "1.0" {
				s.fail("unusual XML version")
			}
		case "encoding":
			if string(value) != "UTF-8" && string(value) != "utf-8" {
				s.fail("unusual encoding")
			}
		default:
			s.fail("unusual declaration")
		}
	}
}

func (s *scanner) endTag(tag string) {
	if !s.peek(tag) {
		s.fail("unexpected content")
	}
	s.i += len(tag)
}

func (s *scanner) action(c *Change, a Action) {
	if s.i >= len(s.b) {
		s.fail("unexpected end")
	}
	if s.peek("/>") {
		s.i += 2
		return
	}
	if s.b[s.i] != '>' {
		s.fail("attributes on an action element")
	}
	s.i++
	end := "</" + a.String() + ">"
	for {
		s.skipSpace()
		switch {
		case s.peek("<node"):
			s.i += len("<node")
			s.element(c, a, Node)
		case s.peek("<way"):
			s.i += len("<way")
			s.element(c, a, Way)
		case s.peek("<relation"):
			s.i += len("<relation")
			s.element(c, a, Relation)
		default:
			s.endTag(end)
			return
		}
	}
}

const (
	seenID = 1 << iota
	seenLat
	seenLon
	seenUser
	seenUID
	seenVisible
	seenVersion
	seenChangeset
	seenTimestamp
)

func (s *scanner) element(c *Change, a Action, typ byte) {
	e := Element{Action: a, Type: typ, Visible: a != Delete}
	seen := 0
	once := func(bit int) {
		if seen&bit != 0 {
			s.fail("duplicate attribute")
		}
		seen |= bit
	}
	var selfClosing bool
	for {
		name, v, ok, sc := s.attr()
		if !ok {
			selfClosing = sc
			break
		}
		switch string(name) {
		case "id":
			once(seenID)
			e.ID = s.int64(v)
		case "version":
			once(seenVersion)
			e.Version = int(s.int64(v))
		case "changeset":
			once(seenChangeset)
			e.Changeset = s.int64(v)
		case "timestamp":
			once(seenTimestamp)
			e.Timestamp = s.timestamp(v)
		case "uid":
			once(seenUID)
			e.UID = s.int64(v)
		case "user":
			once(seenUser)
			e.User = s.str(v)
		case "visible":
			once(seenVisible)
			e.Visible = s.bool(v)
		case "lat":
			if typ != Node {
				s.fail("lat on a non-node")
			}
			once(seenLat)
			e.Lat = s.float(v)
		case "lon":
			if typ != Node {
				s.fail("lon on a non-node")
			}
			once(seenLon)
			e.Lon = s.float(v)
		default:
			s.fail("unknown attribute")
		}
	}
	e.HasCoords = seen&(seenLat|seenLon) == seenLat|seenLon
	if !e.HasCoords {
		e.Lat, e.Lon = 0, 0
	}
	if over(len(e.User), s.lim.MaxValueBytes) {
		s.limitErr("bytes in the user name of "+refOf(&e), s.lim.MaxValueBytes)
	}
	if !selfClosing {
		s.children(&e)
	}
	c.Elements = append(c.Elements, e)
	if over(len(c.Elements), s.lim.MaxElements) {
		s.limitErr("elements in the document", s.lim.MaxElements)
	}
}

func (s *scanner) children(e *Element) {
	tags, nodes, membs := s.tags[:0], s.nodes[:0], s.membs[:0]
	var end string
	switch e.Type {
	case Node:
		end = "</node>"
	case Way:
		end = "</way>"
	default:
		end = "</relation>"
	}
	for {
		s.skipSpace()
		switch {
		case s.peek("<tag "):
			s.i += len("<tag")
			var t Tag
			var sk, sv bool
			for {
				name, v, ok, sc := s.attr()
				if !ok {
					if !sc {
						s.fail("tag element with content")
					}
					break
				}
				switch string(name) {
				case "k":
					if sk {
						s.fail("duplicate attribute")
					}
					sk, t.Key = true, s.str(v)
				case "v":
					if sv {
						s.fail("duplicate attribute")
					}
					sv, t.Value = true, s.str(v)
				default:
					s.fail("unknown attribute")
				}
			}
			if over(len(t.Key), s.lim.MaxValueBytes) {
				s.limitErr("bytes in a tag key of "+refOf(e), s.lim.MaxValueBytes)
			}
			if over(len(t.Value), s.lim.MaxValueBytes) {
				s.limitErr("bytes in the value of tag "+t.Key+" of "+refOf(e), s.lim.MaxValueBytes)
			}
			tags = append(tags, t)
			if over(len(tags), s.lim.MaxTags) {
				s.limitErr("tags in "+refOf(e), s.lim.MaxTags)
			}
		case e.Type == Way && s.peek("<nd "):
			s.i += len("<nd")
			var ref int64
			var sr bool
			for {
				name, v, ok, sc := s.attr()
				if !ok {
					if !sc {
						s.fail("nd element with content")
					}
					break
				}
				if string(name) != "ref" || sr {
					s.fail("unusual nd attribute")
				}
				sr, ref = true, s.int64(v)
			}
			nodes = append(nodes, ref)
			if over(len(nodes), s.lim.MaxWayNodes) {
				s.limitErr("nodes in "+refOf(e), s.lim.MaxWayNodes)
			}
		case e.Type == Relation && s.peek("<member "):
			s.i += len("<member")
			var m Member
			var st, sr, sro bool
			for {
				name, v, ok, sc := s.attr()
				if !ok {
					if !sc {
						s.fail("member element with content")
					}
					break
				}
				switch string(name) {
				case "type":
					if st {
						s.fail("duplicate attribute")
					}
					st = true
					switch string(v) {
					case "node":
						m.Type = Node
					case "way":
						m.Type = Way
					case "relation":
						m.Type = Relation
					default:
						s.fail("unusual member type")
					}
				case "ref":
					if sr {
						s.fail("duplicate attribute")
					}
					sr, m.Ref = true, s.int64(v)
				case "role":
					if sro {
						s.fail("duplicate attribute")
					}
					sro, m.Role = true, s.str(v)
				default:
					s.fail("unknown attribute")
				}
			}
			if !st {
				s.fail("member without type")
			}
			if over(len(m.Role), s.lim.MaxValueBytes) {
				s.limitErr("bytes in a member role of "+refOf(e), s.lim.MaxValueBytes)
			}
			membs = append(membs, m)
			if over(len(membs), s.lim.MaxMembers) {
				s.limitErr("members in "+refOf(e), s.lim.MaxMembers)
			}
		default:
			s.endTag(end)
			if len(tags) > 0 {
				e.Tags = append([]Tag(nil), tags...)
			}
			if len(nodes) > 0 {
				e.Nodes = append([]int64(nil), nodes...)
			}
			if len(membs) > 0 {
				e.Members = append([]Member(nil), membs...)
			}
			s.tags, s.nodes, s.membs = tags, nodes, membs
			return
		}
	}
}
