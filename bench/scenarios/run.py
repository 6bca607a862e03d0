#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scenario runner: each policy on the same scenario, on a fixed host memory
budget, plus an unconstrained reference run; CSV time series, gnuplot PNGs
and a markdown summary.  See docs/evaluation.md.

usage: run.py {s1,s2,s3} [--policies idletax,static,proxmox,mom] [--reduced]
              [--out DIR] [--build DIR]

Exit status: 0 done; 1 a run failed (harness, process or protocol error);
2 the idletax policy caused OOM kills.  Performance targets are reported in
the summary and never change the exit status.
"""

import argparse
import json
import os
import platform
import shlex
import signal
import sys
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import scen_defs  # noqa: E402
import scen_metrics as M  # noqa: E402
import scen_report  # noqa: E402
from scen_proc import HarnessError  # noqa: E402
from scen_runner import Run  # noqa: E402
from scen_targets import evaluate  # noqa: E402

MiB = 1 << 20


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) / (1 << 20)
    except (OSError, ValueError, IndexError):
        pass
    return "%s, %d CPUs, %.0f GiB RAM, Linux %s" % (
        cpu, os.cpu_count() or 0, mem, platform.release())


def _sigterm(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", choices=sorted(scen_defs.BUILDERS))
    ap.add_argument("--policies", default=",".join(scen_defs.POLICIES))
    ap.add_argument("--reduced", action="store_true",
                    help="the short version (make check)")
    ap.add_argument("--out", help="output directory (default "
                    "BUILD/scenarios/SCENARIO[-reduced])")
    ap.add_argument("--build", default=os.environ.get(
        "BSCEN_BUILD", os.path.join(HERE, "..", "..", "build")),
        help="build directory with balloond/ and balloonvm/")
    ap.add_argument("--balloond", help="balloond binary")
    ap.add_argument("--balloonvm", help="balloonvm binary")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: rebuild the summary and plots from "
                    "the run directories already in --out")
    a = ap.parse_args(argv)
    a.policies = [p for p in a.policies.split(",") if p]
    bad = [p for p in a.policies if p not in scen_defs.POLICIES]
    if bad:
        ap.error("unknown policy: %s" % ",".join(bad))
    return a


def binaries(a):
    bins = {"balloond": a.balloond or os.path.join(a.build, "balloond",
                                                   "balloond"),
            "balloonvm": a.balloonvm or os.path.join(a.build, "balloonvm",
                                                     "balloonvm")}
    for k, p in bins.items():
        if not os.access(p, os.X_OK):
            raise SystemExit("run.py: %s not found at %s (build it, or pass "
                             "--build / --%s)" % (k, p, k))
        bins[k] = os.path.abspath(p)
    return bins


def run_points(scn, points, bins, out, log, report_only=False):
    results = []
    for pt in points:
        rundir = os.path.join(out, pt.tag)
        log("==> %s: %s (budget %d MiB, aggressiveness %g)"
            % (scn.name, pt.tag, pt.budget or scn.budget, pt.aggr))
        t = time.monotonic()
        res = {"point": pt.tag, "kind": pt.kind, "aggr": pt.aggr,
               "budget": (pt.budget or scn.budget) * MiB, "dir": rundir}
        try:
            if report_only:
                prev = {}
                try:
                    with open(os.path.join(out, "results.json")) as f:
                        prev = {r["point"]: r for r in json.load(f)}
                except (OSError, ValueError):
                    pass
                res.update({k: v for k, v in prev.get(pt.tag, {}).items()
                            if k not in ("error", "m", "agg", "slowdown")})
                res["dir"] = rundir
            else:
                res.update(Run(scn, pt, bins, rundir, log).run())
            res["data"] = M.load(rundir)
        except (HarnessError, OSError) as e:
            res["error"] = str(e).splitlines()[0]
            log("    FAILED: %s" % e)
        log("    %.1f s" % (time.monotonic() - t))
        results.append(res)
        if pt.kind == scen_defs.REFERENCE and "error" in res:
            break
    return results


def main(argv):
    a = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    scn = scen_defs.get(a.scenario, a.reduced)
    out = a.out or os.path.join(a.build, "scenarios", scn.name +
                                ("-reduced" if a.reduced else ""))
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    bins = None if a.report_only else binaries(a)
    logf = open(os.path.join(out, "report.log" if a.report_only
                             else "run.log"), "w")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    cmd = " ".join(shlex.quote(x) for x in
                   ["bench/scenarios/run.py"] + argv)
    cmd_file = os.path.join(out, "command.txt")
    if a.report_only and os.path.exists(cmd_file):
        with open(cmd_file) as f:
            cmd = f.read().strip()  # the command that ran the scenario
    elif not a.report_only:
        with open(cmd_file, "w") as f:
            f.write(cmd + "\n")
    t0 = time.monotonic()
    points = scn.points(a.policies)
    results = run_points(scn, points, bins, out, log, a.report_only)
    ok_runs = [r for r in results if "data" in r]
    ref = next((r for r in ok_runs if r["kind"] == scen_defs.REFERENCE),
               None)
    for r in ok_runs:
        budget = r["budget"]
        r["m"] = M.basic(r["data"], scn.configured() * MiB, budget)
        r["m"]["changes"], r["m"]["reversals"] = M.target_changes(r["dir"])
        if r["kind"] == scen_defs.REFERENCE:
            # no budget applies to the reference: its VMs stay at full size
            r["m"]["low_s"] = r["m"]["over_budget_s"] = None
        if ref:
            r["rel"], r["agg"] = M.relative(r["data"], ref["data"],
                                            skip=scn.not_work)
            r["slowdown"] = None if r["agg"] is None else 1.0 - r["agg"]
    targets = evaluate(scn, ok_runs, ref) if ref else {}
    pngs = []
    if ref:
        for r in ok_runs:
            r["cols"] = scen_report.write_dat(scn, r, ref["data"])
        try:
            pngs = scen_report.plots(scn, ok_runs, out)
        except RuntimeError as e:
            log("plots: %s" % e)
            results.append({"point": "plots", "error": str(e)})
    for r in results:
        if "error" in r and "m" not in r:
            r["m"] = {"mean_sum_actual": 0, "saved": None, "low_s": 0,
                      "over_budget_s": 0, "oom": 0, "swap_out": 0}
    md = scen_report.summary(scn, [r for r in results if "m" in r and
                                   "kind" in r], targets, pngs, machine(),
                             cmd)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump([{k: v for k, v in r.items()
                    if k not in ("data", "cols", "rel")} for r in results],
                  f, indent=1, default=str)
    log(md)
    log("total %.1f s; results in %s" % (time.monotonic() - t0, out))
    status = 0
    failed = [r["point"] for r in results if "error" in r]
    if failed or len(results) < len(points):
        log("FAIL: runs failed: %s" % ", ".join(failed))
        status = 1
    ours = [r for r in ok_runs if r["kind"] == "idletax"]
    ooms = sum(max(r["m"]["oom"], len(r["m"]["killed"])) for r in ours)
    if ooms:
        log("FAIL: the idletax policy caused %d OOM kills" % ooms)
        status = status or 2
    elif ours:
        log("ok: idletax caused 0 OOM kills in %d run(s)" % len(ours))
    return status


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt as e:
        print("run.py: interrupted (%s); everything stopped" % e,
              file=sys.stderr)
        sys.exit(130)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
