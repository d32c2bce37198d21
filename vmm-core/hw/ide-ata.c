/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ATA disk commands: IDENTIFY, PIO and DMA reads and writes with CHS, LBA28
 * and LBA48 addressing, verify, flush, features, power states. See ide.h.
 */
#include "hw/ide-internal.h"

#include <errno.h>
#include <string.h>

#define LBA_INVALID UINT64_MAX
#define LBA28_MAX 0x0fffffffu

enum rw_mode { RW_PIO, RW_MULTI, RW_DMA, RW_VERIFY };

void ide_ata_geometry(struct vmm_ide_drive *d)
{
    uint64_t n = d->disk ? vmm_disk_size(d->disk) / VMM_IDE_SECTOR : 0;
    d->nsectors = n;
    d->heads = 16;
    d->secs = 63;
    uint64_t cyls = n / (16 * 63);
    d->cyls = (uint16_t)(cyls > 16383 ? 16383 : cyls < 1 ? 1 : cyls);
    d->cur_cyls = d->cyls;
    d->cur_heads = d->heads;
    d->cur_secs = d->secs;
}

static uint64_t ata_lba(const struct vmm_ide_drive *d)
{
    if (d->lba48)
        return (uint64_t)d->lbal | (uint64_t)d->lbam << 8 | (uint64_t)d->lbah << 16 |
               (uint64_t)d->hob_lbal << 24 | (uint64_t)d->hob_lbam << 32 |
               (uint64_t)d->hob_lbah << 40;
    if (d->select & ATA_DEV_LBA)
        return (uint64_t)d->lbal | (uint64_t)d->lbam << 8 | (uint64_t)d->lbah << 16 |
               (uint64_t)(d->select & 0x0f) << 24;
    unsigned cyl = d->lbam | d->lbah << 8, head = d->select & 0x0f, sect = d->lbal;
    if (sect == 0 || sect > d->cur_secs || head >= d->cur_heads)
        return LBA_INVALID;
    return ((uint64_t)cyl * d->cur_heads + head) * d->cur_secs + sect - 1;
}

/* Puts an address back into the task file, e.g. where an error happened. */
static void ata_set_lba(struct vmm_ide_drive *d, uint64_t lba)
{
    if (d->lba48) {
        d->lbal = (uint8_t)lba;
        d->lbam = (uint8_t)(lba >> 8);
        d->lbah = (uint8_t)(lba >> 16);
        d->hob_lbal = (uint8_t)(lba >> 24);
        d->hob_lbam = (uint8_t)(lba >> 32);
        d->hob_lbah = (uint8_t)(lba >> 40);
    } else if (d->select & ATA_DEV_LBA) {
        d->lbal = (uint8_t)lba;
        d->lbam = (uint8_t)(lba >> 8);
        d->lbah = (uint8_t)(lba >> 16);
        d->select = (uint8_t)((d->select & 0xf0) | ((lba >> 24) & 0x0f));
    } else if (d->cur_heads && d->cur_secs) {
        uint64_t cyl = lba / ((uint64_t)d->cur_heads * d->cur_secs);
        uint64_t rest = lba % ((uint64_t)d->cur_heads * d->cur_secs);
        d->lbam = (uint8_t)cyl;
        d->lbah = (uint8_t)(cyl >> 8);
        d->select = (uint8_t)((d->select & 0xf0) | ((rest / d->cur_secs) & 0x0f));
        d->lbal = (uint8_t)(rest % d->cur_secs + 1);
    }
}

static uint32_t ata_count(const struct vmm_ide_drive *d)
{
    if (d->lba48) {
        uint32_t n = d->nsect | (uint32_t)d->hob_nsect << 8;
        return n ? n : 65536;
    }
    return d->nsect ? d->nsect : 256;
}

static void error_at(struct vmm_ide_drive *d, uint8_t error)
{
    ata_set_lba(d, d->lba);
    ide_cmd_error(d, error);
}

void ide_ata_identify(struct vmm_ide_drive *d)
{
    uint16_t id[256];
    uint64_t lba28 = d->nsectors > LBA28_MAX ? LBA28_MAX : d->nsectors;
    uint64_t chs = (uint64_t)d->cur_cyls * d->cur_heads * d->cur_secs;

    memset(id, 0, sizeof(id));
    id[0] = 0x0040; /* fixed device */
    id[1] = d->cyls;
    id[3] = d->heads;
    id[6] = d->secs;
    ide_padstr(id, 10, d->serial, 20);
    ide_padstr(id, 23, d->firmware, 8);
    ide_padstr(id, 27, d->model, 40);
    id[47] = 0x8000 | VMM_IDE_MAX_MULT;
    id[49] = 0x0b00; /* IORDY, LBA, DMA */
    id[50] = 0x4000;
    id[51] = id[52] = 0x0200;
    id[53] = 0x0007; /* words 54-58, 64-70 and 88 valid */
    id[54] = d->cur_cyls;
    id[55] = d->cur_heads;
    id[56] = d->cur_secs;
    id[57] = (uint16_t)chs;
    id[58] = (uint16_t)(chs >> 16);
    id[59] = (uint16_t)(d->mult ? 0x0100 | d->mult : 0);
    id[60] = (uint16_t)lba28;
    id[61] = (uint16_t)(lba28 >> 16);
    id[63] = 0x0007; /* multiword DMA 0-2 */
    id[64] = 0x0003; /* PIO 3-4 */
    id[65] = id[66] = id[67] = id[68] = 120;
    id[80] = 0x00f0; /* ATA-4 .. ATA-7 */
    id[82] = 0x4028; /* NOP, write cache, power management */
    id[83] = 0x7400; /* FLUSH CACHE EXT, FLUSH CACHE, LBA48 */
    id[84] = 0x4000;
    id[85] = (uint16_t)(0x4008 | (d->wcache ? 0x0020 : 0));
    id[86] = 0x3400;
    id[87] = 0x4000;
    id[88] = 0x003f; /* UDMA 0-5 */
    if ((d->xfer_mode & 0xf8) == 0x20)
        id[63] |= (uint16_t)(0x100 << (d->xfer_mode & 7));
    else if ((d->xfer_mode & 0xf8) == 0x40)
        id[88] |= (uint16_t)(0x100 << (d->xfer_mode & 7));
    id[93] = 0x6001 | (d->unit ? 0x0100 : 0x0008); /* 80-wire cable, reset results */
    for (unsigned i = 0; i < 4; i++)
        id[100 + i] = (uint16_t)(d->nsectors >> (16 * i));
    ide_id_checksum(id);
    for (unsigned i = 0; i < 256; i++) {
        d->buf[2 * i] = (uint8_t)id[i];
        d->buf[2 * i + 1] = (uint8_t)(id[i] >> 8);
    }
}

static void read_block(struct vmm_ide_drive *d)
{
    uint32_t k = d->remaining < d->block ? d->remaining : d->block;
    d->io_count = k;
    ide_io_submit(d, IDE_IO_READ, d->buf, (size_t)k * VMM_IDE_SECTOR, d->lba * VMM_IDE_SECTOR);
}

static void expect_write_block(struct vmm_ide_drive *d)
{
    uint32_t k = d->remaining < d->block ? d->remaining : d->block;
    d->io_count = k;
    ide_pio_start(d, k * VMM_IDE_SECTOR, IDE_PIO_ATA_WRITE, true);
}

static void ata_rw(struct vmm_ide_drive *d, bool lba48, bool write, enum rw_mode mode)
{
    d->lba48 = lba48;
    uint64_t lba = ata_lba(d);
    uint32_t n = ata_count(d);

    if (mode == RW_MULTI && !d->mult) {
        ide_cmd_error(d, ATA_ER_ABRT);
        return;
    }
    if (write && (!d->disk || vmm_disk_is_read_only(d->disk))) {
        ide_cmd_error(d, ATA_ER_ABRT);
        return;
    }
    if (lba == LBA_INVALID || lba > d->nsectors || n > d->nsectors - lba) {
        ide_cmd_error(d, ATA_ER_IDNF);
        return;
    }
    d->standby = false;
    d->lba = lba;
    d->remaining = n;
    d->block = mode == RW_MULTI ? d->mult : 1;
    switch (mode) {
    case RW_VERIFY:
        ide_cmd_ok(d);
        break;
    case RW_DMA:
        ide_dma_begin(d, write, false, lba * VMM_IDE_SECTOR, (uint64_t)n * VMM_IDE_SECTOR);
        break;
    case RW_PIO:
    case RW_MULTI:
        if (write)
            expect_write_block(d);
        else
            read_block(d);
        break;
    }
}

void ide_ata_pio_next(struct vmm_ide_drive *d)
{
    enum ide_pio_next next = d->next;
    d->next = IDE_PIO_NONE;
    if (next == IDE_PIO_ATA_READ)
        read_block(d);
    else
        ide_io_submit(d, IDE_IO_WRITE, d->buf, (size_t)d->io_count * VMM_IDE_SECTOR,
                      d->lba * VMM_IDE_SECTOR);
}

void ide_ata_io_done(struct vmm_ide_drive *d, enum ide_io_kind kind, int ret)
{
    if (kind == IDE_IO_FLUSH) {
        if (ret < 0)
            ide_cmd_error(d, ATA_ER_ABRT);
        else
            ide_cmd_ok(d);
        return;
    }
    if (ret < 0) {
        error_at(d, ATA_ER_UNC);
        return;
    }
    uint32_t k = d->io_count;
    d->lba += k;
    d->remaining -= k;
    if (kind == IDE_IO_READ) {
        ide_pio_start(d, k * VMM_IDE_SECTOR, d->remaining ? IDE_PIO_ATA_READ : IDE_PIO_END, false);
        ide_raise(d);
    } else if (d->remaining) {
        expect_write_block(d);
        ide_raise(d);
    } else {
        ide_cmd_ok(d);
    }
}

void ide_ata_dma_done(struct vmm_ide_drive *d, int ret)
{
    if (ret == IDE_DMA_PRD_ERROR)
        ide_cmd_error(d, ATA_ER_ABRT);
    else if (ret < 0)
        error_at(d, ATA_ER_UNC);
    else
        ide_cmd_ok(d);
}

void ide_ata_set_features(struct vmm_ide_drive *d)
{
    switch (d->feature) {
    case ATA_SF_WCACHE_ON:
    case ATA_SF_WCACHE_OFF:
        d->wcache = d->feature == ATA_SF_WCACHE_ON;
        ide_cmd_ok(d);
        return;
    case ATA_SF_XFER_MODE: {
        uint8_t v = d->nsect, n = v & 7;
        bool ok = (v >> 3 == 0 && n <= 1) || (v >> 3 == 1 && n <= 4) || (v >> 3 == 4 && n <= 2) ||
                  (v >> 3 == 8 && n <= 5);
        if (!ok)
            break;
        d->xfer_mode = v >> 3 == 0 ? 0x0c : v;
        ide_cmd_ok(d);
        return;
    }
    case ATA_SF_LOOKAHEAD_ON:
    case ATA_SF_LOOKAHEAD_OFF:
    case ATA_SF_REVERT_ON:
    case ATA_SF_REVERT_OFF:
        ide_cmd_ok(d);
        return;
    }
    ide_cmd_error(d, ATA_ER_ABRT);
}

static void init_params(struct vmm_ide_drive *d)
{
    unsigned heads = (d->select & 0x0f) + 1u, secs = d->nsect;
    if (!secs) {
        ide_cmd_error(d, ATA_ER_ABRT);
        return;
    }
    uint64_t cyls = d->nsectors / (heads * secs);
    d->cur_heads = (uint16_t)heads;
    d->cur_secs = (uint16_t)secs;
    d->cur_cyls = (uint16_t)(cyls > 65535 ? 65535 : cyls);
    ide_cmd_ok(d);
}

static void set_multiple(struct vmm_ide_drive *d)
{
    unsigned n = d->nsect;
    if (n > VMM_IDE_MAX_MULT || (n & (n - 1))) {
        ide_cmd_error(d, ATA_ER_ABRT);
        return;
    }
    d->mult = n;
    ide_cmd_ok(d);
}

static void seek(struct vmm_ide_drive *d)
{
    d->lba48 = false;
    uint64_t lba = ata_lba(d);
    if (lba == LBA_INVALID || lba >= d->nsectors)
        ide_cmd_error(d, ATA_ER_IDNF);
    else
        ide_cmd_ok(d);
}

void ide_ata_command(struct vmm_ide_drive *d, uint8_t cmd)
{
    if (cmd >= ATA_CMD_RECALIBRATE && cmd <= ATA_CMD_RECALIBRATE + 0x0f) {
        d->lbam = d->lbah = 0;
        ide_cmd_ok(d);
        return;
    }
    switch (cmd) {
    case ATA_CMD_IDENTIFY:
        ide_ata_identify(d);
        ide_pio_start(d, 512, IDE_PIO_END, false);
        ide_raise(d);
        break;
    case ATA_CMD_READ:
    case ATA_CMD_READ_NORETRY:
        ata_rw(d, false, false, RW_PIO);
        break;
    case ATA_CMD_READ_EXT:
        ata_rw(d, true, false, RW_PIO);
        break;
    case ATA_CMD_WRITE:
    case ATA_CMD_WRITE_NORETRY:
        ata_rw(d, false, true, RW_PIO);
        break;
    case ATA_CMD_WRITE_EXT:
        ata_rw(d, true, true, RW_PIO);
        break;
    case ATA_CMD_READ_MULTI:
        ata_rw(d, false, false, RW_MULTI);
        break;
    case ATA_CMD_READ_MULTI_EXT:
        ata_rw(d, true, false, RW_MULTI);
        break;
    case ATA_CMD_WRITE_MULTI:
        ata_rw(d, false, true, RW_MULTI);
        break;
    case ATA_CMD_WRITE_MULTI_EXT:
        ata_rw(d, true, true, RW_MULTI);
        break;
    case ATA_CMD_READ_DMA:
    case ATA_CMD_READ_DMA_NORETRY:
        ata_rw(d, false, false, RW_DMA);
        break;
    case ATA_CMD_READ_DMA_EXT:
        ata_rw(d, true, false, RW_DMA);
        break;
    case ATA_CMD_WRITE_DMA:
    case ATA_CMD_WRITE_DMA_NORETRY:
        ata_rw(d, false, true, RW_DMA);
        break;
    case ATA_CMD_WRITE_DMA_EXT:
        ata_rw(d, true, true, RW_DMA);
        break;
    case ATA_CMD_VERIFY:
    case ATA_CMD_VERIFY_NORETRY:
        ata_rw(d, false, false, RW_VERIFY);
        break;
    case ATA_CMD_VERIFY_EXT:
        ata_rw(d, true, false, RW_VERIFY);
        break;
    case ATA_CMD_SET_MULTI:
        set_multiple(d);
        break;
    case ATA_CMD_FLUSH:
    case ATA_CMD_FLUSH_EXT:
        ide_io_submit(d, IDE_IO_FLUSH, NULL, 0, 0);
        break;
    case ATA_CMD_SET_FEATURES:
        ide_ata_set_features(d);
        break;
    case ATA_CMD_INIT_PARAMS:
        init_params(d);
        break;
    case ATA_CMD_SEEK:
        seek(d);
        break;
    case ATA_CMD_STANDBY:
    case ATA_CMD_STANDBY_NOW:
        d->standby = true;
        ide_cmd_ok(d);
        break;
    case ATA_CMD_IDLE:
    case ATA_CMD_IDLE_NOW:
        d->standby = false;
        ide_cmd_ok(d);
        break;
    case ATA_CMD_CHECK_POWER:
        d->nsect = d->standby ? 0x00 : 0xff;
        ide_cmd_ok(d);
        break;
    default:
        /* NOP, DEVICE RESET, PACKET, IDENTIFY PACKET DEVICE and the unknown. */
        ide_cmd_error(d, ATA_ER_ABRT);
        break;
    }
}
