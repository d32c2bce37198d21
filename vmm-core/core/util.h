/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers shared across vmm-core. */
#ifndef VMM_CORE_UTIL_H
#define VMM_CORE_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#define VMM_PAGE_SIZE 4096u

static inline uint64_t vmm_min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* True when the 4 KiB at page (8-byte aligned) are all zero; stops at the first non-zero word. */
bool vmm_page_is_zero(const void *page);

#endif
