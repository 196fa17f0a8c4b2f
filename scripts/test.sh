#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, starts the scale-out engines (a
# throwaway PostgreSQL cluster and a single-node Ceph RGW, both on 127.0.0.1, by the project's
# own scripts), then runs every unit, conformance, adversarial and end-to-end test (real
# coffer-server processes on loopback) with ctest. The engines are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

# Each engine script installs its Debian packages if missing, starts the engine in DIR and
# writes DIR/env (COFFER_TEST_POSTGRES_URL; COFFER_TEST_S3_URL and its credentials). The
# engine tests fail, never skip, when those variables are missing.
ROOT=$(pwd)
ENGINES="${COFFER_ENGINES_DIR:-${TMPDIR:-/tmp}/coffer-engines}"
mkdir -p "$ENGINES"
ENGINES=$(cd "$ENGINES" && pwd)
# Absolute paths: the trap runs after the `cd` into the build directory below.
stop_engines() {
  if [ -x "$ROOT/scripts/ceph.sh" ]; then "$ROOT/scripts/ceph.sh" stop "$ENGINES/ceph" --purge || true; fi
  if [ -x "$ROOT/scripts/postgres.sh" ]; then "$ROOT/scripts/postgres.sh" stop "$ENGINES/pg" --purge || true; fi
}
if [ "${COFFER_SKIP_ENGINES:-0}" != 1 ]; then
  trap stop_engines EXIT
  if [ -x scripts/postgres.sh ]; then
    scripts/postgres.sh start "$ENGINES/pg"
    # shellcheck disable=SC1091
    source "$ENGINES/pg/env"
  fi
  if [ -x scripts/ceph.sh ]; then
    scripts/ceph.sh start "$ENGINES/ceph"
    # shellcheck disable=SC1091
    source "$ENGINES/ceph/env"
  fi
fi

cd "${COFFER_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 1200 "$@"
