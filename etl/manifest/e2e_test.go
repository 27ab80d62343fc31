package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/sim"
)

// TestCronJobsEndToEnd runs the CronJobs of the root build as the cluster would, over a
// simulated hour: each minute the simulator releases one minutely diff, and every CronJob whose
// schedule (robfig/cron, on the simulated clock) fires in that minute runs its containers'
// commands, concurrently like the pods of a cluster (analyse with its Job's parallelism). The
// commands get the environment of the manifests (ConfigMaps, Secrets pointed at the local
// PostGIS and InfluxDB, $(VAR) expansion), their volumes mapped to temporary folders, and the
// configuration from the ConfigMap with the OSM endpoints pointed at the simulator. Then it
// checks the published site, the job_run metrics, the dashboard's queries, a backfill, a restore
// of the nightly PostGIS backup, and runs the smoke test template.
//
// It skips while a subcommand the CronJobs use is missing from the binary. For development,
// OSMTRACK_E2E_PARTIAL=1 runs what exists, and OSMTRACK_E2E_SLOW=1 logs every command that
// took more than 1.5 s with its output.
func TestCronJobsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: not with -short")
	}
	db := dbtest.PG(t)
	ix := dbtest.InfluxDB(t)
	bin := osmtrackBinary(t)
	b := load(t, ".")
	cjs := b.CronJobs()
	binary, err := NewBinary(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	skip := map[string]bool{}
	for _, cj := range cjs {
		if args := osm(cj).Args; !binary.Has(args[0]) {
			missing = append(missing, cj.Name+" ("+args[0]+")")
			skip[cj.Name], skip[args[0]] = true, true
		}
	}
	if len(missing) > 0 {
		if os.Getenv("OSMTRACK_E2E_PARTIAL") == "" {
			t.Skipf("end-to-end: subcommands not in the binary yet: %s", strings.Join(missing, ", "))
		}
		// Development only: run what exists.
		t.Logf("OSMTRACK_E2E_PARTIAL: without %s", strings.Join(missing, ", "))
	}
	adminUser, adminPass, _ := strings.Cut(ix.Token, ":")
	ctx := context.Background()
	// The InfluxDB users exactly as the influxdb:1.8 image's init creates them: the writer may
	// only WRITE, the reader only READ. A step given less than it needs fails below (status
	// reading as the writer gets 403); one given more fails here, before anything runs.
	writer, reader := influxUser(t, ix, "WRITE"), influxUser(t, ix, "READ")
	for _, cj := range cjs {
		ct := osm(cj)
		if have, want := InfluxUsersOf(b, ct), InfluxUsers(ct.Args); strings.Join(have, ",") != strings.Join(want, ",") {
			t.Errorf("%s (%s) gets the InfluxDB users %v; it needs %v", cj.Name, ct.Args[0], have, want)
		}
	}

	// The simulated hour: the data's times end now (so lag and the site's day window are those
	// of a live deployment), while the schedule clock runs 02:30–03:30 UTC, when the daily
	// backups and prune fire too.
	dataStart := time.Now().UTC().Truncate(time.Minute).Add(-60 * time.Minute)
	simDir := t.TempDir()
	if _, err := sim.Generate(ctx, sim.Options{Profile: sim.ProfileRegion, Minutes: 60, Seed: 1, Out: simDir, StartTime: dataStart}); err != nil {
		t.Fatal(err)
	}
	srv, err := sim.Open(simDir, sim.ServeOptions{Live: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	work := t.TempDir()
	r := &runner{
		t: t, b: b, bin: bin, work: work, cwd: mustAbs(t, root),
		secrets: map[string]map[string]string{
			SecretPostGIS: {KeyRW: db.URL, KeyRO: readOnlyURL(db)},
			"osmtrack-influxdb": {
				"admin-user": adminUser, "admin-password": adminPass,
				"writer-user": writer[0], "writer-password": writer[1],
				"reader-user": reader[0], "reader-password": reader[1],
			},
		},
		// In-cluster endpoints → the local services.
		endpoints: map[string]string{
			"OSMTRACK_INFLUX_URL":                  ix.URL,
			"OSMTRACK_INFLUX_BUCKET":               ix.Bucket,
			"OSMTRACK_BACKUP_INFLUXDB_INFLUX_RPC":  ix.RPC,
			"OSMTRACK_RESTORE_INFLUXDB_INFLUX_RPC": ix.RPC,
		},
		configEdit: map[string]map[string]any{
			"osm": {
				"replication_url":           hs.URL + "/replication/minute/",
				"changeset_replication_url": hs.URL + "/replication/changesets/",
				"api_url":                   hs.URL + "/api/0.6/",
			},
			// The rate limit is for the real OSM API; the simulator needs none.
			"analyse": {"api_requests_per_second": 100},
		},
		claims: map[string]string{},
		mu:     &sync.Mutex{},
	}
	r.pathEnv = os.Getenv("PATH")

	// The first deployment as docs/operations.md has it: the migrate template (grants the
	// read-only role publish uses), then the seed template as `scripts/kube.sh seed --extract
	// URL --set-pointer` runs it (TestKubeSeed), the extract downloaded over HTTP.
	r.runJob(ctx, b.Get("CronJob", "osmtrack-migrate").Typed.(*batchv1.CronJob), true, nil)
	extracts := httptest.NewServer(http.FileServer(http.Dir(simDir)))
	defer extracts.Close()
	seed := b.Get("CronJob", "osmtrack-seed").Typed.(*batchv1.CronJob)
	if res := r.runPod(ctx, seed.Name, &seed.Spec.JobTemplate.Spec.Template.Spec, time.Minute, nil); res.code != 2 {
		t.Errorf("a Job made from the seed template as it is: exit %d, want 2: %s", res.code, res.msg)
	}
	r.runJob(ctx, withArgs(seed, append(osm(seed).Args, "--extract", extracts.URL+"/api/base.osm.gz", "--set-pointer")...), true, nil)
	var seeded, pointers int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM elements`).Scan(&seeded)
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM replication_state`).Scan(&pointers)
	if seeded == 0 || pointers == 0 {
		t.Errorf("seed --set-pointer: %d elements, %d pointers", seeded, pointers)
	}

	clock := time.Date(2026, 3, 2, 2, 30, 0, 0, time.UTC)
	type sched struct {
		cj   *batchv1.CronJob
		next time.Time
		s    interface{ Next(time.Time) time.Time }
	}
	var scheds []*sched
	for _, cj := range cjs {
		if (cj.Spec.Suspend != nil && *cj.Spec.Suspend) || skip[cj.Name] {
			continue
		}
		s, err := Schedule(cj.Spec.Schedule)
		if err != nil {
			t.Fatal(err)
		}
		scheds = append(scheds, &sched{cj: cj, s: s, next: s.Next(clock.Add(-time.Second))})
	}
	var (
		smokeMu sync.Mutex
		smokes  []bool
	)
	// The CronJob controller with concurrencyPolicy Forbid: a CronJob whose last Job is still
	// running when it is due again skips that run. A simulated minute waits for its Jobs at
	// most one real minute (a step normally takes a second or two; fetch stops itself after
	// fetch.max_duration, 45 s), so a Job that overruns a real minute has its next run skipped,
	// as on a cluster, rather than holding the hour up.
	cron := newCronSim(time.Minute)
	for m := 0; m < 60; m++ {
		now := clock.Add(time.Duration(m) * time.Minute)
		srv.Advance()
		var due []*batchv1.CronJob
		for _, s := range scheds {
			for !s.next.After(now) {
				due = append(due, s.cj)
				s.next = s.s.Next(s.next)
			}
		}
		cron.minute(due, func(cj *batchv1.CronJob) {
			if cj.Name == "osmtrack-smoke" {
				// The health check may fail while the pipeline catches up (checked after the hour).
				ok := r.runJob(ctx, cj, false, nil)
				smokeMu.Lock()
				smokes = append(smokes, ok)
				smokeMu.Unlock()
				return
			}
			r.runJob(ctx, cj, true, nil)
		})
		if t.Failed() {
			cron.wait()
			t.Fatalf("simulated minute %s: a step failed", now.Format("15:04"))
		}
	}
	cron.wait()
	ran := cron.started
	if len(cron.skipped) > 0 {
		t.Logf("runs skipped because the previous Job was still running after a minute (Forbid): %v", cron.skipped)
	}
	for name, want := range map[string]int{"osmtrack-fetch": 60, "osmtrack-changesets": 60, "osmtrack-filter": 60, "osmtrack-analyse": 30, "osmtrack-publish": 30,
		"osmtrack-prune": 1, "osmtrack-backup-postgis": 1, "osmtrack-backup-influxdb": 1, "osmtrack-smoke": 6} {
		if ran[name]+cron.skipped[name] != want && !skip[name] {
			t.Errorf("%s ran %d times (and was skipped %d times) in the simulated hour, want %d", name, ran[name], cron.skipped[name], want)
		}
	}

	// The scheduled health check (status --strict as the PostGIS read-only role and the
	// InfluxDB reader). The simulated hour replays an hour of data ending now in a few real
	// minutes, so at simulated minute m the pointers lag 60-m real minutes: the runs before
	// minute 45 fail on status.max_lag (15m), as they should; the last one (minute 50) must pass.
	if len(smokes) == 0 || !smokes[len(smokes)-1] {
		t.Errorf("the smoke CronJob's last scheduled run failed (status --strict): %v", smokes)
	}

	// The published site: an index and changeset pages, served as nginx would serve the volume.
	siteDir := filepath.Join(r.claimDir("osmtrack-site"), "current")
	if _, err := os.Stat(filepath.Join(siteDir, "index.html")); err != nil {
		t.Fatalf("published site: %v", err)
	}
	pages := 0
	realSite, err := filepath.EvalSymlinks(siteDir) // publish swaps a symlink
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(realSite, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "changeset") && strings.HasSuffix(p, ".html") {
			pages++
		}
		return nil
	})
	if pages == 0 {
		t.Error("published site has no changeset pages")
	}

	// A backfill as scripts/kube.sh backfill FROM TO runs it: its own pointer, the live one
	// untouched.
	var live int64
	db.Pool.QueryRow(ctx, `SELECT seq FROM replication_state WHERE name = 'minute'`).Scan(&live)
	from, to := sim.DefaultStartSeq+1, sim.DefaultStartSeq+5
	// The template as it is refuses to run (exit 2: its placeholder is no sequence).
	backfill := b.Get("CronJob", "osmtrack-backfill").Typed.(*batchv1.CronJob)
	if res := r.runPod(ctx, backfill.Name, &backfill.Spec.JobTemplate.Spec.Template.Spec, time.Minute, nil); res.code != 2 {
		t.Errorf("a Job made from the backfill template as it is: exit %d, want 2: %s", res.code, res.msg)
	}
	// The Job scripts/kube.sh backfill --from-seq FROM --to-seq TO makes (TestKubeBackfill).
	r.runJob(ctx, withArgs(backfill, "fetch", "--from-seq", fmt.Sprint(from), "--to-seq", fmt.Sprint(to)), true, nil)
	var bf, live2 int64
	db.Pool.QueryRow(ctx, `SELECT seq FROM replication_state WHERE name = $1`, fmt.Sprintf("backfill-%d-%d", from, to)).Scan(&bf)
	db.Pool.QueryRow(ctx, `SELECT seq FROM replication_state WHERE name = 'minute'`).Scan(&live2)
	if bf != int64(to) || live2 != live {
		t.Errorf("backfill %d-%d: its pointer is at %d, want %d; the live pointer moved from %d to %d", from, to, bf, to, live, live2)
	}
	// The nightly PostGIS backup restores with the restore template (into a second database,
	// as scripts/kube.sh restore postgis --force would).
	db2 := dbtest.PG(t)
	// --force is an argument (kube.sh appends it); the environment never sets it.
	restorePG := b.Get("CronJob", "osmtrack-restore-postgis").Typed.(*batchv1.CronJob).DeepCopy()
	for i := range restorePG.Spec.JobTemplate.Spec.Template.Spec.Containers {
		if ct := &restorePG.Spec.JobTemplate.Spec.Template.Spec.Containers[i]; IsOsmtrack(ct) {
			ct.Args = append(ct.Args, "--force")
		}
	}
	r.runJob(ctx, restorePG, true, map[string]string{"OSMTRACK_DATABASE_URL": db2.URL})
	// The dump is a snapshot taken during the backup run, while fetch ran in the same minute.
	var before, after, restored int
	db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE applied_at < r.started_at), count(*) FILTER (WHERE applied_at <= r.finished_at)
		FROM diffs, (SELECT started_at, finished_at FROM job_runs WHERE job = 'backup-postgis' ORDER BY started_at DESC LIMIT 1) r`).Scan(&before, &after)
	db2.Pool.QueryRow(ctx, `SELECT count(*) FROM diffs`).Scan(&restored)
	if before == 0 || restored < before || restored > after {
		t.Errorf("restore-postgis: the restored database has %d diffs; the backup ran when there were %d to %d", restored, before, after)
	}
	// And the nightly InfluxDB backup, over the RPC port, into a new database.
	restoredDB := ix.Database + "_restored"
	t.Cleanup(func() { ix.Query("DROP DATABASE " + restoredDB) })
	r.runJob(ctx, b.Get("CronJob", "osmtrack-restore-influxdb").Typed.(*batchv1.CronJob), true,
		map[string]string{"OSMTRACK_RESTORE_INFLUXDB_INFLUX_DB": restoredDB})
	if res, err := ix.Query(`SELECT count("duration_seconds") FROM "` + restoredDB + `"."autogen"."job_run"`); err != nil || !strings.Contains(res, `"values"`) {
		t.Errorf("restore-influxdb: no job_run points in %s: %v %s", restoredDB, err, res)
	}
	logState(t, db.Pool)
	t.Logf("time in each CronJob's commands: %v", r.spent)
	// The database: every step recorded successful runs, and changesets went through analysis.
	if len(r.retries) > 0 {
		t.Logf("%d pod failure(s) recovered by the Jobs' retries (a cluster retries them too; each is logged above)", len(r.retries))
	}
	jobRuns(t, db.Pool, without(skip, "fetch", "filter", "analyse", "prune"), len(r.retries))
	var analysed int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM analyses`).Scan(&analysed); err != nil || analysed == 0 {
		t.Errorf("analyses: %d rows (%v)", analysed, err)
	}

	// The metrics: job_run points for the steps, and the dashboard's queries answer.
	out, err := ix.Query(`SELECT count("duration_seconds") FROM "job_run" GROUP BY "job"`)
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range without(skip, "fetch", "filter", "analyse", "publish") {
		if !strings.Contains(out, `"job":"`+job+`"`) {
			t.Errorf("no job_run points for %s: %s", job, out)
		}
	}
	qs, err := DashboardQueries([]byte(b.ConfigMap("osmtrack-grafana-dashboard").Data["osmtrack.json"]))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		iq := strings.NewReplacer("$timeFilter", "time > now() - 3h", "$__interval", "1m").Replace(q.Query)
		res, err := ix.Query(iq)
		if err != nil {
			t.Errorf("dashboard panel %q: %v", q.Panel, err)
			continue
		}
		if (q.Panel == "Step durations" || q.Panel == "Replication lag" || q.Panel == "Step outcomes") && !strings.Contains(res, `"series"`) {
			t.Errorf("dashboard panel %q: no data: %s", q.Panel, res)
		}
	}

	// The alert rules, queried as Grafana does (as the reader): none fires after a healthy hour.
	rules, err := AlertRules([]byte(b.ConfigMap("osmtrack-grafana-alerts").Data["osmtrack-alerts.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range rules {
		q := strings.ReplaceAll(rule.Query, "$timeFilter", fmt.Sprintf("time > now() - %ds", rule.Window))
		last, ok, err := influxLast(ix.URL, reader, ix.Database, q)
		if err != nil {
			t.Errorf("alert rule %s: %v", rule.UID, err)
			continue
		}
		if rule.Firing(last, ok) {
			t.Errorf("alert rule %s fires after a healthy hour: %q gives %v (data: %v)", rule.UID, q, last, ok)
		}
	}
	// The retention policy the InfluxDB StatefulSet's init creates, on the test's database.
	iql := b.ConfigMap(b.GeneratedName("ConfigMap", "osmtrack-influxdb-init")).Data["retention.iql"]
	if _, err := ix.Query(strings.ReplaceAll(iql, `ON "osmtrack"`, `ON "`+ix.Database+`"`)); err != nil {
		t.Errorf("statefulsets/retention.iql: %v", err)
	} else if res, _ := ix.Query(`SHOW RETENTION POLICIES ON "` + ix.Database + `"`); !strings.Contains(res, `"autogen","9600h0m0s"`) {
		t.Errorf("statefulsets/retention.iql: autogen is not 400 days: %s", res)
	}

	// After the deploy: the smoke test template (status --strict, and the site's index).
	t.Run("smoke", func(t *testing.T) {
		rs := *r
		rs.t = t
		site := httptest.NewServer(http.FileServer(http.Dir(siteDir)))
		defer site.Close()
		smoke := b.Get("CronJob", "osmtrack-smoke").Typed.(*batchv1.CronJob)
		rs.runJob(ctx, smoke, true, nil)
		for _, ct := range smoke.Spec.JobTemplate.Spec.Template.Spec.Containers {
			if IsOsmtrack(&ct) {
				continue
			}
			// The busybox container fetches http://osmtrack-site/PATH: ask the same path here.
			u := ct.Command[len(ct.Command)-1]
			p := u[strings.Index(u[len("http://"):], "/")+len("http://"):]
			resp, err := http.Get(site.URL + p)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("smoke: GET %s: %v %v", p, err, resp)
			}
			if resp != nil {
				resp.Body.Close()
			}
		}
	})
}

// influxLast runs an InfluxQL query as user and returns the last value of its first series
// (ok false when it returned no series: Grafana's NoData).
func influxLast(base string, user [2]string, db, q string) (float64, bool, error) {
	form := url.Values{"q": {q}, "db": {db}}
	req, _ := http.NewRequest("POST", base+"/query", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user[0], user[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Error  string
			Series []struct{ Values [][]any }
		}
		Error string
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, false, fmt.Errorf("%s: %w", resp.Status, err)
	}
	if resp.StatusCode != 200 || out.Error != "" || len(out.Results) == 0 || out.Results[0].Error != "" {
		return 0, false, fmt.Errorf("%s: %s %v", resp.Status, out.Error, out.Results)
	}
	if len(out.Results[0].Series) == 0 {
		return 0, false, nil
	}
	vals := out.Results[0].Series[0].Values
	row := vals[len(vals)-1]
	v, ok := row[len(row)-1].(float64)
	return v, ok, nil
}

// cronSim starts each minute's due Jobs as the CronJob controller does with
// concurrencyPolicy Forbid: one whose previous Job still runs is skipped.
type cronSim struct {
	budget  time.Duration
	mu      sync.Mutex
	active  map[string]chan struct{} // closed when the CronJob's running Job ends
	started map[string]int
	skipped map[string]int
	all     sync.WaitGroup
}

func newCronSim(budget time.Duration) *cronSim {
	return &cronSim{budget: budget, active: map[string]chan struct{}{}, started: map[string]int{}, skipped: map[string]int{}}
}

// minute starts the due Jobs (skipping those still running) and waits until this minute's
// Jobs ended or the budget is spent.
func (c *cronSim) minute(due []*batchv1.CronJob, run func(*batchv1.CronJob)) {
	var mine []chan struct{}
	for _, cj := range due {
		c.mu.Lock()
		if done, ok := c.active[cj.Name]; ok {
			select {
			case <-done:
			default:
				c.skipped[cj.Name]++
				c.mu.Unlock()
				continue
			}
		}
		done := make(chan struct{})
		c.active[cj.Name] = done
		c.started[cj.Name]++
		c.mu.Unlock()
		mine = append(mine, done)
		c.all.Add(1)
		go func() {
			defer c.all.Done()
			defer close(done)
			run(cj)
		}()
	}
	timeout := time.After(c.budget)
	for _, d := range mine {
		select {
		case <-d:
		case <-timeout:
			return
		}
	}
}

// wait waits for every Job still running.
func (c *cronSim) wait() { c.all.Wait() }

// withArgs is a copy of cj whose osmtrack container runs args (what scripts/kube.sh does to
// a template's Job).
func withArgs(cj *batchv1.CronJob, args ...string) *batchv1.CronJob {
	c := cj.DeepCopy()
	osm(c).Args = args
	return c
}

// influxUser creates a user with one privilege (READ or WRITE) on the test's database, as
// the influxdb:1.8 image's init creates the reader and the writer, and returns its name and
// password.
func influxUser(t *testing.T, ix *dbtest.Influx, privilege string) [2]string {
	t.Helper()
	u := [2]string{ix.Database + "_" + strings.ToLower(privilege), "pw-" + strings.ToLower(privilege)}
	for _, q := range []string{
		fmt.Sprintf(`CREATE USER "%s" WITH PASSWORD '%s'`, u[0], u[1]),
		fmt.Sprintf(`GRANT %s ON "%s" TO "%s"`, privilege, ix.Database, u[0]),
	} {
		if _, err := ix.Query(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { ix.Query(fmt.Sprintf(`DROP USER "%s"`, u[0])) })
	return u
}

func without(skip map[string]bool, names ...string) []string {
	var out []string
	for _, n := range names {
		if !skip[n] {
			out = append(out, n)
		}
	}
	return out
}

// readOnlyURL is the fresh database's URL for the read-only role of the local services
// (the user and password of OSMTRACK_READONLY_DATABASE_URL from scripts/services.sh env).
func readOnlyURL(db *dbtest.DB) string {
	if u, err := url.Parse(os.Getenv("OSMTRACK_READONLY_DATABASE_URL")); err == nil && u.User != nil {
		pw, _ := u.User.Password()
		return db.URLAs(u.User.Username(), pw)
	}
	return db.URLAs("osmtrack_ro", "osmtrack_ro")
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// logState logs the pointers and the changesets per state, for a failure's diagnosis.
func logState(t *testing.T, pool *pgxpool.Pool) {
	var diffs int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM diffs`).Scan(&diffs)
	rows, err := pool.Query(context.Background(), `SELECT name || '=' || seq || coalesce(' @' || seq_timestamp::text, '') FROM replication_state
		UNION ALL SELECT 'changesets ' || state || ': ' || count(*) FROM changesets GROUP BY state`)
	if err != nil {
		t.Logf("state: %v", err)
		return
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		lines = append(lines, s)
	}
	t.Logf("after the hour: %d diffs; %s", diffs, strings.Join(lines, "; "))
}

// jobRuns checks that each job has successful runs and that no more runs failed than the Jobs
// retried.
func jobRuns(t *testing.T, pool *pgxpool.Pool, jobs []string, retried int) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT job, count(*) FILTER (WHERE outcome = 'ok'), count(*) FILTER (WHERE outcome <> 'ok') FROM job_runs GROUP BY job`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ok := map[string]int{}
	failed := 0
	for rows.Next() {
		var job string
		var n, bad int
		if err := rows.Scan(&job, &n, &bad); err != nil {
			t.Fatal(err)
		}
		ok[job] = n
		failed += bad
		if bad > 0 {
			t.Logf("job_runs: %d runs of %s did not end ok", bad, job)
		}
	}
	if failed > retried {
		t.Errorf("job_runs: %d runs did not end ok, but only %d pod failures were retried", failed, retried)
	}
	for _, j := range jobs {
		if ok[j] == 0 {
			t.Errorf("job_runs: no successful run of %s (have %v)", j, ok)
		}
	}
}

// runner turns a CronJob's pod template into local processes.
type runner struct {
	t          *testing.T
	b          *Build
	bin, cwd   string
	work       string
	pathEnv    string
	secrets    map[string]map[string]string // Secret (base name) → key → value
	endpoints  map[string]string            // env name → local value, replacing the in-cluster one
	configEdit map[string]map[string]any    // config.yaml section → key → value

	mu     *sync.Mutex
	claims map[string]string // PVC → folder
	spent  map[string]time.Duration
	// retries are the pod failures a retry recovered from (logged; a cluster would retry too).
	retries []string
	cmDirs  map[string]string // ConfigMap → folder
	n       int
	// netChecked: the CronJobs whose connections checkConnections evaluated.
	netChecked map[string]bool
}

func (r *runner) claimDir(claim string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.claims[claim]
	if !ok {
		d = filepath.Join(r.work, "pvc", claim)
		os.MkdirAll(d, 0o755)
		r.claims[claim] = d
	}
	return d
}

// configMapDir writes a ConfigMap's files once; config.yaml gets configEdit.
func (r *runner) configMapDir(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmDirs == nil {
		r.cmDirs = map[string]string{}
	}
	if d, ok := r.cmDirs[name]; ok {
		return d
	}
	cm := r.b.ConfigMap(name)
	if cm == nil {
		r.t.Errorf("ConfigMap %s is not in the build", name)
		return r.work
	}
	d := filepath.Join(r.work, "configmap", name)
	os.MkdirAll(d, 0o755)
	for k, v := range cm.Data {
		if k == "config.yaml" && len(r.configEdit) > 0 {
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(v), &doc); err != nil {
				r.t.Fatal(err)
			}
			for sec, kv := range r.configEdit {
				m, _ := doc[sec].(map[string]any)
				if m == nil {
					m = map[string]any{}
				}
				for k2, v2 := range kv {
					m[k2] = v2
				}
				doc[sec] = m
			}
			out, _ := yaml.Marshal(doc)
			v = string(out)
		}
		if err := os.WriteFile(filepath.Join(d, k), []byte(v), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.cmDirs[name] = d
	return d
}

func baseName(b *Build, kind, name string) string {
	for _, base := range []string{SecretPostGIS, "osmtrack-influxdb", ConfigMapConfig, ConfigMapEnv} {
		if b.GeneratedName(kind, base) == name {
			return base
		}
	}
	return name
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// runJob runs the Job's pods (parallelism of them) and fails the test when one fails and
// mustSucceed is set.
// extra is set in the environment after the manifest's (what scripts/kube.sh adds to a Job).
func (r *runner) runJob(ctx context.Context, cj *batchv1.CronJob, mustSucceed bool, extra map[string]string) bool {
	js := cj.Spec.JobTemplate.Spec
	pods := 1
	if js.Parallelism != nil && *js.Parallelism > 1 {
		pods = int(*js.Parallelism)
	}
	backoff := 0
	if js.BackoffLimit != nil {
		backoff = int(*js.BackoffLimit)
	}
	// activeDeadlineSeconds is the Job's, across its pods and retries: past it the running
	// pod is killed and the Job fails without further retries (DeadlineExceeded).
	jobEnd := time.Now().Add(time.Duration(*js.ActiveDeadlineSeconds) * time.Second)
	// As the Job controller does: a pod that exits 1 is replaced until backoffLimit pods have
	// failed; exit code 2 fails the Job at once (the podFailurePolicy).
	var (
		mu       sync.Mutex
		failures int
		failed   string
	)
	var wg sync.WaitGroup
	for p := 0; p < pods; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				res := r.runPod(ctx, cj.Name, &js.Template.Spec, time.Until(jobEnd), extra)
				if res.code == 0 {
					return
				}
				mu.Lock()
				failures++
				overrun := !time.Now().Before(jobEnd)
				if overrun {
					res.msg = "DeadlineExceeded: activeDeadlineSeconds passed; " + res.msg
				}
				giveUp := res.code == 2 || failures > backoff || failed != "" || overrun
				if giveUp && failed == "" {
					failed = res.msg
				}
				mu.Unlock()
				if giveUp {
					return
				}
				r.mu.Lock()
				r.retries = append(r.retries, res.msg)
				r.mu.Unlock()
				r.t.Logf("%s: pod failed, retried as the Job's backoffLimit allows: %s", cj.Name, res.msg)
			}
		}()
	}
	wg.Wait()
	if failed != "" && mustSucceed {
		r.t.Errorf("%s: the Job failed: %s", cj.Name, failed)
	}
	if failed != "" && !mustSucceed {
		r.t.Logf("%s: the Job failed: %s", cj.Name, failed)
	}
	return failed == ""
}

// podResult is how a pod's osmtrack container ended.
type podResult struct {
	code int // exit code; -1 when it could not run
	msg  string
}

func (r *runner) runPod(ctx context.Context, name string, ps *corev1.PodSpec, deadline time.Duration, extra map[string]string) (res podResult) {
	r.mu.Lock()
	r.n++
	podDir := filepath.Join(r.work, "pods", fmt.Sprintf("%s-%d", name, r.n))
	r.mu.Unlock()
	// Volumes → folders.
	vols := map[string]string{}
	for _, v := range ps.Volumes {
		switch {
		case v.ConfigMap != nil:
			vols[v.Name] = r.configMapDir(v.ConfigMap.Name)
		case v.PersistentVolumeClaim != nil:
			vols[v.Name] = r.claimDir(v.PersistentVolumeClaim.ClaimName)
		case v.EmptyDir != nil:
			vols[v.Name] = filepath.Join(podDir, v.Name)
			os.MkdirAll(vols[v.Name], 0o755)
		default:
			r.t.Errorf("%s: volume %s: no local mapping for its kind", name, v.Name)
			return
		}
	}
	defer os.RemoveAll(podDir)
	for _, ct := range ps.Containers {
		if !IsOsmtrack(&ct) {
			continue
		}
		type mount struct{ from, to string }
		var mounts []mount
		for _, m := range ct.VolumeMounts {
			mounts = append(mounts, mount{strings.TrimSuffix(m.MountPath, "/"), vols[m.Name]})
		}
		sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].from) > len(mounts[j].from) })
		mapPath := func(s string) string {
			for _, m := range mounts {
				if s == m.from || strings.HasPrefix(s, m.from+"/") {
					return m.to + s[len(m.from):]
				}
			}
			return s
		}
		vars := map[string]string{}
		var order []string
		set := func(k, v string) {
			if _, ok := vars[k]; !ok {
				order = append(order, k)
			}
			vars[k] = v
		}
		for _, ef := range ct.EnvFrom {
			if ef.ConfigMapRef != nil {
				cm := r.b.ConfigMap(ef.ConfigMapRef.Name)
				keys := make([]string, 0, len(cm.Data))
				for k := range cm.Data {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					set(ef.Prefix+k, cm.Data[k])
				}
			}
		}
		for _, e := range ct.Env {
			switch {
			case e.ValueFrom == nil:
				set(e.Name, varRef.ReplaceAllStringFunc(e.Value, func(ref string) string {
					if v, ok := vars[ref[2:len(ref)-1]]; ok {
						return v
					}
					return ref
				}))
			case e.ValueFrom.SecretKeyRef != nil:
				sr := e.ValueFrom.SecretKeyRef
				v, ok := r.secrets[baseName(r.b, "Secret", sr.Name)][sr.Key]
				if !ok {
					r.t.Errorf("%s: env %s: no local value for Secret %s key %s", name, e.Name, sr.Name, sr.Key)
					return
				}
				set(e.Name, v)
			case e.ValueFrom.ConfigMapKeyRef != nil:
				set(e.Name, r.b.ConfigMap(e.ValueFrom.ConfigMapKeyRef.Name).Data[e.ValueFrom.ConfigMapKeyRef.Key])
			}
		}
		for k, v := range extra {
			set(k, v)
		}
		r.checkConnections(name, vars, &ct, ps)
		env := []string{"PATH=" + r.pathEnv, "HOME=" + vols["tmp"], "TMPDIR=" + vols["tmp"]}
		for _, k := range order {
			v := vars[k]
			if local, ok := r.endpoints[k]; ok {
				v = local
			}
			env = append(env, k+"="+mapPath(v))
		}
		start := time.Now()
		defer func() {
			r.mu.Lock()
			if r.spent == nil {
				r.spent = map[string]time.Duration{}
			}
			r.spent[name] += time.Since(start)
			r.mu.Unlock()
		}()
		args := make([]string, len(ct.Args))
		for i, a := range ct.Args {
			args[i] = mapPath(a)
		}
		cctx, cancel := context.WithTimeout(ctx, deadline)
		cmd := exec.CommandContext(cctx, r.bin, args...)
		cmd.Dir = r.cwd
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if d := time.Since(start); d > 1500*time.Millisecond && os.Getenv("OSMTRACK_E2E_SLOW") != "" {
			r.t.Logf("%s took %s:\n%s", name, d, tail(out.String(), 30))
		}
		if err != nil {
			code := -1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			return podResult{code, fmt.Sprintf("osmtrack %s: %v\n%s", strings.Join(args, " "), err, tail(out.String(), 15))}
		}
	}
	return podResult{}
}

// The address the end-to-end test gives PostGIS outside the cluster (the root build's egress
// rule admits any address on 5432; production narrows it, TestNetworkPolicies checks that).
const postgisAddr = "198.51.100.7"

// checkConnections evaluates, once per CronJob, the connections its pod makes with the
// environment and args it got from the manifests (before the test points them at the local
// services) against the build's NetworkPolicies, both ways for peers inside the cluster:
// PostGIS (OSMTRACK_DATABASE_URL), InfluxDB's HTTP API (OSMTRACK_INFLUX_URL) and RPC port
// (*_INFLUX_RPC), the OSM servers of the configuration and a seed's extract URL (HTTPS), and
// the smoke check's GET of the site through the nginx Service.
func (r *runner) checkConnections(name string, vars map[string]string, ct *corev1.Container, ps *corev1.PodSpec) {
	args := ct.Args
	r.mu.Lock()
	if r.netChecked == nil {
		r.netChecked = map[string]bool{}
	}
	done := r.netChecked[name]
	r.netChecked[name] = true
	r.mu.Unlock()
	if done {
		return
	}
	o := r.b.Get("CronJob", name)
	if o == nil {
		return // not from the build (the runner's own tests)
	}
	pod := o.Typed.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template.Labels
	podsOf := func(kind, n string) map[string]string {
		switch o := r.b.Get(kind, n).Typed.(type) {
		case *appsv1.StatefulSet:
			return o.Spec.Template.Labels
		case *appsv1.Deployment:
			return o.Spec.Template.Labels
		}
		return nil
	}
	type conn struct {
		what  string
		peer  Peer
		port  int32
		inner map[string]string // the peer pod's labels, for its ingress rules
	}
	var conns []conn
	hostPort := func(raw string, def int32) (string, int32) {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			if h, p, ok := strings.Cut(raw, ":"); ok { // host:port
				u = &url.URL{Host: h + ":" + p}
			} else {
				return "", 0
			}
		}
		port := def
		if p := u.Port(); p != "" {
			fmt.Sscan(p, &port)
		}
		return u.Hostname(), port
	}
	inCluster := func(what, raw string, def int32) {
		host, port := hostPort(raw, def)
		switch host {
		case "":
			return
		case "postgis":
			conns = append(conns, conn{what, Peer{IP: postgisAddr}, port, nil})
		case "influxdb", "influxdb.osmtrack.svc":
			l := podsOf("StatefulSet", "influxdb")
			conns = append(conns, conn{what, Peer{Labels: l}, port, l})
		default:
			r.t.Errorf("%s: %s connects to %s, which the test does not know", name, what, host)
		}
	}
	// The Secrets hold what the cluster gets (the test's vars point at the local services).
	for _, e := range ct.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.Name == "OSMTRACK_DATABASE_URL" {
			ref := e.ValueFrom.SecretKeyRef
			if sec := r.b.Secret(ref.Name); sec != nil {
				v := string(sec.Data[ref.Key])
				if v == "" {
					v = sec.StringData[ref.Key]
				}
				inCluster(e.Name, v, 5432)
			}
		}
	}
	for k, v := range vars {
		switch {
		case k == "OSMTRACK_DATABASE_URL":
			// from the Secret, above
		case k == "OSMTRACK_INFLUX_URL" && v != "":
			inCluster(k, v, 8086)
		case strings.HasSuffix(k, "_INFLUX_RPC"):
			inCluster(k, v, 8088)
		}
	}
	public := Peer{IP: "203.0.113.10"} // an OSM server or the extract's host
	cfg, err := StepConfig(r.b)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, u := range []string{cfg.OSM.ReplicationURL, cfg.OSM.ChangesetReplicationURL, cfg.OSM.APIURL} {
		if strings.HasPrefix(u, "https://") {
			conns = append(conns, conn{"the OSM server " + u, public, 443, nil})
		} else {
			r.t.Errorf("%s: the configuration's OSM URL %s is not HTTPS", name, u)
		}
	}
	for i, a := range args {
		if a == "--extract" && i+1 < len(args) && strings.HasPrefix(args[i+1], "http") {
			conns = append(conns, conn{"the extract", public, 443, nil})
		}
	}
	for _, c := range conns {
		if !r.b.Allowed(pod, true, c.peer, corev1.ProtocolTCP, c.port) {
			r.t.Errorf("%s: the NetworkPolicies block its connection to %s (port %d)", name, c.what, c.port)
		}
		if c.inner != nil && !r.b.Allowed(c.inner, false, Peer{Labels: pod}, corev1.ProtocolTCP, c.port) {
			r.t.Errorf("%s: the NetworkPolicies of %s refuse its connection (port %d)", name, c.what, c.port)
		}
	}
	// The other containers (the smoke check's GET of the site through the nginx Service).
	for _, ct := range ps.Containers {
		if IsOsmtrack(&ct) || len(ct.Command) == 0 {
			continue
		}
		host, _ := hostPort(ct.Command[len(ct.Command)-1], 80)
		if host == "" {
			continue
		}
		svc, ok := r.b.Get("Service", host).Typed.(*corev1.Service)
		if !ok {
			r.t.Errorf("%s: container %s connects to %s, which is no Service of the build", name, ct.Name, host)
			continue
		}
		site := podsOf("Deployment", host)
		port := svc.Spec.Ports[0].TargetPort.IntVal
		if svc.Spec.Ports[0].TargetPort.StrVal != "" {
			for _, cp := range r.b.Get("Deployment", host).Typed.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Ports {
				if cp.Name == svc.Spec.Ports[0].TargetPort.StrVal {
					port = cp.ContainerPort
				}
			}
		}
		if !r.b.Allowed(pod, true, Peer{Labels: site}, corev1.ProtocolTCP, port) || !r.b.Allowed(site, false, Peer{Labels: pod}, corev1.ProtocolTCP, port) {
			r.t.Errorf("%s: the NetworkPolicies block container %s's connection to %s (pod port %d)", name, ct.Name, host, port)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
