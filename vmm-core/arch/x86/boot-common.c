/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What both loaders share: image sniffing, the boot GDT, identity page tables. */
#include <errno.h>
#include <string.h>

#include "arch/x86/boot-internal.h"

#define MB1_MAGIC 0x1BADB002u
#define MB1_SEARCH_LEN 8192

/* Flat 4 GiB descriptors: base 0, limit 0xFFFFF, G=1, accessed bit preset. */
#define GDT_CODE32 0x00CF9B000000FFFFULL /* D=1, execute/read */
#define GDT_CODE64 0x00AF9B000000FFFFULL /* L=1, execute/read */
#define GDT_DATA 0x00CF93000000FFFFULL   /* B=1, read/write */

#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

long boot_find_multiboot_header(const uint8_t *img, size_t len)
{
    size_t limit = len < MB1_SEARCH_LEN ? len : MB1_SEARCH_LEN;

    if (!img)
        return -1;
    /* The header is 32-bit aligned and its three mandatory words lie in the first 8 KiB. */
    for (size_t off = 0; off + 12 <= limit; off += 4) {
        uint32_t magic = rd32(img + off);
        if (magic != MB1_MAGIC)
            continue;
        if ((uint32_t)(magic + rd32(img + off + 4) + rd32(img + off + 8)) == 0)
            return (long)off;
    }
    return -1;
}

enum vmm_image_kind vmm_image_detect(const uint8_t *img, size_t len)
{
    if (!img)
        return VMM_IMAGE_UNKNOWN;
    if (len >= 0x206 && rd16(img + 0x1FE) == 0xAA55 && memcmp(img + 0x202, "HdrS", 4) == 0)
        return VMM_IMAGE_BZIMAGE;
    if (boot_find_multiboot_header(img, len) >= 0)
        return VMM_IMAGE_MULTIBOOT;
    return VMM_IMAGE_UNKNOWN;
}

int boot_copy_to_guest(struct vmm_guest_mem *mem, uint64_t gpa, const void *data, size_t len)
{
    uint8_t *dst;

    if (len == 0)
        return 0;
    dst = vmm_guest_ptr(mem, gpa, len);
    if (!dst)
        return -EFAULT;
    memcpy(dst, data, len);
    return 0;
}

int boot_write_gdt(struct vmm_guest_mem *mem, struct vmm_boot_entry *entry)
{
    uint8_t *gdt = vmm_guest_ptr(mem, VMM_BOOT_GDT_ADDR, BOOT_GDT_SIZE);

    if (!gdt)
        return -EFAULT;
    wr64(gdt, 0);
    wr64(gdt + VMM_BOOT_SEL_CODE32, GDT_CODE32);
    wr64(gdt + VMM_BOOT_SEL_CODE64, GDT_CODE64);
    wr64(gdt + VMM_BOOT_SEL_DATA, GDT_DATA);
    entry->gdt_base = VMM_BOOT_GDT_ADDR;
    entry->gdt_limit = BOOT_GDT_SIZE - 1;
    return 0;
}

int boot_write_page_tables(struct vmm_guest_mem *mem)
{
    uint8_t *pml4 = vmm_guest_ptr(mem, VMM_BOOT_PML4, 0x1000);
    uint8_t *pdpt = vmm_guest_ptr(mem, BOOT_PDPT_ADDR, 0x1000);
    uint8_t *pd = vmm_guest_ptr(mem, BOOT_PD_ADDR, BOOT_PD_COUNT * 0x1000ULL);

    if (!pml4 || !pdpt || !pd)
        return -EFAULT;
    memset(pml4, 0, 0x1000);
    memset(pdpt, 0, 0x1000);
    wr64(pml4, BOOT_PDPT_ADDR | PTE_P | PTE_RW);
    for (unsigned i = 0; i < BOOT_PD_COUNT; i++) {
        wr64(pdpt + i * 8, (BOOT_PD_ADDR + i * 0x1000ULL) | PTE_P | PTE_RW);
        for (unsigned j = 0; j < 512; j++) {
            uint64_t phys = ((uint64_t)i << 30) | ((uint64_t)j << 21);
            wr64(pd + i * 0x1000 + j * 8, phys | PTE_P | PTE_RW | PTE_PS);
        }
    }
    return 0;
}

int boot_write_platform_tables(struct vmm_guest_mem *mem, unsigned ncpus, struct vmm_error *err)
{
    int ret;

    if (ncpus < 1 || ncpus > VMM_MAX_CPUS) {
        vmm_error_set(err, -EINVAL, "the VM has %u CPUs; Terrarium supports 1 to %u", ncpus,
                      VMM_MAX_CPUS);
        return -EINVAL;
    }
    ret = vmm_mptable_write(mem, ncpus);
    if (ret < 0) {
        vmm_error_set(err, ret, "could not write the MP table into guest RAM (%s)", strerror(-ret));
        return ret;
    }
    ret = vmm_acpi_write(mem, ncpus);
    if (ret < 0) {
        vmm_error_set(err, ret, "could not write the ACPI tables into guest RAM (%s)",
                      strerror(-ret));
        return ret;
    }
    return 0;
}
