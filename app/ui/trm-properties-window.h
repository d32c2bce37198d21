/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <adwaita.h>

#include "trm-machine-store.h"

G_BEGIN_DECLS

/* Memory, processors, drives, port forwards and firmware of one machine; saved on close. */
GtkWindow *trm_properties_window_new(TrmMachineStore *store, TrmMachine *machine,
                                     GtkWindow *parent);

/*
 * Drive edits, as the window's buttons make them (tests call them directly):
 * a new qcow2 disk of bytes in the machine's folder (async, progress in the
 * window), and CD/DVD drive i pointed at file (i past the last drive adds
 * one). FALSE with a sentence when the machine is not off or the file unusable.
 */
gboolean trm_properties_window_add_disk(GtkWindow *win, guint64 bytes, GError **error);
gboolean trm_properties_window_set_cdrom(GtkWindow *win, guint i, GFile *file, GError **error);

G_END_DECLS
