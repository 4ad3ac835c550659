/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Push parser for UpdateBundle: fed with chunks as they arrive (from a file or
 * a download), it hands out complete metadata messages (bounded by the
 * context's metadata cap) and streams payload bytes through callbacks without
 * ever holding a payload in memory. It enforces the wire rules of docs/bundle-format.md:
 * malformed or over-long varints, lengths past the end, wrong wire types for
 * known fields, a singular field given twice, duplicate map keys, and
 * truncation are all -EBADMSG with a reason in the context's failure record.
 */
#include <stddef.h>
#include <stdint.h>

#include "context.h"

typedef enum SwuBundleField {
	SWU_BUNDLE_TIMESTAMP = 1,
	SWU_BUNDLE_SNAPSHOT = 2,
	SWU_BUNDLE_TARGETS = 3,
	SWU_BUNDLE_PAYLOAD = 4,
	SWU_BUNDLE_ROOT = 5,
	/*
	 * Our extension: repeated SignedRootMetadata, the intermediate roots of the chain, oldest
	 * first (docs/bundle-format.md). Pigweed's decoders skip the unknown field.
	 */
	SWU_BUNDLE_ROOT_CHAIN = 100,
} SwuBundleField;

#define SWU_NAME_MAX		255
#define SWU_PAYLOADS_MAX	4096
#define SWU_TARGETS_ENTRIES_MAX 64
/* root_chain: at most this many entries, each at most SWU_ROOT_LINK_MAX bytes. */
#define SWU_ROOT_CHAIN_MAX 32
#define SWU_ROOT_LINK_MAX  (64u * 1024u)
/* All metadata of one bundle together: at most this many times the context's metadata cap. */
#define SWU_METADATA_TOTAL_FACTOR 4

/* Returned by payload_begin to have the reader drop the bytes (or let the caller seek). */
#define SWU_READER_SKIP 1

typedef struct SwuReaderOps {
	/* Root metadata (field SWU_BUNDLE_ROOT, @name NULL), one root_chain entry
	 * (SWU_BUNDLE_ROOT_CHAIN, @name NULL) or one targets_metadata entry.
	 * @data is only valid during the call. */
	int (*metadata)(void *userdata, SwuBundleField field, const char *name, const uint8_t *data,
			size_t size);
	/* A payload's bytes start at stream @offset. @name is NULL when the entry gives its
	 * value before its key. Return 0 to receive the bytes, SWU_READER_SKIP to skip them. */
	int (*payload_begin)(void *userdata, const char *name, uint64_t offset, uint64_t size);
	int (*payload_data)(void *userdata, const uint8_t *p, size_t n);
	/* The entry is complete; @name is "" when the entry has no key. */
	int (*payload_end)(void *userdata, const char *name, uint64_t offset, uint64_t size);
} SwuReaderOps;

typedef struct SwuBundleReader SwuBundleReader;

int swu_bundle_reader_new(SwuContext *ctx, const SwuReaderOps *ops, void *userdata,
			  SwuBundleReader **ret);
SwuBundleReader *swu_bundle_reader_free(SwuBundleReader *r);

/* Consumes all @n bytes, or fails: then every later call returns the same error. */
int swu_bundle_reader_feed(SwuBundleReader *r, const void *p, size_t n);
/* How many of the next stream bytes the reader would skip anyway (a caller with a seekable
 * file may seek over them and call swu_bundle_reader_skip()). */
uint64_t swu_bundle_reader_skippable(const SwuBundleReader *r);
int swu_bundle_reader_skip(SwuBundleReader *r, uint64_t n);
/* The end of the stream: -EBADMSG when it ends inside a field. */
int swu_bundle_reader_finish(SwuBundleReader *r);
uint64_t swu_bundle_reader_offset(const SwuBundleReader *r);
