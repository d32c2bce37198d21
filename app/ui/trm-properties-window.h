/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <adwaita.h>

#include "trm-machine-store.h"

G_BEGIN_DECLS

/* Memory, processors, drives, port forwards and firmware of one machine; saved on close. */
GtkWindow *trm_properties_window_new(TrmMachineStore *store, TrmMachine *machine,
                                     GtkWindow *parent);

G_END_DECLS
