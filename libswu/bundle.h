/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Bundles from a file descriptor (indexed in one pass that seeks over payload bytes, any field
 * order) or from a stream of chunks (metadata must come before payloads, as swu writes it), and
 * the drivers that run the verifier over them. Payload bytes are never held in memory whole.
 */
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "reader.h"
#include "tuf.h"

typedef struct SwuPayload {
	char *name;
	uint64_t offset; /* of the payload bytes in the file */
	uint64_t size;
} SwuPayload;

typedef struct SwuMetadataEntry {
	char *name;
	uint8_t *data;
	size_t size;
} SwuMetadataEntry;

typedef struct SwuBundle {
	SwuContext *ctx;
	int fd; /* borrowed from the caller */
	uint64_t size;
	uint8_t *root; /* serialized SignedRootMetadata, NULL when absent */
	size_t root_size;
	uint8_t *timestamp; /* serialized SignedTimestampMetadata, NULL when absent */
	size_t timestamp_size;
	SwuRootLink *chain; /* root_chain: intermediate roots, in bundle order */
	size_t n_chain;
	SwuMetadataEntry *targets;
	size_t n_targets;
	SwuPayload *payloads;
	size_t n_payloads;
} SwuBundle;

/*
 * Indexes the bundle in @fd (a regular file; read with pread, the file offset is untouched).
 * Returns -EBADMSG for wire-format violations (reason in the failure record), -errno for I/O.
 */
int swu_bundle_open_fd(SwuContext *ctx, int fd, SwuBundle **ret);
/*
 * Opens the bundle file @path (a regular file only: a FIFO or device node is refused with -EINVAL
 * without being opened) and indexes it. The caller owns @ret_fd and closes it after @ret.
 */
int swu_bundle_open_path(SwuContext *ctx, const char *path, int *ret_fd, SwuBundle **ret);
SwuBundle *swu_bundle_free(SwuBundle *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwuBundle *, swu_bundle_free);

const SwuMetadataEntry *swu_bundle_get_targets(const SwuBundle *b, const char *name);
/* Streams the bytes of @p to @func in chunks. -EIO (reason recorded) when the file shrank. */
int swu_bundle_read_payload(const SwuBundle *b, const SwuPayload *p, SwuDataFunc func,
			    void *userdata);
/* Rules 2, 3t and 3 only: root chain and root (when present), timestamp, "targets" metadata. */
int swu_bundle_verify_metadata(SwuBundle *b, SwuVerifier *v);
/* Rules 2-4 in order: root chain and root (when present), targets, every payload in file order,
 * finish. */
int swu_bundle_verify(SwuBundle *b, SwuVerifier *v);

/* Verified payload bytes, for an installer writing into a slot while they stream. */
typedef struct SwuStreamSink {
	int (*payload_begin)(void *userdata, const SwuTarget *t);
	int (*payload_data)(void *userdata, const uint8_t *p, size_t n);
	/* Called after the payload's length and hash were checked. */
	int (*payload_end)(void *userdata, const SwuTarget *t);
} SwuStreamSink;

typedef struct SwuStream SwuStream;

/*
 * Verifies a bundle as it streams: root and targets metadata are checked when the first payload
 * begins, each payload as its bytes pass. Metadata after a payload, or a payload whose name
 * follows its bytes, cannot be verified in order: -ESPIPE (the bundle needs a seekable file:
 * stage it and use swu_bundle_verify()). @sink may be NULL.
 */
int swu_stream_new(SwuContext *ctx, SwuVerifier *v, const SwuStreamSink *sink, void *userdata,
		   SwuStream **ret);
SwuStream *swu_stream_free(SwuStream *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwuStream *, swu_stream_free);
int swu_stream_feed(SwuStream *s, const void *p, size_t n);
int swu_stream_finish(SwuStream *s);
