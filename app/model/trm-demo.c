/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The built-in demo machine: a machine booting the small guest shipped with
 * Terrarium (VBE graphics, keyboard echo, mouse pointer), so that a fresh
 * install has something to run with no download at all.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "trm-demo.h"
#include "trm-error.h"

#define DEMO_MEMORY_MIB 32

char *trm_demo_dup_kernel_path(GError **error)
{
    const char *env = g_getenv("TERRARIUM_DEMO_KERNEL");
    const char *path = env && *env ? env : DEMO_KERNEL;
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_NOT_FOUND,
                    _("The demo machine is not installed (%s is missing). Reinstall Terrarium, "
                      "or start it with “make run” from its source tree."),
                    path);
        return NULL;
    }
    return g_canonicalize_filename(path, NULL);
}

TrmMachine *trm_demo_find(TrmMachineStore *store)
{
    GListModel *model = trm_machine_store_get_model(store);
    for (guint i = 0; i < g_list_model_get_n_items(model); i++) {
        g_autoptr(TrmMachine) m = g_list_model_get_item(model, i);
        if (!trm_machine_get_broken_reason(m) &&
            g_strcmp0(trm_machine_get_os_id(m), TRM_DEMO_OS_ID) == 0)
            return m; /* the store keeps its reference */
    }
    return NULL;
}

TrmMachine *trm_demo_ensure(TrmMachineStore *store, GError **error)
{
    g_autofree char *kernel = trm_demo_dup_kernel_path(error);
    if (!kernel)
        return NULL;
    TrmMachine *m = trm_demo_find(store);
    if (m && g_strcmp0(trm_machine_get_kernel(m), kernel) == 0 &&
        trm_machine_get_boot(m) == TRM_BOOT_KERNEL)
        return m;
    if (!m) {
        m = trm_machine_store_create(store, _("Demo Machine"), error);
        if (!m)
            return NULL;
        trm_machine_set_os(m, TRM_DEMO_OS_ID, _("Terrarium demo"));
        trm_machine_set_memory_mib(m, DEMO_MEMORY_MIB);
        trm_machine_set_cpus(m, 1);
    }
    trm_machine_set_kernel_boot(m, kernel, NULL, "");
    if (!trm_machine_store_save(store, m, error))
        return NULL;
    return m;
}
