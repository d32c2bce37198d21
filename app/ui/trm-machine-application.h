/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define TRM_TYPE_MACHINE_APPLICATION (trm_machine_application_get_type())
G_DECLARE_FINAL_TYPE(TrmMachineApplication, trm_machine_application, TRM, MACHINE_APPLICATION,
                     AdwApplication)

/* `terrarium --machine UUID`: one running machine and its window (not unique). */
TrmMachineApplication *trm_machine_application_new(const char *uuid, const char *restore,
                                                   gboolean try_mode);
/* The process's exit status once the application has run. */
int trm_machine_application_get_exit_status(TrmMachineApplication *self);

G_END_DECLS
