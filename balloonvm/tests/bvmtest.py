# SPDX-License-Identifier: MIT
"""bvmtest - helpers for balloonvm's integration tests (python3 stdlib only).

Starts a balloonvm process in a private temp dir, speaks QMP to it over its
Unix socket (replies matched by id, events collected), reads the process's
RSS from /proc, and cleans up (quit, then SIGKILL if needed) even when a
check fails.  Every check raises AssertionError with a message; main()
turns that into exit status 1 and prints the VM's log.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

MiB = 1 << 20
GiB = 1 << 30
BALLOON0 = "/machine/peripheral/balloon0"


class QMPError(Exception):
    def __init__(self, cls, desc):
        super().__init__(f"{cls}: {desc}")
        self.cls = cls
        self.desc = desc


class QMP:
    """A small synchronous QMP client."""

    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        self.next_id = 1
        self.greeting = self.recv()
        assert "QMP" in self.greeting, f"bad greeting {self.greeting}"
        self.cmd("qmp_capabilities")

    def recv(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name, "id": self.next_id}
        self.next_id += 1
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.recv()
            if "event" in r:
                self.events.append(r)
                continue
            assert r.get("id") == msg["id"], f"reply {r} for {msg}"
            if "error" in r:
                raise QMPError(r["error"]["class"], r["error"]["desc"])
            return r["return"]

    def poll_events(self, wait=0.0):
        """Collect events that arrived (waiting up to @wait seconds)."""
        end = time.monotonic() + wait
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    data = self.sock.recv(65536)
                    if not data:
                        break
                    self.buf += data
                except BlockingIOError:
                    if time.monotonic() >= end:
                        break
                    time.sleep(0.02)
        finally:
            self.sock.setblocking(True)
            self.sock.settimeout(30.0)
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.events.append(json.loads(line))
        return self.events

    def close(self):
        self.sock.close()


class VM:
    """A balloonvm process with its own temp dir (socket, swap, log)."""

    def __init__(self, exe, name, memory, *extra, stats=1):
        self.dir = tempfile.mkdtemp(prefix=f"bvm-{name}-")
        self.sock = os.path.join(self.dir, "qmp.sock")
        self.log = os.path.join(self.dir, "vm.log")
        argv = [exe, "--name", name, "--memory", memory, "--qmp", self.sock,
                "--dir", self.dir, "--stats-interval", str(stats), *extra]
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(argv, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        self.qmp = None
        wait_until(lambda: os.path.exists(self.sock) or
                   self.proc.poll() is not None, 20, "QMP socket")
        assert self.proc.poll() is None, f"balloonvm exited: {self.tail()}"
        self.qmp = QMP(self.sock)

    @property
    def pid(self):
        return self.proc.pid

    def cmd(self, name, **args):
        return self.qmp.cmd(name, **args)

    def rss(self):
        """RssAnon + RssShmem of the VM process, bytes."""
        total = 0
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssShmem:")):
                    total += int(line.split()[1]) * 1024
        return total

    def actual(self):
        return self.cmd("query-balloon")["actual"]

    def balloon(self, value):
        self.cmd("balloon", value=value)

    def stats(self):
        return self.cmd("qom-get", path=BALLOON0, property="guest-stats")

    def memory(self):
        return self.cmd("x-bvm-query-memory")

    def workload(self, wid):
        for w in self.cmd("x-bvm-query-workloads"):
            if w["id"] == wid:
                return w
        raise AssertionError(f"no workload {wid}")

    def add(self, spec):
        return self.cmd("x-bvm-workload-add", spec=spec)["id"]

    def wait_actual(self, value, timeout=30, slack=0):
        wait_until(lambda: abs(self.actual() - value) <= slack, timeout,
                   f"query-balloon actual {value >> 20} MiB "
                   f"(now {self.actual() >> 20} MiB)")

    def tail(self, n=40):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.qmp:
            try:
                self.qmp.cmd("quit")
            except (OSError, ConnectionError, QMPError, ValueError):
                pass
            self.qmp.close()
            self.qmp = None
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.logf.close()
        return self.proc.returncode

    def cleanup(self):
        if self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_until(fn, timeout, what):
    end = time.monotonic() + timeout
    while True:
        if fn():
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for "
                                 f"{what}")
        time.sleep(0.1)


def mib(b):
    return f"{b / MiB:.0f} MiB"


def throughput(vm, wid, seconds):
    """Average ops/s of workload @wid over the next @seconds."""
    a = vm.workload(wid)
    t0 = time.monotonic()
    time.sleep(seconds)
    b = vm.workload(wid)
    return (b["ops"] - a["ops"]) / (time.monotonic() - t0)


def main(test):
    """Run test(exe, vms) where vms is a list the test appends VMs to."""
    exe = sys.argv[1]
    vms = []
    t0 = time.monotonic()
    try:
        test(exe, vms)
        for vm in vms:
            if vm.proc.poll() is None:
                rc = vm.stop()
                assert rc == 0, f"balloonvm exit status {rc}"
    except (AssertionError, QMPError, OSError) as e:
        traceback.print_exc()
        print(f"FAIL: {e!r}")
        for vm in vms:
            print(f"--- log of {vm.dir} ---\n{vm.tail()}")
        for vm in vms:
            vm.cleanup()
        sys.exit(1)
    for vm in vms:
        vm.cleanup()
    print(f"PASS ({time.monotonic() - t0:.1f}s)")
