#!/usr/bin/env python3
"""terrarium-run's SDL window under Xvfb, with SeaBIOS on the std-VGA.

With $DISPLAY set and no --display flag the runner must open its window: an
X window named Terrarium appears, takes the guest's 720x400 text mode, and
what it presents (read back from the renderer into TERRARIUM_SDL_READBACK)
shows the SeaBIOS banner in its first text row. Then the window is closed
the way a window manager closes it (WM_DELETE_WINDOW): the first close
presses the power button (SeaBIOS ignores it: the run goes on and the title
says so), the second forces the machine off.

A second run checks the keyboard end to end: X key events for Escape go
through the window (SDL scancode, evdev code, i8042) into SeaBIOS, which
must open its boot menu (--boot-menu, --expect-screen "Select boot device").

Re-runs itself under xvfb-run. Exit 77 (skip) without xvfb-run or xwininfo,
/dev/kvm, the seabios package, or a runner built with SDL."""
import argparse
import ctypes
import ctypes.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pngread
from checks import check, verdict

BIOS = "/usr/share/seabios/bios.bin"


def window_info(wid=None):
    """(width, height, viewable, window id, title) of the runner's window, or None."""
    args = ["-id", hex(wid)] if wid else ["-name", "Terrarium"]
    p = subprocess.run(["xwininfo"] + args, capture_output=True, text=True)
    if p.returncode != 0:
        return None
    w = re.search(r"Width: (\d+)", p.stdout)
    h = re.search(r"Height: (\d+)", p.stdout)
    ident = re.search(r'Window id: (0x[0-9a-f]+) "([^"]*)"', p.stdout)
    if not (w and h and ident):
        return None
    return (int(w.group(1)), int(h.group(1)), "IsViewable" in p.stdout, int(ident.group(1), 16),
            ident.group(2))


class ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong),
                ("message_type", ctypes.c_ulong), ("format", ctypes.c_int),
                ("l", ctypes.c_long * 5), ("pad", ctypes.c_long * 12)]


class KeyEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong),
                ("root", ctypes.c_ulong), ("subwindow", ctypes.c_ulong), ("time", ctypes.c_ulong),
                ("x", ctypes.c_int), ("y", ctypes.c_int), ("x_root", ctypes.c_int),
                ("y_root", ctypes.c_int), ("state", ctypes.c_uint), ("keycode", ctypes.c_uint),
                ("same_screen", ctypes.c_int), ("pad", ctypes.c_long * 16)]


# The window goes away when the run ends: an X error then is expected, not fatal (Xlib's
# default handler would exit this script).
X_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(
    lambda dpy, ev: 0)


def xlib():
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XSetErrorHandler.argtypes = [X_ERROR_HANDLER.__class__]
    x11.XSetErrorHandler(X_ERROR_HANDLER)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XDefaultRootWindow.restype = ctypes.c_ulong
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                               ctypes.c_void_p]
    x11.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return x11


def type_key_until(wid, keycode, done, limit_s):
    """Presses and releases one X keycode (9 is Escape: evdev KEY_ESC + 8) every 50 ms until
    done() or limit_s, the keyboard focus on the window first, as a window manager would give
    it. Each event has its own time stamp: SDL takes a release and a press with the same time
    for autorepeat."""
    x11 = xlib()
    dpy = x11.XOpenDisplay(None)
    if not dpy:
        return
    x11.XSetInputFocus(dpy, wid, 2, 0)  # RevertToParent, CurrentTime
    root = x11.XDefaultRootWindow(dpy)
    stamp, t0 = 1000, time.monotonic()
    while not done() and time.monotonic() - t0 < limit_s:
        for kind, mask in ((2, 1 << 0), (3, 1 << 1)):  # KeyPress/KeyPressMask, KeyRelease/...
            stamp += 20
            ev = KeyEvent(type=kind, send_event=1, display=dpy, window=wid, root=root,
                          time=stamp, keycode=keycode, same_screen=1)
            x11.XSendEvent(dpy, wid, 1, mask, ctypes.byref(ev))
            x11.XFlush(dpy)
            time.sleep(0.025)
    x11.XCloseDisplay(dpy)


def close_window(wid):
    """What a window manager sends when the user clicks the close button."""
    x11 = xlib()
    dpy = x11.XOpenDisplay(None)
    if not dpy:
        return False
    ev = ClientMessage(type=33, send_event=1, display=dpy, window=wid,  # ClientMessage
                       message_type=x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0), format=32)
    ev.l[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    ok = x11.XSendEvent(dpy, wid, 0, 0, ctypes.byref(ev)) != 0
    x11.XFlush(dpy)
    x11.XCloseDisplay(dpy)
    return ok


def banner_shown(path):
    """The presented frame (any size: it is scaled) has ink in its top 4% and none at the bottom."""
    try:
        img = pngread.read(path)
    except (OSError, ValueError):
        return None
    top = img.ink(0, 0, img.width, max(1, img.height * 16 // 400))
    bottom = img.ink(0, img.height * 24 // 25, img.width, img.height)
    return img, top, bottom


def inner(runner):
    env = dict(os.environ, SDL_VIDEODRIVER="x11")
    env.pop("WAYLAND_DISPLAY", None)
    with tempfile.TemporaryDirectory() as d:
        rb = os.path.join(d, "presented.png")
        env["TERRARIUM_SDL_READBACK"] = rb
        cmd = [runner, "--mem", "64", "--vga", "std", "--serial", "none"]
        print("display-sdl:", " ".join(cmd), f"(DISPLAY={env.get('DISPLAY')})", flush=True)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, stdin=subprocess.DEVNULL)
        geo, shown, t0 = None, None, time.monotonic()
        while time.monotonic() - t0 < 60 and p.poll() is None:
            time.sleep(0.5)
            geo = window_info()
            shown = banner_shown(rb)
            # a slow machine prints the banner a letter at a time: wait for several
            if geo and geo[:2] == (720, 400) and shown and shown[1] > 100:
                break
        alive = p.poll() is None
        title = None
        if alive and geo:
            close_window(geo[3])
            for _ in range(20):
                time.sleep(0.25)
                info = window_info(geo[3])
                title = info[4] if info else None
                if title and "close again" in title:
                    break
            time.sleep(1)
            check(p.poll() is None, "the first close pressed the power button; the run goes on")
            check(title and "power button" in title and "close again" in title,
                  f"and the title says so: {title!r}")
            close_window(geo[3])
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            check(p.poll() is not None, "the second close forced the machine off")
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        check(alive, f"the runner kept running until closed ({err.strip()})")
        check(geo is not None, "an X window named Terrarium appeared")
        if geo:
            check(geo[:2] == (720, 400), f"the window took the guest's 720x400 (got {geo[:2]})")
            check(geo[2], "the window is mapped (IsViewable)")
        if check(shown is not None, "the window presented frames (TERRARIUM_SDL_READBACK)"):
            img, top, bottom = shown
            check(top > 100, f"the presented frame shows the banner in its top row ({top} pixels)")
            check(bottom == 0, "and nothing in its last row")
            check((img.width, img.height) == (720, 400),
                  f"presented at the window's size ({img.width}x{img.height})")
        check(p.returncode == 130, f"the forced stop ended the run with status 130 "
              f"(got {p.returncode})")

        # The keyboard: Escape, again and again until SeaBIOS's boot prompt has taken one.
        # Typing starts once the firmware has set its keyboard up: keys that land in the middle
        # of its reset handshake can make it give the keyboard up (as on a real PC).
        dump, fwlog = os.path.join(d, "screen.txt"), os.path.join(d, "firmware.log")
        cmd = [runner, "--mem", "64", "--vga", "std", "--serial", "none", "--display", "sdl",
               "--boot-menu", "--expect-screen", "Select boot device", "--expect-timeout", "60",
               "--vga-text-dump", dump, "--firmware-log", fwlog]
        env.pop("TERRARIUM_SDL_READBACK")
        print("display-sdl:", " ".join(cmd), flush=True)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, stdin=subprocess.DEVNULL)
        t0, info = time.monotonic(), None
        def kbd_ready():
            try:
                return "PS2 keyboard initialized" in open(fwlog, errors="replace").read()
            except OSError:
                return False

        while p.poll() is None and time.monotonic() - t0 < 60 and \
                not (info and info[2] and kbd_ready()):
            time.sleep(0.05)
            info = window_info()  # focus can only go to a mapped window
        if info and info[2]:
            type_key_until(info[3], 9, lambda: p.poll() is not None, 70)
        if p.poll() is None:
            p.kill()
        _, err = p.communicate()
        text = open(dump).read() if os.path.exists(dump) else ""
        check(p.returncode == 0 and "Select boot device" in text,
              f"Escape typed into the window opened SeaBIOS's boot menu (status {p.returncode}"
              f"{': ' + err.strip() if err.strip() else ''})")
    return verdict()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--inner", action="store_true")
    args = ap.parse_args()
    if args.inner:
        return inner(args.runner)
    for tool in ("xvfb-run", "xwininfo"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} is missing (xvfb, x11-utils)")
            return 77
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is missing or not usable")
        return 77
    if not os.path.exists(BIOS):
        print(f"SKIP: {BIOS} is missing (the seabios package)")
        return 77
    probe = subprocess.run([args.runner, "--kernel", "/nonexistent/kernel", "--vga", "std",
                            "--display", "sdl"], capture_output=True, text=True)
    if "without SDL" in probe.stderr:
        print("SKIP: terrarium-run was built without SDL")
        return 77
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", sys.executable,
           os.path.abspath(__file__), "--runner", os.path.abspath(args.runner), "--inner"]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode


if __name__ == "__main__":
    sys.exit(main())
