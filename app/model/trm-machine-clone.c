/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A new machine cloned from a snapshot of another: new UUID, "<name> (clone)",
 * a new MAC, and for every writable disk a new standalone qcow2 image holding
 * the disk as it was in the snapshot (read through vmm_disk_open_snapshot(),
 * a read-only view, so the source may even be running). CD/DVD images and
 * read-only disks are shared by path. A disk added after the snapshot was
 * taken was not part of the machine then and is left out.
 *
 * The clone starts from the snapshot's disks with a cold boot. It also keeps
 * the snapshot itself as its own first snapshot (the same id on its new disks,
 * snapshot.ini, thumbnail and, for a snapshot with RAM, the saved machine
 * state linked in), so restoring that snapshot in the clone resumes exactly
 * where the original was: the RAM state only ever runs on the disks it was
 * taken with.
 *
 * The copy runs in a GTask thread with progress; machine.ini is written last,
 * so an interrupted clone is a folder the store does not list, removed here.
 */
#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "trm-error.h"
#include "trm-machine-store-private.h"
#include "trm-snapshot-tree.h"
#include "vmm/disk.h"

#define CHUNK (1u << 20)
#define CLONE_SUFFIX " (clone)"

typedef struct {
    char *src;    /* absolute path of the source image */
    char *target; /* absolute path of the new image */
    struct vmm_disk *view;
    gboolean skip; /* the disk holds no such snapshot: added after it */
} CloneJob;

typedef struct {
    TrmMachine *source; /* main thread only */
    char *id;
    char *uuid;
    char *dir;
    char *src_snap_dir; /* <source>/snapshots/<id> */
    GArray *jobs;       /* CloneJob, one per source drive (src NULL: shared drive) */
    TrmDiskProgressFunc progress;
    gpointer progress_data;
    GMainContext *context;
    int last_percent;
} CloneData;

typedef struct {
    TrmDiskProgressFunc progress;
    gpointer progress_data;
    double fraction;
} ProgressMsg;

static void job_clear(gpointer p)
{
    CloneJob *j = p;
    g_free(j->src);
    g_free(j->target);
    vmm_disk_close(j->view);
}

static void clone_data_free(gpointer p)
{
    CloneData *cd = p;
    g_clear_object(&cd->source);
    g_free(cd->id);
    g_free(cd->uuid);
    g_free(cd->dir);
    g_free(cd->src_snap_dir);
    g_array_unref(cd->jobs);
    if (cd->context)
        g_main_context_unref(cd->context);
    g_free(cd);
}

static gboolean deliver_progress(gpointer p)
{
    ProgressMsg *m = p;
    m->progress(m->fraction, m->progress_data);
    return G_SOURCE_REMOVE;
}

/* From the thread: at most one message per percent. */
static void report(CloneData *cd, guint64 done, guint64 total)
{
    int percent = total ? (int)(done * 100 / total) : 100;
    if (!cd->progress || percent == cd->last_percent)
        return;
    cd->last_percent = percent;
    ProgressMsg *m = g_new(ProgressMsg, 1);
    m->progress = cd->progress;
    m->progress_data = cd->progress_data;
    m->fraction = percent / 100.0;
    g_main_context_invoke_full(cd->context, G_PRIORITY_DEFAULT, deliver_progress, m, g_free);
}

/* Only what this clone put in its own folder: a bounded walk, no symlinks followed. */
static void remove_tree(const char *path, int depth)
{
    if (depth > 4)
        return;
    if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
        g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
        const char *e;
        while (d && (e = g_dir_read_name(d))) {
            g_autofree char *child = g_build_filename(path, e, NULL);
            remove_tree(child, depth + 1);
        }
        g_rmdir(path);
    } else {
        g_unlink(path);
    }
}

static gboolean disk_error(GError **error, const char *path, const struct vmm_error *err, int r)
{
    if (r == -ENOSPC || r == -EDQUOT)
        g_set_error(error, TRM_ERROR, TRM_ERROR_NO_SPACE,
                    _("There is not enough free space for the clone's disk %s. Free some space "
                      "and try again."),
                    path);
    else
        g_set_error(error, TRM_ERROR, TRM_ERROR_UNREADABLE, _("The disk %s: %s"), path,
                    err->msg[0] ? err->msg : g_strerror(-r));
    return FALSE;
}

static gboolean all_zero(const guint8 *p, gsize n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Copies one snapshot view into a new qcow2 image and gives it the snapshot too. */
static gboolean copy_disk(CloneData *cd, CloneJob *j, guint64 *done, guint64 total,
                          GCancellable *cancel, GError **error)
{
    struct vmm_error err = {0};
    guint64 size = vmm_disk_size(j->view);
    int r = vmm_qcow2_create(j->target, size, 0, NULL, NULL, &err);
    if (r < 0)
        return disk_error(error, j->target, &err, r);
    struct vmm_disk *out = vmm_disk_open(j->target, VMM_DISK_FORMAT_QCOW2, &err);
    if (!out)
        return disk_error(error, j->target, &err, err.code ? err.code : -EIO);
    g_autofree guint8 *buf = g_malloc(CHUNK);
    gboolean ok = TRUE;
    for (guint64 off = 0; ok && off < size; off += CHUNK) {
        gsize n = (gsize)MIN((guint64)CHUNK, size - off);
        if (g_cancellable_set_error_if_cancelled(cancel, error)) {
            ok = FALSE;
            break;
        }
        if ((r = vmm_disk_pread(j->view, buf, n, off)) < 0) {
            ok = disk_error(error, j->src, &err, r);
            break;
        }
        /* Unwritten stretches stay unallocated: the clone is as sparse as the data allows. */
        if (!all_zero(buf, n) && (r = vmm_disk_pwrite(out, buf, n, off)) < 0) {
            ok = disk_error(error, j->target, &err, r);
            break;
        }
        *done += n;
        report(cd, *done, total);
    }
    if (ok && (r = vmm_disk_flush(out)) < 0)
        ok = disk_error(error, j->target, &err, r);
    if (ok && (r = vmm_disk_snapshot_create(out, cd->id, 0, &err)) < 0)
        ok = disk_error(error, j->target, &err, r);
    vmm_disk_close(out);
    return ok;
}

static gboolean copy_file(const char *from, const char *to, GError **error)
{
    /* A hard link when it can (state files are written once, never changed). */
    if (link(from, to) == 0)
        return TRUE;
    g_autoptr(GFile) f = g_file_new_for_path(from);
    g_autoptr(GFile) t = g_file_new_for_path(to);
    return g_file_copy(f, t, G_FILE_COPY_NOFOLLOW_SYMLINKS, NULL, NULL, NULL, error);
}

/* The snapshot comes along: snapshot.ini (a root now, and current), thumbnail, state. */
static gboolean copy_snapshot_files(CloneData *cd, GError **error)
{
    g_autofree char *snaps = g_build_filename(cd->dir, "snapshots", NULL);
    g_autofree char *dest = g_build_filename(snaps, cd->id, NULL);
    if (g_mkdir_with_parents(dest, 0700) != 0) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), _("Cannot create %s: %s"), dest,
                    g_strerror(e));
        return FALSE;
    }
    g_autofree char *ini = g_build_filename(cd->src_snap_dir, "snapshot.ini", NULL);
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(ini, &data, &len, error))
        return FALSE;
    g_autoptr(TrmSnapshot) s = trm_snapshot_new_from_data(cd->id, data, len, error);
    if (!s)
        return FALSE;
    trm_snapshot_set_parent(s, NULL);
    g_autofree char *out = trm_snapshot_to_data(s, &len);
    g_autofree char *out_path = g_build_filename(dest, "snapshot.ini", NULL);
    if (!g_file_set_contents(out_path, out, (gssize)len, error))
        return FALSE;
    g_autofree char *thumb = g_build_filename(cd->src_snap_dir, "thumbnail.png", NULL);
    g_autofree char *thumb_to = g_build_filename(dest, "thumbnail.png", NULL);
    if (g_file_test(thumb, G_FILE_TEST_IS_REGULAR) && !copy_file(thumb, thumb_to, NULL))
        g_message("clone: the snapshot's thumbnail was not copied");
    if (trm_snapshot_get_ram(s)) {
        g_autofree char *state = g_build_filename(cd->src_snap_dir, "state", NULL);
        g_autofree char *state_to = g_build_filename(dest, "state", NULL);
        if (g_mkdir(state_to, 0700) != 0) {
            int e = errno;
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), _("Cannot create %s: %s"),
                        state_to, g_strerror(e));
            return FALSE;
        }
        g_autoptr(GDir) d = g_dir_open(state, 0, error);
        if (!d)
            return FALSE;
        const char *e;
        while ((e = g_dir_read_name(d))) {
            g_autofree char *from = g_build_filename(state, e, NULL);
            g_autofree char *to = g_build_filename(state_to, e, NULL);
            if (!g_file_test(from, G_FILE_TEST_IS_REGULAR) ||
                g_file_test(from, G_FILE_TEST_IS_SYMLINK))
                continue;
            if (!copy_file(from, to, error))
                return FALSE;
        }
    }
    g_autofree char *current = g_build_filename(snaps, "current", NULL);
    return g_file_set_contents(current, cd->id, -1, error);
}

static void clone_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    CloneData *cd = data;
    GError *error = NULL;
    if (g_mkdir_with_parents(cd->dir, 0700) != 0) {
        int e = errno;
        g_task_return_new_error(task, G_IO_ERROR, g_io_error_from_errno(e),
                                _("Cannot create the folder %s: %s"), cd->dir, g_strerror(e));
        return;
    }
    guint64 total = 0, done = 0;
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < cd->jobs->len; i++) {
        CloneJob *j = &g_array_index(cd->jobs, CloneJob, i);
        if (!j->src)
            continue;
        struct vmm_error err = {0};
        if (!g_file_test(j->src, G_FILE_TEST_EXISTS)) {
            /* Not "added after the snapshot" (that is -ENOENT too): the disk is gone. */
            g_set_error(&error, TRM_ERROR, TRM_ERROR_UNREADABLE,
                        _("The disk %s is missing, so the snapshot cannot be cloned."), j->src);
            ok = FALSE;
            break;
        }
        j->view = vmm_disk_open_snapshot(j->src, cd->id, &err);
        if (!j->view && err.code == -ENOENT) {
            j->skip = TRUE;
            g_message("clone: %s was added after snapshot %s; the clone goes without it", j->src,
                      cd->id);
        } else if (!j->view) {
            ok = disk_error(&error, j->src, &err, err.code ? err.code : -EIO);
        } else {
            total += vmm_disk_size(j->view);
        }
    }
    for (guint i = 0; ok && i < cd->jobs->len; i++) {
        CloneJob *j = &g_array_index(cd->jobs, CloneJob, i);
        if (j->view)
            ok = copy_disk(cd, j, &done, total, cancel, &error);
    }
    if (ok)
        ok = copy_snapshot_files(cd, &error);
    if (!ok) {
        remove_tree(cd->dir, 0);
        g_task_return_error(task, error);
        return;
    }
    g_task_return_boolean(task, TRUE);
}

static char *clone_name(const char *name)
{
    gsize keep = strlen(name);
    if (keep + strlen(CLONE_SUFFIX) > TRM_MAX_NAME_LEN) {
        keep = TRM_MAX_NAME_LEN - strlen(CLONE_SUFFIX);
        /* Cut at a character boundary. */
        const char *end = g_utf8_find_prev_char(name, name + keep + 1);
        keep = end ? (gsize)(end - name) : 0;
    }
    return g_strdup_printf("%.*s" CLONE_SUFFIX, (int)keep, name);
}

/* machine.ini of the clone: the source's settings, its own identity and disks. */
static TrmMachine *build_machine(CloneData *cd, GError **error)
{
    gsize len = 0;
    g_autofree char *data = trm_machine_to_data(cd->source, &len);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, error))
        return NULL;
    g_key_file_set_string(kf, "Machine", "Uuid", cd->uuid);
    g_free(data);
    data = g_key_file_to_data(kf, &len, NULL);
    g_autoptr(TrmMachine) m = trm_machine_new(cd->dir, cd->uuid);
    if (!trm_machine_load_from_data(m, data, len, error))
        return NULL;
    g_autofree char *name = clone_name(trm_machine_get_name(cd->source));
    trm_machine_set_name(m, name);
    trm_machine_new_mac(m);
    for (guint i = cd->jobs->len; i-- > 0;) {
        CloneJob *j = &g_array_index(cd->jobs, CloneJob, i);
        if (j->skip) {
            trm_machine_remove_drive(m, i);
            continue;
        }
        g_autofree char *path =
            j->src ? g_path_get_basename(j->target) : trm_machine_dup_drive_path(cd->source, i);
        if (!trm_machine_set_drive_path(m, i, path, error))
            return NULL;
    }
    if (!trm_machine_save(m, error))
        return NULL;
    return g_steal_pointer(&m);
}

static void on_copied(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *outer = data;
    TrmMachineStore *self = g_task_get_source_object(outer);
    CloneData *cd = g_task_get_task_data(G_TASK(res));
    GError *error = NULL;
    if (!g_task_propagate_boolean(G_TASK(res), &error)) {
        g_task_return_error(outer, error);
    } else {
        TrmMachine *m = build_machine(cd, &error);
        if (!m) {
            remove_tree(cd->dir, 0);
            g_task_return_error(outer, error);
        } else {
            trm_machine_store_add(self, m);
            g_task_return_pointer(outer, m, g_object_unref);
        }
    }
    g_object_unref(outer);
}

void trm_machine_store_clone_async(TrmMachineStore *self, TrmMachine *source,
                                   const char *snapshot_id, GCancellable *cancellable,
                                   TrmDiskProgressFunc progress, gpointer progress_data,
                                   GAsyncReadyCallback cb, gpointer user_data)
{
    GTask *outer = g_task_new(self, cancellable, cb, user_data);
    g_task_set_source_tag(outer, trm_machine_store_clone_async);
    g_autoptr(TrmSnapshotTree) tree = trm_snapshot_tree_load(trm_machine_get_dir(source));
    if (trm_machine_get_broken_reason(source) || !trm_snapshot_tree_find(tree, snapshot_id)) {
        g_task_return_new_error(outer, TRM_ERROR, TRM_ERROR_NOT_FOUND,
                                _("This snapshot no longer exists; reopen the snapshot list."));
        g_object_unref(outer);
        return;
    }
    CloneData *cd = g_new0(CloneData, 1);
    cd->source = g_object_ref(source);
    cd->id = g_strdup(snapshot_id);
    cd->uuid = g_uuid_string_random();
    cd->dir = g_build_filename(trm_machine_store_get_root(self), cd->uuid, NULL);
    cd->src_snap_dir = trm_snapshot_tree_dup_dir(tree, snapshot_id);
    cd->progress = progress;
    cd->progress_data = progress_data;
    cd->context = g_main_context_ref_thread_default();
    cd->last_percent = -1;
    cd->jobs = g_array_new(FALSE, TRUE, sizeof(CloneJob));
    g_array_set_clear_func(cd->jobs, job_clear);
    guint ncopies = 0;
    for (guint i = 0; i < trm_machine_get_n_drives(source); i++) {
        const TrmDrive *d = trm_machine_get_drive(source, i);
        CloneJob j = {0};
        if (!d->cdrom && !d->readonly) {
            j.src = trm_machine_dup_drive_path(source, i);
            g_autofree char *name =
                ncopies++ ? g_strdup_printf("disk-%u.qcow2", ncopies) : g_strdup("disk.qcow2");
            j.target = g_build_filename(cd->dir, name, NULL);
        }
        g_array_append_val(cd->jobs, j);
    }
    GTask *task = g_task_new(self, cancellable, on_copied, outer);
    g_task_set_task_data(task, cd, clone_data_free);
    g_task_run_in_thread(task, clone_thread);
    g_object_unref(task);
}

TrmMachine *trm_machine_store_clone_finish(TrmMachineStore *self, GAsyncResult *res, GError **error)
{
    return g_task_propagate_pointer(G_TASK(res), error);
}
