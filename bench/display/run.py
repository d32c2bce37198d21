#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench-display: CPU time of an idle text-mode guest with its display window open,
terrarium-run's SDL window next to QEMU's SDL display, on this host's /dev/kvm.

Both machines boot SeaBIOS from the same 512-byte disk whose boot sector prints a line
on the text screen through the VGA BIOS, says "IDLE" on the debug port 0x402, and then
halts with interrupts on for ever (a blinking cursor on a still screen: what a machine
at a boot prompt or a text console looks like). One VMM at a time runs on an Xvfb
display; once the guest is idle the VMM process's CPU time (user + system, all
threads) is sampled over a window. Headless runs of both (no window) are the baseline,
so the window's own cost shows. Run by `ninja -C build bench-display`.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import benchdoc  # noqa: E402
import xhost  # noqa: E402

SECTION = "display"
MESSAGE = b"Terrarium bench: an idle text-mode guest"


def boot_sector():
    """Real-mode code at 0:7C00: teletype MESSAGE, write IDLE to port 0x402, sti; hlt."""
    code = bytearray()
    code += bytes([0x31, 0xC0, 0x8E, 0xD8])       # xor ax,ax; mov ds,ax
    si_fix = len(code) + 1
    code += bytes([0xBE, 0, 0])                    # mov si, MESSAGE
    code += bytes([0xFC])                          # cld
    loop = len(code)
    code += bytes([0xAC, 0x84, 0xC0])              # lodsb; test al,al
    jz_at = len(code)
    code += bytes([0x74, 0])                       # jz done
    code += bytes([0xB4, 0x0E, 0xBB, 0x07, 0x00, 0xCD, 0x10])  # mov ah,0Eh; mov bx,7; int 10h
    code += bytes([0xEB, (loop - (len(code) + 2)) & 0xFF])     # jmp loop
    done = len(code)
    code[jz_at + 1] = done - (jz_at + 2)
    code += bytes([0xBA, 0x02, 0x04])              # mov dx,0x402
    for ch in b"IDLE\n":
        code += bytes([0xB0, ch, 0xEE])            # mov al,ch; out dx,al
    idle = len(code)
    code += bytes([0xFB, 0xF4, 0xEB, (idle - (len(code) + 4)) & 0xFF])  # sti; hlt; jmp idle
    msg = 0x7C00 + len(code)
    code[si_fix:si_fix + 2] = msg.to_bytes(2, "little")
    code += MESSAGE + b"\r\n\0"
    img = bytearray(512)
    img[:len(code)] = code
    img[510:512] = b"\x55\xAA"
    return bytes(img)


def commands(vmm, display, image, log, terrarium, qemu):
    if vmm == "terrarium":
        return [terrarium, "--disk", image, "--boot", "disk", "--mem", "128",
                "--serial", "none", "--firmware-log", log, "--net", "none",
                "--display", display]
    return [qemu, "-accel", "kvm", "-M", "pc", "-m", "128", "-nodefaults", "-vga", "std",
            "-drive", f"file={image},format=raw,if=ide", "-boot", "c",
            "-chardev", f"file,id=dbg,path={log}", "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
            "-display", display, "-no-reboot"]


def wait_idle(proc, log, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            return False
        try:
            if b"IDLE" in Path(log).read_bytes():
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def one_run(vmm, display, args, image, tmp, env):
    log = os.path.join(tmp, f"{vmm}-{display}.dbg")
    if os.path.exists(log):
        os.unlink(log)
    cmd = commands(vmm, display, image, log, args.terrarium, args.qemu)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    try:
        if not wait_idle(proc, log, args.boot_timeout):
            err = proc.stderr.read(2000).decode(errors="replace") if proc.poll() is not None else ""
            return dict(vmm=vmm, display=display, ok=False,
                        why=f"the guest did not reach its idle loop: {err.strip()[:300]}")
        time.sleep(args.settle)
        hz = os.sysconf("SC_CLK_TCK")
        a, t_a = xhost.cpu_ticks(proc.pid), time.monotonic()
        time.sleep(args.window)
        b, t_b = xhost.cpu_ticks(proc.pid), time.monotonic()
        if proc.poll() is not None:
            return dict(vmm=vmm, display=display, ok=False, why="the VMM ended while measured")
        return dict(vmm=vmm, display=display, ok=True,
                    cpu_percent=100.0 * (b - a) / hz / (t_b - t_a))
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def section(runs, spec, host):
    per = {}
    for r in runs:
        if r["ok"]:
            per.setdefault((r["vmm"], r["display"]), []).append(r["cpu_percent"])

    def cell(key):
        xs = per.get(key, [])
        if not xs:
            return "—", None
        med = statistics.median(xs)
        return f"{med:.2f} ({min(xs):.2f}–{max(xs):.2f})", med

    lines = [f"## {SECTION} — {host['date']}", "",
             "CPU time of an idle text-mode guest (SeaBIOS booted a boot sector that printed a "
             "line and halts with interrupts on; cursor blinking) with its display window "
             "open, in % of one host CPU (user + system, every thread of the VMM process), "
             f"sampled over {spec['window']:.0f} s after {spec['settle']:.0f} s of settling; "
             f"median of {spec['rounds']} interleaved rounds (min–max), one VMM at a time on "
             f"one Xvfb display. Host /dev/kvm ({host['machine']}), terrarium-run at {host['rev']}, "
             f"QEMU {host['qemu']} `-accel kvm -M pc -vga std -display sdl`. Run by "
             "`ninja -C build bench-display`.", "",
             "| display | terrarium-run % CPU | QEMU % CPU | terrarium ÷ QEMU |",
             "|---|---|---|---|"]
    for disp, label in (("sdl", "SDL window"), ("none", "headless (baseline)")):
        t, tm = cell(("terrarium", disp))
        q, qm = cell(("qemu", disp))
        ratio = f"{tm / qm:.2f}×" if tm is not None and qm else "—"
        lines.append(f"| {label} | {t} | {q} | {ratio} |")
    bad = [r for r in runs if not r["ok"]]
    if bad:
        lines += ["", f"{len(bad)} run(s) failed: " +
                  "; ".join(f"{r['vmm']} {r['display']}: {r['why']}" for r in bad)]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--terrarium", required=True)
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--boot-timeout", type=float, default=90.0)
    ap.add_argument("--output", help="docs/benchmarks.md to update")
    args = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("bench-display: /dev/kvm is not usable here", file=sys.stderr)
        return 1
    if not args.qemu:
        print("bench-display: qemu-system-x86_64 is not installed", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-display-") as tmp:
        image = os.path.join(tmp, "idle.img")
        Path(image).write_bytes(boot_sector())
        xvfb = xhost.start_xvfb(93, "1280x1024x24")
        if not xvfb:
            print("bench-display: Xvfb is not installed or did not start", file=sys.stderr)
            return 1
        runs = []
        try:
            env = dict(os.environ, DISPLAY=":93", SDL_VIDEODRIVER="x11")
            env.pop("WAYLAND_DISPLAY", None)
            for rnd in range(args.rounds):
                for display in ("sdl", "none"):
                    for vmm in ("terrarium", "qemu"):
                        r = one_run(vmm, display, args, image, tmp, env)
                        r["round"] = rnd
                        print(f"bench-display: round {rnd} {vmm} {display}: "
                              + (f"{r['cpu_percent']:.2f} % CPU" if r["ok"] else r["why"]),
                              flush=True)
                        runs.append(r)
        finally:
            xvfb.terminate()
            xvfb.wait()
    host = xhost.host_info(args.qemu)
    spec = {"rounds": args.rounds, "settle": args.settle, "window": args.window}
    text = section(runs, spec, host)
    print(text)
    if args.output:
        benchdoc.write_section(args.output, SECTION, text)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
