/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-net: transmit hands whole frames (header stripped) to the backend;
 * receive fills one buffer, or several with MRG_RXBUF (num_buffers set),
 * keeps frames while there is no room and delivers them once buffers come;
 * malformed chains are dropped or break the queue, never crash.
 */
#include <errno.h>

#include "fake-guest-mem.h"
#include "fake-virtq.h"
#include "test.h"
#include "virtio/net.h"

#define RXRING 0x10000ULL
#define TXRING 0x20000ULL
#define BUF 0x100000ULL

static struct vmm_guest_mem mem;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static uint8_t last_tx[VMM_VIRTIO_NET_MAX_FRAME];
static size_t last_tx_len;
static unsigned tx_count;

static void backend_tx(void *opaque, const uint8_t *frame, size_t len)
{
    struct vmm_virtio_net *net = opaque;
    memcpy(last_tx, frame, len);
    last_tx_len = len;
    tx_count++;
    /* An echo, as slirp answers an ARP request from inside slirp_input. */
    if (net && frame[0] == 0xff)
        CHECK_EQ(vmm_virtio_net_receive(net, frame, len), 0);
}

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

static void setup(struct vmm_virtio_net *net, struct fake_vq *rx, struct fake_vq *tx, bool mrg,
                  bool echo)
{
    struct vmm_virtio_net_opts o = {.backend = {.tx = backend_tx, .opaque = echo ? net : NULL}};
    memcpy(o.mac, mac, 6);
    CHECK_EQ(vmm_virtio_net_init(net, &o, &lock, &mem), 0);
    if (echo)
        net->backend.opaque = net;
    uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MAC) |
                    (mrg ? VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) : 0);
    CHECK((vmm_virtio_dev_features(&net->vdev) & want) == want);
    net->vdev.driver_features = want;
    net->vdev.status = VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
    fvq_init(rx, &mem, RXRING, 16);
    fvq_init(tx, &mem, TXRING, 16);
    struct fake_vq *f[2] = {rx, tx};
    for (unsigned q = 0; q < 2; q++) {
        net->queues[q].size = 16;
        net->queues[q].desc_gpa = f[q]->desc;
        net->queues[q].avail_gpa = f[q]->avail;
        net->queues[q].used_gpa = f[q]->used;
        vmm_virtio_dev_enable_queue(&net->vdev, q);
    }
    tx_count = 0;
}

static void test_config(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    setup(&net, &rx, &tx, true, false);
    uint8_t cfg[VIRTIO_NET_CFG_SIZE];
    net.vdev.ops->config_read(&net.vdev, 0, cfg, sizeof(cfg));
    CHECK(memcmp(cfg, mac, 6) == 0);
    CHECK_EQ(cfg[VIRTIO_NET_CFG_STATUS], VIRTIO_NET_S_LINK_UP);
    /* An out-of-range read leaves the buffer alone. */
    uint8_t b = 0x5a;
    net.vdev.ops->config_read(&net.vdev, VIRTIO_NET_CFG_SIZE, &b, 1);
    CHECK_EQ(b, 0x5a);
    vmm_virtio_net_fini(&net);

    struct vmm_virtio_net_opts o = {0};
    o.mac[0] = 0x01; /* multicast */
    CHECK_EQ(vmm_virtio_net_init(&net, &o, &lock, &mem), -EINVAL);
}

static void test_tx(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    setup(&net, &rx, &tx, true, false);
    /* Header in one buffer, the frame split over two. */
    uint8_t *p = gp(&mem, BUF, 0x3000);
    memset(p, 0, VIRTIO_NET_HDR_SIZE);
    for (unsigned i = 0; i < 100; i++)
        p[0x1000 + i] = (uint8_t)i;
    for (unsigned i = 0; i < 60; i++)
        p[0x2000 + i] = (uint8_t)(200 + i);
    fvq_desc(&tx, 0, BUF, VIRTIO_NET_HDR_SIZE, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&tx, 1, BUF + 0x1000, 100, VIRTQ_DESC_F_NEXT, 2);
    fvq_desc(&tx, 2, BUF + 0x2000, 60, 0, 0);
    fvq_publish(&tx, 0);
    vmm_virtio_dev_notify(&net.vdev, VMM_VIRTIO_NET_TXQ);
    CHECK_EQ(tx_count, 1);
    CHECK_EQ(last_tx_len, 160);
    CHECK_EQ(last_tx[0], 0);
    CHECK_EQ(last_tx[99], 99);
    CHECK_EQ(last_tx[100], 200);
    CHECK_EQ(last_tx[159], (uint8_t)(200 + 59));
    CHECK_EQ(fvq_used_idx(&tx), 1);
    CHECK_EQ(net.stats.tx_frames, 1);

    /* Too short for a header and an Ethernet header: dropped, chain returned, queue fine. */
    fvq_desc(&tx, 3, BUF, VIRTIO_NET_HDR_SIZE + 5, 0, 0);
    fvq_publish(&tx, 3);
    vmm_virtio_dev_notify(&net.vdev, VMM_VIRTIO_NET_TXQ);
    CHECK_EQ(tx_count, 1);
    CHECK_EQ(net.stats.tx_dropped, 1);
    CHECK_EQ(fvq_used_idx(&tx), 2);
    CHECK(!(net.vdev.status & VIRTIO_STATUS_NEEDS_RESET));

    /* Longer than any frame: dropped as well. */
    fvq_desc(&tx, 4, BUF, VIRTIO_NET_HDR_SIZE + VMM_VIRTIO_NET_MAX_FRAME + 1, 0, 0);
    fvq_publish(&tx, 4);
    vmm_virtio_dev_notify(&net.vdev, VMM_VIRTIO_NET_TXQ);
    CHECK_EQ(tx_count, 1);
    CHECK_EQ(net.stats.tx_dropped, 2);
    vmm_virtio_net_fini(&net);
}

static uint8_t frame[4000];

static void make_frame(size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        frame[i] = (uint8_t)(seed + i * 7);
}

static void test_rx_single(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    setup(&net, &rx, &tx, false, false);
    make_frame(1514, 3);
    /* No buffers yet: the frame waits. */
    CHECK_EQ(vmm_virtio_net_receive(&net, frame, 1514), 0);
    CHECK(!vmm_virtio_net_rx_flush(&net));
    CHECK_EQ(fvq_used_idx(&rx), 0);
    CHECK_EQ(net.bl_count, 1);
    /* A buffer comes (the driver kicks the receive queue): delivered. */
    memset(gp(&mem, BUF, 0x1000), 0xee, 0x1000);
    fvq_desc(&rx, 0, BUF, 2048, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&rx, 0);
    vmm_virtio_dev_notify(&net.vdev, VMM_VIRTIO_NET_RXQ);
    CHECK_EQ(fvq_used_idx(&rx), 1);
    uint32_t id, len;
    fvq_used_elem(&rx, 0, &id, &len);
    CHECK_EQ(id, 0);
    CHECK_EQ(len, VIRTIO_NET_HDR_SIZE + 1514);
    const uint8_t *b = gp(&mem, BUF, 2048);
    CHECK_EQ(b[0], 0);               /* flags */
    CHECK_EQ(b[10] | b[11] << 8, 1); /* num_buffers */
    CHECK(memcmp(b + VIRTIO_NET_HDR_SIZE, frame, 1514) == 0);
    CHECK_EQ(net.bl_count, 0);
    CHECK_EQ(net.stats.rx_frames, 1);

    /* Without MRG_RXBUF a frame larger than the buffer cannot be delivered: dropped. */
    fvq_desc(&rx, 1, BUF, 100, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&rx, 1);
    CHECK_EQ(vmm_virtio_net_receive(&net, frame, 1514), 0);
    vmm_virtio_net_rx_flush(&net);
    CHECK_EQ(fvq_used_idx(&rx), 1);
    CHECK_EQ(net.stats.rx_dropped, 1);
    /* ...and the buffer is still there for a frame that fits. */
    CHECK_EQ(vmm_virtio_net_receive(&net, frame, 60), 0);
    vmm_virtio_net_rx_flush(&net);
    CHECK_EQ(fvq_used_idx(&rx), 2);
    fvq_used_elem(&rx, 1, &id, &len);
    CHECK_EQ(id, 1);
    CHECK_EQ(len, VIRTIO_NET_HDR_SIZE + 60);

    /* Frames shorter than an Ethernet header or longer than the maximum are refused. */
    CHECK_EQ(vmm_virtio_net_receive(&net, frame, 10), -EMSGSIZE);
    vmm_virtio_net_fini(&net);
}

static void test_rx_mrg(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    setup(&net, &rx, &tx, true, false);
    /* Three 1 KiB buffers; a 2500-byte frame takes all three, num_buffers = 3. */
    for (unsigned i = 0; i < 3; i++) {
        fvq_desc(&rx, i, BUF + i * 0x1000, 1024, VIRTQ_DESC_F_WRITE, 0);
        fvq_publish(&rx, (uint16_t)i);
    }
    make_frame(2500, 9);
    CHECK_EQ(vmm_virtio_net_receive(&net, frame, 2500), 0);
    vmm_virtio_net_rx_flush(&net);
    CHECK_EQ(fvq_used_idx(&rx), 3);
    uint32_t id, len, total = 0;
    for (unsigned i = 0; i < 3; i++) {
        fvq_used_elem(&rx, (uint16_t)i, &id, &len);
        CHECK_EQ(id, i);
        total += len;
    }
    CHECK_EQ(total, VIRTIO_NET_HDR_SIZE + 2500);
    const uint8_t *b0 = gp(&mem, BUF, 1024);
    CHECK_EQ(b0[10] | b0[11] << 8, 3);
    CHECK(memcmp(b0 + VIRTIO_NET_HDR_SIZE, frame, 1024 - VIRTIO_NET_HDR_SIZE) == 0);
    CHECK(memcmp(gp(&mem, BUF + 0x1000, 1024), frame + 1024 - VIRTIO_NET_HDR_SIZE, 1024) == 0);

    /* Two buffers for a frame that needs three: nothing is used, the frame waits... */
    fvq_desc(&rx, 3, BUF, 1024, VIRTQ_DESC_F_WRITE, 0);
    fvq_desc(&rx, 4, BUF + 0x1000, 1024, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&rx, 3);
    fvq_publish(&rx, 4);
    CHECK_EQ(vmm_virtio_net_receive(&net, frame, 2500), 0);
    vmm_virtio_net_rx_flush(&net);
    CHECK_EQ(fvq_used_idx(&rx), 3);
    CHECK_EQ(net.bl_count, 1);
    /* ...until a third buffer comes: then the same chains (3, 4) and the new one carry it. */
    fvq_desc(&rx, 5, BUF + 0x2000, 1024, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&rx, 5);
    vmm_virtio_dev_notify(&net.vdev, VMM_VIRTIO_NET_RXQ);
    CHECK_EQ(fvq_used_idx(&rx), 6);
    fvq_used_elem(&rx, 3, &id, &len);
    CHECK_EQ(id, 3);
    fvq_used_elem(&rx, 5, &id, &len);
    CHECK_EQ(id, 5);
    CHECK_EQ(net.bl_count, 0);
    vmm_virtio_net_fini(&net);
}

static void test_rx_hostile(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    setup(&net, &rx, &tx, true, false);
    /* A receive buffer the device may only read: the queue breaks, NEEDS_RESET. */
    fvq_desc(&rx, 0, BUF, 2048, 0, 0);
    fvq_publish(&rx, 0);
    CHECK_EQ(vmm_virtio_net_receive(&net, frame, 100), 0);
    vmm_virtio_net_rx_flush(&net);
    CHECK(net.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
    CHECK_EQ(fvq_used_idx(&rx), 0);
    /* The reset empties the backlog. */
    vmm_virtio_dev_reset(&net.vdev);
    CHECK_EQ(net.bl_count, 0);
    vmm_virtio_net_fini(&net);

    /* A first buffer smaller than the header breaks the queue too. */
    setup(&net, &rx, &tx, true, false);
    fvq_desc(&rx, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&rx, 0);
    CHECK_EQ(vmm_virtio_net_receive(&net, frame, 100), 0);
    vmm_virtio_net_rx_flush(&net);
    CHECK(net.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
    vmm_virtio_net_fini(&net);

    /* The backlog is bounded: past it frames are dropped and counted. */
    setup(&net, &rx, &tx, true, false);
    for (unsigned i = 0; i < VMM_VIRTIO_NET_BACKLOG; i++)
        CHECK_EQ(vmm_virtio_net_receive(&net, frame, 60), 0);
    CHECK_EQ(vmm_virtio_net_receive(&net, frame, 60), -ENOBUFS);
    CHECK_EQ(net.stats.rx_dropped, 1);
    /* Before DRIVER_OK nothing is delivered even with buffers there. */
    net.vdev.status = 0;
    fvq_desc(&rx, 0, BUF, 2048, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&rx, 0);
    vmm_virtio_net_rx_flush(&net);
    CHECK_EQ(fvq_used_idx(&rx), 0);
    vmm_virtio_net_fini(&net);
}

static void test_tx_then_reply(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    setup(&net, &rx, &tx, true, true);
    fvq_desc(&rx, 0, BUF + 0x4000, 2048, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&rx, 0);
    /* A broadcast frame: the backend answers from inside tx; the reply lands in the same notify. */
    uint8_t *p = gp(&mem, BUF, 0x1000);
    memset(p, 0, VIRTIO_NET_HDR_SIZE);
    memset(p + VIRTIO_NET_HDR_SIZE, 0xff, 6);
    memset(p + VIRTIO_NET_HDR_SIZE + 6, 0x11, 54);
    fvq_desc(&tx, 0, BUF, VIRTIO_NET_HDR_SIZE + 60, 0, 0);
    fvq_publish(&tx, 0);
    vmm_virtio_dev_notify(&net.vdev, VMM_VIRTIO_NET_TXQ);
    CHECK_EQ(tx_count, 1);
    CHECK_EQ(fvq_used_idx(&rx), 1);
    CHECK(memcmp(gp(&mem, BUF + 0x4000 + VIRTIO_NET_HDR_SIZE, 60), p + VIRTIO_NET_HDR_SIZE, 60) ==
          0);
    vmm_virtio_net_fini(&net);
}

int main(void)
{
    mem = fake_mem_new(16 * MIB, 0);
    RUN_TEST(test_config);
    RUN_TEST(test_tx);
    RUN_TEST(test_rx_single);
    RUN_TEST(test_rx_mrg);
    RUN_TEST(test_rx_hostile);
    RUN_TEST(test_tx_then_reply);
    fake_mem_free(&mem);
    return test_finish();
}
