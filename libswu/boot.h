/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Bootloader backends. They use the variables existing A/B boot scripts already use:
 *   grub:   ORDER="A B", <slot>_OK (1: bootable), <slot>_TRY (set by the script when it tries)
 *   uboot:  BOOT_ORDER="A B", BOOT_<slot>_OK (1: bootable), BOOT_<slot>_LEFT (attempts left,
 *           decremented by the script, which re-arms only slots whose flag is 1)
 *   systemd-boot: a UKI per slot in <ESP>/EFI/Linux/ with the Boot Loader Specification's
 *           boot counter in its name, the default entry in the EFI variable
 *           LoaderEntryDefault (sdboot.h)
 *   custom: an executable: get-primary | set-primary SLOT | set-state SLOT good|bad
 *           (docs/boot-integration.md has what each must print and return)
 *   none:   nothing is switched; the integrator does it
 * Each switch is one call of the tool (one grub-editenv call, one fw_setenv script); with
 * systemd-boot a rename on the ESP and then one EFI variable write.
 */
#include "context.h"

typedef enum SwuBootloader {
	SWU_BOOT_NONE,
	SWU_BOOT_UBOOT,
	SWU_BOOT_GRUB,
	SWU_BOOT_CUSTOM,
	SWU_BOOT_SYSTEMD_BOOT,
	_SWU_BOOT_MAX,
} SwuBootloader;

const char *swu_bootloader_to_string(SwuBootloader b);
/* Returns the bootloader or -EINVAL. */
int swu_bootloader_from_string(const char *s);

typedef struct SwuBootConfig {
	SwuBootloader type;
	unsigned attempts;	   /* uboot, systemd-boot: tries before falling back */
	const char *grub_env;	   /* grub: path of grubenv */
	const char *fw_env_config; /* uboot: fw_env.config */
	const char *custom;	   /* custom: the backend executable */
	const char *esp;	   /* systemd-boot: where the EFI system partition is mounted */
	const char *entry_stem; /* systemd-boot: the slots' UKIs are <stem>-A.efi, <stem>-B.efi */
	const char *efivars;	/* systemd-boot: the efivarfs directory */
} SwuBootConfig;

/* Makes @slot the one to try next boot, @other the fallback. */
int swu_boot_try(SwuContext *ctx, const SwuBootConfig *c, char slot, char other);
/* The booted @slot is confirmed: first in order, counters reset. */
int swu_boot_mark_good(SwuContext *ctx, const SwuBootConfig *c, char slot, char other);
/* @slot is bad: not bootable, @other first. */
int swu_boot_mark_bad(SwuContext *ctx, const SwuBootConfig *c, char slot, char other);
/* The slot the bootloader will try first: 'A' or 'B'; -ENODATA for "none" or when unset. */
int swu_boot_get_primary(SwuContext *ctx, const SwuBootConfig *c, char *ret);
