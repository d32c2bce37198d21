/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_BLK_H
#define VMM_VIRTIO_BLK_H

/*
 * virtio-blk (device type 2) over a struct vmm_disk. Requests: IN, OUT,
 * FLUSH, GET_ID, DISCARD, WRITE_ZEROES; read-only disks offer
 * VIRTIO_BLK_F_RO and fail writes with IOERR. One request queue per vCPU
 * (VIRTIO_BLK_F_MQ).
 *
 * I/O is synchronous by default: a request is read or written through
 * vmm_disk_* on the notifying thread (a vCPU, or the event loop for an
 * ioeventfd), with the device lock held, and is completed (used ring,
 * interrupt) before the notify returns. With io_threads, reads and writes
 * go to I/O threads instead (blk-io.c) and complete from there, several
 * at once. With io_uring on a raw image (blk-uring.c), reads, writes and
 * flushes are submitted to an io_uring from the notify path and complete
 * on the event loop (vmm_virtio_blk_uring_fd() / vmm_virtio_blk_complete()),
 * up to VMM_VIRTIO_BLK_URING_DEPTH at once, one interrupt per queue per
 * batch of completions. FLUSH completes only once every write that
 * completed before it was submitted is durable (fdatasync); with io_uring
 * it also waits for every write submitted before it.
 */

#include <stdbool.h>
#include <stdint.h>

#include "disk/disk.h"
#include "virtio/virtio.h"

/* Feature bits. */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status. */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR_SIZE 512
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1

/* Device configuration layout (offsets). */
#define VIRTIO_BLK_CFG_CAPACITY 0x00 /* le64, in 512-byte sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX 0x08
#define VIRTIO_BLK_CFG_SEG_MAX 0x0c
#define VIRTIO_BLK_CFG_GEOMETRY 0x10
#define VIRTIO_BLK_CFG_BLK_SIZE 0x14
#define VIRTIO_BLK_CFG_TOPOLOGY 0x18
#define VIRTIO_BLK_CFG_WRITEBACK 0x20
#define VIRTIO_BLK_CFG_NUM_QUEUES 0x22 /* le16 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 0x24
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 0x28
#define VIRTIO_BLK_CFG_DISCARD_ALIGN 0x2c
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS 0x30
#define VIRTIO_BLK_CFG_MAX_WZ_SEG 0x34
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP 0x38
#define VIRTIO_BLK_CFG_SIZE 0x3c

/* Limits this model advertises. */
#define VMM_VIRTIO_BLK_QUEUE_SIZE 256
#define VMM_VIRTIO_BLK_MAX_DWZ_SEG 16
#define VMM_VIRTIO_BLK_MAX_DWZ_SECTORS (1u << 22) /* 2 GiB a segment */

struct vmm_virtio_blk_opts {
    struct vmm_disk *disk; /* borrowed: stays open while the device exists */
    bool read_only;        /* in addition to a read-only image */
    const char *serial;    /* GET_ID; up to 20 bytes are used; NULL: empty */
    unsigned num_queues;   /* 1..VMM_VIRTIO_MAX_QUEUES; 0 means 1 (the board passes ncpus) */
    /*
     * 0: synchronous (every request completes before the notify returns).
     * N > 0: reads and writes run on N I/O threads, up to
     * VMM_VIRTIO_BLK_MAX_INFLIGHT at once, and complete (used ring,
     * interrupt) from those threads, in any order; the other request types
     * stay synchronous. At most VMM_VIRTIO_BLK_MAX_IO_THREADS.
     */
    unsigned io_threads;
    /*
     * Reads, writes and flushes through io_uring when the image is a raw
     * file or block device and the kernel allows io_uring; otherwise the
     * io_threads setting applies (vmm_virtio_blk_uring_fd() tells which).
     * The owner must then watch vmm_virtio_blk_uring_fd() and call
     * vmm_virtio_blk_complete() when it is readable.
     */
    bool io_uring;
};

#define VMM_VIRTIO_BLK_MAX_INFLIGHT 16
/* Requests in flight at once on the io_uring (every queue together). */
#define VMM_VIRTIO_BLK_URING_DEPTH 128
#define VMM_VIRTIO_BLK_MAX_IO_THREADS 8

struct vmm_virtio_blk_job;
struct vmm_virtio_blk_uring;

/* Counters since init (device lock): what the guest asked for, and how. */
struct vmm_virtio_blk_stats {
    uint64_t reads, writes, flushes, others; /* requests by type (others: ID, discard, zeroes) */
    uint64_t read_bytes, write_bytes;
    uint64_t errors; /* requests completed with IOERR or UNSUPP */
    /* Reads/writes done at once on the notifying thread: io_uring mode, those the page cache
     * could serve (or all, without RWF_NOWAIT); I/O-thread mode, those that found the device
     * idle and nothing queued behind them. */
    uint64_t inline_io;
    uint64_t ring_io;      /* io_uring mode: reads, writes and flushes that went to the ring */
    uint64_t notifies;     /* queue runs (kicks and re-runs) */
    uint64_t completions;  /* completion batches reaped from the io_uring */
    uint64_t interrupts;   /* queue_done calls that may have interrupted */
    uint64_t max_inflight; /* most requests in flight at once (async paths) */
};

struct vmm_virtio_blk {
    struct vmm_virtio_dev vdev;
    struct vmm_disk *disk;
    bool read_only;
    uint64_t capacity; /* sectors */
    char serial[VIRTIO_BLK_ID_BYTES];
    uint8_t config[VIRTIO_BLK_CFG_SIZE];
    struct vmm_virtqueue queues[VMM_VIRTIO_MAX_QUEUES];
    struct vmm_virtq_elem *elem; /* scratch for the request being served */
    struct iovec *slice;         /* scratch: the data part of its iovec, VMM_VIRTQ_MAX_SEGS */

    /* Asynchronous reads and writes (blk-io.c); all zero when io_threads is 0. */
    unsigned io_threads;
    pthread_t threads[VMM_VIRTIO_BLK_MAX_IO_THREADS];
    struct vmm_virtio_blk_job *jobs;      /* VMM_VIRTIO_BLK_MAX_INFLIGHT */
    struct vmm_virtio_blk_job *free_jobs; /* under the device lock */
    unsigned inflight;                    /* under the device lock */
    uint32_t generation;                  /* bumped by a reset: older jobs complete into nothing */
    uint64_t starved;                     /* queues that ran out of jobs (bit q), device lock */
    pthread_cond_t idle;                  /* inflight reached 0 (with the device lock) */
    pthread_mutex_t io_lock;              /* the submitted list and stop */
    pthread_cond_t io_cond;
    struct vmm_virtio_blk_job *submitted, *submitted_tail;
    bool stop;

    /* io_uring (blk-uring.c), or NULL. Its jobs are `jobs` above, inflight counts them. */
    struct vmm_virtio_blk_uring *uring;
    bool inline_off; /* tests: every read and write goes to the ring or a thread, none inline */
    struct vmm_virtio_blk_stats stats;
};

/*
 * Initialises the device (not its transport): lock is the owner's device
 * lock, mem the guest RAM. -EINVAL for bad options, -ENOMEM.
 */
VMM_WUR int vmm_virtio_blk_init(struct vmm_virtio_blk *blk, const struct vmm_virtio_blk_opts *o,
                                pthread_mutex_t *lock, const struct vmm_guest_mem *mem);
/*
 * Waits until no request is in flight (tests, teardown, state capture):
 * every request popped from a ring has been completed into the used ring
 * (or dropped, if a reset came first). Takes the device lock; callable from
 * any thread, the event loop's included (io_uring completions are reaped
 * here, not waited for from the loop). Requests the guest adds meanwhile
 * may start again afterwards: pause the vCPUs first for a stable state.
 */
void vmm_virtio_blk_drain(struct vmm_virtio_blk *blk);
/* The same with the device lock already held (it is released only inside waits for threads). */
void vmm_virtio_blk_drain_locked(struct vmm_virtio_blk *blk);

/*
 * The io_uring completion eventfd to watch (EPOLLIN), or -1 when the device
 * does not use io_uring (synchronous or I/O threads: nothing to watch).
 */
int vmm_virtio_blk_uring_fd(const struct vmm_virtio_blk *blk);
/*
 * The eventfd was readable: reaps the finished requests, completes them
 * (status, used ring, one interrupt per queue) and runs queues that were
 * waiting for a free slot. Takes the device lock. From the event loop.
 */
void vmm_virtio_blk_complete(struct vmm_virtio_blk *blk);
/* A copy of the counters (takes the device lock). */
void vmm_virtio_blk_get_stats(struct vmm_virtio_blk *blk, struct vmm_virtio_blk_stats *st);
void vmm_virtio_blk_fini(struct vmm_virtio_blk *blk);

/* PCI class code for the transport: mass storage, SCSI (what QEMU gives virtio-blk). */
#define VMM_VIRTIO_BLK_PCI_CLASS 0x010000

#endif
