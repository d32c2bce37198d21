/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Disk images for front ends (terrarium-img, the app's disk creation and
 * snapshot code): opening raw and qcow2 images, I/O, qcow2 creation and
 * check, and internal snapshots. The declarations live with the drivers.
 */
#ifndef VMM_PUBLIC_DISK_H
#define VMM_PUBLIC_DISK_H

#include "disk/disk.h"

#endif
