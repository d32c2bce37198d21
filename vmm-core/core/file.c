/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/util.h"

int vmm_open_file(const char *what, const char *path, uint64_t max, struct stat *st,
                  struct vmm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        vmm_error_set(err, -e, "cannot open the %s %s: %s", what, path, strerror(e));
        return -e;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        vmm_error_set(err, -EINVAL, "the %s %s is not a regular file", what, path);
        return -EINVAL;
    }
    if ((uint64_t)st->st_size > max) {
        close(fd);
        vmm_error_set(err, -EFBIG, "the %s %s is too large (%llu MiB) for this machine", what, path,
                      (unsigned long long)(st->st_size >> 20));
        return -EFBIG;
    }
    return fd;
}

int vmm_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ENODATA;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int vmm_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int vmm_read_fd(const char *what, const char *path, int fd, size_t size, uint8_t **data,
                struct vmm_error *err)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        vmm_error_set(err, -ENOMEM, "out of memory reading the %s %s", what, path);
        return -ENOMEM;
    }
    int r = vmm_pread_full(fd, buf, size, 0);
    if (r < 0) {
        free(buf);
        vmm_error_set(err, r, "cannot read the %s %s: %s", what, path,
                      r == -ENODATA ? "it became shorter while it was read" : strerror(-r));
        return r;
    }
    *data = buf;
    return 0;
}

int vmm_read_file(const char *what, const char *path, uint64_t max, uint8_t **data, size_t *len,
                  struct vmm_error *err)
{
    struct stat st;
    int fd = vmm_open_file(what, path, max, &st, err);
    if (fd < 0)
        return fd;
    int r = vmm_read_fd(what, path, fd, (size_t)st.st_size, data, err);
    close(fd);
    if (r == 0)
        *len = (size_t)st.st_size;
    return r;
}

/* The directory part of path ("." without a slash, "/" for a file in the root). */
static void dir_of(const char *path, char dir[PATH_MAX])
{
    snprintf(dir, PATH_MAX, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, PATH_MAX, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
}

int vmm_fsync_dir(const char *path)
{
    char dir[PATH_MAX];
    dir_of(path, dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        done += (size_t)n;
    }
    return 0;
}

/* Writes data to fd at its offsets, leaving 4 KiB pages of zeros out as holes. */
static int write_sparse(int fd, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t end = off;
        /* A run of pages to write: up to the next whole zero page. */
        while (end < len && !(len - end >= VMM_PAGE_SIZE && vmm_page_is_zero(data + end)))
            end += len - end < VMM_PAGE_SIZE ? len - end : VMM_PAGE_SIZE;
        int r = vmm_pwrite_full(fd, data + off, end - off, off);
        if (r < 0)
            return r;
        off = end;
        while (off < len && len - off >= VMM_PAGE_SIZE && vmm_page_is_zero(data + off))
            off += VMM_PAGE_SIZE;
    }
    return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

int vmm_write_file_atomic(const char *path, const void *data, size_t len, unsigned flags,
                          struct vmm_error *err)
{
    char tmp[PATH_MAX];
    int n, fd;
    if (flags & VMM_WRITE_UNIQUE_TMP) {
        char dir[PATH_MAX];
        dir_of(path, dir);
        n = snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", dir);
    } else {
        n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    }
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        vmm_error_set(err, -ENAMETOOLONG, "the file name %s is too long", path);
        return -ENAMETOOLONG;
    }
    if (flags & VMM_WRITE_UNIQUE_TMP)
        fd = mkstemp(tmp); /* mode 0600 */
    else
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        vmm_error_set(err, -e, "cannot create %s: %s", tmp, strerror(e));
        return -e;
    }
    int r = (flags & VMM_WRITE_SPARSE) ? write_sparse(fd, data, len) : write_all(fd, data, len);
    /* On disk before the name: a crash must not leave a named file with missing blocks. */
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r == 0 && (flags & VMM_WRITE_SYNC_DIR))
        r = vmm_fsync_dir(path);
    if (r < 0) {
        unlink(tmp);
        vmm_error_set(err, r, "cannot write %s: %s", path, strerror(-r));
    }
    return r;
}
