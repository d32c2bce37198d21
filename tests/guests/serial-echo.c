/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * serial-echo: interrupt-driven COM1 in both directions. Receive: IER.RDI with MCR.OUT2,
 * IRQ4 through the 8259 (or the IOAPIC), the CPU asleep in hlt between bytes. Transmit:
 * every character after "ready" goes through a ring drained by the THRE interrupt.
 * Each received byte is echoed uppercased until a '\n' or '\r' arrives.
 *
 *   irq=pic|ioapic   interrupt path (default pic)
 *   timeout=MS       how long to wait for each byte (default 10000)
 *   max=N            fail if more than N bytes arrive before the terminator (default 4096)
 *
 * Prints "serial-echo: ready" once it can receive; feed the input after that. Exit codes:
 * 0 pass, 1 no RX interrupt, 2 no THRE interrupt, 3 timed out waiting for input, 4 more than
 * max bytes, 5 line status error (overrun...), 6 transmit did not drain, 7 interrupt
 * condition that reading IIR never cleared.
 */
#include "rt.h"

#define RING 256 /* power of two */

static volatile uint8_t rx_ring[RING], tx_ring[RING];
static volatile uint32_t rx_head, rx_tail, tx_head, tx_tail;
static volatile uint32_t rx_irqs, thre_irqs, line_errors, last_lsr, rx_throttled;
static volatile uint8_t ier;
static unsigned tx_burst = 1;

static void tx_fill(void)
{
    for (unsigned i = 0; i < tx_burst && tx_tail != tx_head; i++)
        outb(COM1 + UART_THR, tx_ring[tx_tail++ % RING]);
    if (tx_tail == tx_head) {
        ier &= (uint8_t)~UART_IER_THRI;
        outb(COM1 + UART_IER, ier);
    }
}

static void uart_isr(struct frame *f)
{
    for (int round = 0; round < 64; round++) {
        uint8_t iir = inb(COM1 + UART_IIR);
        if (iir & UART_IIR_NO_INT)
            return;
        switch (iir & UART_IIR_ID) {
        case UART_IIR_RLSI:
            last_lsr = inb(COM1 + UART_LSR);
            line_errors++;
            break;
        case UART_IIR_RDI:
        case UART_IIR_CTI:
            rx_irqs++;
            /*
             * A VMM may refill the FIFO as fast as we read it, so stop at a full ring and
             * leave the rest in the UART (RDI off) until main() makes room.
             */
            while (inb(COM1 + UART_LSR) & UART_LSR_DR) {
                if (rx_head - rx_tail == RING) {
                    rx_throttled++;
                    ier &= (uint8_t)~UART_IER_RDI;
                    outb(COM1 + UART_IER, ier);
                    break;
                }
                rx_ring[rx_head++ % RING] = inb(COM1 + UART_RBR);
            }
            break;
        case UART_IIR_THRI:
            thre_irqs++;
            tx_fill();
            break;
        default: /* modem status */
            inb(COM1 + UART_MSR);
            break;
        }
    }
    fail(7, "UART keeps reporting an interrupt (IIR 0x%x) after 64 rounds", inb(COM1 + UART_IIR));
}

static bool tx_has_room(void *arg)
{
    return tx_head - tx_tail < RING;
}

static bool tx_drained(void *arg)
{
    return tx_head == tx_tail && (inb(COM1 + UART_LSR) & UART_LSR_TEMT);
}

static bool rx_ready(void *arg)
{
    return rx_head != rx_tail;
}

static void tx_byte(char c)
{
    if (!wait_for(tx_has_room, NULL, 5000))
        fail(6, "transmit ring stayed full for 5 s (%u THRE interrupts so far)", thre_irqs);
    uint32_t flags = irq_save();
    tx_ring[tx_head++ % RING] = (uint8_t)c;
    if (!(ier & UART_IER_THRI)) {
        /* A 16550 raises THRE at once when the interrupt is enabled with THR empty. */
        ier |= UART_IER_THRI;
        outb(COM1 + UART_IER, ier);
    }
    irq_restore(flags);
}

static void tx_putc(char c)
{
    if (c == '\n')
        tx_byte('\r');
    tx_byte(c);
}

int main(void)
{
    enum irq_mode mode = irq_mode_from_cmdline();
    uint32_t timeout = arg_u32("timeout", 10000);
    uint32_t max = arg_u32("max", 4096);
    uint32_t count = 0;

    irq_init(mode);
    timebase_start(100);

    /* IIR bits 7:6 read 11 when the FIFOs are on: then one THRE interrupt may refill 16. */
    if ((inb(COM1 + UART_IIR) & 0xc0) == 0xc0)
        tx_burst = 16;
    outb(COM1 + UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
    for (int n = 0; n < 64 && (inb(COM1 + UART_LSR) & UART_LSR_DR); n++)
        inb(COM1 + UART_RBR);
    irq_attach(COM1_IRQ, uart_isr);
    ier = UART_IER_RDI | UART_IER_RLSI;
    outb(COM1 + UART_IER, ier);

    console_putc = tx_putc;
    kprintf("serial-echo: ready (irq=%s, tx burst %u)\n", irq_mode_name(), tx_burst);

    for (;;) {
        if (!wait_for(rx_ready, NULL, timeout))
            fail(3, "no input for %u ms after %u bytes (%u RX interrupts)", timeout, count,
                 rx_irqs);
        cli();
        char c = (char)rx_ring[rx_tail++ % RING];
        if (!(ier & UART_IER_RDI) && rx_head - rx_tail <= RING / 2) {
            /* Re-enabling RDI with data waiting raises the interrupt again. */
            ier |= UART_IER_RDI;
            outb(COM1 + UART_IER, ier);
        }
        sti();
        if (c == '\n' || c == '\r')
            break;
        if (++count > max)
            fail(4, "more than %u bytes without a line end", max);
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        tx_putc(c);
    }
    kprintf("\nserial-echo: %u bytes echoed; %u RX and %u THRE interrupts, %u throttles\n", count,
            rx_irqs, thre_irqs, rx_throttled);
    if (!wait_for(tx_drained, NULL, 5000))
        fail(6, "transmit ring did not drain (%u bytes left)", tx_head - tx_tail);

    cli();
    console_putc = serial_putc;
    outb(COM1 + UART_IER, 0);
    if (line_errors)
        fail(5, "%u line status interrupts, last LSR 0x%x", line_errors, last_lsr);
    if (!rx_irqs)
        fail(1, "bytes arrived without an RX interrupt");
    if (!thre_irqs)
        fail(2, "output drained without a THRE interrupt");
    kprintf("serial-echo: PASS\n");
    return EXIT_PASS;
}
