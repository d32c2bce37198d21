/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <adwaita.h>

#include "trm-machine-client.h"
#include "trm-machine-store.h"

G_BEGIN_DECLS

#define TRM_TYPE_APPLICATION (trm_application_get_type())
G_DECLARE_FINAL_TYPE(TrmApplication, trm_application, TRM, APPLICATION, AdwApplication)

/* The library: one per session (org.terrarium.Terrarium, single instance). */
TrmApplication *trm_application_new(void);
TrmMachineStore *trm_application_get_store(TrmApplication *self);
/* NULL when the schema is not installed; defaults apply then. */
GSettings *trm_application_get_settings(TrmApplication *self);
TrmMachineClient *trm_application_get_client(TrmApplication *self, TrmMachine *machine);
/* Starts the machine (or shows its window when it runs); errors as a sentence. */
gboolean trm_application_start_machine(TrmApplication *self, TrmMachine *machine, GError **error);
/* The same in try mode: the disks' changes are discarded at power-off. */
gboolean trm_application_start_machine_try(TrmApplication *self, TrmMachine *machine,
                                           GError **error);
/* Creates the built-in demo machine if needed and starts it (app.try-demo). */
gboolean trm_application_try_demo(TrmApplication *self, GError **error);

/* GSettings for org.terrarium.Terrarium, or NULL when the schema is not installed. */
GSettings *trm_settings_new(void);
/* The store root from the settings (NULL settings: the default). */
char *trm_settings_dup_storage(GSettings *settings);

G_END_DECLS
