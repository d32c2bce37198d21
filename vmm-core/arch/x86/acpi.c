/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Minimal ACPI tables for the PC board: RSDP (v2) -> RSDT/XSDT -> FADT (with
 * FACS and DSDT) and MADT. The fixed hardware they describe is hw/acpi-pm.c
 * (PM1 event/control blocks, PM timer, SCI on IRQ 9) and hw/sysctl.c (the
 * reset register). Everything lives in the reserved BIOS area after the MP
 * table, where guests scan for the RSDP.
 */
#include <errno.h>
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

/* AML opcodes for the hand-assembled DSDT */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0A
#define AML_PACKAGE_OP 0x12

struct acpi_alloc {
    struct vmm_guest_mem *mem;
    uint64_t next;
};

/* Hands out a zeroed, aligned block of the BIOS area; NULL when full. */
static uint8_t *alloc_table(struct acpi_alloc *a, size_t size, uint64_t align, uint64_t *gpa)
{
    uint64_t addr = align_up(a->next, align);
    uint8_t *p;

    if (addr + size > BOOT_BIOS_END)
        return NULL;
    p = vmm_guest_ptr(a->mem, addr, size);
    if (!p)
        return NULL;
    memset(p, 0, size);
    a->next = addr + size;
    *gpa = addr;
    return p;
}

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

/* Sets the checksum byte (offset 9) so the whole table sums to zero. */
static void seal(uint8_t *t)
{
    uint32_t len = rd32(t + 4);
    t[9] = 0;
    t[9] = boot_checksum(t, len);
}

static void put_gas(uint8_t *p, uint8_t space, uint8_t bits, uint8_t access, uint64_t addr)
{
    p[0] = space;
    p[1] = bits;
    p[2] = 0; /* bit offset */
    p[3] = access;
    wr64(p + 4, addr);
}

/* An AML integer the way iasl encodes small constants. */
static size_t aml_integer(uint8_t *p, uint8_t v)
{
    if (v == 0 || v == 1) {
        p[0] = v == 0 ? AML_ZERO_OP : AML_ONE_OP;
        return 1;
    }
    p[0] = AML_BYTE_PREFIX;
    p[1] = v;
    return 2;
}

/*
 * Name (_S5, Package () { SLP_TYP_S5, SLP_TYP_S5, 0, 0 }): the sleep type
 * the guest writes to PM1_CNT to power off. Returns the AML length.
 */
static size_t build_dsdt_aml(uint8_t *aml)
{
    static const uint8_t values[4] = {VMM_ACPI_SLP_TYP_S5, VMM_ACPI_SLP_TYP_S5, 0, 0};
    uint8_t elems[16];
    size_t elen = 0, n = 0, pkglen;

    for (unsigned i = 0; i < 4; i++)
        elen += aml_integer(elems + elen, values[i]);
    /* PkgLength counts itself, NumElements and the elements; one byte holds up to 63. */
    pkglen = 1 + 1 + elen;
    aml[n++] = AML_NAME_OP;
    memcpy(aml + n, "_S5_", 4);
    n += 4;
    aml[n++] = AML_PACKAGE_OP;
    aml[n++] = (uint8_t)pkglen;
    aml[n++] = 4; /* NumElements */
    memcpy(aml + n, elems, elen);
    return n + elen;
}

static void build_fadt(uint8_t *f, uint64_t facs, uint64_t dsdt)
{
    put_header(f, "FACP", FADT_SIZE, FADT_REVISION);
    /* The FACS is below 4 GiB: only the 32-bit pointer, as ACPI 6 requires X_ to be 0 then. */
    wr32(f + 36, (uint32_t)facs);
    wr32(f + 40, (uint32_t)dsdt);
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
    wr64(f + 140, dsdt); /* X_DSDT */
    put_gas(f + 148, GAS_SPACE_IO, 32, GAS_ACCESS_WORD, VMM_ACPI_PM_BASE);
    put_gas(f + 172, GAS_SPACE_IO, 16, GAS_ACCESS_WORD, VMM_ACPI_PM1_CNT);
    put_gas(f + 208, GAS_SPACE_IO, 32, GAS_ACCESS_DWORD, VMM_ACPI_PM_TMR);
    seal(f);
}

static size_t madt_size(unsigned ncpus)
{
    return SDT_HEADER_SIZE + 8 + (size_t)ncpus * 8 + 12 + 2 * 10 + 6;
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

    p[0] = MADT_LAPIC_NMI;
    p[1] = 6;
    p[2] = 0xFF; /* all processors */
    wr16(p + 3, 0);
    p[5] = 1; /* LINT1 */

    seal(m);
}

int vmm_acpi_write(struct vmm_guest_mem *mem, unsigned ncpus)
{
    struct acpi_alloc a = {.mem = mem, .next = BOOT_ACPI_ADDR};
    uint64_t rsdp_gpa, rsdt_gpa, xsdt_gpa, fadt_gpa, facs_gpa, madt_gpa, dsdt_gpa;
    uint8_t aml[64];
    size_t aml_len;
    uint8_t *rsdp, *rsdt, *xsdt, *fadt, *facs, *madt, *dsdt;
    enum { NTABLES = 2 }; /* FADT, MADT */

    if (ncpus < 1 || ncpus > VMM_MAX_CPUS)
        return -EINVAL;
    if (!vmm_guest_ptr(mem, VMM_BIOS_START, BOOT_BIOS_END - VMM_BIOS_START))
        return -EFAULT;
    aml_len = build_dsdt_aml(aml);

    rsdp = alloc_table(&a, RSDP_SIZE, 16, &rsdp_gpa);
    rsdt = alloc_table(&a, SDT_HEADER_SIZE + 4 * NTABLES, 16, &rsdt_gpa);
    xsdt = alloc_table(&a, SDT_HEADER_SIZE + 8 * NTABLES, 16, &xsdt_gpa);
    fadt = alloc_table(&a, FADT_SIZE, 16, &fadt_gpa);
    facs = alloc_table(&a, FACS_SIZE, 64, &facs_gpa);
    madt = alloc_table(&a, madt_size(ncpus), 16, &madt_gpa);
    dsdt = alloc_table(&a, SDT_HEADER_SIZE + aml_len, 16, &dsdt_gpa);
    if (!rsdp || !rsdt || !xsdt || !fadt || !facs || !madt || !dsdt)
        return -ENOSPC;

    put_header(dsdt, "DSDT", (uint32_t)(SDT_HEADER_SIZE + aml_len), 2);
    memcpy(dsdt + SDT_HEADER_SIZE, aml, aml_len);
    seal(dsdt);

    memcpy(facs, "FACS", 4);
    wr32(facs + 4, FACS_SIZE);
    facs[32] = 1; /* version */

    build_fadt(fadt, facs_gpa, dsdt_gpa);
    build_madt(madt, ncpus);

    put_header(rsdt, "RSDT", SDT_HEADER_SIZE + 4 * NTABLES, 1);
    wr32(rsdt + SDT_HEADER_SIZE, (uint32_t)fadt_gpa);
    wr32(rsdt + SDT_HEADER_SIZE + 4, (uint32_t)madt_gpa);
    seal(rsdt);

    put_header(xsdt, "XSDT", SDT_HEADER_SIZE + 8 * NTABLES, 1);
    wr64(xsdt + SDT_HEADER_SIZE, fadt_gpa);
    wr64(xsdt + SDT_HEADER_SIZE + 8, madt_gpa);
    seal(xsdt);

    memcpy(rsdp, "RSD PTR ", 8);
    memcpy(rsdp + 9, ACPI_OEM_ID, 6);
    rsdp[15] = 2; /* revision: ACPI 2.0+ with XSDT */
    wr32(rsdp + 16, (uint32_t)rsdt_gpa);
    wr32(rsdp + 20, RSDP_SIZE);
    wr64(rsdp + 24, xsdt_gpa);
    rsdp[8] = boot_checksum(rsdp, RSDP_V1_SIZE);
    rsdp[32] = boot_checksum(rsdp, RSDP_SIZE);
    return 0;
}
