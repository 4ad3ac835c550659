/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Chunk indexes for delta updates (docs/bundle-format.md, "Chunk index"): content-defined
 * chunking of an image, the signed index of its chunks (target "<name>.chunks"), and the
 * content-addressed store of individually compressed blocks that `swu publish` writes beside
 * the blobs. The index is signed like any payload; the store is not, so everything read from
 * it is bounded here and checked against the index by the caller.
 */
#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "context.h"
#include "crypto.h"

#define SWU_CHUNK_BLOCK	      4096u /* the sub-chunk unit: one ext4 block */
#define SWU_CHUNK_HEADER_SIZE 48u
#define SWU_CHUNK_ENTRY_SIZE  44u /* u32 length, u64 fast hash, SHA-256 */
#define SWU_CHUNK_MAX_MAX     (1024u * 1024u)
#define SWU_STORE_MAGIC_SIZE  8u
#define SWU_STORE_RECORD_HEAD 8u /* u64 offset of the chunk's first frame */
/* per block: u64 fast hash, u32 compressed size; with rolling hashes also a u32 rolling hash */
#define SWU_STORE_RECORD_BLOCK 12u
#define SWU_STORE_RECORD_BYTE  16u
/* zstd frames are decoded with at most this window: a block needs 4 KiB. */
#define SWU_STORE_WINDOW_LOG 17

/* Little-endian fields of the index and the store, at any alignment. */
static inline uint64_t swu_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline uint32_t swu_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline void swu_put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static inline void swu_put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

/* XXH64 (the public algorithm): the fast, non-cryptographic hash that finds candidates. */
uint64_t swu_xxh64(const void *p, size_t n, uint64_t seed);

/*
 * The index's flags. ROLLING: the store's records carry each block's rolling hash, so that a
 * device finds a missing block at any offset of its active slot (content moved by an amount
 * that is not a multiple of the block). Byte-granular indexes always do, without the flag.
 */
#define SWU_CHUNK_FLAG_ROLLING (1u << 0)
#define SWU_CHUNK_FLAGS_KNOWN  SWU_CHUNK_FLAG_ROLLING

typedef struct SwuChunkParams {
	uint32_t block; /* SWU_CHUNK_BLOCK */
	uint32_t align; /* cut points only at multiples of this: block images use the block */
	uint32_t min, avg, max;
	uint32_t flags; /* SWU_CHUNK_FLAG_*: only for block-aligned indexes */
} SwuChunkParams;

/*
 * Defaults: block-aligned with rolling hashes for block images (ext4), byte-granular for
 * anything else.
 */
void swu_chunk_params_default(bool block_image, SwuChunkParams *ret);

/*
 * One chunk as the chunker finds it: its offset and length in the scanned range, its bytes, the
 * fast hash of each SWU_CHUNK_BLOCK block from its start (the last may be shorter) and the
 * chunk's fast hash (XXH64 of those block hashes, little-endian).
 */
typedef struct SwuChunk {
	uint64_t offset;
	uint32_t length;
	const uint8_t *data;
	const uint64_t *block_hash;
	uint32_t n_blocks;
	uint64_t hash;
} SwuChunk;
typedef int (*SwuChunkFunc)(void *userdata, const SwuChunk *c);
/* The fast hash of a chunk of @length (at most SWU_CHUNK_MAX_MAX) bytes, as the chunker makes it. */
uint64_t swu_chunk_fast_hash(const uint8_t *d, uint32_t length);

/*
 * Cuts @length bytes of @fd from offset 0 into content-defined chunks with @p and hands each to
 * @func in order. A short file ends the scan early when @allow_short (a slot that holds less than
 * we look for); otherwise -ENODATA. Stops with -ECANCELED when @ctx is cancelled. The same code
 * cuts on the release side and on the device, so identical content gives identical chunks.
 */
int swu_chunk_scan(SwuContext *ctx, int fd, uint64_t length, const SwuChunkParams *p,
		   bool allow_short, SwuChunkFunc func, void *userdata);

/*
 * A parsed, validated chunk index. In memory it takes 16 bytes a chunk (offsets and fast hashes;
 * 8 once the fast hashes are dropped): the SHA-256s stay in the signed index, kept in
 * memory (swu_chunk_index_parse()) or in a file (swu_chunk_index_open(), the device: the 1.7 MB
 * of hashes of a 4 GiB image in 53,749 chunks are read when needed, not held).
 */
typedef struct SwuChunkIndex {
	SwuChunkParams params;
	uint64_t length; /* of the image */
	uint32_t n;
	uint64_t *offsets; /* n + 1: where each chunk starts, and the image length */
	uint32_t n_blocks; /* 4 KiB blocks of all chunks (the last one of each may be short) */
	uint64_t *fast;	   /* n: the fast hashes, NULL after swu_chunk_index_drop_fast() */
	uint8_t *data;	   /* the index as signed, or NULL: */
	int fd;		   /* the file that holds it */
} SwuChunkIndex;

/* Whether the store's records carry rolling hashes: level 2 looks at every byte offset. */
static inline bool swu_chunk_index_rolling(const SwuChunkIndex *idx)
{
	return idx->params.align == 1 || (idx->params.flags & SWU_CHUNK_FLAG_ROLLING);
}

static inline uint32_t swu_chunk_n_blocks(uint32_t length)
{
	return (length + SWU_CHUNK_BLOCK - 1) / SWU_CHUNK_BLOCK;
}
static inline uint32_t swu_chunk_index_length(const SwuChunkIndex *idx, uint32_t i)
{
	return (uint32_t)(idx->offsets[i + 1] - idx->offsets[i]);
}
static inline uint64_t swu_chunk_index_hash(const SwuChunkIndex *idx, uint32_t i)
{
	return idx->fast[i];
}
/* Frees the fast hashes once every lookup is done. */
void swu_chunk_index_drop_fast(SwuChunkIndex *idx);
/* Copies chunk @i's SHA-256 to @ret: -EIO (or a read error) when the index file cannot give it. */
int swu_chunk_index_sha256(const SwuChunkIndex *idx, uint32_t i, uint8_t ret[SWU_SHA256_SIZE]);

/*
 * Release side: the index of @length bytes of @fd (header and entries), malloc'ed. -ENODATA when
 * the file is shorter.
 */
int swu_chunk_index_build(SwuContext *ctx, int fd, uint64_t length, const SwuChunkParams *p,
			  uint8_t **ret, size_t *ret_size);

/*
 * Parses a verified index of a target of @target_length bytes. Even a signed index is checked for
 * sanity (magic, version, parameters, lengths summing to the target, a chunk count the minimum
 * length allows), -EBADMSG with the reason recorded otherwise. swu_chunk_index_parse() copies
 * @p; swu_chunk_index_open() reads the @size bytes of @fd from offset 0 and keeps @fd (its own
 * on success: the caller must not close it then) for the SHA-256s.
 */
int swu_chunk_index_parse(SwuContext *ctx, const uint8_t *p, size_t n, uint64_t target_length,
			  SwuChunkIndex **ret);
int swu_chunk_index_open(SwuContext *ctx, int fd, uint64_t size, uint64_t target_length,
			 SwuChunkIndex **ret);
SwuChunkIndex *swu_chunk_index_free(SwuChunkIndex *idx);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwuChunkIndex *, swu_chunk_index_free);

/*
 * The rolling hash of a whole block (swu_chunk_index_rolling(): found at any offset of the active
 * slot, as rsync finds blocks): h = sum of (byte + 1) * M^(4095 - i) mod 2^32. swu_rolling_roll()
 * moves the window one byte: @out leaves at its start, @in enters at its end.
 */
#define SWU_ROLLING_M UINT32_C(0x01000193)
uint32_t swu_rolling_hash(const uint8_t *block);
uint32_t swu_rolling_pow(void); /* M^4095: what the leaving byte weighs */
static inline uint32_t swu_rolling_roll(uint32_t h, uint32_t pow, uint8_t out, uint8_t in)
{
	return (h - ((uint32_t)out + 1) * pow) * SWU_ROLLING_M + (uint32_t)in + 1;
}

/* Bytes per block in a record of this index's store. */
uint32_t swu_store_record_block(const SwuChunkIndex *idx);
/*
 * Store layout: the size of chunk @i's record; the offset of chunk @i's record (O(1) for block
 * indexes, a walk over the chunks before @i for byte-granular ones: callers that go through the
 * chunks in order add up swu_store_record_size() instead); the size of all records (the frames
 * follow).
 */
uint64_t swu_store_record_size(const SwuChunkIndex *idx, uint32_t i);
uint64_t swu_store_record_offset(const SwuChunkIndex *idx, uint32_t i);
uint64_t swu_store_records_end(const SwuChunkIndex *idx);

/*
 * Release side: writes the chunk store of the image at @base in @fd (which @idx describes) to
 * @out_fd: a magic, one record per chunk (where its frames start; per block its fast hash and
 * compressed size), then every block as its own zstd frame at @level. Returns the store's size.
 */
int swu_store_write(SwuContext *ctx, int fd, uint64_t base, const SwuChunkIndex *idx, int level,
		    int out_fd, uint64_t *ret_size);

/*
 * Release side (swu verify-channel): checks the chunk store in @fd (@size bytes) against @idx,
 * everything swu_store_write() promises, more strictly than a device (which only falls back to
 * the blob): the magic; per chunk, frames after the records and after the frames before them;
 * each block one zstd frame of at most ZSTD_compressBound() bytes that decodes (window 128 KiB)
 * to exactly the block, whose XXH64 (and rolling hash, if any) its record states; every
 * chunk's SHA-256 as the index says. -EBADMSG with the chunk and block in the reason, -errno for
 * I/O.
 */
int swu_store_check(SwuContext *ctx, const SwuChunkIndex *idx, int fd, uint64_t size);
