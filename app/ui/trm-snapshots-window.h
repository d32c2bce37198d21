/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <adwaita.h>

#include "trm-application.h"
#include "trm-machine.h"

G_BEGIN_DECLS

#define TRM_TYPE_SNAPSHOTS_WINDOW (trm_snapshots_window_get_type())
G_DECLARE_FINAL_TYPE(TrmSnapshotsWindow, trm_snapshots_window, TRM, SNAPSHOTS_WINDOW, AdwWindow)

/* The snapshot browser of one machine: the tree with thumbnails; take, restore, delete, rename. */
GtkWindow *trm_snapshots_window_new(TrmApplication *app, TrmMachine *machine, GtkWindow *parent);
/* The list's rows (for tests): each has data "snapshot-id" and "picture" (a GtkPicture). */
GtkListBox *trm_snapshots_window_get_list(TrmSnapshotsWindow *self);

G_END_DECLS
