#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A live save: the guest runs on while a copy-on-write child writes its RAM.

The counter guest is saved --snapshot-save-at 1 s into its run and keeps counting to its end
in the same process (the save must say a copy-on-write child wrote the RAM). Restored in a
new process, the guest must resume from the count it had at the save — not from where the
first run ended, which is what a RAM file written from the running guest's pages would
give — and count on, one by one, to its end with status 0: the file holds RAM as it was
when the registers were captured, although the guest changed that RAM while it was written.

Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
"""
import argparse
import os
import sys
import tempfile

from snapshots import COUNTER_LINE as LINE, parse_guest_args, run_to_end, runner_cmd

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--append", default="")
    args = parse_guest_args(ap)
    if not args:
        return 77
    common = runner_cmd(args, 64, "--append", args.append)
    with tempfile.TemporaryDirectory(prefix="trm-snap-live-") as d:
        snap = os.path.join(d, "state")
        first = run_to_end(common + ["--snapshot-save", snap, "--snapshot-save-at", "1"], 120)
        if first.returncode != 0 or b"counter: done" not in first.stdout:
            print(f"FAIL: the first run ended with status {first.returncode} before its end")
            return 1
        if b"written by a copy-on-write child" not in first.stderr:
            print("FAIL: the save did not come from a copy-on-write child")
            return 1
        ran = [int(m.group(1)) for m in LINE.finditer(first.stdout)]
        second = run_to_end(common + ["--snapshot-restore", snap], 120)
        after = [tuple(map(int, m.groups())) for m in LINE.finditer(second.stdout)]
        if b"counter: start" in second.stdout or not after:
            print("FAIL: the restored guest started over or printed no count")
            return 1
        counts = [a[0] for a in after]
        if counts != list(range(counts[0], counts[0] + len(counts))):
            print(f"FAIL: the restored counts are not consecutive: {counts}")
            return 1
        if counts[0] - 1 >= ran[-1]:
            print(f"FAIL: the restored guest resumed after count {counts[0] - 1}, where the "
                  f"first run ended ({ran[-1]}), not where it was saved")
            return 1
        if any(b[1] < a[1] or b[2] < a[2] for a, b in zip(after, after[1:])):
            print("FAIL: the timers' tick counts went backwards after the restore")
            return 1
        if second.returncode != 0 or b"counter: done" not in second.stdout:
            print(f"FAIL: the restored guest ended with status {second.returncode}")
            return 1
        print(f"run-snapshot-live: PASS (saved near count {counts[0] - 1}, the first run went "
              f"on to {ran[-1]}, the restored one from {counts[0]} to {counts[-1]})")
        return 0


if __name__ == "__main__":
    sys.exit(main())
