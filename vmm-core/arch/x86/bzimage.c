/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry:
 * we build the zero page ourselves, load the protected-mode payload at
 * 1 MiB and start at its 64-bit entry point (load + 0x200) with paging on.
 * The real-mode setup code is never run.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/boot-internal.h"

/* Setup header fields (offsets in both the image and struct boot_params). */
#define HDR_START 0x1F1
#define HDR_SETUP_SECTS 0x1F1
#define HDR_SYSSIZE 0x1F4
#define HDR_VID_MODE 0x1FA
#define HDR_BOOT_FLAG 0x1FE
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21C
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22C
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_SETUP_DATA 0x250
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_NEEDED_END 0x264 /* through init_size: present since protocol 2.10 */
#define HDR_MAX_END 0x290    /* where boot_params' own fields resume */

/* struct boot_params fields outside the setup header */
#define BP_SIZE 0x1000
#define BP_ORIG_VIDEO_MODE 0x06
#define BP_ORIG_VIDEO_COLS 0x07
#define BP_ORIG_VIDEO_LINES 0x0E
#define BP_ORIG_VIDEO_ISVGA 0x0F
#define BP_ORIG_VIDEO_POINTS 0x10
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_E820_ENTRIES 0x1E8
#define BP_E820_TABLE 0x2D0
#define BP_E820_MAX 128

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01
#define BOOT_FLAG_MAGIC 0xAA55
#define LOADER_TYPE_UNDEFINED 0xFF
#define VID_MODE_NORMAL 0xFFFF
#define HEAP_END_PTR 0xFE00 /* the whole 64 KiB real-mode segment, less 0x200 */
#define INITRD_ADDR_MAX_DEFAULT 0x37FFFFFFULL
#define MIB (1024ULL * 1024)

static unsigned long long mib_up(uint64_t bytes)
{
    return (unsigned long long)((bytes + MIB - 1) / MIB);
}

/* What the header says, validated. */
struct bz_info {
    uint16_t version;
    size_t hdr_end;
    size_t setup_size;
    size_t payload_len;
    uint64_t pref; /* pref_address: where the kernel proper is linked to run */
    uint64_t init_size;
    uint64_t kernel_end; /* end of everything the kernel touches before reading e820 */
    uint64_t cmdline_max;
    uint64_t initrd_max; /* last byte the initrd may occupy */
};

/* Checks the header; with mem, also that the kernel's working area fits in its low RAM. */
static int parse_header(const uint8_t *img, size_t avail, size_t len,
                        const struct vmm_guest_mem *mem, struct bz_info *bz, struct vmm_error *err)
{
    unsigned sects;
    uint64_t syssize, align, pref, runtime_start, init_size;

    if (avail > len)
        avail = len;
    if (avail < HDR_VERSION + 2) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel image is only %zu bytes long, too short to be a Linux bzImage",
                      len);
        return -ENOEXEC;
    }
    if (rd16(img + HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel image has no boot-sector signature (0xAA55 at offset 0x1FE); "
                      "it is not a Linux bzImage");
        return -ENOEXEC;
    }
    if (memcmp(img + HDR_MAGIC, "HdrS", 4) != 0) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel image has no Linux setup header (\"HdrS\" at offset 0x202); it "
                      "is either not a Linux kernel or one too old to boot");
        return -ENOEXEC;
    }
    bz->version = rd16(img + HDR_VERSION);
    if (bz->version < 0x206) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel uses Linux boot protocol %u.%02u, which is too old; Terrarium "
                      "needs 2.06 or newer",
                      bz->version >> 8, bz->version & 0xFF);
        return -ENOEXEC;
    }
    /* The jump at 0x200 skips the header, so its displacement gives the header's end. */
    bz->hdr_end = 0x202 + (size_t)img[HDR_JUMP + 1];
    if (bz->hdr_end > avail) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel image is truncated: its setup header ends at offset 0x%zx but "
                      "the file has only %zu bytes",
                      bz->hdr_end, avail);
        return -ENOEXEC;
    }
    if (bz->hdr_end < HDR_XLOADFLAGS + 2 || !(rd16(img + HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel is not a 64-bit kernel (its header does not announce the "
                      "64-bit entry point); Terrarium boots x86-64 Linux kernels");
        return -ENOEXEC;
    }
    if (bz->hdr_end < HDR_NEEDED_END) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel's setup header is too short (ends at 0x%zx) to hold init_size",
                      bz->hdr_end);
        return -ENOEXEC;
    }
    if (bz->hdr_end > HDR_MAX_END)
        bz->hdr_end = HDR_MAX_END; /* anything past here would overwrite boot_params fields */
    if (!(img[HDR_LOADFLAGS] & LOADED_HIGH)) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel is a zImage (loaded below 1 MiB); only bzImage kernels are "
                      "supported");
        return -ENOEXEC;
    }

    sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
    bz->setup_size = (size_t)(sects + 1) * 512;
    if (bz->setup_size >= len) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel image is truncated: its setup code ends at offset %zu but the "
                      "file has only %zu bytes",
                      bz->setup_size, len);
        return -ENOEXEC;
    }
    syssize = (uint64_t)rd32(img + HDR_SYSSIZE) * 16;
    if (syssize == 0)
        syssize = len - bz->setup_size;
    if (syssize > len - bz->setup_size) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel image is truncated: the header announces %llu bytes of kernel "
                      "after the setup code but the file has only %zu bytes there",
                      (unsigned long long)syssize, len - bz->setup_size);
        return -ENOEXEC;
    }
    bz->payload_len = (size_t)syssize;

    /*
     * Where the kernel runs (boot.rst, init_size): a relocatable kernel runs at
     * the load address aligned up, but never below its preferred address
     * (LOAD_PHYSICAL_ADDR); a fixed one at pref_address. It needs init_size
     * bytes there before it can read the e820 map.
     */
    align = rd32(img + HDR_KERNEL_ALIGNMENT);
    pref = rd64(img + HDR_PREF_ADDRESS);
    init_size = rd32(img + HDR_INIT_SIZE);
    if (align == 0 || (align & (align - 1)) || align > 1ULL << 30)
        align = 2 * MIB;
    if (pref > VMM_4GIB) {
        vmm_error_set(err, -ENOEXEC, "the kernel asks to run at 0x%llx, above 4 GiB",
                      (unsigned long long)pref);
        return -ENOEXEC;
    }
    runtime_start = align_up(VMM_KERNEL_LOAD, align);
    if (!img[HDR_RELOCATABLE] || runtime_start < pref)
        runtime_start = pref ? pref : runtime_start;
    bz->pref = pref;
    bz->init_size = init_size;
    bz->kernel_end = runtime_start + init_size;
    if (bz->kernel_end < VMM_KERNEL_LOAD + bz->payload_len)
        bz->kernel_end = VMM_KERNEL_LOAD + bz->payload_len;
    if (mem && bz->kernel_end > mem->lowmem_size) {
        vmm_error_set(err, -ENOMEM,
                      "the kernel needs %llu MiB of guest RAM to start (it unpacks itself up to "
                      "0x%llx) but the VM has %llu MiB below the PCI hole; give the VM more "
                      "memory",
                      mib_up(bz->kernel_end), (unsigned long long)bz->kernel_end,
                      (unsigned long long)(mem->lowmem_size / MIB));
        return -ENOMEM;
    }

    bz->cmdline_max = rd32(img + HDR_CMDLINE_SIZE);
    if (bz->cmdline_max > VMM_BOOT_CMDLINE_MAX - 1)
        bz->cmdline_max = VMM_BOOT_CMDLINE_MAX - 1;
    bz->initrd_max = rd32(img + HDR_INITRD_ADDR_MAX);
    if (bz->initrd_max == 0)
        bz->initrd_max = INITRD_ADDR_MAX_DEFAULT;
    return 0;
}

/* Highest page-aligned spot for the initrd below initrd_addr_max and the end of low RAM. */
static int place_initrd(const struct vmm_guest_mem *mem, const struct bz_info *bz,
                        size_t initrd_len, uint64_t *addr, struct vmm_error *err)
{
    uint64_t top = bz->initrd_max + 1;
    uint64_t floor = align_up(bz->kernel_end, 0x1000);

    if (top > mem->lowmem_size)
        top = mem->lowmem_size;
    if (initrd_len > top || ((top - initrd_len) & ~0xFFFULL) < floor) {
        vmm_error_set(err, -ENOMEM,
                      "the initrd (%llu MiB) does not fit in guest RAM below 0x%llx (the kernel "
                      "needs up to 0x%llx, leaving %llu MiB); give the VM more memory",
                      mib_up(initrd_len), (unsigned long long)top, (unsigned long long)floor,
                      (unsigned long long)(top > floor ? (top - floor) / MIB : 0));
        return -ENOMEM;
    }
    *addr = (top - initrd_len) & ~0xFFFULL;
    return 0;
}

static void fill_zero_page(uint8_t *bp, const uint8_t *img, const struct bz_info *bz,
                           const struct vmm_guest_mem *mem, uint64_t initrd_addr, size_t initrd_len)
{
    struct vmm_e820_entry e820[VMM_E820_MAX];
    unsigned n = vmm_e820_build(mem, e820, VMM_E820_MAX);

    memset(bp, 0, BP_SIZE);
    memcpy(bp + HDR_START, img + HDR_START, bz->hdr_end - HDR_START);

    /*
     * An 80x25 colour text console, what the BIOS would leave behind; the
     * 64-bit entry skips the setup code that would otherwise fill this in.
     */
    bp[BP_ORIG_VIDEO_MODE] = 3;
    bp[BP_ORIG_VIDEO_COLS] = 80;
    bp[BP_ORIG_VIDEO_LINES] = 25;
    bp[BP_ORIG_VIDEO_ISVGA] = 1;
    wr16(bp + BP_ORIG_VIDEO_POINTS, 16);
    wr64(bp + BP_ACPI_RSDP_ADDR, BOOT_ACPI_ADDR);

    wr16(bp + HDR_VID_MODE, VID_MODE_NORMAL);
    bp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
    bp[HDR_LOADFLAGS] = (uint8_t)((img[HDR_LOADFLAGS] & LOADED_HIGH) | CAN_USE_HEAP);
    wr16(bp + HDR_HEAP_END_PTR, HEAP_END_PTR);
    wr32(bp + HDR_CMD_LINE_PTR, (uint32_t)VMM_BOOT_CMDLINE);
    wr32(bp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
    wr32(bp + HDR_RAMDISK_SIZE, (uint32_t)initrd_len);
    wr64(bp + HDR_SETUP_DATA, 0); /* the loader's to fill; we pass no setup_data */

    if (n > BP_E820_MAX)
        n = BP_E820_MAX;
    bp[BP_E820_ENTRIES] = (uint8_t)n;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = bp + BP_E820_TABLE + i * 20;
        wr64(e, e820[i].addr);
        wr64(e + 8, e820[i].size);
        wr32(e + 16, e820[i].type);
    }
}

int vmm_bzimage_no_text_screen(struct vmm_guest_mem *mem)
{
    uint8_t *bp = vmm_guest_ptr(mem, VMM_BOOT_ZERO_PAGE, BP_SIZE);
    if (!bp)
        return -EFAULT;
    /* No lines or columns: Linux's vgacon finds no screen to start on. */
    bp[BP_ORIG_VIDEO_MODE] = 0;
    bp[BP_ORIG_VIDEO_COLS] = 0;
    bp[BP_ORIG_VIDEO_LINES] = 0;
    bp[BP_ORIG_VIDEO_ISVGA] = 0;
    wr16(bp + BP_ORIG_VIDEO_POINTS, 0);
    return 0;
}

/* Everything decided before anything is written. */
struct bz_plan {
    struct bz_info bz;
    uint64_t initrd_addr;
    size_t cmdline_len;
};

static int plan_load(const struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                     size_t avail, size_t len, size_t initrd_len, const char *cmdline,
                     struct bz_plan *p, struct vmm_error *err)
{
    int ret;

    memset(p, 0, sizeof(*p));
    if (ncpus < 1 || ncpus > VMM_MAX_CPUS) {
        vmm_error_set(err, -EINVAL, "the VM has %u CPUs; Terrarium supports 1 to %u", ncpus,
                      VMM_MAX_CPUS);
        return -EINVAL;
    }
    if (mem->lowmem_size < BOOT_BIOS_END) {
        vmm_error_set(err, -ENOMEM, "the VM has less than 1 MiB of RAM; give it more memory");
        return -ENOMEM;
    }
    ret = parse_header(img, avail, len, mem, &p->bz, err);
    if (ret < 0)
        return ret;

    p->cmdline_len = strlen(cmdline);
    if (p->cmdline_len > p->bz.cmdline_max) {
        vmm_error_set(err, -E2BIG,
                      "the kernel command line is %zu characters long; this kernel accepts at "
                      "most %llu",
                      p->cmdline_len, (unsigned long long)p->bz.cmdline_max);
        return -E2BIG;
    }
    if (initrd_len > UINT32_MAX) {
        vmm_error_set(err, -EFBIG, "the initrd (%llu MiB) is larger than 4 GiB",
                      mib_up(initrd_len));
        return -EFBIG;
    }
    if (initrd_len)
        return place_initrd(mem, &p->bz, initrd_len, &p->initrd_addr, err);
    return 0;
}

/*
 * Writes a planned load: the kernel is either the compressed payload at 1 MiB
 * (vl NULL) or the kernel proper's segments (vl and elf).
 */
static int write_load(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                      const struct bz_plan *p, const uint8_t *initrd, size_t initrd_len,
                      const char *cmdline, const struct vmm_kernel_proper *kp,
                      struct vmm_boot_entry *entry, struct vmm_error *err)
{
    const struct vmm_vmlinux *vl = kp ? &kp->vl : NULL;
    uint8_t *bp, *dst = NULL;
    int ret;

    bp = vmm_guest_ptr(mem, VMM_BOOT_ZERO_PAGE, BP_SIZE);
    if (!vl)
        dst = vmm_guest_ptr(mem, VMM_KERNEL_LOAD, p->bz.payload_len);
    if (!bp || (!vl && !dst)) {
        vmm_error_set(err, -ENOMEM,
                      "the kernel does not fit in guest RAM; give the VM more "
                      "memory");
        return -ENOMEM;
    }
    if (vl) {
        ret = kp->elf ? vmm_vmlinux_load(mem, kp->elf, vl, err)
                      : vmm_vmlinux_load_file(mem, kp->fd, vl, err);
        if (ret < 0)
            return ret;
    } else {
        memcpy(dst, img + p->bz.setup_size, p->bz.payload_len);
    }
    fill_zero_page(bp, img, &p->bz, mem, p->initrd_addr, initrd_len);

    if (boot_copy_to_guest(mem, VMM_BOOT_CMDLINE, cmdline, p->cmdline_len + 1) < 0 ||
        (initrd && boot_copy_to_guest(mem, p->initrd_addr, initrd, initrd_len) < 0) ||
        boot_write_page_tables(mem) < 0) {
        vmm_error_set(err, -ENOMEM,
                      "the boot data does not fit in guest RAM; give the VM more "
                      "memory");
        return -ENOMEM;
    }
    ret = boot_write_platform_tables(mem, ncpus, err);
    if (ret < 0)
        return ret;

    memset(entry, 0, sizeof(*entry));
    if (boot_write_gdt(mem, entry) < 0) {
        vmm_error_set(err, -ENOMEM, "the boot GDT does not fit in guest RAM");
        return -ENOMEM;
    }
    entry->mode = VMM_ENTRY_LONG64;
    /* The kernel proper's startup_64 takes the same registers as the bzImage's 64-bit entry. */
    entry->rip = vl ? vl->entry : VMM_KERNEL_LOAD + 0x200;
    entry->rsi = VMM_BOOT_ZERO_PAGE;
    entry->cr3 = VMM_BOOT_PML4;
    entry->initrd_addr = initrd_len ? p->initrd_addr : 0;
    return 0;
}

int vmm_bzimage_check(const struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                      size_t avail, size_t len, size_t initrd_len, const char *cmdline,
                      struct vmm_error *err)
{
    struct bz_plan p;

    if (!img)
        avail = len = 0;
    return plan_load(mem, ncpus, img, avail, len, initrd_len, cmdline ? cmdline : "", &p, err);
}

int vmm_bzimage_kernel_window(const uint8_t *img, size_t avail, size_t len, uint64_t *lo,
                              uint64_t *hi)
{
    struct bz_info bz;

    if (!img)
        avail = len = 0;
    if (parse_header(img, avail, len, NULL, &bz, NULL) < 0)
        return -ENOEXEC;
    if (bz.pref < VMM_KERNEL_LOAD || bz.init_size == 0)
        return -ENOEXEC;
    *lo = bz.pref;
    *hi = bz.pref + bz.init_size;
    return 0;
}

int vmm_bzimage_load(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img, size_t len,
                     const uint8_t *initrd, size_t initrd_len, const char *cmdline,
                     struct vmm_boot_entry *entry, struct vmm_error *err)
{
    struct bz_plan p;
    int ret;

    if (!img)
        len = 0;
    if (!cmdline)
        cmdline = "";
    ret = plan_load(mem, ncpus, img, len, len, initrd_len, cmdline, &p, err);
    if (ret < 0)
        return ret;
    return write_load(mem, ncpus, img, &p, initrd, initrd_len, cmdline, NULL, entry, err);
}

int vmm_bzimage_load_proper(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                            size_t avail, size_t len, const struct vmm_kernel_proper *kp,
                            const uint8_t *initrd, size_t initrd_len, const char *cmdline,
                            struct vmm_boot_entry *entry, struct vmm_error *err)
{
    struct bz_plan p;
    uint64_t lo, hi;
    int ret;

    if (!img)
        avail = len = 0;
    if (!cmdline)
        cmdline = "";
    ret = plan_load(mem, ncpus, img, avail, len, initrd_len, cmdline, &p, err);
    if (ret < 0)
        return ret;
    if (vmm_bzimage_kernel_window(img, avail, len, &lo, &hi) < 0) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel's header does not say where its kernel proper runs "
                      "(pref_address, init_size)");
        return -ENOEXEC;
    }
    /*
     * vmm_vmlinux_parse put every segment inside [lo, hi) of the image it was
     * parsed for; this image must have the same window, and the segments must
     * end below the kernel_end the initrd was placed above.
     */
    if (kp->vl.nseg == 0 || kp->vl.start < lo || kp->vl.end > hi) {
        vmm_error_set(err, -ENOEXEC, "the decompressed kernel lies outside its load window");
        return -ENOEXEC;
    }
    if (kp->vl.end > p.bz.kernel_end) {
        vmm_error_set(err, -ENOEXEC, "the decompressed kernel ends above its init_size");
        return -ENOEXEC;
    }
    return write_load(mem, ncpus, img, &p, initrd, initrd_len, cmdline, kp, entry, err);
}

int vmm_bzimage_load_vmlinux(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                             size_t len, const uint8_t *elf, size_t elf_len, const uint8_t *initrd,
                             size_t initrd_len, const char *cmdline, struct vmm_boot_entry *entry,
                             struct vmm_error *err)
{
    struct vmm_kernel_proper kp = {.elf = elf, .fd = -1};
    struct bz_plan p;
    uint64_t lo, hi;
    int ret;

    if (!img)
        len = 0;
    /* The image's and the machine's faults first, as vmm_bzimage_load reports them. */
    ret = plan_load(mem, ncpus, img, len, len, initrd_len, cmdline ? cmdline : "", &p, err);
    if (ret < 0)
        return ret;
    if (vmm_bzimage_kernel_window(img, len, len, &lo, &hi) < 0) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel's header does not say where its kernel proper runs "
                      "(pref_address, init_size)");
        return -ENOEXEC;
    }
    ret = vmm_vmlinux_parse(elf, elf ? elf_len : 0, elf ? elf_len : 0, lo, hi, &kp.vl, err);
    if (ret < 0)
        return ret;
    return vmm_bzimage_load_proper(mem, ncpus, img, len, len, &kp, initrd, initrd_len, cmdline,
                                   entry, err);
}
