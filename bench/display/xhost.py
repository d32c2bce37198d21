# SPDX-License-Identifier: GPL-2.0-or-later
"""What the display benchmarks (run.py, anim.py) share: a private Xvfb, a
process's CPU time, and the host/revision facts their result sections cite."""

import datetime
import os
import shutil
import subprocess
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent.parent


def cpu_ticks(pid):
    """utime + stime of every thread of pid, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


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
    """Date, Terrarium's revision, the machine and QEMU's version (qemu may be None)."""
    rev = subprocess.run(["git", "-C", str(SRC), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "?"
    qv = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout \
        if qemu else ""
    return {"date": datetime.date.today().isoformat(), "rev": rev,
            "machine": f"{os.cpu_count()} host CPUs, nested KVM",
            "qemu": (qv.split("version ")[1].split()[0] if "version " in qv else "?")}
