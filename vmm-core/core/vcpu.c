/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"

static void kick_handler(int sig)
{
    (void)sig; /* only there to interrupt KVM_RUN with EINTR */
}

int vmm_vcpus_create(struct vmm_vm *vm, struct vmm_error *err)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN must return EINTR */
    sigemptyset(&sa.sa_mask);
    if (sigaction(VMM_KICK_SIGNAL, &sa, NULL) < 0) {
        vmm_error_set(err, -errno, "cannot install the vCPU kick signal handler");
        return -errno;
    }

    vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
    if (!vm->vcpus) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (unsigned i = 0; i < vm->ncpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        v->vm = vm;
        v->id = i;
        v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
        if (v->fd < 0) {
            int e = errno;
            vmm_error_set(err, -e, "cannot create vCPU %u: %s", i, strerror(e));
            return -e;
        }
        v->run = mmap(NULL, vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
        if (v->run == MAP_FAILED) {
            int e = errno;
            v->run = NULL;
            vmm_error_set(err, -e, "cannot map vCPU %u's run area: %s", i, strerror(e));
            return -e;
        }
        int r = vmm_cpuid_setup(vm, v, err);
        if (r == 0)
            r = vmm_msr_reset(v, err);
        if (r == 0)
            r = vmm_vcpu_capture_reset_state(v, err);
        if (r < 0)
            return r;
    }
    return 0;
}

void vmm_vcpus_destroy(struct vmm_vm *vm)
{
    if (!vm->vcpus)
        return;
    for (unsigned i = 0; i < vm->ncpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        if (v->run)
            munmap(v->run, vm->vcpu_mmap_size);
        if (v->fd > 0)
            close(v->fd);
        free(v->reset_state);
    }
    free(vm->vcpus);
    vm->vcpus = NULL;
}

void vmm_vcpu_kick(struct vmm_vcpu *v)
{
    if (!v->run)
        return;
    /* Set before the signal: if the thread is just entering KVM_RUN, it returns at once. */
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (v->thread_started)
        pthread_kill(v->thread, VMM_KICK_SIGNAL);
}

void vmm_vcpu_kick_all(struct vmm_vm *vm)
{
    for (unsigned i = 0; i < vm->ncpus; i++)
        vmm_vcpu_kick(&vm->vcpus[i]);
}

static void handle_io(struct vmm_vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    unsigned size = run->io.size;
    if (size != 1 && size != 2 && size != 4)
        return;
    if (run->io.data_offset + (uint64_t)size * run->io.count > (uint64_t)v->vm->vcpu_mmap_size)
        return;
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (run->io.direction == KVM_EXIT_IO_OUT) {
            uint64_t val = 0;
            memcpy(&val, data, size);
            vmm_iotrap_write(v, VMM_IO_PIO, run->io.port, size, val);
        } else {
            uint64_t val = vmm_iotrap_read(v, VMM_IO_PIO, run->io.port, size);
            memcpy(data, &val, size);
        }
    }
}

static void handle_mmio(struct vmm_vcpu *v)
{
    struct kvm_run *run = v->run;
    unsigned len = run->mmio.len;
    if (len == 0 || len > 8)
        return;
    if (run->mmio.is_write) {
        uint64_t val = 0;
        memcpy(&val, run->mmio.data, len);
        vmm_iotrap_write(v, VMM_IO_MMIO, run->mmio.phys_addr, len, val);
    } else {
        uint64_t val = vmm_iotrap_read(v, VMM_IO_MMIO, run->mmio.phys_addr, len);
        memcpy(run->mmio.data, &val, len);
    }
}

static void handle_exit(struct vmm_vcpu *v)
{
    struct kvm_run *run = v->run;
    struct vmm_vm *vm = v->vm;
    char msg[160];
    uint64_t *count = run->exit_reason == KVM_EXIT_IO     ? &v->exits_pio
                      : run->exit_reason == KVM_EXIT_MMIO ? &v->exits_mmio
                                                          : &v->exits_other;
    __atomic_store_n(count, *count + 1, __ATOMIC_RELAXED);
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(v);
        break;
    case KVM_EXIT_MMIO:
        handle_mmio(v);
        break;
    case KVM_EXIT_SHUTDOWN: /* triple fault: a PC resets */
        vmm_log(VMM_LOG_INFO, "vCPU %u: triple fault, resetting", v->id);
        vmm_vm_request_reset(vm);
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
            vmm_vm_request_reset(vm);
        else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
            vmm_vm_end(vm, VMM_EXIT_POWEROFF, 0, "the guest powered off");
        else {
            snprintf(msg, sizeof(msg), "the guest crashed (system event %u)",
                     run->system_event.type);
            vmm_vm_end(vm, VMM_EXIT_ERROR, 1, msg);
        }
        break;
    case KVM_EXIT_HLT:
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        break;
    case KVM_EXIT_FAIL_ENTRY:
        snprintf(msg, sizeof(msg), "vCPU %u: KVM could not enter the guest (reason 0x%llx)", v->id,
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        vmm_vm_end(vm, VMM_EXIT_ERROR, 1, msg);
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        snprintf(msg, sizeof(msg), "vCPU %u: KVM internal error (suberror %u)", v->id,
                 run->internal.suberror);
        vmm_vm_end(vm, VMM_EXIT_ERROR, 1, msg);
        break;
    default:
        vmm_log_ratelimited(VMM_LOG_WARN, "vCPU %u: unhandled exit reason %u", v->id,
                            run->exit_reason);
        break;
    }
}

/* Parks the calling vCPU until the VM wants it running again; false means leave. */
static bool park(struct vmm_vcpu *v)
{
    struct vmm_vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    v->parked = true;
    vm->parked_count++;
    pthread_cond_broadcast(&vm->cond);
    int req;
    while ((req = atomic_load(&vm->request)) != VMM_REQ_RUN && req != VMM_REQ_EXIT)
        pthread_cond_wait(&vm->cond, &vm->lock);
    vm->parked_count--;
    v->parked = false;
    pthread_mutex_unlock(&vm->lock);
    return req != VMM_REQ_EXIT;
}

static void *vcpu_thread(void *arg)
{
    struct vmm_vcpu *v = arg;
    struct vmm_vm *vm = v->vm;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VMM_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    for (;;) {
        if (atomic_load(&vm->request) != VMM_REQ_RUN) {
            if (!park(v))
                break;
            continue;
        }
        int r = ioctl(v->fd, KVM_RUN, 0);
        /* Coalesced writes first: whatever comes next may depend on them. */
        vmm_coalesced_drain(v);
        if (r < 0) {
            int e = errno;
            if (e == EINTR || e == EAGAIN) {
                __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                continue;
            }
            char msg[128];
            snprintf(msg, sizeof(msg), "vCPU %u: KVM_RUN failed: %s", v->id, strerror(e));
            vmm_vm_end(vm, VMM_EXIT_ERROR, 1, msg);
            continue;
        }
        handle_exit(v);
    }
    return NULL;
}

int vmm_vcpus_start(struct vmm_vm *vm, struct vmm_error *err)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, VMM_KICK_SIGNAL);
    /* Threads start with the kick blocked and unblock it themselves. */
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (unsigned i = 0; i < vm->ncpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
        if (r) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            vmm_error_set(err, -r, "cannot start vCPU thread %u: %s", i, strerror(r));
            return -r;
        }
        v->thread_started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}

void vmm_vm_exit_counts(struct vmm_vm *vm, struct vmm_exit_counts *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++) {
        out->pio += __atomic_load_n(&vm->vcpus[i].exits_pio, __ATOMIC_RELAXED);
        out->mmio += __atomic_load_n(&vm->vcpus[i].exits_mmio, __ATOMIC_RELAXED);
        out->other += __atomic_load_n(&vm->vcpus[i].exits_other, __ATOMIC_RELAXED);
    }
}

void vmm_vcpus_join(struct vmm_vm *vm)
{
    for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++) {
        if (vm->vcpus[i].thread_started) {
            pthread_join(vm->vcpus[i].thread, NULL);
            vm->vcpus[i].thread_started = false;
        }
    }
}
