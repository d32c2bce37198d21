#!/usr/bin/env python3
"""terrarium-run does not link SDL2: its window is the module
terrarium-display-sdl.so, loaded with dlopen() only when a window is wanted
(app/runner/display-sdl.h), so headless runs never load SDL's libraries.

Checks, from the ELF files themselves (no binutils needed):
- terrarium-run has no DT_NEEDED entry for SDL, and ldd finds none among the
  libraries it loads;
- when the module was built: it exists, needs libSDL2, and exports one
  function, trm_display_sdl_entry.
And from runs that stop at a missing kernel, before any VM or window exists:
- the runner in the build tree finds its module beside itself;
- alone in a folder (no module beside it, none installed), --display sdl is one
  line naming the module's path, dlerror()'s reason and --display none, and
  the default display falls back to headless (said with -v);
- a module file that is no module, or one of another interface version (a
  stand-in, display-module-stale.c), is refused with one line.
Without SDL at build time there is no module and --display sdl says so."""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guests"))
from checks import check, verdict  # noqa: E402  (tests/guests/checks.py)

ENTRY = "trm_display_sdl_entry"
MODULE = "terrarium-display-sdl.so"


def sections(data):
    """(type, offset, size, link, entsize) of each section of a 64-bit little-endian ELF."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3a)
    out = []
    for i in range(shnum):
        _, typ, _, _, off, size, link, _, _, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", data, shoff + i * shentsize)
        out.append((typ, off, size, link, entsize))
    return out


def cstr(data, off):
    return data[off:data.index(b"\0", off)].decode()


def needed(path):
    """The DT_NEEDED names of an ELF file."""
    data = open(path, "rb").read()
    secs = sections(data)
    names = []
    for typ, off, size, link, _ in secs:
        if typ != 6:  # SHT_DYNAMIC
            continue
        strtab = secs[link][1]
        for i in range(0, size, 16):
            tag, val = struct.unpack_from("<qQ", data, off + i)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                names.append(cstr(data, strtab + val))
    return names


def exported(path):
    """The functions and objects an ELF file defines in its dynamic symbol table, global or
    weak: {name: 'FUNC' or 'OBJECT'}."""
    data = open(path, "rb").read()
    secs = sections(data)
    out = {}
    for typ, off, size, link, entsize in secs:
        if typ != 11:  # SHT_DYNSYM
            continue
        strtab = secs[link][1]
        for i in range(0, size, entsize or 24):
            name, info, other, shndx, _, _ = struct.unpack_from("<IBBHQQ", data, off + i)
            kind, bind, vis = info & 0xf, info >> 4, other & 3
            if shndx != 0 and bind in (1, 2) and vis == 0 and kind in (1, 2):
                out[cstr(data, strtab + name)] = "FUNC" if kind == 2 else "OBJECT"
    return out


def run(runner, args, env=None):
    e = dict(os.environ)
    e.pop("WAYLAND_DISPLAY", None)
    e.pop("DISPLAY", None)
    e.update(env or {})
    p = subprocess.run([runner] + args, capture_output=True, text=True, env=e, timeout=60,
                       stdin=subprocess.DEVNULL)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    return p.returncode, lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--module-dir", required=True, help="where the module is installed")
    ap.add_argument("--module", help="the built module (absent: built without SDL)")
    ap.add_argument("--stale", help="a stand-in module of another interface version")
    args = ap.parse_args()
    runner = os.path.abspath(args.runner)
    nokernel = ["--kernel", "/nonexistent/kernel", "--vga", "std"]

    deps = needed(runner)
    check("libc.so.6" in deps, f"terrarium-run's DT_NEEDED read: {', '.join(deps)}")
    check(not [d for d in deps if "sdl" in d.lower()], "terrarium-run does not need libSDL2")
    if shutil.which("ldd"):
        p = subprocess.run(["ldd", runner], capture_output=True, text=True)
        check(p.returncode == 0 and "sdl" not in p.stdout.lower(),
              f"nor does any library it loads ({len(p.stdout.splitlines())} in all, by ldd)")

    if not args.module:
        rc, lines = run(runner, nokernel + ["--display", "sdl"])
        check(rc == 2 and len(lines) == 1 and "without SDL" in lines[0],
              f"built without SDL: --display sdl says so (status {rc}: {lines})")
        return verdict()

    module = os.path.abspath(args.module)
    if not check(os.path.isfile(module), f"the module was built: {module}"):
        return verdict()
    check(os.path.basename(module) == MODULE, f"named {MODULE}, as terrarium-run looks for it")
    check(os.path.dirname(module) == os.path.dirname(runner),
          "beside terrarium-run in the build tree")
    mdeps = needed(module)
    check([d for d in mdeps if d.startswith("libSDL2")], f"the module needs libSDL2: {mdeps}")
    syms = exported(module)
    check(syms.get(ENTRY) == "FUNC", f"the module exports {ENTRY}")
    check(set(syms) == {ENTRY}, f"and nothing else: {sorted(syms)}")

    rc, lines = run(runner, nokernel + ["--display", "sdl"])
    check(rc == 1 and len(lines) == 1 and "kernel" in lines[0] and "module" not in lines[0],
          f"the build tree's runner loads the module beside it (status {rc}: {lines})")

    installed = os.path.join(args.module_dir, MODULE)
    with tempfile.TemporaryDirectory(prefix="trm-display-module-",
                                     dir=os.environ.get("MESON_BUILD_ROOT")) as d:
        alone = os.path.join(d, "terrarium-run")
        shutil.copy2(runner, alone)
        if os.path.exists(installed):
            print(f"skipped: the runner without a module ({installed} is installed)")
        else:
            rc, lines = run(alone, nokernel + ["--display", "sdl"])
            check(rc == 1 and len(lines) == 1 and installed in lines[0] and
                  "No such file" in lines[0] and "--display none" in lines[0],
                  f"without a module, --display sdl is one line naming {installed}, the reason and "
                  f"--display none (status {rc}: {lines})")
            rc, lines = run(alone, nokernel, env={"DISPLAY": ":9876"})
            check(rc == 1 and len(lines) == 1 and "kernel" in lines[0],
                  f"and the default display falls back to none (status {rc}: {lines})")
            rc, lines = run(alone, ["-v"] + nokernel, env={"DISPLAY": ":9876"})
            check(rc == 1 and len(lines) == 2 and installed in lines[0] and
                  "without a window" in lines[0] and "kernel" in lines[1],
                  f"saying so with -v (status {rc}: {lines})")

        beside = os.path.join(d, MODULE)
        with open(beside, "wb") as f:
            f.write(b"not a module\n")
        rc, lines = run(alone, nokernel + ["--display", "sdl"])
        check(rc == 1 and len(lines) == 1 and beside in lines[0] and "--display none" in lines[0],
              f"a broken module beside the runner is reported, not passed over (status {rc}: "
              f"{lines})")
        if args.stale:
            shutil.copy2(args.stale, beside)
            rc, lines = run(alone, nokernel + ["--display", "sdl"])
            check(rc == 1 and len(lines) == 1 and beside in lines[0] and
                  "another Terrarium build" in lines[0],
                  f"a module of another interface version is refused (status {rc}: {lines})")
        shutil.copy2(module, beside)
        rc, lines = run(alone, nokernel + ["--display", "sdl"])
        check(rc == 1 and len(lines) == 1 and "kernel" in lines[0],
              f"a copy of the module beside a copy of the runner is found (status {rc}: {lines})")
    return verdict()


if __name__ == "__main__":
    sys.exit(main())
