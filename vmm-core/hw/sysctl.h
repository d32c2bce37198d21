/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_SYSCTL_H
#define VMM_HW_SYSCTL_H

#include "core/device.h"

#include "core/iotrap.h"

/*
 * The small system-control ports of a PC that end or reset the machine:
 * port 0x80 (POST codes, also Linux's I/O delay: swallowed), the reset
 * control register at 0xCF9 and the test-exit port when the configuration
 * asks for it. (The keyboard controller's pulse-reset command is the
 * i8042's.)
 */
extern const struct vmm_device_type vmm_sysctl_type;

/*
 * The reset control register, opaque = the sysctl device. Port 0xCF9 sits
 * inside the PCI host's CONFIG_ADDRESS dword, so the PCI host forwards byte
 * accesses there (vmm_pci_bus_set_rcr).
 */
extern const struct vmm_io_ops vmm_sysctl_rcr_ops;

#endif
