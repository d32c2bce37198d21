/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "vmm/vmm.h"

/* The one process-wide setting: verbosity is a property of the process, not of a VM. */
static atomic_int log_level = VMM_LOG_WARN;

void vmm_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int64_t vmm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void vmm_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > atomic_load(&log_level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "vmm %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], line);
}

int vmm_ratelimit_ok(struct vmm_ratelimit *rl, unsigned burst)
{
    int64_t now = vmm_now_ns();
    if (now - rl->window_start_ns >= 1000000000LL) {
        if (rl->suppressed)
            vmm_log(VMM_LOG_WARN, "(%u similar messages suppressed)", rl->suppressed);
        rl->window_start_ns = now;
        rl->count = 0;
        rl->suppressed = 0;
    }
    if (rl->count < burst) {
        rl->count++;
        return 1;
    }
    rl->suppressed++;
    return 0;
}
