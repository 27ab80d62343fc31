package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/site"
	"github.com/osmtrack/osmtrack/etl/status"
	"github.com/osmtrack/osmtrack/etl/step"
)

func init() {
	register(&command{name: "publish", summary: "render the static site (read-only role), replacing each changed file atomically", run: runPublish})
}

func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("publish", "osmtrack publish [--config FILE] [--out DIR] [--full] [--no-head]")
	configPath := f.String("config", "", "configuration file")
	out := f.String("out", "", "output folder; the site is DIR/current (default: publish.out)")
	full := f.Bool("full", false, "re-render every page instead of only what changed")
	noHead := f.Bool("no-head", false, "do not ask the replication feed for its head (status page)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	cfg, _, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = cfg.Publish.Out
	}
	leaflet, err := site.FindLeaflet(cfg.Publish.LeafletDir)
	if err != nil {
		return usagef("%v", err)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(site.MemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(site.GCPercent)
	}
	a, err := openApp(ctx, *configPath, "publish")
	if err != nil {
		return err
	}
	defer a.close(ctx)
	opts := site.Options{Publish: cfg.Publish, Out: *out, Full: *full, LeafletDir: leaflet, Overlap: cfg.Publish.Overlap.D(), Status: publishStatus(a, *noHead)}
	if opts.Regions, err = region.LoadSet(cfg.Regions); err != nil {
		a.log.Warn("regions unreadable: the maps fit the changesets and draw no outline", "err", err)
	}
	if cfg.Metrics.Enabled() {
		influx := metrics.Reader{URL: cfg.Metrics.URL, Auth: cfg.Metrics.Reader(), Client: &http.Client{Timeout: cfg.Metrics.Timeout.D()}, MaxBody: 4 << 20}
		opts.Runs = func(ctx context.Context) ([]metrics.Run, error) {
			return influx.RecentRuns(ctx, cfg.Metrics.Bucket, 3)
		}
	}
	// Publish's role can only read: no job_runs row.
	return step.Do(ctx, a.db, a.metrics, a.log, "publish", step.Options{ReadOnly: true}, func(ctx context.Context, r *step.Run) error {
		opts.Log = r.Log
		res, err := site.Publish(ctx, a.db, opts)
		if err != nil {
			return err
		}
		r.Items = res.Rendered
		kind := "incremental"
		if res.Full {
			kind = "full"
		}
		// One line on stdout for people and scripts (the demo prints it): how much was written.
		fmt.Fprintf(stdout, "published %s (%s): %d changesets on the site, %d files written (%d changeset pages rendered), %d unchanged files left as they were\n",
			filepath.Join(*out, "current"), kind, res.Changesets, res.Written, res.Rendered, res.Linked)
		r.Log.Info("site published", "dir", *out+"/current", "build", res.Build, "full", res.Full, "changesets", res.Changesets,
			"rendered", res.Rendered, "removed", res.Removed, "written", res.Written, "kept", res.Linked)
		return nil
	})
}

// publishStatus builds the status page's report with status.Collect, with status's options.
// Publish's own runs are not in job_runs (its role cannot write), so the page does not check
// its interval: the page itself shows when it was published.
func publishStatus(a *app, noHead bool) func(ctx context.Context) (*status.Report, error) {
	return func(ctx context.Context) (*status.Report, error) {
		opts := statusOptions(a.cfg, a.log, noHead)
		opts.ExpectedIntervals["publish"] = 0
		return status.Collect(ctx, a.db, opts)
	}
}
