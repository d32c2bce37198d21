/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine process. Anything that stops the machine from starting is
 * written to stderr as one sentence: the library shows the machine's log
 * when it "stopped unexpectedly".
 */
#include "config.h"

#include <glib/gi18n.h>

#include "trm-application.h"
#include "trm-display-window.h"
#include "trm-machine-application.h"
#include "trm-machine-host.h"

struct _TrmMachineApplication {
    AdwApplication parent_instance;
    char *uuid;
    char *restore; /* a snapshot id, or NULL */
    gboolean try_mode;
    TrmMachineHost *host;
    TrmDisplayWindow *window;
    GSettings *settings;
    int exit_status;
};

G_DEFINE_FINAL_TYPE(TrmMachineApplication, trm_machine_application, ADW_TYPE_APPLICATION)

static void save_thumbnail(TrmMachineApplication *self)
{
    if (!self->window)
        return;
    g_autoptr(GBytes) png = trm_display_window_screenshot_png(self->window, 320, 240);
    if (!png)
        return;
    g_autofree char *path =
        trm_machine_dup_thumbnail_path(trm_machine_host_get_machine(self->host));
    gsize len;
    const char *data = g_bytes_get_data(png, &len);
    g_file_set_contents(path, data, (gssize)len, NULL);
}

static void on_stopped(TrmMachineHost *host, int status, const char *reason,
                       TrmMachineApplication *self)
{
    save_thumbnail(self);
    self->exit_status = status;
    if (status != 0)
        g_printerr("terrarium: %s\n", reason);
    g_application_quit(G_APPLICATION(self));
}

static void fail(TrmMachineApplication *self, const char *message)
{
    g_printerr("terrarium: %s\n", message);
    self->exit_status = 2;
}

static void on_present(GSimpleAction *a, GVariant *p, gpointer data)
{
    TrmMachineApplication *self = data;
    if (self->window)
        gtk_window_present(GTK_WINDOW(self->window));
}

static void trm_machine_application_startup(GApplication *app)
{
    TrmMachineApplication *self = TRM_MACHINE_APPLICATION(app);
    G_APPLICATION_CLASS(trm_machine_application_parent_class)->startup(app);
    static const GActionEntry actions[] = {{.name = "present", .activate = on_present}};
    g_action_map_add_action_entries(G_ACTION_MAP(self), actions, G_N_ELEMENTS(actions), self);
    self->settings = trm_settings_new();
    if (!g_uuid_string_is_valid(self->uuid)) {
        fail(self, _("This is not a machine identifier."));
        return;
    }
    g_autofree char *root = trm_settings_dup_storage(self->settings);
    g_autofree char *dir = g_build_filename(root, self->uuid, NULL);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_autofree char *msg =
            g_strdup_printf(_("There is no machine %s in %s."), self->uuid, root);
        fail(self, msg);
        return;
    }
    g_autoptr(TrmMachine) machine = trm_machine_load(dir);
    g_autoptr(GError) error = NULL;
    self->host = trm_machine_host_new_full(machine, self->restore, self->try_mode, &error);
    if (!self->host) {
        fail(self, error->message);
        return;
    }
    g_signal_connect(self->host, "stopped", G_CALLBACK(on_stopped), self);
}

static void trm_machine_application_activate(GApplication *app)
{
    TrmMachineApplication *self = TRM_MACHINE_APPLICATION(app);
    if (!self->host)
        return; /* startup failed: nothing holds the application, it ends */
    if (!self->window) {
        self->window = trm_display_window_new(GTK_APPLICATION(self), self->host, self->settings);
        g_autoptr(GError) error = NULL;
        if (!trm_machine_host_start(self->host, &error)) {
            fail(self, error->message);
            gtk_window_destroy(GTK_WINDOW(self->window));
            self->window = NULL;
            return;
        }
    }
    gtk_window_present(GTK_WINDOW(self->window));
}

static void trm_machine_application_dispose(GObject *object)
{
    TrmMachineApplication *self = TRM_MACHINE_APPLICATION(object);
    g_clear_object(&self->host);
    g_clear_object(&self->settings);
    g_clear_pointer(&self->uuid, g_free);
    g_clear_pointer(&self->restore, g_free);
    G_OBJECT_CLASS(trm_machine_application_parent_class)->dispose(object);
}

static void trm_machine_application_class_init(TrmMachineApplicationClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = trm_machine_application_dispose;
    G_APPLICATION_CLASS(klass)->startup = trm_machine_application_startup;
    G_APPLICATION_CLASS(klass)->activate = trm_machine_application_activate;
}

static void trm_machine_application_init(TrmMachineApplication *self)
{
}

TrmMachineApplication *trm_machine_application_new(const char *uuid, const char *restore,
                                                   gboolean try_mode)
{
    TrmMachineApplication *self = g_object_new(
        TRM_TYPE_MACHINE_APPLICATION, "application-id", APP_ID, "flags", G_APPLICATION_NON_UNIQUE,
        "resource-base-path", "/org/terrarium/Terrarium", NULL);
    self->uuid = g_strdup(uuid);
    self->restore = g_strdup(restore);
    self->try_mode = try_mode;
    return self;
}

int trm_machine_application_get_exit_status(TrmMachineApplication *self)
{
    return self->exit_status;
}
