/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target over the wire reader and the verifier: the input is a bundle, read both as a
 * stream (in uneven chunks) and from a file, verified against itself (rule 6) and, when it carries
 * a root, against that root as the trusted one (rules 2-5), and, when it carries a root chain,
 * against its first link (the walk of rule 2). Also decodes the input as each
 * metadata message and as a chunk index (the chunk store and the range answers of a delta
 * install are fuzz-delta's). Nothing here may crash, leak or read out of bounds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bundle.h"
#include "chunk.h"
#include "macro.h"
#include "manifest.h"
#include "metadata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void verify_stream(SwuContext *ctx, const uint8_t *data, size_t size)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_stream_freep) SwuStream *s = NULL;
	size_t off = 0, chunk = 1;

	if (swu_verifier_new(ctx, NULL, 0, SWU_VERIFY_SELF, &v) < 0 ||
	    swu_stream_new(ctx, v, NULL, NULL, &s) < 0)
		return;
	while (off < size) {
		size_t n = MIN(chunk, size - off);

		if (swu_stream_feed(s, data + off, n) < 0)
			return;
		off += n;
		chunk = chunk * 3 % 97 + 1;
	}
	(void)swu_stream_finish(s);
}

static void verify_file(SwuContext *ctx, int fd)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;

	if (swu_bundle_open_fd(ctx, fd, &b) < 0)
		return;
	/* 2: self; 1: the bundle's root trusted; 0: the first link of its chain trusted */
	for (int pass = 2; pass >= 0; pass--) {
		_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
		_cleanup_free_ uint8_t *m = NULL;
		const uint8_t *anchor = pass == 1 ? b->root : b->n_chain ? b->chain[0].data : NULL;
		size_t anchor_size = pass == 1 ? b->root_size : b->n_chain ? b->chain[0].size : 0;
		size_t n;

		if (pass < 2 && !anchor)
			continue;
		if (swu_verifier_new(ctx, pass == 2 ? NULL : anchor, pass == 2 ? 0 : anchor_size,
				     pass == 2 ? SWU_VERIFY_SELF : 0, &v) < 0)
			continue;
		if (swu_bundle_verify(b, v) == 0)
			(void)swu_verifier_build_manifest(v, &m, &n);
	}
}

/* The input as a chunk index of the length its own header claims. */
static void chunk_index(SwuContext *ctx, const uint8_t *data, size_t size)
{
	_cleanup_(swu_chunk_index_freep) SwuChunkIndex *idx = NULL;
	uint64_t length = 0;

	if (size >= SWU_CHUNK_HEADER_SIZE)
		for (int i = 7; i >= 0; i--)
			length = length << 8 | data[16 + i];
	(void)swu_chunk_index_parse(ctx, data, size, length, &idx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SwuContext *ctx = NULL;
	SwuSignedRoot *sr = NULL;
	SwuRootMetadata *rm = NULL;
	SwuSignedTargets *st = NULL;
	SwuTargetsMetadata *tm = NULL;
	SwuManifest *m = NULL;
	int fd;

	if (swu_context_new(&ctx) < 0)
		return 0;
	swu_context_set_metadata_max(ctx, 64 * 1024);

	verify_stream(ctx, data, size);
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, data, size) == (ssize_t)size)
			verify_file(ctx, fd);
		close(fd);
	}
	if (swu_root_decode(ctx, data, size, &sr, &rm) == 0)
		(void)swu_root_check_sound(ctx, rm, "fuzz");
	swu_signed_root_freep(&sr);
	swu_root_metadata_freep(&rm);
	(void)swu_targets_decode(ctx, data, size, &st, &tm);
	swu_signed_targets_freep(&st);
	swu_targets_metadata_freep(&tm);
	(void)swu_manifest_decode(ctx, data, size, &m);
	swu_manifest_freep(&m);
	chunk_index(ctx, data, size);
	swu_context_unref(ctx);
	return 0;
}
