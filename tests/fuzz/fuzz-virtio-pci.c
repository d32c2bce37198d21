/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the virtio PCI transport (config space, BAR4, the MSI-X
 * BAR, notifications) in front of virtio-rng, driven by a sequence of guest
 * accesses. Each 12-byte record of the input is one access:
 *   [0] kind: 0 config read, 1 config write, 2 BAR4 read, 3 BAR4 write,
 *       4 MSI-X read, 5 MSI-X write, 6 notify, 7 PCI reset
 *   [1] size selector (1, 2, 4, 8)   [2..3] offset (le16)   [4..11] value (le64)
 * Guest RAM is 64 KiB and zero, so queues the input enables find empty
 * rings or rings outside RAM.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "virtio/rng.h"
#include "virtio/virtio-pci.h"

#define RAM (64 * 1024)

static struct vmm_guest_mem mem;
static struct vmm_virtio_rng rng;
static struct vmm_virtio_pci vp;
static struct vmm_pci_bus bus;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void signal_msix(void *o, struct vmm_virtio_pci *p, unsigned vector)
{
    if (vector >= p->nvectors)
        abort(); /* the transport must never signal a vector the table does not have */
}

static const struct vmm_virtio_pci_hooks hooks = {.msix_signal = signal_msix};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mem.lowmem_size = RAM;
    mem.base = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem.base == MAP_FAILED || vmm_virtio_rng_init(&rng, &lock, &mem) < 0 ||
        vmm_virtio_pci_init(&vp, &rng.vdev, VMM_VIRTIO_RNG_PCI_CLASS, &hooks, NULL) < 0)
        abort();
    vmm_pci_bus_init(&bus, NULL, NULL);
    if (vmm_pci_bus_add(&bus, &vp.pci, 4, 0) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned devfn = VMM_PCI_DEVFN(4, 0);
    memset(mem.base, 0, RAM);
    pthread_mutex_lock(&lock);
    vmm_pci_dev_reset(&vp.pci);
    pthread_mutex_unlock(&lock);
    for (; size >= 12; data += 12, size -= 12) {
        unsigned sz = 1u << (data[1] & 3);
        unsigned off = (unsigned)(data[2] | data[3] << 8);
        uint64_t val;
        memcpy(&val, data + 4, 8);
        switch (data[0] & 7) {
        case 0:
            if (sz > 4)
                sz = 4;
            (void)vmm_pci_bus_config_read(&bus, devfn, (off & 0xff) & ~(sz - 1), sz);
            break;
        case 1:
            if (sz > 4)
                sz = 4;
            vmm_pci_bus_config_write(&bus, devfn, (off & 0xff) & ~(sz - 1), sz, (uint32_t)val);
            break;
        case 2:
            (void)vmm_virtio_pci_bar_ops.read(&vp, off % VIRTIO_PCI_BAR_SIZE, sz);
            break;
        case 3:
            vmm_virtio_pci_bar_ops.write(&vp, off % VIRTIO_PCI_BAR_SIZE, sz, val);
            break;
        case 4:
            (void)vmm_virtio_pci_msix_ops.read(&vp, off % VIRTIO_PCI_MSIX_BAR_SIZE, sz);
            break;
        case 5:
            vmm_virtio_pci_msix_ops.write(&vp, off % VIRTIO_PCI_MSIX_BAR_SIZE, sz, val);
            break;
        case 6:
            vmm_virtio_pci_notify(&vp, off & 0xff);
            break;
        default:
            pthread_mutex_lock(&lock);
            vmm_pci_dev_reset(&vp.pci);
            pthread_mutex_unlock(&lock);
            break;
        }
        /* Transport invariants after every access. */
        if (vp.msix_config != VIRTIO_MSI_NO_VECTOR && vp.msix_config >= vp.nvectors)
            abort();
        if (rng.queue.msix_vector != VIRTIO_MSI_NO_VECTOR && rng.queue.msix_vector >= vp.nvectors)
            abort();
        if (rng.queue.size == 0 || rng.queue.size > rng.queue.max_size ||
            (rng.queue.size & (rng.queue.size - 1)))
            abort();
    }
    return 0;
}
