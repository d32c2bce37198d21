/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A machine's snapshot tree, kept in its directory. The disks hold the data
 * (qcow2 internal snapshots named by the snapshot's id), the folder holds
 * what people see (name, description, thumbnail) and the RAM state. A
 * snapshot exists once its snapshot.ini is written, last, so an interrupted
 * take leaves only a folder the next load ignores.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trm-error.h"
#include "trm-snapshot-tree.h"
#include "vmm/disk.h"

#define SNAPSHOTS "snapshots"
#define CURRENT "current"
#define INI "snapshot.ini"
#define THUMBNAIL "thumbnail.png"
#define STATE "state"
/* More than this many snapshot folders are not looked at. */
#define MAX_SNAPSHOTS 1000

struct _TrmSnapshotTree {
    GObject parent_instance;
    char *dir;            /* <machine>/snapshots */
    GPtrArray *snapshots; /* TrmSnapshot, oldest first */
    char *current;
    guint n_broken;
};

G_DEFINE_FINAL_TYPE(TrmSnapshotTree, trm_snapshot_tree, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void trm_snapshot_tree_finalize(GObject *object)
{
    TrmSnapshotTree *self = TRM_SNAPSHOT_TREE(object);
    g_free(self->dir);
    g_ptr_array_unref(self->snapshots);
    g_free(self->current);
    G_OBJECT_CLASS(trm_snapshot_tree_parent_class)->finalize(object);
}

static void trm_snapshot_tree_class_init(TrmSnapshotTreeClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = trm_snapshot_tree_finalize;
    signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void trm_snapshot_tree_init(TrmSnapshotTree *self)
{
    self->snapshots = g_ptr_array_new_with_free_func(g_object_unref);
}

static int by_date(gconstpointer a, gconstpointer b)
{
    TrmSnapshot *x = *(TrmSnapshot **)a, *y = *(TrmSnapshot **)b;
    gint64 dx = trm_snapshot_get_date(x), dy = trm_snapshot_get_date(y);
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return strcmp(trm_snapshot_get_id(x), trm_snapshot_get_id(y));
}

TrmSnapshot *trm_snapshot_tree_find(TrmSnapshotTree *self, const char *id)
{
    if (!id)
        return NULL;
    for (guint i = 0; i < self->snapshots->len; i++) {
        TrmSnapshot *s = g_ptr_array_index(self->snapshots, i);
        if (strcmp(trm_snapshot_get_id(s), id) == 0)
            return s;
    }
    return NULL;
}

/* A parent that is missing or leads round in a circle makes a snapshot a root. */
static void fix_parents(TrmSnapshotTree *self)
{
    guint n = self->snapshots->len;
    for (guint i = 0; i < n; i++) {
        TrmSnapshot *s = g_ptr_array_index(self->snapshots, i);
        if (trm_snapshot_get_parent(s) && !trm_snapshot_tree_find(self, trm_snapshot_get_parent(s)))
            trm_snapshot_set_parent(s, NULL);
    }
    /* Each cycle is cut at its first member met; a walk from outside a cycle may go round
     * one not cut yet, so it stops after n steps without judging. */
    for (guint i = 0; i < n; i++) {
        TrmSnapshot *s = g_ptr_array_index(self->snapshots, i);
        TrmSnapshot *p = s;
        for (guint steps = 0; p && steps <= n; steps++) {
            p = trm_snapshot_tree_find(self, trm_snapshot_get_parent(p));
            if (p == s) {
                trm_snapshot_set_parent(s, NULL);
                break;
            }
        }
    }
}

static char *read_small_file(const char *path, gsize max, gsize *len)
{
    /* A bounded read: a hostile folder may hold a huge file or a FIFO. */
    int fd = g_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    GStatBuf st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (gsize)st.st_size > max) {
        close(fd);
        return NULL;
    }
    char *buf = g_malloc(max + 1);
    gsize got = 0;
    while (got <= max) {
        gssize r = read(fd, buf + got, max + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += r;
    }
    close(fd);
    if (got > max) {
        g_free(buf);
        return NULL;
    }
    buf[got] = 0;
    *len = got;
    return buf;
}

TrmSnapshotTree *trm_snapshot_tree_load(const char *machine_dir)
{
    TrmSnapshotTree *self = g_object_new(TRM_TYPE_SNAPSHOT_TREE, NULL);
    self->dir = g_build_filename(machine_dir, SNAPSHOTS, NULL);
    g_autoptr(GDir) d = g_dir_open(self->dir, 0, NULL);
    const char *entry;
    guint seen = 0;
    while (d && (entry = g_dir_read_name(d)) && seen < MAX_SNAPSHOTS) {
        if (strcmp(entry, CURRENT) == 0 || g_str_has_suffix(entry, ".tmp"))
            continue;
        seen++;
        g_autofree char *path = g_build_filename(self->dir, entry, INI, NULL);
        gsize len = 0;
        g_autofree char *data = read_small_file(path, TRM_SNAPSHOT_INI_MAX, &len);
        if (!data) {
            /* A folder without snapshot.ini is an interrupted take, not a broken snapshot. */
            if (trm_snapshot_id_is_valid(entry) && !g_file_test(path, G_FILE_TEST_EXISTS))
                continue;
            self->n_broken++;
            continue;
        }
        g_autoptr(GError) error = NULL;
        TrmSnapshot *s = trm_snapshot_new_from_data(entry, data, len, &error);
        if (!s) {
            g_debug("skipping snapshot %s: %s", entry, error->message);
            self->n_broken++;
            continue;
        }
        g_ptr_array_add(self->snapshots, s);
    }
    g_ptr_array_sort(self->snapshots, by_date);
    fix_parents(self);
    g_autofree char *cur_path = g_build_filename(self->dir, CURRENT, NULL);
    gsize len = 0;
    g_autofree char *cur = read_small_file(cur_path, 64, &len);
    if (cur) {
        g_strstrip(cur);
        if (trm_snapshot_tree_find(self, cur))
            self->current = g_strdup(cur);
    }
    return self;
}

guint trm_snapshot_tree_get_n_broken(TrmSnapshotTree *self)
{
    return self->n_broken;
}

GPtrArray *trm_snapshot_tree_list(TrmSnapshotTree *self)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    for (guint i = 0; i < self->snapshots->len; i++)
        g_ptr_array_add(out, g_object_ref(g_ptr_array_index(self->snapshots, i)));
    return out;
}

GPtrArray *trm_snapshot_tree_get_children(TrmSnapshotTree *self, const char *id)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    for (guint i = 0; i < self->snapshots->len; i++) {
        TrmSnapshot *s = g_ptr_array_index(self->snapshots, i);
        if (g_strcmp0(trm_snapshot_get_parent(s), id) == 0)
            g_ptr_array_add(out, g_object_ref(s));
    }
    return out;
}

const char *trm_snapshot_tree_get_current(TrmSnapshotTree *self)
{
    return self->current;
}

char *trm_snapshot_tree_dup_dir(TrmSnapshotTree *self, const char *id)
{
    g_return_val_if_fail(trm_snapshot_id_is_valid(id), NULL);
    return g_build_filename(self->dir, id, NULL);
}

char *trm_snapshot_tree_dup_state_dir(TrmSnapshotTree *self, const char *id)
{
    g_return_val_if_fail(trm_snapshot_id_is_valid(id), NULL);
    return g_build_filename(self->dir, id, STATE, NULL);
}

char *trm_snapshot_tree_dup_thumbnail_path(TrmSnapshotTree *self, const char *id)
{
    g_return_val_if_fail(trm_snapshot_id_is_valid(id), NULL);
    return g_build_filename(self->dir, id, THUMBNAIL, NULL);
}

GBytes *trm_snapshot_tree_load_thumbnail(TrmSnapshotTree *self, const char *id)
{
    if (!trm_snapshot_id_is_valid(id))
        return NULL;
    g_autofree char *path = trm_snapshot_tree_dup_thumbnail_path(self, id);
    gsize len = 0;
    char *data = read_small_file(path, TRM_SNAPSHOT_THUMBNAIL_MAX, &len);
    return data ? g_bytes_new_take(data, len) : NULL;
}

static gboolean write_file(const char *path, const void *data, gsize len, GError **error)
{
    g_autoptr(GError) e = NULL;
    if (!g_file_set_contents_full(path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &e)) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE,
                    _("The snapshot could not be written (%s). Check that the disk is not full."),
                    e->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean save_current(TrmSnapshotTree *self, const char *id, GError **error)
{
    g_autofree char *path = g_build_filename(self->dir, CURRENT, NULL);
    if (!id) {
        if (g_unlink(path) < 0 && errno != ENOENT) {
            g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE,
                        _("The snapshot list could not be updated (%s)."), g_strerror(errno));
            return FALSE;
        }
    } else if (!write_file(path, id, strlen(id), error)) {
        return FALSE;
    }
    g_free(self->current);
    self->current = g_strdup(id);
    return TRUE;
}

static gboolean save_ini(TrmSnapshotTree *self, TrmSnapshot *s, GError **error)
{
    g_autofree char *path = g_build_filename(self->dir, trm_snapshot_get_id(s), INI, NULL);
    gsize len = 0;
    g_autofree char *data = trm_snapshot_to_data(s, &len);
    return write_file(path, data, len, error);
}

TrmSnapshot *trm_snapshot_tree_begin(TrmSnapshotTree *self, const char *name,
                                     const char *description, gboolean ram, GError **error)
{
    if (!trm_snapshot_name_is_valid(name)) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID,
                    _("A snapshot needs a name of one line of text."));
        return NULL;
    }
    if (description && strlen(description) > TRM_SNAPSHOT_DESCRIPTION_MAX) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID,
                    _("The description is too long; keep it under 4000 characters."));
        return NULL;
    }
    if (g_mkdir_with_parents(self->dir, 0700) < 0) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE,
                    _("The snapshots folder %s could not be created (%s)."), self->dir,
                    g_strerror(errno));
        return NULL;
    }
    for (int tries = 0; tries < 16; tries++) {
        char id[TRM_SNAPSHOT_ID_LEN + 1];
        g_snprintf(id, sizeof(id), "%08x%08x", g_random_int(), g_random_int());
        g_autofree char *dir = g_build_filename(self->dir, id, NULL);
        if (g_mkdir(dir, 0700) < 0) {
            if (errno == EEXIST)
                continue;
            g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE,
                        _("The snapshot folder could not be created (%s)."), g_strerror(errno));
            return NULL;
        }
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        /* Never older than its parent: the list sorts by date. */
        TrmSnapshot *parent = trm_snapshot_tree_find(self, self->current);
        if (parent && trm_snapshot_get_date(parent) > now)
            now = trm_snapshot_get_date(parent);
        return trm_snapshot_new(id, name, description, now, self->current, ram);
    }
    g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE, _("No free snapshot id was found."));
    return NULL;
}

static void remove_tree(const char *path, int depth)
{
    if (depth > 4)
        return;
    GDir *d = g_dir_open(path, 0, NULL);
    if (d) {
        const char *e;
        while ((e = g_dir_read_name(d))) {
            g_autofree char *child = g_build_filename(path, e, NULL);
            if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
                !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
                remove_tree(child, depth + 1);
            else
                g_unlink(child);
        }
        g_dir_close(d);
    }
    g_rmdir(path);
}

void trm_snapshot_tree_abort(TrmSnapshotTree *self, TrmSnapshot *snapshot)
{
    g_autofree char *dir = trm_snapshot_tree_dup_dir(self, trm_snapshot_get_id(snapshot));
    remove_tree(dir, 0);
}

gboolean trm_snapshot_tree_commit(TrmSnapshotTree *self, TrmSnapshot *snapshot,
                                  GBytes *thumbnail_png, GError **error)
{
    const char *id = trm_snapshot_get_id(snapshot);
    if (thumbnail_png) {
        g_autofree char *path = trm_snapshot_tree_dup_thumbnail_path(self, id);
        gsize len;
        const void *data = g_bytes_get_data(thumbnail_png, &len);
        if (!write_file(path, data, len, error))
            return FALSE;
    }
    if (!save_ini(self, snapshot, error))
        return FALSE;
    g_ptr_array_add(self->snapshots, g_object_ref(snapshot));
    g_ptr_array_sort(self->snapshots, by_date);
    g_autoptr(GError) e = NULL;
    if (!save_current(self, id, &e))
        g_warning("snapshot %s taken, but not made current: %s", id, e->message);
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
    return TRUE;
}

/* ---- The disks of a machine that is off ---- */

typedef int (*DiskOp)(struct vmm_disk *disk, const char *id, struct vmm_error *err);

static int op_create(struct vmm_disk *disk, const char *id, struct vmm_error *err)
{
    return vmm_disk_snapshot_create(disk, id, 0, err);
}

static int op_apply(struct vmm_disk *disk, const char *id, struct vmm_error *err)
{
    return vmm_disk_snapshot_apply(disk, id, err);
}

static int op_delete(struct vmm_disk *disk, const char *id, struct vmm_error *err)
{
    int r = vmm_disk_snapshot_delete(disk, id, err);
    return r == -ENOENT ? 0 : r; /* a disk added after the snapshot */
}

static gboolean disks_do(TrmMachine *machine, const char *id, DiskOp op, DiskOp undo,
                         GError **error)
{
    struct vmm_disk *done[TRM_MAX_DRIVES];
    guint ndone = 0;
    gboolean ok = TRUE;
    for (guint i = 0; i < trm_machine_get_n_drives(machine) && i < TRM_MAX_DRIVES; i++) {
        const TrmDrive *d = trm_machine_get_drive(machine, i);
        if (d->cdrom || d->readonly)
            continue;
        g_autofree char *path = trm_machine_dup_drive_path(machine, i);
        struct vmm_error err = {0};
        struct vmm_disk *disk = vmm_disk_open(path, 0, &err);
        if (!disk) {
            g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE,
                        _("The disk %s could not be opened: %s"), path, err.msg);
            ok = FALSE;
            break;
        }
        struct vmm_disk_info info;
        vmm_disk_get_info(disk, &info);
        if (info.format != VMM_DISK_QCOW2) {
            vmm_disk_close(disk);
            if (op == op_delete)
                continue; /* it never held one */
            g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID,
                        _("The disk %s is a raw image, which cannot hold snapshots. Convert it "
                          "to qcow2 to take snapshots of this machine."),
                        path);
            ok = FALSE;
            break;
        }
        if (op(disk, id, &err) < 0) {
            g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE, _("The disk %s: %s"), path,
                        err.msg);
            vmm_disk_close(disk);
            ok = FALSE;
            break;
        }
        if (undo)
            done[ndone++] = disk;
        else
            vmm_disk_close(disk);
    }
    for (guint i = 0; i < ndone; i++) {
        struct vmm_error ignored = {0};
        if (!ok && undo(done[i], id, &ignored) < 0)
            g_warning("snapshot %s left on a disk: %s", id, ignored.msg);
        vmm_disk_close(done[i]);
    }
    return ok;
}

gboolean trm_snapshot_disks_create(TrmMachine *machine, const char *id, GError **error)
{
    return disks_do(machine, id, op_create, op_delete, error);
}

gboolean trm_snapshot_disks_apply(TrmMachine *machine, const char *id, GError **error)
{
    return disks_do(machine, id, op_apply, NULL, error);
}

gboolean trm_snapshot_disks_delete(TrmMachine *machine, const char *id, GError **error)
{
    return disks_do(machine, id, op_delete, NULL, error);
}

TrmSnapshot *trm_snapshot_tree_take_offline(TrmSnapshotTree *self, TrmMachine *machine,
                                            const char *name, const char *description,
                                            GBytes *thumbnail_png, GError **error)
{
    g_autoptr(TrmSnapshot) s = trm_snapshot_tree_begin(self, name, description, FALSE, error);
    if (!s)
        return NULL;
    if (!trm_snapshot_disks_create(machine, trm_snapshot_get_id(s), error)) {
        trm_snapshot_tree_abort(self, s);
        return NULL;
    }
    if (!trm_snapshot_tree_commit(self, s, thumbnail_png, error)) {
        g_autoptr(GError) ignored = NULL;
        trm_snapshot_disks_delete(machine, trm_snapshot_get_id(s), &ignored);
        trm_snapshot_tree_abort(self, s);
        return NULL;
    }
    return g_steal_pointer(&s);
}

static gboolean not_found(GError **error)
{
    g_set_error(error, TRM_ERROR, TRM_ERROR_NOT_FOUND,
                _("This snapshot no longer exists; reopen the snapshot list."));
    return FALSE;
}

gboolean trm_snapshot_tree_restore_disks(TrmSnapshotTree *self, TrmMachine *machine, const char *id,
                                         GError **error)
{
    TrmSnapshot *s = trm_snapshot_tree_find(self, id);
    if (!s)
        return not_found(error);
    if (!trm_snapshot_disks_apply(machine, id, error))
        return FALSE;
    if (!save_current(self, id, error))
        return FALSE;
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
    return TRUE;
}

gboolean trm_snapshot_tree_delete(TrmSnapshotTree *self, TrmMachine *machine, const char *id,
                                  GError **error)
{
    TrmSnapshot *found = trm_snapshot_tree_find(self, id);
    if (!found)
        return not_found(error);
    g_autoptr(TrmSnapshot) s = g_object_ref(found); /* outlives its removal from the list */
    if (machine && !trm_snapshot_disks_delete(machine, id, error))
        return FALSE;
    const char *parent = trm_snapshot_get_parent(s);
    for (guint i = 0; i < self->snapshots->len; i++) {
        TrmSnapshot *c = g_ptr_array_index(self->snapshots, i);
        if (g_strcmp0(trm_snapshot_get_parent(c), id) != 0)
            continue;
        trm_snapshot_set_parent(c, parent);
        if (!save_ini(self, c, error))
            return FALSE;
    }
    if (g_strcmp0(self->current, id) == 0 && !save_current(self, parent, error))
        return FALSE;
    g_ptr_array_remove(self->snapshots, s);
    trm_snapshot_tree_abort(self, s);
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
    return TRUE;
}

gboolean trm_snapshot_tree_rename(TrmSnapshotTree *self, const char *id, const char *name,
                                  GError **error)
{
    TrmSnapshot *s = trm_snapshot_tree_find(self, id);
    if (!s)
        return not_found(error);
    if (!trm_snapshot_name_is_valid(name)) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID,
                    _("A snapshot needs a name of one line of text."));
        return FALSE;
    }
    g_autofree char *old = g_strdup(trm_snapshot_get_name(s));
    trm_snapshot_set_name(s, name);
    if (!save_ini(self, s, error)) {
        trm_snapshot_set_name(s, old);
        return FALSE;
    }
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
    return TRUE;
}

void trm_snapshot_tree_remove_files(TrmSnapshotTree *self)
{
    while (self->snapshots->len) {
        TrmSnapshot *s = g_ptr_array_index(self->snapshots, self->snapshots->len - 1);
        trm_snapshot_tree_abort(self, s);
        g_ptr_array_remove_index(self->snapshots, self->snapshots->len - 1);
    }
    /* Interrupted takes too: folders named like ours without a snapshot.ini. */
    g_autoptr(GDir) d = g_dir_open(self->dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(self->dir, e, INI, NULL);
        if (trm_snapshot_id_is_valid(e) && !g_file_test(path, G_FILE_TEST_EXISTS)) {
            g_autofree char *dir = g_build_filename(self->dir, e, NULL);
            remove_tree(dir, 0);
        }
    }
    save_current(self, NULL, NULL);
    g_rmdir(self->dir);
}
