/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MC146818 CMOS RTC model. Pure: no VM, no fds, no logging, so it links
 * alone into its unit test. See rtc.h for the time-keeping contract.
 */
#include "hw/rtc.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/guest-mem.h"

#define NS_PER_SEC 1000000000LL
#define SECS_PER_DAY 86400
#define DIVIDER_HZ 32768
/* UIP warning time plus the update cycle, with the 32.768 kHz time base. */
#define UIP_WINDOW_NS (244000LL + 1984000LL)
/* The first update after the divider leaves reset. */
#define RESTART_DELAY_NS (NS_PER_SEC / 2)
/* int64 nanoseconds reach from 1678 to 2262: keep the guest's years well inside. */
#define YEAR_MIN 1900
#define YEAR_MAX 2199

#define ALARM_ANY (-1)
#define ALARM_NEVER (-2)

/* Host clocks ---------------------------------------------------------------- */

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t host_monotonic(void *opaque)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static int64_t host_realtime(void *opaque)
{
    return clock_ns(CLOCK_REALTIME);
}

/* Arithmetic ----------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b) != 0 && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Calendar: proleptic Gregorian, days counted from 1970-01-01. --------------- */

static const uint16_t days_before_month[12] = {0,   31,  59,  90,  120, 151,
                                               181, 212, 243, 273, 304, 334};

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const uint8_t len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return len[m - 1] + (m == 2 && is_leap(y));
}

/* Leap days in the years 1 .. y-1. */
static int64_t leaps_before(int64_t y)
{
    int64_t p = y - 1;
    return floor_div(p, 4) - floor_div(p, 100) + floor_div(p, 400);
}

static int64_t days_from_date(int64_t y, int m, int d)
{
    return 365 * (y - 1970) + leaps_before(y) - leaps_before(1970) + days_before_month[m - 1] +
           (m > 2 && is_leap(y)) + d - 1;
}

struct rtc_tm {
    int64_t year;
    int mon;  /* 1..12 */
    int mday; /* 1..31 */
    int wday; /* 0 = Sunday */
    int hour, min, sec;
};

static void secs_to_tm(int64_t secs, struct rtc_tm *tm)
{
    int64_t days = floor_div(secs, SECS_PER_DAY);
    int64_t tod = secs - days * SECS_PER_DAY;

    tm->hour = (int)(tod / 3600);
    tm->min = (int)(tod / 60 % 60);
    tm->sec = (int)(tod % 60);
    tm->wday = (int)floor_mod(days + 4, 7); /* 1970-01-01 was a Thursday */

    /* 146097 days make 400 years: a first guess, then at most a step or two. */
    int64_t y = 1970 + floor_div(days * 400, 146097);
    while (days_from_date(y, 1, 1) > days)
        y--;
    while (days_from_date(y + 1, 1, 1) <= days)
        y++;
    int64_t doy = days - days_from_date(y, 1, 1);
    int m = 1;
    while (m < 12 && doy >= days_before_month[m] + (m >= 2 && is_leap(y)))
        m++;
    tm->year = y;
    tm->mon = m;
    tm->mday = (int)(doy - days_before_month[m - 1] - (m > 2 && is_leap(y))) + 1;
}

/* Register formats ------------------------------------------------------------ */

static bool binary_mode(const struct vmm_rtc *rtc)
{
    return rtc->cmos[RTC_REG_B] & RTC_B_DM;
}

static bool mode_24h(const struct vmm_rtc *rtc)
{
    return rtc->cmos[RTC_REG_B] & RTC_B_24H;
}

static uint8_t to_reg(const struct vmm_rtc *rtc, int v)
{
    return binary_mode(rtc) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* Lenient: digits above 9 in BCD count as their value (the caller clamps). */
static int from_reg(const struct vmm_rtc *rtc, uint8_t v)
{
    return binary_mode(rtc) ? v : (v >> 4) * 10 + (v & 0x0f);
}

/* Strict: -1 for a byte that is not a number in the current format. */
static int from_reg_strict(const struct vmm_rtc *rtc, uint8_t v)
{
    if (binary_mode(rtc))
        return v;
    if ((v >> 4) > 9 || (v & 0x0f) > 9)
        return -1;
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t hour_to_reg(const struct vmm_rtc *rtc, int h)
{
    if (mode_24h(rtc))
        return to_reg(rtc, h);
    int h12 = h % 12 ? h % 12 : 12;
    return to_reg(rtc, h12) | (h >= 12 ? RTC_HOURS_PM : 0);
}

static bool is_time_reg(unsigned idx)
{
    switch (idx) {
    case RTC_SECONDS:
    case RTC_MINUTES:
    case RTC_HOURS:
    case RTC_DAY_OF_WEEK:
    case RTC_DAY_OF_MONTH:
    case RTC_MONTH:
    case RTC_YEAR:
    case CMOS_CENTURY:
        return true;
    }
    return false;
}

static uint8_t time_reg(const struct vmm_rtc *rtc, unsigned idx, int64_t secs)
{
    struct rtc_tm tm;
    secs_to_tm(secs, &tm);
    switch (idx) {
    case RTC_SECONDS:
        return to_reg(rtc, tm.sec);
    case RTC_MINUTES:
        return to_reg(rtc, tm.min);
    case RTC_HOURS:
        return hour_to_reg(rtc, tm.hour);
    case RTC_DAY_OF_WEEK:
        return to_reg(rtc, tm.wday + 1);
    case RTC_DAY_OF_MONTH:
        return to_reg(rtc, tm.mday);
    case RTC_MONTH:
        return to_reg(rtc, tm.mon);
    case RTC_YEAR:
        return to_reg(rtc, (int)floor_mod(tm.year, 100));
    case CMOS_CENTURY:
        return to_reg(rtc, (int)floor_mod(floor_div(tm.year, 100), 100));
    }
    return 0xff;
}

/*
 * The time the guest left in the time registers, in seconds. Out-of-range
 * fields are clamped (a day past the month's end becomes its last day) and
 * the day of the week is ignored: it follows from the date.
 */
static int64_t regs_to_secs(const struct vmm_rtc *rtc)
{
    const uint8_t *c = rtc->cmos;
    int sec = clampi(from_reg(rtc, c[RTC_SECONDS]), 0, 59);
    int min = clampi(from_reg(rtc, c[RTC_MINUTES]), 0, 59);
    int hour;
    if (mode_24h(rtc)) {
        hour = clampi(from_reg(rtc, c[RTC_HOURS]), 0, 23);
    } else {
        int h12 = clampi(from_reg(rtc, c[RTC_HOURS] & ~RTC_HOURS_PM), 1, 12);
        hour = h12 % 12 + ((c[RTC_HOURS] & RTC_HOURS_PM) ? 12 : 0);
    }
    int mon = clampi(from_reg(rtc, c[RTC_MONTH]), 1, 12);
    int64_t year = clampi(from_reg(rtc, c[CMOS_CENTURY]), 0, 99) * 100 +
                   clampi(from_reg(rtc, c[RTC_YEAR]), 0, 99);
    year = clampi((int)year, YEAR_MIN, YEAR_MAX);
    int mday = clampi(from_reg(rtc, c[RTC_DAY_OF_MONTH]), 1, days_in_month(year, mon));
    return days_from_date(year, mon, mday) * SECS_PER_DAY + hour * 3600 + min * 60 + sec;
}

/* Time base ------------------------------------------------------------------- */

static int64_t mono_now(const struct vmm_rtc *rtc)
{
    return rtc->clock.monotonic_ns(rtc->clock.opaque);
}

/* RTC time (ns since the epoch, in the clock's own zone) at monotonic time now. */
static int64_t rtc_time(const struct vmm_rtc *rtc, int64_t now)
{
    return rtc->running ? now + rtc->delta_ns : rtc->frozen_ns;
}

static void put_rtc_time(struct vmm_rtc *rtc, int64_t now, int64_t t)
{
    if (rtc->running)
        rtc->delta_ns = t - now;
    else
        rtc->frozen_ns = t;
}

/* Moves to whole second secs, keeping the divider's phase within the second. */
static void set_seconds(struct vmm_rtc *rtc, int64_t now, int64_t secs)
{
    int64_t phase = floor_mod(rtc_time(rtc, now), NS_PER_SEC);
    put_rtc_time(rtc, now, secs * NS_PER_SEC + phase);
}

/* Copies the running time into the time registers (SET going high, or a write). */
static void latch_time(struct vmm_rtc *rtc, int64_t now)
{
    static const uint8_t regs[] = {RTC_SECONDS,      RTC_MINUTES, RTC_HOURS, RTC_DAY_OF_WEEK,
                                   RTC_DAY_OF_MONTH, RTC_MONTH,   RTC_YEAR,  CMOS_CENTURY};
    int64_t secs = floor_div(rtc_time(rtc, now), NS_PER_SEC);
    for (size_t i = 0; i < sizeof(regs); i++)
        rtc->cmos[regs[i]] = time_reg(rtc, regs[i], secs);
}

/* Periodic interrupt: the period in 32.768 kHz ticks, 0 when off. */
static unsigned period_ticks(const struct vmm_rtc *rtc)
{
    unsigned rs = rtc->cmos[RTC_REG_A] & RTC_A_RS_MASK;
    if (!rs)
        return 0;
    if (rs < 3)
        rs += 7; /* 256 Hz and 128 Hz with the 32.768 kHz time base, as rates 8 and 9 */
    return 1u << (rs - 1);
}

/* Index of the periodic tick at or before RTC time t (ticks are aligned to seconds). */
static int64_t ptick_index(int64_t t, unsigned per)
{
    int64_t sec = floor_div(t, NS_PER_SEC);
    int64_t ticks = (t - sec * NS_PER_SEC) * DIVIDER_HZ / NS_PER_SEC;
    return sec * (DIVIDER_HZ / per) + ticks / per;
}

/* The first nanosecond of periodic tick k. */
static int64_t ptick_time(int64_t k, unsigned per)
{
    int64_t n = DIVIDER_HZ / per;
    int64_t sec = floor_div(k, n);
    int64_t num = (k - sec * n) * per * NS_PER_SEC;
    return sec * NS_PER_SEC + (num + DIVIDER_HZ - 1) / DIVIDER_HZ;
}

/* Alarms ---------------------------------------------------------------------- */

static int alarm_field(const struct vmm_rtc *rtc, uint8_t v, int max)
{
    if ((v & RTC_ALARM_DONTCARE) == RTC_ALARM_DONTCARE)
        return ALARM_ANY;
    int x = from_reg_strict(rtc, v);
    return x < 0 || x > max ? ALARM_NEVER : x;
}

static int alarm_hour(const struct vmm_rtc *rtc, uint8_t v)
{
    if ((v & RTC_ALARM_DONTCARE) == RTC_ALARM_DONTCARE)
        return ALARM_ANY;
    if (mode_24h(rtc))
        return alarm_field(rtc, v, 23);
    int h12 = from_reg_strict(rtc, v & ~RTC_HOURS_PM);
    if (h12 < 1 || h12 > 12)
        return ALARM_NEVER;
    return h12 % 12 + ((v & RTC_HOURS_PM) ? 12 : 0);
}

/* The first whole second after `after` whose time matches the alarm; INT64_MAX if none. */
static int64_t next_alarm(const struct vmm_rtc *rtc, int64_t after)
{
    int hs = alarm_hour(rtc, rtc->cmos[RTC_HOURS_ALARM]);
    int ms = alarm_field(rtc, rtc->cmos[RTC_MINUTES_ALARM], 59);
    int ss = alarm_field(rtc, rtc->cmos[RTC_SECONDS_ALARM], 59);
    if (hs == ALARM_NEVER || ms == ALARM_NEVER || ss == ALARM_NEVER)
        return INT64_MAX;

    /* Skips whole hours and minutes that cannot match: ~100 steps at most. */
    int64_t t = after + 1;
    for (int guard = 0; guard < 512; guard++) {
        int64_t tod = floor_mod(t, SECS_PER_DAY);
        int h = (int)(tod / 3600), m = (int)(tod / 60 % 60), s = (int)(tod % 60);
        if (hs != ALARM_ANY && h != hs) {
            t += 3600 - tod % 3600;
            continue;
        }
        if (ms != ALARM_ANY && m != ms) {
            t += 60 - s;
            continue;
        }
        if (ss != ALARM_ANY && s != ss) {
            t += s < ss ? ss - s : 60 - s;
            continue;
        }
        return t;
    }
    return INT64_MAX;
}

/* Flags and the interrupt line ----------------------------------------------- */

/* IRQF is the OR of each flag with its enable; the pin follows it. */
static void update_irq(struct vmm_rtc *rtc)
{
    uint8_t c = rtc->cmos[RTC_REG_C] & (RTC_C_PF | RTC_C_AF | RTC_C_UF);
    uint8_t b = rtc->cmos[RTC_REG_B];
    bool irqf = ((c & RTC_C_PF) && (b & RTC_B_PIE)) || ((c & RTC_C_AF) && (b & RTC_B_AIE)) ||
                ((c & RTC_C_UF) && (b & RTC_B_UIE));
    rtc->cmos[RTC_REG_C] = c | (irqf ? RTC_C_IRQF : 0);
    if ((int)irqf != rtc->irq_level) {
        rtc->irq_level = irqf;
        vmm_irq_set(rtc->irq, irqf);
    }
}

/*
 * Sets the flags for everything that happened between the last accounting
 * and now. Must run before anything that changes the time line (offset,
 * divider, rate, SET, alarm), so each stretch is judged by the rules that
 * held during it.
 */
static void account(struct vmm_rtc *rtc, int64_t now)
{
    int64_t from = rtc->accounted_ns;
    rtc->accounted_ns = now;
    if (now <= from || !rtc->running)
        return;

    int64_t t0 = from + rtc->delta_ns, t1 = now + rtc->delta_ns;
    unsigned per = period_ticks(rtc);
    if (per && ptick_index(t1, per) > ptick_index(t0, per))
        rtc->cmos[RTC_REG_C] |= RTC_C_PF;
    if (!(rtc->cmos[RTC_REG_B] & RTC_B_SET)) {
        int64_t s0 = floor_div(t0, NS_PER_SEC), s1 = floor_div(t1, NS_PER_SEC);
        if (s1 > s0) {
            rtc->cmos[RTC_REG_C] |= RTC_C_UF;
            if (next_alarm(rtc, s0) <= s1)
                rtc->cmos[RTC_REG_C] |= RTC_C_AF;
        }
    }
}

static uint64_t compute_deadline(const struct vmm_rtc *rtc, int64_t now)
{
    const uint8_t b = rtc->cmos[RTC_REG_B];
    if (!rtc->running || (rtc->cmos[RTC_REG_C] & RTC_C_IRQF))
        return VMM_RTC_NO_DEADLINE;

    int64_t t = rtc_time(rtc, now);
    int64_t best = INT64_MAX;
    unsigned per = period_ticks(rtc);
    if ((b & RTC_B_PIE) && per) {
        int64_t p = ptick_time(ptick_index(t, per) + 1, per);
        best = p < best ? p : best;
    }
    if (!(b & RTC_B_SET)) {
        int64_t s = floor_div(t, NS_PER_SEC);
        if ((b & RTC_B_UIE) && (s + 1) * NS_PER_SEC < best)
            best = (s + 1) * NS_PER_SEC;
        if (b & RTC_B_AIE) {
            int64_t a = next_alarm(rtc, s);
            if (a != INT64_MAX && a * NS_PER_SEC < best)
                best = a * NS_PER_SEC;
        }
    }
    if (best == INT64_MAX)
        return VMM_RTC_NO_DEADLINE;
    int64_t d = best - rtc->delta_ns;
    return d < 1 ? 1 : (uint64_t)d; /* never 0: a timerfd's it_value of 0 disarms it */
}

static void rearm(struct vmm_rtc *rtc, int64_t now)
{
    uint64_t d = compute_deadline(rtc, now);
    if (d != rtc->deadline_ns) {
        rtc->deadline_ns = d;
        if (rtc->timer_cb)
            rtc->timer_cb(rtc->timer_opaque, d);
    }
}

static int64_t begin(struct vmm_rtc *rtc)
{
    pthread_mutex_lock(&rtc->dev.lock);
    int64_t now = mono_now(rtc);
    account(rtc, now);
    update_irq(rtc);
    return now;
}

static void end(struct vmm_rtc *rtc, int64_t now)
{
    update_irq(rtc);
    rearm(rtc, now);
    pthread_mutex_unlock(&rtc->dev.lock);
}

/* Guest registers ------------------------------------------------------------- */

static bool uip(const struct vmm_rtc *rtc, int64_t now)
{
    if (!rtc->running || (rtc->cmos[RTC_REG_B] & RTC_B_SET))
        return false;
    int64_t t = rtc_time(rtc, now);
    int64_t next = (floor_div(t, NS_PER_SEC) + 1) * NS_PER_SEC;
    return next - t <= UIP_WINDOW_NS;
}

static uint8_t read_reg(struct vmm_rtc *rtc, unsigned idx, int64_t now)
{
    if (is_time_reg(idx)) {
        if (rtc->cmos[RTC_REG_B] & RTC_B_SET)
            return rtc->cmos[idx];
        return time_reg(rtc, idx, floor_div(rtc_time(rtc, now), NS_PER_SEC));
    }
    switch (idx) {
    case RTC_REG_A:
        return rtc->cmos[RTC_REG_A] | (uip(rtc, now) ? RTC_A_UIP : 0);
    case RTC_REG_C: {
        uint8_t v = rtc->cmos[RTC_REG_C];
        rtc->cmos[RTC_REG_C] = 0;
        update_irq(rtc);
        return v;
    }
    case RTC_REG_D:
        return RTC_D_VRT;
    }
    return rtc->cmos[idx];
}

static void write_reg_a(struct vmm_rtc *rtc, uint8_t val, int64_t now)
{
    bool was = rtc->running;
    bool runs = (val & RTC_A_DV_MASK) == RTC_A_DV_32KHZ;

    rtc->cmos[RTC_REG_A] = val & ~RTC_A_UIP;
    if (was && !runs) {
        rtc->frozen_ns = now + rtc->delta_ns;
        rtc->running = false;
    } else if (!was && runs) {
        int64_t s = floor_div(rtc->frozen_ns, NS_PER_SEC);
        rtc->delta_ns = s * NS_PER_SEC + RESTART_DELAY_NS - now;
        rtc->running = true;
    }
}

static void write_reg_b(struct vmm_rtc *rtc, uint8_t val, int64_t now)
{
    uint8_t old = rtc->cmos[RTC_REG_B];
    bool set_rises = !(old & RTC_B_SET) && (val & RTC_B_SET);
    bool set_falls = (old & RTC_B_SET) && !(val & RTC_B_SET);

    if (set_rises)
        val &= ~RTC_B_UIE; /* the SET bit going high clears UIE */
    rtc->cmos[RTC_REG_B] = val;
    if (set_rises)
        latch_time(rtc, now); /* in the format just chosen */
    if (set_falls)
        set_seconds(rtc, now, regs_to_secs(rtc));
}

static void write_reg(struct vmm_rtc *rtc, unsigned idx, uint8_t val, int64_t now)
{
    if (is_time_reg(idx)) {
        bool set = rtc->cmos[RTC_REG_B] & RTC_B_SET;
        /* Outside SET a write changes the running clock: the other fields keep their values. */
        if (!set)
            latch_time(rtc, now);
        rtc->cmos[idx] = val;
        if (!set)
            set_seconds(rtc, now, regs_to_secs(rtc));
        return;
    }
    switch (idx) {
    case RTC_REG_A:
        write_reg_a(rtc, val, now);
        break;
    case RTC_REG_B:
        write_reg_b(rtc, val, now);
        break;
    case RTC_REG_C:
    case RTC_REG_D:
        break; /* read-only */
    default:
        rtc->cmos[idx] = val; /* alarms and NVRAM */
        break;
    }
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_rtc *rtc = opaque;
    uint64_t val = 0;

    if (size > 8)
        size = 8;
    int64_t now = begin(rtc);
    for (unsigned i = 0; i < size; i++) {
        uint64_t o = off + i;
        uint8_t b = 0xff;
        if (o == 0)
            b = rtc->index;
        else if (o == 1)
            b = read_reg(rtc, rtc->index & 0x7f, now);
        val |= (uint64_t)b << (8 * i);
    }
    end(rtc, now);
    return val;
}

static void rtc_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_rtc *rtc = opaque;

    if (size > 8)
        size = 8;
    int64_t now = begin(rtc);
    for (unsigned i = 0; i < size; i++) {
        uint64_t o = off + i;
        uint8_t b = (uint8_t)(val >> (8 * i));
        if (o == 0)
            rtc->index = b; /* bit 7 gates NMI on a PC; nothing to gate here */
        else if (o == 1)
            write_reg(rtc, rtc->index & 0x7f, b, now);
    }
    end(rtc, now);
}

const struct vmm_io_ops vmm_rtc_ops = {
    .read = rtc_read,
    .write = rtc_write,
};

/* Timer ----------------------------------------------------------------------- */

uint64_t vmm_rtc_next_deadline_ns(struct vmm_rtc *rtc)
{
    int64_t now = begin(rtc);
    update_irq(rtc);
    rearm(rtc, now);
    uint64_t d = rtc->deadline_ns;
    pthread_mutex_unlock(&rtc->dev.lock);
    return d;
}

void vmm_rtc_timer_fire(struct vmm_rtc *rtc)
{
    int64_t now = begin(rtc);
    /* The owner's one-shot timer has expired: always tell it what comes next, even if unchanged. */
    rtc->deadline_ns = compute_deadline(rtc, now);
    if (rtc->timer_cb)
        rtc->timer_cb(rtc->timer_opaque, rtc->deadline_ns);
    pthread_mutex_unlock(&rtc->dev.lock);
}

/* Board configuration --------------------------------------------------------- */

static void update_checksum(struct vmm_rtc *rtc)
{
    unsigned sum = 0;
    for (unsigned i = CMOS_FLOPPY_TYPES; i < CMOS_CHECKSUM_HI; i++)
        sum += rtc->cmos[i];
    rtc->cmos[CMOS_CHECKSUM_HI] = (uint8_t)(sum >> 8);
    rtc->cmos[CMOS_CHECKSUM_LO] = (uint8_t)sum;
}

static void put16(struct vmm_rtc *rtc, unsigned lo, uint64_t v)
{
    rtc->cmos[lo] = (uint8_t)v;
    rtc->cmos[lo + 1] = (uint8_t)(v >> 8);
}

static void set_memory_locked(struct vmm_rtc *rtc, uint64_t ram_size)
{
    uint64_t low, high;
    vmm_guest_mem_layout(ram_size, &low, &high);

    uint64_t base_kib = low >= (640 << 10) ? 640 : low >> 10;
    uint64_t ext_kib = low > (1 << 20) ? (low - (1 << 20)) >> 10 : 0;
    uint64_t above_16m = low > (16 << 20) ? (low - (16 << 20)) >> 16 : 0;
    uint64_t above_4g = high >> 16;

    put16(rtc, CMOS_BASE_MEM_LO, base_kib);
    put16(rtc, CMOS_EXT_MEM_LO, ext_kib > 0xffff ? 0xffff : ext_kib);
    put16(rtc, CMOS_EXT_MEM2_LO, ext_kib > 0xffff ? 0xffff : ext_kib);
    put16(rtc, CMOS_MEM_16M_LO, above_16m > 0xffff ? 0xffff : above_16m);
    if (above_4g > 0xffffff)
        above_4g = 0xffffff;
    rtc->cmos[CMOS_MEM_4G_LO] = (uint8_t)above_4g;
    rtc->cmos[CMOS_MEM_4G_MID] = (uint8_t)(above_4g >> 8);
    rtc->cmos[CMOS_MEM_4G_HI] = (uint8_t)(above_4g >> 16);
    update_checksum(rtc);
}

void vmm_rtc_set_memory(struct vmm_rtc *rtc, uint64_t ram_size)
{
    pthread_mutex_lock(&rtc->dev.lock);
    set_memory_locked(rtc, ram_size);
    pthread_mutex_unlock(&rtc->dev.lock);
}

int vmm_rtc_set_cpus(struct vmm_rtc *rtc, unsigned ncpus)
{
    if (ncpus < 1 || ncpus > 256)
        return -EINVAL;
    pthread_mutex_lock(&rtc->dev.lock);
    rtc->cmos[CMOS_CPU_COUNT] = (uint8_t)(ncpus - 1);
    pthread_mutex_unlock(&rtc->dev.lock);
    return 0;
}

int vmm_rtc_set_boot_order(struct vmm_rtc *rtc, const enum vmm_rtc_boot_dev *order, unsigned n)
{
    if (n > 3 || (n && !order))
        return -EINVAL;
    unsigned nibbles = 0, seen = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned d = order[i];
        if (d < VMM_RTC_BOOT_FLOPPY || d > VMM_RTC_BOOT_NETWORK || (seen & (1u << d)))
            return -EINVAL;
        seen |= 1u << d;
        nibbles |= d << (4 * i);
    }
    pthread_mutex_lock(&rtc->dev.lock);
    rtc->cmos[CMOS_BOOT_FLAG2] = (uint8_t)nibbles;
    /* Bit 0: no floppy boot-signature check (there are no floppies to be strict about). */
    rtc->cmos[CMOS_BOOT_FLAG1] = (uint8_t)(((nibbles >> 4) & 0xf0) | 0x01);
    pthread_mutex_unlock(&rtc->dev.lock);
    return 0;
}

static bool nvram_index_ok(unsigned index)
{
    return index > RTC_REG_D && index < VMM_RTC_CMOS_SIZE && index != CMOS_CENTURY;
}

int vmm_rtc_nvram_write(struct vmm_rtc *rtc, unsigned index, uint8_t val)
{
    if (!nvram_index_ok(index))
        return -EINVAL;
    pthread_mutex_lock(&rtc->dev.lock);
    rtc->cmos[index] = val;
    if (index >= CMOS_FLOPPY_TYPES && index < CMOS_CHECKSUM_HI)
        update_checksum(rtc);
    pthread_mutex_unlock(&rtc->dev.lock);
    return 0;
}

int vmm_rtc_nvram_read(struct vmm_rtc *rtc, unsigned index)
{
    if (!nvram_index_ok(index))
        return -EINVAL;
    pthread_mutex_lock(&rtc->dev.lock);
    int v = rtc->cmos[index];
    pthread_mutex_unlock(&rtc->dev.lock);
    return v;
}

/* Life cycle ------------------------------------------------------------------ */

void vmm_rtc_init(struct vmm_rtc *rtc, struct vmm_irq *irq, const struct vmm_rtc_clock *clock,
                  bool utc)
{
    memset(rtc, 0, sizeof(*rtc));
    pthread_mutex_init(&rtc->dev.lock, NULL);
    rtc->irq = irq;
    rtc->clock.monotonic_ns = clock && clock->monotonic_ns ? clock->monotonic_ns : host_monotonic;
    rtc->clock.realtime_ns = clock && clock->realtime_ns ? clock->realtime_ns : host_realtime;
    rtc->clock.opaque = clock ? clock->opaque : NULL;
    rtc->deadline_ns = VMM_RTC_NO_DEADLINE;

    int64_t wall = rtc->clock.realtime_ns(rtc->clock.opaque);
    if (!utc) {
        /* The host's offset now, kept: the guest OS adjusts a local-time RTC for DST itself. */
        time_t secs = (time_t)floor_div(wall, NS_PER_SEC);
        struct tm tm;
        if (localtime_r(&secs, &tm))
            wall += (int64_t)tm.tm_gmtoff * NS_PER_SEC;
    }
    int64_t now = mono_now(rtc);
    rtc->running = true;
    rtc->delta_ns = wall - now;
    rtc->accounted_ns = now;

    rtc->cmos[RTC_REG_A] = RTC_A_DV_32KHZ | 0x06;
    rtc->cmos[RTC_REG_B] = RTC_B_24H;
    /* Equipment byte as the BIOS data area reports it: FPU and a PS/2 pointing device. */
    rtc->cmos[CMOS_EQUIPMENT] = 0x06;
    set_memory_locked(rtc, 640 << 10);
}

void vmm_rtc_fini(struct vmm_rtc *rtc)
{
    pthread_mutex_destroy(&rtc->dev.lock);
}

void vmm_rtc_set_timer_cb(struct vmm_rtc *rtc, vmm_rtc_timer_fn fn, void *opaque)
{
    int64_t now = begin(rtc);
    rtc->timer_cb = fn;
    rtc->timer_opaque = opaque;
    rtc->deadline_ns = VMM_RTC_NO_DEADLINE;
    end(rtc, now);
}

void vmm_rtc_reset(struct vmm_rtc *rtc)
{
    int64_t now = begin(rtc);
    rtc->cmos[RTC_REG_B] &= ~(RTC_B_PIE | RTC_B_AIE | RTC_B_UIE | RTC_B_SQWE);
    rtc->cmos[RTC_REG_C] = 0;
    end(rtc, now);
}

/* Snapshots ------------------------------------------------------------------- */

int64_t vmm_rtc_wall_offset_ns(struct vmm_rtc *rtc)
{
    int64_t now = mono_now(rtc);
    account(rtc, now);
    update_irq(rtc);
    return rtc_time(rtc, now) - rtc->clock.realtime_ns(rtc->clock.opaque);
}

void vmm_rtc_state_loaded(struct vmm_rtc *rtc, int64_t wall_offset_ns)
{
    int64_t now = mono_now(rtc);
    rtc->index &= 0xff;
    rtc->cmos[RTC_REG_A] &= ~RTC_A_UIP;
    rtc->cmos[RTC_REG_C] &= RTC_C_PF | RTC_C_AF | RTC_C_UF;
    rtc->running = (rtc->cmos[RTC_REG_A] & RTC_A_DV_MASK) == RTC_A_DV_32KHZ;
    if (rtc->running)
        rtc->delta_ns = rtc->clock.realtime_ns(rtc->clock.opaque) + wall_offset_ns - now;
    rtc->accounted_ns = now;
    rtc->irq_level = -1;
    update_irq(rtc);
    rtc->deadline_ns = 0; /* tell the owner, whatever it was told before */
    rearm(rtc, now);
}
