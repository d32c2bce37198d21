# SPDX-License-Identifier: GPL-2.0-or-later
"""What the snapshot guest tests share: the memfill module and a run saved on a marker."""
import os
import random
import re
import signal
import struct
import subprocess
import sys

MEMF_MAGIC = 0x464d454d  # "MEMF", as tests/guests/memfill.c checks page headers
# tests/guests/counter.c's line: count, PIT ticks, LAPIC timer ticks.
COUNTER_LINE = re.compile(rb"counter: (\d+) pit=(\d+) lapic=(\d+)")


def kvm_usable():
    return os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)


def parse_guest_args(ap):
    """Adds --runner and --kernel to ap and parses it; None, after printing SKIP, when
    /dev/kvm is not usable."""
    ap.add_argument("--runner", required=True)
    ap.add_argument("--kernel", required=True)
    args = ap.parse_args()
    if not kvm_usable():
        print("SKIP: no usable /dev/kvm")
        return None
    return args


def runner_cmd(args, mem, *extra):
    """terrarium-run for the guest: its kernel, mem MiB, extra, the serial port on stdio and
    the test-exit device."""
    return [args.runner, "--kernel", args.kernel, "--mem", str(mem), *extra,
            "--serial", "stdio", "--test-exit"]


def write_memfill_module(path, pages, seed):
    """pages of 4 KiB, page k starting MEMF_MAGIC and k, the rest seeded random bytes."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        for k in range(pages):
            f.write(struct.pack("<II", MEMF_MAGIC, k) + rng.randbytes(4088))


def run_and_save(cmd, marker, timeout=60):
    """Runs cmd (a terrarium-run with --snapshot-save), sends the save signal once marker is
    on its stdout, waits for it to end; echoes its output; (status, stdout, stderr)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out = b""
    while marker not in out:
        chunk = proc.stdout.read1(4096)
        if not chunk:
            break
        out += chunk
    if marker in out:
        proc.send_signal(signal.SIGRTMIN + 1)
    try:
        rest, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, err = proc.communicate()
    out += rest
    sys.stdout.write(out.decode(errors="replace") + err.decode(errors="replace"))
    return proc.returncode, out, err


def run_to_end(cmd, timeout=60):
    """Runs cmd (no stdin) to its end, echoes its stdout and stderr; the CompletedProcess."""
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    sys.stdout.write(p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace"))
    return p
