/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/irq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/vm.h"

static void gsi_set_level(struct vmm_irq *irq, int level)
{
    struct vmm_vm *vm = irq->opaque;
    struct kvm_irq_level l = {.irq = irq->line, .level = level ? 1 : 0};
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
        vmm_log_ratelimited(VMM_LOG_ERROR, "KVM_IRQ_LINE %u failed", irq->line);
}

static const struct vmm_irq_ops gsi_ops = {.set_level = gsi_set_level};

void vmm_irq_init_gsi(struct vmm_vm *vm, struct vmm_irq *irq, unsigned gsi)
{
    irq->ops = &gsi_ops;
    irq->opaque = vm;
    irq->line = gsi;
}

/*
 * The VM's one routing table: the ISA routes (fixed) and the MSI routes of
 * GSIs VMM_IRQ_MSI_BASE and up, which devices allocate and point at their
 * MSI-X messages. KVM_SET_GSI_ROUTING replaces the whole table, so every
 * change rebuilds it from this state.
 */
struct msi_route {
    bool allocated, active;
    uint64_t addr;
    uint32_t data;
};

struct vmm_irq_routing {
    pthread_mutex_t lock;
    struct msi_route msi[VMM_IRQ_MAX_MSI];
    struct kvm_irq_routing *table; /* room for every ISA and MSI entry */
};

#define ISA_ENTRIES (15 + 23)

static void add_isa_routes(struct kvm_irq_routing *rt)
{
    /*
     * ISA interrupts as a PC wires them: IRQ n reaches PIC pin n and IOAPIC
     * pin n, except the timer (IRQ 0), which the IOAPIC sees on pin 2, the
     * pin the PIC cascade would otherwise use. The MP table and the MADT's
     * interrupt source override say the same. KVM's default routing sends
     * GSI 0 to IOAPIC pin 0, so it is replaced here.
     */
    for (unsigned gsi = 0; gsi < 16; gsi++) {
        if (gsi == 2)
            continue;
        struct kvm_irq_routing_entry *e = &rt->entries[rt->nr++];
        e->gsi = gsi;
        e->type = KVM_IRQ_ROUTING_IRQCHIP;
        e->u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
        e->u.irqchip.pin = gsi % 8;
    }
    for (unsigned gsi = 0; gsi < VMM_IRQ_MSI_BASE; gsi++) {
        if (gsi == 2)
            continue;
        struct kvm_irq_routing_entry *e = &rt->entries[rt->nr++];
        e->gsi = gsi;
        e->type = KVM_IRQ_ROUTING_IRQCHIP;
        e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
        e->u.irqchip.pin = gsi == 0 ? 2 : gsi;
    }
}

/* Pushes the table to KVM; routing->lock held. */
static int commit(struct vmm_vm *vm)
{
    struct vmm_irq_routing *ir = vm->routing;
    struct kvm_irq_routing *rt = ir->table;
    memset(rt, 0, sizeof(*rt));
    add_isa_routes(rt);
    for (unsigned i = 0; i < VMM_IRQ_MAX_MSI; i++) {
        const struct msi_route *m = &ir->msi[i];
        if (!m->allocated || !m->active)
            continue;
        struct kvm_irq_routing_entry *e = &rt->entries[rt->nr++];
        memset(e, 0, sizeof(*e));
        e->gsi = VMM_IRQ_MSI_BASE + i;
        e->type = KVM_IRQ_ROUTING_MSI;
        e->u.msi.address_lo = (uint32_t)m->addr;
        e->u.msi.address_hi = (uint32_t)(m->addr >> 32);
        e->u.msi.data = m->data;
    }
    if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, rt) < 0)
        return -errno;
    return 0;
}

int vmm_irq_routing_init(struct vmm_vm *vm, struct vmm_error *err)
{
    struct vmm_irq_routing *ir = calloc(1, sizeof(*ir));
    if (ir)
        ir->table = calloc(1, sizeof(*ir->table) + (ISA_ENTRIES + VMM_IRQ_MAX_MSI) *
                                                       sizeof(struct kvm_irq_routing_entry));
    if (!ir || !ir->table) {
        if (ir)
            free(ir);
        vmm_error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&ir->lock, NULL);
    vm->routing = ir;
    pthread_mutex_lock(&ir->lock);
    int r = commit(vm);
    pthread_mutex_unlock(&ir->lock);
    if (r < 0) {
        vmm_error_set(err, r, "cannot set up interrupt routing: %s", strerror(-r));
        return r;
    }
    return 0;
}

void vmm_irq_routing_free(struct vmm_vm *vm)
{
    struct vmm_irq_routing *ir = vm->routing;
    if (!ir)
        return;
    pthread_mutex_destroy(&ir->lock);
    free(ir->table);
    free(ir);
    vm->routing = NULL;
}

int vmm_irq_msi_alloc(struct vmm_vm *vm)
{
    struct vmm_irq_routing *ir = vm->routing;
    if (!ir)
        return -ENODEV;
    int gsi = -ENOSPC;
    pthread_mutex_lock(&ir->lock);
    for (unsigned i = 0; i < VMM_IRQ_MAX_MSI; i++) {
        if (!ir->msi[i].allocated) {
            ir->msi[i] = (struct msi_route){.allocated = true};
            gsi = (int)(VMM_IRQ_MSI_BASE + i);
            break;
        }
    }
    pthread_mutex_unlock(&ir->lock);
    return gsi;
}

static struct msi_route *msi_slot(struct vmm_irq_routing *ir, unsigned gsi)
{
    if (gsi < VMM_IRQ_MSI_BASE || gsi - VMM_IRQ_MSI_BASE >= VMM_IRQ_MAX_MSI)
        return NULL;
    struct msi_route *m = &ir->msi[gsi - VMM_IRQ_MSI_BASE];
    return m->allocated ? m : NULL;
}

int vmm_irq_msi_update(struct vmm_vm *vm, const struct vmm_irq_msi_change *ch, unsigned n)
{
    struct vmm_irq_routing *ir = vm->routing;
    if (!ir)
        return -ENODEV;
    bool dirty = false;
    int r = 0;
    pthread_mutex_lock(&ir->lock);
    for (unsigned i = 0; i < n; i++) {
        struct msi_route *m = msi_slot(ir, ch[i].gsi);
        if (!m) {
            r = -EINVAL;
            continue;
        }
        if (m->active == ch[i].active &&
            (!m->active || (m->addr == ch[i].addr && m->data == ch[i].data)))
            continue;
        m->active = ch[i].active;
        m->addr = ch[i].addr;
        m->data = ch[i].data;
        dirty = true;
    }
    if (dirty) {
        int c = commit(vm);
        if (c < 0) {
            vmm_log_ratelimited(VMM_LOG_ERROR, "KVM_SET_GSI_ROUTING failed: %s", strerror(-c));
            r = c;
        }
    }
    pthread_mutex_unlock(&ir->lock);
    return r;
}

void vmm_irq_msi_free(struct vmm_vm *vm, unsigned gsi)
{
    struct vmm_irq_routing *ir = vm->routing;
    if (!ir)
        return;
    pthread_mutex_lock(&ir->lock);
    struct msi_route *m = msi_slot(ir, gsi);
    if (m) {
        bool was_active = m->active;
        *m = (struct msi_route){0};
        if (was_active && commit(vm) < 0)
            vmm_log_ratelimited(VMM_LOG_WARN, "KVM_SET_GSI_ROUTING failed freeing GSI %u", gsi);
    }
    pthread_mutex_unlock(&ir->lock);
}
