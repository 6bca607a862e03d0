#!/usr/bin/env python3
"""Host-side test of guest/memhog's control protocol (stdio mode, -s).

usage: memhog_test.py PATH-TO-MEMHOG

Runs memhog as a child, sends protocol lines and checks the replies and
the real effect: the child's resident memory (VmRSS in /proc/PID/status)
must grow by what it says it holds and shrink again when it frees it.
Needs no QEMU; meant to run in the normal and the ASan build.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from guest import kv  # noqa: E402

MiB = 1 << 20


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    p = subprocess.Popen([argv[1], "-s", "-r", "0"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, bufsize=1)
    passed = failed = 0

    def ask(line):
        p.stdin.write(line + "\n")
        p.stdin.flush()
        return p.stdout.readline().rstrip("\n")

    def rss_kib():
        with open(f"/proc/{p.pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
        return -1

    def check(cond, what):
        nonlocal passed, failed
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        passed += bool(cond)
        failed += not cond

    try:
        check(ask("ping") == "ok pong", "ping -> ok pong")
        r0 = rss_kib()
        r = ask("alloc 64M")
        check(kv(r).get("got") == 64 * MiB and kv(r).get("held") == 64 * MiB,
              f"alloc 64M -> {r}")
        r1 = rss_kib()
        check(r1 - r0 >= 63 * 1024,
              f"VmRSS grew by {(r1 - r0) >> 10} MiB after alloc 64M")
        r = ask("alloc 3000")
        check(kv(r).get("got") == 4096, f"alloc 3000 rounds to a page: {r}")
        r = ask("touch")
        check(kv(r).get("touched") == 64 * MiB + 4096, f"touch -> {r}")
        r = ask("free 32MiB")
        check(kv(r).get("freed") == 32 * MiB
              and kv(r).get("held") == 32 * MiB + 4096, f"free 32MiB -> {r}")
        r2 = rss_kib()
        check(r1 - r2 >= 31 * 1024,
              f"VmRSS shrank by {(r1 - r2) >> 10} MiB after free 32MiB")
        r = ask("status")
        # The newest region (the page) went first, then half the 64M one.
        check(r == f"ok held={32 * MiB + 4096} regions=1", f"status -> {r}")
        r = ask("free all")
        check(kv(r).get("held") == 0, f"free all -> {r}")
        r3 = rss_kib()
        # Most of the 64 MiB must be gone (ASan keeps its shadow pages).
        check(r1 - r3 >= 54 * 1024,
              f"VmRSS {(r1 - r3) >> 10} MiB below its peak after free all")
        m = kv(ask("meminfo"))
        check(m.get("MemTotal", 0) > 0 and "MemAvailable" in m
              and m.get("held") == 0, "meminfo has MemTotal, MemAvailable, held")
        v = ask("vmstat nr_free_pages")
        check(v.startswith("ok nr_free_pages="), f"vmstat PREFIX -> {v}")
        c = ask("cat /proc/sys/kernel/ostype")
        check(c == "ok Linux\\n", f"cat escapes newlines -> {c}")
        for bad in ("alloc", "alloc 1Q", "alloc 1M bogus", "free", "nosuch",
                    "x" * 300):
            r = ask(bad)
            check(r.startswith("err "), f"{bad[:20]!r} -> {r}")
        check(ask("ping") == "ok pong", "still answering after errors")
        check(ask("help").startswith("ok commands:"), "help")
    finally:
        p.stdin.close()
        rc = p.wait(timeout=10)
    check(rc == 0, f"memhog exits 0 at end of input (got {rc})")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
