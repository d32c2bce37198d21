#!/usr/bin/env python3
"""SeaBIOS runs an option ROM handed over with --option-rom (fw_cfg genroms/).
The ROM is made here: a 512-byte image with the 55 AA signature whose init
entry writes a marker to the firmware's debug port 0x402 and returns. The
firmware log must show SeaBIOS finding it under genroms/, running it, and the
marker from the ROM's own code. A file without the signature is refused
before the machine starts, with one sentence naming it.

Also --boot-menu-wait (fw_cfg etc/boot-menu-wait): the time SeaBIOS offers
its boot menu, from "Press ESC" to its next log line, is measured with the
firmware's default (2.5 s) and with 7.5 s; the second must be clearly longer
(the ratio, not the seconds: the guest's clock here may not run at wall speed).

Exit 77 (skip) without /dev/kvm or without the seabios package."""
import argparse
import os
import subprocess
import sys
import tempfile
import time

BIOS = "/usr/share/seabios/bios.bin"
MARKER = b"TERRARIUM-OPTION-ROM ran"


def option_rom():
    code = bytearray([0xBA, 0x02, 0x04])          # mov dx, 0x402
    for c in MARKER + b"\n":
        code += bytes([0xB0, c, 0xEE])            # mov al, c; out dx, al
    code += bytes([0xCB])                         # retf
    rom = bytearray(512)
    rom[0:3] = b"\x55\xAA\x01"                    # signature, 1 x 512 bytes
    rom[3:3 + len(code)] = code                   # the init entry point
    rom[511] = -sum(rom[:511]) & 0xFF             # bytes sum to 0
    return bytes(rom)


def menu_window(runner, tmp, extra):
    """Seconds between SeaBIOS's "Press ESC for boot menu." and its next log line."""
    log = os.path.join(tmp, "menu.log")
    if os.path.exists(log):
        os.unlink(log)
    p = subprocess.Popen([runner, "--mem", "64", "--serial", "none", "--display", "none",
                          "--boot-menu", "--firmware-log", log] + extra,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shown = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and p.poll() is None:
            text = open(log, errors="replace").read() if os.path.exists(log) else ""
            if shown is None and "Press ESC for boot menu." in text:
                shown = time.monotonic()
            elif shown is not None and text.split("Press ESC for boot menu.")[-1].strip():
                return time.monotonic() - shown
            time.sleep(0.02)
        return None
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    a = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: no usable /dev/kvm")
        return 77
    if not os.path.exists(BIOS):
        print("SKIP: no SeaBIOS (install the seabios package)")
        return 77
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        rom = os.path.join(tmp, "marker.rom")
        with open(rom, "wb") as f:
            f.write(option_rom())
        log = os.path.join(tmp, "firmware.log")
        p = subprocess.run([a.runner, "--mem", "64", "--serial", "none", "--display", "none",
                            "--option-rom", rom, "--firmware-log", log,
                            "--expect-screen", "No bootable device", "--expect-timeout", "90"],
                           capture_output=True, text=True, timeout=150)
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
        checks = [
            ("the run reached 'No bootable device'", p.returncode == 0),
            ("SeaBIOS looked the ROM up under genroms/", "/rom@genroms/0-marker.rom" in text),
            ("SeaBIOS ran it", "Running option rom at" in text.split("/rom@genroms/")[-1]),
            ("the ROM's own code wrote its marker", MARKER.decode() in text),
        ]
        for what, ok in checks:
            print(f"{'ok  ' if ok else 'FAIL'} {what}")
            failures += not ok
        if failures:
            print(p.stderr[-2000:])
            print(text[-3000:])
        short = menu_window(a.runner, tmp, [])
        long_ = menu_window(a.runner, tmp, ["--boot-menu-wait", "7500"])
        ok = short is not None and long_ is not None and long_ > 2 * short
        print(f"{'ok  ' if ok else 'FAIL'} --boot-menu-wait 7500 offers the menu longer than the "
              f"default: {long_ and round(long_, 2)} s against {short and round(short, 2)} s")
        failures += not ok
        bad = os.path.join(tmp, "bad.rom")
        with open(bad, "wb") as f:
            f.write(b"\x00" * 1024)
        p = subprocess.run([a.runner, "--mem", "64", "--serial", "none", "--display", "none",
                            "--option-rom", bad], capture_output=True, text=True, timeout=60)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        ok = p.returncode != 0 and len(lines) == 1 and "bad.rom" in lines[0] and \
            "not an option ROM" in lines[0]
        print(f"{'ok  ' if ok else 'FAIL'} a file without the signature is refused: "
              f"status {p.returncode}, {p.stderr.strip()!r}")
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
