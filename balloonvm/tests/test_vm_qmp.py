# SPDX-License-Identifier: MIT
"""QMP against a running balloonvm: the wiring behind the dispatcher.

Greeting and negotiation, guest-stats polling (last-update advances, values
come from the guest), balloon/query-balloon round trip with a
BALLOON_CHANGE event, workload commands (a change read back), garbage on
the socket (GenericError replies, then commands without newlines answered
in order, as QEMU's JSON stream allows), several clients at once, quit ->
SHUTDOWN and the socket removed, SIGTERM -> a clean exit.
"""
import json
import os
import signal
import socket
import time

from bvmtest import BALLOON0, GiB, MiB, QMP, QMPError, VM, main, wait_until


def expect_error(fn, cls):
    try:
        fn()
    except QMPError as e:
        assert e.cls == cls, f"{e.cls} instead of {cls}: {e.desc}"
        return e
    raise AssertionError(f"no {cls} error")


def raw_lines(sock):
    """The JSON messages (events left out) arriving on @sock, one a line."""
    buf = b""
    while True:
        while b"\n" not in buf:
            data = sock.recv(65536)
            assert data, "connection closed"
            buf += data
        line, buf = buf.split(b"\n", 1)
        msg = json.loads(line)
        if "event" not in msg:
            yield msg


def test(exe, vms):
    vm = VM(exe, "qmp", "256M", "--workload", "steady:ws=64M", stats=0)
    vms.append(vm)
    ver = vm.qmp.greeting["QMP"]["version"]
    assert ver["package"] == "balloonvm" and ver["qemu"]["major"] >= 7, ver
    assert vm.cmd("query-status") == {"running": True, "status": "running"}

    # Stats: the driver's first buffer (sent at DRIVER_OK, as in QEMU) is
    # not refreshed until the interval is set, then the guest refreshes it.
    assert vm.cmd("qom-get", path=BALLOON0,
                  property="guest-stats-polling-interval") == 0
    early = vm.stats()["last-update"]
    time.sleep(2.2)
    assert vm.stats()["last-update"] == early
    vm.cmd("qom-set", path=BALLOON0,
           property="guest-stats-polling-interval", value=1)
    wait_until(lambda: vm.stats()["last-update"] > early, 10, "fresh stats")
    first = vm.stats()
    assert abs(first["last-update"] - time.time()) < 5, first
    st = first["stats"]
    assert st["stat-total-memory"] == 256 * MiB, st
    assert 0 < st["stat-free-memory"] < 256 * MiB, st
    wait_until(lambda: vm.stats()["last-update"] > first["last-update"], 10,
               "stats to be refreshed")

    # Balloon round trip; above-RAM values are clamped like QEMU does.
    vm.balloon(128 * MiB)
    vm.wait_actual(128 * MiB, timeout=40)
    vm.balloon(4 * GiB)
    vm.wait_actual(256 * MiB, timeout=40)
    e = expect_error(lambda: vm.balloon(0), "GenericError")
    assert e.desc == "Parameter 'value' expects a size", e.desc
    ev = [x for x in vm.qmp.poll_events(wait=1.5)
          if x.get("event") == "BALLOON_CHANGE"]
    assert ev and ev[-1]["data"]["actual"] == 256 * MiB, ev

    # Workloads.
    wid = vm.add("kv:size=32M,alpha=0.9")
    wait_until(lambda: vm.workload(wid)["ops"] > 0, 10, "kv to run")
    assert "alpha=0.9" in vm.workload(wid)["spec"], vm.workload(wid)
    vm.cmd("x-bvm-workload-set", id=wid, spec="alpha=0.5")
    spec = vm.workload(wid)["spec"]
    assert "alpha=0.5" in spec and "alpha=0.9" not in spec, spec
    assert spec.startswith("kv:") and "size=32M" in spec, spec
    vm.cmd("x-bvm-workload-stop", id=wid)
    assert vm.workload(wid)["state"] == "stopped"
    e = expect_error(lambda: vm.add("nosuch:x=1"), "GenericError")
    expect_error(lambda: vm.cmd("x-bvm-workload-stop", id=99),
                 "GenericError")
    mem = vm.memory()
    assert mem["ram"] == 256 * MiB and mem["host"]["rss"] > 0, mem

    # Garbage and a second client do not disturb anyone.  Each bad stretch
    # gets one GenericError; then commands without newlines (QEMU parses a
    # JSON stream) are answered in order.
    raw = socket.socket(socket.AF_UNIX)
    raw.settimeout(10)
    raw.connect(vm.sock)
    lines = raw_lines(raw)
    assert "QMP" in next(lines)
    raw.sendall(b"\x00\xffnot json\n" + b"[" * 100000 + b"\n")
    other = QMP(vm.sock)
    assert other.cmd("query-balloon")["actual"] == 256 * MiB
    other.close()
    raw.sendall(b'{"execute":"qmp_capabilities","id":1}'
                b'{"execute":"query-balloon","id":2}')
    got = [next(lines) for _ in range(4)]
    for r in got[:2]:
        assert r["error"]["class"] == "GenericError" and "id" not in r, got
        assert r["error"]["desc"].startswith("JSON parse error, "), got
    assert got[2] == {"return": {}, "id": 1}, got
    assert got[3] == {"return": {"actual": 256 * MiB}, "id": 2}, got
    raw.close()
    assert vm.cmd("query-status")["running"]

    # quit: reply, SHUTDOWN, exit 0, socket gone.
    vm.cmd("quit")
    ev = vm.qmp.poll_events(wait=2)
    assert any(x.get("event") == "SHUTDOWN" and
               x["data"]["reason"] == "host-qmp-quit" for x in ev), ev
    assert vm.proc.wait(timeout=10) == 0
    assert not os.path.exists(vm.sock)

    # SIGTERM: a clean exit too.
    vm2 = VM(exe, "term", "64M")
    vms.append(vm2)
    vm2.proc.send_signal(signal.SIGTERM)
    ev = vm2.qmp.poll_events(wait=2)
    assert any(x.get("event") == "SHUTDOWN" and
               x["data"]["reason"] == "host-signal" for x in ev), ev
    assert vm2.proc.wait(timeout=10) == 0
    assert not os.path.exists(vm2.sock)


if __name__ == "__main__":
    main(test)
