/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-rng: fills the driver's writable buffers from the host's getrandom(). */
#include "virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static struct vmm_virtio_rng *to_rng(struct vmm_virtio_dev *vdev)
{
    return (struct vmm_virtio_rng *)((char *)vdev - offsetof(struct vmm_virtio_rng, vdev));
}

static uint64_t rng_features(struct vmm_virtio_dev *vdev)
{
    return 0;
}

static void rng_config_read(struct vmm_virtio_dev *vdev, unsigned off, void *buf, unsigned len)
{
}

/* Fills up to max bytes of the writable part; returns how many were filled. */
static uint64_t fill(const struct vmm_virtq_elem *e, uint64_t max)
{
    uint64_t done = 0;
    for (unsigned i = e->n_out; i < e->n_out + e->n_in && done < max; i++) {
        size_t want = e->iov[i].iov_len;
        if (want > max - done)
            want = max - done;
        size_t got = 0;
        while (got < want) {
            /* Non-blocking: a pool not yet initialised gives a short answer, not a stuck vCPU. */
            ssize_t r = getrandom((uint8_t *)e->iov[i].iov_base + got, want - got, GRND_NONBLOCK);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                return done + got;
            }
            got += (size_t)r;
        }
        done += got;
    }
    return done;
}

static bool rng_queue_notify(struct vmm_virtio_dev *vdev, unsigned q)
{
    struct vmm_virtio_rng *rng = to_rng(vdev);
    struct vmm_virtqueue *vq = &rng->queue;
    bool pushed = false;
    vmm_virtq_begin(vq);
    while (vmm_virtq_pop(vq, rng->elem) == 1) {
        vmm_virtq_push(vq, rng->elem, fill(rng->elem, VMM_VIRTIO_RNG_MAX_REQUEST));
        pushed = true;
    }
    if (pushed)
        vmm_virtio_queue_done(vdev, q);
    return vq->budget_hit;
}

static const struct vmm_virtio_dev_ops rng_ops = {
    .features = rng_features,
    .config_read = rng_config_read,
    .queue_notify = rng_queue_notify,
};

int vmm_virtio_rng_init(struct vmm_virtio_rng *rng, pthread_mutex_t *lock,
                        const struct vmm_guest_mem *mem)
{
    memset(rng, 0, sizeof(*rng));
    rng->elem = malloc(sizeof(*rng->elem));
    if (!rng->elem)
        return -ENOMEM;
    vmm_virtio_dev_init(&rng->vdev, &rng_ops, VIRTIO_ID_RNG, lock, mem, &rng->queue, 1,
                        VMM_VIRTIO_RNG_QUEUE_SIZE, 0);
    return 0;
}

void vmm_virtio_rng_fini(struct vmm_virtio_rng *rng)
{
    free(rng->elem);
    rng->elem = NULL;
}
