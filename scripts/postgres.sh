#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the PostgreSQL metadata store's tests and benchmarks.
#
#   scripts/postgres.sh start DIR          # install (apt, if missing), initdb, start, role + db
#   scripts/postgres.sh stop DIR [--purge] # stop by PID; --purge also deletes DIR
#   scripts/postgres.sh status DIR         # exit 0 if the cluster in DIR is running
#
# The server listens on 127.0.0.1 only, port ${COFFER_PG_PORT:-15432}, with its unix socket
# inside DIR; it runs as the `postgres` OS user (falling back to `nobody`) because PostgreSQL
# refuses to run as root. `start` writes DIR/env with COFFER_TEST_POSTGRES_URL. It is
# idempotent: a running cluster in DIR is reused, a stale postmaster.pid (after kill -9) is
# removed. Durability settings are relaxed (fsync off) unless COFFER_PG_DURABLE=1: the data
# is throwaway, and the tests check atomicity and concurrency, not power-loss survival.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR [--purge]" >&2; exit 2; }
[ $# -ge 2 ] || usage
ACTION=$1
DIR=$2
PORT=${COFFER_PG_PORT:-15432}
DB=${COFFER_PG_DB:-coffer}
ROLE=${COFFER_PG_USER:-coffer}
PASSWORD=${COFFER_PG_PASSWORD:-coffer-test-pw}
BIN=/usr/lib/postgresql/15/bin

pid_of_cluster() {
  local f="$DIR/data/postmaster.pid"
  [ -f "$f" ] || f="$DIR/postgres.pid"
  [ -f "$f" ] && head -1 "$f"
  return 0
}
running() {
  local pid
  pid=$(pid_of_cluster)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

stop_cluster() {
  local pid
  pid=$(pid_of_cluster)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid"  # "fast" shutdown: abort transactions, checkpoint, exit
    for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  fi
  rm -f "$DIR/postgres.pid"
  if [ "${1:-}" = --purge ]; then rm -rf "$DIR"; fi
  return 0
}

install_if_missing() {
  [ -x "$BIN/postgres" ] && return 0
  echo "postgres.sh: installing postgresql-15 with apt" >&2
  # The package would create (and, without a policy-rc.d, start) a `main` cluster on 5432;
  # this script never uses it, so tell postgresql-common not to create one.
  mkdir -p /etc/postgresql-common
  if ! grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
    echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    postgresql-15 postgresql-client-15 >/dev/null
}

start_cluster() {
  install_if_missing
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    local os_user=postgres
    id "$os_user" >/dev/null 2>&1 || os_user=nobody
    chown "$os_user" "$DIR"
    as=(runuser -u "$os_user" --)
  fi
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    rm -rf "$DIR/data"
    "${as[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1 \
      || { cat "$DIR/initdb.log" >&2; exit 1; }
    local relaxed=""
    if [ "${COFFER_PG_DURABLE:-0}" != 1 ]; then
      relaxed=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off'
    fi
    cat >>"$DIR/data/postgresql.conf" <<EOF
# --- coffer throwaway test cluster (scripts/postgres.sh) ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 200
shared_buffers = 128MB
$relaxed
EOF
  fi
  if ! running; then
    rm -f "$DIR/data/postmaster.pid"  # stale after kill -9 (the PID is dead: checked above)
    # pg_ctl detaches the postmaster (its own session, output to the log file), so a caller
    # reading our stdout through a pipe is not held open by the daemon.
    "${as[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 60 start </dev/null >/dev/null \
      || { tail -20 "$DIR/postgres.log" >&2; exit 1; }
  fi
  head -1 "$DIR/data/postmaster.pid" >"$DIR/postgres.pid"
  local ready=0
  for _ in $(seq 1 120); do
    if "${as[@]}" "$BIN/pg_isready" -q -h "$DIR" -p "$PORT"; then ready=1; break; fi
    sleep 0.25
  done
  [ $ready = 1 ] || { echo "postgres.sh: server in $DIR did not become ready" >&2; exit 1; }
  # Role and database, idempotently (psql's \gexec runs the statement only if the row is new).
  "${as[@]}" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres -d postgres \
    -v role="$ROLE" -v pw="$PASSWORD" -v db="$DB" <<'EOF'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
EOF
  local url="postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
  cat >"$DIR/env" <<EOF
export COFFER_TEST_POSTGRES_URL='$url'
EOF
  echo "postgres.sh: PostgreSQL on 127.0.0.1:$PORT (pid $(cat "$DIR/postgres.pid")), env in $DIR/env"
}

case "$ACTION" in
  start) start_cluster ;;
  stop) stop_cluster "${3:-}" ;;
  status) running ;;
  *) usage ;;
esac
