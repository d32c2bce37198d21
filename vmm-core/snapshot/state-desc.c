/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/state-desc.h"

static uint64_t get_elem(const uint8_t *p, unsigned width)
{
    switch (width) {
    case 1:
        return *p;
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

static void set_elem(uint8_t *p, unsigned width, uint64_t v)
{
    switch (width) {
    case 1:
        *p = (uint8_t)v;
        break;
    case 2: {
        uint16_t x = (uint16_t)v;
        memcpy(p, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)v;
        memcpy(p, &x, 4);
        break;
    }
    default:
        memcpy(p, &v, 8);
        break;
    }
}

static bool field_ok(const struct vmm_state_field *f)
{
    return (f->width == 1 || f->width == 2 || f->width == 4 || f->width == 8) && f->count > 0;
}

int vmm_state_encode(const struct vmm_state_desc *d, void *obj, struct vmm_buf *out)
{
    uint8_t *base = obj;
    void *scratch = NULL;
    if (d->state_size) {
        scratch = calloc(1, d->state_size);
        if (!scratch)
            return -ENOMEM;
        d->pre_save(obj, scratch);
        base = scratch;
    } else if (d->pre_save) {
        d->pre_save(obj, NULL);
    }
    vmm_buf_put_u32(out, d->version);
    for (unsigned i = 0; i < d->nfields; i++) {
        const struct vmm_state_field *f = &d->fields[i];
        if (!field_ok(f) || f->since > d->version)
            continue;
        for (uint32_t k = 0; k < f->count; k++) {
            uint64_t v = get_elem(base + f->offset + (size_t)k * f->width, f->width);
            if (f->kind == VMM_STATE_BOOL)
                v = v != 0;
            uint8_t le[8];
            for (unsigned b = 0; b < f->width; b++)
                le[b] = (uint8_t)(v >> (8 * b));
            vmm_buf_put(out, le, f->width);
        }
    }
    free(scratch);
    return out->failed ? -ENOMEM : 0;
}

int vmm_state_decode(const struct vmm_state_desc *d, void *obj, const uint8_t *data, size_t len,
                     struct vmm_error *err)
{
    if (len < 4) {
        vmm_error_set(err, -EINVAL, "the saved %s state is truncated", d->name);
        return -EINVAL;
    }
    uint32_t version = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                       (uint32_t)data[3] << 24;
    if (version < d->min_version || version > d->version) {
        vmm_error_set(err, -EINVAL,
                      "the saved %s state has version %u; this Terrarium reads %u to %u", d->name,
                      version, d->min_version, d->version);
        return -EINVAL;
    }
    size_t need = 4;
    for (unsigned i = 0; i < d->nfields; i++) {
        const struct vmm_state_field *f = &d->fields[i];
        if (field_ok(f) && f->since <= version)
            need += (size_t)f->width * f->count;
    }
    if (len != need) {
        vmm_error_set(err, -EINVAL, "the saved %s state is %zu bytes, not the %zu of version %u",
                      d->name, len, need, version);
        return -EINVAL;
    }
    uint8_t *base = obj;
    void *scratch = NULL;
    if (d->state_size) {
        scratch = calloc(1, d->state_size);
        if (!scratch) {
            vmm_error_set(err, -ENOMEM, "out of memory loading the %s state", d->name);
            return -ENOMEM;
        }
        base = scratch;
    }
    const uint8_t *p = data + 4;
    int r = 0;
    for (unsigned i = 0; i < d->nfields && r == 0; i++) {
        const struct vmm_state_field *f = &d->fields[i];
        if (!field_ok(f) || f->since > version)
            continue;
        for (uint32_t k = 0; k < f->count; k++, p += f->width) {
            uint64_t v = 0;
            for (unsigned b = 0; b < f->width; b++)
                v |= (uint64_t)p[b] << (8 * b);
            if (v > f->max) {
                vmm_error_set(err, -EINVAL, "the saved %s state has %s = %llu (at most %llu)",
                              d->name, f->name, (unsigned long long)v, (unsigned long long)f->max);
                r = -EINVAL;
                break;
            }
            set_elem(base + f->offset + (size_t)k * f->width, f->width, v);
        }
    }
    if (r == 0 && d->post_load) {
        r = d->post_load(obj, scratch, version);
        if (r < 0)
            vmm_error_set(err, r, "the saved %s state is inconsistent", d->name);
    }
    free(scratch);
    return r;
}
