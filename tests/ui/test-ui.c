/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ui suite: the real application in a real (Xvfb) window, driven from here.
 *   empty library -> machines created through the model appear -> the wizard
 *   detects an ISO built now with xorriso and creates a machine -> machine
 *   processes: an actionable error ends up in the library; with /dev/kvm a
 *   running machine is killed with SIGKILL and the library shows the failure.
 *   The demo machine (test-ui-demo.c) runs first, from the empty library;
 *   try mode, live snapshot deletion and cloning (test-ui-snapshots.c) last.
 * Screenshots go to the directory given as argv[1].
 */
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/stat.h>

#include "trm-application.h"
#include "trm-dbus-machine1.h"
#include "trm-demo.h"
#include "trm-library-window.h"
#include "trm-properties-window.h"
#include "trm-runtime.h"
#include "trm-wizard.h"
#include "ui-check.h"

static const char *outdir;

void test_demo(TrmApplication *app, const char *dir, int *failed);
void test_try_and_snapshots(TrmApplication *app, int *failed);
void test_save_state(TrmApplication *app, int *failed);
void test_restart(TrmApplication *app, int *failed);

typedef gboolean (*Predicate)(gpointer data);

/* Runs the main loop until pred holds or timeout_ms passes. */
static gboolean wait_for(Predicate pred, gpointer data, guint timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    while (!pred(data)) {
        if (g_get_monotonic_time() > end)
            return FALSE;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(2000);
    }
    return TRUE;
}

static gboolean settle_pred(gpointer data)
{
    return g_get_monotonic_time() > *(gint64 *)data;
}

static void settle(guint ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    wait_for(settle_pred, &end, ms + 1000);
}

/* Renders the window as it is on screen and saves it; TRUE when it has real content. */
static gboolean screenshot(GtkWidget *window, const char *name)
{
    settle(300);
    int w = gtk_widget_get_width(window), h = gtk_widget_get_height(window);
    if (w <= 0 || h <= 0) {
        g_printerr("screenshot %s: the window has no size (%dx%d)\n", name, w, h);
        return FALSE;
    }
    GdkPaintable *paintable = gtk_widget_paintable_new(window);
    GtkSnapshot *snap = gtk_snapshot_new();
    gdk_paintable_snapshot(paintable, snap, w, h);
    GskRenderNode *node = gtk_snapshot_free_to_node(snap);
    g_object_unref(paintable);
    if (!node) {
        g_printerr("screenshot %s: nothing drawn\n", name);
        return FALSE;
    }
    GskRenderer *renderer = gtk_native_get_renderer(GTK_NATIVE(window));
    graphene_rect_t bounds = GRAPHENE_RECT_INIT(0, 0, w, h);
    GdkTexture *tex = gsk_renderer_render_texture(renderer, node, &bounds);
    gsk_render_node_unref(node);
    g_autofree char *path = g_build_filename(outdir, name, NULL);
    gboolean ok = gdk_texture_save_to_png(tex, path);
    /* Real content: more than one colour. */
    gsize stride = (gsize)w * 4;
    g_autofree guchar *px = g_malloc(stride * h);
    gdk_texture_download(tex, px, stride);
    guint32 first = *(guint32 *)px;
    gboolean varied = FALSE;
    for (gsize i = 0; i < stride * h && !varied; i += 4)
        varied = *(guint32 *)(px + i) != first;
    g_object_unref(tex);
    g_print("screenshot %s (%dx%d)\n", path, w, h);
    return ok && varied;
}

static GtkWidget *find_label(GtkWidget *root, const char *text)
{
    if (GTK_IS_LABEL(root) && g_strcmp0(gtk_label_get_label(GTK_LABEL(root)), text) == 0)
        return root;
    for (GtkWidget *c = gtk_widget_get_first_child(root); c; c = gtk_widget_get_next_sibling(c)) {
        GtkWidget *found = find_label(c, text);
        if (found)
            return found;
    }
    return NULL;
}

static TrmLibraryWindow *library(TrmApplication *app)
{
    for (GList *l = gtk_application_get_windows(GTK_APPLICATION(app)); l; l = l->next)
        if (TRM_IS_LIBRARY_WINDOW(l->data))
            return l->data;
    return NULL;
}

static gboolean mapped_pred(gpointer data)
{
    TrmLibraryWindow *w = library(data);
    return w && gtk_widget_get_mapped(GTK_WIDGET(w));
}

static gboolean has_machines_page(gpointer data)
{
    return g_strcmp0(trm_library_window_get_page(data), "machines") == 0;
}

static char *make_iso(const char *volid)
{
    const char *xorriso = g_getenv("XORRISO");
    if (!xorriso || !*xorriso)
        return NULL;
    g_autofree char *tree = g_build_filename(outdir, "iso-tree", NULL);
    g_mkdir_with_parents(tree, 0700);
    g_autofree char *f = g_build_filename(tree, "README.TXT", NULL);
    g_file_set_contents(f, "test\n", -1, NULL);
    char *iso = g_build_filename(outdir, "test-debian.iso", NULL);
    const char *argv[] = {xorriso, "-as", "mkisofs", "-quiet", "-V", volid, "-o", iso, tree, NULL};
    int status = -1;
    if (!g_spawn_sync(NULL, (char **)argv, NULL,
                      G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL,
                      NULL, &status, NULL) ||
        !g_spawn_check_wait_status(status, NULL)) {
        g_free(iso);
        return NULL;
    }
    return iso;
}

static gboolean wizard_settled(gpointer data)
{
    const char *page = trm_wizard_get_page(data);
    return g_strcmp0(page, "settings") == 0 || g_strcmp0(page, "source") == 0;
}

static gboolean wizard_gone(gpointer data)
{
    return *(gpointer *)data == NULL;
}

static gboolean n_items_is(gpointer data)
{
    TrmMachineStore *store = data;
    guint want = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(store), "want"));
    return g_list_model_get_n_items(trm_machine_store_get_model(store)) == want;
}

static void test_library(TrmApplication *app)
{
    TrmLibraryWindow *win = library(app);
    CHECK(win != NULL);
    CHECK(g_strcmp0(trm_library_window_get_page(win), "empty") == 0);
    CHECK(find_label(GTK_WIDGET(win), "Welcome to Terrarium") != NULL);
    CHECK(screenshot(GTK_WIDGET(win), "library-empty.png"));

    TrmMachineStore *store = trm_application_get_store(app);
    g_autoptr(GError) error = NULL;
    TrmMachine *m = trm_machine_store_create(store, "Debian Workstation", &error);
    CHECK(m != NULL);
    trm_machine_set_os(m, "http://debian.org/debian/12", "Debian 12");
    trm_machine_set_memory_mib(m, 4096);
    CHECK(trm_machine_store_save(store, m, NULL));
    CHECK(wait_for(has_machines_page, win, 5000));
    GtkWidget *tile = trm_library_window_get_tile(win, 0);
    CHECK(tile != NULL);
    CHECK(tile && find_label(tile, "Debian Workstation") != NULL);
    CHECK(tile && find_label(tile, "Debian 12") != NULL);
    CHECK(tile && find_label(tile, "Off") != NULL);

    /* A state change shows on the tile. */
    trm_machine_set_state(m, TRM_MACHINE_STATE_PAUSED);
    CHECK(tile && find_label(tile, "Paused") != NULL);
    trm_machine_set_state(m, TRM_MACHINE_STATE_OFF);

    /* A damaged machine.ini shows as a damaged machine, the library carries on. */
    g_autofree char *bad = g_build_filename(trm_machine_store_get_root(store),
                                            "0d1f7a4c-1111-4222-8333-944455556666", NULL);
    g_mkdir_with_parents(bad, 0700);
    g_autofree char *bad_ini = g_build_filename(bad, "machine.ini", NULL);
    g_file_set_contents(bad_ini, "[Machine]\nName=Broken\nMemoryMiB=lots\n", -1, NULL);
    TrmMachine *f = trm_machine_store_create(store, "Fedora Live", NULL);
    trm_machine_set_os(f, "http://fedoraproject.org/fedora/37", "Fedora 37");
    trm_machine_set_live(f, TRUE);
    trm_machine_store_save(store, f, NULL);
    TrmMachine *a = trm_machine_store_create(store, "Alpine Server", NULL);
    trm_machine_set_os(a, "http://alpinelinux.org/alpinelinux/3.17", "Alpine Linux 3.17");
    trm_machine_store_save(store, a, NULL);
    trm_machine_set_failure(a, "The machine stopped unexpectedly.");
    trm_machine_set_state(a, TRM_MACHINE_STATE_FAILED);
    trm_machine_store_reload(store);
    g_object_set_data(G_OBJECT(store), "want", GUINT_TO_POINTER(4));
    CHECK(wait_for(n_items_is, store, 5000));
    gboolean saw_damaged = FALSE;
    for (guint i = 0; i < 4; i++) {
        GtkWidget *t = trm_library_window_get_tile(win, i);
        saw_damaged = saw_damaged || (t && find_label(t, "Damaged"));
    }
    CHECK(saw_damaged);
    CHECK(screenshot(GTK_WIDGET(win), "library.png"));
}

static gboolean widget_mapped(gpointer data)
{
    return gtk_widget_get_mapped(data);
}

static gboolean n_drives_is(gpointer data)
{
    TrmMachine *m = data;
    return trm_machine_get_n_drives(m) == GPOINTER_TO_UINT(g_object_get_data(data, "want"));
}

/* Properties: a new qcow2 disk, a drive taken out (its file kept), the CD/DVD image changed. */
static void test_properties_drives(TrmApplication *app, TrmMachine *m)
{
    TrmMachineStore *store = trm_application_get_store(app);
    GtkWindow *pw = trm_properties_window_new(store, m, GTK_WINDOW(library(app)));
    gtk_window_present(pw);
    CHECK(wait_for(widget_mapped, pw, 5000));
    CHECK(find_label(GTK_WIDGET(pw), "CD/DVD") != NULL);
    CHECK(find_label(GTK_WIDGET(pw), "Disk") != NULL);
    g_autoptr(GError) error = NULL;
    CHECK(trm_properties_window_add_disk(pw, G_GUINT64_CONSTANT(2) << 30, &error));
    g_object_set_data(G_OBJECT(m), "want", GUINT_TO_POINTER(3));
    CHECK(wait_for(n_drives_is, m, 20000));
    g_autofree char *second = g_build_filename(trm_machine_get_dir(m), "disk-2.qcow2", NULL);
    g_autofree char *head = NULL;
    gsize len = 0;
    CHECK(g_file_get_contents(second, &head, &len, NULL) && len >= 4 &&
          memcmp(head, "QFI\xfb", 4) == 0);
    /* Rows were just rebuilt: the window may need a frame before it draws. */
    gboolean shot = FALSE;
    for (int i = 0; i < 5 && !shot; i++)
        shot = screenshot(GTK_WIDGET(pw), "properties-drives.png");
    CHECK(shot);

    /* Take out the first disk: the machine forgets it, the file stays. */
    g_autofree char *first = trm_machine_dup_drive_path(m, 0);
    gtk_widget_activate_action(GTK_WIDGET(pw), "props.remove-drive", "u", 0);
    CHECK(trm_machine_get_n_drives(m) == 2);
    CHECK(g_file_test(first, G_FILE_TEST_IS_REGULAR));
    CHECK(trm_machine_get_drive(m, 0)->cdrom);

    /* Another CD/DVD image; and what the properties saved is in machine.ini. */
    g_autofree char *other = g_build_filename(outdir, "other.iso", NULL);
    g_file_set_contents(other, "not really an ISO", -1, NULL);
    g_autoptr(GFile) of = g_file_new_for_path(other);
    CHECK(trm_properties_window_set_cdrom(pw, 0, of, &error));
    g_autoptr(TrmMachine) saved = trm_machine_load(trm_machine_get_dir(m));
    CHECK(trm_machine_get_n_drives(saved) == 2);
    CHECK(g_strcmp0(trm_machine_get_drive(saved, 0)->path, other) == 0);
    CHECK(g_strcmp0(trm_machine_get_drive(saved, 1)->path, "disk-2.qcow2") == 0);
    gtk_window_destroy(pw);
}

static void test_wizard(TrmApplication *app)
{
    g_autofree char *iso = make_iso("Debian 11.5.0 amd64 n");
    if (!iso) {
        g_print("SKIP part: xorriso is not installed, the wizard's detection is not tested\n");
        return;
    }
    TrmLibraryWindow *win = library(app);
    TrmMachineStore *store = trm_application_get_store(app);
    guint before = g_list_model_get_n_items(trm_machine_store_get_model(store));
    TrmWizard *wiz = trm_wizard_new(app, GTK_WINDOW(win));
    gtk_window_present(GTK_WINDOW(wiz));
    CHECK(g_strcmp0(trm_wizard_get_page(wiz), "source") == 0);
    CHECK(screenshot(GTK_WIDGET(wiz), "wizard-source.png"));
    trm_wizard_set_source_kind_iso(wiz);
    g_autoptr(GFile) file = g_file_new_for_path(iso);
    trm_wizard_set_source_file(wiz, file);
    CHECK(wait_for(wizard_settled, wiz, 30000));
    CHECK(g_strcmp0(trm_wizard_get_page(wiz), "settings") == 0);
    const TrmOsDetection *d = trm_wizard_get_detection(wiz);
    CHECK(d && d->known);
    CHECK(g_strcmp0(trm_wizard_get_shown_os(wiz), "Debian 11") == 0);
    CHECK(screenshot(GTK_WIDGET(wiz), "wizard-detected.png"));

    g_object_add_weak_pointer(G_OBJECT(wiz), (gpointer *)&wiz);
    trm_wizard_create(wiz, FALSE);
    g_object_set_data(G_OBJECT(store), "want", GUINT_TO_POINTER(before + 1));
    CHECK(wait_for(n_items_is, store, 10000));
    CHECK(wait_for(wizard_gone, &wiz, 20000)); /* closes itself once the disk exists */
    TrmMachine *created = NULL;
    for (guint i = 0; i <= before; i++) {
        g_autoptr(TrmMachine) m = g_list_model_get_item(trm_machine_store_get_model(store), i);
        if (g_strcmp0(trm_machine_get_os_id(m), "http://debian.org/debian/11") == 0)
            created = m;
    }
    CHECK(created != NULL);
    if (created) {
        CHECK(trm_machine_get_n_drives(created) == 2);
        /* A qcow2 disk: its header, not the file's size, says how big it is. */
        g_autofree char *disk = trm_machine_dup_drive_path(created, 0);
        g_autofree char *head = NULL;
        gsize len = 0;
        CHECK(g_str_has_suffix(disk, ".qcow2"));
        CHECK(g_file_get_contents(disk, &head, &len, NULL) && len >= 32 &&
              memcmp(head, "QFI\xfb", 4) == 0);
        guint64 vsize = 0;
        for (int i = 0; head && len >= 32 && i < 8; i++)
            vsize = vsize << 8 | (guint8)head[24 + i];
        CHECK(vsize >= G_GUINT64_CONSTANT(1) << 30);
        CHECK(trm_machine_get_drive(created, 1)->cdrom);
        test_properties_drives(app, created);
    }

    /* Not an ISO: the wizard stays on the source page with a sentence. */
    TrmWizard *wiz2 = trm_wizard_new(app, GTK_WINDOW(win));
    gtk_window_present(GTK_WINDOW(wiz2));
    trm_wizard_set_source_kind_iso(wiz2);
    g_autofree char *txt = g_build_filename(outdir, "notes.txt", NULL);
    g_file_set_contents(txt, "not an image", -1, NULL);
    g_autoptr(GFile) tf = g_file_new_for_path(txt);
    trm_wizard_set_source_file(wiz2, tf);
    settle(200);
    CHECK(wait_for(wizard_settled, wiz2, 10000));
    CHECK(g_strcmp0(trm_wizard_get_page(wiz2), "source") == 0);
    gtk_window_destroy(GTK_WINDOW(wiz2));
}

static gboolean state_is(gpointer data)
{
    TrmMachine *m = data;
    TrmMachineState want = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(m), "want"));
    return trm_machine_get_state(m) == want;
}

static void test_machine_process(TrmApplication *app)
{
    TrmMachineStore *store = trm_application_get_store(app);
    /* A machine whose kernel is missing: the process ends, the library says why. */
    TrmMachine *m = trm_machine_store_create(store, "No Kernel", NULL);
    trm_machine_set_kernel_boot(m, "/nonexistent/vmlinuz", NULL, "console=ttyS0");
    trm_machine_set_memory_mib(m, 64);
    trm_machine_set_cpus(m, 1);
    CHECK(trm_machine_store_save(store, m, NULL));
    g_autoptr(GError) error = NULL;
    CHECK(trm_application_start_machine(app, m, &error));
    g_object_set_data(G_OBJECT(m), "want", GINT_TO_POINTER(TRM_MACHINE_STATE_FAILED));
    CHECK(wait_for(state_is, m, 30000));
    const char *failure = trm_machine_get_failure(m);
    g_print("failure shown: %s\n", failure ? failure : "(none)");
    CHECK(failure && strstr(failure, "terrarium:"));

    /* No KVM at all: the sentence says what to do. */
    g_setenv("TERRARIUM_KVM_DEVICE", "/nonexistent/kvm", TRUE);
    CHECK(trm_application_start_machine(app, m, &error));
    g_object_set_data(G_OBJECT(m), "want", GINT_TO_POINTER(TRM_MACHINE_STATE_FAILED));
    settle(100);
    CHECK(wait_for(state_is, m, 30000));
    failure = trm_machine_get_failure(m);
    CHECK(failure && (strstr(failure, "modprobe") || strstr(failure, "firmware settings")));
    g_unsetenv("TERRARIUM_KVM_DEVICE");

    GtkWidget *win = GTK_WIDGET(library(app));
    CHECK(screenshot(win, "library-failed.png"));

    /* With KVM: a real machine process runs; SIGKILL leaves the library showing the failure. */
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_print("SKIP part: /dev/kvm is not usable, no running machine process\n");
        return;
    }
    g_autoptr(GDir) boot = g_dir_open("/boot", 0, NULL);
    const char *e;
    g_autofree char *kernel = NULL;
    while (boot && (e = g_dir_read_name(boot)))
        if (g_str_has_prefix(e, "vmlinuz-"))
            kernel = g_build_filename("/boot", e, NULL);
    if (!kernel) {
        g_print("SKIP part: no kernel in /boot to run\n");
        return;
    }
    TrmMachine *k = trm_machine_store_create(store, "Kernel Boot", NULL);
    trm_machine_set_kernel_boot(k, kernel, NULL, "console=ttyS0");
    trm_machine_set_memory_mib(k, 256);
    trm_machine_set_cpus(k, 1);
    CHECK(trm_machine_store_save(store, k, NULL));
    CHECK(trm_application_start_machine(app, k, &error));
    g_object_set_data(G_OBJECT(k), "want", GINT_TO_POINTER(TRM_MACHINE_STATE_RUNNING));
    CHECK(wait_for(state_is, k, 60000));
    CHECK(trm_runtime_machine_is_running(trm_machine_get_uuid(k)));
    /* Pause and resume through D-Bus. */
    trm_machine_client_call(trm_application_get_client(app, k), "Pause");
    g_object_set_data(G_OBJECT(k), "want", GINT_TO_POINTER(TRM_MACHINE_STATE_PAUSED));
    CHECK(wait_for(state_is, k, 20000));
    trm_machine_client_call(trm_application_get_client(app, k), "Resume");
    g_object_set_data(G_OBJECT(k), "want", GINT_TO_POINTER(TRM_MACHINE_STATE_RUNNING));
    CHECK(wait_for(state_is, k, 20000));

    /* Kill the machine process the hard way. */
    GPid pid = trm_machine_client_get_pid(trm_application_get_client(app, k));
    CHECK(pid > 0);
    if (pid > 0)
        kill(pid, SIGKILL);
    g_object_set_data(G_OBJECT(k), "want", GINT_TO_POINTER(TRM_MACHINE_STATE_FAILED));
    CHECK(wait_for(state_is, k, 20000));
    CHECK(trm_machine_get_failure(k) && strstr(trm_machine_get_failure(k), "unexpectedly"));
    CHECK(gtk_widget_get_mapped(win)); /* the library carries on */
}

static gboolean run_tests(gpointer data)
{
    TrmApplication *app = data;
    test_demo(app, outdir, &failures);
    test_library(app);
    test_wizard(app);
    test_machine_process(app);
    test_try_and_snapshots(app, &failures);
    test_save_state(app, &failures);
    test_restart(app, &failures);
    g_application_quit(G_APPLICATION(app));
    return G_SOURCE_REMOVE;
}

static void on_activate(GApplication *app)
{
    if (!wait_for(mapped_pred, app, 10000)) {
        g_printerr("the library window never appeared\n");
        failures++;
    }
    g_idle_add(run_tests, app);
}

int main(int argc, char **argv)
{
    if (!g_getenv("DISPLAY") && !g_getenv("WAYLAND_DISPLAY")) {
        g_print("SKIP: no display (run under xvfb-run)\n");
        return 77;
    }
    outdir = argc > 1 ? argv[1] : ".";
    g_mkdir_with_parents(outdir, 0755);
    /* A fresh user: empty store, own runtime dir. */
    g_autofree char *home = ui_fresh_user("terrarium-ui-XXXXXX");

    g_autoptr(TrmApplication) app = trm_application_new();
    g_application_set_flags(G_APPLICATION(app), G_APPLICATION_NON_UNIQUE);
    g_signal_connect_after(app, "activate", G_CALLBACK(on_activate), NULL);
    char *args[] = {argv[0], NULL};
    g_application_run(G_APPLICATION(app), 1, args);
    g_autofree char *rm = g_strdup_printf("rm -rf %s", home);
    g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL);
    g_print("%s\n", failures ? "FAILED" : "all ui checks passed");
    return failures ? 1 : 0;
}
