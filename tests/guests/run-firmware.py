#!/usr/bin/env python3
"""Boots Debian's SeaBIOS on terrarium-run, first with no disks and no display,
then from Debian's GRUB rescue CD on the VGA. The first run checks, from the
firmware's own debug output (port 0x402) and its serial console, that it
found the board it expects: the i440FX host bridge, fw_cfg with DMA, the
e820 map, every vCPU, the PS/2 keyboard, working ROM shadowing (it relocates
itself into the shadowed BIOS area) and finally the boot attempt.

Exit 77 (skip) without /dev/kvm or without the seabios package."""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

BIOS = "/usr/share/seabios/bios.bin"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--mem", type=int, default=128)
    ap.add_argument("--timeout", type=float, default=90)
    args = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is missing or not usable")
        return 77
    if not os.path.exists(BIOS):
        print(f"SKIP: {BIOS} is missing (the seabios package)")
        return 77

    with tempfile.TemporaryDirectory() as d:
        fwlog = os.path.join(d, "firmware.log")
        serial = os.path.join(d, "serial.log")
        cmd = [args.runner, "--mem", str(args.mem), "--cpus", str(args.cpus), "--vga", "none",
               "--firmware-log", fwlog, "--serial", "file:" + serial]
        print("run-firmware:", " ".join(cmd), flush=True)
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        done = "No bootable device"
        log = ""
        while time.monotonic() - t0 < args.timeout and p.poll() is None:
            time.sleep(0.5)
            try:
                log = open(fwlog, errors="replace").read()
            except OSError:
                log = ""
            if done in log:
                break
        elapsed = time.monotonic() - t0
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        log = open(fwlog, errors="replace").read() if os.path.exists(fwlog) else ""
        ser = open(serial, errors="replace").read() if os.path.exists(serial) else ""

    ram = f"qemu/e820: addr 0x0000000000000000 len 0x{args.mem << 20:016x} [RAM]"
    want_log = [
        "SeaBIOS (version",
        "Running on QEMU (i440fx)",       # PCI host bridge and its subsystem IDs
        "Found QEMU fw_cfg",
        "QEMU fw_cfg DMA interface supported",
        ram,                              # etc/e820
        "Relocating init",                # wrote to the shadowed BIOS area (PAM)
        "PCI: init bdf=00:01.0 id=8086:7000",  # PIIX3 behind the host bridge
        f"Found {args.cpus} cpu(s)",      # INIT-SIPI to every vCPU, fw_cfg CPU count
        "PS2 keyboard initialized",       # i8042
        done,
    ]
    problems = [f"firmware log lacks {w!r}" for w in want_log if w not in log]
    if "SeaBIOS (version" not in ser:
        problems.append("the serial console (sercon) never showed the SeaBIOS banner")
    if p.returncode not in (0, 130):
        problems.append(f"terrarium-run ended with status {p.returncode}: {err.strip()}")
    print(f"run-firmware: {elapsed:.1f} s to the boot attempt; status {p.returncode}")
    if problems:
        print("----- firmware log (tail) -----")
        print(log[-3000:])
        print("----- stderr -----")
        print(err[-2000:])
        for pr in problems:
            print("FAIL:", pr)
        return 1
    print(f"ok: {len(want_log) + 1} checks")
    return boot_grub(args)


GRUB_ISO = "/usr/lib/grub-rescue/grub-rescue-cdrom.iso"


def boot_grub(args):
    """Debian's GRUB rescue CD: SeaBIOS finds the ATAPI drive, El Torito boots
    it, GRUB reads its modules from the ISO and draws its menu on the VGA text
    screen, which the runner watches. (Keys typed into GRUB's menu proved
    timing-dependent on a loaded nested host: its first key only stops the
    countdown and a second one is sometimes lost while it redraws. PS/2 typing
    is proven by pc-kbd, display-sdl and the lab's PC and installer cases.)"""
    if not os.path.exists(GRUB_ISO):
        print(f"SKIP (CD boot only): {GRUB_ISO} is missing (the grub-rescue-pc package)")
        return 0
    with tempfile.TemporaryDirectory() as d:
        fwlog = os.path.join(d, "firmware.log")
        dump = os.path.join(d, "screen.txt")
        cmd = [args.runner, "--mem", str(args.mem), "--serial", "none", "--cdrom", GRUB_ISO,
               "--display", "none",
               "--firmware-log", fwlog, "--vga-text-dump", dump,
               "--expect-screen", "for a command-line",
               "--expect-timeout", "200"]
        print("run-firmware:", " ".join(cmd), flush=True)
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=260)
        elapsed = time.monotonic() - t0
        log = open(fwlog, errors="replace").read() if os.path.exists(fwlog) else ""
        screen = open(dump, errors="replace").read() if os.path.exists(dump) else ""
    problems = []
    for w in ["Start SeaVGABIOS", "DVD/CD [ata1-0: Terrarium DVD-ROM", "Booting from DVD/CD"]:
        if w not in log:
            problems.append(f"firmware log lacks {w!r}")
    if p.returncode != 0 or "GNU GRUB" not in screen or "for a command-line" not in screen:
        problems.append(f"GRUB's menu never showed (status {p.returncode}: "
                        f"{p.stderr.strip()})")
    print(f"run-firmware: GRUB's menu after {elapsed:.1f} s")
    if problems:
        print("----- screen -----")
        print(screen)
        print("----- firmware log (tail) -----")
        print(log[-2000:])
        for pr in problems:
            print("FAIL:", pr)
        return 1
    print("ok: 4 checks (CD boot)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
