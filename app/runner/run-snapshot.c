/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run-snapshot.h"

static int sig_pipe = -1;

static void on_save_signal(int sig)
{
    (void)sig;
    char c = 's';
    if (sig_pipe >= 0) {
        ssize_t r = write(sig_pipe, &c, 1); /* async-signal-safe */
        (void)r;
    }
}

int run_snapshot_parse_at(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400 * 365.0) {
        fprintf(stderr, "terrarium-run: --snapshot-save-at takes seconds, not '%s'\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void save_once(struct run_snapshot *rs)
{
    struct vmm_error err = {0};
    struct vmm_save_stats st = {0};
    /* Saving to stop: the guest must not run on past the state it is saved in. */
    if (rs->save_exit && vmm_vm_pause(rs->vm) < 0) {
        rs->failures++;
        fprintf(stderr, "terrarium-run: cannot pause the machine to save it\n");
        return;
    }
    int r;
    if (rs->disk_name) {
        /* A second save replaces the first one's disk snapshot. */
        struct vmm_error ignored = {0};
        (void)!vmm_vm_snapshot_delete(rs->vm, rs->disk_name, &ignored);
        r = vmm_vm_snapshot_take(rs->vm, rs->disk_name, rs->save_dir, &st, &err);
    } else {
        r = vmm_vm_save_state(rs->vm, rs->save_dir, &st, &err);
    }
    if (r < 0) {
        rs->failures++;
        fprintf(stderr, "terrarium-run: cannot save the machine: %s\n", err.msg);
        return;
    }
    rs->saves++;
    char child[96] = "";
    if (st.ram_child_ns)
        snprintf(child, sizeof(child), "; written by a copy-on-write child in %.1f ms",
                 st.ram_child_ns / 1e6);
    fprintf(stderr,
            "terrarium-run: saved the machine to %s: RAM %.1f of %llu MiB written, guest paused "
            "%.1f ms, save took %.1f ms (%u pause%s; last pause: state %.1f ms, disks %.1f ms, "
            "RAM %.1f ms, %.1f MiB of it read%s; %.1f MiB past the page cache)\n",
            rs->save_dir, st.ram_written / 1048576.0, (unsigned long long)(st.ram_size >> 20),
            st.paused_ns / 1e6, st.total_ns / 1e6, st.tries, st.tries == 1 ? "" : "s",
            st.state_ns / 1e6, st.disks_ns / 1e6, st.ram_ns / 1e6, st.ram_read / 1048576.0, child,
            st.ram_direct / 1048576.0);
    if (rs->save_exit)
        vmm_vm_request_stop(rs->vm);
}

static void *saver(void *arg)
{
    struct run_snapshot *rs = arg;
    double deadline = rs->save_at >= 0 ? now_s() + rs->save_at : -1;
    for (;;) {
        int timeout = -1;
        if (deadline >= 0) {
            double left = deadline - now_s();
            timeout = left <= 0 ? 0 : (int)ceil(left * 1000);
        }
        struct pollfd p = {.fd = rs->pipe[0], .events = POLLIN};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            deadline = -1;
            save_once(rs);
            continue;
        }
        char c;
        if (read(rs->pipe[0], &c, 1) <= 0 || c == 'q')
            break;
        save_once(rs);
    }
    return NULL;
}

int run_snapshot_start(struct run_snapshot *rs, struct vmm_vm *vm)
{
    if (!rs->save_dir)
        return 0;
    rs->vm = vm;
    if (pipe2(rs->pipe, O_CLOEXEC) < 0) {
        fprintf(stderr, "terrarium-run: %s\n", strerror(errno));
        return -1;
    }
    sig_pipe = rs->pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_save_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(RUN_SNAPSHOT_SIGNAL, &sa, NULL);
    if (pthread_create(&rs->thread, NULL, saver, rs) != 0) {
        fprintf(stderr, "terrarium-run: cannot start the snapshot thread\n");
        return -1;
    }
    rs->running = true;
    return 0;
}

void run_snapshot_stop(struct run_snapshot *rs)
{
    if (!rs->running)
        return;
    char q = 'q';
    ssize_t r = write(rs->pipe[1], &q, 1);
    (void)r;
    pthread_join(rs->thread, NULL);
    signal(RUN_SNAPSHOT_SIGNAL, SIG_IGN);
    sig_pipe = -1;
    close(rs->pipe[0]);
    close(rs->pipe[1]);
    rs->running = false;
}
