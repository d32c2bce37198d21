/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A machine definition: machine.ini in the machine's directory (GKeyFile).
 * Everything read from the file is checked here, so the rest of the app can
 * trust a machine that is not broken; a broken one keeps a sentence saying why.
 */
#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "trm-error.h"
#include "trm-machine.h"

#define GROUP_MACHINE "Machine"
#define GROUP_BOOT "Boot"
#define GROUP_NETWORK "Network"
#define GROUP_DRIVE_PREFIX "Drive "
#define DEFAULT_MEMORY_MIB 2048
#define DEFAULT_CPUS 2

struct _TrmMachine {
    GObject parent_instance;
    char *dir;
    char *uuid;
    char *broken;
    char *name;
    char *os_id;
    char *os_name;
    guint memory_mib;
    guint cpus;
    gboolean live;
    gboolean try_mode;
    gboolean has_mac;
    guint8 mac[6];
    TrmBootKind boot;
    char *kernel;
    char *initrd;
    char *cmdline;
    GArray *drives;   /* TrmDrive */
    GArray *forwards; /* TrmForward */
    TrmMachineState state;
    char *failure;
    GBytes *thumbnail;
};

G_DEFINE_FINAL_TYPE(TrmMachine, trm_machine, G_TYPE_OBJECT)

enum {
    PROP_0,
    PROP_UUID,
    PROP_NAME,
    PROP_OS_NAME,
    PROP_STATE,
    PROP_FAILURE,
    PROP_BROKEN,
    PROP_THUMBNAIL,
    N_PROPS,
};

static GParamSpec *props[N_PROPS];

GQuark trm_error_quark(void)
{
    return g_quark_from_static_string("trm-error-quark");
}

static void drive_clear(gpointer p)
{
    TrmDrive *d = p;
    g_free(d->path);
}

static void trm_machine_finalize(GObject *object)
{
    TrmMachine *self = TRM_MACHINE(object);
    g_free(self->dir);
    g_free(self->uuid);
    g_free(self->broken);
    g_free(self->name);
    g_free(self->os_id);
    g_free(self->os_name);
    g_free(self->kernel);
    g_free(self->initrd);
    g_free(self->cmdline);
    g_array_unref(self->drives);
    g_array_unref(self->forwards);
    g_free(self->failure);
    g_clear_pointer(&self->thumbnail, g_bytes_unref);
    G_OBJECT_CLASS(trm_machine_parent_class)->finalize(object);
}

static void trm_machine_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    TrmMachine *self = TRM_MACHINE(object);
    switch (id) {
    case PROP_UUID:
        g_value_set_string(value, self->uuid);
        break;
    case PROP_NAME:
        g_value_set_string(value, self->name);
        break;
    case PROP_OS_NAME:
        g_value_set_string(value, self->os_name);
        break;
    case PROP_STATE:
        g_value_set_int(value, self->state);
        break;
    case PROP_FAILURE:
        g_value_set_string(value, self->failure);
        break;
    case PROP_BROKEN:
        g_value_set_string(value, self->broken);
        break;
    case PROP_THUMBNAIL:
        g_value_set_boxed(value, self->thumbnail);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void trm_machine_class_init(TrmMachineClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    object_class->finalize = trm_machine_finalize;
    object_class->get_property = trm_machine_get_property;
    GParamFlags f = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
    props[PROP_UUID] = g_param_spec_string("uuid", NULL, NULL, NULL, f);
    props[PROP_NAME] = g_param_spec_string("name", NULL, NULL, NULL, f);
    props[PROP_OS_NAME] = g_param_spec_string("os-name", NULL, NULL, NULL, f);
    props[PROP_STATE] = g_param_spec_int("state", NULL, NULL, 0, TRM_MACHINE_STATE_FAILED,
                                         TRM_MACHINE_STATE_OFF, f);
    props[PROP_FAILURE] = g_param_spec_string("failure", NULL, NULL, NULL, f);
    props[PROP_BROKEN] = g_param_spec_string("broken-reason", NULL, NULL, NULL, f);
    props[PROP_THUMBNAIL] = g_param_spec_boxed("thumbnail", NULL, NULL, G_TYPE_BYTES, f);
    g_object_class_install_properties(object_class, N_PROPS, props);
}

static void trm_machine_init(TrmMachine *self)
{
    self->drives = g_array_new(FALSE, TRUE, sizeof(TrmDrive));
    g_array_set_clear_func(self->drives, drive_clear);
    self->forwards = g_array_new(FALSE, TRUE, sizeof(TrmForward));
    self->memory_mib = DEFAULT_MEMORY_MIB;
    self->cpus = DEFAULT_CPUS;
}

TrmMachine *trm_machine_new(const char *dir, const char *uuid)
{
    TrmMachine *self = g_object_new(TRM_TYPE_MACHINE, NULL);
    self->dir = g_strdup(dir);
    self->uuid = g_strdup(uuid);
    self->name = g_strdup(_("New machine"));
    return self;
}

static gboolean set_str(char **field, const char *value)
{
    if (g_strcmp0(*field, value) == 0)
        return FALSE;
    g_free(*field);
    *field = g_strdup(value);
    return TRUE;
}

/* A name is shown everywhere: one line of valid UTF-8, not empty, not huge. */
static gboolean valid_name(const char *name)
{
    if (!name || !g_utf8_validate(name, -1, NULL))
        return FALSE;
    g_autofree char *stripped = g_strstrip(g_strdup(name));
    if (!*stripped || g_utf8_strlen(name, -1) > TRM_MAX_NAME_LEN)
        return FALSE;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20)
            return FALSE;
    return TRUE;
}

/* Paths we hand to vmm-core: valid strings without control characters. */
static gboolean valid_path(const char *path)
{
    if (!path || !*path || strlen(path) > 4096 || !g_utf8_validate(path, -1, NULL))
        return FALSE;
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20)
            return FALSE;
    return TRUE;
}

static gboolean broken(GError **error, const char *what)
{
    g_set_error(error, TRM_ERROR, TRM_ERROR_BROKEN,
                _("The machine's settings file is damaged (%s). Delete the machine or restore "
                  "machine.ini from a backup."),
                what);
    return FALSE;
}

static gboolean read_uint(GKeyFile *kf, const char *group, const char *key, guint min, guint max,
                          guint *out, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *s = g_key_file_get_string(kf, group, key, &local);
    if (!s) {
        g_autofree char *what = g_strdup_printf(_("%s is missing"), key);
        return broken(error, what);
    }
    guint64 v;
    if (!g_ascii_string_to_unsigned(g_strstrip(s), 10, min, max, &v, NULL)) {
        g_autofree char *what =
            g_strdup_printf(_("%s must be a number from %u to %u"), key, min, max);
        return broken(error, what);
    }
    *out = (guint)v;
    return TRUE;
}

static gboolean read_bool(GKeyFile *kf, const char *group, const char *key, gboolean *out,
                          GError **error)
{
    if (!g_key_file_has_key(kf, group, key, NULL)) {
        *out = FALSE;
        return TRUE;
    }
    g_autoptr(GError) local = NULL;
    gboolean v = g_key_file_get_boolean(kf, group, key, &local);
    if (local) {
        g_autofree char *what = g_strdup_printf(_("%s must be true or false"), key);
        return broken(error, what);
    }
    *out = v;
    return TRUE;
}

static char *read_opt_string(GKeyFile *kf, const char *group, const char *key)
{
    char *s = g_key_file_get_string(kf, group, key, NULL);
    if (s && (!*s || !g_utf8_validate(s, -1, NULL))) {
        g_free(s);
        return NULL;
    }
    return s;
}

static gboolean parse_forward(const char *spec, TrmForward *fw)
{
    g_auto(GStrv) parts = g_strsplit(spec, ":", -1);
    if (g_strv_length(parts) != 3)
        return FALSE;
    if (strcmp(parts[0], "tcp") == 0)
        fw->udp = FALSE;
    else if (strcmp(parts[0], "udp") == 0)
        fw->udp = TRUE;
    else
        return FALSE;
    guint64 h, g;
    if (!g_ascii_string_to_unsigned(parts[1], 10, 1, 65535, &h, NULL) ||
        !g_ascii_string_to_unsigned(parts[2], 10, 1, 65535, &g, NULL))
        return FALSE;
    fw->host_port = (guint16)h;
    fw->guest_port = (guint16)g;
    return TRUE;
}

static gboolean load_drives(TrmMachine *self, GKeyFile *kf, GError **error)
{
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (guint i = 0; groups[i]; i++) {
        if (!g_str_has_prefix(groups[i], GROUP_DRIVE_PREFIX))
            continue;
        if (self->drives->len >= TRM_MAX_DRIVES) {
            g_autofree char *what = g_strdup_printf(_("more than %d drives"), TRM_MAX_DRIVES);
            return broken(error, what);
        }
        TrmDrive d = {0};
        d.path = read_opt_string(kf, groups[i], "Path");
        if (!valid_path(d.path)) {
            g_free(d.path);
            return broken(error, _("a drive has no usable path"));
        }
        g_autofree char *media = read_opt_string(kf, groups[i], "Media");
        g_autofree char *bus = read_opt_string(kf, groups[i], "Bus");
        if (!media || strcmp(media, "disk") == 0)
            d.cdrom = FALSE;
        else if (strcmp(media, "cdrom") == 0)
            d.cdrom = TRUE;
        else {
            g_free(d.path);
            return broken(error, _("a drive's Media must be disk or cdrom"));
        }
        if (!bus || strcmp(bus, "ide") == 0)
            d.virtio = FALSE;
        else if (strcmp(bus, "virtio") == 0)
            d.virtio = TRUE;
        else {
            g_free(d.path);
            return broken(error, _("a drive's Bus must be ide or virtio"));
        }
        if (!read_bool(kf, groups[i], "ReadOnly", &d.readonly, error)) {
            g_free(d.path);
            return FALSE;
        }
        d.readonly = d.readonly || d.cdrom;
        g_array_append_val(self->drives, d);
    }
    return TRUE;
}

gboolean trm_machine_load_from_data(TrmMachine *self, const char *data, gsize len, GError **error)
{
    if (len > TRM_MACHINE_INI_MAX)
        return broken(error, _("the file is too large"));
    if (memchr(data, '\0', len))
        return broken(error, _("the file is not text"));
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, NULL))
        return broken(error, _("it is not a settings file"));
    if (!g_key_file_has_group(kf, GROUP_MACHINE))
        return broken(error, _("the [Machine] section is missing"));

    g_autofree char *name = g_key_file_get_string(kf, GROUP_MACHINE, "Name", NULL);
    if (!valid_name(name))
        return broken(error, _("the name is missing or unusable"));
    g_autofree char *uuid = g_key_file_get_string(kf, GROUP_MACHINE, "Uuid", NULL);
    if (uuid && self->uuid && g_ascii_strcasecmp(uuid, self->uuid) != 0)
        return broken(error, _("its identifier does not match its folder"));

    guint mem, cpus;
    if (!read_uint(kf, GROUP_MACHINE, "MemoryMiB", TRM_MIN_MEMORY_MIB, TRM_MAX_MEMORY_MIB, &mem,
                   error))
        return FALSE;
    if (!read_uint(kf, GROUP_MACHINE, "Cpus", 1, TRM_MAX_CPUS, &cpus, error))
        return FALSE;
    gboolean live, try_mode;
    if (!read_bool(kf, GROUP_MACHINE, "Live", &live, error))
        return FALSE;
    if (!read_bool(kf, GROUP_MACHINE, "TryMode", &try_mode, error))
        return FALSE;
    guint8 mac[6];
    g_autofree char *mac_text = read_opt_string(kf, GROUP_NETWORK, "Mac");
    if (mac_text && !trm_machine_parse_mac(mac_text, mac))
        return broken(error, _("the MAC address is not of the form 52:54:00:12:34:56"));

    TrmBootKind boot = TRM_BOOT_FIRMWARE;
    g_autofree char *fw = read_opt_string(kf, GROUP_BOOT, "Firmware");
    g_autofree char *kernel = read_opt_string(kf, GROUP_BOOT, "Kernel");
    g_autofree char *initrd = read_opt_string(kf, GROUP_BOOT, "Initrd");
    g_autofree char *cmdline = read_opt_string(kf, GROUP_BOOT, "Cmdline");
    if (!fw || strcmp(fw, "bios") == 0)
        boot = TRM_BOOT_FIRMWARE;
    else if (strcmp(fw, "kernel") == 0)
        boot = TRM_BOOT_KERNEL;
    else
        return broken(error, _("Firmware must be bios or kernel"));
    if (boot == TRM_BOOT_KERNEL && !valid_path(kernel))
        return broken(error, _("a kernel boot names no kernel"));
    if ((initrd && !valid_path(initrd)) || (cmdline && strlen(cmdline) > 4096))
        return broken(error, _("the initrd or command line is unusable"));

    trm_machine_clear_drives(self);
    g_array_set_size(self->forwards, 0);
    if (!load_drives(self, kf, error))
        return FALSE;
    if (g_key_file_has_key(kf, GROUP_NETWORK, "Forwards", NULL)) {
        gsize n = 0;
        g_auto(GStrv) fws = g_key_file_get_string_list(kf, GROUP_NETWORK, "Forwards", &n, NULL);
        if (n > TRM_MAX_FORWARDS)
            return broken(error, _("too many port forwards"));
        for (gsize i = 0; fws && i < n; i++) {
            TrmForward f;
            if (!parse_forward(fws[i], &f))
                return broken(error, _("a port forward is not of the form tcp:HOST:GUEST"));
            g_array_append_val(self->forwards, f);
        }
    }

    set_str(&self->name, g_strstrip(name));
    g_autofree char *os_id = read_opt_string(kf, GROUP_MACHINE, "OsId");
    g_autofree char *os_name = read_opt_string(kf, GROUP_MACHINE, "OsName");
    set_str(&self->os_id, os_id);
    set_str(&self->os_name, os_name);
    self->memory_mib = mem;
    self->cpus = cpus;
    self->live = live;
    self->try_mode = try_mode;
    self->has_mac = mac_text != NULL;
    if (mac_text)
        memcpy(self->mac, mac, sizeof(mac));
    self->boot = boot;
    set_str(&self->kernel, boot == TRM_BOOT_KERNEL ? kernel : NULL);
    set_str(&self->initrd, boot == TRM_BOOT_KERNEL ? initrd : NULL);
    set_str(&self->cmdline, boot == TRM_BOOT_KERNEL ? cmdline : NULL);
    g_clear_pointer(&self->broken, g_free);
    return TRUE;
}

char *trm_machine_to_data(TrmMachine *self, gsize *len)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_string(kf, GROUP_MACHINE, "Name", self->name);
    if (self->uuid)
        g_key_file_set_string(kf, GROUP_MACHINE, "Uuid", self->uuid);
    if (self->os_id)
        g_key_file_set_string(kf, GROUP_MACHINE, "OsId", self->os_id);
    if (self->os_name)
        g_key_file_set_string(kf, GROUP_MACHINE, "OsName", self->os_name);
    g_key_file_set_uint64(kf, GROUP_MACHINE, "MemoryMiB", self->memory_mib);
    g_key_file_set_uint64(kf, GROUP_MACHINE, "Cpus", self->cpus);
    g_key_file_set_boolean(kf, GROUP_MACHINE, "Live", self->live);
    if (self->try_mode)
        g_key_file_set_boolean(kf, GROUP_MACHINE, "TryMode", TRUE);
    if (self->has_mac) {
        g_autofree char *mac = trm_machine_dup_mac_string(self);
        g_key_file_set_string(kf, GROUP_NETWORK, "Mac", mac);
    }
    g_key_file_set_string(kf, GROUP_BOOT, "Firmware",
                          self->boot == TRM_BOOT_KERNEL ? "kernel" : "bios");
    if (self->kernel)
        g_key_file_set_string(kf, GROUP_BOOT, "Kernel", self->kernel);
    if (self->initrd)
        g_key_file_set_string(kf, GROUP_BOOT, "Initrd", self->initrd);
    if (self->cmdline)
        g_key_file_set_string(kf, GROUP_BOOT, "Cmdline", self->cmdline);
    for (guint i = 0; i < self->drives->len; i++) {
        const TrmDrive *d = &g_array_index(self->drives, TrmDrive, i);
        g_autofree char *group = g_strdup_printf(GROUP_DRIVE_PREFIX "%u", i);
        g_key_file_set_string(kf, group, "Path", d->path);
        g_key_file_set_string(kf, group, "Media", d->cdrom ? "cdrom" : "disk");
        g_key_file_set_string(kf, group, "Bus", d->virtio ? "virtio" : "ide");
        g_key_file_set_boolean(kf, group, "ReadOnly", d->readonly);
    }
    if (self->forwards->len) {
        g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < self->forwards->len; i++) {
            const TrmForward *f = &g_array_index(self->forwards, TrmForward, i);
            g_ptr_array_add(list, g_strdup_printf("%s:%u:%u", f->udp ? "udp" : "tcp", f->host_port,
                                                  f->guest_port));
        }
        g_key_file_set_string_list(kf, GROUP_NETWORK, "Forwards", (const char *const *)list->pdata,
                                   list->len);
    }
    return g_key_file_to_data(kf, len, NULL);
}

char *trm_machine_dup_ini_path(TrmMachine *self)
{
    return g_build_filename(self->dir, "machine.ini", NULL);
}

char *trm_machine_dup_log_path(TrmMachine *self)
{
    return g_build_filename(self->dir, "machine.log", NULL);
}

char *trm_machine_dup_thumbnail_path(TrmMachine *self)
{
    return g_build_filename(self->dir, "thumbnail.png", NULL);
}

TrmMachine *trm_machine_load(const char *dir)
{
    g_autofree char *base = g_path_get_basename(dir);
    TrmMachine *self = trm_machine_new(dir, base);
    g_autofree char *path = trm_machine_dup_ini_path(self);
    g_autoptr(GError) error = NULL;
    g_autofree char *data = NULL;
    gsize len = 0;
    GStatBuf st;
    if (g_stat(path, &st) != 0) {
        self->broken = g_strdup(_("The machine's settings file machine.ini is missing."));
    } else if (!S_ISREG(st.st_mode) || st.st_size > TRM_MACHINE_INI_MAX) {
        self->broken = g_strdup(_("The machine's settings file is not a small regular file."));
    } else if (!g_file_get_contents(path, &data, &len, &error)) {
        self->broken =
            g_strdup_printf(_("The machine's settings cannot be read: %s"), error->message);
    } else if (!trm_machine_load_from_data(self, data, len, &error)) {
        self->broken = g_strdup(error->message);
    }
    if (self->broken)
        set_str(&self->name, base);
    return self;
}

gboolean trm_machine_save(TrmMachine *self, GError **error)
{
    if (g_mkdir_with_parents(self->dir, 0700) != 0) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                    _("Cannot create the folder %s: %s"), self->dir, g_strerror(e));
        return FALSE;
    }
    gsize len;
    g_autofree char *data = trm_machine_to_data(self, &len);
    g_autofree char *path = trm_machine_dup_ini_path(self);
    if (!g_file_set_contents_full(path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
        return FALSE;
    g_clear_pointer(&self->broken, g_free);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_BROKEN]);
    return TRUE;
}

const char *trm_machine_get_uuid(TrmMachine *self)
{
    return self->uuid;
}

const char *trm_machine_get_dir(TrmMachine *self)
{
    return self->dir;
}

const char *trm_machine_get_broken_reason(TrmMachine *self)
{
    return self->broken;
}

const char *trm_machine_get_name(TrmMachine *self)
{
    return self->name;
}

void trm_machine_set_name(TrmMachine *self, const char *name)
{
    if (valid_name(name) && set_str(&self->name, name)) {
        g_strstrip(self->name);
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_NAME]);
    }
}

const char *trm_machine_get_os_id(TrmMachine *self)
{
    return self->os_id;
}

const char *trm_machine_get_os_name(TrmMachine *self)
{
    return self->os_name;
}

void trm_machine_set_os(TrmMachine *self, const char *os_id, const char *os_name)
{
    set_str(&self->os_id, os_id);
    if (set_str(&self->os_name, os_name))
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_OS_NAME]);
}

guint trm_machine_get_memory_mib(TrmMachine *self)
{
    return self->memory_mib;
}

void trm_machine_set_memory_mib(TrmMachine *self, guint mib)
{
    self->memory_mib = CLAMP(mib, TRM_MIN_MEMORY_MIB, TRM_MAX_MEMORY_MIB);
}

guint trm_machine_get_cpus(TrmMachine *self)
{
    return self->cpus;
}

void trm_machine_set_cpus(TrmMachine *self, guint cpus)
{
    self->cpus = CLAMP(cpus, 1, TRM_MAX_CPUS);
}

gboolean trm_machine_get_live(TrmMachine *self)
{
    return self->live;
}

void trm_machine_set_live(TrmMachine *self, gboolean live)
{
    self->live = live;
}

gboolean trm_machine_get_try_mode(TrmMachine *self)
{
    return self->try_mode;
}

void trm_machine_set_try_mode(TrmMachine *self, gboolean try_mode)
{
    self->try_mode = try_mode;
}

gboolean trm_machine_parse_mac(const char *text, guint8 mac[6])
{
    guint8 out[6];
    for (int i = 0; i < 6; i++) {
        const char *p = text + i * 3;
        if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]) || p[2] != (i < 5 ? ':' : '\0'))
            return FALSE;
        out[i] = (guint8)(g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));
    }
    /* A card's own address: unicast, never all zeros. */
    if ((out[0] & 1) || !(out[0] | out[1] | out[2] | out[3] | out[4] | out[5]))
        return FALSE;
    memcpy(mac, out, sizeof(out));
    return TRUE;
}

gboolean trm_machine_get_mac(TrmMachine *self, guint8 mac[6])
{
    if (self->has_mac)
        memcpy(mac, self->mac, sizeof(self->mac));
    return self->has_mac;
}

char *trm_machine_dup_mac_string(TrmMachine *self)
{
    if (!self->has_mac)
        return NULL;
    const guint8 *m = self->mac;
    return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

void trm_machine_new_mac(TrmMachine *self)
{
    /* QEMU's 52:54:00 prefix (locally administered, unicast), three random bytes. */
    guint32 r = g_random_int();
    guint8 mac[6] = {0x52, 0x54, 0x00, (guint8)(r >> 16), (guint8)(r >> 8), (guint8)r};
    if (self->has_mac && !memcmp(mac, self->mac, sizeof(mac)))
        mac[5] ^= 1;
    memcpy(self->mac, mac, sizeof(mac));
    self->has_mac = TRUE;
}

TrmBootKind trm_machine_get_boot(TrmMachine *self)
{
    return self->boot;
}

const char *trm_machine_get_kernel(TrmMachine *self)
{
    return self->kernel;
}

const char *trm_machine_get_initrd(TrmMachine *self)
{
    return self->initrd;
}

const char *trm_machine_get_cmdline(TrmMachine *self)
{
    return self->cmdline;
}

void trm_machine_set_kernel_boot(TrmMachine *self, const char *kernel, const char *initrd,
                                 const char *cmdline)
{
    self->boot = TRM_BOOT_KERNEL;
    set_str(&self->kernel, kernel);
    set_str(&self->initrd, initrd && *initrd ? initrd : NULL);
    set_str(&self->cmdline, cmdline && *cmdline ? cmdline : NULL);
}

void trm_machine_set_firmware_boot(TrmMachine *self)
{
    self->boot = TRM_BOOT_FIRMWARE;
    g_clear_pointer(&self->kernel, g_free);
    g_clear_pointer(&self->initrd, g_free);
    g_clear_pointer(&self->cmdline, g_free);
}

guint trm_machine_get_n_drives(TrmMachine *self)
{
    return self->drives->len;
}

const TrmDrive *trm_machine_get_drive(TrmMachine *self, guint i)
{
    g_return_val_if_fail(i < self->drives->len, NULL);
    return &g_array_index(self->drives, TrmDrive, i);
}

char *trm_machine_dup_drive_path(TrmMachine *self, guint i)
{
    const TrmDrive *d = trm_machine_get_drive(self, i);
    if (!d)
        return NULL;
    if (g_path_is_absolute(d->path))
        return g_strdup(d->path);
    return g_build_filename(self->dir, d->path, NULL);
}

gboolean trm_machine_add_drive(TrmMachine *self, const char *path, gboolean cdrom,
                               gboolean readonly, GError **error)
{
    if (self->drives->len >= TRM_MAX_DRIVES) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID, _("A machine can have at most %d drives."),
                    TRM_MAX_DRIVES);
        return FALSE;
    }
    if (!valid_path(path)) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID,
                    _("This file name cannot be used for a drive."));
        return FALSE;
    }
    TrmDrive d = {.path = g_strdup(path), .cdrom = cdrom, .readonly = readonly || cdrom};
    g_array_append_val(self->drives, d);
    return TRUE;
}

gboolean trm_machine_set_drive_path(TrmMachine *self, guint i, const char *path, GError **error)
{
    g_return_val_if_fail(i < self->drives->len, FALSE);
    if (!valid_path(path)) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID,
                    _("This file name cannot be used for a drive."));
        return FALSE;
    }
    TrmDrive *d = &g_array_index(self->drives, TrmDrive, i);
    g_free(d->path);
    d->path = g_strdup(path);
    return TRUE;
}

void trm_machine_remove_drive(TrmMachine *self, guint i)
{
    g_return_if_fail(i < self->drives->len);
    g_array_remove_index(self->drives, i); /* the clear func frees the path */
}

void trm_machine_clear_drives(TrmMachine *self)
{
    g_array_set_size(self->drives, 0);
}

guint trm_machine_get_n_forwards(TrmMachine *self)
{
    return self->forwards->len;
}

const TrmForward *trm_machine_get_forward(TrmMachine *self, guint i)
{
    g_return_val_if_fail(i < self->forwards->len, NULL);
    return &g_array_index(self->forwards, TrmForward, i);
}

gboolean trm_machine_add_forward(TrmMachine *self, const char *spec, GError **error)
{
    TrmForward f;
    if (self->forwards->len >= TRM_MAX_FORWARDS || !spec || !parse_forward(spec, &f)) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_INVALID,
                    _("Write a port forward as tcp:HOST-PORT:GUEST-PORT, for example "
                      "tcp:2222:22."));
        return FALSE;
    }
    g_array_append_val(self->forwards, f);
    return TRUE;
}

TrmMachineState trm_machine_get_state(TrmMachine *self)
{
    if (self->state == TRM_MACHINE_STATE_OFF && trm_machine_has_saved_state(self))
        return TRM_MACHINE_STATE_SAVED;
    return self->state;
}

char *trm_machine_dup_saved_state_dir(TrmMachine *self)
{
    return g_build_filename(self->dir, TRM_SAVED_STATE_DIR, NULL);
}

gboolean trm_machine_has_saved_state(TrmMachine *self)
{
    /* The directory appears by rename only when complete; its state file is what restores. */
    g_autofree char *state = g_build_filename(self->dir, TRM_SAVED_STATE_DIR, "state", NULL);
    return g_file_test(state, G_FILE_TEST_IS_REGULAR);
}

/* A saved-state directory holds plain files only (state, ram-*, their .tmp). */
static gboolean remove_flat_dir(const char *path, GError **error)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    if (dir) {
        const char *name;
        while ((name = g_dir_read_name(dir))) {
            g_autofree char *file = g_build_filename(path, name, NULL);
            if (g_unlink(file) < 0 && errno != ENOENT) {
                int e = errno;
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                            _("The saved state could not be discarded: %s."), g_strerror(e));
                return FALSE;
            }
        }
    }
    if (g_rmdir(path) < 0 && errno != ENOENT) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                    _("The saved state could not be discarded: %s."), g_strerror(e));
        return FALSE;
    }
    return TRUE;
}

gboolean trm_machine_discard_saved_state(TrmMachine *self, GError **error)
{
    g_autofree char *dir = trm_machine_dup_saved_state_dir(self);
    g_autofree char *tmp = g_strconcat(dir, ".tmp", NULL);
    g_autofree char *gone = g_strconcat(dir, ".discarded", NULL);
    /* Renamed first: a crash halfway leaves no partial state that looks complete. */
    gboolean ok = remove_flat_dir(gone, error);
    if (ok && g_rename(dir, gone) < 0 && errno != ENOENT) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                    _("The saved state could not be discarded: %s."), g_strerror(e));
        ok = FALSE;
    }
    ok = ok && remove_flat_dir(gone, error) && remove_flat_dir(tmp, error);
    trm_machine_refresh_saved_state(self);
    return ok;
}

void trm_machine_refresh_saved_state(TrmMachine *self)
{
    if (self->state == TRM_MACHINE_STATE_OFF)
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
}

void trm_machine_set_state(TrmMachine *self, TrmMachineState state)
{
    if (self->state == state)
        return;
    self->state = state;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
}

const char *trm_machine_get_failure(TrmMachine *self)
{
    return self->failure;
}

void trm_machine_set_failure(TrmMachine *self, const char *failure)
{
    if (set_str(&self->failure, failure))
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_FAILURE]);
}

const char *trm_machine_state_to_string(TrmMachineState state)
{
    switch (state) {
    case TRM_MACHINE_STATE_OFF:
        return _("Off");
    case TRM_MACHINE_STATE_STARTING:
        return _("Starting");
    case TRM_MACHINE_STATE_RUNNING:
        return _("Running");
    case TRM_MACHINE_STATE_PAUSED:
        return _("Paused");
    case TRM_MACHINE_STATE_SAVED:
        return _("Saved");
    case TRM_MACHINE_STATE_FAILED:
        return _("Stopped unexpectedly");
    }
    return "";
}

GBytes *trm_machine_get_thumbnail(TrmMachine *self)
{
    return self->thumbnail;
}

void trm_machine_set_thumbnail(TrmMachine *self, GBytes *png)
{
    if (self->thumbnail == png)
        return;
    g_clear_pointer(&self->thumbnail, g_bytes_unref);
    self->thumbnail = png ? g_bytes_ref(png) : NULL;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_THUMBNAIL]);
}
