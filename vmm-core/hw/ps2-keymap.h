/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_HW_PS2_KEYMAP_H
#define VMM_HW_PS2_KEYMAP_H

/*
 * Host keys (Linux evdev codes, <linux/input-event-codes.h>) to what a PS/2
 * keyboard sends, and the 8042's set 2 -> set 1 translation.
 *
 * Set 2 is the table (the keyboard's native set); set 1 is derived by
 * running set 2 through the translation, which is exactly what set 1 is.
 * Set 3 codes exist for the keys of a 101/102-key keyboard plus the Windows
 * and Menu keys; the multimedia and Japanese keys have none there (vendors
 * disagree), so a keyboard in set 3 sends nothing for them.
 *
 * Special cases: Pause sends E1 14 77 E1 F0 14 F0 77 on press and nothing on
 * release; PrintScreen sends E0 12 E0 7C / E0 F0 7C E0 F0 12 (what a
 * keyboard sends with no modifier held); the Korean Hangul/Hanja keys send
 * F2 / F1 on press only.
 */

#include <stdbool.h>
#include <stdint.h>

/* The longest sequence one key event produces (Pause in set 1 or 2). */
#define VMM_PS2_KEY_MAX_BYTES 8

/*
 * The bytes for evdev key `code` going down or up in scan code set 1 or 2.
 * Returns how many were written to out: 0 for an unknown code, another set,
 * or a key that sends nothing on release.
 */
unsigned vmm_ps2_key_bytes(unsigned code, bool pressed, unsigned set,
                           uint8_t out[VMM_PS2_KEY_MAX_BYTES]);

/* Whether the table knows the key at all. */
bool vmm_ps2_key_known(unsigned code);

/* The key's set 3 code, or -1 if it has none. */
int vmm_ps2_key_set3(unsigned code);

/*
 * Set 3 at power-on: most keys send make codes only; the modifiers, Caps
 * Lock and the Windows and Menu keys send break codes too.
 */
bool vmm_ps2_key_set3_default_break(unsigned code);

/* The 8042's translation table for one byte (without the F0 handling). */
uint8_t vmm_ps2_xlate_byte(uint8_t in);

/*
 * The 8042 translating a byte stream: an F0 prefix is swallowed and sets
 * bit 7 of the next translated byte. Returns the byte to deliver, or -1 when
 * the input was consumed.
 */
struct vmm_ps2_xlate {
    bool f0;
};

int vmm_ps2_translate(struct vmm_ps2_xlate *x, uint8_t in);

#endif
