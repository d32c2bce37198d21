/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reset: a warm reset restarts the guest with RAM kept. The first boot leaves a magic at
 * 0x300000 (outside the image) and resets; the second boot finds it and exits with 42.
 *
 *   how=kbd      0xfe (pulse reset line) to the i8042 command port 0x64 (default)
 *   how=cf9      0x06 (hard reset) to the reset control register 0xcf9
 *   how=triple   a fault with an empty IDT: #UD, then #GP, then #DF, then shutdown
 *
 * spin=1: after the request, spin with interrupts off instead of waiting (no exits at all).
 *
 * Output: "reset: first boot, resetting via HOW", then after the reset
 * "reset: second boot after a HOW reset". Under --no-reboot (QEMU -no-reboot) the VM ends
 * at the reset with status 0 and only the first line appears.
 * Exit codes: 42 pass (second boot), 3 the reset request had no effect within 1 s,
 * 4 the image reaches the magic's address.
 */
#include "rt.h"

#define MAGIC_ADDR 0x300000
#define MAGIC_HEAD 0x7e5e7b00
#define MAGIC_TAIL 0x00b7e5e7

struct magic {
    uint32_t head;
    uint32_t how; /* index in methods[] */
    uint32_t tail;
};

static const char *const methods[] = {"kbd", "cf9", "triple"};

extern uint8_t _end[];

static uint32_t method_from_cmdline(void)
{
    if (!arg_find("how", NULL))
        return 0;
    for (uint32_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (arg_is("how", methods[i]))
            return i;
    }
    fail(EXIT_BAD_ARGS, "how= takes kbd, cf9 or triple");
}

static void triple_fault(void)
{
    static const struct {
        uint16_t limit;
        uint32_t base;
    } __attribute__((packed)) empty_idt = {0, 0};

    cli();
    __asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
}

int main(void)
{
    volatile struct magic *m = (volatile struct magic *)MAGIC_ADDR;
    uint32_t how = method_from_cmdline();

    if ((uintptr_t)_end > MAGIC_ADDR)
        fail(4, "the image ends at %p, past the magic at 0x%x", _end, MAGIC_ADDR);
    if (m->head == MAGIC_HEAD && m->tail == MAGIC_TAIL && m->how < 3) {
        uint32_t was = m->how;
        m->head = m->tail = 0;
        kprintf("reset: second boot after a %s reset\n", methods[was]);
        return 42;
    }

    kprintf("reset: first boot, resetting via %s\n", methods[how]);
    serial_flush();
    m->head = MAGIC_HEAD;
    m->how = how;
    m->tail = MAGIC_TAIL;

    irq_init(IRQ_MODE_PIC);
    timebase_start(100);
    switch (how) {
    case 0:
        /* Let the controller take a command (bounded: a missing i8042 reads 0xff). */
        for (int i = 0; i < 1000 && (inb(0x64) & 0x02); i++)
            cpu_relax();
        outb(0x64, 0xfe);
        break;
    case 1:
        outb(0xcf9, 0x06);
        break;
    default:
        triple_fault();
        break;
    }
    if (arg_u32("spin", 0)) {
        /* spin=1: no exit of any kind from here on; only the VMM can end this. */
        __asm__ volatile("cli");
        for (;;)
            cpu_relax();
    }
    wait_for(NULL, NULL, 1000);
    fail(3, "still running 1 s after the %s reset request", methods[how]);
}
