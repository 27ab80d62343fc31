#!/usr/bin/env bash
# osmtrack on Kubernetes, wrapping kubectl (docs/deploy.md).
#   scripts/kube.sh up [OVERLAY]           build and apply (root, minimal or production), migrate first
#   scripts/kube.sh down [OVERLAY]         suspend every CronJob, then delete what up applied (volumes kept)
#   scripts/kube.sh restart                restart nginx and InfluxDB (after a config change)
#   scripts/kube.sh status                 CronJobs, recent Jobs, pods, volumes; then osmtrack status
#   scripts/kube.sh backfill FROM [TO]     fetch sequences FROM..TO into their own pointer
#   scripts/kube.sh logs STEP              logs of STEP's newest Job (fetch, filter, analyse, …)
#   scripts/kube.sh run TEMPLATE           a one-off Job from a template: migrate, smoke, …
#   scripts/kube.sh restore postgis|influxdb [BACKUP] [--force]
#   scripts/kube.sh suspend|resume         stop or restart every scheduled CronJob
# OVERLAY is ".", "minimal" or "production" (default "."); NAMESPACE (default osmtrack) and
# KUBECTL (default kubectl) come from the environment.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=${NAMESPACE:-osmtrack}
KUBECTL=${KUBECTL:-kubectl}
k() { "$KUBECTL" -n "$NS" "$@"; }

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

overlay_dir() {
  case "${1:-.}" in
    .|root) echo "$ROOT" ;;
    minimal|production) echo "$ROOT/overlays/$1" ;;
    *) [ -f "$1/kustomization.yaml" ] && echo "$1" || { echo "kube.sh: unknown overlay $1" >&2; exit 2; } ;;
  esac
}

# job_from TEMPLATE [NAME=VALUE…] [--FLAG…]: create a Job from a suspended CronJob template,
# with extra environment on the osmtrack container (NAME=VALUE) and extra arguments appended
# to its args (--FLAG: restore's --force, which the environment never sets), and print its name.
job_from() {
  local tpl=$1; shift
  local name="${tpl#osmtrack-}-$(date -u +%Y%m%d%H%M%S)"
  name=${name:0:63}
  local env=() extra=() a doc
  for a in "$@"; do
    case "$a" in
      --*) extra+=("$a") ;;
      *) env+=("$a") ;;
    esac
  done
  if [ $# -eq 0 ]; then
    k create job "$name" --from="cronjob/$tpl" >/dev/null
    echo "$name"
    return
  fi
  doc=$(k create job "$name" --from="cronjob/$tpl" --dry-run=client -o yaml)
  if [ ${#env[@]} -gt 0 ]; then
    doc=$(printf '%s\n' "$doc" | "$KUBECTL" set env --local -f - -c osmtrack "${env[@]}" -o yaml)
  fi
  for a in "${extra[@]}"; do
    doc=$(printf '%s\n' "$doc" | "$KUBECTL" patch --local -f - --type=json -o yaml \
      -p "[{\"op\":\"add\",\"path\":\"/spec/template/spec/containers/0/args/-\",\"value\":\"$a\"}]")
  done
  printf '%s\n' "$doc" | k apply -f - >/dev/null
  echo "$name"
}

wait_job() { # wait_job NAME TIMEOUT: wait for success, show logs on failure
  local name=$1 timeout=${2:-600s}
  if ! k wait --for=condition=complete "job/$name" --timeout="$timeout"; then
    k logs "job/$name" -c osmtrack --tail=50 >&2 || true
    echo "kube.sh: job $name did not complete" >&2
    return 1
  fi
}

cronjobs() { k get cronjobs -l app.kubernetes.io/part-of=osmtrack -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.schedule}{"\n"}{end}'; }

set_suspend() { # set_suspend true|false: every scheduled CronJob (templates stay suspended)
  cronjobs | while read -r name sched; do
    [ "$sched" = "0 0 31 2 *" ] && continue
    k patch cronjob "$name" -p "{\"spec\":{\"suspend\":$1}}" >/dev/null
    echo "$name suspend=$1"
  done
}

# suspended: a kustomize build (stdin) with every CronJob suspended.
suspended() {
  python3 -c '
import sys
docs = sys.stdin.read().split("\n---\n")
out = []
for d in docs:
    if "\nkind: CronJob\n" in "\n" + d and "\n  suspend: true\n" not in d:
        d = d.replace("\nspec:\n", "\nspec:\n  suspend: true\n", 1)
    out.append(d)
print("\n---\n".join(out))'
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case "$cmd" in
  up)
    dir=$(overlay_dir "${1:-.}")
    if [ "${1:-.}" != minimal ] && grep -q 'change-me' "$ROOT"/secrets/*.env; then
      echo "kube.sh: secrets/*.env still hold the change-me placeholders; edit them first (docs/deploy.md)" >&2
      exit 2
    fi
    # Everything is applied with the CronJobs suspended, so that no step runs against an old
    # schema; migrate runs; then the scheduled CronJobs are resumed.
    "$KUBECTL" kustomize "$dir" | suspended | "$KUBECTL" apply -f -
    job=$(job_from osmtrack-migrate)
    echo "migrate: job $job"
    wait_job "$job" 900s
    set_suspend false
    ;;
  down)
    dir=$(overlay_dir "${1:-.}")
    set_suspend true || true
    # PersistentVolumeClaims (site, backups, InfluxDB data) are kept; delete them by hand.
    "$KUBECTL" kustomize "$dir" | python3 -c '
import sys
docs = sys.stdin.read().split("\n---\n")
print("\n---\n".join(d for d in docs if "kind: PersistentVolumeClaim" not in d and "kind: Namespace" not in d))' \
      | "$KUBECTL" delete --ignore-not-found -f -
    ;;
  restart)
    k rollout restart deployment/osmtrack-site statefulset/influxdb
    k rollout status deployment/osmtrack-site --timeout=300s
    k rollout status statefulset/influxdb --timeout=600s
    ;;
  status)
    k get cronjobs -l app.kubernetes.io/part-of=osmtrack
    echo
    k get jobs -l app.kubernetes.io/part-of=osmtrack --sort-by=.metadata.creationTimestamp | tail -n 15
    echo
    k get pods,pvc -l app.kubernetes.io/part-of=osmtrack
    echo
    job=$(job_from osmtrack-smoke)
    if wait_job "$job" 300s; then k logs "job/$job" -c osmtrack; fi
    ;;
  backfill)
    [ $# -ge 1 ] || usage
    from=$1; to=${2:-}
    [[ "$from" =~ ^[0-9]+$ ]] && [[ -z "$to" || "$to" =~ ^[0-9]+$ ]] || { echo "kube.sh: backfill FROM [TO]: sequence numbers" >&2; exit 2; }
    job=$(job_from osmtrack-backfill "OSMTRACK_FETCH_FROM_SEQ=$from" "OSMTRACK_FETCH_TO_SEQ=$to")
    echo "backfill $from..${to:-head}: job $job (scripts/kube.sh logs $job)"
    ;;
  logs)
    [ $# -ge 1 ] || usage
    step=$1
    job=$(k get jobs -o name --sort-by=.metadata.creationTimestamp | grep -E "/(osmtrack-)?${step#osmtrack-}(-|$)" | tail -n 1 || true)
    [ -n "$job" ] || { echo "kube.sh: no Job of $step" >&2; exit 1; }
    k logs "$job" -c osmtrack --all-containers=false --tail="${TAIL:-200}"
    ;;
  run)
    [ $# -ge 1 ] || usage
    job=$(job_from "osmtrack-${1#osmtrack-}")
    echo "job $job"
    wait_job "$job" "${TIMEOUT:-1800s}"
    ;;
  restore)
    [ $# -ge 1 ] || usage
    what=$1; shift
    [ "$what" = postgis ] || [ "$what" = influxdb ] || usage
    env=()
    for a in "$@"; do
      case "$a" in
        --force) env+=(--force) ;; # an argument: the environment never sets restore's --force
        *) env+=("OSMTRACK_RESTORE_${what^^}_FROM=/backup/$what/${a#/backup/$what/}") ;;
      esac
    done
    echo "restore $what: suspending the CronJobs" >&2
    set_suspend true >/dev/null
    job=$(job_from "osmtrack-restore-$what" "${env[@]}")
    echo "restore $what: job $job"
    wait_job "$job" "${TIMEOUT:-14400s}"
    echo "restore $what: done; resume the CronJobs with scripts/kube.sh resume" >&2
    ;;
  suspend) set_suspend true ;;
  resume) set_suspend false ;;
  ""|-h|--help|help) usage ;;
  *) echo "kube.sh: unknown command $cmd" >&2; usage ;;
esac
