#!/usr/bin/env bash
# Installs what osmtrack's services, tests and demo need and are missing, from Debian's packages,
# the Go module proxy and npm. Idempotent; safe to run as root or as a user with sudo.
#   scripts/install.sh [postgres] [influxd] [osmium] [bench] [chromium] [node] [kubectl]   (default: all)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
want=("$@"); [ ${#want[@]} -eq 0 ] && want=(postgres influxd osmium bench chromium node kubectl)

SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

for w in "${want[@]}"; do
  case "$w" in
  postgres)
    if [ ! -x /usr/lib/postgresql/15/bin/postgres ] || [ ! -f /usr/share/postgresql/15/extension/postgis.control ]; then
      echo "install: PostgreSQL 15 + PostGIS 3 (Debian packages)" >&2
      apt_install postgresql-15 postgresql-15-postgis-3 postgresql-client-15
    fi ;;
  influxd)
    bin="$(go env GOPATH)/bin/influxd"
    if [ ! -x "$bin" ] || ! go version -m "$bin" 2>/dev/null | grep -q "influxdb[[:space:]]*v1.8.10"; then
      echo "install: influxd 1.8.10 (go install; about a minute)" >&2
      (cd /tmp && GOFLAGS= go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10)
    fi ;;
  osmium)
    command -v osmium >/dev/null || { echo "install: osmium-tool (Debian package)" >&2; apt_install osmium-tool; } ;;
  bench) # scripts/bench.sh: osmium-tool and osm2pgsql for the references, GNU time for peak RSS
    command -v osmium >/dev/null || { echo "install: osmium-tool (Debian package)" >&2; apt_install osmium-tool; }
    command -v osm2pgsql >/dev/null || { echo "install: osm2pgsql (Debian package)" >&2; apt_install osm2pgsql; }
    [ -x /usr/bin/time ] || { echo "install: GNU time (Debian package)" >&2; apt_install time; } ;;
  chromium)
    command -v chromium >/dev/null || { echo "install: chromium (Debian package)" >&2; apt_install chromium fonts-dejavu-core; } ;;
  node)
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
      echo "install: Node.js and npm (Debian packages)" >&2
      apt_install nodejs npm
    fi
    if [ -f "$ROOT/site/package.json" ] && [ ! -d "$ROOT/site/node_modules" ]; then
      echo "install: site assets (npm ci)" >&2
      (cd "$ROOT/site" && npm ci --no-audit --no-fund --silent)
    fi ;;
  kubectl) # scripts/kube.sh and its tests: kubectl 1.27 or newer (kustomize v5). Debian 12's
    # kubernetes-client is 1.20, too old to build the manifests; so it is built from the Go module
    # proxy (scripts/kubectl, the version its go.mod pins) into GOPATH/bin.
    kc=$(command -v kubectl || echo "$(go env GOPATH)/bin/kubectl")
    if ! "$kc" version --client 2>/dev/null | grep -q 'Kustomize Version: v5'; then
      echo "install: kubectl (go build of k8s.io/kubectl, scripts/kubectl/go.mod; a few minutes the first time)" >&2
      (cd "$ROOT/scripts/kubectl" && GOFLAGS=-mod=mod go build -trimpath -o "$(go env GOPATH)/bin/kubectl" .)
    fi ;;
  *) echo "install: unknown component $w" >&2; exit 2 ;;
  esac
done
