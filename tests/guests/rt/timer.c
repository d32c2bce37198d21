/* SPDX-License-Identifier: GPL-2.0-or-later */
/* 8254 channel 0 helpers and a PIT-driven timebase for timeouts and sleeps. */
#include "rt.h"

#define PIT_SEL_CH0 0x00
#define PIT_ACCESS_LOHI 0x30
#define PIT_MODE0 0x00 /* interrupt on terminal count */
#define PIT_MODE2 0x04 /* rate generator */
#define PIT_READBACK_STATUS_CH0 0xe2

volatile uint32_t timebase_ticks;
static uint32_t timebase_hz;

void pit_periodic(uint32_t hz)
{
    uint32_t div = (PIT_HZ + hz / 2) / hz;
    if (div < 2)
        div = 2;
    if (div > 65535)
        div = 0; /* 0 means 65536 */
    outb(PIT_CMD, PIT_SEL_CH0 | PIT_ACCESS_LOHI | PIT_MODE2);
    outb(PIT_CH0, (uint8_t)div);
    outb(PIT_CH0, (uint8_t)(div >> 8));
}

void pit_oneshot(uint16_t count)
{
    outb(PIT_CMD, PIT_SEL_CH0 | PIT_ACCESS_LOHI | PIT_MODE0);
    outb(PIT_CH0, (uint8_t)count);
    outb(PIT_CH0, (uint8_t)(count >> 8));
}

uint16_t pit_read_count(void)
{
    outb(PIT_CMD, PIT_SEL_CH0); /* counter latch command */
    uint8_t lo = inb(PIT_CH0);
    uint8_t hi = inb(PIT_CH0);
    return (uint16_t)(lo | hi << 8);
}

uint8_t pit_read_status(void)
{
    outb(PIT_CMD, PIT_READBACK_STATUS_CH0);
    return inb(PIT_CH0);
}

static void timebase_tick(struct frame *f)
{
    timebase_ticks++;
}

void timebase_start(uint32_t hz)
{
    timebase_hz = hz;
    timebase_ticks = 0;
    pit_periodic(hz);
    irq_attach(PIT_IRQ, timebase_tick);
    sti();
}

void timebase_stop(void)
{
    irq_detach(PIT_IRQ);
    timebase_hz = 0;
}

uint32_t timebase_ms(void)
{
    return timebase_hz ? timebase_ticks * 1000 / timebase_hz : 0;
}

bool wait_for(bool (*cond)(void *arg), void *arg, uint32_t timeout_ms)
{
    if (!timebase_hz)
        fail(EXIT_BAD_ARGS, "wait_for() without a running timebase would never time out");
    uint32_t start = timebase_ms();
    for (;;) {
        cli();
        if (cond && cond(arg)) {
            sti();
            return true;
        }
        if (timebase_ms() - start >= timeout_ms) {
            sti();
            return cond == NULL;
        }
        sti_hlt();
    }
}
