/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * smp: the boot CPU starts the others with INIT, 10 ms, Startup IPI, 1 ms, Startup IPI
 * (the MP start-up sequence of the Intel SDM), using a real-mode trampoline at 0x8000 that
 * takes each AP to 32-bit protected mode. Each AP records its APIC ID in a bitmap (atomic
 * bit-test-and-set, so a duplicate ID is caught) and halts. The boot CPU sleeps on the PIT
 * until cpus= CPUs (itself included) reported, waits 100 ms more for stragglers, and checks.
 *
 *   cpus=N         CPUs expected, the boot CPU included (default 1)
 *   ipi=all|each   INIT/SIPI as one all-excluding-self broadcast (default), or one by one
 *                  to APIC IDs 0..maxid other than the boot CPU's
 *   maxid=M        highest APIC ID ipi=each targets (default cpus-1)
 *   timeout=MS     how long to wait for N CPUs (default 5000)
 *
 * Exit codes: 0 pass, 1 fewer than N CPUs reported, 2 more than N, 3 two CPUs reported
 * the same APIC ID, 4 an IPI stayed pending in the ICR, 5 more APs than stack slots,
 * 6 no local APIC.
 */
#include "rt.h"
#include "smp.h"

extern const uint8_t ap_trampoline[], ap_trampoline_end[];
void ap_main(uint32_t slot);

/* Used by smp-trampoline.S. */
volatile uint32_t ap_next_slot;
uint8_t ap_stacks[AP_MAX][1u << AP_STACK_SHIFT] __attribute__((aligned(16)));

static volatile uint32_t ap_ids[AP_MAX];
static volatile uint32_t id_map[256 / 32];
static volatile uint32_t cpus_seen, duplicates;

#define ICR_INIT 0x00000500
#define ICR_STARTUP 0x00000600
#define ICR_ASSERT 0x00004000
#define ICR_ALL_BUT_SELF 0x000c0000

void ap_main(uint32_t slot)
{
    idt_load(); /* an exception here still reports through the shared handlers */
    uint32_t id = lapic_id();
    ap_ids[slot] = id;
    if (atomic_test_and_set_bit(id_map, id))
        atomic_inc_return(&duplicates);
    atomic_inc_return(&cpus_seen);
    for (;;) {
        cli();
        __asm__ volatile("hlt");
    }
}

static void send_ipi(uint32_t dest, uint32_t icr)
{
    lapic_write(LAPIC_ESR, 0);
    lapic_write(LAPIC_ICR_HI, dest << 24);
    lapic_write(LAPIC_ICR_LO, icr);
    /* Delivery status clears as soon as the IPI is accepted; bound the look. */
    for (int i = 0; i < 1000; i++) {
        if (!(lapic_read(LAPIC_ICR_LO) & LAPIC_ICR_BUSY))
            return;
        cpu_relax();
    }
    fail(4, "IPI 0x%x to APIC %u still pending in the ICR", icr, dest);
}

static void send_all(bool each, uint32_t maxid, uint32_t self, uint32_t icr)
{
    if (!each) {
        send_ipi(0, icr | ICR_ALL_BUT_SELF);
        return;
    }
    for (uint32_t id = 0; id <= maxid; id++) {
        if (id != self)
            send_ipi(id, icr);
    }
}

static bool enough(void *arg)
{
    return cpus_seen >= (uint32_t)(uintptr_t)arg;
}

int main(void)
{
    uint32_t want = arg_u32("cpus", 1);
    uint32_t timeout = arg_u32("timeout", 5000);
    uint32_t maxid = arg_u32("maxid", want ? want - 1 : 0);
    bool each = arg_is("ipi", "each");
    size_t tramp_len = (size_t)(ap_trampoline_end - ap_trampoline);

    if (!each && arg_find("ipi", NULL) && !arg_is("ipi", "all"))
        fail(EXIT_BAD_ARGS, "ipi= takes all or each");
    if (maxid > 254)
        fail(EXIT_BAD_ARGS, "maxid=%u: xAPIC IDs end at 254", maxid);
    if (!have_lapic())
        fail(6, "CPUID reports no local APIC");
    irq_init(IRQ_MODE_PIC);
    timebase_start(1000);

    uint32_t self = lapic_id();
    atomic_test_and_set_bit(id_map, self);
    cpus_seen = 1;
    kprintf("smp: boot CPU has APIC id %u; expecting %u CPUs; INIT-SIPI-SIPI %s\n", self, want,
            each ? "to each APIC id" : "broadcast");

    memcpy((void *)AP_TRAMPOLINE_ADDR, ap_trampoline, tramp_len);
    send_all(each, maxid, self, ICR_INIT | ICR_ASSERT);
    wait_for(NULL, NULL, 10);
    send_all(each, maxid, self, ICR_STARTUP | ICR_ASSERT | (AP_TRAMPOLINE_ADDR >> 12));
    wait_for(NULL, NULL, 1);
    send_all(each, maxid, self, ICR_STARTUP | ICR_ASSERT | (AP_TRAMPOLINE_ADDR >> 12));

    uint32_t t0 = timebase_ms();
    wait_for(enough, (void *)(uintptr_t)want, timeout);
    uint32_t took = timebase_ms() - t0;
    wait_for(NULL, NULL, 100); /* one CPU too many must have a chance to show up */

    uint32_t seen = cpus_seen, slots = ap_next_slot;
    kprintf("smp: %u CPUs reported within %u ms:", seen, took);
    kprintf(" %u", self);
    for (uint32_t i = 0; i < slots && i < AP_MAX; i++)
        kprintf(" %u", ap_ids[i]);
    kprintf("\n");
    if (duplicates)
        fail(3, "%u CPUs reported an APIC ID already taken", duplicates);
    if (slots > AP_MAX)
        fail(5, "%u APs started, only %u have a stack", slots, AP_MAX);
    if (seen < want)
        fail(1, "only %u of %u CPUs came up within %u ms", seen, want, timeout);
    if (seen > want)
        fail(2, "%u CPUs came up, expected %u", seen, want);
    kprintf("smp: PASS\n");
    return EXIT_PASS;
}
