/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Can this user run virtual machines? FALSE with a sentence that says what to
 * do: switch virtualization on, load the module, join the kvm group.
 * kvm_path NULL: /dev/kvm.
 */
gboolean trm_host_check_kvm(const char *kvm_path, GError **error);
/* Is the firmware (SeaBIOS) installed? bios NULL: Debian's path. */
gboolean trm_host_check_firmware(const char *bios, GError **error);

G_END_DECLS
