/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The library's side of a running machine: starts `terrarium --machine UUID`
 * with its output in machine.log, connects to its peer-to-peer D-Bus socket,
 * mirrors its state into the TrmMachine, and notices when it goes away. A
 * machine that disappears without saying Stopped (status 0) "stopped
 * unexpectedly"; the library shows why with the last lines of its log.
 *
 * A process that said Stopped still holds the run lock and its disks until it
 * has torn the VM down. A start asked for in that moment waits (on a timer, the
 * main loop runs on) until the lock is free, then starts the new process; after
 * START_WAIT_MS it gives up with a sentence.
 */
#include "config.h"

#include <fcntl.h>
#include <glib/gi18n.h>
#include <unistd.h>

#include "trm-dbus-machine1.h"
#include "trm-machine-client.h"
#include "trm-runtime.h"

#define CONNECT_INTERVAL_MS 200
#define CONNECT_TRIES 150 /* 30 s for a machine process to come up */
#define THUMBNAIL_INTERVAL_S 2
#define LOG_TAIL_LINES 8
#define START_POLL_MS 100
#define START_WAIT_MS 10000
/* How long an attached process that ended is taken to be the lock's holder. */
#define ENDING_WINDOW_US (30 * G_USEC_PER_SEC)

struct _TrmMachineClient {
    GObject parent_instance;
    TrmMachine *machine;
    GSubprocess *process;
    GDBusConnection *conn;
    TrmDBusMachine1 *proxy;
    GCancellable *cancel;
    guint connect_source;
    guint connect_tries;
    guint thumb_source;
    gboolean got_stopped;
    int stop_status;
    char *stop_reason;
    gboolean finished;
    /* The run's process said Stopped or closed its connection; it may still hold the lock. */
    gboolean ended;
    gint64 ended_at;
    /* A start waiting for the ended process to let go of the machine. */
    guint pending_source;
    gint64 pending_deadline;
    char *pending_snapshot;
    gboolean pending_try;
};

G_DEFINE_FINAL_TYPE(TrmMachineClient, trm_machine_client, G_TYPE_OBJECT)

enum { SIGNAL_ERROR, N_SIGNALS };
static guint signals[N_SIGNALS];

static void disconnect(TrmMachineClient *self)
{
    g_clear_handle_id(&self->connect_source, g_source_remove);
    g_clear_handle_id(&self->thumb_source, g_source_remove);
    if (self->proxy)
        g_signal_handlers_disconnect_by_data(self->proxy, self);
    g_clear_object(&self->proxy);
    if (self->conn)
        g_signal_handlers_disconnect_by_data(self->conn, self);
    g_clear_object(&self->conn);
}

static void trm_machine_client_dispose(GObject *object)
{
    TrmMachineClient *self = TRM_MACHINE_CLIENT(object);
    g_cancellable_cancel(self->cancel);
    disconnect(self);
    g_clear_handle_id(&self->pending_source, g_source_remove);
    g_clear_pointer(&self->pending_snapshot, g_free);
    g_clear_object(&self->cancel);
    g_clear_object(&self->process);
    g_clear_object(&self->machine);
    g_clear_pointer(&self->stop_reason, g_free);
    G_OBJECT_CLASS(trm_machine_client_parent_class)->dispose(object);
}

static void trm_machine_client_class_init(TrmMachineClientClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = trm_machine_client_dispose;
    /* A sentence for a toast: a request the machine refused. */
    signals[SIGNAL_ERROR] = g_signal_new("error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void trm_machine_client_init(TrmMachineClient *self)
{
    self->cancel = g_cancellable_new();
}

TrmMachineClient *trm_machine_client_new(TrmMachine *machine)
{
    TrmMachineClient *self = g_object_new(TRM_TYPE_MACHINE_CLIENT, NULL);
    self->machine = g_object_ref(machine);
    return self;
}

TrmMachine *trm_machine_client_get_machine(TrmMachineClient *self)
{
    return self->machine;
}

char *trm_machine_client_dup_log_tail(TrmMachine *machine, guint lines)
{
    g_autofree char *path = trm_machine_dup_log_path(machine);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return g_strdup("");
    char buf[8192];
    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, start);
    close(fd);
    if (n <= 0)
        return g_strdup("");
    buf[n] = '\0';
    g_autofree char *text = g_utf8_make_valid(buf, n);
    g_strchomp(text);
    /* Keep the last lines; control characters a guest printed stay out. */
    const char *p = text + strlen(text);
    guint found = 0;
    while (p > text && found < lines) {
        p--;
        if (*p == '\n')
            found++;
    }
    if (*p == '\n')
        p++;
    char *out = g_strdup(p);
    for (char *q = out; *q; q++)
        if ((unsigned char)*q < 0x20 && *q != '\n' && *q != '\t')
            *q = ' ';
    return out;
}

static void load_thumbnail_file(TrmMachine *m)
{
    g_autofree char *path = trm_machine_dup_thumbnail_path(m);
    g_autofree char *data = NULL;
    gsize len = 0;
    if (g_file_get_contents(path, &data, &len, NULL) && len < 4 * 1024 * 1024) {
        g_autoptr(GBytes) b = g_bytes_new_take(g_steal_pointer(&data), len);
        trm_machine_set_thumbnail(m, b);
    }
}

/* The run is over: decide whether it ended the way it should. */
static void finish(TrmMachineClient *self, const char *why)
{
    if (self->finished)
        return;
    self->finished = TRUE;
    disconnect(self);
    if (self->pending_source) {
        /* A new start waits for this process to go: the tile stays "Starting". */
        load_thumbnail_file(self->machine);
        return;
    }
    if (self->got_stopped && self->stop_status == 0) {
        trm_machine_set_failure(self->machine, NULL);
        trm_machine_set_state(self->machine, TRM_MACHINE_STATE_OFF);
    } else {
        g_autofree char *tail = trm_machine_client_dup_log_tail(self->machine, LOG_TAIL_LINES);
        const char *reason = self->got_stopped && self->stop_reason ? self->stop_reason : why;
        /* The saved state is dropped once a resume runs: still here, the resume failed. */
        if (trm_machine_has_saved_state(self->machine) && !self->got_stopped)
            reason = _("The saved state could not be restored; discard it to start the "
                       "machine normally.");
        g_autofree char *text =
            *tail ? g_strdup_printf("%s\n\n%s", reason, tail) : g_strdup(reason);
        trm_machine_set_failure(self->machine, text);
        trm_machine_set_state(self->machine, TRM_MACHINE_STATE_FAILED);
    }
    load_thumbnail_file(self->machine);
}

static void on_state(TrmMachineClient *self)
{
    const char *state = trm_dbus_machine1_get_state(self->proxy);
    TrmMachineState s = TRM_MACHINE_STATE_STARTING;
    if (g_strcmp0(state, "running") == 0)
        s = TRM_MACHINE_STATE_RUNNING;
    else if (g_strcmp0(state, "paused") == 0 || g_strcmp0(state, "pausing") == 0 ||
             g_strcmp0(state, "saving") == 0)
        s = TRM_MACHINE_STATE_PAUSED;
    else if (g_strcmp0(state, "stopped") == 0)
        return; /* the Stopped signal and the closed connection say how */
    trm_machine_set_state(self->machine, s);
}

static void mark_ended(TrmMachineClient *self)
{
    if (!self->ended) {
        self->ended = TRUE;
        self->ended_at = g_get_monotonic_time();
    }
}

static void on_stopped(TrmDBusMachine1 *proxy, int status, const char *reason,
                       TrmMachineClient *self)
{
    mark_ended(self);
    self->got_stopped = TRUE;
    self->stop_status = status;
    g_free(self->stop_reason);
    self->stop_reason = g_utf8_make_valid(reason, -1);
}

static void on_closed(GDBusConnection *conn, gboolean remote, GError *error, TrmMachineClient *self)
{
    mark_ended(self);
    finish(self, _("The machine stopped unexpectedly."));
}

static void on_thumbnail(GObject *src, GAsyncResult *res, gpointer data)
{
    TrmMachineClient *self = data;
    g_autoptr(GVariant) png = NULL;
    if (!trm_dbus_machine1_call_screenshot_finish(TRM_DBUS_MACHINE1(src), &png, res, NULL)) {
        g_object_unref(self);
        return;
    }
    gsize len = 0;
    const void *bytes = g_variant_get_fixed_array(png, &len, 1);
    if (len > 8 && len < 4 * 1024 * 1024) {
        g_autoptr(GBytes) b = g_bytes_new(bytes, len);
        trm_machine_set_thumbnail(self->machine, b);
    }
    g_object_unref(self);
}

static gboolean refresh_thumbnail(gpointer data)
{
    TrmMachineClient *self = data;
    if (self->proxy && trm_machine_get_state(self->machine) == TRM_MACHINE_STATE_RUNNING)
        trm_dbus_machine1_call_screenshot(self->proxy, 320, 240, self->cancel, on_thumbnail,
                                          g_object_ref(self));
    return G_SOURCE_CONTINUE;
}

static gboolean try_connect(gpointer data);

static void schedule_connect(TrmMachineClient *self)
{
    if (!self->connect_source && !self->finished)
        self->connect_source = g_timeout_add(CONNECT_INTERVAL_MS, try_connect, self);
}

static void on_connected(GObject *src, GAsyncResult *res, gpointer data)
{
    TrmMachineClient *self = data;
    g_autoptr(GError) error = NULL;
    GDBusConnection *conn = g_dbus_connection_new_for_address_finish(res, &error);
    if (!conn) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            if (++self->connect_tries < CONNECT_TRIES &&
                (self->process ||
                 trm_runtime_machine_is_running(trm_machine_get_uuid(self->machine))))
                schedule_connect(self);
            else if (!self->process)
                finish(self, _("The machine stopped unexpectedly."));
        }
        g_object_unref(self);
        return;
    }
    self->conn = conn;
    g_signal_connect(conn, "closed", G_CALLBACK(on_closed), self);
    self->proxy = trm_dbus_machine1_proxy_new_sync(conn, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, NULL,
                                                   "/org/terrarium/Machine1", NULL, &error);
    if (!self->proxy) {
        g_warning("machine %s: %s", trm_machine_get_uuid(self->machine), error->message);
        g_object_unref(self);
        return;
    }
    g_signal_connect_swapped(self->proxy, "notify::state", G_CALLBACK(on_state), self);
    g_signal_connect(self->proxy, "stopped", G_CALLBACK(on_stopped), self);
    on_state(self);
    self->thumb_source = g_timeout_add_seconds(THUMBNAIL_INTERVAL_S, refresh_thumbnail, self);
    g_object_unref(self);
}

static gboolean try_connect(gpointer data)
{
    TrmMachineClient *self = data;
    self->connect_source = 0;
    g_autofree char *path = trm_runtime_dup_socket_path(trm_machine_get_uuid(self->machine));
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        if (++self->connect_tries < CONNECT_TRIES)
            schedule_connect(self);
        return G_SOURCE_REMOVE;
    }
    g_autofree char *escaped = g_dbus_address_escape_value(path);
    g_autofree char *address = g_strconcat("unix:path=", escaped, NULL);
    g_dbus_connection_new_for_address(address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL,
                                      self->cancel, on_connected, g_object_ref(self));
    return G_SOURCE_REMOVE;
}

static void on_process_exited(GObject *src, GAsyncResult *res, gpointer data)
{
    TrmMachineClient *self = data;
    GSubprocess *proc = G_SUBPROCESS(src);
    if (!g_subprocess_wait_finish(proc, res, NULL)) {
        g_object_unref(self);
        return;
    }
    if (proc == self->process) {
        g_clear_object(&self->process);
        /* Gone: whoever holds the lock from now on is another process. */
        self->ended = FALSE;
        if (!self->got_stopped && g_subprocess_get_if_exited(proc)) {
            self->got_stopped = g_subprocess_get_exit_status(proc) == 0 && self->conn;
            self->stop_status = g_subprocess_get_exit_status(proc);
        }
        finish(self, _("The machine stopped unexpectedly."));
        /* Save State renames its folder as the process ends: Off may now be Saved. */
        trm_machine_refresh_saved_state(self->machine);
    }
    g_object_unref(self);
}

static char *self_exe(void)
{
    const char *override = g_getenv("TERRARIUM_MACHINE_EXE");
    if (override && *override)
        return g_strdup(override);
    return g_file_read_link("/proc/self/exe", NULL);
}

gboolean trm_machine_client_start(TrmMachineClient *self, GError **error)
{
    return trm_machine_client_start_restoring(self, NULL, error);
}

gboolean trm_machine_client_start_restoring(TrmMachineClient *self, const char *snapshot_id,
                                            GError **error)
{
    return trm_machine_client_start_full(self, snapshot_id, FALSE, error);
}

static gboolean spawn(TrmMachineClient *self, const char *snapshot_id, gboolean try_mode,
                      GError **error)
{
    TrmMachine *m = self->machine;
    g_autofree char *log = trm_machine_dup_log_path(m);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                    _("Cannot write the machine's log %s: %s."), log, g_strerror(e));
        return FALSE;
    }
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_subprocess_launcher_take_stdout_fd(launcher, dup(fd));
    g_subprocess_launcher_take_stderr_fd(launcher, fd);
    g_autofree char *exe = self_exe();
    if (!exe) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                            _("Terrarium cannot find its own program file."));
        return FALSE;
    }
    const char *argv[8];
    guint n = 0;
    argv[n++] = exe;
    argv[n++] = "--machine";
    argv[n++] = trm_machine_get_uuid(m);
    if (snapshot_id) {
        argv[n++] = "--restore";
        argv[n++] = snapshot_id;
    }
    if (try_mode)
        argv[n++] = "--try";
    argv[n] = NULL;
    GSubprocess *proc = g_subprocess_launcher_spawnv(launcher, argv, error);
    if (!proc)
        return FALSE;
    disconnect(self);
    g_clear_object(&self->process);
    self->process = proc;
    self->finished = FALSE;
    self->ended = FALSE;
    self->got_stopped = FALSE;
    self->stop_status = 0;
    self->connect_tries = 0;
    trm_machine_set_failure(m, NULL);
    trm_machine_set_state(m, TRM_MACHINE_STATE_STARTING);
    g_subprocess_wait_async(proc, self->cancel, on_process_exited, g_object_ref(self));
    schedule_connect(self);
    return TRUE;
}

gboolean trm_machine_client_is_ending(TrmMachineClient *self)
{
    if (self->pending_source)
        return TRUE;
    if (!self->ended)
        return FALSE;
    /* Our own process is the holder until it is reaped; another one only for a while. */
    return self->process || g_get_monotonic_time() - self->ended_at < ENDING_WINDOW_US;
}

static gboolean pending_tick(gpointer data)
{
    TrmMachineClient *self = data;
    TrmMachine *m = self->machine;
    if (trm_runtime_machine_is_running(trm_machine_get_uuid(m))) {
        if (g_get_monotonic_time() < self->pending_deadline)
            return G_SOURCE_CONTINUE;
        self->pending_source = 0;
        g_clear_pointer(&self->pending_snapshot, g_free);
        trm_machine_set_state(m, TRM_MACHINE_STATE_OFF);
        g_signal_emit(self, signals[SIGNAL_ERROR], 0,
                      _("The machine's previous run has not ended yet: its process still holds "
                        "the machine. Try again in a moment."));
        return G_SOURCE_REMOVE;
    }
    self->pending_source = 0;
    g_autofree char *snapshot_id = g_steal_pointer(&self->pending_snapshot);
    g_autoptr(GError) error = NULL;
    if (!spawn(self, snapshot_id, self->pending_try, &error)) {
        trm_machine_set_state(m, TRM_MACHINE_STATE_OFF);
        g_signal_emit(self, signals[SIGNAL_ERROR], 0, error->message);
    }
    return G_SOURCE_REMOVE;
}

gboolean trm_machine_client_start_full(TrmMachineClient *self, const char *snapshot_id,
                                       gboolean try_mode, GError **error)
{
    if (self->pending_source)
        return TRUE; /* already on its way */
    if (trm_machine_client_is_ending(self) &&
        trm_runtime_machine_is_running(trm_machine_get_uuid(self->machine))) {
        self->pending_snapshot = g_strdup(snapshot_id);
        self->pending_try = try_mode;
        self->pending_deadline = g_get_monotonic_time() + (gint64)START_WAIT_MS * 1000;
        self->pending_source = g_timeout_add(START_POLL_MS, pending_tick, self);
        trm_machine_set_failure(self->machine, NULL);
        trm_machine_set_state(self->machine, TRM_MACHINE_STATE_STARTING);
        return TRUE;
    }
    return spawn(self, snapshot_id, try_mode, error);
}

void trm_machine_client_attach(TrmMachineClient *self)
{
    if (self->conn || self->connect_source)
        return;
    self->finished = FALSE;
    self->ended = FALSE;
    self->got_stopped = FALSE;
    self->connect_tries = 0;
    trm_machine_set_state(self->machine, TRM_MACHINE_STATE_STARTING);
    try_connect(self);
}

gboolean trm_machine_client_is_connected(TrmMachineClient *self)
{
    return self->proxy != NULL;
}

static void on_call_done(GObject *src, GAsyncResult *res, gpointer data)
{
    TrmMachineClient *self = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) ret = g_dbus_proxy_call_finish(G_DBUS_PROXY(src), res, &error);
    if (!ret && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_dbus_error_strip_remote_error(error);
        g_signal_emit(self, signals[SIGNAL_ERROR], 0, error->message);
    }
    g_object_unref(self);
}

void trm_machine_client_call(TrmMachineClient *self, const char *method)
{
    if (!self->proxy) {
        g_signal_emit(self, signals[SIGNAL_ERROR], 0, _("The machine is not running."));
        return;
    }
    GVariant *args = g_strcmp0(method, "PresentWindow") == 0 ? g_variant_new("(u)", 0) : NULL;
    g_dbus_proxy_call(G_DBUS_PROXY(self->proxy), method, args, G_DBUS_CALL_FLAGS_NONE, 10000,
                      self->cancel, on_call_done, g_object_ref(self));
}

GPid trm_machine_client_get_pid(TrmMachineClient *self)
{
    const char *id = self->process ? g_subprocess_get_identifier(self->process) : NULL;
    return id ? (GPid)g_ascii_strtoll(id, NULL, 10) : 0;
}

TrmDBusMachine1 *trm_machine_client_get_proxy(TrmMachineClient *self)
{
    return self->proxy;
}
