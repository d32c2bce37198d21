/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI core: configuration space semantics (write masks, W1C bits, BAR sizing
 * by mask, capability list), BAR decode tracking for the board's mapper,
 * INTx through the bus's router, and configuration mechanism #1. Pure: see
 * pci.h for the contract and the locking rules.
 */
#include "bus/pci.h"

#include <errno.h>
#include <string.h>

/* Capability pointers must stay out of the 64-byte header and be dword aligned. */
#define CAP_MIN_OFFSET PCI_CONFIG_HEADER_SIZE
#define CAP_MAX_ENTRIES ((PCI_CONFIG_SPACE_SIZE - CAP_MIN_OFFSET) / 4)

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static uint32_t ones(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

static void dev_lock(struct vmm_pci_dev *d)
{
    if (d->lock)
        pthread_mutex_lock(d->lock);
}

static void dev_unlock(struct vmm_pci_dev *d)
{
    if (d->lock)
        pthread_mutex_unlock(d->lock);
}

void vmm_pci_set8(struct vmm_pci_dev *d, unsigned off, uint8_t val)
{
    d->config[off] = val;
}

void vmm_pci_set16(struct vmm_pci_dev *d, unsigned off, uint16_t val)
{
    d->config[off] = (uint8_t)val;
    d->config[off + 1] = (uint8_t)(val >> 8);
}

void vmm_pci_set32(struct vmm_pci_dev *d, unsigned off, uint32_t val)
{
    vmm_pci_set16(d, off, (uint16_t)val);
    vmm_pci_set16(d, off + 2, (uint16_t)(val >> 16));
}

static void set_bytes(uint8_t *arr, unsigned off, unsigned width, uint32_t val)
{
    for (unsigned i = 0; i < width && off + i < PCI_CONFIG_SPACE_SIZE; i++)
        arr[off + i] = (uint8_t)(val >> (8 * i));
}

void vmm_pci_set_wmask(struct vmm_pci_dev *d, unsigned off, unsigned width, uint32_t mask)
{
    set_bytes(d->wmask, off, width, mask);
}

void vmm_pci_set_w1c(struct vmm_pci_dev *d, unsigned off, unsigned width, uint32_t mask)
{
    set_bytes(d->w1c, off, width, mask);
}

void vmm_pci_dev_init(struct vmm_pci_dev *d, const struct vmm_pci_dev_ops *ops,
                      pthread_mutex_t *lock, uint16_t vendor, uint16_t device, uint8_t revision,
                      uint32_t class_code, uint8_t header_type)
{
    memset(d, 0, sizeof(*d));
    d->ops = ops;
    d->lock = lock;
    d->cap_next = CAP_MIN_OFFSET;
    vmm_pci_set16(d, PCI_VENDOR_ID, vendor);
    vmm_pci_set16(d, PCI_DEVICE_ID, device);
    vmm_pci_set8(d, PCI_REVISION_ID, revision);
    vmm_pci_set8(d, PCI_CLASS_PROG, (uint8_t)class_code);
    vmm_pci_set16(d, PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
    vmm_pci_set8(d, PCI_HEADER_TYPE, header_type);
    /*
     * Command bits our functions implement; the others (special cycles,
     * MWI, palette snoop, fast back-to-back) are hardwired to 0, as the PCI
     * spec allows for functions that do not support them.
     */
    vmm_pci_set_wmask(d, PCI_COMMAND, 2,
                      PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                          PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
    vmm_pci_set_w1c(d, PCI_STATUS, 2, PCI_STATUS_W1C);
    vmm_pci_set_wmask(d, PCI_CACHE_LINE_SIZE, 1, 0xff);
    vmm_pci_set_wmask(d, PCI_LATENCY_TIMER, 1, 0xff);
    vmm_pci_set_wmask(d, PCI_INTERRUPT_LINE, 1, 0xff);
}

int vmm_pci_dev_set_bar(struct vmm_pci_dev *d, unsigned idx, enum vmm_pci_bar_kind kind,
                        unsigned flags, uint64_t size, const struct vmm_io_ops *ops, void *opaque)
{
    if (idx >= VMM_PCI_NUM_BARS || !ops || !is_pow2(size) || d->bars[idx].kind != VMM_PCI_BAR_NONE)
        return -EINVAL;
    unsigned reg = PCI_BASE_ADDRESS_0 + 4 * idx;
    bool prefetch = flags & VMM_PCI_BAR_PREFETCH;
    uint32_t low_bits;

    switch (kind) {
    case VMM_PCI_BAR_IO:
        /* The spec caps an I/O BAR at 256 bytes; the two low bits are the type. */
        if (size < 4 || size > 256 || prefetch)
            return -EINVAL;
        low_bits = PCI_BASE_ADDRESS_SPACE_IO;
        vmm_pci_set_wmask(d, reg, 4, (uint32_t) ~(size - 1) & PCI_BASE_ADDRESS_IO_MASK);
        break;
    case VMM_PCI_BAR_MEM32:
        if (size < 16 || size > (1ull << 31))
            return -EINVAL;
        low_bits = prefetch ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0;
        vmm_pci_set_wmask(d, reg, 4, (uint32_t) ~(size - 1) & PCI_BASE_ADDRESS_MEM_MASK);
        break;
    case VMM_PCI_BAR_MEM64:
        if (idx + 1 >= VMM_PCI_NUM_BARS || d->bars[idx + 1].kind != VMM_PCI_BAR_NONE || size < 16 ||
            size > (1ull << 63))
            return -EINVAL;
        low_bits = PCI_BASE_ADDRESS_MEM_TYPE_64 | (prefetch ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
        vmm_pci_set_wmask(d, reg, 4, (uint32_t) ~(size - 1) & PCI_BASE_ADDRESS_MEM_MASK);
        vmm_pci_set_wmask(d, reg + 4, 4, (uint32_t)(~(size - 1) >> 32));
        vmm_pci_set32(d, reg + 4, 0);
        d->bars[idx + 1] = (struct vmm_pci_bar){.kind = VMM_PCI_BAR_MEM64_HIGH};
        break;
    default:
        return -EINVAL;
    }
    vmm_pci_set32(d, reg, low_bits);
    d->bars[idx] = (struct vmm_pci_bar){
        .kind = kind, .size = size, .prefetch = prefetch, .ops = ops, .opaque = opaque};
    return 0;
}

static uint64_t rom_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_pci_dev *d = opaque;
    uint64_t val = 0;
    for (unsigned i = 0; i < size && i < 8; i++) {
        uint64_t o = off + i;
        if (o < d->rom_len)
            val |= (uint64_t)d->rom[o] << (8 * i);
    }
    return val;
}

static void rom_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    /* A ROM: writes are dropped. */
}

static const struct vmm_io_ops rom_ops = {.read = rom_read, .write = rom_write};

int vmm_pci_dev_set_rom(struct vmm_pci_dev *d, const uint8_t *rom, size_t len)
{
    if (!rom || !len || len > (16u << 20) || d->bars[VMM_PCI_ROM_BAR].kind != VMM_PCI_BAR_NONE)
        return -EINVAL;
    uint64_t size = 2048; /* the ROM BAR decodes at least 2 KiB (address bits 31:11) */
    while (size < len)
        size <<= 1;
    d->rom = rom;
    d->rom_len = len;
    vmm_pci_set32(d, PCI_ROM_ADDRESS, 0);
    vmm_pci_set_wmask(d, PCI_ROM_ADDRESS, 4,
                      ((uint32_t) ~(size - 1) & PCI_ROM_ADDRESS_MASK) | PCI_ROM_ADDRESS_ENABLE);
    d->bars[VMM_PCI_ROM_BAR] =
        (struct vmm_pci_bar){.kind = VMM_PCI_BAR_ROM, .size = size, .ops = &rom_ops, .opaque = d};
    return 0;
}

void vmm_pci_dev_set_intx_pin(struct vmm_pci_dev *d, unsigned pin)
{
    vmm_pci_set8(d, PCI_INTERRUPT_PIN, pin <= 4 ? (uint8_t)pin : 0);
}

/* ---- Capabilities ---- */

/* The offset of the last capability in the list, 0 if empty; -1 for a loop or a bad pointer. */
static int cap_tail(const struct vmm_pci_dev *d, unsigned *tail)
{
    *tail = 0;
    if (!(vmm_pci_get16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
        return 0;
    unsigned p = d->config[PCI_CAPABILITY_LIST] & ~3u;
    for (unsigned n = 0; p; n++) {
        if (p < CAP_MIN_OFFSET || n >= CAP_MAX_ENTRIES)
            return -1;
        *tail = p;
        p = d->config[p + PCI_CAP_LIST_NEXT] & ~3u;
    }
    return 0;
}

unsigned vmm_pci_find_capability(const struct vmm_pci_dev *d, uint8_t id)
{
    if (!(vmm_pci_get16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
        return 0;
    unsigned p = d->config[PCI_CAPABILITY_LIST] & ~3u;
    for (unsigned n = 0; p >= CAP_MIN_OFFSET && n < CAP_MAX_ENTRIES; n++) {
        if (d->config[p + PCI_CAP_LIST_ID] == id)
            return p;
        p = d->config[p + PCI_CAP_LIST_NEXT] & ~3u;
    }
    return 0;
}

int vmm_pci_add_capability_at(struct vmm_pci_dev *d, unsigned at, uint8_t id, unsigned len)
{
    if (at < CAP_MIN_OFFSET || (at & 3) || len < 2 || len > PCI_CONFIG_SPACE_SIZE - at)
        return -EINVAL;
    unsigned tail;
    if (cap_tail(d, &tail) < 0)
        return -EINVAL;
    /* Refuse an offset already in the list (it would make a loop). */
    for (unsigned p = d->config[PCI_CAPABILITY_LIST] & ~3u; tail && p;
         p = d->config[p + PCI_CAP_LIST_NEXT] & ~3u)
        if (p == at)
            return -EEXIST;

    memset(d->config + at, 0, len);
    memset(d->wmask + at, 0, len);
    memset(d->w1c + at, 0, len);
    d->config[at + PCI_CAP_LIST_ID] = id;
    d->config[at + PCI_CAP_LIST_NEXT] = 0;
    if (tail)
        d->config[tail + PCI_CAP_LIST_NEXT] = (uint8_t)at;
    else
        d->config[PCI_CAPABILITY_LIST] = (uint8_t)at;
    vmm_pci_set16(d, PCI_STATUS, vmm_pci_get16(d, PCI_STATUS) | PCI_STATUS_CAP_LIST);
    unsigned end = (at + len + 3) & ~3u;
    if (end > d->cap_next)
        d->cap_next = end;
    return (int)at;
}

int vmm_pci_add_capability(struct vmm_pci_dev *d, uint8_t id, unsigned len)
{
    if (len < 2)
        return -EINVAL;
    if (d->cap_next >= PCI_CONFIG_SPACE_SIZE || len > PCI_CONFIG_SPACE_SIZE - d->cap_next)
        return -ENOSPC;
    return vmm_pci_add_capability_at(d, d->cap_next, id, len);
}

/* ---- INTx ---- */

static void update_intx(struct vmm_pci_dev *d)
{
    unsigned pin = d->config[PCI_INTERRUPT_PIN];
    bool out = d->intx_level && pin >= 1 && pin <= 4 &&
               !(vmm_pci_get16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) && d->bus &&
               d->bus->router;
    if (out == d->intx_out)
        return;
    d->intx_out = out;
    d->bus->router->set_intx(d->bus->router_opaque, d->devfn, pin - 1, out);
}

void vmm_pci_dev_set_irq(struct vmm_pci_dev *d, int level)
{
    d->intx_level = level != 0;
    uint16_t status = vmm_pci_get16(d, PCI_STATUS);
    if (d->intx_level)
        status |= PCI_STATUS_INTERRUPT;
    else
        status &= (uint16_t)~PCI_STATUS_INTERRUPT;
    vmm_pci_set16(d, PCI_STATUS, status);
    update_intx(d);
}

void vmm_pci_dev_reset(struct vmm_pci_dev *d)
{
    memcpy(d->config, d->reset_image, sizeof(d->config));
    vmm_pci_dev_set_irq(d, 0);
    if (d->ops && d->ops->reset)
        d->ops->reset(d);
}

/* ---- BAR decode ---- */

/* Whether BAR i decodes now, and where: from the config space alone. */
static bool bar_decode(const struct vmm_pci_dev *d, unsigned i, uint64_t *base)
{
    const struct vmm_pci_bar *b = &d->bars[i];
    uint16_t cmd = vmm_pci_get16(d, PCI_COMMAND);
    unsigned reg = PCI_BASE_ADDRESS_0 + 4 * i;
    uint64_t addr;

    switch (b->kind) {
    case VMM_PCI_BAR_IO:
        if (!(cmd & PCI_COMMAND_IO))
            return false;
        addr = vmm_pci_get32(d, reg) & PCI_BASE_ADDRESS_IO_MASK;
        /* x86 has 64 KiB of port space: a BAR above it decodes nothing the CPU can reach. */
        if (addr + b->size > 0x10000)
            return false;
        break;
    case VMM_PCI_BAR_MEM32:
        if (!(cmd & PCI_COMMAND_MEMORY))
            return false;
        addr = vmm_pci_get32(d, reg) & PCI_BASE_ADDRESS_MEM_MASK;
        break;
    case VMM_PCI_BAR_MEM64:
        if (!(cmd & PCI_COMMAND_MEMORY))
            return false;
        addr = (vmm_pci_get32(d, reg) & PCI_BASE_ADDRESS_MEM_MASK) |
               (uint64_t)vmm_pci_get32(d, reg + 4) << 32;
        break;
    case VMM_PCI_BAR_ROM: {
        uint32_t v = vmm_pci_get32(d, PCI_ROM_ADDRESS);
        if (!(cmd & PCI_COMMAND_MEMORY) || !(v & PCI_ROM_ADDRESS_ENABLE))
            return false;
        addr = v & PCI_ROM_ADDRESS_MASK;
        break;
    }
    default:
        return false;
    }
    /*
     * Address 0 is where an unassigned BAR sits; decoding it would shadow
     * the interrupt vector table or port 0. The write masks keep addr
     * aligned to the size, so it cannot wrap.
     */
    if (addr == 0)
        return false;
    *base = addr;
    return true;
}

static bool decode_differs(const struct vmm_pci_dev *d)
{
    for (unsigned i = 0; i <= VMM_PCI_ROM_BAR; i++) {
        uint64_t base = 0;
        bool on = bar_decode(d, i, &base);
        const struct vmm_pci_bar *b = &d->bars[i];
        if (on != b->mapped || (on && base != b->mapped_base))
            return true;
    }
    return false;
}

static bool overlaps(unsigned off, unsigned size, unsigned start, unsigned end)
{
    return off < end && off + size > start;
}

static bool touches_decode(unsigned off, unsigned size)
{
    return overlaps(off, size, PCI_COMMAND, PCI_COMMAND + 2) ||
           overlaps(off, size, PCI_BASE_ADDRESS_0, PCI_CARDBUS_CIS) ||
           overlaps(off, size, PCI_ROM_ADDRESS, PCI_ROM_ADDRESS + 4);
}

static enum vmm_io_kind bar_space(const struct vmm_pci_bar *b)
{
    return b->kind == VMM_PCI_BAR_IO ? VMM_IO_PIO : VMM_IO_MMIO;
}

void vmm_pci_bus_sync(struct vmm_pci_bus *bus)
{
    uint8_t moved[VMM_PCI_SLOTS * VMM_PCI_FUNCS] = {0}; /* bit i: BAR i moved */

    pthread_mutex_lock(&bus->lock);
    /* Unmaps first, so a BAR can take an address another one leaves in the same sync. */
    for (unsigned devfn = 0; devfn < VMM_PCI_SLOTS * VMM_PCI_FUNCS; devfn++) {
        struct vmm_pci_dev *d = bus->devs[devfn];
        for (unsigned i = 0; d && i <= VMM_PCI_ROM_BAR; i++) {
            struct vmm_pci_bar *b = &d->bars[i];
            uint64_t base = 0;
            bool on = bar_decode(d, i, &base);
            if (b->mapped && (!on || base != b->mapped_base)) {
                if (bus->ops && bus->ops->unmap)
                    bus->ops->unmap(bus->ops_opaque, d, i, bar_space(b), b->mapped_base, b->size);
                b->mapped = false;
                moved[devfn] |= 1u << i;
            }
        }
    }
    for (unsigned devfn = 0; devfn < VMM_PCI_SLOTS * VMM_PCI_FUNCS; devfn++) {
        struct vmm_pci_dev *d = bus->devs[devfn];
        for (unsigned i = 0; d && i <= VMM_PCI_ROM_BAR; i++) {
            struct vmm_pci_bar *b = &d->bars[i];
            uint64_t base = 0;
            if (b->mapped || !bar_decode(d, i, &base))
                continue;
            if (bus->ops && bus->ops->map &&
                bus->ops->map(bus->ops_opaque, d, i, bar_space(b), base, b->size) == 0) {
                b->mapped = true;
                b->mapped_base = base;
                moved[devfn] |= 1u << i;
            }
        }
    }
    for (unsigned devfn = 0; devfn < VMM_PCI_SLOTS * VMM_PCI_FUNCS; devfn++) {
        struct vmm_pci_dev *d = bus->devs[devfn];
        for (unsigned i = 0; d && moved[devfn] && i <= VMM_PCI_ROM_BAR; i++)
            if ((moved[devfn] & (1u << i)) && d->ops && d->ops->bar_moved)
                d->ops->bar_moved(d, i);
    }
    pthread_mutex_unlock(&bus->lock);
}

/* ---- Bus ---- */

void vmm_pci_bus_init(struct vmm_pci_bus *bus, const struct vmm_pci_bus_ops *ops, void *opaque)
{
    memset(bus, 0, sizeof(*bus));
    pthread_mutex_init(&bus->lock, NULL);
    bus->ops = ops;
    bus->ops_opaque = opaque;
}

void vmm_pci_bus_fini(struct vmm_pci_bus *bus)
{
    pthread_mutex_destroy(&bus->lock);
}

void vmm_pci_bus_set_router(struct vmm_pci_bus *bus, const struct vmm_pci_intx_router *router,
                            void *opaque)
{
    pthread_mutex_lock(&bus->lock);
    bus->router = router;
    bus->router_opaque = opaque;
    pthread_mutex_unlock(&bus->lock);
}

void vmm_pci_bus_set_rcr(struct vmm_pci_bus *bus, const struct vmm_io_ops *ops, void *opaque)
{
    bus->rcr_ops = ops;
    bus->rcr_opaque = opaque;
}

static void set_multifunction(struct vmm_pci_dev *d)
{
    d->config[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI_FUNCTION;
    d->reset_image[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI_FUNCTION;
}

int vmm_pci_bus_add(struct vmm_pci_bus *bus, struct vmm_pci_dev *d, unsigned slot, unsigned fn)
{
    if (slot >= VMM_PCI_SLOTS || fn >= VMM_PCI_FUNCS || d->bus)
        return -EINVAL;
    unsigned devfn = VMM_PCI_DEVFN(slot, fn);
    pthread_mutex_lock(&bus->lock);
    if (bus->devs[devfn]) {
        pthread_mutex_unlock(&bus->lock);
        return -EEXIST;
    }
    d->bus = bus;
    d->devfn = devfn;
    memcpy(d->reset_image, d->config, sizeof(d->config));
    bus->devs[devfn] = d;
    /* Software probes functions 1..7 only when function 0 says multi-function. */
    struct vmm_pci_dev *f0 = bus->devs[VMM_PCI_DEVFN(slot, 0)];
    for (unsigned f = 1; f0 && f < VMM_PCI_FUNCS; f++)
        if (bus->devs[VMM_PCI_DEVFN(slot, f)])
            set_multifunction(f0);
    pthread_mutex_unlock(&bus->lock);
    return 0;
}

struct vmm_pci_dev *vmm_pci_bus_get(struct vmm_pci_bus *bus, unsigned devfn)
{
    return devfn < VMM_PCI_SLOTS * VMM_PCI_FUNCS ? bus->devs[devfn] : NULL;
}

static bool access_ok(unsigned off, unsigned size)
{
    return (size == 1 || size == 2 || size == 4) && off < PCI_CONFIG_SPACE_SIZE &&
           (off & 3) + size <= 4;
}

/* Bus lock held. */
static uint32_t config_read_locked(struct vmm_pci_bus *bus, unsigned devfn, unsigned off,
                                   unsigned size)
{
    struct vmm_pci_dev *d = vmm_pci_bus_get(bus, devfn);
    if (!d || !access_ok(off, size))
        return ones(size); /* master abort */
    dev_lock(d);
    uint32_t val = 0;
    for (unsigned i = 0; i < size; i++)
        val |= (uint32_t)d->config[off + i] << (8 * i);
    if (d->ops && d->ops->config_read)
        d->ops->config_read(d, off, size, &val);
    dev_unlock(d);
    return val & ones(size);
}

/* Bus lock held. Returns whether a BAR's decode now differs from what is mapped. */
static bool config_write_locked(struct vmm_pci_bus *bus, unsigned devfn, unsigned off,
                                unsigned size, uint32_t val)
{
    struct vmm_pci_dev *d = vmm_pci_bus_get(bus, devfn);
    if (!d || !access_ok(off, size))
        return false;
    dev_lock(d);
    uint16_t old_cmd = vmm_pci_get16(d, PCI_COMMAND);
    for (unsigned i = 0; i < size; i++) {
        unsigned o = off + i;
        uint8_t b = (uint8_t)(val >> (8 * i));
        d->config[o] = (uint8_t)((d->config[o] & ~d->wmask[o]) | (b & d->wmask[o]));
        d->config[o] &= (uint8_t) ~(b & d->w1c[o]);
    }
    if (d->ops && d->ops->config_write)
        d->ops->config_write(d, off, size);
    if ((old_cmd ^ vmm_pci_get16(d, PCI_COMMAND)) & PCI_COMMAND_INTX_DISABLE)
        update_intx(d);
    bool differs = touches_decode(off, size) && decode_differs(d);
    dev_unlock(d);
    return differs;
}

uint32_t vmm_pci_bus_config_read(struct vmm_pci_bus *bus, unsigned devfn, unsigned off,
                                 unsigned size)
{
    pthread_mutex_lock(&bus->lock);
    uint32_t val = config_read_locked(bus, devfn, off, size);
    pthread_mutex_unlock(&bus->lock);
    return val;
}

void vmm_pci_bus_config_write(struct vmm_pci_bus *bus, unsigned devfn, unsigned off, unsigned size,
                              uint32_t val)
{
    pthread_mutex_lock(&bus->lock);
    bool sync = config_write_locked(bus, devfn, off, size, val);
    pthread_mutex_unlock(&bus->lock);
    /* Outside the lock: the board may park vCPUs, which may be waiting for it. */
    if (sync && bus->ops && bus->ops->sync_needed)
        bus->ops->sync_needed(bus->ops_opaque);
}

void vmm_pci_bus_reset(struct vmm_pci_bus *bus)
{
    pthread_mutex_lock(&bus->lock);
    bus->config_address = 0;
    for (unsigned devfn = 0; devfn < VMM_PCI_SLOTS * VMM_PCI_FUNCS; devfn++) {
        struct vmm_pci_dev *d = bus->devs[devfn];
        if (!d)
            continue;
        dev_lock(d);
        vmm_pci_dev_reset(d);
        dev_unlock(d);
    }
    pthread_mutex_unlock(&bus->lock);
    vmm_pci_bus_sync(bus);
}

/* ---- Configuration mechanism #1 ---- */

static uint64_t config_addr_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_pci_bus *bus = opaque;
    if (off == 0 && size == 4) {
        pthread_mutex_lock(&bus->lock);
        uint32_t v = bus->config_address;
        pthread_mutex_unlock(&bus->lock);
        return v;
    }
    if (off == 1 && size == 1)
        return bus->rcr_ops && bus->rcr_ops->read ? bus->rcr_ops->read(bus->rcr_opaque, 0, 1)
                                                  : 0xff;
    /* Byte and word accesses are ordinary I/O cycles: nobody claims them. */
    return ~0ull;
}

static void config_addr_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_pci_bus *bus = opaque;
    if (off == 0 && size == 4) {
        pthread_mutex_lock(&bus->lock);
        bus->config_address = (uint32_t)val & PCI_CONFIG_ADDRESS_MASK;
        pthread_mutex_unlock(&bus->lock);
    } else if (off == 1 && size == 1 && bus->rcr_ops && bus->rcr_ops->write) {
        bus->rcr_ops->write(bus->rcr_opaque, 0, 1, val & 0xff);
    }
}

const struct vmm_io_ops vmm_pci_config_addr_ops = {
    .read = config_addr_read,
    .write = config_addr_write,
};

/* The devfn and register CONFIG_ADDRESS selects, or false if no type 0 cycle results. */
static bool decode_address(uint32_t addr, unsigned *devfn, unsigned *reg)
{
    if (!(addr & PCI_CONFIG_ADDRESS_ENABLE))
        return false;
    if ((addr >> 16) & 0xff) /* only bus 0 exists: other buses master-abort */
        return false;
    *devfn = (addr >> 8) & 0xff;
    *reg = addr & 0xfc;
    return true;
}

static uint64_t config_data_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_pci_bus *bus = opaque;
    unsigned devfn, reg;
    if (off >= 4 || size > 4 - off)
        return ~0ull;
    pthread_mutex_lock(&bus->lock);
    uint32_t val = ones(size);
    if (decode_address(bus->config_address, &devfn, &reg))
        val = config_read_locked(bus, devfn, reg + (unsigned)off, size);
    pthread_mutex_unlock(&bus->lock);
    return val;
}

static void config_data_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_pci_bus *bus = opaque;
    unsigned devfn, reg;
    if (off >= 4 || size > 4 - off)
        return;
    pthread_mutex_lock(&bus->lock);
    bool sync = false;
    if (decode_address(bus->config_address, &devfn, &reg))
        sync = config_write_locked(bus, devfn, reg + (unsigned)off, size, (uint32_t)val);
    pthread_mutex_unlock(&bus->lock);
    if (sync && bus->ops && bus->ops->sync_needed)
        bus->ops->sync_needed(bus->ops_opaque);
}

const struct vmm_io_ops vmm_pci_config_data_ops = {
    .read = config_data_read,
    .write = config_data_write,
};
