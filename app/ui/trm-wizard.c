/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * New machine: choose a source (an ISO, a kernel + initrd, an existing disk),
 * see what it is, adjust name / memory / processors / disk, read the summary,
 * create (the disk in a thread, with progress) and start.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "trm-disk.h"
#include "trm-wizard.h"

/* New machines get a qcow2 disk: it grows as the guest writes and can take snapshots. */
#define DISK_NAME "disk.qcow2"

typedef enum { SOURCE_ISO, SOURCE_KERNEL, SOURCE_DISK } SourceKind;

struct _TrmWizard {
    AdwWindow parent_instance;
    TrmApplication *app;
    GtkStack *stack;
    AdwToastOverlay *toasts;
    GtkWidget *back;
    SourceKind kind;
    char *path; /* ISO, kernel or disk */
    char *initrd;
    TrmOsDetection *detection;
    GCancellable *cancel;

    AdwActionRow *os_row;
    GtkWidget *live_row;
    GtkSwitch *live;
    AdwEntryRow *name;
    GtkSpinButton *memory;
    GtkSpinButton *cpus;
    GtkSpinButton *disk_gib;
    GtkWidget *disk_row;
    GtkWidget *kernel_group;
    AdwActionRow *initrd_row;
    AdwEntryRow *cmdline;
    GtkLabel *summary;
    GtkProgressBar *progress;
    TrmMachine *creating;
    gboolean start_after;
};

G_DEFINE_FINAL_TYPE(TrmWizard, trm_wizard, ADW_TYPE_WINDOW)

enum { SIGNAL_DETECTED, SIGNAL_CREATED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void toast(TrmWizard *self, const char *text)
{
    AdwToast *t = adw_toast_new(text);
    adw_toast_set_timeout(t, 8);
    adw_toast_overlay_add_toast(self->toasts, t);
}

static void show_page(TrmWizard *self, const char *name)
{
    gtk_stack_set_visible_child_name(self->stack, name);
    gboolean back = g_strcmp0(name, "settings") == 0 || g_strcmp0(name, "summary") == 0;
    gtk_widget_set_visible(self->back, back);
}

static void fill_settings(TrmWizard *self)
{
    TrmOsDetection *d = self->detection;
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->os_row), d->name);
    if (d->known) {
        g_autofree char *sub = d->version
                                   ? g_strdup_printf(_("Version %s · recognised"), d->version)
                                   : g_strdup(_("Recognised"));
        adw_action_row_set_subtitle(self->os_row, sub);
    } else {
        adw_action_row_set_subtitle(self->os_row,
                                    _("Not recognised — the usual settings are suggested"));
    }
    gtk_widget_set_visible(self->live_row, self->kind == SOURCE_ISO && d->live);
    gtk_switch_set_active(self->live, FALSE);
    gtk_editable_set_text(GTK_EDITABLE(self->name), d->name);
    gtk_spin_button_set_value(self->memory, d->memory_mib);
    gtk_spin_button_set_value(self->cpus, d->cpus);
    gtk_spin_button_set_value(self->disk_gib, (double)(d->disk_bytes >> 30));
    gtk_widget_set_visible(self->disk_row, self->kind != SOURCE_DISK);
    gtk_widget_set_visible(self->kernel_group, self->kind == SOURCE_KERNEL);
}

static void on_detected(GObject *src, GAsyncResult *res, gpointer data)
{
    TrmWizard *self = data;
    g_autoptr(GError) error = NULL;
    TrmOsDetection *d = trm_os_detect_finish(res, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_object_unref(self);
        return;
    }
    if (!d) {
        show_page(self, "source");
        toast(self, error->message);
        g_signal_emit(self, signals[SIGNAL_DETECTED], 0);
        g_object_unref(self);
        return;
    }
    g_clear_pointer(&self->detection, trm_os_detection_free);
    self->detection = d;
    fill_settings(self);
    show_page(self, "settings");
    g_signal_emit(self, signals[SIGNAL_DETECTED], 0);
    g_object_unref(self);
}

void trm_wizard_set_source_file(TrmWizard *self, GFile *file)
{
    g_autofree char *path = g_file_get_path(file);
    if (!path) {
        toast(self, _("Only files on this computer can be used."));
        return;
    }
    g_free(self->path);
    self->path = g_steal_pointer(&path);
    if (self->kind == SOURCE_ISO) {
        show_page(self, "detecting");
        trm_os_detect_async(self->path, self->cancel, on_detected, g_object_ref(self));
        return;
    }
    g_clear_pointer(&self->detection, trm_os_detection_free);
    self->detection = trm_os_detection_new_fallback(self->path);
    if (self->kind == SOURCE_KERNEL) {
        g_free(self->detection->name);
        self->detection->name = g_strdup(_("Linux"));
    }
    fill_settings(self);
    show_page(self, "settings");
}

static void on_file_chosen(GtkNativeDialog *chooser, int response, TrmWizard *self)
{
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(chooser));
        if (file)
            trm_wizard_set_source_file(self, file);
    }
    g_object_unref(chooser);
}

static void choose_file(TrmWizard *self, const char *title, const char *pattern_name,
                        const char *pattern, GCallback cb)
{
    GtkFileChooserNative *chooser = gtk_file_chooser_native_new(
        title, GTK_WINDOW(self), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), _("_Cancel"));
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(chooser), TRUE);
    if (pattern) {
        GtkFileFilter *f = gtk_file_filter_new();
        gtk_file_filter_set_name(f, pattern_name);
        gtk_file_filter_add_pattern(f, pattern);
        gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), f);
        g_object_unref(f);
        GtkFileFilter *all = gtk_file_filter_new();
        gtk_file_filter_set_name(all, _("All Files"));
        gtk_file_filter_add_pattern(all, "*");
        gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), all);
        g_object_unref(all);
    }
    g_signal_connect(chooser, "response", cb, self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}

static void on_source_iso(TrmWizard *self)
{
    self->kind = SOURCE_ISO;
    choose_file(self, _("Choose an Installation Image"), _("CD/DVD images"), "*.[iI][sS][oO]",
                G_CALLBACK(on_file_chosen));
}

static void on_source_kernel(TrmWizard *self)
{
    self->kind = SOURCE_KERNEL;
    choose_file(self, _("Choose a Linux Kernel"), NULL, NULL, G_CALLBACK(on_file_chosen));
}

static void on_source_disk(TrmWizard *self)
{
    self->kind = SOURCE_DISK;
    choose_file(self, _("Choose a Disk Image"), _("Disk images"), "*.[ri][am][wg]",
                G_CALLBACK(on_file_chosen));
}

static void on_initrd_chosen(GtkNativeDialog *chooser, int response, TrmWizard *self)
{
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(chooser));
        g_free(self->initrd);
        self->initrd = file ? g_file_get_path(file) : NULL;
        adw_action_row_set_subtitle(self->initrd_row, self->initrd ? self->initrd : _("None"));
    }
    g_object_unref(chooser);
}

static void on_choose_initrd(TrmWizard *self)
{
    choose_file(self, _("Choose an Initial Ramdisk"), NULL, NULL, G_CALLBACK(on_initrd_chosen));
}

static gboolean on_drop(GtkDropTarget *target, const GValue *value, double x, double y,
                        TrmWizard *self)
{
    if (!G_VALUE_HOLDS(value, G_TYPE_FILE))
        return FALSE;
    GFile *file = g_value_get_object(value);
    g_autofree char *base = g_file_get_basename(file);
    self->kind =
        base && g_str_has_suffix(g_ascii_strdown(base, -1), ".iso") ? SOURCE_ISO : SOURCE_DISK;
    if (base && !g_str_has_suffix(base, ".iso") && !g_str_has_suffix(base, ".ISO") &&
        !g_str_has_suffix(base, ".raw") && !g_str_has_suffix(base, ".img") &&
        !g_str_has_suffix(base, ".qcow2"))
        self->kind = SOURCE_ISO; /* let detection say what it is */
    trm_wizard_set_source_file(self, file);
    return TRUE;
}

static gboolean trying(TrmWizard *self)
{
    return gtk_widget_get_visible(self->live_row) && gtk_switch_get_active(self->live);
}

static void on_next(TrmWizard *self)
{
    g_autofree char *name = g_strstrip(g_strdup(gtk_editable_get_text(GTK_EDITABLE(self->name))));
    if (!*name) {
        toast(self, _("Give the machine a name."));
        return;
    }
    GString *s = g_string_new(NULL);
    g_autofree char *ename = g_markup_escape_text(name, -1);
    g_autofree char *eos = g_markup_escape_text(self->detection->name, -1);
    g_autofree char *epath = g_markup_escape_text(self->path, -1);
    g_string_append_printf(s, "<b>%s</b>\n\n", ename);
    g_string_append_printf(s, _("System: %s\n"), eos);
    g_string_append_printf(s, _("Memory: %u MiB\n"),
                           (guint)gtk_spin_button_get_value(self->memory));
    g_string_append_printf(s, _("Processors: %u\n"), (guint)gtk_spin_button_get_value(self->cpus));
    switch (self->kind) {
    case SOURCE_ISO:
        g_string_append_printf(s, _("Installation image: %s\n"), epath);
        if (trying(self))
            g_string_append(s, _("Runs from the image without installing; nothing is kept.\n"));
        else
            g_string_append_printf(s, _("New disk: %u GiB (takes space only as it fills)\n"),
                                   (guint)gtk_spin_button_get_value(self->disk_gib));
        break;
    case SOURCE_KERNEL:
        g_string_append_printf(s, _("Linux kernel: %s\n"), epath);
        g_string_append_printf(s, _("New disk: %u GiB (takes space only as it fills)\n"),
                               (guint)gtk_spin_button_get_value(self->disk_gib));
        break;
    case SOURCE_DISK:
        g_string_append_printf(s, _("Existing disk: %s\n"), epath);
        break;
    }
    gtk_label_set_markup(self->summary, s->str);
    g_string_free(s, TRUE);
    show_page(self, "summary");
}

static void on_back(TrmWizard *self)
{
    const char *page = gtk_stack_get_visible_child_name(self->stack);
    show_page(self, g_strcmp0(page, "summary") == 0 ? "settings" : "source");
}

static void fail_create(TrmWizard *self, const char *message)
{
    if (self->creating) {
        trm_machine_store_delete(trm_application_get_store(self->app), self->creating, TRUE, NULL);
        g_clear_object(&self->creating);
    }
    show_page(self, "summary");
    toast(self, message);
}

static void finish_create(TrmWizard *self)
{
    g_autoptr(GError) error = NULL;
    TrmMachineStore *store = trm_application_get_store(self->app);
    if (!trm_machine_store_save(store, self->creating, &error)) {
        fail_create(self, error->message);
        return;
    }
    g_autoptr(TrmMachine) m = g_steal_pointer(&self->creating);
    g_signal_emit(self, signals[SIGNAL_CREATED], 0, m);
    if (self->start_after && !trm_application_start_machine(self->app, m, &error)) {
        GtkWindow *parent = gtk_window_get_transient_for(GTK_WINDOW(self));
        if (parent)
            adw_message_dialog_new(parent, _("The Machine Cannot Start"), error->message);
    }
    gtk_window_close(GTK_WINDOW(self));
}

static void on_disk_progress(double fraction, gpointer data)
{
    TrmWizard *self = data;
    gtk_progress_bar_set_fraction(self->progress, fraction);
}

static void on_disk_created(GObject *src, GAsyncResult *res, gpointer data)
{
    TrmWizard *self = data;
    g_autoptr(GError) error = NULL;
    if (!trm_disk_create_finish(res, &error))
        fail_create(self, error->message);
    else
        finish_create(self);
    g_object_unref(self);
}

void trm_wizard_create(TrmWizard *self, gboolean start)
{
    if (!self->detection || !self->path || self->creating)
        return;
    self->start_after = start;
    g_autofree char *name = g_strstrip(g_strdup(gtk_editable_get_text(GTK_EDITABLE(self->name))));
    g_autoptr(GError) error = NULL;
    TrmMachineStore *store = trm_application_get_store(self->app);
    TrmMachine *m = trm_machine_store_create(store, *name ? name : self->detection->name, &error);
    if (!m) {
        toast(self, error->message);
        return;
    }
    self->creating = g_object_ref(m);
    trm_machine_set_os(m, self->detection->os_id, self->detection->name);
    trm_machine_set_memory_mib(m, (guint)gtk_spin_button_get_value(self->memory));
    trm_machine_set_cpus(m, (guint)gtk_spin_button_get_value(self->cpus));
    gboolean need_disk = TRUE;
    switch (self->kind) {
    case SOURCE_ISO:
        trm_machine_set_live(m, trying(self));
        need_disk = !trying(self);
        if (need_disk && !trm_machine_add_drive(m, DISK_NAME, FALSE, FALSE, &error))
            break;
        trm_machine_add_drive(m, self->path, TRUE, TRUE, &error);
        break;
    case SOURCE_KERNEL: {
        const char *cmdline = gtk_editable_get_text(GTK_EDITABLE(self->cmdline));
        trm_machine_set_kernel_boot(m, self->path, self->initrd, cmdline);
        trm_machine_add_drive(m, DISK_NAME, FALSE, FALSE, &error);
        break;
    }
    case SOURCE_DISK:
        need_disk = FALSE;
        trm_machine_add_drive(m, self->path, FALSE, FALSE, &error);
        break;
    }
    if (error) {
        fail_create(self, error->message);
        return;
    }
    show_page(self, "creating");
    gtk_progress_bar_set_fraction(self->progress, 0);
    if (!need_disk) {
        finish_create(self);
        return;
    }
    g_autofree char *disk = g_build_filename(trm_machine_get_dir(m), DISK_NAME, NULL);
    guint64 bytes = (guint64)gtk_spin_button_get_value(self->disk_gib) << 30;
    trm_disk_create_async(disk, TRM_DISK_QCOW2, bytes, self->cancel, on_disk_progress, self,
                          on_disk_created, g_object_ref(self));
}

static void on_create_clicked(TrmWizard *self)
{
    trm_wizard_create(self, TRUE);
}

static GtkWidget *spin_row(const char *title, const char *subtitle, double min, double max,
                           double step, GtkSpinButton **out)
{
    GtkWidget *row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    if (subtitle)
        adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
    GtkWidget *spin = gtk_spin_button_new_with_range(min, max, step);
    gtk_widget_set_valign(spin, GTK_ALIGN_CENTER);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), spin);
    *out = GTK_SPIN_BUTTON(spin);
    return row;
}

static GtkWidget *source_row(TrmWizard *self, const char *icon, const char *title,
                             const char *subtitle, GCallback cb)
{
    GtkWidget *row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
    adw_action_row_add_prefix(ADW_ACTION_ROW(row), gtk_image_new_from_icon_name(icon));
    adw_action_row_add_suffix(ADW_ACTION_ROW(row),
                              gtk_image_new_from_icon_name("go-next-symbolic"));
    gtk_list_box_row_set_activatable(GTK_LIST_BOX_ROW(row), TRUE);
    g_signal_connect_swapped(row, "activated", cb, self);
    return row;
}

static GtkWidget *build_source_page(TrmWizard *self)
{
    GtkWidget *page = adw_preferences_page_new();
    GtkWidget *group = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(group),
                                    _("What Should the Machine Run?"));
    adw_preferences_group_set_description(
        ADW_PREFERENCES_GROUP(group),
        _("You can also drop an installation image (.iso) on this window."));
    adw_preferences_group_add(
        ADW_PREFERENCES_GROUP(group),
        source_row(self, "media-optical-symbolic", _("Installation Image"),
                   _("An .iso file of a Linux distribution or another system"),
                   G_CALLBACK(on_source_iso)));
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(group),
                              source_row(self, "application-x-executable-symbolic",
                                         _("Linux Kernel"),
                                         _("A kernel and initial ramdisk, started directly"),
                                         G_CALLBACK(on_source_kernel)));
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(group),
                              source_row(self, "drive-harddisk-symbolic", _("Existing Disk Image"),
                                         _("A disk with a system already installed"),
                                         G_CALLBACK(on_source_disk)));
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(group));
    return page;
}

static GtkWidget *build_settings_page(TrmWizard *self)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    GtkWidget *page = adw_preferences_page_new();
    gtk_widget_set_vexpand(page, TRUE);
    GtkWidget *sys = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(sys), _("System"));
    self->os_row = ADW_ACTION_ROW(adw_action_row_new());
    adw_action_row_add_prefix(self->os_row, gtk_image_new_from_icon_name("computer-symbolic"));
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(sys), GTK_WIDGET(self->os_row));
    self->live_row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->live_row), _("Try Without Installing"));
    adw_action_row_set_subtitle(ADW_ACTION_ROW(self->live_row),
                                _("Run the system from the image; no disk is created"));
    self->live = GTK_SWITCH(gtk_switch_new());
    gtk_widget_set_valign(GTK_WIDGET(self->live), GTK_ALIGN_CENTER);
    adw_action_row_add_suffix(ADW_ACTION_ROW(self->live_row), GTK_WIDGET(self->live));
    adw_action_row_set_activatable_widget(ADW_ACTION_ROW(self->live_row), GTK_WIDGET(self->live));
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(sys), self->live_row);
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(sys));

    GtkWidget *hw = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(hw), _("Machine"));
    self->name = ADW_ENTRY_ROW(adw_entry_row_new());
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->name), _("Name"));
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(hw), GTK_WIDGET(self->name));
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(hw),
                              spin_row(_("Memory"), _("MiB"), 64, 256 * 1024, 256, &self->memory));
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(hw),
                              spin_row(_("Processors"), NULL, 1, 64, 1, &self->cpus));
    self->disk_row = spin_row(_("Disk Size"), _("GiB, takes space only as it fills"), 1, 16384, 1,
                              &self->disk_gib);
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(hw), self->disk_row);
    g_object_bind_property(self->live, "active", self->disk_row, "sensitive",
                           G_BINDING_INVERT_BOOLEAN | G_BINDING_SYNC_CREATE);
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(hw));

    self->kernel_group = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(self->kernel_group), _("Linux"));
    self->initrd_row = ADW_ACTION_ROW(adw_action_row_new());
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->initrd_row), _("Initial Ramdisk"));
    adw_action_row_set_subtitle(self->initrd_row, _("None"));
    GtkWidget *pick = gtk_button_new_with_mnemonic(_("_Choose…"));
    gtk_widget_set_valign(pick, GTK_ALIGN_CENTER);
    g_signal_connect_swapped(pick, "clicked", G_CALLBACK(on_choose_initrd), self);
    adw_action_row_add_suffix(self->initrd_row, pick);
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(self->kernel_group),
                              GTK_WIDGET(self->initrd_row));
    self->cmdline = ADW_ENTRY_ROW(adw_entry_row_new());
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->cmdline), _("Command Line"));
    gtk_editable_set_text(GTK_EDITABLE(self->cmdline), "console=ttyS0");
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(self->kernel_group), GTK_WIDGET(self->cmdline));
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(self->kernel_group));
    gtk_box_append(GTK_BOX(box), page);

    GtkWidget *next = gtk_button_new_with_mnemonic(_("_Next"));
    gtk_widget_add_css_class(next, "suggested-action");
    gtk_widget_add_css_class(next, "pill");
    gtk_widget_set_halign(next, GTK_ALIGN_CENTER);
    gtk_widget_set_margin_bottom(next, 18);
    g_signal_connect_swapped(next, "clicked", G_CALLBACK(on_next), self);
    gtk_box_append(GTK_BOX(box), next);
    return box;
}

static GtkWidget *build_summary_page(TrmWizard *self)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 18);
    gtk_widget_set_margin_top(box, 24);
    gtk_widget_set_margin_start(box, 24);
    gtk_widget_set_margin_end(box, 24);
    gtk_widget_set_margin_bottom(box, 18);
    GtkWidget *title = gtk_label_new(_("Ready to Create"));
    gtk_widget_add_css_class(title, "title-2");
    gtk_box_append(GTK_BOX(box), title);
    self->summary = GTK_LABEL(gtk_label_new(NULL));
    gtk_label_set_wrap(self->summary, TRUE);
    gtk_label_set_wrap_mode(self->summary, PANGO_WRAP_WORD_CHAR);
    gtk_label_set_xalign(self->summary, 0);
    gtk_label_set_selectable(self->summary, TRUE);
    gtk_widget_set_vexpand(GTK_WIDGET(self->summary), TRUE);
    gtk_widget_set_valign(GTK_WIDGET(self->summary), GTK_ALIGN_START);
    gtk_box_append(GTK_BOX(box), GTK_WIDGET(self->summary));
    GtkWidget *create = gtk_button_new_with_mnemonic(_("_Create and Start"));
    gtk_widget_add_css_class(create, "suggested-action");
    gtk_widget_add_css_class(create, "pill");
    gtk_widget_set_halign(create, GTK_ALIGN_CENTER);
    g_signal_connect_swapped(create, "clicked", G_CALLBACK(on_create_clicked), self);
    gtk_box_append(GTK_BOX(box), create);
    return box;
}

static GtkWidget *build_wait_page(const char *title, GtkProgressBar **progress)
{
    GtkWidget *status = adw_status_page_new();
    adw_status_page_set_title(ADW_STATUS_PAGE(status), title);
    if (progress) {
        GtkWidget *bar = gtk_progress_bar_new();
        gtk_widget_set_size_request(bar, 240, -1);
        gtk_widget_set_halign(bar, GTK_ALIGN_CENTER);
        adw_status_page_set_child(ADW_STATUS_PAGE(status), bar);
        *progress = GTK_PROGRESS_BAR(bar);
    } else {
        GtkWidget *spinner = gtk_spinner_new();
        gtk_spinner_start(GTK_SPINNER(spinner));
        gtk_widget_set_size_request(spinner, 32, 32);
        adw_status_page_set_child(ADW_STATUS_PAGE(status), spinner);
    }
    return status;
}

static void trm_wizard_dispose(GObject *object)
{
    TrmWizard *self = TRM_WIZARD(object);
    g_cancellable_cancel(self->cancel);
    g_clear_object(&self->cancel);
    g_clear_object(&self->creating);
    g_clear_pointer(&self->detection, trm_os_detection_free);
    g_clear_pointer(&self->path, g_free);
    g_clear_pointer(&self->initrd, g_free);
    G_OBJECT_CLASS(trm_wizard_parent_class)->dispose(object);
}

static void trm_wizard_class_init(TrmWizardClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = trm_wizard_dispose;
    signals[SIGNAL_DETECTED] = g_signal_new("detected", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                            0, NULL, NULL, NULL, G_TYPE_NONE, 0);
    signals[SIGNAL_CREATED] = g_signal_new("created", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 1, TRM_TYPE_MACHINE);
    gtk_widget_class_add_binding_action(GTK_WIDGET_CLASS(klass), GDK_KEY_Escape, 0, "window.close",
                                        NULL);
}

static void trm_wizard_init(TrmWizard *self)
{
    self->cancel = g_cancellable_new();
    gtk_window_set_title(GTK_WINDOW(self), _("New Machine"));
    gtk_window_set_default_size(GTK_WINDOW(self), 560, 620);
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    GtkWidget *header = gtk_header_bar_new();
    self->back = gtk_button_new_from_icon_name("go-previous-symbolic");
    gtk_widget_set_tooltip_text(self->back, _("Back"));
    g_signal_connect_swapped(self->back, "clicked", G_CALLBACK(on_back), self);
    gtk_header_bar_pack_start(GTK_HEADER_BAR(header), self->back);
    gtk_box_append(GTK_BOX(box), header);
    self->toasts = ADW_TOAST_OVERLAY(adw_toast_overlay_new());
    gtk_widget_set_vexpand(GTK_WIDGET(self->toasts), TRUE);
    self->stack = GTK_STACK(gtk_stack_new());
    gtk_stack_set_transition_type(self->stack, GTK_STACK_TRANSITION_TYPE_SLIDE_LEFT_RIGHT);
    gtk_stack_add_named(self->stack, build_source_page(self), "source");
    gtk_stack_add_named(self->stack, build_wait_page(_("Looking at the Image…"), NULL),
                        "detecting");
    gtk_stack_add_named(self->stack, build_settings_page(self), "settings");
    gtk_stack_add_named(self->stack, build_summary_page(self), "summary");
    gtk_stack_add_named(self->stack, build_wait_page(_("Creating the Machine…"), &self->progress),
                        "creating");
    adw_toast_overlay_set_child(self->toasts, GTK_WIDGET(self->stack));
    gtk_box_append(GTK_BOX(box), GTK_WIDGET(self->toasts));
    adw_window_set_content(ADW_WINDOW(self), box);
    show_page(self, "source");

    GtkDropTarget *drop = gtk_drop_target_new(G_TYPE_FILE, GDK_ACTION_COPY);
    g_signal_connect(drop, "drop", G_CALLBACK(on_drop), self);
    gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(drop));
}

TrmWizard *trm_wizard_new(TrmApplication *app, GtkWindow *parent)
{
    TrmWizard *self = g_object_new(TRM_TYPE_WIZARD, "application", app, "transient-for", parent,
                                   "modal", parent != NULL, NULL);
    self->app = app;
    return self;
}

void trm_wizard_set_source_kind_iso(TrmWizard *self)
{
    self->kind = SOURCE_ISO;
}

const char *trm_wizard_get_page(TrmWizard *self)
{
    return gtk_stack_get_visible_child_name(self->stack);
}

const TrmOsDetection *trm_wizard_get_detection(TrmWizard *self)
{
    return self->detection;
}

const char *trm_wizard_get_shown_os(TrmWizard *self)
{
    return adw_preferences_row_get_title(ADW_PREFERENCES_ROW(self->os_row));
}
