/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef TERRARIUM_RUN_SNAPSHOT_H
#define TERRARIUM_RUN_SNAPSHOT_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "vmm/vmm.h"

/* SIGUSR1 kicks vCPUs, SIGUSR2 presses the power button. */
#define RUN_SNAPSHOT_SIGNAL (SIGRTMIN + 1)

/*
 * terrarium-run's live-state options: --snapshot-save DIR saves the machine
 * on RUN_SNAPSHOT_SIGNAL (SIGRTMIN+1: `kill -s RTMIN+1 PID`) and/or
 * --snapshot-save-at SECONDS after start;
 * --snapshot-save-exit stops it once saved (the "save on close" path).
 */
struct run_snapshot {
    const char *save_dir;
    double save_at; /* seconds after start; < 0: only on the signal */
    bool save_exit;
    const char *disk_name; /* --snapshot-disks: the disks' internal snapshot, same pause */
    /* Runtime. */
    struct vmm_vm *vm;
    pthread_t thread;
    bool running;
    int pipe[2];
    volatile int saves, failures;
};

/* Parses --snapshot-save-at's SECONDS (decimal); -1 on error. */
int run_snapshot_parse_at(const char *s, double *out);
/* Starts the saver thread and the signal handler; -1 with a message on failure. */
int run_snapshot_start(struct run_snapshot *rs, struct vmm_vm *vm);
/* Stops the thread (call after the VM ended). */
void run_snapshot_stop(struct run_snapshot *rs);

#endif
