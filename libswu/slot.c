/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "macro.h"
#include "slot.h"

int swu_slot_from_cmdline(const char *cmdline, const char *param, char *ret)
{
	const char *p = cmdline;
	int r = -ENOENT;
	size_t n;

	assert_return(param, -EINVAL);
	assert_return(ret, -EINVAL);

	n = strlen(param);
	/* The last occurrence wins, as for the kernel's own parameters. */
	while (p && *p) {
		size_t len;

		p += strspn(p, " \t\n");
		len = strcspn(p, " \t\n");
		if (len > n && strncmp(p, param, n) == 0 && p[n] == '=') {
			if (len == n + 2 && (p[n + 1] == 'A' || p[n + 1] == 'B')) {
				*ret = p[n + 1];
				r = 0;
			} else
				r = -EINVAL;
		}
		p += len;
	}
	return r;
}

bool swu_root_devices_has(const SwuRootDevices *r, dev_t dev)
{
	for (size_t i = 0; r && i < r->n; i++)
		if (r->dev[i] == dev)
			return true;
	return false;
}

static void add_with_slaves(const char *sysfs, dev_t dev, SwuRootDevices *r, unsigned depth)
{
	_cleanup_free_ char *dir = NULL;
	DIR *d;
	struct dirent *e;

	if (dev == 0 || swu_root_devices_has(r, dev) || r->n >= SWU_ROOT_DEVICES_MAX)
		return;
	r->dev[r->n++] = dev;
	if (depth >= 4 ||
	    asprintf(&dir, "%s/dev/block/%u:%u/slaves", sysfs, major(dev), minor(dev)) < 0)
		return;
	d = opendir(dir);
	if (!d)
		return; /* not a stacked device */
	while ((e = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		char buf[32] = "";
		unsigned maj, min;
		FILE *f;

		if (e->d_name[0] == '.' || asprintf(&path, "%s/%s/dev", dir, e->d_name) < 0)
			continue;
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%u:%u", &maj, &min) == 2)
			add_with_slaves(sysfs, makedev(maj, min), r, depth + 1);
		fclose(f);
	}
	closedir(d);
}

void swu_root_devices(const char *sysfs, dev_t root, SwuRootDevices *ret)
{
	assert_return_void(ret);

	*ret = (SwuRootDevices){};
	add_with_slaves(sysfs ?: "/sys", root, ret, 0);
}

int swu_slot_booted(SwuContext *ctx, const char *cmdline, const char *param,
		    const SwuRootDevices *root, const SwuSlot *slots, size_t n, char *ret)
{
	char found = 0;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(param, -EINVAL);
	assert_return(slots || n == 0, -EINVAL);
	assert_return(ret, -EINVAL);

	r = swu_slot_from_cmdline(cmdline ? cmdline : "", param, ret);
	if (r == 0)
		return 0;
	if (r == -EINVAL)
		return swu_fail(ctx, -ENXIO, "slot", "booted",
				"kernel command line parameter %s= is not A or B", param);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (stat(slots[i].device, &st) < 0 || !S_ISBLK(st.st_mode) ||
		    !swu_root_devices_has(root, st.st_rdev))
			continue;
		if (found && found != slots[i].name)
			return swu_fail(ctx, -ENXIO, "slot", "booted",
					"the root device matches slots A and B");
		found = slots[i].name;
	}
	if (!found)
		return swu_fail(ctx, -ENODATA, "slot", "booted",
				"cannot tell the booted slot: no %s= on the kernel command line "
				"and "
				"the root device is none of the slots",
				param);
	*ret = found;
	return 0;
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
	if (S_ISBLK(a->st_mode) || S_ISBLK(b->st_mode))
		return S_ISBLK(a->st_mode) && S_ISBLK(b->st_mode) && a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

bool swu_slot_same(const char *a, const char *b)
{
	struct stat sa, sb;

	assert_return(a, false);
	assert_return(b, false);

	if (streq(a, b))
		return true;
	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return false;
	return same_stat(&sa, &sb);
}

static int slot_size(int fd, const struct stat *st, uint64_t *ret)
{
	if (S_ISBLK(st->st_mode)) {
		uint64_t size = 0;

		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			return -errno;
		*ret = size;
		return 0;
	}
	if (S_ISREG(st->st_mode)) {
		*ret = (uint64_t)st->st_size;
		return 0;
	}
	return -ENOTBLK;
}

static int slot_open(SwuContext *ctx, const char *path, int flags, const struct stat *want,
		     int *ret_fd, uint64_t *ret_size)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	int r;

	fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return swu_fail(ctx, -errno, "slot", "open", "cannot open slot '%s': %s", path,
				strerror(errno));
	if (fstat(fd, &st) < 0)
		return -errno;
	if (want && !same_stat(want, &st))
		return swu_fail(ctx, -EBUSY, "slot", "identity",
				"slot '%s' changed while it was being opened", path);
	r = slot_size(fd, &st, ret_size);
	if (r < 0)
		return swu_fail(ctx, r, "slot", "type",
				"slot '%s' is neither a block device nor a regular file", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int swu_slot_open_inactive(SwuContext *ctx, const char *path, const char *booted_path,
			   const SwuRootDevices *root, int *ret_fd, uint64_t *ret_size)
{
	struct stat st, booted;

	assert_return(ctx, -EINVAL);
	assert_return(path, -EINVAL);
	assert_return(ret_fd, -EINVAL);
	assert_return(ret_size, -EINVAL);

	if (stat(path, &st) < 0)
		return swu_fail(ctx, -errno, "slot", "open", "cannot open slot '%s': %s", path,
				strerror(errno));
	/* The booted slot is never opened for writing, whatever the configuration says. */
	if ((booted_path && stat(booted_path, &booted) == 0 && same_stat(&st, &booted)) ||
	    (S_ISBLK(st.st_mode) && swu_root_devices_has(root, st.st_rdev)))
		return swu_fail(ctx, -EBUSY, "slot", "booted",
				"refusing to write '%s': it is the booted slot", path);
	swu_fault_point(ctx, "slot-open");
	return slot_open(ctx, path, O_RDWR, &st, ret_fd, ret_size);
}

int swu_slot_open_active(SwuContext *ctx, const char *path, int *ret_fd, uint64_t *ret_size)
{
	assert_return(ctx, -EINVAL);
	assert_return(path, -EINVAL);
	assert_return(ret_fd, -EINVAL);
	assert_return(ret_size, -EINVAL);

	return slot_open(ctx, path, O_RDONLY, NULL, ret_fd, ret_size);
}

int swu_slot_size(SwuContext *ctx, const char *path, uint64_t *ret)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(path, -EINVAL);
	assert_return(ret, -EINVAL);

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return swu_fail(ctx, -errno, "slot", "size",
				"cannot tell the size of slot '%s': %s", path, strerror(errno));
	r = slot_size(fd, &st, ret);
	if (r < 0)
		return swu_fail(ctx, r, "slot", "size", "cannot tell the size of slot '%s': %s",
				path, strerror(-r));
	return 0;
}
