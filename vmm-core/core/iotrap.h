/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_CORE_IOTRAP_H
#define VMM_CORE_IOTRAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "vmm/vmm.h"

enum vmm_io_kind { VMM_IO_PIO, VMM_IO_MMIO };

/*
 * Handlers get the offset from the start of the registered range and an
 * access size of 1, 2, 4 or 8. Reads of unclaimed space return all ones and
 * writes to it are dropped.
 */
struct vmm_io_ops {
    uint64_t (*read)(void *opaque, uint64_t off, unsigned size);
    void (*write)(void *opaque, uint64_t off, unsigned size, uint64_t val);
};

struct vmm_iotrap_range {
    uint64_t base;
    uint64_t len;
    const struct vmm_io_ops *ops;
    void *opaque;
};

/*
 * A sorted, non-overlapping array of ranges; lookups are a binary search.
 * Changes happen only while vCPUs are paused (or before they start), so the
 * dispatch path takes no lock.
 */
struct vmm_iotrap_map {
    struct vmm_iotrap_range *ranges;
    unsigned count;
    unsigned cap;
};

void vmm_iotrap_map_init(struct vmm_iotrap_map *map);
void vmm_iotrap_map_free(struct vmm_iotrap_map *map);
/* -EINVAL for a zero or wrapping length, -EEXIST if it overlaps a claimed range. */
VMM_WUR int vmm_iotrap_map_add(struct vmm_iotrap_map *map, uint64_t base, uint64_t len,
                               const struct vmm_io_ops *ops, void *opaque);
VMM_WUR int vmm_iotrap_map_remove(struct vmm_iotrap_map *map, uint64_t base, const void *opaque);
const struct vmm_iotrap_range *vmm_iotrap_map_find(const struct vmm_iotrap_map *map, uint64_t addr);

/*
 * Dispatches an access of `size` bytes at addr. An access that starts in a
 * range but runs past its end is split: the part outside reads as ones.
 */
uint64_t vmm_iotrap_map_read(const struct vmm_iotrap_map *map, uint64_t addr, unsigned size);
void vmm_iotrap_map_write(const struct vmm_iotrap_map *map, uint64_t addr, unsigned size,
                          uint64_t val);

/*
 * A VM's PIO or MMIO space. Readers (vCPU threads dispatching an exit) take
 * no lock: the current map is immutable and published through an atomic
 * pointer; a change copies it, edits the copy and publishes that. A replaced
 * map is freed once every vCPU that could still be reading it has finished
 * its dispatch (each vCPU counts dispatch entries and exits in io_seq: odd
 * while inside). So devices may claim and release ranges at any time, from
 * any thread, a vCPU's own I/O handler included (a PCI BAR moved by the
 * guest's config write).
 */
struct vmm_iotrap_retired;

struct vmm_iotrap_space {
    struct vmm_iotrap_map *_Atomic cur;
    struct vmm_iotrap_retired *retired;
};

struct vmm_vm;
struct vmm_vcpu;
VMM_WUR int vmm_iotrap_add(struct vmm_vm *vm, enum vmm_io_kind kind, uint64_t base, uint64_t len,
                           const struct vmm_io_ops *ops, void *opaque);
/* -ENOENT unless a range starting at base with this opaque is claimed. */
int vmm_iotrap_remove(struct vmm_vm *vm, enum vmm_io_kind kind, uint64_t base, const void *opaque);
void vmm_iotrap_space_free(struct vmm_iotrap_space *space);

/* The vCPU side: an access from the guest, dispatched through the current map. */
uint64_t vmm_iotrap_read(struct vmm_vcpu *v, enum vmm_io_kind kind, uint64_t addr, unsigned size);
void vmm_iotrap_write(struct vmm_vcpu *v, enum vmm_io_kind kind, uint64_t addr, unsigned size,
                      uint64_t val);

#endif
