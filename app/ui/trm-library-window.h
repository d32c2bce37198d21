/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <adwaita.h>

#include "trm-application.h"

G_BEGIN_DECLS

#define TRM_TYPE_LIBRARY_WINDOW (trm_library_window_get_type())
G_DECLARE_FINAL_TYPE(TrmLibraryWindow, trm_library_window, TRM, LIBRARY_WINDOW,
                     AdwApplicationWindow)

TrmLibraryWindow *trm_library_window_new(TrmApplication *app);
void trm_library_window_set_store(TrmLibraryWindow *self, TrmMachineStore *store);
/* "empty" or "machines": what the window shows (for tests). */
const char *trm_library_window_get_page(TrmLibraryWindow *self);
/* The tile of the machine at position i, for tests. */
GtkWidget *trm_library_window_get_tile(TrmLibraryWindow *self, guint i);
void trm_library_window_toast(TrmLibraryWindow *self, const char *text);

G_END_DECLS
