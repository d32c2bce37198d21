/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The BIOS-style memory map every boot path reports (Linux zero page, multiboot mmap). */
#include "arch/x86/boot-internal.h"
#include "core/util.h"

static unsigned add(struct vmm_e820_entry *out, unsigned n, unsigned max, uint64_t addr,
                    uint64_t end, uint32_t type)
{
    if (end <= addr || n >= max)
        return n;
    out[n].addr = addr;
    out[n].size = end - addr;
    out[n].type = type;
    return n + 1;
}

unsigned vmm_e820_build(const struct vmm_guest_mem *mem, struct vmm_e820_entry *out, unsigned max)
{
    uint64_t low = mem->lowmem_size;
    unsigned n = 0;

    /*
     * The reserved ranges describe the platform, not RAM, so they are listed
     * even when a tiny guest has no RAM behind them; RAM ranges are clipped to
     * what exists. The PCI hole [lowmem_size, 4 GiB) is left out: a gap tells
     * the guest it may place MMIO there.
     */
    n = add(out, n, max, 0, vmm_min_u64(low, VMM_EBDA_START), VMM_E820_RAM);
    n = add(out, n, max, VMM_EBDA_START, 0xA0000, VMM_E820_RESERVED);
    n = add(out, n, max, VMM_BIOS_START, BOOT_BIOS_END, VMM_E820_RESERVED);
    n = add(out, n, max, BOOT_BIOS_END, low, VMM_E820_RAM);
    if (mem->highmem_size)
        n = add(out, n, max, VMM_4GIB, VMM_4GIB + mem->highmem_size, VMM_E820_RAM);
    return n;
}
