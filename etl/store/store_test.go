package store_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMigrationsAreOrderedAndUnique(t *testing.T) {
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("first migration should be version 1, got %+v", ms)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].Version <= ms[i-1].Version {
			t.Fatalf("migrations out of order: %s after %s", ms[i].Name, ms[i-1].Name)
		}
	}
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	db := dbtest.PG(t) // already migrated once
	ctx := context.Background()
	done, err := store.Migrate(ctx, db.Pool, quiet, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 0 {
		t.Fatalf("second migrate applied %v", done)
	}
	v, err := store.SchemaVersion(ctx, db.Pool)
	if err != nil || v != store.LatestVersion() {
		t.Fatalf("schema version %d, %v; want %d", v, err, store.LatestVersion())
	}
}

func TestConcurrentMigrateFromScratch(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	// Drop everything the migrations made, then race two migrations on a fresh schema.
	if _, err := db.Pool.Exec(ctx, `DO $$DECLARE t text; BEGIN
		FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys' LOOP
			EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(t) || ' CASCADE';
		END LOOP; END$$`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([][]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = store.Migrate(ctx, db.Pool, quiet, "")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	ms, _ := store.Migrations()
	if got := len(results[0]) + len(results[1]); got != len(ms) {
		t.Fatalf("applied %d migrations in total, want each of %d exactly once: %v", got, len(ms), results)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, len(ms))
	}
}

func TestReadOnlyRoleCanOnlySelect(t *testing.T) {
	// The role is created and dropped by the cluster's admin (the test database's owner may not
	// create roles); its cleanup is registered first so that it runs after the database is gone.
	admin := dbtest.Require(t, dbtest.EnvPGAdmin)[0]
	ctx := context.Background()
	role := fmt.Sprintf("ro_test_%d", time.Now().UnixNano())
	adminExec := func(q string) error {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		_, err = c.Exec(context.Background(), q)
		return err
	}
	if err := adminExec(`CREATE ROLE ` + role + ` LOGIN PASSWORD 'pw'`); err != nil {
		t.Fatalf("create role as %s: %v", dbtest.EnvPGAdmin, err)
	}
	t.Cleanup(func() {
		if err := adminExec(`DROP ROLE IF EXISTS ` + role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	db := dbtest.PG(t)
	if _, err := store.Migrate(ctx, db.Pool, quiet, role); err != nil {
		t.Fatal(err)
	}
	db.Pool.Exec(ctx, `GRANT CONNECT ON DATABASE `+db.Name+` TO `+role)
	conn, err := pgx.Connect(ctx, db.URLAs(role, "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM changesets`).Scan(&n); err != nil {
		t.Fatalf("read-only role cannot select: %v", err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO job_runs (run_id, job, started_at, outcome) VALUES ('x', 'y', now(), 'ok')`); err == nil {
		t.Fatal("read-only role could insert")
	}
}

func TestTryLockIsExclusive(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	a, err := store.TryLock(ctx, db.Pool, "fetch:minute")
	if err != nil || a == nil {
		t.Fatalf("first lock: %v %v", a, err)
	}
	b, err := store.TryLock(ctx, db.Pool, "fetch:minute")
	if err != nil || b != nil {
		t.Fatalf("second lock on the same name should be refused: %v %v", b, err)
	}
	other, err := store.TryLock(ctx, db.Pool, "fetch:backfill")
	if err != nil || other == nil {
		t.Fatalf("a lock on another name should be granted: %v", err)
	}
	other.Release(ctx)
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := store.TryLock(ctx, db.Pool, "fetch:minute")
	if err != nil || c == nil {
		t.Fatalf("lock after release: %v %v", c, err)
	}
	c.Release(ctx)
}
