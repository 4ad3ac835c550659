/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target over the wire reader and the verifier: the input is a bundle, read both as a
 * stream (in uneven chunks) and from a file, verified against itself (rule 6) and, when it carries
 * a root, against that root as the trusted one (rules 2-5). Also decodes the input as each
 * metadata message, as a chunk index, and as the chunk store of a delta install (the store is
 * what an unauthenticated server sends): a delta that succeeds must have written exactly the
 * image. Nothing here may crash, leak or read out of bounds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bundle.h"
#include "chunk.h"
#include "delta.h"
#include "install.h"
#include "macro.h"
#include "manifest.h"
#include "metadata.h"
#include "writer.h"

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
	for (int self = 1; self >= 0; self--) {
		_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
		_cleanup_free_ uint8_t *m = NULL;
		size_t n;

		if (!self && !b->root)
			break;
		if (swu_verifier_new(ctx, self ? NULL : b->root, self ? 0 : b->root_size,
				     self ? SWU_VERIFY_SELF : 0, &v) < 0)
			continue;
		if (swu_bundle_verify(b, v) == 0)
			(void)swu_verifier_build_manifest(v, &m, &n);
	}
}

#define IMG (96u * 1024u)

/* A block image, half of it changed in the "active slot", its index, and a bundle listing it. */
static uint8_t image[IMG], active[IMG], *index_bytes;
static size_t index_size;
static int bundle_fd = -EBADF;

static void delta_setup(SwuContext *ctx)
{
	SwuChunkParams p;
	SwuBuf targets = {}, nt = {};
	uint8_t digest[SWU_SHA256_SIZE];
	uint32_t x = 1;
	int fd, r;

	if (bundle_fd >= 0)
		return;
	for (size_t i = 0; i < IMG; i++) {
		size_t kind = (i / 4096) % 3;

		x = x * 1103515245 + 12345;
		image[i] = kind == 0 ? 0 : (uint8_t)((x >> 24) % (kind == 1 ? 8 : 255));
		active[i] = (i / 4096) % 2 ? (uint8_t)~image[i] : image[i];
	}
	swu_chunk_params_default(true, &p);
	fd = memfd_create("image", MFD_CLOEXEC);
	if (fd < 0 || write(fd, image, IMG) != (ssize_t)IMG)
		abort();
	r = swu_chunk_index_build(ctx, fd, IMG, &p, &index_bytes, &index_size);
	close(fd);
	if (r < 0 || swu_sha256(image, IMG, digest) < 0 ||
	    swu_targets_create(1, NULL, 0, 0, &targets) < 0 ||
	    swu_targets_add_file(ctx, targets.data, targets.size, "img", IMG, digest, &nt) < 0)
		abort();
	bundle_fd = memfd_create("bundle", MFD_CLOEXEC);
	if (bundle_fd < 0 ||
	    swu_bundle_write(ctx, bundle_fd, NULL, 0,
			     &(SwuMetadataEntry){ (char *)"targets", nt.data, nt.size }, 1, NULL,
			     0) < 0)
		abort();
	swu_buf_done(&targets);
	swu_buf_done(&nt);
}

/* Bytes [offset, offset + length) of the store (the input), in pieces; a short store fails. */
static int feed(SwuDelta *d, SwuSlotWriter *w, const uint8_t *data, size_t size, const SwuRange *rg,
		bool frames)
{
	int r = 0;

	if (rg->offset > size || rg->length > size - rg->offset)
		return -ENODATA;
	for (uint64_t at = 0; r >= 0 && at < rg->length; at += 1000) {
		size_t k = (size_t)MIN((uint64_t)1000, rg->length - at);

		r = frames ? swu_delta_feed(d, w, data + rg->offset + at, k)
			   : swu_delta_feed_records(d, rg->offset + at, data + rg->offset + at, k);
	}
	return r;
}

static int delta_steps(SwuDelta *d, SwuSlotWriter *w, int active_fd, const uint8_t *data,
		       size_t size)
{
	const SwuRange *ranges;
	size_t n = 0, next = 0;
	int r;

batch:
	r = swu_delta_record_ranges(d, 512, &ranges, &n);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = feed(d, w, data, size, &ranges[i], false);
	if (r >= 0)
		r = swu_delta_plan(d, active_fd, IMG, 512, &ranges, &n);
	next = 0;
	while (r >= 0) {
		while ((r = swu_delta_write_local(d, w, 20000)) > 0)
			;
		if (r < 0 || swu_delta_done(d))
			break;
		if (swu_delta_batch_done(d)) {
			if (swu_delta_next_batch(d) < 0)
				abort();
			goto batch;
		}
		if (next >= n)
			return -EINVAL;
		r = swu_delta_begin_range(d, next);
		if (r >= 0)
			r = feed(d, w, data, size, &ranges[next], true);
		if (r >= 0)
			r = swu_delta_end_range(d);
		next++;
	}
	return r;
}

static void delta_store(SwuContext *ctx, const uint8_t *data, size_t size)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_slot_writer_freep) SwuSlotWriter *w = NULL;
	_cleanup_(swu_delta_freep) SwuDelta *d = NULL;
	_cleanup_close_ int slot = memfd_create("slot", MFD_CLOEXEC);
	_cleanup_close_ int act = memfd_create("active", MFD_CLOEXEC);
	SwuChunkIndex *idx = NULL;
	SwuInstallTarget t = { "img", slot, IMG, act, false };
	static uint8_t out[IMG];
	int r;

	delta_setup(ctx);
	if (slot < 0 || act < 0 || ftruncate(slot, IMG) < 0 ||
	    write(act, active, IMG) != (ssize_t)IMG)
		return;
	if (swu_bundle_open_fd(ctx, bundle_fd, &b) < 0 ||
	    swu_verifier_new(ctx, NULL, 0, SWU_VERIFY_SELF, &v) < 0 ||
	    swu_bundle_verify_metadata(b, v) < 0 ||
	    swu_chunk_index_parse(ctx, index_bytes, index_size, IMG, &idx) < 0)
		abort();
	if (swu_delta_new(ctx, idx, &d) < 0) {
		swu_chunk_index_free(idx);
		return;
	}
	swu_delta_set_batch_blocks(d, 8); /* the batch path too */
	if (swu_delta_scan(d, act, IMG, slot) < 0 || swu_slot_writer_new(ctx, v, &t, IMG, &w) < 0)
		return;
	r = delta_steps(d, w, act, data, size);
	if (r >= 0)
		r = swu_slot_writer_close(w);
	if (r >= 0)
		r = swu_slot_writer_finish(w);
	/* Success means the image, byte for byte: the store cannot buy anything else. */
	if (r >= 0 && (pread(slot, out, IMG, 0) != (ssize_t)IMG || memcmp(out, image, IMG) != 0))
		abort();
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
	delta_store(ctx, data, size);
	swu_context_unref(ctx);
	return 0;
}
