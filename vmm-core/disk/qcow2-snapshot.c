/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 internal snapshots: the snapshot table and create, apply, delete,
 * rename. A snapshot is a copy of the active L1 table; every L2 table and
 * data cluster reachable from it gains a reference (refcounts count paths:
 * a data cluster in an L2 table that two L1 tables share counts twice).
 *
 * Crash safety, on top of the orderings in qcow2.h:
 *  - copied flags are cleared (and made durable) before the refcounts they
 *    describe rise, and set only after the refcounts fell; an interrupted
 *    operation leaves at worst a clear flag on a refcount-1 cluster, which
 *    only costs one extra copy on the next write;
 *  - a new snapshot table or L1 table is written before the header points at
 *    it, the header switches in one write inside one sector (nb_snapshots and
 *    snapshots_offset, or l1_size and l1_table_offset, are adjacent), and
 *    what the old table or tree held is released only after that.
 * So every crash state checks clean or with leaks only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "disk/qcow2.h"

#define ENTRY_FIXED 40u

static uint64_t round_up(uint64_t v, uint64_t align)
{
    return (v + align - 1) & ~(align - 1);
}

static int fail(struct vmm_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct vmm_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

/* After a failed step: the driver's own sentence if the image broke, else a generic one. */
static int fail_io(struct qcow2 *q, struct vmm_error *err, int r, const char *what)
{
    if (q->broken)
        return fail(err, r, "%s", q->broken_msg);
    return fail(err, r, "Cannot %s in %s: %s.", what, q->path, strerror(-r));
}

void qcow2_free_snapshot_array(struct qcow2_snapshot *s, uint32_t n)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < n; i++) {
        free(s[i].id);
        free(s[i].name);
        free(s[i].extra);
    }
    free(s);
}

/* ---- the snapshot table on disk ---- */

/* Bytes of extra data an entry is written with: what it had, and for v3 at least 16. */
static uint32_t written_extra(struct qcow2 *q, const struct qcow2_snapshot *s)
{
    uint32_t n = s->extra_len;
    if (q->version >= 3 && n < 16)
        n = 16;
    return n;
}

static uint64_t entry_size(struct qcow2 *q, const struct qcow2_snapshot *s)
{
    return round_up(ENTRY_FIXED + written_extra(q, s) + strlen(s->id) + strlen(s->name), 8);
}

static void put_entry(struct qcow2 *q, const struct qcow2_snapshot *s, uint8_t *p)
{
    uint32_t extra = written_extra(q, s);
    size_t id_len = strlen(s->id), name_len = strlen(s->name);
    uint8_t known[QCOW2_SNAPSHOT_EXTRA_OURS];

    qcow2_put_be64(p, s->l1_offset);
    qcow2_put_be32(p + 8, s->l1_size);
    qcow2_put_be16(p + 12, (uint16_t)id_len);
    qcow2_put_be16(p + 14, (uint16_t)name_len);
    qcow2_put_be32(p + 16, s->date_sec);
    qcow2_put_be32(p + 20, s->date_nsec);
    qcow2_put_be64(p + 24, s->vm_clock_nsec);
    /* The 32-bit field is only authoritative without extra data; keep it when it fits. */
    qcow2_put_be32(p + 32, s->vm_state_size <= UINT32_MAX ? (uint32_t)s->vm_state_size : 0);
    qcow2_put_be32(p + 36, extra);
    /* Fields we know are regenerated; anything after them is kept as found. */
    qcow2_put_be64(known, s->vm_state_size);
    qcow2_put_be64(known + 8, s->disk_size);
    qcow2_put_be64(known + 16, s->icount);
    for (uint32_t i = 0; i < extra; i++)
        p[ENTRY_FIXED + i] = i < sizeof(known) ? known[i] : s->extra[i];
    memcpy(p + ENTRY_FIXED + extra, s->id, id_len);
    memcpy(p + ENTRY_FIXED + extra + id_len, s->name, name_len);
}

/*
 * Writes a table of n entries into newly allocated clusters and makes it and
 * their refcounts durable. *off is 0 for an empty table.
 */
static int write_table(struct qcow2 *q, const struct qcow2_snapshot *s, uint32_t n, uint64_t *off,
                       uint64_t *size)
{
    uint64_t total = 0;
    int r;

    *off = 0;
    *size = 0;
    for (uint32_t i = 0; i < n; i++)
        total += entry_size(q, &s[i]);
    if (!n)
        return 0;
    if (total > QCOW2_MAX_SNAPSHOT_TABLE)
        return -EFBIG;
    uint64_t bytes = round_up(total, q->cluster_size);
    uint8_t *buf = calloc(1, bytes);
    if (!buf)
        return -ENOMEM;
    uint64_t pos = 0;
    for (uint32_t i = 0; i < n; i++) {
        put_entry(q, &s[i], buf + pos);
        pos += entry_size(q, &s[i]);
    }
    r = qcow2_alloc_clusters(q, bytes >> q->cluster_bits, off);
    if (r == 0)
        r = qcow2_pwrite_file(q, buf, bytes, *off);
    free(buf);
    if (r == 0)
        r = qcow2_cache_flush(q, &q->rb_cache);
    if (r == 0)
        r = qcow2_barrier(q);
    /* The last entry's padding counts as part of the table, as other tools read it. */
    *size = total;
    return r;
}

static int free_clusters_now(struct qcow2 *q, uint64_t off, uint64_t len)
{
    if (!len)
        return 0;
    for (uint64_t c = off >> q->cluster_bits; c <= (off + len - 1) >> q->cluster_bits; c++) {
        int r = qcow2_update_refcount(q, c, -1);
        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * Replaces the snapshot table with snaps[0..n): written, then the header
 * switched, then the old table released. On success the array is the
 * image's; on failure the caller keeps it (the image keeps its old table).
 */
static int commit_table(struct qcow2 *q, struct qcow2_snapshot *snaps, uint32_t n)
{
    uint64_t off, size;
    uint8_t hdr[12];
    int r = write_table(q, snaps, n, &off, &size);

    if (r < 0)
        return r;
    qcow2_put_be32(hdr, n);
    qcow2_put_be64(hdr + 4, off);
    r = qcow2_pwrite_file(q, hdr, sizeof(hdr), QCOW2_HDR_NB_SNAPSHOTS);
    if (r == 0)
        r = qcow2_barrier(q);
    if (r < 0)
        return r; /* the new table leaks; the header may point at either, both are whole */

    uint64_t old_off = q->snapshots_offset, old_size = q->snapshots_size;
    free(q->snapshots);
    q->snapshots = snaps;
    q->nb_snapshots = n;
    q->snapshots_offset = off;
    q->snapshots_size = size;
    return free_clusters_now(q, old_off, round_up(old_size, q->cluster_size));
}

/* ---- walking an L1 tree ---- */

struct walk {
    int delta;         /* 0: validate only */
    bool clear_copied; /* clear the copied flags of the L2 entries visited */
    uint64_t limit;    /* refcount updates allowed (for rolling back a partial walk) */
    uint64_t done;     /* refcount updates made */
};

/* One reference to a cluster: validated, or its refcount moved by w->delta. 1: limit reached. */
static int visit(struct qcow2 *q, uint64_t cluster, struct walk *w)
{
    if (w->delta == 0) {
        uint64_t rc;
        if ((cluster << q->cluster_bits) >= q->file_size)
            return qcow2_corrupt(q, "a snapshot tree points past the end of the file (0x%llx)",
                                 (unsigned long long)(cluster << q->cluster_bits));
        int r = qcow2_get_refcount(q, cluster, &rc);
        if (r < 0)
            return r;
        if (rc == 0)
            return qcow2_corrupt(q, "the cluster at 0x%llx is in use but has a zero refcount",
                                 (unsigned long long)(cluster << q->cluster_bits));
        return 0;
    }
    if (w->done >= w->limit)
        return 1;
    int r = qcow2_update_refcount(q, cluster, w->delta);
    if (r == 0)
        w->done++;
    return r;
}

static int walk_l2(struct qcow2 *q, uint64_t l2off, struct walk *w)
{
    void *tv;
    int r = qcow2_cache_get(q, &q->l2_cache, l2off, true, &tv);
    uint8_t *t = tv;
    bool dirty = false;

    if (r < 0)
        return r;
    for (uint64_t i = 0; i < q->l2_entries && r == 0; i++) {
        uint64_t e = qcow2_be64(t + i * 8), host, off, len;
        enum qcow2_ctype type;
        r = qcow2_check_entry(q, e, &type, &host);
        if (r < 0)
            break;
        if (w->clear_copied && (e & QCOW2_COPIED) && type != QCOW2_COMPRESSED_CLUSTER) {
            qcow2_put_be64(t + i * 8, e & ~QCOW2_COPIED);
            dirty = true;
        }
        switch (type) {
        case QCOW2_NORMAL:
        case QCOW2_ZERO_CLUSTER:
            if (host)
                r = visit(q, host >> q->cluster_bits, w);
            break;
        case QCOW2_COMPRESSED_CLUSTER:
            qcow2_compressed_range(q, e, &off, &len);
            for (uint64_t c = off >> q->cluster_bits;
                 r == 0 && c <= (off + len - 1) >> q->cluster_bits; c++)
                r = visit(q, c, w);
            break;
        case QCOW2_UNALLOCATED:
            break;
        }
    }
    if (dirty)
        qcow2_cache_mark_dirty(q, &q->l2_cache, t);
    qcow2_cache_put(q, &q->l2_cache, t);
    return r;
}

/*
 * Visits every L2 table and data cluster of an L1 table: the data of each L2
 * table first, then the table itself (so a table freed by a decrement is no
 * longer needed). Returns 1 once w->limit updates were made.
 */
static int walk_tree(struct qcow2 *q, const uint64_t *l1, uint32_t n, struct walk *w)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK;
        int r;
        if (!l2off)
            continue;
        if (!qcow2_valid_table_offset(q, l2off) || qcow2_overlaps_static(q, l2off, q->cluster_size))
            return qcow2_corrupt(q, "L1 entry %u points at an invalid L2 table offset 0x%llx", i,
                                 (unsigned long long)l2off);
        if ((r = walk_l2(q, l2off, w)) != 0)
            return r;
        if ((r = visit(q, l2off >> q->cluster_bits, w)) != 0)
            return r;
    }
    return 0;
}

/* Moves every refcount of a tree by delta; undoes a partial move on failure. */
static int tree_refcounts(struct qcow2 *q, const uint64_t *l1, uint32_t n, int delta)
{
    struct walk w = {.delta = delta, .limit = UINT64_MAX};
    int r = walk_tree(q, l1, n, &w);

    if (r < 0 && !q->broken && w.done) {
        struct walk back = {.delta = -delta, .limit = w.done};
        if (walk_tree(q, l1, n, &back) < 0)
            return r; /* leaks at worst */
    }
    return r;
}

static int read_l1(struct qcow2 *q, uint64_t off, uint32_t n, uint32_t min_n, uint64_t **out)
{
    uint32_t alloc = n > min_n ? n : min_n;
    uint64_t *l1 = calloc(alloc ? alloc : 1, sizeof(uint64_t));
    uint8_t *raw = malloc((size_t)n * 8 + 8);
    int r = -ENOMEM;

    if (l1 && raw)
        r = qcow2_pread_file(q, raw, (size_t)n * 8, off);
    if (r == 0)
        for (uint32_t i = 0; i < n; i++)
            l1[i] = qcow2_be64(raw + (size_t)i * 8);
    free(raw);
    if (r < 0) {
        free(l1);
        return r;
    }
    *out = l1;
    return 0;
}

/* Writes an L1 table (n entries, cluster padding zeroed) at off. */
static int write_l1(struct qcow2 *q, const uint64_t *l1, uint32_t n, uint64_t off)
{
    uint64_t bytes = round_up((uint64_t)n * 8, q->cluster_size);
    uint8_t *raw = calloc(1, bytes ? bytes : 1);
    if (!raw)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        qcow2_put_be64(raw + (size_t)i * 8, l1[i]);
    int r = qcow2_pwrite_file(q, raw, bytes, off);
    free(raw);
    return r;
}

/* Sets the copied flag of every active L2 table and data cluster exactly where its refcount is 1. */
static int fix_copied(struct qcow2 *q)
{
    bool l1_dirty = false;
    int r = qcow2_flush_metadata(q); /* the refcounts the flags describe go first */

    for (uint32_t i = 0; r == 0 && i < q->l1_size; i++) {
        uint64_t l2off = q->l1[i] & QCOW2_OFFSET_MASK, rc;
        void *tv;
        if (!l2off)
            continue;
        if (!qcow2_valid_table_offset(q, l2off) ||
            qcow2_overlaps_static(q, l2off, q->cluster_size)) {
            r = qcow2_corrupt(q, "L1 entry %u points at an invalid L2 table offset 0x%llx", i,
                              (unsigned long long)l2off);
            break;
        }
        if ((r = qcow2_get_refcount(q, l2off >> q->cluster_bits, &rc)) < 0)
            break;
        uint64_t want = rc == 1 ? q->l1[i] | QCOW2_COPIED : q->l1[i] & ~QCOW2_COPIED;
        if (want != q->l1[i]) {
            q->l1[i] = want;
            l1_dirty = true;
        }
        if ((r = qcow2_cache_get(q, &q->l2_cache, l2off, true, &tv)) < 0)
            break;
        uint8_t *t = tv;
        bool dirty = false;
        for (uint64_t j = 0; r == 0 && j < q->l2_entries; j++) {
            uint64_t e = qcow2_be64(t + j * 8), host, drc;
            enum qcow2_ctype type;
            if ((r = qcow2_check_entry(q, e, &type, &host)) < 0)
                break;
            if (!((type == QCOW2_NORMAL || type == QCOW2_ZERO_CLUSTER) && host))
                continue;
            if ((r = qcow2_get_refcount(q, host >> q->cluster_bits, &drc)) < 0)
                break;
            uint64_t ne = drc == 1 ? e | QCOW2_COPIED : e & ~QCOW2_COPIED;
            if (ne != e) {
                qcow2_put_be64(t + j * 8, ne);
                dirty = true;
            }
        }
        if (dirty)
            qcow2_cache_mark_dirty(q, &q->l2_cache, t);
        qcow2_cache_put(q, &q->l2_cache, t);
    }
    if (r == 0)
        r = qcow2_cache_flush(q, &q->l2_cache);
    if (r == 0 && l1_dirty)
        r = write_l1(q, q->l1, q->l1_size, q->l1_offset);
    if (r == 0)
        r = qcow2_barrier(q);
    return r;
}

/* ---- lookups and checks shared by the operations ---- */

static int find(struct qcow2 *q, const char *name)
{
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        if (!strcmp(q->snapshots[i].name, name))
            return (int)i;
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        if (!strcmp(q->snapshots[i].id, name))
            return (int)i;
    return -1;
}

static int must_write(struct qcow2 *q, struct vmm_error *err)
{
    if (q->broken)
        return fail(err, -EIO, "%s", q->broken_msg);
    if (!q->writable)
        return fail(err, -EROFS,
                    "The disk image %s is open read-only; its snapshots cannot be changed.",
                    q->path);
    return 0;
}

static int check_new_name(struct qcow2 *q, const char *name, struct vmm_error *err)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0)
        return fail(err, -EINVAL, "A snapshot needs a name.");
    if (len > QCOW2_SNAPSHOT_NAME_MAX)
        return fail(err, -EINVAL, "Snapshot names are limited to %u bytes (this one has %zu).",
                    QCOW2_SNAPSHOT_NAME_MAX, len);
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        if (!strcmp(q->snapshots[i].name, name))
            return fail(err, -EEXIST, "The disk image %s already has a snapshot named \"%s\".",
                        q->path, name);
    return 0;
}

static int not_found(struct qcow2 *q, const char *name, struct vmm_error *err)
{
    return fail(err, -ENOENT, "The disk image %s has no snapshot named \"%s\".", q->path,
                name ? name : "");
}

/* One more than the largest numeric id, as other tools number them. */
static void next_id(struct qcow2 *q, char *buf, size_t len)
{
    unsigned long long max = 0;
    for (uint32_t i = 0; i < q->nb_snapshots; i++) {
        const char *id = q->snapshots[i].id;
        char *end;
        if (!id[0] || id[0] < '0' || id[0] > '9')
            continue;
        unsigned long long v = strtoull(id, &end, 10);
        if (!*end && v > max && v < UINT32_MAX)
            max = v;
    }
    snprintf(buf, len, "%llu", max + 1);
}

/* ---- operations ---- */

int qcow2_snapshot_list(struct vmm_disk *disk, struct vmm_disk_snapshot **list, size_t *n,
                        struct vmm_error *err)
{
    struct qcow2 *q = to_qcow2(disk);
    int r = 0;

    pthread_mutex_lock(&q->lock);
    struct vmm_disk_snapshot *out = calloc(q->nb_snapshots ? q->nb_snapshots : 1, sizeof(*out));
    for (uint32_t i = 0; out && i < q->nb_snapshots; i++) {
        const struct qcow2_snapshot *s = &q->snapshots[i];
        out[i].id = strdup(s->id);
        out[i].name = strdup(s->name);
        out[i].date_sec = s->date_sec;
        out[i].date_nsec = s->date_nsec;
        out[i].vm_clock_nsec = s->vm_clock_nsec;
        out[i].vm_state_size = s->vm_state_size;
        out[i].disk_size = s->disk_size;
        if (!out[i].id || !out[i].name) {
            vmm_disk_snapshot_list_free(out, i + 1);
            out = NULL;
        }
    }
    if (!out) {
        r = fail(err, -ENOMEM, "Out of memory listing the snapshots of %s.", q->path);
    } else {
        *list = out;
        *n = q->nb_snapshots;
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

static int create_locked(struct qcow2 *q, const char *name, uint64_t vm_clock_nsec,
                         struct vmm_error *err)
{
    struct qcow2_snapshot *snaps = NULL, *s;
    struct timespec now;
    char id[24];
    int r;

    if ((r = must_write(q, err)) < 0 || (r = check_new_name(q, name, err)) < 0)
        return r;
    if (q->nb_snapshots >= QCOW2_MAX_SNAPSHOTS)
        return fail(err, -ENOSPC, "The disk image %s already holds %u snapshots, the most allowed.",
                    q->path, q->nb_snapshots);
    if (q->refcount_order == 0)
        return fail(err, -ENOTSUP,
                    "The disk image %s has 1-bit reference counts and cannot hold snapshots; "
                    "convert it with qemu-img convert -O qcow2 -o refcount_bits=16.",
                    q->path);

    /* Settle the active tree, then clear its copied flags for good before the refcounts rise. */
    r = qcow2_flush_metadata(q);
    struct walk check = {.delta = 0, .clear_copied = true};
    if (r == 0)
        r = walk_tree(q, q->l1, q->l1_size, &check);
    for (uint32_t i = 0; r == 0 && i < q->l1_size; i++)
        q->l1[i] &= ~QCOW2_COPIED;
    if (r == 0)
        r = qcow2_cache_flush(q, &q->l2_cache);
    if (r == 0)
        r = write_l1(q, q->l1, q->l1_size, q->l1_offset);
    if (r == 0)
        r = qcow2_barrier(q);
    if (r < 0)
        return fail_io(q, err, r, "prepare a snapshot");

    r = tree_refcounts(q, q->l1, q->l1_size, +1);
    if (r == -ERANGE) {
        (void)fix_copied(q);
        return fail(err, r,
                    "The disk image %s cannot take another snapshot: some clusters are already "
                    "shared as often as its %u-bit reference counts allow.",
                    q->path, 1u << q->refcount_order);
    }

    /* The snapshot's own copy of the L1 table. */
    uint64_t l1_copy = 0, l1_bytes = round_up((uint64_t)q->l1_size * 8, q->cluster_size);
    if (r == 0 && l1_bytes)
        r = qcow2_alloc_clusters(q, l1_bytes >> q->cluster_bits, &l1_copy);
    if (r == 0 && l1_bytes)
        r = write_l1(q, q->l1, q->l1_size, l1_copy);
    if (r < 0)
        return fail_io(q, err, r, "copy the L1 table for a snapshot");

    snaps = calloc((size_t)q->nb_snapshots + 1, sizeof(*snaps));
    if (!snaps)
        return fail(err, -ENOMEM, "Out of memory creating a snapshot in %s.", q->path);
    if (q->nb_snapshots)
        memcpy(snaps, q->snapshots, q->nb_snapshots * sizeof(*snaps));
    s = &snaps[q->nb_snapshots];
    next_id(q, id, sizeof(id));
    clock_gettime(CLOCK_REALTIME, &now);
    s->l1_offset = l1_copy;
    s->l1_size = q->l1_size;
    s->date_sec = (uint32_t)now.tv_sec;
    s->date_nsec = (uint32_t)now.tv_nsec;
    s->vm_clock_nsec = vm_clock_nsec;
    s->disk_size = q->disk.size;
    s->icount = UINT64_MAX;
    s->extra_len = QCOW2_SNAPSHOT_EXTRA_OURS;
    s->id = strdup(id);
    s->name = strdup(name);
    if (!s->id || !s->name) {
        r = -ENOMEM;
    } else {
        r = commit_table(q, snaps, q->nb_snapshots + 1);
    }
    if (r < 0) {
        if (q->snapshots != snaps) {
            free(s->id);
            free(s->name);
            free(snaps);
        }
        return fail_io(q, err, r, "write the snapshot table");
    }
    r = qcow2_flush_metadata(q);
    return r < 0 ? fail_io(q, err, r, "finish the snapshot") : 0;
}

int qcow2_snapshot_create(struct vmm_disk *disk, const char *name, uint64_t vm_clock_nsec,
                          struct vmm_error *err)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    qcow2_drain(q);
    int r = create_locked(q, name, vm_clock_nsec, err);
    qcow2_undrain(q);
    pthread_mutex_unlock(&q->lock);
    return r;
}

static int apply_locked(struct qcow2 *q, const char *name, struct vmm_error *err)
{
    int r, idx = find(q, name);

    if ((r = must_write(q, err)) < 0)
        return r;
    if (idx < 0)
        return not_found(q, name, err);
    const struct qcow2_snapshot *s = &q->snapshots[idx];
    if (s->disk_size != q->disk.size)
        return fail(err, -ENOTSUP,
                    "Snapshot \"%s\" of %s was taken when the disk had %llu bytes (now %llu); "
                    "Terrarium cannot change a disk's size.",
                    name, q->path, (unsigned long long)s->disk_size,
                    (unsigned long long)q->disk.size);
    const uint64_t span = q->cluster_size * q->l2_entries;
    uint32_t needed = (uint32_t)((q->disk.size + span - 1) / span);
    uint32_t new_size = s->l1_size > needed ? s->l1_size : needed;
    uint64_t *snap_l1 = NULL, *old_l1;

    r = read_l1(q, s->l1_offset, s->l1_size, new_size, &snap_l1);
    if (r < 0)
        return fail_io(q, err, r, "read the snapshot's L1 table");

    /*
     * The snapshot's tables become active and shared: no copied flags in them.
     * Clearing them in place is harmless while only the snapshot uses them.
     */
    r = qcow2_flush_metadata(q);
    struct walk check = {.delta = 0, .clear_copied = true};
    if (r == 0)
        r = walk_tree(q, snap_l1, s->l1_size, &check);
    for (uint32_t i = 0; i < new_size; i++)
        snap_l1[i] &= ~QCOW2_COPIED;
    if (r == 0)
        r = qcow2_cache_flush(q, &q->l2_cache);
    if (r == 0)
        r = tree_refcounts(q, snap_l1, s->l1_size, +1);
    if (r == -ERANGE) {
        free(snap_l1);
        return fail(err, r,
                    "Snapshot \"%s\" cannot be applied: some clusters of %s are already shared as "
                    "often as its reference counts allow.",
                    name, q->path);
    }

    /* A new active L1 table, then the header switches to it in one write. */
    uint64_t new_off = 0, bytes = round_up((uint64_t)new_size * 8, q->cluster_size);
    if (r == 0)
        r = qcow2_alloc_clusters(q, bytes >> q->cluster_bits, &new_off);
    if (r == 0)
        r = write_l1(q, snap_l1, new_size, new_off);
    if (r == 0)
        r = qcow2_cache_flush(q, &q->rb_cache);
    if (r == 0)
        r = qcow2_barrier(q);
    if (r == 0) {
        uint8_t hdr[12];
        qcow2_put_be32(hdr, new_size);
        qcow2_put_be64(hdr + 4, new_off);
        r = qcow2_pwrite_file(q, hdr, sizeof(hdr), QCOW2_HDR_L1_SIZE);
        if (r == 0)
            r = qcow2_barrier(q);
    }
    if (r < 0) {
        free(snap_l1);
        return fail_io(q, err, r, "apply a snapshot");
    }

    /* The old tree is unreferenced on disk now: release it. */
    old_l1 = q->l1;
    uint32_t old_size = q->l1_size;
    uint64_t old_off = q->l1_offset;
    q->l1 = snap_l1;
    q->l1_size = new_size;
    q->l1_offset = new_off;
    q->l1_used = 0;
    for (uint32_t i = 0; i < new_size; i++)
        if (q->l1[i] & QCOW2_OFFSET_MASK)
            q->l1_used = i + 1;
    q->dbuf_key = 0;
    r = tree_refcounts(q, old_l1, old_size, -1);
    if (r == 0)
        r = free_clusters_now(q, old_off, round_up((uint64_t)old_size * 8, q->cluster_size));
    free(old_l1);
    if (r == 0)
        r = fix_copied(q);
    if (r == 0)
        r = qcow2_flush_metadata(q);
    return r < 0 ? fail_io(q, err, r, "release the old state after applying a snapshot") : 0;
}

int qcow2_snapshot_apply(struct vmm_disk *disk, const char *name, struct vmm_error *err)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    qcow2_drain(q);
    int r = apply_locked(q, name, err);
    qcow2_undrain(q);
    pthread_mutex_unlock(&q->lock);
    return r;
}

static int delete_locked(struct qcow2 *q, const char *name, struct vmm_error *err)
{
    int r, idx = find(q, name);
    uint64_t *l1 = NULL;

    if ((r = must_write(q, err)) < 0)
        return r;
    if (idx < 0)
        return not_found(q, name, err);
    struct qcow2_snapshot gone = q->snapshots[idx];
    r = read_l1(q, gone.l1_offset, gone.l1_size, 0, &l1);
    if (r < 0)
        return fail_io(q, err, r, "read the snapshot's L1 table");
    /* A damaged tree must not steer decrements: look at all of it first. */
    struct walk check = {.delta = 0};
    r = qcow2_flush_metadata(q);
    if (r == 0)
        r = walk_tree(q, l1, gone.l1_size, &check);
    struct qcow2_snapshot *snaps = NULL;
    uint32_t n = q->nb_snapshots - 1;
    if (r == 0 && n) {
        snaps = calloc(n, sizeof(*snaps));
        if (!snaps)
            r = -ENOMEM;
        else {
            memcpy(snaps, q->snapshots, (size_t)idx * sizeof(*snaps));
            memcpy(snaps + idx, q->snapshots + idx + 1, (size_t)(n - idx) * sizeof(*snaps));
        }
    }
    if (r == 0)
        r = commit_table(q, snaps, n);
    bool switched = r == 0 || q->snapshots == snaps;
    if (switched) {
        free(gone.id);
        free(gone.name);
        free(gone.extra);
    } else {
        free(snaps);
    }
    if (r < 0) {
        free(l1);
        return fail_io(q, err, r, "delete a snapshot");
    }

    r = tree_refcounts(q, l1, gone.l1_size, -1);
    if (r == 0)
        r = free_clusters_now(q, gone.l1_offset,
                              round_up((uint64_t)gone.l1_size * 8, q->cluster_size));
    free(l1);
    if (r == 0)
        r = fix_copied(q);
    if (r == 0)
        r = qcow2_flush_metadata(q);
    return r < 0 ? fail_io(q, err, r, "release a deleted snapshot's clusters") : 0;
}

int qcow2_snapshot_delete(struct vmm_disk *disk, const char *name, struct vmm_error *err)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    qcow2_drain(q);
    int r = delete_locked(q, name, err);
    qcow2_undrain(q);
    pthread_mutex_unlock(&q->lock);
    return r;
}

static int rename_locked(struct qcow2 *q, const char *name, const char *new_name,
                         struct vmm_error *err)
{
    int r, idx = find(q, name);

    if ((r = must_write(q, err)) < 0)
        return r;
    if (idx < 0)
        return not_found(q, name, err);
    if (!strcmp(q->snapshots[idx].name, new_name ? new_name : ""))
        return 0;
    if ((r = check_new_name(q, new_name, err)) < 0)
        return r;
    struct qcow2_snapshot *snaps = calloc(q->nb_snapshots, sizeof(*snaps));
    char *dup = strdup(new_name);
    if (!snaps || !dup) {
        free(snaps);
        free(dup);
        return fail(err, -ENOMEM, "Out of memory renaming a snapshot in %s.", q->path);
    }
    memcpy(snaps, q->snapshots, q->nb_snapshots * sizeof(*snaps));
    char *old = snaps[idx].name;
    snaps[idx].name = dup;
    r = qcow2_flush_metadata(q);
    if (r == 0)
        r = commit_table(q, snaps, q->nb_snapshots);
    if (q->snapshots == snaps) {
        free(old);
    } else {
        free(dup);
        free(snaps);
    }
    if (r < 0)
        return fail_io(q, err, r, "rename a snapshot");
    r = qcow2_flush_metadata(q);
    return r < 0 ? fail_io(q, err, r, "rename a snapshot") : 0;
}

int qcow2_snapshot_rename(struct vmm_disk *disk, const char *name, const char *new_name,
                          struct vmm_error *err)
{
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    qcow2_drain(q);
    int r = rename_locked(q, name, new_name, err);
    qcow2_undrain(q);
    pthread_mutex_unlock(&q->lock);
    return r;
}

/* ---- a read-only view of one snapshot ---- */

static int view_locked(struct qcow2 *q, const char *name, struct vmm_error *err)
{
    int idx = find(q, name);
    if (idx < 0)
        return not_found(q, name, err);
    const struct qcow2_snapshot *s = &q->snapshots[idx];
    const uint64_t span = q->cluster_size * q->l2_entries;
    uint64_t needed = (s->disk_size + span - 1) / span;
    if (needed > QCOW2_MAX_L1_BYTES / 8)
        return fail(err, -EFBIG, "Snapshot \"%s\" of %s claims an absurd size (%llu bytes).", name,
                    q->path, (unsigned long long)s->disk_size);
    /* Entries past the snapshot's own L1 table read as unallocated. */
    uint64_t *l1 = NULL;
    int r = read_l1(q, s->l1_offset, s->l1_size, (uint32_t)needed, &l1);
    if (r < 0)
        return fail_io(q, err, r, "read the snapshot's L1 table");
    free(q->l1);
    q->l1 = l1;
    q->l1_size = s->l1_size > needed ? s->l1_size : (uint32_t)needed;
    q->l1_offset = s->l1_offset;
    q->l1_used = 0;
    for (uint32_t i = 0; i < q->l1_size; i++)
        if (q->l1[i] & QCOW2_OFFSET_MASK)
            q->l1_used = i + 1;
    q->disk.size = s->disk_size;
    return 0;
}

struct vmm_disk *vmm_disk_open_snapshot(const char *path, const char *name, struct vmm_error *err)
{
    struct vmm_disk *disk = vmm_disk_open(path, VMM_DISK_RDONLY | VMM_DISK_NOLOCK, err);
    if (!disk)
        return NULL;
    if (disk->ops != &vmm_disk_qcow2_ops) {
        vmm_disk_close(disk);
        vmm_error_set(err, -ENOTSUP, "The disk image %s is not qcow2 and holds no snapshots.",
                      path);
        return NULL;
    }
    struct qcow2 *q = to_qcow2(disk);
    pthread_mutex_lock(&q->lock);
    int r = view_locked(q, name ? name : "", err);
    pthread_mutex_unlock(&q->lock);
    if (r < 0) {
        vmm_disk_close(disk);
        return NULL;
    }
    return disk;
}
