#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""ui suite: drives windows of other processes on the X server (Xvfb) the way
a user would, through XTEST, and photographs the screen. Only libX11.so.6 and
libXtst.so.6 are needed (ctypes, no headers).

  xhelper.py find NAME            prints "ID X Y W H" of the top-level window titled NAME
  xhelper.py move NAME X Y        moves it (there is no window manager under Xvfb)
  xhelper.py click NAME [DX DY]   focuses it and clicks at its centre (or DX, DY inside it)
  xhelper.py type NAME TEXT       focuses it and types TEXT (letters, digits, space)
  xhelper.py key NAME KEYSYM      focuses it and presses one key (e.g. F2, Return)
  xhelper.py nudge NAME DX DY     moves the pointer by DX, DY in small steps (relative motion)
  xhelper.py shot FILE.png        the whole screen as PNG
  xhelper.py background RRGGBB    paints the root window (the "desktop") in one colour
Exit 0 done, 1 failed, 77 when X or XTEST is missing.
"""
import ctypes
import ctypes.util
import struct
import sys
import time
import zlib

try:
    x11 = ctypes.CDLL('libX11.so.6')
    xtst = ctypes.CDLL('libXtst.so.6')
except OSError as e:
    print('SKIP: %s' % e)
    sys.exit(77)

Window = ctypes.c_ulong
x11.XOpenDisplay.restype = ctypes.c_void_p
x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
x11.XDefaultRootWindow.restype = Window
x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
x11.XQueryTree.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(Window), ctypes.POINTER(Window),
                           ctypes.POINTER(ctypes.POINTER(Window)), ctypes.POINTER(ctypes.c_uint)]
x11.XFetchName.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(ctypes.c_char_p)]
x11.XGetGeometry.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(Window),
                             ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
                             ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                             ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint)]
x11.XMoveWindow.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_int]
x11.XRaiseWindow.argtypes = [ctypes.c_void_p, Window]
x11.XSetInputFocus.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_ulong]
x11.XStringToKeysym.restype = ctypes.c_ulong
x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
x11.XKeysymToKeycode.restype = ctypes.c_ubyte
x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
x11.XFlush.argtypes = [ctypes.c_void_p]
x11.XGetWindowAttributes.argtypes = [ctypes.c_void_p, Window, ctypes.c_void_p]
x11.XGetImage.restype = ctypes.c_void_p
x11.XGetImage.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                          ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
x11.XSetWindowBackground.argtypes = [ctypes.c_void_p, Window, ctypes.c_ulong]
x11.XClearWindow.argtypes = [ctypes.c_void_p, Window]
x11.XDisplayWidth.argtypes = [ctypes.c_void_p, ctypes.c_int]
x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
xtst.XTestQueryExtension.argtypes = [ctypes.c_void_p] + [ctypes.POINTER(ctypes.c_int)] * 4
xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
xtst.XTestFakeButtonEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                                      ctypes.c_ulong]
xtst.XTestFakeRelativeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                              ctypes.c_ulong]
xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                      ctypes.c_ulong]


class XImage(ctypes.Structure):
    _fields_ = [('width', ctypes.c_int), ('height', ctypes.c_int), ('xoffset', ctypes.c_int),
                ('format', ctypes.c_int), ('data', ctypes.POINTER(ctypes.c_ubyte)),
                ('byte_order', ctypes.c_int), ('bitmap_unit', ctypes.c_int),
                ('bitmap_bit_order', ctypes.c_int), ('bitmap_pad', ctypes.c_int),
                ('depth', ctypes.c_int), ('bytes_per_line', ctypes.c_int),
                ('bits_per_pixel', ctypes.c_int), ('red_mask', ctypes.c_ulong),
                ('green_mask', ctypes.c_ulong), ('blue_mask', ctypes.c_ulong)]


def children(dpy, w):
    root, parent = Window(), Window()
    kids = ctypes.POINTER(Window)()
    n = ctypes.c_uint()
    if not x11.XQueryTree(dpy, w, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(kids),
                          ctypes.byref(n)):
        return []
    return [kids[i] for i in range(n.value)]


def name_of(dpy, w):
    out = ctypes.c_char_p()
    if x11.XFetchName(dpy, w, ctypes.byref(out)) and out.value:
        return out.value.decode(errors='replace')
    return None


def geometry(dpy, w):
    root = Window()
    x, y = ctypes.c_int(), ctypes.c_int()
    wd, ht, bw, depth = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
    x11.XGetGeometry(dpy, w, ctypes.byref(root), ctypes.byref(x), ctypes.byref(y),
                     ctypes.byref(wd), ctypes.byref(ht), ctypes.byref(bw), ctypes.byref(depth))
    return x.value, y.value, wd.value, ht.value


def find(dpy, name, timeout=10):
    deadline = time.time() + timeout
    while True:
        for w in children(dpy, x11.XDefaultRootWindow(dpy)):
            if name_of(dpy, w) == name:
                g = geometry(dpy, w)
                if g[2] > 1 and g[3] > 1:
                    return w, g
        if time.time() > deadline:
            raise SystemExit('no window titled %r' % name)
        time.sleep(0.2)


def focus(dpy, w, g, dx=None, dy=None, move=True):
    """Raises and focuses the window; with move, the pointer goes to (dx, dy) in it."""
    x11.XRaiseWindow(dpy, w)
    if move:
        x = g[0] + (g[2] // 2 if dx is None else dx)
        y = g[1] + (g[3] // 2 if dy is None else dy)
        xtst.XTestFakeMotionEvent(dpy, -1, x, y, 0)
    x11.XSetInputFocus(dpy, w, 2, 0)  # RevertToParent, CurrentTime
    x11.XSync(dpy, 0)
    time.sleep(0.2)


def press(dpy, keysym):
    code = x11.XKeysymToKeycode(dpy, x11.XStringToKeysym(keysym.encode()))
    if not code:
        raise SystemExit('no keycode for %s' % keysym)
    xtst.XTestFakeKeyEvent(dpy, code, 1, 0)
    x11.XSync(dpy, 0)
    time.sleep(0.08)
    xtst.XTestFakeKeyEvent(dpy, code, 0, 0)
    x11.XSync(dpy, 0)
    time.sleep(0.08)


def png(path, w, h, rows):
    raw = b''.join(b'\0' + r for r in rows)

    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw, 6)) + chunk(b'IEND', b''))


def shot(dpy, path):
    w, h = x11.XDisplayWidth(dpy, 0), x11.XDisplayHeight(dpy, 0)
    p = x11.XGetImage(dpy, x11.XDefaultRootWindow(dpy), 0, 0, w, h, 0xffffffff, 2)  # ZPixmap
    if not p:
        raise SystemExit('XGetImage failed')
    img = XImage.from_address(p)
    if img.bits_per_pixel != 32:
        raise SystemExit('unexpected %d bits per pixel' % img.bits_per_pixel)
    data = ctypes.string_at(img.data, img.bytes_per_line * h)
    rows = []
    for y in range(h):
        line = data[y * img.bytes_per_line:y * img.bytes_per_line + w * 4]
        rgb = bytearray(w * 3)
        rgb[0::3] = line[2::4]
        rgb[1::3] = line[1::4]
        rgb[2::3] = line[0::4]
        rows.append(bytes(rgb))
    png(path, w, h, rows)


def main(argv):
    dpy = x11.XOpenDisplay(None)
    if not dpy:
        print('SKIP: cannot open the X display')
        return 77
    a, b, c, d = (ctypes.c_int() for _ in range(4))
    if not xtst.XTestQueryExtension(dpy, ctypes.byref(a), ctypes.byref(b), ctypes.byref(c),
                                    ctypes.byref(d)):
        print('SKIP: the X server has no XTEST')
        return 77
    cmd = argv[1] if len(argv) > 1 else ''
    if cmd == 'shot':
        shot(dpy, argv[2])
        return 0
    if cmd == 'background':
        root = x11.XDefaultRootWindow(dpy)
        x11.XSetWindowBackground(dpy, root, int(argv[2], 16))
        x11.XClearWindow(dpy, root)
        x11.XSync(dpy, 0)
        return 0
    if cmd not in ('find', 'move', 'click', 'type', 'key', 'nudge'):
        print(__doc__)
        return 1
    w, g = find(dpy, argv[2])
    if cmd == 'find':
        print(w, *g)
    elif cmd == 'move':
        x11.XMoveWindow(dpy, w, int(argv[3]), int(argv[4]))
        x11.XSync(dpy, 0)
    elif cmd == 'click':
        dx, dy = (int(argv[3]), int(argv[4])) if len(argv) > 4 else (None, None)
        focus(dpy, w, g, dx, dy)
        xtst.XTestFakeButtonEvent(dpy, 1, 1, 0)
        x11.XSync(dpy, 0)
        time.sleep(0.1)
        xtst.XTestFakeButtonEvent(dpy, 1, 0, 0)
        x11.XSync(dpy, 0)
    elif cmd == 'type':
        focus(dpy, w, g, move=False)
        for ch in argv[3]:
            press(dpy, 'space' if ch == ' ' else ch)
    elif cmd == 'key':
        focus(dpy, w, g, move=False)
        press(dpy, argv[3])
    elif cmd == 'nudge':
        focus(dpy, w, g, move=False)
        dx, dy = int(argv[3]), int(argv[4])
        steps = max(1, max(abs(dx), abs(dy)) // 5)
        done_x = done_y = 0
        for i in range(1, steps + 1):
            x, y = dx * i // steps, dy * i // steps
            xtst.XTestFakeRelativeMotionEvent(dpy, x - done_x, y - done_y, 0)
            x11.XSync(dpy, 0)
            done_x, done_y = x, y
            time.sleep(0.02)
    x11.XSync(dpy, 0)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
