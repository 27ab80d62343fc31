package manifest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestInfluxDBStatefulSet: one replica of the InfluxDB version the tests run, a headless
// Service, data from a volumeClaimTemplate, auth on with the three users from the Secret, the
// RPC port for remote backups, /health probes; the backup volume is a separate claim that the
// backup CronJobs mount.
func TestInfluxDBStatefulSet(t *testing.T) {
	install, err := os.ReadFile(filepath.Join(root, "scripts", "install.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`influxd@v(1\.8\.\d+)`).FindSubmatch(install)
	if m == nil {
		t.Fatal("scripts/install.sh: no influxd@v1.8.x")
	}
	testVersion := string(m[1])
	for _, dir := range builds {
		b := load(t, dir)
		o := b.Get("StatefulSet", "influxdb")
		if o == nil {
			t.Fatalf("%s: no StatefulSet influxdb", dir)
		}
		sts := o.Typed.(*appsv1.StatefulSet)
		if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
			t.Errorf("%s: replicas %v, want 1", dir, sts.Spec.Replicas)
		}
		svc := b.Get("Service", sts.Spec.ServiceName)
		if svc == nil || svc.Typed.(*corev1.Service).Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("%s: serviceName %q is not a headless Service in the build", dir, sts.Spec.ServiceName)
		}
		if len(sts.Spec.VolumeClaimTemplates) == 0 {
			t.Errorf("%s: no volumeClaimTemplates", dir)
		}
		ct := sts.Spec.Template.Spec.Containers[0]
		if want := "influxdb:" + testVersion; ct.Image != want && !pinnedTo(t, dir, ct.Image, testVersion) {
			t.Errorf("%s: image %s; the tests run %s", dir, ct.Image, want)
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range ct.Env {
			env[e.Name] = e
		}
		if env["INFLUXDB_HTTP_AUTH_ENABLED"].Value != "true" {
			t.Errorf("%s: auth is not enabled", dir)
		}
		if !strings.HasSuffix(env["INFLUXDB_BIND_ADDRESS"].Value, ":8088") {
			t.Errorf("%s: the RPC port does not listen on :8088 for remote backups", dir)
		}
		for _, u := range []string{"INFLUXDB_ADMIN_USER", "INFLUXDB_ADMIN_PASSWORD", "INFLUXDB_WRITE_USER", "INFLUXDB_WRITE_USER_PASSWORD", "INFLUXDB_READ_USER", "INFLUXDB_READ_USER_PASSWORD"} {
			if e, ok := env[u]; !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s: %s is not from a Secret", dir, u)
			}
		}
		ports := map[int32]bool{}
		for _, p := range ct.Ports {
			ports[p.ContainerPort] = true
		}
		if !ports[8086] || !ports[8088] {
			t.Errorf("%s: ports %v, want 8086 and 8088", dir, ct.Ports)
		}
		for name, p := range map[string]*corev1.Probe{"readiness": ct.ReadinessProbe, "liveness": ct.LivenessProbe} {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/health" {
				t.Errorf("%s: %s probe is not GET /health", dir, name)
			}
		}
		// The backup volume: its own claim, mounted by the backup CronJobs.
		for _, name := range []string{"osmtrack-backup-postgis", "osmtrack-backup-influxdb", "osmtrack-restore-postgis", "osmtrack-restore-influxdb"} {
			cj := b.Get("CronJob", name).Typed.(*batchv1.CronJob)
			ps := cj.Spec.JobTemplate.Spec.Template.Spec
			if c, _ := claimAt(ps, ps.Containers[0], "/backup"); c != "osmtrack-backup" {
				t.Errorf("%s: %s does not mount the claim osmtrack-backup at /backup", dir, name)
			}
		}
	}
}

// pinnedTo reports whether image is pinned by digest in dir's kustomization with a comment
// naming version (production: `digest: sha256:…   # EDIT: 1.8.10`).
func pinnedTo(t *testing.T, dir, image, version string) bool {
	name, digest, ok := strings.Cut(image, "@")
	if !ok {
		return false
	}
	k, err := os.ReadFile(filepath.Join(root, dir, "kustomization.yaml"))
	if err != nil {
		return false
	}
	re := regexp.MustCompile(`(?m)name: ` + regexp.QuoteMeta(name) + `\s*\n\s*digest: ` + regexp.QuoteMeta(digest) + `.*#.*\b` + regexp.QuoteMeta(version) + `\b`)
	return re.Match(k)
}
