package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/sim"
)

// TestKillAnalyse stops `osmtrack analyse` in the middle of a run (SIGKILL, and SIGTERM as
// Kubernetes sends it) over a simulated region whose API answers slowly. Right after the kill,
// every changeset is either analysed with all it wrote (downloaded versions, download status)
// or untouched; after a re-run, every column of every table (dbtest.Tables; job_runs aside)
// equals an uninterrupted run's.
func TestKillAnalyse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	if _, err := sim.Generate(context.Background(), sim.Options{Profile: sim.ProfileRegion, Minutes: 12, Seed: 11, Out: dir}); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "osmtrack")
	if out, err := exec.Command("go", "build", "-o", bin, "../../jobs").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	h, err := sim.NewServer(dir, sim.Faults{Latency: 40 * time.Millisecond, Only: "/api/"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := filepath.Join(t.TempDir(), "osmtrack.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`osm:
  replication_url: %[1]s/replication/minute/
  changeset_replication_url: %[1]s/replication/changesets/
  api_url: %[1]s/api/0.6/
  retries: 1
  retry_backoff: 10ms
regions:
  city:
    file: %[2]s
fetch:
  start: "%[3]d"
  max_diffs: 100
changesets:
  start: head
analyse:
  api_requests_per_second: 1000
log:
  format: json
`, srv.URL, filepath.Join(dir, "region.poly"), sim.DefaultStartSeq)), 0o644)
	run := func(db *dbtest.DB, args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "OSMTRACK_CONFIG="+cfg, "OSMTRACK_DATABASE_URL="+db.URL, "OSMTRACK_INFLUX_URL=")
		return cmd
	}
	prepare := func(db *dbtest.DB) {
		for _, args := range [][]string{{"fetch"}, {"fetch", "--changesets"}, {"filter"}} {
			if out, err := run(db, args...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v: %s", args, err, out)
			}
		}
	}
	count := func(db *dbtest.DB, q string) (n int) {
		t.Helper()
		if err := db.Pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	ref := dbtest.PG(t)
	prepare(ref)
	start := time.Now()
	if out, err := run(ref, "analyse").CombinedOutput(); err != nil {
		t.Fatalf("analyse: %v: %s", err, out)
	}
	total := count(ref, `SELECT count(*) FROM analyses`)
	t.Logf("uninterrupted analyse: %d analyses in %s", total, time.Since(start).Round(time.Millisecond))
	if total < 4 {
		t.Fatalf("only %d changesets analysed: too few to stop a run in the middle", total)
	}
	want := dbtest.Tables(t, ref.Pool, "job_runs")

	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			d := dbtest.PG(t)
			prepare(d)
			cmd := run(d, "analyse")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for count(d, `SELECT count(*) FROM analyses`) < 2 {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no progress: %s", out.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			n := count(d, `SELECT count(*) FROM analyses`)
			if n >= total {
				t.Fatalf("the run finished before the signal (%d of %d analyses)", n, total)
			}
			var ee *exec.ExitError
			if sig == syscall.SIGTERM && err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
				t.Fatalf("SIGTERM: %v, want exit 0 or 1: %s", err, out.String())
			}
			// Nothing half-written: a changeset's downloaded versions come with its download
			// status, and an analysis with its state.
			if c := count(d, `SELECT count(*) FROM elements e JOIN changesets c ON c.id = e.changeset
				WHERE e.source = 'download' AND c.download_at IS NULL`); c != 0 {
				t.Errorf("%d downloaded versions of changesets without a download status", c)
			}
			if c := count(d, `SELECT count(*) FROM analyses a JOIN changesets c ON c.id = a.changeset_id
				WHERE c.state NOT IN ('analysed', 'done')`); c != 0 {
				t.Errorf("%d analyses of changesets not analysed", c)
			}
			// The killed session's locks go when the server notices; the re-run then does the rest.
			for deadline := time.Now().Add(30 * time.Second); count(d, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
				WHERE l.locktype = 'advisory' AND a.datname = current_database() AND a.pid <> pg_backend_pid()`) > 0; {
				if time.Now().After(deadline) {
					t.Fatal("the killed run's lock is still held")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if o, err := run(d, "analyse").CombinedOutput(); err != nil {
				t.Fatalf("re-run: %v: %s", err, o)
			}
			dbtest.SameTables(t, want, dbtest.Tables(t, d.Pool, "job_runs"))
		})
	}
}
