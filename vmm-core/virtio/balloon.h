/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_BALLOON_H
#define VMM_VIRTIO_BALLOON_H

/*
 * virtio-balloon (device type 5): the host sets a target (num_pages, 4 KiB
 * pages the guest should give back); the driver inflates by sending page
 * frame numbers on queue 0, deflates on queue 1. Inflated pages are
 * released with madvise(MADV_DONTNEED), so the host's RSS really drops; a
 * deflated page needs nothing (it reads as zero when next touched). The
 * statistics queue (2, VIRTIO_BALLOON_F_STATS_VQ) holds one buffer of
 * (le16 tag, le64 value) pairs: the device keeps it, and returns it when it
 * wants fresh numbers (vmm_virtio_balloon_request_stats).
 *
 * Hostile input: PFNs outside guest RAM (or in the PCI hole) are skipped
 * and counted; buffers that are not whole PFN arrays have their tail
 * ignored. The accounting (actual) is the driver's word, only reported.
 */

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"

#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_PFN_SHIFT 12
#define VIRTIO_BALLOON_CFG_NUM_PAGES 0
#define VIRTIO_BALLOON_CFG_ACTUAL 4
#define VIRTIO_BALLOON_CFG_SIZE 8
#define VIRTIO_BALLOON_S_NR 16 /* tags the device keeps (0..15) */

#define VMM_VIRTIO_BALLOON_QUEUE_SIZE 128
#define VMM_VIRTIO_BALLOON_PCI_CLASS 0xff0000

struct vmm_virtio_balloon_stats {
    uint64_t inflated_pages; /* released to the host since reset */
    uint64_t deflated_pages;
    uint64_t bad_pfns; /* outside RAM: skipped */
    uint32_t actual;   /* what the driver says it holds */
    uint32_t target;
    bool have_guest_stats;
    uint64_t guest[VIRTIO_BALLOON_S_NR]; /* by tag (swap in/out, free, total, ...) */
};

struct vmm_virtio_balloon {
    struct vmm_virtio_dev vdev;
    struct vmm_virtqueue queues[3];
    struct vmm_virtq_elem *elem;
    uint32_t num_pages; /* target */
    uint32_t actual;
    struct vmm_virtio_balloon_stats stats;
    bool stats_held; /* the driver's stats buffer, kept until we want new numbers */
    uint16_t stats_head;
    uint32_t stats_in_len;
    /* How pages are given back; madvise(MADV_DONTNEED) unless a test replaces it. */
    void (*release)(void *host, uint64_t len, void *opaque);
    void *release_opaque;
};

VMM_WUR int vmm_virtio_balloon_init(struct vmm_virtio_balloon *b, uint32_t target_pages,
                                    pthread_mutex_t *lock, const struct vmm_guest_mem *mem);
void vmm_virtio_balloon_fini(struct vmm_virtio_balloon *b);

/* New target in 4 KiB pages; tells the driver (config interrupt). Takes the device lock. */
void vmm_virtio_balloon_set_target(struct vmm_virtio_balloon *b, uint32_t pages);
/* Hands the statistics buffer back so the driver refills it. Takes the device lock. */
void vmm_virtio_balloon_request_stats(struct vmm_virtio_balloon *b);
void vmm_virtio_balloon_get_stats(struct vmm_virtio_balloon *b, struct vmm_virtio_balloon_stats *s);

#endif
