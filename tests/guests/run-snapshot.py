#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Saves the counter guest mid-run and restores it in a new terrarium-run process.

The first run is saved on SIGRTMIN+1 once the guest printed count --after, and stops
(--snapshot-save-exit); the second starts from
the saved directory and must continue the count where it stopped (the next line is the last
one seen plus one, not a restart), with the PIT and LAPIC timer still firing (the guest
fails itself otherwise), to its final line and exit status 0.

Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from snapshots import COUNTER_LINE as LINE, parse_guest_args, run_and_save, run_to_end, runner_cmd

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--append", default="")
    ap.add_argument("--after", type=int, default=3, help="save after this count")
    ap.add_argument("--mem", default="64")
    args = parse_guest_args(ap)
    if not args:
        return 77
    common = runner_cmd(args, args.mem, "--append", args.append)
    with tempfile.TemporaryDirectory(prefix="trm-snap-") as d:
        snap = os.path.join(d, "state")
        t0 = time.monotonic()
        # Saved on the signal once the guest has counted to --after: no timing guesses.
        rc, out, err = run_and_save(common + ["--snapshot-save", snap, "--snapshot-save-exit"],
                                    b"counter: %d " % args.after)
        first = subprocess.CompletedProcess(common, rc, out, err)
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

        second = run_to_end(common + ["--snapshot-restore", snap, "-v"])
        if b"counter: start" in second.stdout:
            print("FAIL: the restored guest started over")
            return 1
        # The save may fall in the middle of a line: the restored guest finishes it.
        both = [tuple(map(int, m.groups())) for m in LINE.finditer(first.stdout + second.stdout)]
        counts = [c[0] for c in both]
        if counts != list(range(1, len(counts) + 1)):
            print(f"FAIL: the counts across the restore are not 1, 2, 3, ...: {counts}")
            return 1
        if any(b[1] < a[1] or b[2] < a[2] for a, b in zip(both, both[1:])):
            print("FAIL: the timers' tick counts went backwards across the restore")
            return 1
        if second.returncode != 0 or b"counter: done" not in second.stdout:
            print(f"FAIL: the restored guest ended with status {second.returncode}")
            return 1
        after = [c for c in counts if c > last[0]]
        print(f"run-snapshot: PASS (saved at count {last[0]}, restored run counted to {after[-1]})")
        return 0


if __name__ == "__main__":
    sys.exit(main())
