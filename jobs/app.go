package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/step"
	"github.com/osmtrack/osmtrack/etl/store"
)

// app is what a step needs: its configuration, a logger, the database and metrics.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	db      *pgxpool.Pool
	metrics *metrics.Recorder
}

// loadConfig reads the configuration (a *config.Error makes the command exit 2).
func loadConfig(path string) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, step.Logger("auto", "info"), err
	}
	return cfg, step.Logger(cfg.Log.Format, cfg.Log.Level), nil
}

// openApp loads the configuration, connects to PostGIS and sets up metrics for job.
func openApp(ctx context.Context, configPath, job string) (*app, error) {
	cfg, log, err := loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	if cfg.Database.URL == "" {
		return nil, usagef("%s: no database: set %s", job, config.EnvDatabaseURL)
	}
	db, err := store.Open(ctx, cfg.Database.URL, cfg.Database.MaxConns)
	if err != nil {
		return nil, err
	}
	return &app{cfg: cfg, log: log, db: db, metrics: metrics.New(cfg.Metrics, log.With("job", job), nil)}, nil
}

func (a *app) close(ctx context.Context) {
	a.metrics.Close(ctx)
	a.db.Close()
}
