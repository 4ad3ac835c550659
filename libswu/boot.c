/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "exec.h"
#include "fileio.h"
#include "macro.h"
#include "sdboot.h"

static const char *const bootloader_table[_SWU_BOOT_MAX] = {
	[SWU_BOOT_NONE] = "none",
	[SWU_BOOT_UBOOT] = "uboot",
	[SWU_BOOT_GRUB] = "grub",
	[SWU_BOOT_CUSTOM] = "custom",
	[SWU_BOOT_SYSTEMD_BOOT] = "systemd-boot",
};

const char *swu_bootloader_to_string(SwuBootloader b)
{
	return b >= 0 && b < _SWU_BOOT_MAX ? bootloader_table[b] : NULL;
}

int swu_bootloader_from_string(const char *s)
{
	assert_return(s, -EINVAL);

	for (int i = 0; i < _SWU_BOOT_MAX; i++)
		if (streq(bootloader_table[i], s))
			return i;
	return -EINVAL;
}

/*
 * grub-editenv FILE set VAR=VALUE...: one call per switch. grub-editenv truncates its file and
 * writes it again, so a power cut in between would leave no environment at all, and the boot
 * script would then take every slot for bootable, a half-written one too. It edits a copy; the
 * new block is then written over the old one in place (same size, no truncation, flushed):
 * GRUB's save_env writes into the file's blocks too, and the variables sit in its first sector.
 */
static int grub_set(SwuContext *ctx, const SwuBootConfig *c, char *const *assignments, size_t n)
{
	char *argv[16] = { (char *)"grub-editenv", NULL, (char *)"set" };
	_cleanup_free_ uint8_t *old = NULL, *new = NULL;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t old_size = 0, new_size = 0;
	int r;

	r = swu_read_file(c->grub_env, 64 * 1024, &old, &old_size);
	if (r < 0 && r != -ENOENT)
		return swu_fail(ctx, r, "boot", "grub", "cannot read '%s': %s", c->grub_env,
				strerror(-r));
	r = swu_tmpfile_open(c->grub_env, 0600, &fd, &tmp);
	if (r < 0)
		return swu_fail(ctx, r, "boot", "grub", "cannot write next to '%s': %s",
				c->grub_env, strerror(-r));
	argv[1] = tmp;
	if (old)
		r = swu_write_all(fd, old, old_size);
	else {
		/* a missing environment starts empty: grub-editenv makes the block */
		char *create[] = { (char *)"grub-editenv", tmp, (char *)"create", NULL };

		r = swu_exec(ctx, create, NULL);
	}
	for (size_t i = 0; r >= 0 && i < n && i < 12; i++)
		argv[3 + i] = assignments[i];
	if (r >= 0)
		r = swu_exec(ctx, argv, NULL);
	if (r >= 0)
		r = swu_read_file(tmp, 64 * 1024, &new, &new_size);
	fd = safe_close(fd);
	unlink(tmp);
	if (r < 0)
		return r;
	if (!old || new_size != old_size)
		r = swu_write_file_atomic(c->grub_env, new, new_size, 0644);
	else {
		fd = open(c->grub_env, O_WRONLY | O_CLOEXEC); /* at offset 0, not truncated */
		r = fd < 0 ? -errno : swu_write_all(fd, new, new_size);
		if (r >= 0 && fsync(fd) < 0)
			r = -errno;
	}
	if (r < 0)
		return swu_fail(ctx, r, "boot", "grub", "cannot write '%s': %s", c->grub_env,
				strerror(-r));
	return 0;
}

/* fw_setenv -c CONFIG -s SCRIPT: one script, one write of the (redundant) environment. */
static int uboot_set(SwuContext *ctx, const SwuBootConfig *c, const char *script)
{
	char path[] = "/tmp/swupdated-fwenv.XXXXXX";
	char *argv[] = { (char *)"fw_setenv", (char *)"-c", (char *)c->fw_env_config,
			 (char *)"-s",	      path,	    NULL };
	_cleanup_close_ int fd = mkostemp(path, O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = swu_write_all(fd, script, strlen(script));
	if (r >= 0)
		r = swu_exec(ctx, argv, NULL);
	unlink(path);
	return r;
}

static int custom_run(SwuContext *ctx, const SwuBootConfig *c, const char *verb, char slot,
		      const char *state, char **ret_output)
{
	char s[2] = { slot, 0 };
	char *argv[] = { (char *)c->custom, (char *)verb, slot ? s : NULL, (char *)state, NULL };

	return swu_exec(ctx, argv, ret_output);
}

/* Sets the order "@first @second" and the state of @slot (good: bootable with full tries). */
static int boot_set(SwuContext *ctx, const SwuBootConfig *c, char first, char second, char slot,
		    int good)
{
	char order[32], ok[32], try[32], script[128];
	int r;

	switch (c->type) {
	case SWU_BOOT_NONE:
		return 0;
	case SWU_BOOT_GRUB: {
		char *assign[] = { order, ok, try };

		snprintf(order, sizeof(order), "ORDER=%c %c", first, second);
		snprintf(ok, sizeof(ok), "%c_OK=%d", slot, good);
		snprintf(try, sizeof(try), "%c_TRY=0", slot);
		return grub_set(ctx, c, assign, ELEMENTSOF(assign));
	}
	case SWU_BOOT_UBOOT:
		/* LEFT=0 too: boot scripts older than the BOOT_<slot>_OK flag skip the slot */
		snprintf(script, sizeof(script),
			 "BOOT_ORDER=%c %c\nBOOT_%c_OK=%d\nBOOT_%c_LEFT=%u\n", first, second, slot,
			 good, slot, good ? c->attempts : 0);
		return uboot_set(ctx, c, script);
	case SWU_BOOT_CUSTOM:
		if (slot == first) {
			r = custom_run(ctx, c, "set-primary", first, NULL, NULL);
			if (r < 0)
				return r;
		}
		r = custom_run(ctx, c, "set-state", slot, good ? "good" : "bad", NULL);
		if (r < 0 || slot == first)
			return r;
		return custom_run(ctx, c, "set-primary", first, NULL, NULL);
	case SWU_BOOT_SYSTEMD_BOOT:
		/* its own calls: trying a slot is not marking it good there */
		return good ? swu_sdboot_mark_good(ctx, c, slot)
			    : swu_sdboot_mark_bad(ctx, c, slot, first);
	case _SWU_BOOT_MAX:
		break;
	}
	return -EINVAL;
}

int swu_boot_try(SwuContext *ctx, const SwuBootConfig *c, char slot, char other)
{
	assert_return(ctx, -EINVAL);
	assert_return(c, -EINVAL);

	if (c->type == SWU_BOOT_SYSTEMD_BOOT)
		return swu_sdboot_try(ctx, c, slot);
	return boot_set(ctx, c, slot, other, slot, 1);
}

int swu_boot_mark_good(SwuContext *ctx, const SwuBootConfig *c, char slot, char other)
{
	assert_return(ctx, -EINVAL);
	assert_return(c, -EINVAL);

	return boot_set(ctx, c, slot, other, slot, 1);
}

int swu_boot_mark_bad(SwuContext *ctx, const SwuBootConfig *c, char slot, char other)
{
	assert_return(ctx, -EINVAL);
	assert_return(c, -EINVAL);

	return boot_set(ctx, c, other, slot, slot, 0);
}

/* Finds "NAME=value" in the output of grub-editenv list / fw_printenv. */
static const char *find_var(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, name, n) == 0 && l[n] == '=')
			return l + n + 1;
	return NULL;
}

static int first_slot(const char *value, char *ret)
{
	while (value && *value == ' ')
		value++;
	if (!value || (*value != 'A' && *value != 'B'))
		return -ENODATA;
	*ret = *value;
	return 0;
}

int swu_boot_get_primary(SwuContext *ctx, const SwuBootConfig *c, char *ret)
{
	_cleanup_free_ char *out = NULL;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(c, -EINVAL);
	assert_return(ret, -EINVAL);

	switch (c->type) {
	case SWU_BOOT_NONE:
		return -ENODATA;
	case SWU_BOOT_GRUB: {
		char *argv[] = { (char *)"grub-editenv", (char *)c->grub_env, (char *)"list",
				 NULL };

		r = swu_exec(ctx, argv, &out);
		return r < 0 ? r : first_slot(find_var(out, "ORDER"), ret);
	}
	case SWU_BOOT_UBOOT: {
		char *argv[] = { (char *)"fw_printenv", (char *)"-c", (char *)c->fw_env_config,
				 NULL };

		r = swu_exec(ctx, argv, &out);
		return r < 0 ? r : first_slot(find_var(out, "BOOT_ORDER"), ret);
	}
	case SWU_BOOT_CUSTOM:
		r = custom_run(ctx, c, "get-primary", 0, NULL, &out);
		return r < 0 ? r : first_slot(out, ret);
	case SWU_BOOT_SYSTEMD_BOOT:
		return swu_sdboot_get_primary(ctx, c, ret);
	case _SWU_BOOT_MAX:
		break;
	}
	return -EINVAL;
}
