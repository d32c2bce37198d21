#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Traces boots of one guest in the lab (run it there: tests/lab/lab.py --work-dir W run --
# bench/boot/trace.sh KERNEL INITRAMFS TERRARIUM_RUN [ROUNDS]): the vCPU thread's scheduling,
# every KVM exit and entry, and compaction events, for ROUNDS terrarium-run boots and one
# QEMU -M pc boot of the same kernel and initramfs (1 vCPU, 512 MiB, `initcall_debug`).
# Traces (NAME.trace.gz) and serial logs (NAME.log) go to $TERRARIUM_LAB_RUN_DIR;
# bench/boot/trace-report.py reads the traces.
set -u
K=$1 I=$2 T=$3 N=${4:-3}
A="console=ttyS0 quiet initcall_debug log_buf_len=8M trm.action=poweroff"
OUT=${TERRARIUM_LAB_RUN_DIR:-.}
TR=/sys/kernel/tracing
export XDG_CACHE_HOME=/tmp/trace-kc
mount -t tracefs nodev $TR 2>/dev/null
[ -w $TR/trace ] || { echo "no writable tracefs at $TR"; exit 1; }
echo 0 > $TR/tracing_on
echo 131072 > $TR/buffer_size_kb
echo boot > $TR/trace_clock
for e in sched/sched_switch kvm/kvm_exit kvm/kvm_entry compaction/mm_compaction_begin \
         compaction/mm_compaction_end; do
    echo 1 > $TR/events/$e/enable || echo "no event $e"
done
# A warm-up boot: the kernel cache and the page cache filled, as in bench/boot.
$T --kernel "$K" --initrd "$I" --append "$A" --mem 512 --cpus 1 --serial none >/dev/null 2>&1
traced() {
    name=$1; shift
    echo > $TR/trace
    echo 1 > $TR/tracing_on
    "$@" > /tmp/$name.log 2>&1
    echo 0 > $TR/tracing_on
    echo "$name: $(grep -h overrun $TR/per_cpu/cpu*/stats | tr '\n' ' ')"
    gzip -1 < $TR/trace > /tmp/$name.trace.gz
    cp /tmp/$name.log /tmp/$name.trace.gz "$OUT/"
}
i=1
while [ $i -le "$N" ]; do
    traced trm-$i timeout 300 $T --kernel "$K" --initrd "$I" --append "$A" --mem 512 --cpus 1 \
        --serial stdio
    i=$((i + 1))
done
traced qemu-1 timeout 300 qemu-system-x86_64 -accel kvm -cpu host -M pc -m 512 -nodefaults \
    -no-user-config -serial stdio -display none -no-reboot -kernel "$K" -initrd "$I" -append "$A"
