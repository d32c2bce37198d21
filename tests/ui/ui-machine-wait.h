/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * For the ui tests that drive machines through their processes: CHECK counting
 * into *failures (the caller's counter), and waits that keep the main loop
 * running (states, the D-Bus connection, the machine process's end).
 */
#ifndef TRM_UI_MACHINE_WAIT_H
#define TRM_UI_MACHINE_WAIT_H

#include "trm-application.h"
#include "trm-library-window.h"
#include "trm-machine-client.h"
#include "trm-runtime.h"
#include "vmm/disk.h"

static int *failures;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            (*failures)++;                                                      \
            g_printerr("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                       \
    } while (0)

typedef gboolean (*Predicate)(gpointer data);

static inline gboolean wait_for(Predicate pred, gpointer data, guint timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    while (!pred(data)) {
        if (g_get_monotonic_time() > end)
            return FALSE;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(2000);
    }
    return TRUE;
}

static inline gboolean never(gpointer data)
{
    return FALSE;
}

static inline void spin(guint ms)
{
    wait_for(never, NULL, ms);
}

static inline gboolean state_is(gpointer data)
{
    TrmMachine *m = data;
    TrmMachineState want = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(m), "want"));
    return trm_machine_get_state(m) == want;
}

static inline gboolean wait_state(TrmMachine *m, TrmMachineState st, guint ms)
{
    g_object_set_data(G_OBJECT(m), "want", GINT_TO_POINTER(st));
    return wait_for(state_is, m, ms);
}

static inline gboolean connected(gpointer data)
{
    return trm_machine_client_get_proxy(data) != NULL;
}

static inline gboolean process_gone(gpointer data)
{
    return !trm_runtime_machine_is_running(trm_machine_get_uuid(data));
}

static inline TrmLibraryWindow *library(TrmApplication *app)
{
    for (GList *l = gtk_application_get_windows(GTK_APPLICATION(app)); l; l = l->next)
        if (TRM_IS_LIBRARY_WINDOW(l->data))
            return l->data;
    return NULL;
}

/*
 * A machine running the demo guest (TERRARIUM_DEMO_KERNEL) with a 4 MiB qcow2 disk
 * "disk.qcow2" in its folder, saved in the store; first(d) (may be NULL) writes to the
 * fresh disk before it is attached. NULL, with why the part is skipped printed, when
 * /dev/kvm or the demo guest is missing.
 */
static inline TrmMachine *demo_machine_with_disk(TrmApplication *app, const char *name,
                                                 const char *part,
                                                 void (*first)(struct vmm_disk *d))
{
    const char *kernel = g_getenv("TERRARIUM_DEMO_KERNEL");
    if (access("/dev/kvm", R_OK | W_OK) != 0 || !kernel || !*kernel ||
        !g_file_test(kernel, G_FILE_TEST_EXISTS)) {
        g_print("SKIP part: %s need /dev/kvm and the demo guest\n", part);
        return NULL;
    }
    TrmMachineStore *store = trm_application_get_store(app);
    TrmMachine *m = trm_machine_store_create(store, name, NULL);
    trm_machine_set_kernel_boot(m, kernel, NULL, NULL);
    trm_machine_set_memory_mib(m, 32);
    trm_machine_set_cpus(m, 1);
    g_autofree char *disk = g_build_filename(trm_machine_get_dir(m), "disk.qcow2", NULL);
    struct vmm_error err = {0};
    CHECK(vmm_qcow2_create(disk, 4 << 20, 0, NULL, NULL, &err) == 0);
    if (first) {
        struct vmm_disk *d = vmm_disk_open(disk, VMM_DISK_FORMAT_QCOW2, &err);
        CHECK(d != NULL);
        if (d) {
            first(d);
            vmm_disk_close(d);
        }
    }
    CHECK(trm_machine_add_drive(m, "disk.qcow2", FALSE, FALSE, NULL));
    CHECK(trm_machine_store_save(store, m, NULL));
    return m;
}

#endif
