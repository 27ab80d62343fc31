package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/sim"
)

// TestSeedCommand: osmtrack seed on a simulated world: the pointers at the extract's
// timestamp, idempotent re-runs, a broken file commits nothing, usage errors exit 2, a URL.
func TestSeedCommand(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	dir := t.TempDir()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := sim.Generate(ctx, sim.Options{Minutes: 3, Seed: 3, Out: dir, StartTime: start}); err != nil {
		t.Fatal(err)
	}
	h, err := sim.NewServer(dir, sim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("/extracts/", http.StripPrefix("/extracts/", http.FileServer(http.Dir("../testdata/osm/extracts"))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg := filepath.Join(dir, "config.yaml")
	writeCfg := func(poly string) {
		t.Helper()
		y := fmt.Sprintf(`osm:
  replication_url: %[1]s/replication/minute/
  changeset_replication_url: %[1]s/replication/changesets/
  api_url: %[1]s/api/0.6/
  retries: 0
regions:
  town:
    file: %[2]s
`, srv.URL, poly)
		if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg(filepath.Join(dir, "region.poly"))
	t.Setenv("OSMTRACK_DATABASE_URL", db.URL)
	t.Setenv("OSMTRACK_CONFIG", cfg)
	t.Setenv("OSMTRACK_INFLUX_URL", "")
	base := filepath.Join(dir, "api/base.osm.gz")
	count := func() (n int64) {
		t.Helper()
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM elements WHERE source = 'seed'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A truncated extract: exit 1 naming the byte, nothing committed.
	data, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.osm.gz")
	os.WriteFile(broken, data[:len(data)*3/4], 0o644)
	if code, out := runCLI(t, "seed", "--extract", broken, "--set-pointer"); code != exitFailure || !strings.Contains(out, "at byte") {
		t.Fatalf("truncated: exit %d: %s", code, out)
	}
	if n := count(); n != 0 {
		t.Fatalf("a broken file committed %d versions", n)
	}
	var pointers int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM replication_state`).Scan(&pointers)
	if pointers != 0 {
		t.Fatalf("a broken file created %d pointers", pointers)
	}

	if code, out := runCLI(t, "seed", "--extract", base, "--set-pointer"); code != exitOK {
		t.Fatalf("seed: exit %d: %s", code, out)
	}
	n := count()
	if n < 1000 {
		t.Fatalf("seeded %d versions", n)
	}
	for _, p := range []string{"minute", "changesets"} {
		var seq int64
		if err := db.Pool.QueryRow(ctx, `SELECT seq FROM replication_state WHERE name = $1`, p).Scan(&seq); err != nil {
			t.Fatalf("pointer %s: %v", p, err)
		}
		t.Logf("pointer %s at %d", p, seq)
		if p == "minute" && seq != int64(sim.DefaultStartSeq)-1 {
			t.Errorf("minute pointer at %d, want %d (the first diff after the extract is the next)", seq, sim.DefaultStartSeq-1)
		}
	}
	// Again with --set-pointer: the pointers exist, a usage error; without: nothing new.
	if code, out := runCLI(t, "seed", "--extract", base, "--set-pointer"); code != exitUsage || !strings.Contains(out, "exists") {
		t.Fatalf("second --set-pointer: exit %d: %s", code, out)
	}
	if code, out := runCLI(t, "seed", "--extract", base); code != exitOK {
		t.Fatalf("second seed: exit %d: %s", code, out)
	}
	if m := count(); m != n {
		t.Fatalf("a second seed changed the store: %d versions, then %d", n, m)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"seed"},
		{"seed", "--extract", base, "--no-such-flag"},
		{"seed", "--extract", filepath.Join(dir, "nothing.osm.pbf")},
		{"seed", "--extract", filepath.Join(dir, "region.poly")},
	} {
		if code, out := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2: %s", args, code, out)
		}
	}
	writeCfg(filepath.Join(dir, "missing.poly"))
	if code, out := runCLI(t, "seed", "--extract", base); code != exitUsage || !strings.Contains(out, "missing.poly") {
		t.Errorf("missing regions file: exit %d: %s", code, out)
	}

	// A URL (two passes: spooled to disk), Monaco with a region over part of it.
	poly := filepath.Join(dir, "monaco.poly")
	os.WriteFile(poly, []byte("m\n1\n 7.40 43.70\n 7.4225 43.70\n 7.4225 43.735\n 7.40 43.735\n 7.40 43.70\nEND\nEND\n"), 0o644)
	writeCfg(poly)
	if code, out := runCLI(t, "seed", "--extract", srv.URL+"/extracts/monaco-20150428.osm.pbf", "--tmp-dir", dir); code != exitOK {
		t.Fatalf("seed URL: exit %d: %s", code, out)
	}
	if m := count(); m != n+8131 {
		t.Errorf("after Monaco: %d versions, want %d + 8131 (osmium's complete_ways)", m, n)
	}
	if code, out := runCLI(t, "seed", "--extract", srv.URL+"/extracts/nothing.osm.pbf"); code != exitFailure || !strings.Contains(out, "404") {
		t.Errorf("missing URL: exit %d: %s", code, out)
	}
}
