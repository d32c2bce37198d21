/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_BUS_PIIX3_H
#define VMM_BUS_PIIX3_H

/*
 * The 82371SB PIIX3 PCI-to-ISA bridge, function 0 (8086:7000, class 0601,
 * multi-function header), and the board's PCI interrupt router.
 *
 * PCI INTx lines reach ISA IRQs the way an i440FX board wires them: INTx
 * pin p (0 = INTA#) of a function in slot s drives PIRQ[(s + p - 1) mod 4]
 * (A..D); the PIRQ route control register of that PIRQ (0x60..0x63) picks
 * the ISA IRQ (bits 3:0; bit 7 set = not routed; only IRQs 3-7, 9-12, 14
 * and 15 are valid, anything else routes nowhere). An ISA IRQ is asserted
 * while any function routed to it asserts (PCI interrupts are level
 * triggered and shareable).
 *
 * The other PIIX functions are separate models plugged into the same slot
 * with vmm_pci_bus_add(bus, dev, VMM_PIIX3_SLOT, fn): IDE at fn 1, USB at
 * fn 2, the PIIX4-style power management function at fn 3. The bus sets the
 * multi-function bit; the PIIX3 sets it anyway, as the real part does.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/pci.h"
#include "core/irq.h"

#define VMM_PIIX3_VENDOR 0x8086
#define VMM_PIIX3_DEVICE 0x7000
#define VMM_PIIX3_CLASS 0x060100 /* bridge, ISA */
#define VMM_PIIX3_SLOT 1

#define PIIX3_PIRQRC 0x60 /* PIRQRC[A..D]: 0x60..0x63 */
#define PIIX3_PIRQRC_DISABLE 0x80
#define PIIX3_PIRQRC_IRQ_MASK 0x0f
#define PIIX3_DLC 0x82 /* deterministic latency control */

#define VMM_ISA_IRQS 16

struct vmm_piix3 {
    struct vmm_pci_dev pci;
    struct vmm_irq *isa[VMM_ISA_IRQS];

    /* Router state: irq_lock is taken after any device lock, before the irqchip. */
    pthread_mutex_t irq_lock;
    uint32_t asserted[4][8]; /* per PIRQ: bitmap of devfns asserting into it */
    uint8_t route[4];        /* decoded PIRQRC: ISA IRQ, or 0xff for none */
    bool isa_level[VMM_ISA_IRQS];
};

/*
 * Sets up function 0, plugs it at VMM_PIIX3_SLOT.0 and makes it the bus's
 * INTx router. isa[n] drives ISA IRQ n (NULL entries are never driven). The
 * board should hand in lines no ISA device model drives: the in-kernel
 * irqchip does not OR two user-space sources on one line.
 */
VMM_WUR int vmm_piix3_init(struct vmm_piix3 *p, struct vmm_pci_bus *bus,
                           struct vmm_irq *const isa[VMM_ISA_IRQS]);
void vmm_piix3_fini(struct vmm_piix3 *p);

/* PIRQ index (0 = PIRQA) that INTx pin (0 = INTA#) of a function in `slot` drives. */
static inline unsigned vmm_piix3_pirq(unsigned slot, unsigned pin)
{
    return (slot + pin + 3) & 3; /* (slot + pin - 1) mod 4 without going negative */
}

/* The ISA IRQ a PIRQ is routed to now, or -1. */
int vmm_piix3_pirq_route(struct vmm_piix3 *p, unsigned pirq);

#endif
