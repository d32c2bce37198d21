/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_ARCH_X86_BOOT_H
#define VMM_ARCH_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/guest-mem.h"
#include "vmm/vmm.h"

/*
 * How the boot vCPU starts, independent of KVM structures so the loaders
 * can be unit-tested on fake RAM. arch/x86/vcpu-state.c turns it into
 * registers.
 */
enum vmm_entry_mode {
    VMM_ENTRY_LONG64, /* Linux 64-bit boot protocol: paging on, CS 64-bit */
    VMM_ENTRY_PROT32, /* multiboot: flat 32-bit protected mode, paging off */
};

/* GDT selectors the loaders lay out (see boot-common.c). */
#define VMM_BOOT_GDT_ADDR 0x500ULL
#define VMM_BOOT_SEL_CODE32 0x08
#define VMM_BOOT_SEL_CODE64 0x10
#define VMM_BOOT_SEL_DATA 0x18

struct vmm_boot_entry {
    enum vmm_entry_mode mode;
    uint64_t rip, rsp, rax, rbx, rsi;
    uint64_t cr3; /* LONG64: identity-map page tables */
    uint64_t gdt_base;
    uint16_t gdt_limit;
};

/* A whole file read into memory: the loaders take images as byte buffers. */
struct vmm_blob {
    uint8_t *data;
    size_t len;
};

enum vmm_image_kind { VMM_IMAGE_UNKNOWN, VMM_IMAGE_BZIMAGE, VMM_IMAGE_MULTIBOOT };

/* Sniffs a kernel image; never reads past len. */
enum vmm_image_kind vmm_image_detect(const uint8_t *img, size_t len);

/*
 * Each loader validates the image (a file is untrusted input: every offset
 * and length bound-checked), lays it out in guest RAM with its boot data
 * (e820 map, command line, initrd / modules, tables) and fills entry.
 * Returns 0, or -errno with err holding one sentence for the user (e.g. "the
 * initrd (300 MiB) does not fit below 0x37ffffff; give the VM more memory").
 */
VMM_WUR int vmm_bzimage_load(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                             size_t len, const uint8_t *initrd, size_t initrd_len,
                             const char *cmdline, struct vmm_boot_entry *entry,
                             struct vmm_error *err);
VMM_WUR int vmm_multiboot_load(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                               size_t len, const uint8_t *initrd, size_t initrd_len,
                               const char *cmdline, struct vmm_boot_entry *entry,
                               struct vmm_error *err);

/* e820 ------------------------------------------------------------------- */
#define VMM_E820_RAM 1
#define VMM_E820_RESERVED 2
#define VMM_E820_ACPI 3
#define VMM_E820_MAX 16

struct vmm_e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed));

/* The map every boot path reports: returns the number of entries written. */
unsigned vmm_e820_build(const struct vmm_guest_mem *mem, struct vmm_e820_entry *out, unsigned max);

/* Fixed low-memory layout shared by the loaders ----------------------------- */
#define VMM_BOOT_ZERO_PAGE 0x7000ULL
#define VMM_BOOT_PML4 0x9000ULL /* + PDPT at 0xA000, PDs at 0xB000..0xEFFF */
#define VMM_BOOT_CMDLINE 0x20000ULL
#define VMM_BOOT_CMDLINE_MAX 0x10000ULL
#define VMM_EBDA_START 0x9FC00ULL
#define VMM_BIOS_START 0xF0000ULL /* MP table and ACPI tables live here */
#define VMM_KERNEL_LOAD 0x100000ULL

/* The fixed platform the tables describe (hw/acpi-pm.c and hw/sysctl.c implement it). */
#define VMM_IOAPIC_ADDR 0xFEC00000ULL
#define VMM_LAPIC_ADDR 0xFEE00000ULL
#define VMM_ACPI_PM_BASE 0x600 /* PM1a_EVT_BLK: status (2) + enable (2) */
#define VMM_ACPI_PM1_CNT 0x604 /* PM1a_CNT_BLK, 2 bytes */
#define VMM_ACPI_PM_TMR 0x608  /* PM_TMR_BLK, 4 bytes, 24-bit 3.579545 MHz */
#define VMM_ACPI_SCI_IRQ 9
#define VMM_ACPI_SLP_TYP_S5 5 /* the DSDT's \_S5 package says this */
#define VMM_RESET_PORT 0xCF9  /* FADT RESET_REG: write VMM_RESET_VALUE */
#define VMM_RESET_VALUE 0x06

/* Writes the MP floating pointer + configuration table (ncpus, IOAPIC, ISA IRQs). */
VMM_WUR int vmm_mptable_write(struct vmm_guest_mem *mem, unsigned ncpus);
/* Writes RSDP/XSDT/FADT/FACS/MADT/DSDT into the BIOS area. */
VMM_WUR int vmm_acpi_write(struct vmm_guest_mem *mem, unsigned ncpus);

#endif
