// Package status builds osmtrack's status report: replication pointers against their feeds'
// heads, gaps, changeset states, job runs (from PostgreSQL and InfluxDB) and the problems that
// make `status --strict` fail. `osmtrack status` prints it and publish renders its status page
// from it.
package status

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/store"
)

// ChangesetStates are the states of the changesets table, in pipeline order.
var ChangesetStates = []string{"new", "filtered", "dropped", "analysed", "done", "failed"}

// DefaultExpectedIntervals is how often each step must succeed for `status --strict` to pass.
var DefaultExpectedIntervals = map[string]time.Duration{
	"fetch":   5 * time.Minute,
	"filter":  5 * time.Minute,
	"analyse": 10 * time.Minute,
	"publish": 10 * time.Minute,
}

// Report is the state of the pipeline: `osmtrack status` prints it (text or JSON), and
// publish renders its status page from it. docs/operations.md documents the JSON shape and
// docs/status.schema.json is its JSON Schema.
type Report struct {
	GeneratedAt   time.Time         `json:"generated_at"`
	Healthy       bool              `json:"healthy"`  // no problems: `status --strict` exits 0
	Problems      []string          `json:"problems"` // why `status --strict` fails; never null
	Warnings      []string          `json:"warnings"` // worth a look, not a failure; never null
	MaxLagSeconds float64           `json:"max_lag_seconds"`
	Database      DatabaseStatus    `json:"database"`
	InfluxDB      InfluxStatus      `json:"influxdb"`
	Heads         []FeedHead        `json:"heads"`    // the feeds' heads, when a fetcher was given
	Pointers      []PointerStatus   `json:"pointers"` // replication_state, by name
	Gaps          []Gap             `json:"gaps"`     // holes in diffs.seq (at most GapLimit)
	GapsTotal     int               `json:"gaps_total"`
	Changesets    map[string]int64  `json:"changesets"` // state → count; every state present
	Failed        []FailedChangeset `json:"failed"`     // latest failed changesets, newest first
	Jobs          []JobStatus       `json:"jobs"`       // by job name
}

// DatabaseStatus says whether PostGIS answered and which schema it holds.
type DatabaseStatus struct {
	Reachable             bool   `json:"reachable"`
	Error                 string `json:"error,omitempty"`
	SchemaVersion         int    `json:"schema_version"`          // highest applied migration
	ExpectedSchemaVersion int    `json:"expected_schema_version"` // the binary's
}

// InfluxStatus says whether InfluxDB answered its /ping.
type InfluxStatus struct {
	Configured bool   `json:"configured"`
	Reachable  bool   `json:"reachable"`
	Error      string `json:"error,omitempty"`
}

// FeedHead is the newest sequence a replication feed offers.
type FeedHead struct {
	Feed      string     `json:"feed"` // "minute" or "changesets"
	Seq       *uint64    `json:"seq"`
	Timestamp *time.Time `json:"timestamp"`
	Error     string     `json:"error,omitempty"`
}

// PointerStatus is one row of replication_state.
type PointerStatus struct {
	Name         string     `json:"name"`
	Feed         string     `json:"feed"`
	Seq          int64      `json:"seq"`
	SeqTimestamp *time.Time `json:"seq_timestamp"`
	UpdatedAt    time.Time  `json:"updated_at"`
	LagSeconds   *float64   `json:"lag_seconds"` // now − seq_timestamp; null without a timestamp
	BehindHead   *int64     `json:"behind_head"` // head seq − seq; null when the head is unknown
	Live         bool       `json:"live"`        // a live pointer: its lag is checked
}

// Gap is a hole in diffs: the sequences From..To (inclusive) were never applied.
type Gap struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// FailedChangeset is a changeset in state failed.
type FailedChangeset struct {
	ID            int64      `json:"id"`
	Error         string     `json:"error"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// JobRun is one row of job_runs.
type JobRun struct {
	RunID      string     `json:"run_id"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Outcome    string     `json:"outcome"` // running, ok, failed, skipped, interrupted
	Items      int        `json:"items"`
	Errors     int        `json:"errors"`
	Message    string     `json:"message,omitempty"`
}

// JobStatus is a step's last run and last success.
type JobStatus struct {
	Job                     string     `json:"job"`
	ExpectedIntervalSeconds *float64   `json:"expected_interval_seconds"` // null: not checked
	LastRun                 *JobRun    `json:"last_run"`                  // null: never run
	Source                  string     `json:"source"`                    // where the runs were found: "job_runs", "influxdb" or "" (none)
	LastSuccess             *time.Time `json:"last_success"`              // finished_at of the last ok run
	Overdue                 bool       `json:"overdue"`                   // no success within the interval
}

// HeadFunc fetches the head (sequence and timestamp) of a replication feed.
type HeadFunc func(ctx context.Context) (seq uint64, ts time.Time, err error)

// Options configures Status. Every field is optional.
type Options struct {
	// Heads fetch the head of each feed ("minute", "changesets"); nil entries are skipped.
	Heads map[string]HeadFunc
	// InfluxURL is pinged (GET /ping, which needs no credentials) when not empty.
	InfluxURL string
	// InfluxToken ("user:password" for 1.8, a token for 2.x) and InfluxBucket ("db/rp") let
	// Status read the job_run points of a job with an expected interval that has no job_runs
	// rows: publish runs with the read-only role and records its runs only there.
	InfluxToken  string
	InfluxBucket string
	// MaxLag is the lag of a live pointer beyond which the report has a problem (default 15m).
	MaxLag time.Duration
	// LivePointers are the pointers whose lag is checked (default "minute"). Other pointers,
	// such as backfills, are reported but never make a problem.
	LivePointers []string
	// RequiredPointers must exist once the schema is older than MaxLag (default "minute").
	RequiredPointers []string
	// ExpectedIntervals is how often each job must succeed (default DefaultExpectedIntervals);
	// a zero or negative interval turns the check off for that job.
	ExpectedIntervals map[string]time.Duration
	// FailedLimit is how many failed changesets are listed (default 20); GapLimit how many gaps (default 100).
	FailedLimit int
	GapLimit    int
	// HTTPClient is used for the InfluxDB ping (default: 5 s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.MaxLag <= 0 {
		o.MaxLag = 15 * time.Minute
	}
	if o.LivePointers == nil {
		o.LivePointers = []string{"minute"}
	}
	if o.RequiredPointers == nil {
		o.RequiredPointers = []string{"minute"}
	}
	if o.ExpectedIntervals == nil {
		o.ExpectedIntervals = DefaultExpectedIntervals
	}
	if o.FailedLimit <= 0 {
		o.FailedLimit = 20
	}
	if o.GapLimit <= 0 {
		o.GapLimit = 100
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Status builds the report. Failures to reach PostGIS, InfluxDB or a feed are part of the
// report (as problems, or as a head's error), not errors: the returned error is non-nil only
// when ctx ends.
func Collect(ctx context.Context, db *pgxpool.Pool, opts Options) (*Report, error) {
	opts.defaults()
	now := opts.Now().UTC()
	r := &Report{
		GeneratedAt:   now,
		Problems:      []string{},
		Warnings:      []string{},
		MaxLagSeconds: opts.MaxLag.Seconds(),
		Heads:         []FeedHead{},
		Pointers:      []PointerStatus{},
		Gaps:          []Gap{},
		Changesets:    map[string]int64{},
		Failed:        []FailedChangeset{},
		Jobs:          []JobStatus{},
	}
	r.Database.ExpectedSchemaVersion = store.LatestVersion()
	for _, s := range ChangesetStates {
		r.Changesets[s] = 0
	}

	// Heads first: they do not need the database.
	feeds := make([]string, 0, len(opts.Heads))
	for f, fn := range opts.Heads {
		if fn != nil {
			feeds = append(feeds, f)
		}
	}
	sort.Strings(feeds)
	heads := map[string]uint64{}
	for _, f := range feeds {
		h := FeedHead{Feed: f}
		seq, ts, err := opts.Heads[f](ctx)
		if err != nil {
			h.Error = err.Error()
		} else {
			ts = ts.UTC()
			h.Seq, h.Timestamp = &seq, &ts
			heads[f] = seq
		}
		r.Heads = append(r.Heads, h)
	}

	r.InfluxDB = pingInflux(ctx, opts)
	if r.InfluxDB.Configured && !r.InfluxDB.Reachable {
		r.problem("influxdb is not reachable: %s", r.InfluxDB.Error)
	}

	if db == nil {
		r.Database.Error = "no database configured"
		r.problem("database is not reachable: %s", r.Database.Error)
		return r.finish(ctx)
	}
	if err := db.Ping(ctx); err != nil {
		r.Database.Error = err.Error()
		r.problem("database is not reachable: %v", err)
		return r.finish(ctx)
	}
	r.Database.Reachable = true
	if v, err := store.SchemaVersion(ctx, db); err != nil {
		r.problem("database: schema version: %v", err)
	} else {
		r.Database.SchemaVersion = v
		if v == 0 {
			r.problem("database has no osmtrack schema: run osmtrack migrate")
			return r.finish(ctx)
		}
		if v < r.Database.ExpectedSchemaVersion {
			r.problem("database schema is version %d, this binary expects %d: run osmtrack migrate", v, r.Database.ExpectedSchemaVersion)
		}
	}
	// Since when the schema exists: a job that never ran or a missing live pointer is only a
	// problem once the database is older than the job's interval (a fresh install has grace).
	var since *time.Time
	_ = db.QueryRow(ctx, `SELECT min(applied_at) FROM schema_migrations`).Scan(&since)

	r.pointers(ctx, db, opts, heads, now, since)
	r.gaps(ctx, db, opts)
	r.changesets(ctx, db, opts)
	r.jobs(ctx, db, opts, now, since)
	return r.finish(ctx)
}

func (r *Report) finish(ctx context.Context) (*Report, error) {
	if err := ctx.Err(); err != nil {
		return r, err
	}
	r.Healthy = len(r.Problems) == 0
	return r, nil
}

func (r *Report) warning(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *Report) pointers(ctx context.Context, db *pgxpool.Pool, opts Options, heads map[string]uint64, now time.Time, since *time.Time) {
	rows, err := db.Query(ctx, `SELECT name, feed, seq, seq_timestamp, updated_at FROM replication_state ORDER BY name`)
	if err != nil {
		r.problem("database: replication_state: %v", err)
		return
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PointerStatus, error) {
		var p PointerStatus
		err := row.Scan(&p.Name, &p.Feed, &p.Seq, &p.SeqTimestamp, &p.UpdatedAt)
		return p, err
	})
	if err != nil {
		r.problem("database: replication_state: %v", err)
		return
	}
	live := map[string]bool{}
	for _, n := range opts.LivePointers {
		live[n] = true
	}
	seen := map[string]bool{}
	for i := range ps {
		p := &ps[i]
		seen[p.Name] = true
		p.Live = live[p.Name]
		p.UpdatedAt = p.UpdatedAt.UTC()
		if p.SeqTimestamp != nil {
			t := p.SeqTimestamp.UTC()
			p.SeqTimestamp = &t
			lag := now.Sub(t).Seconds()
			p.LagSeconds = &lag
		}
		if h, ok := heads[p.Feed]; ok {
			b := int64(h) - p.Seq
			p.BehindHead = &b
			if b < 0 {
				// The feed went back (a restored or replaced server, another feed behind the
				// same URL): fetch waits until the head passes the pointer.
				r.warning("pointer %s is at %d, %d ahead of the %s feed's head %d: fetch waits until the head passes it (another feed at the URL, or the server restored?)",
					p.Name, p.Seq, -b, p.Feed, h)
			}
		}
		// A time in the future (a bad state file accepted by an older fetch) makes every later
		// diff look like it goes backwards: fetch is stuck until the pointer is repaired.
		if p.LagSeconds != nil && *p.LagSeconds < -60 {
			r.problem("pointer %s is dated %s, %s in the future: repair it with osmtrack fetch --pointer %s --reset-to SEQ --confirm-reset (docs/operations.md)",
				p.Name, p.SeqTimestamp.Format(time.RFC3339), roundDur(-*p.LagSeconds), p.Name)
		}
		if p.Live {
			switch {
			case p.LagSeconds == nil:
				r.problem("pointer %s has no sequence timestamp", p.Name)
			case *p.LagSeconds > opts.MaxLag.Seconds():
				r.problem("pointer %s lags %s (max %s)", p.Name, roundDur(*p.LagSeconds), opts.MaxLag)
			}
		}
	}
	r.Pointers = ps
	for _, n := range opts.RequiredPointers {
		if !seen[n] && since != nil && now.Sub(*since) > opts.MaxLag {
			r.problem("pointer %s does not exist: fetch has never run for it", n)
		}
	}
}

func (r *Report) gaps(ctx context.Context, db *pgxpool.Pool, opts Options) {
	rows, err := db.Query(ctx, `
		SELECT seq + 1, next - 1, count(*) OVER ()
		FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS next FROM diffs) d
		WHERE next > seq + 1
		ORDER BY seq
		LIMIT $1`, opts.GapLimit)
	if err != nil {
		r.problem("database: diffs: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var g Gap
		if err := rows.Scan(&g.From, &g.To, &r.GapsTotal); err != nil {
			r.problem("database: diffs: %v", err)
			return
		}
		r.Gaps = append(r.Gaps, g)
	}
	if err := rows.Err(); err != nil {
		r.problem("database: diffs: %v", err)
		return
	}
	if r.GapsTotal > 0 {
		var parts []string
		for i, g := range r.Gaps {
			if i == 5 {
				parts = append(parts, "…")
				break
			}
			if g.From == g.To {
				parts = append(parts, fmt.Sprint(g.From))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d", g.From, g.To))
			}
		}
		r.problem("%d gap(s) in diffs: %s (backfill them: docs/operations.md)", r.GapsTotal, strings.Join(parts, ", "))
	}
}

func (r *Report) changesets(ctx context.Context, db *pgxpool.Pool, opts Options) {
	rows, err := db.Query(ctx, `SELECT state, count(*) FROM changesets GROUP BY state`)
	if err != nil {
		r.problem("database: changesets: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			r.problem("database: changesets: %v", err)
			return
		}
		r.Changesets[s] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		r.problem("database: changesets: %v", err)
		return
	}
	frows, err := db.Query(ctx, `SELECT id, coalesce(error, ''), attempts, next_attempt_at, updated_at
		FROM changesets WHERE state = 'failed' ORDER BY updated_at DESC, id DESC LIMIT $1`, opts.FailedLimit)
	if err != nil {
		r.problem("database: failed changesets: %v", err)
		return
	}
	fs, err := pgx.CollectRows(frows, func(row pgx.CollectableRow) (FailedChangeset, error) {
		var f FailedChangeset
		err := row.Scan(&f.ID, &f.Error, &f.Attempts, &f.NextAttemptAt, &f.UpdatedAt)
		f.UpdatedAt = f.UpdatedAt.UTC()
		if f.NextAttemptAt != nil {
			t := f.NextAttemptAt.UTC()
			f.NextAttemptAt = &t
		}
		return f, err
	})
	if err != nil {
		r.problem("database: failed changesets: %v", err)
		return
	}
	r.Failed = fs
}

func (r *Report) jobs(ctx context.Context, db *pgxpool.Pool, opts Options, now time.Time, since *time.Time) {
	byJob := map[string]*JobStatus{}
	get := func(job string) *JobStatus {
		if j, ok := byJob[job]; ok {
			return j
		}
		j := &JobStatus{Job: job}
		byJob[job] = j
		return j
	}
	for job, iv := range opts.ExpectedIntervals {
		j := get(job)
		if iv > 0 {
			s := iv.Seconds()
			j.ExpectedIntervalSeconds = &s
		}
	}
	rows, err := db.Query(ctx, `SELECT DISTINCT ON (job) job, run_id, started_at, finished_at, outcome, items, errors, coalesce(message, '')
		FROM job_runs ORDER BY job, started_at DESC`)
	if err != nil {
		r.problem("database: job_runs: %v", err)
		return
	}
	for rows.Next() {
		var job string
		var jr JobRun
		if err := rows.Scan(&job, &jr.RunID, &jr.StartedAt, &jr.FinishedAt, &jr.Outcome, &jr.Items, &jr.Errors, &jr.Message); err != nil {
			rows.Close()
			r.problem("database: job_runs: %v", err)
			return
		}
		jr.StartedAt = jr.StartedAt.UTC()
		if jr.FinishedAt != nil {
			t := jr.FinishedAt.UTC()
			jr.FinishedAt = &t
		}
		get(job).LastRun = &jr
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		r.problem("database: job_runs: %v", err)
		return
	}
	srows, err := db.Query(ctx, `SELECT job, max(coalesce(finished_at, started_at)) FROM job_runs WHERE outcome = 'ok' GROUP BY job`)
	if err != nil {
		r.problem("database: job_runs: %v", err)
		return
	}
	for srows.Next() {
		var job string
		var t time.Time
		if err := srows.Scan(&job, &t); err != nil {
			srows.Close()
			r.problem("database: job_runs: %v", err)
			return
		}
		t = t.UTC()
		get(job).LastSuccess = &t
	}
	srows.Close()
	if err := srows.Err(); err != nil {
		r.problem("database: job_runs: %v", err)
		return
	}
	names := make([]string, 0, len(byJob))
	for n := range byJob {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		j := byJob[n]
		if j.LastRun != nil {
			j.Source = "job_runs"
			continue
		}
		if j.ExpectedIntervalSeconds == nil || !r.InfluxDB.Reachable || opts.InfluxBucket == "" {
			continue
		}
		last, lastOK, err := influxJobRuns(ctx, opts, n)
		if err != nil {
			r.problem("influxdb: job_run points of %s: %v", n, err)
			continue
		}
		if last != nil {
			j.LastRun, j.LastSuccess, j.Source = last, lastOK, "influxdb"
		}
	}
	for _, n := range names {
		j := byJob[n]
		if j.ExpectedIntervalSeconds != nil {
			iv := time.Duration(*j.ExpectedIntervalSeconds * float64(time.Second))
			switch {
			case j.LastSuccess != nil:
				if now.Sub(*j.LastSuccess) > iv {
					j.Overdue = true
					r.problem("job %s last succeeded %s ago (expected every %s)%s", n, roundDur(now.Sub(*j.LastSuccess).Seconds()), iv, lastOutcome(j.LastRun))
				}
			case j.LastRun != nil:
				// Runs, none successful: overdue once the first run is older than the interval.
				if now.Sub(j.LastRun.StartedAt) > iv || j.LastRun.Outcome == "failed" {
					j.Overdue = true
					r.problem("job %s has never succeeded%s", n, lastOutcome(j.LastRun))
				}
			default:
				// Never run: a problem once the schema has existed for longer than the interval.
				if since == nil || now.Sub(*since) > iv {
					j.Overdue = true
					r.problem("job %s has never run (expected every %s)", n, iv)
				}
			}
		}
		r.Jobs = append(r.Jobs, *j)
	}
}

func lastOutcome(jr *JobRun) string {
	if jr == nil {
		return ""
	}
	s := "; last run " + jr.Outcome
	if jr.Message != "" {
		msg := jr.Message
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		s += ": " + msg
	}
	return s
}

func roundDur(sec float64) time.Duration {
	return time.Duration(sec * float64(time.Second)).Round(time.Second)
}

func pingInflux(ctx context.Context, opts Options) InfluxStatus {
	var s InfluxStatus
	if opts.InfluxURL == "" {
		return s
	}
	s.Configured = true
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(opts.InfluxURL, "/")+"/ping", nil)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		s.Error = err.Error()
		return s
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.Error = "GET /ping: " + resp.Status
		return s
	}
	s.Reachable = true
	return s
}

// influxJobRuns reads the last job_run point of job (any outcome) and the time of its last ok
// one from InfluxDB (InfluxQL /query; 1.8, or 2.x through its v1 compatibility API).
func influxJobRuns(ctx context.Context, opts Options, job string) (*JobRun, *time.Time, error) {
	db, rp, _ := strings.Cut(opts.InfluxBucket, "/")
	from := metrics.QuoteIdent(db) + "."
	if rp != "" {
		from += metrics.QuoteIdent(rp)
	}
	from += `."job_run"`
	lit := "'" + strings.ReplaceAll(strings.ReplaceAll(job, `\`, `\\`), "'", `\'`) + "'"
	q := `SELECT last("duration_seconds") AS d, "items", "errors", "outcome" FROM ` + from + ` WHERE "job" = ` + lit +
		`; SELECT last("duration_seconds") FROM ` + from + ` WHERE "job" = ` + lit + ` AND "outcome" = 'ok'`
	results, err := metrics.Reader{URL: opts.InfluxURL, Auth: opts.InfluxToken, Client: opts.HTTPClient}.Query(ctx, db, q)
	if err != nil {
		return nil, nil, err
	}
	var last *JobRun
	var lastOK *time.Time
	for i, res := range results {
		if len(res.Series) == 0 || len(res.Series[0].Values) == 0 {
			continue
		}
		cols, vals := res.Series[0].Columns, res.Series[0].Values[0]
		get := func(name string) any {
			for k, c := range cols {
				if c == name && k < len(vals) {
					return vals[k]
				}
			}
			return nil
		}
		ts, _ := get("time").(string)
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, nil, fmt.Errorf("time %q: %w", ts, err)
		}
		t = t.UTC()
		if i == 1 {
			lastOK = &t
			continue
		}
		jr := &JobRun{FinishedAt: &t}
		if d, ok := get("d").(float64); ok {
			jr.StartedAt = t.Add(-time.Duration(d * float64(time.Second))).UTC()
		} else {
			jr.StartedAt = t
		}
		jr.Outcome, _ = get("outcome").(string)
		if n, ok := get("items").(float64); ok {
			jr.Items = int(n)
		}
		if n, ok := get("errors").(float64); ok {
			jr.Errors = int(n)
		}
		last = jr
	}
	return last, lastOK, nil
}
