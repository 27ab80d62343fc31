#!/usr/bin/env bash
# The test command: starts the local services, then vets and tests everything against them.
#   scripts/test.sh [go test flags…] [packages…]   e.g. scripts/test.sh -run TestFetch ./etl/fetch/
#
# Prints a line per package as it finishes (passed, failed, skipped, seconds), the output of
# failing tests only, the skipped tests with their reasons, and as its LAST line
# `N passed, N failed, N skipped` (CI reads it). Exits 1 when a test, a build or go vet failed.
# Counts are of top-level tests; a package that fails outside its tests (a build error, a panic
# in TestMain, a timeout) and a failing check (go vet) count as one failure each.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

fail_early() { echo "test: $*" >&2; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
scripts/install.sh || fail_early "scripts/install.sh failed"
scripts/services.sh start || fail_early "scripts/services.sh start failed"
eval "$(scripts/services.sh env)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
go build -o "$TMP/testreport" ./scripts/testreport || fail_early "cannot build scripts/testreport"

# check LABEL COMMAND…: runs COMMAND (go test -json or plain output) for the report, then tells
# it COMMAND's exit code, which counts as a failure when its output showed none.
check() {
  local label=$1 rc=0
  shift
  "$@" 2>&1 || rc=$?
  echo "##exit $rc $label"
}

if [ $# -eq 0 ]; then set -- ./...; fi
echo "test: go vet, then go test -race on $*; a line per package as it finishes" >&2
{
  check "go vet ./..." go vet ./...
  check "go test $*" go test -json -race -count=1 -timeout 15m "$@"
  # Further checks go here, one line each, e.g.
  #   check "fuzz FuzzX" go test -json -run '^$' -fuzz '^FuzzX$' -fuzztime 200000x ./etl/x/
  # Fuzz budgets are counts of executions, not durations: with a duration, Go 1.26's fuzz
  # coordinator can report a spurious "context deadline exceeded" when the time runs out while a
  # worker is mid-call (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
  # Differential fuzzing, fast vs reference osmChange decoder: 300,000 inputs, about 10-20 s here
  # (corpus: etl/osmchange/testdata/fuzz/FuzzDecode).
  if [ "$*" = ./... ]; then check "fuzz FuzzDecode" go test -json -run '^$' -fuzz '^FuzzDecode$' -fuzztime 300000x ./etl/osmchange/; fi
  # The changeset-XML parser against paulmach/osm: 150,000 inputs, about 5-10 s.
  if [ "$*" = ./... ]; then check "fuzz changeset FuzzDecode" go test -json -run '^$' -fuzz '^FuzzDecode$' -fuzztime 150000x ./etl/changeset/; fi
} | "$TMP/testreport" "$(go list -m)"
