package fetch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/osmapi"
	"github.com/osmtrack/osmtrack/etl/sim"
)

const simStart = sim.DefaultStartSeq

// serialRun applies the whole simulated feed with one pointer: the reference result.
// With api, the simulator's API fills in locations as `osmtrack fetch` does.
func serialRun(t *testing.T, dir, url string, api bool) map[string]string {
	t.Helper()
	return checksums(t, serialRunDB(t, dir, url, api))
}

// serialRunDB is serialRun, returning the database.
func serialRunDB(t *testing.T, dir, url string, api bool) *pgxpool.Pool {
	t.Helper()
	db := pg(t)
	f := newFetcher(db, url, simRegion(t, dir))
	if api {
		c, err := osmapi.New(osmapi.Options{BaseURL: url + "/api/0.6/", RequestsPerSecond: 1000, Burst: 100})
		if err != nil {
			t.Fatal(err)
		}
		f.API = c
	}
	if _, err := f.Run(context.Background(), Options{Pointer: "minute", Start: fmt.Sprint(simStart)}); err != nil {
		t.Fatal(err)
	}
	return db
}

func sameTables(t *testing.T, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
}

// A backfill runs while the live pointer runs over the same sequences: the rows end the same
// as one serial run, and the live pointer is moved only by the live run.
func TestBackfillConcurrentWithLive(t *testing.T) {
	dir := simDir(t, sim.ProfileRegion, 10)
	srv := simServer(t, dir, sim.Faults{Latency: 5 * time.Millisecond})
	want := serialRun(t, dir, srv.URL, false)

	db := pg(t)
	regions := simRegion(t, dir)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, o := range []Options{
		{Pointer: "minute", Start: fmt.Sprint(simStart)},
		{Pointer: "backfill-a", FromSeq: simStart, ToSeq: simStart + 6},
		// Every pointer starts at the same sequence: region matching of a diff reads what the
		// store holds from earlier diffs, so a backfill that starts later than the data it builds
		// on keeps a different set (docs/fetch.md, "Order dependence").
		{Pointer: "backfill-b", FromSeq: simStart, ToSeq: simStart + 9},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = newFetcher(db, srv.URL, regions).Run(ctx, o)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sameTables(t, want, checksums(t, db))
	if p := pointerSeq(t, db, "backfill-a"); p != simStart+6 {
		t.Fatalf("backfill-a at %d", p)
	}
	if p := pointerSeq(t, db, "minute"); p != simStart+9 {
		t.Fatalf("minute at %d", p)
	}
	if n := count(t, db, `SELECT count(*) FROM diffs`); n != 10 {
		t.Fatalf("%d diffs rows", n)
	}
}

func TestMetricsReadBack(t *testing.T) {
	ix := dbtest.InfluxDB(t)
	dir := simDir(t, sim.ProfileRegion, 10)
	srv := simServer(t, dir, sim.Faults{})
	db := pg(t)
	log := quietLog()
	rec := metrics.New(config.Metrics{URL: ix.URL, Token: ix.Token, Bucket: ix.Bucket, Timeout: config.Duration(5 * time.Second)}, log, nil)
	f := newFetcher(db, srv.URL, simRegion(t, dir))
	f.Metrics = rec
	ctx := context.Background()
	if _, err := f.Run(ctx, Options{Pointer: "minute", Start: fmt.Sprint(simStart), MaxFiles: 3}); err != nil {
		t.Fatal(err)
	}
	f.RecordStates(ctx)
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := ix.Query(`SELECT seq, head_seq, lag_seconds, processing_seconds, bytes, elements, elements_kept, changesets FROM "replication"`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(simStart), fmt.Sprint(simStart + 2), fmt.Sprint(simStart + 9), "elements_kept", "lag_seconds"} {
		if !strings.Contains(out, s) {
			t.Fatalf("replication points lack %s: %s", s, out)
		}
	}
	if strings.Count(out, `[`) < 4 { // columns + 3 rows
		t.Fatalf("too few points: %s", out)
	}
	out, err = ix.Query(`SELECT "count" FROM "changesets" WHERE "state" = 'new'`)
	if err != nil || !strings.Contains(out, "count") {
		t.Fatalf("changeset state points: %s %v", out, err)
	}
}

func TestDeadInfluxStillCommits(t *testing.T) {
	dir := simDir(t, sim.ProfileRegion, 10)
	srv := simServer(t, dir, sim.Faults{})
	db := pg(t)
	rec := metrics.New(config.Metrics{URL: "http://127.0.0.1:9", Bucket: "x/autogen", Timeout: config.Duration(time.Second)}, quietLog(), nil)
	f := newFetcher(db, srv.URL, simRegion(t, dir))
	f.Metrics = rec
	ctx := context.Background()
	res, err := f.Run(ctx, Options{Pointer: "minute", Start: fmt.Sprint(simStart), MaxFiles: 2})
	if err != nil || res.Applied != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	rec.Flush(ctx)
	if _, dropped := rec.Stats(); dropped == 0 {
		t.Fatal("points were not dropped")
	}
	if p := pointerSeq(t, db, "minute"); p != simStart+1 {
		t.Fatalf("pointer at %d", p)
	}
}

// buildBinary builds osmtrack once per test binary.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func osmtrackBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(simRoot, "osmtrack")
		cmd := exec.Command("go", "build", "-o", binPath, "../../jobs")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func writeConfig(t *testing.T, dir, url string) string {
	t.Helper()
	cfg := fmt.Sprintf(`osm:
  replication_url: %s/replication/minute/
  changeset_replication_url: %s/replication/changesets/
  api_url: %s/api/0.6/
  retries: 1
  retry_backoff: 10ms
regions:
  city:
    file: %s
fetch:
  start: "%d"
  max_diffs: 100
  max_duration: 5m
log:
  format: json
analyse:
  api_requests_per_second: 100
`, url, url, url, filepath.Join(dir, "region.poly"), simStart)
	p := filepath.Join(t.TempDir(), "osmtrack.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func command(bin, cfgPath, dbURL string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"fetch"}, args...)...)
	cmd.Env = append(os.Environ(), "OSMTRACK_CONFIG="+cfgPath, "OSMTRACK_DATABASE_URL="+dbURL, "OSMTRACK_INFLUX_URL=")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// TestKill stops `osmtrack fetch` in the middle of a ten-diff run — SIGKILL, and SIGTERM as
// Kubernetes sends it — runs it again, and compares every column of every table with an
// uninterrupted run (dbtest.Tables; job_runs aside: the killed run is one more row there).
// SIGTERM stops the run at a transaction boundary: exit 1 (or 0 between two diffs).
func TestKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := simDir(t, sim.ProfileRegion, 10)
	bin := osmtrackBinary(t)
	srv := simServer(t, dir, sim.Faults{Latency: 60 * time.Millisecond})
	want := dbtest.Tables(t, serialRunDB(t, dir, srv.URL, true), "job_runs")
	cfg := writeConfig(t, dir, srv.URL)

	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			d := dbtest.PG(t)
			cmd := command(bin, cfg, d.URL, nil)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for count(t, d.Pool, `SELECT count(*) FROM diffs`) < 3 {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no progress: %s", stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			n := count(t, d.Pool, `SELECT count(*) FROM diffs`)
			if n >= 10 {
				t.Fatalf("the run finished before the signal (%d diffs)", n)
			}
			if p := pointerSeq(t, d.Pool, "minute"); p != simStart+int64(n)-1 {
				t.Fatalf("pointer %d with %d diffs applied", p, n)
			}
			if sig == syscall.SIGTERM {
				// Stopped inside a diff's transaction: exit 1, recorded as interrupted. Stopped
				// between two diffs: nothing is half-written, exit 0, recorded as ok.
				code, outcome := 0, "ok"
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code, outcome = ee.ExitCode(), "interrupted"
				} else if err != nil {
					t.Fatal(err)
				}
				if code != 0 && code != 1 {
					t.Fatalf("SIGTERM: exit %d, want 0 or 1: %s", code, stderr.String())
				}
				if c := count(t, d.Pool, `SELECT count(*) FROM job_runs WHERE job = 'fetch' AND outcome = '`+outcome+`'`); c != 1 {
					t.Fatalf("SIGTERM: exit %d but no run recorded as %s: %s", code, outcome, stderr.String())
				}
			}
			// A killed client's session lingers until the server notices the closed socket; until
			// then its advisory lock makes the next run exit 0 with nothing done (the next
			// CronJob run carries on). Wait for it so that the re-run below does the work.
			waitUnlocked(t, d)
			out, err := command(bin, cfg, d.URL, nil).CombinedOutput()
			if err != nil {
				t.Fatalf("re-run: %v: %s", err, out)
			}
			dbtest.SameTables(t, want, dbtest.Tables(t, d.Pool, "job_runs"))
		})
	}
}

// waitUnlocked waits until no session holds an advisory lock in the test's database.
func waitUnlocked(t *testing.T, d *dbtest.DB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for count(t, d.Pool, `SELECT count(*) FROM pg_locks l JOIN pg_database db ON db.oid = l.database
		WHERE l.locktype = 'advisory' AND db.datname = current_database()`) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the killed run's advisory lock was not released within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCLI runs the subcommand: exit codes, backfill flags from the command line and from the
// environment, a refused live pointer.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := simDir(t, sim.ProfileRegion, 10)
	bin := osmtrackBinary(t)
	srv := simServer(t, dir, sim.Faults{})
	cfg := writeConfig(t, dir, srv.URL)
	d := dbtest.PG(t)
	exit := func(cmd *exec.Cmd) (int, string) {
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := exit(command(bin, cfg, d.URL, nil, "--from-seq", "5", "--from-time", "2 hours ago")); code != 2 {
		t.Fatalf("two starts: exit %d: %s", code, out)
	}
	if code, out := exit(command(bin, cfg, d.URL, nil, "--from-seq", "5", "--pointer", "minute")); code != 2 {
		t.Fatalf("live pointer: exit %d: %s", code, out)
	}
	// Backfill by sequence from the environment.
	code, out := exit(command(bin, cfg, d.URL, []string{fmt.Sprintf("OSMTRACK_FETCH_FROM_SEQ=%d", simStart), fmt.Sprintf("OSMTRACK_FETCH_TO_SEQ=%d", simStart+2)}))
	if code != 0 {
		t.Fatalf("env backfill: exit %d: %s", code, out)
	}
	if p := pointerSeq(t, d.Pool, fmt.Sprintf("backfill-%d-%d", simStart, simStart+2)); p != simStart+2 {
		t.Fatalf("env backfill pointer at %d", p)
	}
	// Backfill by time with a named pointer: minutes 4..6 of the simulated day.
	from := sim.DefaultStartTime.Add(3*time.Minute + 30*time.Second).Format(time.RFC3339)
	to := sim.DefaultStartTime.Add(6 * time.Minute).Format(time.RFC3339)
	if code, out := exit(command(bin, cfg, d.URL, nil, "--from-time", from, "--to-time", to, "--pointer", "bf-time")); code != 0 {
		t.Fatalf("time backfill: exit %d: %s", code, out)
	}
	if n := count(t, d.Pool, `SELECT count(*) FROM diffs WHERE seq BETWEEN $1 AND $2`, simStart+3, simStart+5); n != 3 {
		t.Fatalf("time backfill applied %d of 3 diffs: %s", n, out)
	}
	if count(t, d.Pool, `SELECT count(*) FROM replication_state WHERE name = 'minute'`) != 0 {
		t.Fatal("a backfill created the live pointer")
	}
	// The live run then catches up; the next one has nothing to do.
	for i := 0; i < 2; i++ {
		if code, out := exit(command(bin, cfg, d.URL, nil)); code != 0 {
			t.Fatalf("live run %d: exit %d: %s", i, code, out)
		}
	}
	if p := pointerSeq(t, d.Pool, "minute"); p != simStart+9 {
		t.Fatalf("live pointer at %d", p)
	}
	// --reset-to repairs a pointer: it needs --pointer and a confirmation.
	if code, out := exit(command(bin, cfg, d.URL, nil, "--reset-to", fmt.Sprint(simStart+5))); code != 2 || !strings.Contains(out, "needs --pointer") {
		t.Fatalf("--reset-to without --pointer: exit %d: %s", code, out)
	}
	if code, out := exit(command(bin, cfg, d.URL, nil, "--pointer", "minute", "--reset-to", fmt.Sprint(simStart+5))); code != 2 || !strings.Contains(out, "add --confirm-reset") {
		t.Fatalf("--reset-to without --confirm-reset: exit %d: %s", code, out)
	}
	if p := pointerSeq(t, d.Pool, "minute"); p != simStart+9 {
		t.Fatalf("an unconfirmed reset moved the pointer to %d", p)
	}
	if code, out := exit(command(bin, cfg, d.URL, nil, "--pointer", "minute", "--reset-to", fmt.Sprint(simStart+5), "--confirm-reset")); code != 0 || !strings.Contains(out, "pointer minute moved from") {
		t.Fatalf("--reset-to --confirm-reset: exit %d: %s", code, out)
	}
	if p := pointerSeq(t, d.Pool, "minute"); p != simStart+5 {
		t.Fatalf("reset pointer at %d, want %d", p, simStart+5)
	}
	// A failing feed exits 1 naming the sequence.
	srv.Close()
	if code, out := exit(command(bin, cfg, d.URL, nil, "--pointer", "other")); code != 1 || !strings.Contains(out, "head state") {
		t.Fatalf("dead feed: exit %d: %s", code, out)
	}
}

// Both feeds of the simulator, region profile: the changesets the diffs track get their
// metadata, whichever feed runs first.
func TestSimBothFeeds(t *testing.T) {
	dir := simDir(t, sim.ProfileRegion, 10)
	srv := simServer(t, dir, sim.Faults{})
	ctx := context.Background()
	run := func(metaFirst bool) map[string]string {
		db := pg(t)
		regions := simRegion(t, dir)
		fd := newFetcher(db, srv.URL, regions)
		fc := newCSFetcher(db, srv.URL, regions)
		diffs := func() error {
			_, err := fd.Run(ctx, Options{Pointer: "minute", Start: fmt.Sprint(simStart)})
			return err
		}
		meta := func() error {
			_, err := fc.RunChangesets(ctx, Options{Pointer: "changesets", Start: fmt.Sprint(simStart)})
			return err
		}
		order := []func() error{diffs, meta}
		if metaFirst {
			order = []func() error{meta, diffs}
		}
		for _, step := range order {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		tracked := count(t, db, `SELECT count(*) FROM changesets WHERE tracked`)
		if tracked == 0 {
			t.Fatal("nothing tracked")
		}
		// Closed changesets tracked by the diffs have their metadata.
		if n := count(t, db, `SELECT count(*) FROM changesets WHERE tracked AND meta_seq IS NOT NULL AND username IS NOT NULL`); n == 0 {
			t.Fatalf("none of %d tracked changesets got metadata", tracked)
		}
		return checksums(t, db)
	}
	a := run(false)
	b := run(true)
	sameTables(t, a, b)
}

// The diffs and the metadata feed run at the same time over the same changesets, as their
// CronJobs do every minute: neither may deadlock the other, and the rows end as a serial run's.
func TestSimBothFeedsConcurrently(t *testing.T) {
	dir := simDir(t, sim.ProfileRegion, 30)
	srv := simServer(t, dir, sim.Faults{})
	ctx := context.Background()
	regions := simRegion(t, dir)
	var want map[string]string
	for round := range 3 {
		db := pg(t)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, errs[0] = newFetcher(db, srv.URL, regions).Run(ctx, Options{Pointer: "minute", Start: fmt.Sprint(simStart)})
		}()
		go func() {
			defer wg.Done()
			_, errs[1] = newCSFetcher(db, srv.URL, regions).RunChangesets(ctx, Options{Pointer: "changesets", Start: fmt.Sprint(simStart)})
		}()
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		got := checksums(t, db)
		if want == nil {
			want = got
		} else {
			sameTables(t, want, got)
		}
	}
}
