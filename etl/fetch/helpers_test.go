package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/replication"
	"github.com/osmtrack/osmtrack/etl/sim"
)

const testdata = "../../testdata/osm"

func readShared(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatalf("test data (testdata/osm): %v", err)
	}
	return b
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

var baseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testFeed is a minutely (and changeset) replication feed held in memory. Handlers in
// override answer particular paths instead (faults).
type testFeed struct {
	mu       sync.Mutex
	head     uint64
	csHead   uint64
	csTime   time.Time // the changeset head's last_run (zero: 2026-01-01 00:00)
	files    map[string][]byte
	override map[string]http.HandlerFunc
	hits     map[string]int
	srv      *httptest.Server
}

func newTestFeed(t testing.TB) *testFeed {
	f := &testFeed{files: map[string][]byte{}, override: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.hits[r.URL.Path]++
		h := f.override[r.URL.Path]
		var body []byte
		var ok bool
		if r.URL.Path == "/replication/minute/state.txt" {
			body, ok = stateFile(f.head, baseTime.Add(time.Duration(f.head%100000)*time.Minute)), true
		} else if r.URL.Path == "/replication/changesets/state.yaml" {
			// The planet's state.yaml names one less than the newest file.
			body, ok = csStateFile(f.csHead, baseTime), true
			if !f.csTime.IsZero() {
				body = csStateFile(f.csHead, f.csTime)
			}
		} else {
			body, ok = f.files[r.URL.Path]
		}
		f.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// csStateFile is a changeset replication state (state.yaml, AAA/BBB/CCC.state.txt) for file seq:
// like the planet's, it names one less than the file.
func csStateFile(seq uint64, ts time.Time) []byte {
	return []byte(fmt.Sprintf("---\nlast_run: %s\nsequence: %d\n", ts.UTC().Format("2006-01-02 15:04:05.000000000 Z"), seq-1))
}

// addChangesetState puts the state file of changeset file seq, with last_run ts.
func (f *testFeed) addChangesetState(seq uint64, ts time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files["/replication/changesets/"+replication.SeqPath(seq)+".state.txt"] = csStateFile(seq, ts)
}

func stateFile(seq uint64, ts time.Time) []byte {
	return []byte(fmt.Sprintf("#generated\nsequenceNumber=%d\ntimestamp=%s\n", seq, strings.ReplaceAll(ts.UTC().Format(time.RFC3339), ":", `\:`)))
}

// add puts a diff (raw osmChange, gzipped here) at seq with a state timestamp of baseTime+seq
// minutes, and moves head to it when it is beyond.
func (f *testFeed) add(seq uint64, osc []byte) {
	f.addRaw(seq, gz(osc), baseTime.Add(time.Duration(seq%100000)*time.Minute))
}

func (f *testFeed) addRaw(seq uint64, gzBody []byte, ts time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := "/replication/minute/" + replication.SeqPath(seq)
	f.files[p+".osc.gz"] = gzBody
	f.files[p+".state.txt"] = stateFile(seq, ts)
	if seq > f.head {
		f.head = seq
	}
}

// addChangesets puts a changeset replication file (raw XML, gzipped here) at seq.
func (f *testFeed) addChangesets(seq uint64, xml []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files["/replication/changesets/"+replication.SeqPath(seq)+".osm.gz"] = gz(xml)
	if seq > f.csHead {
		f.csHead = seq
	}
}

func newCSFetcher(db *pgxpool.Pool, base string, regions region.Set) *Fetcher {
	return &Fetcher{DB: db, Feed: replication.NewFeed(base+"/replication/changesets/", replication.Changesets, testClient()), Regions: regions, Log: quietLog()}
}

func gunzipT(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *testFeed) set(path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.override[path] = h
}

func (f *testFeed) edit(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *testFeed) dataPath(seq uint64) string {
	return "/replication/minute/" + replication.SeqPath(seq) + ".osc.gz"
}

func testOptions() replication.Options {
	return replication.Options{UserAgent: "osmtrack/test (+tests)", HeaderTimeout: 300 * time.Millisecond,
		RequestTimeout: 3 * time.Second, Retries: 2, Backoff: 5 * time.Millisecond}
}

func testClient() *replication.Client { return replication.NewClient(testOptions()) }

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newFetcher(db *pgxpool.Pool, base string, regions region.Set) *Fetcher {
	return &Fetcher{DB: db, Feed: replication.NewFeed(base+"/replication/minute/", replication.Minute, testClient()), Regions: regions, Log: quietLog()}
}

func berlin(t testing.TB) region.Set {
	readShared(t, "poly/berlin.poly")
	s, err := region.LoadSet(map[string]config.Region{"berlin": {File: filepath.Join(testdata, "poly/berlin.poly")}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checksums returns an md5 per table over every column that does not hold a wall-clock time.
func checksums(t testing.TB, db *pgxpool.Pool, pointers ...string) map[string]string {
	t.Helper()
	queries := map[string]string{
		"diffs":           `SELECT seq, seq_timestamp, bytes, elements, elements_kept, changesets FROM diffs`,
		"elements":        `SELECT type, id, version, changeset, ts, uid, username, visible, action, tags, ST_AsText(geom), nodes, members, seq FROM elements`,
		"changesets":      `SELECT id, username, uid, created_at, closed_at, open, comments_count, changes_count, tags, ST_AsText(bbox), meta_seq, first_seq, last_seq, num_create, num_modify, num_delete, ST_AsText(edit_extent), tracked, state, state_reason FROM changesets`,
		"changeset_diffs": `SELECT changeset_id, seq, num_create, num_modify, num_delete, ST_AsText(extent) FROM changeset_diffs`,
	}
	out := map[string]string{}
	for name, q := range queries {
		var sum *string
		var n int
		if err := db.QueryRow(context.Background(), `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)), count(*) FROM (`+q+`) t`).Scan(&sum, &n); err != nil {
			t.Fatalf("checksum %s: %v", name, err)
		}
		s := ""
		if sum != nil {
			s = *sum
		}
		out[name] = fmt.Sprintf("%d rows %s", n, s)
	}
	for _, p := range pointers {
		var seq int64
		var ts *time.Time
		if err := db.QueryRow(context.Background(), `SELECT seq, seq_timestamp FROM replication_state WHERE name = $1`, p).Scan(&seq, &ts); err != nil {
			t.Fatalf("pointer %s: %v", p, err)
		}
		out["pointer "+p] = fmt.Sprintf("%d %v", seq, ts)
	}
	return out
}

func count(t testing.TB, db *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func pointerSeq(t testing.TB, db *pgxpool.Pool, name string) int64 {
	t.Helper()
	var seq int64
	if err := db.QueryRow(context.Background(), `SELECT seq FROM replication_state WHERE name = $1`, name).Scan(&seq); err != nil {
		t.Fatalf("pointer %s: %v", name, err)
	}
	return seq
}

// simDir generates a simulator directory once per profile and test binary.
var simDirs sync.Map

func simDir(t testing.TB, profile string, minutes int) string {
	t.Helper()
	key := fmt.Sprintf("%s-%d", profile, minutes)
	if v, ok := simDirs.Load(key); ok {
		return v.(string)
	}
	dir := filepath.Join(simRoot, key)
	if _, err := sim.Generate(context.Background(), sim.Options{Profile: profile, Minutes: minutes, Seed: 42, Out: dir}); err != nil {
		t.Fatalf("sim: %v", err)
	}
	simDirs.Store(key, dir)
	return dir
}

var simRoot string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "osmtrack-fetch-sim-")
	if err != nil {
		panic(err)
	}
	simRoot = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func simServer(t testing.TB, dir string, f sim.Faults) *httptest.Server {
	h, err := sim.NewServer(dir, f)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func simRegion(t testing.TB, dir string) region.Set {
	s, err := region.LoadSet(map[string]config.Region{"city": {File: filepath.Join(dir, "region.poly")}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pg(t testing.TB) *pgxpool.Pool { return dbtest.PG(t).Pool }
