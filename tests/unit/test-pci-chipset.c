/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The i440FX host bridge and the PIIX3 ISA bridge on a PCI bus, driven
 * through configuration mechanism #1: PAM reporting, SMRAM, PIRQ routing,
 * the slot/pin swizzle and level sharing, with fake ISA IRQ sinks.
 */
#include <errno.h>
#include <stdbool.h>

#include "bus/i440fx.h"
#include "bus/piix3.h"
#include "test.h"

/* ---- Fake ISA IRQ sinks: one per line, recording level changes. */
struct line {
    int level;
    unsigned changes;
};

static void line_set(struct vmm_irq *irq, int level)
{
    struct line *l = irq->opaque;
    l->level = level;
    l->changes++;
}

static const struct vmm_irq_ops line_ops = {.set_level = line_set};

/* ---- PAM recorder. */
struct pam_call {
    unsigned seg;
    uint32_t base, size;
    enum vmm_pam_attr attr;
};

struct pam_rec {
    struct pam_call calls[64];
    unsigned n;
};

static void pam_cb(void *opaque, unsigned seg, uint32_t base, uint32_t size, enum vmm_pam_attr attr)
{
    struct pam_rec *r = opaque;
    if (r->n < 64)
        r->calls[r->n++] = (struct pam_call){seg, base, size, attr};
}

struct fixture {
    struct vmm_pci_bus bus;
    struct vmm_i440fx host;
    struct vmm_piix3 isa;
    struct pam_rec pam;
    struct line lines[VMM_ISA_IRQS];
    struct vmm_irq irqs[VMM_ISA_IRQS];
    struct vmm_pci_dev devs[4]; /* INTx sources in slots 2..5 */
};

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    vmm_pci_bus_init(&f->bus, NULL, NULL);
    struct vmm_irq *isa[VMM_ISA_IRQS];
    for (unsigned i = 0; i < VMM_ISA_IRQS; i++) {
        f->irqs[i] = (struct vmm_irq){.ops = &line_ops, .opaque = &f->lines[i], .line = i};
        isa[i] = &f->irqs[i];
    }
    CHECK_EQ(vmm_i440fx_init(&f->host, &f->bus, pam_cb, &f->pam), 0);
    CHECK_EQ(vmm_piix3_init(&f->isa, &f->bus, isa), 0);
}

static void add_sources(struct fixture *f)
{
    for (unsigned i = 0; i < 4; i++) {
        vmm_pci_dev_init(&f->devs[i], NULL, NULL, 0x1af4, 0x1000 + i, 0, 0x020000, 0);
        vmm_pci_dev_set_intx_pin(&f->devs[i], 1); /* INTA# */
        CHECK_EQ(vmm_pci_bus_add(&f->bus, &f->devs[i], 2 + i, 0), 0);
    }
}

static void teardown(struct fixture *f)
{
    vmm_piix3_fini(&f->isa);
    vmm_pci_bus_fini(&f->bus);
}

static uint32_t cfg_r(struct fixture *f, unsigned devfn, unsigned reg, unsigned size)
{
    vmm_pci_config_addr_ops.write(&f->bus, 0, 4,
                                  PCI_CONFIG_ADDRESS_ENABLE | devfn << 8 | (reg & 0xfc));
    return (uint32_t)vmm_pci_config_data_ops.read(&f->bus, reg & 3, size);
}

static void cfg_w(struct fixture *f, unsigned devfn, unsigned reg, unsigned size, uint32_t v)
{
    vmm_pci_config_addr_ops.write(&f->bus, 0, 4,
                                  PCI_CONFIG_ADDRESS_ENABLE | devfn << 8 | (reg & 0xfc));
    vmm_pci_config_data_ops.write(&f->bus, reg & 3, size, v);
}

#define HOST VMM_PCI_DEVFN(0, 0)
#define ISA VMM_PCI_DEVFN(1, 0)

static void test_identity(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(cfg_r(&f, HOST, 0x00, 4), 0x12378086);
    CHECK_EQ(cfg_r(&f, HOST, 0x08, 4), 0x06000002); /* class 060000, rev 02 */
    CHECK_EQ(cfg_r(&f, HOST, PCI_HEADER_TYPE, 1), 0x00);
    CHECK_EQ(cfg_r(&f, ISA, 0x00, 4), 0x70008086);
    CHECK_EQ(cfg_r(&f, ISA, 0x08, 4) >> 8, 0x060100);
    CHECK_EQ(cfg_r(&f, ISA, PCI_HEADER_TYPE, 1), 0x80);
    CHECK_EQ(cfg_r(&f, ISA, PIIX3_PIRQRC, 4), 0x80808080);
    /* Other PIIX functions are absent until their models plug in. */
    CHECK_EQ(cfg_r(&f, VMM_PCI_DEVFN(1, 1), 0x00, 4), 0xffffffff);
    CHECK_EQ(cfg_r(&f, VMM_PCI_DEVFN(1, 3), 0x00, 4), 0xffffffff);
    struct vmm_pci_dev ide;
    vmm_pci_dev_init(&ide, NULL, NULL, 0x8086, 0x7010, 0, 0x010180, 0);
    CHECK_EQ(vmm_pci_bus_add(&f.bus, &ide, VMM_PIIX3_SLOT, 1), 0);
    CHECK_EQ(cfg_r(&f, VMM_PCI_DEVFN(1, 1), 0x00, 4), 0x70108086);
    /* Host bridge at 00.0 is taken: a second one is refused. */
    struct vmm_i440fx other;
    CHECK_EQ(vmm_i440fx_init(&other, &f.bus, NULL, NULL), -EEXIST);
    teardown(&f);
}

static void test_pam(void)
{
    struct fixture f;
    setup(&f);
    /* Init reports every segment once, all disabled (reads and writes go to the ROM). */
    CHECK_EQ(f.pam.n, VMM_I440FX_PAM_SEGMENTS);
    CHECK_EQ(f.pam.calls[0].seg, 0);
    CHECK_EQ(f.pam.calls[0].base, 0xf0000);
    CHECK_EQ(f.pam.calls[0].size, 0x10000);
    CHECK_EQ(f.pam.calls[0].attr, VMM_PAM_DISABLED);
    CHECK_EQ(f.pam.calls[1].base, 0xc0000);
    CHECK_EQ(f.pam.calls[1].size, 0x4000);
    CHECK_EQ(f.pam.calls[12].seg, 12);
    CHECK_EQ(f.pam.calls[12].base, 0xec000);

    /* SeaBIOS makes the BIOS area writable RAM: PAM0 = 0x30. */
    f.pam.n = 0;
    cfg_w(&f, HOST, I440FX_PAM0, 1, 0x30);
    CHECK_EQ(f.pam.n, 1);
    CHECK_EQ(f.pam.calls[0].seg, 0);
    CHECK_EQ(f.pam.calls[0].attr, VMM_PAM_READ_WRITE);
    CHECK_EQ(cfg_r(&f, HOST, I440FX_PAM0, 1), 0x30);
    /* The reserved low nibble of PAM0 and bits 2/6 elsewhere do not stick. */
    cfg_w(&f, HOST, I440FX_PAM0, 1, 0xff);
    CHECK_EQ(cfg_r(&f, HOST, I440FX_PAM0, 1), 0x30);
    CHECK_EQ(f.pam.n, 1);           /* nothing changed, nothing reported */
    cfg_w(&f, HOST, 0x5c, 1, 0xcc); /* PAM3: only reserved bits */
    CHECK_EQ(cfg_r(&f, HOST, 0x5c, 1), 0x00);
    CHECK_EQ(f.pam.n, 1);

    /* A word write over PAM1 and PAM2: each nibble is its own segment. */
    f.pam.n = 0;
    cfg_w(&f, HOST, 0x5a, 2, 0x1233); /* PAM1 = 0x33 (0xc0000, 0xc4000 RW), PAM2 = 0x12 */
    CHECK_EQ(cfg_r(&f, HOST, 0x5a, 2), 0x1233);
    CHECK_EQ(f.pam.n, 4);
    CHECK_EQ(f.pam.calls[0].seg, 1);
    CHECK_EQ(f.pam.calls[0].base, 0xc0000);
    CHECK_EQ(f.pam.calls[0].attr, VMM_PAM_READ_WRITE);
    CHECK_EQ(f.pam.calls[1].seg, 2);
    CHECK_EQ(f.pam.calls[1].base, 0xc4000);
    CHECK_EQ(f.pam.calls[1].attr, VMM_PAM_READ_WRITE);
    CHECK_EQ(f.pam.calls[2].seg, 3); /* 0xc8000: PAM2 low nibble 2 = WE only */
    CHECK_EQ(f.pam.calls[2].base, 0xc8000);
    CHECK_EQ(f.pam.calls[2].attr, VMM_PAM_WRITE_ONLY);
    CHECK_EQ(f.pam.calls[3].seg, 4); /* 0xcc000: PAM2 high nibble 1 = RE only */
    CHECK_EQ(f.pam.calls[3].base, 0xcc000);
    CHECK_EQ(f.pam.calls[3].attr, VMM_PAM_READ_ONLY);
    CHECK_EQ(vmm_i440fx_pam_attr(&f.host, 4), VMM_PAM_READ_ONLY);

    /* Write-protecting the shadow after copying: 0x30 -> 0x10. */
    f.pam.n = 0;
    cfg_w(&f, HOST, I440FX_PAM0, 1, 0x10);
    CHECK_EQ(f.pam.n, 1);
    CHECK_EQ(f.pam.calls[0].attr, VMM_PAM_READ_ONLY);
    /* PAM6 high nibble is the last segment. */
    f.pam.n = 0;
    cfg_w(&f, HOST, I440FX_PAM6, 1, 0x30);
    CHECK_EQ(f.pam.n, 1);
    CHECK_EQ(f.pam.calls[0].seg, 12);
    CHECK_EQ(f.pam.calls[0].base, 0xec000);

    /* Reset: back to all disabled, reporting only what changes. */
    f.pam.n = 0;
    vmm_pci_bus_reset(&f.bus);
    CHECK_EQ(f.pam.n, 6); /* segments 0, 1, 2, 3, 4, 12 */
    for (unsigned i = 0; i < f.pam.n; i++)
        CHECK_EQ(f.pam.calls[i].attr, VMM_PAM_DISABLED);
    CHECK_EQ(cfg_r(&f, HOST, 0x58, 4), 0); /* 0x58 (not PAM) .. PAM2 */
    CHECK_EQ(cfg_r(&f, HOST, 0x5c, 4), 0); /* PAM3 .. PAM6 */
    teardown(&f);
}

static void test_smram(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(cfg_r(&f, HOST, I440FX_SMRAM, 1), 0x02);
    cfg_w(&f, HOST, I440FX_SMRAM, 1, 0xef);           /* everything but D_LCK */
    CHECK_EQ(cfg_r(&f, HOST, I440FX_SMRAM, 1), 0x6a); /* D_OPEN|D_CLS|G_SMRAME + C_BASE_SEG */
    cfg_w(&f, HOST, I440FX_SMRAM, 1, I440FX_SMRAM_G_SMRAME | I440FX_SMRAM_D_OPEN);
    CHECK_EQ(cfg_r(&f, HOST, I440FX_SMRAM, 1), 0x4a);
    /* Locking: D_OPEN clears and can no longer be set, D_LCK and G_SMRAME stick. */
    cfg_w(&f, HOST, I440FX_SMRAM, 1,
          I440FX_SMRAM_G_SMRAME | I440FX_SMRAM_D_LCK | I440FX_SMRAM_D_OPEN);
    CHECK_EQ(cfg_r(&f, HOST, I440FX_SMRAM, 1), 0x1a);
    cfg_w(&f, HOST, I440FX_SMRAM, 1, I440FX_SMRAM_D_OPEN);
    CHECK_EQ(cfg_r(&f, HOST, I440FX_SMRAM, 1), 0x1a);
    cfg_w(&f, HOST, I440FX_SMRAM, 1, I440FX_SMRAM_D_CLS | I440FX_SMRAM_G_SMRAME);
    CHECK_EQ(cfg_r(&f, HOST, I440FX_SMRAM, 1), 0x3a);
    /* Only a reset unlocks. */
    vmm_pci_bus_reset(&f.bus);
    CHECK_EQ(cfg_r(&f, HOST, I440FX_SMRAM, 1), 0x02);
    cfg_w(&f, HOST, I440FX_SMRAM, 1, I440FX_SMRAM_D_OPEN);
    CHECK_EQ(cfg_r(&f, HOST, I440FX_SMRAM, 1), 0x42);
    teardown(&f);
}

static void test_swizzle(void)
{
    /* INTA# of slot 1 (the PIIX) is PIRQA; each slot further rotates by one. */
    CHECK_EQ(vmm_piix3_pirq(1, 0), 0);
    CHECK_EQ(vmm_piix3_pirq(2, 0), 1);
    CHECK_EQ(vmm_piix3_pirq(3, 0), 2);
    CHECK_EQ(vmm_piix3_pirq(4, 0), 3);
    CHECK_EQ(vmm_piix3_pirq(5, 0), 0);
    CHECK_EQ(vmm_piix3_pirq(0, 0), 3);
    CHECK_EQ(vmm_piix3_pirq(3, 3), 1); /* (3 + 3 - 1) mod 4 */
    CHECK_EQ(vmm_piix3_pirq(2, 1), 2);
    CHECK_EQ(vmm_piix3_pirq(31, 2), 0);
}

static void test_routing(void)
{
    struct fixture f;
    setup(&f);
    add_sources(&f); /* slots 2..5, INTA#: PIRQB, PIRQC, PIRQD, PIRQA */

    /* Nothing is routed at power-on: asserting reaches no line. */
    vmm_pci_dev_set_irq(&f.devs[0], 1);
    for (unsigned i = 0; i < VMM_ISA_IRQS; i++)
        CHECK_EQ(f.lines[i].changes, 0);
    CHECK_EQ(vmm_piix3_pirq_route(&f.isa, 1), -1);

    /* Routing PIRQB to IRQ 11 while the source is asserted raises IRQ 11 at once. */
    cfg_w(&f, ISA, PIIX3_PIRQRC + 1, 1, 11);
    CHECK_EQ(vmm_piix3_pirq_route(&f.isa, 1), 11);
    CHECK_EQ(f.lines[11].level, 1);
    CHECK_EQ(f.lines[11].changes, 1);
    vmm_pci_dev_set_irq(&f.devs[0], 0);
    CHECK_EQ(f.lines[11].level, 0);
    CHECK_EQ(f.lines[11].changes, 2);

    /* The firmware's usual choice: A,B -> 10, C,D -> 11 (one dword write). */
    cfg_w(&f, ISA, PIIX3_PIRQRC, 4, 0x0b0b0a0a);
    CHECK_EQ(cfg_r(&f, ISA, PIIX3_PIRQRC, 4), 0x0b0b0a0a);
    vmm_pci_dev_set_irq(&f.devs[1], 1); /* slot 3 -> PIRQC -> 11 */
    CHECK_EQ(f.lines[11].level, 1);
    CHECK_EQ(f.lines[10].level, 0);
    vmm_pci_dev_set_irq(&f.devs[3], 1); /* slot 5 -> PIRQA -> 10 */
    CHECK_EQ(f.lines[10].level, 1);
    vmm_pci_dev_set_irq(&f.devs[3], 0);
    CHECK_EQ(f.lines[10].level, 0);
    vmm_pci_dev_set_irq(&f.devs[1], 0);
    CHECK_EQ(f.lines[11].level, 0);
    teardown(&f);
}

static void test_shared_level(void)
{
    struct fixture f;
    setup(&f);
    add_sources(&f);
    cfg_w(&f, ISA, PIIX3_PIRQRC, 4, 0x0b0b0a0a);
    /* Slots 3 (PIRQC) and 4 (PIRQD) both land on IRQ 11. */
    vmm_pci_dev_set_irq(&f.devs[1], 1);
    vmm_pci_dev_set_irq(&f.devs[2], 1);
    CHECK_EQ(f.lines[11].level, 1);
    CHECK_EQ(f.lines[11].changes, 1); /* the second source does not re-raise it */
    vmm_pci_dev_set_irq(&f.devs[1], 0);
    CHECK_EQ(f.lines[11].level, 1); /* slot 4 still holds it */
    CHECK_EQ(f.lines[11].changes, 1);
    vmm_pci_dev_set_irq(&f.devs[2], 0);
    CHECK_EQ(f.lines[11].level, 0);
    CHECK_EQ(f.lines[11].changes, 2);

    /* Two functions on the same PIRQ (slots 2 and 6 are both PIRQB). */
    struct vmm_pci_dev six;
    vmm_pci_dev_init(&six, NULL, NULL, 0x1af4, 0x1009, 0, 0, 0);
    vmm_pci_dev_set_intx_pin(&six, 1);
    CHECK_EQ(vmm_pci_bus_add(&f.bus, &six, 6, 0), 0);
    vmm_pci_dev_set_irq(&f.devs[0], 1);
    vmm_pci_dev_set_irq(&six, 1);
    CHECK_EQ(f.lines[10].level, 1);
    vmm_pci_dev_set_irq(&f.devs[0], 0);
    CHECK_EQ(f.lines[10].level, 1);
    /* Two functions of one slot on the same pin: the same PIRQ, neighbouring devfns. */
    struct vmm_pci_dev two_b;
    vmm_pci_dev_init(&two_b, NULL, NULL, 0x1af4, 0x100a, 0, 0, 0);
    vmm_pci_dev_set_intx_pin(&two_b, 1);
    CHECK_EQ(vmm_pci_bus_add(&f.bus, &two_b, 2, 1), 0);
    vmm_pci_dev_set_irq(&six, 0);
    vmm_pci_dev_set_irq(&f.devs[0], 1);
    vmm_pci_dev_set_irq(&two_b, 1);
    vmm_pci_dev_set_irq(&f.devs[0], 0);
    CHECK_EQ(f.lines[10].level, 1); /* 02.1 still asserts */
    vmm_pci_dev_set_irq(&two_b, 0);
    CHECK_EQ(f.lines[10].level, 0);
    vmm_pci_dev_set_irq(&six, 1);
    CHECK_EQ(f.lines[10].level, 1);
    /* Masking the last one with INTX_DISABLE drops the line. */
    cfg_w(&f, VMM_PCI_DEVFN(6, 0), PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
    CHECK_EQ(f.lines[10].level, 0);
    cfg_w(&f, VMM_PCI_DEVFN(6, 0), PCI_COMMAND, 2, 0);
    CHECK_EQ(f.lines[10].level, 1);

    /* Re-routing an asserted PIRQ moves the level from the old IRQ to the new one. */
    cfg_w(&f, ISA, PIIX3_PIRQRC + 1, 1, 5); /* PIRQB -> 5 */
    CHECK_EQ(f.lines[10].level, 0);
    CHECK_EQ(f.lines[5].level, 1);
    /* Two PIRQs on one IRQ: PIRQA also to 5; dropping B's source keeps 5 up while A asserts. */
    cfg_w(&f, ISA, PIIX3_PIRQRC, 1, 5);
    vmm_pci_dev_set_irq(&f.devs[3], 1); /* slot 5 -> PIRQA */
    vmm_pci_dev_set_irq(&six, 0);
    CHECK_EQ(f.lines[5].level, 1);
    vmm_pci_dev_set_irq(&f.devs[3], 0);
    CHECK_EQ(f.lines[5].level, 0);
    teardown(&f);
}

static void test_disabled_and_invalid_routes(void)
{
    struct fixture f;
    setup(&f);
    add_sources(&f);
    vmm_pci_dev_set_irq(&f.devs[0], 1); /* PIRQB asserted throughout */
    cfg_w(&f, ISA, PIIX3_PIRQRC + 1, 1, 9);
    CHECK_EQ(f.lines[9].level, 1);
    /* Bit 7 disables the route and drops the line. */
    cfg_w(&f, ISA, PIIX3_PIRQRC + 1, 1, 0x89);
    CHECK_EQ(cfg_r(&f, ISA, PIIX3_PIRQRC + 1, 1), 0x89);
    CHECK_EQ(f.lines[9].level, 0);
    CHECK_EQ(vmm_piix3_pirq_route(&f.isa, 1), -1);
    /* Reserved bits 6:4 read as 0. */
    cfg_w(&f, ISA, PIIX3_PIRQRC + 1, 1, 0x7c);
    CHECK_EQ(cfg_r(&f, ISA, PIIX3_PIRQRC + 1, 1), 0x0c);
    CHECK_EQ(f.lines[12].level, 1);
    /* IRQs 0, 1, 2, 8 and 13 are not valid PIRQ targets: nothing is driven. */
    static const unsigned bad[] = {0, 1, 2, 8, 13};
    for (unsigned i = 0; i < 5; i++) {
        cfg_w(&f, ISA, PIIX3_PIRQRC + 1, 1, bad[i]);
        CHECK_EQ(vmm_piix3_pirq_route(&f.isa, 1), -1);
        CHECK_EQ(f.lines[bad[i]].changes, 0);
    }
    CHECK_EQ(f.lines[12].level, 0);
    /* Every valid IRQ works. */
    static const unsigned good[] = {3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15};
    for (unsigned i = 0; i < 11; i++) {
        cfg_w(&f, ISA, PIIX3_PIRQRC + 1, 1, good[i]);
        CHECK_EQ(f.lines[good[i]].level, 1);
        cfg_w(&f, ISA, PIIX3_PIRQRC + 1, 1, 0x80);
        CHECK_EQ(f.lines[good[i]].level, 0);
    }
    /* Reset disables every route. */
    cfg_w(&f, ISA, PIIX3_PIRQRC + 1, 1, 14);
    CHECK_EQ(f.lines[14].level, 1);
    vmm_pci_bus_reset(&f.bus);
    CHECK_EQ(f.lines[14].level, 0);
    CHECK_EQ(cfg_r(&f, ISA, PIIX3_PIRQRC, 4), 0x80808080);
    vmm_pci_dev_set_irq(&f.devs[0], 1); /* the source reset too; asserting again reaches nothing */
    CHECK_EQ(f.lines[14].level, 0);
    CHECK_EQ(f.lines[14].changes, 4); /* up and down in the loop, up, down at reset */
    teardown(&f);
}

int main(void)
{
    RUN_TEST(test_identity);
    RUN_TEST(test_pam);
    RUN_TEST(test_smram);
    RUN_TEST(test_swizzle);
    RUN_TEST(test_routing);
    RUN_TEST(test_shared_level);
    RUN_TEST(test_disabled_and_invalid_routes);
    return test_finish();
}
