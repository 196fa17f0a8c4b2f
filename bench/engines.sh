#!/usr/bin/env bash
# Ingest and restore throughput of Coffer on its storage engines (issue 7), same corpus, same
# machine, same client: `coffer put CORPUS /` then `coffer get /CORPUS OUT` against
#   embedded  one coffer-server on SQLite + local files (the default)
#   engines   one coffer-server on PostgreSQL + S3 (Ceph RGW)
#   cluster   three coffer-server instances on PostgreSQL + S3 behind HAProxy (scripts/cluster.sh)
#
#   bench/engines.sh [--scale S] [--runs N] [--backends embedded,engines,cluster] [--corpus DIR]
#
#   --scale S     corpus scale for make_corpus.py (default 0.1: ~2,340 files, ~120 MB)
#   --runs N      runs per backend; the table shows medians (default 3)
#   --corpus DIR  use this tree instead of generating one
#
# Every run starts from empty storage (a fresh data dir, PostgreSQL schema and S3 key prefix)
# and a fresh device profile; the restored tree is compared with the corpus byte for byte.
# The engines come from COFFER_TEST_POSTGRES_URL and COFFER_TEST_S3_URL (+ AWS_* keys); when
# they are not set, scripts/postgres.sh and scripts/ceph.sh start throwaway ones under the
# work dir (and stop them at the end). Work dir: $COFFER_BENCH_DIR (default /tmp/coffer-bench).
# Binaries: $COFFER_BUILD_DIR (default build/). Prints a Markdown table; raw rows in
# WORK/engines-results.tsv. Client and server use the production Argon2 parameters.
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
SCALE=0.1
RUNS=3
BACKENDS=embedded,engines,cluster
CORPUS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --backends) BACKENDS="$2"; shift 2 ;;
    --corpus) CORPUS="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "engines.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$RUNS" in ''|*[!0-9]*|0) echo "engines.sh: --runs needs a positive integer" >&2; exit 2 ;; esac

WORK="${COFFER_BENCH_DIR:-/tmp/coffer-bench}"
BUILD_DIR="${COFFER_BUILD_DIR:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
COFFER="$BUILD_DIR/coffer"
SERVER="$BUILD_DIR/coffer-server"
for b in "$COFFER" "$SERVER"; do
  [ -x "$b" ] || { echo "engines.sh: $b is missing; build first (scripts/build.sh) or set COFFER_BUILD_DIR" >&2; exit 1; }
done
mkdir -p "$WORK"
export COFFER_PASSWORD="coffer bench password (not secret)"

# ---- corpus ----------------------------------------------------------------------------------
if [ -z "$CORPUS" ]; then
  MAKE_CORPUS=""
  for c in "${COFFER_MAKE_CORPUS:-}" /work/shared/bench/make_corpus.py "$ROOT/../shared/bench/make_corpus.py"; do
    if [ -n "$c" ] && [ -f "$c" ]; then MAKE_CORPUS="$c"; break; fi
  done
  [ -n "$MAKE_CORPUS" ] || { echo "engines.sh: make_corpus.py not found; set COFFER_MAKE_CORPUS or pass --corpus DIR" >&2; exit 1; }
  CORPUS="$WORK/corpus-$SCALE"
  if [ ! -f "$CORPUS.done" ]; then
    rm -rf "$CORPUS"
    python3 "$MAKE_CORPUS" "$CORPUS" --scale "$SCALE" >/dev/null
    touch "$CORPUS.done"
  fi
fi
CORPUS="$(cd "$CORPUS" && pwd)"
NAME="$(basename "$CORPUS")"
read -r FILES BYTES < <(python3 - "$CORPUS" <<'EOF'
import os, sys
n = b = 0
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        p = os.path.join(d, f)
        if os.path.isfile(p) and not os.path.islink(p):
            n += 1; b += os.path.getsize(p)
print(n, b)
EOF
)

# ---- engines ---------------------------------------------------------------------------------
STARTED_ENGINES=0
cleanup() {
  if [ -n "${SERVER_PID:-}" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; fi
  [ -f "$WORK/run/cluster/pids" ] && "$ROOT/scripts/cluster.sh" stop "$WORK/run/cluster" || true
  if [ $STARTED_ENGINES = 1 ]; then
    "$ROOT/scripts/ceph.sh" stop "$WORK/engines/ceph" || true
    "$ROOT/scripts/postgres.sh" stop "$WORK/engines/pg" || true
  fi
}
trap cleanup EXIT
if [[ "$BACKENDS" == *engines* || "$BACKENDS" == *cluster* ]]; then
  if [ -z "${COFFER_TEST_POSTGRES_URL:-}" ] || [ -z "${COFFER_TEST_S3_URL:-}" ]; then
    STARTED_ENGINES=1
    "$ROOT/scripts/postgres.sh" start "$WORK/engines/pg" >&2
    # shellcheck disable=SC1091
    source "$WORK/engines/pg/env"
    "$ROOT/scripts/ceph.sh" start "$WORK/engines/ceph" >&2
    # shellcheck disable=SC1091
    source "$WORK/engines/ceph/env"
  fi
fi

now() { date +%s.%N; }
# A fresh, unique namespace in the shared database and bucket.
fresh_engine_urls() {
  local ns
  ns=$(python3 -c 'import secrets; print(secrets.token_hex(6))')
  local pg="$COFFER_TEST_POSTGRES_URL" s3="$COFFER_TEST_S3_URL"
  case "$pg" in *\?*) META="$pg&schema=bench_$ns" ;; *) META="$pg?schema=bench_$ns" ;; esac
  BLOBS="${s3%%\?*}/bench-$ns"
  case "$s3" in *\?*) BLOBS="$BLOBS?${s3#*\?}" ;; esac
}

# start_server BACKEND: sets URL (and SERVER_PID for single instances).
start_server() {
  local backend=$1 run="$WORK/run"
  rm -rf "$run"
  mkdir -p "$run"
  SERVER_PID=""
  case "$backend" in
    embedded) "$SERVER" --data "$run/data" --listen 127.0.0.1:0 --quiet >"$run/server.out" 2>"$run/server.log" & SERVER_PID=$! ;;
    engines)
      fresh_engine_urls
      "$SERVER" --metadata "$META" --blobs "$BLOBS" --listen 127.0.0.1:0 --quiet >"$run/server.out" 2>"$run/server.log" &
      SERVER_PID=$! ;;
    cluster)
      fresh_engine_urls
      COFFER_METADATA="$META" COFFER_BLOBS="$BLOBS" COFFER_SERVER_BIN="$SERVER" \
        "$ROOT/scripts/cluster.sh" start "$run/cluster" 3 -- --quiet >&2
      URL=$(sed -n "s/^export COFFER_CLUSTER_URL='\(.*\)'$/\1/p" "$run/cluster/env")
      return 0 ;;
    *) echo "engines.sh: unknown backend $backend" >&2; exit 2 ;;
  esac
  for _ in $(seq 1 300); do
    URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$run/server.out" 2>/dev/null || true)
    [ -n "$URL" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$run/server.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "engines.sh: coffer-server did not start" >&2
  exit 1
}

stop_server() {
  if [ -n "${SERVER_PID:-}" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  else
    "$ROOT/scripts/cluster.sh" stop "$WORK/run/cluster"
  fi
}

RESULTS="$WORK/engines-results.tsv"
printf 'backend\trun\tfiles\tbytes\tingest_s\trestore_s\n' >"$RESULTS"
IFS=, read -r -a BACKEND_LIST <<<"$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
  for run in $(seq 1 "$RUNS"); do
    start_server "$backend"
    home="$WORK/run/home"
    c=("$COFFER" --home "$home" --server "$URL")
    "${c[@]}" account create --email bench@example.org --recovery-key-file "$WORK/run/rk.txt" >/dev/null
    sync
    t0=$(now)
    "${c[@]}" put "$CORPUS" / >"$WORK/run/put.out"
    t1=$(now)
    mkdir -p "$WORK/run/restore"
    "${c[@]}" get "/$NAME" "$WORK/run/restore" >"$WORK/run/get.out"
    t2=$(now)
    diff -rq "$CORPUS" "$WORK/run/restore/$NAME" >/dev/null ||
      { echo "engines.sh: $backend run $run: the restored tree differs from the corpus" >&2; exit 1; }
    ingest=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
    restore=$(python3 -c "print(f'{$t2 - $t1:.2f}')")
    printf '%s\t%s\t%s\t%s\t%.2f\t%.2f\n' "$backend" "$run" "$FILES" "$BYTES" "$ingest" "$restore" >>"$RESULTS"
    echo "engines.sh: $backend run $run: put ${ingest}s, get ${restore}s" >&2
    stop_server
  done
done

python3 - "$RESULTS" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("| backend | runs | files | MB | ingest s (median) | ingest MB/s | restore s (median) | restore MB/s |")
print("|---|---|---|---|---|---|---|---|")
for b in dict.fromkeys(r["backend"] for r in rows):
    rs = [r for r in rows if r["backend"] == b]
    mb = int(rs[0]["bytes"]) / 1e6
    ing = statistics.median(float(r["ingest_s"]) for r in rs)
    res = statistics.median(float(r["restore_s"]) for r in rs)
    print(f"| {b} | {len(rs)} | {rs[0]['files']} | {mb:.1f} | {ing:.2f} | {mb/ing:.1f} | {res:.2f} | {mb/res:.1f} |")
EOF
