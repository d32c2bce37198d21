/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_VGA_H
#define VMM_HW_VGA_H

/*
 * The std-VGA display adapter (PCI 1234:1111, class 0x030000) with the Bochs
 * VBE "DISPI" extension, as SeaBIOS's vgabios-stdvga.bin and Linux's
 * bochs-drm expect it.
 *
 *  - BAR0: VRAM, 32-bit prefetchable memory (4-256 MiB, a power of two).
 *    The model owns the buffer (mmap, page aligned): the board registers it
 *    as a KVM memory slot with dirty logging at the BAR0 address, so linear
 *    framebuffer accesses never exit.
 *  - BAR2: 4 KiB MMIO: 0x400-0x41F the VGA ports 0x3C0-0x3DF, 0x500-0x515
 *    the DISPI registers as 16-bit words at 0x500 + index * 2, 0x600-0x607
 *    QEMU's extended registers (size, framebuffer endianness: little only).
 *    0x000-0x3FF (EDID) reads as zero, i.e. no EDID.
 *  - Expansion ROM: the VGA BIOS image the board passes in.
 *  - Legacy ports 0x3B0-0x3DF (mono/colour CRTC decode by Misc Output bit
 *    0), DISPI index/data at 0x1CE/0x1CF, and the 0xA0000-0xBFFFF memory
 *    window (trapped: planar access needs the latches and write modes).
 *
 * VRAM layout (internal, as QEMU's): plane p of VGA address a is byte
 * a * 4 + p, so chain-4 (mode 13h) and the DISPI linear framebuffer see the
 * same bytes. CPU addresses are compressed the way the CRTC expands them:
 * chain-4 uses a >> 2, odd/even a >> 1, so the renderer reads the CRTC's
 * address counter directly as a VRAM word index.
 *
 * Pure: no VM, no KVM, no logging. Locking: vga->dev.lock is taken by every
 * I/O op; vmm_vga_render() takes it only to snapshot registers and swap the
 * dirty bitmap, and must be called from one thread at a time.
 *
 * Everything the guest writes is validated: DISPI geometry is clamped so
 * the visible frame lies inside VRAM, legacy scan-out addresses wrap inside
 * the 256 KiB a VGA has, and the renderer bounds every VRAM read and every
 * surface write on top of that.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/pci.h"
#include "core/device.h"
#include "core/iotrap.h"
#include "vmm/vmm.h"

#define VMM_VGA_VENDOR_ID 0x1234
#define VMM_VGA_DEVICE_ID 0x1111
#define VMM_VGA_REVISION 2 /* QEMU's extended registers at BAR2 + 0x600 */
#define VMM_VGA_CLASS 0x030000

#define VMM_VGA_VRAM_DEFAULT (16u << 20)
#define VMM_VGA_VRAM_MIN (4u << 20)
#define VMM_VGA_VRAM_MAX (256u << 20)
#define VMM_VGA_MMIO_SIZE 4096
#define VMM_VGA_PAGE_SIZE 4096 /* dirty tracking granularity */

/* Legacy decode the board claims (ops below). */
#define VMM_VGA_IO_BASE 0x3b0
#define VMM_VGA_IO_LEN 0x30
#define VMM_VGA_DISPI_BASE 0x1ce
#define VMM_VGA_DISPI_LEN 4 /* 0x1CE index, 0x1CF and 0x1D0 data; a word at 0x1CF fits */
#define VMM_VGA_MEM_BASE 0xa0000
#define VMM_VGA_MEM_LEN 0x20000

/* BAR2 layout. */
#define VGA_MMIO_EDID 0x000
#define VGA_MMIO_PORTS 0x400 /* + port - 0x3c0 */
#define VGA_MMIO_DISPI 0x500 /* + index * 2 */
#define VGA_MMIO_QEXT 0x600
#define VGA_QEXT_SIZE 8
#define VGA_QEXT_LITTLE_ENDIAN 0x1e1e1e1e
#define VGA_QEXT_BIG_ENDIAN 0xbebebebe

/* Bochs DISPI. */
#define VBE_DISPI_INDEX_ID 0x0
#define VBE_DISPI_INDEX_XRES 0x1
#define VBE_DISPI_INDEX_YRES 0x2
#define VBE_DISPI_INDEX_BPP 0x3
#define VBE_DISPI_INDEX_ENABLE 0x4
#define VBE_DISPI_INDEX_BANK 0x5
#define VBE_DISPI_INDEX_VIRT_WIDTH 0x6
#define VBE_DISPI_INDEX_VIRT_HEIGHT 0x7
#define VBE_DISPI_INDEX_X_OFFSET 0x8
#define VBE_DISPI_INDEX_Y_OFFSET 0x9
#define VBE_DISPI_INDEX_VIDEO_MEMORY_64K 0xa
#define VBE_DISPI_INDEX_NB 0xb

#define VBE_DISPI_ID0 0xb0c0
#define VBE_DISPI_ID5 0xb0c5 /* the highest this model implements */

#define VBE_DISPI_DISABLED 0x00
#define VBE_DISPI_ENABLED 0x01
#define VBE_DISPI_GETCAPS 0x02
#define VBE_DISPI_8BIT_DAC 0x20
#define VBE_DISPI_LFB_ENABLED 0x40
#define VBE_DISPI_NOCLEARMEM 0x80

#define VBE_DISPI_MAX_XRES 2560
#define VBE_DISPI_MAX_YRES 1600
#define VBE_DISPI_MAX_BPP 32
#define VBE_DISPI_BANK_SIZE 0x10000

/* Register file sizes. */
#define VGA_SEQ_COUNT 5
#define VGA_GC_COUNT 9
#define VGA_CRTC_COUNT 0x19
#define VGA_AR_COUNT 0x15

/* Bits the model and renderer look at. */
#define VGA_MISC_COLOR 0x01 /* CRTC at 0x3Dx, else 0x3Bx */
#define VGA_SR01_8DOT 0x01  /* 8-dot characters, else 9 */
#define VGA_SR01_SCREEN_OFF 0x20
#define VGA_SR04_EXT_MEM 0x02
#define VGA_SR04_SEQ_MODE 0x04 /* 1: sequential, 0: odd/even writes */
#define VGA_SR04_CHAIN4 0x08
#define VGA_GR05_WRITE_MODE 0x03
#define VGA_GR05_READ_MODE 0x08
#define VGA_GR05_ODD_EVEN 0x10
#define VGA_GR05_SHIFT256 0x40
#define VGA_GR06_GRAPHICS 0x01
#define VGA_GR06_MAP_SHIFT 2
#define VGA_AR10_GRAPHICS 0x01
#define VGA_AR10_LINE_GFX 0x04
#define VGA_AR10_BLINK 0x08
#define VGA_AR10_P54S 0x80
#define VGA_AR_INDEX_PAS 0x20 /* palette address source: display on */
#define VGA_CR11_PROTECT 0x80
#define VGA_ST01_DISP_ENABLE 0x01
#define VGA_ST01_V_RETRACE 0x08

/* Guest-visible register state (what a snapshot would save). */
struct vmm_vga_regs {
    uint8_t misc;
    uint8_t fcr; /* feature control */
    uint8_t seq_index, seq[VGA_SEQ_COUNT];
    uint8_t gc_index, gc[VGA_GC_COUNT];
    uint8_t crtc_index, crtc[VGA_CRTC_COUNT];
    uint8_t ar_index, ar[VGA_AR_COUNT];
    bool ar_flip; /* false: the next 0x3C0 write is an index */
    uint8_t st01;
    uint8_t dac_mask;
    uint8_t dac_read_index, dac_write_index, dac_sub;
    bool dac_reading; /* 0x3C7 reads 3 after a read index was set */
    uint8_t dac_cache[3];
    uint8_t palette[256 * 3]; /* as written; 6 significant bits unless 8BIT_DAC */
    uint32_t latch;           /* planes 0..3 in bytes 0..3 */

    uint16_t vbe_index;
    uint16_t vbe[VBE_DISPI_INDEX_NB];
    uint32_t bank_offset; /* bytes, from VBE_DISPI_INDEX_BANK */
};

/* A DISPI mode after validation: what the renderer may show. */
struct vmm_vga_vbe_mode {
    uint32_t xres, yres, bpp;
    uint32_t line_bytes; /* bytes per VRAM line (virtual width) */
    uint64_t start;      /* byte offset of the first visible pixel */
};

struct vmm_vga_render_state; /* vga-render.c */

struct vmm_vga {
    /* First, as for every device; dev.lock guards everything up to `render`. */
    struct vmm_device dev;
    struct vmm_pci_dev pci;

    uint8_t *vram;
    uint32_t vram_size;
    uint64_t *dirty; /* one bit per VRAM page written through trapped paths */
    size_t dirty_words;

    struct vmm_vga_regs r;
    uint32_t regs_gen; /* bumped by every write that may change the picture */
    uint16_t qext_endian;

    /* Renderer's own state: touched only by vmm_vga_render (one thread). */
    struct vmm_vga_render_state *render;
};

/*
 * Allocates VRAM (vram_size: 0 for the default, else a power of two from
 * 4 to 256 MiB) and fills the PCI function: BAR0 VRAM (ops serve reads and
 * writes the board did not map as memory), BAR2 MMIO, the expansion ROM
 * from rom/rom_len when rom is non-NULL (borrowed: keep it alive). The
 * board then plugs vga->pci with vmm_pci_bus_add(). -EINVAL for a bad
 * size, -ENOMEM.
 */
VMM_WUR int vmm_vga_init(struct vmm_vga *vga, uint32_t vram_size, const uint8_t *rom,
                         size_t rom_len);
void vmm_vga_fini(struct vmm_vga *vga);
/*
 * Power-on state of the VGA and DISPI registers (VRAM kept, as on hardware).
 * vmm_pci_bus_reset() does the same through the PCI function's reset hook.
 */
void vmm_vga_reset(struct vmm_vga *vga);

/* The VRAM buffer and its size, for the board's KVM memory slot at BAR0. */
uint8_t *vmm_vga_vram(struct vmm_vga *vga, uint32_t *size);

/*
 * Ops, opaque = the struct vmm_vga:
 *  - vmm_vga_ioport_ops: ports 0x3B0-0x3DF (offset = port - 0x3B0), widths
 *    1/2/4 split into bytes, low byte first.
 *  - vmm_vga_dispi_ops: VMM_VGA_DISPI_LEN ports at 0x1CE: offset 0 the
 *    index, offsets 1 and 2 (0x1CF, 0x1D0) the data; 16-bit registers.
 *  - vmm_vga_mem_ops: the legacy window 0xA0000-0xBFFFF (offset from
 *    0xA0000), any width split into bytes.
 *  - vmm_vga_vram_ops and vmm_vga_mmio_ops: BAR0 and BAR2 (also set on the
 *    PCI function's BARs by vmm_vga_init).
 */
extern const struct vmm_io_ops vmm_vga_ioport_ops;
extern const struct vmm_io_ops vmm_vga_dispi_ops;
extern const struct vmm_io_ops vmm_vga_mem_ops;
extern const struct vmm_io_ops vmm_vga_vram_ops;
extern const struct vmm_io_ops vmm_vga_mmio_ops;

/*
 * Renders what changed since the previous call into the model's XRGB8888
 * surface (valid until the next call) and reports the changed area:
 * *ndamage == 0 when nothing changed; the whole surface after a mode change.
 * kvm_dirty: pages of VRAM written by the guest through the BAR0 memory slot
 * since the previous call (KVM_GET_DIRTY_LOG's bitmap, bit n = VRAM page n,
 * vram_size / 4096 bits), or NULL when the slot is not mapped. now_ns: a
 * monotonic clock for text cursor and character blink. 0, or -ENOMEM (the
 * image is then empty).
 */
VMM_WUR int vmm_vga_render(struct vmm_vga *vga, const uint64_t *kvm_dirty, uint64_t now_ns,
                           struct vmm_display_image *img,
                           struct vmm_rect damage[VMM_DISPLAY_MAX_DAMAGE], unsigned *ndamage);

/* Internal to vga.c / vga-render.c. */
void vmm_vga_vbe_mode(const struct vmm_vga_regs *r, uint32_t vram_size, struct vmm_vga_vbe_mode *m);
void vmm_vga_render_free(struct vmm_vga *vga);

/*
 * The text screen as plain text (CP437 reduced to ASCII, one line per row,
 * trailing blanks dropped), NUL-terminated in out. -ENOTTY outside text
 * modes. Any thread.
 */
VMM_WUR int vmm_vga_text_dump(struct vmm_vga *vga, char *out, size_t cap, unsigned *cols,
                              unsigned *rows);

#endif
