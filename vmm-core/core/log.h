/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_CORE_LOG_H
#define VMM_CORE_LOG_H

#include <stdint.h>

enum { VMM_LOG_ERROR = 0, VMM_LOG_WARN = 1, VMM_LOG_INFO = 2, VMM_LOG_DEBUG = 3 };

void vmm_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Rate limit for messages a guest can provoke: at most `burst` messages per
 * second per call site. Declare one static struct per call site.
 */
struct vmm_ratelimit {
    int64_t window_start_ns;
    unsigned count;
    unsigned suppressed;
};

int vmm_ratelimit_ok(struct vmm_ratelimit *rl, unsigned burst);

#define vmm_log_ratelimited(level, ...)   \
    do {                                  \
        static struct vmm_ratelimit rl__; \
        if (vmm_ratelimit_ok(&rl__, 10))  \
            vmm_log(level, __VA_ARGS__);  \
    } while (0)

int64_t vmm_now_ns(void); /* CLOCK_MONOTONIC */

#endif
