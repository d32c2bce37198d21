/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IDT and interrupt routing. Anything nobody asked for — an exception, an interrupt on an
 * unclaimed vector, a spurious 8259 or LAPIC interrupt — ends the guest with a message and
 * a distinctive exit code, so a VMM bug never looks like a hang or a pass.
 */
#include "rt.h"

struct idt_entry {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t zero;
    uint8_t type;
    uint16_t offset_hi;
} __attribute__((packed));

struct idt_ptr {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

static struct idt_entry idt[256];
static struct idt_ptr idt_ptr;
static isr_fn handlers[256];
static enum irq_mode cur_mode;
static bool irq_ready;

static const char *const exception_names[32] = {
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range",
    "#UD invalid opcode",
    "#NM no FPU",
    "#DF double fault",
    "coprocessor overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack fault",
    "#GP general protection",
    "#PF page fault",
    "reserved 15",
    "#MF x87 error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD error",
    "#VE virtualization",
    "#CP control protection",
};

void idt_load(void)
{
    __asm__ volatile("lidt %0" : : "m"(idt_ptr));
}

void idt_init(void)
{
    for (unsigned v = 0; v < 256; v++) {
        uint32_t addr = (uint32_t)(uintptr_t)isr_stubs + v * 16;
        idt[v].offset_lo = (uint16_t)addr;
        idt[v].selector = 0x08;
        idt[v].zero = 0;
        idt[v].type = 0x8e; /* present, DPL 0, 32-bit interrupt gate: handlers run with IF=0 */
        idt[v].offset_hi = (uint16_t)(addr >> 16);
    }
    idt_ptr.limit = sizeof(idt) - 1;
    idt_ptr.base = (uint32_t)(uintptr_t)idt;
    idt_load();
}

void idt_set(uint8_t vector, isr_fn fn)
{
    handlers[vector] = fn;
}

bool have_lapic(void)
{
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    return d & (1u << 9);
}

uint32_t lapic_read(uint32_t reg)
{
    return mmio_read32(LAPIC_BASE + reg);
}

void lapic_write(uint32_t reg, uint32_t val)
{
    mmio_write32(LAPIC_BASE + reg, val);
}

uint32_t lapic_id(void)
{
    return lapic_read(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

uint32_t ioapic_read(uint32_t reg)
{
    mmio_write32(IOAPIC_BASE, reg);
    return mmio_read32(IOAPIC_BASE + 0x10);
}

void ioapic_write(uint32_t reg, uint32_t val)
{
    mmio_write32(IOAPIC_BASE, reg);
    mmio_write32(IOAPIC_BASE + 0x10, val);
}

unsigned ioapic_pin_for_isa(unsigned irq)
{
    return irq == 0 ? 2 : irq;
}

static uint32_t cpu_number(void)
{
    return have_lapic() ? lapic_id() : 0;
}

static void pic_eoi(unsigned irq)
{
    if (irq >= 8)
        outb(PIC2_CMD, PIC_EOI);
    outb(PIC1_CMD, PIC_EOI);
}

static uint8_t pic_isr(uint16_t cmd_port)
{
    outb(cmd_port, PIC_READ_ISR);
    return inb(cmd_port);
}

static void isa_dispatch(struct frame *f)
{
    unsigned irq = f->vector - VEC_ISA_BASE;
    isr_fn fn = handlers[f->vector];

    if (cur_mode == IRQ_MODE_PIC) {
        /* A line that dropped before the CPU's acknowledge shows up as IRQ7/15, ISR clear. */
        if (irq == 7 && !(pic_isr(PIC1_CMD) & 0x80))
            fail(EXIT_SPURIOUS_IRQ, "spurious 8259 interrupt (IRQ7, ISR clear)");
        if (irq == 15 && !(pic_isr(PIC2_CMD) & 0x80))
            fail(EXIT_SPURIOUS_IRQ, "spurious 8259 interrupt (IRQ15, ISR clear)");
    }
    if (!fn)
        fail(EXIT_UNEXPECTED_IRQ, "unexpected ISA IRQ %u (vector 0x%x) in %s mode", irq, f->vector,
             irq_mode_name());
    fn(f);
    if (cur_mode == IRQ_MODE_PIC)
        pic_eoi(irq);
    else
        lapic_eoi();
}

void isr_dispatch(struct frame *f);

void isr_dispatch(struct frame *f)
{
    uint32_t v = f->vector;

    if (irq_ready && v >= VEC_ISA_BASE && v < VEC_ISA_BASE + 16) {
        isa_dispatch(f);
        return;
    }
    if (handlers[v]) {
        handlers[v](f);
        return;
    }
    if (v < 32) {
        const char *name = exception_names[v] ? exception_names[v] : "reserved";
        fail(EXIT_EXCEPTION + v,
             "CPU exception %s (vector %u), error 0x%x, eip 0x%x, cr2 0x%x, cpu %u", name, v,
             f->error, f->eip, v == 14 ? read_cr2() : 0, cpu_number());
    }
    if (v == VEC_LAPIC_SPURIOUS)
        fail(EXIT_SPURIOUS_IRQ, "LAPIC spurious interrupt on cpu %u", cpu_number());
    if (v == VEC_LAPIC_ERROR) {
        lapic_write(LAPIC_ESR, 0);
        fail(EXIT_UNEXPECTED_IRQ, "LAPIC error interrupt, ESR 0x%x", lapic_read(LAPIC_ESR));
    }
    fail(EXIT_UNEXPECTED_IRQ, "unexpected interrupt, vector 0x%x, eip 0x%x, cpu %u", v, f->eip,
         cpu_number());
}

enum irq_mode irq_mode_from_cmdline(void)
{
    if (!arg_find("irq", NULL) || arg_is("irq", "pic"))
        return IRQ_MODE_PIC;
    if (arg_is("irq", "ioapic"))
        return IRQ_MODE_IOAPIC;
    fail(EXIT_BAD_ARGS, "irq= takes pic or ioapic");
}

const char *irq_mode_name(void)
{
    return cur_mode == IRQ_MODE_PIC ? "pic" : "ioapic";
}

static void pic_init(void)
{
    outb(PIC1_CMD, 0x11); /* ICW1: edge, cascade, ICW4 follows */
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, VEC_ISA_BASE); /* ICW2: vector base */
    outb(PIC2_DATA, VEC_ISA_BASE + 8);
    outb(PIC1_DATA, 0x04); /* ICW3: slave on IRQ2 */
    outb(PIC2_DATA, 0x02);
    outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode, normal EOI */
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, 0xff);
    outb(PIC2_DATA, 0xff);
}

static unsigned ioapic_pins(void)
{
    return ((ioapic_read(IOAPIC_REG_VER) >> 16) & 0xff) + 1;
}

void irq_init(enum irq_mode mode)
{
    cur_mode = mode;
    pic_init();
    if (have_lapic()) {
        uint64_t base = rdmsr(MSR_APIC_BASE);
        if (!(base & MSR_APIC_BASE_ENABLE))
            wrmsr(MSR_APIC_BASE, base | MSR_APIC_BASE_ENABLE);
        /* Software-enable first: a disabled LAPIC forces every LVT write to masked. */
        lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | VEC_LAPIC_SPURIOUS);
        lapic_write(LAPIC_TPR, 0);
        lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | VEC_LAPIC_TIMER);
        lapic_write(LAPIC_LVT_LINT0, mode == IRQ_MODE_PIC ? LAPIC_LVT_DM_EXTINT : LAPIC_LVT_MASKED);
        lapic_write(LAPIC_LVT_LINT1, LAPIC_LVT_DM_NMI);
        lapic_write(LAPIC_LVT_ERROR, VEC_LAPIC_ERROR);
        lapic_write(LAPIC_ESR, 0);
    } else if (mode == IRQ_MODE_IOAPIC) {
        fail(EXIT_BAD_ARGS, "irq=ioapic needs a local APIC, and CPUID reports none");
    }
    if (mode == IRQ_MODE_IOAPIC) {
        unsigned n = ioapic_pins();
        for (unsigned pin = 0; pin < n; pin++)
            ioapic_write(IOAPIC_REG_REDIR + 2 * pin, IOAPIC_REDIR_MASKED);
    }
    irq_ready = true;
}

void irq_attach(unsigned irq, isr_fn fn)
{
    uint8_t vec = (uint8_t)(VEC_ISA_BASE + irq);
    uint32_t flags = irq_save();

    handlers[vec] = fn;
    if (cur_mode == IRQ_MODE_PIC) {
        if (irq >= 8) {
            outb(PIC2_DATA, inb(PIC2_DATA) & ~(1u << (irq - 8)));
            outb(PIC1_DATA, inb(PIC1_DATA) & ~(1u << 2));
        } else {
            outb(PIC1_DATA, inb(PIC1_DATA) & ~(1u << irq));
        }
    } else {
        unsigned pin = ioapic_pin_for_isa(irq);
        /* Fixed delivery, physical destination, edge, active high: an ISA line. */
        ioapic_write(IOAPIC_REG_REDIR + 2 * pin + 1, lapic_id() << 24);
        ioapic_write(IOAPIC_REG_REDIR + 2 * pin, vec);
    }
    irq_restore(flags);
}

/* Masks the line but keeps the handler: an interrupt already in flight is still expected. */
void irq_detach(unsigned irq)
{
    uint32_t flags = irq_save();

    if (cur_mode == IRQ_MODE_PIC) {
        if (irq >= 8)
            outb(PIC2_DATA, inb(PIC2_DATA) | (1u << (irq - 8)));
        else
            outb(PIC1_DATA, inb(PIC1_DATA) | (1u << irq));
    } else {
        ioapic_write(IOAPIC_REG_REDIR + 2 * ioapic_pin_for_isa(irq), IOAPIC_REDIR_MASKED);
    }
    irq_restore(flags);
}
