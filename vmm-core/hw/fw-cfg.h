/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_FW_CFG_H
#define VMM_HW_FW_CFG_H

/*
 * QEMU's firmware configuration device (fw_cfg) as SeaBIOS expects it on a
 * PC, following QEMU's docs/specs/fw_cfg.rst:
 *
 *  - selector register at port 0x510 (16-bit write; bit 15 selects the
 *    architecture-specific key space, bit 14, the old write channel, is
 *    ignored), data register at 0x511 (8-bit reads stream the selected item
 *    from the current offset; reads past its end return 0; writes ignored);
 *  - DMA address register at 0x514..0x51B, big-endian: a write of the high
 *    dword at 0x514, then the low dword at 0x518 triggers the transfer
 *    described by the FWCfgDmaAccess structure at that guest address
 *    (control, length, address; big-endian). Reading it returns "QEMU CFG".
 *
 * Items: signature "QEMU" (key 0x0000), feature bitmap 3 (traditional + DMA,
 * key 0x0001), the file directory (key 0x0019: a big-endian count, then
 * 64-byte entries {size, select, reserved, name[56]} sorted by name), files
 * at keys 0x0020 and up in the order they were added, and the well-known
 * keys the board fills in (RAM size, CPU counts, boot menu, kernel/initrd).
 * The item contents are the board's business; for reference, SeaBIOS reads
 * "etc/e820" as packed little-endian {u64 address; u64 length; u32 type}
 * entries and "bootorder" as newline-separated device paths.
 *
 * The model (fw-cfg.c) is driven through vmm_fw_cfg_ops and reads/writes
 * guest RAM through a struct vmm_guest_mem, every address checked with
 * vmm_guest_ptr(). vmm_fw_cfg_type attaches it to a VM.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/device.h"
#include "core/guest-mem.h"
#include "core/iotrap.h"
#include "vmm/vmm.h"

#define VMM_FW_CFG_PORT 0x510 /* selector (16-bit); data at +1 */
#define VMM_FW_CFG_PORT_LEN 2
#define VMM_FW_CFG_DMA_PORT 0x514 /* 64-bit big-endian DMA address */
#define VMM_FW_CFG_DMA_PORT_LEN 8

/* Selector keys (QEMU's numbering, which SeaBIOS and Linux use). */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_UUID 0x02
#define FW_CFG_RAM_SIZE 0x03 /* u64 */
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05 /* u16: CPUs present at boot */
#define FW_CFG_MACHINE_ID 0x06
#define FW_CFG_KERNEL_ADDR 0x07 /* u32 */
#define FW_CFG_KERNEL_SIZE 0x08 /* u32 */
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR 0x0a /* u32 */
#define FW_CFG_INITRD_SIZE 0x0b /* u32 */
#define FW_CFG_BOOT_DEVICE 0x0c
#define FW_CFG_NUMA 0x0d
#define FW_CFG_BOOT_MENU 0x0e /* u16: 1 shows the boot menu */
#define FW_CFG_MAX_CPUS 0x0f  /* u16 */
#define FW_CFG_KERNEL_ENTRY 0x10
#define FW_CFG_KERNEL_DATA 0x11
#define FW_CFG_INITRD_DATA 0x12
#define FW_CFG_CMDLINE_ADDR 0x13
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_SETUP_ADDR 0x16
#define FW_CFG_SETUP_SIZE 0x17
#define FW_CFG_SETUP_DATA 0x18
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ARCH_LOCAL 0x8000
#define FW_CFG_ENTRY_MASK 0x3fff

#define FW_CFG_ID_TRADITIONAL 0x01
#define FW_CFG_ID_DMA 0x02

/* FWCfgDmaAccess.control */
#define FW_CFG_DMA_CTL_ERROR 0x01
#define FW_CFG_DMA_CTL_READ 0x02
#define FW_CFG_DMA_CTL_SKIP 0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE 0x10
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ull /* "QEMU CFG" */

#define VMM_FW_CFG_MAX_NAME 55 /* characters; the directory holds 56 with the NUL */
#define VMM_FW_CFG_MAX_FILES 256
#define VMM_FW_CFG_FIXED_KEYS 0x20     /* generic keys below the files, and arch keys 0x8000.. */
#define VMM_FW_CFG_MAX_ITEM (1u << 30) /* largest item: 1 GiB (initrds) */

/* Called, with the device lock held, after the guest wrote [off, off+len) of a writable item. */
typedef void (*vmm_fw_cfg_write_fn)(void *opaque, uint32_t off, uint32_t len);

struct vmm_fw_cfg_item {
    uint8_t *data; /* NULL: absent */
    uint32_t len;
    bool owned;    /* data is ours to free */
    bool writable; /* the guest may overwrite it in place through DMA WRITE */
    vmm_fw_cfg_write_fn write_cb;
    void *write_opaque;
    char name[VMM_FW_CFG_MAX_NAME + 1]; /* files only */
};

struct vmm_fw_cfg {
    /* First, as for every device; dev.lock guards everything below. */
    struct vmm_device dev;

    const struct vmm_guest_mem *mem;
    struct vmm_fw_cfg_item generic[VMM_FW_CFG_FIXED_KEYS];
    struct vmm_fw_cfg_item arch[VMM_FW_CFG_FIXED_KEYS];
    struct vmm_fw_cfg_item *files; /* key FW_CFG_FILE_FIRST + i */
    unsigned nfiles;

    uint16_t selector;
    uint32_t offset;   /* into the selected item; never past its end */
    uint32_t dma_high; /* DMA address, high half as last written */
};

/*
 * Model without a VM: initialises everything in fw but fw->dev, whose lock
 * must be initialised already (vmm_device_create does; standalone users call
 * pthread_mutex_init). Signature, ID and an empty file directory are
 * present; DMA goes to mem (kept by pointer). vmm_fw_cfg_fini frees the
 * items. -ENOMEM.
 */
VMM_WUR int vmm_fw_cfg_init(struct vmm_fw_cfg *fw, const struct vmm_guest_mem *mem);
void vmm_fw_cfg_fini(struct vmm_fw_cfg *fw);

/*
 * Items. add_bytes copies data; add_bytes_ref borrows it (it must outlive fw:
 * for the kernel and initrd, which the board keeps anyway). key is a generic
 * key below 0x20 other than the signature, ID and file directory, or an
 * architecture key 0x8000..0x801F. -EINVAL for a reserved key or a size over
 * VMM_FW_CFG_MAX_ITEM, -EEXIST if the key is set, -ENOMEM.
 * Numbers (u16/u32/u64) are stored little-endian, as fw_cfg defines them.
 */
VMM_WUR int vmm_fw_cfg_add_bytes(struct vmm_fw_cfg *fw, uint16_t key, const void *data, size_t len);
VMM_WUR int vmm_fw_cfg_add_bytes_ref(struct vmm_fw_cfg *fw, uint16_t key, const void *data,
                                     size_t len);
VMM_WUR int vmm_fw_cfg_add_u16(struct vmm_fw_cfg *fw, uint16_t key, uint16_t val);
VMM_WUR int vmm_fw_cfg_add_u32(struct vmm_fw_cfg *fw, uint16_t key, uint32_t val);
VMM_WUR int vmm_fw_cfg_add_u64(struct vmm_fw_cfg *fw, uint16_t key, uint64_t val);

/*
 * Named files ("bootorder", "etc/e820", "etc/acpi/tables", "genroms/x.bin"):
 * the next free key from 0x20, listed in the directory. The name is 1..55
 * characters. add_file copies data, add_file_ref borrows it.
 * add_file_writable copies it and lets the guest overwrite it in place with
 * DMA WRITE (never resize it); cb (may be NULL) hears of each write.
 * Returns the key (>= 0x20), or -EINVAL (bad name or size), -EEXIST (name
 * taken), -ENOSPC (VMM_FW_CFG_MAX_FILES reached), -ENOMEM.
 */
VMM_WUR int vmm_fw_cfg_add_file(struct vmm_fw_cfg *fw, const char *name, const void *data,
                                size_t len);
VMM_WUR int vmm_fw_cfg_add_file_ref(struct vmm_fw_cfg *fw, const char *name, const void *data,
                                    size_t len);
VMM_WUR int vmm_fw_cfg_add_file_writable(struct vmm_fw_cfg *fw, const char *name, const void *data,
                                         size_t len, vmm_fw_cfg_write_fn cb, void *opaque);

/* Back to power-on: selector 0, offset 0, DMA address 0 (items stay). */
void vmm_fw_cfg_reset(struct vmm_fw_cfg *fw);

/*
 * Port handlers, opaque = fw: vmm_fw_cfg_ops for [0x510, 0x512) (offset 0:
 * selector, 16-bit writes; offset 1: data, byte reads), vmm_fw_cfg_dma_ops
 * for [0x514, 0x51C) (dword writes at offsets 0 and 4).
 */
extern const struct vmm_io_ops vmm_fw_cfg_ops;
extern const struct vmm_io_ops vmm_fw_cfg_dma_ops;

/*
 * The device on a VM: realize claims both port ranges and points DMA at the
 * VM's RAM. The board adds its items through the instance
 * ((struct vmm_fw_cfg *)vmm_device_create(vm, &vmm_fw_cfg_type, err))
 * before the vCPUs start.
 */
extern const struct vmm_device_type vmm_fw_cfg_type;

#endif
