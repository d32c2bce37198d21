/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest-side 4 KiB random I/O for the lab's virtio benchmark (busybox has
 * no fio). Built static by tests/lab/mk-initramfs.py and put in the
 * initramfs as /bin/blkbench.
 *
 *   blkbench DEVICE read|write DEPTH SECONDS SPAN_MIB
 *
 * O_DIRECT 4 KiB reads or writes at random 4 KiB-aligned offsets within the
 * first SPAN_MIB MiB, DEPTH of them in flight at all times (Linux native
 * AIO, io_submit / io_getevents by syscall: no libaio), for SECONDS.
 * Prints IOPS=<completions per second> and ERRORS=<failed completions>.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define MAX_DEPTH 256

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: blkbench DEVICE read|write DEPTH SECONDS SPAN_MIB\n");
        return 2;
    }
    int write_mode = strcmp(argv[2], "write") == 0;
    int depth = atoi(argv[3]);
    double seconds = atof(argv[4]);
    uint64_t blocks = (uint64_t)atoll(argv[5]) * (1024 * 1024 / BS);
    if (depth < 1 || depth > MAX_DEPTH || seconds <= 0 || blocks == 0) {
        fprintf(stderr, "blkbench: bad arguments\n");
        return 2;
    }
    int fd = open(argv[1], (write_mode ? O_RDWR : O_RDONLY) | O_DIRECT);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    aio_context_t ctx = 0;
    if (syscall(SYS_io_setup, depth, &ctx) < 0) {
        perror("io_setup");
        return 1;
    }
    static struct iocb cbs[MAX_DEPTH];
    static struct io_event ev[MAX_DEPTH];
    uint8_t *buf;
    if (posix_memalign((void **)&buf, BS, (size_t)BS * (size_t)depth)) {
        fprintf(stderr, "blkbench: out of memory\n");
        return 1;
    }
    memset(buf, 0x5a, (size_t)BS * (size_t)depth);
    rng ^= (uint64_t)getpid() << 20;

    uint64_t done = 0, errors = 0;
    double t0 = now(), end = t0 + seconds;
    int inflight = 0;
    for (int i = 0; i < depth; i++) {
        struct iocb *cb = &cbs[i];
        memset(cb, 0, sizeof(*cb));
        cb->aio_data = (uint64_t)i;
        cb->aio_fildes = (uint32_t)fd;
        cb->aio_lio_opcode = write_mode ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
        cb->aio_buf = (uint64_t)(uintptr_t)(buf + (size_t)BS * (size_t)i);
        cb->aio_nbytes = BS;
        cb->aio_offset = (int64_t)((next_rand() % blocks) * BS);
        struct iocb *one = cb;
        if (syscall(SYS_io_submit, ctx, 1, &one) != 1) {
            perror("io_submit");
            return 1;
        }
        inflight++;
    }
    double t = t0;
    while (inflight) {
        long n = syscall(SYS_io_getevents, ctx, 1, inflight, ev, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("io_getevents");
            return 1;
        }
        t = now();
        for (long k = 0; k < n; k++) {
            inflight--;
            if (ev[k].res != BS)
                errors++;
            else
                done++;
            if (t >= end)
                continue; /* winding down: let the rest finish */
            struct iocb *cb = &cbs[ev[k].data];
            cb->aio_offset = (int64_t)((next_rand() % blocks) * BS);
            struct iocb *one = cb;
            if (syscall(SYS_io_submit, ctx, 1, &one) != 1) {
                perror("io_submit");
                return 1;
            }
            inflight++;
        }
    }
    printf("IOPS=%.0f\nERRORS=%llu\n", (double)done / (t - t0), (unsigned long long)errors);
    return errors ? 1 : 0;
}
