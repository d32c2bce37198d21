/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel proper (vmlinux, an ELF64 executable) as a bzImage's payload
 * unpacks to. We load its PT_LOAD segments at their physical addresses and
 * enter it at e_entry, the physical address of startup_64, which takes the
 * same 64-bit boot protocol as the bzImage's own 64-bit entry.
 *
 * The ELF comes from a decompressor or a cache file, so it is untrusted like
 * any file: every offset, size and address is checked, with overflow, before
 * a byte is written.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/boot-internal.h"
#include "core/util.h"

/* ELF64 header */
#define EH_SIZE 64
#define EI_CLASS 4
#define EI_DATA 5
#define EI_VERSION 6
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define EV_CURRENT 1
#define E_TYPE 16
#define E_MACHINE 18
#define E_VERSION 20
#define E_ENTRY 24
#define E_PHOFF 32
#define E_PHENTSIZE 54
#define E_PHNUM 56
#define ET_EXEC 2
#define EM_X86_64 62

/* ELF64 program header */
#define PH_SIZE 56
#define P_TYPE 0
#define P_FLAGS 4
#define P_OFFSET 8
#define P_PADDR 24
#define P_FILESZ 32
#define P_MEMSZ 40
#define PT_LOAD 1
#define PF_X 1

#define MAX_PHDRS 64 /* a kernel has about five; anything near 0xFFFF is not one */

static int bad(struct vmm_error *err, const char *what)
{
    vmm_error_set(err, -ENOEXEC, "the decompressed kernel is not a usable x86-64 vmlinux: %s",
                  what);
    return -ENOEXEC;
}

int vmm_vmlinux_parse(const uint8_t *elf, size_t avail, size_t len, uint64_t lo, uint64_t hi,
                      struct vmm_vmlinux *vl, struct vmm_error *err)
{
    uint64_t phoff, entry;
    unsigned phnum;
    bool entry_ok = false;

    memset(vl, 0, sizeof(*vl));
    if (avail > len)
        avail = len;
    if (!elf || avail < EH_SIZE)
        return bad(err, "it is shorter than an ELF header");
    if (elf[0] != 0x7F || memcmp(elf + 1, "ELF", 3) != 0)
        return bad(err, "no ELF signature");
    if (elf[EI_CLASS] != ELFCLASS64 || elf[EI_DATA] != ELFDATA2LSB ||
        elf[EI_VERSION] != EV_CURRENT || rd32(elf + E_VERSION) != EV_CURRENT)
        return bad(err, "not a little-endian ELF64 file");
    if (rd16(elf + E_TYPE) != ET_EXEC || rd16(elf + E_MACHINE) != EM_X86_64)
        return bad(err, "not an x86-64 executable");
    if (rd16(elf + E_PHENTSIZE) != PH_SIZE)
        return bad(err, "unexpected program header size");
    phoff = rd64(elf + E_PHOFF);
    phnum = rd16(elf + E_PHNUM);
    if (phnum == 0 || phnum > MAX_PHDRS)
        return bad(err, "no program headers, or implausibly many");
    if (phoff > len || (uint64_t)phnum * PH_SIZE > len - phoff)
        return bad(err, "its program headers lie outside the file");
    if (phoff > avail || (uint64_t)phnum * PH_SIZE > avail - phoff)
        return bad(err, "its program headers are not at the start of the file");
    if (lo < VMM_KERNEL_LOAD || hi <= lo || hi > VMM_PCI_HOLE_START)
        return bad(err, "its bzImage header gives no usable load window");

    entry = rd64(elf + E_ENTRY);
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = elf + phoff + (uint64_t)i * PH_SIZE;
        struct vmm_vmlinux_seg s;

        if (rd32(ph + P_TYPE) != PT_LOAD)
            continue;
        s.offset = rd64(ph + P_OFFSET);
        s.paddr = rd64(ph + P_PADDR);
        s.filesz = rd64(ph + P_FILESZ);
        s.memsz = rd64(ph + P_MEMSZ);
        if (s.memsz == 0)
            continue;
        if (s.filesz > s.memsz)
            return bad(err, "a segment has more file bytes than memory bytes");
        if (s.offset > len || s.filesz > len - s.offset)
            return bad(err, "a segment's bytes lie outside the file");
        /*
         * The window is where the bzImage header says the kernel runs
         * (pref_address + init_size): above our boot data below 1 MiB, in
         * low RAM, and what the initrd is placed above.
         */
        if (s.paddr < lo || s.paddr > hi || s.memsz > hi - s.paddr)
            return bad(err, "a segment lies outside the kernel's load window");
        for (unsigned j = 0; j < vl->nseg; j++)
            if (ranges_overlap(s.paddr, s.memsz, vl->seg[j].paddr, vl->seg[j].memsz))
                return bad(err, "two segments overlap");
        if (vl->nseg == VMM_VMLINUX_MAX_SEGS)
            return bad(err, "too many loadable segments");
        if ((rd32(ph + P_FLAGS) & PF_X) && entry >= s.paddr && entry - s.paddr < s.filesz)
            entry_ok = true;
        if (vl->nseg == 0 || s.paddr < vl->start)
            vl->start = s.paddr;
        if (s.paddr + s.memsz > vl->end)
            vl->end = s.paddr + s.memsz;
        vl->seg[vl->nseg++] = s;
    }
    if (vl->nseg == 0)
        return bad(err, "no loadable segments");
    if (!entry_ok)
        return bad(err, "its entry point is not in an executable segment");
    vl->entry = entry;
    return 0;
}

/* Copies len bytes into zeroed memory, skipping the source's all-zero pages. */
static void copy_nonzero(uint8_t *dst, const uint8_t *src, uint64_t len)
{
    uint64_t run = 0; /* bytes at dst - run ... dst still to copy */
    while (len) {
        uint64_t n = len < VMM_PAGE_SIZE ? len : VMM_PAGE_SIZE;
        bool skip = n == VMM_PAGE_SIZE && ((uintptr_t)src & 7) == 0 && vmm_page_is_zero(src);
        if (skip && run) {
            memcpy(dst - run, src - run, run);
            run = 0;
        }
        if (!skip)
            run += n;
        dst += n;
        src += n;
        len -= n;
    }
    if (run)
        memcpy(dst - run, src - run, run);
}

/* Every segment inside low RAM, or -ENOMEM with the sentence. */
static int check_fits(const struct vmm_guest_mem *mem, const struct vmm_vmlinux *vl,
                      struct vmm_error *err)
{
    for (unsigned i = 0; i < vl->nseg; i++) {
        const struct vmm_vmlinux_seg *s = &vl->seg[i];
        if (s->paddr + s->memsz > mem->lowmem_size || !vmm_guest_ptr(mem, s->paddr, s->memsz)) {
            vmm_error_set(err, -ENOMEM,
                          "the kernel needs guest RAM up to 0x%llx but the VM has %llu MiB below "
                          "the PCI hole; give the VM more memory",
                          (unsigned long long)(s->paddr + s->memsz),
                          (unsigned long long)(mem->lowmem_size >> 20));
            return -ENOMEM;
        }
    }
    return 0;
}

int vmm_vmlinux_load(struct vmm_guest_mem *mem, const uint8_t *elf, const struct vmm_vmlinux *vl,
                     struct vmm_error *err)
{
    int r = check_fits(mem, vl, err);
    if (r < 0)
        return r;
    /*
     * All checked. RAM keeps its contents across a reset, so bss is cleared
     * explicitly, unless RAM is fresh: then the segments' zero pages (bss,
     * and most of Debian's 62 MiB kernel is zeros stored in the file) are
     * left alone, which saves the host allocating, clearing and then
     * overwriting them.
     */
    for (unsigned i = 0; i < vl->nseg; i++) {
        const struct vmm_vmlinux_seg *s = &vl->seg[i];
        uint8_t *dst = vmm_guest_ptr(mem, s->paddr, s->memsz);
        if (mem->zeroed) {
            copy_nonzero(dst, elf + s->offset, s->filesz);
            continue;
        }
        memcpy(dst, elf + s->offset, s->filesz);
        memset(dst + s->filesz, 0, s->memsz - s->filesz);
    }
    return 0;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

/*
 * Copies the file's bytes [off, off + len), mapped at map, into dst: its
 * data extents are copied, its holes (the zero pages a sparse cache file
 * leaves out) are zeroed, or skipped when dst is zero already (so are zero
 * pages within the data: a cache file on a file system without holes). Each extent is
 * populated in one call before the copy, instead of a page fault per page.
 */
static void copy_extents(int fd, const uint8_t *map, uint8_t *dst, uint64_t off, uint64_t len,
                         bool zeroed)
{
    uint64_t pos = off, end = off + len;
    while (pos < end) {
        uint64_t data = pos, stop = end;
        off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
        if (d >= 0) {
            data = (uint64_t)d < end ? (uint64_t)d : end;
            off_t h = lseek(fd, d, SEEK_HOLE);
            stop = h >= 0 && (uint64_t)h < end ? (uint64_t)h : end;
        } else if (errno == ENXIO) {
            data = end; /* a hole up to the end of the file */
        }               /* else no SEEK_DATA here: all of it is data */
        if (!zeroed && data > pos)
            memset(dst + (pos - off), 0, data - pos);
        if (data >= end)
            break;
        uint64_t page = data & ~(uint64_t)(VMM_PAGE_SIZE - 1);
        (void)madvise((void *)(map + page), stop - page, MADV_POPULATE_READ);
        /* In zeroed RAM zero pages are skipped even inside data (a file without holes). */
        if (zeroed)
            copy_nonzero(dst + (data - off), map + data, stop - data);
        else
            memcpy(dst + (data - off), map + data, stop - data);
        pos = stop;
    }
}

int vmm_vmlinux_load_file(struct vmm_guest_mem *mem, int fd, const struct vmm_vmlinux *vl,
                          struct vmm_error *err)
{
    struct stat st;
    int r = check_fits(mem, vl, err);
    if (r < 0)
        return r;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        vmm_error_set(err, r, "cannot read the kernel proper from its cache file: %s",
                      strerror(-r));
        return r;
    }
    /* Checked here, so that no copy below reads past the end of the mapping. */
    for (unsigned i = 0; i < vl->nseg; i++) {
        if (vl->seg[i].offset + vl->seg[i].filesz > (uint64_t)st.st_size) {
            vmm_error_set(err, -ENODATA,
                          "cannot read the kernel proper from its cache file: the file is "
                          "shorter than its headers say");
            return -ENODATA;
        }
    }
    /*
     * Mapped only while it is copied (a file cut short meanwhile would be a
     * SIGBUS; the cache file is ours, replaced by rename, never rewritten).
     * Copied from a mapping rather than with pread: the same on hardware,
     * and much cheaper where the kernel's own copy is slow (an emulated CPU).
     */
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        r = -errno;
        vmm_error_set(err, r, "cannot map the kernel cache file: %s", strerror(-r));
        return r;
    }
    for (unsigned i = 0; i < vl->nseg; i++) {
        const struct vmm_vmlinux_seg *s = &vl->seg[i];
        uint8_t *dst = vmm_guest_ptr(mem, s->paddr, s->memsz);
        copy_extents(fd, map, dst, s->offset, s->filesz, mem->zeroed);
        if (!mem->zeroed)
            memset(dst + s->filesz, 0, s->memsz - s->filesz);
    }
    munmap(map, (size_t)st.st_size);
    return 0;
}
