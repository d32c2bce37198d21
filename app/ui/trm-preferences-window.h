/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

/* Storage location and release keys; settings NULL shows defaults, read-only. */
GtkWindow *trm_preferences_window_new(GSettings *settings, GtkWindow *parent);

G_END_DECLS
