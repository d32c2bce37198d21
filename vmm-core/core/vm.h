/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_CORE_VM_H
#define VMM_CORE_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/boot.h"
#include "core/device.h"
#include "core/eventloop.h"
#include "core/guest-mem.h"
#include "core/iotrap.h"
#include "vmm/vmm.h"

/* The signal that kicks a vCPU thread out of KVM_RUN. */
#define VMM_KICK_SIGNAL SIGUSR1

struct vmm_vcpu {
    struct vmm_vm *vm;
    unsigned id;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    bool parked;                                 /* protected by vm->lock */
    _Atomic uint64_t io_seq;                     /* odd while dispatching an exit (iotrap.c) */
    uint64_t exits_pio, exits_mmio, exits_other; /* written by the vCPU thread only */
    struct vmm_vcpu_reset_state *reset_state;    /* power-on state, restored on reset */
};

/* KVM memory slots. */
enum {
    VMM_SLOT_LOW = 0,    /* RAM from 0 (to 0xA0000 when the legacy holes are there) */
    VMM_SLOT_HIGH = 1,   /* RAM above 4 GiB */
    VMM_SLOT_LOW_1M = 2, /* RAM from 1 MiB to the PCI hole (legacy holes only) */
    VMM_SLOT_UPPER = 3,  /* 0xC0000-0xFFFFF as plain RAM (direct kernel boot with holes) */
    VMM_SLOT_BIOS = 4,   /* the firmware ROM below 4 GiB */
    VMM_SLOT_PAM = 5,    /* 13 PAM segments, 0xC0000-0xFFFFF (firmware boot) */
    VMM_SLOT_DYNAMIC = VMM_SLOT_PAM + 13, /* VRAM, option ROMs, ... */
    VMM_MAX_SLOTS = 64,
};

#define VMM_VGA_WINDOW_START 0xA0000ULL
#define VMM_UPPER_START 0xC0000ULL
#define VMM_1MIB 0x100000ULL

struct vmm_mem_slot {
    uint64_t gpa, size; /* size 0: unused */
    void *hva;
    uint32_t flags; /* KVM_MEM_* */
};

struct vmm_vm {
    struct vmm_config cfg;
    int kvm_fd;
    int vm_fd;
    int vcpu_mmap_size;
    bool has_xsave; /* KVM_CAP_XSAVE and KVM_CAP_XCRS */

    struct vmm_guest_mem mem;
    size_t ram_map_size;
    int ram_file_fd; /* the RAM file mapped over mem.base by a restore, or -1 */
    pthread_mutex_t slot_lock;
    struct vmm_mem_slot slots[VMM_MAX_SLOTS];

    unsigned ncpus;
    struct vmm_vcpu *vcpus;
    struct kvm_cpuid2 *supported_cpuid;

    struct vmm_iotrap_space pio;
    struct vmm_iotrap_space mmio;
    pthread_mutex_t io_lock; /* serialises changes to pio and mmio */

    struct vmm_device *devices;
    struct vmm_device *devices_tail;
    struct vmm_loop *loop;
    struct vmm_serial *serial;
    struct vmm_pc *pc; /* the board (machine/pc.h) */

    /*
     * Direct kernel boot (machine/pc-kernel.c), kept to reload on a guest
     * reset: the kernel image (whole, or only its head when the kernel cache
     * found it) and its file's length; the initrd's open file, its length and
     * identity, and its bytes for a multiboot module.
     */
    struct vmm_blob kernel;
    size_t kernel_size;
    int initrd_fd;
    size_t initrd_size;
    struct vmm_kernel_file_id initrd_id;
    struct vmm_blob initrd;
    struct vmm_irq_routing *routing; /* GSI routes, ISA + MSI (core/irq.c) */
    struct vmm_kernel_cache kcache;  /* a bzImage's unpacked kernel proper, reused on reset */
    struct vmm_boot_entry entry;

    /*
     * Run state. `request` is what the vCPU threads should do next; they
     * read it without the lock on their fast path (atomic), park under it.
     */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum vmm_run_state state;
    atomic_int request; /* enum vmm_request */
    unsigned parked_count;
    bool ended;
    struct vmm_exit exit;
    struct kvm_irqchip *irqchip_reset; /* PIC master, slave, IOAPIC at power-on */
    struct kvm_pit_state2 pit_reset;
    int stop_eventfd;  /* written by vmm_vm_request_stop (signal-safe) */
    int reset_eventfd; /* written by vmm_vm_request_reset from any thread */
    /* core/coalesced.c: KVM's ring of coalesced port writes (NULL: none) */
    struct kvm_coalesced_mmio_ring *coalesced_ring;
    uint32_t coalesced_max; /* entries in the ring */
    pthread_mutex_t coalesced_lock;
    int coalesced_timerfd;
    /* snapshot/: the state being restored, during machine creation only */
    struct vmm_restore *restore;
};

enum vmm_request {
    VMM_REQ_RUN = 0,
    VMM_REQ_PAUSE, /* park and wait */
    VMM_REQ_EXIT,  /* leave the thread */
};

/* vm.c */
VMM_WUR struct vmm_vm *vmm_vm_new(const struct vmm_config *cfg, struct vmm_error *err);

/* memory.c */
/* Maps guest RAM in the host (no KVM needed), then hands it to KVM as memory slots. */
VMM_WUR int vmm_mem_map(struct vmm_vm *vm, uint64_t ram_size, struct vmm_error *err);
/*
 * legacy_holes: leave 0xA0000-0xFFFFF out of the RAM slots (VGA window,
 * ROM shadowing), as a board with a display or firmware needs.
 */
VMM_WUR int vmm_mem_register(struct vmm_vm *vm, bool legacy_holes, struct vmm_error *err);
/*
 * Creates, moves or deletes (size 0) KVM memory slot `slot`; flags are
 * KVM_MEM_READONLY / KVM_MEM_LOG_DIRTY_PAGES. Safe while vCPUs run.
 * 0 or -errno.
 */
VMM_WUR int vmm_mem_set_slot(struct vmm_vm *vm, unsigned slot, uint64_t gpa, uint64_t size,
                             void *hva, uint32_t flags);
void vmm_mem_free(struct vmm_vm *vm);

/* kvm.c */
VMM_WUR int vmm_kvm_open(struct vmm_vm *vm, struct vmm_error *err);
VMM_WUR int vmm_kvm_create_irqchip(struct vmm_vm *vm, struct vmm_error *err);

/* vcpu.c */
VMM_WUR int vmm_vcpus_create(struct vmm_vm *vm, struct vmm_error *err);
void vmm_vcpus_destroy(struct vmm_vm *vm);
VMM_WUR int vmm_vcpus_start(struct vmm_vm *vm, struct vmm_error *err);
void vmm_vcpus_join(struct vmm_vm *vm);
void vmm_vcpu_kick_all(struct vmm_vm *vm);
void vmm_vcpu_kick(struct vmm_vcpu *v);

/* coalesced.c */
/* After vmm_vcpus_create: sets up the ring of coalesced writes; -ENOTSUP without it. */
int vmm_coalesced_setup(struct vmm_vm *vm);
/* Writes to ports [port, port + len) no longer exit; 0, or -errno (no ring: -ENOTSUP). */
int vmm_coalesce_pio(struct vmm_vm *vm, uint16_t port, unsigned len);
/* Applies the writes waiting in the ring, in order (vCPU threads, before handling an exit). */
void vmm_coalesced_drain(struct vmm_vcpu *v);
void vmm_coalesced_teardown(struct vmm_vm *vm);

/* vm.c: called from any vmm thread (a device or a vCPU) to end or reset the VM. */
void vmm_vm_end(struct vmm_vm *vm, enum vmm_exit_reason reason, int status, const char *msg);
void vmm_vm_request_reset(struct vmm_vm *vm);
/*
 * vm->lock held, not on a vCPU thread: asks every vCPU to park (unless told to
 * leave) and waits until all are parked or the VM ended, at most timeout_ms
 * (< 0: no limit). True when all are parked.
 */
bool vmm_vm_wait_parked(struct vmm_vm *vm, int timeout_ms);
void vmm_vm_add_device(struct vmm_vm *vm, struct vmm_device *dev);

/*
 * machine/pc.c, on a guest reset after every device's reset: resets the
 * chipset, then (direct kernel boot) reloads the kernel and programs the
 * boot vCPU.
 */
VMM_WUR int vmm_pc_reset(struct vmm_vm *vm, struct vmm_error *err);
void vmm_pc_destroy(struct vmm_vm *vm);

/*
 * snapshot/machine-state.c, for vmm_machine_create with cfg.restore_from:
 * prepare reads and checks the state file and maps the saved RAM (after
 * vmm_mem_map, before vmm_mem_register); finish loads vCPUs, irqchip and
 * devices once the board is built (instead of a boot state).
 */
VMM_WUR int vmm_snapshot_restore_prepare(struct vmm_vm *vm, struct vmm_error *err);
VMM_WUR int vmm_snapshot_restore_finish(struct vmm_vm *vm, struct vmm_error *err);
void vmm_snapshot_restore_free(struct vmm_vm *vm);

/* arch/x86 */
VMM_WUR int vmm_cpuid_setup(struct vmm_vm *vm, struct vmm_vcpu *vcpu, struct vmm_error *err);
/*
 * What vCPU `id` reads from CPUID leaf `function` (subleaf `index`), as
 * vmm_cpuid_setup gives it; false when KVM offers no such leaf.
 */
bool vmm_cpuid_guest_leaf(const struct vmm_vm *vm, unsigned id, uint32_t function, uint32_t index,
                          struct kvm_cpuid_entry2 *out);
VMM_WUR int vmm_msr_reset(struct vmm_vcpu *vcpu, struct vmm_error *err);
VMM_WUR int vmm_vcpu_set_boot_state(struct vmm_vcpu *vcpu, const struct vmm_boot_entry *e,
                                    struct vmm_error *err);
/*
 * A vCPU fresh from KVM_CREATE_VCPU is in its power-on state; capture it once
 * and restore it on every reset (BSP runnable, APs waiting for SIPI).
 */
VMM_WUR int vmm_vcpu_capture_reset_state(struct vmm_vcpu *vcpu, struct vmm_error *err);
VMM_WUR int vmm_vcpu_restore_reset_state(struct vmm_vcpu *vcpu, struct vmm_error *err);
/* The same for the in-kernel PIC, IOAPIC and PIT. */
VMM_WUR int vmm_irqchip_capture_reset_state(struct vmm_vm *vm, struct vmm_error *err);
VMM_WUR int vmm_irqchip_restore_reset_state(struct vmm_vm *vm, struct vmm_error *err);

#endif
