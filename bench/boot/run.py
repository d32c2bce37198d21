#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The boot benchmark: Linux to its init under terrarium-run beside QEMU, in the lab.

Boots the host's Debian kernel (/boot/vmlinuz-6.1.*) with the lab's busybox
initramfs (tests/lab/mk-initramfs.py: its /init prints TERRARIUM-INIT-OK and
UPTIME=<guest seconds>, then runs `poweroff -f`) under terrarium-run, QEMU
-M pc and QEMU -M microvm, all with the same kernel command line, memory and
vCPU count, inside ONE start of the nested-KVM lab (tests/lab/). Per run it
records, from a Python wrapper in the lab that timestamps every serial line:

  start -> init   process start to the TERRARIUM-INIT-OK line (the primary figure)
  start -> exit   process start to the end of the process (after `poweroff -f`)
  guest uptime    the guest's /proc/uptime when its init ran

Round 0 is the cold run (page cache dropped before each VMM, Terrarium's
kernel cache emptied); rounds 1..N are warm. Every round runs each VMM once
per guest configuration, the order rotating between rounds.

Prints a Markdown table and puts it into docs/benchmarks.md as the "boot"
section (replacing an older "boot" section, keeping every other one).
Python 3 standard library only.

    run.py --terrarium PATH [--rounds N] [--configs 1cpu,2cpu,1cpu-verbose] [--output MD]
    run.py --from-results RESULTS.json [--output MD]   # re-render a run's raw results
    run.py inlab SPEC.json                             # inside the lab; not for humans
"""

import argparse
import datetime
import json
import mmap
import os
import platform
import re
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import benchdoc  # noqa: E402

SECTION = "boot"
SRC = Path(__file__).resolve().parents[2]
LAB_DIR = SRC / "tests" / "lab"
RESULTS = "boot-results.json"

# Guest configurations: name -> (vCPUs, kernel command line). Every VMM gets
# the same command line; `quiet` keeps the (slow, nested) serial port short.
# `noxsave`, as in the lab suite (tests/lab/suite.py): the lab's TCG does not
# intercept a nested guest's XSETBV, so a guest that uses XSAVE loses vector
# state at random there; with noxsave it uses FXSAVE. Only a lab artifact.
GUEST_APPEND = "console=ttyS0 noxsave"
CONFIGS = {
    "1cpu": (1, GUEST_APPEND + " quiet trm.action=poweroff"),
    "2cpu": (2, GUEST_APPEND + " quiet trm.action=poweroff"),
    "1cpu-verbose": (1, GUEST_APPEND + " trm.action=poweroff"),
}
CONFIG_LABEL = {
    "1cpu": "1 vCPU, `quiet`",
    "2cpu": "2 vCPUs, `quiet`",
    "1cpu-verbose": "1 vCPU, full kernel log",
}
VMM_LABEL = {"terrarium": "terrarium-run", "terrarium-nocache": "terrarium-run --no-kernel-cache",
             "pc": "QEMU -M pc", "microvm": "QEMU -M microvm"}
# The microvm that boots a bzImage with a serial console and ends on
# `poweroff -f`: qboot loads the kernel from fw_cfg itself (no linuxboot
# option ROM), ACPI (on by default) gives the guest a way to power off, the
# ISA serial port, PIC and PIT stay at their defaults, and QEMU adds nothing
# to the kernel command line. rtc=on: under KVM microvm leaves the CMOS RTC
# out by default, but its ACPI tables do not say so, and Linux then spends
# seconds probing a clock that is not there ("rtc_cmos: broken or not
# accessible"; 3.6 s of a 7.4 s kernel boot in the lab).
MICROVM = "microvm,x-option-roms=off,rtc=on,auto-kernel-cmdline=off"
QEMU_COMMON = ["-accel", "kvm", "-cpu", "host", "-nodefaults", "-no-user-config",
               "-serial", "stdio", "-display", "none", "-no-reboot"]
INIT_MARK = "TERRARIUM-INIT-OK"
# A kernel log line on the console: "[   12.345678] text".
PRINTK = re.compile(r"^\[\s*(\d+\.\d+)\] (.*)$")
# Where terrarium-run keeps its cache of decompressed kernels inside the lab
# (HOME=/tmp there, a fresh tmpfs); emptied before each cold run.
CACHE_HOME = "/tmp/bench-boot-cache"

RUN_TIMEOUT = 180      # seconds from start to init before a run counts as failed
EXIT_GRACE = 30        # seconds after init for the VMM to end by itself


def die(msg):
    print(f"bench-boot: {msg}", file=sys.stderr)
    sys.exit(1)


# ------------------------------------------------------------ inside the lab

def note_printk(res, now, line):
    """Milestones of a kernel log line that arrived at `now`: the first one on
    the console (once the kernel has registered it: the log so far then comes
    out in a burst), and `Run /init`. Also the kernel's own timestamps; they
    are kept, not reported: in the lab the guest's clock does not keep pace
    with the wall clock (its early lines come out stamped seconds apart that
    arrived together, and later it drifts by 10-20%)."""
    m = PRINTK.match(line)
    if not m:
        return
    if res.get("first_printk_s") is None:
        res["first_printk_s"] = now
    z = now - float(m.group(1))
    if res.get("kclock0_s") is None or z < res["kclock0_s"]:
        res["kclock0_s"] = z
    if m.group(2).startswith("Run /init as init process"):
        res["run_init_s"] = now
        res["krun_init"] = float(m.group(1))


def fill_from_log(res, logpath):
    """Adds milestones that an older in-lab driver did not record, from the
    boot's timestamped serial log ("  seconds line" per line)."""
    if res.get("first_printk_s") is not None or not os.path.exists(logpath):
        return
    with open(logpath, errors="replace") as f:
        for raw in f:
            t, _, line = raw.strip().partition(" ")
            try:
                note_printk(res, float(t), line.strip())
            except ValueError:
                continue


def timed_boot(run, logpath):
    """Starts one VMM, timestamps its serial lines until it ends; returns the
    measures. Times are seconds from just before the process was started."""
    res = {"init_s": None, "exit_s": None, "uptime": None, "first_line_s": None,
           "first_printk_s": None, "run_init_s": None, "kclock0_s": None, "krun_init": None,
           "lines": 0, "returncode": None, "killed": False, "error": None}
    env = dict(os.environ, **run.get("env", {}))
    errf = open(logpath + ".stderr", "wb")
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(run["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=errf, env=env, start_new_session=True)
    except OSError as e:
        errf.close()
        res["error"] = f"cannot start {run['argv'][0]}: {e}"
        return res
    fd = p.stdout.fileno()
    deadline = t0 + RUN_TIMEOUT
    buf = b""
    with open(logpath, "w") as log:
        while True:
            now = time.monotonic()
            if now >= deadline:
                res["killed"] = True
                if res["init_s"] is None:
                    res["error"] = f"no {INIT_MARK} within {RUN_TIMEOUT} s"
                else:
                    res["error"] = f"still running {EXIT_GRACE} s after init"
                break
            r, _, _ = select.select([fd], [], [], min(deadline - now, 1.0))
            if not r:
                continue
            chunk = os.read(fd, 65536)
            now = time.monotonic() - t0
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            for raw in done:
                line = raw.decode(errors="replace").replace("\r", "").strip()
                res["lines"] += 1
                log.write(f"{now:9.3f} {line}\n")
                if res["first_line_s"] is None and line:
                    res["first_line_s"] = now
                if line == INIT_MARK and res["init_s"] is None:
                    res["init_s"] = now
                    deadline = t0 + now + EXIT_GRACE
                elif line.startswith("["):
                    note_printk(res, now, line)
                elif line.startswith("UPTIME=") and res["uptime"] is None:
                    try:
                        res["uptime"] = float(line[len("UPTIME="):])
                    except ValueError:
                        pass
    if p.poll() is None and res["killed"]:
        os.killpg(p.pid, signal.SIGKILL)
    res["returncode"] = p.wait()
    end = time.monotonic() - t0
    p.stdout.close()
    errf.close()
    if not res["killed"]:
        res["exit_s"] = end
        if res["init_s"] is None:
            res["error"] = f"ended with status {res['returncode']} before {INIT_MARK}"
        elif res["returncode"] != 0:
            res["error"] = f"ended with status {res['returncode']} after poweroff"
    return res


THP = "/sys/kernel/mm/transparent_hugepage/enabled"


def lab_info():
    info = {"uname": platform.release(), "nproc": os.cpu_count()}
    try:
        with open(THP) as f:
            info["thp"] = f.read().strip()
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def drop_caches():
    """Makes the next run read its binary, libraries, kernel and initrd again
    (over the lab's 9p share, from the host's page cache)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


MADV_POPULATE_WRITE = 23  # Linux 5.14; not among the mmap module's constants in Python 3.11


def scrub(mib):
    """Writes `mib` MiB of fresh anonymous memory once and frees it: the lab
    kernel hands the pages the last boot freed to this process first, and
    writing them here makes the lab's TCG drop the code it had translated
    from them (the last guest's kernel ran there). Without this the next boot,
    whichever VMM, stalls 0.2-0.6 s on each such 2 MiB page it is given
    (bench/README.md). Returns the milliseconds it took, None without it."""
    if not mib:
        return None
    t0 = time.monotonic()
    try:
        m = mmap.mmap(-1, mib << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except OSError:
        return None
    try:
        m.madvise(mmap.MADV_HUGEPAGE)
        m.madvise(MADV_POPULATE_WRITE)
    except OSError:
        for off in range(0, mib << 20, 4096):  # before Linux 5.14: one byte per page
            m[off] = 1
    finally:
        m.close()
    return round((time.monotonic() - t0) * 1000)


def inlab(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    out = Path(os.environ["TERRARIUM_LAB_RUN_DIR"])
    logs = out / "boot-logs"
    logs.mkdir(exist_ok=True)
    if spec.get("lab_thp"):
        # The lab kernel's transparent huge pages for every VMM alike (--lab-thp).
        try:
            with open(THP, "w") as f:
                f.write(spec["lab_thp"] + "\n")
        except OSError as e:
            print(f"[bench-boot] cannot set {THP}: {e}", flush=True)
    result = {"spec": spec, "lab": lab_info(), "runs": [], "started": time.time()}
    if not os.path.exists("/dev/kvm"):
        print("[bench-boot] no /dev/kvm in the lab", flush=True)
    vmms = spec["vmms"]
    first = spec.get("start_round", 0)
    if first > 0:
        # A resumed batch in a fresh lab: one unrecorded boot of each VMM first,
        # so the warm rounds find the page cache (and the kernel cache) warm.
        result["warmups"] = []
        cfg = spec["configs"][0]
        for vmm in vmms:
            scrub(spec.get("scrub_mib", 0))
            res = timed_boot(spec["runs"][cfg][vmm], str(logs / f"warmup-{cfg}-{vmm}.log"))
            res.update(config=cfg, vmm=vmm)
            result["warmups"].append(res)
            init = "—" if res["init_s"] is None else f"{res['init_s']:.2f}"
            print(f"[bench-boot] warm-up {cfg} {vmm}: init {init} s", flush=True)
    for r in range(first, spec["rounds"] + 1):
        cold = r == 0
        for ci, cfg in enumerate(spec["configs"]):
            # Rotate the VMM order between rounds (and configurations), so a
            # lab that slows down for a while slows everyone down alike.
            shift = (r + ci) % len(vmms)
            for vmm in vmms[shift:] + vmms[:shift]:
                run = spec["runs"][cfg][vmm]
                if cold:
                    # The kernel cache is emptied for the boot that uses it only: emptied
                    # again after it (before another VMM's cold boot), the first warm
                    # round would unpack the kernel once more.
                    for d in run.get("cold_clear", []):
                        shutil.rmtree(d, ignore_errors=True)
                    dropped = drop_caches()
                name = f"r{r}-{cfg}-{vmm}"
                scrub_ms = scrub(spec.get("scrub_mib", 0))
                res = timed_boot(run, str(logs / f"{name}.log"))
                res.update(round=r, config=cfg, vmm=vmm, cold=cold, scrub_ms=scrub_ms,
                           dropped_caches=cold and dropped, log=f"boot-logs/{name}.log")
                result["runs"].append(res)
                with open(out / RESULTS, "w") as f:  # after every run: a timeout keeps the rest
                    json.dump(result, f, indent=1)
                fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
                print(f"[bench-boot] round {r}{' (cold)' if cold else ''} {cfg} {vmm}: "
                      f"init {fmt(res['init_s'])} s, exit {fmt(res['exit_s'])} s, "
                      f"uptime {fmt(res['uptime'])} s"
                      f"{'; ' + res['error'] if res['error'] else ''}", flush=True)
    result["finished"] = time.time()
    with open(out / RESULTS, "w") as f:
        json.dump(result, f, indent=1)
    return 0


# ------------------------------------------------------------- on the host

def make_spec(args, kernel, initrd):
    runs = {}
    for cfg in args.configs:
        cpus, append = CONFIGS[cfg]
        qemu = [args.qemu, *QEMU_COMMON, "-m", str(args.mem), "-smp", str(cpus),
                "-kernel", kernel, "-initrd", initrd, "-append", append]
        runs[cfg] = {
            "terrarium": {"argv": [args.terrarium, "--kernel", kernel, "--initrd", initrd,
                                   "--append", append, "--mem", str(args.mem),
                                   "--cpus", str(cpus), "--serial", "stdio"],
                          "env": {"XDG_CACHE_HOME": CACHE_HOME},
                          "cold_clear": [CACHE_HOME, "/tmp/.cache/terrarium"]},
            "terrarium-nocache": {"argv": [args.terrarium, "--no-kernel-cache", "--kernel", kernel,
                                           "--initrd", initrd, "--append", append,
                                           "--mem", str(args.mem), "--cpus", str(cpus),
                                           "--serial", "stdio"]},
            "pc": {"argv": qemu + ["-M", "pc"]},
            "microvm": {"argv": qemu + ["-M", MICROVM]},
        }
        runs[cfg] = {k: v for k, v in runs[cfg].items() if k in args.vmms}
    return {"rounds": args.rounds, "configs": args.configs, "vmms": args.vmms, "runs": runs,
            "lab_thp": args.lab_thp, "scrub_mib": args.scrub,
            "mem": args.mem, "kernel": kernel, "initrd": initrd,
            "appends": {c: CONFIGS[c][1] for c in args.configs},
            "qemu_common": QEMU_COMMON, "microvm": MICROVM}


def has_option(binary, opt):
    try:
        h = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return opt in h


def git_rev():
    rev = subprocess.run(["git", "-C", str(SRC), "rev-parse", "--short", "HEAD"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(SRC), "status", "--porcelain", "--untracked-files=no"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return (rev + (" with uncommitted changes" if dirty.strip() else "")) if rev else "unknown"


def host_info(args):
    model, hyper = "unknown CPU", False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags") and " hypervisor" in line:
                    hyper = True
    except OSError:
        pass
    v = subprocess.run([args.qemu, "--version"], stdout=subprocess.PIPE, text=True) \
        if args.qemu else None
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    sys.path.insert(0, str(LAB_DIR))
    import lab  # noqa: E402
    return {"cpu": model, "hypervisor": hyper, "ncpu": len(os.sched_getaffinity(0)),
            "kernel": platform.release(), "loadavg": load,
            "qemu": v.stdout.splitlines()[0].strip() if v and v.stdout else "no QEMU",
            "terrarium": args.terrarium_rev or git_rev(), "date": datetime.date.today().isoformat(),
            "lab_cpu": lab.LAB_CPU, "lab_smp": lab.LAB_SMP, "lab_mem": lab.LAB_MEM}


class LabStalled(Exception):
    pass


class StallWatch(threading.Thread):
    """Stops a lab that has hung. The in-lab driver prints a line on the lab
    console after every boot and gives up on a boot after RUN_TIMEOUT, so a
    console that stays silent much longer than that means the lab itself is
    stuck (it has happened: both lab CPUs busy, nothing moving). Then SIGUSR1
    makes the main thread raise LabStalled inside lab.run, which stops the lab."""

    def __init__(self, runs_dir, stall):
        super().__init__(daemon=True)
        self.runs_dir, self.stall = runs_dir, stall
        self.started = time.time()
        self.run_dir = None
        self.done = threading.Event()

    def on_signal(self, *_):
        if not self.done.is_set():
            raise LabStalled()

    def run(self):
        while not self.done.wait(10):
            if self.run_dir is None:  # lab.run makes it once it has the lab lock
                new = [d for d in self.runs_dir.glob("run-*") if d.stat().st_mtime >= self.started]
                if not new:
                    continue
                self.run_dir = str(max(new, key=lambda d: d.stat().st_mtime))
            try:
                last = (Path(self.run_dir) / "console.log").stat().st_mtime
            except OSError:
                last = Path(self.run_dir).stat().st_mtime
            if time.time() - last > self.stall:
                self.diagnose()
                os.kill(os.getpid(), signal.SIGUSR1)
                return

    def diagnose(self):
        """Notes which threads of the hung lab's QEMU (our child) use CPU, for
        whoever chases the hang: vCPU threads spinning versus an idle lab."""
        def ticks(pid):
            out = {}
            for t in Path(f"/proc/{pid}/task").iterdir():
                f = (t / "stat").read_text().rsplit(")", 1)[1].split()
                out[t.name] = int(f[11]) + int(f[12])
            return out
        try:
            me = str(os.getpid())
            kids = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and
                    (p / "stat").read_text().rsplit(")", 1)[1].split()[1] == me]
            lines = []
            for pid in kids:
                a = ticks(pid)
                time.sleep(3)
                b = ticks(pid)
                busy = {t: b[t] - a.get(t, 0) for t in b}
                lines.append(f"lab pid {pid}: CPU ticks per thread over 3 s: " +
                             " ".join(f"{t}:{v}" for t, v in sorted(busy.items())))
            text = "\n".join(lines) or "no child process found"
            (Path(self.run_dir) / "stall-threads.txt").write_text(text + "\n")
            print(f"bench-boot: lab stalled; {text}", file=sys.stderr)
        except (OSError, IndexError, ValueError) as e:
            print(f"bench-boot: lab stalled (no thread sample: {e})", file=sys.stderr)


def run_lab(args):
    sys.path.insert(0, str(LAB_DIR))
    import lab  # noqa: E402
    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    initrd = str(work / "guest-initramfs.cpio")
    if subprocess.call([sys.executable, str(LAB_DIR / "mk-initramfs.py"), initrd]) != 0:
        die("could not build the guest initramfs (tests/lab/mk-initramfs.py)")
    try:
        kernel = args.kernel or lab.find_kernel()
    except lab.Skip as e:
        die(str(e))
    spec = make_spec(args, kernel, initrd)
    spec["host"] = host_info(args)
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    n = (args.rounds + 1) * len(args.configs) * len(args.vmms)
    timeout = args.lab_timeout or n * (60 + args.scrub // 64) + 300
    print(f"bench-boot: {n} boots in one lab start (timeout {timeout} s)", file=sys.stderr)
    kept, starts, result = [], [], None
    for attempt in range(args.lab_starts):
        status, run_dir = one_lab(lab, args, spec_path, timeout, work)
        res_path = Path(run_dir or ".") / RESULTS
        if not run_dir or not res_path.exists():
            die(f"the lab ended (status {status}) without results; see {run_dir}/console.log")
        with open(res_path) as f:
            result = json.load(f)
        for r in result["runs"]:
            fill_from_log(r, str(Path(run_dir) / r.get("log", "-")))
        starts.append({"run_dir": run_dir, "status": status,
                       "start_round": spec.get("start_round", 0), "boots": len(result["runs"])})
        result["runs"] = kept + result["runs"]
        if "finished" in result:
            break
        # The lab hung or died: redo the round it was in, in a fresh lab.
        per_round = len(args.configs) * len(args.vmms)
        done = {}
        for r in result["runs"]:
            done[r["round"]] = done.get(r["round"], 0) + 1
        redo = min([r for r in range(args.rounds + 1) if done.get(r, 0) < per_round])
        kept = [r for r in result["runs"] if r["round"] < redo]
        spec["start_round"] = redo
        spec_path.write_text(json.dumps(spec, indent=1))
        more = attempt + 1 < args.lab_starts
        print(f"bench-boot: the lab ended (status {status}) after {len(result['runs'])} of {n} "
              f"boots; {f'starting another lab from round {redo}' if more else 'giving up'}",
              file=sys.stderr)
    result["spec"].pop("start_round", None)
    result["lab_starts"] = starts
    result["lab_status"] = starts[-1]["status"]
    result["run_dir"] = starts[-1]["run_dir"]
    keep = work / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    keep.write_text(json.dumps(result, indent=1))
    print(f"bench-boot: raw results in {keep}", file=sys.stderr)
    return result


def one_lab(lab, args, spec_path, timeout, work):
    """One lab start running `run.py inlab`; returns (status, run directory)."""
    watch = StallWatch(work / "lab" / "runs", args.stall)
    signal.signal(signal.SIGUSR1, watch.on_signal)
    watch.start()
    try:
        # The lab's PATH finds /usr/bin/python3, which runs there; sys.executable
        # may be a shim that does not.
        return lab.run(["python3", str(Path(__file__).resolve()), "inlab", str(spec_path)],
                       timeout=timeout, work_dir=str(work / "lab"), cwd="/",
                       quiet=not args.verbose)
    except lab.Skip as e:
        die(f"the lab cannot run here: {e}")
    except LabStalled:
        # lab.run has stopped the lab on the way out; keep what it recorded.
        print(f"bench-boot: the lab made no progress for {args.stall:.0f} s and was stopped",
              file=sys.stderr)
        return "stalled", watch.run_dir
    finally:
        watch.done.set()


# ---------------------------------------------------------------- report

def cell(xs, fmt="{:.2f}"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "—"
    m = fmt.format(statistics.median(xs))
    if len(xs) == 1:
        return m
    return f"{m} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def build_section(result):
    spec = result["spec"]
    host = spec["host"]
    runs = result["runs"]
    rounds = spec["rounds"]

    def pick(cfg, vmm, cold):
        return [r for r in runs if r["config"] == cfg and r["vmm"] == vmm and r["cold"] == cold]

    def field(rs, name):
        return [r[name] for r in rs if r.get(name) is not None]

    def before_clock(rs):
        return [r["init_s"] - r["uptime"] for r in rs
                if r.get("init_s") is not None and r.get("uptime") is not None]

    def ratios(cfg, vmm, ref="pc"):
        """Per round: this VMM's time to init over the reference's, both run in
        the same round, close together in time."""
        out = []
        for rnd in range(1, rounds + 1):
            a = [r["init_s"] for r in runs if r["round"] == rnd and r["config"] == cfg
                 and r["vmm"] == vmm and r.get("init_s") is not None]
            b = [r["init_s"] for r in runs if r["round"] == rnd and r["config"] == cfg
                 and r["vmm"] == ref and r.get("init_s") is not None]
            if a and b:
                out.append(a[0] / b[0])
        return out

    head = ("| guest | VMM | start → init, s | ÷ QEMU -M pc | start → exit, s "
            "| guest uptime at init, s | start → init − uptime, s | cold: start → init, s "
            "| cold: start → exit, s |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    failures = []
    for cfg in spec["configs"]:
        for vmm in spec["vmms"]:
            warm, cold = pick(cfg, vmm, False), pick(cfg, vmm, True)
            for r in warm + cold:
                if r.get("error"):
                    failures.append(f"{VMM_LABEL[vmm]}, {CONFIG_LABEL[cfg]}, round {r['round']}: "
                                    f"{r['error']}")
            rat = ratios(cfg, vmm) if vmm != "pc" else []
            lines.append(
                f"| {CONFIG_LABEL[cfg]} | {VMM_LABEL[vmm]} | {cell(field(warm, 'init_s'))} "
                f"| {cell(rat) if vmm != 'pc' else '1'} | {cell(field(warm, 'exit_s'))} "
                f"| {cell(field(warm, 'uptime'))} | {cell(before_clock(warm))} "
                f"| {cell(field(cold, 'init_s'))} | {cell(field(cold, 'exit_s'))} |")
    table = "\n".join(lines)

    notes = []
    primary = spec["configs"][0]
    if "terrarium" in spec["vmms"] and "pc" in spec["vmms"]:
        rat = ratios(primary, "terrarium")
        if rat:
            m = statistics.median(rat)
            notes.append(f"Target (boot to init ≤ 0.5 × QEMU -M pc, {CONFIG_LABEL[primary]}): "
                         f"terrarium-run takes {cell(rat)} of QEMU -M pc's time "
                         f"{'✓' if m <= 0.5 else '✗ (not met)'}.")
    if "terrarium" in spec["vmms"] and "microvm" in spec["vmms"]:
        rat = ratios(primary, "terrarium", "microvm")
        if rat:
            notes.append(f"terrarium-run ÷ QEMU -M microvm ({CONFIG_LABEL[primary]}): "
                         f"{cell(rat)}.")
    notes += failures
    planned = (rounds + 1) * len(spec["configs"]) * len(spec["vmms"])
    starts = result.get("lab_starts", [])
    if len(starts) > 1:
        notes.append(f"The lab hung or died {len(starts) - 1} time(s) (status "
                     f"{', '.join(str(x['status']) for x in starts[:-1])}); each time a new lab "
                     "redid the unfinished round after one unrecorded warm-up boot per VMM, "
                     f"{len(starts)} lab starts in all.")
    if len(runs) < planned:
        notes.append(f"Incomplete: the lab stopped after {len(runs)} of {planned} boots "
                     f"(status {result.get('lab_status', '?')}); the figures above are from the "
                     f"rounds that ran.")

    # Where the time goes, by wall clock, from boots with the whole kernel log on
    # the console: when its first line arrives (the kernel has set up its console,
    # well after decompression and early start-up) and when `Run /init` does.
    split = []
    for cfg in spec["configs"]:
        for vmm in spec["vmms"]:
            warm = [r for r in pick(cfg, vmm, False)
                    if None not in (r.get("first_printk_s"), r.get("run_init_s"), r.get("init_s"))]
            if not warm:
                continue
            split.append(
                f"| {CONFIG_LABEL[cfg]} | {VMM_LABEL[vmm]} "
                f"| {cell([r['first_printk_s'] for r in warm])} "
                f"| {cell([r['run_init_s'] - r['first_printk_s'] for r in warm])} "
                f"| {cell([r['init_s'] - r['run_init_s'] for r in warm])} "
                f"| {cell([r['init_s'] for r in warm])} |")
    if split:
        split = [
            "",
            "Where the time goes, by wall clock (warm rounds; the kernel's own timestamps are no "
            "guide in the lab, where the guest's clock does not keep pace): the first kernel "
            "line reaches the serial port when the kernel registers its console, after the "
            "VMM's start-up, any firmware, the decompression of the kernel and the kernel's "
            "early set-up; it then prints its log as it goes.",
            "",
            "| guest | VMM | start → first kernel line, s | → `Run /init`, s "
            "| → `TERRARIUM-INIT-OK`, s | start → init, s |",
            "|---|---|---|---|---|---|",
        ] + split

    appends = "; ".join(f"`{spec['appends'][c]}` ({CONFIG_LABEL[c]})" for c in spec["configs"]) \
        if "appends" in spec else "`console=ttyS0 [quiet] trm.action=poweroff`"
    lab = result.get("lab", {})
    kver = Path(spec["kernel"]).name[len("vmlinuz-"):]
    body = [
        f"## {SECTION} — {host['date']}",
        "",
        f"Machine: {host['ncpu']} CPUs, {host['cpu']}"
        f"{' (itself a guest)' if host.get('hypervisor') else ''}; Linux {host['kernel']}; "
        f"{host['qemu']}; Terrarium at {host['terrarium']}. "
        f"Lab: QEMU TCG `-cpu {host['lab_cpu']} -smp {host['lab_smp']} -m {host['lab_mem']}`, "
        f"lab kernel {lab.get('uname', '?')} with kvm-amd (nested SVM), {lab.get('nproc', '?')} "
        f"CPUs seen in the lab, transparent huge pages there `{lab.get('thp', '?')}`; the VMMs "
        f"run there with the lab's /dev/kvm. "
        f"Host load average at the start: {host['loadavg']}.",
        "",
        f"Guest: Debian kernel {kver} (bzImage, xz) with the busybox initramfs of "
        f"tests/lab/mk-initramfs.py; the same command line for every VMM: {appends} "
        f"(`noxsave`: see bench/README.md); {spec['mem']} MiB. terrarium-run `--serial stdio`; "
        f"QEMU `{' '.join(spec.get('qemu_common', QEMU_COMMON))}` with `-M pc` or "
        f"`-M {spec.get('microvm', MICROVM)}`. "
        f"Medians of {rounds} warm rounds (min–max in brackets); in each round every VMM "
        "boots each guest once, the order rotating. *start → init*: process start to the "
        f"`{INIT_MARK}` line on the serial port, as timestamped by a Python wrapper in the lab "
        "(the primary figure); *start → exit*: to the end of the process after the guest's "
        "`poweroff -f`; *guest uptime*: the guest's /proc/uptime at init; start → init − uptime "
        "is roughly VMM start-up, firmware and kernel decompression (roughly: /proc/uptime is "
        "CLOCK_BOOTTIME, which advances by timer ticks until the kernel switches to kvm-clock "
        "and falls behind on a slow vCPU, so it undercounts). The ratio to QEMU -M pc is the "
        "median of per-round ratios. *Cold* is round 0, one run: the lab's page cache dropped before each VMM "
        "(so binaries, libraries, kernel and initrd come over the lab's 9p share again) and "
        "terrarium-run's kernel cache empty. "
        + (f"Before every boot the lab writes {spec['scrub_mib']} MiB of fresh memory and frees "
           "it again (`--scrub`, bench/README.md), so that no boot is handed memory whose code "
           "the lab's TCG translated for the boot before it. " if spec.get("scrub_mib") else "")
        + "Produced by `ninja -C build bench-boot` (bench/boot/run.py).",
        "",
        table,
    ] + split + [""]
    body += [f"- {n}" for n in notes]
    return "\n".join(body) + "\n"


# ------------------------------------------------------------------ main

def main():
    if sys.argv[1:2] == ["inlab"]:
        if len(sys.argv) != 3:
            die("usage: run.py inlab SPEC.json")
        sys.exit(inlab(sys.argv[2]))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: lab.py kills its QEMU
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--terrarium", help="terrarium-run binary")
    ap.add_argument("--terrarium-rev",
                    help="what terrarium-run was built from, for the report (default: this "
                         "source tree's git revision)")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"),
                    help="qemu-system-x86_64 (default: from PATH)")
    ap.add_argument("--kernel", help="guest bzImage (default: the lab's /boot/vmlinuz-6.1.*)")
    ap.add_argument("--rounds", type=int, default=5, help="warm rounds after the cold one (5)")
    ap.add_argument("--configs", default="1cpu,2cpu,1cpu-verbose",
                    help=f"guest configurations, the first one is the target's "
                         f"(default %(default)s; of {', '.join(CONFIGS)})")
    ap.add_argument("--vmms", help="of terrarium, terrarium-nocache, pc, microvm (default: all; "
                    "terrarium-nocache only when terrarium-run has --no-kernel-cache)")
    ap.add_argument("--mem", type=int, default=512, help="guest RAM in MiB (default 512)")
    ap.add_argument("--lab-thp", choices=["always", "madvise", "never"],
                    help="the lab kernel's transparent huge pages (default: as the lab kernel boots); "
                         "`never` removes the 0.2-0.6 s huge-page faults that make lab boots "
                         "vary (bench/README.md)")
    ap.add_argument("--scrub", type=int, metavar="MiB",
                    help="before every boot, write this much fresh memory in the lab and free "
                         "it, so no VMM is handed pages whose code the lab's TCG had translated "
                         "for the previous boot (default: guest RAM + 256 MiB; 0: off)")
    ap.add_argument("--work-dir", default=str(SRC / "build" / "bench-boot"),
                    help="initramfs, spec, lab and raw results (not under /tmp)")
    ap.add_argument("--lab-timeout", type=float, help="seconds (default: 60 per boot + 300)")
    ap.add_argument("--stall", type=float, default=RUN_TIMEOUT + 120,
                    help="stop the lab when its console stays silent this long (default "
                         "%(default)s s)")
    ap.add_argument("--lab-starts", type=int, default=3,
                    help="lab starts allowed: a lab that hangs or dies is replaced by a new "
                         "one that redoes the unfinished round (default %(default)s)")
    ap.add_argument("--verbose", action="store_true", help="stream the lab console")
    ap.add_argument("--from-results", help="render a raw results JSON of an earlier run")
    ap.add_argument("--output", help="Markdown file to put the section in (docs/benchmarks.md)")
    # `ninja bench-boot` has a fixed command line; BENCH_BOOT_ARGS adds to it.
    args = ap.parse_args(sys.argv[1:] + shlex.split(os.environ.get("BENCH_BOOT_ARGS", "")))

    if args.from_results:
        with open(args.from_results) as f:
            result = json.load(f)
        base = Path(result.get("run_dir") or Path(args.from_results).parent)
        for r in result["runs"]:
            fill_from_log(r, str(base / r.get("log", "-")))
    else:
        args.configs = args.configs.split(",")
        if args.scrub is None:
            args.scrub = args.mem + 256
        if args.vmms:
            args.vmms = args.vmms.split(",")
        else:
            args.vmms = ["terrarium", "pc", "microvm"]
            if args.terrarium and has_option(args.terrarium, "--no-kernel-cache"):
                args.vmms.insert(1, "terrarium-nocache")
        bad = [c for c in args.configs if c not in CONFIGS] + \
            [v for v in args.vmms if v not in VMM_LABEL]
        if bad:
            die(f"unknown configuration or VMM: {', '.join(bad)}")
        if args.rounds < 1:
            die("--rounds must be at least 1")
        if "terrarium" in args.vmms and not (args.terrarium and os.access(args.terrarium,
                                                                         os.X_OK)):
            die("--terrarium: no terrarium-run binary given (build it first)")
        if not args.qemu and any(v != "terrarium" for v in args.vmms):
            die("no qemu-system-x86_64 found; install qemu-system-x86 or use --vmms terrarium")
        if str(Path(args.work_dir).resolve()).startswith("/tmp"):
            die("--work-dir must not be under /tmp (the lab has its own empty /tmp)")
        args.terrarium = os.path.abspath(args.terrarium) if args.terrarium else None
        result = run_lab(args)
    section = build_section(result)
    print(section)
    if args.output:
        benchdoc.write_section(args.output, SECTION, section)
        print(f"bench-boot: wrote the \"{SECTION}\" section of {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
