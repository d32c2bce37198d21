/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PIIX bus-master IDE (BAR4): per channel a command byte (start, direction),
 * a status byte (active, error, interrupt, DMA-capable flags) and the PRD
 * table address. A PRD entry is a word-aligned buffer address, a byte count
 * (0 meaning 64 KiB) and the end-of-table bit; a table may not cross a
 * 64 KiB boundary, which also bounds a walk to 8192 entries. See ide.h.
 */
#include "hw/ide-internal.h"

#include <errno.h>
#include <string.h>

void ide_dma_begin(struct vmm_ide_drive *d, bool write, bool from_buf, uint64_t off, uint64_t len)
{
    d->dma_pending = true;
    d->dma_write = write;
    d->dma_from_buf = from_buf;
    d->dma_off = off;
    d->dma_len = len;
    d->status = ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ;
    ide_dma_try(d->ch);
}

/* Runs the selected device's DMA once both the command and the start bit are there. */
void ide_dma_try(struct vmm_ide_channel *ch)
{
    struct vmm_ide_drive *d = &ch->drive[ch->sel];
    if (!d->dma_pending || !(ch->bm_cmd & BMIDE_CMD_START) || !(ch->bm_status & BMIDE_ST_ACTIVE))
        return;
    d->dma_pending = false;
    ide_io_submit(d, IDE_IO_DMA, NULL, 0, 0);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int ide_dma_transfer(struct vmm_ide_drive *d)
{
    struct vmm_ide_channel *ch = d->ch;
    struct vmm_ide *ide = ch->ide;
    const struct vmm_guest_mem *mem = ide->mem;
    bool to_mem = !d->dma_write;
    uint64_t left = d->dma_len, off = d->dma_off, table = ch->bm_prdt;
    size_t bpos = 0;

    if (!mem || !vmm_pci_dev_bus_master(&ide->pci))
        return IDE_DMA_PRD_ERROR; /* no bus master: a master abort */
    if (!!(ch->bm_cmd & BMIDE_CMD_TO_MEM) != to_mem)
        return IDE_DMA_PRD_ERROR;
    if (d->dma_from_buf && d->dma_len > VMM_IDE_BUF_SIZE)
        return IDE_DMA_PRD_ERROR;

    for (unsigned i = 0; i < BMIDE_PRD_MAX; i++) {
        if ((table & 0xffff) + 8u * i + 8 > 0x10000)
            return IDE_DMA_PRD_ERROR; /* the table runs over a 64 KiB boundary */
        const uint8_t *e = vmm_guest_ptr(mem, table + 8u * i, 8);
        if (!e)
            return IDE_DMA_PRD_ERROR;
        uint32_t addr = le32(e) & ~1u;
        uint32_t cnt = (e[4] | (uint32_t)e[5] << 8) & 0xfffe;
        bool eot = le32(e + 4) & BMIDE_PRD_EOT;
        if (!cnt)
            cnt = 0x10000;
        uint32_t chunk = left < cnt ? (uint32_t)left : cnt;
        if (chunk) {
            uint8_t *g = vmm_guest_ptr(mem, addr, chunk);
            if (!g)
                return IDE_DMA_PRD_ERROR;
            int ret = 0;
            if (d->dma_from_buf) {
                if (to_mem)
                    memcpy(g, d->buf + bpos, chunk);
                else
                    memcpy(d->buf + bpos, g, chunk);
                bpos += chunk;
            } else if (!d->disk) {
                ret = -ENOMEDIUM;
            } else if (to_mem) {
                ret = vmm_disk_pread(d->disk, g, chunk, off);
            } else {
                ret = vmm_disk_pwrite(d->disk, g, chunk, off);
            }
            if (ret < 0)
                return ret;
            off += chunk;
            left -= chunk;
        }
        if (!left)
            return eot && chunk == cnt ? 0 : IDE_DMA_PRD_LONGER;
        if (eot)
            return IDE_DMA_PRD_ERROR; /* the table ends before the transfer does */
    }
    return IDE_DMA_PRD_ERROR;
}

void ide_dma_finish(struct vmm_ide_drive *d, int ret)
{
    struct vmm_ide_channel *ch = d->ch;
    if (ret == IDE_DMA_PRD_LONGER)
        return; /* active stays set: the table had room left */
    ch->bm_status &= (uint8_t)~BMIDE_ST_ACTIVE;
    if (ret == IDE_DMA_PRD_ERROR)
        ch->bm_status |= BMIDE_ST_ERROR;
}

/* Registers ------------------------------------------------------------------- */

static uint8_t bm_readb(struct vmm_ide *ide, unsigned off)
{
    struct vmm_ide_channel *ch = &ide->ch[(off >> 3) & 1];
    unsigned r = off & 7;
    switch (r) {
    case BMIDE_CMD:
        return ch->bm_cmd;
    case BMIDE_STATUS:
        return ch->bm_status;
    case BMIDE_PRDT:
    case BMIDE_PRDT + 1:
    case BMIDE_PRDT + 2:
    case BMIDE_PRDT + 3:
        return (uint8_t)(ch->bm_prdt >> (8 * (r - BMIDE_PRDT)));
    }
    return 0;
}

static void bm_write_cmd(struct vmm_ide_channel *ch, uint8_t v)
{
    uint8_t old = ch->bm_cmd;
    v &= BMIDE_CMD_START | BMIDE_CMD_TO_MEM;
    if (old & BMIDE_CMD_START) /* the direction may not change while started */
        v = (uint8_t)((v & BMIDE_CMD_START) | (old & BMIDE_CMD_TO_MEM));
    ch->bm_cmd = v;
    if (!(old & BMIDE_CMD_START) && (v & BMIDE_CMD_START)) {
        ch->bm_status |= BMIDE_ST_ACTIVE;
        ide_dma_try(ch);
    } else if ((old & BMIDE_CMD_START) && !(v & BMIDE_CMD_START)) {
        ch->bm_status &= (uint8_t)~BMIDE_ST_ACTIVE;
    }
}

static void bm_writeb(struct vmm_ide *ide, unsigned off, uint8_t v)
{
    struct vmm_ide_channel *ch = &ide->ch[(off >> 3) & 1];
    unsigned r = off & 7;
    switch (r) {
    case BMIDE_CMD:
        bm_write_cmd(ch, v);
        break;
    case BMIDE_STATUS:
        ch->bm_status = (uint8_t)((ch->bm_status & ~(BMIDE_ST_DMA0 | BMIDE_ST_DMA1)) |
                                  (v & (BMIDE_ST_DMA0 | BMIDE_ST_DMA1)));
        ch->bm_status &= (uint8_t) ~(v & (BMIDE_ST_ERROR | BMIDE_ST_INTR));
        break;
    case BMIDE_PRDT:
    case BMIDE_PRDT + 1:
    case BMIDE_PRDT + 2:
    case BMIDE_PRDT + 3: {
        unsigned sh = 8 * (r - BMIDE_PRDT);
        ch->bm_prdt = (ch->bm_prdt & ~(0xffu << sh)) | (uint32_t)v << sh;
        ch->bm_prdt &= ~3u;
        break;
    }
    }
}

static uint64_t bm_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_ide *ide = opaque;
    uint64_t v = 0;
    pthread_mutex_lock(&ide->dev.lock);
    for (unsigned i = 0; i < size && i < 8; i++) {
        uint64_t o = off + i;
        uint8_t b = o < VMM_IDE_BM_SIZE ? bm_readb(ide, (unsigned)o) : 0xff;
        v |= (uint64_t)b << (8 * i);
    }
    pthread_mutex_unlock(&ide->dev.lock);
    return v;
}

static void bm_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_ide *ide = opaque;
    pthread_mutex_lock(&ide->dev.lock);
    for (unsigned i = 0; i < size && i < 8; i++) {
        uint64_t o = off + i;
        if (o < VMM_IDE_BM_SIZE)
            bm_writeb(ide, (unsigned)o, (uint8_t)(val >> (8 * i)));
    }
    pthread_mutex_unlock(&ide->dev.lock);
}

const struct vmm_io_ops vmm_ide_bm_ops = {.read = bm_read, .write = bm_write};
