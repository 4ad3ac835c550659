/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* swupdated.conf parsing: values, defaults, and every error naming file and line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "macro.h"
#include "testutil.h"

static char *dir;
static char path[256];

static void setup(void)
{
	dir = tu_tmpdir("config");
	snprintf(path, sizeof(path), "%s/swupdated.conf", dir);
}

static void teardown(void)
{
	tu_rm_rf(dir);
	dir = (free(dir), NULL);
}

static const char base[] = "[Update]\n"
			   "Compatible=acme-gw-v2   # this device\n"
			   "[Slot.rootfs.A]\n"
			   "Device=/dev/mmcblk0p2\n"
			   "[Slot.rootfs.B]\n"
			   "Device=/dev/mmcblk0p3\n";

/* Writes @text, loads it, and returns the result; stderr goes to @err when set. */
static int load(const char *text, Config **ret, char *err, size_t err_size)
{
	char errpath[300];
	FILE *f = fopen(path, "we");
	int saved, r;
	FILE *e;

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_ptr_nonnull(freopen(errpath, "w", stderr));
	r = config_load(path, ret);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	e = fopen(errpath, "re");
	if (err) {
		size_t n = fread(err, 1, err_size - 1, e);

		err[n] = 0;
	}
	fclose(e);
	return r;
}

START_TEST(test_good_and_defaults)
{
	Config *c = NULL;

	ck_assert_int_eq(load(base, &c, NULL, 0), 0);
	ck_assert_str_eq(c->compatible, "acme-gw-v2");
	ck_assert_str_eq(c->root_metadata, "/usr/lib/swupdated/root.pb");
	ck_assert_str_eq(c->state_dir, "/var/lib/swupdated");
	ck_assert(c->require_verity);
	ck_assert_int_eq(c->bootloader, SWU_BOOT_NONE);
	ck_assert_uint_eq(c->boot_attempts, 3);
	ck_assert_uint_eq(c->poll_timeout_sec, 300);
	ck_assert_str_eq(c->slot_parameter, "swupdated.slot");
	ck_assert_str_eq(c->kernel_cmdline, "/proc/cmdline");
	ck_assert_uint_eq(c->n_slots, 2);
	ck_assert_str_eq(config_find_slot(c, "rootfs", 'B')->device, "/dev/mmcblk0p3");
	ck_assert_ptr_null(config_find_slot(c, "appfs", 'A'));
	config_free(c);
}
END_TEST

START_TEST(test_all_keys)
{
	char text[2048];
	Config *c = NULL;

	snprintf(text, sizeof(text),
		 "%s[Trust]\nRootMetadata=/r.pb\nRequireVerity=no\nStateDirectory=/s\n"
		 "[Boot]\nBootloader=uboot\nBootAttempts=5\nSlotParameter=rauc.slot\n"
		 "KernelCommandLine=/c\nBootIdFile=/b\nGrubEnvironment=/g\nFwEnvConfig=/f\n"
		 "CustomBackend=/x\n[Network]\nPollTimeoutSec=42\n",
		 base);
	ck_assert_int_eq(load(text, &c, NULL, 0), 0);
	ck_assert_uint_eq(c->poll_timeout_sec, 42);
	ck_assert(!c->require_verity);
	ck_assert_int_eq(c->bootloader, SWU_BOOT_UBOOT);
	ck_assert_uint_eq(c->boot_attempts, 5);
	ck_assert_str_eq(c->slot_parameter, "rauc.slot");
	ck_assert_str_eq(c->fw_env_config, "/f");
	ck_assert_str_eq(c->custom_backend, "/x");
	config_free(c);
}
END_TEST

START_TEST(test_systemd_boot)
{
	char text[1024];
	Config *c = NULL;
	SwuBootConfig boot;

	snprintf(text, sizeof(text),
		 "%s[Boot]\nBootloader=systemd-boot\nBootAttempts=2\nBootEntryStem=gateway\n"
		 "EfiSystemPartition=/efi\nEfiVariableDirectory=/v\n"
		 "[Slot.uki.A]\nBootEntry=yes\n[Slot.uki.B]\nBootEntry=yes\n",
		 base);
	ck_assert_int_eq(load(text, &c, NULL, 0), 0);
	ck_assert_int_eq(c->bootloader, SWU_BOOT_SYSTEMD_BOOT);
	ck_assert(config_find_slot(c, "uki", 'B')->boot_entry);
	ck_assert(!config_find_slot(c, "rootfs", 'B')->boot_entry);
	ck_assert_str_eq(config_find_slot(c, "uki", 'B')->device, "/efi/EFI/Linux/gateway-B.efi");
	boot = config_boot(c);
	ck_assert_uint_eq(boot.attempts, 2);
	ck_assert_str_eq(boot.esp, "/efi");
	ck_assert_str_eq(boot.entry_stem, "gateway");
	ck_assert_str_eq(boot.efivars, "/v");
	config_free(c);

	/* the defaults */
	snprintf(text, sizeof(text),
		 "%s[Boot]\nBootloader=systemd-boot\n"
		 "[Slot.uki.A]\nBootEntry=yes\n[Slot.uki.B]\nBootEntry=yes\n",
		 base);
	ck_assert_int_eq(load(text, &c, NULL, 0), 0);
	boot = config_boot(c);
	ck_assert_uint_eq(boot.attempts, 3);
	ck_assert_str_eq(boot.esp, "/boot/efi");
	ck_assert_str_eq(boot.entry_stem, "swupdated");
	ck_assert_str_eq(boot.efivars, "/sys/firmware/efi/efivars");
	config_free(c);
}
END_TEST

START_TEST(test_channels)
{
	char text[1024];
	Config *c = NULL;

	snprintf(text, sizeof(text),
		 "%s[Channels]\nstable=https://u.example/gw/stable\nbeta-2.x=http://u.example/b\n",
		 base);
	ck_assert_int_eq(load(text, &c, NULL, 0), 0);
	ck_assert_uint_eq(c->n_channels, 2);
	ck_assert_str_eq(config_find_channel(c, "stable")->url, "https://u.example/gw/stable");
	ck_assert_str_eq(config_find_channel(c, "beta-2.x")->url, "http://u.example/b");
	ck_assert_ptr_null(config_find_channel(c, "nightly"));
	ck_assert(!config_channel_name_valid("../x"));
	ck_assert(!config_channel_name_valid(""));
	ck_assert(!config_channel_name_valid("a23456789012345678901234567890123"));
	ck_assert(config_channel_name_valid("a2345678901234567890123456789012"));
	config_free(c);
}
END_TEST

START_TEST(test_errors)
{
	static const struct {
		const char *append;
		const char *error;
	} cases[] = {
		{ "[Nope]\nA=1\n", "swupdated.conf:8: unknown section [Nope]" },
		{ "[Channels]\nbeta=ftp://x/y\n", ":8: 'ftp://x/y' is not an http:// or https:// "
						  "URL" },
		{ "[Channels]\nb/eta=http://x/y\n", ":8: channel name 'b/eta' is not 1 to 32 "
						    "letters, digits, '-', '_' or '.'" },
		{ "[Channels]\nbeta=http://x/y\nbeta=http://x/z\n", ":9: key 'beta' given twice in "
								    "section [Channels]" },
		{ "[Boot]\nFoo=1\n", "swupdated.conf:8: unknown key 'Foo' in section [Boot]" },
		{ "[Boot]\nBootloader=\n", "swupdated.conf:8: key 'Bootloader' in section [Boot] "
					   "has no value" },
		{ "[Boot]\nBootloader=lilo\n", ":8: unknown bootloader 'lilo'" },
		{ "[Boot]\nBootAttempts=-1\n", ":8: BootAttempts must be between 1 and 100" },
		{ "[Boot]\nBootAttempts=101\n", ":8: BootAttempts must be between 1 and 100" },
		{ "[Trust]\nRequireVerity=perhaps\n", ":8: 'perhaps' is not a boolean" },
		{ "[Trust]\nStateDirectory=relative\n", ":8: 'relative' is not an absolute path" },
		{ "[Slot.appfs.A]\nDevice=/dev/x\n", ":8: target 'appfs' has slot A but no slot "
						     "B" },
		{ "[Slot.appfs.A]\nDevice=/dev/mmcblk0p2\n[Slot.appfs.B]\nDevice=/dev/y\n",
		  ":8: slot appfs.A uses device '/dev/mmcblk0p2', already used by rootfs.A" },
		{ "[Slot.rootfs.C]\nDevice=/dev/z\n", ":8: section [Slot.rootfs.C] must be named" },
		{ "[Slot.rootfs.A]\nPath=/dev/z\n", ":8: unknown key 'Path' in section "
						    "[Slot.rootfs.A]" },
		{ "[Slot.appfs.A]\nDevice=/tmp\n[Slot.appfs.B]\nDevice=/dev/y\n", ":8: slot device "
										  "'/tmp' is a "
										  "directory" },
		{ "[Update]\nCompatible=again\n", ":8: key 'Compatible' given twice in section "
						  "[Update]" },
		{ "garbage line\n", ":7: syntax error" },
		{ "[Update]\nMaxBundleSize=12Q\n", ":8: '12Q' is not a size" },
		/* Bootloader=systemd-boot */
		{ "[Boot]\nBootEntryStem=auto-gw\n", ":8: BootEntryStem 'auto-gw' must be" },
		{ "[Boot]\nBootEntryStem=g*\n", ":8: BootEntryStem 'g*' must be" },
		{ "[Boot]\nEfiSystemPartition=efi\n", ":8: 'efi' is not an absolute path" },
		{ "[Slot.uki.A]\nBootEntry=maybe\n", ":8: 'maybe' is not a boolean" },
		{ "[Slot.uki.A]\nBootEntry=yes\n[Slot.uki.B]\nBootEntry=yes\n", ":8: slot uki.A is "
										"a boot entry, "
										"which only "
										"Bootloader="
										"systemd-boot "
										"has" },
		{ "[Boot]\nBootloader=systemd-boot\n", "Bootloader=systemd-boot needs the slots of "
						       "a "
						       "target as boot entries" },
		{ "[Boot]\nBootloader=systemd-boot\n[Slot.uki.A]\nBootEntry=yes\n[Slot.uki.B]\n"
		  "Device=/dev/y\n",
		  ":10: slot uki.A is a boot entry, slot uki.B a device: both or neither" },
		{ "[Boot]\nBootloader=systemd-boot\n[Slot.uki.A]\nBootEntry=yes\nDevice=/dev/y\n",
		  ":11: section [Slot.uki.A] has both Device= and BootEntry=" },
		{ "[Boot]\nBootloader=systemd-boot\n[Slot.uki.A]\nBootEntry=yes\n[Slot.uki.A]\n"
		  "Device=/dev/y\n",
		  ":12: slot uki.A is defined twice" },
		{ "[Boot]\nBootloader=systemd-boot\n[Slot.uki.A]\nBootEntry=yes\n[Slot.uki.B]\n"
		  "BootEntry=yes\n[Slot.k.A]\nBootEntry=yes\n[Slot.k.B]\nBootEntry=yes\n",
		  ":14: slots of targets 'uki' and 'k' are both boot entries" },
		{ "[Update]\nMaxBundleSize=-1\n", ":8: '-1' is not a size" },
		{ "[Update]\nMaxBundleSize=M\n", ":8: 'M' is not a size" },
		{ "[Update]\nMaxBundleSize=99999999999T\n", ":8: '99999999999T' is not a size" },
		/* The error is logged and served on the bus: a URL's secrets are left out. */
		{ "[Update]\nServer=ftp://user:secret@files.example/x?sig=secret\n", ":8: "
										     "'ftp://"
										     "files."
										     "example/x' "
										     "is not an "
										     "http:// or "
										     "https:// "
										     "URL" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char text[1024], err[1024];
		Config *c = NULL;

		snprintf(text, sizeof(text), "%s%s", base, cases[i].append);
		ck_assert_int_eq(load(text, &c, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_null(c);
		ck_assert_msg(strstr(err, cases[i].error), "case %zu: '%s' lacks '%s'", i, err,
			      cases[i].error);
		ck_assert_msg(!strstr(err, "secret"), "case %zu: '%s'", i, err);
	}
}
END_TEST

/* A value is never taken cut: a line longer than libinih's buffer, a URL longer than Source. */
START_TEST(test_long_lines)
{
	static const char *const tails[] = { "", "#fragment", "?a=b" };
	char err[1024];
	Config *c = NULL;

	for (size_t i = 0; i < ELEMENTSOF(tails); i++) {
		_cleanup_free_ char *text = NULL, *url = malloc(1100);

		/* long enough to be cut by any buffer up to 1 KiB, the cut landing on the tail */
		memset(url, 'a', 1099);
		url[1099] = 0;
		memcpy(url, "http://gw.example/", 18);
		memcpy(url + 1024 - strlen(tails[i]), tails[i], strlen(tails[i]));
		url[1024 + (i ? 20 : 0)] = 0;
		text = tu_path("%s[Update]\nServer=%s\n", base, url);
		ck_assert_int_eq(load(text, &c, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_null(c);
		ck_assert_msg(strstr(err, "swupdated.conf:8: the line is longer than") ||
				      strstr(err, "swupdated.conf:8: the URL is"),
			      "case %zu: '%s'", i, err);
	}
	/* a line that fills the buffer exactly is whole */
	{
		_cleanup_free_ char *text = NULL;
		char dirv[183];

		memset(dirv, 'd', sizeof(dirv) - 1);
		dirv[0] = '/';
		dirv[sizeof(dirv) - 1] = 0;
		/* 17 bytes of "StagingDirectory=" and 182: 199, the most Debian's libinih reads */
		text = tu_path("%s[Update]\nStagingDirectory=%s\n", base, dirv);
		ck_assert_int_eq(load(text, &c, err, sizeof(err)), 0);
		ck_assert_str_eq(c->staging_dir, dirv);
		c = config_free(c);
	}
}
END_TEST

START_TEST(test_missing_required)
{
	char err[1024];
	Config *c = NULL;

	ck_assert_int_eq(load("[Slot.r.A]\nDevice=/a\n[Slot.r.B]\nDevice=/b\n", &c, err,
			      sizeof(err)),
			 -EINVAL);
	ck_assert(strstr(err, "[Update] Compatible= is required"));
	ck_assert_int_eq(load("[Update]\nCompatible=x\n", &c, err, sizeof(err)), -EINVAL);
	ck_assert(strstr(err, "no [Slot.<target>.A]"));
	ck_assert_int_eq(config_load("/nonexistent/swupdated.conf", &c), -ENOENT);
}
END_TEST

START_TEST(test_sizes)
{
	static const struct {
		const char *value;
		uint64_t bytes;
	} cases[] = { { "4096", 4096 },	    { "512K", 512 << 10 }, { "512M", 512ULL << 20 },
		      { "3G", 3ULL << 30 }, { "2T", 2ULL << 40 },  { "0", 0 } };

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char text[1024];
		Config *c = NULL;

		/* Every size key takes the same suffixes. */
		snprintf(text, sizeof(text),
			 "%s[Update]\nMaxBundleSize=%s\n[Network]\nMaxBytesPerSec=%s\n"
			 "DeltaCoalesceBytes=%s\n",
			 base, cases[i].value, cases[i].value, cases[i].value);
		ck_assert_int_eq(load(text, &c, NULL, 0), 0);
		ck_assert_uint_eq(c->max_bundle_size, cases[i].bytes);
		ck_assert_uint_eq(c->max_bytes_per_sec, cases[i].bytes);
		ck_assert_uint_eq(c->delta_coalesce, cases[i].bytes);
		config_free(c);
	}
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "good-defaults", test_good_and_defaults },
		{ "all-keys", test_all_keys },
		{ "errors", test_errors },
		{ "systemd-boot", test_systemd_boot },
		{ "channels", test_channels },
		{ "sizes", test_sizes },
		{ "long-lines", test_long_lines },
		{ "missing-required", test_missing_required },
	};

	return tu_run("config", cases, ELEMENTSOF(cases), setup, teardown);
}
