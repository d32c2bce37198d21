#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A restored machine resets: its kernel and initrd are loaded again.

tests/guests/memfill.elf boots with a 1 MiB multiboot module (page k starting "MEMF", k) and
`reset=20 beats=30 verify=25`: it is saved after beat 5 (--snapshot-save-exit) and restored
in a new process with the same command line, --initrd included. terrarium-run reads a
restored machine's initrd only when the guest resets, so the restored guest beats to 20,
resets through the i8042, and the new boot must find the module again ("module of 1024 KiB",
and at beat 25 every page header read back: "memfill: verified"), beat to 30 and exit 0.

Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
"""
import argparse
import os
import sys
import tempfile

from snapshots import parse_guest_args, run_and_save, run_to_end, runner_cmd, write_memfill_module


def main():
    args = parse_guest_args(argparse.ArgumentParser())
    if not args:
        return 77
    with tempfile.TemporaryDirectory(prefix="trm-snap-reset-") as d:
        module = os.path.join(d, "module.bin")
        write_memfill_module(module, 256, seed=1)
        snap = os.path.join(d, "state")
        common = runner_cmd(args, 64, "--initrd", module,
                            "--append", "hz=100 reset=20 beats=30 verify=25")
        rc, out, _ = run_and_save(common + ["--snapshot-save", snap, "--snapshot-save-exit"],
                                  b"beat 5\r\n")
        if rc != 0 or b"memfill: resetting" in out:
            print(f"FAIL: the saving run ended with status {rc} "
                  "(or reached its reset before it was saved)")
            return 1

        second = run_to_end(common + ["--snapshot-restore", snap])
        text = second.stdout.decode(errors="replace")
        if "memfill: filled" in text.split("memfill: resetting")[0]:
            print("FAIL: the restored guest started over instead of beating on")
            return 1
        after = text.split("memfill: booted again after a reset", 1)
        if len(after) != 2:
            print("FAIL: the restored guest did not boot again after its reset")
            return 1
        for want in ("module of 1024 KiB", "memfill: verified", "memfill: done"):
            if want not in after[1]:
                print(f"FAIL: after the reset the guest did not print '{want}'")
                return 1
        if second.returncode != 0:
            print(f"FAIL: the restored machine ended with status {second.returncode}")
            return 1
        print("run-snapshot-reset: PASS")
        return 0


if __name__ == "__main__":
    sys.exit(main())
