/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "verity.h"

int swu_dm_target_type(void *userdata, unsigned major, unsigned minor, char *type, size_t size)
{
	union {
		struct dm_ioctl io;
		char buf[16384];
	} u = {};
	_cleanup_close_ int fd = -EBADF;
	const struct dm_target_spec *spec;
	size_t n;

	assert_return(type, -EINVAL);
	assert_return(size > 0, -EINVAL);

	fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	u.io.version[0] = DM_VERSION_MAJOR;
	u.io.version[1] = 0;
	u.io.version[2] = 0;
	u.io.data_size = sizeof(u);
	u.io.data_start = sizeof(struct dm_ioctl);
	u.io.dev = makedev(major, minor);
	u.io.flags = DM_STATUS_TABLE_FLAG;
	if (ioctl(fd, DM_TABLE_STATUS, &u.io) < 0)
		return -errno;
	if (u.io.target_count != 1)
		return -EMEDIUMTYPE; /* a verity device maps exactly one target */
	spec = (const struct dm_target_spec *)(u.buf + u.io.data_start);
	/* Never cut: the type is compared with "verity", and a cut one is another type. */
	n = strnlen(spec->target_type, sizeof(spec->target_type));
	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(type, spec->target_type, n);
	type[n] = 0;
	return 0;
}

int swu_verity_check(SwuContext *ctx, const char *path, const char *sysfs,
		     SwuDmTargetFunc target_type, void *userdata)
{
	_cleanup_free_ char *name_path = NULL;
	_cleanup_free_ uint8_t *name = NULL;
	char type[32] = "";
	struct stat st;
	size_t size;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(path, -EINVAL);
	assert_return(sysfs, -EINVAL);
	assert_return(target_type, -EINVAL);

	if (stat(path, &st) < 0)
		return swu_fail(ctx, -errno, "trust", "verity", "cannot stat '%s': %s", path,
				strerror(errno));
	if (asprintf(&name_path, "%s/dev/block/%u:%u/dm/name", sysfs, major(st.st_dev),
		     minor(st.st_dev)) < 0)
		return -ENOMEM;
	/* sysfs attributes report a size of one page whatever they hold: allow that much. */
	r = swu_read_file(name_path, MAX(4096L, sysconf(_SC_PAGESIZE)), &name, &size);
	if (r < 0)
		return swu_fail(ctx, -EPERM, "trust", "verity",
				"'%s' is on device %u:%u, which is not a device-mapper device",
				path, major(st.st_dev), minor(st.st_dev));
	r = target_type(userdata, major(st.st_dev), minor(st.st_dev), type, sizeof(type));
	if (r < 0)
		return swu_fail(ctx, -EPERM, "trust", "verity",
				"cannot read the device-mapper table of %u:%u holding '%s': %s",
				major(st.st_dev), minor(st.st_dev), path, strerror(-r));
	if (!streq(type, "verity"))
		return swu_fail(ctx, -EPERM, "trust", "verity",
				"'%s' is on device-mapper device %u:%u of type '%s', not 'verity'",
				path, major(st.st_dev), minor(st.st_dev), type);
	return 0;
}
