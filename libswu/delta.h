/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A delta install of one target (docs/bundle-format.md, "Delta updates"): given its verified
 * chunk index, find the chunks the device already holds (in place in the inactive slot, or
 * anywhere in the active one), learn from the chunk store where the missing blocks are, find
 * those of them that the active slot holds anywhere, and assemble the target in
 * order into a slot writer from local bytes and decompressed frames of the store.
 *
 * No network: the caller fetches the byte ranges this module names and feeds them back. The
 * store is not signed: everything taken from it is bounded, and every chunk is checked against
 * the SHA-256 of the signed index before it is written. Any surprise (a lying store, a frame that
 * does not decode, local bytes that changed since the scan) stops the delta with -EPROTO and a
 * reason in swu_delta_why(); the caller then downloads the rest of the target whole, from the
 * writer's offset. The slot writer's hash of the whole target stays the final authority.
 *
 * The scans block for as long as the slots take to read: run them off the event loop.
 */
#include <stdint.h>

#include "chunk.h"
#include "context.h"
#include "install.h"

typedef struct SwuDelta SwuDelta;

typedef struct SwuRange {
	uint64_t offset, length;
} SwuRange;

typedef struct SwuDeltaStats {
	uint32_t chunks, chunks_in_place, chunks_active, chunks_missing;
	uint64_t blocks_missing, blocks_active; /* of the missing chunks */
	uint64_t bytes_local;			/* to be taken from the slots */
	uint64_t download;			/* record and frame bytes to fetch */
	uint32_t requests;			/* ranges to fetch */
	uint64_t reused;			/* bytes written so far from the slots */
	uint64_t probes; /* level 2: table entries looked at (bounded however the store lies) */
	uint64_t frames_referenced; /* a patch store's frames decoded with a reference */
} SwuDeltaStats;

/* Takes @idx. */
int swu_delta_new(SwuContext *ctx, SwuChunkIndex *idx, SwuDelta **ret);
SwuDelta *swu_delta_free(SwuDelta *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwuDelta *, swu_delta_free);
const char *swu_delta_why(const SwuDelta *d);
void swu_delta_get_stats(const SwuDelta *d, SwuDeltaStats *ret);

/*
 * Level 1: chunks the inactive slot holds at their own offset (a resumed install), then chunks
 * anywhere in the first @active_length bytes of @active_fd (cut the same way). Either fd may be
 * -EBADF. Candidates are found by fast hash; their SHA-256 is checked when they are used. Once
 * only: the index drops its fast hashes after it (-EINVAL on a second call).
 */
int swu_delta_scan(SwuDelta *d, int active_fd, uint64_t active_length, int inactive_fd);
/*
 * Before the scan: hash the active slot's first @active_length bytes as the scan reads them (a
 * patch store is for one image: the slot must hold exactly it). After it, the SHA-256, or
 * -ENODATA when the slot ended before @active_length (or none was asked for).
 */
void swu_delta_want_active_sha256(SwuDelta *d);
int swu_delta_active_sha256(const SwuDelta *d, uint8_t ret[SWU_SHA256_SIZE]);

/*
 * After the scan, before the first records: the store is a patch store (libswu/patch.h) made for
 * the image the active slot holds. Its records name a frame a missing chunk and no blocks (no
 * level 2), and each frame is decoded with its reference, read from the active slot within the
 * installed image's length given to the scan. -EINVAL after the first records or without an
 * active slot.
 */
int swu_delta_use_patch_store(SwuDelta *d);

/*
 * The store ranges holding the records of the current batch of missing chunks, coalesced over
 * gaps up to @gap bytes. @ret points into @d.
 */
int swu_delta_record_ranges(SwuDelta *d, uint64_t gap, const SwuRange **ret, size_t *ret_n);
/* Bytes of the store at @offset, inside the ranges named. */
int swu_delta_feed_records(SwuDelta *d, uint64_t offset, const void *p, size_t n);

/*
 * Missing chunks come in batches, so memory stays flat however much changed: record_ranges(),
 * the records, plan() and the writes of one batch, then swu_delta_next_batch() once
 * swu_delta_write_local() stops at the next batch's first chunk (swu_delta_batch_done()).
 */
bool swu_delta_batch_done(const SwuDelta *d);
/* Batches of about @blocks blocks (default 32 Ki: 128 MiB of missing chunks, about 1.6 MiB). */
void swu_delta_set_batch_blocks(SwuDelta *d, uint32_t blocks);
/*
 * Local bytes between two frames that one range may span (default 4 MiB): they are written while
 * the range streams, so this bounds the work done in one delivery of its bytes.
 */
void swu_delta_set_join_local_max(SwuDelta *d, uint64_t bytes);
int swu_delta_next_batch(SwuDelta *d);

/*
 * Level 2, after every record arrived: checks them (bounded, in order), finds missing blocks that
 * the active slot holds (at any offset when the store has rolling hashes, else at block
 * boundaries; at most eight probes a block, however the records lie), and plans the frame ranges to
 * fetch, coalesced over gaps up to @gap bytes. @ret points into @d. -EPROTO when the records lie,
 * or when the frames would cost more than the blob from the writer's offset, or bring the
 * delta's downloads beyond the target's length (the caller downloads the blob).
 */
int swu_delta_plan(SwuDelta *d, int active_fd, uint64_t active_length, uint64_t gap,
		   const SwuRange **ret, size_t *ret_n);

/*
 * Writes the chunks that need nothing more from the network into @w, in order, from local bytes
 * (checked), about @budget bytes at most. Returns 1 when it stopped for the budget, 0 when it
 * waits for frames (or is done: swu_delta_done()).
 */
int swu_delta_write_local(SwuDelta *d, SwuSlotWriter *w, uint64_t budget);
/* Starts frame range @i of the plan; its bytes follow with swu_delta_feed(). */
int swu_delta_begin_range(SwuDelta *d, size_t i);
int swu_delta_feed(SwuDelta *d, SwuSlotWriter *w, const void *p, size_t n);
/* The range ended: every byte of it arrived. */
int swu_delta_end_range(SwuDelta *d);
bool swu_delta_done(const SwuDelta *d);
