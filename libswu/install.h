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

/*
 * Before anything is written: every verified target of @v has an install target (else -ENXIO),
 * fits in it (else -ENOSPC), and is either in @b or installed identically (else -EBADMSG).
 * @b NULL: the targets come from a server, every one but the unchanged ones.
 */
int swu_install_check(SwuContext *ctx, SwuVerifier *v, const SwuBundle *b,
		      const SwuInstallTarget *targets, size_t n);

/*
 * One payload streaming into its slot: bytes are hashed (rule 4) and written; a second thread
 * flushes and reads back what was written. swu_slot_writer_new() returns 1 (and no writer) when
 * @t is not a listed target. finish() checks the length and hash of what was written and of what
 * reads back, and fsyncs. A writer freed before finish() abandons the payload.
 */
typedef struct SwuSlotWriter SwuSlotWriter;
int swu_slot_writer_new(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *t, uint64_t size,
			SwuSlotWriter **ret);
/*
 * The same for bytes that an SwuStream verifies itself (its sink hands them on): the writer
 * does not feed the verifier, and finish() checks the written length and the read-back hash.
 */
int swu_slot_writer_new_streamed(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *t,
				 uint64_t size, SwuSlotWriter **ret);
int swu_slot_writer_write(SwuSlotWriter *w, const void *p, size_t n);
uint64_t swu_slot_writer_offset(const SwuSlotWriter *w);
int swu_slot_writer_finish(SwuSlotWriter *w);
SwuSlotWriter *swu_slot_writer_free(SwuSlotWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwuSlotWriter *, swu_slot_writer_free);

/* Copies every verified target absent from the transfer from its active slot, checked. */
int swu_install_copy_unchanged(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *targets,
			       size_t n);

/*
 * After swu_install_check(): writes every payload of @b into its slot, verifying (rule 4), then
 * reads each slot back and checks its hash again; copies personalized-out targets from their
 * active slot. Returns 0 only when every target is written and read back correctly.
 */
int swu_install_bundle(SwuContext *ctx, SwuBundle *b, SwuVerifier *v,
		       const SwuInstallTarget *targets, size_t n);
