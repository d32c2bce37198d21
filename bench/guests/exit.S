/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The exit benchmark's guest: N_EXITS writes to port 0x80 (each one a trip
 * to the VMM), then a write of 0 to the test-exit port 0xf4. With IDLE it
 * halts forever instead, for memory measurements of an idle machine.
 *
 * The loop is the one bench/kvm-floor.c runs (out; dec; jnz), so the guest
 * work per exit is the same everywhere and only the VMM's share differs.
 * Guest instructions are very slow on nested KVM; keep this tiny.
 *
 * The same code boots two ways, both in flat 32-bit protected mode with
 * paging off: through a multiboot v1 header (terrarium-run, QEMU -M pc), or,
 * with PVH defined, through a Xen PVH entry note (QEMU -M microvm, which
 * has no multiboot loader without option ROMs).
 *
 * With FIRST_BYTE the guest's first act is one byte written to the debug
 * console port 0x402, which every VMM in the benchmark passes on to its
 * standard output at once: the benchmark times its arrival as the moment
 * the guest's first exit was handled.
 */
#ifndef N_EXITS
#define N_EXITS 0
#endif

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0 /* an ELF image; no memory map or video mode wanted */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define POST_PORT 0x80
#define TEST_EXIT_PORT 0xf4
#define DEBUGCON_PORT 0x402

#ifdef PVH
    .section .note.Xen, "a", @note
    .p2align 2
    .long 2f - 1f /* name size */
    .long 4f - 3f /* descriptor size */
    .long XEN_ELFNOTE_PHYS32_ENTRY
1:  .asciz "Xen"
2:  .p2align 2
3:  .long _start
4:  .p2align 2
#endif

    .text
    .code32
#ifndef PVH
    .p2align 2
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
#endif

    .globl _start
_start:
    cli
#ifdef FIRST_BYTE
    mov $DEBUGCON_PORT, %dx
    mov $0x21, %al
    out %al, %dx
#endif
#if N_EXITS > 0
    mov $N_EXITS, %ecx
1:  out %al, $POST_PORT
    dec %ecx
    jnz 1b
#endif
#ifndef IDLE
    xor %eax, %eax
    out %eax, $TEST_EXIT_PORT
#endif
    /* Interrupts stay off: nothing may wake us, and there is no IDT. */
2:  hlt
    jmp 2b
