#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every unit, conformance,
# adversarial and end-to-end test (real coffer-server processes on loopback) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd "${COFFER_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 1200 "$@"
