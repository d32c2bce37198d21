/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The board's drives: images opened from the configuration and handed to
 * their controller. IDE positions follow the PC convention: hard disks fill
 * the primary channel first, CD-ROMs the secondary one (a lone CD-ROM is
 * the secondary master, where installers and firmware expect it).
 * Drives with if=virtio become virtio-blk functions (pc-virtio.c).
 * Drives with snapshot (try mode) are opened through a throwaway overlay.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/vm.h"
#include "disk/disk.h"
#include "hw/ide.h"
#include "machine/pc.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int vmm_pc_drives_open(struct vmm_pc *pc, const struct vmm_config *cfg, struct vmm_error *err)
{
    if (cfg->ndrives > VMM_MAX_DRIVES) {
        vmm_error_set(err, -EINVAL, "a machine has at most %d drives", VMM_MAX_DRIVES);
        return -EINVAL;
    }
    unsigned nide = 0;
    for (unsigned i = 0; i < cfg->ndrives; i++) {
        const struct vmm_drive_config *d = &cfg->drives[i];
        bool cd = d->media == VMM_MEDIA_CDROM;
        if (d->bus == VMM_DRIVE_VIRTIO) {
            if (cd || !d->path) {
                vmm_error_set(err, -EINVAL,
                              "a virtio drive is a disk with an image file (CD-ROMs go on IDE)");
                return -EINVAL;
            }
        } else if (++nide > VMM_IDE_CHANNELS * VMM_IDE_UNITS) {
            vmm_error_set(err, -EINVAL, "the IDE controller takes at most %d drives",
                          VMM_IDE_CHANNELS * VMM_IDE_UNITS);
            return -EINVAL;
        }
        if (!d->path) {
            if (!cd) {
                vmm_error_set(err, -EINVAL, "a hard disk needs an image file");
                return -EINVAL;
            }
            continue; /* an empty CD-ROM drive */
        }
        unsigned flags = (cd || d->readonly) ? VMM_DISK_RDONLY : 0;
        enum vmm_drive_format fmt = d->format;
        if (fmt == VMM_FORMAT_AUTO)
            fmt = !cd && ends_with(d->path, ".qcow2") ? VMM_FORMAT_QCOW2 : VMM_FORMAT_RAW;
        if (cd && fmt == VMM_FORMAT_QCOW2) {
            vmm_error_set(err, -EINVAL, "a CD-ROM image is a raw ISO file, not qcow2");
            return -EINVAL;
        }
        flags |= fmt == VMM_FORMAT_QCOW2 ? VMM_DISK_FORMAT_QCOW2 : VMM_DISK_FORMAT_RAW;
        if (d->snapshot && !(flags & VMM_DISK_RDONLY)) {
            pc->disks[i] = vmm_disk_open_overlay(d->path, flags, cfg->overlay_dir, err);
            pc->try_mode = true;
        } else
            pc->disks[i] = vmm_disk_open(d->path, flags, err);
        if (!pc->disks[i])
            return -EINVAL;
        if (cd) {
            struct vmm_disk_info info;
            vmm_disk_get_info(pc->disks[i], &info);
            if (info.virtual_size < 2048) {
                vmm_error_set(err, -EINVAL, "%s is too small to be a CD-ROM image", d->path);
                return -EINVAL;
            }
        }
    }
    return 0;
}

int vmm_pc_ide_init(struct vmm_pc *pc, struct vmm_error *err)
{
    struct vmm_vm *vm = pc->vm;
    const struct vmm_config *cfg = &vm->cfg;
    pc->ide = calloc(1, sizeof(*pc->ide));
    if (!pc->ide) {
        vmm_error_set(err, -ENOMEM, "out of memory for the IDE controller");
        return -ENOMEM;
    }
    int r = vmm_ide_init(pc->ide, &pc->isa[14], &pc->isa[15], &vm->mem);
    if (r < 0) {
        free(pc->ide);
        pc->ide = NULL;
        vmm_error_set(err, r, "cannot set up the IDE controller");
        return r;
    }
    /* Positions 0..3 = primary master, primary slave, secondary master, secondary slave. */
    bool taken[4] = {false};
    for (unsigned i = 0; i < cfg->ndrives; i++) {
        const struct vmm_drive_config *d = &cfg->drives[i];
        bool cd = d->media == VMM_MEDIA_CDROM;
        if (d->bus == VMM_DRIVE_VIRTIO)
            continue; /* pc-virtio.c */
        unsigned pos = cd ? 2 : 0, n;
        for (n = 0; n < 4 && taken[(pos + n) % 4]; n++)
            ;
        pos = (pos + n) % 4;
        taken[pos] = true;
        r = vmm_ide_attach(pc->ide, pos / 2, pos % 2, cd ? VMM_IDE_CDROM : VMM_IDE_DISK,
                           pc->disks[i], NULL);
        if (r < 0) {
            vmm_error_set(err, r, "cannot attach %s to the IDE controller",
                          d->path ? d->path : "a CD-ROM drive");
            return r;
        }
        pc->disks[i] = NULL; /* the controller owns it now */
    }
    r = vmm_pci_bus_add(&pc->bus, &pc->ide->pci, VMM_IDE_SLOT, VMM_IDE_FUNC);
    if (!r)
        r = vmm_iotrap_add(vm, VMM_IO_PIO, 0x1f0, 8, &vmm_ide_cmd_ops, &pc->ide->ch[0]);
    if (!r)
        r = vmm_iotrap_add(vm, VMM_IO_PIO, 0x3f6, 1, &vmm_ide_ctl_ops, &pc->ide->ch[0]);
    if (!r)
        r = vmm_iotrap_add(vm, VMM_IO_PIO, 0x170, 8, &vmm_ide_cmd_ops, &pc->ide->ch[1]);
    if (!r)
        r = vmm_iotrap_add(vm, VMM_IO_PIO, 0x376, 1, &vmm_ide_ctl_ops, &pc->ide->ch[1]);
    if (r < 0) {
        vmm_error_set(err, r, "the IDE ports are already claimed");
        return r;
    }
    return 0;
}

void vmm_pc_drives_fini(struct vmm_pc *pc)
{
    for (unsigned i = 0; i < VMM_MAX_DRIVES; i++) {
        if (pc->disks[i])
            vmm_disk_close(pc->disks[i]);
        pc->disks[i] = NULL;
    }
    if (pc->ide) {
        vmm_ide_fini(pc->ide);
        free(pc->ide);
        pc->ide = NULL;
    }
}

int vmm_vm_flush_disks(struct vmm_vm *vm, struct vmm_error *err)
{
    struct vmm_pc *pc = vm->pc;
    if (!pc)
        return 0;
    for (unsigned i = 0; i < VMM_MAX_DRIVES; i++) {
        struct vmm_disk *d = pc->disks[i];
        if (!d || vmm_disk_is_read_only(d))
            continue;
        int r = vmm_disk_flush(d);
        if (r < 0) {
            vmm_error_set(err, r, "cannot flush a disk to stable storage: %s", strerror(-r));
            return r;
        }
    }
    return 0;
}
