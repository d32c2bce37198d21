/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * terrarium-img: disk images from the command line. create, info, check and
 * snapshot, on vmm-core's disk drivers (no QEMU needed).
 *
 * Exit status: 0 on success; 1 with one line on stderr for anything that
 * went wrong (bad usage included); check alone also returns 2 when it found
 * errors and 3 when it found only leaks or unset copied flags (harmless).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm/disk.h"
#include "vmm/vmm.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: terrarium-img COMMAND [options]\n"
            "\n"
            "  create [-f qcow2|raw] [-b BACKING [-F raw|qcow2]] [-c CLUSTER] FILE [SIZE]\n"
            "        a new image; SIZE in bytes or with a suffix (K, M, G, T; powers of 1024),\n"
            "        optional with a backing file (then it defaults to the backing file's size)\n"
            "  info [-f FMT] [--json] FILE\n"
            "        format, sizes, backing file and snapshots\n"
            "  check [-f FMT] FILE\n"
            "        consistency check of a qcow2 image (reference counts against references)\n"
            "  snapshot [-f FMT] -l|-c NAME|-a NAME|-d NAME FILE\n"
            "        list, create, apply (revert the disk to) or delete internal snapshots\n"
            "\n"
            "Exit status: 0 success, 1 failure (one line on stderr). check: 2 errors found,\n"
            "3 only leaked clusters or unset copied flags found (harmless; qemu-img check -r\n"
            "leaks reclaims leaks).\n");
}

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int die(const char *fmt, ...)
{
    va_list ap;
    fputs("terrarium-img: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* "20G", "512M", "1048576", "4KiB": bytes, powers of 1024. -1 on anything else. */
static int parse_size(const char *s, uint64_t *out)
{
    static const char units[] = "KMGTPE";
    char *end;

    if (!s[0] || s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    if (*end) {
        const char *u = strchr(units, end[0] & ~0x20);
        if (!u || !end[0])
            return -1;
        shift = 10 * (unsigned)(u - units + 1);
        end++;
        if (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "ib") || !strcmp(end, "b"))
            end += strlen(end);
        if (*end)
            return -1;
    }
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static const char *human(uint64_t v, char *buf, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    unsigned u = 0;
    double d = (double)v;
    while (d >= 1024 && u < 6) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 " B", v);
    else if (d == (double)(uint64_t)d)
        snprintf(buf, len, "%.0f %s", d, units[u]);
    else
        snprintf(buf, len, "%.3g %s", d, units[u]);
    return buf;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    uint32_t c;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2;
        c = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        c = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return n;
}

/* Prints a string from an image for people: control characters and bad UTF-8 become '?'. */
static void put_text(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
            fputc('?', f);
            p++;
        } else {
            fwrite(p, 1, n, f);
            p += n;
        }
    }
}

/* A JSON string: escapes, and U+FFFD for bytes that are not UTF-8. */
static void put_json(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
        } else if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p++);
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(f, "\\u%04x", *p++);
        } else {
            fwrite(p, 1, n, f);
            p += n;
        }
    }
    fputc('"', f);
}

static unsigned format_flag(const char *fmt, int *bad)
{
    *bad = 0;
    if (!fmt)
        return 0;
    if (!strcmp(fmt, "qcow2"))
        return VMM_DISK_FORMAT_QCOW2;
    if (!strcmp(fmt, "raw"))
        return VMM_DISK_FORMAT_RAW;
    *bad = 1;
    return 0;
}

static struct vmm_disk *open_image(const char *path, const char *fmt, bool rw)
{
    struct vmm_error err = {0};
    int bad;
    unsigned flags = format_flag(fmt, &bad) | (rw ? 0 : VMM_DISK_RDONLY);
    if (bad) {
        die("Unknown image format \"%s\" (use qcow2 or raw).", fmt);
        return NULL;
    }
    struct vmm_disk *d = vmm_disk_open(path, flags, &err);
    if (!d)
        die("%s", err.msg[0] ? err.msg : "Cannot open the disk image.");
    return d;
}

/* ---- create ---- */

static int create_raw(const char *path, uint64_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return die("Cannot create %s: %s.", path, strerror(errno));
    if (size > INT64_MAX || ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0) {
        int e = size > INT64_MAX ? EFBIG : errno;
        close(fd);
        unlink(path);
        return die("Cannot make %s %" PRIu64 " bytes long: %s.", path, size, strerror(e));
    }
    close(fd);
    return 0;
}

static int cmd_create(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    const char *fmt = "qcow2", *backing = NULL, *backing_fmt = NULL, *cluster = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "+f:b:F:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'b':
            backing = optarg;
            break;
        case 'F':
            backing_fmt = optarg;
            break;
        case 'c':
            cluster = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return die("create: unknown option or missing value (%s); see terrarium-img --help.",
                       argv[optind - 1]);
        }
    }
    int left = argc - optind;
    if (left < 1 || left > 2)
        return die("create needs a file name and a size: terrarium-img create FILE SIZE.");
    const char *path = argv[optind];
    uint64_t size = 0;
    if (left == 2 && parse_size(argv[optind + 1], &size) < 0)
        return die("\"%s\" is not a size; write it like 20G, 512M or 1048576.", argv[optind + 1]);
    if (left == 1 && !backing)
        return die("create needs a size (or a backing file to take it from).");
    if (backing_fmt && !backing)
        return die("-F names the backing file's format; it needs -b BACKING.");
    if (!strcmp(fmt, "raw")) {
        if (backing)
            return die("Raw images cannot have a backing file; use -f qcow2.");
        if (cluster)
            return die("Raw images have no clusters; -c applies to qcow2 only.");
        return create_raw(path, size);
    }
    if (strcmp(fmt, "qcow2"))
        return die("Unknown image format \"%s\" (use qcow2 or raw).", fmt);
    unsigned cbits = 0;
    if (cluster) {
        uint64_t cs;
        if (parse_size(cluster, &cs) < 0 || cs < 512 || cs > (2u << 20) || (cs & (cs - 1)))
            return die("The cluster size must be a power of two from 512 to 2M (got \"%s\").",
                       cluster);
        while ((1ull << cbits) < cs)
            cbits++;
    }
    struct vmm_error err = {0};
    if (vmm_qcow2_create(path, size, cbits, backing, backing_fmt, &err) < 0)
        return die("%s", err.msg);
    return 0;
}

/* ---- info ---- */

static void print_snapshots_table(const struct vmm_disk_snapshot *l, size_t n)
{
    char vs[32];
    printf("Snapshot list:\n%-8s %-24s %10s %-19s %s\n", "ID", "TAG", "VM SIZE", "DATE",
           "VM CLOCK");
    for (size_t i = 0; i < n; i++) {
        time_t t = (time_t)l[i].date_sec;
        struct tm tm;
        char date[32] = "";
        if (localtime_r(&t, &tm))
            strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
        uint64_t ms = l[i].vm_clock_nsec / 1000000;
        put_text(stdout, l[i].id);
        printf("%*s ", (int)(strlen(l[i].id) < 8 ? 8 - strlen(l[i].id) : 0), "");
        put_text(stdout, l[i].name);
        printf("%*s ", (int)(strlen(l[i].name) < 24 ? 24 - strlen(l[i].name) : 0), "");
        printf("%10s %-19s %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64 "\n",
               human(l[i].vm_state_size, vs, sizeof(vs)), date, ms / 3600000, ms / 60000 % 60,
               ms / 1000 % 60, ms % 1000);
    }
}

static int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *fmt = NULL;
    bool json = false;
    int c;

    while ((c = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
        if (c == 'f')
            fmt = optarg;
        else if (c == 'j')
            json = true;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else
            return die("info: unknown option or missing value (%s); see terrarium-img --help.",
                       argv[optind - 1]);
    }
    if (argc - optind != 1)
        return die("info needs exactly one file name: terrarium-img info [--json] FILE.");
    const char *path = argv[optind];
    struct vmm_disk *d = open_image(path, fmt, false);
    if (!d)
        return 1;
    struct vmm_disk_info info;
    struct vmm_disk_snapshot *snaps = NULL;
    size_t n = 0;
    struct stat st;
    vmm_disk_get_info(d, &info);
    uint64_t actual = stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
    if (info.format == VMM_DISK_QCOW2) {
        struct vmm_error err = {0};
        if (vmm_disk_snapshot_list(d, &snaps, &n, &err) < 0) {
            vmm_disk_close(d);
            return die("%s", err.msg);
        }
    }
    const char *fname = vmm_disk_format_name(info.format);
    if (json) {
        printf("{\n  \"filename\": ");
        put_json(stdout, path);
        printf(",\n  \"format\": \"%s\",\n  \"virtual-size\": %" PRIu64
               ",\n  \"actual-size\": %" PRIu64,
               fname, info.virtual_size, actual);
        if (info.format == VMM_DISK_QCOW2) {
            printf(",\n  \"cluster-size\": %u,\n  \"qcow2-version\": %u,\n  \"refcount-bits\": "
                   "%u,\n  \"compression-type\": \"%s\"",
                   info.cluster_size, info.qcow2_version, info.refcount_bits, info.compression);
            if (info.has_backing) {
                printf(",\n  \"backing-filename\": ");
                put_json(stdout, info.backing_file);
                if (info.backing_format[0]) {
                    printf(",\n  \"backing-filename-format\": ");
                    put_json(stdout, info.backing_format);
                }
            }
            printf(",\n  \"snapshots\": [");
            for (size_t i = 0; i < n; i++) {
                printf("%s\n    {\"id\": ", i ? "," : "");
                put_json(stdout, snaps[i].id);
                printf(", \"name\": ");
                put_json(stdout, snaps[i].name);
                printf(", \"date-sec\": %" PRIu64 ", \"date-nsec\": %u, \"vm-clock-nsec\": %" PRIu64
                       ", \"vm-state-size\": %" PRIu64 ", \"disk-size\": %" PRIu64 "}",
                       snaps[i].date_sec, snaps[i].date_nsec, snaps[i].vm_clock_nsec,
                       snaps[i].vm_state_size, snaps[i].disk_size);
            }
            printf("%s]", n ? "\n  " : "");
        }
        if (info.error[0]) {
            printf(",\n  \"error\": ");
            put_json(stdout, info.error);
        }
        printf("\n}\n");
    } else {
        char a[32], b[32];
        printf("image: ");
        put_text(stdout, path);
        printf("\nfile format: %s\nvirtual size: %s (%" PRIu64 " bytes)\ndisk size: %s\n", fname,
               human(info.virtual_size, a, sizeof(a)), info.virtual_size,
               human(actual, b, sizeof(b)));
        if (info.format == VMM_DISK_QCOW2) {
            printf("cluster_size: %u\n", info.cluster_size);
            if (info.has_backing) {
                printf("backing file: ");
                put_text(stdout, info.backing_file);
                if (info.backing_format[0]) {
                    printf("\nbacking file format: ");
                    put_text(stdout, info.backing_format);
                }
                printf("\n");
            }
            printf("qcow2 version: %u\nrefcount bits: %u\ncompression type: %s\n",
                   info.qcow2_version, info.refcount_bits, info.compression);
            if (n)
                print_snapshots_table(snaps, n);
        }
        if (info.error[0])
            printf("error: %s\n", info.error);
    }
    vmm_disk_snapshot_list_free(snaps, n);
    vmm_disk_close(d);
    return 0;
}

/* ---- check ---- */

static int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    const char *fmt = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
        if (c == 'f')
            fmt = optarg;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else
            return die("check: unknown option or missing value (%s); see terrarium-img --help.",
                       argv[optind - 1]);
    }
    if (argc - optind != 1)
        return die("check needs exactly one file name: terrarium-img check FILE.");
    const char *path = argv[optind];
    struct vmm_disk *d = open_image(path, fmt, false);
    if (!d)
        return 1;
    struct vmm_disk_info info;
    vmm_disk_get_info(d, &info);
    if (info.format != VMM_DISK_QCOW2) {
        vmm_disk_close(d);
        return die("%s is a %s image; only qcow2 images can be checked.", path,
                   vmm_disk_format_name(info.format));
    }
    struct vmm_qcow2_check res;
    int r = vmm_qcow2_check(d, &res);
    vmm_disk_close(d);
    if (r < 0 && res.first_error[0])
        return die("Cannot check %s: %s", path, res.first_error);
    if (r < 0)
        return die("Cannot check %s: %s.", path, strerror(-r));
    if (res.errors) {
        printf("%" PRIu64 " errors were found on the image; the first: %s\n", res.errors,
               res.first_error);
        printf("Data may be corrupted, or further writes to the image may corrupt it.\n");
    }
    if (res.leaks)
        printf("%" PRIu64 " leaked clusters were found on the image.\nThis means waste of disk "
               "space, but no harm to data.\n",
               res.leaks);
    if (res.copied_unset)
        printf("%" PRIu64 " clusters have an unset copied flag (left by an interrupted "
               "snapshot operation; harmless).\n",
               res.copied_unset);
    if (!res.errors && !res.leaks && !res.copied_unset)
        printf("No errors were found on the image.\n");
    printf("%" PRIu64 " clusters examined.\n", res.clusters);
    return res.errors ? 2 : (res.leaks || res.copied_unset) ? 3 : 0;
}

/* ---- snapshot ---- */

static int cmd_snapshot(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    const char *fmt = NULL, *name = NULL;
    int c, action = 0, actions = 0;

    while ((c = getopt_long(argc, argv, "+f:lc:a:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'l':
            action = c;
            actions++;
            break;
        case 'c':
        case 'a':
        case 'd':
            action = c;
            actions++;
            name = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return die("snapshot: unknown option or missing value (%s); see terrarium-img --help.",
                       argv[optind - 1]);
        }
    }
    if (actions != 1)
        return die("snapshot needs exactly one of -l, -c NAME, -a NAME or -d NAME.");
    if (argc - optind != 1)
        return die("snapshot needs exactly one file name: terrarium-img snapshot -l FILE.");
    const char *path = argv[optind];
    struct vmm_disk *d = open_image(path, fmt, action != 'l');
    if (!d)
        return 1;
    struct vmm_error err = {0};
    int r;
    if (action == 'l') {
        struct vmm_disk_snapshot *l;
        size_t n;
        r = vmm_disk_snapshot_list(d, &l, &n, &err);
        if (r == 0) {
            if (n)
                print_snapshots_table(l, n);
            vmm_disk_snapshot_list_free(l, n);
        }
    } else if (action == 'c') {
        r = vmm_disk_snapshot_create(d, name, 0, &err);
    } else if (action == 'a') {
        r = vmm_disk_snapshot_apply(d, name, &err);
    } else {
        r = vmm_disk_snapshot_delete(d, name, &err);
    }
    vmm_disk_close(d);
    if (r < 0)
        return die("%s", err.msg[0] ? err.msg : strerror(-r));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return die("no command given; try terrarium-img --help.");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    opterr = 0; /* one line of our own instead of getopt's */
    /* The sentences the driver logs reach the user through our own messages. */
    vmm_log_set_level(-1);
    optind = 1;
    argc--;
    argv++;
    if (!strcmp(cmd, "create"))
        return cmd_create(argc, argv);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc, argv);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc, argv);
    if (!strcmp(cmd, "snapshot"))
        return cmd_snapshot(argc, argv);
    return die("unknown command \"%s\"; the commands are create, info, check and snapshot.", cmd);
}
