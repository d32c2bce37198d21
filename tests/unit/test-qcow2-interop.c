/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 against the reference implementation: images made by qemu-img and
 * written by us, and images made and written by us, must read identically
 * through `qemu-img convert -O raw`, and `qemu-img check` must find neither
 * errors nor leaks. Skips (exit 77) when qemu-img is not installed.
 */
#include <stdarg.h>
#include <sys/wait.h>

#include "test-qcow2-util.h"

#define MiB (1024ull * 1024)

static const char *qemu_img = "qemu-img";
static const char *qemu_io = "qemu-io";
static bool have_qemu_io;

/* Runs a shell command; returns its exit status, with its output in out. */
static int sh(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int sh(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t n = 0;
    char tmp[4096];
    size_t got;
    while ((got = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (out && n + 1 < outlen) {
            size_t take = got < outlen - 1 - n ? got : outlen - 1 - n;
            memcpy(out + n, tmp, take);
            n += take;
        }
    }
    if (out)
        out[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void run_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void run_ok(const char *fmt, ...)
{
    char cmd[2048], out[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int r = sh(out, sizeof(out), "%s", cmd);
    if (r != 0)
        fprintf(stderr, "`%s` exited %d:\n%s\n", cmd, r, out);
    CHECK_EQ(r, 0);
}

/* qemu-img check: exit status 0 means no corruptions and no leaks. */
static void qemu_check_clean(const char *path)
{
    char out[8192];
    int r = sh(out, sizeof(out), "%s check -f qcow2 '%s'", qemu_img, path);
    if (r != 0)
        fprintf(stderr, "qemu-img check %s exited %d:\n%s\n", path, r, out);
    CHECK_EQ(r, 0);
}

/* Flattens the image (and its backing chain) with qemu-img and compares with shadow. */
static void qemu_reads_same(const char *path, const uint8_t *shadow, uint64_t size,
                            const char *extra)
{
    const char *raw = tpath("converted.raw");
    unlink(raw);
    run_ok("%s convert %s -O raw '%s' '%s'", qemu_img, extra ? extra : "", path, raw);
    CHECK(file_matches(raw, shadow, size));
    unlink(raw);
}

/*
 * Writes, overwrites, discards and zeroes through our code, mirroring the
 * effect into shadow. Discard may leave old data or zeros: shadow takes what we
 * read back, and qemu-img later has to agree with it.
 */
static void workload(struct vmm_disk *d, uint8_t *shadow, uint64_t size, uint64_t seed, int nops,
                     size_t maxlen)
{
    uint64_t s = seed | 1;
    for (int i = 0; i < nops; i++) {
        size_t len = 1 + rng_next(&s) % maxlen;
        if (len > size / 2)
            len = (size_t)(size / 2);
        uint64_t off = rng_next(&s) % (size - len);
        unsigned op = (unsigned)(rng_next(&s) % 10);
        if (op < 6) {
            write_both(d, shadow, off, len, s);
        } else if (op < 8) {
            unsigned fl = (unsigned)(rng_next(&s) & 1) ? VMM_DISK_ZEROES_UNMAP : 0;
            CHECK_EQ(vmm_disk_write_zeroes(d, off, len, fl), 0);
            memset(shadow + off, 0, len);
        } else if (op < 9) {
            CHECK_EQ(vmm_disk_discard(d, off, len), 0);
            CHECK_EQ(vmm_disk_pread(d, shadow + off, len, off), 0);
        } else {
            CHECK_EQ(vmm_disk_flush(d), 0);
        }
    }
    CHECK(disk_matches(d, shadow, size));
}

/* Opens, runs the workload, closes, and lets qemu-img judge the result. */
static void workout(const char *path, uint8_t *shadow, uint64_t size, uint64_t seed, int nops,
                    size_t maxlen)
{
    struct vmm_disk *d = open_disk(path, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK_EQ(vmm_disk_size(d), size);
    CHECK(disk_matches(d, shadow, size));
    workload(d, shadow, size, seed, nops, maxlen);
    vmm_disk_close(d);
    qemu_check_clean(path);
    qemu_reads_same(path, shadow, size, NULL);
}

static void test_qemu_created(void)
{
    static const struct {
        const char *opts;
        uint64_t size;
        int nops;
        size_t maxlen;
    } cases[] = {
        {"cluster_size=65536", 64 * MiB, 80, 400000},
        {"cluster_size=4096", 16 * MiB, 80, 200000},
        {"cluster_size=512", 12 * MiB, 60, 150000}, /* refcount blocks and table grow */
        {"cluster_size=2097152", 16 * MiB, 30, 3000000},
        {"compat=0.10", 16 * MiB, 60, 200000},
        {"refcount_bits=1", 8 * MiB, 40, 200000},
        {"refcount_bits=2,cluster_size=4096", 8 * MiB, 40, 200000},
        {"refcount_bits=8", 8 * MiB, 40, 200000},
        {"refcount_bits=32", 8 * MiB, 40, 200000},
        {"refcount_bits=64,cluster_size=8192", 8 * MiB, 40, 200000},
        {"lazy_refcounts=on", 8 * MiB, 40, 200000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *p = tpath("qemu.qcow2");
        uint8_t *shadow = calloc(1, cases[i].size);
        unlink(p);
        run_ok("%s create -f qcow2 -o %s '%s' %llu", qemu_img, cases[i].opts, p,
               (unsigned long long)cases[i].size);
        workout(p, shadow, cases[i].size, 1000 + i, cases[i].nops, cases[i].maxlen);
        /* A second session on the same image, after qemu-img has looked at it. */
        if (i < 3)
            workout(p, shadow, cases[i].size, 2000 + i, cases[i].nops / 2, cases[i].maxlen);
        free(shadow);
    }
}

static void test_qemu_backing_chains(void)
{
    const uint64_t base_size = 20 * MiB, size = 24 * MiB;
    uint8_t *shadow = calloc(1, size);
    fill_pattern(shadow, base_size, 7);
    create_raw(tpath("qbase.raw"), shadow, base_size);

    /* qcow2 over raw, larger than its backing file. */
    run_ok("cd '%s' && %s create -f qcow2 -b qbase.raw -F raw mid.qcow2 %llu", tmpdir, qemu_img,
           (unsigned long long)size);
    run_ok("%s -f qcow2 -c 'write -P 0x11 1M 100k' -c 'write -P 0x22 21M 64k' '%s'", qemu_io,
           tpath("mid.qcow2"));
    memset(shadow + 1 * MiB, 0x11, 100 * 1024);
    memset(shadow + 21 * MiB, 0x22, 64 * 1024);
    workout(tpath("mid.qcow2"), shadow, size, 31, 60, 300000);

    /* qcow2 (4 KiB clusters) over qcow2 over raw. */
    run_ok("cd '%s' && %s create -f qcow2 -o cluster_size=4096 -b mid.qcow2 -F qcow2 top.qcow2",
           tmpdir, qemu_img);
    workout(tpath("top.qcow2"), shadow, size, 32, 80, 300000);

    /* And a chain made by us, read by qemu-img. */
    create_qcow2(tpath("ours.qcow2"), 0, 16, "top.qcow2", "qcow2");
    run_ok("%s info '%s'", qemu_img, tpath("ours.qcow2"));
    workout(tpath("ours.qcow2"), shadow, size, 33, 60, 300000);
    free(shadow);
}

static void test_our_images(void)
{
    static const unsigned cbits[] = {16, 12, 9, 21};
    for (size_t i = 0; i < sizeof(cbits) / sizeof(cbits[0]); i++) {
        const char *p = tpath("ours.qcow2");
        const uint64_t size = cbits[i] == 16 ? 32 * MiB : 12 * MiB;
        uint8_t *shadow = calloc(1, size);
        char out[8192], want[64];
        create_qcow2(p, size, cbits[i], NULL, NULL);
        qemu_check_clean(p);
        CHECK_EQ(sh(out, sizeof(out), "%s info --output=json '%s'", qemu_img, p), 0);
        CHECK(strstr(out, "\"format\": \"qcow2\"") != NULL);
        snprintf(want, sizeof(want), "\"virtual-size\": %llu", (unsigned long long)size);
        CHECK(strstr(out, want) != NULL);
        snprintf(want, sizeof(want), "\"cluster-size\": %u", 1u << cbits[i]);
        CHECK(strstr(out, want) != NULL);
        workout(p, shadow, size, 40 + i, 60, cbits[i] == 9 ? 150000 : 400000);
        free(shadow);
    }

    /* With a raw backing file named relatively. */
    const uint64_t size = 16 * MiB;
    uint8_t *shadow = calloc(1, size);
    fill_pattern(shadow, size, 9);
    create_raw(tpath("ourbase.raw"), shadow, size);
    create_qcow2(tpath("ourtop.qcow2"), size, 16, "ourbase.raw", "raw");
    char out[8192];
    CHECK_EQ(sh(out, sizeof(out), "%s info --output=json '%s'", qemu_img, tpath("ourtop.qcow2")),
             0);
    CHECK(strstr(out, "\"backing-filename\": \"ourbase.raw\"") != NULL);
    CHECK(strstr(out, "\"backing-filename-format\": \"raw\"") != NULL);
    workout(tpath("ourtop.qcow2"), shadow, size, 50, 80, 300000);
    free(shadow);
}

static void compressed_case(const char *opts, uint64_t seed)
{
    const uint64_t size = 8 * MiB;
    uint8_t *shadow = malloc(size);
    /* Mixed content: text-like (compresses well), random (does not), zeros. */
    fill_pattern(shadow, size, seed);
    for (uint64_t off = 0; off < size; off += 3 * 65536) {
        for (uint64_t i = 0; i < 65536 && off + i < size; i++)
            shadow[off + i] = (uint8_t)("terrarium qcow2 compressed "[i % 27]);
        if (off + 2 * 65536 <= size)
            memset(shadow + off + 65536, 0, 65536);
    }
    create_raw(tpath("plain.raw"), shadow, size);
    unlink(tpath("comp.qcow2"));
    run_ok("%s convert -c -O qcow2 %s '%s' '%s'", qemu_img, opts, tpath("plain.raw"),
           tpath("comp.qcow2"));
    /* It really is compressed (2 MiB clusters carry too much metadata to tell). */
    if (!strstr(opts, "2097152"))
        CHECK(file_size(tpath("comp.qcow2")) < size / 2 + size / 4);

    struct vmm_disk *d = open_disk(tpath("comp.qcow2"), VMM_DISK_RDONLY);
    CHECK(d != NULL);
    if (d) {
        struct vmm_disk_info info;
        vmm_disk_get_info(d, &info);
        CHECK(!strcmp(info.compression, strstr(opts, "zstd") ? "zstd" : "zlib"));
        CHECK(disk_matches(d, shadow, size));
        vmm_disk_close(d);
    }
    /* Writing into compressed clusters: decompress, merge, free the compressed space. */
    workout(tpath("comp.qcow2"), shadow, size, seed + 1, 80, 200000);
    free(shadow);
}

static void test_compressed(void)
{
    compressed_case("-o cluster_size=65536", 61);
    compressed_case("-o cluster_size=4096", 62);
    compressed_case("-o cluster_size=2097152", 65);
    compressed_case("-o compression_type=zstd", 63);
    compressed_case("-o compression_type=zstd,cluster_size=8192", 64);
}

static void test_snapshot_cow(void)
{
    const char *p = tpath("snap.qcow2");
    const uint64_t size = 16 * MiB;
    uint8_t *shadow = calloc(1, size), *before = malloc(size);

    create_qcow2(p, size, 16, NULL, NULL);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    write_both(d, shadow, 0, 6 * MiB, 71);
    vmm_disk_close(d);
    memcpy(before, shadow, size);
    run_ok("%s snapshot -c s1 '%s'", qemu_img, p);

    d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    struct vmm_disk_info info;
    vmm_disk_get_info(d, &info);
    CHECK_EQ(info.nb_snapshots, 1);
    struct vmm_qcow2_check res;
    CHECK_EQ(vmm_qcow2_check(d, &res), 0);
    CHECK_EQ(res.errors, 0);
    CHECK_EQ(res.leaks, 0);
    workload(d, shadow, size, 72, 100, 300000);
    CHECK_EQ(vmm_qcow2_check(d, &res), 0);
    CHECK_EQ(res.errors, 0);
    CHECK_EQ(res.leaks, 0);
    vmm_disk_close(d);
    qemu_check_clean(p);
    qemu_reads_same(p, shadow, size, NULL);
    qemu_reads_same(p, before, size, "-l snapshot.name=s1");

    /* A second snapshot over the first, then more writes. */
    memcpy(before, shadow, size);
    run_ok("%s snapshot -c s2 '%s'", qemu_img, p);
    workout(p, shadow, size, 73, 60, 300000);
    qemu_reads_same(p, before, size, "-l snapshot.name=s2");
    free(shadow);
    free(before);
}

static void test_zero_clusters_qemu_io(void)
{
    const uint64_t size = 8 * MiB;
    uint8_t *shadow = malloc(size);
    fill_pattern(shadow, size, 81);
    create_raw(tpath("zb.raw"), shadow, size);
    unlink(tpath("z.qcow2"));
    run_ok("cd '%s' && %s create -f qcow2 -b zb.raw -F raw z.qcow2", tmpdir, qemu_img);
    run_ok("%s -f qcow2 -c 'write -P 0x33 0 1M' -c 'write -z 64k 128k' -c 'write -z -u 512k 256k' "
           "-c 'write -z 3M 192k' '%s'",
           qemu_io, tpath("z.qcow2"));
    memset(shadow, 0x33, 1 * MiB);
    memset(shadow + 64 * 1024, 0, 128 * 1024);
    memset(shadow + 512 * 1024, 0, 256 * 1024);
    memset(shadow + 3 * MiB, 0, 192 * 1024); /* over backing data, never written */
    workout(tpath("z.qcow2"), shadow, size, 82, 60, 200000);
    free(shadow);
}

static void test_refusals(void)
{
    struct vmm_error err = {0};
    char p[256];
    snprintf(p, sizeof(p), "%s", tpath("refuse.qcow2"));

    unlink(p);
    run_ok("%s create -f qcow2 -o extended_l2=on '%s' 16M", qemu_img, p);
    CHECK(vmm_disk_open(p, 0, &err) == NULL);
    CHECK(strstr(err.msg, "extended L2") != NULL);

    if (have_qemu_io) {
        /* A crash under lazy refcounts leaves the dirty bit. */
        unlink(p);
        run_ok("%s create -f qcow2 -o lazy_refcounts=on '%s' 16M", qemu_img, p);
        sh(NULL, 0, "ulimit -c 0; %s -f qcow2 -c 'write -P 0x55 0 128k' -c abort '%s'", qemu_io, p);
        CHECK(file_get(p, 72, 8) & 1);
        CHECK(vmm_disk_open(p, 0, &err) == NULL);
        CHECK(strstr(err.msg, "not closed cleanly") != NULL);
        struct vmm_disk *d = open_disk(p, VMM_DISK_RDONLY);
        CHECK(d != NULL);
        if (d) {
            uint8_t buf[4096], want[4096];
            memset(want, 0x55, sizeof(want));
            CHECK_EQ(vmm_disk_pread(d, buf, sizeof(buf), 124 * 1024), 0);
            CHECK(!memcmp(buf, want, sizeof(want)));
            vmm_disk_close(d);
        }
    }
}

int main(void)
{
    char out[512];

    if (getenv("QEMU_IMG") && getenv("QEMU_IMG")[0])
        qemu_img = getenv("QEMU_IMG");
    if (getenv("QEMU_IO") && getenv("QEMU_IO")[0])
        qemu_io = getenv("QEMU_IO");
    if (sh(out, sizeof(out), "%s --version", qemu_img) != 0)
        TEST_SKIP("qemu-img not found (install qemu-utils)");
    have_qemu_io = sh(out, sizeof(out), "%s --version", qemu_io) == 0;
    if (!have_qemu_io)
        TEST_SKIP("qemu-io not found (install qemu-utils)");
    tmpdir_create("test-qcow2-interop");
    RUN_TEST(test_our_images);
    RUN_TEST(test_qemu_created);
    RUN_TEST(test_qemu_backing_chains);
    RUN_TEST(test_compressed);
    RUN_TEST(test_snapshot_cow);
    RUN_TEST(test_zero_clusters_qemu_io);
    RUN_TEST(test_refusals);
    if (!test_failures)
        tmpdir_remove();
    else
        fprintf(stderr, "scratch files kept in %s\n", tmpdir);
    return test_finish();
}
