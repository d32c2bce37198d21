/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "trm-application.h"
#include "trm-preferences-window.h"

static const char *const release_nicks[] = {"ctrl-alt", "ctrl-alt-shift", "right-ctrl"};

static void on_folder_chosen(GtkNativeDialog *chooser, int response, GtkWidget *row)
{
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(chooser));
        g_autofree char *path = file ? g_file_get_path(file) : NULL;
        GSettings *settings = g_object_get_data(G_OBJECT(row), "settings");
        if (path && settings) {
            g_autofree char *root = g_build_filename(path, "terrarium-machines", NULL);
            g_settings_set_string(settings, "storage-location", root);
            adw_action_row_set_subtitle(ADW_ACTION_ROW(row), root);
        }
    }
    g_object_unref(chooser);
}

static void on_choose_folder(GtkButton *button, GtkWidget *row)
{
    GtkNativeDialog *chooser = GTK_NATIVE_DIALOG(gtk_file_chooser_native_new(
        _("Storage Location"), GTK_WINDOW(gtk_widget_get_root(row)),
        GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Select"), _("_Cancel")));
    gtk_native_dialog_set_modal(chooser, TRUE);
    g_signal_connect(chooser, "response", G_CALLBACK(on_folder_chosen), row);
    gtk_native_dialog_show(chooser);
}

static void on_release_selected(AdwComboRow *row, GParamSpec *pspec, GSettings *settings)
{
    guint i = adw_combo_row_get_selected(row);
    if (i < G_N_ELEMENTS(release_nicks))
        g_settings_set_string(settings, "release-keys", release_nicks[i]);
}

GtkWindow *trm_preferences_window_new(GSettings *settings, GtkWindow *parent)
{
    GtkWidget *win = adw_preferences_window_new();
    gtk_window_set_transient_for(GTK_WINDOW(win), parent);
    gtk_window_set_modal(GTK_WINDOW(win), TRUE);
    GtkWidget *page = adw_preferences_page_new();
    adw_preferences_page_set_title(ADW_PREFERENCES_PAGE(page), _("General"));
    adw_preferences_page_set_icon_name(ADW_PREFERENCES_PAGE(page), "preferences-system-symbolic");

    GtkWidget *storage = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(storage), _("Storage"));
    GtkWidget *row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), _("Location for New Machines"));
    g_autofree char *root = trm_settings_dup_storage(settings);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row), root);
    GtkWidget *choose = gtk_button_new_with_mnemonic(_("_Choose…"));
    gtk_widget_set_valign(choose, GTK_ALIGN_CENTER);
    gtk_widget_set_sensitive(choose, settings != NULL);
    g_object_set_data(G_OBJECT(row), "settings", settings);
    g_signal_connect(choose, "clicked", G_CALLBACK(on_choose_folder), row);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), choose);
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(storage), row);
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(storage));

    GtkWidget *input = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(input), _("Keyboard and Mouse"));
    adw_preferences_group_set_description(
        ADW_PREFERENCES_GROUP(input),
        _("A click in a machine's window gives it the keyboard and mouse; these keys give them "
          "back."));
    const char *labels[] = {_("Ctrl+Alt"), _("Ctrl+Alt+Shift"), _("Right Ctrl"), NULL};
    GtkStringList *list = gtk_string_list_new(labels);
    GtkWidget *combo = adw_combo_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(combo), _("Release Keys"));
    adw_combo_row_set_model(ADW_COMBO_ROW(combo), G_LIST_MODEL(list));
    g_object_unref(list);
    if (settings) {
        g_autofree char *nick = g_settings_get_string(settings, "release-keys");
        for (guint i = 0; i < G_N_ELEMENTS(release_nicks); i++)
            if (g_strcmp0(nick, release_nicks[i]) == 0)
                adw_combo_row_set_selected(ADW_COMBO_ROW(combo), i);
        g_signal_connect_object(combo, "notify::selected", G_CALLBACK(on_release_selected),
                                settings, 0);
    } else {
        gtk_widget_set_sensitive(combo, FALSE);
    }
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(input), combo);
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(input));
    adw_preferences_window_add(ADW_PREFERENCES_WINDOW(win), ADW_PREFERENCES_PAGE(page));
    return GTK_WINDOW(win);
}
