/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ui suite: Save State through the real machine process (the demo guest with a
 * qcow2 disk). Refused in try mode; SaveState stops the machine, the library
 * shows Saved and <dir>/saved-state holds it; Start resumes it (same screen,
 * the saved state gone); a damaged state makes the start fail with the
 * sentence, Discard Saved State removes it and a normal start follows.
 */
#include <glib/gstdio.h>
#include <unistd.h>

#include "trm-application.h"
#include "trm-dbus-machine1.h"
#include "trm-library-window.h"
#include "trm-machine-client.h"
#include "trm-runtime.h"
#include "ui-machine-wait.h"
#include "vmm/disk.h"

void test_save_state(TrmApplication *app, int *failed);

static TrmDBusMachine1 *wait_running(TrmApplication *app, TrmMachine *m)
{
    CHECK(wait_state(m, TRM_MACHINE_STATE_RUNNING, 60000));
    TrmMachineClient *client = trm_application_get_client(app, m);
    CHECK(wait_for(connected, client, 20000));
    return trm_machine_client_get_proxy(client);
}

/* The guest's screen, decoded (the PNG from Machine1.Screenshot). */
static GBytes *screen_pixels(TrmDBusMachine1 *proxy, int *w, int *h)
{
    g_autoptr(GVariant) png = NULL;
    if (!proxy || !trm_dbus_machine1_call_screenshot_sync(proxy, 0, 0, &png, NULL, NULL))
        return NULL;
    g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes(png);
    g_autoptr(GdkTexture) tex = gdk_texture_new_from_bytes(bytes, NULL);
    if (!tex)
        return NULL;
    *w = gdk_texture_get_width(tex);
    *h = gdk_texture_get_height(tex);
    gsize stride = (gsize)*w * 4;
    guchar *buf = g_malloc(stride * (gsize)*h);
    gdk_texture_download(tex, buf, stride);
    return g_bytes_new_take(buf, stride * (gsize)*h);
}

static gboolean save_state(TrmDBusMachine1 *proxy, GError **error)
{
    return proxy && trm_dbus_machine1_call_save_state_sync(proxy, NULL, error);
}

static char *saved_file(TrmMachine *m, const char *name)
{
    return g_build_filename(trm_machine_get_dir(m), "saved-state", name, NULL);
}

void test_save_state(TrmApplication *app, int *failed)
{
    failures = failed;
    TrmMachine *m = demo_machine_with_disk(app, "Save Me", "Save State", NULL);
    if (!m)
        return;
    GtkWidget *lib = GTK_WIDGET(library(app));
    const char *uuid = trm_machine_get_uuid(m);
    g_autofree char *state = saved_file(m, "state");
    g_autofree char *dir = g_build_filename(trm_machine_get_dir(m), "saved-state", NULL);
    g_autofree char *tmp = g_strconcat(dir, ".tmp", NULL);
    TrmMachineClient *client = trm_application_get_client(app, m);

    /* Try mode: refused with the reason. */
    CHECK(gtk_widget_activate_action(lib, "win.start-try", "s", uuid));
    TrmDBusMachine1 *proxy = wait_running(app, m);
    g_autoptr(GError) error = NULL;
    CHECK(!save_state(proxy, &error));
    g_print("try-mode save refused: %s\n", error ? error->message : "(not refused)");
    CHECK(error && strstr(error->message, "try mode"));
    g_clear_error(&error);
    trm_machine_client_call(client, "PowerOff");
    CHECK(wait_state(m, TRM_MACHINE_STATE_OFF, 30000));
    CHECK(wait_for(process_gone, m, 20000));
    CHECK(!g_file_test(dir, G_FILE_TEST_EXISTS));

    /* Save: the machine stops and shows Saved. */
    CHECK(gtk_widget_activate_action(lib, "win.start", "s", uuid));
    proxy = wait_running(app, m);
    /* The demo draws its scene (slowly on an emulating KVM), then sleeps in hlt: wait
     * until two screens half a second apart are the same. */
    int w0 = 0, h0 = 0;
    g_autoptr(GBytes) before = screen_pixels(proxy, &w0, &h0);
    for (int i = 0; i < 120 && before; i++) {
        spin(500);
        int w = 0, h = 0;
        g_autoptr(GBytes) again = screen_pixels(proxy, &w, &h);
        gboolean same = again && w == w0 && h == h0 && g_bytes_equal(before, again);
        g_bytes_unref(before);
        before = g_steal_pointer(&again);
        w0 = w, h0 = h;
        if (same)
            break;
    }
    CHECK(before != NULL);
    CHECK(save_state(proxy, &error));
    g_assert_no_error(error);
    CHECK(wait_for(process_gone, m, 30000));
    CHECK(wait_state(m, TRM_MACHINE_STATE_SAVED, 10000));
    CHECK(g_file_test(state, G_FILE_TEST_IS_REGULAR));
    CHECK(!g_file_test(tmp, G_FILE_TEST_EXISTS));

    /* Resume: the same screen, and the saved state is gone once it runs. */
    CHECK(gtk_widget_activate_action(lib, "win.start", "s", uuid));
    proxy = wait_running(app, m);
    CHECK(!g_file_test(dir, G_FILE_TEST_EXISTS));
    spin(500);
    int w1 = 0, h1 = 0;
    g_autoptr(GBytes) after = screen_pixels(proxy, &w1, &h1);
    CHECK(after && w1 == w0 && h1 == h0);
    if (after && before && w1 == w0 && h1 == h0) {
        gsize n = 0, len = 0;
        const guint32 *a = g_bytes_get_data(before, &len), *b = g_bytes_get_data(after, NULL);
        for (gsize i = 0; i < len / 4; i++)
            n += a[i] != b[i];
        g_print("resume: %dx%d, %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " pixels differ\n", w1, h1,
                n, len / 4);
        /* The demo's scene is still until it gets input: the same pixels. */
        CHECK(n == 0);
    }
    CHECK(trm_machine_get_state(m) == TRM_MACHINE_STATE_RUNNING);

    /* A damaged state: the start fails with the sentence; discard, then a normal start. */
    CHECK(save_state(proxy, &error));
    g_assert_no_error(error);
    CHECK(wait_for(process_gone, m, 30000));
    CHECK(wait_state(m, TRM_MACHINE_STATE_SAVED, 10000));
    CHECK(truncate(state, 100) == 0);
    CHECK(gtk_widget_activate_action(lib, "win.start", "s", uuid));
    CHECK(wait_state(m, TRM_MACHINE_STATE_FAILED, 60000));
    const char *why = trm_machine_get_failure(m);
    g_print("damaged saved state: %s\n", why ? why : "(no failure)");
    CHECK(why && strstr(why, "The saved state could not be restored"));
    CHECK(wait_for(process_gone, m, 20000));
    CHECK(gtk_widget_activate_action(lib, "win.discard-saved", "s", uuid));
    CHECK(!g_file_test(dir, G_FILE_TEST_EXISTS));
    CHECK(trm_machine_get_state(m) == TRM_MACHINE_STATE_OFF);
    CHECK(gtk_widget_activate_action(lib, "win.start", "s", uuid));
    proxy = wait_running(app, m);
    CHECK(proxy != NULL);
    trm_machine_client_call(client, "PowerOff");
    CHECK(wait_state(m, TRM_MACHINE_STATE_OFF, 30000));
    CHECK(wait_for(process_gone, m, 20000));
}
