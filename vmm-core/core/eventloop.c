/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/eventloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"

/*
 * Watches live in a small array; epoll carries the watch's fd and the loop
 * looks the watch up under the lock, so a watch removed from another thread
 * is never called after vmm_loop_del_fd() returns... except for a callback
 * that is already running, which finishes first (del waits for it).
 */
struct watch {
    int fd;
    vmm_loop_fd_fn fn;
    void *opaque;
};

struct vmm_loop {
    int epfd;
    int wakefd;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int busy_fd; /* fd whose callback is running, -1 if none */
    struct watch *watches;
    unsigned count, cap;
};

struct vmm_loop *vmm_loop_create(void)
{
    struct vmm_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    loop->busy_fd = -1;
    pthread_mutex_init(&loop->lock, NULL);
    pthread_cond_init(&loop->idle, NULL);
    if (loop->epfd < 0 || loop->wakefd < 0) {
        vmm_loop_destroy(loop);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = loop->wakefd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0) {
        vmm_loop_destroy(loop);
        return NULL;
    }
    return loop;
}

static struct watch *find_watch(struct vmm_loop *loop, int fd)
{
    for (unsigned i = 0; i < loop->count; i++)
        if (loop->watches[i].fd == fd)
            return &loop->watches[i];
    return NULL;
}

static void *loop_thread(void *arg)
{
    struct vmm_loop *loop = arg;
    struct epoll_event evs[16];
    for (;;) {
        int n = epoll_wait(loop->epfd, evs, 16, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            vmm_log(VMM_LOG_ERROR, "event loop: epoll_wait failed: errno %d", errno);
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == loop->wakefd) {
                uint64_t v;
                if (read(loop->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    vmm_log(VMM_LOG_WARN, "event loop: wake read failed");
                pthread_mutex_lock(&loop->lock);
                bool stop = !loop->running;
                pthread_mutex_unlock(&loop->lock);
                if (stop)
                    return NULL;
                continue;
            }
            pthread_mutex_lock(&loop->lock);
            struct watch *w = find_watch(loop, fd);
            if (!w) {
                pthread_mutex_unlock(&loop->lock);
                continue;
            }
            struct watch copy = *w;
            loop->busy_fd = fd;
            pthread_mutex_unlock(&loop->lock);
            copy.fn(copy.opaque, fd, evs[i].events);
            pthread_mutex_lock(&loop->lock);
            loop->busy_fd = -1;
            pthread_cond_broadcast(&loop->idle);
            pthread_mutex_unlock(&loop->lock);
        }
    }
}

int vmm_loop_start(struct vmm_loop *loop)
{
    sigset_t all, old;
    sigfillset(&all);
    /* The loop thread takes no signals: they belong to the front end and the vCPUs. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    loop->running = true;
    int r = pthread_create(&loop->thread, NULL, loop_thread, loop);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r) {
        loop->running = false;
        return -r;
    }
    return 0;
}

void vmm_loop_stop(struct vmm_loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    bool was = loop->running;
    loop->running = false;
    pthread_mutex_unlock(&loop->lock);
    if (!was)
        return;
    uint64_t one = 1;
    if (write(loop->wakefd, &one, sizeof(one)) < 0)
        vmm_log(VMM_LOG_WARN, "event loop: wake write failed");
    if (!pthread_equal(pthread_self(), loop->thread))
        pthread_join(loop->thread, NULL);
    else
        pthread_detach(loop->thread);
}

void vmm_loop_destroy(struct vmm_loop *loop)
{
    if (!loop)
        return;
    vmm_loop_stop(loop);
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    pthread_mutex_destroy(&loop->lock);
    pthread_cond_destroy(&loop->idle);
    free(loop->watches);
    free(loop);
}

int vmm_loop_add_fd(struct vmm_loop *loop, int fd, uint32_t events, vmm_loop_fd_fn fn, void *opaque)
{
    pthread_mutex_lock(&loop->lock);
    int r = 0;
    if (find_watch(loop, fd)) {
        r = -EEXIST;
        goto out;
    }
    if (loop->count == loop->cap) {
        unsigned cap = loop->cap ? loop->cap * 2 : 8;
        struct watch *n = realloc(loop->watches, cap * sizeof(*n));
        if (!n) {
            r = -ENOMEM;
            goto out;
        }
        loop->watches = n;
        loop->cap = cap;
    }
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        r = -errno;
        goto out;
    }
    loop->watches[loop->count++] = (struct watch){fd, fn, opaque};
out:
    pthread_mutex_unlock(&loop->lock);
    return r;
}

int vmm_loop_mod_fd(struct vmm_loop *loop, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void vmm_loop_del_fd(struct vmm_loop *loop, int fd)
{
    pthread_mutex_lock(&loop->lock);
    struct watch *w = find_watch(loop, fd);
    if (w) {
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
        *w = loop->watches[--loop->count];
    }
    /* Wait out a callback for this fd that is running now, unless we are it. */
    while (loop->busy_fd == fd && !pthread_equal(pthread_self(), loop->thread))
        pthread_cond_wait(&loop->idle, &loop->lock);
    pthread_mutex_unlock(&loop->lock);
}
