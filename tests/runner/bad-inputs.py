#!/usr/bin/env python3
"""terrarium-run must answer every bad input with a non-zero status and exactly
one clear line on stderr, never a crash. Cases that need a working /dev/kvm to
reach their check are skipped (and counted) when it is missing."""
import glob
import os
import shutil
import struct
import subprocess
import sys
import tempfile

runner = sys.argv[1]
work = tempfile.mkdtemp(prefix="trm-bad-", dir=os.environ.get("MESON_BUILD_ROOT", None))
os.chmod(work, 0o755)  # the no-permission case runs as another user
failures = 0
ran = 0
skipped = []


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
        return True
    except OSError:
        return False


def case(name, args, want_status, *want_words, env=None, preexec=None, needs_kvm=False):
    global failures, ran
    if needs_kvm and not kvm_usable():
        skipped.append(name)
        return
    ran += 1
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([runner] + args, capture_output=True, text=True, env=e, timeout=60,
                       stdin=subprocess.DEVNULL, preexec_fn=preexec)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    problems = []
    if p.returncode < 0:
        problems.append(f"killed by signal {-p.returncode}")
    if want_status is None:
        if p.returncode == 0:
            problems.append("exit status 0")
    elif p.returncode != want_status:
        problems.append(f"exit status {p.returncode}, wanted {want_status}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, wanted exactly one")
    text = p.stderr.lower()
    for w in want_words:
        if w.lower() not in text:
            problems.append(f"stderr lacks {w!r}")
    status = "ok  " if not problems else "FAIL"
    print(f"{status} {name}: {p.stderr.strip()}")
    for pr in problems:
        print(f"       {pr}")
    if problems:
        failures += 1


kernels = sorted(glob.glob("/boot/vmlinuz-*"))
mb = os.path.join(work, "hello.elf")

# usage
# Without --kernel the machine boots its firmware; these fail before /dev/kvm is opened.
case("missing firmware", ["--bios", os.path.join(work, "no-bios.bin")], 1, "firmware",
     "no such file")
case("initrd without a kernel", ["--initrd", "/dev/null"], 1, "needs a kernel")
case("bad boot order", ["--boot", "xz"], 1, "boot order")
case("unwritable firmware log", ["--firmware-log", os.path.join(work, "no", "dir", "log")], 1,
     "firmware log")
case("unknown option", ["--frobnicate"], 2, "--frobnicate")
case("option without its value", ["--kernel"], 2, "--kernel")
case("stray argument", ["--kernel", "x", "extra"], 2, "extra")
case("bad --serial", ["--kernel", "x", "--serial", "tcp:1"], 2, "serial")
case("non-numeric --cpus", ["--kernel", "x", "--cpus", "many"], 2, "--cpus")
case("negative --mem", ["--kernel", "x", "--mem", "-5"], 2, "--mem")
case("bad --uuid", ["--kernel", "x", "--uuid", "not-a-uuid"], 2, "--uuid")
case("bad --display", ["--kernel", "x", "--display", "gtk"], 2, "--display")
case("bad --drive snapshot value", ["--kernel", "x", "--drive", "file=a.img,snapshot=maybe"], 2,
     "snapshot=maybe")
case("--try with --snapshot-save", ["--kernel", "x", "--try", "--disk", "a.img",
                                    "--snapshot-save", work], 2, "try mode")
case("snapshot=on with --snapshot-save", ["--kernel", "x", "--drive", "file=a.img,snapshot=on",
                                          "--snapshot-save", work], 2, "try mode")
tryraw = os.path.join(work, "try.img")
with open(tryraw, "wb") as f:
    f.truncate(1 << 20)
case("--try overlay folder missing", ["--kernel", "x", "--try", "--disk", tryraw], 1, "overlay",
     env={"TMPDIR": os.path.join(work, "no-such-dir")}, needs_kvm=True)
case("--screenshot-at without seconds", ["--screenshot-at", "soon:a.png"], 2, "--screenshot-at")
case("--screenshot-at without a file", ["--screenshot-at", "5:"], 2, "--screenshot-at")
case("--screenshot-at in the past", ["--screenshot-at", "-1:a.png"], 2, "--screenshot-at")
case("--screenshot without a display adapter", ["--kernel", "x", "--screenshot", "a.png"], 2,
     "display adapter")
case("--display sdl without a display adapter", ["--kernel", "x", "--display", "sdl"], 2,
     "display adapter")
# No X server and no Wayland compositor to talk to: one line, before the VM starts.
case("--display sdl without a desktop", ["--display", "sdl", "--serial", "none"], None, "SDL",
     env={"DISPLAY": ":9876", "WAYLAND_DISPLAY": "", "SDL_VIDEODRIVER": "x11"}, needs_kvm=True)

# the kernel file
case("missing kernel", ["--kernel", os.path.join(work, "nope")], 1, "kernel", "no such file")
case("directory as kernel", ["--kernel", work], 1, "not a regular file")
garbage = os.path.join(work, "garbage")
with open(garbage, "wb") as f:
    f.write(os.urandom(64 * 1024))
case("garbage kernel", ["--kernel", garbage], 1, "neither a linux bzimage nor a multiboot")
empty = os.path.join(work, "empty")
open(empty, "wb").close()
case("empty kernel", ["--kernel", empty], 1, "kernel")
case("empty firmware", ["--bios", empty], 1, "not a firmware image")
odd = os.path.join(work, "odd-bios.bin")
with open(odd, "wb") as f:
    f.write(b"\xff" * (65536 + 100))
case("firmware of odd size", ["--bios", odd], 1, "firmware", "4 kib pages")

if kernels:
    real = open(kernels[-1], "rb").read()
    for cut in (600, 4096, len(real) // 2):
        t = os.path.join(work, f"trunc{cut}")
        with open(t, "wb") as f:
            f.write(real[:cut])
        case(f"kernel truncated at {cut}", ["--kernel", t], 1, "truncated")
    old = bytearray(real)
    struct.pack_into("<H", old, 0x206, 0x0205)
    t = os.path.join(work, "oldproto")
    with open(t, "wb") as f:
        f.write(old)
    case("boot protocol 2.05", ["--kernel", t], 1, "2.05")
    big = os.path.join(work, "big-initrd")
    with open(big, "wb") as f:
        f.truncate(100 << 20)
    case("initrd that does not fit", ["--kernel", kernels[-1], "--initrd", big, "--mem", "128"],
         1, "initrd", "memory")
    case("missing initrd", ["--kernel", kernels[-1], "--initrd", os.path.join(work, "no")], 1,
         "initrd")
    long_cmdline = "x" * 70000
    case("command line too long", ["--kernel", kernels[-1], "--append", long_cmdline], 1,
         "command line")
else:
    skipped.append("bzImage cases (no /boot/vmlinuz-*)")

# machine size
case("zero vCPUs", ["--kernel", garbage, "--cpus", "0"], 1, "vcpu")
case("absurd vCPUs", ["--kernel", garbage, "--cpus", "100000"], 1, "vcpu")
case("too little memory", ["--kernel", garbage, "--mem", "1"], 1, "memory")
case("more memory than the host", ["--kernel", garbage, "--mem", "1048576"], 1, "memory")

# KVM itself: make a valid tiny multiboot kernel so the run gets as far as /dev/kvm
hdr = struct.pack("<III", 0x1BADB002, 0x00010003, (-(0x1BADB002 + 0x00010003)) & 0xFFFFFFFF)
# a.out kludge: header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr
code = bytes([0xBA, 0xF4, 0x00, 0x00, 0x00, 0xB0, 0x07, 0xEE, 0xF4, 0xEB, 0xFD])
image_len = 12 + 20 + len(code)
kludge = struct.pack("<IIIII", 0x100000, 0x100000, 0x100000 + image_len, 0, 0x100000 + 32)
with open(mb, "wb") as f:
    f.write(hdr + kludge + code)
case("no /dev/kvm", ["--kernel", mb], 1, "does not exist", "virtualization",
     env={"TERRARIUM_KVM_DEVICE": os.path.join(work, "kvm-missing")})
case("not a KVM device", ["--kernel", mb], 1, "kvm", env={"TERRARIUM_KVM_DEVICE": "/dev/null"})
if os.geteuid() == 0 and os.path.exists("/dev/kvm") and (os.stat("/dev/kvm").st_mode & 0o006) == 0:
    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    case("no permission on /dev/kvm", ["--kernel", mb], 1, "permission", "kvm group",
         preexec=drop)
else:
    skipped.append("no-permission case (needs root and a /dev/kvm closed to others)")

# A disk image another machine is using: refused with one sentence, the other run unharmed.
if kvm_usable():
    idle = os.path.join(work, "idle.elf")
    idle_code = bytes([0xFA, 0xF4, 0xEB, 0xFD])  # cli; hlt; jmp $-2
    idle_len = 12 + 20 + len(idle_code)
    with open(idle, "wb") as f:
        f.write(hdr + struct.pack("<IIIII", 0x100000, 0x100000, 0x100000 + idle_len, 0,
                                  0x100000 + 32) + idle_code)
    disk = os.path.join(work, "shared.img")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    holder = subprocess.Popen([runner, "--kernel", idle, "--disk", disk, "--serial", "none"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    import time
    time.sleep(1.5)
    case("disk image in use by another machine", ["--kernel", mb, "--disk", disk], 1,
         "in use", "shared.img")
    alive = holder.poll() is None
    holder.terminate()
    holder.wait(timeout=20)
    ran += 1
    print(f"{'ok  ' if alive else 'FAIL'} the machine using the disk kept running")
    failures += 0 if alive else 1
else:
    skipped.append("disk-in-use case (no usable /dev/kvm)")

# and the good path, for contrast: the tiny kernel exits with status 7 through the test port
if kvm_usable():
    ran += 1
    p = subprocess.run([runner, "--kernel", mb, "--test-exit", "--serial", "none"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    ok = p.returncode == 7
    print(f"{'ok  ' if ok else 'FAIL'} valid tiny kernel exits 7: status {p.returncode} {p.stderr.strip()}")
    failures += 0 if ok else 1
else:
    skipped.append("valid tiny kernel (no usable /dev/kvm)")

shutil.rmtree(work, ignore_errors=True)
for s in skipped:
    print(f"skipped: {s}")
print(f"{ran} cases, {failures} failed, {len(skipped)} skipped")
sys.exit(1 if failures else 0)
