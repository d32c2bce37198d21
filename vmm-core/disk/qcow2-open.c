/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening a qcow2 image: the header, its extensions and every table location
 * are checked against the file before anything is trusted. A malformed image
 * is refused with one sentence; nothing here may crash or loop on bad input.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "core/log.h"
#include "disk/qcow2.h"

uint64_t qcow2_be64(const void *p)
{
    const uint8_t *b = p;
    return ((uint64_t)qcow2_be32(b) << 32) | qcow2_be32(b + 4);
}

uint32_t qcow2_be32(const void *p)
{
    const uint8_t *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

uint16_t qcow2_be16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)((b[0] << 8) | b[1]);
}

void qcow2_put_be64(void *p, uint64_t v)
{
    uint8_t *b = p;
    qcow2_put_be32(b, (uint32_t)(v >> 32));
    qcow2_put_be32(b + 4, (uint32_t)v);
}

void qcow2_put_be32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

void qcow2_put_be16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

/* ---- inconsistencies found during I/O ---- */

int qcow2_corrupt(struct qcow2 *q, const char *fmt, ...)
{
    char what[200];
    va_list ap;

    if (q->broken)
        return -EIO;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    q->broken = true;
    snprintf(q->broken_msg, sizeof(q->broken_msg),
             "The disk image is damaged (%s); it is now read-only.", what);
    vmm_log(VMM_LOG_ERROR, "qcow2 %s: %s", q->path, q->broken_msg);
    __atomic_store_n(&q->disk.read_only, true, __ATOMIC_RELEASE);

    /* Unwritten metadata may rest on the bad structure: drop it rather than spread it. */
    qcow2_cache_drop_dirty(&q->l2_cache);
    qcow2_cache_drop_dirty(&q->rb_cache);
    q->n_pending = 0;

    /* Record it for the next user of the image (best effort). */
    if (q->writable && q->version >= 3 && !(q->incompat & QCOW2_INCOMPAT_CORRUPT)) {
        uint8_t be[8];
        q->incompat |= QCOW2_INCOMPAT_CORRUPT;
        qcow2_put_be64(be, q->incompat);
        if (qcow2_pwrite_file(q, be, 8, QCOW2_HDR_INCOMPAT) == 0)
            (void)qcow2_barrier(q);
    }
    return -EIO;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

static uint64_t round_up(uint64_t v, uint64_t align)
{
    return (v + align - 1) & ~(align - 1);
}

bool qcow2_overlaps_static(struct qcow2 *q, uint64_t off, uint64_t len)
{
    const uint64_t cs = q->cluster_size;

    if (ranges_overlap(off, len, 0, cs))
        return true;
    if (ranges_overlap(off, len, q->l1_offset, round_up((uint64_t)q->l1_size * 8, cs)))
        return true;
    if (ranges_overlap(off, len, q->rt_offset, (uint64_t)q->rt_clusters * cs))
        return true;
    if (ranges_overlap(off, len, q->snapshots_offset, round_up(q->snapshots_size, cs)))
        return true;
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        if (ranges_overlap(off, len, q->snapshots[i].l1_offset,
                           round_up((uint64_t)q->snapshots[i].l1_size * 8, cs)))
            return true;
    return false;
}

bool qcow2_overlaps_metadata(struct qcow2 *q, uint64_t off, uint64_t len)
{
    const uint64_t cs = q->cluster_size;

    if (qcow2_overlaps_static(q, off, len))
        return true;
    /* Active L2 tables and refcount blocks: only the used prefix of each table is scanned. */
    for (uint64_t i = 0; i < q->l1_used; i++)
        if (ranges_overlap(off, len, q->l1[i] & QCOW2_OFFSET_MASK, cs) &&
            (q->l1[i] & QCOW2_OFFSET_MASK))
            return true;
    for (uint64_t i = 0; i < q->rt_used; i++)
        if (q->rt[i] && ranges_overlap(off, len, q->rt[i] & QCOW2_RT_OFFSET_MASK, cs))
            return true;
    return false;
}

bool qcow2_valid_table_offset(struct qcow2 *q, uint64_t off)
{
    return off && !(off & (q->cluster_size - 1)) && off < q->file_size &&
           q->file_size - off >= q->cluster_size;
}

/* ---- open ---- */

struct open_ctx {
    struct qcow2 *q;
    const char *path;
    struct vmm_error *err;
    uint8_t *hdr; /* the first cluster, or as much of it as the file has */
    size_t hdr_len;
    uint64_t backing_offset;
    uint32_t backing_size;
    const uint8_t *features; /* feature name table, for messages */
    uint32_t features_len;
};

#define REFUSE(ctx, code, ...)                          \
    do {                                                \
        vmm_error_set((ctx)->err, (code), __VA_ARGS__); \
        return (code);                                  \
    } while (0)

static const char *feature_name(struct open_ctx *ctx, unsigned type, unsigned bit, char *buf,
                                size_t len)
{
    for (uint32_t i = 0; i + 48 <= ctx->features_len; i += 48) {
        const uint8_t *f = ctx->features + i;
        if (f[0] == type && f[1] == bit) {
            size_t n = strnlen((const char *)f + 2, 46);
            if (n >= len)
                n = len - 1;
            for (size_t j = 0; j < n; j++)
                buf[j] = (f[2 + j] >= 0x20 && f[2 + j] < 0x7f) ? (char)f[2 + j] : '?';
            buf[n] = 0;
            return buf;
        }
    }
    return NULL;
}

static int parse_extensions(struct open_ctx *ctx)
{
    struct qcow2 *q = ctx->q;
    uint64_t pos = q->header_length;
    /* Extensions end where the backing file name starts, or at the end of the first cluster. */
    uint64_t end = ctx->backing_offset ? ctx->backing_offset : q->cluster_size;
    bool seen_fmt = false, seen_features = false;

    if (end > ctx->hdr_len)
        end = ctx->hdr_len;
    for (unsigned count = 0; pos + 8 <= end; count++) {
        uint32_t type = qcow2_be32(ctx->hdr + pos);
        uint32_t len = qcow2_be32(ctx->hdr + pos + 4);
        pos += 8;
        if (type == QCOW2_EXT_END)
            return 0;
        if (len > end - pos)
            REFUSE(ctx, -EINVAL,
                   "The disk image %s is damaged: header extension 0x%08x runs past the end of "
                   "the header area.",
                   ctx->path, type);
        const uint8_t *data = ctx->hdr + pos;
        switch (type) {
        case QCOW2_EXT_BACKING_FORMAT:
            if (seen_fmt || len >= sizeof(q->backing_fmt))
                REFUSE(ctx, -EINVAL,
                       "The disk image %s is damaged: its backing format extension is invalid.",
                       ctx->path);
            memcpy(q->backing_fmt, data, len);
            q->backing_fmt[len] = 0;
            seen_fmt = true;
            break;
        case QCOW2_EXT_FEATURE_TABLE:
            if (seen_features || len % 48)
                REFUSE(ctx, -EINVAL,
                       "The disk image %s is damaged: its feature name table is invalid.",
                       ctx->path);
            ctx->features = data;
            ctx->features_len = len;
            seen_features = true;
            break;
        case QCOW2_EXT_BITMAPS:
            q->has_bitmaps = true;
            break;
        default:
            /* Unknown or unsupported (guarded by feature bits): ignored, preserved. */
            break;
        }
        pos += round_up(len, 8);
        if (count > 1024)
            break;
    }
    return 0;
}

static int check_features(struct open_ctx *ctx, bool ro)
{
    struct qcow2 *q = ctx->q;
    const uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
                           QCOW2_INCOMPAT_DATA_FILE | QCOW2_INCOMPAT_COMPRESSION |
                           QCOW2_INCOMPAT_EXTL2;
    uint64_t unknown = q->incompat & ~known;
    char name[48];

    if (unknown) {
        for (unsigned bit = 0; bit < 64; bit++) {
            if (!(unknown & (1ull << bit)))
                continue;
            if (feature_name(ctx, 0, bit, name, sizeof(name)))
                REFUSE(ctx, -ENOTSUP,
                       "The disk image %s needs the qcow2 feature \"%s\" (incompatible feature "
                       "bit %u), which Terrarium does not support.",
                       ctx->path, name, bit);
            REFUSE(ctx, -ENOTSUP,
                   "The disk image %s uses an unknown incompatible qcow2 feature (bit %u); it "
                   "was probably made by a newer program and cannot be opened safely.",
                   ctx->path, bit);
        }
    }
    if (q->incompat & QCOW2_INCOMPAT_DATA_FILE)
        REFUSE(ctx, -ENOTSUP,
               "The disk image %s keeps its data in an external data file, which Terrarium does "
               "not support.",
               ctx->path);
    if (q->incompat & QCOW2_INCOMPAT_EXTL2)
        REFUSE(ctx, -ENOTSUP,
               "The disk image %s uses extended L2 entries (subclusters), which Terrarium does "
               "not support yet; convert it with qemu-img convert -O qcow2.",
               ctx->path);
    if (!ro && (q->incompat & QCOW2_INCOMPAT_CORRUPT))
        REFUSE(ctx, -EIO,
               "The disk image %s is marked corrupt. Repair it with \"qemu-img check -r all\" "
               "before using it, or open it read-only to copy data off it.",
               ctx->path);
    if (!ro && (q->incompat & QCOW2_INCOMPAT_DIRTY))
        REFUSE(ctx, -EIO,
               "The disk image %s was not closed cleanly and its reference counts need repair. "
               "Run \"qemu-img check -r all\" on it, or open it read-only.",
               ctx->path);
    return 0;
}

static int parse_header(struct open_ctx *ctx, bool ro)
{
    struct qcow2 *q = ctx->q;
    const uint8_t *h = ctx->hdr;
    const uint64_t fsize = q->file_size;

    if (ctx->hdr_len < 4 || qcow2_be32(h) != QCOW2_MAGIC)
        REFUSE(ctx, -EINVAL, "%s is not a qcow2 image.", ctx->path);
    if (ctx->hdr_len < QCOW2_V2_HEADER_LEN)
        REFUSE(ctx, -EINVAL, "The disk image %s is truncated inside its header.", ctx->path);
    q->version = qcow2_be32(h + 4);
    if (q->version != 2 && q->version != 3)
        REFUSE(ctx, -ENOTSUP,
               "The disk image %s uses qcow2 version %u; only versions 2 and 3 are supported.",
               ctx->path, q->version);
    ctx->backing_offset = qcow2_be64(h + 8);
    ctx->backing_size = qcow2_be32(h + 16);
    q->cluster_bits = qcow2_be32(h + 20);
    uint64_t size = qcow2_be64(h + 24);
    uint32_t crypt = qcow2_be32(h + 32);
    q->l1_size = qcow2_be32(h + 36);
    q->l1_offset = qcow2_be64(h + 40);
    q->rt_offset = qcow2_be64(h + 48);
    q->rt_clusters = qcow2_be32(h + 56);
    q->nb_snapshots = qcow2_be32(h + 60);
    q->snapshots_offset = qcow2_be64(h + 64);

    if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
        REFUSE(ctx, -ENOTSUP,
               "The disk image %s has an unsupported cluster size (2^%u bytes; 512 bytes to "
               "2 MiB are supported).",
               ctx->path, q->cluster_bits);
    q->cluster_size = 1ull << q->cluster_bits;
    const uint64_t cs = q->cluster_size;
    q->l2_bits = q->cluster_bits - 3;
    q->l2_entries = 1ull << q->l2_bits;

    if (q->version == 2) {
        q->header_length = QCOW2_V2_HEADER_LEN;
        q->refcount_order = 4;
    } else {
        if (ctx->hdr_len < QCOW2_V3_HEADER_LEN)
            REFUSE(ctx, -EINVAL, "The disk image %s is truncated inside its header.", ctx->path);
        q->incompat = qcow2_be64(h + 72);
        q->compat = qcow2_be64(h + 80);
        q->autoclear = qcow2_be64(h + 88);
        q->refcount_order = qcow2_be32(h + 96);
        q->header_length = qcow2_be32(h + 100);
        if (q->header_length < QCOW2_V3_HEADER_LEN || q->header_length % 8 ||
            q->header_length > cs || q->header_length > ctx->hdr_len)
            REFUSE(ctx, -EINVAL, "The disk image %s has an invalid header length (%u).", ctx->path,
                   q->header_length);
        if (q->refcount_order > 6)
            REFUSE(ctx, -EINVAL, "The disk image %s has an invalid refcount width (order %u).",
                   ctx->path, q->refcount_order);
        q->compression_type = q->header_length > 104 ? h[104] : 0;
    }
    if (ctx->backing_offset) {
        if (ctx->backing_size == 0 || ctx->backing_size > QCOW2_MAX_BACKING_NAME ||
            ctx->backing_offset >= cs || cs - ctx->backing_offset < ctx->backing_size ||
            ctx->backing_offset + ctx->backing_size > ctx->hdr_len ||
            ctx->backing_offset < q->header_length)
            REFUSE(ctx, -EINVAL,
                   "The disk image %s is damaged: its backing file name lies outside the "
                   "header cluster or is too long.",
                   ctx->path);
    }
    int r = parse_extensions(ctx);
    if (r < 0)
        return r;
    r = check_features(ctx, ro);
    if (r < 0)
        return r;

    if (crypt != 0)
        REFUSE(ctx, -ENOTSUP,
               "The disk image %s is encrypted; Terrarium does not support encrypted qcow2 "
               "images.",
               ctx->path);
    bool has_ctype_bit = q->incompat & QCOW2_INCOMPAT_COMPRESSION;
    if (has_ctype_bit != (q->compression_type != 0))
        REFUSE(ctx, -EINVAL,
               "The disk image %s is damaged: its compression type and feature bits disagree.",
               ctx->path);
    if (q->compression_type > QCOW2_COMPRESSION_ZSTD)
        REFUSE(ctx, -ENOTSUP, "The disk image %s uses an unknown compression type (%u).", ctx->path,
               q->compression_type);

    /* Refcounts. */
    q->rb_bits = q->cluster_bits + 3 - q->refcount_order;
    q->rb_entries = 1ull << q->rb_bits;
    q->refcount_max = q->refcount_order == 6 ? UINT64_MAX : (1ull << (1u << q->refcount_order)) - 1;

    /* Compressed cluster descriptors: offset in the low x bits, sector count above. */
    q->csize_shift = 62 - (q->cluster_bits - 8);
    q->csize_mask = (1ull << (q->cluster_bits - 8)) - 1;
    q->coffset_mask = (1ull << q->csize_shift) - 1;

    /* Virtual size and the L1 table. */
    uint64_t l2_cover_bits = q->cluster_bits + q->l2_bits; /* bytes covered by one L2, log2 */
    uint64_t l1_needed = (size >> l2_cover_bits) + ((size & ((1ull << l2_cover_bits) - 1)) != 0);
    if (l1_needed > QCOW2_MAX_L1_BYTES / 8)
        REFUSE(ctx, -EFBIG, "The disk image %s claims an absurd virtual size (%llu bytes).",
               ctx->path, (unsigned long long)size);
    if (q->l1_size > QCOW2_MAX_L1_BYTES / 8)
        REFUSE(ctx, -EINVAL, "The disk image %s is damaged: its L1 table size (%u) is absurd.",
               ctx->path, q->l1_size);
    if (q->l1_size < l1_needed)
        REFUSE(ctx, -EINVAL,
               "The disk image %s is damaged: its L1 table (%u entries) is too small for its "
               "virtual size.",
               ctx->path, q->l1_size);
    uint64_t l1_bytes = (uint64_t)q->l1_size * 8;
    if (q->l1_size && q->l1_offset < cs)
        REFUSE(ctx, -EINVAL, "The disk image %s is damaged: its L1 table overlaps the header.",
               ctx->path);
    if (q->l1_size && q->l1_offset & (cs - 1))
        REFUSE(ctx, -EINVAL, "The disk image %s is damaged: its L1 table is not cluster-aligned.",
               ctx->path);
    if (q->l1_size && (q->l1_offset > fsize || fsize - q->l1_offset < l1_bytes))
        REFUSE(ctx, -EINVAL,
               "The disk image %s is damaged or truncated: its L1 table lies outside the file.",
               ctx->path);

    /* Refcount table. */
    if (q->rt_offset < cs)
        REFUSE(ctx, -EINVAL,
               "The disk image %s is damaged: its refcount table overlaps the image header.",
               ctx->path);
    if (q->rt_offset & (cs - 1) || q->rt_clusters == 0 ||
        (uint64_t)q->rt_clusters * cs > QCOW2_MAX_RT_BYTES)
        REFUSE(ctx, -EINVAL,
               "The disk image %s is damaged: its refcount table location or size is invalid.",
               ctx->path);
    uint64_t rt_bytes = (uint64_t)q->rt_clusters * cs;
    if (q->rt_offset > fsize || fsize - q->rt_offset < rt_bytes)
        REFUSE(ctx, -EINVAL,
               "The disk image %s is damaged or truncated: its refcount table lies outside the "
               "file.",
               ctx->path);
    q->rt_entries = rt_bytes / 8;

    if (ranges_overlap(q->rt_offset, rt_bytes, 0, cs))
        REFUSE(ctx, -EINVAL,
               "The disk image %s is damaged: its refcount table overlaps the image header.",
               ctx->path);
    if (ranges_overlap(q->l1_offset, l1_bytes, 0, cs))
        REFUSE(ctx, -EINVAL, "The disk image %s is damaged: its L1 table overlaps the header.",
               ctx->path);
    if (ranges_overlap(q->l1_offset, l1_bytes, q->rt_offset, rt_bytes))
        REFUSE(ctx, -EINVAL,
               "The disk image %s is damaged: its L1 table overlaps its refcount table.",
               ctx->path);

    /* Snapshot table: parsed in load_snapshots once its extent is known. */
    if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        REFUSE(ctx, -EINVAL, "The disk image %s claims an absurd number of snapshots (%u).",
               ctx->path, q->nb_snapshots);
    if (q->nb_snapshots) {
        if (q->snapshots_offset & (cs - 1) || !q->snapshots_offset ||
            q->snapshots_offset >= fsize || (fsize - q->snapshots_offset) / 40 < q->nb_snapshots)
            REFUSE(ctx, -EINVAL,
                   "The disk image %s is damaged: its table of %u snapshots does not fit in the "
                   "file.",
                   ctx->path, q->nb_snapshots);
    }
    q->disk.size = size;
    return 0;
}

static int load_snapshots(struct open_ctx *ctx)
{
    struct qcow2 *q = ctx->q;
    const uint64_t cs = q->cluster_size;
    uint64_t pos = q->snapshots_offset, end = pos;

    if (!q->nb_snapshots)
        return 0;
    q->snapshots = calloc(q->nb_snapshots, sizeof(*q->snapshots));
    if (!q->snapshots)
        REFUSE(ctx, -ENOMEM, "Out of memory reading the snapshots of %s.", ctx->path);
    for (uint32_t i = 0; i < q->nb_snapshots; i++) {
        uint8_t h[40];
        struct qcow2_snapshot *s = &q->snapshots[i];
        if (pos + sizeof(h) > q->file_size ||
            pos + sizeof(h) - q->snapshots_offset > QCOW2_MAX_SNAPSHOT_TABLE)
            REFUSE(ctx, -EINVAL,
                   "The disk image %s is damaged: its snapshot table runs past the end of the "
                   "file.",
                   ctx->path);
        int r = qcow2_pread_file(q, h, sizeof(h), pos);
        if (r < 0)
            REFUSE(ctx, r, "Cannot read the snapshot table of %s: %s.", ctx->path, strerror(-r));
        s->l1_offset = qcow2_be64(h);
        s->l1_size = qcow2_be32(h + 8);
        uint16_t id_len = qcow2_be16(h + 12), name_len = qcow2_be16(h + 14);
        s->date_sec = qcow2_be32(h + 16);
        s->date_nsec = qcow2_be32(h + 20);
        s->vm_clock_nsec = qcow2_be64(h + 24);
        s->vm_state_size = qcow2_be32(h + 32);
        s->disk_size = q->disk.size;
        s->icount = UINT64_MAX;
        uint32_t extra = qcow2_be32(h + 36);
        if (extra > QCOW2_MAX_SNAPSHOT_EXTRA)
            REFUSE(ctx, -EINVAL,
                   "The disk image %s is damaged: snapshot %u has too much extra data.", ctx->path,
                   i);
        uint64_t var = (uint64_t)extra + id_len + name_len;
        /* The last entry's padding need not be in the file. */
        uint64_t entry_len = round_up(sizeof(h) + var, 8);
        if (pos + sizeof(h) + var > q->file_size ||
            pos + entry_len - q->snapshots_offset > QCOW2_MAX_SNAPSHOT_TABLE)
            REFUSE(ctx, -EINVAL,
                   "The disk image %s is damaged: its snapshot table runs past the end of the "
                   "file.",
                   ctx->path);
        uint8_t *v = malloc(var + 1);
        s->id = malloc((size_t)id_len + 1);
        s->name = malloc((size_t)name_len + 1);
        if (!v || !s->id || !s->name) {
            free(v);
            REFUSE(ctx, -ENOMEM, "Out of memory reading the snapshots of %s.", ctx->path);
        }
        r = qcow2_pread_file(q, v, var, pos + sizeof(h));
        if (r < 0) {
            free(v);
            REFUSE(ctx, r, "Cannot read the snapshot table of %s: %s.", ctx->path, strerror(-r));
        }
        if (extra >= 8)
            s->vm_state_size = qcow2_be64(v);
        if (extra >= 16)
            s->disk_size = qcow2_be64(v + 8);
        if (extra >= 24)
            s->icount = qcow2_be64(v + 16);
        if (extra) {
            s->extra = malloc(extra);
            if (!s->extra) {
                free(v);
                REFUSE(ctx, -ENOMEM, "Out of memory reading the snapshots of %s.", ctx->path);
            }
            memcpy(s->extra, v, extra);
            s->extra_len = extra;
        }
        memcpy(s->id, v + extra, id_len);
        s->id[id_len] = 0;
        memcpy(s->name, v + extra + id_len, name_len);
        s->name[name_len] = 0;
        free(v);
        if (s->l1_size > QCOW2_MAX_L1_BYTES / 8 ||
            (s->l1_size &&
             (s->l1_offset & (cs - 1) || !s->l1_offset || s->l1_offset > q->file_size ||
              q->file_size - s->l1_offset < (uint64_t)s->l1_size * 8)))
            REFUSE(ctx, -EINVAL,
                   "The disk image %s is damaged: the L1 table of snapshot %u lies outside the "
                   "file.",
                   ctx->path, i);
        end = pos + sizeof(h) + var;
        pos += entry_len;
    }
    q->snapshots_size = end - q->snapshots_offset;
    if (ranges_overlap(q->snapshots_offset, q->snapshots_size, 0, cs) ||
        ranges_overlap(q->snapshots_offset, q->snapshots_size, q->rt_offset,
                       (uint64_t)q->rt_clusters * cs) ||
        ranges_overlap(q->snapshots_offset, q->snapshots_size, q->l1_offset,
                       (uint64_t)q->l1_size * 8))
        REFUSE(ctx, -EINVAL,
               "The disk image %s is damaged: its snapshot table overlaps other metadata.",
               ctx->path);
    /*
     * Deleting or applying a snapshot frees an L1 table: in a writable image a
     * snapshot's must not lie on anything else. (Read-only, one may look at a
     * snapshot by pointing the header's L1 at it.)
     */
    for (uint32_t i = 0; !(q->disk.flags & VMM_DISK_RDONLY) && i < q->nb_snapshots; i++) {
        const struct qcow2_snapshot *s = &q->snapshots[i];
        uint64_t len = round_up((uint64_t)s->l1_size * 8, cs);
        if (s->l1_size &&
            (ranges_overlap(s->l1_offset, len, 0, cs) ||
             ranges_overlap(s->l1_offset, len, q->rt_offset, (uint64_t)q->rt_clusters * cs) ||
             ranges_overlap(s->l1_offset, len, q->l1_offset,
                            round_up((uint64_t)q->l1_size * 8, cs)) ||
             ranges_overlap(s->l1_offset, len, q->snapshots_offset,
                            round_up(q->snapshots_size, cs))))
            REFUSE(ctx, -EINVAL,
                   "The disk image %s is damaged: the L1 table of snapshot %u overlaps other "
                   "metadata.",
                   ctx->path, i);
    }
    return 0;
}

static int load_tables(struct open_ctx *ctx)
{
    struct qcow2 *q = ctx->q;
    uint64_t n = q->l1_size ? q->l1_size : 1;
    uint8_t *raw = malloc(q->rt_entries * 8 > n * 8 ? q->rt_entries * 8 : n * 8);
    int r;

    q->l1 = calloc(n, sizeof(uint64_t));
    q->rt = calloc(q->rt_entries, sizeof(uint64_t));
    if (!raw || !q->l1 || !q->rt) {
        free(raw);
        REFUSE(ctx, -ENOMEM, "Out of memory opening %s.", ctx->path);
    }
    if (q->l1_size) {
        r = qcow2_pread_file(q, raw, (size_t)q->l1_size * 8, q->l1_offset);
        if (r < 0) {
            free(raw);
            REFUSE(ctx, r, "Cannot read the L1 table of %s: %s.", ctx->path, strerror(-r));
        }
        for (uint32_t i = 0; i < q->l1_size; i++)
            q->l1[i] = qcow2_be64(raw + (size_t)i * 8);
    }
    r = qcow2_pread_file(q, raw, q->rt_entries * 8, q->rt_offset);
    if (r < 0) {
        free(raw);
        REFUSE(ctx, r, "Cannot read the refcount table of %s: %s.", ctx->path, strerror(-r));
    }
    for (uint64_t i = 0; i < q->rt_entries; i++) {
        q->rt[i] = qcow2_be64(raw + i * 8);
        if (q->rt[i])
            q->rt_used = i + 1;
    }
    for (uint32_t i = 0; i < q->l1_size; i++)
        if (q->l1[i] & QCOW2_OFFSET_MASK)
            q->l1_used = i + 1;
    free(raw);
    return 0;
}

static void resolve_backing(const char *image, const char *name, char *out, size_t len)
{
    const char *slash = strrchr(image, '/');
    if (name[0] == '/' || !slash)
        snprintf(out, len, "%s", name);
    else
        snprintf(out, len, "%.*s/%s", (int)(slash - image), image, name);
}

static int open_backing(struct open_ctx *ctx, int depth)
{
    struct qcow2 *q = ctx->q;
    unsigned flags = VMM_DISK_RDONLY;
    struct vmm_error inner = {0};
    char path[4096 + 8];

    if (!ctx->backing_offset)
        return 0;
    memcpy(q->backing_file, ctx->hdr + ctx->backing_offset, ctx->backing_size);
    q->backing_file[ctx->backing_size] = 0;
    if (strlen(q->backing_file) != ctx->backing_size)
        REFUSE(ctx, -EINVAL, "The disk image %s is damaged: its backing file name is invalid.",
               ctx->path);
    if (!strcmp(q->backing_fmt, "raw"))
        flags |= VMM_DISK_FORMAT_RAW;
    else if (!strcmp(q->backing_fmt, "qcow2"))
        flags |= VMM_DISK_FORMAT_QCOW2;
    else if (q->backing_fmt[0])
        REFUSE(ctx, -ENOTSUP,
               "The backing file of %s is in the %s format, which Terrarium does not support.",
               ctx->path, q->backing_fmt);
    resolve_backing(ctx->path, q->backing_file, path, sizeof(path));
    q->backing = vmm_disk_open_chain(path, flags, depth + 1, &inner);
    if (!q->backing && inner.code == -ELOOP)
        REFUSE(ctx, -ELOOP, "%s", inner.msg); /* already names the culprit; do not nest it */
    if (!q->backing)
        REFUSE(ctx, inner.code ? inner.code : -EIO, "Cannot use the backing file of %s: %s",
               ctx->path, inner.msg);
    return 0;
}

static unsigned clamp_entries(uint64_t bytes, uint64_t cs, unsigned lo, unsigned hi)
{
    uint64_t n = bytes / cs;
    return n < lo ? lo : n > hi ? hi : (unsigned)n;
}

static void release(struct qcow2 *q)
{
    qcow2_cache_destroy(&q->l2_cache);
    qcow2_cache_destroy(&q->rb_cache);
    qcow2_free_snapshot_array(q->snapshots, q->nb_snapshots);
    free(q->l1);
    free(q->rt);
    free(q->pending_free);
    free(q->cow_buf);
    free(q->cbuf);
    free(q->dbuf);
    free(q->zero_buf);
    if (q->zstream) {
        inflateEnd(q->zstream);
        free(q->zstream);
    }
    ZSTD_freeDCtx(q->zstd);
    vmm_disk_close(q->backing);
    if (q->fd >= 0)
        close(q->fd);
    free(q->path);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
}

int qcow2_open(struct vmm_disk *disk, const char *path, int depth, struct vmm_error *err)
{
    struct qcow2 *q = to_qcow2(disk);
    bool ro = disk->flags & VMM_DISK_RDONLY;
    struct open_ctx ctx = {.q = q, .path = path, .err = err};
    struct stat st;
    int r;

    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->path = strdup(path);
    q->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (q->fd < 0 || !q->path) {
        r = q->path ? -errno : -ENOMEM;
        vmm_error_set(err, r, "Cannot open the disk image %s%s: %s.", path,
                      ro ? "" : " for writing", strerror(-r));
        goto fail;
    }
    r = vmm_disk_lock_fd(q->fd, disk->flags, path, err);
    if (r < 0)
        goto fail;
    if (fstat(q->fd, &st) < 0) {
        r = -errno;
        vmm_error_set(err, r, "Cannot examine the disk image %s: %s.", path, strerror(-r));
        goto fail;
    }
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(q->fd, BLKGETSIZE64, &q->file_size) < 0) {
            r = -errno;
            vmm_error_set(err, r, "Cannot get the size of %s: %s.", path, strerror(-r));
            goto fail;
        }
    } else if (S_ISREG(st.st_mode)) {
        q->file_size = (uint64_t)st.st_size;
    } else {
        r = -EINVAL;
        vmm_error_set(err, r, "%s is neither a regular file nor a block device.", path);
        goto fail;
    }
    q->writable = !ro;

    /* The header and its extensions live in the first cluster (at most 2 MiB). */
    uint8_t probe[24] = {0};
    r = qcow2_pread_file(q, probe, sizeof(probe), 0);
    if (r < 0) {
        vmm_error_set(err, r, "Cannot read the disk image %s: %s.", path, strerror(-r));
        goto fail;
    }
    uint32_t cbits = qcow2_be32(probe + 20);
    size_t hlen = 1u << (cbits >= QCOW2_MIN_CLUSTER_BITS && cbits <= QCOW2_MAX_CLUSTER_BITS
                             ? cbits
                             : QCOW2_MIN_CLUSTER_BITS);
    if (hlen > q->file_size)
        hlen = (size_t)q->file_size;
    ctx.hdr = calloc(1, hlen < QCOW2_V3_HEADER_LEN ? QCOW2_V3_HEADER_LEN : hlen);
    if (!ctx.hdr) {
        r = -ENOMEM;
        vmm_error_set(err, r, "Out of memory opening %s.", path);
        goto fail;
    }
    ctx.hdr_len = hlen;
    r = qcow2_pread_file(q, ctx.hdr, hlen, 0);
    if (r < 0) {
        vmm_error_set(err, r, "Cannot read the disk image %s: %s.", path, strerror(-r));
        goto fail;
    }
    if ((r = parse_header(&ctx, ro)) < 0 || (r = load_snapshots(&ctx)) < 0 ||
        (r = load_tables(&ctx)) < 0)
        goto fail;

    const uint64_t cs = q->cluster_size;
    if ((r = qcow2_cache_init(&q->l2_cache, QCOW2_CACHE_L2, clamp_entries(2u << 20, cs, 4, 256),
                              cs)) < 0 ||
        (r = qcow2_cache_init(&q->rb_cache, QCOW2_CACHE_REFBLOCK,
                              clamp_entries(256u << 10, cs, 4, 64), cs)) < 0) {
        vmm_error_set(err, r, "Out of memory opening %s.", path);
        goto fail;
    }
    q->cow_buf = malloc(cs);
    q->cbuf = malloc(2 * cs);
    q->dbuf = malloc(cs);
    if (!q->cow_buf || !q->cbuf || !q->dbuf) {
        r = -ENOMEM;
        vmm_error_set(err, r, "Out of memory opening %s.", path);
        goto fail;
    }

    r = open_backing(&ctx, depth);
    if (r < 0)
        goto fail;

    if (!ro && q->autoclear) {
        /* We keep no auto-clear structures (such as bitmaps) up to date: say so first. */
        uint8_t be[8] = {0};
        q->autoclear = 0;
        r = qcow2_pwrite_file(q, be, 8, QCOW2_HDR_AUTOCLEAR);
        if (r == 0)
            r = qcow2_barrier(q);
        if (r < 0) {
            vmm_error_set(err, r, "Cannot update the header of %s: %s.", path, strerror(-r));
            goto fail;
        }
    }
    free(ctx.hdr);
    disk->read_only = ro;
    return 0;

fail:
    free(ctx.hdr);
    release(q);
    return r;
}

void qcow2_close(struct vmm_disk *disk)
{
    struct qcow2 *q = to_qcow2(disk);

    if (q->writable && !q->broken)
        (void)qcow2_flush_metadata(q);
    release(q);
}

void qcow2_get_info(struct vmm_disk *disk, struct vmm_disk_info *info)
{
    struct qcow2 *q = to_qcow2(disk);

    pthread_mutex_lock(&q->lock);
    info->format = VMM_DISK_QCOW2;
    info->file_size = q->file_size;
    info->cluster_size = (uint32_t)q->cluster_size;
    info->qcow2_version = q->version;
    info->refcount_bits = 1u << q->refcount_order;
    info->nb_snapshots = q->nb_snapshots;
    info->compression = q->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib";
    info->has_backing = q->backing_file[0] != 0;
    snprintf(info->backing_file, sizeof(info->backing_file), "%s", q->backing_file);
    snprintf(info->backing_format, sizeof(info->backing_format), "%s", q->backing_fmt);
    snprintf(info->error, sizeof(info->error), "%s", q->broken_msg);
    pthread_mutex_unlock(&q->lock);
}
