/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the split virtqueue engine and virtio-blk driven by a
 * guest whose rings and buffers are the fuzz input.
 *
 * Input: an 8-byte preamble, then the first bytes of guest RAM.
 *   [0] queue size = 1 << (b & 7)        [1] bit 0 INDIRECT_DESC, bit 1 EVENT_IDX,
 *   [2..3] avail index (le16)                bit 2 read-only, bit 3 fold buffer addresses
 *   [4] notifications to run (1..4)          into the first 64 KiB (so more chains reach
 *   [5] queue budget (0: default)            the request parser), bit 4 use high RAM
 *   [6..7] reserved                          for the rings
 * Guest RAM is 1 MiB low + 64 KiB high; descriptors at 0, avail ring at
 * 0x1000, used ring at 0x2000 of the ring base. The disk is a 64 KiB raw
 * image in a temporary file.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/blk.h"

#define LOW (1024 * 1024)
#define HIGH (64 * 1024)
#define DISK (64 * 1024)

static struct vmm_guest_mem mem;
static struct vmm_disk *disk;
static struct vmm_virtio_blk blk_rw, blk_ro;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mem.lowmem_size = LOW;
    mem.highmem_size = HIGH;
    mem.base = mmap(NULL, LOW + HIGH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem.base == MAP_FAILED)
        abort();
    char path[] = "/tmp/terrarium-fuzz-blk-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, DISK) < 0)
        abort();
    close(fd);
    struct vmm_error err = {0};
    disk = vmm_disk_open(path, VMM_DISK_FORMAT_RAW, &err);
    unlink(path);
    if (!disk)
        abort();
    struct vmm_virtio_blk_opts o = {.disk = disk, .serial = "fuzz", .num_queues = 1};
    if (vmm_virtio_blk_init(&blk_rw, &o, &lock, &mem) < 0)
        abort();
    o.read_only = true;
    if (vmm_virtio_blk_init(&blk_ro, &o, &lock, &mem) < 0)
        abort();
    return 0;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint16_t qsize = (uint16_t)(1u << (data[0] & 7));
    uint8_t flags = data[1];
    uint16_t avail_idx = (uint16_t)(data[2] | data[3] << 8);
    unsigned rounds = 1 + (data[4] & 3);
    unsigned budget = data[5];
    data += 8;
    size -= 8;

    uint64_t ring = (flags & 16) ? VMM_4GIB : 0;
    uint8_t *ring_host = vmm_guest_ptr(&mem, ring, 0x3000);
    memset(mem.base, 0, 0x10000);
    memset(mem.base + LOW, 0, HIGH);
    memcpy(ring_host, data, size < 0x3000 ? size : 0x3000);
    if (size > 0x3000)
        memcpy(mem.base + 0x3000, data + 0x3000, size - 0x3000 < 0xd000 ? size - 0x3000 : 0xd000);
    if (flags & 8) {
        /* A driver that only uses the first 64 KiB: descriptor addresses folded into it. */
        for (unsigned i = 0; i < qsize; i++) {
            uint64_t a = load64(ring_host + 16 * i) & 0xffff;
            memcpy(ring_host + 16 * i, &a, 8);
        }
    }
    memcpy(ring_host + 0x1000 + 2, &avail_idx, 2);

    struct vmm_virtio_blk *b = (flags & 4) ? &blk_ro : &blk_rw;
    struct vmm_virtio_dev *v = &b->vdev;
    vmm_virtio_dev_reset(v);
    v->driver_features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
    if (flags & 1)
        v->driver_features |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
    if (flags & 2)
        v->driver_features |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
    if (!vmm_virtio_dev_check_features(v))
        abort(); /* the harness offers only what the device has */
    v->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                VIRTIO_STATUS_DRIVER_OK;
    struct vmm_virtqueue *vq = &b->queues[0];
    vq->size = qsize;
    vq->desc_gpa = ring;
    vq->avail_gpa = ring + 0x1000;
    vq->used_gpa = ring + 0x2000;
    vq->budget = budget;
    vmm_virtio_dev_enable_queue(v, 0);
    for (unsigned r = 0; r < rounds; r++) {
        vmm_virtio_dev_notify(v, 0);
        /* The driver makes more of the same ring available between kicks. */
        avail_idx = (uint16_t)(avail_idx + r);
        memcpy(ring_host + 0x1000 + 2, &avail_idx, 2);
    }
    /*
     * Synchronous virtio-blk completes every chain it pops, except the one
     * whose malformed header stopped the device.
     */
    uint16_t outstanding = (uint16_t)(vq->last_avail - vq->used_idx);
    if (outstanding > 1 || (outstanding == 1 && !(v->status & VIRTIO_STATUS_NEEDS_RESET)))
        abort();
    return 0;
}
