/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine's window (in the machine process): header bar with power,
 * pause, keys, screenshot and fullscreen; the guest screen; or, while the
 * machine has no display adapter, a status page with its serial console.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <linux/input-event-codes.h>

#include "trm-display-view.h"
#include "trm-display-window.h"

struct _TrmDisplayWindow {
    AdwApplicationWindow parent_instance;
    TrmMachineHost *host;
    GtkWidget *snapshot_button;
    AdwWindowTitle *title;
    GtkRevealer *header_revealer;
    AdwToastOverlay *toasts;
    GtkStack *stack;
    TrmDisplayView *view;
    GtkRevealer *hint;
    GtkLabel *hint_label;
    GtkTextView *console;
    GSettings *settings;
    guint hint_timeout;
    guint resize_source;
    int want_w, want_h, resize_tries;
    int frame_w, frame_h; /* border box - content: CSS border and padding of solid CSD */
    gboolean confirmed_close;
    AdwToast *snapshot_toast; /* while a snapshot is being taken */
};

G_DEFINE_FINAL_TYPE(TrmDisplayWindow, trm_display_window, ADW_TYPE_APPLICATION_WINDOW)

static const char *state_label(const char *state)
{
    if (g_strcmp0(state, "running") == 0)
        return _("Running");
    if (g_strcmp0(state, "paused") == 0)
        return _("Paused");
    if (g_strcmp0(state, "stopped") == 0)
        return _("Off");
    if (g_strcmp0(state, "saving") == 0)
        return _("Saving state…");
    return _("Booting");
}

static void update_state(TrmDisplayWindow *self)
{
    const char *state = trm_machine_host_get_state(self->host);
    gboolean try_mode = trm_machine_host_get_try_mode(self->host);
    g_autofree char *subtitle =
        try_mode ? g_strdup_printf(_("%s · Try mode — changes are discarded"), state_label(state))
                 : g_strdup(state_label(state));
    adw_window_title_set_subtitle(self->title, subtitle);
    GAction *pause = g_action_map_lookup_action(G_ACTION_MAP(self), "pause");
    g_simple_action_set_state(G_SIMPLE_ACTION(pause),
                              g_variant_new_boolean(g_strcmp0(state, "paused") == 0));
    gboolean live = g_strcmp0(state, "running") == 0 || g_strcmp0(state, "paused") == 0;
    g_simple_action_set_enabled(G_SIMPLE_ACTION(pause), live);
    GAction *take = g_action_map_lookup_action(G_ACTION_MAP(self), "take-snapshot");
    g_simple_action_set_enabled(G_SIMPLE_ACTION(take), live && !self->snapshot_toast && !try_mode);
    GAction *save = g_action_map_lookup_action(G_ACTION_MAP(self), "save-state");
    g_simple_action_set_enabled(G_SIMPLE_ACTION(save), live && !self->snapshot_toast && !try_mode);
}

static void toast(TrmDisplayWindow *self, const char *text)
{
    adw_toast_overlay_add_toast(self->toasts, adw_toast_new(text));
}

static void on_pause(GSimpleAction *action, GVariant *param, gpointer data)
{
    TrmDisplayWindow *self = data;
    g_autoptr(GError) error = NULL;
    gboolean paused = g_strcmp0(trm_machine_host_get_state(self->host), "paused") == 0;
    gboolean ok = paused ? trm_machine_host_resume(self->host, &error)
                         : trm_machine_host_pause(self->host, &error);
    if (!ok)
        toast(self, error->message);
}

static void on_shutdown(GSimpleAction *action, GVariant *param, gpointer data)
{
    TrmDisplayWindow *self = data;
    g_autoptr(GError) error = NULL;
    if (!trm_machine_host_shutdown(self->host, &error))
        toast(self, error->message);
}

static void on_power_off(GSimpleAction *action, GVariant *param, gpointer data)
{
    TrmDisplayWindow *self = data;
    trm_machine_host_power_off(self->host);
}

static void on_state_saved(GObject *src, GAsyncResult *res, gpointer data)
{
    TrmDisplayWindow *self = data;
    g_autoptr(GError) error = NULL;
    if (!trm_machine_host_save_state_finish(TRM_MACHINE_HOST(src), res, &error)) {
        self->confirmed_close = FALSE;
        toast(self, error->message);
    }
    g_object_unref(self);
}

/* The machine stops once saved; the process then ends and the library shows it Saved. */
static void save_state(TrmDisplayWindow *self)
{
    self->confirmed_close = TRUE;
    trm_machine_host_save_state_async(self->host, on_state_saved, g_object_ref(self));
}

static void on_save_state(GSimpleAction *action, GVariant *param, gpointer data)
{
    save_state(data);
}

static void on_send_keys(GSimpleAction *action, GVariant *param, gpointer data)
{
    TrmDisplayWindow *self = data;
    const char *which = g_variant_get_string(param, NULL);
    guint codes[3];
    guint n = 0;
    if (g_strcmp0(which, "ctrl-alt-del") == 0) {
        codes[n++] = KEY_LEFTCTRL;
        codes[n++] = KEY_LEFTALT;
        codes[n++] = KEY_DELETE;
    } else if (g_strcmp0(which, "ctrl-alt-backspace") == 0) {
        codes[n++] = KEY_LEFTCTRL;
        codes[n++] = KEY_LEFTALT;
        codes[n++] = KEY_BACKSPACE;
    } else if (g_strcmp0(which, "print") == 0) {
        codes[n++] = KEY_SYSRQ;
    } else if (g_str_has_prefix(which, "ctrl-alt-f")) {
        guint64 f = 0;
        static const guint fkeys[] = {KEY_F1, KEY_F2, KEY_F3, KEY_F4,  KEY_F5,  KEY_F6,
                                      KEY_F7, KEY_F8, KEY_F9, KEY_F10, KEY_F11, KEY_F12};
        if (!g_ascii_string_to_unsigned(which + 10, 10, 1, 12, &f, NULL))
            return;
        codes[n++] = KEY_LEFTCTRL;
        codes[n++] = KEY_LEFTALT;
        codes[n++] = fkeys[f - 1];
    } else {
        return;
    }
    trm_display_view_send_keys(self->view, codes, n);
}

static void on_screenshot(GSimpleAction *action, GVariant *param, gpointer data)
{
    TrmDisplayWindow *self = data;
    g_autoptr(GdkTexture) tex = trm_display_view_dup_texture(self->view);
    if (!tex) {
        toast(self, _("There is no screen to take a picture of yet."));
        return;
    }
    const char *dir = g_get_user_special_dir(G_USER_DIRECTORY_PICTURES);
    if (!dir)
        dir = g_get_home_dir();
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%d %H-%M-%S");
    TrmMachine *m = trm_machine_host_get_machine(self->host);
    g_autofree char *file = g_strdup_printf("%s %s.png", trm_machine_get_name(m), stamp);
    g_strdelimit(file, "/", '-');
    g_autofree char *path = g_build_filename(dir, file, NULL);
    if (!gdk_texture_save_to_png(tex, path)) {
        g_autofree char *msg = g_strdup_printf(_("The screenshot could not be saved in %s."), dir);
        toast(self, msg);
        return;
    }
    g_autofree char *msg = g_strdup_printf(_("Screenshot saved as “%s”"), file);
    toast(self, msg);
}

static void on_snapshot_taken(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(TrmDisplayWindow) self = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *id = trm_machine_host_take_snapshot_finish(TRM_MACHINE_HOST(src), res, &error);
    if (self->snapshot_toast)
        adw_toast_dismiss(g_steal_pointer(&self->snapshot_toast));
    GAction *take = g_action_map_lookup_action(G_ACTION_MAP(self), "take-snapshot");
    g_simple_action_set_enabled(G_SIMPLE_ACTION(take), TRUE);
    if (!id) {
        toast(self, error->message);
        return;
    }
    TrmSnapshotTree *tree = trm_machine_host_get_snapshots(self->host);
    TrmSnapshot *snap = trm_snapshot_tree_find(tree, id);
    g_autofree char *msg =
        g_strdup_printf(_("Snapshot “%s” taken"), snap ? trm_snapshot_get_name(snap) : id);
    toast(self, msg);
}

/* Ctrl+Shift+S: a live snapshot with RAM, named after the time; renamed in the list. */
static void on_take_snapshot(GSimpleAction *action, GVariant *param, gpointer data)
{
    TrmDisplayWindow *self = data;
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *stamp = g_date_time_format(now, "%x %X");
    g_autofree char *name = g_strdup_printf(_("Snapshot of %s"), stamp);
    g_simple_action_set_enabled(action, FALSE);
    /* Progress for a long save: a toast that stays until the snapshot is done. */
    AdwToast *t = adw_toast_new(_("Taking a snapshot…"));
    adw_toast_set_timeout(t, 0);
    self->snapshot_toast = t;
    adw_toast_overlay_add_toast(self->toasts, t);
    trm_machine_host_take_snapshot_async(self->host, name, "", TRUE, on_snapshot_taken,
                                         g_object_ref(self));
}

static void on_fullscreen(GSimpleAction *action, GVariant *param, gpointer data)
{
    GtkWindow *win = data;
    if (gtk_window_is_fullscreen(win))
        gtk_window_unfullscreen(win);
    else
        gtk_window_fullscreen(win);
}

static void on_fit(GSimpleAction *action, GVariant *param, gpointer data)
{
    TrmDisplayWindow *self = data;
    gboolean fit = !trm_display_view_get_fit(self->view);
    trm_display_view_set_fit(self->view, fit);
    g_simple_action_set_state(action, g_variant_new_boolean(fit));
}

static const GActionEntry win_actions[] = {
    {.name = "pause", .activate = on_pause, .state = "false"},
    {.name = "save-state", .activate = on_save_state},
    {.name = "shutdown", .activate = on_shutdown},
    {.name = "power-off", .activate = on_power_off},
    {.name = "send-keys", .activate = on_send_keys, .parameter_type = "s"},
    {.name = "screenshot", .activate = on_screenshot},
    {.name = "take-snapshot", .activate = on_take_snapshot},
    {.name = "fullscreen", .activate = on_fullscreen},
    {.name = "fit", .activate = on_fit, .state = "true"},
};

static void on_fullscreened(GObject *win, GParamSpec *pspec, TrmDisplayWindow *self)
{
    gtk_revealer_set_reveal_child(self->header_revealer,
                                  !gtk_window_is_fullscreen(GTK_WINDOW(self)));
}

/* In fullscreen the header bar comes back while the pointer is at the top edge. */
static void on_motion(GtkEventControllerMotion *c, double x, double y, TrmDisplayWindow *self)
{
    if (!gtk_window_is_fullscreen(GTK_WINDOW(self)))
        return;
    if (y < 8 && !trm_display_view_get_grabbed(self->view))
        gtk_revealer_set_reveal_child(self->header_revealer, TRUE);
    else if (y > 80)
        gtk_revealer_set_reveal_child(self->header_revealer, FALSE);
}

static gboolean hide_hint(gpointer data)
{
    TrmDisplayWindow *self = data;
    self->hint_timeout = 0;
    gtk_revealer_set_reveal_child(self->hint, FALSE);
    return G_SOURCE_REMOVE;
}

static void on_grabbed(TrmDisplayView *view, GParamSpec *pspec, TrmDisplayWindow *self)
{
    gboolean grabbed = trm_display_view_get_grabbed(view);
    g_clear_handle_id(&self->hint_timeout, g_source_remove);
    gtk_label_set_label(self->hint_label, trm_display_view_get_release_label(view));
    gtk_revealer_set_reveal_child(self->hint, grabbed);
    if (grabbed)
        self->hint_timeout = g_timeout_add_seconds(4, hide_hint, self);
}

static void on_has_display(TrmDisplayView *view, GParamSpec *pspec, TrmDisplayWindow *self)
{
    gtk_stack_set_visible_child_name(
        self->stack, trm_display_view_get_has_display(view) ? "display" : "no-display");
}

/*
 * Sizes the window to the guest's screen. A mode set right at start-up can
 * race with the window's first configure on X11, which then wins: check
 * again a little later, a few times, until the window has the size.
 */
static gboolean apply_size(gpointer data)
{
    TrmDisplayWindow *self = data;
    GtkWindow *win = GTK_WINDOW(self);
    if (gtk_window_is_maximized(win) || gtk_window_is_fullscreen(win) ||
        (gtk_widget_get_width(GTK_WIDGET(self)) == self->want_w &&
         gtk_widget_get_height(GTK_WIDGET(self)) == self->want_h) ||
        ++self->resize_tries > 5) {
        self->resize_source = 0;
        return G_SOURCE_REMOVE;
    }
    /*
     * The default size is the window's border box: with a solid CSD frame (X11
     * without a compositor) that is a few pixels more than its content, and the
     * guest would be scaled down by that much. Known once the window is allocated.
     */
    graphene_rect_t box;
    if (gtk_widget_get_width(GTK_WIDGET(self)) > 0 &&
        gtk_widget_compute_bounds(GTK_WIDGET(self), GTK_WIDGET(self), &box)) {
        self->frame_w = CLAMP((int)box.size.width - gtk_widget_get_width(GTK_WIDGET(self)), 0, 64);
        self->frame_h =
            CLAMP((int)box.size.height - gtk_widget_get_height(GTK_WIDGET(self)), 0, 64);
    }
    /* The same default size again would change nothing: unset it first. */
    gtk_window_set_default_size(win, -1, -1);
    gtk_window_set_default_size(win, self->want_w + self->frame_w, self->want_h + self->frame_h);
    return G_SOURCE_CONTINUE;
}

static void on_display_size(TrmDisplayView *view, GParamSpec *pspec, TrmDisplayWindow *self)
{
    guint w, h;
    g_object_get(view, "display-width", &w, "display-height", &h, NULL);
    trm_machine_host_set_display_size(self->host, w, h);
    /* Follow the guest's resolution, 1:1 within the monitor, unless maximized or fullscreen. */
    if (!w || !h || gtk_window_is_maximized(GTK_WINDOW(self)) ||
        gtk_window_is_fullscreen(GTK_WINDOW(self)))
        return;
    /*
     * The view's natural size is the guest's screen in logical pixels, one guest
     * pixel per device pixel at any scale (rounded up: at scale 2 an odd size
     * takes one more device pixel, never one less).
     */
    int vw = 0, vh = 0, header = 0;
    gtk_widget_measure(GTK_WIDGET(view), GTK_ORIENTATION_HORIZONTAL, -1, NULL, &vw, NULL, NULL);
    gtk_widget_measure(GTK_WIDGET(view), GTK_ORIENTATION_VERTICAL, -1, NULL, &vh, NULL, NULL);
    gtk_widget_measure(GTK_WIDGET(self->header_revealer), GTK_ORIENTATION_VERTICAL, -1, NULL,
                       &header, NULL, NULL);
    int ww = vw, wh = vh + header;
    GdkSurface *surface = gtk_native_get_surface(GTK_NATIVE(self));
    GdkMonitor *mon =
        surface
            ? gdk_display_get_monitor_at_surface(gtk_widget_get_display(GTK_WIDGET(self)), surface)
            : NULL;
    if (mon) {
        GdkRectangle area;
        gdk_monitor_get_geometry(mon, &area);
        ww = MIN(ww, area.width * 9 / 10);
        wh = MIN(wh, area.height * 9 / 10);
    }
    self->want_w = ww;
    self->want_h = wh;
    self->resize_tries = 0;
    gtk_window_set_default_size(GTK_WINDOW(self), ww + self->frame_w, wh + self->frame_h);
    if (!self->resize_source)
        self->resize_source = g_timeout_add(300, apply_size, self);
}

static void on_frames(TrmDisplayView *view, GParamSpec *pspec, TrmDisplayWindow *self)
{
    guint64 frames, uploads;
    trm_display_view_get_frames(view, &frames, &uploads);
    if (self->host) /* NULL once the window is disposed */
        trm_machine_host_set_display_frames(self->host, frames, uploads);
}

static void on_serial(TrmMachineHost *host, const char *text, TrmDisplayWindow *self)
{
    GtkTextBuffer *buf = gtk_text_view_get_buffer(self->console);
    GtkTextIter end;
    gtk_text_buffer_get_end_iter(buf, &end);
    gtk_text_buffer_insert(buf, &end, text, -1);
    if (gtk_text_buffer_get_char_count(buf) > 128 * 1024) {
        GtkTextIter a, b;
        gtk_text_buffer_get_start_iter(buf, &a);
        gtk_text_buffer_get_iter_at_offset(buf, &b, 64 * 1024);
        gtk_text_buffer_delete(buf, &a, &b);
    }
    gtk_text_buffer_get_end_iter(buf, &end);
    GtkTextMark *mark = gtk_text_buffer_get_mark(buf, "end");
    gtk_text_buffer_move_mark(buf, mark, &end);
    gtk_text_view_scroll_mark_onscreen(self->console, mark);
}

static GBytes *screenshot_png(guint max_w, guint max_h, gpointer data)
{
    TrmDisplayWindow *self = data;
    g_autoptr(GdkTexture) tex = trm_display_view_dup_texture(self->view);
    if (!tex)
        return NULL;
    g_autoptr(GdkPixbuf) pix = gdk_pixbuf_get_from_texture(tex);
    int w = gdk_pixbuf_get_width(pix), h = gdk_pixbuf_get_height(pix);
    double s = 1.0;
    if (max_w && (guint)w > max_w)
        s = MIN(s, (double)max_w / w);
    if (max_h && (guint)h > max_h)
        s = MIN(s, (double)max_h / h);
    if (s < 1.0) {
        GdkPixbuf *scaled = gdk_pixbuf_scale_simple(pix, MAX(1, (int)(w * s)), MAX(1, (int)(h * s)),
                                                    GDK_INTERP_BILINEAR);
        g_object_unref(pix);
        pix = scaled;
    }
    gchar *buf = NULL;
    gsize len = 0;
    if (!gdk_pixbuf_save_to_buffer(pix, &buf, &len, "png", NULL, NULL))
        return NULL;
    return g_bytes_new_take(buf, len);
}

static void on_close_response(AdwMessageDialog *dialog, const char *response,
                              TrmDisplayWindow *self)
{
    if (g_strcmp0(response, "off") == 0) {
        self->confirmed_close = TRUE;
        trm_machine_host_power_off(self->host);
    } else if (g_strcmp0(response, "save") == 0) {
        save_state(self);
    } else if (g_strcmp0(response, "shutdown") == 0) {
        g_autoptr(GError) error = NULL;
        if (!trm_machine_host_shutdown(self->host, &error))
            toast(self, error->message);
    }
}

static gboolean on_close_request(GtkWindow *win)
{
    TrmDisplayWindow *self = TRM_DISPLAY_WINDOW(win);
    if (self->confirmed_close || g_strcmp0(trm_machine_host_get_state(self->host), "stopped") == 0)
        return FALSE;
    if (g_strcmp0(trm_machine_host_get_state(self->host), "saving") == 0)
        return TRUE; /* it closes by itself once saved */
    gboolean try_mode = trm_machine_host_get_try_mode(self->host);
    GtkWidget *dialog = adw_message_dialog_new(
        win, _("Close the Machine?"),
        try_mode ? _("In try mode the state cannot be saved: everything the machine wrote is "
                     "discarded when it stops. Shut it down, or force it off.")
                 : _("Save State keeps the machine exactly as it is and resumes it on the next "
                     "start. Force Off pulls the plug: anything not saved inside it is lost."));
    AdwMessageDialog *md = ADW_MESSAGE_DIALOG(dialog);
    adw_message_dialog_add_response(md, "cancel", _("_Cancel"));
    adw_message_dialog_add_response(md, "off", _("_Force Off"));
    adw_message_dialog_add_response(md, "shutdown", _("Shut _Down"));
    adw_message_dialog_set_response_appearance(md, "off", ADW_RESPONSE_DESTRUCTIVE);
    if (!try_mode) {
        adw_message_dialog_add_response(md, "save", _("_Save State"));
        adw_message_dialog_set_response_appearance(md, "save", ADW_RESPONSE_SUGGESTED);
        adw_message_dialog_set_default_response(md, "save");
    } else {
        adw_message_dialog_set_default_response(md, "shutdown");
    }
    adw_message_dialog_set_close_response(md, "cancel");
    g_signal_connect(dialog, "response", G_CALLBACK(on_close_response), self);
    gtk_window_present(GTK_WINDOW(dialog));
    return TRUE;
}

static void on_release_keys(GSettings *settings, const char *key, TrmDisplayWindow *self)
{
    g_autofree char *nick = g_settings_get_string(settings, "release-keys");
    trm_display_view_set_release_keys(self->view, nick);
}

static void trm_display_window_dispose(GObject *object)
{
    TrmDisplayWindow *self = TRM_DISPLAY_WINDOW(object);
    g_clear_handle_id(&self->hint_timeout, g_source_remove);
    g_clear_handle_id(&self->resize_source, g_source_remove);
    if (self->host) {
        trm_machine_host_set_screenshot_func(self->host, NULL, NULL);
        g_signal_handlers_disconnect_by_data(self->host, self);
        g_clear_object(&self->host);
    }
    g_clear_object(&self->settings);
    G_OBJECT_CLASS(trm_display_window_parent_class)->dispose(object);
}

static void trm_display_window_class_init(TrmDisplayWindowClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = trm_display_window_dispose;
    GTK_WINDOW_CLASS(klass)->close_request = on_close_request;
    gtk_widget_class_set_template_from_resource(GTK_WIDGET_CLASS(klass),
                                                "/org/terrarium/Terrarium/trm-display-window.ui");
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    gtk_widget_class_bind_template_child(wc, TrmDisplayWindow, title);
    gtk_widget_class_bind_template_child(wc, TrmDisplayWindow, header_revealer);
    gtk_widget_class_bind_template_child(wc, TrmDisplayWindow, toasts);
    gtk_widget_class_bind_template_child(wc, TrmDisplayWindow, stack);
    gtk_widget_class_bind_template_child(wc, TrmDisplayWindow, view);
    gtk_widget_class_bind_template_child(wc, TrmDisplayWindow, hint);
    gtk_widget_class_bind_template_child(wc, TrmDisplayWindow, hint_label);
    gtk_widget_class_bind_template_child(wc, TrmDisplayWindow, console);
    gtk_widget_class_bind_template_child(wc, TrmDisplayWindow, snapshot_button);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_F11, 0, "win.fullscreen", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_Pause, GDK_CONTROL_MASK, "win.pause", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_S, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                        "win.take-snapshot", NULL);
}

static void trm_display_window_init(TrmDisplayWindow *self)
{
    g_type_ensure(TRM_TYPE_DISPLAY_VIEW);
    gtk_widget_init_template(GTK_WIDGET(self));
    g_action_map_add_action_entries(G_ACTION_MAP(self), win_actions, G_N_ELEMENTS(win_actions),
                                    self);
    g_signal_connect(self, "notify::fullscreened", G_CALLBACK(on_fullscreened), self);
    GtkEventController *motion = gtk_event_controller_motion_new();
    gtk_event_controller_set_propagation_phase(motion, GTK_PHASE_CAPTURE);
    g_signal_connect(motion, "motion", G_CALLBACK(on_motion), self);
    gtk_widget_add_controller(GTK_WIDGET(self), motion);
    g_signal_connect(self->view, "notify::grabbed", G_CALLBACK(on_grabbed), self);
    g_signal_connect(self->view, "notify::has-display", G_CALLBACK(on_has_display), self);
    g_signal_connect(self->view, "notify::display-width", G_CALLBACK(on_display_size), self);
    g_signal_connect(self->view, "notify::frames", G_CALLBACK(on_frames), self);
    GtkTextBuffer *buf = gtk_text_view_get_buffer(self->console);
    GtkTextIter end;
    gtk_text_buffer_get_end_iter(buf, &end);
    gtk_text_buffer_create_mark(buf, "end", &end, FALSE);
}

TrmDisplayWindow *trm_display_window_new(GtkApplication *app, TrmMachineHost *host,
                                         GSettings *settings)
{
    TrmDisplayWindow *self = g_object_new(TRM_TYPE_DISPLAY_WINDOW, "application", app, NULL);
    self->host = g_object_ref(host);
    TrmMachine *m = trm_machine_host_get_machine(host);
    adw_window_title_set_title(self->title, trm_machine_get_name(m));
    gtk_window_set_title(GTK_WINDOW(self), trm_machine_get_name(m));
    g_signal_connect_swapped(host, "state-changed", G_CALLBACK(update_state), self);
    g_signal_connect(host, "serial-output", G_CALLBACK(on_serial), self);
    trm_machine_host_set_screenshot_func(host, screenshot_png, self);
    trm_display_view_set_vm(self->view, trm_machine_host_get_vm(host));
    on_serial(host, trm_machine_host_get_serial_text(host), self);
    if (settings) {
        self->settings = g_object_ref(settings);
        g_signal_connect(settings, "changed::release-keys", G_CALLBACK(on_release_keys), self);
        on_release_keys(settings, "release-keys", self);
    }
    if (trm_machine_host_get_try_mode(host))
        gtk_widget_set_tooltip_text(self->snapshot_button,
                                    _("No snapshots in try mode: everything the machine writes "
                                      "is thrown away when it stops, so a snapshot could not "
                                      "be restored. Start it normally to take snapshots."));
    update_state(self);
    return self;
}

GBytes *trm_display_window_screenshot_png(TrmDisplayWindow *self, guint max_w, guint max_h)
{
    return screenshot_png(max_w, max_h, self);
}
