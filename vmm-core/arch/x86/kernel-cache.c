/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Decompressed-kernel cache. A bzImage's protected-mode code spends most of
 * a direct boot unpacking the kernel proper (an ELF vmlinux) at guest speed:
 * on a nested or emulated vCPU that is seconds. We unpack it on the host
 * once, keep the ELF under $XDG_CACHE_HOME/terrarium/kernels keyed by a hash
 * of the whole bzImage (and its size), and boot the ELF directly
 * (vmm_bzimage_load_vmlinux). A cold cache costs the host what the guest
 * would have spent, so the first boot uses the fresh ELF right away.
 *
 * A cache is only an optimisation: a directory that cannot be created or
 * written means no caching, a cache file that fails the checks is deleted,
 * and any doubt boots the bzImage itself.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "arch/x86/boot-internal.h"
#include "core/file.h"
#include "core/log.h"

#define HDR_SETUP_SECTS 0x1F1
#define HDR_BOOT_FLAG 0x1FE
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24C
#define HDR_PAYLOAD_END 0x250

#define MAX_VMLINUX_SIZE (512ULL << 20) /* Debian's is 63 MiB */
#define XZ_MEMLIMIT (256ULL << 20)      /* the kernel's own XZ uses a 32 MiB dictionary at most */
#define CACHE_SUFFIX ".vmlinux"
#define CACHE_MAX_ENTRIES 8         /* about 60 MiB each; least recently used go first */
#define CACHE_STALE_TEMP_SECS 86400 /* a temp file this old was left by a killed writer */

enum payload_format { FMT_UNKNOWN, FMT_GZIP, FMT_XZ, FMT_ZSTD };

static const char *const format_names[] = {"unknown", "gzip", "XZ", "zstd"};

/* The 128-bit content hash ------------------------------------------------------ */

/*
 * Not cryptographic: it only has to make accidental collisions between the
 * kernels one user boots negligible (the size is part of the key too), and
 * be cheap on every boot (8 bytes a step in four independent lanes, so an
 * 8 MiB image hashes in a few milliseconds). Constants: odd 64-bit values
 * from the golden ratio and square roots of primes.
 */
#define HK0 0x9E3779B97F4A7C15ULL
#define HK1 0x6A09E667F3BCC909ULL
#define HK2 0xBB67AE8584CAA73BULL
#define HK3 0x3C6EF372FE94F82BULL
#define HKM 0xA54FF53A5F1D36F1ULL
#define HMIX1 0xBF58476D1CE4E5B9ULL
#define HMIX2 0x94D049BB133111EBULL

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
    return x << r | x >> (64 - r);
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

/* Each lane step is a bijection of the lane for a fixed word and of the word for a fixed lane. */
static inline uint64_t lane(uint64_t acc, uint64_t w)
{
    return rotl64(acc + w * HKM, 29) * HK0;
}

static uint64_t avalanche(uint64_t x)
{
    x ^= x >> 30;
    x *= HMIX1;
    x ^= x >> 27;
    x *= HMIX2;
    x ^= x >> 31;
    return x;
}

void vmm_kernel_hash(const uint8_t *data, size_t len, uint64_t out[2])
{
    uint64_t a = HK0, b = HK1, c = HK2, d = HK3;
    uint8_t tail[32];
    size_t i = 0, rest;

    for (; i + 32 <= len; i += 32) {
        a = lane(a, load64(data + i));
        b = lane(b, load64(data + i + 8));
        c = lane(c, load64(data + i + 16));
        d = lane(d, load64(data + i + 24));
    }
    /* The tail, padded with a 0x80 marker so that trailing zero bytes still count. */
    rest = len - i;
    memset(tail, 0, sizeof(tail));
    if (rest)
        memcpy(tail, data + i, rest);
    tail[rest] = 0x80;
    a = lane(a, load64(tail));
    b = lane(b, load64(tail + 8));
    c = lane(c, load64(tail + 16));
    d = lane(d, load64(tail + 24));

    out[0] = avalanche(a ^ rotl64(b, 17) ^ rotl64(c, 31) ^ rotl64(d, 47) ^ (uint64_t)len);
    out[1] = avalanche(d + rotl64(c, 13) + rotl64(b, 23) + rotl64(a, 43) + out[0] * HK1);
}

/* Decompression ---------------------------------------------------------------------- */

/* The compressed payload inside a bzImage (boot protocol 2.08+), bounds-checked. */
static int find_payload(const uint8_t *img, size_t len, const uint8_t **payload, size_t *plen)
{
    size_t setup, off, n;

    if (!img || len < HDR_PAYLOAD_END || rd16(img + HDR_BOOT_FLAG) != 0xAA55 ||
        memcmp(img + HDR_MAGIC, "HdrS", 4) != 0 || rd16(img + HDR_VERSION) < 0x208)
        return -ENOTSUP;
    setup = (size_t)((img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4) + 1) * 512;
    off = rd32(img + HDR_PAYLOAD_OFFSET);
    n = rd32(img + HDR_PAYLOAD_LENGTH);
    if (setup > len || off > len - setup || n > len - setup - off || n < 16)
        return -ENOEXEC;
    *payload = img + setup + off;
    *plen = n;
    return 0;
}

static enum payload_format detect_format(const uint8_t *p, size_t n)
{
    static const uint8_t xz_magic[6] = {0xFD, '7', 'z', 'X', 'Z', 0x00};

    if (n >= 2 && p[0] == 0x1F && p[1] == 0x8B)
        return FMT_GZIP;
    if (n >= 6 && memcmp(p, xz_magic, 6) == 0)
        return FMT_XZ;
    if (n >= 4 && rd32(p) == 0xFD2FB528)
        return FMT_ZSTD;
    return FMT_UNKNOWN; /* bzip2, LZMA, LZO, LZ4: boot the bzImage itself */
}

/*
 * Each decoder fills out[0, cap) and reports how much it produced; cap is one
 * byte more than the announced size so that a longer stream shows as such.
 */
static int inflate_gzip(const uint8_t *in, size_t inlen, uint8_t *out, size_t cap, size_t *got)
{
    z_stream z;
    int r;

    memset(&z, 0, sizeof(z));
    if (inlen > UINT_MAX || cap > UINT_MAX || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -ENOEXEC;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)inlen;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    r = inflate(&z, Z_FINISH); /* the size_append trailer after the member is left unread */
    *got = cap - z.avail_out;
    inflateEnd(&z);
    return r == Z_STREAM_END ? 0 : -ENOEXEC;
}

static int unxz(const uint8_t *in, size_t inlen, uint8_t *out, size_t cap, size_t *got)
{
    lzma_stream s = LZMA_STREAM_INIT;
    lzma_ret r;

    /* One stream (no LZMA_CONCATENATED): the 4-byte size the kernel appends is not padding. */
    if (lzma_stream_decoder(&s, XZ_MEMLIMIT, 0) != LZMA_OK)
        return -ENOMEM;
    s.next_in = in;
    s.avail_in = inlen;
    s.next_out = out;
    s.avail_out = cap;
    do {
        size_t before_in = s.avail_in, before_out = s.avail_out;
        r = lzma_code(&s, LZMA_FINISH);
        if (r == LZMA_OK && s.avail_in == before_in && s.avail_out == before_out)
            r = LZMA_BUF_ERROR; /* no progress: truncated input or no room left */
    } while (r == LZMA_OK);
    *got = cap - s.avail_out;
    lzma_end(&s);
    return r == LZMA_STREAM_END ? 0 : r == LZMA_MEM_ERROR ? -ENOMEM : -ENOEXEC;
}

static int unzstd(const uint8_t *in, size_t inlen, uint8_t *out, size_t cap, size_t *got)
{
    /* Exactly one frame: ZSTD_decompressDCtx would read the size trailer as a second one. */
    size_t frame = ZSTD_findFrameCompressedSize(in, inlen);
    ZSTD_DCtx *d;
    size_t r;

    if (ZSTD_isError(frame))
        return -ENOEXEC;
    d = ZSTD_createDCtx();
    if (!d)
        return -ENOMEM;
    r = ZSTD_decompressDCtx(d, out, cap, in, frame);
    ZSTD_freeDCtx(d);
    if (ZSTD_isError(r))
        return -ENOEXEC;
    *got = r;
    return 0;
}

int vmm_bzimage_decompress(const uint8_t *img, size_t len, struct vmm_blob *out,
                           struct vmm_error *err)
{
    const uint8_t *payload;
    size_t plen, want, got = 0;
    enum payload_format fmt;
    uint8_t *buf;
    int r;

    out->data = NULL;
    out->len = 0;
    r = find_payload(img, len, &payload, &plen);
    if (r < 0) {
        vmm_error_set(err, r,
                      "the kernel image has no usable payload header (boot protocol 2.08+)");
        return r;
    }
    fmt = detect_format(payload, plen);
    if (fmt == FMT_UNKNOWN) {
        vmm_error_set(err, -ENOTSUP,
                      "the kernel's payload is in a format Terrarium does not "
                      "unpack (only gzip, XZ and zstd)");
        return -ENOTSUP;
    }
    /* Kbuild appends the uncompressed size (32-bit little-endian) to every compressed kernel. */
    want = rd32(payload + plen - 4);
    if (want < 64 || want > MAX_VMLINUX_SIZE) {
        vmm_error_set(err, -ENOTSUP, "the kernel's payload announces an implausible size (%zu)",
                      want);
        return -ENOTSUP;
    }
    buf = malloc(want + 1);
    if (!buf) {
        vmm_error_set(err, -ENOMEM, "out of memory unpacking the kernel (%zu MiB)", want >> 20);
        return -ENOMEM;
    }
    if (fmt == FMT_GZIP)
        r = inflate_gzip(payload, plen, buf, want + 1, &got);
    else if (fmt == FMT_XZ)
        r = unxz(payload, plen, buf, want + 1, &got);
    else
        r = unzstd(payload, plen, buf, want + 1, &got);
    if (r == 0 && got != want)
        r = -ENOEXEC;
    if (r < 0) {
        free(buf);
        vmm_error_set(err, r,
                      "the kernel's %s payload does not unpack to the %zu bytes it "
                      "announces",
                      format_names[fmt], want);
        return r;
    }
    if (buf[0] != 0x7F || memcmp(buf + 1, "ELF", 3) != 0) {
        free(buf);
        vmm_error_set(err, -ENOTSUP, "the kernel's payload does not unpack to an ELF file");
        return -ENOTSUP;
    }
    out->data = buf;
    out->len = got;
    return 0;
}

/* The cache directory ------------------------------------------------------------- */

/* mkdir -p for our own directory, private to the user. */
static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(path, 0700);
        *p = '/';
        if (r < 0 && errno != EEXIST)
            return -errno;
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int cache_dir(const char *configured, char *buf, size_t size)
{
    const char *base;
    int n;

    if (configured) {
        n = snprintf(buf, size, "%s", configured);
    } else if ((base = getenv("XDG_CACHE_HOME")) && base[0] == '/') {
        n = snprintf(buf, size, "%s/terrarium/kernels", base); /* relative values are invalid */
    } else if ((base = getenv("HOME")) && base[0] == '/') {
        n = snprintf(buf, size, "%s/.cache/terrarium/kernels", base);
    } else {
        return -ENOENT;
    }
    if (n <= 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    return make_dirs(buf);
}

/*
 * Maps a whole cache file; -ENOENT when there is none. Mapped rather than
 * read: the ELF is 60 MiB or more, and copying it into the heap costs as much
 * as copying it into guest RAM, for nothing. Cache files are only ever
 * replaced by rename, never rewritten in place, so the mapping stays valid
 * for the VM's lifetime (resets reload from it).
 */
static int map_cache_file(const char *path, struct vmm_blob *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    void *p;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 64 ||
        (uint64_t)st.st_size > MAX_VMLINUX_SIZE) {
        close(fd);
        return -EINVAL;
    }
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    /* The mtime says when this kernel was last booted: the eviction order. */
    (void)futimens(fd, NULL);
    close(fd);
    out->data = p;
    out->len = (size_t)st.st_size;
    return 0;
}

/* Keeps the CACHE_MAX_ENTRIES most recently used kernels; drops temp files of killed writers. */
static void evict(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char oldest[NAME_MAX + 1] = "";
    struct timespec oldest_t = {0};
    unsigned count = 0;
    time_t now = time(NULL);

    if (!d)
        return;
    while ((e = readdir(d))) {
        struct stat st;
        size_t n = strlen(e->d_name);
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (strncmp(e->d_name, ".tmp-", 5) == 0) { /* VMM_WRITE_UNIQUE_TMP leftovers */
            if (now - st.st_mtime > CACHE_STALE_TEMP_SECS)
                (void)unlinkat(dirfd(d), e->d_name, 0);
            continue;
        }
        if (n <= strlen(CACHE_SUFFIX) || strcmp(e->d_name + n - strlen(CACHE_SUFFIX), CACHE_SUFFIX))
            continue;
        count++;
        if (!oldest[0] || st.st_mtim.tv_sec < oldest_t.tv_sec ||
            (st.st_mtim.tv_sec == oldest_t.tv_sec && st.st_mtim.tv_nsec < oldest_t.tv_nsec)) {
            snprintf(oldest, sizeof(oldest), "%s", e->d_name);
            oldest_t = st.st_mtim;
        }
    }
    /* One at a time is enough: each store adds one entry. */
    if (count > CACHE_MAX_ENTRIES && oldest[0])
        (void)unlinkat(dirfd(d), oldest, 0);
    closedir(d);
}

/* Stores the file so readers see all or nothing; two machines may store the same kernel at once. */
static int store(const char *dir, const char *path, const struct vmm_blob *elf)
{
    int r = vmm_write_file_atomic(path, elf->data, elf->len, VMM_WRITE_UNIQUE_TMP, NULL);
    if (r == 0)
        evict(dir);
    return r;
}

static double ms_since(int64_t t0)
{
    return (double)(vmm_now_ns() - t0) / 1e6;
}

static void drop_elf(struct vmm_kernel_cache *kc)
{
    if (kc->elf.data && kc->elf_mapped)
        munmap(kc->elf.data, kc->elf.len);
    else
        free(kc->elf.data);
    kc->elf.data = NULL;
    kc->elf.len = 0;
    kc->elf_mapped = false;
}

int vmm_kernel_cache_lookup(struct vmm_kernel_cache *kc, const uint8_t *img, size_t len)
{
    struct vmm_error err = {0};
    char dir[PATH_MAX], path[PATH_MAX];
    const uint8_t *payload;
    size_t plen;
    uint64_t lo, hi, key[2];
    struct vmm_vmlinux vl;
    struct vmm_blob elf = {0};
    bool have_dir = false;
    int64_t t0 = vmm_now_ns();
    int r;

    drop_elf(kc);
    kc->tried = true;
    kc->hit = kc->stored = false;
    if (kc->disabled)
        return -ENOTSUP;
    /* Cheap checks first: an image we would not boot this way costs no hashing. */
    if (find_payload(img, len, &payload, &plen) < 0 ||
        detect_format(payload, plen) == FMT_UNKNOWN ||
        vmm_bzimage_kernel_window(img, len, &lo, &hi) < 0)
        return -ENOTSUP;

    r = cache_dir(kc->dir, dir, sizeof(dir));
    if (r == 0) {
        vmm_kernel_hash(img, len, key);
        if (snprintf(path, sizeof(path), "%s/%016llx%016llx-%zx" CACHE_SUFFIX, dir,
                     (unsigned long long)key[0], (unsigned long long)key[1],
                     len) < (int)sizeof(path)) {
            have_dir = true;
            free(kc->path);
            kc->path = strdup(path);
        }
    } else {
        vmm_log(VMM_LOG_INFO, "kernel cache: no cache directory (%s); unpacking in memory only",
                strerror(-r));
    }

    if (have_dir) {
        r = map_cache_file(path, &elf);
        /* Exactly the size the payload announces: a truncated file shows even past the ELF. */
        if (r == 0 && elf.len != rd32(payload + plen - 4)) {
            r = -EINVAL;
            snprintf(err.msg, sizeof(err.msg), "%zu bytes, not the %u the kernel announces",
                     elf.len, rd32(payload + plen - 4));
        }
        if (r == 0 && vmm_vmlinux_parse(elf.data, elf.len, lo, hi, &vl, &err) == 0) {
            kc->elf = elf;
            kc->elf_mapped = true;
            kc->hit = true;
            vmm_log(VMM_LOG_INFO, "kernel cache: %s (%zu MiB) read in %.0f ms", path, elf.len >> 20,
                    ms_since(t0));
            return 0;
        }
        if (r != -ENOENT) {
            vmm_log(VMM_LOG_WARN, "kernel cache: removing the damaged %s (%s)", path,
                    err.msg[0] ? err.msg : strerror(-r));
            (void)unlink(path);
        }
        if (elf.data)
            munmap(elf.data, elf.len);
        elf.data = NULL;
    }

    r = vmm_bzimage_decompress(img, len, &elf, &err);
    if (r == 0)
        r = vmm_vmlinux_parse(elf.data, elf.len, lo, hi, &vl, &err);
    if (r < 0) {
        vmm_log(VMM_LOG_INFO, "kernel cache: booting the bzImage itself: %s", err.msg);
        free(elf.data);
        return r;
    }
    vmm_log(VMM_LOG_INFO, "kernel cache: unpacked the kernel (%zu MiB) in %.0f ms", elf.len >> 20,
            ms_since(t0));
    if (have_dir) {
        r = store(dir, path, &elf);
        if (r < 0)
            vmm_log(VMM_LOG_INFO, "kernel cache: cannot write %s: %s", path, strerror(-r));
        else
            kc->stored = true;
    }
    kc->elf = elf;
    return 0;
}

void vmm_kernel_cache_release(struct vmm_kernel_cache *kc)
{
    drop_elf(kc);
    free(kc->path);
    kc->path = NULL;
}

int vmm_bzimage_load_cached(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                            size_t len, const uint8_t *initrd, size_t initrd_len,
                            const char *cmdline, struct vmm_kernel_cache *kc,
                            struct vmm_boot_entry *entry, struct vmm_error *err)
{
    struct vmm_error cerr = {0};
    int r;

    if (!kc || kc->disabled)
        return vmm_bzimage_load(mem, ncpus, img, len, initrd, initrd_len, cmdline, entry, err);
    if (!kc->tried) {
        /* A wrong image or a machine too small fails in milliseconds, not after unpacking. */
        r = vmm_bzimage_check(mem, ncpus, img, len, initrd ? initrd_len : 0, cmdline, err);
        if (r < 0)
            return r;
        (void)vmm_kernel_cache_lookup(kc, img, len);
    }
    if (kc->elf.data) {
        int64_t t0 = vmm_now_ns();
        r = vmm_bzimage_load_vmlinux(mem, ncpus, img, len, kc->elf.data, kc->elf.len, initrd,
                                     initrd_len, cmdline, entry, &cerr);
        if (r == 0) {
            vmm_log(VMM_LOG_INFO, "kernel cache: kernel proper laid out in %.0f ms, entry 0x%llx",
                    ms_since(t0), (unsigned long long)entry->rip);
            return 0;
        }
        vmm_log(VMM_LOG_WARN, "kernel cache: booting the bzImage itself: %s", cerr.msg);
        if (r == -ENOEXEC && kc->path)
            (void)unlink(kc->path);
        drop_elf(kc);
    }
    return vmm_bzimage_load(mem, ncpus, img, len, initrd, initrd_len, cmdline, entry, err);
}
