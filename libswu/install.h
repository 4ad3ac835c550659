/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The install engine: streams verified payloads into slot file descriptors the caller opened,
 * hashing while writing, then reads the written range back and hashes it again before anything
 * may switch the bootloader. Unchanged (personalized-out) targets are copied from the active
 * slot and checked against the signed hash. Targets that need no slot (user_manifest, chunk
 * indexes) are verified like any payload and kept nowhere but in the verifier.
 */
#include <stdint.h>

#include "bundle.h"
#include "context.h"
#include "tuf.h"

typedef struct SwuInstallTarget {
	const char *name;  /* target name in the bundle */
	int fd;		   /* inactive slot, read-write; -EBADF: verified, kept nowhere */
	uint64_t size;	   /* its size */
	int active_fd;	   /* active slot, read-only, or -EBADF */
	bool block_device; /* drop the page cache before reading back */
} SwuInstallTarget;

/*
 * Whether a target is installed into a slot. "user_manifest" is kept with the manifest and
 * "<name>.chunks" is a chunk index for delta updates (docs/bundle-format.md): both are verified like any
 * payload, and a device without a slot for them ignores them otherwise.
 */
bool swu_target_needs_slot(const char *name);

/*
 * Before anything is written: every verified target of @v has an install target (else -ENXIO),
 * fits in it (else -ENOSPC), and is either in @b or installed identically (else -EBADMSG).
 * @b NULL: the targets come from a server, every one but the unchanged ones.
 */
int swu_install_check(SwuContext *ctx, SwuVerifier *v, const SwuBundle *b,
		      const SwuInstallTarget *targets, size_t n);

/*
 * One payload streaming into its slot: bytes are hashed (rule 4) and written, never one past the
 * signed length; a second thread flushes and reads back what was written, then fsyncs the slot.
 * swu_slot_writer_new() returns 1 (and no writer) when @t is not a listed target.
 *
 * swu_slot_writer_close() checks the length and hash of what was written and lets the read-back
 * finish on its own; swu_slot_writer_event_fd() becomes readable when it has (an event loop
 * need not wait); swu_slot_writer_finish() waits for it and checks what was read back.
 * A writer freed before finish() abandons the payload.
 */
typedef struct SwuSlotWriter SwuSlotWriter;
int swu_slot_writer_new(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *t, uint64_t size,
			SwuSlotWriter **ret);
/*
 * The same for bytes that an SwuStream verifies itself (its sink hands them on): the writer
 * does not feed the verifier, and checks the written length and the read-back hash.
 */
int swu_slot_writer_new_streamed(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *t,
				 uint64_t size, SwuSlotWriter **ret);
int swu_slot_writer_write(SwuSlotWriter *w, const void *p, size_t n);
/*
 * Like write, for @n bytes that the slot already holds at the writer's offset (a delta update
 * resuming): hashed and read back like written bytes, but not written again.
 */
int swu_slot_writer_keep(SwuSlotWriter *w, const void *p, size_t n);
uint64_t swu_slot_writer_offset(const SwuSlotWriter *w);
int swu_slot_writer_close(SwuSlotWriter *w);
/* Readable once the read-back ended; -EBADF for a writer without a slot (nothing to wait for). */
int swu_slot_writer_event_fd(const SwuSlotWriter *w);
int swu_slot_writer_finish(SwuSlotWriter *w);
SwuSlotWriter *swu_slot_writer_free(SwuSlotWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwuSlotWriter *, swu_slot_writer_free);

/*
 * Copies every verified target absent from the transfer from its active slot, checked and read
 * back. Stops with -ECANCELED when the context is cancelled (from another thread).
 */
int swu_install_copy_unchanged(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *targets,
			       size_t n);

/*
 * Reads every written slot back and checks its hash against the verified targets once more
 * (Verify() after Start()). -EIO with the reason recorded when one differs.
 */
int swu_install_verify_slots(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *targets,
			     size_t n);

/*
 * After swu_install_check(): writes every payload of @b into its slot, verifying (rule 4), then
 * reads each slot back and checks its hash again; copies personalized-out targets from their
 * active slot. Returns 0 only when every target is written and read back correctly.
 */
int swu_install_bundle(SwuContext *ctx, SwuBundle *b, SwuVerifier *v,
		       const SwuInstallTarget *targets, size_t n);
