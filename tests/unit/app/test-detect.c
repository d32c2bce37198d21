/* SPDX-License-Identifier: GPL-2.0-or-later */
/* OS detection on ISOs built here with xorriso, fallbacks, and disk creation. */
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "trm-disk.h"
#include "vmm/disk.h"
#include "trm-error.h"
#include "trm-os-detect.h"

/* A per-test directory that G_TEST_OPTION_ISOLATE_DIRS removes afterwards. */
static const char *tmpdir(void)
{
    const char *dir = g_get_user_cache_dir();
    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    return dir;
}

/* Builds an ISO 9660 image with the given volume id; NULL (test skipped) without xorriso. */
static char *make_iso(const char *volid)
{
    const char *xorriso = g_getenv("XORRISO");
    if (!xorriso || !*xorriso) {
        g_test_skip("xorriso is not installed");
        return NULL;
    }
    g_autofree char *dir = g_build_filename(tmpdir(), "iso-tree", NULL);
    g_mkdir_with_parents(dir, 0700);
    g_autofree char *readme = g_build_filename(dir, "README.TXT", NULL);
    g_assert_true(g_file_set_contents(readme, "test medium\n", -1, NULL));
    g_autofree char *file = g_strdup_printf("%s.iso", volid);
    g_strdelimit(file, " ", '_');
    char *iso = g_build_filename(tmpdir(), file, NULL);
    const char *argv[] = {xorriso, "-as", "mkisofs", "-quiet", "-V", volid, "-o", iso, dir, NULL};
    int status = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                               G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               NULL, NULL, &status, &error));
    g_assert_no_error(error);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    return iso;
}

static void test_known_installer(void)
{
    g_autofree char *iso = make_iso("Debian 11.5.0 amd64 n");
    if (!iso)
        return;
    g_autoptr(GError) error = NULL;
    g_autoptr(TrmOsDetection) d = trm_os_detect(iso, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(d->known);
    g_assert_cmpstr(d->os_id, ==, "http://debian.org/debian/11");
    g_assert_nonnull(strstr(d->name, "Debian"));
    g_assert_cmpstr(d->version, ==, "11");
    g_assert_true(d->installer);
    g_assert_false(d->live);
    g_assert_cmpstr(d->volume_id, ==, "Debian 11.5.0 amd64 n");
    /* osinfo-db recommends for Debian 11: 1 GiB RAM or more, at least 1 CPU, some GiB disk. */
    g_assert_cmpuint(d->memory_mib, >=, 512);
    g_assert_cmpuint(d->cpus, >=, 1);
    g_assert_cmpuint(d->disk_bytes, >=, G_GUINT64_CONSTANT(1) << 30);
}

static void test_known_live(void)
{
    g_autofree char *iso = make_iso("Fedora-WS-Live-37-1-7");
    if (!iso)
        return;
    g_autoptr(TrmOsDetection) d = trm_os_detect(iso, NULL, NULL);
    g_assert_nonnull(d);
    g_assert_true(d->known);
    g_assert_true(d->live);
    g_assert_nonnull(strstr(d->name, "Fedora"));
}

static void test_unknown_iso(void)
{
    g_autofree char *iso = make_iso("HOLIDAY_PHOTOS");
    if (!iso)
        return;
    g_autoptr(TrmOsDetection) d = trm_os_detect(iso, NULL, NULL);
    g_assert_nonnull(d);
    g_assert_false(d->known);
    g_assert_null(d->os_id);
    g_assert_cmpstr(d->name, ==, "HOLIDAY_PHOTOS");
    g_assert_cmpuint(d->memory_mib, ==, TRM_DEFAULT_MEMORY_MIB);
    g_assert_cmpuint(d->cpus, ==, TRM_DEFAULT_CPUS);
    g_assert_cmpuint(d->disk_bytes, ==, TRM_DEFAULT_DISK_BYTES);
}

static void test_not_an_iso(void)
{
    g_autofree char *path = g_build_filename(tmpdir(), "notes.txt", NULL);
    g_assert_true(g_file_set_contents(path, "definitely not an ISO 9660 image\n", -1, NULL));
    g_autoptr(GError) error = NULL;
    g_assert_null(trm_os_detect(path, NULL, &error));
    g_assert_error(error, TRM_ERROR, TRM_ERROR_NOT_MEDIA);
    g_assert_nonnull(strstr(error->message, "notes.txt"));
    g_clear_error(&error);

    /* A big file with the wrong bytes at the descriptor is no ISO either. */
    g_autofree char *big = g_build_filename(tmpdir(), "zeros.iso", NULL);
    g_autofree char *zeros = g_malloc0(64 * 1024);
    g_assert_true(g_file_set_contents(big, zeros, 64 * 1024, NULL));
    g_assert_null(trm_os_detect(big, NULL, &error));
    g_assert_error(error, TRM_ERROR, TRM_ERROR_NOT_MEDIA);
    g_clear_error(&error);

    g_autofree char *missing = g_build_filename(tmpdir(), "missing.iso", NULL);
    g_assert_null(trm_os_detect(missing, NULL, &error));
    g_assert_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE);

    g_autoptr(TrmOsDetection) fb =
        trm_os_detection_new_fallback("/media/debian-12.4.0-amd64-netinst.iso");
    g_assert_cmpstr(fb->name, ==, "debian-12.4.0-amd64-netinst");
    g_assert_false(fb->known);
    g_assert_cmpuint(fb->memory_mib, ==, TRM_DEFAULT_MEMORY_MIB);
}

static void test_grub_rescue(void)
{
    const char *iso = "/usr/lib/grub-rescue/grub-rescue-cdrom.iso";
    if (!g_file_test(iso, G_FILE_TEST_IS_REGULAR)) {
        g_test_skip("grub-rescue-pc is not installed");
        return;
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(TrmOsDetection) d = trm_os_detect(iso, NULL, &error);
    g_assert_no_error(error);
    g_assert_false(d->known);
    g_assert_cmpuint(d->memory_mib, ==, TRM_DEFAULT_MEMORY_MIB);
}

static double last_fraction = -1;
static void on_progress(double f, gpointer data)
{
    g_assert_cmpfloat(f, >=, last_fraction);
    last_fraction = f;
}

static void on_created(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    trm_disk_create_raw_finish(res, &error);
    g_assert_no_error(error);
    g_main_loop_quit(data);
}

static void test_disk(void)
{
    g_autofree char *path = g_build_filename(tmpdir(), "disk.raw", NULL);
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    trm_disk_create_raw_async(path, G_GUINT64_CONSTANT(4) << 30, NULL, on_progress, NULL,
                              on_created, loop);
    g_main_loop_run(loop);
    g_assert_cmpfloat(last_fraction, ==, 1.0);
    GStatBuf st;
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, (gint64)4 << 30);
    g_assert_cmpint((gint64)st.st_blocks * 512, <, 1 << 20); /* sparse */

    /* Never overwrites: the existing file keeps its contents. */
    g_assert_true(g_file_set_contents(path, "precious", -1, NULL));
    g_autoptr(GError) error = NULL;
    g_assert_false(trm_disk_create_raw(path, 1 << 30, NULL, NULL, NULL, &error));
    g_assert_error(error, TRM_ERROR, TRM_ERROR_INVALID);
    g_clear_error(&error);
    g_autofree char *contents = NULL;
    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, "precious");

    g_autofree char *small = g_build_filename(tmpdir(), "small.raw", NULL);
    g_assert_false(trm_disk_create_raw(small, 0, NULL, NULL, NULL, &error));
    g_assert_error(error, TRM_ERROR, TRM_ERROR_INVALID);
    g_assert_false(g_file_test(small, G_FILE_TEST_EXISTS));
    g_clear_error(&error);
    g_autofree char *nodir = g_build_filename(tmpdir(), "no", "such", "disk.raw", NULL);
    g_assert_false(trm_disk_create_raw(nodir, 1 << 30, NULL, NULL, NULL, &error));
    g_assert_nonnull(error);
}

static void on_created_qcow2(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    g_assert_true(trm_disk_create_finish(res, &error));
    g_assert_no_error(error);
    g_main_loop_quit(data);
}

/* A qcow2 disk: a small file whose header says the size asked for; opens as qcow2. */
static void test_disk_qcow2(void)
{
    g_autofree char *path = g_build_filename(tmpdir(), "disk.qcow2", NULL);
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    last_fraction = -1;
    trm_disk_create_async(path, TRM_DISK_QCOW2, G_GUINT64_CONSTANT(20) << 30, NULL, on_progress,
                          NULL, on_created_qcow2, loop);
    g_main_loop_run(loop);
    g_assert_cmpfloat(last_fraction, ==, 1.0);
    g_autofree char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(len, >=, 32);
    g_assert_cmpuint(len, <, 1 << 20);
    g_assert_cmpmem(data, 4, "QFI\xfb", 4);
    guint64 size = 0;
    for (int i = 0; i < 8; i++)
        size = size << 8 | (guint8)data[24 + i];
    g_assert_cmpuint(size, ==, G_GUINT64_CONSTANT(20) << 30);
    GStatBuf st;
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    struct vmm_error verr = {0};
    struct vmm_disk *disk = vmm_disk_open(path, VMM_DISK_FORMAT_QCOW2 | VMM_DISK_RDONLY, &verr);
    g_assert_nonnull(disk);
    struct vmm_disk_info info;
    vmm_disk_get_info(disk, &info);
    g_assert_cmpuint(info.virtual_size, ==, G_GUINT64_CONSTANT(20) << 30);
    vmm_disk_close(disk);

    /* Never overwrites, and says so. */
    g_assert_true(g_file_set_contents(path, "precious", -1, NULL));
    g_autoptr(GError) error = NULL;
    g_assert_false(trm_disk_create(path, TRM_DISK_QCOW2, 1 << 30, NULL, NULL, NULL, &error));
    g_assert_error(error, TRM_ERROR, TRM_ERROR_INVALID);
    g_clear_error(&error);
    g_autofree char *contents = NULL;
    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, "precious");
    g_autofree char *nodir = g_build_filename(tmpdir(), "no", "such", "disk.qcow2", NULL);
    g_assert_false(trm_disk_create(nodir, TRM_DISK_QCOW2, 1 << 30, NULL, NULL, NULL, &error));
    g_assert_nonnull(error);
    g_assert_cmpstr(trm_disk_format_extension(TRM_DISK_QCOW2), ==, "qcow2");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
    g_test_add_func("/detect/known-installer", test_known_installer);
    g_test_add_func("/detect/known-live", test_known_live);
    g_test_add_func("/detect/unknown-iso", test_unknown_iso);
    g_test_add_func("/detect/not-an-iso", test_not_an_iso);
    g_test_add_func("/detect/grub-rescue", test_grub_rescue);
    g_test_add_func("/disk/create-raw", test_disk);
    g_test_add_func("/disk/create-qcow2", test_disk_qcow2);
    return g_test_run();
}
