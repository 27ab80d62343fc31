#!/usr/bin/env bash
# The one-command demo: a day of a simulated region, through the whole pipeline, as a site.
#
#   scripts/demo.sh [--port N] [--no-serve]
#
# 1. installs what is missing and starts the local services (scripts/services.sh start);
# 2. builds bin/osmtrack and creates a fresh database osmtrack_demo (migrate);
# 3. generates a region day with the simulator (.local/demo/sim) and serves it on loopback;
# 4. writes .local/demo/config.yaml (the region, the simulator's URLs, label rules for every kind);
# 5. seeds the element store from the simulator's base world (osmtrack seed --set-pointer), then
#    runs fetch, fetch --changesets, filter, analyse and publish as the CronJobs do (the same
#    subcommands and arguments), each until it is caught up; publish runs as the read-only role;
#    then it checks that every reason code and every label shows up in the site (a WARNING line
#    names those that do not);
# 6. serves the site at http://127.0.0.1:8080 (--port N: on port N; --no-serve: stops after
#    publishing) and says what to look at first.
#
# Ports: the site on 8080 (--port N or OSMTRACK_DEMO_ADDR=host:port), the simulator on 18088
# (OSMTRACK_DEMO_SIM_ADDR); when the default is busy the next free port is taken (a port you set
# that is busy is an error). The services' ports: scripts/services.sh (README, "Ports").
# Environment: OSMTRACK_DEMO_MINUTES (default 1440).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SERVE=1
PORT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-serve) SERVE=0 ;;
    --port) [ $# -ge 2 ] || { echo "demo: --port needs a number (see --help)" >&2; exit 2; }; PORT=$2; shift ;;
    --port=*) PORT=${1#--port=} ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$PORT" ] && ! [[ "$PORT" =~ ^[0-9]+$ && "$PORT" -ge 1 && "$PORT" -le 65535 ]]; then
  echo "demo: --port $PORT is not a port number (1-65535)" >&2; exit 2
fi

# port_busy PORT: something listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# pick_addr WHAT ADDR EXPLICIT: ADDR when its port is free; else, unless EXPLICIT (the user
# chose it), the next free port on the same host after saying so.
pick_addr() {
  local what=$1 host=${2%:*} port=${2##*:} explicit=$3 p
  if ! port_busy "$port"; then echo "$host:$port"; return; fi
  if [ -n "$explicit" ]; then
    echo "demo: $what: port $port is in use by another program; $explicit to choose another" >&2; return 1
  fi
  for p in $(seq $((port + 1)) $((port + 100))); do
    if ! port_busy "$p"; then
      echo "demo: port $port is in use; the $what takes $p" >&2; echo "$host:$p"; return
    fi
  done
  echo "demo: $what: ports $port-$((port + 100)) are in use" >&2; return 1
}
if [ -n "$PORT" ]; then
  SITE_ADDR=$(pick_addr site "127.0.0.1:$PORT" "give --port another number")
elif [ -n "${OSMTRACK_DEMO_ADDR:-}" ]; then
  SITE_ADDR=$(pick_addr site "$OSMTRACK_DEMO_ADDR" "set OSMTRACK_DEMO_ADDR")
else
  SITE_ADDR=$(pick_addr site 127.0.0.1:8080 "")
fi
if [ "$SERVE" = 0 ]; then SITE_ADDR=${SITE_ADDR:-127.0.0.1:8080}; fi
if [ -n "${OSMTRACK_DEMO_SIM_ADDR:-}" ]; then
  SIM_ADDR=$(pick_addr simulator "$OSMTRACK_DEMO_SIM_ADDR" "set OSMTRACK_DEMO_SIM_ADDR")
else
  SIM_ADDR=$(pick_addr simulator 127.0.0.1:18088 "")
fi
MINUTES=${OSMTRACK_DEMO_MINUTES:-1440}
DEMO=.local/demo
OSM="$ROOT/bin/osmtrack"
T0=$(date +%s)
step() { printf '\n== %s  (%ss)\n' "$*" $(( $(date +%s) - T0 )) >&2; }

step "install and start services"
scripts/install.sh postgres influxd node
scripts/services.sh start
eval "$(scripts/services.sh env)"

step "build bin/osmtrack"
mkdir -p bin
go build -o "$OSM" ./jobs
HELP=$("$OSM" help)
for c in sim fetch filter analyse publish serve-site; do
  if ! grep -q "^  $c " <<<"$HELP"; then
    echo "demo: this build has no '$c' command yet ($OSM help)" >&2; exit 1
  fi
done

step "fresh database osmtrack_demo"
RW_URL=${OSMTRACK_DATABASE_URL/\/osmtrack\?/\/osmtrack_demo?}
RO_URL=${OSMTRACK_READONLY_DATABASE_URL/\/osmtrack\?/\/osmtrack_demo?}
PGOPTIONS='--client-min-messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$OSMTRACK_DATABASE_URL" \
  -c "DROP DATABASE IF EXISTS osmtrack_demo WITH (FORCE)" \
  -c "CREATE DATABASE osmtrack_demo TEMPLATE osmtrack_template" \
  -c "GRANT CONNECT ON DATABASE osmtrack_demo TO osmtrack_ro"
export OSMTRACK_DATABASE_URL="$RW_URL"

step "simulate a region day ($MINUTES minutes)"
rm -rf "$DEMO"
mkdir -p "$DEMO"
# The day ends now, so that the site (publish.days) and its "today" map show it.
START=$(date -u -d "-$((MINUTES + 1)) minutes" +%Y-%m-%dT%H:%M:00Z)
"$OSM" sim generate --profile region --minutes "$MINUTES" --seed 1 --start-time "$START" --out "$DEMO/sim"
"$OSM" sim serve --dir "$DEMO/sim" --addr "$SIM_ADDR" >"$DEMO/sim.log" 2>&1 &
SIM_PID=$!
SITE_PID=""
PROGRESS_PID=""
cleanup() {
  if [ -n "$PROGRESS_PID" ]; then kill "$PROGRESS_PID" 2>/dev/null || true; fi
  kill "$SIM_PID" 2>/dev/null || true
  if [ -n "$SITE_PID" ]; then kill "$SITE_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://$SIM_ADDR/replication/minute/state.txt" >/dev/null 2>&1 && break
  kill -0 "$SIM_PID" 2>/dev/null || { echo "demo: the simulator did not start:" >&2; cat "$DEMO/sim.log" >&2; exit 1; }
  sleep 0.1
done

step "configuration $DEMO/config.yaml"
cat >"$DEMO/config.yaml" <<YAML
# The demo's configuration (written by scripts/demo.sh). Keys: docs/config.md.
database:
  max_conns: 4
  read_only_role: osmtrack_ro
log:
  level: warn
  format: text
osm:
  replication_url: http://$SIM_ADDR/replication/minute/
  changeset_replication_url: http://$SIM_ADDR/replication/changesets/
  api_url: http://$SIM_ADDR/api/0.6/
  contact: demo@osmtrack.invalid
regions:
  simstadt:
    file: sim/region.poly
fetch:
  start: "$START"
  max_diffs: 1440
  max_duration: 4m
changesets:
  start: "$START"
  max_files: 1440
  max_duration: 4m
filter:
  metadata_wait: 1m
  batch_size: 500
  max_duration: 4m
analyse:
  batch_size: 50
  max_duration: 4m
  api_requests_per_second: 500
publish:
  title: osmtrack demo — Simstadt
  base_url: http://$SITE_ADDR/
  days: 7
  page_size: 50
rules:
  labels:
    - label: import
      description: the comment mentions an import
      comment: {regex: '(?i)\bimport'}
    - label: mass-delete
      description: deletes at least 100 elements
      count: {action: delete, min: 100}
    - label: josm
      description: edited with JOSM
      editor: '^JOSM/'
    - label: bot
      description: an automated edit (bot=yes)
      tag: bot
      equals: "yes"
    - label: review-requested
      description: the mapper asked for a review
      tag: review_requested
      equals: "yes"
    - label: hashtags
      description: the changeset has hashtags (organised mapping)
      hashtags: {exists: true}
    - label: discussed
      description: the changeset has discussion comments
      comments_count: {min: 1}
    - label: streetcomplete
      description: edited with StreetComplete
      editor: '^StreetComplete'
    - label: addresses
      description: addresses added or changed
      element: {key: '^addr:'}
    - label: shops
      description: a shop or amenity created
      element: {action: create, key: '^(shop|amenity)$'}
    - label: roads
      description: roads edited
      element: {key: '^highway$'}
    - label: buildings
      description: buildings edited
      element: {key: '^building$'}
    - label: relations
      description: relations edited
      element: {type: relation}
    - label: deletions
      description: something deleted
      count: {action: delete, min: 1}
    - label: vandalism-suspect
      description: the analysis found signs of vandalism
      reason: [suspect_word, dragged_node, major_road_deleted, multiple_blocks]
    - label: newcomer
      description: a new mapper
      reason: [new_mapper]
    - label: big-change
      description: an import, a mass modification or a mass deletion
      reason: [possible_import, mass_modification, mass_deletion]
    - label: no-editor
      description: uploaded by software that does not name itself (no created_by)
      reason: [no_editor]
    - label: editor-warnings
      description: iD reported validation warnings
      reason: [warning:almost_junction, warning:close_nodes, warning:crossing_ways, warning:disconnected_way,
        warning:impossible_oneway, warning:mismatched_geometry, warning:missing_role, warning:missing_tag,
        warning:outdated_tags, warning:private_data, warning:unsquare_way, warning:generic_name]
    - label: place
      description: the town itself changed
      reason: [place_changed]
    - label: odd-geometry
      description: a huge building or a very long name
      reason: [large_building, very_long_name]
YAML
"$OSM" config check --config "$DEMO/config.yaml"
CFG="$DEMO/config.yaml"

step "migrate"
"$OSM" migrate --config "$CFG"

# run STEP ARGS…: one CronJob run; a failed run is retried, as Kubernetes would.
run() {
  local tries=0
  until "$OSM" "$@" --config "$CFG"; do
    tries=$((tries + 1))
    [ $tries -lt 3 ] || { echo "demo: osmtrack $* failed 3 times" >&2; exit 1; }
    echo "demo: osmtrack $* failed; retrying" >&2
    sleep 1
  done
}
# count SQL: one number from the demo database.
count() { psql -X -qtA "$RW_URL" -c "$1"; }
HEAD_SEQ=$(curl -fsS "http://$SIM_ADDR/replication/minute/state.txt" | sed -n 's/^sequenceNumber=//p')
# A progress line every 20 s while the steps run: where fetch is and what the changesets wait for.
progress() {
  while sleep 20; do
    echo "demo:   … $(( $(date +%s) - T0 ))s: $(count "SELECT 'diffs ' || count(*) || ' of $MINUTES (up to seq ' || coalesce(max(seq), 0) || ' of $HEAD_SEQ), changesets ' ||
      coalesce((SELECT string_agg(state || ' ' || n, ', ' ORDER BY state) FROM (SELECT state, count(*) n FROM changesets GROUP BY state) s), 'none yet') FROM diffs" 2>/dev/null || echo '(database busy)')" >&2
  done
}
progress &
PROGRESS_PID=$!

step "seed the element store from the simulator's base world (an extract), pointers at its timestamp"
run seed --extract "$DEMO/sim/api/base.osm.gz" --set-pointer

step "fetch (minutely diffs up to $HEAD_SEQ)"
for _ in $(seq 1 20); do
  run fetch
  [ "$(count "SELECT coalesce(max(seq), 0) >= $HEAD_SEQ FROM diffs")" = t ] && break
done
step "fetch --changesets (metadata)"
for _ in $(seq 1 5); do
  run fetch --changesets
  behind=$(count "SELECT count(*) FROM changesets WHERE created_at IS NULL")
  [ "$behind" = 0 ] && break
done
step "filter, analyse (until nothing is waiting)"
# The simulator counts the API requests it answers (/sim/requests): analyse's are the difference.
sim_requests() { curl -fsS "http://$SIM_ADDR/sim/requests"; }
jnum() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"; }
REQ0=$(sim_requests)
for _ in $(seq 1 30); do
  run filter
  run analyse
  waiting=$(count "SELECT count(*) FROM changesets WHERE state IN ('new', 'filtered') OR (state = 'failed' AND attempts < 5)")
  echo "demo: $(count "SELECT string_agg(state || ' ' || n, ', ' ORDER BY state) FROM (SELECT state, count(*) n FROM changesets GROUP BY state) s")" >&2
  [ "$waiting" = 0 ] && break
  # failed ones wait for their backoff; new ones for their metadata
  if [ "$(count "SELECT count(*) FROM changesets WHERE state IN ('new', 'filtered')")" = 0 ]; then break; fi
done

REQ1=$(sim_requests)
step "publish (read-only role)"
P0=$(date +%s)
OSMTRACK_DATABASE_URL="$RO_URL" run publish --out "$DEMO/site" | tee "$DEMO/publish-1.txt"
P1=$(date +%s)
OSMTRACK_DATABASE_URL="$RO_URL" run publish --out "$DEMO/site" | tee "$DEMO/publish-2.txt"   # a second, incremental run
P2=$(date +%s)
kill "$PROGRESS_PID" 2>/dev/null || true
PROGRESS_PID=""
# The summary counts what the site shows: the changesets filter kept (as etl/site selects them),
# not those it dropped.
SHOWN="changesets c LEFT JOIN analyses a ON a.changeset_id = c.id
  WHERE c.state IN ('filtered', 'analysed', 'done', 'failed') OR (c.state = 'new' AND a.changeset_id IS NOT NULL)"
echo "demo: the site shows $(count "SELECT count(*) FROM $SHOWN") changesets ($(count "SELECT count(*) FROM changesets WHERE state = 'dropped'") dropped by the filter: outside the region or no label)" >&2
echo "demo: filter kept $(count "SELECT count(*) FROM changesets WHERE state IN ('filtered', 'analysed', 'done', 'failed')") changesets; analyse made $(( $(jnum elements "$REQ1") - $(jnum elements "$REQ0") )) element requests, $(( $(jnum downloads "$REQ1") - $(jnum downloads "$REQ0") )) changeset downloads and $(( $(jnum users "$REQ1") - $(jnum users "$REQ0") + $(jnum changesets "$REQ1") - $(jnum changesets "$REQ0") )) other API requests" >&2
echo "demo: labels $(count "SELECT string_agg(label || ' ' || n, ', ' ORDER BY label) FROM (SELECT l.label, count(*) n FROM changeset_labels l WHERE l.changeset_id IN (SELECT c.id FROM $SHOWN) GROUP BY l.label) l")" >&2
echo "demo: reasons $(count "SELECT string_agg(r || ' ' || n, ', ' ORDER BY r) FROM (SELECT unnest(a.reasons) r, count(*) n FROM $SHOWN GROUP BY 1) x")" >&2
echo "demo: publish took $((P1 - P0)) s, the second (incremental) run $((P2 - P1)) s: $(sed -n 's/.*, \([0-9]* files written ([^)]*)\).*/\1/p' "$DEMO/publish-2.txt" | tail -1)" >&2

# Every reason code the analysis can emit (the list in etl/analysis/sim_day_test.go, whose test
# proves the simulated day has them all) and every label configured above should show up as a
# badge somewhere in the site: say which do not.
REASONS="possible_import mass_modification mass_deletion no_editor suspect_word review_requested
  warning:almost_junction warning:close_nodes warning:crossing_ways warning:disconnected_way
  warning:impossible_oneway warning:mismatched_geometry warning:missing_role warning:missing_tag
  warning:outdated_tags warning:private_data warning:unsquare_way warning:generic_name
  new_mapper multiple_blocks large_building dragged_node very_long_name major_road_deleted place_changed"
LABELS=$(sed -n 's/^    - label: *//p' "$CFG")
SITE_NOW="$DEMO/site/current/"
badges() { grep -rhoE "class=\"badge $1\"[^>]*>(<bdi>)?[^<]+<" "$SITE_NOW" --include='*.html' | sed -E 's/.*>([^<]+)<$/\1/' | sort -u || true; }
# reason badges show a readable name and carry the code in their title
shown=$(grep -rhoE 'class="badge reason" title="reason code [^"]+"' "$SITE_NOW" --include='*.html' | sed -E 's/.*reason code ([^"]+)"$/\1/' | sort -u || true)
missing=""
for r in $REASONS; do grep -qxF -- "$r" <<<"$shown" || missing="$missing $r"; done
if [ -n "$missing" ]; then
  echo "demo: WARNING: reason codes missing from the site:$missing" >&2
else
  echo "demo: the site shows all $(wc -w <<<"$REASONS") reason codes" >&2
fi
shown=$(badges label)
missing=""
for l in $LABELS; do grep -qxF -- "$l" <<<"$shown" || missing="$missing $l"; done
if [ -n "$missing" ]; then
  echo "demo: WARNING: labels missing from the site:$missing" >&2
else
  echo "demo: the site shows all $(wc -w <<<"$LABELS") labels" >&2
fi
step "done: the site is $DEMO/site/current"

# Three things to look at first: the review queue, the changeset with the most reasons, the status page.
FLAGGED=$(count "SELECT a.changeset_id FROM analyses a JOIN changesets c ON c.id = a.changeset_id
  WHERE c.state = 'done' AND cardinality(a.reasons) > 0 ORDER BY cardinality(a.reasons) DESC, a.changeset_id LIMIT 1")
QUEUE=review.html
[ -f "$SITE_NOW/$QUEUE" ] || QUEUE=index.html
look_at() {
  local base=$1
  echo "  1. the review queue:      $base/$QUEUE"
  if [ -n "$FLAGGED" ]; then
    echo "  2. a flagged changeset:   $base/changesets/$FLAGGED.html ($(count "SELECT array_to_string(reasons[1:3], ', ') ||
      CASE WHEN cardinality(reasons) > 3 THEN ' and ' || (cardinality(reasons) - 3) || ' more reasons' ELSE '' END FROM analyses WHERE changeset_id = $FLAGGED"))"
  fi
  echo "  3. the status page:       $base/status.html"
}
if [ "$SERVE" = 0 ]; then
  echo "osmtrack demo: the site is in $ROOT/$SITE_NOW (not served: --no-serve). Look first at:"
  look_at "$ROOT/${SITE_NOW%/}"
  exit 0
fi
"$OSM" serve-site --dir "$DEMO/site" --addr "$SITE_ADDR" &
SITE_PID=$!
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://$SITE_ADDR/" 2>/dev/null && break; sleep 0.1; done
echo
echo "osmtrack demo: the site is at http://$SITE_ADDR/ (files in ${SITE_NOW%/}). Look first at:"
look_at "http://$SITE_ADDR"
echo "Ctrl-C stops the site and the simulator (the demo took $(( $(date +%s) - T0 )) s); the services keep running: scripts/services.sh stop stops them."
wait "$SITE_PID"
