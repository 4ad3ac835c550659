/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Writes bundles the way devices want them: root_chain, root_metadata, then targets_metadata, then
 * every payload, so a device can verify the signed metadata before the first payload byte arrives.
 * Payload bytes are copied from file descriptors in chunks, never held whole.
 */
#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "context.h"

typedef struct SwuPayloadSource {
	const char *name;
	int fd; /* read with pread from @offset */
	uint64_t offset;
	uint64_t size;
	const uint8_t *sha256; /* when set: hashed while copied, must match (file changed?) */
} SwuPayloadSource;

/* Copies the bytes of @p (no framing) to @out_fd: -EIO when short, -EBADMSG when changed. */
int swu_payload_copy(SwuContext *ctx, int out_fd, const SwuPayloadSource *p);

/* Returns 0, -EIO when a source is short, -EBADMSG when a hashed source changed, -errno. */
int swu_bundle_write(SwuContext *ctx, int out_fd, const uint8_t *root, size_t root_size,
		     const SwuMetadataEntry *targets, size_t n_targets,
		     const SwuPayloadSource *payloads, size_t n_payloads);
/*
 * The same, with the intermediate roots @chain (root_chain, field 100) written first, in order,
 * and the SignedTimestampMetadata @timestamp (field 1; NULL: none) after the root.
 */
int swu_bundle_write_chain(SwuContext *ctx, int out_fd, const SwuRootLink *chain, size_t n_chain,
			   const uint8_t *root, size_t root_size, const uint8_t *timestamp,
			   size_t timestamp_size, const SwuMetadataEntry *targets, size_t n_targets,
			   const SwuPayloadSource *payloads, size_t n_payloads);
