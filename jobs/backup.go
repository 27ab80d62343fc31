package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/osmtrack/osmtrack/etl/backup"
	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/step"
)

func init() {
	register(&command{name: "backup", summary: "back up PostGIS (pg_dump) or InfluxDB (influxd backup) with a manifest, and rotate", run: runBackup})
}

const backupUsage = `osmtrack backup postgis  [--config FILE] [--out DIR] [--pg-bin DIR]
       osmtrack backup influxdb [--config FILE] [--out DIR] [--influx-rpc HOST:PORT] [--influx-admin USER:PASSWORD] [--influx-db DB] [--influxd PATH]

Writes osmtrack-postgis-<time>.dump + .manifest.json, or the folder osmtrack-influxdb-<time>/
with manifest.json, into DIR (default backup.dir), then keeps backup.daily daily and
backup.weekly weekly backups of that kind and removes the others.`

// influxFlags are the flags backup and restore of InfluxDB share.
type influxFlags struct {
	rpc, admin, db, influxd *string
}

func addInfluxFlags(f *flags) influxFlags {
	return influxFlags{
		rpc:     f.String("influx-rpc", "", "InfluxDB RPC address of influxd backup/restore (bind-address, port 8088)"),
		admin:   f.String("influx-admin", "", "admin user:password for SHOW USERS, GRANT and DROP DATABASE (default: OSMTRACK_INFLUX_TOKEN)"),
		db:      f.String("influx-db", "", "database (default: the database part of OSMTRACK_INFLUX_BUCKET; for a restore, the backup's)"),
		influxd: f.String("influxd", "", "the influxd binary (default: influxd on PATH)"),
	}
}

func (fl influxFlags) options(cfg *config.Config, defaultDB bool) (backup.InfluxOptions, error) {
	o := backup.InfluxOptions{URL: cfg.Metrics.URL, Admin: *fl.admin, RPC: *fl.rpc, Database: *fl.db, Influxd: *fl.influxd, Version: version,
		Daily: cfg.Backup.Daily, Weekly: cfg.Backup.Weekly}
	if o.URL == "" {
		return o, usagef("influxdb: no URL: set %s", config.EnvInfluxURL)
	}
	if o.RPC == "" {
		return o, usagef("influxdb: no RPC address: give --influx-rpc or set OSMTRACK_BACKUP_INFLUXDB_INFLUX_RPC (backup) / OSMTRACK_RESTORE_INFLUXDB_INFLUX_RPC (restore), e.g. influxdb:8088")
	}
	if o.Admin == "" {
		o.Admin = cfg.Metrics.Token
	}
	if o.Database == "" && defaultDB {
		o.Database, _, _ = strings.Cut(cfg.Metrics.Bucket, "/")
	}
	return o, nil
}

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		f := newFlags("backup", backupUsage)
		if err := f.parse(args); err != nil {
			return err
		}
		return usagef("usage: %s", backupUsage)
	}
	kind := args[0]
	if kind != "postgis" && kind != "influxdb" {
		return usagef("backup: %q is not postgis or influxdb", kind)
	}
	f := newFlags("backup "+kind, backupUsage)
	configPath := f.String("config", "", "configuration file")
	out := f.String("out", "", "backup folder (default: backup.dir)")
	pgBin := f.String("pg-bin", "", "folder of pg_dump and pg_restore (default: PATH)")
	ifl := addInfluxFlags(f)
	if err := f.parse(args[1:]); err != nil {
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
		*out = cfg.Backup.Dir
	}
	if *out == "" {
		return usagef("backup %s: no folder: give --out DIR or set backup.dir", kind)
	}
	var iopts backup.InfluxOptions
	if kind == "influxdb" {
		if iopts, err = ifl.options(cfg, true); err != nil {
			return err
		}
	}
	a, err := openApp(ctx, *configPath, "backup-"+kind)
	if err != nil {
		return err
	}
	defer a.close(ctx)
	return step.Do(ctx, a.db, a.metrics, a.log, "backup-"+kind, step.Options{}, func(ctx context.Context, r *step.Run) error {
		var m *backup.Manifest
		var path string
		var err error
		if kind == "postgis" {
			m, path, err = backup.PostGIS(ctx, *out, backup.PostGISOptions{URL: a.cfg.Database.URL, PGBin: *pgBin, Log: r.Log, Version: version,
				Daily: a.cfg.Backup.Daily, Weekly: a.cfg.Backup.Weekly})
		} else {
			iopts.Log = r.Log
			m, path, err = backup.Influx(ctx, *out, iopts)
		}
		if m != nil {
			r.Items = len(m.Files)
			fmt.Fprintln(stdout, path)
		}
		return err
	})
}
