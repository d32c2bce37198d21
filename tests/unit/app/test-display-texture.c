/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The texture path's frame (trm_display_image_to_texture()): every guest pixel
 * arrives with its colour, opaque whatever vmm-core's fourth byte holds, rows
 * read at the image's stride; an image it cannot use gives no texture.
 */
#include "trm-display-view.h"
#include "vmm/vmm.h"

#define W 5
#define H 3
#define STRIDE (6 * 4) /* one pixel of padding a row */

static void fill(guint8 *px)
{
    for (guint y = 0; y < H; y++)
        for (guint x = 0; x < STRIDE / 4; x++) {
            guint8 *p = px + y * STRIDE + x * 4;
            gboolean pad = x >= W;
            p[0] = pad ? 0xee : (guint8)(10 * x + y);       /* B */
            p[1] = pad ? 0xee : (guint8)(100 + 10 * x + y); /* G */
            p[2] = pad ? 0xee : (guint8)(200 + 10 * x + y); /* R */
            p[3] = (guint8)(x * 61 + y * 17);               /* undefined */
        }
}

static void test_pixels(void)
{
    guint8 px[STRIDE * H];
    fill(px);
    struct vmm_display_image img = {.pixels = px, .width = W, .height = H, .stride = STRIDE};
    g_autoptr(GdkTexture) tex = trm_display_image_to_texture(&img);
    g_assert_nonnull(tex);
    g_assert_cmpint(gdk_texture_get_width(tex), ==, W);
    g_assert_cmpint(gdk_texture_get_height(tex), ==, H);
    /* Downloaded as cairo's ARGB32 (B, G, R, A in memory), what the cairo renderer draws. */
    guint8 out[W * 4 * H];
    gdk_texture_download(tex, out, W * 4);
    for (guint y = 0; y < H; y++)
        for (guint x = 0; x < W; x++) {
            const guint8 *o = out + y * W * 4 + x * 4, *i = px + y * STRIDE + x * 4;
            g_assert_cmpuint(o[0], ==, i[0]);
            g_assert_cmpuint(o[1], ==, i[1]);
            g_assert_cmpuint(o[2], ==, i[2]);
            g_assert_cmpuint(o[3], ==, 0xff);
        }
}

static void test_unusable(void)
{
    guint8 px[STRIDE * H];
    fill(px);
    struct vmm_display_image img = {.pixels = px, .width = W, .height = H, .stride = W * 4 - 1};
    g_assert_null(trm_display_image_to_texture(&img)); /* rows shorter than the width */
    img.stride = STRIDE;
    img.width = 0;
    g_assert_null(trm_display_image_to_texture(&img));
    img.width = W;
    img.height = 0;
    g_assert_null(trm_display_image_to_texture(&img));
    img.height = H;
    img.pixels = NULL;
    g_assert_null(trm_display_image_to_texture(&img));
    img.pixels = px;
    img.width = 16385;
    img.stride = 16385 * 4;
    g_assert_null(trm_display_image_to_texture(&img)); /* larger than any adapter's */
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/display-texture/pixels", test_pixels);
    g_test_add_func("/display-texture/unusable", test_unusable);
    return g_test_run();
}
