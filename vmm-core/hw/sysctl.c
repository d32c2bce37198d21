/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hw/sysctl.h"

#include <stdio.h>

#include "arch/x86/boot.h"
#include "core/log.h"
#include "core/vm.h"

#define POST_PORT 0x80
#define RCR_SYS_RST (1u << 1)
#define RCR_RST_CPU (1u << 2)

struct sysctl {
    struct vmm_device dev;
    uint8_t post_code;
    uint8_t rcr; /* reset control register */
};

static uint64_t post_read(void *opaque, uint64_t off, unsigned size)
{
    struct sysctl *s = opaque;
    return s->post_code;
}

static void post_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct sysctl *s = opaque;
    s->post_code = val & 0xff;
}

static const struct vmm_io_ops post_ops = {.read = post_read, .write = post_write};

static uint64_t rcr_read(void *opaque, uint64_t off, unsigned size)
{
    struct sysctl *s = opaque;
    return s->rcr;
}

static void rcr_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct sysctl *s = opaque;
    s->rcr = val & RCR_SYS_RST;
    if (val & RCR_RST_CPU)
        vmm_vm_request_reset(s->dev.vm);
}

const struct vmm_io_ops vmm_sysctl_rcr_ops = {.read = rcr_read, .write = rcr_write};

static uint64_t test_exit_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}

static void test_exit_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct sysctl *s = opaque;
    char msg[64];
    snprintf(msg, sizeof(msg), "the guest exited with status %u", (unsigned)(val & 0xff));
    vmm_vm_end(s->dev.vm, VMM_EXIT_TEST, (int)(val & 0xff), msg);
}

static const struct vmm_io_ops test_exit_ops = {.read = test_exit_read, .write = test_exit_write};

static int sysctl_realize(struct vmm_device *dev, struct vmm_vm *vm, struct vmm_error *err)
{
    int r = vmm_iotrap_add(vm, VMM_IO_PIO, POST_PORT, 1, &post_ops, dev);
    if (!r && vm->cfg.test_exit)
        r = vmm_iotrap_add(vm, VMM_IO_PIO, VMM_TEST_EXIT_PORT, 4, &test_exit_ops, dev);
    if (r)
        vmm_error_set(err, r, "system control ports: I/O range already claimed");
    return r;
}

static void sysctl_reset(struct vmm_device *dev)
{
    struct sysctl *s = (struct sysctl *)dev;
    s->post_code = 0;
    s->rcr = 0;
}

const struct vmm_device_type vmm_sysctl_type = {
    .name = "sysctl",
    .instance_size = sizeof(struct sysctl),
    .realize = sysctl_realize,
    .reset = sysctl_reset,
};
