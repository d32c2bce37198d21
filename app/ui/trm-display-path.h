/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/*
 * How the machine window draws the guest's screen.
 *   GL:      a GtkGLArea; damaged rectangles go to one GL texture (hardware GL).
 *   TEXTURE: the view's own snapshot(), a GdkMemoryTexture per changed frame, drawn by
 *            GTK's cairo renderer: no GL at all, far cheaper where GL is a software
 *            rasterizer (llvmpipe in a VM without a GPU, remote X).
 */
typedef enum {
    TRM_DISPLAY_PATH_GL,
    TRM_DISPLAY_PATH_TEXTURE,
} TrmDisplayPath;

/*
 * Chooses the path for this process, once, before any window is realized and
 * while the process has no other thread (it may set GSK_RENDERER=cairo):
 * TERRARIUM_DISPLAY=gl|texture forces one; otherwise (unset or "auto") GTK is
 * initialised and GL probed through a GdkGLContext: a software renderer, or no
 * GL at all, takes the texture path. The texture path asks for GTK's cairo
 * renderer unless GSK_RENDERER is already set.
 */
TrmDisplayPath trm_display_path_choose(void);
/* The path chosen (GL when trm_display_path_choose() was never called). */
TrmDisplayPath trm_display_path_get(void);
/* "gl" or "texture". */
const char *trm_display_path_to_string(TrmDisplayPath path);
/* The GL_RENDERER string the probe saw, or NULL (no probe, or no GL). */
const char *trm_display_path_get_gl_renderer(void);
/* Is this GL_RENDERER string a software rasterizer? */
gboolean trm_display_path_is_software_renderer(const char *gl_renderer);

G_END_DECLS
