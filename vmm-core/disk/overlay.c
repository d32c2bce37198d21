/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Throwaway overlays (try mode; QEMU's snapshot=on): a drive is opened
 * through a new temporary qcow2 image whose backing file is the drive's own
 * image, so every write lands in the overlay and the image itself is only
 * read. The overlay is unlinked as soon as it is open: it lives exactly as
 * long as the handle, and a crash cannot leave it behind. Only a crash in
 * the moment between creating and unlinking can; such files carry their
 * creator's pid and the next overlay made in that directory removes them.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "disk/disk.h"

/* <dir>/.terrarium-try-<pid>-<16 hex digits>.qcow2 */
#define PREFIX ".terrarium-try-"
#define SUFFIX ".qcow2"

static const char *default_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    /* /var/tmp, as QEMU does: overlays can grow large, /tmp is often a small tmpfs. */
    return tmp && tmp[0] == '/' ? tmp : "/var/tmp";
}

/* The pid in an overlay's name, or 0 when the name is not one of ours. */
static pid_t overlay_pid(const char *name)
{
    size_t plen = strlen(PREFIX), n = strlen(name);
    if (strncmp(name, PREFIX, plen) != 0 || n < plen + strlen(SUFFIX) ||
        strcmp(name + n - strlen(SUFFIX), SUFFIX) != 0)
        return 0;
    char *end;
    errno = 0;
    unsigned long pid = strtoul(name + plen, &end, 10);
    if (errno || end == name + plen || *end != '-' || pid == 0 || pid > INT_MAX)
        return 0;
    return (pid_t)pid;
}

int vmm_disk_overlay_clean(const char *dir)
{
    if (!dir)
        dir = default_dir();
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        pid_t pid = overlay_pid(e->d_name);
        if (!pid || pid == getpid())
            continue;
        /* EPERM: alive under another user; only ESRCH says its process is gone. */
        if (kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

struct vmm_disk *vmm_disk_open_overlay(const char *path, unsigned flags, const char *dir,
                                       struct vmm_error *err)
{
    if (!dir)
        dir = default_dir();
    if (flags & VMM_DISK_RDONLY) {
        vmm_error_set(err, -EINVAL, "A read-only drive needs no overlay (%s).", path);
        return NULL;
    }
    char *base = realpath(path, NULL);
    if (!base) {
        int e = errno;
        vmm_error_set(err, -e, "Cannot open the disk image %s: %s.", path, strerror(e));
        return NULL;
    }
    const char *fmt = (flags & VMM_DISK_FORMAT_RAW)     ? "raw"
                      : (flags & VMM_DISK_FORMAT_QCOW2) ? "qcow2"
                                                        : NULL;
    vmm_disk_overlay_clean(dir);

    struct vmm_disk *disk = NULL;
    char ovl[PATH_MAX];
    uint64_t rnd = 0;
    for (int attempt = 0; attempt < 8; attempt++) {
        if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            rnd ^= (uint64_t)attempt * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&rnd;
        if ((size_t)snprintf(ovl, sizeof(ovl), "%s/" PREFIX "%d-%016llx" SUFFIX, dir, (int)getpid(),
                             (unsigned long long)rnd) >= sizeof(ovl)) {
            vmm_error_set(err, -ENAMETOOLONG, "The folder name %s is too long for an overlay.",
                          dir);
            break;
        }
        struct vmm_error cerr = {0};
        int r = vmm_qcow2_create(ovl, 0, 0, base, fmt, &cerr);
        if (r == -EEXIST)
            continue;
        if (r < 0) {
            vmm_error_set(err, r, "Cannot create the try-mode overlay for %s in %s: %s", path, dir,
                          cerr.msg);
            break;
        }
        disk = vmm_disk_open(ovl, VMM_DISK_FORMAT_QCOW2, err);
        /* Open or not, the name goes: the open handle keeps the file alive. */
        unlink(ovl);
        break;
    }
    free(base);
    return disk;
}
