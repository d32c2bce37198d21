/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The library: a grid of machines (thumbnail, name, OS, state) or, with none,
 * a welcome page. Machine actions take the machine's UUID as their target.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "trm-library-window.h"
#include "trm-properties-window.h"
#include "trm-snapshots-window.h"

#define THUMB_W 240
#define THUMB_H 150

struct _TrmLibraryWindow {
    AdwApplicationWindow parent_instance;
    TrmApplication *app;
    TrmMachineStore *store;
    AdwToastOverlay *toasts;
    GtkStack *stack;
    GtkFlowBox *grid;
    gulong items_changed_id;
};

G_DEFINE_FINAL_TYPE(TrmLibraryWindow, trm_library_window, ADW_TYPE_APPLICATION_WINDOW)

void trm_library_window_toast(TrmLibraryWindow *self, const char *text)
{
    AdwToast *t = adw_toast_new(text);
    adw_toast_set_timeout(t, 6);
    adw_toast_overlay_add_toast(self->toasts, t);
}

static TrmMachine *find(TrmLibraryWindow *self, GVariant *param)
{
    return trm_machine_store_find(self->store, g_variant_get_string(param, NULL));
}

static const char *state_text(TrmMachine *m)
{
    if (trm_machine_get_broken_reason(m))
        return _("Damaged");
    return trm_machine_state_to_string(trm_machine_get_state(m));
}

static void update_tile(TrmMachine *m, GParamSpec *pspec, GtkWidget *tile)
{
    GtkLabel *name = g_object_get_data(G_OBJECT(tile), "name");
    GtkLabel *os = g_object_get_data(G_OBJECT(tile), "os");
    GtkLabel *state = g_object_get_data(G_OBJECT(tile), "state");
    GtkPicture *pic = g_object_get_data(G_OBJECT(tile), "picture");
    GtkImage *icon = g_object_get_data(G_OBJECT(tile), "icon");
    gtk_label_set_label(name, trm_machine_get_name(m));
    const char *os_name = trm_machine_get_os_name(m);
    gtk_label_set_label(os, os_name ? os_name : _("Unknown system"));
    gtk_label_set_label(state, state_text(m));
    TrmMachineState s = trm_machine_get_state(m);
    gtk_widget_remove_css_class(GTK_WIDGET(state), "error");
    gtk_widget_remove_css_class(GTK_WIDGET(state), "success");
    if (s == TRM_MACHINE_STATE_FAILED || trm_machine_get_broken_reason(m))
        gtk_widget_add_css_class(GTK_WIDGET(state), "error");
    else if (s == TRM_MACHINE_STATE_RUNNING)
        gtk_widget_add_css_class(GTK_WIDGET(state), "success");
    const char *why = trm_machine_get_broken_reason(m);
    if (!why)
        why = trm_machine_get_failure(m);
    gtk_widget_set_tooltip_text(tile, why);

    GBytes *png = trm_machine_get_thumbnail(m);
    g_autoptr(GdkTexture) tex = png ? gdk_texture_new_from_bytes(png, NULL) : NULL;
    gtk_picture_set_paintable(pic, GDK_PAINTABLE(tex));
    gtk_widget_set_visible(GTK_WIDGET(pic), tex != NULL);
    gtk_widget_set_visible(GTK_WIDGET(icon), tex == NULL);
}

static GMenuModel *tile_menu(TrmMachine *m)
{
    GMenu *menu = g_menu_new();
    const char *uuid = trm_machine_get_uuid(m);
    struct {
        const char *label, *action;
    } items[] = {
        {N_("_Start"), "win.start"},           {N_("Start in _Try Mode"), "win.start-try"},
        {N_("_Pause"), "win.pause"},           {N_("_Resume"), "win.resume"},
        {N_("Save _State"), "win.save-state"}, {N_("Shut _Down"), "win.shutdown"},
        {N_("_Force Off"), "win.power-off"},
    };
    GMenu *power = g_menu_new();
    for (size_t i = 0; i < G_N_ELEMENTS(items); i++) {
        g_autoptr(GMenuItem) it = g_menu_item_new(_(items[i].label), NULL);
        g_menu_item_set_action_and_target(it, items[i].action, "s", uuid);
        g_menu_append_item(power, it);
    }
    g_menu_append_section(menu, NULL, G_MENU_MODEL(power));
    g_object_unref(power);
    GMenu *edit = g_menu_new();
    struct {
        const char *label, *action;
    } more[] = {
        {N_("P_roperties"), "win.properties"},
        {N_("_Snapshots…"), "win.snapshots"},
        {N_("Discard Saved State"), "win.discard-saved"},
        {N_("Re_name…"), "win.rename"},
        {N_("_Delete…"), "win.delete"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(more); i++) {
        g_autoptr(GMenuItem) it = g_menu_item_new(_(more[i].label), NULL);
        g_menu_item_set_action_and_target(it, more[i].action, "s", uuid);
        g_menu_append_item(edit, it);
    }
    g_menu_append_section(menu, NULL, G_MENU_MODEL(edit));
    g_object_unref(edit);
    return G_MENU_MODEL(menu);
}

static GtkWidget *create_tile(gpointer item, gpointer data)
{
    TrmMachine *m = item;
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    gtk_widget_add_css_class(box, "trm-tile");
    GtkWidget *frame = gtk_overlay_new();
    gtk_widget_add_css_class(frame, "card");
    gtk_widget_add_css_class(frame, "trm-thumbnail");
    gtk_widget_set_size_request(frame, THUMB_W, THUMB_H);
    gtk_widget_set_overflow(frame, GTK_OVERFLOW_HIDDEN);
    GtkWidget *pic = gtk_picture_new();
    gtk_picture_set_content_fit(GTK_PICTURE(pic), GTK_CONTENT_FIT_CONTAIN);
    gtk_widget_add_css_class(pic, "trm-screen");
    GtkWidget *icon = gtk_image_new_from_icon_name("computer-symbolic");
    gtk_image_set_pixel_size(GTK_IMAGE(icon), 64);
    gtk_widget_add_css_class(icon, "dim-label");
    GtkWidget *stack = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_widget_set_hexpand(pic, TRUE);
    gtk_widget_set_vexpand(pic, TRUE);
    gtk_widget_set_vexpand(icon, TRUE);
    gtk_box_append(GTK_BOX(stack), pic);
    gtk_box_append(GTK_BOX(stack), icon);
    gtk_overlay_set_child(GTK_OVERLAY(frame), stack);
    GtkWidget *menu = gtk_menu_button_new();
    gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(menu), "view-more-symbolic");
    g_autoptr(GMenuModel) model = tile_menu(m);
    gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(menu), model);
    gtk_widget_set_halign(menu, GTK_ALIGN_END);
    gtk_widget_set_valign(menu, GTK_ALIGN_START);
    gtk_widget_set_margin_top(menu, 6);
    gtk_widget_set_margin_end(menu, 6);
    gtk_widget_add_css_class(menu, "osd");
    gtk_widget_add_css_class(menu, "circular");
    gtk_widget_set_tooltip_text(menu, _("Machine Menu"));
    gtk_overlay_add_overlay(GTK_OVERLAY(frame), menu);
    gtk_box_append(GTK_BOX(box), frame);

    GtkWidget *name = gtk_label_new(NULL);
    gtk_widget_add_css_class(name, "heading");
    gtk_label_set_ellipsize(GTK_LABEL(name), PANGO_ELLIPSIZE_END);
    gtk_label_set_max_width_chars(GTK_LABEL(name), 20);
    gtk_label_set_xalign(GTK_LABEL(name), 0);
    GtkWidget *os = gtk_label_new(NULL);
    gtk_widget_add_css_class(os, "dim-label");
    gtk_label_set_ellipsize(GTK_LABEL(os), PANGO_ELLIPSIZE_END);
    gtk_label_set_max_width_chars(GTK_LABEL(os), 20);
    gtk_label_set_xalign(GTK_LABEL(os), 0);
    GtkWidget *state = gtk_label_new(NULL);
    gtk_widget_add_css_class(state, "caption");
    gtk_label_set_xalign(GTK_LABEL(state), 0);
    gtk_box_append(GTK_BOX(box), name);
    gtk_box_append(GTK_BOX(box), os);
    gtk_box_append(GTK_BOX(box), state);
    g_object_set_data(G_OBJECT(box), "name", name);
    g_object_set_data(G_OBJECT(box), "os", os);
    g_object_set_data(G_OBJECT(box), "state", state);
    g_object_set_data(G_OBJECT(box), "picture", pic);
    g_object_set_data(G_OBJECT(box), "icon", icon);
    g_object_set_data_full(G_OBJECT(box), "machine", g_object_ref(m), g_object_unref);
    update_tile(m, NULL, box);
    g_signal_connect_object(m, "notify", G_CALLBACK(update_tile), box, 0);
    return box;
}

static void update_page(TrmLibraryWindow *self)
{
    guint n = g_list_model_get_n_items(trm_machine_store_get_model(self->store));
    gtk_stack_set_visible_child_name(self->stack, n ? "machines" : "empty");
}

void trm_library_window_set_store(TrmLibraryWindow *self, TrmMachineStore *store)
{
    if (self->store) {
        g_signal_handler_disconnect(trm_machine_store_get_model(self->store),
                                    self->items_changed_id);
        g_clear_object(&self->store);
    }
    self->store = g_object_ref(store);
    GListModel *model = trm_machine_store_get_model(store);
    gtk_flow_box_bind_model(self->grid, model, create_tile, self, NULL);
    self->items_changed_id =
        g_signal_connect_swapped(model, "items-changed", G_CALLBACK(update_page), self);
    update_page(self);
}

static void show_problem(TrmLibraryWindow *self, TrmMachine *m, const char *heading,
                         const char *body)
{
    GtkWidget *d = adw_message_dialog_new(GTK_WINDOW(self), heading, body);
    adw_message_dialog_add_response(ADW_MESSAGE_DIALOG(d), "close", _("_Close"));
    gtk_window_present(GTK_WINDOW(d));
}

static void discard_saved(TrmLibraryWindow *self, TrmMachine *m, gboolean then_start);

static void on_restore_failed_response(AdwMessageDialog *d, const char *response,
                                       TrmLibraryWindow *self)
{
    TrmMachine *m = g_object_get_data(G_OBJECT(d), "machine");
    if (g_strcmp0(response, "discard") == 0)
        discard_saved(self, m, TRUE);
}

/* A saved state that did not restore: one sentence, and the way out. */
static void show_restore_failed(TrmLibraryWindow *self, TrmMachine *m)
{
    GtkWidget *d = adw_message_dialog_new(
        GTK_WINDOW(self), _("The Saved State Could Not Be Restored"), trm_machine_get_failure(m));
    adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(d), "close", _("_Close"), "discard",
                                     _("_Discard Saved State"), NULL);
    adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(d), "discard",
                                               ADW_RESPONSE_DESTRUCTIVE);
    g_object_set_data_full(G_OBJECT(d), "machine", g_object_ref(m), g_object_unref);
    g_signal_connect(d, "response", G_CALLBACK(on_restore_failed_response), self);
    gtk_window_present(GTK_WINDOW(d));
}

static void start_machine(TrmLibraryWindow *self, TrmMachine *m)
{
    if (trm_machine_get_broken_reason(m)) {
        show_problem(self, m, _("This Machine Cannot Start"), trm_machine_get_broken_reason(m));
        return;
    }
    g_autoptr(GError) error = NULL;
    if (!trm_application_start_machine(self->app, m, &error))
        trm_library_window_toast(self, error->message);
}

static void on_child_activated(GtkFlowBox *box, GtkFlowBoxChild *child, TrmLibraryWindow *self)
{
    GtkWidget *tile = gtk_flow_box_child_get_child(child);
    TrmMachine *m = g_object_get_data(G_OBJECT(tile), "machine");
    if (trm_machine_get_state(m) == TRM_MACHINE_STATE_FAILED && trm_machine_get_failure(m) &&
        trm_machine_has_saved_state(m)) {
        show_restore_failed(self, m);
        trm_machine_set_state(m, TRM_MACHINE_STATE_OFF);
        return;
    }
    if (trm_machine_get_state(m) == TRM_MACHINE_STATE_FAILED && trm_machine_get_failure(m)) {
        show_problem(self, m, _("The Machine Stopped Unexpectedly"), trm_machine_get_failure(m));
        trm_machine_set_state(m, TRM_MACHINE_STATE_OFF);
        return;
    }
    start_machine(self, m);
}

static void on_start(GtkWidget *w, const char *action, GVariant *param)
{
    TrmLibraryWindow *self = TRM_LIBRARY_WINDOW(w);
    TrmMachine *m = find(self, param);
    if (m)
        start_machine(self, m);
}

/* Try mode: the disks run on throwaway overlays; a running machine just shows its window. */
static void on_start_try(GtkWidget *w, const char *action, GVariant *param)
{
    TrmLibraryWindow *self = TRM_LIBRARY_WINDOW(w);
    TrmMachine *m = find(self, param);
    if (!m)
        return;
    if (trm_machine_get_broken_reason(m)) {
        show_problem(self, m, _("This Machine Cannot Start"), trm_machine_get_broken_reason(m));
        return;
    }
    g_autoptr(GError) error = NULL;
    if (!trm_application_start_machine_try(self->app, m, &error))
        trm_library_window_toast(self, error->message);
}

static void call_machine(TrmLibraryWindow *self, GVariant *param, const char *method)
{
    TrmMachine *m = find(self, param);
    if (!m)
        return;
    TrmMachineClient *c = trm_application_get_client(self->app, m);
    trm_machine_client_call(c, method);
}

static void on_pause(GtkWidget *w, const char *a, GVariant *p)
{
    call_machine(TRM_LIBRARY_WINDOW(w), p, "Pause");
}

static void on_resume(GtkWidget *w, const char *a, GVariant *p)
{
    call_machine(TRM_LIBRARY_WINDOW(w), p, "Resume");
}

static void on_save_state(GtkWidget *w, const char *a, GVariant *p)
{
    call_machine(TRM_LIBRARY_WINDOW(w), p, "SaveState");
}

static void discard_saved(TrmLibraryWindow *self, TrmMachine *m, gboolean then_start)
{
    TrmMachineState s = trm_machine_get_state(m);
    if (s == TRM_MACHINE_STATE_RUNNING || s == TRM_MACHINE_STATE_PAUSED ||
        s == TRM_MACHINE_STATE_STARTING) {
        trm_library_window_toast(self, _("The machine is running: it has no saved state."));
        return;
    }
    g_autoptr(GError) error = NULL;
    if (!trm_machine_discard_saved_state(m, &error)) {
        trm_library_window_toast(self, error->message);
        return;
    }
    trm_machine_set_failure(m, NULL);
    trm_machine_set_state(m, TRM_MACHINE_STATE_OFF);
    if (then_start)
        start_machine(self, m);
}

static void on_discard_saved(GtkWidget *w, const char *a, GVariant *p)
{
    TrmLibraryWindow *self = TRM_LIBRARY_WINDOW(w);
    TrmMachine *m = find(self, p);
    if (m)
        discard_saved(self, m, FALSE);
}

static void on_shutdown(GtkWidget *w, const char *a, GVariant *p)
{
    call_machine(TRM_LIBRARY_WINDOW(w), p, "Shutdown");
}

static void on_power_off(GtkWidget *w, const char *a, GVariant *p)
{
    call_machine(TRM_LIBRARY_WINDOW(w), p, "PowerOff");
}

static void on_properties(GtkWidget *w, const char *a, GVariant *p)
{
    TrmLibraryWindow *self = TRM_LIBRARY_WINDOW(w);
    TrmMachine *m = find(self, p);
    if (!m)
        return;
    if (trm_machine_get_broken_reason(m)) {
        show_problem(self, m, _("This Machine Is Damaged"), trm_machine_get_broken_reason(m));
        return;
    }
    GtkWindow *win = trm_properties_window_new(self->store, m, GTK_WINDOW(self));
    gtk_window_present(win);
}

static void on_snapshots(GtkWidget *w, const char *a, GVariant *p)
{
    TrmLibraryWindow *self = TRM_LIBRARY_WINDOW(w);
    TrmMachine *m = find(self, p);
    if (!m || trm_machine_get_broken_reason(m))
        return;
    gtk_window_present(trm_snapshots_window_new(self->app, m, GTK_WINDOW(self)));
}

static void on_rename_response(AdwMessageDialog *d, const char *response, TrmLibraryWindow *self)
{
    if (g_strcmp0(response, "rename") != 0)
        return;
    TrmMachine *m = g_object_get_data(G_OBJECT(d), "machine");
    GtkEditable *entry = g_object_get_data(G_OBJECT(d), "entry");
    g_autofree char *name = g_strstrip(g_strdup(gtk_editable_get_text(entry)));
    if (!*name)
        return;
    trm_machine_set_name(m, name);
    g_autoptr(GError) error = NULL;
    if (!trm_machine_store_save(self->store, m, &error))
        trm_library_window_toast(self, error->message);
}

static void on_rename(GtkWidget *w, const char *a, GVariant *p)
{
    TrmLibraryWindow *self = TRM_LIBRARY_WINDOW(w);
    TrmMachine *m = find(self, p);
    if (!m || trm_machine_get_broken_reason(m))
        return;
    GtkWidget *d = adw_message_dialog_new(GTK_WINDOW(self), _("Rename Machine"), NULL);
    GtkWidget *entry = gtk_entry_new();
    gtk_editable_set_text(GTK_EDITABLE(entry), trm_machine_get_name(m));
    gtk_entry_set_activates_default(GTK_ENTRY(entry), TRUE);
    adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(d), entry);
    adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(d), "cancel", _("_Cancel"), "rename",
                                     _("_Rename"), NULL);
    adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(d), "rename",
                                               ADW_RESPONSE_SUGGESTED);
    adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(d), "rename");
    g_object_set_data_full(G_OBJECT(d), "machine", g_object_ref(m), g_object_unref);
    g_object_set_data(G_OBJECT(d), "entry", entry);
    g_signal_connect(d, "response", G_CALLBACK(on_rename_response), self);
    gtk_window_present(GTK_WINDOW(d));
}

static void on_delete_response(AdwMessageDialog *d, const char *response, TrmLibraryWindow *self)
{
    if (g_strcmp0(response, "delete") != 0)
        return;
    TrmMachine *m = g_object_get_data(G_OBJECT(d), "machine");
    GtkCheckButton *disks = g_object_get_data(G_OBJECT(d), "disks");
    gboolean delete_disks = disks && gtk_check_button_get_active(disks);
    g_autoptr(GError) error = NULL;
    g_autoptr(TrmMachine) keep = g_object_ref(m);
    if (!trm_machine_store_delete(self->store, m, delete_disks, &error)) {
        trm_library_window_toast(self, error->message);
        return;
    }
    if (!delete_disks && disks) {
        g_autofree char *dir = trm_machine_store_dup_kept_disks_dir(self->store);
        g_autofree char *msg = g_strdup_printf(_("The machine's disks were kept in %s"), dir);
        trm_library_window_toast(self, msg);
    }
}

static void on_delete(GtkWidget *w, const char *a, GVariant *p)
{
    TrmLibraryWindow *self = TRM_LIBRARY_WINDOW(w);
    TrmMachine *m = find(self, p);
    if (!m)
        return;
    TrmMachineState s = trm_machine_get_state(m);
    if (s == TRM_MACHINE_STATE_RUNNING || s == TRM_MACHINE_STATE_PAUSED ||
        s == TRM_MACHINE_STATE_STARTING) {
        trm_library_window_toast(self, _("Turn the machine off before deleting it."));
        return;
    }
    g_autofree char *heading = g_strdup_printf(_("Delete “%s”?"), trm_machine_get_name(m));
    GtkWidget *d = adw_message_dialog_new(
        GTK_WINDOW(self), heading,
        _("The machine's settings are removed. Its disks are kept unless you choose otherwise."));
    guint owned = 0;
    for (guint i = 0; i < trm_machine_get_n_drives(m); i++)
        owned += trm_machine_drive_is_owned(m, i);
    if (owned) {
        GtkWidget *check = gtk_check_button_new_with_mnemonic(_("Also delete its _disks"));
        adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(d), check);
        g_object_set_data(G_OBJECT(d), "disks", check);
    }
    adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(d), "cancel", _("_Cancel"), "delete",
                                     _("_Delete"), NULL);
    adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(d), "delete",
                                               ADW_RESPONSE_DESTRUCTIVE);
    g_object_set_data_full(G_OBJECT(d), "machine", g_object_ref(m), g_object_unref);
    g_signal_connect(d, "response", G_CALLBACK(on_delete_response), self);
    gtk_window_present(GTK_WINDOW(d));
}

static void trm_library_window_dispose(GObject *object)
{
    TrmLibraryWindow *self = TRM_LIBRARY_WINDOW(object);
    if (self->store) {
        g_signal_handler_disconnect(trm_machine_store_get_model(self->store),
                                    self->items_changed_id);
        g_clear_object(&self->store);
    }
    G_OBJECT_CLASS(trm_library_window_parent_class)->dispose(object);
}

static void trm_library_window_class_init(TrmLibraryWindowClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = trm_library_window_dispose;
    gtk_widget_class_set_template_from_resource(wc,
                                                "/org/terrarium/Terrarium/trm-library-window.ui");
    gtk_widget_class_bind_template_child(wc, TrmLibraryWindow, toasts);
    gtk_widget_class_bind_template_child(wc, TrmLibraryWindow, stack);
    gtk_widget_class_bind_template_child(wc, TrmLibraryWindow, grid);
    gtk_widget_class_install_action(wc, "win.start", "s", on_start);
    gtk_widget_class_install_action(wc, "win.start-try", "s", on_start_try);
    gtk_widget_class_install_action(wc, "win.pause", "s", on_pause);
    gtk_widget_class_install_action(wc, "win.resume", "s", on_resume);
    gtk_widget_class_install_action(wc, "win.save-state", "s", on_save_state);
    gtk_widget_class_install_action(wc, "win.discard-saved", "s", on_discard_saved);
    gtk_widget_class_install_action(wc, "win.shutdown", "s", on_shutdown);
    gtk_widget_class_install_action(wc, "win.power-off", "s", on_power_off);
    gtk_widget_class_install_action(wc, "win.properties", "s", on_properties);
    gtk_widget_class_install_action(wc, "win.snapshots", "s", on_snapshots);
    gtk_widget_class_install_action(wc, "win.rename", "s", on_rename);
    gtk_widget_class_install_action(wc, "win.delete", "s", on_delete);
}

static void trm_library_window_init(TrmLibraryWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    g_signal_connect(self->grid, "child-activated", G_CALLBACK(on_child_activated), self);
}

TrmLibraryWindow *trm_library_window_new(TrmApplication *app)
{
    TrmLibraryWindow *self = g_object_new(TRM_TYPE_LIBRARY_WINDOW, "application", app, NULL);
    self->app = app;
    trm_library_window_set_store(self, trm_application_get_store(app));
    return self;
}

const char *trm_library_window_get_page(TrmLibraryWindow *self)
{
    return gtk_stack_get_visible_child_name(self->stack);
}

GtkWidget *trm_library_window_get_tile(TrmLibraryWindow *self, guint i)
{
    GtkFlowBoxChild *child = gtk_flow_box_get_child_at_index(self->grid, (int)i);
    return child ? gtk_flow_box_child_get_child(child) : NULL;
}
