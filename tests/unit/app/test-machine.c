/* SPDX-License-Identifier: GPL-2.0-or-later */
/* machine.ini round trips, hostile machine.ini files and the machine store. */
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "trm-demo.h"
#include "trm-error.h"
#include "trm-machine-store.h"
#include "trm-machine.h"

static void test_round_trip(void)
{
    g_autoptr(TrmMachine) m =
        trm_machine_new("/nonexistent/dir", "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    trm_machine_set_name(m, "Debian «test» 机器");
    trm_machine_set_os(m, "http://debian.org/debian/11", "Debian 11");
    trm_machine_set_memory_mib(m, 3072);
    trm_machine_set_cpus(m, 4);
    trm_machine_set_live(m, TRUE);
    trm_machine_set_kernel_boot(m, "/boot/vmlinuz", "/boot/initrd.img", "console=ttyS0 quiet");
    g_assert_true(trm_machine_add_drive(m, "disk.raw", FALSE, FALSE, NULL));
    g_assert_true(trm_machine_add_drive(m, "/srv/iso/debian=11.iso", TRUE, FALSE, NULL));
    g_assert_true(trm_machine_add_forward(m, "tcp:2222:22", NULL));
    g_assert_true(trm_machine_add_forward(m, "udp:5353:53", NULL));
    g_assert_false(trm_machine_add_forward(m, "tcp:0:22", NULL));

    gsize len;
    g_autofree char *data = trm_machine_to_data(m, &len);
    g_autoptr(TrmMachine) back =
        trm_machine_new("/nonexistent/dir", "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    g_autoptr(GError) error = NULL;
    g_assert_true(trm_machine_load_from_data(back, data, len, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(trm_machine_get_name(back), ==, "Debian «test» 机器");
    g_assert_cmpstr(trm_machine_get_os_id(back), ==, "http://debian.org/debian/11");
    g_assert_cmpstr(trm_machine_get_os_name(back), ==, "Debian 11");
    g_assert_cmpuint(trm_machine_get_memory_mib(back), ==, 3072);
    g_assert_cmpuint(trm_machine_get_cpus(back), ==, 4);
    g_assert_true(trm_machine_get_live(back));
    g_assert_cmpint(trm_machine_get_boot(back), ==, TRM_BOOT_KERNEL);
    g_assert_cmpstr(trm_machine_get_kernel(back), ==, "/boot/vmlinuz");
    g_assert_cmpstr(trm_machine_get_initrd(back), ==, "/boot/initrd.img");
    g_assert_cmpstr(trm_machine_get_cmdline(back), ==, "console=ttyS0 quiet");
    g_assert_cmpuint(trm_machine_get_n_drives(back), ==, 2);
    const TrmDrive *d0 = trm_machine_get_drive(back, 0), *d1 = trm_machine_get_drive(back, 1);
    g_assert_cmpstr(d0->path, ==, "disk.raw");
    g_assert_false(d0->cdrom);
    g_assert_false(d0->readonly);
    g_assert_cmpstr(d1->path, ==, "/srv/iso/debian=11.iso");
    g_assert_true(d1->cdrom);
    g_assert_true(d1->readonly);
    g_autofree char *abs0 = trm_machine_dup_drive_path(back, 0);
    g_assert_cmpstr(abs0, ==, "/nonexistent/dir/disk.raw");
    g_assert_cmpuint(trm_machine_get_n_forwards(back), ==, 2);
    g_assert_false(trm_machine_get_forward(back, 0)->udp);
    g_assert_cmpuint(trm_machine_get_forward(back, 0)->host_port, ==, 2222);
    g_assert_cmpuint(trm_machine_get_forward(back, 0)->guest_port, ==, 22);
    g_assert_true(trm_machine_get_forward(back, 1)->udp);

    /* Firmware boot drops the kernel settings. */
    trm_machine_set_firmware_boot(back);
    g_autofree char *data2 = trm_machine_to_data(back, &len);
    g_autoptr(TrmMachine) back2 = trm_machine_new("/x", NULL);
    g_assert_true(trm_machine_load_from_data(back2, data2, len, NULL));
    g_assert_cmpint(trm_machine_get_boot(back2), ==, TRM_BOOT_FIRMWARE);
    g_assert_null(trm_machine_get_kernel(back2));
}

static const char *const hostile[] = {
    "",
    "garbage without groups",
    "[Machine]\n",
    "[Machine]\nName=\nMemoryMiB=512\nCpus=1\n",
    "[Machine]\nName=   \nMemoryMiB=512\nCpus=1\n",
    "[Machine]\nName=a\\nb\nMemoryMiB=512\nCpus=1\n",
    "[Machine]\nName=x\nMemoryMiB=0\nCpus=1\n",
    "[Machine]\nName=x\nMemoryMiB=-5\nCpus=1\n",
    "[Machine]\nName=x\nMemoryMiB=99999999999999999999\nCpus=1\n",
    "[Machine]\nName=x\nMemoryMiB=512abc\nCpus=1\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=0\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=65\n",
    "[Machine]\nName=x\nMemoryMiB=512\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\nLive=perhaps\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n[Boot]\nFirmware=uefi-from-mars\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n[Boot]\nFirmware=kernel\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n[Drive 0]\nMedia=disk\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n[Drive 0]\nPath=a\nMedia=floppy\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n[Drive 0]\nPath=a\nBus=scsi\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n[Drive 0]\nPath=a\\tb\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n[Network]\nForwards=tcp:22\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n[Network]\nForwards=sctp:1:2\n",
    "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n[Network]\nForwards=tcp:1:70000\n",
    "[Machine]\nName=x\nUuid=00000000-0000-0000-0000-000000000000\nMemoryMiB=512\nCpus=1\n",
};

static void test_hostile(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(hostile); i++) {
        g_autoptr(TrmMachine) m = trm_machine_new("/x", "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
        g_autoptr(GError) error = NULL;
        gboolean ok = trm_machine_load_from_data(m, hostile[i], strlen(hostile[i]), &error);
        if (ok)
            g_test_message("accepted hostile input %zu: %s", i, hostile[i]);
        g_assert_false(ok);
        g_assert_error(error, TRM_ERROR, TRM_ERROR_BROKEN);
        g_assert_true(g_utf8_validate(error->message, -1, NULL));
    }

    /* Invalid UTF-8 in the name, NUL bytes, nine drives, a huge file. */
    const char bad_utf8[] = "[Machine]\nName=\xff\xfe\nMemoryMiB=512\nCpus=1\n";
    const char with_nul[] = "[Machine]\nName=x\0\nMemoryMiB=512\nCpus=1\n";
    g_autoptr(TrmMachine) m = trm_machine_new("/x", NULL);
    g_assert_false(trm_machine_load_from_data(m, bad_utf8, sizeof(bad_utf8) - 1, NULL));
    g_assert_false(trm_machine_load_from_data(m, with_nul, sizeof(with_nul) - 1, NULL));
    g_autoptr(GString) nine = g_string_new("[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n");
    for (int i = 0; i < 9; i++)
        g_string_append_printf(nine, "[Drive %d]\nPath=d%d\n", i, i);
    g_assert_false(trm_machine_load_from_data(m, nine->str, nine->len, NULL));
    g_autoptr(GString) huge = g_string_new("[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n#");
    while (huge->len <= TRM_MACHINE_INI_MAX)
        g_string_append(huge, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    g_assert_false(trm_machine_load_from_data(m, huge->str, huge->len, NULL));

    /* The smallest valid file still loads, with defaults. */
    const char *ok = "[Machine]\nName=x\nMemoryMiB=512\nCpus=1\n";
    g_assert_true(trm_machine_load_from_data(m, ok, strlen(ok), NULL));
    g_assert_cmpint(trm_machine_get_boot(m), ==, TRM_BOOT_FIRMWARE);
    g_assert_cmpuint(trm_machine_get_n_drives(m), ==, 0);
}

static char *write_machine(const char *root, const char *uuid, const char *ini, gssize len)
{
    char *dir = g_build_filename(root, uuid, NULL);
    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    if (ini) {
        g_autofree char *path = g_build_filename(dir, "machine.ini", NULL);
        g_assert_true(g_file_set_contents(path, ini, len, NULL));
    }
    return dir;
}

static void test_store(void)
{
    g_autoptr(TrmMachineStore) store = trm_machine_store_new(NULL);
    g_autofree char *expect_root =
        g_build_filename(g_get_user_data_dir(), "terrarium", "machines", NULL);
    g_assert_cmpstr(trm_machine_store_get_root(store), ==, expect_root);
    trm_machine_store_reload(store);
    GListModel *model = trm_machine_store_get_model(store);
    g_assert_cmpuint(g_list_model_get_n_items(model), ==, 0);

    g_autoptr(GError) error = NULL;
    TrmMachine *b = trm_machine_store_create(store, "Beta", &error);
    g_assert_no_error(error);
    TrmMachine *a = trm_machine_store_create(store, "alpha", &error);
    g_assert_no_error(error);
    g_assert_nonnull(a);
    g_assert_cmpuint(g_list_model_get_n_items(model), ==, 2);
    trm_machine_set_memory_mib(b, 777);
    g_assert_true(trm_machine_add_drive(b, "disk.raw", FALSE, FALSE, NULL));
    g_assert_true(trm_machine_store_save(store, b, NULL));
    g_autofree char *b_uuid = g_strdup(trm_machine_get_uuid(b));
    g_autofree char *disk = trm_machine_dup_drive_path(b, 0);
    g_assert_true(g_file_set_contents(disk, "bootsector", -1, NULL));

    /* Hostile neighbours: a corrupt machine, a directory without machine.ini, a stray name. */
    const char *root = trm_machine_store_get_root(store);
    g_autofree char *d1 =
        write_machine(root, "2b4e28ba-2fa1-11d2-883f-0016d3cca427", "\x01\x02\xff", 3);
    g_autofree char *d2 = write_machine(root, "3b4e28ba-2fa1-11d2-883f-0016d3cca427", NULL, 0);
    g_autofree char *d3 = write_machine(root, "not-a-machine", "[Machine]\nName=x\n", -1);
    g_autofree char *d4 = g_build_filename(root, "4b4e28ba-2fa1-11d2-883f-0016d3cca427", NULL);
    g_assert_cmpint(g_mkdir_with_parents(d4, 0700), ==, 0);
    g_autofree char *d4ini = g_build_filename(d4, "machine.ini", NULL);
    g_assert_cmpint(g_mkdir(d4ini, 0700), ==, 0); /* a directory where the file should be */

    g_autoptr(TrmMachineStore) again = trm_machine_store_new(root);
    trm_machine_store_reload(again);
    GListModel *m2 = trm_machine_store_get_model(again);
    g_assert_cmpuint(g_list_model_get_n_items(m2), ==, 5);
    guint broken = 0;
    for (guint i = 0; i < 5; i++) {
        g_autoptr(TrmMachine) m = g_list_model_get_item(m2, i);
        if (trm_machine_get_broken_reason(m)) {
            broken++;
            g_autofree char *base = g_path_get_basename(trm_machine_get_dir(m));
            g_assert_cmpstr(trm_machine_get_name(m), ==, base);
        }
    }
    g_assert_cmpuint(broken, ==, 3);
    TrmMachine *b2 = trm_machine_store_find(again, b_uuid);
    g_assert_nonnull(b2);
    g_assert_null(trm_machine_get_broken_reason(b2));
    g_assert_cmpuint(trm_machine_get_memory_mib(b2), ==, 777);
    /* Sorted by name, case-insensitively by collation: alpha before Beta. */
    g_autoptr(TrmMachine) first = NULL;
    for (guint i = 0; i < 5 && !first; i++) {
        g_autoptr(TrmMachine) m = g_list_model_get_item(m2, i);
        if (!trm_machine_get_broken_reason(m))
            first = g_object_ref(m);
    }
    g_assert_cmpstr(trm_machine_get_name(first), ==, "alpha");

    /* Delete keeping disks: the disk moves to kept-disks with its contents. */
    g_assert_true(trm_machine_store_delete(again, b2, FALSE, &error));
    g_assert_no_error(error);
    g_assert_false(g_file_test(disk, G_FILE_TEST_EXISTS));
    g_autofree char *kept_dir = trm_machine_store_dup_kept_disks_dir(again);
    g_autofree char *kept = g_build_filename(kept_dir, "Beta - disk.raw", NULL);
    g_autofree char *contents = NULL;
    g_assert_true(g_file_get_contents(kept, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, "bootsector");
    g_assert_cmpuint(g_list_model_get_n_items(m2), ==, 4);

    /* Delete with disks: nothing of it stays. */
    TrmMachine *a2 = trm_machine_store_find(again, trm_machine_get_uuid(a));
    g_assert_true(trm_machine_add_drive(a2, "disk.raw", FALSE, FALSE, NULL));
    g_autofree char *adisk = trm_machine_dup_drive_path(a2, 0);
    g_assert_true(g_file_set_contents(adisk, "x", -1, NULL));
    g_autofree char *adir = g_strdup(trm_machine_get_dir(a2));
    g_assert_true(trm_machine_store_delete(again, a2, TRUE, &error));
    g_assert_false(g_file_test(adir, G_FILE_TEST_EXISTS));
    (void)d1, (void)d2, (void)d3;
}

/* Drives are changed and removed in place; a bad name is refused. */
static void test_drive_edits(void)
{
    g_autoptr(TrmMachine) m =
        trm_machine_new("/nonexistent/dir", "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    g_assert_true(trm_machine_add_drive(m, "disk.qcow2", FALSE, FALSE, NULL));
    g_assert_true(trm_machine_add_drive(m, "/srv/a.iso", TRUE, FALSE, NULL));
    g_assert_true(trm_machine_add_drive(m, "disk-2.qcow2", FALSE, FALSE, NULL));
    g_autoptr(GError) error = NULL;
    g_assert_true(trm_machine_set_drive_path(m, 1, "/srv/b.iso", &error));
    g_assert_no_error(error);
    g_assert_cmpstr(trm_machine_get_drive(m, 1)->path, ==, "/srv/b.iso");
    g_assert_true(trm_machine_get_drive(m, 1)->cdrom);
    g_assert_false(trm_machine_set_drive_path(m, 1, "bad\nname", &error));
    g_assert_error(error, TRM_ERROR, TRM_ERROR_INVALID);
    g_assert_cmpstr(trm_machine_get_drive(m, 1)->path, ==, "/srv/b.iso");
    trm_machine_remove_drive(m, 0);
    g_assert_cmpuint(trm_machine_get_n_drives(m), ==, 2);
    g_assert_cmpstr(trm_machine_get_drive(m, 0)->path, ==, "/srv/b.iso");
    g_assert_cmpstr(trm_machine_get_drive(m, 1)->path, ==, "disk-2.qcow2");
    gsize len;
    g_autofree char *data = trm_machine_to_data(m, &len);
    g_autoptr(TrmMachine) back =
        trm_machine_new("/nonexistent/dir", "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    g_assert_true(trm_machine_load_from_data(back, data, len, NULL));
    g_assert_cmpuint(trm_machine_get_n_drives(back), ==, 2);
    g_assert_cmpstr(trm_machine_get_drive(back, 0)->path, ==, "/srv/b.iso");
    g_assert_false(trm_machine_get_drive(back, 1)->cdrom);
}

/* The demo machine: created once, reused, re-pointed at the guest found now. */
static void test_demo(void)
{
    g_autofree char *tmp = g_dir_make_tmp("trm-demo-XXXXXX", NULL);
    g_autofree char *root = g_build_filename(tmp, "machines", NULL);
    g_autofree char *elf = g_build_filename(tmp, "demo.elf", NULL);
    g_autofree char *elf2 = g_build_filename(tmp, "other.elf", NULL);
    g_autoptr(TrmMachineStore) store = trm_machine_store_new(root);
    trm_machine_store_reload(store);
    g_autoptr(GError) error = NULL;

    /* Not installed: a sentence, no machine. */
    g_setenv("TERRARIUM_DEMO_KERNEL", elf, TRUE);
    g_assert_null(trm_demo_ensure(store, &error));
    g_assert_error(error, TRM_ERROR, TRM_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "demo.elf"));
    g_clear_error(&error);
    g_assert_cmpuint(g_list_model_get_n_items(trm_machine_store_get_model(store)), ==, 0);

    g_assert_true(g_file_set_contents(elf, "ELF", -1, NULL));
    g_assert_true(g_file_set_contents(elf2, "ELF", -1, NULL));
    TrmMachine *m = trm_demo_ensure(store, &error);
    g_assert_no_error(error);
    g_assert_nonnull(m);
    g_assert_true(trm_demo_find(store) == m);
    g_assert_cmpstr(trm_machine_get_os_id(m), ==, TRM_DEMO_OS_ID);
    g_assert_cmpint(trm_machine_get_boot(m), ==, TRM_BOOT_KERNEL);
    g_assert_cmpstr(trm_machine_get_kernel(m), ==, elf);
    g_assert_cmpuint(trm_machine_get_n_drives(m), ==, 0);
    g_assert_cmpuint(trm_machine_get_cpus(m), ==, 1);
    g_assert_true(trm_demo_ensure(store, NULL) == m);
    g_assert_cmpuint(g_list_model_get_n_items(trm_machine_store_get_model(store)), ==, 1);

    /* Saved: a reloaded store finds it; another installation's path is replaced. */
    g_setenv("TERRARIUM_DEMO_KERNEL", elf2, TRUE);
    g_autoptr(TrmMachineStore) again = trm_machine_store_new(root);
    trm_machine_store_reload(again);
    TrmMachine *m2 = trm_demo_find(again);
    g_assert_nonnull(m2);
    g_assert_cmpstr(trm_machine_get_kernel(m2), ==, elf);
    g_assert_true(trm_demo_ensure(again, NULL) == m2);
    g_assert_cmpstr(trm_machine_get_kernel(m2), ==, elf2);
    g_assert_cmpuint(g_list_model_get_n_items(trm_machine_store_get_model(again)), ==, 1);
    g_unsetenv("TERRARIUM_DEMO_KERNEL");
}

static guint notified;

static void on_notify_state(TrmMachine *m, GParamSpec *pspec, gpointer data)
{
    notified++;
}

/* A complete saved-state folder makes an off machine Saved; a half-written one does not. */
static void test_saved_state(void)
{
    g_autofree char *dir = g_dir_make_tmp("trm-saved-XXXXXX", NULL);
    g_assert_nonnull(dir);
    g_autoptr(TrmMachine) m = trm_machine_new(dir, "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    g_signal_connect(m, "notify::state", G_CALLBACK(on_notify_state), NULL);
    g_assert_cmpint(trm_machine_get_state(m), ==, TRM_MACHINE_STATE_OFF);
    g_assert_false(trm_machine_has_saved_state(m));

    /* Interrupted save: only saved-state.tmp. */
    g_autofree char *saved = trm_machine_dup_saved_state_dir(m);
    g_autofree char *tmp = g_strconcat(saved, ".tmp", NULL);
    g_autofree char *tmp_state = g_build_filename(tmp, "state", NULL);
    g_assert_cmpint(g_mkdir(tmp, 0700), ==, 0);
    g_assert_true(g_file_set_contents(tmp_state, "TRMSTATE", -1, NULL));
    g_assert_cmpint(trm_machine_get_state(m), ==, TRM_MACHINE_STATE_OFF);
    /* An empty saved-state directory (no state file) is not a saved state either. */
    g_assert_cmpint(g_mkdir(saved, 0700), ==, 0);
    g_assert_false(trm_machine_has_saved_state(m));
    g_assert_cmpint(g_rmdir(saved), ==, 0);

    g_assert_cmpint(g_rename(tmp, saved), ==, 0);
    g_autofree char *ram = g_build_filename(saved, "ram-0000000000000001", NULL);
    g_assert_true(g_file_set_contents(ram, "", 0, NULL));
    g_assert_true(trm_machine_has_saved_state(m));
    g_assert_cmpint(trm_machine_get_state(m), ==, TRM_MACHINE_STATE_SAVED);
    g_assert_cmpstr(trm_machine_state_to_string(trm_machine_get_state(m)), ==, "Saved");
    /* A loaded machine sees it too (the library's start-up). */
    g_assert_true(trm_machine_save(m, NULL));
    g_autoptr(TrmMachine) loaded = trm_machine_load(dir);
    g_assert_cmpint(trm_machine_get_state(loaded), ==, TRM_MACHINE_STATE_SAVED);
    /* Running hides it; the process's end shows it again. */
    trm_machine_set_state(m, TRM_MACHINE_STATE_RUNNING);
    g_assert_cmpint(trm_machine_get_state(m), ==, TRM_MACHINE_STATE_RUNNING);
    trm_machine_set_state(m, TRM_MACHINE_STATE_OFF);
    g_assert_cmpint(trm_machine_get_state(m), ==, TRM_MACHINE_STATE_SAVED);

    /* Discard: the folder and a leftover .tmp go, Off again, and listeners hear it. */
    g_assert_cmpint(g_mkdir(tmp, 0700), ==, 0);
    g_assert_true(g_file_set_contents(tmp_state, "x", -1, NULL));
    notified = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(trm_machine_discard_saved_state(m, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(notified, >=, 1);
    g_assert_false(g_file_test(saved, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
    g_autofree char *gone = g_strconcat(saved, ".discarded", NULL);
    g_assert_false(g_file_test(gone, G_FILE_TEST_EXISTS));
    g_assert_cmpint(trm_machine_get_state(m), ==, TRM_MACHINE_STATE_OFF);
    g_assert_cmpint(trm_machine_get_state(loaded), ==, TRM_MACHINE_STATE_OFF);
    /* Nothing to discard is no error. */
    g_assert_true(trm_machine_discard_saved_state(m, NULL));

    g_autofree char *ini = trm_machine_dup_ini_path(m);
    g_unlink(ini);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
    g_test_add_func("/machine/round-trip", test_round_trip);
    g_test_add_func("/machine/hostile", test_hostile);
    g_test_add_func("/machine/store", test_store);
    g_test_add_func("/machine/drive-edits", test_drive_edits);
    g_test_add_func("/machine/demo", test_demo);
    g_test_add_func("/machine/saved-state", test_saved_state);
    return g_test_run();
}
