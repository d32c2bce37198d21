/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vbe-anim: the guest of the display animation benchmark (bench/display/anim.py). It sets a
 * Bochs VBE mode (default 1920x1080x32) whose virtual height holds two screens, draws a
 * different full page in each once, and then flips the display between them (DISPI
 * Y_OFFSET) on every PIT tick: each flip changes every visible pixel while the guest itself
 * does almost nothing, so the cost lies in the display path. Before each flip a small box is
 * moved in the page about to be shown, so guest writes to the framebuffer (dirty tracking)
 * happen every frame too.
 *
 * Page 0's line y is the colour page_color(0, y), page 1's page_color(1, y): no line has the
 * same colour in both, so no pixel is left unchanged by a flip. The box is white.
 *
 *   xres=N yres=N  the mode (default 1920 and 1080)
 *   hz=N           flips per second, paced by the PIT (default 60)
 *   flips=N        exit 0 after N flips (default 0: flip for ever)
 *   report=N       print "vbe-anim: flip N at MS ms, M missed" every N flips (default hz)
 *   box=N          side of the moving box in pixels (default 32; 0: no box)
 *   hold=MS        before animating, show page 0 and then page 1 for MS ms each, saying
 *                  "vbe-anim: page K shown" (for screenshots; default 0)
 *
 * A tick that comes while the previous frame is still being drawn is counted as missed:
 * flips then fall behind hz, which the report lines show.
 *
 * Exit codes: 0 pass (flips=N reached), 1 no std-VGA on the PCI bus, 2 the mode did not take
 * (DISPI reads back something else, or VRAM holds no two pages), 3 the PIT stopped.
 */
#include "rt.h"
#include "vbe.h"

#define BOX_COLOR 0x00ffffffu

static uint32_t xres, yres, box, lfb;
static uint32_t box_x[2], box_y[2]; /* where each page's box is now */
static bool box_drawn[2];

/* Line y of page p: two unrelated ramps, so the pages differ on every line. */
static uint32_t page_color(unsigned p, uint32_t y)
{
    uint32_t t = y * 255 / (yres - 1);
    if (p == 0)
        return (0x20 + t / 2) << 16 | (0x40 + (t * 3 / 4) % 0x80) << 8 | (0xc0 - t / 4); /* sky */
    return (0xff - t / 2) << 16 | (0x60 + t / 3) << 8 | (0x10 + t / 8); /* sunset: red high */
}

static inline volatile uint32_t *pixel(unsigned p, uint32_t x, uint32_t y)
{
    return (volatile uint32_t *)(lfb + ((p * yres + y) * xres + x) * 4);
}

/* n words of val from dst: rep stosl, the cheapest way to fill a span. */
static void fill32(volatile uint32_t *dst, uint32_t val, uint32_t n)
{
    __asm__ volatile("cld; rep stosl" : "+D"(dst), "+c"(n) : "a"(val) : "memory");
}

static void draw_page(unsigned p)
{
    for (uint32_t y = 0; y < yres; y++)
        fill32(pixel(p, 0, y), page_color(p, y), xres);
}

/* The box of page p: erased where it was, drawn one step further along its path. */
static void move_box(unsigned p, uint32_t frame)
{
    if (!box)
        return;
    if (box_drawn[p])
        for (uint32_t y = box_y[p]; y < box_y[p] + box; y++)
            fill32(pixel(p, box_x[p], y), page_color(p, y), box);
    uint32_t span_x = xres - box, span_y = yres - box;
    uint32_t sx = frame * 8 % (2 * span_x), sy = frame * 5 % (2 * span_y);
    box_x[p] = sx < span_x ? sx : 2 * span_x - sx; /* bounces between the edges */
    box_y[p] = sy < span_y ? sy : 2 * span_y - sy;
    for (uint32_t y = box_y[p]; y < box_y[p] + box; y++)
        fill32(pixel(p, box_x[p], y), BOX_COLOR, box);
    box_drawn[p] = true;
}

static void set_mode(void)
{
    dispi_write(DISPI_ENABLE, 0);
    dispi_write(DISPI_XRES, (uint16_t)xres);
    dispi_write(DISPI_YRES, (uint16_t)yres);
    dispi_write(DISPI_BPP, 32);
    dispi_write(DISPI_VIRT_WIDTH, (uint16_t)xres);
    dispi_write(DISPI_VIRT_HEIGHT, (uint16_t)(2 * yres));
    dispi_write(DISPI_X_OFFSET, 0);
    dispi_write(DISPI_Y_OFFSET, 0);
    dispi_write(DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);
    uint32_t x = dispi_read(DISPI_XRES), y = dispi_read(DISPI_YRES);
    uint32_t bpp = dispi_read(DISPI_BPP), vh = dispi_read(DISPI_VIRT_HEIGHT);
    kprintf("vbe-anim: mode %ux%ux%u, virtual height %u, LFB at 0x%x\n", x, y, bpp, vh, lfb);
    if (x != xres || y != yres || bpp != 32 || vh < 2 * yres)
        fail(2, "vbe-anim: the mode did not take (wanted %ux%ux32, %u lines)", xres, yres,
             2 * yres);
}

static void show(unsigned p)
{
    dispi_write(DISPI_Y_OFFSET, (uint16_t)(p * yres));
}

static bool tick_after(void *arg)
{
    return timebase_ticks != *(const uint32_t *)arg;
}

int main(void)
{
    xres = arg_u32("xres", 1920);
    yres = arg_u32("yres", 1080);
    uint32_t hz = arg_u32("hz", 60), flips = arg_u32("flips", 0);
    uint32_t report = arg_u32("report", hz), hold = arg_u32("hold", 0);
    box = arg_u32("box", 32);
    if (xres < 64 || xres > 2560 || xres % 8 || yres < 64 || yres > 1600 || !hz || hz > 1000 ||
        !report || box >= xres / 2 || box >= yres / 2)
        fail(EXIT_BAD_ARGS, "vbe-anim: xres 64..2560 (a multiple of 8), yres 64..1600, hz "
                            "1..1000, report > 0, box < half the screen");
    lfb = vbe_find_lfb(NULL, NULL);
    if (!lfb)
        fail(1, "vbe-anim: no std-VGA (1234:1111) on PCI bus 0");
    set_mode();

    irq_init(irq_mode_from_cmdline());
    timebase_start(hz);
    uint32_t t0 = timebase_ms();
    draw_page(0);
    draw_page(1);
    kprintf("vbe-anim: pages drawn in %u ms\n", timebase_ms() - t0);
    for (unsigned p = 0; hold && p < 2; p++) {
        show(p);
        kprintf("vbe-anim: page %u shown\n", p);
        wait_for(NULL, NULL, hold);
    }

    uint32_t last = timebase_ticks, missed = 0, start = timebase_ms();
    unsigned shown = hold ? 1 : 0;
    for (uint32_t n = 1; !flips || n <= flips; n++) {
        if (!wait_for(tick_after, &last, 1000))
            fail(3, "vbe-anim: no PIT tick for a second");
        uint32_t now = timebase_ticks;
        missed += now - last - 1;
        last = now;
        unsigned back = shown ^ 1;
        move_box(back, n);
        show(back);
        shown = back;
        if (n % report == 0)
            kprintf("vbe-anim: flip %u at %u ms, %u missed\n", n, timebase_ms() - start, missed);
    }
    kprintf("vbe-anim: done\n");
    return EXIT_PASS;
}
