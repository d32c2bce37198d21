# SPDX-License-Identifier: GPL-2.0-or-later
"""What the display benchmarks (run.py, anim.py) share: a private Xvfb, a
process's CPU time, the host/revision facts their result sections cite, and
how to run Terrarium's app (`terrarium --machine UUID`) on a machine of its own:
a machine folder in a private XDG_DATA_HOME, a private session bus, its
environment, its display counters over the machine's D-Bus socket, and how to
end a process."""

import datetime
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent.parent


def cpu_ticks(pid):
    """utime + stime of every thread of pid, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def thread_ticks(pid):
    """{thread id: (thread name, utime + stime in clock ticks)} of every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue  # the thread has ended
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[int(tid)] = (name, int(fields[11]) + int(fields[12]))
    return out


def start_xvfb(num, screen):
    """Xvfb on display :num with one screen WxHxD, once its socket exists; None without it."""
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        return None
    p = subprocess.Popen([xvfb, f":{num}", "-screen", "0", screen, "-nolisten", "tcp"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if os.path.exists(f"/tmp/.X11-unix/X{num}"):
            return p
        time.sleep(0.1)
    p.kill()
    return None


def host_info(qemu):
    """Date, Terrarium's revision, the machine, its load average now (1, 5, 15 minutes)
    and QEMU's version (qemu may be None)."""
    rev = subprocess.run(["git", "-C", str(SRC), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "?"
    qv = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout \
        if qemu else ""
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return {"date": datetime.date.today().isoformat(), "rev": rev, "load": load,
            "machine": f"{os.cpu_count()} host CPUs, nested KVM",
            "qemu": (qv.split("version ")[1].split()[0] if "version " in qv else "?")}


def app_machine(tmp, boot, drives=()):
    """A machine folder in tmp's private XDG_DATA_HOME; its UUID. boot: the [Boot]
    section's lines (e.g. "Firmware=bios"); drives: paths of raw IDE disks."""
    ident = str(uuid.uuid4())
    d = Path(tmp) / "data" / "terrarium" / "machines" / ident
    d.mkdir(parents=True)
    text = ("[Machine]\nName=Display benchmark\n"
            f"Uuid={ident}\nMemoryMiB=128\nCpus=1\nLive=false\n\n"
            "[Boot]\n" + "".join(line + "\n" for line in boot))
    for i, path in enumerate(drives):
        text += f"\n[Drive {i}]\nPath={path}\nMedia=disk\nBus=ide\nReadOnly=false\n"
    (d / "machine.ini").write_text(text)
    return ident


def start_bus(tmp):
    """A private session bus for the app; (process, address) or (None, None)."""
    daemon = shutil.which("dbus-daemon")
    if not daemon:
        return None, None
    p = subprocess.Popen([daemon, "--session", "--nofork", "--print-address=1"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=tmp)
    addr = p.stdout.readline().decode().strip()
    return (p, addr) if addr else (None, None)


def start_app_bus(tmp, env, configs, is_app, who):
    """A private session bus for the app's configs (env gets its address); without
    dbus-daemon they are left out, with a line saying so. Returns (process, configs)."""
    if not any(is_app(c) for c in configs):
        return None, configs
    bus, addr = start_bus(tmp)
    if not bus:
        print(f"{who}: no dbus-daemon: the app's rows are left out", file=sys.stderr)
        return None, [c for c in configs if not is_app(c)]
    env["DBUS_SESSION_BUS_ADDRESS"] = addr
    return bus, configs


def app_env(env, tmp, schemas):
    """env for the app: its XDG folders in tmp, GSettings in memory, no a11y bus, and
    its renderer left to its own choice (GL is Mesa's software renderer under Xvfb)."""
    out = dict(env, LIBGL_ALWAYS_SOFTWARE="1", GTK_A11Y="none", GSETTINGS_BACKEND="memory",
               XDG_DATA_HOME=os.path.join(tmp, "data"),
               XDG_CONFIG_HOME=os.path.join(tmp, "config"), XDG_RUNTIME_DIR=tmp)
    out.pop("GSK_RENDERER", None)
    if schemas:
        out["GSETTINGS_SCHEMA_DIR"] = schemas
    return out


def app_properties(tmp, ident):
    """Every property of the running machine's org.terrarium.Machine1 in one reply (one
    moment: counters read together agree), read now over its peer-to-peer socket with
    dbus-send, as {name: text}; {} when they cannot be read."""
    send = shutil.which("dbus-send")
    sock = os.path.join(tmp, "terrarium", f"{ident}.sock")
    if not send or not os.path.exists(sock):
        return {}
    r = subprocess.run([send, f"--peer=unix:path={sock}", "--print-reply=literal",
                        "/org/terrarium/Machine1", "org.freedesktop.DBus.Properties.GetAll",
                        "string:org.terrarium.Machine1"],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return {}
    # "dict entry( NAME variant TYPE VALUE )" per property, VALUE one word here.
    out = {}
    for entry in r.stdout.split("dict entry(")[1:]:
        words = entry.split(")")[0].split()
        if len(words) >= 4 and words[1] == "variant":
            out[words[0]] = words[3]
    return out


def stop(proc, timeout=15):
    """SIGTERM, then SIGKILL after timeout seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
