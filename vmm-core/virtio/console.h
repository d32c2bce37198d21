/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_CONSOLE_H
#define VMM_VIRTIO_CONSOLE_H

/*
 * virtio-console (device type 3), one port (hvc0 in a Linux guest), no
 * multiport: queue 0 carries bytes to the guest, queue 1 bytes from it.
 * Output goes to the backend's out() with the device lock held (it must
 * not block for long: a terminal or a file). Input comes through
 * vmm_virtio_console_input() from any thread (it takes the device lock)
 * and waits in a bounded buffer while the guest has no receive buffers;
 * past VMM_VIRTIO_CONSOLE_INBUF bytes input is dropped (counted).
 */

#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

#define VIRTIO_CONSOLE_CFG_SIZE 12 /* cols, rows, max_nr_ports, emerg_wr */
#define VMM_VIRTIO_CONSOLE_QUEUE_SIZE 128
#define VMM_VIRTIO_CONSOLE_INBUF 65536
#define VMM_VIRTIO_CONSOLE_PCI_CLASS 0x078000 /* communication controller, other */

struct vmm_virtio_console_backend {
    void (*out)(void *opaque, const uint8_t *buf, size_t len);
    void *opaque;
};

struct vmm_virtio_console {
    struct vmm_virtio_dev vdev;
    struct vmm_virtqueue queues[2];
    uint8_t config[VIRTIO_CONSOLE_CFG_SIZE];
    struct vmm_virtio_console_backend backend;
    struct vmm_virtq_elem *elem;
    uint8_t *outbuf; /* one chain's bytes, at most VMM_VIRTIO_CONSOLE_MAX_OUT */
    uint8_t inbuf[VMM_VIRTIO_CONSOLE_INBUF];
    size_t in_head, in_len;
    uint64_t in_dropped, out_bytes;
};

#define VMM_VIRTIO_CONSOLE_MAX_OUT \
    65536 /* bytes of one transmit chain passed on; the rest dropped */

VMM_WUR int vmm_virtio_console_init(struct vmm_virtio_console *con,
                                    const struct vmm_virtio_console_backend *backend,
                                    pthread_mutex_t *lock, const struct vmm_guest_mem *mem);
void vmm_virtio_console_fini(struct vmm_virtio_console *con);

/* Bytes for the guest (a key press, a pasted line); takes the device lock. Returns bytes kept. */
size_t vmm_virtio_console_input(struct vmm_virtio_console *con, const uint8_t *buf, size_t len);

#endif
