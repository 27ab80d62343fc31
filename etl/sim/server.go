package sim

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paulmach/osm"
)

// ServeOptions configures a Server beyond its faults.
type ServeOptions struct {
	Faults Faults
	// Live releases one minute per Tick (Run does the ticking); the feed starts with From as its head
	// (default: the first generated sequence). Diffs beyond the head answer 404 like the real server,
	// and the API does not know what happens after the head.
	Live bool
	Tick time.Duration
	From uint64
}

// Server serves a generated directory: replication/ and api/0.6/ from one handler.
type Server struct {
	dir     string
	meta    apiMeta
	opts    ServeOptions
	head    atomic.Uint64
	handler http.Handler

	baseOnce sync.Once
	base     map[uint64]ev // the world before the first minute (loaded on first use)
	baseErr  error
	users    map[int64]apiUser
	idx      []*os.File
	idxN     []int64
	miss     map[uint64]bool

	mu      sync.Mutex
	diffs   map[int]*parsedDiff // small cache of parsed minutes
	order   []int
	cached  int // element versions in the cached diffs
	csFiles map[int]map[int64]*changeset
	csOrder []int

	requests requestCounters
}

const maxCachedVersions = 150_000

type parsedDiff struct {
	byKey map[uint64][]ev
	byCS  map[int64][]ev
}

// NewServer serves dir (the output of Generate) with faults f. The handler is a *Server.
func NewServer(dir string, f Faults) (http.Handler, error) {
	return Open(dir, ServeOptions{Faults: f})
}

// Open is NewServer with live mode.
func Open(dir string, o ServeOptions) (*Server, error) {
	s := &Server{dir: dir, opts: o, diffs: map[int]*parsedDiff{}, csFiles: map[int]map[int64]*changeset{}, miss: map[uint64]bool{}}
	b, err := os.ReadFile(filepath.Join(dir, "api/meta.json"))
	if err != nil {
		return nil, fmt.Errorf("sim: serve %s: not a generated directory: %w", dir, err)
	}
	if err := json.Unmarshal(b, &s.meta); err != nil {
		return nil, fmt.Errorf("sim: serve %s: api/meta.json: %w", dir, err)
	}
	if b, err = os.ReadFile(filepath.Join(dir, "api/users.json")); err != nil {
		return nil, fmt.Errorf("sim: serve: %w", err)
	}
	var us []apiUser
	if err := json.Unmarshal(b, &us); err != nil {
		return nil, fmt.Errorf("sim: serve: api/users.json: %w", err)
	}
	s.users = map[int64]apiUser{}
	for _, u := range us {
		s.users[u.UID] = u
	}
	if _, err := os.Stat(filepath.Join(dir, "api/base.osm.gz")); err != nil {
		return nil, fmt.Errorf("sim: serve: %w", err)
	}
	for c := 0; c*minutesPerIndexChunk < s.meta.Minutes; c++ {
		f, err := os.Open(filepath.Join(dir, "api/index", fmt.Sprintf("%04d.idx", c)))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("sim: serve: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("sim: serve: %w", err)
		}
		s.idx = append(s.idx, f)
		s.idxN = append(s.idxN, fi.Size()/idxRecord)
	}
	for _, m := range o.Faults.MissingSeqs {
		s.miss[m] = true
	}
	head := s.meta.EndSeq
	if o.Live {
		head = s.meta.StartSeq
		if o.From != 0 {
			head = min(max(o.From, s.meta.StartSeq-1), s.meta.EndSeq)
		}
	}
	s.head.Store(head)
	s.handler = withFaults(o.Faults, http.HandlerFunc(s.serve))
	return s, nil
}

// Close releases the index files.
func (s *Server) Close() error {
	for _, f := range s.idx {
		f.Close()
	}
	return nil
}

// Head is the newest released sequence.
func (s *Server) Head() uint64 { return s.head.Load() }

// Advance releases the next minute; false when everything is out.
func (s *Server) Advance() bool {
	for {
		h := s.head.Load()
		if h >= s.meta.EndSeq {
			return false
		}
		if s.head.CompareAndSwap(h, h+1) {
			return true
		}
	}
}

// Run advances the head every Tick until everything is released or ctx ends (live mode).
func (s *Server) Run(ctx context.Context) {
	if !s.opts.Live || s.opts.Tick <= 0 {
		return
	}
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !s.Advance() {
				return
			}
		}
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/replication/minute/"):
		s.serveReplication(w, r, strings.TrimPrefix(p, "/replication/minute/"), false)
	case strings.HasPrefix(p, "/replication/changesets/"):
		s.serveReplication(w, r, strings.TrimPrefix(p, "/replication/changesets/"), true)
	case strings.HasPrefix(p, "/api/0.6/"):
		s.serveAPI(w, r, strings.TrimPrefix(p, "/api/0.6/"))
	case p == "/sim/requests":
		s.serveRequests(w)
	case p == "/api/versions":
		writeXML(w, []byte("<osm generator=\""+oscGenerator+"\">\n  <api>\n    <version>0.6</version>\n  </api>\n</osm>\n"))
	default:
		http.NotFound(w, r)
	}
}

// parseSeqPath reads AAA/BBB/CCC.ext.
func parseSeqPath(p string) (uint64, string, bool) {
	dot := strings.IndexByte(p, '.')
	if dot < 0 || dot != 11 || p[3] != '/' || p[7] != '/' {
		return 0, "", false
	}
	digits := p[0:3] + p[4:7] + p[8:11]
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return n, p[dot:], true
}

func (s *Server) serveReplication(w http.ResponseWriter, r *http.Request, rest string, changesets bool) {
	head := s.Head()
	feed := "replication/minute"
	if changesets {
		feed = "replication/changesets"
	}
	if (!changesets && rest == "state.txt") || (changesets && rest == "state.yaml") {
		ts := s.meta.StartTime.Add(time.Duration(head-s.meta.StartSeq+1) * time.Minute)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if changesets {
			w.Write(changesetStateText(head, ts))
		} else {
			w.Write(minuteStateText(head, ts))
		}
		return
	}
	seq, ext, ok := parseSeqPath(rest)
	if !ok || seq > head || seq < s.meta.StartSeq || (!changesets && s.miss[seq]) {
		http.NotFound(w, r)
		return
	}
	switch {
	case ext == ".state.txt":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	case !changesets && ext == ".osc.gz", changesets && ext == ".osm.gz":
		w.Header().Set("Content-Type", "application/x-gzip")
	default:
		http.NotFound(w, r)
		return
	}
	b, err := os.ReadFile(filepath.Join(s.dir, feed, seqPath(seq)+ext))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// Index look-ups.

func (s *Server) minutesOf(key uint64) []int {
	var out []int
	limit := int(s.Head()) - int(s.meta.StartSeq)
	var rec [idxRecord]byte
	for c, f := range s.idx {
		n := s.idxN[c]
		lo := sort.Search(int(n), func(i int) bool {
			if _, err := f.ReadAt(rec[:], int64(i)*idxRecord); err != nil {
				return true
			}
			return binary.BigEndian.Uint64(rec[:8]) >= key
		})
		for i := int64(lo); i < n; i++ {
			if _, err := f.ReadAt(rec[:], i*idxRecord); err != nil || binary.BigEndian.Uint64(rec[:8]) != key {
				break
			}
			if m := int(binary.BigEndian.Uint32(rec[8:])); m <= limit {
				out = append(out, m)
			}
		}
	}
	return out
}

func (s *Server) diff(minute int) (*parsedDiff, error) {
	s.mu.Lock()
	if d := s.diffs[minute]; d != nil {
		s.mu.Unlock()
		return d, nil
	}
	s.mu.Unlock()
	seq := s.meta.StartSeq + uint64(minute)
	path := filepath.Join(s.dir, "replication/minute", seqPath(seq)+".osc.gz")
	evs, err := readOsmChange(path)
	if err != nil {
		return nil, err
	}
	d := &parsedDiff{byKey: map[uint64][]ev{}, byCS: map[int64][]ev{}}
	for _, e := range evs {
		k := mkKey(elemKind(e.typ), e.id)
		d.byKey[k] = append(d.byKey[k], e)
		d.byCS[e.cs] = append(d.byCS[e.cs], e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.diffs[minute] == nil {
		s.diffs[minute] = d
		s.order = append(s.order, minute)
		s.cached += len(evs)
	}
	// Keep a bounded number of parsed element versions (a few planet minutes, many region ones).
	for s.cached > maxCachedVersions && len(s.order) > 1 {
		old := s.diffs[s.order[0]]
		for _, v := range old.byKey {
			s.cached -= len(v)
		}
		delete(s.diffs, s.order[0])
		s.order = s.order[1:]
	}
	return d, nil
}

// decodeGzipXML decodes the gzipped XML file at path into v; errors name the file.
func decodeGzipXML(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: gunzip: %w", path, err)
	}
	if err := xml.NewDecoder(zr).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readOsmChange parses a generated diff with paulmach/osm.
func readOsmChange(path string) ([]ev, error) {
	var c osm.Change
	if err := decodeGzipXML(path, &c); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	var out []ev
	add := func(o *osm.OSM, act byte) {
		if o == nil {
			return
		}
		for _, n := range o.Nodes {
			out = append(out, evFromNode(n, act))
		}
		for _, w := range o.Ways {
			out = append(out, evFromWay(w, act))
		}
		for _, r := range o.Relations {
			out = append(out, evFromRelation(r, act))
		}
	}
	add(c.Create, 'c')
	add(c.Modify, 'm')
	add(c.Delete, 'd')
	slices.SortStableFunc(out, func(a, b ev) int {
		if c := cmp.Compare(typeOrder(a.typ), typeOrder(b.typ)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.id, b.id); c != 0 {
			return c
		}
		return cmp.Compare(a.ver, b.ver)
	})
	return out, nil
}

func convTags(ts osm.Tags) []tag {
	if len(ts) == 0 {
		return nil
	}
	out := make([]tag, len(ts))
	for i, t := range ts {
		out[i] = tag{t.Key, t.Value}
	}
	return out
}

func evFromNode(n *osm.Node, act byte) ev {
	return ev{typ: 'n', act: act, id: int64(n.ID), ver: int32(n.Version), ts: n.Timestamp.Unix(), cs: int64(n.ChangesetID),
		uid: int64(n.UserID), user: n.User, lat: fix(n.Lat), lon: fix(n.Lon), tags: convTags(n.Tags)}
}

func evFromWay(w *osm.Way, act byte) ev {
	e := ev{typ: 'w', act: act, id: int64(w.ID), ver: int32(w.Version), ts: w.Timestamp.Unix(), cs: int64(w.ChangesetID),
		uid: int64(w.UserID), user: w.User, tags: convTags(w.Tags)}
	for _, n := range w.Nodes {
		e.nodes = append(e.nodes, int64(n.ID))
	}
	return e
}

func evFromRelation(r *osm.Relation, act byte) ev {
	e := ev{typ: 'r', act: act, id: int64(r.ID), ver: int32(r.Version), ts: r.Timestamp.Unix(), cs: int64(r.ChangesetID),
		uid: int64(r.UserID), user: r.User, tags: convTags(r.Tags)}
	for _, m := range r.Members {
		t := byte('n')
		switch m.Type {
		case osm.TypeWay:
			t = 'w'
		case osm.TypeRelation:
			t = 'r'
		}
		e.members = append(e.members, member{t, m.Ref, m.Role})
	}
	return e
}

func loadBaseFile(path string) (map[uint64]ev, error) {
	var o osm.OSM
	if err := decodeGzipXML(path, &o); err != nil {
		return nil, fmt.Errorf("sim: serve: %w", err)
	}
	m := make(map[uint64]ev, len(o.Nodes)+len(o.Ways)+len(o.Relations))
	for _, n := range o.Nodes {
		m[mkKey(keyNode, int64(n.ID))] = evFromNode(n, 'm')
	}
	for _, w := range o.Ways {
		m[mkKey(keyWay, int64(w.ID))] = evFromWay(w, 'm')
	}
	for _, r := range o.Relations {
		m[mkKey(keyRelation, int64(r.ID))] = evFromRelation(r, 'm')
	}
	return m, nil
}

// history is every known version of an element up to the head, oldest first.
func (s *Server) history(typ byte, id int64) ([]ev, error) {
	key := mkKey(elemKind(typ), id)
	s.baseOnce.Do(func() { s.base, s.baseErr = loadBaseFile(filepath.Join(s.dir, "api/base.osm.gz")) })
	if s.baseErr != nil {
		return nil, s.baseErr
	}
	var out []ev
	if e, ok := s.base[key]; ok {
		out = append(out, e)
	}
	for _, m := range s.minutesOf(key) {
		d, err := s.diff(m)
		if err != nil {
			return nil, err
		}
		out = append(out, d.byKey[key]...)
	}
	return out, nil
}

// changesetAt reads a changeset's newest metadata up to the head.
func (s *Server) changesetAt(id int64) (*changeset, error) {
	ms := s.minutesOf(mkKey(keyCSMeta, id))
	if len(ms) == 0 {
		return nil, nil
	}
	m := slices.Max(ms)
	s.mu.Lock()
	file := s.csFiles[m]
	s.mu.Unlock()
	if file == nil {
		path := filepath.Join(s.dir, "replication/changesets", seqPath(s.meta.StartSeq+uint64(m))+".osm.gz")
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("sim: %s: gunzip: %w", path, err)
		}
		var o osm.OSM
		if err := xml.NewDecoder(zr).Decode(&o); err != nil {
			return nil, fmt.Errorf("sim: %s: %w", path, err)
		}
		file = map[int64]*changeset{}
		for _, c := range o.Changesets {
			cs := &changeset{id: int64(c.ID), m: &mapper{uid: int64(c.UserID), name: c.User}, createdAt: c.CreatedAt.Unix(),
				changes: c.ChangesCount, tags: convTags(c.Tags)}
			if !c.Open {
				cs.closedAt = c.ClosedAt.Unix()
			}
			if c.MinLat != 0 || c.MaxLat != 0 || c.MinLon != 0 || c.MaxLon != 0 {
				cs.hasBBox = true
				cs.minLat, cs.maxLat, cs.minLon, cs.maxLon = fix(c.MinLat), fix(c.MaxLat), fix(c.MinLon), fix(c.MaxLon)
			}
			if c.Discussion != nil {
				for _, cm := range c.Discussion.Comments {
					cs.comments = append(cs.comments, comment{ts: cm.Timestamp.Unix(), uid: int64(cm.UserID), user: cm.User, text: cm.Text})
				}
			}
			file[cs.id] = cs
		}
		s.mu.Lock()
		s.csFiles[m] = file
		s.csOrder = append(s.csOrder, m)
		if len(s.csOrder) > 16 {
			delete(s.csFiles, s.csOrder[0])
			s.csOrder = s.csOrder[1:]
		}
		s.mu.Unlock()
	}
	return file[id], nil
}

// API.

const apiHeader = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<osm version=\"0.6\" generator=\"" + oscGenerator + "\"" + osmHeaderAttrs + ">\n"

func writeXML(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, msg)
}

var errNotFound = errors.New("not found")

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	s.requests.count(parts)
	switch parts[0] {
	case "changeset":
		s.apiChangeset(w, r, parts)
	case "node", "way", "relation":
		s.apiElement(w, r, parts)
	case "nodes", "ways", "relations":
		s.apiMulti(w, r, parts[0])
	case "user":
		s.apiUser(w, parts)
	default:
		apiError(w, http.StatusNotFound, "not found")
	}
}

func (s *Server) apiChangeset(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "download") {
		apiError(w, http.StatusNotFound, "not found")
		return
	}
	id, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || id <= 0 {
		apiError(w, http.StatusBadRequest, "Changeset id is not a positive integer")
		return
	}
	cs, err := s.changesetAt(id)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if cs == nil {
		apiError(w, http.StatusNotFound, fmt.Sprintf("The changeset with the id %d was not found", id))
		return
	}
	if len(parts) == 2 {
		disc := r.URL.Query().Get("include_discussion")
		b := []byte(apiHeader)
		b = appendChangeset(b, "  ", cs, "changes_count", disc == "true" || disc == "1")
		writeXML(w, append(b, "</osm>\n"...))
		return
	}
	var evs []ev
	for _, m := range s.minutesOf(mkKey(keyCSDiff, id)) {
		d, err := s.diff(m)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		evs = append(evs, d.byCS[id]...)
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return cmp.Compare(a.ts, b.ts) })
	b := []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<osmChange version=\"0.6\" generator=\"" + oscGenerator + "\"" + osmHeaderAttrs + ">\n")
	var cur byte
	for i := range evs {
		if evs[i].act != cur {
			if cur != 0 {
				b = append(b, actionClose[cur]...)
			}
			cur = evs[i].act
			b = append(b, actionOpen[cur]...)
		}
		b = appendElement(b, "    ", &evs[i], false)
	}
	if cur != 0 {
		b = append(b, actionClose[cur]...)
	}
	writeXML(w, append(b, "</osmChange>\n"...))
}

var typeByName = map[string]byte{"node": 'n', "way": 'w', "relation": 'r', "nodes": 'n', "ways": 'w', "relations": 'r'}

func (s *Server) apiElement(w http.ResponseWriter, r *http.Request, parts []string) {
	typ := typeByName[parts[0]]
	if len(parts) < 2 || len(parts) > 3 {
		apiError(w, http.StatusNotFound, "not found")
		return
	}
	id, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || id <= 0 {
		apiError(w, http.StatusBadRequest, "id is not a positive integer")
		return
	}
	h, err := s.history(typ, id)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if len(h) == 0 {
		apiError(w, http.StatusNotFound, fmt.Sprintf("The %s with the id %d was not found", parts[0], id))
		return
	}
	b := []byte(apiHeader)
	switch {
	case len(parts) == 2:
		cur := h[len(h)-1]
		if cur.act == 'd' {
			apiError(w, http.StatusGone, "")
			return
		}
		b = appendElement(b, "  ", &cur, true)
	case parts[2] == "history":
		for i := range h {
			b = appendElement(b, "  ", &h[i], true)
		}
	case parts[2] == "full" && typ != 'n':
		cur := h[len(h)-1]
		if cur.act == 'd' {
			apiError(w, http.StatusGone, "")
			return
		}
		out, err := s.full(&cur)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		for i := range out {
			b = appendElement(b, "  ", &out[i], true)
		}
	default:
		v, err := strconv.Atoi(parts[2])
		if err != nil {
			apiError(w, http.StatusNotFound, "not found")
			return
		}
		i := slices.IndexFunc(h, func(e ev) bool { return int(e.ver) == v })
		if i < 0 {
			apiError(w, http.StatusNotFound, fmt.Sprintf("The %s with the id %d has no version %d", parts[0], id, v))
			return
		}
		b = appendElement(b, "  ", &h[i], true)
	}
	writeXML(w, append(b, "</osm>\n"...))
}

// current is an element's newest version up to the head.
func (s *Server) current(typ byte, id int64) (ev, bool, error) {
	h, err := s.history(typ, id)
	if err != nil || len(h) == 0 {
		return ev{}, false, err
	}
	return h[len(h)-1], true, nil
}

// full is a way or relation with its (visible) members: nodes first, then ways, then the element.
func (s *Server) full(e *ev) ([]ev, error) {
	var nodes, ways, rels []ev
	seen := map[uint64]bool{}
	addNode := func(id int64) error {
		k := mkKey(keyNode, id)
		if seen[k] {
			return nil
		}
		seen[k] = true
		n, ok, err := s.current('n', id)
		if err != nil {
			return err
		}
		if ok && n.act != 'd' {
			nodes = append(nodes, n)
		}
		return nil
	}
	for _, id := range e.nodes {
		if err := addNode(id); err != nil {
			return nil, err
		}
	}
	for _, m := range e.members {
		switch m.typ {
		case 'n':
			if err := addNode(m.ref); err != nil {
				return nil, err
			}
		case 'w':
			x, ok, err := s.current('w', m.ref)
			if err != nil {
				return nil, err
			}
			if ok && x.act != 'd' && !seen[mkKey(keyWay, m.ref)] {
				seen[mkKey(keyWay, m.ref)] = true
				ways = append(ways, x)
				for _, id := range x.nodes {
					if err := addNode(id); err != nil {
						return nil, err
					}
				}
			}
		case 'r':
			x, ok, err := s.current('r', m.ref)
			if err != nil {
				return nil, err
			}
			if ok && x.act != 'd' && !seen[mkKey(keyRelation, m.ref)] {
				seen[mkKey(keyRelation, m.ref)] = true
				rels = append(rels, x)
			}
		}
	}
	out := append(nodes, ways...)
	out = append(out, rels...)
	return append(out, *e), nil
}

func (s *Server) apiMulti(w http.ResponseWriter, r *http.Request, plural string) {
	typ := typeByName[plural]
	list := r.URL.Query().Get(plural)
	if list == "" {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("The parameter %s is required, and must be of the form %s=id[,id[,id...]]", plural, plural))
		return
	}
	b := []byte(apiHeader)
	for _, item := range strings.Split(list, ",") {
		idStr, verStr, hasVer := strings.Cut(item, "v")
		id, err := strconv.ParseInt(idStr, 10, 64)
		if err != nil || id <= 0 {
			apiError(w, http.StatusBadRequest, fmt.Sprintf("bad element id %q", item))
			return
		}
		h, err := s.history(typ, id)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if len(h) == 0 {
			apiError(w, http.StatusNotFound, "")
			return
		}
		e := h[len(h)-1]
		if hasVer {
			v, err := strconv.Atoi(verStr)
			i := slices.IndexFunc(h, func(e ev) bool { return int(e.ver) == v })
			if err != nil || i < 0 {
				apiError(w, http.StatusNotFound, "")
				return
			}
			e = h[i]
		}
		b = appendElement(b, "  ", &e, true)
	}
	writeXML(w, append(b, "</osm>\n"...))
}

func (s *Server) apiUser(w http.ResponseWriter, parts []string) {
	if len(parts) != 2 {
		apiError(w, http.StatusNotFound, "not found")
		return
	}
	uid, err := strconv.ParseInt(parts[1], 10, 64)
	u, ok := s.users[uid]
	if err != nil || !ok {
		apiError(w, http.StatusNotFound, "")
		return
	}
	active := 0
	if u.ActiveBlock {
		active = 1
	}
	var b bytes.Buffer
	b.WriteString(apiHeader)
	fmt.Fprintf(&b, "  <user id=\"%d\" display_name=\"%s\" account_created=\"%s\">\n", u.UID, appendEsc(nil, u.Name), u.Created.Format(time.RFC3339))
	b.WriteString("    <description></description>\n    <contributor-terms agreed=\"true\"/>\n    <roles>\n    </roles>\n")
	fmt.Fprintf(&b, "    <changesets count=\"%d\"/>\n    <traces count=\"0\"/>\n", u.Changesets)
	fmt.Fprintf(&b, "    <blocks>\n      <received count=\"%d\" active=\"%d\"/>\n    </blocks>\n  </user>\n</osm>\n", u.Blocks, active)
	writeXML(w, b.Bytes())
}
