/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "trm-machine.h"

G_BEGIN_DECLS

/* A snapshot.ini larger than this is not ours. */
#define TRM_SNAPSHOT_INI_MAX (64 * 1024)
#define TRM_SNAPSHOT_DESCRIPTION_MAX 4096
/* A thumbnail.png larger than this is not read. */
#define TRM_SNAPSHOT_THUMBNAIL_MAX (8 * 1024 * 1024)
/* Ids are 16 lowercase hex digits: the directory name and the disks' snapshot name. */
#define TRM_SNAPSHOT_ID_LEN 16

/*
 * One snapshot of a machine: <machine>/snapshots/<id>/snapshot.ini (name,
 * description, date, parent, RAM), thumbnail.png, and with RAM the machine
 * state directory state/ (vmm_vm_save_state). Every writable qcow2 disk of the
 * machine holds an internal snapshot named <id>.
 */
#define TRM_TYPE_SNAPSHOT (trm_snapshot_get_type())
G_DECLARE_FINAL_TYPE(TrmSnapshot, trm_snapshot, TRM, SNAPSHOT, GObject)

TrmSnapshot *trm_snapshot_new(const char *id, const char *name, const char *description,
                              gint64 date, const char *parent, gboolean ram);
/* Parses snapshot.ini text for the snapshot directory `id`; NULL with a sentence on error. */
TrmSnapshot *trm_snapshot_new_from_data(const char *id, const char *data, gsize len,
                                        GError **error);
char *trm_snapshot_to_data(TrmSnapshot *self, gsize *len);

const char *trm_snapshot_get_id(TrmSnapshot *self);
const char *trm_snapshot_get_name(TrmSnapshot *self);
void trm_snapshot_set_name(TrmSnapshot *self, const char *name);
const char *trm_snapshot_get_description(TrmSnapshot *self);
void trm_snapshot_set_description(TrmSnapshot *self, const char *description);
/* Unix time, seconds. */
gint64 trm_snapshot_get_date(TrmSnapshot *self);
/* NULL for a root. */
const char *trm_snapshot_get_parent(TrmSnapshot *self);
void trm_snapshot_set_parent(TrmSnapshot *self, const char *parent);
gboolean trm_snapshot_get_ram(TrmSnapshot *self);

gboolean trm_snapshot_id_is_valid(const char *id);
/* A name the user may give: valid UTF-8, 1..TRM_MAX_NAME_LEN bytes, no control characters. */
gboolean trm_snapshot_name_is_valid(const char *name);

G_END_DECLS
