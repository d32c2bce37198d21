/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "trm-machine.h"

G_BEGIN_DECLS

#define TRM_TYPE_MACHINE_CLIENT (trm_machine_client_get_type())
G_DECLARE_FINAL_TYPE(TrmMachineClient, trm_machine_client, TRM, MACHINE_CLIENT, GObject)

TrmMachineClient *trm_machine_client_new(TrmMachine *machine);
TrmMachine *trm_machine_client_get_machine(TrmMachineClient *self);
/* Starts the machine's own process and connects to it. */
gboolean trm_machine_client_start(TrmMachineClient *self, GError **error);
/* Starts the machine from a snapshot: its disks go back, and its RAM state if it has one. */
gboolean trm_machine_client_start_restoring(TrmMachineClient *self, const char *snapshot_id,
                                            GError **error);
/*
 * The general form: snapshot_id may be NULL; try_mode starts it with throwaway disk overlays.
 * While the previous run's process is ending (trm_machine_client_is_ending()) and still
 * holds the machine, the start waits for it without blocking (state Starting, at most
 * 10 s) and returns TRUE; what fails later comes as "error" (state Off).
 */
gboolean trm_machine_client_start_full(TrmMachineClient *self, const char *snapshot_id,
                                       gboolean try_mode, GError **error);
/* Connects to a machine process that is already running (a restarted library). */
void trm_machine_client_attach(TrmMachineClient *self);
gboolean trm_machine_client_is_connected(TrmMachineClient *self);
/*
 * The last run's process said Stopped (or closed its connection) and may still be
 * letting go of its disks and the run lock; or a start is waiting for it to.
 */
gboolean trm_machine_client_is_ending(TrmMachineClient *self);
/* A Machine1 method without arguments (or PresentWindow); failures come as "error". */
void trm_machine_client_call(TrmMachineClient *self, const char *method);
/* The machine process's id when this library started it, else 0. */
GPid trm_machine_client_get_pid(TrmMachineClient *self);
/* The Machine1 proxy while connected (NULL otherwise); borrowed. */
struct _TrmDBusMachine1 *trm_machine_client_get_proxy(TrmMachineClient *self);
/* The last lines of the machine's log, for "stopped unexpectedly". */
char *trm_machine_client_dup_log_tail(TrmMachine *machine, guint lines);

G_END_DECLS
