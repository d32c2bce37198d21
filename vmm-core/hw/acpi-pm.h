/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_ACPI_PM_H
#define VMM_HW_ACPI_PM_H

#include <stdbool.h>

#include "core/device.h"

/*
 * ACPI fixed hardware: PM1a event block (status/enable), PM1a control block
 * (SCI_EN, sleep type/enable: S5 powers the machine off) and the 3.579545 MHz
 * PM timer, at the ports the FADT names (arch/x86/boot.h). SCI on IRQ 9.
 */
extern const struct vmm_device_type vmm_acpi_pm_type;

/*
 * Plugs the PIIX4 power-management function (8086:7113) at 00:01.3, whose
 * PMBA register (0x40) and PMREGMISC enable bit (0x80) place the PM block
 * in I/O space. preset: power on with the block already at
 * VMM_ACPI_PM_BASE and enabled, as firmware would leave it (for a directly
 * booted kernel); otherwise the firmware programs it. -EEXIST if taken.
 */
struct vmm_pci_bus;
VMM_WUR int vmm_acpi_pm_plug(struct vmm_device *dev, struct vmm_pci_bus *bus, bool preset);

/* Presses the power button: the guest's ACPI driver sees PWRBTN_STS. Any thread. */
void vmm_acpi_pm_power_button(struct vmm_device *dev);

#endif
