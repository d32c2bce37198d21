/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC board: an explicit, ordered list of what a Terrarium machine is
 * made of. Files are read and checked before /dev/kvm is touched, so a user
 * with a typo in a path hears about the path.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "core/file.h"
#include "core/log.h"
#include "core/vm.h"
#include "hw/acpi-pm.h"
#include "hw/serial.h"
#include "hw/sysctl.h"
#include "machine/pc.h"

#define COM1_PORT 0x3f8
#define COM1_IRQ 4

static int check_config(const struct vmm_config *cfg, struct vmm_error *err)
{
    if (cfg->ncpus < 1 || cfg->ncpus > VMM_MAX_CPUS) {
        vmm_error_set(err, -EINVAL, "a machine has 1 to %d vCPUs, not %u", VMM_MAX_CPUS,
                      cfg->ncpus);
        return -EINVAL;
    }
    long host_cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (host_cpus > 0 && cfg->ncpus > 4 * (unsigned long)host_cpus && cfg->ncpus > 8) {
        vmm_error_set(err, -EINVAL,
                      "%u vCPUs is far more than this host's %ld CPUs; use at most %ld", cfg->ncpus,
                      host_cpus, host_cpus);
        return -EINVAL;
    }
    if (cfg->mem_mib < VMM_MIN_MEM_MIB || cfg->mem_mib > VMM_MAX_MEM_MIB) {
        vmm_error_set(err, -EINVAL, "memory must be between %d MiB and %d MiB, not %llu MiB",
                      VMM_MIN_MEM_MIB, VMM_MAX_MEM_MIB, (unsigned long long)cfg->mem_mib);
        return -EINVAL;
    }
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        uint64_t host_mib = (uint64_t)si.totalram * si.mem_unit >> 20;
        if (cfg->mem_mib > host_mib) {
            vmm_error_set(err, -ENOMEM,
                          "the host has %llu MiB of memory; it cannot give a machine %llu MiB",
                          (unsigned long long)host_mib, (unsigned long long)cfg->mem_mib);
            return -ENOMEM;
        }
    }
    enum vmm_rtc_boot_dev order[3];
    if (!cfg->kernel && vmm_pc_parse_boot_order(cfg->boot_order, order, err) < 0)
        return -EINVAL;
    if (!cfg->kernel && (cfg->initrd || cfg->cmdline)) {
        vmm_error_set(err, -EINVAL, "an initrd or a command line needs a kernel (--kernel FILE)");
        return -EINVAL;
    }
    return 0;
}

int vmm_pc_reset(struct vmm_vm *vm, struct vmm_error *err)
{
    struct vmm_pc *pc = vm->pc;
    if (pc)
        vmm_pc_chipset_reset(pc);
    /* Firmware starts from the reset vector: the vCPUs' restored power-on state. */
    if (pc && pc->firmware)
        return 0;
    int r = vmm_pc_kernel_load(vm, err);
    if (r < 0)
        return r;
    return vmm_vcpu_set_boot_state(&vm->vcpus[0], &vm->entry, err);
}

void vmm_pc_destroy(struct vmm_vm *vm)
{
    struct vmm_pc *pc = vm->pc;
    if (!pc)
        return;
    vmm_pc_virtio_fini(pc);
    vmm_pc_chipset_fini(pc);
    vmm_pc_drives_fini(pc);
    vmm_pc_vga_fini(pc);
    vmm_pc_firmware_fini(pc);
    free(pc);
    vm->pc = NULL;
}

/*
 * The kernel laid out in guest RAM on its own thread while the main one sets
 * KVM up: the two share nothing but the read-only layout of RAM (KVM is
 * told where RAM is, never what it holds, before the vCPUs run).
 */
struct kernel_job {
    struct vmm_vm *vm;
    pthread_t thread;
    int r;
    struct vmm_error err;
};

static void *kernel_job_run(void *opaque)
{
    struct kernel_job *job = opaque;
    job->r = vmm_pc_kernel_load(job->vm, &job->err);
    return NULL;
}

struct vmm_vm *vmm_machine_create(const struct vmm_config *cfg, struct vmm_error *err)
{
    if (check_config(cfg, err) < 0)
        return NULL;
    struct vmm_vm *vm = vmm_vm_new(cfg, err);
    if (!vm)
        return NULL;
    struct vmm_pc *pc = calloc(1, sizeof(*pc));
    if (!pc) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        vmm_vm_destroy(vm);
        return NULL;
    }
    vm->pc = pc;
    pc->vm = vm;
    pc->firmware = !cfg->kernel;
    pc->rtc_timerfd = -1;
    pc->debugcon_fd = cfg->firmware_log_fd;
    bool holes = pc->firmware || cfg->vga;

    uint64_t ram = cfg->mem_mib << 20;
    vm->kcache.dir = cfg->kernel_cache_dir;
    vm->kcache.disabled = cfg->no_kernel_cache;
    /*
     * Everything that can go wrong with the user's files is found before
     * /dev/kvm is opened, and reported first: the files are opened and read
     * here, and RAM is only address space until touched, so the kernel is laid
     * out in it (on a thread of its own, while KVM is set up) before any KVM
     * error is looked at.
     */
    int r = 0;
    struct kernel_job job = {.vm = vm};
    bool job_running = false;
    if (pc->firmware)
        r = vmm_pc_firmware_read(pc, cfg, err);
    if (!r)
        r = vmm_pc_drives_open(pc, cfg, err);
    if (!r && cfg->kernel)
        r = vmm_pc_kernel_open(vm, ram, err);
    if (!r)
        r = vmm_mem_map(vm, ram, err);
    if (!r && !pc->firmware && !cfg->restore_from) { /* a restore loads it on the first reset */
        vm->mem.zeroed = true;                       /* just mapped: nothing has written to it */
        job_running = pthread_create(&job.thread, NULL, kernel_job_run, &job) == 0;
        if (!job_running) {
            r = vmm_pc_kernel_load(vm, err);
            vm->mem.zeroed = false;
        }
    }
    if (!r && cfg->restore_from)
        r = vmm_snapshot_restore_prepare(vm, err);
    if (!r)
        r = vmm_kvm_open(vm, err);
    /*
     * RAM's memory slots before the irqchip: a slot change waits for KVM's
     * SRCU readers, and once the irqchip exists that is a grace period of
     * milliseconds (4-10 ms per slot on a nested host, against 0.1 ms before).
     */
    if (!r)
        r = vmm_mem_register(vm, holes, err);
    if (!r && holes && !pc->firmware &&
        vmm_mem_set_slot(vm, VMM_SLOT_UPPER, VMM_UPPER_START, VMM_1MIB - VMM_UPPER_START,
                         vm->mem.base + VMM_UPPER_START, 0) < 0) {
        vmm_error_set(err, -EINVAL, "KVM refused the memory slot of the BIOS area");
        r = -EINVAL;
    }
    if (!r)
        r = vmm_kvm_create_irqchip(vm, err);
    if (!r)
        r = vmm_vcpus_create(vm, err);
    if (!r)
        r = vmm_irqchip_capture_reset_state(vm, err);
    if (job_running) {
        pthread_join(job.thread, NULL);
        vm->mem.zeroed = false;
        if (job.r < 0) { /* the user's files before KVM's troubles */
            *err = job.err;
            r = job.r;
        }
    }
    if (r < 0)
        goto fail;

    /* The board, in order. */
    pc->sysctl = vmm_device_create(vm, &vmm_sysctl_type, err);
    if (!pc->sysctl)
        goto fail;
    pc->acpi_pm = vmm_device_create(vm, &vmm_acpi_pm_type, err);
    if (!pc->acpi_pm)
        goto fail;
    if (vmm_pc_chipset_init(pc, err) < 0 || vmm_pc_vga_init(pc, err) < 0 ||
        vmm_pc_ide_init(pc, err) < 0 || vmm_pc_virtio_init(pc, err) < 0)
        goto fail;
    vmm_pci_bus_sync(&pc->bus);
    /* CONFIG_ADDRESS and the RTC index only latch what the next access uses. */
    if (vmm_coalesced_setup(vm) == 0 && (vmm_coalesce_pio(vm, VMM_PCI_CONFIG_ADDRESS_PORT, 4) < 0 ||
                                         vmm_coalesce_pio(vm, 0x70, 1) < 0))
        vmm_log(VMM_LOG_INFO, "KVM refused coalesced port writes; every write exits");
    if (pc->firmware) {
        pc->fw_cfg = (struct vmm_fw_cfg *)vmm_device_create(vm, &vmm_fw_cfg_type, err);
        if (!pc->fw_cfg || vmm_pc_firmware_map(pc, err) < 0 || vmm_pc_firmware_config(pc, err) < 0)
            goto fail;
    }
    /* With a virtio console the serial streams are its (pc-virtio.c); COM1 is there, unwired. */
    bool com1 = cfg->console != VMM_CONSOLE_VIRTIO;
    vm->serial = vmm_serial_create(vm, COM1_PORT, COM1_IRQ, com1 ? cfg->serial_out_fd : -1,
                                   com1 ? cfg->serial_out_cb : NULL, cfg->serial_out_opaque,
                                   com1 ? cfg->serial_in_fd : -1, vm->loop, err);
    if (!vm->serial)
        goto fail;

    if (cfg->restore_from) {
        if (vmm_snapshot_restore_finish(vm, err) < 0)
            goto fail;
    } else if (!pc->firmware && vmm_vcpu_set_boot_state(&vm->vcpus[0], &vm->entry, err) < 0)
        goto fail;
    return vm;
fail:
    vmm_vm_destroy(vm);
    return NULL;
}
