/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* $XDG_RUNTIME_DIR/terrarium (created 0700), where running machines live. */
char *trm_runtime_dup_dir(void);
char *trm_runtime_dup_socket_path(const char *uuid);
char *trm_runtime_dup_lock_path(const char *uuid);
/*
 * Takes the machine's run lock: a machine runs at most once. Returns the lock
 * fd (held until closed, or until the process ends), or -1 with
 * TRM_ERROR_BUSY when another process holds it.
 */
int trm_runtime_lock_machine(const char *uuid, GError **error);
/*
 * The same, but while another process holds the lock it tries again every 50 ms
 * for up to timeout_ms (blocking the caller): a machine process started just as
 * the previous run's process ends waits for it to let go.
 */
int trm_runtime_lock_machine_wait(const char *uuid, guint timeout_ms, GError **error);
/* Is a machine process holding the lock right now? */
gboolean trm_runtime_machine_is_running(const char *uuid);

G_END_DECLS
