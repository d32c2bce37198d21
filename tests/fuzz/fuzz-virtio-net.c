/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: virtio-net's transmit and receive paths driven by a
 * guest whose two rings and buffers are the fuzz input, with frames from
 * the "network" also taken from the input.
 *
 * Input: a 12-byte preamble, then the first bytes of guest RAM.
 *   [0] RX queue size = 1 << (b & 7)   [1] TX queue size = 1 << (b & 7)
 *   [2] bit 0 MRG_RXBUF, bit 1 EVENT_IDX, bit 2 INDIRECT_DESC, bit 3 fold
 *       buffer addresses into the first 64 KiB, bit 4 echo every transmitted
 *       frame back from inside tx (as slirp answers ARP), bit 5 CSUM (the
 *       transmit headers' NEEDS_CSUM, csum_start and csum_offset come from
 *       the input), bit 6 GUEST_CSUM, bit 7 received frames up to the
 *       largest size (else up to 4 KiB)
 *   [3..4] RX avail index   [5..6] TX avail index (le16)
 *   [7] frames to receive (0..15)  [8..9] their length base (le16)
 *   [10] rounds (1..4)   [11] queue budget (0: default)
 * Guest RAM is 1 MiB; RX rings at 0 (desc), 0x1000 (avail), 0x2000 (used);
 * TX rings at 0x4000, 0x5000, 0x6000. Received frames are cut from guest
 * RAM at 0x8000 (fuzz data too).
 *
 * Invariants checked: every popped TX chain is used at once; RX never uses
 * more chains than were made available; the backlog stays bounded.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "virtio/net.h"

#define LOW (1024 * 1024)

static struct vmm_guest_mem mem;
static struct vmm_virtio_net net;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool echo;
static uint64_t tx_bytes;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void backend_tx(void *opaque, const uint8_t *frame, size_t len)
{
    (void)opaque;
    if (len < VMM_VIRTIO_NET_MIN_FRAME || len > VMM_VIRTIO_NET_MAX_FRAME)
        abort(); /* the device must only pass whole, bounded frames */
    tx_bytes += len;
    if (echo)
        (void)vmm_virtio_net_receive(&net, frame, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mem.lowmem_size = LOW;
    mem.base = mmap(NULL, LOW, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem.base == MAP_FAILED)
        abort();
    struct vmm_virtio_net_opts o = {.mac = {0x52, 0x54, 0, 1, 2, 3},
                                    .mtu = 65520,
                                    .rx_csum_valid = true,
                                    .backend = {.tx = backend_tx}};
    if (vmm_virtio_net_init(&net, &o, &lock, &mem) < 0)
        abort();
    return 0;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void setup_queue(unsigned q, uint64_t ring, uint16_t qsize, uint16_t avail_idx, bool fold,
                        unsigned budget)
{
    uint8_t *host = mem.base + ring;
    if (fold) {
        for (unsigned i = 0; i < qsize; i++) {
            uint64_t a = load64(host + 16 * i) & 0xffff;
            memcpy(host + 16 * i, &a, 8);
        }
    }
    memcpy(host + 0x1000 + 2, &avail_idx, 2);
    struct vmm_virtqueue *vq = &net.queues[q];
    vq->size = qsize;
    vq->desc_gpa = ring;
    vq->avail_gpa = ring + 0x1000;
    vq->used_gpa = ring + 0x2000;
    vq->budget = budget;
    vmm_virtio_dev_enable_queue(&net.vdev, q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    uint16_t rxsize = (uint16_t)(1u << (data[0] & 7)), txsize = (uint16_t)(1u << (data[1] & 7));
    uint8_t flags = data[2];
    uint16_t rx_avail = (uint16_t)(data[3] | data[4] << 8);
    uint16_t tx_avail = (uint16_t)(data[5] | data[6] << 8);
    unsigned nframes = data[7] & 15;
    unsigned flen = (unsigned)(data[8] | data[9] << 8);
    unsigned rounds = 1 + (data[10] & 3), budget = data[11];
    data += 12;
    size -= 12;
    memset(mem.base, 0, 0x10000);
    memcpy(mem.base, data, size < 0x10000 ? size : 0x10000);
    echo = flags & 16;

    struct vmm_virtio_dev *v = &net.vdev;
    vmm_virtio_dev_reset(v);
    v->driver_features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
    if (flags & 1)
        v->driver_features |= VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
    if (flags & 2)
        v->driver_features |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
    if (flags & 4)
        v->driver_features |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
    if (flags & 32)
        v->driver_features |= VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_MTU);
    if (flags & 64)
        v->driver_features |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
    if (!vmm_virtio_dev_check_features(v))
        abort();
    v->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                VIRTIO_STATUS_DRIVER_OK;
    setup_queue(VMM_VIRTIO_NET_RXQ, 0, rxsize, rx_avail, flags & 8, budget);
    setup_queue(VMM_VIRTIO_NET_TXQ, 0x4000, txsize, tx_avail, flags & 8, budget);

    for (unsigned r = 0; r < rounds; r++) {
        for (unsigned i = 0; i < nframes; i++) {
            unsigned len = (flen * (flags & 128 ? 3 : 1) + i * 97) %
                           (flags & 128 ? VMM_VIRTIO_NET_MAX_FRAME + 2 : 4096);
            (void)vmm_virtio_net_receive(&net, mem.base + 0x8000, len);
        }
        vmm_virtio_dev_notify(v, VMM_VIRTIO_NET_TXQ);
        vmm_virtio_net_rx_flush(&net);
        vmm_virtio_dev_notify(v, VMM_VIRTIO_NET_RXQ);
    }
    struct vmm_virtqueue *tx = &net.queues[VMM_VIRTIO_NET_TXQ];
    struct vmm_virtqueue *rx = &net.queues[VMM_VIRTIO_NET_RXQ];
    /* Transmit completes every chain it pops (a broken queue stops before popping). */
    if ((uint16_t)(tx->last_avail - tx->used_idx) != 0 && !tx->broken)
        abort();
    /* Receive never publishes a chain it did not pop. */
    if ((uint16_t)(rx->last_avail - rx->used_idx) > rx->size)
        abort();
    if (net.bl_count > VMM_VIRTIO_NET_BACKLOG)
        abort();
    return 0;
}
