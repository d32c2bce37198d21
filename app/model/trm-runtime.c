/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Where machine processes put their socket and their run lock. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "trm-error.h"
#include "trm-runtime.h"

char *trm_runtime_dup_dir(void)
{
    char *dir = g_build_filename(g_get_user_runtime_dir(), "terrarium", NULL);
    g_mkdir_with_parents(dir, 0700);
    return dir;
}

char *trm_runtime_dup_socket_path(const char *uuid)
{
    g_autofree char *dir = trm_runtime_dup_dir();
    g_autofree char *name = g_strconcat(uuid, ".sock", NULL);
    return g_build_filename(dir, name, NULL);
}

char *trm_runtime_dup_lock_path(const char *uuid)
{
    g_autofree char *dir = trm_runtime_dup_dir();
    g_autofree char *name = g_strconcat(uuid, ".lock", NULL);
    return g_build_filename(dir, name, NULL);
}

#define LOCK_RETRY_US (50 * 1000)

int trm_runtime_lock_machine_wait(const char *uuid, guint timeout_ms, GError **error)
{
    g_autofree char *path = trm_runtime_dup_lock_path(uuid);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), _("Cannot create %s: %s."), path,
                    g_strerror(e));
        return -1;
    }
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e != EWOULDBLOCK || g_get_monotonic_time() >= end)
            break;
        /* The previous run's process may be ending: it lets go once its disks are closed. */
        g_usleep(LOCK_RETRY_US);
    }
    close(fd);
    g_set_error(error, TRM_ERROR, TRM_ERROR_BUSY, _("This machine is already running."));
    return -1;
}

int trm_runtime_lock_machine(const char *uuid, GError **error)
{
    return trm_runtime_lock_machine_wait(uuid, 0, error);
}

gboolean trm_runtime_machine_is_running(const char *uuid)
{
    g_autofree char *path = trm_runtime_dup_lock_path(uuid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return FALSE;
    gboolean held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}
