#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan+UBSan everywhere) and runs each for
# SECONDS on its seed corpus. Installs nothing (scripts/install-deps.sh installs clang).
#
#   fuzz/run.sh SECONDS [TARGET...]          e.g. fuzz/run.sh 10 (CI), fuzz/run.sh 600 s3_xml_fuzz
#   fuzz/run.sh --merge TARGET...            fold what earlier runs found into fuzz/corpus/<target>/
#                                            (libFuzzer -merge=1 -use_counters=0: only inputs that
#                                            reach an edge the seeds do not, so the repo stays small)
#
# Environment: COFFER_FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (targets run at once,
# default 1; the fuzzers are single-threaded), CXX_FUZZ (default clang++).
#
# Before fuzzing, each target replays its regressions (fuzz/crashes/<target>-*), so a finding
# that comes back fails even a 1-second run. Corpora: fuzz/corpus/<target>/ holds the committed
# seeds (read only here); what the fuzzer finds goes to $BUILD/corpus/<target>/. A crashing,
# leaking, timing-out or out-of-memory input lands in $BUILD/crashes/<target>-<kind>-<sha1>;
# reproduce it with `$BUILD/<target> FILE`.
# Output: one line per target (verdict, total runs, exec/s, cov, ft, corpus entries/bytes).
# Exit status: 0 when every target ran clean, 1 on any finding or build failure, 2 on usage.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: fuzz/run.sh SECONDS [TARGET...]   |   fuzz/run.sh --merge TARGET..." >&2
  exit 2
}

MODE=run
if [ "${1:-}" = "--merge" ]; then
  MODE=merge
  shift
  [ $# -gt 0 ] || usage
  SECONDS_PER_TARGET=0
else
  [ $# -gt 0 ] || usage
  SECONDS_PER_TARGET=$1
  shift
  [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || usage
fi
BUILD=${COFFER_FUZZ_BUILD_DIR:-build-fuzz}
CXX_FUZZ=${CXX_FUZZ:-clang++}
JOBS=${FUZZ_JOBS:-1}
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz/run.sh: FUZZ_JOBS must be a positive number" >&2; exit 2; }

# ---- targets ----
ALL_TARGETS=()
for src in fuzz/*_fuzz.cc; do ALL_TARGETS+=("$(basename "$src" .cc)"); done
if [ $# -gt 0 ]; then
  TARGETS=("$@")
  for t in "${TARGETS[@]}"; do
    [ -f "fuzz/$t.cc" ] || { echo "fuzz/run.sh: no target $t (have: ${ALL_TARGETS[*]})" >&2; exit 2; }
  done
else
  TARGETS=("${ALL_TARGETS[@]}")
fi

# ---- toolchain check (clang with the libFuzzer runtime) ----
if ! command -v "$CXX_FUZZ" >/dev/null 2>&1; then
  echo "fuzz/run.sh: $CXX_FUZZ not found. libFuzzer needs clang: scripts/install-deps.sh" \
       "(Debian 12: clang libclang-rt-14-dev)" >&2
  exit 1
fi
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf '#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
  >"$probe_dir/p.cc"
if ! "$CXX_FUZZ" -fsanitize=fuzzer,address,undefined "$probe_dir/p.cc" -o "$probe_dir/p" 2>"$probe_dir/err"; then
  echo "fuzz/run.sh: $CXX_FUZZ cannot link a libFuzzer target (is libclang-rt-14-dev installed?" \
       "scripts/install-deps.sh installs it):" >&2
  sed 's/^/  /' "$probe_dir/err" >&2
  exit 1
fi

# ---- build: only the requested targets, tests and benchmarks not even configured ----
mkdir -p "$BUILD"
generator=()
# A new build dir gets Ninja when there is one; an existing one keeps its generator.
if [ ! -f "$BUILD/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
cmake -S . -B "$BUILD" "${generator[@]}" -DCOFFER_FUZZ=ON -DCMAKE_CXX_COMPILER="$CXX_FUZZ" \
  -DCOFFER_BUILD_TESTS=OFF -DCOFFER_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  >"$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log" >&2; echo "fuzz/run.sh: cmake configure failed" >&2; exit 1; }
cmake --build "$BUILD" -j"${FUZZ_BUILD_JOBS:-2}" --target "${TARGETS[@]}" \
  || { echo "fuzz/run.sh: build failed" >&2; exit 1; }

# Largest input per target: a little above the largest valid input the seeds show.
max_len() {
  case "$1" in
    chain_verify_fuzz) echo 4096 ;;  # ~12 entries of 317 bytes
    keys_codes_fuzz | util_bytes_fuzz) echo 1024 ;;
    client_reply_fuzz) echo 8192 ;;
    s3_xml_fuzz) echo 16384 ;;  # a ListObjectsV2 page of a few dozen keys
    *) echo 4096 ;;
  esac
}

mkdir -p "$BUILD/crashes" "$BUILD/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# ---- merge mode ----
if [ "$MODE" = merge ]; then
  rc=0
  for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t" "$BUILD/corpus/$t"
    before=$(ls "fuzz/corpus/$t" | wc -l)
    "$BUILD/$t" -merge=1 -use_counters=0 -max_len="$(max_len "$t")" -timeout=30 -rss_limit_mb=2048 \
      "fuzz/corpus/$t" "$BUILD/corpus/$t" >"$BUILD/logs/$t.merge.log" 2>&1 || rc=1
    after=$(ls "fuzz/corpus/$t" | wc -l)
    echo "$t: fuzz/corpus/$t $before -> $after files ($(du -sh "fuzz/corpus/$t" | cut -f1))" \
         "log=$BUILD/logs/$t.merge.log"
  done
  exit $rc
fi

# Prints the summary line of one finished run and returns non-zero on a finding.
run_one() {
  local t=$1 bin="$BUILD/$1" log="$BUILD/logs/$1.log" summary="$BUILD/logs/$1.summary"
  if [ ! -x "$bin" ]; then
    echo "$t MISSING: $bin was not built" >"$summary"
    return 1
  fi
  # Regressions first: libFuzzer runs the files it is given once each and stops at a failure.
  local regressions=(fuzz/crashes/"$t"-*)
  if [ -e "${regressions[0]}" ]; then
    if ! "$bin" -runs=1 "${regressions[@]}" >"$BUILD/logs/$t.regressions.log" 2>&1; then
      echo "$t REGRESSION: a committed input of fuzz/crashes/ fails again;" \
           "log=$BUILD/logs/$t.regressions.log" >"$summary"
      return 1
    fi
  fi
  mkdir -p "$BUILD/corpus/$t"
  local seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
  local dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
  local start
  start=$(date +%s)
  "$bin" "$BUILD/corpus/$t" "${seeds[@]}" "${dict[@]}" \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$t")" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$BUILD/crashes/$t-" >"$log" 2>&1
  local rc=$?
  local secs=$(($(date +%s) - start))
  local runs eps cov ft corp
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  eps=$(grep "stat::average_exec_per_sec:" "$log" | tail -1 | awk '{print $2}')
  cov=$(grep -o ' cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  ft=$(grep -o ' ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  corp=$(grep -o ' corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | awk '{print $2}')
  local verdict=OK
  if [ $rc -ne 0 ]; then
    local kind
    kind=$(grep -o -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+|runtime error|FUZZ FINDING' "$log" \
           | head -1 | tr ' ' '_')
    verdict="FAILED(rc=$rc${kind:+,$kind})"
    local art
    art=$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/Test unit written to //')
    [ -n "$art" ] && verdict="$verdict reproduce: $bin $art"
  fi
  printf '%-22s %-4s runs=%-10s exec/s=%-7s cov=%-6s ft=%-7s corpus=%-13s time=%ss log=%s\n' \
    "$t" "$([ $rc -eq 0 ] && echo OK || echo FAIL)" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$secs" "$log" >"$summary"
  [ $rc -eq 0 ] || echo "    $verdict" >>"$summary"
  return $rc
}

echo "fuzzing ${#TARGETS[@]} target(s), ${SECONDS_PER_TARGET}s each, $JOBS at a time"
for t in "${TARGETS[@]}"; do rm -f "$BUILD/logs/$t.summary"; done
running=0
for t in "${TARGETS[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
wait

failed=0
echo "---- summary ----"
for t in "${TARGETS[@]}"; do
  if [ -f "$BUILD/logs/$t.summary" ]; then cat "$BUILD/logs/$t.summary"; else echo "$t: no summary"; fi
  grep -q "^$t  *OK " "$BUILD/logs/$t.summary" 2>/dev/null || failed=1
done
if [ $failed -ne 0 ]; then
  echo "fuzz/run.sh: at least one target failed (crash, leak, timeout, out of memory or a" \
       "fuzz finding); the reproducer is named above" >&2
  exit 1
fi
echo "fuzz/run.sh: no findings"
