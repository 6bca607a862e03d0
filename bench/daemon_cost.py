#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""CPU and memory cost of balloond per managed VM, and how many VMs one
daemon sustains on this machine.

One balloond (policy idletax on, --tick-ms, default 1000) manages small
balloonvms (--memory 64M, no workload).  VMs are added in steps (--counts,
default 10,100,200); at each count, after --warmup s, the daemon's CPU time
is measured over --windows windows of --window s:

  core_pct       the daemon's CPU as % of one core, from the run time of
                 all its threads in /proc/PID/task/*/schedstat (ns) - median
                 over the windows (goal: <= 1 % at 100 VMs)
  spread_pct     run-to-run spread of core_pct over the windows,
                 (max - min) / median
  cpu_s_per_min  the same as CPU seconds per minute
  tick_pct       cross-check: utime+stime from /proc/PID/stat (10 ms
                 resolution, coarse at low load)
  rss_mib        the daemon's VmRSS
  stale_max_s    the oldest guest-stats sample balloond holds (now minus
                 stats-updated over `list`): the daemon keeps up when every
                 VM's stats are at most --stale-limit s old
  step_ms        the last policy step (balloond_policy_step_seconds)
  vms_cpu_pct    the balloonvms' own CPU, all together (% of one core)
  vms_rss_mib    the balloonvms' VmRSS, all together

With --limit, the count then grows by --limit-step (100) until a VM fails
to start or be added (or the new VMs need more than 1 s each to come up),
the daemon falls behind (a VM not connected or stale stats, or the daemon
above 90 % of a core), the host's CPUs saturate (VMs + daemon above 90 % of
all cores), the VMs' resident memory passes --mem-cap (default 6G: the
machine is shared), or --limit-max is reached; the last healthy count and
the reason are reported.  This loads the whole machine for minutes.

usage: daemon_cost.py [--counts 10,100,200] [--limit] [--csv FILE]
                      [--window 20] [--windows 3] [--tick-ms 1000] [--build DIR]
                      [--limit-step 100] [--limit-max 3200] [--mem-cap 6G]
"""

import argparse
import os
import shutil
import socket
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import benchlib as B  # noqa: E402

GOAL_PCT = 1.0


def exec_seconds(pid):
    """CPU time of every thread of pid in s, from schedstat (ns)."""
    tot = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                tot += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return tot / 1e9


def vm_cpu(pid):
    try:
        return exec_seconds(pid)
    except OSError:
        return 0.0


def vm_rss(pid):
    try:
        return B.rss_bytes(pid)
    except OSError:
        return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def metrics(port):
    """balloond's /metrics as {name: value} (unlabelled samples only)."""
    out = {}
    url = "http://127.0.0.1:%d/metrics" % port
    with urllib.request.urlopen(url, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("#") or "{" in line:
                continue
            parts = line.split()
            if len(parts) == 2:
                try:
                    out[parts[0]] = float(parts[1])
                except ValueError:
                    pass
    return out


class World:
    def __init__(self, build, wdir, args):
        self.build = build
        self.wdir = wdir
        self.args = args
        self.port = free_port()
        self.d = B.Balloond(build, wdir, tick_ms=args.tick_ms,
                            extra=["--metrics", "127.0.0.1:%d" % self.port])
        self.d.ctl("policy-set", kind="idletax", enabled=True)
        self.vms = []

    def grow(self, n):
        """Start and add VMs up to n.  Returns None or why it failed.
        Gives up when the new VMs take more than 1 s each on average to
        come up (the machine is saturated)."""
        new = []
        first = len(self.vms)
        deadline = time.monotonic() + max(30.0, 1.0 * (n - first))
        try:
            for i in range(first, n):
                new.append(B.BalloonVM(self.build, "v%d" % i,
                                       self.args.memory, self.wdir))
        except OSError as e:
            self.vms += new
            return "starting VM %d: %s" % (len(self.vms), e)
        self.vms += new
        for v in new:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise B.BenchError("VMs %d..%d not all up within %.0f s"
                                       % (first, n - 1,
                                          max(30.0, 1.0 * (n - first))))
                v.wait_ready(timeout=left)
                self.d.ctl("add", vm=v.name, qmp=v.qmp_path)
            except B.BenchError as e:
                return "VM %s: %s" % (v.name, str(e).splitlines()[0])
        return None

    def health(self):
        """(connected, stale_max_s)."""
        vms = self.d.ctl("list")["vms"]
        now = time.time()
        conn = sum(1 for v in vms if v["state"] == "connected")
        stale = max((now - v.get("stats-updated", 0) for v in vms),
                    default=0)
        return conn, stale

    def measure(self):
        a = self.args
        pid = self.d.pid
        time.sleep(a.warmup)
        cpu, ex, vmcpu = [], [], []
        for _ in range(a.windows):
            vpids = [v.proc.pid for v in self.vms if v.proc.alive()]
            c0, e0, t0 = B.cpu_seconds(pid), exec_seconds(pid), \
                time.monotonic()
            v0 = sum(vm_cpu(p) for p in vpids)
            time.sleep(a.window)
            c1, e1, t1 = B.cpu_seconds(pid), exec_seconds(pid), \
                time.monotonic()
            v1 = sum(vm_cpu(p) for p in vpids)
            cpu.append((c1 - c0) / (t1 - t0))
            ex.append((e1 - e0) / (t1 - t0))
            vmcpu.append((v1 - v0) / (t1 - t0))
        conn, stale = self.health()
        m = metrics(self.port)
        return {
            "cpu": cpu, "exec": ex, "vmcpu": B.median(vmcpu),
            "rss": B.rss_bytes(pid), "connected": conn, "stale": stale,
            "vmrss": sum(vm_rss(v.proc.pid) for v in self.vms),
            "step_ms": 1000 * m.get("balloond_policy_step_seconds", -1e-3),
            "load": B.loadavg(),
        }

    def stop(self):
        # Stop the VMs in parallel: SIGTERM all, then reap.
        for v in self.vms:
            try:
                os.killpg(v.proc.pid, 15)
            except ProcessLookupError:
                pass
        for v in self.vms:
            v.stop()
        self.d.stop()


def counts_for_limit(args, start):
    n = start
    while n < args.limit_max:
        n = min(n + args.limit_step, args.limit_max)
        yield n


def verdict(r, n, args):
    """None if the daemon keeps up with n VMs, else why not."""
    if r["vmrss"] > args.mem_cap:
        return ("VMs' resident memory %.0f MiB above --mem-cap %.0f MiB"
                % (r["vmrss"] / B.MiB, args.mem_cap / B.MiB))
    if B.host_available() < 2 * B.GiB:
        return "host MemAvailable below 2 GiB"
    if r["connected"] < n:
        return "%d of %d VMs connected" % (r["connected"], n)
    if r["stale"] > args.stale_limit:
        return "guest stats %.1f s old (daemon or VMs behind)" % r["stale"]
    d = B.median(r["exec"])
    if d > 0.9:
        return "daemon at %.0f %% of a core" % (100 * d)
    if r["vmcpu"] + d > 0.9 * (os.cpu_count() or 1):
        return ("host CPUs saturated (VMs %.0f %% + daemon %.0f %% of a "
                "core, %d cores)" % (100 * r["vmcpu"], 100 * d,
                                     os.cpu_count() or 1))
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", default="10,100,200")
    ap.add_argument("--memory", default="64M")
    ap.add_argument("--tick-ms", type=int, default=1000)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--stale-limit", type=float,
                    help="oldest acceptable stats, s (default: 3 ticks + "
                    "1 s, last-update has whole seconds)")
    ap.add_argument("--limit", action="store_true",
                    help="then grow until the daemon or machine gives up")
    ap.add_argument("--limit-step", type=int, default=100)
    ap.add_argument("--limit-max", type=int, default=3200)
    ap.add_argument("--mem-cap", default="6G",
                    help="stop --limit when the VMs' RSS passes this")
    ap.add_argument("--csv", default="daemon_cost.csv")
    ap.add_argument("--build")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.mem_cap = B.size(args.mem_cap)
    if args.stale_limit is None:
        args.stale_limit = 3 * args.tick_ms / 1000.0 + 1
    B.sigterm_exits()
    build = B.build_dir(args.build)
    wdir = B.workdir("bench-dcost-")
    B.log("machine: " + B.machine())
    B.log("work dir %s, build %s" % (wdir, build))
    table = B.Table(["vms", "core_pct", "spread_pct", "cpu_s_per_min",
                     "tick_pct", "rss_mib", "rss_kib_per_vm", "stale_max_s",
                     "step_ms", "vms_cpu_pct", "vms_rss_mib", "load1",
                     "status"], args.csv)
    results = {}
    w = World(build, wdir, args)
    base_rss = B.rss_bytes(w.d.pid)
    counts = [int(x) for x in args.counts.split(",")]
    last_ok, why = 0, None
    try:
        todo = list(counts)
        limit_iter = None
        while todo or args.limit:
            if todo:
                n = todo.pop(0)
            else:
                if limit_iter is None:
                    limit_iter = counts_for_limit(args, max(counts))
                n = next(limit_iter, None)
                if n is None:
                    why = "reached --limit-max %d" % args.limit_max
                    break
            t0 = time.monotonic()
            err = w.grow(n)
            B.log("%d VMs up in %.1f s%s" % (len(w.vms),
                                              time.monotonic() - t0,
                                              (": " + err) if err else ""))
            if err:
                why = "startup failed at %d VMs: %s" % (n, err)
                table.add(n, "", "", "", "", "", "", "", "", "", "",
                          B.loadavg(), "FAILED " + err)
                break
            r = w.measure()
            results[n] = r
            cpu = B.median(r["exec"])
            bad = verdict(r, n, args)
            table.add(n, 100 * cpu, B.spread_pct(r["exec"]), 60 * cpu,
                      100 * B.median(r["cpu"]), r["rss"] / B.MiB,
                      (r["rss"] - base_rss) / 1024 / n, r["stale"],
                      r["step_ms"], 100 * r["vmcpu"], r["vmrss"] / B.MiB,
                      r["load"], bad or "ok")
            B.log("%d VMs: daemon %.3f %% of a core (%.2f CPU s/min), RSS "
                  "%.1f MiB, stats <= %.1f s old, VMs %.0f %% - %s"
                  % (n, 100 * cpu, 60 * cpu, r["rss"] / B.MiB, r["stale"],
                     100 * r["vmcpu"], bad or "ok"))
            if bad:
                why = "at %d VMs: %s" % (n, bad)
                if not todo:
                    break
            else:
                last_ok = n
    finally:
        B.log("stopping %d VMs" % len(w.vms))
        w.stop()
    print("machine: " + B.machine())
    table.print()
    table.write_csv()
    if 100 in results:
        pct = 100 * B.median(results[100]["exec"])
        print("\ngoal <= %.0f %% of a core at 100 VMs: %.3f %% - %s"
              % (GOAL_PCT, pct, "met" if pct <= GOAL_PCT else "NOT met"))
    if args.limit:
        print("limit: %d VMs sustained; stopped %s" % (last_ok, why))
    if not args.keep:
        shutil.rmtree(wdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    B.run_main(main)
