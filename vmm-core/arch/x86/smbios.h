/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_ARCH_X86_SMBIOS_H
#define VMM_ARCH_X86_SMBIOS_H

/*
 * SMBIOS 2.8 tables for the PC board (DMTF DSP0134), built once and
 * position-independent: a 31-byte 32-bit entry point ("_SM_" ... "_DMI_")
 * whose structure table address is 0, and the structure table it describes.
 * SeaBIOS reads them from fw_cfg ("etc/smbios/smbios-anchor" and
 * "etc/smbios/smbios-tables"), copies the table into its own memory, writes
 * that address into the entry point, recomputes both checksums and puts the
 * entry point in the F segment. It adds its own type 0 only when the table
 * has none; this one has.
 *
 * Structures, in order: type 0 (BIOS), 1 (system), 3 (chassis), 4 (one per
 * socket), 16 (the memory array), 17 (memory devices of at most 16 GiB that
 * add up to the RAM size), 19 (one mapped range per RAM part: below the PCI
 * hole and above 4 GiB), 32 (boot status), 127 (end).
 */

#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

#define VMM_SMBIOS_ANCHOR_FILE "etc/smbios/smbios-anchor"
#define VMM_SMBIOS_TABLES_FILE "etc/smbios/smbios-tables"
#define VMM_SMBIOS_ANCHOR_SIZE 31
#define VMM_SMBIOS_MAX_TABLES 0xFFFFu       /* the 2.x entry point's 16-bit length */
#define VMM_SMBIOS_MAX_STRING 64            /* longer strings are cut */
#define VMM_SMBIOS_MAX_SOCKETS 64           /* and at most 255 cores each */
#define VMM_SMBIOS_DEVICE_MAX (16ULL << 30) /* bytes per type 17 memory device */

/* What the board says about itself (machine/pc-firmware.c). */
#define VMM_SMBIOS_MANUFACTURER "Terrarium"
#define VMM_SMBIOS_PRODUCT "Terrarium Virtual Machine"
#define VMM_SMBIOS_VERSION "pc-i440fx"
#define VMM_SMBIOS_FAMILY "Virtual Machine"
#define VMM_SMBIOS_BIOS_VENDOR "Terrarium"
#define VMM_SMBIOS_BIOS_VERSION "SeaBIOS"
#define VMM_SMBIOS_BIOS_DATE "06/01/2025" /* of this platform definition */

/* Handles: the type in the high byte, the instance in the low one. */
#define VMM_SMBIOS_HANDLE(type, i) ((uint16_t)(((type) << 8) | ((i)&0xff)))

struct vmm_smbios_config {
    /* RAM: [0, lowmem) and [4 GiB, 4 GiB + highmem), as struct vmm_guest_mem. */
    uint64_t lowmem_size;
    uint64_t highmem_size;
    unsigned sockets;          /* 1..VMM_SMBIOS_MAX_SOCKETS */
    unsigned cores_per_socket; /* 1..255 */
    uint32_t cpuid_signature;  /* CPUID 1 EAX: type 4's processor ID */
    uint32_t cpuid_features;   /* CPUID 1 EDX */
    /* Strings: NULL or "" leaves the field unset; bytes outside 0x20..0x7e become '?'. */
    const char *cpu_manufacturer; /* CPUID 0's vendor, e.g. "AuthenticAMD" */
    const char *cpu_version;      /* CPUID 0x80000002..4's brand string */
    const char *bios_vendor;
    const char *bios_version;
    const char *bios_date; /* mm/dd/yyyy */
    uint8_t bios_major, bios_minor;
    const char *manufacturer; /* types 1 and 3 */
    const char *product;
    const char *version;
    const char *serial;
    const char *family;
    uint8_t uuid[16]; /* RFC 4122 byte order (as printed); all zero: none */
};

struct vmm_smbios {
    uint8_t anchor[VMM_SMBIOS_ANCHOR_SIZE];
    uint8_t *tables; /* malloc'ed */
    size_t tables_len;
    unsigned nstructures;
};

/*
 * Builds the entry point and the structure table. -EINVAL for a
 * configuration out of range (no low RAM, RAM parts not whole MiB or more
 * than 255 memory devices, sockets or cores out of range), -E2BIG if the table would pass
 * VMM_SMBIOS_MAX_TABLES, -ENOMEM. Free with vmm_smbios_free.
 */
VMM_WUR int vmm_smbios_build(const struct vmm_smbios_config *cfg, struct vmm_smbios *out);
void vmm_smbios_free(struct vmm_smbios *out);

#endif
