/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/device.h"

#include <errno.h>
#include <stdlib.h>

#include "core/vm.h"

struct vmm_device *vmm_device_create(struct vmm_vm *vm, const struct vmm_device_type *type,
                                     struct vmm_error *err)
{
    if (type->instance_size < sizeof(struct vmm_device)) {
        vmm_error_set(err, -EINVAL, "device %s: bad instance size", type->name);
        return NULL;
    }
    struct vmm_device *dev = calloc(1, type->instance_size);
    if (!dev) {
        vmm_error_set(err, -ENOMEM, "out of memory creating device %s", type->name);
        return NULL;
    }
    dev->type = type;
    dev->vm = vm;
    pthread_mutex_init(&dev->lock, NULL);
    if (type->realize) {
        int r = type->realize(dev, vm, err);
        if (r < 0) {
            pthread_mutex_destroy(&dev->lock);
            free(dev);
            return NULL;
        }
    }
    vmm_vm_add_device(vm, dev);
    return dev;
}
