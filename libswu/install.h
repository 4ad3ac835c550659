/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The install engine: streams verified payloads into slot file descriptors the caller opened,
 * hashing while writing, then fsyncs, reads the written range back and hashes it again before
 * anything may switch the bootloader. Unchanged (personalized-out) targets are copied from the
 * active slot and checked against the signed hash.
 */
#include <stdint.h>

#include "bundle.h"
#include "context.h"
#include "tuf.h"

typedef struct SwuInstallTarget {
	const char *name;  /* target name in the bundle */
	int fd;		   /* inactive slot, read-write */
	uint64_t size;	   /* its size */
	int active_fd;	   /* active slot, read-only, or -EBADF */
	bool block_device; /* drop the page cache before reading back */
} SwuInstallTarget;

typedef void (*SwuProgressFunc)(void *userdata, const char *name, uint64_t done, uint64_t total);

/*
 * Before anything is written: every verified target of @v has an install target (else -ENXIO),
 * fits in it (else -ENOSPC), and is either in @b or installed identically (else -EBADMSG).
 */
int swu_install_check(SwuContext *ctx, SwuVerifier *v, const SwuBundle *b,
		      const SwuInstallTarget *targets, size_t n);

/*
 * After swu_install_check(): writes every payload of @b into its slot, verifying (rule 4), then
 * reads each slot back and checks its hash again; copies personalized-out targets from their
 * active slot. Returns 0 only when every target is written and read back correctly.
 */
int swu_install_bundle(SwuContext *ctx, SwuBundle *b, SwuVerifier *v,
		       const SwuInstallTarget *targets, size_t n, SwuProgressFunc progress,
		       void *userdata);
