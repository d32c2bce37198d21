/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The multiboot v1 loader on ELF32 and a.out-kludge images built here, on fake guest RAM. */
#include <errno.h>

#include "arch/x86/boot-internal.h"
#include "fake-guest-mem.h"
#include "test.h"

#define MB_MAGIC 0x1BADB002u
#define MB_FLAG_MEMINFO (1u << 1)
#define MB_FLAG_AOUT (1u << 16)
#define INFO 0x9000u

struct seg {
    uint32_t type, offset, vaddr, paddr, filesz, memsz;
};

static void put_mb_header(uint8_t *img, size_t off, uint32_t flags)
{
    wr32(img + off, MB_MAGIC);
    wr32(img + off + 4, flags);
    wr32(img + off + 8, (uint32_t) - (MB_MAGIC + flags));
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 13 + seed * 101 + 7);
}

/* An ELF32 i386 executable of file_len bytes with the given program headers. */
static uint8_t *build_elf(const struct seg *segs, unsigned n, uint32_t entry, size_t file_len,
                          size_t mb_off, uint32_t mb_flags)
{
    uint8_t *img = malloc(file_len);

    fill_pattern(img, file_len, 1);
    memset(img, 0, 52 + n * 32);
    memcpy(img, "\177ELF", 4);
    img[4] = 1;        /* ELFCLASS32 */
    img[5] = 1;        /* little endian */
    img[6] = 1;        /* EV_CURRENT */
    wr16(img + 16, 2); /* ET_EXEC */
    wr16(img + 18, 3); /* EM_386 */
    wr32(img + 20, 1);
    wr32(img + 24, entry);
    wr32(img + 28, 52); /* e_phoff */
    wr16(img + 40, 52); /* e_ehsize */
    wr16(img + 42, 32); /* e_phentsize */
    wr16(img + 44, (uint16_t)n);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *ph = img + 52 + i * 32;
        wr32(ph, segs[i].type);
        wr32(ph + 4, segs[i].offset);
        wr32(ph + 8, segs[i].vaddr);
        wr32(ph + 12, segs[i].paddr);
        wr32(ph + 16, segs[i].filesz);
        wr32(ph + 20, segs[i].memsz);
        wr32(ph + 24, 7);
        wr32(ph + 28, 0x1000);
    }
    put_mb_header(img, mb_off, mb_flags);
    return img;
}

#define ELF_LEN 0x3000

/* Text at 1 MiB (holds the multiboot header), data + bss after it; ends at 0x105000. */
static uint8_t *valid_elf(uint32_t vbase)
{
    const struct seg segs[] = {
        {1, 0x1000, vbase + 0x100000, 0x100000, 0x1000, 0x1000},
        {4, 0, 0, 0, 0x10, 0x10}, /* PT_NOTE: ignored */
        {1, 0x2000, vbase + 0x102000, 0x102000, 0x800, 0x3000},
    };
    return build_elf(segs, 3, vbase + 0x10000C, ELF_LEN, 0x1000, MB_FLAG_MEMINFO);
}

static int load(struct vmm_guest_mem *m, const uint8_t *img, size_t len, const uint8_t *initrd,
                size_t ilen, const char *cmdline, struct vmm_boot_entry *e, struct vmm_error *err)
{
    memset(err, 0, sizeof(*err));
    memset(e, 0xEE, sizeof(*e));
    return vmm_multiboot_load(m, 2, img, len, initrd, ilen, cmdline, e, err);
}

static const char *gstr(const struct vmm_guest_mem *m, uint64_t gpa)
{
    const char *s = (const char *)gp(m, gpa, 1);
    CHECK(vmm_guest_ptr(m, gpa, strnlen(s, 4096) + 1) != NULL);
    return s;
}

/* The information structure against what the loader was given. */
static void check_info(const struct vmm_guest_mem *m, const char *cmdline, const uint8_t *initrd,
                       size_t ilen, uint64_t image_end)
{
    const uint8_t *info = gp(m, INFO, 88);
    uint32_t flags = rd32(info);
    struct vmm_e820_entry want[VMM_E820_MAX];
    unsigned n = vmm_e820_build(m, want, VMM_E820_MAX);

    CHECK_EQ(flags & 1, 1);          /* mem_* */
    CHECK_EQ(flags & (1u << 2), 4);  /* cmdline */
    CHECK_EQ(flags & (1u << 6), 64); /* mmap */
    CHECK_EQ(flags & (1u << 1), 0);  /* no boot device claimed */
    CHECK_EQ(rd32(info + 4), 639);
    CHECK_EQ(rd32(info + 8), (m->lowmem_size - MIB) / 1024);
    CHECK(strcmp(gstr(m, rd32(info + 16)), cmdline) == 0);
    if (flags & (1u << 9))
        CHECK(strcmp(gstr(m, rd32(info + 64)), "Terrarium") == 0);

    if (ilen) {
        const uint8_t *mod;
        uint32_t start, end;

        CHECK_EQ(flags & (1u << 3), 8);
        CHECK_EQ(rd32(info + 20), 1);
        mod = gp(m, rd32(info + 24), 16);
        start = rd32(mod);
        end = rd32(mod + 4);
        CHECK_EQ(start & 0xFFF, 0);
        CHECK(start >= image_end);
        CHECK(start - image_end < 4096); /* right after the kernel */
        CHECK_EQ(end - start, ilen);
        CHECK(end <= m->lowmem_size);
        CHECK(memcmp(gp(m, start, ilen), initrd, ilen) == 0);
        CHECK(strlen(gstr(m, rd32(mod + 8))) > 0);
    } else {
        CHECK_EQ(flags & (1u << 3), 0);
        CHECK_EQ(rd32(info + 20), 0);
    }

    CHECK_EQ(rd32(info + 44), n * 24);
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = gp(m, rd32(info + 48) + i * 24, 24);
        CHECK_EQ(rd32(e), 20);
        CHECK_EQ(rd64(e + 4), want[i].addr);
        CHECK_EQ(rd64(e + 12), want[i].size);
        CHECK_EQ(rd32(e + 20), want[i].type);
    }
    /* SMP tables for multiboot kernels too */
    CHECK(memcmp(gp(m, VMM_BIOS_START, 4), "_MP_", 4) == 0);
    CHECK(memcmp(gp(m, 0xF1000, 8), "RSD PTR ", 8) == 0);
}

static void check_entry(const struct vmm_boot_entry *e, uint64_t rip)
{
    CHECK_EQ(e->mode, VMM_ENTRY_PROT32);
    CHECK_EQ(e->rip, rip);
    CHECK_EQ(e->rax, 0x2BADB002);
    CHECK_EQ(e->rbx, INFO);
    CHECK_EQ(e->cr3, 0);
    CHECK_EQ(e->gdt_base, VMM_BOOT_GDT_ADDR);
    CHECK_EQ(e->gdt_limit, 31);
}

static void test_elf(void)
{
    struct vmm_guest_mem m = fake_mem_new(64 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err;
    uint8_t *img = valid_elf(0);
    uint8_t initrd[10000];
    const uint8_t *gdt;

    fill_pattern(initrd, sizeof(initrd), 9);
    memset(gp(&m, 0x100000, 0x10000), 0xCC, 0x10000);
    CHECK_EQ(vmm_image_detect(img, ELF_LEN), VMM_IMAGE_MULTIBOOT);
    CHECK_EQ(load(&m, img, ELF_LEN, initrd, sizeof(initrd), "root=/dev/hda1 -v", &e, &err), 0);
    CHECK_EQ(err.msg[0], 0);
    CHECK(memcmp(gp(&m, 0x100000, 0x1000), img + 0x1000, 0x1000) == 0);
    CHECK(memcmp(gp(&m, 0x102000, 0x800), img + 0x2000, 0x800) == 0);
    for (uint64_t a = 0x102800; a < 0x105000; a++) {
        if (*gp(&m, a, 1) != 0) {
            CHECK(!"bss not zeroed");
            break;
        }
    }
    CHECK_EQ(*gp(&m, 0x101000, 1), 0xCC); /* the gap between segments is left alone */
    check_entry(&e, 0x10000C);
    check_info(&m, "root=/dev/hda1 -v", initrd, sizeof(initrd), 0x105000);
    gdt = gp(&m, VMM_BOOT_GDT_ADDR, 32);
    CHECK_EQ(rd64(gdt + VMM_BOOT_SEL_CODE32), 0x00CF9B000000FFFFULL);
    CHECK_EQ(rd64(gdt + VMM_BOOT_SEL_DATA), 0x00CF93000000FFFFULL);
    free(img);
    fake_mem_free(&m);
}

/* Linked high, loaded low: the entry point is moved along with its segment, like GRUB does. */
static void test_elf_virtual_entry(void)
{
    struct vmm_guest_mem m = fake_mem_new(64 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err;
    uint8_t *img = valid_elf(0xC0000000);

    CHECK_EQ(load(&m, img, ELF_LEN, NULL, 0, NULL, &e, &err), 0);
    check_entry(&e, 0x10000C);
    check_info(&m, "", NULL, 0, 0x105000);
    free(img);
    fake_mem_free(&m);
}

static void test_elf_highmem(void)
{
    struct vmm_guest_mem m = fake_mem_new(3 * GIB, 1 * GIB);
    struct vmm_boot_entry e;
    struct vmm_error err;
    uint8_t *img = valid_elf(0);
    uint8_t initrd[4096 * 3];
    const uint8_t *info, *last;

    fill_pattern(initrd, sizeof(initrd), 4);
    CHECK_EQ(load(&m, img, ELF_LEN, initrd, sizeof(initrd), "x", &e, &err), 0);
    check_info(&m, "x", initrd, sizeof(initrd), 0x105000);
    info = gp(&m, INFO, 88);
    CHECK_EQ(rd32(info + 8), (3 * GIB - MIB) / 1024);
    CHECK_EQ(rd32(info + 44), 5 * 24);
    last = gp(&m, rd32(info + 48) + 4 * 24, 24);
    CHECK_EQ(rd64(last + 4), VMM_4GIB);
    CHECK_EQ(rd64(last + 12), 1 * GIB);
    CHECK_EQ(rd32(last + 20), 1);
    free(img);
    fake_mem_free(&m);
}

static void reject(const uint8_t *img, size_t len, uint64_t ram, size_t ilen, const char *cmdline,
                   const char *needle, int line)
{
    struct vmm_guest_mem m = fake_mem_new(ram, 0);
    struct vmm_boot_entry e;
    struct vmm_error err;
    uint8_t *initrd =
        ilen ? mmap(NULL, ilen, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
             : NULL;
    int ret = load(&m, img, len, initrd, ilen, cmdline, &e, &err);

    if (getenv("TEST_VERBOSE"))
        printf("# line %d: %s\n", line, err.msg);
    test_checks++;
    if (ret >= 0 || err.code != ret || !err.msg[0] || (needle && !strstr(err.msg, needle))) {
        test_failures++;
        fprintf(stderr, "%s:%d: expected rejection containing \"%s\": ret %d, \"%s\"\n", __FILE__,
                line, needle ? needle : "", ret, err.msg);
    }
    /* validation comes before any write */
    CHECK_EQ(rd32(gp(&m, INFO, 4)), 0);
    CHECK_EQ(rd32(gp(&m, VMM_BIOS_START, 4)), 0);
    if (initrd)
        munmap(initrd, ilen);
    fake_mem_free(&m);
}

#define REJECT(img, len, ram, ilen, cmdline, needle) \
    reject(img, len, ram, ilen, cmdline, needle, __LINE__)

static void test_elf_rejects(void)
{
    uint8_t *img;

    /* a segment past the end of RAM */
    {
        const struct seg s[] = {{1, 0x1000, 0x3FF0000, 0x3FF0000, 0x1000, 0x20000}};
        img = build_elf(s, 1, 0x3FF0000, ELF_LEN, 0x1000, 0);
        REJECT(img, ELF_LEN, 64 * MIB, 0, "", "outside the VM's 64 MiB of RAM");
        free(img);
    }
    /* p_filesz > p_memsz */
    {
        const struct seg s[] = {{1, 0x1000, 0x100000, 0x100000, 0x1000, 0x800}};
        img = build_elf(s, 1, 0x100000, ELF_LEN, 0x1000, 0);
        REJECT(img, ELF_LEN, 64 * MIB, 0, "", "malformed");
        free(img);
    }
    /* file bytes past the end of the file */
    {
        const struct seg s[] = {{1, 0x2000, 0x100000, 0x100000, 0x1001, 0x2000}};
        img = build_elf(s, 1, 0x100000, ELF_LEN, 0x1000, 0);
        REJECT(img, ELF_LEN, 64 * MIB, 0, "", "truncated");
        free(img);
    }
    /* on top of the information page, the BIOS area, the command line, the GDT */
    {
        const struct seg s[] = {{1, 0x1000, 0x9800, 0x9800, 0x100, 0x100}};
        img = build_elf(s, 1, 0x9800, ELF_LEN, 0x1000, 0);
        REJECT(img, ELF_LEN, 64 * MIB, 0, "", "overlaps the multiboot information");
        free(img);
    }
    {
        const struct seg s[] = {{1, 0x1000, 0xF8000, 0xF8000, 0x1000, 0x10000}};
        img = build_elf(s, 1, 0xF8000, ELF_LEN, 0x1000, 0);
        REJECT(img, ELF_LEN, 64 * MIB, 0, "", "BIOS area");
        free(img);
    }
    {
        const struct seg s[] = {{1, 0x1000, 0x20100, 0x20100, 0x100, 0x100}};
        img = build_elf(s, 1, 0x20100, ELF_LEN, 0x1000, 0);
        char cl[0x200];
        memset(cl, 'c', sizeof(cl) - 1);
        cl[sizeof(cl) - 1] = 0;
        REJECT(img, ELF_LEN, 64 * MIB, 0, cl, "command line");
        free(img);
    }
    {
        const struct seg s[] = {{1, 0x1000, 0x400, 0x400, 0x200, 0x200}};
        img = build_elf(s, 1, 0x400, ELF_LEN, 0x1000, 0);
        REJECT(img, ELF_LEN, 64 * MIB, 0, "", "GDT");
        free(img);
    }
    /* entry point outside RAM */
    {
        const struct seg s[] = {{1, 0x1000, 0x100000, 0x100000, 0x1000, 0x1000}};
        img = build_elf(s, 1, 0x8000000, ELF_LEN, 0x1000, 0);
        REJECT(img, ELF_LEN, 64 * MIB, 0, "", "entry point");
        free(img);
    }
    /* no PT_LOAD, broken program headers, wrong class/machine/type */
    {
        const struct seg s[] = {{4, 0x1000, 0x100000, 0x100000, 0x1000, 0x1000}};
        img = build_elf(s, 1, 0x100000, ELF_LEN, 0x1000, 0);
        REJECT(img, ELF_LEN, 64 * MIB, 0, "", "no loadable");
        wr32(img + 28, ELF_LEN - 16);
        REJECT(img, ELF_LEN, 64 * MIB, 0, "", "program headers");
        free(img);
    }
    img = valid_elf(0);
    img[4] = 2;
    REJECT(img, ELF_LEN, 64 * MIB, 0, "", "32-bit x86 ELF");
    img[4] = 1;
    wr16(img + 18, 62); /* EM_X86_64 */
    REJECT(img, ELF_LEN, 64 * MIB, 0, "", "32-bit x86 ELF");
    wr16(img + 18, 3);
    wr16(img + 16, 3); /* ET_DYN */
    REJECT(img, ELF_LEN, 64 * MIB, 0, "", "not an executable");
    wr16(img + 16, 2);
    img[0] = 0;
    REJECT(img, ELF_LEN, 64 * MIB, 0, "", "not an ELF file");
    free(img);

    /* too-large module; too-long command line; CPU count */
    img = valid_elf(0);
    REJECT(img, ELF_LEN, 64 * MIB, 63 * MIB, "", "the initrd (63 MiB) does not fit");
    {
        char *cl = malloc(VMM_BOOT_CMDLINE_MAX + 1);
        memset(cl, 'a', VMM_BOOT_CMDLINE_MAX);
        cl[VMM_BOOT_CMDLINE_MAX] = 0;
        REJECT(img, ELF_LEN, 64 * MIB, 0, cl, "command line");
        free(cl);
    }
    {
        struct vmm_guest_mem m = fake_mem_new(64 * MIB, 0);
        struct vmm_boot_entry e;
        struct vmm_error err = {0};
        CHECK_EQ(vmm_multiboot_load(&m, 0, img, ELF_LEN, NULL, 0, "", &e, &err), -EINVAL);
        CHECK_EQ(vmm_multiboot_load(&m, 65, img, ELF_LEN, NULL, 0, "", &e, &err), -EINVAL);
        fake_mem_free(&m);
    }
    free(img);
}

static void test_header_search(void)
{
    const struct seg s[] = {{1, 0x2000, 0x100000, 0x100000, 0x1000, 0x1000}};
    uint8_t *img;

    /* the header's 12 bytes must end within the first 8 KiB */
    img = build_elf(s, 1, 0x100000, 0x4000, 0x1FF4, 0);
    CHECK_EQ(vmm_image_detect(img, 0x4000), VMM_IMAGE_MULTIBOOT);
    free(img);
    img = build_elf(s, 1, 0x100000, 0x4000, 0x1FF8, 0);
    CHECK_EQ(vmm_image_detect(img, 0x4000), VMM_IMAGE_UNKNOWN);
    REJECT(img, 0x4000, 64 * MIB, 0, "", "no valid multiboot header");
    free(img);
    img = build_elf(s, 1, 0x100000, 0x4000, 0x2000, 0);
    CHECK_EQ(vmm_image_detect(img, 0x4000), VMM_IMAGE_UNKNOWN);
    REJECT(img, 0x4000, 64 * MIB, 0, "", "no valid multiboot header");
    free(img);
    /* misaligned */
    img = build_elf(s, 1, 0x100000, 0x4000, 0x1002, 0);
    CHECK_EQ(vmm_image_detect(img, 0x4000), VMM_IMAGE_UNKNOWN);
    free(img);
    /* bad checksum */
    img = build_elf(s, 1, 0x100000, 0x4000, 0x1000, 0);
    wr32(img + 0x1008, rd32(img + 0x1008) + 1);
    CHECK_EQ(vmm_image_detect(img, 0x4000), VMM_IMAGE_UNKNOWN);
    REJECT(img, 0x4000, 64 * MIB, 0, "", "no valid multiboot header");
    /* a header cut off by the end of the file */
    CHECK_EQ(vmm_image_detect(img, 0x1008), VMM_IMAGE_UNKNOWN);
    free(img);
    CHECK_EQ(vmm_image_detect(NULL, 0), VMM_IMAGE_UNKNOWN);
}

static void test_flags(void)
{
    const struct seg s[] = {{1, 0x1000, 0x100000, 0x100000, 0x1000, 0x1000}};
    struct vmm_guest_mem m = fake_mem_new(64 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err;
    uint8_t *img;

    /* page-aligned modules, memory info and video mode (ignored) are all fine */
    img = build_elf(s, 1, 0x100000, ELF_LEN, 0x1000, 0x7);
    CHECK_EQ(load(&m, img, ELF_LEN, NULL, 0, "", &e, &err), 0);
    free(img);
    /* unknown optional bits are ignored */
    img = build_elf(s, 1, 0x100000, ELF_LEN, 0x1000, 0x80000002);
    CHECK_EQ(load(&m, img, ELF_LEN, NULL, 0, "", &e, &err), 0);
    free(img);
    /* an unknown required bit is refused */
    img = build_elf(s, 1, 0x100000, ELF_LEN, 0x1000, 0x8 | 0x2);
    REJECT(img, ELF_LEN, 64 * MIB, 0, "", "0x8");
    free(img);
    img = build_elf(s, 1, 0x100000, ELF_LEN, 0x1000, 0x8000);
    REJECT(img, ELF_LEN, 64 * MIB, 0, "", "features");
    free(img);
    fake_mem_free(&m);
}

/* A flat binary whose multiboot header says where it goes (flag bit 16). */
static uint8_t *build_aout(size_t len, size_t hoff, uint32_t header_addr, uint32_t load_addr,
                           uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
    uint8_t *img = malloc(len);

    fill_pattern(img, len, 3);
    put_mb_header(img, hoff, MB_FLAG_AOUT | MB_FLAG_MEMINFO);
    wr32(img + hoff + 12, header_addr);
    wr32(img + hoff + 16, load_addr);
    wr32(img + hoff + 20, load_end);
    wr32(img + hoff + 24, bss_end);
    wr32(img + hoff + 28, entry);
    return img;
}

static void test_aout_kludge(void)
{
    struct vmm_guest_mem m = fake_mem_new(64 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err;
    uint8_t initrd[300];
    uint8_t *img;

    fill_pattern(initrd, sizeof(initrd), 5);
    /* load 0x1000 of the 0x1800-byte file at 2 MiB, bss up to 0x204000 */
    img = build_aout(0x1800, 0x40, 0x200040, 0x200000, 0x201000, 0x204000, 0x200100);
    memset(gp(&m, 0x200000, 0x10000), 0xCC, 0x10000);
    CHECK_EQ(load(&m, img, 0x1800, initrd, sizeof(initrd), "aout", &e, &err), 0);
    CHECK(memcmp(gp(&m, 0x200000, 0x1000), img, 0x1000) == 0);
    CHECK_EQ(*gp(&m, 0x201000, 1), 0);
    CHECK_EQ(*gp(&m, 0x203FFF, 1), 0);
    CHECK_EQ(*gp(&m, 0x204000 + 0x1000, 1), 0xCC); /* past the module */
    check_entry(&e, 0x200100);
    check_info(&m, "aout", initrd, sizeof(initrd), 0x204000);
    free(img);

    /* load_end_addr 0: the rest of the file; load starts before the header in the file */
    img = build_aout(0x1800, 0x40, 0x300020, 0x300000, 0, 0, 0x300000);
    CHECK_EQ(load(&m, img, 0x1800, NULL, 0, "", &e, &err), 0);
    CHECK(memcmp(gp(&m, 0x300000, 0x1800 - 0x20), img + 0x20, 0x1800 - 0x20) == 0);
    check_entry(&e, 0x300000);
    free(img);

    /* an ELF file with bit 16: the header's addresses win, as in GRUB and QEMU */
    {
        const struct seg s[] = {{1, 0x1000, 0x100000, 0x100000, 0x1000, 0x1000}};
        img = build_elf(s, 1, 0x100000, ELF_LEN, 0x1000, MB_FLAG_AOUT);
        wr32(img + 0x1000 + 12, 0x401000);
        wr32(img + 0x1000 + 16, 0x400000);
        wr32(img + 0x1000 + 20, 0);
        wr32(img + 0x1000 + 24, 0);
        wr32(img + 0x1000 + 28, 0x400054);
        CHECK_EQ(load(&m, img, ELF_LEN, NULL, 0, "", &e, &err), 0);
        CHECK(memcmp(gp(&m, 0x400000, ELF_LEN), img, ELF_LEN) == 0);
        check_entry(&e, 0x400054);
        free(img);
    }
    fake_mem_free(&m);
}

static void test_aout_rejects(void)
{
    uint8_t *img;

    img = build_aout(0x1800, 0x40, 0x200000, 0x200040, 0, 0, 0x200100);
    REJECT(img, 0x1800, 64 * MIB, 0, "", "load_addr");
    free(img);
    img = build_aout(0x1800, 0x40, 0x200080, 0x200000, 0, 0, 0x200100);
    REJECT(img, 0x1800, 64 * MIB, 0, "", "header_addr");
    free(img);
    img = build_aout(0x1800, 0x40, 0x200040, 0x200000, 0x201801, 0, 0x200100);
    REJECT(img, 0x1800, 64 * MIB, 0, "", "load_end_addr");
    free(img);
    img = build_aout(0x1800, 0x40, 0x200040, 0x200000, 0x1FFFFF, 0, 0x200100);
    REJECT(img, 0x1800, 64 * MIB, 0, "", "load_end_addr");
    free(img);
    img = build_aout(0x1800, 0x40, 0x200040, 0x200000, 0x201000, 0x200800, 0x200100);
    REJECT(img, 0x1800, 64 * MIB, 0, "", "bss_end_addr");
    free(img);
    img = build_aout(0x1800, 0x40, 0x200040, 0x200000, 0, 0x5000000, 0x200100);
    REJECT(img, 0x1800, 64 * MIB, 0, "", "outside the VM's");
    free(img);
    /* the address fields cut off by the end of the file */
    img = build_aout(0x1800, 0x40, 0x200040, 0x200000, 0, 0, 0x200100);
    REJECT(img, 0x50, 64 * MIB, 0, "", "truncated");
    free(img);
}

int main(void)
{
    RUN_TEST(test_elf);
    RUN_TEST(test_elf_virtual_entry);
    RUN_TEST(test_elf_highmem);
    RUN_TEST(test_elf_rejects);
    RUN_TEST(test_header_search);
    RUN_TEST(test_flags);
    RUN_TEST(test_aout_kludge);
    RUN_TEST(test_aout_rejects);
    return test_finish();
}
