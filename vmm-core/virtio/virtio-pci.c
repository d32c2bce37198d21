/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Virtio modern PCI transport: configuration-space capabilities, the
 * common/ISR/device/notify regions of BAR4, MSI-X in BAR1 and INTx.
 * See virtio-pci.h for the layout and the board's hooks.
 */
#include "virtio/virtio-pci.h"

#include <errno.h>
#include <string.h>

static void lock(struct vmm_virtio_pci *vp)
{
    if (vp->vdev->lock)
        pthread_mutex_lock(vp->vdev->lock);
}

static void unlock(struct vmm_virtio_pci *vp)
{
    if (vp->vdev->lock)
        pthread_mutex_unlock(vp->vdev->lock);
}

/* ---- MSI-X ---- */

static uint16_t msix_flags(const struct vmm_virtio_pci *vp)
{
    return vmm_pci_get16(&vp->pci, vp->msix_cap + PCI_MSIX_FLAGS);
}

bool vmm_virtio_pci_msix_enabled(const struct vmm_virtio_pci *vp)
{
    return msix_flags(vp) & PCI_MSIX_FLAGS_ENABLE;
}

static bool vector_masked(const struct vmm_virtio_pci *vp, unsigned v)
{
    return (msix_flags(vp) & PCI_MSIX_FLAGS_MASKALL) ||
           (vp->msix[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

int vmm_virtio_pci_msix_entry(const struct vmm_virtio_pci *vp, unsigned vector, uint64_t *addr,
                              uint32_t *data, bool *masked)
{
    if (vector >= vp->nvectors)
        return -EINVAL;
    *addr = (uint64_t)vp->msix[vector].addr_hi << 32 | vp->msix[vector].addr_lo;
    *data = vp->msix[vector].data;
    *masked = vector_masked(vp, vector);
    return 0;
}

static void msix_fire(struct vmm_virtio_pci *vp, unsigned v)
{
    if (v >= vp->nvectors)
        return; /* VIRTIO_MSI_NO_VECTOR or a vector the device refused: no interrupt */
    if (vector_masked(vp, v)) {
        vp->pba[v / 64] |= 1ULL << (v % 64);
        return;
    }
    if (vp->hooks && vp->hooks->msix_signal)
        vp->hooks->msix_signal(vp->hooks_opaque, vp, v);
}

/* After an unmask: send what became pending while masked. */
static void msix_flush_pending(struct vmm_virtio_pci *vp)
{
    if (!vmm_virtio_pci_msix_enabled(vp))
        return;
    for (unsigned v = 0; v < vp->nvectors; v++) {
        if ((vp->pba[v / 64] >> (v % 64) & 1) && !vector_masked(vp, v)) {
            vp->pba[v / 64] &= ~(1ULL << (v % 64));
            msix_fire(vp, v);
        }
    }
}

static void msix_changed(struct vmm_virtio_pci *vp)
{
    if (vp->hooks && vp->hooks->msix_changed)
        vp->hooks->msix_changed(vp->hooks_opaque, vp);
}

static uint32_t msix_read32(struct vmm_virtio_pci *vp, uint64_t off)
{
    if (off < VIRTIO_PCI_MSIX_PBA_OFF) {
        unsigned v = (unsigned)(off / PCI_MSIX_ENTRY_SIZE);
        if (v >= vp->nvectors)
            return 0;
        const uint32_t *e = &vp->msix[v].addr_lo;
        return e[(off % PCI_MSIX_ENTRY_SIZE) / 4];
    }
    off -= VIRTIO_PCI_MSIX_PBA_OFF;
    if (off / 8 >= sizeof(vp->pba) / 8)
        return 0;
    return (uint32_t)(vp->pba[off / 8] >> (off % 8 ? 32 : 0));
}

static void msix_write32(struct vmm_virtio_pci *vp, uint64_t off, uint32_t val)
{
    if (off >= VIRTIO_PCI_MSIX_PBA_OFF)
        return; /* the PBA is read-only */
    unsigned v = (unsigned)(off / PCI_MSIX_ENTRY_SIZE);
    if (v >= vp->nvectors)
        return;
    struct vmm_virtio_msix_entry *e = &vp->msix[v];
    switch (off % PCI_MSIX_ENTRY_SIZE) {
    case 0:
        e->addr_lo = val & ~3u; /* dword-aligned message address */
        break;
    case 4:
        e->addr_hi = val;
        break;
    case 8:
        e->data = val;
        break;
    default:
        e->ctrl = val & PCI_MSIX_ENTRY_CTRL_MASKBIT;
        break;
    }
    msix_changed(vp);
    msix_flush_pending(vp);
}

static uint64_t msix_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_virtio_pci *vp = opaque;
    uint64_t val = ~0ULL;
    /* The table and PBA are dword/qword registers; other accesses read ones. */
    if (off % 4 || (size != 4 && size != 8) || off + size > VIRTIO_PCI_MSIX_BAR_SIZE)
        return val;
    lock(vp);
    val = msix_read32(vp, off);
    if (size == 8)
        val |= (uint64_t)msix_read32(vp, off + 4) << 32;
    unlock(vp);
    return val;
}

static void msix_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_virtio_pci *vp = opaque;
    if (off % 4 || (size != 4 && size != 8) || off + size > VIRTIO_PCI_MSIX_BAR_SIZE)
        return;
    lock(vp);
    msix_write32(vp, off, (uint32_t)val);
    if (size == 8)
        msix_write32(vp, off + 4, (uint32_t)(val >> 32));
    unlock(vp);
}

const struct vmm_io_ops vmm_virtio_pci_msix_ops = {.read = msix_read, .write = msix_write};

/* ---- Interrupts ---- */

static void update_intx(struct vmm_virtio_pci *vp)
{
    vmm_pci_dev_set_irq(&vp->pci, vp->isr && !vmm_virtio_pci_msix_enabled(vp));
}

static void transport_interrupt(void *transport, unsigned q)
{
    struct vmm_virtio_pci *vp = transport;
    bool msix = vmm_virtio_pci_msix_enabled(vp);
    unsigned vector;
    if (q == VMM_VIRTIO_CONFIG_IRQ) {
        /* The config bit is set with MSI-X too; the queue bit only for INTx. */
        vp->isr |= VIRTIO_PCI_ISR_CONFIG;
        vector = vp->msix_config;
    } else {
        if (!msix)
            vp->isr |= VIRTIO_PCI_ISR_QUEUE;
        vector = vp->vdev->queues[q].msix_vector;
    }
    if (msix)
        msix_fire(vp, vector);
    else
        update_intx(vp);
}

static const struct vmm_virtio_transport_ops transport_ops = {.interrupt = transport_interrupt};

/* ---- Common configuration ---- */

static struct vmm_virtqueue *selected(struct vmm_virtio_pci *vp)
{
    return vp->queue_sel < vp->vdev->num_queues ? &vp->vdev->queues[vp->queue_sel] : NULL;
}

static void reset_transport(struct vmm_virtio_pci *vp)
{
    vmm_virtio_dev_reset(vp->vdev);
    vp->dfselect = vp->gfselect = 0;
    vp->queue_sel = 0;
    vp->msix_config = VIRTIO_MSI_NO_VECTOR;
    vp->isr = 0;
    update_intx(vp);
}

static uint16_t checked_vector(struct vmm_virtio_pci *vp, uint32_t v)
{
    /* A vector the table does not have reads back as NO_VECTOR: the driver's failure signal. */
    return v < vp->nvectors ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

/* The field at off with its natural width, or false for any other access. */
static bool common_field(uint64_t off, unsigned size)
{
    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
    case VIRTIO_PCI_COMMON_DF:
    case VIRTIO_PCI_COMMON_GFSELECT:
    case VIRTIO_PCI_COMMON_GF:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        return size == 4;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_USEDLO:
        return size == 4 || size == 8;
    case VIRTIO_PCI_COMMON_STATUS:
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        return size == 1;
    case VIRTIO_PCI_COMMON_MSIX:
    case VIRTIO_PCI_COMMON_NUMQ:
    case VIRTIO_PCI_COMMON_Q_SELECT:
    case VIRTIO_PCI_COMMON_Q_SIZE:
    case VIRTIO_PCI_COMMON_Q_MSIX:
    case VIRTIO_PCI_COMMON_Q_ENABLE:
    case VIRTIO_PCI_COMMON_Q_NOFF:
        return size == 2;
    default:
        return false;
    }
}

static uint64_t ring_addr(const struct vmm_virtqueue *vq, uint64_t off)
{
    switch (off & ~7ULL) {
    case VIRTIO_PCI_COMMON_Q_DESCLO:
        return vq->desc_gpa;
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
        return vq->avail_gpa;
    default:
        return vq->used_gpa;
    }
}

static uint64_t common_read(struct vmm_virtio_pci *vp, uint64_t off, unsigned size)
{
    struct vmm_virtio_dev *vdev = vp->vdev;
    struct vmm_virtqueue *vq = selected(vp);
    if (!common_field(off, size))
        return 0;
    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        return vp->dfselect;
    case VIRTIO_PCI_COMMON_DF:
        return vp->dfselect < 2 ? (uint32_t)(vmm_virtio_dev_features(vdev) >> (32 * vp->dfselect))
                                : 0;
    case VIRTIO_PCI_COMMON_GFSELECT:
        return vp->gfselect;
    case VIRTIO_PCI_COMMON_GF:
        return vp->gfselect < 2 ? (uint32_t)(vdev->driver_features >> (32 * vp->gfselect)) : 0;
    case VIRTIO_PCI_COMMON_MSIX:
        return vp->msix_config;
    case VIRTIO_PCI_COMMON_NUMQ:
        return vdev->num_queues;
    case VIRTIO_PCI_COMMON_STATUS:
        return vdev->status;
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        return vdev->config_generation;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        return vp->queue_sel;
    }
    if (!vq)
        return 0; /* queue_size 0: no such queue */
    switch (off) {
    case VIRTIO_PCI_COMMON_Q_SIZE:
        return vq->size;
    case VIRTIO_PCI_COMMON_Q_MSIX:
        return vq->msix_vector;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        return vq->enabled;
    case VIRTIO_PCI_COMMON_Q_NOFF:
        return vp->queue_sel;
    default: {
        uint64_t a = ring_addr(vq, off);
        if (size == 8)
            return a;
        return (uint32_t)(a >> (off % 8 ? 32 : 0));
    }
    }
}

static void write_status(struct vmm_virtio_pci *vp, uint8_t val)
{
    struct vmm_virtio_dev *vdev = vp->vdev;
    if (val == 0) {
        reset_transport(vp);
        return;
    }
    uint8_t old = vdev->status;
    /* NEEDS_RESET is the device's bit: the driver can neither set nor clear it. */
    uint8_t s = (uint8_t)((val & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET));
    if ((s & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
        !vmm_virtio_dev_check_features(vdev))
        s &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
    vdev->status = s;
}

static void set_ring_addr(struct vmm_virtqueue *vq, uint64_t off, unsigned size, uint64_t val)
{
    uint64_t *a = (off & ~7ULL) == VIRTIO_PCI_COMMON_Q_DESCLO    ? &vq->desc_gpa
                  : (off & ~7ULL) == VIRTIO_PCI_COMMON_Q_AVAILLO ? &vq->avail_gpa
                                                                 : &vq->used_gpa;
    if (size == 8)
        *a = val;
    else if (off % 8)
        *a = (*a & 0xffffffffULL) | (uint64_t)(uint32_t)val << 32;
    else
        *a = (*a & ~0xffffffffULL) | (uint32_t)val;
}

static void common_write(struct vmm_virtio_pci *vp, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_virtio_dev *vdev = vp->vdev;
    struct vmm_virtqueue *vq = selected(vp);
    if (!common_field(off, size))
        return;
    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        vp->dfselect = (uint32_t)val;
        return;
    case VIRTIO_PCI_COMMON_GFSELECT:
        vp->gfselect = (uint32_t)val;
        return;
    case VIRTIO_PCI_COMMON_GF:
        /* Features are fixed once FEATURES_OK is set. */
        if (vp->gfselect < 2 && !(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
            unsigned sh = 32 * vp->gfselect;
            vdev->driver_features =
                (vdev->driver_features & ~(0xffffffffULL << sh)) | ((uint64_t)(uint32_t)val << sh);
        }
        return;
    case VIRTIO_PCI_COMMON_MSIX:
        vp->msix_config = checked_vector(vp, (uint32_t)val & 0xffff);
        return;
    case VIRTIO_PCI_COMMON_STATUS:
        write_status(vp, (uint8_t)val);
        return;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        vp->queue_sel = (uint16_t)val;
        return;
    }
    if (!vq)
        return;
    if (off == VIRTIO_PCI_COMMON_Q_MSIX) {
        vq->msix_vector = checked_vector(vp, (uint32_t)val & 0xffff);
        return;
    }
    /* The ring registers are frozen while the queue is enabled. */
    if (vq->enabled)
        return;
    switch (off) {
    case VIRTIO_PCI_COMMON_Q_SIZE: {
        uint32_t n = (uint32_t)val & 0xffff;
        /* Only a power of two up to the maximum is taken; anything else leaves it as it was. */
        if (n && n <= vq->max_size && !(n & (n - 1)))
            vq->size = (uint16_t)n;
        return;
    }
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        if ((val & 0xffff) == 1)
            vmm_virtio_dev_enable_queue(vdev, vp->queue_sel);
        return;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
    case VIRTIO_PCI_COMMON_Q_USEDLO:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        set_ring_addr(vq, off, size, val);
        return;
    default:
        return; /* read-only */
    }
}

/* ---- BAR4 ---- */

static void notify_locked(struct vmm_virtio_pci *vp, unsigned q)
{
    if (!vmm_pci_dev_bus_master(&vp->pci))
        return; /* no DMA without bus mastering; the driver kicks again after enabling it */
    if (vmm_virtio_dev_notify(vp->vdev, q) && vp->hooks && vp->hooks->kick_later)
        vp->hooks->kick_later(vp->hooks_opaque, vp, q);
}

void vmm_virtio_pci_notify(struct vmm_virtio_pci *vp, unsigned q)
{
    lock(vp);
    notify_locked(vp, q);
    unlock(vp);
}

static uint64_t device_cfg_read(struct vmm_virtio_pci *vp, uint64_t off, unsigned size)
{
    uint8_t buf[8] = {0};
    uint64_t val = 0;
    if (off < vp->vdev->config_len) {
        unsigned n = (unsigned)(vp->vdev->config_len - off);
        vp->vdev->ops->config_read(vp->vdev, (unsigned)off, buf, n < size ? n : size);
    }
    memcpy(&val, buf, size);
    return val;
}

static void device_cfg_write(struct vmm_virtio_pci *vp, uint64_t off, unsigned size, uint64_t val)
{
    if (off >= vp->vdev->config_len || !vp->vdev->ops->config_write)
        return;
    unsigned n = (unsigned)(vp->vdev->config_len - off);
    uint8_t buf[8];
    memcpy(buf, &val, sizeof(buf));
    vp->vdev->ops->config_write(vp->vdev, (unsigned)off, buf, n < size ? n : size);
}

static uint64_t bar_read_locked(struct vmm_virtio_pci *vp, uint64_t off, unsigned size)
{
    uint64_t region = off & ~(uint64_t)(VIRTIO_PCI_REGION_SIZE - 1);
    uint64_t roff = off - region;
    if (size > 8 || roff + size > VIRTIO_PCI_REGION_SIZE)
        return 0;
    switch (region) {
    case VIRTIO_PCI_COMMON_OFF:
        return common_read(vp, roff, size);
    case VIRTIO_PCI_ISR_OFF:
        if (roff != 0)
            return 0;
        {
            uint8_t isr = vp->isr;
            vp->isr = 0; /* read clears, and lowers INTx */
            update_intx(vp);
            return isr;
        }
    case VIRTIO_PCI_DEVICE_OFF:
        return device_cfg_read(vp, roff, size);
    default:
        return 0; /* notify region reads as 0 */
    }
}

static void bar_write_locked(struct vmm_virtio_pci *vp, uint64_t off, unsigned size, uint64_t val)
{
    uint64_t region = off & ~(uint64_t)(VIRTIO_PCI_REGION_SIZE - 1);
    uint64_t roff = off - region;
    if (size > 8 || roff + size > VIRTIO_PCI_REGION_SIZE)
        return;
    switch (region) {
    case VIRTIO_PCI_COMMON_OFF:
        common_write(vp, roff, size, val);
        return;
    case VIRTIO_PCI_DEVICE_OFF:
        device_cfg_write(vp, roff, size, val);
        return;
    case VIRTIO_PCI_NOTIFY_OFF:
        /* The offset names the queue; the value (the queue index) adds nothing. */
        if (roff % VIRTIO_PCI_NOTIFY_MULTIPLIER == 0)
            notify_locked(vp, (unsigned)(roff / VIRTIO_PCI_NOTIFY_MULTIPLIER));
        return;
    default:
        return; /* ISR is read-only */
    }
}

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_virtio_pci *vp = opaque;
    lock(vp);
    uint64_t v = bar_read_locked(vp, off, size);
    unlock(vp);
    return v;
}

static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_virtio_pci *vp = opaque;
    lock(vp);
    bar_write_locked(vp, off, size, val);
    unlock(vp);
}

const struct vmm_io_ops vmm_virtio_pci_bar_ops = {.read = bar_read, .write = bar_write};

int vmm_virtio_pci_notify_addr(const struct vmm_virtio_pci *vp, unsigned q, uint64_t *gpa)
{
    const struct vmm_pci_bar *b = &vp->pci.bars[VIRTIO_PCI_BAR];
    if (q >= vp->vdev->num_queues)
        return -EINVAL;
    if (!b->mapped)
        return -ENOENT;
    *gpa = b->mapped_base + vmm_virtio_pci_notify_offset(q);
    return 0;
}

/* ---- PCI function hooks ---- */

static struct vmm_virtio_pci *to_vp(struct vmm_pci_dev *d)
{
    return (struct vmm_virtio_pci *)((char *)d - offsetof(struct vmm_virtio_pci, pci));
}

/* The PCI_CFG capability's window: BAR4 only, 1/2/4 bytes, naturally aligned, inside the BAR. */
static bool cfg_window(struct vmm_virtio_pci *vp, uint32_t *off, unsigned *len)
{
    unsigned c = vp->cfg_cap;
    *off = vmm_pci_get32(&vp->pci, c + VIRTIO_PCI_CAP_OFFSET);
    *len = vmm_pci_get32(&vp->pci, c + VIRTIO_PCI_CAP_LENGTH);
    return vmm_pci_get8(&vp->pci, c + VIRTIO_PCI_CAP_BAR) == VIRTIO_PCI_BAR &&
           (*len == 1 || *len == 2 || *len == 4) && *off % *len == 0 &&
           *off <= VIRTIO_PCI_BAR_SIZE - *len;
}

static bool touches(unsigned off, unsigned size, unsigned start, unsigned len)
{
    return off < start + len && start < off + size;
}

static void pci_config_write(struct vmm_pci_dev *d, unsigned off, unsigned size)
{
    struct vmm_virtio_pci *vp = to_vp(d);
    if (touches(off, size, vp->msix_cap + PCI_MSIX_FLAGS, 2)) {
        bool en = vmm_virtio_pci_msix_enabled(vp);
        bool masked = msix_flags(vp) & PCI_MSIX_FLAGS_MASKALL;
        if (en != vp->msix_was_enabled || masked != vp->msix_was_masked) {
            vp->msix_was_enabled = en;
            vp->msix_was_masked = masked;
            update_intx(vp);
            msix_changed(vp);
            msix_flush_pending(vp);
        }
    }
    unsigned data = vp->cfg_cap + VIRTIO_PCI_CFG_CAP_DATA;
    uint32_t woff;
    unsigned wlen;
    if (touches(off, size, data, 4) && cfg_window(vp, &woff, &wlen))
        bar_write_locked(vp, woff, wlen, vmm_pci_get32(d, data) & (0xffffffffu >> (32 - 8 * wlen)));
}

static void pci_config_read(struct vmm_pci_dev *d, unsigned off, unsigned size, uint32_t *val)
{
    struct vmm_virtio_pci *vp = to_vp(d);
    unsigned data = vp->cfg_cap + VIRTIO_PCI_CFG_CAP_DATA;
    uint32_t woff;
    unsigned wlen;
    if (!touches(off, size, data, 4) || !cfg_window(vp, &woff, &wlen))
        return;
    vmm_pci_set32(d, data, (uint32_t)bar_read_locked(vp, woff, wlen));
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)vmm_pci_get8(d, off + i) << (8 * i);
    *val = v;
}

static void pci_bar_moved(struct vmm_pci_dev *d, unsigned bar)
{
    struct vmm_virtio_pci *vp = to_vp(d);
    if (bar == VIRTIO_PCI_BAR && vp->hooks && vp->hooks->notify_moved)
        vp->hooks->notify_moved(vp->hooks_opaque, vp);
}

static void msix_reset(struct vmm_virtio_pci *vp)
{
    memset(vp->msix, 0, sizeof(vp->msix));
    for (unsigned v = 0; v < vp->nvectors; v++)
        vp->msix[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT; /* entries come out of reset masked */
    memset(vp->pba, 0, sizeof(vp->pba));
    vp->msix_was_enabled = vp->msix_was_masked = false;
}

static void pci_reset(struct vmm_pci_dev *d)
{
    struct vmm_virtio_pci *vp = to_vp(d);
    msix_reset(vp);
    reset_transport(vp);
    msix_changed(vp);
}

void vmm_virtio_pci_state_loaded(struct vmm_virtio_pci *vp)
{
    vp->msix_was_enabled = vmm_virtio_pci_msix_enabled(vp);
    vp->msix_was_masked = msix_flags(vp) & PCI_MSIX_FLAGS_MASKALL;
    update_intx(vp);
    msix_changed(vp);
}

static const struct vmm_pci_dev_ops pci_ops = {
    .config_write = pci_config_write,
    .config_read = pci_config_read,
    .bar_moved = pci_bar_moved,
    .reset = pci_reset,
};

/* ---- Construction ---- */

static int add_virtio_cap(struct vmm_virtio_pci *vp, uint8_t type, unsigned len, uint32_t off,
                          uint32_t length)
{
    int c = vmm_pci_add_capability(&vp->pci, PCI_CAP_ID_VNDR, len);
    if (c < 0)
        return c;
    vmm_pci_set8(&vp->pci, (unsigned)c + VIRTIO_PCI_CAP_LEN, (uint8_t)len);
    vmm_pci_set8(&vp->pci, (unsigned)c + VIRTIO_PCI_CAP_CFG_TYPE, type);
    vmm_pci_set8(&vp->pci, (unsigned)c + VIRTIO_PCI_CAP_BAR, VIRTIO_PCI_BAR);
    vmm_pci_set32(&vp->pci, (unsigned)c + VIRTIO_PCI_CAP_OFFSET, off);
    vmm_pci_set32(&vp->pci, (unsigned)c + VIRTIO_PCI_CAP_LENGTH, length);
    return c;
}

int vmm_virtio_pci_init(struct vmm_virtio_pci *vp, struct vmm_virtio_dev *vdev, uint32_t class_code,
                        const struct vmm_virtio_pci_hooks *hooks, void *hooks_opaque)
{
    if (vdev->num_queues == 0 || vdev->num_queues > VMM_VIRTIO_MAX_QUEUES ||
        vdev->config_len > VIRTIO_PCI_REGION_SIZE)
        return -EINVAL;
    memset(vp, 0, sizeof(*vp));
    vp->vdev = vdev;
    vp->hooks = hooks;
    vp->hooks_opaque = hooks_opaque;
    vp->nvectors = vdev->num_queues + 1;
    vdev->transport_ops = &transport_ops;
    vdev->transport = vp;

    struct vmm_pci_dev *d = &vp->pci;
    vmm_pci_dev_init(d, &pci_ops, vdev->lock, VIRTIO_PCI_VENDOR_ID,
                     (uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + vdev->device_id), VIRTIO_PCI_REVISION,
                     class_code, PCI_HEADER_TYPE_NORMAL);
    vmm_pci_set16(d, PCI_SUBSYSTEM_VENDOR_ID, VIRTIO_PCI_VENDOR_ID);
    vmm_pci_set16(d, PCI_SUBSYSTEM_ID, VIRTIO_PCI_SUBSYSTEM_ID);
    vmm_pci_dev_set_intx_pin(d, 1);

    int r = vmm_pci_dev_set_bar(d, VIRTIO_PCI_MSIX_BAR, VMM_PCI_BAR_MEM32, 0,
                                VIRTIO_PCI_MSIX_BAR_SIZE, &vmm_virtio_pci_msix_ops, vp);
    if (r < 0)
        return r;
    r = vmm_pci_dev_set_bar(d, VIRTIO_PCI_BAR, VMM_PCI_BAR_MEM64, VMM_PCI_BAR_PREFETCH,
                            VIRTIO_PCI_BAR_SIZE, &vmm_virtio_pci_bar_ops, vp);
    if (r < 0)
        return r;

    int c = vmm_pci_add_capability(d, PCI_CAP_ID_MSIX, 12);
    if (c < 0)
        return c;
    vp->msix_cap = (unsigned)c;
    vmm_pci_set16(d, (unsigned)c + PCI_MSIX_FLAGS, (uint16_t)(vp->nvectors - 1));
    vmm_pci_set_wmask(d, (unsigned)c + PCI_MSIX_FLAGS, 2,
                      PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    vmm_pci_set32(d, (unsigned)c + PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_TABLE_OFF | VIRTIO_PCI_MSIX_BAR);
    vmm_pci_set32(d, (unsigned)c + PCI_MSIX_PBA, VIRTIO_PCI_MSIX_PBA_OFF | VIRTIO_PCI_MSIX_BAR);

    if ((r = add_virtio_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, 16, VIRTIO_PCI_COMMON_OFF,
                            VIRTIO_PCI_COMMON_SIZE)) < 0 ||
        (r = add_virtio_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, 16, VIRTIO_PCI_ISR_OFF, 1)) < 0)
        return r;
    if (vdev->config_len && (r = add_virtio_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, 16,
                                                VIRTIO_PCI_DEVICE_OFF, vdev->config_len)) < 0)
        return r;
    r = add_virtio_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, 20, VIRTIO_PCI_NOTIFY_OFF,
                       vdev->num_queues * VIRTIO_PCI_NOTIFY_MULTIPLIER);
    if (r < 0)
        return r;
    vmm_pci_set32(d, (unsigned)r + VIRTIO_PCI_NOTIFY_CAP_MULT, VIRTIO_PCI_NOTIFY_MULTIPLIER);
    r = add_virtio_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 20, 0, 0);
    if (r < 0)
        return r;
    vp->cfg_cap = (unsigned)r;
    /* The driver picks bar, offset and length of the window, then reads or writes the data. */
    vmm_pci_set8(d, vp->cfg_cap + VIRTIO_PCI_CAP_BAR, 0);
    vmm_pci_set_wmask(d, vp->cfg_cap + VIRTIO_PCI_CAP_BAR, 1, 0xff);
    vmm_pci_set_wmask(d, vp->cfg_cap + VIRTIO_PCI_CAP_OFFSET, 4, 0xffffffff);
    vmm_pci_set_wmask(d, vp->cfg_cap + VIRTIO_PCI_CAP_LENGTH, 4, 0xffffffff);
    vmm_pci_set_wmask(d, vp->cfg_cap + VIRTIO_PCI_CFG_CAP_DATA, 4, 0xffffffff);

    msix_reset(vp);
    vp->msix_config = VIRTIO_MSI_NO_VECTOR;
    return 0;
}
