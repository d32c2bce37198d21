/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memfill: the guest of the snapshot benchmark (bench/snapshot/run.py). Its RAM holds data no
 * page of which is zero or equal to another, then it prints a heartbeat line "beat N" on every
 * PIT tick. A machine saved and restored mid-beat shows it runs again by its next line, without
 * touching the filled RAM.
 *
 * The data comes from the loader or from the guest. A multiboot module (terrarium-run
 * --initrd, QEMU -initrd) is put into RAM by the VMM itself, which costs nothing in the guest;
 * bench/snapshot/run.py writes one in which page k starts with the words MEMF_MAGIC and k. The
 * guest can also fill RAM itself (fill=), in the same format with a bijective 32-bit hash of
 * the address in the other words: cheap on hardware KVM, but every first touch of a page is
 * an expensive fault on a software (PVM) /dev/kvm.
 *
 *   fill=MiB    how much to fill in the guest (default 0), from 4 MiB or the end of the
 *               module up; paging is off, so the stretch must lie in RAM below 4 GiB
 *   hz=N        heartbeat (PIT) rate (default 100)
 *   beats=N     exit 0 after N beats (default 0: beat forever)
 *   verify=K    every K beats, read the filled stretch back (and the module's page headers) and
 *               print "memfill: verified N MiB" (default 0: never)
 *   reset=N     after beat N, reset the machine through the i8042 once (a marker in low RAM,
 *               which a reset keeps, says it was done); the next boot prints
 *               "memfill: booted again after a reset" and beats from 1 again
 *
 * Exit codes: 0 pass (beats=N reached), 1 a filled word changed, 2 the PIT stopped.
 */
#include "rt.h"

#define FILL_LOW (4u << 20)
#define PAGE_WORDS 1024u
#define MEMF_MAGIC 0x464d454du /* "MEMF" */

/* Low RAM that neither loader uses (below the EBDA, above the command line): the reset marker. */
#define RESET_MARK_ADDR 0x80000u
#define RESET_MARK 0x54455352u /* "RSET" */

/* Where the guest's own fill starts: 4 MiB, or past the module. */
static uint32_t fill_base = FILL_LOW;

/* A bijection on 32-bit words (the MurmurHash3 finaliser): distinct addresses, distinct words. */
static inline uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

static uint32_t word_of(uint32_t i)
{
    switch (i % PAGE_WORDS) {
    case 0:
        return MEMF_MAGIC;
    case 1:
        return i / PAGE_WORDS;
    default:
        return mix(fill_base + 4 * i);
    }
}

static void fill(uint32_t bytes)
{
    volatile uint32_t *w = (volatile uint32_t *)fill_base;
    for (uint32_t i = 0; i < bytes / 4; i++)
        w[i] = word_of(i);
}

static void verify(uint32_t bytes)
{
    const volatile uint32_t *w = (const volatile uint32_t *)fill_base;
    for (uint32_t i = 0; i < bytes / 4; i++) {
        uint32_t want = word_of(i);
        if (w[i] != want)
            fail(1, "word at 0x%x reads 0x%x, not 0x%x", fill_base + 4 * i, w[i], want);
    }
    uint32_t pages = (rt_mod_end - rt_mod_start) / (4 * PAGE_WORDS);
    const volatile uint32_t *m = (const volatile uint32_t *)rt_mod_start;
    for (uint32_t k = 0; k < pages; k++, m += PAGE_WORDS) {
        if (m[0] != MEMF_MAGIC || m[1] != k)
            fail(1, "module page %u at 0x%x starts 0x%x 0x%x", k, (uint32_t)m, m[0], m[1]);
    }
}

int main(void)
{
    uint32_t mib = arg_u32("fill", 0);
    uint32_t hz = arg_u32("hz", 100);
    uint32_t beats = arg_u32("beats", 0);
    uint32_t every = arg_u32("verify", 0);
    uint32_t reset_at = arg_u32("reset", 0);
    volatile uint32_t *mark = (volatile uint32_t *)RESET_MARK_ADDR;
    bool again = *mark == RESET_MARK;
    *mark = 0;
    if (again)
        kprintf("memfill: booted again after a reset\n");
    if (rt_mod_end > fill_base)
        fill_base = (rt_mod_end + 0xfff) & ~0xfffu;
    if (mib > 4000 - (fill_base >> 20) || hz == 0 || hz > 10000)
        fail(EXIT_BAD_ARGS, "fill=%u hz=%u: fill must end below 4000 MiB, hz be 1..10000", mib, hz);
    uint32_t bytes = mib << 20;

    irq_init(IRQ_MODE_PIC);
    timebase_start(hz);
    sti();
    uint32_t t0 = timebase_ticks;
    fill(bytes);
    kprintf("memfill: filled %u MiB at 0x%x in %u ticks of %u Hz; module of %u KiB at 0x%x\n", mib,
            fill_base, timebase_ticks - t0, hz, (rt_mod_end - rt_mod_start) >> 10, rt_mod_start);

    uint32_t last = timebase_ticks;
    for (uint32_t n = 1; beats == 0 || n <= beats; n++) {
        uint32_t spins = 0;
        for (;;) {
            cli();
            if (timebase_ticks != last) {
                sti();
                break;
            }
            /* hlt wakes on any interrupt; only the PIT is unmasked, so 1000 wakes is a stop. */
            if (++spins > 1000)
                fail(2, "the PIT stopped at %u ticks", last);
            sti_hlt();
        }
        last = timebase_ticks;
        kprintf("beat %u\n", n);
        if (n == reset_at && !again) {
            kprintf("memfill: resetting\n");
            serial_flush();
            *mark = RESET_MARK;
            outb(0x64, 0xfe);
            for (;;)
                sti_hlt();
        }
        if (every && n % every == 0) {
            verify(bytes);
            kprintf("memfill: verified %u MiB\n", mib);
        }
    }
    kprintf("memfill: done\n");
    return 0;
}
