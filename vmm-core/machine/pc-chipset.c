/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The chipset glue of the PC board: PCI bus 0 with the i440FX host bridge
 * and the PIIX3 ISA bridge, the BAR mapper, and the ISA devices whose models
 * need a VM connection (CMOS RTC with its timer, i8042 with its reset line,
 * the firmware debug port).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"
#include "hw/acpi-pm.h"
#include "hw/sysctl.h"
#include "machine/pc.h"

#define PCI_CONFIG_ADDR_PORT 0xcf8
#define PCI_CONFIG_DATA_PORT 0xcfc
#define DEBUGCON_PORT 0x402
#define DEBUGCON_READBACK 0xe9 /* what firmware reads back to know the port is there */

/* ---- BAR mapper ---- */

static int bar_map(void *opaque, struct vmm_pci_dev *d, unsigned bar, enum vmm_io_kind kind,
                   uint64_t base, uint64_t len)
{
    struct vmm_pc *pc = opaque;
    const struct vmm_pci_bar *b = &d->bars[bar];
    int ret;
    if (vmm_pc_vga_map(pc, d, bar, base, len, &ret))
        return ret;
    if (!b->ops)
        return -ENOTSUP;
    int r = vmm_iotrap_add(pc->vm, kind, base, len, b->ops, b->opaque);
    if (r < 0)
        vmm_log_ratelimited(VMM_LOG_WARN,
                            "PCI %02x.%u BAR %u at 0x%llx (+0x%llx) overlaps another range: not "
                            "decoded",
                            d->devfn >> 3, d->devfn & 7, bar, (unsigned long long)base,
                            (unsigned long long)len);
    return r;
}

static void bar_unmap(void *opaque, struct vmm_pci_dev *d, unsigned bar, enum vmm_io_kind kind,
                      uint64_t base, uint64_t len)
{
    struct vmm_pc *pc = opaque;
    (void)len;
    if (vmm_pc_vga_unmap(pc, d, bar))
        return;
    if (vmm_iotrap_remove(pc->vm, kind, base, d->bars[bar].opaque) < 0)
        vmm_log(VMM_LOG_WARN, "PCI %02x.%u BAR %u was not mapped at 0x%llx", d->devfn >> 3,
                d->devfn & 7, bar, (unsigned long long)base);
}

/*
 * The I/O map may change while vCPUs run (iotrap publishes copies), so the
 * sync happens at once, on the thread of the config write.
 */
static void bar_sync_needed(void *opaque)
{
    struct vmm_pc *pc = opaque;
    vmm_pci_bus_sync(&pc->bus);
}

static const struct vmm_pci_bus_ops bar_ops = {
    .map = bar_map,
    .unmap = bar_unmap,
    .sync_needed = bar_sync_needed,
};

/* ---- RTC ---- */

static void rtc_arm(void *opaque, uint64_t deadline_ns)
{
    struct vmm_pc *pc = opaque;
    struct itimerspec its = {0};
    if (deadline_ns != VMM_RTC_NO_DEADLINE) {
        its.it_value.tv_sec = (time_t)(deadline_ns / 1000000000ULL);
        its.it_value.tv_nsec = (long)(deadline_ns % 1000000000ULL);
    }
    if (timerfd_settime(pc->rtc_timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        vmm_log_ratelimited(VMM_LOG_WARN, "RTC: cannot arm its timer: %s", strerror(errno));
}

static void rtc_timer_ready(void *opaque, int fd, uint32_t events)
{
    struct vmm_pc *pc = opaque;
    uint64_t n;
    (void)events;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        return;
    vmm_rtc_timer_fire(pc->rtc);
}

/*
 * The RTC and i8042 models initialise their whole struct, the embedded
 * struct vmm_device included (so they can run without a VM); the device
 * framework owns that header here, so it is kept across the model's init.
 * Their fini only destroys the lock, which the framework does.
 */
static void keep_header(struct vmm_device *dev, const struct vmm_device *saved)
{
    dev->type = saved->type;
    dev->vm = saved->vm;
    dev->next = saved->next;
}

static void rtc_dev_reset(struct vmm_device *dev)
{
    vmm_rtc_reset((struct vmm_rtc *)dev);
}

struct pc_rtc {
    struct vmm_rtc rtc; /* first: starts with struct vmm_device */
    struct vmm_irq irq;
};

static int rtc_realize(struct vmm_device *dev, struct vmm_vm *vm, struct vmm_error *err)
{
    struct pc_rtc *p = (struct pc_rtc *)dev;
    struct vmm_device saved = *dev;
    vmm_irq_init_gsi(vm, &p->irq, VMM_RTC_IRQ);
    vmm_rtc_init(&p->rtc, &p->irq, NULL, !vm->cfg.rtc_localtime);
    keep_header(dev, &saved);
    int r = vmm_iotrap_add(vm, VMM_IO_PIO, VMM_RTC_PORT, VMM_RTC_NPORTS, &vmm_rtc_ops, &p->rtc);
    if (r < 0)
        vmm_error_set(err, r, "RTC: ports 0x70-0x71 already claimed");
    return r;
}

static const struct vmm_device_type rtc_type = {
    .name = "rtc",
    .instance_size = sizeof(struct pc_rtc),
    .realize = rtc_realize,
    .reset = rtc_dev_reset,
};

/* ---- i8042 ---- */

struct pc_i8042 {
    struct vmm_i8042 kbc; /* first: starts with struct vmm_device */
    struct vmm_irq kbd_irq, aux_irq;
};

static void kbc_reset_line(void *opaque)
{
    struct vmm_vm *vm = opaque;
    vmm_vm_request_reset(vm);
}

static void kbc_a20(void *opaque, bool enabled)
{
    (void)opaque;
    /* KVM has no A20 gate; no guest of this century turns it off. */
    if (!enabled)
        vmm_log_ratelimited(VMM_LOG_INFO, "i8042: the guest turned A20 off (ignored)");
}

static int kbc_realize(struct vmm_device *dev, struct vmm_vm *vm, struct vmm_error *err)
{
    struct pc_i8042 *p = (struct pc_i8042 *)dev;
    struct vmm_device saved = *dev;
    vmm_irq_init_gsi(vm, &p->kbd_irq, VMM_I8042_KBD_IRQ);
    vmm_irq_init_gsi(vm, &p->aux_irq, VMM_I8042_AUX_IRQ);
    vmm_i8042_init(&p->kbc, &p->kbd_irq, &p->aux_irq);
    keep_header(dev, &saved);
    vmm_i8042_set_callbacks(&p->kbc, kbc_reset_line, kbc_a20, vm);
    int r = vmm_iotrap_add(vm, VMM_IO_PIO, VMM_I8042_DATA_PORT, 1, &vmm_i8042_data_ops, &p->kbc);
    if (!r) {
        r = vmm_iotrap_add(vm, VMM_IO_PIO, VMM_I8042_CMD_PORT, 1, &vmm_i8042_cmd_ops, &p->kbc);
        if (r < 0 && vmm_iotrap_remove(vm, VMM_IO_PIO, VMM_I8042_DATA_PORT, &p->kbc) < 0)
            r = -EFAULT;
    }
    if (r < 0)
        vmm_error_set(err, r, "i8042: ports 0x60/0x64 already claimed");
    return r;
}

static void kbc_dev_reset(struct vmm_device *dev)
{
    vmm_i8042_reset((struct vmm_i8042 *)dev);
}

static const struct vmm_device_type i8042_type = {
    .name = "i8042",
    .instance_size = sizeof(struct pc_i8042),
    .realize = kbc_realize,
    .reset = kbc_dev_reset,
};

/* ---- firmware debug port ---- */

static uint64_t debugcon_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)size;
    return DEBUGCON_READBACK;
}

static void debugcon_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_pc *pc = opaque;
    uint8_t c = val & 0xff;
    (void)off;
    (void)size;
    if (pc->debugcon_fd >= 0 && write(pc->debugcon_fd, &c, 1) < 0)
        pc->debugcon_fd = -1; /* the log went away: stop writing, keep the guest running */
}

static const struct vmm_io_ops debugcon_ops = {.read = debugcon_read, .write = debugcon_write};

/* ---- the chipset ---- */

/*
 * Without firmware nobody programs the PIIX3's PIRQ routing, so the board
 * does it the way SeaBIOS would, matching the DSDT's _PRT (arch/x86/acpi.c):
 * PCI INTx then works for a kernel booted directly (pci=nomsi, drivers
 * without MSI).
 */
static void route_pirqs(struct vmm_pc *pc)
{
    if (pc->firmware)
        return;
    uint32_t val = 0;
    for (unsigned pirq = 0; pirq < 4; pirq++)
        val |= VMM_DIRECT_PIRQ_IRQ(pirq) << (8 * pirq);
    vmm_pci_bus_config_write(&pc->bus, VMM_PIIX3_SLOT << 3, PIIX3_PIRQRC, 4, val);
}

/* ISA lines no ISA device model drives, which the PIIX3 may route PCI interrupts to. */
static const unsigned pci_isa_lines[] = {3, 5, 6, 7, 10, 11};

int vmm_pc_chipset_init(struct vmm_pc *pc, struct vmm_error *err)
{
    struct vmm_vm *vm = pc->vm;
    int r;

    for (unsigned i = 0; i < VMM_ISA_IRQS; i++)
        vmm_irq_init_gsi(vm, &pc->isa[i], i);
    memset(pc->pci_isa, 0, sizeof(pc->pci_isa));
    for (unsigned i = 0; i < sizeof(pci_isa_lines) / sizeof(pci_isa_lines[0]); i++)
        pc->pci_isa[pci_isa_lines[i]] = &pc->isa[pci_isa_lines[i]];

    vmm_pci_bus_init(&pc->bus, &bar_ops, pc);
    vmm_pci_bus_set_rcr(&pc->bus, &vmm_sysctl_rcr_ops, pc->sysctl);
    r = vmm_i440fx_init(&pc->i440fx, &pc->bus, pc->firmware ? vmm_pc_pam_changed : NULL, pc);
    if (!r)
        r = vmm_piix3_init(&pc->piix3, &pc->bus, pc->pci_isa);
    if (r < 0) {
        vmm_error_set(err, r, "cannot set up the PCI chipset");
        return r;
    }
    r = vmm_acpi_pm_plug(pc->acpi_pm, &pc->bus, !pc->firmware);
    if (r < 0) {
        vmm_error_set(err, r, "cannot plug the ACPI power management function");
        return r;
    }
    r = vmm_iotrap_add(vm, VMM_IO_PIO, PCI_CONFIG_ADDR_PORT, 4, &vmm_pci_config_addr_ops, &pc->bus);
    if (!r)
        r = vmm_iotrap_add(vm, VMM_IO_PIO, PCI_CONFIG_DATA_PORT, 4, &vmm_pci_config_data_ops,
                           &pc->bus);
    if (r < 0) {
        vmm_error_set(err, r, "PCI configuration ports already claimed");
        return r;
    }

    pc->rtc = (struct vmm_rtc *)vmm_device_create(vm, &rtc_type, err);
    if (!pc->rtc)
        return -EINVAL;
    pc->rtc_timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (pc->rtc_timerfd < 0 ||
        vmm_loop_add_fd(vm->loop, pc->rtc_timerfd, EPOLLIN, rtc_timer_ready, pc) < 0) {
        vmm_error_set(err, -EMFILE, "RTC: cannot create its timer");
        return -EMFILE;
    }
    vmm_rtc_set_timer_cb(pc->rtc, rtc_arm, pc);
    vmm_rtc_set_memory(pc->rtc, vm->mem.lowmem_size + vm->mem.highmem_size);
    if (vmm_rtc_set_cpus(pc->rtc, vm->ncpus) < 0) {
        vmm_error_set(err, -EINVAL, "RTC: cannot record %u CPUs", vm->ncpus);
        return -EINVAL;
    }

    pc->i8042 = (struct vmm_i8042 *)vmm_device_create(vm, &i8042_type, err);
    if (!pc->i8042)
        return -EINVAL;

    /* Firmware probes for it; a directly booted guest gets it when its output is wanted. */
    if (pc->firmware || pc->debugcon_fd >= 0) {
        r = vmm_iotrap_add(vm, VMM_IO_PIO, DEBUGCON_PORT, 1, &debugcon_ops, pc);
        if (r < 0) {
            vmm_error_set(err, r, "the debug console port 0x402 is already claimed");
            return r;
        }
    }
    route_pirqs(pc);
    vmm_pci_bus_sync(&pc->bus);
    return 0;
}

void vmm_pc_chipset_reset(struct vmm_pc *pc)
{
    vmm_pci_bus_reset(&pc->bus);
    route_pirqs(pc);
}

void vmm_pc_chipset_fini(struct vmm_pc *pc)
{
    if (pc->rtc_timerfd >= 0) {
        vmm_loop_del_fd(pc->vm->loop, pc->rtc_timerfd);
        close(pc->rtc_timerfd);
        pc->rtc_timerfd = -1;
    }
    vmm_piix3_fini(&pc->piix3);
    vmm_pci_bus_fini(&pc->bus);
}
