/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The display adapter on the board: the std-VGA model at 00:02.0, its VRAM
 * as a KVM memory slot with dirty logging while BAR0 decodes (so guest
 * drawing costs no exits and an idle screen costs nothing), and the
 * front-end side, vmm_display_update().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "core/log.h"
#include "core/vm.h"
#include "hw/vga.h"
#include "machine/pc.h"

#define VGA_SLOT 2
#define VMM_SLOT_VRAM VMM_SLOT_DYNAMIC
#define VMM_SLOT_VGA_ROM (VMM_SLOT_DYNAMIC + 1)

int vmm_pc_vga_init(struct vmm_pc *pc, struct vmm_error *err)
{
    struct vmm_vm *vm = pc->vm;
    if (!vm->cfg.vga)
        return 0;
    pc->vga = calloc(1, sizeof(*pc->vga));
    if (!pc->vga) {
        vmm_error_set(err, -ENOMEM, "out of memory for the display adapter");
        return -ENOMEM;
    }
    int r = vmm_vga_init(pc->vga, 0, pc->vgabios, pc->vgabios_size);
    if (r < 0) {
        free(pc->vga);
        pc->vga = NULL;
        vmm_error_set(err, r, "cannot set up the display adapter");
        return r;
    }
    uint32_t vram_size;
    vmm_vga_vram(pc->vga, &vram_size);
    pc->vram_dirty = calloc((vram_size / 4096 + 63) / 64, sizeof(uint64_t));
    if (!pc->vram_dirty) {
        vmm_error_set(err, -ENOMEM, "out of memory for the display adapter");
        return -ENOMEM;
    }
    r = vmm_pci_bus_add(&pc->bus, &pc->vga->pci, VGA_SLOT, 0);
    if (!r)
        r = vmm_iotrap_add(vm, VMM_IO_PIO, VMM_VGA_IO_BASE, VMM_VGA_IO_LEN, &vmm_vga_ioport_ops,
                           pc->vga);
    if (!r)
        r = vmm_iotrap_add(vm, VMM_IO_PIO, VMM_VGA_DISPI_BASE, VMM_VGA_DISPI_LEN,
                           &vmm_vga_dispi_ops, pc->vga);
    if (!r)
        r = vmm_iotrap_add(vm, VMM_IO_MMIO, VMM_VGA_MEM_BASE, VMM_VGA_MEM_LEN, &vmm_vga_mem_ops,
                           pc->vga);
    if (r < 0) {
        vmm_error_set(err, r, "the VGA ports or memory window are already claimed");
        return r;
    }
    return 0;
}

void vmm_pc_vga_fini(struct vmm_pc *pc)
{
    if (pc->vga) {
        vmm_vga_render_free(pc->vga);
        vmm_vga_fini(pc->vga);
        free(pc->vga);
        pc->vga = NULL;
    }
    free(pc->vram_dirty);
    pc->vram_dirty = NULL;
    if (pc->vga_rom)
        munmap(pc->vga_rom, pc->vga_rom_size);
    pc->vga_rom = NULL;
}

/*
 * The VGA BIOS as read-only memory while the ROM BAR decodes: firmware copies
 * it into shadow RAM, which through trapped MMIO would be an exit per dword.
 * The copy is padded with zeros to the BAR's size, as the ROM BAR reads.
 */
static bool map_rom(struct vmm_pc *pc, uint64_t base, uint64_t len, int *ret)
{
    if (!pc->vga_rom || pc->vga_rom_size != len) {
        if (pc->vga_rom)
            munmap(pc->vga_rom, pc->vga_rom_size);
        pc->vga_rom = NULL;
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return false; /* fall back to the trapped ROM */
        memcpy(p, pc->vga->pci.rom, pc->vga->pci.rom_len < len ? pc->vga->pci.rom_len : len);
        pc->vga_rom = p;
        pc->vga_rom_size = len;
    }
    *ret = vmm_mem_set_slot(pc->vm, VMM_SLOT_VGA_ROM, base, len, pc->vga_rom, KVM_MEM_READONLY);
    return *ret == 0;
}

bool vmm_pc_vga_map(struct vmm_pc *pc, struct vmm_pci_dev *d, unsigned bar, uint64_t base,
                    uint64_t len, int *ret)
{
    if (!pc->vga || d != &pc->vga->pci)
        return false;
    if (bar == VMM_PCI_ROM_BAR) {
        pc->vga_rom_mapped = d->rom && (len & 4095) == 0 && map_rom(pc, base, len, ret);
        return pc->vga_rom_mapped;
    }
    if (bar != 0)
        return false;
    uint32_t size;
    uint8_t *vram = vmm_vga_vram(pc->vga, &size);
    if (len != size) {
        *ret = -EINVAL;
        return true;
    }
    *ret = vmm_mem_set_slot(pc->vm, VMM_SLOT_VRAM, base, size, vram, KVM_MEM_LOG_DIRTY_PAGES);
    pthread_mutex_lock(&pc->vm->slot_lock);
    pc->vram_mapped = *ret == 0;
    pthread_mutex_unlock(&pc->vm->slot_lock);
    if (*ret < 0)
        vmm_log_ratelimited(VMM_LOG_WARN, "VRAM at 0x%llx: KVM refused the slot",
                            (unsigned long long)base);
    return true;
}

bool vmm_pc_vga_unmap(struct vmm_pc *pc, struct vmm_pci_dev *d, unsigned bar)
{
    if (!pc->vga || d != &pc->vga->pci)
        return false;
    if (bar == VMM_PCI_ROM_BAR) {
        if (!pc->vga_rom_mapped)
            return false;
        pc->vga_rom_mapped = false;
        if (vmm_mem_set_slot(pc->vm, VMM_SLOT_VGA_ROM, 0, 0, NULL, 0) < 0)
            vmm_log(VMM_LOG_WARN, "KVM would not remove the VGA ROM slot");
        return true;
    }
    if (bar != 0)
        return false;
    pthread_mutex_lock(&pc->vm->slot_lock);
    pc->vram_mapped = false;
    pthread_mutex_unlock(&pc->vm->slot_lock);
    if (vmm_mem_set_slot(pc->vm, VMM_SLOT_VRAM, 0, 0, NULL, 0) < 0)
        vmm_log(VMM_LOG_WARN, "KVM would not remove the VRAM slot");
    return true;
}

int vmm_display_update(struct vmm_vm *vm, struct vmm_display_image *img,
                       struct vmm_rect damage[VMM_DISPLAY_MAX_DAMAGE], unsigned *ndamage)
{
    struct vmm_pc *pc = vm->pc;
    *ndamage = 0;
    if (!pc || !pc->vga)
        return -ENODEV;
    const uint64_t *dirty = NULL;
    pthread_mutex_lock(&vm->slot_lock);
    if (pc->vram_mapped) {
        struct kvm_dirty_log log = {.slot = VMM_SLOT_VRAM, .dirty_bitmap = pc->vram_dirty};
        if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) == 0)
            dirty = pc->vram_dirty;
    }
    pthread_mutex_unlock(&vm->slot_lock);
    return vmm_vga_render(pc->vga, dirty, (uint64_t)vmm_now_ns(), img, damage, ndamage);
}

int vmm_display_text(struct vmm_vm *vm, char *out, size_t cap)
{
    struct vmm_pc *pc = vm->pc;
    if (!pc || !pc->vga)
        return -ENODEV;
    return vmm_vga_text_dump(pc->vga, out, cap, NULL, NULL);
}
