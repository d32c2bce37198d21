/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio modern PCI transport around a fake two-queue device: the
 * configuration space (IDs, capabilities, the PCI_CFG window) through
 * mechanism #1's bus calls, BAR4 and the MSI-X BAR through their handlers
 * at every width, feature negotiation, queue setup, reset, MSI-X masking
 * and pending bits, INTx with ISR read-clear.
 */
#include <errno.h>

#include "bus/pci.h"
#include "fake-guest-mem.h"
#include "test.h"
#include "virtio/virtio-pci.h"

#define SLOT 3
#define DEVFN VMM_PCI_DEVFN(SLOT, 0)
#define NQ 2
#define CFG_LEN 12
#define DEV_F_A 0 /* fake device feature bits */
#define DEV_F_B 5

struct fake_dev {
    struct vmm_virtio_dev vdev;
    struct vmm_virtqueue q[NQ];
    uint8_t config[CFG_LEN];
    unsigned notified[NQ];
    bool more; /* what queue_notify returns */
    unsigned resets;
    bool refuse_b; /* features_ok refuses DEV_F_B */
};

struct hooks_log {
    unsigned signals[VIRTIO_PCI_MAX_VECTORS];
    unsigned nsignals;
    unsigned changed;
    unsigned moved;
    unsigned kicks, kick_queue;
};

static struct vmm_guest_mem mem;
static struct fake_dev fd;
static struct vmm_virtio_pci vp;
static struct vmm_pci_bus bus;
static struct hooks_log hl;
static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static int intx_line = -1; /* what the fake router was last told */

static struct fake_dev *to_fake(struct vmm_virtio_dev *v)
{
    return (struct fake_dev *)v;
}

static uint64_t fake_features(struct vmm_virtio_dev *v)
{
    return VIRTIO_BIT(DEV_F_A) | VIRTIO_BIT(DEV_F_B);
}

static bool fake_features_ok(struct vmm_virtio_dev *v, uint64_t f)
{
    return !(to_fake(v)->refuse_b && (f & VIRTIO_BIT(DEV_F_B)));
}

static void fake_config_read(struct vmm_virtio_dev *v, unsigned off, void *buf, unsigned len)
{
    CHECK(off + len <= CFG_LEN);
    memcpy(buf, to_fake(v)->config + off, len);
}

static void fake_config_write(struct vmm_virtio_dev *v, unsigned off, const void *buf, unsigned len)
{
    CHECK(off + len <= CFG_LEN);
    memcpy(to_fake(v)->config + off, buf, len);
}

static bool fake_notify(struct vmm_virtio_dev *v, unsigned q)
{
    to_fake(v)->notified[q]++;
    return to_fake(v)->more;
}

static void fake_reset(struct vmm_virtio_dev *v)
{
    to_fake(v)->resets++;
}

static const struct vmm_virtio_dev_ops fake_ops = {
    .features = fake_features,
    .features_ok = fake_features_ok,
    .config_read = fake_config_read,
    .config_write = fake_config_write,
    .queue_notify = fake_notify,
    .reset = fake_reset,
};

static void h_signal(void *o, struct vmm_virtio_pci *p, unsigned vector)
{
    CHECK(p == &vp);
    hl.signals[vector]++;
    hl.nsignals++;
}

static void h_changed(void *o, struct vmm_virtio_pci *p)
{
    hl.changed++;
}

static void h_moved(void *o, struct vmm_virtio_pci *p)
{
    hl.moved++;
}

static void h_kick(void *o, struct vmm_virtio_pci *p, unsigned q)
{
    hl.kicks++;
    hl.kick_queue = q;
}

static const struct vmm_virtio_pci_hooks hooks = {
    .msix_signal = h_signal,
    .msix_changed = h_changed,
    .notify_moved = h_moved,
    .kick_later = h_kick,
};

static void router_set(void *o, unsigned devfn, unsigned pin, int level)
{
    CHECK_EQ(devfn, DEVFN);
    intx_line = level;
}

static const struct vmm_pci_intx_router router = {.set_intx = router_set};

static int map_ok(void *o, struct vmm_pci_dev *d, unsigned bar, enum vmm_io_kind kind,
                  uint64_t base, uint64_t len)
{
    return 0;
}

static void unmap_ok(void *o, struct vmm_pci_dev *d, unsigned bar, enum vmm_io_kind kind,
                     uint64_t base, uint64_t len)
{
}

static const struct vmm_pci_bus_ops mapper = {.map = map_ok, .unmap = unmap_ok};

/* ---- Access helpers ---- */

static uint32_t cfg_r(unsigned off, unsigned size)
{
    return vmm_pci_bus_config_read(&bus, DEVFN, off, size);
}

static void cfg_w(unsigned off, unsigned size, uint32_t val)
{
    vmm_pci_bus_config_write(&bus, DEVFN, off, size, val);
}

static uint64_t bar_r(uint64_t off, unsigned size)
{
    return vmm_virtio_pci_bar_ops.read(&vp, off, size);
}

static void bar_w(uint64_t off, unsigned size, uint64_t val)
{
    vmm_virtio_pci_bar_ops.write(&vp, off, size, val);
}

static uint64_t msix_r(uint64_t off, unsigned size)
{
    return vmm_virtio_pci_msix_ops.read(&vp, off, size);
}

static void msix_w(uint64_t off, unsigned size, uint64_t val)
{
    vmm_virtio_pci_msix_ops.write(&vp, off, size, val);
}

static uint8_t status(void)
{
    return (uint8_t)bar_r(VIRTIO_PCI_COMMON_STATUS, 1);
}

/* A fresh device on a fresh bus. */
static void setup(void)
{
    memset(&hl, 0, sizeof(hl));
    memset(&fd, 0, sizeof(fd));
    intx_line = -1;
    vmm_virtio_dev_init(&fd.vdev, &fake_ops, VIRTIO_ID_RNG, &dev_lock, &mem, fd.q, NQ, 256,
                        CFG_LEN);
    for (unsigned i = 0; i < CFG_LEN; i++)
        fd.config[i] = (uint8_t)(0x10 + i);
    CHECK_EQ(vmm_virtio_pci_init(&vp, &fd.vdev, 0xff0000, &hooks, NULL), 0);
    vmm_pci_bus_init(&bus, &mapper, NULL);
    vmm_pci_bus_set_router(&bus, &router, NULL);
    CHECK_EQ(vmm_pci_bus_add(&bus, &vp.pci, SLOT, 0), 0);
}

static void teardown(void)
{
    vmm_pci_bus_fini(&bus);
}

/* Offset of the first vendor capability of cfg_type `type`, or 0. */
static unsigned find_virtio_cap(uint8_t type)
{
    unsigned off = cfg_r(PCI_CAPABILITY_LIST, 1);
    for (int n = 0; off && n < 48; n++) {
        if (cfg_r(off, 1) == PCI_CAP_ID_VNDR && cfg_r(off + VIRTIO_PCI_CAP_CFG_TYPE, 1) == type)
            return off;
        off = cfg_r(off + 1, 1);
    }
    return 0;
}

/* Negotiates features (low word, high word) and returns whether FEATURES_OK stuck. */
static bool negotiate(uint32_t lo, uint32_t hi)
{
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    bar_w(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
    bar_w(VIRTIO_PCI_COMMON_GF, 4, lo);
    bar_w(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
    bar_w(VIRTIO_PCI_COMMON_GF, 4, hi);
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, status() | VIRTIO_STATUS_FEATURES_OK);
    return status() & VIRTIO_STATUS_FEATURES_OK;
}

/* Queue q with rings in RAM at base, enabled. */
static void setup_queue(unsigned q, uint64_t base)
{
    bar_w(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
    bar_w(VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
    bar_w(VIRTIO_PCI_COMMON_Q_DESCLO, 8, base);
    bar_w(VIRTIO_PCI_COMMON_Q_AVAILLO, 8, base + 0x1000);
    bar_w(VIRTIO_PCI_COMMON_Q_USEDLO, 8, base + 0x2000);
    bar_w(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
}

static void bring_up(void)
{
    CHECK(negotiate(0, 1));
    setup_queue(1, 0x10000);
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, status() | VIRTIO_STATUS_DRIVER_OK);
    cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

/* ---- Tests ---- */

static void test_ids_and_caps(void)
{
    setup();
    CHECK_EQ(cfg_r(PCI_VENDOR_ID, 2), 0x1af4);
    CHECK_EQ(cfg_r(PCI_DEVICE_ID, 2), 0x1044);
    CHECK_EQ(cfg_r(PCI_REVISION_ID, 1), 1);
    CHECK_EQ(cfg_r(PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
    CHECK_EQ(cfg_r(PCI_SUBSYSTEM_ID, 2), 0x1100);
    CHECK_EQ(cfg_r(PCI_CLASS_PROG, 1) | cfg_r(PCI_CLASS_DEVICE, 2) << 8, 0xff0000);
    CHECK_EQ(cfg_r(PCI_INTERRUPT_PIN, 1), 1);
    CHECK(cfg_r(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);

    const struct {
        uint8_t type;
        uint32_t off, len;
    } want[] = {
        {VIRTIO_PCI_CAP_COMMON_CFG, 0x0000, 0x38},
        {VIRTIO_PCI_CAP_ISR_CFG, 0x1000, 1},
        {VIRTIO_PCI_CAP_DEVICE_CFG, 0x2000, CFG_LEN},
        {VIRTIO_PCI_CAP_NOTIFY_CFG, 0x3000, NQ * 4},
    };
    for (unsigned i = 0; i < 4; i++) {
        unsigned c = find_virtio_cap(want[i].type);
        CHECK(c != 0);
        CHECK_EQ(cfg_r(c + VIRTIO_PCI_CAP_BAR, 1), 4);
        CHECK_EQ(cfg_r(c + VIRTIO_PCI_CAP_OFFSET, 4), want[i].off);
        CHECK_EQ(cfg_r(c + VIRTIO_PCI_CAP_LENGTH, 4), want[i].len);
        CHECK(cfg_r(c + VIRTIO_PCI_CAP_LEN, 1) >= 16);
    }
    unsigned n = find_virtio_cap(VIRTIO_PCI_CAP_NOTIFY_CFG);
    CHECK_EQ(cfg_r(n + VIRTIO_PCI_CAP_LEN, 1), 20);
    CHECK_EQ(cfg_r(n + VIRTIO_PCI_NOTIFY_CAP_MULT, 4), 4);
    unsigned pc = find_virtio_cap(VIRTIO_PCI_CAP_PCI_CFG);
    CHECK(pc != 0);
    CHECK_EQ(cfg_r(pc + VIRTIO_PCI_CAP_LEN, 1), 20);

    unsigned m = vmm_pci_find_capability(&vp.pci, PCI_CAP_ID_MSIX);
    CHECK(m != 0);
    CHECK_EQ(cfg_r(m + PCI_MSIX_FLAGS, 2), NQ); /* table size - 1: queues + config */
    CHECK_EQ(cfg_r(m + PCI_MSIX_TABLE, 4), 0x000 | 1);
    CHECK_EQ(cfg_r(m + PCI_MSIX_PBA, 4), 0x800 | 1);
    /* The table offset registers are read-only. */
    cfg_w(m + PCI_MSIX_TABLE, 4, 0x12345678);
    CHECK_EQ(cfg_r(m + PCI_MSIX_TABLE, 4), 1);

    /* BAR sizing: BAR4 16 KiB 64-bit prefetchable, BAR1 4 KiB 32-bit. */
    cfg_w(PCI_BASE_ADDRESS_0 + 16, 4, 0xffffffff);
    cfg_w(PCI_BASE_ADDRESS_0 + 20, 4, 0xffffffff);
    CHECK_EQ(cfg_r(PCI_BASE_ADDRESS_0 + 16, 4), 0xffffc00c);
    CHECK_EQ(cfg_r(PCI_BASE_ADDRESS_0 + 20, 4), 0xffffffff);
    cfg_w(PCI_BASE_ADDRESS_0 + 4, 4, 0xffffffff);
    CHECK_EQ(cfg_r(PCI_BASE_ADDRESS_0 + 4, 4), 0xfffff000);
    teardown();
}

static void test_widths(void)
{
    setup();
    /* Device configuration: any width at any offset, zeros past its end. */
    for (unsigned size = 1; size <= 8; size *= 2) {
        for (unsigned off = 0; off < CFG_LEN + 4; off++) {
            uint64_t want = 0;
            for (unsigned i = 0; i < size; i++)
                if (off + i < CFG_LEN)
                    want |= (uint64_t)(0x10 + off + i) << (8 * i);
            CHECK_EQ(bar_r(VIRTIO_PCI_DEVICE_OFF + off, size), want);
        }
    }
    bar_w(VIRTIO_PCI_DEVICE_OFF + 2, 2, 0xbeef);
    CHECK_EQ(fd.config[2], 0xef);
    CHECK_EQ(fd.config[3], 0xbe);
    bar_w(VIRTIO_PCI_DEVICE_OFF + CFG_LEN - 1, 4, 0xaabbccdd); /* clipped at the end */
    CHECK_EQ(fd.config[CFG_LEN - 1], 0xdd);

    /* Common configuration: natural widths only. */
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_NUMQ, 2), NQ);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_NUMQ, 4), 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_NUMQ, 1), 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_NUMQ + 1, 1), 0);
    bar_w(VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_DFSELECT, 4), 1);
    bar_w(VIRTIO_PCI_COMMON_DFSELECT, 2, 0); /* wrong width: ignored */
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_DFSELECT, 4), 1);
    bar_w(VIRTIO_PCI_COMMON_STATUS, 2, VIRTIO_STATUS_ACKNOWLEDGE);
    CHECK_EQ(status(), 0);
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
    CHECK_EQ(status(), VIRTIO_STATUS_ACKNOWLEDGE);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_CFGGENERATION, 1), 0);
    vmm_virtio_config_changed(&fd.vdev);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_CFGGENERATION, 1), 1);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_SIZE, 4), 0); /* past the structure */

    /* Accesses crossing a region's end, the notify region's reads, the void after it. */
    CHECK_EQ(bar_r(0x0ffe, 4), 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_NOTIFY_OFF, 4), 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_ISR_OFF + 1, 1), 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_BAR_SIZE - 1, 1), 0);
    teardown();
}

static void test_features(void)
{
    setup();
    bar_w(VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
    uint32_t lo = (uint32_t)bar_r(VIRTIO_PCI_COMMON_DF, 4);
    CHECK_EQ(lo, (1u << DEV_F_A) | (1u << DEV_F_B) | (1u << VIRTIO_F_INDIRECT_DESC) |
                     (1u << VIRTIO_F_EVENT_IDX));
    bar_w(VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_DF, 4), 1); /* VERSION_1 */
    bar_w(VIRTIO_PCI_COMMON_DFSELECT, 4, 2);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_DF, 4), 0);

    CHECK(negotiate((1u << DEV_F_B) | (1u << VIRTIO_F_EVENT_IDX), 1));
    CHECK_EQ(fd.vdev.driver_features,
             VIRTIO_BIT(DEV_F_B) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_VERSION_1));
    /* Fixed after FEATURES_OK. */
    bar_w(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
    bar_w(VIRTIO_PCI_COMMON_GF, 4, 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_GF, 4), (1u << DEV_F_B) | (1u << VIRTIO_F_EVENT_IDX));
    CHECK(vmm_virtio_has_feature(&fd.vdev, VIRTIO_F_EVENT_IDX));

    /* Refusals: no VERSION_1, a bit not offered, the device's own veto. */
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, 0);
    CHECK(!negotiate(1u << DEV_F_A, 0));
    CHECK_EQ(status(), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, 0);
    CHECK(!negotiate(1u << 3, 1));
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, 0);
    CHECK(!negotiate(0, 1 | 2)); /* bit 33 not offered */
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, 0);
    fd.refuse_b = true;
    CHECK(!negotiate(1u << DEV_F_B, 1));
    CHECK(negotiate(1u << DEV_F_A, 1));
    teardown();
}

static void test_queue_setup(void)
{
    setup();
    bar_w(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_SELECT, 2), 1);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_NOFF, 2), 1);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
    const uint16_t bad[] = {100, 0, 512, 3};
    for (unsigned i = 0; i < 4; i++) {
        bar_w(VIRTIO_PCI_COMMON_Q_SIZE, 2, bad[i]);
        CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
    }
    bar_w(VIRTIO_PCI_COMMON_Q_SIZE, 2, 64);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
    bar_w(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x11110000);
    bar_w(VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0x1);
    bar_w(VIRTIO_PCI_COMMON_Q_AVAILLO, 8, 0x20000);
    bar_w(VIRTIO_PCI_COMMON_Q_USEDLO, 4, 0x30000);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0x111110000ULL);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_DESCHI, 4), 1);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_AVAILLO, 4), 0x20000);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_AVAILHI, 4), 0);
    CHECK_EQ(fd.q[1].used_gpa, 0x30000);
    bar_w(VIRTIO_PCI_COMMON_Q_MSIX, 2, 2);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_MSIX, 2), 2);
    bar_w(VIRTIO_PCI_COMMON_Q_MSIX, 2, 3); /* past the table */
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
    bar_w(VIRTIO_PCI_COMMON_MSIX, 2, 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_MSIX, 2), 0);

    CHECK(negotiate(0, 1));
    bar_w(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
    bar_w(VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x10000);
    bar_w(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
    CHECK(fd.q[1].enabled && !fd.q[1].broken);
    /* Frozen while enabled; enable cannot be written back to 0. */
    bar_w(VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x40000);
    bar_w(VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
    bar_w(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0x10000);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);

    /* A queue that does not exist reads as size 0 and takes no writes. */
    bar_w(VIRTIO_PCI_COMMON_Q_SELECT, 2, 7);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
    bar_w(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    bar_w(VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x10000);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0);
    CHECK_EQ(status() & VIRTIO_STATUS_NEEDS_RESET, 0);
    teardown();
}

static void test_notify(void)
{
    setup();
    CHECK(negotiate(0, 1));
    setup_queue(1, 0x10000);
    /* Not DRIVER_OK yet: no notification reaches the device. */
    cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    bar_w(vmm_virtio_pci_notify_offset(1), 2, 1);
    CHECK_EQ(fd.notified[1], 0);
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, status() | VIRTIO_STATUS_DRIVER_OK);
    bar_w(VIRTIO_PCI_NOTIFY_OFF + 4, 2, 1);
    CHECK_EQ(fd.notified[1], 1);
    bar_w(VIRTIO_PCI_NOTIFY_OFF + 4, 4, 1);
    CHECK_EQ(fd.notified[1], 2);
    bar_w(VIRTIO_PCI_NOTIFY_OFF, 2, 0); /* queue 0 is not enabled */
    CHECK_EQ(fd.notified[0], 0);
    bar_w(VIRTIO_PCI_NOTIFY_OFF + 6, 2, 1); /* not a notify register */
    bar_w(VIRTIO_PCI_NOTIFY_OFF + 4 * 9, 2, 9);
    CHECK_EQ(fd.notified[1], 2);
    vmm_virtio_pci_notify(&vp, 1);
    CHECK_EQ(fd.notified[1], 3);
    vmm_virtio_pci_notify(&vp, 200);
    /* Bus mastering off: no DMA, so no processing. */
    cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    vmm_virtio_pci_notify(&vp, 1);
    CHECK_EQ(fd.notified[1], 3);
    cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    /* Budget left over: the board is asked to come back. */
    fd.more = true;
    vmm_virtio_pci_notify(&vp, 1);
    CHECK_EQ(hl.kicks, 1);
    CHECK_EQ(hl.kick_queue, 1);
    teardown();
}

static void test_notify_addr(void)
{
    setup();
    uint64_t gpa = 0;
    CHECK_EQ(vmm_virtio_pci_notify_addr(&vp, 1, &gpa), -ENOENT);
    cfg_w(PCI_BASE_ADDRESS_0 + 16, 4, 0xfe000000);
    cfg_w(PCI_BASE_ADDRESS_0 + 20, 4, 0x1);
    cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    vmm_pci_bus_sync(&bus);
    CHECK_EQ(hl.moved, 1);
    CHECK_EQ(vmm_virtio_pci_notify_addr(&vp, 1, &gpa), 0);
    CHECK_EQ(gpa, 0x1fe000000ULL + 0x3000 + 4);
    CHECK_EQ(vmm_virtio_pci_notify_addr(&vp, NQ, &gpa), -EINVAL);
    cfg_w(PCI_COMMAND, 2, 0);
    vmm_pci_bus_sync(&bus);
    CHECK_EQ(hl.moved, 2);
    CHECK_EQ(vmm_virtio_pci_notify_addr(&vp, 0, &gpa), -ENOENT);
    teardown();
}

static void test_reset(void)
{
    setup();
    bring_up();
    bar_w(VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
    bar_w(VIRTIO_PCI_COMMON_MSIX, 2, 0);
    vmm_virtio_config_changed(&fd.vdev); /* INTx + ISR */
    CHECK_EQ(intx_line, 1);
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, 0);
    CHECK_EQ(status(), 0);
    CHECK_EQ(fd.resets, 1);
    CHECK_EQ(fd.vdev.driver_features, 0);
    CHECK_EQ(intx_line, 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_ISR_OFF, 1), 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
    bar_w(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
    /* Usable again after the reset. */
    bring_up();
    bar_w(vmm_virtio_pci_notify_offset(1), 2, 1);
    CHECK_EQ(fd.notified[1], 1);
    /* A PCI function reset resets the device too. */
    vmm_pci_dev_reset(&vp.pci);
    CHECK_EQ(fd.resets, 2);
    CHECK_EQ(status(), 0);
    teardown();
}

static void test_needs_reset(void)
{
    setup();
    CHECK(negotiate(0, 1));
    /* A ring outside RAM: the device goes to NEEDS_RESET and stays there. */
    bar_w(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    bar_w(VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x7ffff000);
    bar_w(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    CHECK(status() & VIRTIO_STATUS_NEEDS_RESET);
    setup_queue(1, 0x10000);
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, status() | VIRTIO_STATUS_DRIVER_OK);
    CHECK(status() & VIRTIO_STATUS_NEEDS_RESET);
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1,
          VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
              VIRTIO_STATUS_DRIVER_OK); /* the driver cannot clear it */
    CHECK(status() & VIRTIO_STATUS_NEEDS_RESET);
    cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    bar_w(vmm_virtio_pci_notify_offset(1), 2, 1);
    CHECK_EQ(fd.notified[1], 0); /* the device is stopped */
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, 0);
    CHECK_EQ(status(), 0);

    /* Nor can the driver set it; a device error while live raises a config interrupt. */
    bring_up();
    bar_w(VIRTIO_PCI_COMMON_STATUS, 1, status() | VIRTIO_STATUS_NEEDS_RESET);
    CHECK_EQ(status() & VIRTIO_STATUS_NEEDS_RESET, 0);
    vmm_virtq_fail(&fd.q[1], "test");
    CHECK(status() & VIRTIO_STATUS_NEEDS_RESET);
    CHECK_EQ(bar_r(VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_CONFIG);
    teardown();
}

static void test_intx_isr(void)
{
    setup();
    bring_up();
    vp.vdev->transport_ops->interrupt(vp.vdev->transport, 1);
    CHECK_EQ(intx_line, 1);
    CHECK(cfg_r(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    vmm_virtio_config_changed(&fd.vdev);
    CHECK_EQ(bar_r(VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG);
    CHECK_EQ(intx_line, 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_ISR_OFF, 1), 0);
    CHECK_EQ(hl.nsignals, 0);
    /* INTX_DISABLE hides the line from the router, the ISR still records it. */
    cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
    vp.vdev->transport_ops->interrupt(vp.vdev->transport, 0);
    CHECK_EQ(intx_line, 0);
    CHECK_EQ(bar_r(VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
    teardown();
}

static void test_msix(void)
{
    setup();
    bring_up();
    unsigned m = vp.msix_cap;
    bar_w(VIRTIO_PCI_COMMON_MSIX, 2, 0);
    bar_w(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
    bar_w(VIRTIO_PCI_COMMON_Q_MSIX, 2, 2);
    /* Entries start masked. */
    CHECK_EQ(msix_r(2 * 16 + 12, 4), 1);
    msix_w(2 * 16 + 0, 4, 0xfee00003); /* low two bits are reserved */
    msix_w(2 * 16 + 4, 4, 0);
    msix_w(2 * 16 + 8, 4, 0x4041);
    CHECK_EQ(msix_r(2 * 16, 8), 0xfee00000);
    CHECK_EQ(msix_r(2 * 16 + 8, 4), 0x4041);
    msix_w(0, 8, 0x00000001fee01000ULL);
    CHECK_EQ(msix_r(4, 4), 1);
    CHECK_EQ(msix_r(2, 2), ~0ULL);  /* not a dword access */
    CHECK_EQ(msix_r(3 * 16, 4), 0); /* past the table */
    unsigned changed = hl.changed;
    cfg_w(m + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
    CHECK(vmm_virtio_pci_msix_enabled(&vp));
    CHECK(hl.changed > changed);
    CHECK_EQ(cfg_r(m + PCI_MSIX_FLAGS, 2), PCI_MSIX_FLAGS_ENABLE | NQ); /* size stays */

    /* Masked vector: pending, no message; unmasking delivers and clears. */
    vp.vdev->transport_ops->interrupt(vp.vdev->transport, 1);
    CHECK_EQ(hl.nsignals, 0);
    CHECK_EQ(msix_r(0x800, 4), 1u << 2);
    CHECK_EQ(intx_line, -1); /* INTx never asserted under MSI-X */
    CHECK_EQ(bar_r(VIRTIO_PCI_ISR_OFF, 1), 0);
    msix_w(0x800, 4, 0); /* the PBA is read-only */
    CHECK_EQ(msix_r(0x800, 8), 1u << 2);
    msix_w(2 * 16 + 12, 4, 0);
    CHECK_EQ(hl.signals[2], 1);
    CHECK_EQ(msix_r(0x800, 4), 0);
    vp.vdev->transport_ops->interrupt(vp.vdev->transport, 1);
    CHECK_EQ(hl.signals[2], 2);

    uint64_t addr;
    uint32_t data;
    bool masked;
    CHECK_EQ(vmm_virtio_pci_msix_entry(&vp, 2, &addr, &data, &masked), 0);
    CHECK_EQ(addr, 0xfee00000);
    CHECK_EQ(data, 0x4041);
    CHECK(!masked);
    CHECK_EQ(vmm_virtio_pci_msix_entry(&vp, 3, &addr, &data, &masked), -EINVAL);

    /* The function mask holds every vector. */
    cfg_w(m + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    CHECK_EQ(vmm_virtio_pci_msix_entry(&vp, 2, &addr, &data, &masked), 0);
    CHECK(masked);
    vp.vdev->transport_ops->interrupt(vp.vdev->transport, 1);
    CHECK_EQ(hl.signals[2], 2);
    CHECK_EQ(msix_r(0x800, 4), 1u << 2);
    cfg_w(m + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
    CHECK_EQ(hl.signals[2], 3);

    /* Config changes go to the config vector (0, masked: pending) and set ISR bit 1. */
    vmm_virtio_config_changed(&fd.vdev);
    CHECK_EQ(msix_r(0x800, 4), 1u);
    CHECK_EQ(bar_r(VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_CONFIG);
    CHECK_EQ(intx_line, -1);
    /* NO_VECTOR: nothing at all. */
    bar_w(VIRTIO_PCI_COMMON_Q_MSIX, 2, VIRTIO_MSI_NO_VECTOR);
    unsigned before = hl.nsignals;
    vp.vdev->transport_ops->interrupt(vp.vdev->transport, 1);
    CHECK_EQ(hl.nsignals, before);
    CHECK_EQ(msix_r(0x800, 4), 1u);

    /* A PCI reset disables MSI-X and masks every entry again. */
    vmm_pci_dev_reset(&vp.pci);
    CHECK(!vmm_virtio_pci_msix_enabled(&vp));
    CHECK_EQ(msix_r(2 * 16 + 12, 4), 1);
    CHECK_EQ(msix_r(0x800, 4), 0);
    teardown();
}

static void test_pci_cfg_window(void)
{
    setup();
    unsigned c = vp.cfg_cap;
    cfg_w(c + VIRTIO_PCI_CAP_BAR, 1, 4);
    cfg_w(c + VIRTIO_PCI_CAP_OFFSET, 4, VIRTIO_PCI_COMMON_NUMQ);
    cfg_w(c + VIRTIO_PCI_CAP_LENGTH, 4, 2);
    CHECK_EQ(cfg_r(c + VIRTIO_PCI_CFG_CAP_DATA, 2), NQ);
    CHECK_EQ(cfg_r(c + VIRTIO_PCI_CFG_CAP_DATA, 4) & 0xffff, NQ);
    cfg_w(c + VIRTIO_PCI_CAP_OFFSET, 4, VIRTIO_PCI_COMMON_STATUS);
    cfg_w(c + VIRTIO_PCI_CAP_LENGTH, 4, 1);
    cfg_w(c + VIRTIO_PCI_CFG_CAP_DATA, 1, VIRTIO_STATUS_ACKNOWLEDGE);
    CHECK_EQ(status(), VIRTIO_STATUS_ACKNOWLEDGE);
    cfg_w(c + VIRTIO_PCI_CAP_OFFSET, 4, VIRTIO_PCI_DEVICE_OFF + 4);
    cfg_w(c + VIRTIO_PCI_CAP_LENGTH, 4, 4);
    CHECK_EQ(cfg_r(c + VIRTIO_PCI_CFG_CAP_DATA, 4), 0x17161514);

    /* Bad windows touch nothing: another BAR, odd length, misaligned, past the BAR. */
    const struct {
        uint8_t bar;
        uint32_t off, len;
    } bad[] = {
        {1, VIRTIO_PCI_COMMON_STATUS, 1},
        {4, VIRTIO_PCI_COMMON_STATUS, 3},
        {4, VIRTIO_PCI_COMMON_STATUS + 1, 2},
        {4, VIRTIO_PCI_BAR_SIZE, 1},
        {4, 0xfffffffc, 4},
    };
    for (unsigned i = 0; i < 5; i++) {
        cfg_w(c + VIRTIO_PCI_CAP_BAR, 1, bad[i].bar);
        cfg_w(c + VIRTIO_PCI_CAP_OFFSET, 4, bad[i].off);
        cfg_w(c + VIRTIO_PCI_CAP_LENGTH, 4, bad[i].len);
        cfg_w(c + VIRTIO_PCI_CFG_CAP_DATA, 4, 0);
        CHECK_EQ(status(), VIRTIO_STATUS_ACKNOWLEDGE);
    }
    teardown();
}

int main(void)
{
    mem = fake_mem_new(16 * MIB, 0);
    RUN_TEST(test_ids_and_caps);
    RUN_TEST(test_widths);
    RUN_TEST(test_features);
    RUN_TEST(test_queue_setup);
    RUN_TEST(test_notify);
    RUN_TEST(test_notify_addr);
    RUN_TEST(test_reset);
    RUN_TEST(test_needs_reset);
    RUN_TEST(test_intx_isr);
    RUN_TEST(test_msix);
    RUN_TEST(test_pci_cfg_window);
    fake_mem_free(&mem);
    return test_finish();
}
