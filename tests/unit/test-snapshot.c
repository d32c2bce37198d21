/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Live machine state without KVM: the state file container (round trip, every
 * truncation and every corrupted byte refused, atomic commit), the declarative
 * device descriptions (round trips, bounds, versions, lengths) and the sparse
 * RAM file (holes, MAP_PRIVATE restore).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <zlib.h>

#include "hw/i8042.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "snapshot/snapshot.h"
#include "core/util.h"
#include "test.h"

static char tmpdir[] = "/tmp/trm-snapshot-test-XXXXXX";

static void add(struct vmm_state_writer *w, const char *name, const void *data, size_t len)
{
    struct vmm_buf b = {0};
    vmm_buf_put(&b, data, len);
    CHECK_EQ(vmm_state_writer_add(w, name, &b), 0);
    vmm_buf_free(&b);
}

static struct vmm_buf sample_file(void)
{
    struct vmm_state_writer w = {0};
    add(&w, "machine", "abcdefgh", 8);
    add(&w, "cpu.0", "x", 1); /* odd sizes: the next payload is padded to 8 */
    uint8_t big[300];
    for (unsigned i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    add(&w, "dev:serial", big, sizeof(big));
    struct vmm_buf empty = {0};
    CHECK_EQ(vmm_state_writer_add(&w, "empty", &empty), 0);
    struct vmm_buf out = {0};
    CHECK_EQ(vmm_state_writer_build(&w, &out), 0);
    vmm_state_writer_free(&w);
    return out;
}

static void test_roundtrip(void)
{
    struct vmm_buf f = sample_file();
    struct vmm_state_file sf;
    struct vmm_error err = {0};
    CHECK_EQ(vmm_state_file_parse(f.data, f.len, &sf, &err), 0);
    CHECK_EQ(sf.nsections, 4);
    const struct vmm_state_section *s = vmm_state_file_find(&sf, "machine");
    CHECK(s && s->size == 8 && memcmp(s->data, "abcdefgh", 8) == 0);
    s = vmm_state_file_find(&sf, "cpu.0");
    CHECK(s && s->size == 1 && s->data[0] == 'x');
    s = vmm_state_file_find(&sf, "dev:serial");
    CHECK(s && s->size == 300 && s->data[299] == (uint8_t)(299 * 7));
    CHECK(s && ((uintptr_t)(s->data - f.data) & 7) == 0);
    s = vmm_state_file_find(&sf, "empty");
    CHECK(s && s->size == 0);
    CHECK(vmm_state_file_find(&sf, "nope") == NULL);
    vmm_state_file_free(&sf);
    vmm_buf_free(&f);
}

static void test_writer_refusals(void)
{
    struct vmm_state_writer w = {0};
    struct vmm_buf b = {0};
    vmm_buf_put(&b, "1", 1);
    CHECK_EQ(vmm_state_writer_add(&w, "Bad Name", &b), -EINVAL);
    CHECK_EQ(vmm_state_writer_add(&w, "", &b), -EINVAL);
    CHECK_EQ(vmm_state_writer_add(&w, "0123456789012345678901234567890123", &b), -EINVAL);
    CHECK_EQ(vmm_state_writer_add(&w, "ok", &b), 0);
    vmm_buf_put(&b, "2", 1);
    CHECK_EQ(vmm_state_writer_add(&w, "ok", &b), -EEXIST);
    vmm_buf_free(&b);
    vmm_state_writer_free(&w);
}

/* Every prefix and every single-byte corruption is refused, with a sentence. */
static void test_truncation_and_corruption(void)
{
    struct vmm_buf f = sample_file();
    unsigned refused = 0, tried = 0;
    for (size_t len = 0; len < f.len; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
        memcpy(copy, f.data, len);
        struct vmm_state_file sf;
        struct vmm_error err = {0};
        tried++;
        if (vmm_state_file_parse(copy, len, &sf, &err) < 0 && err.msg[0])
            refused++;
        free(copy);
    }
    for (size_t i = 0; i < f.len; i++) {
        for (unsigned k = 0; k < 3; k++) {
            static const uint8_t flips[3] = {0x01, 0x80, 0xff};
            uint8_t *copy = malloc(f.len);
            memcpy(copy, f.data, f.len);
            copy[i] ^= flips[k];
            struct vmm_state_file sf;
            struct vmm_error err = {0};
            tried++;
            if (vmm_state_file_parse(copy, f.len, &sf, &err) < 0 && err.msg[0])
                refused++;
            free(copy);
        }
    }
    CHECK_EQ(refused, tried);
    printf("  %u damaged files refused\n", refused);
    vmm_buf_free(&f);
}

/* A header that is self-consistent (CRC recomputed) but lies about the sections. */
static void recrc(uint8_t *f, size_t len)
{
    memset(f + 32, 0, 4);
    uint32_t c = (uint32_t)crc32(0L, Z_NULL, 0);
    c = (uint32_t)crc32(c, f, (uInt)len);
    for (unsigned i = 0; i < 4; i++)
        f[32 + i] = (uint8_t)(c >> (8 * i));
}

static void test_lying_tables(void)
{
    struct vmm_buf f = sample_file();
    struct vmm_state_file sf;
    struct vmm_error err = {0};
    uint8_t *c = malloc(f.len);
    /* Absurd section count. */
    memcpy(c, f.data, f.len);
    c[16] = 0xff, c[17] = 0xff, c[18] = 0xff, c[19] = 0x7f;
    recrc(c, f.len);
    CHECK(vmm_state_file_parse(c, f.len, &sf, &err) < 0);
    /* A section offset far past the end. */
    memcpy(c, f.data, f.len);
    c[64 + 32 + 7] = 0x40;
    recrc(c, f.len);
    CHECK(vmm_state_file_parse(c, f.len, &sf, &err) < 0);
    /* A size that wraps offset + size. */
    memcpy(c, f.data, f.len);
    memset(c + 64 + 40, 0xff, 4);
    recrc(c, f.len);
    CHECK(vmm_state_file_parse(c, f.len, &sf, &err) < 0);
    /* Two sections overlapping (the second points at the first). */
    memcpy(c, f.data, f.len);
    memcpy(c + 64 + 48 + 32, c + 64 + 32, 8);
    recrc(c, f.len);
    CHECK(vmm_state_file_parse(c, f.len, &sf, &err) < 0);
    /* A duplicated name. */
    memcpy(c, f.data, f.len);
    memcpy(c + 64 + 48, c + 64, 32);
    recrc(c, f.len);
    CHECK(vmm_state_file_parse(c, f.len, &sf, &err) < 0);
    /* A future format version. */
    memcpy(c, f.data, f.len);
    c[8] = 2;
    recrc(c, f.len);
    CHECK(vmm_state_file_parse(c, f.len, &sf, &err) < 0);
    CHECK(strstr(err.msg, "version") != NULL);
    /* Control: the untouched file with a recomputed CRC still parses. */
    memcpy(c, f.data, f.len);
    recrc(c, f.len);
    CHECK_EQ(vmm_state_file_parse(c, f.len, &sf, &err), 0);
    vmm_state_file_free(&sf);
    free(c);
    vmm_buf_free(&f);
}

static void test_commit(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/state", tmpdir);
    struct vmm_state_writer w = {0};
    add(&w, "machine", "12345678", 8);
    struct vmm_error err = {0};
    CHECK_EQ(vmm_state_writer_commit(&w, path, &err), 0);
    vmm_state_writer_free(&w);
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0);
    uint8_t *buf;
    struct vmm_state_file sf;
    CHECK_EQ(vmm_state_file_load(path, &buf, &sf, &err), 0);
    const struct vmm_state_section *s = vmm_state_file_find(&sf, "machine");
    CHECK(s && s->size == 8 && memcmp(s->data, "12345678", 8) == 0);
    vmm_state_file_free(&sf);
    free(buf);
    /* A truncated file on disk is refused by the loader too. */
    CHECK_EQ(truncate(path, 70), 0);
    CHECK(vmm_state_file_load(path, &buf, &sf, &err) < 0);
    unlink(path);
}

/* ---- Device descriptions ---- */

static void test_serial_desc(void)
{
    struct vmm_serial a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    vmm_serial_init(&a, NULL, NULL, NULL);
    vmm_serial_init(&b, NULL, NULL, NULL);
    a.ier = 0x05;
    a.lcr = 0x03;
    a.mcr = UART_MCR_OUT2 | UART_MCR_DTR;
    a.scr = 0x5a;
    a.dll = 1;
    a.fcr = 0xc1;
    a.rx_fifo[3] = 'h';
    a.rx_fifo[4] = 'i';
    a.rx_head = 3;
    a.rx_count = 2;
    a.thre_pending = true;
    struct vmm_buf out = {0};
    CHECK_EQ(vmm_state_encode(&vmm_serial_state_desc, &a, &out), 0);
    struct vmm_error err = {0};
    CHECK_EQ(vmm_state_decode(&vmm_serial_state_desc, &b, out.data, out.len, &err), 0);
    CHECK_EQ(b.ier, 0x05);
    CHECK_EQ(b.mcr, UART_MCR_OUT2 | UART_MCR_DTR);
    CHECK_EQ(b.scr, 0x5a);
    CHECK_EQ(b.fcr, 0xc1);
    CHECK_EQ(b.rx_head, 3);
    CHECK_EQ(b.rx_count, 2);
    CHECK_EQ(b.rx_fifo[4], 'i');
    CHECK(b.thre_pending);
    /* The receive interrupt is pending (data, ERBFI, OUT2): the line was recomputed. */
    CHECK_EQ(b.irq_level, 1);
    /* Received data reads back through the model. */
    CHECK_EQ(vmm_serial_ops.read(&b, UART_RBR, 1), 'h');

    /* Out of bounds: rx_count 17 (serial fields: 11 bytes, rx_fifo 16, then head at 31). */
    uint8_t *bad = malloc(out.len);
    memcpy(bad, out.data, out.len);
    size_t count_off = 4 + 11 + 16 + 4;
    CHECK_EQ(bad[count_off], 2);
    bad[count_off] = 17;
    CHECK(vmm_state_decode(&vmm_serial_state_desc, &b, bad, out.len, &err) < 0);
    CHECK(strstr(err.msg, "rx_count") != NULL);
    /* A future version, a short payload, a long one. */
    memcpy(bad, out.data, out.len);
    bad[0] = 9;
    CHECK(vmm_state_decode(&vmm_serial_state_desc, &b, bad, out.len, &err) < 0);
    CHECK(vmm_state_decode(&vmm_serial_state_desc, &b, out.data, out.len - 1, &err) < 0);
    CHECK(vmm_state_decode(&vmm_serial_state_desc, &b, out.data, 3, &err) < 0);
    vmm_buf_put(&out, "x", 1);
    CHECK(vmm_state_decode(&vmm_serial_state_desc, &b, out.data, out.len, &err) < 0);
    free(bad);
    vmm_buf_free(&out);
    vmm_serial_fini(&a);
    vmm_serial_fini(&b);
}

struct fake_clock {
    int64_t mono, wall;
};

static int64_t fake_mono(void *o)
{
    return ((struct fake_clock *)o)->mono;
}

static int64_t fake_wall(void *o)
{
    return ((struct fake_clock *)o)->wall;
}

/* The RTC keeps real time across a save: restored 5 s later (another process, another
 * monotonic base), it reads 5 s later than when it was saved. */
static void test_rtc_desc(void)
{
    struct fake_clock ca = {.mono = 1000000000000LL, .wall = 1700000000LL * 1000000000LL};
    struct fake_clock cb = {.mono = 77LL * 1000000000LL, .wall = ca.wall + 5000000000LL};
    struct vmm_rtc_clock clka = {
        .monotonic_ns = fake_mono, .realtime_ns = fake_wall, .opaque = &ca};
    struct vmm_rtc_clock clkb = {
        .monotonic_ns = fake_mono, .realtime_ns = fake_wall, .opaque = &cb};
    struct vmm_rtc a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    vmm_rtc_init(&a, NULL, &clka, true);
    vmm_rtc_init(&b, NULL, &clkb, true);
    a.cmos[0x40] = 0xab; /* NVRAM */
    a.cmos[RTC_REG_B] |= RTC_B_DM;
    a.index = 0x40;
    struct vmm_buf out = {0};
    CHECK_EQ(vmm_state_encode(&vmm_rtc_state_desc, &a, &out), 0);
    struct vmm_error err = {0};
    CHECK_EQ(vmm_state_decode(&vmm_rtc_state_desc, &b, out.data, out.len, &err), 0);
    CHECK_EQ(b.cmos[0x40], 0xab);
    CHECK_EQ(b.index, 0x40);
    CHECK(b.running);
    int64_t ta = ca.mono + a.delta_ns, tb = cb.mono + b.delta_ns;
    CHECK_EQ(tb - ta, 5000000000LL);
    /* Binary mode survived: seconds read back as a binary value. */
    vmm_rtc_ops.write(&b, 0, 1, RTC_SECONDS);
    uint8_t sec = (uint8_t)vmm_rtc_ops.read(&b, 1, 1);
    CHECK(sec < 60);
    vmm_buf_free(&out);
    vmm_rtc_fini(&a);
    vmm_rtc_fini(&b);
}

static void test_i8042_desc(void)
{
    struct vmm_i8042 *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    vmm_i8042_init(a, NULL, NULL);
    vmm_i8042_init(b, NULL, NULL);
    a->ctr = 0x47;
    a->kbd.set = 1;
    a->kbd.leds = 5;
    a->kbd.q.data[0] = 0x1e;
    a->kbd.q.count = 1;
    a->mouse.id = 3;
    a->mouse.dx = -5;
    struct vmm_buf out = {0};
    CHECK_EQ(vmm_state_encode(&vmm_i8042_state_desc, a, &out), 0);
    struct vmm_error err = {0};
    CHECK_EQ(vmm_state_decode(&vmm_i8042_state_desc, b, out.data, out.len, &err), 0);
    CHECK_EQ(b->ctr, 0x47);
    CHECK_EQ(b->kbd.set, 1);
    CHECK_EQ(vmm_i8042_kbd_leds(b), 5);
    CHECK_EQ(b->kbd.q.count, 1);
    CHECK_EQ(b->mouse.id, 3);
    CHECK_EQ(b->mouse.dx, -5);
    /* Scan code set 0 does not exist: refused by the field's bound. */
    a->kbd.set = 0;
    vmm_buf_free(&out);
    CHECK_EQ(vmm_state_encode(&vmm_i8042_state_desc, a, &out), 0);
    CHECK(vmm_state_decode(&vmm_i8042_state_desc, b, out.data, out.len, &err) < 0);
    vmm_buf_free(&out);
    vmm_i8042_fini(a);
    vmm_i8042_fini(b);
    free(a);
    free(b);
}

/* ---- RAM file ---- */

/* Fresh anonymous memory standing for guest RAM (MAP_NORESERVE, as the VMM maps it). */
static uint8_t *anon_ram(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void test_ram_file(void)
{
    const size_t pages = 256, size = pages * 4096;
    uint8_t *ram = anon_ram(size);
    CHECK(ram != NULL);
    CHECK(vmm_page_is_zero(ram));
    ram[5 * 4096 + 4095] = 1;
    memset(ram + 100 * 4096, 0x5a, 3 * 4096);
    ram[size - 1] = 0x77;
    CHECK(!vmm_page_is_zero(ram + 5 * 4096));
    char path[256];
    snprintf(path, sizeof(path), "%s/ram-test", tmpdir);
    struct vmm_snapshot_ram_stats st_w = {0};
    struct vmm_error err = {0};
    CHECK_EQ(vmm_snapshot_write_ram(ram, size, -1, path, &st_w, &err), 0);
    CHECK_EQ(st_w.written, 5 * 4096);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_size, size);
    CHECK((uint64_t)st.st_blocks * 512 < size / 2); /* holes */

    uint8_t *dst = anon_ram(size);
    memset(dst, 0xee, size);
    CHECK_EQ(vmm_snapshot_map_ram(dst, size, path, NULL, &err), 0);
    CHECK(memcmp(dst, ram, size) == 0);
    /* Copy-on-write: the guest's writes never reach the file. */
    dst[0] = 9;
    CHECK_EQ(vmm_snapshot_map_ram(ram, size, path, NULL, &err), 0);
    CHECK_EQ(ram[0], 0);
    CHECK_EQ(ram[size - 1], 0x77);
    /* A file of another size is refused. */
    CHECK(vmm_snapshot_map_ram(dst, size - 4096, path, NULL, &err) < 0);
    munmap(ram, size);
    munmap(dst, size);
    unlink(path);
}

/* The save resumes the guest between _begin and _finish: what RAM held at _begin is saved. */
static void test_ram_file_two_steps(void)
{
    const size_t pages = 64, size = pages * 4096;
    uint8_t *ram = anon_ram(size);
    CHECK(ram != NULL);
    for (size_t i = 0; i < size; i += 8)
        memcpy(ram + i, &i, sizeof(i));
    uint8_t *before = malloc(size);
    memcpy(before, ram, size);
    char path[256], tmp[300];
    snprintf(path, sizeof(path), "%s/ram-two-steps", tmpdir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    struct vmm_error err = {0};
    struct vmm_snapshot_ram_stats st_w = {0};
    int fd = -1;
    CHECK_EQ(vmm_snapshot_write_ram_begin(ram, size, -1, path, &fd, &st_w, &err), 0);
    CHECK(fd >= 0);
    CHECK_EQ(st_w.written, size);
    struct stat st;
    CHECK(stat(path, &st) < 0);  /* not there before _finish */
    CHECK_EQ(stat(tmp, &st), 0); /* but its temporary is */
    memset(ram, 0xab, size);     /* the guest runs on */
    CHECK_EQ(vmm_snapshot_write_ram_finish(fd, path, &err), 0);
    CHECK(stat(tmp, &st) < 0);
    uint8_t *dst = anon_ram(size);
    CHECK_EQ(vmm_snapshot_map_ram(dst, size, path, NULL, &err), 0);
    CHECK(memcmp(dst, before, size) == 0);
    munmap(ram, size);
    munmap(dst, size);
    free(before);
    unlink(path);
}

/* Whether the process has the page at p (present or swapped), by /proc/self/pagemap; -1: unknown. */
static int page_had(const void *p)
{
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    uint64_t e = 0;
    ssize_t n = pread(fd, &e, 8, (off_t)((uintptr_t)p / 4096 * 8));
    close(fd);
    return n == 8 ? (e >> 62) != 0 : -1;
}

/*
 * Pages the process never had are not read: in anonymous RAM they are zero; in RAM mapped
 * from an earlier RAM file they are the file's (data where it has data, zero in its holes).
 */
static void test_ram_file_skips_untouched(void)
{
    const size_t size = 64u << 20;
    uint8_t *ram = anon_ram(size);
    CHECK(ram != NULL);
    madvise(ram, size, MADV_NOHUGEPAGE); /* one 4 KiB page per touch, not 2 MiB */
    ram[7 * 4096] = 1;
    memset(ram + (20u << 20), 0x33, 2 * 4096);
    ram[(40u << 20) + 5] = 0;              /* touched, but zero: read, not written */
    CHECK_EQ(page_had(ram + 7 * 4096), 1); /* /proc/self/pagemap is what the save trusts */
    char path[256], path2[300];
    snprintf(path, sizeof(path), "%s/ram-sparse", tmpdir);
    snprintf(path2, sizeof(path2), "%s/ram-sparse-2", tmpdir);
    struct vmm_snapshot_ram_stats st_w = {0};
    struct vmm_error err = {0};
    CHECK_EQ(vmm_snapshot_write_ram(ram, size, -1, path, &st_w, &err), 0);
    CHECK_EQ(st_w.written, 3 * 4096);
    CHECK_EQ(st_w.read, 4 * 4096);
    CHECK_EQ(page_had(ram + (30u << 20)), 0); /* the save did not touch what it skipped */

    /* The file mapped back, as a restore does; the guest then writes into one of its holes
     * and reads one of its data pages, and leaves the other data page alone. */
    uint8_t *dst = anon_ram(size);
    CHECK(dst != NULL);
    int src = -1;
    CHECK_EQ(vmm_snapshot_map_ram(dst, size, path, &src, &err), 0);
    CHECK(src >= 0);
    dst[(50u << 20) + 9] = 0x44;
    CHECK_EQ(dst[7 * 4096], 1);
    CHECK_EQ(page_had(dst + (20u << 20)), 0);
    /* Were the mapping taken for anonymous RAM, its untouched data would be lost: */
    CHECK_EQ(vmm_snapshot_write_ram(dst, size, -1, path2, &st_w, &err), 0);
    CHECK_EQ(st_w.written, 2 * 4096);
    CHECK_EQ(vmm_snapshot_write_ram(dst, size, src, path2, &st_w, &err), 0);
    CHECK_EQ(st_w.written, 4 * 4096); /* the untouched data pages came from the file */
    bool reports_holes = lseek(src, 0, SEEK_HOLE) < (off_t)size;
    if (reports_holes)
        CHECK(st_w.read <= 16 * 4096);
    uint8_t *check = anon_ram(size);
    CHECK(check != NULL);
    CHECK_EQ(vmm_snapshot_map_ram(check, size, path2, NULL, &err), 0);
    CHECK(memcmp(check, dst, size) == 0);
    CHECK_EQ(check[(20u << 20) + 4096], 0x33);
    CHECK_EQ(check[(50u << 20) + 9], 0x44);
    close(src);
    munmap(ram, size);
    munmap(dst, size);
    munmap(check, size);
    unlink(path);
    unlink(path2);
}

/* Long runs of data go to the disk past the page cache (O_DIRECT); scattered pages through it. */
static void test_ram_file_direct(void)
{
    const size_t size = 16u << 20, run = 4u << 20;
    uint8_t *ram = anon_ram(size);
    CHECK(ram != NULL);
    for (size_t i = 0; i < run; i += 4096)
        memset(ram + (4u << 20) + i, (int)(1 + (i / 4096) % 200), 4096);
    for (size_t i = 0; i < (2u << 20); i += 65536) /* 32 lone pages */
        memset(ram + (10u << 20) + i, 0x5A, 4096);
    char path[256], probe[256];
    snprintf(path, sizeof(path), "%s/ram-direct", tmpdir);
    snprintf(probe, sizeof(probe), "%s/direct-probe", tmpdir);
    int pfd = open(probe, O_WRONLY | O_CREAT | O_DIRECT, 0600);
    bool direct_ok = pfd >= 0;
    if (pfd >= 0)
        close(pfd);
    unlink(probe);
    struct vmm_snapshot_ram_stats st = {0};
    struct vmm_error err = {0};
    CHECK_EQ(vmm_snapshot_write_ram(ram, size, -1, path, &st, &err), 0);
    CHECK_EQ(st.written, run + 32 * 4096);
    if (!direct_ok) {
        printf("# %s does not take O_DIRECT: every run buffered\n", tmpdir);
        CHECK_EQ(st.direct, 0);
    } else {
        CHECK_EQ(st.direct, run);
    }
    struct statfs sfs;
    if (direct_ok && statfs(tmpdir, &sfs) == 0 && sfs.f_type == 0x01021994 /* TMPFS_MAGIC */) {
        printf("# %s is tmpfs: its files live in the page cache, residency not checked\n", tmpdir);
    } else if (direct_ok) {
        /* The long run never entered the page cache (looked at before anything reads it). */
        int fd = open(path, O_RDONLY);
        CHECK(fd >= 0);
        uint8_t *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        CHECK(m != MAP_FAILED);
        static unsigned char vec[(16u << 20) / 4096];
        CHECK_EQ(mincore(m, size, vec), 0);
        unsigned cached = 0;
        for (size_t i = 0; i < run / 4096; i++)
            cached += vec[(4u << 20) / 4096 + i] & 1;
        CHECK_EQ(cached, 0);
        munmap(m, size);
        close(fd);
    }
    uint8_t *check = anon_ram(size);
    CHECK(check != NULL);
    CHECK_EQ(vmm_snapshot_map_ram(check, size, path, NULL, &err), 0);
    CHECK(memcmp(check, ram, size) == 0);
    munmap(check, size);

    /* The same from the copy-on-write child, whose RAM pages are all shared with the parent. */
    struct vmm_snapshot_ram_writer wr;
    memset(&st, 0, sizeof(st));
    CHECK_EQ(vmm_snapshot_write_ram_fork(ram, size, -1, path, &wr, &err), 0);
    memset(ram + (4u << 20), 0xEE, 4096); /* after the fork: not in the file */
    CHECK_EQ(vmm_snapshot_write_ram_wait(&wr, path, &st, &err), 0);
    CHECK_EQ(st.written, run + 32 * 4096);
    CHECK_EQ(st.direct, direct_ok ? run : 0);
    check = anon_ram(size);
    CHECK(check != NULL);
    CHECK_EQ(vmm_snapshot_map_ram(check, size, path, NULL, &err), 0);
    CHECK_EQ(check[(4u << 20)], 1);
    CHECK(memcmp(check + (4u << 20) + 4096, ram + (4u << 20) + 4096, size - (4u << 20) - 4096) ==
          0);
    munmap(check, size);
    munmap(ram, size);
    unlink(path);
}

/* A copy-on-write child writes RAM as it was at the fork, while the parent changes it. */
static void test_ram_file_forked(void)
{
    const size_t size = 8u << 20;
    uint8_t *ram = anon_ram(size);
    CHECK(ram != NULL);
    for (size_t i = 0; i < size; i += 4096)
        if ((i / 4096) % 3)
            memset(ram + i, (int)(1 + (i / 4096) % 250), 4096);
    uint8_t *before = malloc(size);
    memcpy(before, ram, size);
    char path[256], tmp[300];
    snprintf(path, sizeof(path), "%s/ram-forked", tmpdir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    struct vmm_error err = {0};
    struct vmm_snapshot_ram_writer wr;
    CHECK_EQ(vmm_snapshot_write_ram_fork(ram, size, -1, path, &wr, &err), 0);
    memset(ram, 0xcd, size); /* the guest runs on at once */
    struct vmm_snapshot_ram_stats st = {0};
    CHECK_EQ(vmm_snapshot_write_ram_wait(&wr, path, &st, &err), 0);
    CHECK_EQ(st.written, (size / 4096 - (size / 4096 + 2) / 3) * 4096);
    CHECK(st.child_ns > 0);
    struct stat sb;
    CHECK(stat(tmp, &sb) < 0); /* renamed by the child */
    uint8_t *dst = anon_ram(size);
    CHECK_EQ(vmm_snapshot_map_ram(dst, size, path, NULL, &err), 0);
    CHECK(memcmp(dst, before, size) == 0);
    unlink(path);

    /* The child's failure comes back with its words; nothing is left behind. */
    char bad[300];
    snprintf(bad, sizeof(bad), "%s/no-such-dir/ram", tmpdir);
    CHECK_EQ(vmm_snapshot_write_ram_fork(ram, size, -1, bad, &wr, &err), 0);
    CHECK(vmm_snapshot_write_ram_wait(&wr, bad, &st, &err) < 0);
    CHECK(strstr(err.msg, "no-such-dir") != NULL);
    munmap(ram, size);
    munmap(dst, size);
    free(before);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        TEST_SKIP("cannot create a temporary directory");
    RUN_TEST(test_roundtrip);
    RUN_TEST(test_writer_refusals);
    RUN_TEST(test_truncation_and_corruption);
    RUN_TEST(test_lying_tables);
    RUN_TEST(test_commit);
    RUN_TEST(test_serial_desc);
    RUN_TEST(test_rtc_desc);
    RUN_TEST(test_i8042_desc);
    RUN_TEST(test_ram_file);
    RUN_TEST(test_ram_file_two_steps);
    RUN_TEST(test_ram_file_skips_untouched);
    RUN_TEST(test_ram_file_direct);
    RUN_TEST(test_ram_file_forked);
    rmdir(tmpdir);
    return test_finish();
}
