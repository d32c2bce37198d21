/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * std-VGA with Bochs DISPI: registers, ports, the legacy memory window and
 * the PCI function. Pure: no VM, no KVM, no logging. See vga.h.
 */
#include "hw/vga.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Writable bits of each register, so reads give back what hardware keeps. */
static const uint8_t seq_wmask[VGA_SEQ_COUNT] = {0x03, 0x3d, 0x0f, 0x3f, 0x0e};
static const uint8_t gc_wmask[VGA_GC_COUNT] = {0x0f, 0x0f, 0x0f, 0x1f, 0x03,
                                               0x7b, 0x0f, 0x0f, 0xff};
/* Attribute controller 0x10-0x14; the 16 palette registers keep 6 bits. */
static const uint8_t ar_wmask_hi[5] = {0xef, 0xff, 0x3f, 0x0f, 0x0f};

static inline void mark_dirty(struct vmm_vga *vga, uint64_t byte)
{
    uint64_t page = byte / VMM_VGA_PAGE_SIZE;
    vga->dirty[page / 64] |= 1ull << (page % 64);
}

static void mark_dirty_range(struct vmm_vga *vga, uint64_t start, uint64_t len)
{
    if (!len)
        return;
    for (uint64_t p = start / VMM_VGA_PAGE_SIZE; p <= (start + len - 1) / VMM_VGA_PAGE_SIZE; p++)
        vga->dirty[p / 64] |= 1ull << (p % 64);
}

/* DISPI validation ---------------------------------------------------------- */

static bool bpp_valid(unsigned bpp)
{
    return bpp == 4 || bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
}

static unsigned bpp_bits(unsigned bpp)
{
    return bpp == 15 ? 16 : bpp;
}

static uint32_t clamp_u32(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/*
 * Brings a DISPI register set into a shape whose visible frame lies inside
 * VRAM: depth one of 4/8/15/16/24/32 (else 8); xres a multiple of 8 in
 * [8, MAX_XRES]; virt_width a multiple of 8, at least xres, and back to xres
 * when its lines would not fit; yres in [1, MAX_YRES] and at most the lines
 * VRAM holds; virt_height = the lines VRAM holds; offsets so that the frame
 * ends inside the virtual screen. Also yields the geometry.
 */
static void vbe_validate(uint16_t *v, uint32_t vram_size, struct vmm_vga_vbe_mode *m)
{
    if (!bpp_valid(v[VBE_DISPI_INDEX_BPP]))
        v[VBE_DISPI_INDEX_BPP] = 8;
    unsigned bits = bpp_bits(v[VBE_DISPI_INDEX_BPP]);

    uint32_t xres = clamp_u32(v[VBE_DISPI_INDEX_XRES] & ~7u, 8, VBE_DISPI_MAX_XRES);
    uint32_t vw = v[VBE_DISPI_INDEX_VIRT_WIDTH] & ~7u;
    if (vw < xres)
        vw = xres;
    uint32_t yres = clamp_u32(v[VBE_DISPI_INDEX_YRES], 1, VBE_DISPI_MAX_YRES);
    if ((uint64_t)vw * bits / 8 * yres > vram_size)
        vw = xres;
    uint32_t line = vw * bits / 8;
    uint32_t vh = vram_size / line; /* >= 1: line <= 2560 * 4 < 4 MiB */
    if (vh > 0xffff)
        vh = 0xffff;
    if (yres > vh)
        yres = vh;
    uint32_t xoff = v[VBE_DISPI_INDEX_X_OFFSET];
    uint32_t yoff = v[VBE_DISPI_INDEX_Y_OFFSET];
    if (xoff > vw - xres)
        xoff = vw - xres;
    if (bits == 4)
        xoff &= ~7u; /* planar: a byte holds 8 pixels */
    if (yoff > vh - yres)
        yoff = vh - yres;

    v[VBE_DISPI_INDEX_XRES] = (uint16_t)xres;
    v[VBE_DISPI_INDEX_YRES] = (uint16_t)yres;
    v[VBE_DISPI_INDEX_VIRT_WIDTH] = (uint16_t)vw;
    v[VBE_DISPI_INDEX_VIRT_HEIGHT] = (uint16_t)vh;
    v[VBE_DISPI_INDEX_X_OFFSET] = (uint16_t)xoff;
    v[VBE_DISPI_INDEX_Y_OFFSET] = (uint16_t)yoff;
    if (m) {
        m->xres = xres;
        m->yres = yres;
        m->bpp = v[VBE_DISPI_INDEX_BPP];
        m->line_bytes = line;
        m->start = (uint64_t)yoff * line + (uint64_t)xoff * bits / 8;
    }
}

void vmm_vga_vbe_mode(const struct vmm_vga_regs *r, uint32_t vram_size, struct vmm_vga_vbe_mode *m)
{
    uint16_t v[VBE_DISPI_INDEX_NB];
    memcpy(v, r->vbe, sizeof(v));
    vbe_validate(v, vram_size, m);
}

static uint32_t max_bank(const struct vmm_vga *vga)
{
    /* A 4 bpp bank addresses plane bytes: a quarter of VRAM. */
    uint32_t span = vga->r.vbe[VBE_DISPI_INDEX_BPP] == 4 ? vga->vram_size / 4 : vga->vram_size;
    return span / VBE_DISPI_BANK_SIZE - 1;
}

static void set_bank(struct vmm_vga *vga, uint32_t bank)
{
    if (bank > max_bank(vga))
        bank = max_bank(vga);
    vga->r.vbe[VBE_DISPI_INDEX_BANK] = (uint16_t)bank;
    vga->r.bank_offset = bank * VBE_DISPI_BANK_SIZE;
}

static bool vbe_enabled(const struct vmm_vga *vga)
{
    return vga->r.vbe[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED;
}

/* Legacy registers as a DISPI mode wants them: the A0000 window, 64 KiB, graphics. */
static void vbe_set_legacy_regs(struct vmm_vga *vga)
{
    struct vmm_vga_regs *r = &vga->r;
    r->gc[6] = (uint8_t)((r->gc[6] & ~0x0c) | (1 << VGA_GR06_MAP_SHIFT) | VGA_GR06_GRAPHICS);
    r->ar[0x10] |= VGA_AR10_GRAPHICS;
    r->seq[2] = 0x0f;
    if (r->vbe[VBE_DISPI_INDEX_BPP] == 4) {
        r->seq[4] = VGA_SR04_EXT_MEM | VGA_SR04_SEQ_MODE;
        r->gc[5] &= ~(VGA_GR05_SHIFT256 | VGA_GR05_ODD_EVEN);
    } else {
        r->seq[4] = VGA_SR04_EXT_MEM | VGA_SR04_SEQ_MODE | VGA_SR04_CHAIN4;
        r->gc[5] = (uint8_t)((r->gc[5] & ~VGA_GR05_ODD_EVEN) | VGA_GR05_SHIFT256);
    }
}

static uint16_t dispi_read(struct vmm_vga *vga, unsigned index)
{
    const uint16_t *v = vga->r.vbe;
    if (index >= VBE_DISPI_INDEX_NB)
        return 0;
    if (index == VBE_DISPI_INDEX_VIDEO_MEMORY_64K)
        return (uint16_t)(vga->vram_size / 65536);
    if (v[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_GETCAPS) {
        if (index == VBE_DISPI_INDEX_XRES)
            return VBE_DISPI_MAX_XRES;
        if (index == VBE_DISPI_INDEX_YRES)
            return VBE_DISPI_MAX_YRES;
        if (index == VBE_DISPI_INDEX_BPP)
            return VBE_DISPI_MAX_BPP;
    }
    return v[index];
}

static void dispi_write(struct vmm_vga *vga, unsigned index, uint16_t val)
{
    uint16_t *v = vga->r.vbe;
    switch (index) {
    case VBE_DISPI_INDEX_ID:
        /* The BIOS negotiates by writing an ID and reading it back. */
        if (val >= VBE_DISPI_ID0 && val <= VBE_DISPI_ID5)
            v[index] = val;
        return;
    case VBE_DISPI_INDEX_XRES:
        v[index] = val > VBE_DISPI_MAX_XRES ? VBE_DISPI_MAX_XRES : val;
        break;
    case VBE_DISPI_INDEX_YRES:
        v[index] = val > VBE_DISPI_MAX_YRES ? VBE_DISPI_MAX_YRES : val;
        break;
    case VBE_DISPI_INDEX_BPP:
        v[index] = bpp_valid(val) ? val : 8;
        set_bank(vga, v[VBE_DISPI_INDEX_BANK]);
        break;
    case VBE_DISPI_INDEX_VIRT_WIDTH:
    case VBE_DISPI_INDEX_VIRT_HEIGHT:
    case VBE_DISPI_INDEX_X_OFFSET:
    case VBE_DISPI_INDEX_Y_OFFSET:
        v[index] = val;
        break;
    case VBE_DISPI_INDEX_BANK:
        set_bank(vga, val);
        return;
    case VBE_DISPI_INDEX_ENABLE: {
        bool was = vbe_enabled(vga);
        v[index] = val & (VBE_DISPI_ENABLED | VBE_DISPI_GETCAPS | VBE_DISPI_8BIT_DAC |
                          VBE_DISPI_LFB_ENABLED | VBE_DISPI_NOCLEARMEM);
        if (val & VBE_DISPI_ENABLED) {
            struct vmm_vga_vbe_mode m;
            if (!was) {
                /* A mode set starts with the virtual screen the size of the visible one. */
                v[VBE_DISPI_INDEX_VIRT_WIDTH] = v[VBE_DISPI_INDEX_XRES];
                v[VBE_DISPI_INDEX_X_OFFSET] = 0;
                v[VBE_DISPI_INDEX_Y_OFFSET] = 0;
            }
            vbe_validate(v, vga->vram_size, &m);
            if (!was) {
                vbe_set_legacy_regs(vga);
                if (!(val & VBE_DISPI_NOCLEARMEM)) {
                    uint64_t len = (uint64_t)m.line_bytes * v[VBE_DISPI_INDEX_VIRT_HEIGHT];
                    if (len > vga->vram_size)
                        len = vga->vram_size;
                    memset(vga->vram, 0, len);
                    mark_dirty_range(vga, 0, len);
                }
            }
        } else {
            set_bank(vga, 0);
        }
        vga->regs_gen++;
        return;
    }
    default:
        return;
    }
    if (vbe_enabled(vga))
        vbe_validate(v, vga->vram_size, NULL);
    vga->regs_gen++;
}

/* VGA ports ----------------------------------------------------------------- */

/* Whether port (0x3B0-0x3DF) is a CRTC/status port the Misc Output decode disables. */
static bool port_undecoded(const struct vmm_vga *vga, unsigned port)
{
    bool color = vga->r.misc & VGA_MISC_COLOR;
    if (port >= 0x3b0 && port < 0x3c0)
        return color;
    if (port >= 0x3d0)
        return !color;
    return false;
}

static uint8_t port_read(struct vmm_vga *vga, unsigned port)
{
    struct vmm_vga_regs *r = &vga->r;
    uint8_t val;

    if (port_undecoded(vga, port))
        return 0xff;
    switch (port) {
    case 0x3c0:
        return r->ar_index;
    case 0x3c1:
        return (r->ar_index & 0x1f) < VGA_AR_COUNT ? r->ar[r->ar_index & 0x1f] : 0;
    case 0x3c2: /* input status 0 */
        return 0;
    case 0x3c4:
        return r->seq_index;
    case 0x3c5:
        return r->seq_index < VGA_SEQ_COUNT ? r->seq[r->seq_index] : 0;
    case 0x3c6:
        return r->dac_mask;
    case 0x3c7:
        return r->dac_reading ? 3 : 0;
    case 0x3c8:
        return r->dac_write_index;
    case 0x3c9:
        val = r->palette[r->dac_read_index * 3 + r->dac_sub];
        if (++r->dac_sub == 3) {
            r->dac_sub = 0;
            r->dac_read_index++;
        }
        return val;
    case 0x3ca:
        return r->fcr;
    case 0x3cc:
        return r->misc;
    case 0x3ce:
        return r->gc_index;
    case 0x3cf:
        return r->gc_index < VGA_GC_COUNT ? r->gc[r->gc_index] : 0;
    case 0x3b4:
    case 0x3d4:
        return r->crtc_index;
    case 0x3b5:
    case 0x3d5:
        return r->crtc_index < VGA_CRTC_COUNT ? r->crtc[r->crtc_index] : 0;
    case 0x3ba:
    case 0x3da:
        /*
         * No real timing: alternate retrace and display so polling loops
         * ("wait for retrace to start / end") finish at once.
         */
        r->st01 ^= VGA_ST01_V_RETRACE | VGA_ST01_DISP_ENABLE;
        r->ar_flip = false;
        return r->st01;
    default:
        return 0xff;
    }
}

static void port_write(struct vmm_vga *vga, unsigned port, uint8_t v)
{
    struct vmm_vga_regs *r = &vga->r;
    uint8_t old;

    if (port_undecoded(vga, port))
        return;
    switch (port) {
    case 0x3c0:
        if (!r->ar_flip) {
            if ((r->ar_index ^ v) & VGA_AR_INDEX_PAS)
                vga->regs_gen++;
            r->ar_index = v & 0x3f;
        } else {
            unsigned i = r->ar_index & 0x1f;
            if (i < VGA_AR_COUNT) {
                old = r->ar[i];
                r->ar[i] = v & (i < 0x10 ? 0x3f : ar_wmask_hi[i - 0x10]);
                if (old != r->ar[i])
                    vga->regs_gen++;
            }
        }
        r->ar_flip = !r->ar_flip;
        return;
    case 0x3c2:
        if (r->misc != v)
            vga->regs_gen++;
        r->misc = v;
        return;
    case 0x3c4:
        r->seq_index = v;
        return;
    case 0x3c5:
        if (r->seq_index < VGA_SEQ_COUNT) {
            old = r->seq[r->seq_index];
            r->seq[r->seq_index] = v & seq_wmask[r->seq_index];
            if (r->seq_index != 2 && old != r->seq[r->seq_index])
                vga->regs_gen++;
        }
        return;
    case 0x3c6:
        r->dac_mask = v;
        vga->regs_gen++;
        return;
    case 0x3c7:
        r->dac_read_index = v;
        r->dac_sub = 0;
        r->dac_reading = true;
        return;
    case 0x3c8:
        r->dac_write_index = v;
        r->dac_sub = 0;
        r->dac_reading = false;
        return;
    case 0x3c9:
        r->dac_cache[r->dac_sub++] = v;
        if (r->dac_sub == 3) {
            memcpy(&r->palette[r->dac_write_index * 3], r->dac_cache, 3);
            r->dac_sub = 0;
            r->dac_write_index++;
            vga->regs_gen++;
        }
        return;
    case 0x3ce:
        r->gc_index = v;
        return;
    case 0x3cf:
        if (r->gc_index < VGA_GC_COUNT) {
            old = r->gc[r->gc_index];
            r->gc[r->gc_index] = v & gc_wmask[r->gc_index];
            /* Only the shift modes (GR5) and the graphics bit (GR6) change the picture. */
            if ((r->gc_index == 5 && ((old ^ v) & 0x60)) || (r->gc_index == 6 && old != v))
                vga->regs_gen++;
        }
        return;
    case 0x3b4:
    case 0x3d4:
        r->crtc_index = v;
        return;
    case 0x3b5:
    case 0x3d5: {
        unsigned i = r->crtc_index;
        if (i >= VGA_CRTC_COUNT)
            return;
        if ((r->crtc[0x11] & VGA_CR11_PROTECT) && i <= 7) {
            /* Write protect: CR0-CR7 locked except the line compare bit of CR7. */
            if (i != 7)
                return;
            v = (uint8_t)((r->crtc[7] & ~0x10) | (v & 0x10));
        }
        if (r->crtc[i] != v) {
            r->crtc[i] = v;
            vga->regs_gen++;
        }
        return;
    }
    case 0x3ba:
    case 0x3da:
        r->fcr = v & 0x03;
        return;
    default:
        return;
    }
}

/* Legacy memory window ------------------------------------------------------ */

/* A window offset to a VGA address, or false when the memory map leaves it unclaimed. */
static bool window_addr(const struct vmm_vga *vga, uint64_t off, uint64_t *a)
{
    switch ((vga->r.gc[6] >> VGA_GR06_MAP_SHIFT) & 3) {
    case 0:
        *a = off;
        return true;
    case 1:
        if (off >= 0x10000)
            return false;
        *a = off + (vbe_enabled(vga) ? vga->r.bank_offset : 0);
        return true;
    case 2:
        if (off < 0x10000 || off >= 0x18000)
            return false;
        *a = off - 0x10000;
        return true;
    default:
        if (off < 0x18000)
            return false;
        *a = off - 0x18000;
        return true;
    }
}

static uint32_t expand4(unsigned bits)
{
    uint32_t v = 0;
    for (unsigned p = 0; p < 4; p++)
        if (bits & (1u << p))
            v |= 0xffu << (p * 8);
    return v;
}

static uint8_t mem_readb(struct vmm_vga *vga, uint64_t off)
{
    struct vmm_vga_regs *r = &vga->r;
    uint64_t a;

    if (!window_addr(vga, off, &a))
        return 0xff;
    if (r->seq[4] & VGA_SR04_CHAIN4)
        return a < vga->vram_size ? vga->vram[a] : 0xff;
    if (r->gc[5] & VGA_GR05_ODD_EVEN) {
        unsigned plane = (r->gc[4] & 2) | (a & 1);
        uint64_t idx = (a >> 1) * 4 + plane;
        return idx < vga->vram_size ? vga->vram[idx] : 0xff;
    }
    if (a * 4 + 3 >= vga->vram_size)
        return 0xff;
    memcpy(&r->latch, &vga->vram[a * 4], 4);
    if (!(r->gc[5] & VGA_GR05_READ_MODE))
        return (uint8_t)(r->latch >> ((r->gc[4] & 3) * 8));
    /* Read mode 1: colour compare over the planes "colour don't care" keeps. */
    uint32_t diff = (r->latch ^ expand4(r->gc[2])) & expand4(r->gc[7]);
    uint8_t any = (uint8_t)(diff | diff >> 8 | diff >> 16 | diff >> 24);
    return (uint8_t)~any;
}

static void mem_writeb(struct vmm_vga *vga, uint64_t off, uint8_t val)
{
    struct vmm_vga_regs *r = &vga->r;
    unsigned map_mask = r->seq[2] & 0x0f;
    uint64_t a;

    if (!window_addr(vga, off, &a))
        return;
    if (r->seq[4] & VGA_SR04_CHAIN4) {
        if (a < vga->vram_size && (map_mask & (1u << (a & 3)))) {
            vga->vram[a] = val;
            mark_dirty(vga, a);
        }
        return;
    }
    if (!(r->seq[4] & VGA_SR04_SEQ_MODE)) {
        /* Odd/even: even addresses reach planes 0 and 2, odd ones 1 and 3. */
        unsigned planes = map_mask & ((a & 1) ? 0x0a : 0x05);
        uint64_t base = (a >> 1) * 4;
        if (base + 3 >= vga->vram_size)
            return;
        for (unsigned p = 0; p < 4; p++)
            if (planes & (1u << p))
                vga->vram[base + p] = val;
        mark_dirty(vga, base);
        return;
    }
    if (a * 4 + 3 >= vga->vram_size)
        return;

    unsigned rot = r->gc[3] & 7;
    uint8_t rv = (uint8_t)((val >> rot) | (val << ((8 - rot) & 7)));
    uint32_t mask = r->gc[8] * 0x01010101u;
    uint32_t data;
    switch (r->gc[5] & VGA_GR05_WRITE_MODE) {
    case 0: {
        uint32_t sr_en = expand4(r->gc[1]);
        data = (rv * 0x01010101u & ~sr_en) | (expand4(r->gc[0]) & sr_en);
        break;
    }
    case 1:
        data = r->latch;
        mask = 0xffffffffu;
        goto store;
    case 2:
        data = expand4(val & 0x0f);
        break;
    default:
        mask &= rv * 0x01010101u;
        data = expand4(r->gc[0]);
        break;
    }
    switch ((r->gc[3] >> 3) & 3) {
    case 1:
        data &= r->latch;
        break;
    case 2:
        data |= r->latch;
        break;
    case 3:
        data ^= r->latch;
        break;
    default:
        break;
    }
    data = (data & mask) | (r->latch & ~mask);
store:;
    uint32_t enable = expand4(map_mask);
    uint32_t cur;
    memcpy(&cur, &vga->vram[a * 4], 4);
    cur = (cur & ~enable) | (data & enable);
    memcpy(&vga->vram[a * 4], &cur, 4);
    mark_dirty(vga, a * 4);
}

/* Ops ----------------------------------------------------------------------- */

static uint64_t ioport_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_vga *vga = opaque;
    uint64_t v = 0;
    pthread_mutex_lock(&vga->dev.lock);
    for (unsigned i = 0; i < size; i++) {
        uint64_t port = VMM_VGA_IO_BASE + off + i;
        uint8_t b = port < VMM_VGA_IO_BASE + VMM_VGA_IO_LEN ? port_read(vga, (unsigned)port) : 0xff;
        v |= (uint64_t)b << (i * 8);
    }
    pthread_mutex_unlock(&vga->dev.lock);
    return v;
}

static void ioport_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_vga *vga = opaque;
    pthread_mutex_lock(&vga->dev.lock);
    for (unsigned i = 0; i < size; i++) {
        uint64_t port = VMM_VGA_IO_BASE + off + i;
        if (port < VMM_VGA_IO_BASE + VMM_VGA_IO_LEN)
            port_write(vga, (unsigned)port, (uint8_t)(val >> (i * 8)));
    }
    pthread_mutex_unlock(&vga->dev.lock);
}

const struct vmm_io_ops vmm_vga_ioport_ops = {.read = ioport_read, .write = ioport_write};

static uint64_t dispi_port_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_vga *vga = opaque;
    uint64_t v;
    if (off >= 3)
        return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
    pthread_mutex_lock(&vga->dev.lock);
    v = off == 0 ? vga->r.vbe_index : dispi_read(vga, vga->r.vbe_index);
    pthread_mutex_unlock(&vga->dev.lock);
    return size >= 8 ? v : v & ((1ull << (size * 8)) - 1);
}

static void dispi_port_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_vga *vga = opaque;
    (void)size;
    pthread_mutex_lock(&vga->dev.lock);
    if (off == 0)
        vga->r.vbe_index = (uint16_t)val;
    else if (off < 3)
        dispi_write(vga, vga->r.vbe_index, (uint16_t)val);
    pthread_mutex_unlock(&vga->dev.lock);
}

const struct vmm_io_ops vmm_vga_dispi_ops = {.read = dispi_port_read, .write = dispi_port_write};

static uint64_t legacy_mem_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_vga *vga = opaque;
    uint64_t v = 0;
    pthread_mutex_lock(&vga->dev.lock);
    for (unsigned i = 0; i < size && i < 8; i++)
        v |= (uint64_t)mem_readb(vga, off + i) << (i * 8);
    pthread_mutex_unlock(&vga->dev.lock);
    return v;
}

static void legacy_mem_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_vga *vga = opaque;
    pthread_mutex_lock(&vga->dev.lock);
    for (unsigned i = 0; i < size && i < 8; i++)
        mem_writeb(vga, off + i, (uint8_t)(val >> (i * 8)));
    pthread_mutex_unlock(&vga->dev.lock);
}

const struct vmm_io_ops vmm_vga_mem_ops = {.read = legacy_mem_read, .write = legacy_mem_write};

/* BAR0 when the board traps it instead of mapping it (and for tests). */
static uint64_t vram_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_vga *vga = opaque;
    uint64_t v = 0;
    for (unsigned i = 0; i < size && i < 8; i++)
        if (off + i < vga->vram_size)
            v |= (uint64_t)vga->vram[off + i] << (i * 8);
    return v;
}

static void vram_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_vga *vga = opaque;
    pthread_mutex_lock(&vga->dev.lock);
    for (unsigned i = 0; i < size && i < 8; i++) {
        if (off + i < vga->vram_size) {
            vga->vram[off + i] = (uint8_t)(val >> (i * 8));
            mark_dirty(vga, off + i);
        }
    }
    pthread_mutex_unlock(&vga->dev.lock);
}

const struct vmm_io_ops vmm_vga_vram_ops = {.read = vram_read, .write = vram_write};

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_vga *vga = opaque;
    uint64_t v = 0;

    if (off >= VGA_MMIO_PORTS && off < VGA_MMIO_PORTS + 0x20)
        return ioport_read(vga, off - VGA_MMIO_PORTS + 0x10, size);
    pthread_mutex_lock(&vga->dev.lock);
    if (off >= VGA_MMIO_DISPI && off < VGA_MMIO_DISPI + VBE_DISPI_INDEX_NB * 2 && !(off & 1)) {
        v = dispi_read(vga, (unsigned)(off - VGA_MMIO_DISPI) / 2);
    } else if (off == VGA_MMIO_QEXT) {
        v = VGA_QEXT_SIZE;
    } else if (off == VGA_MMIO_QEXT + 4) {
        v = VGA_QEXT_LITTLE_ENDIAN;
    }
    pthread_mutex_unlock(&vga->dev.lock);
    return size >= 8 ? v : v & ((1ull << (size * 8)) - 1);
}

static void mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_vga *vga = opaque;

    if (off >= VGA_MMIO_PORTS && off < VGA_MMIO_PORTS + 0x20) {
        ioport_write(vga, off - VGA_MMIO_PORTS + 0x10, size, val);
        return;
    }
    pthread_mutex_lock(&vga->dev.lock);
    if (off >= VGA_MMIO_DISPI && off < VGA_MMIO_DISPI + VBE_DISPI_INDEX_NB * 2 && !(off & 1))
        dispi_write(vga, (unsigned)(off - VGA_MMIO_DISPI) / 2, (uint16_t)val);
    /* The endianness register: only little endian exists here, other values are dropped. */
    pthread_mutex_unlock(&vga->dev.lock);
}

const struct vmm_io_ops vmm_vga_mmio_ops = {.read = mmio_read, .write = mmio_write};

/* Lifecycle ----------------------------------------------------------------- */

static void reset_locked(struct vmm_vga *vga)
{
    memset(&vga->r, 0, sizeof(vga->r));
    vga->r.dac_mask = 0xff;
    vga->r.vbe[VBE_DISPI_INDEX_ID] = VBE_DISPI_ID5;
    vga->r.vbe[VBE_DISPI_INDEX_XRES] = 640;
    vga->r.vbe[VBE_DISPI_INDEX_YRES] = 480;
    vga->r.vbe[VBE_DISPI_INDEX_BPP] = 8;
    vga->regs_gen++;
}

void vmm_vga_reset(struct vmm_vga *vga)
{
    pthread_mutex_lock(&vga->dev.lock);
    reset_locked(vga);
    pthread_mutex_unlock(&vga->dev.lock);
}

/* vmm_pci_bus_reset() holds the function's lock (our dev.lock) around this. */
static void pci_reset(struct vmm_pci_dev *d)
{
    reset_locked((struct vmm_vga *)((char *)d - offsetof(struct vmm_vga, pci)));
}

static const struct vmm_pci_dev_ops vga_pci_ops = {.reset = pci_reset};

int vmm_vga_init(struct vmm_vga *vga, uint32_t vram_size, const uint8_t *rom, size_t rom_len)
{
    int ret;

    if (!vram_size)
        vram_size = VMM_VGA_VRAM_DEFAULT;
    if (vram_size < VMM_VGA_VRAM_MIN || vram_size > VMM_VGA_VRAM_MAX ||
        (vram_size & (vram_size - 1)))
        return -EINVAL;
    memset(vga, 0, sizeof(*vga));
    pthread_mutex_init(&vga->dev.lock, NULL);
    vga->vram = mmap(NULL, vram_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (vga->vram == MAP_FAILED) {
        vga->vram = NULL;
        ret = -ENOMEM;
        goto fail;
    }
    vga->vram_size = vram_size;
    vga->dirty_words = (vram_size / VMM_VGA_PAGE_SIZE + 63) / 64;
    vga->dirty = calloc(vga->dirty_words, sizeof(uint64_t));
    if (!vga->dirty) {
        ret = -ENOMEM;
        goto fail;
    }

    vmm_pci_dev_init(&vga->pci, &vga_pci_ops, &vga->dev.lock, VMM_VGA_VENDOR_ID, VMM_VGA_DEVICE_ID,
                     VMM_VGA_REVISION, VMM_VGA_CLASS, 0);
    ret = vmm_pci_dev_set_bar(&vga->pci, 0, VMM_PCI_BAR_MEM32, VMM_PCI_BAR_PREFETCH, vram_size,
                              &vmm_vga_vram_ops, vga);
    if (!ret)
        ret = vmm_pci_dev_set_bar(&vga->pci, 2, VMM_PCI_BAR_MEM32, 0, VMM_VGA_MMIO_SIZE,
                                  &vmm_vga_mmio_ops, vga);
    if (!ret && rom)
        ret = vmm_pci_dev_set_rom(&vga->pci, rom, rom_len);
    if (ret)
        goto fail;
    vmm_vga_reset(vga);
    return 0;

fail:
    vmm_vga_fini(vga);
    return ret;
}

void vmm_vga_fini(struct vmm_vga *vga)
{
    vmm_vga_render_free(vga);
    if (vga->vram)
        munmap(vga->vram, vga->vram_size);
    vga->vram = NULL;
    free(vga->dirty);
    vga->dirty = NULL;
    pthread_mutex_destroy(&vga->dev.lock);
}

uint8_t *vmm_vga_vram(struct vmm_vga *vga, uint32_t *size)
{
    if (size)
        *size = vga->vram_size;
    return vga->vram;
}
