/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Live state of virtio devices (snapshot/virtio-descs.c): a virtio-rng
 * behind the PCI transport, set up by a fake driver through BAR4 and the
 * MSI-X BAR, is saved and loaded into a fresh one, which must encode the
 * same bytes and go on serving the ring where the first stopped. Every
 * out-of-range or inconsistent field, every truncation and a ring outside
 * RAM must be refused without changing the device. Also: the device
 * descriptions (blk, net, balloon, input) and frozen queues.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "disk/disk.h"
#include "fake-guest-mem.h"
#include "fake-virtq.h"
#include "snapshot/virtio-state.h"
#include "test.h"
#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "virtio/input.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/virtio-pci.h"

#define RING 0x10000ULL
#define BUF 0x100000ULL
#define QSIZE 8

static struct vmm_guest_mem mem;
static struct vmm_guest_mem small_mem; /* 1 MiB: RING + rings fit, BUF does not */

struct rng_fn {
    pthread_mutex_t lock;
    struct vmm_virtio_rng rng;
    struct vmm_virtio_pci vp;
    unsigned msix_changed, signals;
};

static void hook_changed(void *opaque, struct vmm_virtio_pci *vp)
{
    (void)vp;
    ((struct rng_fn *)opaque)->msix_changed++;
}

static void hook_signal(void *opaque, struct vmm_virtio_pci *vp, unsigned v)
{
    (void)vp;
    (void)v;
    ((struct rng_fn *)opaque)->signals++;
}

static const struct vmm_virtio_pci_hooks hooks = {.msix_changed = hook_changed,
                                                  .msix_signal = hook_signal};

static void fn_init(struct rng_fn *f, const struct vmm_guest_mem *m)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    CHECK_EQ(vmm_virtio_rng_init(&f->rng, &f->lock, m), 0);
    CHECK_EQ(vmm_virtio_pci_init(&f->vp, &f->rng.vdev, VMM_VIRTIO_RNG_PCI_CLASS, &hooks, f), 0);
    vmm_pci_set16(&f->vp.pci, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

static void fn_fini(struct rng_fn *f)
{
    vmm_virtio_rng_fini(&f->rng);
    pthread_mutex_destroy(&f->lock);
}

static void bar_w(struct rng_fn *f, uint64_t off, unsigned size, uint64_t v)
{
    vmm_virtio_pci_bar_ops.write(&f->vp, off, size, v);
}

static void msix_w(struct rng_fn *f, uint64_t off, uint32_t v)
{
    vmm_virtio_pci_msix_ops.write(&f->vp, off, 4, v);
}

/* The driver's side: features, queue 0 on fq, MSI-X on, DRIVER_OK. */
static void drive_up(struct rng_fn *f, struct fake_vq *fq)
{
    bar_w(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    bar_w(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
    bar_w(f, VIRTIO_PCI_COMMON_GF, 4, VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
    bar_w(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
    bar_w(f, VIRTIO_PCI_COMMON_GF, 4, 1); /* VERSION_1 */
    bar_w(f, VIRTIO_PCI_COMMON_STATUS, 1,
          VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    fvq_init(fq, &mem, RING, QSIZE);
    bar_w(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    bar_w(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
    bar_w(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
    bar_w(f, VIRTIO_PCI_COMMON_MSIX, 2, 0);
    bar_w(f, VIRTIO_PCI_COMMON_Q_DESCLO, 8, fq->desc);
    bar_w(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, fq->avail);
    bar_w(f, VIRTIO_PCI_COMMON_Q_USEDLO, 8, fq->used);
    bar_w(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    for (unsigned v = 0; v < 2; v++) {
        msix_w(f, v * 16, 0xfee00000 + v * 4);
        msix_w(f, v * 16 + 8, 0x40 + v);
        msix_w(f, v * 16 + 12, 0);
    }
    vmm_pci_set16(&f->vp.pci, f->vp.msix_cap + PCI_MSIX_FLAGS,
                  (uint16_t)(vmm_pci_get16(&f->vp.pci, f->vp.msix_cap + PCI_MSIX_FLAGS) |
                             PCI_MSIX_FLAGS_ENABLE));
    f->vp.pci.ops->config_write(&f->vp.pci, f->vp.msix_cap, 4);
    bar_w(f, VIRTIO_PCI_COMMON_STATUS, 1,
          VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
              VIRTIO_STATUS_DRIVER_OK);
}

/* One writable 16-byte buffer at BUF + 0x100 * i as chain head i. */
static void post(struct fake_vq *fq, unsigned i)
{
    fvq_desc(fq, i, BUF + 0x100ULL * i, 16, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(fq, (uint16_t)i);
}

static struct vmm_buf encode(const struct vmm_state_desc *d, void *obj)
{
    struct vmm_buf b = {0};
    CHECK_EQ(vmm_state_encode(d, obj, &b), 0);
    return b;
}

/* A saved machine with two requests served, the second interrupt asked for with used_event. */
static struct vmm_buf saved_fn(struct rng_fn *f, struct fake_vq *fq)
{
    fn_init(f, &mem);
    drive_up(f, fq);
    post(fq, 0);
    post(fq, 1);
    vmm_virtio_pci_notify(&f->vp, 0);
    CHECK_EQ(fvq_used_idx(fq), 2);
    return encode(&vmm_virtio_pci_state_desc, &f->vp);
}

static void test_round_trip(void)
{
    struct rng_fn a, *b = calloc(1, sizeof(*b));
    struct fake_vq fq;
    struct vmm_buf s = saved_fn(&a, &fq);
    unsigned signals_a = a.signals;
    CHECK(signals_a > 0);

    fn_init(b, &mem);
    struct vmm_error err = {0};
    /* PCI configuration first, as the board loads it: MSI-X enable comes from there. */
    memcpy(b->vp.pci.config, a.vp.pci.config, sizeof(b->vp.pci.config));
    CHECK_EQ(vmm_state_decode(&vmm_virtio_pci_state_desc, &b->vp, s.data, s.len, &err), 0);
    CHECK(b->msix_changed > 0); /* routes reprogrammed from the loaded table */
    struct vmm_buf s2 = encode(&vmm_virtio_pci_state_desc, &b->vp);
    CHECK_EQ(s2.len, s.len);
    CHECK(s2.len == s.len && memcmp(s.data, s2.data, s.len) == 0);

    struct vmm_virtqueue *q = &b->rng.vdev.queues[0];
    CHECK_EQ(q->last_avail, 2);
    CHECK_EQ(q->used_idx, 2);
    CHECK(q->event_idx);
    CHECK(vmm_virtq_ready(q));
    CHECK_EQ(b->rng.vdev.status, a.rng.vdev.status);
    CHECK_EQ(b->vp.msix[1].data, 0x41);
    CHECK(b->vp.msix_was_enabled);

    /*
     * The restored device serves the next buffer into used slot 2. The driver
     * asked for an interrupt only past used index 5: the event-index state came
     * along (a device that forgot it would interrupt at once).
     */
    fvq_set_used_event(&fq, 5);
    post(&fq, 2);
    vmm_virtio_pci_notify(&b->vp, 0);
    CHECK_EQ(fvq_used_idx(&fq), 3);
    uint32_t id, len;
    fvq_used_elem(&fq, 2, &id, &len);
    CHECK_EQ(id, 2);
    CHECK_EQ(len, 16);
    CHECK_EQ(b->signals, 0);
    fvq_set_used_event(&fq, 3);
    post(&fq, 3);
    vmm_virtio_pci_notify(&b->vp, 0);
    CHECK_EQ(fvq_used_idx(&fq), 4);
    CHECK_EQ(b->signals, 1);

    vmm_buf_free(&s);
    vmm_buf_free(&s2);
    fn_fini(&a);
    fn_fini(b);
    free(b);
}

/* Payload offsets of the transport's fields (version 1). */
enum {
    O_DEVICE_ID = 4,
    O_NUM_QUEUES = 6,
    O_STATUS = 8,
    O_ISR = 10,
    O_FEATURES = 11,
    O_MSIX_CONFIG = 29,
    O_ADDR_LO = 31,
    O_ADDR_HI = O_ADDR_LO + 4 * VIRTIO_PCI_MAX_VECTORS,
    O_DATA = O_ADDR_HI + 4 * VIRTIO_PCI_MAX_VECTORS,
    O_MASKED = O_DATA + 4 * VIRTIO_PCI_MAX_VECTORS,
    O_PBA = O_MASKED + VIRTIO_PCI_MAX_VECTORS,
    O_Q_SIZE = O_PBA + 8 * ((VIRTIO_PCI_MAX_VECTORS + 63) / 64),
    O_Q_VECTOR = O_Q_SIZE + 2 * VMM_VIRTIO_MAX_QUEUES,
    O_Q_ENABLED = O_Q_VECTOR + 2 * VMM_VIRTIO_MAX_QUEUES,
    O_Q_BROKEN = O_Q_ENABLED + VMM_VIRTIO_MAX_QUEUES,
    O_Q_DESC = O_Q_BROKEN + VMM_VIRTIO_MAX_QUEUES,
    O_Q_AVAIL = O_Q_DESC + 8 * VMM_VIRTIO_MAX_QUEUES,
    O_Q_USED = O_Q_AVAIL + 8 * VMM_VIRTIO_MAX_QUEUES,
    O_Q_LAST_AVAIL = O_Q_USED + 8 * VMM_VIRTIO_MAX_QUEUES,
    O_Q_USED_IDX = O_Q_LAST_AVAIL + 2 * VMM_VIRTIO_MAX_QUEUES,
    O_Q_SIGNALLED = O_Q_USED_IDX + 2 * VMM_VIRTIO_MAX_QUEUES,
    O_Q_SIG_VALID = O_Q_SIGNALLED + 2 * VMM_VIRTIO_MAX_QUEUES,
    O_END = O_Q_SIG_VALID + VMM_VIRTIO_MAX_QUEUES,
};

static void put(uint8_t *p, unsigned width, uint64_t v)
{
    for (unsigned i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

struct bad {
    const char *what;
    unsigned off, width;
    uint64_t val;
};

static const struct bad bads[] = {
    {"another device type", O_DEVICE_ID, 2, VIRTIO_ID_BLOCK},
    {"more queues", O_NUM_QUEUES, 2, 2},
    {"queues past the maximum", O_NUM_QUEUES, 2, VMM_VIRTIO_MAX_QUEUES + 1},
    {"unknown status bit", O_STATUS, 1, 0x1f},
    {"ISR bit 2", O_ISR, 1, 4},
    {"a feature not offered", O_FEATURES, 8, (1ULL << 32) | (1ULL << 50)},
    {"FEATURES_OK without VERSION_1", O_FEATURES, 8, 0},
    {"config vector past the table", O_MSIX_CONFIG, 2, 2},
    {"misaligned MSI-X address", O_ADDR_LO + 4, 4, 0xfee00002},
    {"MSI-X entry past the table", O_DATA + 4 * 2, 4, 1},
    {"mask bit past the table", O_MASKED + 2, 1, 1},
    {"mask byte not a bool", O_MASKED, 1, 2},
    {"pending bit past the table", O_PBA, 8, 1ULL << 5},
    {"queue size not a power of two", O_Q_SIZE, 2, 6},
    {"queue size past the maximum", O_Q_SIZE, 2, 2 * VMM_VIRTIO_RNG_QUEUE_SIZE},
    {"queue size past the engine's", O_Q_SIZE, 2, VMM_VIRTQ_MAX_SIZE + 1},
    {"queue size 0", O_Q_SIZE, 2, 0},
    {"queue vector past the table", O_Q_VECTOR, 2, 7},
    {"enabled not a bool", O_Q_ENABLED, 1, 3},
    {"descriptors outside RAM", O_Q_DESC, 8, 16 * MIB},
    {"descriptors wrapping 64 bits", O_Q_DESC, 8, ~0xfULL},
    {"misaligned descriptors", O_Q_DESC, 8, RING + 8},
    {"misaligned avail ring", O_Q_AVAIL, 8, RING + 0x81},
    {"misaligned used ring", O_Q_USED, 8, RING + 0x1002},
    {"used ring in the PCI hole", O_Q_USED, 8, 0xfee00000},
    {"a second queue's size", O_Q_SIZE + 2, 2, 8},
    {"a second queue enabled", O_Q_ENABLED + 1, 1, 1},
    {"a second queue's index", O_Q_LAST_AVAIL + 2, 2, 1},
    {"a second queue's ring", O_Q_DESC + 8, 8, RING},
    {"the last queue's event state", O_Q_SIG_VALID + VMM_VIRTIO_MAX_QUEUES - 1, 1, 1},
};

static void test_refused(void)
{
    struct rng_fn a, *b = calloc(1, sizeof(*b));
    struct fake_vq fq;
    struct vmm_buf s = saved_fn(&a, &fq);
    CHECK_EQ(s.len, O_END);
    uint8_t *p = malloc(s.len + 1);
    fn_init(b, &mem);
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        memcpy(p, s.data, s.len);
        put(p + bads[i].off, bads[i].width, bads[i].val);
        struct vmm_error err = {0};
        int r = vmm_state_decode(&vmm_virtio_pci_state_desc, &b->vp, p, s.len, &err);
        if (r != -EINVAL)
            fprintf(stderr, "not refused: %s\n", bads[i].what);
        CHECK_EQ(r, -EINVAL);
        CHECK(err.msg[0] != 0);
        /* Nothing of a refused state was taken. */
        CHECK_EQ(b->rng.vdev.status, 0);
        CHECK(!b->rng.vdev.queues[0].enabled);
        CHECK_EQ(b->vp.msix_config, VIRTIO_MSI_NO_VECTOR);
    }
    /* A disabled queue holding ring indexes (only an enable sets them). */
    memcpy(p, s.data, s.len);
    put(p + O_Q_ENABLED, 1, 0);
    struct vmm_error err = {0};
    CHECK_EQ(vmm_state_decode(&vmm_virtio_pci_state_desc, &b->vp, p, s.len, &err), -EINVAL);
    /* ... and the same queue, disabled with its indexes cleared, is fine. */
    put(p + O_Q_LAST_AVAIL, 2, 0);
    put(p + O_Q_USED_IDX, 2, 0);
    put(p + O_Q_SIGNALLED, 2, 0);
    put(p + O_Q_SIG_VALID, 1, 0);
    CHECK_EQ(vmm_state_decode(&vmm_virtio_pci_state_desc, &b->vp, p, s.len, &err), 0);
    CHECK(!b->rng.vdev.queues[0].enabled);
    vmm_virtio_dev_reset(&b->rng.vdev);

    /* Every truncation, one byte too many, another version. */
    unsigned truncs = 0;
    for (size_t n = 0; n < s.len; n++)
        truncs += vmm_state_decode(&vmm_virtio_pci_state_desc, &b->vp, s.data, n, &err) == -EINVAL;
    CHECK_EQ(truncs, s.len);
    memcpy(p, s.data, s.len);
    p[s.len] = 0;
    CHECK_EQ(vmm_state_decode(&vmm_virtio_pci_state_desc, &b->vp, p, s.len + 1, &err), -EINVAL);
    put(p, 4, 2);
    CHECK_EQ(vmm_state_decode(&vmm_virtio_pci_state_desc, &b->vp, p, s.len, &err), -EINVAL);
    CHECK_EQ(b->rng.vdev.status, 0);
    free(p);
    vmm_buf_free(&s);
    fn_fini(&a);
    fn_fini(b);
    free(b);
}

/* The same state into a machine with less RAM: its rings are not there. */
static void test_smaller_ram(void)
{
    struct rng_fn a, *b = calloc(1, sizeof(*b));
    struct fake_vq fq;
    struct vmm_buf s = saved_fn(&a, &fq);
    fn_init(b, &small_mem);
    struct vmm_error err = {0};
    /* Rings at 64 KiB fit 1 MiB; move the used ring above it. */
    uint8_t *p = malloc(s.len);
    memcpy(p, s.data, s.len);
    CHECK_EQ(vmm_state_decode(&vmm_virtio_pci_state_desc, &b->vp, p, s.len, &err), 0);
    vmm_virtio_dev_reset(&b->rng.vdev);
    put(p + O_Q_USED, 8, MIB);
    CHECK_EQ(vmm_state_decode(&vmm_virtio_pci_state_desc, &b->vp, p, s.len, &err), -EINVAL);
    free(p);
    vmm_buf_free(&s);
    fn_fini(&a);
    fn_fini(b);
    free(b);
}

/* A frozen queue is not popped and its rings are not written; thawed, it serves what came. */
static void test_frozen(void)
{
    struct rng_fn a;
    struct fake_vq fq;
    fn_init(&a, &mem);
    drive_up(&a, &fq);
    vmm_virtio_dev_freeze(&a.rng.vdev, true);
    uint16_t avail_event = fvq_avail_event(&fq);
    post(&fq, 0);
    vmm_virtio_pci_notify(&a.vp, 0);
    CHECK_EQ(fvq_used_idx(&fq), 0);
    CHECK_EQ(a.rng.vdev.queues[0].last_avail, 0);
    CHECK_EQ(fvq_avail_event(&fq), avail_event);
    CHECK(a.rng.vdev.queues[0].frozen);
    vmm_virtio_dev_freeze(&a.rng.vdev, false);
    vmm_virtio_pci_notify(&a.vp, 0);
    CHECK_EQ(fvq_used_idx(&fq), 1);
    fn_fini(&a);
}

/* ---- device descriptions ---- */

static void test_blk(void)
{
    char path[] = "/tmp/trm-vsnap-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK_EQ(ftruncate(fd, 4 * MIB), 0);
    close(fd);
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, VMM_DISK_FORMAT_RAW, &err);
    CHECK(d != NULL);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct vmm_virtio_blk *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    CHECK_EQ(vmm_virtio_blk_init(a, &(struct vmm_virtio_blk_opts){.disk = d, .num_queues = 2},
                                 &lock, &mem),
             0);
    CHECK_EQ(vmm_virtio_blk_init(b, &(struct vmm_virtio_blk_opts){.disk = d, .num_queues = 2},
                                 &lock, &mem),
             0);
    struct vmm_buf s = encode(&vmm_virtio_blk_state_desc, a);
    CHECK_EQ(vmm_state_decode(&vmm_virtio_blk_state_desc, b, s.data, s.len, &err), 0);
    struct vmm_buf s2 = encode(&vmm_virtio_blk_state_desc, b);
    CHECK(s.len == s2.len && memcmp(s.data, s2.data, s.len) == 0);
    /* Another capacity, queue count, writability: another disk. */
    s.data[4] ^= 1;
    CHECK_EQ(vmm_state_decode(&vmm_virtio_blk_state_desc, b, s.data, s.len, &err), -EINVAL);
    s.data[4] ^= 1;
    s.data[12] = 1;
    CHECK_EQ(vmm_state_decode(&vmm_virtio_blk_state_desc, b, s.data, s.len, &err), -EINVAL);
    s.data[12] = 2;
    s.data[14] = 1;
    CHECK_EQ(vmm_state_decode(&vmm_virtio_blk_state_desc, b, s.data, s.len, &err), -EINVAL);
    s.data[14] = 2; /* not a bool */
    CHECK_EQ(vmm_state_decode(&vmm_virtio_blk_state_desc, b, s.data, s.len, &err), -EINVAL);
    for (size_t n = 0; n < s.len; n++)
        CHECK_EQ(vmm_state_decode(&vmm_virtio_blk_state_desc, b, s.data, n, &err), -EINVAL);
    vmm_buf_free(&s);
    vmm_buf_free(&s2);
    vmm_virtio_blk_fini(a);
    vmm_virtio_blk_fini(b);
    free(a);
    free(b);
    vmm_disk_close(d);
    unlink(path);
}

static void test_net(void)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct vmm_virtio_net *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    struct vmm_virtio_net_opts o = {.mac = {0x52, 0x54, 0, 1, 2, 3}};
    CHECK_EQ(vmm_virtio_net_init(a, &o, &lock, &mem), 0);
    o.mac[5] = 9;
    CHECK_EQ(vmm_virtio_net_init(b, &o, &lock, &mem), 0);
    struct vmm_buf s = encode(&vmm_virtio_net_state_desc, a);
    struct vmm_error err = {0};
    CHECK_EQ(vmm_state_decode(&vmm_virtio_net_state_desc, b, s.data, s.len, &err), 0);
    /* The guest read the saved MAC: it is what the device shows now. */
    CHECK_EQ(b->config[VIRTIO_NET_CFG_MAC + 5], 3);
    CHECK_EQ(b->config[VIRTIO_NET_CFG_STATUS], VIRTIO_NET_S_LINK_UP);
    struct vmm_buf s2 = encode(&vmm_virtio_net_state_desc, b);
    CHECK(s.len == s2.len && memcmp(s.data, s2.data, s.len) == 0);
    s.data[4] |= 1; /* multicast */
    CHECK_EQ(vmm_state_decode(&vmm_virtio_net_state_desc, b, s.data, s.len, &err), -EINVAL);
    s.data[4] &= 0xfe;
    s.data[10] = 2; /* an unknown status bit */
    CHECK_EQ(vmm_state_decode(&vmm_virtio_net_state_desc, b, s.data, s.len, &err), -EINVAL);
    for (size_t n = 0; n < s.len; n++)
        CHECK_EQ(vmm_state_decode(&vmm_virtio_net_state_desc, b, s.data, n, &err), -EINVAL);
    vmm_buf_free(&s);
    vmm_buf_free(&s2);
    vmm_virtio_net_fini(a);
    vmm_virtio_net_fini(b);
    free(a);
    free(b);
}

static void test_balloon(void)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct vmm_virtio_balloon *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    CHECK_EQ(vmm_virtio_balloon_init(a, 1000, &lock, &mem), 0);
    CHECK_EQ(vmm_virtio_balloon_init(b, 0, &lock, &mem), 0);
    a->actual = 700;
    a->queues[2].enabled = true;
    a->queues[2].size = 8;
    a->stats_held = true;
    a->stats_head = 5;
    a->stats_in_len = 0;
    b->queues[2].enabled = true;
    b->queues[2].size = 8;
    struct vmm_buf s = encode(&vmm_virtio_balloon_state_desc, a);
    struct vmm_error err = {0};
    CHECK_EQ(vmm_state_decode(&vmm_virtio_balloon_state_desc, b, s.data, s.len, &err), 0);
    CHECK_EQ(b->num_pages, 1000);
    CHECK_EQ(b->actual, 700);
    CHECK(b->stats_held);
    CHECK_EQ(b->stats_head, 5);
    struct vmm_buf s2 = encode(&vmm_virtio_balloon_state_desc, b);
    CHECK(s.len == s2.len && memcmp(s.data, s2.data, s.len) == 0);
    /* A head outside the statistics queue; a target larger than RAM (16 MiB = 4096 pages). */
    put(s.data + 13, 2, 8);
    CHECK_EQ(vmm_state_decode(&vmm_virtio_balloon_state_desc, b, s.data, s.len, &err), -EINVAL);
    put(s.data + 13, 2, 5);
    put(s.data + 4, 4, 4097);
    CHECK_EQ(vmm_state_decode(&vmm_virtio_balloon_state_desc, b, s.data, s.len, &err), -EINVAL);
    put(s.data + 4, 4, 4096);
    b->queues[2].enabled = false; /* held, but the queue is off */
    CHECK_EQ(vmm_state_decode(&vmm_virtio_balloon_state_desc, b, s.data, s.len, &err), -EINVAL);
    for (size_t n = 0; n < s.len; n++)
        CHECK_EQ(vmm_state_decode(&vmm_virtio_balloon_state_desc, b, s.data, n, &err), -EINVAL);
    vmm_buf_free(&s);
    vmm_buf_free(&s2);
    vmm_virtio_balloon_fini(a);
    vmm_virtio_balloon_fini(b);
    free(a);
    free(b);
}

static void test_input(void)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct vmm_virtio_input *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)),
                            *k = calloc(1, sizeof(*k));
    CHECK_EQ(vmm_virtio_input_init(a, VMM_VIRTIO_INPUT_TABLET, &lock, &mem), 0);
    CHECK_EQ(vmm_virtio_input_init(b, VMM_VIRTIO_INPUT_TABLET, &lock, &mem), 0);
    CHECK_EQ(vmm_virtio_input_init(k, VMM_VIRTIO_INPUT_KEYBOARD, &lock, &mem), 0);
    a->select = VIRTIO_INPUT_CFG_ABS_INFO;
    a->subsel = 1;
    a->buttons = 5;
    b->count = 3; /* pending events of the new process: dropped */
    struct vmm_buf s = encode(&vmm_virtio_input_state_desc, a);
    struct vmm_error err = {0};
    CHECK_EQ(vmm_state_decode(&vmm_virtio_input_state_desc, b, s.data, s.len, &err), 0);
    CHECK_EQ(b->select, VIRTIO_INPUT_CFG_ABS_INFO);
    CHECK_EQ(b->subsel, 1);
    CHECK_EQ(b->buttons, 5);
    CHECK_EQ(b->count, 0);
    struct vmm_buf s2 = encode(&vmm_virtio_input_state_desc, b);
    CHECK(s.len == s2.len && memcmp(s.data, s2.data, s.len) == 0);
    CHECK_EQ(vmm_state_decode(&vmm_virtio_input_state_desc, k, s.data, s.len, &err), -EINVAL);
    put(s.data + 7, 4, 0x20); /* a sixth button */
    CHECK_EQ(vmm_state_decode(&vmm_virtio_input_state_desc, b, s.data, s.len, &err), -EINVAL);
    put(s.data + 7, 4, 0);
    s.data[4] = 2; /* a third kind */
    CHECK_EQ(vmm_state_decode(&vmm_virtio_input_state_desc, b, s.data, s.len, &err), -EINVAL);
    for (size_t n = 0; n < s.len; n++)
        CHECK_EQ(vmm_state_decode(&vmm_virtio_input_state_desc, b, s.data, n, &err), -EINVAL);
    CHECK(vmm_virtio_model_state_desc(VIRTIO_ID_RNG) == NULL);
    CHECK(vmm_virtio_model_state_desc(VIRTIO_ID_INPUT) == &vmm_virtio_input_state_desc);
    vmm_buf_free(&s);
    vmm_buf_free(&s2);
    vmm_virtio_input_fini(a);
    vmm_virtio_input_fini(b);
    vmm_virtio_input_fini(k);
    free(a);
    free(b);
    free(k);
}

int main(void)
{
    mem = fake_mem_new(16 * MIB, 0);
    small_mem = fake_mem_new(MIB, 0);
    RUN_TEST(test_round_trip);
    RUN_TEST(test_refused);
    RUN_TEST(test_smaller_ram);
    RUN_TEST(test_frozen);
    RUN_TEST(test_blk);
    RUN_TEST(test_net);
    RUN_TEST(test_balloon);
    RUN_TEST(test_input);
    fake_mem_free(&mem);
    fake_mem_free(&small_mem);
    return test_finish();
}
