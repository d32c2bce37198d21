/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "trm-machine-store.h"

G_BEGIN_DECLS

/* The OS id that marks the built-in demo machine in machine.ini. */
#define TRM_DEMO_OS_ID "https://terrarium.org/demo"

/*
 * The demo guest (app/demo): $TERRARIUM_DEMO_KERNEL when set (an uninstalled
 * build), else the installed demo.elf. NULL with a sentence when it is missing.
 */
char *trm_demo_dup_kernel_path(GError **error);
/* The store's demo machine, or NULL (borrowed). */
TrmMachine *trm_demo_find(TrmMachineStore *store);
/*
 * The demo machine, created when the store has none and pointed at the demo
 * guest found now (an old one may name a path from another installation).
 * Borrowed; NULL with a sentence when the guest is not installed.
 */
TrmMachine *trm_demo_ensure(TrmMachineStore *store, GError **error);

G_END_DECLS
