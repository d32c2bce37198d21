#!/usr/bin/env python3
"""Builds the busybox initramfs that lab guests boot (under terrarium-run, or QEMU
for comparison). Its /init prints stable markers on the console, then acts as
the kernel command line says:

    TERRARIUM-INIT-OK
    KERNEL=<uname -r>
    NPROC=<online CPUs>
    CLOCKSOURCE=<current clocksource>
    MSR-WARNINGS=<dmesg lines about unchecked / unhandled MSR accesses>
    MSR-WARNING: <each such line>            (only if any)
    UPTIME=<seconds since the guest kernel started>
    TERRARIUM-ACTION=<action>

    trm.action=poweroff (default) | reboot | shell | wait
        poweroff / reboot use `poweroff -f` / `reboot -f`; shell runs a shell
        on the console; wait sleeps until the VMM is stopped from outside.

Usage: mk-initramfs.py OUTPUT   (writes OUTPUT only if its content changed)
Needs only busybox-static; no root (device nodes are written into the archive).
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import newc  # noqa: E402

INIT = r"""#!/bin/sh
# Guest init for Terrarium's lab tests (tests/lab/mk-initramfs.py).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

action=poweroff
for w in $(cat /proc/cmdline); do
    case "$w" in trm.action=*) action=${w#trm.action=} ;; esac
done
msr=$(dmesg | grep -iE 'unchecked MSR|unhandled (rd|wr)msr|(rd|wr)msr.*(fault|failed)')
n=0
[ -n "$msr" ] && n=$(echo "$msr" | wc -l)
echo
echo "TERRARIUM-INIT-OK"
echo "KERNEL=$(uname -r)"
echo "NPROC=$(grep -c '^processor' /proc/cpuinfo)"
echo "CLOCKSOURCE=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "MSR-WARNINGS=$n"
[ -n "$msr" ] && echo "$msr" | sed 's/^/MSR-WARNING: /'
echo "UPTIME=$(cut -d' ' -f1 /proc/uptime)"
echo "TERRARIUM-ACTION=$action"
case "$action" in
    reboot) reboot -f ;;
    shell) setsid cttyhack sh; poweroff -f ;;
    wait) while :; do sleep 3600; done ;;
    *) poweroff -f ;;
esac
# Only reached if the VMM ignored the request.
sleep 10
echo "TERRARIUM-ACTION-FAILED=$action"
while :; do sleep 3600; done
"""


def build():
    busybox = newc.find_static_busybox()
    if not busybox:
        raise SystemExit("SKIP: no statically linked busybox (install busybox-static)")
    applets = subprocess.run([busybox, "--list"], check=True, stdout=subprocess.PIPE,
                             text=True).stdout.split()
    a = newc.Archive()
    for d in ("dev", "proc", "sys", "tmp", "root", "etc"):
        a.dir(d)
    a.chardev("dev/console", 5, 1)
    a.chardev("dev/null", 1, 3, 0o666)
    with open(busybox, "rb") as f:
        a.file("bin/busybox", f.read(), 0o755)
    for ap in applets:
        if ap != "busybox":
            a.symlink(f"bin/{ap}", "busybox")
    a.symlink("sbin", "bin")
    a.file("init", INIT, 0o755)
    return a.bytes()


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    blob = build()
    try:
        with open(out, "rb") as f:
            if f.read() == blob:
                return  # unchanged: keep the mtime so dependents don't rebuild
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = f"{out}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
