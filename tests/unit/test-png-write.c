/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * terrarium-run's PNG writer (app/runner/png-write.c), checked by a decoder
 * written here from the PNG specification: signature, chunk CRCs, IHDR, the
 * IDAT zlib stream inflated and unfiltered (all five filter types), every
 * pixel compared.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "png-write.h"
#include "test.h"

static char dir[] = "/tmp/trm-png-XXXXXX";

struct decoded {
    uint32_t w, h;
    unsigned idat_chunks;
    uint8_t *rgb; /* w * h * 3 */
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* 0 on success; every structural fault is a failed CHECK. */
static int decode(const char *path, struct decoded *out)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t len;
    uint8_t *f = slurp(path, &len);
    CHECK(f != NULL);
    if (!f)
        return -1;
    memset(out, 0, sizeof(*out));
    CHECK(len > 8 && memcmp(f, sig, 8) == 0);
    uint8_t *z = NULL;
    size_t zlen = 0;
    bool ihdr = false, iend = false;
    for (size_t off = 8; off + 12 <= len && !iend;) {
        uint32_t n = be32(f + off);
        CHECK(off + 12 + n <= len);
        if (off + 12 + n > len)
            break;
        const uint8_t *type = f + off + 4, *data = f + off + 8;
        uLong crc = crc32(crc32(0L, Z_NULL, 0), type, 4 + n);
        CHECK_EQ(be32(data + n), crc);
        if (memcmp(type, "IHDR", 4) == 0) {
            CHECK(!ihdr && off == 8 && n == 13);
            out->w = be32(data);
            out->h = be32(data + 4);
            CHECK_EQ(data[8], 8);  /* bit depth */
            CHECK_EQ(data[9], 2);  /* RGB */
            CHECK_EQ(data[10], 0); /* deflate */
            CHECK_EQ(data[11], 0);
            CHECK_EQ(data[12], 0); /* not interlaced */
            ihdr = true;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            z = realloc(z, zlen + n + 1);
            memcpy(z + zlen, data, n);
            zlen += n;
            out->idat_chunks++;
        } else if (memcmp(type, "IEND", 4) == 0) {
            CHECK_EQ(n, 0);
            CHECK_EQ(off + 12, len); /* nothing after IEND */
            iend = true;
        }
        off += 12 + n;
    }
    CHECK(ihdr && iend && zlen > 0);
    free(f);
    if (!ihdr || !zlen || !out->w || !out->h) {
        free(z);
        return -1;
    }
    size_t row = 1 + (size_t)out->w * 3, raw_len = row * out->h;
    uint8_t *raw = malloc(raw_len + 1);
    uLongf got = raw_len + 1;
    int zr = uncompress(raw, &got, z, zlen);
    free(z);
    CHECK_EQ(zr, Z_OK);
    CHECK_EQ(got, raw_len);
    out->rgb = malloc(raw_len);
    for (uint32_t y = 0; y < out->h && zr == Z_OK; y++) {
        const uint8_t *in = raw + y * row + 1;
        uint8_t *cur = out->rgb + (size_t)y * out->w * 3;
        const uint8_t *up = y ? cur - out->w * 3 : NULL;
        uint8_t ft = raw[y * row];
        CHECK(ft <= 4);
        for (size_t i = 0; i < (size_t)out->w * 3; i++) {
            int a = i >= 3 ? cur[i - 3] : 0, b = up ? up[i] : 0, c = up && i >= 3 ? up[i - 3] : 0;
            int pred = ft == 1   ? a
                       : ft == 2 ? b
                       : ft == 3 ? (a + b) / 2
                       : ft == 4 ? paeth(a, b, c)
                                 : 0;
            cur[i] = (uint8_t)(in[i] + pred);
        }
    }
    free(raw);
    return zr == Z_OK ? 0 : -1;
}

static uint32_t pattern(uint32_t x, uint32_t y, uint32_t seed)
{
    uint32_t v = (x * 2654435761u) ^ (y * 40503u) ^ seed;
    v ^= v >> 13;
    v *= 0x5bd1e995u;
    return v ^ (v >> 15);
}

static void check_image(uint32_t w, uint32_t h, uint32_t stride_px, uint32_t seed, bool noisy)
{
    uint32_t *px = calloc((size_t)stride_px * h, 4);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            px[(size_t)y * stride_px + x] = noisy                  ? pattern(x, y, seed)
                                            : (x / 9 + y / 16) % 2 ? 0xffaaaaaa
                                                                   : 0x00000000;
    char path[64];
    snprintf(path, sizeof(path), "%s/img-%u.png", dir, seed);
    CHECK_EQ(trm_png_write_xrgb(path, (const uint8_t *)px, w, h, stride_px * 4), 0);
    struct decoded d;
    if (decode(path, &d) == 0) {
        CHECK_EQ(d.w, w);
        CHECK_EQ(d.h, h);
        unsigned bad = 0;
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) {
                uint32_t v = px[(size_t)y * stride_px + x];
                const uint8_t *p = d.rgb + ((size_t)y * w + x) * 3;
                if (p[0] != (uint8_t)(v >> 16) || p[1] != (uint8_t)(v >> 8) || p[2] != (uint8_t)v)
                    bad++;
            }
        CHECK_EQ(bad, 0);
        if (noisy && (size_t)w * h * 3 > 256 * 1024)
            CHECK(d.idat_chunks > 1); /* the stream is split over several chunks */
        free(d.rgb);
    }
    free(px);
}

static void test_small(void)
{
    check_image(1, 1, 1, 1, true);
    check_image(3, 2, 3, 2, true);
    check_image(720, 400, 720, 3, false); /* a text screen's shape */
}

static void test_stride_and_size(void)
{
    check_image(17, 5, 32, 4, true);       /* rows padded past the width */
    check_image(1024, 768, 1024, 5, true); /* noise: several IDAT chunks */
}

static void test_bad_arguments(void)
{
    uint32_t px[4] = {0};
    char path[64];
    snprintf(path, sizeof(path), "%s/bad.png", dir);
    CHECK_EQ(trm_png_write_xrgb(path, (const uint8_t *)px, 0, 1, 4), -EINVAL);
    CHECK_EQ(trm_png_write_xrgb(path, (const uint8_t *)px, 1, 0, 4), -EINVAL);
    CHECK_EQ(trm_png_write_xrgb(path, (const uint8_t *)px, 2, 2, 4), -EINVAL); /* stride short */
    CHECK_EQ(trm_png_write_xrgb(path, NULL, 1, 1, 4), -EINVAL);
    CHECK_EQ(trm_png_write_xrgb(path, (const uint8_t *)px, TRM_PNG_MAX_SIDE + 1, 1,
                                (TRM_PNG_MAX_SIDE + 1) * 4),
             -EINVAL);
    struct stat st;
    CHECK(stat(path, &st) < 0);
    snprintf(path, sizeof(path), "%s/no/such/dir.png", dir);
    CHECK_EQ(trm_png_write_xrgb(path, (const uint8_t *)px, 1, 1, 4), -ENOENT);
}

/* A failed write leaves the old file in place and no temporary behind. */
static void test_replace(void)
{
    char path[64];
    snprintf(path, sizeof(path), "%s/replace.png", dir);
    uint32_t a[4] = {0x00ff0000, 0x0000ff00, 0x000000ff, 0x00ffffff};
    CHECK_EQ(trm_png_write_xrgb(path, (const uint8_t *)a, 2, 2, 8), 0);
    uint32_t b[1] = {0x00123456};
    CHECK_EQ(trm_png_write_xrgb(path, (const uint8_t *)b, 1, 1, 4), 0);
    struct decoded d;
    if (decode(path, &d) == 0) {
        CHECK_EQ(d.w, 1);
        CHECK_EQ(d.rgb[0], 0x12);
        CHECK_EQ(d.rgb[1], 0x34);
        CHECK_EQ(d.rgb[2], 0x56);
        free(d.rgb);
    }
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_small);
    RUN_TEST(test_stride_and_size);
    RUN_TEST(test_bad_arguments);
    RUN_TEST(test_replace);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_finish();
}
