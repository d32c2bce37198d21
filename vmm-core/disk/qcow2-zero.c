/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 discard, write-zeroes and flush. Whole clusters change their L2
 * entries (deallocated, or zero-flagged with or without their allocation);
 * partial clusters are written with zeros. Frees wait in pending_free for the
 * next flush, which drains the transfers in flight first (qcow2-io.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "disk/qcow2.h"

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
            r = qcow2_writable_in_place(q, type, host, &ok);
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
        uint64_t n = vmm_min_u64(len, ((l1i + 1) << span_bits) - off);
        bool need_table = mode != ZM_DISCARD && q->backing && q->version >= 3;
        void *tv;
        int r = qcow2_l2_table_offset(q, l1i, &l2off);
        if (r < 0)
            return r;
        if (l2off || need_table) {
            r = qcow2_get_l2_for_write(q, l1i, need_table, &tv);
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
        uint64_t n = vmm_min_u64(len, q->cluster_size);
        int r = qcow2_write_buf(q, q->zero_buf, n, off);
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
    int r = qcow2_writable_state(q);

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
    if (mode != ZM_DISCARD && q->version < 3 && q->backing) {
        r = write_zero_bytes(q, a, b - a);
    } else if (mode == ZM_DISCARD && q->version < 3 && q->backing) {
        r = 0; /* nothing would read as zeros: leave the data */
    } else {
        /* Not under a write in flight: it would land after the mapping changed. */
        qcow2_wait_turn(q, a, b);
        r = qcow2_writable_state(q);
        if (r == 0)
            r = zero_clusters(q, a, b - a, mode);
    }
    if (r == 0)
        r = qcow2_settle_frees(q);
    return r;
}

int qcow2_discard(struct vmm_disk *disk, uint64_t off, uint64_t len)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    int r = zero_or_discard(q, off, len, ZM_DISCARD);
    pthread_mutex_unlock(&q->lock);
    return r;
}

int qcow2_write_zeroes(struct vmm_disk *disk, uint64_t off, uint64_t len, unsigned flags)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    int r = zero_or_discard(q, off, len, (flags & VMM_DISK_ZEROES_UNMAP) ? ZM_ZERO_UNMAP : ZM_ZERO);
    pthread_mutex_unlock(&q->lock);
    return r;
}

int qcow2_flush(struct vmm_disk *disk)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    int r = -EIO;
    if (!q->broken) {
        /* Pending frees are applied here: no transfer may still use those clusters. */
        qcow2_drain(q);
        r = qcow2_flush_metadata(q);
        qcow2_undrain(q);
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}
