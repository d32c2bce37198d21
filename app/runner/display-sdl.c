/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SDL2 window of terrarium-run. Each frame tick asks vmm-core for the
 * display (vmm_display_update) and uploads only the damaged rectangles into a
 * streaming texture; a tick with no damage uploads and presents nothing, so
 * an idle guest costs one cheap call per refresh. The picture is scaled to
 * the window with its aspect ratio kept (black bars), and the window takes
 * the guest's resolution whenever the guest changes mode.
 *
 * Input: keys go to the guest while the window has the keyboard focus (SDL
 * scancodes through keymap-sdl.c); a click grabs the mouse (relative mode,
 * the keyboard grabbed with it) and Ctrl+Alt+G releases it.
 *
 * TERRARIUM_SDL_READBACK=FILE.png (for tests) writes every presented frame,
 * read back from the renderer, to FILE.png.
 *
 * Built as the module terrarium-display-sdl.so (see display-sdl.h): the VM is
 * reached only through the runner's function pointers in d->host, and only
 * trm_display_sdl_entry() is exported.
 */
#include "display-sdl.h"

#include <SDL.h>
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keymap-sdl.h"
#include "png-write.h"

#define TITLE "Terrarium"

struct trm_display_sdl {
    struct trm_display_host host;
    SDL_Window *win;
    SDL_Renderer *ren;
    SDL_Texture *tex;
    uint32_t tex_w, tex_h;
    Uint32 wake_event;
    uint64_t frame_ns;
    bool grabbed;
    bool closing; /* the power button was pressed: the next close stops the VM */
    bool stopping;
    bool redraw;    /* the window needs a present even without new damage */
    bool swallow_g; /* the G of Ctrl+Alt+G is ours, its release too */
    Uint32 last_close_ms;
    unsigned buttons;
    uint8_t keys_down[KEY_CNT / 8];
    const char *readback;
    const char *title_shown;
};

static void set_title(struct trm_display_sdl *d)
{
    const char *t = TITLE;
    if (d->stopping)
        t = TITLE " (stopping)";
    else if (d->closing)
        t = TITLE " (power button pressed; close again to force off)";
    else if (d->grabbed)
        t = TITLE " (Ctrl+Alt+G releases the mouse)";
    if (t != d->title_shown) {
        SDL_SetWindowTitle(d->win, t);
        d->title_shown = t;
    }
}

static bool key_down(const struct trm_display_sdl *d, unsigned code)
{
    return code < KEY_CNT && (d->keys_down[code / 8] & (1u << (code % 8)));
}

static void set_key(struct trm_display_sdl *d, unsigned code, bool down)
{
    if (code >= KEY_CNT)
        return;
    if (down)
        d->keys_down[code / 8] |= (uint8_t)(1u << (code % 8));
    else
        d->keys_down[code / 8] &= (uint8_t) ~(1u << (code % 8));
}

/* Nothing stays pressed in the guest once the window loses the keyboard. */
static void release_all(struct trm_display_sdl *d)
{
    for (unsigned code = 0; code < KEY_CNT; code++)
        if (key_down(d, code))
            d->host.input_key(d->host.vm, code, false);
    memset(d->keys_down, 0, sizeof(d->keys_down));
    if (d->buttons)
        d->host.input_rel(d->host.vm, 0, 0, 0, 0);
    d->buttons = 0;
}

static void grab(struct trm_display_sdl *d)
{
    if (d->grabbed)
        return;
    if (SDL_SetRelativeMouseMode(SDL_TRUE) < 0)
        fprintf(stderr, "terrarium-run: cannot grab the mouse: %s\n", SDL_GetError());
    SDL_SetWindowGrab(d->win, SDL_TRUE);
    d->grabbed = true;
    set_title(d);
}

static void ungrab(struct trm_display_sdl *d)
{
    if (!d->grabbed)
        return;
    SDL_SetRelativeMouseMode(SDL_FALSE);
    SDL_SetWindowGrab(d->win, SDL_FALSE);
    if (d->buttons)
        d->host.input_rel(d->host.vm, 0, 0, 0, 0);
    d->buttons = 0;
    d->grabbed = false;
    set_title(d);
}

static void on_close(struct trm_display_sdl *d)
{
    ungrab(d);
    if (!d->closing && d->host.power_button(d->host.vm) == 0) {
        d->closing = true;
    } else {
        d->stopping = true;
        d->host.request_stop(d->host.vm);
    }
    d->last_close_ms = SDL_GetTicks();
    set_title(d);
}

static void on_key(struct trm_display_sdl *d, const SDL_KeyboardEvent *k, bool down)
{
    SDL_Scancode sc = k->keysym.scancode;
    if (sc == SDL_SCANCODE_G) {
        bool ctrl = key_down(d, KEY_LEFTCTRL) || key_down(d, KEY_RIGHTCTRL);
        bool alt = key_down(d, KEY_LEFTALT) || key_down(d, KEY_RIGHTALT);
        if (down && ctrl && alt) {
            if (!k->repeat) {
                if (d->grabbed)
                    ungrab(d);
                else
                    grab(d);
            }
            d->swallow_g = true;
            return;
        }
        if (!down && d->swallow_g) {
            d->swallow_g = false;
            return;
        }
    }
    unsigned code = trm_keymap_sdl_to_evdev(sc);
    if (!code || code >= KEY_CNT)
        return;
    if (down) {
        set_key(d, code, true);
        /* a repeat is the keyboard's typematic make code */
        d->host.input_key(d->host.vm, code, true);
    } else if (key_down(d, code)) {
        set_key(d, code, false);
        d->host.input_key(d->host.vm, code, false);
    }
}

static unsigned button_bit(Uint8 b)
{
    switch (b) {
    case SDL_BUTTON_LEFT:
        return VMM_BUTTON_LEFT;
    case SDL_BUTTON_RIGHT:
        return VMM_BUTTON_RIGHT;
    case SDL_BUTTON_MIDDLE:
        return VMM_BUTTON_MIDDLE;
    case SDL_BUTTON_X1:
        return VMM_BUTTON_SIDE;
    case SDL_BUTTON_X2:
        return VMM_BUTTON_EXTRA;
    }
    return 0;
}

static void on_event(struct trm_display_sdl *d, const SDL_Event *ev)
{
    switch (ev->type) {
    case SDL_QUIT:
        /* SDL may follow a window close with a quit of its own: one close, not two. */
        if (SDL_GetTicks() - d->last_close_ms > 250 || !d->last_close_ms)
            on_close(d);
        break;
    case SDL_WINDOWEVENT:
        switch (ev->window.event) {
        case SDL_WINDOWEVENT_CLOSE:
            on_close(d);
            break;
        case SDL_WINDOWEVENT_FOCUS_LOST:
            ungrab(d);
            release_all(d);
            break;
        case SDL_WINDOWEVENT_EXPOSED:
        case SDL_WINDOWEVENT_SHOWN:
        case SDL_WINDOWEVENT_RESIZED:
        case SDL_WINDOWEVENT_SIZE_CHANGED:
        case SDL_WINDOWEVENT_RESTORED:
        case SDL_WINDOWEVENT_MAXIMIZED:
            d->redraw = true;
            break;
        }
        break;
    case SDL_KEYDOWN:
    case SDL_KEYUP:
        on_key(d, &ev->key, ev->type == SDL_KEYDOWN);
        break;
    case SDL_MOUSEMOTION:
        if (d->grabbed && (ev->motion.xrel || ev->motion.yrel))
            d->host.input_rel(d->host.vm, ev->motion.xrel, ev->motion.yrel, 0, d->buttons);
        break;
    case SDL_MOUSEBUTTONDOWN:
        if (!d->grabbed) {
            if (ev->button.button == SDL_BUTTON_LEFT)
                grab(d); /* the click that grabs is not the guest's */
            break;
        }
        d->buttons |= button_bit(ev->button.button);
        d->host.input_rel(d->host.vm, 0, 0, 0, d->buttons);
        break;
    case SDL_MOUSEBUTTONUP:
        if (d->buttons & button_bit(ev->button.button)) {
            d->buttons &= ~button_bit(ev->button.button);
            d->host.input_rel(d->host.vm, 0, 0, 0, d->buttons);
        }
        break;
    case SDL_MOUSEWHEEL:
        if (d->grabbed && ev->wheel.y) {
            int y = ev->wheel.direction == SDL_MOUSEWHEEL_FLIPPED ? -ev->wheel.y : ev->wheel.y;
            d->host.input_rel(d->host.vm, 0, 0, y, d->buttons); /* positive: away from the user */
        }
        break;
    }
}

/* The window takes the guest's size, shrunk to fit the screen with its aspect kept. */
static void fit_window(struct trm_display_sdl *d, uint32_t w, uint32_t h)
{
    if (SDL_GetWindowFlags(d->win) & (SDL_WINDOW_MAXIMIZED | SDL_WINDOW_FULLSCREEN))
        return;
    SDL_Rect b;
    int ww = (int)w, wh = (int)h;
    if (SDL_GetDisplayUsableBounds(SDL_GetWindowDisplayIndex(d->win), &b) == 0 && b.w > 0 &&
        b.h > 0 && (ww > b.w || wh > b.h)) {
        double s = SDL_min((double)b.w / ww, (double)b.h / wh);
        ww = SDL_max(1, (int)(ww * s));
        wh = SDL_max(1, (int)(wh * s));
    }
    SDL_SetWindowSize(d->win, ww, wh);
}

static void write_readback(struct trm_display_sdl *d)
{
    int ow, oh;
    if (SDL_GetRendererOutputSize(d->ren, &ow, &oh) < 0 || ow <= 0 || oh <= 0 ||
        ow > TRM_PNG_MAX_SIDE || oh > TRM_PNG_MAX_SIDE)
        return;
    uint8_t *buf = malloc((size_t)ow * oh * 4);
    if (!buf)
        return;
    if (SDL_RenderReadPixels(d->ren, NULL, SDL_PIXELFORMAT_RGB888, buf, ow * 4) == 0)
        (void)d->host.write_png(d->readback, buf, (uint32_t)ow, (uint32_t)oh, (uint32_t)ow * 4);
    free(buf);
}

static void present(struct trm_display_sdl *d)
{
    SDL_SetRenderDrawColor(d->ren, 0, 0, 0, 255);
    SDL_RenderClear(d->ren);
    int ow, oh;
    if (d->tex && SDL_GetRendererOutputSize(d->ren, &ow, &oh) == 0 && ow > 0 && oh > 0) {
        double s = SDL_min((double)ow / d->tex_w, (double)oh / d->tex_h);
        SDL_Rect dst = {.w = SDL_max(1, (int)(d->tex_w * s)), .h = SDL_max(1, (int)(d->tex_h * s))};
        dst.x = (ow - dst.w) / 2;
        dst.y = (oh - dst.h) / 2;
        SDL_RenderCopy(d->ren, d->tex, NULL, &dst);
    }
    if (d->readback)
        write_readback(d);
    SDL_RenderPresent(d->ren);
    d->redraw = false;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void frame(struct trm_display_sdl *d)
{
    struct vmm_display_image img = {0};
    struct vmm_rect damage[VMM_DISPLAY_MAX_DAMAGE];
    unsigned n = 0;
    int rc = d->host.display_update(d->host.vm, &img, damage, &n);
    if (d->host.frame)
        d->host.frame(d->host.frame_opaque, rc, &img);
    if (rc < 0 || !img.pixels || !img.width || !img.height || img.stride / 4 < img.width) {
        if (d->redraw)
            present(d);
        return;
    }
    bool upload = false;
    if (!d->tex || img.width != d->tex_w || img.height != d->tex_h) {
        if (d->tex)
            SDL_DestroyTexture(d->tex);
        d->tex = SDL_CreateTexture(d->ren, SDL_PIXELFORMAT_RGB888, SDL_TEXTUREACCESS_STREAMING,
                                   (int)img.width, (int)img.height);
        if (!d->tex) {
            d->tex_w = d->tex_h = 0;
            return;
        }
        d->tex_w = img.width;
        d->tex_h = img.height;
        fit_window(d, img.width, img.height);
        SDL_UpdateTexture(d->tex, NULL, img.pixels, (int)img.stride);
        upload = true;
    } else {
        for (unsigned i = 0; i < n && i < VMM_DISPLAY_MAX_DAMAGE; i++) {
            const struct vmm_rect *r = &damage[i];
            if (r->x >= img.width || r->y >= img.height)
                continue;
            uint32_t w = SDL_min(r->w, img.width - r->x), h = SDL_min(r->h, img.height - r->y);
            if (!w || !h)
                continue;
            SDL_Rect sr = {(int)r->x, (int)r->y, (int)w, (int)h};
            SDL_UpdateTexture(d->tex, &sr, img.pixels + (size_t)r->y * img.stride + r->x * 4,
                              (int)img.stride);
            upload = true;
        }
    }
    if (upload || d->redraw)
        present(d);
}

static void display_close(struct trm_display_sdl *d);

static struct trm_display_sdl *display_open(const struct trm_display_host *host, char *err,
                                            size_t errlen)
{
    /* terrarium-run's own SIGINT/SIGTERM handlers stop the VM; SDL must not take them. */
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    SDL_SetHint(SDL_HINT_GRAB_KEYBOARD, "1");
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "linear");
    SDL_SetHint(SDL_HINT_VIDEO_X11_NET_WM_BYPASS_COMPOSITOR, "0");
    if (SDL_Init(SDL_INIT_VIDEO) < 0) {
        snprintf(err, errlen, "cannot open the SDL window: %s", SDL_GetError());
        return NULL;
    }
    struct trm_display_sdl *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        SDL_Quit();
        return NULL;
    }
    d->host = *host;
    d->readback = getenv("TERRARIUM_SDL_READBACK");
    if (d->readback && !*d->readback)
        d->readback = NULL;
    d->win = SDL_CreateWindow(TITLE, SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, 720, 400,
                              SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI);
    if (d->win)
        d->ren = SDL_CreateRenderer(d->win, -1, 0);
    d->wake_event = SDL_RegisterEvents(1);
    if (!d->win || !d->ren || d->wake_event == (Uint32)-1) {
        snprintf(err, errlen, "cannot open the SDL window: %s", SDL_GetError());
        display_close(d);
        return NULL;
    }
    SDL_DisplayMode mode;
    int hz = 60;
    if (SDL_GetCurrentDisplayMode(SDL_GetWindowDisplayIndex(d->win), &mode) == 0 &&
        mode.refresh_rate >= 30 && mode.refresh_rate <= 240)
        hz = mode.refresh_rate;
    d->frame_ns = 1000000000ULL / (unsigned)hz;
    d->title_shown = TITLE;
    d->redraw = true;
    return d;
}

static void display_run(struct trm_display_sdl *d, atomic_bool *vm_done)
{
    uint64_t next = now_ns();
    while (!atomic_load(vm_done)) {
        uint64_t now = now_ns();
        if (now >= next) {
            frame(d);
            next += d->frame_ns;
            if (next <= now)
                next = now + d->frame_ns;
            continue;
        }
        SDL_Event ev;
        if (SDL_WaitEventTimeout(&ev, (int)((next - now + 999999) / 1000000))) {
            do {
                if (ev.type != d->wake_event)
                    on_event(d, &ev);
            } while (SDL_PollEvent(&ev));
        }
    }
    ungrab(d);
}

static void display_wake(struct trm_display_sdl *d)
{
    SDL_Event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = d->wake_event;
    SDL_PushEvent(&ev);
}

static void display_close(struct trm_display_sdl *d)
{
    if (!d)
        return;
    if (d->tex)
        SDL_DestroyTexture(d->tex);
    if (d->ren)
        SDL_DestroyRenderer(d->ren);
    if (d->win)
        SDL_DestroyWindow(d->win);
    free(d);
    SDL_Quit();
}

/* The module's one exported symbol (TRM_DISPLAY_SDL_ENTRY); the build hides everything else. */
__attribute__((visibility("default"))) trm_display_sdl_entry_fn trm_display_sdl_entry;

const struct trm_display_sdl_ops *trm_display_sdl_entry(void)
{
    static const struct trm_display_sdl_ops ops = {
        .abi = TRM_DISPLAY_SDL_ABI,
        .size = sizeof(ops),
        .open = display_open,
        .run = display_run,
        .wake = display_wake,
        .close = display_close,
    };
    return &ops;
}
