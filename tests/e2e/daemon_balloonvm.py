#!/usr/bin/env python3
"""balloond + balloonctl + two balloonvms, end to end.

usage: daemon_balloonvm.py BALLOOND BALLOONVM BALLOONCTL

One balloond (policy kind static, so only the test moves balloons; tick
200 ms; metrics on a free loopback port) and two 256 MiB balloonvms:
  a  a phased workload that touched 160 MiB and freed it (the host still
     backs those pages: the RSS is high until the balloon takes them);
  b  an idle workload holding 160 MiB and no swap: it can give 208 MiB
     but a target of 64 MiB stalls at 192 MiB (the guest has no more free
     memory), which keeps that resize in flight until the test kills b.

Checks, in order:
  version; add a/b (and a duplicate add: exists, exit 1); add/remove of a VM
  whose socket does not exist (connecting); list / info / stats, human and
  --json; set a 64M --wait: the balloonvm process's RssAnon+RssShmem (from
  /proc/PID/status) really drops; set b 208M --wait; min/max refusals (below
  min, above max, min above max, max above the boot size, unknown VM, a bad
  size) with their exit codes (1, or 2 for usage) and nothing changed (info
  JSON and the state file byte for byte); policy show / set / a refused set
  / release; remove a (its balloon stays where it is) and add it again
  (adopted at its current size); kill -9 the daemon and start it again on
  the same state file while two extra QMP clients watch each VM: no
  BALLOON_CHANGE, no change of query-balloon actual, targets/pins/settings
  and policy as before; kill -9 b while `set b 64M --wait` is in flight:
  the wait fails (exit 1), b becomes `lost`, a is untouched and can still be
  resized; /metrics serves the documented series with the values of `info`;
  SIGTERM: balloond exits 0.  Ends with "N passed, N failed"; exit 1 on any
  failure.  Budget: 120 s.
"""

import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from e2elib import (MiB, BalloonVM, Checks, Ctl, Daemon, Procs,  # noqa: E402
                    Watcher, check_restart, free_port, http_get, log_tail,
                    steady, tmpdir, wait_until)
from metrics import check_metrics, scrape_consistent  # noqa: E402

BUDGET_S = 120
SIZE = 256 * MiB


def wait_workload_done(vm, wid, timeout):
    with vm.qmp() as q:
        def done():
            for w in q.execute("x-bvm-query-workloads"):
                if w["id"] == wid and w["state"] == "done":
                    return w
            return None
        return wait_until(done, timeout, 0.1, f"workload {wid} done")


def part_add(c, ctl, a, b, tmp):
    r = ctl("version")
    c.check(r.rc == 0 and "0.1.0" in r.out, f"balloonctl version -> rc 0 "
            f"({r.out.strip().splitlines()[0] if r.out else r.err})")
    r = ctl("add", "a", "--qmp", a.qmp_path, "--min", "32M")
    c.check(r.rc == 0 and "a: added" in r.out and "connected" in r.out,
            f"add a --min 32M: {r.out.strip()}")
    r = ctl("add", "b", "--qmp", b.qmp_path, "--min", "64M", "--shares", 2000)
    c.check(r.rc == 0 and "b: added" in r.out, f"add b: {r.out.strip()}")
    r = ctl("--json", "add", "a", "--qmp", a.qmp_path)
    c.check(r.rc == 1 and (r.json or {}).get("error", {}).get("code")
            == "exists", f"add a again -> rc {r.rc}, "
            f"code {(r.json or {}).get('error', {}).get('code')}: "
            f"{r.err.strip()}")
    ghost = os.path.join(tmp, "ghost.qmp")
    r = ctl("add", "ghost", "--qmp", ghost)
    c.check(r.rc == 0 and "connecting" in r.out,
            f"add ghost (no such socket) -> {r.out.strip()}")
    r = ctl("remove", "ghost")
    c.check(r.rc == 0, f"remove ghost -> rc {r.rc}")
    r = ctl("--json", "remove", "ghost")
    c.check(r.rc == 1 and (r.json or {}).get("error", {}).get("code")
            == "unknown-vm", f"remove ghost again -> rc {r.rc} "
            f"({r.err.strip()})")


def part_show(c, ctl):
    r = ctl("list")
    head = r.out.splitlines()[0].split() if r.out else []
    c.check(r.rc == 0 and head == ["NAME", "STATE", "ACTUAL", "TARGET",
                                   "MIN", "MAX", "AVAIL", "SHARES", "MODE",
                                   "REASON"],
            f"list header {' '.join(head)}")
    rows = {ln.split()[0]: ln.split() for ln in r.out.splitlines()[1:]}
    c.check(set(rows) == {"a", "b"} and all(rows[n][1] == "connected"
                                             for n in rows),
            "list: a and b connected\n" + r.out.rstrip())
    r = ctl("--json", "list")
    vms = {v["name"]: v for v in (r.json or {}).get("vms", [])}
    keys = {"name", "qmp", "state", "max", "min", "shares", "target",
            "actual", "pinned", "reason", "stats", "stats-updated",
            "errors"}
    c.check(r.rc == 0 and set(vms) == {"a", "b"}
            and all(keys <= set(v) for v in vms.values()),
            f"list --json: documented VM keys for a and b")
    a = vms.get("a", {})
    c.check(a.get("actual") == SIZE and a.get("target") == SIZE
            and a.get("max") == SIZE and a.get("min") == 32 * MiB
            and vms.get("b", {}).get("shares") == 2000,
            f"a: actual/target/max {SIZE} bytes, min 32 MiB; b shares 2000")
    r = ctl("info", "a")
    c.check(r.rc == 0 and re.search(r"^actual:\s+256 MiB$", r.out, re.M)
            and re.search(r"^min:\s+32 MiB$", r.out, re.M),
            "info a (human): actual 256 MiB, min 32 MiB")
    got = wait_until(lambda: (lambda j: j if j and j.get("stats", {}).get(
        "stat-total-memory") else None)(ctl("--json", "stats", "a").json),
        10, 0.2, "stats of a")
    st = got["stats"]
    c.check(st.get("stat-total-memory") == SIZE
            and 0 < st.get("stat-free-memory", 0) <= SIZE
            and abs(got["last-update"] - time.time()) < 30,
            f"stats --json a: stat-total-memory {st.get('stat-total-memory')}"
            f" bytes, last-update {got['last-update']:.1f} (Unix s)")
    # b's first stats report may still be on its way: wait for it too.
    wait_until(lambda: (ctl("--json", "stats", "b").json or {}).get(
        "stats", {}).get("stat-total-memory"), 10, 0.2, "stats of b")
    r = ctl("stats", "b")
    c.check(r.rc == 0 and re.search(r"^stat-total-memory:\s+256 MiB$",
                                    r.out, re.M),
            "stats b (human): stat-total-memory 256 MiB")


def part_set(c, ctl, a, b):
    before = a.rss()
    c.note(f"a: RSS {before / MiB:.0f} MiB after its workload freed 160 MiB")
    c.check(before >= 150 * MiB, f"a: RSS {before / MiB:.0f} MiB >= 150 MiB "
            "before ballooning (freed pages still backed)")
    t0 = time.monotonic()
    r = ctl("set", "a", "64M", "--wait", "--timeout", 30)
    dt = time.monotonic() - t0
    c.check(r.rc == 0 and r.out.strip().splitlines()[-1]
            == "a: actual 64 MiB -> target 64 MiB (100%)",
            f"set a 64M --wait -> rc {r.rc} in {dt:.2f} s: "
            f"{r.out.strip().splitlines()[-1] if r.out else r.err}")
    info = ctl.info("a")
    c.check(info["target"] == 64 * MiB and info["pinned"] is True
            and abs(info["actual"] - 64 * MiB) <= MiB,
            f"info a: target 64 MiB pinned, actual {info['actual']}")
    with a.qmp() as q:
        qa = q.execute("query-balloon")["actual"]
    c.check(abs(qa - 64 * MiB) <= MiB, f"a's own QMP: actual {qa}")
    after = wait_until(lambda: (lambda r_: r_ if before - r_ >= 100 * MiB
                                else None)(a.rss()), 10, 0.1,
                       "a's RSS to drop")
    c.check(before - after >= 100 * MiB,
            f"a: host RSS {before / MiB:.0f} -> {after / MiB:.0f} MiB "
            f"(dropped {(before - after) / MiB:.0f} MiB)")
    r = ctl("set", "b", "208M", "--wait", "--timeout", 30)
    c.check(r.rc == 0, f"set b 208M --wait -> rc {r.rc}: "
            f"{r.out.strip().splitlines()[-1] if r.out else r.err}")


def part_refusals(c, ctl, d):
    snap = {n: steady(ctl.info(n)) for n in ("a", "b")}
    with open(d.state, "rb") as f:
        state0 = f.read()
    cases = [
        (("set", "a", "16M"), 1, "below-min", "below min"),
        (("set", "a", "300M"), 1, "above-max", "above max"),
        (("set", "a", "0"), 1, None, ""),
        (("min", "a", "300M"), 1, "min-above-max", "above max"),
        (("max", "a", "512M"), 1, "above-max", "boot size"),
        (("max", "b", "32M"), 1, "min-above-max", "below min"),
        (("shares", "b", "0"), None, None, ""),
        (("set", "nosuch", "64M"), 1, "unknown-vm", "nosuch"),
        (("set", "a", "12X"), 2, None, ""),
        (("set", "a"), 2, None, ""),
    ]
    for args, rc, code, text in cases:
        r = ctl(*args)
        rj = ctl("--json", *args)
        got = (rj.json or {}).get("error", {}).get("code")
        ok = (r.rc == rc if rc is not None else r.rc in (1, 2))
        ok = ok and r.err.startswith("balloonctl: ") and text in r.err
        ok = ok and (code is None or got == code)
        c.check(ok, f"balloonctl {' '.join(args)} -> rc {r.rc}"
                f"{', code ' + str(got) if got else ''}: {r.err.strip()}")
    time.sleep(0.5)
    now = {n: steady(ctl.info(n)) for n in ("a", "b")}
    c.check(now == snap, "nothing changed: info a and b as before"
            + ("" if now == snap else f"\n  before {snap}\n  after  {now}"))
    with open(d.state, "rb") as f:
        c.check(f.read() == state0, "nothing changed: state file identical")


def part_policy(c, ctl):
    r = ctl("policy")
    c.check(r.rc == 0 and re.search(r"^kind:\s+static$", r.out, re.M)
            and re.search(r"^enabled:\s+true$", r.out, re.M),
            "policy show: kind static, enabled true")
    p0 = ctl("--json", "policy").json or {}
    r = ctl("--json", "policy", "set", "tax_rate=0.5", "max_shrink=64M")
    p1 = r.json or {}
    c.check(r.rc == 0 and p1.get("tax_rate") == 0.5
            and p1.get("max_shrink") == 64 * MiB
            and p1.get("kind") == "static",
            f"policy set tax_rate=0.5 max_shrink=64M -> "
            f"{p1.get('tax_rate')}, {p1.get('max_shrink')}")
    c.check({k: v for k, v in p1.items() if k not in ("tax_rate",
                                                      "max_shrink")}
            == {k: v for k, v in p0.items() if k not in ("tax_rate",
                                                          "max_shrink")},
            "policy set changed only those two keys")
    r = ctl("policy", "set", "high_pct=1", "low_pct=5")
    c.check(r.rc == 1 and (ctl("--json", "policy").json == p1),
            f"policy set high_pct=1 low_pct=5 refused (rc {r.rc}), "
            f"nothing changed: {r.err.strip()}")
    r = ctl("policy", "set", "nosuch=1")
    c.check(r.rc in (1, 2), f"policy set nosuch=1 -> rc {r.rc}: "
            f"{r.err.strip()}")
    r = ctl("--json", "policy", "release", "a")
    c.check(r.rc == 0 and (r.json or {}).get("pinned") is False,
            "policy release a -> pinned false")
    t_a = ctl.info("a")
    time.sleep(1.0)  # five ticks of the static policy
    t_b = ctl.info("a")
    c.check(t_a["target"] == t_b["target"] == 64 * MiB
            and abs(t_b["actual"] - 64 * MiB) <= MiB,
            f"a released: static policy keeps target {t_b['target']}")


def part_remove(c, ctl, a):
    r = ctl("remove", "a")
    c.check(r.rc == 0, f"remove a -> rc {r.rc}")
    r = ctl("--json", "list")
    c.check([v["name"] for v in (r.json or {}).get("vms", [])] == ["b"],
            "list: only b left")
    time.sleep(0.5)
    with a.qmp() as q:
        qa = q.execute("query-balloon")["actual"]
    c.check(abs(qa - 64 * MiB) <= MiB,
            f"a's balloon left where it was: actual {qa >> 20} MiB")
    r = ctl("--json", "add", "a", "--qmp", a.qmp_path, "--min", "32M")
    j = r.json or {}
    c.check(r.rc == 0 and j.get("state") == "connected"
            and j.get("target") == qa and j.get("actual") == qa
            and j.get("max") == SIZE and j.get("pinned") is False,
            f"add a again: adopted at actual {j.get('actual')}, target "
            f"{j.get('target')}, max {j.get('max')}, not pinned")
    if j.get("max") != SIZE:  # go on with the boot size as the limit
        r = ctl("max", "a", "256M")
        c.note(f"(max a 256M -> rc {r.rc}, to go on)")


def part_restart(c, ctl, d, vms):
    pol = ctl("--json", "policy").json
    check_restart(c, ctl, d, {n: Watcher(vm.qmp_path)
                              for n, vm in vms.items()},
                  15, 1.5, lambda n: "QMP BALLOON_CHANGE")  # ~7 more ticks
    c.check(ctl("--json", "policy").json == pol,
            "policy parameters restored from the state file")


def part_lost(c, ctl, a, b):
    wa = Watcher(a.qmp_path)
    a0 = wa.poll()
    info_a0 = steady(ctl.info("a"))
    wb = Watcher(b.qmp_path)
    b0 = wb.poll()
    target = 64 * MiB
    t0 = time.monotonic()
    p = subprocess.Popen([ctl.exe, "--socket", ctl.sock, "set", "b", "64M",
                          "--wait", "--timeout", "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        ev = wb.q.wait_event("BALLOON_CHANGE", timeout=15)
        mid = ev["data"]["actual"]
        time.sleep(0.5)
        mid2 = wb.poll()
        inf = ctl.info("b")
        b.kill()
        t_kill = time.monotonic() - t0
        out, err = p.communicate(timeout=40)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    wb.close()
    c.check(target < mid2 < b0 and inf["target"] == target
            and inf["actual"] > target,
            f"b killed {t_kill:.2f} s into the resize: daemon target "
            f"{inf['target'] >> 20} MiB, actual {inf['actual'] >> 20} MiB "
            f"(events: {mid >> 20} MiB; from {b0 >> 20} MiB)")
    c.check(p.returncode == 1 and "lost" in err,
            f"set b 64M --wait -> rc {p.returncode}: {err.strip()}")
    st = wait_until(lambda: (lambda j: j if j["state"] == "lost" else None)(
        ctl.info("b")), 10, 0.1, "b lost")
    c.check(st["state"] == "lost", "info b: state lost")
    r = ctl("list")
    row = [ln.split() for ln in r.out.splitlines() if ln.startswith("b ")]
    c.check(row and row[0][1] == "lost", "list shows b lost\n"
            + r.out.rstrip())
    time.sleep(0.5)
    a1 = wa.poll()
    c.check(a1 == a0 and not wa.events and steady(ctl.info("a")) == info_a0,
            f"a unaffected: actual {a1 >> 20} MiB, no event, same info")
    wa.close()
    r = ctl("set", "a", "128M", "--wait", "--timeout", 30)
    c.check(r.rc == 0 and ctl.info("a")["actual"] == 128 * MiB,
            f"a still resizable: set a 128M --wait -> rc {r.rc} {r.err}")
    r = ctl("--json", "set", "b", "128M")
    c.check(r.rc == 1 and (r.json or {}).get("error", {}).get("code")
            == "unreachable", f"set on lost b -> rc {r.rc}: {r.err.strip()}")


def part_metrics(c, ctl, port):
    status, body, ctype = http_get("127.0.0.1", port, "/metrics")
    c.check(status == 200 and ctype.startswith("text/plain"),
            f"GET /metrics -> {status} {ctype}")
    body, vms = scrape_consistent(
        lambda: http_get("127.0.0.1", port, "/metrics")[1],
        lambda: {v["name"]: v for v in ctl("--json", "list").json["vms"]})
    check_metrics(c, body, vms)
    status, _, _ = http_get("127.0.0.1", port, "/nope")
    c.check(status == 404, f"GET /nope -> {status}")


def main(argv):
    if len(argv) != 4:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    bd_exe, bvm_exe, ctl_exe = (os.path.realpath(x) for x in argv[1:])
    c = Checks()
    procs = Procs()
    tmp = tmpdir("bln-e2e-dbvm-")
    d = None
    try:
        a = BalloonVM(procs, bvm_exe, tmp, "a", "256M", [
            "--stats-interval", "1", "--workload",
            "phased:peak=160M,grow=300ms,hold=200ms,release=100ms,idle=100ms,"
            "repeat=1"])
        b = BalloonVM(procs, bvm_exe, tmp, "b", "256M", [
            "--stats-interval", "1", "--workload", "idle:size=160M"])
        cfg = os.path.join(tmp, "balloond.conf")
        with open(cfg, "w") as f:
            f.write("[policy]\nkind = static\n")
        port = free_port()
        d = Daemon(procs, bd_exe, tmp, tick_ms=200, config=cfg,
                   metrics=f"127.0.0.1:{port}")
        ctl = Ctl(ctl_exe, d.socket)
        wait_workload_done(a, 1, 20)
        steps = [
            ("add", lambda: part_add(c, ctl, a, b, tmp)),
            ("show", lambda: part_show(c, ctl)),
            ("set", lambda: part_set(c, ctl, a, b)),
            ("refusals", lambda: part_refusals(c, ctl, d)),
            ("policy", lambda: part_policy(c, ctl)),
            ("remove", lambda: part_remove(c, ctl, a)),
            ("restart", lambda: part_restart(c, ctl, d, {"a": a, "b": b})),
            ("lost", lambda: part_lost(c, ctl, a, b)),
            ("metrics", lambda: part_metrics(c, ctl, port)),
        ]
        c.run_steps(steps)
        rc = d.stop()
        c.check(rc == 0, f"balloond exits {rc} on SIGTERM")
    except Exception as e:
        c.check(False, f"setup: {type(e).__name__}: {e}")
    finally:
        if c.failed and d:
            print("--- balloond log (tail)\n" + log_tail(d.log_path, 40))
        procs.kill_all()
    return c.finish(BUDGET_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
