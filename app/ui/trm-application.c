/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "trm-application.h"
#include "trm-demo.h"
#include "trm-library-window.h"
#include "trm-preferences-window.h"
#include "trm-runtime.h"
#include "trm-wizard.h"

struct _TrmApplication {
    AdwApplication parent_instance;
    TrmMachineStore *store;
    GSettings *settings;
    GHashTable *clients; /* uuid -> TrmMachineClient */
};

G_DEFINE_FINAL_TYPE(TrmApplication, trm_application, ADW_TYPE_APPLICATION)

GSettings *trm_settings_new(void)
{
    GSettingsSchemaSource *src = g_settings_schema_source_get_default();
    g_autoptr(GSettingsSchema) schema =
        src ? g_settings_schema_source_lookup(src, APP_ID, TRUE) : NULL;
    if (!schema)
        return NULL;
    return g_settings_new_full(schema, NULL, NULL);
}

char *trm_settings_dup_storage(GSettings *settings)
{
    g_autofree char *s = settings ? g_settings_get_string(settings, "storage-location") : NULL;
    if (s && *s)
        return g_steal_pointer(&s);
    return trm_machine_store_dup_default_root();
}

static GtkWindow *library_window(TrmApplication *self)
{
    for (GList *l = gtk_application_get_windows(GTK_APPLICATION(self)); l; l = l->next)
        if (TRM_IS_LIBRARY_WINDOW(l->data))
            return l->data;
    return NULL;
}

static void trm_application_activate(GApplication *app)
{
    TrmApplication *self = TRM_APPLICATION(app);
    GtkWindow *win = library_window(self);
    if (!win)
        win = GTK_WINDOW(trm_library_window_new(self));
    gtk_window_present(win);
}

static void on_client_error(TrmMachineClient *c, const char *message, TrmApplication *self)
{
    GtkWindow *win = library_window(self);
    if (win)
        trm_library_window_toast(TRM_LIBRARY_WINDOW(win), message);
}

TrmMachineClient *trm_application_get_client(TrmApplication *self, TrmMachine *machine)
{
    const char *uuid = trm_machine_get_uuid(machine);
    TrmMachineClient *c = g_hash_table_lookup(self->clients, uuid);
    if (!c || trm_machine_client_get_machine(c) != machine) {
        c = trm_machine_client_new(machine);
        g_signal_connect_object(c, "error", G_CALLBACK(on_client_error), self, 0);
        g_hash_table_replace(self->clients, g_strdup(uuid), c);
    }
    return c;
}

static gboolean start_machine(TrmApplication *self, TrmMachine *machine, gboolean try_mode,
                              GError **error);

gboolean trm_application_start_machine(TrmApplication *self, TrmMachine *machine, GError **error)
{
    return start_machine(self, machine, FALSE, error);
}

gboolean trm_application_start_machine_try(TrmApplication *self, TrmMachine *machine,
                                           GError **error)
{
    return start_machine(self, machine, TRUE, error);
}

static gboolean start_machine(TrmApplication *self, TrmMachine *machine, gboolean try_mode,
                              GError **error)
{
    TrmMachineClient *c = trm_application_get_client(self, machine);
    /* A process that just said Stopped is not presented: the start waits for it to go. */
    if (!trm_machine_client_is_ending(c)) {
        if (trm_machine_client_is_connected(c)) {
            trm_machine_client_call(c, "PresentWindow");
            return TRUE;
        }
        if (trm_runtime_machine_is_running(trm_machine_get_uuid(machine))) {
            trm_machine_client_attach(c);
            return TRUE;
        }
    }
    return trm_machine_client_start_full(c, NULL, try_mode, error);
}

/* A restarted library finds the machines that kept running. */
static void reconnect_running(TrmApplication *self)
{
    GListModel *model = trm_machine_store_get_model(self->store);
    for (guint i = 0; i < g_list_model_get_n_items(model); i++) {
        g_autoptr(TrmMachine) m = g_list_model_get_item(model, i);
        if (!trm_machine_get_broken_reason(m) &&
            trm_runtime_machine_is_running(trm_machine_get_uuid(m)))
            trm_machine_client_attach(trm_application_get_client(self, m));
    }
}

static void load_thumbnails(TrmApplication *self)
{
    GListModel *model = trm_machine_store_get_model(self->store);
    for (guint i = 0; i < g_list_model_get_n_items(model); i++) {
        g_autoptr(TrmMachine) m = g_list_model_get_item(model, i);
        g_autofree char *path = trm_machine_dup_thumbnail_path(m);
        g_autofree char *data = NULL;
        gsize len;
        if (g_file_get_contents(path, &data, &len, NULL) && len < 4 * 1024 * 1024) {
            g_autoptr(GBytes) b = g_bytes_new_take(g_steal_pointer(&data), len);
            trm_machine_set_thumbnail(m, b);
        }
    }
}

static void on_storage_changed(GSettings *settings, const char *key, TrmApplication *self)
{
    g_autofree char *root = trm_settings_dup_storage(settings);
    if (g_strcmp0(root, trm_machine_store_get_root(self->store)) == 0)
        return;
    /* The library window holds the old model; a new store means a new model. */
    g_clear_object(&self->store);
    self->store = trm_machine_store_new(root);
    trm_machine_store_reload(self->store);
    GtkWindow *win = library_window(self);
    if (win)
        trm_library_window_set_store(TRM_LIBRARY_WINDOW(win), self->store);
}

static void on_new_machine(GSimpleAction *a, GVariant *p, gpointer data)
{
    TrmApplication *self = data;
    GtkWindow *parent = library_window(self);
    TrmWizard *wizard = trm_wizard_new(self, parent);
    gtk_window_present(GTK_WINDOW(wizard));
}

gboolean trm_application_try_demo(TrmApplication *self, GError **error)
{
    TrmMachine *m = trm_demo_ensure(self->store, error);
    return m && trm_application_start_machine(self, m, error);
}

static void on_try_demo(GSimpleAction *a, GVariant *p, gpointer data)
{
    TrmApplication *self = data;
    g_autoptr(GError) error = NULL;
    if (!trm_application_try_demo(self, &error)) {
        GtkWindow *win = library_window(self);
        if (win)
            trm_library_window_toast(TRM_LIBRARY_WINDOW(win), error->message);
    }
}

static void on_preferences(GSimpleAction *a, GVariant *p, gpointer data)
{
    TrmApplication *self = data;
    GtkWindow *win = trm_preferences_window_new(self->settings, library_window(self));
    gtk_window_present(win);
}

static void on_about(GSimpleAction *a, GVariant *p, gpointer data)
{
    TrmApplication *self = data;
    GtkWidget *about = adw_about_window_new();
    gtk_window_set_transient_for(GTK_WINDOW(about), library_window(self));
    adw_about_window_set_application_name(ADW_ABOUT_WINDOW(about), "Terrarium");
    adw_about_window_set_application_icon(ADW_ABOUT_WINDOW(about), APP_ID);
    adw_about_window_set_version(ADW_ABOUT_WINDOW(about), PACKAGE_VERSION);
    adw_about_window_set_developer_name(ADW_ABOUT_WINDOW(about), _("The Terrarium developers"));
    adw_about_window_set_license_type(ADW_ABOUT_WINDOW(about), GTK_LICENSE_GPL_2_0);
    adw_about_window_set_comments(ADW_ABOUT_WINDOW(about),
                                  _("Run other operating systems in windows on your desktop"));
    adw_about_window_set_translator_credits(ADW_ABOUT_WINDOW(about), _("translator-credits"));
    gtk_window_present(GTK_WINDOW(about));
}

static void on_quit(GSimpleAction *a, GVariant *p, gpointer data)
{
    g_application_quit(G_APPLICATION(data));
}

static const GActionEntry app_actions[] = {
    {.name = "new-machine", .activate = on_new_machine},
    {.name = "try-demo", .activate = on_try_demo},
    {.name = "preferences", .activate = on_preferences},
    {.name = "about", .activate = on_about},
    {.name = "quit", .activate = on_quit},
};

static void trm_application_startup(GApplication *app)
{
    TrmApplication *self = TRM_APPLICATION(app);
    G_APPLICATION_CLASS(trm_application_parent_class)->startup(app);
    g_action_map_add_action_entries(G_ACTION_MAP(self), app_actions, G_N_ELEMENTS(app_actions),
                                    self);
    static const char *const quit[] = {"<Control>q", NULL};
    static const char *const new_machine[] = {"<Control>n", NULL};
    static const char *const prefs[] = {"<Control>comma", NULL};
    gtk_application_set_accels_for_action(GTK_APPLICATION(self), "app.quit", quit);
    gtk_application_set_accels_for_action(GTK_APPLICATION(self), "app.new-machine", new_machine);
    gtk_application_set_accels_for_action(GTK_APPLICATION(self), "app.preferences", prefs);
    self->settings = trm_settings_new();
    g_autofree char *root = trm_settings_dup_storage(self->settings);
    self->store = trm_machine_store_new(root);
    trm_machine_store_reload(self->store);
    load_thumbnails(self);
    reconnect_running(self);
    if (self->settings)
        g_signal_connect(self->settings, "changed::storage-location",
                         G_CALLBACK(on_storage_changed), self);
}

static void trm_application_dispose(GObject *object)
{
    TrmApplication *self = TRM_APPLICATION(object);
    g_clear_pointer(&self->clients, g_hash_table_unref);
    g_clear_object(&self->store);
    g_clear_object(&self->settings);
    G_OBJECT_CLASS(trm_application_parent_class)->dispose(object);
}

static void trm_application_class_init(TrmApplicationClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = trm_application_dispose;
    G_APPLICATION_CLASS(klass)->activate = trm_application_activate;
    G_APPLICATION_CLASS(klass)->startup = trm_application_startup;
}

static void trm_application_init(TrmApplication *self)
{
    self->clients = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
}

TrmApplication *trm_application_new(void)
{
    return g_object_new(TRM_TYPE_APPLICATION, "application-id", APP_ID, "flags",
                        G_APPLICATION_DEFAULT_FLAGS, "resource-base-path",
                        "/org/terrarium/Terrarium", NULL);
}

TrmMachineStore *trm_application_get_store(TrmApplication *self)
{
    return self->store;
}

GSettings *trm_application_get_settings(TrmApplication *self)
{
    return self->settings;
}
