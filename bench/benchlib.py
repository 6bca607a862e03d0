# SPDX-License-Identifier: MIT
"""Shared helpers of the Python benchmarks (bench/reaction.py,
bench/daemon_cost.py, bench/qemu_inflate.py).  Standard library only.

- statistics: median, percentiles (nearest rank), spread;
- tables printed to stdout and the same rows written as CSV;
- child processes (balloonvm, balloond) in their own process groups that die
  with the benchmark (PR_SET_PDEATHSIG) and are stopped at exit;
- a balloond control-protocol client (JSON lines);
- /proc readers: CPU seconds and RSS of a pid, host load;
- the build directory and the machine description.

QMP goes through tests/qemu/qmp.py.
"""

import atexit
import csv
import ctypes
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "qemu"))

from qmp import QMP, QMPError  # noqa: E402,F401

MiB = 1 << 20
GiB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class BenchError(Exception):
    """A benchmark could not be carried out."""


# ---- statistics ----------------------------------------------------------

def median(v):
    s = sorted(v)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def pctl(v, p):
    """p-th percentile, nearest-rank (p99 of 10 samples = the maximum)."""
    s = sorted(v)
    if not s:
        return float("nan")
    k = max(1, -(-len(s) * p // 100))  # ceil(n * p / 100)
    return s[int(k) - 1]


def spread_pct(v):
    """(max - min) / median in %: the run-to-run spread."""
    m = median(v)
    return 100.0 * (max(v) - min(v)) / m if v and m else float("nan")


# ---- output --------------------------------------------------------------

class Table:
    """Rows printed as an aligned table and written to a CSV file."""

    def __init__(self, columns, csv_path=None):
        self.columns = columns
        self.rows = []
        self.csv_path = csv_path

    def add(self, *values):
        self.rows.append(list(values))
        return values

    @staticmethod
    def _fmt(v):
        if isinstance(v, float):
            return "%.3g" % v if abs(v) < 1000 else "%.0f" % v
        return str(v)

    def print(self, out=sys.stdout):
        cells = [self.columns] + [[self._fmt(v) for v in r] for r in self.rows]
        w = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        for j, r in enumerate(cells):
            print("  ".join(c.rjust(w[i]) for i, c in enumerate(r)), file=out)
            if j == 0:
                print("  ".join("-" * x for x in w), file=out)
        out.flush()

    def write_csv(self):
        if not self.csv_path:
            return
        d = os.path.dirname(self.csv_path)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(self.csv_path, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(self.columns)
            for r in self.rows:
                wr.writerow([("%.6g" % v) if isinstance(v, float) else v
                             for v in r])


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr,
          flush=True)


# ---- machine -------------------------------------------------------------

def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def machine():
    cpu = platform.machine()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / (1 << 20)
    return "%s, %d CPUs, %.1f GiB RAM, Linux %s, load %.1f" % (
        cpu, os.cpu_count() or 0, mem, platform.release(), loadavg())


def build_dir(arg=None):
    """--build, else $BUILD, else build-rel, else build (under the repo)."""
    for d in (arg, os.environ.get("BUILD"), "build-rel", "build"):
        if not d:
            continue
        p = d if os.path.isabs(d) else os.path.join(REPO, d)
        if os.path.exists(os.path.join(p, "build.ninja")):
            return p
    raise BenchError("no build directory (give --build DIR)")


def binary(build, rel):
    p = os.path.join(build, rel)
    if not os.access(p, os.X_OK):
        raise BenchError("%s missing: ninja -C %s %s" % (p, build, rel))
    return p


# ---- /proc ---------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of pid (all its threads), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def host_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


# ---- processes -----------------------------------------------------------

def _die_with_parent():
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PDEATHSIG
    except OSError:
        pass


_procs = []


class Proc:
    """A child in its own process group, output in a log file."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=self._log, stderr=subprocess.STDOUT,
                                  start_new_session=True,
                                  preexec_fn=_die_with_parent)
        self.pid = self.p.pid
        _procs.append(self)

    def alive(self):
        return self.p.poll() is None

    def tail(self, n=10):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def stop(self, grace=5.0):
        """SIGTERM its group, SIGKILL after grace seconds."""
        if self in _procs:
            _procs.remove(self)
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.p.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self._log.close()
        return self.p.returncode


@atexit.register
def stop_all():
    for pr in reversed(list(_procs)):
        pr.stop(grace=2.0)


def sigterm_exits():
    """SIGTERM/SIGHUP exit through atexit, so children are stopped."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda *_: sys.exit(143))


def wait_socket(path, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return
            except OSError:
                pass
            finally:
                s.close()
        if proc is not None and not proc.alive():
            raise BenchError("%s exited (status %s) before %s appeared:\n%s"
                             % (proc.name, proc.p.returncode, path,
                                proc.tail()))
        if time.monotonic() > deadline:
            raise BenchError("no socket %s after %.0f s" % (path, timeout))
        time.sleep(0.02)


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR"))


# ---- balloonvm -----------------------------------------------------------

class BalloonVM:
    """One balloonvm process.  Sizes are bytes."""

    def __init__(self, build, name, memory, wdir, swap=0, workloads=(),
                 stats_interval=1, extra=()):
        self.name = name
        self.memory = memory
        self.qmp_path = os.path.join(wdir, name + ".qmp")
        argv = [binary(build, "balloonvm/balloonvm"), "--name", name,
                "--memory", str(memory), "--qmp", self.qmp_path,
                "--dir", wdir, "--stats-interval", str(stats_interval)]
        if swap:
            argv += ["--swap", str(swap)]
        for w in workloads:
            argv += ["--workload", w]
        argv += list(extra)
        self.proc = Proc("balloonvm " + name, argv,
                         os.path.join(wdir, name + ".log"))
        self._q = None

    def wait_ready(self, timeout=30.0):
        wait_socket(self.qmp_path, self.proc, timeout)
        return self

    def qmp(self):
        """A persistent QMP connection (capabilities negotiated)."""
        if self._q is None:
            self._q = QMP(self.qmp_path, timeout=30.0)
        return self._q

    def stop(self):
        if self._q is not None:
            try:
                self._q.close()
            except OSError:
                pass
            self._q = None
        return self.proc.stop()


# ---- balloond ------------------------------------------------------------

class CtlError(BenchError):
    def __init__(self, cmd, err):
        super().__init__("%s: %s: %s" % (cmd, err.get("code"),
                                         err.get("message")))
        self.code = err.get("code")


class Balloond:
    """balloond with its control socket and state file in wdir."""

    def __init__(self, build, wdir, tick_ms=1000, log_level="info",
                 extra=()):
        self.sock_path = os.path.join(wdir, "balloond.sock")
        argv = [binary(build, "balloond/balloond"), "--config",
                os.path.join(wdir, "none.conf"), "--socket", self.sock_path,
                "--state", os.path.join(wdir, "state.json"),
                "--tick-ms", str(tick_ms), "--log-level", log_level]
        # An empty config file: the machine's /etc/balloond is not ours.
        open(os.path.join(wdir, "none.conf"), "w").close()
        self.proc = Proc("balloond", argv + list(extra),
                         os.path.join(wdir, "balloond.log"))
        self.pid = self.proc.pid
        wait_socket(self.sock_path, self.proc)
        self._s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._s.settimeout(60.0)
        self._s.connect(self.sock_path)
        self._buf = b""
        self._id = 0

    def ctl(self, cmd, **args):
        """One request; returns result or raises CtlError."""
        self._id += 1
        req = {"v": 1, "id": self._id, "cmd": cmd}
        if args:
            req["args"] = args
        self._s.sendall(json.dumps(req).encode() + b"\n")
        while True:
            while b"\n" not in self._buf:
                chunk = self._s.recv(1 << 20)
                if not chunk:
                    raise BenchError("balloond closed the control socket:\n"
                                     + self.proc.tail())
                self._buf += chunk
            line, self._buf = self._buf.split(b"\n", 1)
            r = json.loads(line)
            if r.get("id") == self._id:
                break
        if not r.get("ok"):
            raise CtlError(cmd, r.get("error", {}))
        return r.get("result")

    def stop(self):
        try:
            self._s.close()
        except OSError:
            pass
        return self.proc.stop()


def wait_for(pred, timeout, what="condition", interval=0.05):
    """Call pred() until true; BenchError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise BenchError("timed out after %.0f s waiting for %s"
                             % (timeout, what))
        time.sleep(interval)


def size(s):
    """Parse a size: bytes, or K/M/G/T with an optional i/iB/B (binary)."""
    units = {"K": 10, "M": 20, "G": 30, "T": 40}
    s = s.strip().upper().rstrip("B").rstrip("I")
    if s and s[-1] in units:
        return int(float(s[:-1]) * (1 << units[s[-1]]))
    return int(s)


def mib(b):
    """Bytes as whole MiB in balloonvm/QEMU size syntax ("640M")."""
    return "%dM" % (b // MiB)


def run_main(main):
    """Exit with main()'s status; a BenchError is one line and status 1."""
    try:
        sys.exit(main())
    except BenchError as e:
        print("%s: %s" % (os.path.basename(sys.argv[0]), e), file=sys.stderr)
        sys.exit(1)
