/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by smp.c and smp-trampoline.S. */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#define AP_TRAMPOLINE_ADDR 0x8000   /* SIPI vector 0x08: APs start at 0800:0000 */
#define AP_MAX 32                   /* application processors we give a stack */
#define AP_STACK_SHIFT 12           /* 4 KiB each */
#define GUEST_GDT_LIMIT (3 * 8 - 1) /* null, code 0x08, data 0x10: see crt0.S */

#endif
