/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_SNAPSHOT_VIRTIO_STATE_H
#define VMM_SNAPSHOT_VIRTIO_STATE_H

/*
 * The virtio devices' declarative state (virtio-descs.c). The board saves
 * each virtio PCI function as two sections: "virtio:SS.F", the transport
 * (obj: struct vmm_virtio_pci, with its device's queues), then, for device
 * types that keep state of their own, "virtio-dev:SS.F" (obj: the model,
 * e.g. struct vmm_virtio_blk). Load the transport after the function's PCI
 * configuration and before the model; the device lock is held around each.
 */

#include "snapshot/state-desc.h"

extern const struct vmm_state_desc vmm_virtio_pci_state_desc;
extern const struct vmm_state_desc vmm_virtio_blk_state_desc;
extern const struct vmm_state_desc vmm_virtio_net_state_desc;
extern const struct vmm_state_desc vmm_virtio_balloon_state_desc;
extern const struct vmm_state_desc vmm_virtio_input_state_desc;

/* The model's description for a VIRTIO_ID_*, or NULL when the type keeps nothing (rng, console). */
const struct vmm_state_desc *vmm_virtio_model_state_desc(uint16_t device_id);

#endif
