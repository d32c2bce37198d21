#!/bin/sh
# `make run-serial`: boots the Debian kernel installed on this machine with a tiny
# busybox system under terrarium-run, its console in this terminal.

set -e
build=${1:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
if [ -z "$kernel" ]; then
    echo "make run: no kernel in /boot; install the linux-image-amd64 package" >&2
    exit 1
fi
initrd="$top/$build/demo-initramfs.cpio"
python3 "$top/tests/lab/mk-initramfs.py" "$initrd"
echo "Booting $(basename "$kernel") with a busybox shell. Type 'poweroff -f' to leave, or press Ctrl-C."
exec "$top/$build/app/runner/terrarium-run" --kernel "$kernel" --initrd "$initrd" \
    --append "console=ttyS0 quiet trm.action=shell" --mem 512 --cpus 2
