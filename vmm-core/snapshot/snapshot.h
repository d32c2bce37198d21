/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_SNAPSHOT_SNAPSHOT_H
#define VMM_SNAPSHOT_SNAPSHOT_H

/*
 * Live machine state (internal API). A saved machine is a directory:
 *
 *   state   the state file (state-file.h): machine, per-vCPU, irqchip and
 *           device sections
 *   ram     guest RAM, page for page, sparse (zero pages are holes)
 *
 * Both are written as NAME.tmp, fsynced, renamed, then the directory is
 * fsynced once. A restore maps `ram` MAP_PRIVATE over guest RAM, so the
 * guest starts at once and its pages fault in from the file lazily.
 */

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "snapshot/state-desc.h"
#include "snapshot/state-file.h"

struct vmm_vm;

#define VMM_SNAPSHOT_STATE_NAME "state"
#define VMM_SNAPSHOT_RAM_NAME "ram"

/* ram-file.c */
struct vmm_snapshot_ram_stats {
    uint64_t written;  /* bytes of data in the file (non-zero pages) */
    uint64_t read;     /* bytes of RAM looked at; pages known zero are skipped */
    uint64_t direct;   /* bytes of written that bypassed the page cache (long runs) */
    uint64_t child_ns; /* _wait: how long the child took to write and sync the file */
};
/*
 * Writes RAM sparsely to path (atomically, no directory fsync). source_fd: the file mapped
 * at base by vmm_snapshot_map_ram, or -1 if RAM is anonymous memory.
 */
VMM_WUR int vmm_snapshot_write_ram(const uint8_t *base, uint64_t size, int source_fd,
                                   const char *path, struct vmm_snapshot_ram_stats *st,
                                   struct vmm_error *err);
/*
 * The same in two steps. _begin copies RAM into path.tmp (long runs straight to the disk,
 * the rest into the page cache with writeback started) and returns its descriptor in *fd:
 * after it, RAM may change again. _finish makes the file durable, closes fd and renames it to
 * path; on failure either removes path.tmp.
 */
VMM_WUR int vmm_snapshot_write_ram_begin(const uint8_t *base, uint64_t size, int source_fd,
                                         const char *path, int *fd,
                                         struct vmm_snapshot_ram_stats *st, struct vmm_error *err);
VMM_WUR int vmm_snapshot_write_ram_finish(int fd, const char *path, struct vmm_error *err);
/*
 * The same from a copy-on-write child process: _fork returns as soon as the child exists
 * (RAM may change again at once: the child sees it as it was at the fork) and _wait waits
 * for the file to be written, synced and renamed to path, or for the child's error.
 */
struct vmm_snapshot_ram_writer {
    int pid;
    int pipe;
};
VMM_WUR int vmm_snapshot_write_ram_fork(const uint8_t *base, uint64_t size, int source_fd,
                                        const char *path, struct vmm_snapshot_ram_writer *wr,
                                        struct vmm_error *err);
VMM_WUR int vmm_snapshot_write_ram_wait(struct vmm_snapshot_ram_writer *wr, const char *path,
                                        struct vmm_snapshot_ram_stats *st, struct vmm_error *err);
/*
 * Maps the RAM file over [base, base + size) copy-on-write; its size must be exactly size.
 * With source_fd, the file stays open there (the next save's source_fd; the caller closes it).
 */
VMM_WUR int vmm_snapshot_map_ram(uint8_t *base, uint64_t size, const char *path, int *source_fd,
                                 struct vmm_error *err);

/* cpu-state.c: vCPUs ("cpu.N"), in-kernel irqchip, PIT and kvmclock ("kvm"). */
VMM_WUR int vmm_snapshot_save_cpus(struct vmm_vm *vm, struct vmm_state_writer *w,
                                   struct vmm_error *err);
VMM_WUR int vmm_snapshot_load_cpus(struct vmm_vm *vm, const struct vmm_state_file *f,
                                   struct vmm_error *err);

/* dev-state.c: the board's devices. -EBUSY: a device is mid-command (retry). */
VMM_WUR int vmm_snapshot_save_devices(struct vmm_vm *vm, struct vmm_state_writer *w,
                                      struct vmm_error *err);
VMM_WUR int vmm_snapshot_load_devices(struct vmm_vm *vm, const struct vmm_state_file *f,
                                      struct vmm_error *err);

/*
 * One device as one section through its description, with its lock held
 * (lock may be NULL). Loading refuses a missing section with a sentence.
 */
VMM_WUR int vmm_snapshot_add_desc(struct vmm_state_writer *w, const char *name,
                                  const struct vmm_state_desc *d, void *obj, pthread_mutex_t *lock,
                                  struct vmm_error *err);
VMM_WUR int vmm_snapshot_load_desc(const struct vmm_state_file *f, const char *name,
                                   const struct vmm_state_desc *d, void *obj, pthread_mutex_t *lock,
                                   struct vmm_error *err);

/* Device descriptions (dev-state.c and the device files). */
extern const struct vmm_state_desc vmm_serial_state_desc;
extern const struct vmm_state_desc vmm_rtc_state_desc;
extern const struct vmm_state_desc vmm_i8042_state_desc;
extern const struct vmm_state_desc vmm_fw_cfg_state_desc;
/* hw/acpi-pm.c: obj is the device vmm_acpi_pm_type creates (pc->acpi_pm). */
extern const struct vmm_state_desc vmm_acpi_pm_state_desc;

/* Machine identity: what must match between the saved and the restoring machine. */
struct vmm_snapshot_machine {
    uint64_t ram_size;
    uint32_t ncpus;
    uint8_t firmware, vga, has_xsave;
    uint8_t ndrives;
};

#endif
