/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "trm-machine.h"
#include "trm-snapshot-tree.h"

G_BEGIN_DECLS

struct vmm_vm;

/* Produces the current screen as PNG scaled into max_w x max_h (0: no limit), or NULL. */
typedef GBytes *(*TrmScreenshotFunc)(guint max_w, guint max_h, gpointer user_data);

#define TRM_TYPE_MACHINE_HOST (trm_machine_host_get_type())
G_DECLARE_FINAL_TYPE(TrmMachineHost, trm_machine_host, TRM, MACHINE_HOST, GObject)

/*
 * The machine process's core: takes the run lock, checks the host, builds the
 * VM from machine.ini and listens on the machine's D-Bus socket. NULL with a
 * sentence for the user when any of that fails.
 */
TrmMachineHost *trm_machine_host_new(TrmMachine *machine, GError **error);
/* The same, first restoring snapshot_id (its disks, and its RAM state if it has one). */
TrmMachineHost *trm_machine_host_new_restoring(TrmMachine *machine, const char *snapshot_id,
                                               GError **error);
/*
 * The general form: snapshot_id may be NULL; try_mode (or the machine's own
 * TryMode setting) runs every writable disk through a throwaway overlay in the
 * machine's folder (vmm_drive_config.snapshot), gone when the machine stops.
 */
TrmMachineHost *trm_machine_host_new_full(TrmMachine *machine, const char *snapshot_id,
                                          gboolean try_mode, GError **error);
gboolean trm_machine_host_get_try_mode(TrmMachineHost *self);
gboolean trm_machine_host_start(TrmMachineHost *self, GError **error);
TrmMachine *trm_machine_host_get_machine(TrmMachineHost *self);
struct vmm_vm *trm_machine_host_get_vm(TrmMachineHost *self);
/* "starting", "running", "paused", "stopped" (as the D-Bus State property). */
const char *trm_machine_host_get_state(TrmMachineHost *self);
gboolean trm_machine_host_pause(TrmMachineHost *self, GError **error);
gboolean trm_machine_host_resume(TrmMachineHost *self, GError **error);
gboolean trm_machine_host_shutdown(TrmMachineHost *self, GError **error);
void trm_machine_host_power_off(TrmMachineHost *self);
void trm_machine_host_set_screenshot_func(TrmMachineHost *self, TrmScreenshotFunc func,
                                          gpointer user_data);
void trm_machine_host_set_display_size(TrmMachineHost *self, guint width, guint height);
/* What the window has drawn: Machine1's DisplayFrames and DisplayUploads (not signalled). */
void trm_machine_host_set_display_frames(TrmMachineHost *self, guint64 frames, guint64 uploads);
TrmSnapshotTree *trm_machine_host_get_snapshots(TrmMachineHost *self);
/*
 * A live snapshot (the machine running or paused): disks, and with_ram the
 * machine state, in one pause, in a thread; then its snapshot.ini and a
 * thumbnail of the screen. finish gives the new snapshot's id.
 */
void trm_machine_host_take_snapshot_async(TrmMachineHost *self, const char *name,
                                          const char *description, gboolean with_ram,
                                          GAsyncReadyCallback cb, gpointer user_data);
char *trm_machine_host_take_snapshot_finish(TrmMachineHost *self, GAsyncResult *res,
                                            GError **error);
/*
 * Deletes a snapshot while the machine runs: the disks' internal snapshots go
 * through the VM's own open images (vmm_vm_snapshot_delete, in a thread), then
 * the folder (the tree is reloaded first: the library may have renamed).
 */
void trm_machine_host_delete_snapshot_async(TrmMachineHost *self, const char *id,
                                            GAsyncReadyCallback cb, gpointer user_data);
gboolean trm_machine_host_delete_snapshot_finish(TrmMachineHost *self, GAsyncResult *res,
                                                 GError **error);
/*
 * Save State: pauses, saves the machine into <dir>/saved-state.tmp (in a
 * thread) and stops it; the folder becomes saved-state once the VM is
 * destroyed and its disks closed (dispose). Refused in try mode and while a
 * snapshot is taken. State "saving" meanwhile; the Stopped reason says saved.
 */
void trm_machine_host_save_state_async(TrmMachineHost *self, GAsyncReadyCallback cb,
                                       gpointer user_data);
gboolean trm_machine_host_save_state_finish(TrmMachineHost *self, GAsyncResult *res,
                                            GError **error);
/* Everything the guest wrote to its serial port so far (bounded). */
const char *trm_machine_host_get_serial_text(TrmMachineHost *self);

G_END_DECLS
