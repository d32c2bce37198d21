/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Attaches the 16550A model to a VM: PIO claim, GSI, host output fd and
 * callback, host input fd pumped by the event loop with backpressure.
 */
#include "hw/serial.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

struct serial_host {
    struct vmm_serial s; /* first: vmm_serial_create() hands out &h->s */
    struct vmm_irq irq;

    int out_fd;
    bool out_dead; /* a hard error (EPIPE, EBADF, ...): stop writing */
    vmm_serial_out_fn cb;
    void *cb_opaque;

    /*
     * Input state. in_lock is taken before the device lock (the pump calls
     * vmm_serial_receive() under it) and never the other way round: the
     * model calls rx_space_ready() with its lock dropped.
     */
    pthread_mutex_t in_lock;
    struct vmm_loop *loop;
    int in_fd;
    bool in_watched;                    /* registered with the loop */
    bool in_armed;                      /* EPOLLIN requested */
    bool in_done;                       /* EOF or error: never read again */
    uint8_t pend[VMM_SERIAL_FIFO_SIZE]; /* read from in_fd, not yet taken by the FIFO */
    size_t pend_off, pend_len;
};

static struct serial_host *host_of(struct vmm_serial *s)
{
    return (struct serial_host *)s;
}

/* Output --------------------------------------------------------------------- */

/*
 * write() with SIGPIPE held back: a reader that went away must cost us only
 * the bytes, not the process. A SIGPIPE that was already pending before we
 * started is left alone.
 */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);

    ssize_t r = write(fd, buf, len);
    int saved = errno;

    if (r < 0 && saved == EPIPE && !was_pending) {
        static const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return r;
}

static void out_to_fd(struct serial_host *h, const uint8_t *buf, size_t len)
{
    while (len && !h->out_dead) {
        ssize_t r = write_nosigpipe(h->out_fd, buf, len);
        if (r > 0) {
            buf += r;
            len -= (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* Never stall the vCPU on a full non-blocking sink. */
            vmm_log_ratelimited(VMM_LOG_WARN, "serial: output fd full, dropped %zu bytes", len);
            return;
        }
        h->out_dead = true;
        vmm_log(VMM_LOG_WARN, "serial: writing guest output failed (%s); further output dropped",
                r < 0 ? strerror(errno) : "wrote nothing");
    }
}

/* Model callback: called with the device lock dropped, one caller at a time. */
static void serial_out(void *opaque, const uint8_t *buf, size_t len)
{
    struct serial_host *h = opaque;
    if (h->out_fd >= 0)
        out_to_fd(h, buf, len);
    if (h->cb)
        h->cb(h->cb_opaque, buf, len);
}

/* Input ---------------------------------------------------------------------- */

static void set_armed(struct serial_host *h, bool on)
{
    if (!h->in_watched || h->in_armed == on)
        return;
    int r = vmm_loop_mod_fd(h->loop, h->in_fd, on ? EPOLLIN : 0);
    if (r < 0) {
        vmm_log_ratelimited(VMM_LOG_WARN, "serial: cannot %s input fd: %s", on ? "resume" : "pause",
                            strerror(-r));
        return;
    }
    h->in_armed = on;
}

static void stop_input(struct serial_host *h)
{
    h->in_done = true;
    if (h->in_watched) {
        vmm_loop_del_fd(h->loop, h->in_fd);
        h->in_watched = false;
        h->in_armed = false;
    }
}

/* Offers buffered bytes to the FIFO; true when none are left over. */
static bool push_pending(struct serial_host *h)
{
    size_t n = vmm_serial_receive(&h->s, h->pend + h->pend_off, h->pend_len);
    h->pend_off += n;
    h->pend_len -= n;
    return h->pend_len == 0;
}

/*
 * Moves input into the FIFO until it is full, input would block, or it ends.
 * A watched fd gets one read per readiness report (it may be a blocking tty;
 * the loop is level-triggered and calls again while data remains). An fd
 * epoll cannot watch never blocks, so it is read until the FIFO is full.
 * Called with in_lock held.
 */
static void pump_input(struct serial_host *h, bool may_read)
{
    for (;;) {
        if (h->pend_len && !push_pending(h)) {
            set_armed(h, false); /* the FIFO is full; rx_space_ready() resumes */
            return;
        }
        if (h->in_done || !may_read)
            break;
        size_t space = vmm_serial_rx_space(&h->s);
        if (!space) {
            set_armed(h, false);
            return;
        }
        ssize_t r;
        do {
            r = read(h->in_fd, h->pend, space);
        } while (r < 0 && errno == EINTR);
        if (r == 0) {
            stop_input(h);
            break;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            vmm_log(VMM_LOG_WARN, "serial: reading input failed (%s); input closed",
                    strerror(errno));
            stop_input(h);
            break;
        }
        h->pend_off = 0;
        h->pend_len = (size_t)r;
        if (h->in_watched)
            may_read = false; /* push what we got, then wait for the next report */
    }
    if (!h->in_done)
        set_armed(h, true);
}

static void in_ready(void *opaque, int fd, uint32_t events)
{
    struct serial_host *h = opaque;

    pthread_mutex_lock(&h->in_lock);
    if (h->in_watched && (events & (EPOLLHUP | EPOLLERR))) {
        /*
         * Hang-up is reported even while the watch is quiet, and would be
         * reported again and again while the FIFO is full. Reads can no
         * longer block, so drop the watch and read on demand from now on.
         */
        vmm_loop_del_fd(h->loop, fd);
        h->in_watched = false;
        h->in_armed = false;
    }
    if (!h->in_done || h->pend_len)
        pump_input(h, true);
    pthread_mutex_unlock(&h->in_lock);
}

/* Model notify: the guest freed RX space after we found the FIFO full. */
static void rx_space_ready(void *opaque)
{
    struct serial_host *h = opaque;

    pthread_mutex_lock(&h->in_lock);
    /* A watched fd is read on the loop thread only (this is a vCPU); re-arming does that. */
    pump_input(h, !h->in_watched);
    pthread_mutex_unlock(&h->in_lock);
}

/* Create / destroy ----------------------------------------------------------- */

struct vmm_serial *vmm_serial_create(struct vmm_vm *vm, uint16_t port, unsigned gsi, int out_fd,
                                     vmm_serial_out_fn cb, void *cb_opaque, int in_fd,
                                     struct vmm_loop *loop, struct vmm_error *err)
{
    struct serial_host *h = calloc(1, sizeof(*h));
    if (!h) {
        vmm_error_set(err, -ENOMEM, "Out of memory creating the serial port.");
        return NULL;
    }
    h->out_fd = out_fd;
    h->cb = cb;
    h->cb_opaque = cb_opaque;
    h->loop = loop;
    h->in_fd = in_fd;
    h->in_done = in_fd < 0;
    pthread_mutex_init(&h->in_lock, NULL);

    vmm_irq_init_gsi(vm, &h->irq, gsi);
    vmm_serial_init(&h->s, &h->irq, (out_fd >= 0 || cb) ? serial_out : NULL, h);
    vmm_serial_set_rx_notify(&h->s, rx_space_ready, h);
    h->s.dev.vm = vm;

    /* Claimed before input starts: a claim cannot be undone, an fd watch can. */
    int r = vmm_iotrap_add(vm, VMM_IO_PIO, port, VMM_SERIAL_NREGS, &vmm_serial_ops, &h->s);
    if (r < 0) {
        vmm_error_set(err, r, "The serial port at I/O port 0x%x could not be set up (%s).", port,
                      strerror(-r));
        vmm_serial_fini(&h->s);
        pthread_mutex_destroy(&h->in_lock);
        free(h);
        return NULL;
    }

    if (in_fd >= 0) {
        pthread_mutex_lock(&h->in_lock);
        r = loop ? vmm_loop_add_fd(loop, in_fd, EPOLLIN, in_ready, h) : -ENOTSUP;
        if (r == 0) {
            h->in_watched = true;
            h->in_armed = true;
        } else if (r == -EPERM) {
            /*
             * epoll refuses fds that are always readable (regular files,
             * /dev/null): reads never block, so read them as the guest drains.
             */
            pump_input(h, true);
        } else {
            vmm_log(VMM_LOG_WARN, "serial: input disabled, cannot watch fd %d: %s", in_fd,
                    strerror(-r));
            h->in_done = true;
        }
        pthread_mutex_unlock(&h->in_lock);
    }
    return &h->s;
}

void vmm_serial_destroy(struct vmm_serial *s)
{
    if (!s)
        return;
    struct serial_host *h = host_of(s);

    /* Not under in_lock: del waits for a running in_ready(), which takes it. */
    pthread_mutex_lock(&h->in_lock);
    bool watched = h->in_watched;
    h->in_watched = false;
    h->in_done = true;
    pthread_mutex_unlock(&h->in_lock);
    if (watched)
        vmm_loop_del_fd(h->loop, h->in_fd);

    vmm_serial_fini(&h->s);
    pthread_mutex_destroy(&h->in_lock);
    free(h);
}
