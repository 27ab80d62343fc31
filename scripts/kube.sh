#!/usr/bin/env bash
# osmtrack on Kubernetes, wrapping kubectl (docs/deploy.md, docs/operations.md).
#   scripts/kube.sh up [OVERLAY] [--suspended]   build, apply (CronJobs suspended), migrate, resume
#   scripts/kube.sh seed --extract URL [--set-pointer]   load an OSM extract into the element store
#   scripts/kube.sh upgrade --image REF [OVERLAY]   suspend, wait, apply with REF, migrate, resume, roll nginx
#   scripts/kube.sh down [OVERLAY]          suspend every CronJob, then delete what up applied (volumes kept)
#   scripts/kube.sh restart                 restart nginx and InfluxDB (after a config change)
#   scripts/kube.sh status                  the suite's CronJobs, Jobs, pods, volumes; then a smoke check
#   scripts/kube.sh backfill --from-seq N [--to-seq M] | --from-time T [--to-time T]  [--pointer NAME]
#   scripts/kube.sh logs STEP               logs of STEP's newest Job (fetch, filter, analyse, …)
#   scripts/kube.sh run TEMPLATE            a one-off Job from a template (migrate, smoke, …); waits
#   scripts/kube.sh restore postgis|influxdb [BACKUP] [--force]   suspends, waits for running Jobs
#   scripts/kube.sh suspend|resume          stop or restart every scheduled CronJob
# OVERLAY is ".", "minimal", "single-node", "production" or the directory of your own overlay
# (default "."). NAMESPACE (default osmtrack), KUBECTL (default kubectl) and TIMEOUT (of the
# verbs that wait) come from the environment.
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(…) stops the script too
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=${NAMESPACE:-osmtrack}
KUBECTL=${KUBECTL:-kubectl}
POLL=${KUBE_POLL_SECONDS:-10}
PART_OF=app.kubernetes.io/part-of=osmtrack
NEVER="0 0 31 2 *" # the schedule of the suspended templates
k() { "$KUBECTL" -n "$NS" "$@"; }

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "kube.sh: $*" >&2; exit 2; }

overlay_dir() {
  case "${1:-.}" in
    .|root) echo "$ROOT" ;;
    minimal|single-node|production) echo "$ROOT/overlays/$1" ;;
    *) [ -f "$1/kustomization.yaml" ] && (cd "$1" && pwd) || die "unknown overlay $1 (no $1/kustomization.yaml)" ;;
  esac
}

# placeholders: stdin is a build; fail when a Secret still holds change-me or an image still has
# the production overlay's zero digest. The Secrets of the build are checked, not the files in
# secrets/, so a private overlay that replaces them is accepted.
placeholders() {
  python3 -c '
import base64, sys
bad = []
for doc in sys.stdin.read().split("\n---\n"):
    lines = doc.splitlines()
    if "kind: Secret" in lines:
        name = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("  name:")), "?")
        section = None
        for l in lines:
            if not l.startswith(" "):
                section = l.rstrip(":")
                continue
            if section in ("data", "stringData") and l.startswith("  ") and not l.startswith("   ") and ":" in l:
                key, val = [s.strip() for s in l.split(":", 1)]
                if section == "data":
                    try:
                        val = base64.b64decode(val).decode("utf-8", "replace")
                    except Exception:
                        continue
                if "change-me" in val:
                    bad.append("Secret %s key %s holds change-me" % (name, key))
    for l in lines:
        if "@sha256:" + "0" * 64 in l:
            bad.append("image %s has the placeholder digest" % l.split("image:", 1)[-1].strip())
if bad:
    print("\n".join(sorted(set(bad))), file=sys.stderr)
    sys.exit(1)'
}

# suspended: a build (stdin) with every CronJob suspended.
suspended() {
  python3 -c '
import sys
docs = sys.stdin.read().split("\n---\n")
out = []
for d in docs:
    if "\nkind: CronJob\n" in "\n" + d + "\n" and "\n  suspend: true\n" not in d:
        d = d.replace("\nspec:\n", "\nspec:\n  suspend: true\n", 1)
    out.append(d)
print("\n---\n".join(out))'
}

# with_image REF: a build (stdin) whose osmtrack containers run REF.
with_image() {
  python3 -c '
import re, sys
ref = sys.argv[1]
print(re.sub(r"(?m)^(\s*-?\s*image: )\S*osmtrack/osmtrack\S*$", lambda m: m.group(1) + ref, sys.stdin.read()), end="")' "$1"
}

# build OVERLAY: kubectl kustomize, refusing placeholders outside the minimal overlay.
build() {
  local dir out
  dir=$(overlay_dir "${1:-.}")
  out=$("$KUBECTL" kustomize "$dir")
  if [ "${1:-.}" != minimal ] && ! placeholders <<<"$out"; then
    die "the build of ${1:-.} still holds placeholders (above); edit secrets/*.env or your overlay first (docs/deploy.md)"
  fi
  printf '%s\n' "$out"
}

# job_from TEMPLATE [replace|append ARG…]: create a Job from a CronJob, its osmtrack
# container's args replaced by (or extended with) ARG…, and print its name.
job_from() {
  local tpl=$1; shift
  local name="${tpl#osmtrack-}-$(date -u +%Y%m%d%H%M%S)"
  name=${name:0:63}
  if [ $# -eq 0 ]; then
    k create job "$name" --from="cronjob/$tpl" >/dev/null
  else
    k create job "$name" --from="cronjob/$tpl" --dry-run=client -o json \
      | "$KUBECTL" patch --local -f - --type=json -o json -p "$(args_patch "$@")" \
      | k create -f - >/dev/null
  fi
  echo "$name"
}

# args_patch replace|append ARG…: the JSON patch that sets or extends the first container's args.
args_patch() {
  python3 -c '
import json, sys
path = "/spec/template/spec/containers/0/args"
if sys.argv[1] == "replace":
    print(json.dumps([{"op": "replace", "path": path, "value": sys.argv[2:]}]))
else:
    print(json.dumps([{"op": "add", "path": path + "/-", "value": a} for a in sys.argv[2:]]))' "$@"
}

wait_job() { # wait_job NAME TIMEOUT: wait for success, show logs on failure
  local name=$1 timeout=${2:-600s}
  if ! k wait --for=condition=complete "job/$name" --timeout="$timeout"; then
    k logs "job/$name" -c osmtrack --tail=50 >&2 || true
    echo "kube.sh: job $name did not complete" >&2
    return 1
  fi
}

cronjobs() { k get cronjobs -l "$PART_OF" -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.spec.schedule}{"\n"}{end}'; }

set_suspend() { # set_suspend true|false: every scheduled CronJob (templates stay suspended)
  cronjobs | while IFS=$'\t' read -r name sched; do
    [ -z "$name" ] || [ "$sched" = "$NEVER" ] && continue
    k patch cronjob "$name" -p "{\"spec\":{\"suspend\":$1}}" >/dev/null
    echo "$name suspend=$1"
  done
}

# wait_idle: wait until no Job of the suite is running (after suspending the CronJobs).
wait_idle() {
  local deadline=$((SECONDS + ${IDLE_TIMEOUT:-3600})) active
  while :; do
    active=$(k get jobs -l "$PART_OF" -o jsonpath='{range .items[?(@.status.active)]}{.metadata.name}{" "}{end}')
    [ -z "${active// /}" ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      echo "kube.sh: Jobs still running after ${IDLE_TIMEOUT:-3600}s: $active" >&2
      return 1
    fi
    echo "waiting for running Jobs to finish: $active" >&2
    sleep "$POLL"
  done
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case "$cmd" in
  up)
    ov=. keep=""
    for a in "$@"; do
      case "$a" in --suspended) keep=1 ;; -*) die "up: unknown flag $a" ;; *) ov=$a ;; esac
    done
    out=$(build "$ov")
    # Everything is applied with the CronJobs suspended, so that no step runs against an old
    # schema; migrate runs; then the scheduled CronJobs are resumed.
    suspended <<<"$out" | "$KUBECTL" apply -f -
    job=$(job_from osmtrack-migrate)
    echo "migrate: job $job"
    wait_job "$job" 900s
    if [ -n "$keep" ]; then
      echo "up: the CronJobs stay suspended (seed, then scripts/kube.sh resume)" >&2
    else
      set_suspend false
    fi
    ;;
  seed)
    url="" setp=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --extract) [ $# -ge 2 ] || die "seed: --extract needs a URL"; url=$2; shift 2 ;;
        --extract=*) url=${1#*=}; shift ;;
        --set-pointer) setp=--set-pointer; shift ;;
        *) die "seed: unknown argument $1 (seed --extract URL [--set-pointer])" ;;
      esac
    done
    [[ "$url" =~ ^https?:// ]] || die "seed: --extract URL (http or https) is required, e.g. https://download.geofabrik.de/europe/monaco-latest.osm.pbf"
    args=(--extract "$url"); [ -n "$setp" ] && args+=("$setp")
    job=$(job_from osmtrack-seed append "${args[@]}")
    echo "seed ${url}${setp:+ (--set-pointer)}: job $job"
    wait_job "$job" "${TIMEOUT:-21600s}"
    ;;
  upgrade)
    ref="" ov=.
    while [ $# -gt 0 ]; do
      case "$1" in
        --image) [ $# -ge 2 ] || die "upgrade: --image needs a reference"; ref=$2; shift 2 ;;
        --image=*) ref=${1#*=}; shift ;;
        -*) die "upgrade: unknown flag $1" ;;
        *) ov=$1; shift ;;
      esac
    done
    [ -n "$ref" ] || die "upgrade: --image REF is required (ghcr.io/osmtrack/osmtrack@sha256:… or :TAG)"
    [[ "$ref" =~ ^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$ ]] || die "upgrade: $ref is not an image reference with a tag or digest"
    out=$(build "$ov" | with_image "$ref")
    echo "upgrade to $ref: suspending the CronJobs" >&2
    set_suspend true >/dev/null
    wait_idle
    # The new CronJobs (still suspended) and templates; the migrate Job of the new image runs
    # before any step of it does.
    suspended <<<"$out" | "$KUBECTL" apply -f -
    job=$(job_from osmtrack-migrate)
    echo "migrate: job $job"
    if ! wait_job "$job" 900s; then
      echo "kube.sh: migrate failed; the CronJobs stay suspended. Fix it, or roll back with upgrade --image OLD" >&2
      exit 1
    fi
    set_suspend false
    k rollout restart deployment/osmtrack-site
    k rollout status deployment/osmtrack-site --timeout=300s
    echo "upgrade to $ref: done; record $ref in your overlay's images so that the next up keeps it" >&2
    ;;
  down)
    out=$("$KUBECTL" kustomize "$(overlay_dir "${1:-.}")")
    set_suspend true || true
    # PersistentVolumeClaims (site, backups, InfluxDB data) are kept; delete them by hand.
    python3 -c '
import sys
docs = sys.stdin.read().split("\n---\n")
print("\n---\n".join(d for d in docs if "kind: PersistentVolumeClaim" not in d and "kind: Namespace" not in d))' <<<"$out" \
      | "$KUBECTL" delete --ignore-not-found -f -
    ;;
  restart)
    k rollout restart deployment/osmtrack-site statefulset/influxdb
    k rollout status deployment/osmtrack-site --timeout=300s
    k rollout status statefulset/influxdb --timeout=600s
    ;;
  status)
    k get cronjobs -l "$PART_OF"
    echo
    k get jobs -l "$PART_OF" --sort-by=.metadata.creationTimestamp | tail -n 15
    echo
    k get pods,pvc -l "$PART_OF"
    echo
    job=$(job_from osmtrack-smoke)
    if wait_job "$job" 300s; then k logs "job/$job" -c osmtrack; fi
    ;;
  backfill)
    fseq="" tseq="" ftime="" ttime="" ptr=""
    # The old form: backfill FROM [TO] (sequence numbers).
    if [ $# -ge 1 ] && [[ "$1" != -* ]]; then fseq=$1; tseq=${2:-}; shift $(($# < 2 ? $# : 2)); fi
    while [ $# -gt 0 ]; do
      [ $# -ge 2 ] || die "backfill: $1 needs a value"
      case "$1" in
        --from-seq) fseq=$2 ;; --to-seq) tseq=$2 ;;
        --from-time) ftime=$2 ;; --to-time) ttime=$2 ;;
        --pointer) ptr=$2 ;;
        *) die "backfill: unknown flag $1" ;;
      esac
      shift 2
    done
    if [ -n "$fseq" ]; then
      [ -z "$ftime$ttime" ] || die "backfill: give --from-seq/--to-seq or --from-time/--to-time, not both"
      [[ "$fseq" =~ ^[0-9]+$ ]] && [[ -z "$tseq" || "$tseq" =~ ^[0-9]+$ ]] || die "backfill: --from-seq and --to-seq are sequence numbers"
      args=(fetch --from-seq "$fseq"); [ -n "$tseq" ] && args+=(--to-seq "$tseq")
      what="sequences $fseq..${tseq:-head}"
    elif [ -n "$ftime" ]; then
      [ -z "$tseq" ] || die "backfill: --to-seq needs --from-seq"
      args=(fetch --from-time "$ftime"); [ -n "$ttime" ] && args+=(--to-time "$ttime")
      what="$ftime..${ttime:-now}"
    else
      die "backfill: --from-seq N [--to-seq M] or --from-time T [--to-time T] (RFC 3339 or \"N hours ago\")"
    fi
    [ -n "$ptr" ] && args+=(--pointer "$ptr")
    job=$(job_from osmtrack-backfill replace "${args[@]}")
    echo "backfill $what: job $job (scripts/kube.sh logs $job)"
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
    args=(restore "$what")
    for a in "$@"; do
      case "$a" in
        --force) args+=(--force) ;;
        -*) die "restore: unknown flag $a" ;;
        *) args+=(--from "/backup/$what/${a#/backup/$what/}") ;;
      esac
    done
    echo "restore $what: suspending the CronJobs" >&2
    set_suspend true >/dev/null
    wait_idle
    job=$(job_from "osmtrack-restore-$what" replace "${args[@]}")
    echo "restore $what: job $job"
    wait_job "$job" "${TIMEOUT:-14400s}"
    echo "restore $what: done; resume the CronJobs with scripts/kube.sh resume" >&2
    ;;
  suspend) set_suspend true ;;
  resume) set_suspend false ;;
  ""|-h|--help|help) usage ;;
  *) echo "kube.sh: unknown command $cmd" >&2; usage ;;
esac
