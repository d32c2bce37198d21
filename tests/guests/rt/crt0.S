/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Multiboot (v1) entry of every test guest. The loader leaves us in flat 32-bit protected
 * mode with paging off, EAX = 0x2BADB002 and EBX = the multiboot information; we trust
 * nothing else it set up: our own GDT, segments, stack and zeroed .bss come first.
 */

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000000 /* ELF image, no requirements: works with any loader */

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .text
    .code32
    .globl _start
_start:
    cli
    cld
    movl %eax, %esi /* survives the .bss clear below, as does %ebx */
    lgdt gdt_desc
    ljmp $0x08, $1f
1:  movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl $stack_top, %esp

    /* A warm reset reloads the image but keeps RAM: never rely on the loader for .bss. */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl

    pushl $0
    popfl
    pushl %ebx
    pushl %esi
    call rt_start
2:  cli
    hlt
    jmp 2b

/*
 * 256 interrupt stubs, 16 bytes apart so the IDT can compute their addresses. Each pushes
 * a zero where the CPU pushes no error code, then its vector number.
 */
    .balign 16
    .globl isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushl $0
    .endif
    pushl $vec
    jmp isr_common
    .set vec, vec + 1
    .endr

isr_common:
    pushal
    cld
    movl %esp, %eax
    pushl %eax
    call isr_dispatch
    addl $4, %esp
    popal
    addl $8, %esp /* vector and error code */
    /*
     * Return without IRET. Our frames are always same-privilege with CS = 0x08, so
     * "popfl; ret" is equivalent; and the /dev/kvm of our development machines runs guest
     * code through KVM's instruction emulator, which implements IRET (and INT n) in real
     * mode only. Rearrange EIP, CS, EFLAGS into EFLAGS, EIP and drop a slot.
     */
    pushl %eax
    movl 4(%esp), %eax  /* EIP */
    xchgl %eax, 12(%esp) /* EFLAGS slot := EIP, eax := EFLAGS */
    movl %eax, 8(%esp)  /* CS slot := EFLAGS */
    popl %eax
    addl $4, %esp
    popfl /* may set IF: an interrupt taken before ret nests below the EIP slot */
    ret

    .section .data
    .balign 8
    .globl gdt, gdt_desc
gdt:
    .quad 0
    .quad 0x00cf9b000000ffff /* 0x08: code, base 0, 4 GiB, 32-bit, accessed */
    .quad 0x00cf93000000ffff /* 0x10: data, base 0, 4 GiB, accessed */
gdt_end:
    .balign 4
    .word 0
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .section .bss
    .balign 16
stack:
    .skip 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
