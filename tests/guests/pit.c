/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pit: 8254 channel 0 delivering IRQ0. Phase 1 runs mode 2 (rate generator) at hz= and
 * sleeps in hlt until ticks= interrupts arrived, reading the latched counter on the way.
 * Phase 2 runs mode 0 (interrupt on terminal count) once and checks exactly one interrupt
 * comes and the OUT pin then reads high in the read-back status. The LAPIC timer is the watchdog
 * (one-shot, divide by 1, 0xffffffff counts: ~4 s at KVM's 1 GHz APIC bus).
 *
 *   irq=pic|ioapic   IRQ0 through the 8259 or through IOAPIC pin 2 (default pic)
 *   hz=N             phase 1 rate (default 1000)
 *   ticks=K          phase 1 interrupts to count (default 100)
 *
 * Exit codes: 0 pass, 1 watchdog: periodic interrupts stopped arriving, 2 latched count out of
 * range, 3 watchdog: no one-shot interrupt, 4 more than one one-shot interrupt, 5 OUT low after
 * terminal count, 6 no local APIC.
 */
#include "rt.h"

static volatile uint32_t pit_irqs;
static volatile uint32_t window_over;
static const char *volatile phase = "setup";
static volatile uint32_t watchdog_code = 1;

static void pit_isr(struct frame *f)
{
    pit_irqs++;
}

static void watchdog_isr(struct frame *f)
{
    fail(watchdog_code, "watchdog: %s, %u PIT interrupts so far (irq=%s)", phase, pit_irqs,
         irq_mode_name());
}

static void window_isr(struct frame *f)
{
    window_over = 1;
    lapic_eoi();
}

static void lapic_oneshot(uint8_t vector, uint32_t count)
{
    lapic_write(LAPIC_TIMER_ICR, 0);
    lapic_write(LAPIC_TIMER_DCR, 0xb); /* divide by 1 */
    lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_ONESHOT | vector);
    lapic_write(LAPIC_TIMER_ICR, count);
}

/* Sleeps until *counter reaches target; only an interrupt can end each hlt. */
static void sleep_until(volatile uint32_t *counter, uint32_t target)
{
    for (;;) {
        cli();
        if (*counter >= target) {
            sti();
            return;
        }
        sti_hlt();
    }
}

int main(void)
{
    enum irq_mode mode = irq_mode_from_cmdline();
    uint32_t hz = arg_u32("hz", 1000);
    uint32_t ticks = arg_u32("ticks", 100);

    if (hz < 19 || hz > 10000)
        fail(EXIT_BAD_ARGS, "hz=%u is outside 19..10000", hz);
    if (!have_lapic())
        fail(6, "CPUID reports no local APIC; the watchdog needs its timer");
    irq_init(mode);
    idt_set(VEC_WATCHDOG, watchdog_isr);
    idt_set(VEC_LAPIC_TIMER, window_isr);
    irq_attach(PIT_IRQ, pit_isr);
    kprintf("pit: IRQ0 via %s, %u ticks at %u Hz\n", irq_mode_name(), ticks, hz);

    /* Phase 1: periodic. */
    uint32_t div = (PIT_HZ + hz / 2) / hz;
    phase = "periodic";
    lapic_oneshot(VEC_WATCHDOG, 0xffffffff);
    pit_periodic(hz);
    sti();
    uint32_t lapic_start = lapic_read(LAPIC_TIMER_CCR);
    uint16_t samples[4];
    for (int i = 0; i < 4; i++) {
        sleep_until(&pit_irqs, (uint32_t)i + 1);
        samples[i] = pit_read_count();
    }
    sleep_until(&pit_irqs, ticks);
    uint32_t lapic_used = lapic_start - lapic_read(LAPIC_TIMER_CCR);
    irq_detach(PIT_IRQ);
    uint32_t seen = pit_irqs;
    kprintf("pit: %u interrupts; latched counts %u %u %u %u of %u; %u LAPIC timer counts\n", seen,
            samples[0], samples[1], samples[2], samples[3], div, lapic_used);
    for (int i = 0; i < 4; i++) {
        if (samples[i] > div)
            fail(2, "latched count %u exceeds the divisor %u", samples[i], div);
    }

    /*
     * Phase 2: one-shot. Reprogramming channel 0 ends the periodic run, but a tick may
     * already sit in the 8259's IRR (latched while masked) or in a VMM's queue of missed
     * ticks to re-inject: a first 1 ms one-shot, and 20 ms of quiet, drain all that.
     */
    phase = "one-shot drain";
    watchdog_code = 3;
    lapic_oneshot(VEC_WATCHDOG, 0xffffffff);
    pit_oneshot((uint16_t)(PIT_HZ / 1000));
    pit_irqs = 0;
    irq_attach(PIT_IRQ, pit_isr);
    sleep_until(&pit_irqs, 1);
    window_over = 0;
    lapic_oneshot(VEC_LAPIC_TIMER, 20000000);
    sleep_until(&window_over, 1);
    uint32_t drained = pit_irqs;

    phase = "one-shot";
    pit_irqs = 0;
    lapic_oneshot(VEC_WATCHDOG, 0xffffffff);
    pit_oneshot((uint16_t)(PIT_HZ / 200)); /* 5 ms */
    sleep_until(&pit_irqs, 1);
    /* Give a stray second interrupt time to show: 50M LAPIC counts, 50 ms at 1 GHz. */
    phase = "one-shot window";
    window_over = 0;
    lapic_oneshot(VEC_LAPIC_TIMER, 50000000);
    sleep_until(&window_over, 1);
    uint8_t status = pit_read_status();
    irq_detach(PIT_IRQ);
    lapic_write(LAPIC_TIMER_ICR, 0);
    kprintf("pit: drain one-shot gave %u interrupt(s)\n", drained);
    kprintf("pit: one-shot gave %u interrupt(s), status 0x%x\n", pit_irqs, status);
    if (pit_irqs != 1)
        fail(4, "mode 0 raised %u interrupts, expected 1", pit_irqs);
    if (!(status & 0x80))
        fail(5, "OUT reads low after terminal count (status 0x%x)", status);
    if (((status >> 1) & 7) != 0)
        fail(5, "read-back reports mode %u, programmed 0", (status >> 1) & 7);

    kprintf("pit: PASS\n");
    return EXIT_PASS;
}
