/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/irq.h"
#include "core/log.h"
#include "core/vm.h"

#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

/* Every capability vmm-core relies on, with the words a user sees if one is missing. */
static const struct {
    int cap;
    const char *name;
} required_caps[] = {
    {KVM_CAP_IRQCHIP, "in-kernel irqchip (KVM_CAP_IRQCHIP)"},
    {KVM_CAP_USER_MEMORY, "user memory slots (KVM_CAP_USER_MEMORY)"},
    {KVM_CAP_IOEVENTFD, "ioeventfd (KVM_CAP_IOEVENTFD)"},
    {KVM_CAP_IRQFD, "irqfd (KVM_CAP_IRQFD)"},
    {KVM_CAP_IRQ_ROUTING, "IRQ routing (KVM_CAP_IRQ_ROUTING)"},
    {KVM_CAP_PIT2, "in-kernel PIT (KVM_CAP_PIT2)"},
    {KVM_CAP_IMMEDIATE_EXIT, "immediate exit (KVM_CAP_IMMEDIATE_EXIT)"},
    {KVM_CAP_EXT_CPUID, "extended CPUID (KVM_CAP_EXT_CPUID)"},
    {KVM_CAP_SET_TSS_ADDR, "TSS address (KVM_CAP_SET_TSS_ADDR)"},
    {KVM_CAP_MP_STATE, "MP state (KVM_CAP_MP_STATE)"},
    {KVM_CAP_SYNC_MMU, "synchronous MMU (KVM_CAP_SYNC_MMU)"},
    {KVM_CAP_ADJUST_CLOCK, "kvmclock adjustment (KVM_CAP_ADJUST_CLOCK)"},
    {KVM_CAP_VCPU_EVENTS, "vCPU events (KVM_CAP_VCPU_EVENTS)"},
};

int vmm_kvm_open(struct vmm_vm *vm, struct vmm_error *err)
{
    const char *dev = vm->cfg.kvm_device ? vm->cfg.kvm_device : "/dev/kvm";
    vm->kvm_fd = open(dev, O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENXIO || e == ENODEV)
            vmm_error_set(err, -e,
                          "%s does not exist: turn on virtualization (VT-x or AMD-V) in the "
                          "computer's firmware settings and load the kvm_intel or kvm_amd module",
                          dev);
        else if (e == EACCES || e == EPERM)
            vmm_error_set(err, -e,
                          "no permission to use %s: add yourself to the kvm group with "
                          "`sudo usermod -aG kvm $USER`, then log out and back in",
                          dev);
        else
            vmm_error_set(err, -e, "cannot open %s: %s", dev, strerror(e));
        return -e;
    }
    int ver = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (ver != KVM_API_VERSION) {
        vmm_error_set(err, -ENOTSUP, "%s is not a KVM device with API version %d", dev,
                      KVM_API_VERSION);
        return -ENOTSUP;
    }
    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
            vmm_error_set(err, -ENOTSUP,
                          "this kernel's KVM lacks %s, which Terrarium needs; a newer kernel "
                          "should have it",
                          required_caps[i].name);
            return -ENOTSUP;
        }
    }
    /* Present whenever the host CPU has XSAVE; without it the legacy FPU state serves. */
    vm->has_xsave = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0 &&
                    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
    int max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max_vcpus <= 0)
        max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max_vcpus <= 0)
        max_vcpus = 4;
    if ((int)vm->ncpus > max_vcpus) {
        vmm_error_set(err, -EINVAL, "this host's KVM allows at most %d vCPUs per VM, not %u",
                      max_vcpus, vm->ncpus);
        return -EINVAL;
    }
    vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        vmm_error_set(err, -EIO, "KVM_GET_VCPU_MMAP_SIZE failed");
        return -EIO;
    }
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        int e = errno;
        vmm_error_set(err, -e, "cannot create a KVM virtual machine: %s", strerror(e));
        return -e;
    }
    /* Needed on Intel (real-mode emulation areas); placed just below the BIOS, in the hole. */
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0) {
        int e = errno;
        vmm_error_set(err, -e, "KVM_SET_TSS_ADDR failed: %s", strerror(e));
        return -e;
    }
    uint64_t idmap = 0xfffbc000ULL;
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
        ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
        int e = errno;
        vmm_error_set(err, -e, "KVM_SET_IDENTITY_MAP_ADDR failed: %s", strerror(e));
        return -e;
    }

    /* CPUID as KVM can virtualize it on this host; patched per vCPU later. */
    for (int nent = 128; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(struct kvm_cpuid_entry2));
        if (!c) {
            vmm_error_set(err, -ENOMEM, "out of memory");
            return -ENOMEM;
        }
        c->nent = nent;
        if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            vm->supported_cpuid = c;
            break;
        }
        int e = errno;
        free(c);
        if (e != E2BIG) {
            vmm_error_set(err, -e, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(e));
            return -e;
        }
    }
    if (!vm->supported_cpuid) {
        vmm_error_set(err, -E2BIG, "KVM_GET_SUPPORTED_CPUID: too many entries");
        return -E2BIG;
    }
    /*
     * The in-kernel LAPIC emulates TSC-deadline mode, but kernels before 6.14 leave its bit
     * out of KVM_GET_SUPPORTED_CPUID and name it by capability instead. Offered, a guest
     * programs its timer events by TSC value (one MSR write, no divide or count to convert)
     * and Linux skips calibrating the LAPIC timer at boot.
     */
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0) {
        for (uint32_t i = 0; i < vm->supported_cpuid->nent; i++)
            if (vm->supported_cpuid->entries[i].function == 1)
                vm->supported_cpuid->entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
    }
    return 0;
}

int vmm_kvm_create_irqchip(struct vmm_vm *vm, struct vmm_error *err)
{
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        int e = errno;
        vmm_error_set(err, -e, "cannot create the in-kernel interrupt controllers: %s",
                      strerror(e));
        return -e;
    }
    int r = vmm_irq_routing_init(vm, err);
    if (r < 0)
        return r;
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        int e = errno;
        vmm_error_set(err, -e, "cannot create the in-kernel PIT: %s", strerror(e));
        return -e;
    }
    return 0;
}
