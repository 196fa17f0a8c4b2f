#!/usr/bin/env bash
# Builds Coffer with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan and runs
# the whole test suite under them. Installs nothing (scripts/install-deps.sh installs clang).
#
#   scripts/sanitize.sh [extra ctest args]      e.g. scripts/sanitize.sh -R Journal
#
# The compiler is clang (CXX_SAN=clang++, the default) configured with -DCOFFER_FUZZ=ON: one
# build then holds both the sanitized test suite and the libFuzzer targets, so CI runs
# `COFFER_FUZZ_BUILD_DIR=build-asan fuzz/run.sh 10` without a third build. CXX_SAN=g++ gives
# a plain -DCOFFER_SANITIZE=ON build (no fuzz targets); a build dir keeps its compiler.
#
# What runs: every ctest test (unit, conformance, adversarial, end-to-end with real processes,
# the 200 MB RoundTrip, the 100-kill crash test, the engines/cluster variants), with one
# change that keeps the same checks but fits the CI time: the ~2,200 parameterised Wycheproof
# vectors (".../Tid<n>", one process each under ctest) run in ONE process instead
# (crypto_tests --gtest_filter='Wycheproof/*').
# The PostgreSQL/S3 tests and the `engines.*`/`cluster.*` e2e variants need the engines'
# environment (scripts/test.sh starts them; or scripts/postgres.sh and scripts/ceph.sh start
# DIR, then source DIR/env). COFFER_SANITIZE_ENGINES=0 leaves the 20 `engines.*`/`cluster.*`
# variants out (about 1 minute): they run the same client and server code as the embedded
# variant, which always runs here.
# Environment: COFFER_ASAN_BUILD_DIR (default build-asan), CXX_SAN (default clang++),
# CTEST_JOBS (default 2), COFFER_SANITIZE_ENGINES (default 1), BUILD_JOBS (default 2).
#
# Sanitizer reports: every process (test binaries and the coffer, coffer-server and
# coffer-staff processes the e2e tests start) writes its report to
# $BUILD/sanitizer-reports/<tool>.<pid>, and the process exits non-zero. A report from a
# child process could be hidden by a test that expects a failing exit code, or by a server
# the harness stops, so the run FAILS whenever that directory is not empty, whatever ctest
# says, and prints the reports.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${COFFER_ASAN_BUILD_DIR:-build-asan}
CXX_SAN=${CXX_SAN:-clang++}
if [ -f "$BUILD/CMakeCache.txt" ]; then
  # A build dir keeps its compiler (CMake refuses to switch): follow it.
  cached=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
  [ -n "$cached" ] && CXX_SAN=$cached
fi
command -v "$CXX_SAN" >/dev/null || {
  echo "sanitize.sh: $CXX_SAN not found (scripts/install-deps.sh installs clang)" >&2; exit 1; }

san_opts=(-DCOFFER_SANITIZE=ON)
case "$(basename "$CXX_SAN")" in
  clang++*) san_opts=(-DCOFFER_FUZZ=ON) ;;  # ASan+UBSan everywhere, plus the fuzz targets
esac
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [ -f "$BUILD/CMakeCache.txt" ]; then gen=(); fi  # keep whatever generator the dir has
mkdir -p "$BUILD"
t0=$SECONDS
cmake -S . -B "$BUILD" "${gen[@]}" "${san_opts[@]}" -DCMAKE_CXX_COMPILER="$CXX_SAN" \
  -DCOFFER_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOFFER_BUILD_BENCH=OFF \
  >"$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log" >&2; echo "sanitize.sh: cmake configure failed" >&2; exit 1; }
cmake --build "$BUILD" -j"${BUILD_JOBS:-2}"
echo "sanitize.sh: build ($CXX_SAN, ${san_opts[*]}) took $((SECONDS - t0)) s"

REPORTS="$(cd "$BUILD" && pwd)/sanitizer-reports"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
# Leaks are errors; UB stops the process with a stack (the build also has
# -fno-sanitize-recover=undefined). Child processes inherit these.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}:log_path=$REPORTS/asan
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}:log_path=$REPORTS/ubsan
export COFFER_TEST_FAST_KDF=1

exclude='/Tid[0-9]+( |$)'
for var in COFFER_TEST_POSTGRES_URL COFFER_TEST_S3_URL; do
  [ -n "${!var:-}" ] || echo "sanitize.sh: warning: $var is not set, so the tests of that engine" \
    "will fail; scripts/test.sh starts the engines (or scripts/postgres.sh / scripts/ceph.sh start DIR," \
    "then source DIR/env)" >&2
done
if [ "${COFFER_SANITIZE_ENGINES:-1}" = 0 ]; then exclude="$exclude|^(engines|cluster)\\."; fi

cd "$BUILD"
status=0
t0=$SECONDS
ctest --output-on-failure -j"${CTEST_JOBS:-2}" --timeout 1200 -E "$exclude" "$@" || status=1
echo "sanitize.sh: ctest took $((SECONDS - t0)) s"
if [ $# -eq 0 ]; then
  t0=$SECONDS
  if ./crypto_tests --gtest_filter='Wycheproof/*' --gtest_brief=1; then
    echo "sanitize.sh: Wycheproof vectors (one process) passed in $((SECONDS - t0)) s"
  else
    echo "sanitize.sh: Wycheproof vectors FAILED" >&2
    status=1
  fi
fi

# LeakSanitizer's exit-time check suspends every thread of the process; when a thread is
# itself exiting at that instant it writes only "==N==Unable to get registers from thread M."
# and checks nothing else. That is the tool giving up, not a finding: such files are shown
# as a warning and removed; any other line in any file fails the stage.
for f in "$REPORTS"/*; do
  [ -f "$f" ] || continue
  if ! grep -qv '^==[0-9]*==Unable to get registers from thread [0-9]*\.$' "$f"; then
    echo "sanitize.sh: warning: $(basename "$f"): LeakSanitizer could not suspend an exiting thread (no finding):" \
         "$(head -1 "$f")" >&2
    rm -f "$f"
  fi
done
if [ -n "$(ls -A "$REPORTS")" ]; then
  echo "sanitize.sh: $(ls "$REPORTS" | wc -l) sanitizer report(s) in $REPORTS:" >&2
  for f in "$REPORTS"/*; do
    echo "==== $f" >&2
    head -60 "$f" >&2
  done
  status=1
fi
[ $status -eq 0 ] && echo "sanitize.sh: passed, no sanitizer report"
exit $status
