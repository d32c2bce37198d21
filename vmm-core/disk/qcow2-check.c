/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Consistency check: counts the references to every host cluster (header,
 * tables, data; the active L1 tree and every snapshot's) and compares them
 * with the stored refcounts. Read-only: it reports and never repairs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/qcow2.h"

/* The check refuses images whose file spans more clusters than this (1 GiB of counters). */
#define CHECK_MAX_CLUSTERS (1ull << 28)

struct check {
    struct qcow2 *q;
    struct vmm_qcow2_check *res;
    uint32_t *refs;
    uint64_t n;
};

static void problem(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct check *c, const char *fmt, ...)
{
    va_list ap;

    c->res->errors++;
    if (c->res->first_error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(c->res->first_error, sizeof(c->res->first_error), fmt, ap);
    va_end(ap);
}

static void add_ref(struct check *c, uint64_t off, uint64_t len, const char *what)
{
    if (!len)
        return;
    uint64_t first = off >> c->q->cluster_bits, last = (off + len - 1) >> c->q->cluster_bits;
    for (uint64_t i = first; i <= last; i++) {
        if (i >= c->n) {
            problem(c, "The %s at 0x%llx lies beyond the end of the file.", what,
                    (unsigned long long)off);
            return;
        }
        c->refs[i]++;
    }
}

static int copied_flag_ok(struct check *c, uint64_t entry, uint64_t host, const char *what)
{
    uint64_t rc;
    int r = qcow2_get_refcount(c->q, host >> c->q->cluster_bits, &rc);
    if (r < 0)
        return r;
    bool copied = entry & QCOW2_COPIED;
    if (copied && rc != 1)
        problem(c, "The copied flag of the %s at 0x%llx is set but its refcount is %llu.", what,
                (unsigned long long)host, (unsigned long long)rc);
    else if (!copied && rc == 1)
        c->res->copied_unset++; /* harmless: the cluster is copied once more on its next write */
    return 0;
}

static int walk_l2(struct check *c, uint64_t l2off, bool active)
{
    struct qcow2 *q = c->q;
    void *tv;
    int r = qcow2_cache_get(q, &q->l2_cache, l2off, true, &tv);
    const uint8_t *t = tv;

    if (r < 0)
        return r;
    for (uint64_t i = 0; i < q->l2_entries && r == 0; i++) {
        uint64_t e = qcow2_be64(t + i * 8), host, off, len;
        switch (qcow2_classify(q, e, &host)) {
        case QCOW2_UNALLOCATED:
            break;
        case QCOW2_ZERO_CLUSTER:
        case QCOW2_NORMAL:
            if (!host)
                break;
            if (host & (q->cluster_size - 1)) {
                problem(c, "An L2 entry points at the unaligned offset 0x%llx.",
                        (unsigned long long)host);
                break;
            }
            add_ref(c, host, q->cluster_size, "data cluster");
            if (active)
                r = copied_flag_ok(c, e, host, "data cluster");
            break;
        case QCOW2_COMPRESSED_CLUSTER:
            qcow2_compressed_range(q, e, &off, &len);
            add_ref(c, off, len, "compressed cluster");
            break;
        }
    }
    qcow2_cache_put(q, &q->l2_cache, tv);
    return r;
}

static int walk_l1(struct check *c, const uint64_t *l1, uint32_t n, bool active)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t off = l1[i] & QCOW2_OFFSET_MASK;
        int r;
        if (!off)
            continue;
        if (!qcow2_valid_table_offset(c->q, off)) {
            problem(c, "L1 entry %u points at an invalid L2 table offset 0x%llx.", i,
                    (unsigned long long)off);
            continue;
        }
        add_ref(c, off, c->q->cluster_size, "L2 table");
        if (active && (r = copied_flag_ok(c, l1[i], off, "L2 table")) < 0)
            return r;
        if ((r = walk_l2(c, off, active)) < 0)
            return r;
    }
    return 0;
}

static int walk_snapshot(struct check *c, const struct qcow2_snapshot *s)
{
    struct qcow2 *q = c->q;
    uint8_t *raw = malloc((size_t)s->l1_size * 8 + 8);
    uint64_t *l1 = malloc((size_t)s->l1_size * 8 + 8);
    int r = -ENOMEM;

    if (raw && l1)
        r = qcow2_pread_file(q, raw, (size_t)s->l1_size * 8, s->l1_offset);
    if (r == 0) {
        for (uint32_t i = 0; i < s->l1_size; i++)
            l1[i] = qcow2_be64(raw + (size_t)i * 8);
        add_ref(c, s->l1_offset, (uint64_t)s->l1_size * 8, "snapshot L1 table");
        r = walk_l1(c, l1, s->l1_size, false);
    }
    free(raw);
    free(l1);
    return r;
}

static int compare(struct check *c)
{
    struct qcow2 *q = c->q;

    for (uint64_t i = 0; i < c->n; i++) {
        uint64_t rc;
        int r = qcow2_get_refcount(q, i, &rc);
        if (r < 0)
            return r;
        if (rc < c->refs[i])
            problem(c, "Cluster %llu has refcount %llu but %u references.", (unsigned long long)i,
                    (unsigned long long)rc, c->refs[i]);
        else if (rc > c->refs[i])
            c->res->leaks++;
    }
    /* Refcounts for clusters past the end of the file count as leaks. */
    for (uint64_t idx = c->n >> q->rb_bits; idx < q->rt_entries; idx++) {
        if (!q->rt[idx])
            continue;
        uint64_t first = idx << q->rb_bits;
        for (uint64_t j = 0; j < q->rb_entries; j++) {
            uint64_t rc;
            if (first + j < c->n)
                continue;
            int r = qcow2_get_refcount(q, first + j, &rc);
            if (r < 0)
                return r;
            c->res->leaks += rc != 0;
        }
    }
    return 0;
}

int vmm_qcow2_check(struct vmm_disk *disk, struct vmm_qcow2_check *res)
{
    struct qcow2 *q = to_qcow2(disk);
    struct check c = {.q = q, .res = res};
    int r;

    memset(res, 0, sizeof(*res));
    if (disk->ops != &vmm_disk_qcow2_ops)
        return -EINVAL;
    pthread_mutex_lock(&q->lock);
    qcow2_drain(q); /* writes in flight hold clusters the tables do not show yet */
    if (q->broken) {
        snprintf(res->first_error, sizeof(res->first_error), "%s", q->broken_msg);
        r = -EIO;
        goto out;
    }
    /* Pending frees would show as leaks: settle them first. */
    r = qcow2_flush_metadata(q);
    if (r < 0)
        goto out;
    if (q->has_bitmaps) {
        snprintf(res->first_error, sizeof(res->first_error),
                 "The image has persistent bitmaps, which this check does not cover.");
        r = -ENOTSUP;
        goto out;
    }
    c.n = (q->file_size + q->cluster_size - 1) >> q->cluster_bits;
    if (c.n > CHECK_MAX_CLUSTERS) {
        r = -EFBIG;
        goto out;
    }
    c.refs = calloc(c.n ? c.n : 1, sizeof(uint32_t));
    if (!c.refs) {
        r = -ENOMEM;
        goto out;
    }
    res->clusters = c.n;
    add_ref(&c, 0, q->cluster_size, "header");
    add_ref(&c, q->l1_offset, (uint64_t)q->l1_size * 8, "L1 table");
    add_ref(&c, q->rt_offset, (uint64_t)q->rt_clusters * q->cluster_size, "refcount table");
    for (uint64_t i = 0; i < q->rt_entries; i++) {
        if (!q->rt[i])
            continue;
        if (!qcow2_valid_table_offset(q, q->rt[i]))
            problem(&c, "Refcount table entry %llu points at an invalid offset 0x%llx.",
                    (unsigned long long)i, (unsigned long long)q->rt[i]);
        else
            add_ref(&c, q->rt[i], q->cluster_size, "refcount block");
    }
    add_ref(&c, q->snapshots_offset, q->snapshots_size, "snapshot table");
    r = walk_l1(&c, q->l1, q->l1_size, true);
    for (uint32_t i = 0; r == 0 && i < q->nb_snapshots; i++)
        r = walk_snapshot(&c, &q->snapshots[i]);
    if (r == 0)
        r = compare(&c);
    free(c.refs);
out:
    qcow2_undrain(q);
    pthread_mutex_unlock(&q->lock);
    return r;
}
