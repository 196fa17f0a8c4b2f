#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run). Stages, each labelled with its wall time:
#   deps      scripts/install-deps.sh (installs only what is missing)
#   build     scripts/build.sh (g++, RelWithDebInfo, build/)
#   engines   a throwaway PostgreSQL cluster and a single-node Ceph RGW, both on 127.0.0.1, by
#             the project's own scripts; stopped on exit
#   suite     every unit, conformance, adversarial and end-to-end test (real coffer-server
#             processes on loopback) with ctest, on the embedded engines, the scale-out
#             engines and a 3-instance cluster
#   sanitize  scripts/sanitize.sh: one clang build with ASan+UBSan (build-asan) and the
#             whole suite under it, except the 20 engines/cluster e2e duplicates (set
#             COFFER_SANITIZE_ENGINES=1 to include them)
#   fuzz      fuzz/run.sh: every libFuzzer target for COFFER_CI_FUZZ_SECONDS (default 10) s,
#             two at a time (FUZZ_JOBS), built in the same build-asan (no third build)
# A failing stage does not stop the independent ones after it (all failures in one run);
# the exit status is non-zero if any stage failed.
#
#   scripts/test.sh [extra ctest args for the suite stage]
#
# Environment: COFFER_CI_SANITIZE=0 skips sanitize, COFFER_CI_FUZZ_SECONDS=0 skips fuzz (for
# quick local runs; CI runs both), COFFER_SKIP_ENGINES=1 skips the engines (their tests then
# fail), COFFER_ENGINES_DIR (default $TMPDIR/coffer-engines), COFFER_BUILD_DIR (default build),
# COFFER_ASAN_BUILD_DIR (default build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

stage_names=()
stage_results=()
stage_seconds=()
stage_cpu=()
failed=0
# CPU seconds (user + sys) of every finished child so far, from the shell's `times`. Engines
# started in the background are not waited for, so they are not counted.
# (`times` must run in this shell, not in a pipe's subshell, to see this shell's children.)
CPU_FILE=$(mktemp)
# `times` must run in this shell, not in a $(...) subshell (whose children are not ours):
# record_cpu writes it to CPU_FILE, children_cpu reads the children's user+sys seconds.
record_cpu() { times >"$CPU_FILE"; }
children_cpu() {
  tail -1 "$CPU_FILE" | awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); n += a[1] * 60 + a[2] } printf "%d", n }'
}
# run_stage NAME COMMAND...: runs one stage, records its result, wall time and CPU time (the
# CPU time tells what the stage would take on an idle machine when others share this one).
run_stage() {
  local name=$1 start=$SECONDS cpu0 rc=0
  record_cpu
  cpu0=$(children_cpu)
  shift
  echo
  echo "==== stage $name: begin $(date -u +%H:%M:%S) UTC"
  "$@" || rc=$?
  record_cpu
  local secs=$((SECONDS - start)) cpu=$(($(children_cpu) - cpu0))
  stage_names+=("$name")
  stage_seconds+=("$secs")
  stage_cpu+=("$cpu")
  if [ $rc -eq 0 ]; then
    stage_results+=(ok)
    echo "==== stage $name: ok in $((secs / 60))m$((secs % 60))s (cpu ${cpu}s)"
  else
    stage_results+=("FAILED(rc=$rc)")
    failed=1
    echo "==== stage $name: FAILED (rc=$rc) after $((secs / 60))m$((secs % 60))s (cpu ${cpu}s)"
  fi
  return $rc
}
skip_stage() {
  stage_names+=("$1")
  stage_seconds+=(0)
  stage_cpu+=(0)
  stage_results+=("skipped ($2)")
  echo
  echo "==== stage $1: skipped ($2)"
}
summary() {
  echo
  echo "==== summary (total $((SECONDS / 60))m$((SECONDS % 60))s)"
  local i
  for i in "${!stage_names[@]}"; do
    printf '  %-9s wall %5ss  cpu %5ss  %s\n' "${stage_names[$i]}" "${stage_seconds[$i]}" \
      "${stage_cpu[$i]}" "${stage_results[$i]}"
  done
}

ENGINES="${COFFER_ENGINES_DIR:-${TMPDIR:-/tmp}/coffer-engines}"
# Absolute paths: the trap may run from another directory.
stop_engines() {
  if [ -x "$ROOT/scripts/ceph.sh" ]; then "$ROOT/scripts/ceph.sh" stop "$ENGINES/ceph" --purge || true; fi
  if [ -x "$ROOT/scripts/postgres.sh" ]; then "$ROOT/scripts/postgres.sh" stop "$ENGINES/pg" --purge || true; fi
}
on_exit() {
  local rc=$?
  if [ "${engines_started:-0}" = 1 ]; then stop_engines; fi
  summary
  rm -f "$CPU_FILE"
  exit $rc
}
trap on_exit EXIT

# Each engine script installs its Debian packages if missing, starts the engine in DIR and
# writes DIR/env (COFFER_TEST_POSTGRES_URL; COFFER_TEST_S3_URL and its credentials). The
# engine tests fail, never skip, when those variables are missing. (`set -e` does not act
# inside a function called from `||`, hence the explicit returns.)
start_engines() {
  mkdir -p "$ENGINES" || return 1
  ENGINES=$(cd "$ENGINES" && pwd) || return 1
  engines_started=1
  if [ -x scripts/postgres.sh ]; then
    scripts/postgres.sh start "$ENGINES/pg" || return 1
    # shellcheck disable=SC1091
    source "$ENGINES/pg/env" || return 1
  fi
  if [ -x scripts/ceph.sh ]; then
    scripts/ceph.sh start "$ENGINES/ceph" || return 1
    # shellcheck disable=SC1091
    source "$ENGINES/ceph/env" || return 1
  fi
}
run_suite() {
  (cd "${COFFER_BUILD_DIR:-build}" && ctest --output-on-failure -j"$(nproc)" --timeout 1200 "$@")
}

# Without the packages or a build nothing below can run: those two stop the run.
run_stage deps scripts/install-deps.sh || exit 1
run_stage build scripts/build.sh || exit 1

if [ "${COFFER_SKIP_ENGINES:-0}" != 1 ]; then
  # Sourcing the env files must happen in this shell, so no subshell here.
  run_stage engines start_engines || exit 1
else
  skip_stage engines "COFFER_SKIP_ENGINES=1"
fi

run_stage suite run_suite "$@" || true

if [ "${COFFER_CI_SANITIZE:-1}" != 0 ]; then
  # The 20 engines/cluster e2e variants are left out here (about 1 minute, for the 30-minute
  # CI budget): they run the same client and server code as the embedded variant, which does
  # run sanitized, and the engines' own code runs sanitized in their conformance suites.
  run_stage sanitize env COFFER_SANITIZE_ENGINES="${COFFER_SANITIZE_ENGINES:-0}" scripts/sanitize.sh || true
else
  skip_stage sanitize "COFFER_CI_SANITIZE=0"
fi
# The fuzzers need no engine: stop them now rather than at exit.
if [ "${engines_started:-0}" = 1 ]; then stop_engines; engines_started=0; fi

fuzz_seconds=${COFFER_CI_FUZZ_SECONDS:-10}
if [ "$fuzz_seconds" != 0 ]; then
  fuzz_build=${COFFER_ASAN_BUILD_DIR:-build-asan}
  # The sanitize stage's clang build already holds the fuzz targets; without it (skipped, or
  # a g++ sanitize build) fuzz/run.sh builds them in its own build-fuzz.
  if [ "${COFFER_CI_SANITIZE:-1}" = 0 ] || ! grep -q '^COFFER_FUZZ:BOOL=ON' "$fuzz_build/CMakeCache.txt" 2>/dev/null; then
    fuzz_build=${COFFER_FUZZ_BUILD_DIR:-build-fuzz}
  fi
  # Two targets at a time: each fuzzer is single-threaded and CI has 2 cores.
  run_stage fuzz env COFFER_FUZZ_BUILD_DIR="$fuzz_build" FUZZ_JOBS="${FUZZ_JOBS:-2}" \
    fuzz/run.sh "$fuzz_seconds" || true
else
  skip_stage fuzz "COFFER_CI_FUZZ_SECONDS=0"
fi

exit $failed
