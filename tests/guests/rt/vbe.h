/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The std-VGA's Bochs VBE ("DISPI") registers and its linear framebuffer,
 * for guests that draw (the demo machine, the display benchmark's guest).
 */
#ifndef GUEST_RT_VBE_H
#define GUEST_RT_VBE_H

#include <stdbool.h>
#include <stdint.h>

#include "io.h"

#define VBE_PCI_ADDR 0xcf8
#define VBE_PCI_DATA 0xcfc
#define VBE_PCI_COMMAND 0x04
#define VBE_PCI_COMMAND_MEMORY 0x02
#define VBE_PCI_BAR0 0x10
#define VBE_STDVGA_ID 0x11111234u /* device 0x1111, vendor 0x1234 */
#define VBE_LFB_FALLBACK 0xe0000000u

#define DISPI_INDEX 0x1ce
#define DISPI_DATA 0x1cf
#define DISPI_ID 0
#define DISPI_XRES 1
#define DISPI_YRES 2
#define DISPI_BPP 3
#define DISPI_ENABLE 4
#define DISPI_VIRT_WIDTH 6
#define DISPI_VIRT_HEIGHT 7
#define DISPI_X_OFFSET 8
#define DISPI_Y_OFFSET 9
#define DISPI_ENABLED 0x01
#define DISPI_LFB_ENABLED 0x40

static inline uint32_t vbe_pci_read(unsigned dev, unsigned reg)
{
    outl(VBE_PCI_ADDR, 0x80000000u | dev << 11 | (reg & 0xfc));
    return inl(VBE_PCI_DATA);
}

static inline void vbe_pci_write(unsigned dev, unsigned reg, uint32_t val)
{
    outl(VBE_PCI_ADDR, 0x80000000u | dev << 11 | (reg & 0xfc));
    outl(VBE_PCI_DATA, val);
}

/*
 * BAR0 of the first std-VGA on bus 0, with memory decoding on; 0 if there is
 * none. A directly booted kernel finds the BAR unassigned (no firmware ran):
 * then it is set, and *assigned (if given) says so.
 */
static inline uint32_t vbe_find_lfb(unsigned *dev_out, bool *assigned)
{
    for (unsigned dev = 0; dev < 32; dev++) {
        if (vbe_pci_read(dev, 0) != VBE_STDVGA_ID)
            continue;
        uint32_t bar = vbe_pci_read(dev, VBE_PCI_BAR0) & ~0xfu;
        if (assigned)
            *assigned = !bar;
        if (!bar) {
            vbe_pci_write(dev, VBE_PCI_BAR0, 0xffffffffu);
            uint32_t size = ~(vbe_pci_read(dev, VBE_PCI_BAR0) & ~0xfu) + 1;
            bar =
                size > 1 && size <= 0x10000000u ? VBE_LFB_FALLBACK & ~(size - 1) : VBE_LFB_FALLBACK;
            vbe_pci_write(dev, VBE_PCI_BAR0, bar);
        }
        vbe_pci_write(dev, VBE_PCI_COMMAND,
                      vbe_pci_read(dev, VBE_PCI_COMMAND) | VBE_PCI_COMMAND_MEMORY);
        if (dev_out)
            *dev_out = dev;
        return bar;
    }
    return 0;
}

static inline void dispi_write(uint16_t index, uint16_t val)
{
    outw(DISPI_INDEX, index);
    outw(DISPI_DATA, val);
}

static inline uint16_t dispi_read(uint16_t index)
{
    outw(DISPI_INDEX, index);
    return inw(DISPI_DATA);
}

#endif
