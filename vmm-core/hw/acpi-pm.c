/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hw/acpi-pm.h"

#include <errno.h>

#include "arch/x86/boot.h"
#include "bus/pci.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/vm.h"
#include "snapshot/state-desc.h"

#define PM1_STS_TMR (1u << 0)
#define PM1_STS_PWRBTN (1u << 8)
#define PM1_STS_WAK (1u << 15)
#define PM1_STS_MASK \
    (PM1_STS_TMR | (1u << 4) | (1u << 5) | PM1_STS_PWRBTN | (1u << 9) | (1u << 10) | PM1_STS_WAK)
#define PM1_EN_MASK (PM1_STS_TMR | (1u << 5) | PM1_STS_PWRBTN | (1u << 9) | (1u << 10))
#define PM1_CNT_SCI_EN (1u << 0)
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN (1u << 13)
#define PM_TIMER_HZ 3579545ULL

/* The PIIX4 power-management function (00:01.3) in front of the PM block. */
#define PIIX4_PM_VENDOR 0x8086
#define PIIX4_PM_DEVICE 0x7113
#define PIIX4_PM_REVISION 0x03
#define PIIX4_PM_CLASS 0x068000 /* bridge, other */
#define PIIX4_PMBA 0x40         /* PM I/O base: bits 15:6, bit 0 reads 1 (I/O space) */
#define PIIX4_PMREGMISC 0x80    /* bit 0: PM I/O space enable */
#define PIIX4_PM_IO_LEN 64
#define PIIX4_PM_SLOT 1
#define PIIX4_PM_FUNC 3

struct acpi_pm {
    struct vmm_device dev;
    struct vmm_pci_dev pci;
    bool plugged;
    bool decoding; /* the PM block is claimed at io_base */
    uint16_t io_base;
    struct vmm_irq sci;
    uint16_t sts;
    uint16_t en;
    uint16_t cnt;
    int64_t timer_epoch_ns;
};

static void update_sci(struct acpi_pm *pm)
{
    vmm_irq_set(&pm->sci, (pm->cnt & PM1_CNT_SCI_EN) && (pm->sts & pm->en));
}

static uint32_t timer_value(struct acpi_pm *pm)
{
    uint64_t ns = (uint64_t)(vmm_now_ns() - pm->timer_epoch_ns);
    /* ns * 3579545 / 1e9 without overflow for centuries of uptime */
    uint64_t ticks =
        (ns / 1000000000ULL) * PM_TIMER_HZ + (ns % 1000000000ULL) * PM_TIMER_HZ / 1000000000ULL;
    return (uint32_t)(ticks & 0xffffff);
}

static uint64_t pm_read(void *opaque, uint64_t off, unsigned size)
{
    struct acpi_pm *pm = opaque;
    uint64_t val = 0;
    pthread_mutex_lock(&pm->dev.lock);
    /* Registers are read as little-endian bytes so any width works. */
    for (unsigned i = 0; i < size; i++) {
        uint64_t o = off + i;
        uint32_t reg;
        unsigned shift;
        if (o < 2) {
            reg = pm->sts;
            shift = o;
        } else if (o < 4) {
            reg = pm->en;
            shift = o - 2;
        } else if (o < 6) {
            reg = pm->cnt;
            shift = o - 4;
        } else if (o >= 8 && o < 12) {
            reg = timer_value(pm);
            shift = o - 8;
        } else {
            reg = 0;
            shift = 0;
        }
        val |= (uint64_t)((reg >> (8 * shift)) & 0xff) << (8 * i);
    }
    pthread_mutex_unlock(&pm->dev.lock);
    return val;
}

static void pm_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct acpi_pm *pm = opaque;
    bool poweroff = false;
    pthread_mutex_lock(&pm->dev.lock);
    if (off < 2) { /* status: write 1 to clear */
        uint16_t v = size >= 2 && off == 0 ? (uint16_t)val : (uint16_t)((val & 0xff) << (8 * off));
        pm->sts &= ~(v & PM1_STS_MASK);
        if (size >= 4 && off == 0)
            pm->en = (uint16_t)(val >> 16) & PM1_EN_MASK;
    } else if (off < 4) {
        uint16_t v = (uint16_t)(val << (8 * (off - 2)));
        uint16_t mask = size >= 2 ? 0xffff : (uint16_t)(0xff << (8 * (off - 2)));
        pm->en = (uint16_t)((pm->en & ~mask) | (v & mask)) & PM1_EN_MASK;
    } else if (off < 6) {
        uint16_t v = (uint16_t)(val << (8 * (off - 4)));
        uint16_t mask = size >= 2 ? 0xffff : (uint16_t)(0xff << (8 * (off - 4)));
        uint16_t cnt = (uint16_t)((pm->cnt & ~mask) | (v & mask));
        if ((cnt & PM1_CNT_SLP_EN) &&
            ((cnt & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT) == VMM_ACPI_SLP_TYP_S5)
            poweroff = true;
        /* SLP_EN reads as zero; SCI_EN stays set: the machine is always in ACPI mode. */
        pm->cnt = (cnt & ~PM1_CNT_SLP_EN) | PM1_CNT_SCI_EN;
    }
    update_sci(pm);
    pthread_mutex_unlock(&pm->dev.lock);
    if (poweroff)
        vmm_vm_end(pm->dev.vm, VMM_EXIT_POWEROFF, 0, "the guest powered off through ACPI");
}

static const struct vmm_io_ops pm_ops = {.read = pm_read, .write = pm_write};

/*
 * Claims or releases the PM block where PMBA and PMREGMISC say, device
 * lock held. The I/O map may change while vCPUs run (core/iotrap.h).
 */
static void update_decode(struct acpi_pm *pm)
{
    bool on = vmm_pci_get8(&pm->pci, PIIX4_PMREGMISC) & 1;
    uint16_t base = vmm_pci_get32(&pm->pci, PIIX4_PMBA) & 0xffc0;
    if (base == 0)
        on = false;
    if (pm->decoding && (!on || base != pm->io_base)) {
        if (vmm_iotrap_remove(pm->dev.vm, VMM_IO_PIO, pm->io_base, pm) < 0)
            vmm_log(VMM_LOG_WARN, "ACPI PM: its block at 0x%x was not claimed", pm->io_base);
        pm->decoding = false;
    }
    if (on && !pm->decoding) {
        if (vmm_iotrap_add(pm->dev.vm, VMM_IO_PIO, base, PIIX4_PM_IO_LEN, &pm_ops, pm) < 0) {
            vmm_log_ratelimited(VMM_LOG_WARN, "ACPI PM: I/O base 0x%x overlaps another device",
                                base);
            return;
        }
        pm->decoding = true;
        pm->io_base = base;
    }
}

static void pm_config_write(struct vmm_pci_dev *d, unsigned off, unsigned size)
{
    struct acpi_pm *pm = (struct acpi_pm *)((char *)d - offsetof(struct acpi_pm, pci));
    if ((off < PIIX4_PMBA + 4 && off + size > PIIX4_PMBA) ||
        (off <= PIIX4_PMREGMISC && off + size > PIIX4_PMREGMISC))
        update_decode(pm);
}

static void pm_pci_reset(struct vmm_pci_dev *d)
{
    struct acpi_pm *pm = (struct acpi_pm *)((char *)d - offsetof(struct acpi_pm, pci));
    update_decode(pm);
}

static const struct vmm_pci_dev_ops pm_pci_ops = {
    .config_write = pm_config_write,
    .reset = pm_pci_reset,
};

int vmm_acpi_pm_plug(struct vmm_device *dev, struct vmm_pci_bus *bus, bool preset)
{
    struct acpi_pm *pm = (struct acpi_pm *)dev;
    struct vmm_pci_dev *d = &pm->pci;
    vmm_pci_dev_init(d, &pm_pci_ops, &pm->dev.lock, PIIX4_PM_VENDOR, PIIX4_PM_DEVICE,
                     PIIX4_PM_REVISION, PIIX4_PM_CLASS, 0);
    vmm_pci_set32(d, PIIX4_PMBA, preset ? VMM_ACPI_PM_BASE | 1u : 1u);
    vmm_pci_set_wmask(d, PIIX4_PMBA, 4, 0xffc0);
    vmm_pci_set8(d, PIIX4_PMREGMISC, preset ? 1 : 0);
    vmm_pci_set_wmask(d, PIIX4_PMREGMISC, 1, 0x01);
    int r = vmm_pci_bus_add(bus, d, PIIX4_PM_SLOT, PIIX4_PM_FUNC);
    if (r < 0)
        return r;
    pthread_mutex_lock(&pm->dev.lock);
    pm->plugged = true;
    update_decode(pm);
    bool ok = !preset || pm->decoding;
    pthread_mutex_unlock(&pm->dev.lock);
    return ok ? 0 : -EEXIST;
}

void vmm_acpi_pm_power_button(struct vmm_device *dev)
{
    struct acpi_pm *pm = (struct acpi_pm *)dev;
    pthread_mutex_lock(&pm->dev.lock);
    pm->sts |= PM1_STS_PWRBTN;
    update_sci(pm);
    pthread_mutex_unlock(&pm->dev.lock);
}

static void pm_reset(struct vmm_device *dev)
{
    struct acpi_pm *pm = (struct acpi_pm *)dev;
    pthread_mutex_lock(&pm->dev.lock);
    pm->sts = 0;
    pm->en = 0;
    pm->cnt = PM1_CNT_SCI_EN;
    update_sci(pm);
    pthread_mutex_unlock(&pm->dev.lock);
}

static int pm_realize(struct vmm_device *dev, struct vmm_vm *vm, struct vmm_error *err)
{
    struct acpi_pm *pm = (struct acpi_pm *)dev;
    vmm_irq_init_gsi(vm, &pm->sci, VMM_ACPI_SCI_IRQ);
    pm->timer_epoch_ns = vmm_now_ns();
    pm->cnt = PM1_CNT_SCI_EN;
    return 0;
}

static void pm_unrealize(struct vmm_device *dev)
{
    struct acpi_pm *pm = (struct acpi_pm *)dev;
    if (pm->decoding && vmm_iotrap_remove(dev->vm, VMM_IO_PIO, pm->io_base, pm) == 0)
        pm->decoding = false;
}

const struct vmm_device_type vmm_acpi_pm_type = {
    .name = "acpi-pm",
    .instance_size = sizeof(struct acpi_pm),
    .realize = pm_realize,
    .reset = pm_reset,
    .unrealize = pm_unrealize,
};

/* ---- Live state (snapshot/) ---- */

/* The PM timer is saved as its age, so a restored one continues from the same count. */
struct acpi_pm_state {
    uint16_t sts, en, cnt;
    uint64_t timer_ns;
};

static void pm_pre_save(void *obj, void *state)
{
    struct acpi_pm *pm = obj;
    struct acpi_pm_state *s = state;
    s->sts = pm->sts;
    s->en = pm->en;
    s->cnt = pm->cnt;
    int64_t age = vmm_now_ns() - pm->timer_epoch_ns;
    s->timer_ns = age > 0 ? (uint64_t)age : 0;
}

static int pm_post_load(void *obj, void *state, uint32_t version)
{
    struct acpi_pm *pm = obj;
    struct acpi_pm_state *s = state;
    (void)version;
    /* As a guest write would leave them: SLP_EN reads 0, SCI_EN is always set. */
    pm->sts = s->sts & PM1_STS_MASK;
    pm->en = s->en & PM1_EN_MASK;
    pm->cnt = (uint16_t)((s->cnt & ~PM1_CNT_SLP_EN) | PM1_CNT_SCI_EN);
    pm->timer_epoch_ns = vmm_now_ns() - (int64_t)s->timer_ns;
    update_sci(pm);
    return 0;
}

static const struct vmm_state_field pm_fields[] = {
    VMM_STATE_U16(struct acpi_pm_state, sts),
    VMM_STATE_U16(struct acpi_pm_state, en),
    VMM_STATE_U16(struct acpi_pm_state, cnt),
    VMM_STATE_UINT_MAX(struct acpi_pm_state, timer_ns, 8, 1ULL << 62),
};

const struct vmm_state_desc vmm_acpi_pm_state_desc = {
    .name = "acpi-pm",
    .version = 1,
    .min_version = 1,
    .fields = pm_fields,
    .nfields = VMM_STATE_NFIELDS(pm_fields),
    .state_size = sizeof(struct acpi_pm_state),
    .pre_save = pm_pre_save,
    .post_load = pm_post_load,
};
