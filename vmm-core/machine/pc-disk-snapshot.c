/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internal snapshots of the disks a running machine has open, through the
 * machine's own handles: a second handle on the same qcow2 file would change
 * refcounts and the snapshot table behind the open one's caches. The caller
 * keeps the vCPUs parked (vmm_vm_pause) so no guest write lands in between.
 */
#include <errno.h>
#include <pthread.h>

#include "core/vm.h"
#include "disk/disk.h"
#include "hw/ide.h"
#include "machine/pc.h"

#define PC_MAX_SNAP_DISKS (VMM_IDE_CHANNELS * VMM_IDE_UNITS)

/* The machine's writable hard disks; -ENOTSUP with a sentence if one cannot hold snapshots. */
static int writable_disks(struct vmm_pc *pc, struct vmm_disk **out, unsigned *n,
                          struct vmm_error *err)
{
    *n = 0;
    if (!pc->ide)
        return 0;
    for (unsigned c = 0; c < VMM_IDE_CHANNELS; c++) {
        for (unsigned u = 0; u < VMM_IDE_UNITS; u++) {
            struct vmm_ide_drive *d = &pc->ide->ch[c].drive[u];
            if (d->kind != VMM_IDE_DISK || !d->disk || vmm_disk_is_read_only(d->disk))
                continue;
            struct vmm_disk_info info;
            vmm_disk_get_info(d->disk, &info);
            if (info.format != VMM_DISK_QCOW2) {
                vmm_error_set(err, -ENOTSUP,
                              "a %s disk cannot hold snapshots; convert it to qcow2 first",
                              vmm_disk_format_name(info.format));
                return -ENOTSUP;
            }
            out[(*n)++] = d->disk;
        }
    }
    return 0;
}

int vmm_pc_disks_snapshot_create(struct vmm_pc *pc, const char *name, struct vmm_error *err)
{
    struct vmm_disk *disks[PC_MAX_SNAP_DISKS];
    unsigned n;
    int r = writable_disks(pc, disks, &n, err);
    if (r < 0)
        return r;
    pthread_mutex_lock(&pc->ide->dev.lock);
    unsigned made = 0;
    for (; made < n; made++) {
        r = vmm_disk_flush(disks[made]);
        if (r == 0)
            r = vmm_disk_snapshot_create(disks[made], name, 0, err);
        else
            vmm_error_set(err, r, "cannot flush a disk before its snapshot");
        if (r < 0)
            break;
    }
    if (r < 0) {
        /* All or none: a snapshot on some disks only could never be restored. */
        struct vmm_error ignored = {0};
        for (unsigned i = 0; i < made; i++)
            if (vmm_disk_snapshot_delete(disks[i], name, &ignored) < 0)
                break;
    }
    pthread_mutex_unlock(&pc->ide->dev.lock);
    return r < 0 ? r : 0;
}

int vmm_pc_disks_snapshot_delete(struct vmm_pc *pc, const char *name, struct vmm_error *err)
{
    struct vmm_disk *disks[PC_MAX_SNAP_DISKS];
    unsigned n;
    int r = writable_disks(pc, disks, &n, err);
    if (r < 0 || n == 0)
        return r;
    pthread_mutex_lock(&pc->ide->dev.lock);
    int first = 0;
    for (unsigned i = 0; i < n; i++) {
        struct vmm_error e = {0};
        r = vmm_disk_snapshot_delete(disks[i], name, &e);
        /* A disk without that snapshot (added later) is no failure. */
        if (r < 0 && r != -ENOENT && first == 0) {
            first = r;
            *err = e;
        }
    }
    pthread_mutex_unlock(&pc->ide->dev.lock);
    return first;
}
