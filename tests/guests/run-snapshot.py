#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Saves the counter guest mid-run and restores it in a new terrarium-run process.

The first run saves at --at seconds and stops (--snapshot-save-exit); the second starts from
the saved directory and must continue the count where it stopped (the next line is the last
one seen plus one, not a restart), with the PIT and LAPIC timer still firing (the guest
fails itself otherwise), to its final line and exit status 0.

Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

LINE = re.compile(rb"counter: (\d+) pit=(\d+) lapic=(\d+)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--append", default="")
    ap.add_argument("--at", type=float, default=1.5)
    ap.add_argument("--mem", default="64")
    args = ap.parse_args()
    if not os.path.exists("/dev/kvm") or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: no usable /dev/kvm")
        return 77
    common = [args.runner, "--kernel", args.kernel, "--append", args.append, "--mem", args.mem,
              "--serial", "stdio", "--test-exit"]
    with tempfile.TemporaryDirectory(prefix="trm-snap-") as d:
        snap = os.path.join(d, "state")
        t0 = time.monotonic()
        first = subprocess.run(common + ["--snapshot-save", snap, "--snapshot-save-at",
                                         str(args.at), "--snapshot-save-exit"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        sys.stdout.write(first.stdout.decode(errors="replace"))
        sys.stdout.write(first.stderr.decode(errors="replace"))
        if first.returncode != 0:
            print(f"FAIL: the saving run ended with status {first.returncode}")
            return 1
        seen = [tuple(map(int, m.groups())) for m in LINE.finditer(first.stdout)]
        if not seen:
            print("FAIL: the guest printed no count before it was saved")
            return 1
        if b"counter: done" in first.stdout:
            print("FAIL: the guest finished before it was saved; raise until=")
            return 1
        last = seen[-1]
        files = sorted(os.listdir(snap))
        ram = [f for f in files if f.startswith("ram-")]
        if "state" not in files or len(ram) != 1:
            print(f"FAIL: the state directory holds {files}")
            return 1
        st = os.stat(os.path.join(snap, ram[0]))
        print(f"run-snapshot: saved after count {last[0]} ({time.monotonic() - t0:.2f} s); "
              f"RAM file {st.st_size >> 20} MiB, {st.st_blocks * 512 >> 10} KiB allocated")
        if st.st_blocks * 512 >= st.st_size:
            print("FAIL: the RAM file is not sparse")
            return 1

        second = subprocess.run(common + ["--snapshot-restore", snap, "-v"],
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        sys.stdout.write(second.stdout.decode(errors="replace"))
        sys.stdout.write(second.stderr.decode(errors="replace"))
        after = [tuple(map(int, m.groups())) for m in LINE.finditer(second.stdout)]
        if b"counter: start" in second.stdout:
            print("FAIL: the restored guest started over")
            return 1
        if not after or after[0][0] != last[0] + 1:
            print(f"FAIL: the restored guest's first count is {after[0][0] if after else None}, "
                  f"expected {last[0] + 1}")
            return 1
        if [a[0] for a in after] != list(range(last[0] + 1, after[-1][0] + 1)):
            print("FAIL: the restored guest's counts are not consecutive")
            return 1
        if after[0][1] < last[1] or after[0][2] < last[2]:
            print("FAIL: the timers' tick counts went backwards across the restore")
            return 1
        if second.returncode != 0 or b"counter: done" not in second.stdout:
            print(f"FAIL: the restored guest ended with status {second.returncode}")
            return 1
        print(f"run-snapshot: PASS (count {last[0]} -> {after[0][0]} .. {after[-1][0]})")
        return 0


if __name__ == "__main__":
    sys.exit(main())
