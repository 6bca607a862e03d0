#!/usr/bin/env python3
"""Two real Linux guests under TCG plus one balloonvm under one balloond.

usage: daemon_qemu.py BALLOOND BALLOONVM BALLOONCTL

Boots two QEMU guests (scripts/qemu-vm through tests/qemu/guest.py: q1
384 MiB, q2 448 MiB, Linux's virtio_balloon) and one 256 MiB balloonvm (v),
starts balloond (policy kind static, so only the test moves balloons; tick
500 ms; metrics on) and, through balloonctl:
  adds all three (max learned: 384/448/256 MiB); set --wait each (q1 256M,
  q2 320M, v 128M): balloonctl's final line, the balloon as each VM counts
  it (the guest's own vmstat for QEMU, query-balloon for the balloonvm),
  inside the QEMU guests balloon_inflate grew by exactly the pages asked
  for and MemFree dropped by that much; stats for each (stat-total-memory
  == the guest's MemTotal x 1024, bytes; fresh last-update, refreshed about
  every second: balloond enabled stats polling); kill -9 the daemon and
  start it again while nothing moves: inside each QEMU guest the vmstat
  balloon_inflate/balloon_deflate counters stay constant (QEMU serves one
  QMP client at a time and balloond holds it), a second QMP client on the
  balloonvm sees no BALLOON_CHANGE and a constant actual, and info,
  targets and pins are as before; then q2's memhog holds 200 MiB and
  `set q2 128M --wait` stalls part way (no swap in the guest); QEMU q2 is
  killed with -9 while that resize is in flight: the wait fails (exit 1,
  lost), q2 becomes `lost`, q1 and v see no balloon movement and no change
  and can still be resized; /metrics agrees with info; SIGTERM: balloond
  exits 0.
Ends with "N passed, N failed"; exit 1 on any failure.  Budget: 240 s.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from e2elib import (BALLOON_PATH, MiB, PAGE, BalloonVM, Checks, Ctl,  # noqa
                    Daemon, NoSigterm, Procs, Watcher, check_restart,
                    free_port, http_get, log_tail, pid_alive, steady, tmpdir,
                    wait_until)
from guest import Guest  # noqa: E402
from metrics import check_metrics, scrape_consistent  # noqa: E402
from qmp import QMP  # noqa: E402

BUDGET_S = 240
SIZES = {"q1": 384 * MiB, "q2": 448 * MiB, "v": 256 * MiB}
TARGETS = {"q1": 256 * MiB, "q2": 320 * MiB, "v": 128 * MiB}
SLACK_KIB = 16 * 1024


def boot_guests(c, names, guests, threads):
    """Boot the QEMU guests in parallel into guests {name: Guest}; the
    threads list lets the caller join them before cleaning up."""
    errors = {}
    for n in names:
        guests[n] = Guest(n, f"{SIZES[n] >> 20}M")

    def boot(n):
        try:
            guests[n].start()
        except Exception as e:  # reported below
            errors[n] = e
    threads += [threading.Thread(target=boot, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in names:
        ok = n not in errors
        c.check(ok, f"{n}: QEMU guest booted ({SIZES[n] >> 20} MiB) in "
                f"{guests[n].boot_s or 0:.1f} s"
                + ("" if ok else f": {errors[n]}"))
    if errors:
        raise RuntimeError("guest boot failed")


def qemu_pid(g):
    with open(os.path.join(g.vmdir, g.name + ".pid")) as f:
        return int(f.read().strip())


def guest_actual(g):
    """The balloon as the guest counts it: boot size minus the pages its
    driver inflated and not deflated since boot (vmstat, 4 KiB pages)."""
    v = g.vmstat("balloon_")
    return SIZES[g.name] - (v["balloon_inflate"] - v["balloon_deflate"]) * PAGE


def qmp_actual(path):
    with QMP(path, timeout=5) as q:
        return q.execute("query-balloon")["actual"]


def part_add(c, ctl, paths):
    for n in ("q1", "q2", "v"):
        r = ctl("add", n, "--qmp", paths[n])
        c.check(r.rc == 0 and "connected" in r.out, f"add {n}: "
                f"{r.out.strip() or r.err.strip()}")
    r = ctl("list")
    print(r.out.rstrip())
    vms = {v["name"]: v for v in ctl("--json", "list").json["vms"]}
    for n in ("q1", "q2", "v"):
        vm = vms.get(n, {})
        c.check(vm.get("state") == "connected"
                and vm.get("actual") == SIZES[n] == vm.get("max")
                and vm.get("target") == SIZES[n],
                f"{n}: connected, actual = target = max = "
                f"{SIZES[n] >> 20} MiB ({vm.get('max')})")


def part_set(c, ctl, guests, paths):
    before = {n: (g.vmstat("balloon_"), g.meminfo())
              for n, g in guests.items()}
    for n in ("q1", "q2", "v"):
        t0 = time.monotonic()
        r = ctl("set", n, f"{TARGETS[n] >> 20}M", "--wait", "--timeout", 90)
        dt = time.monotonic() - t0
        last = r.out.strip().splitlines()[-1] if r.out.strip() else r.err
        # --wait returns within its documented tolerance, max(1 MiB, 1 %):
        # the last 4 KiB pages and QEMU's (throttled) BALLOON_CHANGE may
        # still be on their way, so wait for the daemon's view to settle.
        c.check(r.rc == 0 and re.search(
            rf"-> target {TARGETS[n] >> 20} MiB \(\d+%\)$", last),
            f"set {n} {TARGETS[n] >> 20}M --wait -> rc {r.rc} in {dt:.1f} s:"
            f" {last.strip()}")
        # QEMU serves one QMP client at a time (balloond holds it): the
        # QEMU guests are measured from inside, balloonvm over its QMP.
        # Linux's driver and balloonvm reach the target exactly: waiting
        # only until within 1 MiB let the checks below compare the guest's
        # final count with a daemon view one batch behind.
        try:
            wait_until(lambda: ctl.info(n)["actual"] == TARGETS[n],
                       15, 0.2, f"{n} actual to settle")
        except TimeoutError:
            pass  # the check below reports the values
        a = guest_actual(guests[n]) if n in guests else qmp_actual(paths[n])
        info = ctl.info(n)
        c.check(abs(a - TARGETS[n]) <= MiB and info["pinned"] is True
                and info["target"] == TARGETS[n]
                and abs(info["actual"] - a) <= MiB,
                f"{n}: {'in-guest vmstat' if n in guests else 'QMP'} "
                f"balloon says {a >> 20} MiB, info actual "
                f"{info['actual'] >> 20} MiB, target pinned")
    for n, g in guests.items():
        v0, m0 = before[n]
        v1, m1 = g.vmstat("balloon_"), g.meminfo()
        a = ctl.info(n)["actual"]
        pages = (SIZES[n] - a) // PAGE
        grew = v1["balloon_inflate"] - v0["balloon_inflate"]
        c.check(grew == pages, f"{n}: guest balloon_inflate +{grew} pages "
                f"== {pages} ({(SIZES[n] - a) >> 20} MiB)")
        drop = m0["MemFree"] - m1["MemFree"]
        c.check(abs(drop - pages * 4) <= SLACK_KIB,
                f"{n}: guest MemFree dropped {drop >> 10} MiB "
                f"(expected {pages * 4 >> 10} MiB)")


def part_stats(c, ctl, guests, paths):
    t0 = time.time()
    for n in ("q1", "q2", "v"):
        def fresh():
            j = ctl("--json", "stats", n).json or {}
            return j if j.get("last-update", 0) >= t0 and j.get("stats") \
                else None
        j = wait_until(fresh, 15, 0.25, f"fresh stats of {n}")
        st = j["stats"]
        if n in guests:
            mt = guests[n].meminfo()["MemTotal"]
            c.check(st.get("stat-total-memory") == mt * 1024,
                    f"{n}: stats stat-total-memory "
                    f"{st.get('stat-total-memory')} == guest MemTotal {mt} "
                    "KiB x 1024")
        else:  # no deflate-on-oom: ballooned pages leave the total
            c.check(st.get("stat-total-memory") == TARGETS[n],
                    f"{n}: stats stat-total-memory "
                    f"{st.get('stat-total-memory')} == {TARGETS[n]} (the "
                    "ballooned size: no deflate-on-oom)")
        c.check(0 < st.get("stat-available-memory", 0)
                <= st.get("stat-total-memory", 0),
                f"{n}: stat-available-memory "
                f"{st.get('stat-available-memory', 0) / MiB:.0f} MiB")
        if n in guests:  # QMP is balloond's: polling shows in the updates
            j2 = wait_until(lambda: (lambda x: x if x.get("last-update", 0)
                                     > j["last-update"] else None)(
                ctl("--json", "stats", n).json or {}), 5, 0.25,
                f"next stats of {n}")
            dt = j2["last-update"] - j["last-update"]
            c.check(0 < dt <= 2.5, f"{n}: guest stats refreshed every "
                    f"{dt:.1f} s (balloond enabled polling)")
        else:
            with QMP(paths[n], timeout=5) as q:
                iv = q.execute("qom-get", {
                    "path": BALLOON_PATH,
                    "property": "guest-stats-polling-interval"})
            c.check(iv == 1, f"{n}: balloond set "
                    f"guest-stats-polling-interval to {iv} s")
        r = ctl("stats", n)
        c.check(r.rc == 0 and "stat-free-memory:" in r.out,
                f"stats {n} (human) -> rc {r.rc}")


class GuestWatch:
    """Watches a QEMU guest's balloon from inside (QEMU's QMP is taken by
    balloond): any balloon_inflate/balloon_deflate change is an event."""

    def __init__(self, g):
        self.g = g
        self.events = []
        self.actuals = []
        self.last = None

    def poll(self, wait=0.0):
        if wait:
            time.sleep(wait)
        v = self.g.vmstat("balloon_")
        cur = (v["balloon_inflate"], v["balloon_deflate"])
        if self.last is not None and cur != self.last:
            self.events.append((self.last, cur))
        self.last = cur
        a = SIZES[self.g.name] - (cur[0] - cur[1]) * PAGE
        self.actuals.append(a)
        return a

    def close(self):
        pass


def watch(n, guests, paths):
    return GuestWatch(guests[n]) if n in guests else Watcher(paths[n])


def part_restart(c, ctl, d, guests, paths):
    check_restart(c, ctl, d, {n: watch(n, guests, paths)
                              for n in ("q1", "q2", "v")},
                  20, 2.5,  # five more ticks
                  lambda n: "guest vmstat" if n in guests
                  else "QMP BALLOON_CHANGE")


def part_lost(c, ctl, guests, paths):
    g = guests["q2"]
    t0 = time.monotonic()
    r = g.ctl_raw("alloc 200M")
    c.note(f"q2 memhog: {r} ({time.monotonic() - t0:.1f} s)")
    others = ("q1", "v")
    ws = {n: watch(n, guests, paths) for n in others}
    a0 = {n: w.poll() for n, w in ws.items()}
    info0 = {n: steady(ctl.info(n)) for n in others}
    wq = GuestWatch(g)
    b0 = wq.poll()
    target = 128 * MiB
    pid = qemu_pid(g)
    t0 = time.monotonic()
    p = subprocess.Popen([ctl.exe, "--socket", ctl.sock, "set", "q2", "128M",
                          "--wait", "--timeout", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        wait_until(lambda: wq.poll() < b0, 30, 0.1, "q2's balloon to move")

        def stalled():  # the balloon stops moving, short of the target
            a1 = wq.poll()
            time.sleep(1.5)
            a2 = wq.poll()
            return a2 if a1 == a2 else None
        mid = wait_until(stalled, 40, 0, "q2's inflation to stall")
        inf = ctl.info("q2")
        os.kill(pid, signal.SIGKILL)
        t_kill = time.monotonic() - t0
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    c.check(target < mid < b0 and inf["target"] == target
            and p.returncode is not None,
            f"q2 (QEMU pid {pid}) killed {t_kill:.1f} s into the resize "
            f"{b0 >> 20} -> {target >> 20} MiB, stalled at {mid >> 20} MiB "
            f"(daemon: target {inf['target'] >> 20} MiB, actual "
            f"{inf['actual'] >> 20} MiB)")
    c.check(wait_until(lambda: not pid_alive(pid), 10, 0.1, "QEMU gone"),
            "q2's QEMU process is gone")
    c.check(p.returncode == 1 and "lost" in err,
            f"set q2 128M --wait -> rc {p.returncode}: {err.strip()}")
    st = wait_until(lambda: (lambda j: j if j["state"] == "lost" else None)(
        ctl.info("q2")), 10, 0.1, "q2 lost")
    c.check(st["state"] == "lost", "info q2: state lost")
    print(ctl("list").out.rstrip())
    time.sleep(1.0)
    for n, w in ws.items():
        a1 = w.poll()
        c.check(a1 == a0[n] and not w.events
                and steady(ctl.info(n)) == info0[n],
                f"{n} unaffected: actual {a1 >> 20} MiB, no balloon "
                "movement, same info")
        w.close()
    for n, t in (("q1", 320 * MiB), ("v", 192 * MiB)):
        r = ctl("set", n, f"{t >> 20}M", "--wait", "--timeout", 60)
        a = guest_actual(guests[n]) if n in guests else qmp_actual(paths[n])
        c.check(r.rc == 0 and abs(a - t) <= MiB,
                f"{n} still resizable: set {n} {t >> 20}M --wait -> rc "
                f"{r.rc}, now {a >> 20} MiB")


def main(argv):
    if len(argv) != 4:
        print("usage: daemon_qemu.py BALLOOND BALLOONVM BALLOONCTL",
              file=sys.stderr)
        return 2
    bd_exe, bvm_exe, ctl_exe = (os.path.realpath(x) for x in argv[1:])
    c = Checks()
    procs = Procs()
    tmp = tmpdir("bln-e2e-dq-")
    d = None
    guests, threads = {}, []
    try:
        boot_guests(c, ("q1", "q2"), guests, threads)
        v = BalloonVM(procs, bvm_exe, tmp, "v", "256M")
        paths = {n: g.qmp_path for n, g in guests.items()}
        paths["v"] = v.qmp_path
        cfg = os.path.join(tmp, "balloond.conf")
        with open(cfg, "w") as f:
            f.write("[policy]\nkind = static\n")
        port = free_port()
        d = Daemon(procs, bd_exe, tmp, tick_ms=500, config=cfg,
                   metrics=f"127.0.0.1:{port}")
        ctl = Ctl(ctl_exe, d.socket)
        steps = [
            ("add", lambda: part_add(c, ctl, paths)),
            ("set", lambda: part_set(c, ctl, guests, paths)),
            ("stats", lambda: part_stats(c, ctl, guests, paths)),
            ("restart", lambda: part_restart(c, ctl, d, guests, paths)),
            ("lost", lambda: part_lost(c, ctl, guests, paths)),
            ("metrics", lambda: check_metrics(c, *scrape_consistent(
                lambda: http_get("127.0.0.1", port, "/metrics")[1],
                lambda: {j["name"]: j
                         for j in ctl("--json", "list").json["vms"]}))),
        ]
        c.run_steps(steps)
        rc = d.stop()
        c.check(rc == 0, f"balloond exits {rc} on SIGTERM")
    except Exception as e:
        c.check(False, f"setup: {type(e).__name__}: {e}")
    finally:
        with NoSigterm():
            for t in threads:  # a boot still under way: let it finish
                t.join()
            if c.failed and d:
                print("--- balloond log (tail)\n" + log_tail(d.log_path, 40))
            procs.kill_all()  # balloond first: QEMU's one QMP client is
            for g in guests.values():  # free for qemu-vm stop's quit
                if c.failed:
                    print(f"--- {g.name} serial log (tail)\n"
                          + "\n".join(g.log().splitlines()[-10:]))
                g.stop()
    return c.finish(BUDGET_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
