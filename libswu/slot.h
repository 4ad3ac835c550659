/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A/B slots: which one is booted, and opening the inactive one for writing without ever
 * touching the booted one (checked by device and inode numbers right before and after opening).
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "context.h"

typedef struct SwuSlot {
	const char *target; /* bundle target name, e.g. "rootfs" */
	char name;	    /* 'A' or 'B' */
	const char *device; /* block device or regular file */
} SwuSlot;

/*
 * Finds @param=A|B on the kernel command line @cmdline. Returns 0 and the slot, -ENOENT when
 * the parameter is absent, -EINVAL when its value is not A or B.
 */
int swu_slot_from_cmdline(const char *cmdline, const char *param, char *ret);

/*
 * The device of "/" and every device under it: on a dm-verity (or any device-mapper) root, "/"
 * is dm-N and the slot is one of its slaves (sysfs dev/block/MAJ:MIN/slaves/, followed down).
 */
#define SWU_ROOT_DEVICES_MAX 16
typedef struct SwuRootDevices {
	dev_t dev[SWU_ROOT_DEVICES_MAX];
	size_t n;
} SwuRootDevices;

/* Fills @ret with @root and the devices under it, read from @sysfs (NULL: "/sys"). */
void swu_root_devices(const char *sysfs, dev_t root, SwuRootDevices *ret);
bool swu_root_devices_has(const SwuRootDevices *r, dev_t dev);

/*
 * The booted slot: from the kernel command line when it names one, else the slot whose block
 * device is one of @root (the device of "/" and those under it). -ENODATA when neither names a
 * slot, -ENXIO when the parameter is no slot or the root device is both (reason recorded).
 */
int swu_slot_booted(SwuContext *ctx, const char *cmdline, const char *param,
		    const SwuRootDevices *root, const SwuSlot *slots, size_t n, char *ret);

/* True when @a and @b name the same device or file (st_rdev for devices, st_dev/st_ino else). */
bool swu_slot_same(const char *a, const char *b);

/*
 * Opens the inactive slot @path read-write for an install. Refuses (-EBUSY) when it is the
 * booted slot @booted_path, or a device "/" lives on (@root: also under a dm-verity root,
 * whatever the kernel command line claims), or changed identity between the check and the
 * open. @ret_size is the block device's size or the file's size.
 */
int swu_slot_open_inactive(SwuContext *ctx, const char *path, const char *booted_path,
			   const SwuRootDevices *root, int *ret_fd, uint64_t *ret_size);
/* The size of a slot: BLKGETSIZE64 for a block device, the file size for a regular file. */
int swu_slot_size(SwuContext *ctx, const char *path, uint64_t *ret);
/* Opens a slot read-only (the active one, to copy unchanged targets from). */
int swu_slot_open_active(SwuContext *ctx, const char *path, int *ret_fd, uint64_t *ret_size);
