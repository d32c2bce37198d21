/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_SNAPSHOT_STATE_FILE_H
#define VMM_SNAPSHOT_STATE_FILE_H

/*
 * The machine-state file: a container of named sections.
 *
 *   header (64 bytes, little-endian)
 *     0  magic "TRMSTATE"
 *     8  u32 format version (VMM_STATE_FILE_VERSION)
 *    12  u32 header size (64)
 *    16  u32 number of sections
 *    20  u32 size of a section-table entry (48)
 *    24  u64 file size
 *    32  u32 CRC-32 of the whole file, computed with these 4 bytes zero
 *    36  u32 flags (0)
 *    40  24 bytes reserved, zero
 *   section table, one 48-byte entry per section
 *     0  name, NUL-padded (1..31 characters of [a-z0-9._:-])
 *    32  u64 offset of the payload in the file
 *    40  u32 payload size
 *    44  u32 CRC-32 of the payload
 *   payloads, 8-byte aligned, in table order, not overlapping
 *
 * A state file is untrusted input: vmm_state_file_parse() checks every
 * field against the buffer it was given and refuses with a sentence.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

#define VMM_STATE_FILE_MAGIC "TRMSTATE"
#define VMM_STATE_FILE_VERSION 1
#define VMM_STATE_HEADER_SIZE 64
#define VMM_STATE_ENTRY_SIZE 48
#define VMM_STATE_NAME_MAX 31
#define VMM_STATE_MAX_SECTIONS 1024
#define VMM_STATE_MAX_FILE (1ULL << 30)

/* A growable byte buffer (sections are built in memory). */
struct vmm_buf {
    uint8_t *data;
    size_t len, cap;
    bool failed; /* an allocation failed: every later append is dropped */
};

void vmm_buf_put(struct vmm_buf *b, const void *p, size_t len);
void vmm_buf_put_u32(struct vmm_buf *b, uint32_t v);
void vmm_buf_put_u64(struct vmm_buf *b, uint64_t v);
void vmm_buf_free(struct vmm_buf *b);

struct vmm_state_section {
    char name[VMM_STATE_NAME_MAX + 1];
    const uint8_t *data;
    uint32_t size;
    uint8_t *owned; /* writer side: freed with the writer */
};

/* Writer: sections are collected, then committed atomically. */
struct vmm_state_writer {
    struct vmm_state_section *sec;
    unsigned n, cap;
};

/* Takes ownership of buf's contents (buf is left empty). -EINVAL, -ENOMEM, -EEXIST. */
VMM_WUR int vmm_state_writer_add(struct vmm_state_writer *w, const char *name, struct vmm_buf *buf);
/* The whole file in memory (for tests and the fuzzer's seeds). */
VMM_WUR int vmm_state_writer_build(const struct vmm_state_writer *w, struct vmm_buf *out);
/*
 * Writes the file as `path`: to a temporary file in the same directory,
 * fsynced, renamed over path, and the directory fsynced.
 */
VMM_WUR int vmm_state_writer_commit(const struct vmm_state_writer *w, const char *path,
                                    struct vmm_error *err);
void vmm_state_writer_free(struct vmm_state_writer *w);

/* A parsed file: sections point into the caller's buffer. */
struct vmm_state_file {
    uint32_t version;
    unsigned nsections;
    struct vmm_state_section *sec;
};

VMM_WUR int vmm_state_file_parse(const uint8_t *buf, size_t len, struct vmm_state_file *f,
                                 struct vmm_error *err);
/* Reads path whole (at most VMM_STATE_MAX_FILE) into *buf (free() it) and parses it. */
VMM_WUR int vmm_state_file_load(const char *path, uint8_t **buf, struct vmm_state_file *f,
                                struct vmm_error *err);
const struct vmm_state_section *vmm_state_file_find(const struct vmm_state_file *f,
                                                    const char *name);
void vmm_state_file_free(struct vmm_state_file *f);

/* Writes path atomically from memory (temp file, fsync, rename, directory fsync). */
VMM_WUR int vmm_state_write_atomic(const char *path, const void *data, size_t len,
                                   struct vmm_error *err);
/* fsyncs the directory that holds path. */
int vmm_state_fsync_dir(const char *path);

#endif
