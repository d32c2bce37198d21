/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Loading terrarium-run's SDL window module (display-sdl.h). It is looked for
 * beside the running executable first (the build tree keeps the two side by
 * side, so a build runs its own module without being installed), then where
 * it is installed, TRM_MODULE_DIR (libdir/terrarium). The first of the two
 * that exists is the one loaded: a broken or stale module there is reported,
 * not skipped for another one.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "display-sdl.h"

#ifndef TRM_MODULE_DIR
#error "TRM_MODULE_DIR (the module's install folder) comes from meson"
#endif

/* dirname of /proc/self/exe into dir; false when it cannot be read. */
static bool exe_dir(char *dir, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", dir, len - 1);
    if (n <= 0 || (size_t)n >= len - 1)
        return false;
    dir[n] = 0;
    char *slash = strrchr(dir, '/');
    if (!slash)
        return false;
    slash[slash == dir] = 0; /* "/x" keeps its "/" */
    return true;
}

/* dlerror()'s text without the module's path in front (our sentence names it already). */
static const char *load_error(const char *path)
{
    const char *e = dlerror();
    size_t n = strlen(path);
    if (!e)
        return "unknown error";
    if (strncmp(e, path, n) == 0 && e[n] == ':' && e[n + 1] == ' ')
        return e + n + 2;
    return e;
}

const struct trm_display_sdl_ops *trm_display_sdl_load(char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX + sizeof(TRM_DISPLAY_SDL_MODULE) + 1];
    path[0] = 0;
    if (exe_dir(dir, sizeof(dir)))
        snprintf(path, sizeof(path), "%s/%s", dir, TRM_DISPLAY_SDL_MODULE);
    if (!path[0] || access(path, F_OK) != 0)
        snprintf(path, sizeof(path), "%s/%s", TRM_MODULE_DIR, TRM_DISPLAY_SDL_MODULE);

    /* RTLD_LOCAL: SDL's symbols stay the module's; RTLD_NOW: a missing one fails here. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load the SDL window module %s: %s", path, load_error(path));
        return NULL;
    }
    trm_display_sdl_entry_fn *entry = (trm_display_sdl_entry_fn *)dlsym(h, TRM_DISPLAY_SDL_ENTRY);
    if (!entry) {
        snprintf(err, errlen, "%s is not an SDL window module: %s", path, load_error(path));
        dlclose(h);
        return NULL;
    }
    const struct trm_display_sdl_ops *ops = entry();
    if (!ops || ops->abi != TRM_DISPLAY_SDL_ABI || ops->size != sizeof(*ops)) {
        snprintf(err, errlen,
                 "the SDL window module %s belongs to another Terrarium build (its interface %u, "
                 "this terrarium-run's %u)",
                 path, ops ? ops->abi : 0, TRM_DISPLAY_SDL_ABI);
        dlclose(h);
        return NULL;
    }
    /* Never closed: SDL may leave threads and atexit handlers behind it. */
    return ops;
}
