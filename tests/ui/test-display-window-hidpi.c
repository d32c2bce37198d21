/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ui suite, the display window follows the guest's resolution at the scale
 * GDK_SCALE names (meson runs it at 1 and 2): the demo machine runs in this
 * process (TrmMachineHost, as the machine process has it) in a real
 * TrmDisplayWindow under Xvfb; once the guest has set its 1024x768 mode the
 * guest view is 1024x768 device pixels (512x384 logical at scale 2, not
 * 1024x768 logical), and the window's pixels, read back from the X server,
 * are the guest's screen pixel for pixel. Then idle polling: with the machine
 * paused (a still screen) the view leaves GTK's frame clock within a few seconds
 * and draws nothing more; a key sent through the view puts it back on the frame
 * clock; resumed, a change it was not woken for (a key straight into the VM) is
 * drawn by the slow poll. Needs /dev/kvm and the demo guest
 * ($TERRARIUM_DEMO_KERNEL); without them it says SKIP.
 */
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <adwaita.h>
#include <gdk/x11/gdkx.h>
#include <glib/gstdio.h>

#include "trm-demo.h"
#include "trm-display-path.h"
#include "trm-display-view.h"
#include "trm-display-window.h"
#include "trm-machine-host.h"
#include "trm-machine-store.h"
#include "vmm/vmm.h"
#include "ui-check.h"

static gboolean skipped;
static int scale;

static void pump(guint ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (g_get_monotonic_time() < end) {
        while (g_main_context_iteration(NULL, FALSE))
            ;
        g_usleep(5000);
    }
}

static GtkWidget *find_view(GtkWidget *root)
{
    if (TRM_IS_DISPLAY_VIEW(root))
        return root;
    for (GtkWidget *c = gtk_widget_get_first_child(root); c; c = gtk_widget_get_next_sibling(c)) {
        GtkWidget *found = find_view(c);
        if (found)
            return found;
    }
    return NULL;
}

static guint display_width(GtkWidget *view)
{
    guint w = 0;
    g_object_get(view, "display-width", &w, NULL);
    return w;
}

/*
 * The view's device pixels from the X server against the guest's screen:
 * how many differ (-1 when nothing could be read). The picture is where the
 * view puts it at 1:1, centred.
 */
static long compare_with_guest(GtkWidget *view)
{
    g_autoptr(GdkTexture) guest = trm_display_view_dup_texture(TRM_DISPLAY_VIEW(view));
    if (!guest)
        return -1;
    int gw = gdk_texture_get_width(guest), gh = gdk_texture_get_height(guest);
    g_autofree guint8 *g = g_malloc((gsize)gw * gh * 4);
    gdk_texture_download(guest, g, (gsize)gw * 4); /* B, G, R, A in memory */
    GtkNative *native = gtk_widget_get_native(view);
    GdkSurface *surface = gtk_native_get_surface(native);
    graphene_point_t p;
    double sx = 0, sy = 0;
    if (!gtk_widget_compute_point(view, GTK_WIDGET(native), &GRAPHENE_POINT_INIT(0, 0), &p))
        return -1;
    gtk_native_get_surface_transform(native, &sx, &sy);
    int vw = gtk_widget_get_width(view) * scale, vh = gtk_widget_get_height(view) * scale;
    if (vw < gw || vh < gh)
        return -1;
    int x = (int)((p.x + sx) * scale) + (vw - gw) / 2,
        y = (int)((p.y + sy) * scale) + (vh - gh) / 2;
    Display *dpy = gdk_x11_display_get_xdisplay(gdk_surface_get_display(surface));
    XImage *xi = XGetImage(dpy, gdk_x11_surface_get_xid(surface), x, y, (unsigned)gw, (unsigned)gh,
                           AllPlanes, ZPixmap);
    if (!xi)
        return -1;
    long differ = 0;
    for (int j = 0; j < gh; j++)
        for (int i = 0; i < gw; i++) {
            unsigned long v = XGetPixel(xi, i, j);
            guint r = (guint)((v & xi->red_mask) >> __builtin_ctzl(xi->red_mask)) & 0xff;
            guint gr = (guint)((v & xi->green_mask) >> __builtin_ctzl(xi->green_mask)) & 0xff;
            guint b = (guint)((v & xi->blue_mask) >> __builtin_ctzl(xi->blue_mask)) & 0xff;
            const guint8 *q = g + ((gsize)j * gw + i) * 4;
            if (q[2] != r || q[1] != gr || q[0] != b)
                differ++;
        }
    XDestroyImage(xi);
    return differ;
}

static void run(GtkApplication *app)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *root = g_build_filename(g_get_user_data_dir(), "terrarium", NULL);
    g_autoptr(TrmMachineStore) store = trm_machine_store_new(root);
    TrmMachine *m = trm_demo_ensure(store, &error);
    if (!m) {
        g_print("SKIP: no demo machine (%s)\n", error->message);
        skipped = TRUE;
        return;
    }
    g_autoptr(TrmMachineHost) host = trm_machine_host_new(m, &error);
    if (!host) {
        g_print("SKIP: the demo machine cannot run here (%s)\n", error->message);
        skipped = TRUE;
        return;
    }
    TrmDisplayWindow *win = trm_display_window_new(app, host, NULL);
    GtkWidget *view = find_view(GTK_WIDGET(win));
    CHECK(view != NULL);
    if (!view || !trm_machine_host_start(host, &error)) {
        g_printerr("start: %s\n", error ? error->message : "no view");
        failures++;
        gtk_window_destroy(GTK_WINDOW(win));
        return;
    }
    gtk_window_present(GTK_WINDOW(win));
    for (int i = 0; i < 300 && display_width(view) != 1024; i++)
        pump(100);
    CHECK(display_width(view) == 1024);
    CHECK(gtk_widget_get_scale_factor(view) == scale);

    /* The window follows: the view 1024x768 device pixels, 1:1 in fit (the default). */
    int want_w = (1024 + scale - 1) / scale, want_h = (768 + scale - 1) / scale;
    for (int i = 0;
         i < 100 && (gtk_widget_get_width(view) != want_w || gtk_widget_get_height(view) != want_h);
         i++)
        pump(100);
    g_print("scale %d: display window %dx%d logical, guest view %dx%d logical (want %dx%d)\n",
            scale, gtk_widget_get_width(GTK_WIDGET(win)), gtk_widget_get_height(GTK_WIDGET(win)),
            gtk_widget_get_width(view), gtk_widget_get_height(view), want_w, want_h);
    CHECK(gtk_widget_get_width(view) == want_w && gtk_widget_get_height(view) == want_h);
    CHECK(trm_display_view_get_fit(TRM_DISPLAY_VIEW(view)));

    /* The screen as the user sees it is the guest's, pixel for pixel (a few tries: it animates). */
    long differ = -1;
    for (int i = 0; i < 20 && differ != 0; i++) {
        pump(200);
        differ = compare_with_guest(view);
    }
    g_print("device pixels differing from the guest's screen: %ld of %d\n", differ, 1024 * 768);
    CHECK(differ == 0);

    /* A still screen (paused): off the frame clock within a second, and no frame drawn. */
    TrmDisplayView *dv = TRM_DISPLAY_VIEW(view);
    CHECK(trm_machine_host_pause(host, NULL));
    for (int i = 0; i < 30 && trm_display_view_is_polling_fast(dv); i++)
        pump(100);
    CHECK(!trm_display_view_is_polling_fast(dv));
    pump(200); /* a frame queued by the last change is drawn */
    guint64 frames0, uploads0, frames1, uploads1;
    trm_display_view_get_frames(dv, &frames0, &uploads0);
    pump(1000);
    trm_display_view_get_frames(dv, &frames1, &uploads1);
    g_print("paused: %" G_GUINT64_FORMAT " frames drawn in 1 s on the slow poll\n",
            frames1 - frames0);
    CHECK(frames1 == frames0 && uploads1 == uploads0);
    CHECK(!trm_display_view_is_polling_fast(dv));
    /* Input wakes it at once (the guest's answer shows on the next frame). */
    static const guint shift[] = {42}; /* KEY_LEFTSHIFT: changes nothing on the demo's screen */
    trm_display_view_send_keys(dv, shift, 1);
    CHECK(trm_display_view_is_polling_fast(dv));
    for (int i = 0; i < 30 && trm_display_view_is_polling_fast(dv); i++)
        pump(100);
    CHECK(!trm_display_view_is_polling_fast(dv));
    /*
     * A change the view was not woken for (a key straight into the VM, as a guest
     * timer or the serial console would change the screen) is drawn by the slow poll.
     */
    CHECK(trm_machine_host_resume(host, NULL));
    pump(300);
    trm_display_view_get_frames(dv, &frames0, &uploads0);
    struct vmm_vm *vm = trm_machine_host_get_vm(host);
    CHECK(vm != NULL);
    if (vm) {
        vmm_input_key(vm, 30, true); /* KEY_A: the demo echoes it on its screen */
        vmm_input_key(vm, 30, false);
    }
    uploads1 = uploads0;
    for (int i = 0; i < 30 && uploads1 == uploads0; i++) {
        pump(100);
        trm_display_view_get_frames(dv, &frames1, &uploads1);
    }
    g_print("a key echoed on the slow poll: %s\n", uploads1 > uploads0 ? "drawn" : "NOT drawn");
    CHECK(uploads1 > uploads0);

    trm_machine_host_power_off(host);
    for (int i = 0; i < 100 && g_strcmp0(trm_machine_host_get_state(host), "stopped") != 0; i++)
        pump(100);
    gtk_window_destroy(GTK_WINDOW(win));
    pump(200);
}

static void on_activate(GtkApplication *app)
{
    g_application_hold(G_APPLICATION(app));
    run(app);
    g_application_release(G_APPLICATION(app));
}

int main(int argc, char **argv)
{
    if (!g_getenv("DISPLAY")) {
        g_print("SKIP: no X display (run under xvfb-run)\n");
        return 77;
    }
    g_setenv("GDK_BACKEND", "x11", TRUE);
    g_autofree char *home = ui_fresh_user("terrarium-hidpi-XXXXXX");
    trm_display_path_choose();
    const char *env = g_getenv("GDK_SCALE");
    scale = env && *env ? MAX(atoi(env), 1) : 1;

    g_autoptr(AdwApplication) app =
        adw_application_new("org.terrarium.TestDisplayHidpi", G_APPLICATION_NON_UNIQUE);
    g_signal_connect(app, "activate", G_CALLBACK(on_activate), NULL);
    char *args[] = {argv[0], NULL};
    g_application_run(G_APPLICATION(app), 1, args);
    g_autofree char *rm = g_strdup_printf("rm -rf %s", home);
    g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL);
    if (skipped && !failures)
        return 77;
    g_print("%s\n", failures ? "FAILED" : "all display window HiDPI checks passed");
    return failures ? 1 : 0;
}
