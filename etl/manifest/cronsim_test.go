package manifest

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The end-to-end test's scheduler skips a run while the CronJob's previous Job still runs
// (concurrencyPolicy Forbid), and runs it again once that Job ended.
func TestCronSimForbid(t *testing.T) {
	slow, fast := &batchv1.CronJob{}, &batchv1.CronJob{}
	slow.Name, fast.Name = "slow", "fast"
	release := make(chan struct{})
	var mu sync.Mutex
	runs := map[string]int{}
	run := func(cj *batchv1.CronJob) {
		mu.Lock()
		runs[cj.Name]++
		mu.Unlock()
		if cj.Name == "slow" {
			<-release
		}
	}
	c := newCronSim(50 * time.Millisecond)
	c.minute([]*batchv1.CronJob{slow, fast}, run) // slow starts and overruns the minute
	c.minute([]*batchv1.CronJob{slow, fast}, run) // slow is still running: skipped
	close(release)
	c.wait()
	c.minute([]*batchv1.CronJob{slow, fast}, run) // slow ended: runs again
	c.wait()
	if runs["slow"] != 2 || runs["fast"] != 3 || c.skipped["slow"] != 1 || c.skipped["fast"] != 0 {
		t.Errorf("runs %v, skipped %v; want slow 2 runs and 1 skip, fast 3 runs", runs, c.skipped)
	}
}

// A Job's activeDeadlineSeconds covers its pods and retries: an overrunning pod is killed and
// the Job fails at once, with retries left.
func TestRunJobDeadline(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	r := &runner{t: t, b: &Build{}, bin: sleep, cwd: t.TempDir(), work: t.TempDir(), pathEnv: os.Getenv("PATH"),
		claims: map[string]string{}, mu: &sync.Mutex{}}
	one, three := int64(1), int32(3)
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "overrun"}}
	cj.Spec.JobTemplate.Spec = batchv1.JobSpec{ActiveDeadlineSeconds: &one, BackoffLimit: &three,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "osmtrack", Image: "ghcr.io/osmtrack/osmtrack:1", Args: []string{"30"}}}}}}
	start := time.Now()
	if ok := r.runJob(context.Background(), cj, false, nil); ok {
		t.Error("a Job whose pod sleeps 30 s past activeDeadlineSeconds 1 succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the overrunning Job took %s; the deadline is 1 s", d)
	}
	if len(r.retries) != 0 {
		t.Errorf("the Job was retried after its deadline: %v", r.retries)
	}
}
