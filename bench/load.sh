#!/usr/bin/env bash
# Bounded load test of coffer-server (issue 6, "Load"): hundreds of concurrent clients doing
# mixed small and large requests on loopback for a fixed time; no error, no leak (RSS flat),
# no lost write. A benchmark, not a CI test; results go to bench/LOAD.md by hand.
#
#   bench/load.sh [--duration SECONDS] [--clients N] [--devices N] [--threads N] [--no-build]
#
#   --duration S   how long the load runs (default 120); the test stops by itself
#   --clients N    concurrent clients, one keep-alive connection each (default 250)
#   --devices N    device sessions of the test account the clients share (default 3)
#   --threads N    coffer-server --threads (default: the server's own default)
#   --no-build     use the binaries already in the build dir
#
# Steps: builds coffer-server, coffer and coffer_load_test (RelWithDebInfo, build dir
# $COFFER_BUILD_DIR, default build-load); starts coffer-server with the embedded engines
# (SQLite + local files) in a temporary data dir on 127.0.0.1 (a free port); creates an
# account with the real `coffer` CLI and links more devices to it (pairing code approved by
# the first device), so each profile holds a device session; runs coffer_load_test against
# those sessions while it samples the server's RSS; stops the server and deletes the data.
# Exit code: coffer_load_test's (0 = no error, no lost write, RSS flat), or 1 if setup failed.
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
DURATION=120
CLIENTS=250
DEVICES=3
THREADS=""
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --devices) DEVICES="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "load.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$DEVICES" in ''|*[!0-9]*) echo "load.sh: --devices needs a number >= 1" >&2; exit 2 ;; esac
[ "$DEVICES" -ge 1 ] || { echo "load.sh: --devices needs a number >= 1" >&2; exit 2; }

BUILD_DIR="${COFFER_BUILD_DIR:-$ROOT/build-load}"
say() { echo "[load $(date +%H:%M:%S)] $*"; }

if [ "$BUILD" = 1 ]; then
  say "building coffer-server, coffer, coffer_load_test in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$BUILD_DIR" coffer-server coffer coffer_load_test >/dev/null
fi
for bin in coffer-server coffer coffer_load_test; do
  [ -x "$BUILD_DIR/$bin" ] || { echo "load.sh: $BUILD_DIR/$bin is missing (drop --no-build)" >&2; exit 1; }
done

WORK="$(mktemp -d /tmp/coffer-load.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The server has many connections open at once; make sure it may.
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true

say "starting coffer-server (SQLite + local files in $WORK/data, 127.0.0.1, free port)"
server_args=(--data "$WORK/data" --listen 127.0.0.1:0)
[ -n "$THREADS" ] && server_args+=(--threads "$THREADS")
"$BUILD_DIR/coffer-server" "${server_args[@]}" >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
URL=""
for _ in $(seq 600); do  # the server prints its URL once it listens
  URL=$(sed -n 's/^coffer-server listening on //p' "$WORK/server.out")
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "load.sh: the server did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { echo "load.sh: the server did not report its address within 60 s" >&2; exit 1; }
say "server pid $SERVER_PID at $URL"

export COFFER_PASSWORD="load-test password $RANDOM$RANDOM"
EMAIL="load@example.org"
HOMES=("$WORK/device1")
say "creating the account with the coffer CLI (device1)"
"$BUILD_DIR/coffer" --home "$WORK/device1" --server "$URL" account create --email "$EMAIL" \
  --device-name device1 --recovery-key-file "$WORK/recovery-key.txt" >/dev/null
for n in $(seq 2 "$DEVICES"); do
  say "linking device$n (pairing code approved by device1)"
  : >"$WORK/link$n.out"  # exists before the background job opens it, so the reader below never races
  "$BUILD_DIR/coffer" --home "$WORK/device$n" --server "$URL" --json device link --email "$EMAIL" \
    --name "device$n" >"$WORK/link$n.out" 2>&1 &
  link_pid=$!
  code=""
  for _ in $(seq 600); do  # the new device prints its pairing code, then waits for approval
    code=$(sed -n 's/.*"pairing_code": *"\([^"]*\)".*/\1/p' "$WORK/link$n.out" | head -1)
    [ -n "$code" ] && break
    kill -0 "$link_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$code" ]; then
    cat "$WORK/link$n.out" >&2
    echo "load.sh: device$n showed no pairing code" >&2
    exit 1
  fi
  "$BUILD_DIR/coffer" --home "$WORK/device1" --server "$URL" device approve "$code" >/dev/null
  wait "$link_pid"
  HOMES+=("$WORK/device$n")
done
"$BUILD_DIR/coffer" --home "$WORK/device1" --server "$URL" device list

home_args=()
for h in "${HOMES[@]}"; do home_args+=(--home "$h"); done
say "running $CLIENTS clients for $DURATION s"
status=0
"$BUILD_DIR/coffer_load_test" --server "$URL" --server-pid "$SERVER_PID" --duration "$DURATION" \
  --clients "$CLIENTS" --rss-csv "$WORK/rss.csv" "${home_args[@]}" || status=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "load.sh: the server died; last lines of its log:" >&2
  tail -20 "$WORK/server.log" >&2
  status=1
fi
say "server log: $(wc -l <"$WORK/server.log") lines, $(grep -cE ' 5[0-9]{2} [0-9]+ [0-9]+ms$' "$WORK/server.log" || true) with a 5xx status"
if grep -qiE 'terminate|exception|assert|sanitizer|accept failed' "$WORK/server.log"; then
  echo "load.sh: the server log reports a failure:" >&2
  grep -iE 'terminate|exception|assert|sanitizer|accept failed' "$WORK/server.log" | head -10 >&2
  status=1
fi
if [ -n "${LOAD_KEEP_RSS:-}" ]; then cp "$WORK/rss.csv" "$LOAD_KEEP_RSS"; fi
exit "$status"
