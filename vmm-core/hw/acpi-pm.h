/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_ACPI_PM_H
#define VMM_HW_ACPI_PM_H

#include "core/device.h"

/*
 * ACPI fixed hardware: PM1a event block (status/enable), PM1a control block
 * (SCI_EN, sleep type/enable: S5 powers the machine off) and the 3.579545 MHz
 * PM timer, at the ports the FADT names (arch/x86/boot.h). SCI on IRQ 9.
 */
extern const struct vmm_device_type vmm_acpi_pm_type;

/* Presses the power button: the guest's ACPI driver sees PWRBTN_STS. Any thread. */
void vmm_acpi_pm_power_button(struct vmm_device *dev);

#endif
