package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
)

// fakeKubectl stands in for the API server, not for kubectl: whatever kubectl does offline
// (kustomize, set env --local, patch --local) is passed to the real kubectl ($REAL_KUBECTL);
// what needs a cluster is answered from the rendered build: `create job --from=cronjob/X`
// makes the Job as kubectl does from the CronJob in $KUBE_CRONJOBS, `get cronjobs` lists
// them, `get jobs` with the active filter answers "a Job is running" $KUBE_ACTIVE times, and
// what would change the cluster (create -f, apply -f, delete) is saved in $KUBE_DIR for the test
// to decode strictly. Every call is logged to $KUBE_LOG.
const fakeKubectl = `#!/usr/bin/env bash
set -euo pipefail
echo "$*" >> "$KUBE_DIR/log"
args=("$@"); [ "${args[0]}" = -n ] && args=("${args[@]:2}")
save() { n=$(ls "$KUBE_DIR" | grep -c '^applied-' || true); cat > "$KUBE_DIR/applied-$(printf %03d "$n")"; }
case "${args[0]}" in
  kustomize) exec "$REAL_KUBECTL" "${args[@]}" ;;
  set|patch)
    for a in "${args[@]}"; do [ "$a" = --local ] && exec "$REAL_KUBECTL" "${args[@]}"; done
    exit 0 ;;
  create)
    if [ "${args[1]}" = job ]; then
      from=""; dry=""
      for a in "${args[@]}"; do
        case "$a" in --from=cronjob/*) from=${a#--from=cronjob/} ;; --dry-run=client) dry=1 ;; esac
      done
      job=$(python3 -c '
import json, sys
cjs = json.load(open(sys.argv[1]))
if sys.argv[3] not in cjs:
    print("Error from server (NotFound): cronjobs.batch \"%s\" not found" % sys.argv[3], file=sys.stderr); sys.exit(1)
jt = cjs[sys.argv[3]]["spec"]["jobTemplate"]
meta = {"name": sys.argv[2], "annotations": {"cronjob.kubernetes.io/instantiate": "manual"}}
meta["labels"] = jt.get("metadata", {}).get("labels", {})
print(json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": jt["spec"]}))' "$KUBE_CRONJOBS" "${args[2]}" "$from")
      if [ -n "$dry" ]; then echo "$job"; else echo "$job" | save; echo "job.batch/${args[2]} created"; fi
    else
      save
    fi ;;
  apply) save ;;
  delete) cat > "$KUBE_DIR/deleted" ;;
  get)
    case "${args[1]}" in
      cronjobs)
        for a in "${args[@]}"; do [[ "$a" == -ojsonpath=* || "$a" == jsonpath=* ]] && j=1; done
        python3 -c '
import json, sys
for name, cj in sorted(json.load(open(sys.argv[1])).items()):
    print(name + "\t" + cj["spec"]["schedule"])' "$KUBE_CRONJOBS" ;;
      jobs)
        if [[ "$*" == *status.active* ]]; then
          n=$(cat "$KUBE_DIR/active" 2>/dev/null || echo 0)
          if [ "$n" -gt 0 ]; then echo $((n - 1)) > "$KUBE_DIR/active"; printf 'fetch-29000001 '; fi
        fi ;;
    esac ;;
  *) exit 0 ;;
esac
`

// kubeEnv runs scripts/kube.sh with the fake API server for the build of overlay.
type kubeEnv struct {
	t       *testing.T
	overlay string
	b       *Build
	real    string
}

type kubeResult struct {
	out, log string
	code     int
	applied  []Object // what would have been created or applied, strictly decoded
	deleted  string
}

func newKubeEnv(t *testing.T, overlay string) *kubeEnv {
	t.Helper()
	real, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kubectl is not installed (scripts/install.sh kubectl)")
		}
		t.Skip("kubectl is not installed (scripts/install.sh kubectl)")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	return &kubeEnv{t: t, overlay: overlay, b: load(t, overlay), real: real}
}

func (e *kubeEnv) run(env map[string]string, args ...string) kubeResult {
	t := e.t
	t.Helper()
	dir := t.TempDir()
	stub := filepath.Join(dir, "bin", "kubectl")
	os.MkdirAll(filepath.Dir(stub), 0o755)
	if err := os.WriteFile(stub, []byte(fakeKubectl), 0o755); err != nil {
		t.Fatal(err)
	}
	cjs := map[string]*batchv1.CronJob{}
	for _, cj := range e.b.CronJobs() {
		cjs[cj.Name] = cj
	}
	data, _ := json.Marshal(cjs)
	cjFile := filepath.Join(dir, "cronjobs.json")
	os.WriteFile(cjFile, data, 0o644)
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o755)
	// An empty kubeconfig: the real kubectl must not reach any server (nor localhost:8080).
	kubeconfig := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600)
	cmd := exec.Command(filepath.Join(root, "scripts", "kube.sh"), args...)
	cmd.Env = append(os.Environ(), "KUBECTL="+stub, "REAL_KUBECTL="+e.real, "KUBE_DIR="+state, "KUBE_CRONJOBS="+cjFile,
		"KUBECONFIG="+kubeconfig, "KUBE_POLL_SECONDS=0")
	for k, v := range env {
		if k == "KUBE_ACTIVE" {
			os.WriteFile(filepath.Join(state, "active"), []byte(v), 0o644)
			continue
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	res := kubeResult{out: string(out)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(filepath.Join(state, "log"))
	res.log = string(log)
	del, _ := os.ReadFile(filepath.Join(state, "deleted"))
	res.deleted = string(del)
	files, _ := filepath.Glob(filepath.Join(state, "applied-*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", args, err)
			}
			if doc == nil {
				continue
			}
			js, _ := json.Marshal(doc)
			o, err := Decode(js)
			if err != nil {
				t.Errorf("kube.sh %s applies an object that does not decode strictly: %v", strings.Join(args, " "), err)
				continue
			}
			res.applied = append(res.applied, o)
		}
	}
	return res
}

// jobs returns the Jobs kube.sh created, after checking them as the CronJobs are checked: the
// binary accepts their args and the offline rules pass.
func (e *kubeEnv) jobs(r kubeResult) []*batchv1.Job {
	t := e.t
	t.Helper()
	var out []*batchv1.Job
	b := &Build{Dir: e.b.Dir, Objects: append([]Object(nil), e.b.Objects...)}
	for _, o := range r.applied {
		if j, ok := o.Typed.(*batchv1.Job); ok {
			out = append(out, j)
			b.Objects = append(b.Objects, o)
		}
	}
	bin, err := NewBinary(context.Background(), osmtrackBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range CheckArgs(context.Background(), b, bin) {
		if strings.HasPrefix(p.Object, "Job ") {
			t.Errorf("%s", p)
		}
	}
	for _, p := range Check(b, dockerUID(t)) {
		if strings.HasPrefix(p.Object, "Job ") {
			t.Errorf("%s", p)
		}
	}
	return out
}

func jobArgs(j *batchv1.Job) string {
	return strings.Join(j.Spec.Template.Spec.Containers[0].Args, " ")
}

// before reports whether a occurs in log before b (both must occur).
func before(log, a, b string) bool {
	i, j := strings.Index(log, a), strings.Index(log, b)
	return i >= 0 && j >= 0 && i < j
}

func TestKubeUp(t *testing.T) {
	e := newKubeEnv(t, "overlays/minimal")
	// Placeholders are refused outside the minimal overlay: the Secrets of the build are
	// checked (change-me) and the production overlay's zero digests.
	if env, _ := os.ReadFile(filepath.Join(root, "secrets", "postgis.env")); strings.Contains(string(env), "change-me") {
		r := e.run(nil, "up", "production")
		if r.code != 2 || !strings.Contains(r.out, "change-me") || !strings.Contains(r.out, "placeholder digest") || len(r.applied) > 0 {
			t.Errorf("up production with placeholders: exit %d, applied %d objects: %s", r.code, len(r.applied), r.out)
		}
	}
	// up minimal: applies the build with every CronJob suspended, then migrates, then resumes
	// the scheduled CronJobs (not the templates).
	r := e.run(nil, "up", "minimal")
	if r.code != 0 {
		t.Fatalf("up minimal: exit %d: %s", r.code, r.out)
	}
	cronjobs := 0
	for _, o := range r.applied {
		if cj, ok := o.Typed.(*batchv1.CronJob); ok {
			cronjobs++
			if cj.Spec.Suspend == nil || !*cj.Spec.Suspend {
				t.Errorf("up applied %s unsuspended", o.ID())
			}
		}
	}
	if cronjobs != len(e.b.CronJobs()) {
		t.Errorf("up applied %d CronJobs, the build has %d", cronjobs, len(e.b.CronJobs()))
	}
	if !before(r.log, "apply -f -", "create job migrate-") || !before(r.log, "wait --for=condition=complete job/migrate-", `patch cronjob osmtrack-fetch -p {"spec":{"suspend":false}}`) {
		t.Errorf("up: not apply, migrate, wait, resume:\n%s", r.log)
	}
	if strings.Contains(r.log, "patch cronjob osmtrack-migrate") || strings.Contains(r.log, "patch cronjob osmtrack-backfill") {
		t.Errorf("up resumed a template:\n%s", r.log)
	}
	// up --suspended (the first deployment: seed before the CronJobs run) resumes nothing.
	r = e.run(nil, "up", "minimal", "--suspended")
	if r.code != 0 || !strings.Contains(r.log, "create job migrate-") || strings.Contains(r.log, `"suspend":false`) {
		t.Errorf("up minimal --suspended: exit %d:\n%s", r.code, r.log)
	}
}

// A private overlay that supplies the real Secrets and digests is accepted, although the
// repository's secrets/*.env still hold the placeholders.
func TestKubeUpPrivateOverlay(t *testing.T) {
	e := newKubeEnv(t, "overlays/production")
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, filepath.Join(mustAbs(t, root), "overlays", "production"))
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	k := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: osmtrack
resources:
  - %s
images:
  - {name: ghcr.io/osmtrack/osmtrack, digest: %[2]s}
  - {name: nginxinc/nginx-unprivileged, digest: %[2]s}
  - {name: influxdb, digest: %[2]s}
  - {name: busybox, digest: %[2]s}
secretGenerator:
  - name: osmtrack-postgis
    behavior: replace
    literals:
      - rw-url=postgres://osmtrack:s3cret@postgis:5432/osmtrack?sslmode=verify-full
      - ro-url=postgres://osmtrack_ro:s3cret2@postgis:5432/osmtrack?sslmode=verify-full
  - name: osmtrack-influxdb
    behavior: replace
    literals: [admin-user=admin, admin-password=a1, writer-user=osmtrack, writer-password=w1, reader-user=osmtrack_reader, reader-password=r1]
`, rel, digest)
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644)
	r := e.run(nil, "up", dir)
	if r.code != 0 {
		t.Fatalf("up PRIVATE-OVERLAY: exit %d: %s", r.code, r.out)
	}
	n := 0
	for _, o := range r.applied {
		if o.Kind == "Secret" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("up PRIVATE-OVERLAY applied %d Secrets, want 2", n)
	}
	// The same overlay without the Secrets is refused.
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k[:strings.Index(k, "secretGenerator:")]), 0o644)
	if r := e.run(nil, "up", dir); r.code != 2 || !strings.Contains(r.out, "change-me") {
		t.Errorf("up PRIVATE-OVERLAY with placeholder secrets: exit %d: %s", r.code, r.out)
	}
}

func TestKubeBackfill(t *testing.T) {
	e := newKubeEnv(t, ".")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from-seq", "6000001", "--to-seq", "6000100"}, "fetch --from-seq 6000001 --to-seq 6000100"},
		{[]string{"6000001", "6000100"}, "fetch --from-seq 6000001 --to-seq 6000100"},
		{[]string{"--from-seq", "6000001"}, "fetch --from-seq 6000001"},
		{[]string{"--from-time", "2026-11-20T00:00:00Z", "--to-time", "2026-11-20T06:00:00Z"}, "fetch --from-time 2026-11-20T00:00:00Z --to-time 2026-11-20T06:00:00Z"},
		{[]string{"--from-time", "6 hours ago", "--pointer", "backfill-morning"}, "fetch --from-time 6 hours ago --pointer backfill-morning"},
	} {
		r := e.run(nil, append([]string{"backfill"}, c.args...)...)
		js := e.jobs(r)
		if r.code != 0 || len(js) != 1 {
			t.Errorf("backfill %q: exit %d, %d Jobs: %s\n%s", c.args, r.code, len(js), r.out, r.log)
			continue
		}
		if got := jobArgs(js[0]); got != c.want {
			t.Errorf("backfill %q: the Job runs %q, want %q", c.args, got, c.want)
		}
		if js[0].Labels["app.kubernetes.io/part-of"] != "osmtrack" || js[0].Spec.Template.Labels["app.kubernetes.io/part-of"] != "osmtrack" {
			t.Errorf("backfill %q: the Job or its pods are not labelled part-of=osmtrack: %v %v", c.args, js[0].Labels, js[0].Spec.Template.Labels)
		}
	}
	for _, bad := range [][]string{{"yesterday"}, {}, {"--from-seq", "5", "--from-time", "1 hour ago"}, {"--from-seq", "x"}, {"--to-time", "1 hour ago"}, {"--frm-seq", "5"}} {
		if r := e.run(nil, append([]string{"backfill"}, bad...)...); r.code != 2 || len(r.applied) > 0 {
			t.Errorf("backfill %q: exit %d, want 2 and nothing created", bad, r.code)
		}
	}
}

func TestKubeRestoreWaitsForRunningJobs(t *testing.T) {
	e := newKubeEnv(t, ".")
	r := e.run(map[string]string{"KUBE_ACTIVE": "2"}, "restore", "postgis", "osmtrack-20261120T024100Z.dump", "--force")
	js := e.jobs(r)
	if r.code != 0 || len(js) != 1 {
		t.Fatalf("restore: exit %d, %d Jobs: %s", r.code, len(js), r.out)
	}
	if got, want := jobArgs(js[0]), "restore postgis --from /backup/postgis/osmtrack-20261120T024100Z.dump --force"; got != want {
		t.Errorf("restore runs %q, want %q", got, want)
	}
	if strings.Count(r.log, "status.active") != 3 || !strings.Contains(r.out, "waiting for running Jobs to finish: fetch-29000001") {
		t.Errorf("restore did not wait for the running Job (3 polls):\n%s\n%s", r.log, r.out)
	}
	if !before(r.log, `patch cronjob osmtrack-fetch -p {"spec":{"suspend":true}}`, "status.active") || !before(r.log, "status.active", "create -f -") {
		t.Errorf("restore: not suspend, wait, then restore:\n%s", r.log)
	}
	if r := e.run(map[string]string{"KUBE_ACTIVE": "100", "IDLE_TIMEOUT": "0"}, "restore", "influxdb"); r.code == 0 || len(r.applied) > 0 {
		t.Errorf("restore while Jobs keep running: exit %d, created %d objects", r.code, len(r.applied))
	}
}

func TestKubeUpgrade(t *testing.T) {
	e := newKubeEnv(t, "overlays/minimal")
	ref := "ghcr.io/osmtrack/osmtrack@sha256:" + strings.Repeat("12", 32)
	r := e.run(map[string]string{"KUBE_ACTIVE": "1"}, "upgrade", "--image", ref, "minimal")
	if r.code != 0 {
		t.Fatalf("upgrade: exit %d: %s\n%s", r.code, r.out, r.log)
	}
	n := 0
	for _, o := range r.applied {
		if cj, ok := o.Typed.(*batchv1.CronJob); ok {
			n++
			if img := osm(cj).Image; img != ref {
				t.Errorf("upgrade: %s runs %s", o.ID(), img)
			}
			if cj.Spec.Suspend == nil || !*cj.Spec.Suspend {
				t.Errorf("upgrade applied %s unsuspended (before migrate)", o.ID())
			}
		}
	}
	if n == 0 {
		t.Error("upgrade applied no CronJobs")
	}
	order := []string{`patch cronjob osmtrack-fetch -p {"spec":{"suspend":true}}`, "status.active", "apply -f -", "create job migrate-",
		"wait --for=condition=complete job/migrate-", `patch cronjob osmtrack-fetch -p {"spec":{"suspend":false}}`,
		"rollout restart deployment/osmtrack-site", "rollout status deployment/osmtrack-site"}
	for i := 1; i < len(order); i++ {
		if !before(r.log, order[i-1], order[i]) {
			t.Errorf("upgrade: %q does not come before %q:\n%s", order[i-1], order[i], r.log)
		}
	}
	for _, bad := range [][]string{{}, {"--image", "osmtrack"}, {"--image", "ghcr.io/osmtrack/osmtrack"}, {"--image", ref, "nowhere"}} {
		if r := e.run(nil, append([]string{"upgrade"}, bad...)...); r.code != 2 || len(r.applied) > 0 {
			t.Errorf("upgrade %q: exit %d, want 2 and nothing applied: %s", bad, r.code, r.out)
		}
	}
}

func TestKubeStatusAndLabels(t *testing.T) {
	e := newKubeEnv(t, ".")
	r := e.run(nil, "status")
	if r.code != 0 || !strings.Contains(r.log, "get jobs -l app.kubernetes.io/part-of=osmtrack") || !strings.Contains(r.log, "get pods,pvc -l app.kubernetes.io/part-of=osmtrack") ||
		!strings.Contains(r.log, "create job smoke-") {
		t.Errorf("status: exit %d:\n%s", r.code, r.log)
	}
	// The label status filters on is on every CronJob's Jobs and Pods, and on the pods of
	// nginx and InfluxDB.
	for _, dir := range builds {
		for _, pt := range load(t, dir).PodTemplates() {
			if pt.Labels["app.kubernetes.io/part-of"] != "osmtrack" {
				t.Errorf("%s: the pods of %s are not labelled app.kubernetes.io/part-of=osmtrack", dir, pt.Owner)
			}
		}
		for _, cj := range load(t, dir).CronJobs() {
			if cj.Spec.JobTemplate.Labels["app.kubernetes.io/part-of"] != "osmtrack" {
				t.Errorf("%s: the Jobs of CronJob %s are not labelled app.kubernetes.io/part-of=osmtrack", dir, cj.Name)
			}
		}
	}
	if r := e.run(nil, "frobnicate"); r.code != 2 {
		t.Errorf("unknown command: exit %d, want 2", r.code)
	}
}

// The usage text of kube.sh names every verb its case statement handles.
func TestKubeUsage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "scripts", "kube.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z|-]+)\)`).FindAllStringSubmatch(string(data), -1) {
		for _, verb := range strings.Split(m[1], "|") {
			if !strings.Contains(string(data), "#   scripts/kube.sh "+verb) && !strings.Contains(string(data), "|"+verb+" ") {
				t.Errorf("kube.sh: verb %s is not in the usage text", verb)
			}
		}
	}
}

func TestKubeSeed(t *testing.T) {
	e := newKubeEnv(t, ".")
	url := "https://download.geofabrik.de/europe/monaco-latest.osm.pbf"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--extract", url, "--set-pointer"}, "seed --tmp-dir /spool --extract " + url + " --set-pointer"},
		{[]string{"--extract=" + url}, "seed --tmp-dir /spool --extract " + url},
	} {
		r := e.run(nil, append([]string{"seed"}, c.args...)...)
		js := e.jobs(r)
		if r.code != 0 || len(js) != 1 {
			t.Errorf("seed %q: exit %d, %d Jobs: %s\n%s", c.args, r.code, len(js), r.out, r.log)
			continue
		}
		if got := jobArgs(js[0]); got != c.want {
			t.Errorf("seed %q: the Job runs %q, want %q", c.args, got, c.want)
		}
		if !strings.Contains(r.log, "wait --for=condition=complete job/seed-") {
			t.Errorf("seed %q: does not wait for the Job:\n%s", c.args, r.log)
		}
	}
	for _, bad := range [][]string{{}, {"--extract"}, {"--extract", "/data/monaco.osm.pbf"}, {"--extract", url, "--frobnicate"}} {
		if r := e.run(nil, append([]string{"seed"}, bad...)...); r.code != 2 || len(r.applied) > 0 {
			t.Errorf("seed %q: exit %d, want 2 and nothing created", bad, r.code)
		}
	}
}
