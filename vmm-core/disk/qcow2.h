/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 internals shared by the qcow2-*.c files. Facts about the format come
 * from the qcow2 specification (docs/interop/qcow2.txt in the QEMU tree).
 *
 * Crash safety rests on three orderings (see README.md):
 *  - a newly allocated cluster's refcount reaches the disk before any L1/L2
 *    or refcount-table pointer to it, and its contents before the pointer;
 *  - guest data reaches the disk before the L2 entry that maps it;
 *  - a refcount decrement reaches the disk only after the tables that stopped
 *    referencing the cluster (decrements wait in pending_free until then).
 * A crash therefore leaks clusters at worst; it never leaves a pointer to a
 * cluster that could be handed out again.
 */
#ifndef VMM_DISK_QCOW2_H
#define VMM_DISK_QCOW2_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"
#include "disk/disk.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_V2_HEADER_LEN 72u
#define QCOW2_V3_HEADER_LEN 104u

/* Header field offsets. */
#define QCOW2_HDR_BACKING_OFFSET 8
#define QCOW2_HDR_L1_SIZE 36 /* l1_size, then l1_table_offset */
#define QCOW2_HDR_L1_OFFSET 40
#define QCOW2_HDR_RT_OFFSET 48    /* refcount_table_offset, then refcount_table_clusters */
#define QCOW2_HDR_NB_SNAPSHOTS 60 /* nb_snapshots, then snapshots_offset */
#define QCOW2_HDR_INCOMPAT 72
#define QCOW2_HDR_AUTOCLEAR 88

#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS (1ull << 0)

#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

/* Table entries. */
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull /* bits 9-55 of L1/L2 entries */
#define QCOW2_RT_OFFSET_MASK 0xfffffffffffffe00ull
#define QCOW2_COPIED (1ull << 63)
#define QCOW2_COMPRESSED (1ull << 62)
#define QCOW2_ZERO (1ull << 0)

/* Limits beyond which an image is refused as absurd. */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_RT_BYTES (64u << 20)
#define QCOW2_MAX_SNAPSHOTS 65536u
#define QCOW2_MAX_SNAPSHOT_TABLE (64u << 20)
#define QCOW2_MAX_SNAPSHOT_EXTRA 1024u
#define QCOW2_MAX_BACKING_NAME 1023u

/* Extra data we write in snapshot entries: vm_state_size, disk_size, icount. */
#define QCOW2_SNAPSHOT_EXTRA_OURS 24u
/* Longest snapshot name we create. */
#define QCOW2_SNAPSHOT_NAME_MAX 255u

/* Pending refcount decrements held before a metadata flush is forced. */
#define QCOW2_PENDING_FREE_MAX 8192

enum qcow2_cache_kind { QCOW2_CACHE_L2, QCOW2_CACHE_REFBLOCK };

struct qcow2_cache_entry {
    uint64_t offset; /* 0: empty slot */
    uint64_t lru;
    int pins;
    bool dirty;
};

/* A small write-back cache of cluster-sized tables, keyed by host offset. */
struct qcow2_cache {
    enum qcow2_cache_kind kind;
    unsigned n;
    struct qcow2_cache_entry *e;
    uint8_t *mem;
    uint64_t tick;
};

struct qcow2_snapshot {
    uint64_t l1_offset;
    uint32_t l1_size;
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t vm_state_size;
    uint64_t disk_size; /* the virtual size when taken (the current one if not recorded) */
    uint64_t icount;    /* UINT64_MAX when absent */
    char *id;
    char *name;
    uint8_t *extra; /* the entry's extra data as found, kept when the table is rewritten */
    uint32_t extra_len;
};

enum qcow2_ctype { QCOW2_UNALLOCATED, QCOW2_ZERO_CLUSTER, QCOW2_NORMAL, QCOW2_COMPRESSED_CLUSTER };

/* A guest range whose write is in flight without the lock (writers that overlap it wait). */
struct qcow2_busy_range {
    uint64_t start, end;
    struct qcow2_busy_range *next;
};

struct qcow2 {
    struct vmm_disk disk; /* first */
    pthread_mutex_t lock;
    /*
     * Guest data moves without the lock (qcow2-io.c): the mapping is looked
     * up, clusters allocated and partial clusters merged under it, then the
     * host read or write runs unlocked and, for new clusters, the L2 entries
     * are set under it again. inflight counts those transfers; draining
     * holds new ones back while an operation that frees or shares clusters
     * (flush, snapshots, check) waits for inflight to reach zero. cond is
     * broadcast whenever inflight, draining or busy changes.
     */
    pthread_cond_t cond;
    unsigned inflight;
    unsigned draining;
    struct qcow2_busy_range *busy;
    int fd;
    char *path;
    bool writable; /* opened read-write; stays true after broken is set */
    bool broken;   /* an inconsistency was found: no more writes of any kind */
    char broken_msg[256];

    uint32_t version;
    uint32_t header_length;
    uint32_t cluster_bits;
    uint64_t cluster_size;
    uint32_t l2_bits; /* log2 of entries per L2 table */
    uint64_t l2_entries;
    uint64_t incompat, compat, autoclear;
    uint32_t compression_type;
    bool has_bitmaps;

    uint64_t l1_offset;
    uint32_t l1_size;
    uint64_t *l1;     /* host byte order */
    uint64_t l1_used; /* entries past this one are all zero */

    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint64_t rt_entries;
    uint64_t *rt; /* host byte order */
    uint64_t rt_used;
    uint32_t refcount_order;
    uint32_t rb_bits; /* log2 of entries per refcount block */
    uint64_t rb_entries;
    uint64_t refcount_max;

    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t snapshots_size; /* bytes of the snapshot table */
    struct qcow2_snapshot *snapshots;

    /* Compressed cluster descriptor layout. */
    uint32_t csize_shift;
    uint64_t csize_mask;
    uint64_t coffset_mask;

    struct vmm_disk *backing;
    char backing_file[QCOW2_MAX_BACKING_NAME + 1];
    char backing_fmt[32];

    uint64_t file_size;
    uint64_t free_hint; /* cluster index where the search for free clusters starts */
    bool unsynced;      /* written since the last fdatasync */

    struct qcow2_cache l2_cache;
    struct qcow2_cache rb_cache;

    uint64_t *pending_free; /* cluster indices whose refcount drops at the next flush */
    size_t n_pending, cap_pending;

    uint8_t *cow_buf;  /* one cluster: read-modify-write */
    uint8_t *cbuf;     /* two clusters: compressed input */
    uint8_t *dbuf;     /* one cluster: last decompressed cluster */
    uint64_t dbuf_key; /* its L2 entry; 0 when dbuf is empty */
    uint8_t *zero_buf; /* one cluster of zeros, allocated on first use */
    void *zstream;     /* z_stream, set up on first use */
    void *zstd;        /* ZSTD_DCtx, set up on first use */
};

static inline struct qcow2 *to_qcow2(struct vmm_disk *disk)
{
    return (struct qcow2 *)disk;
}

/* Byte order helpers for on-disk tables. */
uint64_t qcow2_be64(const void *p);
uint32_t qcow2_be32(const void *p);
uint16_t qcow2_be16(const void *p);
void qcow2_put_be64(void *p, uint64_t v);
void qcow2_put_be32(void *p, uint32_t v);
void qcow2_put_be16(void *p, uint16_t v);

/* qcow2-open.c */
/* Marks the image inconsistent: read-only from now on, logged once, corrupt bit set on disk. */
int qcow2_corrupt(struct qcow2 *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True if [off, off+len) touches the header, L1, refcount table or snapshot tables. */
bool qcow2_overlaps_static(struct qcow2 *q, uint64_t off, uint64_t len);
/* As above, or an active L2 table or a refcount block. */
bool qcow2_overlaps_metadata(struct qcow2 *q, uint64_t off, uint64_t len);
/* A cluster-aligned table offset that lies inside the file and off the header. */
bool qcow2_valid_table_offset(struct qcow2 *q, uint64_t off);

/* qcow2-file (in qcow2-refcount.c): raw file access that tracks size and sync state. */
int qcow2_pread_file(struct qcow2 *q, void *buf, size_t len, uint64_t off);
int qcow2_pwrite_file(struct qcow2 *q, const void *buf, size_t len, uint64_t off);
int qcow2_barrier(struct qcow2 *q);

/* qcow2-cache.c */
int qcow2_cache_init(struct qcow2_cache *c, enum qcow2_cache_kind kind, unsigned n, uint64_t cs);
void qcow2_cache_destroy(struct qcow2_cache *c);
/* Pins and returns the table at off, read from disk if fill, else zeroed. */
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool fill, void **table)
    __attribute__((warn_unused_result));
void qcow2_cache_put(struct qcow2 *q, struct qcow2_cache *c, void *table);
void qcow2_cache_mark_dirty(struct qcow2 *q, struct qcow2_cache *c, void *table);
int qcow2_cache_flush(struct qcow2 *q, struct qcow2_cache *c);
/* Forgets a cached table whose cluster was freed (dropping unwritten changes). */
void qcow2_cache_forget(struct qcow2_cache *c, uint64_t off, uint64_t cs);
void qcow2_cache_drop_dirty(struct qcow2_cache *c);
bool qcow2_cache_overlaps(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, uint64_t len);

/* qcow2-refcount.c */
int qcow2_get_refcount(struct qcow2 *q, uint64_t cluster, uint64_t *rc);
int qcow2_update_refcount(struct qcow2 *q, uint64_t cluster, int delta);
/* Allocates n contiguous clusters (refcount 1 each); *off is the first one's offset. */
int qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *off);
/* Allocates between need and want contiguous clusters, as many as the first free run has. */
int qcow2_alloc_range(struct qcow2 *q, uint64_t want, uint64_t need, uint64_t *off, uint64_t *got);
/* Queues a decrement for every cluster referenced by an L2 entry (if any). */
int qcow2_free_entry(struct qcow2 *q, uint64_t entry);
int qcow2_defer_free(struct qcow2 *q, uint64_t off, uint64_t len);
/* Writes all metadata in order, applies pending decrements, ends with fdatasync. */
int qcow2_flush_metadata(struct qcow2 *q);
uint64_t qcow2_refblock_get(const struct qcow2 *q, const void *blk, uint64_t i);
void qcow2_refblock_set(const struct qcow2 *q, void *blk, uint64_t i, uint64_t v);

/* qcow2-io.c */
/* Lock held: waits until no transfer runs unlocked and holds new ones back (until qcow2_undrain). */
void qcow2_drain(struct qcow2 *q);
void qcow2_undrain(struct qcow2 *q);
/* Lock held: waits until no drain is pending and no write in flight overlaps [start, end). */
void qcow2_wait_turn(struct qcow2 *q, uint64_t start, uint64_t end);
/* 0, -EIO once the image is broken, -EROFS when it was opened read-only. */
int qcow2_writable_state(struct qcow2 *q);
/* Lock held (it may be dropped meanwhile): writes len bytes of buf at guest offset off. */
int qcow2_write_buf(struct qcow2 *q, const void *buf, uint64_t len, uint64_t off);
/* Lock held: applies the queued refcount decrements once enough have piled up. */
int qcow2_settle_frees(struct qcow2 *q);
int qcow2_l2_table_offset(struct qcow2 *q, uint64_t l1i, uint64_t *l2off);
/* The L2 table for l1i, pinned, ready to modify (allocated if alloc; copied if shared). */
int qcow2_get_l2_for_write(struct qcow2 *q, uint64_t l1i, bool alloc, void **table);
/* Whether a checked entry maps a private host cluster that can be written where it is. */
int qcow2_writable_in_place(struct qcow2 *q, enum qcow2_ctype type, uint64_t host, bool *ok);
enum qcow2_ctype qcow2_classify(struct qcow2 *q, uint64_t entry, uint64_t *host);
int qcow2_check_entry(struct qcow2 *q, uint64_t entry, enum qcow2_ctype *type, uint64_t *host);
void qcow2_compressed_range(struct qcow2 *q, uint64_t entry, uint64_t *off, uint64_t *len);

/* qcow2-zero.c */
int qcow2_discard(struct vmm_disk *disk, uint64_t off, uint64_t len);
int qcow2_write_zeroes(struct vmm_disk *disk, uint64_t off, uint64_t len, unsigned flags);
int qcow2_flush(struct vmm_disk *disk);

/* qcow2-snapshot.c */
void qcow2_free_snapshot_array(struct qcow2_snapshot *s, uint32_t n);
int qcow2_snapshot_list(struct vmm_disk *disk, struct vmm_disk_snapshot **list, size_t *n,
                        struct vmm_error *err);
int qcow2_snapshot_create(struct vmm_disk *disk, const char *name, uint64_t vm_clock_nsec,
                          struct vmm_error *err);
int qcow2_snapshot_apply(struct vmm_disk *disk, const char *name, struct vmm_error *err);
int qcow2_snapshot_delete(struct vmm_disk *disk, const char *name, struct vmm_error *err);
int qcow2_snapshot_rename(struct vmm_disk *disk, const char *name, const char *new_name,
                          struct vmm_error *err);

extern const struct vmm_disk_ops vmm_disk_qcow2_ops;
int qcow2_open(struct vmm_disk *disk, const char *path, int depth, struct vmm_error *err);
void qcow2_close(struct vmm_disk *disk);
void qcow2_get_info(struct vmm_disk *disk, struct vmm_disk_info *info);

#endif
