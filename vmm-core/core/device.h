/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_CORE_DEVICE_H
#define VMM_CORE_DEVICE_H

#include <pthread.h>
#include <stddef.h>

#include "vmm/vmm.h"

struct vmm_vm;
struct vmm_device;

/*
 * A device model. An instance embeds struct vmm_device first and is
 * allocated zeroed with instance_size bytes by vmm_device_create().
 * realize claims I/O (vmm_iotrap_add) and IRQs; reset puts guest-visible
 * state back to power-on; unrealize frees what realize took.
 */
struct vmm_device_type {
    const char *name;
    size_t instance_size;
    int (*realize)(struct vmm_device *dev, struct vmm_vm *vm, struct vmm_error *err);
    void (*reset)(struct vmm_device *dev);
    void (*unrealize)(struct vmm_device *dev);
};

struct vmm_device {
    const struct vmm_device_type *type;
    struct vmm_vm *vm;
    struct vmm_device *next; /* in realize order */
    pthread_mutex_t lock;    /* held by the device's handlers */
};

/* Allocates, realizes and attaches a device to vm; NULL with err on failure. */
struct vmm_device *vmm_device_create(struct vmm_vm *vm, const struct vmm_device_type *type,
                                     struct vmm_error *err);

#endif
