# SPDX-License-Identifier: MIT
"""Scenario-specific metrics and the targets of the evaluation issue,
checked for our policy (idletax).  Targets are reported, never asserted."""

import scen_metrics as M


def _by_kind(runs, kind):
    return next((r for r in runs if r["kind"] == kind and r["aggr"] == 1.0),
                None)


def _s1(scn, runs, ref):
    key = scn.worker
    for r in runs:
        _, r["worker_rel"] = M.relative(r["data"], ref["data"],
                                        t_from=scn.grow_at, only={key})
        r["below"], r["recovered"], r["rec_ratio"] = M.recovery(
            r["data"], ref["data"], key, scn.grow_at)
    cols = [("%s tput after growth vs ref" % key[0],
             lambda r: "%.3f" % r["worker_rel"]
             if r.get("worker_rel") is not None else "n/a"),
            ("%s s below 90 %% of ref" % key[0],
             lambda r: "n/a" if r.get("below") is None
             else "%.1f" % r["below"]),
            ("%s back at >= 90 %% for good after (s)" % key[0],
             lambda r: "never" if r.get("recovered") is None
             else "%.1f" % r["recovered"])]
    ours = _by_kind(runs, "idletax")
    checks = []
    if ours:
        below, rec = ours.get("below"), ours.get("recovered")
        checks.append(("vm2 back at >= 90 % of its unconstrained "
                       "throughput within 2 s of its working set growing",
                       "below 90 %% for %s s in all; %s" % (
                           "n/a" if below is None else "%.1f" % below,
                           "never recovered" if rec is None
                           else "for good after %.1f s" % rec),
                       below is not None and rec is not None and
                       below <= 2.0))
        checks.append(("vm2 throughput after growth vs unconstrained "
                       "(reported)", "%.3f" % (ours["worker_rel"] or 0),
                       None))
    notes = ["Recovery: vm2's throughput over sliding 1-s windows (every "
             "0.1 s, cumulative op counter) divided by the unconstrained "
             "run's in the same windows, from the growth of its working set "
             "on.  'below 90 %' = total time of windows under 0.9; 'for good "
             "after' = growth to the end of the last such window ('never': "
             "still under 0.9 when the run ended).  The target is met when "
             "vm2 spends at most 2 s under 90 % and ends above it."]
    return {"columns": cols, "checks": checks, "notes": notes}


def _s2(scn, runs, ref):
    key = scn.kv
    for r in runs:
        r["kv_p99"] = M.p99(r["data"], key)
    cols = [("kv p99 µs (median / max over 1-s windows)",
             lambda r: "n/a" if r["kv_p99"][0] is None else
             "%.1f / %.0f" % (r["kv_p99"][0], r["kv_p99"][1]))]
    ours = _by_kind(runs, "idletax")
    checks = []
    if ours and ours.get("agg") is not None:
        m = ours["m"]
        checks.append(("memory saved >= 25 % at <= 5 % aggregate slowdown",
                       "saved %.1f %%, slowdown %.1f %%"
                       % (100 * m["saved"], 100 * ours["slowdown"]),
                       m["saved"] >= 0.25 and ours["slowdown"] <= 0.05))
        n = max(m["oom"], len(m["killed"]))
        checks.append(("0 OOM kills", "%d" % n, n == 0))
        for kind in ("proxmox", "mom"):
            o = _by_kind(runs, kind)
            if o and o.get("agg") is not None:
                checks.append(("throughput above %s" % kind,
                               "%.3f vs %.3f" % (ours["agg"], o["agg"]),
                               ours["agg"] > o["agg"]))
        st = _by_kind(runs, "static")
        if st and st.get("agg"):
            checks.append(("throughput >= 1.3 x static at the same budget",
                           "%.3f / %.3f = %.2f x" % (ours["agg"], st["agg"],
                                                     ours["agg"] / st["agg"]),
                           ours["agg"] >= 1.3 * st["agg"]))
    return {"columns": cols, "checks": checks, "notes": []}


def _s3(scn, runs, ref):
    return {"columns": [], "checks": [],
            "notes": ["No pass/fail target: the curve shows memory saved "
                      "against slowdown for every policy and "
                      "aggressiveness (and idletax at smaller budgets)."]}


def evaluate(scn, runs, ref):
    return {"s1": _s1, "s1b": _s1, "s2": _s2, "s3": _s3}[scn.name](
        scn, runs, ref)
