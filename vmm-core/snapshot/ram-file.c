/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest RAM as a sparse file. Zero pages are holes (ftruncate first, then
 * only runs of non-zero pages are written), so a mostly idle 512 MiB guest
 * costs a few tens of MiB on disk. Restoring maps the file MAP_PRIVATE over
 * the RAM mapping: nothing is read up front, the guest's first touch of a
 * page faults it in from the page cache, its first write copies it.
 *
 * Saving reads only pages that can hold data. /proc/self/pagemap says which
 * pages of the mapping the process has (present or swapped): in anonymous RAM
 * a page it never had is zero, and reading it would map the zero page into
 * the VMM and cost a scan (most of a save's time for an idle guest) and later,
 * when the guest writes there, a split huge page. In RAM mapped from an
 * earlier RAM file, a page never had holds the file's contents: data if the
 * file has data there (SEEK_DATA), else zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <liburing.h>

#include "snapshot/snapshot.h"
#include "core/file.h"
#include "core/log.h"
#include "core/util.h"

#define PAGE 4096u
/*
 * Bytes per pwrite. Each run is handed to writeback at once (sync_file_range), so the disk
 * works while the next run is copied and the final fdatasync has little left to do. Measured
 * on ext4 (virtio disk), 128 MiB of data: 16 MiB runs without the early writeback took
 * 0.6-1.3 s to write and sync, 1 MiB runs with it 0.1-0.16 s; long runs of dirty pages get the
 * writer throttled.
 */
#define MAX_RUN (1u << 20)
/*
 * Runs this long bypass the page cache (O_DIRECT), so a save of gigabytes neither grows the
 * host's page cache (measured here: 1.5 GiB took 1.0-5.2 s buffered, by how much memory the
 * cache had at hand, and 0.84-0.88 s direct) nor evicts what the user had in it. They go
 * through a bounce buffer of the writer's own: in the copy-on-write child every page of RAM
 * is shared with the VMM, and pinning a shared page for direct I/O makes the kernel copy it
 * first (a fresh page each, huge pages whole), which made direct writes from RAM itself
 * slower than buffered ones. Two buffers take turns through io_uring, so the next run is
 * copied while the disk writes the last one. Shorter runs (scattered pages) stay buffered,
 * where the page cache merges them into large writes. A file system that refuses O_DIRECT
 * gets every run buffered.
 */
#define DIRECT_MIN_RUN (256u << 10)
#define DIRECT_BUFS 2

static int tmp_name(char *tmp, size_t len, const char *path, struct vmm_error *err)
{
    if ((size_t)snprintf(tmp, len, "%s.tmp", path) >= len) {
        vmm_error_set(err, -ENAMETOOLONG, "the RAM file name %s is too long", path);
        return -ENAMETOOLONG;
    }
    return 0;
}

/* Which pages may hold data: the pagemap of the mapping, and the holes of its source file. */
struct page_source {
    const uint8_t *base;
    uint64_t size;
    int pagemap_fd;       /* -1: every page is read */
    int file_fd;          /* the file mapped at base, or -1 for anonymous RAM */
    uint64_t chunk_start; /* first page offset covered by entries[] */
    uint64_t chunk_len;   /* bytes of RAM covered by entries[] */
    uint64_t data_start;  /* file: the data extent at or after the last query */
    uint64_t data_end;
    uint64_t entries[4096]; /* pagemap entries: 16 MiB of RAM per read */
};

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)

static void page_source_init(struct page_source *ps, const uint8_t *base, uint64_t size,
                             int file_fd)
{
    ps->base = base;
    ps->size = size;
    ps->file_fd = file_fd;
    ps->chunk_start = ps->chunk_len = 0;
    ps->data_start = ps->data_end = 0;
    ps->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

/* True unless the page at off is known to be zero without reading it. */
static bool page_may_hold_data(struct page_source *ps, uint64_t off)
{
    if (ps->pagemap_fd < 0)
        return true;
    if (off < ps->chunk_start || off >= ps->chunk_start + ps->chunk_len) {
        uint64_t n = vmm_min_u64((ps->size - off) / PAGE, sizeof(ps->entries) / 8);
        if (n == 0)
            return true; /* a partial last page: read it */
        off_t at = (off_t)(((uintptr_t)ps->base + off) / PAGE * 8);
        ssize_t got = pread(ps->pagemap_fd, ps->entries, n * 8, at);
        if (got != (ssize_t)(n * 8)) {
            /* Not readable as expected: stop trusting it, read everything. */
            close(ps->pagemap_fd);
            ps->pagemap_fd = -1;
            return true;
        }
        ps->chunk_start = off;
        ps->chunk_len = n * PAGE;
    }
    uint64_t e = ps->entries[(off - ps->chunk_start) / PAGE];
    if (e & (PM_PRESENT | PM_SWAPPED))
        return true;
    if (ps->file_fd < 0)
        return false;
    if (off >= ps->data_end) {
        off_t d = lseek(ps->file_fd, (off_t)off, SEEK_DATA);
        if (d < 0 && errno == ENXIO) {
            ps->data_start = ps->data_end = ps->size; /* no data from here on */
        } else if (d < 0) {
            ps->data_start = 0; /* cannot tell: everything is data */
            ps->data_end = ps->size;
        } else {
            off_t h = lseek(ps->file_fd, d, SEEK_HOLE);
            ps->data_start = (uint64_t)d;
            ps->data_end = h < d ? ps->size : (uint64_t)h;
        }
    }
    return off >= ps->data_start && off < ps->data_end;
}

/*
 * Long runs, written O_DIRECT from bounce buffers, DIRECT_BUFS in flight. A write the file
 * system refuses (EINVAL) or cuts short is written again through the page cache from RAM
 * (base + its offset), and direct writing stops there; other errors end the save.
 */
struct direct_writer {
    int fd;       /* O_DIRECT descriptor, or -1: everything buffered */
    int buffered; /* the same file, through the page cache */
    const uint8_t *base;
    bool ring_ok; /* else one synchronous write at a time */
    struct io_uring ring;
    uint8_t *buf[DIRECT_BUFS];
    uint64_t off[DIRECT_BUFS], len[DIRECT_BUFS];
    bool busy[DIRECT_BUFS];
    unsigned next;
    uint64_t bytes; /* written direct, completed */
};

static int buffered_write(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
    int r = vmm_pwrite_full(fd, p, (size_t)len, off);
    /* Only a hint: the fdatasync in _finish is what makes the file durable. */
    if (r == 0)
        sync_file_range(fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
    return r;
}

static void direct_open(struct direct_writer *dw, const char *tmp, int buffered,
                        const uint8_t *base)
{
    memset(dw, 0, sizeof(*dw));
    dw->buffered = buffered;
    dw->base = base;
    dw->fd = open(tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
    for (unsigned i = 0; dw->fd >= 0 && i < DIRECT_BUFS; i++) {
        dw->buf[i] = aligned_alloc(PAGE, MAX_RUN);
        if (!dw->buf[i]) {
            close(dw->fd);
            dw->fd = -1;
        }
    }
    if (dw->fd >= 0)
        dw->ring_ok = io_uring_queue_init(DIRECT_BUFS * 2, &dw->ring, 0) == 0;
}

/* What became of slot i's write (res: bytes written or -errno); frees the slot. */
static int direct_done(struct direct_writer *dw, unsigned i, long res)
{
    dw->busy[i] = false;
    if (res == (long)dw->len[i]) {
        dw->bytes += dw->len[i];
        return 0;
    }
    if (res >= 0 || res == -EINVAL) {
        /* Cut short, or refused: through the page cache, and no more direct writes. */
        uint64_t done = res > 0 ? (uint64_t)res : 0;
        dw->bytes += done;
        if (dw->fd >= 0) {
            close(dw->fd);
            dw->fd = -1;
        }
        return buffered_write(dw->buffered, dw->base + dw->off[i] + done, dw->len[i] - done,
                              dw->off[i] + done);
    }
    return (int)res;
}

/*
 * Waits for one completion; its slot is free after. *reaped is false when the ring itself
 * could not be waited on (nothing was reaped).
 */
static int direct_reap(struct direct_writer *dw, bool *reaped)
{
    struct io_uring_cqe *cqe;
    int r;
    do {
        r = io_uring_wait_cqe(&dw->ring, &cqe);
    } while (r == -EINTR);
    *reaped = r == 0;
    if (r < 0)
        return r;
    unsigned i = (unsigned)io_uring_cqe_get_data64(cqe);
    long res = cqe->res;
    io_uring_cqe_seen(&dw->ring, cqe);
    return i < DIRECT_BUFS ? direct_done(dw, i, res) : -EIO;
}

/* Writes [off, off + len) of RAM direct; false when it must go buffered (no direct writing). */
static bool direct_write(struct direct_writer *dw, uint64_t off, uint64_t len, int *r)
{
    if (dw->fd < 0)
        return false;
    unsigned i = dw->next;
    bool reaped = true;
    while (*r == 0 && dw->busy[i])
        *r = direct_reap(dw, &reaped);
    if (*r < 0 || dw->fd < 0)
        return *r < 0;
    memcpy(dw->buf[i], dw->base + off, len);
    dw->off[i] = off;
    dw->len[i] = len;
    dw->busy[i] = true;
    struct io_uring_sqe *sqe = dw->ring_ok ? io_uring_get_sqe(&dw->ring) : NULL;
    if (sqe) {
        io_uring_prep_write(sqe, dw->fd, dw->buf[i], (unsigned)len, off);
        io_uring_sqe_set_data64(sqe, i);
        int s = io_uring_submit(&dw->ring);
        if (s < 0) {
            /* The write stays queued in the ring, and its buffer with it: the save fails. */
            dw->busy[i] = false;
            *r = s;
            return true;
        }
        dw->next = (i + 1) % DIRECT_BUFS;
        return true;
    }
    /* No ring: one synchronous write. */
    ssize_t n = pwrite(dw->fd, dw->buf[i], len, (off_t)off);
    *r = direct_done(dw, i, n < 0 ? -errno : (long)n);
    return true;
}

/* Waits for the writes in flight (even after an error: the buffers are freed next). */
static int direct_close(struct direct_writer *dw)
{
    int r = 0;
    bool in_flight = false, reaped = true;
    for (;;) {
        in_flight = false;
        for (unsigned i = 0; i < DIRECT_BUFS; i++)
            in_flight |= dw->busy[i];
        if (!in_flight || !dw->ring_ok || !reaped)
            break;
        int e = direct_reap(dw, &reaped);
        if (e < 0 && r == 0)
            r = e;
    }
    if (dw->ring_ok)
        io_uring_queue_exit(&dw->ring);
    /* A write the ring could not report may still read its buffer: leave that one be. */
    for (unsigned i = 0; i < DIRECT_BUFS; i++)
        if (!in_flight || !dw->busy[i])
            free(dw->buf[i]);
    if (dw->fd >= 0)
        close(dw->fd);
    return r;
}

int vmm_snapshot_write_ram_begin(const uint8_t *base, uint64_t size, int source_fd,
                                 const char *path, int *fdp, struct vmm_snapshot_ram_stats *st,
                                 struct vmm_error *err)
{
    char tmp[PATH_MAX];
    int r = tmp_name(tmp, sizeof(tmp), path, err);
    if (r < 0)
        return r;
    struct page_source *ps = malloc(sizeof(*ps));
    if (!ps) {
        vmm_error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    page_source_init(ps, base, size, source_fd);
    /* A new inode: a running machine restored from `path` still maps the old one. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        if (ps->pagemap_fd >= 0)
            close(ps->pagemap_fd);
        free(ps);
        vmm_error_set(err, -e, "cannot create %s: %s", tmp, strerror(e));
        return -e;
    }
    r = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
    struct direct_writer dw;
    direct_open(&dw, tmp, fd, base);
    uint64_t total = 0, read_bytes = 0;
    uint64_t run_start = 0, run_len = 0;
    for (uint64_t off = 0; r == 0 && off < size; off += PAGE) {
        bool zero = true;
        if (page_may_hold_data(ps, off)) {
            read_bytes += PAGE;
            zero = vmm_page_is_zero(base + off);
        }
        if (!zero) {
            if (run_len == 0)
                run_start = off;
            run_len += PAGE;
        }
        if (run_len && (zero || run_len >= MAX_RUN || off + PAGE >= size)) {
            if (run_len < DIRECT_MIN_RUN || !direct_write(&dw, run_start, run_len, &r))
                r = buffered_write(fd, base + run_start, run_len, run_start);
            total += run_len;
            run_len = 0;
        }
    }
    int dr = direct_close(&dw);
    if (r == 0)
        r = dr;
    if (ps->pagemap_fd >= 0)
        close(ps->pagemap_fd);
    free(ps);
    if (r < 0) {
        close(fd);
        unlink(tmp);
        vmm_error_set(err, r, "cannot write the RAM file %s: %s", path, strerror(-r));
        return r;
    }
    *fdp = fd;
    if (st) {
        st->written = total;
        st->read = read_bytes;
        st->direct = dw.bytes;
    }
    return 0;
}

int vmm_snapshot_write_ram_finish(int fd, const char *path, struct vmm_error *err)
{
    char tmp[PATH_MAX];
    int r = tmp_name(tmp, sizeof(tmp), path, err);
    if (r == 0 && fdatasync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        if (r != -ENAMETOOLONG) {
            unlink(tmp);
            vmm_error_set(err, r, "cannot write the RAM file %s: %s", path, strerror(-r));
        }
        return r;
    }
    return 0;
}

/* What the writing child reports through its pipe (one write, below PIPE_BUF). */
struct ram_report {
    int r;
    uint64_t written, read, direct, ns;
    char msg[sizeof(((struct vmm_error *)0)->msg)];
};

/*
 * The child: a copy-on-write image of the whole process as it was at fork(). Only system
 * calls, malloc and vsnprintf from here (no logging: another thread may have held the
 * stdio lock at fork time), then _exit.
 */
static _Noreturn void ram_child(const uint8_t *base, uint64_t size, int source_fd, const char *path,
                                int wfd)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL); /* Ctrl-C is the parent's to handle */
    struct ram_report rep;
    memset(&rep, 0, sizeof(rep));
    struct vmm_error e = {0};
    struct vmm_snapshot_ram_stats st = {0};
    uint64_t t0 = (uint64_t)vmm_now_ns();
    rep.r = vmm_snapshot_write_ram(base, size, source_fd, path, &st, &e);
    rep.written = st.written;
    rep.read = st.read;
    rep.direct = st.direct;
    rep.ns = (uint64_t)vmm_now_ns() - t0;
    memcpy(rep.msg, e.msg, sizeof(rep.msg));
    ssize_t n;
    do {
        n = write(wfd, &rep, sizeof(rep));
    } while (n < 0 && errno == EINTR);
    _exit(n == (ssize_t)sizeof(rep) ? 0 : 1);
}

int vmm_snapshot_write_ram_fork(const uint8_t *base, uint64_t size, int source_fd, const char *path,
                                struct vmm_snapshot_ram_writer *wr, struct vmm_error *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        int e = errno;
        vmm_error_set(err, -e, "cannot start the RAM writer: %s", strerror(e));
        return -e;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        ram_child(base, size, source_fd, path, p[1]);
    }
    int e = errno;
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        vmm_error_set(err, -e, "cannot start the RAM writer: %s", strerror(e));
        return -e;
    }
    wr->pid = pid;
    wr->pipe = p[0];
    return 0;
}

int vmm_snapshot_write_ram_wait(struct vmm_snapshot_ram_writer *wr, const char *path,
                                struct vmm_snapshot_ram_stats *st, struct vmm_error *err)
{
    struct ram_report rep;
    size_t got = 0;
    while (got < sizeof(rep)) {
        ssize_t n = read(wr->pipe, (char *)&rep + got, sizeof(rep) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(wr->pipe);
    wr->pipe = -1;
    int status = 0;
    /* ECHILD: someone else reaped it (a GLib child watch); the pipe said what it did. */
    while (waitpid(wr->pid, &status, 0) < 0 && errno == EINTR)
        ;
    wr->pid = -1;
    if (got != sizeof(rep)) {
        char tmp[PATH_MAX];
        if (tmp_name(tmp, sizeof(tmp), path, NULL) == 0)
            unlink(tmp);
        vmm_error_set(err, -EIO, "the process writing the RAM file %s ended before it finished",
                      path);
        return -EIO;
    }
    rep.msg[sizeof(rep.msg) - 1] = 0;
    if (rep.r < 0) {
        vmm_error_set(err, rep.r, "%s", rep.msg);
        return rep.r;
    }
    if (st) {
        st->written = rep.written;
        st->read = rep.read;
        st->direct = rep.direct;
        st->child_ns = rep.ns;
    }
    return 0;
}

int vmm_snapshot_write_ram(const uint8_t *base, uint64_t size, int source_fd, const char *path,
                           struct vmm_snapshot_ram_stats *st, struct vmm_error *err)
{
    int fd;
    int r = vmm_snapshot_write_ram_begin(base, size, source_fd, path, &fd, st, err);
    return r < 0 ? r : vmm_snapshot_write_ram_finish(fd, path, err);
}

int vmm_snapshot_map_ram(uint8_t *base, uint64_t size, const char *path, int *source_fd,
                         struct vmm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        vmm_error_set(err, -e, "cannot open the saved RAM %s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
        close(fd);
        vmm_error_set(err, -EINVAL,
                      "the saved RAM %s does not match this machine's %llu MiB of memory", path,
                      (unsigned long long)(size >> 20));
        return -EINVAL;
    }
    /* Over the anonymous mapping, before KVM learns of it; the file may go away later. */
    void *p =
        mmap(base, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
    int e = errno;
    if (p == MAP_FAILED) {
        close(fd);
        vmm_error_set(err, -e, "cannot map the saved RAM %s: %s", path, strerror(e));
        return -e;
    }
    madvise(base, size, MADV_DONTDUMP);
    if (source_fd)
        *source_fd = fd;
    else
        close(fd);
    return 0;
}
