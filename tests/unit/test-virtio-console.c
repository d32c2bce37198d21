/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-console: transmitted chains reach the backend in order; input
 * waits for receive buffers, is split over them, wraps in its ring, is
 * bounded, and is dropped on reset.
 */
#include "fake-guest-mem.h"
#include "fake-virtq.h"
#include "test.h"
#include "virtio/console.h"

#define RXRING 0x10000ULL
#define TXRING 0x20000ULL
#define BUF 0x100000ULL

static struct vmm_guest_mem mem;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char out[256];
static size_t out_len;

static void backend_out(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    if (out_len + len <= sizeof(out)) {
        memcpy(out + out_len, buf, len);
        out_len += len;
    }
}

static void setup(struct vmm_virtio_console *c, struct fake_vq *rx, struct fake_vq *tx)
{
    struct vmm_virtio_console_backend be = {.out = backend_out};
    CHECK_EQ(vmm_virtio_console_init(c, &be, &lock, &mem), 0);
    c->vdev.driver_features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
    c->vdev.status = VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
    fvq_init(rx, &mem, RXRING, 8);
    fvq_init(tx, &mem, TXRING, 8);
    struct fake_vq *f[2] = {rx, tx};
    for (unsigned q = 0; q < 2; q++) {
        c->queues[q].size = 8;
        c->queues[q].desc_gpa = f[q]->desc;
        c->queues[q].avail_gpa = f[q]->avail;
        c->queues[q].used_gpa = f[q]->used;
        vmm_virtio_dev_enable_queue(&c->vdev, q);
    }
    out_len = 0;
}

static void test_output(void)
{
    struct vmm_virtio_console c;
    struct fake_vq rx, tx;
    setup(&c, &rx, &tx);
    memcpy(gp(&mem, BUF, 16), "hello, ", 7);
    memcpy(gp(&mem, BUF + 0x1000, 16), "hvc0\n", 5);
    fvq_desc(&tx, 0, BUF, 7, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&tx, 1, BUF + 0x1000, 5, 0, 0);
    fvq_publish(&tx, 0);
    vmm_virtio_dev_notify(&c.vdev, 1);
    CHECK_EQ(out_len, 12);
    CHECK(memcmp(out, "hello, hvc0\n", 12) == 0);
    CHECK_EQ(fvq_used_idx(&tx), 1);
    /* Writable buffers in the transmit queue are ignored (nothing to read), chain returned. */
    fvq_desc(&tx, 2, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&tx, 2);
    vmm_virtio_dev_notify(&c.vdev, 1);
    CHECK_EQ(out_len, 12);
    CHECK_EQ(fvq_used_idx(&tx), 2);
    vmm_virtio_console_fini(&c);
}

static void test_input(void)
{
    struct vmm_virtio_console c;
    struct fake_vq rx, tx;
    setup(&c, &rx, &tx);
    /* No buffers: kept. */
    CHECK_EQ(vmm_virtio_console_input(&c, (const uint8_t *)"abcdef", 6), 6);
    CHECK_EQ(fvq_used_idx(&rx), 0);
    /* Two 4-byte buffers: "abcd" then "ef". */
    fvq_desc(&rx, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
    fvq_desc(&rx, 1, BUF + 0x1000, 4, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&rx, 0);
    fvq_publish(&rx, 1);
    vmm_virtio_dev_notify(&c.vdev, 0);
    CHECK_EQ(fvq_used_idx(&rx), 2);
    uint32_t id, len;
    fvq_used_elem(&rx, 0, &id, &len);
    CHECK_EQ(len, 4);
    CHECK(memcmp(gp(&mem, BUF, 4), "abcd", 4) == 0);
    fvq_used_elem(&rx, 1, &id, &len);
    CHECK_EQ(len, 2);
    CHECK(memcmp(gp(&mem, BUF + 0x1000, 2), "ef", 2) == 0);

    /* Bounded: a flood past the buffer is cut and counted. */
    static uint8_t big[VMM_VIRTIO_CONSOLE_INBUF + 100];
    memset(big, 'x', sizeof(big));
    CHECK_EQ(vmm_virtio_console_input(&c, big, sizeof(big)), VMM_VIRTIO_CONSOLE_INBUF);
    CHECK_EQ(c.in_dropped, 100);
    /* Reset drops what was waiting. */
    vmm_virtio_dev_reset(&c.vdev);
    CHECK_EQ(c.in_len, 0);
    vmm_virtio_console_fini(&c);
}

static void test_wrap(void)
{
    struct vmm_virtio_console c;
    struct fake_vq rx, tx;
    setup(&c, &rx, &tx);
    /* Move the ring head near the end, then deliver bytes that wrap around it. */
    c.in_head = VMM_VIRTIO_CONSOLE_INBUF - 3;
    CHECK_EQ(vmm_virtio_console_input(&c, (const uint8_t *)"12345678", 8), 8);
    fvq_desc(&rx, 0, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&rx, 0);
    vmm_virtio_dev_notify(&c.vdev, 0);
    uint32_t id, len;
    fvq_used_elem(&rx, 0, &id, &len);
    CHECK_EQ(len, 8);
    CHECK(memcmp(gp(&mem, BUF, 8), "12345678", 8) == 0);
    vmm_virtio_console_fini(&c);
}

int main(void)
{
    mem = fake_mem_new(16 * MIB, 0);
    RUN_TEST(test_output);
    RUN_TEST(test_input);
    RUN_TEST(test_wrap);
    fake_mem_free(&mem);
    return test_finish();
}
