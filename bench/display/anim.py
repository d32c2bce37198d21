#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench-display-anim: a guest animating a 1920x1080x32 VBE screen, shown by Terrarium's
display windows and by QEMU's, on this host's /dev/kvm under Xvfb: frames per second
presented, and CPU time.

The guest is tests/guests/vbe-anim.elf (a multiboot kernel, the same file for every VMM): it
draws two full pages once, then flips the VBE Y_OFFSET between them 60 times a second (PIT
paced) and moves a small box in the page about to be shown. Every flip changes every visible
pixel while the guest does almost nothing, so the work is the display path's: scan-out,
conversion, upload, presenting.

Each VMM runs alone on one Xvfb screen (2560x1600, so every window shows the guest 1:1).
Once the animation runs, over a window of seconds:
  - frames presented: X DAMAGE on the VMM's top-level window (bench/display/xdamage.py),
    counted the same way for every VMM;
  - the guest's flips per second, from its "vbe-anim: flip N" lines and their arrival times;
  - CPU time (user + system, every thread) of the VMM process and of the X server.
Rows: Terrarium's app (`terrarium --machine UUID`) as it chooses by itself (under Xvfb GL is
software, so the texture path: GTK's cairo renderer, no GL) and forced onto its GL path
(TERRARIUM_DISPLAY=gl, the GtkGLArea) beside QEMU `-display gtk`, and terrarium-run's SDL
window beside QEMU `-display sdl`. Run by `ninja -C build bench-display-anim`.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import benchdoc  # noqa: E402
import xdamage  # noqa: E402
import xhost  # noqa: E402

SECTION = "display-anim"
XRES, YRES = 1920, 1080
SCREEN = "2560x1600x24"
DISPLAY_NUM = 94
CONFIGS = ("terrarium-gtk", "terrarium-gtk-gl", "qemu-gtk", "terrarium-sdl", "qemu-sdl")


class Lines:
    """Reads a process's output on a thread; keeps (arrival time, line)."""

    def __init__(self, stream):
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            with self.lock:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    def flips(self):
        """[(time, flip number)] of the guest's report lines."""
        out = []
        with self.lock:
            for t, line in self.lines:
                if line.startswith("vbe-anim: flip "):
                    try:
                        out.append((t, int(line.split()[2])))
                    except (IndexError, ValueError):
                        pass
        return out

    def text(self):
        with self.lock:
            return "\n".join(line for _, line in self.lines)


def command(config, args, tmp, cmdline):
    """argv, extra environment, and which output stream carries COM1."""
    if config in ("terrarium-gtk", "terrarium-gtk-gl"):
        ident = xhost.app_machine(tmp, ["Firmware=kernel", f"Kernel={args.kernel}",
                                        f"Cmdline={cmdline}"])
        path = "gl" if config == "terrarium-gtk-gl" else "auto"
        return [args.app, "--machine", ident], {"TERRARIUM_DISPLAY": path}, "stderr"
    if config == "terrarium-sdl":
        return [args.terrarium, "--kernel", args.kernel, "--append", cmdline, "--mem", "128",
                "--vga", "std", "--display", "sdl", "--serial", "stdio", "--net", "none"], \
            {}, "stdout"
    display = config.split("-")[1]
    return [args.qemu, "-accel", "kvm", "-M", "pc", "-m", "128", "-vga", "std",
            "-kernel", args.kernel, "-append", cmdline, "-serial", "stdio",
            "-display", display, "-no-reboot"], {}, "stdout"


def one_run(config, args, tmp, env):
    cmdline = f"hz={args.hz} report={args.hz}"
    argv, extra, stream = command(config, args, tmp, cmdline)
    out = {"stdout": subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
           "stderr": subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=dict(env, **extra), **out)
    lines = Lines(proc.stdout if stream == "stdout" else proc.stderr)
    res = dict(config=config, ok=False)
    try:
        # Up: the first report line (pages drawn, flipping), then a window on screen.
        t0 = time.monotonic()
        while not lines.flips() and proc.poll() is None and time.monotonic() - t0 < args.timeout:
            time.sleep(0.2)
        if not lines.flips():
            res["why"] = "the guest never started flipping: " + lines.text()[-300:]
            return res
        time.sleep(args.settle)
        if not xdamage.window_size(args.x_display, XRES * YRES // 2):
            res["why"] = "no window showing the guest at 1:1"
            return res
        hz = os.sysconf("SC_CLK_TCK")
        a, xa, ta = xhost.cpu_ticks(proc.pid), xhost.cpu_ticks(args.xvfb_pid), time.monotonic()
        seen = xdamage.count(args.x_display, args.window, XRES * YRES)
        b, xb, tb = xhost.cpu_ticks(proc.pid), xhost.cpu_ticks(args.xvfb_pid), time.monotonic()
        if proc.poll() is not None:
            res["why"] = "the VMM ended while measured"
            return res
        fl = [(t, n) for t, n in lines.flips() if ta <= t <= tb]
        flips = (fl[-1][1] - fl[0][1]) / (fl[-1][0] - fl[0][0]) if len(fl) >= 2 else 0.0
        res.update(ok=True, window=list(seen["window"]), updates=seen["updates"],
                   fps=seen["frames"] / seen["seconds"], updates_ps=seen["updates"] / seen["seconds"],
                   full_frames_ps=seen["area"] / (XRES * YRES) / seen["seconds"],
                   guest_fps=flips, cpu=100.0 * (b - a) / hz / (tb - ta),
                   xcpu=100.0 * (xb - xa) / hz / (tb - ta))
        return res
    finally:
        xhost.stop(proc)


def med(xs):
    return statistics.median(xs) if xs else None


def section(runs, spec, host):
    per = {}
    for r in runs:
        if r["ok"]:
            per.setdefault(r["config"], []).append(r)

    def cell(config, key, fmt="{:.1f}"):
        xs = [r[key] for r in per.get(config, [])]
        if not xs:
            return "—"
        m = med(xs)
        return fmt.format(m) + (f" ({fmt.format(min(xs))}–{fmt.format(max(xs))})" if len(xs) > 1 else "")

    def m(config, key):
        return med([r[key] for r in per.get(config, [])])

    def per_frame(config):
        """(VMM + X) ms of CPU per full frame's worth of presented area."""
        xs = [(r["cpu"] + r["xcpu"]) * 10.0 / r["full_frames_ps"]
              for r in per.get(config, []) if r["full_frames_ps"] > 0]
        return med(xs)  # % of a CPU ÷ frames/s × 10 = ms per frame

    names = {"terrarium-gtk": "Terrarium app (its choice: texture path, cairo)",
             "terrarium-gtk-gl": "Terrarium app, GL path (GtkGLArea)", "qemu-gtk": "QEMU `-display gtk`",
             "terrarium-sdl": "terrarium-run (SDL)", "qemu-sdl": "QEMU `-display sdl`"}
    lines = [f"## {SECTION} — {host['date']}", "",
             f"A guest animating a {XRES}×{YRES}×32 Bochs VBE screen (`tests/guests/vbe-anim.elf`, "
             f"multiboot, the same file for every VMM): two full pages drawn once, then a "
             f"`Y_OFFSET` flip between them {spec['hz']} times a second (PIT), a 32-pixel box "
             "moved in the page about to be shown. Every flip changes every visible pixel; the "
             "guest itself does almost nothing, so what is measured is the display path. One "
             f"VMM at a time on one Xvfb screen ({SCREEN.rsplit('x', 1)[0]}, every window shows the "
             "guest 1:1); GL under Xvfb is Mesa's software renderer (llvmpipe), and X presents "
             "by copying, so absolute figures are those of a software desktop. Terrarium's app "
             "runs as it chooses by itself (its GL probe finds llvmpipe and takes the texture "
             "path: GTK's cairo renderer, a memory texture per frame) and forced onto its GL path "
             "(`TERRARIUM_DISPLAY=gl`: the GtkGLArea, GTK's GL renderer). Over "
             f"{spec['window']:.0f} s after {spec['settle']:.0f} s of animation: **frames/s** "
             "presented, counted from outside with X DAMAGE on the VMM's window, the same for "
             "every VMM: **updates/s** (DamageNotify events), **frames/s** (updates covering at "
             "least half the guest's frame) and **full frames' area/s** (damaged pixels ÷ "
             "1920×1080); the guest's own "
             "**flips/s** (host time of its report lines); **CPU** of the VMM process (user + "
             "system, every thread) and of the X server, in % of one host CPU; **ms CPU/frame**: "
             "(VMM + X server) CPU time per full frame's worth of presented area (QEMU's GTK "
             "display presents a frame in several smaller updates, so area is the fair "
             "denominator). Median of "
             f"{spec['rounds']} interleaved rounds (min–max). Host /dev/kvm ({host['machine']}), "
             f"Terrarium at {host['rev']}, QEMU {host['qemu']} `-accel kvm -M pc -vga std`. Run "
             "by `ninja -C build bench-display-anim`.", "",
             "| display | guest flips/s | updates/s | frames/s (≥ ½ frame) | full frames' "
             "area/s | VMM % CPU | X server % CPU | ms CPU/frame |",
             "|---|---|---|---|---|---|---|---|"]
    for c in spec["configs"]:
        pf = per_frame(c)
        lines.append(f"| {names[c]} | {cell(c, 'guest_fps')} | {cell(c, 'updates_ps')} | "
                     f"{cell(c, 'fps')} | {cell(c, 'full_frames_ps')} | {cell(c, 'cpu')} | "
                     f"{cell(c, 'xcpu')} | {'—' if pf is None else f'{pf:.1f}'} |")
    lines += ["", "| Terrarium ÷ QEMU | frames/s | full frames' area/s | VMM CPU | "
              "(VMM + X) CPU per frame |", "|---|---|---|---|---|"]

    def ratio(a, b):
        return f"{a / b:.2f}×" if a is not None and b else "—"

    for ours, theirs, label in (("terrarium-gtk", "qemu-gtk", "GTK"),
                                ("terrarium-gtk-gl", "qemu-gtk", "GTK, GL path"),
                                ("terrarium-sdl", "qemu-sdl", "SDL")):
        if ours in spec["configs"] and theirs in spec["configs"]:
            lines.append(f"| {label} | {ratio(m(ours, 'fps'), m(theirs, 'fps'))} | "
                         f"{ratio(m(ours, 'full_frames_ps'), m(theirs, 'full_frames_ps'))} | "
                         f"{ratio(m(ours, 'cpu'), m(theirs, 'cpu'))} | "
                         f"{ratio(per_frame(ours), per_frame(theirs))} |")
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
    ap.add_argument("--app", help="the terrarium app binary (its GTK display)")
    ap.add_argument("--schemas", help="the build's compiled GSettings schemas (for --app)")
    ap.add_argument("--kernel", required=True, help="tests/guests/vbe-anim.elf")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hz", type=int, default=60, help="the guest's flip rate")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=120.0, help="for the guest to start flipping")
    ap.add_argument("--note", help="a line added under the tables")
    ap.add_argument("--output", help="docs/benchmarks.md to update")
    args = ap.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    if any(c not in CONFIGS for c in configs):
        print(f"bench-display-anim: --configs takes {','.join(CONFIGS)}", file=sys.stderr)
        return 2
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("bench-display-anim: /dev/kvm is not usable here", file=sys.stderr)
        return 1
    if not args.qemu:
        configs = [c for c in configs if not c.startswith("qemu")]
    if not args.app:
        configs = [c for c in configs if not c.startswith("terrarium-gtk")]
    with tempfile.TemporaryDirectory(prefix="bench-display-anim-") as tmp:
        xvfb = xhost.start_xvfb(DISPLAY_NUM, SCREEN)
        if not xvfb:
            print("bench-display-anim: Xvfb is not installed or did not start", file=sys.stderr)
            return 1
        bus = None
        runs = []
        try:
            args.x_display = f":{DISPLAY_NUM}"
            args.xvfb_pid = xvfb.pid
            env = xhost.app_env(dict(os.environ, DISPLAY=args.x_display, SDL_VIDEODRIVER="x11"),
                                tmp, args.schemas)
            env.pop("WAYLAND_DISPLAY", None)
            bus, configs = xhost.start_app_bus(tmp, env, configs,
                                               lambda c: c.startswith("terrarium-gtk"),
                                               "bench-display-anim")
            for rnd in range(args.rounds):
                order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
                for config in order:
                    r = one_run(config, args, tmp, env)
                    r["round"] = rnd
                    print(f"bench-display-anim: round {rnd} {config}: " +
                          (f"{r['fps']:.1f} frames/s presented ({r['updates_ps']:.1f} updates/s, "
                           f"{r['full_frames_ps']:.1f} frames' area/s), guest {r['guest_fps']:.1f} "
                           f"flips/s, VMM {r['cpu']:.1f}% CPU, X {r['xcpu']:.1f}% CPU, window "
                           f"{r['window'][0]}x{r['window'][1]}" if r["ok"] else r["why"]),
                          flush=True)
                    runs.append(r)
        finally:
            if bus:
                bus.terminate()
                bus.wait()
            xvfb.terminate()
            xvfb.wait()
    host = xhost.host_info(args.qemu)
    spec = {"rounds": args.rounds, "settle": args.settle, "window": args.window, "hz": args.hz,
            "configs": configs, "note": args.note}
    print(json.dumps(runs))
    text = section(runs, spec, host)
    print(text)
    if args.output:
        benchdoc.write_section(args.output, SECTION, text)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
