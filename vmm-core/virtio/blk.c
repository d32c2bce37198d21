/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk request handling. A request is a chain of: a 16-byte header
 * (le32 type, le32 reserved, le64 sector) in the device-readable part, then
 * type-specific data, and a status byte which is the last byte of the
 * device-writable part. Sectors are always 512 bytes.
 */
#include "virtio/blk.h"

#include "virtio/blk-io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define HDR_SIZE 16
#define DWZ_SEG_SIZE 16

struct blk_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct dwz_seg {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

static struct vmm_virtio_blk *to_blk(struct vmm_virtio_dev *vdev)
{
    return (struct vmm_virtio_blk *)((char *)vdev - offsetof(struct vmm_virtio_blk, vdev));
}

static uint64_t blk_features(struct vmm_virtio_dev *vdev)
{
    struct vmm_virtio_blk *b = to_blk(vdev);
    uint64_t f = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
                 VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_MQ);
    if (b->read_only)
        f |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
    else
        f |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
    return f;
}

static void blk_config_read(struct vmm_virtio_dev *vdev, unsigned off, void *buf, unsigned len)
{
    struct vmm_virtio_blk *b = to_blk(vdev);
    if (off < sizeof(b->config) && len <= sizeof(b->config) - off)
        memcpy(buf, b->config + off, len);
}

/* Whether [sector, sector + bytes) lies inside the disk. */
static bool range_ok(const struct vmm_virtio_blk *b, uint64_t sector, uint64_t bytes)
{
    uint64_t n = bytes / VIRTIO_BLK_SECTOR_SIZE;
    return sector <= b->capacity && n <= b->capacity - sector;
}

/*
 * Reads or writes `len` bytes at disk offset `off` through iov[0..n),
 * starting `skip` bytes into it.
 */
static int disk_io(struct vmm_virtio_blk *b, const struct iovec *iov, unsigned n, uint64_t skip,
                   uint64_t len, uint64_t off, bool write)
{
    /* One vectored call for the whole request (a scattered 1 MiB read is one syscall). */
    int k = vmm_virtq_iov_slice(iov, n, skip, len, b->slice, VMM_VIRTQ_MAX_SEGS);
    if (k < 0)
        return -EIO;
    return write ? vmm_disk_pwritev(b->disk, b->slice, (unsigned)k, off)
                 : vmm_disk_preadv(b->disk, b->slice, (unsigned)k, off);
}

static uint8_t do_rw(struct vmm_virtio_blk *b, const struct vmm_virtq_elem *e,
                     const struct blk_hdr *h, bool write)
{
    /* Reads fill the writable part up to the status byte; writes take the readable part after the header. */
    uint64_t len = write ? e->out_len - HDR_SIZE : e->in_len - 1;
    if (write && b->read_only)
        return VIRTIO_BLK_S_IOERR;
    if (len % VIRTIO_BLK_SECTOR_SIZE || !range_ok(b, h->sector, len))
        return VIRTIO_BLK_S_IOERR;
    uint64_t off = h->sector * VIRTIO_BLK_SECTOR_SIZE;
    int r = write ? disk_io(b, e->iov, e->n_out, HDR_SIZE, len, off, true)
                  : disk_io(b, e->iov + e->n_out, e->n_in, 0, len, off, false);
    return r < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

static uint8_t do_dwz(struct vmm_virtio_blk *b, const struct vmm_virtq_elem *e, bool discard)
{
    if (b->read_only)
        return VIRTIO_BLK_S_IOERR;
    uint64_t len = e->out_len - HDR_SIZE;
    if (len == 0 || len % DWZ_SEG_SIZE)
        return VIRTIO_BLK_S_IOERR;
    if (len / DWZ_SEG_SIZE > VMM_VIRTIO_BLK_MAX_DWZ_SEG)
        return VIRTIO_BLK_S_UNSUPP;
    unsigned n = (unsigned)(len / DWZ_SEG_SIZE);
    struct dwz_seg seg[VMM_VIRTIO_BLK_MAX_DWZ_SEG];
    /* Every segment is copied out and checked before any is carried out. */
    for (unsigned i = 0; i < n; i++) {
        uint8_t raw[DWZ_SEG_SIZE];
        if (vmm_virtq_read(e, HDR_SIZE + (uint64_t)i * DWZ_SEG_SIZE, raw, sizeof(raw)) !=
            sizeof(raw))
            return VIRTIO_BLK_S_IOERR;
        memcpy(&seg[i].sector, raw, 8);
        memcpy(&seg[i].num_sectors, raw + 8, 4);
        memcpy(&seg[i].flags, raw + 12, 4);
        if (seg[i].flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
            return VIRTIO_BLK_S_UNSUPP;
        if (discard && (seg[i].flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
            return VIRTIO_BLK_S_UNSUPP;
        if (seg[i].num_sectors > VMM_VIRTIO_BLK_MAX_DWZ_SECTORS ||
            !range_ok(b, seg[i].sector, (uint64_t)seg[i].num_sectors * VIRTIO_BLK_SECTOR_SIZE))
            return VIRTIO_BLK_S_IOERR;
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t off = seg[i].sector * VIRTIO_BLK_SECTOR_SIZE;
        uint64_t bytes = (uint64_t)seg[i].num_sectors * VIRTIO_BLK_SECTOR_SIZE;
        if (bytes == 0)
            continue;
        if (discard) {
            /* Advisory: an image that cannot deallocate simply keeps the data. */
            int r = vmm_disk_discard(b->disk, off, bytes);
            if (r < 0 && r != -EOPNOTSUPP)
                return VIRTIO_BLK_S_IOERR;
        } else {
            unsigned fl =
                seg[i].flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP ? VMM_DISK_ZEROES_UNMAP : 0;
            if (vmm_disk_write_zeroes(b->disk, off, bytes, fl) < 0)
                return VIRTIO_BLK_S_IOERR;
        }
    }
    return VIRTIO_BLK_S_OK;
}

static void read_hdr(const struct vmm_virtq_elem *e, struct blk_hdr *h)
{
    uint8_t raw[HDR_SIZE];
    (void)vmm_virtq_read(e, 0, raw, sizeof(raw)); /* out_len >= HDR_SIZE was checked */
    memcpy(&h->type, raw, 4);
    memcpy(&h->reserved, raw + 4, 4);
    memcpy(&h->sector, raw + 8, 8);
}

static void count(struct vmm_virtio_blk *b, const struct vmm_virtq_elem *e, const struct blk_hdr *h)
{
    switch (h->type) {
    case VIRTIO_BLK_T_IN:
        b->stats.reads++;
        b->stats.read_bytes += e->in_len - 1;
        break;
    case VIRTIO_BLK_T_OUT:
        b->stats.writes++;
        b->stats.write_bytes += e->out_len - HDR_SIZE;
        break;
    case VIRTIO_BLK_T_FLUSH:
        b->stats.flushes++;
        break;
    default:
        b->stats.others++;
    }
}

static uint8_t serve(struct vmm_virtio_blk *b, const struct vmm_virtq_elem *e,
                     const struct blk_hdr *hp)
{
    struct blk_hdr h = *hp;
    switch (h.type) {
    case VIRTIO_BLK_T_IN:
        return do_rw(b, e, &h, false);
    case VIRTIO_BLK_T_OUT:
        return do_rw(b, e, &h, true);
    case VIRTIO_BLK_T_FLUSH:
        /* Completed only once every completed write is durable. */
        return vmm_disk_flush(b->disk) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_GET_ID: {
        uint64_t room = e->in_len - 1;
        (void)vmm_virtq_write(e, 0, b->serial, room < sizeof(b->serial) ? room : sizeof(b->serial));
        return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_DISCARD:
        return do_dwz(b, e, true);
    case VIRTIO_BLK_T_WRITE_ZEROES:
        return do_dwz(b, e, false);
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
}

/*
 * A valid read or write, sliced into the job for the asynchronous path
 * (and, with io_uring on a writable disk, a FLUSH): true. Anything else
 * (other types, bad lengths, a read-only disk) is served synchronously,
 * which also gives the errors.
 */
static bool prepare_async(struct vmm_virtio_blk *b, struct vmm_virtio_blk_job *j,
                          const struct blk_hdr *h)
{
    const struct vmm_virtq_elem *e = &j->elem;
    if (h->type == VIRTIO_BLK_T_FLUSH && b->uring && !b->read_only) {
        j->kind = BLK_JOB_FLUSH;
        j->write = false;
        j->off = j->len = 0;
        j->nslice = 0;
        return true;
    }
    if (h->type != VIRTIO_BLK_T_IN && h->type != VIRTIO_BLK_T_OUT)
        return false;
    bool write = h->type == VIRTIO_BLK_T_OUT;
    uint64_t len = write ? e->out_len - HDR_SIZE : e->in_len - 1;
    if ((write && b->read_only) || len % VIRTIO_BLK_SECTOR_SIZE || !range_ok(b, h->sector, len))
        return false;
    int k =
        write
            ? vmm_virtq_iov_slice(e->iov, e->n_out, HDR_SIZE, len, j->slice, VMM_VIRTQ_MAX_SEGS)
            : vmm_virtq_iov_slice(e->iov + e->n_out, e->n_in, 0, len, j->slice, VMM_VIRTQ_MAX_SEGS);
    if (k < 0)
        return false;
    j->nslice = (unsigned)k;
    j->write = write;
    j->kind = write ? BLK_JOB_WRITE : BLK_JOB_READ;
    j->off = h->sector * VIRTIO_BLK_SECTOR_SIZE;
    j->len = len;
    return true;
}

static bool blk_queue_notify(struct vmm_virtio_dev *vdev, unsigned q)
{
    struct vmm_virtio_blk *b = to_blk(vdev);
    struct vmm_virtqueue *vq = &b->queues[q];
    bool async = b->io_threads || b->uring;
    bool pushed = false;
    b->stats.notifies++;
    vmm_virtq_begin(vq);
    for (;;) {
        struct vmm_virtio_blk_job *j = NULL;
        if (async && !(j = vmm_virtio_blk_io_get(b, q)))
            break; /* every job in flight: a completion runs the queue again */
        struct vmm_virtq_elem *e = j ? &j->elem : b->elem;
        if (vmm_virtq_pop(vq, e) != 1) {
            if (j)
                vmm_virtio_blk_io_put(b, j);
            break;
        }
        if (e->out_len < HDR_SIZE || e->in_len < 1) {
            /* No header or nowhere to put the status: nothing sensible can be completed. */
            vmm_virtq_fail(vq, "virtio-blk request without a header or a status byte");
            if (j)
                vmm_virtio_blk_io_put(b, j);
            break;
        }
        struct blk_hdr h;
        read_hdr(e, &h);
        count(b, e, &h);
        uint8_t status;
        if (j && prepare_async(b, j, &h)) {
            j->queue = q;
            int r;
            if (!b->uring) {
                /*
                 * Nothing in flight and nothing behind it: a hand-off to an I/O thread would
                 * only add two wake-ups to this request's latency (a QD1 guest's every
                 * request), so it is served here. Requests that find others in flight or
                 * queued go to the threads and overlap.
                 */
                if (b->inline_off || b->inflight || vmm_virtq_avail_pending(vq)) {
                    vmm_virtio_blk_io_submit(b, j);
                    continue;
                }
                r = j->write ? vmm_disk_pwritev(b->disk, j->slice, j->nslice, j->off)
                             : vmm_disk_preadv(b->disk, j->slice, j->nslice, j->off);
                status = r < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
                b->stats.inline_io++;
            } else if (!b->inline_off && vmm_virtio_blk_uring_try_inline(b, j, &r)) {
                status = r < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
                b->stats.inline_io++;
            } else {
                vmm_virtio_blk_uring_queue(b, j);
                continue;
            }
        } else {
            status = serve(b, e, &h);
        }
        if (status != VIRTIO_BLK_S_OK)
            b->stats.errors++;
        (void)vmm_virtq_write(e, e->in_len - 1, &status, 1);
        vmm_virtq_push(vq, e, e->in_len);
        pushed = true;
        if (j)
            vmm_virtio_blk_io_put(b, j);
    }
    /* Everything this kick made ready goes to the kernel in one call. */
    if (b->uring)
        vmm_virtio_blk_uring_submit(b);
    if (pushed) {
        b->stats.interrupts++;
        vmm_virtio_queue_done(vdev, q);
    }
    return vq->budget_hit;
}

static void blk_reset(struct vmm_virtio_dev *vdev)
{
    struct vmm_virtio_blk *b = to_blk(vdev);
    /* Jobs in flight belong to the old rings: they complete into nothing. */
    b->generation++;
    b->starved = 0;
    /*
     * io_uring requests are waited for here (that needs no other thread), so
     * no write from before the reset lands after it. The I/O threads need
     * the lock to finish, so theirs finish later, into nothing.
     */
    if (b->uring)
        vmm_virtio_blk_uring_reap(b, true);
}

void vmm_virtio_blk_drain_locked(struct vmm_virtio_blk *b)
{
    if (b->uring)
        vmm_virtio_blk_uring_reap(b, true);
    while (b->inflight)
        pthread_cond_wait(&b->idle, b->vdev.lock);
}

void vmm_virtio_blk_drain(struct vmm_virtio_blk *b)
{
    pthread_mutex_lock(b->vdev.lock);
    vmm_virtio_blk_drain_locked(b);
    pthread_mutex_unlock(b->vdev.lock);
}

void vmm_virtio_blk_get_stats(struct vmm_virtio_blk *b, struct vmm_virtio_blk_stats *st)
{
    pthread_mutex_lock(b->vdev.lock);
    *st = b->stats;
    pthread_mutex_unlock(b->vdev.lock);
}

static const struct vmm_virtio_dev_ops blk_ops = {
    .features = blk_features,
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
};

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

int vmm_virtio_blk_init(struct vmm_virtio_blk *b, const struct vmm_virtio_blk_opts *o,
                        pthread_mutex_t *lock, const struct vmm_guest_mem *mem)
{
    unsigned nq = o->num_queues ? o->num_queues : 1;
    if (!o->disk || nq > VMM_VIRTIO_MAX_QUEUES || o->io_threads > VMM_VIRTIO_BLK_MAX_IO_THREADS)
        return -EINVAL;
    memset(b, 0, sizeof(*b));
    b->elem = malloc(sizeof(*b->elem));
    b->slice = malloc(VMM_VIRTQ_MAX_SEGS * sizeof(*b->slice));
    if (!b->elem || !b->slice) {
        free(b->elem);
        free(b->slice);
        return -ENOMEM;
    }
    b->disk = o->disk;
    b->read_only = o->read_only || vmm_disk_is_read_only(o->disk);
    b->capacity = vmm_disk_size(o->disk) / VIRTIO_BLK_SECTOR_SIZE;
    if (o->serial) {
        /* NUL-padded; a 20-byte serial has no terminator, as the spec allows. */
        size_t n = strnlen(o->serial, sizeof(b->serial));
        memcpy(b->serial, o->serial, n);
    }
    vmm_virtio_dev_init(&b->vdev, &blk_ops, VIRTIO_ID_BLOCK, lock, mem, b->queues, nq,
                        VMM_VIRTIO_BLK_QUEUE_SIZE, VIRTIO_BLK_CFG_SIZE);

    uint8_t *c = b->config;
    memcpy(c + VIRTIO_BLK_CFG_CAPACITY, &b->capacity, 8);
    /* Header and status take two descriptors of a chain the queue size long. */
    put32(c + VIRTIO_BLK_CFG_SEG_MAX, VMM_VIRTIO_BLK_QUEUE_SIZE - 2);
    put32(c + VIRTIO_BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR_SIZE);
    uint16_t nq16 = (uint16_t)nq;
    memcpy(c + VIRTIO_BLK_CFG_NUM_QUEUES, &nq16, 2);
    put32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VMM_VIRTIO_BLK_MAX_DWZ_SECTORS);
    put32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VMM_VIRTIO_BLK_MAX_DWZ_SEG);
    put32(c + VIRTIO_BLK_CFG_DISCARD_ALIGN, 8); /* 4 KiB granularity */
    put32(c + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, VMM_VIRTIO_BLK_MAX_DWZ_SECTORS);
    put32(c + VIRTIO_BLK_CFG_MAX_WZ_SEG, VMM_VIRTIO_BLK_MAX_DWZ_SEG);
    c[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;
    pthread_cond_init(&b->idle, NULL);
    pthread_mutex_init(&b->io_lock, NULL);
    pthread_cond_init(&b->io_cond, NULL);
    int r = -EOPNOTSUPP;
    if (o->io_uring) {
        r = vmm_virtio_blk_uring_start(b);
        if (r < 0 && r != -EOPNOTSUPP)
            vmm_log(VMM_LOG_INFO, "virtio-blk: no io_uring (%s): %s", strerror(-r),
                    o->io_threads ? "I/O threads" : "synchronous I/O");
    }
    if (r < 0)
        r = vmm_virtio_blk_io_start(b, o->io_threads);
    if (r < 0)
        vmm_virtio_blk_fini(b);
    return r;
}

void vmm_virtio_blk_fini(struct vmm_virtio_blk *b)
{
    if (!b->elem)
        return;
    vmm_virtio_blk_uring_stop(b);
    vmm_virtio_blk_io_stop(b);
    const struct vmm_virtio_blk_stats *s = &b->stats;
    if (s->reads + s->writes + s->flushes)
        vmm_log(
            VMM_LOG_INFO,
            "virtio-blk: %llu reads (%llu KiB), %llu writes (%llu KiB), %llu flushes, %llu "
            "other, %llu errors; %llu done inline, %llu through io_uring; %llu queue runs, %llu "
            "completion batches, %llu interrupt checks, at most %llu in flight",
            (unsigned long long)s->reads, (unsigned long long)(s->read_bytes >> 10),
            (unsigned long long)s->writes, (unsigned long long)(s->write_bytes >> 10),
            (unsigned long long)s->flushes, (unsigned long long)s->others,
            (unsigned long long)s->errors, (unsigned long long)s->inline_io,
            (unsigned long long)s->ring_io, (unsigned long long)s->notifies,
            (unsigned long long)s->completions, (unsigned long long)s->interrupts,
            (unsigned long long)s->max_inflight);
    free(b->jobs);
    b->jobs = NULL;
    b->free_jobs = NULL;
    pthread_cond_destroy(&b->idle);
    pthread_mutex_destroy(&b->io_lock);
    pthread_cond_destroy(&b->io_cond);
    free(b->elem);
    free(b->slice);
    b->elem = NULL;
    b->slice = NULL;
}
