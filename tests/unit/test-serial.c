/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The 16550A model driven through its ops, with a fake IRQ sink and output capture. */
#include <pthread.h>
#include <stdbool.h>

#include "hw/serial.h"
#include "test.h"

/* Fake IRQ sink: records every level change the model makes. */
struct irq_rec {
    int level;
    int changes[256];
    unsigned nchanges;
};

static void rec_set_level(struct vmm_irq *irq, int level)
{
    struct irq_rec *r = irq->opaque;
    r->level = level;
    if (r->nchanges < 256)
        r->changes[r->nchanges++] = level;
}

static const struct vmm_irq_ops rec_ops = {.set_level = rec_set_level};

/* Output capture: the bytes and how many callback calls delivered them. */
struct out_rec {
    uint8_t buf[1024];
    size_t len;
    unsigned calls;
};

static void out_capture(void *opaque, const uint8_t *buf, size_t len)
{
    struct out_rec *o = opaque;
    for (size_t i = 0; i < len && o->len < sizeof(o->buf); i++)
        o->buf[o->len++] = buf[i];
    o->calls++;
}

struct fixture {
    struct vmm_serial s;
    struct vmm_irq irq;
    struct irq_rec rec;
    struct out_rec out;
    unsigned notified;
};

static void on_rx_space(void *opaque)
{
    struct fixture *f = opaque;
    f->notified++;
}

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->irq = (struct vmm_irq){.ops = &rec_ops, .opaque = &f->rec, .line = 4};
    vmm_serial_init(&f->s, &f->irq, out_capture, &f->out);
    vmm_serial_set_rx_notify(&f->s, on_rx_space, f);
}

static void teardown(struct fixture *f)
{
    vmm_serial_fini(&f->s);
}

static uint8_t rd(struct fixture *f, unsigned off)
{
    return (uint8_t)vmm_serial_ops.read(&f->s, off, 1);
}

static void wr(struct fixture *f, unsigned off, uint8_t val)
{
    vmm_serial_ops.write(&f->s, off, 1, val);
}

static void test_power_on(void)
{
    struct fixture f;
    setup(&f);
    CHECK_EQ(rd(&f, UART_IER), 0);
    CHECK_EQ(rd(&f, UART_IIR), UART_IIR_NO_INT);
    CHECK_EQ(rd(&f, UART_LCR), 0);
    CHECK_EQ(rd(&f, UART_MCR), 0);
    CHECK_EQ(rd(&f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
    /* A ready peer, no deltas: Linux transmits only with CTS (and DSR/DCD) seen. */
    CHECK_EQ(rd(&f, UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
    CHECK_EQ(f.rec.nchanges, 0);
    CHECK_EQ(f.out.len, 0);
    teardown(&f);
}

/* What drivers/tty/serial/8250 autoconfig() does on a port it does not know yet. */
static void test_linux_probe(void)
{
    struct fixture f;
    setup(&f);

    /* IER read/write test: only the low nibble exists (bit 6 would mean an XScale UART). */
    wr(&f, UART_IER, 0);
    CHECK_EQ(rd(&f, UART_IER) & 0x0f, 0);
    wr(&f, UART_IER, 0x0f);
    CHECK_EQ(rd(&f, UART_IER), 0x0f);
    wr(&f, UART_IER, 0xff);
    CHECK_EQ(rd(&f, UART_IER), 0x0f);
    wr(&f, UART_IER, 0);

    /* Scratch register holds any value. */
    wr(&f, UART_SCR, 0xa5);
    CHECK_EQ(rd(&f, UART_SCR), 0xa5);
    wr(&f, UART_SCR, 0x5a);
    CHECK_EQ(rd(&f, UART_SCR), 0x5a);

    /* Loopback test: MCR = LOOP | OUT2 | RTS must read back DCD | CTS in MSR[7:4]. */
    uint8_t save_mcr = rd(&f, UART_MCR);
    wr(&f, UART_MCR, UART_MCR_LOOP | 0x0a);
    CHECK_EQ(rd(&f, UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_CTS);
    wr(&f, UART_MCR, save_mcr);
    CHECK_EQ(rd(&f, UART_MSR) & 0xf0, UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);

    /* FIFO detection: IIR[7:6] == 3 means a 16550A with working FIFOs. */
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO);
    CHECK_EQ(rd(&f, UART_IIR) >> 6, 3);

    /* No EFR behind LCR=0xBF (reads IIR, non-zero): not a 16650. */
    wr(&f, UART_LCR, 0xbf);
    CHECK(rd(&f, UART_FCR) != 0);
    /* No NS SuperIO EXCR1 behind LCR=0xE0: toggling MCR.LOOP does not show at offset 2. */
    wr(&f, UART_LCR, 0);
    uint8_t mcr = rd(&f, UART_MCR);
    wr(&f, UART_LCR, 0xe0);
    uint8_t excr1_a = rd(&f, 2);
    wr(&f, UART_LCR, 0);
    wr(&f, UART_MCR, mcr ^ UART_MCR_LOOP);
    wr(&f, UART_LCR, 0xe0);
    uint8_t excr1_b = rd(&f, 2);
    wr(&f, UART_LCR, 0);
    wr(&f, UART_MCR, mcr);
    CHECK_EQ((excr1_a ^ excr1_b) & UART_MCR_LOOP, 0);

    /* No 64-byte FIFO (TI16C750): IIR bit 5 stays clear with or without DLAB. */
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO | 0x20);
    CHECK_EQ(rd(&f, UART_IIR) & 0xe0, 0xc0);
    wr(&f, UART_LCR, UART_LCR_DLAB);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO | 0x20);
    CHECK_EQ(rd(&f, UART_IIR) & 0xe0, 0xc0);
    wr(&f, UART_LCR, 0);

    /* FIFO off: IIR[7:6] back to 0. */
    wr(&f, UART_FCR, 0);
    CHECK_EQ(rd(&f, UART_IIR), UART_IIR_NO_INT);
    CHECK_EQ(f.out.len, 0);
    teardown(&f);
}

static void test_divisor_latch(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_IER, UART_IER_ERBFI);
    wr(&f, UART_LCR, UART_LCR_DLAB | 0x03);
    wr(&f, UART_DLL, 0x01);
    wr(&f, UART_DLM, 0x02);
    CHECK_EQ(rd(&f, UART_DLL), 0x01);
    CHECK_EQ(rd(&f, UART_DLM), 0x02);
    CHECK_EQ(rd(&f, UART_LCR), UART_LCR_DLAB | 0x03);
    /* Divisor writes are neither output nor IER changes. */
    CHECK_EQ(f.out.len, 0);
    wr(&f, UART_LCR, 0x03);
    CHECK_EQ(rd(&f, UART_IER), UART_IER_ERBFI);
    wr(&f, UART_THR, 'x');
    CHECK_EQ(f.out.len, 1);
    CHECK_EQ(f.out.buf[0], 'x');
    /* ... and THR/IER traffic leaves the divisor alone. */
    wr(&f, UART_IER, 0);
    wr(&f, UART_LCR, UART_LCR_DLAB | 0x03);
    CHECK_EQ(rd(&f, UART_DLL), 0x01);
    CHECK_EQ(rd(&f, UART_DLM), 0x02);
    /* A received byte is not readable through DLL. */
    wr(&f, UART_LCR, 0x03);
    CHECK_EQ(vmm_serial_receive(&f.s, (const uint8_t *)"q", 1), 1);
    wr(&f, UART_LCR, UART_LCR_DLAB | 0x03);
    CHECK_EQ(rd(&f, UART_DLL), 0x01);
    CHECK(rd(&f, UART_LSR) & UART_LSR_DR);
    wr(&f, UART_LCR, 0x03);
    CHECK_EQ(rd(&f, UART_RBR), 'q');
    teardown(&f);
}

static void test_tx_order(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO);
    const char *msg = "Hello, 16550A!\r\n";
    for (const char *p = msg; *p; p++)
        wr(&f, UART_THR, (uint8_t)*p);
    CHECK_EQ(f.out.len, strlen(msg));
    CHECK(memcmp(f.out.buf, msg, strlen(msg)) == 0);
    /* Flushed on every write: nothing waits for more bytes. */
    CHECK_EQ(f.out.calls, strlen(msg));
    CHECK_EQ(rd(&f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);

    /* 16450 mode too. */
    wr(&f, UART_FCR, 0);
    wr(&f, UART_THR, 'z');
    CHECK_EQ(f.out.len, strlen(msg) + 1);
    CHECK_EQ(f.out.buf[strlen(msg)], 'z');
    teardown(&f);
}

static void test_thre_interrupt(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO);
    wr(&f, UART_MCR, UART_MCR_OUT2 | UART_MCR_RTS | UART_MCR_DTR);
    CHECK_EQ(f.rec.level, 0);

    /* Enabling ETBEI with THR empty raises THRE. */
    wr(&f, UART_IER, UART_IER_ETBEI);
    CHECK_EQ(f.rec.level, 1);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_THRI);
    /* Reading IIR while THRE is the reported source clears it. */
    CHECK_EQ(f.rec.level, 0);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_NO_INT);

    /* Rewriting IER with ETBEI already set is not an enable: no new THRE. */
    wr(&f, UART_IER, UART_IER_ETBEI);
    CHECK_EQ(f.rec.level, 0);
    /* Off and on again re-raises it (Linux's UART_BUG_THRE test needs this). */
    wr(&f, UART_IER, 0);
    wr(&f, UART_IER, UART_IER_ETBEI);
    CHECK_EQ(f.rec.level, 1);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_THRI);

    /* A THR write raises THRE again once the byte is out. */
    unsigned n0 = f.rec.nchanges;
    wr(&f, UART_THR, 'a');
    CHECK_EQ(f.rec.level, 1);
    CHECK_EQ(f.rec.nchanges, n0 + 1);
    /* While pending, a THR write clears it and re-raises: a fresh edge (low, then high). */
    n0 = f.rec.nchanges;
    wr(&f, UART_THR, 'b');
    CHECK_EQ(f.rec.nchanges, n0 + 2);
    CHECK_EQ(f.rec.changes[n0], 0);
    CHECK_EQ(f.rec.changes[n0 + 1], 1);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_THRI);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_NO_INT);

    /* Disabling ETBEI masks it. */
    wr(&f, UART_THR, 'c');
    CHECK_EQ(f.rec.level, 1);
    wr(&f, UART_IER, 0);
    CHECK_EQ(f.rec.level, 0);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_NO_INT);
    CHECK_EQ(f.out.len, 3);
    teardown(&f);
}

static void test_ier_masks_and_out2(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO);
    CHECK_EQ(vmm_serial_receive(&f.s, (const uint8_t *)"x", 1), 1);

    /* Data pending but ERBFI off: nothing reported, line low. */
    wr(&f, UART_MCR, UART_MCR_OUT2);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_NO_INT);
    CHECK_EQ(f.rec.level, 0);
    /* Only THRE enabled: THRE, not data. */
    wr(&f, UART_IER, UART_IER_ETBEI);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_THRI);
    wr(&f, UART_IER, UART_IER_ERBFI);
    CHECK_EQ(f.rec.level, 1);

    /* OUT2 gates the line; IIR still reports the source (one byte meets trigger 1). */
    wr(&f, UART_MCR, 0);
    CHECK_EQ(f.rec.level, 0);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_RDI);
    wr(&f, UART_MCR, UART_MCR_OUT2 | UART_MCR_DTR | UART_MCR_RTS);
    CHECK_EQ(f.rec.level, 1);
    /* Loopback forces OUT2 inactive on the pin: no IRQ even with the bit set. */
    wr(&f, UART_MCR, UART_MCR_OUT2 | UART_MCR_LOOP);
    CHECK_EQ(f.rec.level, 0);
    wr(&f, UART_MCR, UART_MCR_OUT2);
    CHECK_EQ(f.rec.level, 1);

    /* Draining the data drops it. */
    CHECK_EQ(rd(&f, UART_RBR), 'x');
    CHECK_EQ(f.rec.level, 0);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_NO_INT);
    teardown(&f);
}

static void test_rx_fifo_and_backpressure(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_TRIGGER_14);

    uint8_t in[20];
    for (unsigned i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(0x40 + i);
    CHECK_EQ(vmm_serial_rx_space(&f.s), 16);
    CHECK_EQ(vmm_serial_receive(&f.s, in, sizeof(in)), 16);
    CHECK_EQ(vmm_serial_rx_space(&f.s), 0);
    CHECK_EQ(vmm_serial_receive(&f.s, in + 16, 4), 0);
    /* Host input is held back, never overrun. */
    CHECK_EQ(rd(&f, UART_LSR), UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT);
    CHECK_EQ(f.notified, 0);

    /* The first byte the guest takes makes room: the host hears about it once. */
    CHECK_EQ(rd(&f, UART_RBR), 0x40);
    CHECK_EQ(f.notified, 1);
    CHECK_EQ(rd(&f, UART_RBR), 0x41);
    CHECK_EQ(f.notified, 1);
    CHECK_EQ(vmm_serial_receive(&f.s, in + 16, 4), 2);
    CHECK_EQ(rd(&f, UART_RBR), 0x42);
    CHECK_EQ(f.notified, 2);
    CHECK_EQ(vmm_serial_receive(&f.s, in + 18, 2), 1);

    /* Everything arrives in order. */
    for (unsigned i = 3; i < 19; i++)
        CHECK_EQ(rd(&f, UART_RBR), 0x40 + i);
    CHECK_EQ(rd(&f, UART_LSR) & UART_LSR_DR, 0);
    CHECK_EQ(vmm_serial_rx_space(&f.s), 16);

    /* Filling it exactly also leaves the host waiting: it hears when room appears. */
    unsigned before = f.notified;
    CHECK_EQ(vmm_serial_receive(&f.s, in, 16), 16);
    CHECK_EQ(f.notified, before);
    CHECK_EQ(rd(&f, UART_RBR), 0x40);
    CHECK_EQ(f.notified, before + 1);

    /* 16450 mode holds one byte. */
    wr(&f, UART_FCR, 0);
    CHECK_EQ(vmm_serial_receive(&f.s, in, 3), 1);
    CHECK_EQ(rd(&f, UART_LSR) & (UART_LSR_DR | UART_LSR_OE), UART_LSR_DR);
    CHECK_EQ(rd(&f, UART_RBR), 0x40);
    CHECK_EQ(rd(&f, UART_LSR) & UART_LSR_DR, 0);
    teardown(&f);
}

static void test_overrun(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO);
    wr(&f, UART_MCR, UART_MCR_LOOP);
    for (unsigned i = 0; i < 17; i++)
        wr(&f, UART_THR, (uint8_t)('A' + i));
    CHECK_EQ(f.out.len, 0);
    CHECK_EQ(rd(&f, UART_LSR), UART_LSR_OE | UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT);
    /* Reading LSR clears OE. */
    CHECK_EQ(rd(&f, UART_LSR), UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT);
    /* With FIFOs the 17th character is lost and the FIFO kept. */
    for (unsigned i = 0; i < 16; i++)
        CHECK_EQ(rd(&f, UART_RBR), 'A' + i);
    CHECK_EQ(rd(&f, UART_LSR) & UART_LSR_DR, 0);

    /* In 16450 mode the new character overwrites RBR. */
    wr(&f, UART_FCR, 0);
    wr(&f, UART_THR, '1');
    wr(&f, UART_THR, '2');
    CHECK_EQ(rd(&f, UART_LSR) & (UART_LSR_OE | UART_LSR_DR), UART_LSR_OE | UART_LSR_DR);
    CHECK_EQ(rd(&f, UART_RBR), '2');
    CHECK_EQ(rd(&f, UART_LSR) & (UART_LSR_OE | UART_LSR_DR), 0);
    teardown(&f);
}

static void test_trigger_levels(void)
{
    static const struct {
        uint8_t fcr;
        unsigned level;
    } cases[] = {
        {UART_FCR_TRIGGER_1, 1},
        {UART_FCR_TRIGGER_4, 4},
        {UART_FCR_TRIGGER_8, 8},
        {UART_FCR_TRIGGER_14, 14},
    };
    const uint8_t data[16] = "0123456789abcdef";

    for (unsigned c = 0; c < 4; c++) {
        struct fixture f;
        setup(&f);
        wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO | cases[c].fcr);
        wr(&f, UART_IER, UART_IER_ERBFI);
        wr(&f, UART_MCR, UART_MCR_OUT2);
        unsigned below = cases[c].level - 1;
        CHECK_EQ(vmm_serial_receive(&f.s, data, below), below);
        /* Below the trigger: character timeout (emulated as immediate) if any data at all. */
        CHECK_EQ(rd(&f, UART_IIR), 0xc0 | (below ? UART_IIR_CTI : UART_IIR_NO_INT));
        CHECK_EQ(f.rec.level, below ? 1 : 0);
        CHECK_EQ(vmm_serial_receive(&f.s, data + below, 1), 1);
        CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_RDI);
        CHECK_EQ(f.rec.level, 1);
        /* Reading one byte takes it below the trigger again (timeout unless empty). */
        CHECK_EQ(rd(&f, UART_RBR), '0');
        CHECK_EQ(rd(&f, UART_IIR), 0xc0 | (below ? UART_IIR_CTI : UART_IIR_NO_INT));
        teardown(&f);
    }

    /* 16450 mode: any byte is "data available", never a timeout, no FIFO bits. */
    struct fixture f;
    setup(&f);
    wr(&f, UART_IER, UART_IER_ERBFI);
    CHECK_EQ(vmm_serial_receive(&f.s, data, 1), 1);
    CHECK_EQ(rd(&f, UART_IIR), UART_IIR_RDI);
    teardown(&f);
}

static void test_iir_priority(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_TRIGGER_14);
    /* Loopback supplies every source: overrun, data, THRE and modem deltas. */
    wr(&f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
    rd(&f, UART_MSR); /* clear the deltas of entering loopback */
    for (unsigned i = 0; i < 17; i++)
        wr(&f, UART_THR, (uint8_t)i);
    wr(&f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_RTS); /* CTS rises: DCTS */
    wr(&f, UART_IER, UART_IER_MASK);

    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_RLSI);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_RLSI); /* IIR reads do not clear it */
    CHECK(rd(&f, UART_LSR) & UART_LSR_OE);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_RDI);
    for (unsigned i = 0; i < 3; i++)
        rd(&f, UART_RBR);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_CTI); /* 13 < 14 */
    for (unsigned i = 0; i < 13; i++)
        rd(&f, UART_RBR);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_THRI);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_MSI);
    CHECK_EQ(rd(&f, UART_MSR), UART_MSR_DCTS | UART_MSR_CTS | UART_MSR_DCD);
    CHECK_EQ(rd(&f, UART_IIR), 0xc0 | UART_IIR_NO_INT);
    /* The line stayed low throughout although OUT2 is set: loopback gates it. */
    CHECK_EQ(f.rec.nchanges, 0);
    teardown(&f);
}

static void test_fifo_reset(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO);
    CHECK_EQ(vmm_serial_receive(&f.s, (const uint8_t *)"abcde", 5), 5);
    /* TX reset alone leaves RX alone. */
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_XMIT);
    CHECK(rd(&f, UART_LSR) & UART_LSR_DR);
    CHECK_EQ(vmm_serial_rx_space(&f.s), 11);
    /* RX reset empties it and is self-clearing (a second write with FIFOs on keeps data). */
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
    CHECK_EQ(rd(&f, UART_LSR) & UART_LSR_DR, 0);
    CHECK_EQ(vmm_serial_rx_space(&f.s), 16);
    CHECK_EQ(vmm_serial_receive(&f.s, (const uint8_t *)"xy", 2), 2);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_TRIGGER_8);
    CHECK_EQ(rd(&f, UART_RBR), 'x');

    /* Other bits are ignored unless FCR0 is set in the same write; FIFOs go off and empty. */
    wr(&f, UART_FCR, UART_FCR_TRIGGER_14 | UART_FCR_CLEAR_RCVR);
    CHECK_EQ(rd(&f, UART_IIR) & 0xc0, 0);
    CHECK_EQ(rd(&f, UART_LSR) & UART_LSR_DR, 0);
    CHECK_EQ(vmm_serial_rx_space(&f.s), 1);
    /* Turning FIFOs on empties the holding register too. */
    CHECK_EQ(vmm_serial_receive(&f.s, (const uint8_t *)"z", 1), 1);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO);
    CHECK_EQ(rd(&f, UART_LSR) & UART_LSR_DR, 0);
    teardown(&f);
}

static void test_loopback(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO);
    wr(&f, UART_MCR, UART_MCR_LOOP);
    wr(&f, UART_THR, 'a');
    wr(&f, UART_THR, 'b');
    wr(&f, UART_THR, 'c');
    CHECK_EQ(f.out.len, 0);
    CHECK_EQ(rd(&f, UART_LSR), UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT);
    CHECK_EQ(rd(&f, UART_RBR), 'a');
    CHECK_EQ(rd(&f, UART_RBR), 'b');
    CHECK_EQ(rd(&f, UART_RBR), 'c');

    /* The serial input is disconnected: host bytes wait until loopback ends. */
    CHECK_EQ(vmm_serial_receive(&f.s, (const uint8_t *)"h", 1), 0);
    CHECK_EQ(f.notified, 0);
    wr(&f, UART_MCR, 0);
    CHECK_EQ(f.notified, 1);
    CHECK_EQ(vmm_serial_receive(&f.s, (const uint8_t *)"h", 1), 1);
    wr(&f, UART_THR, 'o');
    CHECK_EQ(f.out.len, 1);
    CHECK_EQ(f.out.buf[0], 'o');
    CHECK_EQ(rd(&f, UART_RBR), 'h');
    teardown(&f);
}

static void test_msr(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_IER, UART_IER_EDSSI);
    wr(&f, UART_MCR, UART_MCR_LOOP);
    /* Entering loopback drops CTS, DSR and DCD: three deltas. */
    CHECK_EQ(rd(&f, UART_IIR), UART_IIR_MSI);
    CHECK_EQ(rd(&f, UART_MSR), UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_DDCD);
    CHECK_EQ(rd(&f, UART_IIR), UART_IIR_NO_INT);
    CHECK_EQ(rd(&f, UART_MSR), 0);

    wr(&f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR);
    CHECK_EQ(rd(&f, UART_MSR), UART_MSR_DDSR | UART_MSR_DSR);
    /* RI rising is not a TERI; falling is. */
    wr(&f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT1);
    CHECK_EQ(rd(&f, UART_MSR), UART_MSR_DSR | UART_MSR_RI);
    wr(&f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR);
    CHECK_EQ(rd(&f, UART_MSR), UART_MSR_TERI | UART_MSR_DSR);
    wr(&f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT2);
    CHECK_EQ(rd(&f, UART_MSR), UART_MSR_DDCD | UART_MSR_DSR | UART_MSR_DCD);
    wr(&f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT2 | UART_MCR_RTS);
    CHECK_EQ(rd(&f, UART_MSR), UART_MSR_DCTS | UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);

    /* Leaving loopback: the lines read as a ready peer again. */
    wr(&f, UART_MCR, UART_MCR_OUT2);
    CHECK_EQ(rd(&f, UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
    /* Modem status has the lowest priority but still raises the line. */
    wr(&f, UART_MCR, UART_MCR_OUT2 | UART_MCR_LOOP | UART_MCR_RTS);
    wr(&f, UART_MCR, UART_MCR_OUT2);
    CHECK_EQ(f.rec.level, 1);
    rd(&f, UART_MSR);
    CHECK_EQ(f.rec.level, 0);
    teardown(&f);
}

static void test_wide_access(void)
{
    struct fixture f;
    setup(&f);
    /* A 16-bit write at DLL sets both latch bytes, as an ISA bus splits it. */
    wr(&f, UART_LCR, UART_LCR_DLAB);
    vmm_serial_ops.write(&f.s, UART_DLL, 2, 0x0201);
    CHECK_EQ(rd(&f, UART_DLL), 0x01);
    CHECK_EQ(rd(&f, UART_DLM), 0x02);
    CHECK_EQ(vmm_serial_ops.read(&f.s, UART_DLL, 2), 0x0201);
    wr(&f, UART_LCR, 0);
    wr(&f, UART_SCR, 0x77);
    /* Bytes past the last register read as ones and are dropped on write. */
    CHECK_EQ(vmm_serial_ops.read(&f.s, UART_SCR, 2), 0xff77);
    CHECK_EQ(vmm_serial_ops.read(&f.s, UART_LCR, 4), 0xb0600000);
    vmm_serial_ops.write(&f.s, UART_SCR, 4, 0x11223344);
    CHECK_EQ(rd(&f, UART_SCR), 0x44);
    CHECK_EQ(rd(&f, UART_LCR), 0);
    CHECK_EQ(vmm_serial_ops.read(&f.s, 8, 1), 0xff);
    CHECK_EQ(f.out.len, 0);
    teardown(&f);
}

static void test_reset(void)
{
    struct fixture f;
    setup(&f);
    wr(&f, UART_LCR, UART_LCR_DLAB);
    wr(&f, UART_DLL, 0x03);
    wr(&f, UART_LCR, 0x03);
    wr(&f, UART_FCR, UART_FCR_ENABLE_FIFO);
    wr(&f, UART_MCR, UART_MCR_OUT2);
    wr(&f, UART_IER, UART_IER_ETBEI | UART_IER_ERBFI);
    wr(&f, UART_SCR, 0x42);
    CHECK_EQ(vmm_serial_receive(&f.s, (const uint8_t *)"abc", 3), 3);
    CHECK_EQ(f.rec.level, 1);
    vmm_serial_reset(&f.s);
    CHECK_EQ(f.rec.level, 0);
    CHECK_EQ(rd(&f, UART_IER), 0);
    CHECK_EQ(rd(&f, UART_IIR), UART_IIR_NO_INT);
    CHECK_EQ(rd(&f, UART_LCR), 0);
    CHECK_EQ(rd(&f, UART_MCR), 0);
    CHECK_EQ(rd(&f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
    CHECK_EQ(rd(&f, UART_SCR), 0x42);
    wr(&f, UART_LCR, UART_LCR_DLAB);
    CHECK_EQ(rd(&f, UART_DLL), 0x03);
    teardown(&f);
}

/*
 * Output is delivered without the device lock: while one vCPU sits in a slow
 * output callback, another queues into the TX FIFO, host input still flows,
 * and the queued bytes come out after the first ones, in order.
 */
struct slow_out {
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool inside, release;
    struct out_rec rec;
};

static void out_slow(void *opaque, const uint8_t *buf, size_t len)
{
    struct slow_out *o = opaque;
    pthread_mutex_lock(&o->m);
    out_capture(&o->rec, buf, len);
    if (o->rec.calls == 1) {
        o->inside = true;
        pthread_cond_broadcast(&o->cv);
        while (!o->release)
            pthread_cond_wait(&o->cv, &o->m);
    }
    pthread_mutex_unlock(&o->m);
}

static struct vmm_serial *slow_dev;

static void *writer_thread(void *arg)
{
    vmm_serial_ops.write(slow_dev, UART_THR, 1, 'A');
    return arg;
}

static void test_output_unlocked(void)
{
    struct vmm_serial s;
    struct irq_rec rec = {0};
    struct vmm_irq irq = {.ops = &rec_ops, .opaque = &rec, .line = 4};
    struct slow_out o = {.m = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

    vmm_serial_init(&s, &irq, out_slow, &o);
    slow_dev = &s;
    vmm_serial_ops.write(&s, UART_FCR, 1, UART_FCR_ENABLE_FIFO);
    vmm_serial_ops.write(&s, UART_MCR, 1, UART_MCR_OUT2);
    vmm_serial_ops.write(&s, UART_IER, 1, UART_IER_ETBEI);
    CHECK_EQ(vmm_serial_ops.read(&s, UART_IIR, 1), 0xc0 | UART_IIR_THRI);

    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, writer_thread, NULL), 0);
    pthread_mutex_lock(&o.m);
    while (!o.inside)
        pthread_cond_wait(&o.cv, &o.m);
    pthread_mutex_unlock(&o.m);

    /* 'A' left the FIFO (THRE, interrupt pending) but is not out yet (no TEMT). */
    CHECK_EQ(vmm_serial_ops.read(&s, UART_LSR, 1), UART_LSR_THRE);
    CHECK_EQ(rec.level, 1);
    /* Writing THR clears the THRE interrupt; the bytes queue and LSR.THRE drops. */
    vmm_serial_ops.write(&s, UART_THR, 1, 'B');
    CHECK_EQ(rec.level, 0);
    CHECK_EQ(vmm_serial_ops.read(&s, UART_IIR, 1), 0xc0 | UART_IIR_NO_INT);
    vmm_serial_ops.write(&s, UART_THR, 1, 'C');
    CHECK_EQ(vmm_serial_ops.read(&s, UART_LSR, 1), 0);
    /* The host side is not blocked by the slow output. */
    CHECK_EQ(vmm_serial_receive(&s, (const uint8_t *)"r", 1), 1);
    CHECK_EQ(vmm_serial_ops.read(&s, UART_RBR, 1), 'r');

    pthread_mutex_lock(&o.m);
    o.release = true;
    pthread_cond_broadcast(&o.cv);
    pthread_mutex_unlock(&o.m);
    pthread_join(t, NULL);

    /* The writer flushed what queued behind it, in order, and THRE is back. */
    CHECK_EQ(o.rec.len, 3);
    CHECK(memcmp(o.rec.buf, "ABC", 3) == 0);
    CHECK_EQ(o.rec.calls, 2);
    CHECK_EQ(vmm_serial_ops.read(&s, UART_LSR, 1), UART_LSR_THRE | UART_LSR_TEMT);
    CHECK_EQ(rec.level, 1);
    CHECK_EQ(vmm_serial_ops.read(&s, UART_IIR, 1), 0xc0 | UART_IIR_THRI);
    vmm_serial_fini(&s);
}

/* An output callback may call back into the model: it runs without the device lock. */
static struct vmm_serial *reentrant_dev;
static uint8_t lsr_seen;

static void out_reentrant(void *opaque, const uint8_t *buf, size_t len)
{
    lsr_seen = (uint8_t)vmm_serial_ops.read(reentrant_dev, UART_LSR, 1);
    out_capture(opaque, buf, len);
}

static void test_output_reentrant(void)
{
    struct vmm_serial s;
    struct out_rec out = {0};
    vmm_serial_init(&s, NULL, out_reentrant, &out);
    reentrant_dev = &s;
    vmm_serial_ops.write(&s, UART_THR, 1, 'k');
    CHECK_EQ(out.len, 1);
    CHECK_EQ(lsr_seen, UART_LSR_THRE);
    CHECK_EQ(vmm_serial_ops.read(&s, UART_LSR, 1), UART_LSR_THRE | UART_LSR_TEMT);
    vmm_serial_fini(&s);
}

int main(void)
{
    RUN_TEST(test_power_on);
    RUN_TEST(test_linux_probe);
    RUN_TEST(test_divisor_latch);
    RUN_TEST(test_tx_order);
    RUN_TEST(test_thre_interrupt);
    RUN_TEST(test_ier_masks_and_out2);
    RUN_TEST(test_rx_fifo_and_backpressure);
    RUN_TEST(test_overrun);
    RUN_TEST(test_trigger_levels);
    RUN_TEST(test_iir_priority);
    RUN_TEST(test_fifo_reset);
    RUN_TEST(test_loopback);
    RUN_TEST(test_msr);
    RUN_TEST(test_wide_access);
    RUN_TEST(test_reset);
    RUN_TEST(test_output_unlocked);
    RUN_TEST(test_output_reentrant);
    return test_finish();
}
