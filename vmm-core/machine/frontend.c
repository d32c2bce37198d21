/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The front-end API of a machine (input, power button), routed to the
 * board's devices. The display side is in pc-display.c.
 *
 * Keys go to the virtio keyboard while its guest driver is up (DRIVER_OK),
 * else to the PS/2 keyboard: never to both, so a guest with both drivers
 * sees each key once, and firmware, boot loaders and a rebooting guest
 * (the reset clears DRIVER_OK) get PS/2. Absolute positions go to the
 * virtio tablet while its driver is up; without it only buttons and the
 * wheel reach the PS/2 mouse (front ends then grab and send relative
 * motion: vmm_input_abs_active() says which).
 */
#include <errno.h>

#include "core/log.h"
#include "core/vm.h"
#include "hw/acpi-pm.h"
#include "hw/i8042.h"
#include "machine/pc.h"
#include "virtio/input.h"

void vmm_input_key(struct vmm_vm *vm, unsigned evdev_code, bool pressed)
{
    struct vmm_pc *pc = vm->pc;
    if (pc && pc->vkbd && vmm_virtio_input_active(pc->vkbd)) {
        if (evdev_code > 0 && evdev_code < 256) {
            struct vmm_virtio_input_event ev = {VMM_EV_KEY, (uint16_t)evdev_code, pressed};
            vmm_virtio_input_send(pc->vkbd, &ev, 1);
        }
        return;
    }
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
    struct vmm_pc *pc = vm->pc;
    if (pc && pc->vtablet && vmm_virtio_input_active(pc->vtablet)) {
        vmm_virtio_input_tablet(pc->vtablet, x, y, dwheel, buttons);
        return;
    }
    /* No tablet driver: buttons and wheel still count, on the PS/2 mouse. */
    vmm_input_rel(vm, 0, 0, dwheel, buttons);
}

bool vmm_input_abs_active(struct vmm_vm *vm)
{
    struct vmm_pc *pc = vm->pc;
    return pc && pc->vtablet && vmm_virtio_input_active(pc->vtablet);
}

int vmm_vm_power_button(struct vmm_vm *vm)
{
    struct vmm_pc *pc = vm->pc;
    if (!pc || !pc->acpi_pm)
        return -ENODEV;
    vmm_acpi_pm_power_button(pc->acpi_pm);
    return 0;
}
