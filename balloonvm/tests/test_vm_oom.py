# SPDX-License-Identifier: MIT
"""Deflate-on-OOM: the balloon gives memory back instead of an OOM kill.

Two 512 MiB balloonvms without swap, ballooned down to 128 MiB.  Then a
workload suddenly needs 300 MiB - more than the guest has left.
  - With --deflate-on-oom (VIRTIO_BALLOON_F_DEFLATE_ON_OOM negotiated) the
    guest's OOM notifier deflates the balloon: the workload gets all its
    memory, nothing is killed, the balloon shrinks (query-balloon rises).
  - Without it, the guest's OOM killer kills the workload, and the guest
    stats say so (stat-oom-kills).
"""
from bvmtest import MiB, VM, main, wait_until

DOOM = 1 << 2  # VIRTIO_BALLOON_F_DEFLATE_ON_OOM


def squeeze(vm):
    vm.balloon(128 * MiB)
    vm.wait_actual(128 * MiB, timeout=40)


def test(exe, vms):
    on = VM(exe, "oom-on", "512M", "--deflate-on-oom")
    vms.append(on)
    off = VM(exe, "oom-off", "512M")
    vms.append(off)
    assert on.memory()["device"]["features"] & DOOM
    assert not off.memory()["device"]["features"] & DOOM
    squeeze(on)
    squeeze(off)

    a = on.add("idle:size=300M")
    b = off.add("idle:size=300M")

    wait_until(lambda: on.workload(a)["resident"] >= 300 * MiB or
               on.workload(a)["state"] != "running", 40,
               "deflate-on-OOM workload to populate")
    w = on.workload(a)
    assert w["state"] == "running", f"killed despite deflate-on-OOM: {w}"
    assert w["resident"] >= 300 * MiB, w
    mem = on.memory()
    print(f"deflate-on-OOM: balloon gave back "
          f"{mem['driver']['oom-deflated'] * 4096 >> 20} MiB, actual now "
          f"{on.actual() >> 20} MiB")
    assert mem["driver"]["oom-deflated"] > 0, mem["driver"]
    assert mem["guest"]["oom-kills"] == 0, mem["guest"]
    assert on.actual() >= 256 * MiB, "balloon did not shrink"
    wait_until(lambda: on.stats()["stats"]["stat-oom-kills"] == 0 and
               on.stats()["last-update"] > 0, 5, "stats")

    wait_until(lambda: off.workload(b)["state"] != "running", 40,
               "OOM kill without the feature")
    w = off.workload(b)
    print(f"without: workload {w['state']}")
    assert w["state"] == "killed", w
    wait_until(lambda: off.stats()["stats"]["stat-oom-kills"] >= 1, 10,
               "stat-oom-kills to report the kill")
    mem = off.memory()
    assert mem["driver"]["oom-deflated"] == 0, mem["driver"]
    assert off.actual() <= 136 * MiB, "balloon deflated without the feature"


if __name__ == "__main__":
    main(test)
