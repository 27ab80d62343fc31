package step_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/step"
	"github.com/osmtrack/osmtrack/etl/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// work commits a row, as a step's database work would.
func work(ctx context.Context, r *step.Run) error {
	_, err := r.DB.Exec(ctx, `INSERT INTO replication_state (name, seq) VALUES ('minute', 42)`)
	r.Items = 3
	return err
}

func TestJobRunMetricCanBeReadBack(t *testing.T) {
	db := dbtest.PG(t)
	ix := dbtest.InfluxDB(t)
	ctx := context.Background()
	rec := metrics.New(config.Metrics{URL: ix.URL, Token: ix.Token, Bucket: ix.Bucket, Timeout: config.Duration(5 * time.Second)}, quiet, nil)
	defer rec.Close(ctx)
	if err := step.Do(ctx, db.Pool, rec, quiet, "fetch", step.Options{Lock: "fetch:minute"}, work); err != nil {
		t.Fatal(err)
	}
	out, err := ix.Query(`SELECT "items", "duration_seconds" FROM "job_run" WHERE "job" = 'fetch' AND "outcome" = 'ok'`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"items","duration_seconds"`) || !strings.Contains(out, ",3,") {
		t.Fatalf("job_run point not found: %s", out)
	}
	var outcome string
	var items int
	if err := db.Pool.QueryRow(ctx, `SELECT outcome, items FROM job_runs WHERE job = 'fetch'`).Scan(&outcome, &items); err != nil || outcome != "ok" || items != 3 {
		t.Fatalf("job_runs row: %s %d %v", outcome, items, err)
	}
}

func TestInfluxDownDoesNotBlockData(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	// Nothing listens on port 9 of loopback: every write fails fast.
	rec := metrics.New(config.Metrics{URL: "http://127.0.0.1:9", Bucket: "x/autogen", Timeout: config.Duration(2 * time.Second)}, quiet, nil)
	for range 3 {
		rec.Point(ctx, "replication", nil, map[string]any{"seq": 1}, time.Now())
	}
	if err := step.Do(ctx, db.Pool, rec, quiet, "fetch", step.Options{}, work); err != nil {
		t.Fatalf("step failed because metrics are down: %v", err)
	}
	rec.Close(ctx)
	var seq int
	if err := db.Pool.QueryRow(ctx, `SELECT seq FROM replication_state WHERE name = 'minute'`).Scan(&seq); err != nil || seq != 42 {
		t.Fatalf("database work not committed: %d %v", seq, err)
	}
	if w, d := rec.Stats(); w != 0 || d != 4 {
		t.Fatalf("written %d dropped %d; want 0 and 4 (3 replication + 1 job_run)", w, d)
	}
}

func TestLockedRunIsSkipped(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	held, err := store.TryLock(ctx, db.Pool, "filter")
	if err != nil || held == nil {
		t.Fatal("could not take the lock", err)
	}
	defer held.Release(ctx)
	ran := false
	err = step.Do(ctx, db.Pool, nil, quiet, "filter", step.Options{}, func(context.Context, *step.Run) error { ran = true; return nil })
	if !errors.Is(err, step.ErrLocked) || ran {
		t.Fatalf("want ErrLocked without running; got %v ran=%v", err, ran)
	}
}

func TestFailedRunIsRecorded(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	boom := errors.New("fetch seq 7: gunzip: unexpected EOF")
	err := step.Do(ctx, db.Pool, nil, quiet, "fetch", step.Options{}, func(context.Context, *step.Run) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("error not passed through: %v", err)
	}
	var outcome, msg string
	if err := db.Pool.QueryRow(ctx, `SELECT outcome, message FROM job_runs`).Scan(&outcome, &msg); err != nil || outcome != "failed" || msg != boom.Error() {
		t.Fatalf("job_runs: %q %q %v", outcome, msg, err)
	}
}

// A read-only step (publish) runs under its lock but writes no job_runs row: its role cannot.
func TestReadOnlyRunWritesNoRow(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	ran := false
	if err := step.Do(ctx, db.Pool, nil, quiet, "publish", step.Options{ReadOnly: true}, func(_ context.Context, r *step.Run) error {
		ran = true
		r.Items = 2
		return nil
	}); err != nil || !ran {
		t.Fatalf("read-only run: %v ran=%v", err, ran)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM job_runs`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("job_runs rows after a read-only run: %d %v; want 0", n, err)
	}
	held, err := store.TryLock(ctx, db.Pool, "publish")
	if err != nil || held == nil {
		t.Fatal("could not take the lock", err)
	}
	defer held.Release(ctx)
	err = step.Do(ctx, db.Pool, nil, quiet, "publish", step.Options{ReadOnly: true}, func(context.Context, *step.Run) error { t.Error("ran under a held lock"); return nil })
	if !errors.Is(err, step.ErrLocked) {
		t.Fatalf("want ErrLocked; got %v", err)
	}
}
