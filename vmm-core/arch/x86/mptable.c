/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Intel MultiProcessor Specification 1.4 tables: the floating pointer and a
 * configuration table listing the CPUs, one ISA bus, the IOAPIC and how the
 * ISA IRQs reach it. Kernels booted with acpi=off (and multiboot kernels that
 * only know MP tables) find their CPUs here.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/boot-internal.h"

#define MPF_SIZE 16
#define MPC_HEADER_SIZE 44

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4 };
enum { MP_INT = 0, MP_NMI = 1, MP_SMI = 2, MP_EXTINT = 3 };

#define MP_PROC_SIZE 20
#define MP_ENTRY_SIZE 8 /* bus, IOAPIC, I/O and local interrupt entries */
#define MP_CPU_EN 0x01
#define MP_CPU_BP 0x02
#define MP_IOAPIC_EN 0x01
#define MP_LAPIC_VERSION 0x14 /* what KVM's in-kernel LAPIC reports */
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_SIGNATURE 0x600 /* family 6; informational only */
#define MP_CPU_FEATURES 0x201  /* CPUID.1:EDX FPU | APIC */
#define MP_ISA_BUS 0
#define MP_ALL_LAPICS 0xFF
#define MP_ISA_IRQS 16

static size_t mp_table_size(unsigned ncpus)
{
    return MPC_HEADER_SIZE + (size_t)ncpus * MP_PROC_SIZE + MP_ENTRY_SIZE /* bus */ +
           MP_ENTRY_SIZE /* IOAPIC */ + (MP_ISA_IRQS - 1) * MP_ENTRY_SIZE + 2 * MP_ENTRY_SIZE;
}

static uint8_t *put_intsrc(uint8_t *p, uint8_t type, uint8_t kind, uint16_t flags, uint8_t bus_irq,
                           uint8_t dst_id, uint8_t dst_pin)
{
    p[0] = type;
    p[1] = kind;
    wr16(p + 2, flags);
    p[4] = MP_ISA_BUS;
    p[5] = bus_irq;
    p[6] = dst_id;
    p[7] = dst_pin;
    return p + MP_ENTRY_SIZE;
}

int vmm_mptable_write(struct vmm_guest_mem *mem, unsigned ncpus)
{
    uint64_t mpc_addr = BOOT_MPTABLE_ADDR + MPF_SIZE;
    size_t size;
    uint8_t *mpf, *mpc, *p;
    uint16_t count = 0;
    uint8_t ioapic_id = (uint8_t)ncpus;

    if (ncpus < 1 || ncpus > VMM_MAX_CPUS)
        return -EINVAL;
    size = mp_table_size(ncpus);
    if (mpc_addr + size > BOOT_MPTABLE_END)
        return -ENOSPC;
    mpf = vmm_guest_ptr(mem, BOOT_MPTABLE_ADDR, MPF_SIZE);
    mpc = vmm_guest_ptr(mem, mpc_addr, size);
    if (!mpf || !mpc)
        return -EFAULT;

    memset(mpc, 0, size);
    memcpy(mpc, "PCMP", 4);
    wr16(mpc + 4, (uint16_t)size);
    mpc[6] = 4; /* spec revision 1.4 */
    memcpy(mpc + 8, "TRRIUM  ", 8);
    memcpy(mpc + 16, "TERRARIUM   ", 12);
    wr32(mpc + 36, (uint32_t)VMM_LAPIC_ADDR);

    p = mpc + MPC_HEADER_SIZE;
    for (unsigned i = 0; i < ncpus; i++, count++) {
        p[0] = MP_PROCESSOR;
        p[1] = (uint8_t)i; /* local APIC id */
        p[2] = MP_LAPIC_VERSION;
        p[3] = MP_CPU_EN | (i == 0 ? MP_CPU_BP : 0);
        wr32(p + 4, MP_CPU_SIGNATURE);
        wr32(p + 8, MP_CPU_FEATURES);
        p += MP_PROC_SIZE;
    }

    p[0] = MP_BUS;
    p[1] = MP_ISA_BUS;
    memcpy(p + 2, "ISA   ", 6);
    p += MP_ENTRY_SIZE;
    count++;

    p[0] = MP_IOAPIC;
    p[1] = ioapic_id;
    p[2] = MP_IOAPIC_VERSION;
    p[3] = MP_IOAPIC_EN;
    wr32(p + 4, (uint32_t)VMM_IOAPIC_ADDR);
    p += MP_ENTRY_SIZE;
    count++;

    /*
     * ISA IRQs with bus-default (edge, active-high) polarity. The PIT's IRQ0
     * arrives on IOAPIC pin 2, as on every PC chipset; pin 0 is the 8259's
     * ExtINT output and IRQ2 is the cascade, so neither gets an entry.
     */
    for (unsigned irq = 0; irq < MP_ISA_IRQS; irq++) {
        if (irq == 2)
            continue;
        p = put_intsrc(p, MP_INTSRC, MP_INT, 0, (uint8_t)irq, ioapic_id,
                       (uint8_t)(irq == 0 ? 2 : irq));
        count++;
    }

    /* Virtual wire: the 8259 on every LAPIC's LINT0, NMI on LINT1. */
    p = put_intsrc(p, MP_LINTSRC, MP_EXTINT, 0, 0, MP_ALL_LAPICS, 0);
    p = put_intsrc(p, MP_LINTSRC, MP_NMI, 0, 0, MP_ALL_LAPICS, 1);
    count += 2;

    wr16(mpc + 34, count);
    mpc[7] = boot_checksum(mpc, size);

    memset(mpf, 0, MPF_SIZE);
    memcpy(mpf, "_MP_", 4);
    wr32(mpf + 4, (uint32_t)mpc_addr);
    mpf[8] = 1; /* length in 16-byte paragraphs */
    mpf[9] = 4; /* spec revision 1.4 */
    /* feature byte 1 = 0: the configuration table is present; byte 2 = 0: no IMCR. */
    mpf[10] = boot_checksum(mpf, MPF_SIZE);
    return 0;
}
