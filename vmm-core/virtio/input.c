/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-input: a keyboard and an absolute tablet as evdev event sources. */
#include "virtio/input.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm.h"

#define EVENTQ 0
#define STATUSQ 1
#define BUS_VIRTUAL 0x06
#define CFG_U 8 /* offset of the union */
#define TABLET_BUTTONS 5

static struct vmm_virtio_input *to_in(struct vmm_virtio_dev *vdev)
{
    return (struct vmm_virtio_input *)((char *)vdev - offsetof(struct vmm_virtio_input, vdev));
}

static uint64_t in_features(struct vmm_virtio_dev *vdev)
{
    (void)vdev;
    return 0;
}

static void set_bit(uint8_t *map, unsigned bit)
{
    map[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* The selected configuration item into u; returns its size (0: none). */
static unsigned cfg_item(const struct vmm_virtio_input *in, uint8_t *u)
{
    bool kbd = in->kind == VMM_VIRTIO_INPUT_KEYBOARD;
    unsigned size = 0;
    switch (in->select) {
    case VIRTIO_INPUT_CFG_ID_NAME: {
        const char *name = kbd ? "Terrarium Virtio Keyboard" : "Terrarium Virtio Tablet";
        size = (unsigned)strlen(name);
        memcpy(u, name, size);
        break;
    }
    case VIRTIO_INPUT_CFG_ID_SERIAL:
        memcpy(u, kbd ? "kbd0" : "tablet0", kbd ? 4 : 7);
        size = kbd ? 4 : 7;
        break;
    case VIRTIO_INPUT_CFG_ID_DEVIDS: {
        uint16_t ids[4] = {BUS_VIRTUAL, 0x1af4, kbd ? 1 : 2, 1};
        memcpy(u, ids, sizeof(ids));
        size = sizeof(ids);
        break;
    }
    case VIRTIO_INPUT_CFG_EV_BITS:
        if (in->subsel == VMM_EV_KEY) {
            if (kbd) {
                for (unsigned k = 1; k < 256; k++)
                    set_bit(u, k);
                size = 32;
            } else {
                for (unsigned b = 0; b < TABLET_BUTTONS; b++)
                    set_bit(u, VMM_BTN_LEFT + b);
                size = (VMM_BTN_LEFT + TABLET_BUTTONS - 1) / 8 + 1;
            }
        } else if (in->subsel == VMM_EV_REP && kbd) {
            u[0] = 1;
            size = 1;
        } else if (in->subsel == VMM_EV_REL && !kbd) {
            set_bit(u, VMM_REL_WHEEL);
            size = 2;
        } else if (in->subsel == VMM_EV_ABS && !kbd) {
            set_bit(u, VMM_ABS_X);
            set_bit(u, VMM_ABS_Y);
            size = 1;
        }
        break;
    case VIRTIO_INPUT_CFG_ABS_INFO:
        if (!kbd && (in->subsel == VMM_ABS_X || in->subsel == VMM_ABS_Y)) {
            uint32_t info[5] = {0, VMM_ABS_MAX, 0, 0, 0}; /* min, max, fuzz, flat, res */
            memcpy(u, info, sizeof(info));
            size = sizeof(info);
        }
        break;
    default:
        break; /* UNSET, PROP_BITS (none), unknown: size 0 */
    }
    return size;
}

static void in_config_read(struct vmm_virtio_dev *vdev, unsigned off, void *buf, unsigned len)
{
    struct vmm_virtio_input *in = to_in(vdev);
    uint8_t cfg[VIRTIO_INPUT_CFG_SIZE] = {0};
    cfg[0] = in->select;
    cfg[1] = in->subsel;
    cfg[2] = (uint8_t)cfg_item(in, cfg + CFG_U);
    if (off < sizeof(cfg) && len <= sizeof(cfg) - off)
        memcpy(buf, cfg + off, len);
}

static void in_config_write(struct vmm_virtio_dev *vdev, unsigned off, const void *buf,
                            unsigned len)
{
    struct vmm_virtio_input *in = to_in(vdev);
    const uint8_t *b = buf;
    for (unsigned i = 0; i < len; i++) {
        if (off + i == 0)
            in->select = b[i];
        else if (off + i == 1)
            in->subsel = b[i];
    }
}

/* Device lock held. */
static void flush(struct vmm_virtio_input *in)
{
    struct vmm_virtqueue *vq = &in->queues[EVENTQ];
    if (!vmm_virtio_dev_live(&in->vdev) || !vmm_virtq_ready(vq) || !in->count)
        return;
    bool pushed = false;
    vmm_virtq_begin(vq);
    while (in->count && vmm_virtq_pop(vq, in->elem) == 1) {
        const struct vmm_virtio_input_event *ev = &in->pending[in->head];
        uint8_t raw[8];
        memcpy(raw, &ev->type, 2);
        memcpy(raw + 2, &ev->code, 2);
        memcpy(raw + 4, &ev->value, 4);
        size_t n = vmm_virtq_write(in->elem, 0, raw, sizeof(raw));
        vmm_virtq_push(vq, in->elem, n);
        pushed = true;
        in->head = (in->head + 1) % VMM_VIRTIO_INPUT_PENDING;
        in->count--;
    }
    if (pushed)
        vmm_virtio_queue_done(&in->vdev, EVENTQ);
}

static bool in_queue_notify(struct vmm_virtio_dev *vdev, unsigned q)
{
    struct vmm_virtio_input *in = to_in(vdev);
    if (q == EVENTQ) {
        flush(in);
        return in->count && in->queues[EVENTQ].budget_hit;
    }
    /* Status (LEDs): consumed, not acted on. */
    struct vmm_virtqueue *vq = &in->queues[STATUSQ];
    bool pushed = false;
    vmm_virtq_begin(vq);
    while (vmm_virtq_pop(vq, in->elem) == 1) {
        vmm_virtq_push(vq, in->elem, 0);
        pushed = true;
    }
    if (pushed)
        vmm_virtio_queue_done(vdev, STATUSQ);
    return vq->budget_hit;
}

static void in_reset(struct vmm_virtio_dev *vdev)
{
    struct vmm_virtio_input *in = to_in(vdev);
    in->head = in->count = 0;
    in->select = in->subsel = 0;
    in->buttons = 0;
}

static const struct vmm_virtio_dev_ops in_ops = {
    .features = in_features,
    .config_read = in_config_read,
    .config_write = in_config_write,
    .queue_notify = in_queue_notify,
    .reset = in_reset,
};

static void send_locked(struct vmm_virtio_input *in, const struct vmm_virtio_input_event *ev,
                        unsigned n)
{
    if (!vmm_virtio_dev_live(&in->vdev))
        return; /* nobody listens: nothing to keep */
    if (n + 1 > VMM_VIRTIO_INPUT_PENDING - in->count) {
        in->dropped++;
        return;
    }
    for (unsigned i = 0; i <= n; i++) {
        struct vmm_virtio_input_event syn = {VMM_EV_SYN, VMM_SYN_REPORT, 0};
        in->pending[(in->head + in->count++) % VMM_VIRTIO_INPUT_PENDING] = i < n ? ev[i] : syn;
    }
    flush(in);
}

void vmm_virtio_input_send(struct vmm_virtio_input *in, const struct vmm_virtio_input_event *ev,
                           unsigned n)
{
    pthread_mutex_lock(in->vdev.lock);
    send_locked(in, ev, n);
    pthread_mutex_unlock(in->vdev.lock);
}

void vmm_virtio_input_tablet(struct vmm_virtio_input *in, uint32_t x, uint32_t y, int dwheel,
                             unsigned buttons)
{
    struct vmm_virtio_input_event ev[2 + TABLET_BUTTONS + 1];
    unsigned n = 0;
    if (x > VMM_ABS_MAX)
        x = VMM_ABS_MAX;
    if (y > VMM_ABS_MAX)
        y = VMM_ABS_MAX;
    ev[n++] = (struct vmm_virtio_input_event){VMM_EV_ABS, VMM_ABS_X, x};
    ev[n++] = (struct vmm_virtio_input_event){VMM_EV_ABS, VMM_ABS_Y, y};
    pthread_mutex_lock(in->vdev.lock);
    for (unsigned b = 0; b < TABLET_BUTTONS; b++) {
        unsigned bit = 1u << b;
        if ((buttons ^ in->buttons) & bit)
            ev[n++] = (struct vmm_virtio_input_event){VMM_EV_KEY, (uint16_t)(VMM_BTN_LEFT + b),
                                                      (buttons & bit) ? 1u : 0u};
    }
    if (dwheel)
        ev[n++] = (struct vmm_virtio_input_event){VMM_EV_REL, VMM_REL_WHEEL, (uint32_t)dwheel};
    in->buttons = buttons & ((1u << TABLET_BUTTONS) - 1);
    send_locked(in, ev, n);
    pthread_mutex_unlock(in->vdev.lock);
}

bool vmm_virtio_input_active(struct vmm_virtio_input *in)
{
    pthread_mutex_lock(in->vdev.lock);
    bool a = vmm_virtio_dev_live(&in->vdev) && vmm_virtq_ready(&in->queues[EVENTQ]);
    pthread_mutex_unlock(in->vdev.lock);
    return a;
}

int vmm_virtio_input_init(struct vmm_virtio_input *in, enum vmm_virtio_input_kind kind,
                          pthread_mutex_t *lock, const struct vmm_guest_mem *mem)
{
    memset(in, 0, sizeof(*in));
    in->elem = malloc(sizeof(*in->elem));
    if (!in->elem)
        return -ENOMEM;
    in->kind = kind;
    vmm_virtio_dev_init(&in->vdev, &in_ops, VIRTIO_ID_INPUT, lock, mem, in->queues, 2,
                        VMM_VIRTIO_INPUT_QUEUE_SIZE, VIRTIO_INPUT_CFG_SIZE);
    return 0;
}

void vmm_virtio_input_fini(struct vmm_virtio_input *in)
{
    free(in->elem);
    in->elem = NULL;
}
