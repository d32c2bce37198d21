/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host cluster accounting: refcount lookups and updates, cluster allocation
 * (growing refcount blocks and the refcount table as needed), deferred frees
 * and the ordered metadata flush.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk/qcow2.h"

/* ---- file access ---- */

int qcow2_pread_file(struct qcow2 *q, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = pread(q->fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {
            /* Past the end of the file reads as zeros; callers check offsets first. */
            memset(p, 0, len);
            return 0;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int qcow2_pwrite_file(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;

    q->unsynced = true;
    while (len) {
        ssize_t n = pwrite(q->fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
        if (off > q->file_size)
            q->file_size = off;
    }
    return 0;
}

int qcow2_barrier(struct qcow2 *q)
{
    if (!q->unsynced)
        return 0;
    if (fdatasync(q->fd) < 0)
        return -errno;
    q->unsynced = false;
    return 0;
}

/* ---- refcount block entries (refcount_bits = 1 << refcount_order, 1..64) ---- */

uint64_t qcow2_refblock_get(const struct qcow2 *q, const void *blk, uint64_t i)
{
    const uint8_t *b = blk;
    switch (q->refcount_order) {
    case 0:
    case 1:
    case 2: {
        /* Sub-byte widths: bit 0 is the least significant bit of the byte. */
        uint64_t bit = i << q->refcount_order;
        unsigned width = 1u << q->refcount_order;
        return (b[bit >> 3] >> (bit & 7)) & ((1u << width) - 1);
    }
    case 3:
        return b[i];
    case 4:
        return qcow2_be16(b + i * 2);
    case 5:
        return qcow2_be32(b + i * 4);
    default:
        return qcow2_be64(b + i * 8);
    }
}

void qcow2_refblock_set(const struct qcow2 *q, void *blk, uint64_t i, uint64_t v)
{
    uint8_t *b = blk;
    switch (q->refcount_order) {
    case 0:
    case 1:
    case 2: {
        uint64_t bit = i << q->refcount_order;
        unsigned width = 1u << q->refcount_order;
        uint8_t mask = (uint8_t)(((1u << width) - 1) << (bit & 7));
        b[bit >> 3] = (uint8_t)((b[bit >> 3] & ~mask) | ((v << (bit & 7)) & mask));
        break;
    }
    case 3:
        b[i] = (uint8_t)v;
        break;
    case 4:
        qcow2_put_be16(b + i * 2, (uint16_t)v);
        break;
    case 5:
        qcow2_put_be32(b + i * 4, (uint32_t)v);
        break;
    default:
        qcow2_put_be64(b + i * 8, v);
        break;
    }
}

/* The refcount block for table index idx, or 0 if none; corruption if the pointer is bad. */
static int refblock_offset(struct qcow2 *q, uint64_t idx, uint64_t *off)
{
    *off = 0;
    if (idx >= q->rt_entries)
        return 0;
    uint64_t e = q->rt[idx];
    if (!e)
        return 0;
    if (!qcow2_valid_table_offset(q, e))
        return qcow2_corrupt(q, "refcount table entry %llu points at an invalid offset 0x%llx",
                             (unsigned long long)idx, (unsigned long long)e);
    *off = e;
    return 0;
}

int qcow2_get_refcount(struct qcow2 *q, uint64_t cluster, uint64_t *rc)
{
    uint64_t off;
    void *blk;
    int r = refblock_offset(q, cluster >> q->rb_bits, &off);

    *rc = 0;
    if (r < 0 || !off)
        return r;
    r = qcow2_cache_get(q, &q->rb_cache, off, true, &blk);
    if (r < 0)
        return r;
    *rc = qcow2_refblock_get(q, blk, cluster & (q->rb_entries - 1));
    qcow2_cache_put(q, &q->rb_cache, blk);
    return 0;
}

static void cluster_freed(struct qcow2 *q, uint64_t cluster)
{
    uint64_t off = cluster << q->cluster_bits;

    if (cluster < q->free_hint)
        q->free_hint = cluster;
    /* A freed table must not be served from a cache once its cluster is reused. */
    qcow2_cache_forget(&q->l2_cache, off, q->cluster_size);
    qcow2_cache_forget(&q->rb_cache, off, q->cluster_size);
    q->dbuf_key = 0;
}

int qcow2_update_refcount(struct qcow2 *q, uint64_t cluster, int delta)
{
    uint64_t off;
    void *blk;
    int r = refblock_offset(q, cluster >> q->rb_bits, &off);

    if (r < 0)
        return r;
    if (!off)
        return qcow2_corrupt(q, "cluster %llu has no refcount block", (unsigned long long)cluster);
    r = qcow2_cache_get(q, &q->rb_cache, off, true, &blk);
    if (r < 0)
        return r;
    uint64_t i = cluster & (q->rb_entries - 1);
    uint64_t rc = qcow2_refblock_get(q, blk, i);
    if (delta < 0 && rc < (uint64_t)-delta) {
        qcow2_cache_put(q, &q->rb_cache, blk);
        return qcow2_corrupt(q, "the refcount of cluster %llu would drop below zero",
                             (unsigned long long)cluster);
    }
    if (delta > 0 && q->refcount_max - rc < (uint64_t)delta) {
        qcow2_cache_put(q, &q->rb_cache, blk);
        return -ERANGE;
    }
    rc += (uint64_t)(int64_t)delta;
    qcow2_refblock_set(q, blk, i, rc);
    qcow2_cache_mark_dirty(q, &q->rb_cache, blk);
    qcow2_cache_put(q, &q->rb_cache, blk);
    if (rc == 0)
        cluster_freed(q, cluster);
    return 0;
}

/* ---- allocation ---- */

static int write_rt_entry(struct qcow2 *q, uint64_t idx)
{
    uint8_t be[8];
    qcow2_put_be64(be, q->rt[idx]);
    return qcow2_pwrite_file(q, be, 8, q->rt_offset + idx * 8);
}

/*
 * Creates the missing refcount block for table index idx. Every cluster it
 * covers is free, so it lives in its own first cluster and counts itself.
 */
static int create_refblock(struct qcow2 *q, uint64_t idx)
{
    uint64_t cluster = idx << q->rb_bits;
    uint64_t off = cluster << q->cluster_bits;
    void *blk;
    int r;

    if (qcow2_overlaps_metadata(q, off, q->cluster_size) ||
        qcow2_cache_overlaps(q, &q->l2_cache, off, q->cluster_size))
        return qcow2_corrupt(q, "clusters without refcounts overlap metadata at 0x%llx",
                             (unsigned long long)off);
    r = qcow2_cache_get(q, &q->rb_cache, off, false, &blk);
    if (r < 0)
        return r;
    qcow2_refblock_set(q, blk, 0, 1);
    /* The block's contents go to disk before the table points at it. */
    r = qcow2_pwrite_file(q, blk, q->cluster_size, off);
    qcow2_cache_put(q, &q->rb_cache, blk);
    if (r < 0)
        return r;
    r = qcow2_barrier(q);
    if (r < 0)
        return r;
    q->rt[idx] = off;
    if (idx >= q->rt_used)
        q->rt_used = idx + 1;
    r = write_rt_entry(q, idx);
    if (r < 0) {
        q->rt[idx] = 0;
        return r;
    }
    return 0;
}

static bool rt_index_has_block(struct qcow2 *q, uint64_t idx)
{
    return idx < q->rt_entries && q->rt[idx] != 0;
}

/*
 * Replaces the refcount table with a larger one of at least min_entries.
 * New refcount blocks and the new table go at the end of the file, in clusters
 * they account for themselves; the header switches to the new table in one
 * 12-byte write (offset and cluster count are adjacent), after a barrier.
 */
static int grow_refcount_table(struct qcow2 *q, uint64_t min_entries)
{
    const uint64_t cs = q->cluster_size, E = q->rb_entries;
    uint64_t start = (q->file_size + cs - 1) >> q->cluster_bits;
    uint64_t k = 0, t = 1, new_entries = 0;
    uint64_t *new_rt = NULL;
    uint8_t *blocks = NULL;
    uint64_t *block_idx = NULL;
    int r;

    if (start < q->free_hint)
        start = q->free_hint;
    /*
     * Clusters past the end of the file should be free; if some are not, step
     * over them and size the new structures again.
     */
    for (int tries = 0;; tries++) {
        bool settled = false;
        k = 0;
        t = 1;
        uint64_t grow = q->rt_entries + q->rt_entries / 2 + 1;
        for (int iter = 0; iter < 64; iter++) {
            uint64_t end = start + k + t;
            uint64_t need = (end + E - 1) / E;
            if (need < min_entries)
                need = min_entries;
            if (need < grow)
                need = grow;
            uint64_t nt = (need * 8 + cs - 1) / cs;
            uint64_t nk = 0;
            for (uint64_t idx = start / E; idx <= (end - 1) / E; idx++)
                nk += !rt_index_has_block(q, idx);
            if (nk == k && nt == t) {
                settled = true;
                break;
            }
            k = nk;
            t = nt;
        }
        if (!settled || tries > 64)
            return qcow2_corrupt(q, "no room found to grow the refcount table");
        uint64_t busy = 0;
        for (uint64_t c = start; c < start + k + t; c++) {
            uint64_t rc;
            r = qcow2_get_refcount(q, c, &rc);
            if (r < 0)
                return r;
            if (rc)
                busy = c + 1;
        }
        if (!busy)
            break;
        start = busy;
    }
    new_entries = t * cs / 8;
    if (t * cs > QCOW2_MAX_RT_BYTES)
        return -EFBIG;

    new_rt = calloc(new_entries, sizeof(uint64_t));
    blocks = k ? calloc(k, cs) : NULL;
    block_idx = k ? calloc(k, sizeof(uint64_t)) : NULL;
    uint8_t *table = calloc(t, cs);
    if (!new_rt || (k && (!blocks || !block_idx)) || !table) {
        r = -ENOMEM;
        goto out;
    }
    memcpy(new_rt, q->rt, q->rt_entries * sizeof(uint64_t));
    uint64_t end = start + k + t, j = 0;
    for (uint64_t idx = start / E; idx <= (end - 1) / E; idx++) {
        if (!rt_index_has_block(q, idx)) {
            block_idx[j] = idx;
            new_rt[idx] = (start + j) << q->cluster_bits;
            j++;
        }
    }
    /* Account for every new cluster, in a new block or an existing one. */
    for (uint64_t c = start; c < end; c++) {
        uint64_t idx = c / E;
        uint64_t b;
        for (b = 0; b < k; b++)
            if (block_idx[b] == idx)
                break;
        if (b < k) {
            qcow2_refblock_set(q, blocks + b * cs, c % E, 1);
        } else {
            r = qcow2_update_refcount(q, c, +1);
            if (r < 0)
                goto out;
        }
    }
    for (uint64_t i = 0; i < new_entries; i++)
        qcow2_put_be64(table + i * 8, new_rt[i]);
    if (k) {
        r = qcow2_pwrite_file(q, blocks, k * cs, start << q->cluster_bits);
        if (r < 0)
            goto out;
    }
    r = qcow2_pwrite_file(q, table, t * cs, (start + k) << q->cluster_bits);
    if (r < 0)
        goto out;
    r = qcow2_cache_flush(q, &q->rb_cache);
    if (r < 0)
        goto out;
    r = qcow2_barrier(q);
    if (r < 0)
        goto out;

    uint8_t hdr[12];
    qcow2_put_be64(hdr, (start + k) << q->cluster_bits);
    qcow2_put_be32(hdr + 8, (uint32_t)t);
    r = qcow2_pwrite_file(q, hdr, sizeof(hdr), QCOW2_HDR_RT_OFFSET);
    if (r < 0)
        goto out;
    r = qcow2_barrier(q);
    if (r < 0)
        goto out;

    uint64_t old_off = q->rt_offset, old_clusters = q->rt_clusters;
    free(q->rt);
    q->rt = new_rt;
    new_rt = NULL;
    q->rt_entries = new_entries;
    for (uint64_t i = 0; i < new_entries; i++)
        if (q->rt[i])
            q->rt_used = i + 1;
    q->rt_offset = (start + k) << q->cluster_bits;
    q->rt_clusters = (uint32_t)t;
    /* Nothing points at the old table any more: it may be freed at once. */
    for (uint64_t c = 0; c < old_clusters; c++) {
        r = qcow2_update_refcount(q, (old_off >> q->cluster_bits) + c, -1);
        if (r < 0)
            goto out;
    }
    r = 0;
out:
    free(new_rt);
    free(blocks);
    free(block_idx);
    free(table);
    return r;
}

/*
 * The first run of free clusters at or after the free hint that is at least
 * need long, cut to want: *start and *len.
 */
static int find_free_run(struct qcow2 *q, uint64_t want, uint64_t need, uint64_t *start_out,
                         uint64_t *len_out)
{
    uint64_t c = q->free_hint, start = c, run = 0;
    const uint64_t E = q->rb_entries;
    bool done = false;

    while (run < want && !done) {
        uint64_t idx = c >> q->rb_bits, off;
        int r = refblock_offset(q, idx, &off);
        if (r < 0)
            return r;
        if (!off) {
            /* No block: all of its clusters are free. */
            uint64_t span = E - (c & (E - 1));
            run += span;
            c += span;
            continue;
        }
        void *blk;
        r = qcow2_cache_get(q, &q->rb_cache, off, true, &blk);
        if (r < 0)
            return r;
        for (uint64_t i = c & (E - 1); i < E && run < want; i++, c++) {
            if (qcow2_refblock_get(q, blk, i) == 0) {
                run++;
            } else if (run >= need) {
                done = true;
                break;
            } else {
                run = 0;
                start = c + 1;
            }
        }
        qcow2_cache_put(q, &q->rb_cache, blk);
    }
    *start_out = start;
    *len_out = run < want ? run : want;
    return 0;
}

int qcow2_alloc_range(struct qcow2 *q, uint64_t want, uint64_t need, uint64_t *off, uint64_t *got)
{
    uint64_t limit = 64 + 4 * (want / q->rb_entries + 1);
    int r;

    if (q->broken)
        return -EIO;
    for (uint64_t attempt = 0; attempt < limit; attempt++) {
        uint64_t start, n;
        r = find_free_run(q, want, need, &start, &n);
        if (r < 0)
            return r;
        uint64_t end = start + n;
        if (end > (QCOW2_OFFSET_MASK >> q->cluster_bits))
            return -EFBIG;
        uint64_t first = start >> q->rb_bits, last = (end - 1) >> q->rb_bits;
        bool changed = false;
        if (last >= q->rt_entries) {
            r = grow_refcount_table(q, last + 1);
            if (r < 0)
                return r;
            continue;
        }
        for (uint64_t idx = first; idx <= last; idx++) {
            if (!q->rt[idx]) {
                r = create_refblock(q, idx);
                if (r < 0)
                    return r;
                changed = true;
                break;
            }
        }
        if (changed)
            continue;

        uint64_t o = start << q->cluster_bits, len = n << q->cluster_bits;
        if (qcow2_overlaps_metadata(q, o, len) || qcow2_cache_overlaps(q, &q->l2_cache, o, len) ||
            qcow2_cache_overlaps(q, &q->rb_cache, o, len))
            return qcow2_corrupt(q, "clusters marked free at 0x%llx are in use as metadata",
                                 (unsigned long long)o);
        for (uint64_t c = start; c < end; c++) {
            r = qcow2_update_refcount(q, c, +1);
            if (r < 0)
                return r;
        }
        /* With need 1 the run starts at the first free cluster; else a smaller gap may remain. */
        if (start == q->free_hint || need == 1)
            q->free_hint = end;
        *off = o;
        *got = n;
        return 0;
    }
    return qcow2_corrupt(q, "cluster allocation did not settle");
}

int qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *off)
{
    uint64_t got;
    return qcow2_alloc_range(q, n, n, off, &got);
}

/* ---- frees, deferred until the tables that dropped the reference are on disk ---- */

int qcow2_defer_free(struct qcow2 *q, uint64_t off, uint64_t len)
{
    if (!len)
        return 0;
    uint64_t first = off >> q->cluster_bits;
    uint64_t last = (off + len - 1) >> q->cluster_bits;
    for (uint64_t c = first; c <= last; c++) {
        if (q->n_pending == q->cap_pending) {
            size_t cap = q->cap_pending ? q->cap_pending * 2 : 256;
            uint64_t *p = realloc(q->pending_free, cap * sizeof(*p));
            if (!p)
                return -ENOMEM; /* the cluster leaks; nothing worse */
            q->pending_free = p;
            q->cap_pending = cap;
        }
        q->pending_free[q->n_pending++] = c;
    }
    return 0;
}

int qcow2_free_entry(struct qcow2 *q, uint64_t entry)
{
    uint64_t host;

    switch (qcow2_classify(q, entry, &host)) {
    case QCOW2_NORMAL:
    case QCOW2_ZERO_CLUSTER:
        return host ? qcow2_defer_free(q, host, q->cluster_size) : 0;
    case QCOW2_COMPRESSED_CLUSTER: {
        uint64_t off, len;
        qcow2_compressed_range(q, entry, &off, &len);
        return qcow2_defer_free(q, off, len);
    }
    case QCOW2_UNALLOCATED:
        break;
    }
    return 0;
}

int qcow2_flush_metadata(struct qcow2 *q)
{
    int r;

    if (q->broken)
        return -EIO;
    if (!q->writable)
        return 0;
    r = qcow2_cache_flush(q, &q->rb_cache);
    if (r < 0)
        return r;
    r = qcow2_cache_flush(q, &q->l2_cache); /* barrier before the first L2 write */
    if (r < 0)
        return r;
    if (q->n_pending) {
        r = qcow2_barrier(q);
        if (r < 0)
            return r;
        for (size_t i = 0; i < q->n_pending; i++) {
            r = qcow2_update_refcount(q, q->pending_free[i], -1);
            if (r < 0) {
                q->n_pending = 0;
                return r;
            }
        }
        q->n_pending = 0;
        r = qcow2_cache_flush(q, &q->rb_cache);
        if (r < 0)
            return r;
    }
    return qcow2_barrier(q);
}
