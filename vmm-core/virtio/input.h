/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_INPUT_H
#define VMM_VIRTIO_INPUT_H

/*
 * virtio-input (device type 18): evdev events to the guest. Two flavours:
 * a keyboard (EV_KEY for the keyboard keys, EV_REP) and an absolute tablet
 * (EV_ABS X/Y over 0..VMM_ABS_MAX, mouse buttons, a wheel). The driver
 * reads what the device is through the select/subsel configuration window
 * (name, IDs, property and event bitmaps, axis ranges), then posts 8-byte
 * buffers on the event queue (0) that the device fills with
 * (le16 type, le16 code, le32 value). The status queue (1) carries the
 * driver's LED changes, which are consumed and dropped.
 *
 * vmm_virtio_input_send() takes the device lock; events wait in a bounded
 * ring while the driver has posted no buffers; a report that does not fit
 * is dropped whole (counted), so the guest never sees half a report.
 */

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"

#define VIRTIO_INPUT_CFG_UNSET 0x00
#define VIRTIO_INPUT_CFG_ID_NAME 0x01
#define VIRTIO_INPUT_CFG_ID_SERIAL 0x02
#define VIRTIO_INPUT_CFG_ID_DEVIDS 0x03
#define VIRTIO_INPUT_CFG_PROP_BITS 0x10
#define VIRTIO_INPUT_CFG_EV_BITS 0x11
#define VIRTIO_INPUT_CFG_ABS_INFO 0x12
#define VIRTIO_INPUT_CFG_SIZE 136 /* select, subsel, size, reserved[5], u[128] */

/* evdev (linux/input-event-codes.h) values the models use. */
#define VMM_EV_SYN 0x00
#define VMM_EV_KEY 0x01
#define VMM_EV_REL 0x02
#define VMM_EV_ABS 0x03
#define VMM_EV_REP 0x14
#define VMM_SYN_REPORT 0
#define VMM_REL_WHEEL 0x08
#define VMM_ABS_X 0x00
#define VMM_ABS_Y 0x01
#define VMM_BTN_LEFT 0x110

#define VMM_VIRTIO_INPUT_QUEUE_SIZE 64
#define VMM_VIRTIO_INPUT_PENDING 256        /* events */
#define VMM_VIRTIO_INPUT_PCI_CLASS 0x090000 /* input device */

enum vmm_virtio_input_kind { VMM_VIRTIO_INPUT_KEYBOARD, VMM_VIRTIO_INPUT_TABLET };

struct vmm_virtio_input_event {
    uint16_t type, code;
    uint32_t value;
};

struct vmm_virtio_input {
    struct vmm_virtio_dev vdev;
    struct vmm_virtqueue queues[2];
    enum vmm_virtio_input_kind kind;
    uint8_t select, subsel;
    struct vmm_virtq_elem *elem;
    struct vmm_virtio_input_event pending[VMM_VIRTIO_INPUT_PENDING];
    unsigned head, count;
    uint64_t dropped;
    unsigned buttons; /* tablet: VMM_BUTTON_* currently down */
};

VMM_WUR int vmm_virtio_input_init(struct vmm_virtio_input *in, enum vmm_virtio_input_kind kind,
                                  pthread_mutex_t *lock, const struct vmm_guest_mem *mem);
void vmm_virtio_input_fini(struct vmm_virtio_input *in);

/* Whether the guest drives the device (DRIVER_OK, not broken). Takes the device lock. */
bool vmm_virtio_input_active(struct vmm_virtio_input *in);

/* Queues events (a SYN_REPORT is appended) and delivers what fits. Takes the device lock. */
void vmm_virtio_input_send(struct vmm_virtio_input *in, const struct vmm_virtio_input_event *ev,
                           unsigned n);

/* Tablet: pointer at (x, y) in 0..VMM_ABS_MAX, wheel steps, VMM_BUTTON_* held. */
void vmm_virtio_input_tablet(struct vmm_virtio_input *in, uint32_t x, uint32_t y, int dwheel,
                             unsigned buttons);

#endif
