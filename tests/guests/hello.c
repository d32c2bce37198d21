/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hello: prints a line and leaves through the test-exit port.
 *   exit=N      value written to port 0xf4 (default 0)
 *   width=b|w|l width of that write (default b), so a VMM's "any width" claim is checked
 */
#include "rt.h"

int main(void)
{
    uint32_t code = arg_u32("exit", 0);

    kprintf("hello: Terrarium test guest, cmdline \"%s\"\n", cmdline());
    kprintf("hello: exiting with %u\n", code);
    serial_flush();
    if (arg_is("width", "w"))
        outw(EXIT_PORT, (uint16_t)code);
    else if (arg_is("width", "l"))
        outl(EXIT_PORT, code);
    else if (!arg_find("width", NULL) || arg_is("width", "b"))
        outb(EXIT_PORT, (uint8_t)code);
    else
        fail(EXIT_BAD_ARGS, "width= takes b, w or l");
    fail(EXIT_NO_EXIT_PORT, "still running after the exit write: no test-exit device?");
}
