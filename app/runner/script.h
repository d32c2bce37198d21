/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef TERRARIUM_RUN_SCRIPT_H
#define TERRARIUM_RUN_SCRIPT_H

/*
 * Scripted input and screen watching for terrarium-run, the way tests drive
 * a machine: key sequences typed at given times (--keys-at), the text
 * screen kept in a file (--vga-text-dump), and a string awaited on it
 * (--expect-screen).
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

#define SCRIPT_MAX_KEYS 512
#define SCRIPT_MAX_STEPS 32

struct key_event {
    unsigned code; /* evdev */
    bool shift;
};

struct key_step {
    double at_s;
    char when[128]; /* or: once this shows on the text screen ... */
    bool on_serial; /* ... or on COM1's output */
    _Atomic bool seen;
    const char *shot; /* a screenshot to this PNG instead of keys (--screenshot-on-serial) */
    unsigned nkeys;
    struct key_event keys[SCRIPT_MAX_KEYS];
};

struct script {
    struct key_step steps[SCRIPT_MAX_STEPS];
    unsigned nsteps;
    const char *text_dump; /* rewritten whenever the screen changes */
    const char *expect;    /* stop once this shows on the text screen */
    unsigned expect_timeout_s;
    int expect_result; /* 0 seen, 3 timed out, -1 not decided */
    /* Writes the screen to a PNG; set by the runner for shot steps (headless only). */
    void (*write_shot)(struct vmm_vm *vm, const char *path);
};

/*
 * "SECONDS:KEYS": KEYS is a comma-separated list of key names (ret, esc,
 * tab, spc, bksp, up, down, left, right, home, end, pgup, pgdn, del, ins,
 * f1..f12, a..z, 0..9, minus, equal, dot, slash, ...) and text=LITERAL items
 * typed character by character on a US layout. -1 with a message on stderr.
 */
int script_add_keys(struct script *s, const char *spec);
/* "TEXT=>KEYS": the same keys, typed once TEXT shows on the text screen. */
int script_add_keys_when(struct script *s, const char *spec);
/* "TEXT=>KEYS": typed once TEXT shows on COM1's output (see script_serial_out). */
int script_add_keys_on_serial(struct script *s, const char *spec);
/* A vmm_serial_out_fn: scans COM1's output for the awaited texts. opaque = the script. */
void script_serial_out(void *opaque, const uint8_t *buf, size_t len);
bool script_wants_serial(const struct script *s);
/* "TEXT=>FILE": the screen written to FILE (PNG) once TEXT comes out of COM1. */
int script_add_shot_on_serial(struct script *s, const char *spec);

/* Starts the script's thread (keys, dump, expectation); false if it has nothing to do. */
bool script_start(struct script *s, struct vmm_vm *vm);
/* After the VM ended: joins the thread and writes the final text dump. */
void script_finish(struct script *s, struct vmm_vm *vm);

#endif
