/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Image locking: one writer or any number of readers per image file, across
 * processes. An image a running machine writes must not be opened by another
 * machine, by `terrarium-img snapshot`, or as the backing file of a new
 * overlay, and one it reads (a backing file, "try" mode's base) must not be
 * written. Open-file-description locks (F_OFD_SETLK) give exactly that: they
 * belong to the open file, so they also conflict between two opens in one
 * process, and they go away with the last descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "core/log.h"
#include "disk/disk.h"

/* Far beyond any data: the lock is advisory and only this byte is locked. */
#define LOCK_OFFSET 0x7fffffff00000000LL

int vmm_disk_lock_fd(int fd, unsigned flags, const char *path, struct vmm_error *err)
{
    if (flags & VMM_DISK_NOLOCK)
        return 0;
    bool write = !(flags & VMM_DISK_RDONLY);
    struct flock fl = {
        .l_type = write ? F_WRLCK : F_RDLCK,
        .l_whence = SEEK_SET,
        .l_start = LOCK_OFFSET,
        .l_len = 1,
    };
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
        return 0;
    int e = errno;
    if (e == EAGAIN || e == EACCES) {
        vmm_error_set(err, -EBUSY,
                      write ? "The disk image %s is in use by another machine or program; "
                              "stop it first."
                            : "The disk image %s is being written by another machine or "
                              "program; stop it first.",
                      path);
        return -EBUSY;
    }
    /* A filesystem without locks (some network filesystems): go on unlocked. */
    vmm_log(VMM_LOG_WARN, "disk: cannot lock %s (%s); it is not protected from a second user", path,
            strerror(e));
    return 0;
}
