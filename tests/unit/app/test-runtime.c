/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The run lock: one holder at a time; trm_runtime_lock_machine_wait() gets it
 * once the holder lets go within the time given, and says "already running"
 * (TRM_ERROR_BUSY) after that time when it does not.
 */
#include <glib/gstdio.h>
#include <unistd.h>

#include "trm-error.h"
#include "trm-runtime.h"

#define UUID "5f0c2d1e-7a43-4c9b-9e1a-2b3c4d5e6f70"

static gpointer release_later(gpointer data)
{
    g_usleep(300 * 1000);
    close(GPOINTER_TO_INT(data));
    return NULL;
}

static void test_exclusive(void)
{
    g_assert_false(trm_runtime_machine_is_running(UUID));
    g_autoptr(GError) error = NULL;
    int fd = trm_runtime_lock_machine(UUID, &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(trm_runtime_machine_is_running(UUID));

    /* A second holder is refused at once, and after waiting while the first keeps it. */
    int again = trm_runtime_lock_machine(UUID, &error);
    g_assert_cmpint(again, ==, -1);
    g_assert_error(error, TRM_ERROR, TRM_ERROR_BUSY);
    g_clear_error(&error);
    gint64 t0 = g_get_monotonic_time();
    again = trm_runtime_lock_machine_wait(UUID, 250, &error);
    gint64 waited = g_get_monotonic_time() - t0;
    g_assert_cmpint(again, ==, -1);
    g_assert_error(error, TRM_ERROR, TRM_ERROR_BUSY);
    g_clear_error(&error);
    g_assert_cmpint(waited, >=, 250 * 1000);
    g_assert_cmpint(waited, <, 5 * G_USEC_PER_SEC);

    close(fd);
    g_assert_false(trm_runtime_machine_is_running(UUID));
}

static void test_wait_for_release(void)
{
    g_autoptr(GError) error = NULL;
    int old = trm_runtime_lock_machine(UUID, &error);
    g_assert_cmpint(old, >=, 0);
    /* The previous run's process lets go after 300 ms: the new one gets the lock then. */
    GThread *t = g_thread_new("release", release_later, GINT_TO_POINTER(old));
    gint64 t0 = g_get_monotonic_time();
    int fd = trm_runtime_lock_machine_wait(UUID, 5000, &error);
    gint64 waited = g_get_monotonic_time() - t0;
    g_thread_join(t);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(waited, >=, 250 * 1000);
    g_assert_cmpint(waited, <, 4 * G_USEC_PER_SEC);
    g_assert_true(trm_runtime_machine_is_running(UUID));
    close(fd);
}

int main(int argc, char **argv)
{
    g_autofree char *dir = g_dir_make_tmp("trm-runtime-XXXXXX", NULL);
    g_setenv("XDG_RUNTIME_DIR", dir, TRUE);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/runtime/exclusive", test_exclusive);
    g_test_add_func("/runtime/wait-for-release", test_wait_for_release);
    int rc = g_test_run();
    g_autofree char *sub = g_build_filename(dir, "terrarium", NULL);
    g_autofree char *lock = g_build_filename(sub, UUID ".lock", NULL);
    g_unlink(lock);
    g_rmdir(sub);
    g_rmdir(dir);
    return rc;
}
