/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/iotrap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/vm.h"

void vmm_iotrap_map_init(struct vmm_iotrap_map *map)
{
    memset(map, 0, sizeof(*map));
}

void vmm_iotrap_map_free(struct vmm_iotrap_map *map)
{
    free(map->ranges);
    memset(map, 0, sizeof(*map));
}

/* Index of the first range whose end is above addr (count if none). */
static unsigned lower_bound(const struct vmm_iotrap_map *map, uint64_t addr)
{
    unsigned lo = 0, hi = map->count;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const struct vmm_iotrap_range *r = &map->ranges[mid];
        if (r->base + (r->len - 1) < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int vmm_iotrap_map_add(struct vmm_iotrap_map *map, uint64_t base, uint64_t len,
                       const struct vmm_io_ops *ops, void *opaque)
{
    if (len == 0 || base + (len - 1) < base || !ops)
        return -EINVAL;
    unsigned i = lower_bound(map, base);
    if (i < map->count && map->ranges[i].base <= base + (len - 1))
        return -EEXIST;
    if (map->count == map->cap) {
        unsigned cap = map->cap ? map->cap * 2 : 16;
        struct vmm_iotrap_range *n = realloc(map->ranges, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        map->ranges = n;
        map->cap = cap;
    }
    memmove(&map->ranges[i + 1], &map->ranges[i], (map->count - i) * sizeof(map->ranges[0]));
    map->ranges[i] = (struct vmm_iotrap_range){base, len, ops, opaque};
    map->count++;
    return 0;
}

int vmm_iotrap_map_remove(struct vmm_iotrap_map *map, uint64_t base, const void *opaque)
{
    unsigned i = lower_bound(map, base);
    if (i >= map->count || map->ranges[i].base != base || map->ranges[i].opaque != opaque)
        return -ENOENT;
    memmove(&map->ranges[i], &map->ranges[i + 1], (map->count - i - 1) * sizeof(map->ranges[0]));
    map->count--;
    return 0;
}

const struct vmm_iotrap_range *vmm_iotrap_map_find(const struct vmm_iotrap_map *map, uint64_t addr)
{
    unsigned i = lower_bound(map, addr);
    if (i < map->count && map->ranges[i].base <= addr)
        return &map->ranges[i];
    return NULL;
}

static uint64_t size_mask(unsigned size)
{
    return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

uint64_t vmm_iotrap_map_read(const struct vmm_iotrap_map *map, uint64_t addr, unsigned size)
{
    if (size == 0 || size > 8)
        return ~0ULL;
    const struct vmm_iotrap_range *r = vmm_iotrap_map_find(map, addr);
    uint64_t off = r ? addr - r->base : 0;
    if (r && r->ops->read && off + size <= r->len)
        return r->ops->read(r->opaque, off, size) & size_mask(size);
    /* Unclaimed, or straddling a boundary: assemble byte by byte. */
    uint64_t val = 0;
    for (unsigned b = 0; b < size; b++) {
        const struct vmm_iotrap_range *rb = vmm_iotrap_map_find(map, addr + b);
        uint64_t byte = 0xff;
        if (rb && rb->ops->read)
            byte = rb->ops->read(rb->opaque, addr + b - rb->base, 1) & 0xff;
        val |= byte << (8 * b);
    }
    return val;
}

void vmm_iotrap_map_write(const struct vmm_iotrap_map *map, uint64_t addr, unsigned size,
                          uint64_t val)
{
    if (size == 0 || size > 8)
        return;
    val &= size_mask(size);
    const struct vmm_iotrap_range *r = vmm_iotrap_map_find(map, addr);
    uint64_t off = r ? addr - r->base : 0;
    if (r && off + size <= r->len) {
        if (r->ops->write)
            r->ops->write(r->opaque, off, size, val);
        return;
    }
    for (unsigned b = 0; b < size; b++) {
        const struct vmm_iotrap_range *rb = vmm_iotrap_map_find(map, addr + b);
        if (rb && rb->ops->write)
            rb->ops->write(rb->opaque, addr + b - rb->base, 1, (val >> (8 * b)) & 0xff);
    }
}

int vmm_iotrap_add(struct vmm_vm *vm, enum vmm_io_kind kind, uint64_t base, uint64_t len,
                   const struct vmm_io_ops *ops, void *opaque)
{
    if (kind == VMM_IO_PIO && (base > 0xffff || len > 0x10000 - base))
        return -EINVAL;
    return vmm_iotrap_map_add(kind == VMM_IO_PIO ? &vm->pio : &vm->mmio, base, len, ops, opaque);
}
