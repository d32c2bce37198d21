/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fw_cfg driven through its ports: selector/data reads, the file directory,
 * and the DMA interface against fake guest RAM (2 MiB low, 1 MiB at 4 GiB),
 * including hostile DMA structures.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>

#include "fake-guest-mem.h"
#include "hw/fw-cfg.h"
#include "test.h"

#define LOW (2 * MIB)
#define HIGH (1 * MIB)

struct fixture {
    struct vmm_guest_mem mem;
    struct vmm_fw_cfg fw;
};

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->mem = fake_mem_new(LOW, HIGH);
    pthread_mutex_init(&f->fw.dev.lock, NULL);
    CHECK_EQ(vmm_fw_cfg_init(&f->fw, &f->mem), 0);
}

static void teardown(struct fixture *f)
{
    vmm_fw_cfg_fini(&f->fw);
    pthread_mutex_destroy(&f->fw.dev.lock);
    fake_mem_free(&f->mem);
}

static void sel(struct fixture *f, uint16_t key)
{
    vmm_fw_cfg_ops.write(&f->fw, 0, 2, key);
}

static uint8_t rd8(struct fixture *f)
{
    return (uint8_t)vmm_fw_cfg_ops.read(&f->fw, 1, 1);
}

static void rd(struct fixture *f, void *buf, size_t n)
{
    uint8_t *b = buf;
    for (size_t i = 0; i < n; i++)
        b[i] = rd8(f);
}

static uint32_t be32_at(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return be32toh(v);
}

static uint16_t be16_at(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return be16toh(v);
}

/* Writes an FWCfgDmaAccess at gpa. */
static void put_desc(struct fixture *f, uint64_t gpa, uint32_t control, uint32_t length,
                     uint64_t address)
{
    uint8_t *p = gp(&f->mem, gpa, 16);
    uint32_t c = htobe32(control), l = htobe32(length);
    uint64_t a = htobe64(address);
    memcpy(p, &c, 4);
    memcpy(p + 4, &l, 4);
    memcpy(p + 8, &a, 8);
}

/* The guest's two big-endian outl()s to 0x514 and 0x518. */
static void dma_go(struct fixture *f, uint64_t gpa)
{
    uint32_t hi = (uint32_t)(gpa >> 32), lo = (uint32_t)gpa;
    uint32_t hi_port, lo_port;
    hi = htobe32(hi);
    lo = htobe32(lo);
    memcpy(&hi_port, &hi, 4); /* the bytes the port sees, read as a little-endian dword */
    memcpy(&lo_port, &lo, 4);
    vmm_fw_cfg_dma_ops.write(&f->fw, 0, 4, le32toh(hi_port));
    vmm_fw_cfg_dma_ops.write(&f->fw, 4, 4, le32toh(lo_port));
}

static uint32_t desc_control(struct fixture *f, uint64_t gpa)
{
    return be32_at(gp(&f->mem, gpa, 4));
}

#define CTL(key, bits) ((uint32_t)(key) << 16 | FW_CFG_DMA_CTL_SELECT | (bits))

static void test_signature_and_id(void)
{
    struct fixture f;
    setup(&f);
    /* Key 0 is selected at power-on. */
    char sig[5] = {0};
    rd(&f, sig, 4);
    CHECK(memcmp(sig, "QEMU", 4) == 0);
    CHECK_EQ(rd8(&f), 0); /* past the end */
    sel(&f, FW_CFG_ID);
    uint8_t id[4];
    rd(&f, id, 4);
    CHECK_EQ(id[0], FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
    CHECK_EQ(id[1] | id[2] | id[3], 0);
    /* The DMA address register reads "QEMU CFG" in big-endian byte order. */
    CHECK_EQ(vmm_fw_cfg_dma_ops.read(&f.fw, 0, 4), 0x554d4551); /* "QEMU" */
    CHECK_EQ(vmm_fw_cfg_dma_ops.read(&f.fw, 4, 4), 0x47464320); /* " CFG" */
    CHECK_EQ(vmm_fw_cfg_dma_ops.read(&f.fw, 7, 1), 'G');
    /* The write-channel bit (14) is ignored; the selector reads 0. */
    sel(&f, FW_CFG_WRITE_CHANNEL | FW_CFG_SIGNATURE);
    CHECK_EQ(rd8(&f), 'Q');
    CHECK_EQ(vmm_fw_cfg_ops.read(&f.fw, 0, 2), 0);
    /* Reset selects the signature again. */
    sel(&f, FW_CFG_ID);
    vmm_fw_cfg_reset(&f.fw);
    CHECK_EQ(rd8(&f), 'Q');
    teardown(&f);
}

static void test_numbers_and_keys(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(vmm_fw_cfg_add_u64(&f.fw, FW_CFG_RAM_SIZE, 0x123456789ull), 0);
    CHECK_EQ(vmm_fw_cfg_add_u16(&f.fw, FW_CFG_NB_CPUS, 2), 0);
    CHECK_EQ(vmm_fw_cfg_add_u16(&f.fw, FW_CFG_MAX_CPUS, 4), 0);
    CHECK_EQ(vmm_fw_cfg_add_u16(&f.fw, FW_CFG_BOOT_MENU, 1), 0);
    CHECK_EQ(vmm_fw_cfg_add_u32(&f.fw, FW_CFG_KERNEL_SIZE, 0xa0b0c0d0), 0);
    CHECK_EQ(vmm_fw_cfg_add_u32(&f.fw, FW_CFG_ARCH_LOCAL | 3, 0x11223344), 0);
    static const char cmdline[] = "console=ttyS0";
    CHECK_EQ(vmm_fw_cfg_add_bytes_ref(&f.fw, FW_CFG_CMDLINE_DATA, cmdline, sizeof(cmdline)), 0);

    uint8_t b[8];
    sel(&f, FW_CFG_RAM_SIZE);
    rd(&f, b, 8);
    CHECK_EQ(b[0], 0x89);
    CHECK_EQ(b[1], 0x67);
    CHECK_EQ(b[4], 0x01);
    CHECK_EQ(b[5], 0x00);
    sel(&f, FW_CFG_NB_CPUS);
    CHECK_EQ(rd8(&f), 2);
    CHECK_EQ(rd8(&f), 0);
    sel(&f, FW_CFG_MAX_CPUS);
    CHECK_EQ(vmm_fw_cfg_ops.read(&f.fw, 1, 2), 4); /* a wider read streams bytes */
    sel(&f, FW_CFG_KERNEL_SIZE);
    CHECK_EQ(vmm_fw_cfg_ops.read(&f.fw, 1, 4), 0xa0b0c0d0);
    sel(&f, FW_CFG_ARCH_LOCAL | 3);
    CHECK_EQ(vmm_fw_cfg_ops.read(&f.fw, 1, 4), 0x11223344);
    sel(&f, 3); /* the generic key 3 is RAM size, not the arch item */
    CHECK_EQ(rd8(&f), 0x89);
    sel(&f, FW_CFG_CMDLINE_DATA);
    char c[sizeof(cmdline)];
    rd(&f, c, sizeof(c));
    CHECK(memcmp(c, cmdline, sizeof(cmdline)) == 0);
    /* Absent keys read as zeros. */
    sel(&f, FW_CFG_INITRD_SIZE);
    CHECK_EQ(vmm_fw_cfg_ops.read(&f.fw, 1, 4), 0);
    sel(&f, 0x1234);
    CHECK_EQ(rd8(&f), 0);

    /* Refusals. */
    CHECK_EQ(vmm_fw_cfg_add_u16(&f.fw, FW_CFG_NB_CPUS, 3), -EEXIST);
    CHECK_EQ(vmm_fw_cfg_add_u32(&f.fw, FW_CFG_SIGNATURE, 0), -EINVAL);
    CHECK_EQ(vmm_fw_cfg_add_u32(&f.fw, FW_CFG_ID, 0), -EINVAL);
    CHECK_EQ(vmm_fw_cfg_add_u32(&f.fw, FW_CFG_FILE_DIR, 0), -EINVAL);
    CHECK_EQ(vmm_fw_cfg_add_u32(&f.fw, FW_CFG_FILE_FIRST, 0), -EINVAL);
    CHECK_EQ(vmm_fw_cfg_add_u32(&f.fw, FW_CFG_ARCH_LOCAL | 0x20, 0), -EINVAL);
    /* The ID survived the attempt. */
    sel(&f, FW_CFG_ID);
    CHECK_EQ(rd8(&f), 3);
    teardown(&f);
}

static void test_file_directory(void)
{
    struct fixture f;
    setup(&f);
    /* Empty directory: a zero count. */
    sel(&f, FW_CFG_FILE_DIR);
    CHECK_EQ(vmm_fw_cfg_ops.read(&f.fw, 1, 4), 0);

    static const char e820[20] = {1, 2, 3};
    static const char order[] = "/pci@i0cf8/ide@1,1/drive@0/disk@0\n";
    uint8_t rom[1536];
    memset(rom, 0xcc, sizeof(rom));
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "etc/e820", e820, sizeof(e820)), 0x20);
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "bootorder", order, strlen(order)), 0x21);
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "genroms/linuxboot_dma.bin", rom, sizeof(rom)), 0x22);
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "etc/acpi/tables", "T", 1), 0x23);
    memset(rom, 0, sizeof(rom)); /* add_file copied it */

    /* Names: duplicates, empty, 55 characters fit, 56 do not. */
    char name[64];
    memset(name, 'n', sizeof(name));
    name[55] = '\0';
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "bootorder", "x", 1), -EEXIST);
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "", "x", 1), -EINVAL);
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, name, "x", 1), 0x24);
    name[55] = 'n';
    name[56] = '\0';
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, name, "x", 1), -EINVAL);

    /* The directory: big-endian count, then entries sorted by name. */
    uint8_t dir[4 + 5 * 64 + 8];
    sel(&f, FW_CFG_FILE_DIR);
    rd(&f, dir, sizeof(dir));
    CHECK_EQ(be32_at(dir), 5);
    static const struct {
        const char *name;
        uint32_t size;
        uint16_t select;
    } want[] = {
        {"bootorder", sizeof(order) - 1, 0x21},
        {"etc/acpi/tables", 1, 0x23},
        {"etc/e820", sizeof(e820), 0x20},
        {"genroms/linuxboot_dma.bin", sizeof(rom), 0x22},
        {NULL, 1, 0x24}, /* "nnn...": sorts last */
    };
    for (unsigned i = 0; i < 5; i++) {
        const uint8_t *e = dir + 4 + i * 64;
        CHECK_EQ(be32_at(e), want[i].size);
        CHECK_EQ(be16_at(e + 4), want[i].select);
        CHECK_EQ(be16_at(e + 6), 0);
        if (want[i].name)
            CHECK(strcmp((const char *)e + 8, want[i].name) == 0);
        else
            CHECK(strlen((const char *)e + 8) == 55 && e[8] == 'n');
        CHECK_EQ(e[8 + 55], 0); /* NUL-terminated within name[56] */
    }
    /* Past the directory's end: zeros. */
    for (unsigned i = 0; i < 8; i++)
        CHECK_EQ(dir[4 + 5 * 64 + i], 0);

    /* A file read through the key the directory gives. */
    sel(&f, be16_at(dir + 4 + 3 * 64 + 4));
    uint8_t got[4];
    rd(&f, got, 4);
    CHECK_EQ(got[0], 0xcc);
    CHECK_EQ(got[3], 0xcc);
    sel(&f, 0x21);
    char o[sizeof(order)];
    rd(&f, o, sizeof(order) - 1);
    CHECK(memcmp(o, order, sizeof(order) - 1) == 0);
    CHECK_EQ(rd8(&f), 0);
    CHECK_EQ(rd8(&f), 0);
    /* A file key past the last file reads as absent. */
    sel(&f, 0x25);
    CHECK_EQ(rd8(&f), 0);
    teardown(&f);
}

static void test_selector_offsets(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "opt/a", "abc", 3), 0x20);
    sel(&f, 0x20);
    CHECK_EQ(rd8(&f), 'a');
    CHECK_EQ(rd8(&f), 'b');
    /* Selecting again restarts at 0. */
    sel(&f, 0x20);
    CHECK_EQ(rd8(&f), 'a');
    CHECK_EQ(rd8(&f), 'b');
    CHECK_EQ(rd8(&f), 'c');
    CHECK_EQ(rd8(&f), 0);
    CHECK_EQ(vmm_fw_cfg_ops.read(&f.fw, 1, 4), 0);
    /* Data port writes are ignored (no write through the port since QEMU 2.4). */
    sel(&f, 0x20 | FW_CFG_WRITE_CHANNEL);
    vmm_fw_cfg_ops.write(&f.fw, 1, 1, 'z');
    sel(&f, 0x20);
    CHECK_EQ(rd8(&f), 'a');
    /* A byte write to the selector is not a selection. */
    vmm_fw_cfg_ops.write(&f.fw, 0, 1, 0x01);
    CHECK_EQ(rd8(&f), 'b');
    teardown(&f);
}

static void test_dma_read_skip_select(void)
{
    struct fixture f;
    setup(&f);
    static const uint8_t data[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "etc/table-loader", data, sizeof(data)), 0x20);

    /* SELECT + READ 16 bytes: 10 of data, 6 zeros over what was there. */
    uint8_t *buf = gp(&f.mem, 0x2000, 32);
    memset(buf, 0xee, 32);
    put_desc(&f, 0x1000, CTL(0x20, FW_CFG_DMA_CTL_READ), 16, 0x2000);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), 0);
    CHECK(memcmp(buf, data, 10) == 0);
    for (unsigned i = 10; i < 16; i++)
        CHECK_EQ(buf[i], 0);
    CHECK_EQ(buf[16], 0xee); /* not one byte more */

    /* SELECT + SKIP 3, then READ 4 continuing from the offset (no SELECT). */
    put_desc(&f, 0x1000, CTL(0x20, FW_CFG_DMA_CTL_SKIP), 3, 0);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), 0);
    put_desc(&f, 0x1000, FW_CFG_DMA_CTL_READ, 4, 0x2000);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), 0);
    CHECK_EQ(buf[0], 3);
    CHECK_EQ(buf[3], 6);
    /* The data port continues where DMA left off. */
    CHECK_EQ(rd8(&f), 7);

    /* SKIP past the end clamps; a READ then yields zeros. */
    put_desc(&f, 0x1000, FW_CFG_DMA_CTL_SKIP, 0xffffffff, 0);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), 0);
    memset(buf, 0xee, 4);
    put_desc(&f, 0x1000, FW_CFG_DMA_CTL_READ, 4, 0x2000);
    dma_go(&f, 0x1000);
    CHECK_EQ(buf[0], 0);
    CHECK_EQ(buf[3], 0);

    /* SELECT alone: like a selector write. */
    put_desc(&f, 0x1000, CTL(FW_CFG_SIGNATURE, 0), 0, 0);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), 0);
    CHECK_EQ(rd8(&f), 'Q');

    /* READ of an absent key: zeros, no error (as QEMU does). */
    memset(buf, 0xee, 4);
    put_desc(&f, 0x1000, CTL(0x0d, FW_CFG_DMA_CTL_READ), 4, 0x2000);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), 0);
    CHECK_EQ(buf[0], 0);

    /* READ and WRITE together: READ wins. */
    memset(buf, 0xee, 4);
    put_desc(&f, 0x1000, CTL(0x20, FW_CFG_DMA_CTL_READ | FW_CFG_DMA_CTL_WRITE), 2, 0x2000);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), 0);
    CHECK_EQ(buf[1], 1);
    teardown(&f);
}

struct write_rec {
    unsigned calls;
    uint32_t off, len;
};

static void on_write(void *opaque, uint32_t off, uint32_t len)
{
    struct write_rec *w = opaque;
    w->calls++;
    w->off = off;
    w->len = len;
}

static void test_dma_write(void)
{
    struct fixture f;
    setup(&f);
    struct write_rec w = {0};
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "etc/ro", "readonly", 8), 0x20);
    CHECK_EQ(vmm_fw_cfg_add_file_writable(&f.fw, "etc/rw", "01234567", 8, on_write, &w), 0x21);
    uint8_t *src = gp(&f.mem, 0x3000, 8);
    memcpy(src, "ABCDEFGH", 8);

    /* Refused on a read-only item: ERROR, item unchanged. */
    put_desc(&f, 0x1000, CTL(0x20, FW_CFG_DMA_CTL_WRITE), 4, 0x3000);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), FW_CFG_DMA_CTL_ERROR);
    sel(&f, 0x20);
    CHECK_EQ(rd8(&f), 'r');
    /* Refused on the signature and on an absent key. */
    put_desc(&f, 0x1000, CTL(FW_CFG_SIGNATURE, FW_CFG_DMA_CTL_WRITE), 1, 0x3000);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), FW_CFG_DMA_CTL_ERROR);
    put_desc(&f, 0x1000, CTL(0x30, FW_CFG_DMA_CTL_WRITE), 1, 0x3000);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), FW_CFG_DMA_CTL_ERROR);

    /* Accepted on a writable item, in place, with the callback told where. */
    put_desc(&f, 0x1000, CTL(0x21, FW_CFG_DMA_CTL_SKIP), 2, 0);
    dma_go(&f, 0x1000);
    put_desc(&f, 0x1000, FW_CFG_DMA_CTL_WRITE, 3, 0x3000);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), 0);
    CHECK_EQ(w.calls, 1);
    CHECK_EQ(w.off, 2);
    CHECK_EQ(w.len, 3);
    sel(&f, 0x21);
    char got[9] = {0};
    rd(&f, got, 8);
    CHECK(strcmp(got, "01ABC567") == 0);

    /* A write running past the end is dropped whole (no partial write, no resize). */
    put_desc(&f, 0x1000, CTL(0x21, FW_CFG_DMA_CTL_SKIP), 6, 0);
    dma_go(&f, 0x1000);
    put_desc(&f, 0x1000, FW_CFG_DMA_CTL_WRITE, 3, 0x3000);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), FW_CFG_DMA_CTL_ERROR);
    CHECK_EQ(w.calls, 1);
    sel(&f, 0x21);
    rd(&f, got, 8);
    CHECK(strcmp(got, "01ABC567") == 0);

    /* A writable item with its source outside RAM: ERROR, unchanged. */
    put_desc(&f, 0x1000, CTL(0x21, FW_CFG_DMA_CTL_WRITE), 2, LOW - 1);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), FW_CFG_DMA_CTL_ERROR);
    CHECK_EQ(w.calls, 1);
    teardown(&f);
}

static void test_dma_bad_addresses(void)
{
    struct fixture f;
    setup(&f);
    static const uint8_t data[64] = {1};
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "etc/acpi/rsdp", data, sizeof(data)), 0x20);
    struct {
        uint64_t address;
        uint32_t length;
    } bad[] = {
        {LOW - 8, 16},                   /* straddles the end of low RAM */
        {LOW, 4},                        /* the PCI hole */
        {VMM_PCI_HOLE_START, 4},         /* MMIO */
        {VMM_4GIB + HIGH - 4, 8},        /* past the end of high RAM */
        {VMM_4GIB + HIGH, 1},            /* just past it */
        {0xfffffffffffff000ull, 0x2000}, /* address + length wraps */
        {0, 0xffffffff},                 /* longer than RAM */
        {0x100, 0xfffffff0},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put_desc(&f, 0x1000, CTL(0x20, FW_CFG_DMA_CTL_READ), bad[i].length, bad[i].address);
        dma_go(&f, 0x1000);
        CHECK_EQ(desc_control(&f, 0x1000), FW_CFG_DMA_CTL_ERROR);
    }
    /* The failed reads did not move the offset or write into the RAM they partly hit. */
    CHECK_EQ(*gp(&f.mem, LOW - 8, 1), 0);
    CHECK_EQ(*gp(&f.mem, 0x100, 1), 0);
    CHECK_EQ(rd8(&f), 1);
    /* The same reads that fit exactly succeed. */
    put_desc(&f, 0x1000, CTL(0x20, FW_CFG_DMA_CTL_READ), 8, LOW - 8);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), 0);
    CHECK_EQ(*gp(&f.mem, LOW - 8, 1), 1);
    put_desc(&f, 0x1000, CTL(0x20, FW_CFG_DMA_CTL_READ), 4, VMM_4GIB + HIGH - 4);
    dma_go(&f, 0x1000);
    CHECK_EQ(desc_control(&f, 0x1000), 0);
    CHECK_EQ(*gp(&f.mem, VMM_4GIB + HIGH - 4, 1), 1);
    teardown(&f);
}

static void test_dma_descriptor_placement(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(vmm_fw_cfg_add_file(&f.fw, "etc/smbios/smbios-anchor", "_SM3_", 5), 0x20);

    /* A structure in the last 16 bytes of low RAM works. */
    put_desc(&f, LOW - 16, CTL(0x20, FW_CFG_DMA_CTL_READ), 5, 0x2000);
    dma_go(&f, LOW - 16);
    CHECK_EQ(desc_control(&f, LOW - 16), 0);
    CHECK(memcmp(gp(&f.mem, 0x2000, 5), "_SM3_", 5) == 0);

    /* One that runs 8 bytes past the end is not touched at all (nowhere to report). */
    uint8_t *tail = gp(&f.mem, LOW - 8, 8);
    uint32_t ctl = htobe32(CTL(0x20, FW_CFG_DMA_CTL_READ));
    uint32_t len = htobe32(5);
    memcpy(tail, &ctl, 4);
    memcpy(tail + 4, &len, 4);
    memset(gp(&f.mem, 0, 8), 0xee, 8);
    dma_go(&f, LOW - 8);
    CHECK_EQ(be32_at(tail), CTL(0x20, FW_CFG_DMA_CTL_READ));
    CHECK_EQ(*gp(&f.mem, 0, 1), 0xee);

    /* At the very end of high RAM, reached with a 64-bit address (both halves). */
    uint64_t hi = VMM_4GIB + HIGH - 16;
    put_desc(&f, hi, CTL(0x20, FW_CFG_DMA_CTL_READ), 2, 0x2100);
    dma_go(&f, hi);
    CHECK_EQ(desc_control(&f, hi), 0);
    CHECK_EQ(*gp(&f.mem, 0x2100, 1), '_');
    /* The high half resets after an operation: a lone low write means a low address. */
    put_desc(&f, 0x1000, CTL(0x20, FW_CFG_DMA_CTL_SKIP), 1, 0);
    uint32_t lo = htobe32(0x1000), lo_port;
    memcpy(&lo_port, &lo, 4);
    vmm_fw_cfg_dma_ops.write(&f.fw, 4, 4, le32toh(lo_port));
    CHECK_EQ(desc_control(&f, 0x1000), 0); /* not 4 GiB + 0x1000 */

    /* Structures outside RAM are ignored without harm. */
    dma_go(&f, VMM_PCI_HOLE_START);
    dma_go(&f, 0xfffffffffffffff8ull);
    dma_go(&f, VMM_4GIB + HIGH);
    CHECK_EQ(rd8(&f), 'S'); /* offset 1 after the select + skip above */
    teardown(&f);
}

int main(void)
{
    RUN_TEST(test_signature_and_id);
    RUN_TEST(test_numbers_and_keys);
    RUN_TEST(test_file_directory);
    RUN_TEST(test_selector_offsets);
    RUN_TEST(test_dma_read_skip_select);
    RUN_TEST(test_dma_write);
    RUN_TEST(test_dma_bad_addresses);
    RUN_TEST(test_dma_descriptor_placement);
    return test_finish();
}
