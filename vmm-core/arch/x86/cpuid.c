/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/vm.h"

#define CPUID_1_ECX_VMX (1u << 5)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)
#define CPUID_80000001_ECX_CMP_LEGACY (1u << 1)
#define CPUID_80000001_ECX_SVM (1u << 2)
#define CPUID_80000001_ECX_TOPOEXT (1u << 22)

static unsigned order_of(unsigned n)
{
    unsigned b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

/*
 * The topology we present: one package, ncpus cores, one thread per core,
 * APIC ID = vCPU index. Every leaf that describes topology says the same.
 */
static void patch_entry(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus)
{
    unsigned core_bits = order_of(ncpus);
    switch (e->function) {
    case 1:
        e->ebx = (e->ebx & 0x0000ffff) | (id << 24) | ((ncpus > 1 ? ncpus : 1) << 16);
        e->ecx |= CPUID_1_ECX_HYPERVISOR;
        e->ecx &= ~CPUID_1_ECX_VMX; /* no nested virtualization for guests */
        if (ncpus > 1)
            e->edx |= CPUID_1_EDX_HTT;
        else
            e->edx &= ~CPUID_1_EDX_HTT;
        break;
    case 4: {
        if ((e->eax & 0x1f) == 0)
            break; /* no more cache levels */
        unsigned level = (e->eax >> 5) & 7;
        unsigned sharing = level >= 3 ? ncpus - 1 : 0;
        e->eax = (e->eax & 0x3fff) | (sharing << 14) | ((ncpus - 1) << 26);
        break;
    }
    case 0xb:
    case 0x1f:
        e->edx = id;
        if (e->index == 0) {
            e->eax = 0;
            e->ebx = 1;
            e->ecx = (1u << 8) | 0;
        } else if (e->index == 1) {
            e->eax = core_bits;
            e->ebx = ncpus;
            e->ecx = (2u << 8) | 1;
        } else {
            e->eax = 0;
            e->ebx = 0;
            e->ecx = e->index & 0xff;
        }
        break;
    case 0x80000001:
        e->ecx &= ~CPUID_80000001_ECX_SVM;
        if (ncpus > 1)
            e->ecx |= CPUID_80000001_ECX_CMP_LEGACY;
        else
            e->ecx &= ~CPUID_80000001_ECX_CMP_LEGACY;
        break;
    case 0x80000008:
        e->ecx = (e->ecx & ~0xf0ffu) | (core_bits << 12) | (ncpus - 1);
        break;
    case 0x8000001e:
        e->eax = id;
        e->ebx = id & 0xff; /* core id; one thread per core */
        e->ecx = 0;
        break;
    default:
        break;
    }
}

bool vmm_cpuid_guest_leaf(const struct vmm_vm *vm, unsigned id, uint32_t function, uint32_t index,
                          struct kvm_cpuid_entry2 *out)
{
    const struct kvm_cpuid2 *sup = vm->supported_cpuid;
    for (uint32_t i = 0; sup && i < sup->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &sup->entries[i];
        if (e->function != function ||
            ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index))
            continue;
        *out = *e;
        patch_entry(out, id, vm->ncpus);
        return true;
    }
    return false;
}

int vmm_cpuid_setup(struct vmm_vm *vm, struct vmm_vcpu *vcpu, struct vmm_error *err)
{
    const struct kvm_cpuid2 *sup = vm->supported_cpuid;
    struct kvm_cpuid2 *c =
        calloc(1, sizeof(*c) + (sup->nent + 4) * sizeof(struct kvm_cpuid_entry2));
    if (!c) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    bool have_leaf_b = false;
    uint32_t max_basic = 0;
    for (uint32_t i = 0; i < sup->nent; i++) {
        struct kvm_cpuid_entry2 e = sup->entries[i];
        if (e.function == 0)
            max_basic = e.eax;
        if (e.function == 0xb)
            have_leaf_b = true;
        patch_entry(&e, vcpu->id, vm->ncpus);
        c->entries[c->nent++] = e;
    }
    /* Guests find x2APIC IDs and the core count in leaf 0xB; provide it if the host lacks it. */
    if (!have_leaf_b && max_basic >= 0xb) {
        for (uint32_t sub = 0; sub < 3; sub++) {
            struct kvm_cpuid_entry2 e = {
                .function = 0xb, .index = sub, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX};
            patch_entry(&e, vcpu->id, vm->ncpus);
            c->entries[c->nent++] = e;
        }
    }
    int r = ioctl(vcpu->fd, KVM_SET_CPUID2, c);
    int e = errno;
    free(c);
    if (r < 0) {
        vmm_error_set(err, -e, "KVM_SET_CPUID2 failed for vCPU %u: %s", vcpu->id, strerror(e));
        return -e;
    }
    return 0;
}
