/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The snapshot model: the tree on disk, the disks' internal snapshots, hostile snapshot.ini. */
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trm-error.h"
#include "trm-machine.h"
#include "trm-snapshot-tree.h"
#include "vmm/disk.h"

#define UUID "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

typedef struct {
    char *dir;
    TrmMachine *machine;
    char *disk;
} Fixture;

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    (void)data;
    f->dir = g_dir_make_tmp("trm-snapshot-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    f->disk = g_build_filename(f->dir, "disk.qcow2", NULL);
    struct vmm_error err = {0};
    g_assert_cmpint(vmm_qcow2_create(f->disk, 4 << 20, 0, NULL, NULL, &err), ==, 0);
    f->machine = trm_machine_new(f->dir, UUID);
    g_assert_true(trm_machine_add_drive(f->machine, "disk.qcow2", FALSE, FALSE, NULL));
    /* A CD-ROM drive is left alone: no snapshot is asked of it. */
    g_assert_true(trm_machine_add_drive(f->machine, "/nonexistent.iso", TRUE, FALSE, NULL));
}

static void rm_rf(const char *path)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", path);
    g_assert_cmpint(system(cmd), ==, 0);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    (void)data;
    g_object_unref(f->machine);
    rm_rf(f->dir);
    g_free(f->dir);
    g_free(f->disk);
}

static void disk_write(Fixture *f, char c)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(f->disk, 0, &err);
    g_assert_nonnull(d);
    char buf[4096];
    memset(buf, c, sizeof(buf));
    g_assert_cmpint(vmm_disk_pwrite(d, buf, sizeof(buf), 65536), ==, 0);
    vmm_disk_close(d);
}

static char disk_read(Fixture *f)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(f->disk, VMM_DISK_RDONLY, &err);
    g_assert_nonnull(d);
    char buf[4096];
    g_assert_cmpint(vmm_disk_pread(d, buf, sizeof(buf), 65536), ==, 0);
    vmm_disk_close(d);
    for (size_t i = 1; i < sizeof(buf); i++)
        g_assert_cmpint(buf[i], ==, buf[0]);
    return buf[0];
}

static guint disk_snapshot_count(Fixture *f, const char *id)
{
    struct vmm_error err = {0};
    struct vmm_disk *d = vmm_disk_open(f->disk, VMM_DISK_RDONLY, &err);
    g_assert_nonnull(d);
    struct vmm_disk_snapshot *list = NULL;
    size_t n = 0;
    g_assert_cmpint(vmm_disk_snapshot_list(d, &list, &n, &err), ==, 0);
    guint found = 0;
    for (size_t i = 0; i < n; i++)
        if (!id || strcmp(list[i].name, id) == 0)
            found++;
    vmm_disk_snapshot_list_free(list, n);
    vmm_disk_close(d);
    return found;
}

static TrmSnapshot *take(Fixture *f, TrmSnapshotTree *tree, const char *name, char fill)
{
    disk_write(f, fill);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) png = g_bytes_new_static("\x89PNG fake", 9);
    TrmSnapshot *s =
        trm_snapshot_tree_take_offline(tree, f->machine, name, "about it\nline 2", png, &error);
    g_assert_no_error(error);
    g_assert_nonnull(s);
    g_assert_cmpuint(disk_snapshot_count(f, trm_snapshot_get_id(s)), ==, 1);
    return s;
}

static void test_round_trip(Fixture *f, gconstpointer data)
{
    (void)data;
    g_autoptr(TrmSnapshotTree) tree = trm_snapshot_tree_load(f->dir);
    g_assert_cmpuint(trm_snapshot_tree_list(tree)->len, ==, 0);
    g_assert_null(trm_snapshot_tree_get_current(tree));

    g_autoptr(TrmSnapshot) a = take(f, tree, "Fresh «install»", 'a');
    g_autoptr(TrmSnapshot) b = take(f, tree, "Updated", 'b');
    g_assert_cmpstr(trm_snapshot_get_parent(b), ==, trm_snapshot_get_id(a));
    disk_write(f, 'x');

    g_autoptr(GError) error = NULL;
    g_assert_true(
        trm_snapshot_tree_restore_disks(tree, f->machine, trm_snapshot_get_id(a), &error));
    g_assert_no_error(error);
    g_assert_cmpint(disk_read(f), ==, 'a');
    g_assert_cmpstr(trm_snapshot_tree_get_current(tree), ==, trm_snapshot_get_id(a));
    g_autoptr(TrmSnapshot) c = take(f, tree, "Branch", 'c');
    g_assert_cmpstr(trm_snapshot_get_parent(c), ==, trm_snapshot_get_id(a));

    g_assert_true(
        trm_snapshot_tree_restore_disks(tree, f->machine, trm_snapshot_get_id(b), &error));
    g_assert_cmpint(disk_read(f), ==, 'b');

    g_autoptr(TrmSnapshotTree) back = trm_snapshot_tree_load(f->dir);
    g_assert_cmpuint(trm_snapshot_tree_get_n_broken(back), ==, 0);
    g_autoptr(GPtrArray) all = trm_snapshot_tree_list(back);
    g_assert_cmpuint(all->len, ==, 3);
    g_assert_cmpstr(trm_snapshot_tree_get_current(back), ==, trm_snapshot_get_id(b));
    TrmSnapshot *a2 = trm_snapshot_tree_find(back, trm_snapshot_get_id(a));
    g_assert_nonnull(a2);
    g_assert_cmpstr(trm_snapshot_get_name(a2), ==, "Fresh «install»");
    g_assert_cmpstr(trm_snapshot_get_description(a2), ==, "about it\nline 2");
    g_assert_cmpint(trm_snapshot_get_date(a2), ==, trm_snapshot_get_date(a));
    g_assert_false(trm_snapshot_get_ram(a2));
    g_assert_null(trm_snapshot_get_parent(a2));
    g_autoptr(GPtrArray) roots = trm_snapshot_tree_get_children(back, NULL);
    g_assert_cmpuint(roots->len, ==, 1);
    g_autoptr(GPtrArray) kids = trm_snapshot_tree_get_children(back, trm_snapshot_get_id(a));
    g_assert_cmpuint(kids->len, ==, 2);
    g_autoptr(GBytes) png = trm_snapshot_tree_load_thumbnail(back, trm_snapshot_get_id(c));
    g_assert_nonnull(png);
    g_assert_cmpuint(g_bytes_get_size(png), ==, 9);

    g_assert_true(trm_snapshot_tree_rename(back, trm_snapshot_get_id(c), "Renamed", &error));
    g_assert_false(trm_snapshot_tree_rename(back, trm_snapshot_get_id(c), "two\nlines", &error));
    g_assert_error(error, TRM_ERROR, TRM_ERROR_INVALID);
    g_clear_error(&error);
    g_autoptr(TrmSnapshotTree) again = trm_snapshot_tree_load(f->dir);
    g_assert_cmpstr(trm_snapshot_get_name(trm_snapshot_tree_find(again, trm_snapshot_get_id(c))),
                    ==, "Renamed");
}

static void test_delete_inner(Fixture *f, gconstpointer data)
{
    (void)data;
    g_autoptr(TrmSnapshotTree) tree = trm_snapshot_tree_load(f->dir);
    g_autoptr(TrmSnapshot) a = take(f, tree, "A", 'a');
    g_autoptr(TrmSnapshot) b = take(f, tree, "B", 'b');
    g_autoptr(TrmSnapshot) c = take(f, tree, "C", 'c');
    g_autoptr(GError) error = NULL;
    g_assert_true(
        trm_snapshot_tree_restore_disks(tree, f->machine, trm_snapshot_get_id(b), &error));
    g_autoptr(TrmSnapshot) d = take(f, tree, "D", 'd');
    g_assert_true(
        trm_snapshot_tree_restore_disks(tree, f->machine, trm_snapshot_get_id(b), &error));
    /* A -> B -> {C, D}, current B. */
    g_autofree char *bdir = trm_snapshot_tree_dup_dir(tree, trm_snapshot_get_id(b));
    g_assert_true(trm_snapshot_tree_delete(tree, f->machine, trm_snapshot_get_id(b), &error));
    g_assert_no_error(error);
    g_assert_false(g_file_test(bdir, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(disk_snapshot_count(f, trm_snapshot_get_id(b)), ==, 0);
    g_assert_cmpuint(disk_snapshot_count(f, NULL), ==, 3);
    g_assert_cmpstr(trm_snapshot_tree_get_current(tree), ==, trm_snapshot_get_id(a));

    g_autoptr(TrmSnapshotTree) back = trm_snapshot_tree_load(f->dir);
    g_assert_null(trm_snapshot_tree_find(back, trm_snapshot_get_id(b)));
    g_assert_cmpstr(trm_snapshot_tree_get_current(back), ==, trm_snapshot_get_id(a));
    g_autoptr(GPtrArray) kids = trm_snapshot_tree_get_children(back, trm_snapshot_get_id(a));
    g_assert_cmpuint(kids->len, ==, 2);
    /* Same-second dates sort by id: compare as a set. */
    const char *k0 = trm_snapshot_get_id(g_ptr_array_index(kids, 0));
    const char *k1 = trm_snapshot_get_id(g_ptr_array_index(kids, 1));
    const char *ic = trm_snapshot_get_id(c), *id = trm_snapshot_get_id(d);
    g_assert_true((!strcmp(k0, ic) && !strcmp(k1, id)) || (!strcmp(k0, id) && !strcmp(k1, ic)));
    /* The children still restore their own disk contents. */
    g_assert_true(
        trm_snapshot_tree_restore_disks(back, f->machine, trm_snapshot_get_id(c), &error));
    g_assert_cmpint(disk_read(f), ==, 'c');
    g_assert_false(trm_snapshot_tree_delete(back, f->machine, trm_snapshot_get_id(b), &error));
    g_assert_error(error, TRM_ERROR, TRM_ERROR_NOT_FOUND);
}

static void test_raw_refused(Fixture *f, gconstpointer data)
{
    (void)data;
    g_autofree char *raw = g_build_filename(f->dir, "disk.raw", NULL);
    g_assert_true(g_file_set_contents(raw, "", 0, NULL));
    g_assert_cmpint(truncate(raw, 1 << 20), ==, 0);
    g_assert_true(trm_machine_add_drive(f->machine, "disk.raw", FALSE, FALSE, NULL));
    g_autoptr(TrmSnapshotTree) tree = trm_snapshot_tree_load(f->dir);
    g_autoptr(GError) error = NULL;
    g_autoptr(TrmSnapshot) s =
        trm_snapshot_tree_take_offline(tree, f->machine, "No", NULL, NULL, &error);
    g_assert_null(s);
    g_assert_error(error, TRM_ERROR, TRM_ERROR_INVALID);
    /* All or nothing: the qcow2 disk keeps no snapshot, no folder is left. */
    g_assert_cmpuint(disk_snapshot_count(f, NULL), ==, 0);
    g_autoptr(TrmSnapshotTree) back = trm_snapshot_tree_load(f->dir);
    g_assert_cmpuint(trm_snapshot_tree_list(back)->len, ==, 0);
    g_assert_cmpuint(trm_snapshot_tree_get_n_broken(back), ==, 0);
}

static void put(const char *snapdir, const char *id, const char *ini, gssize len)
{
    g_autofree char *dir = g_build_filename(snapdir, id, NULL);
    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    if (!ini)
        return;
    g_autofree char *path = g_build_filename(dir, "snapshot.ini", NULL);
    g_assert_true(g_file_set_contents(path, ini, len, NULL));
}

static void test_hostile(Fixture *f, gconstpointer data)
{
    (void)data;
    g_autofree char *sd = g_build_filename(f->dir, "snapshots", NULL);
#define OK(name, parent) \
    "[Snapshot]\nname=" name "\ndate=1700000000\nparent=" parent "\nram=false\n"
    put(sd, "00000000000000a1", OK("good root", ""), -1);
    put(sd, "00000000000000a2", OK("good child", "00000000000000a1"), -1);
    /* Broken ones: each must be skipped and counted, none may crash. */
    put(sd, "00000000000000b1", "\x01\x02\xff\xfe binary", 12);
    put(sd, "00000000000000b2", "[Snapshot]\nname=a\x01b\ndate=1\n", -1);
    put(sd, "00000000000000b3", "[Snapshot]\nname=x\ndate=-5\n", -1);
    put(sd, "00000000000000b4", "[Snapshot]\nname=x\ndate=99999999999999999999\n", -1);
    put(sd, "00000000000000b5", OK("self parent", "00000000000000b5"), -1);
    put(sd, "00000000000000b6", OK("bad parent", "../../etc"), -1);
    put(sd, "00000000000000b7", "[Snapshot]\nname=x\ndate=5\nram=maybe\n", -1);
    put(sd, "00000000000000b8", "[Snapshot]\ndate=5\n", -1);
    put(sd, "00000000000000b9", "[Snapshot]\nname=\xc3\x28\ndate=5\n", -1);
    static const char nul[] = "[Snapshot]\nname=x\0y\ndate=5\n";
    put(sd, "00000000000000ba", nul, sizeof(nul) - 1);
    g_autofree char *huge = g_strnfill(TRM_SNAPSHOT_INI_MAX + 10, '#');
    put(sd, "00000000000000bb", huge, -1);
    put(sd, "not-an-id", OK("wrong folder", ""), -1);
    put(sd, "00000000000000BC", OK("upper case", ""), -1);
    /* snapshot.ini as a FIFO and as a symlink: not read. */
    put(sd, "00000000000000bd", NULL, 0);
    g_autofree char *fifo = g_build_filename(sd, "00000000000000bd", "snapshot.ini", NULL);
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    put(sd, "00000000000000be", NULL, 0);
    g_autofree char *link = g_build_filename(sd, "00000000000000be", "snapshot.ini", NULL);
    g_autofree char *target = g_build_filename(sd, "00000000000000a1", "snapshot.ini", NULL);
    g_assert_cmpint(symlink(target, link), ==, 0);
    /* Usable files whose parents are missing or go round in a circle: roots. */
    put(sd, "00000000000000c1", OK("orphan", "00000000000000ff"), -1);
    put(sd, "00000000000000c2", OK("loop 1", "00000000000000c3"), -1);
    put(sd, "00000000000000c3", OK("loop 2", "00000000000000c2"), -1);
    put(sd, "00000000000000c4", OK("into loop", "00000000000000c2"), -1);
    /* An interrupted take: a folder without snapshot.ini is not counted. */
    put(sd, "00000000000000d1", NULL, 0);
    /* current naming something that is not there. */
    g_autofree char *cur = g_build_filename(sd, "current", NULL);
    g_assert_true(g_file_set_contents(cur, "00000000000000b1", -1, NULL));

    g_autoptr(TrmSnapshotTree) tree = trm_snapshot_tree_load(f->dir);
    g_assert_cmpuint(trm_snapshot_tree_get_n_broken(tree), ==, 15);
    g_autoptr(GPtrArray) all = trm_snapshot_tree_list(tree);
    g_assert_cmpuint(all->len, ==, 6);
    g_assert_null(trm_snapshot_tree_get_current(tree));
    g_assert_cmpstr(trm_snapshot_get_parent(trm_snapshot_tree_find(tree, "00000000000000a2")), ==,
                    "00000000000000a1");
    g_assert_null(trm_snapshot_get_parent(trm_snapshot_tree_find(tree, "00000000000000c1")));
    /* The loop is cut once: exactly one of its members became a root. */
    const char *p2 = trm_snapshot_get_parent(trm_snapshot_tree_find(tree, "00000000000000c2"));
    const char *p3 = trm_snapshot_get_parent(trm_snapshot_tree_find(tree, "00000000000000c3"));
    g_assert_true((p2 == NULL) != (p3 == NULL));
    g_assert_cmpstr(trm_snapshot_get_parent(trm_snapshot_tree_find(tree, "00000000000000c4")), ==,
                    "00000000000000c2");
    /* Every snapshot reaches a root in fewer steps than there are snapshots. */
    for (guint i = 0; i < all->len; i++) {
        TrmSnapshot *s = g_ptr_array_index(all, i);
        guint steps = 0;
        while (s && trm_snapshot_get_parent(s) && steps <= all->len) {
            s = trm_snapshot_tree_find(tree, trm_snapshot_get_parent(s));
            steps++;
        }
        g_assert_cmpuint(steps, <, all->len);
    }
    /* The symlink target was not followed: its data stayed out of the tree. */
    g_assert_null(trm_snapshot_tree_find(tree, "00000000000000be"));
}

static void test_parse(void)
{
    g_autoptr(GError) error = NULL;
    const char *ini = "[Snapshot]\nname=n\ndate=0\n";
    g_autoptr(TrmSnapshot) s =
        trm_snapshot_new_from_data("0123456789abcdef", ini, strlen(ini), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(trm_snapshot_get_description(s), ==, "");
    g_assert_null(trm_snapshot_get_parent(s));
    g_assert_false(trm_snapshot_get_ram(s));
    g_autoptr(TrmSnapshot) bad = trm_snapshot_new_from_data("../x", ini, strlen(ini), &error);
    g_assert_null(bad);
    g_assert_error(error, TRM_ERROR, TRM_ERROR_BROKEN);
    g_assert_false(trm_snapshot_name_is_valid(""));
    g_assert_false(trm_snapshot_name_is_valid("tab\there"));
    g_assert_true(trm_snapshot_name_is_valid("Before the upgrade"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/snapshot/parse", test_parse);
    g_test_add("/snapshot/round-trip", Fixture, NULL, fixture_set_up, test_round_trip,
               fixture_tear_down);
    g_test_add("/snapshot/delete-inner", Fixture, NULL, fixture_set_up, test_delete_inner,
               fixture_tear_down);
    g_test_add("/snapshot/raw-refused", Fixture, NULL, fixture_set_up, test_raw_refused,
               fixture_tear_down);
    g_test_add("/snapshot/hostile", Fixture, NULL, fixture_set_up, test_hostile, fixture_tear_down);
    return g_test_run();
}
