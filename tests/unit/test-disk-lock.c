/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Image locking: one writer or any number of readers per image, in one process and
 * across processes; a backing file is read-locked; a looping chain is named as such. */
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "test-qcow2-util.h"

#define MiB (1024ull * 1024)

static struct vmm_disk *try_open(const char *path, unsigned flags, struct vmm_error *err)
{
    memset(err, 0, sizeof(*err));
    return vmm_disk_open(path, flags, err);
}

static void test_raw_locks(void)
{
    static uint8_t data[65536];
    create_raw(tpath("a.raw"), data, sizeof(data));
    struct vmm_error err;
    struct vmm_disk *w = try_open(tpath("a.raw"), VMM_DISK_FORMAT_RAW, &err);
    CHECK(w != NULL);
    /* A second writer and a reader are both refused while it writes. */
    CHECK(try_open(tpath("a.raw"), VMM_DISK_FORMAT_RAW, &err) == NULL);
    CHECK_EQ(err.code, -EBUSY);
    CHECK(strstr(err.msg, "in use") != NULL);
    CHECK(strstr(err.msg, "a.raw") != NULL);
    CHECK(try_open(tpath("a.raw"), VMM_DISK_FORMAT_RAW | VMM_DISK_RDONLY, &err) == NULL);
    CHECK_EQ(err.code, -EBUSY);
    CHECK(strstr(err.msg, "being written") != NULL);
    vmm_disk_close(w);
    /* Readers share; a writer waits for the last one to close. */
    struct vmm_disk *r1 = try_open(tpath("a.raw"), VMM_DISK_FORMAT_RAW | VMM_DISK_RDONLY, &err);
    struct vmm_disk *r2 = try_open(tpath("a.raw"), VMM_DISK_FORMAT_RAW | VMM_DISK_RDONLY, &err);
    CHECK(r1 != NULL && r2 != NULL);
    CHECK(try_open(tpath("a.raw"), VMM_DISK_FORMAT_RAW, &err) == NULL);
    CHECK_EQ(err.code, -EBUSY);
    vmm_disk_close(r1);
    CHECK(try_open(tpath("a.raw"), VMM_DISK_FORMAT_RAW, &err) == NULL);
    vmm_disk_close(r2);
    w = try_open(tpath("a.raw"), VMM_DISK_FORMAT_RAW, &err);
    CHECK(w != NULL);
    if (w)
        vmm_disk_close(w);
}

/* The child's exit status: 0 opened, 1 refused with -EBUSY, 2 otherwise. */
static int open_in_child(const char *path, unsigned flags)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct vmm_error err = {0};
        struct vmm_disk *d = vmm_disk_open(path, flags, &err);
        _exit(d ? 0 : err.code == -EBUSY ? 1 : 2);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}

static void test_qcow2_across_processes(void)
{
    create_qcow2(tpath("b.qcow2"), 4 * MiB, 16, NULL, NULL);
    struct vmm_error err;
    struct vmm_disk *w = try_open(tpath("b.qcow2"), 0, &err);
    CHECK(w != NULL);
    CHECK_EQ(open_in_child(tpath("b.qcow2"), 0), 1);
    CHECK_EQ(open_in_child(tpath("b.qcow2"), VMM_DISK_RDONLY), 1);
    vmm_disk_close(w);
    CHECK_EQ(open_in_child(tpath("b.qcow2"), 0), 0);
    /* After a child that held it exited, the lock is gone with it. */
    w = try_open(tpath("b.qcow2"), 0, &err);
    CHECK(w != NULL);
    if (w)
        vmm_disk_close(w);
}

static void test_backing_is_read_locked(void)
{
    create_qcow2(tpath("base.qcow2"), 4 * MiB, 16, NULL, NULL);
    create_qcow2(tpath("top1.qcow2"), 4 * MiB, 16, "base.qcow2", "qcow2");
    create_qcow2(tpath("top2.qcow2"), 4 * MiB, 16, "base.qcow2", "qcow2");
    struct vmm_error err;
    struct vmm_disk *t1 = try_open(tpath("top1.qcow2"), 0, &err);
    CHECK(t1 != NULL);
    /* Two overlays may share a base; nobody may write the base under them. */
    struct vmm_disk *t2 = try_open(tpath("top2.qcow2"), 0, &err);
    CHECK(t2 != NULL);
    CHECK(try_open(tpath("base.qcow2"), 0, &err) == NULL);
    CHECK_EQ(err.code, -EBUSY);
    /* ... and an overlay being written cannot become another chain's base: neither when
     * the new overlay is created nor when one made earlier is opened. */
    memset(&err, 0, sizeof(err));
    CHECK(vmm_qcow2_create(tpath("top3.qcow2"), 0, 16, "top1.qcow2", "qcow2", &err) < 0);
    CHECK(strstr(err.msg, "being written") != NULL);
    if (t1)
        vmm_disk_close(t1);
    create_qcow2(tpath("top3.qcow2"), 4 * MiB, 16, "top1.qcow2", "qcow2");
    t1 = try_open(tpath("top1.qcow2"), 0, &err);
    CHECK(t1 != NULL);
    CHECK(try_open(tpath("top3.qcow2"), 0, &err) == NULL);
    CHECK_EQ(err.code, -EBUSY);
    CHECK(strstr(err.msg, "top1.qcow2") != NULL);
    if (t1)
        vmm_disk_close(t1);
    if (t2)
        vmm_disk_close(t2);
    struct vmm_disk *b = try_open(tpath("base.qcow2"), 0, &err);
    CHECK(b != NULL);
    if (b)
        vmm_disk_close(b);
}

static void test_loop_named(void)
{
    /* a -> b -> a: read-only at the top (shared locks never conflict) and read-write
     * (the top's own lock would conflict): both are reported as a loop. */
    create_qcow2(tpath("loop-a.qcow2"), MiB, 16, NULL, NULL);
    create_qcow2(tpath("loop-b.qcow2"), MiB, 16, "loop-a.qcow2", "qcow2");
    const char *name = "loop-b.qcow2";
    file_write(tpath("loop-a.qcow2"), 60000, name, strlen(name));
    file_put(tpath("loop-a.qcow2"), 8, 8, 60000);
    file_put(tpath("loop-a.qcow2"), 16, 4, strlen(name));
    struct vmm_error err;
    for (int ro = 0; ro < 2; ro++) {
        CHECK(try_open(tpath("loop-a.qcow2"), ro ? VMM_DISK_RDONLY : 0, &err) == NULL);
        CHECK_EQ(err.code, -ELOOP);
        CHECK(strstr(err.msg, "loops") != NULL);
    }
    /* Nothing stays locked after the refusals. */
    struct vmm_disk *b = try_open(tpath("loop-b.qcow2"), VMM_DISK_FORMAT_QCOW2, &err);
    CHECK(b == NULL && err.code == -ELOOP);
    CHECK_EQ(open_in_child(tpath("loop-a.qcow2"), VMM_DISK_FORMAT_RAW), 0);
}

int main(void)
{
    tmpdir_create("test-disk-lock");
    RUN_TEST(test_raw_locks);
    RUN_TEST(test_qcow2_across_processes);
    RUN_TEST(test_backing_is_read_locked);
    RUN_TEST(test_loop_named);
    if (!test_failures)
        tmpdir_remove();
    return test_finish();
}
