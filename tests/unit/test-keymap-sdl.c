/* SPDX-License-Identifier: GPL-2.0-or-later */
/* terrarium-run's SDL scancode to evdev table (app/runner/keymap-sdl.c). */
#include <SDL_scancode.h>
#include <linux/input-event-codes.h>

#include "keymap-sdl.h"
#include "test.h"

/* Every mapped scancode goes to a valid evdev key, and no two keys share one but aliases. */
static void test_distinct_and_valid(void)
{
    static int owner[KEY_CNT];
    int mapped = 0, aliases = 0;
    for (int sc = 0; sc < trm_keymap_sdl_count(); sc++) {
        unsigned code = trm_keymap_sdl_to_evdev(sc);
        if (!code)
            continue;
        mapped++;
        CHECK(code > KEY_RESERVED && code <= KEY_MAX);
        CHECK(code < BTN_MISC || code >= KEY_OK); /* a key, never a mouse or joystick button */
        if (code > KEY_MAX)
            continue;
        if (trm_keymap_sdl_is_alias(sc)) {
            aliases++;
            continue;
        }
        if (owner[code]) {
            fprintf(stderr, "scancodes %d and %d both map to %u\n", owner[code], sc, code);
            CHECK(!owner[code]);
        }
        owner[code] = sc;
    }
    /* an alias names a key that is also in the table under its first name */
    for (int sc = 0; sc < trm_keymap_sdl_count(); sc++)
        if (trm_keymap_sdl_is_alias(sc))
            CHECK(owner[trm_keymap_sdl_to_evdev(sc)] != 0);
    CHECK_EQ(aliases, 3);
    /* 105 keys of a PC keyboard, the Japanese/Korean extras, keypad extras, multimedia */
    CHECK(mapped >= 105 + 11 + 27);
    printf("  %d SDL scancodes mapped, %d of them aliases\n", mapped, aliases);
}

/* The 105-key PC keyboard, every key of it. */
static void test_pc105_complete(void)
{
    static const int pc105[] = {
        SDL_SCANCODE_ESCAPE,      SDL_SCANCODE_F1,
        SDL_SCANCODE_F2,          SDL_SCANCODE_F3,
        SDL_SCANCODE_F4,          SDL_SCANCODE_F5,
        SDL_SCANCODE_F6,          SDL_SCANCODE_F7,
        SDL_SCANCODE_F8,          SDL_SCANCODE_F9,
        SDL_SCANCODE_F10,         SDL_SCANCODE_F11,
        SDL_SCANCODE_F12,         SDL_SCANCODE_PRINTSCREEN,
        SDL_SCANCODE_SCROLLLOCK,  SDL_SCANCODE_PAUSE,
        SDL_SCANCODE_GRAVE,       SDL_SCANCODE_1,
        SDL_SCANCODE_2,           SDL_SCANCODE_3,
        SDL_SCANCODE_4,           SDL_SCANCODE_5,
        SDL_SCANCODE_6,           SDL_SCANCODE_7,
        SDL_SCANCODE_8,           SDL_SCANCODE_9,
        SDL_SCANCODE_0,           SDL_SCANCODE_MINUS,
        SDL_SCANCODE_EQUALS,      SDL_SCANCODE_BACKSPACE,
        SDL_SCANCODE_INSERT,      SDL_SCANCODE_HOME,
        SDL_SCANCODE_PAGEUP,      SDL_SCANCODE_NUMLOCKCLEAR,
        SDL_SCANCODE_KP_DIVIDE,   SDL_SCANCODE_KP_MULTIPLY,
        SDL_SCANCODE_KP_MINUS,    SDL_SCANCODE_TAB,
        SDL_SCANCODE_Q,           SDL_SCANCODE_W,
        SDL_SCANCODE_E,           SDL_SCANCODE_R,
        SDL_SCANCODE_T,           SDL_SCANCODE_Y,
        SDL_SCANCODE_U,           SDL_SCANCODE_I,
        SDL_SCANCODE_O,           SDL_SCANCODE_P,
        SDL_SCANCODE_LEFTBRACKET, SDL_SCANCODE_RIGHTBRACKET,
        SDL_SCANCODE_RETURN,      SDL_SCANCODE_DELETE,
        SDL_SCANCODE_END,         SDL_SCANCODE_PAGEDOWN,
        SDL_SCANCODE_KP_7,        SDL_SCANCODE_KP_8,
        SDL_SCANCODE_KP_9,        SDL_SCANCODE_KP_PLUS,
        SDL_SCANCODE_CAPSLOCK,    SDL_SCANCODE_A,
        SDL_SCANCODE_S,           SDL_SCANCODE_D,
        SDL_SCANCODE_F,           SDL_SCANCODE_G,
        SDL_SCANCODE_H,           SDL_SCANCODE_J,
        SDL_SCANCODE_K,           SDL_SCANCODE_L,
        SDL_SCANCODE_SEMICOLON,   SDL_SCANCODE_APOSTROPHE,
        SDL_SCANCODE_BACKSLASH,   SDL_SCANCODE_KP_4,
        SDL_SCANCODE_KP_5,        SDL_SCANCODE_KP_6,
        SDL_SCANCODE_LSHIFT,      SDL_SCANCODE_NONUSBACKSLASH,
        SDL_SCANCODE_Z,           SDL_SCANCODE_X,
        SDL_SCANCODE_C,           SDL_SCANCODE_V,
        SDL_SCANCODE_B,           SDL_SCANCODE_N,
        SDL_SCANCODE_M,           SDL_SCANCODE_COMMA,
        SDL_SCANCODE_PERIOD,      SDL_SCANCODE_SLASH,
        SDL_SCANCODE_RSHIFT,      SDL_SCANCODE_UP,
        SDL_SCANCODE_KP_1,        SDL_SCANCODE_KP_2,
        SDL_SCANCODE_KP_3,        SDL_SCANCODE_KP_ENTER,
        SDL_SCANCODE_LCTRL,       SDL_SCANCODE_LGUI,
        SDL_SCANCODE_LALT,        SDL_SCANCODE_SPACE,
        SDL_SCANCODE_RALT,        SDL_SCANCODE_RGUI,
        SDL_SCANCODE_APPLICATION, SDL_SCANCODE_RCTRL,
        SDL_SCANCODE_LEFT,        SDL_SCANCODE_DOWN,
        SDL_SCANCODE_RIGHT,       SDL_SCANCODE_KP_0,
        SDL_SCANCODE_KP_PERIOD,
    };
    CHECK_EQ(sizeof(pc105) / sizeof(pc105[0]), 105);
    for (size_t i = 0; i < sizeof(pc105) / sizeof(pc105[0]); i++) {
        if (!trm_keymap_sdl_to_evdev(pc105[i]))
            fprintf(stderr, "SDL scancode %d is not mapped\n", pc105[i]);
        CHECK(trm_keymap_sdl_to_evdev(pc105[i]) != 0);
    }
}

/* A sample, both ways, against the evdev numbers themselves. */
static void test_sample_round_trip(void)
{
    static const struct {
        int sc;
        unsigned code;
    } sample[] = {
        {SDL_SCANCODE_A, 30},
        {SDL_SCANCODE_Z, 44},
        {SDL_SCANCODE_1, 2},
        {SDL_SCANCODE_0, 11},
        {SDL_SCANCODE_RETURN, 28},
        {SDL_SCANCODE_ESCAPE, 1},
        {SDL_SCANCODE_SPACE, 57},
        {SDL_SCANCODE_GRAVE, 41},
        {SDL_SCANCODE_BACKSLASH, 43},
        {SDL_SCANCODE_NONUSBACKSLASH, 86},
        {SDL_SCANCODE_F1, 59},
        {SDL_SCANCODE_F11, 87},
        {SDL_SCANCODE_F12, 88},
        {SDL_SCANCODE_LCTRL, 29},
        {SDL_SCANCODE_RCTRL, 97},
        {SDL_SCANCODE_LALT, 56},
        {SDL_SCANCODE_RALT, 100},
        {SDL_SCANCODE_LGUI, 125},
        {SDL_SCANCODE_RGUI, 126},
        {SDL_SCANCODE_APPLICATION, 127},
        {SDL_SCANCODE_PRINTSCREEN, 99},
        {SDL_SCANCODE_PAUSE, 119},
        {SDL_SCANCODE_UP, 103},
        {SDL_SCANCODE_DELETE, 111},
        {SDL_SCANCODE_KP_ENTER, 96},
        {SDL_SCANCODE_KP_DIVIDE, 98},
        {SDL_SCANCODE_KP_0, 82},
        {SDL_SCANCODE_KP_PERIOD, 83},
        {SDL_SCANCODE_NUMLOCKCLEAR, 69},
        {SDL_SCANCODE_INTERNATIONAL1, 89},
        {SDL_SCANCODE_INTERNATIONAL3, 124},
        {SDL_SCANCODE_LANG1, 122},
        {SDL_SCANCODE_MUTE, 113},
        {SDL_SCANCODE_VOLUMEUP, 115},
        {SDL_SCANCODE_AUDIOPLAY, 164},
        {SDL_SCANCODE_AUDIONEXT, 163},
        {SDL_SCANCODE_WWW, 150},
        {SDL_SCANCODE_CALCULATOR, 140},
    };
    for (size_t i = 0; i < sizeof(sample) / sizeof(sample[0]); i++) {
        CHECK_EQ(trm_keymap_sdl_to_evdev(sample[i].sc), sample[i].code);
        CHECK_EQ(trm_keymap_evdev_to_sdl(sample[i].code), sample[i].sc);
    }
    /* every key comes back to itself; an alias comes back under its first name */
    for (int sc = 1; sc < trm_keymap_sdl_count(); sc++) {
        unsigned code = trm_keymap_sdl_to_evdev(sc);
        if (!code)
            continue;
        int back = trm_keymap_evdev_to_sdl(code);
        if (trm_keymap_sdl_is_alias(sc))
            CHECK(back != sc && back != 0 && trm_keymap_sdl_to_evdev(back) == code);
        else
            CHECK_EQ(back, sc);
    }
    CHECK_EQ(trm_keymap_evdev_to_sdl(trm_keymap_sdl_to_evdev(SDL_SCANCODE_NONUSHASH)),
             SDL_SCANCODE_BACKSLASH);
}

/* Out of range and unmapped scancodes give 0, never an out-of-bounds read. */
static void test_bounds(void)
{
    CHECK_EQ(trm_keymap_sdl_to_evdev(-1), 0);
    CHECK_EQ(trm_keymap_sdl_to_evdev(SDL_SCANCODE_UNKNOWN), 0);
    CHECK_EQ(trm_keymap_sdl_to_evdev(trm_keymap_sdl_count()), 0);
    CHECK_EQ(trm_keymap_sdl_to_evdev(1 << 30), 0);
    CHECK_EQ(trm_keymap_sdl_to_evdev(SDL_SCANCODE_KP_00), 0);
    CHECK_EQ(trm_keymap_evdev_to_sdl(0), 0);
    CHECK_EQ(trm_keymap_evdev_to_sdl(KEY_MAX + 100), 0);
    CHECK(!trm_keymap_sdl_is_alias(-5));
    CHECK(!trm_keymap_sdl_is_alias(SDL_SCANCODE_A));
}

int main(void)
{
    RUN_TEST(test_distinct_and_valid);
    RUN_TEST(test_pc105_complete);
    RUN_TEST(test_sample_round_trip);
    RUN_TEST(test_bounds);
    return test_finish();
}
