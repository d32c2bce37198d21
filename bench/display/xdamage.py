# SPDX-License-Identifier: GPL-2.0-or-later
"""Counts what an X window presents, from outside, through the X DAMAGE extension.

The same count for every VMM: the biggest viewable top-level window on the display (there is
one at a time in the benchmarks) gets a Damage object at the NonEmpty level. On every
DamageNotify the damage is taken (DamageSubtract into an XFixes region) and its area summed;
an update whose area is at least half the guest's frame counts as a presented frame. Python's
ctypes and the system's libX11, libXdamage and libXfixes; no compiled helper.

Two updates the server merges before this process takes the first (both within the same
round trip) count once, for every VMM alike; with frames 16 ms or more apart that is rare.
"""

import ctypes
import ctypes.util
import select
import time

DAMAGE_REPORT_NON_EMPTY = 3
DAMAGE_NOTIFY = 0  # offset from the extension's event base
IS_VIEWABLE = 2


class XRectangle(ctypes.Structure):
    _fields_ = [("x", ctypes.c_short), ("y", ctypes.c_short),
                ("width", ctypes.c_ushort), ("height", ctypes.c_ushort)]


class XDamageNotifyEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("drawable", ctypes.c_ulong),
                ("damage", ctypes.c_ulong), ("level", ctypes.c_int), ("more", ctypes.c_int),
                ("timestamp", ctypes.c_ulong), ("area", XRectangle), ("geometry", XRectangle)]


class XWindowAttributes(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int), ("width", ctypes.c_int),
                ("height", ctypes.c_int), ("border_width", ctypes.c_int), ("depth", ctypes.c_int),
                ("visual", ctypes.c_void_p), ("root", ctypes.c_ulong), ("c_class", ctypes.c_int),
                ("bit_gravity", ctypes.c_int), ("win_gravity", ctypes.c_int),
                ("backing_store", ctypes.c_int), ("backing_planes", ctypes.c_ulong),
                ("backing_pixel", ctypes.c_ulong), ("save_under", ctypes.c_int),
                ("colormap", ctypes.c_ulong), ("map_installed", ctypes.c_int),
                ("map_state", ctypes.c_int), ("all_event_masks", ctypes.c_long),
                ("your_event_mask", ctypes.c_long), ("do_not_propagate_mask", ctypes.c_long),
                ("override_redirect", ctypes.c_int), ("screen", ctypes.c_void_p)]


def _lib(name):
    path = ctypes.util.find_library(name)
    if not path:
        raise OSError(f"lib{name} is not installed")
    return ctypes.CDLL(path)


class _X:
    def __init__(self):
        self.x11 = _lib("X11")
        self.damage = _lib("Xdamage")
        self.fixes = _lib("Xfixes")
        x, d, f = self.x11, self.damage, self.fixes
        x.XOpenDisplay.restype = ctypes.c_void_p
        x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x.XCloseDisplay.argtypes = [ctypes.c_void_p]
        x.XDefaultRootWindow.restype = ctypes.c_ulong
        x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong),
                                 ctypes.POINTER(ctypes.c_ulong),
                                 ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
                                 ctypes.POINTER(ctypes.c_uint)]
        x.XGetWindowAttributes.argtypes = [ctypes.c_void_p, ctypes.c_ulong,
                                           ctypes.POINTER(XWindowAttributes)]
        x.XFree.argtypes = [ctypes.c_void_p]
        x.XPending.argtypes = [ctypes.c_void_p]
        x.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        x.XConnectionNumber.argtypes = [ctypes.c_void_p]
        x.XFlush.argtypes = [ctypes.c_void_p]
        x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        x.XSetErrorHandler.restype = ctypes.c_void_p
        d.XDamageQueryExtension.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                            ctypes.POINTER(ctypes.c_int)]
        d.XDamageQueryVersion.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                          ctypes.POINTER(ctypes.c_int)]
        d.XDamageCreate.restype = ctypes.c_ulong
        d.XDamageCreate.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int]
        d.XDamageDestroy.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        d.XDamageSubtract.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong,
                                      ctypes.c_ulong]
        f.XFixesQueryVersion.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                         ctypes.POINTER(ctypes.c_int)]
        f.XFixesCreateRegion.restype = ctypes.c_ulong
        f.XFixesCreateRegion.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        f.XFixesDestroyRegion.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        f.XFixesFetchRegion.restype = ctypes.POINTER(XRectangle)
        f.XFixesFetchRegion.argtypes = [ctypes.c_void_p, ctypes.c_ulong,
                                        ctypes.POINTER(ctypes.c_int)]


# A window that goes away mid-count is an X error: not fatal (Xlib's default handler exits).
_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(
    lambda dpy, ev: 0)


def _biggest_window(x, dpy):
    """(window, width, height) of the biggest viewable child of the root, or None."""
    root, parent = ctypes.c_ulong(), ctypes.c_ulong()
    kids, n = ctypes.POINTER(ctypes.c_ulong)(), ctypes.c_uint()
    if not x.XQueryTree(dpy, x.XDefaultRootWindow(dpy), ctypes.byref(root), ctypes.byref(parent),
                        ctypes.byref(kids), ctypes.byref(n)):
        return None
    best = None
    for i in range(n.value):
        a = XWindowAttributes()
        if not x.XGetWindowAttributes(dpy, kids[i], ctypes.byref(a)):
            continue
        if a.map_state == IS_VIEWABLE and (best is None or a.width * a.height > best[1] * best[2]):
            best = (kids[i], a.width, a.height)
    if kids:
        x.XFree(kids)
    return best


def window_size(display, min_area=0):
    """The biggest viewable top-level window's (width, height), or None."""
    x = _X()
    dpy = x.x11.XOpenDisplay(display.encode())
    if not dpy:
        raise OSError(f"cannot open X display {display}")
    try:
        w = _biggest_window(x.x11, dpy)
        return (w[1], w[2]) if w and w[1] * w[2] >= min_area else None
    finally:
        x.x11.XCloseDisplay(dpy)


def count(display, seconds, frame_area):
    """Watches the biggest top-level window for `seconds`. Returns a dict: updates (DamageNotify
    events), frames (updates of at least frame_area / 2 pixels), area (pixels damaged in all),
    seconds (the window actually watched), window (width, height)."""
    x = _X()
    x.x11.XSetErrorHandler(_ERROR_HANDLER)
    dpy = x.x11.XOpenDisplay(display.encode())
    if not dpy:
        raise OSError(f"cannot open X display {display}")
    try:
        ev_base, err_base = ctypes.c_int(), ctypes.c_int()
        if not x.damage.XDamageQueryExtension(dpy, ctypes.byref(ev_base), ctypes.byref(err_base)):
            raise OSError("the X server has no DAMAGE extension")
        major, minor = ctypes.c_int(1), ctypes.c_int(1)
        x.damage.XDamageQueryVersion(dpy, ctypes.byref(major), ctypes.byref(minor))
        fmajor, fminor = ctypes.c_int(5), ctypes.c_int(0)
        x.fixes.XFixesQueryVersion(dpy, ctypes.byref(fmajor), ctypes.byref(fminor))
        win = _biggest_window(x.x11, dpy)
        if not win:
            raise OSError("no viewable window to watch")
        damage = x.damage.XDamageCreate(dpy, win[0], DAMAGE_REPORT_NON_EMPTY)
        parts = x.fixes.XFixesCreateRegion(dpy, None, 0)
        x.x11.XSync(dpy, 0)
        # Whatever was damaged before the window starts does not count.
        x.damage.XDamageSubtract(dpy, damage, 0, 0)
        x.x11.XSync(dpy, 0)
        while x.x11.XPending(dpy):
            x.x11.XNextEvent(dpy, ctypes.create_string_buffer(192))
        fd = x.x11.XConnectionNumber(dpy)
        ev = ctypes.create_string_buffer(192)
        updates = frames = area = 0
        t0 = time.monotonic()
        end = t0 + seconds
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if not x.x11.XPending(dpy):
                select.select([fd], [], [], end - now)
                continue
            x.x11.XNextEvent(dpy, ev)
            e = XDamageNotifyEvent.from_buffer(ev)
            if e.type != ev_base.value + DAMAGE_NOTIFY:
                continue
            x.damage.XDamageSubtract(dpy, damage, 0, parts)
            n = ctypes.c_int()
            rects = x.fixes.XFixesFetchRegion(dpy, parts, ctypes.byref(n))
            a = sum(rects[i].width * rects[i].height for i in range(n.value)) if rects else 0
            if rects:
                x.x11.XFree(rects)
            updates += 1
            area += a
            if a * 2 >= frame_area:
                frames += 1
        took = time.monotonic() - t0
        x.fixes.XFixesDestroyRegion(dpy, parts)
        x.damage.XDamageDestroy(dpy, damage)
        x.x11.XSync(dpy, 0)
        return dict(updates=updates, frames=frames, area=area, seconds=took,
                    window=(win[1], win[2]))
    finally:
        x.x11.XCloseDisplay(dpy)
