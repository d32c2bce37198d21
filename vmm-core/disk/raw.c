/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Raw images: the file (or block device) is the disk, byte for byte. */
#include <errno.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk.h"

struct raw_disk {
    struct vmm_disk disk;
    int fd;
    bool blockdev;
};

static struct raw_disk *to_raw(struct vmm_disk *disk)
{
    return (struct raw_disk *)disk;
}

static int raw_open(struct vmm_disk *disk, const char *path, int depth, struct vmm_error *err)
{
    struct raw_disk *r = to_raw(disk);
    bool ro = disk->flags & VMM_DISK_RDONLY;
    struct stat st;

    r->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (r->fd < 0) {
        int e = errno;
        vmm_error_set(err, -e, "Cannot open the disk image %s%s: %s.", path,
                      ro ? "" : " for writing", strerror(e));
        return -e;
    }
    int lr = vmm_disk_lock_fd(r->fd, disk->flags, path, err);
    if (lr < 0) {
        close(r->fd);
        return lr;
    }
    if (fstat(r->fd, &st) < 0) {
        int e = errno;
        vmm_error_set(err, -e, "Cannot examine the disk image %s: %s.", path, strerror(e));
        close(r->fd);
        return -e;
    }
    if (S_ISBLK(st.st_mode)) {
        uint64_t size;
        if (ioctl(r->fd, BLKGETSIZE64, &size) < 0) {
            int e = errno;
            vmm_error_set(err, -e, "Cannot get the size of the block device %s: %s.", path,
                          strerror(e));
            close(r->fd);
            return -e;
        }
        r->blockdev = true;
        disk->size = size;
    } else if (S_ISREG(st.st_mode)) {
        disk->size = (uint64_t)st.st_size;
    } else {
        vmm_error_set(err, -EINVAL, "%s is neither a regular file nor a block device.", path);
        close(r->fd);
        return -EINVAL;
    }
    disk->read_only = ro;
    return 0;
}

static void raw_close(struct vmm_disk *disk)
{
    struct raw_disk *r = to_raw(disk);
    if (!disk->read_only)
        (void)fdatasync(r->fd);
    close(r->fd);
}

static int raw_pread(struct vmm_disk *disk, void *buf, size_t len, uint64_t off)
{
    struct raw_disk *r = to_raw(disk);
    uint8_t *p = buf;

    while (len) {
        ssize_t n = pread(r->fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {
            /* The file shrank under us: what is gone reads as zeros. */
            memset(p, 0, len);
            return 0;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static int raw_pwrite(struct vmm_disk *disk, const void *buf, size_t len, uint64_t off)
{
    struct raw_disk *r = to_raw(disk);
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = pwrite(r->fd, p, len, (off_t)off);
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
    }
    return 0;
}

/*
 * One preadv/pwritev for the whole list; a short transfer (a signal, the
 * file shrank, a full disk) finishes element by element with the scalar
 * paths, which know what to do then.
 */
static int raw_rwv(struct vmm_disk *disk, const struct iovec *iov, unsigned n, uint64_t off,
                   bool write)
{
    struct raw_disk *r = to_raw(disk);
    ssize_t done;
    do {
        done = write ? pwritev(r->fd, iov, (int)n, (off_t)off)
                     : preadv(r->fd, iov, (int)n, (off_t)off);
    } while (done < 0 && errno == EINTR);
    if (done < 0)
        return -errno;
    size_t skip = (size_t)done;
    for (unsigned i = 0; i < n; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            off += iov[i].iov_len;
            continue;
        }
        uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
        size_t len = iov[i].iov_len - skip;
        int ret =
            write ? raw_pwrite(disk, p, len, off + skip) : raw_pread(disk, p, len, off + skip);
        if (ret < 0)
            return ret;
        off += iov[i].iov_len;
        skip = 0;
    }
    return 0;
}

static int raw_preadv(struct vmm_disk *disk, const struct iovec *iov, unsigned n, uint64_t off)
{
    return raw_rwv(disk, iov, n, off, false);
}

static int raw_pwritev(struct vmm_disk *disk, const struct iovec *iov, unsigned n, uint64_t off)
{
    return raw_rwv(disk, iov, n, off, true);
}

static int raw_flush(struct vmm_disk *disk)
{
    if (disk->read_only)
        return 0;
    return fdatasync(to_raw(disk)->fd) < 0 ? -errno : 0;
}

static int raw_discard(struct vmm_disk *disk, uint64_t off, uint64_t len)
{
    struct raw_disk *r = to_raw(disk);

    /* Discard is advisory: a file system or device that cannot do it is not an error. */
    if (r->blockdev) {
        uint64_t range[2] = {off, len};
        (void)ioctl(r->fd, BLKDISCARD, range);
        return 0;
    }
    if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 &&
        errno != EOPNOTSUPP && errno != ENOSYS)
        return -errno;
    return 0;
}

static int write_zero_buffer(struct vmm_disk *disk, uint64_t off, uint64_t len)
{
    size_t chunk = len < (1u << 20) ? (size_t)len : (1u << 20);
    void *zero = calloc(1, chunk);
    int ret = 0;

    if (!zero)
        return -ENOMEM;
    while (len && ret == 0) {
        size_t n = len < chunk ? (size_t)len : chunk;
        ret = raw_pwrite(disk, zero, n, off);
        off += n;
        len -= n;
    }
    free(zero);
    return ret;
}

static int raw_write_zeroes(struct vmm_disk *disk, uint64_t off, uint64_t len, unsigned flags)
{
    struct raw_disk *r = to_raw(disk);

    if (r->blockdev) {
        uint64_t range[2] = {off, len};
        if (ioctl(r->fd, BLKZEROOUT, range) == 0)
            return 0;
        return write_zero_buffer(disk, off, len);
    }
    /* A punched hole reads as zeros; without permission to unmap, keep the blocks. */
    int mode = (flags & VMM_DISK_ZEROES_UNMAP) ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                                               : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (fallocate(r->fd, mode, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
        return -errno;
    return write_zero_buffer(disk, off, len);
}

static void raw_get_info(struct vmm_disk *disk, struct vmm_disk_info *info)
{
    struct stat st;

    info->format = VMM_DISK_RAW;
    if (fstat(to_raw(disk)->fd, &st) == 0)
        info->file_size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : disk->size;
}

int vmm_disk_raw_fd(struct vmm_disk *disk)
{
    return disk && disk->ops == &vmm_disk_raw_ops ? to_raw(disk)->fd : -1;
}

const struct vmm_disk_ops vmm_disk_raw_ops = {
    .name = "raw",
    .instance_size = sizeof(struct raw_disk),
    .open = raw_open,
    .close = raw_close,
    .pread = raw_pread,
    .pwrite = raw_pwrite,
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .get_info = raw_get_info,
};
