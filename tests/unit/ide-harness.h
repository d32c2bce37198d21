/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fixture of the IDE tests (test-ide.c, test-atapi.c): a controller with
 * fake ISA lines and fake guest RAM, a disk at 0:0 on a temp raw image and a
 * CD-ROM at 0:1 on an ISO-sized temp image, and port helpers that drive it
 * as a guest does.
 */
#ifndef TERRARIUM_IDE_HARNESS_H
#define TERRARIUM_IDE_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-guest-mem.h"
#include "hw/ide-internal.h" /* command codes */
#include "test.h"

/* ---- Fixture ---------------------------------------------------------------------- */

struct line {
    int level;
    unsigned rises;
};

static inline void line_set(struct vmm_irq *irq, int level)
{
    struct line *l = irq->opaque;
    if (level && !l->level)
        l->rises++;
    l->level = level;
}

static const struct vmm_irq_ops line_ops = {.set_level = line_set};

#define DISK_SECTORS 16384 /* 8 MiB */
#define CD_BLOCKS 1000

struct fx {
    struct vmm_ide *ide;
    struct vmm_guest_mem mem;
    struct line lines[2];
    struct vmm_irq irqs[2];
    char disk_path[64], cd_path[64];
    int disk_fd, cd_fd;
    unsigned ejects;
};

static inline uint8_t pat(uint64_t off)
{
    return (uint8_t)((off >> 9) * 13 + off * 7 + (off >> 17));
}

static inline uint8_t cd_pat(uint64_t off)
{
    return (uint8_t)((off >> 11) * 5 + off * 3 + 1);
}

/* A temp image of `size` bytes, the first `filled` bytes from fn. */
static inline int make_image(char *path, uint64_t size, uint64_t filled, uint8_t (*fn)(uint64_t))
{
    strcpy(path, "/tmp/test-ide-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        perror("temp image");
        exit(2);
    }
    static uint8_t chunk[65536];
    for (uint64_t o = 0; o < filled; o += sizeof(chunk)) {
        size_t n = filled - o < sizeof(chunk) ? (size_t)(filled - o) : sizeof(chunk);
        for (size_t i = 0; i < n; i++)
            chunk[i] = fn(o + i);
        if (pwrite(fd, chunk, n, (off_t)o) != (ssize_t)n) {
            perror("fill image");
            exit(2);
        }
    }
    return fd;
}

static inline struct vmm_disk *open_image(const char *path, unsigned flags)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, flags | VMM_DISK_FORMAT_RAW, &err);
    if (!d) {
        fprintf(stderr, "open %s failed\n", path);
        exit(2);
    }
    return d;
}

static inline void on_eject(void *opaque, unsigned channel, unsigned unit)
{
    struct fx *f = opaque;
    f->ejects++;
}

/* Disk at 0:0, CD-ROM at 0:1 with an ISO-sized medium, channel 1 empty. */
static inline void setup(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    f->ide = calloc(1, sizeof(*f->ide));
    f->mem = fake_mem_new(64 * MIB, 0);
    for (int i = 0; i < 2; i++)
        f->irqs[i] = (struct vmm_irq){.ops = &line_ops, .opaque = &f->lines[i], .line = 14 + i};
    CHECK_EQ(vmm_ide_init(f->ide, &f->irqs[0], &f->irqs[1], &f->mem), 0);
    f->disk_fd = make_image(f->disk_path, DISK_SECTORS * 512ULL, DISK_SECTORS * 512ULL, pat);
    f->cd_fd = make_image(f->cd_path, CD_BLOCKS * 2048ULL + 100, CD_BLOCKS * 2048ULL, cd_pat);
    CHECK_EQ(vmm_ide_attach(f->ide, 0, 0, VMM_IDE_DISK, open_image(f->disk_path, 0), "SER123"), 0);
    CHECK_EQ(
        vmm_ide_attach(f->ide, 0, 1, VMM_IDE_CDROM, open_image(f->cd_path, VMM_DISK_RDONLY), NULL),
        0);
    vmm_ide_set_eject_cb(f->ide, on_eject, f);
    vmm_pci_set16(&f->ide->pci, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER);
}

static inline void teardown(struct fx *f)
{
    vmm_ide_fini(f->ide);
    free(f->ide);
    fake_mem_free(&f->mem);
    close(f->disk_fd);
    close(f->cd_fd);
    unlink(f->disk_path);
    unlink(f->cd_path);
}

/* ---- Port helpers ------------------------------------------------------------------ */

static inline uint8_t inb(struct fx *f, unsigned ch, unsigned reg)
{
    return (uint8_t)vmm_ide_cmd_ops.read(&f->ide->ch[ch], reg, 1);
}

static inline void outb(struct fx *f, unsigned ch, unsigned reg, uint8_t v)
{
    vmm_ide_cmd_ops.write(&f->ide->ch[ch], reg, 1, v);
}

static inline uint16_t inw(struct fx *f, unsigned ch)
{
    return (uint16_t)vmm_ide_cmd_ops.read(&f->ide->ch[ch], 0, 2);
}

static inline void outw(struct fx *f, unsigned ch, uint16_t v)
{
    vmm_ide_cmd_ops.write(&f->ide->ch[ch], 0, 2, v);
}

static inline uint8_t altstatus(struct fx *f, unsigned ch)
{
    return (uint8_t)vmm_ide_ctl_ops.read(&f->ide->ch[ch], 0, 1);
}

static inline void devctl(struct fx *f, unsigned ch, uint8_t v)
{
    vmm_ide_ctl_ops.write(&f->ide->ch[ch], 0, 1, v);
}

static inline uint64_t bm_in(struct fx *f, unsigned off, unsigned size)
{
    return vmm_ide_bm_ops.read(f->ide, off, size);
}

static inline void bm_out(struct fx *f, unsigned off, unsigned size, uint64_t v)
{
    vmm_ide_bm_ops.write(f->ide, off, size, v);
}

static inline void sel(struct fx *f, unsigned ch, unsigned unit, uint8_t extra)
{
    outb(f, ch, ATA_REG_DEVICE, (uint8_t)(0xa0 | (unit ? ATA_DEV_DEV : 0) | extra));
}

/* LBA28 task file and a command. */
static inline void ata28(struct fx *f, uint8_t cmd, uint32_t lba, uint8_t count)
{
    outb(f, 0, ATA_REG_NSECT, count);
    outb(f, 0, ATA_REG_LBAL, (uint8_t)lba);
    outb(f, 0, ATA_REG_LBAM, (uint8_t)(lba >> 8));
    outb(f, 0, ATA_REG_LBAH, (uint8_t)(lba >> 16));
    outb(f, 0, ATA_REG_DEVICE, (uint8_t)(0xe0 | ((lba >> 24) & 0xf)));
    outb(f, 0, ATA_REG_STATUS, cmd);
}

/* LBA48: high bytes first, then low. */
static inline void ata48(struct fx *f, uint8_t cmd, uint64_t lba, uint16_t count)
{
    outb(f, 0, ATA_REG_NSECT, (uint8_t)(count >> 8));
    outb(f, 0, ATA_REG_LBAL, (uint8_t)(lba >> 24));
    outb(f, 0, ATA_REG_LBAM, (uint8_t)(lba >> 32));
    outb(f, 0, ATA_REG_LBAH, (uint8_t)(lba >> 40));
    outb(f, 0, ATA_REG_NSECT, (uint8_t)count);
    outb(f, 0, ATA_REG_LBAL, (uint8_t)lba);
    outb(f, 0, ATA_REG_LBAM, (uint8_t)(lba >> 8));
    outb(f, 0, ATA_REG_LBAH, (uint8_t)(lba >> 16));
    outb(f, 0, ATA_REG_DEVICE, 0xe0);
    outb(f, 0, ATA_REG_STATUS, cmd);
}

/*
 * Reads DRQ blocks while DRQ is set, as an interrupt handler would: status
 * first, then the block (`block` bytes, or the ATAPI byte count when 0).
 * Returns the bytes read; *blocks counts the blocks.
 */
static inline unsigned pio_in(struct fx *f, unsigned ch, uint8_t *out, unsigned max, unsigned block,
                              unsigned *blocks)
{
    unsigned n = 0;
    for (unsigned guard = 0; guard < 100000 && (altstatus(f, ch) & ATA_SR_DRQ); guard++) {
        (void)inb(f, ch, ATA_REG_STATUS);
        unsigned len =
            block ? block : (unsigned)(inb(f, ch, ATA_REG_LBAM) | inb(f, ch, ATA_REG_LBAH) << 8);
        if (blocks)
            (*blocks)++;
        for (unsigned i = 0; i < len; i += 2) {
            uint16_t w = inw(f, ch);
            if (n + 2 <= max) {
                out[n] = (uint8_t)w;
                out[n + 1] = (uint8_t)(w >> 8);
            }
            n += 2;
        }
    }
    return n;
}

static inline void read_identify(struct fx *f, uint8_t cmd, uint16_t *id)
{
    outb(f, 0, ATA_REG_STATUS, cmd);
    for (int i = 0; i < 256; i++)
        id[i] = inw(f, 0);
}

static inline void idstr(const uint16_t *id, unsigned first, unsigned len, char *out)
{
    for (unsigned i = 0; i < len; i++)
        out[i] = (char)(i & 1 ? id[first + i / 2] & 0xff : id[first + i / 2] >> 8);
    out[len] = 0;
}

static inline bool file_matches(int fd, uint64_t off, const uint8_t *data, size_t len)
{
    uint8_t *tmp = malloc(len);
    bool ok = pread(fd, tmp, len, (off_t)off) == (ssize_t)len && !memcmp(tmp, data, len);
    free(tmp);
    return ok;
}

static inline bool pattern_at(const uint8_t *data, uint64_t off, size_t len,
                              uint8_t (*fn)(uint64_t))
{
    for (size_t i = 0; i < len; i++)
        if (data[i] != fn(off + i))
            return false;
    return true;
}

/* A PRD entry at guest address gpa. */
static inline void prd(struct fx *f, uint64_t gpa, uint32_t addr, uint32_t count, bool eot)
{
    uint8_t *p = gp(&f->mem, gpa, 8);
    uint32_t w1 = (count & 0xffff) | (eot ? BMIDE_PRD_EOT : 0);
    memcpy(p, &addr, 4);
    memcpy(p + 4, &w1, 4);
}

static inline void bm_start(struct fx *f, unsigned ch, uint32_t table, bool to_mem)
{
    bm_out(f, ch * 8 + BMIDE_PRDT, 4, table);
    bm_out(f, ch * 8 + BMIDE_STATUS, 1, BMIDE_ST_ERROR | BMIDE_ST_INTR);
    bm_out(f, ch * 8 + BMIDE_CMD, 1, (to_mem ? BMIDE_CMD_TO_MEM : 0) | BMIDE_CMD_START);
}

static inline void bm_stop(struct fx *f, unsigned ch)
{
    bm_out(f, ch * 8 + BMIDE_CMD, 1, 0);
}

#endif
