/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk I/O threads and the job bookkeeping shared with blk-uring.c: reads and writes the notify path has validated
 * and sliced run here, without the device lock, so several requests are in
 * flight at once; each completes (status byte, used ring, interrupt) under
 * the device lock. A device reset bumps the generation: a job of an older
 * generation completes into nothing (its chain belonged to the old rings).
 */
#include "virtio/blk-io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int vmm_virtio_blk_job_done(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j, int r)
{
    struct vmm_virtqueue *vq = &b->queues[j->queue];
    int pushed = -1;
    if (r < 0)
        b->stats.errors++;
    if (j->generation == b->generation && vmm_virtq_ready(vq)) {
        uint8_t status = r < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
        (void)vmm_virtq_write(&j->elem, j->elem.in_len - 1, &status, 1);
        /* A read wrote its data; the status byte is the last writable byte either way. */
        vmm_virtq_push(vq, &j->elem, j->elem.in_len);
        pushed = (int)j->queue;
    }
    vmm_virtio_blk_io_put(b, j);
    b->inflight--;
    if (!b->inflight)
        pthread_cond_broadcast(&b->idle);
    return pushed;
}

void vmm_virtio_blk_io_unstarve(struct vmm_virtio_blk *b)
{
    /* A queue that stopped for want of a job goes on now that one is free. */
    while (b->starved && b->free_jobs) {
        unsigned q = (unsigned)__builtin_ctzll(b->starved);
        b->starved &= ~(1ULL << q);
        (void)vmm_virtio_dev_notify(&b->vdev, q);
    }
}

static void complete(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j, int r)
{
    pthread_mutex_lock(b->vdev.lock);
    int q = vmm_virtio_blk_job_done(b, j, r);
    if (q >= 0) {
        b->stats.interrupts++;
        vmm_virtio_queue_done(&b->vdev, (unsigned)q);
    }
    vmm_virtio_blk_io_unstarve(b);
    pthread_mutex_unlock(b->vdev.lock);
}

static void *io_thread(void *arg)
{
    struct vmm_virtio_blk *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->io_lock);
        while (!b->submitted && !b->stop)
            pthread_cond_wait(&b->io_cond, &b->io_lock);
        struct vmm_virtio_blk_job *j = b->submitted;
        if (!j) {
            pthread_mutex_unlock(&b->io_lock);
            return NULL; /* stopping, nothing left */
        }
        b->submitted = j->next;
        if (!b->submitted)
            b->submitted_tail = NULL;
        pthread_mutex_unlock(&b->io_lock);
        int r = j->write ? vmm_disk_pwritev(b->disk, j->slice, j->nslice, j->off)
                         : vmm_disk_preadv(b->disk, j->slice, j->nslice, j->off);
        complete(b, j, r);
    }
}

struct vmm_virtio_blk_job *vmm_virtio_blk_io_get(struct vmm_virtio_blk *b, unsigned q)
{
    struct vmm_virtio_blk_job *j = b->free_jobs;
    if (!j) {
        if (q < 64)
            b->starved |= 1ULL << q;
        return NULL;
    }
    b->free_jobs = j->next;
    j->next = NULL;
    return j;
}

void vmm_virtio_blk_io_put(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j)
{
    j->next = b->free_jobs;
    b->free_jobs = j;
}

void vmm_virtio_blk_io_submit(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j)
{
    j->generation = b->generation;
    b->inflight++;
    if (b->inflight > b->stats.max_inflight)
        b->stats.max_inflight = b->inflight;
    pthread_mutex_lock(&b->io_lock);
    j->next = NULL;
    if (b->submitted_tail)
        b->submitted_tail->next = j;
    else
        b->submitted = j;
    b->submitted_tail = j;
    pthread_cond_signal(&b->io_cond);
    pthread_mutex_unlock(&b->io_lock);
}

int vmm_virtio_blk_jobs_alloc(struct vmm_virtio_blk *b, unsigned n)
{
    /* Large (an element holds a full iovec) but touched only as deep as the guest queues. */
    b->jobs = calloc(n, sizeof(*b->jobs));
    if (!b->jobs)
        return -ENOMEM;
    for (unsigned i = 0; i < n; i++)
        vmm_virtio_blk_io_put(b, &b->jobs[i]);
    return 0;
}

int vmm_virtio_blk_io_start(struct vmm_virtio_blk *b, unsigned threads)
{
    if (threads == 0)
        return 0;
    int r = vmm_virtio_blk_jobs_alloc(b, VMM_VIRTIO_BLK_MAX_INFLIGHT);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&b->threads[i], NULL, io_thread, b) != 0) {
            vmm_virtio_blk_io_stop(b);
            return -EAGAIN;
        }
        b->io_threads = i + 1;
    }
    return 0;
}

void vmm_virtio_blk_io_stop(struct vmm_virtio_blk *b)
{
    pthread_mutex_lock(&b->io_lock);
    b->stop = true;
    pthread_cond_broadcast(&b->io_cond);
    pthread_mutex_unlock(&b->io_lock);
    /* The threads finish what was submitted, then leave. */
    for (unsigned i = 0; i < b->io_threads; i++)
        pthread_join(b->threads[i], NULL);
    b->io_threads = 0;
    b->stop = false;
}
