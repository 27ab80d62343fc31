package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/store"
)

// TestMain keeps the commands under test away from the databases the environment names
// (the demo's, after `eval "$(scripts/services.sh env)"`): each test sets its own.
func TestMain(m *testing.M) {
	dbtest.IsolateEnv()
	os.Exit(m.Run())
}

func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String() + errb.String()
}

// runIO runs the command line and returns its exit code, stdout and stderr.
func runIO(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
	}{
		{nil, exitUsage},
		{[]string{"frobnicate"}, exitUsage},
		{[]string{"help"}, exitOK},
		{[]string{"--help"}, exitOK},
		{[]string{"version"}, exitOK},
		{[]string{"migrate", "--help"}, exitOK},
		{[]string{"migrate", "--no-such-flag"}, exitUsage},
		{[]string{"migrate", "extra"}, exitUsage},
		{[]string{"config"}, exitUsage},
	}
	for _, tc := range cases {
		if code, out := runCLI(t, tc.args...); code != tc.code {
			t.Errorf("osmtrack %v: exit %d, want %d\n%s", tc.args, code, tc.code, out)
		}
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for name := range commands {
		var code int
		var out string
		code, printed, out := runIO(t, name, "--help")
		if code != exitOK || !strings.Contains(printed+out, "usage:") {
			t.Errorf("osmtrack %s --help: exit %d\n%s%s", name, code, printed, out)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("fetch:\n  max_diffs: 10\n"), 0o644)
	os.WriteFile(bad, []byte("fetch:\n  max_diffs: 10\n  maxdiffs: 3\n"), 0o644)
	if code, out := runCLI(t, "config", "check", "--config", good); code != exitOK {
		t.Fatalf("good config: exit %d: %s", code, out)
	}
	code, out := runCLI(t, "config", "check", "--config", bad)
	if code != exitUsage || !strings.Contains(out, "bad.yaml:3") || !strings.Contains(out, "maxdiffs") {
		t.Fatalf("unknown key: exit %d, want 2 naming bad.yaml:3 and the key; got %q", code, out)
	}
	t.Setenv("OSMTRACK_CONFIG", bad)
	if code, _ := runCLI(t, "config", "check"); code != exitUsage {
		t.Fatalf("OSMTRACK_CONFIG not read: exit %d", code)
	}
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	db := dbtest.PG(t)
	// Start from an empty database: the migrations themselves create job_runs.
	if _, err := db.Pool.Exec(context.Background(), `DO $$DECLARE t text; BEGIN
		FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys' LOOP
			EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(t) || ' CASCADE';
		END LOOP; END$$`); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OSMTRACK_DATABASE_URL", db.URL)
	t.Setenv("OSMTRACK_CONFIG", "")
	// InfluxDB "configured but down": the step still does its work and exits 0.
	t.Setenv("OSMTRACK_INFLUX_URL", "http://127.0.0.1:9")
	if code, out := runCLI(t, "migrate"); code != exitOK {
		t.Fatalf("migrate: exit %d: %s", code, out)
	}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i], _ = runCLI(t, "migrate") }()
	}
	wg.Wait()
	if codes[0] != exitOK || codes[1] != exitOK {
		t.Fatalf("concurrent migrate exit codes %v", codes)
	}
	v, err := store.SchemaVersion(context.Background(), db.Pool)
	if err != nil || v != store.LatestVersion() {
		t.Fatalf("schema version %d (%v), want %d", v, err, store.LatestVersion())
	}
	var migrations int
	db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&migrations)
	if ms, _ := store.Migrations(); migrations != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", migrations, len(ms))
	}
}

func TestStepWithoutDatabaseIsAUsageError(t *testing.T) {
	t.Setenv("OSMTRACK_DATABASE_URL", "")
	t.Setenv("OSMTRACK_CONFIG", "")
	if code, out := runCLI(t, "migrate"); code != exitUsage || !strings.Contains(out, "OSMTRACK_DATABASE_URL") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestHelpfulUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string // substrings of the one line printed
	}{
		{[]string{"fecth"}, []string{`unknown command "fecth"`, `did you mean "fetch"`, "osmtrack help"}},
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate"`, "osmtrack help"}},
		{[]string{"fetch", "--chnagesets"}, []string{"osmtrack fetch: unknown flag --chnagesets", "did you mean --changesets", "osmtrack fetch --help"}},
		{[]string{"fetch", "--from"}, []string{"--from-seq", "--from-time", "osmtrack fetch --help"}},
		{[]string{"migrate", "--zzzzzz"}, []string{"osmtrack migrate: unknown flag --zzzzzz;", "osmtrack migrate --help"}},
		{[]string{"fetch", "--from-seq=x"}, []string{`invalid value "x" for flag --from-seq`, "osmtrack fetch --help"}},
		{[]string{"migrate", "extra"}, []string{`unexpected argument "extra"`, "osmtrack migrate --help"}},
	}
	for _, tc := range cases {
		code, out := runCLI(t, tc.args...)
		if code != exitUsage {
			t.Errorf("osmtrack %v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if n := strings.Count(strings.TrimSpace(out), "\n"); n != 0 {
			t.Errorf("osmtrack %v printed %d lines, want one:\n%s", tc.args, n+1, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("osmtrack %v: %q lacks %q", tc.args, out, w)
			}
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"changesets", "from-seq", "from-time", "to-seq", "config", "force"}
	cases := []struct {
		in   string
		want string
	}{
		{"chnagesets", "changesets"},
		{"changeset", "changesets"},
		{"confg", "config"},
		{"from", "from-seq from-time"},
		{"tO-seq", "to-seq"},
		{"xyz", ""},
	}
	for _, tc := range cases {
		if got := strings.Join(closest(tc.in, names, 3), " "); got != tc.want {
			t.Errorf("closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestConfigCheckWarnsWithoutRegion(t *testing.T) {
	t.Setenv("OSMTRACK_CONFIG", "")
	var code int
	var out string
	code, printed, out := runIO(t, "config", "check")
	if code != exitOK || !strings.Contains(printed, "ok") {
		t.Fatalf("config check without a file: exit %d, stdout %q", code, printed)
	}
	for _, w := range []string{"no regions configured", "whole planet", "5 GB"} {
		if !strings.Contains(out, w) {
			t.Errorf("config check without a region: the warning %q lacks %q", out, w)
		}
	}
	// The example configuration names the region file shipped in examples/regions.
	code, printed, out = runIO(t, "config", "check", "--config", "../examples/config.yaml")
	if code != exitOK || strings.Contains(out, "warning") {
		t.Fatalf("examples/config.yaml: exit %d, %q %q", code, printed, out)
	}
}
