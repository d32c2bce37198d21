/* SPDX-License-Identifier: GPL-2.0-or-later */
/* e820 maps, image sniffing and the bzImage loader on small synthetic kernels. */
#include <errno.h>

#include "arch/x86/boot-internal.h"
#include "fake-guest-mem.h"
#include "test.h"

struct e820_want {
    uint64_t addr, size;
    uint32_t type;
};

static void check_map(uint64_t ram, const struct e820_want *want, unsigned nwant, int line)
{
    struct vmm_guest_mem m = {0};
    struct vmm_e820_entry e[VMM_E820_MAX];
    unsigned n;

    vmm_guest_mem_layout(ram, &m.lowmem_size, &m.highmem_size);
    n = vmm_e820_build(&m, e, VMM_E820_MAX);
    test_checks++;
    if (n != nwant) {
        test_failures++;
        fprintf(stderr, "%s:%d: %u e820 entries, expected %u\n", __FILE__, line, n, nwant);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        test_checks++;
        if (e[i].addr != want[i].addr || e[i].size != want[i].size || e[i].type != want[i].type) {
            test_failures++;
            fprintf(stderr,
                    "%s:%d: entry %u is [0x%llx +0x%llx) type %u, expected [0x%llx +0x%llx) %u\n",
                    __FILE__, line, i, (unsigned long long)e[i].addr, (unsigned long long)e[i].size,
                    e[i].type, (unsigned long long)want[i].addr, (unsigned long long)want[i].size,
                    want[i].type);
        }
        /* sorted, no overlap, nothing inside the PCI hole */
        if (i > 0)
            CHECK(e[i].addr >= e[i - 1].addr + e[i - 1].size);
        CHECK(e[i].addr + e[i].size <= VMM_PCI_HOLE_START || e[i].addr >= VMM_4GIB);
    }
}

#define CHECK_MAP(ram, ...)                                          \
    do {                                                             \
        const struct e820_want w__[] = {__VA_ARGS__};                \
        check_map(ram, w__, sizeof(w__) / sizeof(w__[0]), __LINE__); \
    } while (0)

#define LOW_ENTRIES(end)                                             \
    {0, 0x9FC00, VMM_E820_RAM}, {0x9FC00, 0x400, VMM_E820_RESERVED}, \
        {0xF0000, 0x10000, VMM_E820_RESERVED},                       \
    {                                                                \
        0x100000, (end)-0x100000, VMM_E820_RAM                       \
    }

static void test_e820(void)
{
    CHECK_MAP(64 * MIB, LOW_ENTRIES(64 * MIB));
    CHECK_MAP(16 * MIB, LOW_ENTRIES(16 * MIB));
    CHECK_MAP(3 * GIB, LOW_ENTRIES(3 * GIB));
    CHECK_MAP(3 * GIB + 4096, LOW_ENTRIES(3 * GIB), {VMM_4GIB, 4096, VMM_E820_RAM});
    CHECK_MAP(4 * GIB, LOW_ENTRIES(3 * GIB), {VMM_4GIB, 1 * GIB, VMM_E820_RAM});
    CHECK_MAP(8 * GIB, LOW_ENTRIES(3 * GIB), {VMM_4GIB, 5 * GIB, VMM_E820_RAM});
    /* tiny guests: RAM clipped to what exists, the platform's reserved ranges still listed */
    CHECK_MAP(512 * 1024, {0, 512 * 1024, VMM_E820_RAM}, {0x9FC00, 0x400, VMM_E820_RESERVED},
              {0xF0000, 0x10000, VMM_E820_RESERVED});
    CHECK_MAP(1 * MIB, {0, 0x9FC00, VMM_E820_RAM}, {0x9FC00, 0x400, VMM_E820_RESERVED},
              {0xF0000, 0x10000, VMM_E820_RESERVED});
}

static void test_e820_max(void)
{
    struct vmm_guest_mem m = {.lowmem_size = 3 * GIB, .highmem_size = 1 * GIB};
    struct vmm_e820_entry e[8];

    memset(e, 0xAB, sizeof(e));
    CHECK_EQ(vmm_e820_build(&m, e, 2), 2);
    CHECK_EQ(e[1].addr, 0x9FC00);
    CHECK_EQ(e[2].type, 0xABABABAB); /* nothing written past max */
    CHECK_EQ(vmm_e820_build(&m, e, 0), 0);
}

/* A minimal bzImage: real header layout, a payload of recognizable bytes. */
#define SYN_PAYLOAD (64 * 1024)

static uint8_t *synth_bzimage(unsigned setup_sects, size_t *len)
{
    unsigned ss = ((setup_sects ? setup_sects : 4) + 1) * 512;
    uint8_t *img = calloc(1, ss + SYN_PAYLOAD);

    img[0x1F1] = (uint8_t)setup_sects;
    wr32(img + 0x1F4, SYN_PAYLOAD / 16);
    wr16(img + 0x1FA, 0xFFFF);
    wr16(img + 0x1FE, 0xAA55);
    img[0x200] = 0xEB;
    img[0x201] = 0x6A; /* header ends at 0x26C, as in Linux 6.x */
    memcpy(img + 0x202, "HdrS", 4);
    wr16(img + 0x206, 0x020F);
    img[0x211] = 0x01;             /* LOADED_HIGH */
    wr32(img + 0x22C, 0x7FFFFFFF); /* initrd_addr_max */
    wr32(img + 0x230, 0x200000);   /* kernel_alignment */
    img[0x234] = 1;                /* relocatable */
    wr16(img + 0x236, 0x0003);     /* XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
    wr32(img + 0x238, 255);        /* cmdline_size */
    wr64(img + 0x258, 0x1000000);  /* pref_address */
    wr32(img + 0x260, 4 * MIB);    /* init_size */
    for (size_t i = 0; i < SYN_PAYLOAD; i++)
        img[ss + i] = (uint8_t)(i * 7 + 3);
    *len = ss + SYN_PAYLOAD;
    return img;
}

static void test_detect(void)
{
    size_t len;
    uint8_t *img = synth_bzimage(3, &len);

    CHECK_EQ(vmm_image_detect(img, len), VMM_IMAGE_BZIMAGE);
    CHECK_EQ(vmm_image_detect(img, 0x205), VMM_IMAGE_UNKNOWN);
    CHECK_EQ(vmm_image_detect(NULL, 0), VMM_IMAGE_UNKNOWN);
    img[0x1FF] = 0;
    CHECK_EQ(vmm_image_detect(img, len), VMM_IMAGE_UNKNOWN);
    free(img);
}

static int load(struct vmm_guest_mem *m, const uint8_t *img, size_t len, const uint8_t *initrd,
                size_t ilen, const char *cmdline, struct vmm_boot_entry *e, struct vmm_error *err)
{
    memset(err, 0, sizeof(*err));
    return vmm_bzimage_load(m, 1, img, len, initrd, ilen, cmdline, e, err);
}

static void test_setup_sects_zero(void)
{
    struct vmm_guest_mem m = fake_mem_new(64 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err;
    size_t len;
    uint8_t *img = synth_bzimage(0, &len);
    uint8_t initrd[5000];
    const uint8_t *bp;

    memset(initrd, 0x5A, sizeof(initrd));
    wr64(img + 0x250, 0x12345678);
    CHECK_EQ(load(&m, img, len, initrd, sizeof(initrd), "hello", &e, &err), 0);
    /* setup_sects 0 means 4: the payload starts at 5 * 512 */
    CHECK(memcmp(gp(&m, VMM_KERNEL_LOAD, SYN_PAYLOAD), img + 2560, SYN_PAYLOAD) == 0);
    bp = gp(&m, VMM_BOOT_ZERO_PAGE, 4096);
    CHECK_EQ(bp[0x1F1], 0);
    CHECK_EQ(rd32(bp + 0x218), (64 * MIB - 8192));
    CHECK_EQ(rd32(bp + 0x21C), sizeof(initrd));
    CHECK_EQ(bp[0x1E8], 4);
    CHECK_EQ(rd64(bp + 0x2D0 + 3 * 20 + 8), 63 * MIB);
    CHECK_EQ(e.rip, 0x100200);
    CHECK_EQ(e.rsp, 0);
    /* a setup_data pointer in the image is not passed on */
    CHECK_EQ(rd64(bp + 0x250), 0);
    free(img);
    fake_mem_free(&m);
}

static void test_header_clamped(void)
{
    struct vmm_guest_mem m = fake_mem_new(64 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err;
    size_t len;
    uint8_t *img = synth_bzimage(4, &len);
    const uint8_t *bp;

    /* a jump past boot_params' header hole must not spill image bytes into the e820 area */
    img[0x201] = 0xFF;
    memset(img + 0x26C, 0xEE, 0x301 - 0x26C);
    CHECK_EQ(load(&m, img, len, NULL, 0, NULL, &e, &err), 0);
    bp = gp(&m, VMM_BOOT_ZERO_PAGE, 4096);
    CHECK_EQ(bp[0x28F], 0xEE);
    CHECK_EQ(bp[0x290], 0);
    CHECK_EQ(rd64(bp + 0x2D0), 0);
    CHECK_EQ(rd64(bp + 0x2D0 + 8), 0x9FC00);
    free(img);
    fake_mem_free(&m);
}

static void test_fixed_kernel_small_ram(void)
{
    struct vmm_guest_mem m = fake_mem_new(VMM_MIN_MEM_MIB * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err;
    size_t len;
    uint8_t *img = synth_bzimage(4, &len);
    size_t ilen = 10 * MIB;
    uint8_t *initrd = calloc(1, 12 * MIB);

    /* non-relocatable, runs at 1 MiB with 4 MiB init_size: a 10 MiB initrd fits in 16 MiB */
    img[0x234] = 0;
    wr64(img + 0x258, 0x100000);
    CHECK_EQ(load(&m, img, len, initrd, ilen, "", &e, &err), 0);
    CHECK_EQ(rd32(gp(&m, VMM_BOOT_ZERO_PAGE + 0x218, 4)), 6 * MIB);
    /* 12 MiB plus 5 MiB of kernel does not (11 MiB would fit exactly) */
    CHECK_EQ(load(&m, img, len, initrd, 11 * MIB, "", &e, &err), 0);
    CHECK_EQ(rd32(gp(&m, VMM_BOOT_ZERO_PAGE + 0x218, 4)), 5 * MIB);
    CHECK_EQ(load(&m, img, len, initrd, 12 * MIB, "", &e, &err), -ENOMEM);
    CHECK(strstr(err.msg, "the initrd (12 MiB) does not fit") != NULL);
    CHECK(strstr(err.msg, "give the VM more memory") != NULL);
    /* the relocatable variant needs 16 MiB + init_size: too much for 16 MiB of RAM */
    img[0x234] = 1;
    wr64(img + 0x258, 0x1000000);
    CHECK_EQ(load(&m, img, len, NULL, 0, "", &e, &err), -ENOMEM);
    CHECK(strstr(err.msg, "20 MiB") != NULL);
    free(initrd);
    free(img);
    fake_mem_free(&m);
}

static void test_limits(void)
{
    struct vmm_guest_mem m = fake_mem_new(64 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err;
    size_t len;
    uint8_t *img = synth_bzimage(4, &len);
    char cl[300];

    memset(cl, 'x', 256);
    cl[256] = '\0';
    CHECK_EQ(load(&m, img, len, NULL, 0, cl, &e, &err), -E2BIG);
    CHECK(strstr(err.msg, "at most 255") != NULL);
    cl[255] = '\0';
    CHECK_EQ(load(&m, img, len, NULL, 0, cl, &e, &err), 0);

    /* syssize 0: the payload is the rest of the file */
    wr32(img + 0x1F4, 0);
    CHECK_EQ(load(&m, img, len - 100, NULL, 0, "", &e, &err), 0);
    /* 2.12 is the first protocol with xloadflags; older headers are not 64-bit */
    wr16(img + 0x206, 0x0206);
    img[0x201] = 0x34; /* header ends at 0x236, before xloadflags */
    CHECK_EQ(load(&m, img, len, NULL, 0, "", &e, &err), -ENOEXEC);
    CHECK(strstr(err.msg, "not a 64-bit kernel") != NULL);
    /* less than 1 MiB of RAM */
    m.lowmem_size = 512 * 1024;
    CHECK_EQ(load(&m, img, len, NULL, 0, "", &e, &err), -ENOMEM);
    m.lowmem_size = 64 * MIB;
    free(img);
    fake_mem_free(&m);
}

int main(void)
{
    RUN_TEST(test_e820);
    RUN_TEST(test_e820_max);
    RUN_TEST(test_detect);
    RUN_TEST(test_setup_sects_zero);
    RUN_TEST(test_header_clamped);
    RUN_TEST(test_fixed_kernel_small_ram);
    RUN_TEST(test_limits);
    return test_finish();
}
