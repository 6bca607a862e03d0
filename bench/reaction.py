#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reaction time of balloond's idletax policy to a working-set jump.

One balloonvm ("a", --memory, with swap) runs a steady workload over a small
working set under balloond (policy idletax, on).  Each repeat:

  1. a fresh VM with a working set of --ws-low, its size pinned to
     --squeeze with `set` (the balloon inflates), then `policy-release`:
     the policy owns the target again and may move it (the host is in
     HIGH; the VM's want is need + margin); we wait until target and
     actual have not changed for 2 s and the guest does not swap.  That
     size (start_mib) must be below --ws-high, so that the jump cannot
     fit without a grant.
  2. jump: x-bvm-workload-set ws=--ws-high (t0 = when the command is sent).
     The guest no longer fits, reclaims and swaps; its stats show swap-out,
     the policy's urgent rule grants memory, the balloon deflates.
  3. observe x-bvm-query-memory every --poll-ms: guest swap-out counter,
     balloon target and actual, until swap-out has not grown for --quiet s
     and actual == target (or --timeout).

Reported per repeat (seconds from t0):
  short          the guest ran short: available < 64 MiB (the policy's
                 margin, its "collapse" signal) or swap-out grew
  first-swapout  the guest's swap-out counter first grew
  first-target   the target first raised above the squeezed size
  first-grant    actual first reached that raised target
  reaction       the guest has the memory: max(first grant delivered,
                 last swap-out increase) - the figure the goal (<= 1 s) is
                 about
  from-short     the same counted from `short`: the daemon's share (the
                 guest needs time to fill its free memory first)
  settled        actual reached the last target (the policy may go on
                 granting after the guest stopped swapping)
  swapped MiB    swap-out during the episode
Median, p99 (nearest rank: with 10 repeats that is the maximum) and the
spread (max - min) / median over the repeats.

With --donor a second VM ("b", idle) holds the rest of a fixed budget
(policy budget = a squeezed + b + --room): the grant beyond --room has to
be reclaimed from b, at most max_shrink per tick (docs/policy.md).

usage: reaction.py [--repeats 10] [--tick-ms 1000] [--csv FILE] [--build DIR]
                   [--memory 2G] [--swap 1G] [--ws-low 128M] [--ws-high 640M]
                   [--squeeze 384M] [--donor] [--room 1G]
"""

import argparse
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import benchlib as B  # noqa: E402

GOAL_S = 1.0
SHORT_BYTES = 64 << 20  # guest available below the policy's margin: short


def sample(q, memory):
    """(t, swap-out bytes, target bytes, actual bytes, available bytes) of
    the guest."""
    m = q.execute("x-bvm-query-memory")
    t = time.monotonic()
    dev = m["device"]
    return (t, m["guest"]["swap-out"], memory - dev["target"],
            memory - dev["actual"], m["guest"]["mem-available"])


def wait_actual(q, memory, want, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        s = sample(q, memory)
        if s[2] == want and s[3] == want:
            return s
        if time.monotonic() > deadline:
            raise B.BenchError("balloon did not reach %s (target %s actual "
                               "%s)" % (B.mib(want), B.mib(s[2]), B.mib(s[3])))
        time.sleep(0.05)


def fresh_vm(build, wdir, d, donor, args, n):
    """A new balloonvm "a<n>" squeezed to --squeeze and handed to the
    policy.  A fresh VM per repeat keeps the repeats independent (no
    swap, page cache or allocator state carried over)."""
    name = "a%d" % n
    workload = "steady:ws=%s,write=0.3" % B.mib(args.ws_low)
    vm = B.BalloonVM(build, name, args.memory, wdir, swap=args.swap,
                     workloads=[workload]).wait_ready()
    q = vm.qmp()
    if donor:
        # The donor back at full size, the budget off (the host's memory)
        # while the new VM is squeezed.
        d.ctl("policy-set", budget=0)
        d.ctl("set", vm="b", target=args.memory)
        wait_actual(donor.qmp(), args.memory, args.memory)
    d.ctl("add", vm=name, qmp=vm.qmp_path)
    d.ctl("set", vm=name, target=args.squeeze)
    wait_actual(q, args.memory, args.squeeze)
    # The working set must be resident before the jump.
    B.wait_for(lambda: q.execute("x-bvm-query-memory")["guest"]["anon"]
               >= args.ws_low, 30, "working set resident")
    if donor:
        # a (squeezed) + b + room: the rest of a's grant must come from b.
        d.ctl("policy-release", vm="b")
        d.ctl("policy-set", budget=args.squeeze + args.memory + args.room)
    d.ctl("policy-release", vm=name)
    # Let the policy look at it: no target change and no swap-out for 2 s.
    last = sample(q, args.memory)
    calm = time.monotonic()
    deadline = calm + 30
    while time.monotonic() - calm < 2.0:
        time.sleep(0.1)
        s = sample(q, args.memory)
        if s[1] != last[1] or s[2] != last[2] or s[2] != s[3]:
            calm = time.monotonic()
        last = s
        if time.monotonic() > deadline:
            raise B.BenchError("guest does not settle before the jump")
    if last[2] >= args.ws_high:
        raise B.BenchError("policy moved the released VM to %s before the "
                           "jump, not below the new working set %s"
                           % (B.mib(last[2]), B.mib(args.ws_high)))
    return name, vm, q


def one_jump(q, args):
    base = sample(q, args.memory)
    t0 = time.monotonic()
    q.execute("x-bvm-workload-set",
              {"id": 1, "spec": "ws=" + B.mib(args.ws_high)})
    series = [base]
    quiet_since = time.monotonic()
    while True:
        time.sleep(args.poll_ms / 1000.0)
        s = sample(q, args.memory)
        prev = series[-1]
        series.append(s)
        if s[1] != prev[1] or s[2] != s[3] or s[2] != prev[2]:
            quiet_since = s[0]
        if s[0] - quiet_since >= args.quiet and s[2] > base[2]:
            break
        if s[0] - t0 > args.timeout:
            raise B.BenchError("no settled grant after %.0f s (target %s "
                               "actual %s, swap-out still growing?)"
                               % (args.timeout, B.mib(s[2]), B.mib(s[3])))
    return analyse(series, t0, base)


def analyse(series, t0, base):
    """Times (s from t0) of the first raised target, the first grant
    delivered, the last swap-out growth, the final target reached."""
    final_target = series[-1][2]
    first_target = first_grant = settled = last_swap = first_swap = None
    short = None
    raised = None
    for i, (t, so, tg, ac, av) in enumerate(series[1:], 1):
        if short is None and (av < SHORT_BYTES or so > series[i - 1][1]):
            short = t
        if first_target is None and tg > base[2]:
            first_target, raised = t, tg
        if first_grant is None and raised is not None and ac >= raised:
            first_grant = t
        if settled is None and tg == final_target and ac == final_target:
            settled = t
        if so > series[i - 1][1]:
            last_swap = t
            first_swap = first_swap or t
    swapped = last_swap is not None
    last_swap = last_swap or t0
    first_swap = first_swap or t0
    # Never short before the first raised target: the policy granted
    # before the guest lacked memory (from_short is then 0).
    ran_short = short is not None and short <= first_target
    short = min(short or first_target, first_target)
    return {
        "ran_short": ran_short,
        "did_swap": swapped,
        "first_target": first_target - t0,
        "first_grant": first_grant - t0,
        # the guest has its memory: a grant arrived and swap-out stopped
        "reaction": max(first_grant, last_swap) - t0,
        # the same from the moment the guest ran short (the daemon's part)
        "short": short - t0,
        "from_short": max(first_grant, last_swap) - short,
        "last_swap": last_swap - t0,
        "first_swap": first_swap - t0,
        "settled": settled - t0,
        "swapped": series[-1][1] - base[1],
        "final_target": final_target,
        "start": base[2],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--tick-ms", type=int, default=1000)
    ap.add_argument("--memory", type=B.size, default=B.size("2G"))
    ap.add_argument("--swap", type=B.size, default=B.size("1G"))
    ap.add_argument("--ws-low", type=B.size, default=B.size("128M"))
    ap.add_argument("--ws-high", type=B.size, default=B.size("640M"))
    ap.add_argument("--squeeze", type=B.size, default=B.size("384M"))
    ap.add_argument("--donor", action="store_true")
    ap.add_argument("--room", type=B.size, default=B.size("128M"))
    ap.add_argument("--poll-ms", type=float, default=20)
    ap.add_argument("--quiet", type=float, default=3.0,
                    help="s without swap-out growth that end an episode")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--csv", default="reaction.csv")
    ap.add_argument("--build")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args()
    B.sigterm_exits()
    build = B.build_dir(args.build)
    wdir = B.workdir("bench-reaction-")
    B.log("machine: " + B.machine())
    B.log("work dir %s, build %s" % (wdir, build))
    d = B.Balloond(build, wdir, tick_ms=args.tick_ms,
                   log_level=args.log_level)
    d.ctl("policy-set", kind="idletax", enabled=True)
    donor = None
    if args.donor:
        donor = B.BalloonVM(build, "b", args.memory, wdir, swap=args.swap,
                            workloads=["idle:size=%s" % B.mib(args.ws_low)])
        donor.wait_ready()
        d.ctl("add", vm="b", qmp=donor.qmp_path)
    rows = B.Table(["repeat", "short_s", "first_swapout_s", "first_target_s",
                    "first_grant_s", "last_swapout_s", "reaction_s",
                    "from_short_s", "settled_s", "swapped_mib", "start_mib",
                    "final_target_mib", "load1"], args.csv)
    res = []
    try:
        for r in range(args.repeats):
            name, vm, q = fresh_vm(build, wdir, d, donor, args, r + 1)
            try:
                x = one_jump(q, args)
            finally:
                d.ctl("remove", vm=name)
                vm.stop()
            res.append(x)
            rows.add(r + 1, x["short"] if x["ran_short"] else "",
                     x["first_swap"] if x["did_swap"] else "",
                     x["first_target"], x["first_grant"],
                     x["last_swap"] if x["did_swap"] else "",
                     x["reaction"],
                     x["from_short"] if x["ran_short"] else "",
                     x["settled"],
                     x["swapped"] / B.MiB, x["start"] // B.MiB,
                     x["final_target"] // B.MiB,
                     B.loadavg())
            B.log("repeat %d: reaction %.3f s (first target %.3f, grant "
                  "%.3f, last swap-out %.3f, settled %.3f at %s, swapped "
                  "%.0f MiB)" % (r + 1, x["reaction"], x["first_target"],
                                 x["first_grant"], x["last_swap"],
                                 x["settled"], B.mib(x["final_target"]),
                                 x["swapped"] / B.MiB))
    finally:
        if donor:
            donor.stop()
        d.stop()
    if not res:
        return 1
    rows.print()
    summary = B.Table(["figure_s", "median", "p99", "min", "max",
                       "spread_pct"])
    only = {"short": "ran_short", "from_short": "ran_short",
            "first_swap": "did_swap", "last_swap": "did_swap"}
    for k in ("short", "first_swap", "first_target", "first_grant",
              "last_swap", "reaction", "from_short", "settled"):
        v = [x[k] for x in res if x.get(only.get(k), True)]
        if not v:
            continue
        summary.add(k, B.median(v), B.pctl(v, 99), min(v), max(v),
                    B.spread_pct(v))
        rows.add("median:" + k, B.median(v), *[""] * 12)
        rows.add("p99:" + k, B.pctl(v, 99), *[""] * 12)
    print()
    summary.print()
    v = [x["reaction"] for x in res]
    w = [x["from_short"] for x in res if x["ran_short"]] or [0.0]
    nshort = sum(1 for x in res if x["ran_short"])
    nswap = sum(1 for x in res if x["did_swap"])
    med, p99 = B.median(v), B.pctl(v, 99)

    def verdict(med, p99):
        return ("met" if p99 <= GOAL_S else "met by the median, NOT by p99"
                if med <= GOAL_S else "NOT met")
    print("\nreaction (working set %s -> %s in a %s guest squeezed to %s, "
          "tick %d ms%s) over %d repeats: from the jump median %.3f s, p99 "
          "%.3f s; goal <= %.1f s: %s.  The guest ran short (available < "
          "%d MiB or swap-out) before the first grant in %d of %d repeats "
          "and swapped in %d"
          % (B.mib(args.ws_low), B.mib(args.ws_high), B.mib(args.memory),
             B.mib(args.squeeze), args.tick_ms,
             ", grant funded by a donor VM" if args.donor else "", len(res),
             med, p99, GOAL_S, verdict(med, p99), SHORT_BYTES >> 20, nshort,
             len(res), nswap))
    if nshort:
        print("from the moment it ran short to the grant: median %.3f s, "
              "p99 %.3f s: %s" % (B.median(w), B.pctl(w, 99),
                                   verdict(B.median(w), B.pctl(w, 99))))
    rows.write_csv()
    if not args.keep:
        shutil.rmtree(wdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    B.run_main(main)
