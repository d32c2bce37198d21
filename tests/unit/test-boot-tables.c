/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MP table and the ACPI tables, parsed back the way a guest finds them:
 * scan for the signatures, verify every checksum, walk the pointers.
 */
#include <errno.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/boot-internal.h"
#include "fake-guest-mem.h"
#include "test.h"

/* Scans 16-byte boundaries of [start, end) for sig with a zero checksum over len bytes. */
static uint64_t scan(const struct vmm_guest_mem *m, uint64_t start, uint64_t end, const char *sig,
                     size_t siglen, size_t len)
{
    for (uint64_t a = start; a + len <= end; a += 16) {
        const uint8_t *p = gp(m, a, len);
        if (memcmp(p, sig, siglen) == 0 && byte_sum(p, len) == 0)
            return a;
    }
    return 0;
}

/* ---------------------------------------------------------------- MP table */

static void check_mptable(unsigned ncpus)
{
    struct vmm_guest_mem m = fake_mem_new(16 * MIB, 0);
    uint64_t mpf_addr, mpc_addr;
    const uint8_t *mpf, *mpc, *p, *end;
    unsigned nproc = 0, nbus = 0, nioapic = 0, nint = 0, nlint = 0, entries = 0;
    int seen_irq[16] = {0};

    CHECK_EQ(vmm_mptable_write(&m, ncpus), 0);
    mpf_addr = scan(&m, VMM_BIOS_START, 0x100000, "_MP_", 4, 16);
    CHECK(mpf_addr != 0);
    if (!mpf_addr)
        goto out;
    mpf = gp(&m, mpf_addr, 16);
    CHECK_EQ(mpf_addr & 15, 0);
    CHECK_EQ(mpf[8], 1);
    CHECK_EQ(mpf[9], 4);
    CHECK_EQ(mpf[11], 0); /* a configuration table follows, not a default config */
    mpc_addr = rd32(mpf + 4);
    CHECK(mpc_addr >= VMM_BIOS_START && mpc_addr < 0x100000);
    mpc = gp(&m, mpc_addr, 44);
    CHECK(memcmp(mpc, "PCMP", 4) == 0);
    CHECK_EQ(mpc[6], 4);
    CHECK(mpc_addr + rd16(mpc + 4) <= 0x100000);
    mpc = gp(&m, mpc_addr, rd16(mpc + 4));
    CHECK_EQ(byte_sum(mpc, rd16(mpc + 4)), 0);
    CHECK_EQ(rd32(mpc + 36), VMM_LAPIC_ADDR);
    CHECK_EQ(rd16(mpc + 40), 0); /* no extended table */

    p = mpc + 44;
    end = mpc + rd16(mpc + 4);
    while (p < end) {
        entries++;
        switch (p[0]) {
        case 0: /* processor */
            CHECK_EQ(p[1], nproc);
            CHECK_EQ(p[3] & 1, 1);
            CHECK_EQ((p[3] >> 1) & 1, nproc == 0);
            nproc++;
            p += 20;
            break;
        case 1:
            CHECK(memcmp(p + 2, "ISA   ", 6) == 0);
            CHECK_EQ(p[1], 0);
            nbus++;
            p += 8;
            break;
        case 2:
            CHECK_EQ(p[1], ncpus);
            CHECK_EQ(p[2], 0x11);
            CHECK_EQ(p[3] & 1, 1);
            CHECK_EQ(rd32(p + 4), VMM_IOAPIC_ADDR);
            nioapic++;
            p += 8;
            break;
        case 3:
            CHECK_EQ(p[1], 0); /* INT */
            CHECK_EQ(p[4], 0); /* ISA bus */
            CHECK(p[5] < 16);
            if (p[5] < 16) {
                seen_irq[p[5]]++;
                CHECK_EQ(p[7], p[5] == 0 ? 2 : p[5]);
            }
            CHECK_EQ(p[6], ncpus);
            nint++;
            p += 8;
            break;
        case 4:
            CHECK_EQ(p[6], 0xFF);
            if (p[7] == 0)
                CHECK_EQ(p[1], 3); /* ExtINT on LINT0 */
            else
                CHECK_EQ(p[1], 1); /* NMI on LINT1 */
            CHECK(p[7] <= 1);
            nlint++;
            p += 8;
            break;
        default:
            CHECK(!"unknown MP entry type");
            goto out;
        }
    }
    CHECK(p == end);
    CHECK_EQ(rd16(mpc + 34), entries);
    CHECK_EQ(nproc, ncpus);
    CHECK_EQ(nbus, 1);
    CHECK_EQ(nioapic, 1);
    CHECK_EQ(nint, 15);
    CHECK_EQ(nlint, 2);
    for (unsigned irq = 0; irq < 16; irq++)
        CHECK_EQ(seen_irq[irq], irq == 2 ? 0 : 1);
out:
    fake_mem_free(&m);
}

static void test_mptable(void)
{
    check_mptable(1);
    check_mptable(2);
    check_mptable(VMM_MAX_CPUS);
}

static void test_mptable_errors(void)
{
    struct vmm_guest_mem m = fake_mem_new(16 * MIB, 0);

    CHECK_EQ(vmm_mptable_write(&m, 0), -EINVAL);
    CHECK_EQ(vmm_mptable_write(&m, VMM_MAX_CPUS + 1), -EINVAL);
    CHECK_EQ(vmm_acpi_write(&m, 0), -EINVAL);
    CHECK_EQ(vmm_acpi_write(&m, VMM_MAX_CPUS + 1), -EINVAL);
    /* no RAM behind the BIOS area: refused, never written out of bounds */
    m.lowmem_size = 0xF0000;
    CHECK_EQ(vmm_mptable_write(&m, 1), -EFAULT);
    CHECK_EQ(vmm_acpi_write(&m, 1), -EFAULT);
    m.lowmem_size = 16 * MIB;
    fake_mem_free(&m);
}

/* -------------------------------------------------------------------- ACPI */

/* A system description table at gpa: signature, bounds (BIOS area) and checksum. */
static const uint8_t *sdt(const struct vmm_guest_mem *m, uint64_t gpa, const char *sig)
{
    const uint8_t *t;
    uint32_t len;

    CHECK(gpa >= VMM_BIOS_START && gpa + 36 <= 0x100000);
    if (gpa < VMM_BIOS_START || gpa + 36 > 0x100000)
        return NULL;
    t = gp(m, gpa, 36);
    len = rd32(t + 4);
    CHECK(memcmp(t, sig, 4) == 0);
    CHECK(len >= 36 && gpa + len <= 0x100000);
    if (memcmp(t, sig, 4) != 0 || len < 36 || gpa + len > 0x100000)
        return NULL;
    CHECK_EQ(byte_sum(t, len), 0);
    CHECK(memcmp(t + 10, "TRRIUM", 6) == 0);
    CHECK(memcmp(t + 16, "TERRARIM", 8) == 0);
    /* iasl signs the DSDT as its creator; the tables we build say TRRM. */
    CHECK(memcmp(t, "DSDT", 4) == 0 || memcmp(t + 28, "TRRM", 4) == 0);
    return t;
}

static void check_gas(const uint8_t *g, uint8_t space, uint8_t bits, uint64_t addr)
{
    CHECK_EQ(g[0], space);
    CHECK_EQ(g[1], bits);
    CHECK_EQ(g[2], 0);
    CHECK(g[3] >= 1 && g[3] <= 3);
    CHECK_EQ(rd64(g + 4), addr);
}

struct acpi_found {
    uint64_t rsdp, rsdt, xsdt, fadt, facs, dsdt, madt;
};

static void check_fadt(const struct vmm_guest_mem *m, const uint8_t *f, struct acpi_found *a)
{
    uint32_t flags = rd32(f + 112);
    /* Name (_S5, Package (4) { 5, 5, 0, 0 }) as iasl encodes it. */
    static const uint8_t s5_aml[] = {0x08, '_',
                                     'S',  '5',
                                     '_',  0x12,
                                     0x08, 0x04,
                                     0x0A, VMM_ACPI_SLP_TYP_S5,
                                     0x0A, VMM_ACPI_SLP_TYP_S5,
                                     0x00, 0x00};
    const uint8_t *dsdt, *facs;

    CHECK(f[8] >= 3);
    CHECK(rd32(f + 4) >= 244);
    CHECK_EQ(rd16(f + 46), VMM_ACPI_SCI_IRQ);
    CHECK_EQ(rd32(f + 48), 0); /* SMI_CMD: ACPI mode is always on */
    CHECK_EQ(rd32(f + 56), VMM_ACPI_PM_BASE);
    CHECK_EQ(rd32(f + 60), 0);
    CHECK_EQ(rd32(f + 64), VMM_ACPI_PM1_CNT);
    CHECK_EQ(rd32(f + 76), VMM_ACPI_PM_TMR);
    CHECK_EQ(f[88], 4);
    CHECK_EQ(f[89], 2);
    CHECK_EQ(f[91], 4);
    CHECK(rd16(f + 96) > 100);
    CHECK(rd16(f + 98) > 1000);
    CHECK_EQ(rd16(f + 109) & 2, 2);         /* an 8042 keyboard controller */
    CHECK_EQ(rd16(f + 109) & 0x20, 0);      /* and a CMOS RTC ... */
    CHECK_EQ(f[108], 0x32);                 /* ... with its century at CMOS 0x32 */
    CHECK_EQ(flags & (1u << 0), 1u << 0);   /* WBINVD */
    CHECK_EQ(flags & (1u << 2), 1u << 2);   /* PROC_C1 */
    CHECK_EQ(flags & (1u << 4), 0);         /* fixed-feature power button */
    CHECK_EQ(flags & (1u << 5), 1u << 5);   /* no fixed sleep button */
    CHECK_EQ(flags & (1u << 8), 0);         /* 24-bit PM timer */
    CHECK_EQ(flags & (1u << 10), 1u << 10); /* RESET_REG_SUP */
    CHECK_EQ(flags & (1u << 20), 0);        /* not hardware-reduced */
    check_gas(f + 116, 1, 8, VMM_RESET_PORT);
    CHECK_EQ(f[128], VMM_RESET_VALUE);
    /* the X_ blocks say what the 32-bit ones say */
    check_gas(f + 148, 1, 32, VMM_ACPI_PM_BASE);
    check_gas(f + 172, 1, 16, VMM_ACPI_PM1_CNT);
    check_gas(f + 208, 1, 32, VMM_ACPI_PM_TMR);
    CHECK_EQ(rd64(f + 160), 0);
    CHECK_EQ(rd64(f + 184 + 4), 0);
    CHECK_EQ(rd64(f + 140), rd32(f + 40));
    CHECK(rd64(f + 132) == 0 || rd64(f + 132) == rd32(f + 36));

    a->facs = rd32(f + 36) ? rd32(f + 36) : rd64(f + 132);
    facs = gp(m, a->facs, 64);
    CHECK(memcmp(facs, "FACS", 4) == 0);
    CHECK_EQ(rd32(facs + 4), 64);
    CHECK_EQ(a->facs & 63, 0);
    CHECK(a->facs >= VMM_BIOS_START && a->facs + 64 <= 0x100000);

    a->dsdt = rd64(f + 140);
    dsdt = sdt(m, a->dsdt, "DSDT");
    if (dsdt) {
        uint32_t len = rd32(dsdt + 4);
        CHECK(len > 1000);
        CHECK(memmem(dsdt + 36, len - 36, s5_aml, sizeof(s5_aml)) != NULL);
        CHECK(memmem(dsdt + 36, len - 36, "PCI0", 4) != NULL);
        CHECK(memmem(dsdt + 36, len - 36, "_PRT", 4) != NULL);
        CHECK(memmem(dsdt + 36, len - 36, "LNKD", 4) != NULL);
    }
}

static void check_madt(const uint8_t *t, unsigned ncpus)
{
    const uint8_t *p = t + 44, *end = t + rd32(t + 4);
    unsigned nlapic = 0, nioapic = 0, niso = 0, nnmi = 0;

    CHECK_EQ(rd32(t + 36), VMM_LAPIC_ADDR);
    CHECK_EQ(rd32(t + 40) & 1, 1);
    while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
        switch (p[0]) {
        case 0:
            CHECK_EQ(p[1], 8);
            CHECK_EQ(p[3], nlapic);
            CHECK_EQ(rd32(p + 4) & 1, 1);
            nlapic++;
            break;
        case 1:
            CHECK_EQ(p[1], 12);
            CHECK_EQ(p[2], ncpus);
            CHECK_EQ(rd32(p + 4), VMM_IOAPIC_ADDR);
            CHECK_EQ(rd32(p + 8), 0);
            nioapic++;
            break;
        case 2:
            CHECK_EQ(p[1], 10);
            CHECK_EQ(p[2], 0);
            if (p[3] == 0) {
                CHECK_EQ(rd32(p + 4), 2);
            } else {
                /* SCI and the PCI link IRQs: identity-mapped, active high, level */
                CHECK(p[3] == VMM_ACPI_SCI_IRQ || p[3] == 5 || p[3] == 10 || p[3] == 11);
                CHECK_EQ(rd32(p + 4), p[3]);
                CHECK_EQ(rd16(p + 8), 0x000D);
            }
            niso++;
            break;
        case 4:
            CHECK_EQ(p[1], 6);
            CHECK_EQ(p[2], 0xFF);
            CHECK_EQ(p[5], 1); /* LINT1 */
            nnmi++;
            break;
        default:
            CHECK(!"unexpected MADT entry");
        }
        p += p[1];
    }
    CHECK(p == end);
    CHECK_EQ(nlapic, ncpus);
    CHECK_EQ(nioapic, 1);
    CHECK_EQ(niso, 5);
    CHECK_EQ(nnmi, 1);
}

static int walk_acpi(const struct vmm_guest_mem *m, unsigned ncpus, struct acpi_found *a)
{
    const uint8_t *rsdp, *xsdt, *rsdt, *fadt = NULL, *madt = NULL;
    unsigned n;

    memset(a, 0, sizeof(*a));
    /* where a guest looks: 16-byte boundaries of 0xE0000-0xFFFFF, v1 checksum over 20 bytes */
    a->rsdp = scan(m, 0xE0000, 0x100000, "RSD PTR ", 8, 20);
    CHECK(a->rsdp != 0);
    if (!a->rsdp)
        return -1;
    rsdp = gp(m, a->rsdp, 36);
    CHECK_EQ(rsdp[15], 2);
    CHECK_EQ(rd32(rsdp + 20), 36);
    CHECK_EQ(byte_sum(rsdp, 36), 0);
    CHECK(memcmp(rsdp + 9, "TRRIUM", 6) == 0);
    CHECK(a->rsdp >= VMM_BIOS_START);

    a->xsdt = rd64(rsdp + 24);
    a->rsdt = rd32(rsdp + 16);
    xsdt = sdt(m, a->xsdt, "XSDT");
    rsdt = sdt(m, a->rsdt, "RSDT");
    if (!xsdt || !rsdt)
        return -1;
    n = (rd32(xsdt + 4) - 36) / 8;
    CHECK_EQ((rd32(rsdt + 4) - 36) / 4, n);
    for (unsigned i = 0; i < n; i++) {
        uint64_t addr = rd64(xsdt + 36 + i * 8);
        const uint8_t *t = gp(m, addr, 4);
        CHECK_EQ(rd32(rsdt + 36 + i * 4), addr); /* RSDT lists the same tables */
        if (memcmp(t, "FACP", 4) == 0) {
            a->fadt = addr;
            fadt = sdt(m, addr, "FACP");
        } else if (memcmp(t, "APIC", 4) == 0) {
            a->madt = addr;
            madt = sdt(m, addr, "APIC");
        } else {
            CHECK(!"unexpected table in the XSDT");
        }
    }
    CHECK(fadt != NULL);
    CHECK(madt != NULL);
    if (fadt)
        check_fadt(m, fadt, a);
    if (madt)
        check_madt(madt, ncpus);
    return fadt && madt ? 0 : -1;
}

static void check_acpi(unsigned ncpus)
{
    struct vmm_guest_mem m = fake_mem_new(16 * MIB, 0);
    struct acpi_found a;
    uint64_t mpf, mpc;

    CHECK_EQ(vmm_mptable_write(&m, ncpus), 0);
    CHECK_EQ(vmm_acpi_write(&m, ncpus), 0);
    if (walk_acpi(&m, ncpus, &a) == 0) {
        /* the MP table (written first) survived: ACPI does not overlap it */
        mpf = scan(&m, VMM_BIOS_START, 0x100000, "_MP_", 4, 16);
        CHECK(mpf != 0);
        mpc = rd32(gp(&m, mpf + 4, 4));
        CHECK_EQ(byte_sum(gp(&m, mpc, rd16(gp(&m, mpc + 4, 2))), rd16(gp(&m, mpc + 4, 2))), 0);
        CHECK(a.rsdp >= mpc + rd16(gp(&m, mpc + 4, 2)));
    }
    fake_mem_free(&m);
}

static void test_acpi(void)
{
    check_acpi(1);
    check_acpi(2);
    check_acpi(VMM_MAX_CPUS);
}

/* The tables survive a second write (reset reloads the kernel) and a dirty BIOS area. */
static void test_acpi_rewrite(void)
{
    struct vmm_guest_mem m = fake_mem_new(16 * MIB, 0);
    struct acpi_found a;

    memset(gp(&m, VMM_BIOS_START, 0x10000), 0xFF, 0x10000);
    CHECK_EQ(vmm_mptable_write(&m, 3), 0);
    CHECK_EQ(vmm_acpi_write(&m, 3), 0);
    CHECK_EQ(vmm_acpi_write(&m, 3), 0);
    CHECK_EQ(walk_acpi(&m, 3, &a), 0);
    fake_mem_free(&m);
}

/*
 * The same tables whatever the host's heap held before: the builder's
 * buffer comes from malloc, which M_PERTURB fills with a different byte each
 * time here; the RSDP's reserved bytes and the padding between tables must
 * not carry it into the guest.
 */
static void test_acpi_deterministic(void)
{
    struct vmm_guest_mem m1 = fake_mem_new(16 * MIB, 0), m2 = fake_mem_new(16 * MIB, 0);
    const uint64_t from = 0xF1000, len = 0xF000;

    mallopt(M_PERTURB, 0x3C);
    CHECK_EQ(vmm_acpi_write(&m1, 2), 0);
    mallopt(M_PERTURB, 0xC3);
    CHECK_EQ(vmm_acpi_write(&m2, 2), 0);
    mallopt(M_PERTURB, 0);
    CHECK(memcmp(gp(&m1, from, len), gp(&m2, from, len), len) == 0);
    CHECK_EQ(gp(&m1, from + 0x21, 3)[0] | gp(&m1, from + 0x22, 1)[0] | gp(&m1, from + 0x23, 1)[0],
             0);
    fake_mem_free(&m1);
    fake_mem_free(&m2);
}

/* ---------------------------------------------------- iasl, when installed */

static int have_program(const char *name)
{
    const char *path = getenv("PATH");
    char buf[4096];

    if (!path)
        return 0;
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof(buf) - strlen(name) - 2) {
            snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
            if (access(buf, X_OK) == 0)
                return 1;
        }
        path += n;
        if (*path == ':')
            path++;
    }
    return 0;
}

static int dump(const char *dir, const char *name, const uint8_t *p, size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    f = fopen(path, "wb");
    if (!f)
        return -1;
    fwrite(p, 1, len, f);
    return fclose(f);
}

/*
 * Runs iasl -d on one table: returns 1 if it disassembled cleanly (iasl checks
 * checksums and lengths and says so), 0 if it complained; expect, if given,
 * must appear in the .dsl output.
 */
static int disassemble(const char *dir, const char *name, const char *expect)
{
    char cmd[1024], path[512], line[512];
    FILE *f;
    int status, complained = 0, found = expect == NULL;

    snprintf(cmd, sizeof(cmd), "cd '%s' && iasl -d %s.dat > %s.log 2>&1", dir, name, name);
    status = system(cmd);
    snprintf(path, sizeof(path), "%s/%s.log", dir, name);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f)) {
        if (strstr(line, "rror") || strstr(line, "arning") || strstr(line, "Invalid") ||
            strstr(line, "ncorrect")) {
            complained = 1;
            if (!getenv("IASL_QUIET"))
                fprintf(stderr, "  iasl on %s: %s", name, line);
        }
    }
    if (f)
        fclose(f);
    snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f)) {
        if (expect && strstr(line, expect))
            found = 1;
    }
    if (f)
        fclose(f);
    return status == 0 && !complained && f != NULL && found;
}

static void test_iasl(void)
{
    struct vmm_guest_mem m = fake_mem_new(16 * MIB, 0);
    struct acpi_found a;
    char dir[] = "/tmp/terrarium-acpi-XXXXXX";
    char cmd[256];

    if (!have_program("iasl")) {
        printf("# iasl not installed: table disassembly not checked\n");
        fake_mem_free(&m);
        return;
    }
    CHECK_EQ(vmm_acpi_write(&m, 4), 0);
    CHECK(mkdtemp(dir) != NULL);
    if (walk_acpi(&m, 4, &a) == 0) {
        uint8_t bad[244];

        /* (iasl cannot take a lone RSDP; walk_acpi checked it) */
        dump(dir, "xsdt", gp(&m, a.xsdt, 36), rd32(gp(&m, a.xsdt + 4, 4)));
        dump(dir, "rsdt", gp(&m, a.rsdt, 36), rd32(gp(&m, a.rsdt + 4, 4)));
        dump(dir, "facp", gp(&m, a.fadt, 36), rd32(gp(&m, a.fadt + 4, 4)));
        dump(dir, "apic", gp(&m, a.madt, 36), rd32(gp(&m, a.madt + 4, 4)));
        dump(dir, "facs", gp(&m, a.facs, 64), 64);
        dump(dir, "dsdt", gp(&m, a.dsdt, 36), rd32(gp(&m, a.dsdt + 4, 4)));
        CHECK(disassemble(dir, "xsdt", "XSDT"));
        CHECK(disassemble(dir, "rsdt", "RSDT"));
        CHECK(disassemble(dir, "facp", "SCI Interrupt : 0009"));
        CHECK(disassemble(dir, "apic", "[Local APIC NMI]"));
        CHECK(disassemble(dir, "facs", "FACS"));
        CHECK(disassemble(dir, "dsdt", "Name (_S5, Package (0x04)"));
        /* and the check itself can fail: a table with a broken checksum is flagged */
        memcpy(bad, gp(&m, a.fadt, sizeof(bad)), sizeof(bad));
        bad[46] ^= 1;
        dump(dir, "bad", bad, sizeof(bad));
        setenv("IASL_QUIET", "1", 1);
        CHECK(!disassemble(dir, "bad", NULL));
        unsetenv("IASL_QUIET");
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", dir);
    fake_mem_free(&m);
}

/*
 * The firmware path: run the table-loader script the way SeaBIOS does
 * (allocate each file, add the allocated addresses to the pointer fields,
 * fix the checksums) into fake RAM, then walk the result like a guest.
 */
static void run_loader(struct vmm_guest_mem *m, const struct vmm_acpi_fw_cfg *acpi,
                       uint64_t rsdp_gpa, uint64_t tables_gpa)
{
    uint8_t *rsdp = gp(m, rsdp_gpa, sizeof(acpi->rsdp));
    uint8_t *tables = gp(m, tables_gpa, acpi->tables_len);
    memcpy(rsdp, acpi->rsdp, sizeof(acpi->rsdp));
    memcpy(tables, acpi->tables, acpi->tables_len);
    CHECK_EQ(acpi->loader_len % 128, 0);
    unsigned nalloc = 0, nptr = 0, nck = 0;
    for (size_t o = 0; o + 128 <= acpi->loader_len; o += 128) {
        const uint8_t *e = acpi->loader + o;
        const char *file = (const char *)e + 4;
        bool is_rsdp = strcmp(file, VMM_ACPI_RSDP_FILE) == 0;
        CHECK(is_rsdp || strcmp(file, VMM_ACPI_TABLES_FILE) == 0);
        uint8_t *base = is_rsdp ? rsdp : tables;
        size_t blen = is_rsdp ? sizeof(acpi->rsdp) : acpi->tables_len;
        switch (rd32(e)) {
        case 1: /* ALLOCATE: align, zone */
            CHECK(nptr == 0 && nck == 0);
            CHECK_EQ(rd32(e + 60) & (rd32(e + 60) - 1), 0);
            nalloc++;
            break;
        case 2: { /* ADD_POINTER: dest, src, offset, size */
            CHECK(strcmp((const char *)e + 60, VMM_ACPI_TABLES_FILE) == 0);
            uint32_t off = rd32(e + 116);
            uint8_t size = e[120];
            CHECK((size == 4 || size == 8) && off + size <= blen);
            if (size == 4)
                wr32(base + off, rd32(base + off) + (uint32_t)tables_gpa);
            else
                wr64(base + off, rd64(base + off) + tables_gpa);
            CHECK(nck == 0); /* pointers before checksums */
            nptr++;
            break;
        }
        case 3: { /* ADD_CHECKSUM: offset, start, length */
            uint32_t off = rd32(e + 60), start = rd32(e + 64), len = rd32(e + 68);
            CHECK(off < blen && start + len <= blen && off >= start && off < start + len);
            base[off] -= byte_sum(base + start, len);
            nck++;
            break;
        }
        default:
            CHECK(!"unknown loader command");
        }
    }
    CHECK_EQ(nalloc, 2);
    CHECK(nptr >= 8);
    CHECK(nck >= 6);
}

static void test_acpi_loader(void)
{
    for (unsigned ncpus = 1; ncpus <= 8; ncpus *= 2) {
        struct vmm_guest_mem m = fake_mem_new(16 * MIB, 0);
        struct vmm_acpi_fw_cfg acpi;
        struct acpi_found a;
        CHECK_EQ(vmm_acpi_build_fw_cfg(ncpus, &acpi), 0);
        /* Where SeaBIOS might put them: RSDP in the F segment, tables elsewhere there. */
        run_loader(&m, &acpi, 0xF5A40, 0xF8000);
        CHECK_EQ(walk_acpi(&m, ncpus, &a), 0);
        CHECK_EQ(a.rsdp, 0xF5A40);
        CHECK(a.dsdt >= 0xF8000 && a.dsdt < 0xF8000 + acpi.tables_len);
        vmm_acpi_fw_cfg_free(&acpi);
        fake_mem_free(&m);
    }
}

int main(void)
{
    RUN_TEST(test_mptable);
    RUN_TEST(test_mptable_errors);
    RUN_TEST(test_acpi);
    RUN_TEST(test_acpi_rewrite);
    RUN_TEST(test_acpi_deterministic);
    RUN_TEST(test_iasl);
    RUN_TEST(test_acpi_loader);
    return test_finish();
}
