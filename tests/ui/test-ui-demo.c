/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ui suite, the demo machine: started from the empty library's "Try the Demo
 * Machine", its display window shows the guest's VBE picture (pixels checked
 * through Machine1.Screenshot), keys typed into that window through XTEST
 * reach the guest, pause and resume change the window's subtitle, F2 in the
 * guest changes the resolution and the window follows, Force Off returns the
 * tile to "Off" with a thumbnail. A screenshot of the whole screen goes to the
 * README. Needs /dev/kvm and the demo guest; without them it says SKIP part.
 */
#include <glib/gstdio.h>

#include "trm-application.h"
#include "trm-dbus-machine1.h"
#include "trm-demo.h"
#include "trm-library-window.h"
#include "trm-snapshot-tree.h"
#include "trm-snapshots-window.h"

/* app/demo/demo.h */
#define SKY_TOP 0x1e4f8cu
#define SKY_BOTTOM 0xbfe3f2u
#define SOIL_TOP 0x6b4a2bu
#define SOIL_BOTTOM 0x2e1d10u
#define TEXT_FG 0xf4f1e6u
#define WIN_X 520
#define WIN_Y 130

void test_demo(TrmApplication *app, const char *dir, int *failed);

static int *failures;
static const char *outdir;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            (*failures)++;                                                      \
            g_printerr("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                       \
    } while (0)

typedef struct {
    int w, h;
    guint32 *px; /* 0x00RRGGBB */
} Screen;

static void screen_free(Screen *s)
{
    if (s) {
        g_free(s->px);
        g_free(s);
    }
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Screen, screen_free)

static Screen *screen_from_texture(GdkTexture *tex)
{
    Screen *s = g_new0(Screen, 1);
    s->w = gdk_texture_get_width(tex);
    s->h = gdk_texture_get_height(tex);
    s->px = g_malloc((gsize)s->w * s->h * 4);
    gdk_texture_download(tex, (guchar *)s->px, (gsize)s->w * 4);
    for (gsize i = 0; i < (gsize)s->w * s->h; i++)
        s->px[i] &= 0xffffff;
    return s;
}

static guint32 px(const Screen *s, int x, int y)
{
    if (!s || x < 0 || y < 0 || x >= s->w || y >= s->h)
        return 0xff000000u; /* matches no colour */
    return s->px[y * s->w + x];
}

static gboolean region_equal(const Screen *a, const Screen *b, int x0, int y0, int x1, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            if (px(a, x, y) != px(b, x, y))
                return FALSE;
    return TRUE;
}

static int count_colour(const Screen *s, int x0, int y0, int x1, int y1, guint32 c)
{
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            n += px(s, x, y) == c;
    return n;
}

/* demo_gradient() in app/demo/scene.c. */
static guint32 gradient(guint32 top, guint32 bottom, int y, int rows)
{
    guint32 out = 0;
    for (int shift = 0; shift <= 16; shift += 8) {
        int t = (int)((top >> shift) & 0xff), b = (int)((bottom >> shift) & 0xff);
        out |= (guint32)(t + (b - t) * y / rows) << shift;
    }
    return out;
}

static guint32 background(int w, int h, int y)
{
    int horizon = h * 3 / 4;
    return y < horizon ? gradient(SKY_TOP, SKY_BOTTOM, y, horizon)
                       : gradient(SOIL_TOP, SOIL_BOTTOM, y - horizon, h - 1 - horizon);
}

static gboolean background_ok(const Screen *s)
{
    static const int rows[] = {0, 1, 3, 2, 4};
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        /* rows 0 and 1, a third, just above and below the horizon, the last */
        int y = i < 2 ? rows[i] : i == 2 ? s->h / 3 : i == 3 ? s->h * 3 / 4 - 1 : s->h - 1;
        if (px(s, 4, y) != background(s->w, s->h, y))
            return FALSE;
    }
    return px(s, 4, s->h * 3 / 4 + 4) == background(s->w, s->h, s->h * 3 / 4 + 4);
}

static void pump(guint ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(2000);
    }
}

/*
 * Machine1's DisplayFrames or DisplayUploads as the machine has it now (they are not
 * signalled, so the proxy's cached value would be stale); G_MAXUINT64 when unreadable.
 */
static guint64 display_count(TrmMachineClient *c, const char *name)
{
    GDBusProxy *proxy = G_DBUS_PROXY(trm_machine_client_get_proxy(c));
    if (!proxy)
        return G_MAXUINT64;
    g_autoptr(GVariant) r = g_dbus_connection_call_sync(
        g_dbus_proxy_get_connection(proxy), NULL, g_dbus_proxy_get_object_path(proxy),
        "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", "org.terrarium.Machine1", name), G_VARIANT_TYPE("(v)"),
        G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
    g_autoptr(GVariant) v = NULL;
    if (r)
        g_variant_get(r, "(v)", &v);
    return v && g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64) ? g_variant_get_uint64(v)
                                                               : G_MAXUINT64;
}

/* The guest's screen through Machine1.Screenshot, full size; saved as save_as when given. */
static Screen *guest_screen(TrmMachineClient *c, const char *save_as)
{
    TrmDBusMachine1 *proxy = trm_machine_client_get_proxy(c);
    if (!proxy)
        return NULL;
    g_autoptr(GVariant) v = NULL;
    if (!trm_dbus_machine1_call_screenshot_sync(proxy, 0, 0, &v, NULL, NULL))
        return NULL;
    gsize len = 0;
    const void *data = g_variant_get_fixed_array(v, &len, 1);
    g_autoptr(GBytes) bytes = g_bytes_new(data, len);
    if (save_as) {
        g_autofree char *path = g_build_filename(outdir, save_as, NULL);
        g_file_set_contents(path, data, (gssize)len, NULL);
    }
    g_autoptr(GdkTexture) tex = gdk_texture_new_from_bytes(bytes, NULL);
    return tex ? screen_from_texture(tex) : NULL;
}

/*
 * Where the guest's whole screen appears 1:1 inside the desktop shot, at
 * least 99% of its pixels equal (the guest may change a few between the two
 * shots); FALSE when it appears nowhere near the display window.
 */
static gboolean shows_guest(const Screen *desk, const Screen *guest, int *at_x, int *at_y)
{
    static const int probe[][2] = {{4, 0}, {100, 100}, {512, 20}, {1000, 700}, {30, 760}};
    for (int oy = WIN_Y; oy < WIN_Y + 200; oy++) {
        for (int ox = WIN_X - 50; ox < WIN_X + 100; ox++) {
            gboolean cand = TRUE;
            for (guint i = 0; i < G_N_ELEMENTS(probe) && cand; i++) {
                int x = probe[i][0] * guest->w / 1024, y = probe[i][1] * guest->h / 768;
                cand = px(desk, ox + x, oy + y) == px(guest, x, y);
            }
            if (!cand)
                continue;
            gsize same = 0;
            for (int y = 0; y < guest->h; y++)
                for (int x = 0; x < guest->w; x++)
                    same += px(desk, ox + x, oy + y) == px(guest, x, y);
            if (same * 100 >= (gsize)guest->w * guest->h * 99) {
                *at_x = ox;
                *at_y = oy;
                return TRUE;
            }
        }
    }
    return FALSE;
}

typedef gboolean (*ScreenPred)(const Screen *s, gconstpointer data);

/* Guest screenshots until pred holds (the main loop runs between them). */
static Screen *wait_screen(TrmMachineClient *c, ScreenPred pred, gconstpointer data,
                           guint timeout_s)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    Screen *s = NULL;
    for (;;) {
        screen_free(s);
        s = guest_screen(c, NULL);
        if ((s && pred(s, data)) || g_get_monotonic_time() > end)
            return s;
        pump(300);
    }
}

/* The whole scene drawn: background, title, and last the pointer at the centre. */
static gboolean is_demo_picture(const Screen *s, gconstpointer size)
{
    const int *wh = size;
    return s->w == wh[0] && s->h == wh[1] && background_ok(s) && px(s, s->w / 2, s->h / 2) == 0 &&
           count_colour(s, 24, 20, 760, 41, 0xffffff) > 1000;
}

static gboolean differs_in(const Screen *s, gconstpointer data)
{
    const Screen *before = data;
    return !region_equal(s, before, 36, 70, 400, 100);
}

/* The pointer's black tip is no longer at the centre but below and right of it. */
static gboolean pointer_moved(const Screen *s, gconstpointer data)
{
    if (px(s, 512, 384) == 0)
        return FALSE;
    for (int y = 394; y < 460; y++)
        for (int x = 530; x < 620; x++)
            if (px(s, x, y) == 0 && px(s, x, y + 1) == 0 && px(s, x + 1, y + 1) == 0)
                return TRUE; /* the tip: X, then XX below */
    return FALSE;
}

/* tests/ui/xhelper.py, which acts on the machine process's window as a user would. */
static gboolean xhelper(const char *a1, const char *a2, const char *a3, const char *a4, char **out)
{
    const char *helper = g_getenv("XHELPER");
    if (!helper || !*helper)
        return FALSE;
    const char *argv[] = {helper, a1, a2, a3, a4, NULL};
    int status = -1;
    g_autoptr(GError) error = NULL;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, NULL, &status,
                      &error)) {
        g_printerr("xhelper: %s\n", error->message);
        return FALSE;
    }
    return g_spawn_check_wait_status(status, NULL);
}

static gboolean window_size(int *w, int *h)
{
    g_autofree char *out = NULL;
    if (!xhelper("find", "Demo Machine", NULL, NULL, &out))
        return FALSE;
    unsigned long id;
    int x, y;
    return sscanf(out, "%lu %d %d %d %d", &id, &x, &y, w, h) == 5;
}

static Screen *x_screen(const char *name)
{
    g_autofree char *path = g_build_filename(outdir, name, NULL);
    if (!xhelper("shot", path, NULL, NULL, NULL))
        return NULL;
    g_autoptr(GdkTexture) tex = gdk_texture_new_from_filename(path, NULL);
    g_print("screenshot %s\n", path);
    return tex ? screen_from_texture(tex) : NULL;
}

static GtkWidget *find_button(GtkWidget *root, const char *label)
{
    if (GTK_IS_BUTTON(root) && g_strcmp0(gtk_button_get_label(GTK_BUTTON(root)), label) == 0)
        return root;
    for (GtkWidget *c = gtk_widget_get_first_child(root); c; c = gtk_widget_get_next_sibling(c)) {
        GtkWidget *found = find_button(c, label);
        if (found)
            return found;
    }
    return NULL;
}

static gboolean state_is(gpointer m, TrmMachineState want, guint timeout_s)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    while (trm_machine_get_state(m) != want) {
        if (g_get_monotonic_time() > end)
            return FALSE;
        pump(50);
    }
    return TRUE;
}

static TrmLibraryWindow *library(TrmApplication *app)
{
    for (GList *l = gtk_application_get_windows(GTK_APPLICATION(app)); l; l = l->next)
        if (TRM_IS_LIBRARY_WINDOW(l->data))
            return l->data;
    return NULL;
}

/* The middle of the header bar, where the title and the subtitle are. */
#define SUBTITLE_REGION(w) WIN_X + (w) / 2 - 80, WIN_Y + 8, WIN_X + (w) / 2 + 80, WIN_Y + 44

static void test_running_demo(TrmApplication *app, TrmMachine *m, TrmMachineClient *c)
{
    static const int big[2] = {1024, 768}, small[2] = {800, 600};
    g_autoptr(Screen) first = wait_screen(c, is_demo_picture, big, 180);
    CHECK(first && is_demo_picture(first, big));
    if (!first || !is_demo_picture(first, big)) {
        g_printerr("the demo's picture never showed (got %dx%d, (4,0) = %06x)\n",
                   first ? first->w : 0, first ? first->h : 0, px(first, 4, 0));
        return;
    }
    screen_free(guest_screen(c, "guest-demo.png"));
    CHECK(count_colour(first, 24, 20, 760, 41, 0xffffff) > 1000); /* the title */

    /* Keys typed into the display window reach the guest's echo panel. */
    CHECK(xhelper("background", "3d5566", NULL, NULL, NULL));
    CHECK(xhelper("move", "Demo Machine", G_STRINGIFY(WIN_X), G_STRINGIFY(WIN_Y), NULL));
    pump(500);
    CHECK(xhelper("click", "Demo Machine", NULL, NULL, NULL));
    pump(300);
    CHECK(xhelper("type", "Demo Machine", "hello", NULL, NULL));
    g_autoptr(Screen) typed = wait_screen(c, differs_in, first, 60);
    CHECK(typed && differs_in(typed, first));
    CHECK(typed && count_colour(typed, 36, 70, 400, 100, TEXT_FG) > 150);
    CHECK(typed && region_equal(typed, first, 0, 150, 1024, 700)); /* the scene is untouched */
    screen_free(guest_screen(c, "guest-typed.png"));

    /* The pointer follows the mouse (relative PS/2 motion while the window has the grab). */
    CHECK(xhelper("nudge", "Demo Machine", "60", "40", NULL));
    g_autoptr(Screen) moved = wait_screen(c, pointer_moved, NULL, 60);
    CHECK(moved && pointer_moved(moved, NULL));
    CHECK(moved && px(moved, 512, 384) == background(1024, 768, 384)); /* the sky is back */

    /* The whole desktop, for the README: the library and the demo's window. */
    pump(5000); /* the thumbnail refreshes, the grab hint fades */
    g_autoptr(Screen) desk = x_screen("desktop-demo.png");
    CHECK(desk != NULL);

    /*
     * The display path: GL under Xvfb is a software rasterizer (the suite sets
     * LIBGL_ALWAYS_SOFTWARE), so the machine process draws without GL unless
     * TERRARIUM_DISPLAY says otherwise; either way the window shows the guest's
     * frame pixel for pixel.
     */
    const char *forced = g_getenv("TERRARIUM_DISPLAY");
    const char *want = g_strcmp0(forced, "gl") == 0 ? "gl" : "texture";
    TrmDBusMachine1 *proxy = trm_machine_client_get_proxy(c);
    const char *path = proxy ? trm_dbus_machine1_get_display_path(proxy) : NULL;
    g_print("display path %s (expected %s)\n", path ? path : "(none)", want);
    CHECK(g_strcmp0(path, want) == 0);
    g_autoptr(Screen) now = guest_screen(c, NULL);
    int gx = 0, gy = 0;
    CHECK(desk && now && shows_guest(desk, now, &gx, &gy));
    g_print("the guest's screen is in the display window at %d,%d\n", gx, gy);

    /* Pause and resume: the subtitle changes and comes back. */
    int ww = 0, wh = 0;
    CHECK(window_size(&ww, &wh) && ww >= 1024 && wh > 768);
    trm_machine_client_call(c, "Pause");
    CHECK(state_is(m, TRM_MACHINE_STATE_PAUSED, 20));
    pump(300);
    /*
     * The window counts what it draws: the guest's screen has been drawn and uploaded,
     * and a guest that stands still (paused: no change on its screen) costs no upload.
     */
    guint64 frames = display_count(c, "DisplayFrames"),
            uploads = display_count(c, "DisplayUploads");
    pump(700);
    g_autoptr(Screen) paused = x_screen("desktop-paused.png");
    guint64 still = display_count(c, "DisplayUploads");
    g_print("display: %" G_GUINT64_FORMAT " frames, %" G_GUINT64_FORMAT
            " uploads; %" G_GUINT64_FORMAT " uploads a second later, paused\n",
            frames, uploads, still);
    CHECK(frames != G_MAXUINT64 && uploads != G_MAXUINT64 && uploads > 0 && uploads <= frames);
    CHECK(still == uploads);
    trm_machine_client_call(c, "Resume");
    CHECK(state_is(m, TRM_MACHINE_STATE_RUNNING, 20));
    pump(1000);
    g_autoptr(Screen) resumed = x_screen("desktop-resumed.png");
    CHECK(desk && paused && !region_equal(desk, paused, SUBTITLE_REGION(ww)));
    CHECK(desk && resumed && region_equal(desk, resumed, SUBTITLE_REGION(ww)));

    /* F2 in the guest: 800x600; the window follows the new resolution. */
    CHECK(xhelper("key", "Demo Machine", "F2", NULL, NULL));
    g_autoptr(Screen) after = wait_screen(c, is_demo_picture, small, 120);
    CHECK(after && is_demo_picture(after, small));
    pump(1500);
    guint64 later = display_count(c, "DisplayUploads");
    g_print("display: %" G_GUINT64_FORMAT " uploads after the mode change\n", later);
    CHECK(later != G_MAXUINT64 && later > still); /* the new mode's frame was uploaded */
    int nw = 0, nh = 0;
    CHECK(window_size(&nw, &nh));
    g_print("display window %dx%d at 1024x768, %dx%d at 800x600\n", ww, wh, nw, nh);
    CHECK(nw < ww && nh < wh && nw >= 800 && nh >= 600);
}

static gboolean same_screen(const Screen *s, gconstpointer data)
{
    const Screen *want = data;
    return s->w == want->w && s->h == want->h && region_equal(s, want, 0, 0, s->w, s->h);
}

/*
 * A live snapshot with RAM over Machine1.TakeSnapshot, keys typed after it,
 * then the machine restored from it: the screen is the snapshot's again.
 */
static void test_snapshot(TrmApplication *app, TrmMachine *m, TrmMachineClient *c)
{
    g_autoptr(Screen) before = guest_screen(c, "guest-before-snapshot.png");
    CHECK(before != NULL);
    TrmDBusMachine1 *proxy = trm_machine_client_get_proxy(c);
    g_autofree char *id = NULL;
    g_autoptr(GError) error = NULL;
    gint64 t0 = g_get_monotonic_time();
    CHECK(proxy && trm_dbus_machine1_call_take_snapshot_sync(proxy, "Before typing", "ui test",
                                                             TRUE, &id, NULL, &error));
    gint64 t_take = g_get_monotonic_time() - t0;
    if (!id) {
        g_printerr("TakeSnapshot: %s\n", error ? error->message : "?");
        return;
    }
    g_print("live snapshot %s taken in %.1f ms\n", id, t_take / 1000.0);
    g_autoptr(TrmSnapshotTree) tree = trm_snapshot_tree_load(trm_machine_get_dir(m));
    TrmSnapshot *snap = trm_snapshot_tree_find(tree, id);
    CHECK(snap && trm_snapshot_get_ram(snap));
    CHECK(snap && g_strcmp0(trm_snapshot_get_name(snap), "Before typing") == 0);
    CHECK(g_strcmp0(trm_snapshot_tree_get_current(tree), id) == 0);
    g_autoptr(GBytes) thumb = trm_snapshot_tree_load_thumbnail(tree, id);
    g_autoptr(GdkTexture) ttex = thumb ? gdk_texture_new_from_bytes(thumb, NULL) : NULL;
    CHECK(ttex && gdk_texture_get_width(ttex) > 0 && gdk_texture_get_width(ttex) <= 320);

    /* The guest runs on and the screen changes. */
    CHECK(xhelper("type", "Demo Machine", "xyz", NULL, NULL));
    g_autoptr(Screen) typed = wait_screen(c, differs_in, before, 60);
    CHECK(typed && differs_in(typed, before));

    trm_machine_client_call(c, "PowerOff");
    CHECK(state_is(m, TRM_MACHINE_STATE_OFF, 30));
    t0 = g_get_monotonic_time();
    CHECK(trm_machine_client_start_restoring(c, id, NULL));
    CHECK(state_is(m, TRM_MACHINE_STATE_RUNNING, 60));
    gint64 t_running = g_get_monotonic_time() - t0;
    g_autoptr(Screen) back = wait_screen(c, same_screen, before, 1);
    gint64 t_screen = g_get_monotonic_time() - t0;
    CHECK(back && same_screen(back, before));
    screen_free(guest_screen(c, "guest-restored.png"));
    g_print("restore: machine running %.1f ms after the request, the snapshot's screen back "
            "after %.1f ms\n",
            t_running / 1000.0, t_screen / 1000.0);

    /* The browser (opened last: it takes the focus) lists it with its thumbnail. */
    GtkWindow *browser = trm_snapshots_window_new(app, m, NULL);
    gtk_window_present(browser);
    pump(500);
    GtkListBoxRow *row = gtk_list_box_get_row_at_index(
        trm_snapshots_window_get_list(TRM_SNAPSHOTS_WINDOW(browser)), 0);
    CHECK(row && g_strcmp0(g_object_get_data(G_OBJECT(row), "snapshot-id"), id) == 0);
    GtkPicture *rpic = row ? g_object_get_data(G_OBJECT(row), "picture") : NULL;
    CHECK(rpic && gtk_picture_get_paintable(rpic) != NULL);
    g_autoptr(Screen) bshot = x_screen("snapshots-window.png");
    CHECK(bshot != NULL);
    gtk_window_destroy(browser);
}

void test_demo(TrmApplication *app, const char *dir, int *failed)
{
    failures = failed;
    outdir = dir;
    TrmLibraryWindow *win = library(app);
    GtkWidget *button = find_button(GTK_WIDGET(win), "_Try the Demo Machine");
    CHECK(button != NULL && gtk_widget_is_visible(button));
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_print("SKIP part: /dev/kvm is not usable, the demo machine is not started\n");
        return;
    }
    g_autofree char *kernel = trm_demo_dup_kernel_path(NULL);
    if (!kernel || !g_getenv("XHELPER")) {
        g_print("SKIP part: the demo guest was not built (no -m32 toolchain)\n");
        return;
    }
    if (!button)
        return;
    gtk_widget_activate(button); /* as a click would */
    TrmMachineStore *store = trm_application_get_store(app);
    TrmMachine *m = NULL;
    /* A button's activation shows it pressed for a moment before it clicks. */
    for (int i = 0; i < 100 && !(m = trm_demo_find(store)); i++)
        pump(50);
    CHECK(m != NULL);
    if (!m)
        return;
    g_object_ref(m);
    CHECK(state_is(m, TRM_MACHINE_STATE_RUNNING, 60));
    TrmMachineClient *c = trm_application_get_client(app, m);
    test_running_demo(app, m, c);
    test_snapshot(app, m, c);

    /* Force Off: the tile says Off and keeps the last picture as its thumbnail. */
    trm_machine_client_call(c, "PowerOff");
    CHECK(state_is(m, TRM_MACHINE_STATE_OFF, 30));
    GtkWidget *tile = trm_library_window_get_tile(win, 0);
    CHECK(tile && g_object_get_data(G_OBJECT(tile), "machine") == m);
    GtkLabel *state = tile ? g_object_get_data(G_OBJECT(tile), "state") : NULL;
    CHECK(state && g_strcmp0(gtk_label_get_label(state), "Off") == 0);
    CHECK(trm_machine_get_thumbnail(m) != NULL);
    GtkPicture *pic = tile ? g_object_get_data(G_OBJECT(tile), "picture") : NULL;
    CHECK(pic && gtk_picture_get_paintable(pic) != NULL);
    g_autofree char *thumb = trm_machine_dup_thumbnail_path(m);
    CHECK(g_file_test(thumb, G_FILE_TEST_IS_REGULAR));

    /* Asking again reuses the machine instead of making another. */
    CHECK(trm_demo_ensure(store, NULL) == m);
    CHECK(g_list_model_get_n_items(trm_machine_store_get_model(store)) == 1);

    /* The rest of the suite starts from an empty library. */
    CHECK(trm_machine_store_delete(store, m, TRUE, NULL));
    g_object_unref(m);
}
