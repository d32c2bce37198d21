/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * evdev -> PS/2 scan codes. Sources: the scan code set 2 / set 3
 * correspondence and the 8042 translation table as documented in Andries
 * Brouwer's "Keyboard scancodes" (sections 9.3, 9.6), and Microsoft's
 * "Keyboard Scan Code Specification" for the multimedia, F13-F24 and
 * Japanese/Korean keys (checked against their set 1 values by translation).
 */
#include "hw/ps2-keymap.h"

#include <linux/input-event-codes.h>
#include <stddef.h>

#define F_E0 0x01      /* E0 prefix */
#define F_NOBREAK 0x02 /* make code only (Korean Hangul / Hanja) */
#define F_PAUSE 0x04
#define F_PRTSC 0x08

struct ps2_key {
    uint8_t set2; /* make code in set 2 (after any E0) */
    uint8_t flags;
    uint8_t set3; /* 0: none */
};

/* A key whose set 3 code is its set 2 code. */
#define K(c)        \
    {               \
        (c), 0, (c) \
    }
/* Set 3 differs. */
#define K3(c, s3)    \
    {                \
        (c), 0, (s3) \
    }
/* No set 3 code. */
#define KN(c)     \
    {             \
        (c), 0, 0 \
    }
/* E0-prefixed in set 2. */
#define E3(c, s3)       \
    {                   \
        (c), F_E0, (s3) \
    }
#define EN(c)        \
    {                \
        (c), F_E0, 0 \
    }

static const struct ps2_key keymap[KEY_MEDIA + 1] = {
    [KEY_ESC] = K3(0x76, 0x08),
    [KEY_1] = K(0x16),
    [KEY_2] = K(0x1e),
    [KEY_3] = K(0x26),
    [KEY_4] = K(0x25),
    [KEY_5] = K(0x2e),
    [KEY_6] = K(0x36),
    [KEY_7] = K(0x3d),
    [KEY_8] = K(0x3e),
    [KEY_9] = K(0x46),
    [KEY_0] = K(0x45),
    [KEY_MINUS] = K(0x4e),
    [KEY_EQUAL] = K(0x55),
    [KEY_BACKSPACE] = K(0x66),
    [KEY_TAB] = K(0x0d),
    [KEY_Q] = K(0x15),
    [KEY_W] = K(0x1d),
    [KEY_E] = K(0x24),
    [KEY_R] = K(0x2d),
    [KEY_T] = K(0x2c),
    [KEY_Y] = K(0x35),
    [KEY_U] = K(0x3c),
    [KEY_I] = K(0x43),
    [KEY_O] = K(0x44),
    [KEY_P] = K(0x4d),
    [KEY_LEFTBRACE] = K(0x54),
    [KEY_RIGHTBRACE] = K(0x5b),
    [KEY_ENTER] = K(0x5a),
    [KEY_LEFTCTRL] = K3(0x14, 0x11),
    [KEY_A] = K(0x1c),
    [KEY_S] = K(0x1b),
    [KEY_D] = K(0x23),
    [KEY_F] = K(0x2b),
    [KEY_G] = K(0x34),
    [KEY_H] = K(0x33),
    [KEY_J] = K(0x3b),
    [KEY_K] = K(0x42),
    [KEY_L] = K(0x4b),
    [KEY_SEMICOLON] = K(0x4c),
    [KEY_APOSTROPHE] = K(0x52),
    [KEY_GRAVE] = K(0x0e),
    [KEY_LEFTSHIFT] = K(0x12),
    [KEY_BACKSLASH] = K3(0x5d, 0x5c),
    [KEY_Z] = K(0x1a),
    [KEY_X] = K(0x22),
    [KEY_C] = K(0x21),
    [KEY_V] = K(0x2a),
    [KEY_B] = K(0x32),
    [KEY_N] = K(0x31),
    [KEY_M] = K(0x3a),
    [KEY_COMMA] = K(0x41),
    [KEY_DOT] = K(0x49),
    [KEY_SLASH] = K(0x4a),
    [KEY_RIGHTSHIFT] = K(0x59),
    [KEY_KPASTERISK] = K3(0x7c, 0x7e),
    [KEY_LEFTALT] = K3(0x11, 0x19),
    [KEY_SPACE] = K(0x29),
    [KEY_CAPSLOCK] = K3(0x58, 0x14),
    [KEY_F1] = K3(0x05, 0x07),
    [KEY_F2] = K3(0x06, 0x0f),
    [KEY_F3] = K3(0x04, 0x17),
    [KEY_F4] = K3(0x0c, 0x1f),
    [KEY_F5] = K3(0x03, 0x27),
    [KEY_F6] = K3(0x0b, 0x2f),
    [KEY_F7] = K3(0x83, 0x37),
    [KEY_F8] = K3(0x0a, 0x3f),
    [KEY_F9] = K3(0x01, 0x47),
    [KEY_F10] = K3(0x09, 0x4f),
    [KEY_NUMLOCK] = K3(0x77, 0x76),
    [KEY_SCROLLLOCK] = K3(0x7e, 0x5f),
    [KEY_KP7] = K(0x6c),
    [KEY_KP8] = K(0x75),
    [KEY_KP9] = K(0x7d),
    [KEY_KPMINUS] = K3(0x7b, 0x84),
    [KEY_KP4] = K(0x6b),
    [KEY_KP5] = K(0x73),
    [KEY_KP6] = K(0x74),
    [KEY_KPPLUS] = K3(0x79, 0x7c),
    [KEY_KP1] = K(0x69),
    [KEY_KP2] = K(0x72),
    [KEY_KP3] = K(0x7a),
    [KEY_KP0] = K(0x70),
    [KEY_KPDOT] = K(0x71),
    /* A Japanese keyboard's Hankaku/Zenkaku key sits where ` is and sends its code. */
    [KEY_ZENKAKUHANKAKU] = K(0x0e),
    [KEY_102ND] = K3(0x61, 0x13),
    [KEY_F11] = K3(0x78, 0x56),
    [KEY_F12] = K3(0x07, 0x5e),
    [KEY_RO] = KN(0x51),               /* International 1 */
    [KEY_KATAKANA] = KN(0x63),         /* LANG3 */
    [KEY_HIRAGANA] = KN(0x62),         /* LANG4 */
    [KEY_HENKAN] = KN(0x64),           /* International 4 */
    [KEY_KATAKANAHIRAGANA] = KN(0x13), /* International 2 */
    [KEY_MUHENKAN] = KN(0x67),         /* International 5 */
    [KEY_KPJPCOMMA] = KN(0x27),        /* International 6 */
    [KEY_KPENTER] = E3(0x5a, 0x79),
    [KEY_RIGHTCTRL] = E3(0x14, 0x58),
    [KEY_KPSLASH] = E3(0x4a, 0x77),
    [KEY_SYSRQ] = {0x7c, F_PRTSC, 0x57},
    [KEY_RIGHTALT] = E3(0x11, 0x39),
    [KEY_HOME] = E3(0x6c, 0x6e),
    [KEY_UP] = E3(0x75, 0x63),
    [KEY_PAGEUP] = E3(0x7d, 0x6f),
    [KEY_LEFT] = E3(0x6b, 0x61),
    [KEY_RIGHT] = E3(0x74, 0x6a),
    [KEY_END] = E3(0x69, 0x65),
    [KEY_DOWN] = E3(0x72, 0x60),
    [KEY_PAGEDOWN] = E3(0x7a, 0x6d),
    [KEY_INSERT] = E3(0x70, 0x67),
    [KEY_DELETE] = E3(0x71, 0x64),
    [KEY_MUTE] = EN(0x23),
    [KEY_VOLUMEDOWN] = EN(0x21),
    [KEY_VOLUMEUP] = EN(0x32),
    [KEY_POWER] = EN(0x37),
    [KEY_KPEQUAL] = KN(0x0f),
    [KEY_PAUSE] = {0x77, F_PAUSE, 0x62},
    [KEY_KPCOMMA] = KN(0x6d), /* Brazilian keypad . */
    [KEY_HANGEUL] = {0xf2, F_NOBREAK, 0},
    [KEY_HANJA] = {0xf1, F_NOBREAK, 0},
    [KEY_YEN] = KN(0x6a), /* International 3 */
    [KEY_LEFTMETA] = E3(0x1f, 0x8b),
    [KEY_RIGHTMETA] = E3(0x27, 0x8c),
    [KEY_COMPOSE] = E3(0x2f, 0x8d), /* the Menu key */
    [KEY_STOP] = EN(0x28),          /* WWW Stop */
    [KEY_CALC] = EN(0x2b),
    [KEY_SLEEP] = EN(0x3f),
    [KEY_WAKEUP] = EN(0x5e),
    [KEY_WWW] = EN(0x3a), /* WWW Home */
    [KEY_MAIL] = EN(0x48),
    [KEY_BOOKMARKS] = EN(0x18),
    [KEY_COMPUTER] = EN(0x40),
    [KEY_BACK] = EN(0x38),
    [KEY_FORWARD] = EN(0x30),
    [KEY_NEXTSONG] = EN(0x4d),
    [KEY_PLAYPAUSE] = EN(0x34),
    [KEY_PREVIOUSSONG] = EN(0x15),
    [KEY_STOPCD] = EN(0x3b),
    [KEY_HOMEPAGE] = EN(0x3a),
    [KEY_REFRESH] = EN(0x20),
    [KEY_F13] = KN(0x08),
    [KEY_F14] = KN(0x10),
    [KEY_F15] = KN(0x18),
    [KEY_F16] = KN(0x20),
    [KEY_F17] = KN(0x28),
    [KEY_F18] = KN(0x30),
    [KEY_F19] = KN(0x38),
    [KEY_F20] = KN(0x40),
    [KEY_F21] = KN(0x48),
    [KEY_F22] = KN(0x50),
    [KEY_F23] = KN(0x57),
    [KEY_F24] = KN(0x5f),
    [KEY_PRINT] = {0x7c, F_PRTSC, 0x57},
    [KEY_EMAIL] = EN(0x48),
    [KEY_SEARCH] = EN(0x10),
    [KEY_MEDIA] = EN(0x50),
};

/*
 * The 8042's translation table for 0x00..0x7f. 0x80 and up pass through
 * unchanged except 0x83 (F7 in set 2) and 0x84 (Alt+SysRq).
 */
static const uint8_t xlate_low[128] = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

uint8_t vmm_ps2_xlate_byte(uint8_t in)
{
    if (in < 0x80)
        return xlate_low[in];
    if (in == 0x83)
        return 0x41;
    if (in == 0x84)
        return 0x54;
    return in;
}

int vmm_ps2_translate(struct vmm_ps2_xlate *x, uint8_t in)
{
    if (in == 0xf0) {
        x->f0 = true;
        return -1;
    }
    uint8_t out = vmm_ps2_xlate_byte(in);
    if (x->f0) {
        out |= 0x80;
        x->f0 = false;
    }
    return out;
}

static const struct ps2_key *lookup(unsigned code)
{
    if (code >= sizeof(keymap) / sizeof(keymap[0]))
        return NULL;
    const struct ps2_key *k = &keymap[code];
    return k->set2 ? k : NULL;
}

bool vmm_ps2_key_known(unsigned code)
{
    return lookup(code) != NULL;
}

static unsigned set2_bytes(const struct ps2_key *k, bool pressed, uint8_t *out)
{
    static const uint8_t pause[] = {0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77};
    static const uint8_t prtsc_make[] = {0xe0, 0x12, 0xe0, 0x7c};
    static const uint8_t prtsc_break[] = {0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12};
    const uint8_t *seq = NULL;
    unsigned n = 0;

    if (k->flags & F_PAUSE) {
        if (!pressed)
            return 0;
        seq = pause;
        n = sizeof(pause);
    } else if (k->flags & F_PRTSC) {
        seq = pressed ? prtsc_make : prtsc_break;
        n = pressed ? sizeof(prtsc_make) : sizeof(prtsc_break);
    }
    if (seq) {
        for (unsigned i = 0; i < n; i++)
            out[i] = seq[i];
        return n;
    }
    if (k->flags & F_NOBREAK) {
        if (!pressed)
            return 0;
        out[0] = k->set2;
        return 1;
    }
    if (k->flags & F_E0)
        out[n++] = 0xe0;
    if (!pressed)
        out[n++] = 0xf0;
    out[n++] = k->set2;
    return n;
}

unsigned vmm_ps2_key_bytes(unsigned code, bool pressed, unsigned set,
                           uint8_t out[VMM_PS2_KEY_MAX_BYTES])
{
    const struct ps2_key *k = lookup(code);
    if (!k || (set != 1 && set != 2))
        return 0;
    uint8_t s2[VMM_PS2_KEY_MAX_BYTES];
    unsigned n = set2_bytes(k, pressed, s2);
    if (set == 2) {
        for (unsigned i = 0; i < n; i++)
            out[i] = s2[i];
        return n;
    }
    /* Set 1 is set 2 as the 8042 translates it. */
    struct vmm_ps2_xlate x = {false};
    unsigned m = 0;
    for (unsigned i = 0; i < n; i++) {
        int b = vmm_ps2_translate(&x, s2[i]);
        if (b >= 0)
            out[m++] = (uint8_t)b;
    }
    return m;
}

int vmm_ps2_key_set3(unsigned code)
{
    const struct ps2_key *k = lookup(code);
    return k && k->set3 ? k->set3 : -1;
}

bool vmm_ps2_key_set3_default_break(unsigned code)
{
    switch (vmm_ps2_key_set3(code)) {
    case 0x11: /* left Ctrl */
    case 0x12: /* left Shift */
    case 0x14: /* Caps Lock */
    case 0x19: /* left Alt */
    case 0x39: /* right Alt */
    case 0x58: /* right Ctrl */
    case 0x59: /* right Shift */
    case 0x8b: /* left Windows */
    case 0x8c: /* right Windows */
    case 0x8d: /* Menu */
        return true;
    }
    return false;
}
