/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The 8042 model (controller, keyboard, mouse) and the scan code tables,
 * driven through ports 0x60/0x64 the way Linux's i8042/atkbd/psmouse
 * drivers and SeaBIOS's ps2port.c drive them, with fake IRQ sinks.
 */
#include <errno.h>
#include <linux/input-event-codes.h>
#include <stdbool.h>

#include "hw/i8042.h"
#include "hw/ps2-keymap.h"
#include "test.h"

struct irq_rec {
    int level;
    unsigned rises;
};

static void rec_set_level(struct vmm_irq *irq, int level)
{
    struct irq_rec *r = irq->opaque;
    if (level && !r->level)
        r->rises++;
    r->level = level;
}

static const struct vmm_irq_ops rec_ops = {.set_level = rec_set_level};

struct fixture {
    struct vmm_i8042 c;
    struct vmm_irq kbd_irq, aux_irq;
    struct irq_rec kbd, aux;
    unsigned resets;
    unsigned a20_calls;
    bool a20;
};

static void on_reset(void *opaque)
{
    ((struct fixture *)opaque)->resets++;
}

static void on_a20(void *opaque, bool on)
{
    struct fixture *f = opaque;
    f->a20_calls++;
    f->a20 = on;
}

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->kbd_irq = (struct vmm_irq){.ops = &rec_ops, .opaque = &f->kbd, .line = 1};
    f->aux_irq = (struct vmm_irq){.ops = &rec_ops, .opaque = &f->aux, .line = 12};
    vmm_i8042_init(&f->c, &f->kbd_irq, &f->aux_irq);
    vmm_i8042_set_callbacks(&f->c, on_reset, on_a20, f);
    f->a20 = true;
}

static void teardown(struct fixture *f)
{
    vmm_i8042_fini(&f->c);
}

static uint8_t st(struct fixture *f)
{
    return (uint8_t)vmm_i8042_cmd_ops.read(&f->c, 0, 1);
}

static void cmd(struct fixture *f, uint8_t v)
{
    vmm_i8042_cmd_ops.write(&f->c, 0, 1, v);
}

static void dw(struct fixture *f, uint8_t v)
{
    vmm_i8042_data_ops.write(&f->c, 0, 1, v);
}

static uint8_t dr(struct fixture *f)
{
    return (uint8_t)vmm_i8042_data_ops.read(&f->c, 0, 1);
}

/* Reads while OBF is set. aux_mask gets bit i set when byte i came with AUXDATA. */
static unsigned drain(struct fixture *f, uint8_t *buf, unsigned max, uint32_t *aux_mask)
{
    unsigned n = 0;
    if (aux_mask)
        *aux_mask = 0;
    while ((st(f) & I8042_STR_OBF) && n < max) {
        if (aux_mask && (st(f) & I8042_STR_AUXDATA))
            *aux_mask |= 1u << n;
        buf[n++] = dr(f);
    }
    return n;
}

/* Checks that exactly the expected bytes are waiting, then nothing. */
#define EXPECT_BYTES(f, ...)                                             \
    do {                                                                 \
        const uint8_t want__[] = {__VA_ARGS__};                          \
        uint8_t got__[64];                                               \
        unsigned n__ = drain((f), got__, sizeof(got__), NULL);           \
        CHECK_EQ(n__, sizeof(want__));                                   \
        for (unsigned i__ = 0; i__ < n__ && i__ < sizeof(want__); i__++) \
            CHECK_EQ(got__[i__], want__[i__]);                           \
    } while (0)

#define EXPECT_EMPTY(f) CHECK_EQ(st(f) & I8042_STR_OBF, 0)

/* i8042_command(): command, parameters on 0x60, results from 0x60. */
static uint8_t ctl_read(struct fixture *f, uint8_t command)
{
    cmd(f, command);
    CHECK(st(f) & I8042_STR_OBF);
    return dr(f);
}

static void ctl_write(struct fixture *f, uint8_t command, uint8_t param)
{
    cmd(f, command);
    dw(f, param);
}

static void aux_send(struct fixture *f, uint8_t b)
{
    ctl_write(f, I8042_CMD_AUX_SEND, b);
}

static void key(struct fixture *f, unsigned code, bool down)
{
    CHECK_EQ(vmm_i8042_key(&f->c, code, down), 0);
}

/* Controller ---------------------------------------------------------------------- */

static void test_power_on(void)
{
    struct fixture f;
    setup(&f);
    /* "Typically 0x14: keyboard not locked, self-test completed." */
    CHECK_EQ(st(&f), I8042_STR_KEYLOCK | I8042_STR_SYS);
    cmd(&f, I8042_CMD_READ_CTR);
    CHECK_EQ(st(&f), I8042_STR_KEYLOCK | I8042_STR_SYS | I8042_STR_CMD | I8042_STR_OBF);
    CHECK_EQ(f.kbd.rises, 1); /* output buffer full, keyboard interrupt enabled */
    CHECK_EQ(dr(&f), I8042_CTR_XLATE | I8042_CTR_SYS | I8042_CTR_KBDINT);
    CHECK_EQ(f.kbd.level, 0);
    dw(&f, 0xed); /* a data write clears A2 */
    CHECK_EQ(st(&f) & I8042_STR_CMD, 0);
    teardown(&f);
}

static void test_self_test_and_ctr(void)
{
    struct fixture f;
    setup(&f);
    /* Linux: flush, then self-test; the CTR is read until two reads agree. */
    EXPECT_EMPTY(&f);
    ctl_write(&f, I8042_CMD_WRITE_CTR, 0x00);
    CHECK_EQ(st(&f) & I8042_STR_SYS, 0);
    CHECK_EQ(ctl_read(&f, I8042_CMD_SELF_TEST), I8042_SELF_TEST_OK);
    CHECK_EQ(st(&f) & I8042_STR_SYS, I8042_STR_SYS);
    CHECK_EQ(ctl_read(&f, I8042_CMD_KBD_TEST), 0x00);
    CHECK_EQ(ctl_read(&f, I8042_CMD_AUX_TEST), 0x00);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), I8042_CTR_SYS);

    ctl_write(&f, I8042_CMD_WRITE_CTR, 0x47);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x47);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x47);
    ctl_write(&f, I8042_CMD_WRITE_CTR, 0xc7); /* bit 7 does not exist */
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x47);
    /* Other controller RAM bytes. */
    ctl_write(&f, 0x65, 0x5a);
    CHECK_EQ(ctl_read(&f, 0x25), 0x5a);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x47);

    /* 0xad/0xae and 0xa7/0xa8 flip the clock-disable bits. */
    cmd(&f, I8042_CMD_KBD_DISABLE);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x47 | I8042_CTR_KBDDIS);
    cmd(&f, I8042_CMD_KBD_ENABLE);
    cmd(&f, I8042_CMD_AUX_DISABLE);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x47 | I8042_CTR_AUXDIS);
    cmd(&f, I8042_CMD_AUX_ENABLE);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x47);
    teardown(&f);
}

/* Linux's i8042_check_aux(): loopback, toggling, then an IRQ 12 delivery test. */
static void test_linux_aux_probe(void)
{
    struct fixture f;
    setup(&f);
    cmd(&f, I8042_CMD_AUX_LOOP);
    dw(&f, 0x5a);
    CHECK_EQ(st(&f) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF | I8042_STR_AUXDATA);
    CHECK_EQ(f.aux.rises, 0); /* AUXINT is off */
    CHECK_EQ(f.kbd.level, 0);
    CHECK_EQ(dr(&f), 0x5a);

    cmd(&f, I8042_CMD_AUX_DISABLE);
    CHECK(ctl_read(&f, I8042_CMD_READ_CTR) & I8042_CTR_AUXDIS);
    cmd(&f, I8042_CMD_AUX_ENABLE);
    CHECK(!(ctl_read(&f, I8042_CMD_READ_CTR) & I8042_CTR_AUXDIS));

    uint8_t ctr = ctl_read(&f, I8042_CMD_READ_CTR);
    ctl_write(&f, I8042_CMD_WRITE_CTR, (ctr | I8042_CTR_AUXINT) & ~I8042_CTR_AUXDIS);
    unsigned kbd_before = f.kbd.rises;
    cmd(&f, I8042_CMD_AUX_LOOP);
    dw(&f, 0xa5);
    CHECK_EQ(f.aux.rises, 1);
    CHECK_EQ(f.aux.level, 1);
    CHECK_EQ(f.kbd.rises, kbd_before);
    CHECK_EQ(st(&f) & I8042_STR_AUXDATA, I8042_STR_AUXDATA);
    CHECK_EQ(dr(&f), 0xa5);
    CHECK_EQ(f.aux.level, 0);

    /* Synaptics' multiplexer handshake reads back exactly what was sent: no mux. */
    const uint8_t knock[3] = {0xf0, 0x56, 0xa4};
    for (int i = 0; i < 3; i++) {
        cmd(&f, I8042_CMD_AUX_LOOP);
        dw(&f, knock[i]);
        CHECK_EQ(dr(&f), knock[i]);
    }
    /* 0xd2 is the keyboard's loopback: no AUXDATA, IRQ 1. */
    unsigned k = f.kbd.rises;
    cmd(&f, I8042_CMD_KBD_LOOP);
    dw(&f, 0x42);
    CHECK_EQ(st(&f) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
    CHECK_EQ(f.kbd.rises, k + 1);
    CHECK_EQ(dr(&f), 0x42);
    teardown(&f);
}

static void test_reply_keeps_device_byte(void)
{
    struct fixture f;
    setup(&f);
    key(&f, KEY_A, true);
    CHECK_EQ(st(&f) & I8042_STR_OBF, I8042_STR_OBF);
    /* A controller reply takes the buffer; the key byte comes right after it. */
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x45);
    EXPECT_BYTES(&f, 0x1e);
    teardown(&f);
}

static void test_reset_and_a20(void)
{
    struct fixture f;
    setup(&f);
    cmd(&f, I8042_CMD_PULSE_RESET);
    CHECK_EQ(f.resets, 1);
    cmd(&f, 0xff); /* pulses nothing */
    CHECK_EQ(f.resets, 1);
    cmd(&f, 0xf0); /* pulses bits 3:0, reset among them */
    CHECK_EQ(f.resets, 2);

    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_OUTPUT) & (I8042_OUT_RESET | I8042_OUT_A20),
             I8042_OUT_RESET | I8042_OUT_A20);
    ctl_write(&f, I8042_CMD_WRITE_OUTPUT, 0xdd); /* A20 off, reset line high */
    CHECK_EQ(f.a20_calls, 1);
    CHECK_EQ(f.a20, false);
    CHECK_EQ(f.resets, 2);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_OUTPUT), 0xcd); /* bit 4 shows the buffer, empty */
    ctl_write(&f, I8042_CMD_WRITE_OUTPUT, 0xdf);
    CHECK_EQ(f.a20_calls, 2);
    CHECK_EQ(f.a20, true);
    ctl_write(&f, I8042_CMD_WRITE_OUTPUT, 0xdf); /* no change, no call */
    CHECK_EQ(f.a20_calls, 2);
    cmd(&f, I8042_CMD_A20_OFF);
    CHECK_EQ(f.a20, false);
    cmd(&f, I8042_CMD_A20_ON);
    CHECK_EQ(f.a20, true);
    CHECK_EQ(f.a20_calls, 4);
    ctl_write(&f, I8042_CMD_WRITE_OUTPUT, 0x00); /* reset low: resets the CPU */
    CHECK_EQ(f.resets, 3);
    CHECK_EQ(f.a20, false);

    /* A machine reset puts everything back, A20 on. */
    ctl_write(&f, I8042_CMD_WRITE_CTR, 0x00);
    vmm_i8042_reset(&f.c);
    CHECK_EQ(f.a20, true);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x45);
    teardown(&f);
}

/* Keyboard ------------------------------------------------------------------------ */

static void test_keyboard_commands(void)
{
    struct fixture f;
    setup(&f);
    dw(&f, 0xff);
    EXPECT_BYTES(&f, PS2_ACK, PS2_BAT_OK);
    /* Identify through translation: 0x83 becomes 0x41 (Linux accepts ab41). */
    dw(&f, 0xf2);
    EXPECT_BYTES(&f, PS2_ACK, 0xab, 0x41);
    dw(&f, 0xf0);
    dw(&f, 0x00);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK, 0x41); /* set 2, translated */

    ctl_write(&f, I8042_CMD_WRITE_CTR, I8042_CTR_SYS | I8042_CTR_KBDINT); /* no translation */
    dw(&f, 0xf2);
    EXPECT_BYTES(&f, PS2_ACK, 0xab, 0x83);
    dw(&f, 0xf0);
    dw(&f, 0x01);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK);
    dw(&f, 0xf0);
    dw(&f, 0x00);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK, 0x01);
    dw(&f, 0xf0);
    dw(&f, 0x07); /* no such set */
    EXPECT_BYTES(&f, PS2_ACK, PS2_RESEND);

    dw(&f, 0xee);
    EXPECT_BYTES(&f, PS2_ECHO);
    dw(&f, 0xe8); /* not a keyboard command */
    EXPECT_BYTES(&f, PS2_RESEND);

    dw(&f, 0xed);
    dw(&f, 0x07);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK);
    CHECK_EQ(vmm_i8042_kbd_leds(&f.c), 7);
    /* A command in the parameter slot runs instead of being taken as the parameter. */
    dw(&f, 0xed);
    EXPECT_BYTES(&f, PS2_ACK);
    dw(&f, 0xf4);
    EXPECT_BYTES(&f, PS2_ACK);
    CHECK_EQ(vmm_i8042_kbd_leds(&f.c), 7);
    dw(&f, 0xf3);
    dw(&f, 0x20);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK);
    /* ED is a command too, even where F3's parameter was expected. */
    dw(&f, 0xf3);
    EXPECT_BYTES(&f, PS2_ACK);
    dw(&f, 0xed);
    dw(&f, 0x02);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK);
    CHECK_EQ(vmm_i8042_kbd_leds(&f.c), 2);

    /* Writing to the keyboard re-enables its interface (clears KBDDIS). */
    cmd(&f, I8042_CMD_KBD_DISABLE);
    dw(&f, 0xee);
    EXPECT_BYTES(&f, PS2_ECHO);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR) & I8042_CTR_KBDDIS, 0);

    /* Resend repeats the last byte the keyboard sent. */
    dw(&f, 0xf2);
    EXPECT_BYTES(&f, PS2_ACK, 0xab, 0x83);
    dw(&f, 0xfe);
    EXPECT_BYTES(&f, 0x83);

    /* Disabled, the keyboard takes no keys; F6 restores set 2 and the LEDs. */
    dw(&f, 0xf5);
    EXPECT_BYTES(&f, PS2_ACK);
    CHECK_EQ(vmm_i8042_key(&f.c, KEY_A, true), -EBUSY);
    CHECK_EQ(vmm_i8042_kbd_room(&f.c), 0);
    EXPECT_EMPTY(&f);
    dw(&f, 0xf4);
    EXPECT_BYTES(&f, PS2_ACK);
    dw(&f, 0xf0);
    dw(&f, 0x00);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK, 0x02);
    CHECK_EQ(vmm_i8042_kbd_leds(&f.c), 0);
    CHECK_EQ(vmm_i8042_kbd_room(&f.c), VMM_PS2_HOST_ROOM);
    teardown(&f);
}

/* One __ps2_command() of SeaBIOS: ports off, the one in use on, command, restore. */
static void seabios_kbd_command(struct fixture *f, uint8_t ps2ctr, uint8_t command)
{
    uint8_t newctr =
        (ps2ctr | I8042_CTR_AUXDIS | I8042_CTR_KBDDIS) & ~(I8042_CTR_KBDINT | I8042_CTR_AUXINT);
    ctl_write(f, I8042_CMD_WRITE_CTR, newctr);
    newctr &= ~I8042_CTR_KBDDIS;
    ctl_write(f, I8042_CMD_WRITE_CTR, newctr);
    dw(f, command);
}

static void test_seabios_keyboard_setup(void)
{
    struct fixture f;
    setup(&f);
    /* i8042_flush, self-test, keyboard test. */
    EXPECT_EMPTY(&f);
    CHECK_EQ(ctl_read(&f, I8042_CMD_SELF_TEST), I8042_SELF_TEST_OK);
    CHECK_EQ(ctl_read(&f, I8042_CMD_KBD_TEST), 0x00);
    uint8_t ps2ctr = I8042_CTR_KBDDIS | I8042_CTR_AUXDIS;

    seabios_kbd_command(&f, ps2ctr, 0xff); /* ATKBD_CMD_RESET_BAT */
    CHECK_EQ(st(&f) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
    CHECK_EQ(dr(&f), PS2_ACK);
    CHECK_EQ(dr(&f), PS2_BAT_OK);
    EXPECT_EMPTY(&f); /* no second reset byte: SeaBIOS times out on it and goes on */
    ctl_write(&f, I8042_CMD_WRITE_CTR, ps2ctr);

    seabios_kbd_command(&f, ps2ctr, 0xf5); /* ATKBD_CMD_RESET_DIS */
    EXPECT_BYTES(&f, PS2_ACK);
    ctl_write(&f, I8042_CMD_WRITE_CTR, ps2ctr);

    seabios_kbd_command(&f, ps2ctr, 0xf0); /* ATKBD_CMD_SSCANSET */
    EXPECT_BYTES(&f, PS2_ACK);
    dw(&f, 0x02);
    EXPECT_BYTES(&f, PS2_ACK);
    ctl_write(&f, I8042_CMD_WRITE_CTR, ps2ctr);

    ps2ctr = I8042_CTR_AUXDIS | I8042_CTR_XLATE | I8042_CTR_KBDINT;
    seabios_kbd_command(&f, ps2ctr, 0xf4); /* ATKBD_CMD_ENABLE */
    EXPECT_BYTES(&f, PS2_ACK);
    ctl_write(&f, I8042_CMD_WRITE_CTR, ps2ctr);

    /* Now keys arrive translated, one IRQ 1 edge per byte. */
    unsigned r = f.kbd.rises;
    key(&f, KEY_A, true);
    CHECK_EQ(f.kbd.rises, r + 1);
    CHECK_EQ(dr(&f), 0x1e);
    key(&f, KEY_A, false);
    CHECK_EQ(f.kbd.rises, r + 2);
    CHECK_EQ(dr(&f), 0x9e);
    CHECK_EQ(f.kbd.level, 0);
    teardown(&f);
}

static void test_translated_keys(void)
{
    struct fixture f;
    setup(&f); /* command byte 0x45: translation on */
    key(&f, KEY_A, true);
    key(&f, KEY_A, false);
    EXPECT_BYTES(&f, 0x1e, 0x9e);
    key(&f, KEY_ENTER, true);
    key(&f, KEY_ENTER, false);
    EXPECT_BYTES(&f, 0x1c, 0x9c);
    key(&f, KEY_F7, true); /* 0x83 in set 2 */
    key(&f, KEY_F7, false);
    EXPECT_BYTES(&f, 0x41, 0xc1);
    key(&f, KEY_RIGHT, true);
    key(&f, KEY_RIGHT, false);
    EXPECT_BYTES(&f, 0xe0, 0x4d, 0xe0, 0xcd);
    key(&f, KEY_KPSLASH, true);
    key(&f, KEY_KPSLASH, false);
    EXPECT_BYTES(&f, 0xe0, 0x35, 0xe0, 0xb5);
    key(&f, KEY_DELETE, true);
    key(&f, KEY_DELETE, false);
    EXPECT_BYTES(&f, 0xe0, 0x53, 0xe0, 0xd3);
    key(&f, KEY_PAUSE, true);
    key(&f, KEY_PAUSE, false); /* no break code */
    EXPECT_BYTES(&f, 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5);
    key(&f, KEY_SYSRQ, true);
    key(&f, KEY_SYSRQ, false);
    EXPECT_BYTES(&f, 0xe0, 0x2a, 0xe0, 0x37, 0xe0, 0xb7, 0xe0, 0xaa);
    key(&f, KEY_MUTE, true);
    key(&f, KEY_MUTE, false);
    EXPECT_BYTES(&f, 0xe0, 0x20, 0xe0, 0xa0);
    key(&f, KEY_HANGEUL, true);
    key(&f, KEY_HANGEUL, false);
    EXPECT_BYTES(&f, 0xf2);
    key(&f, KEY_F24, true);
    key(&f, KEY_F24, false);
    EXPECT_BYTES(&f, 0x76, 0xf6);
    key(&f, KEY_RIGHTCTRL, true);
    key(&f, KEY_RIGHTCTRL, false);
    EXPECT_BYTES(&f, 0xe0, 0x1d, 0xe0, 0x9d);
    teardown(&f);
}

static void test_untranslated_and_other_sets(void)
{
    struct fixture f;
    setup(&f);
    ctl_write(&f, I8042_CMD_WRITE_CTR, I8042_CTR_SYS | I8042_CTR_KBDINT);
    key(&f, KEY_A, true);
    key(&f, KEY_A, false);
    EXPECT_BYTES(&f, 0x1c, 0xf0, 0x1c);
    key(&f, KEY_RIGHT, true);
    key(&f, KEY_RIGHT, false);
    EXPECT_BYTES(&f, 0xe0, 0x74, 0xe0, 0xf0, 0x74);
    key(&f, KEY_PAUSE, true);
    EXPECT_BYTES(&f, 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77);
    key(&f, KEY_PRINT, true);
    key(&f, KEY_PRINT, false);
    EXPECT_BYTES(&f, 0xe0, 0x12, 0xe0, 0x7c, 0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12);

    /* Set 1 from the keyboard itself (untranslated). */
    dw(&f, 0xf0);
    dw(&f, 0x01);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK);
    key(&f, KEY_A, true);
    key(&f, KEY_A, false);
    key(&f, KEY_HOME, true);
    key(&f, KEY_HOME, false);
    EXPECT_BYTES(&f, 0x1e, 0x9e, 0xe0, 0x47, 0xe0, 0xc7);

    /* Set 3: letters make only, modifiers make/break, until "all make/break". */
    dw(&f, 0xf0);
    dw(&f, 0x03);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK);
    key(&f, KEY_A, true);
    key(&f, KEY_A, false);
    key(&f, KEY_LEFTSHIFT, true);
    key(&f, KEY_LEFTSHIFT, false);
    key(&f, KEY_F1, true);
    key(&f, KEY_LEFT, true);
    EXPECT_BYTES(&f, 0x1c, 0x12, 0xf0, 0x12, 0x07, 0x61);
    key(&f, KEY_MUTE, true); /* no set 3 code */
    EXPECT_EMPTY(&f);
    dw(&f, 0xfa);
    EXPECT_BYTES(&f, PS2_ACK);
    key(&f, KEY_A, true);
    key(&f, KEY_A, false);
    EXPECT_BYTES(&f, 0x1c, 0xf0, 0x1c);
    /* Per-key lists are acknowledged key by key and end at the next command. */
    dw(&f, 0xfc);
    dw(&f, 0x1c);
    dw(&f, 0x1b);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK, PS2_ACK);
    dw(&f, 0xf4);
    EXPECT_BYTES(&f, PS2_ACK);
    key(&f, KEY_A, true); /* the key list changed nothing: A still breaks (FA mode) */
    key(&f, KEY_A, false);
    EXPECT_BYTES(&f, 0x1c, 0xf0, 0x1c);
    teardown(&f);
}

static void test_keymap_tables(void)
{
    uint8_t b[VMM_PS2_KEY_MAX_BYTES];
    struct {
        unsigned code;
        unsigned n;
        uint8_t set1[2];
    } set1_makes[] = {
        {KEY_ESC, 1, {0x01}},
        {KEY_F1, 1, {0x3b}},
        {KEY_F12, 1, {0x58}},
        {KEY_102ND, 1, {0x56}},
        {KEY_KPEQUAL, 1, {0x59}},
        {KEY_RO, 1, {0x73}},
        {KEY_YEN, 1, {0x7d}},
        {KEY_HENKAN, 1, {0x79}},
        {KEY_MUHENKAN, 1, {0x7b}},
        {KEY_KATAKANAHIRAGANA, 1, {0x70}},
        {KEY_F13, 1, {0x64}},
        {KEY_HANJA, 1, {0xf1}},
        {KEY_VOLUMEUP, 2, {0xe0, 0x30}},
        {KEY_VOLUMEDOWN, 2, {0xe0, 0x2e}},
        {KEY_NEXTSONG, 2, {0xe0, 0x19}},
        {KEY_PREVIOUSSONG, 2, {0xe0, 0x10}},
        {KEY_PLAYPAUSE, 2, {0xe0, 0x22}},
        {KEY_SEARCH, 2, {0xe0, 0x65}},
        {KEY_HOMEPAGE, 2, {0xe0, 0x32}},
        {KEY_MAIL, 2, {0xe0, 0x6c}},
        {KEY_CALC, 2, {0xe0, 0x21}},
        {KEY_LEFTMETA, 2, {0xe0, 0x5b}},
        {KEY_RIGHTMETA, 2, {0xe0, 0x5c}},
        {KEY_COMPOSE, 2, {0xe0, 0x5d}},
        {KEY_KPENTER, 2, {0xe0, 0x1c}},
        {KEY_PAGEDOWN, 2, {0xe0, 0x51}},
        {KEY_POWER, 2, {0xe0, 0x5e}},
        {KEY_SLEEP, 2, {0xe0, 0x5f}},
    };
    for (size_t i = 0; i < sizeof(set1_makes) / sizeof(set1_makes[0]); i++) {
        unsigned n = vmm_ps2_key_bytes(set1_makes[i].code, true, 1, b);
        CHECK_EQ(n, set1_makes[i].n);
        for (unsigned j = 0; j < n && j < 2; j++)
            CHECK_EQ(b[j], set1_makes[i].set1[j]);
    }
    /* Every letter, digit and F-key has a code; sets other than 1/2 are not this function's. */
    for (unsigned k = KEY_1; k <= KEY_0; k++)
        CHECK_EQ(vmm_ps2_key_bytes(k, true, 2, b), 1);
    for (unsigned k = KEY_F13; k <= KEY_F24; k++)
        CHECK_EQ(vmm_ps2_key_bytes(k, false, 2, b), 2);
    CHECK_EQ(vmm_ps2_key_bytes(KEY_A, true, 3, b), 0);
    CHECK_EQ(vmm_ps2_key_bytes(KEY_RESERVED, true, 2, b), 0);
    CHECK_EQ(vmm_ps2_key_bytes(KEY_MAX, true, 2, b), 0);
    CHECK(!vmm_ps2_key_known(KEY_BRIGHTNESSUP));
    /* The translation table is one-to-one on 01-7f (Brouwer 9.3), identity above but 83/84. */
    uint8_t seen[128] = {0};
    unsigned dups = 0;
    for (unsigned v = 0x01; v < 0x80; v++) {
        uint8_t t = vmm_ps2_xlate_byte((uint8_t)v);
        CHECK(t >= 0x01 && t < 0x80);
        if (t < 0x80 && seen[t]++)
            dups++;
    }
    CHECK_EQ(dups, 0);
    CHECK_EQ(vmm_ps2_xlate_byte(0x00), 0xff);
    CHECK_EQ(vmm_ps2_xlate_byte(0x83), 0x41);
    CHECK_EQ(vmm_ps2_xlate_byte(0x84), 0x54);
    CHECK_EQ(vmm_ps2_xlate_byte(0xfa), 0xfa);
    CHECK_EQ(vmm_ps2_key_set3(KEY_ESC), 0x08);
    CHECK_EQ(vmm_ps2_key_set3(KEY_VOLUMEUP), -1);

    struct fixture f;
    setup(&f);
    CHECK_EQ(vmm_i8042_key(&f.c, KEY_RESERVED, true), -ENOENT);
    CHECK_EQ(vmm_i8042_key(&f.c, 0x300, true), -ENOENT);
    /* A release whose press the guest never saw sends nothing. */
    CHECK_EQ(vmm_i8042_key(&f.c, KEY_B, false), 0);
    EXPECT_EMPTY(&f);
    teardown(&f);
}

static void test_queue_overflow(void)
{
    struct fixture f;
    setup(&f);
    cmd(&f, I8042_CMD_KBD_DISABLE); /* hold everything in the keyboard */
    static const unsigned keys[17] = {KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I,
                                      KEY_J, KEY_K, KEY_L, KEY_M, KEY_N, KEY_O, KEY_P, KEY_Q};
    for (int i = 0; i < 16; i++)
        key(&f, keys[i], true);
    CHECK_EQ(vmm_i8042_kbd_room(&f.c), 0);
    CHECK_EQ(vmm_i8042_key(&f.c, keys[16], true), -ENOSPC);
    CHECK_EQ(vmm_i8042_key(&f.c, KEY_R, true), -ENOSPC); /* no second overrun code */
    /* Releases still fit: the guest must not be left with a stuck key. */
    key(&f, KEY_A, false);
    EXPECT_EMPTY(&f);

    cmd(&f, I8042_CMD_KBD_ENABLE);
    uint8_t got[32];
    unsigned n = drain(&f, got, sizeof(got), NULL);
    CHECK_EQ(n, 18);
    const uint8_t set1[16] = {0x1e, 0x30, 0x2e, 0x20, 0x12, 0x21, 0x22, 0x23,
                              0x17, 0x24, 0x25, 0x26, 0x32, 0x31, 0x18, 0x19};
    for (int i = 0; i < 16 && i < (int)n; i++)
        CHECK_EQ(got[i], set1[i]);
    CHECK_EQ(got[16], 0xff); /* overrun 00, translated */
    CHECK_EQ(got[17], 0x9e); /* A released */
    /* Room again. */
    key(&f, keys[16], true);
    EXPECT_BYTES(&f, 0x10);
    teardown(&f);
}

static void test_irq_lines_follow_ctr(void)
{
    struct fixture f;
    setup(&f);
    ctl_write(&f, I8042_CMD_WRITE_CTR, I8042_CTR_XLATE | I8042_CTR_SYS);
    unsigned base = f.kbd.rises;
    key(&f, KEY_RIGHT, true);
    CHECK_EQ(st(&f) & I8042_STR_OBF, I8042_STR_OBF);
    CHECK_EQ(f.kbd.rises, base);
    CHECK_EQ(f.kbd.level, 0);
    /* Enabling the interrupt with data waiting raises the line. */
    ctl_write(&f, I8042_CMD_WRITE_CTR, I8042_CTR_XLATE | I8042_CTR_SYS | I8042_CTR_KBDINT);
    CHECK_EQ(f.kbd.rises, base + 1);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x45);
    CHECK_EQ(dr(&f), 0xe0);
    CHECK_EQ(f.kbd.rises, base + 3); /* one more edge for the second byte */
    CHECK_EQ(dr(&f), 0x4d);
    CHECK_EQ(f.kbd.level, 0);

    /* Mouse data: IRQ 12 only with AUXINT. */
    aux_send(&f, 0xf2);
    CHECK_EQ(st(&f) & I8042_STR_AUXDATA, I8042_STR_AUXDATA);
    CHECK_EQ(f.aux.rises, 0);
    CHECK_EQ(f.kbd.level, 0);
    EXPECT_BYTES(&f, PS2_ACK, 0x00);
    ctl_write(&f, I8042_CMD_WRITE_CTR, 0x47);
    aux_send(&f, 0xf2);
    CHECK_EQ(f.aux.rises, 1);
    CHECK_EQ(dr(&f), PS2_ACK);
    CHECK_EQ(f.aux.rises, 2);
    CHECK_EQ(dr(&f), 0x00);
    CHECK_EQ(f.aux.level, 0);
    /* A mouse with its clock held (AUXDIS) keeps its bytes. */
    cmd(&f, I8042_CMD_AUX_DISABLE);
    aux_send(&f, 0xf2);
    EXPECT_EMPTY(&f);
    cmd(&f, I8042_CMD_AUX_ENABLE);
    EXPECT_BYTES(&f, PS2_ACK, 0x00);
    teardown(&f);
}

/* Mouse --------------------------------------------------------------------------- */

static void mouse_setup(struct fixture *f)
{
    setup(f);
    ctl_write(f, I8042_CMD_WRITE_CTR, 0x47);
}

static void test_mouse_reset_and_stream(void)
{
    struct fixture f;
    mouse_setup(&f);
    aux_send(&f, 0xff);
    uint8_t got[8];
    uint32_t aux;
    CHECK_EQ(drain(&f, got, sizeof(got), &aux), 3);
    CHECK_EQ(got[0], PS2_ACK);
    CHECK_EQ(got[1], PS2_BAT_OK);
    CHECK_EQ(got[2], 0x00);
    CHECK_EQ(aux, 0x7);
    aux_send(&f, 0xf2);
    EXPECT_BYTES(&f, PS2_ACK, 0x00);

    /* Disabled in stream mode: motion is not sensed at all. */
    vmm_i8042_mouse_move(&f.c, 10, 10, 0);
    EXPECT_EMPTY(&f);
    aux_send(&f, 0xf4);
    EXPECT_BYTES(&f, PS2_ACK);
    vmm_i8042_mouse_move(&f.c, 5, 3, 0); /* evdev: 3 down is PS/2 -3 */
    EXPECT_BYTES(&f, 0x28, 0x05, 0xfd);
    vmm_i8042_mouse_buttons(&f.c, VMM_PS2_BTN_LEFT | VMM_PS2_BTN_MIDDLE);
    EXPECT_BYTES(&f, 0x0d, 0x00, 0x00);
    vmm_i8042_mouse_buttons(&f.c, VMM_PS2_BTN_SIDE); /* invisible to a 3-byte mouse... */
    EXPECT_BYTES(&f, 0x08, 0x00, 0x00);              /* ...but the others were released */
    vmm_i8042_mouse_buttons(&f.c, 0);
    EXPECT_EMPTY(&f);
    vmm_i8042_mouse_move(&f.c, 0, 0, 3); /* no wheel on ID 0 */
    EXPECT_EMPTY(&f);

    /* 9-bit deltas: -300 leaves as -256 and -44. */
    vmm_i8042_mouse_move(&f.c, -300, 0, 0);
    EXPECT_BYTES(&f, 0x18, 0x00, 0x00, 0x18, 0xd4, 0x00);

    /* Beyond the backlog: the excess is dropped and flagged once. */
    vmm_i8042_mouse_move(&f.c, 5000, 0, 0);
    int sum = 0;
    unsigned packets = 0, overflows = 0;
    for (;;) {
        unsigned n = drain(&f, got, 3, NULL);
        if (n < 3)
            break;
        packets++;
        if (got[0] & 0x40)
            overflows++;
        sum += got[1] - ((got[0] & 0x10) ? 256 : 0);
    }
    CHECK_EQ(sum, 2048);
    CHECK_EQ(packets, 9); /* 8 x 255 + 8 */
    CHECK_EQ(overflows, 1);
    teardown(&f);
}

static void rate(struct fixture *f, uint8_t r)
{
    aux_send(f, 0xf3);
    aux_send(f, r);
    EXPECT_BYTES(f, PS2_ACK, PS2_ACK);
}

static uint8_t mouse_id(struct fixture *f)
{
    aux_send(f, 0xf2);
    uint8_t got[4];
    CHECK_EQ(drain(f, got, sizeof(got), NULL), 2);
    CHECK_EQ(got[0], PS2_ACK);
    return got[1];
}

/* psmouse's intellimouse_detect() and im_explorer_detect(). */
static void test_intellimouse(void)
{
    struct fixture f;
    mouse_setup(&f);
    aux_send(&f, 0xf6); /* psmouse_reset */
    EXPECT_BYTES(&f, PS2_ACK);
    CHECK_EQ(mouse_id(&f), 0);
    rate(&f, 200);
    rate(&f, 200); /* the wrong knock does nothing */
    rate(&f, 80);
    CHECK_EQ(mouse_id(&f), 0);
    rate(&f, 200);
    rate(&f, 100);
    rate(&f, 80);
    CHECK_EQ(mouse_id(&f), 3);

    aux_send(&f, 0xf4);
    EXPECT_BYTES(&f, PS2_ACK);
    vmm_i8042_mouse_move(&f.c, 1, 0, 1); /* wheel up: PS/2 z -1 */
    EXPECT_BYTES(&f, 0x08, 0x01, 0x00, 0xff);
    vmm_i8042_mouse_move(&f.c, 0, 0, -20); /* 4-bit wheel: 7 + 7 + 6 */
    EXPECT_BYTES(&f, 0x08, 0x00, 0x00, 0x07, 0x08, 0x00, 0x00, 0x07, 0x08, 0x00, 0x00, 0x06);
    aux_send(&f, 0xf5);
    EXPECT_BYTES(&f, PS2_ACK);

    rate(&f, 200);
    rate(&f, 200);
    rate(&f, 80);
    CHECK_EQ(mouse_id(&f), 4);
    /* Linux's IntelliMouse 4.0 horizontal-wheel knock keeps ID 4. */
    rate(&f, 200);
    rate(&f, 80);
    rate(&f, 40);
    CHECK_EQ(mouse_id(&f), 4);
    /* psmouse_initialize: rate, resolution, scaling; F6 keeps the protocol. */
    aux_send(&f, 0xf6);
    EXPECT_BYTES(&f, PS2_ACK);
    CHECK_EQ(mouse_id(&f), 4);
    aux_send(&f, 0xf4);
    EXPECT_BYTES(&f, PS2_ACK);
    vmm_i8042_mouse_buttons(&f.c, VMM_PS2_BTN_SIDE);
    EXPECT_BYTES(&f, 0x08, 0x00, 0x00, 0x10);
    vmm_i8042_mouse_buttons(&f.c, VMM_PS2_BTN_EXTRA | VMM_PS2_BTN_RIGHT);
    EXPECT_BYTES(&f, 0x0a, 0x00, 0x00, 0x20);
    vmm_i8042_mouse_move(&f.c, 0, 0, 2);
    EXPECT_BYTES(&f, 0x0a, 0x00, 0x00, 0x2e);

    /* Reset goes back to a plain PS/2 mouse. */
    aux_send(&f, 0xff);
    EXPECT_BYTES(&f, PS2_ACK, PS2_BAT_OK, 0x00);
    CHECK_EQ(mouse_id(&f), 0);
    teardown(&f);
}

static void test_mouse_modes_and_status(void)
{
    struct fixture f;
    mouse_setup(&f);
    aux_send(&f, 0xe9);
    EXPECT_BYTES(&f, PS2_ACK, 0x00, 0x02, 100);

    /* Remote mode: motion waits for "read data". */
    aux_send(&f, 0xf0);
    EXPECT_BYTES(&f, PS2_ACK);
    vmm_i8042_mouse_move(&f.c, 7, -2, 0);
    EXPECT_EMPTY(&f);
    vmm_i8042_mouse_buttons(&f.c, VMM_PS2_BTN_RIGHT);
    aux_send(&f, 0xeb);
    EXPECT_BYTES(&f, PS2_ACK, 0x0a, 0x07, 0x02);
    aux_send(&f, 0xeb);
    EXPECT_BYTES(&f, PS2_ACK, 0x0a, 0x00, 0x00);
    aux_send(&f, 0xe8);
    aux_send(&f, 0x03);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK);
    aux_send(&f, 0xe7);
    EXPECT_BYTES(&f, PS2_ACK);
    aux_send(&f, 0xe9);
    EXPECT_BYTES(&f, PS2_ACK, 0x40 | 0x10 | 0x01, 0x03, 100);
    /* Scaling applies to stream reports only, not to "read data". */
    vmm_i8042_mouse_move(&f.c, 4, 0, 0);
    aux_send(&f, 0xeb);
    EXPECT_BYTES(&f, PS2_ACK, 0x0a, 0x04, 0x00);

    /* Bad parameters: resend, then error. */
    aux_send(&f, 0xf3);
    aux_send(&f, 33);
    aux_send(&f, 33);
    EXPECT_BYTES(&f, PS2_ACK, PS2_RESEND, PS2_ERROR);
    aux_send(&f, 0xe8);
    aux_send(&f, 9);
    aux_send(&f, 2);
    EXPECT_BYTES(&f, PS2_ACK, PS2_RESEND, PS2_ACK);
    aux_send(&f, 0xd1); /* not a mouse command */
    EXPECT_BYTES(&f, PS2_RESEND);

    /* Stream mode with 2:1 scaling: 4 -> 6, 10 -> 20. */
    vmm_i8042_mouse_buttons(&f.c, 0);
    aux_send(&f, 0xea);
    aux_send(&f, 0xf4);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK);
    vmm_i8042_mouse_move(&f.c, 4, 0, 0);
    EXPECT_BYTES(&f, 0x08, 0x06, 0x00);
    vmm_i8042_mouse_move(&f.c, -10, 0, 0);
    EXPECT_BYTES(&f, 0x18, 0xec, 0x00);
    aux_send(&f, 0xe9);
    EXPECT_BYTES(&f, PS2_ACK, 0x20 | 0x10, 0x02, 100);
    teardown(&f);
}

static void test_mouse_wrap_and_resend(void)
{
    struct fixture f;
    mouse_setup(&f);
    aux_send(&f, 0xee);
    EXPECT_BYTES(&f, PS2_ACK);
    aux_send(&f, 0x12);
    aux_send(&f, 0xf4); /* echoed, not executed */
    EXPECT_BYTES(&f, 0x12, 0xf4);
    aux_send(&f, 0xec);
    EXPECT_BYTES(&f, PS2_ACK);
    aux_send(&f, 0xf2);
    EXPECT_BYTES(&f, PS2_ACK, 0x00);
    aux_send(&f, 0xfe);
    EXPECT_BYTES(&f, PS2_ACK, 0x00);
    aux_send(&f, 0xf4);
    EXPECT_BYTES(&f, PS2_ACK);
    vmm_i8042_mouse_move(&f.c, 1, 1, 0);
    EXPECT_BYTES(&f, 0x28, 0x01, 0xff);
    aux_send(&f, 0xfe);
    EXPECT_BYTES(&f, 0x28, 0x01, 0xff);

    /* Keyboard and mouse bytes interleave, told apart by AUXDATA. */
    key(&f, KEY_A, true);
    vmm_i8042_mouse_move(&f.c, 2, 0, 0);
    uint8_t got[8];
    uint32_t aux;
    CHECK_EQ(drain(&f, got, sizeof(got), &aux), 4);
    CHECK_EQ(got[0], 0x1e);
    CHECK_EQ(aux, 0xe);
    CHECK_EQ(got[2], 0x02);
    teardown(&f);
}

static void test_machine_reset(void)
{
    struct fixture f;
    mouse_setup(&f);
    rate(&f, 200);
    rate(&f, 100);
    rate(&f, 80);
    dw(&f, 0xf0);
    dw(&f, 0x01);
    key(&f, KEY_A, true);
    vmm_i8042_reset(&f.c);
    EXPECT_EMPTY(&f);
    CHECK_EQ(f.kbd.level, 0);
    CHECK_EQ(ctl_read(&f, I8042_CMD_READ_CTR), 0x45);
    ctl_write(&f, I8042_CMD_WRITE_CTR, 0x47);
    CHECK_EQ(mouse_id(&f), 0);
    dw(&f, 0xf0);
    dw(&f, 0x00);
    EXPECT_BYTES(&f, PS2_ACK, PS2_ACK, 0x41); /* set 2 again */
    teardown(&f);
}

int main(void)
{
    RUN_TEST(test_power_on);
    RUN_TEST(test_self_test_and_ctr);
    RUN_TEST(test_linux_aux_probe);
    RUN_TEST(test_reply_keeps_device_byte);
    RUN_TEST(test_reset_and_a20);
    RUN_TEST(test_keyboard_commands);
    RUN_TEST(test_seabios_keyboard_setup);
    RUN_TEST(test_translated_keys);
    RUN_TEST(test_untranslated_and_other_sets);
    RUN_TEST(test_keymap_tables);
    RUN_TEST(test_queue_overflow);
    RUN_TEST(test_irq_lines_follow_ctr);
    RUN_TEST(test_mouse_reset_and_stream);
    RUN_TEST(test_intellimouse);
    RUN_TEST(test_mouse_modes_and_status);
    RUN_TEST(test_mouse_wrap_and_resend);
    RUN_TEST(test_machine_reset);
    return test_finish();
}
