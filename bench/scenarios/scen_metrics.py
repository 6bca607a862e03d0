# SPDX-License-Identifier: MIT
"""Metrics of a run from its CSV files, relative to the unconstrained
reference run.  Definitions: docs/evaluation.md."""

import csv
import os
import re
import statistics

MiB = 1 << 20


def _num(x):
    if x in ("", None):
        return None
    try:
        return float(x)
    except ValueError:
        return None


def load(rundir):
    d = {}
    for name in ("vms", "workloads", "host", "fine"):
        path = os.path.join(rundir, name + ".csv")
        if name == "fine" and not os.path.exists(path):
            d[name] = []
            continue
        with open(path, newline="") as f:
            d[name] = list(csv.DictReader(f))
    return d


def workload_series(data, work_only=False):
    """{(vm, label): [(t, ops_s, p99_us, ops, state), ...]}; @work_only:
    without "idle" workloads (they touch their memory once and sleep:
    their ops are not throughput)."""
    out = {}
    for r in data["workloads"]:
        if work_only and r.get("kind") == "idle":
            continue
        key = (r["vm"], r["label"] or "id%s" % r["id"])
        out.setdefault(key, []).append((int(float(r["t"])), _num(r["ops_s"]),
                                        _num(r["p99_us"]), _num(r["ops"]),
                                        r["state"]))
    return out


def total_ops(series, t_from=0, t_to=None):
    """Operations done in (t_from, t_to]: from the cumulative counter if the
    VM reports one, else the sum of the 1-s rates."""
    pts = [p for p in series if p[0] >= t_from and
           (t_to is None or p[0] <= t_to)]
    if not pts:
        return 0.0
    if all(p[3] is not None for p in pts):
        before = [p for p in series if p[0] <= t_from]
        start = before[-1][3] if before else 0.0
        return max(0.0, pts[-1][3] - start)
    return sum(p[1] or 0.0 for p in pts if p[0] > t_from)


def vm_series(data):
    out = {}
    for r in data["vms"]:
        out.setdefault(r["vm"], []).append(r)
    return out


def oom_kills(data):
    n = 0
    for rows in vm_series(data).values():
        vals = [_num(r["oom_kills"]) for r in rows]
        vals = [v for v in vals if v is not None]
        if vals:
            n += max(vals) - vals[0]
    killed = set()
    for key, s in workload_series(data).items():
        if any("kill" in (p[4] or "") or "oom" in (p[4] or "") for p in s):
            killed.add(key)
    return int(n), sorted(killed)


def basic(data, configured_bytes, budget):
    host = data["host"]
    acts = [_num(r["sum_actual"]) for r in host]
    acts = [a for a in acts if a is not None]
    mean_act = statistics.mean(acts) if acts else 0.0
    states = [r["state"] for r in host]
    if any(states):
        low = sum(1 for s in states if s == "low")
    else:
        low = sum(1 for r in host
                  if _num(r["free"]) is not None and
                  _num(r["free"]) < 0.01 * budget)
    over = sum(1 for a in acts if a > budget)
    oom, killed = oom_kills(data)
    swap_out = 0.0
    for rows in vm_series(data).values():
        v = [_num(r["swap_out"]) for r in rows]
        v = [x for x in v if x is not None]
        if v:
            swap_out += v[-1] - v[0]
    qms = [_num(r.get("qmp_ms")) for r in data["vms"]]
    qms = [q for q in qms if q is not None]
    return {"mean_sum_actual": mean_act,
            "max_qmp_ms": max(qms) if qms else None,
            "saved": 1.0 - mean_act / configured_bytes,
            "low_s": low, "over_budget_s": over, "oom": oom,
            "killed": killed, "swap_out": swap_out,
            "samples": len(host)}


def relative(data, ref, t_from=0, t_to=None, only=None, skip=()):
    """Per-workload ops relative to the reference, and their mean (@only:
    just these (vm, label) keys; @skip: not these)."""
    s, r = workload_series(data), workload_series(ref, work_only=True)
    rel = {}
    for key, rs in r.items():
        if (only is not None and key not in only) or key in skip:
            continue
        base = total_ops(rs, t_from, t_to)
        if base <= 0:
            continue
        rel[key] = total_ops(s.get(key, []), t_from, t_to) / base
    agg = statistics.mean(rel.values()) if rel else None
    return rel, agg


def p99(data, key, t_from=0):
    pts = [p[2] for p in workload_series(data).get(key, [])
           if p[0] > t_from and p[2] is not None and p[2] > 0]
    if not pts:
        return None, None
    return statistics.median(pts), max(pts)


def _fine(data, key):
    return [(float(r["t"]), float(r["ops"])) for r in data["fine"]
            if (r["vm"], r["label"]) == key and r["ops"] != ""]


def _interp(pts, t):
    """Cumulative ops at time t, linearly interpolated."""
    if not pts or t <= pts[0][0]:
        return pts[0][1] if pts else 0.0
    for (t0, a), (t1, b) in zip(pts, pts[1:]):
        if t0 <= t <= t1:
            return a if t1 == t0 else a + (b - a) * (t - t0) / (t1 - t0)
    return pts[-1][1]


def recovery(data, ref, key, t_grow, level=0.9, win=1.0):
    """How long the workload ran below @level x its unconstrained
    throughput after its working set grew at @t_grow.

    The ratio is taken over sliding @win-second windows every 0.1 s (the
    cumulative op counter of fine.csv, the reference interpolated at the
    same times).  Returns (below, last, ratio): @below = seconds of windows
    (ending after t_grow + win) under @level; @last = seconds from t_grow to
    the end of the last such window, None if the run ended below @level
    (never recovered), 0 if it never dropped; @ratio = [(t, ratio)]."""
    mine, theirs = _fine(data, key), _fine(ref, key)
    if not mine or not theirs:
        return None, None, []
    ratio = []
    for t, ops in mine:
        if t < t_grow + win or t - win < mine[0][0]:
            continue
        a = ops - _interp(mine, t - win)
        b = _interp(theirs, t) - _interp(theirs, t - win)
        if b > 0:
            ratio.append((t, a / b))
    if not ratio:
        return None, None, []
    below, last, prev = 0.0, 0.0, ratio[0][0] - 0.1
    for t, r in ratio:
        if r < level:
            below += t - prev
            last = t - t_grow
        prev = t
    if ratio[-1][1] < level:
        last = None
    return below, last, ratio


_SIZE = r"([\d.]+) ?([KMGT]iB|B)"
_TARGET_RE = re.compile(r"vm (\S+): target " + _SIZE + " -> " + _SIZE)
_UNIT = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
         "TiB": 1 << 40}


def target_changes(rundir):
    """From balloond's log: target changes, and reversals (a VM's target
    moving in the opposite direction to its previous change) per run."""
    changes = reversals = 0
    last = {}
    try:
        with open(os.path.join(rundir, "balloond.log")) as f:
            for line in f:
                m = _TARGET_RE.search(line)
                if not m:
                    continue
                vm = m.group(1)
                a = float(m.group(2)) * _UNIT[m.group(3)]
                b = float(m.group(4)) * _UNIT[m.group(5)]
                if a == b:
                    continue
                changes += 1
                d = 1 if b > a else -1
                if last.get(vm, d) != d:
                    reversals += 1
                last[vm] = d
    except OSError:
        return None, None
    return changes, reversals
