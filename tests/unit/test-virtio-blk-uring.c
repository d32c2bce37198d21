/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk on io_uring (blk-uring.c) against a temporary raw image:
 * requests complete only when the completion eventfd is served, many at
 * once, in any order; FLUSH after the writes submitted before it; kernel
 * errors and short transfers; hostile requests still refused; reset and
 * drain with requests in flight; the fallback for images without an fd.
 * Skips (77) when this kernel refuses io_uring.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "fake-guest-mem.h"
#include "fake-virtq.h"
#include "test.h"
#include "virtio/blk-io.h"
#include "virtio/blk.h"

#define DISK_SIZE (1024 * 1024)
#define SECTORS (DISK_SIZE / 512)
#define RING 0x10000ULL
#define HDR 0x20000ULL
#define STATUS 0x30000ULL
#define DATA 0x100000ULL

static struct vmm_guest_mem mem;
static char path[] = "/tmp/terrarium-blk-uring-XXXXXX";
static int img_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned interrupts;

static void count_interrupt(void *t, unsigned q)
{
    interrupts++;
}

static const struct vmm_virtio_transport_ops counting = {.interrupt = count_interrupt};

static uint8_t pattern(uint64_t off)
{
    return (uint8_t)(off * 7 + off / 512);
}

static void write_pattern(void)
{
    static uint8_t buf[DISK_SIZE];
    for (uint64_t i = 0; i < DISK_SIZE; i++)
        buf[i] = pattern(i);
    if (pwrite(img_fd, buf, DISK_SIZE, 0) != DISK_SIZE) {
        perror("pwrite");
        exit(2);
    }
}

static bool image_is(uint64_t off, const uint8_t *want, size_t len)
{
    uint8_t buf[4096];
    if (len > sizeof(buf) || pread(img_fd, buf, len, (off_t)off) != (ssize_t)len)
        return false;
    return memcmp(buf, want, len) == 0;
}

struct rig {
    struct vmm_disk *disk;
    struct vmm_virtio_blk blk;
    struct fake_vq f;
};

/* A device whose reads and writes all go to the ring (inline: tries them at once first). */
static void rig_up_mode(struct rig *r, struct vmm_disk *disk, uint16_t qsize, bool try_inline)
{
    memset(r, 0, sizeof(*r));
    r->disk = disk;
    if (!disk) {
        struct vmm_error err = {0};
        r->disk = vmm_disk_open(path, VMM_DISK_FORMAT_RAW, &err);
        CHECK(r->disk != NULL);
    }
    struct vmm_virtio_blk_opts o = {.disk = r->disk, .serial = "uring", .io_uring = true};
    CHECK_EQ(vmm_virtio_blk_init(&r->blk, &o, &lock, &mem), 0);
    struct vmm_virtio_dev *v = &r->blk.vdev;
    v->transport_ops = &counting;
    v->driver_features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
    CHECK(vmm_virtio_dev_check_features(v));
    v->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                VIRTIO_STATUS_DRIVER_OK;
    fvq_init(&r->f, &mem, RING, qsize);
    r->blk.queues[0].size = qsize;
    r->blk.queues[0].desc_gpa = r->f.desc;
    r->blk.queues[0].avail_gpa = r->f.avail;
    r->blk.queues[0].used_gpa = r->f.used;
    vmm_virtio_dev_enable_queue(v, 0);
    CHECK(vmm_virtq_ready(&r->blk.queues[0]));
    r->blk.inline_off = !try_inline;
    interrupts = 0;
}

static void rig_up(struct rig *r, struct vmm_disk *disk, uint16_t qsize)
{
    rig_up_mode(r, disk, qsize, false);
}

static void rig_down(struct rig *r, bool close_disk)
{
    vmm_virtio_blk_fini(&r->blk);
    if (close_disk)
        vmm_disk_close(r->disk);
}

static void put_hdr(uint64_t gpa, uint32_t type, uint64_t sector)
{
    uint8_t *h = gp(&mem, gpa, 16);
    memset(h, 0, 16);
    memcpy(h, &type, 4);
    memcpy(h + 8, &sector, 8);
}

/* Request i (descriptors 3i..3i+2): header, `len` bytes of data at DATA + 64 KiB * i, status. */
static void publish(struct rig *r, unsigned i, uint32_t type, uint64_t sector, uint32_t len)
{
    struct fake_vq *f = &r->f;
    uint16_t d = (uint16_t)(3 * i);
    put_hdr(HDR + 0x100 * i, type, sector);
    *gp(&mem, STATUS + i, 1) = 0xee;
    if (len) {
        fvq_desc(f, d, HDR + 0x100 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
        fvq_desc(f, d + 1, DATA + 0x10000ULL * i, len,
                 VIRTQ_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0),
                 (uint16_t)(d + 2));
    } else {
        fvq_desc(f, d, HDR + 0x100 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 2));
    }
    fvq_desc(f, d + 2, STATUS + i, 1, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(f, d);
}

static void notify(struct rig *r)
{
    pthread_mutex_lock(&lock);
    vmm_virtio_dev_notify(&r->blk.vdev, 0);
    pthread_mutex_unlock(&lock);
}

/* Serves the completion eventfd as the event loop does until `want` requests are used. */
static void complete_until(struct rig *r, uint16_t want)
{
    int fd = vmm_virtio_blk_uring_fd(&r->blk);
    for (unsigned spins = 0; fvq_used_idx(&r->f) < want && spins < 1000; spins++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) != 1)
            break;
        vmm_virtio_blk_complete(&r->blk);
    }
    CHECK_EQ(fvq_used_idx(&r->f), want);
}

/* Which request (by descriptor head / 3) the k-th used element is. */
static unsigned used_req(struct rig *r, uint16_t k)
{
    uint32_t id, len;
    fvq_used_elem(&r->f, k, &id, &len);
    return id / 3;
}

static void test_reads_and_writes_complete_on_the_loop(void)
{
    struct rig r;
    rig_up(&r, NULL, 128);
    CHECK(vmm_virtio_blk_uring_fd(&r.blk) >= 0);
    /* 40 requests in one kick: reads of sector 8i (4 KiB), writes of sector 1024 + 8i. */
    const unsigned n = 40;
    for (unsigned i = 0; i < n; i++) {
        bool w = i % 2;
        if (w)
            memset(gp(&mem, DATA + 0x10000ULL * i, 4096), (int)(0x40 + i), 4096);
        publish(&r, i, w ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, w ? 1024 + 8 * i : 8 * i, 4096);
    }
    notify(&r);
    /* Nothing is completed by the notify itself: completions come from the eventfd. */
    CHECK_EQ(fvq_used_idx(&r.f), 0);
    CHECK_EQ(r.blk.inflight, n);
    CHECK_EQ(interrupts, 0);
    complete_until(&r, (uint16_t)n);
    bool seen[40] = {false};
    for (uint16_t k = 0; k < n; k++) {
        unsigned i = used_req(&r, k);
        CHECK(i < n && !seen[i]);
        if (i < n)
            seen[i] = true;
    }
    for (unsigned i = 0; i < n; i++) {
        CHECK_EQ(*gp(&mem, STATUS + i, 1), VIRTIO_BLK_S_OK);
        uint8_t want[4096];
        if (i % 2) {
            memset(want, (int)(0x40 + i), sizeof(want));
            CHECK(image_is((1024 + 8 * i) * 512ULL, want, sizeof(want)));
        } else {
            for (unsigned k = 0; k < 4096; k++)
                want[k] = pattern(8 * i * 512ULL + k);
            CHECK(memcmp(gp(&mem, DATA + 0x10000ULL * i, 4096), want, 4096) == 0);
        }
    }
    /* Interrupts go per completion batch, not per request. */
    CHECK(interrupts >= 1 && interrupts <= r.blk.stats.completions);
    CHECK_EQ(r.blk.inflight, 0);
    CHECK_EQ(r.blk.stats.reads, n / 2);
    CHECK_EQ(r.blk.stats.writes, n / 2);
    CHECK_EQ(r.blk.stats.max_inflight, n);
    write_pattern();
    rig_down(&r, true);
}

static void test_out_of_order_completion(void)
{
    /* The bookkeeping under the ring: jobs completed in the reverse of their order. */
    struct rig r;
    rig_up(&r, NULL, 32);
    struct vmm_virtio_blk *b = &r.blk;
    for (unsigned i = 0; i < 3; i++)
        publish(&r, i, VIRTIO_BLK_T_IN, i, 512);
    struct vmm_virtio_blk_job *j[3];
    pthread_mutex_lock(&lock);
    vmm_virtq_begin(&b->queues[0]);
    for (unsigned i = 0; i < 3; i++) {
        j[i] = vmm_virtio_blk_io_get(b, 0);
        CHECK(j[i] != NULL);
        CHECK_EQ(vmm_virtq_pop(&b->queues[0], &j[i]->elem), 1);
        j[i]->queue = 0;
        j[i]->generation = b->generation;
        b->inflight++;
    }
    CHECK_EQ(vmm_virtio_blk_job_done(b, j[2], 0), 0);
    CHECK_EQ(vmm_virtio_blk_job_done(b, j[0], -EIO), 0);
    CHECK_EQ(vmm_virtio_blk_job_done(b, j[1], 0), 0);
    pthread_mutex_unlock(&lock);
    CHECK_EQ(fvq_used_idx(&r.f), 3);
    CHECK_EQ(used_req(&r, 0), 2);
    CHECK_EQ(used_req(&r, 1), 0);
    CHECK_EQ(used_req(&r, 2), 1);
    CHECK_EQ(*gp(&mem, STATUS + 0, 1), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(*gp(&mem, STATUS + 1, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ(*gp(&mem, STATUS + 2, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ(b->inflight, 0);

    /* On the ring: one 256 KiB read among 512-byte ones; every one right, whatever the order. */
    for (unsigned i = 3; i < 8; i++)
        publish(&r, i, VIRTIO_BLK_T_IN, 100 + i, i == 3 ? 256 * 1024 : 512);
    /* Request 3's buffer spans the slots of 4..7: give those their own place further on. */
    for (unsigned i = 4; i < 8; i++)
        fvq_desc(&r.f, 3 * i + 1, DATA + 0x80000ULL + 0x1000ULL * i, 512,
                 VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(3 * i + 2));
    notify(&r);
    complete_until(&r, 8);
    CHECK_EQ(*gp(&mem, STATUS + 3, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ(*gp(&mem, DATA + 0x30000ULL, 1), pattern(103 * 512ULL));
    CHECK_EQ(*gp(&mem, DATA + 0x30000ULL + 256 * 1024 - 1, 1),
             pattern(103 * 512ULL + 256 * 1024 - 1));
    for (unsigned i = 4; i < 8; i++) {
        CHECK_EQ(*gp(&mem, STATUS + i, 1), VIRTIO_BLK_S_OK);
        CHECK_EQ(*gp(&mem, DATA + 0x80000ULL + 0x1000ULL * i, 1), pattern((100 + i) * 512ULL));
    }
    rig_down(&r, true);
}

static void test_flush_after_earlier_writes(void)
{
    struct rig r;
    rig_up(&r, NULL, 64);
    /* Writes, a FLUSH, more writes, one kick: the flush is used after every earlier write. */
    for (unsigned i = 0; i < 12; i++) {
        if (i == 8) {
            publish(&r, i, VIRTIO_BLK_T_FLUSH, 0, 0);
            continue;
        }
        memset(gp(&mem, DATA + 0x10000ULL * i, 65536), (int)(0x10 + i), 65536);
        publish(&r, i, VIRTIO_BLK_T_OUT, 128 * i, 65536);
    }
    notify(&r);
    CHECK_EQ(fvq_used_idx(&r.f), 0); /* the flush too went to the ring */
    complete_until(&r, 12);
    int flush_at = -1;
    for (uint16_t k = 0; k < 12; k++)
        if (used_req(&r, k) == 8)
            flush_at = k;
    CHECK(flush_at >= 8);
    for (uint16_t k = 0; k < (uint16_t)flush_at; k++)
        CHECK(used_req(&r, k) != 8);
    /* Every write before the flush is among the elements used before it. */
    for (unsigned i = 0; i < 8; i++) {
        bool before = false;
        for (uint16_t k = 0; k < (uint16_t)flush_at; k++)
            before |= used_req(&r, k) == i;
        CHECK(before);
    }
    CHECK_EQ(*gp(&mem, STATUS + 8, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ(r.blk.stats.flushes, 1);
    uint8_t want[4096];
    memset(want, 0x10 + 11, sizeof(want));
    CHECK(image_is(128 * 11 * 512ULL, want, sizeof(want)));
    write_pattern();
    rig_down(&r, true);
}

static void test_flush_waits_for_a_pending_write(void)
{
    struct rig r;
    rig_up(&r, NULL, 16);
    /* The image's fd is now a pipe's write end, full: a write to it stays pending. */
    int fd = vmm_disk_raw_fd(r.disk), p[2];
    int saved = dup(fd);
    CHECK(saved >= 0 && pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
    static uint8_t junk[65536];
    while (write(p[1], junk, sizeof(junk)) > 0)
        ;
    CHECK_EQ(dup2(p[1], fd), fd);
    publish(&r, 0, VIRTIO_BLK_T_OUT, 0, 512);
    publish(&r, 1, VIRTIO_BLK_T_FLUSH, 0, 0);
    notify(&r);
    /* The flush must not finish (fdatasync on a pipe would fail at once) before the write. */
    struct pollfd pf = {.fd = vmm_virtio_blk_uring_fd(&r.blk), .events = POLLIN};
    (void)poll(&pf, 1, 200);
    vmm_virtio_blk_complete(&r.blk);
    CHECK_EQ(fvq_used_idx(&r.f), 0);
    CHECK_EQ(r.blk.inflight, 2);
    /* Room in the pipe: the write completes, then the flush. */
    while (read(p[0], junk, sizeof(junk)) > 0)
        ;
    complete_until(&r, 2);
    CHECK_EQ(used_req(&r, 0), 0);
    CHECK_EQ(used_req(&r, 1), 1);
    CHECK_EQ(*gp(&mem, STATUS + 0, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ(dup2(saved, fd), fd);
    close(saved);
    close(p[0]);
    close(p[1]);
    rig_down(&r, true);
}

static void test_kernel_errors_and_short_reads(void)
{
    struct rig r;
    rig_up(&r, NULL, 16);
    /* The image's fd now names a directory: the kernel fails readv and writev. */
    int fd = vmm_disk_raw_fd(r.disk);
    CHECK(fd >= 0);
    int saved = dup(fd), dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(saved >= 0 && dir >= 0);
    CHECK_EQ(dup2(dir, fd), fd);
    publish(&r, 0, VIRTIO_BLK_T_IN, 0, 512);
    publish(&r, 1, VIRTIO_BLK_T_OUT, 0, 512);
    notify(&r);
    complete_until(&r, 2);
    CHECK_EQ(*gp(&mem, STATUS + 0, 1), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(*gp(&mem, STATUS + 1, 1), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(r.blk.stats.errors, 2);
    CHECK_EQ(dup2(saved, fd), fd);
    close(saved);
    close(dir);

    /* The file shrank by a sector: the read comes back short; the rest reads as zeros. */
    CHECK_EQ(ftruncate(img_fd, DISK_SIZE - 512), 0);
    memset(gp(&mem, DATA + 0x20000, 1024), 0x99, 1024);
    publish(&r, 2, VIRTIO_BLK_T_IN, SECTORS - 2, 1024);
    notify(&r);
    complete_until(&r, 3);
    CHECK_EQ(*gp(&mem, STATUS + 2, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ(*gp(&mem, DATA + 0x20000 + 511, 1), pattern(DISK_SIZE - 513));
    CHECK_EQ(*gp(&mem, DATA + 0x20000 + 512, 1), 0);
    CHECK_EQ(*gp(&mem, DATA + 0x20000 + 1023, 1), 0);
    write_pattern();
    rig_down(&r, true);
}

static void test_hostile_requests_refused(void)
{
    struct rig r;
    rig_up(&r, NULL, 16);
    /* Refused at once on the notify path, never handed to the kernel. */
    publish(&r, 0, VIRTIO_BLK_T_IN, SECTORS - 1, 1024);
    publish(&r, 1, VIRTIO_BLK_T_OUT, ~0ULL, 512);
    publish(&r, 2, VIRTIO_BLK_T_IN, 0, 500);
    publish(&r, 3, 99, 0, 0);
    notify(&r);
    CHECK_EQ(fvq_used_idx(&r.f), 4);
    CHECK_EQ(r.blk.inflight, 0);
    CHECK_EQ(*gp(&mem, STATUS + 0, 1), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(*gp(&mem, STATUS + 1, 1), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(*gp(&mem, STATUS + 2, 1), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(*gp(&mem, STATUS + 3, 1), VIRTIO_BLK_S_UNSUPP);
    /* No status byte: the device stops, nothing goes to the kernel. */
    put_hdr(HDR, VIRTIO_BLK_T_IN, 0);
    fvq_desc(&r.f, 0, HDR, 16, 0, 0);
    fvq_publish(&r.f, 0);
    notify(&r);
    CHECK(r.blk.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
    CHECK_EQ(r.blk.inflight, 0);
    rig_down(&r, true);

    /* A read-only disk: writes refused, flushes answered without the ring. */
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, VMM_DISK_FORMAT_RAW | VMM_DISK_RDONLY, &err);
    CHECK(d != NULL);
    rig_up(&r, d, 16);
    memset(gp(&mem, DATA, 512), 0x77, 512);
    publish(&r, 0, VIRTIO_BLK_T_OUT, 1, 512);
    publish(&r, 1, VIRTIO_BLK_T_FLUSH, 0, 0);
    notify(&r);
    CHECK_EQ(fvq_used_idx(&r.f), 2);
    CHECK_EQ(*gp(&mem, STATUS + 0, 1), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(*gp(&mem, STATUS + 1, 1), VIRTIO_BLK_S_OK);
    uint8_t want[512];
    for (unsigned k = 0; k < 512; k++)
        want[k] = pattern(512 + k);
    CHECK(image_is(512, want, 512));
    rig_down(&r, true);
}

static void test_reset_and_drain(void)
{
    struct rig r;
    rig_up(&r, NULL, 16);
    for (unsigned i = 0; i < 4; i++)
        publish(&r, i, VIRTIO_BLK_T_IN, i, 4096);
    pthread_mutex_lock(&lock);
    vmm_virtio_dev_notify(&r.blk.vdev, 0);
    CHECK_EQ(r.blk.inflight, 4);
    /* A reset waits for them (no write from before it lands later) and drops them. */
    vmm_virtio_dev_reset(&r.blk.vdev);
    CHECK_EQ(r.blk.inflight, 0);
    pthread_mutex_unlock(&lock);
    CHECK_EQ(fvq_used_idx(&r.f), 0);
    CHECK_EQ(*gp(&mem, STATUS, 1), 0xee);
    rig_down(&r, true);

    /* Drain from the thread that would serve the eventfd: it reaps, it does not wait for itself. */
    rig_up(&r, NULL, 16);
    for (unsigned i = 0; i < 4; i++)
        publish(&r, i, VIRTIO_BLK_T_IN, i, 4096);
    notify(&r);
    vmm_virtio_blk_drain(&r.blk);
    CHECK_EQ(r.blk.inflight, 0);
    CHECK_EQ(fvq_used_idx(&r.f), 4);
    for (unsigned i = 0; i < 4; i++)
        CHECK_EQ(*gp(&mem, STATUS + i, 1), VIRTIO_BLK_S_OK);
    rig_down(&r, true);
}

static void test_inline_first(void)
{
    struct rig r;
    rig_up_mode(&r, NULL, 32, true);
    /* Cached data: done on the notify path, nothing waits for the ring. */
    publish(&r, 0, VIRTIO_BLK_T_IN, 16, 4096);
    memset(gp(&mem, DATA + 0x10000, 4096), 0x6d, 4096);
    publish(&r, 1, VIRTIO_BLK_T_OUT, 64, 4096);
    notify(&r);
    CHECK_EQ(fvq_used_idx(&r.f), 2);
    CHECK_EQ(r.blk.inflight, 0);
    CHECK_EQ(r.blk.stats.inline_io, 2);
    CHECK_EQ(r.blk.stats.ring_io, 0);
    CHECK_EQ(*gp(&mem, STATUS + 0, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ(*gp(&mem, STATUS + 1, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ(*gp(&mem, DATA + 4095, 1), pattern(16 * 512ULL + 4095));
    uint8_t want[4096];
    memset(want, 0x6d, sizeof(want));
    CHECK(image_is(64 * 512ULL, want, sizeof(want)));
    /* A FLUSH still goes to the ring (it waits for the device). */
    publish(&r, 2, VIRTIO_BLK_T_FLUSH, 0, 0);
    notify(&r);
    complete_until(&r, 3);
    CHECK_EQ(r.blk.stats.ring_io, 1);
    CHECK_EQ(*gp(&mem, STATUS + 2, 1), VIRTIO_BLK_S_OK);

    /* Short at the end of a shrunk file: the part read at once stays, the ring does the rest. */
    CHECK_EQ(ftruncate(img_fd, DISK_SIZE - 512), 0);
    memset(gp(&mem, DATA + 0x30000, 1024), 0x99, 1024);
    publish(&r, 3, VIRTIO_BLK_T_IN, SECTORS - 2, 1024);
    notify(&r);
    complete_until(&r, 4);
    CHECK_EQ(*gp(&mem, STATUS + 3, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ(*gp(&mem, DATA + 0x30000 + 511, 1), pattern(DISK_SIZE - 513));
    CHECK_EQ(*gp(&mem, DATA + 0x30000 + 512, 1), 0);
    CHECK_EQ(*gp(&mem, DATA + 0x30000 + 1023, 1), 0);
    write_pattern();

    /* A kernel error on the inline attempt is the request's IOERR. */
    int fd = vmm_disk_raw_fd(r.disk);
    int saved = dup(fd), dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(saved >= 0 && dir >= 0);
    CHECK_EQ(dup2(dir, fd), fd);
    publish(&r, 4, VIRTIO_BLK_T_IN, 0, 512);
    notify(&r);
    complete_until(&r, 5);
    CHECK_EQ(*gp(&mem, STATUS + 4, 1), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(dup2(saved, fd), fd);
    close(saved);
    close(dir);
    rig_down(&r, true);
}

/* No fd under the disk (qcow2, or here a fake): no ring, synchronous service. */
static int fk_pread(struct vmm_disk *d, void *buf, size_t len, uint64_t off)
{
    memset(buf, 0x5a, len);
    return 0;
}

static int fk_pwrite(struct vmm_disk *d, const void *buf, size_t len, uint64_t off)
{
    return 0;
}

static int fk_flush(struct vmm_disk *d)
{
    return 0;
}

static const struct vmm_disk_ops fake_ops = {
    .name = "fake", .pread = fk_pread, .pwrite = fk_pwrite, .flush = fk_flush};

static void test_fallback_without_fd(void)
{
    struct vmm_disk disk = {.ops = &fake_ops, .size = DISK_SIZE};
    struct rig r;
    rig_up(&r, &disk, 16);
    CHECK_EQ(vmm_virtio_blk_uring_fd(&r.blk), -1);
    CHECK(r.blk.uring == NULL);
    publish(&r, 0, VIRTIO_BLK_T_IN, 0, 512);
    publish(&r, 1, VIRTIO_BLK_T_FLUSH, 0, 0);
    notify(&r);
    CHECK_EQ(fvq_used_idx(&r.f), 2);
    CHECK_EQ(*gp(&mem, DATA, 1), 0x5a);
    CHECK_EQ(*gp(&mem, STATUS + 1, 1), VIRTIO_BLK_S_OK);
    rig_down(&r, false);
}

int main(void)
{
    mem = fake_mem_new(16 * MIB, 0);
    img_fd = mkstemp(path);
    if (img_fd < 0) {
        perror("mkstemp");
        return 2;
    }
    write_pattern();
    /* Probe: a kernel (or seccomp policy) without io_uring makes the device fall back. */
    struct rig probe;
    rig_up(&probe, NULL, 16);
    bool have = vmm_virtio_blk_uring_fd(&probe.blk) >= 0;
    rig_down(&probe, true);
    if (!have) {
        printf("SKIP: io_uring is not available here\n");
        close(img_fd);
        unlink(path);
        return 77;
    }
    RUN_TEST(test_reads_and_writes_complete_on_the_loop);
    RUN_TEST(test_out_of_order_completion);
    RUN_TEST(test_flush_after_earlier_writes);
    RUN_TEST(test_flush_waits_for_a_pending_write);
    RUN_TEST(test_kernel_errors_and_short_reads);
    RUN_TEST(test_hostile_requests_refused);
    RUN_TEST(test_reset_and_drain);
    RUN_TEST(test_inline_first);
    RUN_TEST(test_fallback_without_fd);
    close(img_fd);
    unlink(path);
    fake_mem_free(&mem);
    return test_finish();
}
