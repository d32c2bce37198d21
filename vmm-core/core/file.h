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

/* vmm_write_file_atomic flags */
#define VMM_WRITE_SYNC_DIR (1u << 0) /* fsync the directory after the rename */
/*
 * The temporary file is "<path's directory>/.tmp-XXXXXX" (mkstemp), for
 * files several processes may store at once; without it, "<path>.tmp".
 */
#define VMM_WRITE_UNIQUE_TMP (1u << 1)

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
