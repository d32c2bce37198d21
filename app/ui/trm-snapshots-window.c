/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The snapshot browser: a machine's snapshot tree as an indented list (the
 * current snapshot marked), each row with its thumbnail, name, date and
 * description. Taking works running (Machine1.TakeSnapshot) or off; restoring
 * a running machine offers to keep its present state as a snapshot first,
 * then turns it off and starts it from the snapshot; deleting a running
 * machine's snapshot goes through it (Machine1.DeleteSnapshot: the machine
 * process owns the disks). Clone makes a new machine from a snapshot
 * (trm_machine_store_clone_async) with a progress toast. A machine running
 * in try mode takes no snapshots: the window says why.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "trm-dbus-machine1.h"
#include "trm-machine-client.h"
#include "trm-snapshot-tree.h"
#include "trm-snapshots-window.h"

#define MAX_DEPTH 32

struct _TrmSnapshotsWindow {
    AdwWindow parent_instance;
    TrmApplication *app;
    TrmMachine *machine;
    TrmSnapshotTree *tree;
    AdwToastOverlay *toasts;
    GtkListBox *list;
    char *restore_id; /* waiting for the machine to be off */
    gulong state_id;
    AdwToast *clone_toast; /* while a clone is being made */
    GCancellable *cancel;
};

G_DEFINE_FINAL_TYPE(TrmSnapshotsWindow, trm_snapshots_window, ADW_TYPE_WINDOW)

static void toast(TrmSnapshotsWindow *self, const char *text)
{
    adw_toast_overlay_add_toast(self->toasts, adw_toast_new(text));
}

static gboolean is_live(TrmSnapshotsWindow *self)
{
    TrmMachineState st = trm_machine_get_state(self->machine);
    return st == TRM_MACHINE_STATE_RUNNING || st == TRM_MACHINE_STATE_PAUSED ||
           st == TRM_MACHINE_STATE_STARTING;
}

static void reload(TrmSnapshotsWindow *self);

static void add_rows(TrmSnapshotsWindow *self, const char *parent, int depth)
{
    if (depth > MAX_DEPTH)
        return;
    g_autoptr(GPtrArray) kids = trm_snapshot_tree_get_children(self->tree, parent);
    for (guint i = 0; i < kids->len; i++) {
        TrmSnapshot *s = g_ptr_array_index(kids, i);
        const char *id = trm_snapshot_get_id(s);
        AdwActionRow *row = ADW_ACTION_ROW(adw_action_row_new());
        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), trm_snapshot_get_name(s));
        g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(trm_snapshot_get_date(s));
        g_autofree char *date = dt ? g_date_time_format(dt, "%x %X") : g_strdup("");
        const char *desc = trm_snapshot_get_description(s);
        gboolean current = g_strcmp0(trm_snapshot_tree_get_current(self->tree), id) == 0;
        g_autofree char *sub = g_strdup_printf(
            "%s%s%s%s%s", date, trm_snapshot_get_ram(s) ? _(" · running") : _(" · off"),
            current ? _(" · current") : "", *desc ? "\n" : "", desc);
        g_autofree char *escaped = g_markup_escape_text(sub, -1);
        adw_action_row_set_subtitle(row, escaped);
        gtk_widget_set_margin_start(GTK_WIDGET(row), 24 * depth);
        GtkWidget *pic = gtk_picture_new();
        gtk_widget_set_size_request(pic, 96, 72);
        g_autoptr(GBytes) png = trm_snapshot_tree_load_thumbnail(self->tree, id);
        g_autoptr(GdkTexture) tex = png ? gdk_texture_new_from_bytes(png, NULL) : NULL;
        if (tex)
            gtk_picture_set_paintable(GTK_PICTURE(pic), GDK_PAINTABLE(tex));
        adw_action_row_add_prefix(row, pic);
        struct {
            const char *icon, *tip, *action;
        } buttons[] = {
            {"edit-undo-symbolic", N_("Restore"), "snap.restore"},
            {"document-edit-symbolic", N_("Rename"), "snap.rename"},
            {"edit-copy-symbolic", N_("Clone to a New Machine"), "snap.clone"},
            {"user-trash-symbolic", N_("Delete"), "snap.delete"},
        };
        for (guint b = 0; b < G_N_ELEMENTS(buttons); b++) {
            GtkWidget *btn = gtk_button_new_from_icon_name(buttons[b].icon);
            gtk_widget_set_tooltip_text(btn, _(buttons[b].tip));
            gtk_widget_set_valign(btn, GTK_ALIGN_CENTER);
            gtk_widget_add_css_class(btn, "flat");
            gtk_actionable_set_action_name(GTK_ACTIONABLE(btn), buttons[b].action);
            gtk_actionable_set_action_target(GTK_ACTIONABLE(btn), "s", id);
            adw_action_row_add_suffix(row, btn);
        }
        g_object_set_data_full(G_OBJECT(row), "snapshot-id", g_strdup(id), g_free);
        g_object_set_data(G_OBJECT(row), "picture", pic);
        gtk_list_box_append(self->list, GTK_WIDGET(row));
        add_rows(self, id, depth + 1);
    }
}

static void reload(TrmSnapshotsWindow *self)
{
    g_clear_object(&self->tree);
    self->tree = trm_snapshot_tree_load(trm_machine_get_dir(self->machine));
    GtkWidget *row;
    while ((row = GTK_WIDGET(gtk_list_box_get_row_at_index(self->list, 0))))
        gtk_list_box_remove(self->list, row);
    add_rows(self, NULL, 0);
}

static void on_taken(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(TrmSnapshotsWindow) self = data;
    g_autofree char *id = NULL;
    g_autoptr(GError) error = NULL;
    if (!trm_dbus_machine1_call_take_snapshot_finish(TRM_DBUS_MACHINE1(src), &id, res, &error)) {
        g_dbus_error_strip_remote_error(error);
        toast(self, error->message);
        return;
    }
    reload(self);
    if (self->restore_id) {
        TrmMachineClient *c = trm_application_get_client(self->app, self->machine);
        trm_machine_client_call(c, "PowerOff");
    }
}

static char *default_name(void)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *stamp = g_date_time_format(now, "%x %X");
    return g_strdup_printf(_("Snapshot of %s"), stamp);
}

static void take(TrmSnapshotsWindow *self)
{
    g_autofree char *name = default_name();
    TrmMachineClient *c = trm_application_get_client(self->app, self->machine);
    TrmDBusMachine1 *proxy = c ? trm_machine_client_get_proxy(c) : NULL;
    if (is_live(self)) {
        if (!proxy) {
            toast(self, _("The machine is still starting; try again in a moment."));
            return;
        }
        if (trm_dbus_machine1_get_try_mode(proxy)) {
            toast(self, _("No snapshots in try mode: everything the machine writes is thrown "
                          "away when it stops. Start it normally to take snapshots."));
            g_clear_pointer(&self->restore_id, g_free);
            return;
        }
        trm_dbus_machine1_call_take_snapshot(proxy, name, "", TRUE, NULL, on_taken,
                                             g_object_ref(self));
        return;
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(TrmSnapshot) s = trm_snapshot_tree_take_offline(
        self->tree, self->machine, name, "", trm_machine_get_thumbnail(self->machine), &error);
    if (!s)
        toast(self, error->message);
    reload(self);
}

static void on_take(GtkWidget *w, const char *a, GVariant *p)
{
    take(TRM_SNAPSHOTS_WINDOW(w));
}

static void start_restored(TrmSnapshotsWindow *self)
{
    g_autofree char *id = g_steal_pointer(&self->restore_id);
    g_clear_signal_handler(&self->state_id, self->machine);
    TrmMachineClient *c = trm_application_get_client(self->app, self->machine);
    g_autoptr(GError) error = NULL;
    if (!trm_machine_client_start_restoring(c, id, &error))
        toast(self, error->message);
    else
        toast(self, _("Restoring the snapshot…"));
}

static void on_machine_state(TrmMachine *m, GParamSpec *pspec, TrmSnapshotsWindow *self)
{
    TrmMachineState st = trm_machine_get_state(m);
    if (self->restore_id && (st == TRM_MACHINE_STATE_OFF || st == TRM_MACHINE_STATE_FAILED))
        start_restored(self);
}

static void on_restore_response(AdwMessageDialog *d, const char *response, TrmSnapshotsWindow *self)
{
    if (g_strcmp0(response, "cancel") == 0) {
        g_clear_pointer(&self->restore_id, g_free);
        return;
    }
    self->state_id =
        g_signal_connect(self->machine, "notify::state", G_CALLBACK(on_machine_state), self);
    if (g_strcmp0(response, "keep") == 0) {
        take(self); /* powers off once taken */
        return;
    }
    TrmMachineClient *c = trm_application_get_client(self->app, self->machine);
    trm_machine_client_call(c, "PowerOff");
}

static void on_restore(GtkWidget *w, const char *a, GVariant *p)
{
    TrmSnapshotsWindow *self = TRM_SNAPSHOTS_WINDOW(w);
    g_free(self->restore_id);
    self->restore_id = g_variant_dup_string(p, NULL);
    if (!is_live(self)) {
        start_restored(self);
        return;
    }
    GtkWidget *d = adw_message_dialog_new(GTK_WINDOW(self), _("Keep the Present State?"),
                                          _("The machine is running. Restoring turns it off and "
                                            "starts it from the snapshot; what it does now is "
                                            "lost unless you keep it as a snapshot first."));
    adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(d), "cancel", _("_Cancel"), "discard",
                                     _("_Discard and Restore"), "keep", _("_Keep and Restore"),
                                     NULL);
    adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(d), "discard",
                                               ADW_RESPONSE_DESTRUCTIVE);
    adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(d), "keep");
    g_signal_connect(d, "response", G_CALLBACK(on_restore_response), self);
    gtk_window_present(GTK_WINDOW(d));
}

static void on_deleted_live(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(TrmSnapshotsWindow) self = data;
    g_autoptr(GError) error = NULL;
    if (!trm_dbus_machine1_call_delete_snapshot_finish(TRM_DBUS_MACHINE1(src), res, &error)) {
        g_dbus_error_strip_remote_error(error);
        toast(self, error->message);
    }
    reload(self);
}

static void on_delete(GtkWidget *w, const char *a, GVariant *p)
{
    TrmSnapshotsWindow *self = TRM_SNAPSHOTS_WINDOW(w);
    if (is_live(self)) {
        /* The machine process has the disks open: it deletes through its own handles. */
        TrmMachineClient *c = trm_application_get_client(self->app, self->machine);
        TrmDBusMachine1 *proxy = c ? trm_machine_client_get_proxy(c) : NULL;
        if (!proxy) {
            toast(self, _("The machine is still starting; try again in a moment."));
            return;
        }
        trm_dbus_machine1_call_delete_snapshot(proxy, g_variant_get_string(p, NULL), NULL,
                                               on_deleted_live, g_object_ref(self));
        return;
    }
    g_autoptr(GError) error = NULL;
    if (!trm_snapshot_tree_delete(self->tree, self->machine, g_variant_get_string(p, NULL), &error))
        toast(self, error->message);
    reload(self);
}

static void on_clone_progress(double fraction, gpointer data)
{
    TrmSnapshotsWindow *self = data;
    if (!self->clone_toast)
        return;
    g_autofree char *text =
        g_strdup_printf(_("Copying the disks for the clone… %d %%"), (int)(fraction * 100));
    adw_toast_set_title(self->clone_toast, text);
}

static void on_cloned(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(TrmSnapshotsWindow) self = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(TrmMachine) m = trm_machine_store_clone_finish(TRM_MACHINE_STORE(src), res, &error);
    if (self->clone_toast) {
        g_autoptr(AdwToast) t = g_steal_pointer(&self->clone_toast);
        adw_toast_dismiss(t);
    }
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "snap.clone", TRUE);
    if (!m) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            toast(self, error->message);
        return;
    }
    g_autofree char *text = g_strdup_printf(_("“%s” is ready"), trm_machine_get_name(m));
    toast(self, text);
}

static void on_clone(GtkWidget *w, const char *a, GVariant *p)
{
    TrmSnapshotsWindow *self = TRM_SNAPSHOTS_WINDOW(w);
    if (self->clone_toast)
        return;
    /* Progress for a long copy: a toast that stays until the clone is done. */
    AdwToast *t = adw_toast_new(_("Copying the disks for the clone…"));
    adw_toast_set_timeout(t, 0);
    self->clone_toast = t;
    adw_toast_overlay_add_toast(self->toasts, g_object_ref(t));
    gtk_widget_action_set_enabled(w, "snap.clone", FALSE);
    /* The store's progress messages reach this window only while it lives. */
    trm_machine_store_clone_async(trm_application_get_store(self->app), self->machine,
                                  g_variant_get_string(p, NULL), self->cancel, on_clone_progress,
                                  self, on_cloned, g_object_ref(self));
}

static void on_rename_response(AdwMessageDialog *d, const char *response, TrmSnapshotsWindow *self)
{
    if (g_strcmp0(response, "rename") != 0)
        return;
    GtkEditable *entry = GTK_EDITABLE(adw_message_dialog_get_extra_child(d));
    const char *id = g_object_get_data(G_OBJECT(d), "snapshot-id");
    g_autoptr(GError) error = NULL;
    if (!trm_snapshot_tree_rename(self->tree, id, gtk_editable_get_text(entry), &error))
        toast(self, error->message);
    reload(self);
}

static void on_rename(GtkWidget *w, const char *a, GVariant *p)
{
    TrmSnapshotsWindow *self = TRM_SNAPSHOTS_WINDOW(w);
    TrmSnapshot *s = trm_snapshot_tree_find(self->tree, g_variant_get_string(p, NULL));
    if (!s)
        return;
    GtkWidget *d = adw_message_dialog_new(GTK_WINDOW(self), _("Rename Snapshot"), NULL);
    GtkWidget *entry = gtk_entry_new();
    gtk_editable_set_text(GTK_EDITABLE(entry), trm_snapshot_get_name(s));
    gtk_entry_set_activates_default(GTK_ENTRY(entry), TRUE);
    adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(d), entry);
    adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(d), "cancel", _("_Cancel"), "rename",
                                     _("_Rename"), NULL);
    adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(d), "rename");
    g_object_set_data_full(G_OBJECT(d), "snapshot-id", g_strdup(trm_snapshot_get_id(s)), g_free);
    g_signal_connect(d, "response", G_CALLBACK(on_rename_response), self);
    gtk_window_present(GTK_WINDOW(d));
}

static void trm_snapshots_window_dispose(GObject *object)
{
    TrmSnapshotsWindow *self = TRM_SNAPSHOTS_WINDOW(object);
    if (self->machine)
        g_clear_signal_handler(&self->state_id, self->machine);
    g_cancellable_cancel(self->cancel);
    g_clear_object(&self->machine);
    g_clear_object(&self->tree);
    g_clear_object(&self->cancel);
    g_clear_object(&self->clone_toast);
    g_clear_pointer(&self->restore_id, g_free);
    G_OBJECT_CLASS(trm_snapshots_window_parent_class)->dispose(object);
}

static void trm_snapshots_window_class_init(TrmSnapshotsWindowClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = trm_snapshots_window_dispose;
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    gtk_widget_class_install_action(wc, "snap.take", NULL, on_take);
    gtk_widget_class_install_action(wc, "snap.restore", "s", on_restore);
    gtk_widget_class_install_action(wc, "snap.rename", "s", on_rename);
    gtk_widget_class_install_action(wc, "snap.delete", "s", on_delete);
    gtk_widget_class_install_action(wc, "snap.clone", "s", on_clone);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_S, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                        "snap.take", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void trm_snapshots_window_init(TrmSnapshotsWindow *self)
{
    self->cancel = g_cancellable_new();
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    GtkWidget *header = adw_header_bar_new();
    GtkWidget *take_btn = gtk_button_new_with_mnemonic(_("_Take Snapshot"));
    gtk_actionable_set_action_name(GTK_ACTIONABLE(take_btn), "snap.take");
    gtk_widget_add_css_class(take_btn, "suggested-action");
    adw_header_bar_pack_start(ADW_HEADER_BAR(header), take_btn);
    gtk_box_append(GTK_BOX(box), header);
    self->toasts = ADW_TOAST_OVERLAY(adw_toast_overlay_new());
    GtkWidget *scroll = gtk_scrolled_window_new();
    gtk_widget_set_vexpand(scroll, TRUE);
    self->list = GTK_LIST_BOX(gtk_list_box_new());
    gtk_list_box_set_selection_mode(self->list, GTK_SELECTION_NONE);
    gtk_widget_add_css_class(GTK_WIDGET(self->list), "boxed-list");
    gtk_widget_set_margin_start(GTK_WIDGET(self->list), 12);
    gtk_widget_set_margin_end(GTK_WIDGET(self->list), 12);
    gtk_widget_set_margin_top(GTK_WIDGET(self->list), 12);
    gtk_widget_set_margin_bottom(GTK_WIDGET(self->list), 12);
    GtkWidget *empty = adw_status_page_new();
    adw_status_page_set_title(ADW_STATUS_PAGE(empty), _("No Snapshots"));
    adw_status_page_set_description(ADW_STATUS_PAGE(empty),
                                    _("A snapshot keeps the machine as it is now, to come back "
                                      "to later."));
    gtk_list_box_set_placeholder(self->list, empty);
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroll), GTK_WIDGET(self->list));
    adw_toast_overlay_set_child(self->toasts, scroll);
    gtk_box_append(GTK_BOX(box), GTK_WIDGET(self->toasts));
    adw_window_set_content(ADW_WINDOW(self), box);
    gtk_window_set_default_size(GTK_WINDOW(self), 560, 520);
}

GtkWindow *trm_snapshots_window_new(TrmApplication *app, TrmMachine *machine, GtkWindow *parent)
{
    TrmSnapshotsWindow *self =
        g_object_new(TRM_TYPE_SNAPSHOTS_WINDOW, "transient-for", parent, "application", app, NULL);
    self->app = app;
    self->machine = g_object_ref(machine);
    g_autofree char *title = g_strdup_printf(_("Snapshots of %s"), trm_machine_get_name(machine));
    gtk_window_set_title(GTK_WINDOW(self), title);
    reload(self);
    return GTK_WINDOW(self);
}

GtkListBox *trm_snapshots_window_get_list(TrmSnapshotsWindow *self)
{
    return self->list;
}
