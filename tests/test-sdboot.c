/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bootloader=systemd-boot: entry names and their counters, the EFI variables (efivarfs files:
 * 4 bytes of attributes, then UTF-16LE), and try/good/bad/primary on a directory standing in for
 * the ESP.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "boot.h"
#include "fileio.h"
#include "macro.h"
#include "sdboot.h"
#include "testutil.h"

#define PATTERN_A "gw-a[.+][e1-9]*"
#define PATTERN_B "gw-b[.+][e1-9]*"

static SwuContext *ctx;
static char *dir, *esp, *vars, *linux_dir;
static SwuBootConfig boot;

static void setup(void)
{
	ctx = tu_context();
	dir = tu_tmpdir("sdboot");
	esp = tu_path("%s/esp", dir);
	vars = tu_path("%s/efivars", dir);
	linux_dir = tu_path("%s/esp/EFI/Linux", dir);
	ck_assert_int_eq(swu_mkdir_p(linux_dir, 0755), 0);
	ck_assert_int_eq(swu_mkdir_p(vars, 0755), 0);
	boot = (SwuBootConfig){ .type = SWU_BOOT_SYSTEMD_BOOT,
				.attempts = 3,
				.esp = esp,
				.entry_stem = "gw",
				.efivars = vars };
}

static void teardown(void)
{
	tu_rm_rf(dir);
	dir = (free(dir), NULL);
	esp = (free(esp), NULL);
	vars = (free(vars), NULL);
	linux_dir = (free(linux_dir), NULL);
	ctx = swu_context_unref(ctx);
}

static void put_entry(const char *name, const char *text)
{
	_cleanup_free_ char *p = tu_path("%s/%s", linux_dir, name);

	tu_write_text(p, text);
}

static bool has_entry(const char *name)
{
	_cleanup_free_ char *p = tu_path("%s/%s", linux_dir, name);

	return access(p, F_OK) == 0;
}

static char *entry_text(const char *name)
{
	_cleanup_free_ char *p = tu_path("%s/%s", linux_dir, name);
	uint8_t *data = NULL;
	size_t size = 0;

	ck_assert_int_eq(swu_read_file(p, 4096, &data, &size), 0);
	data[size] = 0;
	return (char *)data;
}

/* the attributes put_var() gives: BOOTSERVICE_ACCESS | RUNTIME_ACCESS, volatile */
static uint8_t var_attributes = 6;

/* An efivarfs file as the kernel shows it: attributes, then @n bytes of value. */
static void put_var(const char *name, const void *value, size_t n)
{
	_cleanup_free_ char *p = tu_path("%s/%s-%s", vars, name, SWU_SDBOOT_LOADER_GUID);
	_cleanup_free_ uint8_t *buf = malloc(4 + n);

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, (uint8_t[]){ var_attributes, 0, 0, 0 }, 4);
	memcpy(buf + 4, value, n);
	ck_assert_int_eq(swu_write_file_atomic(p, buf, 4 + n, 0644), 0);
}

/* @s as UTF-16LE, with its NUL when @nul. */
static void put_var_text(const char *name, const char *s, bool nul)
{
	size_t n = strlen(s) + (nul ? 1 : 0);
	_cleanup_free_ uint8_t *u = calloc(n, 2);

	ck_assert_ptr_nonnull(u);
	for (size_t i = 0; i < strlen(s); i++)
		u[2 * i] = (uint8_t)s[i];
	put_var(name, u, 2 * n);
}

static char *get_var(const char *name)
{
	char *s = NULL;
	int r = swu_sdboot_read_efivar(vars, name, &s);

	ck_assert_msg(r == 0 || r == -ENOENT, "reading %s: %d", name, r);
	return s;
}

START_TEST(test_names)
{
	static const struct {
		const char *name;
		int r;
		char slot;
		int left, done;
	} cases[] = {
		{ "gw-A.efi", 0, 'A', -1, 0 },
		{ "gw-B+3.efi", 0, 'B', 3, 0 },
		{ "gw-B+2-1.efi", 0, 'B', 2, 1 },
		{ "gw-b+0-3.efi", 0, 'B', 0, 3 }, /* systemd-boot's ids are in lower case */
		{ "GW-A+10-0.EFI", 0, 'A', 10, 0 },
		{ "gw-B+2147483647.efi", 0, 'B', 2147483647, 0 },
		/* names of a slot that systemd-boot boots without counting */
		{ "gw-B+.efi", -EBADMSG },
		{ "gw-B+x.efi", -EBADMSG },
		{ "gw-B+3-.efi", -EBADMSG },
		{ "gw-B+3-1-2.efi", -EBADMSG },
		{ "gw-B+-1.efi", -EBADMSG },
		{ "gw-B+2147483648.efi", -EBADMSG },
		/* systemd-boot reads the last '+' and counts this one (2 tries left); no name of
		 * ours either, so it is removed with the slot, never taken for its entry */
		{ "gw-B+3+2.efi", -EBADMSG },
		/* no entries of the slots */
		{ "gw-C.efi", -ENOENT },
		{ "gw-AB.efi", -ENOENT },
		{ "gw-A.x.efi", -ENOENT },
		{ "gw-A+3.conf", -ENOENT },
		{ "gw-A.efi.new", -ENOENT },
		{ ".gw-A.efi.new", -ENOENT },
		{ "gwx-A.efi", -ENOENT },
		{ "gw.efi", -ENOENT },
		{ "gw-", -ENOENT },
		{ "debian.efi", -ENOENT },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		SwuSdbootEntry e = { 'X', 99, 99 };
		int r = swu_sdboot_parse_name("gw", cases[i].name, &e);

		ck_assert_msg(r == cases[i].r, "%s: %d, not %d", cases[i].name, r, cases[i].r);
		if (r < 0) {
			ck_assert_int_eq(e.slot, 'X'); /* untouched on failure */
			continue;
		}
		ck_assert_int_eq(e.slot, cases[i].slot);
		ck_assert_int_eq(e.tries_left, cases[i].left);
		ck_assert_int_eq(e.tries_done, cases[i].done);
	}
}
END_TEST

START_TEST(test_stem_and_pattern)
{
	_cleanup_free_ char *p = NULL;

	ck_assert_int_eq(swu_sdboot_check_stem("gateway"), 0);
	ck_assert_int_eq(swu_sdboot_check_stem("acme_gw-2.1"), 0);
	/* systemd-boot skips these names, or a pattern would read them as wildcards */
	ck_assert_int_eq(swu_sdboot_check_stem(""), -EINVAL);
	ck_assert_int_eq(swu_sdboot_check_stem(".gw"), -EINVAL);
	ck_assert_int_eq(swu_sdboot_check_stem("auto-gw"), -EINVAL);
	ck_assert_int_eq(swu_sdboot_check_stem("Auto-gw"), -EINVAL);
	ck_assert_int_eq(swu_sdboot_check_stem("g+w"), -EINVAL);
	ck_assert_int_eq(swu_sdboot_check_stem("g*"), -EINVAL);
	ck_assert_int_eq(swu_sdboot_check_stem("a/b"), -EINVAL);
	ck_assert_int_eq(swu_sdboot_check_stem("01234567890123456789012345678901234567890123456789"
					       "0123456789012345"),
			 -EINVAL);
	ck_assert_int_eq(swu_sdboot_default_pattern("GW", 'B', &p), 0);
	ck_assert_str_eq(p, PATTERN_B);
}
END_TEST

START_TEST(test_efivar_read)
{
	static const uint8_t odd[] = { 'g', 0, 'w' };
	static const uint8_t high[] = { 'g', 0, 0xe9, 0, 0, 0 };
	static const uint8_t after_nul[] = { 'g', 0, 0, 0, 'w', 0 };
	_cleanup_free_ char *s = NULL, *t = NULL;

	ck_assert_int_eq(swu_sdboot_read_efivar(vars, "LoaderEntrySelected", &s), -ENOENT);
	put_var_text("LoaderEntrySelected", "gw-b+2-1.efi", true);
	ck_assert_int_eq(swu_sdboot_read_efivar(vars, "LoaderEntrySelected", &s), 0);
	ck_assert_str_eq(s, "gw-b+2-1.efi");
	put_var_text("LoaderEntrySelected", "gw-a.efi", false); /* without its NUL */
	ck_assert_int_eq(swu_sdboot_read_efivar(vars, "LoaderEntrySelected", &t), 0);
	ck_assert_str_eq(t, "gw-a.efi");
	put_var("LoaderEntrySelected", odd, sizeof(odd));
	ck_assert_int_eq(swu_sdboot_read_efivar(vars, "LoaderEntrySelected", &t), -EBADMSG);
	put_var("LoaderEntrySelected", high, sizeof(high));
	ck_assert_int_eq(swu_sdboot_read_efivar(vars, "LoaderEntrySelected", &t), -EBADMSG);
	put_var("LoaderEntrySelected", after_nul, sizeof(after_nul));
	ck_assert_int_eq(swu_sdboot_read_efivar(vars, "LoaderEntrySelected", &t), -EBADMSG);
	put_var("LoaderEntrySelected", "", 0); /* attributes alone: empty */
	free(t);
	t = NULL;
	ck_assert_int_eq(swu_sdboot_read_efivar(vars, "LoaderEntrySelected", &t), 0);
	ck_assert_str_eq(t, "");
}
END_TEST

START_TEST(test_efivar_write)
{
	static const uint8_t want[] = { 7, 0, 0, 0, 'g', 0, 'w', 0, '*', 0, 0, 0 };
	_cleanup_free_ char *p = tu_path("%s/LoaderEntryDefault-%s", vars, SWU_SDBOOT_LOADER_GUID);
	_cleanup_free_ uint8_t *data = NULL;
	size_t size = 0;

	ck_assert_int_eq(swu_sdboot_write_efivar(vars, "LoaderEntryDefault", "a-longer-value"), 0);
	ck_assert_int_eq(swu_sdboot_write_efivar(vars, "LoaderEntryDefault", "gw*"), 0);
	ck_assert_int_eq(swu_read_file(p, 4096, &data, &size), 0);
	ck_assert_uint_eq(size, sizeof(want));
	ck_assert_mem_eq(data, want, sizeof(want));
}
END_TEST

/* The flags of @path (FS_IOC_GETFLAGS), or -errno. */
static int get_flags(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	int flags = 0;

	return fd < 0 || ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 ? -errno : flags;
}

static int set_flags(const char *path, int flags)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	return fd < 0 || ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0 ? -errno : 0;
}

/*
 * efivarfs marks a variable immutable: a write must lift the flag first, through a read-only
 * descriptor, as an immutable file cannot be opened for writing at all. A plain directory shows
 * the same when its filesystem has the flag (ext4, not tmpfs) and we may set it (root).
 */
START_TEST(test_efivar_write_immutable)
{
	_cleanup_free_ char *p = tu_path("%s/LoaderEntryDefault-%s", vars, SWU_SDBOOT_LOADER_GUID);
	_cleanup_free_ char *d = NULL;
	int flags, r;

	ck_assert_int_eq(swu_sdboot_write_efivar(vars, "LoaderEntryDefault", PATTERN_A), 0);
	flags = get_flags(p);
	r = flags < 0 ? flags : set_flags(p, flags | FS_IMMUTABLE_FL);
	if (r < 0) {
		fprintf(stderr, "SKIP: efivar-write-immutable: no immutable flag in '%s': %s\n",
			vars, strerror(-r));
		return;
	}
	r = swu_sdboot_write_efivar(vars, "LoaderEntryDefault", PATTERN_B);
	/* the flag is put back, as bootctl does; lifted here so the directory can be removed */
	flags = get_flags(p);
	ck_assert_int_eq(set_flags(p, flags & ~FS_IMMUTABLE_FL), 0);
	ck_assert_int_eq(r, 0);
	ck_assert(flags & FS_IMMUTABLE_FL);
	d = get_var("LoaderEntryDefault");
	ck_assert_str_eq(d, PATTERN_B);
}
END_TEST

START_TEST(test_selected)
{
	char s = 0;

	ck_assert_int_eq(swu_sdboot_selected_slot(ctx, &boot, &s), -ENOENT);
	put_var_text("LoaderEntrySelected", "gw-b+2-1.efi", true);
	ck_assert_int_eq(swu_sdboot_selected_slot(ctx, &boot, &s), 0);
	ck_assert_int_eq(s, 'B');
	put_var_text("LoaderEntrySelected", "gw-a.efi", true);
	ck_assert_int_eq(swu_sdboot_selected_slot(ctx, &boot, &s), 0);
	ck_assert_int_eq(s, 'A');
	/* another entry of the ESP (a rescue image) names no slot */
	s = 0;
	put_var_text("LoaderEntrySelected", "rescue.efi", true);
	ck_assert_int_eq(swu_sdboot_selected_slot(ctx, &boot, &s), -ENOENT);
	put_var_text("LoaderEntrySelected", "auto-windows", true);
	ck_assert_int_eq(swu_sdboot_selected_slot(ctx, &boot, &s), -ENOENT);
	ck_assert_int_eq(s, 0);
	/* non-volatile: written from a running system, never by systemd-boot */
	var_attributes = 7;
	put_var_text("LoaderEntrySelected", "gw-b.efi", true);
	var_attributes = 6;
	ck_assert_int_eq(swu_sdboot_selected_slot(ctx, &boot, &s), -EPERM);
	ck_assert_int_eq(s, 0);
	ck_assert_ptr_nonnull(strstr(swu_context_get_failure(ctx)->message, "LoaderEntrySelected "
									    "('gw-b.efi') is "
									    "non-volatile"));
}
END_TEST

/* Stages @text for @slot as an install does. */
static void stage(char slot, const char *text)
{
	_cleanup_close_ int fd = -EBADF;
	uint64_t size = 0;

	ck_assert_int_eq(swu_sdboot_open_new(ctx, &boot, slot, &fd, &size), 0);
	ck_assert_uint_gt(size, strlen(text));
	ck_assert_int_eq(swu_write_all(fd, text, strlen(text)), 0);
}

static unsigned efivar_writes;

static void count_efivar_writes(void *userdata, const char *where)
{
	if (streq(where, "sdboot-efivar"))
		efivar_writes++;
}

START_TEST(test_try)
{
	_cleanup_free_ char *d = NULL, *text = NULL;
	struct stat a_before, a_after;
	_cleanup_free_ char *a_path = tu_path("%s/gw-A.efi", linux_dir);
	char primary = 0;

	put_entry("gw-A.efi", "uki A");
	put_var_text("LoaderEntryDefault", PATTERN_A, true);
	ck_assert_int_eq(stat(a_path, &a_before), 0);
	/* nothing staged: no switch */
	ck_assert_int_eq(swu_boot_try(ctx, &boot, 'B', 'A'), -ENOENT);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "no new image for slot B"));
	d = get_var("LoaderEntryDefault");
	ck_assert_str_eq(d, PATTERN_A);

	/* an entry an earlier switch left goes; the staged image becomes the entry with tries */
	put_entry("gw-B+1-2.efi", "old B");
	stage('B', "uki B");
	ck_assert(has_entry(".gw-B.efi.new"));
	ck_assert(!has_entry("gw-B+3.efi"));
	ck_assert_int_eq(swu_boot_try(ctx, &boot, 'B', 'A'), 0);
	ck_assert(!has_entry(".gw-B.efi.new"));
	ck_assert(!has_entry("gw-B+1-2.efi"));
	text = entry_text("gw-B+3.efi");
	ck_assert_str_eq(text, "uki B");
	free(d);
	d = get_var("LoaderEntryDefault");
	ck_assert_str_eq(d, PATTERN_B);
	ck_assert_int_eq(swu_boot_get_primary(ctx, &boot, &primary), 0);
	ck_assert_int_eq(primary, 'B');
	/* the good slot's file is never touched */
	ck_assert_int_eq(stat(a_path, &a_after), 0);
	ck_assert_uint_eq(a_after.st_ino, a_before.st_ino);
	free(text);
	text = entry_text("gw-A.efi");
	ck_assert_str_eq(text, "uki A");

	/* BootAttempts= is the counter */
	boot.attempts = 7;
	stage('A', "uki A2");
	ck_assert_int_eq(swu_boot_try(ctx, &boot, 'A', 'B'), 0);
	ck_assert(has_entry("gw-A+7.efi"));
	ck_assert(!has_entry("gw-A.efi"));
}
END_TEST

START_TEST(test_mark_good)
{
	_cleanup_free_ char *d = NULL;

	/* counted down by systemd-boot, then confirmed */
	put_entry("gw-A.efi", "uki A");
	put_entry("gw-B+2-1.efi", "uki B");
	put_var_text("LoaderEntryDefault", PATTERN_B, true);
	swu_context_set_fault(ctx, count_efivar_writes, NULL);
	ck_assert_int_eq(swu_boot_mark_good(ctx, &boot, 'B', 'A'), 0);
	ck_assert(has_entry("gw-B.efi"));
	ck_assert(!has_entry("gw-B+2-1.efi"));
	ck_assert(has_entry("gw-A.efi"));
	/* systemd-bless-boot came first (or mark-good runs at every boot): nothing to do, and the
	 * variable is not written again */
	ck_assert_int_eq(swu_boot_mark_good(ctx, &boot, 'B', 'A'), 0);
	ck_assert(has_entry("gw-B.efi"));
	ck_assert_uint_eq(efivar_writes, 0);
	/* the last try booted and passed: good too */
	tu_rm_rf(linux_dir);
	ck_assert_int_eq(swu_mkdir_p(linux_dir, 0755), 0);
	put_entry("gw-A+0-3.efi", "uki A");
	ck_assert_int_eq(swu_boot_mark_good(ctx, &boot, 'A', 'B'), 0);
	ck_assert(has_entry("gw-A.efi"));
	ck_assert_uint_eq(efivar_writes, 1);
	d = get_var("LoaderEntryDefault");
	ck_assert_str_eq(d, PATTERN_A);
	/* a slot without an entry cannot be good */
	ck_assert_int_eq(swu_boot_mark_good(ctx, &boot, 'B', 'A'), -ENOENT);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "slot B has no entry"));
}
END_TEST

START_TEST(test_mark_bad)
{
	_cleanup_free_ char *d = NULL, *text = NULL;
	char primary = 0;

	put_entry("gw-A.efi", "uki A");
	put_entry("gw-B+0-3.efi", "uki B");
	put_entry("gw-b+x.efi", "malformed B");
	put_entry(".gw-B.efi.new", "half-written B");
	put_entry("rescue.efi", "rescue");
	put_var_text("LoaderEntryDefault", PATTERN_B, true);
	ck_assert_int_eq(swu_boot_mark_bad(ctx, &boot, 'B', 'A'), 0);
	/* never booted again: nothing of B is left for systemd-boot or bless-boot; what an
	 * install staged stays, a name systemd-boot skips */
	ck_assert_int_eq(tu_count_files(linux_dir), 3);
	ck_assert(has_entry(".gw-B.efi.new"));
	text = entry_text("gw-A.efi");
	ck_assert_str_eq(text, "uki A");
	ck_assert(has_entry("rescue.efi"));
	d = get_var("LoaderEntryDefault");
	ck_assert_str_eq(d, PATTERN_A);
	ck_assert_int_eq(swu_boot_get_primary(ctx, &boot, &primary), 0);
	ck_assert_int_eq(primary, 'A');
	/* again: nothing to remove */
	ck_assert_int_eq(swu_boot_mark_bad(ctx, &boot, 'B', 'A'), 0);
}
END_TEST

/* More files of a slot than any fixed list holds: every operation still sees and removes all. */
START_TEST(test_many_files)
{
	_cleanup_free_ char *d = NULL;
	_cleanup_close_ int fd = -EBADF;
	uint64_t size = 0;
	char primary = 0;

	put_entry("gw-A.efi", "uki A");
	for (int i = 1; i <= 40; i++) {
		_cleanup_free_ char *name = tu_path("gw-B+1-%d.efi", i);
		_cleanup_free_ char *bad = tu_path("gw-B+x%d.efi", i);

		put_entry(name, "old B");
		put_entry(bad, "malformed B");
	}
	put_var_text("LoaderEntryDefault", PATTERN_A, true);
	ck_assert_int_eq(swu_sdboot_capacity(ctx, &boot, 'B', &size), 0);
	ck_assert_int_eq(swu_boot_get_primary(ctx, &boot, &primary), 0);
	ck_assert_int_eq(primary, 'A');
	ck_assert_int_eq(swu_sdboot_open_active(ctx, &boot, 'B', &fd, &size), 0);
	fd = safe_close(fd);
	stage('B', "uki B");
	ck_assert_int_eq(swu_boot_try(ctx, &boot, 'B', 'A'), 0);
	ck_assert_int_eq(tu_count_files(linux_dir), 2);
	ck_assert(has_entry("gw-B+3.efi"));
	for (int i = 1; i <= 40; i++) {
		_cleanup_free_ char *name = tu_path("gw-B+1-%d.efi", i);

		put_entry(name, "old B");
	}
	ck_assert_int_eq(swu_boot_mark_good(ctx, &boot, 'B', 'A'), 0);
	ck_assert_int_eq(swu_boot_mark_bad(ctx, &boot, 'B', 'A'), 0);
	ck_assert_int_eq(tu_count_files(linux_dir), 1);
	d = get_var("LoaderEntryDefault");
	ck_assert_str_eq(d, PATTERN_A);
}
END_TEST

/*
 * What the default pattern of a slot matches is that slot's, whether or not its name parses:
 * systemd-boot would boot it (when the default names the slot: a used-up entry never matches).
 */
START_TEST(test_pattern_files)
{
	put_entry("gw-A.efi", "uki A");
	put_entry("gw-B+3.efi", "uki B");
	put_entry("gw-b.eold.efi", "older B");
	put_entry("GW-B.E1.EFI", "another B");
	put_entry("gw-b+9x.efi", "malformed B");
	put_entry("gw-B.x.efi", "no slot's");
	put_entry("gw-B.eold", "no entry");
	ck_assert_int_eq(swu_boot_mark_bad(ctx, &boot, 'B', 'A'), 0);
	ck_assert_int_eq(tu_count_files(linux_dir), 3);
	ck_assert(has_entry("gw-A.efi"));
	ck_assert(has_entry("gw-B.x.efi"));
	ck_assert(has_entry("gw-B.eold"));
}
END_TEST

/* systemd-bless-boot renames the entry while mark-bad removes it: the renamed file goes too. */
static void bless_on_remove(void *userdata, const char *where)
{
	_cleanup_free_ char *from = tu_path("%s/gw-B+2-1.efi", linux_dir);
	_cleanup_free_ char *to = tu_path("%s/gw-B.efi", linux_dir);

	if (streq(where, "sdboot-remove") && access(from, F_OK) == 0)
		ck_assert_int_eq(rename(from, to), 0);
}

START_TEST(test_mark_bad_race)
{
	put_entry("gw-A.efi", "uki A");
	put_entry("gw-B+2-1.efi", "uki B");
	put_var_text("LoaderEntryDefault", PATTERN_B, true);
	swu_context_set_fault(ctx, bless_on_remove, NULL);
	ck_assert_int_eq(swu_boot_mark_bad(ctx, &boot, 'B', 'A'), 0);
	ck_assert(!has_entry("gw-B.efi"));
	ck_assert_int_eq(tu_count_files(linux_dir), 1);
}
END_TEST

START_TEST(test_primary)
{
	_cleanup_free_ char *b_good = tu_path("%s/gw-B.efi", linux_dir);
	char primary = 0;

	/* no variable, no entry */
	ck_assert_int_eq(swu_boot_get_primary(ctx, &boot, &primary), -ENODATA);
	/* a factory image: the only slot with an entry */
	put_entry("gw-A.efi", "uki A");
	ck_assert_int_eq(swu_boot_get_primary(ctx, &boot, &primary), 0);
	ck_assert_int_eq(primary, 'A');
	/* a used-up entry does not boot */
	primary = 0;
	put_entry("gw-B+0-3.efi", "uki B");
	ck_assert_int_eq(swu_boot_get_primary(ctx, &boot, &primary), 0);
	ck_assert_int_eq(primary, 'A');
	/* two that boot, and no default of ours: systemd-boot's order depends on the images */
	put_entry("gw-B.efi", "uki B");
	ck_assert_int_eq(swu_boot_get_primary(ctx, &boot, &primary), -ENODATA);
	put_var_text("LoaderEntryDefault", "rescue.efi", true);
	ck_assert_int_eq(swu_boot_get_primary(ctx, &boot, &primary), -ENODATA);
	/* the default decides, whatever the counter: B ran out of tries and A booted, yet B is
	 * what systemd-boot was told to boot first (a rollback, not a switch that never ran) */
	ck_assert_int_eq(unlink(b_good), 0);
	put_var_text("LoaderEntryDefault", "GW-B[.+][E1-9]*", true);
	ck_assert_int_eq(swu_boot_get_primary(ctx, &boot, &primary), 0);
	ck_assert_int_eq(primary, 'B');
}
END_TEST

/* The free bytes of the ESP's filesystem, which other tests share. */
static uint64_t free_bytes(void)
{
	struct statvfs sv;

	ck_assert_int_eq(statvfs(linux_dir, &sv), 0);
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* What is free and what capacity() says, from a moment when no other process wrote. */
#define QUIET_TRIES 50

static uint64_t quiet_capacity(uint64_t *ret)
{
	for (int i = 0; i < QUIET_TRIES; i++) {
		uint64_t before = free_bytes();

		ck_assert_int_eq(swu_sdboot_capacity(ctx, &boot, 'B', ret), 0);
		if (free_bytes() == before)
			return before;
		usleep(20000);
	}
	ck_abort_msg("the free space of %s never held still", linux_dir);
	return 0;
}

START_TEST(test_capacity)
{
	uint64_t plain = 0, with_b = 0, free_now;
	_cleanup_close_ int fd = -EBADF;
	char big[8192];

	/* no entry: the free space */
	free_now = quiet_capacity(&plain);
	ck_assert_uint_eq(plain, free_now);
	memset(big, 'x', sizeof(big));
	put_entry("gw-A.efi", "uki A");
	{
		_cleanup_free_ char *p = tu_path("%s/gw-B+1-2.efi", linux_dir);

		ck_assert_int_eq(swu_write_file_atomic(p, big, sizeof(big), 0644), 0);
	}
	/* the old entry of B is removed before the new one is written: it counts as room, A's
	 * does not */
	free_now = quiet_capacity(&with_b);
	ck_assert_uint_eq(with_b, free_now + sizeof(big));
	ck_assert_int_eq(swu_sdboot_open_new(ctx, &boot, 'B', &fd, &with_b), 0);
	ck_assert_uint_ge(with_b, sizeof(big));
	ck_assert(has_entry(".gw-B.efi.new"));
	ck_assert(has_entry("gw-B+1-2.efi")); /* removed by the switch, not before */
	/* no ESP mounted */
	boot.esp = "/nonexistent";
	ck_assert_int_eq(swu_sdboot_capacity(ctx, &boot, 'B', &plain), -ENOENT);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "/nonexistent/EFI/Linux"));
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "names", test_names },
		{ "stem-and-pattern", test_stem_and_pattern },
		{ "efivar-read", test_efivar_read },
		{ "efivar-write", test_efivar_write },
		{ "efivar-write-immutable", test_efivar_write_immutable },
		{ "selected", test_selected },
		{ "try", test_try },
		{ "mark-good", test_mark_good },
		{ "mark-bad", test_mark_bad },
		{ "many-files", test_many_files },
		{ "pattern-files", test_pattern_files },
		{ "mark-bad-race", test_mark_bad_race },
		{ "primary", test_primary },
		{ "capacity", test_capacity },
	};

	return tu_run("sdboot", cases, ELEMENTSOF(cases), setup, teardown);
}
