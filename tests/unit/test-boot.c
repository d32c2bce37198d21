/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The bzImage loader against the real installed Debian kernel, on fake guest RAM. */
#include <errno.h>
#include <glob.h>

#include "arch/x86/boot-internal.h"
#include "fake-guest-mem.h"
#include "test.h"

static uint8_t *kernel;
static size_t kernel_len;
static char kernel_path[512];

/* Fields of the image header as the kernel file has them. */
static unsigned setup_size(const uint8_t *img)
{
    return (img[0x1F1] ? img[0x1F1] : 4) * 512u + 512u;
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;

    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) < 0) {
        fclose(f);
        return -1;
    }
    *data = malloc((size_t)n);
    if (!*data || fread(*data, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(*data);
        return -1;
    }
    fclose(f);
    *len = (size_t)n;
    return 0;
}

static void find_kernel(void)
{
    glob_t g;

    if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0)
        TEST_SKIP("no /boot/vmlinuz-* installed (apt-get install linux-image-amd64)");
    for (size_t i = 0; i < g.gl_pathc; i++) {
        if (read_file(g.gl_pathv[i], &kernel, &kernel_len) == 0) {
            snprintf(kernel_path, sizeof(kernel_path), "%s", g.gl_pathv[i]);
            break;
        }
    }
    globfree(&g);
    if (!kernel)
        TEST_SKIP("no readable /boot/vmlinuz-*");
    printf("# kernel: %s (%zu bytes)\n", kernel_path, kernel_len);
}

/* Walks the 4-level page tables like the MMU would; returns ~0 for a fault. */
static uint64_t translate(const struct vmm_guest_mem *m, uint64_t cr3, uint64_t va)
{
    const uint64_t addr_mask = 0x000FFFFFFFFFF000ULL;
    uint64_t pml4e = rd64(gp(m, (cr3 & addr_mask) + ((va >> 39) & 511) * 8, 8));
    uint64_t pdpte, pde;

    if (!(pml4e & 1))
        return ~0ULL;
    pdpte = rd64(gp(m, (pml4e & addr_mask) + ((va >> 30) & 511) * 8, 8));
    if (!(pdpte & 1) || (pdpte & 0x80))
        return ~0ULL;
    pde = rd64(gp(m, (pdpte & addr_mask) + ((va >> 21) & 511) * 8, 8));
    if (!(pde & 1) || !(pde & 0x80) || !(pde & 2))
        return ~0ULL;
    return (pde & 0x000FFFFFFFE00000ULL) + (va & 0x1FFFFF);
}

static void check_gdt(const struct vmm_guest_mem *m, const struct vmm_boot_entry *e)
{
    const uint8_t *gdt = gp(m, e->gdt_base, 32);
    uint64_t cs = rd64(gdt + VMM_BOOT_SEL_CODE64), cs32 = rd64(gdt + VMM_BOOT_SEL_CODE32);
    uint64_t ds = rd64(gdt + VMM_BOOT_SEL_DATA);

    CHECK_EQ(e->gdt_base, VMM_BOOT_GDT_ADDR);
    CHECK_EQ(e->gdt_limit, 31);
    CHECK_EQ(rd64(gdt), 0);
    /* 64-bit code: present, DPL 0, code/readable, L=1, D=0, flat. */
    CHECK_EQ((cs >> 40) & 0x9A, 0x9A);
    CHECK_EQ((cs >> 53) & 1, 1);
    CHECK_EQ((cs >> 54) & 1, 0);
    CHECK_EQ((cs >> 45) & 3, 0);
    /* 32-bit code: D=1, L=0, 4 GiB limit with 4 KiB granularity, base 0. */
    CHECK_EQ((cs32 >> 40) & 0x9A, 0x9A);
    CHECK_EQ((cs32 >> 53) & 3, 2);
    CHECK_EQ((cs32 & 0xFFFF) | ((cs32 >> 32) & 0xF0000), 0xFFFFF);
    CHECK_EQ((cs32 >> 55) & 1, 1);
    CHECK_EQ(((cs32 >> 16) & 0xFFFFFF) | ((cs32 >> 56) << 24), 0);
    /* data: present, data/writable, not code, flat. */
    CHECK_EQ((ds >> 40) & 0x9A, 0x92);
    CHECK_EQ((ds & 0xFFFF) | ((ds >> 32) & 0xF0000), 0xFFFFF);
    CHECK_EQ(((ds >> 16) & 0xFFFFFF) | ((ds >> 56) << 24), 0);
}

struct loaded {
    uint64_t initrd_addr, initrd_size;
};

/* Checks everything a successful load must leave behind; returns the initrd placement. */
static struct loaded check_loaded(const struct vmm_guest_mem *m, const struct vmm_boot_entry *e,
                                  const uint8_t *initrd, size_t initrd_len, const char *cmdline)
{
    const uint8_t *bp = gp(m, VMM_BOOT_ZERO_PAGE, 4096);
    size_t hdr_end = 0x202 + kernel[0x201];
    unsigned ss = setup_size(kernel);
    uint64_t payload = (uint64_t)rd32(kernel + 0x1F4) * 16;
    uint64_t pref = rd64(kernel + 0x258), init_size = rd32(kernel + 0x260);
    uint64_t initrd_max = rd32(kernel + 0x22C);
    struct loaded l;

    /* setup header copied; the fields we own set */
    CHECK(memcmp(bp + 0x1F1, kernel + 0x1F1, 0x1FA - 0x1F1) == 0);
    CHECK(memcmp(bp + 0x1FC, kernel + 0x1FC, 0x210 - 0x1FC) == 0);
    CHECK(memcmp(bp + 0x212, kernel + 0x212, 0x218 - 0x212) == 0);
    CHECK(memcmp(bp + 0x22C, kernel + 0x22C, hdr_end - 0x22C) == 0);
    CHECK(memcmp(bp + 0x202, "HdrS", 4) == 0);
    CHECK_EQ(bp[0x1EF], 0); /* sentinel */
    CHECK_EQ(bp[0x210], 0xFF);
    CHECK_EQ(bp[0x211] & 0x81, 0x81);
    CHECK(rd16(bp + 0x224) != 0);
    CHECK_EQ(rd32(bp + 0x228), VMM_BOOT_CMDLINE);
    CHECK(strcmp((const char *)gp(m, VMM_BOOT_CMDLINE, strlen(cmdline) + 1), cmdline) == 0);
    CHECK_EQ(rd64(bp + 0x70), 0xF1000);
    CHECK(memcmp(gp(m, rd64(bp + 0x70), 8), "RSD PTR ", 8) == 0);
    CHECK(memcmp(gp(m, VMM_BIOS_START, 4), "_MP_", 4) == 0);

    /* e820 in the zero page matches vmm_e820_build */
    {
        struct vmm_e820_entry want[VMM_E820_MAX];
        unsigned n = vmm_e820_build(m, want, VMM_E820_MAX);
        CHECK_EQ(bp[0x1E8], n);
        CHECK_EQ(n, m->highmem_size ? 5 : 4);
        for (unsigned i = 0; i < n && i < bp[0x1E8]; i++) {
            const uint8_t *ent = bp + 0x2D0 + i * 20;
            CHECK_EQ(rd64(ent), want[i].addr);
            CHECK_EQ(rd64(ent + 8), want[i].size);
            CHECK_EQ(rd32(ent + 16), want[i].type);
        }
        CHECK_EQ(rd64(bp + 0x2D0 + (n - 1) * 20 + 8) + rd64(bp + 0x2D0 + (n - 1) * 20),
                 m->highmem_size ? VMM_4GIB + m->highmem_size : m->lowmem_size);
    }

    /* payload at 1 MiB */
    CHECK(memcmp(gp(m, VMM_KERNEL_LOAD, payload), kernel + ss, payload) == 0);

    /* initrd: page-aligned, inside the limits, clear of the kernel's working area */
    l.initrd_addr = rd32(bp + 0x218);
    l.initrd_size = rd32(bp + 0x21C);
    CHECK_EQ(l.initrd_size, initrd_len);
    if (initrd_len) {
        uint64_t top = initrd_max + 1 < m->lowmem_size ? initrd_max + 1 : m->lowmem_size;
        CHECK_EQ(l.initrd_addr & 0xFFF, 0);
        CHECK(l.initrd_addr + initrd_len - 1 <= initrd_max);
        CHECK(l.initrd_addr + initrd_len <= m->lowmem_size);
        CHECK(l.initrd_addr >= (pref > VMM_KERNEL_LOAD ? pref : VMM_KERNEL_LOAD) + init_size);
        CHECK(l.initrd_addr >= VMM_KERNEL_LOAD + payload);
        /* as high as possible: less than a page left above it */
        CHECK(top - (l.initrd_addr + initrd_len) < 4096);
        CHECK(memcmp(gp(m, l.initrd_addr, initrd_len), initrd, initrd_len) == 0);
    } else {
        CHECK_EQ(l.initrd_addr, 0);
    }

    /* entry registers */
    CHECK_EQ(e->mode, VMM_ENTRY_LONG64);
    CHECK_EQ(e->rip, VMM_KERNEL_LOAD + 0x200);
    CHECK_EQ(e->rsi, VMM_BOOT_ZERO_PAGE);
    CHECK_EQ(e->cr3, VMM_BOOT_PML4);

    /* identity map: zero page, kernel, 3.9 GiB (IOAPIC/LAPIC region); nothing at 4 GiB */
    CHECK_EQ(translate(m, e->cr3, 0), 0);
    CHECK_EQ(translate(m, e->cr3, VMM_BOOT_ZERO_PAGE + 0x123), VMM_BOOT_ZERO_PAGE + 0x123);
    CHECK_EQ(translate(m, e->cr3, VMM_KERNEL_LOAD + 0x200), VMM_KERNEL_LOAD + 0x200);
    CHECK_EQ(translate(m, e->cr3, 0xF9A00000ULL + 0x1234), 0xF9A00000ULL + 0x1234);
    CHECK_EQ(translate(m, e->cr3, VMM_LAPIC_ADDR), VMM_LAPIC_ADDR);
    CHECK_EQ(translate(m, e->cr3, VMM_4GIB - 1), VMM_4GIB - 1);
    CHECK_EQ(translate(m, e->cr3, VMM_4GIB), ~0ULL);
    check_gdt(m, e);
    return l;
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

static void test_detect(void)
{
    CHECK_EQ(vmm_image_detect(kernel, kernel_len), VMM_IMAGE_BZIMAGE);
    CHECK_EQ(vmm_image_detect(kernel, 0x205), VMM_IMAGE_UNKNOWN);
}

static void test_load_256m(void)
{
    struct vmm_guest_mem m = fake_mem_new(256 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};
    const char *cmdline = "console=ttyS0 root=/dev/ram0 quiet";
    size_t ilen = 3 * MIB + 123;
    uint8_t *initrd = pattern(ilen, 1);
    int ret = vmm_bzimage_load(&m, 2, kernel, kernel_len, initrd, ilen, cmdline, &e, &err);

    CHECK_EQ(ret, 0);
    if (ret == 0) {
        struct loaded l = check_loaded(&m, &e, initrd, ilen, cmdline);
        CHECK_EQ(l.initrd_addr, (256 * MIB - ilen) & ~0xFFFULL);
    } else {
        fprintf(stderr, "  error: %s\n", err.msg);
    }
    free(initrd);
    fake_mem_free(&m);
}

static void test_load_no_initrd(void)
{
    struct vmm_guest_mem m = fake_mem_new(128 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};
    int ret = vmm_bzimage_load(&m, 1, kernel, kernel_len, NULL, 0, NULL, &e, &err);

    CHECK_EQ(ret, 0);
    if (ret == 0)
        check_loaded(&m, &e, NULL, 0, "");
    fake_mem_free(&m);
}

/* 4 GiB guest: 3 GiB low, 1 GiB above 4 GiB; the initrd must stay below initrd_addr_max. */
static void test_load_highmem(void)
{
    struct vmm_guest_mem m = fake_mem_new(3 * GIB, 1 * GIB);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};
    size_t ilen = 5 * MIB + 1;
    uint8_t *initrd = pattern(ilen, 2);
    uint64_t initrd_max = rd32(kernel + 0x22C);
    int ret = vmm_bzimage_load(&m, 4, kernel, kernel_len, initrd, ilen, "console=ttyS0", &e, &err);

    CHECK_EQ(ret, 0);
    if (ret == 0) {
        struct loaded l = check_loaded(&m, &e, initrd, ilen, "console=ttyS0");
        uint64_t top = initrd_max + 1 < 3 * GIB ? initrd_max + 1 : 3 * GIB;
        CHECK_EQ(l.initrd_addr, (top - ilen) & ~0xFFFULL);
        CHECK(l.initrd_addr + ilen <= VMM_PCI_HOLE_START);
        /* the high RAM entry */
        const uint8_t *bp = gp(&m, VMM_BOOT_ZERO_PAGE, 4096);
        CHECK_EQ(rd64(bp + 0x2D0 + 4 * 20), VMM_4GIB);
        CHECK_EQ(rd64(bp + 0x2D0 + 4 * 20 + 8), 1 * GIB);
    } else {
        fprintf(stderr, "  error: %s\n", err.msg);
    }
    free(initrd);
    fake_mem_free(&m);
}

/* Expects a failure with a sentence containing `needle`, and nothing written to RAM. */
static void expect_reject(const uint8_t *img, size_t len, uint64_t ram, const uint8_t *initrd,
                          size_t ilen, const char *cmdline, unsigned ncpus, const char *needle,
                          int line)
{
    struct vmm_guest_mem m = fake_mem_new(ram, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};
    int ret = vmm_bzimage_load(&m, ncpus, img, len, initrd, ilen, cmdline, &e, &err);

    if (getenv("TEST_VERBOSE"))
        printf("# line %d: %s\n", line, err.msg);
    test_checks++;
    if (ret >= 0 || err.code != ret || err.msg[0] == '\0' || (needle && !strstr(err.msg, needle))) {
        test_failures++;
        fprintf(stderr, "%s:%d: expected rejection containing \"%s\": ret %d, code %d, \"%s\"\n",
                __FILE__, line, needle ? needle : "", ret, err.code, err.msg);
    }
    /* validation comes before any write */
    CHECK_EQ(rd32(gp(&m, VMM_BOOT_ZERO_PAGE + 0x202, 4)), 0);
    CHECK_EQ(rd32(gp(&m, VMM_KERNEL_LOAD, 4)), 0);
    fake_mem_free(&m);
}

#define REJECT(img, len, ram, initrd, ilen, cmdline, ncpus, needle) \
    expect_reject(img, len, ram, initrd, ilen, cmdline, ncpus, needle, __LINE__)

static void test_truncated(void)
{
    size_t hdr_end = 0x202 + kernel[0x201];
    size_t ss = setup_size(kernel);
    size_t payload = (size_t)rd32(kernel + 0x1F4) * 16;
    const size_t cuts[] = {
        0,
        1,
        0x100,
        0x1FF,
        0x204,
        0x207,
        0x230,
        hdr_end - 1,
        ss - 1,
        ss,
        ss + 1,
        ss + 4096,
        ss + payload / 2,
        ss + payload - 1,
    };

    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        uint8_t *copy = malloc(cuts[i] + 1);
        memcpy(copy, kernel, cuts[i]);
        REJECT(copy, cuts[i], 256 * MIB, NULL, 0, "", 1, NULL);
        free(copy);
    }
    REJECT(kernel, ss + payload / 2, 256 * MIB, NULL, 0, "", 1, "truncated");
    REJECT(kernel, 0x230, 256 * MIB, NULL, 0, "", 1, "truncated");
    REJECT(NULL, 0, 256 * MIB, NULL, 0, "", 1, "too short");
}

static void test_bad_images(void)
{
    uint8_t *copy = malloc(kernel_len);
    uint8_t *garbage = pattern(1 * MIB, 3);

    garbage[0x1FE] = 0; /* make sure the pattern did not hit the signature by chance */
    CHECK_EQ(vmm_image_detect(garbage, 1 * MIB), VMM_IMAGE_UNKNOWN);
    REJECT(garbage, 1 * MIB, 256 * MIB, NULL, 0, "", 1, "0xAA55");

    memcpy(copy, kernel, kernel_len);
    copy[0x1FE] = 0x56;
    REJECT(copy, kernel_len, 256 * MIB, NULL, 0, "", 1, "0xAA55");

    memcpy(copy, kernel, kernel_len);
    memcpy(copy + 0x202, "HdrX", 4);
    REJECT(copy, kernel_len, 256 * MIB, NULL, 0, "", 1, "HdrS");

    memcpy(copy, kernel, kernel_len);
    wr16(copy + 0x206, 0x205);
    REJECT(copy, kernel_len, 256 * MIB, NULL, 0, "", 1, "2.05");

    memcpy(copy, kernel, kernel_len);
    wr16(copy + 0x236, rd16(copy + 0x236) & ~1u);
    REJECT(copy, kernel_len, 256 * MIB, NULL, 0, "", 1, "not a 64-bit kernel");

    memcpy(copy, kernel, kernel_len);
    copy[0x211] &= (uint8_t)~1u;
    REJECT(copy, kernel_len, 256 * MIB, NULL, 0, "", 1, "zImage");

    memcpy(copy, kernel, kernel_len);
    wr32(copy + 0x1F4, 0x7FFFFFFF);
    REJECT(copy, kernel_len, 256 * MIB, NULL, 0, "", 1, "truncated");

    REJECT(kernel, kernel_len, 256 * MIB, NULL, 0, "", 0, "CPUs");
    REJECT(kernel, kernel_len, 256 * MIB, NULL, 0, "", VMM_MAX_CPUS + 1, "CPUs");
    free(copy);
    free(garbage);
}

static void test_cmdline_limit(void)
{
    uint32_t max = rd32(kernel + 0x238);
    size_t n = max < 0xFFFF ? max : 0xFFFF;
    char *cl = malloc(n + 2);
    struct vmm_guest_mem m = fake_mem_new(256 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};

    memset(cl, 'a', n + 1);
    cl[n + 1] = '\0';
    REJECT(kernel, kernel_len, 256 * MIB, NULL, 0, cl, 1, "command line");
    cl[n] = '\0'; /* exactly the limit is fine */
    CHECK_EQ(vmm_bzimage_load(&m, 1, kernel, kernel_len, NULL, 0, cl, &e, &err), 0);
    CHECK_EQ(strlen((const char *)gp(&m, VMM_BOOT_CMDLINE, n + 1)), n);
    fake_mem_free(&m);
    free(cl);
}

static void test_too_little_ram(void)
{
    /* 200 MiB never touched: the loader must refuse before reading it. */
    size_t big = 200 * MIB;
    uint8_t *initrd =
        mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    REJECT(kernel, kernel_len, 256 * MIB, initrd, big, "", 1, "the initrd (200 MiB)");
    REJECT(kernel, kernel_len, 256 * MIB, initrd, big, "", 1, "give the VM more memory");
    /* the kernel alone needs pref_address + init_size (about 80 MiB for Debian's) */
    REJECT(kernel, kernel_len, 32 * MIB, NULL, 0, "", 1, "give the VM more memory");
    /* it runs at pref_address (16 MiB), not at the 1 MiB load address aligned up */
    {
        uint64_t need = rd64(kernel + 0x258) + rd32(kernel + 0x260);
        uint64_t ram = (need & ~(MIB - 1)) - MIB;
        if (ram > 16 * MIB && ram > 2 * MIB + rd32(kernel + 0x260))
            REJECT(kernel, kernel_len, ram, NULL, 0, "", 1, "give the VM more memory");
    }
    munmap(initrd, big);
}

int main(void)
{
    find_kernel();
    RUN_TEST(test_detect);
    RUN_TEST(test_load_256m);
    RUN_TEST(test_load_no_initrd);
    RUN_TEST(test_load_highmem);
    RUN_TEST(test_truncated);
    RUN_TEST(test_bad_images);
    RUN_TEST(test_cmdline_limit);
    RUN_TEST(test_too_little_ram);
    free(kernel);
    return test_finish();
}
