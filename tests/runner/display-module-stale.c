/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in for a terrarium-display-sdl.so from another Terrarium build: its
 * table carries another interface version, which terrarium-run must refuse
 * before it calls anything in it (tests/runner/display-module.py). It has no
 * operations to call.
 */
#include "display-sdl.h"

__attribute__((visibility("default"))) trm_display_sdl_entry_fn trm_display_sdl_entry;

const struct trm_display_sdl_ops *trm_display_sdl_entry(void)
{
    static const struct trm_display_sdl_ops ops = {
        .abi = TRM_DISPLAY_SDL_ABI + 1,
        .size = sizeof(ops),
    };
    return &ops;
}
