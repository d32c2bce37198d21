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

#endif
