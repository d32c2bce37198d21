/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Decompressed-kernel cache. A bzImage's protected-mode code spends most of
 * a direct boot unpacking the kernel proper (an ELF vmlinux) at guest speed:
 * on a nested or emulated vCPU that is seconds. We unpack it on the host
 * once, keep the ELF under $XDG_CACHE_HOME/terrarium/kernels keyed by a hash
 * of the whole bzImage (and its size), and boot the ELF directly
 * (vmm_bzimage_load_proper). A cold cache costs the host what the guest
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
#define REF_SUFFIX ".ref"
#define CACHE_MAX_REFS 64   /* links from kernel files' identities to entries */
#define CACHE_SETTLE_SECS 2 /* a kernel file younger than this is not linked by identity */

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

/* The first bytes of a cache file, where its ELF and program headers are. */
#define CACHE_HEAD_BYTES 4096

/*
 * Opens a cache file and checks its headers against the image's load window
 * [lo, hi); on success kp holds the open file and its segments. want_len, when
 * not 0, is the size the file must have. The file's mtime is set to now: it
 * says when this kernel was last booted, the eviction order.
 */
static int open_cache_file(int dirfd, const char *name, size_t want_len, uint64_t lo, uint64_t hi,
                           struct vmm_kernel_proper *kp, struct vmm_error *err)
{
    uint8_t head[CACHE_HEAD_BYTES];
    struct stat st;
    size_t n;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 64 ||
        (uint64_t)st.st_size > MAX_VMLINUX_SIZE) {
        close(fd);
        snprintf(err->msg, sizeof(err->msg), "not a plausible kernel file");
        return -EINVAL;
    }
    /* Exactly the size the payload announces: a truncated file shows even past the ELF. */
    if (want_len && (size_t)st.st_size != want_len) {
        close(fd);
        snprintf(err->msg, sizeof(err->msg), "%llu bytes, not the %zu the kernel announces",
                 (unsigned long long)st.st_size, want_len);
        return -EINVAL;
    }
    n = (size_t)st.st_size < sizeof(head) ? (size_t)st.st_size : sizeof(head);
    int r = vmm_pread_full(fd, head, n, 0);
    if (r == 0 && vmm_vmlinux_parse(head, n, (size_t)st.st_size, lo, hi, &kp->vl, err) < 0)
        r = -EINVAL;
    if (r < 0) {
        close(fd);
        return r;
    }
    (void)futimens(fd, NULL);
    kp->elf = NULL;
    kp->fd = fd;
    return 0;
}

/* A cache entry's name: "<32 hex digits>-<bzImage length in hex>.vmlinux". */
static bool is_entry_name(const char *name)
{
    size_t n = strlen(name), k = strlen(CACHE_SUFFIX);
    return n > k && name[0] != '.' && !strchr(name, '/') && strcmp(name + n - k, CACHE_SUFFIX) == 0;
}

static bool is_ref_name(const char *name)
{
    size_t n = strlen(name), k = strlen(REF_SUFFIX);
    return n > k && name[0] != '.' && strcmp(name + n - k, REF_SUFFIX) == 0;
}

static bool older(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * Keeps the cache bounded: the least recently booted entry goes once there
 * are more than CACHE_MAX_ENTRIES; links whose entry is gone go, and the
 * oldest links once there are more than CACHE_MAX_REFS; temporary files and
 * links a killed writer left behind go after a day.
 */
static void evict(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char oldest[NAME_MAX + 1] = "", oldest_ref[NAME_MAX + 1] = "";
    struct timespec oldest_t = {0}, oldest_ref_t = {0};
    unsigned count = 0, refs = 0;
    time_t now = time(NULL);

    if (!d)
        return;
    while ((e = readdir(d))) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (strncmp(e->d_name, ".tmp-", 5) == 0) { /* VMM_WRITE_UNIQUE_TMP and link leftovers */
            if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
                now - st.st_mtime > CACHE_STALE_TEMP_SECS)
                (void)unlinkat(dirfd(d), e->d_name, 0);
            continue;
        }
        if (S_ISLNK(st.st_mode) && is_ref_name(e->d_name)) {
            struct stat target;
            if (fstatat(dirfd(d), e->d_name, &target, 0) < 0) { /* its entry was evicted */
                (void)unlinkat(dirfd(d), e->d_name, 0);
                continue;
            }
            refs++;
            if (!oldest_ref[0] || older(&st.st_mtim, &oldest_ref_t)) {
                snprintf(oldest_ref, sizeof(oldest_ref), "%s", e->d_name);
                oldest_ref_t = st.st_mtim;
            }
            continue;
        }
        if (!S_ISREG(st.st_mode) || !is_entry_name(e->d_name))
            continue;
        count++;
        if (!oldest[0] || older(&st.st_mtim, &oldest_t)) {
            snprintf(oldest, sizeof(oldest), "%s", e->d_name);
            oldest_t = st.st_mtim;
        }
    }
    /* One at a time is enough: each store adds one entry, each link one link. */
    if (count > CACHE_MAX_ENTRIES && oldest[0])
        (void)unlinkat(dirfd(d), oldest, 0);
    if (refs > CACHE_MAX_REFS && oldest_ref[0])
        (void)unlinkat(dirfd(d), oldest_ref, 0);
    closedir(d);
}

static int store(const char *dir, const char *path, const uint8_t *elf, size_t len)
{
    int r = vmm_write_file_atomic(path, elf, len, VMM_WRITE_UNIQUE_TMP | VMM_WRITE_SPARSE, NULL);
    if (r == 0)
        evict(dir);
    return r;
}

static double ms_since(int64_t t0)
{
    return (double)(vmm_now_ns() - t0) / 1e6;
}

static void drop_kp(struct vmm_kernel_cache *kc)
{
    if (kc->have_kp && kc->kp.elf)
        free((void *)kc->kp.elf);
    else if (kc->have_kp)
        close(kc->kp.fd);
    memset(&kc->kp, 0, sizeof(kc->kp));
    kc->kp.fd = -1;
    kc->have_kp = false;
    kc->elf_len = 0;
}

/*
 * The link name for a file identity and the image's first bytes (the same
 * count whether the image was read whole or not), "<32 hex digits>.ref".
 */
static void ref_name(const struct vmm_kernel_file_id *id, const uint8_t *img, size_t avail,
                     size_t len, char name[64])
{
    uint8_t buf[8 * 8 + VMM_BZIMAGE_HEAD];
    const uint64_t f[8] = {id->dev,
                           id->ino,
                           id->size,
                           (uint64_t)id->mtime_sec,
                           (uint64_t)id->mtime_nsec,
                           (uint64_t)id->ctime_sec,
                           (uint64_t)id->ctime_nsec,
                           (uint64_t)len};
    size_t n = len < VMM_BZIMAGE_HEAD ? len : VMM_BZIMAGE_HEAD;
    uint64_t key[2];

    if (n > avail)
        n = avail;
    for (unsigned i = 0; i < 8; i++) {
        uint64_t v = htole64(f[i]);
        memcpy(buf + i * 8, &v, 8);
    }
    memcpy(buf + 64, img, n);
    vmm_kernel_hash(buf, 64 + n, key);
    snprintf(name, 64, "%016llx%016llx" REF_SUFFIX, (unsigned long long)key[0],
             (unsigned long long)key[1]);
}

/*
 * A file whose times are recent may still be being written, and a write
 * within the same clock tick need not change them: only a file left alone
 * for CACHE_SETTLE_SECS is linked by its identity.
 */
static bool settled(const struct vmm_kernel_file_id *id)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t newest = id->mtime_sec > id->ctime_sec ? id->mtime_sec : id->ctime_sec;
    return (int64_t)now.tv_sec - newest >= CACHE_SETTLE_SECS + 1;
}

/* Links kc->id to the cache entry `entry` in dir (best effort). */
static void link_id(struct vmm_kernel_cache *kc, const char *dir, const char *entry,
                    const uint8_t *img, size_t len)
{
    char name[64], tmp[PATH_MAX], final[PATH_MAX];
    static unsigned counter;

    if (!kc->have_id || kc->id.size != len || !settled(&kc->id))
        return;
    ref_name(&kc->id, img, len, len, name);
    if (snprintf(tmp, sizeof(tmp), "%s/.tmp-%ld-%u", dir, (long)getpid(), counter++) >=
            (int)sizeof(tmp) ||
        snprintf(final, sizeof(final), "%s/%s", dir, name) >= (int)sizeof(final))
        return;
    if (symlink(entry, tmp) < 0)
        return;
    if (rename(tmp, final) < 0) {
        (void)unlink(tmp);
        return;
    }
    kc->linked = true;
    evict(dir);
}

int vmm_kernel_cache_lookup_id(struct vmm_kernel_cache *kc, const uint8_t *head, size_t avail,
                               size_t len)
{
    struct vmm_error err = {0};
    struct vmm_kernel_proper kp;
    char dir[PATH_MAX], name[64], target[NAME_MAX + 1], path[PATH_MAX];
    uint64_t lo, hi;
    int64_t t0 = vmm_now_ns();
    int dfd, r;
    ssize_t n;

    if (kc->disabled || !kc->have_id || kc->tried || kc->id.size != len ||
        vmm_bzimage_kernel_window(head, avail, len, &lo, &hi) < 0 ||
        cache_dir(kc->dir, dir, sizeof(dir)) < 0)
        return -ENOENT;
    ref_name(&kc->id, head, avail, len, name);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -ENOENT;
    n = readlinkat(dfd, name, target, sizeof(target) - 1);
    if (n <= 0) {
        close(dfd);
        return -ENOENT;
    }
    target[n] = '\0';
    r = is_entry_name(target) ? open_cache_file(dfd, target, 0, lo, hi, &kp, &err) : -EINVAL;
    if (r < 0 || snprintf(path, sizeof(path), "%s/%s", dir, target) >= (int)sizeof(path)) {
        if (r == 0)
            close(kp.fd);
        /* A link to nothing usable: the whole lookup will find (or rebuild) the entry. */
        (void)unlinkat(dfd, name, 0);
        close(dfd);
        return -ENOENT;
    }
    close(dfd);
    drop_kp(kc);
    kc->kp = kp;
    kc->have_kp = true;
    kc->tried = kc->hit = kc->hit_by_id = true;
    kc->stored = kc->linked = false;
    free(kc->path);
    kc->path = strdup(path);
    vmm_log(VMM_LOG_INFO, "kernel cache: %s found by the kernel file's identity in %.0f ms", path,
            ms_since(t0));
    return 0;
}

int vmm_kernel_cache_lookup(struct vmm_kernel_cache *kc, const uint8_t *img, size_t len)
{
    struct vmm_error err = {0};
    char dir[PATH_MAX], name[NAME_MAX + 1], path[PATH_MAX];
    const uint8_t *payload;
    size_t plen;
    uint64_t lo, hi, key[2];
    struct vmm_kernel_proper kp = {.fd = -1};
    struct vmm_blob elf = {0};
    bool have_dir = false;
    int64_t t0 = vmm_now_ns();
    int r;

    drop_kp(kc);
    kc->tried = true;
    kc->hit = kc->hit_by_id = kc->stored = kc->linked = false;
    if (kc->disabled)
        return -ENOTSUP;
    /* Cheap checks first: an image we would not boot this way costs no hashing. */
    if (find_payload(img, len, &payload, &plen) < 0 ||
        detect_format(payload, plen) == FMT_UNKNOWN ||
        vmm_bzimage_kernel_window(img, len, len, &lo, &hi) < 0)
        return -ENOTSUP;

    r = cache_dir(kc->dir, dir, sizeof(dir));
    if (r == 0) {
        vmm_kernel_hash(img, len, key);
        snprintf(name, sizeof(name), "%016llx%016llx-%zx" CACHE_SUFFIX, (unsigned long long)key[0],
                 (unsigned long long)key[1], len);
        if (snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path)) {
            have_dir = true;
            free(kc->path);
            kc->path = strdup(path);
        }
    } else {
        vmm_log(VMM_LOG_INFO, "kernel cache: no cache directory (%s); unpacking in memory only",
                strerror(-r));
    }

    if (have_dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = dfd < 0 ? -errno
                    : open_cache_file(dfd, name, rd32(payload + plen - 4), lo, hi, &kp, &err);
        if (dfd >= 0)
            close(dfd);
        if (r == 0) {
            kc->kp = kp;
            kc->have_kp = kc->hit = true;
            vmm_log(VMM_LOG_INFO, "kernel cache: %s opened in %.0f ms", path, ms_since(t0));
            link_id(kc, dir, name, img, len);
            return 0;
        }
        if (r != -ENOENT) {
            vmm_log(VMM_LOG_WARN, "kernel cache: removing the damaged %s (%s)", path,
                    err.msg[0] ? err.msg : strerror(-r));
            (void)unlink(path);
        }
    }

    r = vmm_bzimage_decompress(img, len, &elf, &err);
    if (r == 0)
        r = vmm_vmlinux_parse(elf.data, elf.len, elf.len, lo, hi, &kp.vl, &err);
    if (r < 0) {
        vmm_log(VMM_LOG_INFO, "kernel cache: booting the bzImage itself: %s", err.msg);
        free(elf.data);
        return r;
    }
    vmm_log(VMM_LOG_INFO, "kernel cache: unpacked the kernel (%zu MiB) in %.0f ms", elf.len >> 20,
            ms_since(t0));
    kp.elf = elf.data;
    kc->kp = kp;
    kc->elf_len = elf.len;
    kc->have_kp = true;
    if (have_dir) {
        r = store(dir, path, elf.data, elf.len);
        if (r < 0) {
            vmm_log(VMM_LOG_INFO, "kernel cache: cannot write %s: %s", path, strerror(-r));
        } else {
            kc->stored = true;
            link_id(kc, dir, name, img, len);
        }
    }
    return 0;
}

void vmm_kernel_cache_release(struct vmm_kernel_cache *kc)
{
    drop_kp(kc);
    free(kc->path);
    kc->path = NULL;
}

int vmm_bzimage_load_cached(struct vmm_guest_mem *mem, unsigned ncpus, const uint8_t *img,
                            size_t avail, size_t len, const uint8_t *initrd, size_t initrd_len,
                            const char *cmdline, struct vmm_kernel_cache *kc,
                            struct vmm_boot_entry *entry, struct vmm_error *err)
{
    struct vmm_error cerr = {0};
    bool whole = img && avail >= len;
    int r;

    if ((!kc || kc->disabled) && whole)
        return vmm_bzimage_load(mem, ncpus, img, len, initrd, initrd_len, cmdline, entry, err);
    /*
     * A wrong image or a machine too small fails here, in milliseconds and
     * with its own sentence: before any unpacking, and before a kernel found
     * in the cache could fail for the same reason and be taken for a bad entry.
     */
    r = vmm_bzimage_check(mem, ncpus, img, avail, len, initrd_len, cmdline, err);
    if (r < 0)
        return r;
    if (kc && !kc->tried && whole)
        (void)vmm_kernel_cache_lookup(kc, img, len);
    if (kc && kc->tried && kc->have_kp) {
        int64_t t0 = vmm_now_ns();
        r = vmm_bzimage_load_proper(mem, ncpus, img, avail, len, &kc->kp, initrd, initrd_len,
                                    cmdline, entry, &cerr);
        if (r == 0) {
            vmm_log(VMM_LOG_INFO, "kernel cache: kernel proper laid out in %.0f ms, entry 0x%llx",
                    ms_since(t0), (unsigned long long)entry->rip);
            return 0;
        }
        vmm_log(VMM_LOG_WARN, "kernel cache: booting the bzImage itself: %s", cerr.msg);
        if (kc->path && (r == -ENOEXEC || (kc->hit && (r == -EIO || r == -ENODATA))))
            (void)unlink(kc->path);
        drop_kp(kc);
    }
    if (!whole) {
        /* Only the head was read, on the strength of the cache: the caller reads the rest. */
        if (kc)
            kc->tried = kc->hit = kc->hit_by_id = false;
        vmm_error_set(err, -EAGAIN, "the kernel image was not read whole");
        return -EAGAIN;
    }
    return vmm_bzimage_load(mem, ncpus, img, len, initrd, initrd_len, cmdline, entry, err);
}
