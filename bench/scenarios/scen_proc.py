# SPDX-License-Identifier: MIT
"""Processes and protocol clients for the scenario harness.

- Procs: children in their own process groups, killed with the harness
  (PR_SET_PDEATHSIG) and stopped group by group in stop_all().
- Qmp: a QMP client (balloonvm's monitor; QEMU's protocol).
- Ctl: a balloond control-protocol client (JSON lines,
  docs/control-protocol.md).

Standard library only.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import time

PR_SET_PDEATHSIG = 1


class HarnessError(Exception):
    """A run could not be carried out (a process died, a socket failed)."""


def _child_setup():
    # Runs in the child between fork and exec: die with the harness even if it
    # is SIGKILLed (meson's timeout), so nothing is left behind.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


class Proc:
    def __init__(self, name, argv, log_path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True,
                                  preexec_fn=_child_setup)
        self.pgid = self.p.pid  # leader of its own session and group

    def alive(self):
        return self.p.poll() is None

    def tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def group_alive(self):
        try:
            os.killpg(self.pgid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def stop(self, grace=5.0):
        """SIGTERM the group, wait, then SIGKILL it.  Returns the exit code
        of the leader (negative: killed by that signal)."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if self.p.poll() is not None and not self.group_alive():
                    break
                time.sleep(0.02)
            if self.p.poll() is not None and not self.group_alive():
                break
        try:
            self.p.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()
        return self.p.returncode


class Procs:
    """Every child of one run; stop_all() in reverse order of start."""

    def __init__(self):
        self.procs = []
        self.exit = {}

    def start(self, name, argv, log_path):
        pr = Proc(name, argv, log_path)
        self.procs.append(pr)
        return pr

    def check_alive(self):
        for pr in self.procs:
            if not pr.alive():
                raise HarnessError("%s exited early (status %s); log %s:\n%s"
                                   % (pr.name, pr.p.returncode, pr.log_path,
                                      pr.tail()))

    def stop_all(self):
        leftovers = []
        for pr in reversed(self.procs):
            self.exit[pr.name] = pr.stop()
            if pr.group_alive():
                leftovers.append(pr.name)
        self.procs = []
        return leftovers


def wait_for_socket(path, proc, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                s.close()
                return
            except OSError:
                s.close()
        if proc is not None and not proc.alive():
            raise HarnessError("%s exited before creating %s (status %s):\n%s"
                               % (proc.name, path, proc.p.returncode,
                                  proc.tail()))
        time.sleep(0.05)
    raise HarnessError("timed out waiting for socket %s" % path)


class Timeout(HarnessError):
    """A peer did not answer in time (a hung process)."""


def dump_stacks(pid, path):
    """Best effort: every thread's backtrace (gdb) and kernel wait channel of
    a process that stopped answering, for the bug report."""
    with open(path, "w") as f:
        for tid in sorted(os.listdir("/proc/%d/task" % pid)):
            try:
                with open("/proc/%d/task/%s/wchan" % (pid, tid)) as w:
                    f.write("thread %s wchan %s\n" % (tid, w.read()))
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as w:
                    f.write("  stat %s\n" % w.read().strip())
            except OSError:
                pass
        f.flush()
        try:
            subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex",
                            "thread apply all bt"], stdout=f,
                           stderr=subprocess.STDOUT, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            f.write("gdb: %s\n" % e)


class _Lines:
    """A Unix stream socket read as JSON lines."""

    def __init__(self, path, timeout):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send(self, obj):
        try:
            self.sock.sendall(json.dumps(obj).encode() + b"\n")
        except OSError as e:
            raise HarnessError("%s: %s" % (self.path, e))

    def recv(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise Timeout("%s: no reply within %g s"
                              % (self.path, self.sock.gettimeout()))
            except OSError as e:
                raise HarnessError("%s: %s" % (self.path, e))
            if not chunk:
                raise HarnessError("%s: connection closed" % self.path)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class QmpError(HarnessError):
    def __init__(self, cls, desc):
        super().__init__("%s: %s" % (cls, desc))
        self.cls = cls
        self.desc = desc


class Qmp:
    def __init__(self, path, timeout=10.0):
        self.io = _Lines(path, timeout)
        greeting = self.io.recv()
        if "QMP" not in greeting:
            raise HarnessError("%s: no QMP greeting: %r" % (path, greeting))
        self.events = []
        self.n = 0
        self.cmd("qmp_capabilities")

    def cmd(self, name, args=None):
        self.n += 1
        req = {"execute": name, "id": self.n}
        if args is not None:
            req["arguments"] = args
        self.io.send(req)
        while True:
            r = self.io.recv()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                e = r["error"]
                raise QmpError(e.get("class"), e.get("desc"))
            if "return" in r:
                return r["return"]

    def close(self):
        self.io.close()


class CtlError(HarnessError):
    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code


class Ctl:
    def __init__(self, path, timeout=10.0):
        self.io = _Lines(path, timeout)
        self.n = 0

    def cmd(self, name, **args):
        self.n += 1
        req = {"v": 1, "id": self.n, "cmd": name}
        if args:
            req["args"] = args
        self.io.send(req)
        r = self.io.recv()
        if not r.get("ok"):
            e = r.get("error") or {}
            raise CtlError(e.get("code"), e.get("message"))
        return r.get("result")

    def close(self):
        self.io.close()
