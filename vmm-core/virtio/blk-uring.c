/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk over io_uring, for raw images (the file is the disk, so a
 * guest read or write is one readv/writev at the same offset). The notify
 * path validates and slices each request into a job (blk.c), queues one
 * SQE per job and submits them all with one io_uring_enter. Completions
 * are signalled on an eventfd registered with the ring; the event loop
 * calls vmm_virtio_blk_complete(), which reaps every CQE there is,
 * completes the jobs and interrupts once per queue for the batch.
 *
 * FLUSH is an fdatasync SQE marked IOSQE_IO_DRAIN: the kernel starts it
 * only after every earlier SQE has completed, and starts later ones only
 * after it, so a completed flush covers every write the guest submitted
 * before it, not only those that had completed.
 *
 * A short transfer (end of file, a partial write) or -EAGAIN is finished
 * synchronously through vmm_disk_*, which know what to do then (zeros past
 * the end, retries); any other error completes the request with IOERR.
 *
 * Before a read or write goes to the ring it is tried right away with
 * RWF_NOWAIT: what the page cache can serve without waiting completes on
 * the notify path (no kernel worker, no event-loop round trip), and only
 * what would wait for the device goes to the ring, where it overlaps with
 * the rest. A file system that refuses RWF_NOWAIT is served synchronously.
 *
 * All ring access happens with the device lock held: submission from the
 * notify path, reaping from the event loop or from a drain. A drain waits
 * for CQEs with the lock held, which needs nothing from other threads.
 */
#include "virtio/blk-io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#ifdef VMM_HAVE_LIBURING

#include <liburing.h>
#include <sys/eventfd.h>

struct vmm_virtio_blk_uring {
    struct io_uring ring;
    int fd;            /* the image */
    int efd;           /* completion eventfd */
    unsigned queued;   /* SQEs prepared and not yet submitted */
    bool no_nowait[2]; /* reads, writes: the file system refused RWF_NOWAIT (EOPNOTSUPP) */
};

int vmm_virtio_blk_uring_start(struct vmm_virtio_blk *b)
{
    int fd = vmm_disk_raw_fd(b->disk);
    if (fd < 0)
        return -EOPNOTSUPP; /* qcow2 keeps its ordered metadata work synchronous */
    struct vmm_virtio_blk_uring *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->fd = fd;
    /* Room for every job: an SQE is always there, and the CQ (twice as big) cannot overflow. */
    int r = io_uring_queue_init(VMM_VIRTIO_BLK_URING_DEPTH, &u->ring, 0);
    if (r < 0) {
        /* No io_uring here (old kernel, seccomp, sysctl): the caller falls back. */
        free(u);
        return r;
    }
    u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (u->efd < 0) {
        r = -errno;
        goto fail_ring;
    }
    r = io_uring_register_eventfd(&u->ring, u->efd);
    if (r < 0)
        goto fail_efd;
    r = vmm_virtio_blk_jobs_alloc(b, VMM_VIRTIO_BLK_URING_DEPTH);
    if (r < 0)
        goto fail_efd;
    b->uring = u;
    return 0;

fail_efd:
    close(u->efd);
fail_ring:
    io_uring_queue_exit(&u->ring);
    free(u);
    return r;
}

void vmm_virtio_blk_uring_stop(struct vmm_virtio_blk *b)
{
    struct vmm_virtio_blk_uring *u = b->uring;
    if (!u)
        return;
    pthread_mutex_lock(b->vdev.lock);
    vmm_virtio_blk_uring_reap(b, true);
    b->uring = NULL;
    pthread_mutex_unlock(b->vdev.lock);
    io_uring_queue_exit(&u->ring);
    close(u->efd);
    free(u);
}

int vmm_virtio_blk_uring_fd(const struct vmm_virtio_blk *b)
{
    return b->uring ? b->uring->efd : -1;
}

/* Drops the first n bytes of the job (done already): it goes on from there. */
static int advance(struct vmm_virtio_blk_job *j, uint64_t n)
{
    struct iovec rest[VMM_VIRTQ_MAX_SEGS];
    int k = vmm_virtq_iov_slice(j->slice, j->nslice, n, j->len - n, rest, VMM_VIRTQ_MAX_SEGS);
    if (k < 0)
        return -EIO;
    memcpy(j->slice, rest, (size_t)k * sizeof(rest[0]));
    j->nslice = (unsigned)k;
    j->off += n;
    j->len -= n;
    return 0;
}

bool vmm_virtio_blk_uring_try_inline(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j,
                                     int *result)
{
    struct vmm_virtio_blk_uring *u = b->uring;
    bool write = j->kind == BLK_JOB_WRITE;
    if (j->kind == BLK_JOB_FLUSH)
        return false;
    if (u->no_nowait[write]) {
        /*
         * A file system that cannot say whether it would block (tmpfs before
         * Linux 6.6): served here. In the lab (6.1, images on tmpfs) every
         * io_uring request on it went through a kernel worker thread and
         * the round trip made it 2-4x slower than this; see docs/benchmarks.md.
         */
        *result = write ? vmm_disk_pwritev(b->disk, j->slice, j->nslice, j->off)
                        : vmm_disk_preadv(b->disk, j->slice, j->nslice, j->off);
        return true;
    }
    ssize_t n;
    do {
        n = write ? pwritev2(u->fd, j->slice, (int)j->nslice, (off_t)j->off, RWF_NOWAIT)
                  : preadv2(u->fd, j->slice, (int)j->nslice, (off_t)j->off, RWF_NOWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EOPNOTSUPP) {
        u->no_nowait[write] = true;
        return vmm_virtio_blk_uring_try_inline(b, j, result);
    }
    if (n < 0 && errno == EAGAIN)
        return false; /* it would wait for the device: the ring takes it */
    if (n < 0) {
        *result = -errno;
        return true;
    }
    if ((uint64_t)n >= j->len) {
        *result = 0;
        return true;
    }
    /* Part of it was in the page cache: the ring does the rest (a short read at EOF included). */
    if (advance(j, (uint64_t)n) < 0) {
        *result = -EIO;
        return true;
    }
    return false;
}

void vmm_virtio_blk_uring_queue(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j)
{
    struct vmm_virtio_blk_uring *u = b->uring;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) {
        /* Cannot happen with one SQE slot per job; push what is queued and try once more. */
        vmm_virtio_blk_uring_submit(b);
        sqe = io_uring_get_sqe(&u->ring);
    }
    j->generation = b->generation;
    b->inflight++;
    if (b->inflight > b->stats.max_inflight)
        b->stats.max_inflight = b->inflight;
    if (!sqe) {
        vmm_log_ratelimited(VMM_LOG_WARN, "virtio-blk: io_uring submission queue full");
        int q = vmm_virtio_blk_job_done(b, j, -EIO);
        if (q >= 0)
            vmm_virtio_queue_done(&b->vdev, (unsigned)q);
        return;
    }
    switch (j->kind) {
    case BLK_JOB_READ:
        io_uring_prep_readv(sqe, u->fd, j->slice, j->nslice, j->off);
        break;
    case BLK_JOB_WRITE:
        io_uring_prep_writev(sqe, u->fd, j->slice, j->nslice, j->off);
        break;
    default:
        io_uring_prep_fsync(sqe, u->fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_flags(sqe, IOSQE_IO_DRAIN);
        break;
    }
    io_uring_sqe_set_data(sqe, j);
    u->queued++;
    b->stats.ring_io++;
}

void vmm_virtio_blk_uring_submit(struct vmm_virtio_blk *b)
{
    struct vmm_virtio_blk_uring *u = b->uring;
    for (unsigned tries = 0; u->queued && tries < 4; tries++) {
        int r = io_uring_submit(&u->ring);
        if (r >= 0) {
            u->queued -= (unsigned)r > u->queued ? u->queued : (unsigned)r;
            continue;
        }
        if (r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            vmm_log_ratelimited(VMM_LOG_WARN, "virtio-blk: io_uring submit failed: %s",
                                strerror(-r));
            break;
        }
    }
    /* Whatever is left stays in the ring: the next submit or reap hands it over. */
}

/*
 * The rest of a request the kernel did only part of (n bytes), or all of it
 * again after -EAGAIN, through the synchronous path.
 */
static int finish_sync(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j, uint64_t n)
{
    if (j->kind == BLK_JOB_FLUSH)
        return vmm_disk_flush(b->disk);
    struct iovec rest[VMM_VIRTQ_MAX_SEGS];
    int k = vmm_virtq_iov_slice(j->slice, j->nslice, n, j->len - n, rest, VMM_VIRTQ_MAX_SEGS);
    if (k < 0)
        return -EIO;
    if (k == 0)
        return 0;
    return j->kind == BLK_JOB_WRITE ? vmm_disk_pwritev(b->disk, rest, (unsigned)k, j->off + n)
                                    : vmm_disk_preadv(b->disk, rest, (unsigned)k, j->off + n);
}

static int result_of(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j, int res)
{
    if (res == -EAGAIN || res == -EINTR)
        return finish_sync(b, j, 0);
    if (res < 0)
        return res;
    if (j->kind != BLK_JOB_FLUSH && (uint64_t)res < j->len)
        return finish_sync(b, j, (uint64_t)res);
    return 0;
}

void vmm_virtio_blk_uring_reap(struct vmm_virtio_blk *b, bool wait)
{
    struct vmm_virtio_blk_uring *u = b->uring;
    uint64_t touched = 0;
    if (!u)
        return;
    /* Nothing is in flight that was never handed over: a waiting drain would wait forever. */
    if (u->queued)
        vmm_virtio_blk_uring_submit(b);
    for (;;) {
        struct io_uring_cqe *cqe;
        int r = io_uring_peek_cqe(&u->ring, &cqe);
        if (r == -EAGAIN) {
            if (!wait || !b->inflight)
                break;
            r = io_uring_wait_cqe(&u->ring, &cqe);
            if (r == -EINTR)
                continue;
        }
        if (r < 0) {
            vmm_log_ratelimited(VMM_LOG_WARN, "virtio-blk: io_uring wait failed: %s", strerror(-r));
            break;
        }
        struct vmm_virtio_blk_job *j = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        if (!j)
            continue;
        int q = vmm_virtio_blk_job_done(b, j, result_of(b, j, res));
        if (q >= 0)
            touched |= 1ULL << q;
    }
    if (touched)
        b->stats.completions++;
    /* One interrupt decision per queue for the whole batch. */
    while (touched) {
        unsigned q = (unsigned)__builtin_ctzll(touched);
        touched &= touched - 1;
        b->stats.interrupts++;
        vmm_virtio_queue_done(&b->vdev, q);
    }
    vmm_virtio_blk_io_unstarve(b);
    if (u->queued)
        vmm_virtio_blk_uring_submit(b);
}

void vmm_virtio_blk_complete(struct vmm_virtio_blk *b)
{
    pthread_mutex_lock(b->vdev.lock);
    struct vmm_virtio_blk_uring *u = b->uring;
    if (u) {
        /* Cleared before reaping: a CQE posted after this read signals again. */
        uint64_t n;
        if (read(u->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
            vmm_log_ratelimited(VMM_LOG_WARN, "virtio-blk: completion eventfd: %s",
                                strerror(errno));
        vmm_virtio_blk_uring_reap(b, false);
    }
    pthread_mutex_unlock(b->vdev.lock);
}

#else /* !VMM_HAVE_LIBURING: built without liburing, everything falls back */

bool vmm_virtio_blk_uring_try_inline(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j,
                                     int *result)
{
    return false;
}

int vmm_virtio_blk_uring_start(struct vmm_virtio_blk *b)
{
    return -ENOSYS;
}

void vmm_virtio_blk_uring_stop(struct vmm_virtio_blk *b)
{
}

int vmm_virtio_blk_uring_fd(const struct vmm_virtio_blk *b)
{
    return -1;
}

void vmm_virtio_blk_uring_queue(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j)
{
    b->inflight++;
    int q = vmm_virtio_blk_job_done(b, j, -EIO);
    if (q >= 0)
        vmm_virtio_queue_done(&b->vdev, (unsigned)q);
}

void vmm_virtio_blk_uring_submit(struct vmm_virtio_blk *b)
{
}

void vmm_virtio_blk_uring_reap(struct vmm_virtio_blk *b, bool wait)
{
}

void vmm_virtio_blk_complete(struct vmm_virtio_blk *b)
{
}

#endif
