/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /etc/swupdated.conf, parsed with libinih; every key is documented in swupdated.conf(5). */
#include <stdbool.h>
#include <stddef.h>

#include "boot.h"
#include "slot.h"

typedef struct ConfigSlot {
	char *target;
	char name; /* 'A' or 'B' */
	char *device;
	unsigned line;
} ConfigSlot;

typedef struct Config {
	char *path;
	/* [Update] */
	char *compatible;
	/* [Trust] */
	char *root_metadata;
	bool require_verity;
	char *state_dir;
	/* [Boot] */
	SwuBootloader bootloader;
	unsigned boot_attempts;
	char *slot_parameter;
	char *kernel_cmdline;
	char *boot_id_file;
	char *grub_env;
	char *fw_env_config;
	char *custom_backend;
	/* [Slot.<target>.<A|B>] */
	ConfigSlot *slots;
	size_t n_slots;
} Config;

/*
 * Loads @path. Errors name the file and line ("swupdated.conf:12: unknown key 'Foo' in [Boot]")
 * and are printed; returns -EINVAL (configuration), -errno (cannot read) or 0.
 */
int config_load(const char *path, Config **ret);
Config *config_free(Config *c);

/* The slot of @target named @name ('A'/'B'), or NULL. */
const ConfigSlot *config_find_slot(const Config *c, const char *target, char name);
/* The boot configuration for the libswu backends. */
SwuBootConfig config_boot(const Config *c);
