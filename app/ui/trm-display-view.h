/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

struct vmm_vm;
struct vmm_display_image;
struct vmm_rect;

#define TRM_TYPE_DISPLAY_VIEW (trm_display_view_get_type())
G_DECLARE_FINAL_TYPE(TrmDisplayView, trm_display_view, TRM, DISPLAY_VIEW, GtkWidget)

GtkWidget *trm_display_view_new(void);
/* The VM whose screen is shown and who gets the input; NULL detaches. */
void trm_display_view_set_vm(TrmDisplayView *self, struct vmm_vm *vm);
/*
 * Shows a guest frame with its damaged rectangles (n at most
 * VMM_DISPLAY_MAX_DAMAGE), as vmm_display_update() hands them out: the pixels
 * stay valid, and unchanged outside the damage, until the next call. The tick
 * of a VM set with trm_display_view_set_vm() calls this; tests call it directly.
 */
void trm_display_view_show_image(TrmDisplayView *self, const struct vmm_display_image *img,
                                 const struct vmm_rect *damage, unsigned n);
/*
 * Widget coordinates (logical pixels) to the absolute pointer's 0..VMM_ABS_MAX
 * over the picture, through the same device-pixel rectangle the picture is
 * drawn in. FALSE without a picture.
 */
gboolean trm_display_view_pointer_to_abs(TrmDisplayView *self, double x, double y, guint32 *ax,
                                         guint32 *ay);
/* TRUE: scale to fit the widget keeping the aspect; FALSE: one guest pixel per device pixel. */
void trm_display_view_set_fit(TrmDisplayView *self, gboolean fit);
gboolean trm_display_view_get_fit(TrmDisplayView *self);
/* Has the VM a display adapter? FALSE until the first frame, and while vmm reports -ENODEV. */
gboolean trm_display_view_get_has_display(TrmDisplayView *self);
gboolean trm_display_view_get_grabbed(TrmDisplayView *self);
/*
 * Frames drawn with the guest's image since the view was made, and how many of them
 * uploaded new guest pixels (the rest redrew the last ones); "notify::frames" on each.
 */
void trm_display_view_get_frames(TrmDisplayView *self, guint64 *frames, guint64 *uploads);
void trm_display_view_ungrab(TrmDisplayView *self);
/*
 * Back to looking for guest changes on every frame (input does this itself; call it when
 * the guest is about to change its screen). When the screen is not busy (fewer than
 * three changes in half a second: still, or a blinking cursor) and there was no input
 * for half a second, the view polls every 50 ms instead, with GTK's frame clock stopped.
 */
void trm_display_view_wake(TrmDisplayView *self);
/* TRUE while polling on the frame clock, FALSE on the slow timer (or without a VM). */
gboolean trm_display_view_is_polling_fast(TrmDisplayView *self);
/* A copy of the current guest screen (opaque RGB), or NULL without one. */
GdkTexture *trm_display_view_dup_texture(TrmDisplayView *self);
/*
 * A vmm-core image (B, G, R, undefined, a pixel) as an opaque B8G8R8 texture; NULL for an
 * empty or unusable one. Not GDK's B8G8R8A8_PREMULTIPLIED, though it is cairo's own: GTK
 * 4.8's cairo renderer converts that one to itself through floats on every draw (about
 * 8 ns a pixel here), B8G8R8 with a byte shuffle (under 1 ns).
 */
GdkTexture *trm_display_image_to_texture(const struct vmm_display_image *img);
/* Sends a key combination (evdev codes), pressed in order and released in reverse. */
void trm_display_view_send_keys(TrmDisplayView *self, const guint *codes, guint n);
/* Release keys, as the GSettings nick ("ctrl-alt", "ctrl-alt-shift", "right-ctrl"). */
void trm_display_view_set_release_keys(TrmDisplayView *self, const char *nick);
/* A sentence naming the release keys, for the overlay hint. */
const char *trm_display_view_get_release_label(TrmDisplayView *self);

G_END_DECLS
