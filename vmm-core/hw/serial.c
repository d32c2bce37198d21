/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * 16550A UART model. Pure: no VM, no fds, no logging, so it links alone into
 * its unit test. See serial.h for the threading contract.
 */
#include "hw/serial.h"

#include <string.h>

static const uint8_t rx_triggers[4] = {1, 4, 8, 14};

static bool fifo_enabled(const struct vmm_serial *s)
{
    return s->fcr & UART_FCR_ENABLE_FIFO;
}

static bool loopback(const struct vmm_serial *s)
{
    return s->mcr & UART_MCR_LOOP;
}

/* 16 with FIFOs on; 1 in 16450 mode (a single holding register each way). */
static unsigned fifo_capacity(const struct vmm_serial *s)
{
    return fifo_enabled(s) ? VMM_SERIAL_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct vmm_serial *s)
{
    return fifo_enabled(s) ? rx_triggers[s->fcr >> 6] : 1;
}

/* The serial input is disconnected in loopback, so the host cannot feed it then. */
static unsigned host_space(const struct vmm_serial *s)
{
    return loopback(s) ? 0 : fifo_capacity(s) - s->rx_count;
}

/*
 * The modem inputs, bits 7:4 of MSR. Outside loopback nothing is attached
 * that could drop them, so the UART sees a ready peer (CTS, DSR, DCD): Linux
 * holds transmission back otherwise. In loopback they are wired to the modem
 * outputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
 */
static uint8_t msr_lines(const struct vmm_serial *s)
{
    if (!loopback(s))
        return UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
    uint8_t v = 0;
    if (s->mcr & UART_MCR_RTS)
        v |= UART_MSR_CTS;
    if (s->mcr & UART_MCR_DTR)
        v |= UART_MSR_DSR;
    if (s->mcr & UART_MCR_OUT1)
        v |= UART_MSR_RI;
    if (s->mcr & UART_MCR_OUT2)
        v |= UART_MSR_DCD;
    return v;
}

static void latch_msr_deltas(struct vmm_serial *s, uint8_t before, uint8_t after)
{
    uint8_t changed = before ^ after;
    if (changed & UART_MSR_CTS)
        s->msr_deltas |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR)
        s->msr_deltas |= UART_MSR_DDSR;
    if ((before & UART_MSR_RI) && !(after & UART_MSR_RI))
        s->msr_deltas |= UART_MSR_TERI;
    if (changed & UART_MSR_DCD)
        s->msr_deltas |= UART_MSR_DDCD;
}

/* The highest-priority enabled source, as IIR bits 3:0. */
static uint8_t pending_source(const struct vmm_serial *s)
{
    if ((s->ier & UART_IER_ELSI) && (s->lsr_errors & UART_LSR_ERRORS))
        return UART_IIR_RLSI;
    if ((s->ier & UART_IER_ERBFI) && s->rx_count) {
        /*
         * A real 16550A raises the timeout after four idle character times;
         * with no line timing, data below the trigger level is "timed out" at
         * once, which is what a driver waiting for it needs.
         */
        if (fifo_enabled(s) && s->rx_count < rx_trigger(s))
            return UART_IIR_CTI;
        return UART_IIR_RDI;
    }
    if ((s->ier & UART_IER_ETBEI) && s->thre_pending)
        return UART_IIR_THRI;
    if ((s->ier & UART_IER_EDSSI) && s->msr_deltas)
        return UART_IIR_MSI;
    return UART_IIR_NO_INT;
}

/*
 * On a PC the UART's INTR reaches the interrupt controller only through a
 * buffer enabled by the OUT2 pin. Loopback forces the modem output pins
 * inactive, OUT2 included, so no interrupt leaves the card in loopback.
 */
static void update_irq(struct vmm_serial *s)
{
    int level = pending_source(s) != UART_IIR_NO_INT && (s->mcr & UART_MCR_OUT2) && !loopback(s);
    if (level != s->irq_level) {
        s->irq_level = level;
        vmm_irq_set(s->irq, level);
    }
}

static void rx_clear(struct vmm_serial *s)
{
    s->rx_head = 0;
    s->rx_count = 0;
}

static void tx_clear(struct vmm_serial *s)
{
    if (s->tx_count)
        s->thre_pending = true; /* THR just became empty */
    s->tx_count = 0;
}

/* A character completed reception (loopback or host input). */
static void rx_push(struct vmm_serial *s, uint8_t byte)
{
    if (s->rx_count == fifo_capacity(s)) {
        s->lsr_errors |= UART_LSR_OE;
        /*
         * With FIFOs the character in the shift register is lost and the
         * FIFO kept; in 16450 mode the new character overwrites RBR.
         */
        if (!fifo_enabled(s))
            s->rx_fifo[s->rx_head] = byte;
        return;
    }
    s->rx_fifo[(s->rx_head + s->rx_count) % VMM_SERIAL_FIFO_SIZE] = byte;
    s->rx_count++;
}

static uint8_t rx_pop(struct vmm_serial *s)
{
    if (s->rx_count) {
        s->rbr_last = s->rx_fifo[s->rx_head];
        s->rx_head = (s->rx_head + 1) % VMM_SERIAL_FIFO_SIZE;
        s->rx_count--;
    }
    return s->rbr_last;
}

static void write_thr(struct vmm_serial *s, uint8_t val)
{
    s->thre_pending = false;
    /* Lower the line even though THR empties again at once: edge-triggered PICs need the edge. */
    update_irq(s);
    if (loopback(s)) {
        rx_push(s, val);
        s->thre_pending = true;
    } else if (!s->out) {
        s->thre_pending = true;
    } else if (s->tx_count < fifo_capacity(s)) {
        /* serial_unlock() hands it to the output callback and raises THRE. */
        s->tx_fifo[s->tx_count++] = val;
    }
    /* else: the guest ignored LSR.THRE with the TX FIFO full; the byte is lost, as on hardware. */
}

static void write_fcr(struct vmm_serial *s, uint8_t val)
{
    /* FCR0 must be set for the other bits to be programmed; clearing it empties both FIFOs. */
    if (!(val & UART_FCR_ENABLE_FIFO)) {
        if (fifo_enabled(s)) {
            rx_clear(s);
            tx_clear(s);
        }
        s->fcr = 0;
        return;
    }
    if (!fifo_enabled(s)) {
        rx_clear(s);
        tx_clear(s);
    }
    if (val & UART_FCR_CLEAR_RCVR)
        rx_clear(s);
    if (val & UART_FCR_CLEAR_XMIT)
        tx_clear(s);
    s->fcr = val & (UART_FCR_ENABLE_FIFO | UART_FCR_DMA_SELECT | UART_FCR_TRIGGER_MASK);
}

static void write_reg(struct vmm_serial *s, unsigned off, uint8_t val)
{
    bool dlab = s->lcr & UART_LCR_DLAB;

    switch (off) {
    case UART_THR:
        if (dlab)
            s->dll = val;
        else
            write_thr(s, val);
        break;
    case UART_IER:
        if (dlab) {
            s->dlm = val;
        } else {
            uint8_t old = s->ier;
            s->ier = val & UART_IER_MASK;
            /* Enabling ETBEI while THR is empty raises THRE (Linux's startup test checks this). */
            if ((s->ier & UART_IER_ETBEI) && !(old & UART_IER_ETBEI) && !s->tx_count)
                s->thre_pending = true;
        }
        break;
    case UART_FCR:
        write_fcr(s, val);
        break;
    case UART_LCR:
        s->lcr = val;
        break;
    case UART_MCR: {
        uint8_t before = msr_lines(s);
        s->mcr = val & UART_MCR_MASK;
        latch_msr_deltas(s, before, msr_lines(s));
        break;
    }
    case UART_LSR:
    case UART_MSR:
        break; /* factory-test writes on real parts; ignored */
    case UART_SCR:
        s->scr = val;
        break;
    }
    update_irq(s);
}

static uint8_t read_reg(struct vmm_serial *s, unsigned off)
{
    bool dlab = s->lcr & UART_LCR_DLAB;
    uint8_t v = 0xff;

    switch (off) {
    case UART_RBR:
        v = dlab ? s->dll : rx_pop(s);
        break;
    case UART_IER:
        v = dlab ? s->dlm : s->ier;
        break;
    case UART_IIR: {
        uint8_t src = pending_source(s);
        v = src | (fifo_enabled(s) ? UART_IIR_FIFO_ENABLED : 0);
        if (src == UART_IIR_THRI)
            s->thre_pending = false;
        break;
    }
    case UART_LCR:
        v = s->lcr;
        break;
    case UART_MCR:
        v = s->mcr;
        break;
    case UART_LSR:
        v = s->lsr_errors;
        if (s->rx_count)
            v |= UART_LSR_DR;
        if (!s->tx_count) {
            v |= UART_LSR_THRE;
            if (!s->tx_busy)
                v |= UART_LSR_TEMT;
        }
        s->lsr_errors = 0;
        break;
    case UART_MSR:
        v = msr_lines(s) | s->msr_deltas;
        s->msr_deltas = 0;
        break;
    case UART_SCR:
        v = s->scr;
        break;
    }
    update_irq(s);
    return v;
}

static void serial_lock(struct vmm_serial *s)
{
    pthread_mutex_lock(&s->dev.lock);
}

/*
 * Ends a guest-side critical section: hands queued TX bytes to the output
 * callback with the lock dropped (one flusher at a time, so bytes stay in
 * order while others queue behind it), then tells the host if RX room it was
 * waiting for has appeared.
 */
static void serial_unlock(struct vmm_serial *s)
{
    while (s->tx_count && !s->tx_busy) {
        uint8_t buf[VMM_SERIAL_FIFO_SIZE];
        size_t n = s->tx_count;

        memcpy(buf, s->tx_fifo, n);
        s->tx_count = 0;
        s->tx_busy = true;
        s->thre_pending = true; /* the FIFO moved to the "shift register": THR is empty */
        update_irq(s);
        pthread_mutex_unlock(&s->dev.lock);
        s->out(s->out_opaque, buf, n);
        pthread_mutex_lock(&s->dev.lock);
        s->tx_busy = false;
    }

    vmm_serial_notify_fn notify = NULL;
    void *notify_opaque = NULL;
    if (s->host_waiting && host_space(s)) {
        s->host_waiting = false;
        notify = s->rx_notify;
        notify_opaque = s->rx_notify_opaque;
    }
    pthread_mutex_unlock(&s->dev.lock);
    if (notify)
        notify(notify_opaque);
}

static uint64_t serial_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_serial *s = opaque;
    uint64_t val = 0;

    if (size > 8)
        size = 8;
    serial_lock(s);
    for (unsigned i = 0; i < size; i++) {
        uint64_t o = off + i;
        uint8_t b = o < VMM_SERIAL_NREGS ? read_reg(s, (unsigned)o) : 0xff;
        val |= (uint64_t)b << (8 * i);
    }
    serial_unlock(s);
    return val;
}

static void serial_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_serial *s = opaque;

    if (size > 8)
        size = 8;
    serial_lock(s);
    for (unsigned i = 0; i < size; i++) {
        uint64_t o = off + i;
        if (o < VMM_SERIAL_NREGS)
            write_reg(s, (unsigned)o, (uint8_t)(val >> (8 * i)));
    }
    serial_unlock(s);
}

const struct vmm_io_ops vmm_serial_ops = {
    .read = serial_read,
    .write = serial_write,
};

static void reset_locked(struct vmm_serial *s)
{
    s->ier = 0;
    s->lcr = 0;
    s->mcr = 0;
    s->fcr = 0;
    s->lsr_errors = 0;
    s->msr_deltas = 0;
    s->thre_pending = false;
    rx_clear(s);
    s->tx_count = 0;
    update_irq(s);
}

void vmm_serial_init(struct vmm_serial *s, struct vmm_irq *irq, vmm_serial_out_fn out, void *opaque)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->dev.lock, NULL);
    s->irq = irq;
    s->out = out;
    s->out_opaque = opaque;
    s->dll = 0x0c; /* 9600 baud with the PC's 1.8432 MHz clock; firmware reprograms it */
    reset_locked(s);
}

void vmm_serial_set_rx_notify(struct vmm_serial *s, vmm_serial_notify_fn fn, void *opaque)
{
    serial_lock(s);
    s->rx_notify = fn;
    s->rx_notify_opaque = opaque;
    pthread_mutex_unlock(&s->dev.lock);
}

void vmm_serial_fini(struct vmm_serial *s)
{
    pthread_mutex_destroy(&s->dev.lock);
}

void vmm_serial_reset(struct vmm_serial *s)
{
    serial_lock(s);
    reset_locked(s);
    serial_unlock(s);
}

/* Host-side entry points unlock plainly: they never flush TX or notify, so a
 * notify callback can call them without recursing into itself. */

size_t vmm_serial_receive(struct vmm_serial *s, const uint8_t *buf, size_t len)
{
    serial_lock(s);
    size_t n = host_space(s);
    if (n > len)
        n = len;
    for (size_t i = 0; i < n; i++)
        rx_push(s, buf[i]);
    if (n < len || !host_space(s))
        s->host_waiting = true;
    update_irq(s);
    pthread_mutex_unlock(&s->dev.lock);
    return n;
}

size_t vmm_serial_rx_space(struct vmm_serial *s)
{
    serial_lock(s);
    size_t n = host_space(s);
    if (!n)
        s->host_waiting = true;
    pthread_mutex_unlock(&s->dev.lock);
    return n;
}

/*
 * Snapshot restore (snapshot/dev-state.c), with the device lock held: the
 * registers were loaded; drive the line from them whatever it was before.
 */
void vmm_serial_state_loaded(struct vmm_serial *s)
{
    s->ier &= UART_IER_MASK;
    s->mcr &= UART_MCR_MASK;
    s->tx_count = 0;
    s->irq_level = -1;
    update_irq(s);
}
