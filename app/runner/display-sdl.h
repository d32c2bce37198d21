/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * terrarium-run's SDL2 window: the guest's display, scaled with its aspect
 * ratio kept, keyboard and relative mouse into the guest. Runs on the main
 * thread; the VM's end is signalled from another thread.
 *
 * The window is a module of its own, terrarium-display-sdl.so, that
 * terrarium-run loads with dlopen() only when a window is wanted: SDL2 brings
 * some 45 libraries (audio servers, X11, Wayland, codecs) whose loading
 * and relocation would otherwise slow down and grow every headless run.
 * terrarium-run itself does not link SDL2.
 *
 * The module exports one symbol, TRM_DISPLAY_SDL_ENTRY, which returns its
 * table of operations; everything else in it is hidden. It does not link
 * vmm-core: vmm-core is a static library, and a second copy of it inside the
 * module would have globals of its own (the log level, for one) that the
 * runner never sets. What the window needs from the VM and from the runner
 * comes instead as function pointers into the runner's one copy, in struct
 * trm_display_host; the module is linked with --no-undefined, so it cannot
 * reach the runner's symbols any other way.
 */
#ifndef TRM_DISPLAY_SDL_H
#define TRM_DISPLAY_SDL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

/* The module's file name, looked for beside terrarium-run, then in TRM_MODULE_DIR. */
#define TRM_DISPLAY_SDL_MODULE "terrarium-display-sdl.so"
#define TRM_DISPLAY_SDL_ENTRY "trm_display_sdl_entry"

/*
 * The interface's version. Bump it with any change to the two structs below,
 * to the functions they point to, or to the vmm types and constants they
 * carry (struct vmm_display_image, struct vmm_rect, VMM_BUTTON_*): the runner
 * refuses a module whose table has another version or size.
 */
#define TRM_DISPLAY_SDL_ABI 1

/* The runner's side, copied by open(). */
struct trm_display_host {
    struct vmm_vm *vm;
    int (*display_update)(struct vmm_vm *vm, struct vmm_display_image *img, struct vmm_rect *damage,
                          unsigned *ndamage);
    void (*input_key)(struct vmm_vm *vm, unsigned evdev_code, bool pressed);
    void (*input_rel)(struct vmm_vm *vm, int dx, int dy, int dwheel, unsigned buttons);
    int (*power_button)(struct vmm_vm *vm);
    void (*request_stop)(struct vmm_vm *vm);
    /* For TERRARIUM_SDL_READBACK: trm_png_write_xrgb(). */
    int (*write_png)(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                     uint32_t stride);
    /* Called on every frame tick with display_update()'s result (screenshots); may be NULL. */
    void (*frame)(void *opaque, int rc, const struct vmm_display_image *img);
    void *frame_opaque;
};

struct trm_display_sdl;

struct trm_display_sdl_ops {
    uint32_t abi;  /* TRM_DISPLAY_SDL_ABI; first in every version */
    uint32_t size; /* sizeof(struct trm_display_sdl_ops) */

    /* Opens the window (before the VM starts); NULL with a message in err. */
    struct trm_display_sdl *(*open)(const struct trm_display_host *host, char *err, size_t errlen);

    /*
     * Runs the window until *vm_done is true: frames on the display's refresh
     * (60 Hz when unknown), uploads and presents only what changed, hands each
     * frame to host->frame. Closing the window presses the power button;
     * closing it again stops the VM.
     */
    void (*run)(struct trm_display_sdl *d, atomic_bool *vm_done);

    /* From any thread: wakes run() to look at *vm_done now. */
    void (*wake)(struct trm_display_sdl *d);

    void (*close)(struct trm_display_sdl *d);
};

/* The module's one exported function (TRM_DISPLAY_SDL_ENTRY). */
typedef const struct trm_display_sdl_ops *trm_display_sdl_entry_fn(void);

/*
 * The runner's side (display-load.c): loads the module from beside the
 * running executable, else from TRM_MODULE_DIR, and checks its version. NULL
 * with one sentence in err (the module's path and dlerror()) when it cannot.
 * The module stays loaded for the life of the process.
 */
const struct trm_display_sdl_ops *trm_display_sdl_load(char *err, size_t errlen);

#endif
