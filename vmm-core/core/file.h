/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_CORE_FILE_H
#define VMM_CORE_FILE_H

/*
 * Whole-file I/O for what vmm-core reads from and writes to the host's
 * disk: firmware images, kernels, initrds, the kernel cache, state files.
 */

#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

/*
 * Reads the regular file path whole into a malloc'ed *data (free() it; never
 * NULL on success, even for an empty file) of *len bytes. `what` names it in
 * the error sentence ("kernel", "firmware"). Errors: the open or read errno,
 * -EINVAL (not a regular file), -EFBIG (larger than max), -ENOMEM.
 */
VMM_WUR int vmm_read_file(const char *what, const char *path, uint64_t max, uint8_t **data,
                          size_t *len, struct vmm_error *err);

struct stat;

/*
 * Opens the regular file path for reading (O_CLOEXEC) and fills *st: the
 * descriptor, or -errno with the same sentences as vmm_read_file.
 */
VMM_WUR int vmm_open_file(const char *what, const char *path, uint64_t max, struct stat *st,
                          struct vmm_error *err);

/* pread until len bytes are in: 0, -errno, or -ENODATA when the file ends first. */
VMM_WUR int vmm_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* pwrite until len bytes are out: 0, -errno, or -EIO when nothing more is taken. */
VMM_WUR int vmm_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/* The first size bytes of fd (the file path, for the sentence) into a malloc'ed *data. */
VMM_WUR int vmm_read_fd(const char *what, const char *path, int fd, size_t size, uint8_t **data,
                        struct vmm_error *err);

/* vmm_write_file_atomic flags */
#define VMM_WRITE_SYNC_DIR (1u << 0) /* fsync the directory after the rename */
/*
 * The temporary file is "<path's directory>/.tmp-XXXXXX" (mkstemp), for
 * files several processes may store at once; without it, "<path>.tmp".
 */
#define VMM_WRITE_UNIQUE_TMP (1u << 1)
/*
 * Whole 4 KiB pages of zeros are left out as holes (data must be 8-byte
 * aligned): a file that is mostly zeros takes its data's room only, and
 * SEEK_DATA finds what is there.
 */
#define VMM_WRITE_SPARSE (1u << 2)

/*
 * Writes path from memory so readers see the old file or the whole new one:
 * a temporary file (mode 0600), written, fsynced, closed and renamed over
 * path; with VMM_WRITE_SYNC_DIR the rename is made durable too. On failure
 * the temporary file is removed and err (optional) says what failed.
 * 0 or -errno (-ENAMETOOLONG for a path too long for its temporary name).
 */
VMM_WUR int vmm_write_file_atomic(const char *path, const void *data, size_t len, unsigned flags,
                                  struct vmm_error *err);

/* fsyncs the directory that holds path. 0 or -errno. */
int vmm_fsync_dir(const char *path);

#endif
