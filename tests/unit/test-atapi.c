/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PIIX3 IDE model's ATAPI CD-ROM (0:1 of the fixture in ide-harness.h),
 * driven with PACKET commands as a guest sends them: data by PIO in DRQ
 * blocks cut to the byte count limit and by DMA, MMC replies, sense data,
 * media changes with unit attention and events, tray locking, resets, and
 * when xorriso is installed a real ISO 9660 image's volume descriptor.
 */
#include "ide-harness.h"

struct pk {
    uint8_t status, error, ir;
    unsigned len, blocks;
};

/* One PACKET command to 0:1. dma: move the data through the PRD table at `table`. */
static struct pk packet(struct fx *f, const uint8_t *cdb, uint16_t bcl, bool dma, uint32_t table,
                        uint8_t *out, unsigned max)
{
    struct pk r = {0};
    sel(f, 0, 1, 0);
    outb(f, 0, ATA_REG_ERROR, dma ? 1 : 0);
    outb(f, 0, ATA_REG_LBAM, (uint8_t)bcl);
    outb(f, 0, ATA_REG_LBAH, (uint8_t)(bcl >> 8));
    outb(f, 0, ATA_REG_STATUS, ATA_CMD_PACKET);
    CHECK_EQ(altstatus(f, 0) & (ATA_SR_DRQ | ATA_SR_BSY), ATA_SR_DRQ);
    CHECK_EQ(inb(f, 0, ATA_REG_NSECT) & 3, ATAPI_IR_COD);
    for (int i = 0; i < 12; i += 2)
        outw(f, 0, (uint16_t)(cdb[i] | cdb[i + 1] << 8));
    if (dma) {
        bm_start(f, 0, table, true);
        bm_stop(f, 0);
    } else {
        r.len = pio_in(f, 0, out, max, 0, &r.blocks);
    }
    r.ir = inb(f, 0, ATA_REG_NSECT);
    r.error = inb(f, 0, ATA_REG_ERROR);
    r.status = inb(f, 0, ATA_REG_STATUS);
    return r;
}

static struct pk pio(struct fx *f, const uint8_t *cdb, uint8_t *out, unsigned max)
{
    return packet(f, cdb, 0xfffe, false, 0, out, max);
}

static bool ok(struct pk r)
{
    return r.status == (ATA_SR_DRDY | ATA_SR_DSC) && r.ir == (ATAPI_IR_IO | ATAPI_IR_COD);
}

/* REQUEST SENSE: key << 16 | asc << 8 | ascq. */
static unsigned sense(struct fx *f)
{
    uint8_t b[32] = {0};
    const uint8_t cdb[12] = {0x03, 0, 0, 0, 18};
    struct pk r = pio(f, cdb, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 18);
    CHECK_EQ(b[0], 0x70);
    return (unsigned)(b[2] & 0x0f) << 16 | b[12] << 8 | b[13];
}

static const uint8_t TUR[12] = {0x00};

static void read10(uint8_t *cdb, uint32_t lba, uint16_t n)
{
    memset(cdb, 0, 12);
    cdb[0] = 0x28;
    cdb[2] = (uint8_t)(lba >> 24);
    cdb[3] = (uint8_t)(lba >> 16);
    cdb[4] = (uint8_t)(lba >> 8);
    cdb[5] = (uint8_t)lba;
    cdb[7] = (uint8_t)(n >> 8);
    cdb[8] = (uint8_t)n;
}

static void test_atapi_basic(void)
{
    struct fx f;
    uint8_t b[256];
    setup(&f);
    /* No unit attention at power-on with a medium in. */
    CHECK(ok(pio(&f, TUR, b, sizeof(b))));
    const uint8_t inq[12] = {0x12, 0, 0, 0, 96};
    struct pk r = pio(&f, inq, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 36);
    CHECK_EQ(r.blocks, 1);
    CHECK_EQ(b[0], 0x05);
    CHECK_EQ(b[1], 0x80);
    CHECK_EQ(b[4], 31);
    CHECK(!memcmp(b + 8, "TRRARIUM", 8));
    CHECK(!memcmp(b + 16, "Terrarium DVD", 13));
    /* The allocation length cuts the reply; an odd one still ends cleanly. */
    const uint8_t inq5[12] = {0x12, 0, 0, 0, 5};
    r = pio(&f, inq5, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 6);
    const uint8_t inq_evpd[12] = {0x12, 1, 0x80, 0, 96};
    r = pio(&f, inq_evpd, b, sizeof(b));
    CHECK_EQ(r.status & ATA_SR_ERR, ATA_SR_ERR);
    CHECK_EQ(r.error, 0x50 | ATA_ER_ABRT);
    CHECK_EQ(sense(&f), 0x052400);
    CHECK_EQ(sense(&f), 0); /* sense is cleared once read */
    /* READ CAPACITY of the ISO-sized image: 1000 blocks of 2048, tail ignored. */
    const uint8_t cap[12] = {0x25};
    r = pio(&f, cap, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 8);
    CHECK_EQ(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3], CD_BLOCKS - 1);
    CHECK_EQ(b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7], 2048);
    /* Each data block and the completion raise the line. */
    unsigned rises = f.lines[0].rises;
    r = pio(&f, cap, b, sizeof(b));
    CHECK_EQ(f.lines[0].rises - rises, 2);
    /* Unknown opcode. */
    const uint8_t bad[12] = {0xff};
    r = pio(&f, bad, b, sizeof(b));
    CHECK_EQ(r.status, ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
    CHECK_EQ(r.ir, 3);
    CHECK_EQ(sense(&f), 0x052000);
    /* ATA commands a packet device takes, and DEVICE RESET. */
    sel(&f, 0, 1, 0);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_CHECK_POWER);
    CHECK_EQ(inb(&f, 0, ATA_REG_NSECT), 0xff);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_READ);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_PACKET); /* left waiting for its CDB */
    CHECK_EQ(altstatus(&f, 0) & ATA_SR_DRQ, ATA_SR_DRQ);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_DEVICE_RESET);
    CHECK_EQ(altstatus(&f, 0), 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAM), 0x14);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAH), 0xeb);
    CHECK(ok(pio(&f, TUR, b, sizeof(b))));
    /* SRST leaves the ATAPI signature and status 0. */
    devctl(&f, 0, ATA_CTL_SRST);
    devctl(&f, 0, 0);
    sel(&f, 0, 1, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAM), 0x14);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAH), 0xeb);
    CHECK_EQ(inb(&f, 0, ATA_REG_NSECT), 1);
    CHECK(ok(pio(&f, TUR, b, sizeof(b))));
    teardown(&f);
}

static void test_atapi_read_pio(void)
{
    struct fx f;
    static uint8_t b[200000];
    uint8_t cdb[12];
    setup(&f);
    /* 3 blocks with a 1000-byte limit: 6 DRQ blocks of 1000 and one of 144. */
    read10(cdb, 10, 3);
    unsigned rises = f.lines[0].rises;
    struct pk r = packet(&f, cdb, 1000, false, 0, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 3 * 2048);
    CHECK_EQ(r.blocks, 7);
    CHECK_EQ(f.lines[0].rises - rises, 8);
    CHECK(pattern_at(b, 10 * 2048, 3 * 2048, cd_pat));
    /* An odd limit is rounded down to even. */
    r = packet(&f, cdb, 1001, false, 0, b, sizeof(b));
    CHECK_EQ(r.blocks, 7);
    CHECK(pattern_at(b, 10 * 2048, 3 * 2048, cd_pat));
    /* 40 blocks: two buffer fills, blocks of at most 65534 bytes. */
    read10(cdb, 900, 40);
    r = packet(&f, cdb, 0xffff, false, 0, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 40 * 2048);
    CHECK_EQ(r.blocks, 3);
    CHECK(pattern_at(b, 900 * 2048, 40 * 2048, cd_pat));
    /* The last block of the medium. */
    read10(cdb, CD_BLOCKS - 1, 1);
    r = pio(&f, cdb, b, sizeof(b));
    CHECK(ok(r));
    CHECK(pattern_at(b, (CD_BLOCKS - 1) * 2048, 2048, cd_pat));
    /* Past the end: ILLEGAL REQUEST, LBA out of range, no data. */
    read10(cdb, CD_BLOCKS - 1, 2);
    r = pio(&f, cdb, b, sizeof(b));
    CHECK_EQ(r.status, ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
    CHECK_EQ(r.len, 0);
    CHECK_EQ(r.error >> 4, 5);
    CHECK_EQ(sense(&f), 0x052100);
    read10(cdb, 0xffffffff, 1);
    r = pio(&f, cdb, b, sizeof(b));
    CHECK_EQ(sense(&f), 0x052100);
    /* Zero blocks: nothing moves. */
    read10(cdb, 5, 0);
    r = pio(&f, cdb, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 0);
    /* READ(12) and READ CD (user data). */
    const uint8_t r12[12] = {0xa8, 0, 0, 0, 0x01, 0x00, 0, 0, 0, 2};
    r = pio(&f, r12, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 4096);
    CHECK(pattern_at(b, 256 * 2048, 4096, cd_pat));
    const uint8_t rcd[12] = {0xbe, 0, 0, 0, 0, 7, 0, 0, 1, 0x10};
    r = pio(&f, rcd, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 2048);
    CHECK(pattern_at(b, 7 * 2048, 2048, cd_pat));
    const uint8_t rcd_raw[12] = {0xbe, 0, 0, 0, 0, 7, 0, 0, 1, 0xf8};
    r = pio(&f, rcd_raw, b, sizeof(b));
    CHECK_EQ(sense(&f), 0x052400);
    const uint8_t rcd_audio[12] = {0xbe, 0x04, 0, 0, 0, 7, 0, 0, 1, 0x10};
    r = pio(&f, rcd_audio, b, sizeof(b));
    CHECK_EQ(sense(&f), 0x056400);
    teardown(&f);
}

static void test_atapi_read_dma(void)
{
    struct fx f;
    uint8_t cdb[12], b[64];
    setup(&f);
    /* READ(10) of 3 blocks over two PRD entries. */
    prd(&f, 0x1000, 0x40000, 4096, false);
    prd(&f, 0x1008, 0x60000, 2048, true);
    read10(cdb, 20, 3);
    struct pk r = packet(&f, cdb, 0, true, 0x1000, NULL, 0);
    CHECK(ok(r));
    CHECK(pattern_at(gp(&f.mem, 0x40000, 4096), 20 * 2048, 4096, cd_pat));
    CHECK(pattern_at(gp(&f.mem, 0x60000, 2048), 22 * 2048, 2048, cd_pat));
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), BMIDE_ST_INTR);
    /* 32 blocks into one 64 KiB entry (count 0). */
    prd(&f, 0x2000, 0x100000, 0, true);
    read10(cdb, 500, 32);
    r = packet(&f, cdb, 0, true, 0x2000, NULL, 0);
    CHECK(ok(r));
    CHECK(pattern_at(gp(&f.mem, 0x100000, 65536), 500 * 2048, 65536, cd_pat));
    /* A reply by DMA: INQUIRY into a larger entry leaves active set. */
    prd(&f, 0x3000, 0x70000, 512, true);
    const uint8_t inq[12] = {0x12, 0, 0, 0, 36};
    sel(&f, 0, 1, 0);
    outb(&f, 0, ATA_REG_ERROR, 1);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_PACKET);
    for (int i = 0; i < 12; i += 2)
        outw(&f, 0, (uint16_t)(inq[i] | inq[i + 1] << 8));
    bm_start(&f, 0, 0x3000, true);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), BMIDE_ST_ACTIVE | BMIDE_ST_INTR);
    bm_stop(&f, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_NSECT), 3);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK_EQ(*gp(&f.mem, 0x70000, 1), 0x05);
    CHECK(!memcmp(gp(&f.mem, 0x70008, 8), "TRRARIUM", 8));
    /* A PRD table too short: bus-master error, ABORTED COMMAND. */
    prd(&f, 0x4000, 0x40000, 2048, true);
    read10(cdb, 0, 2);
    r = packet(&f, cdb, 0, true, 0x4000, NULL, 0);
    CHECK_EQ(r.status & ATA_SR_ERR, ATA_SR_ERR);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1) & BMIDE_ST_ERROR, BMIDE_ST_ERROR);
    CHECK_EQ(sense(&f), 0x0b0000);
    /* Errors found before any data move need no DMA at all. */
    read10(cdb, CD_BLOCKS, 1);
    r = packet(&f, cdb, 0, true, 0x4000, NULL, 0);
    CHECK_EQ(r.status & (ATA_SR_ERR | ATA_SR_DRQ), ATA_SR_ERR);
    CHECK_EQ(sense(&f), 0x052100);
    (void)b;
    teardown(&f);
}

static unsigned msf(const uint8_t *p)
{
    return (p[1] * 60u + p[2]) * 75u + p[3];
}

static void test_atapi_replies(void)
{
    struct fx f;
    uint8_t b[512];
    setup(&f);
    /* READ TOC format 0, LBA: track 1 at 0, lead-out at the capacity. */
    const uint8_t toc[12] = {0x43, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    struct pk r = pio(&f, toc, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 20);
    CHECK_EQ(b[0] << 8 | b[1], 18);
    CHECK_EQ(b[2], 1);
    CHECK_EQ(b[3], 1);
    CHECK_EQ(b[5], 0x14);
    CHECK_EQ(b[6], 1);
    CHECK_EQ(b[8] | b[9] | b[10] | b[11], 0);
    CHECK_EQ(b[14], 0xaa);
    CHECK_EQ(b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19], CD_BLOCKS);
    /* MSF: 2 s of pregap. */
    const uint8_t toc_msf[12] = {0x43, 0x02, 0, 0, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, toc_msf, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(msf(b + 8), 150);
    CHECK_EQ(b[9], 0);
    CHECK_EQ(b[10], 2);
    CHECK_EQ(msf(b + 16), CD_BLOCKS + 150);
    /* Starting at the lead-out, and past the last track. */
    const uint8_t toc_aa[12] = {0x43, 0, 0, 0, 0, 0, 0xaa, 0x01, 0x00};
    r = pio(&f, toc_aa, b, sizeof(b));
    CHECK_EQ(r.len, 12);
    CHECK_EQ(b[6], 0xaa);
    const uint8_t toc_5[12] = {0x43, 0, 0, 0, 0, 0, 5, 0x01, 0x00};
    r = pio(&f, toc_5, b, sizeof(b));
    CHECK_EQ(sense(&f), 0x052400);
    /* Format 1: session info. */
    const uint8_t toc1[12] = {0x43, 0, 1, 0, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, toc1, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 12);
    CHECK_EQ(b[1], 10);
    CHECK_EQ(b[6], 1);
    /* Format 2: full TOC, points A0, A1, A2 (lead-out in MSF) and track 1. */
    const uint8_t toc2[12] = {0x43, 0x02, 2, 0, 0, 0, 1, 0x01, 0x00};
    r = pio(&f, toc2, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 48);
    CHECK_EQ(b[1], 46);
    CHECK_EQ(b[4 + 3], 0xa0);
    CHECK_EQ(b[4 + 8], 1);
    CHECK_EQ(b[15 + 3], 0xa1);
    CHECK_EQ(b[26 + 3], 0xa2);
    CHECK_EQ((b[26 + 8] * 60u + b[26 + 9]) * 75u + b[26 + 10], CD_BLOCKS + 150);
    CHECK_EQ(b[37 + 3], 1);
    CHECK_EQ(b[37 + 9], 2);
    /* The old place for the format (control byte). */
    const uint8_t toc_old[12] = {0x43, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x40};
    r = pio(&f, toc_old, b, sizeof(b));
    CHECK_EQ(r.len, 12);
    const uint8_t toc_bad[12] = {0x43, 0, 7, 0, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, toc_bad, b, sizeof(b));
    CHECK_EQ(sense(&f), 0x052400);
    /* Allocation length 4 cuts the TOC to its header. */
    const uint8_t toc_4[12] = {0x43, 0, 0, 0, 0, 0, 0, 0, 4};
    r = pio(&f, toc_4, b, sizeof(b));
    CHECK_EQ(r.len, 4);
    /* MODE SENSE(10), capabilities page. */
    const uint8_t ms10[12] = {0x5a, 0, 0x2a, 0, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, ms10, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 30);
    CHECK_EQ(b[0] << 8 | b[1], 28);
    CHECK_EQ(b[8], 0x2a);
    CHECK_EQ(b[9], 0x14);
    CHECK_EQ(b[14] & 0x29, 0x29);
    CHECK_EQ(b[14] & 0x02, 0);
    /* MODE SENSE(6), error recovery page; all pages; unknown; saved values. */
    const uint8_t ms6[12] = {0x1a, 0, 0x01, 0, 255};
    r = pio(&f, ms6, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 12);
    CHECK_EQ(b[0], 11);
    CHECK_EQ(b[4], 0x01);
    CHECK_EQ(b[5], 0x06);
    const uint8_t ms_all[12] = {0x5a, 0, 0x3f, 0, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, ms_all, b, sizeof(b));
    CHECK_EQ(r.len, 38);
    CHECK_EQ(b[8], 0x01);
    CHECK_EQ(b[16], 0x2a);
    const uint8_t ms_chg[12] = {0x5a, 0, 0x40 | 0x2a, 0, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, ms_chg, b, sizeof(b));
    CHECK_EQ(b[8], 0x2a);
    CHECK_EQ(b[14], 0);
    const uint8_t ms_bad[12] = {0x5a, 0, 0x05, 0, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, ms_bad, b, sizeof(b));
    CHECK_EQ(sense(&f), 0x052400);
    const uint8_t ms_saved[12] = {0x5a, 0, 0xc0 | 0x2a, 0, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, ms_saved, b, sizeof(b));
    CHECK_EQ(sense(&f), 0x053900);
    /* GET CONFIGURATION: a 2 MB disc is a CD-ROM; features 0, 1, 3. */
    const uint8_t gc[12] = {0x46, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, gc, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(b[6] << 8 | b[7], 0x0008);
    CHECK_EQ(b[3] + 4u, r.len);
    CHECK_EQ(b[8] << 8 | b[9], 0x0000);
    CHECK_EQ(b[12] << 8 | b[13], 0x0010);
    CHECK_EQ(b[14] & 1, 0);
    CHECK_EQ(b[16] << 8 | b[17], 0x0008);
    CHECK_EQ(b[18] & 1, 1);
    CHECK_EQ(b[20] << 8 | b[21], 0x0001);
    CHECK_EQ(b[27], 2); /* ATAPI */
    CHECK_EQ(b[32] << 8 | b[33], 0x0003);
    const uint8_t gc_one[12] = {0x46, 2, 0, 3, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, gc_one, b, sizeof(b));
    CHECK_EQ(r.len, 16);
    CHECK_EQ(b[8] << 8 | b[9], 0x0003);
    /* READ DISC INFORMATION, MECHANISM STATUS, SET CD SPEED, SEEK. */
    const uint8_t di[12] = {0x51, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    r = pio(&f, di, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 34);
    CHECK_EQ(b[2], 0x0e);
    CHECK_EQ(b[4], 1);
    const uint8_t mech[12] = {0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8};
    r = pio(&f, mech, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 8);
    CHECK_EQ(b[1] & 0x10, 0);
    const uint8_t speed[12] = {0xbb, 0, 0xff, 0xff};
    CHECK(ok(pio(&f, speed, b, sizeof(b))));
    const uint8_t seek_ok[12] = {0x2b, 0, 0, 0, 0x01, 0x00};
    CHECK(ok(pio(&f, seek_ok, b, sizeof(b))));
    const uint8_t seek_bad[12] = {0x2b, 0, 0, 0, 0x10, 0x00};
    r = pio(&f, seek_bad, b, sizeof(b));
    CHECK_EQ(sense(&f), 0x052100);
    /* GET EVENT STATUS NOTIFICATION: polled only; no event yet. */
    const uint8_t gesn_async[12] = {0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8};
    r = pio(&f, gesn_async, b, sizeof(b));
    CHECK_EQ(sense(&f), 0x052400);
    const uint8_t gesn[12] = {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8};
    r = pio(&f, gesn, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 8);
    CHECK_EQ(b[2], 0x04);
    CHECK_EQ(b[4], 0);
    CHECK_EQ(b[5], 0x02);
    const uint8_t gesn_none[12] = {0x4a, 1, 0, 0, 0x02, 0, 0, 0, 8};
    r = pio(&f, gesn_none, b, sizeof(b));
    CHECK_EQ(r.len, 4);
    CHECK_EQ(b[2], 0x80);
    teardown(&f);
}

static unsigned gesn_event(struct fx *f, uint8_t *media_status)
{
    uint8_t b[16];
    const uint8_t gesn[12] = {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8};
    struct pk r = pio(f, gesn, b, sizeof(b));
    CHECK(ok(r));
    *media_status = b[5];
    return b[4];
}

static void test_atapi_media(void)
{
    struct fx f;
    uint8_t b[64], ms;
    setup(&f);
    /* Host eject: no medium, tray open, a removal event. */
    CHECK(vmm_ide_cd_has_media(f.ide, 0, 1));
    CHECK_EQ(vmm_ide_cd_eject(f.ide, 0, 1, false), 0);
    CHECK(!vmm_ide_cd_has_media(f.ide, 0, 1));
    struct pk r = pio(&f, TUR, b, sizeof(b));
    CHECK_EQ(r.status & ATA_SR_ERR, ATA_SR_ERR);
    CHECK_EQ(r.error >> 4, 2);
    CHECK_EQ(sense(&f), 0x023a00);
    const uint8_t cap[12] = {0x25};
    r = pio(&f, cap, b, sizeof(b));
    CHECK_EQ(r.len, 0);
    CHECK_EQ(sense(&f), 0x023a00);
    CHECK_EQ(gesn_event(&f, &ms), 3);
    CHECK_EQ(ms, 0x01);
    CHECK_EQ(gesn_event(&f, &ms), 0);
    const uint8_t mech[12] = {0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8};
    r = pio(&f, mech, b, sizeof(b));
    CHECK_EQ(b[1] & 0x10, 0x10);
    const uint8_t gc[12] = {0x46, 0, 0, 0, 0, 0, 0, 0, 64};
    r = pio(&f, gc, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(b[6] << 8 | b[7], 0); /* no current profile */
    /* Insert a 500-block medium: unit attention once, then ready. */
    char path[64];
    int fd = make_image(path, 500 * 2048, 500 * 2048, cd_pat);
    CHECK_EQ(vmm_ide_cd_insert(f.ide, 0, 1, open_image(path, VMM_DISK_RDONLY)), 0);
    r = pio(&f, TUR, b, sizeof(b));
    CHECK_EQ(r.error >> 4, 6);
    CHECK_EQ(sense(&f), 0x062800);
    CHECK(ok(pio(&f, TUR, b, sizeof(b))));
    r = pio(&f, cap, b, sizeof(b));
    CHECK_EQ(b[2] << 8 | b[3], 499);
    CHECK_EQ(gesn_event(&f, &ms), 2);
    CHECK_EQ(ms, 0x02);
    /* INQUIRY passes a pending unit attention; REQUEST SENSE reports and clears it. */
    CHECK_EQ(vmm_ide_cd_insert(f.ide, 0, 1, open_image(path, VMM_DISK_RDONLY)), 0);
    const uint8_t inq[12] = {0x12, 0, 0, 0, 36};
    CHECK(ok(pio(&f, inq, b, sizeof(b))));
    CHECK_EQ(sense(&f), 0x062800);
    CHECK(ok(pio(&f, TUR, b, sizeof(b))));
    /* PREVENT: the guest cannot eject, the host is refused unless forced. */
    const uint8_t prevent[12] = {0x1e, 0, 0, 0, 1};
    const uint8_t allow[12] = {0x1e, 0, 0, 0, 0};
    const uint8_t eject[12] = {0x1b, 0, 0, 0, 0x02};
    const uint8_t load[12] = {0x1b, 0, 0, 0, 0x03};
    CHECK(ok(pio(&f, prevent, b, sizeof(b))));
    const uint8_t ms10[12] = {0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64};
    r = pio(&f, ms10, b, sizeof(b));
    CHECK_EQ(b[14] & 0x02, 0x02);
    r = pio(&f, eject, b, sizeof(b));
    CHECK_EQ(r.status & ATA_SR_ERR, ATA_SR_ERR);
    CHECK_EQ(sense(&f), 0x055302);
    CHECK_EQ(vmm_ide_cd_eject(f.ide, 0, 1, false), -EBUSY);
    CHECK_EQ(vmm_ide_cd_insert(f.ide, 0, 1, NULL), -EINVAL);
    CHECK(vmm_ide_cd_has_media(f.ide, 0, 1));
    CHECK_EQ(gesn_event(&f, &ms), 1); /* eject request */
    CHECK(ok(pio(&f, allow, b, sizeof(b))));
    CHECK_EQ(f.ejects, 0);
    CHECK(ok(pio(&f, eject, b, sizeof(b))));
    CHECK_EQ(f.ejects, 1);
    CHECK(!vmm_ide_cd_has_media(f.ide, 0, 1));
    r = pio(&f, TUR, b, sizeof(b));
    CHECK_EQ(sense(&f), 0x023a00);
    CHECK(ok(pio(&f, load, b, sizeof(b))));
    r = pio(&f, mech, b, sizeof(b));
    CHECK_EQ(b[1] & 0x10, 0);
    /* Forced host eject works through a lock. */
    CHECK_EQ(vmm_ide_cd_insert(f.ide, 0, 1, open_image(path, VMM_DISK_RDONLY)), 0);
    CHECK_EQ(sense(&f), 0x062800);
    CHECK(ok(pio(&f, prevent, b, sizeof(b))));
    CHECK_EQ(vmm_ide_cd_eject(f.ide, 0, 1, true), 0);
    CHECK(!vmm_ide_cd_has_media(f.ide, 0, 1));
    /* Media calls on drives that are not CD-ROMs. */
    struct vmm_disk *extra = open_image(path, VMM_DISK_RDONLY);
    CHECK_EQ(vmm_ide_cd_insert(f.ide, 0, 0, extra), -ENODEV);
    CHECK_EQ(vmm_ide_cd_insert(f.ide, 1, 0, extra), -ENODEV);
    CHECK_EQ(vmm_ide_cd_insert(f.ide, 7, 0, extra), -ENODEV);
    vmm_disk_close(extra);
    CHECK_EQ(vmm_ide_cd_eject(f.ide, 0, 0, true), -ENODEV);
    CHECK(!vmm_ide_cd_has_media(f.ide, 0, 0));
    /* A machine reset releases the lock. */
    CHECK_EQ(vmm_ide_cd_insert(f.ide, 0, 1, open_image(path, VMM_DISK_RDONLY)), 0);
    vmm_ide_reset(f.ide);
    CHECK_EQ(vmm_ide_cd_eject(f.ide, 0, 1, false), 0);
    /* An empty CD-ROM drive from the start. */
    CHECK_EQ(vmm_ide_attach(f.ide, 1, 1, VMM_IDE_CDROM, NULL, NULL), 0);
    CHECK(!vmm_ide_cd_has_media(f.ide, 1, 1));
    CHECK_EQ(vmm_ide_attach(f.ide, 1, 1, VMM_IDE_CDROM, NULL, NULL), -EEXIST);
    CHECK_EQ(vmm_ide_attach(f.ide, 2, 0, VMM_IDE_CDROM, NULL, NULL), -EINVAL);
    close(fd);
    unlink(path);
    teardown(&f);
}

/* A real ISO 9660 image from xorriso: its primary volume descriptor through READ(10). */
static void test_atapi_iso(void)
{
    if (system("command -v xorriso >/dev/null 2>&1") != 0) {
        printf("SKIP: xorriso is not installed; the real-ISO case was skipped\n");
        return;
    }
    struct fx f;
    uint8_t b[4096], cdb[12];
    char dir[] = "/tmp/test-ide-isodir-XXXXXX", iso[64], cmd[256];
    setup(&f);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof(cmd), "echo terrarium > %s/hello.txt", dir);
    CHECK_EQ(system(cmd), 0);
    snprintf(iso, sizeof(iso), "%s.iso", dir);
    snprintf(cmd, sizeof(cmd), "xorriso -as mkisofs -quiet -V TRMTEST -o %s %s >/dev/null 2>&1",
             iso, dir);
    CHECK_EQ(system(cmd), 0);
    CHECK_EQ(vmm_ide_cd_insert(f.ide, 0, 1, open_image(iso, VMM_DISK_RDONLY)), 0);
    CHECK_EQ(sense(&f), 0x062800);
    read10(cdb, 16, 1);
    struct pk r = packet(&f, cdb, 2048, false, 0, b, sizeof(b));
    CHECK(ok(r));
    CHECK_EQ(r.len, 2048);
    CHECK_EQ(b[0], 1);
    CHECK(!memcmp(b + 1, "CD001", 5));
    CHECK(!memcmp(b + 40, "TRMTEST", 7));
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, iso);
    CHECK_EQ(system(cmd), 0);
    teardown(&f);
}

int main(void)
{
    RUN_TEST(test_atapi_basic);
    RUN_TEST(test_atapi_read_pio);
    RUN_TEST(test_atapi_read_dma);
    RUN_TEST(test_atapi_replies);
    RUN_TEST(test_atapi_media);
    RUN_TEST(test_atapi_iso);
    return test_finish();
}
