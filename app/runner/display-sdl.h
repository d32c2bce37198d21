/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * terrarium-run's SDL2 window: the guest's display, scaled with its aspect
 * ratio kept, keyboard and relative mouse into the guest. Runs on the main
 * thread; the VM's end is signalled from another thread.
 */
#ifndef TRM_DISPLAY_SDL_H
#define TRM_DISPLAY_SDL_H

#include <stdatomic.h>
#include <stddef.h>

#include "screenshot.h"
#include "vmm/vmm.h"

struct trm_display_sdl;

/* Opens the window (before the VM starts); NULL with a message in err. */
struct trm_display_sdl *trm_display_sdl_open(struct vmm_vm *vm, char *err, size_t errlen);

/*
 * Runs the window until *vm_done is true: frames on the display's refresh
 * (60 Hz when unknown), uploads and presents only what changed, takes the
 * shots in `shots` (may be NULL) when they are due. Closing the window
 * presses the power button; closing it again stops the VM.
 */
void trm_display_sdl_run(struct trm_display_sdl *d, struct trm_shots *shots, atomic_bool *vm_done);

/* From any thread: wakes trm_display_sdl_run() to look at *vm_done now. */
void trm_display_sdl_wake(struct trm_display_sdl *d);

void trm_display_sdl_close(struct trm_display_sdl *d);

#endif
