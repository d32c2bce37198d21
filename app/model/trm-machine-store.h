/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "trm-disk.h"
#include "trm-machine.h"

G_BEGIN_DECLS

#define TRM_MAX_MACHINES 4096

#define TRM_TYPE_MACHINE_STORE (trm_machine_store_get_type())
G_DECLARE_FINAL_TYPE(TrmMachineStore, trm_machine_store, TRM, MACHINE_STORE, GObject)

/* root NULL or "": $XDG_DATA_HOME/terrarium/machines. */
TrmMachineStore *trm_machine_store_new(const char *root);
char *trm_machine_store_dup_default_root(void);
const char *trm_machine_store_get_root(TrmMachineStore *self);
/* A GListModel of TrmMachine, sorted by name. */
GListModel *trm_machine_store_get_model(TrmMachineStore *self);
/* Reads every <uuid>/machine.ini under the root; unreadable ones come back broken. */
void trm_machine_store_reload(TrmMachineStore *self);
TrmMachine *trm_machine_store_find(TrmMachineStore *self, const char *uuid);
/* A new machine with a fresh UUID and directory, saved and added to the model. */
TrmMachine *trm_machine_store_create(TrmMachineStore *self, const char *name, GError **error);
/* Saves the machine and keeps the model sorted. */
gboolean trm_machine_store_save(TrmMachineStore *self, TrmMachine *machine, GError **error);
/*
 * Removes the machine. Its own disk images are deleted only with delete_disks;
 * otherwise they move to trm_machine_store_dup_kept_disks_dir().
 */
gboolean trm_machine_store_delete(TrmMachineStore *self, TrmMachine *machine, gboolean delete_disks,
                                  GError **error);
/*
 * A new machine from a snapshot of source (trm-machine-clone.c): new UUID,
 * "<name> (clone)", new MAC; each writable disk becomes a new qcow2 image in
 * the clone's folder holding the disk as it was in the snapshot (source may
 * be running); CD/DVD images and read-only disks are shared. The clone boots
 * cold from those disks, and keeps the snapshot as its own (with its RAM
 * state, if any) to restore. Copies in a thread; progress 0..1 reaches the
 * caller's main context. finish: the new machine, saved and in the model.
 */
void trm_machine_store_clone_async(TrmMachineStore *self, TrmMachine *source,
                                   const char *snapshot_id, GCancellable *cancellable,
                                   TrmDiskProgressFunc progress, gpointer progress_data,
                                   GAsyncReadyCallback cb, gpointer user_data);
TrmMachine *trm_machine_store_clone_finish(TrmMachineStore *self, GAsyncResult *res,
                                           GError **error);
char *trm_machine_store_dup_kept_disks_dir(TrmMachineStore *self);
/* Whether the drive lives in the machine's own directory (created with it). */
gboolean trm_machine_drive_is_owned(TrmMachine *machine, guint i);

G_END_DECLS
