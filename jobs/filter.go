package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/filter"
	"github.com/osmtrack/osmtrack/etl/step"
)

func init() {
	register(&command{name: "filter", summary: "label new changesets and choose those to analyse", run: runFilter})
}

// parseSince reads an RFC 3339 time, a date (YYYY-MM-DD, UTC), or a duration ago ("24h", "7d").
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(strings.TrimSuffix(s, " ago")); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date or a duration such as 24h or 7d", s)
}

func runFilter(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("filter", "osmtrack filter [--config FILE] [--refilter --since T] [--batch-size N]")
	configPath := f.String("config", "", "configuration file")
	refilter := f.Bool("refilter", false, "re-run the rules on changesets already filtered (with --since)")
	since := f.String("since", "", "with --refilter: changesets created at or after T (RFC 3339, YYYY-MM-DD, or a duration ago such as 24h or 7d)")
	batch := f.Int("batch-size", 0, "changesets per transaction (default: filter.batch_size)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	opts := filter.Options{Refilter: *refilter}
	switch {
	case *refilter && *since == "":
		return usagef("filter: --refilter needs --since")
	case !*refilter && *since != "":
		return usagef("filter: --since only goes with --refilter")
	case *refilter:
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return usagef("filter: --since: %v", err)
		}
		opts.Since = t
	}
	if *batch < 0 {
		return usagef("filter: --batch-size must be positive")
	}
	a, err := openApp(ctx, *configPath, "filter")
	if err != nil {
		return err
	}
	defer a.close(ctx)
	set, err := loadRules(a.cfg)
	if err != nil {
		return err
	}
	opts.MetadataWait = a.cfg.Filter.MetadataWait.D()
	opts.BatchSize = a.cfg.Filter.BatchSize
	opts.MaxDuration = a.cfg.Filter.MaxDuration.D()
	if *batch > 0 {
		opts.BatchSize = *batch
	}
	// Runs do not exclude each other: rows are claimed with FOR UPDATE SKIP LOCKED, so the
	// lock name is unique per run.
	return step.Do(ctx, a.db, a.metrics, a.log, "filter", step.Options{Lock: "filter:" + step.NewRunID()}, func(ctx context.Context, r *step.Run) error {
		st, err := (&filter.Filter{DB: a.db, Rules: set, Log: r.Log}).Run(ctx, opts)
		r.Items = st.Total()
		tags := map[string]string{"mode": "new"}
		if opts.Refilter {
			tags["mode"] = "refilter"
		}
		r.Metrics.Point(ctx, "filter", tags, map[string]any{
			"filtered": st.Filtered, "dropped": st.Dropped, "outside": st.Outside, "labels": st.Labels, "batches": st.Batches,
		}, time.Now())
		if err == nil && st.Total() == 0 {
			r.Log.Info("no changesets ready for filtering; nothing to do")
		} else {
			r.Log.Info("filtered", "filtered", st.Filtered, "dropped", st.Dropped, "outside", st.Outside, "labels", st.Labels, "batches", st.Batches)
		}
		return err
	})
}
