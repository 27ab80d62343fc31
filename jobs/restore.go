package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/osmtrack/osmtrack/etl/backup"
	"github.com/osmtrack/osmtrack/etl/store"
)

func init() {
	register(&command{name: "restore", summary: "restore a PostGIS or InfluxDB backup after verifying its manifest", run: runRestore})
}

const restoreUsage = `osmtrack restore postgis  FILE|--from PATH [--force] [--config FILE] [--pg-bin DIR]
       osmtrack restore influxdb DIR|--from PATH  [--force] [--config FILE] [--influx-rpc HOST:PORT] [--influx-admin USER:PASSWORD] [--influx-db DB] [--influxd PATH]

FILE is a .dump (or its .manifest.json) written by osmtrack backup postgis; DIR an
osmtrack-influxdb-<time> folder; --from PATH is either, or the folder the backups are in (the
newest complete one is restored). The files are checked against the manifest first. A target
holding osmtrack data is refused (exit 2) unless --force, which only the command line
gives (never the environment). Suspend the CronJobs first.`

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		f := newFlags("restore", restoreUsage)
		if err := f.parse(args); err != nil {
			return err
		}
		return usagef("usage: %s", restoreUsage)
	}
	kind := args[0]
	if kind != "postgis" && kind != "influxdb" {
		return usagef("restore: %q is not postgis or influxdb", kind)
	}
	f := newFlags("restore "+kind, restoreUsage)
	configPath := f.String("config", "", "configuration file")
	force := f.Bool("force", false, "replace a database that holds osmtrack data (command line only)")
	f.commandLineOnly("force")
	pgBin := f.String("pg-bin", "", "folder of pg_restore and psql (default: PATH)")
	from := f.String("from", "", "the backup, or the folder of backups (the newest is restored)")
	ifl := addInfluxFlags(f)
	// The path may come before or after the flags.
	rest := args[1:]
	var path string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		path, rest = rest[0], rest[1:]
	}
	if err := f.parse(rest); err != nil {
		return err
	}
	if path == "" && f.NArg() == 1 {
		path = f.Arg(0)
	} else if f.NArg() > 0 {
		return usagef("restore %s: unexpected argument %q", kind, f.Arg(0))
	}
	if path == "" {
		path = *from
	} else if *from != "" {
		return usagef("restore %s: give the backup or --from, not both", kind)
	}
	if path == "" {
		return usagef("restore %s: which backup? usage: %s", kind, restoreUsage)
	}
	path, err := pickBackup(kind, path)
	if err != nil {
		return usagef("restore %s: %v", kind, err)
	}
	cfg, log, err := loadConfig(*configPath)
	log.Info("restoring", "kind", kind, "backup", path)
	if err != nil {
		return err
	}
	var rerr error
	switch kind {
	case "postgis":
		if cfg.Database.URL == "" {
			return usagef("restore postgis: no database: set OSMTRACK_DATABASE_URL")
		}
		var applied []string
		applied, rerr = backup.RestorePostGIS(ctx, path, backup.PostGISOptions{URL: cfg.Database.URL, PGBin: *pgBin, Log: log, Force: *force,
			ReadOnlyRole: cfg.Database.ReadOnlyRole})
		if rerr == nil {
			fmt.Fprintf(stdout, "restored %s (schema now %d", path, store.LatestVersion())
			if len(applied) > 0 {
				fmt.Fprintf(stdout, ", migrated: %s", strings.Join(applied, ", "))
			}
			fmt.Fprintln(stdout, ")")
		}
	case "influxdb":
		o, err := ifl.options(cfg, false)
		if err != nil {
			return err
		}
		o.Log, o.Force = log, *force
		if rerr = backup.RestoreInflux(ctx, path, o); rerr == nil {
			fmt.Fprintf(stdout, "restored %s\n", path)
		}
	}
	var re *backup.RefusedError
	if errors.As(rerr, &re) {
		return usagef("%v", re)
	}
	return rerr
}

// pickBackup returns path when it is a backup of kind, or the newest complete backup of kind in
// the folder path.
func pickBackup(kind, path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return path, nil
	}
	if _, err := os.Stat(filepath.Join(path, "manifest.json")); err == nil && kind == "influxdb" {
		return path, nil
	}
	bs, err := backup.List(path, kind)
	if err != nil {
		return "", err
	}
	if len(bs) == 0 {
		return "", fmt.Errorf("no complete %s backup (osmtrack-%s-<time> with its manifest) in %s", kind, kind, path)
	}
	return bs[0].Path, nil
}
