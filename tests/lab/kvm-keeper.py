#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Holds one idle KVM vCPU open for the lab's lifetime (started by the lab's init).

The lab's KVM flips a jump label (apic_sw_disabled) whenever the number of vCPUs with a
software-disabled local APIC goes from 0 to 1 or back: every VM start and every guest
enabling its APIC patches the lab kernel's text (text_poke_bp, with int3 traps on every
CPU). The lab has stalled with both of its CPUs inside exc_int3 right at a VM's start, the
nested (TCG) machine never finishing such a patch. A vCPU that is created and never runs
keeps its APIC software-disabled, so the count never returns to 0 and the label is patched
once, here, instead of twice per VM. Its APIC is hardware-disabled too (APIC base MSR without
the enable bit), which holds the apic_hw_disabled label the same way: a lab once soft-locked
with a kworker (where KVM's deferred label updates run) stuck for minutes.
"""
import fcntl
import os
import signal
import struct
import sys

KVM_CREATE_VM = 0xAE01
KVM_CREATE_IRQCHIP = 0xAE60
KVM_CREATE_VCPU = 0xAE41
KVM_SET_MSRS = 0x4008AE89  # _IOW(KVMIO, 0x89, struct kvm_msrs): an 8-byte header
MSR_IA32_APICBASE = 0x1B
APICBASE_HW_DISABLED = 0xFEE00100  # default base, BSP, global enable clear


def main():
    try:
        kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
        fcntl.ioctl(vm, KVM_CREATE_IRQCHIP, 0)
        vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
    except OSError as e:
        print(f"[lab] kvm-keeper: {e}", flush=True)
        return 1
    # Its APIC also hardware-disabled: apic_hw_disabled, the other label KVM flips (from a
    # kworker, a second after the last VM using it goes), stays enabled too.
    # A mutable buffer: fcntl.ioctl then returns the ioctl's result (MSRs set).
    msrs = bytearray(struct.pack("<II", 1, 0) + struct.pack("<IIQ", MSR_IA32_APICBASE, 0,
                                                            APICBASE_HW_DISABLED))
    try:
        hw = "and APIC disabled" if fcntl.ioctl(vcpu, KVM_SET_MSRS, msrs) == 1 else \
            "(KVM kept its APIC enabled)"
    except OSError as e:
        hw = f"(APIC base not set: {e})"
    print(f"[lab] kvm-keeper: an idle vCPU is held {hw} (fds {vm}, {vcpu})", flush=True)
    # The parent returns once the vCPU exists (the lab goes on only then); the child keeps it.
    if os.fork():
        return 0
    os.setsid()
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
