#!/usr/bin/env bash
# Sync scan benchmark (issue "two-way sync"): a tree of N small files (default 100,000 in
# 1,000 folders) synced once, then
#   1. a pass over the unchanged tree (metadata only: no file is read, nothing is sent), and
#   2. a pass after 1% of the files were edited in place,
# reporting wall time, CPU time, peak RSS and bytes sent/received (HTTP bodies and headers as
# counted by the client), on the embedded server on loopback.
# Usage: bench/sync_bench.sh [FILES] [WORKDIR]      (builds first with scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-100000}
WORK=${2:-/tmp/coffer-sync-bench}
BUILD=${COFFER_BUILD_DIR:-build}
scripts/build.sh >/dev/null
rm -rf "$WORK"; mkdir -p "$WORK"
export COFFER_PASSWORD="bench password" COFFER_HOME="$WORK/home"

"$BUILD/coffer-server" --data "$WORK/server" --listen 127.0.0.1:0 --quiet >"$WORK/server.out" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q listening "$WORK/server.out" && break; sleep 0.1; done
export COFFER_SERVER=$(sed -n 's/.*listening on //p' "$WORK/server.out")
"$BUILD/coffer" account create --email bench@example.org --device-name bench \
  --recovery-key-file "$WORK/rk.txt" >/dev/null

python3 - "$WORK/tree" "$FILES" <<'PY'
import os, sys, random
root, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
per_dir = 100
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // per_dir // 10), "e%04d" % (i // per_dir))
    if i % per_dir == 0: os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.txt" % i), "wb") as f:
        f.write(os.urandom(random.randint(100, 3000)))
PY

measure() {  # measure LABEL: runs one sync pass under /usr/bin/time, prints a table row
  local label=$1
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.txt" \
    "$BUILD/coffer" --json sync "$WORK/tree" /bench >"$WORK/pass.json"
  read -r wall user sys rss <"$WORK/time.txt"
  python3 - "$label" "$wall" "$user" "$sys" "$rss" "$WORK/pass.json" <<'PY'
import json, sys
label, wall, user, sys_, rss, path = sys.argv[1:]
r = json.load(open(path))["roots"][0]
print(f"| {label} | {float(wall):.2f} s | {float(user)+float(sys_):.2f} s | {int(rss)/1024:.0f} MB | "
      f"{r['uploaded']} | {r['bytes_sent']/1e6:.2f} MB | {r['bytes_received']/1e6:.2f} MB |")
PY
}

echo "Sync scan benchmark: $FILES files, $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)"
echo
echo "| pass | wall | CPU | peak RSS | files uploaded | bytes sent | bytes received |"
echo "|---|---|---|---|---|---|---|"
measure "first sync (all new)"
measure "unchanged tree"
python3 - "$WORK/tree" "$FILES" <<'PY'
import os, sys, random
root, n = sys.argv[1], int(sys.argv[2])
random.seed(2)
paths = []
for dp, _, fs in os.walk(root):
    paths += [os.path.join(dp, f) for f in fs]
for p in random.sample(sorted(paths), max(1, n // 100)):
    with open(p, "ab") as f: f.write(b"edited\n")
PY
measure "after 1% of files edited"
measure "unchanged again"
