#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The exit benchmark: terrarium-run beside QEMU and a bare KVM loop.

Measures, in rounds, with every VMM's runs interleaved inside each round:

  exit cost    (T(N_big) - T(N_small)) / (N_big - N_small) for a guest that
               writes port 0x80 N times, for terrarium-run, QEMU -M microvm,
               QEMU -M pc and kvm-floor (the least a VMM can do per exit);
  start-up     for a guest whose first act is one byte out of the debug
               console (port 0x402): process start to that byte on the
               VMM's standard output (the guest's first exit handled), and
               process start to the end of the process;
  idle memory  VmRSS of the VMM process minus the resident part of the guest
               RAM mapping, while a guest sits in hlt.

Prints a Markdown table and puts it into docs/benchmarks.md as the "exit"
section (replacing an older "exit" section, keeping every other one).
Python 3 standard library only.
"""

import argparse
import datetime
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import benchdoc  # noqa: E402

SECTION = "exit"
QEMU_EXIT_OK = 1  # isa-debug-exit ends QEMU with (value << 1) | 1; the guest writes 0
QEMU_COMMON = [
    "-accel", "kvm", "-nodefaults", "-no-user-config", "-display", "none", "-serial", "none",
    "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
]
# The lightest microvm that boots the guest: no option ROMs (qboot enters
# the PVH entry point itself), no legacy PIT, PIC, RTC or serial port.
MICROVM = "microvm,x-option-roms=off,rtc=off,pit=off,pic=off,isa-serial=off"
RUN_TIMEOUT = 300


class BenchError(Exception):
    pass


def die(msg):
    print(f"bench-exit: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- commands

class Vmm:
    """One way of running a guest: its command line and its success status."""

    def __init__(self, key, label, argv_for, ok_status):
        self.key = key
        self.label = label
        self.argv_for = argv_for  # (guest kind, n) -> argv
        self.ok_status = ok_status


def make_vmms(args):
    g = Path(args.guests)
    mem = str(args.mem)

    def guest(kind, n, pvh=False):
        name = {"idle": "idle", "first": "first-0"}.get(kind, f"exit-{n}")
        name += f"{'-pvh' if pvh else ''}.elf"
        p = g / name
        if not p.is_file():
            raise BenchError(f"guest {p} is missing; build it with `ninja -C BUILD bench-exit`")
        return str(p)

    # The start-up guest's byte on port 0x402 goes to standard output.
    def terrarium_argv(kind, n):
        first = ["--firmware-log", "/dev/stdout"] if kind == "first" else []
        return [args.terrarium, "--kernel", guest(kind, n), "--mem", mem, "--serial", "none",
                "--test-exit", *first]

    def qemu_argv(machine, pvh):
        def argv(kind, n):
            first = ["-chardev", "file,id=first,path=/dev/stdout",
                     "-device", "isa-debugcon,iobase=0x402,chardev=first"] \
                if kind == "first" else []
            return [args.qemu, *QEMU_COMMON, *first, "-M", machine, "-m", mem,
                    "-kernel", guest(kind, n, pvh=pvh)]
        return argv

    vmms = {
        "terrarium": Vmm("terrarium", "terrarium-run", terrarium_argv, 0),
        # kvm-floor treats 0 as 1: it always makes at least one exit; "first"
        # has it write a byte to standard output when that exit comes back.
        "floor": Vmm("floor", "kvm-floor",
                     lambda kind, n: [args.floor, str(max(n, 1)),
                                      *(["first"] if kind == "first" else [])], 0),
    }
    if args.qemu:
        vmms["microvm"] = Vmm("microvm", "QEMU -M microvm", qemu_argv(MICROVM, True),
                              QEMU_EXIT_OK)
        if not args.skip_pc:
            vmms["pc"] = Vmm("pc", "QEMU -M pc", qemu_argv("pc", False), QEMU_EXIT_OK)
    return vmms


def exits_made(vmm, n):
    return max(n, 1) if vmm.key == "floor" else n


# ------------------------------------------------------------ timed runs

def timed_run(vmm, n):
    """Runs the N-exit guest once (n is None: the start-up guest); returns
    (wall seconds, CPU seconds, seconds to the first byte out or None). CPU
    time is user + system of the whole process (guest time included), which
    a busy host inflates far less than wall time."""
    argv = vmm.argv_for("first", 0) if n is None else vmm.argv_for("exit", n)
    with tempfile.TemporaryFile() as errf:
        t0 = time.perf_counter_ns()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL if n is not None else subprocess.PIPE,
                             stderr=errf)
        watchdog = threading.Timer(RUN_TIMEOUT, p.kill)
        watchdog.start()
        first, out = None, b""
        if n is None:
            # The mark is the last byte out (QEMU -M pc's SeaBIOS logs to the
            # same port before it); the time of the read that returns it counts.
            while chunk := os.read(p.stdout.fileno(), 65536):
                out += chunk
                first = time.perf_counter_ns()
            p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        t1 = time.perf_counter_ns()
        watchdog.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if p.returncode != vmm.ok_status:
            errf.seek(0)
            err = errf.read().decode(errors="replace").strip().splitlines()
            raise BenchError(f"{vmm.label} ended with status {p.returncode}, not "
                             f"{vmm.ok_status}: {' '.join(argv)}\n  "
                             f"{err[-1] if err else '(no message)'}")
        if n is None and not (out == b"!" or (vmm.key == "pc" and out.endswith(b"\n!"))):
            # Only the guest's byte, or the time would mean something else.
            raise BenchError(f"{vmm.label}'s start-up run wrote {out[-40:]!r}, not just the "
                             f"guest's mark: {' '.join(argv)}")
    return ((t1 - t0) / 1e9, ru.ru_utime + ru.ru_stime,
            None if first is None else (first - t0) / 1e9)


def run_timings(vmms, args):
    """Per round: N_small and N_big once each (paired for the exit cost), and
    the start-up guest --start-runs times (once for QEMU -M pc, whose
    firmware takes seconds here)."""
    small, big = args.small, args.big
    jobs = []
    for key in vmms:
        jobs += [(key, small), (key, big)]
        jobs += [(key, None)] * (1 if key == "pc" else args.start_runs)
    # One unmeasured run of each: page cache, dynamic linker, KVM module state.
    for key, n in dict.fromkeys(jobs):
        timed_run(vmms[key], n)

    rounds = []  # per round: {(key, n): [(wall, cpu), ...]}
    for r in range(args.rounds):
        t = {}
        # Rotate the order each round so slow drifts of the host hit everyone alike.
        shift = (r * len(jobs)) // args.rounds
        for key, n in jobs[shift:] + jobs[:shift]:
            t.setdefault((key, n), []).append(timed_run(vmms[key], n))
        rounds.append(t)
        line = ", ".join(f"{vmms[k].label} N={'start' if n is None else n}: "
                         f"{statistics.median(x[0] for x in v):.3f} s"
                         for (k, n), v in t.items())
        print(f"round {r + 1}/{args.rounds} (wall): {line}", file=sys.stderr)

    def per_exit(t, key, which):
        dn = exits_made(vmms[key], big) - exits_made(vmms[key], small)
        tb = statistics.median(x[which] for x in t[(key, big)])
        ts = statistics.median(x[which] for x in t[(key, small)])
        return (tb - ts) / dn * 1e9

    # Pair the runs of one round: they ran close together in time.
    return {key: {"cpu_ns": [per_exit(t, key, 1) for t in rounds],
                  "wall_ns": [per_exit(t, key, 0) for t in rounds],
                  "start_s": [x[0] for t in rounds for x in t[(key, None)]],
                  "first_s": [x[2] for t in rounds for x in t[(key, None)]]}
            for key in vmms}


# ---------------------------------------------------------------- memory

def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def proc_status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {key}")


def guest_ram_rss_kb(pid, mem_mib):
    """Resident kB of the mapping that is the guest's RAM: the one of exactly
    mem_mib, or failing that the smallest writable one that holds it."""
    want = mem_mib * 1024
    maps = []  # {"hdr": the mapping's first line, "size": kB, "rss": kB}
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                cur = {"hdr": line.strip(), "size": 0, "rss": 0}
                maps.append(cur)
            elif first == "Size:":
                cur["size"] = int(line.split()[1])
            elif first == "Rss:":
                cur["rss"] = int(line.split()[1])
    writable = [m for m in maps if m["hdr"].split()[1].startswith("rw")]
    exact = [m for m in writable if m["size"] == want]
    if exact:
        return max(m["rss"] for m in exact), True
    bigger = sorted((m for m in writable if m["size"] > want), key=lambda m: m["size"])
    if bigger:
        return bigger[0]["rss"], False
    raise BenchError(f"no mapping of {mem_mib} MiB in /proc/{pid}/smaps")


def idle_rss(vmm, args):
    """Starts the idle guest, waits until the process neither uses CPU nor
    grows, and returns (VmRSS kB, guest RAM resident kB, exact mapping?)."""
    argv = vmm.argv_for("idle", 0)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        hist = []  # (time, cpu ticks, VmRSS)
        while True:
            time.sleep(0.1)
            if p.poll() is not None:
                err = p.stderr.read().decode(errors="replace").strip()
                raise BenchError(f"{vmm.label} idle guest ended (status {p.returncode}): "
                                 f"{err or ' '.join(argv)}")
            now = time.monotonic()
            try:
                hist.append((now, proc_cpu_ticks(p.pid), proc_status_kb(p.pid, "VmRSS")))
            except FileNotFoundError:
                continue  # it just ended; poll() says so next time round
            old = [h for h in hist if now - h[0] >= args.settle]
            if old and now - t0 >= args.settle:
                ref = old[-1]
                if hist[-1][1] - ref[1] <= 1 and hist[-1][2] == ref[2]:
                    break
            if now - t0 > RUN_TIMEOUT:
                raise BenchError(f"{vmm.label} idle guest never settled")
        samples = []
        for _ in range(5):
            rss = proc_status_kb(p.pid, "VmRSS")
            ram, exact = guest_ram_rss_kb(p.pid, args.mem)
            samples.append((rss - ram, rss, ram, exact))
            time.sleep(0.1)
        beyond, rss, ram, exact = max(samples)
        return {"beyond_kb": beyond, "rss_kb": rss, "ram_kb": ram, "exact": exact}
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run_memory(vmms, args):
    keys = [k for k in ("terrarium", "microvm", "pc") if k in vmms]
    out = {k: [] for k in keys}
    for r in range(args.rss_rounds):
        for k in keys:
            out[k].append(idle_rss(vmms[k], args))
        line = ", ".join(f"{vmms[k].label}: {out[k][-1]['beyond_kb'] / 1024:.1f} MiB" for k in keys)
        print(f"idle memory {r + 1}/{args.rss_rounds}: {line}", file=sys.stderr)
    return out


# ---------------------------------------------------------------- report

def machine_description(args):
    model = "unknown CPU"
    hyper = False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags") and " hypervisor" in line:
                    hyper = True
    except OSError:
        pass
    ncpu = len(os.sched_getaffinity(0))
    qemu = "no QEMU"
    if args.qemu:
        v = subprocess.run([args.qemu, "--version"], stdout=subprocess.PIPE, text=True)
        qemu = v.stdout.splitlines()[0].strip() if v.stdout else "QEMU (unknown version)"
    kernel = platform.release()
    where = " (itself a guest: /dev/kvm is nested)" if hyper else ""
    src = Path(__file__).resolve().parents[2]
    rev = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    rev = (rev + (" with uncommitted changes" if dirty.strip() else "")) if rev else "unknown"
    return (f"{ncpu} CPUs, {model}{where}; Linux {kernel}; {qemu}; Terrarium at {rev}")


def med(xs):
    return statistics.median(xs) if xs else None


def cell(xs, scale=1.0, fmt="{:.1f}"):
    if not xs:
        return "—"
    v = [x * scale for x in xs]
    m = fmt.format(statistics.median(v))
    if len(v) == 1:
        return m
    return f"{m} ({fmt.format(min(v))}–{fmt.format(max(v))})"


def verdict(ratios, target):
    if not ratios:
        return "—"
    if target is None:
        return cell(ratios, 1.0, "{:.2f}")
    m = statistics.median(ratios)
    return f"{cell(ratios, 1.0, '{:.2f}')} {'✓' if m <= target else '✗'}"


def build_section(timing, memory, vmms, args):
    def getter(field):
        return lambda k: timing[k][field] if k in timing else []

    cpu_exit, wall_exit = getter("cpu_ns"), getter("wall_ns")
    start, first = getter("start_s"), getter("first_s")

    def beyond(k):
        return [m["beyond_kb"] for m in memory.get(k, [])]

    def ratio(a, b):
        ma, mb = med(a), med(b)
        return [ma / mb] if ma is not None and mb else []

    def paired_ratio(get, a, b):
        """Exit costs: the median of per-round ratios, each of two runs made
        side by side, which cancels most of a busy host's drift."""
        return [x / y for x, y in zip(get(a), get(b)) if y > 0]

    today = datetime.date.today().isoformat()
    rows = [
        ("exit cost (CPU time), µs per port 0x80 write", cpu_exit, 1e-3, "{:.2f}",
         paired_ratio(cpu_exit, "terrarium", "floor"), "kvm-floor", 1.1),
        ("exit cost (wall time), µs per port 0x80 write", wall_exit, 1e-3, "{:.2f}",
         paired_ratio(wall_exit, "terrarium", "floor"), "kvm-floor", 1.1),
        ("start → first exit (the start-up guest's byte out), ms", first, 1e3, "{:.1f}",
         ratio(first("terrarium"), first("microvm")), "QEMU microvm", 0.5),
        ("start → end of the process (same runs), ms", start, 1e3, "{:.1f}",
         ratio(start("terrarium"), start("microvm")), "QEMU microvm", None),
        (f"idle RSS beyond guest RAM ({args.mem} MiB), MiB", beyond, 1 / 1024, "{:.2f}",
         ratio(beyond("terrarium"), beyond("microvm")), "QEMU microvm", 0.25),
    ]
    cols = [k for k in ("terrarium", "floor", "microvm", "pc") if k in vmms]
    head = "| measure | " + " | ".join(vmms[k].label for k in cols) + \
        " | terrarium ÷ reference | target |"
    sep = "|---|" + "---|" * len(cols) + "---|---|"
    lines = [head, sep]
    for name, get, scale, fmt, r, ref, target in rows:
        cells = [cell(get(k), scale, fmt) for k in cols]
        lines.append(f"| {name} | " + " | ".join(cells) +
                     f" | {verdict(r, target)} (÷ {ref}) | "
                     f"{'—' if target is None else f'≤ {target}'} |")
    table = "\n".join(lines)

    notes = []
    if "pc" in timing:
        notes.append(f"Start-up against QEMU -M pc: terrarium-run takes "
                     f"{ratio(first('terrarium'), first('pc'))[0]:.3f} of its time to the "
                     "first exit (pc runs SeaBIOS and the multiboot option ROM first).")
    if "terrarium" in timing and "microvm" in timing:
        tail = {k: [e - f for e, f in zip(start(k), first(k))] for k in ("terrarium", "microvm")}
        notes.append("From the first exit to the end of the process (the guest's exit, the "
                     "VMM's shutdown and KVM destroying the VM): terrarium-run "
                     f"{cell(tail['terrarium'], 1e3)} ms, QEMU -M microvm "
                     f"{cell(tail['microvm'], 1e3)} ms.")
    inexact = [vmms[k].label for k, ms in memory.items() if any(not m["exact"] for m in ms)]
    if inexact:
        notes.append("No mapping of exactly the guest RAM size for " + ", ".join(inexact) +
                     "; the smallest larger writable mapping was subtracted.")
    for k, ms in memory.items():
        m = sorted(ms, key=lambda x: x["beyond_kb"])[len(ms) // 2]
        notes.append(f"{vmms[k].label} idle: VmRSS {m['rss_kb'] / 1024:.1f} MiB, of which guest "
                     f"RAM {m['ram_kb'] / 1024:.1f} MiB resident.")

    body = [
        f"## {SECTION} — {today}",
        "",
        f"Machine: {machine_description(args)}.",
        "",
        f"Medians of {args.rounds} rounds (min–max in brackets; idle memory: "
        f"{args.rss_rounds} rounds). Exit cost is (T(N = {args.big}) − T(N = {args.small})) ÷ ΔN, "
        "T being the CPU time (user + system, guest time included) or the wall time of the "
        "whole process; the guest loops `out %al, $0x80; dec %ecx; jnz` like kvm-floor. Its "
        "ratio to the floor is the median of per-round ratios. Start-up is a guest whose first "
        "act is one byte written to the debug console port 0x402, which every VMM passes on to "
        "its standard output (terrarium-run `--firmware-log /dev/stdout`, QEMU `isa-debugcon`, "
        "kvm-floor when its first exit returns), then the test exit; *first exit* is process "
        "start to that byte read from the pipe, *end of the process* to its exit status, "
        f"{args.start_runs} runs a round (pc: 1). Guest RAM {args.mem} MiB everywhere; QEMU runs "
        f"`-M {MICROVM}` with a PVH entry and `-M pc` with multiboot, both "
        "`-nodefaults -display none -serial none -device isa-debug-exit`. "
        f"Host load average at the start: {args.loadavg}. "
        "Produced by `ninja -C build bench-exit` (bench/exit/run.py).",
        "",
        table,
        "",
    ]
    body += [f"- {n}" for n in notes]
    return "\n".join(body) + "\n"


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--terrarium", required=True, help="terrarium-run binary")
    ap.add_argument("--floor", required=True, help="kvm-floor binary")
    ap.add_argument("--guests", required=True, help="directory of the built bench guests")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"),
                    help="qemu-system-x86_64 (default: from PATH; empty to leave QEMU out)")
    ap.add_argument("--skip-pc", action="store_true", help="leave out QEMU -M pc (slow here)")
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds (default 5)")
    ap.add_argument("--start-runs", type=int, default=10,
                    help="N = 0 runs per round for start-up (default 10; QEMU -M pc: 1)")
    ap.add_argument("--rss-rounds", type=int, default=3, help="idle memory rounds (default 3)")
    ap.add_argument("--small", type=int, default=0, choices=(0, 20000), help="N_small")
    ap.add_argument("--big", type=int, default=100000, choices=(20000, 100000), help="N_big")
    ap.add_argument("--mem", type=int, default=128, help="guest RAM in MiB (default 128)")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds without CPU use or RSS growth before memory is sampled")
    ap.add_argument("--output", help="Markdown file to put the section in (docs/benchmarks.md)")
    # `ninja bench-exit` has a fixed command line; BENCH_EXIT_ARGS adds to it.
    args = ap.parse_args(sys.argv[1:] + shlex.split(os.environ.get("BENCH_EXIT_ARGS", "")))
    if args.big <= args.small:
        die("--big must be larger than --small")
    if min(args.rounds, args.rss_rounds, args.start_runs) < 1:
        die("--rounds, --start-runs and --rss-rounds must be at least 1")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        die("/dev/kvm is missing or not usable by this user; the benchmark needs KVM")
    if not args.qemu:
        print("bench-exit: no qemu-system-x86_64 found; measuring Terrarium and the floor only",
              file=sys.stderr)

    with open("/proc/loadavg") as f:
        args.loadavg = " ".join(f.read().split()[:3])
    try:
        vmms = make_vmms(args)
        for v in vmms.values():  # fail early on a missing guest file
            v.argv_for("exit", args.small)
            v.argv_for("exit", args.big)
            v.argv_for("idle", 0)
            v.argv_for("first", 0)
        timing = run_timings(vmms, args)
        memory = run_memory(vmms, args)
    except BenchError as e:
        die(str(e))
    section = build_section(timing, memory, vmms, args)
    print(section)
    if args.output:
        benchdoc.write_section(args.output, SECTION, section)
        print(f"bench-exit: wrote the \"{SECTION}\" section of {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
