/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Screenshots of the guest's display: --screenshot-at SECONDS:FILE.png, taken
 * by whoever owns the display's frame clock (the SDL window, or a small
 * ticker thread when headless), and --screenshot FILE.png at the end.
 */
#ifndef TRM_SCREENSHOT_H
#define TRM_SCREENSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/vmm.h"

#define TRM_MAX_SHOTS 32

struct trm_shot {
    uint64_t at_ns; /* after the VM's start */
    const char *path;
    bool done;
};

struct trm_shots {
    struct trm_shot items[TRM_MAX_SHOTS];
    unsigned n;
    uint64_t start_ns; /* CLOCK_MONOTONIC when the VM started */
};

uint64_t trm_now_ns(void);

/* Parses "SECONDS:FILE" (seconds may have a fraction); -1 with a message on stderr. */
int trm_shots_add(struct trm_shots *s, const char *spec);

/* Nanoseconds from now to the next shot not yet taken; UINT64_MAX when none is left. */
uint64_t trm_shots_wait_ns(const struct trm_shots *s, uint64_t now_ns);

/* Takes every shot that is due from the image vmm_display_update() returned (rc its result). */
void trm_shots_take_due(struct trm_shots *s, uint64_t now_ns, int rc,
                        const struct vmm_display_image *img);

/* One warning for each shot the run ended before. */
void trm_shots_report_missed(const struct trm_shots *s);

/* Writes img to path as PNG; 0, or -1 with a message on stderr. */
int trm_screenshot_write(const char *path, int rc, const struct vmm_display_image *img);

#endif
