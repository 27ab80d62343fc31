package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/store"
)

// fillPostGIS writes a small pipeline's worth of rows through the real tables: pointers,
// diffs, element versions with geometry, node lists and members, changesets in every state
// with bboxes, labels, analyses and job runs.
func fillPostGIS(t testing.TB, db *pgxpool.Pool) {
	t.Helper()
	for _, q := range []string{
		`INSERT INTO replication_state (name, feed, seq, seq_timestamp) VALUES
			('minute', 'minute', 6100240, '2026-11-20T04:00:00Z'), ('changesets', 'changesets', 5900120, '2026-11-20T04:00:10Z')`,
		`INSERT INTO diffs (seq, seq_timestamp, bytes, elements, elements_kept, changesets, processing_ms)
			SELECT s, '2026-11-20T00:00:00Z'::timestamptz + (s - 6100000) * interval '1 minute', 1000 + s % 97, 50, 20, 3, 40
			FROM generate_series(6100000, 6100240) s`,
		`INSERT INTO changesets (id, username, uid, created_at, closed_at, open, comments_count, changes_count, tags, bbox,
				first_seq, last_seq, num_create, num_modify, num_delete, edit_extent, tracked, state, state_reason, attempts, error)
			SELECT i, 'mapper' || (i % 17), 1000 + i % 17, '2026-11-20T00:00:00Z'::timestamptz + i * interval '1 minute',
				CASE WHEN i % 3 = 0 THEN NULL ELSE '2026-11-20T00:30:00Z'::timestamptz + i * interval '1 minute' END,
				i % 3 = 0, i % 4, i * 3, jsonb_build_object('comment', 'edit ' || i, 'created_by', 'JOSM'),
				ST_MakeEnvelope(i * 0.001, 50, i * 0.001 + 0.01, 50.01, 4326), 6100000 + i % 240, 6100000 + i % 240,
				i % 5, i % 7, i % 2, ST_SetSRID(ST_MakePoint(i * 0.001, 50), 4326), i % 2 = 0,
				(ARRAY['new','filtered','dropped','analysed','done','failed'])[1 + i % 6],
				CASE WHEN i % 6 = 2 THEN 'outside regions' END, i % 6 / 5 * 3, CASE WHEN i % 6 = 5 THEN 'api: 503' END
			FROM generate_series(1, 300) i`,
		`INSERT INTO changeset_labels (changeset_id, label, source, evidence)
			SELECT i, l, 'filter', jsonb_build_object('elements', jsonb_build_array(i, i + 1))
			FROM generate_series(1, 300) i, unnest(ARRAY['mass_delete', 'new_mapper']) l WHERE i % 4 = 0`,
		`INSERT INTO analyses (changeset_id, schema_version, doc, complete, reasons, geom, analysed_seq)
			SELECT i, 1, jsonb_build_object('changeset', i, 'summary', jsonb_build_object('creates', i % 5)), i % 10 <> 0,
				ARRAY['tags'], ST_SetSRID(ST_MakePoint(i * 0.001, 50), 4326), 6100000 + i
			FROM generate_series(1, 300) i WHERE i % 6 IN (3, 4)`,
		`INSERT INTO elements (type, id, version, changeset, ts, uid, username, visible, action, tags, geom, seq)
			SELECT 'n', i / 3, 1 + i % 3, 1 + i % 300, '2026-11-20T00:00:00Z'::timestamptz + i * interval '1 second', 1000 + i % 17,
				'mapper' || (i % 17), i % 50 <> 0, (ARRAY['create','modify','delete'])[1 + i % 3],
				CASE WHEN i % 5 = 0 THEN '{"amenity":"cafe"}'::jsonb ELSE '{}' END,
				CASE WHEN i % 50 <> 0 THEN ST_SetSRID(ST_MakePoint(i * 0.0001, 50 + i * 0.00001), 4326) END, 6100000 + i % 240
			FROM generate_series(0, 2999) i`,
		`INSERT INTO elements (type, id, version, changeset, ts, visible, action, tags, nodes, seq)
			SELECT 'w', i, 1, 1 + i % 300, '2026-11-20T01:00:00Z', true, 'create', '{"highway":"residential"}', ARRAY[i, i + 1, i + 2]::bigint[], 6100100
			FROM generate_series(1, 200) i`,
		`INSERT INTO elements (type, id, version, changeset, ts, visible, action, tags, members, seq)
			SELECT 'r', i, 2, 1 + i % 300, '2026-11-20T02:00:00Z', true, 'modify', '{"type":"route"}',
				jsonb_build_array(jsonb_build_object('type', 'w', 'ref', i, 'role', 'forward')), 6100200
			FROM generate_series(1, 20) i`,
		`INSERT INTO job_runs (run_id, job, started_at, finished_at, outcome, items, message)
			SELECT 'run' || i, (ARRAY['fetch','filter','analyse','publish'])[1 + i % 4], '2026-11-20T00:00:00Z'::timestamptz + i * interval '1 minute',
				'2026-11-20T00:00:30Z'::timestamptz + i * interval '1 minute', CASE WHEN i % 9 = 0 THEN 'failed' ELSE 'ok' END, i,
				CASE WHEN i % 9 = 0 THEN 'boom' END
			FROM generate_series(1, 100) i`,
	} {
		if _, err := db.Exec(context.Background(), q); err != nil {
			t.Fatalf("fill: %v\n%s", err, q)
		}
	}
}

// tableSums returns, per osmtrack table, its row count and the md5 of its rows in order.
func tableSums(t testing.TB, db *pgxpool.Pool) map[string]string {
	t.Helper()
	ctx := context.Background()
	counts, err := RowCounts(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for table, n := range counts {
		if table == "schema_migrations" {
			// applied_at differs between databases migrated at different times.
			var s string
			if err := db.QueryRow(ctx, `SELECT string_agg(version || name, ',' ORDER BY version) FROM schema_migrations`).Scan(&s); err != nil {
				t.Fatal(err)
			}
			sums[table] = s
			continue
		}
		var sum string
		q := `SELECT md5(coalesce(string_agg(r::text, E'\n' ORDER BY r::text), '')) FROM public.` + pgx.Identifier{table}.Sanitize() + ` r`
		if err := db.QueryRow(ctx, q).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		sums[table] = fmt.Sprintf("%d rows %s", n, sum)
	}
	return sums
}

// bareDB creates a database from the PostGIS template without osmtrack's schema.
func bareDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	db := dbtest.Bare(t)
	return db.URL, db.Pool
}

func TestPostGISRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := dbtest.PG(t)
	fillPostGIS(t, src.Pool)
	want := tableSums(t, src.Pool)
	dir := t.TempDir()
	m, dump, err := PostGIS(ctx, dir, PostGISOptions{URL: src.URL, Version: "test", Daily: 7, Weekly: 4})
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != store.LatestVersion() || m.RowCounts["elements"] != 3220 || m.RowCounts["changesets"] != 300 || m.Pointers["minute"] != 6100240 {
		t.Errorf("manifest: schema %d, rows %v, pointers %v", m.SchemaVersion, m.RowCounts, m.Pointers)
	}
	if len(m.Files) != 1 || m.Files[0].Name != filepath.Base(dump) || len(m.Files[0].SHA256) != 64 {
		t.Errorf("manifest files = %+v", m.Files)
	}
	if _, err := os.Stat(strings.TrimSuffix(dump, ".dump") + ".manifest.json"); err != nil {
		t.Fatal(err)
	}

	// Drop the data and restore into the same database.
	if _, err := src.Pool.Exec(ctx, `TRUNCATE replication_state, diffs, elements, changesets, changeset_labels, analyses, job_runs CASCADE`); err != nil {
		t.Fatal(err)
	}
	if _, err := RestorePostGIS(ctx, dump, PostGISOptions{URL: src.URL}); err != nil {
		t.Fatal(err)
	}
	dbtest.SameTables(t, want, tableSums(t, src.Pool))

	// Into a database holding only PostGIS (a new server), by the manifest's name.
	bareURL, bare := bareDB(t)
	applied, err := RestorePostGIS(ctx, strings.TrimSuffix(dump, ".dump")+".manifest.json", PostGISOptions{URL: bareURL, ReadOnlyRole: "osmtrack_ro"})
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("migrations applied after restoring a current backup: %v", applied)
	}
	dbtest.SameTables(t, want, tableSums(t, bare))
	// The triggers came back with their functions: an update bumps updated_at.
	var before, after time.Time
	bare.QueryRow(ctx, `SELECT updated_at FROM changesets WHERE id = 1`).Scan(&before)
	if _, err := bare.Exec(ctx, `UPDATE changesets SET comments_count = 9 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	bare.QueryRow(ctx, `SELECT updated_at FROM changesets WHERE id = 1`).Scan(&after)
	if !after.After(before) {
		t.Errorf("changesets trigger not restored: updated_at %v -> %v", before, after)
	}
	var canRead bool
	if err := bare.QueryRow(ctx, `SELECT has_table_privilege('osmtrack_ro', 'public.changesets', 'SELECT')`).Scan(&canRead); err != nil || !canRead {
		t.Errorf("read-only role cannot read after the restore: %v %v", canRead, err)
	}
	// The spatial_ref_sys of the target (PostGIS's) is untouched and still usable.
	var srid int
	if err := bare.QueryRow(ctx, `SELECT ST_SRID(ST_Transform(geom, 3857)) FROM elements WHERE type = 'n' AND geom IS NOT NULL LIMIT 1`).Scan(&srid); err != nil || srid != 3857 {
		t.Errorf("ST_Transform after restore: %d %v", srid, err)
	}
}

func TestPostGISRestoreRefusesData(t *testing.T) {
	ctx := context.Background()
	src := dbtest.PG(t)
	fillPostGIS(t, src.Pool)
	dir := t.TempDir()
	_, dump, err := PostGIS(ctx, dir, PostGISOptions{URL: src.URL})
	if err != nil {
		t.Fatal(err)
	}
	target := dbtest.PG(t)
	if _, err := target.Pool.Exec(ctx, `INSERT INTO replication_state (name, seq) VALUES ('minute', 1); INSERT INTO diffs VALUES (1, now(), 1, 1, 1, 1, 1, now()); CREATE TABLE public.extra_from_newer_schema (x int)`); err != nil {
		t.Fatal(err)
	}
	before := tableSums(t, target.Pool)
	_, err = RestorePostGIS(ctx, dump, PostGISOptions{URL: target.URL})
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "holds osmtrack data (rows in replication_state, diffs): use --force") {
		t.Fatalf("restore over data: %v", err)
	}
	dbtest.SameTables(t, before, tableSums(t, target.Pool))
	// --force replaces everything, tables unknown to the backup included.
	if _, err := RestorePostGIS(ctx, dump, PostGISOptions{URL: target.URL, Force: true}); err != nil {
		t.Fatal(err)
	}
	dbtest.SameTables(t, tableSums(t, src.Pool), tableSums(t, target.Pool))
}

func TestPostGISRestoreCorrupt(t *testing.T) {
	ctx := context.Background()
	src := dbtest.PG(t)
	fillPostGIS(t, src.Pool)
	dir := t.TempDir()
	_, dump, err := PostGIS(ctx, dir, PostGISOptions{URL: src.URL})
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	// The target holds data and --force is given: only verification stands between it and the file.
	target := dbtest.PG(t)
	dbtest.Exec(t, target.Pool, `INSERT INTO replication_state (name, seq) VALUES ('minute', 42)`)
	before := tableSums(t, target.Pool)
	restore := func() error {
		_, err := RestorePostGIS(ctx, dump, PostGISOptions{URL: target.URL, Force: true})
		return err
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "(truncated?)"},
		{"corrupted", func() []byte { b := append([]byte(nil), good...); b[len(b)/2] ^= 0xff; return b }(), "(corrupted)"},
		{"empty", nil, "(truncated?)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(dump, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			err := restore()
			var ce *CorruptError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(dump)) || !strings.Contains(err.Error(), "nothing was restored") {
				t.Fatalf("restore of a %s dump: %v", c.name, err)
			}
			dbtest.SameTables(t, before, tableSums(t, target.Pool))
		})
	}
	t.Run("no manifest", func(t *testing.T) {
		os.WriteFile(dump, good, 0o600)
		mpath := strings.TrimSuffix(dump, ".dump") + ".manifest.json"
		mb, _ := os.ReadFile(mpath)
		os.Remove(mpath)
		defer os.WriteFile(mpath, mb, 0o600)
		err := restore()
		var ce *CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no manifest") {
			t.Fatalf("restore without manifest: %v", err)
		}
		dbtest.SameTables(t, before, tableSums(t, target.Pool))
	})
	t.Run("manifest and dump both altered", func(t *testing.T) {
		// A dump whose manifest was rewritten to match, but which pg_restore cannot read.
		bad := good[:len(good)-200]
		os.WriteFile(dump, bad, 0o600)
		mpath := strings.TrimSuffix(dump, ".dump") + ".manifest.json"
		m, err := ReadManifest(mpath, "postgis")
		if err != nil {
			t.Fatal(err)
		}
		f, _ := describe(dir, filepath.Base(dump))
		m.Files[0] = f
		writeManifest(mpath, m)
		err = restore()
		if err == nil || !strings.Contains(err.Error(), "pg_restore") || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("restore of an unreadable dump: %v", err)
		}
		dbtest.SameTables(t, before, tableSums(t, target.Pool))
	})
}

func TestPostGISRestoreOlderSchema(t *testing.T) {
	ctx := context.Background()
	// A database at schema version 1 (only 001_core), as an old binary left it.
	oldURL, old := bareDB(t)
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Skip("only one migration: no older schema to restore")
	}
	dbtest.Exec(t, old, ms[0].SQL)
	dbtest.Exec(t, old, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
	dbtest.Exec(t, old, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, ms[0].Version, ms[0].Name)
	dbtest.Exec(t, old, `INSERT INTO replication_state (name, seq, seq_timestamp) VALUES ('minute', 77, now())`)
	dbtest.Exec(t, old, `INSERT INTO changesets (id, state) VALUES (1, 'new'), (2, 'done')`)
	dir := t.TempDir()
	m, dump, err := PostGIS(ctx, dir, PostGISOptions{URL: oldURL})
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != ms[0].Version {
		t.Fatalf("schema version %d", m.SchemaVersion)
	}
	target := dbtest.PG(t) // migrated to the binary's schema, empty
	applied, err := RestorePostGIS(ctx, dump, PostGISOptions{URL: target.URL})
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(ms)-1 {
		t.Errorf("applied %v, want the %d migrations after %s", applied, len(ms)-1, ms[0].Name)
	}
	v, err := store.SchemaVersion(ctx, target.Pool)
	if err != nil || v != store.LatestVersion() {
		t.Errorf("schema version after restore = %d %v, want %d", v, err, store.LatestVersion())
	}
	var seq int64
	if err := target.Pool.QueryRow(ctx, `SELECT seq FROM replication_state WHERE name = 'minute'`).Scan(&seq); err != nil || seq != 77 {
		t.Errorf("pointer after restore = %d %v", seq, err)
	}
	// A backup newer than the binary is refused before touching anything.
	m.SchemaVersion = store.LatestVersion() + 1
	writeManifest(strings.TrimSuffix(dump, ".dump")+".manifest.json", m)
	_, err = RestorePostGIS(ctx, dump, PostGISOptions{URL: target.URL, Force: true})
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "newer than this binary's") {
		t.Fatalf("restore of a newer backup: %v", err)
	}
}
