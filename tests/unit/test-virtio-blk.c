/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk requests built in fake guest RAM against a temporary 1 MiB
 * raw image (and, for flush and error paths, a fake disk that counts its
 * calls): reads and writes at every descriptor split, bad headers and
 * lengths, read-only disks, FLUSH, GET_ID, DISCARD and WRITE_ZEROES.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fake-guest-mem.h"
#include "fake-virtq.h"
#include "test.h"
#include "virtio/blk.h"

#define DISK_SIZE (1024 * 1024)
#define SECTORS (DISK_SIZE / 512)
#define RING 0x10000ULL
#define HDR 0x20000ULL
#define DATA 0x100000ULL
#define STATUS 0x30000ULL

static struct vmm_guest_mem mem;
static char path[] = "/tmp/terrarium-virtio-blk-XXXXXX";
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

static void make_image(void)
{
    img_fd = mkstemp(path);
    if (img_fd < 0) {
        perror("mkstemp");
        exit(2);
    }
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

static bool image_is_pattern(uint64_t off, size_t len)
{
    uint8_t want[4096];
    for (size_t i = 0; i < len; i++)
        want[i] = pattern(off + i);
    return image_is(off, want, len);
}

struct rig {
    struct vmm_disk *disk;
    struct vmm_virtio_blk blk;
    struct fake_vq f[4];
};

/* A device on disk (or the image), live, with queues 0..nq-1 enabled. */
static void rig_up(struct rig *r, struct vmm_disk *disk, bool ro, unsigned nq, const char *serial)
{
    memset(r, 0, sizeof(*r));
    if (disk) {
        r->disk = disk;
    } else {
        struct vmm_error err = {0};
        r->disk = vmm_disk_open(path, VMM_DISK_FORMAT_RAW, &err);
        if (!r->disk) {
            fprintf(stderr, "open %s: %s\n", path, err.msg);
            exit(2);
        }
    }
    struct vmm_virtio_blk_opts o = {
        .disk = r->disk, .read_only = ro, .serial = serial, .num_queues = nq};
    CHECK_EQ(vmm_virtio_blk_init(&r->blk, &o, &lock, &mem), 0);
    struct vmm_virtio_dev *v = &r->blk.vdev;
    v->transport_ops = &counting;
    v->driver_features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
    CHECK(vmm_virtio_dev_check_features(v));
    v->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                VIRTIO_STATUS_DRIVER_OK;
    for (unsigned q = 0; q < nq; q++) {
        fvq_init(&r->f[q], &mem, RING + 0x4000ULL * q, 16);
        r->blk.queues[q].size = 16;
        r->blk.queues[q].desc_gpa = r->f[q].desc;
        r->blk.queues[q].avail_gpa = r->f[q].avail;
        r->blk.queues[q].used_gpa = r->f[q].used;
        vmm_virtio_dev_enable_queue(v, q);
        CHECK(vmm_virtq_ready(&r->blk.queues[q]));
    }
    interrupts = 0;
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

/*
 * Runs queue q once and returns the status byte of the request just
 * published, 0xee if nothing was completed. *used_len gets its used length.
 */
static uint8_t run(struct rig *r, unsigned q, uint64_t status_gpa, uint32_t *used_len)
{
    uint16_t before = fvq_used_idx(&r->f[q]);
    *gp(&mem, status_gpa, 1) = 0xee;
    vmm_virtio_dev_notify(&r->blk.vdev, q);
    if (fvq_used_idx(&r->f[q]) == before)
        return 0xee;
    uint32_t id, len;
    fvq_used_elem(&r->f[q], before, &id, &len);
    if (used_len)
        *used_len = len;
    return *gp(&mem, status_gpa, 1);
}

/* header, one data buffer (device-writable when `in`), status: descriptors 0, 1, 2. */
static uint8_t simple(struct rig *r, uint32_t type, uint64_t sector, uint32_t data_len, bool in,
                      uint32_t *used_len)
{
    struct fake_vq *f = &r->f[0];
    put_hdr(HDR, type, sector);
    if (data_len) {
        fvq_desc(f, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
        fvq_desc(f, 1, DATA, data_len, VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0), 2);
    } else {
        fvq_desc(f, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 2);
    }
    fvq_desc(f, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(f, 0);
    return run(r, 0, STATUS, used_len);
}

static void test_config_and_features(void)
{
    struct rig r;
    rig_up(&r, NULL, false, 3, NULL);
    struct vmm_virtio_dev *v = &r.blk.vdev;
    uint64_t cap;
    uint32_t u32;
    uint16_t u16;
    v->ops->config_read(v, VIRTIO_BLK_CFG_CAPACITY, &cap, 8);
    CHECK_EQ(cap, SECTORS);
    v->ops->config_read(v, VIRTIO_BLK_CFG_SEG_MAX, &u32, 4);
    CHECK_EQ(u32, VMM_VIRTIO_BLK_QUEUE_SIZE - 2);
    v->ops->config_read(v, VIRTIO_BLK_CFG_BLK_SIZE, &u32, 4);
    CHECK_EQ(u32, 512);
    v->ops->config_read(v, VIRTIO_BLK_CFG_NUM_QUEUES, &u16, 2);
    CHECK_EQ(u16, 3);
    v->ops->config_read(v, VIRTIO_BLK_CFG_MAX_DISCARD_SEG, &u32, 4);
    CHECK_EQ(u32, VMM_VIRTIO_BLK_MAX_DWZ_SEG);
    v->ops->config_read(v, VIRTIO_BLK_CFG_MAX_WZ_SECTORS, &u32, 4);
    CHECK_EQ(u32, VMM_VIRTIO_BLK_MAX_DWZ_SECTORS);
    uint64_t f = vmm_virtio_dev_features(v);
    CHECK(f & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
    CHECK(f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
    CHECK(f & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
    CHECK(f & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
    CHECK(f & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX));
    CHECK(!(f & VIRTIO_BIT(VIRTIO_BLK_F_RO)));
    CHECK(f & VIRTIO_BIT(VIRTIO_F_VERSION_1));
    CHECK_EQ(r.blk.vdev.device_id, VIRTIO_ID_BLOCK);
    rig_down(&r, true);
}

static void test_read_write(void)
{
    struct rig r;
    rig_up(&r, NULL, false, 1, NULL);
    uint32_t used = 0;
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_IN, 3, 1024, true, &used), VIRTIO_BLK_S_OK);
    CHECK_EQ(used, 1025);
    uint8_t want[1024];
    for (unsigned i = 0; i < 1024; i++)
        want[i] = pattern(3 * 512 + i);
    CHECK(memcmp(gp(&mem, DATA, 1024), want, 1024) == 0);
    CHECK_EQ(interrupts, 1);

    uint8_t *d = gp(&mem, DATA, 512);
    for (unsigned i = 0; i < 512; i++)
        d[i] = (uint8_t)(0xa5 ^ i);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_OUT, 10, 512, false, &used), VIRTIO_BLK_S_OK);
    CHECK(image_is(10 * 512, d, 512));
    CHECK(image_is_pattern(9 * 512, 512));
    CHECK(image_is_pattern(11 * 512, 512));
    /* Last sector of the disk, and a zero-length read at the very end. */
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_IN, SECTORS - 1, 512, true, &used), VIRTIO_BLK_S_OK);
    CHECK_EQ(*gp(&mem, DATA + 511, 1), pattern(DISK_SIZE - 1));
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_IN, SECTORS, 0, true, &used), VIRTIO_BLK_S_OK);

    /* Data split over three uneven descriptors, indirect-free. */
    struct fake_vq *f = &r.f[0];
    put_hdr(HDR, VIRTIO_BLK_T_IN, 20);
    fvq_desc(f, 4, HDR, 16, VIRTQ_DESC_F_NEXT, 5);
    fvq_desc(f, 5, DATA, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 6);
    fvq_desc(f, 6, DATA + 0x1000, 412, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 7);
    fvq_desc(f, 7, DATA + 0x2000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 8);
    fvq_desc(f, 8, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(f, 4);
    CHECK_EQ(run(&r, 0, STATUS, &used), VIRTIO_BLK_S_OK);
    CHECK_EQ(*gp(&mem, DATA + 99, 1), pattern(20 * 512 + 99));
    CHECK_EQ(*gp(&mem, DATA + 0x1000, 1), pattern(20 * 512 + 100));
    CHECK_EQ(*gp(&mem, DATA + 0x2000 + 511, 1), pattern(21 * 512 + 511));

    /* Status sharing a descriptor with the data: it is the last writable byte. */
    fvq_desc(f, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(f, 1, DATA, 513, VIRTQ_DESC_F_WRITE, 0);
    put_hdr(HDR, VIRTIO_BLK_T_IN, 5);
    fvq_publish(f, 0);
    CHECK_EQ(run(&r, 0, DATA + 512, &used), VIRTIO_BLK_S_OK);
    CHECK_EQ(*gp(&mem, DATA, 1), pattern(5 * 512));

    /* Header and data in one readable descriptor. */
    put_hdr(HDR, VIRTIO_BLK_T_OUT, 30);
    memset(gp(&mem, HDR + 16, 512), 0x3c, 512);
    fvq_desc(f, 0, HDR, 16 + 512, VIRTQ_DESC_F_NEXT, 2);
    fvq_desc(f, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(f, 0);
    CHECK_EQ(run(&r, 0, STATUS, &used), VIRTIO_BLK_S_OK);
    CHECK(image_is(30 * 512, gp(&mem, HDR + 16, 512), 512));
    rig_down(&r, true);
}

static void test_bad_requests(void)
{
    struct rig r;
    rig_up(&r, NULL, false, 1, NULL);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_IN, 0, 500, true, NULL), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_OUT, 0, 513, false, NULL), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_IN, SECTORS - 1, 1024, true, NULL), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_IN, SECTORS + 1, 0, true, NULL), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_IN, ~0ULL, 512, true, NULL), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_OUT, 1ULL << 55, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(simple(&r, 99, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
    CHECK_EQ(simple(&r, 10 /* GET_LIFETIME */, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
    /* IN data in the readable part is not where the data goes: only the status is writable. */
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_IN, 0, 512, false, NULL), VIRTIO_BLK_S_OK);
    CHECK(image_is_pattern(0, 4096));
    CHECK_EQ(r.blk.vdev.status & VIRTIO_STATUS_NEEDS_RESET, 0);
    rig_down(&r, true);

    /* A header shorter than 16 bytes: the request cannot be understood, the device stops. */
    rig_up(&r, NULL, false, 1, NULL);
    fvq_desc(&r.f[0], 0, HDR, 8, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&r.f[0], 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&r.f[0], 0);
    CHECK_EQ(run(&r, 0, STATUS, NULL), 0xee);
    CHECK(r.blk.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
    rig_down(&r, true);

    /* No writable byte for the status. */
    rig_up(&r, NULL, false, 1, NULL);
    put_hdr(HDR, VIRTIO_BLK_T_FLUSH, 0);
    fvq_desc(&r.f[0], 0, HDR, 16, 0, 0);
    fvq_publish(&r.f[0], 0);
    CHECK_EQ(run(&r, 0, STATUS, NULL), 0xee);
    CHECK(r.blk.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
    /* Stopped: a good request afterwards is not served until reset. */
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL), 0xee);
    rig_down(&r, true);
}

static void test_read_only(void)
{
    struct rig r;
    rig_up(&r, NULL, true, 1, NULL);
    uint64_t f = vmm_virtio_dev_features(&r.blk.vdev);
    CHECK(f & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    CHECK(!(f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)));
    CHECK(!(f & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)));
    memset(gp(&mem, DATA, 512), 0x77, 512);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_OUT, 1, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    CHECK(image_is_pattern(512, 512));
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_IN, 1, 512, true, NULL), VIRTIO_BLK_S_OK);
    CHECK_EQ(*gp(&mem, DATA, 1), pattern(512));
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
    uint8_t seg[16] = {0};
    seg[8] = 1;
    memcpy(gp(&mem, DATA, 16), seg, 16);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL), VIRTIO_BLK_S_IOERR);
    CHECK(image_is_pattern(0, 512));
    rig_down(&r, true);

    /* An image opened read-only makes the device read-only by itself. */
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, VMM_DISK_FORMAT_RAW | VMM_DISK_RDONLY, &err);
    CHECK(d != NULL);
    rig_up(&r, d, false, 1, NULL);
    CHECK(vmm_virtio_dev_features(&r.blk.vdev) & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_OUT, 1, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    rig_down(&r, true);
}

static void test_get_id(void)
{
    struct rig r;
    rig_up(&r, NULL, false, 1, "TRM-SERIAL-1");
    memset(gp(&mem, DATA, 20), 0xff, 20);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_GET_ID, 0, 20, true, NULL), VIRTIO_BLK_S_OK);
    CHECK(memcmp(gp(&mem, DATA, 20), "TRM-SERIAL-1\0\0\0\0\0\0\0\0", 20) == 0);
    rig_down(&r, true);
    rig_up(&r, NULL, false, 1, "0123456789abcdefghijKLMNOP");
    memset(gp(&mem, DATA, 21), 0xff, 21);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_GET_ID, 0, 21, true, NULL), VIRTIO_BLK_S_OK);
    CHECK(memcmp(gp(&mem, DATA, 20), "0123456789abcdefghij", 20) == 0);
    CHECK_EQ(*gp(&mem, DATA + 20, 1), 0xff);
    /* A short buffer gets what fits. */
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_GET_ID, 0, 4, true, NULL), VIRTIO_BLK_S_OK);
    rig_down(&r, true);
}

static void put_seg(unsigned i, uint64_t sector, uint32_t n, uint32_t flags)
{
    uint8_t *p = gp(&mem, DATA + 16ULL * i, 16);
    memcpy(p, &sector, 8);
    memcpy(p + 8, &n, 4);
    memcpy(p + 12, &flags, 4);
}

static void test_discard_write_zeroes(void)
{
    struct rig r;
    rig_up(&r, NULL, false, 1, NULL);
    static const uint8_t zero[1024];
    put_seg(0, 4, 2, 0);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL), VIRTIO_BLK_S_OK);
    CHECK(image_is(4 * 512, zero, 1024));
    CHECK(image_is_pattern(3 * 512, 512));
    CHECK(image_is_pattern(6 * 512, 512));
    /* Two segments, one with UNMAP. */
    put_seg(0, 40, 1, 0);
    put_seg(1, 50, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 32, false, NULL), VIRTIO_BLK_S_OK);
    CHECK(image_is(40 * 512, zero, 512));
    CHECK(image_is(50 * 512, zero, 512));
    CHECK(image_is_pattern(41 * 512, 512));
    put_seg(0, 64, 8, 0);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL), VIRTIO_BLK_S_OK);

    /* Refusals, none of which may touch the image. */
    put_seg(0, 100, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL), VIRTIO_BLK_S_UNSUPP);
    put_seg(0, 100, 1, 2);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL), VIRTIO_BLK_S_UNSUPP);
    for (unsigned i = 0; i <= VMM_VIRTIO_BLK_MAX_DWZ_SEG; i++)
        put_seg(i, 100, 1, 0);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16 * (VMM_VIRTIO_BLK_MAX_DWZ_SEG + 1), false,
                    NULL),
             VIRTIO_BLK_S_UNSUPP);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 20, false, NULL), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, false, NULL), VIRTIO_BLK_S_IOERR);
    put_seg(0, SECTORS - 1, 2, 0);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL), VIRTIO_BLK_S_IOERR);
    put_seg(0, ~0ULL, 1, 0);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL), VIRTIO_BLK_S_IOERR);
    put_seg(0, 0, VMM_VIRTIO_BLK_MAX_DWZ_SECTORS + 1, 0);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL), VIRTIO_BLK_S_IOERR);
    /* A good segment followed by a bad one: nothing is done. */
    put_seg(0, 100, 1, 0);
    put_seg(1, SECTORS, 1, 0);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 32, false, NULL), VIRTIO_BLK_S_IOERR);
    CHECK(image_is_pattern(100 * 512, 512));
    rig_down(&r, true);
}

/* ---- A fake disk for the flush and error paths ---- */

static unsigned fk_flushes;
static int fk_flush_ret, fk_io_ret;
static unsigned fk_writes;

static int fk_pread(struct vmm_disk *d, void *buf, size_t len, uint64_t off)
{
    memset(buf, 0x5a, len);
    return fk_io_ret;
}

static int fk_pwrite(struct vmm_disk *d, const void *buf, size_t len, uint64_t off)
{
    fk_writes++;
    return fk_io_ret;
}

static int fk_flush(struct vmm_disk *d)
{
    fk_flushes++;
    return fk_flush_ret;
}

static int fk_discard(struct vmm_disk *d, uint64_t off, uint64_t len)
{
    return -EOPNOTSUPP;
}

static int fk_write_zeroes(struct vmm_disk *d, uint64_t off, uint64_t len, unsigned flags)
{
    return fk_io_ret;
}

static const struct vmm_disk_ops fake_disk_ops = {
    .name = "fake",
    .pread = fk_pread,
    .pwrite = fk_pwrite,
    .flush = fk_flush,
    .discard = fk_discard,
    .write_zeroes = fk_write_zeroes,
};

static void test_flush_and_errors(void)
{
    struct vmm_disk disk = {.ops = &fake_disk_ops, .size = DISK_SIZE};
    struct rig r;
    rig_up(&r, &disk, false, 1, NULL);
    fk_flushes = 0;
    fk_flush_ret = 0;
    fk_io_ret = 0;
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
    CHECK_EQ(fk_flushes, 1);
    fk_flush_ret = -EIO;
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(fk_flushes, 2);
    fk_io_ret = -EIO;
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_IN, 0, 512, true, NULL), VIRTIO_BLK_S_IOERR);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_OUT, 0, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    put_seg(0, 0, 1, 0);
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL), VIRTIO_BLK_S_IOERR);
    /* Discard is advisory: a disk that cannot deallocate still answers OK. */
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL), VIRTIO_BLK_S_OK);
    fk_io_ret = 0;
    fk_writes = 0;
    CHECK_EQ(simple(&r, VIRTIO_BLK_T_OUT, 0, 512, false, NULL), VIRTIO_BLK_S_OK);
    CHECK_EQ(fk_writes, 1);
    rig_down(&r, false);
}

static void test_multiqueue_batch(void)
{
    struct rig r;
    rig_up(&r, NULL, false, 4, NULL);
    /* Three requests on queue 3 in one notification: three completions, one interrupt. */
    struct fake_vq *f = &r.f[3];
    for (uint16_t i = 0; i < 3; i++) {
        put_hdr(HDR + 0x100 * i, VIRTIO_BLK_T_IN, 7 + i);
        fvq_desc(f, 3 * i, HDR + 0x100 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(3 * i + 1));
        fvq_desc(f, 3 * i + 1, DATA + 0x1000 * i, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
                 (uint16_t)(3 * i + 2));
        fvq_desc(f, 3 * i + 2, STATUS + i, 1, VIRTQ_DESC_F_WRITE, 0);
        fvq_publish(f, (uint16_t)(3 * i));
    }
    vmm_virtio_dev_notify(&r.blk.vdev, 3);
    CHECK_EQ(fvq_used_idx(f), 3);
    CHECK_EQ(interrupts, 1);
    for (unsigned i = 0; i < 3; i++) {
        CHECK_EQ(*gp(&mem, STATUS + i, 1), VIRTIO_BLK_S_OK);
        CHECK_EQ(*gp(&mem, DATA + 0x1000 * i, 1), pattern((7 + i) * 512));
    }
    CHECK_EQ(fvq_used_idx(&r.f[0]), 0);
    rig_down(&r, true);
}

/* I/O threads: many requests in flight, out-of-order completion, starvation, reset. */
static void async_rig(struct rig *r, uint16_t qsize)
{
    memset(r, 0, sizeof(*r));
    struct vmm_error err = {0};
    r->disk = vmm_disk_open(path, VMM_DISK_FORMAT_RAW, &err);
    CHECK(r->disk != NULL);
    struct vmm_virtio_blk_opts o = {.disk = r->disk, .serial = "async", .io_threads = 3};
    CHECK_EQ(vmm_virtio_blk_init(&r->blk, &o, &lock, &mem), 0);
    struct vmm_virtio_dev *v = &r->blk.vdev;
    v->transport_ops = &counting;
    v->driver_features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
    CHECK(vmm_virtio_dev_check_features(v));
    v->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                VIRTIO_STATUS_DRIVER_OK;
    fvq_init(&r->f[0], &mem, RING, qsize);
    r->blk.queues[0].size = qsize;
    r->blk.queues[0].desc_gpa = r->f[0].desc;
    r->blk.queues[0].avail_gpa = r->f[0].avail;
    r->blk.queues[0].used_gpa = r->f[0].used;
    vmm_virtio_dev_enable_queue(v, 0);
    interrupts = 0;
}

/* Request i: header, 512 bytes of data, status; reads of sector i, or writes of sector 1000 + i. */
static void publish_rw(struct rig *r, unsigned i, bool write)
{
    struct fake_vq *f = &r->f[0];
    put_hdr(HDR + 0x100 * i, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, write ? 1000 + i : i);
    if (write)
        memset(gp(&mem, DATA + 0x1000 * i, 512), (int)(0x40 + i), 512);
    fvq_desc(f, (uint16_t)(3 * i), HDR + 0x100 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(3 * i + 1));
    fvq_desc(f, (uint16_t)(3 * i + 1), DATA + 0x1000 * i, 512,
             VIRTQ_DESC_F_NEXT | (write ? 0 : VIRTQ_DESC_F_WRITE), (uint16_t)(3 * i + 2));
    fvq_desc(f, (uint16_t)(3 * i + 2), STATUS + i, 1, VIRTQ_DESC_F_WRITE, 0);
    *gp(&mem, STATUS + i, 1) = 0xee;
    fvq_publish(f, (uint16_t)(3 * i));
}

static void notify_locked(struct rig *r)
{
    pthread_mutex_lock(&lock);
    vmm_virtio_dev_notify(&r->blk.vdev, 0);
    pthread_mutex_unlock(&lock);
}

static void test_io_threads(void)
{
    struct rig r;
    /* 40 requests (more than the 16 jobs): every one completes, data and image right. */
    async_rig(&r, 128);
    const unsigned n = 40;
    for (unsigned i = 0; i < n; i++)
        publish_rw(&r, i, i % 2);
    notify_locked(&r);
    vmm_virtio_blk_drain(&r.blk);
    CHECK_EQ(fvq_used_idx(&r.f[0]), n);
    bool seen[40] = {false};
    for (uint16_t k = 0; k < n; k++) {
        uint32_t id, len;
        fvq_used_elem(&r.f[0], k, &id, &len);
        CHECK(id % 3 == 0 && id / 3 < n && !seen[id / 3]);
        if (id % 3 == 0 && id / 3 < n)
            seen[id / 3] = true;
    }
    for (unsigned i = 0; i < n; i++) {
        CHECK_EQ(*gp(&mem, STATUS + i, 1), VIRTIO_BLK_S_OK);
        if (i % 2) {
            uint8_t want[512];
            memset(want, (int)(0x40 + i), sizeof(want));
            CHECK(image_is((1000 + i) * 512ULL, want, sizeof(want)));
        } else {
            /* Earlier tests wrote some of these sectors: compare with the image itself. */
            CHECK(image_is(i * 512ULL, gp(&mem, DATA + 0x1000 * i, 512), 512));
        }
    }
    CHECK(interrupts >= 1);
    CHECK_EQ(r.blk.inflight, 0);

    /* Errors still come back synchronously: a read past the end. */
    put_hdr(HDR, VIRTIO_BLK_T_IN, SECTORS);
    fvq_desc(&r.f[0], 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&r.f[0], 1, DATA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    fvq_desc(&r.f[0], 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&r.f[0], 0);
    notify_locked(&r);
    CHECK_EQ(fvq_used_idx(&r.f[0]), n + 1);
    CHECK_EQ(*gp(&mem, STATUS, 1), VIRTIO_BLK_S_IOERR);
    rig_down(&r, true);

    /* One request alone on an idle device is served on the notifying thread; with another
     * queued behind it, both go to the threads. */
    async_rig(&r, 16);
    publish_rw(&r, 0, true);
    notify_locked(&r);
    CHECK_EQ(r.blk.stats.inline_io, 1);
    CHECK_EQ(fvq_used_idx(&r.f[0]), 1); /* done when the notify returned, no drain needed */
    CHECK_EQ(*gp(&mem, STATUS + 0, 1), VIRTIO_BLK_S_OK);
    uint8_t want0[512];
    memset(want0, 0x40, sizeof(want0));
    CHECK(image_is(1000 * 512ULL, want0, sizeof(want0)));
    publish_rw(&r, 1, false);
    publish_rw(&r, 2, false);
    notify_locked(&r);
    vmm_virtio_blk_drain(&r.blk);
    CHECK_EQ(r.blk.stats.inline_io, 1);
    CHECK_EQ(fvq_used_idx(&r.f[0]), 3);
    rig_down(&r, true);

    /* A reset while requests are in flight: they complete into nothing. */
    async_rig(&r, 16);
    for (unsigned i = 0; i < 4; i++)
        publish_rw(&r, i, false);
    pthread_mutex_lock(&lock);
    vmm_virtio_dev_notify(&r.blk.vdev, 0);
    CHECK_EQ(r.blk.inflight, 4); /* the threads need the lock to complete */
    vmm_virtio_dev_reset(&r.blk.vdev);
    pthread_mutex_unlock(&lock);
    vmm_virtio_blk_drain(&r.blk);
    CHECK_EQ(fvq_used_idx(&r.f[0]), 0);
    CHECK_EQ(*gp(&mem, STATUS, 1), 0xee);
    rig_down(&r, true);
}

int main(void)
{
    mem = fake_mem_new(16 * MIB, 0);
    make_image();
    RUN_TEST(test_config_and_features);
    RUN_TEST(test_read_write);
    RUN_TEST(test_bad_requests);
    RUN_TEST(test_read_only);
    RUN_TEST(test_get_id);
    RUN_TEST(test_discard_write_zeroes);
    RUN_TEST(test_flush_and_errors);
    RUN_TEST(test_multiqueue_batch);
    RUN_TEST(test_io_threads);
    close(img_fd);
    unlink(path);
    fake_mem_free(&mem);
    return test_finish();
}
