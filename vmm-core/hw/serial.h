/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_SERIAL_H
#define VMM_HW_SERIAL_H

/*
 * A 16550A UART (PC COM port): 16-byte RX and TX FIFOs, the divisor latch,
 * modem control/status, scratch register, and the PC's OUT2 interrupt gate.
 *
 * The model (serial.c) needs no VM: it is driven through vmm_serial_ops and
 * vmm_serial_receive(), raises its line through a struct vmm_irq, and hands
 * transmitted bytes to an output callback. serial-glue.c attaches it to a VM,
 * a host output fd and a host input fd read on the event-loop thread.
 *
 * There is no baud timing: a byte written to THR is transmitted as soon as
 * the output callback takes it, so THR is empty again (and the THRE interrupt
 * pending again) by the time the guest's write returns, unless another thread
 * is still inside the output callback (then bytes queue in the 16-byte TX FIFO
 * and LSR.THRE reads 0 until the callback takes them).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/device.h"
#include "core/eventloop.h"
#include "core/iotrap.h"
#include "core/irq.h"
#include "vmm/vmm.h"

#define VMM_SERIAL_COM1_PORT 0x3f8
#define VMM_SERIAL_COM1_IRQ 4
#define VMM_SERIAL_NREGS 8
#define VMM_SERIAL_FIFO_SIZE 16

/* Register offsets from the base port. */
#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_ERBFI 0x01 /* received data available (and character timeout) */
#define UART_IER_ETBEI 0x02 /* transmitter holding register empty */
#define UART_IER_ELSI 0x04  /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */
#define UART_IER_MASK 0x0f

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI 0x00  /* modem status */
#define UART_IIR_THRI 0x02 /* THR empty */
#define UART_IIR_RDI 0x04  /* received data at or above the trigger level */
#define UART_IIR_RLSI 0x06 /* receiver line status */
#define UART_IIR_CTI 0x0c  /* character timeout */
#define UART_IIR_ID_MASK 0x0f
#define UART_IIR_FIFO_ENABLED 0xc0 /* both bits set: a 16550A with FIFOs on */

#define UART_FCR_ENABLE_FIFO 0x01
#define UART_FCR_CLEAR_RCVR 0x02 /* self-clearing */
#define UART_FCR_CLEAR_XMIT 0x04 /* self-clearing */
#define UART_FCR_DMA_SELECT 0x08
#define UART_FCR_TRIGGER_MASK 0xc0
#define UART_FCR_TRIGGER_1 0x00
#define UART_FCR_TRIGGER_4 0x40
#define UART_FCR_TRIGGER_8 0x80
#define UART_FCR_TRIGGER_14 0xc0

#define UART_LCR_WLEN_MASK 0x03
#define UART_LCR_STOP 0x04
#define UART_LCR_PARITY 0x08
#define UART_LCR_EPAR 0x10
#define UART_LCR_SPAR 0x20
#define UART_LCR_SBC 0x40 /* set break */
#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08 /* on a PC: connects the UART's interrupt to the IRQ line */
#define UART_MCR_LOOP 0x10
#define UART_MCR_MASK 0x1f

#define UART_LSR_DR 0x01    /* data ready */
#define UART_LSR_OE 0x02    /* overrun error */
#define UART_LSR_PE 0x04    /* parity error */
#define UART_LSR_FE 0x08    /* framing error */
#define UART_LSR_BI 0x10    /* break interrupt */
#define UART_LSR_THRE 0x20  /* THR (TX FIFO) empty */
#define UART_LSR_TEMT 0x40  /* THR and shift register empty */
#define UART_LSR_FIFOE 0x80 /* error in RX FIFO */
#define UART_LSR_ERRORS (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04 /* trailing edge of RI */
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80
#define UART_MSR_DELTAS 0x0f

/*
 * Called without the device lock when the guest has made room in the RX FIFO
 * after the host found it full (see vmm_serial_receive()). Called from the
 * thread of the guest access (a vCPU) or of vmm_serial_reset(); it may call
 * vmm_serial_receive() / vmm_serial_rx_space() and event-loop functions.
 */
typedef void (*vmm_serial_notify_fn)(void *opaque);

struct vmm_serial {
    /* First, as for every device (DESIGN.md); dev.lock guards everything below. */
    struct vmm_device dev;

    struct vmm_irq *irq;
    vmm_serial_out_fn out;
    void *out_opaque;
    vmm_serial_notify_fn rx_notify;
    void *rx_notify_opaque;

    /* Guest-visible registers. */
    uint8_t ier, lcr, mcr, scr, dll, dlm;
    uint8_t fcr;        /* FIFO enable, DMA mode and trigger bits as last programmed */
    uint8_t lsr_errors; /* OE/PE/FE/BI latched until LSR is read */
    uint8_t msr_deltas; /* DCTS/DDSR/TERI/DDCD latched until MSR is read */
    uint8_t rbr_last;   /* what an empty RBR reads as */
    bool thre_pending;  /* THRE interrupt source: cleared by IIR read or THR write */

    uint8_t rx_fifo[VMM_SERIAL_FIFO_SIZE];
    unsigned rx_head, rx_count;
    uint8_t tx_fifo[VMM_SERIAL_FIFO_SIZE];
    unsigned tx_count;

    /* Host-side bookkeeping. */
    bool tx_busy;      /* a thread is inside the output callback */
    bool host_waiting; /* the host found the RX FIFO full: notify when it drains */
    int irq_level;
};

/*
 * Initialises s at power-on state. irq may be NULL (no interrupt line), out
 * may be NULL (transmitted bytes are discarded).
 *
 * out is called WITHOUT the device lock, from the thread of the guest's THR
 * write (a vCPU), with bytes in the order the guest wrote them; at most one
 * thread is inside it at a time. It may block (the writing vCPU waits, other
 * vCPUs keep running and queue into the TX FIFO) and may call back into the
 * model. Output is flushed on every THR write: nothing is held back waiting
 * for more bytes.
 */
void vmm_serial_init(struct vmm_serial *s, struct vmm_irq *irq, vmm_serial_out_fn out,
                     void *opaque);
void vmm_serial_set_rx_notify(struct vmm_serial *s, vmm_serial_notify_fn fn, void *opaque);
void vmm_serial_fini(struct vmm_serial *s);

/* Master reset: registers to power-on values, FIFOs emptied (DLL/DLM/SCR kept). */
void vmm_serial_reset(struct vmm_serial *s);

/*
 * Register access at offsets 0..7 from the base. Accesses wider than a byte
 * are split into byte accesses at consecutive offsets, as an ISA bus does for
 * an 8-bit device; bytes beyond offset 7 read as 0xff and are dropped on write.
 */
extern const struct vmm_io_ops vmm_serial_ops;

/*
 * Host -> guest bytes. Returns how many were taken into the RX FIFO (0..len).
 * Bytes not taken are the caller's to keep and offer again: the model never
 * drops host input. Taking fewer than offered (or leaving the FIFO full)
 * arms the rx notify callback for when the guest frees space. Capacity is 16
 * bytes with FIFOs enabled and 1 (the 16450 holding register) without; none
 * in loopback mode, where the serial input is disconnected.
 */
size_t vmm_serial_receive(struct vmm_serial *s, const uint8_t *buf, size_t len);
/* Room for host input now; 0 also arms the rx notify callback. */
size_t vmm_serial_rx_space(struct vmm_serial *s);

/*
 * Glue to a VM (serial-glue.c). Claims PIO [port, port+8) and drives gsi.
 * Guest output goes to out_fd (if >= 0; partial writes and EINTR handled,
 * EAGAIN/EPIPE drop the bytes with a rate-limited log, SIGPIPE never
 * delivered) and to cb (if set). in_fd (if >= 0) is read on loop's thread
 * into the RX FIFO: the watch is quiesced while the FIFO is full and re-armed
 * when the guest drains it; EOF or a read error ends input. An in_fd that
 * epoll cannot watch (a regular file, /dev/null) is read on demand instead.
 * Returns NULL with err set if the port cannot be claimed or memory runs out.
 */
struct vmm_serial *vmm_serial_create(struct vmm_vm *vm, uint16_t port, unsigned gsi, int out_fd,
                                     vmm_serial_out_fn cb, void *cb_opaque, int in_fd,
                                     struct vmm_loop *loop, struct vmm_error *err);
/*
 * Stops input and frees the device. Call only after the VM's vCPUs have
 * stopped for good: the port range stays claimed in the VM's I/O map, which
 * is freed with the VM. Neither fd is closed.
 */
void vmm_serial_destroy(struct vmm_serial *s);

/* Snapshot restore, lock held: re-derives the interrupt line from the loaded registers. */
void vmm_serial_state_loaded(struct vmm_serial *s);

#endif
