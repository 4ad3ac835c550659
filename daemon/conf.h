/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /etc/swupdated.conf, parsed with libinih; every key is documented in swupdated.conf(5). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "slot.h"

typedef struct ConfigSlot {
	char *target;
	char name;	 /* 'A' or 'B' */
	char *device;	 /* for a boot entry: <ESP>/EFI/Linux/<stem>-<slot>.efi, without counter */
	bool boot_entry; /* BootEntry=yes: the slot's UKI of Bootloader=systemd-boot */
	unsigned line;
} ConfigSlot;

/* [Channels] NAME=URL: a channel the device may be moved to (swupdatectl channel NAME). */
typedef struct ConfigChannel {
	char *name; /* letters, digits, '-', '_' and '.', at most CHANNEL_NAME_MAX bytes */
	char *url;
} ConfigChannel;

#define CHANNEL_NAME_MAX 32

typedef enum AutoInstall {
	AUTO_INSTALL_NO,       /* only report a new release */
	AUTO_INSTALL_DOWNLOAD, /* transfer and verify, wait for Apply */
	AUTO_INSTALL_YES,      /* all the way to the bootloader switch */
	_AUTO_INSTALL_MAX,
} AutoInstall;

typedef struct Config {
	char *path;
	/* [Update] */
	char *compatible;
	char *server; /* NULL: no polling */
	unsigned poll_interval_sec;
	unsigned poll_jitter_sec;
	/* Exit after this long with nothing to do (bus and timer activation start it again); 0:
	 * stay up and poll on the daemon's own timer. */
	unsigned idle_exit_sec;
	AutoInstall auto_install;
	bool reboot_auto;
	char *staging_dir;
	uint64_t max_bundle_size; /* 0: the inactive slots' sizes alone cap a whole bundle */
	/* [Network] */
	char *ca_file;
	char *client_certificate;
	char *client_key;
	uint64_t max_bytes_per_sec;
	unsigned connect_timeout_sec;
	unsigned poll_timeout_sec; /* the longest a poll of metadata.pb may take */
	unsigned low_speed_timeout_sec;
	unsigned retries;
	bool delta_updates;	 /* DeltaUpdates=: chunk indexes are used */
	uint64_t delta_coalesce; /* DeltaCoalesceBytes=: gaps fetched to save a request */
	/* [Trust] */
	char *root_metadata;
	char *factory_manifest;
	bool require_verity;
	char *state_dir;
	/* [Boot] */
	SwuBootloader bootloader;
	unsigned boot_attempts;
	char *slot_parameter;
	char *kernel_cmdline;
	char *boot_id_file;
	char *machine_id_file; /* MachineIdFile=: the draw of staged rollouts */
	char *grub_env;
	char *fw_env_config;
	char *custom_backend;
	char *esp;	       /* EfiSystemPartition= */
	char *boot_entry_stem; /* BootEntryStem= */
	char *efivars;	       /* EfiVariableDirectory= */
	/* [Slot.<target>.<A|B>] */
	ConfigSlot *slots;
	size_t n_slots;
	/* [Channels] */
	ConfigChannel *channels;
	size_t n_channels;
} Config;

/*
 * Loads @path. Errors name the file and line ("swupdated.conf:12: unknown key 'Foo' in [Boot]")
 * and are printed; returns -EINVAL (configuration), -errno (cannot read) or 0.
 */
int config_load(const char *path, Config **ret);
/* The same, with the first error's sentence ("swupdated.conf:12: ...") in @ret_why (NULL when
 * none could be kept; caller frees) when it fails. */
int config_load_why(const char *path, Config **ret, char **ret_why);
Config *config_free(Config *c);

/* The channel named @name, or NULL. */
const ConfigChannel *config_find_channel(const Config *c, const char *name);
/* Whether @name could name a channel (not whether one is configured). */
bool config_channel_name_valid(const char *name);

/* The slot of @target named @name ('A'/'B'), or NULL. */
const ConfigSlot *config_find_slot(const Config *c, const char *target, char name);
/*
 * The next file read when connecting (CAFile=, ClientCertificate=, ClientKey=), from *@next on
 * (start at 0), that cannot be read now: -errno, with its key and path, and *@next past it; 0 when
 * none is left. Never a configuration error: it may live on a partition mounted later (the
 * generator and mark-good run before), and only polls need it.
 */
int config_unreadable_file(const Config *c, size_t *next, const char **ret_key,
			   const char **ret_path);
/* The boot configuration for the libswu backends. */
SwuBootConfig config_boot(const Config *c);
