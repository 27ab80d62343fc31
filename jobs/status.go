package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/status"
)

func init() {
	register(&command{name: "status", summary: "report lag, gaps, changesets per state and each step's last run", run: runStatus})
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("status", "osmtrack status [--config FILE] [--format text|json] [--strict] [--no-head]")
	configPath := f.String("config", "", "configuration file")
	format := f.String("format", "text", "text or json")
	strict := f.Bool("strict", false, "exit 1 when there is a problem (lag over status.max_lag, a gap, an overdue step, a service down)")
	noHead := f.Bool("no-head", false, "do not ask the replication feed for its head")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usagef("status: --format %q is not text or json", *format)
	}
	cfg, log, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if cfg.Database.URL == "" {
		return usagef("status: no database: set %s", config.EnvDatabaseURL)
	}
	// A lazy pool: an unreachable database is part of the report, not an error.
	pcfg, err := pgxpool.ParseConfig(cfg.Database.URL)
	if err != nil {
		return usagef("status: %s: %v", config.EnvDatabaseURL, err)
	}
	pcfg.MaxConns = 2
	pcfg.ConnConfig.ConnectTimeout = 10 * time.Second
	db, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	defer db.Close()

	opts := statusOptions(cfg, log, *noHead)
	rep, err := status.Collect(ctx, db, opts)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := status.WriteText(stdout, rep); err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		log.Warn(w)
	}
	// A service that does not answer is a failure whatever --strict says: the report cannot
	// tell the truth about what it could not read.
	if !rep.Database.Reachable {
		return fmt.Errorf("status: database is not reachable: %s", rep.Database.Error)
	}
	if rep.InfluxDB.Configured && !rep.InfluxDB.Reachable {
		return fmt.Errorf("status: influxdb is not reachable: %s", rep.InfluxDB.Error)
	}
	if *strict && !rep.Healthy {
		return fmt.Errorf("status: %d problem(s): %s", len(rep.Problems), rep.Problems[0])
	}
	return nil
}

// statusOptions are the options of the status report, for status and for publish's status
// page alike: the same thresholds, the same InfluxDB reader and the same head probe (both
// feeds, one attempt each, status.FeedHeads); noHead asks no feed.
func statusOptions(cfg *config.Config, log *slog.Logger, noHead bool) status.Options {
	intervals := map[string]time.Duration{}
	for k, v := range cfg.StatusIntervals() {
		intervals[k] = v.D()
	}
	opts := status.Options{
		InfluxURL:         cfg.Metrics.URL,
		InfluxToken:       cfg.Metrics.Reader(),
		InfluxBucket:      cfg.Metrics.Bucket,
		MaxLag:            cfg.Status.MaxLag.D(),
		LivePointers:      []string{cfg.Fetch.Pointer, cfg.Changeset.Pointer},
		RequiredPointers:  []string{cfg.Fetch.Pointer},
		ExpectedIntervals: intervals,
		FailedLimit:       cfg.Status.FailedLimit,
	}
	if !noHead {
		opts.Heads = status.FeedHeads(cfg.OSM, version, log)
	}
	return opts
}
