/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The RAM file's direct writer when the file system will not take a write past the page
 * cache: a write refused (EINVAL) or cut short is written again through the page cache and
 * direct writing stops; any other error ends the save, and the file that was at the path
 * before is still there. No file system here refuses an aligned O_DIRECT write, so this
 * executable is linked with --wrap=pwrite64 and --wrap=io_uring_queue_init: the writer gets
 * no io_uring (one synchronous write at a time, through pwrite), and pwrite on an O_DIRECT
 * descriptor does what the test asks for. Everything else is the real code and the real
 * file system.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "snapshot/snapshot.h"
#include "test.h"

enum injection { INJECT_NONE, INJECT_REFUSE, INJECT_SHORT, INJECT_EIO };
static enum injection inject;
static unsigned direct_calls; /* direct writes issued (this process) */

#ifdef TEST_RING
/*
 * Built a second time with TEST_RING (unit ram-file-ring-fallback) and --wrap=io_uring_submit:
 * the writer keeps its io_uring, and the writes it queues are altered on their way to the
 * kernel, which then really refuses them: a length that is not a multiple of the block size
 * (EINVAL from an O_DIRECT write), half the length (a short write), or no file (EBADF, the
 * "other error"). So the completion path is what is tested, with the real ring.
 */
#include <liburing.h>

#define OTHER_ERROR (-EBADF)
#define MAX_DIRECT_CALLS 2u /* both buffers may be in flight before the first completion */

int __real_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit(struct io_uring *ring);

int __wrap_io_uring_submit(struct io_uring *ring)
{
    struct io_uring_sq *sq = &ring->sq;
    for (unsigned h = sq->sqe_head; h != sq->sqe_tail; h++) {
        struct io_uring_sqe *sqe = &sq->sqes[h & sq->ring_mask];
        if (sqe->opcode != IORING_OP_WRITE)
            continue;
        direct_calls++;
        switch (inject) {
        case INJECT_REFUSE:
            sqe->len -= 1;
            break;
        case INJECT_SHORT:
            sqe->len /= 2;
            break;
        case INJECT_EIO:
            sqe->fd = -1;
            break;
        case INJECT_NONE:
            break;
        }
    }
    return __real_io_uring_submit(ring);
}
#else
struct io_uring;

#define OTHER_ERROR (-EIO)
#define MAX_DIRECT_CALLS 1u

ssize_t __real_pwrite64(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off);
int __wrap_io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags);

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_DIRECT)) {
        direct_calls++;
        switch (inject) {
        case INJECT_REFUSE:
            errno = EINVAL;
            return -1;
        case INJECT_SHORT: /* half of it lands, as at the end of a nearly full disk */
            return __real_pwrite64(fd, buf, n / 2, off);
        case INJECT_EIO:
            errno = EIO;
            return -1;
        case INJECT_NONE:
            break;
        }
    }
    return __real_pwrite64(fd, buf, n, off);
}

int __wrap_io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags)
{
    (void)entries;
    (void)ring;
    (void)flags;
    return -ENOSYS;
}
#endif

static char tmpdir[] = "/tmp/trm-ram-fallback-XXXXXX";

#define SIZE (16u << 20)
#define RUN (4u << 20)

/* SIZE bytes of fresh anonymous memory, or NULL (a failed check). */
static uint8_t *anon_ram(void)
{
    void *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    CHECK(p != MAP_FAILED);
    return p == MAP_FAILED ? NULL : p;
}

/* Two long runs (written direct when nothing goes wrong) and 32 lone pages (buffered). */
static uint8_t *make_ram(void)
{
    uint8_t *ram = anon_ram();
    if (!ram)
        return NULL;
    for (size_t i = 0; i < RUN; i += 4096) {
        memset(ram + (2u << 20) + i, (int)(1 + (i / 4096) % 200), 4096);
        memset(ram + (9u << 20) + i, (int)(7 + (i / 4096) % 100), 4096);
    }
    for (size_t i = 0; i < (2u << 20); i += 65536)
        memset(ram + (14u << 20) + i, 0x5A, 4096);
    return ram;
}

/* The file at path holds exactly ram. */
static void check_file(const char *path, const uint8_t *ram)
{
    uint8_t *back = anon_ram();
    struct vmm_error err = {0};
    if (!back)
        return;
    CHECK_EQ(vmm_snapshot_map_ram(back, SIZE, path, NULL, &err), 0);
    CHECK(memcmp(back, ram, SIZE) == 0);
    munmap(back, SIZE);
}

static void save_with(enum injection what, const uint8_t *ram, const char *path,
                      struct vmm_snapshot_ram_stats *st)
{
    struct vmm_error err = {0};
    inject = what;
    direct_calls = 0;
    memset(st, 0, sizeof(*st));
    CHECK_EQ(vmm_snapshot_write_ram(ram, SIZE, -1, path, st, &err), 0);
    inject = INJECT_NONE;
}

/*
 * One save with the given injection: the file holds RAM exactly, whatever went direct.
 * Without injection both long runs go direct (the baseline). A refused direct write sends
 * that run and everything after it through the page cache; one cut short counts what
 * landed and sends the rest, and everything after, the same way. Either way direct writing
 * stops at the first such write.
 */
static void fallback_case(enum injection what)
{
    uint8_t *ram = make_ram();
    char path[256];
    struct vmm_snapshot_ram_stats st;
    snprintf(path, sizeof(path), "%s/ram", tmpdir);
    save_with(what, ram, path, &st);
    CHECK_EQ(st.written, 2 * RUN + 32 * 4096);
    if (what == INJECT_NONE) {
        CHECK_EQ(st.direct, 2 * RUN);
        CHECK(direct_calls >= 2);
    } else {
        CHECK(direct_calls >= 1 && direct_calls <= MAX_DIRECT_CALLS);
        if (what == INJECT_REFUSE)
            CHECK_EQ(st.direct, 0);
        else
            CHECK(st.direct > 0 && st.direct < RUN);
    }
    check_file(path, ram);
    unlink(path);
    munmap(ram, SIZE);
}

static void test_direct_baseline(void)
{
    fallback_case(INJECT_NONE);
}

static void test_refused(void)
{
    fallback_case(INJECT_REFUSE);
}

static void test_short(void)
{
    fallback_case(INJECT_SHORT);
}

/* Any other error ends the save with it, and the file saved before is untouched. */
static void test_error_keeps_old_file(void)
{
    uint8_t *ram = make_ram();
    char path[256];
    struct vmm_snapshot_ram_stats st;
    struct vmm_error err = {0};
    snprintf(path, sizeof(path), "%s/ram", tmpdir);
    save_with(INJECT_NONE, ram, path, &st);
    uint8_t *changed = make_ram();
    memset(changed + (2u << 20), 0xEE, RUN);
    inject = INJECT_EIO;
    int r = vmm_snapshot_write_ram(changed, SIZE, -1, path, &st, &err);
    inject = INJECT_NONE;
    CHECK_EQ(r, OTHER_ERROR);
    CHECK(err.msg[0] != '\0');
    if (getenv("TEST_VERBOSE"))
        printf("# %s\n", err.msg);
    check_file(path, ram); /* the earlier save, not a mix */
    unlink(path);
    munmap(changed, SIZE);
    munmap(ram, SIZE);
}

/* The same refusal in the copy-on-write child that writes a running machine's RAM. */
static void test_refused_forked(void)
{
    uint8_t *ram = make_ram();
    char path[256];
    struct vmm_snapshot_ram_writer wr;
    struct vmm_snapshot_ram_stats st = {0};
    struct vmm_error err = {0};
    snprintf(path, sizeof(path), "%s/ram", tmpdir);
    inject = INJECT_REFUSE; /* inherited by the child */
    CHECK_EQ(vmm_snapshot_write_ram_fork(ram, SIZE, -1, path, &wr, &err), 0);
    inject = INJECT_NONE;
    CHECK_EQ(vmm_snapshot_write_ram_wait(&wr, path, &st, &err), 0);
    CHECK_EQ(st.written, 2 * RUN + 32 * 4096);
    CHECK_EQ(st.direct, 0);
    check_file(path, ram);
    unlink(path);
    munmap(ram, SIZE);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        TEST_SKIP("cannot create a temporary directory");
    char probe[300];
    snprintf(probe, sizeof(probe), "%s/probe", tmpdir);
    int fd = open(probe, O_WRONLY | O_CREAT | O_DIRECT, 0600);
    if (fd < 0) {
        rmdir(tmpdir);
        TEST_SKIP("/tmp does not take O_DIRECT: the RAM file never writes direct there");
    }
    close(fd);
    unlink(probe);
#ifdef TEST_RING
    struct io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) < 0) {
        rmdir(tmpdir);
        TEST_SKIP(
            "no io_uring here: the RAM file writes direct without one (unit ram-file-fallback)");
    }
    io_uring_queue_exit(&ring);
#endif
    RUN_TEST(test_direct_baseline);
    RUN_TEST(test_refused);
    RUN_TEST(test_short);
    RUN_TEST(test_error_keeps_old_file);
    RUN_TEST(test_refused_forked);
    rmdir(tmpdir);
    return test_finish();
}
