/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_RTC_H
#define VMM_HW_RTC_H

/*
 * The PC's CMOS real-time clock, an MC146818: index port 0x70, data port
 * 0x71, 128 bytes of CMOS (14 clock registers and 114 bytes of NVRAM),
 * interrupts on ISA IRQ 8.
 *
 * The model (rtc.c) needs no VM and no thread. Time is kept as an offset
 * from a monotonic clock; the interrupt flags are worked out lazily, from
 * that clock, whenever the guest touches the chip. So that interrupts also
 * arrive when the guest is not polling, the model tells its owner the next
 * moment one could be due (vmm_rtc_next_deadline_ns(), and the timer
 * callback whenever that moment changes); the glue arms a timerfd on the
 * event loop for it and calls vmm_rtc_timer_fire() when it expires. Between
 * an asserted IRQ and the guest's read of register C there is no deadline at
 * all, so a guest that never acknowledges costs no timer wake-ups.
 *
 * Time base: the host's wall clock (UTC, or the host's local time as it was
 * when the clock was created) sampled once at creation, then advanced by the
 * monotonic clock, so host clock steps do not disturb the guest. A time the
 * guest sets is kept as an offset from that. Only the 32.768 kHz time base
 * (divider 010) keeps time; 11x holds the divider in reset and any other
 * value stops the oscillator. After the divider starts again the first
 * update comes 500 ms later, as the datasheet says.
 *
 * Registers read as the chip would show them at that instant: an update is
 * instantaneous at the second boundary, and UIP reads 1 during the 244 us +
 * 1984 us before it (the warning time and the update cycle of a real part,
 * folded before the boundary so the registers never change while UIP is 0).
 * Changing the BCD/binary or 12/24 h mode reformats the time registers at
 * once (a real part keeps the old bytes until it is set again).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/device.h"
#include "core/iotrap.h"
#include "core/irq.h"

#define VMM_RTC_PORT 0x70
#define VMM_RTC_NPORTS 2 /* 0x70 index (bit 7: NMI disable), 0x71 data */
#define VMM_RTC_IRQ 8
#define VMM_RTC_CMOS_SIZE 128

/* Clock registers. */
#define RTC_SECONDS 0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES 0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS 0x04
#define RTC_HOURS_ALARM 0x05
#define RTC_DAY_OF_WEEK 0x06 /* 1 = Sunday */
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d

#define RTC_A_UIP 0x80     /* update in progress (read-only) */
#define RTC_A_DV_MASK 0x70 /* divider: 010 runs on 32.768 kHz, 11x holds it in reset */
#define RTC_A_DV_32KHZ 0x20
#define RTC_A_RS_MASK 0x0f /* periodic rate: 0 off, 3..15 = 8192 Hz .. 2 Hz, 1/2 = 256/128 Hz */

#define RTC_B_SET 0x80  /* updates inhibited, the guest sets the time */
#define RTC_B_PIE 0x40  /* periodic interrupt enable */
#define RTC_B_AIE 0x20  /* alarm interrupt enable */
#define RTC_B_UIE 0x10  /* update-ended interrupt enable */
#define RTC_B_SQWE 0x08 /* square wave (no pin here; kept) */
#define RTC_B_DM 0x04   /* 1: binary, 0: BCD */
#define RTC_B_24H 0x02  /* 1: 24 h, 0: 12 h with bit 7 of the hours = PM */
#define RTC_B_DSE 0x01  /* daylight saving (kept, not applied) */

#define RTC_C_IRQF 0x80
#define RTC_C_PF 0x40
#define RTC_C_AF 0x20
#define RTC_C_UF 0x10

#define RTC_D_VRT 0x80 /* valid RAM and time: the battery is fine */

#define RTC_HOURS_PM 0x80       /* 12 h mode */
#define RTC_ALARM_DONTCARE 0xc0 /* an alarm byte with both top bits set matches anything */

/* NVRAM fields a PC BIOS (SeaBIOS on a QEMU-style board) reads. */
#define CMOS_SHUTDOWN_STATUS 0x0f
#define CMOS_FLOPPY_TYPES 0x10
#define CMOS_DISK_DATA 0x12
#define CMOS_EQUIPMENT 0x14
#define CMOS_BASE_MEM_LO 0x15 /* KiB below 1 MiB */
#define CMOS_BASE_MEM_HI 0x16
#define CMOS_EXT_MEM_LO 0x17 /* KiB above 1 MiB, at most 0xffff */
#define CMOS_EXT_MEM_HI 0x18
#define CMOS_CHECKSUM_HI 0x2e /* sum of 0x10..0x2d */
#define CMOS_CHECKSUM_LO 0x2f
#define CMOS_EXT_MEM2_LO 0x30 /* the same again */
#define CMOS_EXT_MEM2_HI 0x31
#define CMOS_CENTURY 0x32    /* a clock register in effect: BCD or binary as register B says */
#define CMOS_MEM_16M_LO 0x34 /* 64 KiB units above 16 MiB, below the PCI hole */
#define CMOS_MEM_16M_HI 0x35
#define CMOS_BOOT_FLAG1 0x38 /* bits 7:4 third boot device; bit 0: skip floppy signature check */
#define CMOS_BOOT_FLAG2 0x3d /* bits 3:0 first, 7:4 second boot device */
#define CMOS_MEM_4G_LO 0x5b  /* 64 KiB units above 4 GiB, 24 bits */
#define CMOS_MEM_4G_MID 0x5c
#define CMOS_MEM_4G_HI 0x5d
#define CMOS_CPU_COUNT 0x5f /* CPUs - 1 */

/* Boot devices in SeaBIOS's CMOS boot-order nibbles. */
enum vmm_rtc_boot_dev {
    VMM_RTC_BOOT_FLOPPY = 1,
    VMM_RTC_BOOT_DISK = 2,
    VMM_RTC_BOOT_CDROM = 3,
    VMM_RTC_BOOT_NETWORK = 4,
};

/*
 * Where the model gets time from. monotonic_ns never goes backwards;
 * realtime_ns is nanoseconds since the Unix epoch, UTC. NULL functions mean
 * the host's CLOCK_MONOTONIC and CLOCK_REALTIME. Unit tests inject fakes.
 */
struct vmm_rtc_clock {
    int64_t (*monotonic_ns)(void *opaque);
    int64_t (*realtime_ns)(void *opaque);
    void *opaque;
};

/* No deadline: nothing the guest enabled can fire before it touches the chip. */
#define VMM_RTC_NO_DEADLINE UINT64_MAX

/*
 * Told the new next deadline (a monotonic time, never 0, or VMM_RTC_NO_DEADLINE)
 * whenever it changes. Called with the device lock held, from whichever
 * thread touched the model (a vCPU, the event loop, the host): it may arm a
 * timerfd but must not call back into the model.
 */
typedef void (*vmm_rtc_timer_fn)(void *opaque, uint64_t deadline_ns);

struct vmm_rtc {
    /* First, as for every device; dev.lock guards everything below. */
    struct vmm_device dev;

    struct vmm_irq *irq;
    struct vmm_rtc_clock clock;
    vmm_rtc_timer_fn timer_cb;
    void *timer_opaque;
    uint64_t deadline_ns; /* last value handed to timer_cb */

    uint8_t index; /* last byte written to port 0x70 */
    uint8_t
        cmos[VMM_RTC_CMOS_SIZE]; /* NVRAM, alarms, A (without UIP), B, C; time bytes under SET */
    int64_t delta_ns;            /* RTC time = monotonic + delta_ns while the divider runs */
    int64_t frozen_ns;           /* RTC time while it does not */
    bool running;                /* divider 010 */
    int64_t accounted_ns;        /* monotonic time up to which flags are worked out */
    int irq_level;
};

/*
 * Power-on state: the time from the host clock (UTC, or the host's local
 * time when utc is false), register A = 0x26 (32.768 kHz, 1024 Hz), B = 24 h
 * BCD, D.VRT set, base memory 640 KiB, everything else zero. irq may be NULL,
 * clock may be NULL (host clocks).
 */
void vmm_rtc_init(struct vmm_rtc *rtc, struct vmm_irq *irq, const struct vmm_rtc_clock *clock,
                  bool utc);
void vmm_rtc_fini(struct vmm_rtc *rtc);
void vmm_rtc_set_timer_cb(struct vmm_rtc *rtc, vmm_rtc_timer_fn fn, void *opaque);

/*
 * A machine reset: the RESET pin clears PIE, AIE, UIE, SQWE and every flag of
 * register C (lowering IRQ 8). Time and NVRAM are battery-backed and stay.
 */
void vmm_rtc_reset(struct vmm_rtc *rtc);

/* Offsets 0 (index) and 1 (data) from port 0x70; other bytes read 0xff, writes dropped. */
extern const struct vmm_io_ops vmm_rtc_ops;

/* The event-loop side of the timer. */
uint64_t vmm_rtc_next_deadline_ns(struct vmm_rtc *rtc);
void vmm_rtc_timer_fire(struct vmm_rtc *rtc);

/*
 * Board configuration, before the guest runs (any thread, takes the lock).
 * They keep the standard checksum at 0x2e/0x2f over 0x10..0x2d up to date.
 */
/* ram_size in bytes; the part above VMM_PCI_HOLE_START is relocated above 4 GiB. */
void vmm_rtc_set_memory(struct vmm_rtc *rtc, uint64_t ram_size);
/* -EINVAL unless 1 <= ncpus <= 256. */
VMM_WUR int vmm_rtc_set_cpus(struct vmm_rtc *rtc, unsigned ncpus);
/* Up to three devices, first choice first, no repeats; -EINVAL otherwise. */
VMM_WUR int vmm_rtc_set_boot_order(struct vmm_rtc *rtc, const enum vmm_rtc_boot_dev *order,
                                   unsigned n);
/* NVRAM bytes 0x0e..0x7f; -EINVAL for a clock register or an index past 0x7f. */
VMM_WUR int vmm_rtc_nvram_write(struct vmm_rtc *rtc, unsigned index, uint8_t val);
VMM_WUR int vmm_rtc_nvram_read(struct vmm_rtc *rtc, unsigned index);

/*
 * Snapshot support, with the device lock held. The clock is saved as an
 * offset from the host's wall clock, so a restored RTC keeps real time
 * across the gap, as a battery-backed clock does; a stopped divider keeps
 * frozen_ns. state_loaded re-derives everything else from the loaded CMOS.
 */
int64_t vmm_rtc_wall_offset_ns(struct vmm_rtc *rtc);
void vmm_rtc_state_loaded(struct vmm_rtc *rtc, int64_t wall_offset_ns);

#endif
