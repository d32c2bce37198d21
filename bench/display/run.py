#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench-display: CPU time of an idle text-mode guest with its display window open:
terrarium-run's SDL window next to QEMU's SDL display, and Terrarium's app window (GTK 4)
next to QEMU's GTK display, on this host's /dev/kvm.

Every machine boots SeaBIOS from the same 512-byte disk whose boot sector prints a line
on the text screen through the VGA BIOS, says "IDLE" on the debug port 0x402 and on COM1,
and then halts with interrupts on for ever (a blinking cursor on a still screen: what a
machine at a boot prompt or a text console looks like). One VMM at a time runs on an Xvfb
display; once the guest is idle (IDLE in the debug-port log; the app has no debug-port
log, so its COM1, which it copies to its stderr) the VMM process's CPU time (user +
system, all threads) is sampled over a window. The app runs as it chooses by itself
(under Xvfb its GL probe finds llvmpipe: the texture path) and forced onto its GL path
(TERRARIUM_DISPLAY=gl); for its rows the frames its display view drew and the guest
frames it uploaded in the window are read from the machine's D-Bus properties
DisplayFrames and DisplayUploads. Headless runs of terrarium-run and QEMU (no window) are
the baseline, so the window's own cost shows. Run by `ninja -C build bench-display`.
"""

import argparse
import os
import shlex
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
    """Real-mode code at 0:7C00: teletype MESSAGE, write IDLE to ports 0x402 and 0x3F8, sti; hlt."""
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
    for port in (0x402, 0x3F8):                    # the debug port, then COM1
        code += bytes([0xBA, port & 0xFF, port >> 8])  # mov dx,port
        for ch in b"IDLE\n":
            code += bytes([0xB0, ch, 0xEE])        # mov al,ch; out dx,al
    idle = len(code)
    code += bytes([0xFB, 0xF4, 0xEB, (idle - (len(code) + 4)) & 0xFF])  # sti; hlt; jmp idle
    msg = 0x7C00 + len(code)
    code[si_fix:si_fix + 2] = msg.to_bytes(2, "little")
    code += MESSAGE + b"\r\n\0"
    img = bytearray(512)
    img[:len(code)] = code
    img[510:512] = b"\x55\xAA"
    return bytes(img)


CONFIGS = ("terrarium-sdl", "qemu-sdl", "app", "app-gl", "qemu-gtk", "terrarium-none",
           "qemu-none")


def command(config, args, image, log, tmp):
    """argv, extra environment, the app machine's UUID (None for the others), and whether
    the idle mark is on the process's stderr (the app's COM1) rather than in log."""
    if config in ("app", "app-gl"):
        ident = xhost.app_machine(tmp, ["Firmware=bios"], [image])
        return [args.app, "--machine", ident], \
            {"TERRARIUM_DISPLAY": "gl" if config == "app-gl" else "auto"}, ident, True
    vmm, display = config.split("-")
    if vmm == "terrarium":
        return [args.terrarium, "--disk", image, "--boot", "disk", "--mem", "128",
                "--serial", "none", "--firmware-log", log, "--net", "none",
                "--display", display], {}, None, False
    return [args.qemu, "-accel", "kvm", "-M", "pc", "-m", "128", "-nodefaults", "-vga", "std",
            "-drive", f"file={image},format=raw,if=ide", "-boot", "c",
            "-chardev", f"file,id=dbg,path={log}", "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
            "-display", display, "-no-reboot"], {}, None, False


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


def counters(tmp, ident):
    """(DisplayFrames, DisplayUploads) of the app's machine, or None."""
    props = xhost.app_properties(tmp, ident)
    try:
        return int(props["DisplayFrames"]), int(props["DisplayUploads"])
    except (KeyError, ValueError):
        return None


def one_run(config, args, image, tmp, env):
    log = os.path.join(tmp, f"{config}.log")
    if os.path.exists(log):
        os.unlink(log)
    argv, extra, ident, on_stderr = command(config, args, image, log, tmp)
    errpath = os.path.join(tmp, f"{config}.stderr")
    with open(errpath, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, env=dict(env, **extra))
    res = dict(config=config, ok=False)
    try:
        if not wait_idle(proc, errpath if on_stderr else log, args.boot_timeout):
            text = Path(errpath).read_text(errors="replace")
            res["why"] = f"the guest did not reach its idle loop: {text.strip()[-300:]}"
            return res
        time.sleep(args.settle)
        before = counters(tmp, ident) if ident else None
        hz = os.sysconf("SC_CLK_TCK")
        a, ta, xa, t_a = (xhost.cpu_ticks(proc.pid), xhost.thread_ticks(proc.pid),
                          xhost.cpu_ticks(args.xvfb_pid), time.monotonic())
        time.sleep(args.window)
        b, tb, xb, t_b = (xhost.cpu_ticks(proc.pid), xhost.thread_ticks(proc.pid),
                          xhost.cpu_ticks(args.xvfb_pid), time.monotonic())
        after = counters(tmp, ident) if ident else None
        if proc.poll() is not None:
            res["why"] = "the VMM ended while measured"
            return res

        def pct(ticks):
            return 100.0 * ticks / hz / (t_b - t_a)

        def threads(pick):
            return pct(sum(tb[t][1] - ta.get(t, (None, 0))[1] for t in tb if pick(t, tb[t][0])))

        res.update(ok=True, cpu_percent=pct(b - a), x_percent=pct(xb - xa),
                   main_percent=threads(lambda t, name: t == proc.pid),
                   llvmpipe_percent=threads(lambda t, name: name.startswith("llvmpipe")))
        if before and after:
            res.update(frames_ps=(after[0] - before[0]) / (t_b - t_a),
                       uploads_ps=(after[1] - before[1]) / (t_b - t_a))
        return res
    finally:
        xhost.stop(proc, 10)


def section(runs, spec, host):
    per = {}
    for r in runs:
        if r["ok"]:
            per.setdefault(r["config"], []).append(r)

    def cell(config, key="cpu_percent"):
        xs = [r[key] for r in per.get(config, []) if key in r]
        if not xs:
            return "—", None
        med = statistics.median(xs)
        return f"{med:.2f} ({min(xs):.2f}–{max(xs):.2f})", med

    def med(config, key):
        m = cell(config, key)[1]
        return "—" if m is None else f"{m:.2f}"

    lines = [f"## {SECTION} — {host['date']}", "",
             "CPU time of an idle text-mode guest (SeaBIOS booted a boot sector that printed a "
             "line and halts with interrupts on; cursor blinking) with its display window "
             "open, in % of one host CPU (user + system, every thread of the VMM process), "
             f"sampled over {spec['window']:.0f} s after {spec['settle']:.0f} s of settling once "
             "the guest said IDLE (on the debug port 0x402; the app has no debug-port log, so "
             "on COM1, which it copies to its stderr); "
             f"median of {spec['rounds']} interleaved rounds (min–max), one VMM at a time on "
             f"one Xvfb display (1280×1024). Terrarium's app (`terrarium --machine UUID`, a "
             "machine with `Firmware=bios` and the same disk on IDE) runs as it chooses by "
             "itself (its GL probe finds llvmpipe under Xvfb and takes the texture path: GTK's "
             "cairo renderer) and forced onto its GL path (`TERRARIUM_DISPLAY=gl`: a GtkGLArea), "
             "next to QEMU `-display gtk`; terrarium-run's SDL window next to QEMU "
             "`-display sdl`. For the app, **main thread** is its GTK thread's share and "
             "**llvmpipe threads** Mesa's software GL rasterizer's (the rest is mostly the "
             "vCPU thread, about what the headless baseline costs); **frames/s** is what its "
             "display view drew and **uploads/s** how many of those frames carried new guest "
             "pixels to the texture, from the machine's D-Bus properties `DisplayFrames` and "
             "`DisplayUploads` (one `Properties.GetAll` before and one after the window); the "
             "guest's only change is its cursor blinking (a phase every 267 ms, 3.75 a "
             "second). **X server**: Xvfb's CPU over the same window (medians). "
             f"Host /dev/kvm ({host['machine']}), load average "
             f"{spec['load_start']} at the start and {host['load']} at the end (the 2 CPUs are "
             f"shared), Terrarium at {host['rev']}, QEMU {host['qemu']} "
             "`-accel kvm -M pc -vga std -nodefaults`. Run by `ninja -C build bench-display`.",
             "",
             "| display: Terrarium / QEMU | Terrarium % CPU | of which main thread / "
             "llvmpipe threads | frames/s | uploads/s | X server % CPU | QEMU % CPU | X server "
             "% CPU (QEMU) | Terrarium ÷ QEMU |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = (("terrarium-sdl", "qemu-sdl", "SDL window: terrarium-run / QEMU `-display sdl`"),
            ("app", "qemu-gtk", "app window, its choice (texture path) / QEMU `-display gtk`"),
            ("app-gl", "qemu-gtk", "app window, GL path / QEMU `-display gtk`"),
            ("terrarium-none", "qemu-none",
             "headless (baseline): terrarium-run / QEMU `-display none`"))
    for ours, theirs, label in rows:
        if ours not in spec["configs"]:
            continue
        app = ours.startswith("app")
        t, tm = cell(ours)
        q, qm = cell(theirs)
        split = f"{med(ours, 'main_percent')} / {med(ours, 'llvmpipe_percent')}" if app else "—"
        ratio = f"{tm / qm:.2f}×" if tm is not None and qm else "—"
        lines.append(f"| {label} | {t} | {split} | {med(ours, 'frames_ps') if app else '—'} | "
                     f"{med(ours, 'uploads_ps') if app else '—'} | {med(ours, 'x_percent')} | "
                     f"{q} | {med(theirs, 'x_percent')} | {ratio} |")
    bad = [r for r in runs if not r["ok"]]
    if bad:
        lines += ["", f"{len(bad)} run(s) failed: " +
                  "; ".join(f"{r['config']} round {r['round']}: {r['why']}" for r in bad)]
    if spec.get("note"):
        lines += ["", spec["note"]]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--terrarium", required=True, help="terrarium-run")
    ap.add_argument("--app", help="the terrarium app binary (its GTK display window)")
    ap.add_argument("--schemas", help="the build's compiled GSettings schemas (for --app)")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--boot-timeout", type=float, default=90.0)
    ap.add_argument("--note", help="a line added under the table")
    ap.add_argument("--output", help="docs/benchmarks.md to update")
    # `ninja bench-display` has a fixed command line; BENCH_DISPLAY_ARGS adds to it.
    args = ap.parse_args(sys.argv[1:] + shlex.split(os.environ.get("BENCH_DISPLAY_ARGS", "")))
    configs = [c for c in args.configs.split(",") if c]
    if any(c not in CONFIGS for c in configs):
        print(f"bench-display: --configs takes {','.join(CONFIGS)}", file=sys.stderr)
        return 2
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("bench-display: /dev/kvm is not usable here", file=sys.stderr)
        return 1
    if not args.qemu:
        print("bench-display: qemu-system-x86_64 is not installed", file=sys.stderr)
        return 1
    if not args.app:
        configs = [c for c in configs if not c.startswith("app")]
    with open("/proc/loadavg") as f:
        load_start = " ".join(f.read().split()[:3])
    with tempfile.TemporaryDirectory(prefix="bench-display-") as tmp:
        image = os.path.join(tmp, "idle.img")
        Path(image).write_bytes(boot_sector())
        xvfb = xhost.start_xvfb(93, "1280x1024x24")
        if not xvfb:
            print("bench-display: Xvfb is not installed or did not start", file=sys.stderr)
            return 1
        bus = None
        runs = []
        args.xvfb_pid = xvfb.pid
        try:
            env = dict(os.environ, DISPLAY=":93", SDL_VIDEODRIVER="x11")
            env.pop("WAYLAND_DISPLAY", None)
            gtk_env = xhost.app_env(env, tmp, args.schemas)
            bus, configs = xhost.start_app_bus(tmp, gtk_env, configs,
                                               lambda c: c.startswith("app"), "bench-display")
            for rnd in range(args.rounds):
                order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
                for config in order:
                    gtk = config.startswith("app") or config == "qemu-gtk"
                    r = one_run(config, args, image, tmp, gtk_env if gtk else env)
                    r["round"] = rnd
                    extra = f", X {r['x_percent']:.2f} %" if r["ok"] else ""
                    if r.get("frames_ps") is not None:
                        extra += (f" (main thread {r['main_percent']:.2f} %, llvmpipe "
                                  f"{r['llvmpipe_percent']:.2f} %, {r['frames_ps']:.2f} frames/s, "
                                  f"{r['uploads_ps']:.2f} uploads/s)")
                    print(f"bench-display: round {rnd} {config}: "
                          + (f"{r['cpu_percent']:.2f} % CPU{extra}" if r["ok"] else r["why"]),
                          flush=True)
                    runs.append(r)
        finally:
            if bus:
                bus.terminate()
                bus.wait()
            xvfb.terminate()
            xvfb.wait()
    host = xhost.host_info(args.qemu)
    spec = {"rounds": args.rounds, "settle": args.settle, "window": args.window,
            "configs": configs, "load_start": load_start, "note": args.note}
    text = section(runs, spec, host)
    print(text)
    if args.output:
        benchdoc.write_section(args.output, SECTION, text)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
