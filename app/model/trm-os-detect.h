/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* What we know about an installation medium, detected or assumed. */
typedef struct {
    char *os_id;   /* libosinfo's id (a URI); NULL when unknown */
    char *name;    /* "Debian 11", or the volume label, or the file name */
    char *version; /* may be NULL */
    char *volume_id;
    guint memory_mib; /* recommended */
    guint cpus;
    guint64 disk_bytes;
    gboolean known;     /* libosinfo recognised it */
    gboolean live;      /* can run without installing */
    gboolean installer; /* can install */
} TrmOsDetection;

#define TRM_DEFAULT_MEMORY_MIB 2048
#define TRM_DEFAULT_CPUS 2
#define TRM_DEFAULT_DISK_BYTES (G_GUINT64_CONSTANT(20) << 30)

void trm_os_detection_free(TrmOsDetection *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrmOsDetection, trm_os_detection_free)

/* Defaults for a medium we know nothing about, named after the file. */
TrmOsDetection *trm_os_detection_new_fallback(const char *path);

/*
 * Looks at an ISO image. Returns NULL with a sentence when the file cannot be
 * read or is not a CD/DVD image; otherwise a detection, with fallbacks for
 * what libosinfo does not know. Blocking: call it from a thread.
 */
TrmOsDetection *trm_os_detect(const char *path, GCancellable *cancellable, GError **error);
void trm_os_detect_async(const char *path, GCancellable *cancellable, GAsyncReadyCallback cb,
                         gpointer user_data);
TrmOsDetection *trm_os_detect_finish(GAsyncResult *result, GError **error);

G_END_DECLS
