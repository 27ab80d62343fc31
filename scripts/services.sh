#!/usr/bin/env bash
# Local services for tests, the demo and development, on loopback only:
#   PostgreSQL 15 + PostGIS 3 on 127.0.0.1:55432 (data under .local/pg)
#   InfluxDB 1.8.10 on 127.0.0.1:58086, backup RPC on 127.0.0.1:58088 (data under .local/influxdb)
# Usage: scripts/services.sh start|stop|status|env
# start installs what is missing (scripts/install.sh), is idempotent, and works as root or a user.
#
# Ports: OSMTRACK_SERVICES_PG_PORT, OSMTRACK_SERVICES_INFLUX_PORT and
# OSMTRACK_SERVICES_INFLUX_RPC_PORT choose them. Without those, start takes the default or, when
# another program holds it, the next free port, and remembers its choice in .local/ports so that
# `env`, `status` and later runs agree. A port set by a variable and held by another program is
# an error that names the port and the variable.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOCAL="$ROOT/.local"
PGBIN=/usr/lib/postgresql/15/bin
PORTS_FILE="$LOCAL/ports"
PG_PORT=55432; INFLUX_PORT=58086; INFLUX_RPC_PORT=58088
# shellcheck source=/dev/null
if [ -f "$PORTS_FILE" ]; then . "$PORTS_FILE"; fi
PGPORT=${OSMTRACK_SERVICES_PG_PORT:-$PG_PORT}
INFLUX_PORT=${OSMTRACK_SERVICES_INFLUX_PORT:-$INFLUX_PORT}
INFLUX_RPC_PORT=${OSMTRACK_SERVICES_INFLUX_RPC_PORT:-$INFLUX_RPC_PORT}
set_addrs() { INFLUX_HTTP=127.0.0.1:$INFLUX_PORT; INFLUX_RPC=127.0.0.1:$INFLUX_RPC_PORT; }
set_addrs
PGDATA="$LOCAL/pg/data"
PGRUN="$LOCAL/pg/run"
INFLUX_DIR="$LOCAL/influxdb"

# Credentials of this throw-away local setup (loopback only; never used in a deployment).
PG_RW=osmtrack;    PG_RW_PASS=osmtrack
PG_RO=osmtrack_ro; PG_RO_PASS=osmtrack_ro
IX_ADMIN=admin;    IX_ADMIN_PASS=admin
IX_WRITER=osmtrack; IX_WRITER_PASS=osmtrack
IX_READER=osmtrack_reader; IX_READER_PASS=osmtrack_reader

as_pg() { # run a command as the cluster's owner (postgres refuses to run as root)
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
influxd_bin() { echo "$(go env GOPATH)/bin/influxd"; }

pg_running() { [ -f "$PGDATA/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }
# Ours: the influxd this checkout started (its pid file) answers on our port; an InfluxDB that
# another checkout or program runs on the same port is not ours.
influx_running() {
  [ -f "$INFLUX_DIR/influxd.pid" ] && [ -d "/proc/$(cat "$INFLUX_DIR/influxd.pid")" ] &&
    curl -fsS "http://$INFLUX_HTTP/ping" >/dev/null 2>&1
}

# port_busy PORT: something listens on 127.0.0.1:PORT (or holds it on every address).
port_busy() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
  command -v ss >/dev/null && [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}
# free_port LABEL PORT VARIABLE [AVOID…]: PORT when it is free, else the next free one (when
# VARIABLE did not set PORT) after saying so; fails naming the port and the variable otherwise.
free_port() {
  local label=$1 port=$2 var=$3; shift 3
  local p
  if ! port_busy "$port" && ! [[ " $* " == *" $port "* ]]; then echo "$port"; return; fi
  if [ -n "${!var:-}" ]; then
    echo "services: $label cannot start: 127.0.0.1:$port is in use by another program; set $var to a free port" >&2
    return 1
  fi
  for p in $(seq $((port + 1)) $((port + 100))); do
    if ! port_busy "$p" && ! [[ " $* " == *" $p "* ]]; then
      echo "services: 127.0.0.1:$port is in use by another program; $label takes $p (remembered in $PORTS_FILE; $var chooses another)" >&2
      echo "$p"; return
    fi
  done
  echo "services: $label cannot start: 127.0.0.1:$port..$((port + 100)) are all in use; set $var to a free port" >&2
  return 1
}
save_ports() {
  mkdir -p "$LOCAL"
  printf '# ports chosen by scripts/services.sh start (OSMTRACK_SERVICES_*_PORT override them)\nPG_PORT=%s\nINFLUX_PORT=%s\nINFLUX_RPC_PORT=%s\n' \
    "$PGPORT" "$INFLUX_PORT" "$INFLUX_RPC_PORT" >"$PORTS_FILE.tmp"
  mv "$PORTS_FILE.tmp" "$PORTS_FILE"
}

psql_admin() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$PGRUN" -p "$PGPORT" -U postgres "$@"; }

start_pg() {
  if pg_running; then
    # the port the running cluster listens on (line 4 of postmaster.pid)
    PGPORT=$(sed -n 4p "$PGDATA/postmaster.pid"); return
  fi
  "$ROOT/scripts/install.sh" postgres
  PGPORT=$(free_port PostGIS "$PGPORT" OSMTRACK_SERVICES_PG_PORT)
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
  fi
  mkdir -p "$LOCAL/pg" "$PGRUN"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres "$LOCAL/pg"
    # the cluster's owner must reach the data directory
    if ! runuser -u postgres -- test -x "$LOCAL/pg"; then
      echo "services: postgres cannot reach $LOCAL/pg; make its parent directories world-executable" >&2; exit 1
    fi
  fi
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C >/dev/null
    cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGRUN'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
logging_collector = off
CONF
  fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOCAL/pg/postgres.log" -o "-p $PGPORT" -w -t 60 start >/dev/null; then
    echo "services: PostgreSQL did not start on 127.0.0.1:$PGPORT; its log $LOCAL/pg/postgres.log ends:" >&2
    tail -5 "$LOCAL/pg/postgres.log" >&2
    echo "services: OSMTRACK_SERVICES_PG_PORT chooses another port" >&2
    exit 1
  fi
  psql_admin -d postgres <<SQL
DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_RW') THEN
    CREATE ROLE $PG_RW LOGIN CREATEDB PASSWORD '$PG_RW_PASS'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_RO') THEN
    CREATE ROLE $PG_RO LOGIN PASSWORD '$PG_RO_PASS'; END IF;
END\$\$;
SQL
  for db in osmtrack osmtrack_template; do
    if [ -z "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
      psql_admin -d postgres -c "CREATE DATABASE $db OWNER $PG_RW"
    fi
    # PostGIS needs a superuser to create; the migrations then find it present.
    psql_admin -d "$db" -c "CREATE EXTENSION IF NOT EXISTS postgis" 2>/dev/null
    psql_admin -d "$db" -c "GRANT CONNECT ON DATABASE $db TO $PG_RO"
  done
  psql_admin -d postgres -c "ALTER DATABASE osmtrack_template IS_TEMPLATE true" >/dev/null
}

start_influx() {
  if influx_running; then influx_users; return; fi
  "$ROOT/scripts/install.sh" influxd
  INFLUX_PORT=$(free_port InfluxDB "$INFLUX_PORT" OSMTRACK_SERVICES_INFLUX_PORT "$PGPORT")
  INFLUX_RPC_PORT=$(free_port "InfluxDB's backup RPC" "$INFLUX_RPC_PORT" OSMTRACK_SERVICES_INFLUX_RPC_PORT "$PGPORT" "$INFLUX_PORT")
  set_addrs
  mkdir -p "$INFLUX_DIR"
  cat > "$INFLUX_DIR/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "$INFLUX_RPC"
[meta]
  dir = "$INFLUX_DIR/meta"
[data]
  dir = "$INFLUX_DIR/data"
  wal-dir = "$INFLUX_DIR/wal"
  query-log-enabled = false
[http]
  bind-address = "$INFLUX_HTTP"
  auth-enabled = true
  flux-enabled = false
  log-enabled = false
[logging]
  level = "warn"
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
CONF
  nohup "$(influxd_bin)" run -config "$INFLUX_DIR/influxdb.conf" >"$INFLUX_DIR/influxd.log" 2>&1 &
  echo $! > "$INFLUX_DIR/influxd.pid"
  for _ in $(seq 1 100); do influx_running && break; sleep 0.2; done
  influx_running || {
    echo "services: influxd did not start on $INFLUX_HTTP (rpc $INFLUX_RPC); its log $INFLUX_DIR/influxd.log ends:" >&2
    tail -20 "$INFLUX_DIR/influxd.log" >&2
    echo "services: OSMTRACK_SERVICES_INFLUX_PORT and OSMTRACK_SERVICES_INFLUX_RPC_PORT choose other ports" >&2
    exit 1; }
  influx_users
}

# influx_users: the users exactly as the influxdb:1.8 image's init creates them (and the
# deployment has them): the writer may only WRITE, the reader only READ. Idempotent; a
# running server from an older checkout gets its grants corrected.
influx_users() {
  # The first admin user may be created without credentials; afterwards everything authenticates.
  iq() { curl -fsS -XPOST "http://$INFLUX_HTTP/query" -u "$IX_ADMIN:$IX_ADMIN_PASS" --data-urlencode "q=$1" >/dev/null; }
  curl -fsS -XPOST "http://$INFLUX_HTTP/query" --data-urlencode "q=CREATE USER $IX_ADMIN WITH PASSWORD '$IX_ADMIN_PASS' WITH ALL PRIVILEGES" >/dev/null 2>&1 || true
  iq "CREATE DATABASE osmtrack"
  iq "CREATE USER $IX_WRITER WITH PASSWORD '$IX_WRITER_PASS'"
  iq "CREATE USER $IX_READER WITH PASSWORD '$IX_READER_PASS'"
  iq "GRANT WRITE ON osmtrack TO $IX_WRITER"
  iq "GRANT READ ON osmtrack TO $IX_READER"
}

stop_pg() { if pg_running; then as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null; fi; }
stop_influx() {
  if [ -f "$INFLUX_DIR/influxd.pid" ]; then
    pid=$(cat "$INFLUX_DIR/influxd.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"; for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$INFLUX_DIR/influxd.pid"
  fi
}

print_env() {
  cat <<ENV
export OSMTRACK_DATABASE_URL='postgres://$PG_RW:$PG_RW_PASS@127.0.0.1:$PGPORT/osmtrack?sslmode=disable'
export OSMTRACK_READONLY_DATABASE_URL='postgres://$PG_RO:$PG_RO_PASS@127.0.0.1:$PGPORT/osmtrack?sslmode=disable'
export OSMTRACK_INFLUX_URL='http://$INFLUX_HTTP'
export OSMTRACK_INFLUX_TOKEN='$IX_WRITER:$IX_WRITER_PASS'
export OSMTRACK_INFLUX_READ_TOKEN='$IX_READER:$IX_READER_PASS'
export OSMTRACK_INFLUX_BUCKET='osmtrack/autogen'
export OSMTRACK_INFLUX_ORG=''
export OSMTRACK_TEST_PG_URL='postgres://$PG_RW:$PG_RW_PASS@127.0.0.1:$PGPORT/osmtrack?sslmode=disable'
export OSMTRACK_TEST_PG_ADMIN_URL='postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable'
export OSMTRACK_TEST_INFLUX_URL='http://$INFLUX_HTTP'
export OSMTRACK_TEST_INFLUX_ADMIN='$IX_ADMIN:$IX_ADMIN_PASS'
export OSMTRACK_TEST_INFLUX_RPC='$INFLUX_RPC'
export OSMTRACK_TEST_INFLUX_CONFIG='$INFLUX_DIR/influxdb.conf'
export PATH="\$PATH:$(go env GOPATH)/bin:$PGBIN"
ENV
}

case "${1:-}" in
  start) start_pg; save_ports; start_influx; save_ports; echo "services: PostGIS on 127.0.0.1:$PGPORT, InfluxDB on $INFLUX_HTTP (rpc $INFLUX_RPC)" >&2 ;;
  stop) stop_influx; stop_pg; echo "services: stopped" >&2 ;;
  status)
    rc=0
    if pg_running; then echo "postgres: running on 127.0.0.1:$PGPORT"; else echo "postgres: stopped"; rc=3; fi
    if influx_running; then echo "influxdb: running on $INFLUX_HTTP"; else echo "influxdb: stopped"; rc=3; fi
    exit $rc ;;
  env) print_env ;;
  *) echo "usage: scripts/services.sh start|stop|status|env" >&2; exit 2 ;;
esac
