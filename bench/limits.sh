#!/usr/bin/env bash
# Physical limits of this machine, measured in the same run as the tools (issue 3):
#   disk sequential write with fdatasync (zeros, and random bytes staged in /dev/shm),
#   sequential read from the page cache and after dropping the caches (root only),
#   kernel cost of creating/reading/unlinking small files, and of scanning the corpus tree,
#   crypto, hash and chunking throughput of Coffer's primitives (coffer_micro_bench).
#
#   bench/limits.sh OUTDIR MICRO_BENCH_BINARY [CORPUS_DIR]
#
# Environment: LIMITS_DISK_MB (default 1024), LIMITS_FILES (default 20000),
# LIMITS_BENCH_FILTER (default 'BM_Crypto|BM_Chunk'), COFFER_BENCH_TMP (default /tmp/coffer-bench).
# Raw outputs go to OUTDIR (dd_*.txt, file_create.json, scan.json, micro_bench.json);
# bench/report.py reads them.
set -uo pipefail
OUT="${1:?usage: limits.sh OUTDIR MICRO_BENCH_BINARY [CORPUS_DIR]}"
BENCH_BIN="${2:?usage: limits.sh OUTDIR MICRO_BENCH_BINARY [CORPUS_DIR]}"
CORPUS="${3:-}"
HERE="$(cd "$(dirname "$0")" && pwd)"
TMP="${COFFER_BENCH_TMP:-/tmp/coffer-bench}/limits"
MB="${LIMITS_DISK_MB:-1024}"
NFILES="${LIMITS_FILES:-20000}"
FILTER="${LIMITS_BENCH_FILTER:-BM_Crypto|BM_Chunk}"
mkdir -p "$OUT" "$TMP"
say() { echo "[limits $(date +%H:%M:%S)] $*"; }

can_drop=0
if [ -w /proc/sys/vm/drop_caches ]; then can_drop=1; fi
drop() { sync; if [ "$can_drop" = 1 ]; then echo 3 >/proc/sys/vm/drop_caches; fi; }

say "disk write, ${MB} MiB of zeros, conv=fdatasync"
rm -f "$TMP/ddtest"
dd if=/dev/zero of="$TMP/ddtest" bs=1M count="$MB" conv=fdatasync 2>"$OUT/dd_write_zero.txt"
tail -1 "$OUT/dd_write_zero.txt"

shm_free_mb=$(df -Pm /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')
if [ -n "$shm_free_mb" ] && [ "$shm_free_mb" -gt $((MB + 256)) ]; then
  say "disk write, ${MB} MiB of random bytes staged in /dev/shm, conv=fdatasync"
  head -c $((MB * 1048576)) /dev/urandom >/dev/shm/coffer-bench-rand
  rm -f "$TMP/ddtest2"
  dd if=/dev/shm/coffer-bench-rand of="$TMP/ddtest2" bs=1M conv=fdatasync 2>"$OUT/dd_write_random.txt"
  tail -1 "$OUT/dd_write_random.txt"
  rm -f /dev/shm/coffer-bench-rand "$TMP/ddtest2"
fi

say "read from the page cache"
dd if="$TMP/ddtest" of=/dev/null bs=1M 2>/dev/null  # make sure it is cached
dd if="$TMP/ddtest" of=/dev/null bs=1M 2>"$OUT/dd_read_cached.txt"
tail -1 "$OUT/dd_read_cached.txt"
if [ "$can_drop" = 1 ]; then
  say "read after drop_caches"
  drop
  dd if="$TMP/ddtest" of=/dev/null bs=1M 2>"$OUT/dd_read_cold.txt"
  tail -1 "$OUT/dd_read_cold.txt"
else
  say "cannot drop caches (not root): no cold read figure"
  rm -f "$OUT/dd_read_cold.txt"
fi
rm -f "$TMP/ddtest"

say "create+write ${NFILES} x 1 KiB files then sync; read; unlink"
python3 "$HERE/file_create.py" "$TMP/fc" "$NFILES" 1024 >"$OUT/file_create.json"
cat "$OUT/file_create.json"; echo
say "create+write 200 x 1 MiB files then sync"
python3 "$HERE/file_create.py" "$TMP/fc" 200 1048576 >"$OUT/file_create_1m.json"
cat "$OUT/file_create_1m.json"; echo

if [ -n "$CORPUS" ] && [ -d "$CORPUS" ]; then
  say "scan (walk + lstat) of the corpus tree"
  drop
  python3 "$HERE/file_create.py" --scan "$CORPUS" >"$OUT/scan.json"
  cat "$OUT/scan.json"; echo
fi

if [ -x "$BENCH_BIN" ]; then
  say "coffer_micro_bench --benchmark_filter='$FILTER'"
  "$BENCH_BIN" --benchmark_filter="$FILTER" --benchmark_format=json >"$OUT/micro_bench.json" 2>"$OUT/micro_bench.stderr" ||
    say "coffer_micro_bench failed (see $OUT/micro_bench.stderr)"
else
  say "no micro-benchmark binary at $BENCH_BIN: crypto limits will be missing"
fi
rmdir "$TMP" 2>/dev/null || true
say "done"
