/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The decompressed-kernel cache and the vmlinux loader, with the installed
 * Debian kernel (/boot/vmlinuz-*, skipped when there is none) on fake guest
 * RAM and a private cache directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "arch/x86/boot-internal.h"
#include "core/util.h"
#include "fake-guest-mem.h"
#include "test.h"

static uint8_t *kernel;
static size_t kernel_len;
static char kernel_path[512];
static struct vmm_blob vmlinux; /* what the kernel's payload unpacks to */
static char workdir[512];
static char cache_name[128]; /* the cache file's name for this kernel, from the round trip */

#define RAM (512 * MIB)
#define CMDLINE "console=ttyS0 quiet"

/* Header fields, read straight from the image. */
static size_t setup_size(const uint8_t *img)
{
    return (size_t)((img[0x1F1] ? img[0x1F1] : 4) + 1) * 512;
}

static uint64_t pref_address(void)
{
    return rd64(kernel + 0x258);
}

static uint64_t init_size(void)
{
    return rd32(kernel + 0x260);
}

/* ELF64 fields, read independently of vmlinux.c. */
#define E_ENTRY(e) rd64((e) + 24)
#define E_PHOFF(e) rd64((e) + 32)
#define E_PHNUM(e) rd16((e) + 56)
#define PH(e, i) ((e) + E_PHOFF(e) + (size_t)(i)*56)
#define PH_TYPE(p) rd32(p)
#define PH_FLAGS(p) rd32((p) + 4)
#define PH_OFFSET(p) rd64((p) + 8)
#define PH_PADDR(p) rd64((p) + 24)
#define PH_FILESZ(p) rd64((p) + 32)
#define PH_MEMSZ(p) rd64((p) + 40)

/* The i-th PT_LOAD program header, or NULL. */
static uint8_t *load_ph(uint8_t *e, unsigned want)
{
    for (unsigned i = 0, n = 0; i < E_PHNUM(e); i++)
        if (PH_TYPE(PH(e, i)) == 1 && n++ == want)
            return PH(e, i);
    return NULL;
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;

    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
        fclose(f);
        return -1;
    }
    *data = malloc((size_t)n + 1);
    if (!*data || fread(*data, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(*data);
        *data = NULL;
        return -1;
    }
    fclose(f);
    *len = (size_t)n;
    return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* Same bytes as the fresh decompression? */
static int file_is_vmlinux(const char *path)
{
    uint8_t *d;
    size_t n;
    int same;

    if (!path || read_file(path, &d, &n) < 0)
        return 0;
    same = n == vmlinux.len && memcmp(d, vmlinux.data, n) == 0;
    free(d);
    return same;
}

static unsigned count_entries(const char *dir)
{
    glob_t g;
    char pat[600];
    unsigned n;

    snprintf(pat, sizeof(pat), "%s/*", dir);
    if (glob(pat, GLOB_PERIOD, NULL, &g) != 0)
        return 0;
    n = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *b = strrchr(g.gl_pathv[i], '/') + 1;
        if (strcmp(b, ".") && strcmp(b, ".."))
            n++;
    }
    globfree(&g);
    return n;
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

static void find_kernel(void)
{
    glob_t g;

    if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0)
        TEST_SKIP("no /boot/vmlinuz-* installed (apt-get install linux-image-amd64)");
    for (size_t i = 0; i < g.gl_pathc && !kernel; i++) {
        if (read_file(g.gl_pathv[i], &kernel, &kernel_len) == 0) {
            printf("# kernel: %s (%zu bytes)\n", g.gl_pathv[i], kernel_len);
            snprintf(kernel_path, sizeof(kernel_path), "%s", g.gl_pathv[i]);
        }
    }
    globfree(&g);
    if (!kernel)
        TEST_SKIP("no readable /boot/vmlinuz-*");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* ------------------------------------------------------------------------------------ */

static void test_decompress(void)
{
    struct vmm_error err = {0};
    size_t ss = setup_size(kernel);
    const uint8_t *payload = kernel + ss + rd32(kernel + 0x248);
    size_t plen = rd32(kernel + 0x24C);
    struct vmm_vmlinux vl;
    uint8_t *e;
    int entry_in_load = 0;

    CHECK_EQ(vmm_bzimage_decompress(kernel, kernel_len, &vmlinux, &err), 0);
    if (!vmlinux.data) {
        fprintf(stderr, "  error: %s\n", err.msg);
        TEST_SKIP("this kernel's payload cannot be unpacked: %s", err.msg);
    }
    e = vmlinux.data;
    printf("# payload %02x%02x%02x%02x..., unpacked to %zu bytes\n", payload[0], payload[1],
           payload[2], payload[3], vmlinux.len);
    /* the size kbuild appends to the compressed data */
    CHECK_EQ(vmlinux.len, rd32(payload + plen - 4));
    /* ELF64, little-endian, x86-64 executable */
    CHECK(e[0] == 0x7F && memcmp(e + 1, "ELF", 3) == 0);
    CHECK_EQ(e[4], 2);
    CHECK_EQ(e[5], 1);
    CHECK_EQ(rd16(e + 16), 2);
    CHECK_EQ(rd16(e + 18), 62);
    CHECK(E_PHNUM(e) >= 1);
    CHECK(E_PHOFF(e) + E_PHNUM(e) * 56ULL <= vmlinux.len);
    for (unsigned i = 0; i < E_PHNUM(e); i++) {
        const uint8_t *ph = PH(e, i);
        if (PH_TYPE(ph) != 1)
            continue;
        CHECK(PH_OFFSET(ph) + PH_FILESZ(ph) <= vmlinux.len);
        CHECK(PH_FILESZ(ph) <= PH_MEMSZ(ph));
        if (E_ENTRY(e) >= PH_PADDR(ph) && E_ENTRY(e) < PH_PADDR(ph) + PH_FILESZ(ph) &&
            (PH_FLAGS(ph) & 1))
            entry_in_load = 1;
    }
    CHECK(entry_in_load);
    /* the kernel proper is linked at pref_address and fits in init_size */
    CHECK_EQ(vmm_vmlinux_parse(e, vmlinux.len, vmlinux.len, pref_address(),
                               pref_address() + init_size(), &vl, &err),
             0);
    CHECK_EQ(vl.entry, E_ENTRY(e));
    CHECK_EQ(vl.start, pref_address());
    CHECK(vl.end <= pref_address() + init_size());
}

/* The zero page, command line, tables and registers every 64-bit Linux entry shares. */
static void check_boot_data(const struct vmm_guest_mem *m, const struct vmm_boot_entry *e,
                            uint64_t rip)
{
    const uint8_t *bp = gp(m, VMM_BOOT_ZERO_PAGE, 4096);

    CHECK(memcmp(bp + 0x202, "HdrS", 4) == 0);
    CHECK_EQ(bp[0x210], 0xFF);
    CHECK_EQ(bp[0x211] & 0x83, 0x81); /* LOADED_HIGH, CAN_USE_HEAP; no KASLR_FLAG */
    CHECK_EQ(rd32(bp + 0x228), VMM_BOOT_CMDLINE);
    CHECK(strcmp((const char *)gp(m, VMM_BOOT_CMDLINE, sizeof(CMDLINE)), CMDLINE) == 0);
    CHECK_EQ(rd64(bp + 0x70), 0xF1000);
    CHECK(memcmp(gp(m, 0xF1000, 8), "RSD PTR ", 8) == 0);
    CHECK(bp[0x1E8] >= 4);
    CHECK_EQ(e->mode, VMM_ENTRY_LONG64);
    CHECK_EQ(e->rip, rip);
    CHECK_EQ(e->rsi, VMM_BOOT_ZERO_PAGE);
    CHECK_EQ(e->cr3, VMM_BOOT_PML4);
    CHECK_EQ(e->gdt_base, VMM_BOOT_GDT_ADDR);
    /* the identity map covers the entry: PML4[0] -> PDPT[0] -> 2 MiB page */
    {
        uint64_t pdpt = rd64(gp(m, VMM_BOOT_PML4, 8)) & ~0xFFFULL;
        uint64_t pd = rd64(gp(m, pdpt + ((rip >> 30) & 511) * 8, 8)) & ~0xFFFULL;
        uint64_t pde = rd64(gp(m, pd + ((rip >> 21) & 511) * 8, 8));
        CHECK_EQ(pde & 0x83, 0x83);
        CHECK_EQ(pde & ~0x1FFFFFULL & 0xFFFFFFFFFFULL, rip & ~0x1FFFFFULL);
    }
}

static void check_segments(const struct vmm_guest_mem *m)
{
    uint8_t *ph;

    for (unsigned i = 0; (ph = load_ph(vmlinux.data, i)); i++) {
        uint64_t pa = PH_PADDR(ph), fs = PH_FILESZ(ph), ms = PH_MEMSZ(ph);
        const uint8_t *g = gp(m, pa, ms);
        int zero = 1;
        CHECK(memcmp(g, vmlinux.data + PH_OFFSET(ph), fs) == 0);
        for (uint64_t j = fs; j < ms && zero; j++)
            zero = g[j] == 0;
        CHECK(zero);
    }
}

static void test_load_vmlinux(void)
{
    struct vmm_guest_mem m = fake_mem_new(RAM, 0), mb = fake_mem_new(RAM, 0);
    struct vmm_boot_entry e, eb;
    struct vmm_error err = {0};
    size_t ilen = 3 * MIB + 77;
    uint8_t *initrd = pattern(ilen, 5);
    uint64_t kend = pref_address() + init_size(), initrd_max = rd32(kernel + 0x22C);
    uint8_t *bp;
    int r;

    /* RAM left dirty by an earlier boot: bss must come out zeroed */
    memset(gp(&m, pref_address(), init_size()), 0xAA, init_size());
    r = vmm_bzimage_load_vmlinux(&m, 2, kernel, kernel_len, vmlinux.data, vmlinux.len, initrd, ilen,
                                 CMDLINE, &e, &err);
    CHECK_EQ(r, 0);
    if (r < 0) {
        fprintf(stderr, "  error: %s\n", err.msg);
        goto out;
    }
    check_segments(&m);
    check_boot_data(&m, &e, E_ENTRY(vmlinux.data));
    /* the compressed payload is not copied to 1 MiB */
    CHECK_EQ(rd64(gp(&m, VMM_KERNEL_LOAD, 8)), 0);

    /* initrd: page-aligned, above the kernel (bss, brk and init_size), below initrd_addr_max */
    bp = gp(&m, VMM_BOOT_ZERO_PAGE, 4096);
    {
        uint64_t ia = rd32(bp + 0x218), top = initrd_max + 1 < RAM ? initrd_max + 1 : RAM;
        uint8_t *ph;
        CHECK_EQ(rd32(bp + 0x21C), ilen);
        CHECK_EQ(ia & 0xFFF, 0);
        CHECK(ia >= kend);
        for (unsigned i = 0; (ph = load_ph(vmlinux.data, i)); i++)
            CHECK(ia >= PH_PADDR(ph) + PH_MEMSZ(ph));
        CHECK(ia + ilen <= top);
        CHECK(top - (ia + ilen) < 4096);
        CHECK(memcmp(gp(&m, ia, ilen), initrd, ilen) == 0);
    }

    /* The same zero page, command line and tables as the bzImage path writes. */
    CHECK_EQ(vmm_bzimage_load(&mb, 2, kernel, kernel_len, initrd, ilen, CMDLINE, &eb, &err), 0);
    CHECK(memcmp(gp(&m, VMM_BOOT_ZERO_PAGE, 4096), gp(&mb, VMM_BOOT_ZERO_PAGE, 4096), 4096) == 0);
    CHECK(memcmp(gp(&m, 0, VMM_KERNEL_LOAD), gp(&mb, 0, VMM_KERNEL_LOAD), VMM_KERNEL_LOAD) == 0);
    CHECK_EQ(eb.rip, VMM_KERNEL_LOAD + 0x200);
    CHECK_EQ(e.gdt_limit, eb.gdt_limit);
out:
    free(initrd);
    fake_mem_free(&m);
    fake_mem_free(&mb);
}

/*
 * Fresh RAM (mem.zeroed): the same guest-visible contents, and the zero pages
 * of the segments are never touched, so the host does not allocate them.
 */
static void test_load_vmlinux_fresh(void)
{
    struct vmm_guest_mem m = fake_mem_new(RAM, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};
    uint8_t *ph;
    unsigned skipped = 0, written = 0, wrong = 0;

    /* 4 KiB pages, so residency says which pages were written */
    CHECK_EQ(madvise(m.base, RAM, MADV_NOHUGEPAGE), 0);
    m.zeroed = true;
    CHECK_EQ(vmm_bzimage_load_vmlinux(&m, 1, kernel, kernel_len, vmlinux.data, vmlinux.len, NULL, 0,
                                      CMDLINE, &e, &err),
             0);
    /* residency first: reading a never-written page maps the zero page, which counts */
    for (unsigned i = 0; (ph = load_ph(vmlinux.data, i)); i++) {
        uint64_t pa = PH_PADDR(ph), fs = PH_FILESZ(ph);
        const uint8_t *src = vmlinux.data + PH_OFFSET(ph);
        /* whole pages of the file bytes (the Debian kernel's segments are page-aligned) */
        for (uint64_t off = (4096 - pa % 4096) % 4096; off + 4096 <= fs; off += 4096) {
            unsigned char in_core = 0;
            bool zero = vmm_page_is_zero(src + off);
            CHECK_EQ(mincore(gp(&m, pa + off, 4096), 4096, &in_core), 0);
            if (zero && !(in_core & 1))
                skipped++;
            else if (!zero && (in_core & 1))
                written++;
            else
                wrong++;
        }
    }
    if (getenv("TEST_VERBOSE"))
        printf("# fresh RAM: %u zero pages left alone, %u pages written\n", skipped, written);
    CHECK_EQ(wrong, 0);
    CHECK(skipped > 1000); /* bss alone is megabytes */
    CHECK(written > 1000);
    check_segments(&m);
    check_boot_data(&m, &e, E_ENTRY(vmlinux.data));
    fake_mem_free(&m);
}

/* A damaged ELF is refused with a sentence, and nothing is written to RAM. */
static void expect_bad_elf(const uint8_t *elf, size_t len, const char *what, int line)
{
    struct vmm_guest_mem m = fake_mem_new(RAM, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};
    int r =
        vmm_bzimage_load_vmlinux(&m, 1, kernel, kernel_len, elf, len, NULL, 0, CMDLINE, &e, &err);

    test_checks++;
    if (r >= 0 || err.code != r || !err.msg[0]) {
        test_failures++;
        fprintf(stderr, "%s:%d: %s: accepted (ret %d, \"%s\")\n", __FILE__, line, what, r, err.msg);
    } else if (getenv("TEST_VERBOSE")) {
        printf("# %s: %s\n", what, err.msg);
    }
    CHECK_EQ(rd32(gp(&m, VMM_BOOT_ZERO_PAGE + 0x202, 4)), 0);
    CHECK_EQ(rd64(gp(&m, pref_address(), 8)), 0);
    fake_mem_free(&m);
}

#define BAD_ELF(elf, len, what) expect_bad_elf(elf, len, what, __LINE__)

/* A copy of the good ELF for one mutation. */
static uint8_t *elf_copy(void)
{
    uint8_t *c = malloc(vmlinux.len);
    memcpy(c, vmlinux.data, vmlinux.len);
    return c;
}

static void test_bad_elf(void)
{
    uint8_t *good = vmlinux.data, *c, *ph0 = load_ph(vmlinux.data, 0);
    size_t n = vmlinux.len;
    uint64_t ph_end = E_PHOFF(good) + E_PHNUM(good) * 56ULL;
    const size_t cuts[] = {0, 10, 63, 64, ph_end - 1, PH_OFFSET(ph0) + PH_FILESZ(ph0) / 2, n / 2};
    unsigned last = 0;

    while (load_ph(good, last + 1))
        last++;
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
        BAD_ELF(good, cuts[i], "truncated");
    {
        uint8_t *lp = load_ph(good, last);
        if (PH_FILESZ(lp))
            BAD_ELF(good, PH_OFFSET(lp) + PH_FILESZ(lp) - 1, "truncated in the last segment");
    }
    BAD_ELF(NULL, 0, "no ELF");

#define MUTATE(what, stmt)   \
    do {                     \
        c = elf_copy();      \
        stmt;                \
        BAD_ELF(c, n, what); \
        free(c);             \
    } while (0)

    MUTATE("bad magic", c[1] = 'X');
    MUTATE("ELF32", c[4] = 1);
    MUTATE("big-endian", c[5] = 2);
    MUTATE("ET_DYN", wr16(c + 16, 3));
    MUTATE("i386", wr16(c + 18, 3));
    MUTATE("phentsize", wr16(c + 54, 32));
    MUTATE("no phdrs", wr16(c + 56, 0));
    MUTATE("PN_XNUM phdrs", wr16(c + 56, 0xFFFF));
    MUTATE("phoff past the end", wr64(c + 32, n - 8));
    MUTATE("phoff wraps", wr64(c + 32, ~0ULL - 16));
    MUTATE("entry outside the segments", wr64(c + 24, 0x100000));
    MUTATE("entry in bss", {
        uint8_t *p = load_ph(c, last);
        wr64(c + 24, PH_PADDR(p) + PH_MEMSZ(p) - 1);
        wr64(p + 32, PH_MEMSZ(p) - 16); /* filesz < memsz: the entry lands in bss */
    });
    MUTATE("entry in a non-executable segment", {
        uint8_t *p = load_ph(c, 0);
        wr32(p + 4, PH_FLAGS(p) & ~1u);
        for (unsigned i = 1; i <= last; i++) {
            uint8_t *q = load_ph(c, i);
            wr32(q + 4, PH_FLAGS(q) & ~1u);
        }
    });
    MUTATE("segment offset past the end", wr64(load_ph(c, 0) + 8, n));
    MUTATE("segment offset wraps", wr64(load_ph(c, 0) + 8, ~0ULL - 4096));
    MUTATE("filesz past the end", wr64(load_ph(c, last) + 32, n));
    MUTATE("filesz > memsz", {
        uint8_t *p = load_ph(c, 1);
        wr64(p + 32, PH_MEMSZ(p) + 1);
    });
    MUTATE("segment over the boot data", wr64(load_ph(c, last) + 24, VMM_BOOT_ZERO_PAGE));
    MUTATE("segment at 1 MiB, below pref_address", wr64(load_ph(c, last) + 24, VMM_KERNEL_LOAD));
    MUTATE("segment in the PCI hole", wr64(load_ph(c, last) + 24, 0xF0000000ULL));
    MUTATE("segment above 4 GiB", wr64(load_ph(c, last) + 24, VMM_4GIB));
    MUTATE("segment outside this VM's RAM", wr64(load_ph(c, last) + 24, RAM + 64 * MIB));
    MUTATE("huge p_memsz", wr64(load_ph(c, last) + 40, 0xFFFFFFFFFFFFF000ULL));
    MUTATE("p_memsz past init_size", {
        uint8_t *p = load_ph(c, last);
        wr64(p + 40, pref_address() + init_size() - PH_PADDR(p) + 4096);
    });
    MUTATE("overlapping segments", wr64(load_ph(c, 1) + 24, PH_PADDR(load_ph(c, 0)) + 4096));
#undef MUTATE
}

static void test_cache_roundtrip(void)
{
    char dir[600];
    struct vmm_kernel_cache kc1 = {0}, kc2 = {0};
    struct vmm_guest_mem m = fake_mem_new(RAM, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};
    struct stat st1, st2;
    uint8_t *ph0 = load_ph(vmlinux.data, 0);
    int r;

    snprintf(dir, sizeof(dir), "%s/roundtrip/a/b", workdir); /* parents made on the way */
    kc1.dir = kc2.dir = dir;

    r = vmm_bzimage_load_cached(&m, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE, &kc1, &e,
                                &err);
    CHECK_EQ(r, 0);
    CHECK(kc1.tried && !kc1.hit && kc1.stored);
    CHECK(kc1.path != NULL);
    CHECK(kc1.have_kp && kc1.kp.elf && kc1.elf_len == vmlinux.len &&
          memcmp(kc1.kp.elf, vmlinux.data, vmlinux.len) == 0);
    CHECK(file_is_vmlinux(kc1.path));
    CHECK_EQ(count_entries(dir), 1); /* no temp file left */
    CHECK(kc1.path && stat(kc1.path, &st1) == 0 && (st1.st_mode & 0777) == 0600);
    if (kc1.path)
        snprintf(cache_name, sizeof(cache_name), "%s", strrchr(kc1.path, '/') + 1);
    check_segments(&m);
    check_boot_data(&m, &e, E_ENTRY(vmlinux.data));

    /* second boot: read from the cache, the file left as it was */
    memset(gp(&m, 0, RAM), 0, RAM);
    r = vmm_bzimage_load_cached(&m, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE, &kc2, &e,
                                &err);
    CHECK_EQ(r, 0);
    CHECK(kc2.hit && !kc2.stored);
    CHECK(kc2.path && kc1.path && strcmp(kc1.path, kc2.path) == 0);
    CHECK(kc2.have_kp && !kc2.kp.elf && kc2.kp.fd >= 0); /* read from the file when laid out */
    CHECK(kc2.path && stat(kc2.path, &st2) == 0 && st2.st_ino == st1.st_ino &&
          st2.st_size == st1.st_size);
    CHECK(file_is_vmlinux(kc2.path));
    CHECK_EQ(count_entries(dir), 1);
    check_segments(&m);
    check_boot_data(&m, &e, E_ENTRY(vmlinux.data));

    /* a guest reset reloads from memory: the cache file is not needed any more */
    if (kc2.path)
        unlink(kc2.path);
    memset(gp(&m, PH_PADDR(ph0), PH_MEMSZ(ph0)), 0x55, PH_MEMSZ(ph0));
    r = vmm_bzimage_load_cached(&m, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE, &kc2, &e,
                                &err);
    CHECK_EQ(r, 0);
    check_segments(&m);
    CHECK_EQ(e.rip, E_ENTRY(vmlinux.data));
    CHECK_EQ(count_entries(dir), 0);

    vmm_kernel_cache_release(&kc1);
    vmm_kernel_cache_release(&kc2);
    fake_mem_free(&m);
}

/* The links from kernel files' identities (.ref symlinks) in dir. */
static unsigned count_refs(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    unsigned n = 0;
    size_t k = strlen(".ref");

    if (!d)
        return 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        struct stat st;
        if (l > k && strcmp(de->d_name + l - k, ".ref") == 0 &&
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            n++;
    }
    closedir(d);
    return n;
}

static void identity_of(const char *path, struct vmm_kernel_file_id *id)
{
    struct stat st;
    memset(id, 0, sizeof(*id));
    if (stat(path, &st) != 0) {
        perror(path);
        exit(2);
    }
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->size = (uint64_t)st.st_size;
    id->mtime_sec = st.st_mtim.tv_sec;
    id->mtime_nsec = st.st_mtim.tv_nsec;
    id->ctime_sec = st.st_ctim.tv_sec;
    id->ctime_nsec = st.st_ctim.tv_nsec;
}

/* A cache set up for the installed kernel's file, as pc-kernel.c sets it up. */
static struct vmm_kernel_cache identity_cache(const char *dir)
{
    struct vmm_kernel_cache kc = {.dir = dir, .have_id = true};
    identity_of(kernel_path, &kc.id);
    return kc;
}

/*
 * Found by the kernel file's identity: the second boot reads only the
 * image's first VMM_BZIMAGE_HEAD bytes. Any other identity or header finds
 * nothing, a file that changed recently is not linked, and a link or entry
 * that went bad is dropped and the whole image booted instead.
 */
static void test_cache_identity(void)
{
    char dir[600], young_dir[600];
    struct vmm_kernel_cache kc = {0}, k2, k3, k4;
    struct vmm_guest_mem m = fake_mem_new(RAM, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};
    static uint8_t head[VMM_BZIMAGE_HEAD];
    struct stat st;
    int r;

    snprintf(dir, sizeof(dir), "%s/identity", workdir);
    snprintf(young_dir, sizeof(young_dir), "%s/identity-young", workdir);
    memcpy(head, kernel, sizeof(head));

    /* first boot: unpacked, stored sparse, linked from the file's identity */
    kc = identity_cache(dir);
    r = vmm_bzimage_load_cached(&m, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE, &kc, &e,
                                &err);
    CHECK_EQ(r, 0);
    CHECK(kc.stored && kc.linked && !kc.hit);
    CHECK_EQ(count_refs(dir), 1);
    CHECK_EQ(count_entries(dir), 2); /* the entry and its link, no temp file */
    /* most of a kernel proper is zeros: the file keeps only its data (Debian's: 31 of 63 MiB) */
    CHECK(kc.path && stat(kc.path, &st) == 0 && (size_t)st.st_size == vmlinux.len &&
          (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size * 3 / 4);
    printf("# cache file: %llu of %llu bytes allocated\n", (unsigned long long)st.st_blocks * 512,
           (unsigned long long)st.st_size);

    /* second boot: by identity, from the head alone, into fresh RAM (holes stay unread) */
    k2 = identity_cache(dir);
    CHECK_EQ(vmm_kernel_cache_lookup_id(&k2, head, sizeof(head), kernel_len), 0);
    CHECK(k2.tried && k2.hit && k2.hit_by_id && k2.have_kp && !k2.kp.elf && k2.kp.fd >= 0);
    CHECK(k2.path && kc.path && strcmp(k2.path, kc.path) == 0);
    {
        struct vmm_guest_mem fresh = fake_mem_new(RAM, 0);
        fresh.zeroed = true;
        r = vmm_bzimage_load_cached(&fresh, 1, head, sizeof(head), kernel_len, NULL, 0, CMDLINE,
                                    &k2, &e, &err);
        CHECK_EQ(r, 0);
        check_segments(&fresh);
        check_boot_data(&fresh, &e, E_ENTRY(vmlinux.data));
        fake_mem_free(&fresh);
    }
    /* a reset: RAM not fresh, bss and holes written as zeros again */
    memset(gp(&m, 0, RAM), 0x55, RAM);
    CHECK_EQ(vmm_bzimage_load_cached(&m, 1, head, sizeof(head), kernel_len, NULL, 0, CMDLINE, &k2,
                                     &e, &err),
             0);
    check_segments(&m);
    vmm_kernel_cache_release(&k2);

    /* another identity (one nanosecond of mtime) or another header: nothing found, kc untouched */
    k3 = identity_cache(dir);
    k3.id.mtime_nsec ^= 1;
    CHECK_EQ(vmm_kernel_cache_lookup_id(&k3, head, sizeof(head), kernel_len), -ENOENT);
    CHECK(!k3.tried && !k3.have_kp);
    k3 = identity_cache(dir);
    head[0x300] ^= 1; /* setup code, not a header field the loader reads */
    CHECK_EQ(vmm_kernel_cache_lookup_id(&k3, head, sizeof(head), kernel_len), -ENOENT);
    head[0x300] ^= 1;
    CHECK_EQ(vmm_kernel_cache_lookup_id(&k3, head, sizeof(head), kernel_len - 1), -ENOENT);
    CHECK(!k3.tried && !k3.have_kp);
    k3.disabled = true;
    CHECK_EQ(vmm_kernel_cache_lookup_id(&k3, head, sizeof(head), kernel_len), -ENOENT);

    /* a file changed a moment ago may still be changing: cached, but not linked */
    k4 = identity_cache(young_dir);
    k4.id.ctime_sec = time(NULL);
    CHECK_EQ(vmm_bzimage_load_cached(&m, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE, &k4,
                                     &e, &err),
             0);
    CHECK(k4.stored && !k4.linked);
    CHECK_EQ(count_refs(young_dir), 0);
    vmm_kernel_cache_release(&k4);

    /* the entry cut short after it was found: the head alone cannot boot; the whole image can */
    k2 = identity_cache(dir);
    CHECK_EQ(vmm_kernel_cache_lookup_id(&k2, head, sizeof(head), kernel_len), 0);
    CHECK(k2.path && truncate(k2.path, 1 << 20) == 0);
    memset(gp(&m, 0, RAM), 0x55, RAM);
    r = vmm_bzimage_load_cached(&m, 1, head, sizeof(head), kernel_len, NULL, 0, CMDLINE, &k2, &e,
                                &err);
    CHECK_EQ(r, -EAGAIN);
    CHECK(!k2.tried && !k2.have_kp);
    r = vmm_bzimage_load_cached(&m, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE, &k2, &e,
                                &err);
    CHECK_EQ(r, 0);
    CHECK(k2.stored && !k2.hit); /* the cut entry was replaced */
    check_segments(&m);
    vmm_kernel_cache_release(&k2);

    /* a link to an entry that no longer parses is dropped */
    k2 = identity_cache(dir);
    CHECK(kc.path && truncate(kc.path, 1 << 20) == 0);
    CHECK_EQ(count_refs(dir), 1);
    CHECK_EQ(vmm_kernel_cache_lookup_id(&k2, head, sizeof(head), kernel_len), -ENOENT);
    CHECK_EQ(count_refs(dir), 0);
    CHECK(!k2.tried);
    vmm_kernel_cache_release(&k2);

    vmm_kernel_cache_release(&kc);
    fake_mem_free(&m);
}

/* Plants a damaged cache file, boots (from a fresh unpacking), and checks it was replaced. */
static void expect_cache_recovers(const char *dir, const char *path, const void *data, size_t len,
                                  const char *what, int line)
{
    struct vmm_kernel_cache kc = {.dir = dir};
    struct vmm_guest_mem m = fake_mem_new(RAM, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};
    int r;

    write_file(path, data, len);
    r = vmm_bzimage_load_cached(&m, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE, &kc, &e,
                                &err);
    test_checks++;
    if (r != 0 || kc.hit || !kc.stored || !file_is_vmlinux(path) ||
        e.rip != E_ENTRY(vmlinux.data)) {
        test_failures++;
        fprintf(stderr, "%s:%d: cache file %s: ret %d hit %d stored %d (%s)\n", __FILE__, line,
                what, r, kc.hit, kc.stored, err.msg);
    }
    check_segments(&m);
    vmm_kernel_cache_release(&kc);
    fake_mem_free(&m);
}

#define CACHE_RECOVERS(data, len, what) expect_cache_recovers(dir, path, data, len, what, __LINE__)

/*
 * Damaged cache files (the ELF checks themselves are in test_bad_elf): each
 * is deleted, the kernel unpacked again and a good file stored in its place.
 */
static void test_cache_corrupt(void)
{
    char dir[600], path[800];
    uint8_t *c;
    size_t n = vmlinux.len;
    unsigned last = 0;

    if (!cache_name[0])
        return;
    snprintf(dir, sizeof(dir), "%s/corrupt", workdir);
    snprintf(path, sizeof(path), "%s/%s", dir, cache_name);
    CHECK_EQ(mkdir(dir, 0700), 0);
    while (load_ph(vmlinux.data, last + 1))
        last++;

    CACHE_RECOVERS(vmlinux.data, 100, "truncated to 100 bytes");
    CACHE_RECOVERS(vmlinux.data, n - 4096, "truncated by a page (only relocation data lost)");
    c = elf_copy();
    c[0] = 0;
    CACHE_RECOVERS(c, n, "bad ELF header");
    memcpy(c, vmlinux.data, n);
    wr64(load_ph(c, last) + 24, 2 * GIB);
    CACHE_RECOVERS(c, n, "segment outside RAM");
    memcpy(c, vmlinux.data, n);
    wr64(load_ph(c, last) + 40, ~0ULL);
    CACHE_RECOVERS(c, n, "huge p_memsz");
    free(c);

    /* Something that is not a file at the path: boots from memory, nothing cached, no crash. */
    unlink(path);
    CHECK_EQ(mkdir(path, 0700), 0);
    {
        struct vmm_kernel_cache k = {.dir = dir};
        struct vmm_guest_mem m = fake_mem_new(RAM, 0);
        struct vmm_boot_entry e;
        CHECK_EQ(vmm_bzimage_load_cached(&m, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE,
                                         &k, &e, NULL),
                 0);
        CHECK(!k.hit && !k.stored && k.kp.elf);
        CHECK_EQ(e.rip, E_ENTRY(vmlinux.data));
        vmm_kernel_cache_release(&k);
        fake_mem_free(&m);
    }
    rmdir(path);
}

/* A cache directory that cannot exist is no cache, not an error. */
static void test_cache_unusable(void)
{
    char file[600], dir[700];
    struct vmm_kernel_cache kc = {0};
    struct vmm_guest_mem m = fake_mem_new(RAM, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};

    snprintf(file, sizeof(file), "%s/plain-file", workdir);
    write_file(file, "x", 1);
    snprintf(dir, sizeof(dir), "%s/kernels", file);
    kc.dir = dir;
    CHECK_EQ(vmm_bzimage_load_cached(&m, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE, &kc,
                                     &e, &err),
             0);
    CHECK(!kc.hit && !kc.stored && !kc.path && kc.have_kp && kc.kp.elf);
    CHECK_EQ(e.rip, E_ENTRY(vmlinux.data));
    check_segments(&m);
    vmm_kernel_cache_release(&kc);
    unlink(file);
    fake_mem_free(&m);
}

/* Plants a good cache file in dir and expects the default lookup to read it. */
static void expect_default_hit(const char *dir, int line)
{
    char path[900];
    struct vmm_kernel_cache kc = {0};
    char *made = strdup(dir);

    snprintf(path, sizeof(path), "%s/%s", dir, cache_name);
    for (char *p = made + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(made, 0700);
            *p = '/';
        }
    }
    mkdir(made, 0700);
    free(made);
    write_file(path, vmlinux.data, vmlinux.len);
    CHECK_EQ(vmm_kernel_cache_lookup(&kc, kernel, kernel_len), 0);
    test_checks++;
    if (!kc.hit || !kc.path || strcmp(kc.path, path) != 0) {
        test_failures++;
        fprintf(stderr, "%s:%d: expected a hit in %s, got %s (hit %d)\n", __FILE__, line, path,
                kc.path ? kc.path : "no path", kc.hit);
    }
    vmm_kernel_cache_release(&kc);
}

/* The default directory follows XDG_CACHE_HOME (when absolute), then HOME. */
static void test_cache_default_dir(void)
{
    char xdg[600], home[600], want[700];
    char *old_xdg = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

    if (!cache_name[0])
        return;
    snprintf(xdg, sizeof(xdg), "%s/xdg", workdir);
    snprintf(home, sizeof(home), "%s/home", workdir);
    setenv("XDG_CACHE_HOME", xdg, 1);
    setenv("HOME", home, 1);
    snprintf(want, sizeof(want), "%s/terrarium/kernels", xdg);
    expect_default_hit(want, __LINE__);
    setenv("XDG_CACHE_HOME", "relative/is/ignored", 1);
    snprintf(want, sizeof(want), "%s/.cache/terrarium/kernels", home);
    expect_default_hit(want, __LINE__);
    unsetenv("XDG_CACHE_HOME");
    expect_default_hit(want, __LINE__);

    if (old_xdg)
        setenv("XDG_CACHE_HOME", old_xdg, 1);
    else
        unsetenv("XDG_CACHE_HOME");
    if (old_home)
        setenv("HOME", old_home, 1);
    else
        unsetenv("HOME");
    free(old_xdg);
    free(old_home);
}

/* Disabled, or an input the bzImage path refuses: no unpacking, no cache file. */
static void test_cache_not_used(void)
{
    char dir[600];
    struct vmm_kernel_cache kc = {0};
    struct vmm_guest_mem m = fake_mem_new(RAM, 0), small = fake_mem_new(64 * MIB, 0);
    struct vmm_guest_mem mid = fake_mem_new(256 * MIB, 0);
    struct vmm_boot_entry e;
    struct vmm_error err = {0};
    size_t big = 200 * MIB;
    uint8_t *initrd =
        mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    snprintf(dir, sizeof(dir), "%s/unused", workdir);
    kc.dir = dir;
    kc.disabled = true;
    CHECK_EQ(vmm_bzimage_load_cached(&m, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE, &kc,
                                     &e, &err),
             0);
    CHECK_EQ(e.rip, VMM_KERNEL_LOAD + 0x200);
    CHECK(!kc.have_kp);
    CHECK_EQ(access(dir, F_OK), -1);

    kc.disabled = false;
    CHECK(vmm_bzimage_load_cached(&mid, 1, kernel, kernel_len, kernel_len, initrd, big, CMDLINE,
                                  &kc, &e, &err) < 0);
    CHECK(strstr(err.msg, "initrd") != NULL);
    CHECK(vmm_bzimage_load_cached(&small, 1, kernel, kernel_len, kernel_len, NULL, 0, CMDLINE, &kc,
                                  &e, &err) < 0);
    CHECK(strstr(err.msg, "more memory") != NULL);
    CHECK(!kc.tried && !kc.have_kp);
    CHECK_EQ(access(dir, F_OK), -1);
    munmap(initrd, big);
    fake_mem_free(&m);
    fake_mem_free(&small);
    fake_mem_free(&mid);
}

/* A bzImage like the real one but with its payload recompressed (or replaced) by fn. */
static uint8_t *repack(const uint8_t *payload, size_t plen, size_t *out_len)
{
    size_t ss = setup_size(kernel), po = rd32(kernel + 0x248);
    size_t pm = (po + plen + 4 + 15) & ~(size_t)15, len = ss + pm; /* syssize counts 16 bytes */
    uint8_t *img = calloc(1, len);

    memcpy(img, kernel, ss + po);
    memcpy(img + ss + po, payload, plen);
    wr32(img + ss + po + plen, (uint32_t)vmlinux.len); /* kbuild's size_append */
    wr32(img + 0x24C, (uint32_t)(plen + 4));
    wr32(img + 0x1F4, (uint32_t)(pm / 16));
    *out_len = len;
    return img;
}

static void check_unpacks(const uint8_t *img, size_t len, const char *what)
{
    struct vmm_blob out = {0};
    struct vmm_error err = {0};
    struct vmm_guest_mem m = fake_mem_new(RAM, 0);
    struct vmm_boot_entry e;
    int r = vmm_bzimage_decompress(img, len, &out, &err);

    if (r < 0)
        fprintf(stderr, "  %s: %s\n", what, err.msg);
    CHECK_EQ(r, 0);
    CHECK(out.len == vmlinux.len && out.data && memcmp(out.data, vmlinux.data, out.len) == 0);
    if (out.data) {
        CHECK_EQ(vmm_bzimage_load_vmlinux(&m, 1, img, len, out.data, out.len, NULL, 0, CMDLINE, &e,
                                          &err),
                 0);
        check_segments(&m);
    }
    free(out.data);
    fake_mem_free(&m);
}

/* Unpacking fails cleanly; the cache path boots the bzImage itself. */
static void check_falls_back(const uint8_t *img, size_t len, int want, const char *what)
{
    struct vmm_blob out = {0};
    struct vmm_error err = {0};
    struct vmm_guest_mem m = fake_mem_new(RAM, 0);
    struct vmm_boot_entry e;
    struct vmm_kernel_cache kc = {0};
    char dir[600];
    int r = vmm_bzimage_decompress(img, len, &out, &err);

    if (r != want)
        fprintf(stderr, "  %s: ret %d, want %d (%s)\n", what, r, want, err.msg);
    CHECK_EQ(r, want);
    CHECK(!out.data && err.msg[0]);
    snprintf(dir, sizeof(dir), "%s/fallback", workdir);
    kc.dir = dir;
    CHECK_EQ(vmm_bzimage_load_cached(&m, 1, img, len, len, NULL, 0, CMDLINE, &kc, &e, &err), 0);
    CHECK(kc.tried && !kc.have_kp && !kc.stored);
    CHECK_EQ(e.rip, VMM_KERNEL_LOAD + 0x200);
    CHECK_EQ(count_entries(dir), 0);
    vmm_kernel_cache_release(&kc);
    free(out.data);
    fake_mem_free(&m);
}

static void test_formats(void)
{
    size_t bound, clen, ilen;
    uint8_t *cbuf, *img;
    size_t ss = setup_size(kernel), po = rd32(kernel + 0x248), plen = rd32(kernel + 0x24C);

    /* gzip, as kbuild's `gzip -n -9` makes it (a single member) */
    {
        z_stream z;
        memset(&z, 0, sizeof(z));
        CHECK_EQ(deflateInit2(&z, 1, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
        bound = deflateBound(&z, vmlinux.len);
        cbuf = malloc(bound);
        z.next_in = vmlinux.data;
        z.avail_in = (uInt)vmlinux.len;
        z.next_out = cbuf;
        z.avail_out = (uInt)bound;
        CHECK_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
        clen = bound - z.avail_out;
        deflateEnd(&z);
        img = repack(cbuf, clen, &ilen);
        check_unpacks(img, ilen, "gzip");
        /* a flipped bit in the deflate data: the CRC or the stream breaks */
        img[ss + po + clen / 2] ^= 0x10;
        check_falls_back(img, ilen, -ENOEXEC, "damaged gzip");
        free(img);
        /* a size trailer that does not match */
        img = repack(cbuf, clen, &ilen);
        wr32(img + ss + po + clen, (uint32_t)vmlinux.len - 1);
        check_falls_back(img, ilen, -ENOEXEC, "gzip with a wrong size");
        free(img);
        free(cbuf);
    }
    /* zstd */
    {
        bound = ZSTD_compressBound(vmlinux.len);
        cbuf = malloc(bound);
        clen = ZSTD_compress(cbuf, bound, vmlinux.data, vmlinux.len, 1);
        CHECK(!ZSTD_isError(clen));
        if (!ZSTD_isError(clen)) {
            img = repack(cbuf, clen, &ilen);
            check_unpacks(img, ilen, "zstd");
            free(img);
            img = repack(cbuf, clen - 100, &ilen); /* truncated frame */
            check_falls_back(img, ilen, -ENOEXEC, "truncated zstd");
            free(img);
        }
        free(cbuf);
    }
    /* bzip2 (or anything else we do not unpack) */
    {
        img = repack((const uint8_t *)"BZh91AY&SY-not-really", 21, &ilen);
        check_falls_back(img, ilen, -ENOTSUP, "bzip2");
        free(img);
    }
    /* the real payload with a flipped byte: XZ's CRC32 (or the decoder) notices */
    {
        uint8_t *copy = malloc(kernel_len);
        memcpy(copy, kernel, kernel_len);
        copy[ss + po + plen / 2] ^= 0x01;
        check_falls_back(copy, kernel_len, -ENOEXEC, "damaged payload");
        /* a payload that claims to reach past the file */
        memcpy(copy, kernel, kernel_len);
        wr32(copy + 0x24C, (uint32_t)(kernel_len - ss - po + 1));
        {
            struct vmm_blob out = {0};
            CHECK(vmm_bzimage_decompress(copy, kernel_len, &out, NULL) < 0 && !out.data);
        }
        free(copy);
    }
}

static void test_hash(void)
{
    uint64_t h[2], g[2];
    uint8_t *buf = pattern(4096, 9);

    vmm_kernel_hash(kernel, kernel_len, h);
    vmm_kernel_hash(kernel, kernel_len, g);
    CHECK(h[0] == g[0] && h[1] == g[1]);
    vmm_kernel_hash(kernel, kernel_len - 1, g);
    CHECK(h[0] != g[0] && h[1] != g[1]);

    /* every single-bit flip of a 4 KiB buffer changes both halves */
    vmm_kernel_hash(buf, 4096, h);
    for (size_t bit = 0; bit < 4096 * 8; bit += 61) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        vmm_kernel_hash(buf, 4096, g);
        CHECK(h[0] != g[0] && h[1] != g[1]);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* runs of zeros of different lengths differ (the tail is padded) */
    memset(buf, 0, 4096);
    for (size_t n = 0; n < 100; n++) {
        vmm_kernel_hash(buf, n, h);
        vmm_kernel_hash(buf, n + 1, g);
        CHECK(h[0] != g[0] || h[1] != g[1]);
    }
    free(buf);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    find_kernel();
    snprintf(workdir, sizeof(workdir), "%s/test-kernel-cache-XXXXXX", tmp);
    if (!mkdtemp(workdir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN_TEST(test_decompress);
    RUN_TEST(test_load_vmlinux);
    RUN_TEST(test_load_vmlinux_fresh);
    RUN_TEST(test_bad_elf);
    RUN_TEST(test_cache_roundtrip);
    RUN_TEST(test_cache_identity);
    RUN_TEST(test_cache_corrupt);
    RUN_TEST(test_cache_unusable);
    RUN_TEST(test_cache_default_dir);
    RUN_TEST(test_cache_not_used);
    RUN_TEST(test_formats);
    RUN_TEST(test_hash);
    nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(vmlinux.data);
    free(kernel);
    return test_finish();
}
