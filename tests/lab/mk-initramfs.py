#!/usr/bin/env python3
"""Builds the busybox initramfs that lab guests boot (under terrarium-run, or QEMU
for comparison). Its /init prints stable markers on the console, then acts as
the kernel command line says:

    TERRARIUM-INIT-OK
    KERNEL=<uname -r>
    NPROC=<online CPUs>
    CLOCKSOURCE=<current clocksource>
    TSC-DEADLINE=<yes if the CPU offers the LAPIC timer's TSC-deadline mode, else no>
    MSR-WARNINGS=<dmesg lines about unchecked / unhandled MSR accesses>
    MSR-WARNING: <each such line>            (only if any)
    UPTIME=<seconds since the guest kernel started>
    TERRARIUM-ACTION=<action>

    trm.action=poweroff (default) | reboot | shell | wait | test | dmesg
        poweroff / reboot use `poweroff -f` / `reboot -f`; dmesg prints the
        kernel log between DMESG-BEGIN and DMESG-END, then powers off (for
        boot profiles: `quiet initcall_debug` keeps the log off the slow
        serial port until then); shell runs a shell
        on the console; wait sleeps until the VMM is stopped from outside;
        test runs /tests/<trm.test>.sh (below), which ends the guest itself.
    trm.test=NAME     the test script for trm.action=test (virtio-blk,
                      virtio-net, virtio-balloon, virtio-input; see TESTS)
    trm.console=hvc0  once the modules are in, init's console is /dev/hvc0
                      (virtio-console) instead of /dev/console

The virtio drivers of the guest kernel (lab.find_kernel(): virtio_pci,
virtio_blk, virtio_net, virtio_console, virtio_rng, virtio_input, evdev, ext4
and what they need) are put in /lib/modules and loaded first by /init, in
dependency order; virtio_balloon is put there but only the balloon test loads
it (after it has made the VMM's RSS grow). Without a kernel with modules the
initramfs has none (the plain boot cases do not need them).

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
test=
console=
for w in $(cat /proc/cmdline); do
    case "$w" in
        trm.action=*) action=${w#trm.action=} ;;
        trm.test=*) test=${w#trm.test=} ;;
        trm.console=*) console=${w#trm.console=} ;;
    esac
done
if [ -f /lib/modules/order ]; then
    for m in $(cat /lib/modules/order); do
        [ "$m" = virtio_balloon ] || insmod /lib/modules/$m.ko
    done
fi
if [ "$console" = hvc0 ]; then
    n=0
    while [ ! -c /dev/hvc0 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    exec </dev/hvc0 >/dev/hvc0 2>&1
    echo "CONSOLE=hvc0"
fi
msr=$(dmesg | grep -iE 'unchecked MSR|unhandled (rd|wr)msr|(rd|wr)msr.*(fault|failed)')
n=0
[ -n "$msr" ] && n=$(echo "$msr" | wc -l)
echo
echo "TERRARIUM-INIT-OK"
echo "KERNEL=$(uname -r)"
echo "NPROC=$(grep -c '^processor' /proc/cpuinfo)"
echo "CLOCKSOURCE=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
grep -q '^flags.* tsc_deadline_timer' /proc/cpuinfo && echo "TSC-DEADLINE=yes" || echo "TSC-DEADLINE=no"
echo "MSR-WARNINGS=$n"
[ -n "$msr" ] && echo "$msr" | sed 's/^/MSR-WARNING: /'
echo "UPTIME=$(cut -d' ' -f1 /proc/uptime)"
echo "TERRARIUM-ACTION=$action"
case "$action" in
    reboot) reboot -f ;;
    shell) setsid cttyhack sh; poweroff -f ;;
    wait) while :; do sleep 3600; done ;;
    test) sh /tests/$test.sh; echo "TEST-SCRIPT-RETURNED"; poweroff -f ;;
    dmesg) echo DMESG-BEGIN; dmesg; echo DMESG-END; poweroff -f ;;
    *) poweroff -f ;;
esac
# Only reached if the VMM ignored the request.
sleep 10
echo "TERRARIUM-ACTION-FAILED=$action"
while :; do sleep 3600; done
"""


# udhcpc's hook: configures the interface from the lease and prints it.
UDHCPC_SCRIPT = r"""#!/bin/sh
case "$1" in
    deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
    bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        for r in $router; do ip route add default via "$r" dev "$interface"; done
        : > /etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
        echo "DHCP-IP=$ip"
        echo "DHCP-ROUTER=$router"
        echo "DHCP-DNS=$dns"
        ;;
esac
exit 0
"""

# Test scripts (/tests/NAME.sh), run by trm.action=test. Each prints KEY=VALUE
# markers that tests/lab/suite.py checks, and ends the guest itself.
TESTS = {
    # Disk, RNG and MSI-X. The ext4 image is made on the host (mkfs.ext4 -d) with
    # seed.txt; the first boot writes written.bin, syncs and reboots (a reset of
    # every virtio function); the second finds it and powers off.
    "virtio-blk": r"""
if [ ! -b /dev/vda ]; then
    for d in /sys/bus/pci/devices/*; do
        echo "PCI-DEV: $d $(cat $d/vendor):$(cat $d/device) driver=$(basename $(readlink $d/driver) 2>/dev/null)"
    done
    dmesg | grep -iE 'pci|virtio|bar|resource' | head -80 | sed 's/^/DMESG: /'
fi
grep -E 'virtio' /proc/interrupts | sed 's/^ */IRQ: /'
echo "MSIX-VIRTIO-LINES=$(grep -E 'PCI-MSI' /proc/interrupts | grep -c virtio)"
echo "INTX-VIRTIO-LINES=$(grep -E 'IO-APIC' /proc/interrupts | grep -c virtio)"
echo "RNG-CURRENT=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
echo "RNG-BYTES=$(dd if=/dev/hwrng bs=32 count=4 2>/dev/null | wc -c)"
echo "VDA-SIZE=$(cat /sys/block/vda/size 2>/dev/null)"
mkdir -p /mnt
if ! mount -t ext4 /dev/vda /mnt; then echo "BLK-MOUNT-FAILED"; poweroff -f; fi
echo "SEED-SHA=$(sha256sum /mnt/seed.txt | cut -d' ' -f1)"
if [ -f /mnt/written.bin ]; then
    echo "BLK-SECOND-BOOT"
    echo "BLK-PERSISTED=$(md5sum /mnt/written.bin | cut -d' ' -f1)"
    umount /mnt
    poweroff -f
fi
dd if=/dev/urandom of=/mnt/written.bin bs=4096 count=256 2>/dev/null
sync
echo "BLK-WROTE=$(md5sum /mnt/written.bin | cut -d' ' -f1)"
umount /mnt
reboot -f
""",
    # User networking: DHCP, an HTTP fetch from the host's loopback through
    # 10.0.2.2, then a listener the host reaches through a port forward.
    "virtio-net": r"""
ip link set lo up
echo "NET-MAC=$(cat /sys/class/net/eth0/address 2>/dev/null)"
echo "NET-MTU=$(cat /sys/class/net/eth0/mtu 2>/dev/null)"
udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 5 -T 2 2>&1 | grep -v '^udhcpc'
port=$(sed -n 's/.*trm.httpport=\([0-9]*\).*/\1/p' /proc/cmdline)
if wget -q -O /tmp/fetched http://10.0.2.2:$port/payload; then
    echo "HTTP-SHA=$(sha256sum /tmp/fetched | cut -d' ' -f1)"
else
    echo "HTTP-FAILED"
fi
echo "DNS-SERVER=$(sed -n 's/nameserver //p' /etc/resolv.conf | head -1)"
( echo "hello from the guest" | nc -l -p 7777 > /tmp/nc-in ) &
sleep 1
echo "NET-LISTENING"
n=0
while [ ! -s /tmp/nc-in ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
echo "FORWARD-GOT=$(cat /tmp/nc-in)"
poweroff -f
""",
    # The balloon: touch memory, say so (the host measures RSS), load the
    # driver, wait for the inflation to show in MemTotal, say so again.
    "virtio-balloon": r"""
mkdir -p /scratch
mount -t tmpfs -o size=400m tmpfs /scratch
dd if=/dev/zero of=/scratch/fill bs=1M count=300 2>/dev/null
rm /scratch/fill
umount /scratch
echo "MEMTOTAL-BEFORE=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
echo "BALLOON-TOUCHED"
read -t 60 go < /dev/console || true
insmod /lib/modules/virtio_balloon.ko
n=0
want=$(sed -n 's/.*trm.balloon=\([0-9]*\).*/\1/p' /proc/cmdline)
want=$(( ${want:-0} * 1024 * 9 / 10 ))
before=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)
while [ $n -lt 300 ]; do
    now=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)
    [ $((before - now)) -ge $want ] && break
    sleep 0.2; n=$((n + 1))
done
echo "MEMTOTAL-AFTER=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
sleep 2
echo "BALLOON-INFLATED"
read -t 60 go < /dev/console || true
poweroff -f
""",
    # Throughput (by hand, next to QEMU). vda is a raw image, vdb a qcow2 one
    # (both 256 MiB, both on the lab's tmpfs). On each: a sequential write of
    # 128 MiB (fsync), the guest's page cache dropped, a sequential read of it
    # with the request count and size the guest's block layer saw
    # (/sys/block/*/stat), then 4 KiB O_DIRECT random reads and writes within
    # those 128 MiB at queue depth 1 and 32 (/bin/blkbench, tests/lab/blkbench.c).
    # Last, 32 MiB guest -> host over user networking (and the link's MTU).
    "virtio-bench": r"""
t() { cut -d' ' -f1 /proc/uptime; }
rate() { awk -v mb=$1 -v a=$2 -v b=$3 'BEGIN { if (b > a) printf "%.1f", mb / (b - a); else print "inf" }'; }
q=/sys/block/vda/queue
echo "BENCH-BLK-QUEUE=max_sectors_kb=$(cat $q/max_sectors_kb),max_segments=$(cat $q/max_segments),nr_requests=$(cat $q/nr_requests),read_ahead_kb=$(cat $q/read_ahead_kb),hw_queues=$(ls /sys/block/vda/mq | wc -l)"
for d in vda vdb; do
    [ -b /dev/$d ] || continue
    p=BENCH-BLK; [ $d = vdb ] && p=BENCH-QCOW2
    set -- $(cat /sys/block/$d/stat); w0=$5; s0=$7
    a=$(t); dd if=/dev/zero of=/dev/$d bs=1M count=128 conv=fsync 2>/dev/null; b=$(t)
    set -- $(cat /sys/block/$d/stat)
    echo "$p-WRITE-MBS=$(rate 128 $a $b)"
    echo "$p-WRITE-REQS=$(($5 - w0)) requests of $(( ($7 - s0) / 2 / ($5 - w0 + (($5 == w0))) )) KiB"
    sync; echo 3 > /proc/sys/vm/drop_caches
    set -- $(cat /sys/block/$d/stat); r0=$1; s0=$3
    a=$(t); dd if=/dev/$d of=/dev/null bs=1M count=128 2>/dev/null; b=$(t)
    set -- $(cat /sys/block/$d/stat)
    echo "$p-READ-MBS=$(rate 128 $a $b)"
    echo "$p-READ-REQS=$(($1 - r0)) requests of $(( ($3 - s0) / 2 / ($1 - r0 + (($1 == r0))) )) KiB"
    if [ -x /bin/blkbench ]; then
        for m in read write; do
            for qd in 1 32; do
                v=$(blkbench /dev/$d $m $qd 4 128 | sed -n 's/IOPS=//p')
                echo "$p-RAND-$(echo $m | tr a-z A-Z)-QD$qd-IOPS=${v:-failed}"
            done
        done
    fi
done
ip link set lo up
udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 5 -T 2 >/dev/null 2>&1
port=$(sed -n 's/.*trm.benchport=\([0-9]*\).*/\1/p' /proc/cmdline)
# Bounded: once QEMU's user networking stalled mid-transfer in the lab, and the disk
# numbers above are worth keeping.
echo "BENCH-NET-MTU=$(cat /sys/class/net/eth0/mtu 2>/dev/null)"
# nc's status: a refused connection or a transfer cut by the timeout is no rate.
a=$(t)
if dd if=/dev/zero bs=64k count=512 2>/dev/null | timeout 150 nc 10.0.2.2 $port; then
    b=$(t); echo "BENCH-TCP-MBS=$(rate 32 $a $b)"
else
    echo "BENCH-TCP-MBS=failed"
fi
poweroff -f
""",
    # virtio-input: the devices' names, then events the host injects.
    "virtio-input": r"""
for d in /sys/class/input/event*; do echo "INPUT-DEV=$(cat $d/device/name)"; done
echo "INPUT-READY"
for d in /sys/class/input/event*; do
    case "$(cat $d/device/name)" in *Tablet*) ev=/dev/input/$(basename $d) ;; esac
done
[ -n "$ev" ] && echo "TABLET-EVENT-BYTES=$(timeout 20 dd if=$ev bs=24 count=4 2>/dev/null | wc -c)"
poweroff -f
""",
}


def add_modules(a):
    """The guest kernel's virtio drivers, or nothing if there is no such kernel."""
    import lab
    try:
        ver = lab._kver(lab.find_kernel())
        mods = lab.resolve_modules(ver, ["virtio_pci", "virtio_blk", "virtio_net",
                                         "virtio_console", "virtio_rng", "virtio_input", "evdev",
                                         "crc32c_generic", "ext4", "virtio_balloon"])
    except lab.Skip:
        return
    a.dir("lib/modules")
    for name, path in mods:
        a.file(f"lib/modules/{name}.ko", lab.read_module(path), 0o644)
    a.file("lib/modules/order", "\n".join(n for n, _ in mods) + "\n", 0o644)


def blkbench():
    """tests/lab/blkbench.c built static for the guest, or None without a compiler."""
    import shutil
    import tempfile
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        return None
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "blkbench.c")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "blkbench")
        r = subprocess.run([cc, "-O2", "-static", "-o", out, src], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return None
        with open(out, "rb") as f:
            return f.read()


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
    bench = blkbench()
    if bench:
        a.file("bin/blkbench", bench, 0o755)
    a.file("etc/udhcpc.script", UDHCPC_SCRIPT, 0o755)
    a.dir("tests")
    for name, body in TESTS.items():
        a.file(f"tests/{name}.sh", body, 0o755)
    a.dir("lib")
    add_modules(a)
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
