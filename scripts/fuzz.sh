#!/usr/bin/env bash
# Kept for old instructions: the fuzzing entry point is fuzz/run.sh (same arguments, SECONDS
# defaulting to 60 here).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
exec fuzz/run.sh "$SECONDS_PER_TARGET" "$@"
