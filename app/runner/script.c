/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "script.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_NS (200 * 1000 * 1000L)
#define KEY_GAP_NS (40 * 1000 * 1000L) /* between key events: the 8042 holds 16 bytes */
#define TEXT_MAX (128 * 258)

static const struct {
    const char *name;
    unsigned code;
} key_names[] = {
    {"ret", KEY_ENTER},       {"enter", KEY_ENTER}, {"esc", KEY_ESC},        {"tab", KEY_TAB},
    {"spc", KEY_SPACE},       {"space", KEY_SPACE}, {"bksp", KEY_BACKSPACE}, {"up", KEY_UP},
    {"down", KEY_DOWN},       {"left", KEY_LEFT},   {"right", KEY_RIGHT},    {"home", KEY_HOME},
    {"end", KEY_END},         {"pgup", KEY_PAGEUP}, {"pgdn", KEY_PAGEDOWN},  {"del", KEY_DELETE},
    {"ins", KEY_INSERT},      {"minus", KEY_MINUS}, {"equal", KEY_EQUAL},    {"dot", KEY_DOT},
    {"comma", KEY_COMMA},     {"slash", KEY_SLASH}, {"f1", KEY_F1},          {"f2", KEY_F2},
    {"f3", KEY_F3},           {"f4", KEY_F4},       {"f5", KEY_F5},          {"f6", KEY_F6},
    {"f7", KEY_F7},           {"f8", KEY_F8},       {"f9", KEY_F9},          {"f10", KEY_F10},
    {"f11", KEY_F11},         {"f12", KEY_F12},     {"ctrl", KEY_LEFTCTRL},  {"alt", KEY_LEFTALT},
    {"shift", KEY_LEFTSHIFT},
};

static const unsigned letter_codes[26] = {
    KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
    KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};
static const unsigned digit_codes[10] = {KEY_0, KEY_1, KEY_2, KEY_3, KEY_4,
                                         KEY_5, KEY_6, KEY_7, KEY_8, KEY_9};

/* A character on a US keyboard: its key and whether it needs Shift. */
static bool char_key(char c, struct key_event *k)
{
    static const char shifted_digits[] = ")!@#$%^&*(";
    static const struct {
        char plain, shifted;
        unsigned code;
    } punct[] = {
        {' ', 0, KEY_SPACE},       {'-', '_', KEY_MINUS},       {'=', '+', KEY_EQUAL},
        {'[', '{', KEY_LEFTBRACE}, {']', '}', KEY_RIGHTBRACE},  {'\\', '|', KEY_BACKSLASH},
        {';', ':', KEY_SEMICOLON}, {'\'', '"', KEY_APOSTROPHE}, {'`', '~', KEY_GRAVE},
        {',', '<', KEY_COMMA},     {'.', '>', KEY_DOT},         {'/', '?', KEY_SLASH},
    };
    k->shift = false;
    if (c >= 'a' && c <= 'z') {
        k->code = letter_codes[c - 'a'];
        return true;
    }
    if (c >= 'A' && c <= 'Z') {
        k->code = letter_codes[c - 'A'];
        k->shift = true;
        return true;
    }
    if (c >= '0' && c <= '9') {
        k->code = digit_codes[c - '0'];
        return true;
    }
    const char *d = strchr(shifted_digits, c);
    if (c && d) {
        k->code = digit_codes[d - shifted_digits];
        k->shift = true;
        return true;
    }
    for (size_t i = 0; i < sizeof(punct) / sizeof(punct[0]); i++) {
        if (c == punct[i].plain || (punct[i].shifted && c == punct[i].shifted)) {
            k->code = punct[i].code;
            k->shift = c != punct[i].plain;
            return true;
        }
    }
    return false;
}

static bool push(struct key_step *st, struct key_event k)
{
    if (st->nkeys == SCRIPT_MAX_KEYS)
        return false;
    st->keys[st->nkeys++] = k;
    return true;
}

static int parse_keys(struct script *s, struct key_step *st, const char *keys, const char *spec);

int script_add_keys(struct script *s, const char *spec)
{
    if (s->nsteps == SCRIPT_MAX_STEPS) {
        fprintf(stderr, "terrarium-run: at most %d --keys-at/--keys-when\n", SCRIPT_MAX_STEPS);
        return -1;
    }
    char *end;
    errno = 0;
    double at = strtod(spec, &end);
    if (errno || end == spec || *end != ':' || at < 0 || at > 86400) {
        fprintf(stderr, "terrarium-run: --keys-at takes SECONDS:KEYS, not '%s'\n", spec);
        return -1;
    }
    struct key_step *st = &s->steps[s->nsteps];
    memset(st, 0, sizeof(*st));
    st->at_s = at;
    return parse_keys(s, st, end + 1, spec);
}

int script_add_keys_when(struct script *s, const char *spec)
{
    if (s->nsteps == SCRIPT_MAX_STEPS) {
        fprintf(stderr, "terrarium-run: at most %d --keys-at/--keys-when\n", SCRIPT_MAX_STEPS);
        return -1;
    }
    const char *arrow = strstr(spec, "=>");
    size_t n = arrow ? (size_t)(arrow - spec) : 0;
    if (!arrow || n == 0 || n >= sizeof(s->steps[0].when)) {
        fprintf(stderr, "terrarium-run: --keys-when takes TEXT=>KEYS, not '%s'\n", spec);
        return -1;
    }
    struct key_step *st = &s->steps[s->nsteps];
    memset(st, 0, sizeof(*st));
    memcpy(st->when, spec, n);
    return parse_keys(s, st, arrow + 2, spec);
}

int script_add_keys_on_serial(struct script *s, const char *spec)
{
    int r = script_add_keys_when(s, spec);
    if (r == 0)
        s->steps[s->nsteps - 1].on_serial = true;
    return r;
}

int script_add_shot_on_serial(struct script *s, const char *spec)
{
    const char *arrow = strstr(spec, "=>");
    size_t n = arrow ? (size_t)(arrow - spec) : 0;
    if (s->nsteps == SCRIPT_MAX_STEPS || !arrow || n == 0 || n >= sizeof(s->steps[0].when) ||
        !arrow[2]) {
        fprintf(stderr, "terrarium-run: --screenshot-on-serial takes TEXT=>FILE, not '%s'\n", spec);
        return -1;
    }
    struct key_step *st = &s->steps[s->nsteps++];
    memset(st, 0, sizeof(*st));
    memcpy(st->when, spec, n);
    st->on_serial = true;
    st->shot = arrow + 2;
    return 0;
}

bool script_wants_serial(const struct script *s)
{
    for (unsigned i = 0; i < s->nsteps; i++)
        if (s->steps[i].on_serial)
            return true;
    return false;
}

/* The last bytes COM1 sent, enough to find a text cut across two writes. */
static char serial_tail[512];
static size_t serial_len;

void script_serial_out(void *opaque, const uint8_t *buf, size_t len)
{
    struct script *s = opaque;
    for (size_t i = 0; i < len; i++) {
        if (serial_len == sizeof(serial_tail) - 1) {
            memmove(serial_tail, serial_tail + 256, serial_len - 256);
            serial_len -= 256;
        }
        serial_tail[serial_len++] = buf[i] ? (char)buf[i] : ' ';
        serial_tail[serial_len] = '\0';
        for (unsigned k = 0; k < s->nsteps; k++) {
            struct key_step *st = &s->steps[k];
            size_t n = strlen(st->when);
            if (st->on_serial && !atomic_load(&st->seen) && n <= serial_len &&
                memcmp(serial_tail + serial_len - n, st->when, n) == 0)
                atomic_store(&st->seen, true);
        }
    }
}

static int parse_keys(struct script *s, struct key_step *st, const char *keys, const char *spec)
{
    char *copy = strdup(keys), *save = NULL;
    if (!copy)
        return -1;
    int ret = 0;
    for (char *item = strtok_r(copy, ",", &save); item && ret == 0;
         item = strtok_r(NULL, ",", &save)) {
        struct key_event k = {0};
        if (strncmp(item, "text=", 5) == 0) {
            for (const char *c = item + 5; *c && ret == 0; c++) {
                if (!char_key(*c, &k) || !push(st, k))
                    ret = -1;
            }
            if (ret)
                fprintf(stderr, "terrarium-run: --keys-at: cannot type '%s'\n", item + 5);
            continue;
        }
        bool found = false;
        for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
            if (strcmp(item, key_names[i].name) == 0) {
                k.code = key_names[i].code;
                found = true;
            }
        }
        if (!found && strlen(item) == 1 && char_key(item[0], &k) && !k.shift)
            found = true;
        if (!found || !push(st, k)) {
            fprintf(stderr, "terrarium-run: --keys-at: unknown key '%s'\n", item);
            ret = -1;
        }
    }
    free(copy);
    if (ret == 0 && st->nkeys == 0) {
        fprintf(stderr, "terrarium-run: --keys-at: no keys in '%s'\n", spec);
        ret = -1;
    }
    if (ret == 0)
        s->nsteps++;
    return ret;
}

static pthread_t script_thread;
static bool script_running;
static struct vmm_vm *script_vm;
static char last_text[TEXT_MAX];
static bool have_text;

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void nap(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

static void type_step(struct vmm_vm *vm, const struct key_step *st)
{
    for (unsigned i = 0; i < st->nkeys; i++) {
        const struct key_event *k = &st->keys[i];
        if (k->shift) {
            vmm_input_key(vm, KEY_LEFTSHIFT, true);
            nap(KEY_GAP_NS);
        }
        vmm_input_key(vm, k->code, true);
        nap(KEY_GAP_NS);
        vmm_input_key(vm, k->code, false);
        nap(KEY_GAP_NS);
        if (k->shift) {
            vmm_input_key(vm, KEY_LEFTSHIFT, false);
            nap(KEY_GAP_NS);
        }
    }
}

/* Writes text to path through a temporary file, so readers never see half a screen. */
static void write_atomically(const char *path, const char *text)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return;
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
        fprintf(stderr, "terrarium-run: cannot write the text dump %s: %s\n", path,
                strerror(errno));
}

static void refresh_dump(struct script *s, struct vmm_vm *vm, char *text)
{
    text[0] = '\0';
    int r = vmm_display_text(vm, text, TEXT_MAX);
    if (r == -ENOTTY)
        snprintf(text, TEXT_MAX, "(the display is in a graphics mode)\n");
    else if (r < 0)
        snprintf(text, TEXT_MAX, "(no display: %s)\n", strerror(-r));
    if (s->text_dump && (!have_text || strcmp(text, last_text) != 0)) {
        write_atomically(s->text_dump, text);
        memcpy(last_text, text, TEXT_MAX);
        have_text = true;
    }
}

static void *script_main(void *arg)
{
    struct script *s = arg;
    struct vmm_vm *vm = script_vm;
    static char text[TEXT_MAX];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned next = 0;
    for (;;) {
        if (vmm_vm_state(vm) == VMM_STATE_STOPPED && since(&t0) > 1)
            return NULL;
        bool need_text = s->text_dump || s->expect ||
                         (next < s->nsteps && s->steps[next].when[0] && !s->steps[next].on_serial);
        if (need_text)
            refresh_dump(s, vm, text);
        /* Steps run in order: each waits for its time or its text. */
        while (next < s->nsteps &&
               (s->steps[next].on_serial ? atomic_load(&s->steps[next].seen)
                : s->steps[next].when[0] ? strstr(text, s->steps[next].when) != NULL
                                         : since(&t0) >= s->steps[next].at_s)) {
            const struct key_step *st = &s->steps[next++];
            if (st->shot && s->write_shot)
                s->write_shot(vm, st->shot);
            else
                type_step(vm, st);
        }
        if (s->text_dump || s->expect) {
            if (s->expect && strstr(text, s->expect)) {
                s->expect_result = 0;
                break;
            }
            if (s->expect && since(&t0) >= s->expect_timeout_s) {
                s->expect_result = 3;
                break;
            }
        } else if (next == s->nsteps) {
            return NULL;
        }
        nap(POLL_NS);
    }
    vmm_vm_request_stop(vm);
    return NULL;
}

bool script_start(struct script *s, struct vmm_vm *vm)
{
    s->expect_result = -1;
    if (!s->nsteps && !s->text_dump && !s->expect)
        return false;
    script_vm = vm;
    script_running = pthread_create(&script_thread, NULL, script_main, s) == 0;
    return script_running;
}

void script_finish(struct script *s, struct vmm_vm *vm)
{
    if (script_running) {
        pthread_join(script_thread, NULL);
        script_running = false;
    }
    if (s->text_dump) {
        static char text[TEXT_MAX];
        refresh_dump(s, vm, text);
    }
}
