#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan+UBSan everywhere) in build-fuzz and runs
# each for SECONDS (default 60) on its seed corpus. Installs nothing.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 300 server_request_fuzz
#
# Environment: COFFER_FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (targets run at once,
# default 1), CXX_FUZZ (default clang++).
# Corpora: fuzz/corpus/<target>/ holds the committed seeds (read only here); what the fuzzer
# finds goes to $BUILD/corpus/<target>/. A crashing input lands in $BUILD/crashes/<target>-*;
# reproduce it with `$BUILD/<target> FILE`. Exit status: 0 when no target crashed.
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-60}
shift || true
BUILD=${COFFER_FUZZ_BUILD_DIR:-build-fuzz}
CXX_FUZZ=${CXX_FUZZ:-clang++}
JOBS=${FUZZ_JOBS:-1}

if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi

# ---- toolchain check (clang with the libFuzzer runtime) ----
if ! command -v "$CXX_FUZZ" >/dev/null 2>&1; then
  echo "fuzz.sh: $CXX_FUZZ not found. libFuzzer needs clang: apt-get install clang libclang-rt-dev" \
       "(Debian 12: clang-14 libclang-rt-14-dev)" >&2
  exit 1
fi
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf '#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
  >"$probe_dir/p.cc"
if ! "$CXX_FUZZ" -fsanitize=fuzzer,address,undefined "$probe_dir/p.cc" -o "$probe_dir/p" 2>"$probe_dir/err"; then
  echo "fuzz.sh: $CXX_FUZZ cannot link a libFuzzer target (is libclang-rt-14-dev installed?):" >&2
  sed 's/^/  /' "$probe_dir/err" >&2
  exit 1
fi

# ---- build ----
mkdir -p "$BUILD"
cmake -S . -B "$BUILD" -DCOFFER_FUZZ=ON -DCMAKE_CXX_COMPILER="$CXX_FUZZ" -DCOFFER_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log" >&2; echo "fuzz.sh: cmake configure failed" >&2; exit 1; }
cmake --build "$BUILD" -j2 --target coffer_fuzz || { echo "fuzz.sh: build failed" >&2; exit 1; }

# ---- targets ----
if [ $# -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=()
  for src in fuzz/*_fuzz.cc; do TARGETS+=("$(basename "$src" .cc)"); done
fi

# Largest input per target: a little above the largest valid input the seeds show.
max_len() {
  case "$1" in
    client_formats_fuzz) echo 4096 ;;
    chain_verify_fuzz) echo 4096 ;;  # ~12 entries of 317 bytes
    keys_codes_fuzz) echo 1024 ;;
    util_bytes_fuzz) echo 1024 ;;
    server_request_fuzz) echo 4096 ;;
    client_reply_fuzz) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

mkdir -p "$BUILD/crashes" "$BUILD/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

run_one() {
  local t=$1 bin="$BUILD/$1" log="$BUILD/logs/$1.log"
  if [ ! -x "$bin" ]; then
    echo "MISSING $t: $bin was not built" >"$BUILD/logs/$t.summary"
    return 1
  fi
  mkdir -p "$BUILD/corpus/$t"
  local seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
  local dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
  local start=$(date +%s)
  "$bin" "$BUILD/corpus/$t" "${seeds[@]}" "${dict[@]}" \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$t")" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$BUILD/crashes/$t-" >"$log" 2>&1
  local rc=$?
  local secs=$(( $(date +%s) - start ))
  local execs cov ft corp
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  cov=$(grep -o ' cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  ft=$(grep -o ' ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  corp=$(grep -o ' corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | awk '{print $2}')
  local verdict=OK
  if [ $rc -ne 0 ]; then
    verdict="CRASH(rc=$rc)"
    local art
    art=$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/Test unit written to //')
    [ -n "$art" ] && verdict="$verdict input=$art"
  fi
  printf '%-22s %-8s execs=%-10s exec/s=%-7s cov=%-6s ft=%-7s corpus=%-12s time=%ss log=%s\n' \
    "$t" "$verdict" "${execs:-?}" "$(( ${execs:-0} / (secs > 0 ? secs : 1) ))" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$secs" "$log" >"$BUILD/logs/$t.summary"
  return $rc
}

echo "fuzzing ${#TARGETS[@]} target(s), ${SECONDS_PER_TARGET}s each, $JOBS at a time"
pids=()
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
done
wait

failed=0
echo "---- summary ----"
for t in "${TARGETS[@]}"; do
  cat "$BUILD/logs/$t.summary" 2>/dev/null || echo "$t: no summary"
  grep -q '^[^ ]* *OK ' "$BUILD/logs/$t.summary" 2>/dev/null || failed=1
done
if [ $failed -ne 0 ]; then
  echo "fuzz.sh: at least one target crashed or failed; see the logs above" >&2
  exit 1
fi
echo "fuzz.sh: no crashes"
