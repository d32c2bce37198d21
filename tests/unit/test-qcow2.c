/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Disk image layer without outside tools: raw images, qcow2 creation,
 * allocation (with refcount block and table growth), overwrite, copy-on-write
 * of shared clusters, backing chains, zero clusters, discard, malformed images
 * and process crashes in the middle of writes.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "test-qcow2-util.h"

#define MiB (1024ull * 1024)

static void test_raw(void)
{
    const uint64_t size = 4 * MiB;
    uint8_t *shadow = calloc(1, size);
    fill_pattern(shadow, size, 1);
    create_raw(tpath("raw.img"), shadow, size);

    struct vmm_disk *d = open_disk(tpath("raw.img"), 0);
    CHECK(d != NULL);
    if (!d)
        return;
    struct vmm_disk_info info;
    vmm_disk_get_info(d, &info);
    CHECK_EQ(info.format, VMM_DISK_RAW);
    CHECK_EQ(vmm_disk_size(d), size);
    write_both(d, shadow, 12345, 70000, 2);
    CHECK_EQ(vmm_disk_write_zeroes(d, 1 * MiB, 8192, 0), 0);
    memset(shadow + 1 * MiB, 0, 8192);
    CHECK_EQ(vmm_disk_write_zeroes(d, 2 * MiB + 100, 100000, VMM_DISK_ZEROES_UNMAP), 0);
    memset(shadow + 2 * MiB + 100, 0, 100000);
    CHECK_EQ(vmm_disk_discard(d, 3 * MiB, 4096), 0);
    /* Discard is advisory (zeros where the file system punched a hole): take what reads back. */
    CHECK_EQ(vmm_disk_pread(d, shadow + 3 * MiB, 4096, 3 * MiB), 0);
    CHECK(disk_matches(d, shadow, size));
    /* Vectored: a scattered write then read, as virtio-blk issues them. */
    uint8_t v1[1000], v2[24], v3[3072];
    memset(v1, 0x11, sizeof(v1));
    memset(v2, 0x22, sizeof(v2));
    memset(v3, 0x33, sizeof(v3));
    struct iovec iov[3] = {{v1, sizeof(v1)}, {v2, sizeof(v2)}, {v3, sizeof(v3)}};
    CHECK_EQ(vmm_disk_pwritev(d, iov, 3, 5 * 512), 0);
    memcpy(shadow + 5 * 512, v1, sizeof(v1));
    memcpy(shadow + 5 * 512 + 1000, v2, sizeof(v2));
    memcpy(shadow + 5 * 512 + 1024, v3, sizeof(v3));
    memset(v1, 0, sizeof(v1));
    memset(v3, 0, sizeof(v3));
    CHECK_EQ(vmm_disk_preadv(d, iov, 3, 5 * 512), 0);
    CHECK(memcmp(v1, shadow + 5 * 512, sizeof(v1)) == 0);
    CHECK(memcmp(v3, shadow + 5 * 512 + 1024, sizeof(v3)) == 0);
    /* The total length is range-checked; so is the list length. */
    CHECK_EQ(vmm_disk_preadv(d, iov, 3, size - 4096), 0);
    CHECK_EQ(vmm_disk_preadv(d, iov, 3, size - 4095), -EINVAL);
    CHECK_EQ(vmm_disk_preadv(d, iov, IOV_MAX + 1, 0), -EINVAL);
    uint8_t b[16];
    CHECK_EQ(vmm_disk_pread(d, b, 16, size - 8), -EINVAL);
    CHECK_EQ(vmm_disk_pwrite(d, b, 16, UINT64_MAX - 4), -EINVAL);
    CHECK_EQ(vmm_disk_flush(d), 0);
    vmm_disk_close(d);
    CHECK(file_matches(tpath("raw.img"), shadow, size));

    d = open_disk(tpath("raw.img"), VMM_DISK_RDONLY);
    CHECK(d && vmm_disk_is_read_only(d));
    if (d) {
        CHECK_EQ(vmm_disk_pwrite(d, b, 16, 0), -EROFS);
        CHECK_EQ(vmm_disk_pwritev(d, iov, 3, 0), -EROFS);
    }
    vmm_disk_close(d);
    free(shadow);
}

/* qcow2 has no vectored ops: scattered requests go through one contiguous call (or, past 4 MiB,
 * one call a segment); either way the data lands where the segments say. */
static void test_qcow2_vectored(void)
{
    const uint64_t size = 16 * MiB;
    create_qcow2(tpath("vec.qcow2"), size, 12, NULL, NULL);
    struct vmm_disk *d = open_disk(tpath("vec.qcow2"), 0);
    CHECK(d != NULL);
    if (!d)
        return;
    uint8_t *shadow = calloc(1, size), *src = malloc(6 * MiB), *dst = malloc(6 * MiB);
    fill_pattern(src, 6 * MiB, 7);
    /* 300 segments of odd sizes over ~1.2 MiB, starting inside a cluster. */
    struct iovec iov[300];
    size_t at = 0;
    for (unsigned i = 0; i < 300; i++) {
        iov[i].iov_base = src + at;
        iov[i].iov_len = 512 + 1024 * (i % 7);
        at += iov[i].iov_len;
    }
    CHECK_EQ(vmm_disk_pwritev(d, iov, 300, 3 * 512), 0);
    memcpy(shadow + 3 * 512, src, at);
    CHECK(disk_matches(d, shadow, size));
    /* Read it back split differently. */
    struct iovec rv[2] = {{dst, 4096 + 512}, {dst + 4096 + 512, at - 4096 - 512}};
    CHECK_EQ(vmm_disk_preadv(d, rv, 2, 3 * 512), 0);
    CHECK(memcmp(dst, src, at) == 0);
    /* Larger than the bounce buffer: segment by segment. */
    struct iovec big[2] = {{src, 3 * MiB}, {src + 3 * MiB, 3 * MiB}};
    CHECK_EQ(vmm_disk_pwritev(d, big, 2, 8 * MiB), 0);
    memcpy(shadow + 8 * MiB, src, 6 * MiB);
    struct iovec bigr[2] = {{dst, 5 * MiB}, {dst + 5 * MiB, 1 * MiB}};
    CHECK_EQ(vmm_disk_preadv(d, bigr, 2, 8 * MiB), 0);
    CHECK(memcmp(dst, src, 6 * MiB) == 0);
    CHECK(disk_matches(d, shadow, size));
    expect_image_clean(d, 0);
    vmm_disk_close(d);
    free(shadow);
    free(src);
    free(dst);
}

static void test_create_and_probe(void)
{
    const char *p = tpath("new.qcow2");
    struct vmm_error err = {0};

    create_qcow2(p, 64 * MiB, 16, NULL, NULL);
    CHECK_EQ(vmm_qcow2_create(p, 64 * MiB, 16, NULL, NULL, &err), -EEXIST);
    CHECK(strstr(err.msg, p) != NULL);
    CHECK_EQ(vmm_qcow2_create(tpath("bad.qcow2"), MiB, 30, NULL, NULL, &err), -EINVAL);
    CHECK_EQ(vmm_qcow2_create(tpath("bad.qcow2"), MiB, 16, "does-not-exist", NULL, &err) < 0, 1);
    CHECK(access(tpath("bad.qcow2"), F_OK) != 0);

    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    struct vmm_disk_info info;
    vmm_disk_get_info(d, &info);
    CHECK_EQ(info.format, VMM_DISK_QCOW2);
    CHECK_EQ(info.virtual_size, 64 * MiB);
    CHECK_EQ(info.cluster_size, 65536);
    CHECK_EQ(info.qcow2_version, 3);
    CHECK_EQ(info.refcount_bits, 16);
    CHECK(!info.has_backing);
    CHECK(!info.read_only);
    uint8_t *zero = calloc(1, 64 * MiB);
    CHECK(disk_matches(d, zero, 64 * MiB));
    expect_image_clean(d, 0);
    vmm_disk_close(d);

    /* Forcing raw on a qcow2 file shows the container itself. */
    d = open_disk(p, VMM_DISK_RDONLY | VMM_DISK_FORMAT_RAW);
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ(vmm_disk_size(d), file_size(p));
        vmm_disk_close(d);
    }
    /* A raw file forced to qcow2 is refused with a sentence. */
    create_raw(tpath("plain.img"), zero, 65536);
    CHECK(vmm_disk_open(tpath("plain.img"), VMM_DISK_FORMAT_QCOW2, &err) == NULL);
    CHECK(strstr(err.msg, "not a qcow2 image") != NULL);
    /* Odd sizes round up to whole sectors. */
    create_qcow2(tpath("odd.qcow2"), 1000, 12, NULL, NULL);
    d = open_disk(tpath("odd.qcow2"), 0);
    CHECK(d && vmm_disk_size(d) == 1024);
    vmm_disk_close(d);
    free(zero);
}

/* Random writes across a small-cluster image: many L2 tables, refcount blocks and table growth. */
static void alloc_workout(unsigned cbits, uint64_t size, int nwrites, size_t maxlen)
{
    const char *p = tpath("alloc.qcow2");
    uint8_t *shadow = calloc(1, size);
    uint64_t s = cbits * 7919;

    create_qcow2(p, size, cbits, NULL, NULL);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    uint64_t rt_before = file_get(p, 48, 8);
    for (int i = 0; i < nwrites; i++) {
        size_t len = 1 + rng_next(&s) % maxlen;
        uint64_t off = rng_next(&s) % (size - len);
        write_both(d, shadow, off, len, s);
    }
    /* Fill a large stretch sequentially too. */
    for (uint64_t off = size / 2; off < size / 2 + size / 4; off += 65536)
        write_both(d, shadow, off, 65536, off);
    CHECK(disk_matches(d, shadow, size));
    expect_image_clean(d, 0);
    CHECK_EQ(vmm_disk_flush(d), 0);
    vmm_disk_close(d);
    if (cbits == 9)
        CHECK(file_get(p, 48, 8) != rt_before); /* the refcount table moved as it grew */

    d = open_disk(p, VMM_DISK_RDONLY);
    CHECK(d != NULL);
    if (d) {
        CHECK(disk_matches(d, shadow, size));
        expect_image_clean(d, 0);
        vmm_disk_close(d);
    }
    unlink(p);
    free(shadow);
}

static void test_alloc_4k(void)
{
    alloc_workout(12, 64 * MiB, 300, 200000);
}

static void test_alloc_512_refcount_growth(void)
{
    /* 512-byte clusters: a refcount block covers 128 KiB, the first table 8 MiB of file. */
    alloc_workout(9, 24 * MiB, 200, 100000);
}

static void test_overwrite_in_place(void)
{
    const char *p = tpath("over.qcow2");
    const uint64_t size = 16 * MiB;
    uint8_t *shadow = calloc(1, size);

    create_qcow2(p, size, 16, NULL, NULL);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    write_both(d, shadow, 0, 4 * MiB, 11);
    CHECK_EQ(vmm_disk_flush(d), 0);
    uint64_t fsize = file_size(p);
    for (int i = 0; i < 50; i++)
        write_both(d, shadow, (uint64_t)i * 77777, 5000 + i * 100, 100 + i);
    write_both(d, shadow, 65536 - 10, 20, 5); /* straddles two clusters */
    CHECK_EQ(vmm_disk_flush(d), 0);
    CHECK_EQ(file_size(p), fsize); /* nothing new was allocated */
    CHECK(disk_matches(d, shadow, size));
    expect_image_clean(d, 0);
    vmm_disk_close(d);
    free(shadow);
}

/*
 * Turns the current state of an image (64 KiB clusters, 16-bit refcounts) into
 * an internal snapshot "snap", by hand: a copy of the L1 table, refcounts of
 * every L2 table and data cluster raised by one, copied flags cleared.
 */
static void craft_snapshot(const char *p, uint64_t *snap_l1_out)
{
    const uint64_t cs = 65536, E = cs / 2;
    uint32_t l1_size = (uint32_t)file_get(p, 36, 4);
    uint64_t l1_off = file_get(p, 40, 8), rt_off = file_get(p, 48, 8);
    uint64_t end = (file_size(p) + cs - 1) & ~(cs - 1);
    uint64_t snap_l1 = end, table = end + cs;
    int fd = open(p, O_RDWR);
    uint8_t *l1 = calloc(1, cs), *l2 = malloc(cs), rb[2];

    CHECK(fd >= 0 && l1_size * 8 <= cs);
#define INC(off)                                                                   \
    do {                                                                           \
        uint64_t c__ = (off) / cs, blk__ = file_get(p, rt_off + (c__ / E) * 8, 8); \
        CHECK(blk__ != 0);                                                         \
        CHECK_EQ(pread(fd, rb, 2, blk__ + (c__ % E) * 2), 2);                      \
        be_put(rb, 2, be_get(rb, 2) + 1);                                          \
        CHECK_EQ(pwrite(fd, rb, 2, blk__ + (c__ % E) * 2), 2);                     \
    } while (0)
    CHECK_EQ(pread(fd, l1, l1_size * 8, l1_off), l1_size * 8);
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t e = be_get(l1 + i * 8, 8), l2off = e & 0x00fffffffffffe00ull;
        if (!l2off)
            continue;
        INC(l2off);
        be_put(l1 + i * 8, 8, e & ~(1ull << 63));
        CHECK_EQ(pread(fd, l2, cs, l2off), cs);
        for (uint64_t j = 0; j < cs / 8; j++) {
            uint64_t e2 = be_get(l2 + j * 8, 8), host = e2 & 0x00fffffffffffe00ull;
            if (!host || (e2 & (1ull << 62)))
                continue;
            INC(host);
            be_put(l2 + j * 8, 8, e2 & ~(1ull << 63));
        }
        CHECK_EQ(pwrite(fd, l2, cs, l2off), cs);
    }
    CHECK_EQ(pwrite(fd, l1, l1_size * 8, l1_off), l1_size * 8);
    CHECK_EQ(pwrite(fd, l1, cs, snap_l1), cs);
    INC(snap_l1);
    INC(table);

    uint8_t ent[64] = {0};
    be_put(ent, 8, snap_l1);
    be_put(ent + 8, 4, l1_size);
    be_put(ent + 12, 2, 1); /* id length */
    be_put(ent + 14, 2, 4); /* name length */
    be_put(ent + 16, 4, 1700000000);
    be_put(ent + 36, 4, 16);                 /* extra data: vm state size, disk size */
    be_put(ent + 48, 8, file_get(p, 24, 8)); /* disk size */
    memcpy(ent + 56, "1snap", 5);            /* then padding to 64 */
    uint8_t *tbl = calloc(1, cs);
    memcpy(tbl, ent, sizeof(ent));
    CHECK_EQ(pwrite(fd, tbl, cs, table), cs);
    uint8_t hdr[12];
    be_put(hdr, 4, 1);
    be_put(hdr + 4, 8, table);
    CHECK_EQ(pwrite(fd, hdr, 12, 60), 12);
#undef INC
    close(fd);
    free(l1);
    free(l2);
    free(tbl);
    *snap_l1_out = snap_l1;
}

static void test_cow_shared_clusters(void)
{
    const char *p = tpath("cow.qcow2");
    const uint64_t size = 8 * MiB;
    uint8_t *shadow = calloc(1, size), *before = malloc(size);
    uint64_t snap_l1;

    create_qcow2(p, size, 16, NULL, NULL);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    write_both(d, shadow, 0, 3 * MiB, 21);
    vmm_disk_close(d);
    memcpy(before, shadow, size);
    craft_snapshot(p, &snap_l1);

    d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    struct vmm_disk_info info;
    vmm_disk_get_info(d, &info);
    CHECK_EQ(info.nb_snapshots, 1);
    expect_image_clean(d, 0);
    uint64_t fsize = file_size(p);
    write_both(d, shadow, 100, 1000, 31);      /* partial: copy, then merge */
    write_both(d, shadow, 2 * MiB, 65536, 32); /* whole cluster */
    write_both(d, shadow, 4 * MiB, 65536, 33); /* beyond the shared part */
    write_both(d, shadow, 120, 50, 34);        /* now private: in place */
    CHECK(disk_matches(d, shadow, size));
    expect_image_clean(d, 0);
    vmm_disk_close(d);
    CHECK(file_size(p) > fsize);
    copy_file(p, tpath("cow-kept.qcow2"));

    /* The snapshot's view is untouched: look through its L1 table. */
    file_put(p, 40, 8, snap_l1);
    d = open_disk(p, VMM_DISK_RDONLY);
    CHECK(d != NULL);
    if (d) {
        CHECK(disk_matches(d, before, size));
        vmm_disk_close(d);
    }
    free(shadow);
    free(before);
}

static void test_backing_chain(void)
{
    const uint64_t base_size = 6 * MiB, size = 8 * MiB;
    uint8_t *shadow = calloc(1, size), *base = malloc(base_size);
    fill_pattern(base, base_size, 41);
    memcpy(shadow, base, base_size);
    create_raw(tpath("base.raw"), base, base_size);

    /* mid: qcow2 over raw (relative names), larger than its backing file. */
    create_qcow2(tpath("mid.qcow2"), size, 16, "base.raw", "raw");
    struct vmm_disk *d = open_disk(tpath("mid.qcow2"), 0);
    CHECK(d != NULL);
    if (!d)
        return;
    struct vmm_disk_info info;
    vmm_disk_get_info(d, &info);
    CHECK(info.has_backing);
    CHECK(!strcmp(info.backing_file, "base.raw"));
    CHECK(!strcmp(info.backing_format, "raw"));
    CHECK(disk_matches(d, shadow, size));
    write_both(d, shadow, 1 * MiB + 300, 5000, 42);
    write_both(d, shadow, 6 * MiB - 1000, 3000, 43); /* across the backing file's end */
    CHECK(disk_matches(d, shadow, size));
    expect_image_clean(d, 0);
    vmm_disk_close(d);

    /* top: qcow2 over qcow2 over raw, 4 KiB clusters over 64 KiB ones; size from backing. */
    create_qcow2(tpath("top.qcow2"), 0, 12, "mid.qcow2", NULL);
    d = open_disk(tpath("top.qcow2"), 0);
    CHECK(d != NULL);
    if (!d)
        return;
    vmm_disk_get_info(d, &info);
    CHECK(!strcmp(info.backing_format, "qcow2"));
    CHECK_EQ(vmm_disk_size(d), size);
    CHECK(disk_matches(d, shadow, size));
    write_both(d, shadow, 10, 100, 44);
    write_both(d, shadow, 1 * MiB + 4000, 9000, 45);
    write_both(d, shadow, 7 * MiB, 1 * MiB, 46);
    CHECK(disk_matches(d, shadow, size));
    expect_image_clean(d, 0);
    vmm_disk_close(d);

    CHECK(file_matches(tpath("base.raw"), base, base_size)); /* backing files stay untouched */
    d = open_disk(tpath("top.qcow2"), VMM_DISK_RDONLY);
    CHECK(d && disk_matches(d, shadow, size));
    vmm_disk_close(d);

    /* Sixteen images in a chain are fine; a seventeenth is refused, at creation already. */
    uint8_t one[512];
    memset(one, 0x5a, sizeof(one));
    create_raw(tpath("c0"), one, sizeof(one));
    for (int i = 1; i < VMM_DISK_MAX_CHAIN; i++) {
        char name[16], below[16];
        snprintf(name, sizeof(name), "c%d", i);
        snprintf(below, sizeof(below), "c%d", i - 1);
        create_qcow2(tpath(name), 0, 12, below, NULL);
    }
    d = open_disk(tpath("c15"), 0);
    CHECK(d != NULL);
    if (d) {
        uint8_t got[512];
        CHECK_EQ(vmm_disk_pread(d, got, sizeof(got), 0), 0);
        CHECK(!memcmp(got, one, sizeof(one)));
        vmm_disk_close(d);
    }
    struct vmm_error err = {0};
    CHECK(vmm_qcow2_create(tpath("c16"), 0, 12, "c15", NULL, &err) < 0);
    CHECK(strstr(err.msg, "longer than") != NULL);

    /* A chain that loops back is refused, not followed forever. */
    create_qcow2(tpath("loop-a.qcow2"), MiB, 16, NULL, NULL);
    create_qcow2(tpath("loop-b.qcow2"), MiB, 16, "loop-a.qcow2", "qcow2");
    const char *name = "loop-b.qcow2";
    file_write(tpath("loop-a.qcow2"), 60000, name, strlen(name));
    file_put(tpath("loop-a.qcow2"), 8, 8, 60000);
    file_put(tpath("loop-a.qcow2"), 16, 4, strlen(name));
    CHECK(vmm_disk_open(tpath("loop-a.qcow2"), 0, &err) == NULL);
    CHECK(strstr(err.msg, "loops") != NULL);
    free(shadow);
    free(base);
}

static void test_zero_clusters(void)
{
    const uint64_t size = 4 * MiB;
    uint8_t *shadow = malloc(size);
    fill_pattern(shadow, size, 51);
    create_raw(tpath("zbase.raw"), shadow, size);
    create_qcow2(tpath("zero.qcow2"), size, 16, "zbase.raw", "raw");

    struct vmm_disk *d = open_disk(tpath("zero.qcow2"), 0);
    CHECK(d != NULL);
    if (!d)
        return;
    write_both(d, shadow, 0, 65536, 52); /* allocates the L2 table */
    vmm_disk_close(d);

    /* Craft zero-flag entries: cluster 1 plain, cluster 0 keeping its allocation. */
    uint64_t l2 = file_get(tpath("zero.qcow2"), file_get(tpath("zero.qcow2"), 40, 8), 8) &
                  0x00fffffffffffe00ull;
    uint64_t e0 = file_get(tpath("zero.qcow2"), l2, 8);
    file_put(tpath("zero.qcow2"), l2 + 8, 8, 1);
    file_put(tpath("zero.qcow2"), l2, 8, e0 | 1);
    memset(shadow, 0, 2 * 65536);

    d = open_disk(tpath("zero.qcow2"), 0);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK(disk_matches(d, shadow, size));
    expect_image_clean(d, 0);
    /* Writing into a preallocated zero cluster reuses it; into a plain one allocates. */
    write_both(d, shadow, 1000, 10, 53);
    write_both(d, shadow, 65536 + 1000, 10, 54);
    CHECK(disk_matches(d, shadow, size));

    /* write_zeroes over backing data, with and without unmapping, partial and whole. */
    CHECK_EQ(vmm_disk_write_zeroes(d, 3 * 65536 + 5, 3 * 65536, 0), 0);
    memset(shadow + 3 * 65536 + 5, 0, 3 * 65536);
    CHECK_EQ(vmm_disk_write_zeroes(d, 1 * MiB, 1 * MiB, VMM_DISK_ZEROES_UNMAP), 0);
    memset(shadow + 1 * MiB, 0, 1 * MiB);
    CHECK_EQ(vmm_disk_write_zeroes(d, size - 100, 100, 0), 0);
    memset(shadow + size - 100, 0, 100);
    CHECK(disk_matches(d, shadow, size));
    expect_image_clean(d, 0);
    vmm_disk_close(d);
    d = open_disk(tpath("zero.qcow2"), VMM_DISK_RDONLY);
    CHECK(d && disk_matches(d, shadow, size));
    vmm_disk_close(d);
    free(shadow);
}

static void test_discard(void)
{
    const char *p = tpath("discard.qcow2");
    const uint64_t size = 16 * MiB;
    uint8_t *shadow = calloc(1, size);

    create_qcow2(p, size, 16, NULL, NULL);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    write_both(d, shadow, 0, 8 * MiB, 61);
    CHECK_EQ(vmm_disk_flush(d), 0);
    uint64_t fsize = file_size(p);
    /* Whole clusters inside the range go; the partial ones at its edges stay. */
    CHECK_EQ(vmm_disk_discard(d, 1 * MiB + 100, 2 * MiB), 0);
    memset(shadow + 1 * MiB + 65536, 0, 2 * MiB - 65536);
    CHECK_EQ(vmm_disk_discard(d, 5 * MiB, 1000), 0); /* less than a cluster: nothing */
    CHECK(disk_matches(d, shadow, size));
    CHECK_EQ(vmm_disk_flush(d), 0);
    expect_image_clean(d, 0);
    /* Freed clusters are reused: refilling does not grow the file. */
    write_both(d, shadow, 12 * MiB, 2 * MiB - 65536, 62);
    CHECK_EQ(vmm_disk_flush(d), 0);
    CHECK_EQ(file_size(p), fsize);
    CHECK(disk_matches(d, shadow, size));
    expect_image_clean(d, 0);
    vmm_disk_close(d);
    free(shadow);
}

/* ---- malformed images ---- */

static const char *damaged(void)
{
    return tpath("damaged.qcow2");
}

static void fresh_copy(void)
{
    unlink(damaged());
    copy_file(tpath("good.qcow2"), damaged());
}

static void expect_refused(const char *what, const char *needle)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(damaged(), 0, &err);
    if (d) {
        fprintf(stderr, "%s: opened, expected refusal\n", what);
        vmm_disk_close(d);
    }
    CHECK(d == NULL);
    CHECK(err.msg[0] != 0);
    if (needle && !strstr(err.msg, needle))
        fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", what, err.msg, needle);
    CHECK(!needle || strstr(err.msg, needle));
}

/* Opens (if it can) and exercises the whole image; must not crash or hang. */
static void exercise(unsigned flags)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(damaged(), flags, &err);
    if (!d) {
        CHECK(err.msg[0] != 0);
        return;
    }
    uint64_t size = vmm_disk_size(d);
    uint8_t *buf = malloc(256 * 1024);
    memset(buf, 0xab, 256 * 1024);
    for (uint64_t off = 0; off < size && off < 8 * MiB; off += 256 * 1024) {
        size_t n = size - off < 256 * 1024 ? (size_t)(size - off) : 256 * 1024;
        IGNORE(vmm_disk_pread(d, buf, n, off));
        IGNORE(vmm_disk_pwrite(d, buf, n < 70000 ? n : 70000, off));
    }
    IGNORE(vmm_disk_discard(d, 0, size / 2));
    IGNORE(vmm_disk_write_zeroes(d, size / 4, size / 2, 0));
    IGNORE(vmm_disk_flush(d));
    struct vmm_qcow2_check res;
    if (d->ops == &vmm_disk_qcow2_ops)
        IGNORE(vmm_qcow2_check(d, &res));
    vmm_disk_close(d);
    free(buf);
}

static void test_malformed(void)
{
    const uint64_t size = 16 * MiB;
    uint8_t *shadow = calloc(1, size);
    create_qcow2(tpath("good.qcow2"), size, 16, NULL, NULL);
    struct vmm_disk *d = open_disk(tpath("good.qcow2"), 0);
    CHECK(d != NULL);
    if (!d)
        return;
    write_both(d, shadow, 0, 3 * MiB, 71);
    vmm_disk_close(d);
    const char *g = tpath("good.qcow2");
    uint64_t l1 = file_get(g, 40, 8), rt = file_get(g, 48, 8);
    uint64_t l2 = file_get(g, l1, 8) & 0x00fffffffffffe00ull;
    uint64_t data = file_get(g, l2, 8) & 0x00fffffffffffe00ull;

    fresh_copy();
    file_put(damaged(), 36, 4, 0xffffffff);
    expect_refused("absurd l1_size", "L1 table size");
    fresh_copy();
    file_put(damaged(), 36, 4, 0);
    expect_refused("l1_size too small", "too small");
    fresh_copy();
    file_put(damaged(), 40, 8, 1ull << 40);
    expect_refused("L1 outside the file", "outside the file");
    fresh_copy();
    file_put(damaged(), 40, 8, l1 + 8);
    expect_refused("unaligned L1", "not cluster-aligned");
    fresh_copy();
    file_put(damaged(), 40, 8, 0);
    expect_refused("L1 over the header", "overlaps the header");
    fresh_copy();
    file_put(damaged(), 48, 8, 0);
    expect_refused("refcount table at 0", "overlaps the image header");
    fresh_copy();
    file_put(damaged(), 48, 8, 0x200);
    expect_refused("refcount table in the header", "overlaps the image header");
    fresh_copy();
    file_put(damaged(), 48, 8, rt + 0x200);
    expect_refused("refcount table unaligned", "refcount table");
    fresh_copy();
    file_put(damaged(), 48, 8, l1);
    expect_refused("refcount table over L1", "overlaps");
    fresh_copy();
    file_put(damaged(), 56, 4, 100000);
    expect_refused("refcount table too big", "refcount table");
    fresh_copy();
    file_put(damaged(), 72, 8, 1ull << 17);
    expect_refused("unknown incompatible bit", "bit 17");
    fresh_copy();
    /* Name the unknown bit through the feature table: entry 0 becomes (incompatible, 17). */
    file_put(damaged(), 72, 8, 1ull << 17);
    file_put(damaged(), 112 + 8 + 1, 1, 17);
    file_write(damaged(), 112 + 8 + 2, "frobnication\0\0\0\0\0", 16);
    expect_refused("named incompatible bit", "frobnication");
    fresh_copy();
    file_put(damaged(), 72, 8, 1ull << 2);
    expect_refused("external data file", "external data file");
    fresh_copy();
    file_put(damaged(), 60, 4, 0xffffffff);
    file_put(damaged(), 64, 8, 0x30000);
    expect_refused("absurd nb_snapshots", "snapshot");
    fresh_copy();
    file_put(damaged(), 60, 4, 60000);
    file_put(damaged(), 64, 8, rt);
    expect_refused("snapshot table over the refcount table", "snapshot");
    fresh_copy();
    file_put(damaged(), 20, 4, 40);
    expect_refused("cluster size", "cluster size");
    fresh_copy();
    file_put(damaged(), 4, 4, 4);
    expect_refused("version", "version 4");
    fresh_copy();
    file_put(damaged(), 32, 4, 1);
    expect_refused("encryption", "encrypted");
    fresh_copy();
    file_put(damaged(), 96, 4, 7);
    expect_refused("refcount order", "refcount");
    fresh_copy();
    file_put(damaged(), 100, 4, 3);
    expect_refused("header length", "header length");
    fresh_copy();
    file_put(damaged(), 24, 8, UINT64_MAX - 4096);
    expect_refused("absurd virtual size", "virtual size");
    fresh_copy();
    file_put(damaged(), 8, 8, 70000);
    file_put(damaged(), 16, 4, 10);
    expect_refused("backing name outside the header", "backing file");
    fresh_copy();
    file_put(damaged(), 72, 8, 8); /* compression type bit without the field */
    expect_refused("compression type", "compression");
    fresh_copy();
    CHECK_EQ(truncate(damaged(), 50), 0);
    expect_refused("truncated header", "truncated");
    fresh_copy();
    CHECK_EQ(truncate(damaged(), 0), 0);
    d = vmm_disk_open(damaged(), VMM_DISK_FORMAT_QCOW2, NULL);
    CHECK(d == NULL);

    /* Dirty and corrupt bits: read-only use only. */
    fresh_copy();
    file_put(damaged(), 72, 8, 1);
    expect_refused("dirty bit", "not closed cleanly");
    d = open_disk(damaged(), VMM_DISK_RDONLY);
    CHECK(d && disk_matches(d, shadow, size));
    vmm_disk_close(d);
    fresh_copy();
    file_put(damaged(), 72, 8, 2);
    expect_refused("corrupt bit", "marked corrupt");
    d = open_disk(damaged(), VMM_DISK_RDONLY);
    CHECK(d != NULL);
    vmm_disk_close(d);

    /* Truncated data: opens, fails the read, goes read-only, marks the image corrupt. */
    fresh_copy();
    CHECK_EQ(truncate(damaged(), data + 65536), 0);
    d = open_disk(damaged(), 0);
    CHECK(d != NULL);
    if (d) {
        uint8_t *buf = malloc(3 * MiB);
        CHECK_EQ(vmm_disk_pread(d, buf, 3 * MiB, 0), -EIO);
        CHECK(vmm_disk_is_read_only(d));
        struct vmm_disk_info info;
        vmm_disk_get_info(d, &info);
        CHECK(strstr(info.error, "damaged") != NULL);
        CHECK_EQ(vmm_disk_pwrite(d, buf, 512, 0), -EROFS);
        CHECK_EQ(vmm_disk_pread(d, buf, 65536, 0), 0); /* what is intact still reads */
        CHECK(!memcmp(buf, shadow, 65536));
        vmm_disk_close(d);
        free(buf);
    }
    expect_refused("corrupt bit set by us", "marked corrupt");

    /* Bad pointers found during I/O. */
    struct {
        const char *what;
        uint64_t off;
        uint64_t val;
        bool on_write;
    } io_cases[] = {
        {"L1 entry onto the refcount table", l1, 0x8000000000000000ull | rt, false},
        {"L1 entry past the end", l1, 0x8000000000000000ull | (1ull << 40), false},
        {"L1 entry unaligned", l1, 0x8000000000000000ull | (l2 + 512), false},
        {"L2 entry unaligned", l2, 0x8000000000000000ull | (data + 4096), false},
        {"L2 entry into the header", l2, 0x8000000000000000ull | 512, false},
        {"L2 entry past the end", l2, 0x8000000000000000ull | (1ull << 39), false},
        {"compressed entry past the end", l2, (1ull << 62) | (1ull << 38), false},
        {"refcount block past the end", rt, 1ull << 40, true},
        {"refcount block unaligned", rt, 4096 + 17, true},
        {"L2 entry onto the L1 table", l2 + 8 * 60, 0x8000000000000000ull | l1, true},
    };
    for (size_t i = 0; i < sizeof(io_cases) / sizeof(io_cases[0]); i++) {
        fresh_copy();
        file_put(damaged(), io_cases[i].off, 8, io_cases[i].val);
        d = open_disk(damaged(), 0);
        CHECK(d != NULL);
        if (!d)
            continue;
        uint8_t *buf = malloc(4 * MiB);
        int r;
        if (io_cases[i].on_write) {
            fill_pattern(buf, 4 * MiB, 99);
            r = vmm_disk_pwrite(d, buf, 4 * MiB, 0);
        } else {
            r = vmm_disk_pread(d, buf, 3 * MiB, 0);
        }
        if (r != -EIO)
            fprintf(stderr, "%s: got %d\n", io_cases[i].what, r);
        CHECK_EQ(r, -EIO);
        CHECK(vmm_disk_is_read_only(d));
        vmm_disk_close(d);
        free(buf);
        /* The metadata we protected is intact: the L1 table still reads. */
        CHECK_EQ(file_get(damaged(), l1 + 8, 8), file_get(g, l1 + 8, 8));
    }
    free(shadow);
}

/* Random damage to the metadata: nothing may crash, abort or hang. */
static void test_fuzz_metadata(void)
{
    const char *g = tpath("good.qcow2");
    uint64_t l1 = file_get(g, 40, 8), rt = file_get(g, 48, 8);
    uint64_t l2 = file_get(g, l1, 8) & 0x00fffffffffffe00ull;
    uint64_t rb = file_get(g, rt, 8);
    uint64_t regions[][2] = {{0, 512}, {l1, 64}, {rt, 64}, {l2, 512}, {rb, 256}};
    uint64_t s = 12345;

    vmm_log_set_level(-1); /* each damaged image logs a line; not wanted 100 times */
    for (int iter = 0; iter < 100; iter++) {
        fresh_copy();
        int flips = 1 + (int)(rng_next(&s) % 4);
        for (int f = 0; f < flips; f++) {
            uint64_t *reg = regions[rng_next(&s) % 5];
            uint64_t off = reg[0] + rng_next(&s) % reg[1];
            uint8_t v = (uint8_t)rng_next(&s);
            file_write(damaged(), off, &v, 1);
        }
        exercise(iter & 1 ? VMM_DISK_RDONLY : 0);
    }
    vmm_log_set_level(1); /* warnings, the default */
    CHECK(1);
}

/* ---- concurrency and crashes ---- */

struct thread_arg {
    struct vmm_disk *d;
    uint8_t *shadow;
    uint64_t base;
    int id;
    int failures;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    uint8_t *buf = malloc(70000);
    uint64_t s = (uint64_t)a->id + 1;
    for (int i = 0; i < 150; i++) {
        size_t len = 1 + rng_next(&s) % 70000;
        uint64_t off = a->base + rng_next(&s) % (2 * MiB - len);
        fill_pattern(buf, len, s);
        if (vmm_disk_pwrite(a->d, buf, len, off) < 0)
            a->failures++;
        memcpy(a->shadow + off, buf, len);
        if (vmm_disk_pread(a->d, buf, len, off) < 0 || memcmp(buf, a->shadow + off, len))
            a->failures++;
        if (i % 50 == 0 && vmm_disk_flush(a->d) < 0)
            a->failures++;
    }
    free(buf);
    return NULL;
}

static void test_threads(void)
{
    const uint64_t size = 8 * MiB;
    uint8_t *shadow = calloc(1, size);
    create_qcow2(tpath("threads.qcow2"), size, 12, NULL, NULL);
    struct vmm_disk *d = open_disk(tpath("threads.qcow2"), 0);
    CHECK(d != NULL);
    if (!d)
        return;
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){d, shadow, (uint64_t)i * 2 * MiB, i, 0};
        pthread_create(&th[i], NULL, thread_main, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].failures, 0);
    }
    CHECK(disk_matches(d, shadow, size));
    expect_image_clean(d, 0);
    vmm_disk_close(d);
    free(shadow);
}

/*
 * A writer killed at a random moment: the image must open and check with no
 * errors (leaked clusters are allowed). Every pwrite reaches the page cache in
 * program order, so this exercises the ordering of our writes.
 */
static void test_crash_consistency(void)
{
    const uint64_t size = 32 * MiB;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t s = (uint64_t)t0.tv_nsec | 1;

    for (int round = 0; round < 6; round++) {
        const char *p = tpath("crash.qcow2");
        create_qcow2(p, size, round & 1 ? 12 : 9, NULL, NULL);
        if (round >= 4) {
            /* Later rounds start from written data; even ones also from a snapshot of it. */
            if (!(round & 1))
                create_qcow2(p, size, 16, NULL, NULL);
            struct vmm_disk *d = open_disk(p, 0);
            uint8_t *buf = malloc(MiB);
            fill_pattern(buf, MiB, 5);
            for (uint64_t off = 0; d && off < 4 * MiB; off += MiB)
                CHECK_EQ(vmm_disk_pwrite(d, buf, MiB, off), 0);
            vmm_disk_close(d);
            free(buf);
            if (!(round & 1)) {
                uint64_t snap;
                craft_snapshot(p, &snap);
            }
        }
        pid_t pid = fork();
        if (pid == 0) {
            struct vmm_disk *d = vmm_disk_open(p, 0, NULL);
            uint8_t *buf = malloc(300000);
            uint64_t cs = (uint64_t)round * 1000003 + 7;
            if (!d)
                _exit(2);
            for (;;) {
                size_t len = 1 + rng_next(&cs) % 300000;
                uint64_t off = rng_next(&cs) % (size - len);
                fill_pattern(buf, len, cs);
                switch (rng_next(&cs) % 8) {
                case 0:
                    IGNORE(vmm_disk_discard(d, off, len));
                    break;
                case 1:
                    IGNORE(vmm_disk_write_zeroes(d, off, len, (unsigned)(cs & 1)));
                    break;
                case 2:
                    IGNORE(vmm_disk_flush(d));
                    break;
                default:
                    IGNORE(vmm_disk_pwrite(d, buf, len, off));
                }
            }
        }
        struct timespec nap = {0, (long)(5000000 + rng_next(&s) % 60000000)};
        nanosleep(&nap, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status));

        struct vmm_disk *d = open_disk(p, 0);
        CHECK(d != NULL);
        if (!d)
            continue;
        struct vmm_qcow2_check res;
        CHECK_EQ(vmm_qcow2_check(d, &res), 0);
        if (res.errors)
            fprintf(stderr, "crash round %d: %llu errors: %s\n", round,
                    (unsigned long long)res.errors, res.first_error);
        CHECK_EQ(res.errors, 0);
        /* Still usable after the crash. */
        uint8_t *buf = malloc(MiB);
        fill_pattern(buf, MiB, 77);
        CHECK_EQ(vmm_disk_pwrite(d, buf, MiB, 5 * MiB), 0);
        uint8_t *back = malloc(MiB);
        CHECK_EQ(vmm_disk_pread(d, back, MiB, 5 * MiB), 0);
        CHECK(!memcmp(buf, back, MiB));
        vmm_disk_close(d);
        free(buf);
        free(back);
    }
}

int main(void)
{
    tmpdir_create("test-qcow2");
    RUN_TEST(test_raw);
    RUN_TEST(test_create_and_probe);
    RUN_TEST(test_qcow2_vectored);
    RUN_TEST(test_alloc_4k);
    RUN_TEST(test_alloc_512_refcount_growth);
    RUN_TEST(test_overwrite_in_place);
    RUN_TEST(test_cow_shared_clusters);
    RUN_TEST(test_backing_chain);
    RUN_TEST(test_zero_clusters);
    RUN_TEST(test_discard);
    RUN_TEST(test_malformed);
    RUN_TEST(test_fuzz_metadata);
    RUN_TEST(test_threads);
    RUN_TEST(test_crash_consistency);
    return tmpdir_finish();
}
