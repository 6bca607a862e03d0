#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end inflate and deflate over QMP: `balloon` to a target, time
until query-balloon reports it, and back; compared with the raw kernel
release rate measured in the same run.

  --vm qemu       a real Linux guest under QEMU (TCG here: software
                  emulation) with Linux's virtio_balloon driver, which sends
                  at most 256 PFNs per request; QEMU discards each 4 KiB
                  page with its own madvise(MADV_DONTNEED).  Default 1G
                  guest -> 256M.  Before each inflate the guest's memhog
                  touches --touch and frees it, so the host really backs
                  the memory the balloon takes (free page reporting off).
  --vm balloonvm  balloond's built-in VM (libballoon driver and device).
                  Default 4G guest -> 256M; before each inflate a workload
                  touches --touch (3800M) and is stopped, which frees it.

Per repeat: inflate s (balloon command sent -> the target reached: the
BALLOON_CHANGE event carrying it, read as it arrives and confirmed by
query-balloon, or query-balloon asked every --poll-ms while waiting for
events, whichever comes first; "by" says which), the time to that event
alone (QMP throttles it to one per second, as QEMU does, so it can lag by
up to a second), deflate s
(protocol only: nothing is made resident again), GiB/s of guest memory
moved, and the CPU the VM process spent during the inflate, split into
user (for QEMU: TCG emulation of the guest) and system (the kernel:
madvise, faults).  Raw, measured right before each inflate on the same
number of bytes, made resident with one populate call: for QEMU (whose RAM
is anonymous memory) one madvise(MADV_DONTNEED); for balloonvm (memfd RAM)
one fallocate(PUNCH_HOLE), as bench_inflate.  The ratio is per repeat
against the raw call matching the VM's backing.  Medians, spreads.

usage: qemu_inflate.py [--vm qemu|balloonvm] [--memory SIZE] [--target SIZE]
                       [--touch SIZE] [--repeats N] [--csv FILE] [--build DIR]
"""

import argparse
import ctypes
import mmap
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import benchlib as B  # noqa: E402

FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2
MADV_DONTNEED = 4
MADV_POPULATE_WRITE = 23
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long,
                            ctypes.c_long]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def raw_rate(moved, anon=False):
    """GiB/s of one release call (fallocate PUNCH_HOLE on a memfd, or
    MADV_DONTNEED on anonymous memory) over moved bytes, all touched."""
    if anon:
        m = mmap.mmap(-1, moved, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        fd = -1
    else:
        fd = os.memfd_create("bench-raw")
        os.ftruncate(fd, moved)
        m = mmap.mmap(fd, moved)
    buf = ctypes.c_char.from_buffer(m)
    addr = ctypes.addressof(buf)
    # resident without a fault per page (those are slow in this VM)
    if _libc.madvise(addr, moved, MADV_POPULATE_WRITE):
        ctypes.memset(addr, 1, moved)
    t0 = time.monotonic()
    if anon:
        ret = _libc.madvise(addr, moved, MADV_DONTNEED)
    else:
        ret = _libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              0, moved)
    dt = time.monotonic() - t0
    err = ctypes.get_errno()
    del buf
    m.close()
    if fd >= 0:
        os.close(fd)
    if ret:
        raise B.BenchError("raw release: %s" % os.strerror(err))
    return moved / B.GiB / dt


def cpu_split(pid):
    """(user, system, run-queue wait) seconds of pid, all threads: user
    and system from /proc/PID/stat, the time its threads were runnable but
    waited for a CPU from /proc/PID/task/*/schedstat."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    wait = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                wait += int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return (int(fields[11]) / B.CLK_TCK, int(fields[12]) / B.CLK_TCK,
            wait / 1e9)


def drive(q, target, poll_s, timeout):
    """Set the balloon; return (s until it is reached, s to the
    BALLOON_CHANGE event carrying target or None, "event" or "poll").

    Reached is whichever comes first: a BALLOON_CHANGE event carrying the
    target (how libvirt learns it; read as it arrives, then confirmed by
    query-balloon) or query-balloon reporting it, asked every poll_s while
    waiting for events.  The event alone is not enough: QMP throttles it to
    one a second (QEMU does the same), so the one carrying the target can
    be held back for up to a second."""
    q.events()
    t0 = time.monotonic()
    q.execute("balloon", {"value": target})
    done = ev_t = None
    how = "poll"
    while done is None:
        try:
            ev = q.wait_event("BALLOON_CHANGE", timeout=poll_s)
        except TimeoutError:
            ev = None
        now = time.monotonic() - t0
        if ev is not None and ev.get("data", {}).get("actual") == target:
            ev_t = now
        a = q.execute("query-balloon")["actual"]
        if ev_t is not None and a != target:
            raise B.BenchError("BALLOON_CHANGE said %s, query-balloon %s"
                               % (B.mib(target), B.mib(a)))
        if ev_t is not None:
            done, how = ev_t, "event"
        elif a == target:
            done = time.monotonic() - t0
        elif now > timeout:
            raise B.BenchError("balloon %s not reached in %.0f s (actual %s)"
                               % (B.mib(target), timeout, B.mib(a)))
    # The event's own time, for the record (throttled: up to 1 s later).
    while ev_t is None and time.monotonic() - t0 < done + 2.5:
        try:
            ev = q.wait_event("BALLOON_CHANGE", timeout=0.1)
        except TimeoutError:
            continue
        if ev.get("data", {}).get("actual") == target:
            ev_t = time.monotonic() - t0
    return done, ev_t, how


class QemuVM:
    def __init__(self, args):
        from guest import Guest, stop_guests_on_sigterm
        stop_guests_on_sigterm()
        self.g = Guest("bench", B.mib(args.memory),
                       ["--no-free-page-reporting"])
        self.g.start()
        self.q = self.g.qmp(timeout=120)
        self.kind = "QEMU %s (TCG)" % B.mib(args.memory)
        with open(os.path.join(self.g.vmdir, "bench.pid")) as f:
            self.pid = int(f.read())

    def prepare(self, touch):
        """memhog touches touch bytes and frees them."""
        self.g.ctl("alloc %s force" % B.mib(touch), timeout=300)
        self.g.ctl("free all")

    def stop(self):
        self.q.close()
        self.g.stop()


class BvmVM:
    def __init__(self, args, build, wdir):
        self.vm = B.BalloonVM(build, "bench", args.memory, wdir)
        self.vm.wait_ready()
        self.q = B.QMP(self.vm.qmp_path, timeout=300)
        self.kind = "balloonvm %s" % B.mib(args.memory)
        self.pid = self.vm.proc.pid

    def prepare(self, touch):
        """An idle workload touches touch bytes; stopping it frees them."""
        wid = self.q.execute("x-bvm-workload-add",
                             {"spec": "idle:size=%s" % B.mib(touch)})["id"]

        def resident():
            for w in self.q.execute("x-bvm-query-workloads"):
                if w["id"] == wid:
                    return w["resident"] >= touch
            return False
        B.wait_for(resident, 600, "workload resident", interval=0.2)
        self.q.execute("x-bvm-workload-stop", {"id": wid})

    def counters(self):
        d = self.q.execute("x-bvm-query-memory")["device"]
        return d["inflate-reqs"], d["ranges-released"], d["pages-inflated"]

    def stop(self):
        self.q.close()
        self.vm.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vm", choices=("qemu", "balloonvm"), default="qemu")
    ap.add_argument("--memory", type=B.size)
    ap.add_argument("--target", type=B.size, default=B.size("256M"))
    ap.add_argument("--touch", type=B.size)
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--poll-ms", type=float, default=5)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--csv")
    ap.add_argument("--build")
    args = ap.parse_args()
    if args.poll_ms <= 0:
        ap.error("--poll-ms must be > 0")
    qemu = args.vm == "qemu"
    if args.memory is None:
        args.memory = B.size("1G") if qemu else B.size("4G")
    if args.touch is None:
        args.touch = B.size("700M") if qemu else B.size("3800M")
    if args.repeats is None:
        args.repeats = 5 if qemu else 3
    if args.csv is None:
        args.csv = "qemu_inflate.csv" if qemu else "bvm_inflate.csv"
    B.sigterm_exits()
    moved = args.memory - args.target
    B.log("machine: " + B.machine())
    wdir = B.workdir("bench-inflate-")
    vm = QemuVM(args) if qemu else BvmVM(args, B.build_dir(args.build), wdir)
    table = B.Table(["repeat", "inflate_s", "inflate_by", "inflate_event_s",
                     "inflate_gibs",
                     "raw_gibs", "inflate_ratio", "user_s", "sys_s",
                     "runq_wait_s",
                     "deflate_s", "deflate_gibs", "reqs", "ranges", "load1"],
                    args.csv)
    rawname = ("anonymous MADV_DONTNEED" if qemu
               else "memfd fallocate(PUNCH_HOLE)")
    gib = moved / B.GiB
    inf, dfl, raws, ratios, users, syss, waits = [], [], [], [], [], [], []
    try:
        for r in range(args.repeats):
            vm.prepare(args.touch)
            # The raw rate right before each inflate, so that both see the
            # same load on this shared machine; the ratio is per repeat.
            raw = raw_rate(moved, anon=qemu)
            c0 = vm.counters() if not qemu else (0, 0, 0)
            u0, s0, w0 = cpu_split(vm.pid)
            ti, ti_ev, ti_how = drive(vm.q, args.target,
                                      args.poll_ms / 1000, args.timeout)
            u1, s1, w1 = cpu_split(vm.pid)
            c1 = vm.counters() if not qemu else (0, 0, 0)
            td, _, _ = drive(vm.q, args.memory, args.poll_ms / 1000,
                             args.timeout)
            inf.append(ti)
            dfl.append(td)
            raws.append(raw)
            ratios.append(gib / ti / raw)
            users.append(u1 - u0)
            syss.append(s1 - s0)
            waits.append(w1 - w0)
            table.add(r + 1, ti, ti_how, ti_ev if ti_ev is not None else "",
                      gib / ti, raw, gib / ti / raw, u1 - u0, s1 - s0,
                      w1 - w0,
                      td, gib / td,
                      c1[0] - c0[0] if not qemu else "",
                      c1[1] - c0[1] if not qemu else "", B.loadavg())
            B.log("repeat %d: inflate %.3f s (%.3f GiB/s, %.1f %% of raw "
                  "%.2f GiB/s; VM CPU user %.2f s sys %.2f s, run-queue "
                  "wait %.2f s; by %s; BALLOON_CHANGE %s), deflate %.3f s"
                  % (r + 1, ti, gib / ti, 100 * gib / ti / raw, raw,
                     u1 - u0, s1 - s0, w1 - w0, ti_how,
                     "%.3f s" % ti_ev if ti_ev is not None else "none", td))
    finally:
        vm.stop()
        shutil.rmtree(wdir, ignore_errors=True)
    mi, md = B.median(inf), B.median(dfl)
    table.add("median", mi, "", "", gib / mi, B.median(raws), B.median(ratios),
              B.median(users), B.median(syss), B.median(waits), md,
              gib / md, "", "", "")
    table.add("spread_pct", B.spread_pct(inf), "", "", "", B.spread_pct(raws),
              B.spread_pct(ratios), B.spread_pct(users), B.spread_pct(syss),
              B.spread_pct(waits),
              B.spread_pct(dfl), "", "", "", "")
    table.print()
    table.write_csv()
    print("\n%s: %s -> %s (%.2f GiB moved), median of %d: inflate %.3f s = "
          "%.3f GiB/s = %.1f %% of the raw %s rate (%.2f GiB/s; median of "
          "per-repeat ratios); VM process during inflate: CPU user %.2f s, "
          "system %.2f s, waiting for a CPU %.2f s (all threads); deflate "
          "%.3f s = %.2f GiB/s (protocol only)"
          % (vm.kind, B.mib(args.memory), B.mib(args.target), gib, len(inf), mi,
             gib / mi, 100 * B.median(ratios), rawname, B.median(raws),
             B.median(users), B.median(syss), B.median(waits), md,
             gib / md))
    return 0


if __name__ == "__main__":
    B.run_main(main)
