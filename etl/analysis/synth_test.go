package analysis

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/elements"
)

// synth builds a changeset of about n element versions on a grid around (50, 8) and the
// history it needs: ways modified (a tag changed, one node added), nodes moved, nodes created
// and deleted. hist holds every previous version and every way node.
func synth(csID int64, n int) (hist, cs []elements.Element) {
	tb := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	te := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(t byte, id int64, v int, c int64, ts time.Time) elements.Element {
		return elements.Element{Type: t, ID: id, Version: v, Changeset: c, Timestamp: ts, UID: 99, User: "old", Visible: true}
	}
	ways := n / 5
	nodeID := int64(1_000_000)
	for w := 0; w < ways; w++ {
		var nds []int64
		for j := 0; j < 5; j++ {
			e := mk('n', nodeID, 1, 10, tb)
			e.Lat, e.Lon, e.HasCoords = 50+float64(w)*1e-3, 8+float64(j)*1e-4, true
			hist = append(hist, e)
			nds = append(nds, nodeID)
			nodeID++
		}
		old := mk('w', int64(w+1), 1, 10, tb)
		old.Nodes, old.Tags = nds, tagList(map[string]string{"highway": "residential", "name": fmt.Sprintf("Street %d", w)})
		hist = append(hist, old)
		nw := old
		nw.Version, nw.Changeset, nw.Timestamp, nw.UID, nw.User, nw.Action = 2, csID, te, 7, "u", elements.Modify
		nw.Tags = tagList(map[string]string{"highway": "residential", "name": fmt.Sprintf("Street %d", w), "surface": "asphalt"})
		nw.Nodes = append(append([]int64{}, nds...), nds[0])
		cs = append(cs, nw)
	}
	// Moved nodes (their ways are not in the changeset), created and deleted nodes.
	for i := 0; i < n-ways; i++ {
		id := int64(5_000_000 + i)
		old := mk('n', id, 3, 11, tb)
		old.Lat, old.Lon, old.HasCoords = 49+float64(i)*1e-4, 9, true
		old.Tags = tagList(map[string]string{"amenity": "bench"})
		switch i % 3 {
		case 0: // modified: moved 10 m
			hist = append(hist, old)
			e := old
			e.Version, e.Changeset, e.Timestamp, e.UID, e.User, e.Action, e.Lon = 4, csID, te, 7, "u", elements.Modify, 9.00014
			cs = append(cs, e)
		case 1: // deleted
			hist = append(hist, old)
			e := old
			e.Version, e.Changeset, e.Timestamp, e.UID, e.User, e.Action, e.Visible, e.HasCoords, e.Tags = 4, csID, te, 7, "u", elements.Delete, false, false, nil
			cs = append(cs, e)
		default: // created
			e := mk('n', id+10_000_000, 1, csID, te)
			e.UID, e.User, e.Action, e.Lat, e.Lon, e.HasCoords = 7, "u", elements.Create, old.Lat, 9.5, true
			cs = append(cs, e)
		}
	}
	elements.Sort(cs)
	return hist, cs
}

// apiServer serves nodes?nodes=…, ways?ways=…, relations?relations=… and user/ID from truth,
// as the OSM API does (404 when any asked version is unknown), counting requests.
type apiServer struct {
	*httptest.Server
	truth    *MemStore
	requests atomic.Int64
	maxURL   atomic.Int64
}

func newAPIServer(t testing.TB, truth []elements.Element) *apiServer {
	s := &apiServer{truth: NewMemStore(truth)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) URL0() string { return s.URL + "/api/0.6/" }

func (s *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if l := int64(len(r.URL.String())); l > s.maxURL.Load() {
		s.maxURL.Store(l)
	}
	p := strings.TrimPrefix(r.URL.Path, "/api/0.6/")
	if strings.HasPrefix(p, "user/") {
		uid := strings.TrimPrefix(p, "user/")
		fmt.Fprintf(w, `<osm><user id="%s" display_name="u"><changesets count="500"/><blocks><received count="0" active="0"/></blocks></user></osm>`, uid)
		return
	}
	var t byte
	switch p {
	case "nodes":
		t = 'n'
	case "ways":
		t = 'w'
	case "relations":
		t = 'r'
	default:
		http.NotFound(w, r)
		return
	}
	var b strings.Builder
	b.WriteString(`<osm version="0.6">`)
	for _, ref := range strings.Split(r.URL.Query().Get(p), ",") {
		idS, vS, hasV := strings.Cut(ref, "v")
		id, _ := strconv.ParseInt(idS, 10, 64)
		h, _ := s.truth.History(r.Context(), []elements.Key{{Type: t, ID: id}})
		var e *elements.Element
		if hasV {
			v, _ := strconv.Atoi(vS)
			for i := range h {
				if h[i].Version == v {
					e = &h[i]
				}
			}
		} else if len(h) > 0 {
			e = &h[len(h)-1]
		}
		if e == nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		writeXML(&b, e)
	}
	b.WriteString(`</osm>`)
	w.Write([]byte(b.String()))
}

func writeXML(b *strings.Builder, e *elements.Element) {
	name := TypeName(e.Type)
	fmt.Fprintf(b, `<%s id="%d" version="%d" changeset="%d" timestamp="%s" user="%s" uid="%d" visible="%v"`, name, e.ID, e.Version, e.Changeset, e.Timestamp.Format(time.RFC3339), e.User, e.UID, e.Visible)
	if e.Type == 'n' && e.HasCoords {
		fmt.Fprintf(b, ` lat="%.7f" lon="%.7f"`, e.Lat, e.Lon)
	}
	b.WriteString(">")
	for _, t := range e.Tags {
		fmt.Fprintf(b, `<tag k=%q v=%q/>`, t.Key, t.Value)
	}
	for _, n := range e.Nodes {
		fmt.Fprintf(b, `<nd ref="%d"/>`, n)
	}
	for _, m := range e.Members {
		fmt.Fprintf(b, `<member type="%s" ref="%d" role=%q/>`, TypeName(m.Type), m.Ref, m.Role)
	}
	fmt.Fprintf(b, "</%s>", name)
}
