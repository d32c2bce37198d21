/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SMBIOS tables (arch/x86/smbios.c) parsed back the way a guest reads them:
 * entry point checksums and counts, every structure's length and string
 * set, unique handles, string numbers in range, memory devices that add up
 * to the RAM and mapped ranges that skip the PCI hole.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/smbios.h"
#include "core/guest-mem.h"
#include "test.h"

#define GIB (1ULL << 30)
#define MIB (1ULL << 20)
#define MAX_PARSED 512

struct parsed {
    const uint8_t *p; /* formatted area */
    unsigned len;     /* formatted length */
    size_t total;     /* with the string set */
    unsigned nstr;
    const char *str[16];
};

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s += *p++;
    return s;
}

/* Splits the table into structures; false (and a failed check) if it is malformed. */
static unsigned parse(const uint8_t *t, size_t len, struct parsed *out)
{
    size_t off = 0;
    unsigned n = 0;
    while (off < len && n < MAX_PARSED) {
        struct parsed *s = &out[n];
        CHECK(len - off >= 4);
        if (len - off < 4)
            return 0;
        s->p = t + off;
        s->len = t[off + 1];
        CHECK(s->len >= 4 && s->len <= len - off);
        if (s->len < 4 || s->len > len - off)
            return 0;
        size_t q = off + s->len;
        s->nstr = 0;
        /* The string set: strings, then one NUL; no strings: two NULs. */
        if (q + 1 < len && t[q] == 0 && t[q + 1] == 0) {
            q += 2;
        } else {
            while (q < len && t[q]) {
                CHECK(s->nstr < 16);
                if (s->nstr < 16)
                    s->str[s->nstr] = (const char *)t + q;
                s->nstr++;
                while (q < len && t[q])
                    q++;
                q++; /* the string's NUL */
            }
            CHECK(q < len);
            if (q >= len)
                return 0;
            q++; /* the set's NUL */
        }
        s->total = q - off;
        off = q;
        n++;
    }
    CHECK_EQ(off, len);
    return n;
}

static const char *str_of(const struct parsed *s, unsigned field)
{
    if (field >= s->len || !s->p[field] || s->p[field] > s->nstr || s->p[field] > 16)
        return "";
    return s->str[s->p[field] - 1];
}

/* String fields of each type we emit (offsets into the formatted area). */
static bool is_string_field(uint8_t type, unsigned off)
{
    static const struct {
        uint8_t type;
        uint8_t offs[8];
    } fields[] = {
        {0, {0x04, 0x05, 0x08}},
        {1, {0x04, 0x05, 0x06, 0x07, 0x19, 0x1A}},
        {3, {0x04, 0x06, 0x07, 0x08, 0x15}},
        {4, {0x04, 0x07, 0x10, 0x20, 0x21, 0x22}},
        {17, {0x10, 0x11, 0x17, 0x18, 0x19, 0x1A}},
    };
    for (unsigned i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        for (unsigned j = 0; fields[i].type == type && j < 8 && fields[i].offs[j]; j++)
            if (fields[i].offs[j] == off)
                return true;
    return false;
}

static void base_config(struct vmm_smbios_config *c, uint64_t ram, unsigned sockets, unsigned cores)
{
    *c = (struct vmm_smbios_config){
        .sockets = sockets,
        .cores_per_socket = cores,
        .cpuid_signature = 0x00a00f11,
        .cpuid_features = 0x178bfbff,
        .cpu_manufacturer = "AuthenticAMD",
        .cpu_version = "AMD EPYC Processor",
        .bios_vendor = VMM_SMBIOS_BIOS_VENDOR,
        .bios_version = VMM_SMBIOS_BIOS_VERSION,
        .bios_date = VMM_SMBIOS_BIOS_DATE,
        .manufacturer = VMM_SMBIOS_MANUFACTURER,
        .product = VMM_SMBIOS_PRODUCT,
        .version = VMM_SMBIOS_VERSION,
        .family = VMM_SMBIOS_FAMILY,
    };
    vmm_guest_mem_layout(ram, &c->lowmem_size, &c->highmem_size);
}

/* Builds, parses and checks one machine; returns the structures for more checks. */
static void check_machine(uint64_t ram, unsigned sockets, unsigned cores)
{
    struct vmm_smbios_config c;
    base_config(&c, ram, sockets, cores);
    static const uint8_t uuid[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                     0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    memcpy(c.uuid, uuid, 16);
    struct vmm_smbios sm;
    int r = vmm_smbios_build(&c, &sm);
    CHECK_EQ(r, 0);
    if (r)
        return;

    /* The 2.x entry point: both checksums, the counts, address left to the firmware. */
    const uint8_t *a = sm.anchor;
    CHECK(!memcmp(a, "_SM_", 4));
    CHECK(!memcmp(a + 0x10, "_DMI_", 5));
    CHECK_EQ(a[0x05], 31);
    CHECK_EQ(a[0x06], 2);
    CHECK_EQ(a[0x07], 8);
    CHECK_EQ(a[0x1E], 0x28);
    CHECK_EQ(sum(a, 0x10), 0);
    CHECK_EQ(sum(a + 0x10, 31 - 0x10), 0);
    CHECK_EQ(rd16(a + 0x16), sm.tables_len);
    CHECK_EQ(rd32(a + 0x18), 0);
    CHECK(sm.tables_len <= VMM_SMBIOS_MAX_TABLES);

    static struct parsed s[MAX_PARSED];
    unsigned n = parse(sm.tables, sm.tables_len, s);
    CHECK_EQ(n, rd16(a + 0x1C));
    CHECK_EQ(n, sm.nstructures);
    size_t max = 0;
    unsigned count[128] = {0};
    uint64_t dev_sum = 0, array_kib = 0;
    unsigned ndev_said = 0, nmapped = 0;
    uint64_t mapped[2][2] = {{0}};
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *p = s[i].p;
        if (s[i].total > max)
            max = s[i].total;
        count[p[0] & 0x7f]++;
        /* Handles unique; each string number points into the set; each string referenced. */
        for (unsigned j = 0; j < i; j++)
            CHECK(rd16(s[j].p + 2) != rd16(p + 2));
        unsigned used = 0;
        for (unsigned off = 4; off < s[i].len; off++) {
            if (!is_string_field(p[0], off))
                continue;
            CHECK(p[off] <= s[i].nstr);
            if (p[off])
                used++;
        }
        CHECK_EQ(used, s[i].nstr);
        for (unsigned k = 0; k < s[i].nstr && k < 16; k++) {
            CHECK(strlen(s[i].str[k]) >= 1 && strlen(s[i].str[k]) <= VMM_SMBIOS_MAX_STRING);
        }
        switch (p[0]) {
        case 0:
            CHECK_EQ(s[i].len, 0x18);
            CHECK(!strcmp(str_of(&s[i], 0x04), "Terrarium"));
            CHECK(!strcmp(str_of(&s[i], 0x08), VMM_SMBIOS_BIOS_DATE));
            CHECK(p[0x13] & 0x10); /* "describes a virtual machine" */
            break;
        case 1:
            CHECK_EQ(s[i].len, 0x1B);
            CHECK(!strcmp(str_of(&s[i], 0x04), "Terrarium"));
            CHECK(!strcmp(str_of(&s[i], 0x05), "Terrarium Virtual Machine"));
            /* 2.6+: time_low, time_mid, time_hi little-endian, the rest as is. */
            CHECK_EQ(rd32(p + 0x08), 0x12345678);
            CHECK_EQ(rd16(p + 0x0C), 0x9abc);
            CHECK_EQ(rd16(p + 0x0E), 0xdef0);
            CHECK(!memcmp(p + 0x10, uuid + 8, 8));
            break;
        case 4:
            CHECK_EQ(s[i].len, 0x2A);
            CHECK_EQ(p[0x23], cores);
            CHECK_EQ(rd32(p + 0x08), 0x00a00f11);
            CHECK(!strcmp(str_of(&s[i], 0x07), "AuthenticAMD"));
            break;
        case 16:
            array_kib = rd32(p + 0x07);
            if (array_kib == 0x80000000u)
                array_kib = rd64(p + 0x0F) >> 10;
            ndev_said = rd16(p + 0x0D);
            break;
        case 17: {
            CHECK_EQ(s[i].len, 0x28);
            CHECK_EQ(rd16(p + 0x04), VMM_SMBIOS_HANDLE(16, 0));
            uint16_t mib = rd16(p + 0x0C);
            CHECK(mib != 0 && mib < 0x7FFF && !(mib & 0x8000));
            CHECK(mib * MIB <= VMM_SMBIOS_DEVICE_MAX);
            dev_sum += mib * MIB;
            break;
        }
        case 19:
            CHECK_EQ(rd16(p + 0x0C), VMM_SMBIOS_HANDLE(16, 0));
            if (nmapped < 2) {
                mapped[nmapped][0] = (uint64_t)rd32(p + 0x04) << 10;
                mapped[nmapped][1] = ((uint64_t)rd32(p + 0x08) << 10) + 1024;
            }
            nmapped++;
            break;
        }
    }
    CHECK_EQ(rd16(a + 0x08), max);
    CHECK_EQ(count[0], 1);
    CHECK_EQ(count[1], 1);
    CHECK_EQ(count[3], 1);
    CHECK_EQ(count[4], sockets);
    CHECK_EQ(count[16], 1);
    CHECK_EQ(count[17], (ram + VMM_SMBIOS_DEVICE_MAX - 1) / VMM_SMBIOS_DEVICE_MAX);
    CHECK_EQ(count[17], ndev_said);
    CHECK_EQ(count[32], 1);
    CHECK_EQ(count[127 & 0x7f], 1);
    CHECK(n > 0 && s[n - 1].p[0] == 127);
    CHECK_EQ(dev_sum, ram);
    CHECK_EQ(array_kib, ram >> 10);
    /* Mapped: RAM below the PCI hole, and the rest from 4 GiB. */
    CHECK_EQ(nmapped, ram > VMM_PCI_HOLE_START ? 2 : 1);
    CHECK_EQ(mapped[0][0], 0);
    CHECK_EQ(mapped[0][1], ram < VMM_PCI_HOLE_START ? ram : VMM_PCI_HOLE_START);
    if (ram > VMM_PCI_HOLE_START) {
        CHECK_EQ(mapped[1][0], VMM_4GIB);
        CHECK_EQ(mapped[1][1], VMM_4GIB + ram - VMM_PCI_HOLE_START);
    }
    vmm_smbios_free(&sm);
}

static void test_machines(void)
{
    static const struct {
        uint64_t ram;
        unsigned sockets, cores;
    } m[] = {
        {16 * MIB, 1, 1},  {512 * MIB, 1, 2}, {3 * GIB, 1, 4},     {4 * GIB, 2, 8},
        {16 * GIB, 1, 16}, {20 * GIB, 4, 64}, {40 * GIB, 64, 255}, {1024 * GIB, 1, 64},
    };
    for (unsigned i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        check_machine(m[i].ram, m[i].sockets, m[i].cores);
}

/* 40 GiB: 16 + 16 + 8 GiB devices, in that order. */
static void test_device_split(void)
{
    struct vmm_smbios_config c;
    base_config(&c, 40 * GIB, 1, 1);
    struct vmm_smbios sm;
    CHECK_EQ(vmm_smbios_build(&c, &sm), 0);
    static struct parsed s[MAX_PARSED];
    unsigned n = parse(sm.tables, sm.tables_len, s);
    uint16_t want[] = {16384, 16384, 8192};
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        if (s[i].p[0] != 17)
            continue;
        CHECK(k < 3);
        if (k < 3)
            CHECK_EQ(rd16(s[i].p + 0x0C), want[k]);
        k++;
    }
    CHECK_EQ(k, 3);
    vmm_smbios_free(&sm);
}

/* Strings are cut and made printable; a missing one is number 0, not an empty string. */
static void test_strings(void)
{
    struct vmm_smbios_config c;
    base_config(&c, 256 * MIB, 1, 1);
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    c.product = longname;
    c.version = "bad\x01\tbytes\xff";
    c.serial = "";
    c.family = NULL;
    struct vmm_smbios sm;
    CHECK_EQ(vmm_smbios_build(&c, &sm), 0);
    static struct parsed s[MAX_PARSED];
    unsigned n = parse(sm.tables, sm.tables_len, s);
    const struct parsed *t1 = NULL;
    for (unsigned i = 0; i < n; i++)
        if (s[i].p[0] == 1)
            t1 = &s[i];
    CHECK(t1 != NULL);
    if (t1) {
        CHECK_EQ(strlen(str_of(t1, 0x05)), VMM_SMBIOS_MAX_STRING);
        CHECK(!strcmp(str_of(t1, 0x06), "bad??bytes?"));
        CHECK_EQ(t1->p[0x07], 0);
        CHECK_EQ(t1->p[0x1A], 0);
        for (unsigned i = 0; i < 16; i++)
            CHECK_EQ(t1->p[0x08 + i], 0); /* no UUID configured */
    }
    vmm_smbios_free(&sm);
}

static void test_rejects(void)
{
    struct vmm_smbios_config c;
    struct vmm_smbios sm;
    base_config(&c, 256 * MIB, 0, 1);
    CHECK_EQ(vmm_smbios_build(&c, &sm), -EINVAL);
    base_config(&c, 256 * MIB, VMM_SMBIOS_MAX_SOCKETS + 1, 1);
    CHECK_EQ(vmm_smbios_build(&c, &sm), -EINVAL);
    base_config(&c, 256 * MIB, 1, 256);
    CHECK_EQ(vmm_smbios_build(&c, &sm), -EINVAL);
    base_config(&c, 256 * MIB, 1, 0);
    CHECK_EQ(vmm_smbios_build(&c, &sm), -EINVAL);
    base_config(&c, 0, 1, 1);
    CHECK_EQ(vmm_smbios_build(&c, &sm), -EINVAL);
    base_config(&c, 256 * MIB + 4096, 1, 1);
    CHECK_EQ(vmm_smbios_build(&c, &sm), -EINVAL);
    base_config(&c, 256 * 16 * GIB, 1, 1); /* 256 memory devices */
    CHECK_EQ(vmm_smbios_build(&c, &sm), -EINVAL);
    base_config(&c, 255 * 16 * GIB, 1, 1); /* 255: the most there are handles for */
    CHECK_EQ(vmm_smbios_build(&c, &sm), 0);
    vmm_smbios_free(&sm);
}

static void test_uuid_text(void)
{
    uint8_t u[16];
    CHECK_EQ(vmm_uuid_parse("12345678-9ABC-def0-1122-334455667788", u), 0);
    CHECK_EQ(u[0], 0x12);
    CHECK_EQ(u[5], 0xbc);
    CHECK_EQ(u[15], 0x88);
    char text[VMM_UUID_STRLEN];
    vmm_uuid_format(u, text);
    CHECK(!strcmp(text, "12345678-9abc-def0-1122-334455667788"));
    CHECK_EQ(vmm_uuid_parse("12345678-9abc-def0-1122-33445566778", u), -EINVAL);
    CHECK_EQ(vmm_uuid_parse("12345678-9abc-def0-1122-3344556677889", u), -EINVAL);
    CHECK_EQ(vmm_uuid_parse("123456789abc-def0-1122-3344-55667788", u), -EINVAL);
    CHECK_EQ(vmm_uuid_parse("12345678-9abc-def0-1122-33445566778g", u), -EINVAL);
    CHECK_EQ(vmm_uuid_parse("", u), -EINVAL);
}

int main(void)
{
    RUN_TEST(test_machines);
    RUN_TEST(test_device_split);
    RUN_TEST(test_strings);
    RUN_TEST(test_rejects);
    RUN_TEST(test_uuid_text);
    return test_finish();
}
