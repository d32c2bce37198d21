/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The board's devices as declarative state (state-desc.h). Sections:
 *
 *   dev:serial  dev:rtc  dev:i8042  dev:acpi-pm  dev:fw-cfg  dev:vga  vga:vram
 *   pci:SS.F    every function on bus 0: its 256-byte configuration space
 *   ide:C       an IDE channel (device control, selection, bus master)
 *   ide:C.U     a present IDE drive's task file and modes
 *   virtio:SS.F, virtio-dev:SS.F   a virtio function's transport and device
 *               (machine/pc-virtio.c, snapshot/virtio-descs.c)
 *
 * PCI configuration is loaded through the write masks (only bits a guest
 * could have written are taken, read-only bits keep this machine's values),
 * then replayed to each function's config_write hook dword by dword as a
 * guest write would be (PAM, PIRQ routes, ...), then the BARs are re-synced.
 *
 * IDE: a machine is saved only between commands. A drive with a command in
 * flight (BSY or DRQ, a PIO block half moved, a DMA armed, I/O submitted)
 * makes the save return -EBUSY; vmm_vm_save_state lets the guest run a few
 * milliseconds and tries again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/vm.h"
#include "hw/fw-cfg.h"
#include "hw/i8042.h"
#include "hw/ide-internal.h"
#include "hw/ide.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "hw/vga.h"
#include "machine/pc.h"
#include "snapshot/snapshot.h"

/* ---- std-VGA registers ---- */

static int vga_post_load(void *obj, void *state, uint32_t version)
{
    struct vmm_vga *vga = obj;
    (void)state;
    (void)version;
    struct vmm_vga_regs *r = &vga->r;
    /* The bank as the DISPI register says, clamped the way a guest write is. */
    uint32_t span = r->vbe[VBE_DISPI_INDEX_BPP] == 4 ? vga->vram_size / 4 : vga->vram_size;
    uint32_t max_bank = span / VBE_DISPI_BANK_SIZE ? span / VBE_DISPI_BANK_SIZE - 1 : 0;
    uint32_t bank = r->vbe[VBE_DISPI_INDEX_BANK];
    if (bank > max_bank)
        bank = max_bank;
    r->vbe[VBE_DISPI_INDEX_BANK] = (uint16_t)bank;
    r->bank_offset = bank * VBE_DISPI_BANK_SIZE;
    r->ar_index &= 0x3f;
    vga->regs_gen++; /* the renderer starts over */
    return 0;
}

#define R struct vmm_vga
static const struct vmm_state_field vga_fields[] = {
    VMM_STATE_U8(R, r.misc),
    VMM_STATE_U8(R, r.fcr),
    VMM_STATE_U8(R, r.seq_index),
    VMM_STATE_BYTES(R, r.seq),
    VMM_STATE_U8(R, r.gc_index),
    VMM_STATE_BYTES(R, r.gc),
    VMM_STATE_U8(R, r.crtc_index),
    VMM_STATE_BYTES(R, r.crtc),
    VMM_STATE_U8(R, r.ar_index),
    VMM_STATE_BYTES(R, r.ar),
    VMM_STATE_BOOL(R, r.ar_flip),
    VMM_STATE_U8(R, r.st01),
    VMM_STATE_U8(R, r.dac_mask),
    VMM_STATE_U8(R, r.dac_read_index),
    VMM_STATE_U8(R, r.dac_write_index),
    VMM_STATE_UINT_MAX(R, r.dac_sub, 1, 2),
    VMM_STATE_BOOL(R, r.dac_reading),
    VMM_STATE_BYTES(R, r.dac_cache),
    VMM_STATE_BYTES(R, r.palette),
    VMM_STATE_U32(R, r.latch),
    VMM_STATE_U16(R, r.vbe_index),
    VMM_STATE_ARRAY_MAX(R, r.vbe, 2, UINT16_MAX),
    VMM_STATE_U16(R, qext_endian),
};
#undef R

static const struct vmm_state_desc vga_state_desc = {
    .name = "vga",
    .version = 1,
    .min_version = 1,
    .fields = vga_fields,
    .nfields = VMM_STATE_NFIELDS(vga_fields),
    .post_load = vga_post_load,
};

/* ---- IDE ---- */

static int ide_drive_post_load(void *obj, void *state, uint32_t version)
{
    struct vmm_ide_drive *d = obj;
    (void)state;
    (void)version;
    /* Between commands: nothing half done, whatever the status byte claims. */
    d->status &= (uint8_t) ~(ATA_SR_BSY | ATA_SR_DRQ);
    d->next = IDE_PIO_NONE;
    d->io = IDE_IO_NONE;
    d->dma_pending = false;
    d->pos = d->end = d->fill = d->xpos = 0;
    d->remaining = 0;
    if (d->mult > VMM_IDE_MAX_MULT)
        return -EINVAL;
    return 0;
}

#define D struct vmm_ide_drive
static const struct vmm_state_field ide_drive_fields[] = {
    VMM_STATE_U16(D, cur_cyls),
    VMM_STATE_U16(D, cur_heads),
    VMM_STATE_U16(D, cur_secs),
    VMM_STATE_UINT_MAX(D, mult, 4, VMM_IDE_MAX_MULT),
    VMM_STATE_U8(D, xfer_mode),
    VMM_STATE_BOOL(D, wcache),
    VMM_STATE_BOOL(D, standby),
    VMM_STATE_U8(D, feature),
    VMM_STATE_U8(D, nsect),
    VMM_STATE_U8(D, lbal),
    VMM_STATE_U8(D, lbam),
    VMM_STATE_U8(D, lbah),
    VMM_STATE_U8(D, hob_feature),
    VMM_STATE_U8(D, hob_nsect),
    VMM_STATE_U8(D, hob_lbal),
    VMM_STATE_U8(D, hob_lbam),
    VMM_STATE_U8(D, hob_lbah),
    VMM_STATE_U8(D, select),
    VMM_STATE_U8(D, status),
    VMM_STATE_U8(D, error),
    VMM_STATE_BOOL(D, irq_pending),
    VMM_STATE_U8(D, cmd),
    VMM_STATE_BOOL(D, lba48),
    VMM_STATE_U8(D, sense.key),
    VMM_STATE_U8(D, sense.asc),
    VMM_STATE_U8(D, sense.ascq),
    VMM_STATE_BOOL(D, unit_attention),
    VMM_STATE_BOOL(D, locked),
    VMM_STATE_BOOL(D, tray_open),
    VMM_STATE_U8(D, media_event),
    VMM_STATE_BOOL(D, eject_request),
};
#undef D

static const struct vmm_state_desc ide_drive_state_desc = {
    .name = "ide drive",
    .version = 1,
    .min_version = 1,
    .fields = ide_drive_fields,
    .nfields = VMM_STATE_NFIELDS(ide_drive_fields),
    .post_load = ide_drive_post_load,
};

static const struct vmm_state_field ide_channel_fields[] = {
    VMM_STATE_U8(struct vmm_ide_channel, ctl),
    VMM_STATE_UINT_MAX(struct vmm_ide_channel, sel, 4, VMM_IDE_UNITS - 1),
    VMM_STATE_U8(struct vmm_ide_channel, bm_cmd),
    VMM_STATE_U8(struct vmm_ide_channel, bm_status),
    VMM_STATE_U32(struct vmm_ide_channel, bm_prdt),
};

static const struct vmm_state_desc ide_channel_state_desc = {
    .name = "ide channel",
    .version = 1,
    .min_version = 1,
    .fields = ide_channel_fields,
    .nfields = VMM_STATE_NFIELDS(ide_channel_fields),
};

static bool drive_busy(const struct vmm_ide_drive *d)
{
    return (d->status & (ATA_SR_BSY | ATA_SR_DRQ)) || d->next != IDE_PIO_NONE ||
           d->io != IDE_IO_NONE || d->dma_pending;
}

/* ---- Glue ---- */

int vmm_snapshot_add_desc(struct vmm_state_writer *w, const char *name,
                          const struct vmm_state_desc *d, void *obj, pthread_mutex_t *lock,
                          struct vmm_error *err)
{
    struct vmm_buf b = {0};
    if (lock)
        pthread_mutex_lock(lock);
    int r = vmm_state_encode(d, obj, &b);
    if (lock)
        pthread_mutex_unlock(lock);
    if (r == 0)
        r = vmm_state_writer_add(w, name, &b);
    vmm_buf_free(&b);
    if (r < 0)
        vmm_error_set(err, r, "cannot record the %s state: %s", d->name, strerror(-r));
    return r;
}

int vmm_snapshot_load_desc(const struct vmm_state_file *f, const char *name,
                           const struct vmm_state_desc *d, void *obj, pthread_mutex_t *lock,
                           struct vmm_error *err)
{
    const struct vmm_state_section *s = vmm_state_file_find(f, name);
    if (!s) {
        vmm_error_set(err, -EINVAL,
                      "the saved machine has no %s state: it was saved from a different machine "
                      "configuration",
                      d->name);
        return -EINVAL;
    }
    if (lock)
        pthread_mutex_lock(lock);
    int r = vmm_state_decode(d, obj, s->data, s->size, err);
    if (lock)
        pthread_mutex_unlock(lock);
    return r;
}

static void pci_name(char *buf, size_t len, unsigned devfn)
{
    snprintf(buf, len, "pci:%02x.%u", VMM_PCI_SLOT(devfn), VMM_PCI_FUNC(devfn));
}

static int save_pci(struct vmm_pci_bus *bus, struct vmm_state_writer *w, struct vmm_error *err)
{
    int r = 0;
    pthread_mutex_lock(&bus->lock);
    for (unsigned devfn = 0; r == 0 && devfn < VMM_PCI_SLOTS * VMM_PCI_FUNCS; devfn++) {
        struct vmm_pci_dev *d = bus->devs[devfn];
        if (!d)
            continue;
        struct vmm_buf b = {0};
        vmm_buf_put_u32(&b, 1);
        if (d->lock)
            pthread_mutex_lock(d->lock);
        vmm_buf_put(&b, d->config, PCI_CONFIG_SPACE_SIZE);
        if (d->lock)
            pthread_mutex_unlock(d->lock);
        char name[16];
        pci_name(name, sizeof(name), devfn);
        r = vmm_state_writer_add(w, name, &b);
        vmm_buf_free(&b);
    }
    pthread_mutex_unlock(&bus->lock);
    if (r < 0)
        vmm_error_set(err, r, "cannot record the PCI configuration: %s", strerror(-r));
    return r;
}

static int load_pci(struct vmm_pci_bus *bus, const struct vmm_state_file *f, struct vmm_error *err)
{
    /* Every saved function must exist here, and every function here must be saved. */
    for (unsigned i = 0; i < f->nsections; i++) {
        unsigned slot, fn;
        char tail;
        if (sscanf(f->sec[i].name, "pci:%2x.%1u%c", &slot, &fn, &tail) != 2)
            continue;
        if (slot >= VMM_PCI_SLOTS || fn >= VMM_PCI_FUNCS || !bus->devs[VMM_PCI_DEVFN(slot, fn)]) {
            vmm_error_set(err, -EINVAL,
                          "the saved machine has a PCI function (%s) this machine lacks",
                          f->sec[i].name);
            return -EINVAL;
        }
    }
    pthread_mutex_lock(&bus->lock);
    int r = 0;
    for (unsigned devfn = 0; r == 0 && devfn < VMM_PCI_SLOTS * VMM_PCI_FUNCS; devfn++) {
        struct vmm_pci_dev *d = bus->devs[devfn];
        if (!d)
            continue;
        char name[16];
        pci_name(name, sizeof(name), devfn);
        const struct vmm_state_section *s = vmm_state_file_find(f, name);
        if (!s || s->size != 4 + PCI_CONFIG_SPACE_SIZE || s->data[0] != 1 || s->data[1] ||
            s->data[2] || s->data[3]) {
            vmm_error_set(err, -EINVAL, "the saved configuration of PCI function %s is %s", name,
                          s ? "malformed" : "missing");
            r = -EINVAL;
            break;
        }
        const uint8_t *cfg = s->data + 4;
        if (d->lock)
            pthread_mutex_lock(d->lock);
        /* Only what a guest could have written (or the model set in W1C bits) is taken. */
        for (unsigned off = 0; off < PCI_CONFIG_SPACE_SIZE; off++) {
            uint8_t m = d->wmask[off] | d->w1c[off];
            d->config[off] = (uint8_t)((d->config[off] & ~m) | (cfg[off] & m));
        }
        if (d->ops && d->ops->config_write)
            for (unsigned off = 0; off < PCI_CONFIG_SPACE_SIZE; off += 4)
                d->ops->config_write(d, off, 4);
        if (d->lock)
            pthread_mutex_unlock(d->lock);
    }
    pthread_mutex_unlock(&bus->lock);
    if (r == 0)
        vmm_pci_bus_sync(bus);
    return r;
}

int vmm_snapshot_save_devices(struct vmm_vm *vm, struct vmm_state_writer *w, struct vmm_error *err)
{
    struct vmm_pc *pc = vm->pc;
    if (pc && pc->ide) {
        for (unsigned c = 0; c < VMM_IDE_CHANNELS; c++) {
            pthread_mutex_lock(&pc->ide->dev.lock);
            bool busy = false;
            for (unsigned u = 0; u < VMM_IDE_UNITS; u++)
                busy |= pc->ide->ch[c].drive[u].kind != VMM_IDE_NONE &&
                        drive_busy(&pc->ide->ch[c].drive[u]);
            pthread_mutex_unlock(&pc->ide->dev.lock);
            if (busy) {
                vmm_error_set(err, -EBUSY, "an IDE drive is in the middle of a command");
                return -EBUSY;
            }
        }
    }
    int r = 0;
    if (vm->serial)
        r = vmm_snapshot_add_desc(w, "dev:serial", &vmm_serial_state_desc, vm->serial,
                                  &vm->serial->dev.lock, err);
    if (!pc)
        return r;
    if (!r && pc->rtc)
        r = vmm_snapshot_add_desc(w, "dev:rtc", &vmm_rtc_state_desc, pc->rtc, &pc->rtc->dev.lock,
                                  err);
    if (!r && pc->i8042)
        r = vmm_snapshot_add_desc(w, "dev:i8042", &vmm_i8042_state_desc, pc->i8042,
                                  &pc->i8042->dev.lock, err);
    if (!r && pc->acpi_pm)
        r = vmm_snapshot_add_desc(w, "dev:acpi-pm", &vmm_acpi_pm_state_desc, pc->acpi_pm,
                                  &pc->acpi_pm->lock, err);
    if (!r && pc->fw_cfg)
        r = vmm_snapshot_add_desc(w, "dev:fw-cfg", &vmm_fw_cfg_state_desc, pc->fw_cfg,
                                  &pc->fw_cfg->dev.lock, err);
    if (!r)
        r = save_pci(&pc->bus, w, err);
    if (!r)
        r = vmm_pc_virtio_save(pc, w, err);
    if (!r && pc->ide) {
        for (unsigned c = 0; !r && c < VMM_IDE_CHANNELS; c++) {
            struct vmm_ide_channel *ch = &pc->ide->ch[c];
            char name[16];
            snprintf(name, sizeof(name), "ide:%u", c);
            r = vmm_snapshot_add_desc(w, name, &ide_channel_state_desc, ch, &pc->ide->dev.lock,
                                      err);
            for (unsigned u = 0; !r && u < VMM_IDE_UNITS; u++) {
                if (ch->drive[u].kind == VMM_IDE_NONE)
                    continue;
                snprintf(name, sizeof(name), "ide:%u.%u", c, u);
                r = vmm_snapshot_add_desc(w, name, &ide_drive_state_desc, &ch->drive[u],
                                          &pc->ide->dev.lock, err);
            }
        }
    }
    if (!r && pc->vga) {
        r = vmm_snapshot_add_desc(w, "dev:vga", &vga_state_desc, pc->vga, &pc->vga->dev.lock, err);
        if (!r) {
            uint32_t size;
            uint8_t *vram = vmm_vga_vram(pc->vga, &size);
            struct vmm_buf b = {0};
            vmm_buf_put_u32(&b, size);
            vmm_buf_put(&b, vram, size);
            r = vmm_state_writer_add(w, "vga:vram", &b);
            vmm_buf_free(&b);
            if (r < 0)
                vmm_error_set(err, r, "cannot record the video memory");
        }
    }
    return r;
}

int vmm_snapshot_load_devices(struct vmm_vm *vm, const struct vmm_state_file *f,
                              struct vmm_error *err)
{
    struct vmm_pc *pc = vm->pc;
    int r = 0;
    if (vm->serial)
        r = vmm_snapshot_load_desc(f, "dev:serial", &vmm_serial_state_desc, vm->serial,
                                   &vm->serial->dev.lock, err);
    if (!pc)
        return r;
    if (!r && pc->rtc)
        r = vmm_snapshot_load_desc(f, "dev:rtc", &vmm_rtc_state_desc, pc->rtc, &pc->rtc->dev.lock,
                                   err);
    if (!r && pc->i8042)
        r = vmm_snapshot_load_desc(f, "dev:i8042", &vmm_i8042_state_desc, pc->i8042,
                                   &pc->i8042->dev.lock, err);
    if (!r && pc->acpi_pm)
        r = vmm_snapshot_load_desc(f, "dev:acpi-pm", &vmm_acpi_pm_state_desc, pc->acpi_pm,
                                   &pc->acpi_pm->lock, err);
    if (!r && pc->fw_cfg)
        r = vmm_snapshot_load_desc(f, "dev:fw-cfg", &vmm_fw_cfg_state_desc, pc->fw_cfg,
                                   &pc->fw_cfg->dev.lock, err);
    if (!r)
        r = load_pci(&pc->bus, f, err);
    /* After the PCI configuration: BARs are mapped, MSI-X enable is known. */
    if (!r)
        r = vmm_pc_virtio_load(pc, f, err);
    if (!r && pc->ide) {
        for (unsigned c = 0; !r && c < VMM_IDE_CHANNELS; c++) {
            struct vmm_ide_channel *ch = &pc->ide->ch[c];
            char name[16];
            snprintf(name, sizeof(name), "ide:%u", c);
            r = vmm_snapshot_load_desc(f, name, &ide_channel_state_desc, ch, &pc->ide->dev.lock,
                                       err);
            for (unsigned u = 0; !r && u < VMM_IDE_UNITS; u++) {
                snprintf(name, sizeof(name), "ide:%u.%u", c, u);
                bool saved = vmm_state_file_find(f, name) != NULL;
                if (saved != (ch->drive[u].kind != VMM_IDE_NONE)) {
                    r = -EINVAL;
                    vmm_error_set(err, r,
                                  "the saved machine's IDE drives differ from this machine's "
                                  "(%s): restore it with the same drives",
                                  name);
                } else if (saved) {
                    r = vmm_snapshot_load_desc(f, name, &ide_drive_state_desc, &ch->drive[u],
                                               &pc->ide->dev.lock, err);
                }
            }
            if (!r) {
                pthread_mutex_lock(&pc->ide->dev.lock);
                ch->irq_level = -1;
                ide_update_irq(ch);
                pthread_mutex_unlock(&pc->ide->dev.lock);
            }
        }
    }
    if (!r && pc->vga) {
        r = vmm_snapshot_load_desc(f, "dev:vga", &vga_state_desc, pc->vga, &pc->vga->dev.lock, err);
        const struct vmm_state_section *s = vmm_state_file_find(f, "vga:vram");
        uint32_t size;
        uint8_t *vram = vmm_vga_vram(pc->vga, &size);
        if (!r && (!s || s->size != 4 + (uint64_t)size || s->data[0] != (uint8_t)size ||
                   s->data[1] != (uint8_t)(size >> 8) || s->data[2] != (uint8_t)(size >> 16) ||
                   s->data[3] != (uint8_t)(size >> 24))) {
            r = -EINVAL;
            vmm_error_set(err, r, "the saved video memory is missing or of another size");
        }
        if (!r)
            memcpy(vram, s->data + 4, size);
    }
    return r;
}
