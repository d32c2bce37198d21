/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/vm.h"

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING 1ULL
#define MSR_IA32_CR_PAT 0x277
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MSR_KVM_ASYNC_PF_EN 0x4b564d02
#define MSR_KVM_STEAL_TIME 0x4b564d03
#define MSR_KVM_PV_EOI_EN 0x4b564d04
#define MSR_KVM_POLL_CONTROL 0x4b564d05
#define MSR_KVM_SYSTEM_TIME 0x12

/*
 * Values a vCPU has at power-on (and after a reset) for the MSRs KVM leaves
 * to us. The kvmclock and paravirt MSRs matter most on reset: left set, KVM
 * would keep writing into pages of the previous boot's memory map.
 * MSR_KVM_WALL_CLOCK* are deliberately absent: writing them makes KVM write
 * to the guest address written.
 */
static const struct {
    uint32_t index;
    uint64_t value;
} reset_msrs[] = {
    {MSR_IA32_TSC, 0},
    {MSR_IA32_SYSENTER_CS, 0},
    {MSR_IA32_SYSENTER_ESP, 0},
    {MSR_IA32_SYSENTER_EIP, 0},
    {MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING},
    {MSR_IA32_CR_PAT, 0x0007040600070406ULL},
    {MSR_STAR, 0},
    {MSR_LSTAR, 0},
    {MSR_CSTAR, 0},
    {MSR_SYSCALL_MASK, 0},
    {MSR_KERNEL_GS_BASE, 0},
    {MSR_TSC_AUX, 0},
    {MSR_KVM_SYSTEM_TIME_NEW, 0},
    {MSR_KVM_SYSTEM_TIME, 0},
    {MSR_KVM_ASYNC_PF_EN, 0},
    {MSR_KVM_STEAL_TIME, 0},
    {MSR_KVM_PV_EOI_EN, 0},
    {MSR_KVM_POLL_CONTROL, 1},
};

#define NRESET (sizeof(reset_msrs) / sizeof(reset_msrs[0]))

static bool msr_supported(const struct kvm_msr_list *list, uint32_t index)
{
    for (uint32_t i = 0; i < list->nmsrs; i++)
        if (list->indices[i] == index)
            return true;
    return false;
}

int vmm_msr_reset(struct vmm_vcpu *vcpu, struct vmm_error *err)
{
    struct vmm_vm *vm = vcpu->vm;
    /* Ask which MSRs this KVM knows; setting an unknown one would fail the whole batch. */
    struct kvm_msr_list probe = {.nmsrs = 0};
    ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe);
    uint32_t n = probe.nmsrs;
    struct kvm_msr_list *list = calloc(1, sizeof(*list) + (n + 1) * sizeof(uint32_t));
    struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + NRESET * sizeof(struct kvm_msr_entry));
    int r = 0;
    if (!list || !msrs) {
        r = -ENOMEM;
        vmm_error_set(err, r, "out of memory");
        goto out;
    }
    list->nmsrs = n;
    if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        r = -errno;
        vmm_error_set(err, r, "KVM_GET_MSR_INDEX_LIST failed: %s", strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < NRESET; i++) {
        if (!msr_supported(list, reset_msrs[i].index))
            continue;
        msrs->entries[msrs->nmsrs].index = reset_msrs[i].index;
        msrs->entries[msrs->nmsrs].data = reset_msrs[i].value;
        msrs->nmsrs++;
    }
    int set = ioctl(vcpu->fd, KVM_SET_MSRS, msrs);
    if (set < 0 || (uint32_t)set != msrs->nmsrs) {
        r = set < 0 ? -errno : -EIO;
        vmm_error_set(err, r, "vCPU %u: KVM refused reset MSR 0x%x", vcpu->id,
                      set >= 0 && (uint32_t)set < msrs->nmsrs ? msrs->entries[set].index : 0);
    }
out:
    free(list);
    free(msrs);
    return r;
}
