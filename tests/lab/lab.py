#!/usr/bin/env python3
"""The lab: a QEMU TCG machine with emulated AMD SVM + nested paging, in which the
host's Debian kernel loads kvm-amd, so a real /dev/kvm exists even where the
machine's own /dev/kvm is too slow to boot Linux (see tests/lab/README.md).

The lab sees the host's whole file tree read-only over virtio-9p (so freshly
built binaries run in it unchanged) and one writable 9p share, the "run
directory", mounted at the same path it has on the host. Its init chroots into
the host tree and runs one command as root, then powers the lab off.

    lab.py run [--timeout S] [--work-dir DIR] [--env K=V] -- CMD ARGS...
    lab.py info                      # what the lab would boot, or why it can't
    lab.py build                     # only build (or reuse) the lab initramfs

`run` exits with CMD's exit status; 77 (and `SKIP: reason`) when the lab can't
be built on this machine; 124 on timeout; 125 when the lab failed before or
around CMD (no exit status recorded). Python 3 standard library only.
"""

import argparse
import bisect
import fcntl
import glob
import gzip
import hashlib
import lzma
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import newc  # noqa: E402

EXIT_SKIP = 77
EXIT_TIMEOUT = 124
EXIT_LAB_FAILED = 125
EXIT_STALLED = 126  # the lab stopped making progress (see _boot's stall_timeout)
EXIT_LAB_DIED = 123  # the lab kernel ended (a panic) while the command ran

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_WORK_DIR = os.path.join(REPO, "build", "lab")
LOCK_PATH = "/tmp/terrarium-lab.lock"

# What the lab kernel must load; their dependencies are resolved from modules.dep.
# Built-in ones are skipped. kvm_amd comes last so /dev/kvm appears after the
# shares are up (a failure there is reported, not fatal: the command decides).
LAB_MODULES = ["virtio_pci", "9pnet_virtio", "9p"]
KVM_MODULES = ["kvm_amd"]

# Emulated CPU: TCG's "max" (vendor AMD, so kvm-amd loads) with SVM and nested
# paging, which TCG emulates; the lab kernel's kvm-amd then has a real /dev/kvm.
# Not qemu64: terrarium needs KVM_CAP_XSAVE/XCRS, which KVM offers only on an
# XSAVE CPU, and qemu64,+xsave hangs the lab kernel at boot. EPYC hangs nested
# guests (soft lockup). -la57 keeps 4-level paging (cheaper TCG page walks);
# -mpx,-pku shrink the XSAVE area KVM swaps on every exit to userspace (~25%
# faster nested boots). Removing AVX breaks nested guests (XSAVE layout).
LAB_CPU = os.environ.get("TERRARIUM_LAB_CPU", "max,-la57,-mpx,-pku,+svm,+npt")
LAB_SMP = int(os.environ.get("TERRARIUM_LAB_SMP", "2"))
LAB_MEM = os.environ.get("TERRARIUM_LAB_MEM", "6G")
# 9p message size: the 6.1 virtio transport caps it near 500 KiB.
MSIZE = 262144
# mitigations=off: speculative-execution workarounds cost a lot under TCG and
# protect nothing in a throwaway lab. panic=-1 + -no-reboot: a lab panic ends QEMU.
# The lab reaches its init's "ready" line in 3-6 s; far longer means it is broken.
BOOT_TIMEOUT = 120
# nokaslr: a stalled lab's CPU addresses then read straight against /boot/System.map-*.
LAB_APPEND = ("console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off tsc=reliable "
              "8250.nr_uarts=1 nokaslr")
# e.g. TERRARIUM_LAB_APPEND="loglevel=7" to see the lab kernel's whole boot log.
LAB_APPEND += " " + os.environ.get("TERRARIUM_LAB_APPEND", "")


class Skip(Exception):
    """The lab cannot run on this machine (missing package, kernel or module)."""


# --------------------------------------------------------------------------
# What to boot

def _kver(path):
    return os.path.basename(path)[len("vmlinuz-"):]


def _version_key(ver):
    return [int(x) if x.isdigit() else x for x in re.split(r"[.-]", ver)]


def find_kernel():
    """The newest /boot/vmlinuz-6.1.* with its modules installed (Debian 12's
    linux-image-amd64); TERRARIUM_LAB_KERNEL overrides."""
    forced = os.environ.get("TERRARIUM_LAB_KERNEL")
    cands = [forced] if forced else sorted(glob.glob("/boot/vmlinuz-6.1.*"),
                                           key=lambda p: _version_key(_kver(p)), reverse=True)
    for k in cands:
        if os.path.isfile(k) and os.path.isfile(f"/lib/modules/{_kver(k)}/modules.dep"):
            if not os.access(k, os.R_OK):
                raise Skip(f"{k} is not readable by this user")
            return k
    if forced:
        raise Skip(f"TERRARIUM_LAB_KERNEL={forced}: no such kernel with modules in /lib/modules")
    raise Skip("no /boot/vmlinuz-6.1.* with modules in /lib/modules (install linux-image-amd64)")


def _modname(path):
    base = os.path.basename(path)
    base = re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", base)
    return base.replace("-", "_")


def resolve_modules(ver, wanted):
    """Modules to insmod, dependencies first, as [(name, path)]; built-ins left out."""
    moddir = f"/lib/modules/{ver}"
    deps = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            if ":" not in line:
                continue
            mod, rest = line.split(":", 1)
            deps[_modname(mod)] = (os.path.join(moddir, mod), [_modname(d) for d in rest.split()])
    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            builtin = {_modname(line.strip()) for line in f if line.strip()}
    except FileNotFoundError:
        pass
    order, seen = [], set()

    def visit(name, chain):
        name = name.replace("-", "_")
        if name in seen or name in builtin:
            return
        if name in chain:
            raise Skip(f"module dependency loop: {' -> '.join(chain + [name])}")
        if name not in deps:
            raise Skip(f"kernel {ver} has no module {name} (neither built in nor in modules.dep)")
        for d in deps[name][1]:
            visit(d, chain + [name])
        seen.add(name)
        order.append((name, deps[name][0]))

    for w in wanted:
        visit(w, [])
    return order


def read_module(path):
    if path.endswith(".ko"):
        with open(path, "rb") as f:
            return f.read()
    if path.endswith(".xz"):
        with lzma.open(path) as f:
            return f.read()
    if path.endswith(".gz"):
        with gzip.open(path) as f:
            return f.read()
    if path.endswith(".zst"):
        if not shutil.which("zstd"):
            raise Skip(f"{path} is zstd-compressed and zstd is not installed")
        return subprocess.run(["zstd", "-dc", path], check=True, stdout=subprocess.PIPE).stdout
    raise Skip(f"unknown module format: {path}")


def find_qemu():
    q = shutil.which("qemu-system-x86_64")
    if not q:
        raise Skip("qemu-system-x86_64 not found (install qemu-system-x86)")
    return q


# --------------------------------------------------------------------------
# The lab's initramfs

LAB_INIT = r"""#!/bin/sh
# Lab init, generated by tests/lab/lab.py. Runs as PID 1 of the lab kernel.
export PATH=/bin
say() { echo "[lab] $*"; }
fail() {
    say "FATAL: $*"
    # An exit status the host can tell from the command's own.
    [ -d /results ] && echo 125 > /results/status
    sync; poweroff -f; sleep 5; echo o > /proc/sysrq-trigger
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /mod/order); do
    insmod /mod/$m.ko || fail "insmod $m failed"
done
mkdir -p /hostroot /results
mount -t 9p -o trans=virtio,version=9p2000.L,msize=@MSIZE@,cache=loose,ro hostroot /hostroot \
    || fail "cannot mount the host's / (9p tag hostroot)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=@MSIZE@ results /results \
    || fail "cannot mount the results share (9p tag results)"
kvm=ok
for m in $(cat /mod/kvm-order); do
    insmod /mod/$m.ko || { kvm="insmod $m failed"; break; }
done
[ -c /dev/kvm ] || { [ "$kvm" = ok ] && kvm="no /dev/kvm after loading kvm-amd"; }
echo "$kvm" > /results/kvm
[ "$kvm" = ok ] || say "WARNING: $kvm"

R=/hostroot
RUN=$(cat /results/mountpoint) || fail "no mountpoint file in the results share"
mount -t proc proc $R/proc || fail "mount proc in the host tree"
mount -t sysfs sysfs $R/sys || fail "mount sysfs in the host tree"
mount -t devtmpfs devtmpfs $R/dev || fail "mount devtmpfs in the host tree"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t tmpfs -o mode=1777 tmpfs $R/tmp || fail "mount tmpfs on /tmp"
mount -t tmpfs -o mode=755 tmpfs $R/run || fail "mount tmpfs on /run"
mkdir -p $R$RUN 2>/dev/null
mount -o bind /results $R$RUN || fail "bind the results share at $RUN"
ip link set lo up
# One idle vCPU for the lab's lifetime (tests/lab/kvm-keeper.py says why).
[ "$kvm" = ok ] && { chroot $R python3 @KEEPER@ </dev/null || say "WARNING: kvm-keeper failed"; }
say "ready in $(cut -d' ' -f1 /proc/uptime) s (kvm: $kvm)"
# The lab kernel's code symbols (nokaslr: fixed), for reading a stalled lab's CPU addresses.
( chroot $R nice -n 19 grep -E ' [tT] ' /proc/kallsyms > /results/kallsyms ) 2>/dev/null &
( chroot $R /bin/sh $RUN/cmd.sh </dev/null 2>&1; echo $? > /results/status ) | tee /results/output
say "command exited with status $(cat /results/status) at $(cut -d' ' -f1 /proc/uptime) s"
dmesg > /results/dmesg
umount $R$RUN
sync
poweroff -f
"""


def build_initramfs(work_dir, log=print):
    """Builds (or reuses) the lab initramfs in work_dir; returns (kernel, initramfs)."""
    find_qemu()
    kernel = find_kernel()
    ver = _kver(kernel)
    busybox = newc.find_static_busybox()
    if not busybox:
        raise Skip("no statically linked busybox (install busybox-static)")
    base = resolve_modules(ver, LAB_MODULES)
    kvm = [m for m in resolve_modules(ver, KVM_MODULES) if m[0] not in {n for n, _ in base}]
    keeper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kvm-keeper.py")
    init = LAB_INIT.replace("@MSIZE@", str(MSIZE)).replace("@KEEPER@", keeper)

    h = hashlib.sha256(init.encode())
    for p in [busybox, kernel] + [p for _, p in base + kvm]:
        st = os.stat(p)
        h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    h.update(newc.__file__.encode())
    key = h.hexdigest()[:12]
    os.makedirs(work_dir, exist_ok=True)
    out = os.path.join(work_dir, f"labinit-{ver}-{key}.cpio")
    if os.path.exists(out):
        return kernel, out

    applets = subprocess.run([busybox, "--list"], check=True, stdout=subprocess.PIPE,
                             text=True).stdout.split()
    a = newc.Archive()
    for d in ("dev", "proc", "sys", "tmp", "hostroot", "results"):
        a.dir(d)
    a.chardev("dev/console", 5, 1)
    a.chardev("dev/null", 1, 3, 0o666)
    with open(busybox, "rb") as f:
        a.file("bin/busybox", f.read(), 0o755)
    for ap in applets:
        if ap != "busybox":
            a.symlink(f"bin/{ap}", "busybox")
    a.file("init", init, 0o755)
    for name, path in base + kvm:
        a.file(f"mod/{name}.ko", read_module(path))
    a.file("mod/order", "".join(n + "\n" for n, _ in base))
    a.file("mod/kvm-order", "".join(n + "\n" for n, _ in kvm))
    a.write(out)
    for old in glob.glob(os.path.join(work_dir, "labinit-*.cpio")):
        if old != out:
            os.unlink(old)
    log(f"[lab] built {out} (modules: {' '.join(n for n, _ in base + kvm)})")
    return kernel, out


# --------------------------------------------------------------------------
# Running a command in the lab

def _new_run_dir(work_dir):
    runs = os.path.join(work_dir, "runs")
    os.makedirs(runs, exist_ok=True)
    # Keep the last few runs for inspection.
    old = sorted(glob.glob(os.path.join(runs, "run-*")), key=os.path.getmtime)
    for d in old[:-4]:
        shutil.rmtree(d, ignore_errors=True)
    d = os.path.join(runs, time.strftime("run-%Y%m%d-%H%M%S-") + str(os.getpid()))
    os.makedirs(d)
    return d


def _lab_lock(log):
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("[lab] another lab is running on this machine; waiting for it to finish")
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def lab_command(kernel, initramfs, run_dir, smp=LAB_SMP, mem=LAB_MEM, monitor=None):
    qemu = find_qemu()
    # The human monitor on a socket: a stalled lab's CPUs are read through it (cpu_report).
    mon = ["-monitor", f"unix:{monitor},server=on,wait=off"] if monitor else []
    return [
        qemu, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-accel", "tcg,thread=multi" if smp > 1 else "tcg",
        "-M", "pc", "-cpu", LAB_CPU, "-smp", str(smp), "-m", mem,
        "-kernel", kernel, "-initrd", initramfs, "-append", LAB_APPEND,
        "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
        "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
        "-fsdev", f"local,id=results,path={run_dir},security_model=none",
        "-device", "virtio-9p-pci,fsdev=results,mount_tag=results",
    ] + mon


def run(cmd, timeout=600, work_dir=DEFAULT_WORK_DIR, env=(), cwd=None, quiet=False,
        out=None, smp=LAB_SMP, mem=LAB_MEM, stall_timeout=None, progress=b""):
    """Runs cmd (a list) in the lab. Returns (exit status, run directory).
    With stall_timeout, a lab whose console shows no line containing `progress` (any
    output when empty) for that long after it booted is killed, and the status is
    EXIT_STALLED: the command must print such a line at least that often. (A hung lab
    kernel still prints its own soft-lockup warnings, hence the marker.)
    Raises Skip when the lab can't be built here."""
    out = out or sys.stdout
    log = lambda msg: print(msg, file=out, flush=True)  # noqa: E731
    work_dir = os.path.abspath(work_dir)
    kernel, initramfs = build_initramfs(work_dir, log)
    cwd = os.path.abspath(cwd or os.getcwd())
    if cwd == "/tmp" or cwd.startswith("/tmp/"):
        cwd = "/"  # /tmp is a fresh tmpfs in the lab
    lock = _lab_lock(log)
    try:
        run_dir = _new_run_dir(work_dir)
        with open(os.path.join(run_dir, "mountpoint"), "w") as f:
            f.write(run_dir + "\n")
        base_env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/tmp", "TERM": "dumb", "LANG": "C.UTF-8",
            "TERRARIUM_LAB": "1", "TERRARIUM_LAB_RUN_DIR": run_dir,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for kv in env:
            k, _, v = kv.partition("=")
            base_env[k] = v
        with open(os.path.join(run_dir, "cmd.sh"), "w") as f:
            f.write("# written by tests/lab/lab.py\n")
            f.write(f"cd {shlex.quote(cwd)} || exit 125\n")
            for k, v in base_env.items():
                f.write(f"export {k}={shlex.quote(v)}\n")
            f.write("exec " + " ".join(shlex.quote(c) for c in cmd) + "\n")
        mon_dir = tempfile.mkdtemp(prefix="trm-lab-mon-")  # short: a socket path has 108 bytes
        monitor = os.path.join(mon_dir, "hmp")
        argv = lab_command(kernel, initramfs, run_dir, smp, mem, monitor=monitor)
        with open(os.path.join(run_dir, "qemu-cmdline"), "w") as f:
            f.write(" ".join(shlex.quote(a) for a in argv) + "\n")
        log(f"[lab] starting: {len(cmd) and cmd[0]} (timeout {timeout} s, run dir {run_dir})")
        try:
            rc = _boot(argv, run_dir, timeout, quiet, out, stall_timeout=stall_timeout,
                       progress=progress, monitor=monitor)
        finally:
            shutil.rmtree(mon_dir, ignore_errors=True)
        if rc == "timeout":
            return EXIT_TIMEOUT, run_dir
        if rc == "stalled":
            return EXIT_STALLED, run_dir
        if rc == "noboot":
            return EXIT_LAB_FAILED, run_dir
        status_file = os.path.join(run_dir, "status")
        try:
            with open(status_file) as f:
                status = int(f.read().strip())
        except (OSError, ValueError):
            log(f"FAIL: the lab ended (qemu status {rc}) without recording the command's exit "
                f"status; see {run_dir}/console.log")
            # Its own kernel died under the command (the nested SVM of TCG has panicked
            # the lab kernel, with QEMU as the nested VMM too): the caller may start again.
            try:
                with open(os.path.join(run_dir, "console.log"), errors="replace") as f:
                    console = f.read()
            except OSError:
                console = ""
            if "[lab] ready in" in console and "Kernel panic" in console:
                return EXIT_LAB_DIED, run_dir
            return EXIT_LAB_FAILED, run_dir
        if status == EXIT_LAB_FAILED:
            log(f"FAIL: lab init failed (see [lab] lines above, {run_dir}/console.log)")
        return status, run_dir
    finally:
        os.close(lock)


def _die_with_parent():
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _symbols(run_dir):
    """(addresses, names) of the lab kernel's code symbols, sorted: the copy of its
    /proc/kallsyms its init leaves in the run directory (Debian's System.map is a stub)."""
    addrs, names = [], []
    try:
        with open(os.path.join(run_dir, "kallsyms")) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] in "tT":
                    addrs.append(int(parts[0], 16))
                    names.append(parts[2] + (" " + parts[3] if len(parts) > 3 else ""))
    except (OSError, ValueError):
        return [], []
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def cpu_report(monitor, run_dir, timeout=10.0):
    """Where each lab CPU is, read through QEMU's human monitor: the lines of
    `info registers -a` that matter (RIP, RFLAGS, CPL) with RIP as symbol+offset,
    and `info cpus`. Returns the text ("" if the monitor does not answer)."""
    text = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2.0)
            s.connect(monitor)
            end = time.monotonic() + timeout
            for cmd in (b"info cpus\n", b"info registers -a\n"):
                s.sendall(cmd)
                quiet_since = time.monotonic()
                while time.monotonic() < end and time.monotonic() - quiet_since < 1.0:
                    try:
                        chunk = s.recv(65536)
                    except socket.timeout:
                        break
                    if not chunk:
                        break
                    text += chunk
                    quiet_since = time.monotonic()
    except OSError as e:
        return f"(the lab's monitor did not answer: {e})"
    raw = text.decode(errors="replace").replace("\r", "")
    addrs, names = _symbols(run_dir)
    lines = []
    for line in raw.splitlines():
        if line.startswith("CPU#") or line.lstrip().startswith("* CPU") or \
                line.lstrip().startswith("CPU #"):
            lines.append(line.strip())
        m = re.match(r"[RE]IP=([0-9a-f]+) [RE]FL=([0-9a-f]+) \[.*?\] CPL=(\d).*?HLT=(\d)", line)
        if m:
            rip = int(m.group(1), 16)
            where = ""
            i = bisect.bisect_right(addrs, rip) - 1
            if i >= 0 and rip - addrs[i] < 0x100000:
                where = f" {names[i]}+{rip - addrs[i]:#x}"
            lines.append(f"  RIP={rip:#x}{where} RFLAGS={m.group(2)} "
                         f"(IF={int(m.group(2), 16) >> 9 & 1}) CPL={m.group(3)} "
                         f"halted={m.group(4)}")
    return "\n".join(lines) if lines else raw[-2000:]


def _boot(argv, run_dir, timeout, quiet, out, boot_timeout=BOOT_TIMEOUT, stall_timeout=None,
          progress=b"", monitor=None):
    """Runs the lab's QEMU, teeing its console; returns its exit status, or "timeout",
    "noboot" or "stalled".
    A lab that hasn't reached its init's "ready" line within boot_timeout seconds is
    broken (bad CPU model, kernel, modules): it is killed then, not at the full timeout."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    boot_deadline = t0 + min(boot_timeout, timeout)
    booted = False
    last_output = t0
    seen = b""
    console = open(os.path.join(run_dir, "console.log"), "wb")
    # QEMU stays in our process group (meson kills a timed-out test's group) and
    # dies with us whatever kills us (PR_SET_PDEATHSIG).
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    sink = getattr(out, "buffer", None)
    why = None
    try:
        fd = proc.stdout.fileno()
        while True:
            now = time.monotonic()
            if now >= deadline:
                why, result = f"lab timed out after {timeout:.0f} s and was killed", "timeout"
                break
            if not booted and now >= boot_deadline:
                why = (f"the lab did not boot (no '[lab] ready' within {boot_timeout} s) "
                       f"and was killed")
                result = "noboot"
                break
            if booted and stall_timeout and now - last_output >= stall_timeout:
                why = (f"the lab stalled: no progress on its console for {stall_timeout:.0f} s "
                       f"(both lab CPUs stuck?); it was killed")
                result = "stalled"
                if monitor:
                    report = cpu_report(monitor, run_dir)
                    with open(os.path.join(run_dir, "stall-cpus.txt"), "w") as f:
                        f.write(report + "\n")
                    print(f"[lab] where the lab's CPUs were when it stalled:\n{report}",
                          file=out, flush=True)
                break
            limit = deadline if booted else boot_deadline
            r, _, _ = select.select([fd], [], [], max(0.0, min(limit - now, 1.0)))
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            if progress in chunk:
                last_output = time.monotonic()
            if not booted:
                seen = (seen + chunk)[-4096:]
                booted = b"[lab] ready" in seen or b"[lab] FATAL" in seen
            console.write(chunk)
            console.flush()
            if not quiet:
                if sink:
                    sink.write(chunk)
                    sink.flush()
                else:
                    out.write(chunk.decode(errors="replace"))
                    out.flush()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if why else signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        console.close()
    elapsed = time.monotonic() - t0
    with open(os.path.join(run_dir, "lab-seconds"), "w") as f:
        f.write(f"{elapsed:.1f}\n")
    if why:
        print(f"\nFAIL: {why}; see {run_dir}/console.log", file=out, flush=True)
        return result
    print(f"[lab] lab ran {elapsed:.1f} s", file=out, flush=True)
    return rc


# --------------------------------------------------------------------------

def main():
    # SIGTERM (meson's timeout, a CI cancel) unwinds like Ctrl-C: QEMU gets killed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work-dir", default=os.environ.get("TERRARIUM_LAB_DIR", DEFAULT_WORK_DIR),
                    help="cache and run directory (not under /tmp; default %(default)s)")
    sub = ap.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("run", help="run CMD in the lab, exit with its status")
    r.add_argument("--timeout", type=float, default=600)
    r.add_argument("--env", action="append", default=[], metavar="K=V")
    r.add_argument("--cwd", help="working directory in the lab (default: the current one)")
    r.add_argument("--quiet", action="store_true", help="don't stream the lab console")
    r.add_argument("--smp", type=int, default=LAB_SMP)
    r.add_argument("--mem", default=LAB_MEM)
    r.add_argument("cmd", nargs=argparse.REMAINDER)
    sub.add_parser("info", help="show what the lab would boot")
    sub.add_parser("build", help="build the lab initramfs only")
    a = ap.parse_args()
    try:
        if a.verb == "run":
            cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
            if not cmd:
                ap.error("run: no command given (lab.py run -- CMD ARGS...)")
            rc, _ = run(cmd, a.timeout, a.work_dir, a.env, a.cwd, a.quiet, smp=a.smp, mem=a.mem)
            sys.exit(rc)
        kernel, initramfs = build_initramfs(os.path.abspath(a.work_dir))
        if a.verb == "info":
            print(f"kernel:    {kernel}\ninitramfs: {initramfs}\nqemu:      {find_qemu()}")
            print("command:   " + " ".join(shlex.quote(x) for x in
                                           lab_command(kernel, initramfs, "<run-dir>")))
    except Skip as e:
        print(f"SKIP: {e}", flush=True)
        sys.exit(EXIT_SKIP)


if __name__ == "__main__":
    main()
