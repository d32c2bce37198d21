/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-net: Ethernet frames between the guest's queues and a backend.
 * Transmit: each chain is a 12-byte header and a frame in its readable part.
 * Receive: a frame goes into one or more (MRG_RXBUF) writable chains behind
 * a 12-byte header whose num_buffers counts them.
 */
#include "virtio/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct vmm_virtio_net_frame {
    size_t len;
    uint8_t data[];
};

static struct vmm_virtio_net *to_net(struct vmm_virtio_dev *vdev)
{
    return (struct vmm_virtio_net *)((char *)vdev - offsetof(struct vmm_virtio_net, vdev));
}

static uint64_t net_features(struct vmm_virtio_dev *vdev)
{
    struct vmm_virtio_net *n = to_net(vdev);
    uint64_t f = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
                 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_CSUM);
    if (n->config[VIRTIO_NET_CFG_MTU] | n->config[VIRTIO_NET_CFG_MTU + 1])
        f |= VIRTIO_BIT(VIRTIO_NET_F_MTU);
    if (n->rx_csum_valid)
        f |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
    return f;
}

static void net_config_read(struct vmm_virtio_dev *vdev, unsigned off, void *buf, unsigned len)
{
    struct vmm_virtio_net *n = to_net(vdev);
    if (off < sizeof(n->config) && len <= sizeof(n->config) - off)
        memcpy(buf, n->config + off, len);
}

/* ---- backlog ---- */

int vmm_virtio_net_receive(struct vmm_virtio_net *net, const uint8_t *frame, size_t len)
{
    if (len < VMM_VIRTIO_NET_MIN_FRAME || len > VMM_VIRTIO_NET_MAX_FRAME)
        return -EMSGSIZE;
    struct vmm_virtio_net_frame *f = malloc(sizeof(*f) + len);
    if (!f)
        return -ENOBUFS;
    f->len = len;
    memcpy(f->data, frame, len);
    pthread_mutex_lock(&net->backlog_lock);
    if (net->bl_count == VMM_VIRTIO_NET_BACKLOG) {
        net->stats.rx_dropped++;
        pthread_mutex_unlock(&net->backlog_lock);
        free(f);
        return -ENOBUFS;
    }
    net->backlog[(net->bl_head + net->bl_count++) % VMM_VIRTIO_NET_BACKLOG] = f;
    pthread_mutex_unlock(&net->backlog_lock);
    return 0;
}

static struct vmm_virtio_net_frame *backlog_peek(struct vmm_virtio_net *net)
{
    pthread_mutex_lock(&net->backlog_lock);
    struct vmm_virtio_net_frame *f = net->bl_count ? net->backlog[net->bl_head] : NULL;
    pthread_mutex_unlock(&net->backlog_lock);
    return f;
}

static void backlog_drop_head(struct vmm_virtio_net *net)
{
    pthread_mutex_lock(&net->backlog_lock);
    if (net->bl_count) {
        free(net->backlog[net->bl_head]);
        net->backlog[net->bl_head] = NULL;
        net->bl_head = (net->bl_head + 1) % VMM_VIRTIO_NET_BACKLOG;
        net->bl_count--;
    }
    pthread_mutex_unlock(&net->backlog_lock);
}

static void backlog_clear(struct vmm_virtio_net *net)
{
    pthread_mutex_lock(&net->backlog_lock);
    while (net->bl_count) {
        free(net->backlog[net->bl_head]);
        net->backlog[net->bl_head] = NULL;
        net->bl_head = (net->bl_head + 1) % VMM_VIRTIO_NET_BACKLOG;
        net->bl_count--;
    }
    pthread_mutex_unlock(&net->backlog_lock);
}

/* ---- checksums ---- */

/* The Internet checksum's 16-bit one's complement sum of p[0..len), in host order words. */
static uint32_t csum_add(const uint8_t *p, size_t len)
{
    uint64_t sum = 0;
    size_t i = 0;
    /*
     * 64-bit loads, their two 32-bit halves added into a 64-bit sum: byte-order
     * independent (RFC 1071), carries kept (a frame's 8192 loads stay below 2^47).
     */
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        sum += (w & 0xffffffffu) + (w >> 32);
    }
    if (i + 4 <= len) {
        uint32_t w;
        memcpy(&w, p + i, 4);
        sum += w;
        i += 4;
    }
    if (i + 2 <= len) {
        uint16_t w;
        memcpy(&w, p + i, 2);
        sum += w;
        i += 2;
    }
    if (i < len) {
        uint8_t pair[2] = {p[i], 0}; /* the odd last byte, padded with a zero */
        uint16_t w;
        memcpy(&w, pair, 2);
        sum += w;
    }
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint32_t)sum;
}

/*
 * Completes a checksum the driver left to us: the one's complement of the
 * sum from start to the end of the frame (the field already holds the
 * pseudo-header sum) goes to start + off. false if the offsets do not fit
 * the frame. A result of 0 is sent as 0xffff (the same for TCP; for UDP 0
 * would mean "no checksum").
 */
static bool csum_complete(uint8_t *frame, size_t len, size_t start, size_t off)
{
    if (start >= len || off > len - start || len - start - off < 2)
        return false;
    uint16_t c = (uint16_t)~csum_add(frame + start, len - start);
    if (c == 0)
        c = 0xffff;
    memcpy(frame + start + off, &c, 2);
    return true;
}

/*
 * Whether the guest's stack would verify a TCP or UDP checksum in this
 * frame, which the backend computed: an unfragmented IPv4 packet or an
 * IPv6 packet whose first header is TCP or UDP, all inside the frame.
 */
static bool l4_checksummed(const uint8_t *f, size_t len)
{
    const size_t eth = VMM_VIRTIO_NET_ETH_HLEN;
    if (len < eth + 20)
        return false;
    uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
    const uint8_t *ip = f + eth;
    uint8_t proto;
    size_t hl;
    if (type == 0x0800) {
        if ((ip[0] >> 4) != 4)
            return false;
        hl = (size_t)(ip[0] & 15) * 4;
        if (hl < 20 || (ip[6] & 0x3f) || ip[7]) /* MF or a fragment offset */
            return false;
        proto = ip[9];
    } else if (type == 0x86dd) {
        hl = 40;
        if (len < eth + hl || (ip[0] >> 4) != 6)
            return false;
        proto = ip[6];
    } else {
        return false;
    }
    size_t l4 = proto == 6 ? 20 : proto == 17 ? 8 : 0;
    return l4 && len >= eth + hl + l4;
}

/* ---- receive ---- */

enum rx_result { RX_DONE, RX_NO_ROOM, RX_TOO_BIG, RX_BROKEN };

/*
 * Puts one frame into the receive queue: pops chains until header + frame
 * fit (one chain without MRG_RXBUF), writes them, then publishes them all.
 * If the queue runs dry first, the chains are given back (unpopped) and the
 * frame stays queued.
 */
static enum rx_result rx_one(struct vmm_virtio_net *net, const struct vmm_virtio_net_frame *f)
{
    struct vmm_virtqueue *vq = &net->queues[VMM_VIRTIO_NET_RXQ];
    struct vmm_virtq_elem *e = net->elem;
    bool mrg = vmm_virtio_has_feature(&net->vdev, VIRTIO_NET_F_MRG_RXBUF);
    unsigned max = mrg ? VMM_VIRTIO_NET_MAX_MRG : 1;
    uint16_t heads[VMM_VIRTIO_NET_MAX_MRG];
    uint32_t lens[VMM_VIRTIO_NET_MAX_MRG];
    struct iovec nb[2]; /* where num_buffers lives in the first chain */
    int nnb = 0;
    uint8_t hdr[VIRTIO_NET_HDR_SIZE] = {0};
    if (vmm_virtio_has_feature(&net->vdev, VIRTIO_NET_F_GUEST_CSUM) && net->rx_csum_valid &&
        l4_checksummed(f->data, f->len))
        hdr[VIRTIO_NET_HDR_FLAGS] = VIRTIO_NET_HDR_F_DATA_VALID;
    size_t total = VIRTIO_NET_HDR_SIZE + f->len, done = 0;
    unsigned used = 0;

    while (done < total) {
        if (used == max) {
            vmm_virtq_unpop(vq, used);
            return RX_TOO_BIG;
        }
        int r = vmm_virtq_pop(vq, e);
        if (r < 0)
            return RX_BROKEN;
        if (r == 0) {
            vmm_virtq_unpop(vq, used);
            return RX_NO_ROOM;
        }
        if (e->n_out) {
            /* A receive buffer the device may not write: the driver broke the rules. */
            vmm_virtq_fail(vq, "virtio-net: device-readable buffer in the receive queue");
            return RX_BROKEN;
        }
        size_t room = e->in_len < total - done ? (size_t)e->in_len : total - done;
        if (used == 0) {
            if (e->in_len < VIRTIO_NET_HDR_SIZE) {
                vmm_virtq_fail(vq, "virtio-net: receive buffer smaller than the header");
                return RX_BROKEN;
            }
            nnb = vmm_virtq_iov_slice(e->iov, e->n_in, VIRTIO_NET_HDR_NUM_BUFFERS, 2, nb, 2);
            vmm_virtq_write(e, 0, hdr, VIRTIO_NET_HDR_SIZE);
            vmm_virtq_write(e, VIRTIO_NET_HDR_SIZE, f->data, room - VIRTIO_NET_HDR_SIZE);
        } else {
            vmm_virtq_write(e, 0, f->data + (done - VIRTIO_NET_HDR_SIZE), room);
        }
        heads[used] = e->head;
        lens[used] = (uint32_t)room;
        used++;
        done += room;
    }
    /* num_buffers, little endian, possibly split over two buffers. */
    uint8_t nbuf[2] = {(uint8_t)used, (uint8_t)(used >> 8)};
    size_t k = 0;
    for (int i = 0; i < nnb; i++) {
        memcpy(nb[i].iov_base, nbuf + k, nb[i].iov_len);
        k += nb[i].iov_len;
    }
    for (unsigned i = 0; i < used; i++) {
        e->head = heads[i];
        e->in_len = lens[i];
        vmm_virtq_push(vq, e, lens[i]);
    }
    return RX_DONE;
}

/* Device lock held. Returns true if frames remain while buffers may be there. */
static bool rx_flush_locked(struct vmm_virtio_net *net)
{
    struct vmm_virtqueue *vq = &net->queues[VMM_VIRTIO_NET_RXQ];
    if (!vmm_virtio_dev_live(&net->vdev) || !vmm_virtq_ready(vq))
        return false;
    bool pushed = false, more = false;
    struct vmm_virtio_net_frame *f;
    vmm_virtq_begin(vq);
    while ((f = backlog_peek(net))) {
        enum rx_result r = rx_one(net, f);
        if (r == RX_DONE) {
            net->stats.rx_frames++;
            pushed = true;
            backlog_drop_head(net);
            continue;
        }
        if (r == RX_TOO_BIG) {
            pthread_mutex_lock(&net->backlog_lock);
            net->stats.rx_dropped++;
            pthread_mutex_unlock(&net->backlog_lock);
            backlog_drop_head(net);
            continue;
        }
        more = r == RX_NO_ROOM && vq->budget_hit;
        break;
    }
    if (pushed)
        vmm_virtio_queue_done(&net->vdev, VMM_VIRTIO_NET_RXQ);
    return more;
}

bool vmm_virtio_net_rx_flush(struct vmm_virtio_net *net)
{
    pthread_mutex_lock(net->vdev.lock);
    bool more = rx_flush_locked(net);
    pthread_mutex_unlock(net->vdev.lock);
    return more;
}

/* ---- transmit ---- */

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/*
 * Acts on a transmitted header: a checksum left to the device is completed
 * (CSUM negotiated; otherwise the flags mean nothing and are ignored). A
 * segmentation request (never offered) or checksum offsets outside the
 * frame drop it: false, counted.
 */
static bool tx_fixup(struct vmm_virtio_net *net, const uint8_t *hdr, uint8_t *frame, size_t len)
{
    const char *why = NULL;
    if (hdr[VIRTIO_NET_HDR_GSO_TYPE] != VIRTIO_NET_HDR_GSO_NONE) {
        why = "a segmentation offload";
    } else if ((hdr[VIRTIO_NET_HDR_FLAGS] & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
               vmm_virtio_has_feature(&net->vdev, VIRTIO_NET_F_CSUM)) {
        if (csum_complete(frame, len, le16(hdr + VIRTIO_NET_HDR_CSUM_START),
                          le16(hdr + VIRTIO_NET_HDR_CSUM_OFFSET)))
            net->stats.tx_csum++;
        else
            why = "checksum offsets outside the frame";
    }
    if (!why)
        return true;
    net->stats.tx_dropped++;
    vmm_log_ratelimited(VMM_LOG_INFO, "virtio-net: dropped a transmitted frame: %s", why);
    return false;
}

static bool tx_run(struct vmm_virtio_net *net)
{
    struct vmm_virtqueue *vq = &net->queues[VMM_VIRTIO_NET_TXQ];
    struct vmm_virtq_elem *e = net->elem;
    bool pushed = false;
    vmm_virtq_begin(vq);
    while (vmm_virtq_pop(vq, e) == 1) {
        uint64_t len = e->out_len;
        if (len < VIRTIO_NET_HDR_SIZE + VMM_VIRTIO_NET_MIN_FRAME ||
            len - VIRTIO_NET_HDR_SIZE > VMM_VIRTIO_NET_MAX_FRAME) {
            net->stats.tx_dropped++;
            vmm_log_ratelimited(VMM_LOG_INFO,
                                "virtio-net: dropped a transmitted chain of %llu bytes",
                                (unsigned long long)len);
        } else {
            size_t flen = (size_t)(len - VIRTIO_NET_HDR_SIZE);
            uint8_t hdr[VIRTIO_NET_HDR_SIZE];
            vmm_virtq_read(e, 0, hdr, VIRTIO_NET_HDR_SIZE);
            size_t got = vmm_virtq_read(e, VIRTIO_NET_HDR_SIZE, net->txbuf, flen);
            if (tx_fixup(net, hdr, net->txbuf, got)) {
                net->stats.tx_frames++;
                if (net->backend.tx)
                    net->backend.tx(net->backend.opaque, net->txbuf, got);
            }
        }
        vmm_virtq_push(vq, e, 0);
        pushed = true;
    }
    if (pushed)
        vmm_virtio_queue_done(&net->vdev, VMM_VIRTIO_NET_TXQ);
    return vq->budget_hit;
}

static bool net_queue_notify(struct vmm_virtio_dev *vdev, unsigned q)
{
    struct vmm_virtio_net *net = to_net(vdev);
    bool more = false;
    if (q == VMM_VIRTIO_NET_TXQ)
        more = tx_run(net);
    /* New receive buffers, or replies the backend queued while we transmitted. */
    if (rx_flush_locked(net))
        more = true;
    return more;
}

static void net_reset(struct vmm_virtio_dev *vdev)
{
    backlog_clear(to_net(vdev));
}

static const struct vmm_virtio_dev_ops net_ops = {
    .features = net_features,
    .config_read = net_config_read,
    .queue_notify = net_queue_notify,
    .reset = net_reset,
};

int vmm_virtio_net_init(struct vmm_virtio_net *net, const struct vmm_virtio_net_opts *o,
                        pthread_mutex_t *lock, const struct vmm_guest_mem *mem)
{
    if ((o->mac[0] & 1) ||
        (o->mtu && (o->mtu < VMM_VIRTIO_NET_MIN_MTU || o->mtu > VMM_VIRTIO_NET_MAX_MTU)))
        return -EINVAL;
    memset(net, 0, sizeof(*net));
    net->elem = malloc(sizeof(*net->elem));
    net->txbuf = malloc(VMM_VIRTIO_NET_MAX_FRAME);
    if (!net->elem || !net->txbuf) {
        free(net->elem);
        free(net->txbuf);
        return -ENOMEM;
    }
    pthread_mutex_init(&net->backlog_lock, NULL);
    net->backend = o->backend;
    net->rx_csum_valid = o->rx_csum_valid;
    memcpy(net->config + VIRTIO_NET_CFG_MAC, o->mac, 6);
    net->config[VIRTIO_NET_CFG_STATUS] = VIRTIO_NET_S_LINK_UP;
    net->config[VIRTIO_NET_CFG_MAX_PAIRS] = 1;
    net->config[VIRTIO_NET_CFG_MTU] = (uint8_t)o->mtu;
    net->config[VIRTIO_NET_CFG_MTU + 1] = (uint8_t)(o->mtu >> 8);
    vmm_virtio_dev_init(&net->vdev, &net_ops, VIRTIO_ID_NET, lock, mem, net->queues, 2,
                        VMM_VIRTIO_NET_QUEUE_SIZE, VIRTIO_NET_CFG_SIZE);
    return 0;
}

void vmm_virtio_net_fini(struct vmm_virtio_net *net)
{
    backlog_clear(net);
    pthread_mutex_destroy(&net->backlog_lock);
    free(net->elem);
    free(net->txbuf);
    net->elem = NULL;
    net->txbuf = NULL;
}
