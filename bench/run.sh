#!/usr/bin/env bash
# Coffer against restic, borg and rclone crypt on the same corpus, same machine, same run
# (issue 3). Writes bench/RESULTS.md and bench/results.svg.
#
#   bench/run.sh [--scale S] [--runs N] [--tools coffer,restic,borg,rclone] [--drop-caches]
#                [--no-limits] [--no-install] [--no-build]
#
#   --scale S     corpus scale for make_corpus.py (1.0 = ~1.19 GB, 23,400 files; default 1.0)
#   --runs N      runs per tool; the report shows medians (default 3)
#   --tools LIST  which tools, comma-separated (default: all four)
#   --drop-caches drop the page cache before every measured step (root only; default: warm,
#                 like the reference figures in ../shared/bench/PEERS.md)
#
# Steps: installs restic, borgbackup, rclone, gnuplot-nox, python3 and time (apt-get, only
# what is missing); builds Coffer (Release, build dir $COFFER_BUILD_DIR, default build-bench);
# generates the corpus once per scale into $COFFER_BENCH_DIR (default /tmp/coffer-bench);
# measures the machine's limits (bench/limits.sh); runs every tool (bench/driver.py); writes
# the report (bench/report.py). Raw data: $COFFER_BENCH_DIR/results/scale-S/.
# COFFER_PASSWORD is set for the Coffer client; Argon2 stays at its production parameters.
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
SCALE=1.0
RUNS=3
TOOLS=coffer,restic,borg,rclone
DROP=""
LIMITS=1
INSTALL=1
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --tools) TOOLS="$2"; shift 2 ;;
    --drop-caches) DROP="--drop-caches"; shift ;;
    --no-limits) LIMITS=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$RUNS" in ''|*[!0-9]*) echo "run.sh: --runs needs a positive integer" >&2; exit 2 ;; esac
python3 -c "import sys; s=float(sys.argv[1]); sys.exit(0 if s > 0 else 1)" "$SCALE" 2>/dev/null ||
  { echo "run.sh: --scale needs a positive number" >&2; exit 2; }

WORKDIR="${COFFER_BENCH_DIR:-/tmp/coffer-bench}"
BUILD_DIR="${COFFER_BUILD_DIR:-build-bench}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
RESULTS="$WORKDIR/results/scale-$SCALE"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
T_START=$(date +%s)

# ---- packages --------------------------------------------------------------------------
if [ "$INSTALL" = 1 ]; then
  say "Packages"
  PKGS=(restic borgbackup rclone gnuplot-nox python3 time)
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "restic, borgbackup, rclone, gnuplot-nox, python3, time: installed"
  fi
  "$ROOT/scripts/install-deps.sh"
fi
for t in $(echo "$TOOLS" | tr ',' ' '); do
  case "$t" in
    coffer) ;;
    restic|borg|rclone) command -v "$t" >/dev/null || { echo "run.sh: $t is not installed" >&2; exit 1; } ;;
    *) echo "run.sh: unknown tool $t (coffer, restic, borg, rclone)" >&2; exit 2 ;;
  esac
done
[ -x /usr/bin/time ] || { echo "run.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

# ---- build -----------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  say "Building Coffer (Release) in $BUILD_DIR"
  COFFER_BUILD_DIR="$BUILD_DIR" COFFER_BUILD_TYPE=Release "$ROOT/scripts/build.sh"
fi
for b in coffer coffer-server; do
  [ -x "$BUILD_DIR/$b" ] || { echo "run.sh: $BUILD_DIR/$b is missing (build failed?)" >&2; exit 1; }
done

# ---- corpus ----------------------------------------------------------------------------
MAKE_CORPUS=""
for c in /work/shared/bench/make_corpus.py "$ROOT/../shared/bench/make_corpus.py"; do
  if [ -f "$c" ]; then MAKE_CORPUS="$(cd "$(dirname "$c")" && pwd)/make_corpus.py"; break; fi
done
if [ -z "$MAKE_CORPUS" ]; then
  echo "run.sh: the corpus generator make_corpus.py was not found at /work/shared/bench/ nor at" >&2
  echo "        $ROOT/../shared/bench/ (the shared folder beside the repository); it is needed." >&2
  exit 1
fi
CORPUS="$WORKDIR/corpus-$SCALE"
mkdir -p "$WORKDIR"
if [ ! -f "$CORPUS.done" ] || [ "$(cat "$CORPUS.done")" != "$(sha256sum "$MAKE_CORPUS" | cut -c1-64)" ]; then
  say "Generating the corpus at scale $SCALE into $CORPUS"
  rm -rf "$CORPUS" "$CORPUS.done"
  python3 "$MAKE_CORPUS" "$CORPUS" --scale "$SCALE"
  sync
  sha256sum "$MAKE_CORPUS" | cut -c1-64 >"$CORPUS.done"
else
  say "Corpus at scale $SCALE already in $CORPUS"
fi
python3 "$MAKE_CORPUS" --stats "$CORPUS" | head -c 2000; echo

# ---- machine limits --------------------------------------------------------------------
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
if [ "$LIMITS" = 1 ]; then
  say "Machine limits"
  COFFER_BENCH_TMP="$WORKDIR" "$BENCH/limits.sh" "$RESULTS/limits" "$BUILD_DIR/coffer_micro_bench" "$CORPUS"
fi

# ---- the tools -------------------------------------------------------------------------
say "Running $TOOLS, $RUNS run(s), scale $SCALE"
python3 - "$RESULTS/meta.json" "$SCALE" "$RUNS" "$TOOLS" "$MAKE_CORPUS" "$BUILD_DIR" <<'PY'
import json, sys
json.dump({"scale": float(sys.argv[2]), "runs": int(sys.argv[3]), "tools": sys.argv[4].split(","),
           "make_corpus": sys.argv[5], "build_dir": sys.argv[6]}, open(sys.argv[1], "w"), indent=1)
PY
T_TOOLS=$(date +%s)
rc=0
python3 "$BENCH/driver.py" --corpus "$CORPUS" --make-corpus "$MAKE_CORPUS" --coffer-build "$BUILD_DIR" \
  --work "$WORKDIR/work" --results "$RESULTS" --runs "$RUNS" --tools "$TOOLS" $DROP || rc=$?
T_END=$(date +%s)
python3 - "$RESULTS/meta.json" "$T_START" "$T_TOOLS" "$T_END" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["harness_wall_s"] = int(sys.argv[4]) - int(sys.argv[2])
m["tools_wall_s"] = int(sys.argv[4]) - int(sys.argv[3])
json.dump(m, open(sys.argv[1], "w"), indent=1)
PY

# ---- report ----------------------------------------------------------------------------
say "Report"
python3 "$BENCH/report.py" "$RESULTS" --out "$BENCH/RESULTS.md" --svg "$BENCH/results.svg"
echo "harness wall time: $((T_END - T_START)) s (tools: $((T_END - T_TOOLS)) s); raw data in $RESULTS"
if [ "$rc" -ne 0 ]; then
  echo "run.sh: some step failed or a restore did not verify; see RESULTS.md and $RESULTS/logs" >&2
fi
exit "$rc"
