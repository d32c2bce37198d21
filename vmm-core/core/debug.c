/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A state dump for a machine that seems stuck: where each vCPU is (inside an
 * exit, and which one; or its guest registers once parked), its local APIC's
 * pending and in-service vectors, the PIC and IOAPIC, and the UART. Written
 * to be safe on a machine in any state: waits for vCPUs only so long, and
 * takes no device lock it cannot get at once.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/vm.h"
#include "hw/serial.h"

static const char *exit_name(uint32_t r)
{
    switch (r) {
    case KVM_EXIT_IO:
        return "io";
    case KVM_EXIT_MMIO:
        return "mmio";
    case KVM_EXIT_HLT:
        return "hlt";
    case KVM_EXIT_SHUTDOWN:
        return "shutdown";
    case KVM_EXIT_INTR:
        return "intr";
    case KVM_EXIT_FAIL_ENTRY:
        return "fail-entry";
    case KVM_EXIT_INTERNAL_ERROR:
        return "internal-error";
    case KVM_EXIT_SYSTEM_EVENT:
        return "system-event";
    default:
        return "other";
    }
}

/* Where a vCPU thread is, from what it publishes without a lock. */
static void dump_exit(FILE *f, struct vmm_vcpu *v)
{
    struct kvm_run *run = v->run;
    uint64_t seq = atomic_load(&v->io_seq);
    fprintf(f, "  vcpu%u: exits pio=%llu mmio=%llu other=%llu, %s", v->id,
            (unsigned long long)__atomic_load_n(&v->exits_pio, __ATOMIC_RELAXED),
            (unsigned long long)__atomic_load_n(&v->exits_mmio, __ATOMIC_RELAXED),
            (unsigned long long)__atomic_load_n(&v->exits_other, __ATOMIC_RELAXED),
            v->parked   ? "parked"
            : (seq & 1) ? "HANDLING AN EXIT"
                        : "in KVM_RUN or between exits");
    /* KVM zeroes exit_reason on entry: it only means something while an exit is handled. */
    if (!run || !(seq & 1) || v->parked) {
        fputc('\n', f);
        return;
    }
    uint32_t r = __atomic_load_n(&run->exit_reason, __ATOMIC_RELAXED);
    fprintf(f, ": %s (%u)", exit_name(r), r);
    if (r == KVM_EXIT_IO)
        fprintf(f, " %s port %#x size %u", run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
                run->io.port, run->io.size);
    else if (r == KVM_EXIT_MMIO)
        fprintf(f, " %s %#llx len %u", run->mmio.is_write ? "write" : "read",
                (unsigned long long)run->mmio.phys_addr, run->mmio.len);
    fputc('\n', f);
}

static uint32_t apic_reg(const struct kvm_lapic_state *l, unsigned off)
{
    uint32_t v;
    memcpy(&v, l->regs + off, sizeof(v));
    return v;
}

/* The set bits of a 256-bit APIC vector register (8 x 32 at 16-byte stride). */
static void apic_vectors(FILE *f, const char *name, const struct kvm_lapic_state *l, unsigned base)
{
    fprintf(f, " %s=", name);
    bool any = false;
    for (unsigned i = 0; i < 8; i++) {
        uint32_t w = apic_reg(l, base + i * 16);
        for (unsigned b = 0; b < 32; b++)
            if (w & (1u << b)) {
                fprintf(f, "%s%#x", any ? "," : "", i * 32 + b);
                any = true;
            }
    }
    if (!any)
        fputc('-', f);
}

/* A parked vCPU: its thread is out of KVM_RUN, so its fd answers at once. */
static void dump_vcpu_state(FILE *f, struct vmm_vcpu *v)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_mp_state mp;
    struct kvm_vcpu_events ev;
    struct kvm_lapic_state lapic;

    if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0 && ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0) {
        fprintf(f,
                "    rip=%#llx rsp=%#llx rflags=%#llx (IF=%d) cs=%#x cr0=%#llx cr3=%#llx "
                "efer=%#llx\n",
                (unsigned long long)regs.rip, (unsigned long long)regs.rsp,
                (unsigned long long)regs.rflags, (regs.rflags & 0x200) != 0, sregs.cs.selector,
                (unsigned long long)sregs.cr0, (unsigned long long)sregs.cr3,
                (unsigned long long)sregs.efer);
        struct kvm_translation tr = {.linear_address = regs.rip};
        if (ioctl(v->fd, KVM_TRANSLATE, &tr) == 0 && tr.valid) {
            const uint8_t *code = vmm_guest_ptr(&v->vm->mem, tr.physical_address, 16);
            if (code) {
                fprintf(f, "    code at rip:");
                for (unsigned i = 0; i < 16; i++)
                    fprintf(f, " %02x", code[i]);
                fputc('\n', f);
            }
        }
    }
    if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) == 0)
        fprintf(f, "    mp_state=%u", mp.mp_state);
    if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) == 0)
        fprintf(f,
                " pending: irq injected=%u nr=%#x, nmi injected=%u pending=%u, exc injected=%u "
                "nr=%u, interrupt shadow=%u",
                ev.interrupt.injected, ev.interrupt.nr, ev.nmi.injected, ev.nmi.pending,
                ev.exception.injected, ev.exception.nr, ev.interrupt.shadow);
    fputc('\n', f);
    if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) == 0) {
        fprintf(f, "    lapic: id=%u tpr=%#x ppr=%#x svr=%#x lvt-timer=%#x tmr-init=%u tmr-cur=%u",
                apic_reg(&lapic, 0x20) >> 24, apic_reg(&lapic, 0x80), apic_reg(&lapic, 0xa0),
                apic_reg(&lapic, 0xf0), apic_reg(&lapic, 0x320), apic_reg(&lapic, 0x380),
                apic_reg(&lapic, 0x390));
        apic_vectors(f, "irr", &lapic, 0x200);
        apic_vectors(f, "isr", &lapic, 0x100);
        apic_vectors(f, "tmr", &lapic, 0x180);
        fputc('\n', f);
    }
}

static void dump_irqchip(FILE *f, struct vmm_vm *vm)
{
    for (unsigned chip = KVM_IRQCHIP_PIC_MASTER; chip <= KVM_IRQCHIP_PIC_SLAVE; chip++) {
        struct kvm_irqchip c = {.chip_id = chip};
        if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c) < 0)
            continue;
        const struct kvm_pic_state *p = &c.chip.pic;
        fprintf(f, "  pic %s: irr=%#x imr=%#x isr=%#x base=%#x elcr=%#x\n",
                chip == KVM_IRQCHIP_PIC_MASTER ? "master" : "slave", p->irr, p->imr, p->isr,
                p->irq_base, p->elcr);
    }
    struct kvm_irqchip c = {.chip_id = KVM_IRQCHIP_IOAPIC};
    if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c) < 0)
        return;
    const struct kvm_ioapic_state *io = &c.chip.ioapic;
    fprintf(f, "  ioapic: irr=%#x\n", io->irr);
    for (unsigned pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
        const typeof(io->redirtbl[0]) *e = &io->redirtbl[pin];
        if (e->fields.mask && !(io->irr & (1u << pin)))
            continue; /* masked and idle: nothing to say */
        fprintf(f, "    pin %2u: vector %#x %s %s dest %u%s%s%s\n", pin, e->fields.vector,
                e->fields.trig_mode ? "level" : "edge", e->fields.polarity ? "low" : "high",
                e->fields.dest_id, e->fields.mask ? " MASKED" : "",
                e->fields.remote_irr ? " remote-irr" : "",
                (io->irr & (1u << pin)) ? " line-asserted" : "");
    }
}

static void dump_serial(FILE *f, struct vmm_serial *s)
{
    if (pthread_mutex_trylock(&s->dev.lock) != 0) {
        fprintf(f, "  uart: its lock is held (a vCPU inside it, or stuck there)\n");
        return;
    }
    fprintf(f,
            "  uart: ier=%#x lcr=%#x mcr=%#x fcr=%#x rx=%u tx=%u tx_busy=%d thre_pending=%d "
            "lsr_errors=%#x irq_level=%d host_waiting=%d\n",
            s->ier, s->lcr, s->mcr, s->fcr, s->rx_count, s->tx_count, s->tx_busy, s->thre_pending,
            s->lsr_errors, s->irq_level, s->host_waiting);
    pthread_mutex_unlock(&s->dev.lock);
}

void vmm_vm_debug_dump(struct vmm_vm *vm, FILE *f)
{
    fprintf(f, "=== terrarium: machine state dump ===\n");
    pthread_mutex_lock(&vm->lock);
    for (unsigned i = 0; i < vm->ncpus; i++)
        dump_exit(f, &vm->vcpus[i]);

    /* Park the vCPUs briefly to read their registers; one stuck in a device stays as it is. */
    bool paused_here = !vm->ended && vm->state == VMM_STATE_RUNNING;
    if (!vm->ended) {
        if (!vmm_vm_wait_parked(vm, 2000))
            fprintf(f, "  not every vCPU parked within 2 s\n");
        for (unsigned i = 0; i < vm->ncpus; i++) {
            struct vmm_vcpu *v = &vm->vcpus[i];
            if (v->parked) {
                fprintf(f, "  vcpu%u:\n", v->id);
                dump_vcpu_state(f, v);
            } else {
                fprintf(f, "  vcpu%u: did not park; registers not read\n", v->id);
            }
        }
    }
    if (paused_here && !vm->ended) {
        atomic_store(&vm->request, VMM_REQ_RUN);
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);

    dump_irqchip(f, vm);
    if (vm->serial)
        dump_serial(f, vm->serial);
    fprintf(f, "=== end of dump ===\n");
    fflush(f);
}
