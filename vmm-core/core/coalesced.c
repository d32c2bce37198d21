/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Coalesced port writes (KVM_CAP_COALESCED_PIO). A port whose writes only
 * latch a value that a later access consumes (the PCI CONFIG_ADDRESS at
 * 0xCF8, the RTC index at 0x70) need not leave KVM on every write: KVM
 * appends the write to a ring shared with us and resumes the guest. The
 * ring is applied, in order, before any other exit is handled, so the
 * access that consumes the latched value (a read of 0xCFC, of 0x71, or of
 * the latch itself) always sees every write before it. Each guest PCI
 * configuration access thereby costs one exit to user space instead of two.
 *
 * The zone of 0xCF8 also holds 0xCF9, the reset control register: a reset
 * written there takes effect at the next exit of any vCPU. So that a guest
 * that writes it and then only spins (no exit) is still reset, a timer on
 * the event loop looks at the ring every 200 ms and kicks vCPU 0 when
 * writes wait in it; the kicked vCPU applies them.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"

#define COALESCED_POLL_NS (200 * 1000 * 1000) /* 5 wakeups a second; a rare fallback */

static bool ring_pending(const struct kvm_coalesced_mmio_ring *ring)
{
    return __atomic_load_n(&ring->first, __ATOMIC_ACQUIRE) !=
           __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
}

void vmm_coalesced_drain(struct vmm_vcpu *v)
{
    struct vmm_vm *vm = v->vm;
    struct kvm_coalesced_mmio_ring *ring = vm->coalesced_ring;
    if (!ring || !ring_pending(ring))
        return;
    pthread_mutex_lock(&vm->coalesced_lock);
    for (;;) {
        uint32_t first = __atomic_load_n(&ring->first, __ATOMIC_ACQUIRE);
        uint32_t last = __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
        if (first == last)
            break;
        if (first >= vm->coalesced_max || last >= vm->coalesced_max) {
            /* Never written so by KVM; do not index with it. */
            vmm_log_ratelimited(VMM_LOG_ERROR, "coalesced write ring indices out of range");
            __atomic_store_n(&ring->first, last < vm->coalesced_max ? last : 0, __ATOMIC_RELEASE);
            break;
        }
        struct kvm_coalesced_mmio e;
        memcpy(&e, &ring->coalesced_mmio[first], sizeof(e));
        /* Applied before `first` moves on: another vCPU that sees the ring empty
         * must also see the write's effect. */
        if (e.len >= 1 && e.len <= 8) {
            uint64_t val = 0;
            memcpy(&val, e.data, e.len);
            vmm_iotrap_write(v, e.pio ? VMM_IO_PIO : VMM_IO_MMIO, e.phys_addr, e.len, val);
        }
        __atomic_store_n(&ring->first, (first + 1) % vm->coalesced_max, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&vm->coalesced_lock);
}

static void poll_ring(void *opaque, int fd, uint32_t events)
{
    struct vmm_vm *vm = opaque;
    uint64_t ticks;
    (void)events;
    if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
        return;
    if (vm->coalesced_ring && ring_pending(vm->coalesced_ring) && vm->vcpus)
        vmm_vcpu_kick(&vm->vcpus[0]);
}

/* After the vCPUs exist: the ring is a page of every vCPU's run mapping. */
int vmm_coalesced_setup(struct vmm_vm *vm)
{
    if (vm->cfg.no_coalesced_io || !vm->vcpus || !vm->vcpus[0].run)
        return -ENOTSUP;
    int page = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
    if (page <= 0 || ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) <= 0)
        return -ENOTSUP;
    long psize = sysconf(_SC_PAGESIZE);
    if (psize <= 0 || (long)(page + 1) * psize > vm->vcpu_mmap_size)
        return -ENOTSUP;
    vm->coalesced_max = (uint32_t)(((size_t)psize - sizeof(struct kvm_coalesced_mmio_ring)) /
                                   sizeof(struct kvm_coalesced_mmio));
    if (vm->coalesced_max < 2)
        return -ENOTSUP;
    vm->coalesced_timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (vm->coalesced_timerfd < 0)
        return -errno;
    struct itimerspec its = {.it_interval = {0, COALESCED_POLL_NS},
                             .it_value = {0, COALESCED_POLL_NS}};
    if (timerfd_settime(vm->coalesced_timerfd, 0, &its, NULL) < 0 ||
        vmm_loop_add_fd(vm->loop, vm->coalesced_timerfd, EPOLLIN, poll_ring, vm) < 0) {
        close(vm->coalesced_timerfd);
        vm->coalesced_timerfd = -1;
        return -ENOTSUP;
    }
    vm->coalesced_ring =
        (struct kvm_coalesced_mmio_ring *)((char *)vm->vcpus[0].run + (size_t)page * (size_t)psize);
    return 0;
}

int vmm_coalesce_pio(struct vmm_vm *vm, uint16_t port, unsigned len)
{
    if (!vm->coalesced_ring)
        return -ENOTSUP;
    struct kvm_coalesced_mmio_zone zone = {.addr = port, .size = len, .pio = 1};
    if (ioctl(vm->vm_fd, KVM_REGISTER_COALESCED_MMIO, &zone) < 0)
        return -errno;
    return 0;
}

void vmm_coalesced_teardown(struct vmm_vm *vm)
{
    if (vm->coalesced_timerfd > 0) {
        vmm_loop_del_fd(vm->loop, vm->coalesced_timerfd);
        close(vm->coalesced_timerfd);
    }
    vm->coalesced_timerfd = -1;
    vm->coalesced_ring = NULL;
}
