/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The shared runtime of the test guests: multiboot entry (crt0.S), serial console and
 * printf, command line, exit through the test-exit port, IDT, 8259 PIC, IOAPIC, LAPIC and
 * the PIT. Every guest is a `int main(void)`; its return value is the exit code.
 */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

/* Exit codes shared by all guests. 1..0x3f belong to each guest (see its header comment). */
#define EXIT_PASS 0
#define EXIT_EXCEPTION 0x40      /* + vector: an unexpected CPU exception (0x40..0x5f) */
#define EXIT_UNEXPECTED_IRQ 0x60 /* an interrupt on a vector nobody expects */
#define EXIT_SPURIOUS_IRQ 0x61   /* 8259 IRQ7/15 with no ISR bit, or the LAPIC spurious vector */
#define EXIT_BAD_BOOT 0x62       /* not entered by a multiboot loader */
#define EXIT_BAD_ARGS 0x63       /* a command-line argument we cannot parse */
#define EXIT_NO_EXIT_PORT 0x64   /* never seen by anyone: the exit port did not stop the VM */

/* The test-exit port (terrarium-run --test-exit, QEMU isa-debug-exit). */
#define EXIT_PORT 0xf4

/* Vector map: CPU exceptions 0..31, ISA IRQs at 0x20 + irq, LAPIC sources above. */
#define VEC_ISA_BASE 0x20
#define VEC_LAPIC_TIMER 0x40
#define VEC_WATCHDOG 0x41
#define VEC_LAPIC_ERROR 0xfe
#define VEC_LAPIC_SPURIOUS 0xff

/* COM1 16550A */
#define COM1 0x3f8
#define UART_RBR 0 /* DLAB=0, read */
#define UART_THR 0 /* DLAB=0, write */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_IER_RDI 0x01  /* received data available */
#define UART_IER_THRI 0x02 /* transmitter holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IIR_NO_INT 0x01
#define UART_IIR_ID 0x0e
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_CTI 0x0c /* character timeout (FIFO mode) */
#define UART_LCR_DLAB 0x80
#define UART_LCR_8N1 0x03
#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT2 0x08 /* gates the UART's interrupt line on PCs */
#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define COM1_IRQ 4

/* 8259A pair */
#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIC_EOI 0x20
#define PIC_READ_ISR 0x0b

/* 8254 PIT */
#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define PIT_HZ 1193182u
#define PIT_IRQ 0

/* Local APIC (xAPIC MMIO) */
#define LAPIC_BASE 0xfee00000u
#define LAPIC_ID 0x020
#define LAPIC_VERSION 0x030
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_ISR 0x100 /* 8 registers, 0x10 apart */
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_CCR 0x390
#define LAPIC_TIMER_DCR 0x3e0
#define LAPIC_SVR_ENABLE 0x100
#define LAPIC_LVT_MASKED 0x10000
#define LAPIC_LVT_DM_NMI 0x400
#define LAPIC_LVT_DM_EXTINT 0x700
#define LAPIC_TIMER_ONESHOT 0x00000
#define LAPIC_TIMER_PERIODIC 0x20000
#define LAPIC_TIMER_TSC_DEADLINE 0x40000
#define LAPIC_ICR_BUSY 0x1000
#define MSR_APIC_BASE 0x1b
#define MSR_APIC_BASE_ENABLE 0x800
#define MSR_TSC_DEADLINE 0x6e0

/* IOAPIC */
#define IOAPIC_BASE 0xfec00000u
#define IOAPIC_REG_VER 0x01
#define IOAPIC_REG_REDIR 0x10
#define IOAPIC_REDIR_MASKED 0x10000

/* crt0.S */
extern uint8_t gdt[], gdt_desc[];
void isr_stubs(void);

/* runtime.c */
int main(void);
__attribute__((noreturn)) void guest_exit(uint32_t code);
__attribute__((noreturn, format(printf, 2, 3))) void fail(uint32_t code, const char *fmt, ...);
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* The multiboot command line (a private copy), and key=value lookups in it. */
const char *cmdline(void);
/* Points at the value of key= (terminated by a space or NUL) or returns NULL. */
const char *arg_find(const char *key, size_t *len);
bool arg_is(const char *key, const char *value);
/* Decimal or 0x-hex; a malformed value fails the guest with EXIT_BAD_ARGS. */
uint32_t arg_u32(const char *key, uint32_t def);
/* The first multiboot module, [start, end) in guest memory; both 0 without one. */
extern uint32_t rt_mod_start, rt_mod_end;

/* console.c: polled COM1 output, usable from any CPU and from handlers. */
void serial_init(void);
void serial_putc(char c);
void serial_flush(void);
void kputs(const char *s);
__attribute__((format(printf, 1, 2))) void kprintf(const char *fmt, ...);
void kvprintf(const char *fmt, va_list ap);
/* Where kprintf's characters go: the polled writer unless a guest installs its own. */
extern void (*console_putc)(char c);

/* interrupts.c */
struct frame {
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax; /* pushal */
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
};
typedef void (*isr_fn)(struct frame *f);

void idt_init(void);
void idt_load(void); /* on APs: the IDT built by the boot CPU */
void idt_set(uint8_t vector, isr_fn fn);

enum irq_mode { IRQ_MODE_PIC, IRQ_MODE_IOAPIC };
/* irq=pic (default) or irq=ioapic from the command line. */
enum irq_mode irq_mode_from_cmdline(void);
/*
 * Masks every 8259 line (remapped to VEC_ISA_BASE) and the IOAPIC, and enables the local
 * APIC: in PIC mode LINT0 is set to ExtINT (virtual wire) so 8259 interrupts reach the CPU
 * whatever the reset state of LVT0; in IOAPIC mode LINT0 is masked.
 */
void irq_init(enum irq_mode mode);
/* Installs fn for ISA IRQ irq and unmasks it; the dispatcher sends the EOI. */
void irq_attach(unsigned irq, isr_fn fn);
void irq_detach(unsigned irq);
const char *irq_mode_name(void);

bool have_lapic(void);
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t val);
uint32_t lapic_id(void);
void lapic_eoi(void);
/* The ISA IRQ number's IOAPIC input pin on a PC: IRQ0 arrives on pin 2. */
unsigned ioapic_pin_for_isa(unsigned irq);
uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t val);

/* timer.c: PIT channel 0 as a millisecond timebase for timeouts (never a spin). */
void pit_periodic(uint32_t hz);
void pit_oneshot(uint16_t count);
uint16_t pit_read_count(void);
/* Read-back status byte of channel 0 (bit 7: OUT pin, bits 3..1: mode). */
uint8_t pit_read_status(void);
/* Starts the PIT at hz through the current irq mode and counts in timebase_ticks. */
void timebase_start(uint32_t hz);
void timebase_stop(void);
uint32_t timebase_ms(void);
extern volatile uint32_t timebase_ticks;
/*
 * Sleeps with hlt until cond(arg) holds or timeout_ms of timebase time passed; cond is
 * evaluated with interrupts disabled. cond may be NULL (a plain sleep). Returns cond's last
 * value (true for a plain sleep).
 */
bool wait_for(bool (*cond)(void *arg), void *arg, uint32_t timeout_ms);

#endif
