/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_IDE_H
#define VMM_HW_IDE_H

/*
 * The PIIX3 IDE controller (PCI 8086:7010, class 0101, prog-if 0x80) with
 * two legacy channels of two devices each: ATA disks and ATAPI CD/DVD-ROMs.
 *
 * Pure like vmm-core/bus: no VM, no KVM, no logging. The board plugs the
 * PCI function (pci) at slot 1 function 1, registers the legacy ports with
 * vmm_ide_cmd_ops / vmm_ide_ctl_ops (opaque = &ide->ch[n]), hands in the
 * two ISA lines (IRQ 14 and 15, edge triggered: the model raises and lowers
 * them), guest RAM for bus-master DMA, and disks from vmm-core/disk.
 *
 * Channel 0: ports 0x1F0-0x1F7 and 0x3F6, IRQ 14; channel 1: 0x170-0x177
 * and 0x376, IRQ 15. BAR4 is the 16-byte bus-master block (command, status
 * and PRD table address of each channel, channel 1 at +8).
 *
 * I/O runs synchronously on the vCPU thread that wrote the command (PIO) or
 * the bus-master start bit (DMA). Every backend request goes through one
 * submit/complete pair (ide_io_submit / ide_io_complete in ide.c), so an
 * asynchronous backend can later complete on another thread instead; BSY
 * is what the guest would see in between.
 *
 * Locking: dev.lock guards everything; the legacy port ops, the BAR4 ops
 * and the PCI config hooks take or expect it. Lock order dev.lock -> irqchip.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/pci.h"
#include "core/device.h"
#include "core/guest-mem.h"
#include "core/iotrap.h"
#include "core/irq.h"
#include "disk/disk.h"

#define VMM_IDE_VENDOR 0x8086
#define VMM_IDE_DEVICE 0x7010
#define VMM_IDE_CLASS 0x010180 /* mass storage, IDE, legacy channels + bus master */
#define VMM_IDE_SLOT 1
#define VMM_IDE_FUNC 1
#define VMM_IDE_BM_BAR 4
#define VMM_IDE_BM_SIZE 16

#define VMM_IDE_CHANNELS 2
#define VMM_IDE_UNITS 2
#define VMM_IDE_CMD_PORT0 0x1f0
#define VMM_IDE_CTL_PORT0 0x3f6
#define VMM_IDE_CMD_PORT1 0x170
#define VMM_IDE_CTL_PORT1 0x376
#define VMM_IDE_CMD_LEN 8
#define VMM_IDE_CTL_LEN 1
#define VMM_IDE_IRQ0 14
#define VMM_IDE_IRQ1 15

/* PIIX IDE timing registers (config space). */
#define PIIX_IDETIM_PRI 0x40 /* 16 bits */
#define PIIX_IDETIM_SEC 0x42 /* 16 bits */
#define PIIX_SIDETIM 0x44
#define PIIX_IDETIM_DECODE 0x8000 /* IDE decode enable */
#define PIIX_IDETIM_MASK 0xf3ff   /* bits 11:10 are reserved */

/* Command block register offsets (from 0x1F0 / 0x170). */
#define ATA_REG_DATA 0
#define ATA_REG_ERROR 1 /* read; write: features */
#define ATA_REG_NSECT 2
#define ATA_REG_LBAL 3
#define ATA_REG_LBAM 4
#define ATA_REG_LBAH 5
#define ATA_REG_DEVICE 6
#define ATA_REG_STATUS 7 /* read; write: command */

/* Status. */
#define ATA_SR_ERR 0x01
#define ATA_SR_DRQ 0x08
#define ATA_SR_DSC 0x10 /* seek complete / service */
#define ATA_SR_DF 0x20
#define ATA_SR_DRDY 0x40
#define ATA_SR_BSY 0x80

/* Error. */
#define ATA_ER_AMNF 0x01
#define ATA_ER_ABRT 0x04
#define ATA_ER_IDNF 0x10
#define ATA_ER_UNC 0x40

/* Device register. */
#define ATA_DEV_DEV 0x10
#define ATA_DEV_LBA 0x40
#define ATA_DEV_OBS 0xa0

/* Device control register. */
#define ATA_CTL_NIEN 0x02
#define ATA_CTL_SRST 0x04
#define ATA_CTL_HOB 0x80

/* ATAPI interrupt reason (sector count register). */
#define ATAPI_IR_COD 0x01
#define ATAPI_IR_IO 0x02

/* Bus-master IDE registers (offsets in a channel's 8 bytes of BAR4). */
#define BMIDE_CMD 0
#define BMIDE_STATUS 2
#define BMIDE_PRDT 4
#define BMIDE_CMD_START 0x01
#define BMIDE_CMD_TO_MEM 0x08 /* 1: device -> memory (a read) */
#define BMIDE_ST_ACTIVE 0x01
#define BMIDE_ST_ERROR 0x02
#define BMIDE_ST_INTR 0x04
#define BMIDE_ST_DMA0 0x20
#define BMIDE_ST_DMA1 0x40
#define BMIDE_PRD_EOT 0x80000000u
/* A PRD table may not cross a 64 KiB boundary: at most 8192 entries. */
#define BMIDE_PRD_MAX 8192

#define VMM_IDE_SECTOR 512
#define VMM_CD_SECTOR 2048
#define VMM_IDE_MAX_MULT 16     /* sectors per DRQ block for READ/WRITE MULTIPLE */
#define VMM_IDE_BUF_SIZE 65536  /* a drive's PIO / reply buffer */
#define VMM_IDE_CD_CHUNK 32     /* CD sectors per PIO buffer fill */
#define VMM_IDE_DVD_MIN 400000u /* media with more 2 KiB sectors report the DVD-ROM profile */

enum vmm_ide_kind {
    VMM_IDE_NONE = 0,
    VMM_IDE_DISK,
    VMM_IDE_CDROM,
};

/* Called with dev.lock held when the guest ejects a CD (the disk is already closed). */
typedef void (*vmm_ide_eject_fn)(void *opaque, unsigned channel, unsigned unit);

/* What a PIO data phase does when its DRQ block has been moved. */
enum ide_pio_next {
    IDE_PIO_NONE = 0,
    IDE_PIO_END,       /* last block: the command is over */
    IDE_PIO_ATA_READ,  /* read the next block of sectors */
    IDE_PIO_ATA_WRITE, /* write the block just received */
    IDE_PIO_PACKET,    /* the 12-byte CDB has arrived */
    IDE_PIO_ATAPI_IN,  /* next ATAPI data-in block */
};

/* What the next backend completion belongs to. */
enum ide_io_kind {
    IDE_IO_NONE = 0,
    IDE_IO_READ,  /* into buf, for a PIO block */
    IDE_IO_WRITE, /* from buf, a PIO block */
    IDE_IO_FLUSH,
    IDE_IO_DMA, /* a whole bus-master transfer */
    IDE_IO_CD_READ,
};

struct vmm_ide_sense {
    uint8_t key, asc, ascq;
};

struct vmm_ide_channel;

struct vmm_ide_drive {
    struct vmm_ide_channel *ch;
    enum vmm_ide_kind kind;
    unsigned channel, unit;
    struct vmm_disk *disk; /* owned; NULL: no medium (CD) or absent */
    char serial[21], model[41], firmware[9];

    /* ATA geometry and modes. */
    uint64_t nsectors; /* 512-byte sectors (ATA) */
    uint16_t cyls, heads, secs;
    uint16_t cur_cyls, cur_heads, cur_secs; /* INITIALIZE DEVICE PARAMETERS */
    unsigned mult;                          /* sectors per DRQ block, 0: disabled */
    uint8_t xfer_mode; /* SET FEATURES 03h: 0x08|n PIO, 0x20|n MWDMA, 0x40|n UDMA */
    bool wcache;
    bool standby;

    /* Task file as this device latched it: current and previous (HOB) bytes. */
    uint8_t feature, nsect, lbal, lbam, lbah;
    uint8_t hob_feature, hob_nsect, hob_lbal, hob_lbam, hob_lbah;
    uint8_t select, status, error;
    bool irq_pending;

    /* The command in progress. */
    uint8_t cmd;
    uint64_t lba;       /* next sector (ATA) or CD block */
    uint32_t remaining; /* sectors (ATA) or CD blocks still to move */
    unsigned block;     /* sectors per DRQ block (ATA) */
    bool lba48;

    /* PIO: buf[pos, end) is the DRQ block the guest is moving. */
    uint8_t buf[VMM_IDE_BUF_SIZE];
    unsigned pos, end;
    enum ide_pio_next next;
    bool pio_out; /* the guest writes the block (else it reads it) */

    /* ATAPI data-in by PIO: buf[pos, fill) holds data not yet offered. */
    unsigned fill, xpos;
    bool atapi_dma;     /* this PACKET command moves its data by DMA */
    uint32_t bcl;       /* byte count limit of this PACKET command */
    uint64_t cd_left;   /* reply bytes still to read from media (after buf) */
    bool cd_from_media; /* the reply is media data (else buf only) */

    /* DMA waiting for the bus-master start bit (or for a command). */
    bool dma_pending;
    bool dma_write;    /* memory -> device */
    bool dma_from_buf; /* source/sink is buf (ATAPI replies) */
    uint64_t dma_off;  /* byte offset on the medium */
    uint64_t dma_len;  /* bytes to move */
    enum ide_io_kind io;
    unsigned io_count; /* sectors or blocks of the request in flight */

    /* ATAPI. */
    uint8_t cdb[12];
    struct vmm_ide_sense sense;
    bool unit_attention;
    bool locked; /* PREVENT ALLOW MEDIUM REMOVAL */
    bool tray_open;
    uint8_t media_event; /* pending GESN media event code, 0 none */
    bool eject_request;
};

struct vmm_ide;

struct vmm_ide_channel {
    struct vmm_ide *ide;
    unsigned index;
    struct vmm_irq *irq;
    int irq_level; /* what the line was last set to */
    uint8_t ctl;   /* device control register */
    unsigned sel;  /* selected unit */
    struct vmm_ide_drive drive[VMM_IDE_UNITS];

    /* Bus master. */
    uint8_t bm_cmd, bm_status;
    uint32_t bm_prdt;
};

struct vmm_ide {
    /* First, as for every device; dev.lock guards everything below. */
    struct vmm_device dev;
    struct vmm_pci_dev pci;
    const struct vmm_guest_mem *mem;
    vmm_ide_eject_fn eject_cb;
    void *eject_opaque;
    struct vmm_ide_channel ch[VMM_IDE_CHANNELS];
};

/*
 * Sets up the controller at power-on with no drives: PCI function 8086:7010
 * (not plugged: the board calls vmm_pci_bus_add(bus, &ide->pci,
 * VMM_IDE_SLOT, VMM_IDE_FUNC) after attaching drives), BAR4 for bus-master
 * DMA, IDE decode enabled in both timing registers (what a BIOS leaves; a
 * directly booted Linux checks it). irq14 / irq15 drive the channels' ISA
 * lines (either may be NULL). mem is guest RAM for DMA (borrowed).
 */
VMM_WUR int vmm_ide_init(struct vmm_ide *ide, struct vmm_irq *irq14, struct vmm_irq *irq15,
                         const struct vmm_guest_mem *mem);
/* Closes every attached disk. */
void vmm_ide_fini(struct vmm_ide *ide);

/*
 * Attaches a drive (before vCPUs start). kind VMM_IDE_DISK needs a disk;
 * VMM_IDE_CDROM may start empty (disk NULL). The model owns disk from then
 * on (closed by vmm_ide_fini or an eject). serial NULL: one is derived from
 * the position. -EINVAL for bad positions or kinds, -EEXIST if taken.
 */
VMM_WUR int vmm_ide_attach(struct vmm_ide *ide, unsigned channel, unsigned unit,
                           enum vmm_ide_kind kind, struct vmm_disk *disk, const char *serial);

/* Told when the guest ejects a CD (START STOP UNIT); optional. */
void vmm_ide_set_eject_cb(struct vmm_ide *ide, vmm_ide_eject_fn cb, void *opaque);

/*
 * Host media changes on a CD-ROM, any thread. insert takes ownership of disk
 * (closing what was in the drive) and leaves a media-changed unit attention
 * and a new-media event; -EBUSY if the guest locked the tray (disk not
 * taken), -ENODEV if that drive is no CD-ROM. eject closes the medium;
 * with the tray locked and !force it records an eject request event for the
 * guest and returns -EBUSY.
 */
VMM_WUR int vmm_ide_cd_insert(struct vmm_ide *ide, unsigned channel, unsigned unit,
                              struct vmm_disk *disk);
VMM_WUR int vmm_ide_cd_eject(struct vmm_ide *ide, unsigned channel, unsigned unit, bool force);
/* Whether a CD drive holds a medium (false for other drives). */
bool vmm_ide_cd_has_media(struct vmm_ide *ide, unsigned channel, unsigned unit);

/*
 * Machine reset: drives, channels and bus master back to power-on state
 * (media stay in, tray locks are released) and the config space back to its
 * image. vmm_pci_bus_reset() does the same through the PCI reset hook.
 */
void vmm_ide_reset(struct vmm_ide *ide);

/* The legacy ports: opaque = &ide->ch[n]. cmd: 8 ports, ctl: 1 port. */
extern const struct vmm_io_ops vmm_ide_cmd_ops;
extern const struct vmm_io_ops vmm_ide_ctl_ops;
/* BAR4 (also what vmm_ide_init declares for the BAR): opaque = ide. */
extern const struct vmm_io_ops vmm_ide_bm_ops;

#endif
