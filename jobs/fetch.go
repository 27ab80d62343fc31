package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/osmtrack/osmtrack/etl/fetch"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/replication"
	"github.com/osmtrack/osmtrack/etl/step"
)

func init() {
	register(&command{name: "fetch", summary: "apply minutely diffs (or, with --changesets, changeset metadata) to PostGIS", run: runFetch})
}

const fetchUsage = `osmtrack fetch [--config FILE] [--pointer NAME] [--start START] [--max-diffs N] [--max-duration D] [--force]
       osmtrack fetch --from-seq N [--to-seq M] | --from-time T [--to-time T]  [--pointer NAME]   (backfill)
       osmtrack fetch --changesets [...same flags...]                                           (changeset metadata feed)
       osmtrack fetch [--changesets] --pointer NAME --reset-to SEQ --confirm-reset               (repair a pointer)

START and T: head, a sequence number, "N minutes|hours|days ago" or an RFC 3339 time.
A backfill keeps its own pointer (default backfill-FROM-TO) and never moves the live one.
--reset-to moves an existing pointer to SEQ (with SEQ's state time), e.g. after it accepted a
time in the future; without --confirm-reset it only says what it would do (docs/operations.md).`

func runFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("fetch", fetchUsage)
	configPath := f.String("config", "", "configuration file")
	changesets := f.Bool("changesets", false, "read the changeset replication feed (metadata) instead of minutely diffs")
	pointerName := f.String("pointer", "", "replication pointer name (default: fetch.pointer, or changesets.pointer with --changesets; backfill-FROM-TO for a backfill)")
	start := f.String("start", "", "where a new pointer starts (default: fetch.start / changesets.start)")
	fromSeq := f.Uint64("from-seq", 0, "backfill: first sequence")
	toSeq := f.Uint64("to-seq", 0, "backfill: last sequence (default: head)")
	fromTime := f.String("from-time", "", "backfill: first sequence holding data at or after this time")
	toTime := f.String("to-time", "", "backfill: last sequence, the first whose state is at or after this time")
	maxDiffs := f.Int("max-diffs", 0, "at most this many files this run (default: fetch.max_diffs / changesets.max_files; no limit for a backfill)")
	maxDuration := f.Duration("max-duration", 0, "start no new file after this long (default: fetch.max_duration / changesets.max_duration; no limit for a backfill)")
	force := f.Bool("force", false, "re-apply sequences already applied")
	resetTo := f.Uint64("reset-to", 0, "repair: move the pointer (--pointer, required) to this sequence, then exit")
	confirmReset := f.Bool("confirm-reset", false, "confirm --reset-to")
	noAPI := f.Bool("no-api", false, "never call the OSM API: elements whose locations neither the diff nor the store knows stay unlocated")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	if *resetTo > 0 {
		if *pointerName == "" {
			return usagef("fetch: --reset-to needs --pointer NAME (the pointer to repair)")
		}
		if *fromSeq > 0 || *fromTime != "" || *toSeq > 0 || *toTime != "" || *start != "" || *force {
			return usagef("fetch: --reset-to does not combine with a backfill, --start or --force")
		}
	} else if *confirmReset {
		return usagef("fetch: --confirm-reset without --reset-to")
	}
	backfill := *fromSeq > 0 || *fromTime != "" || *toSeq > 0 || *toTime != ""
	if backfill {
		if (*fromSeq > 0) == (*fromTime != "") {
			return usagef("fetch: a backfill needs exactly one of --from-seq and --from-time")
		}
		if *toSeq > 0 && *toTime != "" {
			return usagef("fetch: give --to-seq or --to-time, not both")
		}
		if *toSeq > 0 && *fromSeq > 0 && *toSeq < *fromSeq {
			return usagef("fetch: --to-seq %d is before --from-seq %d", *toSeq, *fromSeq)
		}
		if *start != "" {
			return usagef("fetch: --start does not apply to a backfill (use --from-seq or --from-time)")
		}
	}
	now := time.Now()
	for name, v := range map[string]string{"--from-time": *fromTime, "--to-time": *toTime, "--start": *start} {
		if v == "" {
			continue
		}
		if _, _, err := replication.ParseStart(v, now); err != nil {
			return usagef("fetch: %s: %v", name, err)
		}
	}
	if *maxDiffs < 0 || *maxDuration < 0 {
		return usagef("fetch: --max-diffs and --max-duration must not be negative")
	}

	a, err := openApp(ctx, *configPath, "fetch")
	if err != nil {
		return err
	}
	defer a.close(ctx)
	regions, err := region.LoadSet(a.cfg.Regions)
	if err != nil {
		return usagef("fetch: %v", err)
	}
	if len(regions) == 0 {
		a.log.Info("no regions configured: the whole planet is tracked (every element version is stored)")
	}

	job, lockPrefix, live := "fetch", "fetch:", a.cfg.Fetch.Pointer
	baseURL, kind := a.cfg.OSM.ReplicationURL, replication.Minute
	o := fetch.Options{Start: a.cfg.Fetch.Start, MaxFiles: a.cfg.Fetch.MaxDiffs, MaxDuration: a.cfg.Fetch.MaxDuration.D(), Force: *force}
	if *changesets {
		job, lockPrefix, live = "fetch-changesets", "changesets:", a.cfg.Changeset.Pointer
		baseURL, kind = a.cfg.OSM.ChangesetReplicationURL, replication.Changesets
		o = fetch.Options{Start: a.cfg.Changeset.Start, MaxFiles: a.cfg.Changeset.MaxFiles, MaxDuration: a.cfg.Changeset.MaxDuration.D(), Force: *force}
	}
	if backfill {
		o.MaxFiles, o.MaxDuration = 0, 0
		if *pointerName == live {
			return usagef("fetch: a backfill must not use the live pointer %q; give it its own --pointer", live)
		}
	}
	if *start != "" {
		o.Start = *start
	}
	if *maxDiffs > 0 {
		o.MaxFiles = *maxDiffs
	}
	if *maxDuration > 0 {
		o.MaxDuration = *maxDuration
	}

	feed := replication.NewFeed(baseURL, kind, newReplicationClient(a.cfg, a.log))
	fe := &fetch.Fetcher{DB: a.db, Feed: feed, Regions: regions, Metrics: a.metrics, Log: a.log, Limits: fetch.LimitsFrom(a.cfg.OSM),
		MaxSkew: a.cfg.Fetch.MaxClockSkew.D()}
	if !*changesets && !*noAPI && len(regions) > 0 {
		// The API fill: locations a keep decision needs and neither the diff nor the store has.
		api, err := newAPIClient(a.cfg, "", a.log)
		if err != nil {
			return err
		}
		fe.API = api
	}

	// The backfill range (and so the default pointer name) needs the feed's state files.
	if backfill {
		b := fetch.Backfill{FromSeq: *fromSeq, ToSeq: *toSeq, FromTime: *fromTime, ToTime: *toTime}
		var name string
		var rerr *fetch.RangeError
		o.FromSeq, o.ToSeq, name, err = b.Resolve(ctx, feed, now)
		switch {
		case errors.As(err, &rerr):
			return usagef("fetch: %v", err)
		case err != nil:
			return fmt.Errorf("fetch: %w", err)
		}
		if *pointerName == "" {
			*pointerName = name
		}
	}
	if *pointerName == "" {
		*pointerName = live
	}
	o.Pointer = *pointerName
	if *resetTo > 0 {
		return resetPointer(ctx, stdout, a, fe, job, lockPrefix+o.Pointer, o.Pointer, *resetTo, *confirmReset)
	}

	return step.Do(ctx, a.db, a.metrics, a.log, job, step.Options{Lock: lockPrefix + o.Pointer}, func(ctx context.Context, r *step.Run) error {
		fe.Log = r.Log.With("pointer", o.Pointer)
		var res fetch.Result
		var err error
		if *changesets {
			res, err = fe.RunChangesets(ctx, o)
		} else {
			res, err = fe.Run(ctx, o)
			if !backfill {
				fe.RecordStates(ctx)
			}
		}
		r.Items = res.Applied + res.Skipped
		if err != nil {
			r.Errors++
		}
		return err
	})
}

// resetPointer is fetch --reset-to: under the pointer's lock, so that no run moves it meanwhile.
func resetPointer(ctx context.Context, stdout io.Writer, a *app, fe *fetch.Fetcher, job, lock, name string, seq uint64, confirmed bool) error {
	if !confirmed {
		var cur int64
		var ts *time.Time
		if err := a.db.QueryRow(ctx, `SELECT seq, seq_timestamp FROM replication_state WHERE name = $1`, name).Scan(&cur, &ts); err != nil {
			return fmt.Errorf("fetch: pointer %s: %w", name, err)
		}
		return usagef("fetch: would move pointer %s from %d (%s) to %d; add --confirm-reset to do it", name, cur, fmtTime(ts), seq)
	}
	err := step.Do(ctx, a.db, a.metrics, a.log, job+"-reset", step.Options{Lock: lock}, func(ctx context.Context, r *step.Run) error {
		fe.Log = r.Log.With("pointer", name)
		oldSeq, oldTS, newTS, err := fe.ResetPointer(ctx, name, seq)
		if err != nil {
			return fmt.Errorf("fetch: --reset-to: %w", err)
		}
		r.Log.Warn("pointer reset", "pointer", name, "from_seq", oldSeq, "from_time", fmtTime(oldTS), "to_seq", seq, "to_time", fmtTime(newTS))
		fmt.Fprintf(stdout, "pointer %s moved from %d (%s) to %d (%s)\n", name, oldSeq, fmtTime(oldTS), seq, fmtTime(newTS))
		r.Items = 1
		return nil
	})
	if errors.Is(err, step.ErrLocked) {
		return fmt.Errorf("fetch: --reset-to: pointer %s is in use by a running fetch (lock %s); try again", name, lock)
	}
	return err
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "no time"
	}
	return t.UTC().Format(time.RFC3339)
}
