/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_BLK_IO_H
#define VMM_VIRTIO_BLK_IO_H

/* virtio-blk's I/O threads (blk-io.c), for blk.c only. */

#include "virtio/blk.h"

struct vmm_virtio_blk_job {
    struct vmm_virtio_blk_job *next;
    unsigned queue;
    uint32_t generation;
    bool write;
    uint64_t off;
    unsigned nslice;
    struct iovec slice[VMM_VIRTQ_MAX_SEGS];
    struct vmm_virtq_elem elem;
};

int vmm_virtio_blk_io_start(struct vmm_virtio_blk *b, unsigned threads);
void vmm_virtio_blk_io_stop(struct vmm_virtio_blk *b);
/* Device lock held: a free job, or NULL (then queue q is marked starved). */
struct vmm_virtio_blk_job *vmm_virtio_blk_io_get(struct vmm_virtio_blk *b, unsigned q);
/* Device lock held: gives an unused job back. */
void vmm_virtio_blk_io_put(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j);
/* Device lock held: hands a prepared job to the threads. */
void vmm_virtio_blk_io_submit(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j);

#endif
