/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One snapshot's description: snapshot.ini (GKeyFile). The file is untrusted
 * (anyone could have edited it): every value is checked and a file that
 * cannot be used is refused with a sentence, never half-loaded.
 */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "trm-error.h"
#include "trm-snapshot.h"

#define GROUP "Snapshot"
/* 1970 .. 9999: anything else is not a date a snapshot was taken at. */
#define DATE_MAX G_GINT64_CONSTANT(253402300799)

struct _TrmSnapshot {
    GObject parent_instance;
    char *id;
    char *name;
    char *description;
    gint64 date;
    char *parent;
    gboolean ram;
};

G_DEFINE_FINAL_TYPE(TrmSnapshot, trm_snapshot, G_TYPE_OBJECT)

enum {
    PROP_0,
    PROP_NAME,
    PROP_DESCRIPTION,
    N_PROPS,
};

static GParamSpec *props[N_PROPS];

static void trm_snapshot_finalize(GObject *object)
{
    TrmSnapshot *self = TRM_SNAPSHOT(object);
    g_free(self->id);
    g_free(self->name);
    g_free(self->description);
    g_free(self->parent);
    G_OBJECT_CLASS(trm_snapshot_parent_class)->finalize(object);
}

static void trm_snapshot_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    TrmSnapshot *self = TRM_SNAPSHOT(object);
    switch (id) {
    case PROP_NAME:
        g_value_set_string(value, self->name);
        break;
    case PROP_DESCRIPTION:
        g_value_set_string(value, self->description);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void trm_snapshot_class_init(TrmSnapshotClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    object_class->finalize = trm_snapshot_finalize;
    object_class->get_property = trm_snapshot_get_property;
    GParamFlags f = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
    props[PROP_NAME] = g_param_spec_string("name", NULL, NULL, NULL, f);
    props[PROP_DESCRIPTION] = g_param_spec_string("description", NULL, NULL, NULL, f);
    g_object_class_install_properties(object_class, N_PROPS, props);
}

static void trm_snapshot_init(TrmSnapshot *self)
{
    (void)self;
}

gboolean trm_snapshot_id_is_valid(const char *id)
{
    if (!id || strlen(id) != TRM_SNAPSHOT_ID_LEN)
        return FALSE;
    for (const char *p = id; *p; p++)
        if (!g_ascii_isdigit(*p) && !(*p >= 'a' && *p <= 'f'))
            return FALSE;
    return TRUE;
}

static gboolean text_is_valid(const char *s, gsize max, gboolean multiline)
{
    if (!s || strlen(s) > max || !g_utf8_validate(s, -1, NULL))
        return FALSE;
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (multiline && (c == '\n' || c == '\t'))
            continue;
        if (g_unichar_iscntrl(c))
            return FALSE;
    }
    return TRUE;
}

gboolean trm_snapshot_name_is_valid(const char *name)
{
    return name && *name && text_is_valid(name, TRM_MAX_NAME_LEN, FALSE);
}

TrmSnapshot *trm_snapshot_new(const char *id, const char *name, const char *description,
                              gint64 date, const char *parent, gboolean ram)
{
    g_return_val_if_fail(trm_snapshot_id_is_valid(id), NULL);
    g_return_val_if_fail(trm_snapshot_name_is_valid(name), NULL);
    TrmSnapshot *self = g_object_new(TRM_TYPE_SNAPSHOT, NULL);
    self->id = g_strdup(id);
    self->name = g_strdup(name);
    self->description = g_strdup(description ? description : "");
    self->date = CLAMP(date, 0, DATE_MAX);
    self->parent = trm_snapshot_id_is_valid(parent) ? g_strdup(parent) : NULL;
    self->ram = ram;
    return self;
}

static gboolean refuse(GError **error, const char *id, const char *what)
{
    g_set_error(error, TRM_ERROR, TRM_ERROR_BROKEN,
                _("The description of snapshot %s cannot be used (%s)."), id, what);
    return FALSE;
}

TrmSnapshot *trm_snapshot_new_from_data(const char *id, const char *data, gsize len, GError **error)
{
    if (!trm_snapshot_id_is_valid(id)) {
        g_set_error(error, TRM_ERROR, TRM_ERROR_BROKEN,
                    _("A folder in the snapshots folder is not a snapshot."));
        return NULL;
    }
    if (len > TRM_SNAPSHOT_INI_MAX || memchr(data, 0, len)) {
        refuse(error, id, _("the file is not a snapshot description"));
        return NULL;
    }
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, NULL)) {
        refuse(error, id, _("the file is not a snapshot description"));
        return NULL;
    }
    g_autofree char *name = g_key_file_get_string(kf, GROUP, "name", NULL);
    if (!trm_snapshot_name_is_valid(name)) {
        refuse(error, id, _("its name is missing or not valid text"));
        return NULL;
    }
    g_autofree char *description = NULL;
    if (g_key_file_has_key(kf, GROUP, "description", NULL)) {
        description = g_key_file_get_string(kf, GROUP, "description", NULL);
        if (!text_is_valid(description, TRM_SNAPSHOT_DESCRIPTION_MAX, TRUE)) {
            refuse(error, id, _("its description is not valid text"));
            return NULL;
        }
    }
    g_autoptr(GError) e = NULL;
    gint64 date = g_key_file_get_int64(kf, GROUP, "date", &e);
    if (e || date < 0 || date > DATE_MAX) {
        refuse(error, id, _("its date is missing or out of range"));
        return NULL;
    }
    g_autofree char *parent = NULL;
    if (g_key_file_has_key(kf, GROUP, "parent", NULL)) {
        parent = g_key_file_get_string(kf, GROUP, "parent", NULL);
        if (parent && !*parent)
            g_clear_pointer(&parent, g_free);
        if (parent && (!trm_snapshot_id_is_valid(parent) || strcmp(parent, id) == 0)) {
            refuse(error, id, _("its parent is not a snapshot id"));
            return NULL;
        }
    }
    g_clear_error(&e);
    gboolean ram = g_key_file_get_boolean(kf, GROUP, "ram", &e);
    if (e && !g_error_matches(e, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND)) {
        refuse(error, id, _("its RAM setting is neither true nor false"));
        return NULL;
    }
    return trm_snapshot_new(id, name, description, date, parent, e ? FALSE : ram);
}

char *trm_snapshot_to_data(TrmSnapshot *self, gsize *len)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_string(kf, GROUP, "name", self->name);
    g_key_file_set_string(kf, GROUP, "description", self->description);
    g_key_file_set_int64(kf, GROUP, "date", self->date);
    g_key_file_set_string(kf, GROUP, "parent", self->parent ? self->parent : "");
    g_key_file_set_boolean(kf, GROUP, "ram", self->ram);
    return g_key_file_to_data(kf, len, NULL);
}

const char *trm_snapshot_get_id(TrmSnapshot *self)
{
    return self->id;
}

const char *trm_snapshot_get_name(TrmSnapshot *self)
{
    return self->name;
}

void trm_snapshot_set_name(TrmSnapshot *self, const char *name)
{
    g_return_if_fail(trm_snapshot_name_is_valid(name));
    if (g_strcmp0(self->name, name) == 0)
        return;
    g_free(self->name);
    self->name = g_strdup(name);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_NAME]);
}

const char *trm_snapshot_get_description(TrmSnapshot *self)
{
    return self->description;
}

void trm_snapshot_set_description(TrmSnapshot *self, const char *description)
{
    if (!description)
        description = "";
    g_return_if_fail(text_is_valid(description, TRM_SNAPSHOT_DESCRIPTION_MAX, TRUE));
    if (g_strcmp0(self->description, description) == 0)
        return;
    g_free(self->description);
    self->description = g_strdup(description);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_DESCRIPTION]);
}

gint64 trm_snapshot_get_date(TrmSnapshot *self)
{
    return self->date;
}

const char *trm_snapshot_get_parent(TrmSnapshot *self)
{
    return self->parent;
}

void trm_snapshot_set_parent(TrmSnapshot *self, const char *parent)
{
    g_free(self->parent);
    self->parent = trm_snapshot_id_is_valid(parent) ? g_strdup(parent) : NULL;
}

gboolean trm_snapshot_get_ram(TrmSnapshot *self)
{
    return self->ram;
}
