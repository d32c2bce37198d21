/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueue engine. Ring layout (virtio 1.x, little-endian, which is
 * also the host's: this code only builds for x86-64 hosts):
 *
 *   descriptor table  16 bytes each: le64 addr, le32 len, le16 flags, le16 next; 16-aligned
 *   avail ring        le16 flags, le16 idx, le16 ring[size], le16 used_event; 2-aligned
 *   used ring         le16 flags, le16 idx, {le32 id, le32 len}[size], le16 avail_event; 4-aligned
 *
 * Guest RAM is shared with running vCPUs, so every field is loaded once
 * into a local and validated there; ring indexes are 16-bit atomics.
 */
#include "virtio/queue.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

#define DESC_SIZE 16u

static uint16_t load16(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static void store16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

static void read_desc(const uint8_t *table, unsigned i, struct desc *d)
{
    uint8_t raw[DESC_SIZE];
    /* One copy out of guest RAM: everything below looks at this snapshot only. */
    memcpy(raw, table + (size_t)i * DESC_SIZE, DESC_SIZE);
    memcpy(&d->addr, raw, 8);
    memcpy(&d->len, raw + 8, 4);
    memcpy(&d->flags, raw + 12, 2);
    memcpy(&d->next, raw + 14, 2);
}

void vmm_virtq_reset(struct vmm_virtqueue *vq)
{
    vq->size = vq->max_size;
    vq->msix_vector = 0xffff;
    vq->enabled = false;
    vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
    vq->event_idx = vq->indirect = false;
    vq->broken = false;
    vq->last_avail = vq->used_idx = 0;
    vq->signalled_used = 0;
    vq->signalled_used_valid = false;
    vq->budget_left = 0;
    vq->budget_hit = false;
    vq->desc = vq->avail = vq->used = NULL;
}

void vmm_virtq_init(struct vmm_virtqueue *vq, uint16_t index, uint16_t max_size,
                    const struct vmm_guest_mem *mem, vmm_virtq_error_fn on_error, void *opaque)
{
    memset(vq, 0, sizeof(*vq));
    vq->index = index;
    vq->max_size = max_size;
    vq->mem = mem;
    vq->on_error = on_error;
    vq->opaque = opaque;
    vmm_virtq_reset(vq);
}

void vmm_virtq_fail(struct vmm_virtqueue *vq, const char *why)
{
    if (vq->broken)
        return;
    vq->broken = true;
    /* One call site: a guest cannot flood the log whatever it breaks, on however many queues. */
    vmm_log_ratelimited(VMM_LOG_WARN, "virtio: queue %u stopped, device needs reset: %s", vq->index,
                        why);
    if (vq->on_error)
        vq->on_error(vq->opaque, vq);
}

int vmm_virtq_enable(struct vmm_virtqueue *vq)
{
    uint64_t n = vq->size;
    if (n == 0 || n > vq->max_size || (n & (n - 1))) {
        vmm_virtq_fail(vq, "queue size is not a power of two within the maximum");
        return -EINVAL;
    }
    if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3)) {
        vmm_virtq_fail(vq, "misaligned ring address");
        return -EINVAL;
    }
    vq->desc = vmm_guest_ptr(vq->mem, vq->desc_gpa, n * DESC_SIZE);
    vq->avail = vmm_guest_ptr(vq->mem, vq->avail_gpa, 6 + 2 * n);
    vq->used = vmm_guest_ptr(vq->mem, vq->used_gpa, 6 + 8 * n);
    if (!vq->desc || !vq->avail || !vq->used) {
        vq->desc = vq->avail = vq->used = NULL;
        vmm_virtq_fail(vq, "ring outside guest RAM");
        return -EINVAL;
    }
    vq->enabled = true;
    vq->broken = false;
    vq->last_avail = 0;
    vq->used_idx = 0;
    vq->signalled_used_valid = false;
    return 0;
}

int vmm_virtq_restore(struct vmm_virtqueue *vq)
{
    uint64_t n = vq->size;
    vq->desc = vq->avail = vq->used = NULL;
    vq->budget_left = 0;
    vq->budget_hit = false;
    if (n == 0 || n > vq->max_size || (n & (n - 1)))
        return -EINVAL;
    if (!vq->enabled) {
        /* Never enabled since its reset (an enable that failed leaves it broken, nothing else). */
        if (vq->last_avail || vq->used_idx || vq->signalled_used || vq->signalled_used_valid)
            return -EINVAL;
        return 0;
    }
    if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
        return -EINVAL;
    uint8_t *desc = vmm_guest_ptr(vq->mem, vq->desc_gpa, n * DESC_SIZE);
    uint8_t *avail = vmm_guest_ptr(vq->mem, vq->avail_gpa, 6 + 2 * n);
    uint8_t *used = vmm_guest_ptr(vq->mem, vq->used_gpa, 6 + 8 * n);
    if (!desc || !avail || !used)
        return -EINVAL;
    if (!vq->broken) {
        vq->desc = desc;
        vq->avail = avail;
        vq->used = used;
    }
    return 0;
}

void vmm_virtq_begin(struct vmm_virtqueue *vq)
{
    vq->budget_left = vq->budget ? vq->budget : VMM_VIRTQ_DEFAULT_BUDGET;
    vq->budget_hit = false;
}

/* Adds one buffer to elem after checking it against RAM, the order rule and the totals. */
static int add_buffer(struct vmm_virtqueue *vq, struct vmm_virtq_elem *elem, const struct desc *d)
{
    if (d->len == 0) {
        vmm_virtq_fail(vq, "zero-length buffer");
        return -EIO;
    }
    void *host = vmm_guest_ptr(vq->mem, d->addr, d->len);
    if (!host) {
        vmm_virtq_fail(vq, "buffer outside guest RAM");
        return -EIO;
    }
    unsigned n = elem->n_out + elem->n_in;
    if (n >= VMM_VIRTQ_MAX_SEGS) {
        vmm_virtq_fail(vq, "too many buffers in one chain");
        return -EIO;
    }
    if (d->flags & VIRTQ_DESC_F_WRITE) {
        if (elem->in_len + d->len < elem->in_len) {
            vmm_virtq_fail(vq, "chain length overflows");
            return -EIO;
        }
        elem->in_len += d->len;
        elem->n_in++;
    } else {
        if (elem->n_in) {
            vmm_virtq_fail(vq, "device-readable buffer after a device-writable one");
            return -EIO;
        }
        if (elem->out_len + d->len < elem->out_len) {
            vmm_virtq_fail(vq, "chain length overflows");
            return -EIO;
        }
        elem->out_len += d->len;
        elem->n_out++;
    }
    elem->iov[n].iov_base = host;
    elem->iov[n].iov_len = d->len;
    return 0;
}

/* Walks the indirect table `d` points to: the rest of the chain. */
static int walk_indirect(struct vmm_virtqueue *vq, struct vmm_virtq_elem *elem,
                         const struct desc *d)
{
    if (!vq->indirect) {
        vmm_virtq_fail(vq, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
        return -EIO;
    }
    if (d->flags & VIRTQ_DESC_F_NEXT) {
        vmm_virtq_fail(vq, "indirect descriptor with NEXT set");
        return -EIO;
    }
    if (d->len == 0 || d->len % DESC_SIZE) {
        vmm_virtq_fail(vq, "indirect table length is not a non-zero multiple of 16");
        return -EIO;
    }
    uint32_t entries = d->len / DESC_SIZE;
    if (entries > vq->size) {
        vmm_virtq_fail(vq, "indirect table longer than the queue");
        return -EIO;
    }
    const uint8_t *table = vmm_guest_ptr(vq->mem, d->addr, d->len);
    if (!table) {
        vmm_virtq_fail(vq, "indirect table outside guest RAM");
        return -EIO;
    }
    unsigned i = 0;
    for (uint32_t hops = 0;; hops++) {
        struct desc id;
        if (hops >= entries) {
            vmm_virtq_fail(vq, "loop in indirect descriptor table");
            return -EIO;
        }
        read_desc(table, i, &id);
        if (id.flags & VIRTQ_DESC_F_INDIRECT) {
            vmm_virtq_fail(vq, "indirect descriptor inside an indirect table");
            return -EIO;
        }
        if (add_buffer(vq, elem, &id) < 0)
            return -EIO;
        if (!(id.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (id.next >= entries) {
            vmm_virtq_fail(vq, "indirect next index out of range");
            return -EIO;
        }
        i = id.next;
    }
}

static int walk_chain(struct vmm_virtqueue *vq, struct vmm_virtq_elem *elem, uint16_t head)
{
    unsigned i = head;
    for (unsigned hops = 0;; hops++) {
        struct desc d;
        /* A chain visits each descriptor at most once, so more hops than entries is a loop. */
        if (hops >= vq->size) {
            vmm_virtq_fail(vq, "descriptor chain loops or is longer than the queue");
            return -EIO;
        }
        read_desc(vq->desc, i, &d);
        if (d.flags & VIRTQ_DESC_F_INDIRECT)
            return walk_indirect(vq, elem, &d);
        if (add_buffer(vq, elem, &d) < 0)
            return -EIO;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (d.next >= vq->size) {
            vmm_virtq_fail(vq, "next descriptor index out of range");
            return -EIO;
        }
        i = d.next;
    }
}

/* How many entries the driver has made available past last_avail, or -EIO. */
static int avail_pending(struct vmm_virtqueue *vq)
{
    uint16_t idx = load16(vq->avail + 2);
    uint16_t pending = (uint16_t)(idx - vq->last_avail);
    if (pending > vq->size) {
        vmm_virtq_fail(vq, "avail index moved more than the queue size");
        return -EIO;
    }
    /* The ring entries and descriptors are read after the index that published them. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return pending;
}

int vmm_virtq_avail_pending(struct vmm_virtqueue *vq)
{
    if (!vmm_virtq_ready(vq) || vq->frozen)
        return 0;
    int n = avail_pending(vq);
    return n < 0 ? 0 : n;
}

int vmm_virtq_pop(struct vmm_virtqueue *vq, struct vmm_virtq_elem *elem)
{
    if (!vmm_virtq_ready(vq))
        return vq->broken ? -EIO : 0;
    if (vq->frozen)
        return 0; /* a machine is being saved: the rings must not move (not even avail_event) */
    int pending = avail_pending(vq);
    if (pending < 0)
        return -EIO;
    if (pending == 0) {
        if (!vq->event_idx)
            return 0;
        /* Ask for a kick at the next entry, then look again: it may have come meanwhile. */
        store16(vq->used + 4 + 8u * vq->size, vq->last_avail);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        pending = avail_pending(vq);
        if (pending <= 0)
            return pending;
    }
    if (vq->budget_left == 0) {
        vq->budget_hit = true;
        return 0;
    }
    vq->budget_left--;

    uint16_t head = load16(vq->avail + 4 + 2u * (vq->last_avail % vq->size));
    if (head >= vq->size) {
        vmm_virtq_fail(vq, "avail ring names a descriptor out of range");
        return -EIO;
    }
    elem->head = head;
    elem->n_out = elem->n_in = 0;
    elem->out_len = elem->in_len = 0;
    if (walk_chain(vq, elem, head) < 0)
        return -EIO;
    vq->last_avail++;
    return 1;
}

void vmm_virtq_unpop(struct vmm_virtqueue *vq, unsigned n)
{
    vq->last_avail = (uint16_t)(vq->last_avail - n);
    if (vq->budget_left + n >= vq->budget_left)
        vq->budget_left += n;
}

void vmm_virtq_push(struct vmm_virtqueue *vq, const struct vmm_virtq_elem *elem, uint64_t written)
{
    if (!vmm_virtq_ready(vq))
        return;
    if (written > elem->in_len)
        written = elem->in_len;
    uint32_t id = elem->head, len = (uint32_t)written;
    uint8_t *slot = vq->used + 4 + 8u * (vq->used_idx % vq->size);
    memcpy(slot, &id, 4);
    memcpy(slot + 4, &len, 4);
    vq->used_idx++;
    /* The element must be visible before the index that publishes it. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    store16(vq->used + 2, vq->used_idx);
}

bool vmm_virtq_need_interrupt(struct vmm_virtqueue *vq)
{
    if (!vmm_virtq_ready(vq))
        return false;
    /* used->idx was stored before the driver's event field is read (full barrier). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!vq->event_idx)
        return !(load16(vq->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t old = vq->signalled_used;
    bool valid = vq->signalled_used_valid;
    vq->signalled_used = vq->used_idx;
    vq->signalled_used_valid = true;
    uint16_t used_event = load16(vq->avail + 4 + 2u * vq->size);
    return !valid || vmm_virtq_need_event(used_event, vq->used_idx, old);
}

/* ---- iovec helpers ---- */

static size_t iov_copy(const struct iovec *iov, unsigned n, uint64_t skip, uint8_t *buf, size_t len,
                       bool to_iov)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t chunk = iov[i].iov_len - skip;
        if (chunk > len - done)
            chunk = len - done;
        uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
        if (to_iov)
            memcpy(p, buf + done, chunk);
        else
            memcpy(buf + done, p, chunk);
        done += chunk;
        skip = 0;
    }
    return done;
}

size_t vmm_virtq_read(const struct vmm_virtq_elem *elem, uint64_t skip, void *buf, size_t len)
{
    return iov_copy(elem->iov, elem->n_out, skip, buf, len, false);
}

size_t vmm_virtq_write(const struct vmm_virtq_elem *elem, uint64_t skip, const void *buf,
                       size_t len)
{
    return iov_copy(elem->iov + elem->n_out, elem->n_in, skip, (uint8_t *)buf, len, true);
}

int vmm_virtq_iov_slice(const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len,
                        struct iovec *out, unsigned max)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        if (k == max)
            return -ERANGE;
        uint64_t chunk = iov[i].iov_len - skip;
        if (chunk > len)
            chunk = len;
        out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
        out[k].iov_len = chunk;
        k++;
        len -= chunk;
        skip = 0;
    }
    return len ? -ERANGE : (int)k;
}
