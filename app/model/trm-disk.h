/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define TRM_DISK_MIN_BYTES (G_GUINT64_CONSTANT(1) << 20)
#define TRM_DISK_MAX_BYTES (G_GUINT64_CONSTANT(16) << 40)

/* Called on the caller's main context with 0.0 .. 1.0. */
typedef void (*TrmDiskProgressFunc)(double fraction, gpointer user_data);

typedef enum {
    TRM_DISK_RAW,   /* sparse raw: the file's holes are the unwritten blocks */
    TRM_DISK_QCOW2, /* qcow2 v3: grows as the guest writes, takes internal snapshots */
} TrmDiskFormat;

/* The file name extension vmm-core recognises the format by ("raw", "qcow2"). */
const char *trm_disk_format_extension(TrmDiskFormat format);

/* Creates a disk image of size bytes in format; never overwrites a file. Blocking. */
gboolean trm_disk_create(const char *path, TrmDiskFormat format, guint64 size,
                         GCancellable *cancellable, TrmDiskProgressFunc progress,
                         gpointer progress_data, GError **error);
/* The same in a GTask thread; progress reaches the thread-default main context. */
void trm_disk_create_async(const char *path, TrmDiskFormat format, guint64 size,
                           GCancellable *cancellable, TrmDiskProgressFunc progress,
                           gpointer progress_data, GAsyncReadyCallback cb, gpointer user_data);
gboolean trm_disk_create_finish(GAsyncResult *result, GError **error);

/* Creates a sparse raw disk image of size bytes; never overwrites a file. Blocking. */
gboolean trm_disk_create_raw(const char *path, guint64 size, GCancellable *cancellable,
                             TrmDiskProgressFunc progress, gpointer progress_data, GError **error);
/* The same in a GTask thread; progress reaches the thread-default main context. */
void trm_disk_create_raw_async(const char *path, guint64 size, GCancellable *cancellable,
                               TrmDiskProgressFunc progress, gpointer progress_data,
                               GAsyncReadyCallback cb, gpointer user_data);
gboolean trm_disk_create_raw_finish(GAsyncResult *result, GError **error);

G_END_DECLS
