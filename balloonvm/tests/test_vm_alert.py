# SPDX-License-Identifier: MIT
"""Stats alerts against a running balloonvm (x-bvm-stats-alert).

A quiet guest raises no alert; a working set that grows raises
"available-drop" within a few samples, with the sample and the current
size; a squeeze that makes the guest swap raises "swap"; alerts stop when
turned off; bad arguments are refused and change nothing; the QEMU polling
property is untouched by alerts.
"""
import time

from bvmtest import BALLOON0, MiB, QMPError, VM, main, wait_until


def alerts(vm, wait):
    evs = vm.qmp.poll_events(wait=wait)
    got = [e for e in evs if e.get("event") == "X_BVM_STATS_ALERT"]
    vm.qmp.events.clear()
    return got


def test(exe, vms):
    vm = VM(exe, "alert", "512M", "--swap", "256M", "--workload",
            "steady:ws=32M", stats=0)
    vms.append(vm)
    wid = vm.cmd("x-bvm-query-workloads")[0]["id"]
    wait_until(lambda: vm.memory()["guest"]["anon"] >= 32 * MiB, 20,
               "working set resident")

    for bad, msg in (({"period-ms": 5}, "'period-ms' must be 0 (off)"),
                     ({"period-ms": 50, "drop": 0}, "'drop' must be")):
        try:
            vm.cmd("x-bvm-stats-alert", **bad)
            raise AssertionError(f"{bad} accepted")
        except QMPError as e:
            assert e.cls == "GenericError" and e.desc.startswith(msg), e
    assert alerts(vm, 0.5) == [], "alerts while off"

    vm.cmd("x-bvm-stats-alert", **{"period-ms": 50, "drop": 8 * MiB})
    assert vm.cmd("qom-get", path=BALLOON0,
                  property="guest-stats-polling-interval") == 0
    t_on = time.monotonic()
    quiet = alerts(vm, 1.0)
    assert quiet == [], f"a quiet guest raised {quiet}"
    # samples flow (guest-stats shows the newest) although polling is off
    lu = vm.stats()["last-update"]
    assert abs(lu - time.time()) < 3, lu

    avail0 = vm.stats()["stats"]["stat-available-memory"]
    t0 = time.monotonic()
    vm.cmd("x-bvm-workload-set", id=wid, spec="ws=256M")
    got = []
    while not got and time.monotonic() - t0 < 5:
        got = alerts(vm, 0.05)
    assert got, "no alert while the working set grew"
    dt = time.monotonic() - t0
    d = got[0]["data"]
    assert d["reason"] == "available-drop", d
    assert d["actual"] == 512 * MiB, d
    assert d["stats"]["stat-available-memory"] <= avail0 - 8 * MiB, (avail0, d)
    assert d["stats"]["stat-total-memory"] == 512 * MiB, d
    print(f"first alert {dt * 1000:.0f} ms after the jump")
    wait_until(lambda: vm.memory()["guest"]["anon"] >= 256 * MiB, 30,
               "new working set resident")
    n = len(alerts(vm, 0.3))
    span = time.monotonic() - t_on
    assert n + 1 <= span / 0.05 + 2, f"{n} alerts in {span:.1f} s"

    vm.balloon(160 * MiB)  # the guest must swap part of its 256 MiB out
    got = []
    t0 = time.monotonic()
    while not any(e["data"]["reason"] == "swap" for e in got) and \
            time.monotonic() - t0 < 20:
        got += alerts(vm, 0.1)
    swaps = [e for e in got if e["data"]["reason"] == "swap"]
    assert swaps, f"no swap alert while squeezed: {got}"
    assert swaps[0]["data"]["stats"]["stat-swap-out"] >= MiB, swaps[0]
    vm.wait_actual(160 * MiB, timeout=40)

    vm.cmd("x-bvm-stats-alert", **{"period-ms": 0})
    alerts(vm, 0.2)  # any sample already in flight
    vm.balloon(128 * MiB)
    vm.wait_actual(128 * MiB, timeout=40)
    late = alerts(vm, 1.0)
    assert late == [], f"alerts after off: {late}"


if __name__ == "__main__":
    main(test)
