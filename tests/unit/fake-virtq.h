/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The driver's side of a split virtqueue in fake guest RAM, for tests and
 * fuzz targets: write descriptors, publish chains, read the used ring.
 */
#ifndef TERRARIUM_FAKE_VIRTQ_H
#define TERRARIUM_FAKE_VIRTQ_H

#include <stdint.h>
#include <string.h>

#include "core/guest-mem.h"

struct fake_vq {
    const struct vmm_guest_mem *mem;
    uint64_t desc, avail, used; /* ring addresses */
    uint16_t size;
    uint16_t avail_idx; /* the driver's next avail index */
};

static inline uint8_t *fvq_ptr(const struct fake_vq *f, uint64_t gpa, uint64_t len)
{
    uint8_t *p = vmm_guest_ptr(f->mem, gpa, len);
    if (!p) {
        fprintf(stderr, "test bug: ring at 0x%llx is not RAM\n", (unsigned long long)gpa);
        exit(2);
    }
    return p;
}

/* Lays the three rings out from base: descriptors, avail, then used on the next 4 KiB. */
static inline void fvq_init(struct fake_vq *f, const struct vmm_guest_mem *mem, uint64_t base,
                            uint16_t size)
{
    f->mem = mem;
    f->size = size;
    f->desc = base;
    f->avail = base + 16ULL * size;
    f->used = (f->avail + 6 + 2ULL * size + 4095) & ~4095ULL;
    f->avail_idx = 0;
    memset(fvq_ptr(f, f->desc, 16ULL * size), 0, 16ULL * size);
    memset(fvq_ptr(f, f->avail, 6 + 2ULL * size), 0, 6 + 2ULL * size);
    memset(fvq_ptr(f, f->used, 6 + 8ULL * size), 0, 6 + 8ULL * size);
}

static inline void fvq_desc_at(const struct fake_vq *f, uint64_t table, unsigned i, uint64_t addr,
                               uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *d = fvq_ptr(f, table + 16ULL * i, 16);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static inline void fvq_desc(const struct fake_vq *f, unsigned i, uint64_t addr, uint32_t len,
                            uint16_t flags, uint16_t next)
{
    fvq_desc_at(f, f->desc, i, addr, len, flags, next);
}

static inline void fvq_put16(const struct fake_vq *f, uint64_t gpa, uint16_t v)
{
    memcpy(fvq_ptr(f, gpa, 2), &v, 2);
}

static inline uint16_t fvq_get16(const struct fake_vq *f, uint64_t gpa)
{
    uint16_t v;
    memcpy(&v, fvq_ptr(f, gpa, 2), 2);
    return v;
}

static inline void fvq_set_avail_idx(struct fake_vq *f, uint16_t idx)
{
    f->avail_idx = idx;
    fvq_put16(f, f->avail + 2, idx);
}

/* Makes the chain starting at descriptor head available. */
static inline void fvq_publish(struct fake_vq *f, uint16_t head)
{
    fvq_put16(f, f->avail + 4 + 2ULL * (f->avail_idx % f->size), head);
    fvq_set_avail_idx(f, (uint16_t)(f->avail_idx + 1));
}

static inline uint16_t fvq_used_idx(const struct fake_vq *f)
{
    return fvq_get16(f, f->used + 2);
}

static inline void fvq_used_elem(const struct fake_vq *f, uint16_t i, uint32_t *id, uint32_t *len)
{
    const uint8_t *p = fvq_ptr(f, f->used + 4 + 8ULL * (i % f->size), 8);
    memcpy(id, p, 4);
    memcpy(len, p + 4, 4);
}

static inline void fvq_set_used_event(const struct fake_vq *f, uint16_t v)
{
    fvq_put16(f, f->avail + 4 + 2ULL * f->size, v);
}

static inline uint16_t fvq_avail_event(const struct fake_vq *f)
{
    return fvq_get16(f, f->used + 4 + 8ULL * f->size);
}

static inline void fvq_set_avail_flags(const struct fake_vq *f, uint16_t flags)
{
    fvq_put16(f, f->avail, flags);
}

#endif
