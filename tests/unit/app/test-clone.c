/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cloning a machine from a snapshot (trm_machine_store_clone_async) with real
 * qcow2 files: the clone's disk holds the snapshot's data and not later
 * writes, it stands alone, checks clean (and under qemu-img check when
 * $QEMU_IMG runs), and the clone has its own identity.
 */
#include <glib/gstdio.h>
#include <sys/wait.h>

#include "trm-error.h"
#include "trm-machine-store.h"
#include "trm-snapshot-tree.h"
#include "vmm/disk.h"

#define OFF_A 65536
#define OFF_B (3u << 20)

typedef struct {
    char *root;
    TrmMachineStore *store;
    TrmMachine *machine;
    char *disk;
} Fixture;

static void disk_fill(const char *path, guint64 off, char c)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, VMM_DISK_FORMAT_QCOW2, &err);
    g_assert_nonnull(d);
    char buf[8192];
    memset(buf, c, sizeof(buf));
    g_assert_cmpint(vmm_disk_pwrite(d, buf, sizeof(buf), off), ==, 0);
    vmm_disk_close(d);
}

/* The byte found at off (all 8 KiB there must be equal). */
static char disk_byte(const char *path, guint64 off)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(path, VMM_DISK_FORMAT_QCOW2 | VMM_DISK_RDONLY, &err);
    g_assert_nonnull(d);
    char buf[8192];
    g_assert_cmpint(vmm_disk_pread(d, buf, sizeof(buf), off), ==, 0);
    vmm_disk_close(d);
    for (size_t i = 1; i < sizeof(buf); i++)
        g_assert_cmpint(buf[i], ==, buf[0]);
    return buf[0];
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    (void)data;
    f->root = g_dir_make_tmp("trm-clone-XXXXXX", NULL);
    f->store = trm_machine_store_new(f->root);
    f->machine = g_object_ref(trm_machine_store_create(f->store, "Débian", NULL));
    g_assert_nonnull(f->machine);
    f->disk = g_build_filename(trm_machine_get_dir(f->machine), "disk.qcow2", NULL);
    struct vmm_error err = {0};
    g_assert_cmpint(vmm_qcow2_create(f->disk, 8 << 20, 0, NULL, NULL, &err), ==, 0);
    g_assert_true(trm_machine_add_drive(f->machine, "disk.qcow2", FALSE, FALSE, NULL));
    g_assert_true(trm_machine_add_drive(f->machine, "/srv/iso/debian.iso", TRUE, TRUE, NULL));
    trm_machine_set_memory_mib(f->machine, 768);
    g_assert_true(trm_machine_save(f->machine, NULL));
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    (void)data;
    g_object_unref(f->machine);
    g_object_unref(f->store);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->root);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(f->root);
    g_free(f->disk);
}

typedef struct {
    GMainLoop *loop;
    TrmMachine *result;
    GError *error;
    double last_progress;
    guint n_progress;
} Wait;

static void on_progress(double fraction, gpointer data)
{
    Wait *w = data;
    g_assert_cmpfloat(fraction, >=, w->last_progress);
    w->last_progress = fraction;
    w->n_progress++;
}

static void on_cloned(GObject *src, GAsyncResult *res, gpointer data)
{
    Wait *w = data;
    w->result = trm_machine_store_clone_finish(TRM_MACHINE_STORE(src), res, &w->error);
    g_main_loop_quit(w->loop);
}

static TrmMachine *run_clone(Fixture *f, const char *id, GError **error, Wait *w)
{
    w->loop = g_main_loop_new(NULL, FALSE);
    trm_machine_store_clone_async(f->store, f->machine, id, NULL, on_progress, w, on_cloned, w);
    g_main_loop_run(w->loop);
    g_main_loop_unref(w->loop);
    /* Progress messages queued before the result are delivered by now. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
    if (w->error)
        g_propagate_error(error, w->error);
    return w->result;
}

static gboolean qemu_img_check(const char *path, gboolean *ran)
{
    const char *qemu_img = g_getenv("QEMU_IMG");
    *ran = FALSE;
    if (!qemu_img || !*qemu_img || !g_file_test(qemu_img, G_FILE_TEST_IS_EXECUTABLE))
        return TRUE;
    *ran = TRUE;
    const char *argv[] = {qemu_img, "check", "-f", "qcow2", path, NULL};
    int status = -1;
    g_autofree char *out = NULL, *err = NULL;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                      NULL))
        return FALSE;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_printerr("qemu-img check %s:\n%s%s", path, out, err);
        return FALSE;
    }
    return TRUE;
}

static void test_clone_disk(Fixture *f, gconstpointer data)
{
    (void)data;
    disk_fill(f->disk, OFF_A, 'A');
    g_autoptr(TrmSnapshotTree) tree = trm_snapshot_tree_load(trm_machine_get_dir(f->machine));
    g_autoptr(TrmSnapshot) s =
        trm_snapshot_tree_take_offline(tree, f->machine, "Installed", "", NULL, NULL);
    g_assert_nonnull(s);
    const char *id = trm_snapshot_get_id(s);
    /* Written after the snapshot: must not reach the clone. */
    disk_fill(f->disk, OFF_A, 'B');
    disk_fill(f->disk, OFF_B, 'B');

    Wait w = {0};
    g_autoptr(GError) error = NULL;
    g_autoptr(TrmMachine) c = run_clone(f, id, &error, &w);
    g_assert_no_error(error);
    g_assert_nonnull(c);
    g_assert_cmpfloat(w.last_progress, ==, 1.0);
    g_assert_cmpuint(w.n_progress, >=, 2);

    /* Its own identity. */
    g_assert_cmpstr(trm_machine_get_uuid(c), !=, trm_machine_get_uuid(f->machine));
    g_assert_cmpstr(trm_machine_get_name(c), ==, "Débian (clone)");
    guint8 mac_a[6], mac_b[6];
    g_assert_true(trm_machine_get_mac(f->machine, mac_a));
    g_assert_true(trm_machine_get_mac(c, mac_b));
    g_assert_true(memcmp(mac_a, mac_b, 6) != 0);
    g_assert_cmpuint(trm_machine_get_memory_mib(c), ==, 768);
    g_assert_true(trm_machine_store_find(f->store, trm_machine_get_uuid(c)) == c);

    /* Saved: it loads back the same from its own folder. */
    g_autoptr(TrmMachine) again = trm_machine_load(trm_machine_get_dir(c));
    g_assert_null(trm_machine_get_broken_reason(again));
    g_assert_cmpstr(trm_machine_get_name(again), ==, "Débian (clone)");
    g_assert_cmpuint(trm_machine_get_n_drives(again), ==, 2);
    g_assert_cmpstr(trm_machine_get_drive(again, 0)->path, ==, "disk.qcow2");
    g_assert_true(trm_machine_drive_is_owned(again, 0));
    g_assert_cmpstr(trm_machine_get_drive(again, 1)->path, ==, "/srv/iso/debian.iso");
    g_assert_true(trm_machine_get_drive(again, 1)->cdrom);

    /* The snapshot's data, not what was written later; a standalone image. */
    g_autofree char *cdisk = trm_machine_dup_drive_path(c, 0);
    g_assert_cmpstr(cdisk, !=, f->disk);
    g_assert_cmpint(disk_byte(cdisk, OFF_A), ==, 'A');
    g_assert_cmpint(disk_byte(cdisk, OFF_B), ==, 0);
    g_assert_cmpint(disk_byte(f->disk, OFF_A), ==, 'B');
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(cdisk, VMM_DISK_FORMAT_QCOW2 | VMM_DISK_RDONLY, &err);
    g_assert_nonnull(d);
    struct vmm_disk_info info;
    vmm_disk_get_info(d, &info);
    g_assert_false(info.has_backing);
    g_assert_cmpuint(info.virtual_size, ==, 8 << 20);
    g_assert_cmpuint(info.nb_snapshots, ==, 1);
    struct vmm_qcow2_check chk;
    g_assert_cmpint(vmm_qcow2_check(d, &chk), ==, 0);
    g_assert_cmpuint(chk.errors, ==, 0);
    g_assert_cmpuint(chk.leaks, ==, 0);
    vmm_disk_close(d);
    /* Sparse: two 8 KiB runs of data do not make an 8 MiB file. */
    GStatBuf st;
    g_assert_cmpint(g_stat(cdisk, &st), ==, 0);
    g_assert_cmpint(st.st_size, <, 2 << 20);
    gboolean ran;
    g_assert_true(qemu_img_check(cdisk, &ran));
    if (!ran)
        g_test_message("qemu-img not found: only Terrarium's own check ran");

    /* The clone keeps the snapshot as its own root, current. */
    g_autoptr(TrmSnapshotTree) ctree = trm_snapshot_tree_load(trm_machine_get_dir(c));
    TrmSnapshot *cs = trm_snapshot_tree_find(ctree, id);
    g_assert_nonnull(cs);
    g_assert_cmpstr(trm_snapshot_get_name(cs), ==, "Installed");
    g_assert_null(trm_snapshot_get_parent(cs));
    g_assert_cmpstr(trm_snapshot_tree_get_current(ctree), ==, id);
    /* Restoring it in the clone after writes brings the snapshot's data back. */
    disk_fill(cdisk, OFF_A, 'C');
    g_assert_true(trm_snapshot_tree_restore_disks(ctree, c, id, NULL));
    g_assert_cmpint(disk_byte(cdisk, OFF_A), ==, 'A');

    /* Deleting the source leaves the clone whole. */
    g_assert_true(trm_machine_store_delete(f->store, f->machine, TRUE, NULL));
    g_assert_cmpint(disk_byte(cdisk, OFF_A), ==, 'A');
}

static void test_clone_ram(Fixture *f, gconstpointer data)
{
    (void)data;
    disk_fill(f->disk, OFF_A, 'A');
    g_autoptr(TrmSnapshotTree) tree = trm_snapshot_tree_load(trm_machine_get_dir(f->machine));
    /* A snapshot with RAM, as a running machine takes it: disks + a state directory. */
    g_autoptr(TrmSnapshot) s = trm_snapshot_tree_begin(tree, "Running", "", TRUE, NULL);
    g_assert_nonnull(s);
    const char *id = trm_snapshot_get_id(s);
    g_autofree char *state = trm_snapshot_tree_dup_state_dir(tree, id);
    g_assert_cmpint(g_mkdir_with_parents(state, 0700), ==, 0);
    g_autofree char *state_file = g_build_filename(state, "state", NULL);
    g_assert_true(g_file_set_contents(state_file, "machine state", -1, NULL));
    g_assert_true(trm_snapshot_disks_create(f->machine, id, NULL));
    g_assert_true(trm_snapshot_tree_commit(tree, s, NULL, NULL));
    /* A disk added after the snapshot: it was not part of the machine then. */
    g_autofree char *late = g_build_filename(trm_machine_get_dir(f->machine), "late.qcow2", NULL);
    struct vmm_error err = {0};
    g_assert_cmpint(vmm_qcow2_create(late, 1 << 20, 0, NULL, NULL, &err), ==, 0);
    g_assert_true(trm_machine_add_drive(f->machine, "late.qcow2", FALSE, FALSE, NULL));

    Wait w = {0};
    g_autoptr(GError) error = NULL;
    g_autoptr(TrmMachine) c = run_clone(f, id, &error, &w);
    g_assert_no_error(error);
    g_assert_nonnull(c);
    g_assert_cmpuint(trm_machine_get_n_drives(c), ==, 2);
    g_assert_true(trm_machine_get_drive(c, 1)->cdrom);
    g_autoptr(TrmSnapshotTree) ctree = trm_snapshot_tree_load(trm_machine_get_dir(c));
    TrmSnapshot *cs = trm_snapshot_tree_find(ctree, id);
    g_assert_nonnull(cs);
    g_assert_true(trm_snapshot_get_ram(cs));
    g_autofree char *cstate = trm_snapshot_tree_dup_state_dir(ctree, id);
    g_autofree char *cfile = g_build_filename(cstate, "state", NULL);
    g_autofree char *contents = NULL;
    g_assert_true(g_file_get_contents(cfile, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, "machine state");
    g_autofree char *cdisk = trm_machine_dup_drive_path(c, 0);
    g_assert_cmpint(disk_byte(cdisk, OFF_A), ==, 'A');
}

static void test_clone_missing(Fixture *f, gconstpointer data)
{
    (void)data;
    Wait w = {0};
    g_autoptr(GError) error = NULL;
    g_autoptr(TrmMachine) c = run_clone(f, "0123456789abcdef", &error, &w);
    g_assert_null(c);
    g_assert_error(error, TRM_ERROR, TRM_ERROR_NOT_FOUND);
    /* Nothing new in the store's folder. */
    g_autoptr(GDir) d = g_dir_open(f->root, 0, NULL);
    guint n = 0;
    while (g_dir_read_name(d))
        n++;
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpuint(g_list_model_get_n_items(trm_machine_store_get_model(f->store)), ==, 1);
}

/* A snapshot whose disk part is gone (removed by hand): the clone fails and leaves nothing. */
static void test_clone_broken_disk(Fixture *f, gconstpointer data)
{
    (void)data;
    g_autoptr(TrmSnapshotTree) tree = trm_snapshot_tree_load(trm_machine_get_dir(f->machine));
    g_autoptr(TrmSnapshot) s =
        trm_snapshot_tree_take_offline(tree, f->machine, "x", "", NULL, NULL);
    g_assert_nonnull(s);
    g_assert_cmpint(g_unlink(f->disk), ==, 0);
    Wait w = {0};
    g_autoptr(GError) error = NULL;
    g_autoptr(TrmMachine) c = run_clone(f, trm_snapshot_get_id(s), &error, &w);
    g_assert_null(c);
    g_assert_nonnull(error);
    g_autoptr(GDir) d = g_dir_open(f->root, 0, NULL);
    guint n = 0;
    while (g_dir_read_name(d))
        n++;
    g_assert_cmpuint(n, ==, 1);
}

static void test_mac(void)
{
    guint8 mac[6];
    g_assert_true(trm_machine_parse_mac("52:54:00:ab:CD:01", mac));
    g_assert_cmpuint(mac[3], ==, 0xab);
    g_assert_cmpuint(mac[4], ==, 0xcd);
    g_assert_false(trm_machine_parse_mac("53:54:00:ab:cd:01", mac)); /* multicast */
    g_assert_false(trm_machine_parse_mac("00:00:00:00:00:00", mac));
    g_assert_false(trm_machine_parse_mac("52:54:00:ab:cd", mac));
    g_assert_false(trm_machine_parse_mac("52:54:00:ab:cd:01:", mac));
    g_assert_false(trm_machine_parse_mac("52-54-00-ab-cd-01", mac));
    g_autoptr(TrmMachine) m = trm_machine_new("/nonexistent", NULL);
    g_assert_false(trm_machine_get_mac(m, mac));
    trm_machine_new_mac(m);
    g_assert_true(trm_machine_get_mac(m, mac));
    g_assert_cmpuint(mac[0], ==, 0x52);
    trm_machine_set_try_mode(m, TRUE);
    gsize len;
    g_autofree char *data = trm_machine_to_data(m, &len);
    g_autoptr(TrmMachine) back = trm_machine_new("/nonexistent", NULL);
    g_assert_true(trm_machine_load_from_data(back, data, len, NULL));
    guint8 mac2[6];
    g_assert_true(trm_machine_get_mac(back, mac2));
    g_assert_true(memcmp(mac, mac2, 6) == 0);
    g_assert_true(trm_machine_get_try_mode(back));
    const char *bad = "[Machine]\nName=x\n[Network]\nMac=ff:ff:ff:ff:ff:ff\n";
    g_autoptr(GError) error = NULL;
    g_assert_false(trm_machine_load_from_data(back, bad, strlen(bad), &error));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/clone/mac-and-try-mode", test_mac);
    g_test_add("/clone/disk", Fixture, NULL, fixture_set_up, test_clone_disk, fixture_tear_down);
    g_test_add("/clone/ram", Fixture, NULL, fixture_set_up, test_clone_ram, fixture_tear_down);
    g_test_add("/clone/missing", Fixture, NULL, fixture_set_up, test_clone_missing,
               fixture_tear_down);
    g_test_add("/clone/broken-disk", Fixture, NULL, fixture_set_up, test_clone_broken_disk,
               fixture_tear_down);
    return g_test_run();
}
