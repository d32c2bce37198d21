/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_CORE_IRQ_H
#define VMM_CORE_IRQ_H

#include <stdbool.h>
#include <stdint.h>

/*
 * An interrupt line as a device sees it. The real sink drives a GSI of the
 * in-kernel irqchip (KVM_IRQ_LINE); unit tests plug in a fake sink.
 */
struct vmm_irq;

struct vmm_irq_ops {
    void (*set_level)(struct vmm_irq *irq, int level);
};

struct vmm_irq {
    const struct vmm_irq_ops *ops;
    void *opaque;
    unsigned line;
};

static inline void vmm_irq_set(struct vmm_irq *irq, int level)
{
    if (irq && irq->ops)
        irq->ops->set_level(irq, level);
}

struct vmm_vm;
struct vmm_error;
/* Routes the ISA IRQs to the in-kernel PIC and IOAPIC (IRQ 0 on IOAPIC pin 2). */
int vmm_irq_routing_init(struct vmm_vm *vm, struct vmm_error *err);

/* Frees the routing state (vmm_vm_destroy). */
void vmm_irq_routing_free(struct vmm_vm *vm);

/*
 * MSI routes. GSIs from VMM_IRQ_MSI_BASE (above the 24 IOAPIC pins) are
 * handed out to devices, which point them at MSI messages; the board binds
 * an irqfd to each. The ISA routes and the MSI routes form one table
 * (KVM_SET_GSI_ROUTING replaces the whole table), rebuilt on each change.
 * Thread-safe: callable from vCPU threads (an MSI-X table write) and the
 * event loop alike.
 */
#define VMM_IRQ_MSI_BASE 24
#define VMM_IRQ_MAX_MSI 512

struct vmm_irq_msi_change {
    unsigned gsi;
    bool active; /* false: the GSI routes nowhere (its irqfd is inert) */
    uint64_t addr;
    uint32_t data;
};

/* A free GSI for an MSI route (routing nowhere yet), or -ENOSPC. */
int vmm_irq_msi_alloc(struct vmm_vm *vm);
/* Applies the changes and pushes the table once if anything changed; 0 or -errno. */
int vmm_irq_msi_update(struct vmm_vm *vm, const struct vmm_irq_msi_change *ch, unsigned n);
void vmm_irq_msi_free(struct vmm_vm *vm, unsigned gsi);

/* An ISA/GSI line of the in-kernel irqchip. */
void vmm_irq_init_gsi(struct vmm_vm *vm, struct vmm_irq *irq, unsigned gsi);

#endif
