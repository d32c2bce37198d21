/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VMM_H
#define VMM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/error.h"

#define VMM_WUR __attribute__((warn_unused_result))

#define VMM_MAX_CPUS 64
#define VMM_MIN_MEM_MIB 16
#define VMM_MAX_MEM_MIB (1024 * 1024)

/* Where COM1's output goes. Called from any vmm thread. */
typedef void (*vmm_serial_out_fn)(void *opaque, const uint8_t *buf, size_t len);

struct vmm_config {
    uint64_t mem_mib;
    unsigned ncpus;
    const char *kernel;              /* bzImage or multiboot v1 ELF32 */
    const char *initrd;              /* optional */
    const char *cmdline;             /* optional */
    int serial_out_fd;               /* -1: none */
    int serial_in_fd;                /* -1: none; read on the event-loop thread */
    vmm_serial_out_fn serial_out_cb; /* optional, in addition to serial_out_fd */
    void *serial_out_opaque;
    bool test_exit;         /* expose the test-exit port (VMM_TEST_EXIT_PORT) */
    bool no_reboot;         /* a guest reset ends the VM instead of rebooting it */
    const char *kvm_device; /* NULL: /dev/kvm */
    /*
     * Boot a bzImage from its kernel proper unpacked on the host, cached in
     * kernel_cache_dir (NULL: $XDG_CACHE_HOME/terrarium/kernels, else
     * ~/.cache/terrarium/kernels); no_kernel_cache boots the bzImage itself.
     */
    bool no_kernel_cache;
    const char *kernel_cache_dir;
};

/* A guest writes a status to this port (any width) to end the VM with it. */
#define VMM_TEST_EXIT_PORT 0xf4

enum vmm_exit_reason {
    VMM_EXIT_NONE = 0,
    VMM_EXIT_POWEROFF, /* the guest powered off */
    VMM_EXIT_RESET,    /* the guest reset under no_reboot */
    VMM_EXIT_TEST,     /* the guest used the test-exit port; status holds its value */
    VMM_EXIT_STOPPED,  /* the host asked (vmm_vm_request_stop) */
    VMM_EXIT_ERROR,    /* an internal or KVM failure; msg says what */
};

struct vmm_exit {
    enum vmm_exit_reason reason;
    int status;
    char msg[256];
};

enum vmm_run_state {
    VMM_STATE_STOPPED,
    VMM_STATE_RUNNING,
    VMM_STATE_PAUSING,
    VMM_STATE_PAUSED,
};

struct vmm_vm;

void vmm_config_init(struct vmm_config *cfg);

/* Builds the PC board described by cfg, with the kernel loaded; vCPUs not yet running. */
VMM_WUR struct vmm_vm *vmm_machine_create(const struct vmm_config *cfg, struct vmm_error *err);

VMM_WUR int vmm_vm_start(struct vmm_vm *vm, struct vmm_error *err);
/* Returns once every vCPU is out of KVM_RUN and parked. */
VMM_WUR int vmm_vm_pause(struct vmm_vm *vm);
VMM_WUR int vmm_vm_resume(struct vmm_vm *vm);
enum vmm_run_state vmm_vm_state(struct vmm_vm *vm);
/* Async-signal-safe: may be called from a signal handler. */
void vmm_vm_request_stop(struct vmm_vm *vm);
/* Blocks until the VM has ended; fills ex. */
void vmm_vm_wait(struct vmm_vm *vm, struct vmm_exit *ex);
void vmm_vm_destroy(struct vmm_vm *vm);

/* Log verbosity for vmm-core's own messages on stderr (0 = errors only). */
void vmm_log_set_level(int level);

#endif
