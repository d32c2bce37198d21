/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake guest RAM for loader tests: one anonymous MAP_NORESERVE mapping laid
 * out like the real one (low RAM, then high RAM), so a "4 GiB guest" costs
 * only the pages a test touches.
 */
#ifndef TERRARIUM_FAKE_GUEST_MEM_H
#define TERRARIUM_FAKE_GUEST_MEM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "core/guest-mem.h"

#define MIB (1024ULL * 1024)
#define GIB (1024ULL * MIB)

static inline struct vmm_guest_mem fake_mem_new(uint64_t low, uint64_t high)
{
    struct vmm_guest_mem m = {.lowmem_size = low, .highmem_size = high};
    void *p = mmap(NULL, low + high, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap fake guest RAM");
        exit(2);
    }
    m.base = p;
    return m;
}

static inline void fake_mem_free(struct vmm_guest_mem *m)
{
    munmap(m->base, m->lowmem_size + m->highmem_size);
    m->base = NULL;
}

/* Host pointer for a guest address the test expects to be RAM; aborts the test otherwise. */
static inline uint8_t *gp(const struct vmm_guest_mem *m, uint64_t gpa, uint64_t len)
{
    uint8_t *p = vmm_guest_ptr(m, gpa, len);
    if (!p) {
        fprintf(stderr, "test bug: 0x%llx+0x%llx is not fake RAM\n", (unsigned long long)gpa,
                (unsigned long long)len);
        exit(2);
    }
    return p;
}

/* The 8-bit sum of a byte range (0 for a valid ACPI/MP checksum). */
static inline uint8_t byte_sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

#endif
