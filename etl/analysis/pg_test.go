package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmapi"
	"github.com/osmtrack/osmtrack/etl/rules"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func apiClient(t testing.TB, base string) *osmapi.Client {
	t.Helper()
	c, err := osmapi.New(osmapi.Options{BaseURL: base, RequestsPerSecond: 10000, Burst: 100, Backoff: time.Millisecond, Retries: 1, UserAgent: "osmtrack-test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func insertChangeset(t testing.TB, db *pgxpool.Pool, id int64, state string, open bool, tags map[string]string) {
	t.Helper()
	tj, _ := json.Marshal(tags)
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var closed any
	if !open {
		closed = created.Add(time.Hour)
	}
	if _, err := db.Exec(context.Background(), `INSERT INTO changesets (id, username, uid, created_at, closed_at, open, tags, state, last_seq, meta_updated_at,
		bbox) VALUES ($1, 'u', 7, $2, $3, $4, $5::jsonb, $6, 100, $2, ST_MakeEnvelope(8, 49, 9.5, 51, 4326))`, id, created, closed, open, string(tj), state); err != nil {
		t.Fatal(err)
	}
}

func TestStoreBackedAnalysisMakesNoAPICalls(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	hist, cs := synth(42, 1000)
	ps := &PGStore{DB: db.Pool}
	if err := ps.Put(ctx, append(append([]elements.Element{}, hist...), cs...)); err != nil {
		t.Fatal(err)
	}
	api := newAPIServer(t, hist)
	a := &Analyzer{Config: config.Default().Analyse, Store: ps, API: apiClient(t, api.URL0()), Log: quiet}
	elems, err := ps.ChangesetElements(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(elems) != len(cs) {
		t.Fatalf("%d elements read back, %d written", len(elems), len(cs))
	}
	d, st, err := a.Analyse(ctx, Input{Meta: meta(map[string]string{"created_by": "iD", "changesets_count": "900"}), Elems: elems})
	if err != nil {
		t.Fatal(err)
	}
	if n := api.requests.Load(); n != 0 {
		t.Errorf("%d API requests with a full store", n)
	}
	if !d.Complete || st.FromAPI != 0 || st.FromStore == 0 {
		t.Errorf("complete=%v (%s) stats=%+v", d.Complete, d.Incomplete, st)
	}
	if d.LengthM["highway=residential"].Modified <= 0 {
		t.Errorf("length_m = %+v", d.LengthM)
	}
}

func TestAPIFillsTheStoreWithinTheBatchingBound(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	hist, cs := synth(43, 2000)
	ps := &PGStore{DB: db.Pool}
	if err := ps.Put(ctx, cs); err != nil { // only the changeset itself, as fetch leaves it
		t.Fatal(err)
	}
	api := newAPIServer(t, hist)
	client := apiClient(t, api.URL0())
	a := &Analyzer{Config: config.Default().Analyse, Store: ps, API: client, Log: quiet}
	in := Input{Meta: meta(map[string]string{"created_by": "iD", "changesets_count": "900"}), Elems: cs}
	d, st, err := a.Analyse(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	missing := len(hist)
	bound := (missing + 199) / 200
	if n := api.requests.Load(); n > int64(bound) || n == 0 {
		t.Errorf("%d API requests for %d missing elements; bound %d", n, missing, bound)
	}
	if api.maxURL.Load()+int64(len(api.URL)) >= 8000 {
		t.Errorf("URL of %d characters", api.maxURL.Load()+int64(len(api.URL)))
	}
	if !d.Complete || st.FromAPI != missing {
		t.Errorf("complete=%v (%s) stats=%+v, want %d from the API", d.Complete, d.Incomplete, st, missing)
	}
	// Everything fetched is now in the store: a second analysis asks nothing.
	before := api.requests.Load()
	d2, st2, err := a.Analyse(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if api.requests.Load() != before || st2.FromAPI != 0 || !d2.Complete {
		t.Errorf("second analysis: %d more requests, stats %+v", api.requests.Load()-before, st2)
	}
	var n int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM elements WHERE action IS NULL`).Scan(&n)
	if n != missing {
		t.Errorf("%d API versions stored, want %d", n, missing)
	}
}

func TestMissingVersionsMakeTheAnalysisIncomplete(t *testing.T) {
	ctx := context.Background()
	hist, cs := synth(44, 50)
	// The API lacks the first ten previous versions (404 on them; 410 alike).
	api := newAPIServer(t, hist[10:])
	a := &Analyzer{Config: config.Default().Analyse, Store: NewMemStore(nil), API: apiClient(t, api.URL0()), Log: quiet}
	d, st, err := a.Analyse(ctx, Input{Meta: meta(map[string]string{"created_by": "iD"}), Elems: cs})
	if err != nil {
		t.Fatalf("404 must not fail the analysis: %v", err)
	}
	if d.Complete || st.Missing == 0 || !strings.Contains(d.Incomplete, "unavailable") {
		t.Errorf("complete=%v incomplete=%q stats=%+v", d.Complete, d.Incomplete, st)
	}
}

func workerFor(t testing.TB, db *pgxpool.Pool, api API, users Users) *Worker {
	cfg := config.Default().Analyse
	cfg.RetryBackoff = 0
	cfg.MaxAttempts = 2
	rs, err := rules.Parse([]byte("labels:\n  - label: big-import\n    reason: possible_import\n  - label: warned\n    reason: [warning:crossing_ways]\n"), "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Worker{DB: db, Config: cfg, API: api, Users: users, Rules: rs, Log: quiet}
}

func TestWorkerAnalysesClaimsAndLabels(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	ps := &PGStore{DB: db.Pool}
	// 50: an import (closed): done, labelled big-import. 51: open, no reason: analysed.
	// 52: dropped: not touched.
	var imp []elements.Element
	for _, e := range nodes("create", 300, 1, map[string]string{"building": "yes"}) {
		e.Changeset = 50
		imp = append(imp, e)
	}
	ps.Put(ctx, imp)
	insertChangeset(t, db.Pool, 50, "filtered", false, map[string]string{"created_by": "JOSM/1.5", "comment": "buildings"})
	one := nodes("create", 1, 1000, nil)
	one[0].Changeset = 51
	ps.Put(ctx, one)
	insertChangeset(t, db.Pool, 51, "filtered", true, map[string]string{"created_by": "iD", "changesets_count": "10"})
	insertChangeset(t, db.Pool, 52, "dropped", false, map[string]string{})
	db.Pool.Exec(ctx, `INSERT INTO changeset_labels VALUES (50, 'big-import', 'analyse', '{}'), (50, 'stale', 'analyse', '{}'), (50, 'in-region', 'filter', '{}')`)

	api := newAPIServer(t, nil)
	c := apiClient(t, api.URL0())
	w := workerFor(t, db.Pool, c, c)
	st, err := w.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Analysed != 2 || st.Failed != 0 || st.Done != 1 {
		t.Fatalf("stats %+v", st)
	}
	states := map[int64]string{}
	rows, _ := db.Pool.Query(ctx, `SELECT id, state FROM changesets`)
	for rows.Next() {
		var id int64
		var s string
		rows.Scan(&id, &s)
		states[id] = s
	}
	if states[50] != "done" || states[51] != "analysed" || states[52] != "dropped" {
		t.Errorf("states %v", states)
	}
	var reasons []string
	var complete bool
	var geomType string
	var total int
	if err := db.Pool.QueryRow(ctx, `SELECT reasons, complete, GeometryType(geom), (doc->'counts'->>'total')::int FROM analyses WHERE changeset_id = 50`).Scan(&reasons, &complete, &geomType, &total); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reasons, []string{"possible_import"}) || !complete || geomType != "GEOMETRYCOLLECTION" || total != 300 {
		t.Errorf("analysis 50: reasons %v complete %v geom %s total %d", reasons, complete, geomType, total)
	}
	labels := map[string]string{}
	rows, _ = db.Pool.Query(ctx, `SELECT label, source FROM changeset_labels WHERE changeset_id = 50`)
	for rows.Next() {
		var l, s string
		rows.Scan(&l, &s)
		labels[l] = s
	}
	if len(labels) != 2 || labels["big-import"] != "analyse" || labels["in-region"] != "filter" {
		t.Errorf("labels %v (stale analyse labels are replaced, filter labels kept)", labels)
	}
	var ev string
	db.Pool.QueryRow(ctx, `SELECT evidence::text FROM changeset_labels WHERE changeset_id = 50 AND label = 'big-import'`).Scan(&ev)
	if !strings.Contains(ev, "possible_import") {
		t.Errorf("label evidence %s", ev)
	}
	// new_mapper for 51 from its changesets_count tag, no user lookup needed... but user
	// details are looked up (cached per day) for multiple_blocks: one request, then cached.
	var r51 []string
	db.Pool.QueryRow(ctx, `SELECT reasons FROM analyses WHERE changeset_id = 51`).Scan(&r51)
	if !slices.Equal(r51, []string{"new_mapper"}) {
		t.Errorf("analysis 51 reasons %v", r51)
	}

	// Nothing left to claim.
	if st, err := w.Run(ctx); err != nil || st.Analysed != 0 {
		t.Errorf("second run: %+v %v", st, err)
	}
	// New elements for the open changeset (last_seq moved): analysed again.
	more := nodes("create", 1, 2000, nil)
	more[0].Changeset = 51
	ps.Put(ctx, more)
	db.Pool.Exec(ctx, `UPDATE changesets SET last_seq = 101 WHERE id = 51`)
	if st, err := w.Run(ctx); err != nil || st.Analysed != 1 {
		t.Errorf("after new elements: %+v %v", st, err)
	}
	var total51 int
	db.Pool.QueryRow(ctx, `SELECT (doc->'counts'->>'total')::int FROM analyses WHERE changeset_id = 51`).Scan(&total51)
	if total51 != 2 {
		t.Errorf("re-analysis counted %d elements", total51)
	}
	// It closes: analysed after closing, so done.
	db.Pool.Exec(ctx, `UPDATE changesets SET open = false, closed_at = now() + interval '1 second', meta_updated_at = now() + interval '1 second' WHERE id = 51`)
	time.Sleep(1100 * time.Millisecond)
	if st, err := w.Run(ctx); err != nil || st.Done != 1 {
		t.Errorf("after closing: %+v %v", st, err)
	}
	var users int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM osm_users WHERE uid = 7`).Scan(&users)
	if users != 1 || api.requests.Load() != 1 {
		t.Errorf("user cache rows %d, API requests %d (user details once per day)", users, api.requests.Load())
	}
}

func TestWorkerFailureIsRetriedThenStays(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	ps := &PGStore{DB: db.Pool}
	// A modified node whose previous version only the (broken) API could give.
	hist, cs := synth(60, 10)
	_ = hist
	for i := range cs {
		cs[i].Changeset = 60
	}
	ps.Put(ctx, cs)
	insertChangeset(t, db.Pool, 60, "filtered", false, map[string]string{"created_by": "iD", "changesets_count": "100"})
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) }))
	defer broken.Close()
	w := workerFor(t, db.Pool, apiClient(t, broken.URL+"/api/0.6/"), nil)
	for attempt := 1; attempt <= 3; attempt++ {
		st, err := w.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var state, msg string
		var attempts int
		db.Pool.QueryRow(ctx, `SELECT state, coalesce(error, ''), attempts FROM changesets WHERE id = 60`).Scan(&state, &msg, &attempts)
		wantFailed := 1
		if attempt == 3 {
			wantFailed = 0 // max_attempts (2) reached: no longer claimed
		}
		if st.Failed != wantFailed || state != "failed" || !strings.Contains(msg, "HTTP 500") || attempts != min(attempt, 2) {
			t.Errorf("attempt %d: stats %+v state %s attempts %d error %q", attempt, st, state, attempts, msg)
		}
	}
	// The API recovers and the failure is retried by hand (attempts reset): analysed.
	api := newAPIServer(t, hist)
	w.API = apiClient(t, api.URL0())
	db.Pool.Exec(ctx, `UPDATE changesets SET attempts = 0 WHERE id = 60`)
	if st, err := w.Run(ctx); err != nil || st.Analysed != 1 {
		t.Fatalf("after recovery: %+v %v", st, err)
	}
	var state string
	var errCol *string
	db.Pool.QueryRow(ctx, `SELECT state, error FROM changesets WHERE id = 60`).Scan(&state, &errCol)
	if state != "done" || errCol != nil {
		t.Errorf("state %s error %v", state, errCol)
	}
}

func TestWorkerDeadline(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	_, cs := synth(70, 10)
	(&PGStore{DB: db.Pool}).Put(ctx, cs)
	insertChangeset(t, db.Pool, 70, "filtered", false, map[string]string{"created_by": "iD", "changesets_count": "100"})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	w := workerFor(t, db.Pool, apiClient(t, slow.URL+"/api/0.6/"), nil)
	w.Config.ChangesetDeadline = config.Duration(200 * time.Millisecond)
	st, err := w.Run(ctx)
	if err != nil || st.Failed != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	var msg string
	db.Pool.QueryRow(ctx, `SELECT error FROM changesets WHERE id = 70`).Scan(&msg)
	if !strings.Contains(msg, "deadline") {
		t.Errorf("error %q", msg)
	}
	_ = fmt.Sprint()
}
