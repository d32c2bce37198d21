/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The guest screen. While the guest's screen is busy (BUSY_CHANGES changes
 * within BUSY_US: an animation, scrolling text) or the user has just typed or
 * moved the pointer, the view asks vmm-core for damage on every frame clock
 * tick. Otherwise it lets the frame clock stop (its 60 wake-ups a second, each
 * a whole GTK frame cycle, were most of an idle window's CPU) and polls on a
 * POLL_MS timer: a still screen, or one that only blinks a cursor, costs a
 * cheap vmm_display_update() call POLL_MS apart and a draw per change; a
 * change shows within POLL_MS. Two ways to draw (trm-display-path.h), chosen
 * once per process:
 *   - GL: a child GtkGLArea; only the damaged rectangles are uploaded to one
 *     GL texture, drawn as one quad.
 *   - texture: the view's own snapshot(): a changed frame becomes a new
 *     GdkMemoryTexture (opaque, 3 bytes a pixel), drawn by GTK's cairo
 *     renderer, for hosts whose GL is a software rasterizer.
 *
 * Input goes to the guest while the view holds the grab (after a click):
 * keys as evdev codes (GDK's hardware keycode - 8 on X11 and Wayland), the
 * pointer relative (PS/2) or absolute when the guest drives the tablet.
 */
#include "config.h"

#include <epoxy/gl.h>
#include <errno.h>
#include <glib/gi18n.h>
#include <linux/input-event-codes.h>

#include "trm-display-path.h"
#include "trm-display-view.h"
#include "vmm/vmm.h"

#define MAX_KEYS 768
#define BUSY_US (500 * G_TIME_SPAN_MILLISECOND)
#define BUSY_CHANGES 3 /* within BUSY_US: a cursor blinking at ~2 Hz is not busy */
#define POLL_MS 50

struct _TrmDisplayView {
    GtkWidget parent_instance;
    GtkWidget *area; /* the GtkGLArea of the GL path, NULL on the texture path */
    struct vmm_vm *vm;
    guint tick_id;                /* polling on the frame clock (the screen is changing) */
    guint poll_id;                /* polling on a timer (it has not changed for a while) */
    gint64 changes[BUSY_CHANGES]; /* monotonic µs of the latest changes, a ring */
    guint change_next;
    gint64 boost_until; /* input: on the frame clock at least until then */

    /* The image vmm-core handed out at the last update (valid until the next). */
    struct vmm_display_image img;
    gboolean has_image;
    gboolean has_display;
    /* Damage not yet uploaded; a full upload when the size changed. */
    struct vmm_rect pending[VMM_DISPLAY_MAX_DAMAGE];
    guint npending;
    gboolean full_upload;

    GLuint texture, program, vao, vbo;
    GLint tex_uniform;
    guint tex_width, tex_height;
    gboolean gl_ok;

    GdkTexture *frame; /* texture path: the guest's screen as last drawn */

    /* Frames drawn with the guest's image, and those of them that uploaded new pixels. */
    guint64 frames, uploads;

    gboolean fit;
    gboolean grabbed;
    guint8 keys_down[MAX_KEYS / 8];
    unsigned buttons;
    double last_x, last_y;
    gboolean have_last;
    char *release_nick;
};

G_DEFINE_FINAL_TYPE(TrmDisplayView, trm_display_view, GTK_TYPE_WIDGET)

enum {
    PROP_0,
    PROP_HAS_DISPLAY,
    PROP_GRABBED,
    PROP_DISPLAY_WIDTH,
    PROP_DISPLAY_HEIGHT,
    PROP_FRAMES,
    N_PROPS
};
static GParamSpec *props[N_PROPS];

static const char *vs_desktop = "#version 150\n"
                                "in vec2 pos;\n"
                                "out vec2 uv;\n"
                                "void main() {\n"
                                "  uv = vec2(pos.x * 0.5 + 0.5, 0.5 - pos.y * 0.5);\n"
                                "  gl_Position = vec4(pos, 0.0, 1.0);\n"
                                "}\n";
static const char *fs_desktop = "#version 150\n"
                                "in vec2 uv;\n"
                                "out vec4 color;\n"
                                "uniform sampler2D tex;\n"
                                "void main() {\n"
                                "  color = vec4(texture(tex, uv).bgr, 1.0);\n"
                                "}\n";
static const char *vs_es = "#version 100\n"
                           "attribute vec2 pos;\n"
                           "varying vec2 uv;\n"
                           "void main() {\n"
                           "  uv = vec2(pos.x * 0.5 + 0.5, 0.5 - pos.y * 0.5);\n"
                           "  gl_Position = vec4(pos, 0.0, 1.0);\n"
                           "}\n";
static const char *fs_es = "#version 100\n"
                           "precision mediump float;\n"
                           "varying vec2 uv;\n"
                           "uniform sampler2D tex;\n"
                           "void main() {\n"
                           "  gl_FragColor = vec4(texture2D(tex, uv).bgr, 1.0);\n"
                           "}\n";

static GLuint compile(GLenum type, const char *src)
{
    GLuint s = glCreateShader(type);
    glShaderSource(s, 1, &src, NULL);
    glCompileShader(s);
    GLint ok = 0;
    glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
    if (!ok) {
        char log[512] = "";
        glGetShaderInfoLog(s, sizeof(log), NULL, log);
        g_warning("display shader: %s", log);
        glDeleteShader(s);
        return 0;
    }
    return s;
}

/* After the GtkGLArea's own realize: its context exists. */
static void on_area_realize(GtkGLArea *area, TrmDisplayView *self)
{
    gtk_gl_area_make_current(area);
    if (gtk_gl_area_get_error(area))
        return;
    gboolean es = gdk_gl_context_get_use_es(gtk_gl_area_get_context(area));
    GLuint vs = compile(GL_VERTEX_SHADER, es ? vs_es : vs_desktop);
    GLuint fs = compile(GL_FRAGMENT_SHADER, es ? fs_es : fs_desktop);
    if (!vs || !fs)
        return;
    self->program = glCreateProgram();
    glAttachShader(self->program, vs);
    glAttachShader(self->program, fs);
    glBindAttribLocation(self->program, 0, "pos");
    glLinkProgram(self->program);
    glDeleteShader(vs);
    glDeleteShader(fs);
    GLint ok = 0;
    glGetProgramiv(self->program, GL_LINK_STATUS, &ok);
    if (!ok) {
        g_warning("display shader program does not link");
        return;
    }
    self->tex_uniform = glGetUniformLocation(self->program, "tex");

    static const GLfloat quad[] = {-1, -1, 1, -1, -1, 1, 1, 1};
    if (!es || epoxy_gl_version() >= 30)
        glGenVertexArrays(1, &self->vao);
    if (self->vao)
        glBindVertexArray(self->vao);
    glGenBuffers(1, &self->vbo);
    glBindBuffer(GL_ARRAY_BUFFER, self->vbo);
    glBufferData(GL_ARRAY_BUFFER, sizeof(quad), quad, GL_STATIC_DRAW);
    glEnableVertexAttribArray(0);
    glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0, NULL);
    if (self->vao)
        glBindVertexArray(0);

    glGenTextures(1, &self->texture);
    glBindTexture(GL_TEXTURE_2D, self->texture);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    self->tex_width = self->tex_height = 0;
    self->full_upload = TRUE;
    self->gl_ok = TRUE;
}

/* Before the GtkGLArea's own unrealize drops its context. */
static void on_area_unrealize(GtkGLArea *area, TrmDisplayView *self)
{
    gtk_gl_area_make_current(area);
    if (self->gl_ok) {
        glDeleteTextures(1, &self->texture);
        glDeleteBuffers(1, &self->vbo);
        if (self->vao)
            glDeleteVertexArrays(1, &self->vao);
        glDeleteProgram(self->program);
    }
    self->gl_ok = FALSE;
    self->texture = self->vbo = self->vao = self->program = 0;
}

static void upload(TrmDisplayView *self)
{
    const struct vmm_display_image *img = &self->img;
    glBindTexture(GL_TEXTURE_2D, self->texture);
    glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
    if (self->tex_width != img->width || self->tex_height != img->height) {
        glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, img->width, img->height, 0, GL_RGBA,
                     GL_UNSIGNED_BYTE, NULL);
        self->tex_width = img->width;
        self->tex_height = img->height;
        self->full_upload = TRUE;
    }
    glPixelStorei(GL_UNPACK_ROW_LENGTH, img->stride / 4);
    if (self->full_upload) {
        glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, img->width, img->height, GL_RGBA, GL_UNSIGNED_BYTE,
                        img->pixels);
    } else {
        for (guint i = 0; i < self->npending; i++) {
            struct vmm_rect r = self->pending[i];
            /* vmm-core's rectangles are trusted less than our own texture bounds. */
            if (r.x >= img->width || r.y >= img->height)
                continue;
            r.w = MIN(r.w, img->width - r.x);
            r.h = MIN(r.h, img->height - r.y);
            glTexSubImage2D(GL_TEXTURE_2D, 0, r.x, r.y, r.w, r.h, GL_RGBA, GL_UNSIGNED_BYTE,
                            img->pixels + (gsize)r.y * img->stride + (gsize)r.x * 4);
        }
    }
    glPixelStorei(GL_UNPACK_ROW_LENGTH, 0);
    self->npending = 0;
    self->full_upload = FALSE;
}

/* Where the guest image goes, in device pixels of the GL area (origin bottom-left). */
static void dest_rect(TrmDisplayView *self, int *x, int *y, int *w, int *h)
{
    int scale = gtk_widget_get_scale_factor(GTK_WIDGET(self));
    int aw = gtk_widget_get_width(GTK_WIDGET(self)) * scale;
    int ah = gtk_widget_get_height(GTK_WIDGET(self)) * scale;
    double iw = self->img.width, ih = self->img.height;
    double s = self->fit ? MIN(aw / iw, ah / ih) : 1.0;
    /*
     * A view less than a logical pixel larger than the picture (an odd guest
     * size at scale 2, the window rounded up to whole logical pixels) shows it
     * 1:1, sharp, rather than magnified by a hair.
     */
    if (s > 1.0 && aw - iw < scale && ah - ih < scale)
        s = 1.0;
    *w = (int)(iw * s);
    *h = (int)(ih * s);
    *x = (aw - *w) / 2;
    *y = (ah - *h) / 2;
}

/* One frame drawn with the guest's image; fresh: with new pixels uploaded for it. */
static void count_frame(TrmDisplayView *self, gboolean fresh)
{
    self->frames++;
    self->uploads += fresh ? 1 : 0;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_FRAMES]);
}

static gboolean on_render(GtkGLArea *area, GdkGLContext *context, TrmDisplayView *self)
{
    glClearColor(0, 0, 0, 1);
    glClear(GL_COLOR_BUFFER_BIT);
    if (!self->gl_ok || !self->has_image || !self->img.width || !self->img.height)
        return TRUE;
    gboolean fresh = self->npending || self->full_upload || self->tex_width != self->img.width ||
                     self->tex_height != self->img.height;
    if (fresh)
        upload(self);
    GLint vp[4];
    glGetIntegerv(GL_VIEWPORT, vp);
    int x, y, w, h;
    dest_rect(self, &x, &y, &w, &h);
    glViewport(x, y, w, h);
    glUseProgram(self->program);
    glActiveTexture(GL_TEXTURE0);
    glBindTexture(GL_TEXTURE_2D, self->texture);
    glUniform1i(self->tex_uniform, 0);
    if (self->vao) {
        glBindVertexArray(self->vao);
    } else {
        glBindBuffer(GL_ARRAY_BUFFER, self->vbo);
        glEnableVertexAttribArray(0);
        glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0, NULL);
    }
    glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
    if (self->vao)
        glBindVertexArray(0);
    glUseProgram(0);
    glViewport(vp[0], vp[1], vp[2], vp[3]);
    count_frame(self, fresh);
    return TRUE;
}

GdkTexture *trm_display_image_to_texture(const struct vmm_display_image *img)
{
    if (!img->pixels || !img->width || !img->height || img->stride / 4 < img->width ||
        img->width > 16384 || img->height > 16384)
        return NULL;
    gsize stride = (gsize)img->width * 3;
    guint8 *bgr = g_malloc(stride * img->height);
    for (guint y = 0; y < img->height; y++) {
        const guint8 *src = img->pixels + (gsize)y * img->stride;
        guint8 *dst = bgr + (gsize)y * stride;
        for (guint x = 0; x < img->width; x++) {
            dst[3 * x + 0] = src[4 * x + 0];
            dst[3 * x + 1] = src[4 * x + 1];
            dst[3 * x + 2] = src[4 * x + 2];
        }
    }
    g_autoptr(GBytes) bytes = g_bytes_new_take(bgr, stride * img->height);
    return gdk_memory_texture_new((int)img->width, (int)img->height, GDK_MEMORY_B8G8R8, bytes,
                                  stride);
}

/* Texture path: the current guest image as a new texture. */
static void update_frame(TrmDisplayView *self)
{
    self->npending = 0;
    self->full_upload = FALSE;
    GdkTexture *frame = trm_display_image_to_texture(&self->img);
    if (!frame)
        return;
    g_clear_object(&self->frame);
    self->frame = frame;
}

static void append_black(GtkSnapshot *snapshot, float x, float y, float w, float h)
{
    static const GdkRGBA black = {0, 0, 0, 1};
    if (w > 0 && h > 0)
        gtk_snapshot_append_color(snapshot, &black, &GRAPHENE_RECT_INIT(x, y, w, h));
}

static void trm_display_view_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
    TrmDisplayView *self = TRM_DISPLAY_VIEW(widget);
    if (self->area) {
        gtk_widget_snapshot_child(widget, self->area, snapshot);
        return;
    }
    float aw = gtk_widget_get_width(widget), ah = gtk_widget_get_height(widget);
    gboolean fresh = self->has_image && self->img.width && self->img.height &&
                     (self->npending || self->full_upload || !self->frame);
    if (fresh)
        update_frame(self);
    if (!self->has_image || !self->frame) {
        append_black(snapshot, 0, 0, aw, ah);
        return;
    }
    /* dest_rect() is in device pixels from the bottom (GL's way); GTK's are from the top. */
    int scale = gtk_widget_get_scale_factor(widget);
    int x, y, w, h;
    dest_rect(self, &x, &y, &w, &h);
    int top = (int)ah * scale - y - h;
    graphene_rect_t r = GRAPHENE_RECT_INIT((float)x / scale, (float)top / scale, (float)w / scale,
                                           (float)h / scale);
    /* Black only around the picture: under it, it would cost a fill per frame. */
    append_black(snapshot, 0, 0, aw, r.origin.y);
    append_black(snapshot, 0, r.origin.y + r.size.height, aw, ah - r.origin.y - r.size.height);
    append_black(snapshot, 0, r.origin.y, r.origin.x, r.size.height);
    append_black(snapshot, r.origin.x + r.size.width, r.origin.y, aw - r.origin.x - r.size.width,
                 r.size.height);
    gtk_snapshot_append_texture(snapshot, self->frame, &r);
    count_frame(self, fresh);
}

/* A new frame to draw, on whichever path. */
static void queue_frame(TrmDisplayView *self)
{
    if (self->area)
        gtk_gl_area_queue_render(GTK_GL_AREA(self->area));
    else
        gtk_widget_queue_draw(GTK_WIDGET(self));
}

static void add_damage(TrmDisplayView *self, const struct vmm_rect *rects, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (self->npending == VMM_DISPLAY_MAX_DAMAGE) {
            self->full_upload = TRUE; /* too many pieces: one upload of everything */
            return;
        }
        self->pending[self->npending++] = rects[i];
    }
}

/* One look at the guest's screen; TRUE when something changed. */
static gboolean poll_display(TrmDisplayView *self)
{
    if (!self->vm)
        return FALSE;
    struct vmm_display_image img;
    struct vmm_rect damage[VMM_DISPLAY_MAX_DAMAGE];
    unsigned n = 0;
    int rc = vmm_display_update(self->vm, &img, damage, &n);
    gboolean has = rc == 0;
    gboolean changed = has != self->has_display;
    if (changed) {
        self->has_display = has;
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_HAS_DISPLAY]);
    }
    if (rc == 0) {
        changed |= n || img.width != self->img.width || img.height != self->img.height;
        trm_display_view_show_image(self, &img, damage, MIN(n, VMM_DISPLAY_MAX_DAMAGE));
    }
    return changed;
}

/* Looks at the screen, remembers when it changed; TRUE while the screen or the user is busy. */
static gboolean poll_busy(TrmDisplayView *self, gint64 now)
{
    if (poll_display(self)) {
        self->changes[self->change_next] = now;
        self->change_next = (self->change_next + 1) % BUSY_CHANGES;
    }
    /* The oldest of the last BUSY_CHANGES changes (0: fewer so far). */
    gint64 oldest = self->changes[self->change_next];
    return now < self->boost_until || (oldest && now - oldest < BUSY_US);
}

static gboolean on_tick(GtkWidget *widget, GdkFrameClock *clock, gpointer data);

static void poll_fast(TrmDisplayView *self)
{
    g_clear_handle_id(&self->poll_id, g_source_remove);
    if (!self->tick_id)
        self->tick_id = gtk_widget_add_tick_callback(GTK_WIDGET(self), on_tick, NULL, NULL);
}

static gboolean on_poll(gpointer data)
{
    TrmDisplayView *self = data;
    if (!gtk_widget_get_mapped(GTK_WIDGET(self)))
        return G_SOURCE_CONTINUE; /* as the frame clock: no polling for a hidden view */
    if (!poll_busy(self, g_get_monotonic_time()))
        return G_SOURCE_CONTINUE;
    self->poll_id = 0;
    poll_fast(self);
    return G_SOURCE_REMOVE;
}

static gboolean on_tick(GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
    TrmDisplayView *self = TRM_DISPLAY_VIEW(widget);
    if (poll_busy(self, g_get_monotonic_time()) || !self->vm || self->poll_id)
        return G_SOURCE_CONTINUE;
    /* Quiet (or a blinking cursor): let the frame clock stop, poll on a slow timer. */
    self->tick_id = 0;
    self->poll_id = g_timeout_add(POLL_MS, on_poll, self);
    return G_SOURCE_REMOVE;
}

void trm_display_view_wake(TrmDisplayView *self)
{
    self->boost_until = g_get_monotonic_time() + BUSY_US;
    if (self->vm)
        poll_fast(self);
}

gboolean trm_display_view_is_polling_fast(TrmDisplayView *self)
{
    return self->tick_id != 0;
}

void trm_display_view_show_image(TrmDisplayView *self, const struct vmm_display_image *img,
                                 const struct vmm_rect *damage, unsigned n)
{
    if (!img->pixels || !img->width || !img->height)
        return;
    gboolean resized = img->width != self->img.width || img->height != self->img.height;
    self->img = *img;
    self->has_image = TRUE;
    if (resized) {
        self->full_upload = TRUE;
        gtk_widget_queue_resize(GTK_WIDGET(self));
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_DISPLAY_WIDTH]);
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_DISPLAY_HEIGHT]);
    }
    if (n || resized) {
        add_damage(self, damage, n);
        queue_frame(self);
    }
}

static void set_key(TrmDisplayView *self, guint code, gboolean down)
{
    if (code >= MAX_KEYS)
        return;
    trm_display_view_wake(self); /* the guest's answer shows at the next frame */
    if (down)
        self->keys_down[code / 8] |= 1u << (code % 8);
    else
        self->keys_down[code / 8] &= ~(1u << (code % 8));
}

static gboolean key_is_down(TrmDisplayView *self, guint code)
{
    return code < MAX_KEYS && (self->keys_down[code / 8] & (1u << (code % 8)));
}

/* Nothing stays pressed in the guest when the keyboard goes back to the desktop. */
static void release_all(TrmDisplayView *self)
{
    for (guint code = 0; code < MAX_KEYS; code++)
        if (key_is_down(self, code) && self->vm)
            vmm_input_key(self->vm, code, false);
    memset(self->keys_down, 0, sizeof(self->keys_down));
    if (self->buttons && self->vm)
        vmm_input_rel(self->vm, 0, 0, 0, 0);
    self->buttons = 0;
}

static gboolean release_combo_down(TrmDisplayView *self)
{
    gboolean ctrl = key_is_down(self, KEY_LEFTCTRL) || key_is_down(self, KEY_RIGHTCTRL);
    gboolean alt = key_is_down(self, KEY_LEFTALT) || key_is_down(self, KEY_RIGHTALT);
    gboolean shift = key_is_down(self, KEY_LEFTSHIFT) || key_is_down(self, KEY_RIGHTSHIFT);
    if (g_strcmp0(self->release_nick, "right-ctrl") == 0)
        return key_is_down(self, KEY_RIGHTCTRL);
    if (g_strcmp0(self->release_nick, "ctrl-alt-shift") == 0)
        return ctrl && alt && shift;
    return ctrl && alt;
}

static void grab(TrmDisplayView *self, GdkEvent *event)
{
    if (self->grabbed || !self->vm)
        return;
    self->grabbed = TRUE;
    self->have_last = FALSE;
    gtk_widget_grab_focus(GTK_WIDGET(self));
    GtkNative *native = gtk_widget_get_native(GTK_WIDGET(self));
    GdkSurface *surface = native ? gtk_native_get_surface(native) : NULL;
    if (surface && GDK_IS_TOPLEVEL(surface))
        gdk_toplevel_inhibit_system_shortcuts(GDK_TOPLEVEL(surface), event);
    if (!vmm_input_abs_active(self->vm))
        gtk_widget_set_cursor_from_name(GTK_WIDGET(self), "none");
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_GRABBED]);
}

void trm_display_view_ungrab(TrmDisplayView *self)
{
    if (!self->grabbed)
        return;
    self->grabbed = FALSE;
    release_all(self);
    GtkNative *native = gtk_widget_get_native(GTK_WIDGET(self));
    GdkSurface *surface = native ? gtk_native_get_surface(native) : NULL;
    if (surface && GDK_IS_TOPLEVEL(surface))
        gdk_toplevel_restore_system_shortcuts(GDK_TOPLEVEL(surface));
    gtk_widget_set_cursor(GTK_WIDGET(self), NULL);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_GRABBED]);
}

static gboolean on_key_pressed(GtkEventControllerKey *c, guint keyval, guint keycode,
                               GdkModifierType state, TrmDisplayView *self)
{
    if (!self->grabbed || !self->vm || keycode < 8)
        return FALSE;
    guint code = keycode - 8;
    set_key(self, code, TRUE);
    vmm_input_key(self->vm, code, true);
    if (release_combo_down(self))
        trm_display_view_ungrab(self);
    return TRUE;
}

static void on_key_released(GtkEventControllerKey *c, guint keyval, guint keycode,
                            GdkModifierType state, TrmDisplayView *self)
{
    if (!self->vm || keycode < 8)
        return;
    guint code = keycode - 8;
    if (key_is_down(self, code)) {
        set_key(self, code, FALSE);
        vmm_input_key(self->vm, code, false);
    }
}

static unsigned button_bit(guint button)
{
    switch (button) {
    case GDK_BUTTON_PRIMARY:
        return VMM_BUTTON_LEFT;
    case GDK_BUTTON_SECONDARY:
        return VMM_BUTTON_RIGHT;
    case GDK_BUTTON_MIDDLE:
        return VMM_BUTTON_MIDDLE;
    case 8:
        return VMM_BUTTON_SIDE;
    case 9:
        return VMM_BUTTON_EXTRA;
    }
    return 0;
}

gboolean trm_display_view_pointer_to_abs(TrmDisplayView *self, double wx, double wy, guint32 *ax,
                                         guint32 *ay)
{
    if (!self->has_image)
        return FALSE;
    int scale = gtk_widget_get_scale_factor(GTK_WIDGET(self));
    int x, y, w, h;
    dest_rect(self, &x, &y, &w, &h);
    int ah = gtk_widget_get_height(GTK_WIDGET(self)) * scale;
    double px = wx * scale - x;
    double py = wy * scale - (ah - y - h);
    if (w <= 0 || h <= 0)
        return FALSE;
    *ax = (uint32_t)CLAMP(px / w * VMM_ABS_MAX, 0, VMM_ABS_MAX);
    *ay = (uint32_t)CLAMP(py / h * VMM_ABS_MAX, 0, VMM_ABS_MAX);
    return TRUE;
}

static void send_pointer(TrmDisplayView *self, double x, double y, int wheel)
{
    if (!self->vm)
        return;
    trm_display_view_wake(self);
    if (vmm_input_abs_active(self->vm)) {
        uint32_t ax, ay;
        if (trm_display_view_pointer_to_abs(self, x, y, &ax, &ay))
            vmm_input_abs(self->vm, ax, ay, wheel, self->buttons);
        return;
    }
    if (!self->grabbed)
        return;
    int dx = 0, dy = 0;
    if (self->have_last) {
        int scale = gtk_widget_get_scale_factor(GTK_WIDGET(self));
        dx = (int)((x - self->last_x) * scale);
        dy = (int)((y - self->last_y) * scale);
    }
    self->last_x = x;
    self->last_y = y;
    self->have_last = TRUE;
    vmm_input_rel(self->vm, dx, dy, wheel, self->buttons);
}

static void on_motion(GtkEventControllerMotion *c, double x, double y, TrmDisplayView *self)
{
    send_pointer(self, x, y, 0);
}

static void on_pressed(GtkGestureClick *g, int n, double x, double y, TrmDisplayView *self)
{
    guint button = gtk_gesture_single_get_current_button(GTK_GESTURE_SINGLE(g));
    if (!self->grabbed) {
        grab(self, gtk_event_controller_get_current_event(GTK_EVENT_CONTROLLER(g)));
        return; /* the click that grabs is not the guest's */
    }
    self->buttons |= button_bit(button);
    send_pointer(self, x, y, 0);
}

static void on_released(GtkGestureClick *g, int n, double x, double y, TrmDisplayView *self)
{
    guint button = gtk_gesture_single_get_current_button(GTK_GESTURE_SINGLE(g));
    if (!(self->buttons & button_bit(button)))
        return;
    self->buttons &= ~button_bit(button);
    send_pointer(self, x, y, 0);
}

static gboolean on_scroll(GtkEventControllerScroll *c, double dx, double dy, TrmDisplayView *self)
{
    if (!self->grabbed || !self->vm)
        return FALSE;
    int wheel = dy > 0 ? -1 : dy < 0 ? 1 : 0;
    if (vmm_input_abs_active(self->vm))
        send_pointer(self, self->last_x, self->last_y, wheel);
    else
        vmm_input_rel(self->vm, 0, 0, wheel, self->buttons);
    return TRUE;
}

static void on_focus_leave(GtkEventControllerFocus *c, TrmDisplayView *self)
{
    trm_display_view_ungrab(self);
}

static void trm_display_view_get_property(GObject *object, guint id, GValue *value,
                                          GParamSpec *pspec)
{
    TrmDisplayView *self = TRM_DISPLAY_VIEW(object);
    switch (id) {
    case PROP_HAS_DISPLAY:
        g_value_set_boolean(value, self->has_display);
        break;
    case PROP_GRABBED:
        g_value_set_boolean(value, self->grabbed);
        break;
    case PROP_DISPLAY_WIDTH:
        g_value_set_uint(value, self->has_image ? self->img.width : 0);
        break;
    case PROP_DISPLAY_HEIGHT:
        g_value_set_uint(value, self->has_image ? self->img.height : 0);
        break;
    case PROP_FRAMES:
        g_value_set_uint64(value, self->frames);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void trm_display_view_measure(GtkWidget *widget, GtkOrientation orientation, int for_size,
                                     int *min, int *nat, int *min_base, int *nat_base)
{
    TrmDisplayView *self = TRM_DISPLAY_VIEW(widget);
    int scale = gtk_widget_get_scale_factor(widget);
    guint size = orientation == GTK_ORIENTATION_HORIZONTAL ? self->img.width : self->img.height;
    /* 1:1 needs every device pixel of the picture: an odd size rounds up at scale 2. */
    int need = ((int)size + scale - 1) / scale;
    *min = self->fit || !self->has_image ? 64 : need;
    *nat = self->has_image ? need : 640;
    *nat = MAX(*nat, *min);
    *min_base = *nat_base = -1;
}

static void trm_display_view_size_allocate(GtkWidget *widget, int width, int height, int baseline)
{
    TrmDisplayView *self = TRM_DISPLAY_VIEW(widget);
    if (self->area)
        gtk_widget_allocate(self->area, width, height, baseline, NULL);
}

static void trm_display_view_dispose(GObject *object)
{
    TrmDisplayView *self = TRM_DISPLAY_VIEW(object);
    self->vm = NULL;
    g_clear_handle_id(&self->poll_id, g_source_remove);
    g_clear_pointer(&self->release_nick, g_free);
    g_clear_pointer(&self->area, gtk_widget_unparent);
    g_clear_object(&self->frame);
    G_OBJECT_CLASS(trm_display_view_parent_class)->dispose(object);
}

static void trm_display_view_class_init(TrmDisplayViewClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->get_property = trm_display_view_get_property;
    object_class->dispose = trm_display_view_dispose;
    widget_class->measure = trm_display_view_measure;
    widget_class->size_allocate = trm_display_view_size_allocate;
    widget_class->snapshot = trm_display_view_snapshot;
    GParamFlags f = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
    props[PROP_HAS_DISPLAY] = g_param_spec_boolean("has-display", NULL, NULL, FALSE, f);
    props[PROP_GRABBED] = g_param_spec_boolean("grabbed", NULL, NULL, FALSE, f);
    props[PROP_DISPLAY_WIDTH] = g_param_spec_uint("display-width", NULL, NULL, 0, G_MAXUINT, 0, f);
    props[PROP_DISPLAY_HEIGHT] =
        g_param_spec_uint("display-height", NULL, NULL, 0, G_MAXUINT, 0, f);
    /* Notified on every frame drawn (trm_display_view_get_frames() has both counts). */
    props[PROP_FRAMES] = g_param_spec_uint64("frames", NULL, NULL, 0, G_MAXUINT64, 0, f);
    g_object_class_install_properties(object_class, N_PROPS, props);
    gtk_widget_class_set_css_name(widget_class, "trm-display");
}

static void trm_display_view_init(TrmDisplayView *self)
{
    self->fit = TRUE;
    self->release_nick = g_strdup("ctrl-alt");
    if (trm_display_path_get() == TRM_DISPLAY_PATH_GL) {
        self->area = gtk_gl_area_new();
        gtk_gl_area_set_auto_render(GTK_GL_AREA(self->area), FALSE);
        gtk_gl_area_set_has_depth_buffer(GTK_GL_AREA(self->area), FALSE);
        g_signal_connect(self->area, "realize", G_CALLBACK(on_area_realize), self);
        g_signal_connect(self->area, "unrealize", G_CALLBACK(on_area_unrealize), self);
        g_signal_connect(self->area, "render", G_CALLBACK(on_render), self);
        gtk_widget_set_parent(self->area, GTK_WIDGET(self));
    }
    gtk_widget_set_focusable(GTK_WIDGET(self), TRUE);
    gtk_widget_set_hexpand(GTK_WIDGET(self), TRUE);
    gtk_widget_set_vexpand(GTK_WIDGET(self), TRUE);

    GtkEventController *key = gtk_event_controller_key_new();
    gtk_event_controller_set_propagation_phase(key, GTK_PHASE_CAPTURE);
    g_signal_connect(key, "key-pressed", G_CALLBACK(on_key_pressed), self);
    g_signal_connect(key, "key-released", G_CALLBACK(on_key_released), self);
    gtk_widget_add_controller(GTK_WIDGET(self), key);

    GtkEventController *motion = gtk_event_controller_motion_new();
    g_signal_connect(motion, "motion", G_CALLBACK(on_motion), self);
    gtk_widget_add_controller(GTK_WIDGET(self), motion);

    GtkGesture *click = gtk_gesture_click_new();
    gtk_gesture_single_set_button(GTK_GESTURE_SINGLE(click), 0);
    g_signal_connect(click, "pressed", G_CALLBACK(on_pressed), self);
    g_signal_connect(click, "released", G_CALLBACK(on_released), self);
    gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(click));

    GtkEventController *scroll = gtk_event_controller_scroll_new(
        GTK_EVENT_CONTROLLER_SCROLL_VERTICAL | GTK_EVENT_CONTROLLER_SCROLL_DISCRETE);
    g_signal_connect(scroll, "scroll", G_CALLBACK(on_scroll), self);
    gtk_widget_add_controller(GTK_WIDGET(self), scroll);

    GtkEventController *focus = gtk_event_controller_focus_new();
    g_signal_connect(focus, "leave", G_CALLBACK(on_focus_leave), self);
    gtk_widget_add_controller(GTK_WIDGET(self), focus);
}

GtkWidget *trm_display_view_new(void)
{
    return g_object_new(TRM_TYPE_DISPLAY_VIEW, NULL);
}

void trm_display_view_set_vm(TrmDisplayView *self, struct vmm_vm *vm)
{
    if (!vm)
        trm_display_view_ungrab(self);
    self->vm = vm;
    self->has_image = FALSE;
    self->npending = 0;
    self->full_upload = TRUE;
    memset(&self->img, 0, sizeof(self->img));
    if (vm) {
        trm_display_view_wake(self);
    } else {
        if (self->tick_id)
            gtk_widget_remove_tick_callback(GTK_WIDGET(self), self->tick_id);
        self->tick_id = 0;
        g_clear_handle_id(&self->poll_id, g_source_remove);
    }
}

void trm_display_view_set_fit(TrmDisplayView *self, gboolean fit)
{
    self->fit = fit;
    gtk_widget_queue_resize(GTK_WIDGET(self));
    queue_frame(self);
}

gboolean trm_display_view_get_fit(TrmDisplayView *self)
{
    return self->fit;
}

gboolean trm_display_view_get_has_display(TrmDisplayView *self)
{
    return self->has_display;
}

void trm_display_view_get_frames(TrmDisplayView *self, guint64 *frames, guint64 *uploads)
{
    *frames = self->frames;
    *uploads = self->uploads;
}

gboolean trm_display_view_get_grabbed(TrmDisplayView *self)
{
    return self->grabbed;
}

GdkTexture *trm_display_view_dup_texture(TrmDisplayView *self)
{
    return self->has_image ? trm_display_image_to_texture(&self->img) : NULL;
}

void trm_display_view_send_keys(TrmDisplayView *self, const guint *codes, guint n)
{
    if (!self->vm)
        return;
    trm_display_view_wake(self);
    for (guint i = 0; i < n; i++)
        vmm_input_key(self->vm, codes[i], true);
    for (guint i = n; i-- > 0;)
        vmm_input_key(self->vm, codes[i], false);
}

void trm_display_view_set_release_keys(TrmDisplayView *self, const char *nick)
{
    g_free(self->release_nick);
    self->release_nick = g_strdup(nick ? nick : "ctrl-alt");
}

const char *trm_display_view_get_release_label(TrmDisplayView *self)
{
    if (g_strcmp0(self->release_nick, "right-ctrl") == 0)
        return _("Press Right Ctrl to release the keyboard and mouse");
    if (g_strcmp0(self->release_nick, "ctrl-alt-shift") == 0)
        return _("Press Ctrl+Alt+Shift to release the keyboard and mouse");
    return _("Press Ctrl+Alt to release the keyboard and mouse");
}
