/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ACPI tables for the PC board: RSDP (v2) -> RSDT/XSDT -> FADT (with FACS
 * and the iasl-compiled DSDT, dsdt.asl) and MADT. The fixed hardware they
 * describe is hw/acpi-pm.c (PM1 event/control blocks, PM timer, SCI on IRQ
 * 9, the fixed power button) and hw/sysctl.c (the reset register).
 *
 * The tables are built once, position-independent: one blob of tables and
 * a separate RSDP, every pointer field recorded as a fixup (offset into the
 * tables blob) and every checksum as a range. A directly booted kernel gets
 * them laid out in the BIOS area after the MP table, where it scans for the
 * RSDP; firmware gets the two blobs through fw_cfg with a table-loader
 * script (QEMU's linker/loader commands) that makes it allocate, patch and
 * checksum them itself.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot-internal.h"

#define SDT_HEADER_SIZE 36
#define RSDP_SIZE 36
#define RSDP_V1_SIZE 20
#define FADT_SIZE 244 /* revision 3: ACPI 2.0 layout, up to X_GPE1_BLK */
#define FADT_REVISION 3
#define FACS_SIZE 64

#define VMM_CMOS_CENTURY 0x32 /* hw/rtc.h CMOS_CENTURY */
#define ACPI_OEM_ID "TRRIUM"
#define ACPI_OEM_TABLE_ID "TERRARIM"
#define ACPI_OEM_REVISION 1
#define ACPI_CREATOR_ID "TRRM"
#define ACPI_CREATOR_REVISION 1

/* FADT flags */
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP (1u << 10)
/* IAPC_BOOT_ARCH */
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_8042 (1u << 1)

/* Generic Address Structure */
#define GAS_SPACE_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2
#define GAS_ACCESS_DWORD 3

/* MADT */
#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_INT_OVERRIDE 2
#define MADT_LAPIC_NMI 4
#define MADT_LAPIC_ENABLED 1u
#define MPS_INTI_POLARITY_HIGH 0x1
#define MPS_INTI_TRIGGER_LEVEL 0xC

/* The PCI interrupts the DSDT's link devices offer: level-triggered, active high. */
static const uint8_t pci_irqs[] = {5, 10, 11};

/* dsdt.asl compiled (dsdt-aml.c, generated at build time). */
extern const unsigned char vmm_dsdt_aml[];
extern const size_t vmm_dsdt_aml_len;

/* Table-loader commands (fw_cfg "etc/table-loader"), 128 bytes each. */
#define LOADER_ENTRY_SIZE 128
#define LOADER_FILESZ 56
#define LOADER_ALLOCATE 1
#define LOADER_ADD_POINTER 2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ZONE_HIGH 1
#define LOADER_ZONE_FSEG 2

static void put_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    wr32(t + 4, len);
    t[8] = rev;
    memcpy(t + 10, ACPI_OEM_ID, 6);
    memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
    wr32(t + 24, ACPI_OEM_REVISION);
    memcpy(t + 28, ACPI_CREATOR_ID, 4);
    wr32(t + 32, ACPI_CREATOR_REVISION);
}

static void put_gas(uint8_t *p, uint8_t space, uint8_t bits, uint8_t access, uint64_t addr)
{
    p[0] = space;
    p[1] = bits;
    p[2] = 0; /* bit offset */
    p[3] = access;
    wr64(p + 4, addr);
}

/* Pointer fields (FACS, DSDT, X_DSDT) are the builder's: see build(). */
static void build_fadt(uint8_t *f)
{
    put_header(f, "FACP", FADT_SIZE, FADT_REVISION);
    /* The FACS is below 4 GiB: only the 32-bit pointer, as ACPI 6 requires X_ to be 0 then. */
    wr16(f + 46, VMM_ACPI_SCI_IRQ);
    wr32(f + 48, 0); /* SMI_CMD = 0: no SMM; the OS finds ACPI mode already on (SCI_EN=1) */
    wr32(f + 56, VMM_ACPI_PM_BASE);
    wr32(f + 64, VMM_ACPI_PM1_CNT);
    wr32(f + 76, VMM_ACPI_PM_TMR);
    f[88] = 4;                 /* PM1_EVT_LEN */
    f[89] = 2;                 /* PM1_CNT_LEN */
    f[91] = 4;                 /* PM_TMR_LEN */
    wr16(f + 96, 101);         /* P_LVL2_LAT > 100: no C2 */
    wr16(f + 98, 1001);        /* P_LVL3_LAT > 1000: no C3 */
    f[108] = VMM_CMOS_CENTURY; /* CENTURY: the RTC's century byte */
    wr16(f + 109, FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042);
    wr32(f + 112, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP);
    put_gas(f + 116, GAS_SPACE_IO, 8, GAS_ACCESS_BYTE, VMM_RESET_PORT);
    f[128] = VMM_RESET_VALUE;
    put_gas(f + 148, GAS_SPACE_IO, 32, GAS_ACCESS_WORD, VMM_ACPI_PM_BASE);
    put_gas(f + 172, GAS_SPACE_IO, 16, GAS_ACCESS_WORD, VMM_ACPI_PM1_CNT);
    put_gas(f + 208, GAS_SPACE_IO, 32, GAS_ACCESS_DWORD, VMM_ACPI_PM_TMR);
}

static size_t madt_size(unsigned ncpus)
{
    return SDT_HEADER_SIZE + 8 + (size_t)ncpus * 8 + 12 + (2 + sizeof(pci_irqs)) * 10 + 6;
}

static void build_madt(uint8_t *m, unsigned ncpus)
{
    size_t size = madt_size(ncpus);
    uint8_t *p = m + SDT_HEADER_SIZE + 8;

    put_header(m, "APIC", (uint32_t)size, 3);
    wr32(m + 36, (uint32_t)VMM_LAPIC_ADDR);
    wr32(m + 40, MADT_PCAT_COMPAT); /* the 8259s exist and must be masked to use the APICs */

    for (unsigned i = 0; i < ncpus; i++, p += 8) {
        p[0] = MADT_LAPIC;
        p[1] = 8;
        p[2] = (uint8_t)i; /* ACPI processor UID */
        p[3] = (uint8_t)i; /* APIC id */
        wr32(p + 4, MADT_LAPIC_ENABLED);
    }

    p[0] = MADT_IOAPIC;
    p[1] = 12;
    p[2] = (uint8_t)ncpus;
    wr32(p + 4, (uint32_t)VMM_IOAPIC_ADDR);
    wr32(p + 8, 0); /* GSI base */
    p += 12;

    /* ISA IRQ0 (PIT) is wired to IOAPIC pin 2; flags 0 = bus default (edge, high). */
    p[0] = MADT_INT_OVERRIDE;
    p[1] = 10;
    p[2] = 0; /* ISA */
    p[3] = 0;
    wr32(p + 4, 2);
    wr16(p + 8, 0);
    p += 10;

    /* The SCI is level-triggered, active high (ACPI's default for it would be active low). */
    p[0] = MADT_INT_OVERRIDE;
    p[1] = 10;
    p[2] = 0;
    p[3] = VMM_ACPI_SCI_IRQ;
    wr32(p + 4, VMM_ACPI_SCI_IRQ);
    wr16(p + 8, MPS_INTI_POLARITY_HIGH | MPS_INTI_TRIGGER_LEVEL);
    p += 10;

    /* The PCI interrupts the link devices route: level-triggered, active high, as _PRS says. */
    for (unsigned i = 0; i < sizeof(pci_irqs); i++, p += 10) {
        p[0] = MADT_INT_OVERRIDE;
        p[1] = 10;
        p[2] = 0;
        p[3] = pci_irqs[i];
        wr32(p + 4, pci_irqs[i]);
        wr16(p + 8, MPS_INTI_POLARITY_HIGH | MPS_INTI_TRIGGER_LEVEL);
    }

    p[0] = MADT_LAPIC_NMI;
    p[1] = 6;
    p[2] = 0xFF; /* all processors */
    wr16(p + 3, 0);
    p[5] = 1; /* LINT1 */
}

/* ---- the position-independent build ---- */

#define MAX_FIXUPS 32
#define MAX_CKSUMS 16
#define TABLES_MAX (64u << 10)

struct fixup {
    bool in_rsdp;    /* the pointer field lives in the RSDP (else in the tables blob) */
    uint32_t offset; /* of the pointer field */
    uint8_t size;    /* 4 or 8 */
};

struct cksum {
    bool in_rsdp;
    uint32_t start, length, offset; /* offset of the checksum byte */
};

struct acpi_build {
    uint8_t tables[TABLES_MAX];
    uint32_t len;
    uint8_t rsdp[RSDP_SIZE];
    struct fixup fix[MAX_FIXUPS];
    unsigned nfix;
    struct cksum ck[MAX_CKSUMS];
    unsigned nck;
};

static uint8_t *alloc_table(struct acpi_build *b, uint32_t size, uint32_t align, uint32_t *off)
{
    uint32_t at = (b->len + align - 1) & ~(align - 1);
    if (at > TABLES_MAX || size > TABLES_MAX - at)
        return NULL;
    memset(b->tables + b->len, 0, at + size - b->len); /* the alignment padding before it too */
    b->len = at + size;
    *off = at;
    return b->tables + at;
}

/* A pointer field holding `target` (an offset into the tables blob) until relocated. */
static void add_pointer(struct acpi_build *b, bool in_rsdp, uint32_t offset, uint8_t size,
                        uint32_t target)
{
    uint8_t *p = (in_rsdp ? b->rsdp : b->tables) + offset;
    if (size == 4)
        wr32(p, target);
    else
        wr64(p, target);
    if (b->nfix < MAX_FIXUPS)
        b->fix[b->nfix++] = (struct fixup){in_rsdp, offset, size};
}

static void add_table_cksum(struct acpi_build *b, uint32_t table)
{
    if (b->nck < MAX_CKSUMS)
        b->ck[b->nck++] = (struct cksum){false, table, rd32(b->tables + table + 4), table + 9};
}

static int build(struct acpi_build *b, unsigned ncpus)
{
    uint32_t facs, dsdt, fadt, madt, rsdt, xsdt;
    enum { NTABLES = 2 }; /* FADT, MADT */
    uint8_t *t;

    memset(b->rsdp, 0, sizeof(b->rsdp)); /* its reserved bytes too: the checksum covers them */
    b->len = 0;
    b->nfix = b->nck = 0;
    if (ncpus < 1 || ncpus > VMM_MAX_CPUS)
        return -EINVAL;

    t = alloc_table(b, FACS_SIZE, 64, &facs);
    if (!t)
        return -ENOSPC;
    memcpy(t, "FACS", 4);
    wr32(t + 4, FACS_SIZE);
    t[32] = 1; /* version */

    t = alloc_table(b, (uint32_t)vmm_dsdt_aml_len, 16, &dsdt);
    if (!t)
        return -ENOSPC;
    memcpy(t, vmm_dsdt_aml, vmm_dsdt_aml_len);
    add_table_cksum(b, dsdt);

    t = alloc_table(b, FADT_SIZE, 16, &fadt);
    if (!t)
        return -ENOSPC;
    build_fadt(t);
    add_pointer(b, false, fadt + 36, 4, facs);
    add_pointer(b, false, fadt + 40, 4, dsdt);
    add_pointer(b, false, fadt + 140, 8, dsdt); /* X_DSDT */
    add_table_cksum(b, fadt);

    t = alloc_table(b, (uint32_t)madt_size(ncpus), 16, &madt);
    if (!t)
        return -ENOSPC;
    build_madt(t, ncpus);
    add_table_cksum(b, madt);

    t = alloc_table(b, SDT_HEADER_SIZE + 4 * NTABLES, 16, &rsdt);
    if (!t)
        return -ENOSPC;
    put_header(t, "RSDT", SDT_HEADER_SIZE + 4 * NTABLES, 1);
    add_pointer(b, false, rsdt + SDT_HEADER_SIZE, 4, fadt);
    add_pointer(b, false, rsdt + SDT_HEADER_SIZE + 4, 4, madt);
    add_table_cksum(b, rsdt);

    t = alloc_table(b, SDT_HEADER_SIZE + 8 * NTABLES, 16, &xsdt);
    if (!t)
        return -ENOSPC;
    put_header(t, "XSDT", SDT_HEADER_SIZE + 8 * NTABLES, 1);
    add_pointer(b, false, xsdt + SDT_HEADER_SIZE, 8, fadt);
    add_pointer(b, false, xsdt + SDT_HEADER_SIZE + 8, 8, madt);
    add_table_cksum(b, xsdt);

    memcpy(b->rsdp, "RSD PTR ", 8);
    memcpy(b->rsdp + 9, ACPI_OEM_ID, 6);
    b->rsdp[15] = 2; /* revision: ACPI 2.0+ with XSDT */
    wr32(b->rsdp + 20, RSDP_SIZE);
    add_pointer(b, true, 16, 4, rsdt);
    add_pointer(b, true, 24, 8, xsdt);
    b->ck[b->nck++] = (struct cksum){true, 0, RSDP_V1_SIZE, 8};
    b->ck[b->nck++] = (struct cksum){true, 0, RSDP_SIZE, 32};
    return 0;
}

/* Relocates to tables_gpa and fills every checksum, as the firmware's loader would. */
static void relocate(struct acpi_build *b, uint64_t tables_gpa)
{
    for (unsigned i = 0; i < b->nfix; i++) {
        uint8_t *p = (b->fix[i].in_rsdp ? b->rsdp : b->tables) + b->fix[i].offset;
        if (b->fix[i].size == 4)
            wr32(p, rd32(p) + (uint32_t)tables_gpa);
        else
            wr64(p, rd64(p) + tables_gpa);
    }
    for (unsigned i = 0; i < b->nck; i++) {
        uint8_t *base = b->ck[i].in_rsdp ? b->rsdp : b->tables;
        base[b->ck[i].offset] = 0;
        base[b->ck[i].offset] = boot_checksum(base + b->ck[i].start, b->ck[i].length);
    }
}

int vmm_acpi_write(struct vmm_guest_mem *mem, unsigned ncpus)
{
    struct acpi_build *b = malloc(sizeof(*b));
    if (!b)
        return -ENOMEM;
    int r = build(b, ncpus);
    uint64_t tables_gpa = (BOOT_ACPI_ADDR + RSDP_SIZE + 63) & ~63ULL;
    if (r == 0 && tables_gpa + b->len > BOOT_BIOS_END)
        r = -ENOSPC;
    uint8_t *rsdp = r ? NULL : vmm_guest_ptr(mem, BOOT_ACPI_ADDR, RSDP_SIZE);
    uint8_t *tables = r ? NULL : vmm_guest_ptr(mem, tables_gpa, b->len);
    if (r == 0 && (!rsdp || !tables))
        r = -EFAULT;
    if (r == 0) {
        relocate(b, tables_gpa);
        memcpy(rsdp, b->rsdp, RSDP_SIZE);
        memcpy(tables, b->tables, b->len);
    }
    free(b);
    return r;
}

static uint8_t *loader_entry(struct vmm_acpi_fw_cfg *out, uint32_t cmd)
{
    uint8_t *e = out->loader + out->loader_len;
    out->loader_len += LOADER_ENTRY_SIZE;
    memset(e, 0, LOADER_ENTRY_SIZE);
    wr32(e, cmd);
    return e;
}

int vmm_acpi_build_fw_cfg(unsigned ncpus, struct vmm_acpi_fw_cfg *out)
{
    struct acpi_build *b = malloc(sizeof(*b));
    if (!b)
        return -ENOMEM;
    memset(out, 0, sizeof(*out));
    int r = build(b, ncpus);
    size_t nentries = 2 + b->nfix + b->nck;
    if (r == 0) {
        out->tables = malloc(b->len);
        out->loader = malloc(nentries * LOADER_ENTRY_SIZE);
        if (!out->tables || !out->loader)
            r = -ENOMEM;
    }
    if (r < 0) {
        vmm_acpi_fw_cfg_free(out);
        free(b);
        return r;
    }
    memcpy(out->tables, b->tables, b->len);
    out->tables_len = b->len;
    memcpy(out->rsdp, b->rsdp, RSDP_SIZE);

    uint8_t *e = loader_entry(out, LOADER_ALLOCATE);
    strcpy((char *)e + 4, VMM_ACPI_RSDP_FILE);
    wr32(e + 4 + LOADER_FILESZ, 16);
    e[4 + LOADER_FILESZ + 4] = LOADER_ZONE_FSEG;
    e = loader_entry(out, LOADER_ALLOCATE);
    strcpy((char *)e + 4, VMM_ACPI_TABLES_FILE);
    wr32(e + 4 + LOADER_FILESZ, 64);
    e[4 + LOADER_FILESZ + 4] = LOADER_ZONE_HIGH;
    for (unsigned i = 0; i < b->nfix; i++) {
        e = loader_entry(out, LOADER_ADD_POINTER);
        strcpy((char *)e + 4, b->fix[i].in_rsdp ? VMM_ACPI_RSDP_FILE : VMM_ACPI_TABLES_FILE);
        strcpy((char *)e + 4 + LOADER_FILESZ, VMM_ACPI_TABLES_FILE);
        wr32(e + 4 + 2 * LOADER_FILESZ, b->fix[i].offset);
        e[4 + 2 * LOADER_FILESZ + 4] = b->fix[i].size;
    }
    /* Checksums last: they cover the pointers the firmware just patched. */
    for (unsigned i = 0; i < b->nck; i++) {
        e = loader_entry(out, LOADER_ADD_CHECKSUM);
        strcpy((char *)e + 4, b->ck[i].in_rsdp ? VMM_ACPI_RSDP_FILE : VMM_ACPI_TABLES_FILE);
        wr32(e + 4 + LOADER_FILESZ, b->ck[i].offset);
        wr32(e + 4 + LOADER_FILESZ + 4, b->ck[i].start);
        wr32(e + 4 + LOADER_FILESZ + 8, b->ck[i].length);
        /* The loader adds the negated sum to the byte: start it at zero. */
        (b->ck[i].in_rsdp ? out->rsdp : out->tables)[b->ck[i].offset] = 0;
    }
    free(b);
    return 0;
}

void vmm_acpi_fw_cfg_free(struct vmm_acpi_fw_cfg *out)
{
    free(out->tables);
    free(out->loader);
    out->tables = out->loader = NULL;
}
