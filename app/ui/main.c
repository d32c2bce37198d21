/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * terrarium            the library (single instance)
 * terrarium --machine UUID [--restore SNAPSHOT] [--try]   one running machine and its window
 *                                                         (--try: try mode, see TrmMachineHost)
 */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "trm-application.h"
#include "trm-display-path.h"
#include "trm-machine-application.h"

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--machine") == 0) {
            if (i + 1 >= argc) {
                g_printerr("terrarium: --machine needs a machine's UUID\n");
                return 2;
            }
            /* --restore ID: start from that snapshot (the library passes it). */
            const char *restore = NULL;
            gboolean try_mode = FALSE;
            for (int j = i + 2; j < argc; j++) {
                if (strcmp(argv[j], "--restore") == 0 && j + 1 < argc)
                    restore = argv[++j];
                else if (strcmp(argv[j], "--try") == 0)
                    try_mode = TRUE;
            }
            /* Before the application runs: may set GSK_RENDERER, no other thread yet. */
            trm_display_path_choose();
            g_autoptr(TrmMachineApplication) app =
                trm_machine_application_new(argv[i + 1], restore, try_mode);
            char *args[] = {argv[0], NULL};
            int rc = g_application_run(G_APPLICATION(app), 1, args);
            return rc ? rc : trm_machine_application_get_exit_status(app);
        }
    }
    g_autoptr(TrmApplication) app = trm_application_new();
    return g_application_run(G_APPLICATION(app), argc, argv);
}
