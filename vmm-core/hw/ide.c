/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PIIX3 IDE: the channels' task files, PIO data phases, interrupts, resets,
 * the PCI function and the host API. ATA commands are in ide-ata.c, the
 * bus master in ide-dma.c, ATAPI in atapi.c. See ide.h.
 */
#include "hw/ide-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Interrupts ------------------------------------------------------------------ */

/*
 * INTRQ follows the selected device's pending interrupt, gated by nIEN. The
 * ISA lines are edge triggered: the line only moves on a change, so a new
 * interrupt is an edge only once the guest has read the status register.
 */
void ide_update_irq(struct vmm_ide_channel *ch)
{
    struct vmm_ide_drive *d = &ch->drive[ch->sel];
    int level = d->kind != VMM_IDE_NONE && d->irq_pending && !(ch->ctl & ATA_CTL_NIEN);
    if (level != ch->irq_level) {
        ch->irq_level = level;
        vmm_irq_set(ch->irq, level);
    }
}

void ide_raise(struct vmm_ide_drive *d)
{
    struct vmm_ide_channel *ch = d->ch;
    d->irq_pending = true;
    if (&ch->drive[ch->sel] == d && !(ch->ctl & ATA_CTL_NIEN))
        ch->bm_status |= BMIDE_ST_INTR;
    ide_update_irq(ch);
}

void ide_cmd_ok(struct vmm_ide_drive *d)
{
    d->status = ATA_SR_DRDY | ATA_SR_DSC;
    d->error = 0;
    d->next = IDE_PIO_NONE;
    ide_raise(d);
}

void ide_cmd_error(struct vmm_ide_drive *d, uint8_t error)
{
    d->status = ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR;
    d->error = error;
    d->next = IDE_PIO_NONE;
    d->pos = d->end = 0;
    d->dma_pending = false;
    ide_raise(d);
}

/* PIO ------------------------------------------------------------------------- */

void ide_pio_start(struct vmm_ide_drive *d, unsigned len, enum ide_pio_next next, bool out)
{
    if (len > VMM_IDE_BUF_SIZE)
        len = VMM_IDE_BUF_SIZE;
    d->pos = 0;
    d->end = len;
    d->next = next;
    d->pio_out = out;
    d->status = ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ;
}

/* The guest has moved the whole DRQ block. */
static void pio_block_done(struct vmm_ide_drive *d)
{
    enum ide_pio_next next = d->next;
    d->status &= (uint8_t)~ATA_SR_DRQ;
    d->next = IDE_PIO_NONE;
    d->pos = d->end = 0;
    switch (next) {
    case IDE_PIO_ATA_READ:
    case IDE_PIO_ATA_WRITE:
        d->next = next;
        ide_ata_pio_next(d);
        break;
    case IDE_PIO_PACKET:
        ide_atapi_packet_exec(d);
        break;
    case IDE_PIO_ATAPI_IN:
        ide_atapi_pio_next(d);
        break;
    case IDE_PIO_END:
    case IDE_PIO_NONE:
        d->status = ATA_SR_DRDY | ATA_SR_DSC;
        break;
    }
}

static bool pio_active(struct vmm_ide_drive *d, bool out)
{
    return (d->status & ATA_SR_DRQ) && !(d->status & ATA_SR_BSY) && d->pio_out == out &&
           d->pos < d->end && d->end <= VMM_IDE_BUF_SIZE;
}

static uint16_t data_read16(struct vmm_ide_drive *d)
{
    if (!pio_active(d, false))
        return 0xffff;
    uint16_t v = d->buf[d->pos];
    if (d->pos + 1 < d->end)
        v |= (uint16_t)(d->buf[d->pos + 1] << 8);
    d->pos += 2;
    if (d->pos >= d->end)
        pio_block_done(d);
    return v;
}

static void data_write16(struct vmm_ide_drive *d, uint16_t v)
{
    if (!pio_active(d, true))
        return;
    d->buf[d->pos] = (uint8_t)v;
    if (d->pos + 1 < d->end)
        d->buf[d->pos + 1] = (uint8_t)(v >> 8);
    d->pos += 2;
    if (d->pos >= d->end)
        pio_block_done(d);
}

/* The backend --------------------------------------------------------------- */

void ide_io_submit(struct vmm_ide_drive *d, enum ide_io_kind kind, void *buf, size_t len,
                   uint64_t off)
{
    int ret = 0;
    d->io = kind;
    d->status = ATA_SR_BSY; /* what an asynchronous completion would leave visible meanwhile */
    switch (kind) {
    case IDE_IO_READ:
    case IDE_IO_CD_READ:
        ret = d->disk ? vmm_disk_pread(d->disk, buf, len, off) : -ENOMEDIUM;
        break;
    case IDE_IO_WRITE:
        ret = d->disk ? vmm_disk_pwrite(d->disk, buf, len, off) : -ENOMEDIUM;
        break;
    case IDE_IO_FLUSH:
        ret = d->disk ? vmm_disk_flush(d->disk) : -ENOMEDIUM;
        break;
    case IDE_IO_DMA:
        ret = ide_dma_transfer(d);
        break;
    case IDE_IO_NONE:
        break;
    }
    ide_io_complete(d, ret);
}

void ide_io_complete(struct vmm_ide_drive *d, int ret)
{
    enum ide_io_kind kind = d->io;
    d->io = IDE_IO_NONE;
    if (d->status != ATA_SR_BSY)
        return; /* a reset came first: the result has nobody to go to */
    switch (kind) {
    case IDE_IO_READ:
    case IDE_IO_WRITE:
    case IDE_IO_FLUSH:
        ide_ata_io_done(d, kind, ret);
        break;
    case IDE_IO_CD_READ:
        ide_atapi_io_done(d, ret);
        break;
    case IDE_IO_DMA:
        ide_dma_finish(d, ret);
        if (d->kind == VMM_IDE_CDROM)
            ide_atapi_dma_done(d, ret);
        else
            ide_ata_dma_done(d, ret);
        break;
    case IDE_IO_NONE:
        break;
    }
}

/* Identification helpers -------------------------------------------------------- */

/* ATA strings: two characters a word, the first in the high byte, space padded. */
void ide_padstr(uint16_t *words, unsigned first, const char *s, unsigned len)
{
    size_t n = strlen(s);
    for (unsigned i = 0; i < len; i++) {
        uint8_t c = i < n ? (uint8_t)s[i] : ' ';
        uint16_t *w = &words[first + i / 2];
        if (i & 1)
            *w = (uint16_t)((*w & 0xff00) | c);
        else
            *w = (uint16_t)((*w & 0x00ff) | c << 8);
    }
}

/* Word 255: signature A5h and a checksum making the 512 bytes sum to 0. */
void ide_id_checksum(uint16_t *id)
{
    uint8_t sum = 0xa5;
    for (unsigned i = 0; i < 255; i++)
        sum = (uint8_t)(sum + (id[i] & 0xff) + (id[i] >> 8));
    id[255] = (uint16_t)(((uint8_t)-sum) << 8 | 0xa5);
}

/* Resets ---------------------------------------------------------------------- */

void ide_set_signature(struct vmm_ide_drive *d)
{
    d->nsect = d->lbal = 1;
    d->lbam = d->lbah = 0;
    if (d->kind == VMM_IDE_CDROM) {
        d->lbam = 0x14;
        d->lbah = 0xeb;
    }
    d->hob_feature = d->hob_nsect = d->hob_lbal = d->hob_lbam = d->hob_lbah = 0;
    d->feature = 0;
    d->select = ATA_DEV_OBS;
    d->error = 0x01; /* diagnostics passed */
    d->status = d->kind == VMM_IDE_DISK ? ATA_SR_DRDY | ATA_SR_DSC : 0;
}

/* Ends whatever the drive was doing; registers to their signature. */
static void drive_soft_reset(struct vmm_ide_drive *d)
{
    d->next = IDE_PIO_NONE;
    d->pos = d->end = d->fill = 0;
    d->remaining = 0;
    d->cd_left = 0;
    d->dma_pending = false;
    d->io = IDE_IO_NONE;
    d->irq_pending = false;
    d->cmd = 0;
    ide_set_signature(d);
}

static void drive_power_on(struct vmm_ide_drive *d)
{
    drive_soft_reset(d);
    d->mult = 0;
    d->xfer_mode = 0x0c; /* PIO 4 */
    d->wcache = true;
    d->standby = false;
    if (d->kind == VMM_IDE_DISK)
        ide_ata_geometry(d);
    if (d->kind == VMM_IDE_CDROM)
        ide_atapi_reset(d, true);
}

static void channel_reset(struct vmm_ide_channel *ch)
{
    for (unsigned u = 0; u < VMM_IDE_UNITS; u++)
        drive_power_on(&ch->drive[u]);
    ch->ctl = 0;
    ch->sel = 0;
    ch->bm_cmd = 0;
    ch->bm_status = 0;
    ch->bm_prdt = 0;
    ide_update_irq(ch);
}

static bool channel_empty(const struct vmm_ide_channel *ch)
{
    return ch->drive[0].kind == VMM_IDE_NONE && ch->drive[1].kind == VMM_IDE_NONE;
}

/* SRST 1 -> 0 ends the reset: both devices show their signatures, device 0 selected. */
static void write_ctl(struct vmm_ide_channel *ch, uint8_t val)
{
    bool was = ch->ctl & ATA_CTL_SRST, now = val & ATA_CTL_SRST;
    ch->ctl = val;
    if (!was && now) {
        for (unsigned u = 0; u < VMM_IDE_UNITS; u++) {
            drive_soft_reset(&ch->drive[u]);
            if (ch->drive[u].kind != VMM_IDE_NONE)
                ch->drive[u].status = ATA_SR_BSY;
        }
    } else if (was && !now) {
        for (unsigned u = 0; u < VMM_IDE_UNITS; u++) {
            drive_soft_reset(&ch->drive[u]);
            if (ch->drive[u].kind == VMM_IDE_CDROM)
                ide_atapi_reset(&ch->drive[u], false);
        }
        ch->sel = 0;
    }
    ide_update_irq(ch);
}

/* EXECUTE DEVICE DIAGNOSTIC runs on both devices; device 0 reports. */
static void diagnose(struct vmm_ide_channel *ch)
{
    for (unsigned u = 0; u < VMM_IDE_UNITS; u++)
        drive_soft_reset(&ch->drive[u]);
    ch->sel = 0;
    if (ch->drive[0].kind != VMM_IDE_NONE) {
        if (ch->drive[0].kind == VMM_IDE_DISK)
            ch->drive[0].status = ATA_SR_DRDY | ATA_SR_DSC;
        ide_raise(&ch->drive[0]);
    }
    ide_update_irq(ch);
}

/* Command block --------------------------------------------------------------- */

static void write_command(struct vmm_ide_channel *ch, uint8_t cmd)
{
    struct vmm_ide_drive *d = &ch->drive[ch->sel];
    if (cmd == ATA_CMD_DIAGNOSE && !channel_empty(ch)) {
        diagnose(ch);
        return;
    }
    if (d->kind == VMM_IDE_NONE || (ch->ctl & ATA_CTL_SRST))
        return;
    /* A device takes no command while busy; DEVICE RESET is how ATAPI gets out of one. */
    if ((d->status & (ATA_SR_BSY | ATA_SR_DRQ)) && cmd != ATA_CMD_DEVICE_RESET)
        return;
    d->irq_pending = false;
    ide_update_irq(ch);
    d->cmd = cmd;
    d->error = 0;
    d->dma_pending = false;
    if (d->kind == VMM_IDE_CDROM)
        ide_atapi_command(d, cmd);
    else
        ide_ata_command(d, cmd);
}

static uint8_t read_reg(struct vmm_ide_channel *ch, unsigned reg)
{
    struct vmm_ide_drive *d = &ch->drive[ch->sel];
    bool hob = ch->ctl & ATA_CTL_HOB;

    if (channel_empty(ch))
        return 0x7f; /* the host's pull-down on DD7: no device, never busy */
    switch (reg) {
    case ATA_REG_ERROR:
        return d->error;
    case ATA_REG_NSECT:
        return hob ? d->hob_nsect : d->nsect;
    case ATA_REG_LBAL:
        return hob ? d->hob_lbal : d->lbal;
    case ATA_REG_LBAM:
        return hob ? d->hob_lbam : d->lbam;
    case ATA_REG_LBAH:
        return hob ? d->hob_lbah : d->lbah;
    case ATA_REG_DEVICE:
        return d->select;
    case ATA_REG_STATUS:
        if (d->kind == VMM_IDE_NONE)
            return 0; /* device 0 answers for an absent device 1 */
        d->irq_pending = false;
        ide_update_irq(ch);
        return d->status;
    }
    return 0xff;
}

/* Both devices latch the task file; only the selected one takes the command. */
static void write_reg(struct vmm_ide_channel *ch, unsigned reg, uint8_t val)
{
    if (reg != ATA_REG_STATUS)
        ch->ctl &= (uint8_t)~ATA_CTL_HOB;
    for (unsigned u = 0; u < VMM_IDE_UNITS; u++) {
        struct vmm_ide_drive *d = &ch->drive[u];
        switch (reg) {
        case ATA_REG_ERROR:
            d->hob_feature = d->feature;
            d->feature = val;
            break;
        case ATA_REG_NSECT:
            d->hob_nsect = d->nsect;
            d->nsect = val;
            break;
        case ATA_REG_LBAL:
            d->hob_lbal = d->lbal;
            d->lbal = val;
            break;
        case ATA_REG_LBAM:
            d->hob_lbam = d->lbam;
            d->lbam = val;
            break;
        case ATA_REG_LBAH:
            d->hob_lbah = d->lbah;
            d->lbah = val;
            break;
        case ATA_REG_DEVICE:
            d->select = val | ATA_DEV_OBS;
            break;
        }
    }
    if (reg == ATA_REG_DEVICE) {
        ch->sel = (val & ATA_DEV_DEV) ? 1 : 0;
        ide_update_irq(ch);
    } else if (reg == ATA_REG_STATUS) {
        write_command(ch, val);
    }
}

static uint64_t cmd_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_ide_channel *ch = opaque;
    struct vmm_ide *ide = ch->ide;
    uint64_t v;

    pthread_mutex_lock(&ide->dev.lock);
    if (off == ATA_REG_DATA) {
        struct vmm_ide_drive *d = &ch->drive[ch->sel];
        v = data_read16(d);
        if (size >= 4)
            v |= (uint64_t)data_read16(d) << 16;
        if (size == 1)
            v &= 0xff;
    } else {
        v = read_reg(ch, (unsigned)off & 7);
        if (size > 1)
            v |= ~0ull << 8 & (size >= 8 ? ~0ull : (1ull << (size * 8)) - 1);
    }
    pthread_mutex_unlock(&ide->dev.lock);
    return v;
}

static void cmd_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_ide_channel *ch = opaque;
    struct vmm_ide *ide = ch->ide;

    pthread_mutex_lock(&ide->dev.lock);
    if (off == ATA_REG_DATA) {
        struct vmm_ide_drive *d = &ch->drive[ch->sel];
        data_write16(d, (uint16_t)val);
        if (size >= 4)
            data_write16(d, (uint16_t)(val >> 16));
    } else {
        write_reg(ch, (unsigned)off & 7, (uint8_t)val);
    }
    pthread_mutex_unlock(&ide->dev.lock);
}

static uint64_t ctl_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_ide_channel *ch = opaque;
    uint64_t v;

    pthread_mutex_lock(&ch->ide->dev.lock);
    if (channel_empty(ch))
        v = 0x7f;
    else if (ch->drive[ch->sel].kind == VMM_IDE_NONE)
        v = 0;
    else
        v = ch->drive[ch->sel].status;
    pthread_mutex_unlock(&ch->ide->dev.lock);
    return off == 0 ? v : 0xff;
}

static void ctl_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_ide_channel *ch = opaque;
    if (off != 0)
        return;
    pthread_mutex_lock(&ch->ide->dev.lock);
    write_ctl(ch, (uint8_t)val);
    pthread_mutex_unlock(&ch->ide->dev.lock);
}

const struct vmm_io_ops vmm_ide_cmd_ops = {.read = cmd_read, .write = cmd_write};
const struct vmm_io_ops vmm_ide_ctl_ops = {.read = ctl_read, .write = ctl_write};

/* PCI and the host API ---------------------------------------------------------- */

/* Config reset (vmm_pci_bus_reset): function's lock held. */
static void pci_reset(struct vmm_pci_dev *pci)
{
    struct vmm_ide *ide = (struct vmm_ide *)((char *)pci - offsetof(struct vmm_ide, pci));
    for (unsigned c = 0; c < VMM_IDE_CHANNELS; c++)
        channel_reset(&ide->ch[c]);
}

static const struct vmm_pci_dev_ops ide_pci_ops = {.reset = pci_reset};

int vmm_ide_init(struct vmm_ide *ide, struct vmm_irq *irq14, struct vmm_irq *irq15,
                 const struct vmm_guest_mem *mem)
{
    struct vmm_pci_dev *pci = &ide->pci;

    pthread_mutex_init(&ide->dev.lock, NULL);
    ide->mem = mem;
    ide->eject_cb = NULL;
    ide->eject_opaque = NULL;
    for (unsigned c = 0; c < VMM_IDE_CHANNELS; c++) {
        struct vmm_ide_channel *ch = &ide->ch[c];
        memset(ch, 0, sizeof(*ch));
        ch->ide = ide;
        ch->index = c;
        ch->irq = c == 0 ? irq14 : irq15;
        for (unsigned u = 0; u < VMM_IDE_UNITS; u++) {
            ch->drive[u].ch = ch;
            ch->drive[u].channel = c;
            ch->drive[u].unit = u;
        }
        channel_reset(ch);
    }

    vmm_pci_dev_init(pci, &ide_pci_ops, &ide->dev.lock, VMM_IDE_VENDOR, VMM_IDE_DEVICE, 0,
                     VMM_IDE_CLASS, PCI_HEADER_TYPE_NORMAL);
    vmm_pci_set16(pci, PCI_STATUS, PCI_STATUS_DEVSEL_MEDIUM | PCI_STATUS_FAST_BACK);
    int ret = vmm_pci_dev_set_bar(pci, VMM_IDE_BM_BAR, VMM_PCI_BAR_IO, 0, VMM_IDE_BM_SIZE,
                                  &vmm_ide_bm_ops, ide);
    if (ret < 0) {
        pthread_mutex_destroy(&ide->dev.lock);
        return ret;
    }
    vmm_pci_set16(pci, PIIX_IDETIM_PRI, PIIX_IDETIM_DECODE);
    vmm_pci_set16(pci, PIIX_IDETIM_SEC, PIIX_IDETIM_DECODE);
    vmm_pci_set_wmask(pci, PIIX_IDETIM_PRI, 2, PIIX_IDETIM_MASK);
    vmm_pci_set_wmask(pci, PIIX_IDETIM_SEC, 2, PIIX_IDETIM_MASK);
    vmm_pci_set_wmask(pci, PIIX_SIDETIM, 1, 0xff);
    /* vmm_pci_bus_add() takes the image again; this makes vmm_ide_reset() safe before it. */
    memcpy(pci->reset_image, pci->config, sizeof(pci->reset_image));
    return 0;
}

void vmm_ide_fini(struct vmm_ide *ide)
{
    for (unsigned c = 0; c < VMM_IDE_CHANNELS; c++) {
        for (unsigned u = 0; u < VMM_IDE_UNITS; u++) {
            struct vmm_ide_drive *d = &ide->ch[c].drive[u];
            vmm_disk_close(d->disk);
            d->disk = NULL;
            d->kind = VMM_IDE_NONE;
        }
    }
    pthread_mutex_destroy(&ide->dev.lock);
}

int vmm_ide_attach(struct vmm_ide *ide, unsigned channel, unsigned unit, enum vmm_ide_kind kind,
                   struct vmm_disk *disk, const char *serial)
{
    if (channel >= VMM_IDE_CHANNELS || unit >= VMM_IDE_UNITS)
        return -EINVAL;
    if (kind != VMM_IDE_DISK && kind != VMM_IDE_CDROM)
        return -EINVAL;
    if (kind == VMM_IDE_DISK && !disk)
        return -EINVAL;

    pthread_mutex_lock(&ide->dev.lock);
    struct vmm_ide_drive *d = &ide->ch[channel].drive[unit];
    if (d->kind != VMM_IDE_NONE) {
        pthread_mutex_unlock(&ide->dev.lock);
        return -EEXIST;
    }
    d->kind = kind;
    d->disk = disk;
    if (serial)
        snprintf(d->serial, sizeof(d->serial), "%s", serial);
    else
        snprintf(d->serial, sizeof(d->serial), "TRM%s-%u%u", kind == VMM_IDE_DISK ? "HD" : "CD",
                 channel, unit);
    snprintf(d->model, sizeof(d->model), "%s",
             kind == VMM_IDE_DISK ? "Terrarium HARDDISK" : "Terrarium DVD-ROM");
    snprintf(d->firmware, sizeof(d->firmware), "1.0");
    drive_power_on(d);
    ide_update_irq(&ide->ch[channel]);
    pthread_mutex_unlock(&ide->dev.lock);
    return 0;
}

void vmm_ide_set_eject_cb(struct vmm_ide *ide, vmm_ide_eject_fn cb, void *opaque)
{
    pthread_mutex_lock(&ide->dev.lock);
    ide->eject_cb = cb;
    ide->eject_opaque = opaque;
    pthread_mutex_unlock(&ide->dev.lock);
}

void vmm_ide_reset(struct vmm_ide *ide)
{
    pthread_mutex_lock(&ide->dev.lock);
    vmm_pci_dev_reset(&ide->pci); /* calls pci_reset */
    pthread_mutex_unlock(&ide->dev.lock);
}
