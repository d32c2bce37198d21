/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fault: proves the runtime's safety net, and the VMM's event delivery behind it. Raises
 * one event nobody handles and expects the shared handlers to report it and exit.
 *
 *   how=ud    ud2                        -> "#UD", exit 0x46 (EXIT_EXCEPTION + 6)
 *   how=de    divide by zero             -> "#DE", exit 0x40
 *   how=gp    load selector 0x18 (beyond the GDT) into DS -> "#GP", error 0x18, exit 0x4d
 *   how=nmi   NMI to self through the LAPIC ICR           -> "NMI", exit 0x42
 *   how=irq   PIT IRQ0 unmasked with no handler           -> exit 0x60 (EXIT_UNEXPECTED_IRQ)
 *
 * Exit code 1: the event never came (irq: within the LAPIC timer's ~4 s watchdog).
 */
#include "rt.h"

static void watchdog_isr(struct frame *f)
{
    fail(1, "no unexpected interrupt within the watchdog's time");
}

int main(void)
{
    size_t len = 0;
    const char *how = arg_find("how", &len);

    if (!how)
        fail(EXIT_BAD_ARGS, "how= is required: ud, de, gp, nmi or irq");
    kprintf("fault: raising %.*s\n", (int)len, how);
    serial_flush();
    if (arg_is("how", "ud")) {
        __asm__ volatile("ud2");
    } else if (arg_is("how", "de")) {
        uint32_t zero = 0, q, r;
        __asm__ volatile("divl %2" : "=a"(q), "=d"(r) : "c"(zero), "a"(1), "d"(0));
    } else if (arg_is("how", "gp")) {
        __asm__ volatile("movw $0x18, %%ax; movw %%ax, %%ds" : : : "eax", "memory");
    } else if (arg_is("how", "nmi")) {
        if (!have_lapic())
            fail(EXIT_BAD_ARGS, "how=nmi needs a local APIC");
        irq_init(IRQ_MODE_PIC);
        /* Physical destination = our own ID: the "self" shorthand allows fixed mode only. */
        lapic_write(LAPIC_ICR_HI, lapic_id() << 24);
        lapic_write(LAPIC_ICR_LO, 0x00004400); /* NMI, assert */
    } else if (arg_is("how", "irq")) {
        irq_init(IRQ_MODE_PIC);
        if (have_lapic()) { /* so a PIT that never ticks cannot leave us in hlt for good */
            idt_set(VEC_WATCHDOG, watchdog_isr);
            lapic_write(LAPIC_TIMER_DCR, 0xb);
            lapic_write(LAPIC_LVT_TIMER, VEC_WATCHDOG);
            lapic_write(LAPIC_TIMER_ICR, 0xffffffff);
        }
        pit_periodic(100);
        /* Unmask IRQ0 behind the runtime's back: no handler is installed for it. */
        outb(PIC1_DATA, 0xfe);
        sti();
        for (int i = 0; i < 100; i++)
            __asm__ volatile("hlt"); /* the first tick ends the guest */
    } else {
        fail(EXIT_BAD_ARGS, "how= takes ud, de, gp, nmi or irq");
    }
    fail(1, "the %.*s event did not arrive", (int)len, how);
}
