/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio on the PC board: each device a PCI function of its own (slots 3
 * and up, in the order virtio-blk drives, net, rng, console, balloon,
 * input), wired to KVM:
 *
 * - MSI-X: one GSI above the IOAPIC pins per vector (core/irq.c routes it
 *   to the vector's message, in the VM's one routing table) and an irqfd
 *   bound to it; delivering a vector is an eventfd write. A vector whose
 *   GSI could not be had is sent with KVM_SIGNAL_MSI instead.
 * - INTx: without MSI-X the transport drives INTA#, which the PIIX3 routes.
 * - Notifications: an ioeventfd per queue on its notify dword in BAR4
 *   (re-registered whenever the BAR moves); the event loop reads it and runs
 *   the queue. Other-width writes still trap and reach the BAR handler.
 * - kick_later: a queue whose budget ran out is run again from the loop.
 * - virtio-blk on a raw image: the loop also watches its io_uring
 *   completion eventfd (vmm_virtio_blk_complete); qcow2 stays synchronous.
 * - Reset: the PCI bus reset resets each function (routes dropped, BARs
 *   unmapped, ioeventfds removed with them).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"
#include "machine/pc.h"
#include "net/user.h"
#include "snapshot/snapshot.h"
#include "snapshot/virtio-state.h"
#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/input.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/virtio-pci.h"

/* I/O threads per virtio disk that has no io_uring (qcow2): requests in flight at once. */
#define PC_BLK_IO_THREADS 4

struct vmm_pc_virtio {
    pthread_mutex_t lock; /* the device lock: the transport's and the model's */
    struct vmm_pc *pc;
    char name[32];
    struct vmm_virtio_pci vp;
    void *model;
    void (*model_fini)(void *model);

    unsigned nq;
    int notify_fd[VMM_VIRTIO_MAX_QUEUES];
    bool notify_on[VMM_VIRTIO_MAX_QUEUES];
    uint64_t notify_gpa[VMM_VIRTIO_MAX_QUEUES];
    bool in_loop; /* the notify and kick fds are watched by the event loop */

    int kick_fd;
    _Atomic uint64_t kick_mask;

    unsigned nvec;
    int gsi[VIRTIO_PCI_MAX_VECTORS];
    int irqfd[VIRTIO_PCI_MAX_VECTORS];
};

/* ---- MSI-X ---- */

static bool msi_addr_ok(uint64_t addr)
{
    return (addr >> 20) == 0xfee; /* the local APICs' window */
}

static void hook_msix_signal(void *opaque, struct vmm_virtio_pci *vp, unsigned vector)
{
    struct vmm_pc_virtio *f = opaque;
    if (vector >= f->nvec)
        return;
    if (f->irqfd[vector] >= 0) {
        uint64_t one = 1;
        if (write(f->irqfd[vector], &one, sizeof(one)) < 0)
            vmm_log_ratelimited(VMM_LOG_WARN, "%s: irqfd write failed", f->name);
        return;
    }
    uint64_t addr;
    uint32_t data;
    bool masked;
    if (vmm_virtio_pci_msix_entry(vp, vector, &addr, &data, &masked) < 0 || masked ||
        !msi_addr_ok(addr))
        return;
    struct kvm_msi msi = {
        .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data};
    if (ioctl(f->pc->vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
        vmm_log_ratelimited(VMM_LOG_WARN, "%s: KVM_SIGNAL_MSI failed", f->name);
}

static void hook_msix_changed(void *opaque, struct vmm_virtio_pci *vp)
{
    struct vmm_pc_virtio *f = opaque;
    struct vmm_irq_msi_change ch[VIRTIO_PCI_MAX_VECTORS];
    unsigned n = 0;
    bool enabled = vmm_virtio_pci_msix_enabled(vp);
    for (unsigned v = 0; v < f->nvec; v++) {
        if (f->gsi[v] < 0)
            continue;
        uint64_t addr = 0;
        uint32_t data = 0;
        bool masked = true;
        if (vmm_virtio_pci_msix_entry(vp, v, &addr, &data, &masked) < 0)
            continue;
        /* A masked vector keeps its route: the transport never signals it while masked. */
        ch[n++] = (struct vmm_irq_msi_change){.gsi = (unsigned)f->gsi[v],
                                              .active = enabled && msi_addr_ok(addr),
                                              .addr = addr,
                                              .data = data};
    }
    if (n && vmm_irq_msi_update(f->pc->vm, ch, n) < 0)
        vmm_log_ratelimited(VMM_LOG_WARN, "%s: cannot route its MSI-X vectors", f->name);
}

/* ---- notifications ---- */

static int ioeventfd(struct vmm_pc_virtio *f, unsigned q, uint64_t gpa, bool assign)
{
    struct kvm_ioeventfd io = {
        .addr = gpa,
        .len = f->pc->ioeventfd_len,
        .fd = f->notify_fd[q],
        .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
    };
    return ioctl(f->pc->vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static void unregister_notify(struct vmm_pc_virtio *f)
{
    for (unsigned q = 0; q < f->nq; q++) {
        if (f->notify_on[q] && ioeventfd(f, q, f->notify_gpa[q], false) < 0)
            vmm_log_ratelimited(VMM_LOG_WARN, "%s: cannot remove the ioeventfd of queue %u",
                                f->name, q);
        f->notify_on[q] = false;
    }
}

static void hook_notify_moved(void *opaque, struct vmm_virtio_pci *vp)
{
    struct vmm_pc_virtio *f = opaque;
    unregister_notify(f);
    for (unsigned q = 0; q < f->nq; q++) {
        uint64_t gpa;
        if (f->notify_fd[q] < 0 || vmm_virtio_pci_notify_addr(vp, q, &gpa) < 0)
            continue;
        if (ioeventfd(f, q, gpa, true) < 0) {
            /* Still correct, only slower: the write traps to the BAR handler. */
            vmm_log_ratelimited(VMM_LOG_INFO, "%s: no ioeventfd for queue %u at 0x%llx", f->name, q,
                                (unsigned long long)gpa);
            continue;
        }
        f->notify_on[q] = true;
        f->notify_gpa[q] = gpa;
    }
}

static void hook_kick_later(void *opaque, struct vmm_virtio_pci *vp, unsigned q)
{
    struct vmm_pc_virtio *f = opaque;
    (void)vp;
    if (q >= 64 || f->kick_fd < 0)
        return;
    atomic_fetch_or(&f->kick_mask, 1ULL << q);
    uint64_t one = 1;
    if (write(f->kick_fd, &one, sizeof(one)) < 0)
        vmm_log_ratelimited(VMM_LOG_WARN, "%s: cannot schedule queue %u", f->name, q);
}

static const struct vmm_virtio_pci_hooks hooks = {
    .msix_signal = hook_msix_signal,
    .msix_changed = hook_msix_changed,
    .notify_moved = hook_notify_moved,
    .kick_later = hook_kick_later,
};

static void notify_ready(void *opaque, int fd, uint32_t events)
{
    struct vmm_pc_virtio *f = opaque;
    uint64_t n;
    (void)events;
    if (read(fd, &n, sizeof(n)) < 0)
        return;
    for (unsigned q = 0; q < f->nq; q++) {
        if (f->notify_fd[q] == fd) {
            vmm_virtio_pci_notify(&f->vp, q);
            return;
        }
    }
}

static void kick_ready(void *opaque, int fd, uint32_t events)
{
    struct vmm_pc_virtio *f = opaque;
    uint64_t n;
    (void)events;
    if (read(fd, &n, sizeof(n)) < 0)
        return;
    uint64_t mask = atomic_exchange(&f->kick_mask, 0);
    for (unsigned q = 0; q < f->nq && q < 64; q++)
        if (mask >> q & 1)
            vmm_virtio_pci_notify(&f->vp, q);
}

/* ---- functions ---- */

struct vmm_pc_virtio *vmm_pc_virtio_new(struct vmm_pc *pc, const char *name, struct vmm_error *err)
{
    if (pc->nvirtio >= VMM_PC_MAX_VIRTIO) {
        vmm_error_set(err, -ENOSPC, "too many virtio devices (at most %d)", VMM_PC_MAX_VIRTIO);
        return NULL;
    }
    struct vmm_pc_virtio *f = calloc(1, sizeof(*f));
    if (!f) {
        vmm_error_set(err, -ENOMEM, "out of memory for %s", name);
        return NULL;
    }
    pthread_mutex_init(&f->lock, NULL);
    f->pc = pc;
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->kick_fd = -1;
    for (unsigned i = 0; i < VMM_VIRTIO_MAX_QUEUES; i++)
        f->notify_fd[i] = -1;
    for (unsigned i = 0; i < VIRTIO_PCI_MAX_VECTORS; i++)
        f->gsi[i] = f->irqfd[i] = -1;
    pc->virtio[pc->nvirtio++] = f; /* owned by the board from here on, even half-built */
    return f;
}

pthread_mutex_t *vmm_pc_virtio_lock(struct vmm_pc_virtio *f)
{
    return &f->lock;
}

static int bind_vectors(struct vmm_pc_virtio *f)
{
    struct vmm_vm *vm = f->pc->vm;
    for (unsigned v = 0; v < f->nvec; v++) {
        int gsi = vmm_irq_msi_alloc(vm);
        if (gsi < 0)
            return 0; /* the rest go through KVM_SIGNAL_MSI */
        f->gsi[v] = gsi;
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            return -errno;
        struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = (uint32_t)gsi};
        if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        f->irqfd[v] = fd;
    }
    return 0;
}

int vmm_pc_virtio_plug(struct vmm_pc_virtio *f, struct vmm_virtio_dev *vdev, uint32_t class_code,
                       void *model, void (*model_fini)(void *model), struct vmm_error *err)
{
    struct vmm_pc *pc = f->pc;
    f->model = model;
    f->model_fini = model_fini;
    int r = vmm_virtio_pci_init(&f->vp, vdev, class_code, &hooks, f);
    if (r < 0) {
        vmm_error_set(err, r, "%s: cannot build its PCI function", f->name);
        return r;
    }
    f->nq = vdev->num_queues;
    f->nvec = f->vp.nvectors;
    r = bind_vectors(f);
    if (r < 0) {
        vmm_error_set(err, r, "%s: cannot bind its MSI-X vectors to KVM: %s", f->name,
                      strerror(-r));
        return r;
    }
    for (unsigned q = 0; q < f->nq; q++) {
        f->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (f->notify_fd[q] < 0) {
            vmm_error_set(err, -EMFILE, "%s: out of file descriptors", f->name);
            return -EMFILE;
        }
    }
    f->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->kick_fd < 0) {
        vmm_error_set(err, -EMFILE, "%s: out of file descriptors", f->name);
        return -EMFILE;
    }
    f->in_loop = true;
    r = vmm_loop_add_fd(pc->vm->loop, f->kick_fd, EPOLLIN, kick_ready, f);
    for (unsigned q = 0; !r && q < f->nq; q++)
        r = vmm_loop_add_fd(pc->vm->loop, f->notify_fd[q], EPOLLIN, notify_ready, f);
    if (r < 0) {
        vmm_error_set(err, r, "%s: cannot watch its notifications", f->name);
        return r;
    }
    if (pc->next_virtio_slot < VMM_PC_VIRTIO_FIRST_SLOT)
        pc->next_virtio_slot = VMM_PC_VIRTIO_FIRST_SLOT;
    if (pc->next_virtio_slot >= 32) {
        vmm_error_set(err, -ENOSPC, "%s: no free PCI slot", f->name);
        return -ENOSPC;
    }
    r = vmm_pci_bus_add(&pc->bus, &f->vp.pci, pc->next_virtio_slot, 0);
    if (r < 0) {
        vmm_error_set(err, r, "%s: cannot plug it into PCI slot %u", f->name, pc->next_virtio_slot);
        return r;
    }
    pc->next_virtio_slot++;
    return 0;
}

static void virtio_free(struct vmm_pc_virtio *f)
{
    struct vmm_vm *vm = f->pc->vm;
    if (f->in_loop) {
        if (f->kick_fd >= 0)
            vmm_loop_del_fd(vm->loop, f->kick_fd);
        for (unsigned q = 0; q < f->nq; q++)
            if (f->notify_fd[q] >= 0)
                vmm_loop_del_fd(vm->loop, f->notify_fd[q]);
    }
    unregister_notify(f);
    for (unsigned q = 0; q < VMM_VIRTIO_MAX_QUEUES; q++)
        if (f->notify_fd[q] >= 0)
            close(f->notify_fd[q]);
    if (f->kick_fd >= 0)
        close(f->kick_fd);
    for (unsigned v = 0; v < VIRTIO_PCI_MAX_VECTORS; v++) {
        if (f->irqfd[v] >= 0) {
            struct kvm_irqfd irqfd = {.fd = (uint32_t)f->irqfd[v],
                                      .gsi = (uint32_t)f->gsi[v],
                                      .flags = KVM_IRQFD_FLAG_DEASSIGN};
            if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
                vmm_log(VMM_LOG_WARN, "%s: cannot unbind an irqfd", f->name);
            close(f->irqfd[v]);
        }
        if (f->gsi[v] >= 0)
            vmm_irq_msi_free(vm, (unsigned)f->gsi[v]);
    }
    if (f->model_fini)
        f->model_fini(f->model);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* ---- the board's virtio devices ---- */

/* A virtio-blk device and, when it runs on io_uring, the loop that watches its completions. */
struct pc_blk {
    struct vmm_virtio_blk blk; /* first: the model pointer is also the device's */
    struct vmm_loop *loop;
    int watched_fd;
};

static void blk_completions(void *opaque, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    vmm_virtio_blk_complete(opaque);
}

static void blk_fini(void *model)
{
    struct pc_blk *pb = model;
    struct vmm_disk *disk = pb->blk.disk;
    if (pb->watched_fd >= 0)
        vmm_loop_del_fd(pb->loop, pb->watched_fd);
    /* Waits for what is in flight, then closes the ring (its fd with it). */
    vmm_virtio_blk_fini(&pb->blk);
    vmm_disk_close(disk);
    free(pb);
}

static int add_blk(struct vmm_pc *pc, unsigned drive, struct vmm_error *err)
{
    char name[32];
    snprintf(name, sizeof(name), "virtio-blk%u", drive);
    struct vmm_pc_virtio *f = vmm_pc_virtio_new(pc, name, err);
    if (!f)
        return -ENOMEM;
    struct pc_blk *pb = calloc(1, sizeof(*pb));
    if (!pb) {
        vmm_error_set(err, -ENOMEM, "out of memory for %s", name);
        return -ENOMEM;
    }
    pb->loop = pc->vm->loop;
    pb->watched_fd = -1;
    struct vmm_virtio_blk *blk = &pb->blk;
    char serial[VIRTIO_BLK_ID_BYTES + 1];
    snprintf(serial, sizeof(serial), "TRM-VD%u", drive);
    const struct vmm_drive_config *d = &pc->vm->cfg.drives[drive];
    /*
     * Raw images: io_uring, several requests in flight, completions on the
     * event loop. qcow2 (or a kernel without io_uring): the I/O threads
     * (blk-io.c), each request's data moving outside the image's lock
     * (qcow2-io.c), so requests overlap and the event loop never waits for
     * the disk.
     */
    int r = vmm_virtio_blk_init(blk,
                                &(struct vmm_virtio_blk_opts){.disk = pc->disks[drive],
                                                              .read_only = d->readonly,
                                                              .serial = serial,
                                                              .num_queues = pc->vm->ncpus,
                                                              .io_uring = true,
                                                              .io_threads = PC_BLK_IO_THREADS},
                                &f->lock, &pc->vm->mem);
    if (r < 0) {
        free(pb);
        vmm_error_set(err, r, "%s: cannot set up the device for %s", name, d->path);
        return r;
    }
    pc->disks[drive] = NULL; /* the device owns the image now (blk_fini closes it) */
    r = vmm_pc_virtio_plug(f, &blk->vdev, VMM_VIRTIO_BLK_PCI_CLASS, pb, blk_fini, err);
    if (r < 0)
        return r;
    int fd = vmm_virtio_blk_uring_fd(blk);
    if (fd >= 0) {
        r = vmm_loop_add_fd(pb->loop, fd, EPOLLIN, blk_completions, blk);
        if (r < 0) {
            vmm_error_set(err, r, "%s: cannot watch its I/O completions", name);
            return r;
        }
        pb->watched_fd = fd;
    }
    vmm_log(VMM_LOG_INFO, "%s: %s, %s", name, d->path, fd >= 0 ? "io_uring" : "I/O threads");
    return 0;
}

static void rng_fini(void *model)
{
    vmm_virtio_rng_fini(model);
    free(model);
}

static int add_rng(struct vmm_pc *pc, struct vmm_error *err)
{
    struct vmm_pc_virtio *f = vmm_pc_virtio_new(pc, "virtio-rng", err);
    if (!f)
        return -ENOMEM;
    struct vmm_virtio_rng *rng = calloc(1, sizeof(*rng));
    if (!rng || vmm_virtio_rng_init(rng, &f->lock, &pc->vm->mem) < 0) {
        free(rng);
        vmm_error_set(err, -ENOMEM, "out of memory for virtio-rng");
        return -ENOMEM;
    }
    return vmm_pc_virtio_plug(f, &rng->vdev, VMM_VIRTIO_RNG_PCI_CLASS, rng, rng_fini, err);
}

struct pc_net {
    struct vmm_virtio_net net;
    struct vmm_net_user *user;
};

static void net_fini(void *model)
{
    struct pc_net *p = model;
    vmm_net_user_free(p->user); /* first: it hands frames to the device */
    vmm_virtio_net_fini(&p->net);
    free(p);
}

static const uint8_t default_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static int add_net(struct vmm_pc *pc, struct vmm_error *err)
{
    const struct vmm_config *cfg = &pc->vm->cfg;
    struct vmm_pc_virtio *f = vmm_pc_virtio_new(pc, "virtio-net", err);
    if (!f)
        return -ENOMEM;
    struct pc_net *p = calloc(1, sizeof(*p));
    if (!p) {
        vmm_error_set(err, -ENOMEM, "out of memory for virtio-net");
        return -ENOMEM;
    }
    static const uint8_t zero[6];
    struct vmm_virtio_net_opts o = {
        .mtu = VMM_NET_USER_MTU, .rx_csum_valid = true, .backend = {.tx = vmm_net_user_tx}};
    memcpy(o.mac, memcmp(cfg->mac, zero, 6) ? cfg->mac : default_mac, 6);
    int r = vmm_virtio_net_init(&p->net, &o, &f->lock, &pc->vm->mem);
    if (r < 0) {
        free(p);
        vmm_error_set(err, r, "virtio-net: %s",
                      r == -EINVAL ? "the MAC is multicast" : "no memory");
        return r;
    }
    p->user = vmm_net_user_new(&(struct vmm_net_user_opts){.loop = pc->vm->loop,
                                                           .net = &p->net,
                                                           .forwards = cfg->net_forwards,
                                                           .nforwards = cfg->net_nforwards},
                               err);
    if (!p->user) {
        vmm_virtio_net_fini(&p->net);
        free(p);
        return -EINVAL;
    }
    p->net.backend.opaque = p->user;
    return vmm_pc_virtio_plug(f, &p->net.vdev, VMM_VIRTIO_NET_PCI_CLASS, p, net_fini, err);
}

/* virtio-console on the serial streams of the configuration (COM1 then has none). */
struct pc_console {
    struct vmm_virtio_console con;
    struct vmm_pc *pc;
    int in_fd;
};

static void console_out(void *opaque, const uint8_t *buf, size_t len)
{
    struct pc_console *p = opaque;
    const struct vmm_config *cfg = &p->pc->vm->cfg;
    if (cfg->serial_out_cb)
        cfg->serial_out_cb(cfg->serial_out_opaque, buf, len);
    size_t done = 0;
    while (cfg->serial_out_fd >= 0 && done < len) {
        ssize_t n = write(cfg->serial_out_fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* a closed or full output loses bytes, never stalls the guest */
        done += (size_t)n;
    }
}

static void console_in_ready(void *opaque, int fd, uint32_t events)
{
    struct pc_console *p = opaque;
    uint8_t buf[512];
    (void)events;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
        vmm_virtio_console_input(&p->con, buf, (size_t)n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        vmm_loop_del_fd(p->pc->vm->loop, fd); /* end of input */
        p->in_fd = -1;
    }
}

static void console_fini(void *model)
{
    struct pc_console *p = model;
    if (p->in_fd >= 0)
        vmm_loop_del_fd(p->pc->vm->loop, p->in_fd);
    vmm_virtio_console_fini(&p->con);
    free(p);
}

static int add_console(struct vmm_pc *pc, struct vmm_error *err)
{
    struct vmm_pc_virtio *f = vmm_pc_virtio_new(pc, "virtio-console", err);
    if (!f)
        return -ENOMEM;
    struct pc_console *p = calloc(1, sizeof(*p));
    if (!p) {
        vmm_error_set(err, -ENOMEM, "out of memory for virtio-console");
        return -ENOMEM;
    }
    p->pc = pc;
    p->in_fd = -1;
    struct vmm_virtio_console_backend be = {.out = console_out, .opaque = p};
    if (vmm_virtio_console_init(&p->con, &be, &f->lock, &pc->vm->mem) < 0) {
        free(p);
        vmm_error_set(err, -ENOMEM, "out of memory for virtio-console");
        return -ENOMEM;
    }
    int in = pc->vm->cfg.serial_in_fd;
    if (in >= 0) {
        int r = vmm_loop_add_fd(pc->vm->loop, in, EPOLLIN, console_in_ready, p);
        if (r == -EPERM) {
            /* A file or /dev/null cannot be polled: the console simply has no input. */
        } else if (r < 0) {
            vmm_virtio_console_fini(&p->con);
            free(p);
            vmm_error_set(err, r, "virtio-console: cannot watch its input: %s", strerror(-r));
            return r;
        } else {
            p->in_fd = in;
        }
    }
    return vmm_pc_virtio_plug(f, &p->con.vdev, VMM_VIRTIO_CONSOLE_PCI_CLASS, p, console_fini, err);
}

static void balloon_fini(void *model)
{
    vmm_virtio_balloon_fini(model);
    free(model);
}

static int add_balloon(struct vmm_pc *pc, struct vmm_error *err)
{
    const struct vmm_config *cfg = &pc->vm->cfg;
    if (cfg->balloon_mib > cfg->mem_mib) {
        vmm_error_set(err, -EINVAL, "the balloon cannot take %llu MiB of a %llu MiB machine",
                      (unsigned long long)cfg->balloon_mib, (unsigned long long)cfg->mem_mib);
        return -EINVAL;
    }
    struct vmm_pc_virtio *f = vmm_pc_virtio_new(pc, "virtio-balloon", err);
    if (!f)
        return -ENOMEM;
    struct vmm_virtio_balloon *b = calloc(1, sizeof(*b));
    if (!b || vmm_virtio_balloon_init(b, (uint32_t)(cfg->balloon_mib * 256), &f->lock,
                                      &pc->vm->mem) < 0) {
        free(b);
        vmm_error_set(err, -ENOMEM, "out of memory for virtio-balloon");
        return -ENOMEM;
    }
    int r = vmm_pc_virtio_plug(f, &b->vdev, VMM_VIRTIO_BALLOON_PCI_CLASS, b, balloon_fini, err);
    if (!r)
        pc->balloon = b;
    return r;
}

int vmm_balloon_set_target(struct vmm_vm *vm, uint64_t mib)
{
    struct vmm_pc *pc = vm->pc;
    if (!pc || !pc->balloon)
        return -ENODEV;
    if (mib > vm->cfg.mem_mib)
        return -EINVAL;
    vmm_virtio_balloon_set_target(pc->balloon, (uint32_t)(mib * 256));
    vmm_virtio_balloon_request_stats(pc->balloon);
    return 0;
}

int vmm_balloon_query(struct vmm_vm *vm, struct vmm_balloon_info *info)
{
    struct vmm_pc *pc = vm->pc;
    if (!pc || !pc->balloon)
        return -ENODEV;
    struct vmm_virtio_balloon_stats s;
    vmm_virtio_balloon_get_stats(pc->balloon, &s);
    info->target_mib = s.target / 256;
    info->actual_mib = s.actual / 256;
    info->released_mib = s.inflated_pages / 256;
    return 0;
}

static void input_fini(void *model)
{
    vmm_virtio_input_fini(model);
    free(model);
}

static int add_input(struct vmm_pc *pc, enum vmm_virtio_input_kind kind,
                     struct vmm_virtio_input **out, struct vmm_error *err)
{
    const char *name = kind == VMM_VIRTIO_INPUT_KEYBOARD ? "virtio-keyboard" : "virtio-tablet";
    struct vmm_pc_virtio *f = vmm_pc_virtio_new(pc, name, err);
    if (!f)
        return -ENOMEM;
    struct vmm_virtio_input *in = calloc(1, sizeof(*in));
    if (!in || vmm_virtio_input_init(in, kind, &f->lock, &pc->vm->mem) < 0) {
        free(in);
        vmm_error_set(err, -ENOMEM, "out of memory for %s", name);
        return -ENOMEM;
    }
    int r = vmm_pc_virtio_plug(f, &in->vdev, VMM_VIRTIO_INPUT_PCI_CLASS, in, input_fini, err);
    if (!r)
        *out = in;
    return r;
}

int vmm_pc_virtio_init(struct vmm_pc *pc, struct vmm_error *err)
{
    struct vmm_vm *vm = pc->vm;
    const struct vmm_config *cfg = &vm->cfg;
    int any = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH);
    /* Drivers notify with a 16-bit write; any length catches other widths in the kernel too. */
    pc->ioeventfd_len = any > 0 ? 0 : 2;
    pc->next_virtio_slot = VMM_PC_VIRTIO_FIRST_SLOT;
    int r;
    for (unsigned i = 0; i < cfg->ndrives && i < VMM_MAX_DRIVES; i++) {
        if (cfg->drives[i].bus != VMM_DRIVE_VIRTIO)
            continue;
        r = add_blk(pc, i, err);
        if (r < 0)
            return r;
    }
    if (cfg->net_user) {
        r = add_net(pc, err);
        if (r < 0)
            return r;
    }
    if (cfg->rng && (r = add_rng(pc, err)) < 0)
        return r;
    if (cfg->console == VMM_CONSOLE_VIRTIO && (r = add_console(pc, err)) < 0)
        return r;
    if (cfg->balloon && (r = add_balloon(pc, err)) < 0)
        return r;
    if (cfg->tablet) {
        if ((r = add_input(pc, VMM_VIRTIO_INPUT_KEYBOARD, &pc->vkbd, err)) < 0 ||
            (r = add_input(pc, VMM_VIRTIO_INPUT_TABLET, &pc->vtablet, err)) < 0)
            return r;
    }
    return 0;
}

void vmm_pc_virtio_fini(struct vmm_pc *pc)
{
    for (unsigned i = 0; i < pc->nvirtio; i++)
        virtio_free(pc->virtio[i]);
    pc->nvirtio = 0;
}

/* ---- live state (snapshot/virtio-descs.c) ---- */

static void section_name(char *buf, size_t len, const char *prefix, const struct vmm_pc_virtio *f)
{
    snprintf(buf, len, "%s:%02x.%u", prefix, VMM_PCI_SLOT(f->vp.pci.devfn),
             VMM_PCI_FUNC(f->vp.pci.devfn));
}

void vmm_pc_virtio_freeze(struct vmm_pc *pc, bool frozen)
{
    for (unsigned i = 0; i < pc->nvirtio; i++) {
        struct vmm_pc_virtio *f = pc->virtio[i];
        if (!f->vp.vdev)
            continue;
        pthread_mutex_lock(&f->lock);
        vmm_virtio_dev_freeze(f->vp.vdev, frozen);
        /*
         * Requests already on virtio-blk's I/O threads (or io_uring) finish now,
         * their completions pushed before anything is captured; nothing new is
         * popped while frozen. (Resuming the guest until none was in flight
         * could take seconds of retries on a slow host.)
         */
        if (frozen && f->vp.vdev->device_id == VIRTIO_ID_BLOCK)
            vmm_virtio_blk_drain_locked(f->model);
        /* What was kicked (or received) meanwhile waits in the rings: look at every queue. */
        if (!frozen)
            for (unsigned q = 0; q < f->nq; q++)
                hook_kick_later(f, &f->vp, q);
        pthread_mutex_unlock(&f->lock);
    }
}

/* A virtio-blk function with requests on its I/O threads cannot be captured yet. */
static bool blk_busy(struct vmm_pc_virtio *f)
{
    if (f->vp.vdev->device_id != VIRTIO_ID_BLOCK)
        return false;
    struct vmm_virtio_blk *blk = f->model;
    pthread_mutex_lock(&f->lock);
    bool busy = blk->inflight != 0;
    pthread_mutex_unlock(&f->lock);
    return busy;
}

int vmm_pc_virtio_save(struct vmm_pc *pc, struct vmm_state_writer *w, struct vmm_error *err)
{
    for (unsigned i = 0; i < pc->nvirtio; i++) {
        if (pc->virtio[i]->vp.vdev && blk_busy(pc->virtio[i])) {
            vmm_error_set(err, -EBUSY, "%s has requests in flight", pc->virtio[i]->name);
            return -EBUSY;
        }
    }
    int r = 0;
    for (unsigned i = 0; r == 0 && i < pc->nvirtio; i++) {
        struct vmm_pc_virtio *f = pc->virtio[i];
        if (!f->vp.vdev)
            continue;
        char name[32];
        section_name(name, sizeof(name), "virtio", f);
        r = vmm_snapshot_add_desc(w, name, &vmm_virtio_pci_state_desc, &f->vp, &f->lock, err);
        const struct vmm_state_desc *d = vmm_virtio_model_state_desc(f->vp.vdev->device_id);
        if (r == 0 && d) {
            section_name(name, sizeof(name), "virtio-dev", f);
            r = vmm_snapshot_add_desc(w, name, d, f->model, &f->lock, err);
        }
    }
    return r;
}

static struct vmm_pc_virtio *find_devfn(struct vmm_pc *pc, unsigned slot, unsigned fn)
{
    for (unsigned i = 0; i < pc->nvirtio; i++) {
        struct vmm_pc_virtio *f = pc->virtio[i];
        if (f->vp.vdev && f->vp.pci.devfn == VMM_PCI_DEVFN(slot, fn))
            return f;
    }
    return NULL;
}

int vmm_pc_virtio_load(struct vmm_pc *pc, const struct vmm_state_file *file, struct vmm_error *err)
{
    /* Every saved virtio function must be one of ours (the reverse is checked below). */
    for (unsigned i = 0; i < file->nsections; i++) {
        const char *n = file->sec[i].name;
        unsigned slot, fn;
        char tail;
        if (sscanf(n, "virtio:%2x.%1u%c", &slot, &fn, &tail) != 2 &&
            sscanf(n, "virtio-dev:%2x.%1u%c", &slot, &fn, &tail) != 2)
            continue;
        if (!find_devfn(pc, slot, fn)) {
            vmm_error_set(err, -EINVAL,
                          "the saved machine has a virtio device (%s) this machine lacks: restore "
                          "it with the same devices",
                          n);
            return -EINVAL;
        }
    }
    int r = 0;
    for (unsigned i = 0; r == 0 && i < pc->nvirtio; i++) {
        struct vmm_pc_virtio *f = pc->virtio[i];
        if (!f->vp.vdev)
            continue;
        char name[32];
        section_name(name, sizeof(name), "virtio", f);
        r = vmm_snapshot_load_desc(file, name, &vmm_virtio_pci_state_desc, &f->vp, &f->lock, err);
        const struct vmm_state_desc *d = vmm_virtio_model_state_desc(f->vp.vdev->device_id);
        section_name(name, sizeof(name), "virtio-dev", f);
        if (r == 0 && d) {
            r = vmm_snapshot_load_desc(file, name, d, f->model, &f->lock, err);
        } else if (r == 0 && vmm_state_file_find(file, name)) {
            r = -EINVAL;
            vmm_error_set(err, r, "the saved machine's %s is another kind of device", f->name);
        }
        if (r == 0 && f->nq) {
            /*
             * The guest may have kicked just before the save, and that kick
             * is gone with the old process: the event loop looks at every
             * queue once when it starts.
             */
            pthread_mutex_lock(&f->lock);
            for (unsigned q = 0; q < f->nq; q++)
                hook_kick_later(f, &f->vp, q);
            pthread_mutex_unlock(&f->lock);
        }
    }
    if (r < 0 && err && !err->msg[0])
        vmm_error_set(err, r, "the saved virtio state is invalid");
    return r;
}

unsigned vmm_pc_virtio_disks(struct vmm_pc *pc, struct vmm_pc_disk_ref *out, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < pc->nvirtio && n < max; i++) {
        struct vmm_pc_virtio *f = pc->virtio[i];
        if (!f->vp.vdev || f->vp.vdev->device_id != VIRTIO_ID_BLOCK)
            continue;
        struct vmm_virtio_blk *blk = f->model;
        out[n++] = (struct vmm_pc_disk_ref){.disk = blk->disk, .lock = &f->lock, .blk = blk};
    }
    return n;
}
