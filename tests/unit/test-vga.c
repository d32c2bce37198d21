/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The std-VGA model and its renderer, driven the way a VGA BIOS and guest
 * drivers drive them: register tables through the ports, fonts through the
 * sequencer/graphics-controller plane-2 sequence, text and pixels through
 * the legacy window, DISPI through 0x1CE/0x1CF and BAR2; then the rendered
 * surface and its damage are checked pixel by pixel.
 */
#include <errno.h>
#include <stdbool.h>

#include "hw/vga.h"
#include "test.h"

static struct vmm_vga vga;
static struct vmm_display_image img;
static struct vmm_rect dmg[VMM_DISPLAY_MAX_DAMAGE];
static unsigned ndmg;

/* ---- Guest-side helpers ---- */

static void outb(unsigned port, uint8_t v)
{
    vmm_vga_ioport_ops.write(&vga, port - VMM_VGA_IO_BASE, 1, v);
}

static void outw(unsigned port, uint16_t v)
{
    vmm_vga_ioport_ops.write(&vga, port - VMM_VGA_IO_BASE, 2, v);
}

static uint8_t inb(unsigned port)
{
    return (uint8_t)vmm_vga_ioport_ops.read(&vga, port - VMM_VGA_IO_BASE, 1);
}

static void memw(uint32_t addr, uint8_t v)
{
    vmm_vga_mem_ops.write(&vga, addr - VMM_VGA_MEM_BASE, 1, v);
}

static uint8_t memr(uint32_t addr)
{
    return (uint8_t)vmm_vga_mem_ops.read(&vga, addr - VMM_VGA_MEM_BASE, 1);
}

static void dispi(unsigned idx, uint16_t v)
{
    vmm_vga_dispi_ops.write(&vga, 0, 2, idx);
    vmm_vga_dispi_ops.write(&vga, 1, 2, v);
}

static uint16_t dispi_rd(unsigned idx)
{
    vmm_vga_dispi_ops.write(&vga, 0, 2, idx);
    return (uint16_t)vmm_vga_dispi_ops.read(&vga, 1, 2);
}

static void gc(unsigned i, uint8_t v)
{
    outw(0x3ce, (uint16_t)(v << 8 | i));
}

static void seq(unsigned i, uint8_t v)
{
    outw(0x3c4, (uint16_t)(v << 8 | i));
}

static void crtc(unsigned i, uint8_t v)
{
    outb(0x3d4, (uint8_t)i);
    outb(0x3d5, v);
}

static int render(uint64_t now)
{
    return vmm_vga_render(&vga, NULL, now, &img, dmg, &ndmg);
}

static uint32_t px(uint32_t x, uint32_t y)
{
    if (x >= img.width || y >= img.height)
        return 0xdeadbeef;
    const uint32_t *p = (const uint32_t *)(img.pixels + (size_t)y * img.stride);
    return p[x];
}

/* ---- Standard mode tables (the values every VGA BIOS programs) ---- */

struct vga_mode {
    uint8_t misc;
    uint8_t seq[4]; /* SR1-SR4 */
    uint8_t crtc[25];
    uint8_t gc[9];
    uint8_t ac[21];
};

static const struct vga_mode mode3 = {
    0x67,
    {0x00, 0x03, 0x00, 0x02},
    {0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00,
     0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff},
    {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a,
     0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00},
};

static const struct vga_mode mode12 = {
    0xe3,
    {0x01, 0x0f, 0x00, 0x06},
    {0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0x0b, 0x3e, 0x00, 0x40, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0xea, 0x8c, 0xdf, 0x28, 0x00, 0xe7, 0x04, 0xe3, 0xff},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0f, 0xff},
    {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a,
     0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x01, 0x00, 0x0f, 0x00, 0x00},
};

static const struct vga_mode mode13 = {
    0x63,
    {0x01, 0x0f, 0x00, 0x0e},
    {0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x41, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, 0xff},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff},
    {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
     0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x41, 0x00, 0x0f, 0x00, 0x00},
};

/* The EGA 64-colour DAC palette a BIOS loads (6-bit components). */
static void ega_rgb(unsigned i, uint8_t rgb[3])
{
    rgb[0] = (uint8_t)(((i >> 2) & 1) * 0x2a + ((i >> 5) & 1) * 0x15);
    rgb[1] = (uint8_t)(((i >> 1) & 1) * 0x2a + ((i >> 4) & 1) * 0x15);
    rgb[2] = (uint8_t)((i & 1) * 0x2a + ((i >> 3) & 1) * 0x15);
}

static uint32_t six_to_xrgb(const uint8_t rgb[3])
{
    uint32_t c = 0;
    for (int k = 0; k < 3; k++)
        c = c << 8 | (uint32_t)(rgb[k] << 2 | rgb[k] >> 4);
    return c;
}

/* What colour attribute index i shows with the mode 3/12h attribute palette. */
static uint32_t ega_color(unsigned i)
{
    uint8_t rgb[3];
    ega_rgb(mode3.ac[i & 15], rgb);
    return six_to_xrgb(rgb);
}

static void load_dac_ega(void)
{
    outb(0x3c8, 0);
    for (unsigned i = 0; i < 64; i++) {
        uint8_t rgb[3];
        ega_rgb(i, rgb);
        for (int k = 0; k < 3; k++)
            outb(0x3c9, rgb[k]);
    }
}

static void set_mode(const struct vga_mode *m)
{
    outb(0x3c2, m->misc);
    seq(0, 0x01);
    for (unsigned i = 0; i < 4; i++)
        seq(i + 1, m->seq[i]);
    seq(0, 0x03);
    crtc(0x11, m->crtc[0x11] & 0x7f); /* unlock CR0-7 */
    for (unsigned i = 0; i < 25; i++)
        crtc(i, m->crtc[i]);
    for (unsigned i = 0; i < 9; i++)
        gc(i, m->gc[i]);
    (void)inb(0x3da); /* attribute flip-flop to "index" */
    for (unsigned i = 0; i < 21; i++) {
        outb(0x3c0, (uint8_t)i);
        outb(0x3c0, m->ac[i]);
    }
    outb(0x3c0, 0x20); /* palette address source: display on */
    load_dac_ega();
}

/* A made-up font: every glyph line different, some with bit 0 set (for the 9th column). */
static uint8_t glyph(unsigned ch, unsigned line)
{
    if (!ch)
        return 0; /* character 0 is blank, as in every BIOS font */
    return (uint8_t)((ch * 37 + line * 11) ^ (ch >> 3) ^ (line << 5));
}

/* Loads `height` lines per glyph into plane 2 as a BIOS does (INT 10h AX=1100h). */
static void load_font(unsigned height, unsigned map)
{
    seq(0, 0x01);
    seq(2, 0x04);
    seq(4, 0x07);
    seq(0, 0x03);
    gc(4, 0x02);
    gc(5, 0x00);
    gc(6, 0x04);
    uint32_t base = 0xa0000 + (map & 3) * 0x4000 + (map >> 2) * 0x2000;
    for (unsigned ch = 0; ch < 256; ch++)
        for (unsigned l = 0; l < 32; l++)
            memw(base + ch * 32 + l, l < height ? glyph(ch, l) : 0);
    seq(0, 0x01);
    seq(2, 0x03);
    seq(4, 0x02);
    seq(0, 0x03);
    gc(4, 0x00);
    gc(5, 0x10);
    gc(6, 0x0e);
}

static void put_char(unsigned col, unsigned row, uint8_t ch, uint8_t attr)
{
    uint32_t a = 0xb8000 + (row * 80 + col) * 2;
    memw(a, ch);
    memw(a + 1, attr);
}

/* Mismatching pixels of a text cell against the font, 9 or 8 dots wide. */
static unsigned cell_errors(unsigned col, unsigned row, unsigned cw, unsigned chh, uint8_t ch,
                            uint32_t fg, uint32_t bg, bool cursor_lines, unsigned cs, unsigned ce)
{
    unsigned bad = 0;
    for (unsigned l = 0; l < chh; l++) {
        uint8_t bits = glyph(ch, l);
        for (unsigned x = 0; x < cw; x++) {
            uint32_t want;
            if (cursor_lines && l >= cs && l <= ce)
                want = fg;
            else if (x < 8)
                want = (bits & (0x80 >> x)) ? fg : bg;
            else
                want = (ch >= 0xc0 && ch <= 0xdf && (bits & 1)) ? fg : bg;
            if (px(col * cw + x, row * chh + l) != want)
                bad++;
        }
    }
    return bad;
}

static void setup(uint32_t vram)
{
    int ret = vmm_vga_init(&vga, vram, NULL, 0);
    CHECK_EQ(ret, 0);
}

/* ---- Tests ---- */

static void test_pci(void)
{
    static const uint8_t rom[3000] = {0x55, 0xaa, 0x06};
    CHECK_EQ(vmm_vga_init(&vga, 12u << 20, NULL, 0), -EINVAL);
    CHECK_EQ(vmm_vga_init(&vga, 2u << 20, NULL, 0), -EINVAL);
    CHECK_EQ(vmm_vga_init(&vga, 512u << 20, NULL, 0), -EINVAL);
    CHECK_EQ(vmm_vga_init(&vga, 0, rom, sizeof(rom)), 0);
    CHECK_EQ(vmm_pci_get16(&vga.pci, PCI_VENDOR_ID), 0x1234);
    CHECK_EQ(vmm_pci_get16(&vga.pci, PCI_DEVICE_ID), 0x1111);
    CHECK_EQ(vmm_pci_get8(&vga.pci, PCI_CLASS_PROG), 0x00);
    CHECK_EQ(vmm_pci_get16(&vga.pci, PCI_CLASS_DEVICE), 0x0300);
    CHECK_EQ(vga.pci.bars[0].kind, VMM_PCI_BAR_MEM32);
    CHECK_EQ(vga.pci.bars[0].size, 16u << 20);
    CHECK(vga.pci.bars[0].prefetch);
    CHECK_EQ(vmm_pci_get32(&vga.pci, PCI_BASE_ADDRESS_0) & 0xf, PCI_BASE_ADDRESS_MEM_PREFETCH);
    CHECK_EQ(vga.pci.bars[2].kind, VMM_PCI_BAR_MEM32);
    CHECK_EQ(vga.pci.bars[2].size, 4096);
    CHECK(!vga.pci.bars[2].prefetch);
    CHECK_EQ(vga.pci.bars[VMM_PCI_ROM_BAR].kind, VMM_PCI_BAR_ROM);
    CHECK_EQ(vga.pci.bars[VMM_PCI_ROM_BAR].size, 4096);
    CHECK(vga.pci.rom == rom);

    uint32_t size = 0;
    uint8_t *v = vmm_vga_vram(&vga, &size);
    CHECK(v != NULL);
    CHECK_EQ(size, 16u << 20);
    CHECK_EQ((uintptr_t)v % 4096, 0);
    /* BAR0 ops (the trapped fallback) reach VRAM. */
    vmm_vga_vram_ops.write(&vga, 0x1234, 4, 0xa1b2c3d4);
    CHECK_EQ(v[0x1234], 0xd4);
    CHECK_EQ(vmm_vga_vram_ops.read(&vga, 0x1234, 4), 0xa1b2c3d4);
    CHECK_EQ(vmm_vga_vram_ops.read(&vga, size - 1, 2), 0);
    /* BAR2 extended registers. */
    CHECK_EQ(vmm_vga_mmio_ops.read(&vga, VGA_MMIO_QEXT, 4), VGA_QEXT_SIZE);
    CHECK_EQ(vmm_vga_mmio_ops.read(&vga, VGA_MMIO_QEXT + 4, 4), VGA_QEXT_LITTLE_ENDIAN);
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_QEXT + 4, 4, VGA_QEXT_BIG_ENDIAN);
    CHECK_EQ(vmm_vga_mmio_ops.read(&vga, VGA_MMIO_QEXT + 4, 4), VGA_QEXT_LITTLE_ENDIAN);
    CHECK_EQ(vmm_vga_mmio_ops.read(&vga, 0, 4), 0); /* no EDID */
    vmm_vga_fini(&vga);
}

static void test_ports(void)
{
    setup(0);
    /* Colour decode off: the 0x3Dx CRTC is silent, 0x3Bx answers. */
    outb(0x3c2, 0x66);
    CHECK_EQ(inb(0x3cc), 0x66);
    outb(0x3b4, 0x0e);
    outb(0x3b5, 0x12);
    CHECK_EQ(inb(0x3b5), 0x12);
    CHECK_EQ(inb(0x3d4), 0xff);
    outb(0x3d5, 0x99);
    CHECK_EQ(vga.r.crtc[0x0e], 0x12);
    outb(0x3c2, 0x67);
    CHECK_EQ(inb(0x3b4), 0xff);
    CHECK_EQ(inb(0x3d4), 0x0e);
    CHECK_EQ(inb(0x3d5), 0x12);
    /* Word write: index then data. */
    outw(0x3d4, 0x340f);
    CHECK_EQ(vga.r.crtc[0x0f], 0x34);
    CHECK_EQ(vmm_vga_ioport_ops.read(&vga, 0x3d4 - 0x3b0, 2), 0x340f);
    /* CR0-7 write protect, except CR7 bit 4. */
    crtc(0x11, 0x80);
    crtc(0x01, 0x4f);
    CHECK_EQ(vga.r.crtc[1], 0);
    crtc(0x07, 0xff);
    CHECK_EQ(vga.r.crtc[7], 0x10);
    crtc(0x11, 0x00);
    crtc(0x01, 0x4f);
    CHECK_EQ(vga.r.crtc[1], 0x4f);
    /* Sequencer and GC keep only their bits; out-of-range indexes read 0. */
    seq(4, 0xff);
    CHECK_EQ(inb(0x3c5), 0x0e);
    gc(5, 0xff);
    CHECK_EQ(inb(0x3cf), 0x7b);
    outb(0x3ce, 0x20);
    CHECK_EQ(inb(0x3cf), 0);
    outb(0x3cf, 0x55);
    /* Attribute flip-flop: reset by a status read; index readable. */
    (void)inb(0x3da);
    outb(0x3c0, 0x12);
    outb(0x3c0, 0xff);
    CHECK_EQ(vga.r.ar[0x12], 0x3f);
    outb(0x3c0, 0x05 | 0x20);
    CHECK_EQ(inb(0x3c0), 0x25);
    CHECK_EQ(inb(0x3c1), 0);
    outb(0x3c0, 0x2a);
    CHECK_EQ(vga.r.ar[5], 0x2a);
    CHECK_EQ(inb(0x3c1), 0x2a);
    /* Status 1 toggles retrace so polling loops end. */
    uint8_t s1 = inb(0x3da), s2 = inb(0x3da);
    CHECK((s1 ^ s2) & VGA_ST01_V_RETRACE);
    /* DAC: write index auto-increments; read back through 0x3C7/0x3C9. */
    outb(0x3c8, 10);
    for (int i = 0; i < 6; i++)
        outb(0x3c9, (uint8_t)(i + 1));
    CHECK_EQ(inb(0x3c8), 12);
    outb(0x3c7, 10);
    CHECK_EQ(inb(0x3c7), 3);
    unsigned bad = 0;
    for (int i = 0; i < 6; i++)
        bad += inb(0x3c9) != i + 1;
    CHECK_EQ(bad, 0);
    outb(0x3c6, 0x0f);
    CHECK_EQ(inb(0x3c6), 0x0f);
    /* BAR2 window onto 0x3C0-0x3DF, word access index first. */
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_PORTS + 4, 2, 0x0f02);
    CHECK_EQ(vga.r.seq[2], 0x0f);
    CHECK_EQ(vmm_vga_mmio_ops.read(&vga, VGA_MMIO_PORTS + 0x0c, 1), 0x67);
    /* Reset restores power-on state. */
    dispi(VBE_DISPI_INDEX_ID, VBE_DISPI_ID0);
    vmm_vga_reset(&vga);
    CHECK_EQ(inb(0x3cc), 0);
    CHECK_EQ(vga.r.crtc[0x0e], 0);
    CHECK_EQ(vga.r.ar[5], 0);
    CHECK_EQ(inb(0x3c6), 0xff);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_ID), VBE_DISPI_ID5);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_ENABLE), 0);
    /* A bus reset reaches the registers through the PCI function. */
    struct vmm_pci_bus bus;
    vmm_pci_bus_init(&bus, NULL, NULL);
    CHECK_EQ(vmm_pci_bus_add(&bus, &vga.pci, 2, 0), 0);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, VMM_PCI_DEVFN(2, 0), PCI_VENDOR_ID, 4), 0x11111234);
    vmm_pci_bus_config_write(&bus, VMM_PCI_DEVFN(2, 0), PCI_BASE_ADDRESS_0, 4, 0xffffffff);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, VMM_PCI_DEVFN(2, 0), PCI_BASE_ADDRESS_0, 4),
             ~((16u << 20) - 1) | PCI_BASE_ADDRESS_MEM_PREFETCH);
    vmm_vga_vram_ops.write(&vga, 0, 1, 1); /* VRAM survives resets */
    outb(0x3c2, 0x67);
    dispi(VBE_DISPI_INDEX_BPP, 32);
    vmm_pci_bus_reset(&bus);
    CHECK_EQ(inb(0x3cc), 0);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_BPP), 8);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, VMM_PCI_DEVFN(2, 0), PCI_BASE_ADDRESS_0, 4),
             PCI_BASE_ADDRESS_MEM_PREFETCH);
    CHECK_EQ(vga.vram[0], 1);
    vmm_pci_bus_fini(&bus);
    vmm_vga_fini(&vga);
}

static void test_text_mode3(void)
{
    setup(0);
    set_mode(&mode3);
    load_font(16, 0);
    /* The font sits in plane 2 at glyph * 32 (interleaved layout: byte * 4 + 2). */
    CHECK_EQ(vga.vram[(0x41 * 32 + 5) * 4 + 2], glyph(0x41, 5));
    CHECK_EQ(vga.vram[(0x41 * 32 + 5) * 4 + 0], 0);
    /* Clear the screen, then some characters. */
    for (unsigned i = 0; i < 80 * 25; i++)
        put_char(i % 80, i / 80, 0, 0x07);
    put_char(0, 0, 'A', 0x1f);  /* white on blue */
    put_char(1, 0, 0xc4, 0x4e); /* line-drawing char: 9th column repeats */
    put_char(79, 24, 'z', 0x6a);
    put_char(40, 12, 0xb0, 0x71);
    /* Text reads back through odd/even. */
    CHECK_EQ(memr(0xb8000), 'A');
    CHECK_EQ(memr(0xb8001), 0x1f);
    CHECK_EQ(vga.vram[0], 'A');
    CHECK_EQ(vga.vram[1], 0x1f);
    CHECK_EQ(vga.vram[2], 0); /* plane 2 (the font) untouched */
    crtc(0x0a, 0x20);         /* cursor off for now */

    CHECK_EQ(render(0), 0);
    CHECK_EQ(img.width, 720);
    CHECK_EQ(img.height, 400);
    CHECK_EQ(img.stride, 720 * 4);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].x == 0 && dmg[0].y == 0 && dmg[0].w == 720 && dmg[0].h == 400);
    CHECK_EQ(ega_color(1), 0x0000aa);
    CHECK_EQ(ega_color(6), 0xaa5500);
    CHECK_EQ(ega_color(15), 0xffffff);
    CHECK_EQ(cell_errors(0, 0, 9, 16, 'A', ega_color(15), ega_color(1), false, 0, 0), 0);
    CHECK_EQ(cell_errors(1, 0, 9, 16, 0xc4, ega_color(14), ega_color(4), false, 0, 0), 0);
    CHECK_EQ(cell_errors(79, 24, 9, 16, 'z', ega_color(10), ega_color(6), false, 0, 0), 0);
    CHECK_EQ(cell_errors(40, 12, 9, 16, 0xb0, ega_color(1), ega_color(7), false, 0, 0), 0);
    CHECK_EQ(cell_errors(5, 5, 9, 16, 0, ega_color(7), ega_color(0), false, 0, 0), 0);
    /* A character with bit 0 set outside C0-DF: 9th column is background. */
    unsigned l;
    for (l = 0; l < 16 && !(glyph('A', l) & 1); l++)
        ;
    CHECK(l < 16);
    CHECK_EQ(px(8, l), ega_color(1));

    /* Nothing changed: nothing rendered. */
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 0);
    CHECK_EQ(render(1000), 0);
    CHECK_EQ(ndmg, 0);

    /* One character changed: one cell damaged. */
    put_char(10, 3, 'Q', 0x02);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].x == 90 && dmg[0].y == 48 && dmg[0].w == 9 && dmg[0].h == 16);
    CHECK_EQ(cell_errors(10, 3, 9, 16, 'Q', ega_color(2), ega_color(0), false, 0, 0), 0);

    /* Cursor: lines 13-14 at (5, 2), blinking with the time argument. */
    crtc(0x0a, 0x0d);
    crtc(0x0b, 0x0e);
    crtc(0x0e, 0x00);
    crtc(0x0f, 2 * 80 + 5);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].x == 45 && dmg[0].y == 32 && dmg[0].w == 9 && dmg[0].h == 16);
    CHECK_EQ(cell_errors(5, 2, 9, 16, 0, ega_color(7), ega_color(0), true, 13, 14), 0);
    CHECK_EQ(px(45, 32 + 13), ega_color(7));
    CHECK_EQ(px(45, 32 + 12), ega_color(0));
    CHECK_EQ(render(100000000ull), 0); /* same phase */
    CHECK_EQ(ndmg, 0);
    CHECK_EQ(render(300000000ull), 0); /* cursor phase off */
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].x == 45 && dmg[0].y == 32);
    CHECK_EQ(px(45, 32 + 13), ega_color(0));
    /* Cursor moves: old and new cell. */
    CHECK_EQ(render(0), 0);
    crtc(0x0f, 2 * 80 + 6);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].x == 45 && dmg[0].w == 18);
    CHECK_EQ(px(54, 32 + 14), ega_color(7));
    CHECK_EQ(px(45, 32 + 14), ega_color(0));

    /* Character blink (AR10 bit 3): attribute bit 7 blinks, background loses intensity. */
    put_char(20, 20, 'B', 0xce); /* blinking yellow on red (bright bit used for blink) */
    CHECK_EQ(render(0), 0);
    CHECK_EQ(cell_errors(20, 20, 9, 16, 'B', ega_color(14), ega_color(4), false, 0, 0), 0);
    CHECK_EQ(render(600000000ull), 0); /* blink phase 1: glyph hidden */
    bool found = false;
    for (unsigned i = 0; i < ndmg; i++)
        found |= dmg[i].x == 180 && dmg[i].y == 320;
    CHECK(found);
    unsigned fgpix = 0;
    for (unsigned y = 0; y < 16; y++)
        for (unsigned x = 0; x < 9; x++)
            fgpix += px(180 + x, 320 + y) != ega_color(4);
    CHECK_EQ(fgpix, 0);
    /* Blink off: attribute bit 7 is background intensity. */
    (void)inb(0x3da);
    outb(0x3c0, 0x30);
    outb(0x3c0, 0x00);
    CHECK_EQ(render(600000000ull), 0);
    CHECK_EQ(ndmg, 1);
    CHECK_EQ(cell_errors(20, 20, 9, 16, 'B', ega_color(14), ega_color(12), false, 0, 0), 0);
    /* Without line graphics the 9th column of C4 is background. */
    CHECK_EQ(cell_errors(1, 0, 9, 16, 0xc4, ega_color(14), ega_color(4), false, 0, 0) > 0, 1);

    /* Palette change: whole screen damaged, new colour shows. */
    outb(0x3c8, 0x01);
    outb(0x3c9, 0x3f);
    outb(0x3c9, 0x00);
    outb(0x3c9, 0x00);
    CHECK_EQ(render(600000000ull), 0);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].w == 720 && dmg[0].h == 400);
    unsigned bx = 0, by = 0;
    for (by = 0; by < 16 && (glyph('A', by) & 0x80); by++)
        ;
    CHECK(by < 16);
    CHECK_EQ(px(bx, by), 0xff0000);

    /* Start address scrolls: row 1 now shows at the top. */
    crtc(0x0c, 0);
    crtc(0x0d, 80);
    CHECK_EQ(render(600000000ull), 0);
    CHECK(ndmg >= 1);
    CHECK_EQ(cell_errors(10, 2, 9, 16, 'Q', ega_color(2), ega_color(0), false, 0, 0), 0);

    /* A font change redraws every cell using it. */
    crtc(0x0d, 0);
    CHECK_EQ(render(600000000ull), 0);
    seq(2, 0x04);
    seq(4, 0x06);
    gc(4, 0x02);
    gc(5, 0x00);
    gc(6, 0x04);
    memw(0xa0000 + 0 * 32 + 3, 0xff);
    seq(2, 0x03);
    seq(4, 0x02);
    gc(4, 0x00);
    gc(5, 0x10);
    gc(6, 0x0e);
    CHECK_EQ(render(600000000ull), 0);
    CHECK(ndmg >= 1);
    CHECK_EQ(px(9 * 30, 16 * 10 + 3), ega_color(7));
    CHECK_EQ(px(9 * 30 + 8, 16 * 10 + 3), ega_color(0));

    /* Screen off: blank at the same size, whole damage. */
    seq(1, 0x20);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(img.width, 720);
    CHECK_EQ(ndmg, 1);
    CHECK_EQ(px(0, 15), 0);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 0);
    vmm_vga_fini(&vga);
}

static void test_text_80x50(void)
{
    setup(0);
    set_mode(&mode3);
    load_font(8, 0);
    crtc(0x09, 0x47); /* 8 scan lines per row */
    crtc(0x0a, 0x06);
    crtc(0x0b, 0x07);
    crtc(0x0e, (49 * 80 + 79) >> 8);
    crtc(0x0f, (49 * 80 + 79) & 0xff);
    for (unsigned i = 0; i < 80 * 50; i++)
        put_char(i % 80, i / 80, (uint8_t)(i * 7), (uint8_t)(i % 127 + 1));
    CHECK_EQ(render(0), 0);
    CHECK_EQ(img.width, 720);
    CHECK_EQ(img.height, 400);
    unsigned bad_cells = 0;
    for (unsigned i = 0; i < 80 * 50 - 1; i++) {
        uint8_t a = (uint8_t)(i % 127 + 1);
        bad_cells += cell_errors(i % 80, i / 80, 9, 8, (uint8_t)(i * 7), ega_color(a & 15),
                                 ega_color(a >> 4 & 7), false, 0, 0) != 0;
    }
    CHECK_EQ(bad_cells, 0);
    unsigned last = 80 * 50 - 1;
    uint8_t a = (uint8_t)(last % 127 + 1);
    CHECK_EQ(cell_errors(79, 49, 9, 8, (uint8_t)(last * 7), ega_color(a & 15),
                         ega_color(a >> 4 & 7), true, 6, 7),
             0);

    /* 8-dot characters: 640 wide. */
    seq(1, 0x01);
    CHECK_EQ(render(300000000ull), 0);
    CHECK_EQ(img.width, 640);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].w == 640 && dmg[0].h == 400);
    CHECK_EQ(cell_errors(3, 7, 8, 8, (uint8_t)((7 * 80 + 3) * 7), ega_color((7 * 80 + 3) % 127 + 1),
                         ega_color(((7 * 80 + 3) % 127 + 1) >> 4 & 7), false, 0, 0),
             0);

    /* A second font map selected by attribute bit 3 (SR3 map A = 1). */
    seq(0, 0x01);
    seq(2, 0x04);
    seq(4, 0x07);
    gc(4, 0x02);
    gc(5, 0x00);
    gc(6, 0x04);
    for (unsigned ch = 0; ch < 256; ch++)
        for (unsigned l = 0; l < 8; l++)
            memw(0xa4000 + ch * 32 + l, (uint8_t)~glyph(ch, l));
    seq(2, 0x03);
    seq(4, 0x02);
    gc(4, 0x00);
    gc(5, 0x10);
    gc(6, 0x0e);
    seq(3, 0x04); /* map A (attr bit 3 set) = 1, map B = 0 */
    put_char(0, 0, 'x', 0x0f);
    put_char(1, 0, 'x', 0x07);
    CHECK_EQ(render(300000000ull), 0);
    CHECK_EQ(px(0, 0), (glyph('x', 0) & 0x80) ? ega_color(0) : ega_color(15));
    unsigned inv = 0, norm = 0;
    for (unsigned y = 0; y < 8; y++)
        for (unsigned x = 0; x < 8; x++) {
            bool b = glyph('x', y) & (0x80 >> x);
            inv += px(x, y) == (b ? ega_color(0) : ega_color(15));
            norm += px(8 + x, y) == (b ? ega_color(7) : ega_color(0));
        }
    CHECK_EQ(inv, 64);
    CHECK_EQ(norm, 64);
    vmm_vga_fini(&vga);
}

static void test_mode13(void)
{
    setup(0);
    set_mode(&mode13);
    /* A BIOS-like grey ramp in DAC 64-127. */
    outb(0x3c8, 64);
    for (unsigned i = 0; i < 64; i++)
        for (int k = 0; k < 3; k++)
            outb(0x3c9, (uint8_t)i);
    for (unsigned y = 0; y < 200; y++)
        for (unsigned x = 0; x < 320; x++)
            memw(0xa0000 + y * 320 + x, (uint8_t)((x + y) & 0x3f) + 64);
    /* chain-4: linear in VRAM. */
    CHECK_EQ(vga.vram[5 * 320 + 7], 64 + 12);
    CHECK_EQ(memr(0xa0000 + 5 * 320 + 7), 64 + 12);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(img.width, 320);
    CHECK_EQ(img.height, 200);
    unsigned bad = 0;
    for (unsigned y = 0; y < 200; y++)
        for (unsigned x = 0; x < 320; x++) {
            uint32_t g = (x + y) & 0x3f;
            g = g << 2 | g >> 4;
            bad += px(x, y) != (g << 16 | g << 8 | g);
        }
    CHECK_EQ(bad, 0);
    /* Idle: no damage. One pixel: one line damaged, near that pixel. */
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 0);
    memw(0xa0000 + 150 * 320 + 100, 4); /* EGA red */
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].y <= 150 && dmg[0].y + dmg[0].h > 150 && dmg[0].h <= 14);
    CHECK(dmg[0].x <= 100 && dmg[0].x + dmg[0].w > 100);
    CHECK_EQ(px(100, 150), 0xaa0000);
    /* The map mask gates chain-4 writes by plane (address bits 1:0). */
    seq(2, 0x01);
    memw(0xa0000 + 1, 0x99);
    memw(0xa0000 + 4, 0x98);
    CHECK_EQ(vga.vram[1], 65);
    CHECK_EQ(vga.vram[4], 0x98);
    seq(2, 0x0f);
    /* DAC mask applies. */
    outb(0x3c6, 0x3f);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 1);
    CHECK_EQ(px(0, 0), 0); /* 64 & 0x3f = 0: black */
    vmm_vga_fini(&vga);
}

static void test_mode12(void)
{
    setup(0);
    set_mode(&mode12);
    /* Clear: write mode 0, set/reset all planes to 0. */
    gc(1, 0x0f);
    gc(0, 0x00);
    for (uint32_t a = 0; a < 80 * 480; a++)
        memw(0xa0000 + a, 0);
    gc(1, 0x00);

    /* Write mode 0 with map mask: plane 0 + 2 = colour 5 across a byte. */
    seq(2, 0x05);
    memw(0xa0000, 0xff);
    seq(2, 0x0f);
    CHECK_EQ(vga.vram[0], 0xff);
    CHECK_EQ(vga.vram[1], 0x00);
    CHECK_EQ(vga.vram[2], 0xff);
    /* Set/reset colour 4 through bit mask 0x0f on byte 1, latches from a read. */
    (void)memr(0xa0001);
    gc(0, 0x04);
    gc(1, 0x0f);
    gc(8, 0x0f);
    memw(0xa0001, 0x00);
    gc(1, 0x00);
    gc(8, 0xff);
    CHECK_EQ(vga.vram[4 + 2], 0x0f);
    CHECK_EQ(vga.vram[4 + 0], 0x00);
    /* Data rotate + XOR: write 0x01 rotated right by 1 = 0x80, XOR latches of byte 0. */
    (void)memr(0xa0000);
    gc(3, 0x18 | 1);
    memw(0xa0000, 0x01);
    gc(3, 0x00);
    CHECK_EQ(vga.vram[0], 0x7f);
    CHECK_EQ(vga.vram[1], 0x80);
    CHECK_EQ(vga.vram[2], 0x7f);
    CHECK_EQ(vga.vram[3], 0x80);
    /* AND and OR. */
    (void)memr(0xa0000);
    gc(3, 0x08);
    memw(0xa0000, 0x0f);
    CHECK_EQ(vga.vram[0], 0x0f);
    CHECK_EQ(vga.vram[1], 0x00);
    (void)memr(0xa0000);
    gc(3, 0x10);
    memw(0xa0000, 0x30);
    gc(3, 0x00);
    CHECK_EQ(vga.vram[0], 0x3f);
    CHECK_EQ(vga.vram[3], 0x30);

    /* Write mode 2: colour 9 into pixel 0 of byte 2 only (bit mask 0x80). */
    (void)memr(0xa0002);
    gc(5, 0x02);
    gc(8, 0x80);
    memw(0xa0002, 9);
    /* Write mode 3: colour 12 via set/reset, the rotated data ANDed with the bit mask. */
    gc(5, 0x03);
    gc(8, 0x3c);
    gc(0, 12);
    (void)memr(0xa0003);
    memw(0xa0003, 0xf0); /* mask = 0x3c & 0xf0 = 0x30 */
    gc(8, 0xff);
    gc(5, 0x00);
    gc(0, 0);

    /* Write mode 1 copies latches: byte 1 -> byte 10. */
    (void)memr(0xa0001);
    gc(5, 0x01);
    memw(0xa000a, 0x55);
    gc(5, 0x00);
    CHECK_EQ(vga.vram[40 + 2], 0x0f);

    /* Read mode 0: plane select. */
    gc(4, 0x02);
    CHECK_EQ(memr(0xa0001), 0x0f);
    gc(4, 0x00);
    CHECK_EQ(memr(0xa0002), 0x80);
    /* Read mode 1: colour compare. Byte 2 pixel 0 is colour 9, rest 0. */
    gc(5, 0x08);
    gc(2, 9);
    gc(7, 0x0f);
    CHECK_EQ(memr(0xa0002), 0x80);
    gc(2, 0);
    CHECK_EQ(memr(0xa0002), 0x7f);
    gc(2, 12);
    CHECK_EQ(memr(0xa0003), 0x30);
    gc(2, 1);
    gc(7, 0x01); /* only plane 0 matters: colour 9 and 12 differ in plane 0 */
    CHECK_EQ(memr(0xa0002), 0x80);
    gc(7, 0x00); /* nothing matters: all match */
    CHECK_EQ(memr(0xa0002), 0xff);
    gc(5, 0x00);
    gc(7, 0x0f);

    CHECK_EQ(render(0), 0);
    CHECK_EQ(img.width, 640);
    CHECK_EQ(img.height, 480);
    CHECK_EQ(ndmg, 1);
    /* Byte 0: pixels 0,1 colour 0? bits: plane0 0x3f, plane1 0x00, plane2 0x7f, plane3 0x30. */
    static const uint8_t p0[4] = {0x3f, 0x30, 0x3f, 0x30};
    unsigned bad = 0;
    for (unsigned x = 0; x < 8; x++) {
        unsigned c = 0;
        for (unsigned p = 0; p < 4; p++)
            c |= ((p0[p] >> (7 - x)) & 1u) << p;
        bad += px(x, 0) != ega_color(c);
    }
    CHECK_EQ(bad, 0);
    for (unsigned x = 8; x < 16; x++)
        CHECK_EQ(px(x, 0), ega_color(x < 12 ? 0 : 4));
    CHECK_EQ(px(16, 0), ega_color(9));
    CHECK_EQ(px(17, 0), ega_color(0));
    for (unsigned x = 24; x < 32; x++)
        CHECK_EQ(px(x, 0), ega_color(x == 26 || x == 27 ? 12 : 0));
    CHECK_EQ(px(80, 0), ega_color(0));
    CHECK_EQ(px(84, 0), ega_color(4));
    CHECK_EQ(px(639, 479), ega_color(0));

    /* Damage: a write on line 300 damages that line only. */
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 0);
    seq(2, 0x0f);
    memw(0xa0000 + 300 * 80 + 40, 0xff);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].y <= 300 && dmg[0].y + dmg[0].h > 300 && dmg[0].h <= 52);
    CHECK_EQ(px(320, 300), ega_color(15));
    CHECK_EQ(px(319, 300), ega_color(0));
    /* Map mask writes with seq 2 = 0 change nothing but may still mark the page; no harm. */
    vmm_vga_fini(&vga);
}

static uint32_t *fb32(void)
{
    return (uint32_t *)vmm_vga_vram(&vga, NULL);
}

static void vbe_set(unsigned x, unsigned y, unsigned bpp, uint16_t flags)
{
    dispi(VBE_DISPI_INDEX_ENABLE, 0);
    dispi(VBE_DISPI_INDEX_XRES, (uint16_t)x);
    dispi(VBE_DISPI_INDEX_YRES, (uint16_t)y);
    dispi(VBE_DISPI_INDEX_BPP, (uint16_t)bpp);
    dispi(VBE_DISPI_INDEX_ENABLE, (uint16_t)(VBE_DISPI_ENABLED | flags));
}

static void test_vbe(void)
{
    setup(0);
    /* ID negotiation, GETCAPS, memory size. */
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_ID), VBE_DISPI_ID5);
    dispi(VBE_DISPI_INDEX_ID, VBE_DISPI_ID0);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_ID), VBE_DISPI_ID0);
    dispi(VBE_DISPI_INDEX_ID, 0xb0c9);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_ID), VBE_DISPI_ID0);
    dispi(VBE_DISPI_INDEX_ID, VBE_DISPI_ID5);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_VIDEO_MEMORY_64K), 256);
    dispi(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_GETCAPS);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_XRES), VBE_DISPI_MAX_XRES);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_YRES), VBE_DISPI_MAX_YRES);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_BPP), 32);
    dispi(VBE_DISPI_INDEX_ENABLE, 0);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_XRES), 640);
    CHECK_EQ(dispi_rd(0x0c), 0);
    /* The ops cover 0x1CE-0x1D1 so a word at 0x1CF is not split; 0x1D0 is data too. */
    CHECK_EQ(VMM_VGA_DISPI_BASE + VMM_VGA_DISPI_LEN, 0x1d2);
    vmm_vga_dispi_ops.write(&vga, 0, 2, VBE_DISPI_INDEX_XRES);
    vmm_vga_dispi_ops.write(&vga, 2, 2, 1280);
    CHECK_EQ(vmm_vga_dispi_ops.read(&vga, 1, 2), 1280);
    CHECK_EQ(vmm_vga_dispi_ops.read(&vga, 0, 2), VBE_DISPI_INDEX_XRES);
    CHECK_EQ(vmm_vga_dispi_ops.read(&vga, 3, 1), 0xff);
    vmm_vga_dispi_ops.write(&vga, 3, 1, 0x12);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_XRES), 1280);

    /* 800x600x32 through the ports. */
    memset(vga.vram, 0xcc, 4096);
    vbe_set(800, 600, 32, VBE_DISPI_LFB_ENABLED);
    CHECK_EQ(vga.vram[0], 0); /* cleared on enable */
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_ENABLE), VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_VIRT_WIDTH), 800);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_VIRT_HEIGHT), (16u << 20) / 3200);
    uint32_t *fb = fb32();
    for (unsigned y = 0; y < 600; y++)
        for (unsigned x = 0; x < 800; x++)
            fb[y * 800 + x] = (x * 0x10000u) ^ (y * 0x101u) ^ 0xff000000u;
    CHECK_EQ(render(0), 0);
    CHECK_EQ(img.width, 800);
    CHECK_EQ(img.height, 600);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].w == 800 && dmg[0].h == 600);
    unsigned bad = 0;
    for (unsigned y = 0; y < 600; y++)
        for (unsigned x = 0; x < 800; x++)
            bad += px(x, y) != (((x * 0x10000u) ^ (y * 0x101u)) & 0xffffff);
    CHECK_EQ(bad, 0);

    /* Damage: idle is empty; one page via the KVM dirty bitmap damages only its rows. */
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 0);
    uint64_t kvm[(16u << 20) / 4096 / 64] = {0};
    fb[10 * 1024 + 5] = 0x123456; /* page 10: bytes 40960-45055, lines 12-14 */
    kvm[0] = 1ull << 10;
    CHECK_EQ(vmm_vga_render(&vga, kvm, 0, &img, dmg, &ndmg), 0);
    CHECK_EQ(ndmg, 1);
    CHECK_EQ(dmg[0].y, 12);
    CHECK_EQ(dmg[0].h, 3);
    CHECK_EQ(px((10 * 1024 + 5) % 800, (10 * 1024 + 5) / 800), 0x123456);
    /* A page the guest touched but the bitmap does not name stays as it was (proves the
     * renderer does not re-read idle lines). */
    fb[100 * 800] = 0x00ff00;
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 0);
    CHECK(px(0, 100) != 0x00ff00);
    /* Two separate pages: two rects. */
    memset(kvm, 0, sizeof(kvm));
    kvm[0] = 1ull << 1;
    kvm[1] = 1ull << 40; /* page 104: lines 133-134 */
    CHECK_EQ(vmm_vga_render(&vga, kvm, 0, &img, dmg, &ndmg), 0);
    CHECK_EQ(ndmg, 2);
    CHECK(dmg[0].y == 1 && dmg[0].h == 2 && dmg[0].x == 0 && dmg[0].w == 800);
    CHECK(dmg[1].y == 133 && dmg[1].h == 2);
    /* Pages past the VRAM's bitmap are ignored; pages outside the frame damage nothing. */
    memset(kvm, 0, sizeof(kvm));
    kvm[63] = 1ull << 63;
    CHECK_EQ(vmm_vga_render(&vga, kvm, 0, &img, dmg, &ndmg), 0);
    CHECK_EQ(ndmg, 0);
    /* Many scattered pages: capped at VMM_DISPLAY_MAX_DAMAGE, still covering them. */
    memset(kvm, 0, sizeof(kvm));
    for (unsigned p = 0; p < 468; p += 9)
        kvm[p / 64] |= 1ull << (p % 64);
    CHECK_EQ(vmm_vga_render(&vga, kvm, 0, &img, dmg, &ndmg), 0);
    CHECK(ndmg >= 1 && ndmg <= VMM_DISPLAY_MAX_DAMAGE);
    unsigned covered = 0;
    for (unsigned p = 0; p < 468; p += 9) {
        uint32_t y = p * 4096 / 3200;
        for (unsigned i = 0; i < ndmg; i++)
            if (dmg[i].y <= y && dmg[i].y + dmg[i].h > y) {
                covered++;
                break;
            }
    }
    CHECK_EQ(covered, (468 + 8) / 9);

    /* Y offset (panning) and virtual width. */
    dispi(VBE_DISPI_INDEX_VIRT_WIDTH, 1024);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_VIRT_WIDTH), 1024);
    dispi(VBE_DISPI_INDEX_Y_OFFSET, 10);
    dispi(VBE_DISPI_INDEX_X_OFFSET, 16);
    for (unsigned x = 0; x < 1024; x++)
        fb[12 * 1024 + x] = x;
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 1);
    CHECK_EQ(px(0, 2), 16);
    CHECK_EQ(px(799, 2), 815);

    /* The same mode through BAR2's flat DISPI registers. */
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_ENABLE, 2, 0);
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_XRES, 2, 640);
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_YRES, 2, 480);
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_BPP, 2, 32);
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_VIRT_WIDTH, 2, 0);
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_X_OFFSET, 2, 0);
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_Y_OFFSET, 2, 0);
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_ENABLE, 2,
                           VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED | VBE_DISPI_NOCLEARMEM);
    CHECK_EQ(vmm_vga_mmio_ops.read(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_XRES, 2), 640);
    CHECK_EQ(vmm_vga_mmio_ops.read(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_VIRT_WIDTH, 2), 640);
    CHECK_EQ(vmm_vga_mmio_ops.read(&vga, VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_VIDEO_MEMORY_64K, 2),
             256);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_YRES), 480);
    fb[479 * 640 + 639] = 0xabcdef;
    fb[0] = 0x000001;
    CHECK_EQ(render(0), 0);
    CHECK_EQ(img.width, 640);
    CHECK_EQ(img.height, 480);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].w == 640 && dmg[0].h == 480);
    CHECK_EQ(px(639, 479), 0xabcdef);
    CHECK_EQ(px(0, 0), 1);

    /* Double buffering as bench-display-anim's guest does it: two pages in the virtual height,
     * a Y_OFFSET write alone (no VRAM written) shows the other one, all of it damaged. */
    dispi(VBE_DISPI_INDEX_VIRT_HEIGHT, 960);
    for (unsigned y = 0; y < 960; y++)
        for (unsigned x = 0; x < 640; x++)
            fb[y * 640 + x] = (y < 480 ? 0xff102030u : 0x80405060u) + y;
    dispi(VBE_DISPI_INDEX_Y_OFFSET, 0);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(px(5, 7), 0x102030u + 7);
    for (unsigned flip = 1; flip <= 2; flip++) {
        dispi(VBE_DISPI_INDEX_Y_OFFSET, flip % 2 ? 480 : 0);
        CHECK_EQ(render(0), 0);
        CHECK_EQ(ndmg, 1);
        CHECK(dmg[0].x == 0 && dmg[0].y == 0 && dmg[0].w == 640 && dmg[0].h == 480);
        unsigned wrong = 0;
        for (unsigned y = 0; y < 480; y++)
            for (unsigned x = 0; x < 640; x++)
                wrong += px(x, y) != (flip % 2 ? 0x405060u + 480 + y : 0x102030u + y);
        CHECK_EQ(wrong, 0);
    }
    dispi(VBE_DISPI_INDEX_Y_OFFSET, 0);

    /* 24 bpp: B, G, R bytes. */
    vbe_set(640, 480, 24, VBE_DISPI_LFB_ENABLED);
    vga.vram[3 * 7 + 0] = 0x11;
    vga.vram[3 * 7 + 1] = 0x22;
    vga.vram[3 * 7 + 2] = 0x33;
    CHECK_EQ(render(0), 0);
    CHECK_EQ(px(7, 0), 0x332211);
    CHECK_EQ(px(8, 0), 0);
    vmm_vga_fini(&vga);
}

static void test_vbe_16_8(void)
{
    setup(0);
    vbe_set(1024, 768, 16, VBE_DISPI_LFB_ENABLED);
    uint16_t *fb = (uint16_t *)vmm_vga_vram(&vga, NULL);
    fb[0] = 0xf800; /* red */
    fb[1] = 0x07e0; /* green */
    fb[2] = 0x001f; /* blue */
    fb[3] = 0xffff;
    fb[767 * 1024 + 1023] = 0x8410; /* r=16 g=32 b=16: mid grey */
    CHECK_EQ(render(0), 0);
    CHECK_EQ(img.width, 1024);
    CHECK_EQ(px(0, 0), 0xff0000);
    CHECK_EQ(px(1, 0), 0x00ff00);
    CHECK_EQ(px(2, 0), 0x0000ff);
    CHECK_EQ(px(3, 0), 0xffffff);
    CHECK_EQ(px(1023, 767), 0x848284);
    CHECK_EQ(px(4, 0), 0);

    /* 15 bpp. */
    vbe_set(1024, 768, 15, VBE_DISPI_LFB_ENABLED | VBE_DISPI_NOCLEARMEM);
    fb[0] = 0x7c00;
    fb[1] = 0x03e0;
    fb[2] = 0x001f;
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 1);
    CHECK_EQ(px(0, 0), 0xff0000);
    CHECK_EQ(px(1, 0), 0x00ff00);
    CHECK_EQ(px(2, 0), 0x0000ff);

    /* 8 bpp through the DAC, 6-bit then 8-bit (VBE_DISPI_8BIT_DAC). */
    vbe_set(640, 480, 8, VBE_DISPI_LFB_ENABLED);
    outb(0x3c8, 200);
    outb(0x3c9, 0x3f);
    outb(0x3c9, 0x20);
    outb(0x3c9, 0x01);
    vga.vram[5] = 200;
    vga.vram[640 * 479 + 639] = 200;
    CHECK_EQ(render(0), 0);
    CHECK_EQ(px(5, 0), 0xff8204);
    CHECK_EQ(px(639, 479), 0xff8204);
    CHECK_EQ(px(4, 0), 0);
    dispi(VBE_DISPI_INDEX_ENABLE,
          VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED | VBE_DISPI_8BIT_DAC | VBE_DISPI_NOCLEARMEM);
    outb(0x3c8, 200);
    outb(0x3c9, 0xfe);
    outb(0x3c9, 0x80);
    outb(0x3c9, 0x01);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 1);
    CHECK(dmg[0].w == 640 && dmg[0].h == 480);
    CHECK_EQ(px(5, 0), 0xfe8001);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 0);

    /* Banked window without LFB: bank 3 of 64 KiB at 0xA0000, writes reach VRAM and damage. */
    vbe_set(640, 480, 8, VBE_DISPI_NOCLEARMEM | VBE_DISPI_8BIT_DAC);
    CHECK_EQ(render(0), 0);
    dispi(VBE_DISPI_INDEX_BANK, 3);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_BANK), 3);
    memw(0xa0000 + 0x10, 200);
    CHECK_EQ(vga.vram[3 * 0x10000 + 0x10], 200);
    CHECK_EQ(memr(0xa0000 + 0x10), 200);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(ndmg, 1);
    uint32_t off = 3 * 0x10000 + 0x10;
    CHECK(dmg[0].y <= off / 640 && dmg[0].y + dmg[0].h > off / 640);
    CHECK_EQ(px(off % 640, off / 640), 0xfe8001);
    /* The B0000 half is not decoded in the 64 KiB map. */
    CHECK_EQ(memr(0xb0000), 0xff);
    /* Disabling VBE resets the bank. */
    dispi(VBE_DISPI_INDEX_ENABLE, 0);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_BANK), 0);

    /* 4 bpp: planar through the VGA latches. */
    vbe_set(800, 600, 4, VBE_DISPI_LFB_ENABLED);
    CHECK_EQ(vga.r.seq[4] & VGA_SR04_CHAIN4, 0);
    for (unsigned i = 0; i < 16; i++) {
        (void)inb(0x3da);
        outb(0x3c0, (uint8_t)i);
        outb(0x3c0, mode3.ac[i]);
    }
    outb(0x3c0, 0x12); /* colour plane enable: all four */
    outb(0x3c0, 0x0f);
    outb(0x3c0, 0x20);
    load_dac_ega();
    gc(8, 0xff);
    gc(5, 0x02);
    memw(0xa0000 + 100 * 100 + 2, 14); /* row 100 (100 bytes per line), pixels 16-23 */
    gc(5, 0x00);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(img.width, 800);
    CHECK_EQ(px(16, 100), ega_color(14));
    CHECK_EQ(px(23, 100), ega_color(14));
    CHECK_EQ(px(24, 100), ega_color(0));
    vmm_vga_fini(&vga);
}

static bool image_sane(void)
{
    return img.width >= 1 && img.height >= 1 && img.width <= 2560 && img.height <= 2048 &&
           img.stride == img.width * 4 && img.pixels != NULL;
}

/* Touches every pixel so a bad surface shows under valgrind / ASan. */
static uint32_t image_sum(void)
{
    uint32_t s = 0;
    for (uint32_t y = 0; y < img.height; y++)
        for (uint32_t x = 0; x < img.width; x++)
            s += px(x, y);
    return s;
}

static void test_hostile(void)
{
    setup(4u << 20);
    /* Huge resolution, bad depth, virtual width below xres, offsets past VRAM. */
    dispi(VBE_DISPI_INDEX_XRES, 0xffff);
    dispi(VBE_DISPI_INDEX_YRES, 0xffff);
    dispi(VBE_DISPI_INDEX_BPP, 7);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_BPP), 8);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_XRES), VBE_DISPI_MAX_XRES);
    dispi(VBE_DISPI_INDEX_BPP, 32);
    dispi(VBE_DISPI_INDEX_VIRT_WIDTH, 16);
    dispi(VBE_DISPI_INDEX_X_OFFSET, 0xffff);
    dispi(VBE_DISPI_INDEX_Y_OFFSET, 0xffff);
    dispi(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
    uint32_t xres = dispi_rd(VBE_DISPI_INDEX_XRES), yres = dispi_rd(VBE_DISPI_INDEX_YRES);
    uint32_t vw = dispi_rd(VBE_DISPI_INDEX_VIRT_WIDTH), vh = dispi_rd(VBE_DISPI_INDEX_VIRT_HEIGHT);
    uint32_t xo = dispi_rd(VBE_DISPI_INDEX_X_OFFSET), yo = dispi_rd(VBE_DISPI_INDEX_Y_OFFSET);
    CHECK_EQ(xres, 2560);
    CHECK_EQ(vw, 2560);
    CHECK_EQ(vh, (4u << 20) / (2560 * 4));
    CHECK(yres <= vh);
    CHECK_EQ(yres, 409);
    CHECK(xo + xres <= vw);
    CHECK(yo + yres <= vh);
    CHECK((uint64_t)(yo + yres) * vw * 4 <= 4u << 20);
    CHECK_EQ(render(0), 0);
    CHECK_EQ(img.width, 2560);
    CHECK_EQ(img.height, 409);
    CHECK(image_sane());
    (void)image_sum();

    /* While enabled, writes are validated at once. */
    dispi(VBE_DISPI_INDEX_VIRT_WIDTH, 0xfff8);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_VIRT_WIDTH), 2560);
    dispi(VBE_DISPI_INDEX_XRES, 13);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_XRES), 8);
    dispi(VBE_DISPI_INDEX_XRES, 0);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_XRES), 8);
    dispi(VBE_DISPI_INDEX_YRES, 0);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_YRES), 1);
    dispi(VBE_DISPI_INDEX_BPP, 0x1234);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_BPP), 8);
    CHECK_EQ(render(0), 0);
    CHECK(image_sane());
    CHECK_EQ(img.width, 8);
    CHECK_EQ(img.height, 1);

    /* Bank out of range: clamped to the last 64 KiB of VRAM. */
    dispi(VBE_DISPI_INDEX_BANK, 0xffff);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_BANK), 63);
    memw(0xaffff, 0x5a);
    CHECK_EQ(vga.vram[(4u << 20) - 1], 0x5a);
    dispi(VBE_DISPI_INDEX_BPP, 4);
    CHECK_EQ(dispi_rd(VBE_DISPI_INDEX_BANK), 15);
    gc(6, 0x05);
    seq(4, 0x06);
    seq(2, 0x0f);
    gc(1, 0x00);
    gc(3, 0x00);
    gc(4, 0x00);
    gc(5, 0x00);
    gc(8, 0xff);
    memw(0xaffff, 0xff); /* plane offset 16 * 64 Ki - 1: last 4 bytes of VRAM */
    CHECK_EQ(vga.vram[(4u << 20) - 4], 0xff);
    CHECK_EQ(memr(0xaffff), 0xff);

    /* Unknown DISPI index, index past the flat BAR2 window. */
    dispi(0x55, 0x1234);
    CHECK_EQ(dispi_rd(0x55), 0);
    vmm_vga_mmio_ops.write(&vga, VGA_MMIO_DISPI + 0x40, 2, 0xffff);
    CHECK_EQ(vmm_vga_mmio_ops.read(&vga, VGA_MMIO_DISPI + 0x40, 2), 0);
    CHECK_EQ(vmm_vga_mmio_ops.read(&vga, 0xfff, 1), 0);

    /* Legacy registers at their extremes: the biggest text and planar frames stay bounded. */
    dispi(VBE_DISPI_INDEX_ENABLE, 0);
    set_mode(&mode3);
    crtc(0x11, 0x00);
    crtc(0x01, 0xff);
    crtc(0x12, 0xff);
    crtc(0x07, 0xff);
    crtc(0x09, 0x1f); /* 32-line cells */
    crtc(0x13, 0xff);
    crtc(0x0c, 0xff);
    crtc(0x0d, 0xff);
    crtc(0x0e, 0xff);
    crtc(0x0f, 0xff);
    crtc(0x0a, 0x00);
    crtc(0x0b, 0x1f);
    CHECK_EQ(render(0), 0);
    CHECK(image_sane());
    CHECK_EQ(img.width, 256 * 9);
    CHECK_EQ(img.height, 1024);
    (void)image_sum();
    crtc(0x09, 0x80); /* double scan */
    crtc(0x12, 0x00);
    crtc(0x07, 0x00);
    CHECK_EQ(render(0), 0);
    CHECK(image_sane());
    CHECK_EQ(img.height, 1);
    (void)inb(0x3da);
    outb(0x3c0, 0x10);
    outb(0x3c0, 0x01); /* graphics */
    outb(0x3c0, 0x20);
    crtc(0x09, 0x00);
    crtc(0x12, 0xff);
    crtc(0x07, 0xff);
    CHECK_EQ(render(0), 0);
    CHECK(image_sane());
    CHECK_EQ(img.width, 2048);
    (void)image_sum();
    gc(5, 0x40);
    CHECK_EQ(render(0), 0);
    CHECK(image_sane());
    CHECK_EQ(img.width, 1024);
    (void)image_sum();
    vmm_vga_fini(&vga);
}

/* Random writes to every register the guest can reach; render after each burst. */
static void test_fuzz(void)
{
    setup(4u << 20);
    uint32_t s = 12345;
    unsigned bad = 0;
    for (unsigned iter = 0; iter < 300; iter++) {
        for (unsigned k = 0; k < 40; k++) {
            s = s * 1103515245u + 12345u;
            unsigned what = (s >> 16) % 5;
            s = s * 1103515245u + 12345u;
            unsigned v = s >> 8;
            switch (what) {
            case 0:
                vmm_vga_ioport_ops.write(&vga, v % VMM_VGA_IO_LEN, 1 + (v >> 20) % 2, v >> 4);
                break;
            case 1:
                dispi(v % 12, (uint16_t)(v >> 7));
                break;
            case 2:
                memw(0xa0000 + v % 0x20000, (uint8_t)v);
                break;
            case 3:
                (void)memr(0xa0000 + v % 0x20000);
                break;
            default:
                (void)vmm_vga_ioport_ops.read(&vga, v % VMM_VGA_IO_LEN, 1);
                break;
            }
        }
        if (render(iter * 100000000ull) != 0 || !image_sane()) {
            bad++;
            continue;
        }
        for (unsigned i = 0; i < ndmg; i++)
            bad += dmg[i].x + dmg[i].w > img.width || dmg[i].y + dmg[i].h > img.height;
        if (iter % 50 == 0)
            (void)image_sum();
    }
    CHECK_EQ(bad, 0);
    vmm_vga_fini(&vga);
}

int main(void)
{
    RUN_TEST(test_pci);
    RUN_TEST(test_ports);
    RUN_TEST(test_text_mode3);
    RUN_TEST(test_text_80x50);
    RUN_TEST(test_mode13);
    RUN_TEST(test_mode12);
    RUN_TEST(test_vbe);
    RUN_TEST(test_vbe_16_8);
    RUN_TEST(test_hostile);
    RUN_TEST(test_fuzz);
    return test_finish();
}
