/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Machine UUIDs as text: 8-4-4-4-12 hexadecimal digits, in RFC 4122 byte order. */
#include <errno.h>
#include <stdio.h>

#include "vmm/vmm.h"

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vmm_uuid_parse(const char *text, uint8_t uuid[16])
{
    unsigned n = 0;
    for (unsigned i = 0; i < 36; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return -EINVAL;
            continue;
        }
        int hi = hex_digit(c);
        int lo = hi < 0 ? -1 : hex_digit(text[++i]);
        if (lo < 0)
            return -EINVAL;
        uuid[n++] = (uint8_t)(hi << 4 | lo);
    }
    return text[36] ? -EINVAL : 0;
}

void vmm_uuid_format(const uint8_t uuid[16], char out[VMM_UUID_STRLEN])
{
    snprintf(out, VMM_UUID_STRLEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0],
             uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8], uuid[9],
             uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
}
