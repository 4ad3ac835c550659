/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Slot selection: the kernel command line, and never opening the booted slot for writing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "slot.h"
#include "testutil.h"

static SwuContext *ctx;
static char *dir;
static char a[256], b[256];

static void setup(void)
{
	ctx = tu_context();
	dir = tu_tmpdir("slot");
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	close(open(a, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	ck_assert_int_eq(truncate(a, 4096), 0);
	close(open(b, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	ck_assert_int_eq(truncate(b, 8192), 0);
}

static void teardown(void)
{
	tu_rm_rf(dir);
	dir = (free(dir), NULL);
	ctx = swu_context_unref(ctx);
}

START_TEST(test_cmdline)
{
	char s = 0;

	ck_assert_int_eq(swu_slot_from_cmdline("root=/dev/x swupdated.slot=B quiet\n",
					       "swupdated.slot", &s),
			 0);
	ck_assert_int_eq(s, 'B');
	ck_assert_int_eq(swu_slot_from_cmdline("swupdated.slot=A", "swupdated.slot", &s), 0);
	ck_assert_int_eq(s, 'A');
	/* the last one wins, like the kernel's own parameters */
	ck_assert_int_eq(swu_slot_from_cmdline("swupdated.slot=A swupdated.slot=B",
					       "swupdated.slot", &s),
			 0);
	ck_assert_int_eq(s, 'B');
	ck_assert_int_eq(swu_slot_from_cmdline("quiet", "swupdated.slot", &s), -ENOENT);
	ck_assert_int_eq(swu_slot_from_cmdline("xswupdated.slot=A", "swupdated.slot", &s), -ENOENT);
	ck_assert_int_eq(swu_slot_from_cmdline("swupdated.slotx=A", "swupdated.slot", &s), -ENOENT);
	ck_assert_int_eq(swu_slot_from_cmdline("swupdated.slot=C", "swupdated.slot", &s), -EINVAL);
	ck_assert_int_eq(swu_slot_from_cmdline("swupdated.slot=AB", "swupdated.slot", &s), -EINVAL);
	ck_assert_int_eq(swu_slot_from_cmdline("swupdated.slot=", "swupdated.slot", &s), -EINVAL);
	ck_assert_int_eq(swu_slot_from_cmdline("rauc.slot=A", "rauc.slot", &s), 0);
}
END_TEST

START_TEST(test_booted)
{
	SwuSlot slots[] = { { "rootfs", 'A', a }, { "rootfs", 'B', b } };
	char s = 0;

	ck_assert_int_eq(
		swu_slot_booted(ctx, "swupdated.slot=B", "swupdated.slot", NULL, slots, 2, &s), 0);
	ck_assert_int_eq(s, 'B');
	/* Regular files never match the root device: nothing decides. */
	ck_assert_int_eq(swu_slot_booted(ctx, "quiet", "swupdated.slot", NULL, slots, 2, &s),
			 -ENODATA);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "cannot tell the booted slot"));
	ck_assert_int_eq(swu_slot_booted(ctx, "swupdated.slot=X", "swupdated.slot", NULL, slots, 2,
					 &s),
			 -ENXIO);
	ck_assert_int_eq(swu_slot_booted(ctx, NULL, "swupdated.slot", NULL, slots, 2, &s),
			 -ENODATA);
}
END_TEST

/*
 * A dm-verity root: "/" is dm-0 (253:0), whose data device is slot A's partition (a block node
 * 240:2 here, with 240:3 for slot B). The sysfs tree says so as the kernel does, with
 * dev/block/253:0/slaves/vda2/dev. The booted slot is found through it, and the guard refuses
 * to write slot A even when the kernel command line lies and names B.
 */
START_TEST(test_dm_root)
{
	_cleanup_free_ char *node_a = tu_path("%s/vda2", dir), *node_b = tu_path("%s/vda3", dir);
	_cleanup_free_ char *sysfs = tu_path("%s/sys", dir);
	_cleanup_free_ char *slaves = tu_path("%s/dev/block/253:0/slaves/vda2", sysfs);
	_cleanup_free_ char *dev = tu_path("%s/dev", slaves);
	SwuSlot slots[2];
	SwuRootDevices root;
	uint64_t size = 0;
	int fd = -EBADF;
	char s = 0;

	if (mknod(node_a, S_IFBLK | 0600, makedev(240, 2)) < 0 ||
	    mknod(node_b, S_IFBLK | 0600, makedev(240, 3)) < 0) {
		fprintf(stderr, "test_dm_root: no mknod here (%m), skipped\n");
		return;
	}
	slots[0] = (SwuSlot){ "rootfs", 'A', node_a };
	slots[1] = (SwuSlot){ "rootfs", 'B', node_b };
	ck_assert_int_eq(swu_mkdir_p(slaves, 0755), 0);
	tu_write_text(dev, "240:2\n");
	swu_root_devices(sysfs, makedev(253, 0), &root);
	ck_assert_uint_eq(root.n, 2);
	ck_assert(swu_root_devices_has(&root, makedev(253, 0)));
	ck_assert(swu_root_devices_has(&root, makedev(240, 2)));
	/* Without the slaves, dm-0 is none of the slots. */
	ck_assert_int_eq(swu_slot_booted(ctx, "quiet", "swupdated.slot",
					 &(SwuRootDevices){ { makedev(253, 0) }, 1 }, slots, 2, &s),
			 -ENODATA);
	ck_assert_int_eq(swu_slot_booted(ctx, "quiet", "swupdated.slot", &root, slots, 2, &s), 0);
	ck_assert_int_eq(s, 'A');
	/* The command line says B (a lie): slot A, the root's device, is still never written. */
	ck_assert_int_eq(
		swu_slot_booted(ctx, "swupdated.slot=B", "swupdated.slot", &root, slots, 2, &s), 0);
	ck_assert_int_eq(s, 'B');
	ck_assert_int_eq(swu_slot_open_inactive(ctx, node_a, node_b, &root, &fd, &size), -EBUSY);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "it is the booted slot"));
	ck_assert_int_eq(fd, -EBADF);
}
END_TEST

START_TEST(test_open_inactive)
{
	char link[300];
	uint64_t size = 0;
	int fd = -EBADF;

	ck_assert_int_eq(swu_slot_open_inactive(ctx, b, a, NULL, &fd, &size), 0);
	ck_assert_uint_eq(size, 8192);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	close(fd);
	fd = -EBADF;
	/* The booted slot, under another name, is refused. */
	snprintf(link, sizeof(link), "%s/alias", dir);
	ck_assert_int_eq(symlink(a, link), 0);
	ck_assert_int_eq(swu_slot_open_inactive(ctx, link, a, NULL, &fd, &size), -EBUSY);
	ck_assert_int_eq(fd, -EBADF);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "it is the booted slot"));
	ck_assert_int_eq(swu_slot_open_inactive(ctx, a, a, NULL, &fd, &size), -EBUSY);
	/* Missing slots and directories are refused with a reason. */
	snprintf(link, sizeof(link), "%s/missing", dir);
	ck_assert_int_eq(swu_slot_open_inactive(ctx, link, a, NULL, &fd, &size), -ENOENT);
	ck_assert_int_eq(swu_slot_open_inactive(ctx, dir, a, NULL, &fd, &size), -EISDIR);
	ck_assert(swu_slot_same(a, a));
	ck_assert(!swu_slot_same(a, b));
}
END_TEST

/*
 * At "slot-open", between the check and the open, the inactive slot's path is made to name the
 * booted slot.
 */
typedef struct Swap {
	bool symlink; /* a symlink to the booted slot, else a hard link to it renamed over */
	unsigned calls;
} Swap;

static void swap_to_booted(void *userdata, const char *where)
{
	Swap *sw = userdata;
	_cleanup_free_ char *tmp = NULL;

	if (!streq(where, "slot-open"))
		return;
	sw->calls++;
	tmp = tu_path("%s/swap", dir);
	if (sw->symlink)
		ck_assert_int_eq(symlink(a, tmp), 0);
	else
		ck_assert_int_eq(link(a, tmp), 0);
	ck_assert_int_eq(rename(tmp, b), 0);
}

static void fill(const char *path, uint8_t byte, size_t n)
{
	uint8_t buf[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_uint_le(n, sizeof(buf));
	memset(buf, byte, n);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

static bool holds(const char *path, uint8_t byte, size_t n)
{
	uint8_t buf[4097];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	ck_assert_int_ge(fd, 0);
	got = read(fd, buf, sizeof(buf));
	close(fd);
	if (got != (ssize_t)n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (buf[i] != byte)
			return false;
	return true;
}

START_TEST(test_open_inactive_swapped)
{
	for (int i = 0; i < 2; i++) {
		Swap sw = { .symlink = i == 0 };
		uint64_t size = 0;
		int fd = -EBADF, r;

		fill(a, 0xa5, 4096);
		unlink(b);
		fill(b, 0x00, 1024); /* a fresh inactive slot */
		swu_context_set_fault(ctx, swap_to_booted, &sw);
		r = swu_slot_open_inactive(ctx, b, a, NULL, &fd, &size);
		swu_context_set_fault(ctx, NULL, NULL);
		ck_assert_uint_eq(sw.calls, 1);
		/* Whatever was opened gets written, as an install would: the booted slot must not be. */
		if (fd >= 0) {
			ck_assert_int_eq(write(fd, "overwritten", 11), 11);
			close(fd);
		}
		ck_assert(holds(a, 0xa5, 4096));
		ck_assert_int_eq(r, -EBUSY);
		ck_assert_int_eq(fd, -EBADF);
		ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "identity");
		ck_assert(strstr(swu_context_get_failure(ctx)->message, "changed while it was "
									"being opened"));
	}
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "cmdline", test_cmdline },
		{ "booted", test_booted },
		{ "dm-root", test_dm_root },
		{ "open-inactive", test_open_inactive },
		{ "open-inactive-swapped", test_open_inactive_swapped },
	};

	return tu_run("slot", cases, ELEMENTSOF(cases), setup, teardown);
}
