#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""terrarium-run's state dump (SIGQUIT, vmm-core/core/debug.c), on /dev/kvm.

The serial-echo guest runs on 2 vCPUs with COM1's interrupt through the IOAPIC
and waits, halted, for input. SIGQUIT must make terrarium-run write its dump
without ending the machine: both vCPUs parked and described, vCPU 0 with its RIP
inside the guest image, its code bytes and interrupts enabled; the IOAPIC's pin 4
unmasked, edge-triggered with a vector; the UART with its receive interrupt
enabled. Then the guest must still echo the line sent to it and pass: the dump
let the machine run on.
"""

import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time

SKIP = 77


def read_until(proc, buf, pattern, timeout):
    rx = re.compile(pattern)
    end = time.monotonic() + timeout
    while not rx.search(buf[0]):
        left = end - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return bool(rx.search(buf[0]))
            buf[0] += chunk.decode(errors="replace")
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--kernel", required=True, help="serial-echo.elf")
    a = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: no usable /dev/kvm")
        return SKIP
    proc = subprocess.Popen([a.runner, "--kernel", a.kernel, "--append", "irq=ioapic timeout=60000",
                             "--cpus", "2", "--mem", "32", "--serial", "stdio", "--test-exit"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    buf = [""]
    fails = []
    try:
        if not read_until(proc, buf, r"serial-echo: ready", 60):
            print(f"FAIL: the guest did not get ready:\n{buf[0][-1500:]}")
            return 1
        time.sleep(0.3)  # let it reach its hlt
        proc.send_signal(signal.SIGQUIT)
        if not read_until(proc, buf, r"=== end of dump ===", 30):
            print(f"FAIL: no complete state dump after SIGQUIT:\n{buf[0][-2500:]}")
            return 1
        dump = buf[0][buf[0].index("=== terrarium: machine state dump ==="):]
        print(dump)
        if "did not park" in dump or "not every vCPU parked" in dump:
            fails.append("a vCPU did not park for the dump")
        for cpu in (0, 1):
            if not re.search(rf"^  vcpu{cpu}:\n    rip=", dump, re.M):
                fails.append(f"no registers for vcpu{cpu}")
        m = re.search(r"^  vcpu0:\n    rip=(0x[0-9a-f]+) .*\(IF=(\d)\)", dump, re.M)
        if not m or not 0x100000 <= int(m.group(1), 16) < 0x400000:
            fails.append("vcpu0's RIP is not inside the guest image (0x100000..)")
        elif m.group(2) != "1":
            fails.append("vcpu0 waits for input with interrupts disabled?")
        if not re.search(r"^    code at rip:( [0-9a-f]{2}){16}$", dump, re.M):
            fails.append("no code bytes at vcpu0's RIP")
        if not re.search(r"^    lapic: id=1 ", dump, re.M):
            fails.append("no local APIC line for vcpu1")
        pin = re.search(r"^    pin +4: vector (0x[0-9a-f]+) edge high", dump, re.M)
        if not pin or int(pin.group(1), 16) < 0x20:
            fails.append("the IOAPIC's pin 4 (COM1) is not shown unmasked and edge-triggered")
        uart = re.search(r"^  uart: ier=(0x[0-9a-f]+|0) ", dump, re.M)
        if not uart or not int(uart.group(1), 16) & 1:
            fails.append("the UART line does not show the receive interrupt enabled")
        # The machine runs on: the guest echoes a line and passes.
        proc.stdin.write(b"still alive\n")
        proc.stdin.flush()
        if not read_until(proc, buf, r"serial-echo: PASS", 60):
            fails.append("the guest did not echo and pass after the dump: "
                         + buf[0][-800:].replace("\n", " | "))
        elif "STILL ALIVE" not in buf[0]:
            fails.append("the echo after the dump is missing")
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = None
        if rc != 0:
            fails.append(f"terrarium-run ended with status {rc}, want 0 (the guest's pass)")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if fails:
        print("FAIL: " + "; ".join(fails))
        return 1
    print("PASS: the dump described both vCPUs, the IOAPIC and the UART, and the guest ran on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
