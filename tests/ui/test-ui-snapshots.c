/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ui suite: try mode and snapshots of running machines, through the real
 * machine process (the demo guest with a qcow2 disk attached).
 *   Start in Try Mode (the library's menu action): Machine1.TryMode is true,
 *   no overlay file is visible in the machine's folder, TakeSnapshot is
 *   refused with a reason, and after power-off the disk is byte-identical.
 *   A normal start: a snapshot is deleted from the snapshot window while the
 *   machine runs (Machine1.DeleteSnapshot), another is taken live; after
 *   power-off the disk's internal snapshots say the same and it checks clean.
 *   Clone from the snapshot window: a new machine whose disk has the data.
 */
#include <glib/gstdio.h>
#include <unistd.h>

#include "trm-application.h"
#include "trm-dbus-machine1.h"
#include "trm-library-window.h"
#include "trm-machine-client.h"
#include "trm-runtime.h"
#include "trm-snapshot-tree.h"
#include "trm-snapshots-window.h"
#include "ui-machine-wait.h"
#include "vmm/disk.h"

void test_try_and_snapshots(TrmApplication *app, int *failed);

static gboolean flag_set(gpointer data)
{
    return *(gboolean *)data;
}

static guint count_overlays(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    guint n = 0;
    while (d && (e = g_dir_read_name(d)))
        n += g_str_has_prefix(e, ".terrarium-try-");
    return n;
}

/* 1 if the image holds the snapshot, 0 if not, -1 if the image cannot be read. */
static int disk_has_snapshot(const char *path, const char *name)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, VMM_DISK_FORMAT_QCOW2 | VMM_DISK_RDONLY, &err);
    if (!d) {
        g_print("cannot open %s: %s\n", path, err.msg);
        return -1;
    }
    struct vmm_disk_snapshot *list = NULL;
    size_t n = 0;
    gboolean found = FALSE;
    if (vmm_disk_snapshot_list(d, &list, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            found = found || g_strcmp0(list[i].name, name) == 0;
        vmm_disk_snapshot_list_free(list, n);
    }
    vmm_disk_close(d);
    return found;
}

static char disk_byte(const char *path, guint64 off)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, VMM_DISK_FORMAT_QCOW2 | VMM_DISK_RDONLY, &err);
    char c = -1;
    if (d && vmm_disk_pread(d, &c, 1, off) < 0)
        c = -1;
    vmm_disk_close(d);
    return c;
}

typedef struct {
    gboolean done;
    GError *error;
    char *id;
} Call;

static void on_take(GObject *src, GAsyncResult *res, gpointer data)
{
    Call *c = data;
    trm_dbus_machine1_call_take_snapshot_finish(TRM_DBUS_MACHINE1(src), &c->id, res, &c->error);
    c->done = TRUE;
}

static gboolean snapshot_gone(gpointer data)
{
    TrmMachine *m = data;
    const char *id = g_object_get_data(G_OBJECT(m), "gone-id");
    g_autoptr(TrmSnapshotTree) t = trm_snapshot_tree_load(trm_machine_get_dir(m));
    return trm_snapshot_tree_find(t, id) == NULL;
}

static gboolean n_machines_is(gpointer data)
{
    TrmMachineStore *store = data;
    guint want = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(store), "want-n"));
    return g_list_model_get_n_items(trm_machine_store_get_model(store)) == want;
}

/* The byte the snapshot keeps: 'A' at 64 KiB, before the machine ever runs. */
static void write_a(struct vmm_disk *d)
{
    char a = 'A';
    CHECK(vmm_disk_pwrite(d, &a, 1, 65536) == 0);
}

void test_try_and_snapshots(TrmApplication *app, int *failed)
{
    failures = failed;
    TrmMachine *m = demo_machine_with_disk(app, "Try Me", "try mode and live snapshots", write_a);
    if (!m)
        return;
    TrmMachineStore *store = trm_application_get_store(app);
    g_autofree char *disk = g_build_filename(trm_machine_get_dir(m), "disk.qcow2", NULL);
    struct vmm_error err = {0};
    struct vmm_disk *d = NULL;
    g_autoptr(TrmSnapshotTree) tree = trm_snapshot_tree_load(trm_machine_get_dir(m));
    g_autoptr(TrmSnapshot) s1 = trm_snapshot_tree_take_offline(tree, m, "First", "", NULL, NULL);
    g_autoptr(TrmSnapshot) s2 = trm_snapshot_tree_take_offline(tree, m, "Second", "", NULL, NULL);
    CHECK(s1 && s2);
    if (!s1 || !s2)
        return;
    g_autofree char *before = NULL;
    gsize before_len = 0;
    CHECK(g_file_get_contents(disk, &before, &before_len, NULL));

    /* Try mode, from the library's machine menu. */
    GtkWidget *lib = GTK_WIDGET(library(app));
    CHECK(gtk_widget_activate_action(lib, "win.start-try", "s", trm_machine_get_uuid(m)));
    CHECK(wait_state(m, TRM_MACHINE_STATE_RUNNING, 60000));
    TrmMachineClient *client = trm_application_get_client(app, m);
    CHECK(wait_for(connected, client, 20000));
    TrmDBusMachine1 *proxy = trm_machine_client_get_proxy(client);
    CHECK(proxy && trm_dbus_machine1_get_try_mode(proxy));
    CHECK(count_overlays(trm_machine_get_dir(m)) == 0); /* unlinked while in use */
    Call c = {0};
    if (proxy)
        trm_dbus_machine1_call_take_snapshot(proxy, "no", "", FALSE, NULL, on_take, &c);
    CHECK(wait_for(flag_set, &c.done, 20000));
    g_print("try-mode snapshot refused: %s\n", c.error ? c.error->message : "(not refused)");
    CHECK(c.error && strstr(c.error->message, "try mode"));
    g_clear_error(&c.error);
    trm_machine_client_call(client, "PowerOff");
    CHECK(wait_state(m, TRM_MACHINE_STATE_OFF, 30000));
    g_autofree char *after = NULL;
    gsize after_len = 0;
    CHECK(g_file_get_contents(disk, &after, &after_len, NULL));
    CHECK(after_len == before_len && memcmp(after, before, before_len) == 0);
    CHECK(count_overlays(trm_machine_get_dir(m)) == 0);
    /* "Off" shows when the machine says Stopped; its process ends a moment later. */
    CHECK(wait_for(process_gone, m, 20000));

    /* A normal run: delete a snapshot from the snapshot window while it runs, take one live. */
    g_autoptr(GError) error = NULL;
    CHECK(trm_application_start_machine(app, m, &error));
    CHECK(wait_state(m, TRM_MACHINE_STATE_RUNNING, 60000));
    CHECK(wait_for(connected, client, 20000));
    proxy = trm_machine_client_get_proxy(client);
    CHECK(proxy && !trm_dbus_machine1_get_try_mode(proxy));
    GtkWindow *snaps = trm_snapshots_window_new(app, m, GTK_WINDOW(lib));
    gtk_window_present(snaps);
    const char *id2 = trm_snapshot_get_id(s2);
    g_object_set_data_full(G_OBJECT(m), "gone-id", g_strdup(id2), g_free);
    CHECK(gtk_widget_activate_action(GTK_WIDGET(snaps), "snap.delete", "s", id2));
    CHECK(wait_for(snapshot_gone, m, 20000));
    c = (Call){0};
    if (proxy)
        trm_dbus_machine1_call_take_snapshot(proxy, "Live", "", FALSE, NULL, on_take, &c);
    CHECK(wait_for(flag_set, &c.done, 30000));
    CHECK(!c.error && c.id);
    g_clear_error(&c.error);
    trm_machine_client_call(client, "PowerOff");
    CHECK(wait_state(m, TRM_MACHINE_STATE_OFF, 30000));
    /* The process holds the disk (and its lock) until it ends, a moment after "Off". */
    CHECK(wait_for(process_gone, m, 20000));
    CHECK(disk_has_snapshot(disk, id2) == 0);
    CHECK(disk_has_snapshot(disk, trm_snapshot_get_id(s1)) == 1);
    CHECK(c.id && disk_has_snapshot(disk, c.id) == 1);
    g_free(c.id);
    d = vmm_disk_open(disk, VMM_DISK_FORMAT_QCOW2 | VMM_DISK_RDONLY, &err);
    struct vmm_qcow2_check chk = {0};
    CHECK(d && vmm_qcow2_check(d, &chk) == 0 && chk.errors == 0 && chk.leaks == 0);
    vmm_disk_close(d);

    /* Clone from the snapshot window. */
    guint n = g_list_model_get_n_items(trm_machine_store_get_model(store));
    g_object_set_data(G_OBJECT(store), "want-n", GUINT_TO_POINTER(n + 1));
    CHECK(
        gtk_widget_activate_action(GTK_WIDGET(snaps), "snap.clone", "s", trm_snapshot_get_id(s1)));
    CHECK(wait_for(n_machines_is, store, 30000));
    GListModel *model = trm_machine_store_get_model(store);
    TrmMachine *clone = NULL;
    for (guint i = 0; i < g_list_model_get_n_items(model); i++) {
        g_autoptr(TrmMachine) x = g_list_model_get_item(model, i);
        if (g_strcmp0(trm_machine_get_name(x), "Try Me (clone)") == 0)
            clone = x;
    }
    CHECK(clone != NULL);
    if (clone) {
        g_autofree char *cdisk = trm_machine_dup_drive_path(clone, 0);
        CHECK(disk_byte(cdisk, 65536) == 'A');
    }
    gtk_window_destroy(snaps);
}
