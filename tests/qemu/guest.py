#!/usr/bin/env python3
"""Helpers for tests that run real QEMU guests (python3 stdlib only).

    from guest import Guest, wait_until
    with Guest("a", "512M") as g:             # scripts/qemu-vm a 512M
        q = g.qmp()                            # qmp.QMP, capabilities done
        q.execute("balloon", {"value": 256 << 20})
        print(g.meminfo()["MemFree"])          # KiB, from inside the guest
        g.ctl("alloc 100M")                    # guest control protocol

Each Guest lives in its own temporary directory (sockets, serial log,
pidfile) unless vmdir is given; stop() (or leaving the with block) stops
QEMU and removes that directory.  The control protocol is described in
docs/qemu-guests.md.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
QEMU_VM = os.path.join(REPO, "scripts", "qemu-vm")
sys.path.insert(0, HERE)

from qmp import QMP  # noqa: E402

MiB = 1 << 20


_live = set()  # guests started and not yet stopped, stopped at exit


@atexit.register
def _stop_all():
    for g in list(_live):
        g.stop()


def stop_guests_on_sigterm():
    """Make SIGTERM (sent by meson on a test timeout) exit through the
    normal path so that running guests are stopped: QEMU runs daemonized
    in its own session and would otherwise outlive the test."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class GuestError(Exception):
    """A guest failed to start, or its control program answered err."""


def wait_until(pred, timeout, interval=0.1, what="condition"):
    """Call pred() until it returns a true value; return that value.
    Raises TimeoutError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def kv(reply):
    """Parse "ok k1=v1 k2=v2" into {k: int or str}."""
    out = {}
    for word in reply.split()[1:]:
        if "=" in word:
            k, v = word.split("=", 1)
            try:
                out[k] = int(v)
            except ValueError:
                out[k] = v
    return out


class Guest:
    def __init__(self, name, size, opts=(), vmdir=None, timeout=120):
        """name, size: as for scripts/qemu-vm; opts: its extra options
        (e.g. ["--no-deflate-on-oom"]); timeout: boot timeout in s."""
        self.name = name
        self.size = size
        self.opts = list(opts)
        self.timeout = timeout
        self._own_dir = vmdir is None
        self.vmdir = vmdir or tempfile.mkdtemp(prefix="bln-vm-")
        self.qmp_path = os.path.join(self.vmdir, name + ".qmp")
        self.ctl_path = os.path.join(self.vmdir, name + ".ctl")
        self.log_path = os.path.join(self.vmdir, name + ".log")
        self.boot_s = None
        self._ctl = None
        self._buf = b""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            tail = "\n".join(self.log().splitlines()[-15:])
            print(f"--- guest {self.name} serial log (tail) ---\n{tail}",
                  file=sys.stderr)
        self.stop()

    def start(self):
        """Boot the guest (blocks until ready); returns the QMP path."""
        cmd = [QEMU_VM, self.name, self.size, "--dir", self.vmdir,
               "--timeout", str(self.timeout)] + self.opts
        _live.add(self)
        t0 = time.monotonic()
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, check=False)
        except BaseException:
            self.stop()
            raise
        self.boot_s = time.monotonic() - t0
        if r.returncode != 0:
            self.stop()
            raise GuestError(f"{' '.join(cmd)} failed:\n{r.stderr}")
        return r.stdout.strip()

    def stop(self):
        """Stop QEMU and remove the guest's own temporary directory."""
        _live.discard(self)
        if self._ctl:
            self._ctl.close()
            self._ctl = None
        subprocess.run([QEMU_VM, "stop", self.name, "--dir", self.vmdir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        if self._own_dir:
            shutil.rmtree(self.vmdir, ignore_errors=True)

    def log(self):
        """The serial console so far (kernel messages, init, memhog)."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def qmp(self, timeout=10.0):
        """A new QMP connection, capabilities already negotiated."""
        return QMP(self.qmp_path, timeout=timeout)

    def ctl_raw(self, line, timeout=60.0):
        """Send one control line, return the reply line (without \\n)."""
        if self._ctl is None:
            self._ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._ctl.connect(self.ctl_path)
            self._buf = b""
        self._ctl.sendall(line.encode() + b"\n")
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"guest {self.name}: no reply to {line!r}")
            self._ctl.settimeout(left)
            chunk = self._ctl.recv(65536)
            if not chunk:
                raise GuestError(f"guest {self.name}: control socket closed")
            self._buf += chunk
        reply, self._buf = self._buf.split(b"\n", 1)
        return reply.decode()

    def ctl(self, line, timeout=60.0):
        """Like ctl_raw() but raises GuestError on an "err" reply."""
        reply = self.ctl_raw(line, timeout)
        if not reply.startswith("ok"):
            raise GuestError(f"guest {self.name}: {line!r} -> {reply!r}")
        return reply

    def meminfo(self):
        """The guest's /proc/meminfo as {name: KiB} (plus held: bytes)."""
        return kv(self.ctl("meminfo"))

    def vmstat(self, prefix=""):
        """The guest's /proc/vmstat counters starting with prefix."""
        return kv(self.ctl(("vmstat " + prefix).strip()))
