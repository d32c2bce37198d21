/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Errors the model reports; each message is a sentence the user can act on. */
typedef enum {
    TRM_ERROR_INVALID,        /* a value out of range or malformed */
    TRM_ERROR_BROKEN,         /* a machine.ini that cannot be used */
    TRM_ERROR_NOT_FOUND,      /* no such machine */
    TRM_ERROR_NOT_MEDIA,      /* a file that is not a CD/DVD image */
    TRM_ERROR_UNREADABLE,     /* a file that cannot be read */
    TRM_ERROR_NO_SPACE,       /* not enough free disk space */
    TRM_ERROR_KVM_MISSING,    /* no /dev/kvm */
    TRM_ERROR_KVM_PERMISSION, /* /dev/kvm not accessible */
    TRM_ERROR_FIRMWARE,       /* the firmware package is not installed */
    TRM_ERROR_BUSY,           /* the machine is already running */
    TRM_ERROR_SAVED_STATE,    /* the saved state could not be restored */
} TrmError;

#define TRM_ERROR (trm_error_quark())
GQuark trm_error_quark(void);

G_END_DECLS
