/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PCI core driven through configuration mechanism #1 (the 0xCF8/0xCFC
 * port handlers), with a fake mapper recording map/unmap calls and a fake
 * INTx router.
 */
#include <errno.h>
#include <stdbool.h>

#include "bus/pci.h"
#include "test.h"

/* ---- Fakes ---- */

struct map_call {
    bool map;
    struct vmm_pci_dev *d;
    unsigned bar;
    enum vmm_io_kind kind;
    uint64_t base, len;
};

struct mapper {
    struct map_call calls[64];
    unsigned ncalls;
    unsigned sync_requests;
    bool sync_now; /* run vmm_pci_bus_sync() from sync_needed, as a board would after parking */
    int fail_map;  /* error the next map returns */
    struct vmm_pci_bus *bus;
};

static int fake_map(void *opaque, struct vmm_pci_dev *d, unsigned bar, enum vmm_io_kind kind,
                    uint64_t base, uint64_t len)
{
    struct mapper *m = opaque;
    if (m->fail_map) {
        int r = m->fail_map;
        m->fail_map = 0;
        return r;
    }
    if (m->ncalls < 64)
        m->calls[m->ncalls++] = (struct map_call){true, d, bar, kind, base, len};
    return 0;
}

static void fake_unmap(void *opaque, struct vmm_pci_dev *d, unsigned bar, enum vmm_io_kind kind,
                       uint64_t base, uint64_t len)
{
    struct mapper *m = opaque;
    if (m->ncalls < 64)
        m->calls[m->ncalls++] = (struct map_call){false, d, bar, kind, base, len};
}

static void fake_sync_needed(void *opaque)
{
    struct mapper *m = opaque;
    m->sync_requests++;
    if (m->sync_now)
        vmm_pci_bus_sync(m->bus);
}

static const struct vmm_pci_bus_ops mapper_ops = {
    .map = fake_map, .unmap = fake_unmap, .sync_needed = fake_sync_needed};

struct intx_rec {
    unsigned calls;
    unsigned devfn, pin;
    int level;
};

static void rec_set_intx(void *opaque, unsigned devfn, unsigned pin, int level)
{
    struct intx_rec *r = opaque;
    r->calls++;
    r->devfn = devfn;
    r->pin = pin;
    r->level = level;
}

static const struct vmm_pci_intx_router rec_router = {.set_intx = rec_set_intx};

/* BAR handlers: never called by the core itself, only handed to the mapper. */
static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}

static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
}

static const struct vmm_io_ops bar_ops = {.read = bar_read, .write = bar_write};

/* Config-write hook recorder. */
struct hook_rec {
    unsigned writes, last_off, last_size;
    unsigned moved;
};

static struct hook_rec hooks;

static void hook_config_write(struct vmm_pci_dev *d, unsigned off, unsigned size)
{
    hooks.writes++;
    hooks.last_off = off;
    hooks.last_size = size;
}

static void hook_bar_moved(struct vmm_pci_dev *d, unsigned bar)
{
    hooks.moved |= 1u << bar;
}

static const struct vmm_pci_dev_ops hook_ops = {.config_write = hook_config_write,
                                                .bar_moved = hook_bar_moved};

struct fixture {
    struct vmm_pci_bus bus;
    struct mapper m;
    struct intx_rec intx;
    struct vmm_pci_dev dev; /* 1af4:1000 at 03.0, with BARs */
    pthread_mutex_t dev_lock;
};

static uint8_t rom_image[3000];

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    memset(&hooks, 0, sizeof(hooks));
    memset(rom_image, 0x5a, sizeof(rom_image));
    rom_image[0] = 0x55;
    rom_image[1] = 0xaa;
    vmm_pci_bus_init(&f->bus, &mapper_ops, &f->m);
    f->m.bus = &f->bus;
    vmm_pci_bus_set_router(&f->bus, &rec_router, &f->intx);
    pthread_mutex_init(&f->dev_lock, NULL);
    vmm_pci_dev_init(&f->dev, &hook_ops, &f->dev_lock, 0x1af4, 0x1000, 0x01, 0x020000,
                     PCI_HEADER_TYPE_NORMAL);
    CHECK_EQ(vmm_pci_dev_set_bar(&f->dev, 0, VMM_PCI_BAR_IO, 0, 32, &bar_ops, NULL), 0);
    CHECK_EQ(vmm_pci_dev_set_bar(&f->dev, 1, VMM_PCI_BAR_MEM32, 0, 4096, &bar_ops, NULL), 0);
    CHECK_EQ(vmm_pci_dev_set_bar(&f->dev, 2, VMM_PCI_BAR_MEM64, VMM_PCI_BAR_PREFETCH, 1ull << 33,
                                 &bar_ops, NULL),
             0);
    CHECK_EQ(vmm_pci_dev_set_rom(&f->dev, rom_image, sizeof(rom_image)), 0);
    vmm_pci_dev_set_intx_pin(&f->dev, 1);
    CHECK_EQ(vmm_pci_bus_add(&f->bus, &f->dev, 3, 0), 0);
}

static void teardown(struct fixture *f)
{
    vmm_pci_bus_fini(&f->bus);
    pthread_mutex_destroy(&f->dev_lock);
}

/* Mechanism #1 accessors, as a guest does them. */
static void addr_w(struct fixture *f, uint32_t v)
{
    vmm_pci_config_addr_ops.write(&f->bus, 0, 4, v);
}

static uint32_t cfg_addr(unsigned devfn, unsigned reg)
{
    return PCI_CONFIG_ADDRESS_ENABLE | devfn << 8 | (reg & 0xfc);
}

static uint32_t cfg_r(struct fixture *f, unsigned devfn, unsigned reg, unsigned size)
{
    addr_w(f, cfg_addr(devfn, reg));
    return (uint32_t)vmm_pci_config_data_ops.read(&f->bus, reg & 3, size);
}

static void cfg_w(struct fixture *f, unsigned devfn, unsigned reg, unsigned size, uint32_t v)
{
    addr_w(f, cfg_addr(devfn, reg));
    vmm_pci_config_data_ops.write(&f->bus, reg & 3, size, v);
}

#define DEV VMM_PCI_DEVFN(3, 0)

/* ---- Tests ---- */

static void test_config_address_register(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 0, 4), 0);
    /* Reserved bits 30:24 and 1:0 read back as zero; the rest is kept. */
    addr_w(&f, 0xffffffff);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 0, 4), 0x80fffffc);
    addr_w(&f, 0x80001838);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 0, 4), 0x80001838);
    /* Byte and word accesses are not CONFIG_ADDRESS: they pass through and change nothing. */
    vmm_pci_config_addr_ops.write(&f.bus, 0, 1, 0x00);
    vmm_pci_config_addr_ops.write(&f.bus, 0, 2, 0x0000);
    vmm_pci_config_addr_ops.write(&f.bus, 2, 2, 0x0000);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 0, 4), 0x80001838);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 0, 1) & 0xff, 0xff);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 0, 2) & 0xffff, 0xffff);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 2, 2) & 0xffff, 0xffff);
    teardown(&f);
}

static void test_data_widths_and_offsets(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(cfg_r(&f, DEV, 0x00, 4), 0x10001af4);
    CHECK_EQ(cfg_r(&f, DEV, 0x00, 2), 0x1af4);
    CHECK_EQ(cfg_r(&f, DEV, 0x02, 2), 0x1000);
    CHECK_EQ(cfg_r(&f, DEV, 0x00, 1), 0xf4);
    CHECK_EQ(cfg_r(&f, DEV, 0x01, 1), 0x1a);
    CHECK_EQ(cfg_r(&f, DEV, 0x02, 1), 0x00);
    CHECK_EQ(cfg_r(&f, DEV, 0x03, 1), 0x10);
    CHECK_EQ(cfg_r(&f, DEV, 0x08, 4), 0x02000001); /* class 020000, revision 01 */
    /* A word at 0xCFD: bytes 1..2 of the dword. */
    addr_w(&f, cfg_addr(DEV, 0x00));
    CHECK_EQ(vmm_pci_config_data_ops.read(&f.bus, 1, 2), 0x001a);

    /* Writes at every width and offset into the interrupt line / latency timer bytes. */
    cfg_w(&f, DEV, 0x3c, 1, 0x0b);
    CHECK_EQ(cfg_r(&f, DEV, 0x3c, 1), 0x0b);
    CHECK_EQ(cfg_r(&f, DEV, 0x3d, 1), 0x01); /* interrupt pin INTA#, read-only */
    cfg_w(&f, DEV, 0x3c, 4, 0xffffff05);     /* pin, min_gnt, max_lat are read-only */
    CHECK_EQ(cfg_r(&f, DEV, 0x3c, 4), 0x00000105);
    cfg_w(&f, DEV, 0x0c, 2, 0x4010); /* cache line 0x10, latency 0x40 */
    CHECK_EQ(cfg_r(&f, DEV, 0x0c, 4), 0x00004010);
    cfg_w(&f, DEV, 0x0d, 1, 0x20);
    CHECK_EQ(cfg_r(&f, DEV, 0x0c, 2), 0x2010);
    addr_w(&f, cfg_addr(DEV, 0x0c));
    vmm_pci_config_data_ops.write(&f.bus, 1, 2, 0x7788); /* latency and header type */
    CHECK_EQ(cfg_r(&f, DEV, 0x0c, 4), 0x00008810);       /* header type stays 00 */
    teardown(&f);
}

static void test_enable_bit_and_absent(void)
{
    struct fixture f;
    setup(&f);
    /* Enable bit clear: data port reads all ones, writes are dropped. */
    addr_w(&f, cfg_addr(DEV, 0x3c) & ~PCI_CONFIG_ADDRESS_ENABLE);
    CHECK_EQ(vmm_pci_config_data_ops.read(&f.bus, 0, 4), 0xffffffff);
    vmm_pci_config_data_ops.write(&f.bus, 0, 1, 0x0a);
    CHECK_EQ(cfg_r(&f, DEV, 0x3c, 1), 0x00);
    /* Absent functions and other buses: all ones at every width, writes dropped. */
    CHECK_EQ(cfg_r(&f, VMM_PCI_DEVFN(4, 0), 0x00, 4), 0xffffffff);
    CHECK_EQ(cfg_r(&f, VMM_PCI_DEVFN(3, 1), 0x00, 2), 0xffff);
    CHECK_EQ(cfg_r(&f, VMM_PCI_DEVFN(31, 7), 0x0e, 1), 0xff);
    addr_w(&f, cfg_addr(DEV, 0) | 1u << 16); /* bus 1 */
    CHECK_EQ(vmm_pci_config_data_ops.read(&f.bus, 0, 4), 0xffffffff);
    vmm_pci_config_data_ops.write(&f.bus, 0, 4, 0);
    CHECK_EQ(cfg_r(&f, DEV, 0x00, 4), 0x10001af4);
    teardown(&f);
}

static void test_direct_access_bounds(void)
{
    struct fixture f;
    setup(&f);
    /* The direct API refuses accesses a configuration cycle cannot make. */
    CHECK_EQ(vmm_pci_bus_config_read(&f.bus, DEV, 0x3e, 4), 0xffffffff); /* crosses a dword */
    CHECK_EQ(vmm_pci_bus_config_read(&f.bus, DEV, 0x3f, 2), 0xffff);
    CHECK_EQ(vmm_pci_bus_config_read(&f.bus, DEV, 0xff, 2), 0xffff); /* past the space */
    CHECK_EQ(vmm_pci_bus_config_read(&f.bus, DEV, 0x100, 1), 0xff);
    CHECK_EQ(vmm_pci_bus_config_read(&f.bus, DEV, 0x3c, 3), 0xffffff);
    CHECK_EQ(vmm_pci_bus_config_read(&f.bus, 256, 0, 4), 0xffffffff);
    vmm_pci_bus_config_write(&f.bus, DEV, 0x3b, 2, 0x0909);
    vmm_pci_bus_config_write(&f.bus, DEV, 0x3c, 3, 0x090909);
    CHECK_EQ(vmm_pci_bus_config_read(&f.bus, DEV, 0x3c, 1), 0);
    vmm_pci_bus_config_write(&f.bus, DEV, 0x3c, 1, 0x09);
    CHECK_EQ(vmm_pci_bus_config_read(&f.bus, DEV, 0x3c, 1), 9);
    teardown(&f);
}

static void test_header_type_multifunction(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(cfg_r(&f, DEV, PCI_HEADER_TYPE, 1), 0x00);
    struct vmm_pci_dev fn2;
    vmm_pci_dev_init(&fn2, NULL, NULL, 0x8086, 0x7010, 0, 0x010180, PCI_HEADER_TYPE_NORMAL);
    CHECK_EQ(vmm_pci_bus_add(&f.bus, &fn2, 3, 2), 0);
    CHECK_EQ(cfg_r(&f, DEV, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_MULTI_FUNCTION);
    CHECK_EQ(cfg_r(&f, VMM_PCI_DEVFN(3, 2), 0x00, 4), 0x70108086);
    CHECK_EQ(cfg_r(&f, VMM_PCI_DEVFN(3, 1), 0x00, 4), 0xffffffff);
    /* Survives a reset (it is part of the power-on image). */
    vmm_pci_bus_reset(&f.bus);
    CHECK_EQ(cfg_r(&f, DEV, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_MULTI_FUNCTION);
    /* Function 0 plugged after a higher function gets the bit too. */
    struct vmm_pci_dev a, b;
    vmm_pci_dev_init(&a, NULL, NULL, 0x1234, 0x0001, 0, 0, PCI_HEADER_TYPE_NORMAL);
    vmm_pci_dev_init(&b, NULL, NULL, 0x1234, 0x0002, 0, 0, PCI_HEADER_TYPE_NORMAL);
    CHECK_EQ(vmm_pci_bus_add(&f.bus, &b, 9, 5), 0);
    CHECK_EQ(vmm_pci_bus_add(&f.bus, &a, 9, 0), 0);
    CHECK_EQ(cfg_r(&f, VMM_PCI_DEVFN(9, 0), PCI_HEADER_TYPE, 1), 0x80);
    /* Taken and invalid places. */
    struct vmm_pci_dev c;
    vmm_pci_dev_init(&c, NULL, NULL, 0x1234, 0x0003, 0, 0, 0);
    CHECK_EQ(vmm_pci_bus_add(&f.bus, &c, 9, 0), -EEXIST);
    CHECK_EQ(vmm_pci_bus_add(&f.bus, &c, 32, 0), -EINVAL);
    CHECK_EQ(vmm_pci_bus_add(&f.bus, &c, 1, 8), -EINVAL);
    teardown(&f);
}

static void test_bar_sizing(void)
{
    struct fixture f;
    setup(&f);
    /* Type bits before sizing. */
    CHECK_EQ(cfg_r(&f, DEV, 0x10, 4), 0x00000001); /* I/O */
    CHECK_EQ(cfg_r(&f, DEV, 0x14, 4), 0x00000000); /* 32-bit memory */
    CHECK_EQ(cfg_r(&f, DEV, 0x18, 4), 0x0000000c); /* 64-bit prefetchable */
    /* All ones reads back the size mask with the type bits. */
    cfg_w(&f, DEV, 0x10, 4, 0xffffffff);
    CHECK_EQ(cfg_r(&f, DEV, 0x10, 4), 0xffffffe1); /* 32 bytes of I/O */
    cfg_w(&f, DEV, 0x14, 4, 0xffffffff);
    CHECK_EQ(cfg_r(&f, DEV, 0x14, 4), 0xfffff000); /* 4 KiB */
    cfg_w(&f, DEV, 0x18, 4, 0xffffffff);
    cfg_w(&f, DEV, 0x1c, 4, 0xffffffff);
    CHECK_EQ(cfg_r(&f, DEV, 0x18, 4), 0x0000000c); /* 8 GiB: no low address bits */
    CHECK_EQ(cfg_r(&f, DEV, 0x1c, 4), 0xfffffffe);
    /* Unimplemented BARs read 0 and stay 0. */
    cfg_w(&f, DEV, 0x20, 4, 0xffffffff);
    cfg_w(&f, DEV, 0x24, 4, 0xffffffff);
    CHECK_EQ(cfg_r(&f, DEV, 0x20, 4), 0);
    CHECK_EQ(cfg_r(&f, DEV, 0x24, 4), 0);
    /* ROM BAR: 3000 bytes round to 4 KiB; the enable bit is writable, bits 10:1 are not. */
    cfg_w(&f, DEV, 0x30, 4, 0xffffffff);
    CHECK_EQ(cfg_r(&f, DEV, 0x30, 4), 0xfffff001);
    cfg_w(&f, DEV, 0x30, 4, 0xfffffffe);
    CHECK_EQ(cfg_r(&f, DEV, 0x30, 4), 0xfffff000);
    /* Assigning addresses: low bits below the size are dropped. */
    cfg_w(&f, DEV, 0x10, 4, 0xc05f);
    CHECK_EQ(cfg_r(&f, DEV, 0x10, 4), 0xc041);
    cfg_w(&f, DEV, 0x14, 4, 0xfebf1234);
    CHECK_EQ(cfg_r(&f, DEV, 0x14, 4), 0xfebf1000);
    /* Sizing a BAR with byte writes works as well (upper byte of the I/O BAR). */
    cfg_w(&f, DEV, 0x13, 1, 0xff);
    CHECK_EQ(cfg_r(&f, DEV, 0x10, 4), 0xff00c041);
    /* A smallest (16-byte) memory BAR and bad declarations. */
    struct vmm_pci_dev d;
    vmm_pci_dev_init(&d, NULL, NULL, 1, 2, 0, 0, 0);
    CHECK_EQ(vmm_pci_dev_set_bar(&d, 5, VMM_PCI_BAR_MEM32, 0, 16, &bar_ops, NULL), 0);
    CHECK_EQ(vmm_pci_dev_set_bar(&d, 0, VMM_PCI_BAR_IO, 0, 512, &bar_ops, NULL), -EINVAL);
    CHECK_EQ(vmm_pci_dev_set_bar(&d, 0, VMM_PCI_BAR_IO, 0, 24, &bar_ops, NULL), -EINVAL);
    CHECK_EQ(vmm_pci_dev_set_bar(&d, 0, VMM_PCI_BAR_MEM32, 0, 8, &bar_ops, NULL), -EINVAL);
    CHECK_EQ(vmm_pci_dev_set_bar(&d, 4, VMM_PCI_BAR_MEM64, 0, 4096, &bar_ops, NULL), -EINVAL);
    CHECK_EQ(vmm_pci_dev_set_bar(&d, 5, VMM_PCI_BAR_MEM32, 0, 16, &bar_ops, NULL), -EINVAL);
    CHECK_EQ(vmm_pci_dev_set_bar(&d, 6, VMM_PCI_BAR_MEM32, 0, 16, &bar_ops, NULL), -EINVAL);
    CHECK_EQ(vmm_pci_dev_set_bar(&d, 0, VMM_PCI_BAR_MEM32, 0, 4096, NULL, NULL), -EINVAL);
    CHECK_EQ(vmm_pci_dev_set_bar(&d, 0, VMM_PCI_BAR_IO, VMM_PCI_BAR_PREFETCH, 16, &bar_ops, NULL),
             -EINVAL);
    CHECK_EQ(d.wmask[0x24], 0xf0); /* the 16-byte BAR declared first is intact */
    CHECK_EQ(d.wmask[0x25], 0xff);
    teardown(&f);
}

static const struct map_call *call(struct fixture *f, unsigned i)
{
    static const struct map_call none;
    return i < f->m.ncalls ? &f->m.calls[i] : &none;
}

static void test_command_gating_maps(void)
{
    struct fixture f;
    setup(&f);
    f.m.sync_now = true;
    cfg_w(&f, DEV, 0x10, 4, 0xc040);
    cfg_w(&f, DEV, 0x14, 4, 0xfebf0000);
    cfg_w(&f, DEV, 0x18, 4, 0x00000000);
    cfg_w(&f, DEV, 0x1c, 4, 0x00000008); /* 0x8_0000_0000 */
    cfg_w(&f, DEV, 0x30, 4, 0xfebe0000); /* ROM address, not enabled yet */
    /* Nothing decodes while the command register is 0: no sync was asked for. */
    CHECK_EQ(f.m.ncalls, 0);
    CHECK_EQ(f.m.sync_requests, 0);

    cfg_w(&f, DEV, PCI_COMMAND, 2, PCI_COMMAND_IO);
    CHECK_EQ(f.m.sync_requests, 1);
    CHECK_EQ(f.m.ncalls, 1);
    CHECK(call(&f, 0)->map);
    CHECK_EQ(call(&f, 0)->bar, 0);
    CHECK_EQ(call(&f, 0)->kind, VMM_IO_PIO);
    CHECK_EQ(call(&f, 0)->base, 0xc040);
    CHECK_EQ(call(&f, 0)->len, 32);
    CHECK_EQ(hooks.moved, 1u << 0);

    cfg_w(&f, DEV, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    CHECK_EQ(f.m.ncalls, 3); /* BAR1 and BAR2; the ROM is not enabled */
    CHECK(call(&f, 1)->map);
    CHECK_EQ(call(&f, 1)->bar, 1);
    CHECK_EQ(call(&f, 1)->kind, VMM_IO_MMIO);
    CHECK_EQ(call(&f, 1)->base, 0xfebf0000);
    CHECK_EQ(call(&f, 1)->len, 4096);
    CHECK_EQ(call(&f, 2)->bar, 2);
    CHECK_EQ(call(&f, 2)->base, 0x800000000ull);
    CHECK_EQ(call(&f, 2)->len, 1ull << 33);

    /* Bus master alone changes no decode: no sync. */
    unsigned before = f.m.sync_requests;
    cfg_w(&f, DEV, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    CHECK_EQ(f.m.sync_requests, before);
    CHECK(vmm_pci_dev_bus_master(&f.dev));

    /* Enabling the ROM BAR maps 4 KiB at its address. */
    cfg_w(&f, DEV, 0x30, 4, 0xfebe0001);
    CHECK_EQ(f.m.ncalls, 4);
    CHECK_EQ(call(&f, 3)->bar, VMM_PCI_ROM_BAR);
    CHECK_EQ(call(&f, 3)->base, 0xfebe0000);
    CHECK_EQ(call(&f, 3)->len, 4096);
    /* The ROM BAR's handler serves the image, zeros past its end. */
    const struct vmm_pci_bar *rom = &f.dev.bars[VMM_PCI_ROM_BAR];
    CHECK_EQ(rom->ops->read(rom->opaque, 0, 2), 0xaa55);
    CHECK_EQ(rom->ops->read(rom->opaque, 2, 1), 0x5a);
    CHECK_EQ(rom->ops->read(rom->opaque, 2998, 4), 0x5a5a);
    CHECK_EQ(rom->ops->read(rom->opaque, 4000, 8), 0);

    /* Moving a mapped BAR: unmap at the old address, map at the new. */
    cfg_w(&f, DEV, 0x14, 4, 0xfebf4000);
    CHECK_EQ(f.m.ncalls, 6);
    CHECK(!call(&f, 4)->map);
    CHECK_EQ(call(&f, 4)->base, 0xfebf0000);
    CHECK(call(&f, 5)->map);
    CHECK_EQ(call(&f, 5)->base, 0xfebf4000);

    /* Clearing MEM unmaps every memory BAR (ROM included), and only those. */
    hooks.moved = 0;
    cfg_w(&f, DEV, PCI_COMMAND, 2, PCI_COMMAND_IO);
    CHECK_EQ(f.m.ncalls, 9);
    for (unsigned i = 6; i < 9; i++)
        CHECK(!call(&f, i)->map);
    CHECK_EQ(call(&f, 6)->bar, 1);
    CHECK_EQ(call(&f, 6)->base, 0xfebf4000);
    CHECK_EQ(call(&f, 7)->bar, 2);
    CHECK_EQ(call(&f, 7)->base, 0x800000000ull);
    CHECK_EQ(call(&f, 8)->bar, VMM_PCI_ROM_BAR);
    CHECK_EQ(hooks.moved, (1u << 1) | (1u << 2) | (1u << VMM_PCI_ROM_BAR));

    /* An I/O BAR reaching past 64 KiB, or at 0, decodes nothing. */
    cfg_w(&f, DEV, 0x10, 4, 0x10000);
    CHECK_EQ(f.m.ncalls, 10);
    CHECK(!call(&f, 9)->map);
    CHECK_EQ(call(&f, 9)->base, 0xc040);
    cfg_w(&f, DEV, 0x10, 4, 0xffe0);
    CHECK_EQ(f.m.ncalls, 11);
    CHECK_EQ(call(&f, 10)->base, 0xffe0);
    cfg_w(&f, DEV, 0x10, 4, 0);
    CHECK_EQ(f.m.ncalls, 12);
    CHECK(!call(&f, 11)->map);
    teardown(&f);
}

static void test_deferred_sync_and_failed_map(void)
{
    struct fixture f;
    setup(&f);
    /* The board defers: nothing maps until it runs the sync. */
    cfg_w(&f, DEV, 0x14, 4, 0xfe000000);
    cfg_w(&f, DEV, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    CHECK_EQ(f.m.sync_requests, 1);
    CHECK_EQ(f.m.ncalls, 0);
    /* Two writes before the sync: only the final state is mapped. */
    cfg_w(&f, DEV, 0x14, 4, 0xfd000000);
    CHECK_EQ(f.m.sync_requests, 2);
    vmm_pci_bus_sync(&f.bus);
    CHECK_EQ(f.m.ncalls, 1);
    CHECK_EQ(call(&f, 0)->base, 0xfd000000);
    /* A sync with nothing to do calls nobody. */
    vmm_pci_bus_sync(&f.bus);
    CHECK_EQ(f.m.ncalls, 1);

    /* A refused map leaves the BAR unmapped and the next sync tries again. */
    cfg_w(&f, DEV, 0x14, 4, 0xfc000000);
    f.m.fail_map = -EEXIST;
    vmm_pci_bus_sync(&f.bus);
    CHECK_EQ(f.m.ncalls, 2); /* the unmap; the map failed */
    CHECK(!f.dev.bars[1].mapped);
    vmm_pci_bus_sync(&f.bus);
    CHECK_EQ(f.m.ncalls, 3);
    CHECK(call(&f, 2)->map);
    CHECK_EQ(call(&f, 2)->base, 0xfc000000);
    CHECK(f.dev.bars[1].mapped);

    /* Reset: config back to power-on, every BAR unmapped. */
    cfg_w(&f, DEV, 0x10, 4, 0xffffffff);
    vmm_pci_bus_reset(&f.bus);
    CHECK_EQ(f.m.ncalls, 4);
    CHECK(!call(&f, 3)->map);
    CHECK_EQ(cfg_r(&f, DEV, 0x14, 4), 0);
    CHECK_EQ(cfg_r(&f, DEV, PCI_COMMAND, 2), 0);
    /* ... and the read-only parts of the image are still there. */
    CHECK_EQ(cfg_r(&f, DEV, 0x00, 4), 0x10001af4);
    CHECK_EQ(cfg_r(&f, DEV, 0x10, 4), 0x00000001);
    CHECK_EQ(cfg_r(&f, DEV, 0x18, 4), 0x0000000c);
    CHECK_EQ(cfg_r(&f, DEV, PCI_INTERRUPT_PIN, 1), 1);
    teardown(&f);
}

static void test_read_only_and_w1c(void)
{
    struct fixture f;
    setup(&f);
    /* IDs, class, revision, pin, header type, capability pointer: read-only. */
    cfg_w(&f, DEV, 0x00, 4, 0);
    cfg_w(&f, DEV, 0x08, 4, 0);
    cfg_w(&f, DEV, 0x0e, 1, 0x80);
    cfg_w(&f, DEV, 0x34, 1, 0x40);
    cfg_w(&f, DEV, 0x3d, 1, 4);
    CHECK_EQ(cfg_r(&f, DEV, 0x00, 4), 0x10001af4);
    CHECK_EQ(cfg_r(&f, DEV, 0x08, 4), 0x02000001);
    CHECK_EQ(cfg_r(&f, DEV, 0x0e, 1), 0);
    CHECK_EQ(cfg_r(&f, DEV, 0x34, 1), 0);
    CHECK_EQ(cfg_r(&f, DEV, 0x3d, 1), 1);
    /* Command: only implemented bits stick. */
    cfg_w(&f, DEV, PCI_COMMAND, 2, 0xffff);
    CHECK_EQ(cfg_r(&f, DEV, PCI_COMMAND, 2), 0x0547);
    cfg_w(&f, DEV, PCI_COMMAND, 2, 0);

    /* Status: the model sets error bits; the guest clears them by writing 1. */
    uint16_t errs = PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_DETECTED_PARITY | PCI_STATUS_PARITY;
    vmm_pci_set16(&f.dev, PCI_STATUS, errs | PCI_STATUS_DEVSEL_MEDIUM);
    cfg_w(&f, DEV, PCI_STATUS, 2, 0); /* writing 0 clears nothing */
    CHECK_EQ(cfg_r(&f, DEV, PCI_STATUS, 2), errs | PCI_STATUS_DEVSEL_MEDIUM);
    cfg_w(&f, DEV, PCI_STATUS, 2, PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_DEVSEL_MEDIUM);
    CHECK_EQ(cfg_r(&f, DEV, PCI_STATUS, 2),
             PCI_STATUS_DETECTED_PARITY | PCI_STATUS_PARITY | PCI_STATUS_DEVSEL_MEDIUM);
    /* A dword write to command also clears status bits written as 1 (byte 3 = 0x81). */
    cfg_w(&f, DEV, PCI_COMMAND, 4, 0x81000000);
    CHECK_EQ(cfg_r(&f, DEV, PCI_STATUS, 2), PCI_STATUS_DEVSEL_MEDIUM);
    /* Read-only status bits (capabilities, interrupt) cannot be set by writes. */
    cfg_w(&f, DEV, PCI_STATUS, 2, 0xffff);
    CHECK_EQ(cfg_r(&f, DEV, PCI_STATUS, 2), PCI_STATUS_DEVSEL_MEDIUM);
    /* The config_write hook saw the access as made. */
    CHECK_EQ(hooks.last_off, PCI_STATUS);
    CHECK_EQ(hooks.last_size, 2);
    teardown(&f);
}

static void test_capabilities(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(cfg_r(&f, DEV, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
    CHECK_EQ(vmm_pci_find_capability(&f.dev, PCI_CAP_ID_MSIX), 0);

    int a = vmm_pci_add_capability(&f.dev, PCI_CAP_ID_VNDR, 16);
    int b = vmm_pci_add_capability(&f.dev, PCI_CAP_ID_MSIX, 12);
    int c = vmm_pci_add_capability(&f.dev, PCI_CAP_ID_VNDR, 5);
    int d = vmm_pci_add_capability_at(&f.dev, 0xc0, PCI_CAP_ID_PM, 8);
    CHECK_EQ(a, 0x40);
    CHECK_EQ(b, 0x50);
    CHECK_EQ(c, 0x5c);
    CHECK_EQ(d, 0xc0);
    CHECK_EQ(vmm_pci_add_capability_at(&f.dev, 0x50, PCI_CAP_ID_MSI, 8), -EEXIST);
    CHECK_EQ(vmm_pci_add_capability_at(&f.dev, 0x62, PCI_CAP_ID_MSI, 8), -EINVAL);
    CHECK_EQ(vmm_pci_add_capability_at(&f.dev, 0x3c, PCI_CAP_ID_MSI, 8), -EINVAL);
    CHECK_EQ(vmm_pci_add_capability_at(&f.dev, 0xfc, PCI_CAP_ID_MSI, 8), -EINVAL);
    /* The MSI-X body: a writable control word, for example. */
    vmm_pci_set16(&f.dev, (unsigned)b + 2, 0x0003);
    vmm_pci_set_wmask(&f.dev, (unsigned)b + 2, 2, 0xc000);

    /* Walk the list as a guest does, through the config ports. */
    CHECK(cfg_r(&f, DEV, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    unsigned seen[8], n = 0;
    unsigned ids[8];
    for (unsigned p = cfg_r(&f, DEV, PCI_CAPABILITY_LIST, 1); p && n < 8;
         p = cfg_r(&f, DEV, p + 1, 1)) {
        ids[n] = cfg_r(&f, DEV, p, 1);
        seen[n++] = p;
    }
    CHECK_EQ(n, 4);
    CHECK_EQ(seen[0], 0x40);
    CHECK_EQ(ids[0], PCI_CAP_ID_VNDR);
    CHECK_EQ(seen[1], 0x50);
    CHECK_EQ(ids[1], PCI_CAP_ID_MSIX);
    CHECK_EQ(seen[2], 0x5c);
    CHECK_EQ(seen[3], 0xc0);
    CHECK_EQ(ids[3], PCI_CAP_ID_PM);
    CHECK_EQ(vmm_pci_find_capability(&f.dev, PCI_CAP_ID_MSIX), 0x50);
    CHECK_EQ(vmm_pci_find_capability(&f.dev, PCI_CAP_ID_PM), 0xc0);
    CHECK_EQ(vmm_pci_find_capability(&f.dev, PCI_CAP_ID_MSI), 0);
    /* Guest writes: only the bits the model opened. The ID/next bytes stay. */
    cfg_w(&f, DEV, 0x50, 4, 0xffffffff);
    CHECK_EQ(cfg_r(&f, DEV, 0x50, 4), 0xc0035c11);

    /* Running out of space. */
    struct vmm_pci_dev e;
    vmm_pci_dev_init(&e, NULL, NULL, 1, 2, 0, 0, 0);
    CHECK_EQ(vmm_pci_add_capability(&e, PCI_CAP_ID_VNDR, 0xb0), 0x40);
    CHECK_EQ(vmm_pci_add_capability(&e, PCI_CAP_ID_VNDR, 0x10), 0xf0);
    CHECK_EQ(vmm_pci_add_capability(&e, PCI_CAP_ID_VNDR, 4), -ENOSPC);
    CHECK_EQ(vmm_pci_add_capability(&e, PCI_CAP_ID_VNDR, 1), -EINVAL);
    /* A corrupted (looping) list is walked safely. */
    e.config[0xf1] = 0x40;
    CHECK_EQ(vmm_pci_find_capability(&e, PCI_CAP_ID_MSIX), 0);
    CHECK_EQ(vmm_pci_add_capability_at(&e, 0x80, PCI_CAP_ID_MSIX, 4), -EINVAL);
    teardown(&f);
}

static void test_intx(void)
{
    struct fixture f;
    setup(&f);
    pthread_mutex_lock(&f.dev_lock);
    vmm_pci_dev_set_irq(&f.dev, 1);
    pthread_mutex_unlock(&f.dev_lock);
    CHECK_EQ(f.intx.calls, 1);
    CHECK_EQ(f.intx.devfn, DEV);
    CHECK_EQ(f.intx.pin, 0);
    CHECK_EQ(f.intx.level, 1);
    CHECK(cfg_r(&f, DEV, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    /* Asserting again changes nothing on the line. */
    vmm_pci_dev_set_irq(&f.dev, 1);
    CHECK_EQ(f.intx.calls, 1);
    /* INTX_DISABLE masks the line; the status bit still shows the level. */
    cfg_w(&f, DEV, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
    CHECK_EQ(f.intx.calls, 2);
    CHECK_EQ(f.intx.level, 0);
    CHECK(cfg_r(&f, DEV, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    cfg_w(&f, DEV, PCI_COMMAND, 2, 0);
    CHECK_EQ(f.intx.calls, 3);
    CHECK_EQ(f.intx.level, 1);
    vmm_pci_dev_set_irq(&f.dev, 0);
    CHECK_EQ(f.intx.calls, 4);
    CHECK_EQ(f.intx.level, 0);
    CHECK_EQ(cfg_r(&f, DEV, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
    /* Reset deasserts. */
    vmm_pci_dev_set_irq(&f.dev, 1);
    CHECK_EQ(f.intx.level, 1);
    vmm_pci_bus_reset(&f.bus);
    CHECK_EQ(f.intx.level, 0);
    /* A function without an interrupt pin never reaches the router. */
    struct vmm_pci_dev np;
    vmm_pci_dev_init(&np, NULL, NULL, 1, 2, 0, 0, 0);
    CHECK_EQ(vmm_pci_bus_add(&f.bus, &np, 5, 0), 0);
    unsigned calls = f.intx.calls;
    vmm_pci_dev_set_irq(&np, 1);
    CHECK_EQ(f.intx.calls, calls);
    teardown(&f);
}

/* The reset-control forward: byte accesses at 0xCF9 only. */
struct rcr_rec {
    unsigned reads, writes;
    uint64_t last;
};

static uint64_t rcr_read(void *opaque, uint64_t off, unsigned size)
{
    struct rcr_rec *r = opaque;
    r->reads++;
    return 0x02;
}

static void rcr_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct rcr_rec *r = opaque;
    r->writes++;
    r->last = val;
}

static const struct vmm_io_ops rcr_ops = {.read = rcr_read, .write = rcr_write};

static void test_cf9_forward(void)
{
    struct fixture f;
    setup(&f);
    struct rcr_rec r = {0};
    /* Without a handler 0xCF9 reads as an empty port. */
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 1, 1) & 0xff, 0xff);
    vmm_pci_bus_set_rcr(&f.bus, &rcr_ops, &r);
    vmm_pci_config_addr_ops.write(&f.bus, 1, 1, 0x06);
    CHECK_EQ(r.writes, 1);
    CHECK_EQ(r.last, 0x06);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 1, 1), 0x02);
    CHECK_EQ(r.reads, 1);
    /* A CONFIG_ADDRESS dword write never reaches the reset register (its byte 1 is 0x06 here). */
    addr_w(&f, 0x80000600);
    CHECK_EQ(r.writes, 1);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 0, 4), 0x80000600);
    /* Nor do word accesses touching 0xCF9. */
    vmm_pci_config_addr_ops.write(&f.bus, 0, 2, 0x0600);
    vmm_pci_config_addr_ops.write(&f.bus, 1, 2, 0x0006);
    CHECK_EQ(r.writes, 1);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 0, 4), 0x80000600);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 1, 2) & 0xffff, 0xffff);
    CHECK_EQ(r.reads, 1);
    /* A reset clears CONFIG_ADDRESS. */
    vmm_pci_bus_reset(&f.bus);
    CHECK_EQ(vmm_pci_config_addr_ops.read(&f.bus, 0, 4), 0);
    teardown(&f);
}

int main(void)
{
    RUN_TEST(test_config_address_register);
    RUN_TEST(test_data_widths_and_offsets);
    RUN_TEST(test_enable_bit_and_absent);
    RUN_TEST(test_direct_access_bounds);
    RUN_TEST(test_header_type_multifunction);
    RUN_TEST(test_bar_sizing);
    RUN_TEST(test_command_gating_maps);
    RUN_TEST(test_deferred_sync_and_failed_map);
    RUN_TEST(test_read_only_and_w1c);
    RUN_TEST(test_capabilities);
    RUN_TEST(test_intx);
    RUN_TEST(test_cf9_forward);
    return test_finish();
}
