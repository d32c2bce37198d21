/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <unistd.h>

#include "trm-error.h"
#include "trm-host-check.h"

#define DEFAULT_BIOS "/usr/share/seabios/bios.bin"

/* Does the CPU advertise VT-x or AMD-V at all? */
static gboolean cpu_has_virt(void)
{
    g_autofree char *cpuinfo = NULL;
    if (!g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL))
        return TRUE; /* cannot tell; do not blame the firmware */
    return strstr(cpuinfo, " vmx") || strstr(cpuinfo, " svm");
}

gboolean trm_host_check_kvm(const char *kvm_path, GError **error)
{
    const char *path = kvm_path ? kvm_path : "/dev/kvm";
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return TRUE;
    }
    int e = errno;
    if (e == ENOENT || e == ENXIO || e == ENODEV) {
        if (!cpu_has_virt())
            g_set_error(error, TRM_ERROR, TRM_ERROR_KVM_MISSING,
                        _("This computer's processor has virtualization switched off. Turn on "
                          "“Intel VT-x” or “AMD-V” (SVM) in the firmware settings (BIOS/UEFI), "
                          "then restart."));
        else
            g_set_error(error, TRM_ERROR, TRM_ERROR_KVM_MISSING,
                        _("Virtualization is not available: %s does not exist. Load the KVM "
                          "module with “sudo modprobe kvm_intel” or “sudo modprobe kvm_amd”."),
                        path);
        return FALSE;
    }
    if (e == EACCES || e == EPERM) {
        const char *user = g_get_user_name();
        g_set_error(error, TRM_ERROR, TRM_ERROR_KVM_PERMISSION,
                    _("You do not have permission to use %s. Run “sudo usermod -aG kvm %s”, "
                      "then log out and back in."),
                    path, user);
        return FALSE;
    }
    g_set_error(error, TRM_ERROR, TRM_ERROR_KVM_MISSING, _("Cannot open %s: %s."), path,
                g_strerror(e));
    return FALSE;
}

gboolean trm_host_check_firmware(const char *bios, GError **error)
{
    const char *path = bios ? bios : DEFAULT_BIOS;
    if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
        return TRUE;
    g_set_error(error, TRM_ERROR, TRM_ERROR_FIRMWARE,
                _("The PC firmware %s is missing. Install it with “sudo apt install seabios”."),
                path);
    return FALSE;
}
