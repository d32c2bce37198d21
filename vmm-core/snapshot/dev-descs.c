/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Declarative state of the device models that need no VM (serial, RTC,
 * i8042, fw_cfg): kept apart from dev-state.c so that unit tests and the
 * state-loader fuzzer link them with the models alone.
 */
#include <errno.h>
#include <string.h>

#include "hw/fw-cfg.h"
#include "hw/i8042.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "snapshot/snapshot.h"

/* ---- 16550A ---- */

static int serial_post_load(void *obj, void *state, uint32_t version)
{
    struct vmm_serial *s = obj;
    (void)state;
    (void)version;
    vmm_serial_state_loaded(s);
    return 0;
}

/*
 * The TX FIFO is not saved: with every vCPU parked it has been handed to the
 * output callback already (it only holds bytes while another thread is inside
 * that callback).
 */
#define S struct vmm_serial
static const struct vmm_state_field serial_fields[] = {
    VMM_STATE_UINT_MAX(S, ier, 1, UART_IER_MASK),
    VMM_STATE_U8(S, lcr),
    VMM_STATE_UINT_MAX(S, mcr, 1, UART_MCR_MASK),
    VMM_STATE_U8(S, scr),
    VMM_STATE_U8(S, dll),
    VMM_STATE_U8(S, dlm),
    VMM_STATE_U8(S, fcr),
    VMM_STATE_UINT_MAX(S, lsr_errors, 1, UART_LSR_ERRORS),
    VMM_STATE_UINT_MAX(S, msr_deltas, 1, UART_MSR_DELTAS),
    VMM_STATE_U8(S, rbr_last),
    VMM_STATE_BOOL(S, thre_pending),
    VMM_STATE_BYTES(S, rx_fifo),
    VMM_STATE_UINT_MAX(S, rx_head, 4, VMM_SERIAL_FIFO_SIZE - 1),
    VMM_STATE_UINT_MAX(S, rx_count, 4, VMM_SERIAL_FIFO_SIZE),
};
#undef S

const struct vmm_state_desc vmm_serial_state_desc = {
    .name = "serial",
    .version = 1,
    .min_version = 1,
    .fields = serial_fields,
    .nfields = VMM_STATE_NFIELDS(serial_fields),
    .post_load = serial_post_load,
};

/* ---- CMOS RTC ---- */

#define RTC_MAX_TIME_NS (1LL << 62)
#define RTC_MAX_OFFSET_NS (1LL << 61)

struct rtc_state {
    uint8_t index;
    uint8_t cmos[VMM_RTC_CMOS_SIZE];
    uint64_t frozen_ns;      /* the time while the divider is stopped */
    uint64_t wall_offset_ns; /* RTC time - host wall clock, two's complement */
};

static void rtc_pre_save(void *obj, void *state)
{
    struct vmm_rtc *rtc = obj;
    struct rtc_state *s = state;
    s->wall_offset_ns = (uint64_t)vmm_rtc_wall_offset_ns(rtc);
    s->index = rtc->index;
    memcpy(s->cmos, rtc->cmos, sizeof(s->cmos));
    s->frozen_ns = (uint64_t)rtc->frozen_ns;
}

static int rtc_post_load(void *obj, void *state, uint32_t version)
{
    struct vmm_rtc *rtc = obj;
    struct rtc_state *s = state;
    (void)version;
    /* Keep every later sum of times far from overflowing: +-73 years of offset. */
    int64_t off = (int64_t)s->wall_offset_ns;
    if (off > RTC_MAX_OFFSET_NS || off < -RTC_MAX_OFFSET_NS)
        return -EINVAL;
    rtc->index = s->index;
    memcpy(rtc->cmos, s->cmos, sizeof(rtc->cmos));
    rtc->frozen_ns = (int64_t)s->frozen_ns;
    vmm_rtc_state_loaded(rtc, (int64_t)s->wall_offset_ns);
    return 0;
}

static const struct vmm_state_field rtc_fields[] = {
    VMM_STATE_U8(struct rtc_state, index),
    VMM_STATE_BYTES(struct rtc_state, cmos),
    VMM_STATE_UINT_MAX(struct rtc_state, frozen_ns, 8, RTC_MAX_TIME_NS),
    VMM_STATE_U64(struct rtc_state, wall_offset_ns),
};

const struct vmm_state_desc vmm_rtc_state_desc = {
    .name = "rtc",
    .version = 1,
    .min_version = 1,
    .fields = rtc_fields,
    .nfields = VMM_STATE_NFIELDS(rtc_fields),
    .state_size = sizeof(struct rtc_state),
    .pre_save = rtc_pre_save,
    .post_load = rtc_post_load,
};

/* ---- i8042 with its keyboard and mouse ---- */

static int i8042_post_load(void *obj, void *state, uint32_t version)
{
    struct vmm_i8042 *c = obj;
    (void)state;
    (void)version;
    if (c->kbd.q.count > VMM_PS2_QUEUE_SIZE || c->mouse.q.count > VMM_PS2_QUEUE_SIZE ||
        c->mouse.last_len > sizeof(c->mouse.last))
        return -EINVAL;
    if (c->kbd.set < 1 || c->kbd.set > 3)
        return -EINVAL;
    vmm_i8042_state_loaded(c);
    return 0;
}

#define C struct vmm_i8042
#define QMAX(f) VMM_STATE_UINT_MAX(C, f, 4, VMM_PS2_QUEUE_SIZE - 1)
#define QCNT(f) VMM_STATE_UINT_MAX(C, f, 4, VMM_PS2_QUEUE_SIZE)
static const struct vmm_state_field i8042_fields[] = {
    VMM_STATE_U8(C, ctr),
    VMM_STATE_BYTES(C, ram),
    VMM_STATE_U8(C, outport),
    VMM_STATE_U8(C, await),
    VMM_STATE_BOOL(C, last_was_cmd),
    VMM_STATE_BOOL(C, obf),
    VMM_STATE_U8(C, obf_val),
    VMM_STATE_BOOL(C, obf_aux),
    VMM_STATE_BOOL(C, obf_device),
    VMM_STATE_BOOL(C, stash),
    VMM_STATE_U8(C, stash_val),
    VMM_STATE_BOOL(C, stash_aux),
    VMM_STATE_U8(C, last_read),
    VMM_STATE_BOOL(C, xlate.f0),
    VMM_STATE_BYTES(C, kbd.q.data),
    QMAX(kbd.q.head),
    QCNT(kbd.q.count),
    VMM_STATE_UINT_MAX(C, kbd.set, 1, 3),
    VMM_STATE_BOOL(C, kbd.scanning),
    VMM_STATE_BOOL(C, kbd.overrun),
    VMM_STATE_UINT_MAX(C, kbd.leds, 1, 7),
    VMM_STATE_U8(C, kbd.typematic),
    VMM_STATE_U8(C, kbd.set3_mode),
    VMM_STATE_U8(C, kbd.await),
    VMM_STATE_U8(C, kbd.last),
    VMM_STATE_BYTES(C, kbd.down),
    VMM_STATE_BYTES(C, mouse.q.data),
    QMAX(mouse.q.head),
    QCNT(mouse.q.count),
    VMM_STATE_BOOL(C, mouse.reporting),
    VMM_STATE_BOOL(C, mouse.remote),
    VMM_STATE_BOOL(C, mouse.wrap),
    VMM_STATE_BOOL(C, mouse.scale21),
    VMM_STATE_UINT_MAX(C, mouse.resolution, 1, 3),
    VMM_STATE_U8(C, mouse.rate),
    VMM_STATE_UINT_MAX(C, mouse.id, 1, 4),
    VMM_STATE_BYTES(C, mouse.rates),
    VMM_STATE_U8(C, mouse.await),
    VMM_STATE_U8(C, mouse.nacks),
    VMM_STATE_UINT_MAX(C, mouse.reported, 1, 0x1f),
    VMM_STATE_UINT_MAX(C, mouse.dx, 4, UINT32_MAX),
    VMM_STATE_UINT_MAX(C, mouse.dy, 4, UINT32_MAX),
    VMM_STATE_UINT_MAX(C, mouse.dz, 4, UINT32_MAX),
    VMM_STATE_BOOL(C, mouse.x_over),
    VMM_STATE_BOOL(C, mouse.y_over),
    VMM_STATE_BYTES(C, mouse.last),
    VMM_STATE_UINT_MAX(C, mouse.last_len, 4, 4),
};
#undef QMAX
#undef QCNT
#undef C

const struct vmm_state_desc vmm_i8042_state_desc = {
    .name = "i8042",
    .version = 1,
    .min_version = 1,
    .fields = i8042_fields,
    .nfields = VMM_STATE_NFIELDS(i8042_fields),
    .post_load = i8042_post_load,
};

/* ---- fw_cfg: which item the guest is reading, and where ---- */

static int fw_cfg_post_load(void *obj, void *state, uint32_t version)
{
    struct vmm_fw_cfg *fw = obj;
    (void)state;
    (void)version;
    /* The data port reads nothing past an item's end; keep the offset honest anyway. */
    unsigned idx = fw->selector & FW_CFG_ENTRY_MASK;
    const struct vmm_fw_cfg_item *it = NULL;
    if (fw->selector & FW_CFG_ARCH_LOCAL)
        it = idx < VMM_FW_CFG_FIXED_KEYS ? &fw->arch[idx] : NULL;
    else if (idx < VMM_FW_CFG_FIXED_KEYS)
        it = &fw->generic[idx];
    else if (idx - FW_CFG_FILE_FIRST < fw->nfiles)
        it = &fw->files[idx - FW_CFG_FILE_FIRST];
    uint32_t len = it && it->data ? it->len : 0;
    if (fw->offset > len)
        fw->offset = len;
    return 0;
}

static const struct vmm_state_field fw_cfg_fields[] = {
    VMM_STATE_U16(struct vmm_fw_cfg, selector),
    VMM_STATE_U32(struct vmm_fw_cfg, offset),
    VMM_STATE_U32(struct vmm_fw_cfg, dma_high),
};

const struct vmm_state_desc vmm_fw_cfg_state_desc = {
    .name = "fw-cfg",
    .version = 1,
    .min_version = 1,
    .fields = fw_cfg_fields,
    .nfields = VMM_STATE_NFIELDS(fw_cfg_fields),
    .post_load = fw_cfg_post_load,
};
