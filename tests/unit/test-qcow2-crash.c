/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Power-loss states of a qcow2 image. Every pwrite and fdatasync of a
 * workload is recorded (the test links with --wrap for them); a crash state
 * is then: everything written before some barrier, plus any subset of the
 * 512-byte sectors written after it, up to a cut point. Each such state must
 * open and check with no errors: a crash may leak clusters, never corrupt.
 */
#include <stdarg.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "test-qcow2-util.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)

ssize_t __real_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t __real_pwritev(int fd, const struct iovec *iov, int n, off_t off);
ssize_t __real_pwritev64(int fd, const struct iovec *iov, int n, off_t off);
ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int n, off_t off);
ssize_t __wrap_pwritev64(int fd, const struct iovec *iov, int n, off_t off);
ssize_t __real_pwrite64(int fd, const void *buf, size_t len, off_t off);
int __real_fdatasync(int fd);
int __real_fsync(int fd);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t len, off_t off);
int __wrap_fdatasync(int fd);
int __wrap_fsync(int fd);

struct rec {
    uint64_t off; /* UINT64_MAX: a barrier */
    uint32_t len;
    uint8_t *data;
};

static bool recording;
static struct rec *recs;
static size_t nrecs, caprecs;

static void record(uint64_t off, const void *buf, size_t len)
{
    if (nrecs == caprecs) {
        caprecs = caprecs ? caprecs * 2 : 1024;
        recs = realloc(recs, caprecs * sizeof(*recs));
    }
    struct rec *r = &recs[nrecs++];
    r->off = off;
    r->len = (uint32_t)len;
    r->data = NULL;
    if (buf) {
        r->data = malloc(len);
        memcpy(r->data, buf, len);
    }
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    ssize_t n = __real_pwrite(fd, buf, len, off);
    if (recording && n > 0)
        record((uint64_t)off, buf, (size_t)n);
    return n;
}

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    ssize_t n = __real_pwrite64(fd, buf, len, off);
    if (recording && n > 0)
        record((uint64_t)off, buf, (size_t)n);
    return n;
}

/* Guest data goes out with pwritev: one record per vector element (what was written of it). */
static void record_vec(uint64_t off, const struct iovec *iov, int n, ssize_t done)
{
    for (int i = 0; i < n && done > 0; i++) {
        size_t k = iov[i].iov_len < (size_t)done ? iov[i].iov_len : (size_t)done;
        if (k)
            record(off, iov[i].iov_base, k);
        off += k;
        done -= (ssize_t)k;
    }
}

ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    ssize_t done = __real_pwritev(fd, iov, n, off);
    if (recording)
        record_vec((uint64_t)off, iov, n, done);
    return done;
}

ssize_t __wrap_pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
    ssize_t done = __real_pwritev64(fd, iov, n, off);
    if (recording)
        record_vec((uint64_t)off, iov, n, done);
    return done;
}

int __wrap_fdatasync(int fd)
{
    if (recording)
        record(UINT64_MAX, NULL, 0);
    return __real_fdatasync(fd);
}

int __wrap_fsync(int fd)
{
    if (recording)
        record(UINT64_MAX, NULL, 0);
    return __real_fsync(fd);
}

static void clear_records(void)
{
    for (size_t i = 0; i < nrecs; i++)
        free(recs[i].data);
    nrecs = 0;
}

static uint8_t *slurp(const char *path, uint64_t *len)
{
    *len = file_size(path);
    uint8_t *b = malloc(*len + 1);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(fread(b, 1, *len, f), *len);
        fclose(f);
    }
    return b;
}

static void apply(uint8_t **img, uint64_t *len, uint64_t off, const uint8_t *data, uint64_t n)
{
    if (off + n > *len) {
        *img = realloc(*img, off + n);
        memset(*img + *len, 0, off + n - *len);
        *len = off + n;
    }
    memcpy(*img + off, data, n);
}

/* Builds one crash state from the base image and the records, and checks it. */
static bool crash_state_ok(const uint8_t *base, uint64_t base_len, size_t cut, uint64_t *s,
                           const char *what)
{
    size_t last_barrier = 0;
    for (size_t i = 0; i < cut; i++)
        if (recs[i].off == UINT64_MAX)
            last_barrier = i + 1;

    uint64_t len = base_len;
    uint8_t *img = malloc(len);
    memcpy(img, base, len);
    for (size_t i = 0; i < cut; i++) {
        const struct rec *r = &recs[i];
        if (r->off == UINT64_MAX)
            continue;
        if (i < last_barrier) {
            apply(&img, &len, r->off, r->data, r->len);
            continue;
        }
        /* After the last barrier: each sector independently made it or not. */
        for (uint64_t o = r->off; o < r->off + r->len;) {
            uint64_t end = (o / 512 + 1) * 512;
            if (end > r->off + r->len)
                end = r->off + r->len;
            if (rng_next(s) & 1)
                apply(&img, &len, o, r->data + (o - r->off), end - o);
            o = end;
        }
    }
    const char *p = tpath("state.qcow2");
    unlink(p);
    create_raw(p, img, len);
    free(img);

    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(p, VMM_DISK_FORMAT_QCOW2, &err);
    if (!d) {
        fprintf(stderr, "%s: crash state at record %zu does not open: %s\n", what, cut, err.msg);
        return false;
    }
    struct vmm_qcow2_check res;
    int r = vmm_qcow2_check(d, &res);
    bool ok = r == 0 && res.errors == 0;
    if (!ok)
        fprintf(stderr,
                "%s: crash state at record %zu (barrier at %zu): check %d, %llu errors: %s\n", what,
                cut, last_barrier, r, (unsigned long long)res.errors, res.first_error);
    /* The state must stay usable: a write and a read back. */
    uint8_t buf[4096], back[4096];
    fill_pattern(buf, sizeof(buf), cut);
    if (ok && (vmm_disk_pwrite(d, buf, sizeof(buf), 0) < 0 ||
               vmm_disk_pread(d, back, sizeof(back), 0) < 0 || memcmp(buf, back, sizeof(buf)))) {
        fprintf(stderr, "%s: crash state at record %zu is not usable\n", what, cut);
        ok = false;
    }
    vmm_disk_close(d);
    return ok;
}

static void workload(struct vmm_disk *d, uint64_t size, uint64_t seed, int nops, size_t maxlen)
{
    uint64_t s = seed | 1;
    uint8_t *buf = malloc(maxlen);
    for (int i = 0; i < nops; i++) {
        size_t len = 1 + rng_next(&s) % maxlen;
        uint64_t off = rng_next(&s) % (size - len);
        unsigned op = (unsigned)(rng_next(&s) % 10);
        int r;
        if (op < 6) {
            fill_pattern(buf, len, s);
            r = vmm_disk_pwrite(d, buf, len, off);
        } else if (op < 7) {
            r = vmm_disk_write_zeroes(d, off, len, (unsigned)(s & 1));
        } else if (op < 8) {
            r = vmm_disk_discard(d, off, len);
        } else {
            r = vmm_disk_flush(d);
        }
        CHECK_EQ(r, 0);
    }
    free(buf);
}

/* Records a workload on the image at path and checks crash states drawn from it. */
static void crash_states(const char *path, uint64_t seed, int nops, size_t maxlen, int nstates,
                         const char *what)
{
    uint64_t base_len;
    uint8_t *base = slurp(path, &base_len);
    struct vmm_disk *d = open_disk(path, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    uint64_t size = vmm_disk_size(d);
    clear_records();
    recording = true;
    workload(d, size, seed, nops, maxlen);
    vmm_disk_close(d);
    recording = false;

    size_t barriers = 0;
    for (size_t i = 0; i < nrecs; i++)
        barriers += recs[i].off == UINT64_MAX;
    CHECK(barriers > 3);
    uint64_t s = seed * 31 + 7;
    int bad = 0;
    for (int k = 0; k < nstates && bad < 3; k++) {
        size_t cut = k == 0 ? nrecs : 1 + (size_t)(rng_next(&s) % nrecs);
        if (!crash_state_ok(base, base_len, cut, &s, what))
            bad++;
    }
    CHECK_EQ(bad, 0);
    free(base);
}

/* Shares every allocated cluster with a hand-made snapshot (see test-qcow2.c). */
static void share_with_snapshot(const char *p)
{
    const uint64_t cs = 65536, E = cs / 2;
    uint32_t l1_size = (uint32_t)file_get(p, 36, 4);
    uint64_t l1_off = file_get(p, 40, 8), rt_off = file_get(p, 48, 8);
    uint64_t end = (file_size(p) + cs - 1) & ~(cs - 1);
    uint8_t *l1 = calloc(1, cs), *l2 = malloc(cs), *tbl = calloc(1, cs);
    int fd = open(p, O_RDWR);

#define INC(off)                                                                   \
    do {                                                                           \
        uint8_t rb__[2];                                                           \
        uint64_t c__ = (off) / cs, blk__ = file_get(p, rt_off + (c__ / E) * 8, 8); \
        CHECK_EQ(pread(fd, rb__, 2, blk__ + (c__ % E) * 2), 2);                    \
        be_put(rb__, 2, be_get(rb__, 2) + 1);                                      \
        CHECK_EQ(__real_pwrite64(fd, rb__, 2, blk__ + (c__ % E) * 2), 2);          \
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
        CHECK_EQ(__real_pwrite64(fd, l2, cs, l2off), cs);
    }
    CHECK_EQ(__real_pwrite64(fd, l1, l1_size * 8, l1_off), l1_size * 8);
    CHECK_EQ(__real_pwrite64(fd, l1, cs, end), cs);
    INC(end);
    INC(end + cs);
    be_put(tbl, 8, end);
    be_put(tbl + 8, 4, l1_size);
    be_put(tbl + 12, 2, 1);
    be_put(tbl + 14, 2, 1);
    be_put(tbl + 36, 4, 16);
    be_put(tbl + 48, 8, file_get(p, 24, 8));
    memcpy(tbl + 56, "1s", 2);
    CHECK_EQ(__real_pwrite64(fd, tbl, cs, end + cs), cs);
    uint8_t hdr[12];
    be_put(hdr, 4, 1);
    be_put(hdr + 4, 8, end + cs);
    CHECK_EQ(__real_pwrite64(fd, hdr, 12, 60), 12);
#undef INC
    close(fd);
    free(l1);
    free(l2);
    free(tbl);
}

static void prefill(const char *p, uint64_t len)
{
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    uint8_t *buf = malloc(len);
    fill_pattern(buf, len, 3);
    CHECK_EQ(vmm_disk_pwrite(d, buf, len, 0), 0);
    vmm_disk_close(d);
    free(buf);
}

static void test_crash_4k(void)
{
    const char *p = tpath("c4k.qcow2");
    create_qcow2(p, 4 * MiB, 12, NULL, NULL);
    prefill(p, 1 * MiB);
    crash_states(p, 1, 60, 96 * KiB, 120, "4 KiB clusters");
}

static void test_crash_512_growth(void)
{
    /* 512-byte clusters: refcount blocks are created and the refcount table grows. */
    const char *p = tpath("c512.qcow2");
    create_qcow2(p, 12 * MiB, 9, NULL, NULL);
    prefill(p, 7 * MiB + 512 * KiB);
    uint64_t rt = file_get(p, 48, 8);
    crash_states(p, 2, 40, 256 * KiB, 50, "512-byte clusters");
    CHECK(file_get(p, 48, 8) != rt); /* the table did move during the recorded work */
}

static void test_crash_cow(void)
{
    /* Every cluster shared with a snapshot: writes copy clusters and L2 tables, frees wait. */
    const char *p = tpath("ccow.qcow2");
    create_qcow2(p, 4 * MiB, 16, NULL, NULL);
    prefill(p, 3 * MiB);
    share_with_snapshot(p);
    struct vmm_disk *d = open_disk(p, VMM_DISK_RDONLY);
    struct vmm_qcow2_check res;
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ(vmm_qcow2_check(d, &res), 0);
        CHECK_EQ(res.errors, 0);
        vmm_disk_close(d);
    }
    crash_states(p, 3, 50, 200 * KiB, 120, "shared clusters");
}

static void test_crash_backing(void)
{
    const uint64_t size = 4 * MiB;
    uint8_t *b = malloc(size);
    fill_pattern(b, size, 4);
    create_raw(tpath("cb.raw"), b, size);
    free(b);
    create_qcow2(tpath("cb.qcow2"), size, 16, "cb.raw", "raw");
    crash_states(tpath("cb.qcow2"), 5, 60, 150 * KiB, 100, "backing file");
}

/* Snapshot operations with writes between them: create, create, apply, delete. */
static void snapshot_work(struct vmm_disk *d)
{
    struct vmm_error err = {0};
    uint8_t *buf = malloc(256 * KiB);
    fill_pattern(buf, 256 * KiB, 61);
    CHECK_EQ(vmm_disk_snapshot_create(d, "a", 0, &err), 0);
    CHECK_EQ(vmm_disk_pwrite(d, buf, 100 * KiB, 3000), 0);
    CHECK_EQ(vmm_disk_snapshot_create(d, "b", 0, &err), 0);
    CHECK_EQ(vmm_disk_pwrite(d, buf, 256 * KiB, 1 * MiB + 5000), 0);
    CHECK_EQ(vmm_disk_snapshot_apply(d, "a", &err), 0);
    CHECK_EQ(vmm_disk_pwrite(d, buf + 7, 50 * KiB, 70 * KiB), 0);
    CHECK_EQ(vmm_disk_snapshot_delete(d, "b", &err), 0);
    CHECK_EQ(vmm_disk_snapshot_rename(d, "a", "c", &err), 0);
    free(buf);
}

/*
 * Every cut of the recorded snapshot work (each with its own random subset of
 * the sectors written after the last barrier) must open and check without
 * errors: leaks and unset copied flags only.
 */
static void test_crash_snapshots(void)
{
    const char *p = tpath("csnap.qcow2");
    create_qcow2(p, 2 * MiB, 12, NULL, NULL);
    prefill(p, 1 * MiB + 300 * KiB);
    uint64_t base_len;
    uint8_t *base = slurp(p, &base_len);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    clear_records();
    recording = true;
    snapshot_work(d);
    vmm_disk_close(d);
    recording = false;

    uint64_t s = 77;
    int bad = 0;
    for (size_t cut = 1; cut <= nrecs && bad < 3; cut++)
        if (!crash_state_ok(base, base_len, cut, &s, "snapshots"))
            bad++;
    CHECK_EQ(bad, 0);
    CHECK(nrecs > 20);
    free(base);
}

int main(void)
{
    tmpdir_create("test-qcow2-crash");
    RUN_TEST(test_crash_4k);
    RUN_TEST(test_crash_512_growth);
    RUN_TEST(test_crash_cow);
    RUN_TEST(test_crash_backing);
    RUN_TEST(test_crash_snapshots);
    clear_records();
    free(recs);
    return tmpdir_finish();
}
