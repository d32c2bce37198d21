/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/file.h"
#include "snapshot/state-file.h"

/* ---- Buffers ---- */

void vmm_buf_put(struct vmm_buf *b, const void *p, size_t len)
{
    if (b->failed || len == 0)
        return;
    if (len > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *n = realloc(b->data, cap);
        if (!n) {
            b->failed = true;
            return;
        }
        b->data = n;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

void vmm_buf_put_u32(struct vmm_buf *b, uint32_t v)
{
    uint8_t x[4];
    le32(x, v);
    vmm_buf_put(b, x, 4);
}

void vmm_buf_put_u64(struct vmm_buf *b, uint64_t v)
{
    uint8_t x[8];
    le64(x, v);
    vmm_buf_put(b, x, 8);
}

void vmm_buf_free(struct vmm_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static uint32_t crc(const uint8_t *p, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (len) {
        uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

static bool valid_name(const char *s)
{
    size_t n = strnlen(s, VMM_STATE_NAME_MAX + 1);
    if (n == 0 || n > VMM_STATE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* ---- Writer ---- */

int vmm_state_writer_add(struct vmm_state_writer *w, const char *name, struct vmm_buf *buf)
{
    if (buf->failed)
        return -ENOMEM;
    if (!valid_name(name) || buf->len > UINT32_MAX)
        return -EINVAL;
    for (unsigned i = 0; i < w->n; i++)
        if (strcmp(w->sec[i].name, name) == 0)
            return -EEXIST;
    if (w->n >= VMM_STATE_MAX_SECTIONS)
        return -ENOSPC;
    if (w->n == w->cap) {
        unsigned cap = w->cap ? w->cap * 2 : 16;
        struct vmm_state_section *n = realloc(w->sec, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        w->sec = n;
        w->cap = cap;
    }
    struct vmm_state_section *s = &w->sec[w->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->owned = buf->data;
    s->data = buf->data;
    s->size = (uint32_t)buf->len;
    memset(buf, 0, sizeof(*buf));
    return 0;
}

static size_t align8(size_t v)
{
    return (v + 7) & ~(size_t)7;
}

int vmm_state_writer_build(const struct vmm_state_writer *w, struct vmm_buf *out)
{
    size_t off = VMM_STATE_HEADER_SIZE + (size_t)w->n * VMM_STATE_ENTRY_SIZE;
    size_t total = off;
    for (unsigned i = 0; i < w->n; i++)
        total = align8(total) + w->sec[i].size;
    if (total > VMM_STATE_MAX_FILE)
        return -EFBIG;
    uint8_t *f = calloc(1, total ? total : 1);
    if (!f)
        return -ENOMEM;
    memcpy(f, VMM_STATE_FILE_MAGIC, 8);
    le32(f + 8, VMM_STATE_FILE_VERSION);
    le32(f + 12, VMM_STATE_HEADER_SIZE);
    le32(f + 16, w->n);
    le32(f + 20, VMM_STATE_ENTRY_SIZE);
    le64(f + 24, total);
    for (unsigned i = 0; i < w->n; i++) {
        const struct vmm_state_section *s = &w->sec[i];
        uint8_t *e = f + VMM_STATE_HEADER_SIZE + (size_t)i * VMM_STATE_ENTRY_SIZE;
        off = align8(off);
        memcpy(e, s->name, strlen(s->name));
        le64(e + 32, off);
        le32(e + 40, s->size);
        le32(e + 44, crc(s->data, s->size));
        if (s->size)
            memcpy(f + off, s->data, s->size);
        off += s->size;
    }
    le32(f + 32, crc(f, total));
    free(out->data);
    *out = (struct vmm_buf){.data = f, .len = total, .cap = total};
    return 0;
}

void vmm_state_writer_free(struct vmm_state_writer *w)
{
    for (unsigned i = 0; i < w->n; i++)
        free(w->sec[i].owned);
    free(w->sec);
    memset(w, 0, sizeof(*w));
}

int vmm_state_fsync_dir(const char *path)
{
    return vmm_fsync_dir(path);
}

int vmm_state_write_atomic(const char *path, const void *data, size_t len, struct vmm_error *err)
{
    return vmm_write_file_atomic(path, data, len, VMM_WRITE_SYNC_DIR, err);
}

int vmm_state_writer_commit(const struct vmm_state_writer *w, const char *path,
                            struct vmm_error *err)
{
    struct vmm_buf b = {0};
    int r = vmm_state_writer_build(w, &b);
    if (r < 0) {
        vmm_error_set(err, r, "cannot build the state file: %s", strerror(-r));
        return r;
    }
    r = vmm_state_write_atomic(path, b.data, b.len, err);
    vmm_buf_free(&b);
    return r;
}

/* ---- Parser ---- */

#define REFUSE(...)                               \
    do {                                          \
        vmm_error_set(err, -EINVAL, __VA_ARGS__); \
        r = -EINVAL;                              \
        goto fail;                                \
    } while (0)

int vmm_state_file_parse(const uint8_t *buf, size_t len, struct vmm_state_file *f,
                         struct vmm_error *err)
{
    int r = 0;
    memset(f, 0, sizeof(*f));
    if (len < VMM_STATE_HEADER_SIZE || memcmp(buf, VMM_STATE_FILE_MAGIC, 8) != 0)
        REFUSE("this is not a Terrarium machine-state file");
    uint32_t version = rd32(buf + 8);
    if (version != VMM_STATE_FILE_VERSION)
        REFUSE("the machine-state file has format version %u; this Terrarium reads version %u",
               version, VMM_STATE_FILE_VERSION);
    if (rd32(buf + 12) != VMM_STATE_HEADER_SIZE || rd32(buf + 20) != VMM_STATE_ENTRY_SIZE)
        REFUSE("the machine-state file has a malformed header");
    if (rd64(buf + 24) != len)
        REFUSE("the machine-state file is %zu bytes but says %llu: it is truncated or damaged", len,
               (unsigned long long)rd64(buf + 24));
    if (rd32(buf + 36) != 0)
        REFUSE("the machine-state file uses features this Terrarium does not know");
    for (unsigned i = 40; i < VMM_STATE_HEADER_SIZE; i++)
        if (buf[i])
            REFUSE("the machine-state file has a malformed header");
    {
        /* The whole-file CRC, with its own field taken as zero. */
        static const uint8_t zero[4];
        uLong c = crc32(0L, Z_NULL, 0);
        c = crc32(c, buf, 32);
        c = crc32(c, zero, 4);
        size_t rest = len - 36;
        const uint8_t *p = buf + 36;
        while (rest) {
            uInt n = rest > UINT_MAX ? UINT_MAX : (uInt)rest;
            c = crc32(c, p, n);
            p += n;
            rest -= n;
        }
        if ((uint32_t)c != rd32(buf + 32))
            REFUSE("the machine-state file is damaged (checksum mismatch)");
    }
    uint32_t n = rd32(buf + 16);
    if (n > VMM_STATE_MAX_SECTIONS)
        REFUSE("the machine-state file claims %u sections (at most %u)", n, VMM_STATE_MAX_SECTIONS);
    size_t table_end = VMM_STATE_HEADER_SIZE + (size_t)n * VMM_STATE_ENTRY_SIZE;
    if (table_end > len)
        REFUSE("the machine-state file's section table runs past its end");
    f->sec = calloc(n ? n : 1, sizeof(*f->sec));
    if (!f->sec) {
        vmm_error_set(err, -ENOMEM, "out of memory reading the machine state");
        return -ENOMEM;
    }
    uint64_t prev_end = table_end;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = buf + VMM_STATE_HEADER_SIZE + (size_t)i * VMM_STATE_ENTRY_SIZE;
        struct vmm_state_section *s = &f->sec[i];
        if (e[VMM_STATE_NAME_MAX] != 0)
            REFUSE("section %u of the machine-state file has a malformed name", i);
        memcpy(s->name, e, VMM_STATE_NAME_MAX + 1);
        for (unsigned k = strlen(s->name); k <= VMM_STATE_NAME_MAX; k++)
            if (e[k])
                REFUSE("section %u of the machine-state file has a malformed name", i);
        if (!valid_name(s->name))
            REFUSE("section %u of the machine-state file has a malformed name", i);
        for (uint32_t k = 0; k < i; k++)
            if (strcmp(f->sec[k].name, s->name) == 0)
                REFUSE("the machine-state file has section %s twice", s->name);
        uint64_t off = rd64(e + 32);
        uint32_t size = rd32(e + 40);
        if (off < prev_end || off > len || size > len - off)
            REFUSE("section %s of the machine-state file lies outside it or overlaps another",
                   s->name);
        s->data = buf + off;
        s->size = size;
        if (crc(s->data, size) != rd32(e + 44))
            REFUSE("section %s of the machine-state file is damaged (checksum mismatch)", s->name);
        prev_end = off + size;
    }
    f->version = version;
    f->nsections = n;
    return 0;
fail:
    vmm_state_file_free(f);
    return r;
}

int vmm_state_file_load(const char *path, uint8_t **bufp, struct vmm_state_file *f,
                        struct vmm_error *err)
{
    *bufp = NULL;
    memset(f, 0, sizeof(*f));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        vmm_error_set(err, -e, "cannot open the machine state %s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > VMM_STATE_MAX_FILE) {
        close(fd);
        vmm_error_set(err, -EINVAL, "the machine state %s is not a regular file of sane size",
                      path);
        return -EINVAL;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        vmm_error_set(err, -ENOMEM, "out of memory reading the machine state");
        return -ENOMEM;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    int r = vmm_state_file_parse(buf, done, f, err);
    if (r < 0) {
        free(buf);
        return r;
    }
    *bufp = buf;
    return 0;
}

const struct vmm_state_section *vmm_state_file_find(const struct vmm_state_file *f,
                                                    const char *name)
{
    for (unsigned i = 0; i < f->nsections; i++)
        if (strcmp(f->sec[i].name, name) == 0)
            return &f->sec[i];
    return NULL;
}

void vmm_state_file_free(struct vmm_state_file *f)
{
    free(f->sec);
    memset(f, 0, sizeof(*f));
}
