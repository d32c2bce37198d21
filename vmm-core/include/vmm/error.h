/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_ERROR_H
#define VMM_ERROR_H

/*
 * Top-level entry points fill an optional struct vmm_error with one human
 * sentence that a front end can show as it is, and a negative errno in code.
 */
struct vmm_error {
    int code;
    char msg[512];
};

void vmm_error_set(struct vmm_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
