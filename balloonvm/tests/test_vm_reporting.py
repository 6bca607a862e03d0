# SPDX-License-Identifier: MIT
"""Free page reporting returns what the guest frees, without a balloon.

Two 384 MiB balloonvms run a workload that touches 300 MiB and frees it.
With --free-page-reporting (VIRTIO_BALLOON_F_PAGE_REPORTING) the guest
reports its free runs and the device discards them: the process's RSS falls
back near zero although the balloon never moved.  Without it the freed
memory stays resident on the host.
"""
from bvmtest import MiB, VM, main, mib, wait_until

# Hold the peak long enough to observe both VMs there even on a slow
# (sanitizer, loaded CI) build: the two are polled in turn.
SPEC = "phased:peak=300M,grow=1s,hold=8s,release=1s,idle=1s,repeat=1"


def test(exe, vms):
    on = VM(exe, "fpr-on", "384M", "--free-page-reporting", "--workload",
            SPEC)
    vms.append(on)
    off = VM(exe, "fpr-off", "384M", "--workload", SPEC)
    vms.append(off)
    peaked = set()

    def at_peak():
        for name, vm in (("fpr-on", on), ("fpr-off", off)):
            if name in peaked:
                continue
            w = vm.workload(1)
            assert w["state"] != "done", f"{name}: peak never observed"
            if w["resident"] >= 290 * MiB:
                assert vm.rss() >= 290 * MiB, mib(vm.rss())
                peaked.add(name)
        return len(peaked) == 2

    wait_until(at_peak, 40, "both workloads at their peak")
    for vm in (on, off):
        wait_until(lambda: vm.workload(1)["state"] == "done", 40,
                   "workload done")

    wait_until(lambda: on.rss() < 64 * MiB, 30,
               f"RSS to fall with reporting (now {mib(on.rss())})")
    mem = on.memory()
    print(f"with reporting: RSS {mib(on.rss())}, reported "
          f"{mib(mem['device']['reported-pages'] * 4096)}")
    assert mem["device"]["reported-pages"] * 4096 >= 250 * MiB, mem["device"]
    assert on.actual() == 384 * MiB, "the balloon moved"
    assert off.rss() >= 290 * MiB, \
        f"RSS fell without reporting: {mib(off.rss())}"
    assert off.memory()["device"]["reported-pages"] == 0


if __name__ == "__main__":
    main(test)
