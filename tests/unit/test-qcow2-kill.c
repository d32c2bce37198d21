/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 under kill -9: a writer process (forked from this test, using vmm-core's disk
 * library) makes random writes and zeroings of self-describing sectors on a qcow2 image,
 * flushing every few operations (4, 32 or 400: the run's seed says; a long stretch lets dirty
 * L2 tables and refcount blocks be evicted from the caches between flushes) and printing
 * "F k" once the flush after operation k has returned. It is killed with SIGKILL at a random
 * moment, 100 times in all, each time continuing on the image the previous writer left. A
 * killed process loses what it held in memory (cached L2 tables and refcount blocks), not
 * what it had written to the file; power loss is test-qcow2-crash's. After every kill:
 *
 *  - `qemu-img check` must report no corruption (leaked clusters are allowed: a writer killed
 *    between raising a refcount and writing the pointer to the cluster leaks it), and our own
 *    vmm_qcow2_check no errors;
 *  - the image read through our reader and through `qemu-img convert -O raw` must be the same
 *    bytes;
 *  - every sector must hold either what it held after the last printed flush, or what one of
 *    the operations up to the next flush wrote there (those were not yet acknowledged as
 *    durable). A sector records the lba and the operation that wrote it, so a sector from
 *    the wrong place, a lost acknowledged write or torn garbage is told apart.
 *
 * Four image lifetimes of 25 kills: 4 KiB clusters (L2 and refcount table growth), 64 KiB,
 * 512 bytes, and 4 KiB with an internal snapshot of the first data (every write first copies
 * a shared cluster and drops a reference: the deferred-free path).
 *
 * Skips (exit 77) without qemu-img ($QEMU_IMG).
 */
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>

#include "test-qcow2-util.h"

#define SECTOR 512u
#define DISK_SIZE (16u << 20)
#define NSECT (DISK_SIZE / SECTOR)
#define MAX_WINDOW 400u
#define MAX_OPS 200000u
#define KILLS_PER_IMAGE 25
#define MAGIC 0x4c4c494bu /* "KILL" */

static const char *qemu_img = "qemu-img";

/* ---- the workload, the same in the writer and in the checker ---- */

struct op {
    uint32_t serial; /* what the sectors it writes record; 0: it zeroes them */
    uint32_t lba, count;
};

static uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* Operations between two flushes in the run with this seed. */
static uint32_t flush_every(uint64_t seed)
{
    static const uint32_t every[] = {4, 32, MAX_WINDOW};
    return every[seed % 3];
}

/* Operation k (1-based) of the run whose serials start past base. */
static struct op op_of(uint64_t seed, uint32_t base, uint32_t k)
{
    uint64_t s = seed ^ ((uint64_t)k * 0x9e3779b97f4a7c15ull) ^ 0x5bd1e995u;
    rng_next(&s);
    rng_next(&s);
    struct op o;
    uint64_t r = rng_next(&s);
    uint32_t kind = (uint32_t)(r % 100);
    if (kind < 10) { /* zero a range, up to 64 KiB, mostly cluster-sized and aligned */
        o.count = 8u << (rng_next(&s) % 5);
        o.lba = (uint32_t)(rng_next(&s) % (NSECT / o.count)) * o.count;
        o.serial = 0;
    } else {
        o.count =
            kind < 70 ? 1 + (uint32_t)(rng_next(&s) % 16) : 1 + (uint32_t)(rng_next(&s) % 256);
        o.lba = (uint32_t)(rng_next(&s) % (NSECT - o.count + 1));
        o.serial = base + k;
    }
    return o;
}

static void sector_fill(uint8_t *p, uint32_t lba, uint32_t serial)
{
    uint32_t w[SECTOR / 4];
    w[0] = MAGIC;
    w[1] = lba;
    w[2] = serial;
    for (unsigned i = 3; i < SECTOR / 4; i++)
        w[i] = mix32(serial * 0x9e3779b9u ^ lba * 0x85ebca6bu ^ i);
    memcpy(p, w, SECTOR);
}

/* The serial a sector records: 0 when zero, UINT32_MAX when it is not one we wrote there. */
static uint32_t sector_serial(const uint8_t *p, uint32_t lba)
{
    static const uint8_t zero[SECTOR];
    if (!memcmp(p, zero, SECTOR))
        return 0;
    uint32_t serial;
    memcpy(&serial, p + 8, 4);
    uint8_t want[SECTOR];
    sector_fill(want, lba, serial);
    return serial && !memcmp(p, want, SECTOR) ? serial : UINT32_MAX;
}

/* ---- the writer (child process) ---- */

static void writer(const char *path, uint64_t seed, uint32_t base, int out)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, VMM_DISK_FORMAT_QCOW2, &err);
    if (!d) {
        dprintf(out, "E open: %s\n", err.msg);
        _exit(2);
    }
    uint8_t *buf = malloc(256 * SECTOR);
    for (uint32_t k = 1; buf && k <= MAX_OPS; k++) {
        struct op o = op_of(seed, base, k);
        int r;
        if (o.serial) {
            for (uint32_t i = 0; i < o.count; i++)
                sector_fill(buf + i * SECTOR, o.lba + i, o.serial);
            r = vmm_disk_pwrite(d, buf, o.count * SECTOR, (uint64_t)o.lba * SECTOR);
        } else {
            r = vmm_disk_write_zeroes(d, (uint64_t)o.lba * SECTOR, o.count * SECTOR,
                                      VMM_DISK_ZEROES_UNMAP);
        }
        if (r < 0) {
            dprintf(out, "E op %u: %d\n", k, r);
            _exit(3);
        }
        if (k % flush_every(seed) == 0) {
            if (vmm_disk_flush(d) < 0) {
                dprintf(out, "E flush after %u\n", k);
                _exit(4);
            }
            dprintf(out, "F %u\n", k);
        }
    }
    _exit(0);
}

/* ---- the checker ---- */

static int run(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int run(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = 0;
    while (fgetc(f) != EOF) {
    }
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uint64_t json_number(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

struct totals {
    unsigned kills, flushes_seen, killed_before_flush, unflushed_kept;
    uint64_t leaks_max, leaks_sum;
};

/* Kills one writer at a random moment; checks the image; state[] becomes what it holds. */
static bool one_kill(const char *img, uint64_t seed, uint32_t base, uint32_t *state,
                     struct totals *t, uint64_t *rng)
{
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return false;
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        writer(img, seed, base, pipefd[1]);
    }
    close(pipefd[1]);
    struct timespec nap = {0, (long)(1000000 + rng_next(rng) % 60000000)};
    nanosleep(&nap, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char lines[1 << 16];
    size_t n = 0;
    ssize_t got;
    while (n + 1 < sizeof(lines) && (got = read(pipefd[0], lines + n, sizeof(lines) - 1 - n)) > 0)
        n += (size_t)got;
    lines[n] = 0;
    close(pipefd[0]);
    CHECK(!strstr(lines, "E "));
    if (strstr(lines, "E "))
        fprintf(stderr, "writer: %s", strstr(lines, "E "));
    uint32_t durable = 0;
    for (char *p = lines; (p = strstr(p, "F ")) != NULL; p += 2)
        durable = (uint32_t)strtoul(p + 2, NULL, 10);
    t->kills++;
    uint32_t every = flush_every(seed);
    t->flushes_seen += durable / every;
    if (!durable)
        t->killed_before_flush++;

    /* What must be there, and what may be there instead. */
    for (uint32_t k = 1; k <= durable; k++) {
        struct op o = op_of(seed, base, k);
        for (uint32_t i = 0; i < o.count; i++)
            state[o.lba + i] = o.serial;
    }

    char out[8192];
    int r = run(out, sizeof(out), "'%s' check --output=json -f qcow2 '%s'", qemu_img, img);
    /* 0: clean; 3: leaked clusters only; 2: corruption; 1: could not check. */
    CHECK(r == 0 || r == 3);
    uint64_t corruptions = json_number(out, "corruptions");
    uint64_t leaks = json_number(out, "leaks");
    CHECK_EQ(corruptions, 0);
    if ((r != 0 && r != 3) || corruptions)
        fprintf(stderr, "qemu-img check after kill %u (status %d):\n%s\n", t->kills, r, out);
    t->leaks_sum += leaks;
    if (leaks > t->leaks_max)
        t->leaks_max = leaks;

    struct vmm_disk *d = open_disk(img, VMM_DISK_FORMAT_QCOW2 | VMM_DISK_RDONLY);
    CHECK(d != NULL);
    if (!d)
        return false;
    struct vmm_qcow2_check res;
    CHECK_EQ(vmm_qcow2_check(d, &res), 0);
    CHECK_EQ(res.errors, 0);
    if (res.errors)
        fprintf(stderr, "vmm_qcow2_check after kill %u: %s\n", t->kills, res.first_error);
    uint8_t *ours = malloc(DISK_SIZE);
    CHECK_EQ(vmm_disk_pread(d, ours, DISK_SIZE, 0), 0);
    vmm_disk_close(d);

    char raw[256];
    snprintf(raw, sizeof(raw), "%s", tpath("converted.raw"));
    unlink(raw);
    r = run(out, sizeof(out), "'%s' convert -f qcow2 -O raw '%s' '%s'", qemu_img, img, raw);
    CHECK_EQ(r, 0);
    if (r)
        fprintf(stderr, "qemu-img convert: %s\n", out);
    CHECK(file_matches(raw, ours, DISK_SIZE));

    /* Each sector: what the last flush made durable, or what an operation after it wrote. */
    uint32_t *seen = malloc(NSECT * sizeof(*seen));
    uint8_t *ok = malloc(NSECT);
    for (uint32_t lba = 0; lba < NSECT; lba++) {
        seen[lba] = sector_serial(ours + (size_t)lba * SECTOR, lba);
        ok[lba] = seen[lba] == state[lba];
    }
    for (uint32_t j = 1; j <= every; j++) {
        struct op o = op_of(seed, base, durable + j);
        for (uint32_t lba = o.lba; lba < o.lba + o.count; lba++) {
            if (!ok[lba] && seen[lba] == o.serial) {
                ok[lba] = 1;
                t->unflushed_kept += o.serial != 0;
            }
        }
    }
    unsigned bad = 0;
    for (uint32_t lba = 0; lba < NSECT; lba++) {
        uint32_t got_serial = seen[lba];
        if (!ok[lba] && bad++ < 3)
            fprintf(stderr, "kill %u: sector %u holds %s%u, durable since flush %u: %u\n", t->kills,
                    lba, got_serial == UINT32_MAX ? "garbage " : "serial ",
                    got_serial == UINT32_MAX ? 0 : got_serial, durable, state[lba]);
        if (ok[lba])
            state[lba] = got_serial; /* an unflushed write that made it: the new base */
    }
    CHECK_EQ(bad, 0);
    free(seen);
    free(ok);
    free(ours);
    return bad == 0;
}

static void lifetime(const char *name, unsigned cluster_bits, bool snapshot, uint64_t seed,
                     struct totals *t)
{
    char img[256]; /* tpath() reuses its buffers */
    snprintf(img, sizeof(img), "%s", tpath(name));
    create_qcow2(img, DISK_SIZE, cluster_bits, NULL, NULL);
    uint32_t *state = calloc(NSECT, sizeof(*state));
    uint64_t rng = seed * 0x2545f4914f6cdd1dull + 7;
    if (snapshot) {
        /* Data shared with a snapshot: the writers copy it before writing. */
        struct vmm_disk *d = open_disk(img, VMM_DISK_FORMAT_QCOW2);
        CHECK(d != NULL);
        uint8_t *buf = malloc(DISK_SIZE);
        for (uint32_t lba = 0; lba < NSECT; lba++)
            sector_fill(buf + (size_t)lba * SECTOR, lba, 1);
        CHECK_EQ(vmm_disk_pwrite(d, buf, DISK_SIZE, 0), 0);
        struct vmm_error err = {0};
        CHECK_EQ(vmm_disk_snapshot_create(d, "base", 0, &err), 0);
        vmm_disk_close(d);
        free(buf);
        for (uint32_t lba = 0; lba < NSECT; lba++)
            state[lba] = 1;
    }
    for (unsigned i = 0; i < KILLS_PER_IMAGE; i++) {
        uint32_t base = (t->kills + 1) * (MAX_OPS + 1); /* serials unique over the test */
        if (!one_kill(img, seed * 1000 + i, base, state, t, &rng)) {
            fprintf(stderr, "%s: stopping after kill %u; the image is kept in %s\n", name, i,
                    tmpdir);
            break;
        }
    }
    free(state);
}

static struct totals totals;

static void test_kill_4k(void)
{
    lifetime("kill-4k.qcow2", 12, false, 1, &totals);
}

static void test_kill_64k(void)
{
    lifetime("kill-64k.qcow2", 16, false, 2, &totals);
}

static void test_kill_512(void)
{
    lifetime("kill-512.qcow2", 9, false, 3, &totals);
}

static void test_kill_4k_snapshot(void)
{
    lifetime("kill-4k-snap.qcow2", 12, true, 4, &totals);
}

int main(void)
{
    if (getenv("QEMU_IMG") && getenv("QEMU_IMG")[0])
        qemu_img = getenv("QEMU_IMG");
    char out[256];
    if (run(out, sizeof(out), "'%s' --version", qemu_img) != 0)
        TEST_SKIP("%s is not installed (qemu-utils)", qemu_img);
    tmpdir_create("test-qcow2-kill");
    RUN_TEST(test_kill_4k);
    RUN_TEST(test_kill_64k);
    RUN_TEST(test_kill_512);
    RUN_TEST(test_kill_4k_snapshot);
    printf("%u kills; %u flushes acknowledged before them, %u kills before the first flush; "
           "%u sectors of unflushed writes survived; leaked clusters after a kill: at most "
           "%llu, %llu in all\n",
           totals.kills, totals.flushes_seen, totals.killed_before_flush, totals.unflushed_kept,
           (unsigned long long)totals.leaks_max, (unsigned long long)totals.leaks_sum);
    CHECK_EQ(totals.kills, 4 * KILLS_PER_IMAGE);
    return tmpdir_finish();
}
