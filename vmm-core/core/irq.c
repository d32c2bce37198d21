/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/irq.h"

#include <errno.h>
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
 * ISA interrupts as a PC wires them: IRQ n reaches PIC pin n and IOAPIC pin
 * n, except the timer (IRQ 0), which the IOAPIC sees on pin 2, the pin the
 * PIC cascade would otherwise use. The MP table and the MADT's interrupt
 * source override say the same. KVM's default routing sends GSI 0 to IOAPIC
 * pin 0, so it is replaced here.
 */
int vmm_irq_routing_init(struct vmm_vm *vm, struct vmm_error *err)
{
    const unsigned max = 16 + 24;
    struct kvm_irq_routing *rt =
        calloc(1, sizeof(*rt) + max * sizeof(struct kvm_irq_routing_entry));
    if (!rt) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (unsigned gsi = 0; gsi < 16; gsi++) {
        if (gsi == 2)
            continue;
        struct kvm_irq_routing_entry *e = &rt->entries[rt->nr++];
        e->gsi = gsi;
        e->type = KVM_IRQ_ROUTING_IRQCHIP;
        e->u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
        e->u.irqchip.pin = gsi % 8;
    }
    for (unsigned gsi = 0; gsi < 24; gsi++) {
        if (gsi == 2)
            continue;
        struct kvm_irq_routing_entry *e = &rt->entries[rt->nr++];
        e->gsi = gsi;
        e->type = KVM_IRQ_ROUTING_IRQCHIP;
        e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
        e->u.irqchip.pin = gsi == 0 ? 2 : gsi;
    }
    int r = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, rt);
    int e = errno;
    free(rt);
    if (r < 0) {
        vmm_error_set(err, -e, "cannot set up interrupt routing: %s", strerror(e));
        return -e;
    }
    return 0;
}
