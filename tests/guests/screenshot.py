#!/usr/bin/env python3
"""terrarium-run's PNG screenshots of SeaBIOS on the std-VGA, headless.

1. --expect-screen SeaBIOS with --screenshot and --vga-text-dump: the PNG
   taken at the end is the 720x400 text mode (80x25 cells of 9x16 pixels)
   and shows ink exactly where the text dump has the banner's letters.
2. --screenshot-at 0 and --screenshot-at after the banner (twice the time
   run 1 took to see it): the first is taken before the VGA BIOS has set a
   mode (no ink), the second shows the banner. The run is stopped with SIGINT
   once the second file is there.

No --display flag and no $DISPLAY: the runner must default to headless.
Exit 77 (skip) without /dev/kvm or without the seabios package."""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

import pngread
from checks import check, verdict

BIOS = "/usr/share/seabios/bios.bin"
CELL_W, CELL_H = 9, 16


def banner_matches(img, text_line, what, prefix=False):
    """Ink in each of the first row's cells where the text has a letter, none where it has none.
    prefix: the shot came before text_line was read, so it may show a prefix of it (a slow
    machine prints the banner a letter at a time), but at least "SeaBIOS"."""
    check(img.width == 720 and img.height == 400, f"{what}: 720x400, got {img.width}x{img.height}")
    if img.width != 720 or img.height != 400:
        return
    cells = [img.ink(c * CELL_W, 0, (c + 1) * CELL_W, CELL_H) for c in range(80)]
    inked = [c for c in range(80) if cells[c]]
    letters = [c for c, ch in enumerate(text_line.ljust(80)[:80]) if ch.strip()]
    if prefix:
        ok = inked == [c for c in letters if c < (inked[-1] + 1 if inked else 0)] and \
            inked[:7] == list(range(7))
    else:
        # The text cursor blinks in the cell after the banner: ink there is allowed.
        ok = bool(letters) and (inked == letters or inked == letters + [letters[-1] + 1])
    check(ok,
          f"{what}: ink in the cells of {text_line!r} (ink in {len(inked)} cells, "
          f"{len(letters)} letters)")
    check(img.ink(0, CELL_H * 24, 720, 400) == 0, f"{what}: the last row is empty")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    args = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is missing or not usable")
        return 77
    if not os.path.exists(BIOS):
        print(f"SKIP: {BIOS} is missing (the seabios package)")
        return 77
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    with tempfile.TemporaryDirectory() as d:
        end, dump = os.path.join(d, "end.png"), os.path.join(d, "screen.txt")
        cmd = [args.runner, "--mem", "64", "--vga", "std", "--serial", "none",
               "--expect-screen", "SeaBIOS", "--screenshot", end, "--vga-text-dump", dump]
        print("screenshot:", " ".join(cmd), flush=True)
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120,
                           stdin=subprocess.DEVNULL)
        took = time.monotonic() - t0
        check(p.returncode == 0, f"run 1 exit status 0 (got {p.returncode}: {p.stderr.strip()})")
        text = open(dump).read() if os.path.exists(dump) else ""
        first = text.splitlines()[0] if text else ""
        check("SeaBIOS" in first, f"the text dump's first row has the banner: {first!r}")
        if check(os.path.exists(end), "--screenshot wrote its file"):
            banner_matches(pngread.read(end), first, "--screenshot")

        early, late = os.path.join(d, "early.png"), os.path.join(d, "late.png")
        at = max(2 * took, took + 2)
        dump2 = os.path.join(d, "screen2.txt")
        cmd = [args.runner, "--mem", "64", "--vga", "std", "--serial", "none",
               "--vga-text-dump", dump2, "--screenshot-at", "0:" + early, "--screenshot-at", f"{at:.2f}:{late}"]
        print("screenshot:", " ".join(cmd), flush=True)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, stdin=subprocess.DEVNULL)
        t0 = time.monotonic()
        while not os.path.exists(late) and p.poll() is None and time.monotonic() - t0 < at + 60:
            time.sleep(0.2)
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        check(p.returncode == 130, f"run 2 stopped by SIGINT: status 130 (got {p.returncode})")
        if check(os.path.exists(early), "--screenshot-at 0 wrote its file"):
            img = pngread.read(early)
            check(img.ink(0, 0, img.width, img.height) == 0,
                  f"--screenshot-at 0: blank before the VGA BIOS ({img.width}x{img.height})")
        if check(os.path.exists(late), f"--screenshot-at {at:.2f} wrote its file"):
            text = open(dump2).read() if os.path.exists(dump2) else ""
            first = text.splitlines()[0] if text else ""
            banner_matches(pngread.read(late), first, f"--screenshot-at {at:.2f}", prefix=True)
        check("not written" not in err, "no shot reported missed")
    return verdict()


if __name__ == "__main__":
    sys.exit(main())
