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

/* ---- internal snapshots both ways ---- */

static const char *qemu_system = "qemu-system-x86_64";

static int snap_op(const char *path, const char *op, const char *name)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = open_disk(path, 0);
    int r = -EIO;
    if (!d)
        return r;
    if (!strcmp(op, "create"))
        r = vmm_disk_snapshot_create(d, name, 0, &err);
    else if (!strcmp(op, "apply"))
        r = vmm_disk_snapshot_apply(d, name, &err);
    else
        r = vmm_disk_snapshot_delete(d, name, &err);
    if (r < 0)
        fprintf(stderr, "snapshot %s %s: %s\n", op, name, err.msg);
    vmm_disk_close(d);
    return r;
}

/* qemu-img snapshot -l lists exactly these names. */
static void qemu_lists(const char *path, const char *const *names, int n)
{
    char out[8192];
    int r = sh(out, sizeof(out), "%s snapshot -l '%s'", qemu_img, path);
    CHECK_EQ(r, 0);
    for (int i = 0; i < n; i++) {
        char needle[80];
        snprintf(needle, sizeof(needle), " %s ", names[i]);
        const char *at = strstr(out, needle);
        if (!at)
            fprintf(stderr, "qemu-img snapshot -l lacks %s:\n%s\n", names[i], out);
        CHECK(at != NULL);
    }
    int lines = 0;
    for (const char *c = out; *c; c++)
        lines += *c == '\n';
    CHECK_EQ(lines, n ? n + 2 : 0); /* "Snapshot list:", the column titles, one line each */
}

static void write_ours(const char *path, uint8_t *shadow, uint64_t off, size_t len, uint64_t seed)
{
    struct vmm_disk *d = open_disk(path, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    write_both(d, shadow, off, len, seed);
    vmm_disk_close(d);
}

/* Our snapshots, judged after every step by qemu-img check, snapshot -l and convert -l. */
static void test_our_snapshots(void)
{
    char p[256]; /* tpath() reuses its buffers */
    snprintf(p, sizeof(p), "%s", tpath("oursnap.qcow2"));
    const uint64_t size = 16 * MiB;
    enum { MAXS = 5 };
    uint8_t *cur = calloc(1, size), *shadows[MAXS] = {0};
    char names[MAXS][16];
    const char *list[MAXS];
    int have = 0, counter = 0;
    uint64_t s = 91;

    create_qcow2(p, size, 16, NULL, NULL);
    for (int step = 0; step < 30; step++) {
        unsigned op = (unsigned)(rng_next(&s) % 10);
        if (op < 4 || have == 0) {
            size_t len = 1 + rng_next(&s) % (2 * MiB);
            write_ours(p, cur, rng_next(&s) % (size - len), len, s);
        }
        if ((op < 6 || have == 0) && have < MAXS) {
            snprintf(names[have], sizeof(names[have]), "snap-%d", counter++);
            CHECK_EQ(snap_op(p, "create", names[have]), 0);
            shadows[have] = malloc(size);
            memcpy(shadows[have], cur, size);
            have++;
        } else if (op < 8) {
            int k = (int)(rng_next(&s) % (uint64_t)have);
            CHECK_EQ(snap_op(p, "apply", names[k]), 0);
            memcpy(cur, shadows[k], size);
        } else {
            int k = (int)(rng_next(&s) % (uint64_t)have);
            CHECK_EQ(snap_op(p, "delete", names[k]), 0);
            free(shadows[k]);
            shadows[k] = shadows[have - 1];
            memcpy(names[k], names[have - 1], sizeof(names[k]));
            have--;
        }
        qemu_check_clean(p);
        for (int k = 0; k < have; k++)
            list[k] = names[k];
        qemu_lists(p, list, have);
        if (step % 5 == 4) {
            qemu_reads_same(p, cur, size, NULL);
            for (int k = 0; k < have; k++) {
                char opt[128];
                snprintf(opt, sizeof(opt), "-l snapshot.name=%s", names[k]);
                qemu_reads_same(p, shadows[k], size, opt);
            }
        }
    }
    /* QEMU applies ours too. */
    if (have) {
        run_ok("%s snapshot -a %s '%s'", qemu_img, names[0], p);
        struct vmm_disk *d = open_disk(p, VMM_DISK_RDONLY);
        CHECK(d != NULL);
        if (d) {
            CHECK(disk_matches(d, shadows[0], size));
            vmm_disk_close(d);
        }
    }
    for (int k = 0; k < have; k++)
        free(shadows[k]);
    free(cur);
}

/* Snapshots made by qemu-img over data written by qemu-io, applied and deleted by us. */
static void qemu_made_case(unsigned cluster_kib, const char *extra_opts)
{
    char p[256]; /* tpath() reuses its buffers */
    snprintf(p, sizeof(p), "%s", tpath("qsnap.qcow2"));
    const uint64_t size = 8 * MiB;
    uint8_t *cur = calloc(1, size), *s1 = malloc(size), *s2 = malloc(size);

    unlink(p);
    run_ok("%s create -f qcow2 -o cluster_size=%uk%s '%s' 8M", qemu_img, cluster_kib,
           extra_opts ? extra_opts : "", p);
    run_ok("%s -f qcow2 -c 'write -P 0x11 0 3M' -c 'write -P 0x22 5M 1M' '%s'", qemu_io, p);
    memset(cur, 0x11, 3 * MiB);
    memset(cur + 5 * MiB, 0x22, 1 * MiB);
    run_ok("%s snapshot -c q1 '%s'", qemu_img, p);
    memcpy(s1, cur, size);
    run_ok("%s -f qcow2 -c 'write -P 0x33 1M 3M' -c 'write -z 5M 512k' '%s'", qemu_io, p);
    memset(cur + 1 * MiB, 0x33, 3 * MiB);
    memset(cur + 5 * MiB, 0, 512 * 1024);
    run_ok("%s snapshot -c q2 '%s'", qemu_img, p);
    memcpy(s2, cur, size);
    run_ok("%s -f qcow2 -c 'write -P 0x44 0 8M' '%s'", qemu_io, p);
    memset(cur, 0x44, size);

    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    struct vmm_disk_snapshot *l;
    size_t n;
    struct vmm_error err = {0};
    CHECK_EQ(vmm_disk_snapshot_list(d, &l, &n, &err), 0);
    CHECK_EQ(n, 2);
    if (n == 2)
        CHECK(!strcmp(l[0].name, "q1") && !strcmp(l[1].name, "q2") && l[0].disk_size == size);
    vmm_disk_snapshot_list_free(l, n);
    CHECK(disk_matches(d, cur, size));
    CHECK_EQ(vmm_disk_snapshot_apply(d, "q1", &err), 0);
    CHECK(disk_matches(d, s1, size));
    vmm_disk_close(d);
    qemu_check_clean(p);
    qemu_reads_same(p, s1, size, NULL);

    CHECK_EQ(snap_op(p, "delete", "q1"), 0);
    qemu_check_clean(p);
    CHECK_EQ(snap_op(p, "apply", "q2"), 0);
    qemu_check_clean(p);
    qemu_reads_same(p, s2, size, NULL);
    write_ours(p, s2, 2 * MiB + 100, 1 * MiB, 95);
    CHECK_EQ(snap_op(p, "create", "ours"), 0);
    const char *names[] = {"q2", "ours"};
    qemu_lists(p, names, 2);
    qemu_check_clean(p);
    run_ok("%s snapshot -d q2 '%s'", qemu_img, p);
    CHECK_EQ(snap_op(p, "delete", "ours"), 0);
    qemu_check_clean(p);
    qemu_reads_same(p, s2, size, NULL);
    free(cur);
    free(s1);
    free(s2);
}

static void test_qemu_snapshots(void)
{
    qemu_made_case(64, NULL);
    qemu_made_case(4, NULL);
    qemu_made_case(64, ",compat=0.10"); /* v2 */
    qemu_made_case(64, ",refcount_bits=64");
}

/* A snapshot with VM state (savevm in a machine without devices): listed, its disk applied. */
static void test_vm_state_snapshot(void)
{
    char out[4096];
    char p[256]; /* tpath() reuses its buffers */
    snprintf(p, sizeof(p), "%s", tpath("vmstate.qcow2"));
    const uint64_t size = 8 * MiB;

    if (sh(out, sizeof(out), "%s --version", qemu_system) != 0) {
        printf("(no %s: VM state snapshots not covered)\n", qemu_system);
        return;
    }
    unlink(p);
    run_ok("%s create -f qcow2 '%s' 8M", qemu_img, p);
    run_ok("%s -f qcow2 -c 'write -P 0x5a 1M 2M' '%s'", qemu_io, p);
    run_ok("printf 'savevm vm1\\nquit\\n' | timeout 120 %s -machine none -nodefaults -display "
           "none -drive file='%s',if=none,id=d0,format=qcow2 -monitor stdio >/dev/null",
           qemu_system, p);
    run_ok("%s -f qcow2 -c 'write -P 0x6b 0 8M' '%s'", qemu_io, p);

    uint8_t *want = calloc(1, size);
    memset(want + 1 * MiB, 0x5a, 2 * MiB);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    struct vmm_disk_snapshot *l;
    size_t n;
    struct vmm_error err = {0};
    CHECK_EQ(vmm_disk_snapshot_list(d, &l, &n, &err), 0);
    CHECK_EQ(n, 1);
    if (n == 1)
        CHECK(!strcmp(l[0].name, "vm1") && l[0].vm_state_size > 0);
    vmm_disk_snapshot_list_free(l, n);
    CHECK_EQ(vmm_disk_snapshot_apply(d, "vm1", &err), 0);
    CHECK(disk_matches(d, want, size));
    vmm_disk_close(d);
    qemu_check_clean(p);
    qemu_reads_same(p, want, size, NULL);
    CHECK_EQ(snap_op(p, "delete", "vm1"), 0);
    qemu_check_clean(p);
    qemu_reads_same(p, want, size, NULL);
    free(want);
}

int main(void)
{
    char out[512];

    if (getenv("QEMU_IMG") && getenv("QEMU_IMG")[0])
        qemu_img = getenv("QEMU_IMG");
    if (getenv("QEMU_IO") && getenv("QEMU_IO")[0])
        qemu_io = getenv("QEMU_IO");
    if (getenv("QEMU_SYSTEM") && getenv("QEMU_SYSTEM")[0])
        qemu_system = getenv("QEMU_SYSTEM");
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
    RUN_TEST(test_our_snapshots);
    RUN_TEST(test_qemu_snapshots);
    RUN_TEST(test_vm_state_snapshot);
    return tmpdir_finish();
}
