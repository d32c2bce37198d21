/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "screenshot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "png-write.h"

uint64_t trm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int trm_shots_add(struct trm_shots *s, const char *spec)
{
    const char *colon = strchr(spec, ':');
    if (s->n == TRM_MAX_SHOTS) {
        fprintf(stderr, "terrarium-run: at most %d --screenshot-at\n", TRM_MAX_SHOTS);
        return -1;
    }
    char *end = NULL;
    errno = 0;
    double sec = colon ? strtod(spec, &end) : -1;
    if (!colon || colon == spec || end != colon || errno || !isfinite(sec) || sec < 0 ||
        sec > 7 * 24 * 3600 || !colon[1]) {
        fprintf(stderr, "terrarium-run: --screenshot-at takes SECONDS:FILE.png, not '%s'\n", spec);
        return -1;
    }
    s->items[s->n++] = (struct trm_shot){.at_ns = (uint64_t)(sec * 1e9), .path = colon + 1};
    return 0;
}

uint64_t trm_shots_wait_ns(const struct trm_shots *s, uint64_t now_ns)
{
    uint64_t best = UINT64_MAX;
    for (unsigned i = 0; i < s->n; i++) {
        if (s->items[i].done)
            continue;
        uint64_t due = s->start_ns + s->items[i].at_ns;
        uint64_t wait = due > now_ns ? due - now_ns : 0;
        if (wait < best)
            best = wait;
    }
    return best;
}

void trm_shots_take_due(struct trm_shots *s, uint64_t now_ns, int rc,
                        const struct vmm_display_image *img)
{
    for (unsigned i = 0; i < s->n; i++) {
        struct trm_shot *sh = &s->items[i];
        if (sh->done || s->start_ns + sh->at_ns > now_ns)
            continue;
        sh->done = true;
        (void)trm_screenshot_write(sh->path, rc, img);
    }
}

void trm_shots_report_missed(const struct trm_shots *s)
{
    for (unsigned i = 0; i < s->n; i++)
        if (!s->items[i].done)
            fprintf(stderr, "terrarium-run: the run ended before %.3f s: %s not written\n",
                    (double)s->items[i].at_ns / 1e9, s->items[i].path);
}

int trm_screenshot_write(const char *path, int rc, const struct vmm_display_image *img)
{
    if (rc < 0 || !img->pixels || !img->width || !img->height) {
        fprintf(stderr, "terrarium-run: no screenshot %s: %s\n", path,
                rc < 0 ? strerror(-rc) : "the display shows nothing yet");
        return -1;
    }
    int r = trm_png_write_xrgb(path, img->pixels, img->width, img->height, img->stride);
    if (r < 0) {
        fprintf(stderr, "terrarium-run: cannot write the screenshot %s: %s\n", path, strerror(-r));
        return -1;
    }
    return 0;
}
