/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "trm-machine.h"
#include "trm-snapshot.h"

G_BEGIN_DECLS

/*
 * A machine's snapshots: <machine>/snapshots/<id>/ for each, and
 * snapshots/current naming the snapshot the machine's present state
 * descends from (the parent of the next one taken). Loading never fails:
 * folders whose snapshot.ini cannot be used are skipped and counted, a
 * parent that is missing or would make a cycle makes the snapshot a root.
 * "changed" is emitted after every change made through the tree.
 */
#define TRM_TYPE_SNAPSHOT_TREE (trm_snapshot_tree_get_type())
G_DECLARE_FINAL_TYPE(TrmSnapshotTree, trm_snapshot_tree, TRM, SNAPSHOT_TREE, GObject)

TrmSnapshotTree *trm_snapshot_tree_load(const char *machine_dir);
/* Folders skipped at load because their snapshot.ini could not be used. */
guint trm_snapshot_tree_get_n_broken(TrmSnapshotTree *self);

/* Every snapshot, oldest first (a new array of new references). */
GPtrArray *trm_snapshot_tree_list(TrmSnapshotTree *self);
/* Children of id (NULL: the roots), oldest first. */
GPtrArray *trm_snapshot_tree_get_children(TrmSnapshotTree *self, const char *id);
TrmSnapshot *trm_snapshot_tree_find(TrmSnapshotTree *self, const char *id);
/* May be NULL. */
const char *trm_snapshot_tree_get_current(TrmSnapshotTree *self);

char *trm_snapshot_tree_dup_dir(TrmSnapshotTree *self, const char *id);
/* The machine state directory (vmm_vm_save_state) of a snapshot with RAM. */
char *trm_snapshot_tree_dup_state_dir(TrmSnapshotTree *self, const char *id);
char *trm_snapshot_tree_dup_thumbnail_path(TrmSnapshotTree *self, const char *id);
/* The thumbnail PNG, or NULL (none, or larger than TRM_SNAPSHOT_THUMBNAIL_MAX). */
GBytes *trm_snapshot_tree_load_thumbnail(TrmSnapshotTree *self, const char *id);

/*
 * Taking a snapshot, in steps so a running machine does its part between them:
 * begin makes a new id and its folder (the parent is the current snapshot);
 * the caller takes the disks' internal snapshots named by the id (and with RAM
 * saves the state into dup_state_dir); commit writes the thumbnail and
 * snapshot.ini and makes it current; abort removes the folder.
 */
TrmSnapshot *trm_snapshot_tree_begin(TrmSnapshotTree *self, const char *name,
                                     const char *description, gboolean ram, GError **error);
gboolean trm_snapshot_tree_commit(TrmSnapshotTree *self, TrmSnapshot *snapshot,
                                  GBytes *thumbnail_png, GError **error);
void trm_snapshot_tree_abort(TrmSnapshotTree *self, TrmSnapshot *snapshot);

/* A snapshot of a machine that is off: its writable disks' internal snapshots, no RAM. */
TrmSnapshot *trm_snapshot_tree_take_offline(TrmSnapshotTree *self, TrmMachine *machine,
                                            const char *name, const char *description,
                                            GBytes *thumbnail_png, GError **error);
/*
 * Restoring, with the machine off: applies the disks' internal snapshots and
 * makes it current. A snapshot with RAM is then started with
 * restore_from = dup_state_dir(id).
 */
gboolean trm_snapshot_tree_restore_disks(TrmSnapshotTree *self, TrmMachine *machine, const char *id,
                                         GError **error);
/*
 * Deletes a snapshot: with machine, its disks' internal snapshots (the
 * machine must be off; NULL: the caller removed them through the running
 * machine), then its folder. Its children move up to its parent.
 */
gboolean trm_snapshot_tree_delete(TrmSnapshotTree *self, TrmMachine *machine, const char *id,
                                  GError **error);
gboolean trm_snapshot_tree_rename(TrmSnapshotTree *self, const char *id, const char *name,
                                  GError **error);

/* The machine is being deleted: every snapshot folder goes (the disks are the caller's). */
void trm_snapshot_tree_remove_files(TrmSnapshotTree *self);

/* Disk operations on a machine that is off (every writable drive); exposed for the tools. */
gboolean trm_snapshot_disks_create(TrmMachine *machine, const char *id, GError **error);
gboolean trm_snapshot_disks_apply(TrmMachine *machine, const char *id, GError **error);
gboolean trm_snapshot_disks_delete(TrmMachine *machine, const char *id, GError **error);

G_END_DECLS
