package main

import (
	"context"
	"io"

	"github.com/osmtrack/osmtrack/etl/prune"
	"github.com/osmtrack/osmtrack/etl/step"
)

func init() {
	register(&command{name: "prune", summary: "delete rows past their retention, in small batches", run: runPrune})
}

func runPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("prune", `osmtrack prune [--config FILE]

Removes changesets (with their analyses and labels) older than prune.changesets, element
versions older than fetch.retention (never an element's newest), diffs older than prune.diffs
and job_runs older than prune.job_runs, prune.batch_size rows per statement.`)
	configPath := f.String("config", "", "configuration file")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	a, err := openApp(ctx, *configPath, "prune")
	if err != nil {
		return err
	}
	defer a.close(ctx)
	return step.Do(ctx, a.db, a.metrics, a.log, "prune", step.Options{}, func(ctx context.Context, r *step.Run) error {
		res, err := prune.Run(ctx, a.db, prune.Options{
			Changesets: a.cfg.Prune.Changesets.D(),
			Elements:   a.cfg.Fetch.Retention.D(),
			Diffs:      a.cfg.Prune.Diffs.D(),
			JobRuns:    a.cfg.Prune.JobRuns.D(),
			BatchSize:  a.cfg.Prune.BatchSize,
			Log:        r.Log,
		})
		r.Items = int(res.Total())
		r.Log.Info("prune done", "changesets", res.Changesets, "analyses", res.Analyses, "labels", res.Labels,
			"elements", res.Elements, "diffs", res.Diffs, "job_runs", res.JobRuns)
		return err
	})
}
