#!/usr/bin/env python3
"""Checks of balloond's /metrics page against docs/balloond.md ("Metrics")
and against the daemon's own view (balloonctl --json list)."""

import re

# The documented families and their types (docs/balloond.md, Metrics).
FAMILIES = {
    "balloond_up": "gauge",
    "balloond_uptime_seconds": "gauge",
    "balloond_loop_iterations_total": "counter",
    "balloond_qmp_errors_total": "counter",
    "balloond_qmp_reconnects_total": "counter",
    "balloond_targets_sent_total": "counter",
    "balloond_state_writes_total": "counter",
    "balloond_state_write_errors_total": "counter",
    "balloond_policy_enabled": "gauge",
    "balloond_policy_steps_total": "counter",
    "balloond_policy_step_errors_total": "counter",
    "balloond_policy_step_seconds": "gauge",
    "balloond_policy_step_seconds_total": "counter",
    "balloond_policy_decisions_total": "counter",
    "balloond_host_memory_total_bytes": "gauge",
    "balloond_host_memory_free_bytes": "gauge",
    "balloond_host_memory_available_bytes": "gauge",
    "balloond_host_psi_available": "gauge",
    "balloond_host_psi_some_avg10": "gauge",
    "balloond_host_psi_full_avg10": "gauge",
    "balloond_host_state": "gauge",
    "balloond_vms": "gauge",
    "balloond_vm_target_bytes": "gauge",
    "balloond_vm_actual_bytes": "gauge",
    "balloond_vm_max_bytes": "gauge",
    "balloond_vm_min_bytes": "gauge",
    "balloond_vm_shares": "gauge",
    "balloond_vm_pinned": "gauge",
    "balloond_vm_qmp_errors_total": "counter",
    "balloond_vm_stats_updated_seconds": "gauge",
    "balloond_vm_state": "gauge",
}
VM_STATES = ("connecting", "connected", "lost", "error")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')


def parse(text):
    """(help {name: text}, type {name: type}, samples [(name, labels, v)],
    bad lines)."""
    helps, types, samples, bad = {}, {}, [], []
    for ln in text.splitlines():
        if not ln.strip():
            continue
        if ln.startswith("# HELP "):
            name, _, h = ln[7:].partition(" ")
            helps[name] = h
        elif ln.startswith("# TYPE "):
            name, _, t = ln[7:].partition(" ")
            types[name] = t
        elif ln.startswith("#"):
            continue
        else:
            m = SAMPLE.match(ln)
            if not m:
                bad.append(ln)
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
            try:
                samples.append((m.group(1), labels, float(m.group(4))))
            except ValueError:
                bad.append(ln)
    return helps, types, samples, bad


def value(samples, name, **labels):
    for n, lb, v in samples:
        if n == name and lb == labels:
            return v
    return None


def guest_metric(stat):
    return "balloond_guest_" + stat[len("stat-"):].replace("-", "_")


def check_metrics(c, body, vms):
    """vms: {name: VM object from the control socket}."""
    helps, types, samples, bad = parse(body)
    c.check(not bad, f"metrics: every sample line parses ({len(samples)} "
            "samples)" + (f"; bad: {bad[:3]}" if bad else ""))
    missing = [f for f in FAMILIES if f not in types or f not in helps]
    wrong = [f"{f} {types[f]}" for f in FAMILIES
             if f in types and types[f] != FAMILIES[f]]
    c.check(not missing and not wrong,
            f"metrics: all {len(FAMILIES)} documented families with HELP and "
            f"TYPE" + (f"; missing {missing}" if missing else "")
            + (f"; wrong type {wrong}" if wrong else ""))
    names = {n for n, _, _ in samples}
    untyped = sorted(n for n in names if n not in types)
    c.check(not untyped, "metrics: every sampled family has HELP/TYPE"
            + (f"; not: {untyped}" if untyped else ""))
    c.check(value(samples, "balloond_up") == 1, "metrics: balloond_up 1")
    c.check(value(samples, "balloond_vms") == len(vms),
            f"metrics: balloond_vms {value(samples, 'balloond_vms')} == "
            f"{len(vms)}")
    hs = [lb.get("state") for n, lb, v in samples
          if n == "balloond_host_state" and v == 1]
    c.check(len(hs) == 1, f"metrics: one current host state ({hs})")
    for name, vm in sorted(vms.items()):
        exp = {"balloond_vm_max_bytes": vm["max"],
               "balloond_vm_min_bytes": vm["min"],
               "balloond_vm_shares": vm["shares"],
               "balloond_vm_pinned": 1 if vm["pinned"] else 0}
        if vm["state"] == "connected":
            exp["balloond_vm_target_bytes"] = vm["target"]
            exp["balloond_vm_actual_bytes"] = vm["actual"]
        for metric in ("balloond_vm_target_bytes",
                       "balloond_vm_actual_bytes"):
            v = value(samples, metric, vm=name)
            if metric not in exp and v is not None:
                exp[metric] = vm[metric.split("_")[2]]
        got = {m: value(samples, m, vm=name) for m in exp}
        bad_v = {m: (got[m], e) for m, e in exp.items() if got[m] != e}
        c.check(not bad_v, f"metrics vm {name}: target/actual/min/max/"
                f"shares/pinned as in info" + (f"; differ {bad_v}"
                                                if bad_v else ""))
        states = {lb["state"]: v for n, lb, v in samples
                  if n == "balloond_vm_state" and lb.get("vm") == name}
        c.check(states.get(vm["state"]) == 1 and sum(states.values()) == 1,
                f"metrics vm {name}: balloond_vm_state{{state="
                f"\"{vm['state']}\"}} 1, others 0 ({states})")
        stats = vm.get("stats") or {}
        gm = [guest_metric(s) for s in stats]
        absent = [m for m in gm if value(samples, m, vm=name) is None]
        c.check(stats and not absent,
                f"metrics vm {name}: {len(gm)} balloond_guest_* series"
                + (f"; absent {absent}" if absent else ""))
        tot = value(samples, "balloond_guest_total_memory", vm=name)
        if "stat-total-memory" in stats:
            c.check(tot == stats["stat-total-memory"],
                    f"metrics vm {name}: balloond_guest_total_memory "
                    f"{tot} == stats {stats['stat-total-memory']} (bytes)")
        up = value(samples, "balloond_vm_stats_updated_seconds", vm=name)
        c.check(up is not None and abs(up - vm["stats-updated"]) < 5,
                f"metrics vm {name}: stats_updated_seconds {up} ~ "
                f"{vm['stats-updated']}")


def scrape_consistent(get_body, get_vms, tries=20):
    """Scrape /metrics between two control-socket listings and retry until
    both listings agree (no stats report or balloon move landed during the
    scrape), so the metrics can be compared with the listing exactly.
    get_body() returns the metrics text, get_vms() {name: VM}."""
    import time
    for _ in range(tries):
        before = get_vms()
        body = get_body()
        after = get_vms()
        if before == after:
            return body, after
        time.sleep(0.1)
    return body, after
