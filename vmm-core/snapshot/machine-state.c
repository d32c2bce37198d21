/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Saving a running machine and creating one from a saved state.
 *
 * Save: pause (every vCPU parked), let KVM finish the I/O each vCPU's last
 * exit left pending, record vCPUs, irqchip, clock and devices in memory,
 * write RAM sparsely to a fresh file, resume, then commit the state file.
 * The state file names its RAM file ("ram-<random id>"), so a crash at any
 * point leaves either the old pair or the new pair, never a mix; older RAM
 * files are removed after the state file and the directory are synced.
 *
 * Restore (vmm_machine_create with cfg.restore_from): the state file is
 * parsed and checked against the configuration first, the RAM file is mapped
 * over guest RAM before KVM's slots are registered, and once the board is
 * built the vCPUs, irqchip and devices are loaded instead of a boot state.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"
#include "machine/pc.h"
#include "snapshot/snapshot.h"

#define MACHINE_VERSION 1
#define RAM_PREFIX "ram-"
#define RAM_NAME_LEN 20 /* "ram-" + 16 hex digits */

struct vmm_restore {
    uint8_t *buf;
    struct vmm_state_file file;
};

static struct vmm_snapshot_machine machine_of(struct vmm_vm *vm)
{
    struct vmm_snapshot_machine m = {
        .ram_size = vm->ram_map_size,
        .ncpus = vm->ncpus,
        .firmware = vm->pc && vm->pc->firmware,
        .vga = vm->cfg.vga || (vm->pc && vm->pc->firmware),
        .has_xsave = vm->has_xsave,
        .ndrives = (uint8_t)vm->cfg.ndrives,
    };
    return m;
}

/* "machine": u32 version, u64 RAM size, u32 vCPUs, u8 firmware, vga, xsave, drives, RAM name. */
static void put_machine(struct vmm_buf *b, const struct vmm_snapshot_machine *m,
                        const char *ram_name)
{
    vmm_buf_put_u32(b, MACHINE_VERSION);
    vmm_buf_put_u64(b, m->ram_size);
    vmm_buf_put_u32(b, m->ncpus);
    uint8_t flags[4] = {m->firmware, m->vga, m->has_xsave, m->ndrives};
    vmm_buf_put(b, flags, 4);
    char name[RAM_NAME_LEN + 1] = {0};
    snprintf(name, sizeof(name), "%s", ram_name);
    vmm_buf_put(b, name, RAM_NAME_LEN);
}

static int get_machine(const struct vmm_state_file *f, struct vmm_snapshot_machine *m,
                       char ram_name[RAM_NAME_LEN + 1], struct vmm_error *err)
{
    const struct vmm_state_section *s = vmm_state_file_find(f, "machine");
    if (!s || s->size != 4 + 8 + 4 + 4 + RAM_NAME_LEN) {
        vmm_error_set(err, -EINVAL, "the machine state has no valid machine section");
        return -EINVAL;
    }
    const uint8_t *p = s->data;
    uint32_t version =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (version != MACHINE_VERSION) {
        vmm_error_set(err, -EINVAL, "the machine section has version %u, not %u", version,
                      MACHINE_VERSION);
        return -EINVAL;
    }
    m->ram_size = 0;
    for (unsigned i = 0; i < 8; i++)
        m->ram_size |= (uint64_t)p[4 + i] << (8 * i);
    m->ncpus =
        (uint32_t)p[12] | (uint32_t)p[13] << 8 | (uint32_t)p[14] << 16 | (uint32_t)p[15] << 24;
    m->firmware = p[16];
    m->vga = p[17];
    m->has_xsave = p[18];
    m->ndrives = p[19];
    memcpy(ram_name, p + 20, RAM_NAME_LEN);
    ram_name[RAM_NAME_LEN] = '\0';
    if (strncmp(ram_name, RAM_PREFIX, strlen(RAM_PREFIX)) != 0 ||
        strspn(ram_name + 4, "0123456789abcdef") != RAM_NAME_LEN - 4) {
        vmm_error_set(err, -EINVAL, "the machine state names a malformed RAM file");
        return -EINVAL;
    }
    return 0;
}

/* Finishes the I/O of each vCPU's last exit inside KVM (the vCPU is parked). */
static int flush_pending_io(struct vmm_vm *vm, struct vmm_error *err)
{
    for (unsigned i = 0; i < vm->ncpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        int r = ioctl(v->fd, KVM_RUN, 0);
        int e = errno;
        __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
        if (r < 0 && e != EINTR && e != EAGAIN) {
            vmm_error_set(err, -e, "vCPU %u: cannot complete its pending I/O: %s", i, strerror(e));
            return -e;
        }
    }
    return 0;
}

static void remove_old_ram(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, RAM_PREFIX, strlen(RAM_PREFIX)) != 0 ||
            strcmp(de->d_name, keep) == 0)
            continue;
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < sizeof(path))
            unlink(path);
    }
    closedir(d);
}

static int collect(struct vmm_vm *vm, struct vmm_state_writer *w, const char *ram_name,
                   struct vmm_error *err)
{
    struct vmm_snapshot_machine m = machine_of(vm);
    struct vmm_buf b = {0};
    put_machine(&b, &m, ram_name);
    int r = vmm_state_writer_add(w, "machine", &b);
    vmm_buf_free(&b);
    if (r < 0) {
        vmm_error_set(err, r, "out of memory");
        return r;
    }
    r = flush_pending_io(vm, err);
    if (!r)
        r = vmm_snapshot_save_devices(vm, w, err);
    if (!r)
        r = vmm_snapshot_save_cpus(vm, w, err);
    return r;
}

/* disk_name: also take the disks' internal snapshot of that name inside the same pause. */
static int save_state(struct vmm_vm *vm, const char *dir, const char *disk_name,
                      struct vmm_save_stats *stats, struct vmm_error *err)
{
    uint64_t t0 = (uint64_t)vmm_now_ns();
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        vmm_error_set(err, -e, "cannot create the state directory %s: %s", dir, strerror(e));
        return -e;
    }
    uint64_t id = 0;
    if (getrandom(&id, sizeof(id), 0) != sizeof(id))
        id = (uint64_t)vmm_now_ns() ^ (uint64_t)getpid() << 32;
    char ram_name[RAM_NAME_LEN + 1], ram_path[PATH_MAX], state_path[PATH_MAX];
    snprintf(ram_name, sizeof(ram_name), RAM_PREFIX "%016llx", (unsigned long long)id);
    if ((size_t)snprintf(ram_path, sizeof(ram_path), "%s/%s", dir, ram_name) >= sizeof(ram_path) ||
        (size_t)snprintf(state_path, sizeof(state_path), "%s/" VMM_SNAPSHOT_STATE_NAME, dir) >=
            sizeof(state_path)) {
        vmm_error_set(err, -ENAMETOOLONG, "the state directory name is too long");
        return -ENAMETOOLONG;
    }

    pthread_mutex_lock(&vm->lock);
    bool was_running = vm->state == VMM_STATE_RUNNING;
    bool started = vm->vcpus && vm->vcpus[0].thread_started;
    pthread_mutex_unlock(&vm->lock);
    if (started && vm->ended) {
        vmm_error_set(err, -ESHUTDOWN, "the machine has stopped; there is nothing to save");
        return -ESHUTDOWN;
    }

    struct vmm_state_writer w = {0};
    uint64_t t_pause = (uint64_t)vmm_now_ns(), paused_ns = 0, t_state = 0, t_disks = 0, t_ram = 0;
    unsigned tries = 0;
    int r;
    /* An IDE command in flight: let the guest run on for a moment, up to a second. */
    for (;; tries++) {
        if (was_running && (r = vmm_vm_pause(vm)) < 0) {
            vmm_error_set(err, r, "cannot pause the machine");
            return r;
        }
        t_pause = (uint64_t)vmm_now_ns();
        /* Before anything is recorded: no virtio queue moves until RAM is written. */
        if (vm->pc)
            vmm_pc_virtio_freeze(vm->pc, true);
        r = collect(vm, &w, ram_name, err);
        t_state = (uint64_t)vmm_now_ns();
        if (r != -EBUSY || !was_running || tries >= 200)
            break;
        vmm_state_writer_free(&w);
        if (vm->pc)
            vmm_pc_virtio_freeze(vm->pc, false);
        if (vmm_vm_resume(vm) < 0)
            break;
        struct timespec nap = {0, 5 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    bool disks_taken = false;
    if (r == 0 && disk_name) {
        r = vmm_pc_disks_snapshot_create(vm->pc, disk_name, err);
        disks_taken = r == 0;
    }
    t_disks = (uint64_t)vmm_now_ns();
    struct vmm_snapshot_ram_stats ram_st = {0};
    int ram_fd = -1;
    struct vmm_snapshot_ram_writer child = {.pid = -1, .pipe = -1};
    /*
     * A running guest goes on as soon as a copy-on-write child holds its RAM as it is now;
     * the child writes the file while the guest runs (the guest's first write to each page
     * costs a page copy meanwhile). Without a child (fork refused, or a stopped machine),
     * RAM is copied into the page cache here and made durable after the guest runs again.
     */
    if (r == 0 && was_running && !vm->cfg.save_in_pause) {
        struct vmm_error ferr = {0};
        if (vmm_snapshot_write_ram_fork(vm->mem.base, vm->ram_map_size, vm->ram_file_fd, ram_path,
                                        &child, &ferr) < 0)
            vmm_log(VMM_LOG_WARN, "%s; RAM is copied with the machine paused", ferr.msg);
    }
    if (r == 0 && child.pid < 0)
        r = vmm_snapshot_write_ram_begin(vm->mem.base, vm->ram_map_size, vm->ram_file_fd, ram_path,
                                         &ram_fd, &ram_st, err);
    t_ram = (uint64_t)vmm_now_ns();
    paused_ns = t_ram - t_pause;
    if (vm->pc)
        vmm_pc_virtio_freeze(vm->pc, false);
    if (was_running && vmm_vm_resume(vm) < 0 && r == 0) {
        vmm_error_set(err, -ESHUTDOWN, "the machine stopped while it was being saved");
        r = -ESHUTDOWN;
    }
    if (child.pid >= 0) {
        int cr = vmm_snapshot_write_ram_wait(&child, ram_path, &ram_st, r == 0 ? err : NULL);
        if (r == 0)
            r = cr;
    }
    if (ram_fd >= 0) {
        if (r == 0) {
            r = vmm_snapshot_write_ram_finish(ram_fd, ram_path, err);
        } else {
            close(ram_fd);
            char tmp[PATH_MAX + 8];
            snprintf(tmp, sizeof(tmp), "%s.tmp", ram_path);
            unlink(tmp);
        }
    }
    if (r == 0)
        r = vmm_state_writer_commit(&w, state_path, err);
    vmm_state_writer_free(&w);
    if (r < 0) {
        unlink(ram_path);
        struct vmm_error ignored = {0};
        if (disks_taken && vmm_pc_disks_snapshot_delete(vm->pc, disk_name, &ignored) < 0)
            vmm_log(VMM_LOG_ERROR, "cannot remove the disks' snapshot %s: %s", disk_name,
                    ignored.msg);
        return r;
    }
    remove_old_ram(dir, ram_name);
    if (stats) {
        stats->ram_size = vm->ram_map_size;
        stats->ram_written = ram_st.written;
        stats->ram_read = ram_st.read;
        stats->paused_ns = paused_ns;
        stats->total_ns = (uint64_t)vmm_now_ns() - t0;
        stats->tries = tries + 1;
        stats->state_ns = t_state - t_pause;
        stats->disks_ns = t_disks - t_state;
        stats->ram_ns = t_ram - t_disks;
        stats->ram_child_ns = ram_st.child_ns;
        stats->ram_direct = ram_st.direct;
    }
    vmm_log(
        VMM_LOG_INFO, "saved the machine to %s: %llu of %llu MiB of RAM written, paused %llu ms",
        dir, (unsigned long long)(ram_st.written >> 20),
        (unsigned long long)(vm->ram_map_size >> 20), (unsigned long long)(paused_ns / 1000000));
    return 0;
}

int vmm_vm_save_state(struct vmm_vm *vm, const char *dir, struct vmm_save_stats *stats,
                      struct vmm_error *err)
{
    return save_state(vm, dir, NULL, stats, err);
}

int vmm_vm_snapshot_take(struct vmm_vm *vm, const char *name, const char *state_dir,
                         struct vmm_save_stats *stats, struct vmm_error *err)
{
    if (!name || !*name) {
        vmm_error_set(err, -EINVAL, "a snapshot needs a name");
        return -EINVAL;
    }
    if (state_dir)
        return save_state(vm, state_dir, name, stats, err);
    uint64_t t0 = (uint64_t)vmm_now_ns();
    pthread_mutex_lock(&vm->lock);
    bool was_running = vm->state == VMM_STATE_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    int r;
    if (was_running && (r = vmm_vm_pause(vm)) < 0) {
        vmm_error_set(err, r, "cannot pause the machine");
        return r;
    }
    uint64_t t_pause = (uint64_t)vmm_now_ns();
    r = vmm_pc_disks_snapshot_create(vm->pc, name, err);
    uint64_t paused_ns = (uint64_t)vmm_now_ns() - t_pause;
    if (was_running && vmm_vm_resume(vm) < 0 && r == 0) {
        vmm_error_set(err, -ESHUTDOWN, "the machine stopped while its disks were snapshotted");
        r = -ESHUTDOWN;
    }
    if (stats) {
        *stats = (struct vmm_save_stats){0};
        stats->paused_ns = paused_ns;
        stats->total_ns = (uint64_t)vmm_now_ns() - t0;
        stats->tries = 1;
        stats->disks_ns = paused_ns;
    }
    return r;
}

int vmm_vm_snapshot_delete(struct vmm_vm *vm, const char *name, struct vmm_error *err)
{
    return vmm_pc_disks_snapshot_delete(vm->pc, name, err);
}

/* ---- Restore ---- */

void vmm_snapshot_restore_free(struct vmm_vm *vm)
{
    struct vmm_restore *rs = vm->restore;
    if (!rs)
        return;
    vmm_state_file_free(&rs->file);
    free(rs->buf);
    free(rs);
    vm->restore = NULL;
}

int vmm_snapshot_restore_prepare(struct vmm_vm *vm, struct vmm_error *err)
{
    const char *dir = vm->cfg.restore_from;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/" VMM_SNAPSHOT_STATE_NAME, dir) >= sizeof(path)) {
        vmm_error_set(err, -ENAMETOOLONG, "the state directory name is too long");
        return -ENAMETOOLONG;
    }
    struct vmm_restore *rs = calloc(1, sizeof(*rs));
    if (!rs) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    vm->restore = rs;
    int r = vmm_state_file_load(path, &rs->buf, &rs->file, err);
    if (r < 0)
        return r;
    struct vmm_snapshot_machine saved, here = machine_of(vm);
    char ram_name[RAM_NAME_LEN + 1];
    r = get_machine(&rs->file, &saved, ram_name, err);
    if (r < 0)
        return r;
    if (saved.ram_size != here.ram_size || saved.ncpus != here.ncpus ||
        saved.firmware != here.firmware || saved.vga != here.vga || saved.ndrives != here.ndrives) {
        vmm_error_set(err, -EINVAL,
                      "the saved machine had %llu MiB, %u vCPUs, %s, %s display and %u drives; "
                      "restore it with the same configuration",
                      (unsigned long long)(saved.ram_size >> 20), saved.ncpus,
                      saved.firmware ? "firmware boot" : "a kernel", saved.vga ? "a" : "no",
                      saved.ndrives);
        return -EINVAL;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, ram_name) >= sizeof(path)) {
        vmm_error_set(err, -ENAMETOOLONG, "the state directory name is too long");
        return -ENAMETOOLONG;
    }
    /* The file stays open: the next save reads its holes as zero without looking. */
    int fd = -1;
    r = vmm_snapshot_map_ram(vm->mem.base, vm->ram_map_size, path, &fd, err);
    if (r == 0) {
        if (vm->ram_file_fd >= 0)
            close(vm->ram_file_fd);
        vm->ram_file_fd = fd;
    }
    return r;
}

int vmm_snapshot_restore_finish(struct vmm_vm *vm, struct vmm_error *err)
{
    struct vmm_restore *rs = vm->restore;
    int r = -EINVAL;
    if (!rs)
        vmm_error_set(err, r, "no machine state is being restored");
    else
        r = vmm_snapshot_load_cpus(vm, &rs->file, err);
    if (r == 0)
        r = vmm_snapshot_load_devices(vm, &rs->file, err);
    vmm_snapshot_restore_free(vm);
    return r;
}
