#!/usr/bin/env python3
"""Shared helpers for the end-to-end tests (python3 stdlib only).

    from e2elib import Checks, Procs, BalloonVM, Daemon, Ctl
    c = Checks()
    procs = Procs()                       # every child in its own group,
    vm = BalloonVM(procs, exe, tmp, "a", "256M")   # killed at exit
    d = Daemon(procs, exe, tmp, tick_ms=200)
    ctl = Ctl(ctl_exe, d.socket)
    r = ctl("list", "--json")             # -> CompletedProcess (.rc .json)
    ...
    sys.exit(c.finish())                  # "N passed, N failed"

Cleanup: Procs starts every process with start_new_session=True and kills
its whole process group (SIGTERM, then SIGKILL) at exit, from atexit and
from a SIGTERM handler (meson sends SIGTERM on a timeout), so a failed or
timed-out test leaves nothing behind.  QEMU guests are stopped by
tests/qemu/guest.py's own atexit hook.
"""

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "qemu"))

from guest import stop_guests_on_sigterm, wait_until  # noqa: E402,F401
from qmp import QMP, QMPError  # noqa: E402,F401

MiB = 1 << 20
PAGE = 4096
BALLOON_PATH = "/machine/peripheral/balloon0"


class Checks:
    """Prints every check as it is made; finish() prints the summary line
    and returns the exit status."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.t0 = time.monotonic()

    def check(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(what)
        return bool(cond)

    def note(self, what):
        print("     " + what, flush=True)

    def elapsed(self):
        return time.monotonic() - self.t0

    def run_steps(self, steps):
        """Run each (name, fn) in turn; an exception fails that step only,
        and the next one still runs."""
        for name, fn in steps:
            t0 = time.monotonic()
            print(f"--- {name}", flush=True)
            try:
                fn()
            except Exception as e:
                self.check(False, f"{name}: {type(e).__name__}: {e}")
            self.note(f"{name}: {time.monotonic() - t0:.2f} s")

    def finish(self, budget_s=None):
        t = self.elapsed()
        if budget_s is not None:
            self.check(t <= budget_s, f"total time {t:.1f} s <= {budget_s} s")
        else:
            print(f"time total = {t:.1f} s")
        if self.failures:
            print("failed checks:")
            for f in self.failures:
                print("  - " + f)
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed or not self.passed else 0


def tmpdir(prefix):
    """A temporary directory removed at exit."""
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    return d


class Procs:
    """Children started in their own process groups, all killed at exit."""

    def __init__(self):
        self.live = []
        atexit.register(self.kill_all)
        stop_guests_on_sigterm()  # SIGTERM -> sys.exit -> atexit hooks

    def start(self, argv, log_path):
        log = open(log_path, "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT,
                             start_new_session=True)
        log.close()
        self.live.append(p)
        return p

    def kill(self, p, sig=signal.SIGKILL):
        """Send sig to p's process group (p is its leader)."""
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, p, timeout=5.0):
        """SIGTERM, wait, then SIGKILL; returns the exit status."""
        if p.poll() is None:
            self.kill(p, signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(p, signal.SIGKILL)
                p.wait()
        self.kill(p, signal.SIGKILL)  # anything left in its group
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def kill_all(self):
        with NoSigterm():
            for p in list(self.live):
                self.stop(p, timeout=2.0)


class NoSigterm:
    """with NoSigterm(): cleanup that a SIGTERM must not cut short (the
    signal is held and delivered when the block ends)."""

    def __enter__(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})

    def __exit__(self, *exc):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def log_tail(path, n=15):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return ""


def wait_socket(path, proc, timeout, what):
    """Wait until path accepts a connection (proc must stay alive)."""
    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return True
        except OSError:
            return False
        finally:
            s.close()
    wait_until(ready, timeout, 0.05, f"{what} socket {path}")


class BalloonVM:
    """One balloonvm process with its QMP socket in dir."""

    def __init__(self, procs, exe, dir_, name, memory, opts=(),
                 timeout=30):
        self.procs = procs
        self.name = name
        self.memory = memory
        self.qmp_path = os.path.join(dir_, name + ".qmp")
        self.log_path = os.path.join(dir_, name + ".log")
        self.argv = [exe, "--name", name, "--memory", memory,
                     "--qmp", self.qmp_path, "--dir", dir_] + list(opts)
        t0 = time.monotonic()
        self.proc = procs.start(self.argv, self.log_path)
        try:
            wait_socket(self.qmp_path, self.proc, timeout, f"balloonvm {name}")
        except Exception:
            print(log_tail(self.log_path), file=sys.stderr)
            raise
        self.boot_s = time.monotonic() - t0

    @property
    def pid(self):
        return self.proc.pid

    def qmp(self, timeout=10.0):
        return QMP(self.qmp_path, timeout=timeout)

    def kill(self):
        self.procs.kill(self.proc, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        return self.procs.stop(self.proc)

    def rss(self):
        """RssAnon + RssShmem of the process, bytes."""
        return proc_rss(self.proc.pid)


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def proc_rss(pid):
    """RssAnon + RssShmem from /proc/PID/status, in bytes."""
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("RssAnon", "RssShmem"):
                vals[k] = int(v.split()[0]) * 1024
    return vals.get("RssAnon", 0) + vals.get("RssShmem", 0)


class Daemon:
    """balloond with its socket, state file and log in dir."""

    def __init__(self, procs, exe, dir_, tick_ms=200, config=None,
                 metrics=None, log_level="debug", tag="balloond"):
        self.procs = procs
        self.exe = exe
        self.dir = dir_
        self.socket = os.path.join(dir_, "ctl.sock")
        self.state = os.path.join(dir_, "state.json")
        self.log_path = os.path.join(dir_, tag + ".log")
        self.argv = [exe, "--socket", self.socket, "--state", self.state,
                     "--tick-ms", str(tick_ms), "--log-level", log_level]
        if config:
            self.argv += ["--config", config]
        if metrics:
            self.argv += ["--metrics", metrics]
        self.proc = None
        self.start()

    def start(self, timeout=15):
        with open(self.log_path, "ab") as f:
            f.write(f"--- start {time.strftime('%T')} ---\n".encode())
        self.proc = self.procs.start(self.argv, self.log_path)
        try:
            wait_socket(self.socket, self.proc, timeout, "balloond")
        except Exception:
            print(log_tail(self.log_path, 30), file=sys.stderr)
            raise

    def kill9(self):
        self.procs.kill(self.proc, signal.SIGKILL)
        self.proc.wait()
        if self.proc in self.procs.live:
            self.procs.live.remove(self.proc)

    def stop(self):
        return self.procs.stop(self.proc)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class CtlResult:
    def __init__(self, argv, r):
        self.argv = argv
        self.rc = r.returncode
        self.out = r.stdout
        self.err = r.stderr
        try:
            self.json = json.loads(r.stdout) if r.stdout.strip() else None
        except ValueError:
            self.json = None

    def __str__(self):
        return (f"$ {' '.join(self.argv)}  -> rc {self.rc}\n{self.out}"
                + (f"[stderr] {self.err}" if self.err else ""))


class Ctl:
    """Runs balloonctl against one daemon socket."""

    def __init__(self, exe, sock):
        self.exe = exe
        self.sock = sock

    def __call__(self, *args, timeout=90):
        argv = [self.exe, "--socket", self.sock] + [str(a) for a in args]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout, check=False)
        return CtlResult(argv[0:1] + [str(a) for a in args], r)

    def info(self, vm):
        r = self("--json", "info", vm)
        if r.rc != 0 or not isinstance(r.json, dict):
            raise RuntimeError(f"balloonctl info {vm} failed: {r}")
        return r.json


class Watcher:
    """A QMP connection that only listens: records every BALLOON_CHANGE
    event and can poll query-balloon, to prove nothing moved."""

    def __init__(self, path):
        self.q = QMP(path, timeout=5.0)
        self.events = []
        self.actuals = []

    def poll(self, wait=0.0):
        for ev in self.q.events(wait):
            if ev.get("event") == "BALLOON_CHANGE":
                self.events.append(ev)
        a = self.q.execute("query-balloon")["actual"]
        self.actuals.append(a)
        for ev in self.q.events(0):
            if ev.get("event") == "BALLOON_CHANGE":
                self.events.append(ev)
        return a

    def close(self):
        self.q.close()


VOLATILE = ("stats", "stats-updated")


def steady(vm_json):
    """A VM object without the fields that change by themselves."""
    return {k: v for k, v in vm_json.items() if k not in VOLATILE}


def check_restart(c, ctl, d, watchers, connect_s, settle_s, how):
    """kill -9 balloond and start it again while @watchers ({name: watcher
    with poll(timeout), events, actuals, close()}) watch each VM: every VM
    reconnects within @connect_s, no balloon moves during the restart nor
    @settle_s after it, each VM's info is as before, the log shows the same
    instances adopted and no target change.  @how(name) names what a
    watcher observes.  Returns the daemon log written since the kill."""
    names = sorted(watchers)
    before = {n: steady(ctl.info(n)) for n in names}
    start = {n: w.poll() for n, w in watchers.items()}
    log_len = len(d.log())
    d.kill9()
    c.check(d.proc.returncode == -signal.SIGKILL, "balloond killed with -9")
    for w in watchers.values():
        w.poll(0.1)
    t0 = time.monotonic()
    d.start()

    def all_connected():
        for w in watchers.values():
            w.poll()
        r = ctl("--json", "list")
        return r.rc == 0 and all(v["state"] == "connected"
                                 for v in r.json["vms"])
    wait_until(all_connected, connect_s, 0.1, "all VMs connected again")
    c.note(f"reattached in {time.monotonic() - t0:.2f} s")
    end = time.monotonic() + settle_s
    while time.monotonic() < end:
        for w in watchers.values():
            w.poll(0.05)
    for n, w in watchers.items():
        c.check(not w.events and set(w.actuals) == {start[n]},
                f"{n}: no balloon movement ({how(n)}: {len(w.events)}), "
                f"actual constant at {start[n] >> 20} MiB over "
                f"{len(w.actuals)} polls during the restart")
        w.close()
    for n in names:
        after = steady(ctl.info(n))
        diff = {k: (before[n].get(k), after.get(k)) for k in
                set(before[n]) | set(after) if before[n].get(k) !=
                after.get(k)}
        c.check(not diff, f"{n}: info as before the restart (target "
                f"{after['target'] >> 20} MiB, pinned {after['pinned']}, "
                "min/max/shares)" + (f"; changed {diff}" if diff else ""))
    log = d.log()[log_len:]
    adopted = sorted(re.findall(r"vm (\w+): adopted", log))
    c.check(adopted == names and "new instance" not in log,
            f"log: {adopted} adopted as the same instances")
    moved = re.findall(r"vm \w+: target .*", log)
    c.check(not moved, "log: no target change after the restart"
            + (f": {moved}" if moved else ""))
    return log


def http_get(host, port, path, timeout=5.0):
    """A minimal HTTP/1.0 GET (stdlib http.client); returns (status, body,
    content-type)."""
    import http.client
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode(), r.getheader("Content-Type", "")
    finally:
        conn.close()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
