/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Direct kernel boot: the kernel image and initrd the user named, laid out
 * in guest RAM when the machine is created and again at every guest reset.
 *
 * A bzImage whose kernel proper the kernel cache holds is not read whole:
 * the cache finds it by the file's identity (kernel-cache.c), and booting it
 * needs only the setup header, so only the image's first VMM_BZIMAGE_HEAD
 * bytes are read. Otherwise the image is read whole, once, and kept.
 *
 * The initrd stays open and is read straight into guest RAM at every load,
 * never through a copy of our own; if its file changes while the machine
 * runs, the next reset says so instead of booting something half old, half
 * new. (A file replaced by another one - a package upgrade, an editor's
 * save - is not a change: the open descriptor still reads the old one.)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "core/file.h"
#include "core/log.h"
#include "core/vm.h"
#include "machine/pc.h"

#define MAX_KERNEL_SIZE (512ULL << 20)

static void file_id(const struct stat *st, struct vmm_kernel_file_id *id)
{
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->size = (uint64_t)st->st_size;
    id->mtime_sec = st->st_mtim.tv_sec;
    id->mtime_nsec = st->st_mtim.tv_nsec;
    id->ctime_sec = st->st_ctim.tv_sec;
    id->ctime_nsec = st->st_ctim.tv_nsec;
}

static bool same_id(const struct vmm_kernel_file_id *a, const struct vmm_kernel_file_id *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/*
 * The kernel image whole into vm->kernel (replacing a head read before), from
 * fd, opened as st says; the identity it records is the file's as read.
 */
static int read_kernel_fd(struct vmm_vm *vm, int fd, const struct stat *st, struct vmm_error *err)
{
    uint8_t *data;
    int r = vmm_read_fd("kernel", vm->cfg.kernel, fd, (size_t)st->st_size, &data, err);
    if (r < 0)
        return r;
    struct stat after;
    struct vmm_kernel_file_id id_after = {0};
    file_id(st, &vm->kcache.id);
    if (fstat(fd, &after) == 0)
        file_id(&after, &id_after);
    /* Changed while it was read: what we hold is not surely that identity's content. */
    vm->kcache.have_id = same_id(&vm->kcache.id, &id_after);
    free(vm->kernel.data);
    vm->kernel.data = data;
    vm->kernel.len = vm->kernel_size = (size_t)st->st_size;
    return 0;
}

/* The same from the kernel's path, opened again (a reset that needs the image whole). */
static int read_kernel_whole(struct vmm_vm *vm, struct vmm_error *err)
{
    struct stat st;
    int fd = vmm_open_file("kernel", vm->cfg.kernel, MAX_KERNEL_SIZE, &st, err);
    if (fd < 0)
        return fd;
    int r = read_kernel_fd(vm, fd, &st, err);
    close(fd);
    return r;
}

int vmm_pc_kernel_open(struct vmm_vm *vm, uint64_t ram, struct vmm_error *err)
{
    const struct vmm_config *cfg = &vm->cfg;
    struct stat st;
    int r;

    if (cfg->initrd) {
        int fd = vmm_open_file("initrd", cfg->initrd, ram, &st, err);
        if (fd < 0)
            return fd;
        vm->initrd_fd = fd;
        vm->initrd_size = (size_t)st.st_size;
        file_id(&st, &vm->initrd_id);
    }

    int fd = vmm_open_file("kernel", cfg->kernel, MAX_KERNEL_SIZE, &st, err);
    if (fd < 0)
        return fd;
    if (!cfg->no_kernel_cache && (uint64_t)st.st_size > VMM_BZIMAGE_HEAD) {
        uint8_t *head = malloc(VMM_BZIMAGE_HEAD);
        file_id(&st, &vm->kcache.id);
        vm->kcache.have_id = true;
        /* Found by identity: only the head is needed (boot.h, VMM_BZIMAGE_HEAD). */
        if (head && vmm_pread_full(fd, head, VMM_BZIMAGE_HEAD, 0) == 0 &&
            vmm_image_detect(head, VMM_BZIMAGE_HEAD) == VMM_IMAGE_BZIMAGE &&
            vmm_kernel_cache_lookup_id(&vm->kcache, head, VMM_BZIMAGE_HEAD, (size_t)st.st_size) ==
                0) {
            close(fd);
            vm->kernel.data = head;
            vm->kernel.len = VMM_BZIMAGE_HEAD;
            vm->kernel_size = (size_t)st.st_size;
            return 0;
        }
        free(head);
    }
    r = read_kernel_fd(vm, fd, &st, err);
    close(fd);
    return r;
}

/* The initrd's file as it was when the machine started, or a sentence saying it is not. */
static int initrd_unchanged(struct vmm_vm *vm, struct vmm_error *err)
{
    struct stat st;
    struct vmm_kernel_file_id now;
    if (fstat(vm->initrd_fd, &st) < 0) {
        int e = errno;
        vmm_error_set(err, -e, "cannot read the initrd %s: %s", vm->cfg.initrd, strerror(e));
        return -e;
    }
    file_id(&st, &now);
    /* Size and mtime: the ctime also moves when the file is renamed over (its link count). */
    if (now.size != vm->initrd_id.size || now.mtime_sec != vm->initrd_id.mtime_sec ||
        now.mtime_nsec != vm->initrd_id.mtime_nsec) {
        vmm_error_set(err, -ESTALE,
                      "the initrd %s was changed on disk while the machine ran; start the "
                      "machine again to boot the new one",
                      vm->cfg.initrd);
        return -ESTALE;
    }
    return 0;
}

static int load_bzimage(struct vmm_vm *vm, const char *cmdline, struct vmm_error *err)
{
    int r;
    for (int pass = 0;; pass++) {
        r = vmm_bzimage_load_cached(&vm->mem, vm->ncpus, vm->kernel.data, vm->kernel.len,
                                    vm->kernel_size, NULL, vm->initrd_size, cmdline, &vm->kcache,
                                    &vm->entry, err);
        /* Found by identity, then unusable: the bzImage itself is booted, read whole. */
        if (r != -EAGAIN || pass > 0)
            break;
        r = read_kernel_whole(vm, err);
        if (r < 0)
            return r;
    }
    if (r == 0 && !vm->cfg.vga && vmm_bzimage_no_text_screen(&vm->mem) < 0) {
        vmm_error_set(err, -EFAULT, "the boot parameters are outside guest RAM");
        return -EFAULT;
    }
    if (r < 0 || !vm->initrd_size)
        return r;
    uint8_t *dst = vmm_guest_ptr(&vm->mem, vm->entry.initrd_addr, vm->initrd_size);
    r = dst ? vmm_pread_full(vm->initrd_fd, dst, vm->initrd_size, 0) : -EFAULT;
    if (r < 0)
        vmm_error_set(err, r, "cannot read the initrd %s: %s", vm->cfg.initrd,
                      r == -ENODATA ? "it became shorter while it was read" : strerror(-r));
    return r;
}

int vmm_pc_kernel_load(struct vmm_vm *vm, struct vmm_error *err)
{
    const char *cmdline = vm->cfg.cmdline ? vm->cfg.cmdline : "";
    enum vmm_image_kind kind = vmm_image_detect(vm->kernel.data, vm->kernel.len);
    int r;

    if (vm->initrd_fd >= 0 && (r = initrd_unchanged(vm, err)) < 0)
        return r;
    if (kind == VMM_IMAGE_BZIMAGE)
        return load_bzimage(vm, cmdline, err);
    if (kind != VMM_IMAGE_MULTIBOOT) {
        vmm_error_set(err, -ENOEXEC, "%s is neither a Linux bzImage nor a multiboot kernel",
                      vm->cfg.kernel);
        return -ENOEXEC;
    }
    /* A multiboot module is handed over from memory; it is read once. */
    if (vm->initrd_fd >= 0 && !vm->initrd.data) {
        r = vmm_read_fd("initrd", vm->cfg.initrd, vm->initrd_fd, vm->initrd_size, &vm->initrd.data,
                        err);
        if (r < 0)
            return r;
        vm->initrd.len = vm->initrd_size;
    }
    return vmm_multiboot_load(&vm->mem, vm->ncpus, vm->kernel.data, vm->kernel.len, vm->initrd.data,
                              vm->initrd.len, cmdline, &vm->entry, err);
}
