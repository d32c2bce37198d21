/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The front-end API of a machine (display, input, power button), routed to
 * the board's devices. Until a device is on the board its calls report
 * -ENODEV or are dropped.
 */
#include <errno.h>

#include "core/vm.h"

void vmm_input_key(struct vmm_vm *vm, unsigned evdev_code, bool pressed)
{
    (void)vm;
    (void)evdev_code;
    (void)pressed;
}

void vmm_input_rel(struct vmm_vm *vm, int dx, int dy, int dwheel, unsigned buttons)
{
    (void)vm;
    (void)dx;
    (void)dy;
    (void)dwheel;
    (void)buttons;
}

void vmm_input_abs(struct vmm_vm *vm, uint32_t x, uint32_t y, int dwheel, unsigned buttons)
{
    (void)vm;
    (void)x;
    (void)y;
    (void)dwheel;
    (void)buttons;
}

bool vmm_input_abs_active(struct vmm_vm *vm)
{
    (void)vm;
    return false;
}

int vmm_vm_power_button(struct vmm_vm *vm)
{
    (void)vm;
    return -ENODEV;
}
