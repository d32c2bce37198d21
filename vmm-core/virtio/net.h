/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_NET_H
#define VMM_VIRTIO_NET_H

/*
 * virtio-net (device type 1): one receive queue (0) and one transmit queue
 * (1), no control queue. Features:
 * - MAC (a stable address from the configuration), STATUS (link always up);
 * - MRG_RXBUF: a received frame may span several receive buffers
 *   (num_buffers in the header says how many);
 * - MTU (when opts.mtu is set): the config field mtu advertises the link's
 *   MTU; Linux sets eth0 to it. User networking offers 65520, so a guest TCP
 *   stream goes out in segments of tens of KiB instead of 1460 bytes, which
 *   cuts the per-packet work (exits, copies, slirp rounds) by ~40x;
 * - CSUM: the driver may leave a TCP/UDP checksum to the device
 *   (NEEDS_CSUM, csum_start, csum_offset); the device completes it before
 *   the backend sees the frame (slirp verifies checksums). Linux only uses
 *   scatter-gather transmit with it, so the guest sends frames without
 *   linearising them first. Bad offsets drop the frame (counted);
 * - GUEST_CSUM (when opts.rx_csum_valid: the backend builds every frame
 *   itself with correct checksums, as slirp does): received unfragmented
 *   TCP/UDP over IPv4/IPv6 carry DATA_VALID, so the guest skips verifying.
 * No segmentation offloads (TSO/UFO): slirp takes whole IP packets only. A
 * transmitted header with a gso_type is dropped (counted). Frames are whole
 * Ethernet frames of at most VMM_VIRTIO_NET_MAX_FRAME bytes both ways.
 *
 * The backend (user networking, a test) is a callback for transmitted
 * frames and vmm_virtio_net_receive() for frames to the guest:
 *
 * - tx(opaque, frame, len) is called with the device lock held, on the
 *   thread that notified the transmit queue. It must not take the device
 *   lock, nor call vmm_virtio_net_rx_flush(); it may call
 *   vmm_virtio_net_receive() (an ARP reply, say).
 * - vmm_virtio_net_receive() only queues the frame (a bounded backlog with
 *   its own lock; the device lock is not taken), from any thread. The
 *   backend then calls vmm_virtio_net_rx_flush() outside its own locks,
 *   which moves the backlog into the guest's receive buffers. The device
 *   flushes by itself when the driver adds receive buffers and after
 *   transmitting.
 *
 * A frame that finds no room waits in the backlog (VMM_VIRTIO_NET_BACKLOG
 * frames); past that, frames are dropped (counted), as a full NIC would.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_HDR_SIZE \
    12 /* flags, gso_type, hdr_len, gso_size, csum_start/offset, num_buffers */
#define VIRTIO_NET_HDR_FLAGS 0
#define VIRTIO_NET_HDR_GSO_TYPE 1
#define VIRTIO_NET_HDR_CSUM_START 6  /* le16 */
#define VIRTIO_NET_HDR_CSUM_OFFSET 8 /* le16 */
#define VIRTIO_NET_HDR_NUM_BUFFERS 10
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0

#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_CFG_MAX_PAIRS 8
#define VIRTIO_NET_CFG_MTU 10 /* le16 */
#define VIRTIO_NET_CFG_SIZE 12

#define VMM_VIRTIO_NET_RXQ 0
#define VMM_VIRTIO_NET_TXQ 1
#define VMM_VIRTIO_NET_QUEUE_SIZE 256
#define VMM_VIRTIO_NET_MAX_FRAME 65550 /* 64 KiB IP datagram + Ethernet header + VLAN tag */
#define VMM_VIRTIO_NET_MIN_FRAME 14    /* an Ethernet header */
#define VMM_VIRTIO_NET_ETH_HLEN 14
#define VMM_VIRTIO_NET_MIN_MTU 68 /* IPv4's minimum */
/* The largest MTU whose frames (plus a VLAN tag) fit VMM_VIRTIO_NET_MAX_FRAME. */
#define VMM_VIRTIO_NET_MAX_MTU (VMM_VIRTIO_NET_MAX_FRAME - VMM_VIRTIO_NET_ETH_HLEN - 4)
#define VMM_VIRTIO_NET_BACKLOG 256
/*
 * Receive buffers one frame may take: a 64 KiB frame in Linux's smallest
 * mergeable buffers (1518 bytes) takes 44; the whole ring is the limit.
 */
#define VMM_VIRTIO_NET_MAX_MRG VMM_VIRTIO_NET_QUEUE_SIZE
#define VMM_VIRTIO_NET_PCI_CLASS 0x020000 /* network, Ethernet */

struct vmm_virtio_net_backend {
    void (*tx)(void *opaque, const uint8_t *frame, size_t len);
    void *opaque;
};

struct vmm_virtio_net_opts {
    uint8_t mac[6];
    /* 0: no MTU feature; else VMM_VIRTIO_NET_MIN_MTU..VMM_VIRTIO_NET_MAX_MTU. */
    uint16_t mtu;
    /* The backend's frames always carry correct TCP/UDP checksums (offer GUEST_CSUM). */
    bool rx_csum_valid;
    struct vmm_virtio_net_backend backend;
};

struct vmm_virtio_net_frame;

struct vmm_virtio_net_stats {
    /* dropped: malformed chains (too short, too long, a gso_type, bad checksum offsets) */
    uint64_t tx_frames, tx_dropped;
    uint64_t tx_csum;               /* checksums completed for the driver (NEEDS_CSUM) */
    uint64_t rx_frames, rx_dropped; /* dropped: backlog full, or too large for the buffers */
};

struct vmm_virtio_net {
    struct vmm_virtio_dev vdev;
    struct vmm_virtqueue queues[2];
    uint8_t config[VIRTIO_NET_CFG_SIZE];
    struct vmm_virtio_net_backend backend;
    bool rx_csum_valid;
    struct vmm_virtq_elem *elem;
    uint8_t *txbuf; /* VMM_VIRTIO_NET_MAX_FRAME bytes */

    /* The receive backlog: a ring of frames under its own lock. */
    pthread_mutex_t backlog_lock;
    struct vmm_virtio_net_frame *backlog[VMM_VIRTIO_NET_BACKLOG];
    unsigned bl_head, bl_count;

    struct vmm_virtio_net_stats stats; /* rx_dropped of the backlog under backlog_lock */
};

/* lock: the owner's device lock. -EINVAL for a multicast MAC or an MTU out of range, -ENOMEM. */
VMM_WUR int vmm_virtio_net_init(struct vmm_virtio_net *net, const struct vmm_virtio_net_opts *o,
                                pthread_mutex_t *lock, const struct vmm_guest_mem *mem);
void vmm_virtio_net_fini(struct vmm_virtio_net *net);

/*
 * Queues a frame for the guest (copied). 0, -EMSGSIZE for a frame shorter
 * than an Ethernet header or longer than VMM_VIRTIO_NET_MAX_FRAME, -ENOBUFS
 * when the backlog is full (dropped). Any thread; never takes the device lock.
 */
int vmm_virtio_net_receive(struct vmm_virtio_net *net, const uint8_t *frame, size_t len);

/*
 * Moves backlogged frames into the guest's receive buffers (takes the
 * device lock). Returns true if frames are left although buffers may be
 * there (the per-call budget ran out): call again soon.
 */
bool vmm_virtio_net_rx_flush(struct vmm_virtio_net *net);

#endif
