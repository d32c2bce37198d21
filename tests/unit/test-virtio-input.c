/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-input: the configuration window describes a keyboard and a tablet
 * the way the Linux driver reads them; events wait for buffers and come out
 * as (type, code, value) with a SYN_REPORT after each report; the tablet
 * reports axes, button changes and the wheel; nothing is kept before the
 * driver is up; a full ring drops whole reports.
 */
#include "fake-guest-mem.h"
#include "fake-virtq.h"
#include "test.h"
#include "virtio/input.h"

#define RING 0x10000ULL
#define BUF 0x100000ULL

static struct vmm_guest_mem mem;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned cfg_select(struct vmm_virtio_input *in, uint8_t sel, uint8_t sub, uint8_t *u)
{
    in->vdev.ops->config_write(&in->vdev, 0, &sel, 1);
    in->vdev.ops->config_write(&in->vdev, 1, &sub, 1);
    uint8_t size = 0;
    in->vdev.ops->config_read(&in->vdev, 2, &size, 1);
    in->vdev.ops->config_read(&in->vdev, 8, u, 128);
    return size;
}

static bool bit(const uint8_t *map, unsigned b)
{
    return map[b / 8] >> (b % 8) & 1;
}

static void test_config(void)
{
    struct vmm_virtio_input kbd, tab;
    uint8_t u[128];
    CHECK_EQ(vmm_virtio_input_init(&kbd, VMM_VIRTIO_INPUT_KEYBOARD, &lock, &mem), 0);
    CHECK_EQ(vmm_virtio_input_init(&tab, VMM_VIRTIO_INPUT_TABLET, &lock, &mem), 0);
    unsigned n = cfg_select(&kbd, VIRTIO_INPUT_CFG_ID_NAME, 0, u);
    CHECK_EQ(n, strlen("Terrarium Virtio Keyboard"));
    CHECK(memcmp(u, "Terrarium Virtio Keyboard", n) == 0);
    n = cfg_select(&kbd, VIRTIO_INPUT_CFG_EV_BITS, VMM_EV_KEY, u);
    CHECK(n >= 4);
    CHECK(bit(u, 30)); /* KEY_A */
    CHECK(!bit(u, 0));
    CHECK(cfg_select(&kbd, VIRTIO_INPUT_CFG_EV_BITS, VMM_EV_REP, u) > 0);
    CHECK_EQ(cfg_select(&kbd, VIRTIO_INPUT_CFG_EV_BITS, VMM_EV_ABS, u), 0);

    n = cfg_select(&tab, VIRTIO_INPUT_CFG_ID_NAME, 0, u);
    CHECK(memcmp(u, "Terrarium Virtio Tablet", n) == 0);
    n = cfg_select(&tab, VIRTIO_INPUT_CFG_EV_BITS, VMM_EV_ABS, u);
    CHECK(n >= 1 && bit(u, VMM_ABS_X) && bit(u, VMM_ABS_Y));
    n = cfg_select(&tab, VIRTIO_INPUT_CFG_EV_BITS, VMM_EV_KEY, u);
    CHECK(n > VMM_BTN_LEFT / 8 && bit(u, VMM_BTN_LEFT) && bit(u, VMM_BTN_LEFT + 4));
    CHECK(!bit(u, 30));
    n = cfg_select(&tab, VIRTIO_INPUT_CFG_ABS_INFO, VMM_ABS_Y, u);
    CHECK_EQ(n, 20);
    uint32_t max;
    memcpy(&max, u + 4, 4);
    CHECK_EQ(max, VMM_ABS_MAX);
    CHECK_EQ(cfg_select(&tab, VIRTIO_INPUT_CFG_ABS_INFO, 5, u), 0);
    CHECK_EQ(cfg_select(&tab, 0x77, 0, u), 0); /* unknown select: size 0 */
    n = cfg_select(&tab, VIRTIO_INPUT_CFG_ID_DEVIDS, 0, u);
    CHECK_EQ(n, 8);
    CHECK_EQ(u[0], 0x06); /* BUS_VIRTUAL */
    vmm_virtio_input_fini(&kbd);
    vmm_virtio_input_fini(&tab);
}

static void start(struct vmm_virtio_input *in, enum vmm_virtio_input_kind kind, struct fake_vq *f)
{
    CHECK_EQ(vmm_virtio_input_init(in, kind, &lock, &mem), 0);
    in->vdev.driver_features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
    in->vdev.status = VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
    fvq_init(f, &mem, RING, 16);
    in->queues[0].size = 16;
    in->queues[0].desc_gpa = f->desc;
    in->queues[0].avail_gpa = f->avail;
    in->queues[0].used_gpa = f->used;
    vmm_virtio_dev_enable_queue(&in->vdev, 0);
}

static void post(struct fake_vq *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        fvq_desc(f, i, BUF + 8 * i, 8, VIRTQ_DESC_F_WRITE, 0);
        fvq_publish(f, (uint16_t)i);
    }
}

static void event_at(unsigned i, uint16_t *type, uint16_t *code, uint32_t *value)
{
    const uint8_t *p = gp(&mem, BUF + 8 * i, 8);
    memcpy(type, p, 2);
    memcpy(code, p + 2, 2);
    memcpy(value, p + 4, 4);
}

static void test_keyboard(void)
{
    struct vmm_virtio_input in;
    struct fake_vq f;
    start(&in, VMM_VIRTIO_INPUT_KEYBOARD, &f);
    CHECK(vmm_virtio_input_active(&in));
    struct vmm_virtio_input_event ev = {VMM_EV_KEY, 30, 1};
    vmm_virtio_input_send(&in, &ev, 1); /* waits: no buffers */
    CHECK_EQ(in.count, 2);
    post(&f, 2);
    vmm_virtio_dev_notify(&in.vdev, 0);
    CHECK_EQ(fvq_used_idx(&f), 2);
    uint16_t t, c;
    uint32_t v;
    event_at(0, &t, &c, &v);
    CHECK(t == VMM_EV_KEY && c == 30 && v == 1);
    event_at(1, &t, &c, &v);
    CHECK(t == VMM_EV_SYN && c == VMM_SYN_REPORT && v == 0);

    /* A full ring drops the whole new report. */
    for (unsigned i = 0; i < VMM_VIRTIO_INPUT_PENDING / 2; i++)
        vmm_virtio_input_send(&in, &ev, 1);
    CHECK_EQ(in.count, VMM_VIRTIO_INPUT_PENDING);
    vmm_virtio_input_send(&in, &ev, 1);
    CHECK_EQ(in.dropped, 1);
    CHECK_EQ(in.count, VMM_VIRTIO_INPUT_PENDING);

    /* After a reset (driver gone) nothing is active and nothing is kept. */
    vmm_virtio_dev_reset(&in.vdev);
    CHECK(!vmm_virtio_input_active(&in));
    CHECK_EQ(in.count, 0);
    vmm_virtio_input_send(&in, &ev, 1);
    CHECK_EQ(in.count, 0);
    vmm_virtio_input_fini(&in);
}

static void test_tablet(void)
{
    struct vmm_virtio_input in;
    struct fake_vq f;
    start(&in, VMM_VIRTIO_INPUT_TABLET, &f);
    post(&f, 16);
    /* Position, left button down, wheel up one: X, Y, BTN_LEFT=1, REL_WHEEL=1, SYN. */
    vmm_virtio_input_tablet(&in, 100, 0x9000, 1, VMM_BUTTON_LEFT);
    CHECK_EQ(fvq_used_idx(&f), 5);
    uint16_t t, c;
    uint32_t v;
    event_at(0, &t, &c, &v);
    CHECK(t == VMM_EV_ABS && c == VMM_ABS_X && v == 100);
    event_at(1, &t, &c, &v);
    CHECK(t == VMM_EV_ABS && c == VMM_ABS_Y && v == VMM_ABS_MAX); /* clamped */
    event_at(2, &t, &c, &v);
    CHECK(t == VMM_EV_KEY && c == VMM_BTN_LEFT && v == 1);
    event_at(3, &t, &c, &v);
    CHECK(t == VMM_EV_REL && c == VMM_REL_WHEEL && v == 1);
    event_at(4, &t, &c, &v);
    CHECK(t == VMM_EV_SYN);
    /* Same buttons again: only the axes (no repeated button event). */
    vmm_virtio_input_tablet(&in, 200, 300, 0, VMM_BUTTON_LEFT);
    CHECK_EQ(fvq_used_idx(&f), 8);
    /* Release: a BTN_LEFT=0. */
    vmm_virtio_input_tablet(&in, 200, 300, 0, 0);
    CHECK_EQ(fvq_used_idx(&f), 12);
    event_at(10, &t, &c, &v);
    CHECK(t == VMM_EV_KEY && c == VMM_BTN_LEFT && v == 0);
    vmm_virtio_input_fini(&in);
}

int main(void)
{
    mem = fake_mem_new(16 * MIB, 0);
    RUN_TEST(test_config);
    RUN_TEST(test_keyboard);
    RUN_TEST(test_tablet);
    fake_mem_free(&mem);
    return test_finish();
}
