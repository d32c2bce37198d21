/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Creating qcow2 v3 images: header, refcount table and blocks, and an empty L1 table. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "disk/qcow2.h"

/* Names for the feature bits we know, so other tools can name what they do not support. */
static const struct {
    uint8_t type, bit;
    const char *name;
} feature_names[] = {
    {0, 0, "dirty bit"},        {0, 1, "corrupt bit"},         {0, 2, "external data file"},
    {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
    {2, 0, "bitmaps"},          {2, 1, "raw external data"},
};

#define N_FEATURES (sizeof(feature_names) / sizeof(feature_names[0]))

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static int check_backing(const char *path, const char *backing_file, const char *backing_fmt,
                         uint64_t *size, char *fmt_out, size_t fmt_len, struct vmm_error *err)
{
    unsigned flags = VMM_DISK_RDONLY;
    struct vmm_error inner = {0};
    char resolved[4096 + 8];
    const char *slash = strrchr(path, '/');

    if (!backing_file[0] || strlen(backing_file) > QCOW2_MAX_BACKING_NAME) {
        vmm_error_set(err, -EINVAL, "The backing file name for %s is empty or too long.", path);
        return -EINVAL;
    }
    if (backing_fmt && !strcmp(backing_fmt, "raw")) {
        flags |= VMM_DISK_FORMAT_RAW;
    } else if (backing_fmt && !strcmp(backing_fmt, "qcow2")) {
        flags |= VMM_DISK_FORMAT_QCOW2;
    } else if (backing_fmt) {
        vmm_error_set(err, -ENOTSUP,
                      "Backing files in the %s format are not supported (use raw or qcow2).",
                      backing_fmt);
        return -ENOTSUP;
    }
    if (backing_file[0] == '/' || !slash)
        snprintf(resolved, sizeof(resolved), "%s", backing_file);
    else
        snprintf(resolved, sizeof(resolved), "%.*s/%s", (int)(slash - path), path, backing_file);

    struct vmm_disk *b = vmm_disk_open_chain(resolved, flags, 1, &inner);
    if (!b) {
        vmm_error_set(err, inner.code ? inner.code : -EIO, "Cannot use %s as a backing file: %s",
                      backing_file, inner.msg);
        return inner.code ? inner.code : -EIO;
    }
    if (*size == 0)
        *size = vmm_disk_size(b);
    snprintf(fmt_out, fmt_len, "%s", b->ops->name);
    vmm_disk_close(b);
    return 0;
}

int vmm_qcow2_create(const char *path, uint64_t size, unsigned cluster_bits,
                     const char *backing_file, const char *backing_fmt, struct vmm_error *err)
{
    char fmt[32] = "";
    uint8_t *hdr = NULL, *rt = NULL, *blocks = NULL;
    int fd, r;

    if (cluster_bits == 0)
        cluster_bits = 16;
    if (cluster_bits < QCOW2_MIN_CLUSTER_BITS || cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        vmm_error_set(err, -EINVAL,
                      "A qcow2 cluster size must be between 512 bytes and 2 MiB (got 2^%u).",
                      cluster_bits);
        return -EINVAL;
    }
    if (backing_file) {
        r = check_backing(path, backing_file, backing_fmt, &size, fmt, sizeof(fmt), err);
        if (r < 0)
            return r;
    }
    const uint64_t cs = 1ull << cluster_bits;
    const uint64_t l2_span = cs * (cs / 8);
    if (size > UINT64_MAX - 511) {
        vmm_error_set(err, -EFBIG, "The requested disk size is too large.");
        return -EFBIG;
    }
    size = (size + 511) & ~511ull; /* other tools see whole sectors only */
    uint64_t l1_entries = div_up(size, l2_span);
    if (l1_entries > QCOW2_MAX_L1_BYTES / 8) {
        vmm_error_set(err, -EFBIG,
                      "A %llu-byte disk is too large for qcow2 with %llu-byte clusters.",
                      (unsigned long long)size, (unsigned long long)cs);
        return -EFBIG;
    }

    /* Layout: header, refcount table (t), refcount blocks (k), L1 table (l). */
    const uint64_t E = cs * 8 / 16;
    uint64_t l = div_up(l1_entries * 8, cs), t = 1, k = 1;
    if (l == 0)
        l = 1;
    for (int i = 0; i < 64; i++) {
        uint64_t total = 1 + t + k + l;
        uint64_t nk = div_up(total, E), nt = div_up(nk * 8, cs);
        if (nk == k && nt == t)
            break;
        k = nk;
        t = nt;
    }
    const uint64_t total = 1 + t + k + l;

    /* Header cluster: fixed fields, extensions, then the backing file name. */
    size_t blen = backing_file ? strlen(backing_file) : 0;
    size_t flen = strlen(fmt);
    size_t fmt_ext = flen ? 8 + ((flen + 7) & ~(size_t)7) : 0;
    size_t feat_ext = 8 + N_FEATURES * 48;
    bool with_features = 112 + fmt_ext + feat_ext + 8 + blen <= cs;
    if (!with_features && 112 + fmt_ext + 8 + blen > cs) {
        vmm_error_set(err, -EINVAL, "The backing file name is too long for %llu-byte clusters.",
                      (unsigned long long)cs);
        return -EINVAL;
    }
    hdr = calloc(1, cs);
    rt = calloc(t, cs);
    blocks = calloc(k, cs);
    if (!hdr || !rt || !blocks) {
        r = -ENOMEM;
        vmm_error_set(err, r, "Out of memory creating %s.", path);
        goto out;
    }
    size_t pos = 112;
    if (flen) {
        qcow2_put_be32(hdr + pos, QCOW2_EXT_BACKING_FORMAT);
        qcow2_put_be32(hdr + pos + 4, (uint32_t)flen);
        memcpy(hdr + pos + 8, fmt, flen);
        pos += fmt_ext;
    }
    if (with_features) {
        qcow2_put_be32(hdr + pos, QCOW2_EXT_FEATURE_TABLE);
        qcow2_put_be32(hdr + pos + 4, (uint32_t)(N_FEATURES * 48));
        for (size_t i = 0; i < N_FEATURES; i++) {
            uint8_t *f = hdr + pos + 8 + i * 48;
            f[0] = feature_names[i].type;
            f[1] = feature_names[i].bit;
            memcpy(f + 2, feature_names[i].name, strlen(feature_names[i].name));
        }
        pos += feat_ext;
    }
    pos += 8; /* end-of-extensions marker: already zero */

    qcow2_put_be32(hdr, QCOW2_MAGIC);
    qcow2_put_be32(hdr + 4, 3);
    if (blen) {
        qcow2_put_be64(hdr + 8, pos);
        qcow2_put_be32(hdr + 16, (uint32_t)blen);
        memcpy(hdr + pos, backing_file, blen);
    }
    qcow2_put_be32(hdr + 20, cluster_bits);
    qcow2_put_be64(hdr + 24, size);
    qcow2_put_be32(hdr + 36, (uint32_t)l1_entries);
    qcow2_put_be64(hdr + 40, (1 + t + k) * cs);
    qcow2_put_be64(hdr + 48, cs);
    qcow2_put_be32(hdr + 56, (uint32_t)t);
    qcow2_put_be32(hdr + 96, 4);    /* refcount_order: 16-bit refcounts */
    qcow2_put_be32(hdr + 100, 112); /* header_length, with compression_type (0: zlib) */

    for (uint64_t j = 0; j < k; j++)
        qcow2_put_be64(rt + j * 8, (1 + t + j) * cs);
    for (uint64_t c = 0; c < total; c++)
        qcow2_put_be16(blocks + c * 2, 1);

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = -errno;
        vmm_error_set(err, r, "Cannot create the disk image %s: %s.", path, strerror(-r));
        goto out;
    }
    r = vmm_pwrite_full(fd, hdr, cs, 0);
    if (r == 0)
        r = vmm_pwrite_full(fd, rt, t * cs, cs);
    if (r == 0)
        r = vmm_pwrite_full(fd, blocks, k * cs, (1 + t) * cs);
    /* The L1 table is all zeros: extending the file is enough. */
    if (r == 0 && ftruncate(fd, (off_t)(total * cs)) < 0)
        r = -errno;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0) {
        vmm_error_set(err, r, "Cannot write the disk image %s: %s.", path, strerror(-r));
        unlink(path);
    }
out:
    free(hdr);
    free(rt);
    free(blocks);
    return r;
}
