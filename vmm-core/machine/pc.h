/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_MACHINE_PC_H
#define VMM_MACHINE_PC_H

/*
 * The PC board's own state: the chipset (i440FX host bridge, PIIX3), the
 * ISA devices the board wires itself, and the firmware. machine/pc.c builds
 * it in order; pc-chipset.c and pc-firmware.c hold the glue.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/i440fx.h"
#include "bus/pci.h"
#include "bus/piix3.h"
#include "core/irq.h"
#include "hw/fw-cfg.h"
#include "hw/i8042.h"
#include "hw/rtc.h"
#include "vmm/vmm.h"

struct vmm_vm;
struct vmm_device;
struct vmm_disk;
struct vmm_ide;
struct vmm_vga;
struct vmm_pc_virtio;
struct vmm_virtio_dev;
struct vmm_virtio_balloon;
struct vmm_virtio_input;
struct vmm_virtio_blk;
struct vmm_state_writer;
struct vmm_state_file;

#define VMM_PC_MAX_VIRTIO 24
#define VMM_PC_VIRTIO_FIRST_SLOT 3 /* 0 host bridge, 1 PIIX3, 2 VGA */

struct vmm_pc {
    struct vmm_vm *vm;
    bool firmware; /* SeaBIOS boots the machine (else a kernel is loaded directly) */

    struct vmm_pci_bus bus;
    struct vmm_i440fx i440fx;
    struct vmm_piix3 piix3;
    struct vmm_irq isa[VMM_ISA_IRQS];
    struct vmm_irq *pci_isa[VMM_ISA_IRQS]; /* the lines the PIIX3 may drive */

    struct vmm_device *sysctl;
    struct vmm_device *acpi_pm;
    struct vmm_rtc *rtc;
    struct vmm_i8042 *i8042;
    struct vmm_fw_cfg *fw_cfg;
    int rtc_timerfd;

    /* Drives, opened before /dev/kvm; handed to their controller at realize. */
    struct vmm_disk *disks[VMM_MAX_DRIVES];
    bool try_mode; /* a writable drive writes to a throwaway overlay: no disk snapshots */
    struct vmm_ide *ide;

    /* virtio functions (pc-virtio.c), in slot order from VMM_PC_VIRTIO_FIRST_SLOT. */
    struct vmm_pc_virtio *virtio[VMM_PC_MAX_VIRTIO];
    unsigned nvirtio;
    unsigned next_virtio_slot;
    struct vmm_virtio_balloon *balloon;
    struct vmm_virtio_input *vkbd, *vtablet; /* --tablet on */
    uint32_t ioeventfd_len;                  /* 0 (any width) when KVM allows it, else 2 */

    /* Display adapter; VRAM is a KVM slot with dirty logging while BAR0 decodes. */
    struct vmm_vga *vga;
    bool vram_mapped; /* under vm->slot_lock */
    uint8_t *vga_rom; /* page-aligned copy of the ROM BAR's contents, mapped read-only */
    size_t vga_rom_size;
    bool vga_rom_mapped;
    uint64_t *vram_dirty;

    /* Firmware: the BIOS image (page-aligned copy) and the VGA BIOS. */
    uint8_t *bios;
    size_t bios_size;
    size_t bios_map_size;
    uint8_t *vgabios;
    size_t vgabios_size;
    _Atomic uint8_t pam[VMM_I440FX_PAM_SEGMENTS]; /* enum vmm_pam_attr per segment */

    /* Debug console output (port 0x402) for firmware or guest, -1 when not asked for. */
    int debugcon_fd;
};

/* pc-chipset.c: PCI bus, host bridge, PIIX3, RTC, i8042, debug port. */
/* pc-kernel.c: direct kernel boot. Opens the kernel and initrd (checks, reads what is needed). */
VMM_WUR int vmm_pc_kernel_open(struct vmm_vm *vm, uint64_t ram, struct vmm_error *err);
/* Lays them out in guest RAM and fills vm->entry; at creation and at every guest reset. */
VMM_WUR int vmm_pc_kernel_load(struct vmm_vm *vm, struct vmm_error *err);

VMM_WUR int vmm_pc_chipset_init(struct vmm_pc *pc, struct vmm_error *err);
void vmm_pc_chipset_fini(struct vmm_pc *pc);
void vmm_pc_chipset_reset(struct vmm_pc *pc);

/* pc-drives.c */
/* Opens every drive of cfg (before /dev/kvm, so a bad path is the first thing the user hears). */
VMM_WUR int vmm_pc_drives_open(struct vmm_pc *pc, const struct vmm_config *cfg,
                               struct vmm_error *err);
/* The PIIX3 IDE function with its drives. */
VMM_WUR int vmm_pc_ide_init(struct vmm_pc *pc, struct vmm_error *err);
/* pc-disk-snapshot.c: internal snapshots of every writable disk, through the open handles. */
VMM_WUR int vmm_pc_disks_snapshot_create(struct vmm_pc *pc, const char *name,
                                         struct vmm_error *err);
VMM_WUR int vmm_pc_disks_snapshot_delete(struct vmm_pc *pc, const char *name,
                                         struct vmm_error *err);
void vmm_pc_drives_fini(struct vmm_pc *pc);

/* pc-virtio.c */
/* Every virtio device the configuration asks for: blk drives, net, rng, console, balloon, input. */
VMM_WUR int vmm_pc_virtio_init(struct vmm_pc *pc, struct vmm_error *err);
void vmm_pc_virtio_fini(struct vmm_pc *pc);
/*
 * Building one more virtio function: _new() gives the function and its
 * device lock (for the model's init), _plug() builds the PCI transport
 * around the initialised model, binds its vectors and notifications to KVM
 * and puts it in the next free slot. model_fini(model) runs at teardown.
 * The board owns the function from _new() on, even if _plug() fails.
 */
struct vmm_pc_virtio *vmm_pc_virtio_new(struct vmm_pc *pc, const char *name, struct vmm_error *err);
pthread_mutex_t *vmm_pc_virtio_lock(struct vmm_pc_virtio *f);
VMM_WUR int vmm_pc_virtio_plug(struct vmm_pc_virtio *f, struct vmm_virtio_dev *vdev,
                               uint32_t class_code, void *model, void (*model_fini)(void *model),
                               struct vmm_error *err);

/*
 * Live state of the virtio functions (sections "virtio:SS.F" and
 * "virtio-dev:SS.F", snapshot/virtio-state.h). A save runs between
 * _freeze(pc, true) and _freeze(pc, false): frozen, no queue is popped, so
 * RAM and the captured ring indexes stay in step while RAM is written;
 * freezing also waits for the virtio-blk requests in flight (I/O threads,
 * io_uring) to complete; thawing runs every queue once from the event loop.
 * _save returns -EBUSY if a virtio-blk request is still in flight. _load
 * runs after the PCI configuration was loaded (BARs mapped, ioeventfds
 * registered), re-validates everything, reprograms the MSI-X routes and
 * has the event loop look at every queue once it starts.
 */
void vmm_pc_virtio_freeze(struct vmm_pc *pc, bool frozen);
VMM_WUR int vmm_pc_virtio_save(struct vmm_pc *pc, struct vmm_state_writer *w,
                               struct vmm_error *err);
VMM_WUR int vmm_pc_virtio_load(struct vmm_pc *pc, const struct vmm_state_file *file,
                               struct vmm_error *err);

/* A disk the board has open and the lock of the device that uses it. */
struct vmm_pc_disk_ref {
    struct vmm_disk *disk;
    pthread_mutex_t *lock;
    struct vmm_virtio_blk *blk; /* virtio-blk: wait for its I/O threads; else NULL */
};
/* The virtio-blk disks, in slot order (at most max). */
unsigned vmm_pc_virtio_disks(struct vmm_pc *pc, struct vmm_pc_disk_ref *out, unsigned max);

/* pc-display.c */
VMM_WUR int vmm_pc_vga_init(struct vmm_pc *pc, struct vmm_error *err);
void vmm_pc_vga_fini(struct vmm_pc *pc);
/* The PCI mapper's hooks for BAR0 (VRAM): true if it handled the BAR. */
bool vmm_pc_vga_map(struct vmm_pc *pc, struct vmm_pci_dev *d, unsigned bar, uint64_t base,
                    uint64_t len, int *ret);
bool vmm_pc_vga_unmap(struct vmm_pc *pc, struct vmm_pci_dev *d, unsigned bar);

/* pc-firmware.c */
/* Reads the BIOS and VGA BIOS files (before /dev/kvm is opened). */
VMM_WUR int vmm_pc_firmware_read(struct vmm_pc *pc, const struct vmm_config *cfg,
                                 struct vmm_error *err);
/* Maps the BIOS below 4 GiB and sets up shadowing at 0xC0000-0xFFFFF. */
VMM_WUR int vmm_pc_firmware_map(struct vmm_pc *pc, struct vmm_error *err);
/* fw_cfg items for SeaBIOS: CPUs, RAM, e820, boot order, ACPI tables. */
VMM_WUR int vmm_pc_firmware_config(struct vmm_pc *pc, struct vmm_error *err);
/* "cd" -> {disk, CD-ROM}: the number of devices, or -EINVAL with a sentence. */
int vmm_pc_parse_boot_order(const char *spec, enum vmm_rtc_boot_dev order[3],
                            struct vmm_error *err);
/* i440FX PAM callback. */
void vmm_pc_pam_changed(void *opaque, unsigned seg, uint32_t base, uint32_t size,
                        enum vmm_pam_attr attr);
void vmm_pc_firmware_fini(struct vmm_pc *pc);

#endif
