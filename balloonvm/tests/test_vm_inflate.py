# SPDX-License-Identifier: MIT
"""Acceptance: ballooning really returns memory to the host, and back.

A 1 GiB balloonvm runs a workload that touches 800 MiB and then frees it
(the guest's free pages stay backed on the host: RSS stays high).  Setting
the balloon target to 256 MiB over QMP must make the process's RSS (RssAnon
+ RssShmem from /proc/PID/status) drop by at least 700 MiB, query-balloon
must report 256 MiB and a BALLOON_CHANGE event must say so.  Deflating back
to 1 GiB must let a new workload use ~900 MiB again without an OOM kill.
"""
from bvmtest import GiB, MiB, VM, main, mib, wait_until


def test(exe, vms):
    vm = VM(exe, "inflate", "1G",
            "--workload", "phased:peak=800M,grow=1s,hold=1s,release=1s,"
            "idle=1s,repeat=1")
    vms.append(vm)
    assert vm.actual() == GiB

    # The workload grew to 800 MiB: the host backs it.
    wait_until(lambda: vm.workload(1)["resident"] >= 790 * MiB, 60,
               "workload resident 800 MiB")
    peak = vm.rss()
    print(f"RSS with 800 MiB touched: {mib(peak)}")
    assert peak >= 790 * MiB, f"RSS only {mib(peak)} at the peak"
    # ... and freed it: the guest has it free, the host still backs it.
    wait_until(lambda: vm.workload(1)["state"] == "done", 60,
               "workload done")
    assert vm.workload(1)["resident"] == 0
    assert vm.workload(1)["verify-errors"] == 0
    before = vm.rss()
    print(f"RSS after the guest freed it: {mib(before)}")
    assert before >= 780 * MiB, "the host lost guest memory by itself?"

    vm.balloon(256 * MiB)
    vm.wait_actual(256 * MiB, timeout=60)
    wait_until(lambda: before - vm.rss() >= 700 * MiB, 20,
               "RSS to drop by 700 MiB")
    after = vm.rss()
    print(f"RSS at 256 MiB: {mib(after)} (dropped {mib(before - after)})")
    mem = vm.memory()
    assert mem["device"]["bytes-released"] >= 700 * MiB, mem["device"]
    assert mem["guest"]["balloon"] == 768 * MiB, mem["guest"]
    ev = [e for e in vm.qmp.poll_events(wait=1.5)
          if e.get("event") == "BALLOON_CHANGE"]
    assert ev, "no BALLOON_CHANGE event"
    assert ev[-1]["data"]["actual"] == 256 * MiB, ev[-1]
    assert {"seconds", "microseconds"} <= set(ev[-1]["timestamp"])

    # Deflate: the guest gets its memory back and can use it.
    vm.balloon(GiB)
    vm.wait_actual(GiB, timeout=60)
    wid = vm.add("idle:size=900M")
    wait_until(lambda: vm.workload(wid)["resident"] >= 900 * MiB, 60,
               "new workload resident 900 MiB")
    w = vm.workload(wid)
    assert w["state"] == "running", w
    assert w["verify-errors"] == 0, w
    st = vm.stats()["stats"]
    assert st["stat-oom-kills"] == 0, st
    regrown = vm.rss()
    print(f"RSS after deflate + 900 MiB workload: {mib(regrown)}")
    assert regrown >= 890 * MiB, f"RSS only {mib(regrown)}"


if __name__ == "__main__":
    main(test)
