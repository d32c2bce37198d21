/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The built-in demo machine: a freestanding multiboot guest that sets a Bochs
 * VBE mode, draws a terrarium, echoes typed keys and follows the PS/2 mouse.
 */
#ifndef TRM_DEMO_H
#define TRM_DEMO_H

#include <stdbool.h>
#include <stdint.h>

/* Colours the tests check (XRGB8888). The sky is a vertical gradient from
 * SKY_TOP at row 0 to SKY_BOTTOM at the horizon row (3/4 of the height); the
 * soil one from SOIL_TOP at the horizon to SOIL_BOTTOM at the last row. */
#define DEMO_SKY_TOP 0x1e4f8cu
#define DEMO_SKY_BOTTOM 0xbfe3f2u
#define DEMO_SOIL_TOP 0x6b4a2bu
#define DEMO_SOIL_BOTTOM 0x2e1d10u

struct demo_fb {
    volatile uint32_t *base; /* the linear framebuffer */
    uint32_t width, height;  /* pixels; the pitch is width */
};

/* font.c: 5x7 glyphs for ASCII 0x20..0x7e, plus 0x7f drawn as a long dash. */
const uint8_t *demo_glyph(char c);

/* scene.c */
uint32_t demo_gradient(uint32_t top, uint32_t bottom, uint32_t y, uint32_t rows);
void demo_draw_scene(const struct demo_fb *fb);
void demo_text_reset(const struct demo_fb *fb);
void demo_text_key(const struct demo_fb *fb, char c);
void demo_pointer_show(const struct demo_fb *fb, int x, int y);
void demo_pointer_hide(const struct demo_fb *fb);

#endif
