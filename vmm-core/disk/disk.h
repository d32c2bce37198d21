/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_DISK_DISK_H
#define VMM_DISK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/vmm.h"

/*
 * Disk images: a format-independent handle with an ops table per format
 * (raw, qcow2). All calls are synchronous and thread-safe: each image
 * serialises its own metadata work behind a mutex. I/O is byte-granular;
 * offsets and lengths are checked against the virtual size here, so format
 * drivers only see in-range requests.
 *
 * Errors are 0 / -errno. Anything an image file can contain is untrusted:
 * a malformed image is refused at open with a sentence in struct vmm_error;
 * an inconsistency found later makes the image read-only, fails the request
 * with -EIO and leaves a sentence for vmm_disk_get_info().
 */

/* vmm_disk_open() flags. */
#define VMM_DISK_RDONLY (1u << 0)
/* Skip format probing. Callers that know the format should pass it: probing a
 * raw image whose guest wrote a qcow2 header would let the guest name files. */
#define VMM_DISK_FORMAT_RAW (1u << 1)
#define VMM_DISK_FORMAT_QCOW2 (1u << 2)
/* Read-only, neither taking nor honouring the image's lock (disk-lock.c): only for
 * parts another process never rewrites while they exist (internal snapshots). */
#define VMM_DISK_NOLOCK (1u << 3)

/* vmm_disk_write_zeroes() flags: the range may be deallocated, not only zeroed. */
#define VMM_DISK_ZEROES_UNMAP (1u << 0)

/* Most images in a backing chain, the top one included (it is depth 0). */
#define VMM_DISK_MAX_CHAIN 16

enum vmm_disk_format {
    VMM_DISK_RAW,
    VMM_DISK_QCOW2,
};

struct vmm_disk_info {
    enum vmm_disk_format format;
    uint64_t virtual_size;
    uint64_t file_size;      /* bytes in the host file (its apparent length) */
    uint32_t cluster_size;   /* qcow2 only */
    uint32_t qcow2_version;  /* qcow2 only: 2 or 3 */
    uint32_t refcount_bits;  /* qcow2 only */
    uint32_t nb_snapshots;   /* qcow2 only */
    const char *compression; /* qcow2 only: "zlib" or "zstd" */
    bool read_only;
    bool has_backing;
    char backing_file[1024]; /* as written in the image */
    char backing_format[32]; /* as written in the image; may be empty */
    char error[256];         /* why the image went read-only during I/O, or "" */
};

/* An internal snapshot of a disk image (qcow2), as listed. */
struct vmm_disk_snapshot {
    char *id;   /* unique within the image, e.g. "3"; as stored, may hold any bytes */
    char *name; /* as stored, may hold any bytes: sanitise before showing */
    uint64_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec; /* guest clock when taken */
    uint64_t vm_state_size; /* VM state QEMU saved with it (0 for Terrarium's snapshots) */
    uint64_t disk_size;     /* the virtual size when taken */
};

struct vmm_disk;

/*
 * A format driver. open() receives a zeroed instance of instance_size bytes
 * whose first member is struct vmm_disk, with disk->ops and disk->flags set;
 * it fills disk->size and disk->read_only. depth is the position in a
 * backing chain, to be passed on to vmm_disk_open_chain() for backing files.
 * Ranges passed to pread/pwrite/discard/write_zeroes are within disk->size.
 */
struct vmm_disk_ops {
    const char *name;
    size_t instance_size;
    int (*open)(struct vmm_disk *disk, const char *path, int depth, struct vmm_error *err);
    void (*close)(struct vmm_disk *disk);
    int (*pread)(struct vmm_disk *disk, void *buf, size_t len, uint64_t off);
    int (*pwrite)(struct vmm_disk *disk, const void *buf, size_t len, uint64_t off);
    /* Optional vectored forms (one syscall for a scattered request); NULL: pread/pwrite each. */
    int (*preadv)(struct vmm_disk *disk, const struct iovec *iov, unsigned n, uint64_t off);
    int (*pwritev)(struct vmm_disk *disk, const struct iovec *iov, unsigned n, uint64_t off);
    int (*flush)(struct vmm_disk *disk);
    int (*discard)(struct vmm_disk *disk, uint64_t off, uint64_t len);
    int (*write_zeroes)(struct vmm_disk *disk, uint64_t off, uint64_t len, unsigned flags);
    void (*get_info)(struct vmm_disk *disk, struct vmm_disk_info *info);
    /* Internal snapshots; NULL when the format has none. They fill err on failure. */
    int (*snapshot_list)(struct vmm_disk *disk, struct vmm_disk_snapshot **list, size_t *n,
                         struct vmm_error *err);
    int (*snapshot_create)(struct vmm_disk *disk, const char *name, uint64_t vm_clock_nsec,
                           struct vmm_error *err);
    int (*snapshot_apply)(struct vmm_disk *disk, const char *name, struct vmm_error *err);
    int (*snapshot_delete)(struct vmm_disk *disk, const char *name, struct vmm_error *err);
    int (*snapshot_rename)(struct vmm_disk *disk, const char *name, const char *new_name,
                           struct vmm_error *err);
};

struct vmm_disk {
    const struct vmm_disk_ops *ops;
    unsigned flags;
    uint64_t size;  /* virtual size in bytes */
    bool read_only; /* read and written with __atomic builtins: drivers may set it during I/O */
};

/* Takes the image's lock on fd, opened for it with vmm_disk_open() flags: exclusive
 * for a writable open, shared for VMM_DISK_RDONLY, none for VMM_DISK_NOLOCK. -EBUSY
 * with a sentence when another open of the file conflicts; 0 on filesystems without
 * locks. */
int vmm_disk_lock_fd(int fd, unsigned flags, const char *path, struct vmm_error *err);

extern const struct vmm_disk_ops vmm_disk_raw_ops;
extern const struct vmm_disk_ops vmm_disk_qcow2_ops;

/* Opens an image, probing its format unless flags name one. NULL with err filled on failure. */
VMM_WUR struct vmm_disk *vmm_disk_open(const char *path, unsigned flags, struct vmm_error *err);
/* For format drivers opening a backing file: as vmm_disk_open, refusing chains past the limit. */
VMM_WUR struct vmm_disk *vmm_disk_open_chain(const char *path, unsigned flags, int depth,
                                             struct vmm_error *err);
/* Flushes (when writable) and frees. NULL is accepted. */
void vmm_disk_close(struct vmm_disk *disk);

VMM_WUR int vmm_disk_pread(struct vmm_disk *disk, void *buf, size_t len, uint64_t off);
VMM_WUR int vmm_disk_pwrite(struct vmm_disk *disk, const void *buf, size_t len, uint64_t off);
/* The same over a scatter list (at most IOV_MAX entries); the total length is range-checked. */
VMM_WUR int vmm_disk_preadv(struct vmm_disk *disk, const struct iovec *iov, unsigned n,
                            uint64_t off);
VMM_WUR int vmm_disk_pwritev(struct vmm_disk *disk, const struct iovec *iov, unsigned n,
                             uint64_t off);
/* Makes every completed write durable. */
VMM_WUR int vmm_disk_flush(struct vmm_disk *disk);
/* Advisory: the range may read back as zeros or as its old contents afterwards. */
VMM_WUR int vmm_disk_discard(struct vmm_disk *disk, uint64_t off, uint64_t len);
/* The range reads back as zeros afterwards. */
VMM_WUR int vmm_disk_write_zeroes(struct vmm_disk *disk, uint64_t off, uint64_t len,
                                  unsigned flags);

uint64_t vmm_disk_size(struct vmm_disk *disk);
/*
 * The file descriptor of a raw image (file or block device), for callers
 * that do their own asynchronous I/O on it (virtio-blk's io_uring), or -1
 * for other formats. Offsets in the file are offsets on the disk.
 */
int vmm_disk_raw_fd(struct vmm_disk *disk);
bool vmm_disk_is_read_only(struct vmm_disk *disk);
void vmm_disk_get_info(struct vmm_disk *disk, struct vmm_disk_info *info);
const char *vmm_disk_format_name(enum vmm_disk_format format);

/*
 * Internal snapshots of the disk contents (qcow2 only; other formats give
 * -ENOTSUP with a sentence). Machine state lives elsewhere; snapshots that
 * QEMU saved with VM state are listed and applied (their disk part).
 *
 * A snapshot is found by name, else by id. Names are 1..255 bytes and unique.
 * create records the virtual clock given (0 if none). apply makes the disk
 * read as it did when the snapshot was taken; the snapshot stays. Each call
 * is crash-safe (an interruption leaks clusters at worst) and ends durable.
 * The caller keeps guest I/O away from the disk during apply (the VM is paused).
 */
VMM_WUR int vmm_disk_snapshot_list(struct vmm_disk *disk, struct vmm_disk_snapshot **list,
                                   size_t *n, struct vmm_error *err);
void vmm_disk_snapshot_list_free(struct vmm_disk_snapshot *list, size_t n);
VMM_WUR int vmm_disk_snapshot_create(struct vmm_disk *disk, const char *name,
                                     uint64_t vm_clock_nsec, struct vmm_error *err);
VMM_WUR int vmm_disk_snapshot_apply(struct vmm_disk *disk, const char *name, struct vmm_error *err);
VMM_WUR int vmm_disk_snapshot_delete(struct vmm_disk *disk, const char *name,
                                     struct vmm_error *err);
VMM_WUR int vmm_disk_snapshot_rename(struct vmm_disk *disk, const char *name, const char *new_name,
                                     struct vmm_error *err);

/*
 * Creates a qcow2 v3 image (16-bit refcounts, zlib compression type) at path,
 * which must not exist yet. cluster_bits 0 means 16 (64 KiB); 9..21 are
 * accepted. backing_file is optional and written as given (a relative name is
 * resolved against the image's directory when opened); size 0 with a backing
 * file takes the backing image's size. backing_fmt "raw" or "qcow2", or NULL to
 * probe the backing file now and record what was found.
 */
VMM_WUR int vmm_qcow2_create(const char *path, uint64_t size, unsigned cluster_bits,
                             const char *backing_file, const char *backing_fmt,
                             struct vmm_error *err);

/*
 * Try mode (QEMU's snapshot=on): opens the image at path (format as in flags)
 * read-only as the backing file of a new temporary qcow2 overlay in dir (NULL:
 * $TMPDIR, else /var/tmp) and returns the overlay: writes land there, path is
 * never written. The overlay's name is unlinked before this returns, so its
 * space goes back when the handle is closed, a crash included. Overlays left
 * in dir by processes that died in the moment between create and unlink are
 * removed first (vmm_disk_overlay_clean). flags must not hold VMM_DISK_RDONLY.
 */
VMM_WUR struct vmm_disk *vmm_disk_open_overlay(const char *path, unsigned flags, const char *dir,
                                               struct vmm_error *err);
/* Removes overlay files in dir (NULL: as above) whose process is gone; returns how many. */
int vmm_disk_overlay_clean(const char *dir);

/*
 * A read-only view of a qcow2 image as it was when internal snapshot `name`
 * (name, else id) was taken: reads return the snapshot's contents (through
 * the backing chain), the size is the snapshot's. Nothing is written, so the
 * image may be in use by a running machine: a snapshot's clusters are never
 * rewritten while it exists (deleting it meanwhile is the caller's to avoid).
 * NULL with err filled (-ENOENT: no such snapshot; -ENOTSUP: not qcow2).
 */
VMM_WUR struct vmm_disk *vmm_disk_open_snapshot(const char *path, const char *name,
                                                struct vmm_error *err);

/* Consistency check of an open qcow2 image: every cluster's refcount against its references. */
struct vmm_qcow2_check {
    uint64_t errors; /* refcount lower than references, bad pointers, overlaps */
    uint64_t leaks;  /* clusters with a refcount but fewer references */
    /* Active clusters with refcount 1 whose copied flag is clear: harmless (a write copies them
     * once more), left by an interrupted snapshot operation; qemu-img check -r all clears them. */
    uint64_t copied_unset;
    uint64_t clusters;     /* host clusters examined */
    char first_error[256]; /* a sentence about the first error, or "" */
};

VMM_WUR int vmm_qcow2_check(struct vmm_disk *disk, struct vmm_qcow2_check *res);

#endif
