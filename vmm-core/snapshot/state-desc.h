/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_SNAPSHOT_STATE_DESC_H
#define VMM_SNAPSHOT_STATE_DESC_H

/*
 * Declarative device state (DESIGN.md): each device type describes the
 * guest-visible part of its state as a versioned list of fields. A field is
 * an unsigned integer (1, 2, 4 or 8 bytes; signed ones are stored as their
 * two's complement), a bool, or a fixed array of either, with an upper
 * bound every loaded element is checked against. Pointers and host-side
 * bookkeeping are never described.
 *
 * Encoding: u32 desc version, then every field the version has, in list
 * order, little-endian, elements packed. A payload must be exactly as long
 * as the version implies.
 *
 * A description works on `obj` directly, or, when state_size is set, on a
 * scratch struct of that size that pre_save fills from obj (for state that
 * must be made portable first, e.g. a clock kept relative to this process's
 * monotonic clock). post_load runs after the fields were decoded: it
 * re-validates what the per-field bounds cannot (cross-field invariants),
 * recomputes derived state (interrupt lines, timers) and returns -EINVAL to
 * refuse. The caller holds the device's lock around both.
 */

#include <stddef.h>
#include <stdint.h>

#include "snapshot/state-file.h"
#include "vmm/vmm.h"

enum vmm_state_kind {
    VMM_STATE_UINT = 1,
    VMM_STATE_BOOL, /* stored as one byte, 0 or 1 */
};

struct vmm_state_field {
    const char *name;
    uint8_t kind;
    uint8_t width; /* bytes per element */
    uint32_t offset;
    uint32_t count; /* elements */
    uint64_t max;   /* largest valid element value */
    uint32_t since; /* the desc version that added the field */
};

struct vmm_state_desc {
    const char *name;
    uint32_t version;     /* what is written */
    uint32_t min_version; /* the oldest version still read */
    const struct vmm_state_field *fields;
    unsigned nfields;
    size_t state_size; /* 0: fields are offsets into obj; else into a scratch state */
    void (*pre_save)(void *obj, void *state);
    int (*post_load)(void *obj, void *state, uint32_t version);
};

/* A compile-time check usable inside an initializer: 0, or an error. */
#define VMM_STATE_ASSERT_(c) (0 * sizeof(char[(c) ? 1 : -1]))

#define VMM_STATE_FIELD_(T, f, k, w, mx, sv)                                    \
    {                                                                           \
        .name = #f, .kind = (k), .width = (w), .offset = offsetof(T, f),        \
        .count = (uint32_t)(sizeof(((T *)0)->f) / (w) +                         \
                            VMM_STATE_ASSERT_(sizeof(((T *)0)->f) % (w) == 0)), \
        .max = (mx), .since = (sv)                                              \
    }

/* A scalar of exactly w bytes. */
#define VMM_STATE_UINT_MAX(T, f, w, mx) \
    VMM_STATE_FIELD_(T, f, VMM_STATE_UINT + VMM_STATE_ASSERT_(sizeof(((T *)0)->f) == (w)), w, mx, 1)
#define VMM_STATE_U8(T, f) VMM_STATE_UINT_MAX(T, f, 1, UINT8_MAX)
#define VMM_STATE_U16(T, f) VMM_STATE_UINT_MAX(T, f, 2, UINT16_MAX)
#define VMM_STATE_U32(T, f) VMM_STATE_UINT_MAX(T, f, 4, UINT32_MAX)
#define VMM_STATE_U64(T, f) VMM_STATE_UINT_MAX(T, f, 8, UINT64_MAX)
#define VMM_STATE_BOOL(T, f) \
    VMM_STATE_FIELD_(T, f, VMM_STATE_BOOL + VMM_STATE_ASSERT_(sizeof(((T *)0)->f) == 1), 1, 1, 1)
/* An array whose elements are w bytes wide. */
#define VMM_STATE_ARRAY_MAX(T, f, w, mx)                                                         \
    VMM_STATE_FIELD_(T, f, VMM_STATE_UINT + VMM_STATE_ASSERT_(sizeof(((T *)0)->f[0]) == (w)), w, \
                     mx, 1)
#define VMM_STATE_BYTES(T, f) VMM_STATE_ARRAY_MAX(T, f, 1, UINT8_MAX)
#define VMM_STATE_BOOLS(T, f) \
    VMM_STATE_FIELD_(T, f, VMM_STATE_BOOL + VMM_STATE_ASSERT_(sizeof(((T *)0)->f[0]) == 1), 1, 1, 1)

#define VMM_STATE_NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* Appends obj's state to out (pre_save runs first). -ENOMEM. */
VMM_WUR int vmm_state_encode(const struct vmm_state_desc *d, void *obj, struct vmm_buf *out);
/* Decodes a payload into obj and runs post_load; -EINVAL with a sentence on anything odd. */
VMM_WUR int vmm_state_decode(const struct vmm_state_desc *d, void *obj, const uint8_t *data,
                             size_t len, struct vmm_error *err);

#endif
