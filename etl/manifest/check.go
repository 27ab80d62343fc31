package manifest

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/osmtrack/osmtrack/etl/config"
)

// Names of the objects the rules know about.
const (
	ConfigMapConfig = "osmtrack-config" // config.yaml and rules.yaml
	ConfigMapEnv    = "osmtrack-env"    // the non-secret environment
	SecretPostGIS   = "osmtrack-postgis"
	KeyRW           = "rw-url"
	KeyRO           = "ro-url"
	ContainerName   = "osmtrack" // the container that runs the binary
	TimeZone        = "Etc/UTC"
	// MaxCronJobName: a Job created from a CronJob gets an 11-character suffix and must stay a
	// 63-character label.
	MaxCronJobName = 52
	// DeadlineMargin is the least time between a step's max_duration and the Job's
	// activeDeadlineSeconds: pod start, connecting, and finishing the last item.
	DeadlineMargin = 30 * time.Second
)

// readOnlyCommands connect with the read-only role; every other command that uses the database
// gets the read/write one.
var readOnlyCommands = map[string]bool{"publish": true, "status": true}

// Problem is one broken rule: the object and what is wrong.
type Problem struct {
	Object string
	Msg    string
}

func (p Problem) String() string { return p.Object + ": " + p.Msg }

type checker struct {
	b     *Build
	probs []Problem
}

func (c *checker) add(obj, format string, args ...any) {
	c.probs = append(c.probs, Problem{obj, fmt.Sprintf(format, args...)})
}

// Check applies the offline rules that need no binary to a build: names, images, security
// context, resources, references, and every CronJob's schedule, deadlines and failure policy.
// uid is the user id the image runs as (the Dockerfile's USER).
func Check(b *Build, uid int64) []Problem {
	c := &checker{b: b}
	c.names()
	for _, pt := range b.PodTemplates() {
		c.podTemplate(pt, uid)
	}
	for _, cj := range b.CronJobs() {
		c.cronJob(cj)
	}
	c.services()
	c.networkPolicies()
	c.ingresses()
	return c.probs
}

func (c *checker) names() {
	for _, o := range c.b.Objects {
		for _, msg := range validation.IsDNS1123Label(o.Name) {
			c.add(o.ID(), "name is not a DNS label: %s", msg)
		}
		if o.Kind == "CronJob" && len(o.Name) > MaxCronJobName {
			c.add(o.ID(), "name is %d characters; at most %d (Jobs add a suffix)", len(o.Name), MaxCronJobName)
		}
	}
}

// IsOsmtrack reports whether a container runs the osmtrack image.
func IsOsmtrack(ct *corev1.Container) bool {
	repo := ct.Image
	if i := strings.Index(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return path.Base(repo) == "osmtrack"
}

// imagePinned reports whether image names a tag other than latest, or a digest.
func imagePinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	i := strings.LastIndex(image, ":")
	if i <= strings.LastIndex(image, "/") {
		return false
	}
	tag := image[i+1:]
	return tag != "" && tag != "latest"
}

func (c *checker) podTemplate(pt PodTemplate, uid int64) {
	ps := pt.Spec
	psc := ps.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	all := append(append([]corev1.Container{}, ps.InitContainers...), ps.Containers...)
	for i := range all {
		ct := &all[i]
		where := pt.Owner + " container " + ct.Name
		if !imagePinned(ct.Image) {
			c.add(where, "image %q is not pinned to a tag (other than latest) or a digest", ct.Image)
		}
		r := ct.Resources
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := r.Requests[res]; !ok {
				c.add(where, "no %s request", res)
			}
			if _, ok := r.Limits[res]; !ok {
				c.add(where, "no %s limit", res)
			}
		}
		sc := ct.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = psc.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			c.add(where, "runAsNonRoot is not true")
		}
		user := sc.RunAsUser
		if user == nil {
			user = psc.RunAsUser
		}
		switch {
		case user == nil:
			c.add(where, "no fixed runAsUser")
		case *user == 0:
			c.add(where, "runAsUser is 0 (root)")
		case IsOsmtrack(ct) && *user != uid:
			c.add(where, "runAsUser %d, but the image's user (Dockerfile USER) is %d", *user, uid)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			c.add(where, "readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			c.add(where, "allowPrivilegeEscalation is not false")
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0 {
			c.add(where, "capabilities must drop ALL and add none")
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			c.add(where, "seccompProfile is not RuntimeDefault")
		}
		c.envRefs(where, ct)
	}
	c.volumeRefs(pt)
}

// envRefs checks that every Secret, ConfigMap and key a container's environment names exists.
func (c *checker) envRefs(where string, ct *corev1.Container) {
	for _, e := range ct.Env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			s := c.b.Secret(r.Name)
			switch {
			case s == nil:
				c.add(where, "env %s: Secret %q is not in the build", e.Name, r.Name)
			case !hasKey(s.Data, s.StringData, r.Key):
				c.add(where, "env %s: Secret %q has no key %q", e.Name, r.Name, r.Key)
			}
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			cm := c.b.ConfigMap(r.Name)
			switch {
			case cm == nil:
				c.add(where, "env %s: ConfigMap %q is not in the build", e.Name, r.Name)
			case cm.Data[r.Key] == "" && cm.BinaryData[r.Key] == nil:
				if _, ok := cm.Data[r.Key]; !ok {
					c.add(where, "env %s: ConfigMap %q has no key %q", e.Name, r.Name, r.Key)
				}
			}
		}
	}
	for _, ef := range ct.EnvFrom {
		if r := ef.ConfigMapRef; r != nil && c.b.ConfigMap(r.Name) == nil {
			c.add(where, "envFrom: ConfigMap %q is not in the build", r.Name)
		}
		if r := ef.SecretRef; r != nil && c.b.Secret(r.Name) == nil {
			c.add(where, "envFrom: Secret %q is not in the build", r.Name)
		}
	}
}

func hasKey(data map[string][]byte, sdata map[string]string, k string) bool {
	if _, ok := data[k]; ok {
		return true
	}
	_, ok := sdata[k]
	return ok
}

func (c *checker) volumeRefs(pt PodTemplate) {
	names := map[string]bool{}
	for _, v := range pt.Spec.Volumes {
		names[v.Name] = true
		switch {
		case v.ConfigMap != nil:
			if c.b.ConfigMap(v.ConfigMap.Name) == nil {
				c.add(pt.Owner, "volume %s: ConfigMap %q is not in the build", v.Name, v.ConfigMap.Name)
			}
		case v.Secret != nil:
			if c.b.Secret(v.Secret.SecretName) == nil {
				c.add(pt.Owner, "volume %s: Secret %q is not in the build", v.Name, v.Secret.SecretName)
			}
		case v.PersistentVolumeClaim != nil:
			if c.b.Get("PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName) == nil {
				c.add(pt.Owner, "volume %s: PersistentVolumeClaim %q is not in the build", v.Name, v.PersistentVolumeClaim.ClaimName)
			}
		}
	}
	for _, ct := range append(append([]corev1.Container{}, pt.Spec.InitContainers...), pt.Spec.Containers...) {
		for _, m := range ct.VolumeMounts {
			if !names[m.Name] && !c.claimTemplate(pt.Owner, m.Name) {
				c.add(pt.Owner, "container %s mounts volume %q, which the pod does not have", ct.Name, m.Name)
			}
		}
	}
}

// claimTemplate reports whether owner (a StatefulSet) has a volumeClaimTemplate called name.
func (c *checker) claimTemplate(owner, name string) bool {
	kind, objName, _ := strings.Cut(owner, " ")
	o := c.b.Get(kind, objName)
	if o == nil {
		return false
	}
	sts, ok := o.Typed.(*appsv1.StatefulSet)
	if !ok {
		return false
	}
	for _, t := range sts.Spec.VolumeClaimTemplates {
		if t.Name == name {
			return true
		}
	}
	return false
}

// Schedule parses a CronJob schedule with robfig/cron's standard parser, refusing TZ= and
// CRON_TZ= (the time zone belongs in spec.timeZone).
func Schedule(s string) (cron.Schedule, error) {
	if strings.Contains(s, "TZ=") {
		return nil, fmt.Errorf("schedule %q sets a time zone: use spec.timeZone", s)
	}
	return cron.ParseStandard(s)
}

// Interval is the shortest time between two runs of sched over two days from a fixed start, or
// 0 when it never fires.
func Interval(sched cron.Schedule) time.Duration {
	t := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	end := t.Add(48 * time.Hour)
	prev := sched.Next(t)
	if prev.IsZero() {
		return 0
	}
	min := time.Duration(0)
	for prev.Before(end) {
		next := sched.Next(prev)
		if next.IsZero() {
			break
		}
		if d := next.Sub(prev); min == 0 || d < min {
			min = d
		}
		prev = next
	}
	if min == 0 {
		min = 48 * time.Hour
	}
	return min
}

func (c *checker) cronJob(cj *batchv1.CronJob) {
	id := "CronJob " + cj.Name
	s := cj.Spec
	sched, err := Schedule(s.Schedule)
	if err != nil {
		c.add(id, "schedule: %v", err)
	}
	if s.TimeZone == nil || *s.TimeZone != TimeZone {
		c.add(id, "timeZone is not %s", TimeZone)
	}
	if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		c.add(id, "concurrencyPolicy is %q, want Forbid", s.ConcurrencyPolicy)
	}
	if s.SuccessfulJobsHistoryLimit == nil || *s.SuccessfulJobsHistoryLimit != 3 || s.FailedJobsHistoryLimit == nil || *s.FailedJobsHistoryLimit != 3 {
		c.add(id, "history limits must be 3 and 3")
	}
	template := s.Suspend != nil && *s.Suspend
	if sched != nil {
		iv := Interval(sched)
		switch {
		case template && iv != 0:
			c.add(id, "a suspended template's schedule must never fire (e.g. \"0 0 31 2 *\"); %q does", s.Schedule)
		case !template && iv == 0:
			c.add(id, "schedule %q never fires", s.Schedule)
		case s.StartingDeadlineSeconds == nil:
			c.add(id, "no startingDeadlineSeconds")
		case !template && time.Duration(*s.StartingDeadlineSeconds)*time.Second >= iv:
			c.add(id, "startingDeadlineSeconds %d is not shorter than the interval %s", *s.StartingDeadlineSeconds, iv)
		}
	}
	js := s.JobTemplate.Spec
	if js.BackoffLimit == nil {
		c.add(id, "no backoffLimit")
	}
	if js.ActiveDeadlineSeconds == nil {
		c.add(id, "no activeDeadlineSeconds")
	}
	if js.TTLSecondsAfterFinished == nil {
		c.add(id, "no ttlSecondsAfterFinished")
	}
	if js.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		c.add(id, "restartPolicy is %q, want Never (podFailurePolicy needs it)", js.Template.Spec.RestartPolicy)
	}
	var failJob, ignore bool
	if js.PodFailurePolicy != nil {
		for _, r := range js.PodFailurePolicy.Rules {
			if r.Action == batchv1.PodFailurePolicyActionFailJob && r.OnExitCodes != nil && r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn &&
				len(r.OnExitCodes.Values) == 1 && r.OnExitCodes.Values[0] == 2 && r.OnExitCodes.ContainerName != nil && *r.OnExitCodes.ContainerName == ContainerName {
				failJob = true
			}
			if r.Action == batchv1.PodFailurePolicyActionIgnore {
				for _, pc := range r.OnPodConditions {
					if pc.Type == corev1.DisruptionTarget {
						ignore = true
					}
				}
			}
		}
	}
	if !failJob {
		c.add(id, "podFailurePolicy has no FailJob rule on exit code 2 of container %s", ContainerName)
	}
	if !ignore {
		c.add(id, "podFailurePolicy has no Ignore rule on DisruptionTarget")
	}
	ps := js.Template.Spec
	var ct *corev1.Container
	for i := range ps.Containers {
		if IsOsmtrack(&ps.Containers[i]) {
			if ps.Containers[i].Name != ContainerName {
				c.add(id, "the osmtrack container is called %q, want %q (the failure policy names it)", ps.Containers[i].Name, ContainerName)
			}
			ct = &ps.Containers[i]
		}
	}
	if ct == nil {
		c.add(id, "no container runs the osmtrack image")
		return
	}
	if len(ct.Command) > 0 {
		c.add(id, "container sets command %q: the image's entrypoint is osmtrack, give the subcommand in args", ct.Command)
	}
	if len(ct.Args) == 0 {
		c.add(id, "container has no args (the first is the subcommand)")
		return
	}
	if js.Template.Labels["app.kubernetes.io/component"] != "etl" {
		c.add(id, "pod is not labelled app.kubernetes.io/component=etl (the NetworkPolicies select on it)")
	}
	c.configFrom(id, &ps, ct)
	c.databaseURL(id, ct)
	c.influxUsers(id, ct)
	c.maxDuration(id, cj, ct)
}

// configFrom checks that the container reads its configuration from the ConfigMap.
func (c *checker) configFrom(id string, ps *corev1.PodSpec, ct *corev1.Container) {
	cfgPath := EnvValue(c.b, ct, config.EnvConfig)
	for i, a := range ct.Args {
		if a == "--config" && i+1 < len(ct.Args) {
			cfgPath = ct.Args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--config="); ok {
			cfgPath = v
		}
	}
	if cfgPath == "" {
		c.add(id, "no configuration: set %s or --config", config.EnvConfig)
		return
	}
	vol := ""
	for _, m := range ct.VolumeMounts {
		if path.Dir(cfgPath) == path.Clean(m.MountPath) {
			vol = m.Name
		}
	}
	want := c.b.GeneratedName("ConfigMap", ConfigMapConfig)
	for _, v := range ps.Volumes {
		if v.Name == vol && v.ConfigMap != nil && v.ConfigMap.Name == want {
			if cm := c.b.ConfigMap(want); cm != nil {
				if _, ok := cm.Data[path.Base(cfgPath)]; !ok {
					c.add(id, "ConfigMap %s has no %s", ConfigMapConfig, path.Base(cfgPath))
				}
			}
			return
		}
	}
	c.add(id, "configuration %s is not mounted from the ConfigMap %s", cfgPath, ConfigMapConfig)
}

// EnvValue returns the value a container's environment gives name: its env (literal values
// only), else its envFrom ConfigMaps. "" when unset or from a Secret.
func EnvValue(b *Build, ct *corev1.Container, name string) string {
	for _, e := range ct.Env {
		if e.Name == name {
			return e.Value
		}
	}
	for _, ef := range ct.EnvFrom {
		if ef.ConfigMapRef != nil {
			if cm := b.ConfigMap(ef.ConfigMapRef.Name); cm != nil {
				if v, ok := cm.Data[ef.Prefix+name]; ok {
					return v
				}
			}
		}
	}
	return ""
}

// databaseURL checks that ETL steps get the read/write URL and publish the read-only one.
func (c *checker) databaseURL(id string, ct *corev1.Container) {
	want := KeyRW
	if readOnlyCommands[ct.Args[0]] {
		want = KeyRO
	}
	secret := c.b.GeneratedName("Secret", SecretPostGIS)
	for _, e := range ct.Env {
		if e.Name != config.EnvDatabaseURL {
			continue
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			c.add(id, "%s is not from a Secret", config.EnvDatabaseURL)
			return
		}
		r := e.ValueFrom.SecretKeyRef
		if r.Name != secret || r.Key != want {
			c.add(id, "%s comes from %s/%s; %s needs %s/%s", config.EnvDatabaseURL, r.Name, r.Key, ct.Args[0], SecretPostGIS, want)
		}
		return
	}
	if ct.Args[0] != "restore" || len(ct.Args) < 2 || ct.Args[1] != "influxdb" {
		c.add(id, "no %s (%s needs %s/%s)", config.EnvDatabaseURL, ct.Args[0], SecretPostGIS, want)
	}
}

// SecretInfluxDB holds the InfluxDB users: admin-*, writer-* (WRITE only) and reader-* (READ
// only), as the influxdb:1.8 image's init creates them.
const SecretInfluxDB = "osmtrack-influxdb"

// InfluxUsers are the InfluxDB users a command needs, least privilege: every step records
// metrics as the writer; status reads only (the reader); publish also reads its recent runs
// (the reader); backups and restores of InfluxDB need the admin.
func InfluxUsers(args []string) []string {
	switch {
	case len(args) == 0:
		return nil
	case args[0] == "status":
		return []string{"reader"}
	case args[0] == "publish":
		return []string{"reader", "writer"}
	case (args[0] == "backup" || args[0] == "restore") && len(args) > 1 && args[1] == "influxdb":
		return []string{"admin", "writer"}
	}
	return []string{"writer"}
}

// InfluxUsersOf lists the InfluxDB users whose credentials a container's environment holds.
func InfluxUsersOf(b *Build, ct *corev1.Container) []string {
	secret := b.GeneratedName("Secret", SecretInfluxDB)
	seen := map[string]bool{}
	for _, e := range ct.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == secret {
			user, _, _ := strings.Cut(e.ValueFrom.SecretKeyRef.Key, "-")
			seen[user] = true
		}
	}
	out := make([]string, 0, len(seen))
	for u := range seen {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// influxUsers checks that a step gets the InfluxDB users it needs and no more.
func (c *checker) influxUsers(id string, ct *corev1.Container) {
	have, want := strings.Join(InfluxUsersOf(c.b, ct), ","), strings.Join(InfluxUsers(ct.Args), ",")
	if have != want {
		c.add(id, "%s gets the InfluxDB users [%s]; least privilege is [%s]", ct.Args[0], have, want)
	}
}

// StepConfig returns the configuration in the build's ConfigMap, parsed as osmtrack does.
func StepConfig(b *Build) (*config.Config, error) {
	cm := b.ConfigMap(b.GeneratedName("ConfigMap", ConfigMapConfig))
	if cm == nil {
		return nil, fmt.Errorf("no ConfigMap %s", ConfigMapConfig)
	}
	data, ok := cm.Data["config.yaml"]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s has no config.yaml", ConfigMapConfig)
	}
	return config.Parse([]byte(data), ConfigMapConfig+"/config.yaml")
}

// MaxDuration is the step's own time limit in cfg for the container's args, or 0.
func MaxDuration(cfg *config.Config, args []string) time.Duration {
	if len(args) == 0 {
		return 0
	}
	switch args[0] {
	case "fetch":
		for _, a := range args[1:] {
			if a == "--changesets" || a == "--changesets=true" {
				return cfg.Changeset.MaxDuration.D()
			}
		}
		return cfg.Fetch.MaxDuration.D()
	case "filter":
		return cfg.Filter.MaxDuration.D()
	case "analyse":
		return cfg.Analyse.MaxDuration.D()
	}
	return 0
}

func (c *checker) maxDuration(id string, cj *batchv1.CronJob, ct *corev1.Container) {
	ads := cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds
	if ads == nil {
		return
	}
	cfg, err := StepConfig(c.b)
	if err != nil {
		c.add(id, "%v", err)
		return
	}
	md := MaxDuration(cfg, ct.Args)
	if md > 0 && md+DeadlineMargin > time.Duration(*ads)*time.Second {
		c.add(id, "the step's max_duration %s plus %s is not below activeDeadlineSeconds %d", md, DeadlineMargin, *ads)
	}
}

// services checks that every Service with a selector selects some pod template.
func (c *checker) services() {
	pts := c.b.PodTemplates()
	for _, o := range c.b.Objects {
		svc, ok := o.Typed.(*corev1.Service)
		if !ok || len(svc.Spec.Selector) == 0 {
			continue
		}
		found := false
		for _, pt := range pts {
			if matches(svc.Spec.Selector, pt.Labels) {
				found = true
			}
		}
		if !found {
			c.add(o.ID(), "selector %v matches no pod in the build", svc.Spec.Selector)
		}
	}
}

func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// networkPolicies checks for a default deny of both directions.
func (c *checker) networkPolicies() {
	for _, o := range c.b.Objects {
		np, ok := o.Typed.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		s := np.Spec
		if len(s.PodSelector.MatchLabels) == 0 && len(s.PodSelector.MatchExpressions) == 0 && len(s.Ingress) == 0 && len(s.Egress) == 0 && len(s.PolicyTypes) == 2 {
			return
		}
	}
	c.add("NetworkPolicy", "no default-deny policy (empty podSelector, Ingress and Egress, no rules)")
}

// certManager is the annotation that makes cert-manager create an Ingress's TLS Secret.
var certManager = regexp.MustCompile(`^cert-manager\.io/(cluster-)?issuer$`)

func (c *checker) ingresses() {
	for _, o := range c.b.Objects {
		ing, ok := o.Typed.(*networkingv1.Ingress)
		if !ok {
			continue
		}
		managed := false
		for k := range ing.Annotations {
			if certManager.MatchString(k) {
				managed = true
			}
		}
		for _, t := range ing.Spec.TLS {
			if !managed && c.b.Secret(t.SecretName) == nil {
				c.add(o.ID(), "TLS Secret %q is not in the build and no cert-manager issuer annotation makes it", t.SecretName)
			}
		}
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				if p.Backend.Service != nil && c.b.Get("Service", p.Backend.Service.Name) == nil {
					c.add(o.ID(), "backend Service %q is not in the build", p.Backend.Service.Name)
				}
			}
		}
	}
}
