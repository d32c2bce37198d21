/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine window's drawing path (trm-display-path.h). Measured with
 * bench-display-anim under Xvfb (Mesa llvmpipe): GTK 4's GL renderer spends
 * most of a frame rasterizing its own window in software; its cairo renderer
 * with the guest's frame as a memory texture costs a fraction of that.
 */
#include "config.h"

#include <epoxy/gl.h>

#include "trm-display-path.h"

static TrmDisplayPath chosen = TRM_DISPLAY_PATH_GL;
static char *gl_renderer;

gboolean trm_display_path_is_software_renderer(const char *r)
{
    if (!r)
        return FALSE;
    g_autofree char *low = g_ascii_strdown(r, -1);
    return strstr(low, "llvmpipe") || strstr(low, "softpipe") || strstr(low, "software") ||
           strstr(low, "swrast");
}

/* GL_RENDERER of a context GDK makes on the default display; NULL without GL. */
static char *probe_gl_renderer(void)
{
    GdkDisplay *display = gdk_display_get_default();
    if (!display)
        return NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GdkGLContext) ctx = gdk_display_create_gl_context(display, &error);
    if (!ctx || !gdk_gl_context_realize(ctx, &error)) {
        g_debug("display: no GL (%s)", error ? error->message : "?");
        return NULL;
    }
    gdk_gl_context_make_current(ctx);
    const char *r = (const char *)glGetString(GL_RENDERER);
    char *out = g_strdup(r ? r : "");
    gdk_gl_context_clear_current();
    return out;
}

TrmDisplayPath trm_display_path_choose(void)
{
    const char *want = g_getenv("TERRARIUM_DISPLAY");
    if (g_strcmp0(want, "gl") == 0) {
        chosen = TRM_DISPLAY_PATH_GL;
    } else if (g_strcmp0(want, "texture") == 0) {
        chosen = TRM_DISPLAY_PATH_TEXTURE;
    } else {
        if (want && *want && g_strcmp0(want, "auto") != 0)
            g_warning("TERRARIUM_DISPLAY=%s: expected gl, texture or auto", want);
        if (!gtk_init_check()) {
            chosen = TRM_DISPLAY_PATH_GL; /* no display: GTK's own error comes later */
            return chosen;
        }
        g_free(gl_renderer);
        gl_renderer = probe_gl_renderer();
        chosen = !gl_renderer || trm_display_path_is_software_renderer(gl_renderer)
                     ? TRM_DISPLAY_PATH_TEXTURE
                     : TRM_DISPLAY_PATH_GL;
    }
    /* GSK reads GSK_RENDERER once, when the first window is realized. */
    if (chosen == TRM_DISPLAY_PATH_TEXTURE && !g_getenv("GSK_RENDERER"))
        g_setenv("GSK_RENDERER", "cairo", TRUE);
    g_debug("display: %s path (GL renderer %s)", trm_display_path_to_string(chosen),
            gl_renderer ? gl_renderer : "not probed");
    return chosen;
}

TrmDisplayPath trm_display_path_get(void)
{
    return chosen;
}

const char *trm_display_path_to_string(TrmDisplayPath path)
{
    return path == TRM_DISPLAY_PATH_TEXTURE ? "texture" : "gl";
}

const char *trm_display_path_get_gl_renderer(void)
{
    return gl_renderer;
}
