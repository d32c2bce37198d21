/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internal snapshots of the disks a running machine has open, through the
 * machine's own handles: a second handle on the same qcow2 file would change
 * refcounts and the snapshot table behind the open one's caches. The caller
 * keeps the vCPUs parked (vmm_vm_pause) so no guest write lands in between.
 *
 * The writable hard disks are the IDE disks and the virtio-blk disks. Each
 * disk is flushed and snapshotted with the lock of the device using it held,
 * so the event loop (which serves virtio-blk notifications) cannot write to
 * it meanwhile; a virtio-blk device with requests on its I/O threads is
 * waited for first.
 */
#include <errno.h>
#include <pthread.h>

#include "core/vm.h"
#include "disk/disk.h"
#include "hw/ide.h"
#include "machine/pc.h"
#include "virtio/blk.h"

#define PC_MAX_SNAP_DISKS (VMM_IDE_CHANNELS * VMM_IDE_UNITS + VMM_PC_MAX_VIRTIO)

static int add_disk(struct vmm_pc_disk_ref *out, unsigned *n, const struct vmm_pc_disk_ref *ref,
                    struct vmm_error *err)
{
    if (!ref->disk || vmm_disk_is_read_only(ref->disk) || (ref->blk && ref->blk->read_only))
        return 0;
    struct vmm_disk_info info;
    vmm_disk_get_info(ref->disk, &info);
    if (info.format != VMM_DISK_QCOW2) {
        vmm_error_set(err, -ENOTSUP, "a %s disk cannot hold snapshots; convert it to qcow2 first",
                      vmm_disk_format_name(info.format));
        return -ENOTSUP;
    }
    out[(*n)++] = *ref;
    return 0;
}

/* The machine's writable hard disks; -ENOTSUP with a sentence if one cannot hold snapshots. */
static int writable_disks(struct vmm_pc *pc, struct vmm_pc_disk_ref *out, unsigned *n,
                          struct vmm_error *err)
{
    *n = 0;
    if (pc->try_mode) {
        vmm_error_set(err, -ENOTSUP,
                      "the machine runs in try mode: its disk writes are thrown away when it "
                      "stops, so it takes no snapshots");
        return -ENOTSUP;
    }
    for (unsigned c = 0; pc->ide && c < VMM_IDE_CHANNELS; c++) {
        for (unsigned u = 0; u < VMM_IDE_UNITS; u++) {
            struct vmm_ide_drive *d = &pc->ide->ch[c].drive[u];
            if (d->kind != VMM_IDE_DISK)
                continue;
            struct vmm_pc_disk_ref ref = {.disk = d->disk, .lock = &pc->ide->dev.lock};
            int r = add_disk(out, n, &ref, err);
            if (r < 0)
                return r;
        }
    }
    struct vmm_pc_disk_ref virtio[VMM_PC_MAX_VIRTIO];
    unsigned nv = vmm_pc_virtio_disks(pc, virtio, VMM_PC_MAX_VIRTIO);
    for (unsigned i = 0; i < nv; i++) {
        int r = add_disk(out, n, &virtio[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

static void lock_disk(const struct vmm_pc_disk_ref *d)
{
    pthread_mutex_lock(d->lock);
    /* Requests on virtio-blk's I/O threads or io_uring write without the lock: let them
     * finish (io_uring completions are reaped right here, not left to the event loop). */
    if (d->blk)
        vmm_virtio_blk_drain_locked(d->blk);
}

int vmm_pc_disks_snapshot_create(struct vmm_pc *pc, const char *name, struct vmm_error *err)
{
    struct vmm_pc_disk_ref disks[PC_MAX_SNAP_DISKS];
    unsigned n;
    int r = writable_disks(pc, disks, &n, err);
    if (r < 0)
        return r;
    unsigned made = 0;
    for (; made < n; made++) {
        lock_disk(&disks[made]);
        r = vmm_disk_flush(disks[made].disk);
        if (r == 0)
            r = vmm_disk_snapshot_create(disks[made].disk, name, 0, err);
        else
            vmm_error_set(err, r, "cannot flush a disk before its snapshot");
        pthread_mutex_unlock(disks[made].lock);
        if (r < 0)
            break;
    }
    if (r < 0) {
        /* All or none: a snapshot on some disks only could never be restored. */
        struct vmm_error ignored = {0};
        for (unsigned i = 0; i < made; i++) {
            lock_disk(&disks[i]);
            int d = vmm_disk_snapshot_delete(disks[i].disk, name, &ignored);
            pthread_mutex_unlock(disks[i].lock);
            if (d < 0)
                break;
        }
    }
    return r < 0 ? r : 0;
}

int vmm_pc_disks_snapshot_delete(struct vmm_pc *pc, const char *name, struct vmm_error *err)
{
    struct vmm_pc_disk_ref disks[PC_MAX_SNAP_DISKS];
    unsigned n;
    int r = writable_disks(pc, disks, &n, err);
    if (r < 0 || n == 0)
        return r;
    int first = 0;
    for (unsigned i = 0; i < n; i++) {
        struct vmm_error e = {0};
        lock_disk(&disks[i]);
        r = vmm_disk_snapshot_delete(disks[i].disk, name, &e);
        pthread_mutex_unlock(disks[i].lock);
        /* A disk without that snapshot (added later) is no failure. */
        if (r < 0 && r != -ENOENT && first == 0) {
            first = r;
            if (err)
                *err = e;
        }
    }
    return first;
}
