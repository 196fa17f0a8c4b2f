#!/usr/bin/env bash
# Several coffer-server instances behind a load balancer, all on 127.0.0.1.
#
#   scripts/cluster.sh start DIR N [-- SERVER_ARGS...]   start N instances and HAProxy
#   scripts/cluster.sh stop DIR [--purge]                stop them by PID; --purge deletes DIR
#
# The instances share ONE metadata URL and ONE blob URL, taken from the environment exactly
# as coffer-server reads them: COFFER_METADATA and COFFER_BLOBS (or a COFFER_CONFIG file),
# with the engines' credentials in PGPASSWORD / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or
# the *_FILE settings (README "Configuration"). Nothing else is shared between instances; a
# staff console needs COFFER_LOG_KEY naming one key file for all of them (the first instance
# creates it if missing). SERVER_ARGS go to every instance.
#
# Each instance listens on a free loopback port and logs every request to DIR/server-I.log.
# HAProxy (Debian's haproxy) listens on 127.0.0.1:${COFFER_CLUSTER_PORT:-a free port} and
# picks a random live instance for EACH request (balance random, no stickiness, no
# prefer-last-server): two requests on one client connection may land on different
# instances. Request bodies are streamed to the instance (HAProxy does not buffer them and
# sets no size limit: the instance's own body limits apply). /v1/health is checked every 2 s,
# so a dead instance stops getting requests; a request whose connection to an instance
# failed is re-dispatched to another one.
#
# `start` writes DIR/env (source it):
#   COFFER_CLUSTER_URL             http://127.0.0.1:PORT, the load balancer
#   COFFER_CLUSTER_INSTANCE_URLS   the instances' own URLs, space separated
#   COFFER_CLUSTER_SERVER_PIDS     the instances' PIDs; COFFER_CLUSTER_LB_PID: HAProxy's
# and DIR/pids ("name pid" lines) for `stop`.
#
# COFFER_SERVER_BIN names the coffer-server binary (default: build/coffer-server, else PATH).
set -euo pipefail

usage() {
  echo "usage: $0 start DIR N [-- SERVER_ARGS...] | $0 stop DIR [--purge]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
ACTION=$1
DIR=$2
shift 2
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# ---- stop ----------------------------------------------------------------------------------
# Running, and not a zombie left for a parent (or a PID 1) that does not reap it.
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }

# Only PIDs recorded in DIR/pids, and only while they still run the program we started.
stop_cluster() {
  [ -f "$DIR/pids" ] || return 0
  local name pid left pids=()
  while read -r name pid; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'coffer-server\|haproxy'; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done <"$DIR/pids"
  for _ in $(seq 1 100); do
    left=0
    for pid in "${pids[@]}"; do alive "$pid" && left=1; done
    [ $left = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
  rm -f "$DIR/pids" "$DIR/env"
  return 0
}

if [ "$ACTION" = stop ]; then
  [ -d "$DIR" ] || exit 0
  DIR=$(cd "$DIR" && pwd)
  stop_cluster
  if [ "${1:-}" = --purge ]; then rm -rf "$DIR"; fi
  exit 0
fi
[ "$ACTION" = start ] || usage
[ $# -ge 1 ] || usage
N=$1
shift
[[ "$N" =~ ^[1-9][0-9]?$ ]] || { echo "cluster.sh: N must be 1..99, got \"$N\"" >&2; exit 2; }
if [ $# -gt 0 ]; then
  [ "$1" = -- ] || usage
  shift
fi
SERVER_ARGS=("$@")

if [ -z "${COFFER_CONFIG:-}" ] && { [ -z "${COFFER_METADATA:-}" ] || [ -z "${COFFER_BLOBS:-}" ]; }; then
  echo "cluster.sh: set COFFER_METADATA and COFFER_BLOBS (or COFFER_CONFIG) to the shared engines," >&2
  echo "cluster.sh: e.g. COFFER_METADATA=postgresql://coffer@127.0.0.1/coffer COFFER_BLOBS='s3://bucket?endpoint=...'" >&2
  exit 2
fi
case "${COFFER_METADATA:-}" in
  sqlite://*) echo "cluster.sh: note: SQLite is one file on this machine; real deployments share PostgreSQL" >&2 ;;
esac

SERVER_BIN=${COFFER_SERVER_BIN:-}
if [ -z "$SERVER_BIN" ]; then
  if [ -x "$ROOT/build/coffer-server" ]; then SERVER_BIN="$ROOT/build/coffer-server"
  else SERVER_BIN=$(command -v coffer-server || true); fi
fi
[ -x "$SERVER_BIN" ] || { echo "cluster.sh: no coffer-server binary (build it, or set COFFER_SERVER_BIN)" >&2; exit 1; }
HAPROXY=$(command -v haproxy || true)
[ -n "$HAPROXY" ] || HAPROXY=/usr/sbin/haproxy
[ -x "$HAPROXY" ] || { echo "cluster.sh: haproxy is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -f "$DIR/pids" ]; then
  echo "cluster.sh: $DIR already has a cluster (DIR/pids); run '$0 stop $DIR' first" >&2
  exit 1
fi
: >"$DIR/pids"
# Whatever started before a failure is stopped again.
trap 'status=$?; if [ $status -ne 0 ]; then stop_cluster; fi' EXIT

# wait_listening I: prints the URL instance I announced, or fails if it exited or took > 30 s.
wait_listening() {
  local i=$1 pid=$2 line
  for _ in $(seq 1 300); do
    line=$(grep -o 'listening on http[s]*://127\.0\.0\.1:[0-9]*' "$DIR/server-$i.out" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "${line#listening on }"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "cluster.sh: instance $i exited at start:" >&2
      head -3 "$DIR/server-$i.log" >&2  # the error; the usage text follows it
      return 1
    fi
    sleep 0.1
  done
  echo "cluster.sh: instance $i did not start within 30 s; see $DIR/server-$i.log" >&2
  return 1
}

# One at a time: the first start on empty engines creates the schema, the server secret and
# the access-log key, which the others must then read rather than race to create (two
# instances creating the server secret at once could end up with different ones).
URLS=()
PIDS=()
for i in $(seq 1 "$N"); do
  # The instances believe HAProxy's X-Forwarded-For (and nobody else's), so per-address
  # login limits count real clients rather than the balancer.
  "$SERVER_BIN" --listen 127.0.0.1:0 --trusted-proxies 127.0.0.1 "${SERVER_ARGS[@]}" \
    </dev/null >"$DIR/server-$i.out" 2>"$DIR/server-$i.log" &
  pid=$!
  echo "server-$i $pid" >>"$DIR/pids"
  url=$(wait_listening "$i" "$pid")
  URLS+=("$url")
  PIDS+=("$pid")
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_lb PORT: writes DIR/haproxy.cfg and starts HAProxy on PORT; returns 1 if HAProxy
# exited at start (the port was taken between free_port and the bind).
start_lb() {
  LB_PORT=$1
  {
    cat <<EOF
# Written by scripts/cluster.sh: $N coffer-server instances behind HAProxy, loopback only.
global
    maxconn 4096
    # The instances check the body; the proxy must not cap or buffer it.
    tune.bufsize 65536

defaults
    mode http
    # Per-request balancing: HTTP mode balances each request unless told to stick, and
    # "prefer-last-server" is off. Idle connections to instances may be reused by any client.
    http-reuse safe
    option redispatch
    retries 2
    timeout connect 5s
    # Headers must arrive promptly; bodies and replies may be large and long polls last 60 s.
    timeout http-request 30s
    timeout client 15m
    timeout server 15m
    timeout queue 30s

frontend coffer
    bind 127.0.0.1:$LB_PORT
    default_backend instances

backend instances
    balance random
    # Replace (never trust) any X-Forwarded-For the client sent with the address HAProxy saw.
    http-request del-header X-Forwarded-For
    option forwardfor
    option httpchk GET /v1/health
    default-server check inter 2s fall 2 rise 1
EOF
    for i in $(seq 1 "$N"); do
      hostport=${URLS[$((i - 1))]#*://}
      echo "    server s$i $hostport"
    done
  } >"$DIR/haproxy.cfg"

  "$HAPROXY" -c -q -f "$DIR/haproxy.cfg" >/dev/null 2>"$DIR/haproxy.log" ||
    { echo "cluster.sh: bad HAProxy configuration:" >&2; cat "$DIR/haproxy.log" >&2; exit 1; }
  "$HAPROXY" -db -f "$DIR/haproxy.cfg" </dev/null >>"$DIR/haproxy.log" 2>&1 &
  LB_PID=$!
  echo "haproxy $LB_PID" >>"$DIR/pids"
  LB_URL="http://127.0.0.1:$LB_PORT"
  ok=0
  for _ in $(seq 1 100); do
    if ! kill -0 "$LB_PID" 2>/dev/null; then
      sed -i "/^haproxy $LB_PID\$/d" "$DIR/pids"
      return 1
    fi
    if curl -sf -o /dev/null --max-time 2 "$LB_URL/v1/health"; then ok=1; break; fi
    sleep 0.1
  done
  # Still ours: a foreign listener on the port could have answered while HAProxy was failing.
  sleep 0.2
  kill -0 "$LB_PID" 2>/dev/null || return 1
  [ $ok = 1 ] || { echo "cluster.sh: $LB_URL/v1/health did not answer; see $DIR/haproxy.log" >&2; exit 1; }
}

if [ -n "${COFFER_CLUSTER_PORT:-}" ]; then
  start_lb "$COFFER_CLUSTER_PORT" ||
    { echo "cluster.sh: HAProxy could not listen on 127.0.0.1:$COFFER_CLUSTER_PORT:" >&2; tail -5 "$DIR/haproxy.log" >&2; exit 1; }
else
  started=0
  for _ in 1 2 3 4 5; do
    if start_lb "$(free_port)"; then started=1; break; fi
  done
  [ $started = 1 ] || { echo "cluster.sh: HAProxy did not start:" >&2; tail -5 "$DIR/haproxy.log" >&2; exit 1; }
fi

cat >"$DIR/env.tmp" <<EOF
# Written by scripts/cluster.sh start $DIR $N
export COFFER_CLUSTER_URL='$LB_URL'
export COFFER_CLUSTER_INSTANCE_URLS='${URLS[*]}'
export COFFER_CLUSTER_SERVER_PIDS='${PIDS[*]}'
export COFFER_CLUSTER_LB_PID='$LB_PID'
EOF
mv "$DIR/env.tmp" "$DIR/env"
echo "cluster.sh: $N instances behind $LB_URL (HAProxy pid $LB_PID); env in $DIR/env"
