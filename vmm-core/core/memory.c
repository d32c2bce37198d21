/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "core/log.h"
#include "core/vm.h"

static int add_slot(struct vmm_vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
                    struct vmm_error *err)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)hva,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        int e = errno;
        vmm_error_set(err, -e, "KVM refused a %llu MiB memory slot: %s",
                      (unsigned long long)(size >> 20), strerror(e));
        return -e;
    }
    return 0;
}

int vmm_mem_map(struct vmm_vm *vm, uint64_t ram_size, struct vmm_error *err)
{
    uint64_t low, high;
    vmm_guest_mem_layout(ram_size, &low, &high);
    /*
     * Anonymous and MAP_NORESERVE: the guest's RAM costs the host only what
     * the guest touches, and zero pages stay unallocated.
     */
    void *p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
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

int vmm_mem_register(struct vmm_vm *vm, struct vmm_error *err)
{
    int r = add_slot(vm, 0, 0, vm->mem.lowmem_size, vm->mem.base, err);
    if (r == 0 && vm->mem.highmem_size)
        r = add_slot(vm, 1, VMM_4GIB, vm->mem.highmem_size, vm->mem.base + vm->mem.lowmem_size,
                     err);
    return r;
}

void vmm_mem_free(struct vmm_vm *vm)
{
    if (vm->mem.base)
        munmap(vm->mem.base, vm->ram_map_size);
    vm->mem.base = NULL;
}
