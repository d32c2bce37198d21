#!/usr/bin/env python3
"""Builds the lab's PC guest: a bootable ISO (ISOLINUX, El Torito) holding the
host's Debian kernel and a busybox initramfs whose /init loads the drivers of
a PC's devices and prints what the guest found, as KEY=value markers:

    TERRARIUM-INIT-OK
    NPROC=<online CPUs>             (from the MADT)
    ACPI=on|off                     (a DSDT in /sys/firmware/acpi/tables)
    ACPI-TRRIUM=<count>             (table lines in dmesg signed by Terrarium)
    RTC=<rtc0 name>  RTC-EPOCH=<seconds>  HOST-EPOCH-AT-BUILD=<seconds>
    PCI=<slot> <vendor>:<device> <driver>   (one line per function)
    SERIO=<serio0 description>      (the i8042's keyboard port)
    DMI-SYS-VENDOR=, DMI-PRODUCT=, DMI-BIOS-VENDOR=, DMI-CHASSIS-VENDOR=, DMI-UUID=
                                    (SMBIOS through /sys/class/dmi/id)
    DMI-ENTRIES=<type-instance ...> (every SMBIOS structure, /sys/firmware/dmi/entries)
    CD-FILE=<contents of /hello.txt read back from the CD through sr_mod>
    FB=<fb0 name>                   (bochs-drm's framebuffer)
    TYPE-NOW                        (a shell listens on the VGA console, tty1)
    TYPED=<what the command typed by the host over PS/2 wrote>
    SCREEN-READY                    (the typed command is on the screen; 3 s to take a shot)
    PWRBTN-WAITING                  (the host should press the power button now)
    PWRBTN=<ff_pwr_btn count>       then `poweroff -f` (ACPI S5)

Usage: mk-pc-iso.py OUTPUT.iso   (rebuilds only when an input changed)
       mk-pc-iso.py --installer OUTPUT.iso
           the Debian installer's netboot kernel and initrd instead, in VGA
           text mode (fb=false, bochs-drm not loaded), so its first screen is
           on the VGA text console
Needs busybox-static, isolinux, syslinux-common and xorriso.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lab  # noqa: E402
import newc  # noqa: E402

ISOLINUX = "/usr/lib/ISOLINUX/isolinux.bin"
LDLINUX = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
CD_TEXT = "hello from the Terrarium lab CD"
# Drivers a PC guest needs that Debian builds as modules.
MODULES = ["button", "ata_piix", "sr_mod", "isofs", "bochs"]
APPEND = "console=ttyS0 noxsave"

INIT = r"""#!/bin/sh
# Guest init for Terrarium's PC lab test (tests/lab/mk-pc-iso.py).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
for m in $(cat /mod/order); do insmod /mod/$m.ko 2>/dev/null || echo "INSMOD-FAILED=$m"; done
sleep 2
echo
echo "TERRARIUM-INIT-OK"
echo "NPROC=$(grep -c '^processor' /proc/cpuinfo)"
if [ -e /sys/firmware/acpi/tables/DSDT ]; then echo "ACPI=on"; else echo "ACPI=off"; fi
echo "ACPI-TRRIUM=$(dmesg | grep 'ACPI:' | grep -c TRRIUM)"
echo "RTC=$(cat /sys/class/rtc/rtc0/name 2>/dev/null)"
echo "RTC-EPOCH=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null)"
for d in /sys/bus/pci/devices/*; do
    drv=-
    [ -e $d/driver ] && drv=$(basename $(readlink $d/driver))
    echo "PCI=${d##*/} $(cat $d/vendor):$(cat $d/device) $drv"
done
echo "SERIO=$(cat /sys/bus/serio/devices/serio0/description 2>/dev/null)"
echo "DMI-SYS-VENDOR=$(cat /sys/class/dmi/id/sys_vendor 2>/dev/null)"
echo "DMI-PRODUCT=$(cat /sys/class/dmi/id/product_name 2>/dev/null)"
echo "DMI-BIOS-VENDOR=$(cat /sys/class/dmi/id/bios_vendor 2>/dev/null)"
echo "DMI-CHASSIS-VENDOR=$(cat /sys/class/dmi/id/chassis_vendor 2>/dev/null)"
echo "DMI-UUID=$(cat /sys/class/dmi/id/product_uuid 2>/dev/null)"
echo "DMI-ENTRIES=$(ls /sys/firmware/dmi/entries 2>/dev/null | tr '\n' ' ')"
mkdir -p /cd
i=0
while [ ! -e /dev/sr0 ] && [ $i -lt 20 ]; do sleep 1; i=$((i+1)); done
if mount -t iso9660 -o ro /dev/sr0 /cd; then echo "CD-FILE=$(cat /cd/hello.txt)"; fi
echo "FB=$(cat /sys/class/graphics/fb0/name 2>/dev/null)"
# A shell on the VGA console (tty1): the host types a command into it over PS/2.
setsid sh -c 'exec sh </dev/tty1 >/dev/tty1 2>&1' &
sleep 1
echo "TYPE-NOW"
i=0
while [ ! -s /tmp/typed ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
echo "TYPED=$(cat /tmp/typed 2>/dev/null)"
echo "SCREEN-READY"
sleep 3
echo "PWRBTN-WAITING"
n=0
i=0
while [ $i -lt 600 ]; do
    n=$(awk '{print $1}' /sys/firmware/acpi/interrupts/ff_pwr_btn 2>/dev/null)
    [ "${n:-0}" -gt 0 ] && break
    sleep 0.2
    i=$((i+1))
done
echo "PWRBTN=$n"
poweroff -f
sleep 10
echo "TERRARIUM-ACTION-FAILED=poweroff"
while :; do sleep 3600; done
"""

CFG = f"""SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /boot/vmlinuz
  APPEND initrd=/boot/initrd {APPEND}
"""


def initramfs(kernel):
    busybox = newc.find_static_busybox()
    if not busybox:
        raise lab.Skip("no statically linked busybox (install busybox-static)")
    ver = lab._kver(kernel)
    mods = lab.resolve_modules(ver, MODULES)
    applets = subprocess.run([busybox, "--list"], check=True, stdout=subprocess.PIPE,
                             text=True).stdout.split()
    a = newc.Archive()
    for d in ("dev", "proc", "sys", "tmp", "root", "etc", "mod"):
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
    for name, path in mods:
        a.file(f"mod/{name}.ko", lab.read_module(path))
    a.file("mod/order", "\n".join(n for n, _ in mods) + "\n")
    return a.bytes()


DI_DIR = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64"
DI_APPEND = "vga=normal fb=false modprobe.blacklist=bochs,bochs_drm noxsave --- quiet"


def main():
    args = sys.argv[1:]
    installer = args[:1] == ["--installer"]
    if installer:
        args = args[1:]
    if len(args) != 1:
        raise SystemExit(__doc__)
    out = args[0]
    for p in (ISOLINUX, LDLINUX):
        if not os.path.isfile(p):
            raise SystemExit(f"SKIP: {p} missing (install isolinux and syslinux-common)")
    xorriso = shutil.which("xorriso")
    if not xorriso:
        raise SystemExit("SKIP: xorriso is not installed")
    cfg = CFG
    if installer:
        kernel = os.path.join(DI_DIR, "linux")
        if not os.path.isfile(kernel):
            raise SystemExit("SKIP: install debian-installer-12-netboot-amd64")
        with open(os.path.join(DI_DIR, "initrd.gz"), "rb") as f:
            rd = f.read()
        cfg = CFG.replace(APPEND, DI_APPEND)
    else:
        kernel = lab.find_kernel()
        try:
            rd = initramfs(kernel)
        except lab.Skip as e:
            raise SystemExit(f"SKIP: {e}")
    with open(kernel, "rb") as f:
        kdata = f.read()
    key = hashlib.sha256(kdata + rd + cfg.encode() + CD_TEXT.encode()).hexdigest()
    stamp = out + ".sha256"
    if os.path.exists(out) and os.path.exists(stamp) and open(stamp).read() == key:
        return
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "isolinux"))
        os.makedirs(os.path.join(d, "boot"))
        shutil.copy(ISOLINUX, os.path.join(d, "isolinux"))
        shutil.copy(LDLINUX, os.path.join(d, "isolinux"))
        with open(os.path.join(d, "isolinux", "isolinux.cfg"), "w") as f:
            f.write(cfg)
        with open(os.path.join(d, "boot", "vmlinuz"), "wb") as f:
            f.write(kdata)
        with open(os.path.join(d, "boot", "initrd"), "wb") as f:
            f.write(rd)
        with open(os.path.join(d, "hello.txt"), "w") as f:
            f.write(CD_TEXT + "\n")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        subprocess.run([xorriso, "-as", "mkisofs", "-quiet", "-o", out + ".tmp",
                        "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
                        "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
                        "-V", "TERRARIUM_LAB", d], check=True)
    os.replace(out + ".tmp", out)
    with open(stamp, "w") as f:
        f.write(key)


if __name__ == "__main__":
    main()
