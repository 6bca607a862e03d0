#!/usr/bin/env python3
"""Minimal QMP (QEMU Machine Protocol) client, python3 stdlib only.

    from qmp import QMP
    with QMP("/tmp/vm/a.qmp") as q:          # connects, qmp_capabilities
        q.execute("balloon", {"value": 256 << 20})
        print(q.execute("query-balloon"))    # {'actual': ...}
        ev = q.wait_event("BALLOON_CHANGE", timeout=10)

Errors from QEMU raise QMPError (with .cls and .desc); a closed socket or
a timeout raises OSError / TimeoutError.  Asynchronous events that arrive
while waiting for a reply are kept and returned by events() / wait_event().

Command line:  qmp.py SOCKET COMMAND [JSON-ARGUMENTS]
prints the command's "return" value as JSON (exit 1 on a QMP error).
"""

import json
import socket
import sys
import time


class QMPError(Exception):
    """QEMU answered a command with {"error": {"class", "desc"}}."""

    def __init__(self, cmd, error):
        self.cmd = cmd
        self.cls = error.get("class", "")
        self.desc = error.get("desc", "")
        super().__init__(f"{cmd}: {self.cls}: {self.desc}")


class QMP:
    def __init__(self, path, timeout=10.0, negotiate=True):
        """Connect to the QMP Unix socket at path, read the greeting and
        (unless negotiate=False) leave capabilities negotiation mode."""
        self.path = str(path)
        self.timeout = timeout
        self.greeting = None
        self._events = []
        self._next_id = 1
        self._buf = b""
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(self.path)
            self.greeting = self._read_msg(time.monotonic() + timeout)
            if "QMP" not in self.greeting:
                raise OSError(f"{self.path}: not a QMP greeting: {self.greeting}")
            if negotiate:
                self.capabilities()
        except BaseException:
            self._sock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._sock.close()

    def _read_msg(self, deadline):
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.path}: no QMP message in time")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout as e:
                raise TimeoutError(f"{self.path}: no QMP message in time") from e
            if not chunk:
                raise ConnectionError(f"{self.path}: QMP connection closed")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def capabilities(self):
        """Send qmp_capabilities (enter command mode)."""
        return self.execute("qmp_capabilities")

    def execute(self, cmd, args=None, timeout=None):
        """Run cmd with the args dict; return its "return" value.
        Raises QMPError if QEMU reports an error."""
        msg_id = self._next_id
        self._next_id += 1
        msg = {"execute": cmd, "id": msg_id}
        if args:
            msg["arguments"] = args
        self._sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read_msg(deadline)
            if "event" in reply:
                self._events.append(reply)
                continue
            if reply.get("id") != msg_id:
                continue
            if "error" in reply:
                raise QMPError(cmd, reply["error"])
            return reply.get("return")

    def events(self, wait=0.0):
        """Return and forget the events received so far, first reading
        whatever arrives within wait seconds."""
        deadline = time.monotonic() + wait
        while wait > 0:
            try:
                self._events.append(self._read_msg(deadline))
            except TimeoutError:
                break
        ev, self._events = self._events, []
        return ev

    def wait_event(self, name, timeout=None):
        """Wait for the next event called name; return it (other events
        stay queued).  Raises TimeoutError."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, ev in enumerate(self._events):
                if ev.get("event") == name:
                    return self._events.pop(i)
            self._events.append(self._read_msg(deadline))


def main(argv):
    if len(argv) not in (3, 4):
        print("usage: qmp.py SOCKET COMMAND [JSON-ARGUMENTS]", file=sys.stderr)
        return 2
    args = json.loads(argv[3]) if len(argv) == 4 else None
    try:
        with QMP(argv[1]) as q:
            print(json.dumps(q.execute(argv[2], args)))
    except (QMPError, OSError) as e:
        print(f"qmp.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
