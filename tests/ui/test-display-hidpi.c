/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ui suite, the guest picture in device pixels: a TrmDisplayView in an
 * undecorated Xvfb window is fed known frames (every pixel a colour of its
 * own, a one-pixel checkerboard in blue) and the window's pixels are read back
 * from the X server (XGetImage: what the user sees, in device pixels), on the
 * path TERRARIUM_DISPLAY names, at the scale GDK_SCALE names (meson runs it at
 * 1 and 2 on both paths). Checked:
 *   - 1:1: the frame covers exactly W x H device pixels, centred, each guest
 *     pixel in one device pixel (no blur, no doubling), black around it;
 *   - 1:1 at the window's minimum size, odd frame sizes included: every guest
 *     pixel is on screen, also after the guest changes resolution;
 *   - fit: the picture fills the widget keeping the aspect, its rectangle
 *     exact in device pixels, its pixels the frame's (bilinear bounds); in a
 *     view sized to the frame in whole logical pixels (the display window's
 *     size), 1:1 even for odd sizes at scale 2;
 *   - the pointer: the centre of each guest pixel maps to that pixel on the
 *     absolute pointer's scale, in 1:1 and in fit.
 */
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <gdk/x11/gdkx.h>
#include <glib/gstdio.h>

#include "trm-display-path.h"
#include "trm-display-view.h"
#include "vmm/vmm.h"
#include "ui-check.h"

static int scale;

/* A guest frame as vmm-core hands it out: BGRX, a stride wider than the row. */
typedef struct {
    struct vmm_display_image img;
    guint8 *buf;
} Frame;

/* Each pixel its own colour; blue alternates pixel by pixel (0x00RRGGBB). */
static guint32 frame_rgb(guint x, guint y)
{
    guint r = 16 + (x * 3) % 240, g = 16 + (y * 4) % 240, b = (x + y) & 1 ? 0xf0 : 0x40;
    return r << 16 | g << 8 | b;
}

static Frame *frame_new(guint w, guint h)
{
    Frame *f = g_new0(Frame, 1);
    f->img.width = w;
    f->img.height = h;
    f->img.stride = w * 4 + 20;
    f->buf = g_malloc0((gsize)f->img.stride * h);
    for (guint y = 0; y < h; y++)
        for (guint x = 0; x < w; x++) {
            guint32 c = frame_rgb(x, y);
            guint8 *p = f->buf + (gsize)y * f->img.stride + x * 4;
            p[0] = c & 0xff;
            p[1] = (c >> 8) & 0xff;
            p[2] = c >> 16;
            p[3] = 0x5a; /* undefined in vmm-core's frames: must not show */
        }
    f->img.pixels = f->buf;
    return f;
}

static void frame_free(Frame *f)
{
    g_free(f->buf);
    g_free(f);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Frame, frame_free)

static void show(TrmDisplayView *view, Frame *f)
{
    struct vmm_rect all = {0, 0, f->img.width, f->img.height};
    trm_display_view_show_image(view, &f->img, &all, 1);
}

static void pump(guint ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (g_get_monotonic_time() < end) {
        while (g_main_context_iteration(NULL, FALSE))
            ;
        g_usleep(5000);
    }
}

/* The view's pixels as the X server has them: device pixels, 0x00RRGGBB. */
typedef struct {
    int w, h;
    guint32 *px;
} Shot;

static void shot_free(Shot *s)
{
    if (s) {
        g_free(s->px);
        g_free(s);
    }
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Shot, shot_free)

static Shot *grab_view(GtkWidget *view)
{
    GtkNative *native = gtk_widget_get_native(view);
    GdkSurface *surface = gtk_native_get_surface(native);
    graphene_point_t p;
    double sx = 0, sy = 0;
    if (!gtk_widget_compute_point(view, GTK_WIDGET(native), &GRAPHENE_POINT_INIT(0, 0), &p))
        return NULL;
    gtk_native_get_surface_transform(native, &sx, &sy);
    int x = (int)((p.x + sx) * scale), y = (int)((p.y + sy) * scale);
    int w = gtk_widget_get_width(view) * scale, h = gtk_widget_get_height(view) * scale;
    if (w <= 0 || h <= 0)
        return NULL;
    Display *dpy = gdk_x11_display_get_xdisplay(gdk_surface_get_display(surface));
    XImage *xi = XGetImage(dpy, gdk_x11_surface_get_xid(surface), x, y, (unsigned)w, (unsigned)h,
                           AllPlanes, ZPixmap);
    if (!xi)
        return NULL;
    Shot *s = g_new0(Shot, 1);
    s->w = w;
    s->h = h;
    s->px = g_new(guint32, (gsize)w * h);
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            unsigned long v = XGetPixel(xi, i, j);
            guint r = (guint)((v & xi->red_mask) >> (__builtin_ctzl(xi->red_mask)));
            guint g = (guint)((v & xi->green_mask) >> (__builtin_ctzl(xi->green_mask)));
            guint b = (guint)((v & xi->blue_mask) >> (__builtin_ctzl(xi->blue_mask)));
            s->px[(gsize)j * w + i] = (r & 0xff) << 16 | (g & 0xff) << 8 | (b & 0xff);
        }
    XDestroyImage(xi);
    return s;
}

static guint32 at(const Shot *s, int x, int y)
{
    return s->px[(gsize)y * s->w + x];
}

/* The rectangle the picture must have, in device pixels of the view. */
typedef struct {
    int x, y, w, h;
} Rect;

/*
 * 1:1: the frame at r, pixel for pixel; black everywhere else. err says what
 * is wrong first (NULL when all is right).
 */
static gboolean check_exact(const Shot *s, const Frame *f, Rect r, char **err)
{
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
            gboolean in = x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
            guint32 want = in ? frame_rgb((guint)(x - r.x), (guint)(y - r.y)) : 0;
            if (at(s, x, y) != want) {
                *err = g_strdup_printf("device pixel %d,%d is %06x, want %06x (%s)", x, y,
                                       at(s, x, y), want, in ? "picture" : "black border");
                return FALSE;
            }
        }
    return TRUE;
}

static guint channel(guint32 c, int shift)
{
    return (c >> shift) & 0xff;
}

/*
 * Fit: black outside r, no black inside it, and every pixel inside within the
 * bounds of the (up to) four guest pixels a bilinear sample there mixes.
 */
static gboolean check_fit(const Shot *s, const Frame *f, Rect r, char **err)
{
    double kx = (double)r.w / f->img.width, ky = (double)r.h / f->img.height;
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
            guint32 c = at(s, x, y);
            gboolean in = x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
            if (!in) {
                if (c != 0) {
                    *err =
                        g_strdup_printf("device pixel %d,%d is %06x outside the picture", x, y, c);
                    return FALSE;
                }
                continue;
            }
            /* Sample position in guest pixels, and the guest pixels around it. */
            double u = (x - r.x + 0.5) / kx - 0.5, v = (y - r.y + 0.5) / ky - 0.5;
            int u0 = CLAMP((int)floor(u), 0, (int)f->img.width - 1);
            int u1 = CLAMP((int)ceil(u), 0, (int)f->img.width - 1);
            int v0 = CLAMP((int)floor(v), 0, (int)f->img.height - 1);
            int v1 = CLAMP((int)ceil(v), 0, (int)f->img.height - 1);
            guint32 n[4] = {frame_rgb(u0, v0), frame_rgb(u1, v0), frame_rgb(u0, v1),
                            frame_rgb(u1, v1)};
            for (int sh = 0; sh <= 16; sh += 8) {
                guint lo = 255, hi = 0;
                for (int i = 0; i < 4; i++) {
                    lo = MIN(lo, channel(n[i], sh));
                    hi = MAX(hi, channel(n[i], sh));
                }
                guint got = channel(c, sh);
                if (got + 2 < lo || got > hi + 2) {
                    *err = g_strdup_printf("device pixel %d,%d is %06x: channel %d not within "
                                           "[%u,%u] of guest pixels %d..%d,%d..%d",
                                           x, y, c, sh, lo, hi, u0, u1, v0, v1);
                    return FALSE;
                }
            }
        }
    return TRUE;
}

typedef gboolean (*CheckFunc)(const Shot *s, const Frame *f, Rect r, char **err);

/*
 * Reads the screen until check holds at r or at r moved by one device pixel
 * right and/or down where the space around the picture is odd (centred either
 * way); *r becomes the rectangle that holds. FALSE after 3 s.
 */
static gboolean screen_shows(GtkWidget *view, const Frame *f, Rect *r, CheckFunc check,
                             const char *what)
{
    int aw = gtk_widget_get_width(view) * scale, ah = gtk_widget_get_height(view) * scale;
    int dx_max = (aw - r->w) & 1, dy_max = (ah - r->h) & 1;
    g_autofree char *err = NULL;
    for (int tries = 0; tries < 30; tries++) {
        pump(100);
        g_autoptr(Shot) s = grab_view(view);
        g_clear_pointer(&err, g_free);
        if (!s) {
            err = g_strdup("no pixels from the X server");
            continue;
        }
        for (int dy = 0; dy <= dy_max; dy++)
            for (int dx = 0; dx <= dx_max; dx++) {
                Rect at = {r->x + dx, r->y + dy, r->w, r->h};
                g_autofree char *e = NULL;
                if (check(s, f, at, &e)) {
                    *r = at;
                    return TRUE;
                }
                if (!err)
                    err = g_steal_pointer(&e);
            }
    }
    g_printerr("%s: %s\n", what, err);
    return FALSE;
}

/* Where the view must put the picture: centred, aspect kept in fit, in device pixels. */
static Rect expect_rect(GtkWidget *view, const Frame *f, gboolean fit)
{
    int aw = gtk_widget_get_width(view) * scale, ah = gtk_widget_get_height(view) * scale;
    int w = (int)f->img.width, h = (int)f->img.height;
    if (fit) {
        if ((gint64)aw * h <= (gint64)ah * w) {
            h = (int)((gint64)h * aw / w);
            w = aw;
        } else {
            w = (int)((gint64)w * ah / h);
            h = ah;
        }
    }
    return (Rect){(aw - w) / 2, (ah - h) / 2, w, h};
}

/* The centre of guest pixel gx,gy, drawn at r, maps to gx,gy on the absolute pointer's scale. */
static gboolean pointer_hits(TrmDisplayView *view, const Frame *f, Rect r, guint gx, guint gy)
{
    double kx = (double)r.w / f->img.width, ky = (double)r.h / f->img.height;
    double dx = r.x + (gx + 0.5) * kx, dy = r.y + (gy + 0.5) * ky;
    guint32 ax = 0, ay = 0;
    if (!trm_display_view_pointer_to_abs(view, dx / scale, dy / scale, &ax, &ay))
        return FALSE;
    /* Back to guest pixels the way a tablet driver scales 0..VMM_ABS_MAX. */
    guint px = (guint)((guint64)ax * f->img.width / (VMM_ABS_MAX + 1));
    guint py = (guint)((guint64)ay * f->img.height / (VMM_ABS_MAX + 1));
    if (px != gx || py != gy) {
        g_printerr("pointer at guest pixel %u,%u (device %.1f,%.1f) maps to %u,%u (abs %u,%u)\n",
                   gx, gy, dx, dy, px, py, ax, ay);
        return FALSE;
    }
    return TRUE;
}

static void check_pointer(TrmDisplayView *view, const Frame *f, Rect r)
{
    guint w = f->img.width, h = f->img.height;
    guint xs[] = {0, 1, w / 2, w - 2, w - 1}, ys[] = {0, 1, h / 2, h - 2, h - 1};
    for (guint i = 0; i < G_N_ELEMENTS(xs); i++)
        for (guint j = 0; j < G_N_ELEMENTS(ys); j++)
            CHECK(pointer_hits(view, f, r, xs[i], ys[j]));
    /* The view's corners, outside the picture or on its corner pixels: clamped to its edges. */
    guint32 ax = 1, ay = 1;
    CHECK(trm_display_view_pointer_to_abs(view, 0, 0, &ax, &ay) &&
          ax * w / (VMM_ABS_MAX + 1) == 0 && ay * h / (VMM_ABS_MAX + 1) == 0);
    double right = (double)gtk_widget_get_width(GTK_WIDGET(view)) - 0.01;
    double bottom = (double)gtk_widget_get_height(GTK_WIDGET(view)) - 0.01;
    CHECK(trm_display_view_pointer_to_abs(view, right, bottom, &ax, &ay) &&
          (guint64)ax * w / (VMM_ABS_MAX + 1) == w - 1 &&
          (guint64)ay * h / (VMM_ABS_MAX + 1) == h - 1);
}

static void log_rect(const char *what, GtkWidget *view, Rect r)
{
    g_print("%s: view %dx%d logical at scale %d, picture %dx%d at %d,%d device px\n", what,
            gtk_widget_get_width(view), gtk_widget_get_height(view), scale, r.w, r.h, r.x, r.y);
}

static gboolean view_size_is(GtkWidget *view, int w, int h)
{
    for (int tries = 0; tries < 50; tries++) {
        if (gtk_widget_get_width(view) == w && gtk_widget_get_height(view) == h)
            return TRUE;
        pump(50);
    }
    g_printerr("view is %dx%d, want %dx%d\n", gtk_widget_get_width(view),
               gtk_widget_get_height(view), w, h);
    return FALSE;
}

/* 1:1 and fit in a window larger than the frame. */
static void test_large_window(void)
{
    GtkWidget *win = gtk_window_new();
    gtk_window_set_decorated(GTK_WINDOW(win), FALSE);
    GtkWidget *view = trm_display_view_new();
    TrmDisplayView *dv = TRM_DISPLAY_VIEW(view);
    gtk_window_set_child(GTK_WINDOW(win), view);
    g_autoptr(Frame) f = frame_new(64, 48);
    trm_display_view_set_fit(dv, FALSE);
    show(dv, f);
    gtk_window_set_default_size(GTK_WINDOW(win), 100, 75);
    gtk_window_present(GTK_WINDOW(win));
    CHECK(view_size_is(view, 100, 75));
    CHECK(gtk_widget_get_scale_factor(view) == scale);
    Rect r = expect_rect(view, f, FALSE);
    /* Independent of the view's own arithmetic: 64x48 device pixels, centred. */
    CHECK(r.w == 64 && r.h == 48);
    CHECK(screen_shows(view, f, &r, check_exact, "1:1"));
    int left = r.x, top = r.y, right = 100 * scale - r.x - r.w, bottom = 75 * scale - r.y - r.h;
    CHECK(left >= 0 && top >= 0 && ABS(left - right) <= 1 && ABS(top - bottom) <= 1);
    log_rect("1:1", view, r);
    check_pointer(dv, f, r);

    /* Fit: 100x75 logical is 4:3 like the frame, so it fills the view exactly. */
    trm_display_view_set_fit(dv, TRUE);
    pump(200);
    r = expect_rect(view, f, TRUE);
    CHECK(r.x == 0 && r.y == 0 && r.w == 100 * scale && r.h == 75 * scale);
    CHECK(screen_shows(view, f, &r, check_fit, "fit 4:3"));
    log_rect("fit", view, r);
    check_pointer(dv, f, r);

    /* Fit into a wider view: black bars left and right, centred. */
    gtk_window_set_default_size(GTK_WINDOW(win), 150, 75);
    CHECK(view_size_is(view, 150, 75));
    r = expect_rect(view, f, TRUE);
    CHECK(r.y == 0 && r.h == 75 * scale && r.w == 100 * scale && r.x == 25 * scale);
    CHECK(screen_shows(view, f, &r, check_fit, "fit wide"));
    log_rect("fit wide", view, r);
    check_pointer(dv, f, r);

    /* A new frame of another size in 1:1: the view shows it pixel for pixel. */
    g_autoptr(Frame) g = frame_new(96, 40);
    trm_display_view_set_fit(dv, FALSE);
    show(dv, g);
    pump(200);
    r = expect_rect(view, g, FALSE);
    CHECK(r.w == 96 && r.h == 40);
    CHECK(screen_shows(view, g, &r, check_exact, "1:1 96x40"));
    log_rect("1:1 96x40", view, r);
    check_pointer(dv, g, r);
    gtk_window_destroy(GTK_WINDOW(win));
}

/*
 * 1:1 in a window at its minimum size, as the view asks for it: the whole
 * frame is on screen, odd sizes included (half a logical pixel at scale 2),
 * and again after the guest changes resolution.
 */
static void test_minimum_size(void)
{
    GtkWidget *win = gtk_window_new();
    gtk_window_set_decorated(GTK_WINDOW(win), FALSE);
    GtkWidget *view = trm_display_view_new();
    TrmDisplayView *dv = TRM_DISPLAY_VIEW(view);
    trm_display_view_set_fit(dv, FALSE);
    gtk_window_set_child(GTK_WINDOW(win), view);
    gtk_window_set_default_size(GTK_WINDOW(win), 1, 1);
    g_autoptr(Frame) f = frame_new(63, 47);
    show(dv, f);
    gtk_window_present(GTK_WINDOW(win));
    int want_w = (63 + scale - 1) / scale, want_h = (47 + scale - 1) / scale;
    CHECK(view_size_is(view, want_w, want_h));
    Rect r = expect_rect(view, f, FALSE);
    CHECK(r.x >= 0 && r.y >= 0 && r.x + r.w <= want_w * scale && r.y + r.h <= want_h * scale);
    CHECK(screen_shows(view, f, &r, check_exact, "1:1 63x47 at minimum size"));
    log_rect("1:1 63x47 at minimum size", view, r);
    check_pointer(dv, f, r);

    /* The guest switches to a larger odd mode: the window grows to show all of it. */
    g_autoptr(Frame) g = frame_new(131, 97);
    show(dv, g);
    want_w = (131 + scale - 1) / scale;
    want_h = (97 + scale - 1) / scale;
    CHECK(view_size_is(view, want_w, want_h));
    r = expect_rect(view, g, FALSE);
    CHECK(r.x >= 0 && r.y >= 0 && r.x + r.w <= want_w * scale && r.y + r.h <= want_h * scale);
    CHECK(screen_shows(view, g, &r, check_exact, "1:1 131x97 at minimum size"));
    log_rect("1:1 131x97 at minimum size", view, r);
    check_pointer(dv, g, r);
    gtk_window_destroy(GTK_WINDOW(win));
}

/*
 * Fit in a window sized to the frame in whole logical pixels, as the display
 * window sizes itself to the guest: an odd frame at scale 2 leaves less than a
 * logical pixel over, and the picture stays 1:1 (sharp), not magnified by a hair.
 */
static void test_fit_rounded(void)
{
    GtkWidget *win = gtk_window_new();
    gtk_window_set_decorated(GTK_WINDOW(win), FALSE);
    GtkWidget *view = trm_display_view_new();
    TrmDisplayView *dv = TRM_DISPLAY_VIEW(view);
    gtk_window_set_child(GTK_WINDOW(win), view);
    /* 146x132 device pixels at scale 2: magnified, 145 would become 146 (and blur). */
    g_autoptr(Frame) f = frame_new(145, 131);
    show(dv, f);
    gtk_window_present(GTK_WINDOW(win));
    pump(200);
    int want_w = (145 + scale - 1) / scale, want_h = (131 + scale - 1) / scale;
    int nat_w = 0, nat_h = 0;
    gtk_widget_measure(view, GTK_ORIENTATION_HORIZONTAL, -1, NULL, &nat_w, NULL, NULL);
    gtk_widget_measure(view, GTK_ORIENTATION_VERTICAL, -1, NULL, &nat_h, NULL, NULL);
    CHECK(nat_w == want_w && nat_h == want_h); /* what the display window sizes itself to */
    gtk_window_set_default_size(GTK_WINDOW(win), want_w, want_h);
    CHECK(view_size_is(view, want_w, want_h));
    CHECK(trm_display_view_get_fit(dv));
    Rect r = expect_rect(view, f, FALSE);
    CHECK(screen_shows(view, f, &r, check_exact, "fit 145x131 in whole logical pixels"));
    log_rect("fit 145x131 in whole logical pixels", view, r);
    check_pointer(dv, f, r);
    gtk_window_destroy(GTK_WINDOW(win));
}

int main(int argc, char **argv)
{
    if (!g_getenv("DISPLAY")) {
        g_print("SKIP: no X display (run under xvfb-run)\n");
        return 77;
    }
    g_setenv("GDK_BACKEND", "x11", TRUE);
    g_setenv("GTK_A11Y", "none", TRUE);
    TrmDisplayPath path = trm_display_path_choose();
    gtk_init();
    const char *env = g_getenv("GDK_SCALE");
    scale = env && *env ? atoi(env) : 1;
    if (scale < 1)
        scale = 1;
    g_print("display path %s, GDK_SCALE %d, GSK_RENDERER %s\n", trm_display_path_to_string(path),
            scale, g_getenv("GSK_RENDERER") ? g_getenv("GSK_RENDERER") : "(default)");
    const char *want = g_getenv("TERRARIUM_DISPLAY");
    CHECK(!want || g_strcmp0(want, trm_display_path_to_string(path)) == 0);
    test_large_window();
    test_minimum_size();
    test_fit_rounded();
    g_print("%s\n", failures ? "FAILED" : "all display HiDPI checks passed");
    return failures ? 1 : 0;
}
