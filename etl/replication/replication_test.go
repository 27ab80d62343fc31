package replication

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/osmhttp"
)

func TestParseMinuteStateReal(t *testing.T) {
	data, err := os.ReadFile("../../testdata/osm/minutely/964.state.txt")
	if err != nil {
		t.Skip(err)
	}
	st, err := ParseMinuteState(data)
	if err != nil {
		t.Fatal(err)
	}
	if st.Seq != 964 || !st.Timestamp.Equal(time.Date(2015, 5, 4, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %+v", st)
	}
}

func TestParseMinuteStateBad(t *testing.T) {
	cases := map[string]string{
		"garbage":      "\x00\x01 not a state file at all",
		"no seq":       "timestamp=2020-01-01T00\\:00\\:00Z\n",
		"no timestamp": "sequenceNumber=5\n",
		"bad seq":      "sequenceNumber=five\ntimestamp=2020-01-01T00\\:00\\:00Z\n",
		"bad time":     "sequenceNumber=5\ntimestamp=yesterday\n",
		"html":         "<html><body>Service unavailable</body></html>",
	}
	for name, doc := range cases {
		if _, err := ParseMinuteState([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseChangesetState(t *testing.T) {
	st, err := ParseChangesetState([]byte("---\nlast_run: 2016-07-02 22:46:01.422137422 +00:00\nsequence: 1912325\n"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Seq != 1912325 || st.Timestamp.Format(time.RFC3339) != "2016-07-02T22:46:01Z" {
		t.Fatalf("%+v", st)
	}
	if _, err := ParseChangesetState([]byte("---\nsequence: 5\n")); err == nil {
		t.Fatal("missing last_run accepted")
	}
}

func TestSeqPath(t *testing.T) {
	if p := SeqPath(6123456); p != "006/123/456" {
		t.Fatal(p)
	}
	if p := SeqPath(964); p != "000/000/964" {
		t.Fatal(p)
	}
}

func testClient() *Client {
	return NewClient(Options{UserAgent: osmhttp.UserAgent("test", "me@example.org"), HeaderTimeout: 300 * time.Millisecond,
		RequestTimeout: 2 * time.Second, Retries: 2, Backoff: 10 * time.Millisecond})
}

// Test404 checks the client's 404 classification; the retries themselves are osmhttp's (tested
// there).
func Test404(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.URL.Path == "/boom" {
			http.Error(w, "boom", 500)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	_, err := testClient().Get(context.Background(), srv.URL+"/a", false)
	if !IsNotFound(err) || n.Load() != 1 {
		t.Fatalf("404 not returned at once: %v (%d requests)", err, n.Load())
	}
	n.Store(0)
	_, err = testClient().Get(context.Background(), srv.URL+"/b", true)
	if !IsNotFound(err) || n.Load() != 3 || err.Error() != "GET "+srv.URL+"/b: 404 Not Found (gave up after 3 attempts)" {
		t.Fatalf("404 below head: %v (%d requests)", err, n.Load())
	}
	if _, err := testClient().Get(context.Background(), srv.URL+"/boom", false); err == nil || IsNotFound(err) {
		t.Fatalf("500 taken for a 404: %v", err)
	}
}

// TestClientHeaders: the User-Agent of the options, and no gzip negotiated (the files are gzip).
func TestClientHeaders(t *testing.T) {
	var ua, enc atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		enc.Store(r.Header.Get("Accept-Encoding"))
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	if body, err := testClient().Get(context.Background(), srv.URL, false); err != nil || string(body) != "ok" {
		t.Fatalf("%q %v", body, err)
	}
	if ua.Load() != "osmtrack/test (+me@example.org)" || enc.Load() != "" {
		t.Fatalf("User-Agent %q, Accept-Encoding %q", ua.Load(), enc.Load())
	}
}

// stateServer serves minute state files for seqs lo..hi, one minute apart, some missing.
func stateServer(t *testing.T, lo, hi uint64, base time.Time, missing map[uint64]bool) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var seq uint64
		if r.URL.Path == "/state.txt" {
			seq = hi
		} else {
			var a, b, c uint64
			if _, err := fmt.Sscanf(r.URL.Path, "/%03d/%03d/%03d.state.txt", &a, &b, &c); err != nil {
				http.NotFound(w, r)
				return
			}
			seq = a*1000000 + b*1000 + c
		}
		if seq < lo || seq > hi || missing[seq] {
			http.NotFound(w, r)
			return
		}
		ts := base.Add(time.Duration(seq-lo) * time.Minute)
		fmt.Fprintf(w, "#x\nsequenceNumber=%d\ntimestamp=%s\n", seq, strings.ReplaceAll(ts.Format(time.RFC3339), ":", `\:`))
	}))
}

func TestSeqAt(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := stateServer(t, 5000, 9000, base, map[uint64]bool{7000: true, 7001: true, 5500: true})
	defer srv.Close()
	f := NewFeed(srv.URL, Minute, testClient())
	ctx := context.Background()
	head, err := f.Head(ctx)
	if err != nil || head.Seq != 9000 {
		t.Fatalf("head %+v %v", head, err)
	}
	for _, tc := range []struct {
		at   time.Time
		want uint64
	}{
		{base.Add(100 * time.Minute), 5100},
		{base.Add(100*time.Minute + 30*time.Second), 5101},
		{base.Add(2000 * time.Minute), 7002}, // 7000 and 7001 are missing
		{base.Add(3999 * time.Minute), 8999},
		{base.Add(5000 * time.Minute), 9000},  // after head
		{base.Add(-50 * time.Minute), 5000},   // before the oldest state
		{base.Add(499*time.Minute + 1), 5501}, // 5500 missing: the next state after t
	} {
		got, err := f.SeqAt(ctx, tc.at, head)
		if err != nil || got != tc.want {
			t.Errorf("SeqAt(%s) = %d, %v; want %d", tc.at.Format(time.RFC3339), got, err, tc.want)
		}
	}
	now := base.Add(4000 * time.Minute)
	if got, err := f.ResolveStart(ctx, "2 hours ago", head, now); err != nil || got != 8880 {
		t.Errorf("2 hours ago: %d %v", got, err)
	}
	if got, _ := f.ResolveStart(ctx, "head", head, now); got != 9000 {
		t.Errorf("head: %d", got)
	}
	if got, _ := f.ResolveStart(ctx, "6000", head, now); got != 6000 {
		t.Errorf("seq: %d", got)
	}
	if got, _ := f.ResolveStart(ctx, base.Add(60*time.Minute).Format(time.RFC3339), head, now); got != 5060 {
		t.Errorf("rfc3339: %d", got)
	}
	if _, err := f.ResolveStart(ctx, "soon", head, now); err == nil {
		t.Error("bad start accepted")
	}
}

func TestChangesetHeadOffByOne(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "---\nlast_run: 2026-01-01 00:10:00.000000000 Z\nsequence: 41\n")
	}))
	defer srv.Close()
	f := NewFeed(srv.URL+"/replication/changesets", Changesets, testClient())
	st, err := f.Head(context.Background())
	if err != nil || st.Seq != 42 {
		t.Fatalf("%+v %v", st, err)
	}
	if u := f.DataURL(42); u != srv.URL+"/replication/changesets/000/000/042.osm.gz" {
		t.Fatal(u)
	}
}
