/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the machine-state loader. The input is a state file:
 * it is parsed (header, section table, CRCs), and every device section
 * found is decoded into a fresh model through its declarative description
 * (bounds, version, length, post_load), then the model is exercised through
 * its ports so that loaded state that breaks an invariant shows up as an
 * out-of-bounds access under ASan. CRCs reject nearly every mutated file,
 * so a second pass decodes the raw input as each device's payload directly.
 *
 * Virtio: the transport state ("virtio:SS.F") is loaded into a virtio-rng
 * behind the PCI transport in a small fake RAM, then the queue is notified
 * and the BARs read, so rings or vectors a loaded state let through show up
 * as accesses outside that RAM or the tables; the device descriptions of
 * net, balloon and input likewise.
 */
#include <stdlib.h>
#include <string.h>

#include "hw/fw-cfg.h"
#include "hw/i8042.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "snapshot/snapshot.h"
#include "snapshot/virtio-state.h"
#include "virtio/balloon.h"
#include "virtio/input.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/virtio-pci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fw-cfg.c's VM glue is never called here; these satisfy the linker. */
int vmm_iotrap_add(struct vmm_vm *vm, enum vmm_io_kind kind, uint64_t base, uint64_t len,
                   const struct vmm_io_ops *ops, void *opaque)
{
    return -1;
}

int vmm_iotrap_remove(struct vmm_vm *vm, enum vmm_io_kind kind, uint64_t base, const void *opaque)
{
    return -1;
}

static uint8_t ram[4096] __attribute__((aligned(4096)));
static const struct vmm_guest_mem mem = {.base = ram, .lowmem_size = sizeof(ram)};

static void poke_serial(const uint8_t *p, size_t n)
{
    struct vmm_serial *s = calloc(1, sizeof(*s));
    vmm_serial_init(s, NULL, NULL, NULL);
    struct vmm_error err = {0};
    if (vmm_state_decode(&vmm_serial_state_desc, s, p, n, &err) == 0) {
        for (unsigned off = 0; off < 8; off++)
            (void)vmm_serial_ops.read(s, off, 1);
        for (unsigned i = 0; i < 20; i++)
            (void)vmm_serial_ops.read(s, UART_RBR, 1);
        vmm_serial_ops.write(s, UART_THR, 1, 'x');
        uint8_t in[20] = {0};
        (void)vmm_serial_receive(s, in, sizeof(in));
    }
    vmm_serial_fini(s);
    free(s);
}

static void poke_rtc(const uint8_t *p, size_t n)
{
    struct vmm_rtc *r = calloc(1, sizeof(*r));
    vmm_rtc_init(r, NULL, NULL, true);
    struct vmm_error err = {0};
    if (vmm_state_decode(&vmm_rtc_state_desc, r, p, n, &err) == 0) {
        for (unsigned idx = 0; idx < 0x80; idx += 3) {
            vmm_rtc_ops.write(r, 0, 1, idx);
            (void)vmm_rtc_ops.read(r, 1, 1);
        }
        (void)vmm_rtc_next_deadline_ns(r);
    }
    vmm_rtc_fini(r);
    free(r);
}

static void poke_i8042(const uint8_t *p, size_t n)
{
    struct vmm_i8042 *c = calloc(1, sizeof(*c));
    vmm_i8042_init(c, NULL, NULL);
    struct vmm_error err = {0};
    if (vmm_state_decode(&vmm_i8042_state_desc, c, p, n, &err) == 0) {
        for (unsigned i = 0; i < 40; i++) {
            (void)vmm_i8042_cmd_ops.read(c, 0, 1);
            (void)vmm_i8042_data_ops.read(c, 0, 1);
        }
        vmm_i8042_data_ops.write(c, 0, 1, 0xfe); /* resend */
        vmm_i8042_cmd_ops.write(c, 0, 1, 0xd4);  /* to the mouse */
        vmm_i8042_data_ops.write(c, 0, 1, 0xfe);
        (void)vmm_i8042_key(c, 30, true);
        vmm_i8042_mouse_move(c, 3, -2, 1);
    }
    vmm_i8042_fini(c);
    free(c);
}

static void poke_fw_cfg(const uint8_t *p, size_t n)
{
    struct vmm_fw_cfg *fw = calloc(1, sizeof(*fw));
    pthread_mutex_init(&fw->dev.lock, NULL);
    if (vmm_fw_cfg_init(fw, &mem) == 0) {
        (void)vmm_fw_cfg_add_file(fw, "etc/x", "abc", 3);
        struct vmm_error err = {0};
        if (vmm_state_decode(&vmm_fw_cfg_state_desc, fw, p, n, &err) == 0)
            for (unsigned i = 0; i < 8; i++)
                (void)vmm_fw_cfg_ops.read(fw, 1, 1);
        vmm_fw_cfg_fini(fw);
    }
    pthread_mutex_destroy(&fw->dev.lock);
    free(fw);
}

static pthread_mutex_t virtio_lock = PTHREAD_MUTEX_INITIALIZER;

static void poke_virtio_pci(const uint8_t *p, size_t n)
{
    struct vmm_virtio_rng *rng = calloc(1, sizeof(*rng));
    struct vmm_virtio_pci *vp = calloc(1, sizeof(*vp));
    if (vmm_virtio_rng_init(rng, &virtio_lock, &mem) == 0 &&
        vmm_virtio_pci_init(vp, &rng->vdev, VMM_VIRTIO_RNG_PCI_CLASS, NULL, NULL) == 0) {
        vmm_pci_set16(&vp->pci, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        struct vmm_error err = {0};
        if (vmm_state_decode(&vmm_virtio_pci_state_desc, vp, p, n, &err) == 0) {
            vmm_virtio_pci_notify(vp, 0);
            for (uint64_t off = 0; off < VIRTIO_PCI_COMMON_SIZE; off += 2)
                (void)vmm_virtio_pci_bar_ops.read(vp, off, 2);
            (void)vmm_virtio_pci_bar_ops.read(vp, VIRTIO_PCI_ISR_OFF, 1);
            for (uint64_t off = 0; off < VIRTIO_PCI_MSIX_BAR_SIZE; off += 4)
                (void)vmm_virtio_pci_msix_ops.read(vp, off, 4);
            vmm_virtio_pci_msix_ops.write(vp, 12, 4, 0); /* unmask: pending vectors fire */
            vmm_virtio_pci_notify(vp, 0);
        }
    }
    vmm_virtio_rng_fini(rng);
    free(vp);
    free(rng);
}

static void poke_virtio_models(const uint8_t *p, size_t n, unsigned which)
{
    struct vmm_error err = {0};
    if (which == 0) {
        struct vmm_virtio_net *net = calloc(1, sizeof(*net));
        struct vmm_virtio_net_opts o = {.mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56}};
        if (vmm_virtio_net_init(net, &o, &virtio_lock, &mem) == 0) {
            (void)vmm_state_decode(&vmm_virtio_net_state_desc, net, p, n, &err);
            uint8_t frame[60] = {0};
            (void)vmm_virtio_net_receive(net, frame, sizeof(frame));
            (void)vmm_virtio_net_rx_flush(net);
            vmm_virtio_net_fini(net);
        }
        free(net);
    } else if (which == 1) {
        struct vmm_virtio_balloon *b = calloc(1, sizeof(*b));
        if (vmm_virtio_balloon_init(b, 0, &virtio_lock, &mem) == 0) {
            if (vmm_state_decode(&vmm_virtio_balloon_state_desc, b, p, n, &err) == 0)
                vmm_virtio_balloon_request_stats(b);
            vmm_virtio_balloon_fini(b);
        }
        free(b);
    } else {
        struct vmm_virtio_input *in = calloc(1, sizeof(*in));
        if (vmm_virtio_input_init(in, VMM_VIRTIO_INPUT_TABLET, &virtio_lock, &mem) == 0) {
            if (vmm_state_decode(&vmm_virtio_input_state_desc, in, p, n, &err) == 0) {
                uint8_t cfg[VIRTIO_INPUT_CFG_SIZE];
                in->vdev.ops->config_read(&in->vdev, 0, cfg, sizeof(cfg));
                vmm_virtio_input_tablet(in, 10, 10, 1, 3);
            }
            vmm_virtio_input_fini(in);
        }
        free(in);
    }
}

static void poke_virtio_sections(const struct vmm_state_file *f)
{
    for (unsigned i = 0; i < f->nsections; i++) {
        const struct vmm_state_section *s = &f->sec[i];
        if (strncmp(s->name, "virtio:", 7) == 0)
            poke_virtio_pci(s->data, s->size);
        else if (strncmp(s->name, "virtio-dev:", 11) == 0)
            for (unsigned w = 0; w < 3; w++)
                poke_virtio_models(s->data, s->size, w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct vmm_state_file f;
    struct vmm_error err = {0};
    if (vmm_state_file_parse(copy, size, &f, &err) == 0) {
        const struct vmm_state_section *s;
        if ((s = vmm_state_file_find(&f, "dev:serial")))
            poke_serial(s->data, s->size);
        if ((s = vmm_state_file_find(&f, "dev:rtc")))
            poke_rtc(s->data, s->size);
        if ((s = vmm_state_file_find(&f, "dev:i8042")))
            poke_i8042(s->data, s->size);
        if ((s = vmm_state_file_find(&f, "dev:fw-cfg")))
            poke_fw_cfg(s->data, s->size);
        poke_virtio_sections(&f);
        vmm_state_file_free(&f);
    } else if (size > 0) {
        /*
         * The first byte picks a device (0-3 serial, RTC, i8042, fw_cfg; 4 the virtio
         * transport; 5-7 virtio-net, balloon, input); the rest is its payload.
         */
        switch (data[0] & 7) {
        case 0:
            poke_serial(copy + 1, size - 1);
            break;
        case 1:
            poke_rtc(copy + 1, size - 1);
            break;
        case 2:
            poke_i8042(copy + 1, size - 1);
            break;
        case 3:
            poke_fw_cfg(copy + 1, size - 1);
            break;
        case 4:
            poke_virtio_pci(copy + 1, size - 1);
            break;
        default:
            poke_virtio_models(copy + 1, size - 1, (data[0] & 7) - 5);
            break;
        }
    }
    free(copy);
    return 0;
}
