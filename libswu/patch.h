/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Patch stores (docs/bundle-format.md, "Patch stores"): what a device that holds one given
 * earlier image needs of a new one, chunk by chunk. `swu publish` writes one for each earlier
 * release it keeps patches from, beside the chunk store. Each chunk of the new image (as its
 * signed index cuts it) is one zstd frame, compressed with a reference as its prefix: the bytes
 * of the earlier image around where the chunk's content was, so that a chunk the earlier image
 * holds costs a few bytes and a chunk changed in a few places (a relinked binary, an inode
 * table) costs about what changed, and a new chunk is compressed whole.
 *
 * Layout, little-endian: the magic "SWUPTCH1"; per chunk of the index a 24-byte record (u64
 * offset of its frame, u32 size of its frame, u32 length and u64 offset of its reference in the
 * earlier image); then the frames, in chunk order.
 *
 * Like the chunk store, it is not signed: a device reads the references from its active slot
 * (which holds exactly the earlier image, whose hash names the store), bounds them and what the
 * records claim, and checks every chunk against the SHA-256 of the signed index.
 */
#include <stdint.h>

#include "chunk.h"
#include "context.h"

#define SWU_PATCH_MAGIC	      "SWUPTCH1"
#define SWU_PATCH_RECORD_SIZE 24u
/* A reference reaches this far beyond each end of its chunk's content. */
#define SWU_PATCH_SLACK (128u * 1024u)
/* zstd frames of a patch store are decoded with at most this window: a chunk needs 1 MiB. */
#define SWU_PATCH_WINDOW_LOG 20

/* The longest reference a chunk of @length bytes may have. */
static inline uint32_t swu_patch_ref_max(uint32_t length)
{
	return length + 2 * SWU_PATCH_SLACK;
}

/* The size of a patch store's records (its frames follow). */
static inline uint64_t swu_patch_records_end(const SwuChunkIndex *idx)
{
	return 8 + (uint64_t)SWU_PATCH_RECORD_SIZE * idx->n;
}

/*
 * Release side: writes the patch store of the image at @base in @fd (which @idx describes) for
 * devices holding the @old_length bytes of @old_fd, to @out_fd. Where the old image holds each
 * block of the new one is found by rolling hash at every byte offset (confirmed by XXH64); a
 * chunk references the old bytes where its blocks, or its neighbours, were, and keeps the
 * reference that makes its frame smallest (none for new content). @level is the zstd level of
 * chunks that changed. Returns the store's size in @ret_size, and in @ret_referenced (if not
 * NULL) the number of chunks with a reference.
 */
int swu_patch_store_write(SwuContext *ctx, int fd, uint64_t base, const SwuChunkIndex *idx,
			  int old_fd, uint64_t old_length, int level, int out_fd,
			  uint64_t *ret_size, uint32_t *ret_referenced);

/*
 * Release side (swu verify-channel): checks a patch store against @idx and the old image,
 * everything swu_patch_store_write() promises: the magic; per chunk, its frame after the records
 * and after the frame before it, at most ZSTD_compressBound() of the chunk; its reference inside
 * the old image and at most swu_patch_ref_max() long; the frame one zstd frame that decodes with
 * its reference to exactly the chunk, whose SHA-256 the index states. -EBADMSG with the chunk in
 * the reason, -errno for I/O.
 */
int swu_patch_store_check(SwuContext *ctx, const SwuChunkIndex *idx, int fd, uint64_t size,
			  int old_fd, uint64_t old_length);
