/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_VMM_H
#define VMM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/error.h"

#define VMM_WUR __attribute__((warn_unused_result))

#define VMM_MAX_CPUS 64
#define VMM_MIN_MEM_MIB 16
#define VMM_MAX_MEM_MIB (1024 * 1024)

/* Where COM1's output goes. Called from any vmm thread. */
typedef void (*vmm_serial_out_fn)(void *opaque, const uint8_t *buf, size_t len);

enum vmm_drive_bus { VMM_DRIVE_IDE, VMM_DRIVE_VIRTIO };
enum vmm_drive_media { VMM_MEDIA_DISK, VMM_MEDIA_CDROM };
/* AUTO: qcow2 if the name ends in .qcow2, else raw (never probed from content). */
enum vmm_drive_format { VMM_FORMAT_AUTO, VMM_FORMAT_RAW, VMM_FORMAT_QCOW2 };

struct vmm_drive_config {
    const char *path; /* raw or qcow2 image; an ISO for a CD-ROM; NULL: an empty CD-ROM */
    enum vmm_drive_bus bus;
    enum vmm_drive_media media;
    enum vmm_drive_format format;
    bool readonly; /* CD-ROMs are always read-only */
    /*
     * Try mode (QEMU's snapshot=on): writes go to a throwaway qcow2 overlay in
     * vmm_config.overlay_dir, gone when the machine is destroyed; the image is
     * only read. Ignored for CD-ROMs and read-only drives.
     */
    bool snapshot;
};

#define VMM_MAX_OPTION_ROMS 8
#define VMM_MAX_DRIVES 8

/* A host -> guest TCP port forward of user networking. */
struct vmm_net_forward {
    uint32_t host_addr; /* IPv4, host byte order (0x7f000001 = 127.0.0.1; 0 = any) */
    uint16_t host_port;
    uint16_t guest_port;
};

#define VMM_MAX_NET_FORWARDS 16

/* Where the guest's console (kernel console=) is expected. */
enum vmm_console { VMM_CONSOLE_SERIAL, VMM_CONSOLE_VIRTIO };

struct vmm_config {
    uint64_t mem_mib;
    unsigned ncpus;
    const char *kernel;              /* bzImage or multiboot v1 ELF32; NULL: boot the firmware */
    const char *initrd;              /* optional */
    const char *cmdline;             /* optional */
    int serial_out_fd;               /* -1: none */
    int serial_in_fd;                /* -1: none; read on the event-loop thread */
    vmm_serial_out_fn serial_out_cb; /* optional, in addition to serial_out_fd */
    void *serial_out_opaque;
    bool test_exit;         /* expose the test-exit port (VMM_TEST_EXIT_PORT) */
    bool no_reboot;         /* a guest reset ends the VM instead of rebooting it */
    bool no_coalesced_io;   /* every port write exits (for comparisons; core/coalesced.c) */
    const char *kvm_device; /* NULL: /dev/kvm */
    /*
     * Boot a bzImage from its kernel proper unpacked on the host, cached in
     * kernel_cache_dir (NULL: $XDG_CACHE_HOME/terrarium/kernels, else
     * ~/.cache/terrarium/kernels); no_kernel_cache boots the bzImage itself.
     */
    bool no_kernel_cache;
    const char *kernel_cache_dir;
    /*
     * Firmware boot (kernel == NULL): SeaBIOS and its VGA option ROM; NULL
     * takes Debian's /usr/share/seabios/{bios.bin,vgabios-stdvga.bin}.
     */
    const char *bios;
    const char *vgabios;
    const char *boot_order; /* "c" disk, "d" CD-ROM, "n" network; NULL: "cd" */
    bool boot_menu;
    unsigned boot_menu_wait_ms; /* how long the firmware offers its menu; 0: its default */
    /* Extra option ROM images (e.g. a network boot ROM) the firmware runs at start-up,
     * through fw_cfg's genroms/ directory. */
    const char *option_roms[VMM_MAX_OPTION_ROMS];
    unsigned n_option_roms;
    int firmware_log_fd; /* -1: none; else the debug console's output (port 0x402) goes here */
    bool rtc_localtime;  /* the RTC holds local time instead of UTC */
    bool vga;            /* a std-VGA display adapter (always on for firmware boots) */
    struct vmm_drive_config drives[VMM_MAX_DRIVES];
    unsigned ndrives;
    const char *overlay_dir; /* where snapshot=on drives keep overlays; NULL: $TMPDIR or /var/tmp */
    /*
     * A directory written by vmm_vm_save_state(): the machine starts where it
     * was saved instead of booting. The rest of the configuration must
     * describe the same machine (memory, vCPUs, kernel or firmware, display,
     * drives); disks are used as configured, so the caller first applies the
     * disks' qcow2 internal snapshot taken with the state (same name).
     */
    const char *restore_from;
    /*
     * A live save copies RAM with the machine paused instead of from a copy-on-write child
     * process (the default: the guest runs while the child writes). For comparisons.
     */
    bool save_in_pause;
    /*
     * virtio devices besides the drives (drives with bus VMM_DRIVE_VIRTIO are
     * virtio-blk functions). vmm_config_init() turns rng and tablet on.
     */
    bool rng;       /* virtio-rng, fed from the host's getrandom() */
    bool net_user;  /* a virtio-net card on user-mode networking (NAT, DHCP, DNS) */
    uint8_t mac[6]; /* its MAC; all zero: 52:54:00:12:34:56 */
    struct vmm_net_forward net_forwards[VMM_MAX_NET_FORWARDS];
    unsigned net_nforwards;
    uint64_t balloon_mib;     /* 0: no balloon; else a virtio-balloon asking for this much back */
    bool balloon;             /* a virtio-balloon device (balloon_mib is its initial target) */
    enum vmm_console console; /* VIRTIO: a virtio-console port (hvc0) on the serial streams */
    bool tablet;              /* virtio-input keyboard + absolute tablet */
    /*
     * The machine's UUID in RFC 4122 byte order (as printed); all zero: none.
     * Firmware boots show it in SMBIOS (type 1) and fw_cfg.
     */
    uint8_t uuid[16];
};

/*
 * UUID text (8-4-4-4-12 hex digits, either case) <-> vmm_config.uuid bytes.
 * parse: 0, or -EINVAL (uuid may then be partly written).
 */
#define VMM_UUID_STRLEN 37 /* with the NUL */
VMM_WUR int vmm_uuid_parse(const char *text, uint8_t uuid[16]);
void vmm_uuid_format(const uint8_t uuid[16], char out[VMM_UUID_STRLEN]);

/* A guest writes a status to this port (any width) to end the VM with it. */
#define VMM_TEST_EXIT_PORT 0xf4

enum vmm_exit_reason {
    VMM_EXIT_NONE = 0,
    VMM_EXIT_POWEROFF, /* the guest powered off */
    VMM_EXIT_RESET,    /* the guest reset under no_reboot */
    VMM_EXIT_TEST,     /* the guest used the test-exit port; status holds its value */
    VMM_EXIT_STOPPED,  /* the host asked (vmm_vm_request_stop) */
    VMM_EXIT_ERROR,    /* an internal or KVM failure; msg says what */
};

struct vmm_exit {
    enum vmm_exit_reason reason;
    int status;
    char msg[256];
};

enum vmm_run_state {
    VMM_STATE_STOPPED,
    VMM_STATE_RUNNING,
    VMM_STATE_PAUSING,
    VMM_STATE_PAUSED,
};

struct vmm_vm;

void vmm_config_init(struct vmm_config *cfg);

/* Builds the PC board described by cfg, with the kernel loaded; vCPUs not yet running. */
VMM_WUR struct vmm_vm *vmm_machine_create(const struct vmm_config *cfg, struct vmm_error *err);

VMM_WUR int vmm_vm_start(struct vmm_vm *vm, struct vmm_error *err);
/* Returns once every vCPU is out of KVM_RUN and parked. */
VMM_WUR int vmm_vm_pause(struct vmm_vm *vm);
VMM_WUR int vmm_vm_resume(struct vmm_vm *vm);
enum vmm_run_state vmm_vm_state(struct vmm_vm *vm);
/* Async-signal-safe: may be called from a signal handler. */
void vmm_vm_request_stop(struct vmm_vm *vm);
/* Blocks until the VM has ended; fills ex. */
void vmm_vm_wait(struct vmm_vm *vm, struct vmm_exit *ex);

/* Exits to the VMM so far, all vCPUs (KVM_RUN returning with work for user space). */
struct vmm_exit_counts {
    uint64_t pio, mmio, other;
};
void vmm_vm_exit_counts(struct vmm_vm *vm, struct vmm_exit_counts *out);
void vmm_vm_destroy(struct vmm_vm *vm);

/*
 * Display, pull-based: the front end calls vmm_display_update() on its frame
 * clock (any one thread). It renders what changed since the previous call into
 * an XRGB8888 image owned by the VM, valid until the next call, and reports the
 * changed area as rectangles (*ndamage == 0: nothing changed; the whole image
 * is damaged after a mode change). -ENODEV without a display adapter.
 */
struct vmm_rect {
    uint32_t x, y, w, h;
};

struct vmm_display_image {
    uint32_t width, height;
    uint32_t stride; /* bytes per row */
    const uint8_t *pixels;
};

#define VMM_DISPLAY_MAX_DAMAGE 16

VMM_WUR int vmm_display_update(struct vmm_vm *vm, struct vmm_display_image *img,
                               struct vmm_rect damage[VMM_DISPLAY_MAX_DAMAGE], unsigned *ndamage);

/*
 * A text-mode screen as plain text (one line per row, no trailing blanks),
 * NUL-terminated. -ENOTTY in graphics modes, -ENODEV without a display.
 */
VMM_WUR int vmm_display_text(struct vmm_vm *vm, char *out, size_t cap);

/*
 * Input, from any thread. Keys are Linux evdev codes (KEY_A, ...); buttons a
 * mask of VMM_BUTTON_*; relative motion goes to the PS/2 mouse; absolute
 * positions (0..VMM_ABS_MAX on both axes) to the virtio tablet, when the
 * guest drives one (vmm_input_abs_active()).
 */
#define VMM_BUTTON_LEFT (1u << 0)
#define VMM_BUTTON_RIGHT (1u << 1)
#define VMM_BUTTON_MIDDLE (1u << 2)
#define VMM_BUTTON_SIDE (1u << 3)
#define VMM_BUTTON_EXTRA (1u << 4)
#define VMM_ABS_MAX 0x7fff

void vmm_input_key(struct vmm_vm *vm, unsigned evdev_code, bool pressed);
void vmm_input_rel(struct vmm_vm *vm, int dx, int dy, int dwheel, unsigned buttons);
void vmm_input_abs(struct vmm_vm *vm, uint32_t x, uint32_t y, int dwheel, unsigned buttons);
bool vmm_input_abs_active(struct vmm_vm *vm);

/*
 * Live machine state. Pauses the machine (if it runs), saves vCPUs, the
 * in-kernel irqchip, PIT and clock, every device and RAM into `dir` (created
 * if needed: `state` plus a sparse RAM file, each written to a temporary file,
 * fsynced and renamed, the directory fsynced), and resumes it. The guest is
 * paused only while RAM is written; the state file is committed after. Disks
 * are not part of it: take the disks' qcow2 internal snapshot (same name)
 * while the machine is paused, or with it stopped, to have a matching pair.
 * Any thread but a vCPU's. 0 or -errno with err set.
 */
struct vmm_save_stats {
    uint64_t ram_size;    /* bytes of guest RAM */
    uint64_t ram_written; /* bytes of it written (the rest are holes) */
    uint64_t ram_read;    /* bytes of it looked at (pages known zero are not) */
    uint64_t paused_ns;   /* how long the guest was paused */
    uint64_t total_ns;    /* the whole save */
    /* Where the pause went: */
    unsigned tries;        /* pauses until no device was busy (an IDE command in flight) */
    uint64_t state_ns;     /* the last pause: device state captured */
    uint64_t disks_ns;     /* the disks' internal snapshots (when asked for) */
    uint64_t ram_ns;       /* RAM copied into the page cache, or handed to a copy-on-write child */
    uint64_t ram_child_ns; /* that child's copy, written and synced while the guest ran (0: none) */
    uint64_t ram_direct;   /* bytes of ram_written that went to the disk past the page cache */
};
VMM_WUR int vmm_vm_save_state(struct vmm_vm *vm, const char *dir, struct vmm_save_stats *stats,
                              struct vmm_error *err);

/*
 * A snapshot of a running (or paused) machine: every writable disk's qcow2
 * internal snapshot `name` is taken through the machine's own open handles
 * while the vCPUs are parked, and with state_dir the machine state is saved
 * there in the same pause (as vmm_vm_save_state), so disks and state match.
 * state_dir NULL: disks only. All or nothing: on failure no disk keeps `name`.
 * A writable raw disk makes it fail with -ENOTSUP. Any thread but a vCPU's.
 */
VMM_WUR int vmm_vm_snapshot_take(struct vmm_vm *vm, const char *name, const char *state_dir,
                                 struct vmm_save_stats *stats, struct vmm_error *err);
/* Flushes every writable disk to stable storage (e.g. after vmm_vm_save_state, before the
 * saved state is committed as the machine's). Any thread but a vCPU's. */
VMM_WUR int vmm_vm_flush_disks(struct vmm_vm *vm, struct vmm_error *err);
/* Deletes the disks' internal snapshot `name` through the open handles (missing: no error). */
VMM_WUR int vmm_vm_snapshot_delete(struct vmm_vm *vm, const char *name, struct vmm_error *err);

/*
 * The memory balloon (vmm_config.balloon): ask the guest to hand `mib` MiB
 * back to the host (0 gives it all back to the guest). -ENODEV without a
 * balloon, -EINVAL for more than the machine has. Any thread.
 */
struct vmm_balloon_info {
    uint64_t target_mib;   /* what the host asks for */
    uint64_t actual_mib;   /* what the guest driver says it holds */
    uint64_t released_mib; /* pages released to the host (madvise) since reset */
};

VMM_WUR int vmm_balloon_set_target(struct vmm_vm *vm, uint64_t mib);
VMM_WUR int vmm_balloon_query(struct vmm_vm *vm, struct vmm_balloon_info *info);

/* Presses the ACPI power button: the guest decides how to shut down. */
VMM_WUR int vmm_vm_power_button(struct vmm_vm *vm);

/*
 * For a machine that seems stuck: writes where each vCPU is (the exit it is
 * handling, or its registers, local APIC and the code at its RIP after a
 * brief park), the PIC, IOAPIC and UART to f. Any thread; never blocks for
 * long on a stuck vCPU or device.
 */
void vmm_vm_debug_dump(struct vmm_vm *vm, FILE *f);

/* Log verbosity for vmm-core's own messages on stderr (0 = errors only). */
void vmm_log_set_level(int level);

#endif
