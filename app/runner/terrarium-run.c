/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * terrarium-run: the lean front end. Flags in, a VM out; for scripts, tests
 * and benchmarks. Exit status: 0 when the guest powers off (or resets under
 * --no-reboot), the guest's own status when it uses the test-exit port,
 * 1 with one line on stderr for anything that went wrong, 2 for bad usage.
 */
#include <errno.h>
#include <stdatomic.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <termios.h>
#include <unistd.h>

#include "display-sdl.h"
#include "png-write.h"
#include "screenshot.h"
#include "script.h"
#include "run-snapshot.h"
#include "vmm/vmm.h"

static struct vmm_vm *the_vm;
static struct termios saved_tio;
static bool tio_saved;

static void usage(FILE *f)
{
    fprintf(f, "Usage: terrarium-run [--kernel FILE] [options]\n"
               "\n"
               "Without --kernel the machine starts its firmware (SeaBIOS), which boots\n"
               "from its disks and CD-ROMs.\n"
               "\n"
               "  --kernel FILE        Linux bzImage or multiboot (ELF32) kernel\n"
               "  --initrd FILE        initial ramdisk (or multiboot module)\n"
               "  --append STR         kernel command line\n"
               "  --mem MiB            guest memory (default 256)\n"
               "  --cpus N             virtual CPUs (default 1)\n"
               "  --serial stdio|file:PATH|none\n"
               "                       where COM1 goes (default stdio)\n"
               "  --no-reboot          end when the guest resets, with status 0\n"
               "  --no-kernel-cache    boot a bzImage as it is, without unpacking it on the host\n"
               "                       (by default its kernel is unpacked once and kept in\n"
               "                       $XDG_CACHE_HOME/terrarium/kernels)\n"
               "  --no-coalesced-io    every write to the PCI address and RTC index ports\n"
               "                       leaves KVM (by default they are queued in KVM)\n"
               "  --bios FILE          firmware image (default /usr/share/seabios/bios.bin)\n"
               "  --boot ORDER         boot devices in order: c disk, d CD-ROM, n network,\n"
               "                       or one of cdrom, disk, network (default cd)\n"
               "  --boot-menu          let the firmware offer its boot menu (F12)\n"
               "  --boot-menu-wait MS  how long the firmware offers it (default: its own)\n"
               "  --option-rom FILE    an extra option ROM image (e.g. network boot) the\n"
               "                       firmware runs at start-up (repeatable)\n"
               "  --firmware-log FILE  write the debug console's output (port 0x402: the\n"
               "                       firmware's log, or a guest's own) to FILE\n"
               "  --rtc-localtime      the CMOS clock holds local time (default UTC)\n"
               "  --vga std|none       display adapter (default: std for firmware boots, none\n"
               "                       for a kernel)\n"
               "  --cdrom FILE         an ISO image in the CD-ROM drive\n"
               "  --disk FILE          a hard disk image (raw, or qcow2 if named *.qcow2)\n"
               "  --drive file=PATH[,if=ide|virtio][,media=disk|cdrom][,format=raw|qcow2]\n"
               "        [,readonly=on][,snapshot=on] a drive, spelled out (repeatable);\n"
               "                       if=virtio: virtio-blk; snapshot=on: try mode for it\n"
               "  --try                try mode for every disk: writes go to a throwaway qcow2\n"
               "                       overlay (in $TMPDIR, else /var/tmp; deleted as soon as\n"
               "                       it is open) and vanish when the machine stops; the\n"
               "                       images are only read\n"
               "  --net none|user[,forward=tcp:[HOSTADDR]:HOSTPORT-:GUESTPORT]...\n"
               "                       user: a virtio-net card behind NAT (guest 10.0.2.15 by\n"
               "                       DHCP, host loopback at 10.0.2.2, DNS at 10.0.2.3); each\n"
               "                       forward sends HOSTADDR:HOSTPORT (default 127.0.0.1) to\n"
               "                       the guest's GUESTPORT (default none)\n"
               "  --mac XX:XX:XX:XX:XX:XX  the virtio-net card's MAC (default 52:54:00:12:34:56)\n"
               "  --uuid UUID          the machine's UUID in its SMBIOS tables (firmware boots)\n"
               "  --balloon MiB        a virtio-balloon asking the guest for MiB back\n"
               "  --console serial|virtio\n"
               "                       virtio: the --serial streams go to a virtio-console port\n"
               "                       (hvc0) instead of COM1 (default serial)\n"
               "  --tablet on|off      virtio keyboard + absolute tablet (default: on with a\n"
               "                       display adapter, off without)\n"
               "  --rng on|off         virtio-rng fed from the host's getrandom() (default on)\n"
               "  --tablet-demo        (tests) once the guest drives the virtio tablet, move its\n"
               "                       pointer around a square, a step every 200 ms\n"
               "  --display sdl|none   show the display in an SDL window, or run headless\n"
               "                       (default: sdl with a display adapter and a desktop\n"
               "                       ($DISPLAY or $WAYLAND_DISPLAY), else none). Click\n"
               "                       grabs the mouse, Ctrl+Alt+G releases it; closing the\n"
               "                       window presses the power button, closing it again\n"
               "                       forces the machine off\n"
               "  --screenshot FILE    when the machine stops, write its screen to FILE (PNG)\n"
               "  --screenshot-at SECONDS:FILE\n"
               "                       write the screen to FILE (PNG) SECONDS after the start\n"
               "                       (repeatable)\n"
               "  --vga-text-dump FILE keep the text screen in FILE (rewritten when it changes)\n"
               "  --keys-at S:KEYS     type KEYS S seconds after start: comma-separated key\n"
               "                       names (ret, esc, tab, up, down, f1..f12, a..z, 0..9, ...)\n"
               "                       and text=LITERAL items (repeatable)\n"
               "  --keys-when TEXT=>KEYS  type KEYS once TEXT shows on the text screen\n"
               "  --keys-on-serial TEXT=>KEYS  type KEYS once TEXT comes out of COM1\n"
               "  --screenshot-on-serial TEXT=>FILE\n"
               "                       write the screen to FILE (PNG) once TEXT comes out\n"
               "                       of COM1 (headless)\n"
               "  --expect-screen STR  stop the machine with status 0 once STR shows on its\n"
               "                       text screen; status 3 if it has not after\n"
               "  --expect-timeout S   seconds (default 60)\n"
               "  --test-exit          let the guest end the run with a status of its choice\n"
               "                       (write it to I/O port 0xf4)\n"
               "  --snapshot-save DIR  save the running machine into DIR on SIGRTMIN+1 (and at\n"
               "                       --snapshot-save-at); DIR/state and a sparse RAM file\n"
               "  --snapshot-save-at S save it S seconds after the start\n"
               "  --snapshot-save-exit stop the machine once it is saved (status 0)\n"
               "  --snapshot-save-paused\n"
               "                       copy RAM with the machine paused (default: a\n"
               "                       copy-on-write child writes it while the guest runs)\n"
               "  --snapshot-disks NAME\n"
               "                       each save also takes the writable disks' (qcow2)\n"
               "                       internal snapshot NAME in the same pause (replacing\n"
               "                       one of that name); restore it with terrarium-img\n"
               "                       snapshot -a NAME before --snapshot-restore\n"
               "  --snapshot-restore DIR\n"
               "                       start the machine where it was saved; give the same\n"
               "                       machine options (memory, CPUs, kernel, drives)\n"
               "  -v, --verbose        more messages from the VMM (repeatable)\n"
               "\n"
               "Signals: SIGINT/SIGTERM stop the machine; SIGUSR2 presses its ACPI power\n"
               "button (the guest shuts itself down); SIGQUIT writes the machine's state\n"
               "(vCPUs, interrupt controllers, serial port) to stderr and lets it run on.\n"
               "  -h, --help           this text\n");
}

/*
 * SIGUSR2 presses the power button and SIGQUIT writes a state dump to stderr:
 * a thread waits for them (both take locks).
 */
static void *signal_thread(void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGQUIT);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        struct vmm_vm *vm = arg;
        if (sig == SIGQUIT)
            vmm_vm_debug_dump(vm, stderr);
        else if (vmm_vm_power_button(vm) < 0)
            fprintf(stderr, "terrarium-run: this machine has no power button\n");
    }
    return NULL;
}

static void on_signal(int sig)
{
    (void)sig;
    if (the_vm)
        vmm_vm_request_stop(the_vm);
}

static void restore_tty(void)
{
    if (tio_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

/* A raw terminal passes every key to the guest; Ctrl-C still stops the VM (ISIG kept). */
static void raw_tty(void)
{
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0)
        return;
    tio_saved = true;
    atexit(restore_tty);
    struct termios t = saved_tio;
    t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

static int parse_uint(const char *what, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max) {
        fprintf(stderr, "terrarium-run: %s must be a number up to %" PRIu64 ", not '%s'\n", what,
                max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* file=PATH[,if=ide|virtio][,media=disk|cdrom][,format=raw|qcow2][,readonly=on|off]
 * [,snapshot=on|off] */
static int parse_drive(const char *spec, struct vmm_drive_config *d)
{
    char *copy = strdup(spec), *save = NULL;
    if (!copy)
        return -1;
    *d = (struct vmm_drive_config){.bus = VMM_DRIVE_IDE, .media = VMM_MEDIA_DISK};
    int ret = 0;
    for (char *kv = strtok_r(copy, ",", &save); kv && ret == 0; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        const char *v = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        if (strcmp(kv, "file") == 0 && *v)
            d->path = strdup(v); /* lives as long as the process */
        else if (strcmp(kv, "if") == 0 && strcmp(v, "ide") == 0)
            d->bus = VMM_DRIVE_IDE;
        else if (strcmp(kv, "if") == 0 && strcmp(v, "virtio") == 0)
            d->bus = VMM_DRIVE_VIRTIO;
        else if (strcmp(kv, "media") == 0 && strcmp(v, "disk") == 0)
            d->media = VMM_MEDIA_DISK;
        else if (strcmp(kv, "media") == 0 && strcmp(v, "cdrom") == 0)
            d->media = VMM_MEDIA_CDROM;
        else if (strcmp(kv, "format") == 0 && strcmp(v, "raw") == 0)
            d->format = VMM_FORMAT_RAW;
        else if (strcmp(kv, "format") == 0 && strcmp(v, "qcow2") == 0)
            d->format = VMM_FORMAT_QCOW2;
        else if (strcmp(kv, "readonly") == 0 && (strcmp(v, "on") == 0 || strcmp(v, "off") == 0))
            d->readonly = strcmp(v, "on") == 0;
        else if (strcmp(kv, "snapshot") == 0 && (strcmp(v, "on") == 0 || strcmp(v, "off") == 0))
            d->snapshot = strcmp(v, "on") == 0;
        else {
            fprintf(stderr, "terrarium-run: --drive: cannot use '%s%s%s' (see --help)\n", kv,
                    eq ? "=" : "", v);
            ret = -1;
        }
    }
    if (ret == 0 && !d->path && d->media == VMM_MEDIA_DISK) {
        fprintf(stderr, "terrarium-run: --drive needs file=PATH for a disk\n");
        ret = -1;
    }
    free(copy);
    return ret;
}

static int parse_onoff(const char *what, const char *s, bool *out)
{
    if (strcmp(s, "on") == 0 || strcmp(s, "off") == 0) {
        *out = strcmp(s, "on") == 0;
        return 0;
    }
    fprintf(stderr, "terrarium-run: %s takes on or off, not '%s'\n", what, s);
    return -1;
}

static int parse_port(const char *s, size_t len, uint16_t *out)
{
    char buf[8];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    unsigned long v = strtoul(buf, &end, 10);
    if (*end || v == 0 || v > 65535 || buf[0] == '-' || buf[0] == '+')
        return -1;
    *out = (uint16_t)v;
    return 0;
}

/* tcp:[HOSTADDR]:HOSTPORT-[:]GUESTPORT */
static int parse_forward(const char *spec, struct vmm_net_forward *fw)
{
    if (strncmp(spec, "tcp:", 4) != 0)
        return -1;
    const char *p = spec + 4;
    const char *colon = strchr(p, ':');
    const char *dash = colon ? strchr(colon, '-') : NULL;
    if (!colon || !dash)
        return -1;
    char addr[32];
    size_t alen = (size_t)(colon - p);
    if (alen >= sizeof(addr))
        return -1;
    memcpy(addr, p, alen);
    addr[alen] = '\0';
    fw->host_addr = 0x7f000001; /* loopback unless said otherwise */
    if (alen) {
        unsigned a, b, c, d;
        char tail;
        if (sscanf(addr, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 ||
            c > 255 || d > 255)
            return -1;
        fw->host_addr = a << 24 | b << 16 | c << 8 | d;
    }
    if (parse_port(colon + 1, (size_t)(dash - colon - 1), &fw->host_port) < 0)
        return -1;
    const char *g = dash + 1;
    if (*g == ':')
        g++;
    return parse_port(g, strlen(g), &fw->guest_port);
}

/* none | user[,forward=...]... */
static int parse_net(const char *spec, struct vmm_config *cfg)
{
    if (strcmp(spec, "none") == 0) {
        cfg->net_user = false;
        cfg->net_nforwards = 0;
        return 0;
    }
    char *copy = strdup(spec), *save = NULL;
    if (!copy)
        return -1;
    int ret = 0;
    char *kv = strtok_r(copy, ",", &save);
    if (!kv || strcmp(kv, "user") != 0) {
        fprintf(stderr, "terrarium-run: --net takes none or user[,forward=...], not '%s'\n", spec);
        free(copy);
        return -1;
    }
    cfg->net_user = true;
    while ((kv = strtok_r(NULL, ",", &save)) && ret == 0) {
        if (strncmp(kv, "forward=", 8) != 0) {
            fprintf(stderr, "terrarium-run: --net user: cannot use '%s'\n", kv);
            ret = -1;
        } else if (cfg->net_nforwards == VMM_MAX_NET_FORWARDS) {
            fprintf(stderr, "terrarium-run: --net user: at most %d forwards\n",
                    VMM_MAX_NET_FORWARDS);
            ret = -1;
        } else if (parse_forward(kv + 8, &cfg->net_forwards[cfg->net_nforwards]) < 0) {
            fprintf(stderr,
                    "terrarium-run: --net user: '%s' is not tcp:[HOSTADDR]:HOSTPORT-:GUESTPORT\n",
                    kv + 8);
            ret = -1;
        } else {
            cfg->net_nforwards++;
        }
    }
    free(copy);
    return ret;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned b[6];
    char tail;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (b[i] > 255)
            return -1;
        mac[i] = (uint8_t)b[i];
    }
    if (mac[0] & 1) /* multicast */
        return -1;
    return 0;
}

/* Headless --screenshot-at: a frame clock of its own that ticks only when a shot is due. */
struct shot_ticker {
    struct vmm_vm *vm;
    struct trm_shots *shots;
    atomic_bool *vm_done;
};

static void *tick_shots(void *arg)
{
    struct shot_ticker *t = arg;
    while (!atomic_load(t->vm_done)) {
        uint64_t now = trm_now_ns(), wait = trm_shots_wait_ns(t->shots, now);
        if (wait == UINT64_MAX)
            break;
        if (wait > 0) {
            uint64_t nap_ns = wait < 50000000 ? wait : 50000000; /* look at vm_done often */
            struct timespec nap = {0, (long)nap_ns};
            nanosleep(&nap, NULL);
            continue;
        }
        struct vmm_display_image img = {0};
        struct vmm_rect damage[VMM_DISPLAY_MAX_DAMAGE];
        unsigned n;
        int rc = vmm_display_update(t->vm, &img, damage, &n);
        trm_shots_take_due(t->shots, trm_now_ns(), rc, &img);
    }
    return NULL;
}

/* --tablet-demo: pointer motion a test guest can read from its tablet's event device. */
struct tablet_demo {
    struct vmm_vm *vm;
    volatile bool stop;
};

static void *run_tablet_demo(void *arg)
{
    struct tablet_demo *d = arg;
    struct timespec nap = {0, 200 * 1000 * 1000};
    static const uint32_t corners[4][2] = {
        {0x1000, 0x1000}, {0x7000, 0x1000}, {0x7000, 0x7000}, {0x1000, 0x7000}};
    for (unsigned i = 0; !d->stop; i++) {
        nanosleep(&nap, NULL);
        if (vmm_vm_state(d->vm) == VMM_STATE_STOPPED)
            break;
        if (vmm_input_abs_active(d->vm))
            vmm_input_abs(d->vm, corners[i % 4][0], corners[i % 4][1], 0, 0);
    }
    return NULL;
}

/* Waits for the VM on its own thread while the main thread runs the window. */
struct vm_waiter {
    struct vmm_vm *vm;
    struct vmm_exit ex;
    atomic_bool done;
    void (*wake)(void *opaque);
    void *wake_opaque;
};

static void *wait_vm(void *arg)
{
    struct vm_waiter *w = arg;
    vmm_vm_wait(w->vm, &w->ex);
    atomic_store(&w->done, true);
    if (w->wake)
        w->wake(w->wake_opaque);
    return NULL;
}

/* The SDL window module, once loaded (display-sdl.h). */
static const struct trm_display_sdl_ops *sdl;

static void wake_sdl(void *opaque)
{
    sdl->wake(opaque);
}

/* The window's frame clock takes the screenshots that are due. */
static void take_shots(void *opaque, int rc, const struct vmm_display_image *img)
{
    trm_shots_take_due(opaque, trm_now_ns(), rc, img);
}

static void write_screenshot(struct vmm_vm *vm, const char *path)
{
    struct vmm_display_image img = {0};
    struct vmm_rect damage[VMM_DISPLAY_MAX_DAMAGE];
    unsigned n;
    int rc = vmm_display_update(vm, &img, damage, &n);
    (void)trm_screenshot_write(path, rc, &img);
}

int main(int argc, char **argv)
{
    enum {
        OPT_KERNEL = 256,
        OPT_INITRD,
        OPT_APPEND,
        OPT_MEM,
        OPT_CPUS,
        OPT_SERIAL,
        OPT_NO_REBOOT,
        OPT_TEST_EXIT,
        OPT_NO_KERNEL_CACHE,
        OPT_NO_COALESCED_IO,
        OPT_BIOS,
        OPT_BOOT,
        OPT_BOOT_MENU,
        OPT_BOOT_MENU_WAIT,
        OPT_OPTION_ROM,
        OPT_FIRMWARE_LOG,
        OPT_RTC_LOCALTIME,
        OPT_VGA,
        OPT_CDROM,
        OPT_DISK,
        OPT_DRIVE,
        OPT_TEXT_DUMP,
        OPT_EXPECT_SCREEN,
        OPT_EXPECT_TIMEOUT,
        OPT_KEYS_AT,
        OPT_KEYS_WHEN,
        OPT_KEYS_ON_SERIAL,
        OPT_SHOT_ON_SERIAL,
        OPT_DISPLAY,
        OPT_SCREENSHOT,
        OPT_SCREENSHOT_AT,
        OPT_SNAP_SAVE,
        OPT_SNAP_SAVE_AT,
        OPT_SNAP_SAVE_EXIT,
        OPT_SNAP_SAVE_PAUSED,
        OPT_SNAP_DISKS,
        OPT_SNAP_RESTORE,
        OPT_NET,
        OPT_MAC,
        OPT_UUID,
        OPT_BALLOON,
        OPT_CONSOLE,
        OPT_TABLET,
        OPT_RNG,
        OPT_TABLET_DEMO,
        OPT_TRY,
    };
    static const struct option opts[] = {
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"initrd", required_argument, NULL, OPT_INITRD},
        {"append", required_argument, NULL, OPT_APPEND},
        {"mem", required_argument, NULL, OPT_MEM},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"serial", required_argument, NULL, OPT_SERIAL},
        {"no-reboot", no_argument, NULL, OPT_NO_REBOOT},
        {"test-exit", no_argument, NULL, OPT_TEST_EXIT},
        {"no-kernel-cache", no_argument, NULL, OPT_NO_KERNEL_CACHE},
        {"no-coalesced-io", no_argument, NULL, OPT_NO_COALESCED_IO},
        {"bios", required_argument, NULL, OPT_BIOS},
        {"boot", required_argument, NULL, OPT_BOOT},
        {"boot-menu", no_argument, NULL, OPT_BOOT_MENU},
        {"boot-menu-wait", required_argument, NULL, OPT_BOOT_MENU_WAIT},
        {"option-rom", required_argument, NULL, OPT_OPTION_ROM},
        {"firmware-log", required_argument, NULL, OPT_FIRMWARE_LOG},
        {"rtc-localtime", no_argument, NULL, OPT_RTC_LOCALTIME},
        {"vga", required_argument, NULL, OPT_VGA},
        {"cdrom", required_argument, NULL, OPT_CDROM},
        {"disk", required_argument, NULL, OPT_DISK},
        {"drive", required_argument, NULL, OPT_DRIVE},
        {"vga-text-dump", required_argument, NULL, OPT_TEXT_DUMP},
        {"expect-screen", required_argument, NULL, OPT_EXPECT_SCREEN},
        {"expect-timeout", required_argument, NULL, OPT_EXPECT_TIMEOUT},
        {"keys-at", required_argument, NULL, OPT_KEYS_AT},
        {"keys-when", required_argument, NULL, OPT_KEYS_WHEN},
        {"keys-on-serial", required_argument, NULL, OPT_KEYS_ON_SERIAL},
        {"screenshot-on-serial", required_argument, NULL, OPT_SHOT_ON_SERIAL},
        {"display", required_argument, NULL, OPT_DISPLAY},
        {"screenshot", required_argument, NULL, OPT_SCREENSHOT},
        {"screenshot-at", required_argument, NULL, OPT_SCREENSHOT_AT},
        {"snapshot-save", required_argument, NULL, OPT_SNAP_SAVE},
        {"snapshot-save-at", required_argument, NULL, OPT_SNAP_SAVE_AT},
        {"snapshot-save-exit", no_argument, NULL, OPT_SNAP_SAVE_EXIT},
        {"snapshot-save-paused", no_argument, NULL, OPT_SNAP_SAVE_PAUSED},
        {"snapshot-disks", required_argument, NULL, OPT_SNAP_DISKS},
        {"snapshot-restore", required_argument, NULL, OPT_SNAP_RESTORE},
        {"net", required_argument, NULL, OPT_NET},
        {"mac", required_argument, NULL, OPT_MAC},
        {"uuid", required_argument, NULL, OPT_UUID},
        {"balloon", required_argument, NULL, OPT_BALLOON},
        {"console", required_argument, NULL, OPT_CONSOLE},
        {"tablet", required_argument, NULL, OPT_TABLET},
        {"rng", required_argument, NULL, OPT_RNG},
        {"tablet-demo", no_argument, NULL, OPT_TABLET_DEMO},
        {"try", no_argument, NULL, OPT_TRY},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    /* Blocked before any thread exists, so only the waiter thread sees them. */
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigaddset(&usr2, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &usr2, NULL);

    struct vmm_config cfg;
    vmm_config_init(&cfg);
    const char *serial = "stdio";
    const char *firmware_log = NULL;
    static struct script script = {.expect_timeout_s = 60};
    const char *screenshot = NULL;
    static struct trm_shots shots;
    int display = -1; /* 1 sdl, 0 none, -1 by default */
    bool tablet_demo = false;
    struct tablet_demo demo = {0};
    pthread_t demo_thread;
    bool demo_running = false;
    int vga = -1;
    int tablet = -1; /* by default, with a display adapter (there is nothing to point at without) */
    int verbose = 1;
    struct run_snapshot snap = {.save_at = -1};
    bool try_all = false;
    uint64_t v;
    int c;
    opterr = 0; /* one line of our own instead of getopt's message and the usage text */
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_KERNEL:
            cfg.kernel = optarg;
            break;
        case OPT_INITRD:
            cfg.initrd = optarg;
            break;
        case OPT_APPEND:
            cfg.cmdline = optarg;
            break;
        case OPT_MEM:
            if (parse_uint("--mem", optarg, VMM_MAX_MEM_MIB, &v) < 0)
                return 2;
            cfg.mem_mib = v;
            break;
        case OPT_CPUS:
            if (parse_uint("--cpus", optarg, 1u << 20, &v) < 0)
                return 2;
            cfg.ncpus = (unsigned)v;
            break;
        case OPT_SERIAL:
            serial = optarg;
            break;
        case OPT_NO_REBOOT:
            cfg.no_reboot = true;
            break;
        case OPT_TEST_EXIT:
            cfg.test_exit = true;
            break;
        case OPT_NO_COALESCED_IO:
            cfg.no_coalesced_io = true;
            break;
        case OPT_NO_KERNEL_CACHE:
            cfg.no_kernel_cache = true;
            break;
        case OPT_BIOS:
            cfg.bios = optarg;
            break;
        case OPT_BOOT:
            if (strcmp(optarg, "cdrom") == 0)
                cfg.boot_order = "dc";
            else if (strcmp(optarg, "disk") == 0)
                cfg.boot_order = "cd";
            else if (strcmp(optarg, "network") == 0)
                cfg.boot_order = "n";
            else if (strcmp(optarg, "kernel") == 0 && !cfg.kernel) {
                fprintf(stderr, "terrarium-run: --boot kernel needs --kernel FILE first\n");
                return 2;
            } else if (strcmp(optarg, "kernel") != 0)
                cfg.boot_order = optarg;
            break;
        case OPT_BOOT_MENU:
            cfg.boot_menu = true;
            break;
        case OPT_BOOT_MENU_WAIT:
            if (parse_uint("--boot-menu-wait", optarg, 65535, &v) < 0)
                return 2;
            cfg.boot_menu_wait_ms = (unsigned)v;
            break;
        case OPT_OPTION_ROM:
            if (cfg.n_option_roms == VMM_MAX_OPTION_ROMS) {
                fprintf(stderr, "terrarium-run: at most %d --option-rom\n", VMM_MAX_OPTION_ROMS);
                return 2;
            }
            cfg.option_roms[cfg.n_option_roms++] = optarg;
            break;
        case OPT_FIRMWARE_LOG:
            firmware_log = optarg;
            break;
        case OPT_RTC_LOCALTIME:
            cfg.rtc_localtime = true;
            break;
        case OPT_VGA:
            if (strcmp(optarg, "std") == 0)
                vga = 1;
            else if (strcmp(optarg, "none") == 0)
                vga = 0;
            else {
                fprintf(stderr, "terrarium-run: --vga takes std or none, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_NET:
            if (parse_net(optarg, &cfg) < 0)
                return 2;
            break;
        case OPT_MAC:
            if (parse_mac(optarg, cfg.mac) < 0) {
                fprintf(stderr,
                        "terrarium-run: --mac wants a unicast XX:XX:XX:XX:XX:XX, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_UUID:
            if (vmm_uuid_parse(optarg, cfg.uuid) < 0) {
                fprintf(stderr, "terrarium-run: --uuid wants 8-4-4-4-12 hex digits, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_BALLOON:
            if (parse_uint("--balloon", optarg, VMM_MAX_MEM_MIB, &v) < 0)
                return 2;
            cfg.balloon = true;
            cfg.balloon_mib = v;
            break;
        case OPT_CONSOLE:
            if (strcmp(optarg, "serial") == 0)
                cfg.console = VMM_CONSOLE_SERIAL;
            else if (strcmp(optarg, "virtio") == 0)
                cfg.console = VMM_CONSOLE_VIRTIO;
            else {
                fprintf(stderr, "terrarium-run: --console takes serial or virtio, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_TABLET: {
            bool on;
            if (parse_onoff("--tablet", optarg, &on) < 0)
                return 2;
            tablet = on;
            break;
        }
        case OPT_TABLET_DEMO:
            tablet_demo = true;
            break;
        case OPT_TRY:
            try_all = true;
            break;
        case OPT_RNG:
            if (parse_onoff("--rng", optarg, &cfg.rng) < 0)
                return 2;
            break;
        case OPT_CDROM:
        case OPT_DISK:
        case OPT_DRIVE:
            if (cfg.ndrives == VMM_MAX_DRIVES) {
                fprintf(stderr, "terrarium-run: at most %d drives\n", VMM_MAX_DRIVES);
                return 2;
            }
            if (c == OPT_DRIVE) {
                if (parse_drive(optarg, &cfg.drives[cfg.ndrives]) < 0)
                    return 2;
            } else {
                cfg.drives[cfg.ndrives] = (struct vmm_drive_config){
                    .path = optarg,
                    .bus = VMM_DRIVE_IDE,
                    .media = c == OPT_CDROM ? VMM_MEDIA_CDROM : VMM_MEDIA_DISK,
                };
            }
            cfg.ndrives++;
            break;
        case OPT_TEXT_DUMP:
            script.text_dump = optarg;
            break;
        case OPT_EXPECT_SCREEN:
            script.expect = optarg;
            break;
        case OPT_EXPECT_TIMEOUT:
            if (parse_uint("--expect-timeout", optarg, 24 * 3600, &v) < 0)
                return 2;
            script.expect_timeout_s = (unsigned)v;
            break;
        case OPT_KEYS_AT:
            if (script_add_keys(&script, optarg) < 0)
                return 2;
            break;
        case OPT_KEYS_WHEN:
            if (script_add_keys_when(&script, optarg) < 0)
                return 2;
            break;
        case OPT_KEYS_ON_SERIAL:
            if (script_add_keys_on_serial(&script, optarg) < 0)
                return 2;
            break;
        case OPT_SHOT_ON_SERIAL:
            if (script_add_shot_on_serial(&script, optarg) < 0)
                return 2;
            script.write_shot = write_screenshot;
            break;
        case OPT_DISPLAY:
            if (strcmp(optarg, "sdl") == 0)
                display = 1;
            else if (strcmp(optarg, "none") == 0)
                display = 0;
            else {
                fprintf(stderr, "terrarium-run: --display takes sdl or none, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_SCREENSHOT:
            screenshot = optarg;
            break;
        case OPT_SCREENSHOT_AT:
            if (trm_shots_add(&shots, optarg) < 0)
                return 2;
            break;
        case OPT_SNAP_SAVE:
            snap.save_dir = optarg;
            break;
        case OPT_SNAP_SAVE_AT:
            if (run_snapshot_parse_at(optarg, &snap.save_at) < 0)
                return 2;
            break;
        case OPT_SNAP_SAVE_PAUSED:
            cfg.save_in_pause = true;
            break;
        case OPT_SNAP_SAVE_EXIT:
            snap.save_exit = true;
            break;
        case OPT_SNAP_DISKS:
            snap.disk_name = optarg;
            break;
        case OPT_SNAP_RESTORE:
            cfg.restore_from = optarg;
            break;
        case 'v':
            verbose++;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (optopt && optopt < 256)
                fprintf(stderr, "terrarium-run: bad or incomplete option '-%c' (see --help)\n",
                        optopt);
            else
                fprintf(stderr, "terrarium-run: bad or incomplete option '%s' (see --help)\n",
                        argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "terrarium-run: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    cfg.vga = vga < 0 ? !cfg.kernel : vga == 1;
    cfg.tablet = tablet < 0 ? cfg.vga || tablet_demo : tablet == 1;
    bool any_try = false;
    for (unsigned i = 0; i < cfg.ndrives; i++) {
        struct vmm_drive_config *d = &cfg.drives[i];
        if (try_all)
            d->snapshot = true;
        any_try = any_try || (d->snapshot && d->media == VMM_MEDIA_DISK && !d->readonly);
    }
    if (any_try && snap.save_dir) {
        fprintf(stderr, "terrarium-run: --snapshot-save cannot be used in try mode (--try or "
                        "snapshot=on): the disks it belongs with are thrown away at the end\n");
        return 2;
    }
    if ((snap.save_at >= 0 || snap.save_exit || snap.disk_name) && !snap.save_dir) {
        fprintf(stderr, "terrarium-run: --snapshot-save-at, --snapshot-save-exit and "
                        "--snapshot-disks need --snapshot-save DIR\n");
        return 2;
    }
    if ((script.text_dump || script.expect) && !cfg.vga) {
        fprintf(stderr, "terrarium-run: --vga-text-dump needs a display adapter (--vga std)\n");
        return 2;
    }
    if ((screenshot || shots.n || display == 1) && !cfg.vga) {
        fprintf(stderr, "terrarium-run: %s needs a display adapter (--vga std)\n",
                display == 1 ? "--display sdl" : "--screenshot");
        return 2;
    }
    bool display_asked = display == 1;
    if (display < 0) {
        const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
        display = cfg.vga && ((x && *x) || (wl && *wl));
    }
#ifdef TRM_HAVE_SDL
    if (display == 1) {
        /* Only now is SDL loaded: headless runs never pay for it. */
        char why[PATH_MAX + 256];
        sdl = trm_display_sdl_load(why, sizeof(why));
        if (!sdl && display_asked) {
            fprintf(stderr, "terrarium-run: %s (--display none runs without a window)\n", why);
            return 1;
        }
        if (!sdl) {
            if (verbose > 1)
                fprintf(stderr, "terrarium-run: %s; running without a window\n", why);
            display = 0;
        }
    }
#else
    if (display_asked) {
        fprintf(stderr, "terrarium-run: built without SDL: --display sdl is not available\n");
        return 2;
    }
    display = 0;
#endif
    if (script.write_shot && (!cfg.vga || display == 1 || shots.n)) {
        /* The script's thread reads the display: nobody else may own its frame clock. */
        fprintf(stderr, "terrarium-run: --screenshot-on-serial needs a display adapter and "
                        "--display none, without --screenshot-at\n");
        return 2;
    }
    vmm_log_set_level(verbose);
    /* For tests of the error paths; users never need it. */
    cfg.kvm_device = getenv("TERRARIUM_KVM_DEVICE");

    int out_fd = -1;
    bool stdio = false;
    if (strcmp(serial, "stdio") == 0) {
        stdio = true;
        cfg.serial_out_fd = STDOUT_FILENO;
        cfg.serial_in_fd = STDIN_FILENO;
    } else if (strncmp(serial, "file:", 5) == 0 && serial[5]) {
        out_fd = open(serial + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out_fd < 0) {
            fprintf(stderr, "terrarium-run: cannot write the serial log %s: %s\n", serial + 5,
                    strerror(errno));
            return 1;
        }
        cfg.serial_out_fd = out_fd;
    } else if (strcmp(serial, "none") != 0) {
        fprintf(stderr, "terrarium-run: --serial takes stdio, file:PATH or none, not '%s'\n",
                serial);
        return 2;
    }

    if (script_wants_serial(&script)) {
        cfg.serial_out_cb = script_serial_out;
        cfg.serial_out_opaque = &script;
    }
    int fwlog_fd = -1;
    if (firmware_log) {
        fwlog_fd = open(firmware_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fwlog_fd < 0) {
            fprintf(stderr, "terrarium-run: cannot write the firmware log %s: %s\n", firmware_log,
                    strerror(errno));
            return 1;
        }
        cfg.firmware_log_fd = fwlog_fd;
    }

    struct vmm_error err = {0};
    struct timespec t_create;
    clock_gettime(CLOCK_MONOTONIC, &t_create);
    struct vmm_vm *vm = vmm_machine_create(&cfg, &err);
    if (!vm) {
        fprintf(stderr, "terrarium-run: %s\n", err.msg[0] ? err.msg : "cannot create the VM");
        return 1;
    }
    the_vm = vm;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (stdio)
        raw_tty();

    pthread_t sig_thread;
    if (pthread_create(&sig_thread, NULL, signal_thread, vm) == 0)
        pthread_detach(sig_thread);

    struct trm_display_sdl *window = NULL;
    if (display == 1) {
        const struct trm_display_host host = {
            .vm = vm,
            .display_update = vmm_display_update,
            .input_key = vmm_input_key,
            .input_rel = vmm_input_rel,
            .power_button = vmm_vm_power_button,
            .request_stop = vmm_vm_request_stop,
            .write_png = trm_png_write_xrgb,
            .frame = take_shots,
            .frame_opaque = &shots,
        };
        char why[256];
        window = sdl->open(&host, why, sizeof(why));
        if (!window) {
            fprintf(stderr, "terrarium-run: %s\n", why);
            vmm_vm_destroy(vm);
            restore_tty();
            return 1;
        }
    }
    if (vmm_vm_start(vm, &err) < 0) {
        fprintf(stderr, "terrarium-run: %s\n", err.msg);
        if (window)
            sdl->close(window);
        vmm_vm_destroy(vm);
        return 1;
    }
    if (cfg.restore_from && verbose > 1) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        fprintf(stderr, "terrarium-run: restored from %s; running after %.1f ms\n",
                cfg.restore_from,
                (t.tv_sec - t_create.tv_sec) * 1e3 + (t.tv_nsec - t_create.tv_nsec) / 1e6);
    }
    if (run_snapshot_start(&snap, vm) < 0) {
        vmm_vm_destroy(vm);
        return 1;
    }
    if (tablet_demo) {
        demo.vm = vm;
        demo_running = pthread_create(&demo_thread, NULL, run_tablet_demo, &demo) == 0;
    }
    shots.start_ns = trm_now_ns();
    script_start(&script, vm);
    static struct vm_waiter waiter;
    waiter.vm = vm;
    atomic_init(&waiter.done, false);
    struct vmm_exit ex;
    if (display == 1) {
        pthread_t wt;
        waiter.wake = wake_sdl;
        waiter.wake_opaque = window;
        if (pthread_create(&wt, NULL, wait_vm, &waiter) != 0) {
            fprintf(stderr, "terrarium-run: cannot start a thread\n");
            vmm_vm_request_stop(vm);
            vmm_vm_wait(vm, &waiter.ex);
        } else {
            sdl->run(window, &waiter.done);
            pthread_join(wt, NULL);
        }
        sdl->close(window);
    } else {
        struct shot_ticker ticker = {.vm = vm, .shots = &shots, .vm_done = &waiter.done};
        pthread_t tt;
        bool ticking = shots.n && pthread_create(&tt, NULL, tick_shots, &ticker) == 0;
        wait_vm(&waiter);
        if (ticking)
            pthread_join(tt, NULL);
    }
    ex = waiter.ex;
    if (demo_running) {
        demo.stop = true;
        pthread_join(demo_thread, NULL);
    }
    run_snapshot_stop(&snap);
    script_finish(&script, vm);
    the_vm = NULL;
    trm_shots_report_missed(&shots);
    if (screenshot)
        write_screenshot(vm, screenshot);
    if (verbose > 1) {
        struct vmm_exit_counts xc;
        vmm_vm_exit_counts(vm, &xc);
        fprintf(stderr,
                "terrarium-run: exits to the VMM: %llu (port I/O %llu, MMIO %llu, other %llu)\n",
                (unsigned long long)(xc.pio + xc.mmio + xc.other), (unsigned long long)xc.pio,
                (unsigned long long)xc.mmio, (unsigned long long)xc.other);
    }
    vmm_vm_destroy(vm);
    restore_tty();
    if (out_fd >= 0)
        close(out_fd);
    if (fwlog_fd >= 0)
        close(fwlog_fd);

    switch (ex.reason) {
    case VMM_EXIT_POWEROFF:
    case VMM_EXIT_RESET:
        return 0;
    case VMM_EXIT_TEST:
        return ex.status;
    case VMM_EXIT_STOPPED:
        if (snap.save_exit && snap.saves > 0)
            return 0;
        if (snap.save_exit && snap.failures > 0)
            return 1;
        if (script.expect_result == 0)
            return 0;
        if (script.expect_result == 3) {
            fprintf(stderr, "terrarium-run: \"%s\" did not show on the screen in %u s\n",
                    script.expect, script.expect_timeout_s);
            return 3;
        }
        fprintf(stderr, "terrarium-run: stopped\n");
        return 130;
    default:
        fprintf(stderr, "terrarium-run: %s\n", ex.msg[0] ? ex.msg : "the VM failed");
        return 1;
    }
}
