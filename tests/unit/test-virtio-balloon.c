/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-balloon: inflated PFNs are released in contiguous runs (and really
 * with madvise: the page reads zero afterwards), PFNs outside RAM are
 * skipped and counted, the target reaches the config space with a config
 * change, the statistics buffer is kept and handed back on request.
 */
#include "fake-guest-mem.h"
#include "fake-virtq.h"
#include "test.h"
#include "virtio/balloon.h"

#define RING0 0x10000ULL
#define RING2 0x30000ULL
#define BUF 0x100000ULL

static struct vmm_guest_mem mem;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct run {
    uint64_t off, len;
};
static struct run runs[16];
static unsigned nruns;

static void record_release(void *host, uint64_t len, void *opaque)
{
    (void)opaque;
    if (nruns < 16)
        runs[nruns++] = (struct run){(uint64_t)((uint8_t *)host - mem.base), len};
}

static void enable(struct vmm_virtio_balloon *b, unsigned q, struct fake_vq *f, uint64_t ring)
{
    fvq_init(f, &mem, ring, 8);
    b->queues[q].size = 8;
    b->queues[q].desc_gpa = f->desc;
    b->queues[q].avail_gpa = f->avail;
    b->queues[q].used_gpa = f->used;
    vmm_virtio_dev_enable_queue(&b->vdev, q);
}

static void start(struct vmm_virtio_balloon *b, uint32_t target)
{
    CHECK_EQ(vmm_virtio_balloon_init(b, target, &lock, &mem), 0);
    b->vdev.driver_features =
        VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ);
    b->vdev.status = VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
}

static void test_inflate(void)
{
    struct vmm_virtio_balloon b;
    struct fake_vq f;
    start(&b, 64);
    b.release = record_release;
    nruns = 0;
    enable(&b, 0, &f, RING0);
    /* PFNs 0x400..0x402 (one run), 0x500, one far outside RAM, 0x403 (a new run). */
    uint32_t pfns[] = {0x400, 0x401, 0x402, 0x500, 0x7fffffff, 0x403};
    memcpy(gp(&mem, BUF, sizeof(pfns)), pfns, sizeof(pfns));
    fvq_desc(&f, 0, BUF, sizeof(pfns) + 2, 0, 0); /* a ragged tail is ignored */
    fvq_publish(&f, 0);
    vmm_virtio_dev_notify(&b.vdev, 0);
    CHECK_EQ(fvq_used_idx(&f), 1);
    CHECK_EQ(nruns, 3);
    CHECK_EQ(runs[0].off, 0x400000);
    CHECK_EQ(runs[0].len, 3 * 4096);
    CHECK_EQ(runs[1].off, 0x500000);
    CHECK_EQ(runs[1].len, 4096);
    CHECK_EQ(runs[2].off, 0x403000);
    struct vmm_virtio_balloon_stats s;
    vmm_virtio_balloon_get_stats(&b, &s);
    CHECK_EQ(s.inflated_pages, 5);
    CHECK_EQ(s.bad_pfns, 1);
    CHECK_EQ(s.target, 64);
    vmm_virtio_balloon_fini(&b);
}

static void test_madvise(void)
{
    /* The real release on real anonymous memory: the page's contents are gone. */
    struct vmm_virtio_balloon b;
    struct fake_vq f;
    start(&b, 0);
    enable(&b, 0, &f, RING0);
    memset(gp(&mem, 0x600000, 4096), 0xab, 4096);
    uint32_t pfn = 0x600;
    memcpy(gp(&mem, BUF, 4), &pfn, 4);
    fvq_desc(&f, 0, BUF, 4, 0, 0);
    fvq_publish(&f, 0);
    vmm_virtio_dev_notify(&b.vdev, 0);
    const uint8_t *p = gp(&mem, 0x600000, 4096);
    CHECK_EQ(p[0], 0);
    CHECK_EQ(p[4095], 0);
    vmm_virtio_balloon_fini(&b);
}

static void test_config_and_stats(void)
{
    struct vmm_virtio_balloon b;
    struct fake_vq f;
    start(&b, 256);
    uint32_t v = 0;
    b.vdev.ops->config_read(&b.vdev, VIRTIO_BALLOON_CFG_NUM_PAGES, &v, 4);
    CHECK_EQ(v, 256);
    uint8_t gen = b.vdev.config_generation;
    vmm_virtio_balloon_set_target(&b, 512);
    b.vdev.ops->config_read(&b.vdev, VIRTIO_BALLOON_CFG_NUM_PAGES, &v, 4);
    CHECK_EQ(v, 512);
    CHECK(b.vdev.config_generation != gen);
    /* The driver writes actual; num_pages is the device's. */
    uint32_t act = 100;
    b.vdev.ops->config_write(&b.vdev, VIRTIO_BALLOON_CFG_ACTUAL, &act, 4);
    b.vdev.ops->config_write(&b.vdev, VIRTIO_BALLOON_CFG_NUM_PAGES, &act, 4);
    b.vdev.ops->config_read(&b.vdev, VIRTIO_BALLOON_CFG_NUM_PAGES, &v, 4);
    CHECK_EQ(v, 512);
    struct vmm_virtio_balloon_stats s;
    vmm_virtio_balloon_get_stats(&b, &s);
    CHECK_EQ(s.actual, 100);

    /* Stats: the buffer is read and held (not used) until asked for again. */
    enable(&b, 2, &f, RING2);
    uint8_t st[20] = {0};
    st[0] = 4; /* VIRTIO_BALLOON_S_MEMFREE */
    uint64_t free_bytes = 123456789;
    memcpy(st + 2, &free_bytes, 8);
    st[10] = 0xff; /* an unknown tag: ignored */
    st[11] = 0xff;
    memcpy(gp(&mem, BUF, sizeof(st)), st, sizeof(st));
    fvq_desc(&f, 0, BUF, sizeof(st), 0, 0);
    fvq_publish(&f, 0);
    vmm_virtio_dev_notify(&b.vdev, 2);
    CHECK_EQ(fvq_used_idx(&f), 0);
    vmm_virtio_balloon_get_stats(&b, &s);
    CHECK(s.have_guest_stats);
    CHECK_EQ(s.guest[4], 123456789);
    vmm_virtio_balloon_request_stats(&b);
    CHECK_EQ(fvq_used_idx(&f), 1);
    /* Asking again without a new buffer does nothing. */
    vmm_virtio_balloon_request_stats(&b);
    CHECK_EQ(fvq_used_idx(&f), 1);
    vmm_virtio_balloon_fini(&b);
}

int main(void)
{
    mem = fake_mem_new(16 * MIB, 0);
    RUN_TEST(test_inflate);
    RUN_TEST(test_madvise);
    RUN_TEST(test_config_and_stats);
    fake_mem_free(&mem);
    return test_finish();
}
