/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared helpers for the disk image tests: scratch files, patterns, raw header patching. */
#ifndef TERRARIUM_TEST_QCOW2_UTIL_H
#define TERRARIUM_TEST_QCOW2_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk.h"
#include "test.h"

/* Calls whose result a test deliberately ignores (warn_unused_result is not silenced by a cast). */
#define IGNORE(call)            \
    do {                        \
        int ignored__ = (call); \
        (void)ignored__;        \
    } while (0)

static char tmpdir[128];

static inline void tmpdir_create(const char *prefix)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof(tmpdir), "%s/%s-XXXXXX", base, prefix);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static inline void tmpdir_remove(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* The end of main(): scratch files removed if every check passed, kept (and named) if not. */
static inline int tmpdir_finish(void)
{
    if (!test_failures)
        tmpdir_remove();
    else
        fprintf(stderr, "scratch files kept in %s\n", tmpdir);
    return test_finish();
}

/* A path inside the scratch directory; rotates over a few static buffers. */
static inline const char *tpath(const char *name)
{
    static char bufs[8][256];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, 256, "%s/%s", tmpdir, name);
    return b;
}

static inline uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline void fill_pattern(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = rng_next(&s);
        memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
    }
}

static inline struct vmm_disk *open_disk(const char *path, unsigned flags)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, flags, &err);
    if (!d)
        fprintf(stderr, "open %s failed: %s\n", path, err.msg);
    return d;
}

/* Our own check finds no errors and at most max_leaks leaked clusters. */
static inline void expect_image_clean(struct vmm_disk *d, uint64_t max_leaks)
{
    struct vmm_qcow2_check res;
    int r = vmm_qcow2_check(d, &res);
    CHECK_EQ(r, 0);
    if (res.errors || res.leaks > max_leaks)
        fprintf(stderr, "check: %llu errors, %llu leaks: %s\n", (unsigned long long)res.errors,
                (unsigned long long)res.leaks, res.first_error);
    CHECK_EQ(res.errors, 0);
    CHECK(res.leaks <= max_leaks);
}

static void create_qcow2(const char *path, uint64_t size, unsigned cbits, const char *backing,
                         const char *fmt)
{
    struct vmm_error err = {0};
    unlink(path);
    int r = vmm_qcow2_create(path, size, cbits, backing, fmt, &err);
    if (r < 0)
        fprintf(stderr, "create %s failed: %s\n", path, err.msg);
    CHECK_EQ(r, 0);
}

static inline void create_raw(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_EQ(fwrite(data, 1, len, f), len);
    fclose(f);
}

static inline bool disk_matches(struct vmm_disk *d, const uint8_t *shadow, uint64_t size)
{
    const size_t chunk = 1 << 20;
    uint8_t *buf = malloc(chunk);
    bool same = true;
    for (uint64_t off = 0; off < size && same; off += chunk) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        int r = vmm_disk_pread(d, buf, n, off);
        if (r < 0) {
            fprintf(stderr, "pread at %llu failed: %d\n", (unsigned long long)off, r);
            same = false;
        } else if (memcmp(buf, shadow + off, n)) {
            for (size_t i = 0; i < n; i++)
                if (buf[i] != shadow[off + i]) {
                    fprintf(stderr, "first difference at byte %llu\n",
                            (unsigned long long)(off + i));
                    break;
                }
            same = false;
        }
    }
    free(buf);
    return same;
}

static inline bool file_matches(const char *path, const uint8_t *shadow, uint64_t size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    uint8_t *buf = malloc(size + 1);
    size_t n = fread(buf, 1, size + 1, f);
    fclose(f);
    bool same = n == size && !memcmp(buf, shadow, size);
    if (!same && n == size) {
        for (size_t i = 0; i < size; i++)
            if (buf[i] != shadow[i]) {
                fprintf(stderr, "%s: first difference at byte %zu\n", path, i);
                break;
            }
    } else if (!same) {
        fprintf(stderr, "%s: %zu bytes, expected %llu\n", path, n, (unsigned long long)size);
    }
    free(buf);
    return same;
}

/* Writes through the disk and mirrors the write into shadow. */
static inline void write_both(struct vmm_disk *d, uint8_t *shadow, uint64_t off, size_t len,
                              uint64_t seed)
{
    uint8_t *buf = malloc(len);
    fill_pattern(buf, len, seed);
    int r = vmm_disk_pwrite(d, buf, len, off);
    if (r < 0)
        fprintf(stderr, "pwrite %zu at %llu: %d\n", len, (unsigned long long)off, r);
    CHECK_EQ(r, 0);
    memcpy(shadow + off, buf, len);
    free(buf);
}

/* ---- raw access to image files, for crafting and damaging them ---- */

static inline uint64_t be_get(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static inline void be_put(uint8_t *p, int n, uint64_t v)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint64_t file_get(const char *path, uint64_t off, int n)
{
    uint8_t b[8] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0 || pread(fd, b, n, (off_t)off) != n)
        fprintf(stderr, "file_get %s@%llu failed\n", path, (unsigned long long)off);
    if (fd >= 0)
        close(fd);
    return be_get(b, n);
}

static inline void file_put(const char *path, uint64_t off, int n, uint64_t v)
{
    uint8_t b[8];
    be_put(b, n, v);
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, b, n, (off_t)off) != n)
        fprintf(stderr, "file_put %s@%llu failed\n", path, (unsigned long long)off);
    if (fd >= 0)
        close(fd);
}

static inline void file_write(const char *path, uint64_t off, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, data, len, (off_t)off) != (ssize_t)len)
        fprintf(stderr, "file_write %s@%llu failed\n", path, (unsigned long long)off);
    if (fd >= 0)
        close(fd);
}

static inline uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static inline void copy_file(const char *src, const char *dst)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", src, dst);
    CHECK_EQ(system(cmd), 0);
}

#endif
