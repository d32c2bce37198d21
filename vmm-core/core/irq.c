/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/irq.h"

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
