/* SPDX-License-Identifier: GPL-2.0-or-later */
/* core/file.c: whole-file reads with their limits, atomic writes and their temporary files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "test.h"

static char dir[256];

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Entries of the directory other than . and .. */
static unsigned count_entries(void)
{
    DIR *d = opendir(dir);
    unsigned n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static void test_write_read(unsigned flags)
{
    char p[300];
    path_in(p, sizeof(p), "blob");
    static uint8_t data[100000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + flags);
    struct vmm_error err = {0};
    CHECK_EQ(vmm_write_file_atomic(p, data, sizeof(data), flags, &err), 0);
    CHECK_EQ(count_entries(), 1); /* no temporary file left */
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);

    uint8_t *back = NULL;
    size_t len = 0;
    CHECK_EQ(vmm_read_file("blob", p, sizeof(data), &back, &len, &err), 0);
    CHECK_EQ(len, sizeof(data));
    CHECK(back && !memcmp(back, data, sizeof(data)));
    free(back);

    /* Replaced whole by a shorter one. */
    CHECK_EQ(vmm_write_file_atomic(p, "abc", 3, flags, &err), 0);
    CHECK_EQ(vmm_read_file("blob", p, 3, &back, &len, &err), 0);
    CHECK_EQ(len, 3);
    CHECK(back && !memcmp(back, "abc", 3));
    free(back);
    CHECK_EQ(count_entries(), 1);
    unlink(p);
}

static void test_read_limits(void)
{
    char p[300];
    path_in(p, sizeof(p), "small");
    struct vmm_error err = {0};
    CHECK_EQ(vmm_write_file_atomic(p, "0123456789", 10, 0, &err), 0);
    uint8_t *back = NULL;
    size_t len = 0;
    CHECK_EQ(vmm_read_file("kernel", p, 9, &back, &len, &err), -EFBIG);
    CHECK_EQ(err.code, -EFBIG);
    CHECK(strstr(err.msg, "kernel") != NULL);
    CHECK_EQ(vmm_read_file("kernel", dir, 1 << 20, &back, &len, &err), -EINVAL); /* a directory */
    char missing[300];
    path_in(missing, sizeof(missing), "missing");
    CHECK_EQ(vmm_read_file("kernel", missing, 1 << 20, &back, &len, &err), -ENOENT);
    /* An empty file reads as a real (1-byte) buffer of length 0. */
    CHECK_EQ(vmm_write_file_atomic(p, "", 0, 0, &err), 0);
    back = NULL;
    CHECK_EQ(vmm_read_file("initrd", p, 0, &back, &len, &err), 0);
    CHECK(back != NULL);
    CHECK_EQ(len, 0);
    free(back);
    unlink(p);
}

static void test_write_failures(void)
{
    char p[300];
    path_in(p, sizeof(p), "no-such-dir/file");
    struct vmm_error err = {0};
    CHECK_EQ(vmm_write_file_atomic(p, "x", 1, 0, &err), -ENOENT);
    CHECK(strstr(err.msg, "cannot create") != NULL);
    CHECK_EQ(vmm_write_file_atomic(p, "x", 1, VMM_WRITE_UNIQUE_TMP, NULL), -ENOENT);
    /* Renaming over a directory fails: the temporary file must not stay behind. */
    path_in(p, sizeof(p), "adir");
    CHECK_EQ(mkdir(p, 0700), 0);
    char inner[320];
    snprintf(inner, sizeof(inner), "%s/x", p);
    CHECK_EQ(vmm_write_file_atomic(inner, "x", 1, 0, NULL), 0); /* adir is not empty */
    CHECK(vmm_write_file_atomic(p, "x", 1, VMM_WRITE_SYNC_DIR, &err) < 0);
    CHECK(vmm_write_file_atomic(p, "x", 1, VMM_WRITE_UNIQUE_TMP, NULL) < 0);
    CHECK_EQ(count_entries(), 1);
    unlink(inner);
    rmdir(p);
    CHECK_EQ(vmm_fsync_dir(inner), -ENOENT);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof(dir), "%s/test-file-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_read_limits);
    RUN_TEST(test_write_failures);
    test_write_read(0);
    test_write_read(VMM_WRITE_SYNC_DIR);
    test_write_read(VMM_WRITE_UNIQUE_TMP);
    test_write_read(VMM_WRITE_SYNC_DIR | VMM_WRITE_UNIQUE_TMP);
    printf("%s test_write_read\n", test_failures ? "FAIL" : "ok  ");
    rmdir(dir);
    return test_finish();
}
