/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SDL2 scancodes (USB HID usages) to Linux evdev key codes, the codes
 * vmm_input_key() takes. Header-only against SDL: the table needs
 * SDL_scancode.h but not the SDL library.
 */
#ifndef TRM_KEYMAP_SDL_H
#define TRM_KEYMAP_SDL_H

#include <stdbool.h>

/* The evdev code for an SDL_Scancode; 0 (KEY_RESERVED) for keys we do not map. */
unsigned trm_keymap_sdl_to_evdev(int sdl_scancode);

/* The SDL_Scancode for an evdev code; 0 (SDL_SCANCODE_UNKNOWN) when none maps to it. */
int trm_keymap_evdev_to_sdl(unsigned evdev_code);

/*
 * True for the few SDL scancodes that are second names of a key already
 * mapped (the ISO '#' key, AUDIOMUTE, AC_STOP): they map to evdev but the
 * reverse lookup gives the first name.
 */
bool trm_keymap_sdl_is_alias(int sdl_scancode);

/* One past the highest SDL scancode the table covers. */
int trm_keymap_sdl_count(void);

#endif
