/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Transport-independent virtio device state: features, status, queue dispatch, interrupts. */
#include "virtio/virtio.h"

#include <string.h>

/* Ring features every Terrarium virtio device offers (the engine implements them). */
#define TRANSPORT_FEATURES                                                 \
    (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | \
     VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

static void queue_error(void *opaque, struct vmm_virtqueue *vq)
{
    vmm_virtio_dev_needs_reset(opaque);
}

void vmm_virtio_dev_init(struct vmm_virtio_dev *vdev, const struct vmm_virtio_dev_ops *ops,
                         uint16_t device_id, pthread_mutex_t *lock, const struct vmm_guest_mem *mem,
                         struct vmm_virtqueue *queues, unsigned num_queues, uint16_t queue_max_size,
                         unsigned config_len)
{
    memset(vdev, 0, sizeof(*vdev));
    vdev->ops = ops;
    vdev->device_id = device_id;
    vdev->lock = lock;
    vdev->mem = mem;
    vdev->queues = queues;
    vdev->num_queues = num_queues;
    vdev->config_len = config_len;
    for (unsigned i = 0; i < num_queues; i++)
        vmm_virtq_init(&queues[i], (uint16_t)i, queue_max_size, mem, queue_error, vdev);
}

uint64_t vmm_virtio_dev_features(struct vmm_virtio_dev *vdev)
{
    return vdev->ops->features(vdev) | TRANSPORT_FEATURES;
}

bool vmm_virtio_dev_check_features(struct vmm_virtio_dev *vdev)
{
    uint64_t f = vdev->driver_features;
    if (f & ~vmm_virtio_dev_features(vdev))
        return false;
    if (!(f & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
        return false;
    if (vdev->ops->features_ok && !vdev->ops->features_ok(vdev, f))
        return false;
    return true;
}

void vmm_virtio_dev_reset(struct vmm_virtio_dev *vdev)
{
    vdev->status = 0;
    vdev->driver_features = 0;
    for (unsigned i = 0; i < vdev->num_queues; i++)
        vmm_virtq_reset(&vdev->queues[i]);
    if (vdev->ops->reset)
        vdev->ops->reset(vdev);
}

void vmm_virtio_dev_enable_queue(struct vmm_virtio_dev *vdev, unsigned q)
{
    if (q >= vdev->num_queues)
        return;
    struct vmm_virtqueue *vq = &vdev->queues[q];
    if (vq->enabled)
        return;
    vq->event_idx = vmm_virtio_has_feature(vdev, VIRTIO_F_EVENT_IDX);
    vq->indirect = vmm_virtio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC);
    /* On failure the queue is broken and the device in NEEDS_RESET already. */
    (void)!vmm_virtq_enable(vq);
}

bool vmm_virtio_dev_live(const struct vmm_virtio_dev *vdev)
{
    return (vdev->status & VIRTIO_STATUS_DRIVER_OK) && (vdev->status & VIRTIO_STATUS_FEATURES_OK) &&
           !(vdev->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

bool vmm_virtio_dev_notify(struct vmm_virtio_dev *vdev, unsigned q)
{
    if (q >= vdev->num_queues || !vmm_virtio_dev_live(vdev) || !vmm_virtq_ready(&vdev->queues[q]))
        return false;
    return vdev->ops->queue_notify(vdev, q);
}

static void interrupt(struct vmm_virtio_dev *vdev, unsigned q)
{
    if (vdev->transport_ops && vdev->transport_ops->interrupt)
        vdev->transport_ops->interrupt(vdev->transport, q);
}

void vmm_virtio_queue_done(struct vmm_virtio_dev *vdev, unsigned q)
{
    if (q < vdev->num_queues && vmm_virtq_need_interrupt(&vdev->queues[q]))
        interrupt(vdev, q);
}

void vmm_virtio_config_changed(struct vmm_virtio_dev *vdev)
{
    vdev->config_generation++;
    if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
        interrupt(vdev, VMM_VIRTIO_CONFIG_IRQ);
}

void vmm_virtio_dev_needs_reset(struct vmm_virtio_dev *vdev)
{
    if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    /* The whole device stops (notify checks the status): only a reset recovers it. */
    vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
    if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
        interrupt(vdev, VMM_VIRTIO_CONFIG_IRQ);
}

void vmm_virtio_dev_freeze(struct vmm_virtio_dev *vdev, bool frozen)
{
    for (unsigned i = 0; i < vdev->num_queues; i++)
        vdev->queues[i].frozen = frozen;
}
