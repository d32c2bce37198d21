/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/iotrap.h"

#include <errno.h>
#include <stdbool.h>
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

struct vmm_iotrap_retired {
    struct vmm_iotrap_retired *next;
    struct vmm_iotrap_map *map;
    unsigned nseq;
    uint64_t seq[]; /* each vCPU's io_seq when the map was replaced */
};

static struct vmm_iotrap_space *space_of(struct vmm_vm *vm, enum vmm_io_kind kind)
{
    return kind == VMM_IO_PIO ? &vm->pio : &vm->mmio;
}

static void map_destroy(struct vmm_iotrap_map *map)
{
    if (map) {
        vmm_iotrap_map_free(map);
        free(map);
    }
}

/* A reader that was inside its dispatch at retirement may still hold the old map. */
static bool retired_done(struct vmm_vm *vm, const struct vmm_iotrap_retired *r)
{
    for (unsigned i = 0; i < r->nseq; i++) {
        if ((r->seq[i] & 1) &&
            atomic_load_explicit(&vm->vcpus[i].io_seq, memory_order_seq_cst) == r->seq[i])
            return false;
    }
    return true;
}

static void reclaim(struct vmm_vm *vm, struct vmm_iotrap_space *sp)
{
    struct vmm_iotrap_retired **pp = &sp->retired;
    while (*pp) {
        struct vmm_iotrap_retired *r = *pp;
        if (retired_done(vm, r)) {
            *pp = r->next;
            map_destroy(r->map);
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

static int retire(struct vmm_vm *vm, struct vmm_iotrap_space *sp, struct vmm_iotrap_map *old)
{
    unsigned n = vm->vcpus ? vm->ncpus : 0;
    struct vmm_iotrap_retired *r = malloc(sizeof(*r) + n * sizeof(r->seq[0]));
    if (!r)
        return -ENOMEM;
    r->map = old;
    r->nseq = n;
    for (unsigned i = 0; i < n; i++)
        r->seq[i] = atomic_load_explicit(&vm->vcpus[i].io_seq, memory_order_seq_cst);
    r->next = sp->retired;
    sp->retired = r;
    reclaim(vm, sp);
    return 0;
}

static int map_copy(const struct vmm_iotrap_map *from, struct vmm_iotrap_map **out)
{
    struct vmm_iotrap_map *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    if (from && from->count) {
        m->ranges = malloc((from->count + 1) * sizeof(m->ranges[0]));
        if (!m->ranges) {
            free(m);
            return -ENOMEM;
        }
        memcpy(m->ranges, from->ranges, from->count * sizeof(m->ranges[0]));
        m->count = from->count;
        m->cap = from->count + 1;
    }
    *out = m;
    return 0;
}

/* Copies the current map, applies the change, publishes the copy. */
static int space_update(struct vmm_vm *vm, enum vmm_io_kind kind, bool add, uint64_t base,
                        uint64_t len, const struct vmm_io_ops *ops, const void *opaque)
{
    struct vmm_iotrap_space *sp = space_of(vm, kind);
    struct vmm_iotrap_map *next;
    pthread_mutex_lock(&vm->io_lock);
    struct vmm_iotrap_map *cur = atomic_load(&sp->cur);
    int r = map_copy(cur, &next);
    if (r == 0) {
        r = add ? vmm_iotrap_map_add(next, base, len, ops, (void *)opaque)
                : vmm_iotrap_map_remove(next, base, opaque);
        if (r < 0)
            map_destroy(next);
    }
    if (r == 0) {
        atomic_store(&sp->cur, next);
        if (cur && retire(vm, sp, cur) < 0) {
            /* Without a record it cannot be freed safely; keep it forever. */
        }
    }
    pthread_mutex_unlock(&vm->io_lock);
    return r;
}

int vmm_iotrap_add(struct vmm_vm *vm, enum vmm_io_kind kind, uint64_t base, uint64_t len,
                   const struct vmm_io_ops *ops, void *opaque)
{
    if (kind == VMM_IO_PIO && (base > 0xffff || len > 0x10000 - base))
        return -EINVAL;
    return space_update(vm, kind, true, base, len, ops, opaque);
}

int vmm_iotrap_remove(struct vmm_vm *vm, enum vmm_io_kind kind, uint64_t base, const void *opaque)
{
    return space_update(vm, kind, false, base, 0, NULL, opaque);
}

void vmm_iotrap_space_free(struct vmm_iotrap_space *sp)
{
    map_destroy(atomic_load(&sp->cur));
    atomic_store(&sp->cur, NULL);
    while (sp->retired) {
        struct vmm_iotrap_retired *r = sp->retired;
        sp->retired = r->next;
        map_destroy(r->map);
        free(r);
    }
}

static const struct vmm_iotrap_map empty_map;

uint64_t vmm_iotrap_read(struct vmm_vcpu *v, enum vmm_io_kind kind, uint64_t addr, unsigned size)
{
    atomic_fetch_add_explicit(&v->io_seq, 1, memory_order_seq_cst);
    const struct vmm_iotrap_map *m = atomic_load(&space_of(v->vm, kind)->cur);
    uint64_t val = vmm_iotrap_map_read(m ? m : &empty_map, addr, size);
    atomic_fetch_add_explicit(&v->io_seq, 1, memory_order_seq_cst);
    return val;
}

void vmm_iotrap_write(struct vmm_vcpu *v, enum vmm_io_kind kind, uint64_t addr, unsigned size,
                      uint64_t val)
{
    atomic_fetch_add_explicit(&v->io_seq, 1, memory_order_seq_cst);
    const struct vmm_iotrap_map *m = atomic_load(&space_of(v->vm, kind)->cur);
    vmm_iotrap_map_write(m ? m : &empty_map, addr, size, val);
    atomic_fetch_add_explicit(&v->io_seq, 1, memory_order_seq_cst);
}
