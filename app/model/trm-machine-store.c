/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The machine store: one directory per machine, named by its UUID. */
#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "trm-error.h"
#include "trm-machine-store-private.h"
#include "trm-snapshot-tree.h"

struct _TrmMachineStore {
    GObject parent_instance;
    char *root;
    GListStore *machines;
};

G_DEFINE_FINAL_TYPE(TrmMachineStore, trm_machine_store, G_TYPE_OBJECT)

static void trm_machine_store_finalize(GObject *object)
{
    TrmMachineStore *self = TRM_MACHINE_STORE(object);
    g_free(self->root);
    g_object_unref(self->machines);
    G_OBJECT_CLASS(trm_machine_store_parent_class)->finalize(object);
}

static void trm_machine_store_class_init(TrmMachineStoreClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = trm_machine_store_finalize;
}

static void trm_machine_store_init(TrmMachineStore *self)
{
    self->machines = g_list_store_new(TRM_TYPE_MACHINE);
}

char *trm_machine_store_dup_default_root(void)
{
    return g_build_filename(g_get_user_data_dir(), "terrarium", "machines", NULL);
}

TrmMachineStore *trm_machine_store_new(const char *root)
{
    TrmMachineStore *self = g_object_new(TRM_TYPE_MACHINE_STORE, NULL);
    self->root = root && *root ? g_strdup(root) : trm_machine_store_dup_default_root();
    return self;
}

const char *trm_machine_store_get_root(TrmMachineStore *self)
{
    return self->root;
}

GListModel *trm_machine_store_get_model(TrmMachineStore *self)
{
    return G_LIST_MODEL(self->machines);
}

static int compare_machines(gconstpointer a, gconstpointer b, gpointer user_data)
{
    TrmMachine *ma = TRM_MACHINE((gpointer)a), *mb = TRM_MACHINE((gpointer)b);
    g_autofree char *fa = g_utf8_casefold(trm_machine_get_name(ma), -1);
    g_autofree char *fb = g_utf8_casefold(trm_machine_get_name(mb), -1);
    g_autofree char *ka = g_utf8_collate_key(fa, -1);
    g_autofree char *kb = g_utf8_collate_key(fb, -1);
    int c = strcmp(ka, kb);
    return c ? c : g_strcmp0(trm_machine_get_uuid(ma), trm_machine_get_uuid(mb));
}

static int compare_machine_ptrs(gconstpointer a, gconstpointer b, gpointer user_data)
{
    return compare_machines(*(gpointer const *)a, *(gpointer const *)b, user_data);
}

void trm_machine_store_reload(TrmMachineStore *self)
{
    g_list_store_remove_all(self->machines);
    g_autoptr(GDir) dir = g_dir_open(self->root, 0, NULL);
    if (!dir)
        return;
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_object_unref);
    const char *entry;
    while ((entry = g_dir_read_name(dir)) && found->len < TRM_MAX_MACHINES) {
        if (!g_uuid_string_is_valid(entry))
            continue;
        g_autofree char *path = g_build_filename(self->root, entry, NULL);
        if (!g_file_test(path, G_FILE_TEST_IS_DIR))
            continue;
        g_ptr_array_add(found, trm_machine_load(path));
    }
    g_ptr_array_sort_with_data(found, compare_machine_ptrs, NULL);
    g_list_store_splice(self->machines, 0, 0, found->pdata, found->len);
}

TrmMachine *trm_machine_store_find(TrmMachineStore *self, const char *uuid)
{
    guint n = g_list_model_get_n_items(G_LIST_MODEL(self->machines));
    for (guint i = 0; i < n; i++) {
        g_autoptr(TrmMachine) m = g_list_model_get_item(G_LIST_MODEL(self->machines), i);
        if (g_ascii_strcasecmp(trm_machine_get_uuid(m), uuid) == 0)
            return m;
    }
    return NULL;
}

TrmMachine *trm_machine_store_create(TrmMachineStore *self, const char *name, GError **error)
{
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *dir = g_build_filename(self->root, uuid, NULL);
    g_autoptr(TrmMachine) m = trm_machine_new(dir, uuid);
    trm_machine_set_name(m, name);
    trm_machine_new_mac(m);
    if (!trm_machine_save(m, error))
        return NULL;
    g_list_store_insert_sorted(self->machines, m, compare_machines, NULL);
    return m;
}

void trm_machine_store_add(TrmMachineStore *self, TrmMachine *machine)
{
    g_list_store_insert_sorted(self->machines, machine, compare_machines, NULL);
}

gboolean trm_machine_store_save(TrmMachineStore *self, TrmMachine *machine, GError **error)
{
    if (!trm_machine_save(machine, error))
        return FALSE;
    g_list_store_sort(self->machines, compare_machines, NULL);
    return TRUE;
}

char *trm_machine_store_dup_kept_disks_dir(TrmMachineStore *self)
{
    return g_build_filename(g_get_user_data_dir(), "terrarium", "kept-disks", NULL);
}

gboolean trm_machine_drive_is_owned(TrmMachine *machine, guint i)
{
    const TrmDrive *d = trm_machine_get_drive(machine, i);
    return d && !d->cdrom && !strchr(d->path, '/') && strcmp(d->path, ".") != 0 &&
           strcmp(d->path, "..") != 0;
}

static gboolean keep_disk(TrmMachineStore *self, TrmMachine *machine, const char *path,
                          GError **error)
{
    g_autofree char *kept = trm_machine_store_dup_kept_disks_dir(self);
    if (g_mkdir_with_parents(kept, 0700) != 0) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                    _("Cannot create the folder %s for the kept disks: %s"), kept, g_strerror(e));
        return FALSE;
    }
    g_autofree char *base = g_path_get_basename(path);
    for (unsigned n = 0; n < 1000; n++) {
        g_autofree char *file =
            n ? g_strdup_printf("%s (%u) - %s", trm_machine_get_name(machine), n, base)
              : g_strdup_printf("%s - %s", trm_machine_get_name(machine), base);
        g_strdelimit(file, "/", '-');
        g_autofree char *dest = g_build_filename(kept, file, NULL);
        if (g_file_test(dest, G_FILE_TEST_EXISTS))
            continue;
        if (g_rename(path, dest) == 0)
            return TRUE;
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                    _("Cannot move the disk %s to %s: %s"), path, kept, g_strerror(e));
        return FALSE;
    }
    g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID, _("Cannot find a free name in %s."), kept);
    return FALSE;
}

gboolean trm_machine_store_delete(TrmMachineStore *self, TrmMachine *machine, gboolean delete_disks,
                                  GError **error)
{
    const char *dir = trm_machine_get_dir(machine);
    for (guint i = 0; i < trm_machine_get_n_drives(machine); i++) {
        if (!trm_machine_drive_is_owned(machine, i))
            continue;
        g_autofree char *path = trm_machine_dup_drive_path(machine, i);
        if (!g_file_test(path, G_FILE_TEST_EXISTS))
            continue;
        if (delete_disks) {
            if (g_unlink(path) != 0 && errno != ENOENT) {
                int e = errno;
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                            _("Cannot delete the disk %s: %s"), path, g_strerror(e));
                return FALSE;
            }
        } else if (!keep_disk(self, machine, path, error)) {
            return FALSE;
        }
    }
    g_autoptr(TrmSnapshotTree) snapshots = trm_snapshot_tree_load(dir);
    trm_snapshot_tree_remove_files(snapshots);
    /* Only the files we put there; a directory someone filled by hand stays. */
    static const char *const ours[] = {"machine.ini", "machine.log", "thumbnail.png"};
    for (size_t i = 0; i < G_N_ELEMENTS(ours); i++) {
        g_autofree char *p = g_build_filename(dir, ours[i], NULL);
        g_unlink(p);
    }
    gboolean ok = TRUE;
    if (g_rmdir(dir) != 0 && errno != ENOENT) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID,
                    _("The machine is gone, but its folder %s still holds other files."), dir);
        ok = FALSE;
    }
    guint pos;
    if (g_list_store_find(self->machines, machine, &pos))
        g_list_store_remove(self->machines, pos);
    return ok;
}
