/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"

int vmm_mem_set_slot(struct vmm_vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
                     uint32_t flags)
{
    if (slot >= VMM_MAX_SLOTS)
        return -EINVAL;
    pthread_mutex_lock(&vm->slot_lock);
    struct vmm_mem_slot *s = &vm->slots[slot];
    int r = 0;
    if (s->size && s->gpa == gpa && s->size == size && s->hva == hva && s->flags == flags)
        goto out;
    /* KVM cannot change a slot's flags or size in place: delete, then add. */
    if (s->size) {
        struct kvm_userspace_memory_region del = {.slot = slot};
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &del) < 0) {
            r = -errno;
            goto out;
        }
        s->size = 0;
    }
    if (size) {
        struct kvm_userspace_memory_region add = {
            .slot = slot,
            .flags = flags,
            .guest_phys_addr = gpa,
            .memory_size = size,
            .userspace_addr = (uint64_t)(uintptr_t)hva,
        };
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &add) < 0) {
            r = -errno;
            goto out;
        }
        *s = (struct vmm_mem_slot){.gpa = gpa, .size = size, .hva = hva, .flags = flags};
    }
out:
    pthread_mutex_unlock(&vm->slot_lock);
    return r;
}

static int add_slot(struct vmm_vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
                    struct vmm_error *err)
{
    int r = vmm_mem_set_slot(vm, slot, gpa, size, hva, 0);
    if (r < 0)
        vmm_error_set(err, r, "KVM refused a %llu MiB memory slot: %s",
                      (unsigned long long)(size >> 20), strerror(-r));
    return r;
}

int vmm_mem_map(struct vmm_vm *vm, uint64_t ram_size, struct vmm_error *err)
{
    uint64_t low, high;
    vmm_guest_mem_layout(ram_size, &low, &high);
    /*
     * Anonymous and MAP_NORESERVE: the guest's RAM costs the host only what
     * the guest touches, and zero pages stay unallocated.
     */
    /*
     * 2 MiB-aligned: KVM maps a transparent huge page into the guest with
     * one 2 MiB nested-paging entry only if host address and guest-physical
     * address agree modulo 2 MiB. At a merely page-aligned base (what mmap
     * gives before Linux 6.7) every guest page needs its own entry and its
     * own nested fault. QEMU aligns the same way; the lab's sequential
     * virtio-blk runs point at this as their gap (docs/benchmarks.md).
     */
    const uint64_t align = 2ull << 20;
    uint8_t *p = mmap(NULL, ram_size + align, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
        uint8_t *a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
        if (a > p)
            munmap(p, (size_t)(a - p));
        if (p + align > a)
            munmap(a + ram_size, (size_t)(p + align - a));
        p = a;
    }
    if (p == MAP_FAILED) {
        int e = errno;
        vmm_error_set(err, -e,
                      "the host cannot map %llu MiB of guest memory (%s); give the VM less "
                      "memory",
                      (unsigned long long)(ram_size >> 20), strerror(e));
        return -e;
    }
    vm->mem.base = p;
    vm->mem.lowmem_size = low;
    vm->mem.highmem_size = high;
    vm->ram_map_size = ram_size;
    /* Transparent huge pages make guest page walks cheaper; RAM still fills lazily. */
    madvise(p, ram_size, MADV_HUGEPAGE);
    madvise(p, ram_size, MADV_DONTDUMP);
    return 0;
}

int vmm_mem_register(struct vmm_vm *vm, bool legacy_holes, struct vmm_error *err)
{
    int r;
    uint8_t *b = vm->mem.base;
    if (!legacy_holes) {
        r = add_slot(vm, VMM_SLOT_LOW, 0, vm->mem.lowmem_size, b, err);
    } else {
        /*
         * The VGA window 0xA0000-0xBFFFF is never RAM; 0xC0000-0xFFFFF is
         * the board's (ROM shadowing); RAM resumes at 1 MiB.
         */
        r = add_slot(vm, VMM_SLOT_LOW, 0, VMM_VGA_WINDOW_START, b, err);
        if (r == 0)
            r = add_slot(vm, VMM_SLOT_LOW_1M, VMM_1MIB, vm->mem.lowmem_size - VMM_1MIB,
                         b + VMM_1MIB, err);
    }
    if (r == 0 && vm->mem.highmem_size)
        r = add_slot(vm, VMM_SLOT_HIGH, VMM_4GIB, vm->mem.highmem_size, b + vm->mem.lowmem_size,
                     err);
    return r;
}

void vmm_mem_free(struct vmm_vm *vm)
{
    if (vm->mem.base)
        munmap(vm->mem.base, vm->ram_map_size);
    vm->mem.base = NULL;
    if (vm->ram_file_fd >= 0)
        close(vm->ram_file_fd);
    vm->ram_file_fd = -1;
}
