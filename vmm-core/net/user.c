/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * User-mode networking: libslirp driven from the VM's epoll event loop.
 * See user.h for the threading rules.
 */
#include "net/user.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <slirp/libslirp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "core/log.h"
#include "virtio/net.h"

/*
 * libslirp is loaded when the first user network starts, not linked: it
 * brings GLib and PCRE2 with it, and a machine without a network (every
 * direct kernel boot, say) would load and relocate them for nothing at each
 * start. The functions are the 4.1 API's, looked up once for the process.
 */
#define SLIRP_SONAME "libslirp.so.0"

static struct {
    __typeof__(slirp_new) *new_;
    __typeof__(slirp_cleanup) *cleanup;
    __typeof__(slirp_input) *input;
    __typeof__(slirp_pollfds_fill) *pollfds_fill;
    __typeof__(slirp_pollfds_poll) *pollfds_poll;
    __typeof__(slirp_add_hostfwd) *add_hostfwd;
} S;
static pthread_once_t slirp_once = PTHREAD_ONCE_INIT;
static char slirp_error[256];

static void load_slirp(void)
{
    void *h = dlopen(SLIRP_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(slirp_error, sizeof(slirp_error), "%s", e ? e : "not found");
        return;
    }
    /* Never closed: slirp is used until the process ends. */
    S.new_ = (__typeof__(S.new_))dlsym(h, "slirp_new");
    S.cleanup = (__typeof__(S.cleanup))dlsym(h, "slirp_cleanup");
    S.input = (__typeof__(S.input))dlsym(h, "slirp_input");
    S.pollfds_fill = (__typeof__(S.pollfds_fill))dlsym(h, "slirp_pollfds_fill");
    S.pollfds_poll = (__typeof__(S.pollfds_poll))dlsym(h, "slirp_pollfds_poll");
    S.add_hostfwd = (__typeof__(S.add_hostfwd))dlsym(h, "slirp_add_hostfwd");
    if (!S.new_ || !S.cleanup || !S.input || !S.pollfds_fill || !S.pollfds_poll || !S.add_hostfwd) {
        snprintf(slirp_error, sizeof(slirp_error), "%s lacks the functions of libslirp 4.1",
                 SLIRP_SONAME);
        S.new_ = NULL;
    }
}

#define TX_QUEUE 256
#define POLL_TICK_MS 500 /* slirp's own timeouts are checked at least this often */

struct user_timer {
    struct user_timer *next;
    SlirpTimerCb cb;
    void *cb_opaque;
    int64_t expire_ms; /* -1: not armed */
};

struct tx_frame {
    size_t len;
    uint8_t data[];
};

struct pollent {
    int fd;
    int events; /* SLIRP_POLL_* */
};

struct vmm_net_user {
    pthread_mutex_t lock; /* slirp and everything below; only the loop thread takes it */
    Slirp *slirp;
    struct vmm_loop *loop;
    struct vmm_virtio_net *net;
    int timer_fd;
    int kick_fd;
    struct user_timer *timers;

    /* What slirp asked to poll at the last fill, and what epoll watches. */
    struct pollent *fill, *watched;
    unsigned nfill, nwatched, cap;
    int fired_fd;
    uint32_t fired_events;

    /* Frames from the guest, waiting for the loop (own lock: any thread adds). */
    pthread_mutex_t tx_lock;
    struct tx_frame *txq[TX_QUEUE];
    unsigned tx_head, tx_count;
    uint64_t tx_dropped;
};

/* ---- slirp callbacks (slirp calls them with u->lock held, on the loop thread) ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct vmm_net_user *u = opaque;
    int r = vmm_virtio_net_receive(u->net, buf, len);
    return r < 0 && r != -ENOBUFS ? r : (ssize_t)len; /* a full backlog drops, like a wire */
}

static void cb_guest_error(const char *msg, void *opaque)
{
    (void)opaque;
    vmm_log_ratelimited(VMM_LOG_INFO, "user networking: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    (void)opaque;
    return vmm_now_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct vmm_net_user *u = opaque;
    struct user_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    t->expire_ms = -1;
    t->next = u->timers;
    u->timers = t;
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct vmm_net_user *u = opaque;
    for (struct user_timer **p = &u->timers; *p; p = &(*p)->next) {
        if (*p == timer) {
            *p = ((struct user_timer *)timer)->next;
            free(timer);
            return;
        }
    }
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    (void)opaque;
    if (timer)
        ((struct user_timer *)timer)->expire_ms = expire_ms;
    /* The timerfd is re-armed by the sync that follows every slirp call. */
}

static void cb_register_poll_fd(int fd, void *opaque)
{
    (void)fd;
    (void)opaque; /* picked up by the next fill */
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
    struct vmm_net_user *u = opaque;
    /* Closed by slirp: stop watching now, before the number can be reused. */
    for (unsigned i = 0; i < u->nwatched; i++) {
        if (u->watched[i].fd == fd) {
            vmm_loop_del_fd(u->loop, fd);
            u->watched[i] = u->watched[--u->nwatched];
            return;
        }
    }
}

static void cb_notify(void *opaque)
{
    (void)opaque; /* we resynchronise after every call into slirp anyway */
}

static const SlirpCb slirp_cbs = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
};

/* ---- the poll set on epoll ---- */

static int add_poll(int fd, int events, void *opaque)
{
    struct vmm_net_user *u = opaque;
    if (u->nfill == u->cap) {
        unsigned cap = u->cap ? u->cap * 2 : 32;
        struct pollent *f = realloc(u->fill, cap * sizeof(*f));
        if (!f)
            return -1;
        u->fill = f;
        struct pollent *w = realloc(u->watched, cap * sizeof(*w));
        if (!w)
            return -1;
        u->watched = w;
        u->cap = cap;
    }
    u->fill[u->nfill] = (struct pollent){fd, events};
    return (int)u->nfill++;
}

/* slirp's poll bits and epoll's, both ways. */
static const struct {
    int slirp;
    uint32_t epoll;
} poll_bits[] = {
    {SLIRP_POLL_IN, EPOLLIN},   {SLIRP_POLL_OUT, EPOLLOUT}, {SLIRP_POLL_PRI, EPOLLPRI},
    {SLIRP_POLL_ERR, EPOLLERR}, {SLIRP_POLL_HUP, EPOLLHUP},
};

static int get_revents(int idx, void *opaque)
{
    struct vmm_net_user *u = opaque;
    if (idx < 0 || (unsigned)idx >= u->nfill || u->fill[idx].fd != u->fired_fd)
        return 0;
    int r = 0;
    for (unsigned i = 0; i < sizeof(poll_bits) / sizeof(poll_bits[0]); i++)
        if (u->fired_events & poll_bits[i].epoll)
            r |= poll_bits[i].slirp;
    return r & (u->fill[idx].events | SLIRP_POLL_ERR | SLIRP_POLL_HUP);
}

/* slirp's wishes as epoll events (epoll reports errors and hang-ups unasked). */
static uint32_t to_epoll(int events)
{
    uint32_t e = 0;
    for (unsigned i = 0; i < sizeof(poll_bits) / sizeof(poll_bits[0]); i++)
        if (events & poll_bits[i].slirp)
            e |= poll_bits[i].epoll;
    return e;
}

static void socket_ready(void *opaque, int fd, uint32_t events);

static uint32_t fill_locked(struct vmm_net_user *u)
{
    uint32_t timeout = POLL_TICK_MS;
    u->nfill = 0;
    S.pollfds_fill(u->slirp, &timeout, add_poll, u);
    return timeout;
}

/* Makes epoll watch what the last fill asked for; re-arms the timer. Lock held. */
static void sync_locked(struct vmm_net_user *u)
{
    uint32_t timeout = fill_locked(u);
    /* Drop watches slirp no longer wants. */
    for (unsigned i = 0; i < u->nwatched;) {
        bool keep = false;
        for (unsigned j = 0; j < u->nfill && !keep; j++)
            keep = u->fill[j].fd == u->watched[i].fd;
        if (keep) {
            i++;
            continue;
        }
        vmm_loop_del_fd(u->loop, u->watched[i].fd);
        u->watched[i] = u->watched[--u->nwatched];
    }
    /* Add new ones, update changed ones. */
    for (unsigned j = 0; j < u->nfill; j++) {
        int fd = u->fill[j].fd;
        uint32_t ev = to_epoll(u->fill[j].events);
        unsigned i;
        for (i = 0; i < u->nwatched && u->watched[i].fd != fd; i++)
            ;
        if (i < u->nwatched) {
            if (u->watched[i].events != u->fill[j].events) {
                if (vmm_loop_mod_fd(u->loop, fd, ev) < 0) {
                    vmm_loop_del_fd(u->loop, fd);
                    if (vmm_loop_add_fd(u->loop, fd, ev, socket_ready, u) < 0) {
                        u->watched[i] = u->watched[--u->nwatched];
                        continue;
                    }
                }
                u->watched[i].events = u->fill[j].events;
            }
            continue;
        }
        if (vmm_loop_add_fd(u->loop, fd, ev, socket_ready, u) < 0) {
            vmm_log_ratelimited(VMM_LOG_WARN, "user networking: cannot watch socket %d", fd);
            continue;
        }
        u->watched[u->nwatched++] = u->fill[j];
    }
    /* The timer: the earliest slirp timer, or the poll tick. */
    int64_t now_ms = vmm_now_ns() / 1000000;
    int64_t deadline = now_ms + timeout;
    for (struct user_timer *t = u->timers; t; t = t->next)
        if (t->expire_ms >= 0 && t->expire_ms < deadline)
            deadline = t->expire_ms;
    if (deadline <= now_ms)
        deadline = now_ms + 1;
    int64_t ns = (deadline - now_ms) * 1000000;
    struct itimerspec its = {.it_value = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000}};
    if (timerfd_settime(u->timer_fd, 0, &its, NULL) < 0)
        vmm_log_ratelimited(VMM_LOG_WARN, "user networking: cannot arm its timer");
}

/* One round of slirp's socket processing, with fd (or none, -1) ready. Lock held. */
static void poll_locked(struct vmm_net_user *u, int fd, uint32_t events)
{
    fill_locked(u); /* fresh indexes for get_revents */
    u->fired_fd = fd;
    u->fired_events = events;
    S.pollfds_poll(u->slirp, 0, get_revents, u);
    u->fired_fd = -1;
}

static void drain_tx_locked(struct vmm_net_user *u)
{
    for (;;) {
        pthread_mutex_lock(&u->tx_lock);
        struct tx_frame *f = NULL;
        if (u->tx_count) {
            f = u->txq[u->tx_head];
            u->txq[u->tx_head] = NULL;
            u->tx_head = (u->tx_head + 1) % TX_QUEUE;
            u->tx_count--;
        }
        pthread_mutex_unlock(&u->tx_lock);
        if (!f)
            return;
        S.input(u->slirp, f->data, (int)f->len);
        free(f);
    }
}

/* After slirp ran: frames it produced go to the guest (outside our lock). */
static void flush_rx(struct vmm_net_user *u)
{
    if (vmm_virtio_net_rx_flush(u->net)) {
        uint64_t one = 1;
        if (write(u->kick_fd, &one, sizeof(one)) < 0)
            vmm_log_ratelimited(VMM_LOG_WARN, "user networking: cannot reschedule");
    }
}

/*
 * The common end of every event: epoll watches what slirp now wants, the
 * lock is dropped, and what slirp produced goes to the guest.
 */
static void end_round_unlock(struct vmm_net_user *u)
{
    sync_locked(u);
    pthread_mutex_unlock(&u->lock);
    flush_rx(u);
}

/* Consumes a timerfd/eventfd's counter; false if the read failed (nothing to do then). */
static bool take_count(int fd)
{
    uint64_t n;
    return read(fd, &n, sizeof(n)) >= 0 || errno == EAGAIN;
}

static void socket_ready(void *opaque, int fd, uint32_t events)
{
    struct vmm_net_user *u = opaque;
    pthread_mutex_lock(&u->lock);
    poll_locked(u, fd, events);
    end_round_unlock(u);
}

static void timer_ready(void *opaque, int fd, uint32_t events)
{
    struct vmm_net_user *u = opaque;
    (void)events;
    if (!take_count(fd))
        return;
    pthread_mutex_lock(&u->lock);
    int64_t now_ms = vmm_now_ns() / 1000000;
    /* A timer callback may free or re-arm timers: restart the walk after each (bounded). */
    for (unsigned round = 0, again = 1; again && round < 64; round++) {
        again = 0;
        for (struct user_timer *t = u->timers; t; t = t->next) {
            if (t->expire_ms >= 0 && t->expire_ms <= now_ms) {
                t->expire_ms = -1;
                t->cb(t->cb_opaque);
                again = 1;
                break;
            }
        }
    }
    poll_locked(u, -1, 0);
    end_round_unlock(u);
}

static void kick_ready(void *opaque, int fd, uint32_t events)
{
    struct vmm_net_user *u = opaque;
    (void)events;
    if (!take_count(fd))
        return;
    pthread_mutex_lock(&u->lock);
    drain_tx_locked(u);
    end_round_unlock(u);
}

void vmm_net_user_tx(void *opaque, const uint8_t *frame, size_t len)
{
    struct vmm_net_user *u = opaque;
    struct tx_frame *f = malloc(sizeof(*f) + len);
    if (!f)
        return;
    f->len = len;
    memcpy(f->data, frame, len);
    pthread_mutex_lock(&u->tx_lock);
    bool wake = u->tx_count == 0;
    if (u->tx_count == TX_QUEUE) {
        u->tx_dropped++;
        pthread_mutex_unlock(&u->tx_lock);
        free(f);
        return;
    }
    u->txq[(u->tx_head + u->tx_count++) % TX_QUEUE] = f;
    pthread_mutex_unlock(&u->tx_lock);
    uint64_t one = 1;
    if (wake && write(u->kick_fd, &one, sizeof(one)) < 0)
        vmm_log_ratelimited(VMM_LOG_WARN, "user networking: cannot wake the loop");
}

/* ---- lifetime ---- */

static struct in_addr ip4(uint32_t host_order)
{
    return (struct in_addr){.s_addr = htonl(host_order)};
}

struct vmm_net_user *vmm_net_user_new(const struct vmm_net_user_opts *o, struct vmm_error *err)
{
    pthread_once(&slirp_once, load_slirp);
    if (!S.new_) {
        vmm_error_set(err, -ENOENT, "user networking needs libslirp (Debian package libslirp0): %s",
                      slirp_error);
        return NULL;
    }
    struct vmm_net_user *u = calloc(1, sizeof(*u));
    if (!u) {
        vmm_error_set(err, -ENOMEM, "out of memory for user networking");
        return NULL;
    }
    pthread_mutex_init(&u->lock, NULL);
    pthread_mutex_init(&u->tx_lock, NULL);
    u->loop = o->loop;
    u->net = o->net;
    u->fired_fd = -1;
    u->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    u->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (u->timer_fd < 0 || u->kick_fd < 0) {
        vmm_error_set(err, -EMFILE, "user networking: out of file descriptors");
        vmm_net_user_free(u);
        return NULL;
    }
    SlirpConfig cfg = {
        .version = 1,
        .restricted = 0,
        .in_enabled = true,
        .vnetwork = ip4(0x0a000200), /* 10.0.2.0 */
        .vnetmask = ip4(0xffffff00), /* /24 */
        .vhost = ip4(0x0a000202),    /* 10.0.2.2: the host */
        .vhostname = "terrarium",
        .vdhcp_start = ip4(0x0a00020f), /* 10.0.2.15 */
        .vnameserver = ip4(0x0a000203), /* 10.0.2.3 */
        .if_mtu = VMM_NET_USER_MTU,
        .if_mru = VMM_NET_USER_MTU,
    };
    u->slirp = S.new_(&cfg, &slirp_cbs, u);
    if (!u->slirp) {
        vmm_error_set(err, -ENOMEM, "user networking: libslirp would not start");
        vmm_net_user_free(u);
        return NULL;
    }
    for (unsigned i = 0; i < o->nforwards; i++) {
        const struct vmm_net_forward *f = &o->forwards[i];
        if (S.add_hostfwd(u->slirp, 0, ip4(f->host_addr), f->host_port, ip4(0x0a00020f),
                          f->guest_port) < 0) {
            int e = errno ? errno : EADDRINUSE;
            vmm_error_set(err, -e,
                          "user networking: cannot listen on %u.%u.%u.%u:%u for the forward to "
                          "guest port %u: %s",
                          f->host_addr >> 24, (f->host_addr >> 16) & 255, (f->host_addr >> 8) & 255,
                          f->host_addr & 255, f->host_port, f->guest_port, strerror(e));
            vmm_net_user_free(u);
            return NULL;
        }
    }
    if (vmm_loop_add_fd(u->loop, u->timer_fd, EPOLLIN, timer_ready, u) < 0 ||
        vmm_loop_add_fd(u->loop, u->kick_fd, EPOLLIN, kick_ready, u) < 0) {
        vmm_error_set(err, -ENOMEM, "user networking: cannot join the event loop");
        vmm_net_user_free(u);
        return NULL;
    }
    pthread_mutex_lock(&u->lock);
    sync_locked(u);
    pthread_mutex_unlock(&u->lock);
    return u;
}

void vmm_net_user_free(struct vmm_net_user *u)
{
    if (!u)
        return;
    if (u->timer_fd >= 0)
        vmm_loop_del_fd(u->loop, u->timer_fd);
    if (u->kick_fd >= 0)
        vmm_loop_del_fd(u->loop, u->kick_fd);
    for (unsigned i = 0; i < u->nwatched; i++)
        vmm_loop_del_fd(u->loop, u->watched[i].fd);
    u->nwatched = 0;
    if (u->slirp)
        S.cleanup(u->slirp); /* frees its timers through cb_timer_free */
    while (u->timers) {
        struct user_timer *t = u->timers;
        u->timers = t->next;
        free(t);
    }
    for (unsigned i = 0; i < u->tx_count; i++)
        free(u->txq[(u->tx_head + i) % TX_QUEUE]);
    if (u->timer_fd >= 0)
        close(u->timer_fd);
    if (u->kick_fd >= 0)
        close(u->kick_fd);
    free(u->fill);
    free(u->watched);
    pthread_mutex_destroy(&u->lock);
    pthread_mutex_destroy(&u->tx_lock);
    free(u);
}
