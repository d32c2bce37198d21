/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pc: the PC board's devices as a guest sees them.
 *
 *   how=pci   enumerate bus 0 through 0xCF8/0xCFC; the i440FX, PIIX3, its IDE and the PIIX4
 *             PM function must be there with the right IDs (and the VGA when vga=1); size
 *             the IDE's bus-master BAR; move the PM block and find it at its new base
 *             (loops=N: N more passes over the IDs, each read checked)
 *   how=kbd   PS/2 keyboard bytes on IRQ 1 through the 8042 (translated to set 1): the host
 *             types "hello" and Return (--keys-at); every make and break code must arrive,
 *             in order
 *   how=rtc   CMOS clock: a plausible BCD date, periodic interrupts on IRQ 8 at 1024 Hz
 *             counted against the PIT, one update-ended interrupt a second
 *   how=vga   program the std-VGA for 80x25 colour text the way a BIOS would and write a
 *             line at 0xB8000: the runner's text dump must show it
 *   how=debugcon  the debug console on port 0x402 answers 0xE9 to a read (as firmware probes
 *             it) and passes a line written to it on to the host's log file
 *
 * Exit codes: 0 pass; 1 PCI device missing or wrong; 2 BAR sizing wrong; 3 PM block did not
 * move; 4 keys missing, 5 keys out of order; 6 bad date; 7 periodic rate off; 8 no update
 * interrupt; 9 no debug console.
 */
#include "rt.h"

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

static uint32_t pci_read32(unsigned dev, unsigned fn, unsigned off)
{
    outl(PCI_ADDR, 0x80000000u | dev << 11 | fn << 8 | (off & 0xfc));
    return inl(PCI_DATA);
}

static void pci_write32(unsigned dev, unsigned fn, unsigned off, uint32_t val)
{
    outl(PCI_ADDR, 0x80000000u | dev << 11 | fn << 8 | (off & 0xfc));
    outl(PCI_DATA, val);
}

static const struct {
    unsigned dev, fn;
    uint32_t id; /* device << 16 | vendor */
    bool vga_only;
} expected[] = {
    {0, 0, 0x12378086, false}, {1, 0, 0x70008086, false}, {1, 1, 0x70108086, false},
    {1, 3, 0x71138086, false}, {2, 0, 0x11111234, true},
};

static void test_pci(void)
{
    bool vga = arg_u32("vga", 0);
    unsigned found = 0;
    for (unsigned dev = 0; dev < 32; dev++) {
        for (unsigned fn = 0; fn < 8; fn++) {
            uint32_t id = pci_read32(dev, fn, 0);
            if (id == 0xffffffffu)
                continue;
            uint32_t cls = pci_read32(dev, fn, 8) >> 8;
            kprintf("pci: 00:%02x.%u %04x:%04x class %06x\n", dev, fn, id & 0xffff, id >> 16, cls);
            found++;
            if (fn == 0 && !(pci_read32(dev, 0, 0x0c) & 0x00800000))
                break; /* not multi-function */
        }
    }
    for (unsigned i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        if (expected[i].vga_only && !vga)
            continue;
        uint32_t id = pci_read32(expected[i].dev, expected[i].fn, 0);
        if (id != expected[i].id)
            fail(1, "00:%02x.%u is %08x, want %08x", expected[i].dev, expected[i].fn, id,
                 expected[i].id);
    }
    /* BAR4 of the IDE function: 16 bytes of I/O space. */
    uint32_t old = pci_read32(1, 1, 0x20);
    pci_write32(1, 1, 0x20, 0xffffffffu);
    uint32_t mask = pci_read32(1, 1, 0x20);
    pci_write32(1, 1, 0x20, old);
    if ((mask & 0xffff) != 0xfff1)
        fail(2, "IDE BAR4 sizes as %08x, want ....fff1", mask);
    /* The PM block follows PMBA: move it to 0xb000 and read the PM timer there. */
    pci_write32(1, 3, 0x40, 0xb001);
    pci_write32(1, 3, 0x80, 1);
    uint32_t t1 = inl(0xb008) & 0xffffff;
    for (volatile int i = 0; i < 20000; i++)
        ;
    uint32_t t2 = inl(0xb008) & 0xffffff;
    if (t1 == 0xffffff || t1 == t2)
        fail(3, "no running PM timer at the new PM base 0xb000 (%x, %x)", t1, t2);
    kprintf("pci: %u functions; IDE BAR4 mask %08x; PM timer at 0xb008\n", found, mask);
    /* loops=N: N more passes over the expected IDs, each read checked (coalesced 0xCF8 writes
     * must never let a read see another address's data). */
    uint32_t loops = arg_u32("loops", 0);
    for (uint32_t n = 0; n < loops; n++) {
        for (unsigned i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
            if (expected[i].vga_only && !vga)
                continue;
            uint32_t id = pci_read32(expected[i].dev, expected[i].fn, 0);
            if (id != expected[i].id)
                fail(1, "pass %u: 00:%02x.%u is %08x, want %08x", n, expected[i].dev,
                     expected[i].fn, id, expected[i].id);
        }
    }
    if (loops)
        kprintf("pci: %u passes of ID reads checked\n", loops);
}

static volatile uint8_t kbd_bytes[64];
static volatile uint32_t kbd_count;

static void kbd_isr(struct frame *f)
{
    uint8_t b = inb(0x60);
    if (kbd_count < sizeof(kbd_bytes))
        kbd_bytes[kbd_count] = b;
    kbd_count++;
}

static bool have_all_keys(void *arg)
{
    return kbd_count >= 12;
}

static void test_kbd(void)
{
    /* h e l l o Return, each make then break, in scan code set 1. */
    static const uint8_t want[12] = {0x23, 0xa3, 0x12, 0x92, 0x26, 0xa6,
                                     0x26, 0xa6, 0x18, 0x98, 0x1c, 0x9c};
    irq_init(irq_mode_from_cmdline());
    irq_attach(1, kbd_isr);
    timebase_start(1000);
    kputs("kbd: waiting for keys\n");
    if (!wait_for(have_all_keys, NULL, 20000))
        fail(4, "only %u key bytes arrived in 20 s", kbd_count);
    for (unsigned i = 0; i < 12; i++) {
        if (kbd_bytes[i] != want[i])
            fail(5, "key byte %u is %02x, want %02x", i, kbd_bytes[i], want[i]);
    }
    kprintf("kbd: %u bytes in order\n", kbd_count);
}

static uint8_t cmos(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

static void cmos_write(uint8_t reg, uint8_t val)
{
    outb(0x70, reg);
    outb(0x71, val);
}

static unsigned bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0xf);
}

static volatile uint32_t rtc_periodic, rtc_update;

static void rtc_isr(struct frame *f)
{
    uint8_t c = cmos(0x0c); /* reading C acknowledges */
    if (c & 0x40)
        rtc_periodic++;
    if (c & 0x10)
        rtc_update++;
}

static bool got_update(void *arg)
{
    return rtc_update > 0;
}

static void test_rtc(void)
{
    while (cmos(0x0a) & 0x80)
        ;
    unsigned year = bcd(cmos(0x32)) * 100 + bcd(cmos(0x09));
    unsigned mon = bcd(cmos(0x08)), day = bcd(cmos(0x07));
    unsigned h = bcd(cmos(0x04)), m = bcd(cmos(0x02)), s = bcd(cmos(0x00));
    kprintf("rtc: %u-%02u-%02u %02u:%02u:%02u UTC\n", year, mon, day, h, m, s);
    if (year < 2024 || year > 2199 || mon < 1 || mon > 12 || day < 1 || day > 31 || h > 23 ||
        m > 59 || s > 59)
        fail(6, "implausible date");

    irq_init(irq_mode_from_cmdline());
    irq_attach(8, rtc_isr);
    timebase_start(1000);
    cmos_write(0x0a, 0x26);                       /* 32.768 kHz, 1024 Hz */
    cmos_write(0x0b, (cmos(0x0b) & 0x0f) | 0x40); /* PIE */
    (void)cmos(0x0c);
    uint32_t t0 = timebase_ms();
    wait_for(NULL, NULL, 500);
    uint32_t ms = timebase_ms() - t0, n = rtc_periodic;
    cmos_write(0x0b, cmos(0x0b) & ~0x40);
    kprintf("rtc: %u periodic interrupts in %u ms\n", n, ms);
    /* 1024 Hz: allow a wide margin, this may run on a slow nested host */
    if (ms == 0 || n * 1000 / ms < 300 || n * 1000 / ms > 1300)
        fail(7, "%u interrupts in %u ms is not 1024 Hz", n, ms);
    cmos_write(0x0b, (cmos(0x0b) & 0x0f) | 0x10); /* UIE */
    if (!wait_for(got_update, NULL, 2500))
        fail(8, "no update-ended interrupt in 2.5 s");
    kprintf("rtc: update-ended interrupt\n");
}

static void vga_write(uint16_t index_port, uint8_t index, uint8_t val)
{
    outb(index_port, index);
    outb(index_port + 1, val);
}

static void test_vga(void)
{
    static const uint8_t crtc[25] = {0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00,
                                     0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
                                     0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff};
    static const uint8_t attr[21] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14,
                                     0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d,
                                     0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00};
    outb(0x3c2, 0x67); /* colour, 28 MHz clock */
    vga_write(0x3c4, 0, 0x03);
    vga_write(0x3c4, 1, 0x00); /* 9-dot, screen on */
    vga_write(0x3c4, 2, 0x03); /* planes 0 and 1 */
    vga_write(0x3c4, 3, 0x00);
    vga_write(0x3c4, 4, 0x02);    /* odd/even */
    vga_write(0x3d4, 0x11, 0x0e); /* unlock CR0-7 */
    for (unsigned i = 0; i < sizeof(crtc); i++)
        vga_write(0x3d4, (uint8_t)i, crtc[i]);
    vga_write(0x3ce, 5, 0x10); /* odd/even */
    vga_write(0x3ce, 6, 0x0e); /* B8000, chained */
    (void)inb(0x3da);          /* attribute flip-flop to index */
    for (unsigned i = 0; i < sizeof(attr); i++) {
        outb(0x3c0, (uint8_t)i);
        outb(0x3c0, attr[i]);
    }
    outb(0x3c0, 0x20); /* palette address source: the screen is on */

    static const char msg[] = "TERRARIUM GUEST WROTE THIS LINE";
    volatile uint16_t *text = (volatile uint16_t *)0xb8000;
    for (unsigned i = 0; i < 80 * 25; i++)
        text[i] = 0x0720;
    for (unsigned i = 0; msg[i]; i++)
        text[80 * 12 + 20 + i] = 0x1f00 | (uint8_t)msg[i];
    kputs("vga: line written at row 12\n");
}

static void test_debugcon(void)
{
    static const char msg[] = "TERRARIUM DEBUG CONSOLE LINE\n";
    uint8_t probe = inb(0x402);
    if (probe != 0xe9)
        fail(9, "port 0x402 reads 0x%x, not the debug console's 0xe9", probe);
    for (unsigned i = 0; msg[i]; i++)
        outb(0x402, (uint8_t)msg[i]);
    kputs("debugcon: line written\n");
}

int main(void)
{
    if (arg_is("how", "pci"))
        test_pci();
    else if (arg_is("how", "kbd"))
        test_kbd();
    else if (arg_is("how", "rtc"))
        test_rtc();
    else if (arg_is("how", "vga"))
        test_vga();
    else if (arg_is("how", "debugcon"))
        test_debugcon();
    else
        fail(EXIT_BAD_ARGS, "how= must be pci, kbd, rtc, vga or debugcon");
    kputs("pc: pass\n");
    return 0;
}
