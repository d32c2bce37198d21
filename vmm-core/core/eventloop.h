/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_CORE_EVENTLOOP_H
#define VMM_CORE_EVENTLOOP_H

#include <stdint.h>

#include "vmm/vmm.h"

/*
 * The event-loop thread: epoll over file descriptors (stdin for the UART,
 * ioeventfds, timers, ...). Callbacks run on the loop thread. Adding,
 * changing and removing watches is allowed from any thread, callbacks
 * included.
 */
struct vmm_loop;

typedef void (*vmm_loop_fd_fn)(void *opaque, int fd, uint32_t events);

VMM_WUR struct vmm_loop *vmm_loop_create(void);
VMM_WUR int vmm_loop_start(struct vmm_loop *loop); /* spawns the thread */
void vmm_loop_stop(struct vmm_loop *loop);         /* joins it */
void vmm_loop_destroy(struct vmm_loop *loop);

/* events: EPOLLIN / EPOLLOUT; 0 keeps the watch registered but quiet. */
VMM_WUR int vmm_loop_add_fd(struct vmm_loop *loop, int fd, uint32_t events, vmm_loop_fd_fn fn,
                            void *opaque);
VMM_WUR int vmm_loop_mod_fd(struct vmm_loop *loop, int fd, uint32_t events);
void vmm_loop_del_fd(struct vmm_loop *loop, int fd);

#endif
