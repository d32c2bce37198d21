/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ui suite: power off and start again at once (the demo guest with a qcow2
 * disk, started from the library's win.start as a click would). A start asked
 * for the moment the machine says Stopped, while its old process (frozen with
 * SIGSTOP) still holds the run lock and the disk, waits with the tile on
 * "Starting" and no second process, and goes ahead once the old one ends: a new
 * process, state "running" over D-Bus. An old process that does not go away
 * within the bound gives the sentence and Off. A plain Off-then-Start at once
 * comes up running, and Start on a running machine starts nothing.
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "trm-application.h"
#include "trm-dbus-machine1.h"
#include "trm-library-window.h"
#include "trm-machine-client.h"
#include "trm-runtime.h"
#include "ui-machine-wait.h"

void test_restart(TrmApplication *app, int *failed);

typedef struct {
    GtkWidget *lib;
    const char *uuid;
    GPid pid;         /* the old process, frozen as it says Stopped */
    gboolean fired;   /* Stopped arrived and Start was asked for */
    gboolean held;    /* the frozen process still held the machine then */
    gboolean started; /* win.start was accepted */
} Catch;

static void on_stopped_start(TrmDBusMachine1 *proxy, int status, const char *reason, Catch *c)
{
    g_signal_handlers_disconnect_by_func(proxy, on_stopped_start, c);
    kill(c->pid, SIGSTOP);
    c->held = trm_runtime_machine_is_running(c->uuid);
    c->started = gtk_widget_activate_action(c->lib, "win.start", "s", c->uuid);
    c->fired = TRUE;
}

static void on_error(TrmMachineClient *client, const char *message, GString *errors)
{
    g_string_append_printf(errors, "%s\n", message);
}

static gboolean flag_set(gpointer data)
{
    return *(gboolean *)data;
}

static gboolean pid_gone(gpointer data)
{
    return kill(GPOINTER_TO_INT(data), 0) < 0 && errno == ESRCH;
}

/* Running, connected, Machine1.State "running"; the machine process's id. */
static GPid wait_running(TrmApplication *app, TrmMachine *m)
{
    TrmMachineClient *client = trm_application_get_client(app, m);
    CHECK(wait_state(m, TRM_MACHINE_STATE_RUNNING, 60000));
    CHECK(wait_for(connected, client, 20000));
    TrmDBusMachine1 *proxy = trm_machine_client_get_proxy(client);
    CHECK(proxy && g_strcmp0(trm_dbus_machine1_get_state(proxy), "running") == 0);
    return trm_machine_client_get_pid(client);
}

/*
 * PowerOff; when Stopped arrives the old process is frozen and Start is asked
 * for at once. A process that happened to let go before the signal was handled
 * proves nothing: the machine comes up anyway and the round is repeated.
 */
static GPid power_off_frozen(TrmApplication *app, TrmMachine *m, GtkWidget *lib, Catch *c)
{
    TrmMachineClient *client = trm_application_get_client(app, m);
    for (int round = 0; round < 3; round++) {
        GPid pid = trm_machine_client_get_pid(client);
        TrmDBusMachine1 *proxy = trm_machine_client_get_proxy(client);
        CHECK(pid > 0 && proxy);
        if (pid <= 0 || !proxy)
            return 0;
        *c = (Catch){.lib = lib, .uuid = trm_machine_get_uuid(m), .pid = pid};
        g_signal_connect(proxy, "stopped", G_CALLBACK(on_stopped_start), c);
        trm_machine_client_call(client, "PowerOff");
        CHECK(wait_for(flag_set, &c->fired, 30000));
        CHECK(c->started);
        if (!c->fired || c->held)
            return pid;
        g_print("restart: the old process let go before Stopped was handled; again\n");
        kill(pid, SIGCONT);
        wait_running(app, m);
    }
    CHECK(c->held);
    return 0;
}

void test_restart(TrmApplication *app, int *failed)
{
    failures = failed;
    TrmMachine *m = demo_machine_with_disk(app, "Restart Me", "restart at once", NULL);
    if (!m)
        return;
    GtkWidget *lib = GTK_WIDGET(library(app));
    const char *uuid = trm_machine_get_uuid(m);
    TrmMachineClient *client = trm_application_get_client(app, m);
    g_autoptr(GString) errors = g_string_new(NULL);
    g_signal_connect(client, "error", G_CALLBACK(on_error), errors);

    CHECK(gtk_widget_activate_action(lib, "win.start", "s", uuid));
    GPid first = wait_running(app, m);
    CHECK(first > 0);

    /* Start while the old process still holds the machine: it waits, then starts. */
    Catch c;
    GPid old = power_off_frozen(app, m, lib, &c);
    if (!old)
        return;
    spin(1500);
    CHECK(trm_machine_get_state(m) == TRM_MACHINE_STATE_STARTING);
    CHECK(trm_machine_client_get_pid(client) == old); /* no second process yet */
    CHECK(trm_runtime_machine_is_running(uuid));
    gint64 t0 = g_get_monotonic_time();
    kill(old, SIGCONT);
    GPid pid = wait_running(app, m);
    g_print("restart: running again %.0f ms after the old process was let go\n",
            (g_get_monotonic_time() - t0) / 1000.0);
    CHECK(pid > 0 && pid != old);
    CHECK(wait_for(pid_gone, GINT_TO_POINTER(old), 20000));
    CHECK(!strstr(errors->str, "already running"));

    /* Start on a running machine presents it: no second process. */
    CHECK(gtk_widget_activate_action(lib, "win.start", "s", uuid));
    spin(1000);
    CHECK(trm_machine_client_get_pid(client) == pid);
    CHECK(trm_machine_get_state(m) == TRM_MACHINE_STATE_RUNNING);
    CHECK(trm_machine_client_get_proxy(client) != NULL);

    /* The old process does not go away in time: the sentence, Off, and nothing started. */
    old = power_off_frozen(app, m, lib, &c);
    if (!old)
        return;
    g_string_truncate(errors, 0);
    CHECK(wait_state(m, TRM_MACHINE_STATE_OFF, 15000));
    g_print("restart: old process kept the machine: %s", errors->str);
    CHECK(strstr(errors->str, "has not ended yet") != NULL);
    CHECK(trm_machine_client_get_pid(client) == old);
    kill(old, SIGCONT);
    CHECK(wait_for(process_gone, m, 20000));
    CHECK(wait_for(pid_gone, GINT_TO_POINTER(old), 20000));
    CHECK(trm_machine_get_state(m) == TRM_MACHINE_STATE_OFF);
    CHECK(gtk_widget_activate_action(lib, "win.start", "s", uuid));
    pid = wait_running(app, m);
    CHECK(pid > 0 && pid != old);

    /* Off, then Start at once, as a user clicking twice. */
    old = pid;
    trm_machine_client_call(client, "PowerOff");
    CHECK(wait_state(m, TRM_MACHINE_STATE_OFF, 30000));
    CHECK(gtk_widget_activate_action(lib, "win.start", "s", uuid));
    pid = wait_running(app, m);
    CHECK(pid > 0 && pid != old);
    CHECK(trm_machine_get_failure(m) == NULL);

    trm_machine_client_call(client, "PowerOff");
    CHECK(wait_state(m, TRM_MACHINE_STATE_OFF, 30000));
    CHECK(wait_for(process_gone, m, 20000));
    g_signal_handlers_disconnect_by_func(client, on_error, errors);
}
