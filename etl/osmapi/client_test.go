package osmapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/osm"
)

// fakeAPI serves nodes?nodes=… from a set of node versions (id → versions held).
type fakeAPI struct {
	mu       sync.Mutex
	versions map[int64][]int
	urls     []string
	agents   []string // User-Agent and Accept of each request
	fail     []int    // status codes to answer first, in order
	retryAft string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.urls = append(f.urls, r.URL.String())
	f.agents = append(f.agents, r.UserAgent()+"|"+r.Header.Get("Accept"))
	if len(f.fail) > 0 {
		code := f.fail[0]
		f.fail = f.fail[1:]
		f.mu.Unlock()
		if f.retryAft != "" {
			w.Header().Set("Retry-After", f.retryAft)
		}
		http.Error(w, "try later", code)
		return
	}
	f.mu.Unlock()
	switch {
	case r.URL.Path == "/api/0.6/nodes":
		var b strings.Builder
		b.WriteString(`<osm version="0.6">`)
		for _, ref := range strings.Split(r.URL.Query().Get("nodes"), ",") {
			idS, vS, hasV := strings.Cut(ref, "v")
			id, _ := strconv.ParseInt(idS, 10, 64)
			vs := f.versions[id]
			if len(vs) == 0 {
				http.Error(w, "not found", 404)
				return
			}
			v := vs[len(vs)-1]
			if hasV {
				v, _ = strconv.Atoi(vS)
				found := false
				for _, x := range vs {
					found = found || x == v
				}
				if !found {
					http.Error(w, "not found", 404)
					return
				}
			}
			fmt.Fprintf(&b, `<node id="%d" version="%d" visible="true" changeset="5" timestamp="2025-01-01T00:00:00Z" user="a" uid="1" lat="50" lon="8"/>`, id, v)
		}
		b.WriteString(`</osm>`)
		w.Write([]byte(b.String()))
	case r.URL.Path == "/api/0.6/user/42":
		w.Write([]byte(`<osm><user id="42" display_name="x" account_created="2020-01-01T00:00:00Z"><changesets count="12"/><blocks><received count="3" active="1"/></blocks></user></osm>`))
	case r.URL.Path == "/api/0.6/node/7/history":
		w.Write([]byte(`<osm><node id="7" version="1" visible="true" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="2"/><node id="7" version="2" visible="false" changeset="2" timestamp="2021-01-01T00:00:00Z"/></osm>`))
	default:
		http.NotFound(w, r)
	}
}

func newClient(t *testing.T, f *fakeAPI, o Options) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	o.BaseURL = srv.URL + "/api/0.6/"
	if o.RequestsPerSecond == 0 {
		o.RequestsPerSecond = 1000
	}
	if o.Backoff == 0 {
		o.Backoff = time.Millisecond
	}
	if o.UserAgent == "" {
		o.UserAgent = "osmtrack-test/1 (ops@example.org)"
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVersionsBatchedUnderURLLimit(t *testing.T) {
	f := &fakeAPI{versions: map[int64][]int{}}
	var ids []osm.ObjectID
	for i := int64(0); i < 2000; i++ {
		id := 10_000_000_000 + i
		f.versions[id] = []int{1, 2, 3}
		ids = append(ids, osm.NodeID(id).ObjectID(2))
	}
	c := newClient(t, f, Options{MaxURLLength: 8000})
	objs, missing, err := c.Versions(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2000 || len(missing) != 0 {
		t.Fatalf("%d objects, %d missing", len(objs), len(missing))
	}
	for _, u := range f.urls {
		if full := len("http://127.0.0.1:65535") + len(u); full >= 8000 {
			t.Errorf("URL of %d characters", full)
		}
	}
	// 2000 refs of 14 characters: at least 2000/200 per request.
	if len(f.urls) > 10 {
		t.Errorf("%d requests for 2000 versions", len(f.urls))
	}
	for _, a := range f.agents {
		if a != "osmtrack-test/1 (ops@example.org)|application/xml" {
			t.Errorf("User-Agent|Accept %q", a)
		}
	}
	if r, b, _ := c.Stats(); r != int64(len(f.urls)) || b == 0 {
		t.Errorf("stats requests=%d bytes=%d", r, b)
	}
}

func TestMissingVersionsAreIsolated(t *testing.T) {
	f := &fakeAPI{versions: map[int64][]int{1: {1, 2}, 2: {1}, 3: {1, 2}, 4: {1, 2}}}
	c := newClient(t, f, Options{})
	ids := []osm.ObjectID{osm.NodeID(1).ObjectID(2), osm.NodeID(2).ObjectID(2), osm.NodeID(3).ObjectID(1), osm.NodeID(4).ObjectID(2), osm.NodeID(5).ObjectID(1)}
	objs, missing, err := c.Versions(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 || len(missing) != 2 {
		t.Fatalf("objects %d, missing %v", len(objs), missing)
	}
	want := map[osm.ObjectID]bool{osm.NodeID(2).ObjectID(2): true, osm.NodeID(5).ObjectID(1): true}
	for _, m := range missing {
		if !want[m] {
			t.Errorf("unexpected missing %v", m)
		}
	}
}

// The retries themselves (429, 5xx, Retry-After, timeouts, resets) are osmhttp's and tested
// there; these tests check what the API client makes of them.

func TestStatusErrorAfterRetries(t *testing.T) {
	f := &fakeAPI{versions: map[int64][]int{1: {1}}, fail: []int{502, 502, 502}}
	c := newClient(t, f, Options{Retries: 2})
	_, _, err := c.Current(context.Background(), []osm.FeatureID{osm.NodeID(1).FeatureID()})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 502 || se.Body != "try later" || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "/api/0.6/nodes?nodes=1: HTTP 502: try later") || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("message %q", err)
	}
	if r, _, retries := c.Stats(); len(f.urls) != 3 || r != 3 || retries != 2 {
		t.Errorf("%d requests (stats %d, %d retries), want 3", len(f.urls), r, retries)
	}
}

func TestNotFoundAndGoneAreNotRetried(t *testing.T) {
	for _, code := range []int{404, 410} {
		f := &fakeAPI{fail: []int{code}}
		c := newClient(t, f, Options{Retries: 4})
		if _, err := c.Get(context.Background(), "/node/1/ways"); !errors.Is(err, ErrNotFound) || len(f.urls) != 1 {
			t.Errorf("%d: err %v after %d requests", code, err, len(f.urls))
		}
	}
}

// Retries means what it means in osmhttp and in osm.retries: 0 (or less) is none.
func TestZeroOrNegativeRetriesMeansNone(t *testing.T) {
	for _, n := range []int{0, -1} {
		f := &fakeAPI{fail: []int{500, 500}}
		c := newClient(t, f, Options{Retries: n})
		if _, err := c.Get(context.Background(), "nodes?nodes=1"); err == nil || len(f.urls) != 1 {
			t.Fatalf("Retries %d: err %v after %d requests", n, err, len(f.urls))
		}
	}
}

// TestLongRetryAfterIsHonoured: the API's Retry-After is obeyed even beyond MaxBackoff.
func TestLongRetryAfterIsHonoured(t *testing.T) {
	f := &fakeAPI{versions: map[int64][]int{1: {1}}, fail: []int{429}, retryAft: "1"}
	c := newClient(t, f, Options{Retries: 2, MaxBackoff: 10 * time.Millisecond})
	start := time.Now()
	if _, _, err := c.Current(context.Background(), []osm.FeatureID{osm.NodeID(1).FeatureID()}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %v, the server asked for 1s", waited)
	}
}

func TestUserAndHistory(t *testing.T) {
	c := newClient(t, &fakeAPI{}, Options{})
	u, err := c.User(context.Background(), 42)
	if err != nil || u.ChangesetsCount != 12 || u.BlocksReceived != 3 || u.BlocksActive != 1 || u.Name != "x" {
		t.Fatalf("user %+v err %v", u, err)
	}
	if _, err := c.User(context.Background(), 43); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	h, err := c.History(context.Background(), osm.NodeID(7).FeatureID())
	if err != nil || len(h) != 2 {
		t.Fatalf("history %d err %v", len(h), err)
	}
}

func TestRateLimit(t *testing.T) {
	f := &fakeAPI{versions: map[int64][]int{1: {1}}}
	c := newClient(t, f, Options{RequestsPerSecond: 20})
	// The limiter allows a burst of one; ten requests need at least 9 intervals of 50 ms.
	start := time.Now()
	for i := 0; i < 10; i++ {
		if _, err := c.Get(context.Background(), "nodes?nodes=1"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("10 requests at 20/s took %v", d)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "::"} {
		if _, err := New(Options{BaseURL: u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

// Current and exact versions of one type share a request; what the API lacks is left out.
func TestMixed(t *testing.T) {
	f := &fakeAPI{versions: map[int64][]int{1: {1, 2, 3}, 2: {1}, 3: {1, 2}}}
	c := newClient(t, f, Options{})
	objs, err := c.Mixed(context.Background(), []osm.FeatureID{osm.NodeID(1).FeatureID(), osm.NodeID(2).FeatureID()},
		[]osm.ObjectID{osm.NodeID(3).ObjectID(1), osm.NodeID(1).ObjectID(2), osm.NodeID(4).ObjectID(1)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, fmt.Sprint(o.ObjectID()))
	}
	sort.Strings(got)
	if want := []string{"node/1:2", "node/1:3", "node/2:1", "node/3:1"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// One request with all five refs, then the halves that isolate node 4 v1 (missing).
	if !strings.Contains(f.urls[0], "nodes=1%2C1v2%2C2%2C3v1%2C4v1") && !strings.Contains(f.urls[0], "nodes=1,1v2,2,3v1,4v1") {
		t.Errorf("first request %s, want the five refs in one", f.urls[0])
	}
}
