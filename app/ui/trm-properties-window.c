/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "trm-disk.h"
#include "trm-properties-window.h"

#define NEW_DISK_DEFAULT_GIB 20

typedef struct {
    TrmMachineStore *store;
    TrmMachine *machine;
    GtkWindow *window;
    GtkSpinButton *memory;
    GtkSpinButton *cpus;
    GtkEditable *forward;
    GtkWidget *forwards_group;
    /* Drives: one row each, rebuilt on every change; editable while the machine is off. */
    GtkWidget *drives_group;
    GPtrArray *drive_rows;
    GtkSpinButton *new_disk_gib;
    GtkWidget *new_disk_row;
    GSimpleActionGroup *actions;
    gboolean creating;
    char *pending_disk; /* the name of the disk being created */
} Props;

static void props_free(gpointer p)
{
    Props *pr = p;
    g_free(pr->pending_disk);
    g_clear_object(&pr->actions);
    g_ptr_array_unref(pr->drive_rows);
    g_object_unref(pr->store);
    g_object_unref(pr->machine);
    g_free(pr);
}

static const char *new_disk_subtitle(void)
{
    return _("A qcow2 image: it takes space only as it fills.");
}

static Props *props_of(GtkWindow *win)
{
    return g_object_get_data(G_OBJECT(win), "props");
}

static GtkWidget *spin_row(const char *title, const char *subtitle, double min, double max,
                           double step, double value, GtkSpinButton **out)
{
    GtkWidget *row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    if (subtitle)
        adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
    GtkWidget *spin = gtk_spin_button_new_with_range(min, max, step);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(spin), value);
    gtk_widget_set_valign(spin, GTK_ALIGN_CENTER);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), spin);
    adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), spin);
    *out = GTK_SPIN_BUTTON(spin);
    return row;
}

static GtkWidget *info_row(const char *title, const char *value)
{
    GtkWidget *row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row), value ? value : "");
    return row;
}

static void add_forward_row(Props *pr, const TrmForward *f)
{
    g_autofree char *t = g_strdup_printf(_("Host port %u → guest port %u (%s)"), f->host_port,
                                         f->guest_port, f->udp ? "UDP" : "TCP");
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(pr->forwards_group), info_row(t, NULL));
}

static void on_add_forward(GtkWidget *w, Props *pr)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *spec = g_strstrip(g_strdup(gtk_editable_get_text(pr->forward)));
    if (!trm_machine_add_forward(pr->machine, spec, &error)) {
        GtkRoot *root = gtk_widget_get_root(w);
        adw_preferences_window_add_toast(ADW_PREFERENCES_WINDOW(root),
                                         adw_toast_new(error->message));
        return;
    }
    guint n = trm_machine_get_n_forwards(pr->machine);
    add_forward_row(pr, trm_machine_get_forward(pr->machine, n - 1));
    gtk_editable_set_text(pr->forward, "");
}

/* Drives ---------------------------------------------------------------- */

static void props_toast(Props *pr, const char *text)
{
    adw_preferences_window_add_toast(ADW_PREFERENCES_WINDOW(pr->window), adw_toast_new(text));
}

static gboolean machine_off(TrmMachine *m)
{
    TrmMachineState s = trm_machine_get_state(m);
    return s == TRM_MACHINE_STATE_OFF || s == TRM_MACHINE_STATE_FAILED ||
           s == TRM_MACHINE_STATE_SAVED;
}

/* The hardware changed: a saved state describes the old machine (the group says so). */
static void drop_saved_state(TrmMachine *m)
{
    g_autoptr(GError) error = NULL;
    if (trm_machine_has_saved_state(m) && !trm_machine_discard_saved_state(m, &error))
        g_warning("%s", error->message);
}

static gboolean save(Props *pr)
{
    g_autoptr(GError) error = NULL;
    if (!trm_machine_store_save(pr->store, pr->machine, &error)) {
        props_toast(pr, error->message);
        return FALSE;
    }
    return TRUE;
}

static GtkWidget *icon_button(const char *icon, const char *tooltip, const char *action,
                              GVariant *target)
{
    GtkWidget *b = gtk_button_new_from_icon_name(icon);
    gtk_widget_set_valign(b, GTK_ALIGN_CENTER);
    gtk_widget_set_tooltip_text(b, tooltip);
    gtk_widget_add_css_class(b, "flat");
    gtk_actionable_set_action_name(GTK_ACTIONABLE(b), action);
    if (target)
        gtk_actionable_set_action_target_value(GTK_ACTIONABLE(b), target);
    return b;
}

static void update_drive_actions(Props *pr)
{
    gboolean can = machine_off(pr->machine) && !pr->creating;
    gboolean room = trm_machine_get_n_drives(pr->machine) < TRM_MAX_DRIVES;
    static const char *const edits[] = {"remove-drive", "change-media"};
    for (guint i = 0; i < G_N_ELEMENTS(edits); i++)
        g_simple_action_set_enabled(
            G_SIMPLE_ACTION(g_action_map_lookup_action(G_ACTION_MAP(pr->actions), edits[i])), can);
    static const char *const adds[] = {"add-disk", "add-cdrom"};
    for (guint i = 0; i < G_N_ELEMENTS(adds); i++)
        g_simple_action_set_enabled(
            G_SIMPLE_ACTION(g_action_map_lookup_action(G_ACTION_MAP(pr->actions), adds[i])),
            can && room);
    adw_preferences_group_set_description(ADW_PREFERENCES_GROUP(pr->drives_group),
                                          !machine_off(pr->machine)
                                              ? _("Turn the machine off to change its drives.")
                                          : trm_machine_get_n_drives(pr->machine) ? NULL
                                                                                  : _("No drives"));
}

static void rebuild_drives(Props *pr)
{
    for (guint i = 0; i < pr->drive_rows->len; i++)
        adw_preferences_group_remove(ADW_PREFERENCES_GROUP(pr->drives_group),
                                     pr->drive_rows->pdata[i]);
    g_ptr_array_set_size(pr->drive_rows, 0);
    /* The "new disk" row stays last. */
    g_object_ref(pr->new_disk_row);
    adw_preferences_group_remove(ADW_PREFERENCES_GROUP(pr->drives_group), pr->new_disk_row);
    for (guint i = 0; i < trm_machine_get_n_drives(pr->machine); i++) {
        const TrmDrive *d = trm_machine_get_drive(pr->machine, i);
        g_autofree char *path = trm_machine_dup_drive_path(pr->machine, i);
        GtkWidget *row = adw_action_row_new();
        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), d->cdrom ? _("CD/DVD") : _("Disk"));
        adw_action_row_set_subtitle(ADW_ACTION_ROW(row), path);
        if (d->cdrom)
            adw_action_row_add_suffix(ADW_ACTION_ROW(row),
                                      icon_button("document-open-symbolic", _("Change Image…"),
                                                  "props.change-media", g_variant_new_uint32(i)));
        adw_action_row_add_suffix(ADW_ACTION_ROW(row),
                                  icon_button("list-remove-symbolic", _("Remove Drive"),
                                              "props.remove-drive", g_variant_new_uint32(i)));
        adw_preferences_group_add(ADW_PREFERENCES_GROUP(pr->drives_group), row);
        g_ptr_array_add(pr->drive_rows, row);
    }
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(pr->drives_group), pr->new_disk_row);
    g_object_unref(pr->new_disk_row);
    update_drive_actions(pr);
}

static void on_remove_drive(GSimpleAction *a, GVariant *param, gpointer data)
{
    Props *pr = data;
    guint i = g_variant_get_uint32(param);
    if (i >= trm_machine_get_n_drives(pr->machine) || !machine_off(pr->machine))
        return;
    g_autofree char *path = trm_machine_dup_drive_path(pr->machine, i);
    gboolean cdrom = trm_machine_get_drive(pr->machine, i)->cdrom;
    trm_machine_remove_drive(pr->machine, i);
    drop_saved_state(pr->machine);
    if (!save(pr))
        return;
    rebuild_drives(pr);
    if (!cdrom) {
        g_autofree char *msg =
            g_strdup_printf(_("The disk was taken out; its file %s was kept."), path);
        props_toast(pr, msg);
    }
}

gboolean trm_properties_window_set_cdrom(GtkWindow *win, guint i, GFile *file, GError **error)
{
    Props *pr = props_of(win);
    g_autofree char *path = g_file_get_path(file);
    gboolean ok = FALSE;
    if (!machine_off(pr->machine))
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_BUSY,
                            _("Turn the machine off to change its drives."));
    else if (!path || !g_file_test(path, G_FILE_TEST_IS_REGULAR))
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                            _("Choose an image file on this computer."));
    else if (i < trm_machine_get_n_drives(pr->machine))
        ok = trm_machine_set_drive_path(pr->machine, i, path, error);
    else
        ok = trm_machine_add_drive(pr->machine, path, TRUE, TRUE, error);
    if (ok)
        drop_saved_state(pr->machine);
    if (!ok || !save(pr))
        return FALSE;
    rebuild_drives(pr);
    return TRUE;
}

static void on_image_chosen(GtkNativeDialog *chooser, int response, Props *pr)
{
    guint i = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(chooser), "drive"));
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(chooser));
        g_autoptr(GError) error = NULL;
        if (file && !trm_properties_window_set_cdrom(pr->window, i, file, &error))
            props_toast(pr, error->message);
    }
    g_object_unref(chooser);
}

static void choose_image(Props *pr, guint drive)
{
    GtkFileChooserNative *chooser =
        gtk_file_chooser_native_new(_("Choose a CD/DVD Image"), pr->window,
                                    GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), _("_Cancel"));
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(chooser), TRUE);
    GtkFileFilter *f = gtk_file_filter_new();
    gtk_file_filter_set_name(f, _("CD/DVD Images"));
    gtk_file_filter_add_pattern(f, "*.iso");
    gtk_file_filter_add_pattern(f, "*.ISO");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), f);
    g_object_unref(f);
    g_object_set_data(G_OBJECT(chooser), "drive", GUINT_TO_POINTER(drive));
    g_signal_connect(chooser, "response", G_CALLBACK(on_image_chosen), pr);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}

static void on_change_media(GSimpleAction *a, GVariant *param, gpointer data)
{
    Props *pr = data;
    guint i = g_variant_get_uint32(param);
    if (i < trm_machine_get_n_drives(pr->machine) && trm_machine_get_drive(pr->machine, i)->cdrom)
        choose_image(pr, i);
}

static void on_add_cdrom(GSimpleAction *a, GVariant *param, gpointer data)
{
    Props *pr = data;
    choose_image(pr, G_MAXUINT);
}

/* A name in the machine's directory that no file has yet: disk-2.qcow2, disk-3.qcow2, ... */
static char *new_disk_name(Props *pr)
{
    for (guint n = 1; n < 1000; n++) {
        g_autofree char *name =
            n == 1 ? g_strdup("disk.qcow2") : g_strdup_printf("disk-%u.qcow2", n);
        g_autofree char *path = g_build_filename(trm_machine_get_dir(pr->machine), name, NULL);
        gboolean used = g_file_test(path, G_FILE_TEST_EXISTS);
        for (guint i = 0; i < trm_machine_get_n_drives(pr->machine) && !used; i++)
            used = g_strcmp0(trm_machine_get_drive(pr->machine, i)->path, name) == 0;
        if (!used)
            return g_steal_pointer(&name);
    }
    return NULL;
}

static void on_disk_progress(double fraction, gpointer data)
{
    Props *pr = data;
    g_autofree char *text = g_strdup_printf(_("Creating the disk… %d %%"), (int)(fraction * 100));
    adw_action_row_set_subtitle(ADW_ACTION_ROW(pr->new_disk_row), text);
}

static void on_disk_created(GObject *src, GAsyncResult *res, gpointer data)
{
    GtkWindow *win = data; /* held until here, so pr lives too */
    Props *pr = props_of(win);
    g_autoptr(GError) error = NULL;
    gboolean ok = trm_disk_create_finish(res, &error);
    g_autofree char *name = g_steal_pointer(&pr->pending_disk);
    pr->creating = FALSE;
    adw_action_row_set_subtitle(ADW_ACTION_ROW(pr->new_disk_row), new_disk_subtitle());
    if (!ok)
        props_toast(pr, error->message);
    else if (!trm_machine_add_drive(pr->machine, name, FALSE, FALSE, &error))
        props_toast(pr, error->message);
    else {
        drop_saved_state(pr->machine);
        save(pr);
    }
    rebuild_drives(pr);
    g_object_unref(win);
}

gboolean trm_properties_window_add_disk(GtkWindow *win, guint64 bytes, GError **error)
{
    Props *pr = props_of(win);
    if (!machine_off(pr->machine) || pr->creating) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_BUSY,
                            _("Turn the machine off to change its drives."));
        return FALSE;
    }
    if (trm_machine_get_n_drives(pr->machine) >= TRM_MAX_DRIVES) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                    _("A machine can have at most %d drives."), TRM_MAX_DRIVES);
        return FALSE;
    }
    g_autofree char *name = new_disk_name(pr);
    if (!name) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                            _("The machine's folder has no free name for another disk."));
        return FALSE;
    }
    g_autofree char *path = g_build_filename(trm_machine_get_dir(pr->machine), name, NULL);
    pr->creating = TRUE;
    pr->pending_disk = g_steal_pointer(&name);
    update_drive_actions(pr);
    trm_disk_create_async(path, TRM_DISK_QCOW2, bytes, NULL, on_disk_progress, pr, on_disk_created,
                          g_object_ref(win));
    return TRUE;
}

static void on_add_disk(GSimpleAction *a, GVariant *param, gpointer data)
{
    Props *pr = data;
    guint64 bytes = (guint64)gtk_spin_button_get_value(pr->new_disk_gib) << 30;
    g_autoptr(GError) error = NULL;
    if (!trm_properties_window_add_disk(pr->window, bytes, &error))
        props_toast(pr, error->message);
}

static const GActionEntry drive_actions[] = {
    {.name = "remove-drive", .activate = on_remove_drive, .parameter_type = "u"},
    {.name = "change-media", .activate = on_change_media, .parameter_type = "u"},
    {.name = "add-cdrom", .activate = on_add_cdrom},
    {.name = "add-disk", .activate = on_add_disk},
};

static GtkWidget *drives_group(Props *pr)
{
    pr->drives_group = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(pr->drives_group), _("Drives"));
    pr->actions = g_simple_action_group_new();
    g_action_map_add_action_entries(G_ACTION_MAP(pr->actions), drive_actions,
                                    G_N_ELEMENTS(drive_actions), pr);
    gtk_widget_insert_action_group(GTK_WIDGET(pr->window), "props", G_ACTION_GROUP(pr->actions));

    GtkWidget *header = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *add_cd = gtk_button_new_with_mnemonic(_("Add _CD/DVD…"));
    gtk_actionable_set_action_name(GTK_ACTIONABLE(add_cd), "props.add-cdrom");
    gtk_widget_add_css_class(add_cd, "flat");
    gtk_box_append(GTK_BOX(header), add_cd);
    adw_preferences_group_set_header_suffix(ADW_PREFERENCES_GROUP(pr->drives_group), header);

    pr->new_disk_row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(pr->new_disk_row), _("New Disk"));
    adw_action_row_set_subtitle(ADW_ACTION_ROW(pr->new_disk_row), new_disk_subtitle());
    GtkWidget *spin = gtk_spin_button_new_with_range(1, 2048, 1);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(spin), NEW_DISK_DEFAULT_GIB);
    gtk_widget_set_valign(spin, GTK_ALIGN_CENTER);
    gtk_widget_set_tooltip_text(spin, _("Size in GiB"));
    pr->new_disk_gib = GTK_SPIN_BUTTON(spin);
    adw_action_row_add_suffix(ADW_ACTION_ROW(pr->new_disk_row), spin);
    GtkWidget *add = gtk_button_new_with_mnemonic(_("_Add"));
    gtk_widget_set_valign(add, GTK_ALIGN_CENTER);
    gtk_actionable_set_action_name(GTK_ACTIONABLE(add), "props.add-disk");
    adw_action_row_add_suffix(ADW_ACTION_ROW(pr->new_disk_row), add);
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(pr->drives_group), pr->new_disk_row);
    rebuild_drives(pr);
    return pr->drives_group;
}

static void on_try_mode(GtkSwitch *sw, GParamSpec *pspec, Props *pr)
{
    trm_machine_set_try_mode(pr->machine, gtk_switch_get_active(sw));
    save(pr);
}

/* Try mode as a setting: every start runs the disks on throwaway overlays. */
static GtkWidget *try_mode_row(Props *pr)
{
    GtkWidget *row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), _("Try Mode"));
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row),
                                _("Changes to the disks are discarded when the machine stops. "
                                  "Snapshots cannot be taken meanwhile."));
    GtkWidget *sw = gtk_switch_new();
    gtk_widget_set_name(sw, "try-mode-switch");
    gtk_widget_set_valign(sw, GTK_ALIGN_CENTER);
    gtk_switch_set_active(GTK_SWITCH(sw), trm_machine_get_try_mode(pr->machine));
    g_signal_connect(sw, "notify::active", G_CALLBACK(on_try_mode), pr);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), sw);
    adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), sw);
    return row;
}

static gboolean on_close(GtkWindow *win, Props *pr)
{
    if (trm_machine_get_memory_mib(pr->machine) != (guint)gtk_spin_button_get_value(pr->memory) ||
        trm_machine_get_cpus(pr->machine) != (guint)gtk_spin_button_get_value(pr->cpus))
        drop_saved_state(pr->machine);
    trm_machine_set_memory_mib(pr->machine, (guint)gtk_spin_button_get_value(pr->memory));
    trm_machine_set_cpus(pr->machine, (guint)gtk_spin_button_get_value(pr->cpus));
    g_autoptr(GError) error = NULL;
    if (!trm_machine_store_save(pr->store, pr->machine, &error))
        g_warning("%s", error->message);
    return FALSE;
}

GtkWindow *trm_properties_window_new(TrmMachineStore *store, TrmMachine *machine, GtkWindow *parent)
{
    Props *pr = g_new0(Props, 1);
    pr->store = g_object_ref(store);
    pr->machine = g_object_ref(machine);
    pr->drive_rows = g_ptr_array_new();
    GtkWidget *win = adw_preferences_window_new();
    pr->window = GTK_WINDOW(win);
    g_object_set_data_full(G_OBJECT(win), "props", pr, props_free);
    gtk_window_set_transient_for(GTK_WINDOW(win), parent);
    gtk_window_set_modal(GTK_WINDOW(win), TRUE);
    gtk_window_set_title(GTK_WINDOW(win), trm_machine_get_name(machine));
    adw_preferences_window_set_search_enabled(ADW_PREFERENCES_WINDOW(win), FALSE);
    gboolean off = machine_off(machine);

    GtkWidget *page = adw_preferences_page_new();
    GtkWidget *hw = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(hw), _("Hardware"));
    if (!off)
        adw_preferences_group_set_description(
            ADW_PREFERENCES_GROUP(hw), _("Changes take effect the next time the machine starts."));
    else if (trm_machine_has_saved_state(machine))
        adw_preferences_group_set_description(
            ADW_PREFERENCES_GROUP(hw), _("The machine has a saved state: changing its memory, "
                                         "processors or drives discards it."));
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(hw),
                              spin_row(_("Memory"), _("MiB"), 64, 256 * 1024, 256,
                                       trm_machine_get_memory_mib(machine), &pr->memory));
    adw_preferences_group_add(
        ADW_PREFERENCES_GROUP(hw),
        spin_row(_("Processors"), NULL, 1, 64, 1, trm_machine_get_cpus(machine), &pr->cpus));
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(hw));

    GtkWidget *boot = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(boot), _("Start-up"));
    if (trm_machine_get_boot(machine) == TRM_BOOT_KERNEL) {
        adw_preferences_group_add(ADW_PREFERENCES_GROUP(boot),
                                  info_row(_("Linux Kernel"), trm_machine_get_kernel(machine)));
        adw_preferences_group_add(ADW_PREFERENCES_GROUP(boot),
                                  info_row(_("Initial Ramdisk"), trm_machine_get_initrd(machine)));
        adw_preferences_group_add(ADW_PREFERENCES_GROUP(boot),
                                  info_row(_("Command Line"), trm_machine_get_cmdline(machine)));
    } else {
        adw_preferences_group_add(ADW_PREFERENCES_GROUP(boot),
                                  info_row(_("Firmware"), _("PC BIOS (SeaBIOS)")));
    }
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(boot), try_mode_row(pr));
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(boot));

    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(drives_group(pr)));

    pr->forwards_group = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(pr->forwards_group),
                                    _("Port Forwarding"));
    adw_preferences_group_set_description(
        ADW_PREFERENCES_GROUP(pr->forwards_group),
        _("Reach a service in the machine from this computer, e.g. tcp:2222:22 for SSH."));
    GtkWidget *entry = adw_entry_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(entry), _("New Forward"));
    adw_entry_row_set_show_apply_button(ADW_ENTRY_ROW(entry), TRUE);
    g_signal_connect(entry, "apply", G_CALLBACK(on_add_forward), pr);
    pr->forward = GTK_EDITABLE(entry);
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(pr->forwards_group), entry);
    for (guint i = 0; i < trm_machine_get_n_forwards(machine); i++)
        add_forward_row(pr, trm_machine_get_forward(machine, i));
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(pr->forwards_group));

    adw_preferences_window_add(ADW_PREFERENCES_WINDOW(win), ADW_PREFERENCES_PAGE(page));
    g_signal_connect(win, "close-request", G_CALLBACK(on_close), pr);
    return GTK_WINDOW(win);
}
