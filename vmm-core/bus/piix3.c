/* SPDX-License-Identifier: GPL-2.0-or-later */
/* PIIX3 function 0: ISA bridge and PIRQ router. See piix3.h. */
#include "bus/piix3.h"

#include <stddef.h>
#include <string.h>

#define NO_ROUTE 0xff

static struct vmm_piix3 *to_piix3(struct vmm_pci_dev *d)
{
    return (struct vmm_piix3 *)((char *)d - offsetof(struct vmm_piix3, pci));
}

/* ISA IRQs a PIRQ may be steered to; 0-2, 8 and 13 belong to the board. */
static bool valid_isa_irq(unsigned irq)
{
    return irq < VMM_ISA_IRQS && ((1u << irq) & 0xdef8u);
}

static uint8_t decode_route(uint8_t reg)
{
    unsigned irq = reg & PIIX3_PIRQRC_IRQ_MASK;
    if ((reg & PIIX3_PIRQRC_DISABLE) || !valid_isa_irq(irq))
        return NO_ROUTE;
    return (uint8_t)irq;
}

static bool pirq_asserted(const struct vmm_piix3 *p, unsigned pirq)
{
    for (unsigned i = 0; i < 8; i++)
        if (p->asserted[pirq][i])
            return true;
    return false;
}

/* irq_lock held: drive every ISA line whose wired-OR level changed. */
static void update_isa(struct vmm_piix3 *p)
{
    bool level[VMM_ISA_IRQS] = {false};
    for (unsigned pirq = 0; pirq < 4; pirq++)
        if (p->route[pirq] != NO_ROUTE && pirq_asserted(p, pirq))
            level[p->route[pirq]] = true;
    for (unsigned irq = 0; irq < VMM_ISA_IRQS; irq++) {
        if (level[irq] == p->isa_level[irq])
            continue;
        p->isa_level[irq] = level[irq];
        vmm_irq_set(p->isa[irq], level[irq]);
    }
}

/* irq_lock held. */
static void reload_routes(struct vmm_piix3 *p)
{
    for (unsigned pirq = 0; pirq < 4; pirq++)
        p->route[pirq] = decode_route(vmm_pci_get8(&p->pci, PIIX3_PIRQRC + pirq));
}

static void piix3_set_intx(void *opaque, unsigned devfn, unsigned pin, int level)
{
    struct vmm_piix3 *p = opaque;
    unsigned pirq = vmm_piix3_pirq(VMM_PCI_SLOT(devfn), pin);
    uint32_t bit = 1u << (devfn % 32);

    pthread_mutex_lock(&p->irq_lock);
    if (level)
        p->asserted[pirq][devfn / 32] |= bit;
    else
        p->asserted[pirq][devfn / 32] &= ~bit;
    update_isa(p);
    pthread_mutex_unlock(&p->irq_lock);
}

static const struct vmm_pci_intx_router piix3_router = {.set_intx = piix3_set_intx};

static void piix3_config_write(struct vmm_pci_dev *d, unsigned off, unsigned size)
{
    struct vmm_piix3 *p = to_piix3(d);
    if (off >= PIIX3_PIRQRC + 4 || off + size <= PIIX3_PIRQRC)
        return;
    pthread_mutex_lock(&p->irq_lock);
    reload_routes(p);
    update_isa(p);
    pthread_mutex_unlock(&p->irq_lock);
}

static void piix3_reset(struct vmm_pci_dev *d)
{
    /* Routes go back to disabled; functions still asserting stay recorded. */
    piix3_config_write(d, PIIX3_PIRQRC, 4);
}

static const struct vmm_pci_dev_ops piix3_ops = {
    .config_write = piix3_config_write,
    .reset = piix3_reset,
};

int vmm_piix3_init(struct vmm_piix3 *p, struct vmm_pci_bus *bus,
                   struct vmm_irq *const isa[VMM_ISA_IRQS])
{
    vmm_pci_dev_init(&p->pci, &piix3_ops, NULL, VMM_PIIX3_VENDOR, VMM_PIIX3_DEVICE, 0,
                     VMM_PIIX3_CLASS, PCI_HEADER_TYPE_MULTI_FUNCTION);
    memset(p->isa, 0, sizeof(p->isa));
    for (unsigned i = 0; isa && i < VMM_ISA_IRQS; i++)
        p->isa[i] = isa[i];
    memset(p->asserted, 0, sizeof(p->asserted));
    memset(p->isa_level, 0, sizeof(p->isa_level));
    pthread_mutex_init(&p->irq_lock, NULL);

    /* An ISA bridge decodes I/O and memory and masters ISA DMA from power-on. */
    vmm_pci_set16(&p->pci, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    vmm_pci_set16(&p->pci, PCI_STATUS, PCI_STATUS_FAST_BACK | PCI_STATUS_DEVSEL_MEDIUM);
    for (unsigned pirq = 0; pirq < 4; pirq++) {
        vmm_pci_set8(&p->pci, PIIX3_PIRQRC + pirq, PIIX3_PIRQRC_DISABLE);
        vmm_pci_set_wmask(&p->pci, PIIX3_PIRQRC + pirq, 1,
                          PIIX3_PIRQRC_DISABLE | PIIX3_PIRQRC_IRQ_MASK);
    }
    /* Linux's PIIX3 quirk sets passive release here; keep the low bits it may write. */
    vmm_pci_set_wmask(&p->pci, PIIX3_DLC, 1, 0x0f);
    reload_routes(p);

    int r = vmm_pci_bus_add(bus, &p->pci, VMM_PIIX3_SLOT, 0);
    if (r < 0) {
        pthread_mutex_destroy(&p->irq_lock);
        return r;
    }
    vmm_pci_bus_set_router(bus, &piix3_router, p);
    return 0;
}

void vmm_piix3_fini(struct vmm_piix3 *p)
{
    pthread_mutex_destroy(&p->irq_lock);
}

int vmm_piix3_pirq_route(struct vmm_piix3 *p, unsigned pirq)
{
    if (pirq >= 4)
        return -1;
    pthread_mutex_lock(&p->irq_lock);
    int irq = p->route[pirq] == NO_ROUTE ? -1 : p->route[pirq];
    pthread_mutex_unlock(&p->irq_lock);
    return irq;
}
