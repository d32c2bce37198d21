#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The snapshot benchmark: terrarium-run's live save and restore beside QEMU's savevm/loadvm.

The guest is tests/guests/memfill.elf: its RAM holds a multiboot module of non-zero pages no
two of which are equal (page k starts with "MEMF" and k, the rest is seeded random data; both
VMMs copy it into guest RAM from the host), and it prints "beat N" on every PIT tick. With the
same guest, RAM size, module and storage directory, per round:

  terrarium-run   boot with --snapshot-save DIR; after some beats, SIGRTMIN+1. Save: signal
                  to the "saved the machine" line (wall), with the pause and total that the
                  save itself reports. The guest must beat on afterwards (a live save).
                  Restore: a new process `--snapshot-restore DIR` until its first beat.
  QEMU -M pc      boot with a fresh qcow2 disk and a QMP socket; after some beats, the HMP
                  command `savevm bench` through QMP (command to reply). Then `loadvm bench`
                  in that running QEMU (command to the first beat from the restored guest).
                  Restore: a new process with `-loadvm bench` until its first beat.

Each restore runs twice: warm (the saved files in the page cache, as the save left them) and
cold (each saved file fsynced and dropped from the page cache with POSIX_FADV_DONTNEED: the
same per-file eviction for both VMMs, nothing else on the machine is touched).

Prints a Markdown table and puts it into docs/benchmarks.md as the "snapshot" section.
Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import benchdoc  # noqa: E402

SECTION = "snapshot"
SAVE_SIGNAL = signal.SIGRTMIN + 1
BEAT = re.compile(r"^beat (\d+)$")
SAVED = re.compile(r"saved the machine to .*: RAM ([\d.]+) of (\d+) MiB written, guest paused "
                   r"([\d.]+) ms, save took ([\d.]+) ms")
MODULE_MAGIC = 0x464d454d
BEATS_BEFORE_SAVE = 30
BEATS_AFTER_SAVE = 10
TIMEOUT = 300


class BenchError(Exception):
    pass


def die(msg):
    print(f"bench-snapshot: {msg}", file=sys.stderr)
    sys.exit(1)


def now():
    return time.perf_counter()


# ------------------------------------------------------------------ processes

class Watched:
    """A process whose stdout and stderr lines are kept with the time they arrived."""

    def __init__(self, argv, log):
        self.argv = argv
        self.lines = []  # (time, stream, text)
        self.cond = threading.Condition()
        self.log = log
        self.t_start = now()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.readers = [threading.Thread(target=self._read, args=(f, name), daemon=True)
                        for f, name in ((self.p.stdout, "out"), (self.p.stderr, "err"))]
        for t in self.readers:
            t.start()

    def _read(self, f, name):
        for raw in iter(f.readline, b""):
            t = now()
            text = raw.decode(errors="replace").rstrip("\r\n")
            with self.cond:
                self.lines.append((t, name, text))
                self.cond.notify_all()
            self.log.write(f"{t - self.t_start:10.4f} {name} {text}\n")
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pred, after=0.0, timeout=TIMEOUT, what="a line"):
        """The first (time, stream, text) at or after `after` for which pred(stream, text)."""
        deadline = now() + timeout
        i = 0
        with self.cond:
            while True:
                while i < len(self.lines):
                    t, s, text = self.lines[i]
                    i += 1
                    if t >= after and pred(s, text):
                        return t, s, text
                if self.p.poll() is not None and not any(r.is_alive() for r in self.readers):
                    tail = "; ".join(x[2] for x in self.lines[-3:])
                    raise BenchError(f"{self.argv[0]} ended (status {self.p.returncode}) "
                                     f"before {what}: {tail}")
                left = deadline - now()
                if left <= 0:
                    raise BenchError(f"no {what} from {self.argv[0]} in {timeout} s")
                self.cond.wait(min(left, 0.5))

    def beat(self, after=0.0, pred=lambda n: True, timeout=TIMEOUT):
        """(time, N) of the first heartbeat at or after `after` whose N passes pred."""
        def match(s, text):
            m = BEAT.match(text) if s == "out" else None
            return bool(m) and pred(int(m.group(1)))
        t, _, text = self.wait_for(match, after, timeout, "heartbeat")
        return t, int(BEAT.match(text).group(1))

    def last_beat(self):
        with self.cond:
            for t, s, text in reversed(self.lines):
                m = BEAT.match(text) if s == "out" else None
                if m:
                    return int(m.group(1))
        return 0

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        for t in self.readers:
            t.join(5)


class Qmp:
    def __init__(self, path, timeout=TIMEOUT):
        deadline = now() + 30
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if now() > deadline:
                    raise BenchError(f"no QMP socket at {path}")
                time.sleep(0.05)
        self.s.settimeout(timeout)
        self.f = self.s.makefile("rwb")
        self._reply()  # greeting
        self.cmd("qmp_capabilities")

    def _reply(self):
        while True:
            line = self.f.readline()
            if not line:
                raise BenchError("QMP closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        self.f.flush()
        r = self._reply()
        if "error" in r:
            raise BenchError(f"QMP {name}: {r['error']}")
        return r.get("return")

    def hmp(self, line):
        out = self.cmd("human-monitor-command", **{"command-line": line})
        if out and out.strip():
            raise BenchError(f"HMP {line}: {out.strip()}")

    def close(self):
        self.s.close()


# ------------------------------------------------------------------ files

def write_module(path, mib, seed):
    """mib MiB of pages: "MEMF", the page number, then seeded random bytes."""
    if path.exists() and path.stat().st_size == mib << 20:
        return
    rng = random.Random(seed)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        for k in range(mib * 256):
            f.write(struct.pack("<II", MODULE_MAGIC, k) + rng.randbytes(4088))
    tmp.rename(path)


def evict(paths):
    """fsync each file and drop it from the page cache."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def files_under(d):
    return [str(p) for p in Path(d).iterdir() if p.is_file()]


def disk_use(paths):
    return sum(os.stat(p).st_blocks * 512 for p in paths)


def filesystem_of(path):
    best, fstype, dev = "", "?", "?"
    with open("/proc/mounts") as f:
        for line in f:
            d, mnt, t = line.split()[:3]
            if str(path).startswith(mnt) and len(mnt) > len(best):
                best, fstype, dev = mnt, t, d
    return f"{fstype} ({dev} on {best})"


# ------------------------------------------------------------------ one round

def terrarium_round(args, mem, module, work, log):
    d = work / f"trm-{mem}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    base = [args.terrarium, "--kernel", args.guest, "--mem", str(mem), "--serial", "stdio",
            "--append", f"hz={args.hz}"]
    res = {}
    vm = Watched(base + ["--initrd", str(module), "--snapshot-save", str(d)], log)
    try:
        vm.beat(pred=lambda n: n >= BEATS_BEFORE_SAVE)
        t0 = now()
        os.kill(vm.p.pid, SAVE_SIGNAL)
        t1, _, text = vm.wait_for(lambda s, x: s == "err" and "saved the machine" in x, t0,
                                  what="the save's report")
        m = SAVED.search(text)
        if not m:
            raise BenchError(f"cannot read the save's report: {text}")
        res["save_wall"] = t1 - t0
        res["save_written_mib"] = float(m.group(1))
        res["save_paused"] = float(m.group(3)) / 1e3
        res["save_total"] = float(m.group(4)) / 1e3
        n = vm.last_beat()
        vm.beat(t1, lambda k: k >= n + BEATS_AFTER_SAVE)  # it runs on: a live save
    finally:
        vm.stop()
    files = files_under(d)
    res["disk_mib"] = disk_use(files) / 2**20
    for kind in ("warm", "cold", "same"):
        if kind == "cold":
            evict(files)
        # "same": the command line the machine booted with, module included (warm again).
        extra = ["--initrd", str(module)] if kind == "same" else []
        vm = Watched(base + extra + ["--snapshot-restore", str(d)], log)
        try:
            t, _ = vm.beat(vm.t_start)
            res[f"restore_{kind}"] = t - vm.t_start
        finally:
            vm.stop()
    shutil.rmtree(d, ignore_errors=True)
    return res


def qemu_round(args, mem, module, work, log):
    d = work / f"qemu-{mem}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    disk = d / "disk.qcow2"
    subprocess.run([args.qemu_img, "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    sock = d / "qmp.sock"
    base = [args.qemu, "-accel", "kvm", "-M", "pc", "-m", str(mem), "-nodefaults",
            "-no-user-config", "-display", "none", "-serial", "stdio",
            "-kernel", args.guest, "-append", f"hz={args.hz}",
            "-drive", f"file={disk},if=ide,format=qcow2"]
    res = {}
    vm = Watched(base + ["-initrd", str(module), "-qmp", f"unix:{sock},server=on,wait=off"], log)
    try:
        vm.beat(pred=lambda n: n >= BEATS_BEFORE_SAVE)
        q = Qmp(str(sock))
        t0 = now()
        q.hmp("savevm bench")
        t1 = now()
        res["save_wall"] = t1 - t0
        n = vm.last_beat()
        vm.beat(t1, lambda k: k >= n + BEATS_AFTER_SAVE)
        # loadvm in the running QEMU: the restored guest beats from where it was saved.
        n = vm.last_beat()
        t0 = now()
        q.hmp("loadvm bench")
        t, _ = vm.beat(t0, lambda k: k < n)
        res["loadvm_running"] = t - t0
        q.cmd("quit")
        q.close()
        vm.p.wait(30)
    finally:
        vm.stop()
    res["disk_mib"] = disk_use([disk]) / 2**20
    for kind in ("warm", "cold", "same"):
        if kind == "cold":
            evict([disk])
        extra = ["-initrd", str(module)] if kind == "same" else []
        vm = Watched(base + extra + ["-loadvm", "bench"], log)
        try:
            t, _ = vm.beat(vm.t_start)
            res[f"restore_{kind}"] = t - vm.t_start
        finally:
            vm.stop()
    shutil.rmtree(d, ignore_errors=True)
    return res


# ------------------------------------------------------------------ report

def med(xs):
    return statistics.median(xs) if xs else None


def cell(xs, scale=1.0, fmt="{:.0f}"):
    xs = [x * scale for x in xs if x is not None]
    if not xs:
        return "—"
    m = fmt.format(statistics.median(xs))
    return m if len(xs) == 1 else f"{m} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def build_section(result):
    spec = result["spec"]
    rows = result["rows"]  # [{size, round, vmm, ...}]

    def vals(size, vmm, key):
        return [r[key] for r in rows if r["size"] == size and r["vmm"] == vmm and key in r]

    def ratios(size, key, qkey=None):
        out = []
        for rnd in range(spec["rounds"]):
            a = [r[key] for r in rows if r["size"] == size and r["round"] == rnd
                 and r["vmm"] == "terrarium" and key in r]
            b = [r[qkey or key] for r in rows if r["size"] == size and r["round"] == rnd
                 and r["vmm"] == "qemu" and (qkey or key) in r]
            if a and b and b[0] > 0:
                out.append(a[0] / b[0])
        return out

    def verdict(rs, target):
        if not rs:
            return "—"
        return f"{cell(rs, fmt='{:.3f}')} {'✓' if med(rs) <= target else '✗ (not met)'}"

    lines = ["| RAM (module) | VMM | save, ms | pause, ms | restore warm, ms | restore cold, ms "
             "| restore warm, module given, ms | loadvm in the running VMM, ms | on disk, MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    rat = ["| RAM (module) | save ÷ QEMU (target ≤ 0.5) | restore warm ÷ QEMU "
           "(target ≤ 0.1) | restore cold ÷ QEMU (target ≤ 0.1) | restore, module given, "
           "÷ QEMU |", "|---|---|---|---|---|"]
    for size in spec["sizes"]:
        mem, fill = size
        label = f"{mem} MiB ({fill} MiB)"
        key = f"{mem}:{fill}"
        for vmm, name in (("terrarium", "terrarium-run"), ("qemu", "QEMU -M pc")):
            if not vals(key, vmm, "save_wall"):
                continue
            pause = cell(vals(key, vmm, "save_paused"), 1e3) if vmm == "terrarium" else \
                "= save"
            lines.append(
                f"| {label} | {name} | {cell(vals(key, vmm, 'save_wall'), 1e3)} | {pause} "
                f"| {cell(vals(key, vmm, 'restore_warm'), 1e3)} "
                f"| {cell(vals(key, vmm, 'restore_cold'), 1e3)} "
                f"| {cell(vals(key, vmm, 'restore_same'), 1e3)} "
                f"| {cell(vals(key, vmm, 'loadvm_running'), 1e3) if vmm == 'qemu' else '—'} "
                f"| {cell(vals(key, vmm, 'disk_mib'))} |")
        rat.append(f"| {label} | {verdict(ratios(key, 'save_wall'), 0.5)} "
                   f"| {verdict(ratios(key, 'restore_warm'), 0.1)} "
                   f"| {verdict(ratios(key, 'restore_cold'), 0.1)} "
                   f"| {verdict(ratios(key, 'restore_same'), 0.1)} |")
    failures = [f"round {r['round']}, {r['vmm']}, {r['size']}: {r['error']}"
                for r in rows if r.get("error")]
    body = [
        f"## {SECTION} — {spec['date']}",
        "",
        f"Machine: {spec['machine']}. Storage: {spec['work_dir']}, {spec['fs']}. "
        f"Host load average at the start: {spec['loadavg']}.",
        "",
        "Guest: tests/guests/memfill.elf, one vCPU, with a multiboot module of the size in "
        "brackets (pages of seeded random data, none zero, no two equal) that the VMM copies "
        f"into guest RAM, beating (`beat N` on COM1) {spec['hz']} times a second; saved after "
        f"{BEATS_BEFORE_SAVE} beats. "
        "terrarium-run: `--snapshot-save DIR` and SIGRTMIN+1; *save* is the signal to the "
        "\"saved the machine\" line on its stderr (RAM file written and fdatasynced, state file "
        "committed), *pause* the part the guest stood still, as the save reports it; restore "
        "is a new process with `--snapshot-restore DIR`. QEMU: `-accel kvm -M pc`, the same "
        "kernel, module and RAM, a fresh 64 MiB qcow2 (IDE) in the same directory, and QMP; "
        "*save* is `savevm` (HMP through QMP, command to reply; QEMU keeps the guest stopped "
        "for all of it); restore is a new process with `-loadvm` (the target's comparison), and "
        "`loadvm` in the QEMU that saved is shown too. Every restore is timed from process "
        "start (or the command) to the first heartbeat line from the restored guest; a restore "
        "is given the kernel but not the module (its RAM comes from the snapshot), except in the "
        "*module given* column: the command line the machine booted with (QEMU then reads the "
        "module at start-up; terrarium-run only at a guest reset). *Warm*: the "
        "saved files in the page cache as the save left them; *cold*: each saved file fsynced "
        "and dropped from the page cache (POSIX_FADV_DONTNEED), the same for both. "
        f"Medians of {spec['rounds']} rounds (min–max in brackets); in each round both VMMs "
        "run each size, the order alternating. Ratios are medians of per-round ratios. "
        "Produced by `ninja -C build bench-snapshot` (bench/snapshot/run.py).",
        "",
        "\n".join(lines),
        "",
        "\n".join(rat),
        "",
    ]
    body += [f"- {n}" for n in spec.get("notes", []) + failures]
    return "\n".join(body).rstrip("\n") + "\n"


def machine_description(args):
    model, hyper = "unknown CPU", False
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and " hypervisor" in line:
                hyper = True
    kvm = "software KVM (kvm_pvm)" if Path("/sys/module/kvm_pvm").exists() else "KVM"
    qemu = subprocess.run([args.qemu, "--version"], stdout=subprocess.PIPE,
                          text=True).stdout.splitlines()[0].strip()
    src = Path(__file__).resolve().parents[2]
    rev = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain",
                            "--untracked-files=no"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True).stdout.strip()
    return (f"{len(os.sched_getaffinity(0))} CPUs, {model}{' (itself a guest)' if hyper else ''}, "
            f"/dev/kvm: {kvm}; Linux {platform.release()}; {qemu}; Terrarium at "
            f"{rev or 'unknown'}{' with uncommitted changes' if dirty else ''}")


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the VMMs are killed
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--terrarium", help="terrarium-run binary")
    ap.add_argument("--guest", help="memfill.elf (build/tests/guests/memfill.elf)")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    ap.add_argument("--qemu-img", default=shutil.which("qemu-img"))
    ap.add_argument("--sizes", default="256:128,1024:512",
                    help="RAM:module MiB pairs (default %(default)s; QEMU loads no module of "
                         "2 GiB or more)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hz", type=int, default=1000, help="heartbeats a second (default 1000)")
    ap.add_argument("--work-dir", default="/var/tmp/terrarium-bench-snapshot",
                    help="where images, saves and logs go: a disk, not tmpfs (default "
                         "%(default)s)")
    ap.add_argument("--from-results", help="render a raw results JSON of an earlier run")
    ap.add_argument("--note", action="append", default=[], help="a note for the section")
    ap.add_argument("--output", help="Markdown file to put the section in (docs/benchmarks.md)")
    args = ap.parse_args(sys.argv[1:] + shlex.split(os.environ.get("BENCH_SNAPSHOT_ARGS", "")))

    if args.from_results:
        result = json.loads(Path(args.from_results).read_text())
        result["spec"]["notes"] = result["spec"].get("notes", []) + args.note
    else:
        for what in ("terrarium", "guest", "qemu", "qemu_img"):
            if not getattr(args, what) or not os.path.exists(getattr(args, what)):
                die(f"--{what.replace('_', '-')} is missing (build Terrarium; install "
                    "qemu-system-x86 and qemu-utils)")
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            die("/dev/kvm is not usable")
        work = Path(args.work_dir)
        work.mkdir(parents=True, exist_ok=True)
        sizes = [tuple(int(x) for x in s.split(":")) for s in args.sizes.split(",")]
        spec = {"date": datetime.date.today().isoformat(), "machine": machine_description(args),
                "work_dir": str(work), "fs": filesystem_of(work.resolve()),
                "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()), "hz": args.hz,
                "rounds": args.rounds, "sizes": sizes, "notes": args.note}
        result = {"spec": spec, "rows": []}
        raw = work / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
        with open(work / "serial.log", "w") as log:
            for mem, fill in sizes:
                write_module(work / f"module-{fill}.bin", fill, seed=fill)
            for rnd in range(args.rounds):
                for i, (mem, fill) in enumerate(sizes):
                    order = ["terrarium", "qemu"]
                    if (rnd + i) % 2:
                        order.reverse()
                    for vmm in order:
                        log.write(f"==== round {rnd} {vmm} {mem} MiB\n")
                        row = {"round": rnd, "vmm": vmm, "size": f"{mem}:{fill}"}
                        fn = terrarium_round if vmm == "terrarium" else qemu_round
                        # The last save's writeback must not throttle this one's writes.
                        os.sync()
                        try:
                            row.update(fn(args, mem, work / f"module-{fill}.bin", work, log))
                        except BenchError as e:
                            row["error"] = str(e)
                        shown = {k: v for k, v in row.items()
                                 if k not in ("round", "vmm", "size")}
                        print(f"bench-snapshot: round {rnd} {vmm} {mem} MiB: "
                              f"{json.dumps(shown)}", file=sys.stderr)
                        result["rows"].append(row)
                        raw.write_text(json.dumps(result, indent=1))
        print(f"bench-snapshot: raw results in {raw}", file=sys.stderr)
    section = build_section(result)
    print(section)
    if args.output:
        benchdoc.write_section(args.output, SECTION, section)
        print(f"bench-snapshot: wrote the \"{SECTION}\" section of {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
