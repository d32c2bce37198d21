#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs one test guest under terrarium-run (or, with --qemu, under QEMU TCG) and checks it.

The guest reports through the test-exit port: terrarium-run --test-exit turns a write of V into
exit status V & 0xff, QEMU's isa-debug-exit into (V << 1) | 1. --exit V names the value the
guest writes and is translated for either; --status S names a raw process status instead (a
reset under --no-reboot ends both with 0).

Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm, or no QEMU with --qemu).
"""
import argparse
import codecs
import os
import shutil
import subprocess
import sys
import threading
import tempfile
import time

SKIP = 77


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


def check_kvm():
    if not os.path.exists("/dev/kvm"):
        skip("/dev/kvm does not exist (no KVM on this machine)")
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        skip(f"/dev/kvm cannot be opened read/write: {e.strerror} (are you in the kvm group?)")
    os.close(fd)


def build_command(args):
    if args.qemu:
        qemu = args.qemu_binary or shutil.which("qemu-system-x86_64")
        if not qemu:
            skip("qemu-system-x86_64 is not installed")
        cmd = [qemu, "-kernel", args.kernel, "-append", args.append, "-m", str(args.mem),
               "-smp", str(args.cpus), "-serial", "stdio", "-display", "none",
               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-accel", args.qemu_accel]
        if args.no_reboot:
            cmd.append("-no-reboot")
        return cmd
    check_kvm()
    if not args.runner:
        print("run-guest: --runner (path to terrarium-run) is required without --qemu")
        sys.exit(1)
    cmd = [args.runner, "--kernel", args.kernel, "--append", args.append, "--mem", str(args.mem),
           "--cpus", str(args.cpus), "--serial", "stdio", "--test-exit"]
    if args.no_reboot:
        cmd.append("--no-reboot")
    return cmd


def expected_status(args):
    if args.status is not None:
        return args.status
    if args.qemu:
        return ((args.exit & 0x7F) << 1) | 1
    return args.exit & 0xFF


class Run:
    """One child process with its output collected by threads, so stdin can be fed once a
    marker shows up on stdout and a timeout can kill it."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = bytearray()
        self.err = bytearray()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.threads = [threading.Thread(target=self.pump, args=(self.proc.stdout, self.out)),
                        threading.Thread(target=self.pump, args=(self.proc.stderr, self.err))]
        for t in self.threads:
            t.daemon = True
            t.start()

    def pump(self, stream, buf):
        while True:
            data = os.read(stream.fileno(), 4096)
            with self.lock:
                if data:
                    buf.extend(data)
                self.changed.notify_all()
            if not data:
                return

    def wait_for_output(self, marker, deadline):
        with self.lock:
            while marker not in self.out:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return False
                self.changed.wait(min(left, 0.2))
            return True

    def feed(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def finish(self, deadline):
        timed_out = False
        try:
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            self.proc.kill()
            self.proc.wait()
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        for t in self.threads:
            t.join(5)
        return timed_out


def text(buf):
    return bytes(buf).decode("utf-8", "replace").replace("\r\n", "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runner", help="terrarium-run binary")
    p.add_argument("--qemu", action="store_true", help="run under QEMU TCG instead")
    p.add_argument("--qemu-binary", help="QEMU to use with --qemu (default: from PATH)")
    p.add_argument("--qemu-accel", default="tcg", help="QEMU accelerator (default tcg)")
    p.add_argument("--kernel", required=True, help="guest ELF")
    p.add_argument("--append", default="", help="guest command line")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--mem", type=int, default=32, help="MiB")
    p.add_argument("--no-reboot", action="store_true")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--exit", type=lambda s: int(s, 0), default=0,
                   help="value the guest writes to the exit port (default 0)")
    g.add_argument("--status", type=int, help="raw exit status expected instead")
    p.add_argument("--expect", action="append", default=[], metavar="TEXT",
                   help="text that must appear on the guest's serial output (repeatable)")
    p.add_argument("--reject", action="append", default=[], metavar="TEXT",
                   help="text that must not appear on the serial output (repeatable)")
    p.add_argument("--stdin", help="bytes to feed the serial port (Python escapes allowed)")
    p.add_argument("--stdin-after", metavar="TEXT",
                   help="feed --stdin only once TEXT appeared on the serial output")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--vga", action="store_true", help="a std-VGA on the board (QEMU has one)")
    p.add_argument("--keys-at", metavar="S:KEYS",
                   help="keys the host types (terrarium-run --keys-at; not under QEMU)")
    p.add_argument("--expect-dump", metavar="TEXT",
                   help="text that must be on the VGA text screen at the end (terrarium-run)")
    p.add_argument("--expect-debugcon", metavar="TEXT",
                   help="text the guest must write to the debug console, port 0x402")
    p.add_argument("--terrarium-only", action="store_true",
                   help="needs terrarium-run's host-side scripting: skip under QEMU")
    args = p.parse_args()
    if args.qemu and args.terrarium_only:
        skip("this case drives the machine through terrarium-run options QEMU lacks")
    dump_dir = tempfile.mkdtemp(prefix="run-guest-")
    dump = os.path.join(dump_dir, "screen.txt")
    debugcon = os.path.join(dump_dir, "debugcon.txt")

    if not os.path.exists(args.kernel):
        print(f"run-guest: no guest image at {args.kernel}")
        return 1
    cmd = build_command(args)
    if not args.qemu:
        if args.vga:
            cmd += ["--vga", "std"]
        if args.keys_at:
            cmd += ["--keys-at", args.keys_at]
        if args.expect_dump:
            cmd += ["--vga-text-dump", dump]
        if args.expect_debugcon:
            cmd += ["--firmware-log", debugcon]
    elif args.expect_debugcon:
        cmd += ["-chardev", f"file,id=debugcon,path={debugcon}",
                "-device", "isa-debugcon,iobase=0x402,chardev=debugcon"]
    want = expected_status(args)
    print("run-guest: " + " ".join(repr(c) if (" " in c or not c) else c for c in cmd), flush=True)

    start = time.monotonic()
    deadline = start + args.timeout
    run = Run(cmd)
    problems = []
    if args.stdin is not None:
        data = codecs.decode(args.stdin, "unicode_escape").encode("latin-1")
        if args.stdin_after and not run.wait_for_output(args.stdin_after.encode(), deadline):
            problems.append(f"never printed {args.stdin_after!r}, so no input was fed")
        else:
            run.feed(data)
    timed_out = run.finish(deadline)
    elapsed = time.monotonic() - start

    out, err = text(run.out), text(run.err)
    status = run.proc.returncode
    if timed_out:
        problems.append(f"still running after {args.timeout:.0f} s; killed")
    elif status != want:
        problems.append(f"exit status {status}, expected {want}")
    for e in args.expect:
        if e not in out:
            problems.append(f"serial output lacks {e!r}")
    for r in args.reject:
        if r in out:
            problems.append(f"serial output contains {r!r}")
    if args.expect_dump and not args.qemu:
        screen = open(dump, errors="replace").read() if os.path.exists(dump) else ""
        if args.expect_dump not in screen:
            problems.append(f"the VGA text screen lacks {args.expect_dump!r}: {screen[:400]!r}")
    if args.expect_debugcon:
        log = open(debugcon, errors="replace").read() if os.path.exists(debugcon) else ""
        if args.expect_debugcon not in log:
            problems.append(f"the debug console lacks {args.expect_debugcon!r}: {log[:400]!r}")
    shutil.rmtree(dump_dir, ignore_errors=True)

    print(f"run-guest: status {status} after {elapsed:.1f} s")
    print("----- serial output -----")
    print(out, end="" if out.endswith("\n") or not out else "\n")
    if err.strip():
        print("----- stderr -----")
        print(err, end="" if err.endswith("\n") else "\n")
    print("-------------------------")
    if problems:
        for pr in problems:
            print(f"FAIL: {pr}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
