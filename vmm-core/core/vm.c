/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/irq.h"
#include "core/log.h"
#include "core/vm.h"
#include "hw/serial.h"

void vmm_config_init(struct vmm_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mem_mib = 256;
    cfg->ncpus = 1;
    cfg->serial_out_fd = -1;
    cfg->serial_in_fd = -1;
    cfg->firmware_log_fd = -1;
    cfg->rng = true;
    cfg->tablet = true;
}

struct vmm_vm *vmm_vm_new(const struct vmm_config *cfg, struct vmm_error *err)
{
    struct vmm_vm *vm = calloc(1, sizeof(*vm));
    if (!vm) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    vm->cfg = *cfg;
    vm->ncpus = cfg->ncpus;
    vm->kvm_fd = vm->vm_fd = vm->ram_file_fd = vm->initrd_fd = -1;
    vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vm->reset_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    pthread_mutex_init(&vm->io_lock, NULL);
    pthread_mutex_init(&vm->slot_lock, NULL);
    pthread_mutex_init(&vm->coalesced_lock, NULL);
    vm->coalesced_timerfd = -1;
    atomic_init(&vm->request, VMM_REQ_PAUSE);
    vm->state = VMM_STATE_STOPPED;
    vm->loop = vmm_loop_create();
    if (vm->stop_eventfd < 0 || vm->reset_eventfd < 0 || !vm->loop) {
        vmm_error_set(err, -EMFILE, "cannot create the VM's event loop");
        vmm_vm_destroy(vm);
        return NULL;
    }
    return vm;
}

void vmm_vm_add_device(struct vmm_vm *vm, struct vmm_device *dev)
{
    dev->next = NULL;
    if (vm->devices_tail)
        vm->devices_tail->next = dev;
    else
        vm->devices = dev;
    vm->devices_tail = dev;
}

void vmm_vm_end(struct vmm_vm *vm, enum vmm_exit_reason reason, int status, const char *msg)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->ended) {
        vm->ended = true;
        vm->exit.reason = reason;
        vm->exit.status = status;
        snprintf(vm->exit.msg, sizeof(vm->exit.msg), "%s", msg ? msg : "");
        atomic_store(&vm->request, VMM_REQ_EXIT);
        vmm_vcpu_kick_all(vm);
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
}

void vmm_vm_request_reset(struct vmm_vm *vm)
{
    if (vm->cfg.no_reboot) {
        vmm_vm_end(vm, VMM_EXIT_RESET, 0, "the guest reset");
        return;
    }
    /* Park everyone now; the event-loop thread does the reset and lets them go. */
    int expected = VMM_REQ_RUN;
    atomic_compare_exchange_strong(&vm->request, &expected, VMM_REQ_PAUSE);
    vmm_vcpu_kick_all(vm);
    uint64_t one = 1;
    if (write(vm->reset_eventfd, &one, sizeof(one)) < 0)
        vmm_log(VMM_LOG_ERROR, "cannot signal a reset request");
}

void vmm_vm_request_stop(struct vmm_vm *vm)
{
    uint64_t one = 1;
    /* write(2) is async-signal-safe; the loop thread does the rest. */
    ssize_t r = write(vm->stop_eventfd, &one, sizeof(one));
    (void)r;
}

bool vmm_vm_wait_parked(struct vmm_vm *vm, int timeout_ms)
{
    struct timespec until;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    while (vm->parked_count < vm->ncpus && !vm->ended) {
        /*
         * Whoever waits here wants every vCPU parked: if another waiter let them
         * run meanwhile (the lock is dropped while waiting: a state dump that
         * ended while a reset or a pause waited), ask again.
         */
        int expected = VMM_REQ_RUN;
        if (atomic_compare_exchange_strong(&vm->request, &expected, VMM_REQ_PAUSE))
            vmm_vcpu_kick_all(vm);
        if (timeout_ms < 0)
            pthread_cond_wait(&vm->cond, &vm->lock);
        else if (pthread_cond_timedwait(&vm->cond, &vm->lock, &until) == ETIMEDOUT)
            break;
    }
    return vm->parked_count == vm->ncpus;
}

static int do_reset(struct vmm_vm *vm)
{
    struct vmm_error err = {0};
    for (struct vmm_device *d = vm->devices; d; d = d->next)
        if (d->type->reset)
            d->type->reset(d);
    if (vm->serial)
        vmm_serial_reset(vm->serial);
    int r = vmm_irqchip_restore_reset_state(vm, &err);
    for (unsigned i = 0; r == 0 && i < vm->ncpus; i++) {
        r = vmm_vcpu_restore_reset_state(&vm->vcpus[i], &err);
        if (r == 0)
            r = vmm_msr_reset(&vm->vcpus[i], &err);
    }
    if (r == 0)
        r = vmm_pc_reset(vm, &err);
    if (r < 0) {
        char msg[sizeof(err.msg) + 32];
        snprintf(msg, sizeof(msg), "reset failed: %s", err.msg);
        vmm_vm_end(vm, VMM_EXIT_ERROR, 1, msg);
    }
    return r;
}

static void on_reset_event(void *opaque, int fd, uint32_t events)
{
    struct vmm_vm *vm = opaque;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0)
        return;
    pthread_mutex_lock(&vm->lock);
    (void)vmm_vm_wait_parked(vm, -1);
    if (!vm->ended) {
        vmm_log(VMM_LOG_INFO, "resetting the machine");
        int r = do_reset(vm);
        /* A front-end pause that came in meanwhile stays in force. */
        if (r == 0 && vm->state == VMM_STATE_RUNNING) {
            atomic_store(&vm->request, VMM_REQ_RUN);
            pthread_cond_broadcast(&vm->cond);
        }
    }
    pthread_mutex_unlock(&vm->lock);
}

static void on_stop_event(void *opaque, int fd, uint32_t events)
{
    struct vmm_vm *vm = opaque;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0)
        return;
    vmm_vm_end(vm, VMM_EXIT_STOPPED, 0, "stopped by the host");
}

int vmm_vm_start(struct vmm_vm *vm, struct vmm_error *err)
{
    int r = vmm_loop_add_fd(vm->loop, vm->stop_eventfd, EPOLLIN, on_stop_event, vm);
    if (r == 0)
        r = vmm_loop_add_fd(vm->loop, vm->reset_eventfd, EPOLLIN, on_reset_event, vm);
    if (r == 0)
        r = vmm_loop_start(vm->loop);
    if (r < 0) {
        vmm_error_set(err, r, "cannot start the VM's event loop");
        return r;
    }
    pthread_mutex_lock(&vm->lock);
    vm->state = VMM_STATE_RUNNING;
    atomic_store(&vm->request, VMM_REQ_RUN);
    pthread_mutex_unlock(&vm->lock);
    return vmm_vcpus_start(vm, err);
}

int vmm_vm_pause(struct vmm_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->ended || vm->state != VMM_STATE_RUNNING) {
        pthread_mutex_unlock(&vm->lock);
        return vm->ended ? -ESHUTDOWN : 0;
    }
    vm->state = VMM_STATE_PAUSING;
    atomic_store(&vm->request, VMM_REQ_PAUSE);
    vmm_vcpu_kick_all(vm);
    (void)vmm_vm_wait_parked(vm, -1);
    vm->state = VMM_STATE_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

int vmm_vm_resume(struct vmm_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->ended) {
        pthread_mutex_unlock(&vm->lock);
        return -ESHUTDOWN;
    }
    if (vm->state == VMM_STATE_PAUSED) {
        vm->state = VMM_STATE_RUNNING;
        atomic_store(&vm->request, VMM_REQ_RUN);
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

enum vmm_run_state vmm_vm_state(struct vmm_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    enum vmm_run_state s = vm->state;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

void vmm_vm_wait(struct vmm_vm *vm, struct vmm_exit *ex)
{
    pthread_mutex_lock(&vm->lock);
    while (!vm->ended)
        pthread_cond_wait(&vm->cond, &vm->lock);
    if (ex)
        *ex = vm->exit;
    pthread_mutex_unlock(&vm->lock);
    vmm_vcpus_join(vm);
    vmm_loop_stop(vm->loop);
    pthread_mutex_lock(&vm->lock);
    vm->state = VMM_STATE_STOPPED;
    pthread_mutex_unlock(&vm->lock);
}

void vmm_vm_destroy(struct vmm_vm *vm)
{
    if (!vm)
        return;
    if (vm->vcpus && vm->vcpus[0].thread_started) {
        vmm_vm_end(vm, VMM_EXIT_STOPPED, 0, "destroyed");
        vmm_vm_wait(vm, NULL);
    }
    if (vm->loop)
        vmm_loop_stop(vm->loop);
    vmm_coalesced_teardown(vm);
    if (vm->serial)
        vmm_serial_destroy(vm->serial);
    vm->serial = NULL;
    struct vmm_device *d = vm->devices;
    while (d) {
        struct vmm_device *next = d->next;
        if (d->type->unrealize)
            d->type->unrealize(d);
        pthread_mutex_destroy(&d->lock);
        free(d);
        d = next;
    }
    vmm_pc_destroy(vm);
    vmm_snapshot_restore_free(vm);
    vmm_loop_destroy(vm->loop);
    vmm_vcpus_destroy(vm);
    vmm_mem_free(vm);
    vmm_iotrap_space_free(&vm->pio);
    vmm_iotrap_space_free(&vm->mmio);
    pthread_mutex_destroy(&vm->io_lock);
    pthread_mutex_destroy(&vm->slot_lock);
    pthread_mutex_destroy(&vm->coalesced_lock);
    free(vm->supported_cpuid);
    free(vm->irqchip_reset);
    vmm_irq_routing_free(vm);
    free(vm->kernel.data);
    free(vm->initrd.data);
    if (vm->initrd_fd >= 0)
        close(vm->initrd_fd);
    vmm_kernel_cache_release(&vm->kcache);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    if (vm->stop_eventfd >= 0)
        close(vm->stop_eventfd);
    if (vm->reset_eventfd >= 0)
        close(vm->reset_eventfd);
    pthread_mutex_destroy(&vm->lock);
    pthread_cond_destroy(&vm->cond);
    free(vm);
}
