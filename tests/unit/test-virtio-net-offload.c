/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-net's large MTU and checksum offloads: the MTU field and the
 * feature bits; checksums the driver leaves to the device (NEEDS_CSUM) are
 * completed on real TCP and UDP frames and checked against a sum computed
 * here independently; hostile checksum offsets and segmentation requests
 * drop the frame without reading or writing outside it; a frame of the
 * largest MTU goes through transmit (a chain of small buffers) and receive
 * (MRG_RXBUF over many small buffers); DATA_VALID marks only what it may.
 */
#include <errno.h>
#include <stdlib.h>

#include "fake-guest-mem.h"
#include "fake-virtq.h"
#include "test.h"
#include "virtio/net.h"

#define RXRING 0x10000ULL
#define TXRING 0x20000ULL
#define TXBUF 0x100000ULL /* transmitted headers and frames */
#define RXBUF 0x200000ULL /* receive buffers */
#define QSIZE 64
#define BIG_FRAME (VMM_VIRTIO_NET_ETH_HLEN + VMM_NET_MTU)
#define VMM_NET_MTU 65520

static struct vmm_guest_mem mem;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static uint8_t *last_tx; /* VMM_VIRTIO_NET_MAX_FRAME bytes */
static size_t last_tx_len;
static unsigned tx_count;

static void backend_tx(void *opaque, const uint8_t *frame, size_t len)
{
    (void)opaque;
    memcpy(last_tx, frame, len);
    last_tx_len = len;
    tx_count++;
}

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* A live device whose driver accepted `feat` (on top of VERSION_1 and MAC). */
static void setup(struct vmm_virtio_net *net, struct fake_vq *rx, struct fake_vq *tx, uint64_t feat)
{
    struct vmm_virtio_net_opts o = {
        .mtu = VMM_NET_MTU, .rx_csum_valid = true, .backend = {.tx = backend_tx}};
    memcpy(o.mac, mac, 6);
    CHECK_EQ(vmm_virtio_net_init(net, &o, &lock, &mem), 0);
    uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MAC) | feat;
    CHECK((vmm_virtio_dev_features(&net->vdev) & want) == want);
    net->vdev.driver_features = want;
    net->vdev.status = VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
    fvq_init(rx, &mem, RXRING, QSIZE);
    fvq_init(tx, &mem, TXRING, QSIZE);
    struct fake_vq *f[2] = {rx, tx};
    for (unsigned q = 0; q < 2; q++) {
        net->queues[q].size = QSIZE;
        net->queues[q].desc_gpa = f[q]->desc;
        net->queues[q].avail_gpa = f[q]->avail;
        net->queues[q].used_gpa = f[q]->used;
        vmm_virtio_dev_enable_queue(&net->vdev, q);
    }
    tx_count = 0;
    last_tx_len = 0;
}

/* ---- frames built here, and the checksum computed the plain way ---- */

/* The Internet checksum's sum, byte pairs as big-endian numbers, folded. */
static uint32_t ref_sum(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        sum += i % 2 ? p[i] : (uint32_t)p[i] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Ethernet + IPv4 (20 bytes) + TCP (20) or UDP (8) + payload at f. The L4
 * checksum field holds the pseudo-header sum as a driver leaves it for
 * NEEDS_CSUM. Returns the frame's length.
 */
static size_t make_ip4(uint8_t *f, uint8_t proto, size_t payload)
{
    size_t l4h = proto == 6 ? 20 : 8, l4len = l4h + payload;
    memset(f, 0, 34 + l4h);
    memcpy(f, mac, 6);
    f[6] = 0x52;
    f[7] = 0x55;
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + l4len));
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = proto;
    const uint8_t src[4] = {10, 0, 2, 15}, dst[4] = {10, 0, 2, 2};
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    put16(ip + 10, (uint16_t)~ref_sum(0, ip, 20));
    uint8_t *l4 = ip + 20;
    put16(l4, 40000);
    put16(l4 + 2, 5201);
    if (proto == 6) {
        l4[12] = 5 << 4;
        l4[13] = 0x18; /* PSH ACK */
        put16(l4 + 14, 65535);
    } else {
        put16(l4 + 4, (uint16_t)l4len);
    }
    for (size_t i = 0; i < payload; i++)
        l4[l4h + i] = (uint8_t)(i * 31 + 7);
    uint8_t pseudo[12] = {0};
    memcpy(pseudo, src, 4);
    memcpy(pseudo + 4, dst, 4);
    pseudo[9] = proto;
    put16(pseudo + 10, (uint16_t)l4len);
    put16(l4 + (proto == 6 ? 16 : 6), (uint16_t)ref_sum(0, pseudo, 12));
    return 14 + 20 + l4len;
}

/* The checksum a sender computes in full (field zeroed first), 0 sent as 0xffff. */
static uint16_t ref_l4_csum(const uint8_t *f, size_t len)
{
    const uint8_t *ip = f + 14, *l4 = ip + 20;
    size_t l4len = len - 34, field = ip[9] == 6 ? 16 : 6;
    uint8_t *copy = malloc(l4len);
    memcpy(copy, l4, l4len);
    copy[field] = copy[field + 1] = 0;
    uint8_t pseudo[12] = {0};
    memcpy(pseudo, ip + 12, 8);
    pseudo[9] = ip[9];
    put16(pseudo + 10, (uint16_t)l4len);
    uint16_t c = (uint16_t)~ref_sum(ref_sum(0, pseudo, 12), copy, l4len);
    free(copy);
    return c ? c : 0xffff;
}

/* Writes a transmit header at TXBUF and the frame behind it; one chain of `segs` buffers. */
static void tx_send(struct vmm_virtio_net *net, struct fake_vq *tx, const uint8_t *frame,
                    size_t len, uint8_t flags, uint8_t gso, uint16_t start, uint16_t off,
                    unsigned segs)
{
    uint8_t *h = gp(&mem, TXBUF, VIRTIO_NET_HDR_SIZE);
    memset(h, 0, VIRTIO_NET_HDR_SIZE);
    h[VIRTIO_NET_HDR_FLAGS] = flags;
    h[VIRTIO_NET_HDR_GSO_TYPE] = gso;
    h[6] = (uint8_t)start;
    h[7] = (uint8_t)(start >> 8);
    h[8] = (uint8_t)off;
    h[9] = (uint8_t)(off >> 8);
    memcpy(gp(&mem, TXBUF + VIRTIO_NET_HDR_SIZE, len), frame, len);
    /* Descriptor 0: the header; then the frame cut into `segs` pieces (used at once). */
    const uint16_t head = 0;
    fvq_desc(tx, head, TXBUF, VIRTIO_NET_HDR_SIZE, VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
    size_t piece = (len + segs - 1) / segs, at = 0;
    for (unsigned i = 0; i < segs; i++) {
        size_t n = len - at < piece ? len - at : piece;
        bool last = i + 1 == segs;
        fvq_desc(tx, head + 1 + i, TXBUF + VIRTIO_NET_HDR_SIZE + at, (uint32_t)n,
                 last ? 0 : VIRTQ_DESC_F_NEXT, (uint16_t)(head + 2 + i));
        at += n;
    }
    fvq_publish(tx, head);
    vmm_virtio_dev_notify(&net->vdev, VMM_VIRTIO_NET_TXQ);
}

/* ---- tests ---- */

static void test_features_and_mtu(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    setup(&net, &rx, &tx, 0);
    uint64_t f = vmm_virtio_dev_features(&net.vdev);
    CHECK(f & VIRTIO_BIT(VIRTIO_NET_F_CSUM));
    CHECK(f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM));
    CHECK(f & VIRTIO_BIT(VIRTIO_NET_F_MTU));
    CHECK(f & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
    /* No segmentation offloads: host/guest TSO4/6, ECN, UFO (7..14). */
    for (unsigned b = 7; b <= 14; b++)
        CHECK(!(f & VIRTIO_BIT(b)));
    /* mtu: le16 at 10, read as one 16-bit access and as two bytes. */
    uint16_t m16 = 0;
    net.vdev.ops->config_read(&net.vdev, VIRTIO_NET_CFG_MTU, &m16, 2);
    CHECK_EQ(m16, 65520);
    uint8_t lo = 0, hi = 0;
    net.vdev.ops->config_read(&net.vdev, VIRTIO_NET_CFG_MTU, &lo, 1);
    net.vdev.ops->config_read(&net.vdev, VIRTIO_NET_CFG_MTU + 1, &hi, 1);
    CHECK_EQ(lo | hi << 8, 65520);
    CHECK_EQ(net.vdev.config_len, 12);
    /* A read running past the field (and the config) leaves the buffer alone. */
    uint32_t w = 0x5a5a5a5a;
    net.vdev.ops->config_read(&net.vdev, VIRTIO_NET_CFG_MTU, &w, 4);
    CHECK_EQ(w, 0x5a5a5a5a);
    vmm_virtio_net_fini(&net);

    /* Without an MTU or the backend's promise: neither MTU nor GUEST_CSUM. */
    struct vmm_virtio_net_opts o = {.mac = {0x52, 0x54, 0, 1, 2, 3}};
    CHECK_EQ(vmm_virtio_net_init(&net, &o, &lock, &mem), 0);
    f = vmm_virtio_dev_features(&net.vdev);
    CHECK(!(f & VIRTIO_BIT(VIRTIO_NET_F_MTU)));
    CHECK(!(f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM)));
    CHECK(f & VIRTIO_BIT(VIRTIO_NET_F_CSUM));
    vmm_virtio_net_fini(&net);
    /* MTUs out of range are refused. */
    o.mtu = VMM_VIRTIO_NET_MIN_MTU - 1;
    CHECK_EQ(vmm_virtio_net_init(&net, &o, &lock, &mem), -EINVAL);
    o.mtu = VMM_VIRTIO_NET_MAX_MTU + 1;
    CHECK_EQ(vmm_virtio_net_init(&net, &o, &lock, &mem), -EINVAL);
    o.mtu = VMM_VIRTIO_NET_MAX_MTU;
    CHECK_EQ(vmm_virtio_net_init(&net, &o, &lock, &mem), 0);
    vmm_virtio_net_fini(&net);
}

static void test_tx_csum(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    setup(&net, &rx, &tx, VIRTIO_BIT(VIRTIO_NET_F_CSUM));
    uint8_t *f = malloc(VMM_VIRTIO_NET_MAX_FRAME);
    /* TCP with an odd payload (the last byte is padded), header and data in separate buffers. */
    size_t len = make_ip4(f, 6, 1001);
    tx_send(&net, &tx, f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 34, 16, 3);
    CHECK_EQ(tx_count, 1);
    CHECK_EQ(last_tx_len, len);
    CHECK_EQ(get16(last_tx + 34 + 16), ref_l4_csum(f, len));
    /* The receiver's check: the segment with the pseudo-header sums to all ones. */
    uint8_t pseudo[12] = {10, 0, 2, 15, 10, 0, 2, 2, 0, 6, 0, 0};
    put16(pseudo + 10, (uint16_t)(len - 34));
    CHECK_EQ(ref_sum(ref_sum(0, pseudo, 12), last_tx + 34, len - 34), 0xffff);
    /* Nothing else changed. */
    CHECK(memcmp(last_tx, f, 50) == 0);
    CHECK(memcmp(last_tx + 52, f + 52, len - 52) == 0);
    CHECK_EQ(net.stats.tx_csum, 1);

    /* UDP, the field at offset 6. */
    len = make_ip4(f, 17, 512);
    tx_send(&net, &tx, f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 34, 6, 1);
    CHECK_EQ(tx_count, 2);
    CHECK_EQ(get16(last_tx + 34 + 6), ref_l4_csum(f, len));
    pseudo[9] = 17;
    put16(pseudo + 10, (uint16_t)(len - 34));
    CHECK_EQ(ref_sum(ref_sum(0, pseudo, 12), last_tx + 34, len - 34), 0xffff);

    /* Without NEEDS_CSUM the frame goes as it is. */
    tx_send(&net, &tx, f, len, 0, 0, 34, 6, 1);
    CHECK(memcmp(last_tx, f, len) == 0);
    CHECK_EQ(net.stats.tx_csum, 2);
    CHECK_EQ(net.stats.tx_dropped, 0);
    vmm_virtio_net_fini(&net);

    /* CSUM not negotiated: the flags mean nothing, the frame is not touched. */
    setup(&net, &rx, &tx, 0);
    len = make_ip4(f, 6, 100);
    tx_send(&net, &tx, f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 34, 16, 1);
    CHECK_EQ(tx_count, 1);
    CHECK(memcmp(last_tx, f, len) == 0);
    CHECK_EQ(net.stats.tx_csum, 0);
    vmm_virtio_net_fini(&net);
    free(f);
}

static void test_tx_csum_hostile(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    setup(&net, &rx, &tx, VIRTIO_BIT(VIRTIO_NET_F_CSUM));
    uint8_t *f = malloc(VMM_VIRTIO_NET_MAX_FRAME);
    size_t len = make_ip4(f, 6, 10); /* 64 bytes */
    const struct {
        uint16_t start, off;
    } bad[] = {
        {(uint16_t)len, 0},             /* starts at the end */
        {(uint16_t)(len + 100), 0},     /* past it */
        {0xffff, 0xffff},               /* both at their largest */
        {34, (uint16_t)(len - 34)},     /* the field starts at the end */
        {34, (uint16_t)(len - 34 - 1)}, /* the field's second byte past the end */
        {(uint16_t)(len - 1), 0},       /* one byte to sum: no room for the field */
        {34, 0xfffe},
        {0xfffe, 16},
    };
    unsigned n = sizeof(bad) / sizeof(bad[0]);
    for (unsigned i = 0; i < n; i++)
        tx_send(&net, &tx, f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, bad[i].start, bad[i].off, 1);
    CHECK_EQ(tx_count, 0);
    CHECK_EQ(net.stats.tx_dropped, n);
    CHECK_EQ(fvq_used_idx(&tx), n); /* every chain given back */
    CHECK(!(net.vdev.status & VIRTIO_STATUS_NEEDS_RESET));
    /* The guest's buffer behind the frame is untouched. */
    CHECK(memcmp(gp(&mem, TXBUF + VIRTIO_NET_HDR_SIZE, len), f, len) == 0);

    /* Odd values inside the frame are taken: the sum from 35 stored at 38. */
    tx_send(&net, &tx, f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 35, 3, 1);
    CHECK_EQ(tx_count, 1);
    uint8_t *want = malloc(len);
    memcpy(want, f, len);
    uint16_t c = (uint16_t)~ref_sum(0, f + 35, len - 35);
    /* ref_sum pairs from 35; the device sums in host order from 35 as well, same result. */
    put16(want + 38, c ? c : 0xffff);
    CHECK(memcmp(last_tx, want, len) == 0);
    /* The last two bytes of the frame as the field. */
    tx_send(&net, &tx, f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 34, (uint16_t)(len - 36), 1);
    CHECK_EQ(tx_count, 2);
    free(want);

    /* A segmentation request (TCPv4, never offered): dropped. */
    tx_send(&net, &tx, f, len, 0, 1, 0, 0, 1);
    CHECK_EQ(tx_count, 2);
    CHECK_EQ(net.stats.tx_dropped, n + 1);
    vmm_virtio_net_fini(&net);
    free(f);
}

static void test_big_frame(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    setup(&net, &rx, &tx,
          VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
              VIRTIO_BIT(VIRTIO_NET_F_MTU));
    uint8_t *f = malloc(VMM_VIRTIO_NET_MAX_FRAME);
    /* A TCP segment filling the MTU, over 20 transmit buffers, its checksum left to us. */
    size_t len = make_ip4(f, 6, VMM_NET_MTU - 40);
    CHECK_EQ(len, BIG_FRAME);
    tx_send(&net, &tx, f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 34, 16, 20);
    CHECK_EQ(tx_count, 1);
    CHECK_EQ(last_tx_len, BIG_FRAME);
    CHECK_EQ(get16(last_tx + 50), ref_l4_csum(f, len));
    CHECK(memcmp(last_tx + 52, f + 52, len - 52) == 0);

    /* The same frame received into 4 KiB buffers: 17 of them, num_buffers = 17. */
    const unsigned bufsz = 4096, nbufs = 20;
    for (unsigned i = 0; i < nbufs; i++) {
        fvq_desc(&rx, i, RXBUF + (uint64_t)i * bufsz, bufsz, VIRTQ_DESC_F_WRITE, 0);
        fvq_publish(&rx, (uint16_t)i);
    }
    memset(gp(&mem, RXBUF, (uint64_t)nbufs * bufsz), 0xee, (uint64_t)nbufs * bufsz);
    CHECK_EQ(vmm_virtio_net_receive(&net, last_tx, last_tx_len), 0);
    vmm_virtio_net_rx_flush(&net);
    unsigned need = (unsigned)((VIRTIO_NET_HDR_SIZE + BIG_FRAME + bufsz - 1) / bufsz);
    CHECK_EQ(need, 17);
    CHECK_EQ(fvq_used_idx(&rx), need);
    uint32_t id, ulen, total = 0;
    for (unsigned i = 0; i < need; i++) {
        fvq_used_elem(&rx, (uint16_t)i, &id, &ulen);
        CHECK_EQ(id, i);
        total += ulen;
    }
    CHECK_EQ(total, VIRTIO_NET_HDR_SIZE + BIG_FRAME);
    const uint8_t *b = gp(&mem, RXBUF, (uint64_t)nbufs * bufsz);
    CHECK_EQ(b[VIRTIO_NET_HDR_NUM_BUFFERS] | b[VIRTIO_NET_HDR_NUM_BUFFERS + 1] << 8, need);
    CHECK(memcmp(b + VIRTIO_NET_HDR_SIZE, last_tx, BIG_FRAME) == 0);
    CHECK_EQ(b[VIRTIO_NET_HDR_SIZE + BIG_FRAME], 0xee); /* nothing written past it */
    CHECK_EQ(net.stats.rx_frames, 1);

    /* The largest frame the device takes at all, and one byte more. */
    CHECK_EQ(vmm_virtio_net_receive(&net, f, VMM_VIRTIO_NET_MAX_FRAME), 0);
    CHECK_EQ(vmm_virtio_net_receive(&net, f, VMM_VIRTIO_NET_MAX_FRAME + 1), -EMSGSIZE);
    vmm_virtio_net_fini(&net);
    free(f);
}

static uint8_t rx_flags(struct vmm_virtio_net *net, struct fake_vq *rx, const uint8_t *f,
                        size_t len)
{
    uint16_t i = fvq_used_idx(rx);
    fvq_desc(rx, i % QSIZE, RXBUF, 2048, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(rx, (uint16_t)(i % QSIZE));
    memset(gp(&mem, RXBUF, 1), 0x77, 1);
    CHECK_EQ(vmm_virtio_net_receive(net, f, len), 0);
    vmm_virtio_net_rx_flush(net);
    CHECK_EQ(fvq_used_idx(rx), (uint16_t)(i + 1));
    return *gp(&mem, RXBUF, 1);
}

static void test_rx_data_valid(void)
{
    struct vmm_virtio_net net;
    struct fake_vq rx, tx;
    uint8_t f[2048];
    setup(&net, &rx, &tx, VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM));
    size_t tcp = make_ip4(f, 6, 100);
    CHECK_EQ(rx_flags(&net, &rx, f, tcp), VIRTIO_NET_HDR_F_DATA_VALID);
    size_t udp = make_ip4(f, 17, 100);
    CHECK_EQ(rx_flags(&net, &rx, f, udp), VIRTIO_NET_HDR_F_DATA_VALID);
    /* A fragment (MF set; then an offset): its L4 checksum cannot be vouched for. */
    f[14 + 6] = 0x20;
    CHECK_EQ(rx_flags(&net, &rx, f, udp), 0);
    f[14 + 6] = 0;
    f[14 + 7] = 8;
    CHECK_EQ(rx_flags(&net, &rx, f, udp), 0);
    f[14 + 7] = 0;
    /* ICMP, ARP, a frame cut short inside the TCP header: no flag. */
    make_ip4(f, 6, 0);
    CHECK_EQ(rx_flags(&net, &rx, f, 14 + 20 + 19), 0);
    f[14 + 9] = 1;
    CHECK_EQ(rx_flags(&net, &rx, f, 14 + 20 + 8), 0);
    put16(f + 12, 0x0806);
    CHECK_EQ(rx_flags(&net, &rx, f, 60), 0);
    /* IPv6 with TCP right after the fixed header. */
    memset(f + 14, 0, 60);
    put16(f + 12, 0x86dd);
    f[14] = 0x60;
    f[14 + 6] = 6;
    CHECK_EQ(rx_flags(&net, &rx, f, 14 + 40 + 20), VIRTIO_NET_HDR_F_DATA_VALID);
    vmm_virtio_net_fini(&net);

    /* The driver did not take GUEST_CSUM: never set. */
    setup(&net, &rx, &tx, 0);
    tcp = make_ip4(f, 6, 100);
    CHECK_EQ(rx_flags(&net, &rx, f, tcp), 0);
    vmm_virtio_net_fini(&net);
}

int main(void)
{
    mem = fake_mem_new(16 * MIB, 0);
    last_tx = malloc(VMM_VIRTIO_NET_MAX_FRAME);
    RUN_TEST(test_features_and_mtu);
    RUN_TEST(test_tx_csum);
    RUN_TEST(test_tx_csum_hostile);
    RUN_TEST(test_big_frame);
    RUN_TEST(test_rx_data_valid);
    free(last_tx);
    fake_mem_free(&mem);
    return test_finish();
}
