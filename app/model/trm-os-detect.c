/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Installation media detection with libosinfo: the ISO's primary volume
 * descriptor matched against osinfo-db, then the OS's recommended resources
 * for x86-64. What libosinfo does not know gets sensible defaults.
 */
#include "config.h"

#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <osinfo/osinfo.h>
#include <unistd.h>

#include "trm-error.h"
#include "trm-os-detect.h"

/* ISO 9660: the primary volume descriptor is in sector 16 (2048-byte sectors). */
#define ISO_PVD_OFFSET (16 * 2048)

void trm_os_detection_free(TrmOsDetection *d)
{
    if (!d)
        return;
    g_free(d->os_id);
    g_free(d->name);
    g_free(d->version);
    g_free(d->volume_id);
    g_free(d);
}

TrmOsDetection *trm_os_detection_new_fallback(const char *path)
{
    TrmOsDetection *d = g_new0(TrmOsDetection, 1);
    g_autofree char *base = path ? g_path_get_basename(path) : g_strdup(_("Unknown system"));
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    d->name = g_utf8_make_valid(base, -1);
    d->memory_mib = TRM_DEFAULT_MEMORY_MIB;
    d->cpus = TRM_DEFAULT_CPUS;
    d->disk_bytes = TRM_DEFAULT_DISK_BYTES;
    d->installer = TRUE;
    return d;
}

static OsinfoDb *get_db(void)
{
    static gsize once;
    static OsinfoDb *db;
    if (g_once_init_enter(&once)) {
        OsinfoLoader *loader = osinfo_loader_new();
        g_autoptr(GError) error = NULL;
        osinfo_loader_process_default_path(loader, &error);
        if (error)
            g_warning("osinfo-db: %s", error->message);
        db = g_object_ref(osinfo_loader_get_db(loader));
        g_object_unref(loader);
        g_once_init_leave(&once, 1);
    }
    return db;
}

/* The recommended resources for x86-64 (or for every architecture). */
static void apply_resources(TrmOsDetection *d, OsinfoOs *os)
{
    OsinfoResourcesList *list = osinfo_os_get_recommended_resources(os);
    if (!list)
        return;
    for (gint i = 0; i < osinfo_list_get_length(OSINFO_LIST(list)); i++) {
        OsinfoResources *r = OSINFO_RESOURCES(osinfo_list_get_nth(OSINFO_LIST(list), i));
        const char *arch = osinfo_resources_get_architecture(r);
        if (g_strcmp0(arch, "x86_64") != 0 && g_strcmp0(arch, OSINFO_ARCHITECTURE_ALL) != 0)
            continue;
        gint64 ram = osinfo_resources_get_ram(r);
        gint cpus = osinfo_resources_get_n_cpus(r);
        gint64 storage = osinfo_resources_get_storage(r);
        if (ram > 0)
            d->memory_mib = (guint)CLAMP(ram >> 20, 256, 64 * 1024);
        if (cpus > 0)
            d->cpus = (guint)CLAMP(cpus, 1, 16);
        if (storage > 0)
            d->disk_bytes = (guint64)CLAMP(storage, (gint64)1 << 30, (gint64)2 << 40);
        if (g_strcmp0(arch, "x86_64") == 0)
            break;
    }
    g_object_unref(list);
}

/* Is there an ISO 9660 volume descriptor? (Cheap, and a sentence we can give.) */
static gboolean check_iso(const char *path, GError **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE,
                        _("You do not have permission to read %s. Copy it somewhere of your own "
                          "or change its permissions."),
                        path);
        else
            g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE,
                        _("The file %s cannot be opened: %s."), path, g_strerror(e));
        return FALSE;
    }
    char magic[6] = {0};
    ssize_t n = pread(fd, magic, sizeof(magic), ISO_PVD_OFFSET);
    int e = errno;
    close(fd);
    if (n < 0) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE,
                    _("The file %s cannot be read: %s. If it is on a removable drive, check the "
                      "drive."),
                    path, g_strerror(e));
        return FALSE;
    }
    if (n != sizeof(magic) || memcmp(magic + 1, "CD001", 5) != 0) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_NOT_MEDIA,
                    _("%s is not a CD or DVD image (.iso). Choose an installation image, or use "
                      "it as an existing disk."),
                    path);
        return FALSE;
    }
    return TRUE;
}

TrmOsDetection *trm_os_detect(const char *path, GCancellable *cancellable, GError **error)
{
    if (!check_iso(path, error))
        return NULL;
    g_autoptr(TrmOsDetection) d = trm_os_detection_new_fallback(path);
    g_autoptr(GError) local = NULL;
    g_autoptr(OsinfoMedia) media =
        osinfo_media_create_from_location_with_flags(path, cancellable, 0, &local);
    if (!media) {
        /* An ISO libosinfo cannot describe still boots; keep the fallback. */
        g_debug("libosinfo: %s: %s", path, local ? local->message : "?");
        return g_steal_pointer(&d);
    }
    const char *vol = osinfo_media_get_volume_id(media);
    if (vol && *vol) {
        g_free(d->volume_id);
        d->volume_id = g_utf8_make_valid(vol, -1);
        g_strstrip(d->volume_id);
    }
    if (osinfo_db_identify_media(get_db(), media)) {
        OsinfoOs *os = osinfo_media_get_os(media);
        if (os) {
            const char *name = osinfo_product_get_name(OSINFO_PRODUCT(os));
            const char *version = osinfo_product_get_version(OSINFO_PRODUCT(os));
            d->known = TRUE;
            d->os_id = g_strdup(osinfo_entity_get_id(OSINFO_ENTITY(os)));
            if (name) {
                g_free(d->name);
                d->name = g_strdup(name);
            }
            d->version = g_strdup(version);
            apply_resources(d, os);
            g_object_unref(os);
        }
        d->live = osinfo_media_get_live(media);
        d->installer = osinfo_media_get_installer(media);
    } else if (d->volume_id && *d->volume_id) {
        g_free(d->name);
        d->name = g_strdup(d->volume_id);
    }
    return g_steal_pointer(&d);
}

static void detect_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    GError *error = NULL;
    TrmOsDetection *d = trm_os_detect(data, cancellable, &error);
    if (d)
        g_task_return_pointer(task, d, (GDestroyNotify)trm_os_detection_free);
    else
        g_task_return_error(task, error);
}

void trm_os_detect_async(const char *path, GCancellable *cancellable, GAsyncReadyCallback cb,
                         gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, cb, user_data);
    g_task_set_source_tag(task, trm_os_detect_async);
    g_task_set_task_data(task, g_strdup(path), g_free);
    g_task_run_in_thread(task, detect_thread);
}

TrmOsDetection *trm_os_detect_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}
