/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The demo machine's hardware side: finds the std-VGA on the PCI bus (and
 * gives BAR0 an address when no firmware did), sets a Bochs VBE mode through
 * the DISPI ports, and runs the i8042 keyboard and mouse from interrupts.
 * Keys are echoed on screen, the pointer follows the mouse, F2 switches the
 * resolution. Between events the CPU sleeps in hlt: an idle demo costs nothing.
 *
 * Runs on Terrarium's board (kernel = this ELF, vga on) and unchanged under
 * `qemu-system-x86_64 -kernel demo.elf -vga std`.
 */
#include "demo.h"
#include "rt.h"
#include "vbe.h"

/* Where BAR0 goes when nobody programmed it: high in the PCI hole. */

#define KBD_DATA 0x60
#define KBD_STATUS 0x64
#define KBD_CMD 0x64
#define KBD_STATUS_OBF 0x01
#define KBD_STATUS_IBF 0x02
#define KBD_STATUS_AUX 0x20
#define KBD_CTR_KBDINT 0x01
#define KBD_CTR_AUXINT 0x02
#define KBD_CTR_KBDDIS 0x10
#define KBD_CTR_AUXDIS 0x20
#define KBD_CTR_XLATE 0x40
#define KBD_IRQ 1
#define AUX_IRQ 12
#define POLL_LIMIT 100000

static struct demo_fb fb;
static int mouse_x, mouse_y;

static void set_mode(uint32_t w, uint32_t h)
{
    dispi_write(DISPI_ENABLE, 0);
    dispi_write(DISPI_XRES, (uint16_t)w);
    dispi_write(DISPI_YRES, (uint16_t)h);
    dispi_write(DISPI_BPP, 32);
    dispi_write(DISPI_VIRT_WIDTH, (uint16_t)w);
    dispi_write(DISPI_X_OFFSET, 0);
    dispi_write(DISPI_Y_OFFSET, 0);
    dispi_write(DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);
    fb.width = dispi_read(DISPI_XRES);
    fb.height = dispi_read(DISPI_YRES);
    kprintf("demo: mode %ux%u\n", fb.width, fb.height);
}

/* i8042 ----------------------------------------------------------------- */

static bool kbd_wait_write(void)
{
    for (int i = 0; i < POLL_LIMIT; i++)
        if (!(inb(KBD_STATUS) & KBD_STATUS_IBF))
            return true;
    return false;
}

static int kbd_read_polled(void)
{
    for (int i = 0; i < POLL_LIMIT; i++)
        if (inb(KBD_STATUS) & KBD_STATUS_OBF)
            return inb(KBD_DATA);
    return -1;
}

static void kbd_cmd(uint8_t cmd)
{
    kbd_wait_write();
    outb(KBD_CMD, cmd);
}

static void kbd_data(uint8_t val)
{
    kbd_wait_write();
    outb(KBD_DATA, val);
}

static void flush_output(void)
{
    for (int i = 0; i < 64 && (inb(KBD_STATUS) & KBD_STATUS_OBF); i++)
        inb(KBD_DATA);
}

/* A command to the mouse; true when it acknowledged. */
static bool aux_send(uint8_t val)
{
    kbd_cmd(0xd4);
    kbd_data(val);
    return kbd_read_polled() == 0xfa;
}

static void i8042_init(void)
{
    kbd_cmd(0xad); /* both ports off while we set up */
    kbd_cmd(0xa7);
    flush_output();
    kbd_cmd(0x20);
    int ctr = kbd_read_polled();
    if (ctr < 0)
        ctr = 0;
    /* Interrupts off while the mouse is set up by polling. */
    ctr &= ~(KBD_CTR_KBDINT | KBD_CTR_AUXINT | KBD_CTR_KBDDIS | KBD_CTR_AUXDIS);
    ctr |= KBD_CTR_XLATE;
    kbd_cmd(0x60);
    kbd_data((uint8_t)ctr);
    kbd_cmd(0xae);
    kbd_cmd(0xa8);
    bool mouse = aux_send(0xf6) && aux_send(0xf4);
    flush_output();
    kbd_data(0xf4); /* keyboard: scan */
    kbd_read_polled();
    ctr |= KBD_CTR_KBDINT | KBD_CTR_AUXINT;
    kbd_cmd(0x60);
    kbd_data((uint8_t)ctr);
    kprintf("demo: keyboard on, mouse %s\n", mouse ? "on" : "did not answer");
}

/* Bytes from the interrupt handlers; bit 8 marks the mouse's. */
static volatile uint16_t ring[256];
static volatile uint32_t ring_head, ring_tail;

static void on_i8042(struct frame *f)
{
    for (int i = 0; i < 16; i++) {
        uint8_t st = inb(KBD_STATUS);
        if (!(st & KBD_STATUS_OBF))
            break;
        uint16_t v = inb(KBD_DATA) | ((st & KBD_STATUS_AUX) ? 0x100 : 0);
        if (ring_head - ring_tail < 256)
            ring[ring_head++ % 256] = v;
    }
}

/* Scancode set 1 (translated) to ASCII, US layout: plain and shifted. */
static const char keymap[2][0x3a] = {
    {0,    27,  '1', '2', '3', '4', '5', '6', '7', '8', '9',  '0', '-', '=',  '\b',
     '\t', 'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p',  '[', ']', '\n', 0,
     'a',  's', 'd', 'f', 'g', 'h', 'j', 'k', 'l', ';', '\'', '`', 0,   '\\', 'z',
     'x',  'c', 'v', 'b', 'n', 'm', ',', '.', '/', 0,   '*',  0,   ' '},
    {0,    27,  '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '_', '+',  '\b',
     '\t', 'Q', 'W', 'E', 'R', 'T', 'Y', 'U', 'I', 'O', 'P', '{', '}', '\n', 0,
     'A',  'S', 'D', 'F', 'G', 'H', 'J', 'K', 'L', ':', '"', '~', 0,   '|',  'Z',
     'X',  'C', 'V', 'B', 'N', 'M', '<', '>', '?', 0,   '*', 0,   ' '},
};

static bool shift, extended;

static void redraw(void)
{
    demo_pointer_hide(&fb);
    demo_draw_scene(&fb);
    mouse_x = (int)fb.width / 2;
    mouse_y = (int)fb.height / 2;
    demo_pointer_show(&fb, mouse_x, mouse_y);
}

static void key_byte(uint8_t b)
{
    if (b == 0xe0) {
        extended = true;
        return;
    }
    bool ext = extended, up = b & 0x80;
    extended = false;
    b &= 0x7f;
    if (b == 0x2a || b == 0x36) {
        shift = !up;
        return;
    }
    if (up || ext || b == 0)
        return;
    if (b == 0x3c) { /* F2: the other resolution */
        set_mode(fb.width == 1024 ? 800 : 1024, fb.width == 1024 ? 600 : 768);
        redraw();
        return;
    }
    char c = b < sizeof(keymap[0]) ? keymap[shift][b] : 0;
    if (c == '\t')
        c = ' ';
    if (!c || c == 27)
        return;
    demo_pointer_hide(&fb);
    demo_text_key(&fb, c);
    demo_pointer_show(&fb, mouse_x, mouse_y);
}

static uint8_t packet[3];
static int packet_len;

static void mouse_byte(uint8_t b, int *dx, int *dy)
{
    /* Byte 0 always has bit 3 set: resynchronise on anything else. */
    if (packet_len == 0 && !(b & 0x08))
        return;
    packet[packet_len++] = b;
    if (packet_len < 3)
        return;
    packet_len = 0;
    if (packet[0] & 0xc0) /* overflow: the deltas are meaningless */
        return;
    *dx += (int)packet[1] - ((packet[0] & 0x10) ? 256 : 0);
    *dy -= (int)packet[2] - ((packet[0] & 0x20) ? 256 : 0); /* PS/2 y grows upwards */
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int main(void)
{
    unsigned vga_dev = 0;
    bool assigned = false;
    uint32_t lfb = vbe_find_lfb(&vga_dev, &assigned);
    if (lfb && assigned)
        kprintf("demo: VGA at 00:%02x.0, BAR0 set to 0x%x\n", vga_dev, lfb);
    uint16_t id = dispi_read(DISPI_ID);
    if (!lfb || id < 0xb0c0 || id > 0xb0cf)
        fail(1, "no Bochs VBE display (PCI 1234:1111, DISPI id 0x%x)", id);
    fb.base = (volatile uint32_t *)(uintptr_t)lfb;
    set_mode(1024, 768);
    redraw();

    irq_init(IRQ_MODE_PIC);
    i8042_init();
    irq_attach(KBD_IRQ, on_i8042);
    irq_attach(AUX_IRQ, on_i8042);
    flush_output();
    kprintf("demo: ready\n");

    for (;;) {
        int dx = 0, dy = 0;
        cli();
        if (ring_head == ring_tail) {
            sti_hlt();
            continue;
        }
        /* Everything that arrived, then one pointer move for all of it. */
        while (ring_head != ring_tail) {
            uint16_t v = ring[ring_tail++ % 256];
            sti();
            if (v & 0x100)
                mouse_byte((uint8_t)v, &dx, &dy);
            else
                key_byte((uint8_t)v);
            cli();
        }
        sti();
        if (dx || dy) {
            demo_pointer_hide(&fb);
            mouse_x = clamp(mouse_x + dx, 0, (int)fb.width - 1);
            mouse_y = clamp(mouse_y + dy, 0, (int)fb.height - 1);
            demo_pointer_show(&fb, mouse_x, mouse_y);
        }
    }
}
