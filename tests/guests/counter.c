/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * counter: a guest to save and restore mid-run. It counts, printing
 * "counter: N pit=P lapic=L sum=S" every 100 ms of PIT time, while the PIT (IRQ0 through
 * the 8259 or the IOAPIC) and the LAPIC timer (periodic, vector 0x40) both tick. A
 * restored guest continues from N: nothing in the guest knows it was saved. Between two
 * lines both timers must have fired, and a 256 KiB buffer filled at start must still hold
 * its pattern (S is its checksum).
 *
 *   until=N   exit 0 after line N (default 50)
 *   irq=pic|ioapic
 *
 * Exit codes: 0 pass, 1 no local APIC, 2 the LAPIC timer stopped, 3 the PIT stopped,
 * 4 the memory pattern changed.
 */
#include "rt.h"

#define BUF_WORDS (64 * 1024)

static uint32_t pattern[BUF_WORDS];
static volatile uint32_t lapic_ticks;

static void lapic_isr(struct frame *f)
{
    lapic_ticks++;
    lapic_eoi();
}

static uint32_t checksum(void)
{
    uint32_t s = 0;
    for (uint32_t i = 0; i < BUF_WORDS; i++) {
        if (pattern[i] != i * 2654435761u)
            fail(4, "memory word %u reads 0x%x", i, pattern[i]);
        s += pattern[i] ^ i;
    }
    return s;
}

int main(void)
{
    enum irq_mode mode = irq_mode_from_cmdline();
    uint32_t until = arg_u32("until", 50);
    if (!have_lapic())
        fail(1, "CPUID reports no local APIC");
    for (uint32_t i = 0; i < BUF_WORDS; i++)
        pattern[i] = i * 2654435761u;
    irq_init(mode);
    idt_set(VEC_LAPIC_TIMER, lapic_isr);
    lapic_write(LAPIC_TIMER_DCR, 0x3); /* divide by 16 */
    lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_PERIODIC | VEC_LAPIC_TIMER);
    lapic_write(LAPIC_TIMER_ICR, 625000); /* 10 ms at a 1 GHz bus */
    timebase_start(100);
    sti();
    kprintf("counter: start (irq=%s)\n", irq_mode_name());

    uint32_t last_pit = 0, last_lapic = 0;
    for (uint32_t n = 1; n <= until; n++) {
        /* Sleep to the next 100 ms: any interrupt ends a hlt; both timers are checked. */
        uint32_t target = last_pit + 10;
        uint32_t lapic_at_start = lapic_ticks;
        for (;;) {
            cli();
            if (timebase_ticks >= target) {
                sti();
                break;
            }
            if (lapic_ticks - lapic_at_start > 500)
                fail(3, "the PIT stopped at %u ticks (LAPIC timer at %u)", timebase_ticks,
                     lapic_ticks);
            sti_hlt();
        }
        last_pit = timebase_ticks;
        if (lapic_ticks == last_lapic)
            fail(2, "the LAPIC timer stopped at %u ticks (PIT at %u)", lapic_ticks, last_pit);
        last_lapic = lapic_ticks;
        kprintf("counter: %u pit=%u lapic=%u sum=%x\n", n, last_pit, last_lapic, checksum());
    }
    kprintf("counter: done\n");
    return 0;
}
