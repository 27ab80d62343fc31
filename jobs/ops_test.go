package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// opsEnv points the commands at db with metrics off.
func opsEnv(t *testing.T, db *dbtest.DB) {
	t.Setenv("OSMTRACK_DATABASE_URL", db.URL)
	t.Setenv("OSMTRACK_INFLUX_URL", "")
	t.Setenv("OSMTRACK_CONFIG", "")
}

func sqlExec(t *testing.T, db *dbtest.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func statusCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runIO(t, append([]string{"status", "--no-head"}, args...)...)
}

func TestStatusCommand(t *testing.T) {
	db := dbtest.PG(t)
	opsEnv(t, db)
	sqlExec(t, db, `INSERT INTO replication_state (name, feed, seq, seq_timestamp) VALUES ('minute', 'minute', 20, now() - interval '1 minute')`)
	sqlExec(t, db, `INSERT INTO diffs (seq, seq_timestamp, bytes, elements, elements_kept, changesets, processing_ms)
		SELECT s, now() - (21 - s) * interval '1 minute', 1, 1, 1, 1, 1 FROM generate_series(1, 20) s`)
	sqlExec(t, db, `INSERT INTO job_runs (run_id, job, started_at, finished_at, outcome)
		SELECT 'r-' || j, j, now() - interval '2 minutes', now() - interval '1 minute', 'ok' FROM unnest(ARRAY['fetch','filter','analyse','publish']) j`)

	if code, out, msg := statusCLI(t, "--strict"); code != exitOK || !strings.Contains(out, "healthy") {
		t.Fatalf("healthy: exit %d\n%s%s", code, out, msg)
	}
	code, out, _ := statusCLI(t, "--format", "json", "--strict")
	if code != exitOK {
		t.Fatalf("healthy json: exit %d", code)
	}
	validateStatus(t, out)

	// A gap.
	sqlExec(t, db, `DELETE FROM diffs WHERE seq = 7`)
	if code, out, msg := statusCLI(t, "--strict"); code != exitFailure || !strings.Contains(msg, "1 gap(s) in diffs: 7") {
		t.Errorf("gap: exit %d\n%s%s", code, out, msg)
	}
	// Without --strict the report is printed and the exit is 0.
	if code, out, _ := statusCLI(t); code != exitOK || !strings.Contains(out, "7..7") {
		t.Errorf("gap without --strict: exit %d\n%s", code, out)
	}
	sqlExec(t, db, `INSERT INTO diffs (seq, seq_timestamp, bytes, elements, elements_kept, changesets, processing_ms) VALUES (7, now(), 1, 1, 1, 1, 1)`)

	// Lag over status.max_lag.
	sqlExec(t, db, `UPDATE replication_state SET seq_timestamp = now() - interval '16 minutes'`)
	code, out, msg := statusCLI(t, "--strict", "--format", "json")
	if code != exitFailure || !strings.Contains(msg, "pointer minute lags 16m") {
		t.Errorf("lag: exit %d\n%s", code, msg)
	}
	validateStatus(t, out)
	// ... within a larger configured threshold.
	cfg := filepath.Join(t.TempDir(), "osmtrack.yaml")
	os.WriteFile(cfg, []byte("status:\n  max_lag: 30m\n  intervals:\n    publish: 0s\n"), 0o644)
	if code, out, msg := statusCLI(t, "--strict", "--config", cfg); code != exitOK {
		t.Errorf("lag under status.max_lag 30m: exit %d\n%s%s", code, out, msg)
	}

	// A pointer dated in the future is a problem (a healthy negative lag before).
	sqlExec(t, db, `UPDATE replication_state SET seq_timestamp = '2099-01-01T00:00:00Z'`)
	if code, out, msg := statusCLI(t, "--strict"); code != exitFailure || !strings.Contains(msg, "in the future") {
		t.Errorf("future pointer: exit %d\n%s%s", code, out, msg)
	}
	sqlExec(t, db, `UPDATE replication_state SET seq_timestamp = now() - interval '1 minute'`)

	// An unreachable database or InfluxDB is exit 1 with the reason, --strict or not.
	t.Setenv("OSMTRACK_INFLUX_URL", "http://127.0.0.1:9")
	if code, _, msg := statusCLI(t); code != exitFailure || !strings.Contains(msg, "influxdb is not reachable") {
		t.Errorf("influxdb down: exit %d\n%s", code, msg)
	}
	t.Setenv("OSMTRACK_INFLUX_URL", "")
	t.Setenv("OSMTRACK_DATABASE_URL", "postgres://nobody:x@127.0.0.1:9/none?connect_timeout=2")
	if code, _, msg := statusCLI(t); code != exitFailure || !strings.Contains(msg, "database is not reachable") {
		t.Errorf("database down: exit %d\n%s", code, msg)
	}
	t.Setenv("OSMTRACK_DATABASE_URL", db.URL)

	if code, _, _ := statusCLI(t, "--format", "yaml"); code != exitUsage {
		t.Errorf("--format yaml: exit %d, want %d", code, exitUsage)
	}
}

func validateStatus(t *testing.T, out string) {
	t.Helper()
	raw, err := os.ReadFile("../docs/status.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AddResource("status.schema.json", doc)
	sch, err := c.Compile("status.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("status --format json is not JSON: %v\n%s", err, out)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("status JSON does not validate against docs/status.schema.json: %v\n%s", err, out)
	}
	var m map[string]any
	json.Unmarshal([]byte(out), &m)
	for _, k := range []string{"pointers", "gaps", "changesets", "failed", "jobs", "problems", "database", "influxdb"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status JSON lacks %q", k)
		}
	}
}

func TestBackupRestorePruneCommands(t *testing.T) {
	db := dbtest.PG(t)
	opsEnv(t, db)
	sqlExec(t, db, `INSERT INTO replication_state (name, seq, seq_timestamp) VALUES ('minute', 5, now())`)
	sqlExec(t, db, `INSERT INTO changesets (id, created_at, closed_at) VALUES (1, now() - interval '100 days', now() - interval '100 days'), (2, now(), NULL)`)
	dir := t.TempDir()
	if code, msg := runCLI(t, "backup", "postgis", "--out", dir); code != exitOK {
		t.Fatalf("backup: exit %d\n%s", code, msg)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "osmtrack-postgis-*.dump"))
	if len(matches) != 1 {
		t.Fatalf("backup files: %v", matches)
	}
	dump := matches[0]

	// Into the database it came from, which holds data: refused, exit 2.
	if code, msg := runCLI(t, "restore", "postgis", dump); code != exitUsage || !strings.Contains(msg, "use --force") {
		t.Errorf("restore over data: exit %d\n%s", code, msg)
	}
	// --force never comes from the environment: neither the old flat variable (which fetch's
	// --force used to share) nor one naming restore.
	for _, env := range []string{"OSMTRACK_FORCE", "OSMTRACK_RESTORE_POSTGIS_FORCE"} {
		t.Setenv(env, "true")
		code, msg := runCLI(t, "restore", "postgis", dump)
		if code != exitUsage || !strings.Contains(msg, env) || !strings.Contains(msg, "--force on the command line") {
			t.Errorf("restore with %s=true: exit %d\n%s", env, code, msg)
		}
		t.Setenv(env, "")
	}
	// prune removes changeset 1 (100 days old); the forced restore brings it back.
	if code, msg := runCLI(t, "prune"); code != exitOK {
		t.Fatalf("prune: exit %d\n%s", code, msg)
	}
	count := func() (n int) {
		db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM changesets`).Scan(&n)
		return n
	}
	if n := count(); n != 1 {
		t.Errorf("after prune: %d changesets, want 1", n)
	}
	if code, msg := runCLI(t, "restore", "postgis", "--from", dir, "--force"); code != exitOK {
		t.Fatalf("forced restore: exit %d\n%s", code, msg)
	}
	if n := count(); n != 2 {
		t.Errorf("after restore: %d changesets, want 2", n)
	}
	// The backup's own job run, running when the dump was taken, is interrupted after the restore.
	var outcome string
	db.Pool.QueryRow(context.Background(), `SELECT outcome FROM job_runs WHERE job = 'backup-postgis'`).Scan(&outcome)
	if outcome != "interrupted" {
		t.Errorf("backup-postgis run after restore: %q", outcome)
	}

	// A truncated file: exit 1, a clear message, nothing restored.
	data, _ := os.ReadFile(dump)
	os.WriteFile(dump, data[:len(data)-100], 0o600)
	sqlExec(t, db, `DELETE FROM changesets WHERE id = 2`)
	if code, msg := runCLI(t, "restore", "postgis", "--force", dump); code != exitFailure || !strings.Contains(msg, "truncated") {
		t.Errorf("truncated restore: exit %d\n%s", code, msg)
	}
	if n := count(); n != 1 {
		t.Errorf("after a refused restore: %d changesets, want 1", n)
	}

	for _, args := range [][]string{{"backup"}, {"backup", "mysql"}, {"backup", "postgis"}, {"restore", "postgis"}, {"restore", "postgis", "/no/such/file"}, {"restore", "influxdb", dir}} {
		if args[0] == "backup" && len(args) == 2 && args[1] == "postgis" {
			t.Setenv("OSMTRACK_BACKUP_POSTGIS_OUT", "")
		}
		if code, msg := runCLI(t, args...); code != exitUsage {
			t.Errorf("osmtrack %v: exit %d, want %d\n%s", args, code, exitUsage, msg)
		}
	}
}
