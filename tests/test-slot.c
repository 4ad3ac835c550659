/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Slot selection: the kernel command line, and never opening the booted slot for writing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
		swu_slot_booted(ctx, "swupdated.slot=B", "swupdated.slot", 0, slots, 2, &s), 0);
	ck_assert_int_eq(s, 'B');
	/* Regular files never match the root device: nothing decides. */
	ck_assert_int_eq(swu_slot_booted(ctx, "quiet", "swupdated.slot", 0, slots, 2, &s), -ENXIO);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "cannot tell the booted slot"));
	ck_assert_int_eq(swu_slot_booted(ctx, "swupdated.slot=X", "swupdated.slot", 0, slots, 2,
					 &s),
			 -ENXIO);
	ck_assert_int_eq(swu_slot_booted(ctx, NULL, "swupdated.slot", 0, slots, 2, &s), -ENXIO);
}
END_TEST

START_TEST(test_open_inactive)
{
	char link[300];
	uint64_t size = 0;
	int fd = -EBADF;

	ck_assert_int_eq(swu_slot_open_inactive(ctx, b, a, 0, &fd, &size), 0);
	ck_assert_uint_eq(size, 8192);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	close(fd);
	fd = -EBADF;
	/* The booted slot, under another name, is refused. */
	snprintf(link, sizeof(link), "%s/alias", dir);
	ck_assert_int_eq(symlink(a, link), 0);
	ck_assert_int_eq(swu_slot_open_inactive(ctx, link, a, 0, &fd, &size), -EBUSY);
	ck_assert_int_eq(fd, -EBADF);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "it is the booted slot"));
	ck_assert_int_eq(swu_slot_open_inactive(ctx, a, a, 0, &fd, &size), -EBUSY);
	/* Missing slots and directories are refused with a reason. */
	snprintf(link, sizeof(link), "%s/missing", dir);
	ck_assert_int_eq(swu_slot_open_inactive(ctx, link, a, 0, &fd, &size), -ENOENT);
	ck_assert_int_eq(swu_slot_open_inactive(ctx, dir, a, 0, &fd, &size), -EISDIR);
	ck_assert(swu_slot_same(a, a));
	ck_assert(!swu_slot_same(a, b));
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "cmdline", test_cmdline },
		{ "booted", test_booted },
		{ "open-inactive", test_open_inactive },
	};

	return tu_run("slot", cases, ELEMENTSOF(cases), setup, teardown);
}
