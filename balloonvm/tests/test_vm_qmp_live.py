# SPDX-License-Identifier: MIT
"""QMP stays responsive while the guest swaps, and SIGTERM is honoured.

A 1 GiB balloonvm with a 1 GiB swap file (O_DIRECT where the filesystem
allows it, the default) runs a steady 800 MiB working set with many writes.
The balloon is then inflated to 128 MiB and deflated again, twice, so the
guest must swap hundreds of MiB out (real writes of its swap file) while its
driver inflates, and its device releases thousands of scattered ranges to
the host.  Meanwhile:

  * a monitor client (as balloond does) sends query-balloon and qom-get
    guest-stats back to back, 20 times a second, and times every reply;
  * a second client (as the benchmark harness does) changes the workload
    with x-bvm-workload-set and lists workloads, commands that the guest
    itself has to carry out.

Every monitor reply must arrive within LIVENESS_S (the max and p99 are
printed; docs/balloonvm.md quotes them).  At the end the balloon is
inflated once more and SIGTERM sent while the guest swaps: the process must
exit, with status 0, within SIGTERM_S.
"""
import signal
import threading
import time

from bvmtest import BALLOON0, MiB, QMP, VM, main, wait_until

LIVENESS_S = 1.0  # every monitor reply, seconds
SIGTERM_S = 3.0   # SIGTERM to exit, seconds
HANG_S = 20.0     # a reply slower than this counts as a hang


class Monitor(threading.Thread):
    """Polls query-balloon and guest-stats; records each reply's latency."""

    def __init__(self, sock, period=0.05):
        super().__init__(daemon=True)
        self.q = QMP(sock, timeout=HANG_S)
        self.period = period
        self.lat = []  # (seconds, command, when)
        self.error = None
        self.stop = threading.Event()

    def call(self, name, **args):
        t = time.monotonic()
        try:
            self.q.cmd(name, **args)
        except Exception as e:  # noqa: BLE001 - a timeout is the finding
            self.lat.append((time.monotonic() - t, name, t))
            raise e
        self.lat.append((time.monotonic() - t, name, t))

    def run(self):
        try:
            while not self.stop.is_set():
                self.call("query-balloon")
                self.call("qom-get", path=BALLOON0, property="guest-stats")
                time.sleep(self.period)
        except Exception as e:  # noqa: BLE001
            self.error = e


class Harness(threading.Thread):
    """Drives the workload over its own connection, as the bench does."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.q = QMP(sock, timeout=60)
        self.lat = []
        self.error = None
        self.stop = threading.Event()

    def run(self):
        writes = ("write=0.5", "write=0.6")
        i = 0
        try:
            while not self.stop.is_set():
                t = time.monotonic()
                self.q.cmd("x-bvm-workload-set", id=1, spec=writes[i % 2])
                self.q.cmd("x-bvm-query-workloads")
                self.lat.append(time.monotonic() - t)
                i += 1
                time.sleep(0.2)
        except Exception as e:  # noqa: BLE001
            self.error = e


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def test(exe, vms):
    vm = VM(exe, "live", "1G", "--swap", "1G",
            "--workload", "steady:ws=800M,write=0.5")
    vms.append(vm)
    wait_until(lambda: vm.workload(1)["resident"] >= 800 * MiB, 60,
               "working set resident")
    swap0 = vm.stats()["stats"]["stat-swap-out"]
    mon = Monitor(vm.sock)
    har = Harness(vm.sock)
    mon.start()
    har.start()
    for target, hold in ((128, 5.0), (1024, 2.0), (128, 5.0), (1024, 2.0)):
        vm.balloon(target * MiB)
        time.sleep(hold)
    # A last squeeze; SIGTERM while the guest swaps for it.
    vm.balloon(128 * MiB)
    time.sleep(1.0)
    swapped = vm.stats()["stats"]["stat-swap-out"] - swap0
    t = time.monotonic()
    vm.proc.send_signal(signal.SIGTERM)
    try:
        rc = vm.proc.wait(timeout=SIGTERM_S + 7)
    except Exception:  # noqa: BLE001
        rc = None
    took = time.monotonic() - t
    mon.stop.set()
    har.stop.set()
    mon.join(HANG_S + 5)
    har.join(5)
    vm.qmp = None  # the process is gone (or about to be killed)

    lat = [d for d, _, w in mon.lat if w < t]  # replies before SIGTERM
    worst = max(mon.lat) if mon.lat else (0, "-", 0)
    print(f"monitor: {len(lat)} replies, max {max(lat) * 1000:.0f} ms "
          f"({worst[1]}), p99 {pct(lat, 0.99) * 1000:.0f} ms, "
          f"p50 {pct(lat, 0.5) * 1000:.1f} ms")
    if har.lat:
        print(f"harness: {len(har.lat)} set+list pairs, max "
              f"{max(har.lat) * 1000:.0f} ms")
    print(f"guest swapped out {swapped >> 20} MiB; SIGTERM -> exit in "
          f"{took:.2f} s (status {rc})")
    assert swapped >= 300 * MiB, f"only {swapped >> 20} MiB swapped out"
    assert len(lat) >= 100, f"only {len(lat)} monitor replies"
    assert mon.error is None or isinstance(mon.error, ConnectionError), \
        f"monitor client: {mon.error!r}"
    assert max(lat) <= LIVENESS_S, \
        f"a QMP reply took {max(lat):.2f} s (limit {LIVENESS_S} s)"
    assert rc is not None and took <= SIGTERM_S, \
        f"SIGTERM: exit took {took:.1f} s (limit {SIGTERM_S} s)"
    assert rc == 0, f"exit status {rc} after SIGTERM"


if __name__ == "__main__":
    main(test)
