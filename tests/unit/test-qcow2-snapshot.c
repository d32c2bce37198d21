/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 internal snapshots through the public API: create, apply, delete and
 * rename, verified by reading the data back and by our consistency check
 * (no errors, no leaks, copied flags exact) after every step; refusals of
 * bad requests and of damaged snapshot tables. No outside tools.
 */
#include <time.h>

#include "test-qcow2-util.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)

static void expect_clean(struct vmm_disk *d, const char *when)
{
    struct vmm_qcow2_check res;
    int r = vmm_qcow2_check(d, &res);
    if (r != 0 || res.errors || res.leaks || res.copied_unset)
        fprintf(stderr, "%s: check %d, %llu errors, %llu leaks, %llu unset copied flags: %s\n",
                when, r, (unsigned long long)res.errors, (unsigned long long)res.leaks,
                (unsigned long long)res.copied_unset, res.first_error);
    CHECK_EQ(r, 0);
    CHECK_EQ(res.errors, 0);
    CHECK_EQ(res.leaks, 0);
    CHECK_EQ(res.copied_unset, 0);
}

static int snap(struct vmm_disk *d, const char *op, const char *name)
{
    struct vmm_error err = {0};
    int r;
    if (!strcmp(op, "create"))
        r = vmm_disk_snapshot_create(d, name, 0, &err);
    else if (!strcmp(op, "apply"))
        r = vmm_disk_snapshot_apply(d, name, &err);
    else
        r = vmm_disk_snapshot_delete(d, name, &err);
    if (r < 0)
        fprintf(stderr, "snapshot %s %s: %d: %s\n", op, name, r, err.msg);
    return r;
}

static size_t list_names(struct vmm_disk *d, char names[][64], size_t max)
{
    struct vmm_disk_snapshot *l;
    size_t n;
    struct vmm_error err = {0};
    CHECK_EQ(vmm_disk_snapshot_list(d, &l, &n, &err), 0);
    for (size_t i = 0; i < n && i < max; i++)
        snprintf(names[i], 64, "%s", l[i].name);
    vmm_disk_snapshot_list_free(l, n);
    return n;
}

/* A fixed sequence: three states, each snapshot applied in turn, then deleted. */
static void test_sequence(void)
{
    const char *p = tpath("seq.qcow2");
    const uint64_t size = 8 * MiB;
    uint8_t *cur = calloc(1, size), *sa = malloc(size), *sb = malloc(size);

    create_qcow2(p, size, 16, NULL, NULL);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    write_both(d, cur, 0, 3 * MiB, 1);
    CHECK_EQ(snap(d, "create", "a"), 0);
    memcpy(sa, cur, size);
    expect_clean(d, "after create a");

    write_both(d, cur, 100, 1000, 2);          /* partial cluster: COW */
    write_both(d, cur, 2 * MiB, 64 * KiB, 3);  /* whole cluster */
    write_both(d, cur, 5 * MiB, 300 * KiB, 4); /* new clusters */
    CHECK_EQ(vmm_disk_write_zeroes(d, 1 * MiB, 128 * KiB, 0), 0);
    memset(cur + 1 * MiB, 0, 128 * KiB);
    CHECK_EQ(vmm_disk_discard(d, 2 * MiB + 64 * KiB, 64 * KiB), 0);
    CHECK_EQ(vmm_disk_pread(d, cur + 2 * MiB + 64 * KiB, 64 * KiB, 2 * MiB + 64 * KiB), 0);
    CHECK(disk_matches(d, cur, size));
    CHECK_EQ(snap(d, "create", "b"), 0);
    memcpy(sb, cur, size);
    expect_clean(d, "after create b");

    write_both(d, cur, 0, 8 * MiB, 5); /* everything, shared with both */
    expect_clean(d, "after rewriting");

    CHECK_EQ(snap(d, "apply", "a"), 0);
    CHECK(disk_matches(d, sa, size));
    expect_clean(d, "after apply a");
    memcpy(cur, sa, size);
    write_both(d, cur, 7 * MiB, 10000, 6);
    CHECK_EQ(snap(d, "apply", "b"), 0);
    CHECK(disk_matches(d, sb, size));
    expect_clean(d, "after apply b");

    CHECK_EQ(snap(d, "delete", "a"), 0);
    CHECK(disk_matches(d, sb, size));
    expect_clean(d, "after delete a");
    vmm_disk_close(d);

    /* What was done is on disk. */
    d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    char names[4][64];
    CHECK_EQ(list_names(d, names, 4), 1);
    CHECK(!strcmp(names[0], "b"));
    CHECK(disk_matches(d, sb, size));
    memcpy(cur, sb, size);
    write_both(d, cur, 3 * MiB, 1 * MiB, 7);
    CHECK_EQ(snap(d, "delete", "b"), 0);
    CHECK(disk_matches(d, cur, size));
    expect_clean(d, "after deleting every snapshot");
    struct vmm_disk_info info;
    vmm_disk_get_info(d, &info);
    CHECK_EQ(info.nb_snapshots, 0);
    vmm_disk_close(d);
    CHECK_EQ(file_get(p, 60, 4), 0);
    free(cur);
    free(sa);
    free(sb);
}

/* Listing, lookups, names, and every refusal of a bad request. */
static void test_api(void)
{
    const char *p = tpath("api.qcow2");
    struct vmm_error err = {0};
    struct vmm_disk_snapshot *l;
    size_t n;
    time_t t0 = time(NULL);

    create_qcow2(p, 4 * MiB, 16, NULL, NULL);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK_EQ(vmm_disk_snapshot_list(d, &l, &n, &err), 0);
    CHECK_EQ(n, 0);
    vmm_disk_snapshot_list_free(l, n);
    CHECK_EQ(vmm_disk_snapshot_create(d, "first", 123456789, &err), 0);
    CHECK_EQ(vmm_disk_snapshot_create(d, "second one", 0, &err), 0);
    CHECK_EQ(vmm_disk_snapshot_list(d, &l, &n, &err), 0);
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK(!strcmp(l[0].id, "1") && !strcmp(l[0].name, "first"));
        CHECK(!strcmp(l[1].id, "2") && !strcmp(l[1].name, "second one"));
        CHECK_EQ(l[0].vm_clock_nsec, 123456789);
        CHECK_EQ(l[0].disk_size, 4 * MiB);
        CHECK_EQ(l[0].vm_state_size, 0);
        CHECK(l[0].date_sec >= (uint64_t)t0 - 1 && l[0].date_sec <= (uint64_t)time(NULL) + 1);
    }
    vmm_disk_snapshot_list_free(l, n);

    /* Refusals, each with a sentence. */
    err.msg[0] = 0;
    CHECK_EQ(vmm_disk_snapshot_create(d, "first", 0, &err), -EEXIST);
    CHECK(strstr(err.msg, "already has a snapshot named") != NULL);
    CHECK_EQ(vmm_disk_snapshot_create(d, "", 0, &err), -EINVAL);
    char longname[300];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    CHECK_EQ(vmm_disk_snapshot_create(d, longname, 0, &err), -EINVAL);
    CHECK(strstr(err.msg, "255") != NULL);
    CHECK_EQ(vmm_disk_snapshot_apply(d, "nope", &err), -ENOENT);
    CHECK(strstr(err.msg, "no snapshot named \"nope\"") != NULL);
    CHECK_EQ(vmm_disk_snapshot_delete(d, "nope", &err), -ENOENT);

    /* By id; rename; a new id is one past the largest. */
    CHECK_EQ(vmm_disk_snapshot_rename(d, "2", "renamed", &err), 0);
    CHECK_EQ(vmm_disk_snapshot_rename(d, "renamed", "first", &err), -EEXIST);
    CHECK_EQ(vmm_disk_snapshot_delete(d, "1", &err), 0);
    CHECK_EQ(vmm_disk_snapshot_create(d, "third", 0, &err), 0);
    CHECK_EQ(vmm_disk_snapshot_list(d, &l, &n, &err), 0);
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK(!strcmp(l[0].id, "2") && !strcmp(l[0].name, "renamed"));
        CHECK(!strcmp(l[1].id, "3") && !strcmp(l[1].name, "third"));
    }
    vmm_disk_snapshot_list_free(l, n);
    expect_clean(d, "api");
    vmm_disk_close(d);

    /* Read-only: listed, not changed. */
    d = open_disk(p, VMM_DISK_RDONLY);
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ(vmm_disk_snapshot_list(d, &l, &n, &err), 0);
        CHECK_EQ(n, 2);
        vmm_disk_snapshot_list_free(l, n);
        CHECK_EQ(vmm_disk_snapshot_create(d, "x", 0, &err), -EROFS);
        CHECK(strstr(err.msg, "read-only") != NULL);
        CHECK_EQ(vmm_disk_snapshot_apply(d, "third", &err), -EROFS);
        vmm_disk_close(d);
    }

    /* Raw images have none. */
    uint8_t zero[4096] = {0};
    create_raw(tpath("api.raw"), zero, sizeof(zero));
    d = open_disk(tpath("api.raw"), VMM_DISK_FORMAT_RAW);
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ(vmm_disk_snapshot_list(d, &l, &n, &err), -ENOTSUP);
        CHECK(strstr(err.msg, "qcow2") != NULL);
        CHECK_EQ(vmm_disk_snapshot_create(d, "x", 0, &err), -ENOTSUP);
        CHECK_EQ(vmm_disk_snapshot_apply(d, "x", &err), -ENOTSUP);
        CHECK_EQ(vmm_disk_snapshot_delete(d, "x", &err), -ENOTSUP);
        vmm_disk_close(d);
    }

    /* 1-bit refcounts cannot count sharing. */
    const char *p1 = tpath("rc1.qcow2");
    create_qcow2(p1, 1 * MiB, 16, NULL, NULL);
    file_put(p1, 96, 4, 0); /* refcount_order 0: every used cluster still reads as 1 */
    d = open_disk(p1, 0);
    if (d) {
        CHECK_EQ(vmm_disk_snapshot_create(d, "x", 0, &err), -ENOTSUP);
        CHECK(strstr(err.msg, "1-bit") != NULL);
        vmm_disk_close(d);
    }
}

/*
 * Random writes, snapshots, applies, deletes and renames against shadow copies,
 * with small clusters so that L2 tables are shared and copied, the refcount
 * table grows and tables move.
 */
static void random_sequence(unsigned cbits, uint64_t size, uint64_t seed, int steps)
{
    char path[64];
    snprintf(path, sizeof(path), "rand-%u.qcow2", cbits);
    const char *p = tpath(path);
    enum { MAXS = 6 };
    uint8_t *cur = calloc(1, size), *shadows[MAXS] = {0};
    char names[MAXS][16];
    int have = 0, counter = 0;
    uint64_t s = seed;

    create_qcow2(p, size, cbits, NULL, NULL);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    for (int step = 0; step < steps; step++) {
        unsigned op = (unsigned)(rng_next(&s) % 12);
        if (op < 6 || have == 0) {
            size_t len = 1 + rng_next(&s) % (size / 8);
            uint64_t off = rng_next(&s) % (size - len);
            write_both(d, cur, off, len, s);
        } else if (op < 8 && have < MAXS) {
            snprintf(names[have], sizeof(names[have]), "s%d", counter++);
            CHECK_EQ(snap(d, "create", names[have]), 0);
            shadows[have] = malloc(size);
            memcpy(shadows[have], cur, size);
            have++;
        } else if (op < 10) {
            int k = (int)(rng_next(&s) % (uint64_t)have);
            CHECK_EQ(snap(d, "apply", names[k]), 0);
            memcpy(cur, shadows[k], size);
        } else if (op < 11) {
            int k = (int)(rng_next(&s) % (uint64_t)have);
            CHECK_EQ(snap(d, "delete", names[k]), 0);
            free(shadows[k]);
            shadows[k] = shadows[have - 1];
            memcpy(names[k], names[have - 1], sizeof(names[k]));
            have--;
        } else {
            int k = (int)(rng_next(&s) % (uint64_t)have);
            char nn[16];
            struct vmm_error err = {0};
            snprintf(nn, sizeof(nn), "r%d", counter++);
            CHECK_EQ(vmm_disk_snapshot_rename(d, names[k], nn, &err), 0);
            memcpy(names[k], nn, sizeof(nn));
        }
        if (!disk_matches(d, cur, size)) {
            fprintf(stderr, "data differs after step %d (op %u)\n", step, op);
            CHECK(0);
            break;
        }
        if (step % 4 == 3)
            expect_clean(d, "random sequence");
        if (step % 16 == 15) {
            vmm_disk_close(d);
            d = open_disk(p, 0);
            CHECK(d != NULL);
            if (!d)
                break;
        }
    }
    /* Each remaining snapshot still holds its data. */
    for (int k = 0; d && k < have; k++) {
        CHECK_EQ(snap(d, "apply", names[k]), 0);
        CHECK(disk_matches(d, shadows[k], size));
    }
    for (int k = 0; d && k < have; k++)
        CHECK_EQ(snap(d, "delete", names[k]), 0);
    if (d) {
        expect_clean(d, "after the random sequence");
        vmm_disk_close(d);
    }
    for (int k = 0; k < have; k++)
        free(shadows[k]);
    free(cur);
}

static void test_random_512(void)
{
    random_sequence(9, 512 * KiB, 11, 120);
}

static void test_random_4k(void)
{
    random_sequence(12, 4 * MiB, 12, 100);
}

static void test_random_64k(void)
{
    random_sequence(16, 16 * MiB, 13, 60);
}

/* A snapshot of an image with a backing file keeps the backing file's data visible. */
static void test_backing(void)
{
    const uint64_t size = 2 * MiB;
    uint8_t *base = malloc(size), *cur = malloc(size), *s1 = malloc(size);
    fill_pattern(base, size, 50);
    create_raw(tpath("bk.raw"), base, size);
    create_qcow2(tpath("bk.qcow2"), size, 16, "bk.raw", "raw");
    memcpy(cur, base, size);
    struct vmm_disk *d = open_disk(tpath("bk.qcow2"), 0);
    CHECK(d != NULL);
    if (!d)
        return;
    write_both(d, cur, 1000, 70000, 51);
    CHECK_EQ(snap(d, "create", "s"), 0);
    memcpy(s1, cur, size);
    CHECK_EQ(vmm_disk_write_zeroes(d, 0, size, VMM_DISK_ZEROES_UNMAP), 0);
    memset(cur, 0, size);
    CHECK(disk_matches(d, cur, size));
    CHECK_EQ(snap(d, "apply", "s"), 0);
    CHECK(disk_matches(d, s1, size));
    expect_clean(d, "backing");
    vmm_disk_close(d);
    free(base);
    free(cur);
    free(s1);
}

/* ---- damaged snapshot tables ---- */

static void expect_open_refused(const char *p, const char *needle)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(p, 0, &err);
    CHECK(d == NULL);
    if (d) {
        fprintf(stderr, "opened although it should be refused for \"%s\"\n", needle);
        vmm_disk_close(d);
        return;
    }
    if (!strstr(err.msg, needle))
        fprintf(stderr, "refusal lacks \"%s\": %s\n", needle, err.msg);
    CHECK(strstr(err.msg, needle) != NULL);
}

/* An image with one snapshot "s"; returns the snapshot table offset. */
static uint64_t image_with_snapshot(const char *p)
{
    create_qcow2(p, 2 * MiB, 16, NULL, NULL);
    struct vmm_disk *d = open_disk(p, 0);
    uint8_t *cur = calloc(1, 2 * MiB);
    if (d) {
        write_both(d, cur, 0, 200 * KiB, 60);
        CHECK_EQ(snap(d, "create", "s"), 0);
        vmm_disk_close(d);
    }
    free(cur);
    return file_get(p, 64, 8);
}

static void test_damaged_tables(void)
{
    const char *p = tpath("dmg.qcow2");
    uint64_t t;

    t = image_with_snapshot(p);
    file_put(p, 60, 4, 70000);
    expect_open_refused(p, "absurd number of snapshots");

    t = image_with_snapshot(p);
    file_put(p, 64, 8, t + 4096); /* not cluster-aligned */
    expect_open_refused(p, "snapshots does not fit");

    t = image_with_snapshot(p);
    file_put(p, 64, 8, 1ull << 40);
    expect_open_refused(p, "snapshots does not fit");

    t = image_with_snapshot(p);
    file_put(p, t + 36, 4, 100000); /* extra data size */
    expect_open_refused(p, "extra data");

    t = image_with_snapshot(p);
    file_put(p, t + 14, 2, 65535); /* name runs past the end of the file */
    file_put(p, t + 36, 4, 1024);
    expect_open_refused(p, "runs past the end");

    t = image_with_snapshot(p);
    file_put(p, t, 8, 1ull << 40); /* its L1 table */
    expect_open_refused(p, "L1 table of snapshot 0");

    t = image_with_snapshot(p);
    file_put(p, t + 8, 4, 0x7fffffff); /* absurd L1 size */
    expect_open_refused(p, "L1 table of snapshot 0");

    t = image_with_snapshot(p);
    file_put(p, t, 8, file_get(p, t, 8) + 512); /* unaligned L1 */
    expect_open_refused(p, "L1 table of snapshot 0");

    t = image_with_snapshot(p);
    file_put(p, t, 8, file_get(p, 40, 8)); /* its L1 table on the active one */
    expect_open_refused(p, "L1 table of snapshot 0 overlaps");

    t = image_with_snapshot(p);
    file_put(p, t, 8, t); /* its L1 table on the snapshot table */
    expect_open_refused(p, "L1 table of snapshot 0 overlaps");

    t = image_with_snapshot(p);
    file_put(p, 64, 8, file_get(p, 48, 8)); /* table over the refcount table */
    expect_open_refused(p, "snapshot table overlaps");

    /* A snapshot whose L1 points an L2 table at the header: apply and delete refuse. */
    t = image_with_snapshot(p);
    uint64_t sl1 = file_get(p, t, 8);
    file_put(p, sl1, 8, 0x200ull); /* unaligned and inside the header cluster */
    struct vmm_error err = {0};
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ(vmm_disk_snapshot_apply(d, "s", &err), -EIO);
        CHECK(strstr(err.msg, "damaged") != NULL);
        CHECK(vmm_disk_is_read_only(d));
        vmm_disk_close(d);
    }
    d = open_disk(p, VMM_DISK_RDONLY); /* marked corrupt: read-only from now on */
    CHECK(d != NULL);
    vmm_disk_close(d);

    /* A data pointer past the end of the file in the snapshot's L2 table. */
    t = image_with_snapshot(p);
    sl1 = file_get(p, t, 8);
    uint64_t l2 = file_get(p, sl1, 8) & 0x00fffffffffffe00ull;
    uint64_t cur = file_get(p, file_get(p, 40, 8), 8) & 0x00fffffffffffe00ull;
    CHECK(l2 == cur); /* shared with the active tree */
    /* Give the snapshot its own L2 table with a bad entry: a copy at the end of the file. */
    d = open_disk(p, 0);
    if (d) {
        uint8_t buf[512] = {1};
        CHECK_EQ(vmm_disk_pwrite(d, buf, sizeof(buf), 0), 0); /* COW of the L2 table */
        vmm_disk_close(d);
    }
    file_put(p, l2 + 8, 8, (1ull << 40) | (1ull << 63));
    d = open_disk(p, 0);
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ(vmm_disk_snapshot_delete(d, "s", &err), -EIO);
        CHECK(strstr(err.msg, "damaged") != NULL);
        vmm_disk_close(d);
    }
}

/*
 * Random damage to the snapshot table, the snapshot L1 tables and the L2
 * tables: every open, list, apply, delete, create, read and check must
 * return (refusing with a sentence), never crash or hang.
 */
static void test_random_damage(void)
{
    char good[256], bad[256];
    snprintf(good, sizeof(good), "%s", tpath("fz-good.qcow2"));
    snprintf(bad, sizeof(bad), "%s", tpath("fz.qcow2"));
    create_qcow2(good, 2 * MiB, 12, NULL, NULL);
    struct vmm_disk *d = open_disk(good, 0);
    uint8_t *cur = calloc(1, 2 * MiB);
    if (!d)
        return;
    write_both(d, cur, 0, 600 * KiB, 70);
    CHECK_EQ(snap(d, "create", "one"), 0);
    write_both(d, cur, 300 * KiB, 600 * KiB, 71);
    CHECK_EQ(snap(d, "create", "two"), 0);
    write_both(d, cur, 1 * MiB, 100 * KiB, 72);
    vmm_disk_close(d);
    free(cur);

    uint64_t fsize = file_size(good), table = file_get(good, 64, 8);
    uint64_t sl1 = file_get(good, table, 8);
    uint64_t s = 99;
    int opened = 0;
    for (int i = 0; i < 200; i++) {
        copy_file(good, bad);
        int flips = 1 + (int)(rng_next(&s) % 4);
        for (int f = 0; f < flips; f++) {
            uint64_t where;
            switch (rng_next(&s) % 3) {
            case 0: /* the snapshot table */
                where = table + rng_next(&s) % 160;
                break;
            case 1: /* the first snapshot's L1 table */
                where = sl1 + rng_next(&s) % 64;
                break;
            default: /* anywhere in the metadata-heavy rest */
                where = rng_next(&s) % fsize;
                break;
            }
            file_put(bad, where, 1, rng_next(&s) & 0xff);
        }
        struct vmm_error err = {0};
        d = vmm_disk_open(bad, 0, &err);
        if (!d) {
            CHECK(err.msg[0] != 0);
            continue;
        }
        opened++;
        struct vmm_disk_snapshot *l;
        size_t n;
        if (vmm_disk_snapshot_list(d, &l, &n, &err) == 0)
            vmm_disk_snapshot_list_free(l, n);
        IGNORE(vmm_disk_snapshot_apply(d, (rng_next(&s) & 1) ? "one" : "two", &err));
        IGNORE(vmm_disk_snapshot_delete(d, "one", &err));
        IGNORE(vmm_disk_snapshot_create(d, "three", 0, &err));
        uint8_t buf[8192];
        IGNORE(vmm_disk_pread(d, buf, sizeof(buf), 4096));
        struct vmm_qcow2_check res;
        IGNORE(vmm_qcow2_check(d, &res));
        vmm_disk_close(d);
    }
    CHECK(opened > 0);
}

/* Entries written by us: the layout other tools expect (checked field by field). */
static void test_entry_layout(void)
{
    const char *p = tpath("layout.qcow2");
    create_qcow2(p, 3 * MiB, 16, NULL, NULL);
    struct vmm_disk *d = open_disk(p, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK_EQ(vmm_disk_snapshot_create(d, "hello", 77, NULL), 0);
    vmm_disk_close(d);
    uint64_t t = file_get(p, 64, 8);
    CHECK_EQ(file_get(p, 60, 4), 1);
    CHECK_EQ(t % 65536, 0);
    CHECK_EQ(file_get(p, t + 8, 4), file_get(p, 36, 4)); /* l1_size */
    CHECK_EQ(file_get(p, t + 12, 2), 1);                 /* id "1" */
    CHECK_EQ(file_get(p, t + 14, 2), 5);                 /* name "hello" */
    CHECK_EQ(file_get(p, t + 24, 8), 77);                /* vm clock */
    CHECK_EQ(file_get(p, t + 36, 4), 24);                /* extra data */
    CHECK_EQ(file_get(p, t + 40, 8), 0);                 /* vm state size */
    CHECK_EQ(file_get(p, t + 48, 8), 3 * MiB);           /* disk size */
    CHECK_EQ(file_get(p, t + 56, 8), UINT64_MAX);        /* icount: absent */
    CHECK_EQ(file_get(p, t + 64, 6), ((uint64_t)'1' << 40) | 0x68656c6c6full);
}

int main(void)
{
    tmpdir_create("test-qcow2-snapshot");
    RUN_TEST(test_sequence);
    RUN_TEST(test_api);
    RUN_TEST(test_random_512);
    RUN_TEST(test_random_4k);
    RUN_TEST(test_random_64k);
    RUN_TEST(test_backing);
    RUN_TEST(test_damaged_tables);
    RUN_TEST(test_random_damage);
    RUN_TEST(test_entry_layout);
    return tmpdir_finish();
}
