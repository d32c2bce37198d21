/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Try-mode overlays (vmm_disk_open_overlay) and read-only snapshot views (vmm_disk_open_snapshot). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "disk/disk.h"
#include "test.h"

#define MiB (1024u * 1024u)

static char dir[64];

static char *path_in(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    fstat(fd, &st);
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
    close(fd);
    *len = n < 0 ? 0 : (size_t)n;
    return buf;
}

/* Files in dir whose name starts with ".terrarium-try-". */
static int count_overlays(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, ".terrarium-try-", 15))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

static void make_raw(const char *path, size_t size)
{
    uint8_t *buf = malloc(size);
    fill(buf, size, 0x11);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, buf, size, 0) == (ssize_t)size);
    close(fd);
    free(buf);
}

/* The whole virtual contents of an image. */
static uint8_t *contents(const char *path, unsigned flags)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, flags | VMM_DISK_RDONLY, &err);
    if (!d)
        return NULL;
    uint8_t *buf = malloc(vmm_disk_size(d));
    if (vmm_disk_pread(d, buf, vmm_disk_size(d), 0) < 0) {
        free(buf);
        buf = NULL;
    }
    vmm_disk_close(d);
    return buf;
}

/* Writes through an overlay of base, checks the reads, closes, checks base is untouched. */
static void try_writes(const char *base, unsigned fmt_flag)
{
    size_t before_len, after_len;
    uint8_t *before = slurp(base, &before_len);
    uint8_t *virt = contents(base, fmt_flag);
    CHECK(virt != NULL);
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open_overlay(base, fmt_flag, dir, &err);
    CHECK(d != NULL);
    if (!d || !virt) {
        fprintf(stderr, "%s\n", err.msg);
        free(before);
        free(virt);
        return;
    }
    /* Unlinked as soon as it is open: nothing to clean up even after a crash. */
    CHECK_EQ(count_overlays(), 0);
    struct vmm_disk_info info;
    vmm_disk_get_info(d, &info);
    CHECK(info.format == VMM_DISK_QCOW2);
    CHECK(info.has_backing);
    CHECK(!info.read_only);
    CHECK_EQ(vmm_disk_size(d), 4 * MiB);

    uint8_t w[8192], r[8192];
    memset(w, 0xA5, sizeof(w));
    /* Unaligned and across a cluster boundary: the overlay copies from the backing file. */
    CHECK_EQ(vmm_disk_pwrite(d, w, 3000, 65536 - 1000), 0);
    CHECK_EQ(vmm_disk_pwrite(d, w, sizeof(w), 3 * MiB), 0);
    CHECK_EQ(vmm_disk_write_zeroes(d, MiB, 4096, 0), 0);
    CHECK_EQ(vmm_disk_flush(d), 0);
    CHECK_EQ(vmm_disk_pread(d, r, 3000, 65536 - 1000), 0);
    CHECK(!memcmp(r, w, 3000));
    /* Around the writes, the backing image shows through. */
    CHECK_EQ(vmm_disk_pread(d, r, 1000, 65536 - 2000), 0);
    CHECK(!memcmp(r, virt + 65536 - 2000, 1000));
    CHECK_EQ(vmm_disk_pread(d, r, 1000, 65536 + 2000), 0);
    CHECK(!memcmp(r, virt + 65536 + 2000, 1000));
    CHECK_EQ(vmm_disk_pread(d, r, 4096, MiB), 0);
    uint8_t zero[4096] = {0};
    CHECK(!memcmp(r, zero, sizeof(zero)));
    vmm_disk_close(d);

    uint8_t *after = slurp(base, &after_len);
    CHECK_EQ(after_len, before_len);
    CHECK(after && before && !memcmp(after, before, before_len));
    CHECK_EQ(count_overlays(), 0);
    free(before);
    free(after);
    free(virt);
}

static void test_overlay_raw(void)
{
    const char *base = path_in("base.img");
    make_raw(base, 4 * MiB);
    try_writes(base, VMM_DISK_FORMAT_RAW);
    /* The same image again, probed this time: a second run starts from the same base. */
    try_writes(base, 0);
}

static void test_overlay_qcow2(void)
{
    const char *base = path_in("base.qcow2");
    struct vmm_error err = {0};
    CHECK_EQ(vmm_qcow2_create(base, 4 * MiB, 12, NULL, NULL, &err), 0);
    struct vmm_disk *d = vmm_disk_open(base, VMM_DISK_FORMAT_QCOW2, &err);
    CHECK(d != NULL);
    uint8_t buf[256 * 1024];
    fill(buf, sizeof(buf), 0x33);
    CHECK_EQ(vmm_disk_pwrite(d, buf, sizeof(buf), 0), 0);
    CHECK_EQ(vmm_disk_pwrite(d, buf, sizeof(buf), 3 * MiB - 4096), 0);
    vmm_disk_close(d);
    try_writes(base, VMM_DISK_FORMAT_QCOW2);
    /* A qcow2 base is still consistent (it was only read). */
    d = vmm_disk_open(base, VMM_DISK_FORMAT_QCOW2 | VMM_DISK_RDONLY, &err);
    struct vmm_qcow2_check chk;
    CHECK_EQ(vmm_qcow2_check(d, &chk), 0);
    CHECK_EQ(chk.errors, 0);
    CHECK_EQ(chk.leaks, 0);
    vmm_disk_close(d);
}

static void touch(const char *name)
{
    int fd = open(path_in(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    close(fd);
}

static bool exists(const char *name)
{
    return access(path_in(name), F_OK) == 0;
}

static void test_stale_cleanup(void)
{
    /* A pid that is certainly gone: a child we reaped. */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    char dead[96], live[96];
    snprintf(dead, sizeof(dead), ".terrarium-try-%d-00000000deadbeef.qcow2", (int)child);
    snprintf(live, sizeof(live), ".terrarium-try-%d-00000000cafef00d.qcow2", (int)getppid());
    touch(dead);
    touch(live);
    touch(".terrarium-try-notapid.qcow2");
    touch("keep.qcow2");
    CHECK_EQ(vmm_disk_overlay_clean(dir), 1);
    CHECK(!exists(dead));
    CHECK(exists(live));
    CHECK(exists(".terrarium-try-notapid.qcow2"));
    CHECK(exists("keep.qcow2"));

    /* Opening an overlay cleans the directory too. */
    touch(dead);
    const char *base = path_in("base.img");
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open_overlay(base, VMM_DISK_FORMAT_RAW, dir, &err);
    CHECK(d != NULL);
    CHECK(!exists(dead));
    vmm_disk_close(d);
    unlink(path_in(live));
    unlink(path_in(".terrarium-try-notapid.qcow2"));
    unlink(path_in("keep.qcow2"));
}

static void test_overlay_refusals(void)
{
    struct vmm_error err = {0};
    CHECK(vmm_disk_open_overlay(path_in("base.img"), VMM_DISK_RDONLY, dir, &err) == NULL);
    CHECK_EQ(err.code, -EINVAL);
    err = (struct vmm_error){0};
    CHECK(vmm_disk_open_overlay(path_in("missing.img"), 0, dir, &err) == NULL);
    CHECK_EQ(err.code, -ENOENT);
    err = (struct vmm_error){0};
    CHECK(vmm_disk_open_overlay(path_in("base.img"), 0, "/nonexistent-dir", &err) == NULL);
    CHECK(err.msg[0] != 0);
    CHECK_EQ(count_overlays(), 0);
}

static void fill_disk(struct vmm_disk *d, uint8_t c)
{
    uint8_t buf[64 * 1024];
    memset(buf, c, sizeof(buf));
    CHECK_EQ(vmm_disk_pwrite(d, buf, sizeof(buf), 0), 0);
    CHECK_EQ(vmm_disk_pwrite(d, buf, sizeof(buf), 2 * MiB + 512), 0);
}

static bool reads_as(struct vmm_disk *d, uint8_t c)
{
    uint8_t buf[64 * 1024];
    if (vmm_disk_pread(d, buf, sizeof(buf), 2 * MiB + 512) < 0)
        return false;
    for (size_t i = 0; i < sizeof(buf); i++)
        if (buf[i] != c)
            return false;
    return true;
}

static void test_snapshot_view(void)
{
    const char *img = path_in("snap.qcow2");
    struct vmm_error err = {0};
    CHECK_EQ(vmm_qcow2_create(img, 4 * MiB, 0, NULL, NULL, &err), 0);
    struct vmm_disk *d = vmm_disk_open(img, VMM_DISK_FORMAT_QCOW2, &err);
    fill_disk(d, 'A');
    CHECK_EQ(vmm_disk_snapshot_create(d, "first", 0, &err), 0);
    fill_disk(d, 'B');
    CHECK_EQ(vmm_disk_snapshot_create(d, "second", 0, &err), 0);
    fill_disk(d, 'C');

    /* Views while the image is open for writing elsewhere (a running machine). */
    struct vmm_disk *v1 = vmm_disk_open_snapshot(img, "first", &err);
    struct vmm_disk *v2 = vmm_disk_open_snapshot(img, "2", &err); /* by id */
    CHECK(v1 && v2);
    if (v1 && v2) {
        CHECK(reads_as(v1, 'A'));
        CHECK(reads_as(v2, 'B'));
        CHECK(vmm_disk_is_read_only(v1));
        uint8_t x = 0;
        CHECK(vmm_disk_pwrite(v1, &x, 1, 0) < 0);
        /* Later writes to the live image do not reach the view. */
        fill_disk(d, 'D');
        CHECK_EQ(vmm_disk_flush(d), 0);
        CHECK(reads_as(v1, 'A'));
        CHECK_EQ(vmm_disk_size(v1), 4 * MiB);
        /* Past the written ranges: unallocated, zeros. */
        uint8_t buf[4096], zero[4096] = {0};
        CHECK_EQ(vmm_disk_pread(v1, buf, sizeof(buf), MiB), 0);
        CHECK(!memcmp(buf, zero, sizeof(buf)));
    }
    vmm_disk_close(v1);
    vmm_disk_close(v2);
    CHECK(reads_as(d, 'D'));
    struct vmm_qcow2_check chk;
    CHECK_EQ(vmm_qcow2_check(d, &chk), 0);
    CHECK_EQ(chk.errors, 0);
    CHECK_EQ(chk.leaks, 0);
    vmm_disk_close(d);

    err = (struct vmm_error){0};
    CHECK(vmm_disk_open_snapshot(img, "nope", &err) == NULL);
    CHECK_EQ(err.code, -ENOENT);
    err = (struct vmm_error){0};
    CHECK(vmm_disk_open_snapshot(path_in("base.img"), "first", &err) == NULL);
    CHECK_EQ(err.code, -ENOTSUP);

    /* Through a backing file: the view flattens the chain. */
    const char *top = path_in("top.qcow2");
    CHECK_EQ(vmm_qcow2_create(top, 0, 0, "snap.qcow2", "qcow2", &err), 0);
    d = vmm_disk_open(top, VMM_DISK_FORMAT_QCOW2, &err);
    CHECK(d != NULL);
    CHECK_EQ(vmm_disk_snapshot_create(d, "t", 0, &err), 0);
    uint8_t e = 'E';
    CHECK_EQ(vmm_disk_pwrite(d, &e, 1, 2 * MiB + 512), 0);
    vmm_disk_close(d);
    struct vmm_disk *vt = vmm_disk_open_snapshot(top, "t", &err);
    CHECK(vt && reads_as(vt, 'D'));
    vmm_disk_close(vt);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test-disk-overlay-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN_TEST(test_overlay_raw);
    RUN_TEST(test_overlay_qcow2);
    RUN_TEST(test_stale_cleanup);
    RUN_TEST(test_overlay_refusals);
    RUN_TEST(test_snapshot_view);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return test_finish();
}
