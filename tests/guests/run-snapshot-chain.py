#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A restored machine saved again keeps the RAM it never touched.

tests/guests/memfill.elf boots with a 4 MiB multiboot module (page k starting "MEMF", k, the
rest seeded random bytes) and `beats=60 verify=50`: it reads the module back only at beat 50.
Run 1 is saved after beat 5 (--snapshot-save-exit). Run 2 restores it and is saved again
after beat 10 into a second directory: its RAM is the first RAM file mapped copy-on-write,
and the module's pages, which the guest has not touched since, are not even in its page
tables, so that save must take them from the first file rather than skip them as zero. Run 3
restores the second save: the guest beats on from 10 (no new boot), verifies the module at
beat 50 and exits 0 at 60. The second RAM file must also hold the module's data.

Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
"""
import argparse
import os
import sys
import tempfile

from snapshots import parse_guest_args, run_and_save, run_to_end, runner_cmd, write_memfill_module

MODULE_PAGES = 1024


def module_pages_in(path, module):
    """How many of the module's pages the RAM file holds, byte for byte, anywhere."""
    with open(module, "rb") as f:
        pages = {f.read(4096) for _ in range(MODULE_PAGES)}
    found = 0
    with open(path, "rb") as f:
        while True:
            page = f.read(4096)
            if not page:
                break
            found += page in pages
    return found


def main():
    args = parse_guest_args(argparse.ArgumentParser())
    if not args:
        return 77
    with tempfile.TemporaryDirectory(prefix="trm-snap-chain-") as d:
        module = os.path.join(d, "module.bin")
        write_memfill_module(module, MODULE_PAGES, seed=2)
        snap1, snap2 = os.path.join(d, "state1"), os.path.join(d, "state2")
        common = runner_cmd(args, 64, "--initrd", module, "--append", "hz=100 beats=60 verify=50")

        rc, out, _ = run_and_save(common + ["--snapshot-save", snap1, "--snapshot-save-exit"],
                                  b"beat 5\r\n")
        if rc != 0 or b"memfill: verified" in out:
            print(f"FAIL: the first run ended with status {rc} (or verified before its save)")
            return 1
        rc, out, err = run_and_save(common + ["--snapshot-restore", snap1, "--snapshot-save",
                                              snap2, "--snapshot-save-exit"], b"beat 10\r\n")
        if rc != 0 or b"memfill: filled" in out or b"memfill: verified" in out:
            print(f"FAIL: the restored run saved again ended with status {rc} (or started over, "
                  "or verified before its save)")
            return 1
        if b"saved the machine" not in err:
            print("FAIL: the restored run did not say it saved the machine")
            return 1
        ram = [f for f in os.listdir(snap2) if f.startswith("ram-")]
        if len(ram) != 1:
            print(f"FAIL: the second state directory holds {sorted(os.listdir(snap2))}")
            return 1
        found = module_pages_in(os.path.join(snap2, ram[0]), module)
        print(f"run-snapshot-chain: the second RAM file holds {found} of the module's "
              f"{MODULE_PAGES} pages")
        if found != MODULE_PAGES:
            print("FAIL: the second save lost RAM its guest had not touched since the restore")
            return 1

        third = run_to_end(common + ["--snapshot-restore", snap2])
        text = third.stdout.decode(errors="replace")
        if "memfill: filled" in text or "beat 1\r\n" in text:
            print("FAIL: the twice-restored guest started over instead of beating on")
            return 1
        for want in ("memfill: verified", "memfill: done"):
            if want not in text:
                print(f"FAIL: the twice-restored guest did not print '{want}'")
                return 1
        if third.returncode != 0:
            print(f"FAIL: the twice-restored machine ended with status {third.returncode}")
            return 1
        print("run-snapshot-chain: PASS")
        return 0


if __name__ == "__main__":
    sys.exit(main())
