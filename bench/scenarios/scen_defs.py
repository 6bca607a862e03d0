# SPDX-License-Identifier: MIT
"""Scenario definitions (S1, S2, S3), full and --reduced.

Sizes are MiB, times seconds.  A scenario is a fixed host memory budget, a
set of VMs (configured size = max, a min, shares, swap) and a timeline of
workload events.  Every policy run of a scenario starts from the same state:
each VM at its *static split* of the budget (budget x shares / total shares,
capped at the VM's max, see docs/evaluation.md), then the policy is enabled
and the workloads start at t = 0.
"""

POLICIES = ("idletax", "static", "proxmox", "mom")
# Offered load (ops/s) of every workload: an open-loop service with a fixed
# request rate, well under what one guest vCPU can do when its memory is
# resident (~0.8 M ops/s here), so that throughput falls only when memory
# runs short (swap-ins, page-cache misses), not with the CPU share the guest
# happens to get on a shared host.  See docs/evaluation.md.
RATE = 100000
RATE2 = 50000
REFERENCE = "unconstrained"


class VM:
    def __init__(self, name, mem, shares=None, swap=None, minimum=None):
        self.name = name
        self.mem = mem  # configured size (balloond max), MiB
        self.shares = shares if shares is not None else 1000
        self.swap = swap if swap is not None else mem // 2
        self.min = minimum if minimum is not None else mem // 4


class Event:
    """At time t: "add" a workload (spec) to vm under a label, or "set" /
    "stop" the workload with that label."""

    def __init__(self, t, vm, action, label, spec=None):
        self.t = t
        self.vm = vm
        self.action = action
        self.label = label
        self.spec = spec


class Point:
    """One policy run: kind (or REFERENCE), aggressiveness, budget (MiB)."""

    def __init__(self, kind, aggr=1.0, budget=None, tag=None):
        self.kind = kind
        self.aggr = aggr
        self.budget = budget
        self.tag = tag or kind

    def __repr__(self):
        return "Point(%s, a=%s, budget=%s)" % (self.kind, self.aggr,
                                               self.budget)


class Scenario:
    def __init__(self, name, title, budget, vms, events, duration,
                 params=None, sweep=None, notes=""):
        self.name = name
        self.title = title
        self.budget = budget  # MiB
        self.vms = vms
        self.events = sorted(events, key=lambda e: e.t)
        self.duration = duration
        self.params = params or {}  # extra policy-set arguments
        self.sweep = sweep  # S3: list of Points, else None
        self.notes = notes
        self.reduced = False
        self.fine = []  # (vm, label) sampled every 0.1 s into fine.csv
        self.not_work = set()  # (vm, label) left out of throughput

    def configured(self):
        return sum(v.mem for v in self.vms)

    def split(self, budget=None):
        """Static split of @budget (MiB) by shares, capped at each max; the
        part a capped VM cannot take is split again among the others."""
        budget = self.budget if budget is None else budget
        out = {}
        left = list(self.vms)
        rest = budget
        while left:
            tot = sum(v.shares for v in left)
            capped = [v for v in left if rest * v.shares / tot >= v.mem]
            if not capped:
                for v in left:
                    out[v.name] = max(v.min, int(rest * v.shares / tot) & ~3)
                break
            for v in capped:
                out[v.name] = v.mem
                rest -= v.mem
                left.remove(v)
        return out

    def points(self, policies):
        if self.sweep is not None:
            return [p for p in self.sweep
                    if p.kind in policies or p.kind == REFERENCE]
        return [Point(REFERENCE)] + [Point(k) for k in policies]


def _r(spec, rate):
    return "%s,rate=%d" % (spec, rate)


def _s1(reduced, freed=False):
    # Two VMs, equal shares, each starting at its half of the budget.  vm1
    # (the hoarder) touches most of its memory once and then sleeps: its
    # pages stay allocated but go cold.  vm2 runs a steady working set that
    # grows at t = tg past its share of the budget.
    if reduced:
        mem, budget, dur, tg = 256, 384, 10, 4
        hoard, ws0, ws1 = "160M", "64M", "224M"
    else:
        mem, budget, dur, tg = 1024, 1536, 40, 12
        hoard, ws0, ws1 = "640M", "320M", "960M"
    vms = [VM("vm1", mem), VM("vm2", mem)]
    hspec = "idle:size=%s" % hoard
    if freed:
        # S1b: the hoarder frees what it touched (guest-free, host-backed)
        hspec = ("phased:peak=%s,grow=%ds,hold=1s,release=1s,idle=1000s"
                 % (hoard, tg // 2))
    ev = [
        Event(0, "vm1", "add", "hoard", hspec),
        Event(0, "vm2", "add", "work",
              _r("steady:ws=%s,write=0.3" % ws0, RATE)),
        Event(tg, "vm2", "set", "work",
              _r("steady:ws=%s,write=0.3" % ws1, RATE)),
    ]
    if freed:
        s = Scenario("s1b", "S1b: freed hoarder vs active worker", budget,
                     vms, ev, dur)
    else:
        s = Scenario("s1", "S1: idle hoarder vs active worker", budget, vms,
                     ev, dur)
    s.grow_at = tg
    s.worker = ("vm2", "work")
    s.not_work = {("vm1", "hoard")}
    s.fine = [s.worker]
    return s


def _s2(reduced):
    # Six VMs, mixed workloads, sum of configured sizes = 1.5 x budget.
    # Shares are proportional to the configured size, so the static split
    # gives every VM 2/3 of its size: enough for kv, web and batch, not for
    # the three spiking VMs while they spike (10 s, 30 s and ~2 min in the
    # full run; 2-6 s in the reduced one).
    if reduced:
        sizes = (("kv", 256), ("web", 192), ("batch", 128), ("spike1", 192),
                 ("spike2", 192), ("spike3", 192))
        ev = [
            Event(0, "kv", "add", "kv", _r("kv:size=112M,alpha=0.99", RATE)),
            Event(0, "web", "add", "web",
                  _r("steady:ws=80M,write=0.3", RATE2)),
            Event(0, "batch", "add", "batch",
                  _r("steady:ws=48M,write=0.5", RATE)),
            Event(0, "spike1", "add", "spike",
                  _r("phased:peak=160M,grow=1s,hold=2s,release=1s,idle=1s,"
                     "repeat=2", RATE2)),
            Event(1, "spike2", "add", "spike",
                  _r("phased:peak=160M,grow=1s,hold=4s,release=1s,"
                     "idle=10s", RATE2)),
            Event(2, "spike3", "add", "spike",
                  _r("phased:peak=160M,grow=1s,hold=6s,release=1s,"
                     "idle=10s", RATE2)),
        ]
        dur = 10
    else:
        sizes = (("kv", 1024), ("web", 512), ("batch", 384), ("spike1", 512),
                 ("spike2", 512), ("spike3", 512))
        ev = [
            Event(0, "kv", "add", "kv", _r("kv:size=384M,alpha=0.99", RATE)),
            Event(0, "web", "add", "web",
                  _r("steady:ws=256M,write=0.3", RATE2)),
            Event(0, "batch", "add", "batch",
                  _r("steady:ws=160M,write=0.5", RATE)),
            # 10 s spikes every 20 s
            Event(0, "spike1", "add", "spike",
                  _r("phased:peak=448M,grow=2s,hold=8s,release=2s,idle=8s,"
                     "repeat=6", RATE2)),
            # 30 s spikes every 60 s
            Event(10, "spike2", "add", "spike",
                  _r("phased:peak=448M,grow=3s,hold=27s,release=2s,"
                     "idle=28s,repeat=2", RATE2)),
            # one ~2 min spike
            Event(5, "spike3", "add", "spike",
                  _r("phased:peak=448M,grow=5s,hold=105s,release=2s,"
                     "idle=100s", RATE2)),
        ]
        dur = 120
    vms = [VM(n, m, shares=m) for n, m in sizes]
    budget = sum(v.mem for v in vms) * 2 // 3
    s = Scenario("s2", "S2: 1.5x overcommit with spikes", budget, vms, ev,
                 dur)
    s.kv = ("kv", "kv")
    return s


def _s3(reduced):
    # One VM alone on a budget equal to its size; sweep aggressiveness (and,
    # for idletax, whose reclaim is driven by the budget rather than by the
    # aggressiveness, also the budget).
    if reduced:
        mem, ws, dur = 256, "176M", 7
        aggrs = {"idletax": (1.0,), "proxmox": (1.0,), "mom": (1.0,)}
        budgets = (192,)
    else:
        mem, ws, dur = 1024, "704M", 45
        aggrs = {k: (0.0, 0.5, 1.0) for k in ("idletax", "proxmox", "mom")}
        budgets = (768, 512)
    vms = [VM("vm", mem)]
    ev = [Event(0, "vm", "add", "kv",
                _r("kv:size=%s,alpha=0.99" % ws, RATE))]
    pts = [Point(REFERENCE)]
    for kind in ("idletax", "proxmox", "mom"):
        for a in aggrs[kind]:
            pts.append(Point(kind, a, mem, "%s-a%g" % (kind, a)))
    for b in budgets:
        pts.append(Point("idletax", 1.0, b, "idletax-b%d" % b))
    pts.append(Point("static", 1.0, mem, "static"))
    return Scenario("s3", "S3: memory saved vs slowdown", mem, vms, ev, dur,
                    sweep=pts)


BUILDERS = {"s1": _s1, "s1b": lambda r: _s1(r, freed=True), "s2": _s2,
            "s3": _s3}


def get(name, reduced):
    s = BUILDERS[name](reduced)
    s.reduced = reduced
    if reduced:
        # Time-scaled: the baselines act every 2 s instead of every 10 s so
        # that a ~15 s run sees several of their rounds.
        s.params.setdefault("baseline_interval_ms", 2000)
    return s
