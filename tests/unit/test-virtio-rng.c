/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-rng: writable buffers are filled (and only they), capped per request. */
#include "fake-guest-mem.h"
#include "fake-virtq.h"
#include "test.h"
#include "virtio/rng.h"

#define RING 0x10000ULL
#define BUF 0x100000ULL

static struct vmm_guest_mem mem;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void test_fill(void)
{
    struct vmm_virtio_rng rng;
    struct fake_vq f;
    CHECK_EQ(vmm_virtio_rng_init(&rng, &lock, &mem), 0);
    CHECK_EQ(vmm_virtio_dev_features(&rng.vdev), VIRTIO_BIT(VIRTIO_F_VERSION_1) |
                                                     VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
                                                     VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
    rng.vdev.driver_features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
    rng.vdev.status = VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
    fvq_init(&f, &mem, RING, 8);
    rng.queue.size = 8;
    rng.queue.desc_gpa = f.desc;
    rng.queue.avail_gpa = f.avail;
    rng.queue.used_gpa = f.used;
    vmm_virtio_dev_enable_queue(&rng.vdev, 0);

    /* A readable buffer (left alone) then two writable ones (filled). */
    memset(gp(&mem, BUF, 0x3000), 0, 0x3000);
    fvq_desc(&f, 0, BUF, 64, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&f, 1, BUF + 0x1000, 256, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    fvq_desc(&f, 2, BUF + 0x2000, 256, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&f, 0);
    vmm_virtio_dev_notify(&rng.vdev, 0);
    CHECK_EQ(fvq_used_idx(&f), 1);
    uint32_t id, len;
    fvq_used_elem(&f, 0, &id, &len);
    CHECK_EQ(id, 0);
    CHECK_EQ(len, 512);
    static const uint8_t zero[256];
    CHECK(memcmp(gp(&mem, BUF, 64), zero, 64) == 0);
    /* 256 random bytes are all zero with probability 2^-2048. */
    CHECK(memcmp(gp(&mem, BUF + 0x1000, 256), zero, 256) != 0);
    CHECK(memcmp(gp(&mem, BUF + 0x2000, 256), zero, 256) != 0);
    CHECK(memcmp(gp(&mem, BUF + 0x1000, 256), gp(&mem, BUF + 0x2000, 256), 256) != 0);

    /* A huge request gets at most the per-request cap. */
    fvq_desc(&f, 3, BUF, 8 * MIB, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&f, 3);
    vmm_virtio_dev_notify(&rng.vdev, 0);
    fvq_used_elem(&f, 1, &id, &len);
    CHECK_EQ(id, 3);
    CHECK_EQ(len, VMM_VIRTIO_RNG_MAX_REQUEST);
    vmm_virtio_rng_fini(&rng);
}

int main(void)
{
    mem = fake_mem_new(16 * MIB, 0);
    RUN_TEST(test_fill);
    fake_mem_free(&mem);
    return test_finish();
}
