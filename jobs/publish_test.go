package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/store"
)

func TestPublishCommand(t *testing.T) {
	db := dbtest.PG(t)
	_, file, _, _ := runtime.Caller(0)
	leaflet := filepath.Join(filepath.Dir(file), "..", "site", "node_modules", "leaflet", "dist")
	if _, err := os.Stat(filepath.Join(leaflet, "leaflet.js")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("leaflet is not installed: scripts/install.sh node")
		}
		t.Skip("leaflet is not installed: scripts/install.sh node")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("publish:\n  leaflet_dir: "+leaflet+"\n  tile_url: \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(context.Background(), `INSERT INTO changesets (id, username, uid, created_at, state, tags) VALUES (7, 'ann', 7, now(), 'filtered', '{"comment":"hello"}')`); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvDatabaseURL, db.URL)
	out := filepath.Join(dir, "site")
	if code, msg := runCLI(t, "publish", "--config", cfg, "--out", out, "--no-head"); code != exitOK {
		t.Fatalf("publish: exit %d\n%s", code, msg)
	}
	if _, err := os.Stat(filepath.Join(out, "current", "changesets", "7.html")); err != nil {
		t.Fatalf("no page: %v", err)
	}
	// The lock held elsewhere: exit 0 without publishing.
	lock, err := store.TryLock(context.Background(), db.Pool, "publish")
	if err != nil || lock == nil {
		t.Fatalf("lock: %v", err)
	}
	before, _ := os.Readlink(filepath.Join(out, "current"))
	if code, msg := runCLI(t, "publish", "--config", cfg, "--out", out, "--no-head"); code != exitOK {
		t.Fatalf("publish while locked: exit %d\n%s", code, msg)
	}
	after, _ := os.Readlink(filepath.Join(out, "current"))
	lock.Release(context.Background())
	if before != after {
		t.Error("published while another run held the lock")
	}
	// Leaflet missing is a configuration error.
	os.WriteFile(cfg, []byte("publish:\n  leaflet_dir: "+dir+"/none\n"), 0o644)
	if code, msg := runCLI(t, "publish", "--config", cfg, "--out", out, "--no-head"); code != exitUsage {
		t.Fatalf("publish without leaflet: exit %d, want 2\n%s", code, msg)
	}
}
