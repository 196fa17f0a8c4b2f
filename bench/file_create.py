#!/usr/bin/env python3
"""Kernel cost of small files, for bench/limits.sh (prints one JSON object).

  file_create.py DIR N SIZE     create+write N files of SIZE bytes in 100 subfolders, then
                                sync; then open+read them all; then unlink them all
  file_create.py --scan TREE    os.walk + lstat of every entry of TREE (what an incremental
                                upload must at least do), twice: the second pass is cached
"""
import json
import os
import resource
import shutil
import sys
import time


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def scan(tree):
    out = {}
    for label in ("first", "cached"):
        t0, (u0, s0) = time.monotonic(), cpu()
        n = 0
        for dirpath, dirnames, filenames in os.walk(tree):
            for name in dirnames + filenames:
                os.lstat(os.path.join(dirpath, name))
                n += 1
        u1, s1 = cpu()
        out[label] = {"entries": n, "wall_s": time.monotonic() - t0, "user_s": u1 - u0, "sys_s": s1 - s0,
                      "us_per_entry": (time.monotonic() - t0) / max(n, 1) * 1e6}
    return out


def create(root, n, size):
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    payload = os.urandom(size)
    dirs = [os.path.join(root, f"d{i:03d}") for i in range(100)]
    for d in dirs:
        os.mkdir(d)
    t0, (u0, s0) = time.monotonic(), cpu()
    for i in range(n):
        with open(os.path.join(dirs[i % 100], f"f{i:06d}"), "wb") as f:
            f.write(payload)
    t_written = time.monotonic()
    os.sync()
    t1, (u1, s1) = time.monotonic(), cpu()
    res = {"files": n, "size": size, "create_write_s": t_written - t0, "sync_s": t1 - t_written,
           "total_s": t1 - t0, "us_per_file": (t1 - t0) / n * 1e6, "sys_us_per_file": (s1 - s0) / n * 1e6,
           "user_s": u1 - u0, "sys_s": s1 - s0, "MB_per_s": n * size / (t1 - t0) / 1e6}
    t0 = time.monotonic()
    for i in range(n):
        with open(os.path.join(dirs[i % 100], f"f{i:06d}"), "rb") as f:
            f.read()
    res["read_us_per_file"] = (time.monotonic() - t0) / n * 1e6
    t0 = time.monotonic()
    for i in range(n):
        os.unlink(os.path.join(dirs[i % 100], f"f{i:06d}"))
    os.sync()
    res["unlink_us_per_file"] = (time.monotonic() - t0) / n * 1e6
    shutil.rmtree(root)
    return res


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--scan":
        print(json.dumps(scan(sys.argv[2])))
    elif len(sys.argv) == 4:
        print(json.dumps(create(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
    else:
        sys.exit(__doc__)
