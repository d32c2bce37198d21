/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The front-end API of a machine (input, power button), routed to the
 * board's devices. The display side is in pc-display.c.
 */
#include <errno.h>

#include "core/log.h"
#include "core/vm.h"
#include "hw/acpi-pm.h"
#include "hw/i8042.h"
#include "machine/pc.h"

void vmm_input_key(struct vmm_vm *vm, unsigned evdev_code, bool pressed)
{
    struct vmm_pc *pc = vm->pc;
    if (!pc || !pc->i8042)
        return;
    int r = vmm_i8042_key(pc->i8042, evdev_code, pressed);
    if (r < 0 && r != -EBUSY)
        vmm_log_ratelimited(VMM_LOG_INFO, "key %u %s not delivered (%d)", evdev_code,
                            pressed ? "press" : "release", r);
}

/* VMM_BUTTON_* and VMM_PS2_BTN_* share their bit order (left, right, middle, side, extra). */
static unsigned ps2_buttons(unsigned buttons)
{
    return buttons & (VMM_PS2_BTN_LEFT | VMM_PS2_BTN_RIGHT | VMM_PS2_BTN_MIDDLE | VMM_PS2_BTN_SIDE |
                      VMM_PS2_BTN_EXTRA);
}

void vmm_input_rel(struct vmm_vm *vm, int dx, int dy, int dwheel, unsigned buttons)
{
    struct vmm_pc *pc = vm->pc;
    if (!pc || !pc->i8042)
        return;
    vmm_i8042_mouse_buttons(pc->i8042, ps2_buttons(buttons));
    if (dx || dy || dwheel)
        vmm_i8042_mouse_move(pc->i8042, dx, dy, dwheel);
}

void vmm_input_abs(struct vmm_vm *vm, uint32_t x, uint32_t y, int dwheel, unsigned buttons)
{
    /* No absolute device on the board yet (the virtio tablet): buttons and wheel still count. */
    (void)x;
    (void)y;
    vmm_input_rel(vm, 0, 0, dwheel, buttons);
}

bool vmm_input_abs_active(struct vmm_vm *vm)
{
    (void)vm;
    return false;
}

int vmm_vm_power_button(struct vmm_vm *vm)
{
    struct vmm_pc *pc = vm->pc;
    if (!pc || !pc->acpi_pm)
        return -ENODEV;
    vmm_acpi_pm_power_button(pc->acpi_pm);
    return 0;
}
