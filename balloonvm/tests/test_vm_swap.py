# SPDX-License-Identifier: MIT
"""Squeezing a busy guest makes it swap; deflating makes it fast again.

A 1 GiB balloonvm with a 1 GiB swap file runs a steady 600 MiB working set
(random page touches).  A 256 MiB balloon target leaves it less than its
working set: the guest must swap (real writes and reads of its swap file),
so the workload's throughput falls and the swap-out counters rise.
Deflating back to 1 GiB restores the throughput (more than twice the
squeezed rate and at least half the baseline).  Ratios are compared
within this one run, so the machine's speed does not matter; as other
processes may share the CPU, the per-op latency (window p50, which CPU
sharing barely moves) is checked alongside the throughput.

The swap file uses --disk-cache writeback (QEMU's default cache mode): swap
I/O is still real reads and writes of a file, but reads of recently written
pages are served by the host page cache, so bringing 350 MiB back after the
deflate takes seconds instead of a minute of 4 KiB O_DIRECT reads.
"""
from bvmtest import GiB, MiB, VM, main, throughput, wait_until


def speed(vm, secs=2.0):
    """(ops/s, window p50 latency ns) of workload 1."""
    ops = throughput(vm, 1, secs)
    return ops, vm.workload(1)["window-p50-ns"]


def test(exe, vms):
    vm = VM(exe, "swap", "1G", "--swap", "1G", "--disk-cache", "writeback",
            "--workload", "steady:ws=600M,write=0.3")
    vms.append(vm)
    wait_until(lambda: vm.workload(1)["resident"] >= 600 * MiB, 60,
               "working set resident")
    base, base_p50 = speed(vm)
    st0 = vm.stats()["stats"]
    print(f"baseline: {base:,.0f} ops/s, p50 {base_p50} ns, swap-out "
          f"{st0['stat-swap-out']} B")

    vm.balloon(256 * MiB)
    # With 1 GiB of swap the guest can reach the target.
    vm.wait_actual(256 * MiB, timeout=60)
    w = vm.workload(1)
    assert w["swapped"] >= 300 * MiB, f"only {w['swapped'] >> 20} MiB swapped"
    squeezed, sq_p50 = speed(vm)
    wait_until(lambda: vm.stats()["stats"]["stat-swap-out"] >=
               st0["stat-swap-out"] + 300 * MiB, 5, "stat-swap-out to rise")
    st1 = vm.stats()["stats"]
    print(f"at 256 MiB: {squeezed:,.0f} ops/s, p50 {sq_p50} ns, swap-out "
          f"{st1['stat-swap-out'] >> 20} MiB, swap-in "
          f"{st1['stat-swap-in'] >> 20} MiB, major faults "
          f"{st1['stat-major-faults']}")
    assert st1["stat-major-faults"] > st0["stat-major-faults"], st1
    assert squeezed < base * 0.5, \
        f"throughput {squeezed:.0f} ops/s not below half of {base:.0f}"
    assert sq_p50 > 3 * base_p50, "per-op latency did not rise"

    vm.balloon(GiB)
    vm.wait_actual(GiB, timeout=60)
    # Swapped pages come back on first touch; wait until they have.
    wait_until(lambda: vm.workload(1)["swapped"] == 0, 60,
               "working set swapped back in")
    restored, re_p50 = speed(vm)
    print(f"after deflate: {restored:,.0f} ops/s, p50 {re_p50} ns "
          f"({restored / base:.2f} of baseline, "
          f"{restored / max(squeezed, 1):.1f}x the squeezed rate)")
    assert restored > squeezed * 2, "deflating did not restore throughput"
    assert restored >= base * 0.5, \
        f"throughput after deflate {restored:.0f} ops/s below half of the " \
        f"baseline {base:.0f}"
    assert re_p50 * 2 < sq_p50, "per-op latency did not recover"
    w = vm.workload(1)
    assert w["verify-errors"] == 0, w
    assert w["state"] == "running", w
    assert vm.stats()["stats"]["stat-oom-kills"] == 0


if __name__ == "__main__":
    main(test)
