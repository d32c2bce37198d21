/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers and the low-memory layout shared by the x86 loaders and table writers. */
#ifndef VMM_ARCH_X86_BOOT_INTERNAL_H
#define VMM_ARCH_X86_BOOT_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "arch/x86/boot.h"

/*
 * Low memory as the loaders lay it out:
 *   0x00500  GDT (4 descriptors)
 *   0x07000  Linux zero page (struct boot_params)
 *   0x09000  multiboot information (struct, mmap, module list, strings): one page
 *   0x09000  ... or, for Linux, the PML4; PDPT at 0xA000; 4 PDs at 0xB000..0xEFFF
 *   0x20000  kernel command line (up to VMM_BOOT_CMDLINE_MAX)
 *   0x9FC00  EBDA (reserved)
 *   0xF0000  MP floating pointer, then the MP configuration table
 *   0xF1000  ACPI: RSDP, RSDT, XSDT, FADT, FACS, MADT, DSDT
 */
#define BOOT_GDT_ENTRIES 4
#define BOOT_GDT_SIZE (BOOT_GDT_ENTRIES * 8)
#define BOOT_PDPT_ADDR 0xA000ULL
#define BOOT_PD_ADDR 0xB000ULL
#define BOOT_PD_COUNT 4 /* 4 x 1 GiB */
#define BOOT_PT_END (BOOT_PD_ADDR + BOOT_PD_COUNT * 0x1000ULL)
#define BOOT_MB_INFO_ADDR 0x9000ULL
#define BOOT_MB_INFO_SIZE 0x1000ULL

#define BOOT_MPTABLE_ADDR VMM_BIOS_START
#define BOOT_MPTABLE_END (VMM_BIOS_START + 0x1000ULL)
#define BOOT_ACPI_ADDR BOOT_MPTABLE_END /* the RSDP sits first, 16-byte aligned */
#define BOOT_BIOS_END 0x100000ULL

/* Little-endian field access into byte buffers (images and guest RAM). */
static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)v);
    wr16(p + 2, (uint16_t)(v >> 16));
}

static inline void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* The byte that makes the 8-bit sum of [p, p + len) zero when stored in one of its bytes. */
static inline uint8_t boot_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)(0x100 - sum);
}

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* [a, a + alen) and [b, b + blen) intersect (lengths > 0, no wrap). */
static inline int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Writes the flat GDT at VMM_BOOT_GDT_ADDR and points entry at it. */
VMM_WUR int boot_write_gdt(struct vmm_guest_mem *mem, struct vmm_boot_entry *entry);
/* Identity-maps [0, 4 GiB) with 2 MiB pages at VMM_BOOT_PML4. */
VMM_WUR int boot_write_page_tables(struct vmm_guest_mem *mem);
/* Writes the MP and ACPI tables, with a sentence in err on failure. */
VMM_WUR int boot_write_platform_tables(struct vmm_guest_mem *mem, unsigned ncpus,
                                       struct vmm_error *err);
/* Offset of a valid multiboot v1 header in the first 8 KiB, or -1. */
long boot_find_multiboot_header(const uint8_t *img, size_t len);
/* Copies data into guest RAM; -EFAULT unless [gpa, gpa + len) is RAM. */
VMM_WUR int boot_copy_to_guest(struct vmm_guest_mem *mem, uint64_t gpa, const void *data,
                               size_t len);

#endif
