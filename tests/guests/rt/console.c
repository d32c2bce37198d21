/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Polled COM1 output and a small printf: %d %i %u %x %X %p %s %c %%, width, 0/- flags, %.*s. */
#include "rt.h"

/* THRE normally reads set at once in a VMM; the bound only keeps a broken UART from hanging us. */
#define POLL_LIMIT 100000

void (*console_putc)(char c) = serial_putc;

void serial_init(void)
{
    outb(COM1 + UART_IER, 0);
    outb(COM1 + UART_LCR, UART_LCR_DLAB);
    outb(COM1 + UART_DLL, 1); /* 115200 baud */
    outb(COM1 + UART_DLM, 0);
    outb(COM1 + UART_LCR, UART_LCR_8N1);
    outb(COM1 + UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX);
    outb(COM1 + UART_MCR, UART_MCR_DTR | UART_MCR_RTS);
}

static void serial_raw(char c)
{
    for (int i = 0; i < POLL_LIMIT && !(inb(COM1 + UART_LSR) & UART_LSR_THRE); i++)
        cpu_relax();
    outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_putc(char c)
{
    if (c == '\n')
        serial_raw('\r');
    serial_raw(c);
}

void serial_flush(void)
{
    for (int i = 0; i < POLL_LIMIT && !(inb(COM1 + UART_LSR) & UART_LSR_TEMT); i++)
        cpu_relax();
}

void kputs(const char *s)
{
    while (*s)
        console_putc(*s++);
}

static void pad(int n, char c)
{
    while (n-- > 0)
        console_putc(c);
}

static void put_num(uint32_t v, unsigned base, bool upper, bool neg, int width, bool zero,
                    bool left)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char buf[12];
    int n = 0;

    do {
        buf[n++] = digits[v % base];
        v /= base;
    } while (v);
    int len = n + (neg ? 1 : 0);
    if (!left && !zero)
        pad(width - len, ' ');
    if (neg)
        console_putc('-');
    if (!left && zero)
        pad(width - len, '0');
    while (n)
        console_putc(buf[--n]);
    if (left)
        pad(width - len, ' ');
}

void kvprintf(const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            console_putc(*fmt);
            continue;
        }
        bool zero = false, left = false;
        int width = 0, prec = -1;
        fmt++;
        for (;; fmt++) {
            if (*fmt == '0')
                zero = true;
            else if (*fmt == '-')
                left = true;
            else
                break;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        if (*fmt == '.') {
            fmt++;
            if (*fmt == '*') {
                prec = va_arg(ap, int);
                fmt++;
            } else {
                prec = 0;
                while (*fmt >= '0' && *fmt <= '9')
                    prec = prec * 10 + (*fmt++ - '0');
            }
        }
        while (*fmt == 'l')
            fmt++;
        switch (*fmt) {
        case 'd':
        case 'i': {
            int32_t v = va_arg(ap, int32_t);
            put_num(v < 0 ? -(uint32_t)v : (uint32_t)v, 10, false, v < 0, width, zero, left);
            break;
        }
        case 'u':
            put_num(va_arg(ap, uint32_t), 10, false, false, width, zero, left);
            break;
        case 'x':
        case 'X':
            put_num(va_arg(ap, uint32_t), 16, *fmt == 'X', false, width, zero, left);
            break;
        case 'p':
            kputs("0x");
            put_num((uint32_t)(uintptr_t)va_arg(ap, void *), 16, false, false, 8, true, false);
            break;
        case 'c':
            console_putc((char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int len = 0;
            if (!s)
                s = "(null)";
            while (s[len] && (prec < 0 || len < prec))
                len++;
            if (!left)
                pad(width - len, ' ');
            for (int i = 0; i < len; i++)
                console_putc(s[i]);
            if (left)
                pad(width - len, ' ');
            break;
        }
        case '%':
            console_putc('%');
            break;
        case 0:
            return;
        default:
            console_putc('%');
            console_putc(*fmt);
            break;
        }
    }
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
}
