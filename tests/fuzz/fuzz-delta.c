/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target over a delta install (libswu/delta.c) fed by a server that controls every
 * byte it answers: the chunk store itself and how each range request is answered (in pieces of
 * any size, cut short, with bytes past the range, or from another offset). The image is cut into
 * several chunks, with a block index (with rolling hashes, as swu makes them, or without, as
 * older swu did) or a byte-granular one (rolling hashes at any offset of the active slot), the
 * missing chunks in batches, part of the image already in place. Nothing may crash, leak or read
 * out of bounds; a range that was not answered exactly must be refused; and a delta that
 * succeeds must have written exactly the image.
 *
 * Input: a flags byte, an index byte, SCRIPT bytes (one per range answer, used in turn), then the
 * store.
 *   flags bit 0: byte-granular index (else block-aligned); bits 1-2: blocks a batch (8, 64,
 *   512, the default); bit 3: no active slot; bits 4-5: coalescing gap (0, 512, 4 KiB, 32 KiB);
 *   bit 6: local bytes a range may span between frames at most 8 KiB; bit 7: nothing in place.
 *   script byte s: s & 3 is how the range is answered (0: exactly, 1: s / 4 + 1 bytes short,
 *   2: s / 4 + 1 bytes past its end, 3: from s / 4 + 1 bytes further into the store); s / 4
 *   also sets the size of the pieces it comes in.
 *   index byte bit 0: a block-aligned index without the rolling flag (level 2 at block
 *   boundaries only); bit 1: the store is a patch store (libswu/patch.h) for the active slot,
 *   whose references the delta reads from it; the other bits are ignored.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bundle.h"
#include "chunk.h"
#include "delta.h"
#include "install.h"
#include "macro.h"
#include "metadata.h"
#include "patch.h"
#include "writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMG    (192u * 1024u) /* default chunking: three or four chunks */
#define SCRIPT 8u
#define SHIFT  1000u /* the byte-granular active slot: the image, 1000 bytes further in */

/*
 * The image (blocks of zeros, of eight values and of random bytes), an active slot for each
 * kind of cut points (the image moved by two blocks, or by SHIFT bytes for the byte-granular
 * index, with block 5 changed), the three indexes (block, byte, block without rolling hashes),
 * and a bundle listing the image.
 */
enum {
	INDEX_BLOCK,
	INDEX_BYTE,
	INDEX_BLOCK_ALIGNED,
	N_INDEX
};
static uint8_t image[IMG], active[2][IMG], *index_bytes[N_INDEX];
static size_t index_size[N_INDEX];
static int bundle_fd = -EBADF;

static void make_image(void)
{
	uint32_t x = 1;

	for (size_t i = 0; i < IMG; i++) {
		size_t kind = (i / SWU_CHUNK_BLOCK) % 4;

		x = x * 1103515245 + 12345;
		image[i] = kind == 0 ? 0 : (uint8_t)((x >> 24) % (kind == 3 ? 255 : 8));
	}
	for (int byte = 0; byte < 2; byte++) {
		size_t shift = byte ? SHIFT : 2 * SWU_CHUNK_BLOCK;

		memset(active[byte], 0x55, shift);
		memcpy(active[byte] + shift, image, IMG - shift);
		for (size_t i = 0; i < SWU_CHUNK_BLOCK; i++)
			active[byte][shift + 5 * SWU_CHUNK_BLOCK + i] ^= 0xff;
	}
}

static void setup(SwuContext *ctx)
{
	SwuBuf targets = {}, nt = {};
	uint8_t digest[SWU_SHA256_SIZE];
	int fd;

	if (bundle_fd >= 0)
		return;
	make_image();
	fd = memfd_create("image", MFD_CLOEXEC);
	if (fd < 0 || write(fd, image, IMG) != (ssize_t)IMG)
		abort();
	for (int k = 0; k < N_INDEX; k++) {
		SwuChunkParams p;

		swu_chunk_params_default(/* block_image= */ k != INDEX_BYTE, &p);
		if (k == INDEX_BLOCK_ALIGNED)
			p.flags = 0;
		if (swu_chunk_index_build(ctx, fd, IMG, &p, &index_bytes[k], &index_size[k]) < 0)
			abort();
	}
	close(fd);
	if (swu_sha256(image, IMG, digest) < 0 ||
	    swu_targets_create(1, NULL, 0, 0, 0, &targets) < 0 ||
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

typedef struct Server {
	const uint8_t *script, *store;
	size_t store_size;
	unsigned turn, batches;
} Server;

/*
 * Answers range @i of @rg as the next script byte says, in pieces: records any way (their feed
 * drops bytes outside the records), frames between begin and end, where a range answered with
 * a byte missing or one too many must be refused.
 */
static int answer(SwuDelta *d, SwuSlotWriter *w, Server *s, const SwuRange *rg, size_t i,
		  bool frames)
{
	uint8_t how = s->script[s->turn++ % SCRIPT], mode = how & 3;
	uint64_t k = (uint64_t)(how >> 2) + 1, from = rg[i].offset, n = rg[i].length;
	size_t piece = 1 + (size_t)(k * k * 13 % 4096);
	int r = 0;

	if (mode == 1)
		n -= MIN(k, n);
	else if (mode == 2)
		n += k;
	else if (mode == 3)
		from += k;
	if (from > s->store_size || n > s->store_size - from)
		return -ENODATA; /* the store is shorter: the request fails */
	if (frames)
		r = swu_delta_begin_range(d, i);
	for (uint64_t at = 0; r >= 0 && at < n; at += piece) {
		size_t p = (size_t)MIN((uint64_t)piece, n - at);

		r = frames ? swu_delta_feed(d, w, s->store + from + at, p)
			   : swu_delta_feed_records(d, rg[i].offset + at, s->store + from + at, p);
	}
	if (r >= 0 && frames)
		r = swu_delta_end_range(d);
	if (r >= 0 && frames && (mode == 1 || mode == 2))
		abort();
	return r;
}

/* The steps of transfer-delta.c: batches of records, plan, local writes and frame ranges. */
static int delta_steps(SwuDelta *d, SwuSlotWriter *w, int active_fd, uint64_t gap, Server *s)
{
	const SwuRange *ranges;
	size_t n = 0, next;
	int r;

batch:
	r = swu_delta_record_ranges(d, gap / 4, &ranges, &n);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = answer(d, w, s, ranges, i, /* frames= */ false);
	if (r >= 0)
		r = swu_delta_plan(d, active_fd, IMG, gap, &ranges, &n);
	next = 0;
	while (r >= 0) {
		while ((r = swu_delta_write_local(d, w, 20000)) > 0)
			;
		if (r < 0 || swu_delta_done(d))
			break;
		if (swu_delta_batch_done(d)) {
			if (next != n || swu_delta_next_batch(d) < 0)
				abort(); /* every range of a batch is used before the next one */
			s->batches++;
			goto batch;
		}
		if (next >= n)
			return -EINVAL;
		r = answer(d, w, s, ranges, next++, /* frames= */ true);
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t batch[] = { 8, 64, 512, 0 };
	static const uint64_t gap[] = { 0, 512, 4096, 32768 };
	static uint8_t out[IMG];
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_slot_writer_freep) SwuSlotWriter *w = NULL;
	_cleanup_(swu_delta_freep) SwuDelta *d = NULL;
	_cleanup_close_ int slot = -EBADF, act = -EBADF;
	SwuChunkIndex *idx = NULL;
	SwuInstallTarget t;
	Server s;
	bool byte;
	int kind, r;

	if (size < 2 + SCRIPT || swu_context_new(&ctx) < 0)
		return 0;
	setup(ctx);
	byte = data[0] & 1;
	kind = byte ? INDEX_BYTE : data[1] & 1 ? INDEX_BLOCK_ALIGNED : INDEX_BLOCK;
	s = (Server){ .script = data + 2,
		      .store = data + 2 + SCRIPT,
		      .store_size = size - 2 - SCRIPT };
	slot = memfd_create("slot", MFD_CLOEXEC);
	if (!(data[0] & 8))
		act = memfd_create("active", MFD_CLOEXEC);
	/* A resumed install: the first half of the image is in place already. */
	if (slot < 0 || ftruncate(slot, IMG) < 0 ||
	    (!(data[0] & 0x80) && pwrite(slot, image, IMG / 2, 0) != (ssize_t)(IMG / 2)) ||
	    (act >= 0 && write(act, active[byte], IMG) != (ssize_t)IMG))
		abort();
	t = (SwuInstallTarget){ "img", slot, IMG, act, false };
	if (swu_bundle_open_fd(ctx, bundle_fd, &b) < 0 ||
	    swu_verifier_new(ctx, NULL, 0, SWU_VERIFY_SELF, &v) < 0 ||
	    swu_bundle_verify_metadata(b, v) < 0 ||
	    swu_chunk_index_parse(ctx, index_bytes[kind], index_size[kind], IMG, &idx) < 0)
		abort();
	if (swu_delta_new(ctx, idx, &d) < 0) {
		swu_chunk_index_free(idx);
		return 0;
	}
	if (batch[(data[0] >> 1) & 3])
		swu_delta_set_batch_blocks(d, batch[(data[0] >> 1) & 3]);
	if (data[0] & 0x40)
		swu_delta_set_join_local_max(d, 8192);
	if (swu_delta_scan(d, act, IMG, slot) < 0 || swu_slot_writer_new(ctx, v, &t, IMG, &w) < 0 ||
	    ((data[1] & 2) && swu_delta_use_patch_store(d) < 0))
		return 0;
	r = delta_steps(d, w, act, gap[(data[0] >> 4) & 3], &s);
	if (r >= 0)
		r = swu_slot_writer_close(w);
	if (r >= 0)
		r = swu_slot_writer_finish(w);
	/* Success means the image, byte for byte: the store cannot buy anything else. */
	if (r >= 0 && (pread(slot, out, IMG, 0) != (ssize_t)IMG || memcmp(out, image, IMG) != 0))
		abort();
	/* What an input reached, for a look at the seeds (FUZZ_DELTA_VERBOSE=1). */
	if (getenv("FUZZ_DELTA_VERBOSE")) {
		SwuDeltaStats st;

		swu_delta_get_stats(d, &st);
		fprintf(stderr,
			"fuzz-delta: %s index%s, %u chunks: %u in place, %u active, %u missing in "
			"%u "
			"batches; %llu of their blocks found in the active slot (%llu probes), "
			"%llu "
			"frames with a reference; %u ranges answered: %s%s\n",
			kind == INDEX_BYTE	      ? "byte-granular"
			: kind == INDEX_BLOCK_ALIGNED ? "block (no rolling hashes)"
						      : "block",
			data[1] & 2 ? " and a patch store" : "", st.chunks, st.chunks_in_place,
			st.chunks_active, st.chunks_missing, s.batches,
			(unsigned long long)st.blocks_active, (unsigned long long)st.probes,
			(unsigned long long)st.frames_referenced, s.turn,
			r >= 0 ? "installed" : "stopped: ", r >= 0 ? "" : swu_delta_why(d));
	}
	return 0;
}
