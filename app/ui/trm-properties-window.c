/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "trm-properties-window.h"

typedef struct {
    TrmMachineStore *store;
    TrmMachine *machine;
    GtkSpinButton *memory;
    GtkSpinButton *cpus;
    GtkEditable *forward;
    GtkWidget *forwards_group;
} Props;

static void props_free(gpointer p)
{
    Props *pr = p;
    g_object_unref(pr->store);
    g_object_unref(pr->machine);
    g_free(pr);
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

static gboolean on_close(GtkWindow *win, Props *pr)
{
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
    GtkWidget *win = adw_preferences_window_new();
    g_object_set_data_full(G_OBJECT(win), "props", pr, props_free);
    gtk_window_set_transient_for(GTK_WINDOW(win), parent);
    gtk_window_set_modal(GTK_WINDOW(win), TRUE);
    gtk_window_set_title(GTK_WINDOW(win), trm_machine_get_name(machine));
    adw_preferences_window_set_search_enabled(ADW_PREFERENCES_WINDOW(win), FALSE);
    gboolean off = trm_machine_get_state(machine) == TRM_MACHINE_STATE_OFF ||
                   trm_machine_get_state(machine) == TRM_MACHINE_STATE_FAILED;

    GtkWidget *page = adw_preferences_page_new();
    GtkWidget *hw = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(hw), _("Hardware"));
    if (!off)
        adw_preferences_group_set_description(
            ADW_PREFERENCES_GROUP(hw), _("Changes take effect the next time the machine starts."));
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
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(boot));

    GtkWidget *drives = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(drives), _("Drives"));
    for (guint i = 0; i < trm_machine_get_n_drives(machine); i++) {
        const TrmDrive *d = trm_machine_get_drive(machine, i);
        g_autofree char *path = trm_machine_dup_drive_path(machine, i);
        adw_preferences_group_add(ADW_PREFERENCES_GROUP(drives),
                                  info_row(d->cdrom ? _("CD/DVD") : _("Disk"), path));
    }
    if (!trm_machine_get_n_drives(machine))
        adw_preferences_group_set_description(ADW_PREFERENCES_GROUP(drives), _("No drives"));
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(drives));

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
