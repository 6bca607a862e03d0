# SPDX-License-Identifier: MIT
"""One run of a scenario under one policy point: start balloond and the VMs,
bring every VM to its static split, enable the policy, play the workload
timeline, sample once a second into CSV, stop everything.

CSV files of a run (all sizes bytes, times seconds since t0):
  vms.csv        t,t_real,qmp_ms,vm,target,actual,reason,rss,total,free,
                 avail,cache,swap_in,swap_out,major_faults,oom_kills,
                 alloc_stalls   (t_real: when the VM answered; qmp_ms: how
                 long its three QMP queries took)
  workloads.csv  t,vm,label,id,kind,state,phase,ops_s,p50_us,p99_us,ops,
                 resident,swapped,major_faults
  host.csv       t,state,budget,sum_actual,sum_target,free,host_avail,psi
"""

import csv
import glob
import os
import shutil
import tempfile
import threading
import time

from scen_defs import REFERENCE
from scen_proc import (Ctl, HarnessError, Procs, Qmp, Timeout, dump_stacks,
                       wait_for_socket)

MiB = 1 << 20
BALLOON = "/machine/peripheral/balloon0"
SETTLE_TIMEOUT = 60.0
VM_FIELDS = ["t", "t_real", "qmp_ms", "vm", "target", "actual", "reason",
             "rss", "total", "free", "avail", "cache", "swap_in", "swap_out",
             "major_faults", "oom_kills", "alloc_stalls"]
WL_FIELDS = ["t", "vm", "label", "id", "kind", "state", "phase", "ops_s",
             "p50_us", "p99_us", "ops", "resident", "swapped",
             "major_faults"]
HOST_FIELDS = ["t", "state", "budget", "sum_actual", "sum_target", "free",
               "host_avail", "psi"]
STAT_KEYS = {"total": "stat-total-memory", "free": "stat-free-memory",
             "avail": "stat-available-memory", "cache": "stat-disk-caches",
             "swap_in": "stat-swap-in", "swap_out": "stat-swap-out",
             "major_faults": "stat-major-faults",
             "oom_kills": "stat-oom-kills",
             "alloc_stalls": "stat-alloc-stalls"}


def _first(d, *keys):
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return ""


def _us(ns):
    return "" if ns == "" else round(ns / 1000.0, 1)


def parse_workloads(ret):
    """x-bvm-query-workloads -> list of dicts (id, state, ops_s, p50_us,
    p99_us, ops).  Accepts a list or {"workloads": [...]}; keys with '-'
    or '_'.  Latencies: the last full second's window if reported, else
    over all ops."""
    if isinstance(ret, dict):
        ret = ret.get("workloads", [])
    out = []
    for w in ret or []:
        w = {k.replace("-", "_"): v for k, v in w.items()}
        out.append({
            "id": w.get("id"),
            "state": _first(w, "state"),
            "kind": _first(w, "kind"),
            "ops_s": _first(w, "ops_per_s", "ops_per_sec", "throughput"),
            "p50_us": _us(_first(w, "window_p50_ns", "p50_ns")),
            "p99_us": _us(_first(w, "window_p99_ns", "p99_ns")),
            "ops": _first(w, "ops"),
            "phase": _first(w, "phase"),
            "resident": _first(w, "resident"),
            "swapped": _first(w, "swapped"),
            "major_faults": _first(w, "major_faults"),
        })
    return out


def sweep_stale():
    """Remove private directories of harness processes that were killed
    (SIGKILL leaves no chance to clean up; their children died with them
    through PR_SET_PDEATHSIG, only sockets and a state file remain)."""
    for d in glob.glob("/tmp/bscen-*"):
        try:
            with open(os.path.join(d, "harness.pid")) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            continue  # still running
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            continue


def read_rss(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return ""


class Run:
    def __init__(self, scn, point, bins, rundir, log):
        self.scn = scn
        self.point = point
        self.bins = bins
        self.rundir = rundir
        self.log = log
        self.ref = point.kind == REFERENCE
        self.budget = (point.budget if point.budget is not None
                       else scn.budget) * MiB
        self.procs = Procs()
        self.qmp = {}
        self.qmp_paths = {}
        self.vmproc = {}
        self.ctl_path = None
        self.ctl = None
        self.labels = {}  # label -> (vm, id)
        self.tmp = None
        self.files = {}
        self.result = {"point": point.tag, "kind": point.kind,
                       "aggr": point.aggr, "budget": self.budget,
                       "dir": rundir}

    # ---- setup --------------------------------------------------------
    def _start_daemon(self):
        conf = os.path.join(self.tmp, "balloond.conf")
        open(conf, "w").close()
        self.ctl_path = os.path.join(self.tmp, "ctl.sock")
        argv = [self.bins["balloond"], "--socket", self.ctl_path,
                "--state", os.path.join(self.tmp, "state.json"),
                "--tick-ms", "1000", "--config", conf,
                "--log-level", "info"]
        pr = self.procs.start("balloond", argv,
                              os.path.join(self.rundir, "balloond.log"))
        wait_for_socket(self.ctl_path, pr)
        self.ctl = Ctl(self.ctl_path)
        args = {"enabled": False, "budget": self.budget}
        if not self.ref:
            args.update(self.scn.params)
            args["kind"] = self.point.kind
            args["aggressiveness"] = self.point.aggr
        self.ctl.cmd("policy-set", **args)

    def _start_vms(self):
        for v in self.scn.vms:
            qmp = os.path.join(self.tmp, v.name + ".qmp")
            argv = [self.bins["balloonvm"], "--name", v.name,
                    "--memory", "%dM" % v.mem, "--qmp", qmp,
                    "--stats-interval", "1", "--dir", self.tmp]
            if v.swap:
                argv += ["--swap", "%dM" % v.swap]
            pr = self.procs.start("vm-" + v.name, argv,
                                  os.path.join(self.rundir,
                                               "vm-%s.log" % v.name))
            self.vmproc[v.name] = pr
            self.qmp_paths[v.name] = qmp
        for v in self.scn.vms:
            wait_for_socket(self.qmp_paths[v.name], self.vmproc[v.name])
            self.qmp[v.name] = Qmp(self.qmp_paths[v.name])
            self.ctl.cmd("add", vm=v.name, qmp=self.qmp_paths[v.name],
                         min=v.min * MiB, max=v.mem * MiB, shares=v.shares)

    def _wait(self, what, cond, timeout=SETTLE_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.procs.check_alive()
            if cond():
                return
            time.sleep(0.1)
        raise HarnessError("timed out waiting for %s" % what)

    def _settle(self):
        def connected():
            vms = self.ctl.cmd("list")["vms"]
            return (len(vms) == len(self.scn.vms)
                    and all(v.get("state") == "connected" for v in vms))
        self._wait("balloond to connect every VM", connected)
        if self.ref:
            return
        split = self.scn.split(self.budget // MiB)
        for name, mib in split.items():
            self.ctl.cmd("set", vm=name, target=mib * MiB)

        def reached():
            for name, mib in split.items():
                act = self.qmp[name].cmd("query-balloon")["actual"]
                if abs(act - mib * MiB) > 4 * MiB:
                    return False
            return True
        self._wait("the balloons to reach the static split", reached)
        for name in split:
            self.ctl.cmd("policy-release", vm=name)
        self.ctl.cmd("policy-set", enabled=True)

    # ---- timeline and sampling -----------------------------------------
    def _event(self, ev):
        q = self.qmp[ev.vm]
        if ev.action == "add":
            r = q.cmd("x-bvm-workload-add", {"spec": ev.spec})
            self.labels[(ev.vm, ev.label)] = r["id"]
        elif ev.action == "set":
            q.cmd("x-bvm-workload-set",
                  {"id": self.labels[(ev.vm, ev.label)], "spec": ev.spec})
        elif ev.action == "stop":
            q.cmd("x-bvm-workload-stop",
                  {"id": self.labels[(ev.vm, ev.label)]})
        self.log("    t=%.1f %s %s/%s %s" % (ev.t, ev.action, ev.vm, ev.label,
                                             ev.spec or ""))

    def _open_csv(self, name, fields):
        f = open(os.path.join(self.rundir, name), "w", newline="")
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        self.files[name] = (f, w)
        return w

    def _query_vm(self, v):
        """One VM's sample (its own QMP connection; runs in a thread)."""
        q = self.qmp[v.name]
        t_ask = time.monotonic()
        act = q.cmd("query-balloon")["actual"]
        gs = q.cmd("qom-get", {"path": BALLOON, "property": "guest-stats"})
        wls = parse_workloads(q.cmd("x-bvm-query-workloads"))
        t_got = time.monotonic()
        return {"actual": act, "stats": gs.get("stats", {}), "wls": wls,
                "t_real": round(t_got - self.t0, 3),
                "qmp_ms": round(1000 * (t_got - t_ask), 1)}

    def _query_all(self):
        """Sample balloond and every VM in parallel, so that one slow VM
        neither delays nor skews the others' samples."""
        jobs = {v.name: (lambda v=v: self._query_vm(v)) for v in self.scn.vms}
        jobs[None] = lambda: (self.ctl.cmd("list")["vms"],
                              self.ctl.cmd("host"))
        out, errs = {}, []

        def run(key, fn):
            try:
                out[key] = fn()
            except HarnessError as e:
                errs.append(e)
        ths = [threading.Thread(target=run, args=kv) for kv in jobs.items()]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        if errs:
            raise errs[0]
        return out

    def _sample(self, t):
        res = self._query_all()
        vms, host = res.pop(None)
        bd = {v["name"]: v for v in vms}
        sum_act = sum_tgt = 0
        idlabel = {(vm, i): lab for (vm, lab), i in self.labels.items()}
        for v in self.scn.vms:
            r = res[v.name]
            act, st = r["actual"], r["stats"]
            tgt = bd.get(v.name, {}).get("target", "")
            sum_act += act
            sum_tgt += tgt if tgt != "" else act
            row = {"t": t, "t_real": r["t_real"], "qmp_ms": r["qmp_ms"],
                   "vm": v.name, "target": tgt, "actual": act,
                   "reason": bd.get(v.name, {}).get("reason", ""),
                   "rss": read_rss(self.vmproc[v.name].p.pid)}
            for k, name in STAT_KEYS.items():
                val = st.get(name, "")
                row[k] = "" if val is None or val < 0 else val
            self.files["vms.csv"][1].writerow(row)
            for w in r["wls"]:
                w.update({"t": t, "vm": v.name,
                          "label": idlabel.get((v.name, w["id"]), "")})
                self.files["workloads.csv"][1].writerow(w)
        self.files["host.csv"][1].writerow({
            "t": t, "state": host.get("state", ""), "budget": self.budget,
            "sum_actual": sum_act, "sum_target": sum_tgt,
            "free": self.budget - sum_act,
            "host_avail": host.get("available", ""),
            "psi": host.get("psi-some-avg10", "")})
        for f, _ in self.files.values():
            f.flush()

    def _fine(self):
        t = round(time.monotonic() - self.t0, 3)
        for vm in sorted({vm for vm, _ in self.scn.fine}):
            for w in parse_workloads(self.qmp[vm].cmd(
                    "x-bvm-query-workloads")):
                lab = next((lb for (v, lb), i in self.labels.items()
                            if v == vm and i == w["id"]), "")
                if (vm, lab) in self.scn.fine:
                    self.files["fine.csv"][1].writerow(
                        {"t": t, "vm": vm, "label": lab, "ops": w["ops"]})

    def _play(self):
        """Events at their second, a sample at every whole second (and the
        fine samples every 0.1 s).  A sample slot that has already passed
        when the previous one finishes is skipped (counted), never taken
        late under a wrong time stamp."""
        self._open_csv("vms.csv", VM_FIELDS)
        self._open_csv("workloads.csv", WL_FIELDS)
        self._open_csv("host.csv", HOST_FIELDS)
        per = 10 if self.scn.fine else 1
        if self.scn.fine:
            self._open_csv("fine.csv", ["t", "vm", "label", "ops"])
        events = list(self.scn.events)
        skipped = 0
        self.t0 = time.monotonic()
        i, last = 0, int(self.scn.duration) * per
        while i <= last:
            t = i / per
            while events and events[0].t <= t:
                self._event(events.pop(0))
            delay = self.t0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.5 / per and i % per:
                i += 1  # a fine slot already gone
                continue
            elif delay < -0.5 and i < last:
                skipped += 1
                self.log("    t=%g: sample skipped (%.1f s late)"
                         % (t, -delay))
                i += per - i % per
                continue
            if self.scn.fine:
                self._fine()
            if i % per == 0:
                self.procs.check_alive()
                self._sample(i // per)
            i += 1
        self.result["skipped_samples"] = skipped
        self.result["load_after"] = round(os.getloadavg()[0], 2)
        self.result["late_s"] = round(time.monotonic() - self.t0 -
                                      self.scn.duration, 2)

    # ---- driver ---------------------------------------------------------
    def run(self):
        os.makedirs(self.rundir, exist_ok=True)
        sweep_stale()
        self.tmp = tempfile.mkdtemp(prefix="bscen-", dir="/tmp")
        with open(os.path.join(self.tmp, "harness.pid"), "w") as f:
            f.write("%d\n" % os.getpid())
        self.result["load_before"] = round(os.getloadavg()[0], 2)
        ok = False
        try:
            self._start_daemon()
            self._start_vms()
            self._settle()
            self._play()
            ok = True
        except Timeout:
            self._diagnose()
            raise
        finally:
            self._teardown(ok)
        return self.result

    def _diagnose(self):
        """A VM or balloond stopped answering: find out which and keep its
        stacks (RUN/hang-NAME.txt) before everything is killed."""
        for name, pr in list(self.vmproc.items()) + [
                ("balloond", self.procs.procs[0] if self.procs.procs
                 else None)]:
            if pr is None or not pr.alive() or (name == "balloond" and
                                                not self.ctl_path):
                continue
            path = self.qmp_paths.get(name) if name != "balloond" else None
            try:
                if path:
                    Qmp(path, timeout=3.0).close()
                else:
                    c = Ctl(self.ctl_path, timeout=3.0)
                    c.cmd("version")
                    c.close()
                continue
            except (HarnessError, OSError):
                pass
            out = os.path.join(self.rundir, "hang-%s.txt" % name)
            self.log("    %s does not answer: stacks in %s" % (name, out))
            dump_stacks(pr.p.pid, out)

    def _teardown(self, ok):
        for q in self.qmp.values():
            q.close()
        if self.ctl:
            self.ctl.close()
        for f, _ in self.files.values():
            f.close()
        leftovers = self.procs.stop_all()
        self.result["exit"] = dict(self.procs.exit)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if leftovers:
            raise HarnessError("processes left behind: %s" % leftovers)
        if ok:
            bad = {n: c for n, c in self.procs.exit.items()
                   if c not in (0, -15)}
            if bad:
                raise HarnessError("unclean exit (status): %s; logs in %s"
                                   % (bad, self.rundir))
