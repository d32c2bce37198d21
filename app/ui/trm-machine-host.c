/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One running machine, hosted in this process: vmm-core in-process, the
 * org.terrarium.Machine1 interface on a peer-to-peer D-Bus socket for the
 * library, and a run lock so a machine runs at most once.
 *
 * vmm-core calls back from its own threads (serial output); everything that
 * touches GObjects is bounced to the main context.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "trm-dbus-machine1.h"
#include "trm-error.h"
#include "trm-host-check.h"
#include "trm-display-path.h"
#include "trm-machine-host.h"
#include "trm-runtime.h"
#include "trm-snapshot-tree.h"
#include "vmm/vmm.h"

#define SERIAL_KEEP (64 * 1024)
#define OBJECT_PATH "/org/terrarium/Machine1"
#define LOCK_WAIT_MS 3000

struct _TrmMachineHost {
    GObject parent_instance;
    TrmMachine *machine;
    struct vmm_vm *vm;
    int lock_fd;
    GDBusServer *server;
    TrmDBusMachine1 *skeleton;
    GPtrArray *connections;
    GThread *waiter;
    const char *state;
    GMutex serial_lock;
    GString *serial_pending; /* from vmm threads, under serial_lock */
    GString *serial;         /* main thread */
    guint serial_idle;
    TrmScreenshotFunc screenshot;
    gpointer screenshot_data;
    char *socket_path;
    /* Strings the vmm_config points at. */
    GPtrArray *strings;
    TrmSnapshotTree *snapshots;
    gboolean snapshot_busy; /* one take or delete at a time */
    gboolean try_mode;
    gboolean saving;       /* a SaveState under way */
    gboolean saved;        /* the state was saved (and committed): the stop says so */
    gboolean resume_saved; /* started from saved-state: dropped once it runs */
    gboolean restoring_saved;
};

G_DEFINE_FINAL_TYPE(TrmMachineHost, trm_machine_host, G_TYPE_OBJECT)

enum { SIGNAL_STATE_CHANGED, SIGNAL_STOPPED, SIGNAL_SERIAL, N_SIGNALS };
static guint signals[N_SIGNALS];

static void set_state(TrmMachineHost *self, const char *state)
{
    if (g_strcmp0(self->state, state) == 0)
        return;
    self->state = state;
    trm_dbus_machine1_set_state(self->skeleton, state);
    g_signal_emit(self, signals[SIGNAL_STATE_CHANGED], 0);
}

/*
 * The saved state becomes the machine's by one rename, once the disks it matches
 * are flushed; the folder is synced. A crash before leaves none.
 */
static gboolean commit_saved_state(const char *tmp, const char *dir, struct vmm_error *err)
{
    /* No older saved state is here: a start discards it and try mode does not save. */
    if (g_rename(tmp, dir) < 0) {
        vmm_error_set(err, -errno, "cannot keep it: %s", g_strerror(errno));
        return FALSE;
    }
    g_autofree char *parent = g_path_get_dirname(dir);
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) < 0)
            g_warning("fsync of the machine's folder: %s", g_strerror(errno));
        close(fd);
    }
    return TRUE;
}

static void trm_machine_host_dispose(GObject *object)
{
    TrmMachineHost *self = TRM_MACHINE_HOST(object);
    if (self->vm) {
        vmm_vm_request_stop(self->vm);
        if (self->waiter)
            g_thread_join(g_steal_pointer(&self->waiter));
        vmm_vm_destroy(self->vm);
        self->vm = NULL;
    }
    if (self->server) {
        g_dbus_server_stop(self->server);
        g_clear_object(&self->server);
        g_unlink(self->socket_path);
    }
    g_clear_pointer(&self->connections, g_ptr_array_unref);
    g_clear_object(&self->skeleton);
    g_clear_object(&self->machine);
    g_clear_object(&self->snapshots);
    g_clear_handle_id(&self->serial_idle, g_source_remove);
    if (self->lock_fd >= 0) {
        close(self->lock_fd);
        self->lock_fd = -1;
    }
    G_OBJECT_CLASS(trm_machine_host_parent_class)->dispose(object);
}

static void trm_machine_host_finalize(GObject *object)
{
    TrmMachineHost *self = TRM_MACHINE_HOST(object);
    g_string_free(self->serial_pending, TRUE);
    g_string_free(self->serial, TRUE);
    g_mutex_clear(&self->serial_lock);
    g_ptr_array_unref(self->strings);
    g_free(self->socket_path);
    G_OBJECT_CLASS(trm_machine_host_parent_class)->finalize(object);
}

static void trm_machine_host_class_init(TrmMachineHostClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    object_class->dispose = trm_machine_host_dispose;
    object_class->finalize = trm_machine_host_finalize;
    signals[SIGNAL_STATE_CHANGED] =
        g_signal_new("state-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 0);
    /* (exit status, a sentence) */
    signals[SIGNAL_STOPPED] =
        g_signal_new("stopped", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_STRING);
    /* New serial output (the text added). */
    signals[SIGNAL_SERIAL] =
        g_signal_new("serial-output", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void trm_machine_host_init(TrmMachineHost *self)
{
    self->lock_fd = -1;
    self->state = "starting";
    self->connections = g_ptr_array_new_with_free_func(g_object_unref);
    g_mutex_init(&self->serial_lock);
    self->serial_pending = g_string_new(NULL);
    self->serial = g_string_new(NULL);
    self->strings = g_ptr_array_new_with_free_func(g_free);
}

static gboolean flush_serial(gpointer data)
{
    TrmMachineHost *self = data;
    g_mutex_lock(&self->serial_lock);
    g_autofree char *text =
        g_utf8_make_valid(self->serial_pending->str, (gssize)self->serial_pending->len);
    g_string_truncate(self->serial_pending, 0);
    self->serial_idle = 0;
    g_mutex_unlock(&self->serial_lock);
    g_string_append(self->serial, text);
    if (self->serial->len > SERIAL_KEEP)
        g_string_erase(self->serial, 0, (gssize)(self->serial->len - SERIAL_KEEP / 2));
    g_signal_emit(self, signals[SIGNAL_SERIAL], 0, text);
    return G_SOURCE_REMOVE;
}

/* Called from any vmm thread. */
static void on_serial_out(void *opaque, const uint8_t *buf, size_t len)
{
    TrmMachineHost *self = opaque;
    /* The log the library shows when the machine fails. */
    if (write(STDERR_FILENO, buf, len) < 0) {
        /* nowhere to report it */
    }
    g_mutex_lock(&self->serial_lock);
    if (self->serial_pending->len < SERIAL_KEEP)
        g_string_append_len(self->serial_pending, (const char *)buf, (gssize)len);
    if (!self->serial_idle)
        self->serial_idle = g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, flush_serial,
                                            g_object_ref(self), g_object_unref);
    g_mutex_unlock(&self->serial_lock);
}

static const char *keep(TrmMachineHost *self, char *s)
{
    if (s)
        g_ptr_array_add(self->strings, s);
    return s;
}

static void build_config(TrmMachineHost *self, struct vmm_config *cfg)
{
    TrmMachine *m = self->machine;
    vmm_config_init(cfg);
    cfg->mem_mib = trm_machine_get_memory_mib(m);
    cfg->ncpus = trm_machine_get_cpus(m);
    cfg->serial_out_fd = -1;
    cfg->serial_in_fd = -1;
    cfg->serial_out_cb = on_serial_out;
    cfg->serial_out_opaque = self;
    cfg->vga = TRUE;
    cfg->kvm_device = g_getenv("TERRARIUM_KVM_DEVICE");
    /* The guest sees the machine's own UUID in SMBIOS (a malformed one: none). */
    if (vmm_uuid_parse(trm_machine_get_uuid(m), cfg->uuid) < 0)
        memset(cfg->uuid, 0, sizeof(cfg->uuid));
    guint8 mac[6];
    if (trm_machine_get_mac(m, mac))
        memcpy(cfg->mac, mac, sizeof(mac));
    /* Overlays next to the disks: they can grow as large as the guest writes. */
    cfg->overlay_dir = keep(self, g_strdup(trm_machine_get_dir(m)));
    if (trm_machine_get_boot(m) == TRM_BOOT_KERNEL) {
        cfg->kernel = keep(self, g_strdup(trm_machine_get_kernel(m)));
        cfg->initrd = keep(self, g_strdup(trm_machine_get_initrd(m)));
        cfg->cmdline = keep(self, g_strdup(trm_machine_get_cmdline(m)));
    }
    gboolean have_cd = FALSE;
    for (guint i = 0; i < trm_machine_get_n_drives(m) && cfg->ndrives < VMM_MAX_DRIVES; i++) {
        const TrmDrive *d = trm_machine_get_drive(m, i);
        struct vmm_drive_config *dc = &cfg->drives[cfg->ndrives++];
        dc->path = keep(self, trm_machine_dup_drive_path(m, i));
        dc->media = d->cdrom ? VMM_MEDIA_CDROM : VMM_MEDIA_DISK;
        dc->bus = d->virtio ? VMM_DRIVE_VIRTIO : VMM_DRIVE_IDE;
        dc->readonly = d->readonly || trm_machine_get_live(m);
        dc->snapshot = self->try_mode && !dc->readonly && !d->cdrom;
        have_cd = have_cd || d->cdrom;
    }
    /* A machine installing from a CD boots it until the disk has a system. */
    cfg->boot_order = have_cd ? "dc" : "c";
}

/* Only the user who owns this machine may talk to it. */
static gboolean on_authorize(GDBusAuthObserver *observer, GIOStream *stream,
                             GCredentials *credentials, gpointer data)
{
    if (!credentials)
        return FALSE;
    GError *error = NULL;
    uid_t uid = g_credentials_get_unix_user(credentials, &error);
    g_clear_error(&error);
    return uid == getuid();
}

static void on_connection_closed(GDBusConnection *conn, gboolean remote, GError *error,
                                 TrmMachineHost *self)
{
    g_dbus_interface_skeleton_unexport_from_connection(G_DBUS_INTERFACE_SKELETON(self->skeleton),
                                                       conn);
    g_ptr_array_remove(self->connections, conn);
}

static gboolean on_new_connection(GDBusServer *server, GDBusConnection *conn, TrmMachineHost *self)
{
    g_autoptr(GError) error = NULL;
    if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(self->skeleton), conn,
                                          OBJECT_PATH, &error)) {
        g_warning("D-Bus export: %s", error->message);
        return FALSE;
    }
    g_ptr_array_add(self->connections, g_object_ref(conn));
    g_signal_connect_object(conn, "closed", G_CALLBACK(on_connection_closed), self, 0);
    return TRUE;
}

static gboolean fail_call(GDBusMethodInvocation *inv, GError *error)
{
    g_dbus_method_invocation_return_error_literal(inv, G_DBUS_ERROR, G_DBUS_ERROR_FAILED,
                                                  error ? error->message : _("It failed."));
    g_clear_error(&error);
    return TRUE;
}

static gboolean handle_pause(TrmDBusMachine1 *s, GDBusMethodInvocation *inv, TrmMachineHost *self)
{
    GError *error = NULL;
    if (!trm_machine_host_pause(self, &error))
        return fail_call(inv, error);
    trm_dbus_machine1_complete_pause(s, inv);
    return TRUE;
}

static gboolean handle_resume(TrmDBusMachine1 *s, GDBusMethodInvocation *inv, TrmMachineHost *self)
{
    GError *error = NULL;
    if (!trm_machine_host_resume(self, &error))
        return fail_call(inv, error);
    trm_dbus_machine1_complete_resume(s, inv);
    return TRUE;
}

static gboolean handle_shutdown(TrmDBusMachine1 *s, GDBusMethodInvocation *inv,
                                TrmMachineHost *self)
{
    GError *error = NULL;
    if (!trm_machine_host_shutdown(self, &error))
        return fail_call(inv, error);
    trm_dbus_machine1_complete_shutdown(s, inv);
    return TRUE;
}

static gboolean handle_power_off(TrmDBusMachine1 *s, GDBusMethodInvocation *inv,
                                 TrmMachineHost *self)
{
    trm_machine_host_power_off(self);
    trm_dbus_machine1_complete_power_off(s, inv);
    return TRUE;
}

static gboolean handle_reset(TrmDBusMachine1 *s, GDBusMethodInvocation *inv, TrmMachineHost *self)
{
    return fail_call(inv, g_error_new_literal(TRM_ERROR, TRM_ERROR_INVALID,
                                              _("Resetting is not available yet: shut the "
                                                "machine down and start it again.")));
}

static void on_dbus_snapshot_taken(GObject *src, GAsyncResult *res, gpointer data)
{
    GDBusMethodInvocation *inv = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *id = trm_machine_host_take_snapshot_finish(TRM_MACHINE_HOST(src), res, &error);
    if (!id)
        fail_call(inv, g_steal_pointer(&error));
    else
        g_dbus_method_invocation_return_value(inv, g_variant_new("(s)", id));
}

static gboolean handle_take_snapshot(TrmDBusMachine1 *s, GDBusMethodInvocation *inv,
                                     const char *name, const char *desc, gboolean with_ram,
                                     TrmMachineHost *self)
{
    trm_machine_host_take_snapshot_async(self, name, desc, with_ram, on_dbus_snapshot_taken, inv);
    return TRUE;
}

static void on_dbus_snapshot_deleted(GObject *src, GAsyncResult *res, gpointer data)
{
    GDBusMethodInvocation *inv = data;
    GError *error = NULL;
    if (!trm_machine_host_delete_snapshot_finish(TRM_MACHINE_HOST(src), res, &error))
        fail_call(inv, error);
    else
        g_dbus_method_invocation_return_value(inv, NULL);
}

static gboolean handle_delete_snapshot(TrmDBusMachine1 *s, GDBusMethodInvocation *inv,
                                       const char *id, TrmMachineHost *self)
{
    trm_machine_host_delete_snapshot_async(self, id, on_dbus_snapshot_deleted, inv);
    return TRUE;
}

static void on_dbus_state_saved(GObject *src, GAsyncResult *res, gpointer data)
{
    GDBusMethodInvocation *inv = data;
    GError *error = NULL;
    if (!trm_machine_host_save_state_finish(TRM_MACHINE_HOST(src), res, &error))
        fail_call(inv, error);
    else
        g_dbus_method_invocation_return_value(inv, NULL);
}

static gboolean handle_save_state(TrmDBusMachine1 *s, GDBusMethodInvocation *inv,
                                  TrmMachineHost *self)
{
    trm_machine_host_save_state_async(self, on_dbus_state_saved, inv);
    return TRUE;
}

static gboolean handle_screenshot(TrmDBusMachine1 *s, GDBusMethodInvocation *inv, guint max_w,
                                  guint max_h, TrmMachineHost *self)
{
    g_autoptr(GBytes) png =
        self->screenshot ? self->screenshot(max_w, max_h, self->screenshot_data) : NULL;
    if (!png)
        return fail_call(inv, g_error_new_literal(TRM_ERROR, TRM_ERROR_INVALID,
                                                  _("This machine has no display.")));
    GVariant *v = g_variant_new_from_bytes(G_VARIANT_TYPE_BYTESTRING, png, TRUE);
    trm_dbus_machine1_complete_screenshot(s, inv, v);
    return TRUE;
}

static gboolean handle_present(TrmDBusMachine1 *s, GDBusMethodInvocation *inv, guint ts,
                               TrmMachineHost *self)
{
    GApplication *app = g_application_get_default();
    if (app)
        g_action_group_activate_action(G_ACTION_GROUP(app), "present", NULL);
    trm_dbus_machine1_complete_present_window(s, inv);
    return TRUE;
}

static gboolean start_server(TrmMachineHost *self, GError **error)
{
    const char *uuid = trm_machine_get_uuid(self->machine);
    self->socket_path = trm_runtime_dup_socket_path(uuid);
    /* We hold the run lock: a socket left here belongs to a dead process. */
    g_unlink(self->socket_path);
    g_autofree char *address = g_dbus_address_escape_value(self->socket_path);
    g_autofree char *full = g_strconcat("unix:path=", address, NULL);
    g_autofree char *guid = g_dbus_generate_guid();
    g_autoptr(GDBusAuthObserver) observer = g_dbus_auth_observer_new();
    g_signal_connect(observer, "authorize-authenticated-peer", G_CALLBACK(on_authorize), NULL);
    self->server =
        g_dbus_server_new_sync(full, G_DBUS_SERVER_FLAGS_NONE, guid, observer, NULL, error);
    if (!self->server)
        return FALSE;
    g_chmod(self->socket_path, 0600);
    g_signal_connect(self->server, "new-connection", G_CALLBACK(on_new_connection), self);
    g_dbus_server_start(self->server);
    return TRUE;
}

TrmMachineHost *trm_machine_host_new(TrmMachine *machine, GError **error)
{
    return trm_machine_host_new_full(machine, NULL, FALSE, error);
}

TrmMachineHost *trm_machine_host_new_restoring(TrmMachine *machine, const char *snapshot_id,
                                               GError **error)
{
    return trm_machine_host_new_full(machine, snapshot_id, FALSE, error);
}

gboolean trm_machine_host_get_try_mode(TrmMachineHost *self)
{
    return self->try_mode;
}

/* Under the run lock: the disks go back to the snapshot, the state directory comes back. */
static gboolean prepare_restore(TrmMachineHost *self, const char *id, struct vmm_config *cfg,
                                GError **error)
{
    TrmSnapshot *snap = trm_snapshot_tree_find(self->snapshots, id);
    if (!snap) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_NOT_FOUND,
                    _("The snapshot to restore no longer exists."));
        return FALSE;
    }
    if (!trm_snapshot_tree_restore_disks(self->snapshots, self->machine, id, error))
        return FALSE;
    if (trm_snapshot_get_ram(snap))
        cfg->restore_from = keep(self, trm_snapshot_tree_dup_state_dir(self->snapshots, id));
    return TRUE;
}

TrmMachineHost *trm_machine_host_new_full(TrmMachine *machine, const char *snapshot_id,
                                          gboolean try_mode, GError **error)
{
    if (trm_machine_get_broken_reason(machine)) {
        g_set_error_literal(error, TRM_ERROR, TRM_ERROR_BROKEN,
                            trm_machine_get_broken_reason(machine));
        return NULL;
    }
    g_autoptr(TrmMachineHost) self = g_object_new(TRM_TYPE_MACHINE_HOST, NULL);
    self->machine = g_object_ref(machine);
    self->try_mode = try_mode || trm_machine_get_try_mode(machine);
    /* A previous run's process may still be letting go of its disks and the lock. */
    self->lock_fd =
        trm_runtime_lock_machine_wait(trm_machine_get_uuid(machine), LOCK_WAIT_MS, error);
    if (self->lock_fd < 0)
        return NULL;
    if (!trm_host_check_kvm(g_getenv("TERRARIUM_KVM_DEVICE"), error))
        return NULL;
    if (trm_machine_get_boot(machine) == TRM_BOOT_FIRMWARE && !trm_host_check_firmware(NULL, error))
        return NULL;

    self->skeleton = trm_dbus_machine1_skeleton_new();
    trm_dbus_machine1_set_uuid(self->skeleton, trm_machine_get_uuid(machine));
    trm_dbus_machine1_set_state(self->skeleton, self->state);
    trm_dbus_machine1_set_try_mode(self->skeleton, self->try_mode);
    trm_dbus_machine1_set_display_path(self->skeleton,
                                       trm_display_path_to_string(trm_display_path_get()));
    g_signal_connect(self->skeleton, "handle-pause", G_CALLBACK(handle_pause), self);
    g_signal_connect(self->skeleton, "handle-resume", G_CALLBACK(handle_resume), self);
    g_signal_connect(self->skeleton, "handle-shutdown", G_CALLBACK(handle_shutdown), self);
    g_signal_connect(self->skeleton, "handle-power-off", G_CALLBACK(handle_power_off), self);
    g_signal_connect(self->skeleton, "handle-reset", G_CALLBACK(handle_reset), self);
    g_signal_connect(self->skeleton, "handle-take-snapshot", G_CALLBACK(handle_take_snapshot),
                     self);
    g_signal_connect(self->skeleton, "handle-delete-snapshot", G_CALLBACK(handle_delete_snapshot),
                     self);
    g_signal_connect(self->skeleton, "handle-save-state", G_CALLBACK(handle_save_state), self);
    g_signal_connect(self->skeleton, "handle-screenshot", G_CALLBACK(handle_screenshot), self);
    g_signal_connect(self->skeleton, "handle-present-window", G_CALLBACK(handle_present), self);

    self->snapshots = trm_snapshot_tree_load(trm_machine_get_dir(machine));
    struct vmm_config cfg;
    build_config(self, &cfg);
    if (snapshot_id && !prepare_restore(self, snapshot_id, &cfg, error))
        return NULL;
    if (!snapshot_id && trm_machine_has_saved_state(machine)) {
        /* Resume where Save State left it; try mode keeps the state (its disks stay as saved). */
        cfg.restore_from = keep(self, trm_machine_dup_saved_state_dir(machine));
        self->restoring_saved = TRUE;
        self->resume_saved = !self->try_mode;
    } else if (snapshot_id) {
        /* The snapshot's disks replace the ones the saved state belongs with. */
        self->resume_saved = TRUE;
    }
    struct vmm_error verr = {0};
    self->vm = vmm_machine_create(&cfg, &verr);
    if (!self->vm && self->restoring_saved) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_SAVED_STATE,
                    _("The saved state could not be restored (%s); discard it to start the "
                      "machine normally."),
                    verr.msg[0] ? verr.msg : _("unknown error"));
        return NULL;
    }
    if (!self->vm) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID, "%s",
                    verr.msg[0] ? verr.msg : _("The machine could not be created."));
        return NULL;
    }
    if (!start_server(self, error))
        return NULL;
    return g_steal_pointer(&self);
}

typedef struct {
    TrmMachineHost *self;
    struct vmm_exit ex;
} ExitMsg;

static gboolean on_vm_exited(gpointer data)
{
    ExitMsg *m = data;
    TrmMachineHost *self = m->self;
    int status = 0;
    const char *reason = "";
    g_autofree char *owned = NULL;
    switch (m->ex.reason) {
    case VMM_EXIT_POWEROFF:
    case VMM_EXIT_RESET:
    case VMM_EXIT_STOPPED:
    case VMM_EXIT_NONE:
        reason = self->saved ? _("The machine's state was saved; starting it resumes it.")
                             : _("The machine was shut down.");
        break;
    case VMM_EXIT_TEST:
        status = m->ex.status;
        reason = owned = g_strdup_printf(_("The machine ended with status %d."), status);
        break;
    case VMM_EXIT_ERROR:
        status = 1;
        reason = m->ex.msg[0] ? m->ex.msg : _("The machine failed.");
        break;
    }
    set_state(self, "stopped");
    trm_dbus_machine1_emit_stopped(self->skeleton, status, reason);
    for (guint i = 0; i < self->connections->len; i++)
        g_dbus_connection_flush_sync(self->connections->pdata[i], NULL, NULL);
    g_signal_emit(self, signals[SIGNAL_STOPPED], 0, status, reason);
    g_object_unref(self);
    g_free(m);
    return G_SOURCE_REMOVE;
}

static gpointer wait_thread(gpointer data)
{
    TrmMachineHost *self = data;
    ExitMsg *m = g_new0(ExitMsg, 1);
    vmm_vm_wait(self->vm, &m->ex);
    m->self = g_object_ref(self);
    g_idle_add(on_vm_exited, m);
    return NULL;
}

gboolean trm_machine_host_start(TrmMachineHost *self, GError **error)
{
    struct vmm_error verr = {0};
    if (vmm_vm_start(self->vm, &verr) < 0) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID, "%s",
                    verr.msg[0] ? verr.msg : _("The machine could not start."));
        return FALSE;
    }
    self->waiter = g_thread_new("vmm-wait", wait_thread, self);
    set_state(self, "running");
    if (self->resume_saved) {
        /* The guest writes its disks from now on: the saved state no longer matches them.
         * A restored machine keeps mapping its (unlinked) RAM file. */
        self->resume_saved = FALSE;
        g_autoptr(GError) derr = NULL;
        if (!trm_machine_discard_saved_state(self->machine, &derr))
            g_warning("%s", derr->message);
    }
    return TRUE;
}

TrmMachine *trm_machine_host_get_machine(TrmMachineHost *self)
{
    return self->machine;
}

struct vmm_vm *trm_machine_host_get_vm(TrmMachineHost *self)
{
    return self->vm;
}

const char *trm_machine_host_get_state(TrmMachineHost *self)
{
    return self->state;
}

gboolean trm_machine_host_pause(TrmMachineHost *self, GError **error)
{
    if (g_strcmp0(self->state, "running") != 0 || self->saving) {
        g_set_error_literal(error, TRM_ERROR, TRM_ERROR_INVALID, _("The machine is not running."));
        return FALSE;
    }
    if (vmm_vm_pause(self->vm) < 0) {
        g_set_error_literal(error, TRM_ERROR, TRM_ERROR_INVALID,
                            _("The machine could not be paused."));
        return FALSE;
    }
    set_state(self, "paused");
    return TRUE;
}

gboolean trm_machine_host_resume(TrmMachineHost *self, GError **error)
{
    if (g_strcmp0(self->state, "paused") != 0 || self->saving) {
        g_set_error_literal(error, TRM_ERROR, TRM_ERROR_INVALID, _("The machine is not paused."));
        return FALSE;
    }
    if (vmm_vm_resume(self->vm) < 0) {
        g_set_error_literal(error, TRM_ERROR, TRM_ERROR_INVALID,
                            _("The machine could not be resumed."));
        return FALSE;
    }
    set_state(self, "running");
    return TRUE;
}

gboolean trm_machine_host_shutdown(TrmMachineHost *self, GError **error)
{
    int rc = vmm_vm_power_button(self->vm);
    if (rc == -ENODEV) {
        g_set_error_literal(error, TRM_ERROR, TRM_ERROR_INVALID,
                            _("This machine has no power button the system can see. Shut it "
                              "down from inside, or use Force Off."));
        return FALSE;
    }
    if (rc < 0) {
        g_set_error_literal(error, TRM_ERROR, TRM_ERROR_INVALID,
                            _("The power button could not be pressed."));
        return FALSE;
    }
    return TRUE;
}

void trm_machine_host_power_off(TrmMachineHost *self)
{
    if (g_strcmp0(self->state, "paused") == 0 && vmm_vm_resume(self->vm) < 0)
        g_warning("resume before power off failed");
    vmm_vm_request_stop(self->vm);
}

void trm_machine_host_set_screenshot_func(TrmMachineHost *self, TrmScreenshotFunc func,
                                          gpointer user_data)
{
    self->screenshot = func;
    self->screenshot_data = user_data;
}

void trm_machine_host_set_display_size(TrmMachineHost *self, guint width, guint height)
{
    trm_dbus_machine1_set_display_width(self->skeleton, width);
    trm_dbus_machine1_set_display_height(self->skeleton, height);
}

void trm_machine_host_set_display_frames(TrmMachineHost *self, guint64 frames, guint64 uploads)
{
    trm_dbus_machine1_set_display_frames(self->skeleton, frames);
    trm_dbus_machine1_set_display_uploads(self->skeleton, uploads);
}

const char *trm_machine_host_get_serial_text(TrmMachineHost *self)
{
    return self->serial->str;
}

TrmSnapshotTree *trm_machine_host_get_snapshots(TrmMachineHost *self)
{
    return self->snapshots;
}

typedef struct {
    struct vmm_vm *vm;
    char *id;
    char *state_dir; /* NULL: disks only */
    struct vmm_save_stats stats;
    TrmSnapshot *snap;
    GBytes *thumbnail;
} TakeData;

static void take_data_free(gpointer p)
{
    TakeData *d = p;
    g_free(d->id);
    g_free(d->state_dir);
    g_clear_object(&d->snap);
    g_clear_pointer(&d->thumbnail, g_bytes_unref);
    g_free(d);
}

static void take_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    TakeData *d = data;
    struct vmm_error err = {0};
    if (vmm_vm_snapshot_take(d->vm, d->id, d->state_dir, &d->stats, &err) < 0) {
        g_task_return_new_error(task, TRM_ERROR, TRM_ERROR_INVALID,
                                _("The snapshot could not be taken: %s"), err.msg);
        return;
    }
    g_task_return_boolean(task, TRUE);
}

static void on_take_done(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *outer = data;
    TrmMachineHost *self = g_task_get_source_object(outer);
    TakeData *d = g_task_get_task_data(G_TASK(res));
    g_autoptr(GError) error = NULL;
    self->snapshot_busy = FALSE;
    if (!g_task_propagate_boolean(G_TASK(res), &error)) {
        trm_snapshot_tree_abort(self->snapshots, d->snap);
        g_task_return_error(outer, g_steal_pointer(&error));
    } else if (!trm_snapshot_tree_commit(self->snapshots, d->snap, d->thumbnail, &error)) {
        struct vmm_error ignored = {0};
        if (vmm_vm_snapshot_delete(self->vm, d->id, &ignored) < 0)
            g_warning("snapshot %s left on the disks: %s", d->id, ignored.msg);
        trm_snapshot_tree_abort(self->snapshots, d->snap);
        g_task_return_error(outer, g_steal_pointer(&error));
    } else {
        g_message("snapshot %s taken: RAM %.1f of %llu MiB written, guest paused %.1f ms, "
                  "%.1f ms in all",
                  d->id, d->stats.ram_written / 1048576.0,
                  (unsigned long long)(d->stats.ram_size >> 20), d->stats.paused_ns / 1e6,
                  d->stats.total_ns / 1e6);
        g_task_return_pointer(outer, g_strdup(d->id), g_free);
    }
    g_object_unref(outer);
}

void trm_machine_host_take_snapshot_async(TrmMachineHost *self, const char *name,
                                          const char *description, gboolean with_ram,
                                          GAsyncReadyCallback cb, gpointer user_data)
{
    GTask *outer = g_task_new(self, NULL, cb, user_data);
    g_autoptr(GError) error = NULL;
    const char *st = self->state;
    if (g_strcmp0(st, "running") != 0 && g_strcmp0(st, "paused") != 0) {
        g_task_return_new_error(outer, TRM_ERROR, TRM_ERROR_INVALID,
                                _("The machine is not running; take the snapshot from the "
                                  "snapshot list instead."));
        g_object_unref(outer);
        return;
    }
    if (self->try_mode) {
        g_task_return_new_error(outer, TRM_ERROR, TRM_ERROR_INVALID,
                                _("Snapshots cannot be taken in try mode: everything this "
                                  "machine writes is thrown away when it stops. Start it "
                                  "normally to take snapshots."));
        g_object_unref(outer);
        return;
    }
    if (self->snapshot_busy) {
        g_task_return_new_error(outer, TRM_ERROR, TRM_ERROR_BUSY,
                                _("A snapshot is being taken; wait for it to finish."));
        g_object_unref(outer);
        return;
    }
    TrmSnapshot *snap =
        trm_snapshot_tree_begin(self->snapshots, name, description, with_ram, &error);
    if (!snap) {
        g_task_return_error(outer, g_steal_pointer(&error));
        g_object_unref(outer);
        return;
    }
    TakeData *d = g_new0(TakeData, 1);
    d->vm = self->vm;
    d->snap = snap;
    d->id = g_strdup(trm_snapshot_get_id(snap));
    d->state_dir = with_ram ? trm_snapshot_tree_dup_state_dir(self->snapshots, d->id) : NULL;
    /* The picture of the moment, taken before the pause: the guest cannot change it between. */
    d->thumbnail = self->screenshot ? self->screenshot(320, 240, self->screenshot_data) : NULL;
    self->snapshot_busy = TRUE;
    GTask *task = g_task_new(self, NULL, on_take_done, outer);
    g_task_set_task_data(task, d, take_data_free);
    g_task_run_in_thread(task, take_thread);
    g_object_unref(task);
}

char *trm_machine_host_take_snapshot_finish(TrmMachineHost *self, GAsyncResult *res, GError **error)
{
    return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- deleting a snapshot while the machine runs ---- */

typedef struct {
    struct vmm_vm *vm;
    char *id;
} DeleteData;

static void delete_data_free(gpointer p)
{
    DeleteData *d = p;
    g_free(d->id);
    g_free(d);
}

static void delete_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    DeleteData *d = data;
    struct vmm_error err = {0};
    if (vmm_vm_snapshot_delete(d->vm, d->id, &err) < 0) {
        g_task_return_new_error(task, TRM_ERROR, TRM_ERROR_INVALID,
                                _("The snapshot could not be deleted: %s"), err.msg);
        return;
    }
    g_task_return_boolean(task, TRUE);
}

/* The disks' part is done: the folder goes, from a fresh look at the tree. */
static gboolean delete_folder(TrmMachineHost *self, const char *id, TrmMachine *disks_machine,
                              GError **error)
{
    g_autoptr(TrmSnapshotTree) fresh = trm_snapshot_tree_load(trm_machine_get_dir(self->machine));
    if (!trm_snapshot_tree_delete(fresh, disks_machine, id, error))
        return FALSE;
    g_set_object(&self->snapshots, fresh);
    return TRUE;
}

static void on_delete_done(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *outer = data;
    TrmMachineHost *self = g_task_get_source_object(outer);
    DeleteData *d = g_task_get_task_data(G_TASK(res));
    GError *error = NULL;
    self->snapshot_busy = FALSE;
    if (!g_task_propagate_boolean(G_TASK(res), &error) || !delete_folder(self, d->id, NULL, &error))
        g_task_return_error(outer, error);
    else
        g_task_return_boolean(outer, TRUE);
    g_object_unref(outer);
}

void trm_machine_host_delete_snapshot_async(TrmMachineHost *self, const char *id,
                                            GAsyncReadyCallback cb, gpointer user_data)
{
    GTask *outer = g_task_new(self, NULL, cb, user_data);
    GError *error = NULL;
    g_autoptr(TrmSnapshotTree) fresh = trm_snapshot_tree_load(trm_machine_get_dir(self->machine));
    const char *st = self->state;
    if (!trm_snapshot_id_is_valid(id) || !trm_snapshot_tree_find(fresh, id)) {
        g_task_return_new_error(outer, TRM_ERROR, TRM_ERROR_NOT_FOUND,
                                _("This snapshot no longer exists; reopen the snapshot list."));
    } else if (self->snapshot_busy) {
        g_task_return_new_error(outer, TRM_ERROR, TRM_ERROR_BUSY,
                                _("A snapshot is being taken; wait for it to finish."));
    } else if (self->try_mode && (g_strcmp0(st, "running") == 0 || g_strcmp0(st, "paused") == 0)) {
        /* The images are the overlays' backing files, open read-only: an image has
         * one writer or readers (vmm-core/disk/disk-lock.c), so no delete now. */
        g_task_return_new_error(outer, TRM_ERROR, TRM_ERROR_BUSY,
                                _("The machine is running in try mode, which reads these "
                                  "disks; shut it down to delete snapshots."));
    } else if (g_strcmp0(st, "running") != 0 && g_strcmp0(st, "paused") != 0) {
        /* Before the start and after the stop nothing of ours has the disks open. */
        if (!delete_folder(self, id, self->machine, &error))
            g_task_return_error(outer, error);
        else
            g_task_return_boolean(outer, TRUE);
    } else {
        DeleteData *d = g_new0(DeleteData, 1);
        d->vm = self->vm;
        d->id = g_strdup(id);
        self->snapshot_busy = TRUE;
        GTask *task = g_task_new(self, NULL, on_delete_done, outer);
        g_task_set_task_data(task, d, delete_data_free);
        g_task_run_in_thread(task, delete_thread);
        g_object_unref(task);
        return;
    }
    g_object_unref(outer);
}

gboolean trm_machine_host_delete_snapshot_finish(TrmMachineHost *self, GAsyncResult *res,
                                                 GError **error)
{
    return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- Save State: the machine stops, its next start resumes it ---- */

typedef struct {
    struct vmm_vm *vm;
    char *tmp, *dir;
    gboolean was_running;
} SaveData;

static void save_data_free(gpointer p)
{
    SaveData *d = p;
    g_free(d->tmp);
    g_free(d->dir);
    g_free(d);
}

static void save_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    SaveData *d = data;
    struct vmm_error err = {0};
    struct vmm_save_stats stats = {0};
    /* Saving to stop: the guest must not run on past the state it is saved in. */
    if (d->was_running && vmm_vm_pause(d->vm) < 0) {
        g_task_return_new_error(task, TRM_ERROR, TRM_ERROR_INVALID,
                                _("The machine could not be paused to save it."));
        return;
    }
    int r;
    /* A paused machine is not retried by vmm-core: an IDE command in flight gets 5 ms. */
    for (guint tries = 0;; tries++) {
        r = vmm_vm_save_state(d->vm, d->tmp, &stats, &err);
        if (r != -EBUSY || tries >= 200 || vmm_vm_resume(d->vm) < 0)
            break;
        g_usleep(5000);
        if (vmm_vm_pause(d->vm) < 0)
            break;
    }
    if (r < 0) {
        if (d->was_running && vmm_vm_resume(d->vm) < 0)
            g_warning("resume after a failed save failed");
        g_task_return_new_error(task, TRM_ERROR, TRM_ERROR_INVALID,
                                _("The machine's state could not be saved: %s"), err.msg);
        return;
    }
    /* The disks as the state knows them, on stable storage: then the state is committed. */
    if (vmm_vm_flush_disks(d->vm, &err) < 0 || !commit_saved_state(d->tmp, d->dir, &err)) {
        if (d->was_running && vmm_vm_resume(d->vm) < 0)
            g_warning("resume after a failed save failed");
        g_task_return_new_error(task, TRM_ERROR, TRM_ERROR_INVALID,
                                _("The machine's state could not be saved: %s"), err.msg);
        return;
    }
    g_message("state saved: RAM %.1f of %llu MiB written, %.1f ms", stats.ram_written / 1048576.0,
              (unsigned long long)(stats.ram_size >> 20), stats.total_ns / 1e6);
    g_task_return_boolean(task, TRUE);
}

static void on_save_done(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *outer = data;
    TrmMachineHost *self = g_task_get_source_object(outer);
    SaveData *d = g_task_get_task_data(G_TASK(res));
    GError *error = NULL;
    self->saving = FALSE;
    self->snapshot_busy = FALSE;
    if (!g_task_propagate_boolean(G_TASK(res), &error)) {
        set_state(self, d->was_running ? "running" : "paused");
        g_task_return_error(outer, error);
    } else {
        self->saved = TRUE;
        vmm_vm_request_stop(self->vm);
        g_task_return_boolean(outer, TRUE);
    }
    g_object_unref(outer);
}

void trm_machine_host_save_state_async(TrmMachineHost *self, GAsyncReadyCallback cb,
                                       gpointer user_data)
{
    GTask *outer = g_task_new(self, NULL, cb, user_data);
    const char *st = self->state;
    g_autoptr(GError) error = NULL;
    if (g_strcmp0(st, "running") != 0 && g_strcmp0(st, "paused") != 0) {
        g_task_return_new_error(outer, TRM_ERROR, TRM_ERROR_INVALID,
                                _("The machine is not running."));
    } else if (self->try_mode) {
        g_task_return_new_error(outer, TRM_ERROR, TRM_ERROR_INVALID,
                                _("The state cannot be saved in try mode: the changes to the "
                                  "disks are discarded when the machine stops."));
    } else if (self->snapshot_busy) {
        g_task_return_new_error(outer, TRM_ERROR, TRM_ERROR_BUSY,
                                _("A snapshot is being taken; wait for it to finish."));
    } else {
        g_autofree char *dir = trm_machine_dup_saved_state_dir(self->machine);
        SaveData *d = g_new0(SaveData, 1);
        d->vm = self->vm;
        d->tmp = g_strconcat(dir, ".tmp", NULL);
        d->dir = g_strdup(dir);
        d->was_running = g_strcmp0(st, "running") == 0;
        /* A half-written state from an earlier crash is not ours to extend. */
        trm_machine_discard_saved_state(self->machine, NULL);
        if (g_mkdir(d->tmp, 0700) < 0) {
            int e = errno;
            save_data_free(d);
            g_task_return_new_error(outer, G_IO_ERROR, g_io_error_from_errno(e),
                                    _("The machine's state could not be saved: %s."),
                                    g_strerror(e));
            g_object_unref(outer);
            return;
        }
        self->saving = TRUE;
        self->snapshot_busy = TRUE;
        set_state(self, "saving");
        GTask *task = g_task_new(self, NULL, on_save_done, outer);
        g_task_set_task_data(task, d, save_data_free);
        g_task_run_in_thread(task, save_thread);
        g_object_unref(task);
        return;
    }
    g_object_unref(outer);
}

gboolean trm_machine_host_save_state_finish(TrmMachineHost *self, GAsyncResult *res, GError **error)
{
    return g_task_propagate_boolean(G_TASK(res), error);
}
