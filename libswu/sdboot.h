/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Bootloader=systemd-boot: a unified kernel image (UKI) per slot in <ESP>/EFI/Linux/ (Boot Loader
 * Specification type #2 entries), named <stem>-A.efi and <stem>-B.efi. A slot being tried carries
 * the specification's boot counter in its name (<stem>-B+3.efi, counted down by systemd-boot:
 * +2-1, +1-2, +0-3); systemd-bless-boot or mark-good drops it. The slot systemd-boot boots first
 * is named by the EFI variable LoaderEntryDefault, a pattern matching the slot's entry while it is
 * good or has tries left, never once it has none. A new UKI is written to ".<stem>-<slot>.efi.new"
 * (systemd-boot skips names starting with a dot) and renamed into place by the switch.
 * docs/boot-integration.md has the design and the systemd-boot facts it rests on.
 */
#include <stdint.h>

#include "boot.h"

/* systemd's boot loader interface GUID: LoaderEntryDefault-<GUID> in efivarfs. */
#define SWU_SDBOOT_LOADER_GUID "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

typedef struct SwuSdbootEntry {
	char slot;	/* 'A' or 'B' */
	int tries_left; /* -1: no counter (good) */
	int tries_done; /* 0 when the name has no "-DONE" */
} SwuSdbootEntry;

/*
 * Whether @stem can name entries: letters, digits, '_', '-' and '.', at most 64, not starting
 * with '.' or "auto-" (systemd-boot skips such files). -EINVAL otherwise.
 */
int swu_sdboot_check_stem(const char *stem);

/*
 * Parses a file name of /EFI/Linux/ (case-insensitively, as FAT and systemd-boot compare):
 * "<stem>-<A|B>.efi" or "<stem>-<A|B>+LEFT[-DONE].efi". 0 and the entry; -ENOENT for a file
 * that is no slot entry of @stem; -EBADMSG for a name of a slot whose counter systemd-boot would
 * not parse (it would boot such a file without counting).
 */
int swu_sdboot_parse_name(const char *stem, const char *name, SwuSdbootEntry *ret);

/* The LoaderEntryDefault pattern of @slot, "<stem>-<slot>[.+][e1-9]*" in lower case. */
int swu_sdboot_default_pattern(const char *stem, char slot, char **ret);

/*
 * Reads the EFI variable @name of the loader GUID from the efivarfs directory @dir: 4 bytes of
 * attributes, then UTF-16LE text, NUL-terminated or not. Caller frees @ret. -ENOENT when it is
 * not set, -EBADMSG when it is no ASCII text (no name of ours is anything else).
 */
int swu_sdboot_read_efivar(const char *dir, const char *name, char **ret);
/* Sets it, non-volatile, as bootctl does (the immutable flag of efivarfs lifted for the write). */
int swu_sdboot_write_efivar(const char *dir, const char *name, const char *value);

/*
 * The slot whose entry systemd-boot booted (LoaderEntrySelected). -ENOENT when the variable is not
 * set (booted otherwise) or names no entry of the slots; -EPERM (recorded) when it is
 * non-volatile, which systemd-boot never makes it: planted from a running system.
 */
int swu_sdboot_selected_slot(SwuContext *ctx, const SwuBootConfig *c, char *ret);

/*
 * What a new UKI for @slot may take: the free space of the ESP plus the files of @slot the
 * install removes (its entry, a staging file left over).
 */
int swu_sdboot_capacity(SwuContext *ctx, const SwuBootConfig *c, char slot, uint64_t *ret);
/*
 * Removes the staging file of @slot, which an interrupted install may have left half-written: an
 * install calls it first, so that the switch (swu_sdboot_try()) can only find what it staged.
 */
int swu_sdboot_discard_new(SwuContext *ctx, const SwuBootConfig *c, char slot);
/* Opens the staging file of @slot read-write, emptied; @ret_size as swu_sdboot_capacity(). */
int swu_sdboot_open_new(SwuContext *ctx, const SwuBootConfig *c, char slot, int *ret_fd,
			uint64_t *ret_size);
/* The entry of @slot (its good one before one with a counter); -ENOENT when it has none. */
int swu_sdboot_get_entry(SwuContext *ctx, const SwuBootConfig *c, char slot, SwuSdbootEntry *ret);
/* Opens the entry of @slot read-only (its counter whatever it is). -ENOENT when it has none. */
int swu_sdboot_open_active(SwuContext *ctx, const SwuBootConfig *c, char slot, int *ret_fd,
			   uint64_t *ret_size);

/*
 * The backend of swu_boot_*() (see boot.h):
 * try:       the staging file of @slot becomes <stem>-<slot>+<attempts>.efi, then
 *            LoaderEntryDefault names @slot. -ENOENT when nothing was staged.
 * mark_good: the counter of @slot's entry is dropped (nothing to do when systemd-bless-boot did
 *            it), LoaderEntryDefault names @slot. -ENOENT when @slot has no entry.
 * mark_bad:  every file of @slot is removed, then LoaderEntryDefault names @other.
 * primary:   the slot LoaderEntryDefault names; when it names neither, the only slot with an entry
 *            that systemd-boot boots (good or with tries left); else -ENODATA.
 */
int swu_sdboot_try(SwuContext *ctx, const SwuBootConfig *c, char slot);
int swu_sdboot_mark_good(SwuContext *ctx, const SwuBootConfig *c, char slot);
int swu_sdboot_mark_bad(SwuContext *ctx, const SwuBootConfig *c, char slot, char other);
int swu_sdboot_get_primary(SwuContext *ctx, const SwuBootConfig *c, char *ret);
