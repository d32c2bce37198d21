/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/util.h"

bool vmm_page_is_zero(const void *page)
{
    const uint64_t *w = page;
    /* Eight words at a time: the compiler vectorises the OR, and most pages end early. */
    for (unsigned i = 0; i < VMM_PAGE_SIZE / 8; i += 8) {
        uint64_t acc =
            w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
        if (acc)
            return false;
    }
    return true;
}
