/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the demo draws: the terrarium scene, the echo panel and the mouse
 * pointer. Every shape is made of horizontal spans written with one
 * `rep stosl` each, and nothing is redrawn that did not change: on an
 * emulating /dev/kvm each guest instruction costs about a microsecond.
 */
#include "demo.h"

#define TITLE "Terrarium demo \x7f type and move the mouse"
#define TITLE_SCALE 3
#define TEXT_SCALE 2
#define PANEL_X 24
#define PANEL_Y 64
#define PANEL_LINES 3
#define LINE_H (9 * TEXT_SCALE + 2)
#define CELL_W (6 * TEXT_SCALE)
#define PANEL_H (16 + PANEL_LINES * LINE_H)
#define PANEL_BG 0x172634u
#define PANEL_BORDER 0x8fb8d0u
#define TEXT_FG 0xf4f1e6u

static void span(const struct demo_fb *fb, int x0, int x1, int y, uint32_t c)
{
    if (y < 0 || y >= (int)fb->height)
        return;
    if (x0 < 0)
        x0 = 0;
    if (x1 > (int)fb->width)
        x1 = (int)fb->width;
    if (x0 >= x1)
        return;
    volatile uint32_t *p = fb->base + (uint32_t)y * fb->width + (uint32_t)x0;
    uint32_t n = (uint32_t)(x1 - x0);
    __asm__ volatile("rep stosl" : "+D"(p), "+c"(n) : "a"(c) : "memory");
}

static void rect(const struct demo_fb *fb, int x, int y, int w, int h, uint32_t c)
{
    for (int i = 0; i < h; i++)
        span(fb, x, x + w, y + i, c);
}

static int isqrt(int v)
{
    int lo = 0, hi = 1;
    if (v <= 0)
        return 0;
    while (hi * hi <= v)
        hi *= 2;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (mid * mid <= v)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static void ellipse(const struct demo_fb *fb, int cx, int cy, int rx, int ry, uint32_t c)
{
    if (rx <= 0 || ry <= 0)
        return;
    for (int dy = -ry; dy <= ry; dy++) {
        int half = rx * isqrt(ry * ry - dy * dy) / ry;
        span(fb, cx - half, cx + half + 1, cy + dy, c);
    }
}

/* Each channel: top + (bottom - top) * y / rows, in C's truncating division. */
uint32_t demo_gradient(uint32_t top, uint32_t bottom, uint32_t y, uint32_t rows)
{
    uint32_t out = 0;
    if (!rows)
        return top;
    for (int shift = 0; shift <= 16; shift += 8) {
        int t = (int)((top >> shift) & 0xff), b = (int)((bottom >> shift) & 0xff);
        int v = t + (b - t) * (int)y / (int)rows;
        out |= (uint32_t)v << shift;
    }
    return out;
}

static void glyph(const struct demo_fb *fb, int x, int y, char ch, int scale, uint32_t c)
{
    const uint8_t *g = demo_glyph(ch);
    int wide = (unsigned char)ch == 0x7f; /* the long dash joins its neighbours */
    for (int row = 0; row < 7; row++) {
        int col = 0;
        while (col < 5) {
            if (!(g[row] & (0x10 >> col))) {
                col++;
                continue;
            }
            int start = col;
            while (col < 5 && (g[row] & (0x10 >> col)))
                col++;
            int end = col == 5 && wide ? 6 : col;
            rect(fb, x + start * scale, y + row * scale, (end - start) * scale, scale, c);
        }
    }
}

static int text(const struct demo_fb *fb, int x, int y, const char *s, int scale, uint32_t c)
{
    for (; *s; s++, x += 6 * scale)
        glyph(fb, x, y, *s, scale, c);
    return x;
}

static char *utoa(char *p, uint32_t v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    *p = 0;
    return p;
}

static void plant(const struct demo_fb *fb, int x, int base, int h, int leaves, uint32_t leaf,
                  bool flower)
{
    rect(fb, x - 3, base - h, 6, h + 6, 0x2f6b2au);
    for (int i = 0; i < leaves; i++) {
        int y = base - h * (i + 1) / (leaves + 1);
        int side = (i & 1) ? 1 : -1;
        int size = 26 - i * 3;
        ellipse(fb, x + side * (size - 2), y, size, size / 3 + 3, leaf);
        ellipse(fb, x + side * (size - 2), y, size - 6, 2, 0x9ccf6eu); /* the leaf's vein */
    }
    if (flower) {
        for (int i = 0; i < 5; i++) {
            static const int dx[5] = {0, 13, 8, -8, -13}, dy[5] = {-13, -4, 11, 11, -4};
            ellipse(fb, x + dx[i], base - h + dy[i], 9, 9, 0xe86a9au);
        }
        ellipse(fb, x, base - h, 7, 7, 0xffd54au);
    } else {
        ellipse(fb, x, base - h - 14, 8, 20, leaf);
    }
}

void demo_draw_scene(const struct demo_fb *fb)
{
    int w = (int)fb->width, h = (int)fb->height;
    int horizon = h * 3 / 4;

    for (int y = 0; y < horizon; y++)
        span(fb, 0, w, y,
             demo_gradient(DEMO_SKY_TOP, DEMO_SKY_BOTTOM, (uint32_t)y, (uint32_t)horizon));
    for (int y = horizon; y < h; y++)
        span(fb, 0, w, y,
             demo_gradient(DEMO_SOIL_TOP, DEMO_SOIL_BOTTOM, (uint32_t)(y - horizon),
                           (uint32_t)(h - 1 - horizon)));

    /* Sun and clouds. */
    int sun_y = PANEL_Y + PANEL_H + 70;
    ellipse(fb, w - 120, sun_y, 52, 52, 0xf6e7a6u);
    ellipse(fb, w - 120, sun_y, 40, 40, 0xffd54au);
    int cy = h * 3 / 10 + 40;
    ellipse(fb, w / 4, cy, 60, 18, 0xf7fbfdu);
    ellipse(fb, w / 4 + 40, cy - 14, 40, 18, 0xf7fbfdu);
    ellipse(fb, w / 4 - 36, cy - 8, 30, 14, 0xf7fbfdu);

    /* Moss, pebbles and plants. */
    rect(fb, 14, horizon, w - 28, 8, 0x4f8a3au);
    ellipse(fb, w / 4, horizon + 34, 18, 8, 0x9a9a92u);
    ellipse(fb, w * 46 / 100, horizon + 56, 24, 10, 0x7d7f78u);
    ellipse(fb, w * 70 / 100, horizon + 30, 14, 6, 0xb0aea4u);
    ellipse(fb, w * 88 / 100, horizon + 62, 20, 9, 0x8c8a80u);
    plant(fb, w * 16 / 100, horizon, h / 4, 4, 0x3f9a3cu, false);
    plant(fb, w * 36 / 100, horizon, h / 3, 5, 0x5fb04au, true);
    plant(fb, w * 58 / 100, horizon, h / 5, 3, 0x2e8b57u, false);
    plant(fb, w * 80 / 100, horizon, h * 2 / 7, 4, 0x6cbf3fu, true);

    /* The glass: walls and floor, with a highlight. */
    rect(fb, 10, h / 5, 4, h - h / 5 - 10, 0xd6eef5u);
    rect(fb, w - 14, h / 5, 4, h - h / 5 - 10, 0xd6eef5u);
    rect(fb, 10, h - 14, w - 20, 4, 0xd6eef5u);
    rect(fb, 18, h / 5 + 20, 2, h / 3, 0xffffffu);

    text(fb, 26, 22, TITLE, TITLE_SCALE, 0x0b1e33u);
    text(fb, 24, 20, TITLE, TITLE_SCALE, 0xffffffu);

    char status[64] = "F2: change resolution   ";
    char *p = status;
    while (*p)
        p++;
    p = utoa(p, fb->width);
    *p++ = 'x';
    utoa(p, fb->height);
    text(fb, 24, h - 40, status, TEXT_SCALE, 0xe9dcc0u);

    demo_text_reset(fb);
}

/* The echo panel -------------------------------------------------------- */

static int col, row;

static int panel_cols(const struct demo_fb *fb)
{
    return ((int)fb->width - 2 * PANEL_X - 24) / CELL_W;
}

static void cursor(const struct demo_fb *fb, uint32_t c)
{
    rect(fb, PANEL_X + 12 + col * CELL_W, PANEL_Y + 8 + row * LINE_H + 7 * TEXT_SCALE + 1,
         5 * TEXT_SCALE, 2, c);
}

void demo_text_reset(const struct demo_fb *fb)
{
    int w = (int)fb->width - 2 * PANEL_X;
    rect(fb, PANEL_X, PANEL_Y, w, PANEL_H, PANEL_BORDER);
    rect(fb, PANEL_X + 2, PANEL_Y + 2, w - 4, PANEL_H - 4, PANEL_BG);
    text(fb, PANEL_X + 12, PANEL_Y + 8, ">", TEXT_SCALE, 0x8fd18au);
    col = 2;
    row = 0;
    cursor(fb, TEXT_FG);
}

void demo_text_key(const struct demo_fb *fb, char c)
{
    cursor(fb, PANEL_BG);
    if (c == '\b') {
        if (col > 2 || row > 0) {
            if (--col < 0) {
                col = panel_cols(fb) - 1;
                row--;
            }
            rect(fb, PANEL_X + 12 + col * CELL_W, PANEL_Y + 8 + row * LINE_H, CELL_W,
                 7 * TEXT_SCALE, PANEL_BG);
        }
    } else if (c == '\n') {
        col = 0;
        row++;
    } else {
        glyph(fb, PANEL_X + 12 + col * CELL_W, PANEL_Y + 8 + row * LINE_H, c, TEXT_SCALE, TEXT_FG);
        if (++col >= panel_cols(fb)) {
            col = 0;
            row++;
        }
    }
    if (row >= PANEL_LINES) {
        demo_text_reset(fb);
        return;
    }
    cursor(fb, TEXT_FG);
}

/* The pointer: drawn over the scene, the pixels under it kept to restore. */

#define PTR_W 11
#define PTR_H 17
static const char *const pointer_shape[PTR_H] = {
    "X..........", "XX.........", "XoX........", "XooX.......", "XoooX......", "XooooX.....",
    "XoooooX....", "XooooooX...", "XoooooooX..", "XooooooooX.", "XoooooXXXXX", "XooXooX....",
    "XoX.XooX...", "XX..XooX...", "X....XooX..", ".....XooX..", "......XX...",
};
static uint32_t saved[PTR_H][PTR_W];
static int ptr_x, ptr_y;
static bool ptr_shown;

void demo_pointer_show(const struct demo_fb *fb, int x, int y)
{
    ptr_x = x;
    ptr_y = y;
    for (int r = 0; r < PTR_H; r++) {
        int py = y + r;
        if (py < 0 || py >= (int)fb->height)
            continue;
        for (int c = 0; c < PTR_W; c++) {
            int px = x + c;
            char s = pointer_shape[r][c];
            if (px < 0 || px >= (int)fb->width || s == '.')
                continue;
            volatile uint32_t *p = fb->base + (uint32_t)py * fb->width + (uint32_t)px;
            saved[r][c] = *p;
            *p = s == 'X' ? 0x000000u : 0xffffffu;
        }
    }
    ptr_shown = true;
}

void demo_pointer_hide(const struct demo_fb *fb)
{
    if (!ptr_shown)
        return;
    for (int r = 0; r < PTR_H; r++) {
        int py = ptr_y + r;
        if (py < 0 || py >= (int)fb->height)
            continue;
        for (int c = 0; c < PTR_W; c++) {
            int px = ptr_x + c;
            if (px < 0 || px >= (int)fb->width || pointer_shape[r][c] == '.')
                continue;
            fb->base[(uint32_t)py * fb->width + (uint32_t)px] = saved[r][c];
        }
    }
    ptr_shown = false;
}
