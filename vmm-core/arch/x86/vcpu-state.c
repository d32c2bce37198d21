/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/vm.h"

struct vmm_vcpu_reset_state {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    struct kvm_lapic_state lapic;
    struct kvm_xcrs xcrs;
    struct kvm_mp_state mp;
    struct kvm_vcpu_events events;
    struct kvm_xsave xsave;
};

static int vcpu_ioctl(struct vmm_vcpu *v, unsigned long req, void *arg, const char *what,
                      struct vmm_error *err)
{
    if (ioctl(v->fd, req, arg) < 0) {
        int e = errno;
        vmm_error_set(err, -e, "vCPU %u: %s failed: %s", v->id, what, strerror(e));
        return -e;
    }
    return 0;
}

int vmm_vcpu_capture_reset_state(struct vmm_vcpu *v, struct vmm_error *err)
{
    struct vmm_vcpu_reset_state *s = calloc(1, sizeof(*s));
    if (!s) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    int r = vcpu_ioctl(v, KVM_GET_REGS, &s->regs, "KVM_GET_REGS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_FPU, &s->fpu, "KVM_GET_FPU", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC", err);
    if (!r && v->vm->has_xsave)
        r = vcpu_ioctl(v, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_MP_STATE, &s->mp, "KVM_GET_MP_STATE", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS", err);
    if (!r && v->vm->has_xsave)
        r = vcpu_ioctl(v, KVM_GET_XSAVE, &s->xsave, "KVM_GET_XSAVE", err);
    if (r) {
        free(s);
        return r;
    }
    free(v->reset_state);
    v->reset_state = s;
    return 0;
}

int vmm_vcpu_restore_reset_state(struct vmm_vcpu *v, struct vmm_error *err)
{
    struct vmm_vcpu_reset_state *s = v->reset_state;
    if (!s) {
        vmm_error_set(err, -EINVAL, "vCPU %u has no reset state", v->id);
        return -EINVAL;
    }
    /* sregs first: it carries APIC_BASE, which decides how the LAPIC state is read. */
    int r = vcpu_ioctl(v, KVM_SET_SREGS, &s->sregs, "KVM_SET_SREGS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_SET_REGS, &s->regs, "KVM_SET_REGS", err);
    if (!r && v->vm->has_xsave)
        r = vcpu_ioctl(v, KVM_SET_XSAVE, &s->xsave, "KVM_SET_XSAVE", err);
    else if (!r)
        r = vcpu_ioctl(v, KVM_SET_FPU, &s->fpu, "KVM_SET_FPU", err);
    if (!r && v->vm->has_xsave)
        r = vcpu_ioctl(v, KVM_SET_XCRS, &s->xcrs, "KVM_SET_XCRS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_SET_LAPIC, &s->lapic, "KVM_SET_LAPIC", err);
    if (!r) {
        struct kvm_vcpu_events ev = s->events;
        ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
        r = vcpu_ioctl(v, KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS", err);
    }
    if (!r)
        r = vcpu_ioctl(v, KVM_SET_MP_STATE, &s->mp, "KVM_SET_MP_STATE", err);
    return r;
}

int vmm_irqchip_capture_reset_state(struct vmm_vm *vm, struct vmm_error *err)
{
    struct kvm_irqchip *chips = calloc(3, sizeof(*chips));
    if (!chips) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (unsigned i = 0; i < 3; i++) {
        chips[i].chip_id = i; /* KVM_IRQCHIP_PIC_MASTER, _SLAVE, _IOAPIC */
        if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chips[i]) < 0) {
            int e = errno;
            free(chips);
            vmm_error_set(err, -e, "KVM_GET_IRQCHIP failed: %s", strerror(e));
            return -e;
        }
    }
    if (ioctl(vm->vm_fd, KVM_GET_PIT2, &vm->pit_reset) < 0) {
        int e = errno;
        free(chips);
        vmm_error_set(err, -e, "KVM_GET_PIT2 failed: %s", strerror(e));
        return -e;
    }
    free(vm->irqchip_reset);
    vm->irqchip_reset = chips;
    return 0;
}

int vmm_irqchip_restore_reset_state(struct vmm_vm *vm, struct vmm_error *err)
{
    for (unsigned i = 0; vm->irqchip_reset && i < 3; i++) {
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &vm->irqchip_reset[i]) < 0) {
            int e = errno;
            vmm_error_set(err, -e, "KVM_SET_IRQCHIP failed: %s", strerror(e));
            return -e;
        }
    }
    if (ioctl(vm->vm_fd, KVM_SET_PIT2, &vm->pit_reset) < 0) {
        int e = errno;
        vmm_error_set(err, -e, "KVM_SET_PIT2 failed: %s", strerror(e));
        return -e;
    }
    return 0;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64, bool db)
{
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->dpl = 0;
    s->db = db;
    s->s = 1;
    s->l = code64;
    s->g = 1;
}

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

int vmm_vcpu_set_boot_state(struct vmm_vcpu *v, const struct vmm_boot_entry *e,
                            struct vmm_error *err)
{
    struct kvm_sregs sregs;
    int r = vcpu_ioctl(v, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS", err);
    if (r)
        return r;
    bool lm = e->mode == VMM_ENTRY_LONG64;
    struct kvm_segment data;
    set_seg(&sregs.cs, lm ? VMM_BOOT_SEL_CODE64 : VMM_BOOT_SEL_CODE32, 0xb, lm, !lm);
    set_seg(&data, VMM_BOOT_SEL_DATA, 0x3, false, true);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    memset(&sregs.tr, 0, sizeof(sregs.tr));
    sregs.tr.limit = 0xffff;
    sregs.tr.type = 0xb; /* busy TSS */
    sregs.tr.present = 1;
    memset(&sregs.ldt, 0, sizeof(sregs.ldt));
    sregs.ldt.limit = 0xffff;
    sregs.ldt.type = 0x2;
    sregs.ldt.present = 1;
    sregs.gdt.base = e->gdt_base;
    sregs.gdt.limit = e->gdt_limit;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    if (lm) {
        sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
        sregs.cr3 = e->cr3;
        sregs.cr4 = CR4_PAE;
        sregs.efer = EFER_LME | EFER_LMA;
    } else {
        sregs.cr0 = CR0_PE | CR0_ET;
        sregs.cr3 = 0;
        sregs.cr4 = 0;
        sregs.efer = 0;
    }
    r = vcpu_ioctl(v, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS", err);
    if (r)
        return r;
    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rflags = 0x2;
    regs.rip = e->rip;
    regs.rsp = e->rsp;
    regs.rax = e->rax;
    regs.rbx = e->rbx;
    regs.rsi = e->rsi;
    return vcpu_ioctl(v, KVM_SET_REGS, &regs, "KVM_SET_REGS", err);
}
