/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vCPU and in-kernel device state, as KVM hands it out. The payloads are
 * KVM's own structures, each preceded by its size so that a build with a
 * different <linux/kvm.h> layout refuses instead of misreading; KVM itself
 * validates the values on KVM_SET_*. MSRs are limited to the ones this KVM
 * lists as saveable: a state file cannot name any other.
 *
 *   "cpu.N"  u32 version, u32 flags (bit 0: XSAVE + XCRs present), u32 nmsrs,
 *            then regs, sregs, fpu, xsave, xcrs, lapic, events, mp_state,
 *            debugregs (each as u32 size + bytes), then nmsrs x {u32 index,
 *            u32 0, u64 value}
 *   "kvm"    u32 version, then PIC master, PIC slave, IOAPIC, PIT2, clock
 *            (each as u32 size + bytes)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/vm.h"
#include "snapshot/snapshot.h"

#define CPU_VERSION 1
#define KVM_VERSION 1
#define MAX_MSRS 1024
#define FLAG_XSAVE 1u

struct cpu_blob {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp;
    struct kvm_debugregs dregs;
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

/* The MSRs this KVM can save and restore. */
static struct kvm_msr_list *msr_list(struct vmm_vm *vm, struct vmm_error *err)
{
    struct kvm_msr_list probe = {.nmsrs = 0};
    ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe);
    uint32_t n = probe.nmsrs > MAX_MSRS ? MAX_MSRS : probe.nmsrs;
    struct kvm_msr_list *l = calloc(1, sizeof(*l) + (n + 1) * sizeof(uint32_t));
    if (!l) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    l->nmsrs = n;
    if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
        int e = errno;
        free(l);
        vmm_error_set(err, -e, "KVM_GET_MSR_INDEX_LIST failed: %s", strerror(e));
        return NULL;
    }
    return l;
}

static void put_struct(struct vmm_buf *b, const void *p, uint32_t size)
{
    vmm_buf_put_u32(b, size);
    vmm_buf_put(b, p, size);
}

/* Reads every listed MSR this vCPU has, dropping the ones KVM refuses for it. */
static struct kvm_msrs *read_msrs(struct vmm_vcpu *v, const struct kvm_msr_list *l)
{
    size_t bytes = sizeof(struct kvm_msrs) + l->nmsrs * sizeof(struct kvm_msr_entry);
    struct kvm_msrs *m = calloc(1, bytes);
    struct kvm_msrs *part = calloc(1, bytes);
    if (!m || !part) {
        free(m);
        free(part);
        return NULL;
    }
    uint32_t left = l->nmsrs;
    const uint32_t *idx = l->indices;
    while (left) {
        /* KVM reads a batch up to the first MSR it refuses: keep those, skip that one. */
        part->nmsrs = left;
        for (uint32_t i = 0; i < left; i++)
            part->entries[i] = (struct kvm_msr_entry){.index = idx[i]};
        int r = ioctl(v->fd, KVM_GET_MSRS, part);
        uint32_t got = r < 0 ? 0 : (uint32_t)r > left ? left : (uint32_t)r;
        memcpy(&m->entries[m->nmsrs], part->entries, got * sizeof(struct kvm_msr_entry));
        m->nmsrs += got;
        if (got < left)
            got++; /* the refused one */
        idx += got;
        left -= got;
    }
    free(part);
    return m;
}

static int save_cpu(struct vmm_vcpu *v, const struct kvm_msr_list *l, struct vmm_state_writer *w,
                    struct vmm_error *err)
{
    struct cpu_blob *c = calloc(1, sizeof(*c));
    if (!c) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    bool xs = v->vm->has_xsave;
    int r = vcpu_ioctl(v, KVM_GET_REGS, &c->regs, "KVM_GET_REGS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_SREGS, &c->sregs, "KVM_GET_SREGS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_FPU, &c->fpu, "KVM_GET_FPU", err);
    if (!r && xs)
        r = vcpu_ioctl(v, KVM_GET_XSAVE, &c->xsave, "KVM_GET_XSAVE", err);
    if (!r && xs)
        r = vcpu_ioctl(v, KVM_GET_XCRS, &c->xcrs, "KVM_GET_XCRS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_LAPIC, &c->lapic, "KVM_GET_LAPIC", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_VCPU_EVENTS, &c->events, "KVM_GET_VCPU_EVENTS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_MP_STATE, &c->mp, "KVM_GET_MP_STATE", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_GET_DEBUGREGS, &c->dregs, "KVM_GET_DEBUGREGS", err);
    struct kvm_msrs *m = NULL;
    if (!r) {
        m = read_msrs(v, l);
        if (!m) {
            r = -ENOMEM;
            vmm_error_set(err, r, "out of memory");
        }
    }
    if (r) {
        free(c);
        return r;
    }
    struct vmm_buf b = {0};
    vmm_buf_put_u32(&b, CPU_VERSION);
    vmm_buf_put_u32(&b, xs ? FLAG_XSAVE : 0);
    vmm_buf_put_u32(&b, m->nmsrs);
    put_struct(&b, &c->regs, sizeof(c->regs));
    put_struct(&b, &c->sregs, sizeof(c->sregs));
    put_struct(&b, &c->fpu, sizeof(c->fpu));
    put_struct(&b, &c->xsave, sizeof(c->xsave));
    put_struct(&b, &c->xcrs, sizeof(c->xcrs));
    put_struct(&b, &c->lapic, sizeof(c->lapic));
    put_struct(&b, &c->events, sizeof(c->events));
    put_struct(&b, &c->mp, sizeof(c->mp));
    put_struct(&b, &c->dregs, sizeof(c->dregs));
    for (uint32_t i = 0; i < m->nmsrs; i++) {
        vmm_buf_put_u32(&b, m->entries[i].index);
        vmm_buf_put_u32(&b, 0);
        vmm_buf_put_u64(&b, m->entries[i].data);
    }
    free(m);
    free(c);
    char name[16];
    snprintf(name, sizeof(name), "cpu.%u", v->id);
    r = vmm_state_writer_add(w, name, &b);
    vmm_buf_free(&b);
    if (r < 0)
        vmm_error_set(err, r, "cannot record vCPU %u's state", v->id);
    return r;
}

int vmm_snapshot_save_cpus(struct vmm_vm *vm, struct vmm_state_writer *w, struct vmm_error *err)
{
    struct kvm_msr_list *l = msr_list(vm, err);
    if (!l)
        return -ENOMEM;
    int r = 0;
    for (unsigned i = 0; r == 0 && i < vm->ncpus; i++)
        r = save_cpu(&vm->vcpus[i], l, w, err);
    free(l);
    if (r)
        return r;

    struct kvm_irqchip chips[3];
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
    memset(chips, 0, sizeof(chips));
    memset(&pit, 0, sizeof(pit));
    memset(&clock, 0, sizeof(clock));
    for (unsigned i = 0; i < 3; i++) {
        chips[i].chip_id = i;
        if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chips[i]) < 0) {
            vmm_error_set(err, -errno, "KVM_GET_IRQCHIP failed: %s", strerror(errno));
            return -errno;
        }
    }
    if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0 || ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0) {
        vmm_error_set(err, -errno, "cannot read the PIT or the KVM clock: %s", strerror(errno));
        return -errno;
    }
    struct vmm_buf b = {0};
    vmm_buf_put_u32(&b, KVM_VERSION);
    for (unsigned i = 0; i < 3; i++)
        put_struct(&b, &chips[i], sizeof(chips[i]));
    put_struct(&b, &pit, sizeof(pit));
    put_struct(&b, &clock, sizeof(clock));
    r = vmm_state_writer_add(w, "kvm", &b);
    vmm_buf_free(&b);
    if (r < 0)
        vmm_error_set(err, r, "cannot record the irqchip state");
    return r;
}

/* ---- Loading ---- */

struct reader {
    const uint8_t *p;
    size_t left;
    bool bad;
};

static uint32_t get_u32(struct reader *rd)
{
    if (rd->bad || rd->left < 4) {
        rd->bad = true;
        return 0;
    }
    uint32_t v = (uint32_t)rd->p[0] | (uint32_t)rd->p[1] << 8 | (uint32_t)rd->p[2] << 16 |
                 (uint32_t)rd->p[3] << 24;
    rd->p += 4;
    rd->left -= 4;
    return v;
}

static uint64_t get_u64(struct reader *rd)
{
    uint64_t lo = get_u32(rd);
    return lo | (uint64_t)get_u32(rd) << 32;
}

static void get_struct(struct reader *rd, void *out, uint32_t size)
{
    uint32_t n = get_u32(rd);
    if (rd->bad || n != size || rd->left < size) {
        rd->bad = true;
        return;
    }
    memcpy(out, rd->p, size);
    rd->p += size;
    rd->left -= size;
}

static bool listed(const struct kvm_msr_list *l, uint32_t index)
{
    for (uint32_t i = 0; i < l->nmsrs; i++)
        if (l->indices[i] == index)
            return true;
    return false;
}

static int load_cpu(struct vmm_vcpu *v, const struct vmm_state_section *s,
                    const struct kvm_msr_list *l, struct vmm_error *err)
{
    struct reader rd = {.p = s->data, .left = s->size};
    uint32_t version = get_u32(&rd);
    uint32_t flags = get_u32(&rd);
    uint32_t nmsrs = get_u32(&rd);
    if (rd.bad || version != CPU_VERSION || (flags & ~FLAG_XSAVE) || nmsrs > MAX_MSRS) {
        vmm_error_set(err, -EINVAL, "the saved state of vCPU %u is malformed", v->id);
        return -EINVAL;
    }
    bool xs = flags & FLAG_XSAVE;
    if (xs != v->vm->has_xsave) {
        vmm_error_set(err, -EINVAL,
                      "the saved vCPU state %s XSAVE, this host's KVM %s: restore it on a host "
                      "like the one that saved it",
                      xs ? "uses" : "does not use", v->vm->has_xsave ? "has it" : "does not");
        return -EINVAL;
    }
    struct cpu_blob *c = calloc(1, sizeof(*c));
    struct kvm_msrs *m = calloc(1, sizeof(*m) + (nmsrs + 1) * sizeof(struct kvm_msr_entry));
    int r = 0;
    if (!c || !m) {
        r = -ENOMEM;
        vmm_error_set(err, r, "out of memory");
        goto out;
    }
    get_struct(&rd, &c->regs, sizeof(c->regs));
    get_struct(&rd, &c->sregs, sizeof(c->sregs));
    get_struct(&rd, &c->fpu, sizeof(c->fpu));
    get_struct(&rd, &c->xsave, sizeof(c->xsave));
    get_struct(&rd, &c->xcrs, sizeof(c->xcrs));
    get_struct(&rd, &c->lapic, sizeof(c->lapic));
    get_struct(&rd, &c->events, sizeof(c->events));
    get_struct(&rd, &c->mp, sizeof(c->mp));
    get_struct(&rd, &c->dregs, sizeof(c->dregs));
    for (uint32_t i = 0; i < nmsrs && !rd.bad; i++) {
        m->entries[i].index = get_u32(&rd);
        if (get_u32(&rd) != 0)
            rd.bad = true;
        m->entries[i].data = get_u64(&rd);
        if (!rd.bad && !listed(l, m->entries[i].index)) {
            r = -EINVAL;
            vmm_error_set(err, r,
                          "the saved state of vCPU %u names MSR 0x%x, which KVM does not "
                          "save",
                          v->id, m->entries[i].index);
            goto out;
        }
    }
    if (rd.bad || rd.left) {
        r = -EINVAL;
        vmm_error_set(err, r, "the saved state of vCPU %u is malformed (built for another KVM?)",
                      v->id);
        goto out;
    }
    m->nmsrs = nmsrs;
    /* sregs first: APIC_BASE decides how KVM reads the LAPIC state. */
    r = vcpu_ioctl(v, KVM_SET_SREGS, &c->sregs, "KVM_SET_SREGS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_SET_REGS, &c->regs, "KVM_SET_REGS", err);
    if (!r && xs)
        r = vcpu_ioctl(v, KVM_SET_XSAVE, &c->xsave, "KVM_SET_XSAVE", err);
    else if (!r)
        r = vcpu_ioctl(v, KVM_SET_FPU, &c->fpu, "KVM_SET_FPU", err);
    if (!r && xs)
        r = vcpu_ioctl(v, KVM_SET_XCRS, &c->xcrs, "KVM_SET_XCRS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_SET_LAPIC, &c->lapic, "KVM_SET_LAPIC", err);
    /* After the LAPIC: the TSC deadline only sticks in TSC-deadline mode. */
    if (!r) {
        int n = ioctl(v->fd, KVM_SET_MSRS, m);
        if (n < 0 || (uint32_t)n != m->nmsrs) {
            r = -EINVAL;
            vmm_error_set(err, r, "vCPU %u: KVM refused saved MSR 0x%x", v->id,
                          n >= 0 && (uint32_t)n < m->nmsrs ? m->entries[n].index : 0);
        }
    }
    if (!r) {
        c->events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
        r = vcpu_ioctl(v, KVM_SET_VCPU_EVENTS, &c->events, "KVM_SET_VCPU_EVENTS", err);
    }
    if (!r)
        r = vcpu_ioctl(v, KVM_SET_DEBUGREGS, &c->dregs, "KVM_SET_DEBUGREGS", err);
    if (!r)
        r = vcpu_ioctl(v, KVM_SET_MP_STATE, &c->mp, "KVM_SET_MP_STATE", err);
out:
    free(c);
    free(m);
    return r;
}

int vmm_snapshot_load_cpus(struct vmm_vm *vm, const struct vmm_state_file *f, struct vmm_error *err)
{
    const struct vmm_state_section *ks = vmm_state_file_find(f, "kvm");
    if (!ks) {
        vmm_error_set(err, -EINVAL, "the machine state has no irqchip section");
        return -EINVAL;
    }
    struct kvm_irqchip chips[3];
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
    struct reader rd = {.p = ks->data, .left = ks->size};
    uint32_t version = get_u32(&rd);
    for (unsigned i = 0; i < 3; i++)
        get_struct(&rd, &chips[i], sizeof(chips[i]));
    get_struct(&rd, &pit, sizeof(pit));
    get_struct(&rd, &clock, sizeof(clock));
    if (rd.bad || rd.left || version != KVM_VERSION) {
        vmm_error_set(err, -EINVAL, "the saved irqchip state is malformed");
        return -EINVAL;
    }
    for (unsigned i = 0; i < 3; i++) {
        if (chips[i].chip_id != i) {
            vmm_error_set(err, -EINVAL, "the saved irqchip state is malformed");
            return -EINVAL;
        }
    }
    struct kvm_msr_list *l = msr_list(vm, err);
    if (!l)
        return -ENOMEM;
    int r = 0;
    for (unsigned i = 0; r == 0 && i < vm->ncpus; i++) {
        char name[16];
        snprintf(name, sizeof(name), "cpu.%u", i);
        const struct vmm_state_section *s = vmm_state_file_find(f, name);
        if (!s) {
            r = -EINVAL;
            vmm_error_set(err, r, "the machine state has no state for vCPU %u", i);
            break;
        }
        r = load_cpu(&vm->vcpus[i], s, l, err);
    }
    free(l);
    if (r)
        return r;
    for (unsigned i = 0; i < 3; i++) {
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chips[i]) < 0) {
            vmm_error_set(err, -errno, "KVM refused the saved irqchip state: %s", strerror(errno));
            return -errno;
        }
    }
    if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0) {
        vmm_error_set(err, -errno, "KVM refused the saved PIT state: %s", strerror(errno));
        return -errno;
    }
    /* The guest's clock resumes where it stopped: no jump, in either direction. */
    struct kvm_clock_data set = {.clock = clock.clock};
    if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &set) < 0) {
        vmm_error_set(err, -errno, "KVM refused the saved clock: %s", strerror(errno));
        return -errno;
    }
    return 0;
}
