/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dm-verity detection against a fake sysfs tree and a fake device-mapper table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fileio.h"
#include "macro.h"
#include "testutil.h"
#include "verity.h"

static SwuContext *ctx;
static char *dir;
static char file[300];

static void setup(void)
{
	FILE *f;

	ctx = tu_context();
	dir = tu_tmpdir("verity");
	snprintf(file, sizeof(file), "%s/root.pb", dir);
	f = fopen(file, "we");
	fputs("root", f);
	fclose(f);
}

static void teardown(void)
{
	tu_rm_rf(dir);
	dir = (free(dir), NULL);
	ctx = swu_context_unref(ctx);
}

/* Makes <dir>/sys/dev/block/MAJ:MIN/dm/name for the device holding @file. */
static void fake_dm(const char *name)
{
	_cleanup_free_ char *dm = NULL, *path = NULL;
	struct stat st;

	ck_assert_int_eq(stat(file, &st), 0);
	dm = tu_path("%s/sys/dev/block/%u:%u/dm", dir, major(st.st_dev), minor(st.st_dev));
	ck_assert_int_eq(swu_mkdir_p(dm, 0755), 0);
	path = tu_path("%s/name", dm);
	/* sysfs attributes have the size of a page, whatever they hold */
	char page[4096] = "";
	snprintf(page, sizeof(page), "%s\n", name);
	ck_assert_int_eq(swu_write_file_atomic(path, page, sizeof(page), 0644), 0);
}

static int table(void *userdata, unsigned maj, unsigned min, char *type, size_t size)
{
	if (!userdata)
		return -ENXIO;
	snprintf(type, size, "%s", (const char *)userdata);
	return 0;
}

START_TEST(test_not_dm)
{
	char sys[300];

	snprintf(sys, sizeof(sys), "%s/sys", dir);
	ck_assert_int_eq(swu_verity_check(ctx, file, sys, table, (void *)"verity"), -EPERM);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "not a device-mapper device"));
}
END_TEST

START_TEST(test_verity)
{
	char sys[300];

	snprintf(sys, sizeof(sys), "%s/sys", dir);
	fake_dm("usr-verity");
	ck_assert_int_eq(swu_verity_check(ctx, file, sys, table, (void *)"verity"), 0);
}
END_TEST

START_TEST(test_other_dm_targets)
{
	char sys[300];

	snprintf(sys, sizeof(sys), "%s/sys", dir);
	fake_dm("root");
	ck_assert_int_eq(swu_verity_check(ctx, file, sys, table, (void *)"linear"), -EPERM);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "of type 'linear', not 'verity'"));
	ck_assert_int_eq(swu_verity_check(ctx, file, sys, table, (void *)"crypt"), -EPERM);
	/* The table cannot be read: refuse, saying so. */
	ck_assert_int_eq(swu_verity_check(ctx, file, sys, table, NULL), -EPERM);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "cannot read the device-mapper "
								"table"));
	ck_assert_int_eq(swu_verity_check(ctx, "/nonexistent", sys, table, NULL), -ENOENT);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "not-dm", test_not_dm },
		{ "verity", test_verity },
		{ "other-targets", test_other_dm_targets },
	};

	return tu_run("verity", cases, ELEMENTSOF(cases), setup, teardown);
}
