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
#define AML_WORD_PREFIX 0x0B
#define AML_DWORD_PREFIX 0x0C
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_EXT_PREFIX 0x5B
#define AML_DEVICE_OP 0x82
#define AML_ROOT_CHAR 0x5C

/* The PCI host bridge's windows (DSDT \_SB.PCI0._CRS). */
#define PCI_WINDOW_MEM_END 0xFEBFFFFFULL /* below the IOAPIC */

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

/* Writes an AML PkgLength for `content` bytes that follow it; returns its own size. */
static size_t aml_pkglen(uint8_t *p, size_t content)
{
    size_t total = content + 1;
    if (total <= 63) {
        p[0] = (uint8_t)total;
        return 1;
    }
    unsigned extra = total + 1 < (1u << 12) ? 1 : total + 2 < (1u << 20) ? 2 : 3;
    total = content + 1 + extra;
    p[0] = (uint8_t)(extra << 6 | (total & 0xf));
    for (unsigned i = 0; i < extra; i++)
        p[1 + i] = (uint8_t)(total >> (4 + 8 * i));
    return 1 + extra;
}

/* Word/DWord address space descriptors of a producer with fixed min and max. */
static size_t res_word(uint8_t *p, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
    p[0] = 0x88;
    wr16(p + 1, 13);
    p[3] = type;
    p[4] = 0x0C; /* MinFixed, MaxFixed, positive decode, producer */
    p[5] = tflags;
    wr16(p + 6, 0);   /* granularity */
    wr16(p + 8, min); /* minimum */
    wr16(p + 10, max);
    wr16(p + 12, 0); /* translation */
    wr16(p + 14, (uint16_t)(max - min + 1));
    return 16;
}

static size_t res_dword_mem(uint8_t *p, uint32_t min, uint32_t max)
{
    p[0] = 0x87;
    wr16(p + 1, 23);
    p[3] = 0;    /* memory */
    p[4] = 0x0C; /* MinFixed, MaxFixed, positive decode, producer */
    p[5] = 0x03; /* read-write, cacheable */
    wr32(p + 6, 0);
    wr32(p + 10, min);
    wr32(p + 14, max);
    wr32(p + 18, 0);
    wr32(p + 22, max - min + 1);
    return 26;
}

/*
 * Scope (\_SB) { Device (PCI0) { Name (_HID, EisaId ("PNP0A03")) Name (_UID, 0)
 * Name (_CRS, ResourceTemplate () { bus 0-255, the config ports, I/O outside
 * them, the VGA window, the PCI hole up to the IOAPIC }) } }
 * so a kernel booted without firmware finds PCI bus 0 and assigns its BARs.
 * _PRT maps each slot's INTA-D to the ISA IRQs of VMM_DIRECT_PIRQ_IRQ(),
 * where the board routes the PIIX3's PIRQs for such boots.
 */
static size_t build_pci0_aml(uint8_t *aml, uint64_t pci_start)
{
    uint8_t crs[128], dev[2304];
    size_t c = 0, d = 0, n = 0;

    c += res_word(crs + c, 2, 0, 0, 0xff); /* bus numbers */
    static const uint8_t cfg_io[] = {0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08};
    memcpy(crs + c, cfg_io, sizeof(cfg_io));
    c += sizeof(cfg_io);
    c += res_word(crs + c, 1, 0x03, 0x0000, 0x0CF7); /* I/O, entire range */
    c += res_word(crs + c, 1, 0x03, 0x0D00, 0xFFFF);
    c += res_dword_mem(crs + c, 0xA0000, 0xBFFFF);
    c += res_dword_mem(crs + c, (uint32_t)pci_start, (uint32_t)PCI_WINDOW_MEM_END);
    crs[c++] = 0x79; /* end tag, checksum 0 */
    crs[c++] = 0;

    /* Name (_HID, EisaId ("PNP0A03")) */
    dev[d++] = AML_NAME_OP;
    memcpy(dev + d, "_HID", 4);
    d += 4;
    dev[d++] = AML_DWORD_PREFIX;
    wr32(dev + d, 0x030AD041);
    d += 4;
    dev[d++] = AML_NAME_OP;
    memcpy(dev + d, "_UID", 4);
    d += 4;
    dev[d++] = AML_ZERO_OP;
    /* Name (_CRS, Buffer (len) { ... }) */
    dev[d++] = AML_NAME_OP;
    memcpy(dev + d, "_CRS", 4);
    d += 4;
    dev[d++] = AML_BUFFER_OP;
    d += aml_pkglen(dev + d, 3 + c);
    dev[d++] = AML_WORD_PREFIX;
    wr16(dev + d, (uint16_t)c);
    d += 2;
    memcpy(dev + d, crs, c);
    d += c;

    /*
     * Name (_PRT, Package () { Package () { 0xSSSSFFFF, pin, Zero, GSI }, ... }):
     * INTx of slots 1-31 to the ISA IRQs the board routes PIRQ A..D to.
     */
    uint8_t prt[31 * 4 * 16];
    size_t pn = 0;
    for (unsigned slot = 1; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            uint8_t e[16];
            size_t en = 0;
            e[en++] = AML_DWORD_PREFIX;
            wr32(e + en, slot << 16 | 0xffff);
            en += 4;
            en += aml_integer(e + en, (uint8_t)pin);
            e[en++] = AML_ZERO_OP;
            en += aml_integer(e + en, (uint8_t)VMM_DIRECT_PIRQ_IRQ((slot + pin - 1) % 4));
            prt[pn++] = AML_PACKAGE_OP;
            pn += aml_pkglen(prt + pn, 1 + en);
            prt[pn++] = 4;
            memcpy(prt + pn, e, en);
            pn += en;
        }
    }
    dev[d++] = AML_NAME_OP;
    memcpy(dev + d, "_PRT", 4);
    d += 4;
    dev[d++] = AML_PACKAGE_OP;
    d += aml_pkglen(dev + d, 1 + pn);
    dev[d++] = 31 * 4;
    memcpy(dev + d, prt, pn);
    d += pn;

    /* Scope (\_SB_) { Device (PCI0) { dev } } */
    uint8_t devhdr[8];
    size_t dh = 0;
    devhdr[dh++] = AML_EXT_PREFIX;
    devhdr[dh++] = AML_DEVICE_OP;
    size_t dpl = aml_pkglen(devhdr + dh, 4 + d);
    dh += dpl;
    size_t device_len = dh + 4 + d;

    aml[n++] = AML_SCOPE_OP;
    n += aml_pkglen(aml + n, 5 + device_len);
    aml[n++] = AML_ROOT_CHAR;
    memcpy(aml + n, "_SB_", 4);
    n += 4;
    memcpy(aml + n, devhdr, dh);
    n += dh;
    memcpy(aml + n, "PCI0", 4);
    n += 4;
    memcpy(aml + n, dev, d);
    return n + d;
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
    uint8_t aml[2432];
    size_t aml_len;
    uint8_t *rsdp, *rsdt, *xsdt, *fadt, *facs, *madt, *dsdt;
    enum { NTABLES = 2 }; /* FADT, MADT */

    if (ncpus < 1 || ncpus > VMM_MAX_CPUS)
        return -EINVAL;
    if (!vmm_guest_ptr(mem, VMM_BIOS_START, BOOT_BIOS_END - VMM_BIOS_START))
        return -EFAULT;
    aml_len = build_dsdt_aml(aml);
    uint64_t pci_start = mem->lowmem_size > 0x100000 ? mem->lowmem_size : 0x100000;
    aml_len += build_pci0_aml(aml + aml_len, pci_start);

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
