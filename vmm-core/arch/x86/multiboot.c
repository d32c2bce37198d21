/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Multiboot v1 (Multiboot Specification 0.6.96): ELF32 kernels, or any
 * format through the header's address fields ("a.out kludge", flag bit 16),
 * chosen the way GRUB and QEMU choose. The kernel starts in flat 32-bit
 * protected mode with EAX = 0x2BADB002 and EBX = the information structure.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/boot-internal.h"

#define MB_BOOTLOADER_MAGIC 0x2BADB002u

/* header flags */
#define MB_PAGE_ALIGN (1u << 0)  /* modules page-aligned: we always do */
#define MB_MEMORY_INFO (1u << 1) /* mem_* fields: we always give them */
#define MB_VIDEO_MODE (1u << 2)  /* we leave the video mode alone, as QEMU does */
#define MB_AOUT_KLUDGE (1u << 16)
#define MB_REQUIRED_MASK 0xFFFFu
#define MB_HONOURED (MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_VIDEO_MODE)

/* information structure */
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER_NAME (1u << 9)
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE_PTR 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_LOADER_NAME_PTR 64
#define MBI_STRUCT_SIZE 88

/* placement inside the information page */
#define MBI_ADDR BOOT_MB_INFO_ADDR
#define MBI_NAME_ADDR (MBI_ADDR + 0x80)
#define MBI_MODSTR_ADDR (MBI_ADDR + 0xA0)
#define MBI_MODS_LIST_ADDR (MBI_ADDR + 0xC0)
#define MBI_MMAP_ADDR_GPA (MBI_ADDR + 0x100)
#define MBI_MMAP_ENTRY 24 /* size field + base + length + type */

/* ELF32 */
#define EI_NIDENT 16
#define ELFCLASS32 1
#define ELFDATA2LSB 1
#define ET_EXEC 2
#define EM_386 3
#define PT_LOAD 1
#define EHDR_SIZE 52
#define PHDR_SIZE 32
#define MAX_SEGMENTS 64

#define MIB (1024ULL * 1024)

struct segment {
    uint64_t paddr, memsz;
    uint64_t offset, filesz;
};

struct mb_image {
    struct segment seg[MAX_SEGMENTS];
    unsigned nseg;
    uint64_t entry;
};

static unsigned long long mib_up(uint64_t bytes)
{
    return (unsigned long long)((bytes + MIB - 1) / MIB);
}

static int parse_elf(const uint8_t *img, size_t len, struct mb_image *mi, struct vmm_error *err)
{
    uint32_t phoff, e_entry;
    uint16_t phentsize, phnum;

    if (len < EHDR_SIZE || memcmp(img, "\177ELF", 4) != 0) {
        vmm_error_set(err, -ENOEXEC,
                      "the multiboot kernel is not an ELF file and its header has no load "
                      "addresses (flag bit 16); Terrarium cannot tell where to load it");
        return -ENOEXEC;
    }
    if (img[4] != ELFCLASS32 || img[5] != ELFDATA2LSB || rd16(img + 18) != EM_386) {
        vmm_error_set(err, -ENOEXEC,
                      "the multiboot kernel is not a 32-bit x86 ELF file (multiboot v1 kernels "
                      "are ELF32 for EM_386)");
        return -ENOEXEC;
    }
    if (rd16(img + 16) != ET_EXEC) {
        vmm_error_set(err, -ENOEXEC, "the multiboot kernel is an ELF file but not an executable");
        return -ENOEXEC;
    }
    e_entry = rd32(img + 24);
    phoff = rd32(img + 28);
    phentsize = rd16(img + 42);
    phnum = rd16(img + 44);
    if (phentsize < PHDR_SIZE || phnum == 0 || phnum > MAX_SEGMENTS ||
        (uint64_t)phoff + (uint64_t)phnum * phentsize > len) {
        vmm_error_set(err, -ENOEXEC,
                      "the multiboot kernel's ELF program headers are missing, malformed or "
                      "outside the file");
        return -ENOEXEC;
    }

    mi->nseg = 0;
    mi->entry = e_entry;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = img + phoff + (size_t)i * phentsize;
        uint32_t offset = rd32(ph + 4), vaddr = rd32(ph + 8), paddr = rd32(ph + 12);
        uint32_t filesz = rd32(ph + 16), memsz = rd32(ph + 20);

        if (rd32(ph) != PT_LOAD || memsz == 0)
            continue;
        if (filesz > memsz) {
            vmm_error_set(err, -ENOEXEC,
                          "the multiboot kernel's segment %u is malformed: %u bytes in the file "
                          "but only %u in memory",
                          i, filesz, memsz);
            return -ENOEXEC;
        }
        if ((uint64_t)offset + filesz > len) {
            vmm_error_set(err, -ENOEXEC,
                          "the multiboot kernel is truncated: segment %u needs file bytes up to "
                          "%llu but the file has %zu",
                          i, (unsigned long long)offset + filesz, len);
            return -ENOEXEC;
        }
        /* Like GRUB: an entry point given as a virtual address is moved with its segment. */
        if (e_entry >= vaddr && (uint64_t)e_entry < (uint64_t)vaddr + memsz)
            mi->entry = (uint64_t)e_entry - vaddr + paddr;
        mi->seg[mi->nseg++] =
            (struct segment){.paddr = paddr, .memsz = memsz, .offset = offset, .filesz = filesz};
    }
    if (mi->nseg == 0) {
        vmm_error_set(err, -ENOEXEC, "the multiboot kernel has no loadable ELF segment");
        return -ENOEXEC;
    }
    return 0;
}

/* Flag bit 16: the header itself says which file bytes go where. */
static int parse_aout_kludge(const uint8_t *img, size_t len, size_t hoff, struct mb_image *mi,
                             struct vmm_error *err)
{
    uint32_t header_addr, load_addr, load_end, bss_end;
    uint64_t file_off, load_len, mem_len;

    if (hoff + 32 > len) {
        vmm_error_set(err, -ENOEXEC,
                      "the multiboot header is truncated: its address fields run past the end "
                      "of the file");
        return -ENOEXEC;
    }
    header_addr = rd32(img + hoff + 12);
    load_addr = rd32(img + hoff + 16);
    load_end = rd32(img + hoff + 20);
    bss_end = rd32(img + hoff + 24);
    if (load_addr > header_addr || header_addr - load_addr > hoff) {
        vmm_error_set(err, -ENOEXEC,
                      "the multiboot header's load_addr (0x%x) and header_addr (0x%x) do not "
                      "match where the header sits in the file (offset %zu)",
                      load_addr, header_addr, hoff);
        return -ENOEXEC;
    }
    file_off = hoff - (header_addr - load_addr);
    if (load_end == 0) {
        load_len = len - file_off;
    } else {
        if (load_end < load_addr || load_end - load_addr > len - file_off) {
            vmm_error_set(err, -ENOEXEC,
                          "the multiboot header's load_end_addr (0x%x) is before load_addr or "
                          "past the end of the file",
                          load_end);
            return -ENOEXEC;
        }
        load_len = load_end - load_addr;
    }
    mem_len = load_len;
    if (bss_end) {
        if ((uint64_t)bss_end < (uint64_t)load_addr + load_len) {
            vmm_error_set(err, -ENOEXEC,
                          "the multiboot header's bss_end_addr (0x%x) is below the end of the "
                          "loaded data",
                          bss_end);
            return -ENOEXEC;
        }
        mem_len = bss_end - load_addr;
    }
    if (mem_len == 0) {
        vmm_error_set(err, -ENOEXEC, "the multiboot header describes an empty kernel");
        return -ENOEXEC;
    }
    mi->nseg = 1;
    mi->seg[0] = (struct segment){
        .paddr = load_addr, .memsz = mem_len, .offset = file_off, .filesz = load_len};
    mi->entry = rd32(img + hoff + 28);
    return 0;
}

/* Every segment in low RAM and clear of the data the loader places itself. */
static int check_placement(const struct vmm_guest_mem *mem, const struct mb_image *mi,
                           size_t cmdline_len, struct vmm_error *err)
{
    const struct {
        const char *what;
        uint64_t start, len;
    } fixed[] = {
        {"boot GDT", VMM_BOOT_GDT_ADDR, BOOT_GDT_SIZE},
        {"multiboot information", MBI_ADDR, BOOT_MB_INFO_SIZE},
        {"command line", VMM_BOOT_CMDLINE, cmdline_len + 1},
        {"BIOS area (EBDA, VGA, MP and ACPI tables)", VMM_EBDA_START,
         BOOT_BIOS_END - VMM_EBDA_START},
    };

    for (unsigned i = 0; i < mi->nseg; i++) {
        const struct segment *s = &mi->seg[i];
        if (s->paddr + s->memsz > mem->lowmem_size) {
            vmm_error_set(err, -ENOMEM,
                          "the multiboot kernel wants memory at 0x%llx-0x%llx, outside the "
                          "VM's %llu MiB of RAM; give the VM more memory",
                          (unsigned long long)s->paddr,
                          (unsigned long long)(s->paddr + s->memsz - 1),
                          (unsigned long long)(mem->lowmem_size / MIB));
            return -ENOMEM;
        }
        for (unsigned j = 0; j < sizeof(fixed) / sizeof(fixed[0]); j++) {
            if (ranges_overlap(s->paddr, s->memsz, fixed[j].start, fixed[j].len)) {
                vmm_error_set(err, -ENOEXEC,
                              "the multiboot kernel wants memory at 0x%llx-0x%llx, which "
                              "overlaps the %s Terrarium places at 0x%llx; link the kernel at "
                              "1 MiB or above",
                              (unsigned long long)s->paddr,
                              (unsigned long long)(s->paddr + s->memsz - 1), fixed[j].what,
                              (unsigned long long)fixed[j].start);
                return -ENOEXEC;
            }
        }
    }
    if (!vmm_guest_ptr(mem, mi->entry, 1) || mi->entry >= VMM_4GIB) {
        vmm_error_set(err, -ENOEXEC,
                      "the multiboot kernel's entry point 0x%llx is outside guest RAM",
                      (unsigned long long)mi->entry);
        return -ENOEXEC;
    }
    return 0;
}

static uint64_t image_end(const struct mb_image *mi)
{
    uint64_t end = 0;
    for (unsigned i = 0; i < mi->nseg; i++)
        if (mi->seg[i].paddr + mi->seg[i].memsz > end)
            end = mi->seg[i].paddr + mi->seg[i].memsz;
    return end;
}

static int write_info(struct vmm_guest_mem *mem, const char *cmdline, size_t cmdline_len,
                      uint64_t mod_start, size_t mod_len)
{
    static const char loader_name[] = "Terrarium";
    static const char mod_string[] = "initrd";
    struct vmm_e820_entry e820[VMM_E820_MAX];
    unsigned n = vmm_e820_build(mem, e820, VMM_E820_MAX);
    uint8_t *info = vmm_guest_ptr(mem, MBI_ADDR, BOOT_MB_INFO_SIZE);
    uint8_t *mmap, *mod;
    uint32_t flags = MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME;
    uint64_t lower = mem->lowmem_size < VMM_EBDA_START ? mem->lowmem_size : VMM_EBDA_START;

    if (!info || boot_copy_to_guest(mem, VMM_BOOT_CMDLINE, cmdline, cmdline_len + 1) < 0)
        return -EFAULT;
    memset(info, 0, BOOT_MB_INFO_SIZE);

    /* mem_upper: KiB from 1 MiB up to the first hole, which is the PCI hole. */
    wr32(info + MBI_MEM_LOWER, (uint32_t)(lower / 1024));
    wr32(info + MBI_MEM_UPPER, (uint32_t)((mem->lowmem_size - MIB) / 1024));
    wr32(info + MBI_CMDLINE_PTR, (uint32_t)VMM_BOOT_CMDLINE);
    memcpy(info + (MBI_NAME_ADDR - MBI_ADDR), loader_name, sizeof(loader_name));
    wr32(info + MBI_LOADER_NAME_PTR, (uint32_t)MBI_NAME_ADDR);

    mmap = info + (MBI_MMAP_ADDR_GPA - MBI_ADDR);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = mmap + i * MBI_MMAP_ENTRY;
        wr32(e, MBI_MMAP_ENTRY - 4); /* size does not count itself */
        wr64(e + 4, e820[i].addr);
        wr64(e + 12, e820[i].size);
        wr32(e + 20, e820[i].type);
    }
    wr32(info + MBI_MMAP_LENGTH, n * MBI_MMAP_ENTRY);
    wr32(info + MBI_MMAP_ADDR, (uint32_t)MBI_MMAP_ADDR_GPA);

    if (mod_len) {
        flags |= MBI_MODS;
        memcpy(info + (MBI_MODSTR_ADDR - MBI_ADDR), mod_string, sizeof(mod_string));
        mod = info + (MBI_MODS_LIST_ADDR - MBI_ADDR);
        wr32(mod, (uint32_t)mod_start);
        wr32(mod + 4, (uint32_t)(mod_start + mod_len));
        wr32(mod + 8, (uint32_t)MBI_MODSTR_ADDR);
        wr32(info + MBI_MODS_COUNT, 1);
        wr32(info + MBI_MODS_ADDR, (uint32_t)MBI_MODS_LIST_ADDR);
    }
    wr32(info + MBI_FLAGS, flags);
    return 0;
}

int vmm_multiboot_load(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img, size_t len,
                       const uint8_t *initrd, size_t initrd_len, const char *cmdline,
                       struct vmm_boot_entry *entry, struct vmm_error *err)
{
    struct mb_image mi;
    uint64_t mod_start = 0;
    uint32_t flags;
    size_t cmdline_len;
    long hoff;
    int ret;

    memset(&mi, 0, sizeof(mi));
    if (!img)
        len = 0;
    if (!cmdline)
        cmdline = "";
    if (!initrd)
        initrd_len = 0;
    if (ncpus < 1 || ncpus > VMM_MAX_CPUS) {
        vmm_error_set(err, -EINVAL, "the VM has %u CPUs; Terrarium supports 1 to %u", ncpus,
                      VMM_MAX_CPUS);
        return -EINVAL;
    }
    if (mem->lowmem_size < 2 * MIB) {
        vmm_error_set(err, -ENOMEM, "the VM has less than 2 MiB of RAM; give it more memory");
        return -ENOMEM;
    }
    hoff = boot_find_multiboot_header(img, len);
    if (hoff < 0) {
        vmm_error_set(err, -ENOEXEC,
                      "the kernel has no valid multiboot header (magic 0x1BADB002 with a "
                      "matching checksum, 4-byte aligned, in the first 8 KiB)");
        return -ENOEXEC;
    }
    flags = rd32(img + hoff + 4);
    if (flags & MB_REQUIRED_MASK & ~MB_HONOURED) {
        vmm_error_set(err, -ENOTSUP,
                      "the multiboot kernel requires features Terrarium does not provide "
                      "(header flags 0x%x)",
                      flags & MB_REQUIRED_MASK & ~MB_HONOURED);
        return -ENOTSUP;
    }
    cmdline_len = strlen(cmdline);
    if (cmdline_len >= VMM_BOOT_CMDLINE_MAX) {
        vmm_error_set(err, -E2BIG,
                      "the kernel command line is %zu characters long; at most %llu fit",
                      cmdline_len, VMM_BOOT_CMDLINE_MAX - 1);
        return -E2BIG;
    }

    if (flags & MB_AOUT_KLUDGE)
        ret = parse_aout_kludge(img, len, (size_t)hoff, &mi, err);
    else
        ret = parse_elf(img, len, &mi, err);
    if (ret < 0)
        return ret;
    ret = check_placement(mem, &mi, cmdline_len, err);
    if (ret < 0)
        return ret;

    /* The module goes right after the kernel (its bss included), page-aligned, as GRUB does. */
    if (initrd_len) {
        uint64_t end = image_end(&mi);
        mod_start = align_up(end > MIB ? end : MIB, 0x1000);
        if (initrd_len > mem->lowmem_size || mod_start > mem->lowmem_size - initrd_len) {
            vmm_error_set(err, -ENOMEM,
                          "the initrd (%llu MiB) does not fit in guest RAM after the kernel "
                          "(which ends at 0x%llx, RAM at 0x%llx); give the VM more memory",
                          mib_up(initrd_len), (unsigned long long)end,
                          (unsigned long long)mem->lowmem_size);
            return -ENOMEM;
        }
    }

    for (unsigned i = 0; i < mi.nseg; i++) {
        const struct segment *s = &mi.seg[i];
        uint8_t *dst = vmm_guest_ptr(mem, s->paddr, s->memsz);
        if (!dst) { /* check_placement made sure of this */
            vmm_error_set(err, -EFAULT, "internal error placing the multiboot kernel");
            return -EFAULT;
        }
        memcpy(dst, img + s->offset, s->filesz);
        memset(dst + s->filesz, 0, s->memsz - s->filesz);
    }
    if (boot_copy_to_guest(mem, mod_start, initrd, initrd_len) < 0 ||
        write_info(mem, cmdline, cmdline_len, mod_start, initrd_len) < 0) {
        vmm_error_set(err, -ENOMEM, "the boot data does not fit in guest RAM");
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
    entry->mode = VMM_ENTRY_PROT32;
    entry->rip = mi.entry;
    entry->rax = MB_BOOTLOADER_MAGIC;
    entry->rbx = MBI_ADDR;
    return 0;
}
