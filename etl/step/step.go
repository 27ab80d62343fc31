// Package step runs one step of the pipeline the way every CronJob does: one run at a time
// (an advisory lock), a run id in every log line, a row in job_runs, and a job_run metric.
package step

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/store"
)

// Run is the context of one run of a step.
type Run struct {
	Job     string
	ID      string
	Log     *slog.Logger
	DB      *pgxpool.Pool
	Metrics *metrics.Recorder

	// Items and Errors are counted by the step and reported in job_runs and the job_run metric.
	Items  int
	Errors int

	readOnly bool
}

// ErrLocked is returned by Do when another run holds the step's lock; the command exits 0.
var ErrLocked = errors.New("another run holds the lock")

// NewRunID returns a short random id.
func NewRunID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Logger returns the process logger: JSON when stderr is not a terminal (or format is "json"),
// text otherwise, at level.
func Logger(format, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" || (format == "auto" && isTerminal(os.Stderr)) {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Options are how Do runs a step.
type Options struct {
	// Lock is the advisory lock's name (the job's name when empty).
	Lock string
	// ReadOnly is for a step whose role can only read (publish): no job_runs row is written;
	// the lock, the run id and the job_run metric are the same.
	ReadOnly bool
}

// Do runs work as one run of job, holding the advisory lock o.Lock (job when empty).
// It records the run in job_runs (unless o.ReadOnly) and as a job_run point (tags job,
// outcome; fields duration_seconds, items, errors). When the lock is held elsewhere it logs
// one line and returns ErrLocked without running work.
func Do(ctx context.Context, db *pgxpool.Pool, rec *metrics.Recorder, log *slog.Logger, job string, o Options, work func(ctx context.Context, r *Run) error) error {
	lockName := o.Lock
	if lockName == "" {
		lockName = job
	}
	r := &Run{Job: job, ID: NewRunID(), DB: db, Metrics: rec, readOnly: o.ReadOnly}
	r.Log = log.With("job", job, "run_id", r.ID)
	lock, err := store.TryLock(ctx, db, lockName)
	if err != nil {
		return err
	}
	if lock == nil {
		r.Log.Info("another run holds the lock; nothing to do", "lock", lockName)
		if !o.ReadOnly {
			recordRun(ctx, r, time.Now(), "skipped", nil)
		}
		return ErrLocked
	}
	defer lock.Release(ctx)
	start := time.Now()
	if !o.ReadOnly {
		if _, err := db.Exec(ctx, `INSERT INTO job_runs (run_id, job, started_at, outcome) VALUES ($1, $2, $3, 'running')`, r.ID, job, start); err != nil {
			return fmt.Errorf("%s: record run: %w", job, err)
		}
	}
	werr := work(ctx, r)
	outcome := "ok"
	switch {
	case werr != nil && ctx.Err() != nil:
		outcome = "interrupted"
	case werr != nil:
		outcome = "failed"
	}
	recordRun(ctx, r, start, outcome, werr)
	return werr
}

func recordRun(ctx context.Context, r *Run, start time.Time, outcome string, werr error) {
	end := time.Now()
	var msg *string
	if werr != nil {
		s := werr.Error()
		msg = &s
	}
	bg := context.WithoutCancel(ctx)
	if outcome == "skipped" || r.readOnly {
		// Skipped runs are not stored: a CronJob firing every minute against a long run would fill the table.
	} else if _, err := r.DB.Exec(bg, `UPDATE job_runs SET finished_at = $2, outcome = $3, items = $4, errors = $5, message = $6 WHERE run_id = $1`,
		r.ID, end, outcome, r.Items, r.Errors, msg); err != nil {
		r.Log.Warn("could not record the run's outcome", "err", err)
	}
	r.Metrics.Point(bg, "job_run", map[string]string{"job": r.Job, "outcome": outcome}, map[string]any{
		"duration_seconds": end.Sub(start).Seconds(),
		"items":            r.Items,
		"errors":           r.Errors,
	}, end)
	r.Metrics.Flush(bg)
	r.Log.Info("run finished", "outcome", outcome, "items", r.Items, "errors", r.Errors, "seconds", end.Sub(start).Seconds())
}
