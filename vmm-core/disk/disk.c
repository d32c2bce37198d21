/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Format probing, the open/close life cycle and range checks shared by every format. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk.h"

static const uint8_t qcow2_magic[4] = {'Q', 'F', 'I', 0xfb};

static int probe(const char *path, const struct vmm_disk_ops **ops, struct vmm_error *err)
{
    uint8_t buf[4];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        vmm_error_set(err, -e, "Cannot open the disk image %s: %s.", path, strerror(e));
        return -e;
    }
    ssize_t n;
    do {
        n = pread(fd, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (n < 0) {
        vmm_error_set(err, -e, "Cannot read the disk image %s: %s.", path, strerror(e));
        return -e;
    }
    *ops = (n == sizeof(buf) && !memcmp(buf, qcow2_magic, sizeof(buf))) ? &vmm_disk_qcow2_ops
                                                                        : &vmm_disk_raw_ops;
    return 0;
}

struct vmm_disk *vmm_disk_open_chain(const char *path, unsigned flags, int depth,
                                     struct vmm_error *err)
{
    const struct vmm_disk_ops *ops = NULL;

    if (depth >= VMM_DISK_MAX_CHAIN) {
        vmm_error_set(err, -ELOOP,
                      "The backing chain is longer than %d images or loops back on itself "
                      "(at %s).",
                      VMM_DISK_MAX_CHAIN, path);
        return NULL;
    }
    if (flags & VMM_DISK_NOLOCK)
        flags |= VMM_DISK_RDONLY; /* unlocked opens never write */
    if ((flags & VMM_DISK_FORMAT_RAW) && (flags & VMM_DISK_FORMAT_QCOW2)) {
        vmm_error_set(err, -EINVAL, "A disk image cannot be opened as both raw and qcow2.");
        return NULL;
    }
    if (flags & VMM_DISK_FORMAT_RAW) {
        ops = &vmm_disk_raw_ops;
    } else if (flags & VMM_DISK_FORMAT_QCOW2) {
        ops = &vmm_disk_qcow2_ops;
    } else if (probe(path, &ops, err) < 0) {
        return NULL;
    }

    struct vmm_disk *disk = calloc(1, ops->instance_size);
    if (!disk) {
        vmm_error_set(err, -ENOMEM, "Out of memory opening the disk image %s.", path);
        return NULL;
    }
    disk->ops = ops;
    disk->flags = flags;
    /* The files of the chain being opened on this thread: a backing file that is one of
     * its own descendants loops (told apart from an image locked by someone else). */
    static __thread struct {
        dev_t dev;
        ino_t ino;
    } opening[VMM_DISK_MAX_CHAIN];
    static __thread unsigned nopening;
    struct stat st;
    bool known = stat(path, &st) == 0 && nopening < VMM_DISK_MAX_CHAIN;
    for (unsigned i = 0; known && i < nopening; i++) {
        if (opening[i].dev == st.st_dev && opening[i].ino == st.st_ino) {
            vmm_error_set(err, -ELOOP, "The backing chain loops back on itself (at %s).", path);
            free(disk);
            return NULL;
        }
    }
    if (known) {
        opening[nopening].dev = st.st_dev;
        opening[nopening].ino = st.st_ino;
        nopening++;
    }
    int r = ops->open(disk, path, depth, err);
    if (known)
        nopening--;
    if (r < 0) {
        free(disk);
        return NULL;
    }
    return disk;
}

struct vmm_disk *vmm_disk_open(const char *path, unsigned flags, struct vmm_error *err)
{
    return vmm_disk_open_chain(path, flags, 0, err);
}

void vmm_disk_close(struct vmm_disk *disk)
{
    if (!disk)
        return;
    disk->ops->close(disk);
    free(disk);
}

static bool range_ok(struct vmm_disk *disk, uint64_t off, uint64_t len)
{
    return off <= disk->size && len <= disk->size - off;
}

int vmm_disk_pread(struct vmm_disk *disk, void *buf, size_t len, uint64_t off)
{
    if (!range_ok(disk, off, len))
        return -EINVAL;
    if (len == 0)
        return 0;
    return disk->ops->pread(disk, buf, len, off);
}

int vmm_disk_pwrite(struct vmm_disk *disk, const void *buf, size_t len, uint64_t off)
{
    if (!range_ok(disk, off, len))
        return -EINVAL;
    if (vmm_disk_is_read_only(disk))
        return -EROFS;
    if (len == 0)
        return 0;
    return disk->ops->pwrite(disk, buf, len, off);
}

static int iov_total(const struct iovec *iov, unsigned n, uint64_t *total)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < n; i++) {
        if (iov[i].iov_len > UINT64_MAX - t)
            return -EINVAL;
        t += iov[i].iov_len;
    }
    *total = t;
    return 0;
}

/* Largest request copied through one contiguous buffer when the format has no vectored ops. */
#define BOUNCE_MAX (4u << 20)

static int rw_vectored(struct vmm_disk *disk, const struct iovec *iov, unsigned n, uint64_t off,
                       bool write)
{
    uint64_t total;
    if (n > IOV_MAX || iov_total(iov, n, &total) < 0 || !range_ok(disk, off, total))
        return -EINVAL;
    if (write && vmm_disk_is_read_only(disk))
        return -EROFS;
    if (total == 0)
        return 0;
    if (write && disk->ops->pwritev)
        return disk->ops->pwritev(disk, iov, n, off);
    if (!write && disk->ops->preadv)
        return disk->ops->preadv(disk, iov, n, off);
    if (n > 1 && total <= BOUNCE_MAX) {
        /*
         * A format without vectored I/O (qcow2) gets the whole request as one
         * contiguous call: one mapping walk and one host read or write per
         * run of clusters, not one per guest page (a 1 MiB guest read is
         * ~256 pages). The copy is cheaper than the calls it saves.
         */
        uint8_t *bounce = malloc((size_t)total);
        if (bounce) {
            int r = 0;
            size_t at = 0;
            if (write) {
                for (unsigned i = 0; i < n; at += iov[i].iov_len, i++)
                    memcpy(bounce + at, iov[i].iov_base, iov[i].iov_len);
                r = disk->ops->pwrite(disk, bounce, (size_t)total, off);
            } else {
                r = disk->ops->pread(disk, bounce, (size_t)total, off);
                for (unsigned i = 0; r == 0 && i < n; at += iov[i].iov_len, i++)
                    memcpy(iov[i].iov_base, bounce + at, iov[i].iov_len);
            }
            free(bounce);
            return r;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        if (!iov[i].iov_len)
            continue;
        int r = write ? disk->ops->pwrite(disk, iov[i].iov_base, iov[i].iov_len, off)
                      : disk->ops->pread(disk, iov[i].iov_base, iov[i].iov_len, off);
        if (r < 0)
            return r;
        off += iov[i].iov_len;
    }
    return 0;
}

int vmm_disk_preadv(struct vmm_disk *disk, const struct iovec *iov, unsigned n, uint64_t off)
{
    return rw_vectored(disk, iov, n, off, false);
}

int vmm_disk_pwritev(struct vmm_disk *disk, const struct iovec *iov, unsigned n, uint64_t off)
{
    return rw_vectored(disk, iov, n, off, true);
}

int vmm_disk_flush(struct vmm_disk *disk)
{
    return disk->ops->flush ? disk->ops->flush(disk) : 0;
}

int vmm_disk_discard(struct vmm_disk *disk, uint64_t off, uint64_t len)
{
    if (!range_ok(disk, off, len))
        return -EINVAL;
    if (vmm_disk_is_read_only(disk))
        return -EROFS;
    if (len == 0 || !disk->ops->discard)
        return 0;
    return disk->ops->discard(disk, off, len);
}

int vmm_disk_write_zeroes(struct vmm_disk *disk, uint64_t off, uint64_t len, unsigned flags)
{
    if (!range_ok(disk, off, len))
        return -EINVAL;
    if (vmm_disk_is_read_only(disk))
        return -EROFS;
    if (len == 0)
        return 0;
    return disk->ops->write_zeroes(disk, off, len, flags);
}

uint64_t vmm_disk_size(struct vmm_disk *disk)
{
    return disk->size;
}

bool vmm_disk_is_read_only(struct vmm_disk *disk)
{
    return __atomic_load_n(&disk->read_only, __ATOMIC_ACQUIRE);
}

void vmm_disk_get_info(struct vmm_disk *disk, struct vmm_disk_info *info)
{
    memset(info, 0, sizeof(*info));
    info->virtual_size = disk->size;
    info->read_only = vmm_disk_is_read_only(disk);
    disk->ops->get_info(disk, info);
}

const char *vmm_disk_format_name(enum vmm_disk_format format)
{
    switch (format) {
    case VMM_DISK_RAW:
        return "raw";
    case VMM_DISK_QCOW2:
        return "qcow2";
    }
    return "unknown";
}

/* ---- internal snapshots ---- */

static int no_snapshots(struct vmm_disk *disk, struct vmm_error *err)
{
    vmm_error_set(err, -ENOTSUP,
                  "Snapshots need a qcow2 disk image; this one is %s. Convert it with "
                  "\"qemu-img convert -O qcow2\" first.",
                  disk->ops->name);
    return -ENOTSUP;
}

int vmm_disk_snapshot_list(struct vmm_disk *disk, struct vmm_disk_snapshot **list, size_t *n,
                           struct vmm_error *err)
{
    *list = NULL;
    *n = 0;
    if (!disk->ops->snapshot_list)
        return no_snapshots(disk, err);
    return disk->ops->snapshot_list(disk, list, n, err);
}

void vmm_disk_snapshot_list_free(struct vmm_disk_snapshot *list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++) {
        free(list[i].id);
        free(list[i].name);
    }
    free(list);
}

int vmm_disk_snapshot_create(struct vmm_disk *disk, const char *name, uint64_t vm_clock_nsec,
                             struct vmm_error *err)
{
    if (!disk->ops->snapshot_create)
        return no_snapshots(disk, err);
    return disk->ops->snapshot_create(disk, name, vm_clock_nsec, err);
}

int vmm_disk_snapshot_apply(struct vmm_disk *disk, const char *name, struct vmm_error *err)
{
    if (!disk->ops->snapshot_apply)
        return no_snapshots(disk, err);
    return disk->ops->snapshot_apply(disk, name, err);
}

int vmm_disk_snapshot_delete(struct vmm_disk *disk, const char *name, struct vmm_error *err)
{
    if (!disk->ops->snapshot_delete)
        return no_snapshots(disk, err);
    return disk->ops->snapshot_delete(disk, name, err);
}

int vmm_disk_snapshot_rename(struct vmm_disk *disk, const char *name, const char *new_name,
                             struct vmm_error *err)
{
    if (!disk->ops->snapshot_rename)
        return no_snapshots(disk, err);
    return disk->ops->snapshot_rename(disk, name, new_name, err);
}
