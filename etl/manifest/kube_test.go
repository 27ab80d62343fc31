package manifest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeKubectl records its arguments, answers `kustomize DIR` with the real build of DIR and
// passes standard input through for the other commands (create --dry-run, set env, apply).
const fakeKubectl = `#!/usr/bin/env bash
echo "$*" >> "$KUBE_LOG"
args=("$@"); [ "${args[0]}" = -n ] && args=("${args[@]:2}")
case "${args[0]}" in
  kustomize) cat "$KUBE_BUILD" ;;
  get) ;;
  wait|patch|rollout|logs|delete) [ "${args[0]}" = delete ] && cat > "$KUBE_DELETED" ; exit 0 ;;
  create) [ "${args[*]}" != "${args[*]/--dry-run/}" ] && printf 'kind: Job\nspec: {}\n' ;;
  *) cat ;;
esac
`

func kube(t *testing.T, build string, args ...string) (string, string, int) {
	t.Helper()
	dir := t.TempDir()
	stub := filepath.Join(dir, "kubectl")
	if err := os.WriteFile(stub, []byte(fakeKubectl), 0o755); err != nil {
		t.Fatal(err)
	}
	buildFile := filepath.Join(dir, "build.yaml")
	os.WriteFile(buildFile, []byte(build), 0o644)
	logFile := filepath.Join(dir, "log")
	cmd := exec.Command(filepath.Join(root, "scripts", "kube.sh"), args...)
	cmd.Env = append(os.Environ(), "KUBECTL="+stub, "KUBE_LOG="+logFile, "KUBE_BUILD="+buildFile, "KUBE_DELETED="+filepath.Join(dir, "deleted"))
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(logFile)
	return string(out), string(log), code
}

func TestKubeScript(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	build := "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: osmtrack-fetch\nspec:\n  schedule: '* * * * *'\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  type: ExternalName\n"

	// Placeholder secrets are refused outside the minimal overlay.
	if env, _ := os.ReadFile(filepath.Join(root, "secrets", "postgis.env")); strings.Contains(string(env), "change-me") {
		if out, _, code := kube(t, build, "up", "production"); code != 2 || !strings.Contains(out, "change-me") {
			t.Errorf("up production with placeholders: exit %d: %s", code, out)
		}
	}
	// up minimal: applies the build with every CronJob suspended, then migrates.
	out, log, code := kube(t, build, "up", "minimal")
	if code != 0 {
		t.Fatalf("up minimal: exit %d: %s", code, out)
	}
	if !strings.Contains(out, "suspend: true") || !strings.Contains(log, "apply -f -") {
		t.Errorf("up did not apply a suspended build:\n%s\n%s", out, log)
	}
	if !strings.Contains(log, "create job migrate-") || !strings.Contains(log, "--from=cronjob/osmtrack-migrate") {
		t.Errorf("up did not run the migrate template:\n%s", log)
	}
	// backfill: a Job from the template with the range in the environment.
	out, log, code = kube(t, build, "backfill", "6000001", "6000100")
	if code != 0 || !strings.Contains(log, "--from=cronjob/osmtrack-backfill") ||
		!strings.Contains(log, "set env --local -f - -c osmtrack OSMTRACK_FETCH_FROM_SEQ=6000001 OSMTRACK_FETCH_TO_SEQ=6000100") {
		t.Errorf("backfill: exit %d: %s\n%s", code, out, log)
	}
	// restore --force: an argument appended to the Job's args, never a variable.
	out, log, code = kube(t, build, "restore", "postgis", "osmtrack-postgis-x.dump", "--force")
	if code != 0 || !strings.Contains(log, "OSMTRACK_RESTORE_POSTGIS_FROM=/backup/postgis/osmtrack-postgis-x.dump") ||
		!strings.Contains(log, `"path":"/spec/template/spec/containers/0/args/-","value":"--force"`) || strings.Contains(log, "FORCE=") {
		t.Errorf("restore postgis --force: exit %d: %s\n%s", code, out, log)
	}
	if _, _, code := kube(t, build, "backfill", "yesterday"); code != 2 {
		t.Errorf("backfill yesterday: exit %d, want 2", code)
	}
	if _, _, code := kube(t, build, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}
