package main

import (
	"context"
	"io"
	"time"

	"github.com/osmtrack/osmtrack/etl/step"
	"github.com/osmtrack/osmtrack/etl/store"
)

func init() {
	register(&command{name: "migrate", summary: "apply the embedded PostGIS migrations", run: runMigrate})
}

// runMigrate applies the migrations. It does not go through step.Do: on a fresh database
// job_runs does not exist until the migrations made it. store.Migrate holds its own advisory
// lock, so concurrent runs wait for each other and the second finds nothing to do.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("migrate", "osmtrack migrate [--config FILE] [--read-only-role ROLE]")
	configPath := f.String("config", "", "configuration file")
	role := f.String("read-only-role", "", "role to grant SELECT on every table (default: database.read_only_role)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	a, err := openApp(ctx, *configPath, "migrate")
	if err != nil {
		return err
	}
	defer a.close(ctx)
	if *role == "" {
		*role = a.cfg.Database.ReadOnlyRole
	}
	log := a.log.With("job", "migrate", "run_id", step.NewRunID())
	start := time.Now()
	done, err := store.Migrate(ctx, a.db, log, *role)
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	} else if len(done) == 0 {
		log.Info("schema is current; nothing to apply", "version", store.LatestVersion())
	}
	a.metrics.Point(ctx, "job_run", map[string]string{"job": "migrate", "outcome": outcome},
		map[string]any{"duration_seconds": time.Since(start).Seconds(), "items": len(done), "errors": 0}, time.Now())
	return err
}
