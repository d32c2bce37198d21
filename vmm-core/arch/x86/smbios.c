/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SMBIOS 2.8 structure table and 32-bit entry point (smbios.h). Every
 * structure is a formatted area (type, length, handle, fields) followed by
 * its string set: the strings the fields number from 1, each NUL-terminated,
 * and one more NUL (two NULs when there are none). Every write goes through
 * a writer bounded by VMM_SMBIOS_MAX_TABLES.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/smbios.h"
#include "core/guest-mem.h"

#define SMBIOS_MAJOR 2
#define SMBIOS_MINOR 8
#define SMBIOS_BCD_REVISION 0x28

#define MIB (1ULL << 20)

/* Formatted-area lengths of SMBIOS 2.8. */
#define T0_LEN 0x18
#define T1_LEN 0x1B
#define T3_LEN 0x16
#define T4_LEN 0x2A
#define T16_LEN 0x17
#define T17_LEN 0x28
#define T19_LEN 0x1F
#define T32_LEN 0x0B
#define T127_LEN 0x04
#define MAX_FORMATTED 0x30
#define MAX_STRINGS 8

/* Type 0 characteristics (qword at 0x0A) and its two extension bytes. */
#define T0_CHAR_PCI (1ULL << 7)
#define T0_CHAR_CD_BOOT (1ULL << 15)
#define T0_CHAR_SELECTABLE_BOOT (1ULL << 16)
#define T0_CHAR_EDD (1ULL << 19)
#define T0_CHAR_INT9_KEYBOARD (1ULL << 27)
#define T0_CHAR_INT14_SERIAL (1ULL << 28)
#define T0_CHAR_INT10_VIDEO (1ULL << 30)
#define T0_EXT1_ACPI 0x01
#define T0_EXT2_BBS 0x01
#define T0_EXT2_TARGETED_CONTENT 0x04
#define T0_EXT2_VIRTUAL_MACHINE 0x10

#define T1_WAKE_POWER_SWITCH 0x06
#define T3_TYPE_OTHER 0x01
#define T3_STATE_SAFE 0x03
#define T3_SECURITY_UNKNOWN 0x02
#define T4_TYPE_CENTRAL 0x03
#define T4_FAMILY_OTHER 0x01
#define T4_STATUS_POPULATED_ENABLED 0x41
#define T4_UPGRADE_OTHER 0x01
#define T4_CHAR_64BIT 0x0004
#define T4_CHAR_MULTICORE 0x0008
#define T16_LOCATION_OTHER 0x01
#define T16_USE_SYSTEM 0x03
#define T16_ECC_MULTIBIT 0x06
#define T17_FORM_DIMM 0x09
#define T17_TYPE_RAM 0x07
#define T17_DETAIL_OTHER 0x0002
#define NO_HANDLE 0xFFFF
#define NO_ERROR_INFO 0xFFFE

struct writer {
    uint8_t *buf;
    size_t len;
    size_t cap;
    bool overflow;
    unsigned count;
    size_t max_struct;
};

/* One structure being put together. */
struct sb {
    uint8_t f[MAX_FORMATTED];
    unsigned flen;
    char str[MAX_STRINGS][VMM_SMBIOS_MAX_STRING + 1];
    unsigned nstr;
};

static void sb_begin(struct sb *s, uint8_t type, unsigned len, uint16_t handle)
{
    memset(s->f, 0, sizeof(s->f));
    s->flen = len;
    s->nstr = 0;
    s->f[0] = type;
    s->f[1] = (uint8_t)len;
    s->f[2] = (uint8_t)handle;
    s->f[3] = (uint8_t)(handle >> 8);
}

static void put8(struct sb *s, unsigned off, uint8_t v)
{
    if (off < s->flen)
        s->f[off] = v;
}

static void put16(struct sb *s, unsigned off, uint16_t v)
{
    put8(s, off, (uint8_t)v);
    put8(s, off + 1, (uint8_t)(v >> 8));
}

static void put32(struct sb *s, unsigned off, uint32_t v)
{
    put16(s, off, (uint16_t)v);
    put16(s, off + 2, (uint16_t)(v >> 16));
}

static void put64(struct sb *s, unsigned off, uint64_t v)
{
    put32(s, off, (uint32_t)v);
    put32(s, off + 4, (uint32_t)(v >> 32));
}

/* Adds a string (cut, printable ASCII only) and stores its number at off; none: 0. */
static void put_str(struct sb *s, unsigned off, const char *v)
{
    if (!v || !*v || s->nstr >= MAX_STRINGS) {
        put8(s, off, 0);
        return;
    }
    char *d = s->str[s->nstr];
    size_t n = 0;
    for (; v[n] && n < VMM_SMBIOS_MAX_STRING; n++) {
        unsigned char c = (unsigned char)v[n];
        d[n] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    d[n] = 0;
    put8(s, off, (uint8_t)++s->nstr);
}

static void emit(struct writer *w, const struct sb *s)
{
    size_t need = s->flen + (s->nstr ? 1 : 2);
    for (unsigned i = 0; i < s->nstr; i++)
        need += strlen(s->str[i]) + 1;
    if (w->overflow || need > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    uint8_t *p = w->buf + w->len;
    memcpy(p, s->f, s->flen);
    p += s->flen;
    for (unsigned i = 0; i < s->nstr; i++) {
        size_t n = strlen(s->str[i]) + 1;
        memcpy(p, s->str[i], n);
        p += n;
    }
    *p++ = 0;
    if (!s->nstr)
        *p++ = 0;
    w->len += need;
    w->count++;
    if (need > w->max_struct)
        w->max_struct = need;
}

static void type0(struct writer *w, struct sb *s, const struct vmm_smbios_config *c)
{
    sb_begin(s, 0, T0_LEN, VMM_SMBIOS_HANDLE(0, 0));
    put_str(s, 0x04, c->bios_vendor);
    put_str(s, 0x05, c->bios_version);
    put16(s, 0x06, 0xE800); /* the BIOS's starting segment: a 96 KiB runtime image */
    put_str(s, 0x08, c->bios_date);
    put8(s, 0x09, 0); /* ROM size: 64 KiB * (n + 1) */
    put64(s, 0x0A,
          T0_CHAR_PCI | T0_CHAR_CD_BOOT | T0_CHAR_SELECTABLE_BOOT | T0_CHAR_EDD |
              T0_CHAR_INT9_KEYBOARD | T0_CHAR_INT14_SERIAL | T0_CHAR_INT10_VIDEO);
    put8(s, 0x12, T0_EXT1_ACPI);
    put8(s, 0x13, T0_EXT2_BBS | T0_EXT2_TARGETED_CONTENT | T0_EXT2_VIRTUAL_MACHINE);
    put8(s, 0x14, c->bios_major);
    put8(s, 0x15, c->bios_minor);
    put8(s, 0x16, 0xFF); /* no embedded controller */
    put8(s, 0x17, 0xFF);
    emit(w, s);
}

static void type1(struct writer *w, struct sb *s, const struct vmm_smbios_config *c)
{
    sb_begin(s, 1, T1_LEN, VMM_SMBIOS_HANDLE(1, 0));
    put_str(s, 0x04, c->manufacturer);
    put_str(s, 0x05, c->product);
    put_str(s, 0x06, c->version);
    put_str(s, 0x07, c->serial);
    /* Since 2.6 the first three UUID fields are little-endian. */
    static const uint8_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    for (unsigned i = 0; i < 16; i++)
        put8(s, 0x08 + i, c->uuid[order[i]]);
    put8(s, 0x18, T1_WAKE_POWER_SWITCH);
    put_str(s, 0x19, NULL); /* SKU */
    put_str(s, 0x1A, c->family);
    emit(w, s);
}

static void type3(struct writer *w, struct sb *s, const struct vmm_smbios_config *c)
{
    sb_begin(s, 3, T3_LEN, VMM_SMBIOS_HANDLE(3, 0));
    put_str(s, 0x04, c->manufacturer);
    put8(s, 0x05, T3_TYPE_OTHER);
    put_str(s, 0x06, c->version);
    put_str(s, 0x07, c->serial);
    put8(s, 0x09, T3_STATE_SAFE); /* boot-up, power supply, thermal */
    put8(s, 0x0A, T3_STATE_SAFE);
    put8(s, 0x0B, T3_STATE_SAFE);
    put8(s, 0x0C, T3_SECURITY_UNKNOWN);
    /* OEM word, height, power cords, contained elements: 0. */
    emit(w, s);
}

static void type4(struct writer *w, struct sb *s, const struct vmm_smbios_config *c, unsigned i)
{
    char name[16];
    snprintf(name, sizeof(name), "CPU %u", i);
    sb_begin(s, 4, T4_LEN, VMM_SMBIOS_HANDLE(4, i));
    put_str(s, 0x04, name);
    put8(s, 0x05, T4_TYPE_CENTRAL);
    put8(s, 0x06, T4_FAMILY_OTHER);
    put_str(s, 0x07, c->cpu_manufacturer);
    put32(s, 0x08, c->cpuid_signature);
    put32(s, 0x0C, c->cpuid_features);
    put_str(s, 0x10, c->cpu_version);
    /* Voltage, clocks: 0, unknown. */
    put8(s, 0x18, T4_STATUS_POPULATED_ENABLED);
    put8(s, 0x19, T4_UPGRADE_OTHER);
    put16(s, 0x1A, NO_HANDLE); /* no cache structures */
    put16(s, 0x1C, NO_HANDLE);
    put16(s, 0x1E, NO_HANDLE);
    put8(s, 0x23, (uint8_t)c->cores_per_socket);
    put8(s, 0x24, (uint8_t)c->cores_per_socket);
    put8(s, 0x25, (uint8_t)c->cores_per_socket); /* one thread per core */
    put16(s, 0x26, T4_CHAR_64BIT | (c->cores_per_socket > 1 ? T4_CHAR_MULTICORE : 0));
    put16(s, 0x28, T4_FAMILY_OTHER);
    emit(w, s);
}

static void type16(struct writer *w, struct sb *s, uint64_t total, unsigned ndev)
{
    uint64_t kib = total >> 10;
    sb_begin(s, 16, T16_LEN, VMM_SMBIOS_HANDLE(16, 0));
    put8(s, 0x04, T16_LOCATION_OTHER);
    put8(s, 0x05, T16_USE_SYSTEM);
    put8(s, 0x06, T16_ECC_MULTIBIT);
    if (kib < 0x80000000ULL) {
        put32(s, 0x07, (uint32_t)kib);
    } else {
        put32(s, 0x07, 0x80000000u); /* see the extended capacity, in bytes */
        put64(s, 0x0F, total);
    }
    put16(s, 0x0B, NO_ERROR_INFO);
    put16(s, 0x0D, (uint16_t)ndev);
    emit(w, s);
}

static void type17(struct writer *w, struct sb *s, const struct vmm_smbios_config *c, unsigned i,
                   uint64_t size)
{
    char name[16];
    snprintf(name, sizeof(name), "DIMM %u", i);
    sb_begin(s, 17, T17_LEN, VMM_SMBIOS_HANDLE(17, i));
    put16(s, 0x04, VMM_SMBIOS_HANDLE(16, 0));
    put16(s, 0x06, NO_ERROR_INFO);
    put16(s, 0x08, 64); /* total and data width, bits */
    put16(s, 0x0A, 64);
    put16(s, 0x0C, (uint16_t)(size / MIB)); /* MiB: at most 16384, below the 0x7FFF escape */
    put8(s, 0x0E, T17_FORM_DIMM);
    put_str(s, 0x10, name);
    put8(s, 0x12, T17_TYPE_RAM);
    put16(s, 0x13, T17_DETAIL_OTHER);
    put_str(s, 0x17, c->manufacturer);
    emit(w, s);
}

static void type19(struct writer *w, struct sb *s, unsigned i, uint64_t start, uint64_t size)
{
    uint64_t end = start + size - 1; /* inclusive */
    sb_begin(s, 19, T19_LEN, VMM_SMBIOS_HANDLE(19, i));
    if ((end >> 10) < 0xFFFFFFFFULL) {
        put32(s, 0x04, (uint32_t)(start >> 10));
        put32(s, 0x08, (uint32_t)(end >> 10));
    } else {
        put32(s, 0x04, 0xFFFFFFFFu); /* see the extended addresses, in bytes */
        put32(s, 0x08, 0xFFFFFFFFu);
        put64(s, 0x0F, start);
        put64(s, 0x17, end);
    }
    put16(s, 0x0C, VMM_SMBIOS_HANDLE(16, 0));
    put8(s, 0x0E, 1); /* partition width */
    emit(w, s);
}

static void simple(struct writer *w, struct sb *s, uint8_t type, unsigned len)
{
    sb_begin(s, type, len, VMM_SMBIOS_HANDLE(type, 0));
    emit(w, s); /* type 32: reserved bytes and boot status 0, "no errors detected" */
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    while (len--)
        sum += *p++;
    return (uint8_t)-sum;
}

static void entry_point(struct vmm_smbios *out, const struct writer *w)
{
    uint8_t *a = out->anchor;
    memset(a, 0, VMM_SMBIOS_ANCHOR_SIZE);
    memcpy(a, "_SM_", 4);
    a[0x05] = VMM_SMBIOS_ANCHOR_SIZE;
    a[0x06] = SMBIOS_MAJOR;
    a[0x07] = SMBIOS_MINOR;
    a[0x08] = (uint8_t)w->max_struct;
    a[0x09] = (uint8_t)(w->max_struct >> 8);
    memcpy(a + 0x10, "_DMI_", 5);
    a[0x16] = (uint8_t)w->len;
    a[0x17] = (uint8_t)(w->len >> 8);
    /* 0x18: the table's address, 0 here; the firmware writes it and recomputes the sums. */
    a[0x1C] = (uint8_t)w->count;
    a[0x1D] = (uint8_t)(w->count >> 8);
    a[0x1E] = SMBIOS_BCD_REVISION;
    a[0x15] = checksum(a + 0x10, VMM_SMBIOS_ANCHOR_SIZE - 0x10);
    a[0x04] = checksum(a, 0x10);
}

int vmm_smbios_build(const struct vmm_smbios_config *c, struct vmm_smbios *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t total = c->lowmem_size + c->highmem_size;
    if (c->sockets < 1 || c->sockets > VMM_SMBIOS_MAX_SOCKETS || c->cores_per_socket < 1 ||
        c->cores_per_socket > 255 || !c->lowmem_size || c->lowmem_size % MIB ||
        c->highmem_size % MIB || c->lowmem_size > VMM_4GIB || total < c->lowmem_size)
        return -EINVAL;
    uint64_t ndev = (total + VMM_SMBIOS_DEVICE_MAX - 1) / VMM_SMBIOS_DEVICE_MAX;
    if (ndev > 255)
        return -EINVAL; /* handles hold the instance in one byte */

    struct writer w = {.cap = VMM_SMBIOS_MAX_TABLES};
    w.buf = malloc(w.cap);
    struct sb *s = malloc(sizeof(*s));
    if (!w.buf || !s) {
        free(w.buf);
        free(s);
        return -ENOMEM;
    }
    type0(&w, s, c);
    type1(&w, s, c);
    type3(&w, s, c);
    for (unsigned i = 0; i < c->sockets; i++)
        type4(&w, s, c, i);
    type16(&w, s, total, (unsigned)ndev);
    for (unsigned i = 0; i < ndev; i++) {
        uint64_t left = total - i * VMM_SMBIOS_DEVICE_MAX;
        type17(&w, s, c, i, left < VMM_SMBIOS_DEVICE_MAX ? left : VMM_SMBIOS_DEVICE_MAX);
    }
    type19(&w, s, 0, 0, c->lowmem_size);
    if (c->highmem_size)
        type19(&w, s, 1, VMM_4GIB, c->highmem_size);
    simple(&w, s, 32, T32_LEN);
    simple(&w, s, 127, T127_LEN);
    free(s);
    if (w.overflow) {
        free(w.buf);
        return -E2BIG;
    }
    uint8_t *shrunk = realloc(w.buf, w.len);
    out->tables = shrunk ? shrunk : w.buf;
    out->tables_len = w.len;
    out->nstructures = w.count;
    entry_point(out, &w);
    return 0;
}

void vmm_smbios_free(struct vmm_smbios *out)
{
    free(out->tables);
    out->tables = NULL;
    out->tables_len = 0;
}
