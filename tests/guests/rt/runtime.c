/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Startup, exit, the command line and the few libc functions the compiler may call. */
#include "rt.h"

#define MB_BOOT_MAGIC 0x2badb002
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS (1u << 3)

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper;
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count, mods_addr;
};

static char cmdline_buf[512];
uint32_t rt_mod_start, rt_mod_end;

void rt_start(uint32_t magic, const struct multiboot_info *mbi);

void rt_start(uint32_t magic, const struct multiboot_info *mbi)
{
    serial_init();
    idt_init();
    if (magic != MB_BOOT_MAGIC)
        fail(EXIT_BAD_BOOT, "entered with EAX=0x%x, not the multiboot magic", magic);
    /* Copy now: guests reuse low memory (the SMP trampoline) where a loader may keep it. */
    if ((mbi->flags & MB_INFO_CMDLINE) && mbi->cmdline) {
        const char *src = (const char *)(uintptr_t)mbi->cmdline;
        size_t i;
        for (i = 0; i + 1 < sizeof(cmdline_buf) && src[i]; i++)
            cmdline_buf[i] = src[i];
        cmdline_buf[i] = 0;
    }
    if ((mbi->flags & MB_INFO_MODS) && mbi->mods_count && mbi->mods_addr) {
        const uint32_t *mod = (const uint32_t *)(uintptr_t)mbi->mods_addr;
        if (mod[1] > mod[0]) {
            rt_mod_start = mod[0];
            rt_mod_end = mod[1];
        }
    }
    guest_exit((uint32_t)main());
}

void guest_exit(uint32_t code)
{
    kprintf("guest: exit %u\n", code);
    serial_flush();
    outb(EXIT_PORT, (uint8_t)code);
    /* Only reached when nothing listens on the exit port (run without --test-exit). */
    kprintf("guest: nothing stopped the VM at port 0x%x; halting\n", EXIT_PORT);
    serial_flush();
    for (;;) {
        cli();
        __asm__ volatile("hlt");
    }
}

void fail(uint32_t code, const char *fmt, ...)
{
    va_list ap;
    cli();
    console_putc = serial_putc; /* a guest's own console may be what broke */
    kputs("FAIL: ");
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
    kputs("\n");
    guest_exit(code);
}

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    while (n--)
        *d++ = (uint8_t)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++) {
        if (*x != *y)
            return *x < *y ? -1 : 1;
    }
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

const char *cmdline(void)
{
    return cmdline_buf;
}

/*
 * Loaders differ on whether the kernel's path comes first (QEMU and GRUB put it there), so
 * only key=value words count and anything else is ignored.
 */
const char *arg_find(const char *key, size_t *len)
{
    size_t klen = strlen(key);
    const char *p = cmdline_buf;

    while (*p) {
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - word) > klen && !memcmp(word, key, klen) && word[klen] == '=') {
            if (len)
                *len = (size_t)(p - word) - klen - 1;
            return word + klen + 1;
        }
    }
    return NULL;
}

bool arg_is(const char *key, const char *value)
{
    size_t len;
    const char *v = arg_find(key, &len);
    return v && len == strlen(value) && !memcmp(v, value, len);
}

uint32_t arg_u32(const char *key, uint32_t def)
{
    size_t len, i = 0;
    const char *v = arg_find(key, &len);
    uint32_t base = 10, val = 0;

    if (!v)
        return def;
    if (len > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        base = 16;
        i = 2;
    }
    if (i == len)
        fail(EXIT_BAD_ARGS, "%s= needs a number", key);
    for (; i < len; i++) {
        char c = v[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else
            fail(EXIT_BAD_ARGS, "%s=%.*s is not a number", key, (int)len, v);
        val = val * base + d;
    }
    return val;
}
