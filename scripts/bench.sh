#!/usr/bin/env bash
# Benchmarks with side-by-side references, one table:
#   benchmark | median | reference | ratio | target | result
#
#   scripts/bench.sh [--full-day | --minutes N] [--city] [--count N] [--bench REGEX] [--pkg PATTERN] [--keep]
#
#   --full-day     also the whole-process rows that take minutes: generating a region day and a
#                  planet day, and backfilling a planet day (1,440 diffs) with `osmtrack fetch`
#                  against `osmtrack sim serve` (wall time and peak RSS), each beside osmium-tool
#                  reading the same 1,440 files. Implies --minutes 1440.
#   --city         also the seed rows on a city-size extract (5.0 million nodes, 1.27 million ways,
#                  generated from synthetic OPL by scripts/bench-city.awk and osmium cat into the
#                  scratch dir): `osmtrack seed` of a quarter of it and of all of it (wall time and
#                  peak RSS) beside `osm2pgsql --slim --create -C 1000` loading it into a throwaway
#                  database, and `osmium extract -s complete_ways` of the quarter. Minutes per run.
#   --minutes N    planet-profile minutes to generate for the per-diff rows (default 5)
#   --count N      runs of everything, medians taken (default 5; 3 is enough for --full-day)
#   --bench REGEX  only the Go benchmarks matching REGEX (as go test -bench); '^$' for none
#   --pkg PATTERN  packages to look for benchmarks in (default ./etl/...)
#   --keep         keep the scratch directory (raw `go test` output in go-bench.txt)
#
# 1. Starts the local services (scripts/services.sh start) and takes their environment.
# 2. Generates planet-profile data with `osmtrack sim generate --seed 1` into a scratch dir.
# 3. Runs the Go benchmarks one package at a time (never two benchmark binaries at once), with
#    `-count N -benchmem`; the slow ones of SLOW run with -benchtime 1x (one op per count) and at
#    most 3 counts.
# 4. Runs every command of ROWS N times in the same run (references and whole-process rows).
# 5. Prints one table with medians, ratio = ours / reference (lower is better; < 1 beats the
#    reference), the target from the issues, pass or miss, the load average before and after.
#
# Go benchmarks and commands see these variables:
#   OSMTRACK_BENCH_PLANET   generated planet-profile directory (the Datasource/API tree)
#   OSMTRACK_BENCH_SIM_DIR  the same (read by BenchmarkFetchPlanetDiff)
#   FETCH_BENCH_FILES       the five minutes BenchmarkFetchPlanetDiff applies (.osc.gz, space separated)
#   PLANET_OSC_GZ           one generated planet minute (.osc.gz, median size)
#   PLANET_OSC              the same minute uncompressed
#   REAL_OSC                testdata/osm/minutely/241.osc (a real minutely diff)
#   OSMTRACK                the osmtrack binary built for this run
#   CITY_PBF, CITY_QUARTER  --city: the city extract and the .poly of its south-west quarter
#   BENCH_TMP               scratch directory
#   and the services' environment (OSMTRACK_DATABASE_URL, OSMTRACK_TEST_PG_URL, ...).
# docs/benchmarks.md explains every row.
set -euo pipefail

# ---- ROWS: add yours here ---------------------------------------------------------------------
# "label | ours | reference | target | options"
#   ours:      bench:GoBenchmarkName (without the -GOMAXPROCS suffix); or a shell command timed as
#              a whole process (wall time, N runs, median); or rss:COMMAND, the peak RSS of the
#              command (GNU time %M; a row with the same command and setup shares its runs)
#   reference: a command measured the same way (rss: for an RSS row), or "-" for none
#   target:    space-separated limits, all must hold: <=250ms, <6min, <=2x (ratio), <=200MiB
#   options:   day (only with --full-day), city (only with --city), per=N (the reference run covers N of our ops: divide
#              it by N), setup=FUNC (a function of this script run untimed before each run of ours)
# Go benchmarks without a row are still listed (no reference, no target).
OSMIUM_241='osmium cat "$REAL_OSC" -f opl -o /dev/null --overwrite'
OSMIUM_5='osmium_each $FETCH_BENCH_FILES'
FETCH_DAY='OSMTRACK_DATABASE_URL=$BENCH_DB_URL OSMTRACK_INFLUX_URL= "$OSMTRACK" fetch --config "$BENCH_TMP/fetch-day.yaml" --from-seq $DAY_FIRST --to-seq $DAY_LAST'
OSMIUM_DAY='osmium cat "$OSMTRACK_BENCH_PLANET"/replication/minute/*/*/*.osc.gz -f opl -o /dev/null --overwrite'
SEED_MONACO='OSMTRACK_DATABASE_URL=$BENCH_DB_URL OSMTRACK_INFLUX_URL= "$OSMTRACK" seed --config "$BENCH_TMP/seed-all.yaml" --extract "$MONACO_PBF"'
SEED_Q='OSMTRACK_DATABASE_URL=$BENCH_DB_URL OSMTRACK_INFLUX_URL= "$OSMTRACK" seed --config "$BENCH_TMP/seed-quarter.yaml" --extract "$CITY_PBF"'
SEED_ALL='OSMTRACK_DATABASE_URL=$BENCH_DB_URL OSMTRACK_INFLUX_URL= "$OSMTRACK" seed --config "$BENCH_TMP/seed-all.yaml" --extract "$CITY_PBF"'
OSM2PGSQL='osm2pgsql_fresh "$CITY_PBF"'
OSMIUM_Q='osmium extract -s complete_ways -p "$CITY_QUARTER" "$CITY_PBF" -o "$BENCH_TMP/quarter.osm.pbf" --overwrite'
ROWS=(
  "decode real 241.osc, fast path              | bench:BenchmarkDecode241/fast         | $OSMIUM_241 | - |"
  "decode real 241.osc, encoding/xml           | bench:BenchmarkDecode241/encoding-xml | $OSMIUM_241 | - |"
  "fetch one planet diff, city region          | bench:BenchmarkFetchPlanetDiff/city   | $OSMIUM_5 | <=250ms <=2x | per=5"
  "fetch one planet diff, no region (all kept) | bench:BenchmarkFetchPlanetDiff/planet | $OSMIUM_5 | - | per=5"
  "label 1,000 changesets, 20 rules            | bench:BenchmarkLabel1000              | - | <=100ms |"
  "point in 1,000-vertex polygon               | bench:BenchmarkContains/1000vertices  | - | - |"
  "point in 50,000-vertex polygon              | bench:BenchmarkContains/50000vertices | - | - |"
  "point in brandenburg.poly                   | bench:BenchmarkContainsBrandenburg    | - | - |"
  "analyse 5,000-element changeset, PostGIS    | bench:BenchmarkAnalyse5000            | - | <=500ms |"
  "analyse 5,000-element changeset, in memory  | bench:BenchmarkAnalyse5000Memory      | - | - |"
  "publish full rebuild, 10,000 changesets     | bench:BenchmarkPublishFull10000       | - | <=10s |"
  "publish incremental, 50 changed             | bench:BenchmarkPublishIncremental50   | - | <=1s |"
  "render one changeset entry + page           | bench:BenchmarkRenderChangeset        | - | - |"
  "publish at scale (OSMTRACK_BENCH_CHANGESETS) | bench:BenchmarkPublishScale          | - | - |"
  "review queue filter, 150,000 in Chromium    | bench:BenchmarkReviewFilter           | - | - |"
  "generate one planet minute                  | bench:BenchmarkGeneratePlanetMinute   | osmium cat \"\$PLANET_OSC_GZ\" -o \"\$BENCH_TMP/copy.osc.gz\" --overwrite | - |"
  "status over 90 days of diffs                | bench:BenchmarkStatus                 | - | - |"
  "prune 100,000 element versions              | bench:BenchmarkPruneElements          | - | - |"
  "ways of a node among 200,000 ways           | bench:BenchmarkWaysWithNodes          | - | - |"
  "backup PostGIS (pg_dump + manifest)         | bench:BenchmarkBackupPostGIS          | - | - |"
  "osmium: read one planet minute              | osmium cat \"\$PLANET_OSC_GZ\" -f opl -o /dev/null --overwrite | - | - |"
  "generate a region day (1,440 minutes)       | \"\$OSMTRACK\" sim generate --profile region --minutes 1440 --seed 1 --out \"\$BENCH_TMP/gen\" | - | <1min | day setup=rm_gen"
  "generate a planet day (1,440 minutes)       | \"\$OSMTRACK\" sim generate --profile planet --minutes 1440 --seed 1 --out \"\$BENCH_TMP/gen\" | - | <5min | day setup=rm_gen"
  "backfill a planet day, city: wall time      | $FETCH_DAY | $OSMIUM_DAY | <6min | day setup=fresh_db"
  "backfill a planet day, city: peak RSS       | rss:$FETCH_DAY | rss:$OSMIUM_DAY | <=200MiB | day setup=fresh_db"
  "seed Monaco (270 KB .osm.pbf, all of it)    | $SEED_MONACO | - | <2s | setup=fresh_db"
  "seed city extract, quarter region: wall     | $SEED_Q | $OSM2PGSQL | <=0.5x | city setup=fresh_db"
  "seed city extract, quarter region: peak RSS | rss:$SEED_Q | rss:$OSM2PGSQL | <=512MiB | city setup=fresh_db"
  "seed city extract, whole file: wall         | $SEED_ALL | $OSM2PGSQL | <=1x | city setup=fresh_db"
  "seed city extract, whole file: peak RSS     | rss:$SEED_ALL | rss:$OSM2PGSQL | <=512MiB | city setup=fresh_db"
  "seed city extract, quarter vs osmium        | $SEED_Q | $OSMIUM_Q | - | city setup=fresh_db"
)
# Benchmarks too slow for the default -benchtime (one op takes seconds, plus seconds of set-up):
# one op per count, and at most 3 counts (the median of 3), to keep the default run near 5 minutes.
SLOW=(BenchmarkPublishFull10000 BenchmarkPublishIncremental50 BenchmarkPublishScale BenchmarkReviewFilter)
# -----------------------------------------------------------------------------------------------

MINUTES=5
COUNT=5
BENCH=.
PKG=./etl/...
KEEP=0
FULL_DAY=0
CITY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --full-day) FULL_DAY=1; MINUTES=1440; shift ;;
    --city) CITY=1; shift ;;
    --count) COUNT=$2; shift 2 ;;
    --bench) BENCH=$2; shift 2 ;;
    --pkg) PKG=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,43p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --count wants a positive number" >&2; exit 2; }
[[ $MINUTES =~ ^[1-9][0-9]*$ ]] && [ "$MINUTES" -ge 5 ] || { echo "bench.sh: --minutes wants a number >= 5" >&2; exit 2; }

cd "$(dirname "$0")/.."
command -v osmium >/dev/null || { echo "bench.sh: osmium-tool is needed (scripts/install.sh bench)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench.sh: GNU time is needed for peak RSS (scripts/install.sh bench)" >&2; exit 2; }
[ "$CITY" = 0 ] || command -v osm2pgsql >/dev/null || { echo "bench.sh: --city needs osm2pgsql (scripts/install.sh bench)" >&2; exit 2; }

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(loadavg)
DATE_START=$(date -u +%Y-%m-%dT%H:%MZ)

scripts/services.sh start >&2
eval "$(scripts/services.sh env)"

BENCH_TMP=$(mktemp -d)
export BENCH_TMP
SERVE_PID=""
BENCH_DB="osmtrack_bench_$$"
BENCH_DB_URL=$(sed -E "s|/[^/?]+(\?\|$)|/$BENCH_DB\1|" <<<"$OSMTRACK_DATABASE_URL")
export BENCH_DB BENCH_DB_URL
cleanup() {
  [ -z "$SERVE_PID" ] || kill "$SERVE_PID" 2>/dev/null || true
  psql -X -q "$OSMTRACK_DATABASE_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS ${BENCH_DB}_o2p WITH (FORCE)" >/dev/null 2>&1 || true
  if [ "$KEEP" = 1 ]; then echo "bench.sh: kept $BENCH_TMP" >&2; else rm -rf "$BENCH_TMP"; fi
}
trap cleanup EXIT

export OSMTRACK="$BENCH_TMP/osmtrack"
go build -o "$OSMTRACK" ./jobs

export OSMTRACK_BENCH_PLANET="$BENCH_TMP/planet"
export OSMTRACK_BENCH_SIM_DIR="$OSMTRACK_BENCH_PLANET"
echo "bench.sh: generating $MINUTES planet-profile minutes in $OSMTRACK_BENCH_PLANET" >&2
"$OSMTRACK" sim generate --profile planet --minutes "$MINUTES" --seed 1 --out "$OSMTRACK_BENCH_PLANET" 2>/dev/null
"$OSMTRACK" sim stats "$OSMTRACK_BENCH_PLANET" | sed -n '6,11p' >&2

DAY_FILES=("$OSMTRACK_BENCH_PLANET"/replication/minute/*/*/*.osc.gz)
FETCH_BENCH_FILES="${DAY_FILES[*]:0:5}"
export FETCH_BENCH_FILES
# The median-sized minute.
PLANET_OSC_GZ=$(ls -S "${DAY_FILES[@]}" | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
export PLANET_OSC_GZ
export PLANET_OSC="$BENCH_TMP/planet-minute.osc"
gzip -dc "$PLANET_OSC_GZ" > "$PLANET_OSC"
export REAL_OSC
REAL_OSC=$PWD/testdata/osm/minutely/241.osc
[ -f "$REAL_OSC" ] || echo "bench.sh: warning: $REAL_OSC not found" >&2

# Helpers the row commands use (run through bash -c, so exported).
osmium_each() { local f; for f in "$@"; do osmium cat "$f" -f opl -o /dev/null --overwrite || return; done; }
rm_gen() { rm -rf "$BENCH_TMP/gen"; }
# The previous run's seed may have woken autovacuum on the database, whose worker a non-superuser
# cannot terminate (DROP … WITH (FORCE) fails): retry for a while.
drop_db() {
  local i
  for i in $(seq 30); do
    psql -X -q -v ON_ERROR_STOP=1 "$OSMTRACK_DATABASE_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" 2>/dev/null && return 0
    sleep 1
  done
  psql -X -q -v ON_ERROR_STOP=1 "$OSMTRACK_DATABASE_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
}
fresh_db() {
  drop_db "$BENCH_DB" && psql -X -q -v ON_ERROR_STOP=1 "$OSMTRACK_DATABASE_URL" -c "CREATE DATABASE $BENCH_DB TEMPLATE osmtrack_template" &&
    OSMTRACK_DATABASE_URL=$BENCH_DB_URL OSMTRACK_INFLUX_URL= "$OSMTRACK" migrate
}
# osm2pgsql_fresh PBF: osm2pgsql --slim --create into a new throwaway database (PostGIS from the
# osmtrack template; creating it takes well under a second of the minutes measured).
osm2pgsql_fresh() {
  local url
  url=$(sed -E "s|/[^/?]+(\?\|$)|/${BENCH_DB}_o2p\1|" <<<"$OSMTRACK_DATABASE_URL")
  drop_db "${BENCH_DB}_o2p" && psql -X -q -v ON_ERROR_STOP=1 "$OSMTRACK_DATABASE_URL" \
    -c "CREATE DATABASE ${BENCH_DB}_o2p TEMPLATE osmtrack_template" >/dev/null &&
    osm2pgsql --slim --create -C 1000 -d "$url" "$1"
}
export -f osmium_each rm_gen drop_db fresh_db osm2pgsql_fresh

export MONACO_PBF=$PWD/testdata/osm/extracts/monaco-20150428.osm.pbf
printf 'log:\n  format: json\n' > "$BENCH_TMP/seed-all.yaml"
if [ "$CITY" = 1 ]; then
  export CITY_PBF="$BENCH_TMP/city.osm.pbf" CITY_QUARTER="$BENCH_TMP/quarter.poly"
  echo "bench.sh: generating the city extract (scripts/bench-city.awk | osmium cat)" >&2
  awk -f scripts/bench-city.awk | osmium cat -F opl -o "$CITY_PBF" --overwrite \
    --output-header=osmosis_replication_timestamp=2024-05-01T12:00:00Z
  osmium fileinfo -e "$CITY_PBF" | grep -E 'Number of (nodes|ways|relations)' >&2
  printf 'quarter\n1\n 9.70 53.40\n 10.00 53.40\n 10.00 53.55\n 9.70 53.55\n 9.70 53.40\nEND\nEND\n' > "$CITY_QUARTER"
  printf 'regions:\n  quarter:\n    file: %s\nlog:\n  format: json\n' "$CITY_QUARTER" > "$BENCH_TMP/seed-quarter.yaml"
fi

if [ "$FULL_DAY" = 1 ]; then
  # `osmtrack sim serve` on a free loopback port, and a fetch configuration pointing at it.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
    break
  done
  "$OSMTRACK" sim serve --dir "$OSMTRACK_BENCH_PLANET" --addr "127.0.0.1:$port" >"$BENCH_TMP/serve.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/replication/minute/state.txt" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://127.0.0.1:$port/replication/minute/state.txt" >/dev/null || { cat "$BENCH_TMP/serve.log" >&2; echo "bench.sh: sim serve did not start" >&2; exit 1; }
  cat > "$BENCH_TMP/fetch-day.yaml" <<YAML
osm:
  replication_url: http://127.0.0.1:$port/replication/minute/
  changeset_replication_url: http://127.0.0.1:$port/replication/changesets/
  api_url: http://127.0.0.1:$port/api/0.6/
regions:
  city:
    file: $OSMTRACK_BENCH_PLANET/region.poly
# The API fill asks the local simulator: no politeness limit, so the row measures osmtrack.
analyse:
  api_requests_per_second: 1000
log:
  format: json
YAML
  DAY_FIRST=$(sed -n 's/^sequenceNumber=//p' "${DAY_FILES[0]%.osc.gz}.state.txt")
  DAY_LAST=$((DAY_FIRST + ${#DAY_FILES[@]} - 1))
  export DAY_FIRST DAY_LAST
  echo "bench.sh: sim serve on 127.0.0.1:$port, backfill $DAY_FIRST..$DAY_LAST (${#DAY_FILES[@]} diffs) into database $BENCH_DB" >&2
fi

# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print ""; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# measure CMD SETUP: run CMD COUNT times (SETUP untimed before each), under GNU time; sets
# WALL[key] (median ns) and RSS[key] (median KiB), or "fail".
declare -A WALL=() RSS=()
measure() {
  local cmd=$1 setup=$2 key="$2|$1" i s e walls="" rsss=""
  [ -z "${WALL[$key]:-}" ] || return 0
  echo "bench.sh: running ($COUNT×) ${setup:+$setup; }$cmd" >&2
  for ((i = 0; i < COUNT; i++)); do
    if [ -n "$setup" ] && ! bash -c "$setup" >"$BENCH_TMP/setup.log" 2>&1; then
      tail -5 "$BENCH_TMP/setup.log" >&2; echo "bench.sh: setup failed: $setup" >&2; WALL[$key]=fail; RSS[$key]=fail; return 0
    fi
    s=$(date +%s%N)
    if ! /usr/bin/time -f %M -o "$BENCH_TMP/rss" bash -c "$cmd" >/dev/null 2>"$BENCH_TMP/cmd.err"; then
      tail -5 "$BENCH_TMP/cmd.err" >&2; echo "bench.sh: failed: $cmd" >&2; WALL[$key]=fail; RSS[$key]=fail; return 0
    fi
    e=$(date +%s%N)
    walls+="$((e - s))"$'\n'
    rsss+="$(tail -1 "$BENCH_TMP/rss")"$'\n'
  done
  WALL[$key]=$(printf '%s' "$walls" | median)
  RSS[$key]=$(printf '%s' "$rsss" | median)
}

human() {
  awk -v ns="$1" 'BEGIN {
    if (ns == "" || ns == "-") { print "-"; exit }
    if (ns == "fail") { print "FAILED"; exit }
    if (ns >= 60e9) printf "%dm%04.1fs\n", int(ns/60e9), (ns - 60e9*int(ns/60e9))/1e9
    else if (ns >= 1e9) printf "%.3fs\n", ns/1e9
    else if (ns >= 1e6) printf "%.2fms\n", ns/1e6
    else if (ns >= 1e3) printf "%.2fµs\n", ns/1e3
    else printf "%.1fns\n", ns }'
}
human_kib() {
  awk -v k="$1" 'BEGIN { if (k == "fail") print "FAILED"; else if (k == "" || k == "-") print "-"; else printf "%.1fMiB\n", k/1024 }'
}

# ---- Go benchmarks -----------------------------------------------------------------------------
# One package at a time (go test would run two packages' binaries at once on our two cores).
TOP=${BENCH%%/*}; SUB=""; [[ $BENCH == */* ]] && SUB="/${BENCH#*/}"
declare -A GOMED=()
: > "$BENCH_TMP/go-bench.txt"
slow_re="^($(IFS='|'; echo "${SLOW[*]}"))$"
for dir in $(go list -f '{{.Dir}}' "$PKG"); do
  names=$(grep -ho '^func Benchmark[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | grep -E -- "$TOP" | sort -u || true)
  [ -n "$names" ] || continue
  pkg=".${dir#"$(pwd)"}"
  fast=$(grep -Ev -- "$slow_re" <<<"$names" | paste -sd'|' || true)
  slow=$(grep -E -- "$slow_re" <<<"$names" | paste -sd'|' || true)
  for group in "fast" "slow"; do
    list=${!group}
    [ -n "$list" ] || continue
    n=$COUNT; extra=()
    if [ "$group" = slow ]; then extra=(-benchtime 1x); [ "$n" -le 3 ] || n=3; fi
    echo "bench.sh: go test -bench '^($list)\$$SUB' ${extra[*]} -count $n $pkg" >&2
    go test -run '^$' -bench "^($list)\$$SUB" "${extra[@]}" -benchmem -count "$n" "$pkg" > "$BENCH_TMP/go-pkg.txt" 2>&1 || {
      cat "$BENCH_TMP/go-pkg.txt" >&2; echo "bench.sh: go test failed in $pkg" >&2; exit 1; }
    cat "$BENCH_TMP/go-pkg.txt" >> "$BENCH_TMP/go-bench.txt"
  done
done
while read -r name; do
  GOMED[$name]=$(awk -v n="$name" '{ b=$1; sub(/-[0-9]+$/, "", b) } b==n { for (i=2;i<=NF;i++) if ($i=="ns/op") print $(i-1) }' "$BENCH_TMP/go-bench.txt" | median)
done < <(awk '/^Benchmark.*ns\/op/ { b=$1; sub(/-[0-9]+$/, "", b); print b }' "$BENCH_TMP/go-bench.txt" | sort -u)

# ---- rows ---------------------------------------------------------------------------------------
trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; s=${s%"${s##*[![:space:]]}"}; printf '%s' "$s"; }
# check VALUE RATIO TARGET → pass | miss (VALUE in ns, or KiB for rss rows)
check() {
  awk -v v="$1" -v r="$2" -v t="$3" 'BEGIN {
    if (t == "-" || t == "") { print "-"; exit }
    if (v == "fail") { print "miss"; exit }
    n = split(t, tok, " "); ok = 1
    for (i = 1; i <= n; i++) {
      s = tok[i]; op = (substr(s, 1, 2) == "<=") ? "<=" : "<"; s = substr(s, length(op) + 1)
      if (match(s, /^[0-9.]+/)) { num = substr(s, 1, RLENGTH) + 0; unit = substr(s, RLENGTH + 1) } else { print "?"; exit }
      if (unit == "x") { x = r; lim = num; if (x == "-" || x == "") { ok = 0; continue } }
      else if (unit == "MiB") { x = v; lim = num * 1024 }
      else { x = v; m["ns"] = 1; m["µs"] = 1e3; m["us"] = 1e3; m["ms"] = 1e6; m["s"] = 1e9; m["min"] = 60e9; lim = num * m[unit] }
      if (op == "<=" && !(x + 0 <= lim)) ok = 0
      if (op == "<" && !(x + 0 < lim)) ok = 0
    }
    print ok ? "pass" : "miss" }'
}
pretty_target() { [ -z "$1" ] || [ "$1" = "-" ] && { echo -; return; }; sed -e 's/ /, /g; s/<=/≤ /g; s/</< /g; s/\([0-9.]\)x\b/\1× ref/g' <<<"$1"; }

TABLE="$BENCH_TMP/table.tsv"
: > "$TABLE"
declare -A DONE=() REFID=()
REFS=()
for row in "${ROWS[@]}"; do
  IFS='|' read -r label ours ref target opts <<<"$row"
  label=$(trim "$label"); ours=$(trim "$ours"); ref=$(trim "$ref"); target=$(trim "$target"); opts=$(trim "${opts:-}")
  per=1; setup=""; day=0; city=0
  for o in $opts; do
    case "$o" in per=*) per=${o#per=} ;; setup=*) setup=${o#setup=} ;; day) day=1 ;; city) city=1 ;; esac
  done
  [ "$day" = 1 ] && [ "$FULL_DAY" = 0 ] && continue
  [ "$city" = 1 ] && [ "$CITY" = 0 ] && continue
  kind=wall
  if [[ $ours == bench:* ]]; then
    b=${ours#bench:}
    DONE[$b]=1
    o=${GOMED[$b]:-}
    label="$label ($b)"
    [ -n "$o" ] || continue   # not selected by --bench / --pkg
  elif [[ $ours == rss:* ]]; then
    kind=rss; measure "${ours#rss:}" "$setup"; o=${RSS["$setup|${ours#rss:}"]}
  else
    measure "$ours" "$setup"; o=${WALL["$setup|$ours"]}
  fi
  r=-; rid=""
  if [ "$ref" != "-" ]; then
    if [[ $ref == rss:* ]]; then measure "${ref#rss:}" ""; r=${RSS["|${ref#rss:}"]}; refcmd=${ref#rss:}
    else measure "$ref" ""; r=${WALL["|$ref"]}; refcmd=$ref; fi
    if [ -z "${REFID[$refcmd]:-}" ]; then REFS+=("$refcmd"); REFID[$refcmd]="r${#REFS[@]}"; fi
    rid=${REFID[$refcmd]}
    [[ $r == fail ]] || r=$(awk -v a="$r" -v p="$per" 'BEGIN { printf "%.0f", a / p }')
    [ "$per" = 1 ] || rid="$rid÷$per"
  fi
  ratio=-
  if [[ $o != fail && $r != - && $r != fail ]]; then ratio=$(awk -v a="$o" -v b="$r" 'BEGIN { printf "%.2f", a/b }'); fi
  if [ "$kind" = rss ]; then ho=$(human_kib "$o"); hr=$(human_kib "$r"); else ho=$(human "$o"); hr=$(human "$r"); fi
  [ -z "$rid" ] || hr="$hr [$rid]"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$ho" "$hr" "$ratio" "$(pretty_target "$target")" "$(check "$o" "$ratio" "$target")" >> "$TABLE"
done
for b in "${!GOMED[@]}"; do
  [ -n "${DONE[$b]:-}" ] && continue
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$(human "${GOMED[$b]}")" - - - -
done | sort >> "$TABLE"

# ---- table --------------------------------------------------------------------------------------
echo
awk -F'\t' '
  { for (i = 1; i <= 6; i++) { c[NR, i] = $i; l = ulen($i); if (l > w[i]) w[i] = l } }
  function ulen(s,   t) { t = s; gsub(/[\200-\277]/, "", t); return length(t) }
  function pad(s, n, right,   p) { p = ""; while (ulen(s) + length(p) < n) p = p " "; return right ? p s : s p }
  END {
    h[1] = "benchmark"; h[2] = "median"; h[3] = "reference"; h[4] = "ratio"; h[5] = "target"; h[6] = "result"
    for (i = 1; i <= 6; i++) if (ulen(h[i]) > w[i]) w[i] = ulen(h[i])
    line = ""; for (i = 1; i <= 6; i++) line = line (i > 1 ? " | " : "") pad(h[i], w[i], i > 1 && i < 5); print line
    sep = ""; for (i = 1; i <= 6; i++) { s = ""; for (j = 0; j < w[i] + 2; j++) s = s "-"; sep = sep (i > 1 ? "+" : "") s }
    print substr(sep, 2)
    for (r = 1; r <= NR; r++) {
      line = ""; for (i = 1; i <= 6; i++) line = line (i > 1 ? " | " : "") pad(c[r, i], w[i], i > 1 && i < 5); print line
    }
  }' "$TABLE"
echo
for i in "${!REFS[@]}"; do echo "r$((i + 1)): ${REFS[$i]}"; done
echo
echo "median of $COUNT runs each; ratio = ours / reference (÷N: the reference run covers N of our ops)"
echo "planet sample: $MINUTES minutes (seed 1), median diff $(basename "$PLANET_OSC_GZ") ($(wc -c < "$PLANET_OSC") bytes XML)"
echo "started $DATE_START on $(nproc) cores, load average $LOAD_START (1/5/15 min) at start, $(loadavg) at end"
if [ "$FULL_DAY" = 1 ]; then
  # The last backfill's database: every diff applied?
  got=$(psql -X -qAt "$BENCH_DB_URL" -c "SELECT count(*) || ' diffs applied, ' || coalesce(sum(elements_kept), 0) || ' of ' || coalesce(sum(elements), 0) || ' element versions kept (city region)' FROM diffs" 2>/dev/null || echo "no database")
  echo "backfill check (last run): $got; expected ${#DAY_FILES[@]} diffs"
  [ "$MINUTES" = 1440 ] || echo "note: --minutes $MINUTES: the backfill rows cover $MINUTES minutes, not a day (their targets are for a day)"
else
  echo "(whole-day rows: scripts/bench.sh --full-day)"
fi
[ "$CITY" = 1 ] || echo "(city-size seed rows against osm2pgsql: scripts/bench.sh --city)"
