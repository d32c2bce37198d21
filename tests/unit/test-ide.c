/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PIIX3 IDE model with an ATA disk, driven through its ports as a guest
 * drives it: PCI registers, signatures, IDENTIFY, PIO with CHS, LBA28 and
 * LBA48 checked against the image file, READ/WRITE MULTIPLE, DMA through PRD
 * tables in fake guest RAM (and every way a PRD table can be wrong), error
 * reporting, resets. ATAPI is in test-atapi.c.
 */
#include "ide-harness.h"

/* Config space through a bus, as firmware sees it. */
static int fake_map(void *opaque, struct vmm_pci_dev *d, unsigned bar, enum vmm_io_kind kind,
                    uint64_t base, uint64_t len)
{
    return 0;
}

static void fake_unmap(void *opaque, struct vmm_pci_dev *d, unsigned bar, enum vmm_io_kind kind,
                       uint64_t base, uint64_t len)
{
}

static const struct vmm_pci_bus_ops mapper = {.map = fake_map, .unmap = fake_unmap};

static void test_pci(void)
{
    struct fx f;
    struct vmm_pci_bus bus;
    setup(&f);
    vmm_pci_bus_init(&bus, &mapper, NULL);
    vmm_pci_set16(&f.ide->pci, PCI_COMMAND, 0);
    CHECK_EQ(vmm_pci_bus_add(&bus, &f.ide->pci, VMM_IDE_SLOT, VMM_IDE_FUNC), 0);
    unsigned devfn = VMM_PCI_DEVFN(1, 1);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PCI_VENDOR_ID, 4), 0x70108086);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PCI_REVISION_ID, 4) >> 8, 0x010180);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PCI_INTERRUPT_PIN, 1), 0);
    /* BAR4: 16 bytes of I/O. */
    vmm_pci_bus_config_write(&bus, devfn, PCI_BASE_ADDRESS_0 + 16, 4, 0xffffffff);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PCI_BASE_ADDRESS_0 + 16, 4), 0xfffffff1);
    vmm_pci_bus_config_write(&bus, devfn, PCI_BASE_ADDRESS_0 + 16, 4, 0xc000);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PCI_BASE_ADDRESS_0 + 16, 4), 0xc001);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PCI_BASE_ADDRESS_0, 4), 0);
    /* Timing registers: decode enabled at power-on, reserved bits stay 0. */
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PIIX_IDETIM_PRI, 2), 0x8000);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PIIX_IDETIM_SEC, 2), 0x8000);
    vmm_pci_bus_config_write(&bus, devfn, PIIX_IDETIM_PRI, 4, 0xffffffff);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PIIX_IDETIM_PRI, 4), 0xf3fff3ff);
    vmm_pci_bus_config_write(&bus, devfn, PIIX_IDETIM_PRI, 2, 0xa307);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PIIX_IDETIM_PRI, 2), 0xa307);
    vmm_pci_bus_config_write(&bus, devfn, PIIX_SIDETIM, 1, 0x5a);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PIIX_SIDETIM, 1), 0x5a);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, 0x48, 1), 0);
    vmm_pci_bus_config_write(&bus, devfn, 0x48, 1, 0xff);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, 0x48, 1), 0);
    /* Bus reset: config image and model state back to power-on. */
    bm_out(&f, BMIDE_PRDT, 4, 0x1234);
    vmm_pci_bus_reset(&bus);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PIIX_IDETIM_PRI, 2), 0x8000);
    CHECK_EQ(vmm_pci_bus_config_read(&bus, devfn, PIIX_SIDETIM, 1), 0);
    CHECK_EQ(bm_in(&f, BMIDE_PRDT, 4), 0);
    vmm_pci_bus_fini(&bus);
    teardown(&f);
}

static void test_empty_channel(void)
{
    struct fx f;
    setup(&f);
    CHECK_EQ(inb(&f, 1, ATA_REG_STATUS), 0x7f);
    CHECK_EQ(altstatus(&f, 1), 0x7f);
    outb(&f, 1, ATA_REG_NSECT, 0x55);
    CHECK(inb(&f, 1, ATA_REG_NSECT) != 0x55);
    outb(&f, 1, ATA_REG_STATUS, ATA_CMD_IDENTIFY);
    CHECK_EQ(f.lines[1].rises, 0);
    CHECK_EQ(f.lines[1].level, 0);
    teardown(&f);
}

static void test_signatures(void)
{
    struct fx f;
    setup(&f);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_NSECT), 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAL), 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAM), 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAH), 0);
    sel(&f, 0, 1, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAM), 0x14);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAH), 0xeb);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), 0);
    /* Task file writes reach both devices. */
    outb(&f, 0, ATA_REG_LBAL, 0x42);
    sel(&f, 0, 0, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAL), 0x42);
    CHECK_EQ(inb(&f, 0, ATA_REG_DEVICE), 0xa0);
    teardown(&f);
}

static void test_identify(void)
{
    struct fx f;
    uint16_t id[256];
    char s[48];
    setup(&f);
    sel(&f, 0, 0, 0);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_IDENTIFY);
    CHECK_EQ(f.lines[0].level, 1);
    CHECK_EQ(f.lines[0].rises, 1);
    CHECK_EQ(altstatus(&f, 0), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ);
    CHECK_EQ(f.lines[0].level, 1); /* alternate status leaves the interrupt */
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS) & ATA_SR_DRQ, ATA_SR_DRQ);
    CHECK_EQ(f.lines[0].level, 0);
    CHECK(bm_in(&f, BMIDE_STATUS, 1) & BMIDE_ST_INTR);
    for (int i = 0; i < 256; i++)
        id[i] = inw(&f, 0);
    CHECK_EQ(altstatus(&f, 0), ATA_SR_DRDY | ATA_SR_DSC);
    idstr(id, 27, 40, s);
    CHECK(!strncmp(s, "Terrarium HARDDISK  ", 20));
    idstr(id, 10, 20, s);
    CHECK(!strcmp(s, "SER123              "));
    idstr(id, 23, 8, s);
    CHECK(!strcmp(s, "1.0     "));
    CHECK_EQ(id[0], 0x0040);
    CHECK_EQ(id[1], 16);
    CHECK_EQ(id[3], 16);
    CHECK_EQ(id[6], 63);
    CHECK_EQ(id[47] & 0xff, 16);
    CHECK_EQ(id[49] & 0x0300, 0x0300);
    CHECK_EQ(id[53] & 7, 7);
    CHECK_EQ(id[54] * id[55] * id[56], id[57] | id[58] << 16);
    CHECK_EQ(id[59], 0);
    CHECK_EQ(id[60] | (uint32_t)id[61] << 16, DISK_SECTORS);
    CHECK_EQ(id[63] & 7, 7);
    CHECK_EQ(id[83] & 0x3400, 0x3400); /* LBA48, FLUSH CACHE (EXT) */
    CHECK_EQ(id[86] & 0x3400, 0x3400);
    CHECK_EQ(id[82] & 0x20, 0x20);
    CHECK_EQ(id[85] & 0x20, 0x20);
    CHECK_EQ(id[88] & 0x3f, 0x3f);
    CHECK_EQ(id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32, DISK_SECTORS);
    CHECK_EQ(id[255] & 0xff, 0xa5);
    uint8_t sum = 0;
    for (int i = 0; i < 256; i++)
        sum = (uint8_t)(sum + (id[i] & 0xff) + (id[i] >> 8));
    CHECK_EQ(sum, 0);
    /* Transfer mode and write cache show up in IDENTIFY. */
    outb(&f, 0, ATA_REG_ERROR, 0x03);
    outb(&f, 0, ATA_REG_NSECT, 0x45);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_FEATURES);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    outb(&f, 0, ATA_REG_ERROR, 0x82);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_FEATURES);
    read_identify(&f, ATA_CMD_IDENTIFY, id);
    CHECK_EQ(id[88], 0x3f | 0x2000);
    CHECK_EQ(id[63], 7);
    CHECK_EQ(id[85] & 0x20, 0);
    outb(&f, 0, ATA_REG_ERROR, 0x03);
    outb(&f, 0, ATA_REG_NSECT, 0x22);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_FEATURES);
    read_identify(&f, ATA_CMD_IDENTIFY, id);
    CHECK_EQ(id[88], 0x3f);
    CHECK_EQ(id[63], 0x0407);
    outb(&f, 0, ATA_REG_NSECT, 0x46); /* UDMA 6: not offered */
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_FEATURES);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    /* The CD-ROM aborts IDENTIFY DEVICE and shows its signature. */
    sel(&f, 0, 1, 0);
    outb(&f, 0, ATA_REG_NSECT, 0);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_IDENTIFY);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS) & (ATA_SR_ERR | ATA_SR_DRQ), ATA_SR_ERR);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAM), 0x14);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAH), 0xeb);
    read_identify(&f, ATA_CMD_ID_PACKET, id);
    CHECK_EQ(id[0], 0x85c0);
    idstr(id, 27, 40, s);
    CHECK(!strncmp(s, "Terrarium DVD-ROM ", 18));
    CHECK_EQ(id[49] & 0x0300, 0x0300);
    CHECK_EQ(id[88] & 0x3f, 0x3f);
    CHECK_EQ(id[255] & 0xff, 0xa5);
    teardown(&f);
}

static void test_pio_lba28(void)
{
    struct fx f;
    static uint8_t buf[65536];
    unsigned blocks = 0;
    setup(&f);
    ata28(&f, ATA_CMD_READ, 5, 3);
    CHECK_EQ(f.lines[0].rises, 1);
    CHECK_EQ(pio_in(&f, 0, buf, sizeof(buf), 512, &blocks), 3 * 512);
    CHECK_EQ(blocks, 3);
    CHECK_EQ(f.lines[0].rises, 3); /* one interrupt per sector */
    CHECK(pattern_at(buf, 5 * 512, 3 * 512, pat));
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    /* Write the last 2 sectors of the disk. */
    uint32_t lba = DISK_SECTORS - 2;
    ata28(&f, ATA_CMD_WRITE, lba, 2);
    CHECK_EQ(altstatus(&f, 0) & ATA_SR_DRQ, ATA_SR_DRQ);
    CHECK_EQ(f.lines[0].level, 0); /* no interrupt before the first block */
    for (int i = 0; i < 512; i++)
        buf[i] = (uint8_t)(i ^ 0x5a);
    for (int i = 0; i < 512; i += 4) /* 32-bit PIO */
        vmm_ide_cmd_ops.write(&f.ide->ch[0], 0, 4, 0);
    CHECK_EQ(altstatus(&f, 0) & ATA_SR_DRQ, ATA_SR_DRQ);
    CHECK_EQ(f.lines[0].level, 1);
    (void)inb(&f, 0, ATA_REG_STATUS);
    for (int i = 0; i < 512; i += 2)
        outw(&f, 0, (uint16_t)(buf[i] | buf[i + 1] << 8));
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK(file_matches(f.disk_fd, (uint64_t)(lba + 1) * 512, buf, 512));
    uint8_t chk[512];
    CHECK_EQ(pread(f.disk_fd, chk, 512, (off_t)lba * 512), 512);
    bool zero = true;
    for (int i = 0; i < 512; i++)
        zero = zero && chk[i] == 0;
    CHECK(zero);
    /* 32-bit reads return two words. */
    ata28(&f, ATA_CMD_READ, 7, 1);
    uint32_t dw = (uint32_t)vmm_ide_cmd_ops.read(&f.ide->ch[0], 0, 4);
    CHECK_EQ(dw,
             (uint32_t)pat(3584) | pat(3585) << 8 | pat(3586) << 16 | (uint32_t)pat(3587) << 24);
    CHECK_EQ(pio_in(&f, 0, buf, sizeof(buf), 508, NULL), 508);
    CHECK(pattern_at(buf, 3588, 508, pat));
    /* 0 sectors means 256. */
    ata28(&f, ATA_CMD_VERIFY, 0, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    blocks = 0;
    ata28(&f, ATA_CMD_READ, 100, 0);
    CHECK_EQ(pio_in(&f, 0, buf, sizeof(buf), 512, &blocks), 256 * 512);
    CHECK_EQ(blocks, 256);
    CHECK(pattern_at(buf, 100 * 512, sizeof(buf), pat));
    teardown(&f);
}

static void test_pio_lba48(void)
{
    struct fx f;
    static uint8_t buf[4096];
    uint16_t id[256];
    setup(&f);
    /* A sparse 130 GiB disk on channel 1 master. */
    char path[64];
    uint64_t sectors = 130ULL * GIB / 512;
    int fd = make_image(path, sectors * 512, 0, pat);
    CHECK_EQ(vmm_ide_attach(f.ide, 1, 0, VMM_IDE_DISK, open_image(path, 0), NULL), 0);
    CHECK_EQ(vmm_ide_attach(f.ide, 1, 0, VMM_IDE_DISK, NULL, NULL), -EINVAL);
    outb(&f, 1, ATA_REG_DEVICE, 0xa0);
    outb(&f, 1, ATA_REG_STATUS, ATA_CMD_IDENTIFY);
    for (int i = 0; i < 256; i++)
        id[i] = inw(&f, 1);
    CHECK_EQ(id[60] | (uint32_t)id[61] << 16, 0x0fffffff);
    CHECK_EQ(id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32, sectors);
    CHECK_EQ(id[1], 16383);
    char s[24];
    idstr(id, 10, 20, s);
    CHECK(!strncmp(s, "TRMHD-10", 8));
    CHECK_EQ(f.lines[1].rises, 1);
    teardown(&f); /* closes the disks */
    /* LBA48 beyond 28 bits on a fresh fixture with the big disk at 0:0. */
    setup(&f);
    vmm_ide_fini(f.ide);
    CHECK_EQ(vmm_ide_init(f.ide, &f.irqs[0], &f.irqs[1], &f.mem), 0);
    CHECK_EQ(vmm_ide_attach(f.ide, 0, 0, VMM_IDE_DISK, open_image(path, 0), NULL), 0);
    vmm_pci_set16(&f.ide->pci, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    uint64_t lba = 0x10000010ULL;
    for (int i = 0; i < 1024; i++)
        buf[i] = (uint8_t)(i * 3 + 1);
    ata48(&f, ATA_CMD_WRITE_EXT, lba, 2);
    for (int blk = 0; blk < 2; blk++) {
        CHECK_EQ(altstatus(&f, 0) & ATA_SR_DRQ, ATA_SR_DRQ);
        (void)inb(&f, 0, ATA_REG_STATUS);
        for (int i = 0; i < 512; i += 2)
            outw(&f, 0, (uint16_t)(buf[blk * 512 + i] | buf[blk * 512 + i + 1] << 8));
    }
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK(file_matches(fd, lba * 512, buf, 1024));
    /* HOB reads back the previous bytes. */
    devctl(&f, 0, ATA_CTL_HOB);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAL), 0x10);
    CHECK_EQ(inb(&f, 0, ATA_REG_NSECT), 0);
    devctl(&f, 0, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAL), 0x10);
    /* Read it back through LBA48, and via DMA EXT too. */
    memset(buf, 0, sizeof(buf));
    ata48(&f, ATA_CMD_READ_EXT, lba + 1, 1);
    CHECK_EQ(pio_in(&f, 0, buf, sizeof(buf), 512, NULL), 512);
    for (int i = 0; i < 512; i++)
        if (buf[i] != (uint8_t)((512 + i) * 3 + 1)) {
            CHECK(!"LBA48 read-back differs");
            break;
        }
    prd(&f, 0x1000, 0x8000, 1024, true);
    ata48(&f, ATA_CMD_READ_DMA_EXT, lba, 2);
    bm_start(&f, 0, 0x1000, true);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), BMIDE_ST_INTR);
    CHECK(file_matches(fd, lba * 512, gp(&f.mem, 0x8000, 1024), 1024));
    bm_stop(&f, 0);
    /* Out of range in LBA48. */
    ata48(&f, ATA_CMD_READ_EXT, sectors - 1, 2);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_IDNF);
    /* LBA28 cannot reach it: 0x10000010 wraps to LBA 0x0000010 of the 28-bit space. */
    ata28(&f, ATA_CMD_READ, 0x10, 1);
    CHECK_EQ(pio_in(&f, 0, buf, sizeof(buf), 512, NULL), 512);
    CHECK_EQ(buf[0], 0);
    close(fd);
    unlink(path);
    vmm_ide_fini(f.ide);
    CHECK_EQ(vmm_ide_init(f.ide, &f.irqs[0], &f.irqs[1], &f.mem), 0);
    teardown(&f);
}

static void chs_cmd(struct fx *f, uint8_t cmd, unsigned c, unsigned h, unsigned s, uint8_t n)
{
    outb(f, 0, ATA_REG_NSECT, n);
    outb(f, 0, ATA_REG_LBAL, (uint8_t)s);
    outb(f, 0, ATA_REG_LBAM, (uint8_t)c);
    outb(f, 0, ATA_REG_LBAH, (uint8_t)(c >> 8));
    outb(f, 0, ATA_REG_DEVICE, (uint8_t)(0xa0 | h));
    outb(f, 0, ATA_REG_STATUS, cmd);
}

static void test_pio_chs(void)
{
    struct fx f;
    uint8_t buf[1024];
    uint16_t id[256];
    setup(&f);
    /* Default geometry 16 heads x 63 sectors: C/H/S 1/2/3 is LBA (1*16+2)*63+2. */
    chs_cmd(&f, ATA_CMD_READ, 1, 2, 3, 2);
    CHECK_EQ(pio_in(&f, 0, buf, sizeof(buf), 512, NULL), 1024);
    CHECK(pattern_at(buf, 1136 * 512, 1024, pat));
    for (int i = 0; i < 512; i++)
        buf[i] = (uint8_t)(0xc3 ^ i);
    chs_cmd(&f, ATA_CMD_WRITE, 2, 15, 63, 1);
    for (int i = 0; i < 512; i += 2)
        outw(&f, 0, (uint16_t)(buf[i] | buf[i + 1] << 8));
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK(file_matches(f.disk_fd, ((2 * 16 + 15) * 63 + 62) * 512ULL, buf, 512));
    /* Sector 0 and a head past the geometry do not exist. */
    chs_cmd(&f, ATA_CMD_READ, 0, 0, 0, 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS) & ATA_SR_ERR, ATA_SR_ERR);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_IDNF);
    /* INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors. */
    outb(&f, 0, ATA_REG_NSECT, 17);
    outb(&f, 0, ATA_REG_DEVICE, 0xa3);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_INIT_PARAMS);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    outb(&f, 0, ATA_REG_DEVICE, 0xa0);
    read_identify(&f, ATA_CMD_IDENTIFY, id);
    CHECK_EQ(id[55], 4);
    CHECK_EQ(id[56], 17);
    CHECK_EQ(id[54], DISK_SECTORS / (4 * 17));
    CHECK_EQ(id[3], 16); /* default geometry unchanged */
    chs_cmd(&f, ATA_CMD_READ, 3, 3, 17, 1);
    CHECK_EQ(pio_in(&f, 0, buf, sizeof(buf), 512, NULL), 512);
    CHECK(pattern_at(buf, ((3 * 4 + 3) * 17 + 16) * 512ULL, 512, pat));
    chs_cmd(&f, ATA_CMD_READ, 3, 3, 18, 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_IDNF);
    outb(&f, 0, ATA_REG_NSECT, 0);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_INIT_PARAMS);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    teardown(&f);
}

static void test_multiple(void)
{
    struct fx f;
    static uint8_t buf[16384];
    uint16_t id[256];
    unsigned blocks = 0;
    setup(&f);
    ata28(&f, ATA_CMD_READ_MULTI, 0, 4);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    outb(&f, 0, ATA_REG_NSECT, 3);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_MULTI);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    outb(&f, 0, ATA_REG_NSECT, 32);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_MULTI);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    outb(&f, 0, ATA_REG_NSECT, 4);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_MULTI);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    read_identify(&f, ATA_CMD_IDENTIFY, id);
    CHECK_EQ(id[59], 0x0104);
    /* WRITE MULTIPLE of 10 sectors: blocks of 4, 4 and 2, interrupts after each. */
    for (unsigned i = 0; i < 10 * 512; i++)
        buf[i] = (uint8_t)(i * 11 + 5);
    unsigned rises = f.lines[0].rises;
    ata28(&f, ATA_CMD_WRITE_MULTI, 200, 10);
    unsigned words = 0, drq_blocks = 0;
    while ((altstatus(&f, 0) & ATA_SR_DRQ) && words < 10 * 256) {
        (void)inb(&f, 0, ATA_REG_STATUS);
        drq_blocks++;
        unsigned n = words + 4 * 256 <= 10 * 256 ? 4 * 256 : 10 * 256 - words;
        for (unsigned i = 0; i < n; i++, words++)
            outw(&f, 0, (uint16_t)(buf[2 * words] | buf[2 * words + 1] << 8));
    }
    CHECK_EQ(drq_blocks, 3);
    CHECK_EQ(f.lines[0].rises - rises, 3);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK(file_matches(f.disk_fd, 200 * 512, buf, 10 * 512));
    /* READ MULTIPLE EXT: 4, 4, 2 again, as the interrupts show. */
    memset(buf, 0, sizeof(buf));
    rises = f.lines[0].rises;
    ata48(&f, ATA_CMD_READ_MULTI_EXT, 200, 10);
    CHECK_EQ(pio_in(&f, 0, buf, sizeof(buf), 2048, &blocks), 3 * 2048);
    CHECK_EQ(blocks, 3);
    CHECK_EQ(f.lines[0].rises - rises, 3);
    CHECK(file_matches(f.disk_fd, 200 * 512, buf, 10 * 512));
    /* WRITE MULTIPLE EXT round trip. */
    for (unsigned i = 0; i < 4 * 512; i++)
        buf[i] = (uint8_t)(i * 5 + 9);
    ata48(&f, ATA_CMD_WRITE_MULTI_EXT, 300, 4);
    for (unsigned i = 0; i < 4 * 512; i += 2)
        outw(&f, 0, (uint16_t)(buf[i] | buf[i + 1] << 8));
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK(file_matches(f.disk_fd, 300 * 512, buf, 4 * 512));
    /* Multiple mode off again. */
    outb(&f, 0, ATA_REG_NSECT, 0);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_MULTI);
    ata28(&f, ATA_CMD_READ_MULTI, 0, 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    teardown(&f);
}

static void test_dma(void)
{
    struct fx f;
    setup(&f);
    /* READ DMA of 5 sectors over two entries, command first, then start. */
    prd(&f, 0x1000, 0x10000, 1024, false);
    prd(&f, 0x1008, 0x20000, 1536, true);
    ata28(&f, ATA_CMD_READ_DMA, 40, 5);
    CHECK_EQ(altstatus(&f, 0) & ATA_SR_DRQ, ATA_SR_DRQ);
    CHECK_EQ(f.lines[0].level, 0);
    bm_start(&f, 0, 0x1000, true);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), BMIDE_ST_INTR); /* active cleared: table used up */
    CHECK_EQ(f.lines[0].level, 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK(pattern_at(gp(&f.mem, 0x10000, 1024), 40 * 512, 1024, pat));
    CHECK(pattern_at(gp(&f.mem, 0x20000, 1536), 42 * 512, 1536, pat));
    CHECK_EQ(bm_in(&f, BMIDE_CMD, 1), BMIDE_CMD_START | BMIDE_CMD_TO_MEM);
    bm_stop(&f, 0);
    bm_out(&f, BMIDE_STATUS, 1, BMIDE_ST_INTR);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), 0);
    /* A 0 byte count is 64 KiB: 128 sectors in one entry; start first, command after. */
    prd(&f, 0x2000, 0x100000, 0, true);
    bm_start(&f, 0, 0x2000, true);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), BMIDE_ST_ACTIVE);
    ata28(&f, ATA_CMD_READ_DMA, 1000, 128);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), BMIDE_ST_INTR);
    CHECK(pattern_at(gp(&f.mem, 0x100000, 65536), 1000 * 512, 65536, pat));
    bm_stop(&f, 0);
    /* A table larger than the transfer: interrupt with active still set. */
    prd(&f, 0x3000, 0x200000, 0, true);
    ata28(&f, ATA_CMD_READ_DMA, 3, 1);
    bm_start(&f, 0, 0x3000, true);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), BMIDE_ST_ACTIVE | BMIDE_ST_INTR);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK(pattern_at(gp(&f.mem, 0x200000, 512), 3 * 512, 512, pat));
    bm_stop(&f, 0);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), BMIDE_ST_INTR);
    /* WRITE DMA EXT over three entries, from guest RAM to the image. */
    uint8_t *src = gp(&f.mem, 0x300000, 3 * 512 + 1024);
    for (int i = 0; i < 3 * 512 + 1024; i++)
        src[i] = (uint8_t)(i * 13 + 7);
    prd(&f, 0x4000, 0x300000, 512, false);
    prd(&f, 0x4008, 0x300200, 2048, false);
    prd(&f, 0x4010, 0x300a00, 0, true);
    ata48(&f, ATA_CMD_WRITE_DMA_EXT, 500, 5);
    bm_start(&f, 0, 0x4000, false);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1) & (BMIDE_ST_INTR | BMIDE_ST_ERROR), BMIDE_ST_INTR);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK(file_matches(f.disk_fd, 500 * 512, src, 5 * 512));
    bm_stop(&f, 0);
    /* Register widths: the PRD address is dword aligned, capability bits stick. */
    bm_out(&f, BMIDE_PRDT, 4, 0x12345677);
    CHECK_EQ(bm_in(&f, BMIDE_PRDT, 4), 0x12345674);
    bm_out(&f, BMIDE_PRDT + 2, 2, 0xabcd);
    CHECK_EQ(bm_in(&f, BMIDE_PRDT, 4), 0xabcd5674);
    bm_out(&f, BMIDE_STATUS, 1, BMIDE_ST_DMA0 | BMIDE_ST_DMA1 | 0x80);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), BMIDE_ST_DMA0 | BMIDE_ST_DMA1 | BMIDE_ST_INTR);
    CHECK_EQ(bm_in(&f, 8 + BMIDE_STATUS, 1), 0);
    bm_out(&f, BMIDE_CMD, 1, 0xff);
    CHECK_EQ(bm_in(&f, BMIDE_CMD, 1), BMIDE_CMD_START | BMIDE_CMD_TO_MEM);
    bm_out(&f, BMIDE_CMD, 1, BMIDE_CMD_START); /* direction frozen while started */
    CHECK_EQ(bm_in(&f, BMIDE_CMD, 1), BMIDE_CMD_START | BMIDE_CMD_TO_MEM);
    bm_stop(&f, 0);
    CHECK_EQ(bm_in(&f, 16, 1), 0xff);
    teardown(&f);
}

/* Starts a 4-sector READ DMA at 0 against the table at `table`; expects a bus-master error. */
static void expect_dma_error(struct fx *f, uint32_t table, bool to_mem, const char *what)
{
    ata28(f, ATA_CMD_READ_DMA, 0, 4);
    bm_start(f, 0, table, to_mem);
    uint8_t st = (uint8_t)bm_in(f, BMIDE_STATUS, 1);
    if ((st & (BMIDE_ST_ERROR | BMIDE_ST_ACTIVE | BMIDE_ST_INTR)) !=
        (BMIDE_ST_ERROR | BMIDE_ST_INTR))
        fprintf(stderr, "dma error case '%s': bm status 0x%x\n", what, st);
    CHECK_EQ(st & (BMIDE_ST_ERROR | BMIDE_ST_ACTIVE | BMIDE_ST_INTR),
             BMIDE_ST_ERROR | BMIDE_ST_INTR);
    CHECK_EQ(inb(f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
    CHECK_EQ(inb(f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    bm_stop(f, 0);
}

static void test_dma_errors(void)
{
    struct fx f;
    setup(&f);
    /* No EOT: 2-byte entries up to the 64 KiB boundary, never enough. */
    for (uint32_t a = 0xf000; a < 0x10000; a += 8)
        prd(&f, a, 0x50000, 2, false);
    prd(&f, 0x10000, 0x50000, 0, true); /* past the boundary: must not be used */
    expect_dma_error(&f, 0xf000, true, "no EOT");
    /* A table whose EOT comes before the transfer's end. */
    prd(&f, 0x1000, 0x50000, 1024, true);
    expect_dma_error(&f, 0x1000, true, "short table");
    /* Buffers outside RAM: the PCI hole, past the end of RAM, straddling the end. */
    prd(&f, 0x1000, 0xf0000000u, 0, true);
    expect_dma_error(&f, 0x1000, true, "buffer in the PCI hole");
    prd(&f, 0x1000, (uint32_t)(64 * MIB - 1024), 2048, true);
    expect_dma_error(&f, 0x1000, true, "buffer straddling the end of RAM");
    /* The table itself outside RAM. */
    expect_dma_error(&f, 0xfffffff0u, true, "table outside RAM");
    expect_dma_error(&f, (uint32_t)(64 * MIB - 4), true, "table entry straddling the end");
    /* Direction bit disagreeing with the command. */
    prd(&f, 0x1000, 0x50000, 2048, true);
    expect_dma_error(&f, 0x1000, false, "wrong direction");
    /* Bus mastering disabled in the command register. */
    vmm_pci_set16(&f.ide->pci, PCI_COMMAND, PCI_COMMAND_IO);
    expect_dma_error(&f, 0x1000, true, "bus master off");
    vmm_pci_set16(&f.ide->pci, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    /* The device is usable again afterwards. */
    ata28(&f, ATA_CMD_READ_DMA, 8, 4);
    bm_start(&f, 0, 0x1000, true);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), BMIDE_ST_INTR);
    CHECK(pattern_at(gp(&f.mem, 0x50000, 2048), 8 * 512, 2048, pat));
    bm_stop(&f, 0);
    teardown(&f);
}

/* A disk whose I/O always fails. */
static int fail_rw(struct vmm_disk *d, void *buf, size_t len, uint64_t off)
{
    return -EIO;
}

static int fail_w(struct vmm_disk *d, const void *buf, size_t len, uint64_t off)
{
    return -EIO;
}

static int fail_flush(struct vmm_disk *d)
{
    return -EIO;
}

static void fail_close(struct vmm_disk *d)
{
}

static const struct vmm_disk_ops fail_ops = {
    .name = "fail", .pread = fail_rw, .pwrite = fail_w, .flush = fail_flush, .close = fail_close};

static void test_ata_errors(void)
{
    struct fx f;
    uint8_t buf[1024];
    setup(&f);
    /* Past the end. */
    ata28(&f, ATA_CMD_READ, DISK_SECTORS - 1, 2);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_IDNF);
    CHECK_EQ(f.lines[0].rises, 1);
    ata28(&f, ATA_CMD_WRITE_DMA, DISK_SECTORS, 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_IDNF);
    ata28(&f, ATA_CMD_VERIFY, DISK_SECTORS - 1, 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    ata28(&f, ATA_CMD_VERIFY, DISK_SECTORS, 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_IDNF);
    ata28(&f, ATA_CMD_SEEK, DISK_SECTORS, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_IDNF);
    /* Unknown commands, NOP, DEVICE RESET and PACKET abort on a disk. */
    static const uint8_t bad[] = {
        0x00, 0x5a, 0xff, ATA_CMD_DEVICE_RESET, ATA_CMD_PACKET, ATA_CMD_ID_PACKET};
    for (unsigned i = 0; i < sizeof(bad); i++) {
        outb(&f, 0, ATA_REG_STATUS, bad[i]);
        CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
        CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    }
    /* A read-only disk refuses writes (an image of its own: the one at 0:0 is open for
     * writing, and an image has one writer or readers, never both). */
    char ro_path[64];
    int ro_fd = make_image(ro_path, DISK_SECTORS * 512ULL, DISK_SECTORS * 512ULL, pat);
    CHECK_EQ(vmm_ide_attach(f.ide, 1, 1, VMM_IDE_DISK, open_image(ro_path, VMM_DISK_RDONLY), NULL),
             0);
    outb(&f, 1, ATA_REG_DEVICE, 0xf0);
    outb(&f, 1, ATA_REG_NSECT, 1);
    outb(&f, 1, ATA_REG_LBAL, 0);
    outb(&f, 1, ATA_REG_STATUS, ATA_CMD_WRITE);
    CHECK_EQ(inb(&f, 1, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
    CHECK_EQ(inb(&f, 1, ATA_REG_ERROR), ATA_ER_ABRT);
    outb(&f, 1, ATA_REG_STATUS, ATA_CMD_WRITE_DMA);
    CHECK_EQ(inb(&f, 1, ATA_REG_ERROR), ATA_ER_ABRT);
    outb(&f, 1, ATA_REG_STATUS, ATA_CMD_READ);
    CHECK_EQ(vmm_ide_cmd_ops.read(&f.ide->ch[1], 0, 2), pat(0) | pat(1) << 8);
    /* Backend errors: UNC with the failing address, for PIO and DMA alike. */
    struct vmm_disk *bad_disk = calloc(1, sizeof(*bad_disk));
    bad_disk->ops = &fail_ops;
    bad_disk->size = 1 * MIB;
    CHECK_EQ(vmm_ide_attach(f.ide, 1, 0, VMM_IDE_DISK, bad_disk, NULL), 0);
    outb(&f, 1, ATA_REG_DEVICE, 0xe0);
    outb(&f, 1, ATA_REG_NSECT, 2);
    outb(&f, 1, ATA_REG_LBAL, 9);
    outb(&f, 1, ATA_REG_STATUS, ATA_CMD_READ);
    CHECK_EQ(inb(&f, 1, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
    CHECK_EQ(inb(&f, 1, ATA_REG_ERROR), ATA_ER_UNC);
    CHECK_EQ(inb(&f, 1, ATA_REG_LBAL), 9);
    outb(&f, 1, ATA_REG_STATUS, ATA_CMD_WRITE);
    for (int i = 0; i < 256; i++)
        outw(&f, 1, 0x1234);
    CHECK_EQ(inb(&f, 1, ATA_REG_ERROR), ATA_ER_UNC);
    outb(&f, 1, ATA_REG_STATUS, ATA_CMD_FLUSH);
    CHECK_EQ(inb(&f, 1, ATA_REG_STATUS) & ATA_SR_ERR, ATA_SR_ERR);
    prd(&f, 0x1000, 0x50000, 1024, true);
    outb(&f, 1, ATA_REG_STATUS, ATA_CMD_READ_DMA);
    bm_start(&f, 1, 0x1000, true);
    CHECK_EQ(bm_in(&f, 8 + BMIDE_STATUS, 1) & (BMIDE_ST_ACTIVE | BMIDE_ST_INTR), BMIDE_ST_INTR);
    CHECK_EQ(inb(&f, 1, ATA_REG_ERROR), ATA_ER_UNC);
    bm_stop(&f, 1);
    /* Data port reads with no DRQ read all ones and change nothing. */
    CHECK_EQ(inw(&f, 0), 0xffff);
    ata28(&f, ATA_CMD_READ, 0, 1);
    CHECK_EQ(pio_in(&f, 0, buf, sizeof(buf), 512, NULL), 512);
    CHECK(pattern_at(buf, 0, 512, pat));
    teardown(&f);
    close(ro_fd);
    unlink(ro_path);
}

static void test_ata_misc(void)
{
    struct fx f;
    setup(&f);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_FLUSH);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_FLUSH_EXT);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    /* Power states. */
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_CHECK_POWER);
    CHECK_EQ(inb(&f, 0, ATA_REG_NSECT), 0xff);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_STANDBY_NOW);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_CHECK_POWER);
    CHECK_EQ(inb(&f, 0, ATA_REG_NSECT), 0x00);
    ata28(&f, ATA_CMD_VERIFY, 0, 1);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_CHECK_POWER);
    CHECK_EQ(inb(&f, 0, ATA_REG_NSECT), 0xff);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_STANDBY);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_IDLE_NOW);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_CHECK_POWER);
    CHECK_EQ(inb(&f, 0, ATA_REG_NSECT), 0xff);
    /* SEEK and RECALIBRATE complete with an interrupt. */
    unsigned rises = f.lines[0].rises;
    ata28(&f, ATA_CMD_SEEK, 100, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    outb(&f, 0, ATA_REG_STATUS, 0x1f);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK_EQ(f.lines[0].rises - rises, 2);
    /* SET FEATURES that are accepted as no-ops, and one that is not. */
    outb(&f, 0, ATA_REG_ERROR, ATA_SF_LOOKAHEAD_ON);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_FEATURES);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    outb(&f, 0, ATA_REG_ERROR, 0x77);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_FEATURES);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), ATA_ER_ABRT);
    /* nIEN masks the line; the interrupt shows once it is cleared. */
    devctl(&f, 0, ATA_CTL_NIEN);
    bm_out(&f, BMIDE_STATUS, 1, BMIDE_ST_INTR);
    rises = f.lines[0].rises;
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_FLUSH);
    CHECK_EQ(f.lines[0].level, 0);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1) & BMIDE_ST_INTR, 0);
    devctl(&f, 0, 0);
    CHECK_EQ(f.lines[0].level, 1);
    CHECK_EQ(f.lines[0].rises - rises, 1);
    /* Selecting the other device hides device 0's interrupt. */
    sel(&f, 0, 1, 0);
    CHECK_EQ(f.lines[0].level, 0);
    sel(&f, 0, 0, 0);
    CHECK_EQ(f.lines[0].level, 1);
    (void)inb(&f, 0, ATA_REG_STATUS);
    CHECK_EQ(f.lines[0].level, 0);
    /* A command written while DRQ is set is ignored. */
    ata28(&f, ATA_CMD_READ, 0, 1);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_FLUSH);
    CHECK_EQ(altstatus(&f, 0), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ);
    CHECK_EQ(inw(&f, 0), pat(0) | pat(1) << 8);
    teardown(&f);
}

static void test_resets(void)
{
    struct fx f;
    uint16_t id[256];
    setup(&f);
    outb(&f, 0, ATA_REG_NSECT, 8);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_SET_MULTI);
    /* SRST in the middle of a transfer. */
    ata28(&f, ATA_CMD_READ, 0, 4);
    (void)inw(&f, 0);
    sel(&f, 0, 1, 0);
    devctl(&f, 0, ATA_CTL_SRST);
    CHECK_EQ(altstatus(&f, 0), ATA_SR_BSY);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_ID_PACKET); /* ignored during reset */
    devctl(&f, 0, 0);
    CHECK_EQ(f.lines[0].level, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_DEVICE) & ATA_DEV_DEV, 0); /* device 0 selected */
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK_EQ(inb(&f, 0, ATA_REG_NSECT), 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAL), 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), 1);
    CHECK_EQ(inw(&f, 0), 0xffff);
    sel(&f, 0, 1, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAM), 0x14);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAH), 0xeb);
    /* EXECUTE DEVICE DIAGNOSTIC, sent to device 1: device 0 reports. */
    outb(&f, 0, ATA_REG_LBAM, 0x99);
    outb(&f, 0, ATA_REG_STATUS, ATA_CMD_DIAGNOSE);
    CHECK_EQ(f.lines[0].level, 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_ERROR), 1);
    CHECK_EQ(inb(&f, 0, ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAM), 0);
    sel(&f, 0, 1, 0);
    CHECK_EQ(inb(&f, 0, ATA_REG_LBAM), 0x14);
    /* Machine reset: multiple mode, geometry, bus master back to power-on. */
    sel(&f, 0, 0, 0);
    bm_out(&f, BMIDE_PRDT, 4, 0x8000);
    bm_out(&f, BMIDE_STATUS, 1, BMIDE_ST_DMA0);
    devctl(&f, 0, ATA_CTL_NIEN);
    vmm_ide_reset(f.ide);
    CHECK_EQ(bm_in(&f, BMIDE_PRDT, 4), 0);
    CHECK_EQ(bm_in(&f, BMIDE_STATUS, 1), 0);
    CHECK_EQ(vmm_pci_get16(&f.ide->pci, PIIX_IDETIM_PRI), 0x8000);
    read_identify(&f, ATA_CMD_IDENTIFY, id);
    CHECK_EQ(id[59], 0);
    CHECK_EQ(f.lines[0].level, 1); /* nIEN cleared by the reset */
    teardown(&f);
}

int main(void)
{
    RUN_TEST(test_pci);
    RUN_TEST(test_empty_channel);
    RUN_TEST(test_signatures);
    RUN_TEST(test_identify);
    RUN_TEST(test_pio_lba28);
    RUN_TEST(test_pio_lba48);
    RUN_TEST(test_pio_chs);
    RUN_TEST(test_multiple);
    RUN_TEST(test_dma);
    RUN_TEST(test_dma_errors);
    RUN_TEST(test_ata_errors);
    RUN_TEST(test_ata_misc);
    RUN_TEST(test_resets);
    return test_finish();
}
