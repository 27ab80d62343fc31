package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/osmtrack/osmtrack/etl/metrics"
)

// InfluxOptions configures Influx and RestoreInflux (InfluxDB 1.8: influxd backup and
// restore -portable over the RPC port, InfluxQL over HTTP).
type InfluxOptions struct {
	URL      string // HTTP API, e.g. http://influxdb:8086
	Admin    string // "user:password" of an admin (SHOW USERS, GRANT, DROP DATABASE need one)
	RPC      string // the RPC address of influxd backup/restore, e.g. influxdb:8088
	Database string // the database to back up; for a restore, the target (default: the backup's)
	Influxd  string // the influxd binary; "" looks it up on PATH
	Log      *slog.Logger
	Now      func() time.Time
	Daily    int
	Weekly   int
	Version  string
	Force    bool // restore over a database that holds measurements
	Client   *http.Client
}

func (o *InfluxOptions) defaults() error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 60 * time.Second}
	}
	if o.URL == "" {
		return fmt.Errorf("influxdb: no URL: set OSMTRACK_INFLUX_URL")
	}
	if o.RPC == "" {
		return fmt.Errorf("influxdb: no RPC address: set --influx-rpc (OSMTRACK_BACKUP_INFLUXDB_INFLUX_RPC, OSMTRACK_RESTORE_INFLUXDB_INFLUX_RPC), e.g. influxdb:8088")
	}
	if o.Influxd == "" {
		p, err := exec.LookPath("influxd")
		if err != nil {
			return fmt.Errorf("influxd is not installed (the image copies it from the influxdb:1.8 image): %w", err)
		}
		o.Influxd = p
	}
	return nil
}

// query runs one InfluxQL statement with the admin credentials.
func (o *InfluxOptions) query(ctx context.Context, db, q string) (*metrics.Result, error) {
	res, err := metrics.Reader{URL: o.URL, Auth: o.Admin, Client: o.Client, MaxBody: 64 << 20}.Query(ctx, db, q)
	if err != nil {
		return nil, fmt.Errorf("influxdb %q: %w", q, err)
	}
	if len(res) == 0 {
		return &metrics.Result{}, nil
	}
	return &res[0], nil
}

// InfluxCounts counts the series and, per measurement and field, the values of database db.
func InfluxCounts(ctx context.Context, o *InfluxOptions, db string) (int64, map[string]map[string]int64, error) {
	r, err := o.query(ctx, db, `SHOW SERIES`)
	if err != nil {
		return 0, nil, err
	}
	var series int64
	for _, s := range r.Series {
		series += int64(len(s.Values))
	}
	r, err = o.query(ctx, db, `SELECT count(*) FROM /.*/`)
	if err != nil {
		return 0, nil, err
	}
	fields := map[string]map[string]int64{}
	for _, s := range r.Series {
		m := map[string]int64{}
		for i, c := range s.Columns {
			if c == "time" || len(s.Values) == 0 || i >= len(s.Values[0]) {
				continue
			}
			if n, ok := s.Values[0][i].(float64); ok {
				m[strings.TrimPrefix(c, "count_")] = int64(n)
			}
		}
		fields[s.Name] = m
	}
	return series, fields, nil
}

func (o *InfluxOptions) databases(ctx context.Context) (map[string]bool, error) {
	r, err := o.query(ctx, "", `SHOW DATABASES`)
	if err != nil {
		return nil, err
	}
	dbs := map[string]bool{}
	for _, s := range r.Series {
		for _, v := range s.Values {
			if len(v) > 0 {
				if n, ok := v[0].(string); ok {
					dbs[n] = true
				}
			}
		}
	}
	return dbs, nil
}

// grants returns the non-admin users' privileges on db, and the set of existing users.
func (o *InfluxOptions) grants(ctx context.Context, db string) ([]InfluxGrant, map[string]bool, error) {
	r, err := o.query(ctx, "", `SHOW USERS`)
	if err != nil {
		return nil, nil, err
	}
	users := map[string]bool{}
	var plain []string
	for _, s := range r.Series {
		for _, v := range s.Values {
			if len(v) < 2 {
				continue
			}
			name, _ := v[0].(string)
			admin, _ := v[1].(bool)
			users[name] = true
			if !admin {
				plain = append(plain, name)
			}
		}
	}
	sort.Strings(plain)
	gs := []InfluxGrant{}
	for _, u := range plain {
		r, err := o.query(ctx, "", `SHOW GRANTS FOR `+metrics.QuoteIdent(u))
		if err != nil {
			return nil, nil, err
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				if len(v) < 2 {
					continue
				}
				d, _ := v[0].(string)
				p, _ := v[1].(string)
				if d == db && p != "" && p != "NO PRIVILEGES" {
					gs = append(gs, InfluxGrant{User: u, Privilege: p})
				}
			}
		}
	}
	return gs, users, nil
}

func (o *InfluxOptions) influxd(ctx context.Context, args ...string) error {
	_, err := runTool(ctx, os.Environ(), o.Influxd, args...)
	return err
}

// Influx backs up database opts.Database with influxd backup -portable into
// dir/osmtrack-influxdb-<time>/, with a manifest.json holding the series and value counts,
// the users' grants on the database and every file's size and sha256, then rotates.
func Influx(ctx context.Context, dir string, opts InfluxOptions) (*Manifest, string, error) {
	if err := opts.defaults(); err != nil {
		return nil, "", err
	}
	if opts.Database == "" {
		return nil, "", fmt.Errorf("backup influxdb: no database")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("backup folder: %w", err)
	}
	now := opts.Now().UTC()
	m := &Manifest{Format: ManifestFormat, Kind: "influxdb", CreatedAt: now, OsmtrackVersion: opts.Version, Database: opts.Database, Influx: &InfluxContents{}}
	dbs, err := opts.databases(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("backup influxdb: %w", err)
	}
	if !dbs[opts.Database] {
		return nil, "", fmt.Errorf("backup influxdb: database %q does not exist", opts.Database)
	}
	// Counted just before the backup: points written during it may make the backup hold a few more.
	if m.Influx.Series, m.Influx.Fields, err = InfluxCounts(ctx, &opts, opts.Database); err != nil {
		return nil, "", fmt.Errorf("backup influxdb: %w", err)
	}
	if m.Influx.Grants, _, err = opts.grants(ctx, opts.Database); err != nil {
		return nil, "", fmt.Errorf("backup influxdb: %w", err)
	}
	name := "osmtrack-influxdb-" + stamp(now)
	final := filepath.Join(dir, name)
	tmp := final + ".tmp"
	os.RemoveAll(tmp)
	defer os.RemoveAll(tmp)
	start := time.Now()
	if err := opts.influxd(ctx, "backup", "-portable", "-host", opts.RPC, "-database", opts.Database, tmp); err != nil {
		return nil, "", fmt.Errorf("backup influxdb: %w", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, "", fmt.Errorf("backup influxdb: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if err := syncFile(filepath.Join(tmp, e.Name())); err != nil {
			return nil, "", fmt.Errorf("backup influxdb: %w", err)
		}
		f, err := describe(tmp, e.Name())
		if err != nil {
			return nil, "", fmt.Errorf("backup influxdb: %w", err)
		}
		m.Files = append(m.Files, f)
	}
	if len(m.Files) == 0 {
		return nil, "", fmt.Errorf("backup influxdb: influxd backup wrote no files")
	}
	if err := writeManifest(filepath.Join(tmp, "manifest.json"), m); err != nil {
		return nil, "", fmt.Errorf("backup influxdb: manifest: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, "", fmt.Errorf("backup influxdb: %w", err)
	}
	opts.Log.Info("influxdb backup written", "dir", final, "files", len(m.Files), "series", m.Influx.Series, "seconds", time.Since(start).Seconds())
	removed, err := Rotate(dir, "influxdb", opts.Daily, opts.Weekly)
	for _, r := range removed {
		opts.Log.Info("old backup removed", "path", r)
	}
	if err != nil {
		return m, final, fmt.Errorf("backup influxdb: rotate: %w", err)
	}
	return m, final, nil
}

// VerifyInflux checks an InfluxDB backup folder: its manifest and every file's size and sha256.
func VerifyInflux(dir string) (*Manifest, error) {
	m, err := ReadManifest(filepath.Join(dir, "manifest.json"), "influxdb")
	if err != nil {
		return nil, err
	}
	if m.Influx == nil || m.Database == "" {
		return nil, &CorruptError{Path: dir, Msg: "manifest has no influxdb section"}
	}
	if err := m.Verify(dir); err != nil {
		return nil, err
	}
	return m, nil
}

// RestoreInflux restores a backup made by Influx into opts.Database (default: the
// backup's database).
//
// It verifies the backup (a *CorruptError, nothing touched, when it fails) and refuses
// (*RefusedError) a target database holding measurements unless opts.Force. influxd restore
// refuses an existing database, so the backup is first restored under a temporary name (which
// proves it restores, and its counts are compared with the manifest); only then is the target
// dropped and the backup restored under its name, and the temporary database dropped. Last, the
// users' grants on the database (the manifest's, and the target's from before the drop) are
// granted again: dropping and restoring a database loses them.
func RestoreInflux(ctx context.Context, dir string, opts InfluxOptions) error {
	m, err := VerifyInflux(dir)
	if err != nil {
		return err
	}
	if err := opts.defaults(); err != nil {
		return err
	}
	target := opts.Database
	if target == "" {
		target = m.Database
	}
	dbs, err := opts.databases(ctx)
	if err != nil {
		return fmt.Errorf("restore influxdb: %w", err)
	}
	grants := append([]InfluxGrant(nil), m.Influx.Grants...)
	if dbs[target] {
		r, err := opts.query(ctx, target, `SHOW MEASUREMENTS LIMIT 1`)
		if err != nil {
			return fmt.Errorf("restore influxdb: %w", err)
		}
		if len(r.Series) > 0 && len(r.Series[0].Values) > 0 && !opts.Force {
			return &RefusedError{Msg: fmt.Sprintf("restore influxdb: database %q holds measurements: use --force to replace it", target)}
		}
		before, _, err := opts.grants(ctx, target)
		if err != nil {
			return fmt.Errorf("restore influxdb: %w", err)
		}
		grants = append(grants, before...)
	}

	var rnd [4]byte
	rand.Read(rnd[:])
	tmpDB := target + "_restore_" + hex.EncodeToString(rnd[:])
	start := time.Now()
	if err := opts.influxd(ctx, "restore", "-portable", "-host", opts.RPC, "-db", m.Database, "-newdb", tmpDB, dir); err != nil {
		opts.query(context.WithoutCancel(ctx), "", `DROP DATABASE `+metrics.QuoteIdent(tmpDB))
		return fmt.Errorf("restore influxdb %s (trial into %s; %q untouched): %w", dir, tmpDB, target, err)
	}
	defer opts.query(context.WithoutCancel(ctx), "", `DROP DATABASE `+metrics.QuoteIdent(tmpDB))
	series, fields, err := waitCounts(ctx, &opts, tmpDB, m)
	if err != nil {
		return fmt.Errorf("restore influxdb: %w", err)
	}
	if series < m.Influx.Series || !fieldsAtLeast(fields, m.Influx.Fields) {
		return fmt.Errorf("restore influxdb %s: the restored data (%d series) holds less than the manifest says (%d series); %q untouched", dir, series, m.Influx.Series, target)
	}
	if dbs[target] {
		opts.Log.Warn("dropping the target database to restore over it", "database", target)
		if _, err := opts.query(ctx, "", `DROP DATABASE `+metrics.QuoteIdent(target)); err != nil {
			return fmt.Errorf("restore influxdb: %w", err)
		}
	}
	args := []string{"restore", "-portable", "-host", opts.RPC, "-db", m.Database}
	if target != m.Database {
		args = append(args, "-newdb", target)
	}
	if err := opts.influxd(ctx, append(args, dir)...); err != nil {
		return fmt.Errorf("restore influxdb %s into %q: %w (the verified copy is in %q until this command ends)", dir, target, err, tmpDB)
	}
	if series, fields, err = waitCounts(ctx, &opts, target, m); err != nil {
		return fmt.Errorf("restore influxdb: %w", err)
	}
	if series < m.Influx.Series || !fieldsAtLeast(fields, m.Influx.Fields) {
		opts.Log.Warn("the restored database shows less than the manifest counted", "database", target, "series", series, "manifest_series", m.Influx.Series)
	}
	_, users, err := opts.grants(ctx, target)
	if err != nil {
		return fmt.Errorf("restore influxdb: grants: %w", err)
	}
	seen := map[InfluxGrant]bool{}
	for _, g := range grants {
		if seen[g] {
			continue
		}
		seen[g] = true
		if !users[g.User] {
			opts.Log.Warn("user of a grant does not exist; create it and grant again", "user", g.User, "privilege", g.Privilege)
			continue
		}
		priv := g.Privilege
		switch priv {
		case "ALL PRIVILEGES", "ALL":
			priv = "ALL"
		case "READ", "WRITE":
		default:
			opts.Log.Warn("unknown privilege not granted", "user", g.User, "privilege", g.Privilege)
			continue
		}
		if _, err := opts.query(ctx, "", `GRANT `+priv+` ON `+metrics.QuoteIdent(target)+` TO `+metrics.QuoteIdent(g.User)); err != nil {
			return fmt.Errorf("restore influxdb: %w", err)
		}
	}
	opts.Log.Info("influxdb restored", "dir", dir, "database", target, "series", series, "grants", len(seen), "seconds", time.Since(start).Seconds())
	return nil
}

// waitCounts counts db until it holds at least what m counted, for at most ~10 s: a shard
// restored live is loaded asynchronously. It returns the last counts (or the last error).
func waitCounts(ctx context.Context, o *InfluxOptions, db string, m *Manifest) (int64, map[string]map[string]int64, error) {
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		series, fields, err := InfluxCounts(ctx, o, db)
		// While a shard loads, queries may fail ("engine is closed"): retry those too.
		if err == nil && series >= m.Influx.Series && fieldsAtLeast(fields, m.Influx.Fields) {
			return series, fields, nil
		}
		if wait > 5*time.Second {
			return series, fields, err
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// fieldsAtLeast reports whether got holds at least the counts of want.
func fieldsAtLeast(got, want map[string]map[string]int64) bool {
	for m, fs := range want {
		for f, n := range fs {
			if got[m][f] < n {
				return false
			}
		}
	}
	return true
}
