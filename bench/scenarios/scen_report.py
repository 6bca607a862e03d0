# SPDX-License-Identifier: MIT
"""Plots (gnuplot PNG) and the markdown summary of a scenario."""

import os
import shutil
import subprocess

import scen_metrics as M

MiB = 1 << 20


def _f(x, fmt="%.1f", none="n/a"):
    return none if x is None else fmt % x


def _pct(x):
    return _f(None if x is None else 100.0 * x, "%.1f %%")


def _yes(ok):
    return "met" if ok else "**NOT met**"


# ---- gnuplot data --------------------------------------------------------
def write_dat(scn, res, ref_data):
    """Per run: actual.dat (t, MiB per VM, sum, budget) and tput.dat (t,
    per-workload throughput relative to the reference's mean rate, and
    their mean)."""
    data = res["data"]
    vms = [v.name for v in scn.vms]
    rows = {}
    for r in data["vms"]:
        rows.setdefault(int(float(r["t"])), {})[r["vm"]] = float(r["actual"])
    with open(os.path.join(res["dir"], "actual.dat"), "w") as f:
        f.write("# t " + " ".join(vms) + " sum budget (MiB)\n")
        for t in sorted(rows):
            a = [rows[t].get(v, 0.0) / MiB for v in vms]
            f.write("%d %s %.1f %.1f\n" % (t, " ".join("%.1f" % x for x in a),
                                           sum(a), res["budget"] / MiB))
    ref = M.workload_series(ref_data, work_only=True)
    keys = sorted(k for k in ref if k not in scn.not_work)
    norm = {}
    for k in keys:
        rates = [p[1] for p in ref[k] if p[1]]
        norm[k] = (sum(rates) / len(rates)) if rates else None
    ser = M.workload_series(data)
    by_t = {}
    for k in keys:
        for p in ser.get(k, []):
            if norm[k] and p[1] is not None:
                by_t.setdefault(p[0], {})[k] = p[1] / norm[k]
    with open(os.path.join(res["dir"], "tput.dat"), "w") as f:
        f.write("# t " + " ".join("%s/%s" % k for k in keys) + " mean\n")
        for t in sorted(by_t):
            v = [by_t[t].get(k) for k in keys]
            got = [x for x in v if x is not None]
            f.write("%d %s %.3f\n" % (
                t, " ".join("NaN" if x is None else "%.3f" % x for x in v),
                sum(got) / len(got) if got else 0.0))
    return vms, keys


def _gp(script, path):
    with open(path, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", path], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("gnuplot %s failed: %s" % (path, r.stderr[-500:]))


def plots(scn, results, out):
    """Write the PNGs; returns their file names (relative to @out)."""
    if not shutil.which("gnuplot"):
        return []
    made = []
    n = len(results)
    h = 220 * n + 60
    head = ("set terminal pngcairo size 900,%d font ',9'\n"
            "set key outside right top\nset grid\n"
            "set multiplot layout %d,1 title '%s'\n" % (h, n, scn.title))
    a = head
    t = head
    for res in results:
        vms, keys = res["cols"]
        d = os.path.join(res["dir"], "actual.dat")
        p = os.path.join(res["dir"], "tput.dat")
        a += "set title '%s'\nset ylabel 'actual (MiB)'\n" % res["point"]
        plot = ["'%s' u 1:%d w l lw 2 t '%s'" % (d, i + 2, v)
                for i, v in enumerate(vms)]
        plot.append("'%s' u 1:%d w l dt 2 t 'sum'" % (d, len(vms) + 2))
        plot.append("'%s' u 1:%d w l dt 3 lc rgb 'black' t 'budget'"
                    % (d, len(vms) + 3))
        a += "plot " + ", ".join(plot) + "\n"
        t += ("set title '%s'\nset ylabel 'ops/s / reference mean'\n"
              "set yrange [0:1.5]\n" % res["point"])
        plot = ["'%s' u 1:%d w l t '%s/%s'" % (p, i + 2, k[0], k[1])
                for i, k in enumerate(keys)]
        plot.append("'%s' u 1:%d w l lw 3 lc rgb 'black' t 'mean'"
                    % (p, len(keys) + 2))
        t += "plot " + ", ".join(plot) + "\n"
    for name, script in (("actual", a), ("throughput", t)):
        png = "%s-%s.png" % (scn.name, name)
        script = ("set output '%s'\n" % os.path.join(out, png)) + script
        script += "set xlabel 't (s)'\nunset multiplot\n"
        _gp(script, os.path.join(out, "%s-%s.gp" % (scn.name, name)))
        made.append(png)
    if scn.sweep is not None:
        made.append(_curve(scn, results, out))
    return made


def _curve(scn, results, out):
    dat = os.path.join(out, "curve.dat")
    kinds = []
    full = scn.budget * MiB
    series = [(k, "%s (aggressiveness)" % k, lambda r: r["budget"] == full)
              for k in ("idletax", "proxmox", "mom")]
    series.append(("idletax", "idletax (budget, a=1)",
                   lambda r: r["budget"] != full or r["aggr"] == 1.0))
    series.append(("static", "static", lambda r: True))
    with open(dat, "w") as f:
        f.write("# saved_pct slowdown_pct label\n")
        for kind, title, sel in series:
            pts = [r for r in results if r["kind"] == kind and sel(r) and
                   r.get("slowdown") is not None]
            if not pts:
                continue
            kinds.append(title)
            f.write("# %s\n" % title)
            for r in sorted(pts, key=lambda r: r["m"]["saved"]):
                f.write("%.2f %.2f \"%s\"\n" % (100 * r["m"]["saved"],
                                                100 * r["slowdown"],
                                                r["point"]))
            f.write("\n\n")
    png = "%s-curve.png" % scn.name
    plot = []
    for i, kind in enumerate(kinds):
        plot.append("'%s' index %d u 1:2 w lp lt %d pt 7 ps 1.3 t '%s'"
                    % (dat, i, i + 1, kind))
        plot.append("'%s' index %d u 1:2:3 w labels offset 0,1 font ',7' "
                    "notitle" % (dat, i))
    script = ("set terminal pngcairo size 1000,600 font ',10'\n"
              "set output '%s'\nset grid\nset key outside right top\n"
              "set title '%s'\nset xlabel 'memory saved (%%)'\n"
              "set ylabel 'slowdown vs unconstrained (%%)'\nplot %s\n"
              % (os.path.join(out, png), scn.title, ", ".join(plot)))
    _gp(script, os.path.join(out, "%s-curve.gp" % scn.name))
    return png


# ---- markdown -------------------------------------------------------------
def summary(scn, results, targets, pngs, machine, cmd):
    L = ["# %s%s" % (scn.title, " (reduced)" if scn.reduced else ""), "",
         "Command: `%s`  " % cmd, "Machine: %s  " % machine,
         "Budget %d MiB, configured %d MiB (%s), %d s per run, "
         "sampled every 1 s." % (scn.budget, scn.configured(),
                                ", ".join("%s %d" % (v.name, v.mem)
                                          for v in scn.vms),
                                scn.duration), ""]
    cols = ["run", "policy", "aggr.", "budget MiB", "mean sum actual MiB",
            "saved", "throughput vs ref", "slowdown", "OOM kills",
            "low-state s", "over-budget s", "swap-out MiB",
            "target changes / reversals",
            "slowest QMP sample ms (skipped samples)",
            "host load before / after"]
    extra = targets.get("columns", [])
    cols += [c[0] for c in extra]
    L.append("| " + " | ".join(cols) + " |")
    L.append("|" + "---|" * len(cols))
    for r in results:
        m = r["m"]
        row = [r["point"], r["kind"], "%g" % r["aggr"],
               "%d" % (r["budget"] // MiB),
               "%.0f" % (m["mean_sum_actual"] / MiB), _pct(m["saved"]),
               _f(r.get("agg"), "%.3f"), _pct(r.get("slowdown")),
               "%d" % m["oom"], _f(m["low_s"], "%d"),
               _f(m["over_budget_s"], "%d"),
               "%.0f" % (m["swap_out"] / MiB),
               "%s / %s" % (m.get("changes"), m.get("reversals")),
               "%s (%s)" % (_f(m.get("max_qmp_ms"), "%.0f"),
                            r.get("skipped_samples", "?")),
               "%s / %s" % (r.get("load_before", "?"),
                            r.get("load_after", "?"))]
        row += [c[1](r) for c in extra]
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    if targets.get("checks"):
        L += ["## Targets (policy idletax)", "",
              "| target | measured | result |", "|---|---|---|"]
        for name, measured, ok in targets["checks"]:
            L.append("| %s | %s | %s |" % (name, measured,
                                           "n/a" if ok is None else _yes(ok)))
        L.append("")
    if targets.get("notes"):
        L += targets["notes"] + [""]
    fails = [r for r in results if r.get("error")]
    if fails:
        L += ["## Failed runs", ""]
        L += ["- %s: %s" % (r["point"], r["error"]) for r in fails]
        L.append("")
    if pngs:
        L += ["## Plots", ""] + ["![%s](%s)" % (p, p) for p in pngs] + [""]
    L += ["Per-run CSV (vms.csv, workloads.csv, host.csv) and logs are in "
          "the run directories beside this file.", ""]
    return "\n".join(L)
