/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_VIRTIO_PCI_H
#define VMM_VIRTIO_VIRTIO_PCI_H

/*
 * Virtio 1.x modern PCI transport ("Virtio Over PCI Bus"), non-transitional:
 * vendor 0x1AF4, device 0x1040 + type, revision 1, subsystem 0x1AF4:0x1100.
 *
 * BAR4, 64-bit prefetchable memory, 16 KiB in 4 KiB regions (as QEMU):
 *   0x0000 common configuration      0x2000 device configuration
 *   0x1000 ISR status (read clears)  0x3000 notifications
 * BAR1, 32-bit memory, 4 KiB: the MSI-X table at 0, the PBA at 0x800;
 * queues + 1 vectors.
 *
 * Notifications: notify_off_multiplier is 4 and queue_notify_off is the
 * queue index, so queue q is notified by a write at BAR4 + 0x3000 + 4*q.
 * Each queue has its own address, so the board can give each its own
 * ioeventfd without data matching (vmm_virtio_pci_notify_addr()).
 *
 * Capabilities: MSI-X, then vendor-specific virtio capabilities for
 * COMMON_CFG, NOTIFY_CFG, ISR_CFG, DEVICE_CFG (when the device has a
 * configuration space) and PCI_CFG (the config-space window into the BARs).
 *
 * Interrupts: with MSI-X enabled a queue or config interrupt goes to its
 * vector (hooks->msix_signal, or the PBA when masked); without, the ISR
 * bits are set and INTA# asserted until the driver reads the ISR.
 *
 * Locking: the BAR handlers and vmm_virtio_pci_notify() take vdev->lock
 * (the owner's device lock), which is also the PCI function's lock. Hooks
 * are called with it held.
 */

#include <stdbool.h>
#include <stdint.h>

#include "bus/pci.h"
#include "virtio/virtio.h"

#define VIRTIO_PCI_VENDOR_ID 0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE 0x1040
#define VIRTIO_PCI_SUBSYSTEM_ID 0x1100
#define VIRTIO_PCI_REVISION 1

/* cfg_type of the vendor capabilities. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5
/* Offsets inside struct virtio_pci_cap. */
#define VIRTIO_PCI_CAP_LEN 2
#define VIRTIO_PCI_CAP_CFG_TYPE 3
#define VIRTIO_PCI_CAP_BAR 4
#define VIRTIO_PCI_CAP_ID 5
#define VIRTIO_PCI_CAP_OFFSET 8
#define VIRTIO_PCI_CAP_LENGTH 12
#define VIRTIO_PCI_NOTIFY_CAP_MULT 16 /* le32 notify_off_multiplier */
#define VIRTIO_PCI_CFG_CAP_DATA 16    /* u8 pci_cfg_data[4] */

/* Common configuration registers. */
#define VIRTIO_PCI_COMMON_DFSELECT 0x00
#define VIRTIO_PCI_COMMON_DF 0x04
#define VIRTIO_PCI_COMMON_GFSELECT 0x08
#define VIRTIO_PCI_COMMON_GF 0x0c
#define VIRTIO_PCI_COMMON_MSIX 0x10
#define VIRTIO_PCI_COMMON_NUMQ 0x12
#define VIRTIO_PCI_COMMON_STATUS 0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT 0x16
#define VIRTIO_PCI_COMMON_Q_SIZE 0x18
#define VIRTIO_PCI_COMMON_Q_MSIX 0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE 0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF 0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO 0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI 0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO 0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI 0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO 0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI 0x34
#define VIRTIO_PCI_COMMON_SIZE 0x38

#define VIRTIO_PCI_ISR_QUEUE 0x1
#define VIRTIO_PCI_ISR_CONFIG 0x2

/* BAR layout. */
#define VIRTIO_PCI_BAR 4
#define VIRTIO_PCI_BAR_SIZE 0x4000
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_REGION_SIZE 0x1000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VIRTIO_PCI_MSIX_BAR 1
#define VIRTIO_PCI_MSIX_BAR_SIZE 0x1000
#define VIRTIO_PCI_MSIX_TABLE_OFF 0x000
#define VIRTIO_PCI_MSIX_PBA_OFF 0x800
#define VIRTIO_PCI_MAX_VECTORS (VMM_VIRTIO_MAX_QUEUES + 1)

/* MSI-X capability. */
#define PCI_MSIX_FLAGS 2 /* le16 message control */
#define PCI_MSIX_FLAGS_QSIZE 0x07ff
#define PCI_MSIX_FLAGS_MASKALL 0x4000
#define PCI_MSIX_FLAGS_ENABLE 0x8000
#define PCI_MSIX_TABLE 4 /* le32: offset | BIR */
#define PCI_MSIX_PBA 8
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_ENTRY_CTRL_MASKBIT 0x1

struct vmm_virtio_pci;

/* The board's side. Every hook is optional and called with vdev->lock held. */
struct vmm_virtio_pci_hooks {
    /*
     * Deliver MSI-X vector `vector` now (enabled, unmasked): the board
     * writes the vector's irqfd, or sends the message from
     * vmm_virtio_pci_msix_entry() with KVM_SIGNAL_MSI.
     */
    void (*msix_signal)(void *opaque, struct vmm_virtio_pci *vp, unsigned vector);
    /*
     * MSI-X enable, the function mask or a table entry (address, data,
     * mask) changed: the board re-reads the entries it routes
     * (vmm_virtio_pci_msix_entry) and reprograms its GSI routes.
     */
    void (*msix_changed)(void *opaque, struct vmm_virtio_pci *vp);
    /* BAR4 moved or was unmapped: re-register the per-queue ioeventfds. */
    void (*notify_moved)(void *opaque, struct vmm_virtio_pci *vp);
    /*
     * A queue's budget ran out with buffers left: call
     * vmm_virtio_pci_notify(vp, queue) again soon (from the event loop),
     * without waiting for the guest.
     */
    void (*kick_later)(void *opaque, struct vmm_virtio_pci *vp, unsigned queue);
};

struct vmm_virtio_msix_entry {
    uint32_t addr_lo, addr_hi, data, ctrl;
};

struct vmm_virtio_pci {
    struct vmm_pci_dev pci;
    struct vmm_virtio_dev *vdev;
    const struct vmm_virtio_pci_hooks *hooks;
    void *hooks_opaque;

    uint32_t dfselect, gfselect;
    uint16_t queue_sel;
    uint16_t msix_config;
    uint8_t isr;

    unsigned msix_cap, cfg_cap; /* capability offsets */
    unsigned nvectors;
    struct vmm_virtio_msix_entry msix[VIRTIO_PCI_MAX_VECTORS];
    uint64_t pba[(VIRTIO_PCI_MAX_VECTORS + 63) / 64];
    bool msix_was_enabled, msix_was_masked;
};

/*
 * Builds the PCI function around vdev (already initialised by its device
 * type): IDs, class code, BARs, capabilities, INTA#. The board then plugs
 * vp->pci with vmm_pci_bus_add(). -EINVAL for too many queues.
 */
VMM_WUR int vmm_virtio_pci_init(struct vmm_virtio_pci *vp, struct vmm_virtio_dev *vdev,
                                uint32_t class_code, const struct vmm_virtio_pci_hooks *hooks,
                                void *hooks_opaque);

/*
 * The driver notified queue q (a trapped write, or the board's ioeventfd
 * for it fired). Takes vdev->lock, runs the device. Ignored while bus
 * mastering is off or the device is not live.
 */
void vmm_virtio_pci_notify(struct vmm_virtio_pci *vp, unsigned q);

/* Offset of queue q's notify register inside BAR4. */
static inline uint64_t vmm_virtio_pci_notify_offset(unsigned q)
{
    return VIRTIO_PCI_NOTIFY_OFF + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULTIPLIER;
}

/* Guest-physical address of queue q's notify register: -ENOENT while BAR4 is unmapped. */
VMM_WUR int vmm_virtio_pci_notify_addr(const struct vmm_virtio_pci *vp, unsigned q, uint64_t *gpa);

/* Whether MSI-X is enabled (then INTx is not used). */
bool vmm_virtio_pci_msix_enabled(const struct vmm_virtio_pci *vp);
/*
 * A vector's message; masked is true if the entry or the whole function is
 * masked. -EINVAL for a vector past the table. Call with vdev->lock held
 * (e.g. from msix_changed).
 */
VMM_WUR int vmm_virtio_pci_msix_entry(const struct vmm_virtio_pci *vp, unsigned vector,
                                      uint64_t *addr, uint32_t *data, bool *masked);

/*
 * The transport's registers, MSI-X table and queues were loaded from a saved
 * machine (snapshot/virtio-descs.c) after its PCI configuration: recomputes
 * the derived state (INTx level, the MSI-X enable/mask edges) and asks the
 * board to reprogram its MSI-X routes (msix_changed). vdev->lock held.
 */
void vmm_virtio_pci_state_loaded(struct vmm_virtio_pci *vp);

/* The BAR handlers (opaque = vp); installed by vmm_virtio_pci_init, exported for tests. */
extern const struct vmm_io_ops vmm_virtio_pci_bar_ops;
extern const struct vmm_io_ops vmm_virtio_pci_msix_ops;

#endif
