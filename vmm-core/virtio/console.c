/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-console: one port; bytes in through queue 0, out through queue 1. */
#include "virtio/console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RXQ 0
#define TXQ 1

static struct vmm_virtio_console *to_con(struct vmm_virtio_dev *vdev)
{
    return (struct vmm_virtio_console *)((char *)vdev - offsetof(struct vmm_virtio_console, vdev));
}

static uint64_t con_features(struct vmm_virtio_dev *vdev)
{
    (void)vdev;
    return 0;
}

static void con_config_read(struct vmm_virtio_dev *vdev, unsigned off, void *buf, unsigned len)
{
    struct vmm_virtio_console *c = to_con(vdev);
    if (off < sizeof(c->config) && len <= sizeof(c->config) - off)
        memcpy(buf, c->config + off, len);
}

/* Moves buffered input into the guest's receive buffers; device lock held. */
static bool rx_flush(struct vmm_virtio_console *c)
{
    struct vmm_virtqueue *vq = &c->queues[RXQ];
    if (!vmm_virtio_dev_live(&c->vdev) || !vmm_virtq_ready(vq) || !c->in_len)
        return false;
    bool pushed = false;
    vmm_virtq_begin(vq);
    while (c->in_len && vmm_virtq_pop(vq, c->elem) == 1) {
        size_t written = 0;
        /* The buffered bytes may wrap around the end of the ring: at most two pieces. */
        while (c->in_len && written < c->elem->in_len) {
            size_t piece = VMM_VIRTIO_CONSOLE_INBUF - c->in_head;
            if (piece > c->in_len)
                piece = c->in_len;
            size_t n = vmm_virtq_write(c->elem, written, c->inbuf + c->in_head, piece);
            if (n == 0)
                break;
            written += n;
            c->in_head = (c->in_head + n) % VMM_VIRTIO_CONSOLE_INBUF;
            c->in_len -= n;
        }
        vmm_virtq_push(vq, c->elem, written);
        pushed = true;
    }
    if (pushed)
        vmm_virtio_queue_done(&c->vdev, RXQ);
    return c->in_len && vq->budget_hit;
}

static bool tx_run(struct vmm_virtio_console *c)
{
    struct vmm_virtqueue *vq = &c->queues[TXQ];
    bool pushed = false;
    vmm_virtq_begin(vq);
    while (vmm_virtq_pop(vq, c->elem) == 1) {
        size_t n = vmm_virtq_read(c->elem, 0, c->outbuf, VMM_VIRTIO_CONSOLE_MAX_OUT);
        c->out_bytes += n;
        if (n && c->backend.out)
            c->backend.out(c->backend.opaque, c->outbuf, n);
        vmm_virtq_push(vq, c->elem, 0);
        pushed = true;
    }
    if (pushed)
        vmm_virtio_queue_done(&c->vdev, TXQ);
    return vq->budget_hit;
}

static bool con_queue_notify(struct vmm_virtio_dev *vdev, unsigned q)
{
    struct vmm_virtio_console *c = to_con(vdev);
    return q == TXQ ? tx_run(c) : rx_flush(c);
}

static void con_reset(struct vmm_virtio_dev *vdev)
{
    struct vmm_virtio_console *c = to_con(vdev);
    c->in_head = c->in_len = 0;
}

static const struct vmm_virtio_dev_ops con_ops = {
    .features = con_features,
    .config_read = con_config_read,
    .queue_notify = con_queue_notify,
    .reset = con_reset,
};

size_t vmm_virtio_console_input(struct vmm_virtio_console *c, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(c->vdev.lock);
    size_t room = VMM_VIRTIO_CONSOLE_INBUF - c->in_len, kept = len < room ? len : room;
    for (size_t i = 0; i < kept; i++)
        c->inbuf[(c->in_head + c->in_len + i) % VMM_VIRTIO_CONSOLE_INBUF] = buf[i];
    c->in_len += kept;
    c->in_dropped += len - kept;
    rx_flush(c);
    pthread_mutex_unlock(c->vdev.lock);
    return kept;
}

int vmm_virtio_console_init(struct vmm_virtio_console *c,
                            const struct vmm_virtio_console_backend *backend, pthread_mutex_t *lock,
                            const struct vmm_guest_mem *mem)
{
    memset(c, 0, sizeof(*c));
    c->elem = malloc(sizeof(*c->elem));
    c->outbuf = malloc(VMM_VIRTIO_CONSOLE_MAX_OUT);
    if (!c->elem || !c->outbuf) {
        free(c->elem);
        free(c->outbuf);
        return -ENOMEM;
    }
    if (backend)
        c->backend = *backend;
    c->config[4] = 1; /* max_nr_ports = 1 (only read with MULTIPORT) */
    vmm_virtio_dev_init(&c->vdev, &con_ops, VIRTIO_ID_CONSOLE, lock, mem, c->queues, 2,
                        VMM_VIRTIO_CONSOLE_QUEUE_SIZE, VIRTIO_CONSOLE_CFG_SIZE);
    return 0;
}

void vmm_virtio_console_fini(struct vmm_virtio_console *c)
{
    free(c->elem);
    free(c->outbuf);
    c->elem = NULL;
    c->outbuf = NULL;
}
