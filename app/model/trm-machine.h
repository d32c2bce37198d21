/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Limits shared with vmm-core's public header (the model does not include it). */
#define TRM_MIN_MEMORY_MIB 16
#define TRM_MAX_MEMORY_MIB (1024 * 1024)
#define TRM_MAX_CPUS 64
#define TRM_MAX_DRIVES 8
#define TRM_MAX_FORWARDS 32
#define TRM_MAX_NAME_LEN 200
/* A machine.ini larger than this is not ours. */
#define TRM_MACHINE_INI_MAX (64 * 1024)

typedef enum {
    TRM_MACHINE_STATE_OFF,
    TRM_MACHINE_STATE_STARTING,
    TRM_MACHINE_STATE_RUNNING,
    TRM_MACHINE_STATE_PAUSED,
    TRM_MACHINE_STATE_SAVED,
    TRM_MACHINE_STATE_FAILED, /* the machine process ended unexpectedly */
} TrmMachineState;

typedef enum {
    TRM_BOOT_FIRMWARE, /* SeaBIOS, from the drives */
    TRM_BOOT_KERNEL,   /* a Linux kernel + initrd given directly */
} TrmBootKind;

typedef struct {
    char *path; /* absolute, or relative to the machine's directory */
    gboolean cdrom;
    gboolean readonly;
    gboolean virtio;
} TrmDrive;

typedef struct {
    gboolean udp;
    guint16 host_port;
    guint16 guest_port;
} TrmForward;

#define TRM_TYPE_MACHINE (trm_machine_get_type())
G_DECLARE_FINAL_TYPE(TrmMachine, trm_machine, TRM, MACHINE, GObject)

TrmMachine *trm_machine_new(const char *dir, const char *uuid);
/* Never NULL: a machine whose machine.ini cannot be used is "broken" with a sentence. */
TrmMachine *trm_machine_load(const char *dir);
gboolean trm_machine_save(TrmMachine *self, GError **error);

/* Parses machine.ini text; FALSE with a sentence in error when it cannot be used. */
gboolean trm_machine_load_from_data(TrmMachine *self, const char *data, gsize len, GError **error);
char *trm_machine_to_data(TrmMachine *self, gsize *len);

const char *trm_machine_get_uuid(TrmMachine *self);
const char *trm_machine_get_dir(TrmMachine *self);
const char *trm_machine_get_broken_reason(TrmMachine *self);

const char *trm_machine_get_name(TrmMachine *self);
void trm_machine_set_name(TrmMachine *self, const char *name);
const char *trm_machine_get_os_id(TrmMachine *self);
const char *trm_machine_get_os_name(TrmMachine *self);
void trm_machine_set_os(TrmMachine *self, const char *os_id, const char *os_name);
guint trm_machine_get_memory_mib(TrmMachine *self);
void trm_machine_set_memory_mib(TrmMachine *self, guint mib);
guint trm_machine_get_cpus(TrmMachine *self);
void trm_machine_set_cpus(TrmMachine *self, guint cpus);
gboolean trm_machine_get_live(TrmMachine *self);
void trm_machine_set_live(TrmMachine *self, gboolean live);
/* Try mode: every start runs the writable disks through throwaway overlays (TryMode=true). */
gboolean trm_machine_get_try_mode(TrmMachine *self);
void trm_machine_set_try_mode(TrmMachine *self, gboolean try_mode);
/* The network card's MAC ([Network] Mac); FALSE when the machine has none of its own. */
gboolean trm_machine_get_mac(TrmMachine *self, guint8 mac[6]);
char *trm_machine_dup_mac_string(TrmMachine *self);
/* Gives the machine a new random MAC (52:54:00:xx:xx:xx), different from its old one. */
void trm_machine_new_mac(TrmMachine *self);
/* "52:54:00:12:34:56" (unicast, not all zero); FALSE for anything else. */
gboolean trm_machine_parse_mac(const char *text, guint8 mac[6]);

TrmBootKind trm_machine_get_boot(TrmMachine *self);
const char *trm_machine_get_kernel(TrmMachine *self);
const char *trm_machine_get_initrd(TrmMachine *self);
const char *trm_machine_get_cmdline(TrmMachine *self);
void trm_machine_set_kernel_boot(TrmMachine *self, const char *kernel, const char *initrd,
                                 const char *cmdline);
void trm_machine_set_firmware_boot(TrmMachine *self);

guint trm_machine_get_n_drives(TrmMachine *self);
const TrmDrive *trm_machine_get_drive(TrmMachine *self, guint i);
/* The drive's path made absolute against the machine's directory. */
char *trm_machine_dup_drive_path(TrmMachine *self, guint i);
gboolean trm_machine_add_drive(TrmMachine *self, const char *path, gboolean cdrom,
                               gboolean readonly, GError **error);
/* Points drive i at another file (a CD/DVD image changed); FALSE with a sentence. */
gboolean trm_machine_set_drive_path(TrmMachine *self, guint i, const char *path, GError **error);
/* Takes drive i out of the machine; the image file is left alone. */
void trm_machine_remove_drive(TrmMachine *self, guint i);
void trm_machine_clear_drives(TrmMachine *self);

guint trm_machine_get_n_forwards(TrmMachine *self);
const TrmForward *trm_machine_get_forward(TrmMachine *self, guint i);
gboolean trm_machine_add_forward(TrmMachine *self, const char *spec, GError **error);

TrmMachineState trm_machine_get_state(TrmMachine *self);
void trm_machine_set_state(TrmMachine *self, TrmMachineState state);
/* Why the machine process stopped unexpectedly, with its last log lines. */
const char *trm_machine_get_failure(TrmMachine *self);
void trm_machine_set_failure(TrmMachine *self, const char *failure);
const char *trm_machine_state_to_string(TrmMachineState state);

/* The last screen as PNG (from the running machine or thumbnail.png); may be NULL. */
GBytes *trm_machine_get_thumbnail(TrmMachine *self);
void trm_machine_set_thumbnail(TrmMachine *self, GBytes *png);

/* Paths inside the machine's directory. */
char *trm_machine_dup_ini_path(TrmMachine *self);
char *trm_machine_dup_log_path(TrmMachine *self);
char *trm_machine_dup_thumbnail_path(TrmMachine *self);

/*
 * Saved state ("Save State" on close): `<dir>/saved-state/`, a directory
 * written by vmm_vm_save_state() under `saved-state.tmp` and renamed once the
 * machine's disks are closed, so it is complete or absent. A machine that is
 * off with one reports TRM_MACHINE_STATE_SAVED; its next start resumes it.
 */
#define TRM_SAVED_STATE_DIR "saved-state"
char *trm_machine_dup_saved_state_dir(TrmMachine *self);
gboolean trm_machine_has_saved_state(TrmMachine *self);
/* Removes the saved state (and a half-written one); TRUE when none is left. */
gboolean trm_machine_discard_saved_state(TrmMachine *self, GError **error);
/* Looks at the folder again: Off and Saved follow the saved state's presence. */
void trm_machine_refresh_saved_state(TrmMachine *self);

G_END_DECLS
