/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small PNG writer (zlib only) for screenshots of the guest's display. */
#ifndef TRM_PNG_WRITE_H
#define TRM_PNG_WRITE_H

#include <stdint.h>

#define TRM_PNG_MAX_SIDE 16384

/*
 * Writes an XRGB8888 image (one little-endian uint32_t a pixel, the top byte
 * ignored; stride bytes a row) to path as an 8-bit RGB PNG. The file appears
 * whole or not at all (written beside it, then renamed). 0, or -errno
 * (-EINVAL for an empty, oversized or inconsistent image).
 */
int trm_png_write_xrgb(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                       uint32_t stride);

#endif
