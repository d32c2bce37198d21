/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Disk image creation: sparse raw images (ftruncate) and qcow2 images
 * (vmm-core's qcow2 driver). Either costs no space until the guest writes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "trm-disk.h"
#include "trm-error.h"
#include "vmm/disk.h"

/* A sparse disk still needs room to grow; refuse when even this much is not free. */
#define MIN_FREE_BYTES (G_GUINT64_CONSTANT(1) << 30)

typedef struct {
    char *path;
    TrmDiskFormat format;
    guint64 size;
    TrmDiskProgressFunc progress;
    gpointer progress_data;
    GMainContext *context;
} CreateData;

typedef struct {
    TrmDiskProgressFunc progress;
    gpointer progress_data;
    double fraction;
} ProgressMsg;

static void create_data_free(gpointer p)
{
    CreateData *cd = p;
    g_free(cd->path);
    if (cd->context)
        g_main_context_unref(cd->context);
    g_free(cd);
}

static gboolean free_space_ok(const char *path, guint64 size, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    struct statvfs st;
    if (statvfs(dir, &st) != 0)
        return TRUE; /* the create will say what is wrong */
    guint64 avail = (guint64)st.f_bavail * st.f_frsize;
    guint64 need = MIN(size, MIN_FREE_BYTES);
    if (avail < need) {
        g_autofree char *a = g_format_size(avail);
        g_autofree char *n = g_format_size(need);
        g_set_error(error, TRM_ERROR, TRM_ERROR_NO_SPACE,
                    _("There is not enough free space in %s (%s free, %s needed). Free some "
                      "space or choose another storage location in Preferences."),
                    dir, a, n);
        return FALSE;
    }
    return TRUE;
}

static void report(TrmDiskProgressFunc progress, gpointer data, double fraction)
{
    if (progress)
        progress(fraction, data);
}

const char *trm_disk_format_extension(TrmDiskFormat format)
{
    return format == TRM_DISK_QCOW2 ? "qcow2" : "raw";
}

static gboolean create_checks(const char *path, guint64 size, GCancellable *cancellable,
                              GError **error)
{
    if (size < TRM_DISK_MIN_BYTES || size > TRM_DISK_MAX_BYTES) {
        g_autofree char *max = g_format_size(TRM_DISK_MAX_BYTES);
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID, _("A disk must be between 1 MB and %s."),
                    max);
        return FALSE;
    }
    if (g_cancellable_set_error_if_cancelled(cancellable, error))
        return FALSE;
    return free_space_ok(path, size, error);
}

static void create_error(const char *path, int e, GError **error)
{
    if (e == EEXIST)
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID,
                    _("A file named %s already exists; it was left alone."), path);
    else if (e == EFBIG)
        g_set_error(error, TRM_ERROR, TRM_ERROR_NO_SPACE,
                    _("The file system of %s cannot hold a file this large. Choose a smaller "
                      "disk or another storage location."),
                    path);
    else if (e == ENOSPC || e == EDQUOT)
        g_set_error(error, TRM_ERROR, TRM_ERROR_NO_SPACE,
                    _("There is not enough free space for %s. Free some space or choose another "
                      "storage location in Preferences."),
                    path);
    else
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                    _("Cannot create the disk %s: %s."), path, g_strerror(e));
}

static gboolean create_qcow2(const char *path, guint64 size, GCancellable *cancellable,
                             TrmDiskProgressFunc progress, gpointer progress_data, GError **error)
{
    if (!create_checks(path, size, cancellable, error))
        return FALSE;
    report(progress, progress_data, 0.1);
    /* vmm_qcow2_create() never replaces a file: O_EXCL, and -EEXIST when one is there. */
    struct vmm_error verr = {0};
    if (vmm_qcow2_create(path, size, 0, NULL, NULL, &verr) < 0) {
        create_error(path, verr.code < 0 ? -verr.code : EIO, error);
        return FALSE;
    }
    g_chmod(path, 0600); /* like a raw disk: the guest's data is the user's alone */
    report(progress, progress_data, 1.0);
    return TRUE;
}

gboolean trm_disk_create(const char *path, TrmDiskFormat format, guint64 size,
                         GCancellable *cancellable, TrmDiskProgressFunc progress,
                         gpointer progress_data, GError **error)
{
    if (format == TRM_DISK_QCOW2)
        return create_qcow2(path, size, cancellable, progress, progress_data, error);
    return trm_disk_create_raw(path, size, cancellable, progress, progress_data, error);
}

gboolean trm_disk_create_raw(const char *path, guint64 size, GCancellable *cancellable,
                             TrmDiskProgressFunc progress, gpointer progress_data, GError **error)
{
    if (!create_checks(path, size, cancellable, error))
        return FALSE;
    report(progress, progress_data, 0.1);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        create_error(path, errno, error);
        return FALSE;
    }
    int rc = ftruncate(fd, (off_t)size);
    int e = errno;
    if (rc == 0) {
        report(progress, progress_data, 0.6);
        rc = fsync(fd);
        e = errno;
    }
    close(fd);
    if (rc != 0) {
        g_unlink(path);
        if (e == EFBIG || e == ENOSPC || e == EDQUOT)
            create_error(path, e, error);
        else
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                        _("Cannot size the disk %s: %s."), path, g_strerror(e));
        return FALSE;
    }
    report(progress, progress_data, 1.0);
    return TRUE;
}

static gboolean deliver_progress(gpointer p)
{
    ProgressMsg *m = p;
    m->progress(m->fraction, m->progress_data);
    return G_SOURCE_REMOVE;
}

static void thread_progress(double fraction, gpointer data)
{
    CreateData *cd = data;
    if (!cd->progress)
        return;
    ProgressMsg *m = g_new(ProgressMsg, 1);
    m->progress = cd->progress;
    m->progress_data = cd->progress_data;
    m->fraction = fraction;
    g_main_context_invoke_full(cd->context, G_PRIORITY_DEFAULT, deliver_progress, m, g_free);
}

static void create_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    CreateData *cd = data;
    GError *error = NULL;
    if (trm_disk_create(cd->path, cd->format, cd->size, cancellable, thread_progress, cd, &error))
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, error);
}

void trm_disk_create_async(const char *path, TrmDiskFormat format, guint64 size,
                           GCancellable *cancellable, TrmDiskProgressFunc progress,
                           gpointer progress_data, GAsyncReadyCallback cb, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, cb, user_data);
    g_task_set_source_tag(task, trm_disk_create_async);
    CreateData *cd = g_new0(CreateData, 1);
    cd->path = g_strdup(path);
    cd->format = format;
    cd->size = size;
    cd->progress = progress;
    cd->progress_data = progress_data;
    cd->context = g_main_context_ref_thread_default();
    g_task_set_task_data(task, cd, create_data_free);
    g_task_run_in_thread(task, create_thread);
}

gboolean trm_disk_create_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

void trm_disk_create_raw_async(const char *path, guint64 size, GCancellable *cancellable,
                               TrmDiskProgressFunc progress, gpointer progress_data,
                               GAsyncReadyCallback cb, gpointer user_data)
{
    trm_disk_create_async(path, TRM_DISK_RAW, size, cancellable, progress, progress_data, cb,
                          user_data);
}

gboolean trm_disk_create_raw_finish(GAsyncResult *result, GError **error)
{
    return trm_disk_create_finish(result, error);
}
