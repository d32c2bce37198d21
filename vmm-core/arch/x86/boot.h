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

/*
 * Everything vmm_bzimage_load checks (image, command line, initrd placement,
 * RAM size), without writing anything.
 */
VMM_WUR int vmm_bzimage_check(const struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                              size_t len, size_t initrd_len, const char *cmdline,
                              struct vmm_error *err);

/*
 * Where the bzImage's kernel proper runs: [pref_address, pref_address +
 * init_size), or -ENOEXEC when the header does not say (protocol < 2.10).
 */
VMM_WUR int vmm_bzimage_kernel_window(const uint8_t *img, size_t len, uint64_t *lo, uint64_t *hi);

/* Decompressed kernels (vmlinux.c) --------------------------------------------- */
#define VMM_VMLINUX_MAX_SEGS 16

struct vmm_vmlinux_seg {
    uint64_t offset, paddr, filesz, memsz;
};

/* A checked ELF64 vmlinux: its PT_LOAD segments and physical entry point. */
struct vmm_vmlinux {
    uint64_t entry;
    uint64_t start, end; /* lowest p_paddr, highest p_paddr + p_memsz */
    unsigned nseg;
    struct vmm_vmlinux_seg seg[VMM_VMLINUX_MAX_SEGS];
};

/*
 * Checks an ELF64 x86-64 executable (untrusted): program headers and segment
 * bytes inside the file, segments non-overlapping and inside [lo, hi) (the
 * bzImage's load window, which starts at or above 1 MiB), the entry point in
 * an executable segment's file bytes. -ENOEXEC with a sentence otherwise.
 */
VMM_WUR int vmm_vmlinux_parse(const uint8_t *elf, size_t len, uint64_t lo, uint64_t hi,
                              struct vmm_vmlinux *vl, struct vmm_error *err);
/*
 * Copies the segments of a parsed ELF into low RAM and zeroes their bss
 * (with mem->zeroed: writes only the pages that are not zero); writes
 * nothing unless all fit.
 */
VMM_WUR int vmm_vmlinux_load(struct vmm_guest_mem *mem, const uint8_t *elf,
                             const struct vmm_vmlinux *vl, struct vmm_error *err);

/*
 * A bzImage booted from its decompressed kernel proper: the zero page, command
 * line, initrd, page tables and tables as vmm_bzimage_load writes them, but the
 * ELF's segments at their physical addresses instead of the compressed payload,
 * and the entry at the ELF's startup_64. elf must be what img's payload
 * unpacks to (vmm_bzimage_decompress); it is checked against img's load window.
 */
VMM_WUR int vmm_bzimage_load_vmlinux(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                                     size_t len, const uint8_t *elf, size_t elf_len,
                                     const uint8_t *initrd, size_t initrd_len, const char *cmdline,
                                     struct vmm_boot_entry *entry, struct vmm_error *err);

/* Decompressed-kernel cache (kernel-cache.c) ----------------------------------- */

/*
 * Unpacks a bzImage's payload (gzip, XZ or zstd) into out (malloc'd; free
 * out->data). -ENOTSUP for another format or a payload that is not an ELF
 * vmlinux of the announced size, -ENOEXEC for a damaged one.
 */
VMM_WUR int vmm_bzimage_decompress(const uint8_t *img, size_t len, struct vmm_blob *out,
                                   struct vmm_error *err);

/* The cache key: a 128-bit hash of a whole file's content. */
void vmm_kernel_hash(const uint8_t *data, size_t len, uint64_t out[2]);

/*
 * One VM's view of the cache. Set dir (NULL: $XDG_CACHE_HOME/terrarium/kernels,
 * else ~/.cache/terrarium/kernels) and disabled; the rest is filled by the
 * first load and reused by the reloads of a guest reset.
 */
struct vmm_kernel_cache {
    const char *dir;
    bool disabled;
    bool tried;          /* looked up: later loads reuse elf (or the bzImage path) */
    bool hit;            /* elf came from a cache file */
    bool stored;         /* elf was decompressed and written to the cache */
    char *path;          /* the cache file for this image, if there is a cache dir */
    struct vmm_blob elf; /* the kernel proper, or empty to boot the bzImage itself */
    bool elf_mapped;     /* elf maps the cache file (munmap) rather than the heap (free) */
};

/*
 * Fills kc->elf for this bzImage: from its cache file, or by decompressing
 * the payload and storing the result (atomically: temp file + rename). A
 * cache file that fails the checks is deleted. Never fatal: a negative
 * return only means "boot the bzImage itself".
 */
int vmm_kernel_cache_lookup(struct vmm_kernel_cache *kc, const uint8_t *img, size_t len);
void vmm_kernel_cache_release(struct vmm_kernel_cache *kc);

/*
 * vmm_bzimage_load, through the cache when kc allows: the first call checks
 * the image and the machine (so a bad input fails before any decompressing),
 * looks the kernel up, and boots its ELF; later calls (resets) reuse kc->elf.
 * Anything wrong with the cache falls back to the bzImage path.
 */
VMM_WUR int vmm_bzimage_load_cached(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                                    size_t len, const uint8_t *initrd, size_t initrd_len,
                                    const char *cmdline, struct vmm_kernel_cache *kc,
                                    struct vmm_boot_entry *entry, struct vmm_error *err);

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
/*
 * PCI INTx when a kernel is booted without firmware: the board programs the
 * PIIX3 so PIRQ A..D reach these ISA IRQs, and the DSDT's _PRT says the
 * same for every slot and pin (pin p of slot s drives PIRQ[(s + p - 1) mod 4]).
 */
#define VMM_DIRECT_PIRQ_IRQ(pirq) ((pirq) < 2 ? 10u : 11u) /* PIRQA, B: 10; C, D: 11 */
#define VMM_RESET_PORT 0xCF9 /* FADT RESET_REG: write VMM_RESET_VALUE */
#define VMM_RESET_VALUE 0x06

/* Writes the MP floating pointer + configuration table (ncpus, IOAPIC, ISA IRQs). */
VMM_WUR int vmm_mptable_write(struct vmm_guest_mem *mem, unsigned ncpus);
/* Writes RSDP/XSDT/FADT/FACS/MADT/DSDT into the BIOS area. */
VMM_WUR int vmm_acpi_write(struct vmm_guest_mem *mem, unsigned ncpus);

/*
 * The same tables for firmware: the two fw_cfg files and the table-loader
 * script ("etc/table-loader") with which the firmware places, links and
 * checksums them. Free with vmm_acpi_fw_cfg_free. -ENOMEM, -EINVAL.
 */
#define VMM_ACPI_TABLES_FILE "etc/acpi/tables"
#define VMM_ACPI_RSDP_FILE "etc/acpi/rsdp"
#define VMM_ACPI_LOADER_FILE "etc/table-loader"
struct vmm_acpi_fw_cfg {
    uint8_t *tables;
    size_t tables_len;
    uint8_t rsdp[36];
    uint8_t *loader;
    size_t loader_len;
};
VMM_WUR int vmm_acpi_build_fw_cfg(unsigned ncpus, struct vmm_acpi_fw_cfg *out);
void vmm_acpi_fw_cfg_free(struct vmm_acpi_fw_cfg *out);

#endif
