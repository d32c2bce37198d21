/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 with several threads at once, as virtio-blk's I/O threads use it:
 * guest data moves without the image lock, so requests overlap. Each thread
 * owns every 4th 90 KiB region of a shared area (the clusters at a region's
 * ends are written by two threads: partial-cluster merges, in-place rewrites
 * and new allocations race) and every 4th 1 MiB stretch of another (whole-cluster
 * writes, write-zeroes, discards), and keeps a model of its own bytes; a
 * further thread flushes and takes and deletes snapshots meanwhile (clusters
 * become shared, so writes copy them). Every read must give the model's
 * bytes; at the end the whole disk must, and the image must check clean
 * (ours, and `qemu-img check` when it is installed).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "test-qcow2-util.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define NTHREADS 4
#define SHARED (8 * MiB)     /* [0, SHARED): interleaved regions */
#define REGION (90 * KiB)    /* cluster-unaligned: neighbours share their end clusters */
#define STRETCH (1 * MiB)    /* [SHARED, size): interleaved 1 MiB stretches */
#define DISK_SIZE (24 * MiB) /* not a multiple of the L2 span at 4 KiB clusters */

struct worker {
    struct vmm_disk *d;
    uint8_t *model; /* the whole disk; this thread touches only its own bytes */
    unsigned id;
    uint64_t seed;
    int ops;
    bool backing; /* discard reads as zeros only without a backing file */
    uint64_t cs;  /* cluster size */
    int failures;
};

static atomic_bool stop_snapshots;

static bool read_matches(struct worker *w, uint64_t off, size_t len)
{
    uint8_t *buf = malloc(len);
    bool ok = vmm_disk_pread(w->d, buf, len, off) == 0 && memcmp(buf, w->model + off, len) == 0;
    if (!ok)
        fprintf(stderr, "thread %u: read of %zu bytes at %llu differs from the model\n", w->id, len,
                (unsigned long long)off);
    free(buf);
    return ok;
}

/* A write in pieces of odd sizes (a guest's scatter-gather list), kept in the model. */
static int write_vec(struct worker *w, uint64_t off, size_t len, uint64_t *s)
{
    struct iovec iov[8];
    uint8_t *data = malloc(len);
    unsigned n = 0;
    size_t at = 0;
    fill_pattern(data, len, rng_next(s));
    while (at < len && n < 8) {
        size_t piece = n == 7 ? len - at : 512 * (1 + rng_next(s) % 16);
        if (piece > len - at)
            piece = len - at;
        iov[n].iov_base = data + at;
        iov[n].iov_len = piece;
        at += piece;
        n++;
    }
    int r = vmm_disk_pwritev(w->d, iov, n, off);
    memcpy(w->model + off, data, len);
    free(data);
    return r;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t s = w->seed | 1;
    const uint64_t nstretch = (DISK_SIZE - SHARED) / STRETCH;

    for (int i = 0; i < w->ops && w->failures < 3; i++) {
        unsigned op = (unsigned)(rng_next(&s) % 10);
        int r = 0;
        if (op < 5) {
            /*
             * In one of our regions of the shared area: they are 90 KiB long, so
             * the clusters at their ends are shared with the neighbours' regions.
             */
            uint64_t nreg = SHARED / REGION / NTHREADS;
            uint64_t base = ((rng_next(&s) % nreg) * NTHREADS + w->id) * REGION;
            uint64_t a = op < 2 ? 0 : (rng_next(&s) % (REGION / 512)) * 512;
            uint64_t len = op < 2 ? REGION : 512 * (1 + rng_next(&s) % ((REGION - a) / 512));
            r = write_vec(w, base + a, (size_t)len, &s);
            if (r == 0 && !read_matches(w, base + a, (size_t)len))
                w->failures++;
        } else {
            uint64_t k = (rng_next(&s) % (nstretch / NTHREADS)) * NTHREADS + w->id;
            uint64_t base = SHARED + k * STRETCH;
            /* A part of our stretch: from a sector to a whole stretch. */
            uint64_t a = (rng_next(&s) % (STRETCH / 512)) * 512;
            uint64_t len = 512 * (1 + rng_next(&s) % ((STRETCH - a) / 512));
            if (op < 8) {
                r = write_vec(w, base + a, (size_t)len, &s);
            } else if (op < 9 || w->backing) {
                r = vmm_disk_write_zeroes(w->d, base + a, len, (unsigned)(s & 1));
                memset(w->model + base + a, 0, len);
            } else {
                /* Discard promises zeros only for the whole clusters in the range. */
                r = vmm_disk_discard(w->d, base + a, len);
                uint64_t z0 = (base + a + w->cs - 1) & ~(w->cs - 1);
                uint64_t z1 = (base + a + len) & ~(w->cs - 1);
                if (r == 0 && z1 > z0) {
                    memset(w->model + z0, 0, z1 - z0);
                    if (!read_matches(w, z0, (size_t)(z1 - z0)))
                        w->failures++;
                }
                if (r != 0) {
                    fprintf(stderr, "thread %u: discard %d failed: %d\n", w->id, i, r);
                    w->failures++;
                }
                continue;
            }
            if (r == 0 && !read_matches(w, base + a, (size_t)len))
                w->failures++;
        }
        if (r != 0) {
            fprintf(stderr, "thread %u: operation %d failed: %d\n", w->id, i, r);
            w->failures++;
        }
    }
    return NULL;
}

struct snapshotter {
    struct vmm_disk *d;
    int failures; /* the harness's CHECK is not for other threads */
};

static void *snapshot_main(void *arg)
{
    struct snapshotter *sn = arg;
    unsigned n = 0;
    while (!atomic_load(&stop_snapshots)) {
        struct vmm_error err = {0};
        char name[32];
        snprintf(name, sizeof(name), "s%u", n);
        if (vmm_disk_flush(sn->d) != 0 || vmm_disk_snapshot_create(sn->d, name, 0, &err) != 0) {
            fprintf(stderr, "flush or snapshot %s failed: %s\n", name, err.msg);
            sn->failures++;
        }
        usleep(2000);
        if (n % 2) {
            /* Keep some, drop others: their clusters' refcounts fall while writes run. */
            snprintf(name, sizeof(name), "s%u", n - 1);
            if (vmm_disk_snapshot_delete(sn->d, name, &err) != 0) {
                fprintf(stderr, "deleting snapshot %s failed: %s\n", name, err.msg);
                sn->failures++;
            }
        }
        n++;
        usleep(3000);
    }
    return NULL;
}

static void run(const char *name, unsigned cbits, bool with_backing, bool snapshots, int ops)
{
    const char *img = tpath("threads.qcow2");
    uint8_t *model = calloc(1, DISK_SIZE);
    const char *back = NULL;

    if (with_backing) {
        back = tpath("base.raw");
        fill_pattern(model, DISK_SIZE, 4242);
        create_raw(back, model, DISK_SIZE);
    }
    create_qcow2(img, DISK_SIZE, cbits, back, with_backing ? "raw" : NULL);
    struct vmm_disk *d = open_disk(img, VMM_DISK_FORMAT_QCOW2);
    CHECK(d != NULL);
    if (!d) {
        free(model);
        return;
    }

    pthread_t th[NTHREADS], snap;
    struct worker w[NTHREADS];
    struct snapshotter sn = {.d = d};
    atomic_store(&stop_snapshots, false);
    if (snapshots)
        CHECK_EQ(pthread_create(&snap, NULL, snapshot_main, &sn), 0);
    for (unsigned i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.d = d,
                               .model = model,
                               .id = i,
                               .seed = 77 + i * 1000 + cbits,
                               .ops = ops,
                               .backing = with_backing,
                               .cs = 1ull << cbits};
        CHECK_EQ(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    int failures = 0;
    for (unsigned i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    atomic_store(&stop_snapshots, true);
    if (snapshots)
        pthread_join(snap, NULL);
    CHECK_EQ(sn.failures, 0);
    if (failures)
        fprintf(stderr, "%s: %d failed operations or reads\n", name, failures);
    CHECK_EQ(failures, 0);
    CHECK(disk_matches(d, model, DISK_SIZE));
    CHECK_EQ(vmm_disk_flush(d), 0);

    expect_image_clean(d, 0);
    vmm_disk_close(d);

    /* The reference implementation must agree that nothing is wrong. */
    if (system("command -v qemu-img >/dev/null 2>&1") == 0) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "qemu-img check -q -f qcow2 '%s'", img);
        int st = system(cmd);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    d = open_disk(img, VMM_DISK_FORMAT_QCOW2 | VMM_DISK_RDONLY);
    CHECK(d != NULL);
    if (d) {
        CHECK(disk_matches(d, model, DISK_SIZE));
        vmm_disk_close(d);
    }
    unlink(img);
    free(model);
}

static void test_threads_64k(void)
{
    run("64 KiB clusters", 16, false, false, 1000);
}

static void test_threads_4k_snapshots(void)
{
    /* Small clusters: L2 tables and refcount blocks are allocated while writes are in flight. */
    run("4 KiB clusters, snapshots", 12, false, true, 600);
}

static void test_threads_backing_snapshots(void)
{
    run("64 KiB clusters, backing file, snapshots", 16, true, true, 600);
}

int main(void)
{
    tmpdir_create("trm-qcow2-threads");
    RUN_TEST(test_threads_64k);
    RUN_TEST(test_threads_4k_snapshots);
    RUN_TEST(test_threads_backing_snapshots);
    return tmpdir_finish();
}
