// Package prune applies the retention windows: old changesets (their analyses and labels
// cascade), element versions other than an element's newest (through etl/elements), diffs, job
// runs and the OSM user cache, in short batched transactions.
package prune

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/elements"
)

// Options are the retention windows. A zero window keeps that table whole.
type Options struct {
	Changesets time.Duration // changesets (their analyses, labels and changeset_diffs cascade) by coalesce(closed_at, created_at, first_seen)
	Elements   time.Duration // element versions by ts, never an element's newest version (fetch.retention)
	Diffs      time.Duration // diffs by seq_timestamp
	JobRuns    time.Duration // job_runs by started_at
	BatchSize  int           // rows per DELETE (each its own short transaction); default 5000
	Now        func() time.Time
	Log        *slog.Logger
}

// Result counts the rows removed.
type Result struct {
	Changesets int64 `json:"changesets"`
	Analyses   int64 `json:"analyses"` // cascaded
	Labels     int64 `json:"labels"`   // cascaded
	Elements   int64 `json:"elements"`
	Diffs      int64 `json:"diffs"`
	JobRuns    int64 `json:"job_runs"`
	UserCache  int64 `json:"osm_users"`
}

// Total is the number of rows removed, cascaded ones included.
func (r Result) Total() int64 {
	return r.Changesets + r.Analyses + r.Labels + r.Elements + r.Diffs + r.JobRuns + r.UserCache
}

// userCacheDays is how long analyse's per-day cache of OSM user details is kept: it only ever
// reads today's row, the day before covers runs across midnight.
const userCacheDays = 2

// Prune deletes what is older than the retention windows, in batches of BatchSize rows, each
// batch its own statement, so no lock is held for long and a run can be interrupted at any
// point (the next run carries on). The windows are measured from one "now" for the whole run.
// Published pages are not touched: publish removes the pages of changesets past its window.
func Run(ctx context.Context, db *pgxpool.Pool, opts Options) (Result, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 5000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now()
	var res Result
	// batch calls run until it says there is no more; run returns the rows it deleted.
	batch := func(what string, window time.Duration, run func(cutoff time.Time) (n int64, more bool, err error)) error {
		if window <= 0 {
			return nil
		}
		cutoff := now.Add(-window)
		var total int64
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, more, err := run(cutoff)
			if err != nil {
				return fmt.Errorf("prune %s older than %s: %w", what, cutoff.UTC().Format(time.RFC3339), err)
			}
			total += n
			if !more {
				break
			}
		}
		opts.Log.Info("pruned", "table", what, "rows", total, "older_than", cutoff.UTC().Format(time.RFC3339))
		return nil
	}

	// Changesets first: their cascades are the biggest deletes.
	err := batch("changesets", opts.Changesets, func(cutoff time.Time) (int64, bool, error) {
		var n, a, l int64
		err := db.QueryRow(ctx, `
			WITH victims AS (
				SELECT id FROM changesets
				WHERE coalesce(closed_at, created_at, first_seen) < $1
				ORDER BY coalesce(closed_at, created_at, first_seen)
				LIMIT $2
			), counted AS (
				SELECT (SELECT count(*) FROM analyses WHERE changeset_id IN (SELECT id FROM victims)) AS a,
				       (SELECT count(*) FROM changeset_labels WHERE changeset_id IN (SELECT id FROM victims)) AS l
			), del AS (
				DELETE FROM changesets WHERE id IN (SELECT id FROM victims) RETURNING 1
			)
			SELECT (SELECT count(*) FROM del), a, l FROM counted`, cutoff, opts.BatchSize).Scan(&n, &a, &l)
		if n > 0 {
			res.Changesets += n
			res.Analyses += a
			res.Labels += l
		}
		return n, n > 0, err
	})
	if err != nil {
		return res, err
	}

	// Element versions: walk the old ones in (ts, type, id, version) order with a cursor, so
	// that old newest versions (kept) are read once, not once per batch (etl/elements).
	if opts.Elements > 0 {
		store := elements.PG{DB: db}
		var cur elements.PruneCursor
		err = batch("elements", opts.Elements, func(cutoff time.Time) (int64, bool, error) {
			n, scanned, err := store.PruneBatch(ctx, cutoff, &cur, opts.BatchSize)
			if err != nil {
				return 0, false, err
			}
			res.Elements += n
			// Go on while the batch was full, even when it held only kept versions.
			return n, scanned == int64(opts.BatchSize), nil
		})
		if err != nil {
			return res, err
		}
	}

	// Tables pruned by age alone: delete the oldest rows, a batch at a time.
	for _, t := range []struct {
		table, key, age string
		window          time.Duration
		removed         *int64
	}{
		{"diffs", "seq", "seq_timestamp", opts.Diffs, &res.Diffs},
		{"job_runs", "run_id", "started_at", opts.JobRuns, &res.JobRuns},
		{"osm_users", "(uid, day)", "day", userCacheDays * 24 * time.Hour, &res.UserCache},
	} {
		// The names are constants of this function, never user input; the values are parameters.
		q := `DELETE FROM ` + t.table + ` WHERE ` + t.key + ` IN (
			SELECT ` + strings.Trim(t.key, "()") + ` FROM ` + t.table + ` WHERE ` + t.age + ` < $1 ORDER BY ` + t.age + ` LIMIT $2)`
		err = batch(t.table, t.window, func(cutoff time.Time) (int64, bool, error) {
			tag, err := db.Exec(ctx, q, cutoff, opts.BatchSize)
			*t.removed += tag.RowsAffected()
			return tag.RowsAffected(), tag.RowsAffected() > 0, err
		})
		if err != nil {
			return res, err
		}
	}
	return res, err
}
