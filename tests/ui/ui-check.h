/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * For the ui tests that run as one program each: CHECK counting into the
 * file's `failures`, and a fresh user (empty machine store, own runtime and
 * config directories, settings in memory, no accessibility bus).
 */
#ifndef TRM_UI_CHECK_H
#define TRM_UI_CHECK_H

#include <glib.h>
#include <glib/gstdio.h>

static int failures;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            failures++;                                                         \
            g_printerr("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                       \
    } while (0)

/* Points XDG_DATA_HOME, XDG_RUNTIME_DIR and XDG_CONFIG_HOME into a new directory; returns it. */
static inline char *ui_fresh_user(const char *tmpl)
{
    char *home = g_dir_make_tmp(tmpl, NULL);
    g_autofree char *data = g_build_filename(home, "data", NULL);
    g_autofree char *runtime = g_build_filename(home, "runtime", NULL);
    g_autofree char *config = g_build_filename(home, "config", NULL);
    g_mkdir_with_parents(runtime, 0700);
    g_setenv("XDG_DATA_HOME", data, TRUE);
    g_setenv("XDG_RUNTIME_DIR", runtime, TRUE);
    g_setenv("XDG_CONFIG_HOME", config, TRUE);
    g_setenv("GSETTINGS_BACKEND", "memory", TRUE);
    g_setenv("GTK_A11Y", "none", TRUE);
    return home;
}

#endif
