/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Application processor start-up. smp.c copies ap_trampoline..ap_trampoline_end to
 * AP_TRAMPOLINE_ADDR; a Startup IPI starts the AP there in real mode. It loads the boot
 * CPU's GDT, enters 32-bit protected mode and jumps back into the image (absolute address,
 * so the copy stays position independent), claims a slot and its stack, and calls ap_main.
 */
#include "smp.h"

    .section .text
    .code16
    .globl ap_trampoline, ap_trampoline_end
ap_trampoline:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lgdtl (ap_gdtr - ap_trampoline) /* DS-relative: works wherever the copy sits */
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $ap_entry32
    .balign 4
ap_gdtr:
    .word GUEST_GDT_LIMIT
    .long gdt
ap_trampoline_end:

    .code32
ap_entry32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl $1, %eax
    lock xaddl %eax, ap_next_slot
    cmpl $AP_MAX, %eax
    jae 2f /* no stack left for this one: smp.c sees ap_next_slot > AP_MAX */
    leal 1(%eax), %ecx
    shll $AP_STACK_SHIFT, %ecx
    addl $ap_stacks, %ecx
    movl %ecx, %esp
    pushl %eax
    call ap_main
2:  cli
    hlt
    jmp 2b

    .section .note.GNU-stack, "", @progbits
