/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Firmware boot: SeaBIOS as the ROM at the top of the 4 GiB space, its last
 * 128 KiB also visible at 0xE0000-0xFFFFF, with the i440FX PAM registers
 * deciding per segment whether 0xC0000-0xFFFFF reads ROM or RAM and whether
 * writes reach RAM (shadowing). Then the fw_cfg items SeaBIOS reads on a
 * QEMU-compatible board.
 *
 * Each PAM segment is a KVM memory slot chosen by its attribute (RAM,
 * read-only RAM, ROM, or nothing); what a slot cannot express (writes to a
 * read-only slot, reads of a segment with no slot) exits to the MMIO handler
 * here, which applies the same attribute in software. So the handler is
 * also correct in the instant between a slot's removal and its replacement.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/smbios.h"
#include "core/file.h"
#include "core/log.h"
#include "core/vm.h"
#include "machine/pc.h"

#define DEFAULT_BIOS "/usr/share/seabios/bios.bin"
#define DEFAULT_VGABIOS "/usr/share/seabios/vgabios-stdvga.bin"
#define BIOS_MIN_SIZE (64u << 10)
#define BIOS_MAX_SIZE (16u << 20)
#define VGABIOS_MAX_SIZE (256u << 10)
#define ISA_BIOS_SIZE (128u << 10) /* the part of the ROM the PC also shows below 1 MiB */
#define ISA_BIOS_START (0x100000u - ISA_BIOS_SIZE)
#define UPPER_SIZE (0x100000u - 0xC0000u)

static int read_whole(const char *what, const char *path, bool is_default, size_t min, size_t max,
                      uint8_t **out, size_t *len, struct vmm_error *err)
{
    int r = vmm_read_file(what, path, max, out, len, err);
    if (r == -ENOENT && is_default)
        vmm_error_set(err, r, "the %s %s is missing: install the seabios package", what, path);
    if (r == -EINVAL || r == -EFBIG || (r == 0 && *len < min)) {
        if (r == 0)
            free(*out);
        vmm_error_set(err, -EINVAL, "the %s %s is not a firmware image (%zu KiB to %zu KiB)", what,
                      path, min >> 10, max >> 10);
        return -EINVAL;
    }
    return r;
}

int vmm_pc_firmware_read(struct vmm_pc *pc, const struct vmm_config *cfg, struct vmm_error *err)
{
    const char *bios = cfg->bios ? cfg->bios : DEFAULT_BIOS;
    uint8_t *data;
    size_t len;
    int r =
        read_whole("firmware", bios, !cfg->bios, BIOS_MIN_SIZE, BIOS_MAX_SIZE, &data, &len, err);
    if (r < 0)
        return r;
    if (len % 4096) {
        free(data);
        vmm_error_set(err, -EINVAL, "the firmware %s is not a whole number of 4 KiB pages", bios);
        return -EINVAL;
    }
    /* A page-aligned copy: KVM maps it as the read-only ROM slot. */
    void *rom = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rom == MAP_FAILED) {
        free(data);
        vmm_error_set(err, -ENOMEM, "out of memory for the firmware");
        return -ENOMEM;
    }
    memcpy(rom, data, len);
    free(data);
    pc->bios = rom;
    pc->bios_size = len;
    pc->bios_map_size = len;

    if (cfg->vga) {
        const char *vgabios = cfg->vgabios ? cfg->vgabios : DEFAULT_VGABIOS;
        r = read_whole("VGA BIOS", vgabios, !cfg->vgabios, 512, VGABIOS_MAX_SIZE, &pc->vgabios,
                       &pc->vgabios_size, err);
        if (r < 0)
            return r;
    }
    return 0;
}

void vmm_pc_firmware_fini(struct vmm_pc *pc)
{
    if (pc->bios)
        munmap(pc->bios, pc->bios_map_size);
    pc->bios = NULL;
    free(pc->vgabios);
    pc->vgabios = NULL;
}

/* The ROM byte a PC shows at gpa in 0xC0000-0xFFFFF with shadowing off, or -1 (nothing). */
static const uint8_t *isa_rom(struct vmm_pc *pc, uint64_t gpa)
{
    size_t isa = pc->bios_size < ISA_BIOS_SIZE ? pc->bios_size : ISA_BIOS_SIZE;
    uint64_t start = 0x100000u - isa;
    if (gpa < start || gpa >= 0x100000u)
        return NULL;
    return pc->bios + pc->bios_size - isa + (gpa - start);
}

static unsigned segment_of(uint64_t gpa)
{
    if (gpa >= 0xF0000)
        return 0;
    return 1 + (unsigned)((gpa - 0xC0000) >> 14);
}

static uint64_t upper_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_pc *pc = opaque;
    uint64_t val = 0;
    for (unsigned i = 0; i < size; i++) {
        uint64_t gpa = 0xC0000 + off + i;
        uint8_t attr = atomic_load(&pc->pam[segment_of(gpa)]);
        uint8_t byte = 0xff;
        if (attr & VMM_PAM_READ_ONLY) {
            byte = pc->vm->mem.base[gpa];
        } else {
            const uint8_t *rom = isa_rom(pc, gpa);
            if (rom)
                byte = *rom;
        }
        val |= (uint64_t)byte << (8 * i);
    }
    return val;
}

static void upper_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_pc *pc = opaque;
    for (unsigned i = 0; i < size; i++) {
        uint64_t gpa = 0xC0000 + off + i;
        uint8_t attr = atomic_load(&pc->pam[segment_of(gpa)]);
        if (attr & VMM_PAM_WRITE_ONLY)
            pc->vm->mem.base[gpa] = (uint8_t)(val >> (8 * i));
    }
}

static const struct vmm_io_ops upper_ops = {.read = upper_read, .write = upper_write};

void vmm_pc_pam_changed(void *opaque, unsigned seg, uint32_t base, uint32_t size,
                        enum vmm_pam_attr attr)
{
    struct vmm_pc *pc = opaque;
    struct vmm_vm *vm = pc->vm;
    if (seg >= VMM_I440FX_PAM_SEGMENTS)
        return;
    atomic_store(&pc->pam[seg], (uint8_t)attr);
    if (vm->vm_fd < 0)
        return;
    uint8_t *ram = vm->mem.base + base;
    /* Only whole segments are ROM-backed: the ROM image is 64 KiB-aligned at its end. */
    const uint8_t *rom = isa_rom(pc, base);
    if (rom && !isa_rom(pc, base + size - 1))
        rom = NULL;
    void *hva = NULL;
    uint32_t flags = KVM_MEM_READONLY;
    switch (attr) {
    case VMM_PAM_DISABLED:
    case VMM_PAM_WRITE_ONLY:
        hva = (void *)rom; /* reads from the ROM (or, without one, exit to 0xff) */
        break;
    case VMM_PAM_READ_ONLY:
        hva = ram;
        break;
    case VMM_PAM_READ_WRITE:
        hva = ram;
        flags = 0;
        break;
    }
    int r = vmm_mem_set_slot(vm, VMM_SLOT_PAM + seg, base, hva ? size : 0, hva, flags);
    if (r < 0)
        vmm_log_ratelimited(VMM_LOG_WARN, "PAM segment 0x%x: KVM refused the slot (%s)", base,
                            strerror(-r));
}

int vmm_pc_firmware_map(struct vmm_pc *pc, struct vmm_error *err)
{
    struct vmm_vm *vm = pc->vm;
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0) {
        vmm_error_set(err, -ENOTSUP,
                      "this KVM cannot map read-only memory (KVM_CAP_READONLY_MEM), which "
                      "firmware needs");
        return -ENOTSUP;
    }
    int r = vmm_mem_set_slot(vm, VMM_SLOT_BIOS, VMM_4GIB - pc->bios_size, pc->bios_size, pc->bios,
                             KVM_MEM_READONLY);
    if (r < 0) {
        vmm_error_set(err, r, "KVM refused the firmware ROM slot: %s", strerror(-r));
        return r;
    }
    r = vmm_iotrap_add(vm, VMM_IO_MMIO, 0xC0000, UPPER_SIZE, &upper_ops, pc);
    if (r < 0) {
        vmm_error_set(err, r, "the BIOS area is already claimed");
        return r;
    }
    /* Writes to the ROM itself are dropped (no iotrap there: unclaimed space ignores them). */
    for (unsigned seg = 0; seg < VMM_I440FX_PAM_SEGMENTS; seg++) {
        uint32_t base, size;
        vmm_i440fx_pam_segment(seg, &base, &size);
        vmm_pc_pam_changed(pc, seg, base, size, vmm_i440fx_pam_attr(&pc->i440fx, seg));
    }
    return 0;
}

/* ---- fw_cfg ---- */

struct e820_le {
    uint64_t addr;
    uint64_t len;
    uint32_t type;
} __attribute__((packed));

int vmm_pc_parse_boot_order(const char *spec, enum vmm_rtc_boot_dev order[3], struct vmm_error *err)
{
    const char *s = spec && *spec ? spec : "cd";
    unsigned n = 0;
    for (const char *p = s; *p; p++) {
        enum vmm_rtc_boot_dev d;
        switch (*p) {
        case 'a':
            d = VMM_RTC_BOOT_FLOPPY;
            break;
        case 'c':
            d = VMM_RTC_BOOT_DISK;
            break;
        case 'd':
            d = VMM_RTC_BOOT_CDROM;
            break;
        case 'n':
            d = VMM_RTC_BOOT_NETWORK;
            break;
        default:
            vmm_error_set(err, -EINVAL,
                          "boot order \"%s\": use the letters c (disk), d (CD-ROM) and n "
                          "(network)",
                          s);
            return -EINVAL;
        }
        bool dup = false;
        for (unsigned i = 0; i < n; i++)
            dup |= order[i] == d;
        if (dup)
            continue;
        if (n == 3) {
            vmm_error_set(err, -EINVAL, "boot order \"%s\": at most three devices", s);
            return -EINVAL;
        }
        order[n++] = d;
    }
    return (int)n;
}

/* CPUID's register bytes as text: the vendor (leaf 0) or the brand string (0x80000002..4). */
static void cpuid_text(char *out, const uint32_t *regs, unsigned n)
{
    unsigned len = 0;
    for (unsigned i = 0; i < n; i++)
        for (unsigned b = 0; b < 4; b++)
            out[len++] = (char)(regs[i] >> (8 * b));
    out[len] = 0;
    /* Brand strings are NUL-padded and often start with blanks. */
    size_t lead = strspn(out, " ");
    memmove(out, out + lead, len + 1 - lead);
}

/* The SMBIOS tables (arch/x86/smbios.c): the firmware installs them as SMBIOS 2.8. */
static int add_smbios(struct vmm_pc *pc)
{
    struct vmm_vm *vm = pc->vm;
    char vendor[13] = "", brand[49] = "", uuid_text[VMM_UUID_STRLEN];
    struct kvm_cpuid_entry2 e;
    struct vmm_smbios_config c = {
        .lowmem_size = vm->mem.lowmem_size,
        .highmem_size = vm->mem.highmem_size,
        .sockets = 1, /* cpuid.c: one package of ncpus cores */
        .cores_per_socket = vm->ncpus,
        .bios_vendor = VMM_SMBIOS_BIOS_VENDOR,
        .bios_version = VMM_SMBIOS_BIOS_VERSION,
        .bios_date = VMM_SMBIOS_BIOS_DATE,
        .bios_major = 0xFF, /* no release numbers to report */
        .bios_minor = 0xFF,
        .manufacturer = VMM_SMBIOS_MANUFACTURER,
        .product = VMM_SMBIOS_PRODUCT,
        .version = VMM_SMBIOS_VERSION,
        .family = VMM_SMBIOS_FAMILY,
    };
    if (vmm_cpuid_guest_leaf(vm, 0, 0, 0, &e)) {
        cpuid_text(vendor, (uint32_t[]){e.ebx, e.edx, e.ecx}, 3);
        c.cpu_manufacturer = vendor;
    }
    if (vmm_cpuid_guest_leaf(vm, 0, 1, 0, &e)) {
        c.cpuid_signature = e.eax;
        c.cpuid_features = e.edx;
    }
    uint32_t regs[12];
    bool have_brand = true;
    for (unsigned i = 0; i < 3 && have_brand; i++) {
        have_brand = vmm_cpuid_guest_leaf(vm, 0, 0x80000002 + i, 0, &e);
        memcpy(regs + 4 * i, (uint32_t[]){e.eax, e.ebx, e.ecx, e.edx}, 16);
    }
    if (have_brand) {
        cpuid_text(brand, regs, 12);
        c.cpu_version = brand;
    }
    static const uint8_t no_uuid[16];
    if (memcmp(vm->cfg.uuid, no_uuid, 16)) {
        memcpy(c.uuid, vm->cfg.uuid, 16);
        vmm_uuid_format(c.uuid, uuid_text);
        c.serial = uuid_text;
    }

    struct vmm_smbios sm;
    int r = vmm_smbios_build(&c, &sm);
    if (r < 0)
        return r;
    r = vmm_fw_cfg_add_file(pc->fw_cfg, VMM_SMBIOS_TABLES_FILE, sm.tables, sm.tables_len);
    if (r >= 0)
        r = vmm_fw_cfg_add_file(pc->fw_cfg, VMM_SMBIOS_ANCHOR_FILE, sm.anchor, sizeof(sm.anchor));
    /* Also the plain fw_cfg UUID item, in the same byte order. */
    if (r >= 0)
        r = vmm_fw_cfg_add_bytes(pc->fw_cfg, FW_CFG_UUID, vm->cfg.uuid, 16);
    vmm_smbios_free(&sm);
    return r;
}

/* Largest option ROM: the whole 0xC0000-0xDFFFF window SeaBIOS copies them into. */
#define OPTION_ROM_MAX (128 * 1024)

/* --option-rom files as fw_cfg genroms/NAME, each checked to be an option ROM image. */
static int add_option_roms(struct vmm_pc *pc, struct vmm_error *err)
{
    const struct vmm_config *cfg = &pc->vm->cfg;
    for (unsigned i = 0; i < cfg->n_option_roms && i < VMM_MAX_OPTION_ROMS; i++) {
        const char *path = cfg->option_roms[i];
        uint8_t *rom = NULL;
        size_t len = 0;
        int r = vmm_read_file("option ROM", path, OPTION_ROM_MAX, &rom, &len, err);
        if (r < 0)
            return r;
        if (len < 512 || rom[0] != 0x55 || rom[1] != 0xaa || rom[2] == 0 ||
            (size_t)rom[2] * 512 > len) {
            free(rom);
            vmm_error_set(err, -EINVAL,
                          "%s is not an option ROM image (it needs the 55 AA signature and a "
                          "size that fits the file)",
                          path);
            return -EINVAL;
        }
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        char name[56];
        snprintf(name, sizeof(name), "genroms/%u-%.40s", i, base);
        r = vmm_fw_cfg_add_file(pc->fw_cfg, name, rom, (size_t)rom[2] * 512);
        free(rom);
        if (r < 0) {
            vmm_error_set(err, r, "cannot hand the option ROM %s to the firmware", path);
            return r;
        }
    }
    return 0;
}

int vmm_pc_firmware_config(struct vmm_pc *pc, struct vmm_error *err)
{
    struct vmm_vm *vm = pc->vm;
    struct vmm_fw_cfg *fw = pc->fw_cfg;
    int r = 0;

    struct e820_le e820[2];
    unsigned n = 0;
    e820[n++] = (struct e820_le){0, vm->mem.lowmem_size, VMM_E820_RAM};
    if (vm->mem.highmem_size)
        e820[n++] = (struct e820_le){VMM_4GIB, vm->mem.highmem_size, VMM_E820_RAM};

    if (r >= 0)
        r = vmm_fw_cfg_add_u16(fw, FW_CFG_NB_CPUS, (uint16_t)vm->ncpus);
    if (r >= 0)
        r = vmm_fw_cfg_add_u16(fw, FW_CFG_MAX_CPUS, (uint16_t)vm->ncpus);
    if (r >= 0)
        r = vmm_fw_cfg_add_u64(fw, FW_CFG_RAM_SIZE, vmm_guest_mem_total(&vm->mem));
    if (r >= 0)
        r = vmm_fw_cfg_add_u16(fw, FW_CFG_NOGRAPHIC, pc->vgabios ? 0 : 1);
    if (r >= 0)
        r = vmm_fw_cfg_add_u16(fw, FW_CFG_BOOT_MENU, vm->cfg.boot_menu ? 1 : 0);
    if (r >= 0 && vm->cfg.boot_menu_wait_ms) {
        uint16_t ms =
            vm->cfg.boot_menu_wait_ms > 0xffff ? 0xffff : (uint16_t)vm->cfg.boot_menu_wait_ms;
        uint8_t le[2] = {(uint8_t)ms, (uint8_t)(ms >> 8)};
        r = vmm_fw_cfg_add_file(fw, "etc/boot-menu-wait", le, sizeof(le));
    }
    /* IRQ 0 reaches IOAPIC pin 2: the firmware's MP table says so too. */
    static const uint8_t irq0_override = 1;
    if (r >= 0)
        r = vmm_fw_cfg_add_bytes(fw, FW_CFG_ARCH_LOCAL + 2, &irq0_override, 1);
    if (r >= 0)
        r = vmm_fw_cfg_add_file(fw, "etc/e820", e820, n * sizeof(e820[0]));
    /* ACPI: the firmware places, links and checksums our tables itself. */
    struct vmm_acpi_fw_cfg acpi;
    if (r >= 0) {
        r = vmm_acpi_build_fw_cfg(vm->ncpus, &acpi);
        if (r >= 0) {
            r = vmm_fw_cfg_add_file(fw, VMM_ACPI_TABLES_FILE, acpi.tables, acpi.tables_len);
            if (r >= 0)
                r = vmm_fw_cfg_add_file(fw, VMM_ACPI_RSDP_FILE, acpi.rsdp, sizeof(acpi.rsdp));
            if (r >= 0)
                r = vmm_fw_cfg_add_file(fw, VMM_ACPI_LOADER_FILE, acpi.loader, acpi.loader_len);
            vmm_acpi_fw_cfg_free(&acpi);
        }
    }
    if (r >= 0)
        r = add_smbios(pc);
    if (r < 0) {
        vmm_error_set(err, r, "cannot describe the machine to the firmware");
        return r;
    }
    r = add_option_roms(pc, err);
    if (r < 0)
        return r;

    /* Boot order through the CMOS, as SeaBIOS reads it without a bootorder file. */
    enum vmm_rtc_boot_dev order[3];
    int norder = vmm_pc_parse_boot_order(vm->cfg.boot_order, order, err);
    if (norder < 0)
        return norder;
    if (vmm_rtc_set_boot_order(pc->rtc, order, (unsigned)norder) < 0) {
        vmm_error_set(err, -EINVAL, "the CMOS cannot hold this boot order");
        return -EINVAL;
    }
    return 0;
}
