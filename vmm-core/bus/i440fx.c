/* SPDX-License-Identifier: GPL-2.0-or-later */
/* 82441FX host bridge: PAM and SMRAM registers. See i440fx.h. */
#include "bus/i440fx.h"

#include <errno.h>
#include <stddef.h>

#define PAM_UNKNOWN 0xff

static struct vmm_i440fx *to_i440fx(struct vmm_pci_dev *d)
{
    return (struct vmm_i440fx *)((char *)d - offsetof(struct vmm_i440fx, pci));
}

void vmm_i440fx_pam_segment(unsigned seg, uint32_t *base, uint32_t *size)
{
    if (seg == 0) {
        *base = 0xf0000;
        *size = 0x10000;
    } else {
        *base = 0xc0000 + (seg - 1) * 0x4000;
        *size = 0x4000;
    }
}

/* Register and nibble shift holding a segment's attribute bits. */
static void pam_location(unsigned seg, unsigned *reg, unsigned *shift)
{
    if (seg == 0) {
        *reg = I440FX_PAM0;
        *shift = 4;
    } else {
        *reg = I440FX_PAM0 + 1 + (seg - 1) / 2;
        *shift = (seg - 1) % 2 ? 4 : 0;
    }
}

enum vmm_pam_attr vmm_i440fx_pam_attr(const struct vmm_i440fx *h, unsigned seg)
{
    if (seg >= VMM_I440FX_PAM_SEGMENTS)
        return VMM_PAM_DISABLED;
    unsigned reg, shift;
    pam_location(seg, &reg, &shift);
    return (enum vmm_pam_attr)((vmm_pci_get8(&h->pci, reg) >> shift) &
                               (I440FX_PAM_RE | I440FX_PAM_WE));
}

static void pam_update(struct vmm_i440fx *h)
{
    for (unsigned seg = 0; seg < VMM_I440FX_PAM_SEGMENTS; seg++) {
        enum vmm_pam_attr attr = vmm_i440fx_pam_attr(h, seg);
        if (h->pam[seg] == attr)
            continue;
        h->pam[seg] = (uint8_t)attr;
        if (h->pam_cb) {
            uint32_t base, size;
            vmm_i440fx_pam_segment(seg, &base, &size);
            h->pam_cb(h->pam_opaque, seg, base, size, attr);
        }
    }
}

/*
 * SMRAM: D_LCK can only be set; once set, D_OPEN reads 0 and D_LCK and
 * G_SMRAME become read-only until reset. There is no SMM: the bits are
 * stored so firmware sees its writes, and nothing else happens.
 */
static void smram_update(struct vmm_i440fx *h)
{
    uint8_t v = vmm_pci_get8(&h->pci, I440FX_SMRAM);
    if (v & I440FX_SMRAM_D_LCK) {
        vmm_pci_set8(&h->pci, I440FX_SMRAM, v & (uint8_t)~I440FX_SMRAM_D_OPEN);
        vmm_pci_set_wmask(&h->pci, I440FX_SMRAM, 1, I440FX_SMRAM_D_CLS);
    } else {
        vmm_pci_set_wmask(&h->pci, I440FX_SMRAM, 1,
                          I440FX_SMRAM_D_OPEN | I440FX_SMRAM_D_CLS | I440FX_SMRAM_D_LCK |
                              I440FX_SMRAM_G_SMRAME);
    }
}

static void i440fx_config_write(struct vmm_pci_dev *d, unsigned off, unsigned size)
{
    struct vmm_i440fx *h = to_i440fx(d);
    if (off <= I440FX_PAM6 && off + size > I440FX_PAM0)
        pam_update(h);
    if (off <= I440FX_SMRAM && off + size > I440FX_SMRAM)
        smram_update(h);
}

static void i440fx_reset(struct vmm_pci_dev *d)
{
    struct vmm_i440fx *h = to_i440fx(d);
    smram_update(h);
    pam_update(h);
}

static const struct vmm_pci_dev_ops i440fx_ops = {
    .config_write = i440fx_config_write,
    .reset = i440fx_reset,
};

int vmm_i440fx_init(struct vmm_i440fx *h, struct vmm_pci_bus *bus, vmm_pam_fn cb, void *opaque)
{
    vmm_pci_dev_init(&h->pci, &i440fx_ops, NULL, VMM_I440FX_VENDOR, VMM_I440FX_DEVICE,
                     VMM_I440FX_REVISION, VMM_I440FX_CLASS, PCI_HEADER_TYPE_NORMAL);
    h->pam_cb = cb;
    h->pam_opaque = opaque;
    /* The 82441FX's power-on command and status: memory and bus master on, medium DEVSEL. */
    vmm_pci_set16(&h->pci, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    vmm_pci_set16(&h->pci, PCI_STATUS, PCI_STATUS_FAST_BACK | PCI_STATUS_DEVSEL_MEDIUM);
    /* PAM0's low nibble is reserved; RE/WE of both nibbles elsewhere (bits 2/6 reserved too). */
    /*
     * The subsystem IDs of QEMU's i440FX board: firmware written for that
     * board (SeaBIOS) checks them before it looks for fw_cfg.
     */
    vmm_pci_set16(&h->pci, PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);
    vmm_pci_set16(&h->pci, PCI_SUBSYSTEM_ID, 0x1100);
    vmm_pci_set_wmask(&h->pci, I440FX_PAM0, 1, 0x30);
    for (unsigned reg = I440FX_PAM0 + 1; reg <= I440FX_PAM6; reg++)
        vmm_pci_set_wmask(&h->pci, reg, 1, 0x33);
    vmm_pci_set8(&h->pci, I440FX_SMRAM, I440FX_SMRAM_C_BASE_SEG);
    smram_update(h);
    for (unsigned seg = 0; seg < VMM_I440FX_PAM_SEGMENTS; seg++)
        h->pam[seg] = PAM_UNKNOWN;

    int r = vmm_pci_bus_add(bus, &h->pci, 0, 0);
    if (r < 0)
        return r;
    pam_update(h);
    return 0;
}
