/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VIRTIO_QUEUE_H
#define VMM_VIRTIO_QUEUE_H

/*
 * The split virtqueue engine (virtio 1.x, "Split Virtqueues"): pops
 * descriptor chains the driver made available, hands the device an
 * iovec view of each (device-readable part first, then the device-writable
 * part), and pushes used elements back with the number of bytes written.
 *
 * Everything in the ring is guest-controlled and read exactly once: a
 * descriptor is copied out of guest RAM before it is looked at, the avail
 * index is loaded once per pop. Any violation of the driver requirements
 * (descriptor loops, indexes out of range, buffers outside RAM, bad indirect
 * tables, a readable buffer after a writable one, an avail index more than
 * the queue size ahead) makes the queue "broken": it stops, the owner's
 * error hook runs (the transport sets DEVICE_NEEDS_RESET), and a message is
 * logged, rate-limited. Nothing here aborts, exits or loops unbounded.
 *
 * Not thread-safe: the owning device's lock is held around every call.
 * Guest memory is read and written through host pointers from
 * vmm_guest_ptr(), resolved when the queue is enabled.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/guest-mem.h"
#include "vmm/vmm.h"

/* Descriptor flags. */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
/* avail->flags: the driver does not want interrupts (ignored with EVENT_IDX). */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
/* used->flags: the device does not want notifications (never set here). */
#define VIRTQ_USED_F_NO_NOTIFY 1

/*
 * Largest queue this engine runs (the spec allows 32768; QEMU and Linux
 * devices use 1024 or less). The devices offer it or less as the maximum.
 */
#define VMM_VIRTQ_MAX_SIZE 1024
/* Buffers one popped chain may hold: a direct chain plus an indirect table. */
#define VMM_VIRTQ_MAX_SEGS VMM_VIRTQ_MAX_SIZE
/* Chains popped per notification before the device yields (see budget). */
#define VMM_VIRTQ_DEFAULT_BUDGET 256

struct vmm_virtqueue;

/* Called once when the queue breaks; the transport sets DEVICE_NEEDS_RESET. */
typedef void (*vmm_virtq_error_fn)(void *opaque, struct vmm_virtqueue *vq);

struct vmm_virtqueue {
    /* Set up by the transport (driver-written registers). */
    uint16_t index;
    uint16_t max_size; /* what the device offers (power of two <= VMM_VIRTQ_MAX_SIZE) */
    uint16_t size;     /* what the driver chose */
    uint16_t msix_vector;
    bool enabled;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
    bool indirect;  /* VIRTIO_F_INDIRECT_DESC negotiated */

    /* Engine state. */
    bool broken;
    uint16_t last_avail;     /* next avail ring entry to consume */
    uint16_t used_idx;       /* our copy of used->idx */
    uint16_t signalled_used; /* used->idx at the last interrupt (EVENT_IDX) */
    bool signalled_used_valid;
    unsigned budget;      /* chains per notification; 0 means VMM_VIRTQ_DEFAULT_BUDGET */
    unsigned budget_left; /* reset by vmm_virtq_begin() */
    bool budget_hit;      /* the last pop stopped on the budget with work left */
    /*
     * A machine save is under way: pops find nothing and touch no ring
     * memory, so the rings stay as captured. Kept across resets; the owner
     * notifies every queue again when it clears the flag.
     */
    bool frozen;

    /* Host pointers, valid while enabled and not broken. */
    const struct vmm_guest_mem *mem;
    uint8_t *desc;  /* size * 16 bytes */
    uint8_t *avail; /* 6 + 2 * size */
    uint8_t *used;  /* 6 + 8 * size */

    vmm_virtq_error_fn on_error;
    void *opaque;
};

/* One popped chain. iov[0..n_out) is device-readable, iov[n_out..n_out+n_in) device-writable. */
struct vmm_virtq_elem {
    uint16_t head;
    unsigned n_out, n_in;
    uint64_t out_len, in_len;
    struct iovec iov[VMM_VIRTQ_MAX_SEGS];
};

/* Power-on state: disabled, size = max_size, no addresses. Keeps index, mem, hooks. */
void vmm_virtq_init(struct vmm_virtqueue *vq, uint16_t index, uint16_t max_size,
                    const struct vmm_guest_mem *mem, vmm_virtq_error_fn on_error, void *opaque);
void vmm_virtq_reset(struct vmm_virtqueue *vq);

/*
 * The driver wrote queue_enable = 1: checks the size (power of two <= max)
 * and the three rings (aligned, inside RAM) and resolves host pointers.
 * -EINVAL (and the queue broken, error hook run) when they are bad.
 */
VMM_WUR int vmm_virtq_enable(struct vmm_virtqueue *vq);

/*
 * The ring registers and engine state (size, enabled, addresses, indexes,
 * broken) were loaded from a saved machine: re-validates them as an enable
 * would (size a power of two within the maximum, rings aligned and inside
 * RAM; a disabled queue must hold no ring indexes) and resolves the host
 * pointers. -EINVAL without side effects (no error hook, nothing logged).
 */
VMM_WUR int vmm_virtq_restore(struct vmm_virtqueue *vq);

/* Marks the queue broken: logs (rate-limited), runs the error hook once. */
void vmm_virtq_fail(struct vmm_virtqueue *vq, const char *why);

/* Ready to run: enabled and not broken. */
static inline bool vmm_virtq_ready(const struct vmm_virtqueue *vq)
{
    return vq->enabled && !vq->broken;
}

/* Start of the work for one notification: refills the budget. */
void vmm_virtq_begin(struct vmm_virtqueue *vq);

/*
 * Pops the next available chain into *elem. 1: popped; 0: nothing (queue
 * empty, or the budget is spent: then budget_hit is set and the caller
 * should come back later); -EIO: the queue is (now) broken. When the queue
 * is found empty with EVENT_IDX, avail_event is published and the avail
 * index checked again, so a buffer added meanwhile is not missed.
 */
VMM_WUR int vmm_virtq_pop(struct vmm_virtqueue *vq, struct vmm_virtq_elem *elem);

/*
 * How many chains the driver has made available beyond those popped (0 when the queue is
 * not ready or frozen; a bad avail index breaks the queue, as a pop would).
 */
int vmm_virtq_avail_pending(struct vmm_virtqueue *vq);

/*
 * Gives back the last n popped chains that were not pushed (a device that
 * found it cannot use them yet, e.g. a frame that does not fit in what is
 * available): they are popped again next time. n at most the chains popped
 * since the last push.
 */
void vmm_virtq_unpop(struct vmm_virtqueue *vq, unsigned n);

/*
 * Returns a chain as used with `written` bytes written into its writable
 * part (clamped to in_len). The element is stored before used->idx moves
 * (release ordering).
 */
void vmm_virtq_push(struct vmm_virtqueue *vq, const struct vmm_virtq_elem *elem, uint64_t written);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * one: used_event with EVENT_IDX, else avail->flags NO_INTERRUPT. Call after
 * a batch of pushes; true means "signal now" (and records it).
 */
bool vmm_virtq_need_interrupt(struct vmm_virtqueue *vq);

/* The event-index test of the spec: did new_idx step past event since old? */
static inline bool vmm_virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* ---- iovec helpers over a popped element ---- */

/* Copies up to len bytes from the readable part starting at byte skip; returns bytes copied. */
size_t vmm_virtq_read(const struct vmm_virtq_elem *elem, uint64_t skip, void *buf, size_t len);
/* Copies up to len bytes into the writable part starting at byte skip; returns bytes copied. */
size_t vmm_virtq_write(const struct vmm_virtq_elem *elem, uint64_t skip, const void *buf,
                       size_t len);

/*
 * Fills out[] with the sub-range [skip, skip+len) of iov[0..n) and returns
 * the number of entries used (at most max), or -ERANGE if the range is not
 * inside the vector or needs more than max entries.
 */
int vmm_virtq_iov_slice(const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len,
                        struct iovec *out, unsigned max);

#endif
