#!/usr/bin/env python3
"""Benchmark driver: runs Coffer and the peer tools over the same corpus (issue 3).

Called by bench/run.sh (which installs the tools, builds Coffer and makes the corpus); it can
also be run on its own:

  driver.py --corpus DIR --make-corpus PATH --coffer-build DIR --work DIR --results DIR \
            [--runs N] [--tools coffer,restic,borg,rclone] [--drop-caches]

For every run and every tool (tools interleaved within a run, so slow drift of the machine
hits all of them alike):

  fresh work dir; cp -a CORPUS WORK/corpus; sync
  init        fresh repository (Coffer: a fresh coffer-server + `coffer account create`)
  backup      first upload of WORK/corpus                                     ; sync
  mutate      make_corpus.py --mutate WORK/corpus (not timed)                 ; sync
  incremental upload of the mutated tree into the same repository/account     ; sync
  unchanged   the same upload again with nothing changed                      ; sync
  restore     full restore into an empty folder                               ; sync
  verify      the restored tree against WORK/corpus, byte for byte (sha-256)

Each step runs under `/usr/bin/time -v` (client wall, user+sys CPU, peak RSS); `sync` right
after is timed separately. Bytes stored are `du -sb` of the repository (Coffer: the server's
data dir) after the step. Coffer's server CPU and peak RSS come from /proc/PID/stat and
/proc/PID/status before and after each step. One JSON object per step is appended to
RESULTS/steps.jsonl; every tool's output and `time -v` report is kept in RESULTS/logs/.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

PASSWORD = "coffer bench password (not secret)"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[driver {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def du_bytes(path):
    if not os.path.exists(path):
        return 0
    out = subprocess.run(["du", "-sb", path], capture_output=True, text=True)
    try:
        return int(out.stdout.split()[0])
    except (IndexError, ValueError):
        return None


def timed_sync():
    t0 = time.monotonic()
    subprocess.run(["sync"], check=False)
    return time.monotonic() - t0


def drop_caches():
    try:
        subprocess.run(["sync"], check=False)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def parse_time_v(path):
    """Fields of a `/usr/bin/time -v` report."""
    r = {}
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return r
    pats = {
        "user_s": r"User time \(seconds\): ([\d.]+)",
        "sys_s": r"System time \(seconds\): ([\d.]+)",
        "max_rss_kb": r"Maximum resident set size \(kbytes\): (\d+)",
        "exit_status": r"Exit status: (\d+)",
        "major_faults": r"Major \(requiring I/O\) page faults: (\d+)",
        "vol_ctx": r"Voluntary context switches: (\d+)",
        "invol_ctx": r"Involuntary context switches: (\d+)",
        "fs_in": r"File system inputs: (\d+)",
        "fs_out": r"File system outputs: (\d+)",
    }
    for k, p in pats.items():
        m = re.search(p, text)
        if m:
            r[k] = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    if m:
        parts = [float(x) for x in m.group(1).split(":")]
        secs = 0.0
        for x in parts:
            secs = secs * 60 + x
        r["time_v_wall_s"] = secs
    return r


def proc_stats(pid):
    """CPU seconds (user+sys, all threads) and peak/current RSS of a live process."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        utime, stime = int(fields[11]), int(fields[12])
        hwm = rss = None
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        return {"cpu_s": (utime + stime) / CLK_TCK, "user_s": utime / CLK_TCK, "sys_s": stime / CLK_TCK,
                "hwm_kb": hwm, "rss_kb": rss}
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------------------------------------
# Tree comparison

def walk_tree(root):
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            dirs.add(rel)
        for n in filenames:
            p = os.path.join(dirpath, n)
            r = os.path.normpath(os.path.join(rel, n))
            files[r] = p
    return files, dirs


def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.digest()


def compare_trees(expected, actual, pristine, report_path):
    """Byte-for-byte comparison of the restored tree `actual` against `expected`.

    Classifies the differences: files that the mutation deleted but the tool still restored
    (copy semantics, e.g. `coffer put` or `rclone copy`) are checked against the pristine
    corpus and reported as such; directories that only exist empty in `expected` and are
    missing from the restore are reported as such; anything else is a FAIL."""
    ef, ed = walk_tree(expected)
    af, ad = walk_tree(actual) if os.path.isdir(actual) else ({}, set())
    pf, _ = walk_tree(pristine)
    missing = sorted(set(ef) - set(af))
    extra = sorted(set(af) - set(ef))
    differ = []
    for r in sorted(set(ef) & set(af)):
        e, a = ef[r], af[r]
        if os.path.getsize(e) != os.path.getsize(a) or file_hash(e) != file_hash(a):
            differ.append(r)
    stale, bad_extra = [], []
    for r in extra:
        if r in pf and os.path.getsize(pf[r]) == os.path.getsize(af[r]) and file_hash(pf[r]) == file_hash(af[r]):
            stale.append(r)
        else:
            bad_extra.append(r)
    missing_dirs = sorted(ed - ad)
    extra_dirs = sorted(ad - ed)
    # A missing dir is benign only if it holds no file in `expected`.
    empty_missing = [d for d in missing_dirs if not any(f.startswith(d + "/") for f in ef)]
    bad_missing_dirs = sorted(set(missing_dirs) - set(empty_missing))
    # Extra dirs are benign if they only hold stale files (deleted upstream, kept by copy semantics).
    stale_dirs = {os.path.dirname(r) for r in stale}
    bad_extra_dirs = [d for d in extra_dirs if not any(s == d or s.startswith(d + "/") for s in stale_dirs)]

    with open(report_path, "w") as f:
        f.write(f"expected {expected}: {len(ef)} files, {len(ed)} dirs\n")
        f.write(f"actual   {actual}: {len(af)} files, {len(ad)} dirs\n")
        for name, lst in [("MISSING FILE", missing), ("CONTENT DIFFERS", differ),
                          ("EXTRA FILE (not in pristine corpus or content differs)", bad_extra),
                          ("STALE FILE (deleted by the mutation, restored with its original content)", stale),
                          ("MISSING NON-EMPTY DIR", bad_missing_dirs), ("MISSING EMPTY DIR", empty_missing),
                          ("EXTRA DIR", bad_extra_dirs)]:
            for r in lst:
                f.write(f"{name}: {r}\n")
    failed = missing or differ or bad_extra or bad_missing_dirs or bad_extra_dirs
    if failed:
        status = (f"FAIL(missing={len(missing)},differ={len(differ)},extra={len(bad_extra)},"
                  f"missing_dirs={len(bad_missing_dirs)},extra_dirs={len(bad_extra_dirs)})")
    else:
        notes = []
        if stale:
            notes.append(f"{len(stale)}-deleted-files-kept")
        if empty_missing:
            notes.append(f"{len(empty_missing)}-empty-dirs-missing")
        status = "ok" if not notes else "ok-files(" + ",".join(notes) + ")"
    return status, {"files_expected": len(ef), "files_restored": len(af), "missing": len(missing),
                    "differ": len(differ), "bad_extra": len(bad_extra), "stale_deleted": len(stale),
                    "missing_empty_dirs": len(empty_missing), "bad_missing_dirs": len(bad_missing_dirs),
                    "bad_extra_dirs": len(bad_extra_dirs), "first_problems": (missing + differ + bad_extra)[:10]}


# ---------------------------------------------------------------------------------------------
# Tools. Each tool knows how to set up a repository, run the four steps and where the restore
# lands; `sent` parses the bytes the step put on the wire (None when the tool cannot tell).

class Tool:
    name = "?"

    def __init__(self, work, logs):
        self.work = work
        self.logs = logs
        self.repo = os.path.join(work, "repo")
        self.src = os.path.join(work, "corpus")
        self.restore_dir = os.path.join(work, "restore")
        self.env = dict(os.environ)
        self.cwd = work
        self.server_pid = None

    def start(self):
        pass

    def stop(self):
        pass

    def init_cmd(self):
        return None

    def restored_root(self):
        return self.restore_dir

    def sent(self, step, stdout_path, stderr_path):
        return None

    def received(self, step, stdout_path, stderr_path):
        return None

    def version(self):
        return ""

    def extra(self, step, stdout_path, stderr_path):
        return None

    def cache_bytes(self):
        return None


class Coffer(Tool):
    name = "coffer"

    def __init__(self, work, logs, build):
        super().__init__(work, logs)
        self.client = os.path.join(build, "coffer")
        self.server = os.path.join(build, "coffer-server")
        self.repo = os.path.join(work, "server-data")
        self.home = os.path.join(work, "home")
        self.env["COFFER_PASSWORD"] = PASSWORD
        self.env.pop("COFFER_TEST_FAST_KDF", None)  # production Argon2 parameters
        self.url = None
        self.proc = None

    def start(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server_log = os.path.join(self.logs, "server.log")
        self.proc = subprocess.Popen([self.server, "--data", self.repo, "--listen", f"127.0.0.1:{port}"],
                                     stdout=open(self.server_log, "w"), stderr=subprocess.STDOUT,
                                     env=self.env, start_new_session=True)
        self.server_pid = self.proc.pid
        for _ in range(300):
            text = open(self.server_log, errors="replace").read()
            m = re.search(r"listening on (\S+)", text)
            if m:
                self.url = m.group(1)
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"coffer-server exited: {text}")
            time.sleep(0.05)
        else:
            raise RuntimeError("coffer-server did not start listening within 15 s")
        self.base = [self.client, "--home", self.home, "--server", self.url, "--json"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.server_pid = None

    def init_cmd(self):
        return self.base + ["account", "create", "--email", "bench@example.org", "--device-name", "bench",
                            "--recovery-key-file", os.path.join(self.work, "recovery-key.txt")]

    def step_cmd(self, step):
        if step in ("backup", "incremental", "unchanged"):
            return self.base + ["put", self.src, "/"]
        if step == "restore":
            return self.base + ["get", "/corpus", self.restore_dir]

    def restored_root(self):
        return os.path.join(self.restore_dir, "corpus")

    def _json(self, stdout_path):
        try:
            return json.loads(open(stdout_path).read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            return {}

    def sent(self, step, stdout_path, stderr_path):
        return self._json(stdout_path).get("bytes_sent")

    def received(self, step, stdout_path, stderr_path):
        return self._json(stdout_path).get("bytes_received")

    def extra(self, step, stdout_path, stderr_path):
        return self._json(stdout_path) or None

    def cache_bytes(self):
        return du_bytes(self.home)

    def version(self):
        try:
            rev = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short",
                                  "HEAD"], capture_output=True, text=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "status",
                                    "--porcelain", "--untracked-files=no"], capture_output=True,
                                   text=True).stdout.strip()
            return f"coffer {rev}{' (+uncommitted changes)' if dirty else ''}, Release build"
        except OSError:
            return "coffer (unknown revision)"


class Restic(Tool):
    name = "restic"

    def __init__(self, work, logs):
        super().__init__(work, logs)
        pw = os.path.join(work, "password")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        self.env.update(RESTIC_PASSWORD_FILE=pw, RESTIC_REPOSITORY=self.repo,
                        RESTIC_CACHE_DIR=os.path.join(work, "restic-cache"))

    def init_cmd(self):
        return ["restic", "init"]

    def step_cmd(self, step):
        if step in ("backup", "incremental", "unchanged"):
            return ["restic", "backup", "--host", "bench", "--json", self.src]
        if step == "restore":
            return ["restic", "restore", "latest", "--target", self.restore_dir]

    def restored_root(self):
        return self.restore_dir + self.src

    def sent(self, step, stdout_path, stderr_path):
        if step == "restore":
            return None
        for line in reversed(open(stdout_path, errors="replace").read().splitlines()):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("message_type") == "summary":
                return j.get("data_added")
        return None

    def cache_bytes(self):
        return du_bytes(os.path.join(self.work, "restic-cache"))

    def version(self):
        return subprocess.run(["restic", "version"], capture_output=True, text=True).stdout.strip()


class Borg(Tool):
    name = "borg"

    def __init__(self, work, logs):
        super().__init__(work, logs)
        pw = os.path.join(work, "password")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        self.env.update(BORG_PASSCOMMAND=f"cat {pw}", BORG_BASE_DIR=os.path.join(work, "borg-base"),
                        BORG_REPO=self.repo, BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no")
        self.archive = 0

    def init_cmd(self):
        return ["borg", "init", "--encryption=repokey-blake2"]

    def step_cmd(self, step):
        if step in ("backup", "incremental", "unchanged"):
            self.archive += 1
            self.cwd = self.work
            return ["borg", "create", "--json", f"::a{self.archive}", "corpus"]
        if step == "restore":
            os.makedirs(self.restore_dir, exist_ok=True)
            self.cwd = self.restore_dir
            return ["borg", "extract", f"::a{self.archive}"]

    def restored_root(self):
        return os.path.join(self.restore_dir, "corpus")

    def sent(self, step, stdout_path, stderr_path):
        if step == "restore":
            return None
        try:
            return json.load(open(stdout_path))["archive"]["stats"]["deduplicated_size"]
        except (OSError, ValueError, KeyError):
            return None

    def cache_bytes(self):
        return du_bytes(os.path.join(self.work, "borg-base"))

    def version(self):
        return subprocess.run(["borg", "--version"], capture_output=True, text=True).stdout.strip()


class Rclone(Tool):
    name = "rclone"

    def __init__(self, work, logs):
        super().__init__(work, logs)
        conf = os.path.join(work, "rclone.conf")

        def obscure(s):
            return subprocess.run(["rclone", "obscure", s], capture_output=True, text=True,
                                  check=True).stdout.strip()
        with open(conf, "w") as f:
            f.write(f"[bcrypt]\ntype = crypt\nremote = {self.repo}\n"
                    f"password = {obscure(PASSWORD)}\npassword2 = {obscure(PASSWORD + ' salt')}\n")
        os.chmod(conf, 0o600)
        self.env["RCLONE_CONFIG"] = conf
        os.makedirs(self.repo, exist_ok=True)
        self.flags = ["--stats", "1h", "--stats-log-level", "NOTICE", "--use-json-log"]

    def step_cmd(self, step):
        if step == "backup":
            return ["rclone", "copy", self.src, "bcrypt:"] + self.flags
        if step in ("incremental", "unchanged"):
            return ["rclone", "sync", self.src, "bcrypt:"] + self.flags
        if step == "restore":
            return ["rclone", "copy", "bcrypt:", os.path.join(self.restore_dir, "corpus")] + self.flags

    def restored_root(self):
        return os.path.join(self.restore_dir, "corpus")

    def _bytes(self, stderr_path):
        last = None
        for line in open(stderr_path, errors="replace"):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if "stats" in j:
                last = j["stats"].get("bytes")
        return last

    def sent(self, step, stdout_path, stderr_path):
        return None if step == "restore" else self._bytes(stderr_path)

    def received(self, step, stdout_path, stderr_path):
        return self._bytes(stderr_path) if step == "restore" else None

    def version(self):
        return subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.splitlines()[0]


# ---------------------------------------------------------------------------------------------

def run_step(tool, step, cmd, logdir, timeout):
    out = os.path.join(logdir, f"{step}.stdout")
    err = os.path.join(logdir, f"{step}.stderr")
    tv = os.path.join(logdir, f"{step}.time")
    with open(os.path.join(logdir, f"{step}.cmd"), "w") as f:
        f.write(" ".join(cmd) + "\n")
    try:
        load = float(open("/proc/loadavg").read().split()[0])
    except (OSError, ValueError, IndexError):
        load = None
    srv0 = proc_stats(tool.server_pid)
    t0 = time.monotonic()
    try:
        p = subprocess.run(["/usr/bin/time", "-v", "-o", tv] + cmd, stdout=open(out, "w"), stderr=open(err, "w"),
                           env=tool.env, cwd=tool.cwd, timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    wall = time.monotonic() - t0
    srv1 = proc_stats(tool.server_pid)
    sync_s = timed_sync()
    srv2 = proc_stats(tool.server_pid)
    rec = {"wall_s": wall, "rc": rc, "sync_s": sync_s, "loadavg_before": load}
    rec.update(parse_time_v(tv))
    if "user_s" in rec:
        rec["cpu_s"] = rec["user_s"] + rec["sys_s"]
    if srv0 and srv1:
        rec["server_cpu_s"] = srv1["cpu_s"] - srv0["cpu_s"]
        rec["server_user_s"] = srv1["user_s"] - srv0["user_s"]
        rec["server_sys_s"] = srv1["sys_s"] - srv0["sys_s"]
        rec["server_hwm_kb"] = srv1["hwm_kb"]
        rec["server_rss_kb"] = srv1["rss_kb"]
        if srv2:
            rec["server_cpu_during_sync_s"] = srv2["cpu_s"] - srv1["cpu_s"]
    try:
        rec["sent_bytes"] = tool.sent(step, out, err)
        rec["received_bytes"] = tool.received(step, out, err)
        rec["tool_json"] = tool.extra(step, out, err)
    except OSError:
        pass
    if rc != 0:
        tail = open(err, errors="replace").read()[-1500:]
        rec["error_tail"] = tail
        log(f"  {tool.name} {step}: exit {rc}: {tail.strip()[-400:]}")
    return rec


def stats_of(make_corpus, path):
    out = subprocess.run([sys.executable, make_corpus, "--stats", path], capture_output=True, text=True)
    try:
        j = json.loads(out.stdout)
    except ValueError:
        j = {}
    # Count independently as well: the report must not depend on the generator's stats format.
    files, size = 0, 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            files += 1
            size += os.lstat(os.path.join(dirpath, n)).st_size
    return {"files": files, "bytes": size, "make_corpus_stats": j}


def mutation_delta(pristine, mutated):
    """Files a whole-file tool must re-read: new or changed in size/mtime; and deleted files."""
    def sizes(root):
        out = {}
        for dirpath, _, names in os.walk(root):
            for n in names:
                st = os.lstat(os.path.join(dirpath, n))
                out[os.path.relpath(os.path.join(dirpath, n), root)] = (st.st_size, st.st_mtime_ns)
        return out
    a, b = sizes(pristine), sizes(mutated)
    changed = [r for r, v in b.items() if a.get(r) != v]
    return {"changed_files": len(changed), "changed_bytes": sum(b[r][0] for r in changed),
            "deleted_files": len(set(a) - set(b))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--make-corpus", required=True)
    ap.add_argument("--coffer-build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--run-start", type=int, default=1)
    ap.add_argument("--tools", default="coffer,restic,borg,rclone")
    ap.add_argument("--drop-caches", action="store_true", help="drop the page cache before every step")
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--keep-work", action="store_true")
    a = ap.parse_args()

    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    for t in tools:
        if t not in ("coffer", "restic", "borg", "rclone"):
            sys.exit(f"unknown tool {t}")
    os.makedirs(a.results, exist_ok=True)
    steps_path = os.path.join(a.results, "steps.jsonl")
    base_stats = stats_of(a.make_corpus, a.corpus)
    log(f"corpus {a.corpus}: {base_stats['files']} files, {base_stats['bytes'] / 1e6:.1f} MB")

    versions = {}
    exit_code = 0
    for run in range(a.run_start, a.run_start + a.runs):
        for name in tools:
            logdir = os.path.join(a.results, "logs", f"run{run}", name)
            shutil.rmtree(logdir, ignore_errors=True)
            os.makedirs(logdir)
            work = os.path.join(a.work, name)
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            log(f"run {run} {name}: copying the corpus")
            subprocess.run(["cp", "-a", a.corpus, os.path.join(work, "corpus")], check=True)
            timed_sync()
            if name == "coffer":
                tool = Coffer(work, logdir, a.coffer_build)
            else:
                tool = {"restic": Restic, "borg": Borg, "rclone": Rclone}[name](work, logdir)
            versions[name] = tool.version()
            mutated_stats = None
            try:
                tool.start()
                plan = ["init", "backup", "mutate", "incremental", "unchanged", "restore"]
                for step in plan:
                    rec = {"tool": name, "run": run, "step": step, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                    if step == "mutate":
                        t0 = time.monotonic()
                        p = subprocess.run([sys.executable, a.make_corpus, "--mutate", tool.src],
                                           capture_output=True, text=True)
                        open(os.path.join(logdir, "mutate.log"), "w").write(p.stdout + p.stderr)
                        if p.returncode != 0:
                            raise RuntimeError(f"make_corpus.py --mutate failed: {p.stderr[-500:]}")
                        rec.update(wall_s=time.monotonic() - t0, sync_s=timed_sync(), rc=0)
                        mutated_stats = stats_of(a.make_corpus, tool.src)
                        rec.update(mutation_delta(a.corpus, tool.src))
                        try:
                            rec["mutate_output"] = json.loads(p.stdout)
                        except ValueError:
                            pass
                        rec.update(logical_bytes=mutated_stats["bytes"], files=mutated_stats["files"])
                    else:
                        cmd = tool.init_cmd() if step == "init" else tool.step_cmd(step)
                        if cmd is None:
                            continue
                        if step == "restore":
                            os.makedirs(tool.restore_dir, exist_ok=True)  # an empty folder
                        if a.drop_caches and step != "init":
                            drop_caches()
                        log(f"run {run} {name}: {step}")
                        rec.update(run_step(tool, step, cmd, logdir, a.timeout))
                        st = mutated_stats or base_stats
                        rec.update(logical_bytes=st["bytes"], files=st["files"])
                        rec["stored_bytes"] = du_bytes(tool.repo)
                        rec["client_cache_bytes"] = tool.cache_bytes()
                        if step == "restore" and rec["rc"] == 0:
                            status, detail = compare_trees(tool.src, tool.restored_root(), a.corpus,
                                                           os.path.join(logdir, "verify.txt"))
                            rec["verify"] = status
                            rec["verify_detail"] = detail
                            log(f"run {run} {name}: restore verification: {status}")
                            if status.startswith("FAIL"):
                                exit_code = 1
                        if rec["rc"] != 0:
                            exit_code = 1
                    with open(steps_path, "a") as f:
                        f.write(json.dumps(rec) + "\n")
                    if rec.get("rc") != 0:
                        log(f"run {run} {name}: {step} failed; skipping the rest of this tool's run")
                        break
                    if step != "init":
                        log(f"run {run} {name}: {step} {rec['wall_s']:.2f} s (+sync {rec['sync_s']:.2f} s)")
            except Exception as e:  # one tool failing must not stop the others
                exit_code = 1
                log(f"run {run} {name}: ERROR {e}")
                with open(steps_path, "a") as f:
                    f.write(json.dumps({"tool": name, "run": run, "step": "error", "error": str(e)}) + "\n")
            finally:
                tool.stop()
                if not a.keep_work:
                    t0 = time.monotonic()
                    shutil.rmtree(work, ignore_errors=True)
                    log(f"run {run} {name}: removed the work dir in {time.monotonic() - t0 + timed_sync():.1f} s")

    meta_path = os.path.join(a.results, "meta.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    meta.setdefault("versions", {}).update(versions)
    meta["corpus"] = a.corpus
    meta["corpus_stats"] = base_stats
    meta["drop_caches"] = a.drop_caches
    json.dump(meta, open(meta_path, "w"), indent=1)
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
