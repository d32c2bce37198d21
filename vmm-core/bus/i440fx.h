/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_BUS_I440FX_H
#define VMM_BUS_I440FX_H

/*
 * The 82441FX PCI and memory controller (PMC) of the i440FX chipset, as
 * function 00.0 of bus 0: host bridge 8086:1237 rev 02, class 0600.
 * Configuration mechanism #1 itself lives in the PCI core (bus/pci.c).
 *
 * The model records the Programmable Attribute Map (PAM0..6 at 0x59..0x5F):
 * read enable (RE) and write enable (WE) for 13 segments between 768 KiB and
 * 1 MiB, and reports every change to the board, which does the shadowing
 * (RE: reads from RAM instead of the ROM/PCI; WE: writes to RAM instead of
 * being forwarded to PCI and dropped). SMRAM control (0x72) is accepted and
 * stored with its lock semantics; there is no SMM behind it.
 */

#include <stdint.h>

#include "bus/pci.h"

#define VMM_I440FX_VENDOR 0x8086
#define VMM_I440FX_DEVICE 0x1237
#define VMM_I440FX_REVISION 0x02
#define VMM_I440FX_CLASS 0x060000 /* bridge, host */

#define I440FX_PAM0 0x59 /* high nibble: 0F0000-0FFFFF; low nibble reserved */
#define I440FX_PAM6 0x5f
#define I440FX_PAM_RE 0x1 /* per nibble */
#define I440FX_PAM_WE 0x2
#define I440FX_SMRAM 0x72
#define I440FX_SMRAM_D_OPEN 0x40
#define I440FX_SMRAM_D_CLS 0x20
#define I440FX_SMRAM_D_LCK 0x10
#define I440FX_SMRAM_G_SMRAME 0x08
#define I440FX_SMRAM_C_BASE_SEG 0x02 /* hardwired: compatible SMRAM at 0A0000 */

/*
 * Segment 0 is the 64 KiB system BIOS area 0F0000-0FFFFF (PAM0 bits 5:4);
 * segments 1..12 are the 16 KiB blocks 0C0000, 0C4000, ... 0EC000 (PAM1
 * bits 1:0, PAM1 bits 5:4, PAM2 bits 1:0, ... PAM6 bits 5:4).
 */
#define VMM_I440FX_PAM_SEGMENTS 13

enum vmm_pam_attr {
    VMM_PAM_DISABLED = 0,   /* reads and writes go to PCI (the ROM) */
    VMM_PAM_READ_ONLY = 1,  /* RE: reads from RAM, writes to PCI (dropped) */
    VMM_PAM_WRITE_ONLY = 2, /* WE: reads from PCI (the ROM), writes to RAM */
    VMM_PAM_READ_WRITE = 3, /* RAM */
};

/*
 * Called for every segment whose attribute changed: from the vCPU thread of
 * the guest's config write, with the PCI bus lock held, or from
 * vmm_pci_bus_reset()/vmm_i440fx_init(). It may change KVM memory slots
 * (safe while vCPUs run) but must not make PCI config accesses or wait for
 * vCPUs to park.
 */
typedef void (*vmm_pam_fn)(void *opaque, unsigned seg, uint32_t base, uint32_t size,
                           enum vmm_pam_attr attr);

struct vmm_i440fx {
    struct vmm_pci_dev pci;
    vmm_pam_fn pam_cb;
    void *pam_opaque;
    uint8_t pam[VMM_I440FX_PAM_SEGMENTS]; /* what the board was last told */
};

/*
 * Sets up the host bridge and plugs it at 00.0; reports the power-on PAM
 * state (every segment disabled) once through cb. -EEXIST if 00.0 is taken.
 */
VMM_WUR int vmm_i440fx_init(struct vmm_i440fx *h, struct vmm_pci_bus *bus, vmm_pam_fn cb,
                            void *opaque);
/* Base and size of a PAM segment. */
void vmm_i440fx_pam_segment(unsigned seg, uint32_t *base, uint32_t *size);
/* The segment's attribute as the registers say now. */
enum vmm_pam_attr vmm_i440fx_pam_attr(const struct vmm_i440fx *h, unsigned seg);

#endif
