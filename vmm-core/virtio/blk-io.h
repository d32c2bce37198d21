/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_BLK_IO_H
#define VMM_VIRTIO_BLK_IO_H

/* virtio-blk's asynchronous paths (blk-io.c: I/O threads, blk-uring.c: io_uring), for blk.c only. */

#include "virtio/blk.h"

enum { BLK_JOB_READ, BLK_JOB_WRITE, BLK_JOB_FLUSH };

struct vmm_virtio_blk_job {
    struct vmm_virtio_blk_job *next;
    unsigned queue;
    uint32_t generation;
    unsigned kind; /* BLK_JOB_* */
    bool write;    /* kind == BLK_JOB_WRITE (the I/O threads' view) */
    uint64_t off, len;
    unsigned nslice;
    struct iovec slice[VMM_VIRTQ_MAX_SEGS];
    struct vmm_virtq_elem elem;
};

/* Allocates n jobs onto the free list (threads and io_uring share them). -ENOMEM. */
int vmm_virtio_blk_jobs_alloc(struct vmm_virtio_blk *b, unsigned n);

int vmm_virtio_blk_io_start(struct vmm_virtio_blk *b, unsigned threads);
void vmm_virtio_blk_io_stop(struct vmm_virtio_blk *b);
/* Device lock held: a free job, or NULL (then queue q is marked starved). */
struct vmm_virtio_blk_job *vmm_virtio_blk_io_get(struct vmm_virtio_blk *b, unsigned q);
/* Device lock held: gives an unused job back. */
void vmm_virtio_blk_io_put(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j);
/* Device lock held: hands a prepared job to the threads. */
void vmm_virtio_blk_io_submit(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j);
/*
 * Device lock held: a job finished with r (0 or -errno). Writes its status
 * and pushes it (unless a reset made it stale), frees it and returns the
 * queue it was on, or -1 when nothing was pushed. The caller interrupts.
 */
int vmm_virtio_blk_job_done(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j, int r);
/* Device lock held: runs again the queues that stopped for want of a job. */
void vmm_virtio_blk_io_unstarve(struct vmm_virtio_blk *b);

/* io_uring (blk-uring.c). start: 0, or -errno when io_uring cannot be used (fall back). */
int vmm_virtio_blk_uring_start(struct vmm_virtio_blk *b);
void vmm_virtio_blk_uring_stop(struct vmm_virtio_blk *b);
/*
 * Device lock held: does the job now if it needs no waiting (RWF_NOWAIT; or
 * synchronously on a file system without it): true with *result set. False:
 * queue it (what is left of it) on the ring.
 */
bool vmm_virtio_blk_uring_try_inline(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j,
                                     int *result);
/* Device lock held: queues the job's operation (submitted by uring_submit). */
void vmm_virtio_blk_uring_queue(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j);
/* Device lock held: hands what was queued to the kernel. */
void vmm_virtio_blk_uring_submit(struct vmm_virtio_blk *b);
/* Device lock held: completes what finished; with wait, until nothing is in flight. */
void vmm_virtio_blk_uring_reap(struct vmm_virtio_blk *b, bool wait);

#endif
