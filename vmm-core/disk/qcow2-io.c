/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 guest I/O: reads through L1/L2 (with backing files, zero and
 * compressed clusters), allocating writes with copy-on-write, discard and
 * write-zeroes. Every request runs under the image mutex.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "disk/qcow2.h"

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

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

/* ---- reads ---- */

static int read_unallocated(struct qcow2 *q, uint8_t *buf, uint64_t len, uint64_t off)
{
    uint64_t have = 0;

    if (q->backing) {
        uint64_t bsize = vmm_disk_size(q->backing);
        if (off < bsize) {
            have = min_u64(len, bsize - off);
            int r = vmm_disk_pread(q->backing, buf, (size_t)have, off);
            if (r < 0)
                return r;
        }
    }
    memset(buf + have, 0, (size_t)(len - have));
    return 0;
}

static int read_host(struct qcow2 *q, uint8_t *buf, uint64_t len, uint64_t host)
{
    /* Each cluster must start inside the file; the last one may end short of a full cluster. */
    uint64_t last = (host + len - 1) & ~(q->cluster_size - 1);
    if (last >= q->file_size)
        return qcow2_corrupt(q, "data at 0x%llx lies beyond the end of the file (truncated?)",
                             (unsigned long long)last);
    return qcow2_pread_file(q, buf, (size_t)len, host);
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
    csize = min_u64(csize, q->file_size - host);
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

/* Reads a run inside one L2 table's span; table NULL means the L2 table is unallocated. */
static int read_l2_range(struct qcow2 *q, const uint8_t *table, uint8_t *buf, uint64_t len,
                         uint64_t off)
{
    const uint64_t cs = q->cluster_size;
    int r;

    if (!table)
        return read_unallocated(q, buf, len, off);
    while (len) {
        uint64_t i = (off >> q->cluster_bits) & (q->l2_entries - 1);
        uint64_t in = off & (cs - 1);
        uint64_t n = min_u64(len, cs - in);
        uint64_t entry = qcow2_be64(table + i * 8), host;
        enum qcow2_ctype type;

        r = qcow2_check_entry(q, entry, &type, &host);
        if (r < 0)
            return r;
        if (type == QCOW2_COMPRESSED_CLUSTER) {
            r = read_compressed(q, entry);
            if (r < 0)
                return r;
            memcpy(buf, q->dbuf + in, (size_t)n);
        } else {
            /* Extend over following clusters that read the same way. */
            uint64_t j = i + 1, next = host + cs;
            while (n < len && j < q->l2_entries) {
                uint64_t h2;
                enum qcow2_ctype t2;
                r = qcow2_check_entry(q, qcow2_be64(table + j * 8), &t2, &h2);
                if (r < 0)
                    return r;
                if (t2 != type || (type == QCOW2_NORMAL && h2 != next))
                    break;
                n += min_u64(len - n, cs);
                j++;
                next += cs;
            }
            if (type == QCOW2_UNALLOCATED)
                r = read_unallocated(q, buf, n, off);
            else if (type == QCOW2_ZERO_CLUSTER)
                memset(buf, 0, (size_t)n);
            else
                r = read_host(q, buf, n, host + in);
            if (r < 0)
                return r;
        }
        buf += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int l2_table_offset(struct qcow2 *q, uint64_t l1i, uint64_t *l2off)
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

static int read_locked(struct qcow2 *q, uint8_t *buf, uint64_t len, uint64_t off)
{
    const uint64_t span_bits = q->cluster_bits + q->l2_bits;

    while (len) {
        uint64_t l1i = off >> span_bits, l2off;
        uint64_t n = min_u64(len, ((l1i + 1) << span_bits) - off);
        void *table = NULL;
        int r = l2_table_offset(q, l1i, &l2off);
        if (r < 0)
            return r;
        if (l2off) {
            r = qcow2_cache_get(q, &q->l2_cache, l2off, true, &table);
            if (r < 0)
                return r;
        }
        r = read_l2_range(q, table, buf, n, off);
        qcow2_cache_put(q, &q->l2_cache, table);
        if (r < 0)
            return r;
        buf += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int qcow2_pread(struct vmm_disk *disk, void *buf, size_t len, uint64_t off)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    int r = read_locked(q, buf, len, off);
    pthread_mutex_unlock(&q->lock);
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
static int get_l2_for_write(struct qcow2 *q, uint64_t l1i, bool alloc, void **table)
{
    uint64_t l2off, rc, fresh;
    void *t, *nt;
    int r;

    *table = NULL;
    r = l2_table_offset(q, l1i, &l2off);
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
static int writable_in_place(struct qcow2 *q, enum qcow2_ctype type, uint64_t host, bool *ok)
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
    uint64_t last = (host + len - 1) & ~(q->cluster_size - 1);
    if (last >= q->file_size)
        return qcow2_corrupt(q, "data at 0x%llx lies beyond the end of the file (truncated?)",
                             (unsigned long long)last);
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
 * Writes [off, off+len) into newly allocated clusters starting at host: k
 * clusters starting with L2 index i. Partial clusters are merged with their
 * old contents (backing file, zeros, compressed or shared data).
 */
static int write_allocated(struct qcow2 *q, uint8_t *table, uint64_t i, uint64_t k, uint64_t host,
                           const uint8_t *buf, uint64_t len, uint64_t off)
{
    const uint64_t cs = q->cluster_size;
    uint64_t done = 0, base = off & ~(cs - 1);
    int r;

    for (uint64_t j = 0; j < k;) {
        uint64_t cin = j == 0 ? off & (cs - 1) : 0;
        uint64_t clen = min_u64(len - done, cs - cin);
        if (cin || clen < cs) {
            r = read_old_cluster(q, qcow2_be64(table + (i + j) * 8), base + j * cs, q->cow_buf);
            if (r < 0)
                return r;
            memcpy(q->cow_buf + cin, buf + done, (size_t)clen);
            r = qcow2_pwrite_file(q, q->cow_buf, cs, host + j * cs);
            if (r < 0)
                return r;
            done += clen;
            j++;
        } else {
            uint64_t m = 1;
            while (j + m < k && len - done - m * cs >= cs)
                m++;
            r = qcow2_pwrite_file(q, buf + done, m * cs, host + j * cs);
            if (r < 0)
                return r;
            done += m * cs;
            j += m;
        }
    }
    /* Data is written: now the mapping (made durable later, after the refcounts). */
    for (uint64_t j = 0; j < k; j++) {
        uint8_t *p = table + (i + j) * 8;
        uint64_t old = qcow2_be64(p);
        qcow2_put_be64(p, (host + j * cs) | QCOW2_COPIED);
        r = qcow2_free_entry(q, old);
        if (r < 0)
            return r;
    }
    return 0;
}

static int write_l2_range(struct qcow2 *q, uint64_t l1i, const uint8_t *buf, uint64_t len,
                          uint64_t off)
{
    const uint64_t cs = q->cluster_size;
    void *tv;
    int r = get_l2_for_write(q, l1i, true, &tv);
    uint8_t *table = tv;

    if (r < 0)
        return r;
    while (len) {
        uint64_t i = (off >> q->cluster_bits) & (q->l2_entries - 1);
        uint64_t in = off & (cs - 1);
        uint64_t n = min_u64(len, cs - in);
        uint64_t entry = qcow2_be64(table + i * 8), host;
        enum qcow2_ctype type;
        bool ok;

        r = qcow2_check_entry(q, entry, &type, &host);
        if (r == 0)
            r = writable_in_place(q, type, host, &ok);
        if (r < 0)
            break;
        if (ok && type == QCOW2_NORMAL) {
            /* Overwrite in place, over as many host-contiguous private clusters as follow. */
            uint64_t j = i + 1, next = host + cs;
            while (n < len && j < q->l2_entries) {
                uint64_t e2 = qcow2_be64(table + j * 8), h2;
                enum qcow2_ctype t2;
                bool ok2;
                r = qcow2_check_entry(q, e2, &t2, &h2);
                if (r == 0)
                    r = writable_in_place(q, t2, h2, &ok2);
                if (r < 0)
                    goto out;
                if (t2 != QCOW2_NORMAL || !ok2 || h2 != next)
                    break;
                n += min_u64(len - n, cs);
                j++;
                next += cs;
            }
            r = check_data_target(q, host, next - host);
            if (r == 0)
                r = qcow2_pwrite_file(q, buf, (size_t)n, host + in);
            if (r < 0)
                break;
            bool dirty = false;
            for (uint64_t x = i; x < j; x++) {
                uint64_t e = qcow2_be64(table + x * 8);
                if (!(e & QCOW2_COPIED)) {
                    qcow2_put_be64(table + x * 8, e | QCOW2_COPIED);
                    dirty = true;
                }
            }
            if (dirty)
                qcow2_cache_mark_dirty(q, &q->l2_cache, table);
        } else if (ok) {
            /* A preallocated zero cluster: fill it and clear the zero flag. */
            r = check_data_target(q, host, cs);
            if (r < 0)
                break;
            memset(q->cow_buf, 0, cs);
            memcpy(q->cow_buf + in, buf, (size_t)n);
            r = qcow2_pwrite_file(q, q->cow_buf, cs, host);
            if (r < 0)
                break;
            qcow2_put_be64(table + i * 8, host | QCOW2_COPIED);
            qcow2_cache_mark_dirty(q, &q->l2_cache, table);
        } else {
            /* New clusters for this one and every following one that cannot be written in place. */
            uint64_t k = 1;
            while (n < len && i + k < q->l2_entries && k < 512) {
                uint64_t h2;
                enum qcow2_ctype t2;
                bool ok2;
                r = qcow2_check_entry(q, qcow2_be64(table + (i + k) * 8), &t2, &h2);
                if (r == 0)
                    r = writable_in_place(q, t2, h2, &ok2);
                if (r < 0)
                    goto out;
                if (ok2)
                    break;
                n += min_u64(len - n, cs);
                k++;
            }
            /* Take the first free run even if shorter: holes get filled, the file stays dense. */
            uint64_t fresh, got;
            r = qcow2_alloc_range(q, k, 1, &fresh, &got);
            if (r < 0)
                break;
            if (got < k)
                n = min_u64(n, got * cs - in);
            r = write_allocated(q, table, i, got, fresh, buf, n, off);
            qcow2_cache_mark_dirty(q, &q->l2_cache, table);
            if (r < 0)
                break;
        }
        buf += n;
        off += n;
        len -= n;
    }
out:
    qcow2_cache_put(q, &q->l2_cache, table);
    return r;
}

static int writable_state(struct qcow2 *q)
{
    if (q->broken)
        return -EIO;
    return q->writable ? 0 : -EROFS;
}

static int write_locked(struct qcow2 *q, const uint8_t *buf, uint64_t len, uint64_t off)
{
    const uint64_t span_bits = q->cluster_bits + q->l2_bits;
    int r = writable_state(q);

    while (r == 0 && len) {
        uint64_t l1i = off >> span_bits;
        uint64_t n = min_u64(len, ((l1i + 1) << span_bits) - off);
        r = write_l2_range(q, l1i, buf, n, off);
        buf += n;
        off += n;
        len -= n;
    }
    if (r == 0 && q->n_pending > QCOW2_PENDING_FREE_MAX)
        r = qcow2_flush_metadata(q);
    return r;
}

static int qcow2_pwrite(struct vmm_disk *disk, const void *buf, size_t len, uint64_t off)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    int r = write_locked(q, buf, len, off);
    pthread_mutex_unlock(&q->lock);
    return r;
}

/* ---- discard and write-zeroes ---- */

enum zero_mode { ZM_DISCARD, ZM_ZERO, ZM_ZERO_UNMAP };

/* What a whole-cluster discard or zeroing turns an entry into. */
static int zeroed_entry(struct qcow2 *q, enum zero_mode mode, uint64_t entry, uint64_t *out)
{
    enum qcow2_ctype type;
    uint64_t host;
    bool has_backing = q->backing != NULL;
    int r = qcow2_check_entry(q, entry, &type, &host);

    *out = entry;
    if (r < 0)
        return r;
    if (q->version < 3) {
        /* No zero flag: only an unallocated entry without backing reads as zeros. */
        if (!has_backing)
            *out = 0;
        return 0;
    }
    switch (mode) {
    case ZM_DISCARD:
        if (type == QCOW2_NORMAL || type == QCOW2_COMPRESSED_CLUSTER ||
            (type == QCOW2_ZERO_CLUSTER && host))
            *out = has_backing ? QCOW2_ZERO : 0;
        return 0;
    case ZM_ZERO:
        if (type == QCOW2_ZERO_CLUSTER && host)
            return 0;
        if (type == QCOW2_NORMAL) {
            bool ok;
            r = writable_in_place(q, type, host, &ok);
            if (r < 0)
                return r;
            if (ok) {
                /* Keep the allocation: a later write fills it in place. */
                *out = host | QCOW2_COPIED | QCOW2_ZERO;
                return 0;
            }
        }
        break;
    case ZM_ZERO_UNMAP:
        break;
    }
    if (type == QCOW2_UNALLOCATED && !has_backing)
        return 0;
    if (type == QCOW2_ZERO_CLUSTER && !host)
        return 0;
    *out = has_backing ? QCOW2_ZERO : 0;
    return 0;
}

/* Applies mode to the whole clusters of [off, off+len), both cluster-aligned. */
static int zero_clusters(struct qcow2 *q, uint64_t off, uint64_t len, enum zero_mode mode)
{
    const uint64_t span_bits = q->cluster_bits + q->l2_bits;

    while (len) {
        uint64_t l1i = off >> span_bits, l2off;
        uint64_t n = min_u64(len, ((l1i + 1) << span_bits) - off);
        bool need_table = mode != ZM_DISCARD && q->backing && q->version >= 3;
        void *tv;
        int r = l2_table_offset(q, l1i, &l2off);
        if (r < 0)
            return r;
        if (l2off || need_table) {
            r = get_l2_for_write(q, l1i, need_table, &tv);
            if (r < 0)
                return r;
            uint8_t *table = tv;
            uint64_t first = (off >> q->cluster_bits) & (q->l2_entries - 1);
            uint64_t count = n >> q->cluster_bits;
            bool dirty = false;
            for (uint64_t i = first; table && i < first + count; i++) {
                uint64_t old = qcow2_be64(table + i * 8), nw;
                r = zeroed_entry(q, mode, old, &nw);
                if (r < 0)
                    break;
                if (nw == old)
                    continue;
                qcow2_put_be64(table + i * 8, nw);
                dirty = true;
                if ((nw & QCOW2_OFFSET_MASK) == 0 || (old & QCOW2_COMPRESSED)) {
                    r = qcow2_free_entry(q, old);
                    if (r < 0)
                        break;
                }
            }
            if (dirty)
                qcow2_cache_mark_dirty(q, &q->l2_cache, table);
            qcow2_cache_put(q, &q->l2_cache, table);
            if (r < 0)
                return r;
        }
        off += n;
        len -= n;
    }
    return 0;
}

static int write_zero_bytes(struct qcow2 *q, uint64_t off, uint64_t len)
{
    if (!q->zero_buf) {
        q->zero_buf = calloc(1, q->cluster_size);
        if (!q->zero_buf)
            return -ENOMEM;
    }
    while (len) {
        uint64_t n = min_u64(len, q->cluster_size);
        int r = write_locked(q, q->zero_buf, n, off);
        if (r < 0)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}

static int zero_or_discard(struct qcow2 *q, uint64_t off, uint64_t len, enum zero_mode mode)
{
    const uint64_t cs = q->cluster_size;
    uint64_t end = off + len;
    uint64_t a = (off + cs - 1) & ~(cs - 1);
    /* The disk's last cluster may be partial: reaching the disk's end covers it. */
    uint64_t b = end == q->disk.size ? (end + cs - 1) & ~(cs - 1) : end & ~(cs - 1);
    int r = writable_state(q);

    if (r < 0)
        return r;
    if (a >= b) {
        return mode == ZM_DISCARD ? 0 : write_zero_bytes(q, off, len);
    }
    if (mode != ZM_DISCARD) {
        r = write_zero_bytes(q, off, a - off);
        if (r == 0 && b < end)
            r = write_zero_bytes(q, b, end - b);
        if (r < 0)
            return r;
    }
    if (mode != ZM_DISCARD && q->version < 3 && q->backing)
        r = write_zero_bytes(q, a, b - a);
    else if (mode == ZM_DISCARD && q->version < 3 && q->backing)
        r = 0; /* nothing would read as zeros: leave the data */
    else
        r = zero_clusters(q, a, b - a, mode);
    if (r == 0 && q->n_pending > QCOW2_PENDING_FREE_MAX)
        r = qcow2_flush_metadata(q);
    return r;
}

static int qcow2_discard(struct vmm_disk *disk, uint64_t off, uint64_t len)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    int r = zero_or_discard(q, off, len, ZM_DISCARD);
    pthread_mutex_unlock(&q->lock);
    return r;
}

static int qcow2_write_zeroes(struct vmm_disk *disk, uint64_t off, uint64_t len, unsigned flags)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    int r = zero_or_discard(q, off, len, (flags & VMM_DISK_ZEROES_UNMAP) ? ZM_ZERO_UNMAP : ZM_ZERO);
    pthread_mutex_unlock(&q->lock);
    return r;
}

static int qcow2_flush(struct vmm_disk *disk)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    int r = q->broken ? -EIO : qcow2_flush_metadata(q);
    pthread_mutex_unlock(&q->lock);
    return r;
}

const struct vmm_disk_ops vmm_disk_qcow2_ops = {
    .name = "qcow2",
    .instance_size = sizeof(struct qcow2),
    .open = qcow2_open,
    .close = qcow2_close,
    .pread = qcow2_pread,
    .pwrite = qcow2_pwrite,
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
