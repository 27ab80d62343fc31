#!/usr/bin/env bash
# The test command: starts the local services, then vets and tests everything against them.
#   scripts/test.sh [go test flags…]   e.g. scripts/test.sh -run TestFetch ./etl/fetch/
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/install.sh
scripts/services.sh start
eval "$(scripts/services.sh env)"
go vet ./...
if [ $# -eq 0 ]; then set -- ./...; fi
go test -race -count=1 -timeout 8m "$@"
