/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_SYSCTL_H
#define VMM_HW_SYSCTL_H

#include "core/device.h"

/*
 * The small system-control ports of a PC that end or reset the machine:
 * port 0x80 (POST codes, also Linux's I/O delay: swallowed), the reset
 * control register at 0xCF9, the keyboard controller's pulse-reset command
 * (0xFE on port 0x64) until the i8042 model owns that port, and the
 * test-exit port when the configuration asks for it.
 */
extern const struct vmm_device_type vmm_sysctl_type;

#endif
