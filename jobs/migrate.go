package main

import (
	"context"

	"github.com/osmtrack/osmtrack/etl/step"
	"github.com/osmtrack/osmtrack/etl/store"
)

func init() {
	register(&command{name: "migrate", summary: "apply the embedded PostGIS migrations", run: runMigrate})
}

func runMigrate(ctx context.Context, args []string) error {
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
	return step.Do(ctx, a.db, a.metrics, a.log, "migrate", "migrate-run", func(ctx context.Context, r *step.Run) error {
		done, err := store.Migrate(ctx, a.db, r.Log, *role)
		r.Items = len(done)
		if err == nil && len(done) == 0 {
			r.Log.Info("schema is current; nothing to apply", "version", store.LatestVersion())
		}
		return err
	})
}
