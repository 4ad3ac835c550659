/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Is a file on a dm-verity device? The factory root metadata is the trust anchor only when the
 * filesystem holding it is integrity-protected: its device must be a device-mapper device
 * (sysfs dm/ attributes) whose table is a "verity" target (DM_TABLE_STATUS ioctl).
 */
#include <stddef.h>
#include <sys/types.h>

#include "context.h"

/* Writes the target type of device-mapper device @major:@minor into @type. */
typedef int (*SwuDmTargetFunc)(void *userdata, unsigned major, unsigned minor, char *type,
			       size_t size);

/*
 * The DM_TABLE_STATUS ioctl on /dev/mapper/control (needs CAP_SYS_ADMIN). -ENAMETOOLONG when the
 * type does not fit in @size bytes with its NUL.
 */
int swu_dm_target_type(void *userdata, unsigned major, unsigned minor, char *type, size_t size);

/*
 * 0 when @path is on a dm-verity device. @sysfs is normally "/sys"; @target_type is normally
 * swu_dm_target_type (tests pass fakes). -EPERM with the reason in the failure record otherwise.
 */
int swu_verity_check(SwuContext *ctx, const char *path, const char *sysfs,
		     SwuDmTargetFunc target_type, void *userdata);
