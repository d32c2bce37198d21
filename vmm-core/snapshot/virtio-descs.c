/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Declarative state of the virtio devices (state-desc.h): the modern PCI
 * transport with its queues, and what each device type keeps of its own.
 * Like dev-descs.c these need no VM, so unit tests and the state-loader
 * fuzzer link them with the models alone; the board (machine/pc-virtio.c)
 * puts them in sections "virtio:SS.F" (transport) and "virtio-dev:SS.F"
 * (device type, when it has state).
 *
 * A state file is hostile: every post_load checks the saved state against
 * the device it is loaded into (type, queue count, features offered, queue
 * maximum sizes, MSI-X table size) and against guest RAM (ring addresses)
 * and refuses with -EINVAL (the reason is logged) rather than build a
 * device a guest could not have made; the transport takes nothing of a
 * state it refuses.
 *
 * What is not saved: requests in flight (the board only captures a device
 * without any), host-side buffers (virtio-net's receive backlog, console
 * input not yet delivered, input events not yet delivered: dropped), and
 * counters that are host statistics only.
 */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "snapshot/virtio-state.h"
#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "virtio/input.h"
#include "virtio/net.h"
#include "virtio/virtio-pci.h"

#define NQ VMM_VIRTIO_MAX_QUEUES
#define NV VIRTIO_PCI_MAX_VECTORS
#define NPBA ((VIRTIO_PCI_MAX_VECTORS + 63) / 64)

#define STATUS_KNOWN                                                              \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK | \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

static int refuse(const char *what, const char *why, unsigned n)
{
    vmm_log(VMM_LOG_WARN, "saved %s state refused: %s (%u)", what, why, n);
    return -EINVAL;
}

/* ---- the PCI transport and its queues ---- */

struct vp_state {
    uint16_t device_id, num_queues;
    uint8_t status, config_generation, isr;
    uint64_t driver_features;
    uint32_t dfselect, gfselect;
    uint16_t queue_sel, msix_config;
    uint32_t msix_addr_lo[NV], msix_addr_hi[NV], msix_data[NV];
    uint8_t msix_masked[NV];
    uint64_t pba[NPBA];
    uint16_t q_size[NQ], q_vector[NQ];
    uint8_t q_enabled[NQ], q_broken[NQ];
    uint64_t q_desc[NQ], q_avail[NQ], q_used[NQ];
    uint16_t q_last_avail[NQ], q_used_idx[NQ], q_signalled_used[NQ];
    uint8_t q_signalled_valid[NQ];
};

static void vp_pre_save(void *obj, void *state)
{
    const struct vmm_virtio_pci *vp = obj;
    const struct vmm_virtio_dev *vdev = vp->vdev;
    struct vp_state *s = state;
    s->device_id = vdev->device_id;
    s->num_queues = (uint16_t)vdev->num_queues;
    s->status = vdev->status;
    s->config_generation = vdev->config_generation;
    s->isr = vp->isr;
    s->driver_features = vdev->driver_features;
    s->dfselect = vp->dfselect;
    s->gfselect = vp->gfselect;
    s->queue_sel = vp->queue_sel;
    s->msix_config = vp->msix_config;
    for (unsigned v = 0; v < vp->nvectors && v < NV; v++) {
        s->msix_addr_lo[v] = vp->msix[v].addr_lo;
        s->msix_addr_hi[v] = vp->msix[v].addr_hi;
        s->msix_data[v] = vp->msix[v].data;
        s->msix_masked[v] = vp->msix[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT;
    }
    memcpy(s->pba, vp->pba, sizeof(s->pba));
    for (unsigned q = 0; q < vdev->num_queues && q < NQ; q++) {
        const struct vmm_virtqueue *vq = &vdev->queues[q];
        s->q_size[q] = vq->size;
        s->q_vector[q] = vq->msix_vector;
        s->q_enabled[q] = vq->enabled;
        s->q_broken[q] = vq->broken;
        s->q_desc[q] = vq->desc_gpa;
        s->q_avail[q] = vq->avail_gpa;
        s->q_used[q] = vq->used_gpa;
        s->q_last_avail[q] = vq->last_avail;
        s->q_used_idx[q] = vq->used_idx;
        s->q_signalled_used[q] = vq->signalled_used;
        s->q_signalled_valid[q] = vq->signalled_used_valid;
    }
}

static bool vector_ok(const struct vmm_virtio_pci *vp, uint16_t v)
{
    return v == VIRTIO_MSI_NO_VECTOR || v < vp->nvectors;
}

/* Everything about the saved transport that does not need the queues' RAM. */
static int vp_check(struct vmm_virtio_pci *vp, const struct vp_state *s)
{
    struct vmm_virtio_dev *vdev = vp->vdev;
    if (s->device_id != vdev->device_id)
        return refuse("virtio", "it is another device type", s->device_id);
    if (s->num_queues != vdev->num_queues)
        return refuse("virtio", "the device had another number of queues", s->num_queues);
    if (s->status & ~STATUS_KNOWN)
        return refuse("virtio", "unknown device status bits", s->status);
    if (s->driver_features & ~vmm_virtio_dev_features(vdev))
        return refuse("virtio", "features the device does not offer were accepted", 0);
    if (s->status & VIRTIO_STATUS_FEATURES_OK) {
        uint64_t old = vdev->driver_features;
        vdev->driver_features = s->driver_features;
        bool ok = vmm_virtio_dev_check_features(vdev);
        vdev->driver_features = old;
        if (!ok)
            return refuse("virtio", "FEATURES_OK with a feature set the device refuses", 0);
    }
    if (!vector_ok(vp, s->msix_config))
        return refuse("virtio", "configuration vector past the MSI-X table", s->msix_config);
    for (unsigned v = 0; v < NV; v++) {
        if (v >= vp->nvectors) {
            if (s->msix_addr_lo[v] || s->msix_addr_hi[v] || s->msix_data[v] || s->msix_masked[v] ||
                (s->pba[v / 64] >> (v % 64) & 1))
                return refuse("virtio", "an MSI-X entry past the table", v);
        } else if (s->msix_addr_lo[v] & 3) {
            return refuse("virtio", "a misaligned MSI-X message address", v);
        }
    }
    for (unsigned q = vdev->num_queues; q < NQ; q++) {
        if (s->q_size[q] || s->q_vector[q] || s->q_enabled[q] || s->q_broken[q] || s->q_desc[q] ||
            s->q_avail[q] || s->q_used[q] || s->q_last_avail[q] || s->q_used_idx[q] ||
            s->q_signalled_used[q] || s->q_signalled_valid[q])
            return refuse("virtio", "state for a queue the device does not have", q);
    }
    return 0;
}

static int vp_post_load(void *obj, void *state, uint32_t version)
{
    struct vmm_virtio_pci *vp = obj;
    struct vmm_virtio_dev *vdev = vp->vdev;
    const struct vp_state *s = state;
    (void)version;
    int r = vp_check(vp, s);
    if (r < 0)
        return r;
    /* Each queue is rebuilt aside and checked against RAM; the device changes only if all pass. */
    struct vmm_virtqueue qs[NQ];
    bool event_idx = s->driver_features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
    bool indirect = s->driver_features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
    for (unsigned q = 0; q < vdev->num_queues; q++) {
        struct vmm_virtqueue *vq = &qs[q];
        *vq = vdev->queues[q];
        if (!vector_ok(vp, s->q_vector[q]))
            return refuse("virtio", "queue vector past the MSI-X table", q);
        vq->size = s->q_size[q];
        vq->msix_vector = s->q_vector[q];
        vq->enabled = s->q_enabled[q];
        vq->broken = s->q_broken[q];
        vq->desc_gpa = s->q_desc[q];
        vq->avail_gpa = s->q_avail[q];
        vq->used_gpa = s->q_used[q];
        vq->last_avail = s->q_last_avail[q];
        vq->used_idx = s->q_used_idx[q];
        vq->signalled_used = s->q_signalled_used[q];
        vq->signalled_used_valid = s->q_signalled_valid[q];
        /* As vmm_virtio_dev_enable_queue copies them: from the features at enable time. */
        vq->event_idx = vq->enabled && event_idx;
        vq->indirect = vq->enabled && indirect;
        if (vmm_virtq_restore(vq) < 0)
            return refuse("virtio", "a queue's size or rings are invalid for this machine", q);
    }
    vdev->status = s->status;
    vdev->config_generation = s->config_generation;
    vdev->driver_features = s->driver_features;
    vp->isr = s->isr;
    vp->dfselect = s->dfselect;
    vp->gfselect = s->gfselect;
    vp->queue_sel = s->queue_sel;
    vp->msix_config = s->msix_config;
    for (unsigned v = 0; v < vp->nvectors; v++) {
        vp->msix[v].addr_lo = s->msix_addr_lo[v];
        vp->msix[v].addr_hi = s->msix_addr_hi[v];
        vp->msix[v].data = s->msix_data[v];
        vp->msix[v].ctrl = s->msix_masked[v] ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0;
    }
    memcpy(vp->pba, s->pba, sizeof(vp->pba));
    memcpy(vdev->queues, qs, vdev->num_queues * sizeof(qs[0]));
    vmm_virtio_pci_state_loaded(vp);
    return 0;
}

#define S struct vp_state
static const struct vmm_state_field vp_fields[] = {
    VMM_STATE_U16(S, device_id),
    VMM_STATE_UINT_MAX(S, num_queues, 2, NQ),
    VMM_STATE_U8(S, status),
    VMM_STATE_U8(S, config_generation),
    VMM_STATE_UINT_MAX(S, isr, 1, VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG),
    VMM_STATE_U64(S, driver_features),
    VMM_STATE_U32(S, dfselect),
    VMM_STATE_U32(S, gfselect),
    VMM_STATE_U16(S, queue_sel),
    VMM_STATE_U16(S, msix_config),
    VMM_STATE_ARRAY_MAX(S, msix_addr_lo, 4, UINT32_MAX),
    VMM_STATE_ARRAY_MAX(S, msix_addr_hi, 4, UINT32_MAX),
    VMM_STATE_ARRAY_MAX(S, msix_data, 4, UINT32_MAX),
    VMM_STATE_BOOLS(S, msix_masked),
    VMM_STATE_ARRAY_MAX(S, pba, 8, UINT64_MAX),
    VMM_STATE_ARRAY_MAX(S, q_size, 2, VMM_VIRTQ_MAX_SIZE),
    VMM_STATE_ARRAY_MAX(S, q_vector, 2, UINT16_MAX),
    VMM_STATE_BOOLS(S, q_enabled),
    VMM_STATE_BOOLS(S, q_broken),
    VMM_STATE_ARRAY_MAX(S, q_desc, 8, UINT64_MAX),
    VMM_STATE_ARRAY_MAX(S, q_avail, 8, UINT64_MAX),
    VMM_STATE_ARRAY_MAX(S, q_used, 8, UINT64_MAX),
    VMM_STATE_ARRAY_MAX(S, q_last_avail, 2, UINT16_MAX),
    VMM_STATE_ARRAY_MAX(S, q_used_idx, 2, UINT16_MAX),
    VMM_STATE_ARRAY_MAX(S, q_signalled_used, 2, UINT16_MAX),
    VMM_STATE_BOOLS(S, q_signalled_valid),
};
#undef S

const struct vmm_state_desc vmm_virtio_pci_state_desc = {
    .name = "virtio transport",
    .version = 1,
    .min_version = 1,
    .fields = vp_fields,
    .nfields = VMM_STATE_NFIELDS(vp_fields),
    .state_size = sizeof(struct vp_state),
    .pre_save = vp_pre_save,
    .post_load = vp_post_load,
};

/* ---- virtio-blk: the disk it was saved with (no guest-writable configuration) ---- */

struct blk_state {
    uint64_t capacity;
    uint16_t num_queues;
    uint8_t read_only;
};

static void blk_pre_save(void *obj, void *state)
{
    const struct vmm_virtio_blk *b = obj;
    struct blk_state *s = state;
    s->capacity = b->capacity;
    s->num_queues = (uint16_t)b->vdev.num_queues;
    s->read_only = b->read_only;
}

static int blk_post_load(void *obj, void *state, uint32_t version)
{
    const struct vmm_virtio_blk *b = obj;
    const struct blk_state *s = state;
    (void)version;
    /* The guest knows the capacity; a disk of another size is another disk. */
    if (s->capacity != b->capacity || s->num_queues != b->vdev.num_queues ||
        s->read_only != b->read_only)
        return refuse("virtio-blk", "the disk differs in size, queues or writability",
                      s->num_queues);
    return 0;
}

static const struct vmm_state_field blk_fields[] = {
    VMM_STATE_U64(struct blk_state, capacity),
    VMM_STATE_UINT_MAX(struct blk_state, num_queues, 2, NQ),
    VMM_STATE_BOOL(struct blk_state, read_only),
};

const struct vmm_state_desc vmm_virtio_blk_state_desc = {
    .name = "virtio-blk",
    .version = 1,
    .min_version = 1,
    .fields = blk_fields,
    .nfields = VMM_STATE_NFIELDS(blk_fields),
    .state_size = sizeof(struct blk_state),
    .pre_save = blk_pre_save,
    .post_load = blk_post_load,
};

/* ---- virtio-net: MAC and link status as the guest read them ---- */

struct net_state {
    uint8_t mac[6];
    uint8_t status;
};

static void net_pre_save(void *obj, void *state)
{
    const struct vmm_virtio_net *n = obj;
    struct net_state *s = state;
    memcpy(s->mac, n->config + VIRTIO_NET_CFG_MAC, 6);
    s->status = n->config[VIRTIO_NET_CFG_STATUS];
}

static int net_post_load(void *obj, void *state, uint32_t version)
{
    struct vmm_virtio_net *n = obj;
    const struct net_state *s = state;
    (void)version;
    if (s->mac[0] & 1)
        return refuse("virtio-net", "a multicast MAC", s->mac[0]);
    /* The guest's driver read this MAC: it stays, whatever the new configuration says. */
    memcpy(n->config + VIRTIO_NET_CFG_MAC, s->mac, 6);
    n->config[VIRTIO_NET_CFG_STATUS] = s->status;
    return 0;
}

static const struct vmm_state_field net_fields[] = {
    VMM_STATE_BYTES(struct net_state, mac),
    VMM_STATE_UINT_MAX(struct net_state, status, 1, VIRTIO_NET_S_LINK_UP),
};

const struct vmm_state_desc vmm_virtio_net_state_desc = {
    .name = "virtio-net",
    .version = 1,
    .min_version = 1,
    .fields = net_fields,
    .nfields = VMM_STATE_NFIELDS(net_fields),
    .state_size = sizeof(struct net_state),
    .pre_save = net_pre_save,
    .post_load = net_post_load,
};

/* ---- virtio-balloon: target, the driver's count, the statistics buffer it lent us ---- */

#define BALLOON_STATSQ 2

static int balloon_post_load(void *obj, void *state, uint32_t version)
{
    struct vmm_virtio_balloon *b = obj;
    (void)state;
    (void)version;
    uint64_t pages = vmm_guest_mem_total(b->vdev.mem) >> VIRTIO_BALLOON_PFN_SHIFT;
    if (b->num_pages > pages)
        return refuse("virtio-balloon", "a target larger than RAM", b->num_pages);
    const struct vmm_virtqueue *sq = &b->queues[BALLOON_STATSQ];
    /* A held buffer is a chain head of the enabled statistics queue. */
    if (b->stats_held && (!sq->enabled || b->stats_head >= sq->size))
        return refuse("virtio-balloon", "a statistics buffer outside its queue", b->stats_head);
    if (!b->stats_held)
        b->stats_head = 0, b->stats_in_len = 0;
    b->stats.have_guest_stats = false; /* this process has not seen the guest's numbers */
    return 0;
}

#define B struct vmm_virtio_balloon
static const struct vmm_state_field balloon_fields[] = {
    VMM_STATE_U32(B, num_pages),    VMM_STATE_U32(B, actual),
    VMM_STATE_BOOL(B, stats_held),  VMM_STATE_UINT_MAX(B, stats_head, 2, VMM_VIRTQ_MAX_SIZE - 1),
    VMM_STATE_U32(B, stats_in_len),
};
#undef B

const struct vmm_state_desc vmm_virtio_balloon_state_desc = {
    .name = "virtio-balloon",
    .version = 1,
    .min_version = 1,
    .fields = balloon_fields,
    .nfields = VMM_STATE_NFIELDS(balloon_fields),
    .post_load = balloon_post_load,
};

/* ---- virtio-input: the configuration window and the tablet's buttons ---- */

struct input_state {
    uint8_t kind;
    uint8_t select, subsel;
    uint32_t buttons;
};

static void input_pre_save(void *obj, void *state)
{
    const struct vmm_virtio_input *in = obj;
    struct input_state *s = state;
    s->kind = (uint8_t)in->kind;
    s->select = in->select;
    s->subsel = in->subsel;
    s->buttons = in->buttons;
}

static int input_post_load(void *obj, void *state, uint32_t version)
{
    struct vmm_virtio_input *in = obj;
    const struct input_state *s = state;
    (void)version;
    if (s->kind != (uint8_t)in->kind)
        return refuse("virtio-input", "a keyboard saved as a tablet or the reverse", s->kind);
    in->select = s->select;
    in->subsel = s->subsel;
    in->buttons = s->buttons;
    in->head = in->count = 0; /* events not yet delivered are dropped */
    return 0;
}

static const struct vmm_state_field input_fields[] = {
    VMM_STATE_UINT_MAX(struct input_state, kind, 1, VMM_VIRTIO_INPUT_TABLET),
    VMM_STATE_U8(struct input_state, select),
    VMM_STATE_U8(struct input_state, subsel),
    VMM_STATE_UINT_MAX(struct input_state, buttons, 4, 0x1f),
};

const struct vmm_state_desc vmm_virtio_input_state_desc = {
    .name = "virtio-input",
    .version = 1,
    .min_version = 1,
    .fields = input_fields,
    .nfields = VMM_STATE_NFIELDS(input_fields),
    .state_size = sizeof(struct input_state),
    .pre_save = input_pre_save,
    .post_load = input_post_load,
};

const struct vmm_state_desc *vmm_virtio_model_state_desc(uint16_t device_id)
{
    switch (device_id) {
    case VIRTIO_ID_BLOCK:
        return &vmm_virtio_blk_state_desc;
    case VIRTIO_ID_NET:
        return &vmm_virtio_net_state_desc;
    case VIRTIO_ID_BALLOON:
        return &vmm_virtio_balloon_state_desc;
    case VIRTIO_ID_INPUT:
        return &vmm_virtio_input_state_desc;
    default:
        return NULL; /* rng, console: nothing beyond the transport */
    }
}
