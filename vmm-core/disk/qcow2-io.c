/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 guest I/O: reads through L1/L2 (with backing files, zero and
 * compressed clusters) and allocating writes with copy-on-write. Mapping
 * lookups, allocation and metadata updates run under the image mutex; guest
 * data moves between the caller's vector and the file without it, so
 * requests from several threads overlap (see struct qcow2 for how flushes
 * and snapshots wait for them).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <zlib.h>
#include <zstd.h>

#include "disk/qcow2.h"

/* ---- L2 entries ---- */

enum qcow2_ctype qcow2_classify(struct qcow2 *q, uint64_t entry, uint64_t *host)
{
    if (entry & QCOW2_COMPRESSED) {
        *host = entry & q->coffset_mask;
        return QCOW2_COMPRESSED_CLUSTER;
    }
    *host = entry & QCOW2_OFFSET_MASK;
    if (q->version >= 3 && (entry & QCOW2_ZERO))
        return QCOW2_ZERO_CLUSTER;
    return *host ? QCOW2_NORMAL : QCOW2_UNALLOCATED;
}

void qcow2_compressed_range(struct qcow2 *q, uint64_t entry, uint64_t *off, uint64_t *len)
{
    uint64_t host = entry & q->coffset_mask;
    uint64_t sectors = ((entry >> q->csize_shift) & q->csize_mask) + 1;
    *off = host & ~511ull;
    *len = sectors * 512;
}

int qcow2_check_entry(struct qcow2 *q, uint64_t entry, enum qcow2_ctype *type, uint64_t *host)
{
    *type = qcow2_classify(q, entry, host);
    switch (*type) {
    case QCOW2_NORMAL:
    case QCOW2_ZERO_CLUSTER:
        if (*host & (q->cluster_size - 1))
            return qcow2_corrupt(q, "an L2 entry points at the unaligned offset 0x%llx",
                                 (unsigned long long)*host);
        if (*host && *host < q->cluster_size)
            return qcow2_corrupt(q, "an L2 entry points at the image header");
        break;
    case QCOW2_COMPRESSED_CLUSTER:
        if (*host < q->cluster_size || *host >= q->file_size)
            return qcow2_corrupt(q, "a compressed cluster lies outside the file (0x%llx)",
                                 (unsigned long long)*host);
        break;
    case QCOW2_UNALLOCATED:
        break;
    }
    return 0;
}

/* ---- I/O vectors ---- */

/* A position in a caller's I/O vector. */
struct iovc {
    const struct iovec *iov;
    unsigned n, i;
    size_t in; /* bytes of iov[i] already consumed */
};

enum iovc_op { IOVC_GATHER, IOVC_SCATTER, IOVC_ZERO, IOVC_SKIP };

/* Moves len bytes between the vector and buf (or zeroes/skips them), advancing. */
static void iovc_move(struct iovc *c, enum iovc_op op, uint8_t *buf, uint64_t len)
{
    while (len && c->i < c->n) {
        uint8_t *p = (uint8_t *)c->iov[c->i].iov_base + c->in;
        size_t room = c->iov[c->i].iov_len - c->in;
        size_t k = len < room ? (size_t)len : room;
        if (op == IOVC_GATHER)
            memcpy(buf, p, k);
        else if (op == IOVC_SCATTER)
            memcpy(p, buf, k);
        else if (op == IOVC_ZERO)
            memset(p, 0, k);
        if (buf)
            buf += k;
        c->in += k;
        len -= k;
        if (c->in == c->iov[c->i].iov_len) {
            c->i++;
            c->in = 0;
        }
    }
}

/* The next len bytes as iovecs in out (room for c->n entries), advancing: the count. */
static unsigned iovc_slice(struct iovc *c, uint64_t len, struct iovec *out)
{
    unsigned k = 0;
    while (len && c->i < c->n) {
        size_t room = c->iov[c->i].iov_len - c->in;
        size_t t = len < room ? (size_t)len : room;
        if (t) {
            out[k].iov_base = (uint8_t *)c->iov[c->i].iov_base + c->in;
            out[k].iov_len = t;
            k++;
        }
        c->in += t;
        len -= t;
        if (c->in == c->iov[c->i].iov_len) {
            c->i++;
            c->in = 0;
        }
    }
    return k;
}

/* One guest request: its data and scratch room for slices of it. */
struct qreq {
    struct iovc c;
    struct iovec *slice; /* c.n entries */
};

/* preadv/pwritev on the image file until done; reads past its end give zeros. */
static int host_rw(int fd, bool write, struct iovec *iov, unsigned n, uint64_t off)
{
    while (n) {
        int cnt = n > IOV_MAX ? IOV_MAX : (int)n;
        ssize_t d = write ? pwritev(fd, iov, cnt, (off_t)off) : preadv(fd, iov, cnt, (off_t)off);
        if (d < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (d == 0) {
            if (write)
                return -EIO;
            for (unsigned i = 0; i < n; i++)
                memset(iov[i].iov_base, 0, iov[i].iov_len);
            return 0;
        }
        off += (uint64_t)d;
        while (n && (size_t)d >= iov->iov_len) {
            d -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n) {
            iov->iov_base = (uint8_t *)iov->iov_base + d;
            iov->iov_len -= (size_t)d;
        }
    }
    return 0;
}

/* ---- transfers outside the lock ---- */

void qcow2_drain(struct qcow2 *q)
{
    q->draining++;
    while (q->inflight)
        pthread_cond_wait(&q->cond, &q->lock);
}

void qcow2_undrain(struct qcow2 *q)
{
    q->draining--;
    pthread_cond_broadcast(&q->cond);
}

static bool busy_overlaps(struct qcow2 *q, uint64_t start, uint64_t end)
{
    for (struct qcow2_busy_range *b = q->busy; b; b = b->next)
        if (b->start < end && start < b->end)
            return true;
    return false;
}

/*
 * Lock held: waits until no drain is pending and, for a writer, no write in
 * flight overlaps [start, end). What was looked up before may be stale after.
 */
void qcow2_wait_turn(struct qcow2 *q, uint64_t start, uint64_t end)
{
    while (q->draining || (end > start && busy_overlaps(q, start, end)))
        pthread_cond_wait(&q->cond, &q->lock);
}

/*
 * Moves len bytes of the request between its vector and the image file at
 * host (or, with from, the backing image at guest offset host) without the
 * lock. The lock is held again on return; nothing looked up before is.
 */
static int transfer(struct qcow2 *q, struct qreq *rq, bool write, uint64_t len, uint64_t host,
                    struct vmm_disk *from)
{
    unsigned k = iovc_slice(&rq->c, len, rq->slice);
    int r;

    q->inflight++;
    pthread_mutex_unlock(&q->lock);
    if (from)
        r = vmm_disk_preadv(from, rq->slice, k, host);
    else
        r = host_rw(q->fd, write, rq->slice, k, host);
    pthread_mutex_lock(&q->lock);
    q->inflight--;
    if (write) {
        /* Written since the last barrier, wherever that barrier ran. */
        q->unsynced = true;
        if (host + len > q->file_size)
            q->file_size = host + len;
    }
    if (!q->inflight && q->draining)
        pthread_cond_broadcast(&q->cond);
    return r;
}

/* An unlocked write of len bytes to host, guest range [start, end) marked busy meanwhile. */
static int write_busy(struct qcow2 *q, struct qreq *rq, uint64_t len, uint64_t host, uint64_t start,
                      uint64_t end)
{
    struct qcow2_busy_range busy = {start, end, q->busy};
    q->busy = &busy;
    int r = transfer(q, rq, true, len, host, NULL);
    struct qcow2_busy_range **pp = &q->busy;
    while (*pp != &busy)
        pp = &(*pp)->next;
    *pp = busy.next;
    pthread_cond_broadcast(&q->cond);
    return r;
}

/* ---- reads ---- */

/* Guest bytes of an unallocated run: the backing image's (read unlocked), zeros past it. */
static int read_unallocated_v(struct qcow2 *q, struct qreq *rq, uint64_t len, uint64_t off)
{
    uint64_t have = 0;

    if (q->backing) {
        uint64_t bsize = vmm_disk_size(q->backing);
        if (off < bsize) {
            have = vmm_min_u64(len, bsize - off);
            int r = transfer(q, rq, false, have, off, q->backing);
            if (r < 0)
                return r;
        }
    }
    iovc_move(&rq->c, IOVC_ZERO, NULL, len - have);
    return 0;
}

/* The same into a buffer, lock held throughout (copy-on-write merges). */
static int read_unallocated(struct qcow2 *q, uint8_t *buf, uint64_t len, uint64_t off)
{
    uint64_t have = 0;

    if (q->backing) {
        uint64_t bsize = vmm_disk_size(q->backing);
        if (off < bsize) {
            have = vmm_min_u64(len, bsize - off);
            int r = vmm_disk_pread(q->backing, buf, (size_t)have, off);
            if (r < 0)
                return r;
        }
    }
    memset(buf + have, 0, (size_t)(len - have));
    return 0;
}

/* Each cluster of [host, host+len) must start inside the file; the last may end short. */
static int check_in_file(struct qcow2 *q, uint64_t len, uint64_t host)
{
    uint64_t last = (host + len - 1) & ~(q->cluster_size - 1);
    if (last >= q->file_size)
        return qcow2_corrupt(q, "data at 0x%llx lies beyond the end of the file (truncated?)",
                             (unsigned long long)last);
    return 0;
}

static int read_host(struct qcow2 *q, uint8_t *buf, uint64_t len, uint64_t host)
{
    int r = check_in_file(q, len, host);
    return r < 0 ? r : qcow2_pread_file(q, buf, (size_t)len, host);
}

static int inflate_zlib(struct qcow2 *q, size_t in_len)
{
    z_stream *z = q->zstream;

    if (!z) {
        z = calloc(1, sizeof(*z));
        if (!z)
            return -ENOMEM;
        /* Raw deflate, no zlib header; 15 bits decodes any smaller window too. */
        if (inflateInit2(z, -15) != Z_OK) {
            free(z);
            return -ENOMEM;
        }
        q->zstream = z;
    } else if (inflateReset(z) != Z_OK) {
        return -EIO;
    }
    z->next_in = q->cbuf;
    z->avail_in = (uInt)in_len;
    z->next_out = q->dbuf;
    z->avail_out = (uInt)q->cluster_size;
    int ret = inflate(z, Z_FINISH);
    if (z->avail_out != 0 || (ret != Z_STREAM_END && ret != Z_OK && ret != Z_BUF_ERROR))
        return 1;
    return 0;
}

static int inflate_zstd(struct qcow2 *q, size_t in_len)
{
    if (!q->zstd) {
        q->zstd = ZSTD_createDCtx();
        if (!q->zstd)
            return -ENOMEM;
        /* A cluster is at most 2 MiB: refuse frames that ask for absurd windows. */
        ZSTD_DCtx_setParameter(q->zstd, ZSTD_d_windowLogMax, 23);
    } else {
        ZSTD_DCtx_reset(q->zstd, ZSTD_reset_session_only);
    }
    ZSTD_inBuffer in = {q->cbuf, in_len, 0};
    ZSTD_outBuffer out = {q->dbuf, (size_t)q->cluster_size, 0};
    while (out.pos < out.size) {
        size_t in_before = in.pos, out_before = out.pos;
        size_t ret = ZSTD_decompressStream(q->zstd, &out, &in);
        if (ZSTD_isError(ret))
            return 1;
        if (in.pos == in_before && out.pos == out_before)
            break;
    }
    return out.pos == out.size ? 0 : 1;
}

/* Decompresses the cluster described by entry into q->dbuf. */
static int read_compressed(struct qcow2 *q, uint64_t entry)
{
    uint64_t host = entry & q->coffset_mask;
    uint64_t sectors = ((entry >> q->csize_shift) & q->csize_mask) + 1;
    uint64_t csize = sectors * 512 - (host & 511);
    int r;

    if (q->dbuf_key == entry)
        return 0;
    if (host >= q->file_size)
        return qcow2_corrupt(q, "a compressed cluster lies beyond the end of the file");
    /* The last compressed cluster may end short of its final sector. */
    csize = vmm_min_u64(csize, q->file_size - host);
    r = qcow2_pread_file(q, q->cbuf, (size_t)csize, host);
    if (r < 0)
        return r;
    q->dbuf_key = 0;
    r = q->compression_type == QCOW2_COMPRESSION_ZSTD ? inflate_zstd(q, (size_t)csize)
                                                      : inflate_zlib(q, (size_t)csize);
    if (r < 0)
        return r;
    if (r > 0)
        return qcow2_corrupt(q, "the compressed cluster at 0x%llx cannot be decompressed",
                             (unsigned long long)host);
    q->dbuf_key = entry;
    return 0;
}

int qcow2_l2_table_offset(struct qcow2 *q, uint64_t l1i, uint64_t *l2off)
{
    if (l1i >= q->l1_size)
        return qcow2_corrupt(q, "a guest offset lies beyond the L1 table");
    *l2off = q->l1[l1i] & QCOW2_OFFSET_MASK;
    if (*l2off &&
        (!qcow2_valid_table_offset(q, *l2off) || qcow2_overlaps_static(q, *l2off, q->cluster_size)))
        return qcow2_corrupt(q, "L1 entry %llu points at an invalid L2 table offset 0x%llx",
                             (unsigned long long)l1i, (unsigned long long)*l2off);
    return 0;
}

/*
 * The run that starts at guest offset off (at most len bytes, inside one L2
 * table's span): clusters that read the same way, host-contiguous if
 * allocated. *entry is its first L2 entry (0 when the table is missing).
 */
static int map_run(struct qcow2 *q, uint64_t off, uint64_t len, uint64_t *entry,
                   enum qcow2_ctype *type, uint64_t *host, uint64_t *run)
{
    const uint64_t cs = q->cluster_size;
    uint64_t l2off, in = off & (cs - 1);
    void *tv;
    int r = qcow2_l2_table_offset(q, off >> (q->cluster_bits + q->l2_bits), &l2off);

    *entry = 0;
    *type = QCOW2_UNALLOCATED;
    *host = 0;
    *run = len;
    if (r < 0 || !l2off)
        return r;
    r = qcow2_cache_get(q, &q->l2_cache, l2off, true, &tv);
    if (r < 0)
        return r;
    const uint8_t *table = tv;
    uint64_t i = (off >> q->cluster_bits) & (q->l2_entries - 1);
    *entry = qcow2_be64(table + i * 8);
    r = qcow2_check_entry(q, *entry, type, host);
    uint64_t n = vmm_min_u64(len, cs - in);
    if (r == 0 && *type != QCOW2_COMPRESSED_CLUSTER) {
        uint64_t j = i + 1, next = *host + cs;
        while (n < len && j < q->l2_entries) {
            uint64_t h2;
            enum qcow2_ctype t2;
            r = qcow2_check_entry(q, qcow2_be64(table + j * 8), &t2, &h2);
            if (r < 0)
                break;
            if (t2 != *type || (*type == QCOW2_NORMAL && h2 != next))
                break;
            n += vmm_min_u64(len - n, cs);
            j++;
            next += cs;
        }
    }
    qcow2_cache_put(q, &q->l2_cache, tv);
    *run = n;
    return r;
}

static int read_vec(struct qcow2 *q, struct qreq *rq, uint64_t len, uint64_t off)
{
    const uint64_t span_bits = q->cluster_bits + q->l2_bits;
    int r = 0;

    while (r == 0 && len) {
        uint64_t l1i = off >> span_bits;
        uint64_t entry, host, n;
        enum qcow2_ctype type;

        qcow2_wait_turn(q, 0, 0);
        r = map_run(q, off, vmm_min_u64(len, ((l1i + 1) << span_bits) - off), &entry, &type, &host,
                    &n);
        if (r < 0)
            break;
        switch (type) {
        case QCOW2_UNALLOCATED:
            r = read_unallocated_v(q, rq, n, off);
            break;
        case QCOW2_ZERO_CLUSTER:
            iovc_move(&rq->c, IOVC_ZERO, NULL, n);
            break;
        case QCOW2_COMPRESSED_CLUSTER:
            r = read_compressed(q, entry);
            if (r == 0)
                iovc_move(&rq->c, IOVC_SCATTER, q->dbuf + (off & (q->cluster_size - 1)), n);
            break;
        case QCOW2_NORMAL:
            host += off & (q->cluster_size - 1);
            r = check_in_file(q, n, host);
            if (r == 0)
                r = transfer(q, rq, false, n, host, NULL);
            break;
        }
        off += n;
        len -= n;
    }
    return r;
}

/* ---- writes ---- */

/* Points L1 entry l1i at a freshly written L2 table, once that table and its refcount are safe. */
static int install_l1(struct qcow2 *q, uint64_t l1i, uint64_t l2off)
{
    uint64_t old = q->l1[l1i];
    uint8_t be[8];
    int r = qcow2_cache_flush(q, &q->rb_cache);
    if (r < 0)
        return r;
    r = qcow2_barrier(q);
    if (r < 0)
        return r;
    q->l1[l1i] = l2off | QCOW2_COPIED;
    if (l1i >= q->l1_used)
        q->l1_used = l1i + 1;
    qcow2_put_be64(be, q->l1[l1i]);
    r = qcow2_pwrite_file(q, be, 8, q->l1_offset + l1i * 8);
    if (r < 0)
        q->l1[l1i] = old;
    return r;
}

/*
 * The L2 table for l1i, ready to modify: allocated if missing (when alloc),
 * copied first if it is shared with a snapshot. *table is NULL if there is
 * none and alloc is false. Pinned: release with qcow2_cache_put.
 */
int qcow2_get_l2_for_write(struct qcow2 *q, uint64_t l1i, bool alloc, void **table)
{
    uint64_t l2off, rc, fresh;
    void *t, *nt;
    int r;

    *table = NULL;
    r = qcow2_l2_table_offset(q, l1i, &l2off);
    if (r < 0)
        return r;
    if (!l2off) {
        if (!alloc)
            return 0;
        r = qcow2_alloc_clusters(q, 1, &fresh);
        if (r < 0)
            return r;
        r = qcow2_cache_get(q, &q->l2_cache, fresh, false, &nt);
        if (r < 0)
            return r;
        r = qcow2_pwrite_file(q, nt, q->cluster_size, fresh);
        if (r == 0)
            r = install_l1(q, l1i, fresh);
        if (r < 0) {
            qcow2_cache_put(q, &q->l2_cache, nt);
            return r;
        }
        *table = nt;
        return 0;
    }

    r = qcow2_get_refcount(q, l2off >> q->cluster_bits, &rc);
    if (r < 0)
        return r;
    if (rc == 0)
        return qcow2_corrupt(q, "the L2 table at 0x%llx has a zero refcount",
                             (unsigned long long)l2off);
    r = qcow2_cache_get(q, &q->l2_cache, l2off, true, &t);
    if (r < 0)
        return r;
    if (rc == 1) {
        if (!(q->l1[l1i] & QCOW2_COPIED)) {
            uint8_t be[8];
            q->l1[l1i] |= QCOW2_COPIED;
            qcow2_put_be64(be, q->l1[l1i]);
            r = qcow2_pwrite_file(q, be, 8, q->l1_offset + l1i * 8);
            if (r < 0) {
                qcow2_cache_put(q, &q->l2_cache, t);
                return r;
            }
        }
        *table = t;
        return 0;
    }

    /* Shared with a snapshot: write to a private copy. Its clusters stay shared. */
    r = qcow2_alloc_clusters(q, 1, &fresh);
    if (r == 0)
        r = qcow2_cache_get(q, &q->l2_cache, fresh, false, &nt);
    if (r < 0) {
        qcow2_cache_put(q, &q->l2_cache, t);
        return r;
    }
    memcpy(nt, t, q->cluster_size);
    qcow2_cache_put(q, &q->l2_cache, t);
    for (uint64_t i = 0; i < q->l2_entries; i++) {
        uint8_t *p = (uint8_t *)nt + i * 8;
        qcow2_put_be64(p, qcow2_be64(p) & ~QCOW2_COPIED);
    }
    r = qcow2_pwrite_file(q, nt, q->cluster_size, fresh);
    if (r == 0)
        r = install_l1(q, l1i, fresh);
    if (r == 0)
        r = qcow2_defer_free(q, l2off, q->cluster_size);
    if (r < 0) {
        qcow2_cache_put(q, &q->l2_cache, nt);
        return r;
    }
    *table = nt;
    return 0;
}

/* Whether a checked entry maps a private host cluster that can be written where it is. */
int qcow2_writable_in_place(struct qcow2 *q, enum qcow2_ctype type, uint64_t host, bool *ok)
{
    uint64_t rc;

    *ok = false;
    if (!(type == QCOW2_NORMAL || (type == QCOW2_ZERO_CLUSTER && host)))
        return 0;
    int r = qcow2_get_refcount(q, host >> q->cluster_bits, &rc);
    if (r < 0)
        return r;
    if (rc == 0)
        return qcow2_corrupt(q, "the cluster at 0x%llx is in use but has a zero refcount",
                             (unsigned long long)host);
    *ok = rc == 1;
    return 0;
}

/* An existing data cluster about to be written in place: inside the file, off the metadata. */
static int check_data_target(struct qcow2 *q, uint64_t host, uint64_t len)
{
    int r = check_in_file(q, len, host);
    if (r < 0)
        return r;
    if (qcow2_overlaps_metadata(q, host, len) || qcow2_cache_overlaps(q, &q->l2_cache, host, len) ||
        qcow2_cache_overlaps(q, &q->rb_cache, host, len))
        return qcow2_corrupt(q, "a guest write would overwrite metadata at 0x%llx",
                             (unsigned long long)host);
    return 0;
}

/* The current contents of one guest cluster, as a reader would see them. */
static int read_old_cluster(struct qcow2 *q, uint64_t entry, uint64_t guest, uint8_t *dst)
{
    enum qcow2_ctype type;
    uint64_t host;
    int r = qcow2_check_entry(q, entry, &type, &host);

    if (r < 0)
        return r;
    switch (type) {
    case QCOW2_UNALLOCATED:
        return read_unallocated(q, dst, q->cluster_size, guest);
    case QCOW2_ZERO_CLUSTER:
        memset(dst, 0, q->cluster_size);
        return 0;
    case QCOW2_NORMAL:
        return read_host(q, dst, q->cluster_size, host);
    case QCOW2_COMPRESSED_CLUSTER:
        r = read_compressed(q, entry);
        if (r == 0)
            memcpy(dst, q->dbuf, q->cluster_size);
        return r;
    }
    return -EINVAL;
}

/*
 * One partial cluster of a new allocation: its old contents (entry, at
 * guest offset guest) merged with len bytes of c at cin, written to host.
 */
static int write_merged(struct qcow2 *q, struct iovc *c, uint64_t entry, uint64_t guest,
                        uint64_t cin, uint64_t len, uint64_t host)
{
    int r = read_old_cluster(q, entry, guest, q->cow_buf);
    if (r < 0)
        return r;
    iovc_move(c, IOVC_GATHER, q->cow_buf + cin, len);
    return qcow2_pwrite_file(q, q->cow_buf, q->cluster_size, host);
}

/*
 * Writes the len bytes at guest offset off into k newly allocated clusters
 * at host (L2 index i of table l1i, pinned in table, which this releases).
 * Partial first and last clusters are merged with their old contents under
 * the lock; the whole clusters between go unlocked; then the L2 entries
 * point at the new clusters (guest data before the mapping).
 */
static int write_new(struct qcow2 *q, struct qreq *rq, uint64_t l1i, uint8_t *table, uint64_t i,
                     uint64_t k, uint64_t host, uint64_t len, uint64_t off)
{
    const uint64_t cs = q->cluster_size;
    const uint64_t base = off & ~(cs - 1), cin = off & (cs - 1);
    uint64_t head = 0, tail = 0;
    int r = 0;

    if (cin || len < cs)
        head = vmm_min_u64(len, cs - cin); /* the first cluster is partial */
    if (k > 1 && (cin + len) & (cs - 1))
        tail = (cin + len) & (cs - 1); /* so is the last */
    uint64_t mid = len - head - tail;

    if (head)
        r = write_merged(q, &rq->c, qcow2_be64(table + i * 8), base, cin, head, host);
    if (r == 0 && tail) {
        struct iovc tc = rq->c;
        iovc_move(&tc, IOVC_SKIP, NULL, mid);
        r = write_merged(q, &tc, qcow2_be64(table + (i + k - 1) * 8), base + (k - 1) * cs, 0, tail,
                         host + (k - 1) * cs);
    }
    qcow2_cache_put(q, &q->l2_cache, table);
    if (r == 0 && mid) {
        r = write_busy(q, rq, mid, host + (head ? cs : 0), base, base + k * cs);
    }
    iovc_move(&rq->c, IOVC_SKIP, NULL, tail);
    if (r == 0) {
        void *tv;
        r = qcow2_get_l2_for_write(q, l1i, false, &tv);
        if (r == 0 && !tv)
            r = qcow2_corrupt(q, "an L2 table vanished during a write");
        if (r < 0)
            return r;
        table = tv;
        /* Data is written: now the mapping (made durable later, after the refcounts). */
        for (uint64_t j = 0; r == 0 && j < k; j++) {
            uint8_t *p = table + (i + j) * 8;
            uint64_t old = qcow2_be64(p);
            qcow2_put_be64(p, (host + j * cs) | QCOW2_COPIED);
            r = qcow2_free_entry(q, old);
        }
        qcow2_cache_mark_dirty(q, &q->l2_cache, table);
        qcow2_cache_put(q, &q->l2_cache, table);
        return r;
    }
    /* Nothing points at the new clusters: give them back at the next flush. */
    (void)qcow2_defer_free(q, host, k * cs);
    return r;
}

/* An existing private run rewritten where it is, unlocked; table (pinned) is released. */
static int write_in_place(struct qcow2 *q, struct qreq *rq, uint8_t *table, uint64_t i, uint64_t j,
                          uint64_t host, uint64_t len, uint64_t off)
{
    const uint64_t cs = q->cluster_size;
    int r = check_data_target(q, host & ~(cs - 1), (j - i) * cs);
    bool dirty = false;

    for (uint64_t x = i; r == 0 && x < j; x++) {
        uint64_t e = qcow2_be64(table + x * 8);
        if (!(e & QCOW2_COPIED)) {
            qcow2_put_be64(table + x * 8, e | QCOW2_COPIED);
            dirty = true;
        }
    }
    if (dirty)
        qcow2_cache_mark_dirty(q, &q->l2_cache, table);
    qcow2_cache_put(q, &q->l2_cache, table);
    if (r < 0)
        return r;
    return write_busy(q, rq, len, host, off, off + len);
}

/*
 * Writes the first piece of [off, off+*len) (inside one L2 table's span):
 * a run of clusters written the same way. *len becomes what was written.
 */
static int write_piece(struct qcow2 *q, struct qreq *rq, uint64_t l1i, uint64_t *len, uint64_t off)
{
    const uint64_t cs = q->cluster_size;
    uint64_t want = *len;
    void *tv;
    int r;

    qcow2_wait_turn(q, off & ~(cs - 1), (off + want + cs - 1) & ~(cs - 1));
    if (q->broken)
        return -EIO;
    r = qcow2_get_l2_for_write(q, l1i, true, &tv);
    if (r < 0)
        return r;
    uint8_t *table = tv;
    uint64_t i = (off >> q->cluster_bits) & (q->l2_entries - 1);
    uint64_t in = off & (cs - 1);
    uint64_t n = vmm_min_u64(want, cs - in);
    uint64_t entry = qcow2_be64(table + i * 8), host;
    enum qcow2_ctype type;
    bool ok;

    r = qcow2_check_entry(q, entry, &type, &host);
    if (r == 0)
        r = qcow2_writable_in_place(q, type, host, &ok);
    if (r < 0)
        goto fail;
    if (ok && type == QCOW2_NORMAL) {
        /* Over as many host-contiguous private clusters as follow. */
        uint64_t j = i + 1, next = host + cs;
        while (n < want && j < q->l2_entries) {
            uint64_t h2;
            enum qcow2_ctype t2;
            bool ok2;
            r = qcow2_check_entry(q, qcow2_be64(table + j * 8), &t2, &h2);
            if (r == 0)
                r = qcow2_writable_in_place(q, t2, h2, &ok2);
            if (r < 0)
                goto fail;
            if (t2 != QCOW2_NORMAL || !ok2 || h2 != next)
                break;
            n += vmm_min_u64(want - n, cs);
            j++;
            next += cs;
        }
        *len = n;
        return write_in_place(q, rq, table, i, j, host + in, n, off);
    }
    if (ok) {
        /* A preallocated zero cluster: fill it and clear the zero flag. */
        r = check_data_target(q, host, cs);
        if (r < 0)
            goto fail;
        memset(q->cow_buf, 0, cs);
        iovc_move(&rq->c, IOVC_GATHER, q->cow_buf + in, n);
        r = qcow2_pwrite_file(q, q->cow_buf, cs, host);
        if (r == 0) {
            qcow2_put_be64(table + i * 8, host | QCOW2_COPIED);
            qcow2_cache_mark_dirty(q, &q->l2_cache, table);
        }
        qcow2_cache_put(q, &q->l2_cache, table);
        *len = n;
        return r;
    }
    /* New clusters for this one and every following one that cannot be written in place. */
    uint64_t k = 1;
    while (n < want && i + k < q->l2_entries && k < 512) {
        uint64_t h2;
        enum qcow2_ctype t2;
        bool ok2;
        r = qcow2_check_entry(q, qcow2_be64(table + (i + k) * 8), &t2, &h2);
        if (r == 0)
            r = qcow2_writable_in_place(q, t2, h2, &ok2);
        if (r < 0)
            goto fail;
        if (ok2)
            break;
        n += vmm_min_u64(want - n, cs);
        k++;
    }
    /* Take the first free run even if shorter: holes get filled, the file stays dense. */
    uint64_t fresh, got;
    r = qcow2_alloc_range(q, k, 1, &fresh, &got);
    if (r < 0)
        goto fail;
    if (got < k)
        n = vmm_min_u64(n, got * cs - in);
    *len = n;
    return write_new(q, rq, l1i, table, i, got, fresh, n, off);
fail:
    qcow2_cache_put(q, &q->l2_cache, table);
    return r;
}

int qcow2_writable_state(struct qcow2 *q)
{
    if (q->broken)
        return -EIO;
    return q->writable ? 0 : -EROFS;
}

/* Applies the queued refcount decrements once enough have piled up (no transfer of ours runs). */
int qcow2_settle_frees(struct qcow2 *q)
{
    if (q->n_pending <= QCOW2_PENDING_FREE_MAX)
        return 0;
    qcow2_drain(q);
    int r = q->n_pending > QCOW2_PENDING_FREE_MAX ? qcow2_flush_metadata(q) : 0;
    qcow2_undrain(q);
    return r;
}

static int write_vec(struct qcow2 *q, struct qreq *rq, uint64_t len, uint64_t off)
{
    const uint64_t span_bits = q->cluster_bits + q->l2_bits;
    int r = qcow2_writable_state(q);

    while (r == 0 && len) {
        uint64_t l1i = off >> span_bits;
        uint64_t n = vmm_min_u64(len, ((l1i + 1) << span_bits) - off);
        r = write_piece(q, rq, l1i, &n, off);
        off += n;
        len -= n;
    }
    if (r == 0)
        r = qcow2_settle_frees(q);
    return r;
}

int qcow2_write_buf(struct qcow2 *q, const void *buf, uint64_t len, uint64_t off)
{
    struct iovec v = {(void *)buf, (size_t)len}, slice[1];
    struct qreq rq = {.c = {.iov = &v, .n = 1}, .slice = slice};
    return write_vec(q, &rq, len, off);
}

/* Runs a read or write of the vector iov[0..n) at guest offset off, taking the lock. */
static int rw_vec(struct qcow2 *q, bool write, const struct iovec *iov, unsigned n, uint64_t off)
{
    struct iovec small[16];
    struct qreq rq = {.c = {.iov = iov, .n = n}, .slice = small};
    uint64_t len = 0;
    int r;

    for (unsigned i = 0; i < n; i++)
        len += iov[i].iov_len;
    if (n > 16 && !(rq.slice = malloc(n * sizeof(*rq.slice))))
        return -ENOMEM;
    pthread_mutex_lock(&q->lock);
    r = write ? write_vec(q, &rq, len, off) : read_vec(q, &rq, len, off);
    pthread_mutex_unlock(&q->lock);
    if (rq.slice != small)
        free(rq.slice);
    return r;
}

static int qcow2_preadv(struct vmm_disk *disk, const struct iovec *iov, unsigned n, uint64_t off)
{
    return rw_vec(to_qcow2(disk), false, iov, n, off);
}

static int qcow2_pwritev(struct vmm_disk *disk, const struct iovec *iov, unsigned n, uint64_t off)
{
    return rw_vec(to_qcow2(disk), true, iov, n, off);
}

static int qcow2_pread(struct vmm_disk *disk, void *buf, size_t len, uint64_t off)
{
    struct iovec v = {buf, len};
    return rw_vec(to_qcow2(disk), false, &v, 1, off);
}

static int qcow2_pwrite(struct vmm_disk *disk, const void *buf, size_t len, uint64_t off)
{
    struct iovec v = {(void *)buf, len};
    return rw_vec(to_qcow2(disk), true, &v, 1, off);
}

const struct vmm_disk_ops vmm_disk_qcow2_ops = {
    .name = "qcow2",
    .instance_size = sizeof(struct qcow2),
    .open = qcow2_open,
    .close = qcow2_close,
    .pread = qcow2_pread,
    .pwrite = qcow2_pwrite,
    .preadv = qcow2_preadv,
    .pwritev = qcow2_pwritev,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .get_info = qcow2_get_info,
    .snapshot_list = qcow2_snapshot_list,
    .snapshot_create = qcow2_snapshot_create,
    .snapshot_apply = qcow2_snapshot_apply,
    .snapshot_delete = qcow2_snapshot_delete,
    .snapshot_rename = qcow2_snapshot_rename,
};
