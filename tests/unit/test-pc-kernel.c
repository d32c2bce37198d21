/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Direct kernel boot's files (machine/pc-kernel.c), with the installed
 * Debian kernel (skipped without one) on fake guest RAM: the kernel image is
 * read whole the first time and, once the kernel cache knows the file, only
 * its head; the initrd is read straight into guest RAM at every load, and a
 * change to its file while the machine runs fails the next load with a
 * sentence instead of booting a mix.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/boot-internal.h"
#include "core/vm.h"
#include "fake-guest-mem.h"
#include "machine/pc.h"
#include "test.h"

#define RAM (512 * MIB)
#define INITRD_LEN (3 * MIB + 123)

static char kernel_path[512];
static off_t kernel_size;
static char workdir[512], cache_dir[600], initrd_path[600];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void write_pattern(const char *path, size_t len, unsigned seed)
{
    uint8_t *b = malloc(len);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (uint8_t)(x >> 16);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, b, len) != (ssize_t)len || close(fd) < 0) {
        perror(path);
        exit(2);
    }
    free(b);
}

/* The file's bytes, for comparing with guest RAM. */
static uint8_t *slurp(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(path);
        exit(2);
    }
    uint8_t *b = malloc((size_t)st.st_size + 1);
    if (read(fd, b, (size_t)st.st_size) != st.st_size) {
        perror(path);
        exit(2);
    }
    close(fd);
    *len = (size_t)st.st_size;
    return b;
}

/* Back-date a file, so that a later write surely changes its times. */
static void age(const char *path)
{
    struct timespec t[2] = {{.tv_sec = 1600000000}, {.tv_sec = 1600000000}};
    if (utimensat(AT_FDCWD, path, t, 0) < 0) {
        perror(path);
        exit(2);
    }
}

/* A machine as vmm_machine_create has it before KVM: config, fake RAM, no descriptors. */
static struct vmm_vm *new_vm(void)
{
    struct vmm_vm *vm = calloc(1, sizeof(*vm));
    vm->cfg.kernel = kernel_path;
    vm->cfg.initrd = initrd_path;
    vm->cfg.cmdline = "console=ttyS0";
    vm->cfg.ncpus = 1;
    vm->cfg.mem_mib = RAM >> 20;
    vm->ncpus = 1;
    vm->initrd_fd = -1;
    vm->kcache.dir = cache_dir;
    vm->mem = fake_mem_new(RAM, 0);
    return vm;
}

static void free_vm(struct vmm_vm *vm)
{
    free(vm->kernel.data);
    free(vm->initrd.data);
    if (vm->initrd_fd >= 0)
        close(vm->initrd_fd);
    vmm_kernel_cache_release(&vm->kcache);
    fake_mem_free(&vm->mem);
    free(vm);
}

/* The initrd where the zero page says, byte for byte the file's. */
static void check_initrd(struct vmm_vm *vm, const char *path)
{
    size_t len;
    uint8_t *want = slurp(path, &len);
    const uint8_t *bp = gp(&vm->mem, VMM_BOOT_ZERO_PAGE, 4096);
    CHECK(vm->entry.initrd_addr != 0);
    CHECK_EQ(rd32(bp + 0x218), vm->entry.initrd_addr);
    CHECK_EQ(rd32(bp + 0x21C), len);
    CHECK(memcmp(gp(&vm->mem, vm->entry.initrd_addr, len), want, len) == 0);
    free(want);
}

static void test_open_and_load(void)
{
    struct vmm_error err = {0};
    struct vmm_vm *a = new_vm(), *b;
    uint64_t start = 16 * MIB, span = 48 * MIB; /* where Debian's kernel proper goes */

    /* a cache that does not know the kernel: the image is read whole */
    CHECK_EQ(vmm_pc_kernel_open(a, RAM, &err), 0);
    CHECK_EQ(a->kernel.len, (size_t)kernel_size);
    CHECK_EQ(a->kernel_size, (size_t)kernel_size);
    CHECK(a->initrd_fd >= 0 && a->initrd_size == INITRD_LEN);
    a->mem.zeroed = true;
    CHECK_EQ(vmm_pc_kernel_load(a, &err), 0);
    a->mem.zeroed = false;
    CHECK(a->kcache.stored && a->kcache.linked);
    check_initrd(a, initrd_path);

    /* the next machine: found by the file's identity, only the head read */
    b = new_vm();
    CHECK_EQ(vmm_pc_kernel_open(b, RAM, &err), 0);
    CHECK_EQ(b->kernel.len, VMM_BZIMAGE_HEAD);
    CHECK_EQ(b->kernel_size, (size_t)kernel_size);
    CHECK(b->kcache.hit_by_id);
    b->mem.zeroed = true;
    CHECK_EQ(vmm_pc_kernel_load(b, &err), 0);
    b->mem.zeroed = false;
    CHECK_EQ(b->entry.rip, a->entry.rip);
    CHECK_EQ(b->entry.initrd_addr, a->entry.initrd_addr);
    CHECK(memcmp(gp(&b->mem, start, span), gp(&a->mem, start, span), span) == 0);
    CHECK(memcmp(gp(&b->mem, 0, MIB), gp(&a->mem, 0, MIB), MIB) == 0); /* zero page, tables */
    check_initrd(b, initrd_path);

    /* a guest reset: everything laid out again over what the guest left */
    memset(gp(&b->mem, 0, RAM), 0x5A, RAM);
    CHECK_EQ(vmm_pc_kernel_load(b, &err), 0);
    CHECK(b->kcache.kp.vl.nseg > 0);
    for (unsigned i = 0; i < b->kcache.kp.vl.nseg; i++) {
        const struct vmm_vmlinux_seg *s = &b->kcache.kp.vl.seg[i];
        CHECK(memcmp(gp(&b->mem, s->paddr, s->memsz), gp(&a->mem, s->paddr, s->memsz), s->memsz) ==
              0);
    }
    CHECK(memcmp(gp(&b->mem, VMM_BOOT_ZERO_PAGE, 4096), gp(&a->mem, VMM_BOOT_ZERO_PAGE, 4096),
                 4096) == 0);
    check_initrd(b, initrd_path);

    /* the initrd replaced by another file (rename): the machine keeps booting the one it opened */
    char other[700];
    snprintf(other, sizeof(other), "%s.new", initrd_path);
    write_pattern(other, INITRD_LEN + 4096, 7);
    CHECK_EQ(rename(other, initrd_path), 0);
    memset(gp(&b->mem, 0, RAM), 0x5A, RAM);
    CHECK_EQ(vmm_pc_kernel_load(b, &err), 0);
    CHECK(memcmp(gp(&b->mem, b->entry.initrd_addr, INITRD_LEN),
                 gp(&a->mem, a->entry.initrd_addr, INITRD_LEN), INITRD_LEN) == 0);
    /*
     * A machine the kernel cannot boot on (a command line too long): the
     * loader's own sentence at once, not after the cache entry was taken for
     * a bad one and the image read whole for the bzImage path.
     */
    static char longline[5000];
    struct vmm_vm *c = new_vm();
    memset(longline, 'x', sizeof(longline) - 1);
    c->cfg.cmdline = longline;
    CHECK_EQ(vmm_pc_kernel_open(c, RAM, &err), 0);
    CHECK_EQ(c->kernel.len, VMM_BZIMAGE_HEAD);
    CHECK_EQ(vmm_pc_kernel_load(c, &err), -E2BIG);
    CHECK(strstr(err.msg, "command line is 4999 characters long") != NULL);
    CHECK_EQ(c->kernel.len, VMM_BZIMAGE_HEAD); /* not read whole after all */
    CHECK(c->kcache.path && access(c->kcache.path, F_OK) == 0);
    free_vm(c);

    free_vm(a);
    free_vm(b);
}

/* --no-kernel-cache: the bzImage itself, read whole, with the initrd read in the same way. */
/* The text screen in the zero page is there only when the machine has a display adapter. */
static void test_text_screen(void)
{
    struct vmm_error err = {0};
    for (int vga = 0; vga <= 1; vga++) {
        struct vmm_vm *vm = new_vm();
        vm->cfg.vga = vga;
        CHECK_EQ(vmm_pc_kernel_open(vm, RAM, &err), 0);
        CHECK_EQ(vmm_pc_kernel_load(vm, &err), 0);
        const uint8_t *bp = gp(&vm->mem, VMM_BOOT_ZERO_PAGE, 4096);
        CHECK_EQ(bp[0x07], vga ? 80 : 0); /* orig_video_cols */
        CHECK_EQ(bp[0x0E], vga ? 25 : 0); /* orig_video_lines */
        CHECK_EQ(bp[0x0F], vga ? 1 : 0);  /* orig_video_isVGA */
        CHECK_EQ(bp[0x06], vga ? 3 : 0);  /* orig_video_mode */
        /* the rest of the boot parameters are untouched: the e820 map and the RSDP */
        CHECK(bp[0x1E8] >= 3);
        CHECK(rd32(bp + 0x70) != 0);
        free_vm(vm);
    }
}

static void test_no_cache(void)
{
    struct vmm_error err = {0};
    struct vmm_vm *vm = new_vm();
    vm->cfg.no_kernel_cache = vm->kcache.disabled = true;
    CHECK_EQ(vmm_pc_kernel_open(vm, RAM, &err), 0);
    CHECK_EQ(vm->kernel.len, (size_t)kernel_size);
    CHECK_EQ(vmm_pc_kernel_load(vm, &err), 0);
    CHECK(!vm->kcache.tried && !vm->kcache.have_kp);
    CHECK_EQ(vm->entry.rip, VMM_KERNEL_LOAD + 0x200); /* the bzImage's own 64-bit entry */
    check_initrd(vm, initrd_path);
    free_vm(vm);
}

static void test_initrd_changed(void)
{
    struct vmm_error err = {0};
    struct vmm_vm *vm = new_vm();

    write_pattern(initrd_path, INITRD_LEN, 3);
    age(initrd_path);
    CHECK_EQ(vmm_pc_kernel_open(vm, RAM, &err), 0);
    CHECK_EQ(vmm_pc_kernel_load(vm, &err), 0);
    check_initrd(vm, initrd_path);

    /* one byte rewritten in place: the next load (a reset) refuses, and says why */
    int fd = open(initrd_path, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, "x", 1, 100) == 1);
    close(fd);
    memset(err.msg, 0, sizeof(err.msg));
    CHECK_EQ(vmm_pc_kernel_load(vm, &err), -ESTALE);
    CHECK(strstr(err.msg, initrd_path) && strstr(err.msg, "changed on disk"));
    printf("# %s\n", err.msg);

    /* cut short: the same */
    age(initrd_path);
    free_vm(vm);
    vm = new_vm();
    CHECK_EQ(vmm_pc_kernel_open(vm, RAM, &err), 0);
    CHECK(truncate(initrd_path, INITRD_LEN / 2) == 0);
    CHECK_EQ(vmm_pc_kernel_load(vm, &err), -ESTALE);
    free_vm(vm);

    /* an initrd larger than the machine's RAM is refused when it is opened */
    vm = new_vm();
    CHECK_EQ(vmm_pc_kernel_open(vm, INITRD_LEN / 4, &err), -EFBIG);
    CHECK(strstr(err.msg, "too large") != NULL);
    free_vm(vm);
}

int main(void)
{
    glob_t g;
    struct stat st;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0 || g.gl_pathc == 0)
        TEST_SKIP("no /boot/vmlinuz-* installed (apt-get install linux-image-amd64)");
    snprintf(kernel_path, sizeof(kernel_path), "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    if (stat(kernel_path, &st) != 0 || access(kernel_path, R_OK) != 0)
        TEST_SKIP("%s is not readable", kernel_path);
    kernel_size = st.st_size;
    printf("# kernel: %s\n", kernel_path);

    snprintf(workdir, sizeof(workdir), "%s/test-pc-kernel-XXXXXX", tmp);
    if (!mkdtemp(workdir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", workdir);
    snprintf(initrd_path, sizeof(initrd_path), "%s/initrd", workdir);
    write_pattern(initrd_path, INITRD_LEN, 1);

    RUN_TEST(test_open_and_load);
    RUN_TEST(test_text_screen);
    RUN_TEST(test_no_cache);
    RUN_TEST(test_initrd_changed);
    nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return test_finish();
}
