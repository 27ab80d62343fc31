package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/osmtrack/osmtrack/etl/config"
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

// fetchArgs are fetch's flags.
type fetchArgs struct {
	config, pointer, start string
	changesets, force      bool
	backfill               fetch.Backfill
	maxDiffs               int
	maxDuration            time.Duration
	resetTo                uint64
	confirmReset, noAPI    bool
}

func parseFetchArgs(args []string, now time.Time) (*fetchArgs, error) {
	var fa fetchArgs
	f := newFlags("fetch", fetchUsage)
	f.StringVar(&fa.config, "config", "", "configuration file")
	f.BoolVar(&fa.changesets, "changesets", false, "read the changeset replication feed (metadata) instead of minutely diffs")
	f.StringVar(&fa.pointer, "pointer", "", "replication pointer name (default: fetch.pointer, or changesets.pointer with --changesets; backfill-FROM-TO for a backfill)")
	f.StringVar(&fa.start, "start", "", "where a new pointer starts (default: fetch.start / changesets.start)")
	f.Uint64Var(&fa.backfill.FromSeq, "from-seq", 0, "backfill: first sequence")
	f.Uint64Var(&fa.backfill.ToSeq, "to-seq", 0, "backfill: last sequence (default: head)")
	f.StringVar(&fa.backfill.FromTime, "from-time", "", "backfill: first sequence holding data at or after this time")
	f.StringVar(&fa.backfill.ToTime, "to-time", "", "backfill: last sequence, the first whose state is at or after this time")
	f.IntVar(&fa.maxDiffs, "max-diffs", 0, "at most this many files this run (default: fetch.max_diffs / changesets.max_files; no limit for a backfill)")
	f.DurationVar(&fa.maxDuration, "max-duration", 0, "start no new file after this long (default: fetch.max_duration / changesets.max_duration; no limit for a backfill)")
	f.BoolVar(&fa.force, "force", false, "re-apply sequences already applied")
	f.Uint64Var(&fa.resetTo, "reset-to", 0, "repair: move the pointer (--pointer, required) to this sequence, then exit")
	f.BoolVar(&fa.confirmReset, "confirm-reset", false, "confirm --reset-to")
	f.BoolVar(&fa.noAPI, "no-api", false, "never call the OSM API: elements whose locations neither the diff nor the store knows stay unlocated")
	if err := f.parse(args); err != nil {
		return nil, err
	}
	if err := f.noArgs(); err != nil {
		return nil, err
	}
	if fa.resetTo > 0 {
		if fa.pointer == "" {
			return nil, usagef("fetch: --reset-to needs --pointer NAME (the pointer to repair)")
		}
		if fa.backfill.Active() || fa.start != "" || fa.force {
			return nil, usagef("fetch: --reset-to does not combine with a backfill, --start or --force")
		}
	} else if fa.confirmReset {
		return nil, usagef("fetch: --confirm-reset without --reset-to")
	}
	if fa.backfill.Active() {
		if err := fa.backfill.Check(now); err != nil {
			return nil, usagef("fetch: %v", err)
		}
		if fa.start != "" {
			return nil, usagef("fetch: --start does not apply to a backfill (use --from-seq or --from-time)")
		}
	}
	if fa.start != "" {
		if _, _, err := replication.ParseStart(fa.start, now); err != nil {
			return nil, usagef("fetch: --start: %v", err)
		}
	}
	if fa.maxDiffs < 0 || fa.maxDuration < 0 {
		return nil, usagef("fetch: --max-diffs and --max-duration must not be negative")
	}
	return &fa, nil
}

// fetchFeed is what one fetch run reads: its job name, lock prefix, live pointer, feed and the
// run's options (the configuration's, then the flags').
type fetchFeed struct {
	job, lockPrefix, live string
	baseURL               string
	kind                  replication.Kind
	opts                  fetch.Options
}

func (fa *fetchArgs) feed(cfg *config.Config) (fetchFeed, error) {
	ff := fetchFeed{job: "fetch", lockPrefix: "fetch:", live: cfg.Fetch.Pointer, baseURL: cfg.OSM.ReplicationURL, kind: replication.Minute,
		opts: fetch.Options{Start: cfg.Fetch.Start, MaxFiles: cfg.Fetch.MaxDiffs, MaxDuration: cfg.Fetch.MaxDuration.D(), Force: fa.force}}
	if fa.changesets {
		ff = fetchFeed{job: "fetch-changesets", lockPrefix: "changesets:", live: cfg.Changeset.Pointer, baseURL: cfg.OSM.ChangesetReplicationURL, kind: replication.Changesets,
			opts: fetch.Options{Start: cfg.Changeset.Start, MaxFiles: cfg.Changeset.MaxFiles, MaxDuration: cfg.Changeset.MaxDuration.D(), Force: fa.force}}
	}
	if fa.backfill.Active() {
		ff.opts.MaxFiles, ff.opts.MaxDuration = 0, 0
		if fa.pointer == ff.live {
			return ff, usagef("fetch: a backfill must not use the live pointer %q; give it its own --pointer", ff.live)
		}
	}
	if fa.start != "" {
		ff.opts.Start = fa.start
	}
	if fa.maxDiffs > 0 {
		ff.opts.MaxFiles = fa.maxDiffs
	}
	if fa.maxDuration > 0 {
		ff.opts.MaxDuration = fa.maxDuration
	}
	return ff, nil
}

func runFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	now := time.Now()
	fa, err := parseFetchArgs(args, now)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, fa.config, "fetch")
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
	ff, err := fa.feed(a.cfg)
	if err != nil {
		return err
	}
	o := ff.opts
	feed := replication.NewFeed(ff.baseURL, ff.kind, newReplicationClient(a.cfg, a.log))
	fe := &fetch.Fetcher{DB: a.db, Feed: feed, Regions: regions, Metrics: a.metrics, Log: a.log, Limits: fetch.LimitsFrom(a.cfg.OSM),
		MaxSkew: a.cfg.Fetch.MaxClockSkew.D()}
	if !fa.changesets && !fa.noAPI && len(regions) > 0 {
		// The API fill: locations a keep decision needs and neither the diff nor the store has.
		if fe.API, err = newAPIClient(a.cfg, "", a.log); err != nil {
			return err
		}
	}

	// The backfill range (and so the default pointer name) needs the feed's state files.
	o.Pointer = fa.pointer
	if fa.backfill.Active() {
		var name string
		var rerr *fetch.RangeError
		o.FromSeq, o.ToSeq, name, err = fa.backfill.Resolve(ctx, feed, now)
		switch {
		case errors.As(err, &rerr):
			return usagef("fetch: %v", err)
		case err != nil:
			return fmt.Errorf("fetch: %w", err)
		}
		if o.Pointer == "" {
			o.Pointer = name
		}
	}
	if o.Pointer == "" {
		o.Pointer = ff.live
	}
	if fa.resetTo > 0 {
		return resetPointer(ctx, stdout, a, fe, ff.job, ff.lockPrefix+o.Pointer, o.Pointer, fa.resetTo, fa.confirmReset)
	}

	return step.Do(ctx, a.db, a.metrics, a.log, ff.job, step.Options{Lock: ff.lockPrefix + o.Pointer}, func(ctx context.Context, r *step.Run) error {
		fe.Log = r.Log.With("pointer", o.Pointer)
		var res fetch.Result
		var err error
		if fa.changesets {
			res, err = fe.RunChangesets(ctx, o)
		} else {
			res, err = fe.Run(ctx, o)
			if !fa.backfill.Active() {
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
		cur, ts, err := fe.Pointer(ctx, name)
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
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
