/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <adwaita.h>

#include "trm-machine-host.h"

G_BEGIN_DECLS

#define TRM_TYPE_DISPLAY_WINDOW (trm_display_window_get_type())
G_DECLARE_FINAL_TYPE(TrmDisplayWindow, trm_display_window, TRM, DISPLAY_WINDOW,
                     AdwApplicationWindow)

/* settings may be NULL (no schema installed): defaults apply. */
TrmDisplayWindow *trm_display_window_new(GtkApplication *app, TrmMachineHost *host,
                                         GSettings *settings);
/* The guest screen as PNG scaled into max_w x max_h (0: no limit), or NULL. */
GBytes *trm_display_window_screenshot_png(TrmDisplayWindow *self, guint max_w, guint max_h);

G_END_DECLS
