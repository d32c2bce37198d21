/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The MC146818 RTC model driven through its ports with a fake clock and a fake IRQ sink. */
#include <errno.h>
#include <stdbool.h>
#include <time.h>

#include "hw/rtc.h"
#include "test.h"

#define NS 1000000000LL
#define MS 1000000LL
#define US 1000LL

/* 2025-12-31 23:59:58 UTC, a Wednesday: two seconds before a year rolls over. */
#define T0_UNIX 1767225598LL
/* An arbitrary monotonic start. */
#define MONO0 (1000 * NS)

struct fake_clock {
    int64_t mono;
    int64_t wall;
};

static int64_t fake_mono(void *opaque)
{
    return ((struct fake_clock *)opaque)->mono;
}

static int64_t fake_wall(void *opaque)
{
    return ((struct fake_clock *)opaque)->wall;
}

struct irq_rec {
    int level;
    unsigned rises;
    unsigned falls;
};

static void rec_set_level(struct vmm_irq *irq, int level)
{
    struct irq_rec *r = irq->opaque;
    if (level && !r->level)
        r->rises++;
    if (!level && r->level)
        r->falls++;
    r->level = level;
}

static const struct vmm_irq_ops rec_ops = {.set_level = rec_set_level};

struct fixture {
    struct vmm_rtc rtc;
    struct fake_clock clk;
    struct vmm_irq irq;
    struct irq_rec rec;
    uint64_t armed; /* what the timer callback was last told */
    unsigned arm_calls;
};

static void on_timer(void *opaque, uint64_t deadline)
{
    struct fixture *f = opaque;
    f->armed = deadline;
    f->arm_calls++;
}

static void setup_tz(struct fixture *f, bool utc)
{
    memset(f, 0, sizeof(*f));
    f->clk.mono = MONO0;
    f->clk.wall = T0_UNIX * NS;
    f->irq = (struct vmm_irq){.ops = &rec_ops, .opaque = &f->rec, .line = VMM_RTC_IRQ};
    struct vmm_rtc_clock c = {
        .monotonic_ns = fake_mono, .realtime_ns = fake_wall, .opaque = &f->clk};
    vmm_rtc_init(&f->rtc, &f->irq, &c, utc);
    f->armed = VMM_RTC_NO_DEADLINE;
    vmm_rtc_set_timer_cb(&f->rtc, on_timer, f);
}

static void setup(struct fixture *f)
{
    setup_tz(f, true);
}

static void teardown(struct fixture *f)
{
    vmm_rtc_fini(&f->rtc);
}

static uint8_t rd(struct fixture *f, uint8_t idx)
{
    vmm_rtc_ops.write(&f->rtc, 0, 1, idx);
    return (uint8_t)vmm_rtc_ops.read(&f->rtc, 1, 1);
}

static void wr(struct fixture *f, uint8_t idx, uint8_t val)
{
    vmm_rtc_ops.write(&f->rtc, 0, 1, idx);
    vmm_rtc_ops.write(&f->rtc, 1, 1, val);
}

static void advance(struct fixture *f, int64_t ns)
{
    f->clk.mono += ns;
}

/* Moves the clock to `at` and lets the owner's timer expire there. */
static void fire_at(struct fixture *f, int64_t at)
{
    f->clk.mono = at;
    vmm_rtc_timer_fire(&f->rtc);
}

/* Time registers ---------------------------------------------------------------- */

static void test_power_on(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(rd(&f, RTC_REG_A), 0x26);
    CHECK_EQ(rd(&f, RTC_REG_B), RTC_B_24H);
    CHECK_EQ(rd(&f, RTC_REG_C), 0);
    CHECK_EQ(rd(&f, RTC_REG_D), RTC_D_VRT);
    CHECK_EQ(f.rec.level, 0);
    /* Nothing enabled: no timer wanted. */
    CHECK_EQ(vmm_rtc_next_deadline_ns(&f.rtc), VMM_RTC_NO_DEADLINE);
    teardown(&f);
}

static void test_time_bcd_24h(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x58);
    CHECK_EQ(rd(&f, RTC_MINUTES), 0x59);
    CHECK_EQ(rd(&f, RTC_HOURS), 0x23);
    CHECK_EQ(rd(&f, RTC_DAY_OF_WEEK), 4); /* Wednesday, Sunday = 1 */
    CHECK_EQ(rd(&f, RTC_DAY_OF_MONTH), 0x31);
    CHECK_EQ(rd(&f, RTC_MONTH), 0x12);
    CHECK_EQ(rd(&f, RTC_YEAR), 0x25);
    CHECK_EQ(rd(&f, CMOS_CENTURY), 0x20);

    /* Two seconds later the year rolls over. */
    advance(&f, 2 * NS);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x00);
    CHECK_EQ(rd(&f, RTC_MINUTES), 0x00);
    CHECK_EQ(rd(&f, RTC_HOURS), 0x00);
    CHECK_EQ(rd(&f, RTC_DAY_OF_WEEK), 5); /* Thursday */
    CHECK_EQ(rd(&f, RTC_DAY_OF_MONTH), 0x01);
    CHECK_EQ(rd(&f, RTC_MONTH), 0x01);
    CHECK_EQ(rd(&f, RTC_YEAR), 0x26);
    teardown(&f);
}

static void test_time_binary(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_DM);
    CHECK_EQ(rd(&f, RTC_SECONDS), 58);
    CHECK_EQ(rd(&f, RTC_MINUTES), 59);
    CHECK_EQ(rd(&f, RTC_HOURS), 23);
    CHECK_EQ(rd(&f, RTC_DAY_OF_MONTH), 31);
    CHECK_EQ(rd(&f, RTC_MONTH), 12);
    CHECK_EQ(rd(&f, RTC_YEAR), 25);
    CHECK_EQ(rd(&f, CMOS_CENTURY), 20);
    teardown(&f);
}

static void test_time_12h(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_B, 0);                             /* BCD, 12 h */
    CHECK_EQ(rd(&f, RTC_HOURS), RTC_HOURS_PM | 0x11); /* 11 PM */
    wr(&f, RTC_REG_B, RTC_B_DM);                      /* binary, 12 h */
    CHECK_EQ(rd(&f, RTC_HOURS), RTC_HOURS_PM | 11);
    advance(&f, 2 * NS);
    CHECK_EQ(rd(&f, RTC_HOURS), 12); /* midnight is 12 AM */

    /* Noon written in 12 h mode reads as 12 in 24 h mode, 12 AM as 0. */
    wr(&f, RTC_REG_B, RTC_B_SET);
    wr(&f, RTC_HOURS, RTC_HOURS_PM | 0x12);
    wr(&f, RTC_REG_B, 0);
    wr(&f, RTC_REG_B, RTC_B_24H);
    CHECK_EQ(rd(&f, RTC_HOURS), 0x12);
    wr(&f, RTC_REG_B, RTC_B_SET);
    wr(&f, RTC_HOURS, 0x12);
    wr(&f, RTC_REG_B, 0);
    wr(&f, RTC_REG_B, RTC_B_24H);
    CHECK_EQ(rd(&f, RTC_HOURS), 0x00);
    /* 1 PM */
    wr(&f, RTC_REG_B, RTC_B_SET);
    wr(&f, RTC_HOURS, RTC_HOURS_PM | 0x01);
    wr(&f, RTC_REG_B, 0);
    wr(&f, RTC_REG_B, RTC_B_24H);
    CHECK_EQ(rd(&f, RTC_HOURS), 0x13);
    teardown(&f);
}

static void test_leap_day(void)
{
    struct fixture f;
    setup(&f);
    f.clk.wall = 1709251199LL * NS; /* 2024-02-29 23:59:59 UTC */
    vmm_rtc_fini(&f.rtc);
    struct vmm_rtc_clock c = {
        .monotonic_ns = fake_mono, .realtime_ns = fake_wall, .opaque = &f.clk};
    vmm_rtc_init(&f.rtc, &f.irq, &c, true);
    CHECK_EQ(rd(&f, RTC_DAY_OF_MONTH), 0x29);
    CHECK_EQ(rd(&f, RTC_MONTH), 0x02);
    CHECK_EQ(rd(&f, RTC_DAY_OF_WEEK), 5); /* Thursday */
    advance(&f, 1 * NS);
    CHECK_EQ(rd(&f, RTC_DAY_OF_MONTH), 0x01);
    CHECK_EQ(rd(&f, RTC_MONTH), 0x03);
    CHECK_EQ(rd(&f, RTC_DAY_OF_WEEK), 6); /* Friday */
    /* 2100 is not a leap year: Feb 29 clamps to the 28th. */
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_SET);
    wr(&f, CMOS_CENTURY, 0x21);
    wr(&f, RTC_YEAR, 0x00);
    wr(&f, RTC_MONTH, 0x02);
    wr(&f, RTC_DAY_OF_MONTH, 0x29);
    wr(&f, RTC_REG_B, RTC_B_24H);
    CHECK_EQ(rd(&f, RTC_DAY_OF_MONTH), 0x28);
    CHECK_EQ(rd(&f, CMOS_CENTURY), 0x21);
    /* Set after February of a leap year: 2028-03-01 is a Wednesday. */
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_SET);
    wr(&f, CMOS_CENTURY, 0x20);
    wr(&f, RTC_YEAR, 0x28);
    wr(&f, RTC_MONTH, 0x03);
    wr(&f, RTC_DAY_OF_MONTH, 0x01);
    wr(&f, RTC_REG_B, RTC_B_24H);
    CHECK_EQ(rd(&f, RTC_DAY_OF_MONTH), 0x01);
    CHECK_EQ(rd(&f, RTC_MONTH), 0x03);
    CHECK_EQ(rd(&f, RTC_DAY_OF_WEEK), 4);
    teardown(&f);
}

static void test_local_time(void)
{
    const char *old = getenv("TZ");
    char saved[64] = "";
    if (old)
        snprintf(saved, sizeof(saved), "%s", old);
    setenv("TZ", "EST5", 1); /* UTC-5, no DST */
    tzset();

    struct fixture f;
    setup_tz(&f, false);
    CHECK_EQ(rd(&f, RTC_HOURS), 0x18);
    CHECK_EQ(rd(&f, RTC_DAY_OF_MONTH), 0x31);
    teardown(&f);
    setup_tz(&f, true);
    CHECK_EQ(rd(&f, RTC_HOURS), 0x23);
    teardown(&f);

    if (old)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
}

/* Setting the time ----------------------------------------------------------------- */

static void test_set_time(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_UIE);
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_UIE | RTC_B_SET);
    CHECK_EQ(rd(&f, RTC_REG_B), RTC_B_24H | RTC_B_SET); /* SET going high clears UIE */

    /* SET latched the running time... */
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x58);
    wr(&f, RTC_SECONDS, 0x00);
    wr(&f, RTC_MINUTES, 0x30);
    wr(&f, RTC_HOURS, 0x08);
    wr(&f, RTC_DAY_OF_MONTH, 0x15);
    wr(&f, RTC_MONTH, 0x06);
    wr(&f, RTC_YEAR, 0x30);
    /* ...and nothing advances while it is set. */
    advance(&f, 3 * NS);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x00);
    CHECK_EQ(rd(&f, RTC_MINUTES), 0x30);
    CHECK_EQ(rd(&f, RTC_REG_A) & RTC_A_UIP, 0);
    advance(&f, 999 * MS + 500 * US); /* would be in the UIP window without SET */
    CHECK_EQ(rd(&f, RTC_REG_A) & RTC_A_UIP, 0);
    advance(&f, 500 * US);

    wr(&f, RTC_REG_B, RTC_B_24H);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x00);
    CHECK_EQ(rd(&f, RTC_HOURS), 0x08);
    CHECK_EQ(rd(&f, RTC_DAY_OF_WEEK), 7); /* 2030-06-15 is a Saturday */
    CHECK_EQ(rd(&f, RTC_YEAR), 0x30);
    CHECK_EQ(rd(&f, CMOS_CENTURY), 0x20);
    advance(&f, 1 * NS);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x01);

    /* A day past the month's end is clamped to the last day. */
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_SET);
    wr(&f, RTC_MONTH, 0x02);
    wr(&f, RTC_DAY_OF_MONTH, 0x31);
    wr(&f, RTC_YEAR, 0x28); /* 2028 is a leap year */
    wr(&f, RTC_REG_B, RTC_B_24H);
    CHECK_EQ(rd(&f, RTC_DAY_OF_MONTH), 0x29);
    CHECK_EQ(rd(&f, RTC_MONTH), 0x02);
    teardown(&f);
}

/* Linux sets the time with SET and the divider in reset; the first update comes 500 ms later. */
static void test_set_time_linux_style(void)
{
    struct fixture f;
    setup(&f);
    advance(&f, 300 * MS);
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_SET);
    wr(&f, RTC_REG_A, 0x70 | 0x06); /* divider reset */
    wr(&f, RTC_SECONDS, 0x10);
    wr(&f, RTC_MINUTES, 0x20);
    wr(&f, RTC_HOURS, 0x07);
    wr(&f, RTC_REG_B, RTC_B_24H);
    advance(&f, 5 * NS); /* divider still in reset: frozen */
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x10);
    wr(&f, RTC_REG_A, 0x26);
    advance(&f, 499 * MS);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x10);
    advance(&f, 1 * MS);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x11);
    CHECK_EQ(rd(&f, RTC_MINUTES), 0x20);
    CHECK_EQ(rd(&f, RTC_HOURS), 0x07);
    teardown(&f);
}

static void test_write_while_running(void)
{
    struct fixture f;
    setup(&f);
    advance(&f, 250 * MS);
    wr(&f, RTC_MINUTES, 0x10);
    CHECK_EQ(rd(&f, RTC_MINUTES), 0x10);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x58);
    CHECK_EQ(rd(&f, RTC_HOURS), 0x23);
    /* The phase within the second is kept: the next update is 750 ms away. */
    advance(&f, 749 * MS);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x58);
    advance(&f, 1 * MS);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x59);
    teardown(&f);
}

static void test_divider_stops_time(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_A, 0x00 | 0x06); /* oscillator off */
    advance(&f, 10 * NS);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x58);
    CHECK_EQ(rd(&f, RTC_REG_A), 0x06);
    wr(&f, RTC_REG_A, 0x26);
    advance(&f, 490 * MS);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x58);
    advance(&f, 20 * MS);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x59);
    teardown(&f);
}

static void test_uip(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(rd(&f, RTC_REG_A), 0x26);
    advance(&f, 500 * MS);
    CHECK_EQ(rd(&f, RTC_REG_A) & RTC_A_UIP, 0);
    advance(&f, 497 * MS); /* 3 ms before the update */
    CHECK_EQ(rd(&f, RTC_REG_A) & RTC_A_UIP, 0);
    advance(&f, 2 * MS); /* 1 ms before */
    CHECK_EQ(rd(&f, RTC_REG_A) & RTC_A_UIP, RTC_A_UIP);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x58); /* not updated yet */
    advance(&f, 1 * MS);
    CHECK_EQ(rd(&f, RTC_REG_A) & RTC_A_UIP, 0);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x59);
    /* Writes never set UIP itself. */
    wr(&f, RTC_REG_A, 0xa6);
    CHECK_EQ(rd(&f, RTC_REG_A), 0x26);
    teardown(&f);
}

/* Interrupts ------------------------------------------------------------------------- */

static void test_periodic(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_A, 0x20 | 15); /* 2 Hz */
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    CHECK_EQ(vmm_rtc_next_deadline_ns(&f.rtc), MONO0 + 500 * MS);
    CHECK_EQ(f.armed, MONO0 + 500 * MS);

    fire_at(&f, MONO0 + 500 * MS - 1);
    CHECK_EQ(f.rec.level, 0);
    CHECK_EQ(f.armed, MONO0 + 500 * MS); /* re-armed after an early expiry */
    fire_at(&f, MONO0 + 500 * MS);
    CHECK_EQ(f.rec.level, 1);
    CHECK_EQ(f.rec.rises, 1);
    /* Asserted and not acknowledged: no timer until register C is read. */
    CHECK_EQ(f.armed, VMM_RTC_NO_DEADLINE);
    fire_at(&f, MONO0 + 1200 * MS);
    CHECK_EQ(f.rec.rises, 1);

    /* UF too: a second boundary passed (UIE is off, so it did not interrupt). */
    CHECK_EQ(rd(&f, RTC_REG_C), RTC_C_IRQF | RTC_C_PF | RTC_C_UF);
    CHECK_EQ(f.rec.level, 0);
    CHECK_EQ(f.rec.falls, 1);
    CHECK_EQ(rd(&f, RTC_REG_C), 0);
    CHECK_EQ(f.armed, MONO0 + 1500 * MS);
    fire_at(&f, MONO0 + 1500 * MS);
    CHECK_EQ(f.rec.rises, 2);
    teardown(&f);
}

static void test_periodic_rates(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    struct {
        uint8_t rs;
        int64_t first; /* ns after a second boundary */
    } rates[] = {
        {3, 122071},    /* 8192 Hz: 122070.3125 ns rounded up */
        {6, 976563},    /* 1024 Hz */
        {1, 3906250},   /* 256 Hz */
        {2, 7812500},   /* 128 Hz */
        {13, 125 * MS}, /* 8 Hz */
    };
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        wr(&f, RTC_REG_A, 0x20 | rates[i].rs);
        CHECK_EQ(vmm_rtc_next_deadline_ns(&f.rtc), MONO0 + rates[i].first);
    }
    wr(&f, RTC_REG_A, 0x20); /* rate 0: no periodic interrupt */
    CHECK_EQ(vmm_rtc_next_deadline_ns(&f.rtc), VMM_RTC_NO_DEADLINE);
    teardown(&f);
}

static void test_flags_without_enables(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_A, 0x20 | 15);
    advance(&f, 500 * MS);
    /* PF is set at the periodic rate even with PIE off; no IRQF, no interrupt. */
    CHECK_EQ(rd(&f, RTC_REG_C), RTC_C_PF);
    advance(&f, 500 * MS);
    CHECK_EQ(rd(&f, RTC_REG_C), RTC_C_PF | RTC_C_UF);
    CHECK_EQ(f.rec.rises, 0);
    CHECK_EQ(vmm_rtc_next_deadline_ns(&f.rtc), VMM_RTC_NO_DEADLINE);

    /* Enabling UIE while UF is already set raises the line at once. */
    advance(&f, 1 * NS);
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_UIE);
    CHECK_EQ(f.rec.level, 1);
    /* AF as well: the alarm registers are 00:00:00 and midnight just passed. */
    CHECK_EQ(rd(&f, RTC_REG_C), RTC_C_IRQF | RTC_C_PF | RTC_C_AF | RTC_C_UF);
    CHECK_EQ(f.rec.level, 0);
    /* Disabling the source drops IRQF (it is an OR of flag and enable). */
    advance(&f, 1 * NS);
    vmm_rtc_timer_fire(&f.rtc);
    CHECK_EQ(f.rec.level, 1);
    wr(&f, RTC_REG_B, RTC_B_24H);
    CHECK_EQ(f.rec.level, 0);
    teardown(&f);
}

static void test_update_ended(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_A, 0x20); /* no periodic flag in the way */
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_UIE);
    CHECK_EQ(f.armed, MONO0 + 1 * NS);
    fire_at(&f, MONO0 + 1 * NS);
    CHECK_EQ(f.rec.level, 1);
    CHECK_EQ(rd(&f, RTC_REG_C), RTC_C_IRQF | RTC_C_UF);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x59);
    CHECK_EQ(f.armed, MONO0 + 2 * NS);
    /* SET inhibits updates: no UF while it is set. */
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_SET);
    advance(&f, 3 * NS);
    CHECK_EQ(rd(&f, RTC_REG_C), 0);
    teardown(&f);
}

static void test_alarm(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_A, 0x20); /* no periodic flag in the way */
    /* 00:00:05, seven seconds after the start. */
    wr(&f, RTC_SECONDS_ALARM, 0x05);
    wr(&f, RTC_MINUTES_ALARM, 0x00);
    wr(&f, RTC_HOURS_ALARM, 0x00);
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_AIE);
    CHECK_EQ(f.armed, MONO0 + 7 * NS);
    fire_at(&f, MONO0 + 7 * NS - 1);
    CHECK_EQ(f.rec.level, 0);
    fire_at(&f, MONO0 + 7 * NS);
    CHECK_EQ(f.rec.level, 1);
    CHECK_EQ(rd(&f, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x05);
    /* Next day, same time. */
    CHECK_EQ(f.armed, MONO0 + 7 * NS + 86400 * NS);
    teardown(&f);
}

static void test_alarm_dont_care(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_A, 0x20); /* no periodic flag in the way */
    /* Every second. */
    wr(&f, RTC_SECONDS_ALARM, 0xc0);
    wr(&f, RTC_MINUTES_ALARM, 0xff);
    wr(&f, RTC_HOURS_ALARM, 0xd5);
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_AIE);
    CHECK_EQ(f.armed, MONO0 + 1 * NS);
    /* Every minute at :30 -> 00:00:30, 32 s away. */
    wr(&f, RTC_SECONDS_ALARM, 0x30);
    CHECK_EQ(f.armed, MONO0 + 32 * NS);
    /* An hour that cannot exist never matches. */
    wr(&f, RTC_HOURS_ALARM, 0x25);
    CHECK_EQ(f.armed, VMM_RTC_NO_DEADLINE);
    advance(&f, 2 * 86400 * NS);
    CHECK_EQ(rd(&f, RTC_REG_C) & RTC_C_AF, 0);
    teardown(&f);
}

static void test_alarm_12h_and_lazy(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, RTC_REG_A, 0x20); /* no periodic flag in the way */
    /* 12 AM (midnight) in 12 h BCD: 0x12 without PM. */
    wr(&f, RTC_REG_B, 0);
    wr(&f, RTC_SECONDS_ALARM, 0x05);
    wr(&f, RTC_MINUTES_ALARM, 0x00);
    wr(&f, RTC_HOURS_ALARM, 0x12);
    wr(&f, RTC_REG_B, RTC_B_AIE);
    CHECK_EQ(f.armed, MONO0 + 7 * NS);
    /* No timer: a guest polling register C still sees the alarm that passed. */
    advance(&f, 60 * NS);
    CHECK_EQ(rd(&f, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
    CHECK_EQ(f.rec.rises, 1);
    CHECK_EQ(rd(&f, RTC_REG_C), 0);
    /* 11 PM is 0x91 in 12 h mode: 23:00:05, a day minus an hour away. */
    wr(&f, RTC_HOURS_ALARM, RTC_HOURS_PM | 0x11);
    advance(&f, 1 * NS);
    uint64_t d = vmm_rtc_next_deadline_ns(&f.rtc);
    /* Now 00:00:59 on Jan 1: 22:59:06 to go. */
    CHECK_EQ(d, (uint64_t)f.clk.mono + (22 * 3600 + 59 * 60 + 6) * NS);
    teardown(&f);
}

static void test_reset(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, 0x40, 0x5a);
    wr(&f, RTC_REG_A, 0x20 | 15);
    wr(&f, RTC_REG_B, RTC_B_24H | RTC_B_PIE | RTC_B_UIE | RTC_B_AIE | RTC_B_SQWE);
    fire_at(&f, MONO0 + 500 * MS);
    CHECK_EQ(f.rec.level, 1);
    vmm_rtc_reset(&f.rtc);
    CHECK_EQ(f.rec.level, 0);
    CHECK_EQ(rd(&f, RTC_REG_B), RTC_B_24H);
    CHECK_EQ(rd(&f, RTC_REG_C), 0);
    CHECK_EQ(rd(&f, RTC_REG_A), 0x2f);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x58);
    CHECK_EQ(rd(&f, 0x40), 0x5a);
    CHECK_EQ(vmm_rtc_next_deadline_ns(&f.rtc), VMM_RTC_NO_DEADLINE);
    teardown(&f);
}

/* NVRAM ------------------------------------------------------------------------------- */

static unsigned rd16(struct fixture *f, uint8_t lo)
{
    return rd(f, lo) | (unsigned)rd(f, lo + 1) << 8;
}

static unsigned rd24(struct fixture *f, uint8_t lo)
{
    return rd16(f, lo) | (unsigned)rd(f, lo + 2) << 16;
}

static void check_checksum(struct fixture *f)
{
    unsigned sum = 0;
    for (uint8_t i = 0x10; i < 0x2e; i++)
        sum += rd(f, i);
    CHECK_EQ((unsigned)rd(f, CMOS_CHECKSUM_HI) << 8 | rd(f, CMOS_CHECKSUM_LO), sum);
}

static void test_nvram_memory(void)
{
    struct fixture f;
    setup(&f);

    vmm_rtc_set_memory(&f.rtc, 64ULL << 20);
    CHECK_EQ(rd16(&f, CMOS_BASE_MEM_LO), 640);
    CHECK_EQ(rd16(&f, CMOS_EXT_MEM_LO), 63 * 1024);
    CHECK_EQ(rd16(&f, CMOS_EXT_MEM2_LO), 63 * 1024);
    CHECK_EQ(rd16(&f, CMOS_MEM_16M_LO), (64 - 16) * 16); /* 64 KiB units */
    CHECK_EQ(rd24(&f, CMOS_MEM_4G_LO), 0);
    check_checksum(&f);

    vmm_rtc_set_memory(&f.rtc, 3ULL << 30);
    CHECK_EQ(rd16(&f, CMOS_BASE_MEM_LO), 640);
    CHECK_EQ(rd16(&f, CMOS_EXT_MEM_LO), 0xffff);
    CHECK_EQ(rd16(&f, CMOS_EXT_MEM2_LO), 0xffff);
    CHECK_EQ(rd16(&f, CMOS_MEM_16M_LO), 0xbf00); /* (3 GiB - 16 MiB) / 64 KiB */
    CHECK_EQ(rd24(&f, CMOS_MEM_4G_LO), 0);
    check_checksum(&f);

    /* 8 GiB: 3 GiB below the PCI hole, 5 GiB relocated above 4 GiB. */
    vmm_rtc_set_memory(&f.rtc, 8ULL << 30);
    CHECK_EQ(rd16(&f, CMOS_MEM_16M_LO), 0xbf00);
    CHECK_EQ(rd(&f, CMOS_MEM_4G_LO), 0x00);
    CHECK_EQ(rd(&f, CMOS_MEM_4G_MID), 0x40);
    CHECK_EQ(rd(&f, CMOS_MEM_4G_HI), 0x01);
    check_checksum(&f);
    teardown(&f);
}

static void test_nvram_board(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(vmm_rtc_set_cpus(&f.rtc, 4), 0);
    CHECK_EQ(rd(&f, CMOS_CPU_COUNT), 3);
    CHECK_EQ(vmm_rtc_set_cpus(&f.rtc, 0), -EINVAL);
    CHECK_EQ(vmm_rtc_set_cpus(&f.rtc, 257), -EINVAL);
    CHECK_EQ(rd(&f, CMOS_CPU_COUNT), 3);

    const enum vmm_rtc_boot_dev order[] = {VMM_RTC_BOOT_CDROM, VMM_RTC_BOOT_DISK,
                                           VMM_RTC_BOOT_FLOPPY};
    CHECK_EQ(vmm_rtc_set_boot_order(&f.rtc, order, 3), 0);
    CHECK_EQ(rd(&f, CMOS_BOOT_FLAG2), 0x23);
    CHECK_EQ(rd(&f, CMOS_BOOT_FLAG1), 0x11);
    /* SeaBIOS's decoding: first choice in the low nibble. */
    unsigned bootorder = rd(&f, CMOS_BOOT_FLAG2) | (rd(&f, CMOS_BOOT_FLAG1) & 0xf0) << 4;
    CHECK_EQ(bootorder, 0x123);

    const enum vmm_rtc_boot_dev dup[] = {VMM_RTC_BOOT_DISK, VMM_RTC_BOOT_DISK};
    const enum vmm_rtc_boot_dev bad[] = {(enum vmm_rtc_boot_dev)5};
    CHECK_EQ(vmm_rtc_set_boot_order(&f.rtc, dup, 2), -EINVAL);
    CHECK_EQ(vmm_rtc_set_boot_order(&f.rtc, bad, 1), -EINVAL);
    CHECK_EQ(vmm_rtc_set_boot_order(&f.rtc, order, 4), -EINVAL);
    CHECK_EQ(rd(&f, CMOS_BOOT_FLAG2), 0x23);
    CHECK_EQ(vmm_rtc_set_boot_order(&f.rtc, order, 1), 0);
    CHECK_EQ(rd(&f, CMOS_BOOT_FLAG2), 0x03);
    CHECK_EQ(rd(&f, CMOS_BOOT_FLAG1), 0x01);

    CHECK_EQ(rd(&f, CMOS_EQUIPMENT), 0x06);
    CHECK_EQ(vmm_rtc_nvram_write(&f.rtc, CMOS_FLOPPY_TYPES, 0x40), 0);
    CHECK_EQ(vmm_rtc_nvram_read(&f.rtc, CMOS_FLOPPY_TYPES), 0x40);
    check_checksum(&f);
    teardown(&f);
}

static void test_bad_indexes(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(vmm_rtc_nvram_write(&f.rtc, 0x80, 1), -EINVAL);
    CHECK_EQ(vmm_rtc_nvram_write(&f.rtc, 0x1000, 1), -EINVAL);
    CHECK_EQ(vmm_rtc_nvram_write(&f.rtc, RTC_SECONDS, 1), -EINVAL);
    CHECK_EQ(vmm_rtc_nvram_write(&f.rtc, RTC_REG_D, 1), -EINVAL);
    CHECK_EQ(vmm_rtc_nvram_write(&f.rtc, CMOS_CENTURY, 1), -EINVAL);
    CHECK_EQ(vmm_rtc_nvram_read(&f.rtc, 0x80), -EINVAL);
    CHECK_EQ(vmm_rtc_nvram_read(&f.rtc, RTC_REG_C), -EINVAL);
    CHECK_EQ(vmm_rtc_nvram_write(&f.rtc, 0x7f, 0x77), 0);
    CHECK_EQ(rd(&f, RTC_SECONDS), 0x58); /* untouched */

    /* The guest's index is 7 bits; bit 7 is the NMI mask and does not select. */
    CHECK_EQ(rd(&f, 0xff), 0x77);
    wr(&f, 0xff, 0x66);
    CHECK_EQ(vmm_rtc_nvram_read(&f.rtc, 0x7f), 0x66);
    CHECK_EQ(rd(&f, 0x80 | RTC_REG_A), 0x26);
    CHECK_EQ(rd(&f, 0x80 | RTC_SECONDS), 0x58);

    /* C and D are read-only. */
    wr(&f, RTC_REG_C, 0xff);
    wr(&f, RTC_REG_D, 0x00);
    CHECK_EQ(rd(&f, RTC_REG_C), 0);
    CHECK_EQ(rd(&f, RTC_REG_D), RTC_D_VRT);

    /* Only two ports: a 2-byte read at the data port gets 0xff for the byte past it. */
    vmm_rtc_ops.write(&f.rtc, 0, 1, 0x7f);
    CHECK_EQ(vmm_rtc_ops.read(&f.rtc, 1, 2), 0xff66);
    CHECK_EQ(vmm_rtc_ops.read(&f.rtc, 0, 1), 0x7f);
    vmm_rtc_ops.write(&f.rtc, 2, 1, 0x12); /* dropped */
    CHECK_EQ(vmm_rtc_nvram_read(&f.rtc, 0x7f), 0x66);
    teardown(&f);
}

int main(void)
{
    RUN_TEST(test_power_on);
    RUN_TEST(test_time_bcd_24h);
    RUN_TEST(test_time_binary);
    RUN_TEST(test_time_12h);
    RUN_TEST(test_leap_day);
    RUN_TEST(test_local_time);
    RUN_TEST(test_set_time);
    RUN_TEST(test_set_time_linux_style);
    RUN_TEST(test_write_while_running);
    RUN_TEST(test_divider_stops_time);
    RUN_TEST(test_uip);
    RUN_TEST(test_periodic);
    RUN_TEST(test_periodic_rates);
    RUN_TEST(test_flags_without_enables);
    RUN_TEST(test_update_ended);
    RUN_TEST(test_alarm);
    RUN_TEST(test_alarm_dont_care);
    RUN_TEST(test_alarm_12h_and_lazy);
    RUN_TEST(test_reset);
    RUN_TEST(test_nvram_memory);
    RUN_TEST(test_nvram_board);
    RUN_TEST(test_bad_indexes);
    return test_finish();
}
