/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PNG as the W3C/ISO 15948 specification lays it out: the 8-byte signature,
 * IHDR (width, height, bit depth 8, colour type 2 = RGB, deflate, adaptive
 * filtering, no interlace), IDAT chunks carrying one zlib stream of the
 * filtered rows, and IEND. Each row uses filter 1 (Sub: every byte minus the
 * byte one pixel to its left), which costs nothing and suits flat screens.
 * A chunk is length (big-endian), type, data, CRC-32 of type and data.
 */
#include "png-write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDAT_CHUNK (64 * 1024)

struct png_out {
    FILE *f;
    int err;
};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void write_chunk(struct png_out *o, const char type[4], const uint8_t *data, uint32_t len)
{
    uint8_t head[8], tail[4];
    put_be32(head, len);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, (const Bytef *)type, 4);
    if (len)
        crc = crc32(crc, data, len);
    put_be32(tail, (uint32_t)crc);
    if (o->err)
        return;
    if (fwrite(head, 1, 8, o->f) != 8 || (len && fwrite(data, 1, len, o->f) != len) ||
        fwrite(tail, 1, 4, o->f) != 4)
        o->err = errno ? -errno : -EIO;
}

/* Row y as a Sub-filtered scanline: the filter byte, then R G B a pixel. */
static void filter_row(uint8_t *out, const uint8_t *row, uint32_t width)
{
    out[0] = 1;
    uint8_t pr = 0, pg = 0, pb = 0;
    for (uint32_t x = 0; x < width; x++) {
        uint32_t px;
        memcpy(&px, row + (size_t)x * 4, 4);
        uint8_t r = (uint8_t)(px >> 16), g = (uint8_t)(px >> 8), b = (uint8_t)px;
        out[1 + x * 3] = (uint8_t)(r - pr);
        out[2 + x * 3] = (uint8_t)(g - pg);
        out[3 + x * 3] = (uint8_t)(b - pb);
        pr = r;
        pg = g;
        pb = b;
    }
}

static int write_image(struct png_out *o, const uint8_t *pixels, uint32_t width, uint32_t height,
                       uint32_t stride)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (fwrite(sig, 1, sizeof(sig), o->f) != sizeof(sig))
        return errno ? -errno : -EIO;
    uint8_t ihdr[13];
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    write_chunk(o, "IHDR", ihdr, sizeof(ihdr));

    size_t row_len = 1 + (size_t)width * 3;
    uint8_t *row = malloc(row_len);
    uint8_t *buf = malloc(IDAT_CHUNK);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (!row || !buf || deflateInit(&zs, 6) != Z_OK) {
        free(row);
        free(buf);
        return -ENOMEM;
    }
    zs.next_out = buf;
    zs.avail_out = IDAT_CHUNK;
    for (uint32_t y = 0; y <= height && !o->err; y++) {
        int flush = y == height ? Z_FINISH : Z_NO_FLUSH;
        if (y < height) {
            filter_row(row, pixels + (size_t)y * stride, width);
            zs.next_in = row;
            zs.avail_in = (uInt)row_len;
        }
        for (;;) {
            int zr = deflate(&zs, flush);
            if (zr == Z_STREAM_ERROR) {
                o->err = -EIO;
                break;
            }
            if (zs.avail_out == 0 || (zr == Z_STREAM_END && zs.avail_out < IDAT_CHUNK)) {
                write_chunk(o, "IDAT", buf, IDAT_CHUNK - zs.avail_out);
                zs.next_out = buf;
                zs.avail_out = IDAT_CHUNK;
            }
            if (zr == Z_STREAM_END || o->err)
                break;
            if (flush == Z_NO_FLUSH && zs.avail_in == 0 && zs.avail_out > 0)
                break;
        }
    }
    deflateEnd(&zs);
    free(row);
    free(buf);
    write_chunk(o, "IEND", NULL, 0);
    return o->err;
}

int trm_png_write_xrgb(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                       uint32_t stride)
{
    if (!path || !pixels || width == 0 || height == 0 || width > TRM_PNG_MAX_SIDE ||
        height > TRM_PNG_MAX_SIDE || stride / 4 < width)
        return -EINVAL;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, plen + 16, "%s.tmp%d", path, (int)(getpid() % 100000));
    struct png_out o = {.f = fopen(tmp, "wb")};
    if (!o.f) {
        int e = -errno;
        free(tmp);
        return e;
    }
    int r = write_image(&o, pixels, width, height, stride);
    if (fclose(o.f) != 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) != 0)
        r = -errno;
    if (r != 0)
        unlink(tmp);
    free(tmp);
    return r;
}
