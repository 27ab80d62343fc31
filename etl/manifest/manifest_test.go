package manifest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// root is the repository, relative to this package.
const root = "../.."

// builds are the kustomizations that must build: the root (kubectl apply -k .), base and
// every overlay.
var builds = []string{".", "base", "overlays/minimal", "overlays/single-node", "overlays/production"}

var (
	loadMu sync.Mutex
	loaded = map[string]*Build{}
)

func load(t *testing.T, dir string) *Build {
	t.Helper()
	loadMu.Lock()
	defer loadMu.Unlock()
	if b, ok := loaded[dir]; ok {
		return b
	}
	b, err := Load(filepath.Join(root, dir))
	if err != nil {
		t.Fatal(err)
	}
	loaded[dir] = b
	return b
}

func TestEveryBuildPassesTheRules(t *testing.T) {
	uid := dockerUID(t)
	for _, dir := range builds {
		t.Run(dir, func(t *testing.T) {
			b := load(t, dir)
			for _, p := range Check(b, uid) {
				t.Error(p)
			}
		})
	}
}

func TestRootDeploysEverything(t *testing.T) {
	ids := func(b *Build) []string {
		var s []string
		for _, o := range b.Objects {
			s = append(s, o.ID())
		}
		sort.Strings(s)
		return s
	}
	rootIDs, baseIDs := ids(load(t, ".")), ids(load(t, "base"))
	if strings.Join(rootIDs, "\n") != strings.Join(baseIDs, "\n") {
		t.Errorf("kubectl apply -k . does not deploy base:\n%v\n%v", rootIDs, baseIDs)
	}
	want := []string{"CronJob osmtrack-fetch", "CronJob osmtrack-changesets", "CronJob osmtrack-filter", "CronJob osmtrack-analyse",
		"CronJob osmtrack-publish", "CronJob osmtrack-prune", "CronJob osmtrack-backup-postgis", "CronJob osmtrack-backup-influxdb",
		"CronJob osmtrack-migrate", "CronJob osmtrack-backfill", "CronJob osmtrack-restore-postgis", "CronJob osmtrack-restore-influxdb",
		"CronJob osmtrack-smoke", "CronJob osmtrack-seed", "PodDisruptionBudget osmtrack-site", "StatefulSet influxdb", "Service influxdb", "Service postgis", "Deployment osmtrack-site",
		"Service osmtrack-site", "NetworkPolicy default-deny", "ConfigMap osmtrack-grafana-dashboard"}
	for _, dir := range builds {
		have := strings.Join(ids(load(t, dir)), "\n") + "\n"
		for _, w := range want {
			if !strings.Contains(have, w+"\n") {
				t.Errorf("%s: no %s", dir, w)
			}
		}
	}
	prod := load(t, "overlays/production")
	if prod.Get("Ingress", "osmtrack-site") == nil {
		t.Error("production has no Ingress")
	}
	if np := prod.Get("NetworkPolicy", "etl-egress").Typed.(*networkingv1.NetworkPolicy); np.Spec.Egress[0].To[0].IPBlock.CIDR == "0.0.0.0/0" {
		t.Error("production: egress to PostGIS is not narrowed to the database's range")
	}
	if svc := prod.Get("Service", "postgis").Typed.(*corev1.Service); svc.Spec.ExternalName == load(t, "base").Get("Service", "postgis").Typed.(*corev1.Service).Spec.ExternalName {
		t.Error("production: the postgis Service still points at base's placeholder host")
	}
	min := load(t, "overlays/minimal")
	if pvc := min.Get("PersistentVolumeClaim", "osmtrack-site").Typed.(*corev1.PersistentVolumeClaim); pvc.Spec.AccessModes[0] != corev1.ReadWriteOnce {
		t.Error("minimal: the site volume is not ReadWriteOnce (one node)")
	}
	for _, o := range load(t, ".").Objects {
		if o.Namespace != "osmtrack" && o.Kind != "Namespace" {
			t.Errorf("%s is in namespace %q", o.ID(), o.Namespace)
		}
	}
}

func TestStrictDecoding(t *testing.T) {
	good := `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"x"},"spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"b:1"}]}}}}}}`
	if _, err := Decode([]byte(good)); err != nil {
		t.Fatalf("good object: %v", err)
	}
	for name, bad := range map[string]string{
		"unknown field":   strings.Replace(good, `"schedule"`, `"schedul"`, 1),
		"wrong case":      strings.Replace(good, `"schedule"`, `"Schedule"`, 1),
		"nested unknown":  strings.Replace(good, `"image":"b:1"`, `"image":"b:1","imagePull":"x"`, 1),
		"wrong type":      strings.Replace(good, `"* * * * *"`, `5`, 1),
		"unknown kind":    strings.Replace(good, `"CronJob"`, `"CronJobs"`, 1),
		"wrong version":   strings.Replace(good, `"batch/v1"`, `"batch/v1beta1"`, 1),
		"duplicate field": strings.Replace(good, `"schedule":"* * * * *"`, `"schedule":"* * * * *","schedule":"1 * * * *"`, 1),
	} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
}

// TestRulesCatchBreakage breaks one thing at a time in a copy of the root build's fetch
// CronJob and expects Check to name it.
func TestRulesCatchBreakage(t *testing.T) {
	uid := dockerUID(t)
	cases := []struct {
		name   string
		break_ func(cj *batchv1.CronJob)
		want   string
	}{
		{"time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = nil }, "timeZone"},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=UTC * * * * *" }, "time zone"},
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" }, "schedule"},
		{"concurrency", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent }, "concurrencyPolicy"},
		{"starting deadline", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr(int64(60)) }, "startingDeadlineSeconds"},
		{"history", func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = ptr(int32(1)) }, "history"},
		{"deadline below max_duration", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds = ptr(int64(60)) }, "max_duration"},
		{"no ttl", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.TTLSecondsAfterFinished = nil }, "ttlSecondsAfterFinished"},
		{"restart policy", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, "restartPolicy"},
		{"failure policy", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.PodFailurePolicy.Rules[0].OnExitCodes.Values = []int32{1}
		}, "exit code 2"},
		{"latest", func(cj *batchv1.CronJob) { osm(cj).Image = "ghcr.io/osmtrack/osmtrack:latest" }, "not pinned"},
		{"untagged", func(cj *batchv1.CronJob) { osm(cj).Image = "ghcr.io/osmtrack/osmtrack" }, "not pinned"},
		{"root", func(cj *batchv1.CronJob) { osm(cj).SecurityContext.RunAsUser = ptr(int64(0)) }, "root"},
		{"other uid", func(cj *batchv1.CronJob) { osm(cj).SecurityContext.RunAsUser = ptr(int64(1000)) }, "Dockerfile USER"},
		{"writable root", func(cj *batchv1.CronJob) { osm(cj).SecurityContext.ReadOnlyRootFilesystem = ptr(false) }, "readOnlyRootFilesystem"},
		{"escalation", func(cj *batchv1.CronJob) { osm(cj).SecurityContext.AllowPrivilegeEscalation = nil }, "allowPrivilegeEscalation"},
		{"capabilities", func(cj *batchv1.CronJob) { osm(cj).SecurityContext.Capabilities.Drop = nil }, "drop ALL"},
		{"limits", func(cj *batchv1.CronJob) { osm(cj).Resources.Limits = nil }, "limit"},
		{"secret", func(cj *batchv1.CronJob) { osm(cj).Env[len(osm(cj).Env)-1].ValueFrom.SecretKeyRef.Key = "nope" }, "no key"},
		{"read-only url", func(cj *batchv1.CronJob) {
			for i := range osm(cj).Env {
				if osm(cj).Env[i].Name == "OSMTRACK_DATABASE_URL" {
					osm(cj).Env[i].ValueFrom.SecretKeyRef.Key = KeyRO
				}
			}
		}, "needs osmtrack-postgis/rw-url"},
		{"influx admin", func(cj *batchv1.CronJob) {
			for i := range osm(cj).Env {
				if r := osm(cj).Env[i].ValueFrom; r != nil && r.SecretKeyRef != nil && r.SecretKeyRef.Key == "writer-password" {
					r.SecretKeyRef.Key = "admin-password"
				}
			}
		}, "least privilege is [writer]"},
		{"influx reader too", func(cj *batchv1.CronJob) {
			osm(cj).Env = append(osm(cj).Env, corev1.EnvVar{Name: "R", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: osm(cj).Env[0].ValueFrom.SecretKeyRef.Name}, Key: "reader-user"}}})
		}, "gets the InfluxDB users [reader,writer]"},
		{"config", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Template.Spec.Volumes[0].ConfigMap.Name = "other" }, "ConfigMap"},
		{"long name", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) }, "at most 52"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := copyBuild(t, load(t, "."))
			cj := b.Get("CronJob", "osmtrack-fetch").Typed.(*batchv1.CronJob)
			c.break_(cj)
			b.Get("CronJob", "osmtrack-fetch").Name = cj.Name
			var msgs []string
			for _, p := range Check(b, uid) {
				msgs = append(msgs, p.String())
			}
			if !strings.Contains(strings.Join(msgs, "\n"), c.want) {
				t.Errorf("want a problem mentioning %q, got %q", c.want, msgs)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func osm(cj *batchv1.CronJob) *corev1.Container {
	return &cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
}

// copyBuild deep-copies the fetch CronJob (the only object the cases change).
func copyBuild(t *testing.T, b *Build) *Build {
	out := &Build{Dir: b.Dir}
	for _, o := range b.Objects {
		if cj, ok := o.Typed.(*batchv1.CronJob); ok {
			o.Typed = cj.DeepCopy()
		}
		out.Objects = append(out.Objects, o)
	}
	return out
}

func TestSchedules(t *testing.T) {
	for _, c := range []struct {
		s    string
		want time.Duration
	}{{"* * * * *", time.Minute}, {"*/2 * * * *", 2 * time.Minute}, {"17 3 * * *", 24 * time.Hour}, {"0 0 31 2 *", 0}} {
		sched, err := Schedule(c.s)
		if err != nil {
			t.Fatal(err)
		}
		if got := Interval(sched); got != c.want {
			t.Errorf("Interval(%q) = %s, want %s", c.s, got, c.want)
		}
	}
	if _, err := Schedule("TZ=Europe/Berlin 0 * * * *"); err == nil {
		t.Error("TZ= accepted")
	}
}

// The publish CronJob writes the volume nginx serves, and nginx's root is publish's DIR/current.
func TestSiteServingMatchesPublish(t *testing.T) {
	for _, dir := range builds {
		b := load(t, dir)
		pub := b.Get("CronJob", "osmtrack-publish").Typed.(*batchv1.CronJob)
		ps := pub.Spec.JobTemplate.Spec.Template.Spec
		out := ""
		for i, a := range ps.Containers[0].Args {
			if a == "--out" && i+1 < len(ps.Containers[0].Args) {
				out = ps.Containers[0].Args[i+1]
			}
		}
		pubClaim, _ := claimAt(ps, ps.Containers[0], out)
		dep := b.Get("Deployment", "osmtrack-site").Typed.(*appsv1.Deployment)
		ds := dep.Spec.Template.Spec
		nginxClaim, mount := "", ""
		for _, m := range ds.Containers[0].VolumeMounts {
			if c, _ := claimAt(ds, ds.Containers[0], m.MountPath); c != "" {
				nginxClaim, mount = c, m.MountPath
			}
		}
		if pubClaim == "" || pubClaim != nginxClaim {
			t.Errorf("%s: publish --out %q is on claim %q, nginx serves claim %q", dir, out, pubClaim, nginxClaim)
		}
		conf := b.ConfigMap(b.GeneratedName("ConfigMap", "osmtrack-nginx")).Data["default.conf"]
		wantRoot := "root " + mount + "/current;"
		if !strings.Contains(conf, wantRoot) {
			t.Errorf("%s: nginx default.conf lacks %q (publish swaps DIR/current)", dir, wantRoot)
		}
		if !strings.Contains(conf, "listen 8080;") {
			t.Errorf("%s: nginx does not listen on 8080 (the Service and NetworkPolicy use it)", dir)
		}
	}
}

// claimAt returns the PVC a path in the container lies on, and the mount path.
func claimAt(ps corev1.PodSpec, ct corev1.Container, p string) (string, string) {
	for _, m := range ct.VolumeMounts {
		if p != m.MountPath && !strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range ps.Volumes {
			if v.Name == m.Name && v.PersistentVolumeClaim != nil {
				return v.PersistentVolumeClaim.ClaimName, m.MountPath
			}
		}
	}
	return "", ""
}

// TestStepConfig: the ConfigMap's config parses as osmtrack parses it, and the config check of
// the binary (regions, rules) accepts the mounted files.
func TestStepConfig(t *testing.T) {
	bin := osmtrackBinary(t)
	for _, dir := range builds {
		b := load(t, dir)
		if _, err := StepConfig(b); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		tmp := t.TempDir()
		cm := b.ConfigMap(b.GeneratedName("ConfigMap", ConfigMapConfig))
		for k, v := range cm.Data {
			if err := os.WriteFile(filepath.Join(tmp, k), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(bin, "config", "check", "--config", filepath.Join(tmp, "config.yaml"))
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: osmtrack config check: %v: %s", dir, err, out)
		}
	}
}

// TestArgsMatchTheBinary runs the binary's own flag parsing over every container's args.
func TestArgsMatchTheBinary(t *testing.T) {
	bin, err := NewBinary(context.Background(), osmtrackBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range builds {
		for _, p := range CheckArgs(context.Background(), load(t, dir), bin) {
			t.Errorf("%s: %s", dir, p)
		}
	}
	// The check itself: an unknown flag and an unknown subcommand are caught.
	b := copyBuild(t, load(t, "."))
	cj := b.Get("CronJob", "osmtrack-migrate").Typed.(*batchv1.CronJob)
	osm(cj).Args = []string{"migrate", "--read-only-rol", "x"}
	cj2 := b.Get("CronJob", "osmtrack-fetch").Typed.(*batchv1.CronJob)
	osm(cj2).Args = []string{"fetchh"}
	msgs := ""
	for _, p := range CheckArgs(context.Background(), b, bin) {
		msgs += p.String() + "\n"
	}
	for _, want := range []string{"has no flag --read-only-rol", `"fetchh" is not an osmtrack subcommand`} {
		if !strings.Contains(msgs, want) {
			t.Errorf("CheckArgs missed %q; got:\n%s", want, msgs)
		}
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// osmtrackBinary builds ./jobs once per test process.
func osmtrackBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "osmtrack-manifest-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "osmtrack")
		// Without -race: the end-to-end test runs it hundreds of times, and `go vet ./...`
		// has already compiled its packages.
		args := []string{"build", "-o", binPath}
		cmd := exec.Command("go", append(args, "./jobs")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{err, string(out)}
		}
	})
	if binErr != nil {
		t.Fatalf("go build ./jobs: %v", binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// dockerUID is the UID of the Dockerfile's USER line.
func dockerUID(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER\s+(\d+)(?::(\d+))?\s*$`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatal("Dockerfile: no numeric USER line")
	}
	uid, _ := strconv.ParseInt(m[1], 10, 64)
	return uid
}

// TestDockerfile: the image has the binary as entrypoint, a non-root numeric user, and every
// file the binary needs at run time.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	const binary = "/usr/local/bin/osmtrack"
	for _, c := range []struct{ what, re string }{
		{"the binary built from ./jobs, static", `CGO_ENABLED=0 [^\n]*go build[^\n]*(\n[^\n]*)*-o /out/osmtrack \./jobs`},
		{"the binary copied in", `COPY --from=build /out/osmtrack ` + binary},
		{"the binary as entrypoint", `ENTRYPOINT \["` + binary + `"\]`},
		{"CA certificates (HTTPS to the OSM servers)", `install[^\n]*(\n[^\n]*)*ca-certificates`},
		{"pg_dump and pg_restore from Debian's postgresql-client-15", `postgresql-client-15`},
		{"the PostgreSQL 15 client tools first on PATH", `ENV PATH=/usr/lib/postgresql/15/bin:`},
		{"influxd 1.8 for influx backups", `COPY --from=influxdb[^\n]* /usr/bin/influxd /usr/local/bin/influxd`},
		{"the influxd of the InfluxDB 1.8 image", `FROM influxdb:1\.8\.\d+ AS influxdb`},
		{"Leaflet from npm", `npm ci`},
		{"a user with the UID", `useradd [^\n]*--uid ` + strconv.FormatInt(dockerUID(t), 10)},
	} {
		if !regexp.MustCompile(c.re).MatchString(df) {
			t.Errorf("Dockerfile lacks %s (/%s/)", c.what, c.re)
		}
	}
	if dockerUID(t) == 0 {
		t.Error("Dockerfile USER is root")
	}
	// Leaflet goes where site.FindLeaflet looks next to the binary.
	leaflet := regexp.MustCompile(`COPY --from=assets \S+/leaflet/dist (\S+)`).FindStringSubmatch(df)
	wantLeaflet := filepath.Join(filepath.Dir(filepath.Dir(binary)), "share", "osmtrack", "leaflet")
	if leaflet == nil || leaflet[1] != wantLeaflet {
		t.Errorf("Dockerfile copies Leaflet to %v; publish looks in %s (site.FindLeaflet)", leaflet, wantLeaflet)
	}
	// Every base image is pinned.
	for _, m := range regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1) {
		if !imagePinned(m[1]) {
			t.Errorf("Dockerfile: FROM %s is not pinned", m[1])
		}
	}
	// The build context keeps what the binary embeds.
	ign, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ign), "\n") {
		line = strings.TrimSpace(line)
		for _, need := range []string{"schema", "site/templates", "site/static", "site/package.json", "site/package-lock.json", "jobs", "etl", "go.mod", "go.sum"} {
			if line != "" && !strings.HasPrefix(line, "#") && (line == need || strings.HasPrefix(need, line+"/")) {
				t.Errorf(".dockerignore drops %s, which the build needs", need)
			}
		}
	}
	// The manifests run the image as the Dockerfile's user (Check compares runAsUser).
}

// TestDashboard: the Grafana dashboard is valid JSON whose queries read our measurements.
func TestDashboard(t *testing.T) {
	b := load(t, ".")
	cm := b.ConfigMap("osmtrack-grafana-dashboard")
	if cm == nil || cm.Labels["grafana_dashboard"] != "1" {
		t.Fatal("no ConfigMap osmtrack-grafana-dashboard labelled grafana_dashboard=1")
	}
	qs, err := DashboardQueries([]byte(cm.Data["osmtrack.json"]))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 8 {
		t.Fatalf("only %d queries", len(qs))
	}
	measurements := map[string]bool{}
	for _, q := range qs {
		m := regexp.MustCompile(`FROM "(\w+)"`).FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("panel %q: query %q reads no measurement", q.Panel, q.Query)
			continue
		}
		measurements[m[1]] = true
		if !strings.Contains(q.Query, "$timeFilter") {
			t.Errorf("panel %q: query without $timeFilter", q.Panel)
		}
	}
	for _, m := range []string{"job_run", "replication"} {
		if !measurements[m] {
			t.Errorf("no panel reads %s", m)
		}
	}
	var titles []string
	var d struct {
		Panels []struct{ Title string } `json:"panels"`
	}
	json.Unmarshal([]byte(cm.Data["osmtrack.json"]), &d)
	for _, p := range d.Panels {
		titles = append(titles, p.Title)
	}
	for _, want := range []string{"Replication lag", "Sequences per minute", "Changesets per minute", "Filtered per hour", "Step durations", "Step outcomes", "OSM API requests", "Errors"} {
		if !strings.Contains(strings.Join(titles, "|"), want) {
			t.Errorf("no panel %q", want)
		}
	}
}

// TestAlertRules: the Grafana alert rules parse, have the shape Firing evaluates, read
// osmtrack's measurements through the provisioned data source, and cover replication lag,
// every scheduled step not succeeding, and failed changesets. The end-to-end test runs them.
func TestAlertRules(t *testing.T) {
	b := load(t, ".")
	cm := b.ConfigMap("osmtrack-grafana-alerts")
	if cm == nil || cm.Labels["grafana_alert"] != "1" {
		t.Fatal("no ConfigMap osmtrack-grafana-alerts labelled grafana_alert=1")
	}
	ds := b.ConfigMap("osmtrack-grafana-datasource")
	if ds == nil || ds.Labels["grafana_datasource"] != "1" {
		t.Fatal("no ConfigMap osmtrack-grafana-datasource labelled grafana_datasource=1")
	}
	rules, err := AlertRules([]byte(cm.Data["osmtrack-alerts.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range rules {
		have[r.UID] = true
		if !strings.Contains(ds.Data["osmtrack-datasource.yaml"], "uid: "+r.Datasource+"\n") {
			t.Errorf("rule %s: data source %q is not the provisioned one", r.UID, r.Datasource)
		}
		if !strings.Contains(r.Query, "$timeFilter") || !regexp.MustCompile(`FROM "(job_run|replication|changesets)"`).MatchString(r.Query) {
			t.Errorf("rule %s: query %q", r.UID, r.Query)
		}
	}
	want := []string{"osmtrack-replication-lag", "osmtrack-failed-changesets"}
	for _, cj := range b.CronJobs() {
		if cj.Spec.Suspend != nil && *cj.Spec.Suspend || cj.Name == "osmtrack-smoke" {
			continue
		}
		job := strings.TrimPrefix(cj.Name, "osmtrack-")
		if job == "changesets" {
			job = "fetch-changesets"
		}
		want = append(want, "osmtrack-step-"+job)
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("no alert rule %s", w)
		}
	}
	// The evaluation: a step that wrote no point fires; lag over the threshold fires.
	for _, r := range rules {
		switch r.UID {
		case "osmtrack-step-fetch":
			if !r.Firing(0, false) || !r.Firing(0, true) || r.Firing(3, true) {
				t.Errorf("%s: fires wrongly", r.UID)
			}
		case "osmtrack-replication-lag":
			if !r.Firing(3600, true) || r.Firing(60, true) {
				t.Errorf("%s: fires wrongly", r.UID)
			}
		}
	}
}
