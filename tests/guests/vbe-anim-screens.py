#!/usr/bin/env python3
"""The display benchmark's guest (vbe-anim) on terrarium-run, headless, seen through its
screenshots: the Bochs VBE mode takes, the two pages are what the guest drew, a Y_OFFSET flip
shows the other page, and the box the guest moves through guest writes to the framebuffer
(KVM dirty log) is where it should be at the end.

A small mode (320x240) keeps it fast. With hold=MS the guest shows page 0, then page 1, for MS
ms each and says so on COM1 ("vbe-anim: page K shown"); --screenshot-on-serial takes a PNG of
each. Then it flips FLIPS times at 100 Hz and exits; --screenshot takes the last frame: page 1
(an even number of flips after it) with the box at the place frame FLIPS puts it.

Exit 77 (skip) without /dev/kvm."""
import argparse
import os
import subprocess
import sys
import tempfile

import pngread
from checks import check, verdict

W, H, BOX, FLIPS = 320, 240, 16, 30
WHITE = (255, 255, 255)


def page_color(p, y):
    """The guest's page_color(): line y of page p as (r, g, b)."""
    t = y * 255 // (H - 1)
    if p == 0:
        return (0x20 + t // 2, 0x40 + (t * 3 // 4) % 0x80, 0xC0 - t // 4)
    return (0xFF - t // 2, 0x60 + t // 3, 0x10 + t // 8)


def box_at(frame):
    """Where the guest's move_box() puts the box on frame n."""
    span_x, span_y = W - BOX, H - BOX
    sx, sy = frame * 8 % (2 * span_x), frame * 5 % (2 * span_y)
    return (sx if sx < span_x else 2 * span_x - sx, sy if sy < span_y else 2 * span_y - sy)


def page_matches(path, p, box=None):
    """The PNG is page p (and a white BOX x BOX square at box, if given) pixel for pixel."""
    what = os.path.basename(path)
    if not check(os.path.exists(path), f"{what} was written"):
        return
    img = pngread.read(path)
    if not check((img.width, img.height) == (W, H),
                 f"{what}: the VBE mode's {W}x{H}, got {img.width}x{img.height}"):
        return
    wrong = []
    for y in range(H):
        for x in range(W):
            inside = box and box[0] <= x < box[0] + BOX and box[1] <= y < box[1] + BOX
            want = WHITE if inside else page_color(p, y)
            if img.pixel(x, y) != want:
                wrong.append((x, y, img.pixel(x, y), want))
    check(not wrong, f"{what}: every pixel is page {p}'s" + (f" with the box at {box}" if box else "")
          + (f" ({len(wrong)} differ, first {wrong[0]})" if wrong else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--kernel", required=True)
    args = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is missing or not usable")
        return 77
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    with tempfile.TemporaryDirectory() as d:
        shots = [os.path.join(d, f"page{p}.png") for p in (0, 1)]
        end = os.path.join(d, "end.png")
        cmd = [args.runner, "--kernel", args.kernel, "--mem", "32", "--vga", "std",
               "--display", "none", "--test-exit", "--serial", "stdio",
               "--append", f"xres={W} yres={H} box={BOX} hz=100 flips={FLIPS} report=10 hold=1500",
               "--screenshot-on-serial", f"vbe-anim: page 0 shown=>{shots[0]}",
               "--screenshot-on-serial", f"vbe-anim: page 1 shown=>{shots[1]}",
               "--screenshot", end]
        print("vbe-anim-screens:", " ".join(cmd), flush=True)
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=100,
                           stdin=subprocess.DEVNULL)
        print(p.stdout, end="")
        check(p.returncode == 0, f"exit status 0 (got {p.returncode}: {p.stderr.strip()[:300]})")
        check(f"vbe-anim: mode {W}x{H}x32" in p.stdout, "the guest read its mode back")
        check(f"vbe-anim: flip {FLIPS} at" in p.stdout and "vbe-anim: done" in p.stdout,
              f"{FLIPS} flips, then done")
        page_matches(shots[0], 0)
        page_matches(shots[1], 1)
        page_matches(end, 1, box_at(FLIPS))
    return verdict()


if __name__ == "__main__":
    sys.exit(main())
