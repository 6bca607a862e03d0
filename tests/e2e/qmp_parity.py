#!/usr/bin/env python3
"""QMP parity: one scripted QMP conversation against a real QEMU guest
(TCG, tests/qemu/guest.py) and against a balloonvm, compared step by step.

usage: qmp_parity.py BALLOONVM [--keep-going]

Both machines get the same logical size (384 MiB) and the same balloon
options (deflate-on-oom, free-page-reporting).  The conversation:

  greeting; query-status before qmp_capabilities; qmp_capabilities (twice);
  query-status; query-balloon; qom-set guest-stats-polling-interval 1;
  qom-get of it; qom-get guest-stats once a fresh update arrived; balloon to
  256 MiB; the BALLOON_CHANGE event(s) until actual is 256 MiB; query-balloon;
  an unknown command; a malformed JSON line; a non-object request; a
  mistyped, a missing and an unexpected argument; balloon 0 (out of range:
  error) and balloon 2 x RAM (out of range: QEMU clamps to RAM, actual goes
  back up, BALLOON_CHANGE); qom-get of a missing device and a missing
  property; quit (return, SHUTDOWN event, connection closed, process gone).

For every reply the SHAPE (key sets, JSON types, error class names, the
echoed id) must be the same for both; the UNITS are checked for each side
(actual in bytes equal to the logical size, stat names, stats in bytes,
last-update and event timestamps in Unix seconds).  A side-by-side table is
printed.  Differences are failures unless listed in ALLOWED below, each with
its reason; error "desc" texts are printed, not compared.
"""

import json
import os
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from e2elib import (BALLOON_PATH, MiB, BalloonVM, Checks, NoSigterm,  # noqa
                    Procs, pid_alive, tmpdir, wait_until)
from guest import Guest  # noqa: E402
from qmp import QMP  # noqa: E402

SIZE = 384 * MiB
TARGET = 256 * MiB
BUDGET_S = 120

# QEMU 7.2's ten stat names (hw/virtio/virtio-balloon.c balloon_stat_names)
QEMU72_STATS = {
    "stat-swap-in", "stat-swap-out", "stat-major-faults",
    "stat-minor-faults", "stat-free-memory", "stat-total-memory",
    "stat-available-memory", "stat-disk-caches", "stat-htlb-pgalloc",
    "stat-htlb-pgfail",
}
# Names later QEMU releases added for the newer virtio stat tags.
NEWER_STATS = {
    "stat-oom-kills", "stat-alloc-stalls", "stat-async-scans",
    "stat-direct-scans", "stat-async-reclaims", "stat-direct-reclaims",
}
MEMORY_STATS = ("stat-free-memory", "stat-total-memory",
                "stat-available-memory", "stat-disk-caches")

# (step, path) -> why the difference is accepted.  Paths are dotted keys;
# "stats.*" matches any key under stats.
ALLOWED = {
    ("greeting", "QMP.capabilities[]"):
        "QEMU offers the 'oob' capability; balloonvm has no out-of-band "
        "execution and offers none (both send an array)",
    ("query-status", "return.singlestep"):
        "QEMU 7.2 still sends 'singlestep' (deprecated in 8.1, gone from "
        "later StatusInfo); balloonvm answers like QEMU 9.2 (its greeting)",
    ("guest-stats", "return.stats.NEWER"):
        "balloonvm also reports the six stat names QEMU added after 7.2 "
        "(stat-oom-kills ... stat-direct-reclaims)",
}


class Session(QMP):
    """tests/qemu/qmp.py's client plus raw exchanges: the whole reply
    (id included), errors as data, arbitrary lines."""

    def line(self, text, timeout=10.0):
        self._sock.sendall(text.encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_msg(deadline)
            if "event" in m:
                self._events.append(m)
                continue
            return m

    def req(self, cmd, args=None, rid=None, timeout=10.0):
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        if rid is not None:
            msg["id"] = rid
        return self.line(json.dumps(msg), timeout)

    def eof(self, timeout=5.0):
        """True once the peer closed the connection."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                m = self._read_msg(deadline)
                if "event" in m:
                    self._events.append(m)
        except ConnectionError:
            return True
        except (TimeoutError, OSError):
            return False


def shape(v):
    """A JSON value's shape: dicts keep their keys, leaves become types."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return ["|".join(sorted({json.dumps(shape(x), sort_keys=True)
                                 for x in v}))] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    return "null"


def shape_str(v, limit=60):
    """Compact one-line form for the table."""
    def s(x):
        if isinstance(x, dict):
            return "{" + ",".join(f"{k}:{s(y)}"
                                  for k, y in sorted(x.items())) + "}"
        if isinstance(x, list):
            return "[" + ",".join(x) + "]"
        return x
    out = s(v)
    return out if len(out) <= limit else out[:limit - 3] + "..."


def diff(a, b, path=""):
    """[(path, shape in a, shape in b)] where the shapes differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else k
            if k not in a or k not in b:
                out.append((p, a.get(k, "-"), b.get(k, "-")))
            else:
                out += diff(a[k], b[k], p)
        return out
    if isinstance(a, list) and isinstance(b, list):
        return [] if a == b else [(path + "[]", a, b)]
    return [] if a == b else [(path, a, b)]


def allowed(step, path):
    if (step, path) in ALLOWED:
        return ALLOWED[(step, path)]
    if step == "guest-stats" and path.startswith("return.stats."):
        if path.split(".")[-1] in NEWER_STATS:
            return ALLOWED[("guest-stats", "return.stats.NEWER")]
    return None


def desc(r):
    e = r.get("error") if isinstance(r, dict) else None
    return f"{e.get('class')}: {e.get('desc')}" if e else ""


def framing(side, qmp_path, c):
    """QMP framing, on a connection of its own: messages end in CRLF; the
    input is a JSON stream (no newline needed, two commands on one line, a
    command split over two writes)."""
    tag = f"[{side}]"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10.0)
    buf = b""
    ends = []

    def msg():
        nonlocal buf
        while True:
            while b"\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            ends.append(line.endswith(b"\r"))
            m = json.loads(line)
            if "event" not in m:
                return m

    try:
        sock.connect(qmp_path)
        msg()  # greeting
        sock.sendall(b'{"execute": "qmp_capabilities", "id": 1}')
        r = msg()
        c.check(r.get("id") == 1 and r.get("return") == {},
                f"{tag} a command without newline is answered")
        sock.sendall(b'{"execute": "query-status", "id": 2} '
                     b'{"execute": "query-balloon", "id": 3}\n')
        ids = [msg().get("id"), msg().get("id")]
        c.check(ids == [2, 3], f"{tag} two commands on one line: replies "
                f"{ids} in order")
        sock.sendall(b'{"execute": "query-')
        time.sleep(0.2)
        sock.sendall(b'balloon", "id": 4}\n')
        r = msg()
        c.check(r.get("id") == 4 and "actual" in r.get("return", {}),
                f"{tag} a command split over two writes is answered")
        c.check(ends and all(ends), f"{tag} every message ends in CRLF "
                f"({sum(ends)} of {len(ends)})")
    except (OSError, ValueError) as e:
        c.check(False, f"{tag} framing: {type(e).__name__}: {e}")
    finally:
        sock.close()


def conversation(side, qmp_path, c, alive):
    """Run the scripted conversation; returns [(step, reply)] and checks
    this side's units as it goes.  alive() tells whether the process lives."""
    tag = f"[{side}]"
    out = []

    def rec(step, reply):
        out.append((step, reply))
        return reply

    s = Session(qmp_path, timeout=10.0, negotiate=False)
    try:
        g = rec("greeting", s.greeting)
        ver = g.get("QMP", {}).get("version", {}).get("qemu", {})
        c.check(all(isinstance(ver.get(k), int)
                    for k in ("major", "minor", "micro")),
                f"{tag} greeting has QMP.version.qemu major/minor/micro "
                f"({ver.get('major')}.{ver.get('minor')}.{ver.get('micro')})")

        r = rec("before-capabilities", s.req("query-status", rid="pre"))
        c.check(r.get("error", {}).get("class") == "CommandNotFound"
                and r.get("id") == "pre",
                f"{tag} query-status before qmp_capabilities refused "
                f"({desc(r)}), string id echoed")
        r = rec("qmp_capabilities", s.req("qmp_capabilities", rid=1))
        c.check(r.get("return") == {} and r.get("id") == 1,
                f"{tag} qmp_capabilities -> {{}} with id 1")
        r = rec("qmp_capabilities-again", s.req("qmp_capabilities", rid=2))
        c.check("error" in r, f"{tag} second qmp_capabilities refused "
                f"({desc(r)})")

        r = rec("query-status", s.req("query-status", rid=3))
        ret = r.get("return", {})
        c.check(ret.get("running") is True and ret.get("status") == "running",
                f"{tag} query-status running=true status=running")

        r = rec("query-balloon", s.req("query-balloon", rid=4))
        a = r.get("return", {}).get("actual")
        c.check(a == SIZE, f"{tag} query-balloon actual {a} == {SIZE} "
                f"bytes (the logical size, {SIZE >> 20} MiB)")

        # balloond learns a VM's boot size (its max) from this command.
        r = rec("query-memory-size-summary",
                s.req("query-memory-size-summary", rid="mem"))
        bm = r.get("return", {}).get("base-memory")
        c.check(bm == SIZE, f"{tag} query-memory-size-summary base-memory "
                f"{bm} == {SIZE} bytes" + (f" ({desc(r)})" if desc(r) else ""))

        t_set = time.time()
        r = rec("qom-set-interval", s.req("qom-set", {
            "path": BALLOON_PATH, "property": "guest-stats-polling-interval",
            "value": 1}, rid=5))
        c.check(r.get("return") == {}, f"{tag} qom-set "
                "guest-stats-polling-interval 1 -> {}")
        r = rec("qom-get-interval", s.req("qom-get", {
            "path": BALLOON_PATH,
            "property": "guest-stats-polling-interval"}, rid=6))
        c.check(r.get("return") == 1, f"{tag} qom-get "
                f"guest-stats-polling-interval -> {r.get('return')}")

        def fresh():
            rr = s.req("qom-get", {"path": BALLOON_PATH,
                                   "property": "guest-stats"}, rid=7)
            lu = rr.get("return", {}).get("last-update", 0)
            return rr if lu >= int(t_set) + 1 else None
        t0 = time.monotonic()
        r = rec("guest-stats", wait_until(fresh, 15, 0.2, "fresh guest-stats"))
        c.note(f"{tag} fresh guest-stats after {time.monotonic() - t0:.1f} s")
        check_stats(c, tag, r.get("return", {}))

        s.events()  # forget anything before the balloon command
        t_bal = time.time()
        r = rec("balloon-smaller", s.req("balloon", {"value": TARGET}, rid=8))
        c.check(r.get("return") == {}, f"{tag} balloon {TARGET >> 20} MiB "
                "-> {}")
        evs = wait_balloon_events(s, TARGET, 60)
        c.check(evs and evs[-1]["data"]["actual"] == TARGET,
                f"{tag} BALLOON_CHANGE events ({len(evs)}) end at actual "
                f"{TARGET} bytes: "
                + ", ".join(str(e["data"]["actual"] >> 20) + "M" for e in evs))
        for ev in (evs[:1] + evs[-1:]) if len(evs) > 1 else evs:
            check_event_time(c, tag, ev, t_bal)
        rec("BALLOON_CHANGE", evs[-1] if evs else {})
        r = rec("query-balloon-after", s.req("query-balloon", rid=9))
        a = r.get("return", {}).get("actual")
        c.check(a == TARGET, f"{tag} query-balloon actual {a} == {TARGET}")

        r = rec("unknown-command", s.req("no-such-command", rid=10))
        c.check(r.get("error", {}).get("class") == "CommandNotFound",
                f"{tag} unknown command -> {desc(r)}")
        r = rec("malformed-json", s.line('{"execute" "query-status"}'))
        c.check(r.get("error", {}).get("class") == "GenericError"
                and "id" not in r, f"{tag} malformed JSON -> {desc(r)}")
        r = rec("after-malformed", s.req("query-balloon", rid=11))
        c.check(r.get("id") == 11 and "return" in r,
                f"{tag} the connection still works after the bad line")
        r = rec("non-object", s.line("[1, 2]"))
        c.check(r.get("error", {}).get("class") == "GenericError",
                f"{tag} non-object request -> {desc(r)}")
        r = rec("wrong-type", s.req("balloon", {"value": "256M"}, rid=12))
        c.check(r.get("error", {}).get("class") == "GenericError",
                f"{tag} balloon value as a string -> {desc(r)}")
        r = rec("missing-arg", s.req("balloon", {}, rid=13))
        c.check(r.get("error", {}).get("class") == "GenericError",
                f"{tag} balloon without value -> {desc(r)}")
        r = rec("unexpected-arg", s.req("balloon", {"value": TARGET,
                                                    "bogus": 1}, rid=14))
        c.check(r.get("error", {}).get("class") == "GenericError",
                f"{tag} balloon with an unexpected argument -> {desc(r)}")
        r = rec("balloon-zero", s.req("balloon", {"value": 0}, rid=15))
        c.check(r.get("error", {}).get("class") == "GenericError",
                f"{tag} balloon 0 (out of range) -> {desc(r)}")

        s.events()
        r = rec("balloon-above-ram", s.req("balloon", {"value": 2 * SIZE},
                                           rid=16))
        c.check(r.get("return") == {}, f"{tag} balloon 2 x RAM accepted "
                "(QEMU clamps the target to RAM)")
        evs = wait_balloon_events(s, SIZE, 60)
        c.check(evs and evs[-1]["data"]["actual"] == SIZE,
                f"{tag} balloon 2 x RAM: actual back at {SIZE >> 20} MiB "
                f"({len(evs)} BALLOON_CHANGE)")
        r = rec("query-balloon-clamped", s.req("query-balloon", rid=17))
        a = r.get("return", {}).get("actual")
        c.check(a == SIZE, f"{tag} query-balloon actual {a} == {SIZE} "
                "(not above RAM)")

        r = rec("qom-get-no-device", s.req("qom-get", {
            "path": "/machine/peripheral/nope", "property": "guest-stats"},
            rid=18))
        c.check(r.get("error", {}).get("class") == "DeviceNotFound",
                f"{tag} qom-get of a missing device -> {desc(r)}")
        r = rec("qom-get-no-property", s.req("qom-get", {
            "path": BALLOON_PATH, "property": "nope"}, rid=19))
        c.check(r.get("error", {}).get("class") == "GenericError",
                f"{tag} qom-get of a missing property -> {desc(r)}")

        s.events()
        r = rec("quit", s.req("quit", rid=20))
        c.check(r.get("return") == {} and r.get("id") == 20,
                f"{tag} quit -> {{}}")
        closed = s.eof(10)
        c.check(closed, f"{tag} connection closed after quit")
        sd = [e for e in s.events() if e.get("event") == "SHUTDOWN"]
        c.check(len(sd) == 1 and sd[0].get("data") ==
                {"guest": False, "reason": "host-qmp-quit"},
                f"{tag} SHUTDOWN event {sd[0].get('data') if sd else None}")
        rec("SHUTDOWN", sd[0] if sd else {})
        gone = wait_until(lambda: not alive(), 10, 0.1, "process exit")
        c.check(gone, f"{tag} process exited after quit")
    finally:
        s.close()
    return out


def check_stats(c, tag, st):
    stats = st.get("stats", {})
    lu = st.get("last-update")
    now = time.time()
    c.check(isinstance(lu, int) and abs(now - lu) < 30,
            f"{tag} guest-stats last-update {lu} is Unix seconds "
            f"(now {now:.0f})")
    names = set(stats)
    c.check(QEMU72_STATS <= names and names <= QEMU72_STATS | NEWER_STATS,
            f"{tag} guest-stats names: QEMU's 10 "
            f"(+{len(names - QEMU72_STATS)} newer)")
    c.check(all(isinstance(v, int) and not isinstance(v, bool)
                for v in stats.values()), f"{tag} every stat is an integer")
    tot = stats.get("stat-total-memory", -1)
    c.check(SIZE // 2 < tot <= SIZE,
            f"{tag} stat-total-memory {tot} is bytes "
            f"({tot / MiB:.1f} MiB of {SIZE >> 20} MiB)")
    for name in ("stat-free-memory", "stat-available-memory"):
        v = stats.get(name, -1)
        c.check(0 < v <= tot, f"{tag} {name} {v / MiB:.1f} MiB in bytes, "
                "<= total")


def check_event_time(c, tag, ev, since):
    ts = ev.get("timestamp", {})
    t = ts.get("seconds", 0) + ts.get("microseconds", 0) / 1e6
    c.check(since - 2 <= t <= time.time() + 2
            and 0 <= ts.get("microseconds", -1) < 1000000,
            f"{tag} {ev.get('event')} timestamp {t:.3f} is Unix time "
            "(seconds + microseconds)")


def wait_balloon_events(s, want, timeout):
    """BALLOON_CHANGE events until one reports actual == want."""
    evs = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ev = s.wait_event("BALLOON_CHANGE",
                              timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        evs.append(ev)
        if ev.get("data", {}).get("actual") == want:
            break
    return evs


def row(step, left, right, verdict, w=24, cw=62):
    print(f"{step:<{w}} {left:<{cw}} {right:<{cw}} {verdict}")


def err_class(r):
    return (r.get("error") or {}).get("class") if isinstance(r, dict) \
        else None


def compare(c, qemu, bvm):
    """Side-by-side table and shape comparison."""
    qm, bm = dict(qemu), dict(bvm)
    steps = [k for k, _ in qemu] + [k for k, _ in bvm if k not in qm]
    pad = " " * 24
    print()
    v = (qm.get("greeting") or {}).get("QMP", {}).get("version", {}) \
        .get("qemu", {})
    row("step", f"QEMU {v.get('major', '?')}.{v.get('minor', '?')} guest",
        "balloonvm", "verdict")
    print("-" * 158)
    for step in steps:
        a, b = qm.get(step), bm.get(step)
        if a is None or b is None:
            row(step, "(missing)" if a is None else shape_str(shape(a)),
                "(missing)" if b is None else shape_str(shape(b)), "FAIL")
            c.check(False, f"step {step}: reached by both sides")
            continue
        ds = diff(shape(a), shape(b))
        bad = [d for d in ds if not allowed(step, d[0])]
        row(step, shape_str(shape(a)), shape_str(shape(b)),
            "FAIL" if bad else ("allowed" if ds else "same"))
        if desc(a) or desc(b):
            print(f"{pad}   desc: {desc(a)!r}\n{pad}   desc: {desc(b)!r}")
        for p, x, y in ds:
            why = allowed(step, p)
            print(f"{pad}   {p}: QEMU {shape_str(x, 40)} / balloonvm "
                  f"{shape_str(y, 40)}"
                  + (f"  [allowed: {why}]" if why else "  [NOT ALLOWED]"))
        c.check(not bad, f"step {step}: same shape"
                + (f" ({len(ds)} differences, {len(ds) - len(bad)} allowed)"
                   if ds else ""))
        if "id" in a or "id" in b:
            c.check(a.get("id") == b.get("id"),
                    f"step {step}: id echoed the same ({a.get('id')!r})")
        if err_class(a) or err_class(b):
            c.check(err_class(a) == err_class(b), f"step {step}: error "
                    f"class {err_class(a)} == {err_class(b)}")
    print()
    print("allow-list:")
    for (step, path), why in ALLOWED.items():
        print(f"  {step} {path}: {why}")
    print()


def main(argv):
    if len(argv) < 2:
        print("usage: qmp_parity.py BALLOONVM", file=sys.stderr)
        return 2
    bvm_exe = os.path.realpath(argv[1])
    c = Checks()
    procs = Procs()
    tmp = tmpdir("bln-e2e-parity-")
    qemu_conv = bvm_conv = []
    guest = None
    try:
        guest = Guest("parity", f"{SIZE >> 20}M")
        guest.start()
        c.note(f"QEMU guest booted in {guest.boot_s:.1f} s")
        qpid = int(open(os.path.join(guest.vmdir, "parity.pid")).read())
        bvm = BalloonVM(procs, bvm_exe, tmp, "parity", f"{SIZE >> 20}M",
                        ["--deflate-on-oom", "--free-page-reporting"])
        c.note(f"balloonvm up in {bvm.boot_s:.2f} s (pid {bvm.pid})")
        framing("qemu", guest.qmp_path, c)
        framing("balloonvm", bvm.qmp_path, c)
        try:
            qemu_conv = conversation("qemu", guest.qmp_path, c,
                                     lambda: pid_alive(qpid))
        except Exception as e:
            c.check(False, f"[qemu] conversation: {type(e).__name__}: {e}")
        try:
            bvm_conv = conversation("balloonvm", bvm.qmp_path, c,
                                    lambda: bvm.proc.poll() is None)
        except Exception as e:
            c.check(False, f"[balloonvm] conversation: "
                    f"{type(e).__name__}: {e}")
        if bvm.proc.poll() is not None:
            c.check(bvm.proc.returncode == 0,
                    f"[balloonvm] exit status {bvm.proc.returncode} after "
                    "quit")
        compare(c, qemu_conv, bvm_conv)
    except Exception as e:
        c.check(False, f"setup: {type(e).__name__}: {e}")
    finally:
        with NoSigterm():
            if guest:
                guest.stop()
            procs.kill_all()
    return c.finish(BUDGET_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
