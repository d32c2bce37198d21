/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_NET_USER_H
#define VMM_NET_USER_H

/*
 * User-mode networking over libslirp: the guest sits behind a NAT on
 * 10.0.2.0/24 (DHCP hands out 10.0.2.15), 10.0.2.2 is the gateway and
 * reaches the host's loopback, 10.0.2.3 forwards DNS to the host's
 * resolver; host -> guest TCP forwards listen on the host.
 *
 * Threading: slirp is not thread-safe, so every slirp call happens on the
 * VM's event-loop thread. Frames the guest transmits are queued
 * (vmm_net_user_tx, any thread, never blocks on slirp) and the loop is
 * woken; slirp's sockets and timers are watched by the same epoll loop
 * (the poll set is re-synchronised after every slirp call). Frames slirp
 * sends to the guest go to vmm_virtio_net_receive() and are flushed into
 * the device after slirp is done.
 */

#include <stdint.h>

#include "vmm/vmm.h"

/*
 * The link's MTU, both ways: libslirp takes up to 65521 (IF_MTU_MAX); 65520
 * is what slirp4netns and rootless containers use. The guest learns it from
 * virtio-net's MTU field. TCP through slirp then moves tens of KiB per
 * frame instead of 1460 bytes: slirp, the device and the guest pay their
 * per-packet costs ~40x less often. slirp builds every frame it sends with
 * its checksums computed, so the device may tell the guest so (GUEST_CSUM).
 */
#define VMM_NET_USER_MTU 65520

struct vmm_loop;
struct vmm_virtio_net;
struct vmm_net_user;

struct vmm_net_user_opts {
    struct vmm_loop *loop;
    struct vmm_virtio_net *net; /* frames for the guest go here */
    const struct vmm_net_forward *forwards;
    unsigned nforwards;
};

/* NULL with err: a forward could not listen (port in use), out of memory, ... */
struct vmm_net_user *vmm_net_user_new(const struct vmm_net_user_opts *o, struct vmm_error *err);
/* The loop must be stopped (or the caller on it) so no callback runs any more. */
void vmm_net_user_free(struct vmm_net_user *u);

/* virtio-net's backend tx: queues a frame for slirp (copied), wakes the loop. */
void vmm_net_user_tx(void *opaque, const uint8_t *frame, size_t len);

#endif
