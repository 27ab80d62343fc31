package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/store"
)

// PostGISOptions configures PostGIS and RestorePostGIS.
type PostGISOptions struct {
	URL    string // the database (a read/write role that owns osmtrack's tables)
	PGBin  string // folder of pg_dump and pg_restore; "" looks them up on PATH
	Log    *slog.Logger
	Now    func() time.Time
	Daily  int // rotation after a backup (see Rotate)
	Weekly int
	// Version is the osmtrack version written in the manifest.
	Version string

	// Restore only.
	Force        bool   // restore over a database holding osmtrack data
	ReadOnlyRole string // granted SELECT again after the restore (the dump carries no privileges)
}

func (o *PostGISOptions) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// pgTool returns the path of a PostgreSQL client tool.
func (o *PostGISOptions) pgTool(name string) (string, error) {
	if o.PGBin != "" {
		p := filepath.Join(o.PGBin, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not installed (the image gets it from Debian's postgresql-client-15): %w", name, err)
	}
	return p, nil
}

// pgConn splits a database URL into the --dbname argument without the password and the
// environment carrying it, so that the password is not on a command line.
func pgConn(dbURL string) (string, []string, error) {
	env := os.Environ()
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		if strings.Contains(dbURL, "=") {
			return dbURL, env, nil // a "host=… dbname=…" connection string: libpq reads it as is
		}
		return "", nil, fmt.Errorf("database URL is neither a postgres:// URL nor a key=value connection string")
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = url.User(u.User.Username())
		}
	}
	return u.String(), env, nil
}

// runTool runs a client tool; its error carries the tail of stderr.
func runTool(ctx context.Context, env []string, path string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		if msg != "" {
			return stdout.Bytes(), fmt.Errorf("%s: %w: %s", filepath.Base(path), err, msg)
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return stdout.Bytes(), nil
}

var toolVersionRe = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// checkToolVersion refuses a client tool older than the server: pg_dump cannot dump a newer server.
func checkToolVersion(ctx context.Context, q store.Querier, tool string) error {
	out, err := exec.CommandContext(ctx, tool, "--version").Output()
	if err != nil {
		return fmt.Errorf("%s --version: %w", tool, err)
	}
	m := toolVersionRe.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("%s --version: unexpected answer %q", tool, bytes.TrimSpace(out))
	}
	toolMajor, _ := strconv.Atoi(string(m[1]))
	var num int
	if err := q.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&num); err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	if toolMajor < num/10000 {
		return fmt.Errorf("%s is version %d but the server is %d: install postgresql-client-%d", filepath.Base(tool), toolMajor, num/10000, num/10000)
	}
	return nil
}

// osmtrackTables lists the tables of the public schema that belong to osmtrack (not to an
// extension such as PostGIS's spatial_ref_sys).
const osmtrackTablesSQL = `
	SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
	  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
	ORDER BY 1`

type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// RowCounts counts the rows of every osmtrack table.
func RowCounts(ctx context.Context, q queryer) (map[string]int64, error) {
	rows, err := q.Query(ctx, osmtrackTablesSQL)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	counts := make(map[string]int64, len(tables))
	for _, t := range tables {
		var n int64
		if err := q.QueryRow(ctx, `SELECT count(*) FROM public.`+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		counts[t] = n
	}
	return counts, nil
}

// dataTables are the tables whose rows make a database "hold osmtrack data".
var dataTables = []string{"replication_state", "diffs", "elements", "changesets"}

// holdsData reports which data tables have rows (none when the schema is absent).
func holdsData(ctx context.Context, q store.Querier) ([]string, error) {
	var have []string
	for _, t := range dataTables {
		var exists bool
		if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+t).Scan(&exists); err != nil {
			return nil, err
		}
		if !exists {
			continue
		}
		var any bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.`+pgx.Identifier{t}.Sanitize()+`)`).Scan(&any); err != nil {
			return nil, err
		}
		if any {
			have = append(have, t)
		}
	}
	return have, nil
}

// PostGIS dumps osmtrack's tables (the public schema without PostGIS's own objects)
// with pg_dump -Fc into dir as osmtrack-postgis-<time>.dump, writes its manifest (row counts
// taken in the dump's own snapshot, so they match it exactly) and rotates. It returns the
// manifest and the dump's path.
func PostGIS(ctx context.Context, dir string, opts PostGISOptions) (*Manifest, string, error) {
	opts.defaults()
	pgDump, err := opts.pgTool("pg_dump")
	if err != nil {
		return nil, "", err
	}
	dbname, env, err := pgConn(opts.URL)
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("backup folder: %w", err)
	}
	conn, err := pgx.Connect(ctx, opts.URL)
	if err != nil {
		return nil, "", fmt.Errorf("backup postgis: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := checkToolVersion(ctx, conn, pgDump); err != nil {
		return nil, "", err
	}

	// One snapshot for the counts and the dump.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, "", fmt.Errorf("backup postgis: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return nil, "", fmt.Errorf("backup postgis: export snapshot: %w", err)
	}
	now := opts.Now().UTC()
	m := &Manifest{Format: ManifestFormat, Kind: "postgis", CreatedAt: now, OsmtrackVersion: opts.Version, Database: conn.Config().Database}
	if m.SchemaVersion, err = store.SchemaVersion(ctx, tx); err != nil {
		return nil, "", fmt.Errorf("backup postgis: schema version: %w", err)
	}
	if m.SchemaVersion == 0 {
		return nil, "", fmt.Errorf("backup postgis: database %s has no osmtrack schema (schema_migrations is missing or empty)", m.Database)
	}
	if m.RowCounts, err = RowCounts(ctx, tx); err != nil {
		return nil, "", fmt.Errorf("backup postgis: %w", err)
	}
	m.Pointers = map[string]int64{}
	rows, err := tx.Query(ctx, `SELECT name, seq FROM replication_state`)
	if err == nil {
		for rows.Next() {
			var n string
			var s int64
			if rows.Scan(&n, &s) == nil {
				m.Pointers[n] = s
			}
		}
		rows.Close()
	}

	base := "osmtrack-postgis-" + stamp(now)
	name := base + ".dump"
	final := filepath.Join(dir, name)
	tmp := final + ".tmp"
	defer os.Remove(tmp)
	start := time.Now()
	if _, err := runTool(ctx, env, pgDump, "--format=custom", "--schema=public", "--exclude-table-data=public.spatial_ref_sys",
		"--no-owner", "--no-privileges", "--snapshot="+snapshot, "--file="+tmp, "--dbname="+dbname); err != nil {
		return nil, "", fmt.Errorf("backup postgis: %w", err)
	}
	tx.Rollback(ctx)
	if err := syncFile(tmp); err != nil {
		return nil, "", fmt.Errorf("backup postgis: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, "", fmt.Errorf("backup postgis: %w", err)
	}
	f, err := describe(dir, name)
	if err != nil {
		return nil, "", fmt.Errorf("backup postgis: %w", err)
	}
	m.Files = []ManifestFile{f}
	if err := writeManifest(filepath.Join(dir, base+".manifest.json"), m); err != nil {
		os.Remove(final)
		return nil, "", fmt.Errorf("backup postgis: manifest: %w", err)
	}
	opts.Log.Info("postgis backup written", "file", final, "bytes", f.Size, "schema_version", m.SchemaVersion, "seconds", time.Since(start).Seconds())
	removed, err := Rotate(dir, "postgis", opts.Daily, opts.Weekly)
	for _, r := range removed {
		opts.Log.Info("old backup removed", "path", r)
	}
	if err != nil {
		return m, final, fmt.Errorf("backup postgis: rotate: %w", err)
	}
	return m, final, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// postgisManifestPath returns the manifest of a dump file (or file itself when it is the manifest).
func postgisManifestPath(file string) (dump, manifest string) {
	switch {
	case strings.HasSuffix(file, ".manifest.json"):
		return strings.TrimSuffix(file, ".manifest.json") + ".dump", file
	default:
		return file, strings.TrimSuffix(file, ".dump") + ".manifest.json"
	}
}

// VerifyPostGIS checks a PostGIS backup without touching any database: the manifest, the
// size and sha256 of the dump, and that pg_restore can read its table of contents.
func VerifyPostGIS(ctx context.Context, file string, opts PostGISOptions) (*Manifest, string, error) {
	dump, mpath := postgisManifestPath(file)
	m, err := ReadManifest(mpath, "postgis")
	if err != nil {
		return nil, "", err
	}
	if len(m.Files) != 1 || m.Files[0].Name != filepath.Base(dump) {
		return nil, "", &CorruptError{Path: mpath, Msg: fmt.Sprintf("manifest does not describe %s", filepath.Base(dump))}
	}
	if err := m.Verify(filepath.Dir(dump)); err != nil {
		return nil, "", err
	}
	pgRestore, err := opts.pgTool("pg_restore")
	if err != nil {
		return nil, "", err
	}
	if _, err := runTool(ctx, os.Environ(), pgRestore, "--list", dump); err != nil {
		return nil, "", &CorruptError{Path: dump, Msg: err.Error()}
	}
	return m, dump, nil
}

// RestorePostGIS restores a backup made by PostGIS into the database at opts.URL.
//
// It verifies the backup first (a *CorruptError, and the database untouched, when it fails),
// refuses (*RefusedError) a database holding osmtrack data unless opts.Force and a backup of a
// newer schema than this binary's. Then, in one transaction (psql --single-transaction fed by
// pg_restore --clean --if-exists --no-owner), it drops osmtrack's objects in the public schema
// and restores the backup: a failure leaves the database as it was. Last it checks the row
// counts against the manifest, marks the job runs that were running at backup time
// interrupted, grants the read-only role, and migrates when the backup's
// schema is older than the binary's. It returns the migrations applied.
func RestorePostGIS(ctx context.Context, file string, opts PostGISOptions) ([]string, error) {
	opts.defaults()
	m, dump, err := VerifyPostGIS(ctx, file, opts)
	if err != nil {
		return nil, err
	}
	if latest := store.LatestVersion(); m.SchemaVersion > latest {
		return nil, &RefusedError{Msg: fmt.Sprintf("restore postgis: the backup has schema version %d, newer than this binary's %d: restore with a newer osmtrack", m.SchemaVersion, latest)}
	}
	pgRestore, err := opts.pgTool("pg_restore")
	if err != nil {
		return nil, err
	}
	psql, err := opts.pgTool("psql")
	if err != nil {
		return nil, err
	}
	dbname, env, err := pgConn(opts.URL)
	if err != nil {
		return nil, err
	}
	pool, err := store.Open(ctx, opts.URL, 2)
	if err != nil {
		return nil, fmt.Errorf("restore postgis: %w", err)
	}
	defer pool.Close()
	if err := checkToolVersion(ctx, pool, pgRestore); err != nil {
		return nil, err
	}
	have, err := holdsData(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("restore postgis: %w", err)
	}
	if len(have) > 0 && !opts.Force {
		return nil, &RefusedError{Msg: fmt.Sprintf("restore postgis: database %s holds osmtrack data (rows in %s): use --force to replace it",
			pool.Config().ConnConfig.Database, strings.Join(have, ", "))}
	}
	if len(have) > 0 {
		opts.Log.Warn("replacing a database that holds osmtrack data (--force)", "tables", have)
	}

	// The table of contents without the public schema itself: PostGIS lives in it, so it must
	// be neither dropped nor created.
	list, err := runTool(ctx, env, pgRestore, "--list", dump)
	if err != nil {
		return nil, &CorruptError{Path: dump, Msg: err.Error()}
	}
	listFile, err := os.CreateTemp("", "osmtrack-restore-*.list")
	if err != nil {
		return nil, err
	}
	defer os.Remove(listFile.Name())
	for _, line := range strings.Split(string(list), "\n") {
		if schemaEntryRe.MatchString(line) {
			continue
		}
		fmt.Fprintln(listFile, line)
	}
	if err := listFile.Close(); err != nil {
		return nil, err
	}

	prep, err := prepareSQL(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("restore postgis: %w", err)
	}
	start := time.Now()
	if err := restoreScript(ctx, env, pgRestore, psql, dbname, listFile.Name(), dump, prep); err != nil {
		return nil, fmt.Errorf("restore postgis %s (nothing was changed): %w", dump, err)
	}
	counts, err := RowCounts(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("restore postgis: %w", err)
	}
	for t, want := range m.RowCounts {
		if counts[t] != want {
			return nil, fmt.Errorf("restore postgis: table %s has %d rows after the restore, the manifest says %d", t, counts[t], want)
		}
	}
	// Runs in progress when the backup was taken (the backup's own among them) never finish here.
	if _, err := pool.Exec(ctx, `UPDATE job_runs SET outcome = 'interrupted', finished_at = coalesce(finished_at, $1),
		message = coalesce(message, 'running when the backup was taken') WHERE outcome = 'running'`, m.CreatedAt); err != nil {
		return nil, fmt.Errorf("restore postgis: %w", err)
	}
	opts.Log.Info("postgis restored", "file", dump, "schema_version", m.SchemaVersion, "pointers", m.Pointers, "seconds", time.Since(start).Seconds())
	var applied []string
	if m.SchemaVersion < store.LatestVersion() {
		opts.Log.Info("the backup's schema is older than this binary's: migrating", "from", m.SchemaVersion, "to", store.LatestVersion())
		if applied, err = store.Migrate(ctx, pool, opts.Log, opts.ReadOnlyRole); err != nil {
			return applied, fmt.Errorf("restore postgis: %w", err)
		}
	} else if opts.ReadOnlyRole != "" {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Release()
		if err := store.GrantReadOnly(ctx, conn.Conn(), opts.ReadOnlyRole); err != nil {
			return nil, fmt.Errorf("restore postgis: %w", err)
		}
	}
	return applied, nil
}

var schemaEntryRe = regexp.MustCompile(`^\d+; \d+ \d+ (SCHEMA - public |COMMENT - SCHEMA public )`)

// restoreScript pipes pg_restore's SQL into psql, which runs prep and the script in one
// transaction. psql's input stays open until pg_restore has exited successfully, so a
// pg_restore failure (an unreadable archive) kills psql before it can commit: the database
// is changed completely or not at all.
func restoreScript(ctx context.Context, env []string, pgRestore, psql, dbname, list, dump, prep string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	defer w.Close()
	var prErr, psqlErr bytes.Buffer
	pr := exec.CommandContext(ctx, pgRestore, "--clean", "--if-exists", "--no-owner", "--no-privileges",
		"--use-list="+list, "--file=-", dump)
	pr.Env, pr.Stdout, pr.Stderr = env, w, &prErr
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ps := exec.CommandContext(pctx, psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",
		"--command="+prep, "--file=-", "--dbname="+dbname)
	ps.Env, ps.Stdin, ps.Stdout, ps.Stderr = env, r, io.Discard, &psqlErr
	if err := ps.Start(); err != nil {
		return fmt.Errorf("psql: %w", err)
	}
	if err := pr.Start(); err != nil {
		cancel()
		ps.Wait()
		return fmt.Errorf("pg_restore: %w", err)
	}
	r.Close()
	if err := pr.Wait(); err != nil {
		cancel() // psql is killed before it sees the end of its input: the transaction is rolled back
		ps.Wait()
		return fmt.Errorf("pg_restore: %w: %s", err, tail(prErr.String()))
	}
	w.Close()
	if err := ps.Wait(); err != nil {
		return fmt.Errorf("psql: %w: %s", err, tail(psqlErr.String()))
	}
	return nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// prepareSQL returns the statements that make sure PostGIS is there and remove osmtrack's
// objects (tables, views, sequences, functions of the public schema that no extension owns),
// so that a restore of an older schema leaves no table of a newer one behind. They run in the
// restore's transaction.
func prepareSQL(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	rows, err := pool.Query(ctx, `
		SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
		       quote_ident(c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
		UNION ALL
		SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
		       quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')'
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'public'
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`)
	if err != nil {
		return "", fmt.Errorf("list objects: %w", err)
	}
	type obj struct{ kind, name string }
	objs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (obj, error) {
		var o obj
		return o, r.Scan(&o.kind, &o.name)
	})
	if err != nil {
		return "", fmt.Errorf("list objects: %w", err)
	}
	var b strings.Builder
	b.WriteString("CREATE EXTENSION IF NOT EXISTS postgis;\n")
	for _, o := range objs {
		fmt.Fprintf(&b, "DROP %s IF EXISTS public.%s CASCADE;\n", o.kind, o.name)
	}
	return b.String(), nil
}
