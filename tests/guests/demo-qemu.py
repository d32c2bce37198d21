#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The built-in demo machine (app/demo) under QEMU: proves it independently of
our VMM. Boots demo.elf with `-kernel -vga std -display none`, takes screenshots
through the monitor's screendump and checks pixels: the sky and soil gradients,
the title, typed keys echoed in the panel, the pointer following the mouse, and
F2 switching to 800x600.

Usage: demo-qemu.py --kernel demo.elf [--qemu qemu-system-x86_64] [--keep DIR]
Exit 0 pass, 1 fail, 77 skip (no QEMU).
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKY_TOP, SKY_BOTTOM = 0x1E4F8C, 0xBFE3F2
SOIL_TOP, SOIL_BOTTOM = 0x6B4A2B, 0x2E1D10


def gradient(top, bottom, y, rows):
    """demo_gradient() in app/demo/scene.c: per channel, C's truncating division."""
    out = 0
    for shift in (0, 8, 16):
        t, b = (top >> shift) & 0xFF, (bottom >> shift) & 0xFF
        d = (b - t) * y
        q = abs(d) // rows * (1 if d >= 0 else -1)
        out |= (t + q) << shift
    return out


def expected_background(w, h, y):
    horizon = h * 3 // 4
    if y < horizon:
        return gradient(SKY_TOP, SKY_BOTTOM, y, horizon)
    return gradient(SOIL_TOP, SOIL_BOTTOM, y - horizon, h - 1 - horizon)


class Screen:
    def __init__(self, path):
        data = open(path, 'rb').read()
        magic, dims, maxval, self.rgb = data.split(b'\n', 3)
        if magic != b'P6' or maxval != b'255':
            raise ValueError('not a P6 PPM')
        self.w, self.h = map(int, dims.split())

    def px(self, x, y):
        i = (y * self.w + x) * 3
        r, g, b = self.rgb[i:i + 3]
        return (r << 16) | (g << 8) | b

    def region(self, x0, y0, x1, y1):
        return [self.px(x, y) for y in range(y0, y1) for x in range(x0, x1)]


class Qemu:
    def __init__(self, qemu, kernel, tmp):
        self.tmp = tmp
        self.sock_path = os.path.join(tmp, 'monitor.sock')
        self.proc = subprocess.Popen(
            [qemu, '-kernel', kernel, '-vga', 'std', '-display', 'none', '-m', '64',
             '-serial', 'stdio', '-monitor', 'unix:%s,server,nowait' % self.sock_path,
             '-accel', 'tcg', '-no-reboot'],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.serial = b''
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        self.mon = None
        self.n = 0

    def _read(self):
        for line in self.proc.stdout:
            self.serial += line
            sys.stdout.write('serial: ' + line.decode(errors='replace'))
            if b'demo: ready' in line:
                self.ready.set()

    def connect(self):
        deadline = time.time() + 10
        while True:
            try:
                self.mon = socket.socket(socket.AF_UNIX)
                self.mon.connect(self.sock_path)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self._until_prompt()

    def _until_prompt(self):
        buf = b''
        self.mon.settimeout(20)
        while not buf.endswith(b'(qemu) '):
            chunk = self.mon.recv(4096)
            if not chunk:
                raise RuntimeError('monitor closed')
            buf += chunk
        return buf

    def cmd(self, line):
        self.mon.sendall(line.encode() + b'\n')
        return self._until_prompt()

    def screendump(self):
        self.n += 1
        path = os.path.join(self.tmp, 'screen-%d.ppm' % self.n)
        self.cmd('screendump ' + path)
        for _ in range(100):  # the file is complete once its size stops changing
            if os.path.exists(path) and os.path.getsize(path) > 0:
                try:
                    return Screen(path)
                except ValueError:
                    pass
            time.sleep(0.05)
        raise RuntimeError('no screendump')

    def until(self, pred, timeout=15):
        """Screenshots until pred(screen) holds; returns the last screen."""
        deadline = time.time() + timeout
        while True:
            s = self.screendump()
            if pred(s) or time.time() > deadline:
                return s
            time.sleep(0.2)

    def close(self):
        try:
            self.cmd('quit')
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


failures = 0


def check(cond, what):
    global failures
    print(('ok   ' if cond else 'FAIL ') + what)
    if not cond:
        failures += 1


def check_background(s, label):
    for y in (0, 1, s.h // 3, s.h * 3 // 4 - 1, s.h * 3 // 4 + 4, s.h - 1):
        want = expected_background(s.w, s.h, y)
        got = s.px(4, y)
        check(got == want, '%s: background at (4, %d) is %06x (want %06x)' % (label, y, got, want))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--qemu', default='qemu-system-x86_64')
    ap.add_argument('--keep', help='copy the screenshots here')
    args = ap.parse_args()
    qemu = shutil.which(args.qemu)
    if not qemu:
        print('SKIP: %s is not installed' % args.qemu)
        return 77
    tmp = tempfile.mkdtemp(prefix='demo-qemu-')
    vm = Qemu(qemu, args.kernel, tmp)
    try:
        if not vm.ready.wait(60):
            print('FAIL: the demo never printed "demo: ready"')
            return 1
        vm.connect()
        a = vm.screendump()
        check((a.w, a.h) == (1024, 768), 'mode is %dx%d (want 1024x768)' % (a.w, a.h))
        check_background(a, '1024x768')
        title = sum(1 for p in a.region(24, 20, 760, 41) if p == 0xFFFFFF)
        check(title > 1000, 'the title has %d white pixels' % title)
        check(a.px(512, 384) == 0x000000, 'the pointer tip is at the centre')

        # Keys: "hi" appears in the echo panel, nothing else changes.
        vm.cmd('sendkey h')
        vm.cmd('sendkey i')
        panel = (36, 70, 300, 100)
        b = vm.until(lambda s: s.region(*panel) != a.region(*panel))
        check(b.region(*panel) != a.region(*panel), 'typed keys changed the echo panel')
        check(b.region(0, 150, 1024, 760) == a.region(0, 150, 1024, 760),
              'typing left the scene alone')
        ink = sum(1 for p in b.region(*panel) if p == 0xF4F1E6)
        check(ink > 60, 'the echoed text has %d text-coloured pixels' % ink)

        # Mouse: the pointer moves by the motion given, the scene comes back under it.
        vm.cmd('mouse_move 40 30')
        sky = expected_background(1024, 768, 384)
        # (QEMU's screen copy may lag behind VRAM for a frame: wait for both.)
        c = vm.until(lambda s: s.px(552, 414) == 0x000000 and s.px(512, 384) == sky)
        check(c.px(552, 414) == 0x000000, 'the pointer tip followed the mouse to (552, 414)')
        check(c.px(512, 384) == sky and c.px(513, 386) == expected_background(1024, 768, 386),
              'the sky under the old pointer was restored')

        # F2: 800x600, redrawn.
        vm.cmd('sendkey f2')
        d = vm.until(lambda s: s.w == 800)
        check((d.w, d.h) == (800, 600), 'F2 switched to %dx%d (want 800x600)' % (d.w, d.h))
        if (d.w, d.h) == (800, 600):
            d = vm.until(lambda s: s.px(4, s.h - 1) == expected_background(800, 600, 599))
            check_background(d, '800x600')
    finally:
        vm.close()
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for f in os.listdir(tmp):
                if f.endswith('.ppm'):
                    shutil.copy(os.path.join(tmp, f), args.keep)
        shutil.rmtree(tmp, ignore_errors=True)
    print('PASS' if not failures else '%d checks failed' % failures)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
