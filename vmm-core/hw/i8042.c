/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * 8042 keyboard controller with a PS/2 keyboard and mouse. Pure: no VM, no
 * fds, no logging, so it links alone into its unit test. See i8042.h.
 */
#include "hw/i8042.h"

#include <errno.h>
#include <string.h>

#define POWER_ON_CTR (I8042_CTR_XLATE | I8042_CTR_SYS | I8042_CTR_KBDINT)
#define POWER_ON_OUTPORT                                                        \
    (I8042_OUT_RESET | I8042_OUT_A20 | I8042_OUT_AUX_DATA | I8042_OUT_AUX_CLK | \
     I8042_OUT_KBD_CLK | I8042_OUT_KBD_DATA)
/* Input port P1: keyboard not locked, no manufacturing jumper, colour display. */
#define INPUT_PORT 0xa0

/* Keyboard defaults (F6): 10.9 characters/s after 500 ms. */
#define KBD_TYPEMATIC_DEFAULT 0x2b
#define KBD_ID0 0xab
#define KBD_ID1 0x83
#define KBD_OVERRUN_SET1 0xff
#define KBD_OVERRUN 0x00

enum { SET3_DEFAULT, SET3_ALL_BREAK, SET3_NO_BREAK };

/* Mouse motion backlog beyond which counts are dropped and overflow is reported. */
#define MOTION_BACKLOG 2048
#define WHEEL_BACKLOG 64

/* Queues ------------------------------------------------------------------------ */

static void q_clear(struct vmm_ps2_queue *q)
{
    q->head = 0;
    q->count = 0;
}

static bool q_push(struct vmm_ps2_queue *q, uint8_t b)
{
    if (q->count == VMM_PS2_QUEUE_SIZE)
        return false;
    q->data[(q->head + q->count) % VMM_PS2_QUEUE_SIZE] = b;
    q->count++;
    return true;
}

static int q_pop(struct vmm_ps2_queue *q)
{
    if (!q->count)
        return -1;
    uint8_t b = q->data[q->head];
    q->head = (q->head + 1) % VMM_PS2_QUEUE_SIZE;
    q->count--;
    return b;
}

/* Room for host input (keys, packets) under the host's share of the queue. */
static unsigned q_host_room(const struct vmm_ps2_queue *q)
{
    return q->count < VMM_PS2_HOST_ROOM ? VMM_PS2_HOST_ROOM - q->count : 0;
}

/* Controller output buffer and interrupt lines --------------------------------- */

static void update_irqs(struct vmm_i8042 *c)
{
    int kbd = c->obf && !c->obf_aux && (c->ctr & I8042_CTR_KBDINT);
    int aux = c->obf && c->obf_aux && (c->ctr & I8042_CTR_AUXINT);
    if (kbd != c->kbd_level) {
        c->kbd_level = kbd;
        vmm_irq_set(c->kbd_irq, kbd);
    }
    if (aux != c->aux_level) {
        c->aux_level = aux;
        vmm_irq_set(c->aux_irq, aux);
    }
}

static void load_obf(struct vmm_i8042 *c, uint8_t v, bool aux, bool device)
{
    c->obf = true;
    c->obf_val = v;
    c->obf_aux = aux;
    c->obf_device = device;
}

/*
 * A byte the controller itself produces. On the hardware it overwrites the
 * output buffer; a device byte sitting there is kept and delivered next.
 */
static void ctrl_output(struct vmm_i8042 *c, uint8_t v, bool aux)
{
    if (c->obf && c->obf_device && !c->stash) {
        c->stash = true;
        c->stash_val = c->obf_val;
        c->stash_aux = c->obf_aux;
    }
    load_obf(c, v, aux, false);
}

static void mouse_stream(struct vmm_i8042 *c);

/* Fills an empty output buffer from the devices whose clocks are enabled. */
static void pump(struct vmm_i8042 *c)
{
    mouse_stream(c);
    if (!c->obf && c->stash) {
        c->stash = false;
        load_obf(c, c->stash_val, c->stash_aux, true);
    }
    while (!c->obf && !(c->ctr & I8042_CTR_KBDDIS) && c->kbd.q.count) {
        uint8_t b = (uint8_t)q_pop(&c->kbd.q);
        c->kbd.last = b;
        if (c->ctr & I8042_CTR_XLATE) {
            int t = vmm_ps2_translate(&c->xlate, b);
            if (t < 0)
                continue; /* F0 prefix: folded into the next byte */
            b = (uint8_t)t;
        }
        load_obf(c, b, false, true);
    }
    if (!c->obf && !(c->ctr & I8042_CTR_AUXDIS) && c->mouse.q.count) {
        load_obf(c, (uint8_t)q_pop(&c->mouse.q), true, true);
        mouse_stream(c); /* room again: let backlogged motion follow */
    }
    update_irqs(c);
}

static uint8_t read_outport(const struct vmm_i8042 *c)
{
    uint8_t v = c->outport & ~(I8042_OUT_KBD_IRQ | I8042_OUT_AUX_IRQ);
    if (c->obf && !c->obf_aux)
        v |= I8042_OUT_KBD_IRQ;
    if (c->obf && c->obf_aux)
        v |= I8042_OUT_AUX_IRQ;
    return v;
}

static void set_a20(struct vmm_i8042 *c, bool on)
{
    bool was = c->outport & I8042_OUT_A20;
    if (on)
        c->outport |= I8042_OUT_A20;
    else
        c->outport &= ~I8042_OUT_A20;
    if (was != on)
        c->want_a20 = on;
}

static void write_outport(struct vmm_i8042 *c, uint8_t v)
{
    set_a20(c, v & I8042_OUT_A20);
    c->outport = (v & ~I8042_OUT_A20) | (c->outport & I8042_OUT_A20);
    if (!(v & I8042_OUT_RESET)) {
        /* The CPU is reset; the line comes back up with the machine's reset. */
        c->want_reset = true;
        c->outport |= I8042_OUT_RESET;
    }
}

static void write_ctr(struct vmm_i8042 *c, uint8_t v)
{
    uint8_t old = c->ctr;
    c->ctr = v & 0x7f; /* bit 7 is always 0 */
    if ((old ^ c->ctr) & I8042_CTR_XLATE)
        c->xlate.f0 = false;
}

/* Keyboard ------------------------------------------------------------------------ */

static void kbd_defaults(struct vmm_ps2_kbd *k)
{
    k->set = 2;
    k->leds = 0;
    k->typematic = KBD_TYPEMATIC_DEFAULT;
    k->set3_mode = SET3_DEFAULT;
}

static void kbd_clear(struct vmm_i8042 *c)
{
    q_clear(&c->kbd.q);
    c->kbd.overrun = false;
    c->xlate.f0 = false;
}

static void kbd_reply(struct vmm_i8042 *c, uint8_t b)
{
    q_push(&c->kbd.q, b); /* replies may use the whole queue; a flood of commands just loses some */
}

/* The bytes a keyboard treats as commands even in a parameter slot. */
static bool kbd_is_command(uint8_t b)
{
    return b >= 0xed && b != 0xef && b != 0xf1;
}

static void kbd_command(struct vmm_i8042 *c, uint8_t b)
{
    struct vmm_ps2_kbd *k = &c->kbd;

    switch (b) {
    case 0xed: /* set LEDs */
    case 0xf3: /* set typematic rate/delay */
        kbd_reply(c, PS2_ACK);
        k->await = b;
        break;
    case 0xee: /* echo */
        kbd_reply(c, PS2_ECHO);
        break;
    case 0xf0: /* get/set scan code set */
        kbd_clear(c);
        kbd_reply(c, PS2_ACK);
        k->await = b;
        break;
    case 0xf2: /* identify */
        kbd_reply(c, PS2_ACK);
        kbd_reply(c, KBD_ID0);
        kbd_reply(c, KBD_ID1);
        break;
    case 0xf4: /* enable: clears the buffer, starts scanning */
        kbd_clear(c);
        k->scanning = true;
        kbd_reply(c, PS2_ACK);
        break;
    case 0xf5: /* defaults and disable */
        kbd_clear(c);
        kbd_defaults(k);
        k->scanning = false;
        kbd_reply(c, PS2_ACK);
        break;
    case 0xf6: /* defaults */
        kbd_clear(c);
        kbd_defaults(k);
        kbd_reply(c, PS2_ACK);
        break;
    case 0xf7: /* set 3: all keys typematic (no break codes) */
    case 0xf9: /* set 3: all keys make only */
        k->set3_mode = SET3_NO_BREAK;
        kbd_reply(c, PS2_ACK);
        break;
    case 0xf8: /* set 3: all keys make/break */
    case 0xfa: /* set 3: all keys typematic/make/break */
        k->set3_mode = SET3_ALL_BREAK;
        kbd_reply(c, PS2_ACK);
        break;
    case 0xfb: /* set 3 per-key modes: key codes follow until the next command */
    case 0xfc:
    case 0xfd:
        kbd_reply(c, PS2_ACK);
        k->await = b;
        break;
    case 0xfe: /* resend */
        kbd_reply(c, k->last);
        break;
    case 0xff: /* reset and self-test */
        kbd_clear(c);
        kbd_defaults(k);
        k->scanning = true;
        kbd_reply(c, PS2_ACK);
        kbd_reply(c, PS2_BAT_OK);
        break;
    default:
        kbd_reply(c, PS2_RESEND);
        break;
    }
}

static void kbd_param(struct vmm_i8042 *c, uint8_t cmd, uint8_t b)
{
    struct vmm_ps2_kbd *k = &c->kbd;

    switch (cmd) {
    case 0xed:
        k->leds = b & 0x07;
        k->await = 0;
        kbd_reply(c, PS2_ACK);
        break;
    case 0xf3:
        k->typematic = b & 0x7f;
        k->await = 0;
        kbd_reply(c, PS2_ACK);
        break;
    case 0xf0:
        k->await = 0;
        if (b == 0) {
            kbd_reply(c, PS2_ACK);
            kbd_reply(c, k->set);
        } else if (b <= 3) {
            k->set = b;
            kbd_reply(c, PS2_ACK);
        } else {
            kbd_reply(c, PS2_RESEND);
        }
        break;
    default: /* FB-FD: a set 3 key code; stays in the list mode */
        kbd_reply(c, PS2_ACK);
        break;
    }
}

static void kbd_write(struct vmm_i8042 *c, uint8_t b)
{
    struct vmm_ps2_kbd *k = &c->kbd;

    /* A command byte in a parameter slot ends the pending command and runs instead. */
    if (k->await && !kbd_is_command(b)) {
        kbd_param(c, k->await, b);
        return;
    }
    k->await = 0;
    kbd_command(c, b);
}

static bool key_down(const struct vmm_ps2_kbd *k, unsigned code)
{
    return code < 8 * sizeof(k->down) && (k->down[code / 8] & (1u << (code % 8)));
}

static void mark_key(struct vmm_ps2_kbd *k, unsigned code, bool down)
{
    if (code >= 8 * sizeof(k->down))
        return;
    if (down)
        k->down[code / 8] |= (uint8_t)(1u << (code % 8));
    else
        k->down[code / 8] &= (uint8_t) ~(1u << (code % 8));
}

static unsigned key_sequence(const struct vmm_ps2_kbd *k, unsigned code, bool pressed, uint8_t *out)
{
    if (k->set != 3)
        return vmm_ps2_key_bytes(code, pressed, k->set, out);
    int s3 = vmm_ps2_key_set3(code);
    if (s3 < 0)
        return 0;
    if (pressed) {
        out[0] = (uint8_t)s3;
        return 1;
    }
    bool brk = k->set3_mode == SET3_ALL_BREAK ||
               (k->set3_mode == SET3_DEFAULT && vmm_ps2_key_set3_default_break(code));
    if (!brk)
        return 0;
    out[0] = 0xf0;
    out[1] = (uint8_t)s3;
    return 2;
}

static int kbd_key(struct vmm_i8042 *c, unsigned code, bool pressed)
{
    struct vmm_ps2_kbd *k = &c->kbd;
    uint8_t seq[VMM_PS2_KEY_MAX_BYTES];
    unsigned n = key_sequence(k, code, pressed, seq);

    if (!n)
        return 0;
    if (!pressed && !key_down(k, code))
        return 0; /* its press never reached the guest: nothing to release */
    /* Releases may use the whole queue, presses the host's share. */
    unsigned limit = pressed ? VMM_PS2_HOST_ROOM : VMM_PS2_QUEUE_SIZE;
    if (k->q.count + n > limit) {
        if (!k->overrun && q_push(&k->q, k->set == 1 ? KBD_OVERRUN_SET1 : KBD_OVERRUN))
            k->overrun = true;
        return -ENOSPC;
    }
    for (unsigned i = 0; i < n; i++)
        q_push(&k->q, seq[i]);
    k->overrun = false;
    mark_key(k, code, pressed);
    return 0;
}

/* Mouse ---------------------------------------------------------------------------- */

static void mouse_clear_motion(struct vmm_ps2_mouse *m)
{
    m->dx = m->dy = m->dz = 0;
    m->x_over = m->y_over = false;
    m->reported = m->buttons;
}

static void mouse_defaults(struct vmm_ps2_mouse *m)
{
    m->rate = 100;
    m->resolution = 2;
    m->scale21 = false;
    m->remote = false;
    m->reporting = false;
    m->await = 0;
    m->nacks = 0;
    mouse_clear_motion(m);
}

static void mouse_reply(struct vmm_i8042 *c, const uint8_t *b, unsigned n)
{
    struct vmm_ps2_mouse *m = &c->mouse;
    for (unsigned i = 0; i < n; i++)
        q_push(&m->q, b[i]);
    if (n <= sizeof(m->last)) {
        memcpy(m->last, b, n);
        m->last_len = n;
    }
}

static void mouse_reply1(struct vmm_i8042 *c, uint8_t b)
{
    mouse_reply(c, &b, 1);
}

static unsigned packet_len(const struct vmm_ps2_mouse *m)
{
    return m->id >= 3 ? 4 : 3;
}

/* Buttons the current protocol can report. */
static uint8_t visible_buttons(const struct vmm_ps2_mouse *m)
{
    return m->id == 4 ? 0x1f : 0x07;
}

static bool mouse_has_news(const struct vmm_ps2_mouse *m)
{
    return m->dx || m->dy || m->dz || m->x_over || m->y_over ||
           ((m->buttons ^ m->reported) & visible_buttons(m));
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* 2:1 scaling of stream reports: 0 1 2 3 4 5 -> 0 1 1 3 6 9, then doubling. */
static int scale21(int v)
{
    static const int small[6] = {0, 1, 1, 3, 6, 9};
    int a = v < 0 ? -v : v;
    int s = a < 6 ? small[a] : 2 * a;
    return v < 0 ? -s : s;
}

/* Takes as much backlog as one packet carries. */
static unsigned mouse_packet(struct vmm_ps2_mouse *m, bool stream, uint8_t *out)
{
    int dx = clamp(m->dx, -256, 255), dy = clamp(m->dy, -256, 255);
    int dz = m->id >= 3 ? clamp(m->dz, -8, 7) : 0;
    bool xo = m->x_over, yo = m->y_over;

    m->dx -= dx;
    m->dy -= dy;
    m->dz = m->id >= 3 ? m->dz - dz : 0; /* a 3-byte mouse has no wheel */
    if (stream && m->scale21) {
        dx = scale21(dx);
        dy = scale21(dy);
        if (dx < -256 || dx > 255)
            xo = true;
        if (dy < -256 || dy > 255)
            yo = true;
        dx = clamp(dx, -256, 255);
        dy = clamp(dy, -256, 255);
    }
    m->x_over = m->y_over = false;
    m->reported = m->buttons;

    out[0] = 0x08 | (m->buttons & 0x07) | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0) |
             (xo ? 0x40 : 0) | (yo ? 0x80 : 0);
    out[1] = (uint8_t)dx;
    out[2] = (uint8_t)dy;
    if (m->id == 3) {
        out[3] = (uint8_t)(int8_t)dz;
        return 4;
    }
    if (m->id == 4) {
        out[3] = (uint8_t)((dz & 0x0f) | ((m->buttons & VMM_PS2_BTN_SIDE) ? 0x10 : 0) |
                           ((m->buttons & VMM_PS2_BTN_EXTRA) ? 0x20 : 0));
        return 4;
    }
    return 3;
}

/* Stream mode: turns backlog into packets while the host's share of the queue has room. */
static void mouse_stream(struct vmm_i8042 *c)
{
    struct vmm_ps2_mouse *m = &c->mouse;
    if (!m->reporting || m->remote || m->wrap)
        return;
    while (mouse_has_news(m) && q_host_room(&m->q) >= packet_len(m)) {
        uint8_t p[4];
        unsigned n = mouse_packet(m, true, p);
        mouse_reply(c, p, n);
    }
}

static bool valid_rate(uint8_t r)
{
    switch (r) {
    case 10:
    case 20:
    case 40:
    case 60:
    case 80:
    case 100:
    case 200:
        return true;
    }
    return false;
}

/* IntelliMouse knocks: rates 200, 100, 80 give the wheel; then 200, 200, 80 five buttons. */
static void mouse_rate_set(struct vmm_ps2_mouse *m, uint8_t r)
{
    m->rate = r;
    m->rates[0] = m->rates[1];
    m->rates[1] = m->rates[2];
    m->rates[2] = r;
    if (m->id == 0 && m->rates[0] == 200 && m->rates[1] == 100 && m->rates[2] == 80)
        m->id = 3;
    else if (m->id == 3 && m->rates[0] == 200 && m->rates[1] == 200 && m->rates[2] == 80)
        m->id = 4;
}

static void mouse_command(struct vmm_i8042 *c, uint8_t b)
{
    struct vmm_ps2_mouse *m = &c->mouse;

    switch (b) {
    case 0xe6:
        m->scale21 = false;
        mouse_reply1(c, PS2_ACK);
        break;
    case 0xe7:
        m->scale21 = true;
        mouse_reply1(c, PS2_ACK);
        break;
    case 0xe8: /* set resolution */
    case 0xf3: /* set sample rate */
        m->await = b;
        mouse_reply1(c, PS2_ACK);
        break;
    case 0xe9: { /* status request */
        uint8_t st[4] = {PS2_ACK, 0, m->resolution, m->rate};
        st[1] = (m->remote ? 0x40 : 0) | (m->reporting ? 0x20 : 0) | (m->scale21 ? 0x10 : 0) |
                ((m->buttons & VMM_PS2_BTN_LEFT) ? 0x04 : 0) |
                ((m->buttons & VMM_PS2_BTN_MIDDLE) ? 0x02 : 0) |
                ((m->buttons & VMM_PS2_BTN_RIGHT) ? 0x01 : 0);
        mouse_reply(c, st, 4);
        break;
    }
    case 0xea: /* stream mode */
        m->remote = false;
        mouse_clear_motion(m);
        mouse_reply1(c, PS2_ACK);
        break;
    case 0xeb: { /* read data */
        uint8_t p[5] = {PS2_ACK};
        unsigned n = mouse_packet(m, false, p + 1);
        mouse_reply(c, p, n + 1);
        break;
    }
    case 0xec: /* reset wrap mode (not in it) */
        mouse_reply1(c, PS2_ACK);
        break;
    case 0xee: /* wrap (echo) mode */
        m->wrap = true;
        mouse_reply1(c, PS2_ACK);
        break;
    case 0xf0: /* remote mode */
        m->remote = true;
        mouse_clear_motion(m);
        mouse_reply1(c, PS2_ACK);
        break;
    case 0xf2: { /* get device ID */
        uint8_t id[2] = {PS2_ACK, m->id};
        mouse_reply(c, id, 2);
        break;
    }
    case 0xf4:
        m->reporting = true;
        mouse_clear_motion(m);
        mouse_reply1(c, PS2_ACK);
        break;
    case 0xf5:
        m->reporting = false;
        mouse_clear_motion(m);
        mouse_reply1(c, PS2_ACK);
        break;
    case 0xf6: /* defaults; the protocol (ID) stays, as drivers expect after detection */
        mouse_defaults(m);
        mouse_reply1(c, PS2_ACK);
        break;
    case 0xfe: /* resend the last packet or reply */
        for (unsigned i = 0; i < m->last_len; i++)
            q_push(&m->q, m->last[i]);
        break;
    case 0xff: { /* reset and self-test */
        static const uint8_t bat[3] = {PS2_ACK, PS2_BAT_OK, 0x00};
        mouse_defaults(m);
        m->id = 0;
        m->wrap = false;
        memset(m->rates, 0, sizeof(m->rates));
        q_clear(&m->q);
        mouse_reply(c, bat, 3);
        break;
    }
    default:
        mouse_reply1(c, PS2_RESEND);
        break;
    }
}

static void mouse_write(struct vmm_i8042 *c, uint8_t b)
{
    struct vmm_ps2_mouse *m = &c->mouse;

    if (m->wrap) {
        if (b == 0xec) {
            m->wrap = false;
            mouse_reply1(c, PS2_ACK);
        } else if (b == 0xff) {
            mouse_command(c, b);
        } else {
            mouse_reply1(c, b); /* echoed, not acknowledged */
        }
        return;
    }
    /* Parameters are never >= 0xe6, so such a byte is a command that ends the wait. */
    if (m->await && b < 0xe6) {
        bool ok = m->await == 0xe8 ? b <= 3 : valid_rate(b);
        if (ok) {
            if (m->await == 0xe8)
                m->resolution = b;
            else
                mouse_rate_set(m, b);
            m->await = 0;
            m->nacks = 0;
            mouse_clear_motion(m);
            mouse_reply1(c, PS2_ACK);
        } else if (++m->nacks < 2) {
            mouse_reply1(c, PS2_RESEND); /* the host may correct it */
        } else {
            m->await = 0;
            m->nacks = 0;
            mouse_reply1(c, PS2_ERROR);
        }
        return;
    }
    m->await = 0;
    m->nacks = 0;
    mouse_command(c, b);
}

/* Controller ------------------------------------------------------------------------- */

static void ctrl_command(struct vmm_i8042 *c, uint8_t cmd)
{
    c->await = 0;
    if (cmd >= 0x20 && cmd <= 0x3f) {
        ctrl_output(c, cmd == I8042_CMD_READ_CTR ? c->ctr : c->ram[cmd & 0x1f], false);
        return;
    }
    if (cmd >= 0x60 && cmd <= 0x7f) {
        c->await = cmd;
        return;
    }
    if (cmd >= 0xf0) {
        /* Pulse the output bits whose command bits are 0; only bit 0 (reset) matters. */
        if (!(cmd & I8042_OUT_RESET))
            c->want_reset = true;
        return;
    }
    switch (cmd) {
    case I8042_CMD_AUX_DISABLE:
        c->ctr |= I8042_CTR_AUXDIS;
        break;
    case I8042_CMD_AUX_ENABLE:
        c->ctr &= ~I8042_CTR_AUXDIS;
        break;
    case I8042_CMD_AUX_TEST:
    case I8042_CMD_KBD_TEST:
        ctrl_output(c, 0x00, false); /* no line stuck */
        break;
    case I8042_CMD_SELF_TEST:
        c->ctr |= I8042_CTR_SYS;
        ctrl_output(c, I8042_SELF_TEST_OK, false);
        break;
    case I8042_CMD_KBD_DISABLE:
        c->ctr |= I8042_CTR_KBDDIS;
        break;
    case I8042_CMD_KBD_ENABLE:
        c->ctr &= ~I8042_CTR_KBDDIS;
        break;
    case I8042_CMD_READ_INPUT:
        ctrl_output(c, INPUT_PORT, false);
        break;
    case I8042_CMD_READ_OUTPUT:
        ctrl_output(c, read_outport(c), false);
        break;
    case I8042_CMD_WRITE_OUTPUT:
    case I8042_CMD_KBD_LOOP:
    case I8042_CMD_AUX_LOOP:
    case I8042_CMD_AUX_SEND:
        c->await = cmd;
        break;
    case I8042_CMD_A20_OFF:
        set_a20(c, false);
        break;
    case I8042_CMD_A20_ON:
        set_a20(c, true);
        break;
    case I8042_CMD_READ_TEST:
        ctrl_output(c, 0x00, false);
        break;
    default:
        break; /* vendor commands (passwords, speed switching, ...) do nothing here */
    }
}

static void data_write(struct vmm_i8042 *c, uint8_t v)
{
    uint8_t cmd = c->await;
    c->await = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
        if (cmd == I8042_CMD_WRITE_CTR)
            write_ctr(c, v);
        else
            c->ram[cmd & 0x1f] = v;
        return;
    }
    switch (cmd) {
    case I8042_CMD_WRITE_OUTPUT:
        write_outport(c, v);
        return;
    case I8042_CMD_KBD_LOOP:
        ctrl_output(c, v, false);
        return;
    case I8042_CMD_AUX_LOOP:
        ctrl_output(c, v, true);
        return;
    case I8042_CMD_AUX_SEND:
        mouse_write(c, v);
        return;
    }
    /* Plain data goes to the keyboard, and re-enables its interface. */
    c->ctr &= ~I8042_CTR_KBDDIS;
    kbd_write(c, v);
}

static uint8_t status(const struct vmm_i8042 *c)
{
    uint8_t st = I8042_STR_KEYLOCK;
    if (c->obf)
        st |= I8042_STR_OBF | (c->obf_aux ? I8042_STR_AUXDATA : 0);
    if (c->ctr & I8042_CTR_SYS)
        st |= I8042_STR_SYS;
    if (c->last_was_cmd)
        st |= I8042_STR_CMD;
    return st;
}

static void lock(struct vmm_i8042 *c)
{
    pthread_mutex_lock(&c->dev.lock);
}

/* Drops the lock, then reports reset / A20 changes the access caused. */
static void unlock(struct vmm_i8042 *c)
{
    bool reset = c->want_reset;
    int a20 = c->want_a20;
    vmm_i8042_reset_fn reset_cb = c->reset_cb;
    vmm_i8042_a20_fn a20_cb = c->a20_cb;
    void *opaque = c->cb_opaque;

    c->want_reset = false;
    c->want_a20 = -1;
    pthread_mutex_unlock(&c->dev.lock);
    if (a20 >= 0 && a20_cb)
        a20_cb(opaque, a20);
    if (reset && reset_cb)
        reset_cb(opaque);
}

static uint64_t data_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_i8042 *c = opaque;
    lock(c);
    if (c->obf) {
        c->last_read = c->obf_val;
        c->obf = false;
        update_irqs(c); /* the edge: the line drops before the next byte raises it */
        pump(c);
    }
    uint8_t v = c->last_read;
    unlock(c);
    return v | (size > 1 ? ~0ULL << 8 : 0);
}

static void data_port_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_i8042 *c = opaque;
    lock(c);
    c->last_was_cmd = false;
    data_write(c, (uint8_t)val);
    pump(c);
    unlock(c);
}

static uint64_t cmd_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_i8042 *c = opaque;
    lock(c);
    uint8_t v = status(c);
    unlock(c);
    return v | (size > 1 ? ~0ULL << 8 : 0);
}

static void cmd_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_i8042 *c = opaque;
    lock(c);
    c->last_was_cmd = true;
    ctrl_command(c, (uint8_t)val);
    pump(c);
    unlock(c);
}

const struct vmm_io_ops vmm_i8042_data_ops = {
    .read = data_read,
    .write = data_port_write,
};

const struct vmm_io_ops vmm_i8042_cmd_ops = {
    .read = cmd_read,
    .write = cmd_write,
};

/* Host input ------------------------------------------------------------------------- */

int vmm_i8042_key(struct vmm_i8042 *c, unsigned evdev_code, bool pressed)
{
    if (!vmm_ps2_key_known(evdev_code))
        return -ENOENT;
    lock(c);
    int r = c->kbd.scanning ? kbd_key(c, evdev_code, pressed) : -EBUSY;
    pump(c);
    unlock(c);
    return r;
}

static int32_t add_motion(int32_t acc, int d, int32_t limit, bool *over)
{
    int64_t v = (int64_t)acc + d;
    if (v > limit || v < -limit) {
        *over = true;
        v = v > 0 ? limit : -limit;
    }
    return (int32_t)v;
}

void vmm_i8042_mouse_move(struct vmm_i8042 *c, int dx, int dy, int dz)
{
    lock(c);
    struct vmm_ps2_mouse *m = &c->mouse;
    /* A disabled mouse in stream mode senses nothing; a remote-mode one keeps counting. */
    if (m->remote || m->reporting) {
        bool zo = false;
        m->dx = add_motion(m->dx, dx, MOTION_BACKLOG, &m->x_over);
        m->dy = add_motion(m->dy, -dy, MOTION_BACKLOG, &m->y_over); /* PS/2 y grows upwards */
        if (m->id >= 3)
            m->dz = add_motion(m->dz, -dz, WHEEL_BACKLOG, &zo); /* and z towards the user */
    }
    pump(c);
    unlock(c);
}

void vmm_i8042_mouse_buttons(struct vmm_i8042 *c, unsigned mask)
{
    lock(c);
    c->mouse.buttons = (uint8_t)(mask & 0x1f);
    pump(c);
    unlock(c);
}

unsigned vmm_i8042_kbd_room(struct vmm_i8042 *c)
{
    lock(c);
    unsigned r = c->kbd.scanning ? q_host_room(&c->kbd.q) : 0;
    unlock(c);
    return r;
}

uint8_t vmm_i8042_kbd_leds(struct vmm_i8042 *c)
{
    lock(c);
    uint8_t v = c->kbd.leds;
    unlock(c);
    return v;
}

/* Life cycle ------------------------------------------------------------------------- */

static void reset_locked(struct vmm_i8042 *c)
{
    c->ctr = POWER_ON_CTR;
    memset(c->ram, 0, sizeof(c->ram));
    set_a20(c, true);
    c->outport = POWER_ON_OUTPORT;
    c->await = 0;
    c->last_was_cmd = false;
    c->obf = false;
    c->stash = false;
    c->last_read = 0;
    c->xlate.f0 = false;

    struct vmm_ps2_kbd *k = &c->kbd;
    kbd_clear(c);
    kbd_defaults(k);
    k->scanning = true;
    k->await = 0;
    k->last = 0;
    memset(k->down, 0, sizeof(k->down));

    struct vmm_ps2_mouse *m = &c->mouse;
    q_clear(&m->q);
    mouse_defaults(m);
    m->id = 0;
    m->wrap = false;
    memset(m->rates, 0, sizeof(m->rates));
    m->last_len = 0;
    update_irqs(c);
}

void vmm_i8042_init(struct vmm_i8042 *c, struct vmm_irq *kbd_irq, struct vmm_irq *aux_irq)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->dev.lock, NULL);
    c->kbd_irq = kbd_irq;
    c->aux_irq = aux_irq;
    c->outport = POWER_ON_OUTPORT;
    reset_locked(c);
    c->want_a20 = -1;
}

void vmm_i8042_set_callbacks(struct vmm_i8042 *c, vmm_i8042_reset_fn reset, vmm_i8042_a20_fn a20,
                             void *opaque)
{
    lock(c);
    c->reset_cb = reset;
    c->a20_cb = a20;
    c->cb_opaque = opaque;
    unlock(c);
}

void vmm_i8042_fini(struct vmm_i8042 *c)
{
    pthread_mutex_destroy(&c->dev.lock);
}

void vmm_i8042_reset(struct vmm_i8042 *c)
{
    lock(c);
    reset_locked(c);
    unlock(c);
}

/* Snapshot restore (snapshot/dev-state.c), with the device lock held. */
void vmm_i8042_state_loaded(struct vmm_i8042 *c)
{
    c->want_reset = false;
    c->want_a20 = -1;
    c->kbd_level = c->aux_level = -1;
    update_irqs(c);
}
