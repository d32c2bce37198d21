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
    uint64_t initrd_addr; /* where the initrd went (bzImage loaders; 0 without one) */
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
 * The functions below that take (img, avail, len) read only img[0, avail):
 * the start of a bzImage file of len bytes. Booting its kernel proper needs no
 * more than the setup header, within the first VMM_BZIMAGE_HEAD bytes, so a
 * kernel found in the cache is never read whole (kernel-cache.c).
 */
#define VMM_BZIMAGE_HEAD 4096

/*
 * Everything vmm_bzimage_load checks (image header, command line, initrd
 * placement, RAM size), without writing anything; reads img[0, avail) only.
 */
VMM_WUR int vmm_bzimage_check(const struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                              size_t avail, size_t len, size_t initrd_len, const char *cmdline,
                              struct vmm_error *err);

/*
 * Where the bzImage's kernel proper runs: [pref_address, pref_address +
 * init_size), or -ENOEXEC when the header does not say (protocol < 2.10).
 */
VMM_WUR int vmm_bzimage_kernel_window(const uint8_t *img, size_t avail, size_t len, uint64_t *lo,
                                      uint64_t *hi);

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
 * Checks an ELF64 x86-64 executable (untrusted) of len bytes, of which elf
 * holds the first avail (the headers must be among them): program headers and segment
 * bytes inside the file, segments non-overlapping and inside [lo, hi) (the
 * bzImage's load window, which starts at or above 1 MiB), the entry point in
 * an executable segment's file bytes. -ENOEXEC with a sentence otherwise.
 */
VMM_WUR int vmm_vmlinux_parse(const uint8_t *elf, size_t avail, size_t len, uint64_t lo,
                              uint64_t hi, struct vmm_vmlinux *vl, struct vmm_error *err);
/*
 * Copies the segments of a parsed ELF into low RAM and zeroes their bss
 * (with mem->zeroed: writes only the pages that are not zero); writes
 * nothing unless all fit.
 */
VMM_WUR int vmm_vmlinux_load(struct vmm_guest_mem *mem, const uint8_t *elf,
                             const struct vmm_vmlinux *vl, struct vmm_error *err);
/*
 * The same from the ELF file open at fd (mapped while it is copied). Only
 * the file's data extents are copied, so a sparse file's holes cost nothing
 * in zeroed RAM; a file shorter than vl says fails with -ENODATA.
 */
VMM_WUR int vmm_vmlinux_load_file(struct vmm_guest_mem *mem, int fd, const struct vmm_vmlinux *vl,
                                  struct vmm_error *err);

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

/* A kernel proper to boot: its checked segments, read from elf in memory or, with elf NULL, from fd. */
struct vmm_kernel_proper {
    const uint8_t *elf;
    int fd;
    struct vmm_vmlinux vl;
};

/*
 * vmm_bzimage_load_vmlinux for a kernel proper parsed already (against this
 * image's window), from memory or from a file; reads img[0, avail) only.
 * With initrd NULL and initrd_len not 0, room is made for an initrd of that
 * size and entry->initrd_addr says where: the caller reads it in there.
 */
VMM_WUR int vmm_bzimage_load_proper(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                                    size_t avail, size_t len, const struct vmm_kernel_proper *kp,
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

/* What identifies a file's content without reading it: stat(2)'s device, inode, size and times. */
struct vmm_kernel_file_id {
    uint64_t dev, ino, size;
    int64_t mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
};

/*
 * One VM's view of the cache. Set dir (NULL: $XDG_CACHE_HOME/terrarium/kernels,
 * else ~/.cache/terrarium/kernels), disabled, and (have_id, id) for the
 * kernel file when it is known; the rest is filled by the first load and
 * reused by the reloads of a guest reset.
 */
struct vmm_kernel_cache {
    const char *dir;
    bool disabled;
    bool have_id; /* id describes the file the image was read from */
    struct vmm_kernel_file_id id;
    bool tried;     /* looked up: later loads reuse kp (or the bzImage path) */
    bool hit;       /* kp comes from a cache file */
    bool hit_by_id; /* ... found by the file's identity: the image was not read whole */
    bool stored;    /* kp was decompressed and written to the cache */
    bool linked;    /* the file's identity now leads to its cache file */
    bool have_kp;   /* kp is the kernel proper; false: boot the bzImage itself */
    char *path;     /* the cache file for this image, if there is a cache dir */
    struct vmm_kernel_proper kp; /* kp.elf: unpacked here (heap); else kp.fd, the cache file */
    size_t elf_len;              /* kp.elf's length */
};

/*
 * Finds this bzImage's kernel proper: in its cache file (kept open for
 * resets, read with pread when laid out), or by decompressing the payload
 * and storing the result (sparse, atomically: temp file + rename). A cache
 * file that fails the checks is deleted. With kc->have_id, and a file that
 * has not changed for a while, the file's identity is linked to its cache
 * file, so the next boot can skip reading and hashing the image
 * (vmm_kernel_cache_lookup_id). Never fatal: a negative return only means
 * "boot the bzImage itself".
 */
int vmm_kernel_cache_lookup(struct vmm_kernel_cache *kc, const uint8_t *img, size_t len);
/*
 * The same from kc->id and the image's first avail bytes (at least the setup
 * header) only: succeeds when a link for exactly this file identity and
 * header leads to a usable cache file. -ENOENT otherwise, with kc untouched,
 * and the caller reads the image whole for vmm_kernel_cache_lookup.
 */
int vmm_kernel_cache_lookup_id(struct vmm_kernel_cache *kc, const uint8_t *head, size_t avail,
                               size_t len);
void vmm_kernel_cache_release(struct vmm_kernel_cache *kc);

/*
 * vmm_bzimage_load, through the cache when kc allows: the first call checks
 * the image and the machine (so a bad input fails before any decompressing),
 * looks the kernel up, and boots its ELF; later calls (resets) reuse kc->kp.
 * Anything wrong with the cache falls back to the bzImage path, which needs
 * the whole image: when img holds only its first avail < len bytes (after
 * vmm_kernel_cache_lookup_id) that returns -EAGAIN with kc reset, and the
 * caller reads the image whole and calls again. initrd as in
 * vmm_bzimage_load_proper (NULL with a length: the caller reads it in).
 */
VMM_WUR int vmm_bzimage_load_cached(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                                    size_t avail, size_t len, const uint8_t *initrd,
                                    size_t initrd_len, const char *cmdline,
                                    struct vmm_kernel_cache *kc, struct vmm_boot_entry *entry,
                                    struct vmm_error *err);

/*
 * The zero page written by the loads above describes an 80x25 colour text
 * screen, what a BIOS leaves behind on a PC with a VGA. A machine without a
 * display adapter calls this after the load: no text screen, so the kernel
 * takes its dummy console instead of programming VGA registers that are
 * not there.
 */
VMM_WUR int vmm_bzimage_no_text_screen(struct vmm_guest_mem *mem);

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
