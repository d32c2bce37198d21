/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ATAPI CD/DVD-ROM: the ATA commands a packet device takes, the PACKET
 * protocol (12-byte CDB, PIO data-in in DRQ blocks no larger than the
 * host's byte count limit, or DMA) and the MMC commands a BIOS, Linux's sr
 * and installers use, with sense data, unit attention after a media change
 * and polled media events. Media are 2048-byte sectors of an ISO image.
 */
#include "hw/ide-internal.h"

#include <errno.h>
#include <string.h>

/* MMC / SPC opcodes. */
#define GPCMD_TEST_UNIT_READY 0x00
#define GPCMD_REQUEST_SENSE 0x03
#define GPCMD_INQUIRY 0x12
#define GPCMD_MODE_SENSE_6 0x1a
#define GPCMD_START_STOP_UNIT 0x1b
#define GPCMD_PREVENT_ALLOW 0x1e
#define GPCMD_READ_CAPACITY 0x25
#define GPCMD_READ_10 0x28
#define GPCMD_SEEK_10 0x2b
#define GPCMD_READ_TOC 0x43
#define GPCMD_GET_CONFIGURATION 0x46
#define GPCMD_GET_EVENT_STATUS 0x4a
#define GPCMD_READ_DISC_INFO 0x51
#define GPCMD_MODE_SENSE_10 0x5a
#define GPCMD_READ_12 0xa8
#define GPCMD_SET_SPEED 0xbb
#define GPCMD_MECHANISM_STATUS 0xbd
#define GPCMD_READ_CD 0xbe

/* Sense keys and additional sense codes. */
#define SENSE_NONE 0x00
#define SENSE_NOT_READY 0x02
#define SENSE_MEDIUM_ERROR 0x03
#define SENSE_ILLEGAL_REQUEST 0x05
#define SENSE_UNIT_ATTENTION 0x06
#define SENSE_ABORTED_COMMAND 0x0b
#define ASC_READ_ERROR 0x11
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD 0x24
#define ASC_MEDIUM_CHANGED 0x28
#define ASC_SAVING_NOT_SUPPORTED 0x39
#define ASC_MEDIUM_NOT_PRESENT 0x3a
#define ASC_REMOVAL_PREVENTED 0x53
#define ASC_ILLEGAL_MODE 0x64

/* GET EVENT STATUS NOTIFICATION media event codes. */
#define MEC_EJECT_REQUEST 1
#define MEC_NEW_MEDIA 2
#define MEC_MEDIA_REMOVAL 3

#define PROFILE_CDROM 0x0008
#define PROFILE_DVDROM 0x0010

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

static uint32_t cd_blocks(const struct vmm_ide_drive *d)
{
    uint64_t n = d->disk ? vmm_disk_size(d->disk) / VMM_CD_SECTOR : 0;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Completion ------------------------------------------------------------------ */

static void atapi_ok(struct vmm_ide_drive *d)
{
    d->nsect = ATAPI_IR_IO | ATAPI_IR_COD;
    ide_cmd_ok(d);
}

static void atapi_error(struct vmm_ide_drive *d, uint8_t key, uint8_t asc, uint8_t ascq)
{
    d->sense = (struct vmm_ide_sense){key, asc, ascq};
    d->nsect = ATAPI_IR_IO | ATAPI_IR_COD;
    d->cd_left = 0;
    d->remaining = 0;
    ide_cmd_error(d, (uint8_t)(key << 4 | ATA_ER_ABRT));
}

static void invalid_field(struct vmm_ide_drive *d)
{
    atapi_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
}

/* Offers the next DRQ block of buf[xpos, fill), refills from media, or ends the command. */
static void send_block(struct vmm_ide_drive *d)
{
    if (d->xpos >= d->fill) {
        if (d->cd_from_media && d->remaining) {
            uint32_t k = d->remaining < VMM_IDE_CD_CHUNK ? d->remaining : VMM_IDE_CD_CHUNK;
            d->io_count = k;
            ide_io_submit(d, IDE_IO_CD_READ, d->buf, (size_t)k * VMM_CD_SECTOR,
                          d->lba * VMM_CD_SECTOR);
        } else {
            atapi_ok(d);
        }
        return;
    }
    unsigned lim = d->bcl & ~1u;
    if (d->bcl == 0 || d->bcl == 0xffff)
        lim = 0xfffe;
    if (lim < 2)
        lim = 2;
    unsigned n = d->fill - d->xpos;
    if (n > lim)
        n = lim;
    ide_pio_start(d, 0, IDE_PIO_ATAPI_IN, false);
    d->pos = d->xpos;
    d->end = d->xpos + n;
    d->xpos += n;
    d->nsect = ATAPI_IR_IO;
    d->lbam = (uint8_t)n;
    d->lbah = (uint8_t)(n >> 8);
    ide_raise(d);
}

void ide_atapi_pio_next(struct vmm_ide_drive *d)
{
    send_block(d);
}

void ide_atapi_io_done(struct vmm_ide_drive *d, int ret)
{
    if (ret < 0) {
        atapi_error(d, SENSE_MEDIUM_ERROR, ASC_READ_ERROR, 0);
        return;
    }
    d->lba += d->io_count;
    d->remaining -= d->io_count;
    d->fill = d->io_count * VMM_CD_SECTOR;
    d->xpos = 0;
    send_block(d);
}

void ide_atapi_dma_done(struct vmm_ide_drive *d, int ret)
{
    if (ret == IDE_DMA_PRD_ERROR)
        atapi_error(d, SENSE_ABORTED_COMMAND, 0, 0);
    else if (ret < 0)
        atapi_error(d, SENSE_MEDIUM_ERROR, ASC_READ_ERROR, 0);
    else
        atapi_ok(d);
}

/* Sends buf[0, len), cut to the allocation length. */
static void reply(struct vmm_ide_drive *d, unsigned len, unsigned alloc)
{
    if (len > alloc)
        len = alloc;
    if (len > VMM_IDE_BUF_SIZE)
        len = VMM_IDE_BUF_SIZE;
    if (!len) {
        atapi_ok(d);
        return;
    }
    d->cd_from_media = false;
    d->remaining = 0;
    if (d->atapi_dma) {
        ide_dma_begin(d, false, true, 0, len);
        return;
    }
    d->fill = len;
    d->xpos = 0;
    send_block(d);
}

static void cd_read(struct vmm_ide_drive *d, uint32_t lba, uint32_t n)
{
    uint32_t blocks = cd_blocks(d);
    if (lba > blocks || n > blocks - lba) {
        atapi_error(d, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
        return;
    }
    if (!n) {
        atapi_ok(d);
        return;
    }
    if (d->atapi_dma) {
        ide_dma_begin(d, false, false, (uint64_t)lba * VMM_CD_SECTOR, (uint64_t)n * VMM_CD_SECTOR);
        return;
    }
    d->lba = lba;
    d->remaining = n;
    d->cd_from_media = true;
    d->fill = d->xpos = 0;
    send_block(d);
}

/* Replies --------------------------------------------------------------------- */

static void inquiry(struct vmm_ide_drive *d, const uint8_t *cdb)
{
    uint8_t *b = d->buf;
    if (cdb[1] & 1) { /* no vital product data pages */
        invalid_field(d);
        return;
    }
    memset(b, 0, 36);
    b[0] = 0x05; /* CD/DVD device */
    b[1] = 0x80; /* removable */
    b[3] = 0x21; /* ATAPI, response data format 1 */
    b[4] = 31;
    memcpy(b + 8, "TRRARIUM", 8);
    memcpy(b + 16, "Terrarium DVD   ", 16);
    memcpy(b + 32, "1.0 ", 4);
    reply(d, 36, be16(cdb + 3));
}

static void request_sense(struct vmm_ide_drive *d, const uint8_t *cdb)
{
    uint8_t *b = d->buf;
    if (d->sense.key == SENSE_NONE && d->unit_attention) {
        d->sense = (struct vmm_ide_sense){SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0};
        d->unit_attention = false;
    }
    memset(b, 0, 18);
    b[0] = 0x70; /* current error, fixed format */
    b[2] = d->sense.key;
    b[7] = 10;
    b[12] = d->sense.asc;
    b[13] = d->sense.ascq;
    d->sense = (struct vmm_ide_sense){0, 0, 0};
    reply(d, 18, cdb[4]);
}

static void read_capacity(struct vmm_ide_drive *d)
{
    uint32_t blocks = cd_blocks(d);
    put32(d->buf, blocks ? blocks - 1 : 0);
    put32(d->buf + 4, VMM_CD_SECTOR);
    reply(d, 8, 8);
}

/* One mode page at p; its length, or 0 for a page not implemented. */
static unsigned mode_page(struct vmm_ide_drive *d, unsigned page, unsigned pc, uint8_t *p)
{
    unsigned len = 0;
    if (page == 0x01) {
        static const uint8_t err_recovery[8] = {0x01, 0x06, 0x00, 0x05, 0, 0, 0, 0};
        memcpy(p, err_recovery, sizeof(err_recovery));
        len = sizeof(err_recovery);
    } else if (page == 0x2a) {
        len = 22;
        memset(p, 0, len);
        p[0] = 0x2a;
        p[1] = 0x14;
        p[2] = 0x3b; /* reads CD-R, CD-RW, DVD-ROM, DVD-R, DVD-RAM */
        p[4] = 0x70; /* mode 2 form 1 and 2, multi-session */
        p[6] = (uint8_t)(0x29 | (d->locked ? 0x02 : 0)); /* tray, eject, lock (state) */
        put16(p + 8, 706);                               /* max read speed, kB/s (4x) */
        put16(p + 12, 512);                              /* buffer, KiB */
        put16(p + 14, 706);                              /* current read speed */
    }
    if (len && pc == 1)
        memset(p + 2, 0, len - 2); /* changeable: nothing */
    return len;
}

static void mode_sense(struct vmm_ide_drive *d, const uint8_t *cdb, bool ten)
{
    unsigned page = cdb[2] & 0x3f, pc = cdb[2] >> 6;
    unsigned hdr = ten ? 8 : 4, len = hdr;
    uint8_t *b = d->buf;

    if (pc == 3) {
        atapi_error(d, SENSE_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED, 0);
        return;
    }
    memset(b, 0, hdr);
    if (page == 0x3f) {
        len += mode_page(d, 0x01, pc, b + len);
        len += mode_page(d, 0x2a, pc, b + len);
    } else {
        unsigned n = mode_page(d, page, pc, b + len);
        if (!n) {
            invalid_field(d);
            return;
        }
        len += n;
    }
    if (ten)
        put16(b, len - 2);
    else
        b[0] = (uint8_t)(len - 1);
    reply(d, len, ten ? be16(cdb + 7) : cdb[4]);
}

/* MSF of a logical block: the first 150 frames (2 s) are the pregap. */
static void put_addr(uint8_t *p, uint32_t lba, bool msf)
{
    if (!msf) {
        put32(p, lba);
        return;
    }
    uint64_t f = (uint64_t)lba + 150;
    p[0] = 0;
    p[1] = (uint8_t)(f / 4500 > 255 ? 255 : f / 4500);
    p[2] = (uint8_t)(f / 75 % 60);
    p[3] = (uint8_t)(f % 75);
}

static void read_toc(struct vmm_ide_drive *d, const uint8_t *cdb)
{
    bool msf = cdb[1] & 0x02;
    unsigned format = cdb[2] & 0x0f, track = cdb[6];
    uint32_t blocks = cd_blocks(d);
    uint8_t *b = d->buf, *p = b + 4;

    if (!format)
        format = cdb[9] >> 6; /* the older place for the format */
    memset(b, 0, 64);
    b[2] = b[3] = 1; /* first and last track, or session */
    switch (format) {
    case 0:
        if (track > 1 && track != 0xaa) {
            invalid_field(d);
            return;
        }
        if (track <= 1) {
            p[1] = 0x14; /* ADR 1, data track */
            p[2] = 1;
            put_addr(p + 4, 0, msf);
            p += 8;
        }
        p[1] = 0x14;
        p[2] = 0xaa; /* lead-out */
        put_addr(p + 4, blocks, msf);
        p += 8;
        break;
    case 1: /* session info: the first track of the last session */
        p[1] = 0x14;
        p[2] = 1;
        put_addr(p + 4, 0, msf);
        p += 8;
        break;
    case 2: { /* full TOC: points A0, A1, A2 and track 1, always MSF */
        static const uint8_t points[4] = {0xa0, 0xa1, 0xa2, 0x01};
        for (unsigned i = 0; i < 4; i++, p += 11) {
            p[0] = 1;
            p[1] = 0x14;
            p[3] = points[i];
            if (points[i] == 0xa0 || points[i] == 0xa1) {
                p[8] = 1; /* first / last track; disc type 00 */
            } else {
                uint8_t a[4];
                put_addr(a, points[i] == 0xa2 ? blocks : 0, true);
                memcpy(p + 8, a + 1, 3);
            }
        }
        break;
    }
    default:
        invalid_field(d);
        return;
    }
    unsigned len = (unsigned)(p - b);
    put16(b, len - 2);
    reply(d, len, be16(cdb + 7));
}

static void read_disc_info(struct vmm_ide_drive *d, const uint8_t *cdb)
{
    uint8_t *b = d->buf;
    if (cdb[1] & 7) {
        invalid_field(d);
        return;
    }
    memset(b, 0, 34);
    put16(b, 32);
    b[2] = 0x0e;             /* last session complete, disc complete */
    b[3] = 1;                /* first track */
    b[4] = 1;                /* sessions */
    b[5] = 1;                /* first track of the last session */
    b[6] = 1;                /* last track of the last session */
    memset(b + 16, 0xff, 8); /* lead-in / lead-out of a next session: none */
    reply(d, 34, be16(cdb + 7));
}

static unsigned put_feature(uint8_t *p, unsigned code, uint8_t flags, const uint8_t *body,
                            unsigned len)
{
    put16(p, code);
    p[2] = flags;
    p[3] = (uint8_t)len;
    memcpy(p + 4, body, len);
    return 4 + len;
}

static void get_configuration(struct vmm_ide_drive *d, const uint8_t *cdb)
{
    unsigned rt = cdb[1] & 3, start = be16(cdb + 2);
    uint32_t blocks = cd_blocks(d);
    unsigned profile = !d->disk ? 0 : blocks > VMM_IDE_DVD_MIN ? PROFILE_DVDROM : PROFILE_CDROM;
    uint8_t *b = d->buf;
    unsigned len = 8;

    if (rt == 3) {
        invalid_field(d);
        return;
    }
    memset(b, 0, 64);
    put16(b + 6, profile);
    for (unsigned f = 0; f <= 3; f++) {
        if (rt == 2 ? f != start : f < start)
            continue;
        if (f == 0) {
            uint8_t list[8] = {0};
            put16(list, PROFILE_DVDROM);
            list[2] = profile == PROFILE_DVDROM;
            put16(list + 4, PROFILE_CDROM);
            list[6] = profile == PROFILE_CDROM;
            len += put_feature(b + len, 0x0000, 0x03, list, sizeof(list));
        } else if (f == 1) {
            const uint8_t core[8] = {0, 0, 0, 2}; /* physical interface: ATAPI */
            len += put_feature(b + len, 0x0001, 0x0b, core, sizeof(core));
        } else if (f == 3) {
            const uint8_t removable[4] = {0x29}; /* tray, eject, lock */
            len += put_feature(b + len, 0x0003, 0x03, removable, sizeof(removable));
        }
    }
    put32(b, len - 4);
    reply(d, len, be16(cdb + 7));
}

static void event_status(struct vmm_ide_drive *d, const uint8_t *cdb)
{
    uint8_t *b = d->buf;
    unsigned len;
    if (!(cdb[1] & 1)) { /* only polled operation */
        invalid_field(d);
        return;
    }
    memset(b, 0, 8);
    b[3] = 0x10; /* supported classes: media */
    if (cdb[4] & 0x10) {
        put16(b, 6);
        b[2] = 0x04; /* media class */
        if (d->eject_request) {
            b[4] = MEC_EJECT_REQUEST;
            d->eject_request = false;
        } else {
            b[4] = d->media_event;
            d->media_event = 0;
        }
        b[5] = (uint8_t)((d->disk ? 0x02 : 0) | (d->tray_open ? 0x01 : 0));
        len = 8;
    } else {
        put16(b, 2);
        b[2] = 0x80; /* no event available */
        len = 4;
    }
    reply(d, len, be16(cdb + 7));
}

static void mechanism_status(struct vmm_ide_drive *d, const uint8_t *cdb)
{
    memset(d->buf, 0, 8);
    d->buf[1] = d->tray_open ? 0x10 : 0;
    reply(d, 8, be16(cdb + 8));
}

static void drop_media(struct vmm_ide_drive *d)
{
    vmm_disk_close(d->disk);
    d->disk = NULL;
    d->tray_open = true;
    d->media_event = MEC_MEDIA_REMOVAL;
}

static void start_stop(struct vmm_ide_drive *d, const uint8_t *cdb)
{
    bool start = cdb[4] & 1, loej = cdb[4] & 2;
    struct vmm_ide *ide = ide_of(d);
    if (loej && !start) {
        if (d->locked) {
            atapi_error(d, SENSE_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED, 0x02);
            return;
        }
        if (d->disk) {
            drop_media(d);
            if (ide->eject_cb)
                ide->eject_cb(ide->eject_opaque, d->channel, d->unit);
        }
        d->tray_open = true;
    } else if (loej) {
        d->tray_open = false; /* closed, with or without a disc */
    }
    atapi_ok(d);
}

/* PACKET ---------------------------------------------------------------------- */

static bool needs_medium(uint8_t op)
{
    switch (op) {
    case GPCMD_TEST_UNIT_READY:
    case GPCMD_READ_CAPACITY:
    case GPCMD_READ_10:
    case GPCMD_READ_12:
    case GPCMD_READ_CD:
    case GPCMD_SEEK_10:
    case GPCMD_READ_TOC:
    case GPCMD_READ_DISC_INFO:
        return true;
    }
    return false;
}

/* Commands that report status rather than fail on a pending unit attention. */
static bool passes_unit_attention(uint8_t op)
{
    return op == GPCMD_INQUIRY || op == GPCMD_REQUEST_SENSE || op == GPCMD_GET_CONFIGURATION ||
           op == GPCMD_GET_EVENT_STATUS;
}

void ide_atapi_packet_exec(struct vmm_ide_drive *d)
{
    uint8_t cdb[12];
    memcpy(cdb, d->buf, sizeof(cdb));
    memcpy(d->cdb, cdb, sizeof(cdb));
    uint8_t op = cdb[0];

    d->standby = false;
    if (d->unit_attention && !passes_unit_attention(op)) {
        d->unit_attention = false;
        atapi_error(d, SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0);
        return;
    }
    if (op != GPCMD_REQUEST_SENSE)
        d->sense = (struct vmm_ide_sense){0, 0, 0};
    if (needs_medium(op) && !d->disk) {
        atapi_error(d, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT, 0);
        return;
    }
    switch (op) {
    case GPCMD_TEST_UNIT_READY:
    case GPCMD_SET_SPEED:
        atapi_ok(d);
        break;
    case GPCMD_REQUEST_SENSE:
        request_sense(d, cdb);
        break;
    case GPCMD_INQUIRY:
        inquiry(d, cdb);
        break;
    case GPCMD_MODE_SENSE_6:
        mode_sense(d, cdb, false);
        break;
    case GPCMD_MODE_SENSE_10:
        mode_sense(d, cdb, true);
        break;
    case GPCMD_START_STOP_UNIT:
        start_stop(d, cdb);
        break;
    case GPCMD_PREVENT_ALLOW:
        d->locked = cdb[4] & 1;
        atapi_ok(d);
        break;
    case GPCMD_READ_CAPACITY:
        read_capacity(d);
        break;
    case GPCMD_READ_10:
        cd_read(d, be32(cdb + 2), be16(cdb + 7));
        break;
    case GPCMD_READ_12:
        cd_read(d, be32(cdb + 2), be32(cdb + 6));
        break;
    case GPCMD_READ_CD: {
        unsigned type = (cdb[1] >> 2) & 7, fields = cdb[9] & 0xf8;
        uint32_t n = (uint32_t)cdb[6] << 16 | be16(cdb + 7);
        if (type != 0 && type != 2)
            atapi_error(d, SENSE_ILLEGAL_REQUEST, ASC_ILLEGAL_MODE, 0);
        else if (fields == 0x10)
            cd_read(d, be32(cdb + 2), n);
        else if (fields == 0)
            cd_read(d, be32(cdb + 2), 0);
        else
            invalid_field(d); /* only user data: no raw sectors */
        break;
    }
    case GPCMD_SEEK_10:
        if (be32(cdb + 2) >= cd_blocks(d))
            atapi_error(d, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
        else
            atapi_ok(d);
        break;
    case GPCMD_READ_TOC:
        read_toc(d, cdb);
        break;
    case GPCMD_READ_DISC_INFO:
        read_disc_info(d, cdb);
        break;
    case GPCMD_GET_CONFIGURATION:
        get_configuration(d, cdb);
        break;
    case GPCMD_GET_EVENT_STATUS:
        event_status(d, cdb);
        break;
    case GPCMD_MECHANISM_STATUS:
        mechanism_status(d, cdb);
        break;
    default:
        atapi_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
        break;
    }
}

/* ATA commands of a packet device --------------------------------------------- */

static void identify_packet(struct vmm_ide_drive *d)
{
    uint16_t id[256];
    memset(id, 0, sizeof(id));
    id[0] = 0x85c0; /* ATAPI, CD-ROM, removable, DRQ within 50 us, 12-byte packets */
    ide_padstr(id, 10, d->serial, 20);
    ide_padstr(id, 23, d->firmware, 8);
    ide_padstr(id, 27, d->model, 40);
    id[49] = 0x0b00; /* IORDY, LBA, DMA */
    id[53] = 0x0006; /* words 64-70 and 88 valid */
    id[63] = 0x0007;
    id[64] = 0x0003;
    id[65] = id[66] = id[67] = id[68] = 120;
    id[71] = id[72] = 30;
    id[80] = 0x00f0;
    id[82] = 0x4010; /* NOP, PACKET */
    id[83] = 0x4000;
    id[84] = 0x4000;
    id[85] = 0x4010;
    id[87] = 0x4000;
    id[88] = 0x003f;
    if ((d->xfer_mode & 0xf8) == 0x20)
        id[63] |= (uint16_t)(0x100 << (d->xfer_mode & 7));
    else if ((d->xfer_mode & 0xf8) == 0x40)
        id[88] |= (uint16_t)(0x100 << (d->xfer_mode & 7));
    id[93] = 0x6001 | (d->unit ? 0x0100 : 0x0008);
    ide_id_checksum(id);
    for (unsigned i = 0; i < 256; i++) {
        d->buf[2 * i] = (uint8_t)id[i];
        d->buf[2 * i + 1] = (uint8_t)(id[i] >> 8);
    }
}

void ide_atapi_reset(struct vmm_ide_drive *d, bool power_on)
{
    d->fill = d->xpos = 0;
    d->cd_from_media = false;
    if (!power_on)
        return;
    d->sense = (struct vmm_ide_sense){0, 0, 0};
    d->unit_attention = false;
    d->locked = false;
    d->tray_open = !d->disk;
    d->media_event = 0;
    d->eject_request = false;
}

void ide_atapi_command(struct vmm_ide_drive *d, uint8_t cmd)
{
    switch (cmd) {
    case ATA_CMD_PACKET:
        d->atapi_dma = d->feature & 1;
        d->bcl = d->lbam | (uint32_t)d->lbah << 8;
        d->nsect = ATAPI_IR_COD;
        ide_pio_start(d, 12, IDE_PIO_PACKET, true);
        break;
    case ATA_CMD_ID_PACKET:
        identify_packet(d);
        ide_pio_start(d, 512, IDE_PIO_END, false);
        ide_raise(d);
        break;
    case ATA_CMD_DEVICE_RESET:
        d->next = IDE_PIO_NONE;
        d->pos = d->end = 0;
        d->dma_pending = false;
        d->remaining = 0;
        d->irq_pending = false;
        ide_atapi_reset(d, false);
        ide_set_signature(d);
        ide_update_irq(d->ch);
        break;
    case ATA_CMD_IDENTIFY:
        /* Aborted with the packet signature: how a host tells ATAPI apart. */
        ide_cmd_error(d, ATA_ER_ABRT);
        d->nsect = d->lbal = 1;
        d->lbam = 0x14;
        d->lbah = 0xeb;
        break;
    case ATA_CMD_SET_FEATURES:
        ide_ata_set_features(d);
        break;
    case ATA_CMD_CHECK_POWER:
        d->nsect = 0xff;
        ide_cmd_ok(d);
        break;
    case ATA_CMD_IDLE:
    case ATA_CMD_IDLE_NOW:
    case ATA_CMD_STANDBY:
    case ATA_CMD_STANDBY_NOW:
        ide_cmd_ok(d);
        break;
    default:
        ide_cmd_error(d, ATA_ER_ABRT);
        break;
    }
}

/* Host media API -------------------------------------------------------------- */

static struct vmm_ide_drive *cd_drive(struct vmm_ide *ide, unsigned channel, unsigned unit)
{
    if (channel >= VMM_IDE_CHANNELS || unit >= VMM_IDE_UNITS)
        return NULL;
    struct vmm_ide_drive *d = &ide->ch[channel].drive[unit];
    return d->kind == VMM_IDE_CDROM ? d : NULL;
}

int vmm_ide_cd_insert(struct vmm_ide *ide, unsigned channel, unsigned unit, struct vmm_disk *disk)
{
    int ret = 0;
    pthread_mutex_lock(&ide->dev.lock);
    struct vmm_ide_drive *d = cd_drive(ide, channel, unit);
    if (!d || !disk) {
        ret = d ? -EINVAL : -ENODEV;
    } else if (d->locked && d->disk) {
        ret = -EBUSY;
    } else {
        vmm_disk_close(d->disk);
        d->disk = disk;
        d->tray_open = false;
        d->unit_attention = true;
        d->media_event = MEC_NEW_MEDIA;
    }
    pthread_mutex_unlock(&ide->dev.lock);
    return ret;
}

int vmm_ide_cd_eject(struct vmm_ide *ide, unsigned channel, unsigned unit, bool force)
{
    int ret = 0;
    pthread_mutex_lock(&ide->dev.lock);
    struct vmm_ide_drive *d = cd_drive(ide, channel, unit);
    if (!d) {
        ret = -ENODEV;
    } else if (d->locked && d->disk && !force) {
        d->eject_request = true;
        ret = -EBUSY;
    } else if (d->disk) {
        drop_media(d);
    } else {
        d->tray_open = true;
    }
    pthread_mutex_unlock(&ide->dev.lock);
    return ret;
}

bool vmm_ide_cd_has_media(struct vmm_ide *ide, unsigned channel, unsigned unit)
{
    pthread_mutex_lock(&ide->dev.lock);
    struct vmm_ide_drive *d = cd_drive(ide, channel, unit);
    bool has = d && d->disk;
    pthread_mutex_unlock(&ide->dev.lock);
    return has;
}
