/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Write-back caches for L2 tables and refcount blocks. Entries are pinned
 * while a caller holds a pointer into them and are only evicted unpinned.
 * An L2 table is never written before the refcount blocks that account for
 * what it points to: writing back a dirty L2 table first writes the dirty
 * refcount blocks and issues a barrier.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk/qcow2.h"

int qcow2_cache_init(struct qcow2_cache *c, enum qcow2_cache_kind kind, unsigned n, uint64_t cs)
{
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->n = n;
    c->e = calloc(n, sizeof(*c->e));
    if (posix_memalign((void **)&c->mem, 4096, (size_t)n * cs) != 0)
        c->mem = NULL;
    if (!c->e || !c->mem) {
        free(c->e);
        free(c->mem);
        c->e = NULL;
        c->mem = NULL;
        return -ENOMEM;
    }
    return 0;
}

void qcow2_cache_destroy(struct qcow2_cache *c)
{
    free(c->e);
    free(c->mem);
    c->e = NULL;
    c->mem = NULL;
}

static uint8_t *slot(struct qcow2 *q, struct qcow2_cache *c, unsigned i)
{
    return c->mem + (size_t)i * q->cluster_size;
}

static unsigned index_of(struct qcow2 *q, struct qcow2_cache *c, void *table)
{
    return (unsigned)(((uint8_t *)table - c->mem) / q->cluster_size);
}

static int write_back(struct qcow2 *q, struct qcow2_cache *c, unsigned i)
{
    int r;

    if (!c->e[i].dirty)
        return 0;
    if (q->broken)
        return -EIO;
    if (c->kind == QCOW2_CACHE_L2) {
        /* The refcounts of everything this table points to go first. */
        r = qcow2_cache_flush(q, &q->rb_cache);
        if (r < 0)
            return r;
        r = qcow2_barrier(q);
        if (r < 0)
            return r;
    }
    r = qcow2_pwrite_file(q, slot(q, c, i), q->cluster_size, c->e[i].offset);
    if (r < 0)
        return r;
    c->e[i].dirty = false;
    return 0;
}

int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool fill, void **table)
{
    unsigned victim = c->n;
    int r;

    *table = NULL;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->e[i].offset == off) {
            c->e[i].pins++;
            c->e[i].lru = ++c->tick;
            if (!fill)
                memset(slot(q, c, i), 0, q->cluster_size);
            *table = slot(q, c, i);
            return 0;
        }
        if (c->e[i].pins == 0 && (victim == c->n || c->e[i].lru < c->e[victim].lru))
            victim = i;
    }
    if (victim == c->n)
        return -EBUSY; /* every slot pinned: a bug, not an image problem */

    r = write_back(q, c, victim);
    if (r < 0)
        return r;
    c->e[victim].offset = 0;
    uint8_t *p = slot(q, c, victim);
    if (fill) {
        r = qcow2_pread_file(q, p, q->cluster_size, off);
        if (r < 0)
            return r;
    } else {
        memset(p, 0, q->cluster_size);
    }
    c->e[victim].offset = off;
    c->e[victim].pins = 1;
    c->e[victim].dirty = false;
    c->e[victim].lru = ++c->tick;
    *table = p;
    return 0;
}

void qcow2_cache_put(struct qcow2 *q, struct qcow2_cache *c, void *table)
{
    if (!table)
        return;
    unsigned i = index_of(q, c, table);
    if (c->e[i].pins > 0)
        c->e[i].pins--;
}

void qcow2_cache_mark_dirty(struct qcow2 *q, struct qcow2_cache *c, void *table)
{
    c->e[index_of(q, c, table)].dirty = true;
}

int qcow2_cache_flush(struct qcow2 *q, struct qcow2_cache *c)
{
    bool any = false;

    for (unsigned i = 0; i < c->n; i++)
        any |= c->e[i].dirty;
    if (!any)
        return 0;
    if (q->broken)
        return -EIO;
    if (c->kind == QCOW2_CACHE_L2) {
        int r = qcow2_cache_flush(q, &q->rb_cache);
        if (r < 0)
            return r;
        r = qcow2_barrier(q);
        if (r < 0)
            return r;
    }
    for (unsigned i = 0; i < c->n; i++) {
        if (!c->e[i].dirty)
            continue;
        int r = qcow2_pwrite_file(q, slot(q, c, i), q->cluster_size, c->e[i].offset);
        if (r < 0)
            return r;
        c->e[i].dirty = false;
    }
    return 0;
}

void qcow2_cache_forget(struct qcow2_cache *c, uint64_t off, uint64_t cs)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->e[i].offset && c->e[i].offset >= off && c->e[i].offset < off + cs &&
            c->e[i].pins == 0) {
            c->e[i].offset = 0;
            c->e[i].dirty = false;
        }
    }
}

void qcow2_cache_drop_dirty(struct qcow2_cache *c)
{
    for (unsigned i = 0; i < c->n; i++)
        c->e[i].dirty = false;
}

bool qcow2_cache_overlaps(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, uint64_t len)
{
    for (unsigned i = 0; i < c->n; i++) {
        uint64_t o = c->e[i].offset;
        if (o && o < off + len && off < o + q->cluster_size)
            return true;
    }
    return false;
}
