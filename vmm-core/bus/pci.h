/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_BUS_PCI_H
#define VMM_BUS_PCI_H

/*
 * The PCI core: configuration space of a function (struct vmm_pci_dev,
 * embedded by every PCI device model), bus 0 with its 32 slots x 8 functions
 * (struct vmm_pci_bus), and configuration mechanism #1 at 0xCF8/0xCFC.
 *
 * Pure: no VM, no KVM, no logging, so it links alone into its unit tests.
 * The board connects it to the machine through three seams:
 *
 *  - struct vmm_pci_bus_ops: the "mapper" that turns a decoded BAR into an
 *    iotrap range and back. The I/O map may change only while every vCPU is
 *    parked, so a guest config write never maps anything itself: it records
 *    that the decode changed and calls ops->sync_needed(); the board parks
 *    the vCPUs (the writer included, before it re-enters the guest) and
 *    calls vmm_pci_bus_sync(), which calls ops->unmap/ops->map for exactly
 *    the BARs whose decode differs from what is mapped.
 *  - struct vmm_pci_intx_router: where INTx lines go (the PIIX3 PIRQ router).
 *  - the reset-control forward: byte accesses to 0xCF9, inside the
 *    CONFIG_ADDRESS dword, go to a separate handler (vmm_pci_bus_set_rcr).
 *
 * Locking. The bus lock serialises configuration cycles (CONFIG_ADDRESS is
 * one register shared by all vCPUs). A function may name its owner's lock
 * (vmm_pci_dev_init); config accesses then hold it too. Lock order:
 * bus -> device -> INTx router -> irqchip. Device code therefore reads and
 * writes its own config space directly (vmm_pci_get32(), vmm_pci_set32(), under its
 * own lock) and never through the bus (vmm_pci_bus_config_*), which would
 * take the bus lock after its device lock.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/iotrap.h"
#include "vmm/vmm.h"

/* Configuration header (type 0) offsets. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a /* sub-class, then base class */
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BIST 0x0f
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_CARDBUS_CIS 0x28
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_MIN_GNT 0x3e
#define PCI_MAX_LAT 0x3f
#define PCI_CONFIG_HEADER_SIZE 0x40
#define PCI_CONFIG_SPACE_SIZE 0x100

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_SPECIAL 0x0008
#define PCI_COMMAND_INVALIDATE 0x0010
#define PCI_COMMAND_VGA_PALETTE 0x0020
#define PCI_COMMAND_PARITY 0x0040
#define PCI_COMMAND_SERR 0x0100
#define PCI_COMMAND_FAST_BACK 0x0200
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT 0x0008 /* the function's INTx is asserted (before INTX_DISABLE) */
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_STATUS_66MHZ 0x0020
#define PCI_STATUS_FAST_BACK 0x0080
#define PCI_STATUS_PARITY 0x0100 /* master data parity error */
#define PCI_STATUS_DEVSEL_MEDIUM 0x0200
#define PCI_STATUS_SIG_TARGET_ABORT 0x0800
#define PCI_STATUS_REC_TARGET_ABORT 0x1000
#define PCI_STATUS_REC_MASTER_ABORT 0x2000
#define PCI_STATUS_SIG_SYSTEM_ERROR 0x4000
#define PCI_STATUS_DETECTED_PARITY 0x8000
/* The error bits software clears by writing 1 to them. */
#define PCI_STATUS_W1C                                                               \
    (PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_TARGET_ABORT | \
     PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY)

#define PCI_HEADER_TYPE_NORMAL 0x00
#define PCI_HEADER_TYPE_MULTI_FUNCTION 0x80

#define PCI_BASE_ADDRESS_SPACE_IO 0x01
#define PCI_BASE_ADDRESS_MEM_TYPE_64 0x04
#define PCI_BASE_ADDRESS_MEM_PREFETCH 0x08
#define PCI_BASE_ADDRESS_IO_MASK (~0x03u)
#define PCI_BASE_ADDRESS_MEM_MASK (~0x0fu)
#define PCI_ROM_ADDRESS_ENABLE 0x01
#define PCI_ROM_ADDRESS_MASK (~0x7ffu)

#define PCI_CAP_ID_PM 0x01
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_VNDR 0x09 /* vendor specific: virtio's capabilities */
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_LIST_ID 0 /* offsets inside a capability */
#define PCI_CAP_LIST_NEXT 1

/* Configuration mechanism #1. */
#define VMM_PCI_CONFIG_ADDRESS_PORT 0xcf8 /* 4 ports: the address dword, 0xCF9 is reset control */
#define VMM_PCI_CONFIG_DATA_PORT 0xcfc    /* 4 ports: byte, word or dword at any offset */
#define PCI_CONFIG_ADDRESS_ENABLE 0x80000000u
#define PCI_CONFIG_ADDRESS_MASK 0x80fffffcu /* enable, bus, device, function, register */

#define VMM_PCI_SLOTS 32
#define VMM_PCI_FUNCS 8
#define VMM_PCI_DEVFN(slot, fn) ((unsigned)(((slot) << 3) | (fn)))
#define VMM_PCI_SLOT(devfn) ((unsigned)(devfn) >> 3)
#define VMM_PCI_FUNC(devfn) ((unsigned)(devfn)&7)

/* BAR indexes: 0..5 in the header, VMM_PCI_ROM_BAR for the expansion ROM. */
#define VMM_PCI_NUM_BARS 6
#define VMM_PCI_ROM_BAR 6

enum vmm_pci_bar_kind {
    VMM_PCI_BAR_NONE = 0,
    VMM_PCI_BAR_IO,
    VMM_PCI_BAR_MEM32,
    VMM_PCI_BAR_MEM64,
    VMM_PCI_BAR_MEM64_HIGH, /* the upper dword of the 64-bit BAR below it */
    VMM_PCI_BAR_ROM,
};

#define VMM_PCI_BAR_PREFETCH 0x1 /* flag for vmm_pci_dev_set_bar(): prefetchable memory */

struct vmm_pci_dev;
struct vmm_pci_bus;

struct vmm_pci_bar {
    enum vmm_pci_bar_kind kind;
    uint64_t size; /* a power of two; 0 for an unimplemented BAR */
    bool prefetch;
    const struct vmm_io_ops *ops; /* what the decoded range dispatches to (offset from base) */
    void *opaque;
    /* What the mapper was last told: written only by vmm_pci_bus_sync(). */
    bool mapped;
    uint64_t mapped_base;
};

struct vmm_pci_dev_ops {
    /*
     * Optional. Called after the guest's config write was merged into the
     * config space (write masks and W1C applied), with the offset and size of
     * the access, so the model can react (PAM, PIRQ routing, MSI-X enable).
     * Bus lock and the function's lock held.
     */
    void (*config_write)(struct vmm_pci_dev *d, unsigned off, unsigned size);
    /*
     * Optional. May replace the value a guest config read returns (bytes
     * [off, off+size) little-endian in *val) for registers the model computes
     * on demand. Bus lock and the function's lock held.
     */
    void (*config_read)(struct vmm_pci_dev *d, unsigned off, unsigned size, uint32_t *val);
    /*
     * Optional. Called by vmm_pci_bus_sync() after the mapper moved a BAR
     * (bar->mapped, bar->mapped_base say where it is now), e.g. to move
     * ioeventfds with it. vCPUs are parked; the bus lock is held.
     */
    void (*bar_moved)(struct vmm_pci_dev *d, unsigned bar);
    /*
     * Optional. Called by vmm_pci_dev_reset() after the config space is back
     * at its power-on image, to re-derive model state from it.
     */
    void (*reset)(struct vmm_pci_dev *d);
};

/*
 * One PCI function. Set up with vmm_pci_dev_init() and the set_* helpers,
 * then plug it with vmm_pci_bus_add(): the config space at that moment is
 * its power-on image for vmm_pci_dev_reset().
 */
struct vmm_pci_dev {
    uint8_t config[PCI_CONFIG_SPACE_SIZE];
    uint8_t wmask[PCI_CONFIG_SPACE_SIZE]; /* bits a guest write may change */
    uint8_t w1c[PCI_CONFIG_SPACE_SIZE];   /* bits a guest clears by writing 1 */
    uint8_t reset_image[PCI_CONFIG_SPACE_SIZE];

    struct vmm_pci_bar bars[VMM_PCI_NUM_BARS + 1];
    const uint8_t *rom; /* borrowed; served by the ROM BAR, zeros past rom_len */
    size_t rom_len;

    const struct vmm_pci_dev_ops *ops;
    pthread_mutex_t *lock; /* the owner's device lock, or NULL */
    struct vmm_pci_bus *bus;
    unsigned devfn;
    unsigned cap_next; /* where vmm_pci_add_capability() allocates next */

    bool intx_level; /* what the model asserts */
    bool intx_out;   /* what the router was last told */
};

/*
 * The board's side of BAR decoding. map/unmap are called only from
 * vmm_pci_bus_sync(), i.e. with vCPUs parked, with the bus lock held.
 */
struct vmm_pci_bus_ops {
    /*
     * Make [base, base+len) of `kind` space dispatch to d->bars[bar] (its ops
     * and opaque; for VMM_PCI_ROM_BAR, d->rom/rom_len may instead be mapped
     * as read-only memory). Non-zero (e.g. -EEXIST when it overlaps another
     * range) leaves the BAR undecoded; every later sync tries again.
     */
    int (*map)(void *opaque, struct vmm_pci_dev *d, unsigned bar, enum vmm_io_kind kind,
               uint64_t base, uint64_t len);
    void (*unmap)(void *opaque, struct vmm_pci_dev *d, unsigned bar, enum vmm_io_kind kind,
                  uint64_t base, uint64_t len);
    /*
     * A guest config write changed what some BAR decodes. Called on the
     * writing thread (a vCPU) with no lock held, after the write is
     * complete. The board must park every vCPU, the writer before it enters
     * the guest again, then run vmm_pci_bus_sync() and let them go. Calls
     * may repeat before the sync runs: coalesce them. NULL: the board calls
     * vmm_pci_bus_sync() itself (e.g. only before vCPUs start, or tests).
     */
    void (*sync_needed)(void *opaque);
};

/* Where INTx lines go. pin: 0 = INTA# .. 3 = INTD#. Called with the function's lock held. */
struct vmm_pci_intx_router {
    void (*set_intx)(void *opaque, unsigned devfn, unsigned pin, int level);
};

struct vmm_pci_bus {
    pthread_mutex_t lock;
    uint32_t config_address; /* CONFIG_ADDRESS, reserved bits zero */
    struct vmm_pci_dev *devs[VMM_PCI_SLOTS * VMM_PCI_FUNCS];

    const struct vmm_pci_bus_ops *ops;
    void *ops_opaque;
    const struct vmm_pci_intx_router *router;
    void *router_opaque;
    const struct vmm_io_ops *rcr_ops; /* byte accesses at 0xCF9 */
    void *rcr_opaque;
};

/* ---- Functions ---- */

/*
 * Zeroes d and fills the header: IDs, revision, 24-bit class code
 * (base << 16 | sub << 8 | prog-if), header type; command, status W1C bits,
 * cache line size, latency timer and interrupt line writable. lock may be
 * NULL if the function has no state other threads touch.
 */
void vmm_pci_dev_init(struct vmm_pci_dev *d, const struct vmm_pci_dev_ops *ops,
                      pthread_mutex_t *lock, uint16_t vendor, uint16_t device, uint8_t revision,
                      uint32_t class_code, uint8_t header_type);

/*
 * Declares BAR idx: VMM_PCI_BAR_IO (size 4..256), VMM_PCI_BAR_MEM32 or
 * VMM_PCI_BAR_MEM64 (size >= 16; a 64-bit BAR also takes idx + 1), flags
 * VMM_PCI_BAR_PREFETCH for memory. size must be a power of two. Guest
 * writes of all ones then read back the size mask (BAR sizing). ops/opaque
 * is what the decoded range dispatches to. -EINVAL on a bad declaration.
 */
VMM_WUR int vmm_pci_dev_set_bar(struct vmm_pci_dev *d, unsigned idx, enum vmm_pci_bar_kind kind,
                                unsigned flags, uint64_t size, const struct vmm_io_ops *ops,
                                void *opaque);
/*
 * An expansion ROM (borrowed: keep it alive while d exists). The ROM BAR is
 * the next power of two >= max(len, 2 KiB); bytes past len read as 0.
 */
VMM_WUR int vmm_pci_dev_set_rom(struct vmm_pci_dev *d, const uint8_t *rom, size_t len);
/* pin: 1 = INTA# .. 4 = INTD# (the Interrupt Pin register's encoding), 0 = none. */
void vmm_pci_dev_set_intx_pin(struct vmm_pci_dev *d, unsigned pin);

/*
 * Appends a capability of `len` bytes (>= 2) with the given ID to the list,
 * at the next free dword-aligned offset from 0x40 up (or at `at` with
 * vmm_pci_add_capability_at, for models with fixed layouts). The body is
 * zero and read-only until the caller fills it and sets its write masks.
 * Returns the capability's offset, or -ENOSPC / -EINVAL / -EEXIST.
 */
VMM_WUR int vmm_pci_add_capability(struct vmm_pci_dev *d, uint8_t id, unsigned len);
VMM_WUR int vmm_pci_add_capability_at(struct vmm_pci_dev *d, unsigned at, uint8_t id, unsigned len);
/* Offset of the first capability with this ID walking the list, or 0. Loop-safe. */
unsigned vmm_pci_find_capability(const struct vmm_pci_dev *d, uint8_t id);

/*
 * Asserts (level 1) or deasserts the function's INTx pin. Status bit 3
 * follows the level; the router sees it unless Command.INTX_DISABLE is set.
 * Call with the function's lock held (the config path does).
 */
void vmm_pci_dev_set_irq(struct vmm_pci_dev *d, int level);

/* Whether the function may master the bus (DMA): Command.MASTER. */
static inline bool vmm_pci_dev_bus_master(const struct vmm_pci_dev *d)
{
    return d->config[PCI_COMMAND] & PCI_COMMAND_MASTER;
}

/*
 * Config space back to the image it had when plugged; INTx deasserted;
 * ops->reset called. The decode changes are applied by the next
 * vmm_pci_bus_sync() (vmm_pci_bus_reset() does both).
 */
void vmm_pci_dev_reset(struct vmm_pci_dev *d);

/* Raw access for the model itself (no masks, no hooks). off + width must be <= 256. */
static inline uint8_t vmm_pci_get8(const struct vmm_pci_dev *d, unsigned off)
{
    return d->config[off];
}

static inline uint16_t vmm_pci_get16(const struct vmm_pci_dev *d, unsigned off)
{
    return (uint16_t)(d->config[off] | d->config[off + 1] << 8);
}

static inline uint32_t vmm_pci_get32(const struct vmm_pci_dev *d, unsigned off)
{
    return (uint32_t)vmm_pci_get16(d, off) | (uint32_t)vmm_pci_get16(d, off + 2) << 16;
}

void vmm_pci_set8(struct vmm_pci_dev *d, unsigned off, uint8_t val);
void vmm_pci_set16(struct vmm_pci_dev *d, unsigned off, uint16_t val);
void vmm_pci_set32(struct vmm_pci_dev *d, unsigned off, uint32_t val);
/* Write masks and W1C masks, `width` bytes (1, 2 or 4) little-endian. */
void vmm_pci_set_wmask(struct vmm_pci_dev *d, unsigned off, unsigned width, uint32_t mask);
void vmm_pci_set_w1c(struct vmm_pci_dev *d, unsigned off, unsigned width, uint32_t mask);

/* ---- Bus ---- */

void vmm_pci_bus_init(struct vmm_pci_bus *bus, const struct vmm_pci_bus_ops *ops, void *opaque);
/* Frees nothing the functions own; call after vCPUs stopped for good. */
void vmm_pci_bus_fini(struct vmm_pci_bus *bus);
void vmm_pci_bus_set_router(struct vmm_pci_bus *bus, const struct vmm_pci_intx_router *router,
                            void *opaque);
/* Byte accesses at 0xCF9 go to ops with offset 0, size 1 (NULL: they read 0xFF). */
void vmm_pci_bus_set_rcr(struct vmm_pci_bus *bus, const struct vmm_io_ops *ops, void *opaque);

/*
 * Plugs d at slot.fn of bus 0 (before vCPUs start). The config space now is
 * its power-on image. Plugging a function other than 0, or function 0 of a
 * slot with other functions, sets the multi-function bit of function 0's
 * header type. -EINVAL for a bad slot/fn, -EEXIST if taken.
 */
VMM_WUR int vmm_pci_bus_add(struct vmm_pci_bus *bus, struct vmm_pci_dev *d, unsigned slot,
                            unsigned fn);
struct vmm_pci_dev *vmm_pci_bus_get(struct vmm_pci_bus *bus, unsigned devfn);

/*
 * A configuration cycle on bus 0 as the guest makes it: size 1, 2 or 4 at
 * off (not crossing a dword). Reads of absent functions return all ones;
 * writes to them are dropped. Takes the bus lock.
 */
uint32_t vmm_pci_bus_config_read(struct vmm_pci_bus *bus, unsigned devfn, unsigned off,
                                 unsigned size);
void vmm_pci_bus_config_write(struct vmm_pci_bus *bus, unsigned devfn, unsigned off, unsigned size,
                              uint32_t val);

/*
 * Brings the mapper in line with what every BAR decodes now: all unmaps
 * first, then all maps (so two BARs can swap places in one sync), then
 * bar_moved hooks. Call with every vCPU parked (or before they start).
 */
void vmm_pci_bus_sync(struct vmm_pci_bus *bus);
/* Resets every function (vmm_pci_dev_reset) and syncs. vCPUs parked. */
void vmm_pci_bus_reset(struct vmm_pci_bus *bus);

/*
 * Configuration mechanism #1, opaque = the bus:
 *  - vmm_pci_config_addr_ops for the 4 ports at 0xCF8: a dword access at
 *    offset 0 is CONFIG_ADDRESS; a byte access at offset 1 (port 0xCF9) is
 *    forwarded to the reset-control handler; anything else passes through
 *    to an empty PCI I/O space (reads all ones, writes dropped).
 *  - vmm_pci_config_data_ops for the 4 ports at 0xCFC: byte, word or dword
 *    at any offset, into the register CONFIG_ADDRESS selects; all ones /
 *    dropped while its enable bit (31) is clear.
 */
extern const struct vmm_io_ops vmm_pci_config_addr_ops;
extern const struct vmm_io_ops vmm_pci_config_data_ops;

#endif
