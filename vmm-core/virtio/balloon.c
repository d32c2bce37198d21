/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-balloon: inflate/deflate by PFN lists, madvise on inflate, a statistics queue. */
#include "virtio/balloon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"

#define INFLATEQ 0
#define DEFLATEQ 1
#define STATSQ 2
#define PAGE 4096ULL
#define STAT_SIZE 10 /* le16 tag, le64 value */

static struct vmm_virtio_balloon *to_bal(struct vmm_virtio_dev *vdev)
{
    return (struct vmm_virtio_balloon *)((char *)vdev - offsetof(struct vmm_virtio_balloon, vdev));
}

static uint64_t bal_features(struct vmm_virtio_dev *vdev)
{
    (void)vdev;
    return VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ);
}

static void bal_config_read(struct vmm_virtio_dev *vdev, unsigned off, void *buf, unsigned len)
{
    struct vmm_virtio_balloon *b = to_bal(vdev);
    uint8_t cfg[VIRTIO_BALLOON_CFG_SIZE];
    memcpy(cfg + VIRTIO_BALLOON_CFG_NUM_PAGES, &b->num_pages, 4);
    memcpy(cfg + VIRTIO_BALLOON_CFG_ACTUAL, &b->actual, 4);
    if (off < sizeof(cfg) && len <= sizeof(cfg) - off)
        memcpy(buf, cfg + off, len);
}

static void bal_config_write(struct vmm_virtio_dev *vdev, unsigned off, const void *buf,
                             unsigned len)
{
    struct vmm_virtio_balloon *b = to_bal(vdev);
    /* Only `actual` is the driver's; written whole. */
    if (off == VIRTIO_BALLOON_CFG_ACTUAL && len == 4)
        memcpy(&b->actual, buf, 4);
}

static void default_release(void *host, uint64_t len, void *opaque)
{
    (void)opaque;
    if (madvise(host, len, MADV_DONTNEED) < 0)
        vmm_log_ratelimited(VMM_LOG_WARN, "virtio-balloon: madvise failed");
}

/* Releases a run of pages [gpa, gpa + n pages) if it is all RAM. */
static void release_run(struct vmm_virtio_balloon *b, uint64_t gpa, uint64_t n)
{
    uint8_t *p = vmm_guest_ptr(b->vdev.mem, gpa, n * PAGE);
    if (!p) {
        b->stats.bad_pfns += n;
        return;
    }
    b->release(p, n * PAGE, b->release_opaque);
    b->stats.inflated_pages += n;
}

static void inflate_elem(struct vmm_virtio_balloon *b, const struct vmm_virtq_elem *e)
{
    uint64_t run_start = 0, run_len = 0;
    uint32_t pfns[256];
    for (uint64_t off = 0; off + 4 <= e->out_len;) {
        size_t want = (size_t)((e->out_len - off) / 4);
        if (want > 256)
            want = 256;
        size_t got = vmm_virtq_read(e, off, pfns, want * 4) / 4;
        if (got == 0)
            break;
        for (size_t i = 0; i < got; i++) {
            uint64_t gpa = (uint64_t)pfns[i] << VIRTIO_BALLOON_PFN_SHIFT;
            if (run_len && gpa == run_start + run_len * PAGE) {
                run_len++;
                continue;
            }
            if (run_len)
                release_run(b, run_start, run_len);
            run_start = gpa;
            run_len = 1;
        }
        off += got * 4;
    }
    if (run_len)
        release_run(b, run_start, run_len);
}

static void stats_elem(struct vmm_virtio_balloon *b, const struct vmm_virtq_elem *e)
{
    uint8_t s[STAT_SIZE];
    for (uint64_t off = 0; off + STAT_SIZE <= e->out_len && off < 64 * STAT_SIZE;
         off += STAT_SIZE) {
        if (vmm_virtq_read(e, off, s, STAT_SIZE) != STAT_SIZE)
            break;
        uint16_t tag = (uint16_t)(s[0] | s[1] << 8);
        uint64_t val;
        memcpy(&val, s + 2, 8);
        if (tag < VIRTIO_BALLOON_S_NR)
            b->stats.guest[tag] = val;
    }
    b->stats.have_guest_stats = true;
}

static bool bal_queue_notify(struct vmm_virtio_dev *vdev, unsigned q)
{
    struct vmm_virtio_balloon *b = to_bal(vdev);
    struct vmm_virtqueue *vq = &b->queues[q];
    bool pushed = false;
    vmm_virtq_begin(vq);
    if (q == STATSQ) {
        /* The driver (re)filled its buffer: read it and keep it. */
        while (!b->stats_held && vmm_virtq_pop(vq, b->elem) == 1) {
            stats_elem(b, b->elem);
            b->stats_held = true;
            b->stats_head = b->elem->head;
            b->stats_in_len = (uint32_t)b->elem->in_len;
        }
        return false;
    }
    while (vmm_virtq_pop(vq, b->elem) == 1) {
        if (q == INFLATEQ)
            inflate_elem(b, b->elem);
        else
            b->stats.deflated_pages += b->elem->out_len / 4;
        vmm_virtq_push(vq, b->elem, 0);
        pushed = true;
    }
    if (pushed)
        vmm_virtio_queue_done(vdev, q);
    return vq->budget_hit;
}

static void bal_reset(struct vmm_virtio_dev *vdev)
{
    struct vmm_virtio_balloon *b = to_bal(vdev);
    b->actual = 0;
    b->stats_held = false;
    b->stats.have_guest_stats = false;
}

static const struct vmm_virtio_dev_ops bal_ops = {
    .features = bal_features,
    .config_read = bal_config_read,
    .config_write = bal_config_write,
    .queue_notify = bal_queue_notify,
    .reset = bal_reset,
};

void vmm_virtio_balloon_set_target(struct vmm_virtio_balloon *b, uint32_t pages)
{
    pthread_mutex_lock(b->vdev.lock);
    if (b->num_pages != pages) {
        b->num_pages = pages;
        vmm_virtio_config_changed(&b->vdev);
    }
    pthread_mutex_unlock(b->vdev.lock);
}

void vmm_virtio_balloon_request_stats(struct vmm_virtio_balloon *b)
{
    pthread_mutex_lock(b->vdev.lock);
    struct vmm_virtqueue *vq = &b->queues[STATSQ];
    if (b->stats_held && vmm_virtio_dev_live(&b->vdev) && vmm_virtq_ready(vq)) {
        b->elem->head = b->stats_head;
        b->elem->in_len = b->stats_in_len;
        vmm_virtq_push(vq, b->elem, 0);
        b->stats_held = false;
        vmm_virtio_queue_done(&b->vdev, STATSQ);
    }
    pthread_mutex_unlock(b->vdev.lock);
}

void vmm_virtio_balloon_get_stats(struct vmm_virtio_balloon *b, struct vmm_virtio_balloon_stats *s)
{
    pthread_mutex_lock(b->vdev.lock);
    *s = b->stats;
    s->actual = b->actual;
    s->target = b->num_pages;
    pthread_mutex_unlock(b->vdev.lock);
}

int vmm_virtio_balloon_init(struct vmm_virtio_balloon *b, uint32_t target_pages,
                            pthread_mutex_t *lock, const struct vmm_guest_mem *mem)
{
    memset(b, 0, sizeof(*b));
    b->elem = malloc(sizeof(*b->elem));
    if (!b->elem)
        return -ENOMEM;
    b->num_pages = target_pages;
    b->release = default_release;
    vmm_virtio_dev_init(&b->vdev, &bal_ops, VIRTIO_ID_BALLOON, lock, mem, b->queues, 3,
                        VMM_VIRTIO_BALLOON_QUEUE_SIZE, VIRTIO_BALLOON_CFG_SIZE);
    return 0;
}

void vmm_virtio_balloon_fini(struct vmm_virtio_balloon *b)
{
    free(b->elem);
    b->elem = NULL;
}
