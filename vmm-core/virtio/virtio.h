/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_VIRTIO_H
#define VMM_VIRTIO_VIRTIO_H

/*
 * A virtio device independent of its transport (virtio 1.x, "Basic
 * Facilities of a Virtio Device"). A device type (blk, rng, ...) embeds
 * struct vmm_virtio_dev and implements const vmm_virtio_dev_ops; a
 * transport (virtio-pci.c) owns the status/feature/queue registers and
 * calls into the ops. Devices report back through vmm_virtio_queue_done()
 * (used buffers, may interrupt) and vmm_virtio_config_changed().
 *
 * Locking: every op is called with the owner's lock (vdev->lock) held; the
 * helpers below expect it held too.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/guest-mem.h"
#include "virtio/queue.h"
#include "vmm/vmm.h"

/* Device status (driver-written, except NEEDS_RESET). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Transport-level feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_BIT(n) (1ULL << (n))

/* Device types. */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_INPUT 18

#define VIRTIO_MSI_NO_VECTOR 0xffff
#define VMM_VIRTIO_MAX_QUEUES 64
/* vmm_virtio_dev_interrupt() argument for a configuration change. */
#define VMM_VIRTIO_CONFIG_IRQ 0xffffu

struct vmm_virtio_dev;

struct vmm_virtio_dev_ops {
    /* Device-specific feature bits offered (the transport adds VERSION_1, INDIRECT, EVENT_IDX). */
    uint64_t (*features)(struct vmm_virtio_dev *vdev);
    /* Optional: refuse a feature set the driver accepted (FEATURES_OK then stays clear). */
    bool (*features_ok)(struct vmm_virtio_dev *vdev, uint64_t features);
    /* Device configuration space, [off, off + len) within config_len. */
    void (*config_read)(struct vmm_virtio_dev *vdev, unsigned off, void *buf, unsigned len);
    void (*config_write)(struct vmm_virtio_dev *vdev, unsigned off, const void *buf,
                         unsigned len); /* optional */
    /*
     * The driver notified queue q (which is enabled, not broken, DRIVER_OK
     * set). Process with vmm_virtq_begin/pop/push and finish with
     * vmm_virtio_queue_done(). Return true if the budget ran out with work
     * left (the transport then asks the board to notify again later).
     */
    bool (*queue_notify)(struct vmm_virtio_dev *vdev, unsigned q);
    /* Device reset (status 0 or PCI reset): queues are reset by the transport already. */
    void (*reset)(struct vmm_virtio_dev *vdev);
};

/* What a transport provides to the device core. */
struct vmm_virtio_transport_ops {
    /* Raise the interrupt for queue q, or VMM_VIRTIO_CONFIG_IRQ for a config change. */
    void (*interrupt)(void *transport, unsigned q);
};

struct vmm_virtio_dev {
    const struct vmm_virtio_dev_ops *ops;
    uint16_t device_id; /* VIRTIO_ID_* */
    pthread_mutex_t *lock;
    const struct vmm_guest_mem *mem;

    unsigned num_queues;
    struct vmm_virtqueue *queues; /* num_queues entries, owned by the device type */
    unsigned config_len;          /* bytes of device configuration space */

    /* Transport state (guest-visible). */
    uint8_t status;
    uint8_t config_generation;
    uint64_t driver_features;

    const struct vmm_virtio_transport_ops *transport_ops;
    void *transport;
};

/*
 * Fills the common part: ops, ID, lock, guest RAM, queues (each initialised
 * with vmm_virtq_init() to max_size, error hook = NEEDS_RESET).
 */
void vmm_virtio_dev_init(struct vmm_virtio_dev *vdev, const struct vmm_virtio_dev_ops *ops,
                         uint16_t device_id, pthread_mutex_t *lock, const struct vmm_guest_mem *mem,
                         struct vmm_virtqueue *queues, unsigned num_queues, uint16_t queue_max_size,
                         unsigned config_len);

/* Every feature offered to the driver: the device's plus the transport's. */
uint64_t vmm_virtio_dev_features(struct vmm_virtio_dev *vdev);
/* Whether a feature was negotiated. */
static inline bool vmm_virtio_has_feature(const struct vmm_virtio_dev *vdev, unsigned bit)
{
    return vdev->driver_features & VIRTIO_BIT(bit);
}

/*
 * The driver set FEATURES_OK with driver_features: true if accepted
 * (a subset of what was offered, VERSION_1 included, device agrees).
 */
bool vmm_virtio_dev_check_features(struct vmm_virtio_dev *vdev);

/* Status write 0 / PCI reset: status, features and every queue back to power-on; ops->reset. */
void vmm_virtio_dev_reset(struct vmm_virtio_dev *vdev);

/*
 * The driver wrote queue_enable = 1 for q: copies the negotiated ring
 * features into the queue and enables it (NEEDS_RESET on bad rings).
 */
void vmm_virtio_dev_enable_queue(struct vmm_virtio_dev *vdev, unsigned q);

/* DRIVER_OK and FEATURES_OK set, neither NEEDS_RESET nor FAILED: the device may use its queues. */
bool vmm_virtio_dev_live(const struct vmm_virtio_dev *vdev);

/*
 * Runs the device for queue q if the device is live (DRIVER_OK, no
 * NEEDS_RESET, queue ready). Returns true when work is left over.
 */
bool vmm_virtio_dev_notify(struct vmm_virtio_dev *vdev, unsigned q);

/* After pushes on q: interrupts the driver if it wants one (event index / flags). */
void vmm_virtio_queue_done(struct vmm_virtio_dev *vdev, unsigned q);

/* The device configuration changed: bumps config_generation and interrupts. */
void vmm_virtio_config_changed(struct vmm_virtio_dev *vdev);

/* Puts the device in DEVICE_NEEDS_RESET (and tells the driver through a config interrupt). */
void vmm_virtio_dev_needs_reset(struct vmm_virtio_dev *vdev);

/*
 * A machine save: while frozen, no queue of the device is popped (notifies,
 * receive paths and I/O completions find nothing to take), so guest RAM and
 * the captured ring indexes stay in step. After thawing, the owner notifies
 * every queue once: kicks that came in meanwhile were not lost, only held.
 */
void vmm_virtio_dev_freeze(struct vmm_virtio_dev *vdev, bool frozen);

#endif
