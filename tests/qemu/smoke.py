#!/usr/bin/env python3
"""End-to-end smoke test with real QEMU guests and Linux's virtio_balloon.

Boots a 512 MiB guest (scripts/qemu-vm), drives its balloon over QMP
(qmp_capabilities, qom-set guest-stats-polling-interval, balloon,
query-balloon, qom-get guest-stats) and checks from inside the guest
(control channel: meminfo, vmstat) that the memory really went and came
back.  A second guest without deflate-on-oom checks MemTotal itself.
Prints every check and the timings; exits 1 on any failure.

usage: smoke.py [--keep-going]
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from guest import Guest, MiB, stop_guests_on_sigterm, wait_until  # noqa: E402

BALLOON = "/machine/peripheral/balloon0"
SIZE = 512 * MiB
TARGET = 256 * MiB
PAGES = (SIZE - TARGET) // 4096  # 4 KiB balloon pages moved each way
SLACK_KIB = 16 * 1024  # guest noise allowed in meminfo comparisons
STAT_NAMES = {
    "stat-swap-in", "stat-swap-out", "stat-major-faults",
    "stat-minor-faults", "stat-free-memory", "stat-total-memory",
    "stat-available-memory", "stat-disk-caches", "stat-htlb-pgalloc",
    "stat-htlb-pgfail",
}


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.timings = {}

    def check(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if cond:
            self.passed += 1
        else:
            self.failed += 1
        return cond

    def timing(self, key, seconds):
        self.timings[key] = seconds
        print(f"time {key} = {seconds:.2f} s", flush=True)


def balloon_to(c, q, target, key):
    """Set the balloon target, wait for query-balloon actual to reach it."""
    t0 = time.monotonic()
    q.execute("balloon", {"value": target})
    # Linux's driver converges on the exact target (actual is ram_size minus
    # whole 4 KiB balloon pages), so wait for equality: stopping within a
    # tolerance would read vmstat while the last batch is still in flight.
    actual = wait_until(
        lambda: (lambda a: a if a == target else 0)(
            q.execute("query-balloon")["actual"]),
        timeout=90, interval=0.05, what=f"balloon actual {target >> 20} MiB")
    c.timing(key, time.monotonic() - t0)
    c.check(actual == target,
            f"query-balloon actual {actual >> 20} MiB == {target >> 20} MiB")


def fresh_stats(q, since):
    """guest-stats once the guest has sent an update after time since."""
    def get():
        s = q.execute("qom-get", {"path": BALLOON, "property": "guest-stats"})
        return s if s["last-update"] > since else None
    return wait_until(get, timeout=10, interval=0.2, what="fresh guest-stats")


def check_stats(c, q, g, since, label):
    st = fresh_stats(q, since)
    m = g.meminfo()
    stats = st["stats"]
    c.check(STAT_NAMES <= set(stats),
            f"{label}: guest-stats has {len(STAT_NAMES)} QEMU stat names")
    c.check(all(isinstance(v, int) and v >= 0 for v in stats.values()),
            f"{label}: all stats are non-negative integers")
    # Memory stats are bytes: total is exactly MemTotal (KiB) * 1024.
    c.check(stats["stat-total-memory"] == m["MemTotal"] * 1024,
            f"{label}: stat-total-memory {stats['stat-total-memory']} B "
            f"== MemTotal {m['MemTotal']} KiB * 1024")
    for name, key in (("stat-free-memory", "MemFree"),
                      ("stat-available-memory", "MemAvailable")):
        diff = abs(stats[name] // 1024 - m[key])
        c.check(diff <= SLACK_KIB,
                f"{label}: {name} {stats[name] >> 20} MiB ~ {key} "
                f"{m[key] >> 10} MiB (bytes vs KiB, off by {diff} KiB)")
    c.check(0 < stats["stat-minor-faults"] < 10**9,
            f"{label}: stat-minor-faults is a count "
            f"({stats['stat-minor-faults']})")
    c.check(stats["stat-disk-caches"] < stats["stat-total-memory"],
            f"{label}: stat-disk-caches below total")
    return stats


def guest_default(c):
    """512 MiB, deflate-on-oom=on (qemu-vm's default): with that feature
    Linux keeps ballooned pages in MemTotal and counts them as used."""
    with Guest("smoke-a", "512M") as g:
        c.timing("boot_default", g.boot_s)
        with g.qmp() as q:
            c.check(q.execute("query-balloon")["actual"] == SIZE,
                    "query-balloon actual is 512 MiB at boot")
            q.execute("qom-set", {"path": BALLOON, "value": 1,
                                  "property": "guest-stats-polling-interval"})
            iv = q.execute("qom-get", {"path": BALLOON,
                                       "property": "guest-stats-polling-interval"})
            c.check(iv == 1, "guest-stats-polling-interval set to 1 s")
            m0, v0 = g.meminfo(), g.vmstat("balloon_")
            check_stats(c, q, g, 0, "512M")

            balloon_to(c, q, TARGET, "inflate_256M")
            t_inflated = time.time()
            m1, v1 = g.meminfo(), g.vmstat("balloon_")
            grew = v1["balloon_inflate"] - v0["balloon_inflate"]
            c.check(grew == PAGES, f"guest vmstat balloon_inflate grew by "
                    f"{grew} pages (expected {PAGES})")
            for key in ("MemFree", "MemAvailable"):
                drop = m0[key] - m1[key]
                c.check(abs(drop - PAGES * 4) <= SLACK_KIB,
                        f"guest {key} dropped {drop >> 10} MiB "
                        f"(expected {PAGES * 4 >> 10} MiB)")
            c.check(m1["MemTotal"] == m0["MemTotal"],
                    "guest MemTotal unchanged (deflate-on-oom: pages "
                    "counted as used)")
            check_stats(c, q, g, int(t_inflated), "256M")

            r = g.ctl("alloc 64M")
            m2 = g.meminfo()
            c.check("got=67108864" in r and m1["MemFree"] - m2["MemFree"]
                    >= 60 * 1024, f"memhog alloc 64M took guest memory ({r})")
            r = g.ctl("free all")
            c.check("held=0" in r, f"memhog free all ({r})")

            balloon_to(c, q, SIZE, "deflate_512M")
            t_deflated = time.time()
            m3, v3 = g.meminfo(), g.vmstat("balloon_")
            grew = v3["balloon_deflate"] - v1["balloon_deflate"]
            c.check(grew == PAGES, f"guest vmstat balloon_deflate grew by "
                    f"{grew} pages (expected {PAGES})")
            c.check(m3["MemFree"] >= m0["MemFree"] - SLACK_KIB,
                    f"guest MemFree back to {m3['MemFree'] >> 10} MiB "
                    f"(was {m0['MemFree'] >> 10} MiB)")
            check_stats(c, q, g, int(t_deflated), "512M again")


def guest_no_doom(c):
    """512 MiB, deflate-on-oom=off: ballooned pages leave MemTotal."""
    with Guest("smoke-b", "512M", ["--no-deflate-on-oom"]) as g:
        c.timing("boot_no_deflate_on_oom", g.boot_s)
        with g.qmp() as q:
            m0 = g.meminfo()
            balloon_to(c, q, TARGET, "inflate_256M_no_doom")
            m1 = g.meminfo()
            c.check(m0["MemTotal"] - m1["MemTotal"] == PAGES * 4,
                    f"guest MemTotal dropped by exactly {PAGES * 4 >> 10} "
                    f"MiB ({m0['MemTotal']} -> {m1['MemTotal']} KiB)")
            balloon_to(c, q, SIZE, "deflate_512M_no_doom")
            m2 = g.meminfo()
            c.check(m2["MemTotal"] == m0["MemTotal"],
                    f"guest MemTotal back to {m2['MemTotal']} KiB")


def main():
    stop_guests_on_sigterm()
    c = Checks()
    t0 = time.monotonic()
    for part in (guest_default, guest_no_doom):
        try:
            part(c)
        except Exception as e:  # a timeout or QMP error fails the part
            c.check(False, f"{part.__name__}: {type(e).__name__}: {e}")
    c.timing("total", time.monotonic() - t0)
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed or not c.passed else 0


if __name__ == "__main__":
    sys.exit(main())
