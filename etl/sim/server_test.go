package sim

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/osm"
	"github.com/paulmach/osm/replication"
)

func serve(t *testing.T, dir string, o ServeOptions) (*httptest.Server, *Server) {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts, s
}

func get(t *testing.T, url string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode, b, resp.Header
}

func getOSM(t *testing.T, url string) *osm.OSM {
	t.Helper()
	code, b, _ := get(t, url)
	if code != 200 {
		t.Fatalf("%s: %d %s", url, code, b)
	}
	var o osm.OSM
	if err := xml.Unmarshal(b, &o); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return &o
}

func TestAPIAgreesWithDiffs(t *testing.T) {
	t.Parallel()
	dir, st := regionDir(t)
	r := replay(t, dir, st)
	ts, _ := serve(t, dir, ServeOptions{})
	api := ts.URL + "/api/0.6/"

	// Every element touched by the diffs (a sample of the many): history agrees version by version.
	var keys []uint64
	for k, vs := range r.versions {
		if len(vs) > 1 || vs[0].ver == 1 && vs[0].act == 'c' {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	step := max(1, len(keys)/150)
	checked, gone := 0, 0
	for i := 0; i < len(keys); i += step {
		k := keys[i]
		vs := r.versions[k]
		typ := typeName[[]byte{0, 'n', 'w', 'r'}[k>>56]]
		id := int64(k & (1<<56 - 1))
		o := getOSM(t, fmt.Sprintf("%s%s/%d/history", api, typ, id))
		objs := o.Objects()
		if len(objs) != len(vs) {
			t.Fatalf("%s %d: history has %d versions, the diffs %d", typ, id, len(objs), len(vs))
		}
		for j, obj := range objs {
			var got ev
			switch x := obj.(type) {
			case *osm.Node:
				got = evFromNode(x, 0)
				if x.Visible != (vs[j].act != 'd') {
					t.Errorf("node %d v%d: visible %v, action %c", id, x.Version, x.Visible, vs[j].act)
				}
				if !x.Visible {
					got.lat, got.lon = vs[j].lat, vs[j].lon // the API leaves coordinates out of deleted versions
				}
			case *osm.Way:
				got = evFromWay(x, 0)
			case *osm.Relation:
				got = evFromRelation(x, 0)
			}
			got.act = vs[j].act
			if fmt.Sprint(got) != fmt.Sprint(vs[j]) {
				t.Fatalf("%s %d history[%d]:\n api  %+v\n diff %+v", typ, id, j, got, vs[j])
			}
		}
		last := vs[len(vs)-1]
		code, _, _ := get(t, fmt.Sprintf("%s%s/%d", api, typ, id))
		if last.act == 'd' {
			gone++
			if code != http.StatusGone {
				t.Errorf("%s %d deleted: GET answers %d, want 410", typ, id, code)
			}
		} else if code != 200 {
			t.Errorf("%s %d: GET answers %d", typ, id, code)
		}
		// A specific version.
		v := getOSM(t, fmt.Sprintf("%s%s/%d/%d", api, typ, id, vs[0].ver))
		if len(v.Objects()) != 1 {
			t.Errorf("%s %d v%d: %d objects", typ, id, vs[0].ver, len(v.Objects()))
		}
		checked++
	}
	if checked < 50 || gone == 0 {
		t.Errorf("checked %d elements, %d deleted: want more", checked, gone)
	}

	// 404s.
	for _, p := range []string{"node/999", "way/1/77", "changeset/1", "user/1", "relation/999/history"} {
		if code, _, _ := get(t, api+p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	if code, _, _ := get(t, api+"nodes"); code != 400 {
		t.Errorf("nodes without ?nodes=: %d, want 400", code)
	}

	// Multi-fetch with and without versions; a missing one makes it 404.
	var nodeIDs []string
	var want int
	for _, k := range keys {
		if k>>56 == keyNode && len(nodeIDs) < 5 {
			id := int64(k & (1<<56 - 1))
			if len(nodeIDs)%2 == 0 {
				nodeIDs = append(nodeIDs, strconv.FormatInt(id, 10))
			} else {
				nodeIDs = append(nodeIDs, fmt.Sprintf("%dv%d", id, r.versions[k][0].ver))
			}
			want++
		}
	}
	if o := getOSM(t, api+"nodes?nodes="+strings.Join(nodeIDs, ",")); len(o.Nodes) != want {
		t.Errorf("multi-fetch %v: %d nodes", nodeIDs, len(o.Nodes))
	}
	if code, _, _ := get(t, api+"nodes?nodes="+nodeIDs[0]+",999"); code != 404 {
		t.Errorf("multi-fetch with a missing node: %d, want 404", code)
	}

	// Changesets: metadata, discussion, download agree with the diffs.
	var withComments, checkedCS int
	for cs, evs := range r.csEvs {
		if checkedCS > 40 && cs%7 != 0 {
			continue
		}
		checkedCS++
		code, b, _ := get(t, fmt.Sprintf("%schangeset/%d?include_discussion=true", api, cs))
		if code != 200 {
			t.Fatalf("changeset %d: %d", cs, code)
		}
		if !strings.Contains(string(b), fmt.Sprintf(`changes_count="%d"`, len(evs))) {
			t.Errorf("changeset %d: want changes_count=%d in %s", cs, len(evs), b)
		}
		var o osm.OSM
		if err := xml.Unmarshal(b, &o); err != nil || len(o.Changesets) != 1 {
			t.Fatalf("changeset %d: %v", cs, err)
		}
		c := o.Changesets[0]
		if c.CommentsCount > 0 {
			withComments++
			if c.Discussion == nil || len(c.Discussion.Comments) != c.CommentsCount {
				t.Errorf("changeset %d: comments_count %d, discussion %+v", cs, c.CommentsCount, c.Discussion)
			}
			_, plain, _ := get(t, fmt.Sprintf("%schangeset/%d", api, cs))
			if strings.Contains(string(plain), "<discussion>") {
				t.Errorf("changeset %d without include_discussion has a discussion", cs)
			}
		}
		code, b, _ = get(t, fmt.Sprintf("%schangeset/%d/download", api, cs))
		var ch osm.Change
		if err := xml.Unmarshal(b, &ch); code != 200 || err != nil {
			t.Fatalf("changeset %d download: %d %v", cs, code, err)
		}
		n := 0
		for _, x := range []*osm.OSM{ch.Create, ch.Modify, ch.Delete} {
			if x != nil {
				n += len(x.Nodes) + len(x.Ways) + len(x.Relations)
			}
		}
		if n != len(evs) {
			t.Errorf("changeset %d download: %d elements, diffs %d", cs, n, len(evs))
		}
		// The mapper.
		uid := evs[0].uid
		u := getOSMUser(t, fmt.Sprintf("%suser/%d", api, uid))
		if u.Name != evs[0].user || u.Changesets.Count == 0 {
			t.Errorf("user %d: %+v, want %q", uid, u, evs[0].user)
		}
	}
	if withComments == 0 {
		t.Log("no commented changeset among those checked")
	}

	// way/ID/full: the way and its nodes.
	for _, k := range keys {
		if k>>56 != keyWay {
			continue
		}
		vs := r.versions[k]
		if vs[len(vs)-1].act == 'd' {
			continue
		}
		id := int64(k & (1<<56 - 1))
		o := getOSM(t, fmt.Sprintf("%sway/%d/full", api, id))
		if len(o.Ways) != 1 || len(o.Nodes) == 0 {
			t.Fatalf("way %d full: %d ways %d nodes", id, len(o.Ways), len(o.Nodes))
		}
		for _, wn := range o.Ways[0].Nodes {
			if !slices.ContainsFunc(o.Nodes, func(n *osm.Node) bool { return n.ID == wn.ID }) {
				t.Errorf("way %d full lacks node %d", id, wn.ID)
			}
		}
		break
	}
}

type apiUserXML struct {
	ID         int64  `xml:"id,attr"`
	Name       string `xml:"display_name,attr"`
	Changesets struct {
		Count int `xml:"count,attr"`
	} `xml:"changesets"`
	Blocks struct {
		Received struct {
			Count  int `xml:"count,attr"`
			Active int `xml:"active,attr"`
		} `xml:"received"`
	} `xml:"blocks"`
}

func getOSMUser(t *testing.T, url string) apiUserXML {
	t.Helper()
	code, b, _ := get(t, url)
	var o struct {
		User apiUserXML `xml:"user"`
	}
	if code != 200 || xml.Unmarshal(b, &o) != nil {
		t.Fatalf("%s: %d %s", url, code, b)
	}
	return o.User
}

func TestPaulmachReplicationReadsTheFeed(t *testing.T) {
	dir, st := regionDir(t)
	ts, _ := serve(t, dir, ServeOptions{})
	ds := &replication.Datasource{BaseURL: ts.URL, Client: ts.Client()}
	ctx := context.Background()
	seq, state, err := ds.CurrentMinuteState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(seq) != st.EndSeq || !state.Timestamp.Equal(st.StartTime.Add(time.Duration(st.Minutes)*time.Minute)) {
		t.Errorf("minute state %d %v", seq, state.Timestamp)
	}
	for s := st.StartSeq; s <= st.EndSeq; s += 5 {
		ch, err := ds.Minute(ctx, replication.MinuteSeqNum(s))
		if err != nil {
			t.Fatalf("minute %d: %v", s, err)
		}
		n := 0
		for _, x := range []*osm.OSM{ch.Create, ch.Modify, ch.Delete} {
			if x != nil {
				n += len(x.Nodes) + len(x.Ways) + len(x.Relations)
			}
		}
		if n != st.PerMinute[s-st.StartSeq].Elements {
			t.Errorf("minute %d: %d elements, want %d", s, n, st.PerMinute[s-st.StartSeq].Elements)
		}
		ms, err := ds.MinuteState(ctx, replication.MinuteSeqNum(s))
		if err != nil || ms.SeqNum != s {
			t.Errorf("minute state %d: %+v %v", s, ms, err)
		}
	}
	if _, err := ds.Minute(ctx, replication.MinuteSeqNum(st.EndSeq+1)); !replication.NotFound(err) {
		t.Errorf("minute beyond the head: %v, want not found", err)
	}
	cseq, cstate, err := ds.CurrentChangesetState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(cseq) != st.EndSeq || cstate.SeqNum != st.EndSeq {
		t.Errorf("changeset state %d %+v, want %d", cseq, cstate, st.EndSeq)
	}
	total := 0
	for s := st.StartSeq; s <= st.EndSeq; s++ {
		css, err := ds.Changesets(ctx, replication.ChangesetSeqNum(s))
		if err != nil {
			t.Fatalf("changesets %d: %v", s, err)
		}
		total += len(css)
	}
	if total < st.Changesets {
		t.Errorf("%d changeset entries in the feed, %d changesets with edits", total, st.Changesets)
	}
}

func TestLive(t *testing.T) {
	dir, st := regionDir(t)
	ts, s := serve(t, dir, ServeOptions{Live: true, Tick: time.Hour})
	ds := &replication.Datasource{BaseURL: ts.URL, Client: ts.Client()}
	ctx := context.Background()
	seq, _, err := ds.CurrentMinuteState(ctx)
	if err != nil || uint64(seq) != st.StartSeq {
		t.Fatalf("live head %d %v, want %d", seq, err, st.StartSeq)
	}
	if _, err := ds.Minute(ctx, replication.MinuteSeqNum(st.StartSeq+1)); !replication.NotFound(err) {
		t.Fatalf("next minute before the tick: %v, want 404", err)
	}
	// A node created in the third minute is unknown to the API until then.
	r := replay(t, dir, st)
	var id int64
	for k, vs := range r.versions {
		if k>>56 == keyNode && vs[0].act == 'c' && vs[0].ts >= st.StartTime.Unix()+120 && vs[0].ts < st.StartTime.Unix()+180 {
			id = vs[0].id
			break
		}
	}
	if id != 0 {
		if code, _, _ := get(t, fmt.Sprintf("%s/api/0.6/node/%d", ts.URL, id)); code != 404 {
			t.Errorf("node %d from the future: %d, want 404", id, code)
		}
	}
	s.Advance()
	s.Advance()
	if seq, _, _ := ds.CurrentMinuteState(ctx); uint64(seq) != st.StartSeq+2 {
		t.Errorf("after two ticks head %d", seq)
	}
	if _, err := ds.Minute(ctx, replication.MinuteSeqNum(st.StartSeq+2)); err != nil {
		t.Errorf("released minute: %v", err)
	}
	if id != 0 {
		if code, _, _ := get(t, fmt.Sprintf("%s/api/0.6/node/%d", ts.URL, id)); code != 200 {
			t.Errorf("node %d after release: %d", id, code)
		}
	}
	// Run ticks by itself.
	ts2, s2 := serve(t, dir, ServeOptions{Live: true, Tick: time.Millisecond})
	_ = ts2
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s2.Run(rctx)
	if s2.Head() != st.EndSeq {
		t.Errorf("Run stopped at %d, want %d", s2.Head(), st.EndSeq)
	}
}

func TestParseFaults(t *testing.T) {
	f, err := ParseFaults("latency=50ms,5xx=0.1,429=0.05,retry-after=2s,truncate=0.1,hang=0.01,hang-path=/api/0.6/user,missing=6000003;6000007,only=/api/,seed=9")
	if err != nil {
		t.Fatal(err)
	}
	want := Faults{Latency: 50 * time.Millisecond, Status5xxRate: 0.1, Rate429: 0.05, RetryAfter: 2 * time.Second, TruncateRate: 0.1,
		HangRate: 0.01, HangPaths: []string{"/api/0.6/user"}, MissingSeqs: []uint64{6000003, 6000007}, Only: "/api/", Seed: 9}
	if fmt.Sprint(f) != fmt.Sprint(want) {
		t.Errorf("got %+v\nwant %+v", f, want)
	}
	if g, err := ParseFaults(f.String()); err != nil || fmt.Sprint(g) != fmt.Sprint(f) {
		t.Errorf("round trip %q: %+v %v", f.String(), g, err)
	}
	for _, bad := range []string{"latency=fast", "5xx=2", "nope=1", "missing=x", "429"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if f, err := ParseFaults(""); err != nil || f.any() {
		t.Errorf("empty: %+v %v", f, err)
	}
}

func TestFaultInjection(t *testing.T) {
	dir, st := regionDir(t)
	diff := fmt.Sprintf("/replication/minute/%s.osc.gz", seqPath(st.StartSeq+1))

	t.Run("429", func(t *testing.T) {
		ts, _ := serve(t, dir, ServeOptions{Faults: Faults{Rate429: 1, RetryAfter: 3 * time.Second}})
		code, _, h := get(t, ts.URL+diff)
		if code != 429 || h.Get("Retry-After") != "3" {
			t.Errorf("%d Retry-After %q", code, h.Get("Retry-After"))
		}
	})
	t.Run("5xx", func(t *testing.T) {
		ts, _ := serve(t, dir, ServeOptions{Faults: Faults{Status5xxRate: 1}})
		for i := 0; i < 5; i++ {
			if code, _, _ := get(t, ts.URL+diff); code < 500 || code > 504 {
				t.Errorf("%d, want 5xx", code)
			}
		}
	})
	t.Run("rates", func(t *testing.T) {
		ts, _ := serve(t, dir, ServeOptions{Faults: Faults{Status5xxRate: 0.3, Seed: 1}})
		bad := 0
		for i := 0; i < 100; i++ {
			if code, _, _ := get(t, ts.URL+"/replication/minute/state.txt"); code >= 500 {
				bad++
			}
		}
		if bad < 10 || bad > 55 {
			t.Errorf("5xx=0.3: %d of 100 failed", bad)
		}
	})
	t.Run("only", func(t *testing.T) {
		ts, _ := serve(t, dir, ServeOptions{Faults: Faults{Status5xxRate: 1, Only: "/api/"}})
		if code, _, _ := get(t, ts.URL+diff); code != 200 {
			t.Errorf("replication with only=/api/: %d", code)
		}
		if code, _, _ := get(t, ts.URL+"/api/0.6/node/1"); code < 500 {
			t.Errorf("api with only=/api/: %d", code)
		}
	})
	t.Run("truncate", func(t *testing.T) {
		ts, _ := serve(t, dir, ServeOptions{Faults: Faults{TruncateRate: 1}})
		resp, err := http.Get(ts.URL + diff)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("read %d bytes, err %v: want unexpected EOF", len(b), err)
		}
	})
	t.Run("hang", func(t *testing.T) {
		ts, _ := serve(t, dir, ServeOptions{Faults: Faults{HangPaths: []string{"/api/0.6/user"}}})
		c := &http.Client{Timeout: 200 * time.Millisecond}
		if _, err := c.Get(ts.URL + "/api/0.6/user/1"); err == nil {
			t.Error("hanging path answered")
		}
		if resp, err := c.Get(ts.URL + diff); err != nil {
			t.Errorf("other path: %v", err)
		} else {
			resp.Body.Close()
		}
	})
	t.Run("latency", func(t *testing.T) {
		ts, _ := serve(t, dir, ServeOptions{Faults: Faults{Latency: 50 * time.Millisecond}})
		start := time.Now()
		if code, _, _ := get(t, ts.URL+diff); code != 200 {
			t.Errorf("%d", code)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("answered after %v, want at least the latency", d)
		}
	})
	t.Run("missing", func(t *testing.T) {
		miss := st.StartSeq + 3
		ts, _ := serve(t, dir, ServeOptions{Faults: Faults{MissingSeqs: []uint64{miss}}})
		ds := &replication.Datasource{BaseURL: ts.URL, Client: ts.Client()}
		if _, err := ds.Minute(context.Background(), replication.MinuteSeqNum(miss)); !replication.NotFound(err) {
			t.Errorf("missing sequence: %v, want 404", err)
		}
		if _, err := ds.Minute(context.Background(), replication.MinuteSeqNum(miss+1)); err != nil {
			t.Errorf("the next one: %v", err)
		}
	})
}
