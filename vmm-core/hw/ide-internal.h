/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared between the IDE model's files (ide.c, ide-ata.c, ide-dma.c, atapi.c); dev.lock held. */
#ifndef VMM_HW_IDE_INTERNAL_H
#define VMM_HW_IDE_INTERNAL_H

#include "hw/ide.h"

/* ATA commands. */
#define ATA_CMD_NOP 0x00
#define ATA_CMD_DEVICE_RESET 0x08
#define ATA_CMD_RECALIBRATE 0x10 /* 0x10-0x1f */
#define ATA_CMD_READ 0x20
#define ATA_CMD_READ_NORETRY 0x21
#define ATA_CMD_READ_EXT 0x24
#define ATA_CMD_READ_DMA_EXT 0x25
#define ATA_CMD_READ_MULTI_EXT 0x29
#define ATA_CMD_WRITE 0x30
#define ATA_CMD_WRITE_NORETRY 0x31
#define ATA_CMD_WRITE_EXT 0x34
#define ATA_CMD_WRITE_DMA_EXT 0x35
#define ATA_CMD_WRITE_MULTI_EXT 0x39
#define ATA_CMD_VERIFY 0x40
#define ATA_CMD_VERIFY_NORETRY 0x41
#define ATA_CMD_VERIFY_EXT 0x42
#define ATA_CMD_SEEK 0x70
#define ATA_CMD_DIAGNOSE 0x90
#define ATA_CMD_INIT_PARAMS 0x91
#define ATA_CMD_PACKET 0xa0
#define ATA_CMD_ID_PACKET 0xa1
#define ATA_CMD_READ_MULTI 0xc4
#define ATA_CMD_WRITE_MULTI 0xc5
#define ATA_CMD_SET_MULTI 0xc6
#define ATA_CMD_READ_DMA 0xc8
#define ATA_CMD_READ_DMA_NORETRY 0xc9
#define ATA_CMD_WRITE_DMA 0xca
#define ATA_CMD_WRITE_DMA_NORETRY 0xcb
#define ATA_CMD_STANDBY_NOW 0xe0
#define ATA_CMD_IDLE_NOW 0xe1
#define ATA_CMD_STANDBY 0xe2
#define ATA_CMD_IDLE 0xe3
#define ATA_CMD_CHECK_POWER 0xe5
#define ATA_CMD_FLUSH 0xe7
#define ATA_CMD_FLUSH_EXT 0xea
#define ATA_CMD_IDENTIFY 0xec
#define ATA_CMD_SET_FEATURES 0xef

/* SET FEATURES subcommands. */
#define ATA_SF_WCACHE_ON 0x02
#define ATA_SF_XFER_MODE 0x03
#define ATA_SF_LOOKAHEAD_OFF 0x55
#define ATA_SF_REVERT_OFF 0x66
#define ATA_SF_WCACHE_OFF 0x82
#define ATA_SF_LOOKAHEAD_ON 0xaa
#define ATA_SF_REVERT_ON 0xcc

static inline struct vmm_ide *ide_of(struct vmm_ide_drive *d)
{
    return d->ch->ide;
}

/* ide.c */
void ide_update_irq(struct vmm_ide_channel *ch);
void ide_raise(struct vmm_ide_drive *d);
void ide_cmd_ok(struct vmm_ide_drive *d);
void ide_cmd_error(struct vmm_ide_drive *d, uint8_t error);
/* A DRQ block of buf[0, len); out: the guest writes it. */
void ide_pio_start(struct vmm_ide_drive *d, unsigned len, enum ide_pio_next next, bool out);
void ide_set_signature(struct vmm_ide_drive *d);
void ide_padstr(uint16_t *words, unsigned first, const char *s, unsigned len);
void ide_id_checksum(uint16_t *id);
/* The one backend path: performs the request, then ide_io_complete(). */
void ide_io_submit(struct vmm_ide_drive *d, enum ide_io_kind kind, void *buf, size_t len,
                   uint64_t off);
void ide_io_complete(struct vmm_ide_drive *d, int ret);

/* ide-ata.c */
void ide_ata_command(struct vmm_ide_drive *d, uint8_t cmd);
void ide_ata_identify(struct vmm_ide_drive *d);
void ide_ata_pio_next(struct vmm_ide_drive *d);
void ide_ata_io_done(struct vmm_ide_drive *d, enum ide_io_kind kind, int ret);
void ide_ata_dma_done(struct vmm_ide_drive *d, int ret);
void ide_ata_geometry(struct vmm_ide_drive *d);
void ide_ata_set_features(struct vmm_ide_drive *d);

/* ide-dma.c: a DMA command is ready on d; runs when the bus master is started. */
void ide_dma_begin(struct vmm_ide_drive *d, bool write, bool from_buf, uint64_t off, uint64_t len);
void ide_dma_try(struct vmm_ide_channel *ch);
/* Runs the transfer of d's pending DMA; returns what ide_io_complete gets. */
int ide_dma_transfer(struct vmm_ide_drive *d);
/* After the device finished: bus-master status for a transfer that ended with ret. */
void ide_dma_finish(struct vmm_ide_drive *d, int ret);

/* atapi.c */
void ide_atapi_command(struct vmm_ide_drive *d, uint8_t cmd);
void ide_atapi_packet_exec(struct vmm_ide_drive *d);
void ide_atapi_pio_next(struct vmm_ide_drive *d);
void ide_atapi_io_done(struct vmm_ide_drive *d, int ret);
void ide_atapi_dma_done(struct vmm_ide_drive *d, int ret);
void ide_atapi_reset(struct vmm_ide_drive *d, bool power_on);

/* ide_dma_transfer() results besides 0 (exact) and -errno from the backend. */
#define IDE_DMA_PRD_LONGER 1 /* the PRD table is larger than the transfer */
#define IDE_DMA_PRD_ERROR 2  /* bad table: short, outside RAM, crossing 64 KiB, no bus master */

#endif
