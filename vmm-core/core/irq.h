/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_CORE_IRQ_H
#define VMM_CORE_IRQ_H

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

/* An ISA/GSI line of the in-kernel irqchip. */
void vmm_irq_init_gsi(struct vmm_vm *vm, struct vmm_irq *irq, unsigned gsi);

#endif
