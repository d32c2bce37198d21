/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "trm-machine-store.h"

G_BEGIN_DECLS

/* Adds a machine already saved in the store's root to the model (sorted). */
void trm_machine_store_add(TrmMachineStore *self, TrmMachine *machine);

G_END_DECLS
