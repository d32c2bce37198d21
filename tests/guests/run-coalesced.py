#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Coalesced port writes (vmm-core/core/coalesced.c), on /dev/kvm.

The pc guest reads PCI IDs through 0xCF8/0xCFC LOOPS more times, checking every
read, once as terrarium-run normally runs and once with --no-coalesced-io.
Both runs must pass the guest's own checks; with coalescing, the port I/O exits
to the VMM (terrarium-run -v -v counts them) must drop by at least 0.8 × LOOPS ×
the IDs read a pass (a CONFIG_ADDRESS write no longer exits), without, they
must not. Then the reset guest writes the reset control register 0xCF9 (in the
coalesced zone) and spins with no exit at all: the VM must still reset (the ring is polled).
"""

import argparse
import os
import re
import subprocess
import sys

SKIP = 77


def run(cmd, timeout=120):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode(errors="replace") + f"\n(killed after {timeout} s)"
    return p.returncode, p.stdout.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--pc", required=True, help="pc.elf")
    ap.add_argument("--reset", required=True, help="reset.elf")
    ap.add_argument("--loops", type=int, default=500)
    a = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: no usable /dev/kvm")
        return SKIP
    ids_per_pass = 4  # the pc guest's expected IDs without vga=1
    exits = {}
    for mode in ("coalesced", "plain"):
        cmd = [a.runner, "-v", "-v", "--kernel", a.pc, "--append", f"how=pci loops={a.loops}",
               "--mem", "32", "--serial", "stdio", "--test-exit"]
        if mode == "plain":
            cmd.append("--no-coalesced-io")
        rc, out = run(cmd)
        if "pc: pass" not in out or f"{a.loops} passes of ID reads checked" not in out or rc != 0:
            print(f"FAIL: the pc guest ({mode}) did not pass (status {rc}):\n{out[-2000:]}")
            return 1
        m = re.search(r"exits to the VMM: \d+ \(port I/O (\d+),", out)
        if not m:
            print(f"FAIL: no exit count from terrarium-run -v -v ({mode}):\n{out[-1500:]}")
            return 1
        exits[mode] = int(m.group(1))
        print(f"{mode}: {exits[mode]} port I/O exits")
    saved = exits["plain"] - exits["coalesced"]
    want = int(0.8 * a.loops * ids_per_pass)
    if saved < want:
        print(f"FAIL: coalescing saved {saved} port exits, want at least {want} "
              f"(one per CONFIG_ADDRESS write)")
        return 1
    if saved > a.loops * ids_per_pass * 2:
        print(f"FAIL: {saved} exits saved is more than the guest's writes: the count is wrong")
        return 1
    rc, out = run([a.runner, "--kernel", a.reset, "--append", "how=cf9 spin=1",
                   "--mem", "32", "--serial", "stdio", "--test-exit"], timeout=30)
    if rc != 42 or "second boot after a cf9 reset" not in out:
        print(f"FAIL: a reset through 0xCF9 with coalescing on did not happen (status {rc}):\n"
              f"{out[-1500:]}")
        return 1
    print(f"PASS: {saved} port exits saved over {a.loops} passes; the 0xCF9 reset happened")
    return 0


if __name__ == "__main__":
    sys.exit(main())
