package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/metrics"
)

// healthy fills db with a pipeline that is up to date at now: the minute pointer one minute
// behind, contiguous diffs, every step succeeded a minute ago.
func healthy(t *testing.T, db *pgxpool.Pool, now time.Time) {
	t.Helper()
	ctx := context.Background()
	dbtest.Exec(t, db, `UPDATE schema_migrations SET applied_at = $1`, now.Add(-24*time.Hour))
	dbtest.Exec(t, db, `INSERT INTO replication_state (name, feed, seq, seq_timestamp) VALUES ('minute', 'minute', 100, $1)`, now.Add(-time.Minute))
	for s := 90; s <= 100; s++ {
		dbtest.Exec(t, db, `INSERT INTO diffs (seq, seq_timestamp, bytes, elements, elements_kept, changesets, processing_ms) VALUES ($1, $2, 1, 1, 1, 1, 1)`,
			s, now.Add(time.Duration(s-101)*time.Minute))
	}
	for i, job := range []string{"fetch", "filter", "analyse", "publish"} {
		dbtest.Exec(t, db, `INSERT INTO job_runs (run_id, job, started_at, finished_at, outcome, items) VALUES ($1, $2, $3, $4, 'ok', 3)`,
			"ok"+job, job, now.Add(-2*time.Minute), now.Add(-time.Minute))
		dbtest.Exec(t, db, `INSERT INTO job_runs (run_id, job, started_at, finished_at, outcome) VALUES ($1, $2, $3, $4, 'ok')`,
			"old"+job, job, now.Add(-time.Hour), now.Add(-time.Hour+time.Second))
		_ = i
	}
	dbtest.Exec(t, db, `INSERT INTO changesets (id, state) VALUES (1, 'new'), (2, 'filtered'), (3, 'done'), (4, 'done')`)
	dbtest.Exec(t, db, `INSERT INTO changesets (id, state, error, attempts, updated_at) VALUES (5, 'failed', 'api: 509 bandwidth', 2, $1), (6, 'failed', 'deadline', 5, $2)`,
		now.Add(-time.Hour), now.Add(-time.Minute))
	_ = ctx
}

func statusAt(t *testing.T, db *pgxpool.Pool, now time.Time, opts Options) *Report {
	t.Helper()
	opts.Now = func() time.Time { return now }
	r, err := Collect(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestStatusHealthy(t *testing.T) {
	db := dbtest.PG(t)
	now := time.Now().UTC().Truncate(time.Second)
	healthy(t, db.Pool, now)
	head := func(ctx context.Context) (uint64, time.Time, error) { return 103, now, nil }
	r := statusAt(t, db.Pool, now, Options{Heads: map[string]HeadFunc{"minute": head}})
	if !r.Healthy || len(r.Problems) != 0 {
		t.Fatalf("healthy pipeline reported problems: %q", r.Problems)
	}
	if len(r.Pointers) != 1 || r.Pointers[0].Name != "minute" || !r.Pointers[0].Live {
		t.Fatalf("pointers = %+v", r.Pointers)
	}
	if p := r.Pointers[0]; p.LagSeconds == nil || *p.LagSeconds != 60 || p.BehindHead == nil || *p.BehindHead != 3 {
		t.Errorf("minute pointer lag/behind = %v/%v, want 60/3", p.LagSeconds, p.BehindHead)
	}
	if r.Changesets["new"] != 1 || r.Changesets["done"] != 2 || r.Changesets["failed"] != 2 || r.Changesets["dropped"] != 0 {
		t.Errorf("changesets = %v", r.Changesets)
	}
	if len(r.Failed) != 2 || r.Failed[0].ID != 6 || r.Failed[0].Error != "deadline" || r.Failed[1].Attempts != 2 {
		t.Errorf("failed = %+v (want newest first)", r.Failed)
	}
	if len(r.Jobs) != 4 {
		t.Fatalf("jobs = %+v", r.Jobs)
	}
	for _, j := range r.Jobs {
		if j.LastRun == nil || j.LastRun.RunID != "ok"+j.Job || j.LastRun.Outcome != "ok" || j.LastSuccess == nil || !j.LastSuccess.Equal(now.Add(-time.Minute)) || j.Overdue {
			t.Errorf("job %s: %+v", j.Job, j)
		}
	}
	if !r.Database.Reachable || r.Database.SchemaVersion != r.Database.ExpectedSchemaVersion {
		t.Errorf("database = %+v", r.Database)
	}
	var text bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"minute (live)", "gaps in diffs  none", "failed 6", "healthy"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

func TestStatusProblems(t *testing.T) {
	db := dbtest.PG(t)
	now := time.Now().UTC().Truncate(time.Second)
	healthy(t, db.Pool, now)

	t.Run("gap", func(t *testing.T) {
		dbtest.Exec(t, db.Pool, `DELETE FROM diffs WHERE seq IN (93, 95, 96)`)
		defer dbtest.Exec(t, db.Pool, `INSERT INTO diffs (seq, seq_timestamp, bytes, elements, elements_kept, changesets, processing_ms)
			SELECT s, now(), 1, 1, 1, 1, 1 FROM unnest(ARRAY[93, 95, 96]) s`)
		r := statusAt(t, db.Pool, now, Options{})
		if r.Healthy || r.GapsTotal != 2 || len(r.Gaps) != 2 || r.Gaps[0] != (Gap{93, 93}) || r.Gaps[1] != (Gap{95, 96}) {
			t.Fatalf("gaps = %d %+v, healthy %v", r.GapsTotal, r.Gaps, r.Healthy)
		}
		if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "93, 95-96") {
			t.Errorf("problems = %q", r.Problems)
		}
	})
	t.Run("lag", func(t *testing.T) {
		r := statusAt(t, db.Pool, now.Add(20*time.Minute), Options{ExpectedIntervals: map[string]time.Duration{}})
		if r.Healthy || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "pointer minute lags 21m0s (max 15m0s)") {
			t.Fatalf("problems = %q", r.Problems)
		}
		// A backfill pointer far behind is reported, never a problem.
		dbtest.Exec(t, db.Pool, `INSERT INTO replication_state (name, feed, seq, seq_timestamp) VALUES ('backfill-1', 'minute', 10, $1)`, now.Add(-48*time.Hour))
		defer dbtest.Exec(t, db.Pool, `DELETE FROM replication_state WHERE name = 'backfill-1'`)
		r = statusAt(t, db.Pool, now, Options{})
		if !r.Healthy || len(r.Pointers) != 2 || r.Pointers[0].Name != "backfill-1" || r.Pointers[0].Live {
			t.Fatalf("backfill pointer: healthy %v, %q, %+v", r.Healthy, r.Problems, r.Pointers)
		}
	})
	t.Run("overdue", func(t *testing.T) {
		dbtest.Exec(t, db.Pool, `INSERT INTO job_runs (run_id, job, started_at, finished_at, outcome, message) VALUES ('f1', 'publish', $1, $1, 'failed', 'write site: disk full')`, now)
		defer dbtest.Exec(t, db.Pool, `DELETE FROM job_runs WHERE run_id = 'f1'`)
		r := statusAt(t, db.Pool, now.Add(3*time.Minute), Options{MaxLag: time.Hour})
		if !r.Healthy {
			t.Fatalf("4 minutes after the last success: %q", r.Problems)
		}
		r = statusAt(t, db.Pool, now.Add(7*time.Minute), Options{MaxLag: time.Hour})
		if r.Healthy || len(r.Problems) != 2 || !strings.Contains(r.Problems[0], "job fetch last succeeded 8m0s ago (expected every 5m0s); last run ok") {
			t.Fatalf("8 minutes after: %q", r.Problems)
		}
		r = statusAt(t, db.Pool, now.Add(10*time.Minute), Options{MaxLag: time.Hour})
		var overdue []string
		for _, j := range r.Jobs {
			if j.Overdue {
				overdue = append(overdue, j.Job)
			}
		}
		if strings.Join(overdue, ",") != "analyse,fetch,filter,publish" {
			t.Fatalf("overdue = %v; problems %q", overdue, r.Problems)
		}
		found := false
		for _, p := range r.Problems {
			found = found || strings.Contains(p, "job publish last succeeded 11m0s ago (expected every 10m0s); last run failed: write site: disk full")
		}
		if !found {
			t.Errorf("problems = %q", r.Problems)
		}
	})
	t.Run("never run", func(t *testing.T) {
		opts := Options{ExpectedIntervals: map[string]time.Duration{"prune": 26 * time.Hour, "fetch": 0}}
		r := statusAt(t, db.Pool, now, opts)
		if !r.Healthy {
			t.Fatalf("within the grace after install: %q", r.Problems)
		}
		var prune *JobStatus
		for i := range r.Jobs {
			if r.Jobs[i].Job == "prune" {
				prune = &r.Jobs[i]
			}
		}
		if prune == nil || prune.LastRun != nil || prune.Overdue || *prune.ExpectedIntervalSeconds != 26*3600 {
			t.Fatalf("prune = %+v", prune)
		}
		r = statusAt(t, db.Pool, now.Add(3*time.Hour), Options{MaxLag: 24 * time.Hour, ExpectedIntervals: opts.ExpectedIntervals})
		if r.Healthy || len(r.Problems) != 1 || r.Problems[0] != "job prune has never run (expected every 26h0m0s)" {
			t.Fatalf("problems = %q", r.Problems)
		}
	})
	t.Run("services down", func(t *testing.T) {
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
		defer down.Close()
		head := func(ctx context.Context) (uint64, time.Time, error) { return 0, time.Time{}, errors.New("planet: 503") }
		r := statusAt(t, db.Pool, now, Options{InfluxURL: down.URL, Heads: map[string]HeadFunc{"minute": head}})
		if r.Healthy || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "influxdb is not reachable") {
			t.Fatalf("problems = %q", r.Problems)
		}
		if len(r.Heads) != 1 || r.Heads[0].Error != "planet: 503" || r.Heads[0].Seq != nil || r.Pointers[0].BehindHead != nil {
			t.Errorf("heads = %+v", r.Heads)
		}
		bad, _ := pgxpool.New(context.Background(), "postgres://nobody:x@127.0.0.1:1/none?connect_timeout=2")
		defer bad.Close()
		r = statusAt(t, bad, now, Options{})
		if r.Healthy || r.Database.Reachable || len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0], "database is not reachable") {
			t.Fatalf("unreachable database: %+v", r)
		}
		checkSchema(t, r)
	})
}

func TestStatusInfluxReachable(t *testing.T) {
	u := dbtest.Require(t, dbtest.EnvInflux)[0]
	db := dbtest.PG(t)
	now := time.Now().UTC()
	healthy(t, db.Pool, now)
	r := statusAt(t, db.Pool, now, Options{InfluxURL: u})
	if !r.InfluxDB.Configured || !r.InfluxDB.Reachable || !r.Healthy {
		t.Fatalf("influx %+v, problems %q", r.InfluxDB, r.Problems)
	}
	checkSchema(t, r)
}

func TestStatusJSONSchema(t *testing.T) {
	db := dbtest.PG(t)
	now := time.Now().UTC()
	healthy(t, db.Pool, now)
	dbtest.Exec(t, db.Pool, `DELETE FROM diffs WHERE seq = 95`)
	dbtest.Exec(t, db.Pool, `INSERT INTO job_runs (run_id, job, started_at, outcome) VALUES ('r1', 'prune', now(), 'running')`)
	head := func(ctx context.Context) (uint64, time.Time, error) { return 103, now, nil }
	r := statusAt(t, db.Pool, now.Add(time.Hour), Options{Heads: map[string]HeadFunc{"minute": head}})
	if r.Healthy {
		t.Fatal("want problems")
	}
	checkSchema(t, r)
	// An empty database: every array is [] (never null) and every state is counted.
	empty := dbtest.PG(t)
	r = statusAt(t, empty.Pool, now, Options{})
	b := checkSchema(t, r)
	for _, want := range []string{`"pointers": []`, `"gaps": []`, `"failed": []`, `"heads": []`, `"dropped": 0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("empty report lacks %s:\n%s", want, b)
		}
	}
}

// checkSchema validates the report's JSON against docs/status.schema.json.
func checkSchema(t *testing.T, r *Report) []byte {
	t.Helper()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	ValidateStatusJSON(t, b)
	return b
}

// ValidateStatusJSON fails t when b does not validate against docs/status.schema.json.
func ValidateStatusJSON(t testing.TB, b []byte) {
	t.Helper()
	raw, err := os.ReadFile("../../docs/status.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("status.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("status.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("status JSON does not validate against docs/status.schema.json: %v\n%s", err, b)
	}
}

func TestHeads(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/minute/state.txt":
			w.Write([]byte("#Sat Nov 21 12:00:02 UTC 2026\nsequenceNumber=6123456\ntimestamp=2026-11-21T12\\:00\\:00Z\n"))
		case "/changesets/state.yaml":
			w.Write([]byte("---\nlast_run: 2026-11-21 12:00:01.000000000 +00:00\nsequence: 5900000\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	heads := FeedHeads(config.OSM{ReplicationURL: srv.URL + "/minute/", ChangesetReplicationURL: srv.URL + "/changesets/"}, "test", slog.New(slog.DiscardHandler))
	if seq, ts, err := heads["minute"](ctx); err != nil || seq != 6123456 || !ts.Equal(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("minute head = %d %v %v", seq, ts, err)
	}
	if seq, _, err := heads["changesets"](ctx); err != nil || seq != 5900001 {
		t.Errorf("changesets head = %d %v", seq, err)
	}
	missing := FeedHeads(config.OSM{ReplicationURL: srv.URL + "/nowhere/"}, "test", slog.New(slog.DiscardHandler))
	if _, _, err := missing["minute"](ctx); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing state.txt: %v", err)
	}
}

func TestStatusNoSchema(t *testing.T) {
	bare := dbtest.Bare(t)
	r := statusAt(t, bare.Pool, time.Now(), Options{})
	if r.Healthy || len(r.Problems) != 1 || r.Problems[0] != "database has no osmtrack schema: run osmtrack migrate" {
		t.Fatalf("problems = %q", r.Problems)
	}
	checkSchema(t, r)
}

// Publish runs with the read-only role: its runs are only job_run points in InfluxDB.
func TestStatusJobRunsFromInflux(t *testing.T) {
	db := dbtest.PG(t)
	ix := dbtest.InfluxDB(t)
	now := time.Now().UTC().Truncate(time.Second)
	healthy(t, db.Pool, now)
	dbtest.Exec(t, db.Pool, `DELETE FROM job_runs WHERE job = 'publish'`)
	rec := metrics.New(config.Metrics{URL: ix.URL, Token: ix.Token, Bucket: ix.Bucket, Timeout: config.Duration(5 * time.Second)}, slog.New(slog.DiscardHandler), nil)
	ctx := context.Background()
	point := func(outcome string, end time.Time, items int) {
		rec.Point(ctx, "job_run", map[string]string{"job": "publish", "outcome": outcome}, map[string]any{"duration_seconds": 4.0, "items": items, "errors": 0}, end)
	}
	point("ok", now.Add(-20*time.Minute), 10)
	point("ok", now.Add(-3*time.Minute), 12)
	point("failed", now.Add(-time.Minute), 0)
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	opts := Options{InfluxURL: ix.URL, InfluxToken: ix.Token, InfluxBucket: ix.Bucket}
	r := statusAt(t, db.Pool, now, opts)
	var pub *JobStatus
	for i := range r.Jobs {
		if r.Jobs[i].Job == "publish" {
			pub = &r.Jobs[i]
		}
	}
	if pub == nil || pub.Source != "influxdb" || pub.LastRun == nil || pub.LastRun.Outcome != "failed" || !pub.LastRun.FinishedAt.Equal(now.Add(-time.Minute)) ||
		!pub.LastRun.StartedAt.Equal(now.Add(-time.Minute-4*time.Second)) || pub.LastSuccess == nil || !pub.LastSuccess.Equal(now.Add(-3*time.Minute)) {
		t.Fatalf("publish = %+v (last run %+v)", pub, pub.LastRun)
	}
	if !r.Healthy {
		t.Fatalf("problems: %q", r.Problems)
	}
	checkSchema(t, r)
	r = statusAt(t, db.Pool, now.Add(8*time.Minute), Options{InfluxURL: ix.URL, InfluxToken: ix.Token, InfluxBucket: ix.Bucket, MaxLag: time.Hour,
		ExpectedIntervals: map[string]time.Duration{"publish": 10 * time.Minute}})
	if r.Healthy || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "job publish last succeeded 11m0s ago (expected every 10m0s); last run failed") {
		t.Fatalf("problems: %q", r.Problems)
	}
	// Without the bucket (or InfluxDB) publish is a job that never ran.
	r = statusAt(t, db.Pool, now, Options{InfluxURL: ix.URL})
	for _, j := range r.Jobs {
		if j.Job == "publish" && (j.LastRun != nil || j.Source != "") {
			t.Errorf("publish without the bucket: %+v", j)
		}
	}
}

// The example in docs/operations.md validates against the schema too.
func TestStatusDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i := strings.Index(s, "```json\n")
	if i < 0 {
		t.Fatal("docs/operations.md has no JSON example")
	}
	s = s[i+len("```json\n"):]
	s = s[:strings.Index(s, "```")]
	ValidateStatusJSON(t, []byte(s))
	var r Report
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Jobs) != 3 || r.Jobs[1].Source != "influxdb" {
		t.Errorf("example jobs = %+v", r.Jobs)
	}
}

// A pointer dated in the future (a bad state file an older fetch accepted) is a problem, not a
// healthy negative lag; a pointer ahead of its feed's head is a warning.
func TestStatusFuturePointerAndHeadBehind(t *testing.T) {
	db := dbtest.PG(t)
	now := time.Now().UTC().Truncate(time.Second)
	healthy(t, db.Pool, now)
	dbtest.Exec(t, db.Pool, `UPDATE replication_state SET seq_timestamp = '2099-01-01T00:00:00Z' WHERE name = 'minute'`)
	head := func(ctx context.Context) (uint64, time.Time, error) { return 97, now, nil }
	r := statusAt(t, db.Pool, now, Options{Heads: map[string]HeadFunc{"minute": head}})
	if r.Healthy || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "pointer minute is dated 2099-01-01T00:00:00Z") ||
		!strings.Contains(r.Problems[0], "in the future") || !strings.Contains(r.Problems[0], "--reset-to") {
		t.Errorf("problems = %q", r.Problems)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "pointer minute is at 100, 3 ahead of the minute feed's head 97") {
		t.Errorf("warnings = %q", r.Warnings)
	}
	var text bytes.Buffer
	WriteText(&text, r)
	if !strings.Contains(text.String(), "warnings:\n  - pointer minute is at 100") {
		t.Errorf("text report lacks the warning:\n%s", text.String())
	}
}
