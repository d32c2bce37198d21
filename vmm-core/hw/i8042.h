/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_I8042_H
#define VMM_HW_I8042_H

/*
 * The PC keyboard controller (an 8042 in PS/2 mode) with a keyboard and a
 * mouse attached: data port 0x60, status/command port 0x64, IRQ 1 for the
 * keyboard and IRQ 12 for the mouse.
 *
 * The model (i8042.c) needs no VM: it is driven through two io_ops, raises
 * its lines through struct vmm_irq handles, and reports the CPU reset line
 * and the A20 gate through callbacks. Host input comes in evdev terms.
 *
 * Structure as on the hardware: each device has an output queue; the
 * controller moves one byte at a time into its single output buffer when the
 * buffer is empty and the device's clock is not inhibited (command byte bits
 * 4/5), translating keyboard bytes set 2 -> set 1 when bit 6 says so. A byte
 * the controller produces itself (a command's reply) takes the output
 * buffer; a device byte it displaces is delivered right after it instead of
 * being lost. IRQ 1 / IRQ 12 follow "output buffer full with keyboard /
 * mouse data" gated by the command byte's interrupt bits; reading port 0x60
 * lowers the line before the next byte raises it again, so edge-triggered
 * PICs see one edge per byte.
 *
 * Queues: 32 bytes per device. Host input (key sequences, mouse packets)
 * may fill 16 of them, like a real keyboard's buffer; command replies and
 * key releases may use the rest, so a guest never misses the release of a
 * key whose press it saw. A key press that does not fit is dropped and the
 * keyboard queues its overrun code (00 in sets 2/3, FF in set 1) once, as a
 * real keyboard does; vmm_i8042_kbd_room() lets a front end that types
 * sequences pace itself instead. Mouse motion never overflows: it
 * accumulates and leaves in as many packets as it takes (9-bit deltas);
 * only motion beyond a 2048-count backlog is dropped, and the next packet
 * carries the overflow bit for that axis.
 *
 * The state at power-on (and after vmm_i8042_reset) is what a PC BIOS
 * leaves behind, since a directly booted kernel runs with no BIOS: command
 * byte 0x45 (translation, system flag, keyboard interrupt; mouse port
 * enabled without interrupt), A20 on, keyboard scanning in set 2 with
 * default typematic, mouse at defaults (stream mode, reporting off, 100
 * samples/s, 4 counts/mm, 1:1, ID 0).
 *
 * Not modelled: timing (bytes are there at once), the keyboard's own
 * autorepeat (the host repeats by sending presses), set 3's per-key modes
 * (FB-FD are acknowledged and ignored; F7-FA apply to all keys), mouse
 * resolution scaling (host counts are reported as they come), AUX port
 * multiplexing.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/device.h"
#include "core/iotrap.h"
#include "core/irq.h"
#include "hw/ps2-keymap.h"

#define VMM_I8042_DATA_PORT 0x60
#define VMM_I8042_CMD_PORT 0x64
#define VMM_I8042_KBD_IRQ 1
#define VMM_I8042_AUX_IRQ 12

/* Status register (port 0x64, read). */
#define I8042_STR_OBF 0x01     /* output buffer full */
#define I8042_STR_IBF 0x02     /* input buffer full (never: writes are taken at once) */
#define I8042_STR_SYS 0x04     /* system flag, from the command byte */
#define I8042_STR_CMD 0x08     /* A2: the last write went to the command port */
#define I8042_STR_KEYLOCK 0x10 /* 1: keyboard not inhibited by the key lock */
#define I8042_STR_AUXDATA 0x20 /* the output buffer holds mouse data */
#define I8042_STR_TIMEOUT 0x40
#define I8042_STR_PARITY 0x80

/* Command byte (controller RAM byte 0). */
#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYS 0x04
#define I8042_CTR_IGNKEYLOCK 0x08
#define I8042_CTR_KBDDIS 0x10 /* keyboard clock held low */
#define I8042_CTR_AUXDIS 0x20 /* mouse clock held low */
#define I8042_CTR_XLATE 0x40  /* translate keyboard bytes to set 1 */

/* Output port P2 (commands 0xd0 / 0xd1). */
#define I8042_OUT_RESET 0x01 /* 0 resets the CPU */
#define I8042_OUT_A20 0x02
#define I8042_OUT_AUX_DATA 0x04
#define I8042_OUT_AUX_CLK 0x08
#define I8042_OUT_KBD_IRQ 0x10 /* read-only here: output buffer full with keyboard data */
#define I8042_OUT_AUX_IRQ 0x20 /* read-only here: ... with mouse data */
#define I8042_OUT_KBD_CLK 0x40
#define I8042_OUT_KBD_DATA 0x80

/* Controller commands (port 0x64, write). */
#define I8042_CMD_READ_CTR 0x20  /* 0x21-0x3f read controller RAM */
#define I8042_CMD_WRITE_CTR 0x60 /* 0x61-0x7f write controller RAM */
#define I8042_CMD_AUX_DISABLE 0xa7
#define I8042_CMD_AUX_ENABLE 0xa8
#define I8042_CMD_AUX_TEST 0xa9
#define I8042_CMD_SELF_TEST 0xaa
#define I8042_CMD_KBD_TEST 0xab
#define I8042_CMD_KBD_DISABLE 0xad
#define I8042_CMD_KBD_ENABLE 0xae
#define I8042_CMD_READ_INPUT 0xc0
#define I8042_CMD_READ_OUTPUT 0xd0
#define I8042_CMD_WRITE_OUTPUT 0xd1
#define I8042_CMD_KBD_LOOP 0xd2 /* next data byte appears as keyboard data */
#define I8042_CMD_AUX_LOOP 0xd3 /* next data byte appears as mouse data */
#define I8042_CMD_AUX_SEND 0xd4 /* next data byte goes to the mouse */
#define I8042_CMD_A20_OFF 0xdd
#define I8042_CMD_A20_ON 0xdf
#define I8042_CMD_READ_TEST 0xe0
#define I8042_CMD_PULSE_RESET 0xfe /* 0xf0-0xff pulse output bits 3:0 where the command has 0s */

#define I8042_SELF_TEST_OK 0x55

/* What PS/2 devices send. */
#define PS2_ACK 0xfa
#define PS2_RESEND 0xfe
#define PS2_ERROR 0xfc
#define PS2_BAT_OK 0xaa
#define PS2_ECHO 0xee

/* Mouse buttons for vmm_i8042_mouse_buttons(): evdev's BTN_LEFT.. BTN_EXTRA as bits. */
#define VMM_PS2_BTN_LEFT 0x01
#define VMM_PS2_BTN_RIGHT 0x02
#define VMM_PS2_BTN_MIDDLE 0x04
#define VMM_PS2_BTN_SIDE 0x08  /* 4th button (IntelliMouse Explorer) */
#define VMM_PS2_BTN_EXTRA 0x10 /* 5th button */

#define VMM_PS2_QUEUE_SIZE 32
#define VMM_PS2_HOST_ROOM 16

struct vmm_ps2_queue {
    uint8_t data[VMM_PS2_QUEUE_SIZE];
    unsigned head, count;
};

struct vmm_ps2_kbd {
    struct vmm_ps2_queue q;
    uint8_t set;       /* scan code set: 1, 2 or 3 */
    bool scanning;     /* F4 / F5 */
    bool overrun;      /* an overrun code follows the last key queued */
    uint8_t leds;      /* bit 0 Scroll, 1 Num, 2 Caps Lock */
    uint8_t typematic; /* F3's parameter */
    uint8_t set3_mode; /* which keys send break codes in set 3 */
    uint8_t await;     /* command waiting for its parameter (ED, F0, F3, FB-FD), 0 if none */
    uint8_t last;      /* the last byte sent, for resend */
    uint8_t down[32];  /* evdev codes whose make code was queued (so their break is owed) */
};

struct vmm_ps2_mouse {
    struct vmm_ps2_queue q;
    bool reporting; /* F4 / F5 */
    bool remote;    /* remote (polled) mode, else stream mode */
    bool wrap;      /* echo mode */
    bool scale21;
    uint8_t resolution; /* 0-3: 1, 2, 4, 8 counts/mm */
    uint8_t rate;       /* samples per second */
    uint8_t id;         /* 0 PS/2, 3 IntelliMouse, 4 IntelliMouse Explorer */
    uint8_t rates[3];   /* the last three sample rates set, for the magic sequences */
    uint8_t await;      /* E8 or F3 waiting for a parameter */
    uint8_t nacks;      /* invalid parameters in a row */
    uint8_t buttons;    /* host state, VMM_PS2_BTN_* */
    uint8_t reported;   /* buttons as last reported */
    int32_t dx, dy, dz; /* motion not yet reported, in PS/2 directions (y up, z down) */
    bool x_over, y_over;
    uint8_t last[4]; /* the last packet or reply, for resend */
    unsigned last_len;
};

/* Called without the device lock, from the thread of the guest's access (a vCPU). */
typedef void (*vmm_i8042_reset_fn)(void *opaque);
typedef void (*vmm_i8042_a20_fn)(void *opaque, bool enabled);

struct vmm_i8042 {
    /* First, as for every device; dev.lock guards everything below. */
    struct vmm_device dev;

    struct vmm_irq *kbd_irq, *aux_irq;
    vmm_i8042_reset_fn reset_cb;
    vmm_i8042_a20_fn a20_cb;
    void *cb_opaque;

    uint8_t ctr;     /* command byte */
    uint8_t ram[32]; /* controller RAM; byte 0 is unused (the command byte is ctr) */
    uint8_t outport; /* output port as written (bits 4/5 are computed) */
    uint8_t await;   /* controller command waiting for its data byte, 0 if none */
    bool last_was_cmd;

    bool obf; /* output buffer */
    uint8_t obf_val;
    bool obf_aux;
    bool obf_device; /* came from a device queue (so it can be displaced, not lost) */
    bool stash;      /* a displaced device byte, delivered next */
    uint8_t stash_val;
    bool stash_aux;
    uint8_t last_read;          /* what port 0x60 reads with the buffer empty */
    struct vmm_ps2_xlate xlate; /* translation state: an F0 prefix swallowed */
    int kbd_level, aux_level;

    /* Side effects to report once the lock is dropped. */
    bool want_reset;
    int want_a20; /* -1 none, else the new state */

    struct vmm_ps2_kbd kbd;
    struct vmm_ps2_mouse mouse;
};

/* Power-on state (see above). Either IRQ may be NULL. */
void vmm_i8042_init(struct vmm_i8042 *c, struct vmm_irq *kbd_irq, struct vmm_irq *aux_irq);
void vmm_i8042_set_callbacks(struct vmm_i8042 *c, vmm_i8042_reset_fn reset, vmm_i8042_a20_fn a20,
                             void *opaque);
void vmm_i8042_fini(struct vmm_i8042 *c);
/* Back to the power-on state: a machine reset resets the controller and both devices. */
void vmm_i8042_reset(struct vmm_i8042 *c);

/*
 * Port 0x60 (data) and port 0x64 (status / command), each registered on its
 * own one-byte range: 0x61-0x63 belong to other devices. Offset 0 is the
 * port; a wider access uses its low byte and reads 0xff above it.
 */
extern const struct vmm_io_ops vmm_i8042_data_ops;
extern const struct vmm_io_ops vmm_i8042_cmd_ops;

/*
 * Host input, any thread. vmm_i8042_key() returns 0 when the key's bytes
 * were queued (or it has nothing to send for this event), -ENOENT for a code
 * without a scan code, -EBUSY when the guest has disabled scanning, -ENOSPC
 * when the queue was full (the press is lost; the guest gets an overrun code).
 */
VMM_WUR int vmm_i8042_key(struct vmm_i8042 *c, unsigned evdev_code, bool pressed);
/* Relative motion in evdev directions: REL_X right, REL_Y down, REL_WHEEL up. */
void vmm_i8042_mouse_move(struct vmm_i8042 *c, int dx, int dy, int dz);
/* The full button state, VMM_PS2_BTN_* bits. */
void vmm_i8042_mouse_buttons(struct vmm_i8042 *c, unsigned mask);
/* Bytes of key input the keyboard can take now (0 while it is not scanning). */
unsigned vmm_i8042_kbd_room(struct vmm_i8042 *c);
/* The keyboard LEDs as the guest last set them: bit 0 Scroll, 1 Num, 2 Caps Lock. */
uint8_t vmm_i8042_kbd_leds(struct vmm_i8042 *c);

/* Snapshot restore, lock held: re-derives both interrupt lines from the loaded state. */
void vmm_i8042_state_loaded(struct vmm_i8042 *c);

#endif
