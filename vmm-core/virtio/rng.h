/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_RNG_H
#define VMM_VIRTIO_RNG_H

/*
 * virtio-rng (device type 4): one request queue; every device-writable
 * buffer the driver offers is filled from getrandom(2), at most
 * VMM_VIRTIO_RNG_MAX_REQUEST bytes a request (the used length says how
 * many). No features, no configuration space.
 */

#include "virtio/virtio.h"

#define VMM_VIRTIO_RNG_QUEUE_SIZE 64
#define VMM_VIRTIO_RNG_MAX_REQUEST 65536
#define VMM_VIRTIO_RNG_PCI_CLASS 0xff0000 /* "unassigned class", as QEMU */

struct vmm_virtio_rng {
    struct vmm_virtio_dev vdev;
    struct vmm_virtqueue queue;
    struct vmm_virtq_elem *elem;
};

VMM_WUR int vmm_virtio_rng_init(struct vmm_virtio_rng *rng, pthread_mutex_t *lock,
                                const struct vmm_guest_mem *mem);
void vmm_virtio_rng_fini(struct vmm_virtio_rng *rng);

#endif
