/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_CORE_GUEST_MEM_H
#define VMM_CORE_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Guest RAM layout. RAM up to lowmem_size sits at GPA 0; what is left is
 * relocated above 4 GiB so the PCI hole [lowmem_size, 4 GiB) stays free for
 * MMIO. One host mapping backs both parts: host = base + gpa for low RAM,
 * base + lowmem_size + (gpa - 4 GiB) for high RAM.
 */
#define VMM_PCI_HOLE_START 0xC0000000ULL /* 3 GiB */
#define VMM_4GIB 0x100000000ULL

struct vmm_guest_mem {
    uint8_t *base;
    uint64_t lowmem_size;
    uint64_t highmem_size;
    /*
     * Every byte reads zero: RAM just mapped, nothing written yet. Loaders
     * then leave zero pages unwritten, so the host never allocates them.
     */
    bool zeroed;
};

static inline uint64_t vmm_guest_mem_total(const struct vmm_guest_mem *m)
{
    return m->lowmem_size + m->highmem_size;
}

/* Splits a RAM size into low and high parts around the PCI hole. */
static inline void vmm_guest_mem_layout(uint64_t ram_size, uint64_t *low, uint64_t *high)
{
    *low = ram_size < VMM_PCI_HOLE_START ? ram_size : VMM_PCI_HOLE_START;
    *high = ram_size - *low;
}

/*
 * Host pointer for [gpa, gpa + len), or NULL unless the whole range is RAM
 * inside one part. Safe for any gpa and len (overflow checked): use it for
 * every guest-supplied address.
 */
static inline void *vmm_guest_ptr(const struct vmm_guest_mem *m, uint64_t gpa, uint64_t len)
{
    if (gpa + len < gpa)
        return NULL;
    if (gpa + len <= m->lowmem_size)
        return m->base + gpa;
    if (gpa >= VMM_4GIB && gpa - VMM_4GIB <= m->highmem_size &&
        len <= m->highmem_size - (gpa - VMM_4GIB))
        return m->base + m->lowmem_size + (gpa - VMM_4GIB);
    return NULL;
}

#endif
