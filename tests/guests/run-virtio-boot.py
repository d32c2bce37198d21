#!/usr/bin/env python3
"""SeaBIOS boots from a virtio-blk disk. The disk is made here: its boot
sector (real-mode code, 0x7c00) reads sector 2 of the boot drive through
INT 13h, checks a marker there, and writes a status to the test-exit port
0xf4: 42 if the marker matched, 7 if the read failed, 8 if the marker was
wrong. terrarium-run --test-exit turns it into its exit status, so status 42
proves the firmware found the disk on the virtio-blk PCI function, loaded
and ran its boot sector, and served a further read over the virtqueue.

Also checks that the firmware log names the virtio disk (SeaBIOS's
"virtio-blk" probe) and that no IDE disk was there to boot from instead.

Exit 77 (skip) without /dev/kvm or without the seabios package."""
import argparse
import os
import subprocess
import sys
import tempfile
import time

BIOS = "/usr/share/seabios/bios.bin"
MARKER = b"TRM-VIRTIO-SECTOR2"


def boot_sector():
    code = bytes([
        0x31, 0xC0,              # xor ax, ax
        0x8E, 0xD8,              # mov ds, ax
        0x8E, 0xC0,              # mov es, ax
        0xBB, 0x00, 0x7E,        # mov bx, 0x7e00
        0xB8, 0x01, 0x02,        # mov ax, 0x0201   (read 1 sector)
        0xB9, 0x02, 0x00,        # mov cx, 0x0002   (cylinder 0, sector 2)
        0xB6, 0x00,              # mov dh, 0        (head 0; dl = boot drive)
        0xCD, 0x13,              # int 0x13
        0x72, 0x14,              # jc read_failed
        0x81, 0x3E, 0x00, 0x7E, MARKER[0], MARKER[1],  # cmp word [0x7e00], "TR"
        0x75, 0x10,              # jne bad_marker
        0x81, 0x3E, 0x02, 0x7E, MARKER[2], MARKER[3],  # cmp word [0x7e02], "M-"
        0x75, 0x08,              # jne bad_marker
        0xB0, 0x2A,              # mov al, 42
        0xEB, 0x06,              # jmp out
        # read_failed:
        0xB0, 0x07,              # mov al, 7
        0xEB, 0x02,              # jmp out
        # bad_marker:
        0xB0, 0x08,              # mov al, 8
        # out:
        0xE6, 0xF4,              # out 0xf4, al
        0xF4,                    # hlt
        0xEB, 0xFD,              # jmp hlt
    ])
    sector = bytearray(512)
    sector[:len(code)] = code
    sector[510:512] = b"\x55\xAA"
    return bytes(sector)


def check_offsets():
    """The jumps above are hand-counted: verify them against the layout."""
    c = boot_sector()
    jc = c.index(bytes([0x72]), 17)
    read_failed = c.index(bytes([0xB0, 0x07]))
    bad = c.index(bytes([0xB0, 0x08]))
    assert jc + 2 + c[jc + 1] == read_failed, "jc target"
    jne1 = jc + 2 + 6
    assert c[jne1] == 0x75 and jne1 + 2 + c[jne1 + 1] == bad, "jne 1 target"
    jne2 = jne1 + 2 + 6
    assert c[jne2] == 0x75 and jne2 + 2 + c[jne2 + 1] == bad, "jne 2 target"
    out = c.index(bytes([0xE6, 0xF4]))
    jmp1 = jne2 + 4
    assert c[jmp1] == 0xEB and jmp1 + 2 + c[jmp1 + 1] == out, "jmp out 1"
    jmp2 = read_failed + 2
    assert c[jmp2] == 0xEB and jmp2 + 2 + c[jmp2 + 1] == out, "jmp out 2"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    check_offsets()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is missing or not usable")
        return 77
    if not os.path.exists(BIOS):
        print(f"SKIP: {BIOS} is missing (the seabios package)")
        return 77
    with tempfile.TemporaryDirectory() as d:
        disk = os.path.join(d, "disk.img")
        with open(disk, "wb") as f:
            f.write(boot_sector())
            f.write(MARKER.ljust(512, b"\0"))
            f.truncate(1 << 20)
        fwlog = os.path.join(d, "firmware.log")
        cmd = [args.runner, "--mem", "64", "--vga", "none", "--serial", "none", "--test-exit",
               "--boot", "c", "--drive", f"file={disk},if=virtio,format=raw",
               "--firmware-log", fwlog]
        print("run-virtio-boot:", " ".join(cmd), flush=True)
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            status, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            status, err = None, "(timed out)"
        elapsed = time.monotonic() - t0
        log = open(fwlog, errors="replace").read() if os.path.exists(fwlog) else ""
    problems = []
    if status != 42:
        why = {7: "the boot sector ran but its INT 13h read of sector 2 failed",
               8: "the boot sector ran but sector 2 did not hold the marker"}
        problems.append(f"status {status}, want 42: {why.get(status, 'the boot sector never ran')}"
                        f" {err.strip()}")
    if "found virtio-blk at" not in log:
        problems.append("the firmware log never shows SeaBIOS finding the virtio-blk disk")
    print(f"run-virtio-boot: {elapsed:.1f} s, status {status}")
    if problems:
        print("----- firmware log (tail) -----")
        print(log[-3000:])
        for pr in problems:
            print("FAIL:", pr)
        return 1
    print("ok: 2 checks (status 42 from the virtio boot sector, SeaBIOS probed virtio-blk)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
