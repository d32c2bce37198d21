/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <adwaita.h>

#include "trm-application.h"
#include "trm-os-detect.h"

G_BEGIN_DECLS

#define TRM_TYPE_WIZARD (trm_wizard_get_type())
G_DECLARE_FINAL_TYPE(TrmWizard, trm_wizard, TRM, WIZARD, AdwWindow)

TrmWizard *trm_wizard_new(TrmApplication *app, GtkWindow *parent);
/* What the file chooser or a drop does: an ISO is detected, then the settings page shows. */
void trm_wizard_set_source_kind_iso(TrmWizard *self);
void trm_wizard_set_source_file(TrmWizard *self, GFile *file);
/* "source", "detecting", "settings", "summary", "creating". */
const char *trm_wizard_get_page(TrmWizard *self);
const TrmOsDetection *trm_wizard_get_detection(TrmWizard *self);
/* The system name the settings page shows. */
const char *trm_wizard_get_shown_os(TrmWizard *self);
/* The Create button; start FALSE leaves the new machine off. */
void trm_wizard_create(TrmWizard *self, gboolean start);

G_END_DECLS
