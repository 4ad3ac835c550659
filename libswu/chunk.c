/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "chunk.h"
#include "fileio.h"
#include "macro.h"

static const char index_magic[8] = "SWUCIDX1";
static const char store_magic[SWU_STORE_MAGIC_SIZE] = "SWUSTOR1";

/* --- XXH64 ----------------------------------------------------------------------------------- */

#define P1 UINT64_C(0x9E3779B185EBCA87)
#define P2 UINT64_C(0xC2B2AE3D27D4EB4F)
#define P3 UINT64_C(0x165667B19E3779F9)
#define P4 UINT64_C(0x85EBCA77C2B2AE63)
#define P5 UINT64_C(0x27D4EB2F165667C5)

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t xxh_round(uint64_t acc, uint64_t input)
{
	return rotl64(acc + input * P2, 31) * P1;
}

static inline uint64_t xxh_merge(uint64_t acc, uint64_t v)
{
	return (acc ^ xxh_round(0, v)) * P1 + P4;
}

uint64_t swu_xxh64(const void *data, size_t n, uint64_t seed)
{
	const uint8_t *p = data, *end = p + n;
	uint64_t h;

	assert_return(data || n == 0, 0);

	if (n >= 32) {
		uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;

		for (; end - p >= 32; p += 32) {
			v1 = xxh_round(v1, swu_le64(p));
			v2 = xxh_round(v2, swu_le64(p + 8));
			v3 = xxh_round(v3, swu_le64(p + 16));
			v4 = xxh_round(v4, swu_le64(p + 24));
		}
		h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
		h = xxh_merge(xxh_merge(xxh_merge(xxh_merge(h, v1), v2), v3), v4);
	} else
		h = seed + P5;
	h += n;
	for (; end - p >= 8; p += 8)
		h = rotl64(h ^ xxh_round(0, swu_le64(p)), 27) * P1 + P4;
	if (end - p >= 4) {
		h = rotl64(h ^ (uint64_t)swu_le32(p) * P1, 23) * P2 + P3;
		p += 4;
	}
	for (; p < end; p++)
		h = rotl64(h ^ *p * P5, 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	return h ^ (h >> 32);
}

/* --- content-defined chunking ---------------------------------------------------------------- */

void swu_chunk_params_default(bool block_image, SwuChunkParams *ret)
{
	assert_return_void(ret);

	*ret = (SwuChunkParams){
		.block = SWU_CHUNK_BLOCK,
		.align = block_image ? SWU_CHUNK_BLOCK : 1,
		.min = 16 * 1024,
		.avg = 64 * 1024,
		.max = 256 * 1024,
		.flags = block_image ? SWU_CHUNK_FLAG_ROLLING : 0,
	};
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int log2u(uint32_t v)
{
	int r = 0;

	while (v >>= 1)
		r++;
	return r;
}

static bool params_valid(const SwuChunkParams *p)
{
	return p->block == SWU_CHUNK_BLOCK && (p->align == 1 || p->align == p->block) &&
	       is_pow2(p->avg) && p->min >= p->block && p->min < p->avg && p->avg < p->max &&
	       p->max <= SWU_CHUNK_MAX_MAX && p->min % p->align == 0 && p->max % p->align == 0 &&
	       p->avg / p->align >= 4 && (p->flags & ~SWU_CHUNK_FLAGS_KNOWN) == 0 &&
	       (p->align != 1 || p->flags == 0);
}

typedef struct Chunker {
	SwuChunkParams p;
	int bits_small,
		bits_large; /* normalized chunking: harder to cut before avg, easier after */
	uint64_t gear[256];
	uint64_t block_hash[SWU_CHUNK_MAX_MAX / SWU_CHUNK_BLOCK];
	uint8_t *buf; /* 2 * max */
} Chunker;

static void chunker_init(Chunker *c, const SwuChunkParams *p)
{
	uint64_t x = UINT64_C(0x5357555044415445); /* "SWUPDATE": splitmix64 fills the gear table */
	int bits = log2u(p->avg / p->align);

	c->p = *p;
	c->bits_small = bits + 1;
	c->bits_large = bits - 1;
	for (size_t i = 0; i < 256; i++) {
		uint64_t z = (x += UINT64_C(0x9E3779B97F4A7C15));

		z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
		c->gear[i] = z ^ (z >> 31);
	}
}

static bool cut_here(const Chunker *c, uint64_t h, uint32_t length)
{
	int bits = length < c->p.avg ? c->bits_small : c->bits_large;

	return (h >> (64 - bits)) == 0;
}

/*
 * The length of the chunk at the start of @d (@avail bytes, all that is left or at least max).
 * Block-aligned: the decision after each block is the top bits of the block's fast hash. Byte
 * granular: a gear hash over the 64 bytes before each candidate point (FastCDC), started 64 bytes
 * before min so that the decision depends on those bytes alone.
 */
static uint32_t chunk_length(const Chunker *c, const uint8_t *d, uint32_t avail)
{
	uint32_t end = MIN(avail, c->p.max), i;
	uint64_t h = 0;

	if (c->p.align != 1) {
		for (i = 0; i < end;) {
			uint32_t n = MIN(c->p.block, end - i);

			i += n;
			if (n < c->p.block || (i >= c->p.min && i < end &&
					       cut_here(c, swu_xxh64(d + i - n, n, 0), i)))
				return i;
		}
		return end;
	}
	if (end <= c->p.min)
		return end;
	for (i = c->p.min - 64; i < end; i++) {
		h = (h << 1) + c->gear[d[i]];
		if (i + 1 >= c->p.min && cut_here(c, h, i + 1))
			return i + 1;
	}
	return end;
}

static uint64_t fast_hash(const uint8_t *d, uint32_t length, uint64_t *block_hash)
{
	uint8_t le[8 * (SWU_CHUNK_MAX_MAX / SWU_CHUNK_BLOCK)];
	uint32_t nb = swu_chunk_n_blocks(length);

	for (uint32_t b = 0; b < nb; b++) {
		uint32_t off = b * SWU_CHUNK_BLOCK;

		block_hash[b] = swu_xxh64(d + off, MIN(SWU_CHUNK_BLOCK, length - off), 0);
		swu_put_le64(le + 8 * b, block_hash[b]);
	}
	return swu_xxh64(le, 8 * (size_t)nb, 0);
}

uint64_t swu_chunk_fast_hash(const uint8_t *d, uint32_t length)
{
	uint64_t block_hash[SWU_CHUNK_MAX_MAX / SWU_CHUNK_BLOCK];

	assert_return(d || length == 0, 0);

	return fast_hash(d, MIN(length, SWU_CHUNK_MAX_MAX), block_hash);
}

static void chunk_hashes(Chunker *c, const uint8_t *d, SwuChunk *ck)
{
	ck->n_blocks = swu_chunk_n_blocks(ck->length);
	ck->hash = fast_hash(d, ck->length, c->block_hash);
	ck->block_hash = c->block_hash;
}

int swu_chunk_scan(SwuContext *ctx, int fd, uint64_t length, const SwuChunkParams *p,
		   bool allow_short, SwuChunkFunc func, void *userdata)
{
	_cleanup_free_ Chunker *c = calloc(1, sizeof(*c));
	_cleanup_free_ uint8_t *buf = NULL;
	size_t cap, have = 0, pos = 0;
	uint64_t offset = 0, read_at = 0;
	bool eof = false;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(fd >= 0, -EINVAL);
	assert_return(p, -EINVAL);
	assert_return(func, -EINVAL);

	cap = 2 * (size_t)p->max;
	if (!c || !(buf = malloc(cap)))
		return -ENOMEM;
	if (!params_valid(p))
		return -EINVAL;
	chunker_init(c, p);
	while (offset < length) {
		SwuChunk ck = { .offset = offset };

		if (swu_context_cancelled(ctx))
			return -ECANCELED;
		/* Keep at least max bytes ahead of the chunk start, or all that is left. */
		if (have - pos < p->max && !eof && read_at < length) {
			size_t want, k;

			memmove(buf, buf + pos, have - pos);
			have -= pos;
			pos = 0;
			want = (size_t)MIN((uint64_t)(cap - have), length - read_at);
			r = swu_pread_full(fd, buf + have, want, read_at, &k);
			if (r < 0)
				return r;
			if (k < want) {
				if (!allow_short)
					return -ENODATA;
				eof = true;
			}
			have += k;
			read_at += k;
		}
		if (have == pos)
			break; /* a short file, allowed */
		ck.length = chunk_length(c, buf + pos, (uint32_t)MIN(have - pos, (size_t)p->max));
		ck.data = buf + pos;
		chunk_hashes(c, ck.data, &ck);
		r = func(userdata, &ck);
		if (r < 0)
			return r;
		pos += ck.length;
		offset += ck.length;
	}
	return 0;
}

/* --- the index ------------------------------------------------------------------------------- */

typedef struct Builder {
	uint8_t *p;
	size_t n, cap;
	uint32_t count;
} Builder;

static int build_entry(void *userdata, const SwuChunk *c)
{
	Builder *b = userdata;
	uint8_t *e;
	int r;

	if (b->n + SWU_CHUNK_ENTRY_SIZE > b->cap) {
		size_t cap = MAX(b->cap * 2, (size_t)4096);
		uint8_t *p = realloc(b->p, cap);

		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	e = b->p + b->n;
	swu_put_le32(e, c->length);
	swu_put_le64(e + 4, c->hash);
	r = swu_sha256(c->data, c->length, e + 12);
	if (r < 0)
		return r;
	b->n += SWU_CHUNK_ENTRY_SIZE;
	b->count++;
	return 0;
}

int swu_chunk_index_build(SwuContext *ctx, int fd, uint64_t length, const SwuChunkParams *p,
			  uint8_t **ret, size_t *ret_size)
{
	Builder b = {};
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(fd >= 0, -EINVAL);
	assert_return(p, -EINVAL);
	assert_return(ret, -EINVAL);
	assert_return(ret_size, -EINVAL);

	r = build_entry(&b, &(SwuChunk){}); /* room for the header: overwritten below */
	if (r >= 0) {
		b.n = SWU_CHUNK_HEADER_SIZE;
		b.count = 0;
		r = swu_chunk_scan(ctx, fd, length, p, /* allow_short= */ false, build_entry, &b);
	}
	if (r < 0) {
		free(b.p);
		return r;
	}
	memcpy(b.p, index_magic, 8);
	swu_put_le32(b.p + 8, 1); /* version */
	swu_put_le32(b.p + 12, p->flags);
	swu_put_le64(b.p + 16, length);
	swu_put_le32(b.p + 24, p->block);
	swu_put_le32(b.p + 28, p->align);
	swu_put_le32(b.p + 32, p->min);
	swu_put_le32(b.p + 36, p->avg);
	swu_put_le32(b.p + 40, p->max);
	swu_put_le32(b.p + 44, b.count);
	*ret = b.p;
	*ret_size = b.n;
	return 0;
}

void swu_chunk_index_drop_fast(SwuChunkIndex *idx)
{
	assert_return_void(idx);

	idx->fast = mfree(idx->fast);
}

int swu_chunk_index_sha256(const SwuChunkIndex *idx, uint32_t i, uint8_t ret[SWU_SHA256_SIZE])
{
	uint64_t at = SWU_CHUNK_HEADER_SIZE + (uint64_t)i * SWU_CHUNK_ENTRY_SIZE + 12;
	size_t got;
	int r;

	assert_return(idx, -EINVAL);
	assert_return(i < idx->n, -EINVAL);
	assert_return(ret, -EINVAL);

	if (idx->data) {
		memcpy(ret, idx->data + at, SWU_SHA256_SIZE);
		return 0;
	}
	r = swu_pread_full(idx->fd, ret, SWU_SHA256_SIZE, at, &got);
	return r < 0 ? r : got == SWU_SHA256_SIZE ? 0 : -EIO;
}

SwuChunkIndex *swu_chunk_index_free(SwuChunkIndex *idx)
{
	if (idx) {
		free(idx->data);
		safe_close(idx->fd);
		free(idx->offsets);
		free(idx->fast);
		free(idx);
	}
	return NULL;
}

#define index_fail(ctx, ...) swu_fail(ctx, -EBADMSG, "chunk-index", "format", __VA_ARGS__)

/* The header of an index of @n bytes; allocates the arrays for its chunks. */
static int parse_header(SwuContext *ctx, const uint8_t *p, uint64_t n, uint64_t target_length,
			SwuChunkIndex *idx)
{
	uint64_t entries;

	if (n < SWU_CHUNK_HEADER_SIZE || memcmp(p, index_magic, 8) != 0)
		return index_fail(ctx, "not a chunk index (bad magic or too short)");
	if (swu_le32(p + 8) != 1 || (swu_le32(p + 12) & ~SWU_CHUNK_FLAGS_KNOWN) != 0)
		return index_fail(ctx, "chunk index version %u flags %u unsupported",
				  swu_le32(p + 8), swu_le32(p + 12));
	idx->length = swu_le64(p + 16);
	idx->params = (SwuChunkParams){ swu_le32(p + 24), swu_le32(p + 28), swu_le32(p + 32),
					swu_le32(p + 36), swu_le32(p + 40), swu_le32(p + 12) };
	idx->n = swu_le32(p + 44);
	if (idx->length != target_length)
		return index_fail(ctx, "chunk index describes %llu bytes, the target has %llu",
				  (unsigned long long)idx->length,
				  (unsigned long long)target_length);
	if (!params_valid(&idx->params))
		return index_fail(ctx, "chunk index parameters are unsupported");
	if (idx->length / SWU_CHUNK_BLOCK + idx->n >= UINT32_MAX)
		return index_fail(ctx, "chunk index of %llu bytes is too large",
				  (unsigned long long)idx->length);
	entries = (n - SWU_CHUNK_HEADER_SIZE) / SWU_CHUNK_ENTRY_SIZE;
	if ((n - SWU_CHUNK_HEADER_SIZE) % SWU_CHUNK_ENTRY_SIZE != 0 || entries != idx->n)
		return index_fail(ctx, "chunk index lists %u chunks in %llu bytes", idx->n,
				  (unsigned long long)n);
	/* Every chunk but the last is at least min long: a count beyond that is a lie. */
	if (idx->n > idx->length / idx->params.min + 1 || (idx->length > 0) != (idx->n > 0))
		return index_fail(ctx, "chunk index lists %u chunks for %llu bytes", idx->n,
				  (unsigned long long)idx->length);
	idx->offsets = malloc(((size_t)idx->n + 1) * sizeof(uint64_t));
	idx->fast = malloc(MAX((size_t)idx->n, (size_t)1) * sizeof(uint64_t));
	if (!idx->offsets || !idx->fast)
		return -ENOMEM;
	idx->offsets[0] = 0;
	return 0;
}

/* @count entries from @first on, at @e: their lengths must tile the image. */
static int parse_entries(SwuContext *ctx, SwuChunkIndex *idx, const uint8_t *e, uint32_t first,
			 uint32_t count)
{
	for (uint32_t i = first; i < first + count; i++, e += SWU_CHUNK_ENTRY_SIZE) {
		uint64_t off = idx->offsets[i];
		uint32_t len = swu_le32(e);
		bool last = i + 1 == idx->n;

		if (len == 0 || len > idx->params.max || (!last && len < idx->params.min) ||
		    (!last && len % idx->params.align != 0) || len > idx->length - off ||
		    (last && len != idx->length - off))
			return index_fail(
				ctx, "chunk %u of the index: length %u at offset %llu (of %llu)", i,
				len, (unsigned long long)off, (unsigned long long)idx->length);
		idx->fast[i] = swu_le64(e + 4);
		idx->offsets[i + 1] = off + len;
		idx->n_blocks += swu_chunk_n_blocks(len); /* < UINT32_MAX: parse_header() */
	}
	return 0;
}

int swu_chunk_index_parse(SwuContext *ctx, const uint8_t *p, size_t n, uint64_t target_length,
			  SwuChunkIndex **ret)
{
	_cleanup_(swu_chunk_index_freep) SwuChunkIndex *idx = calloc(1, sizeof(*idx));
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(ret, -EINVAL);

	if (!idx)
		return -ENOMEM;
	idx->fd = -EBADF;
	r = parse_header(ctx, p, n, target_length, idx);
	if (r >= 0)
		r = parse_entries(ctx, idx, p + SWU_CHUNK_HEADER_SIZE, 0, idx->n);
	if (r < 0)
		return r;
	idx->data = malloc(MAX(n, (size_t)1));
	if (!idx->data)
		return -ENOMEM;
	memcpy(idx->data, p, n);
	*ret = TAKE_PTR(idx);
	return 0;
}

/* Entries read from an index file at a time. */
#define OPEN_ENTRIES 1024u

int swu_chunk_index_open(SwuContext *ctx, int fd, uint64_t size, uint64_t target_length,
			 SwuChunkIndex **ret)
{
	_cleanup_(swu_chunk_index_freep) SwuChunkIndex *idx = calloc(1, sizeof(*idx));
	_cleanup_free_ uint8_t *buf = malloc(OPEN_ENTRIES * SWU_CHUNK_ENTRY_SIZE);
	size_t got;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(fd >= 0, -EINVAL);
	assert_return(ret, -EINVAL);

	if (!idx || !buf)
		return -ENOMEM;
	idx->fd = -EBADF;
	r = swu_pread_full(fd, buf, SWU_CHUNK_HEADER_SIZE, 0, &got);
	if (r < 0)
		return r;
	r = parse_header(ctx, buf, got < SWU_CHUNK_HEADER_SIZE ? got : size, target_length, idx);
	for (uint32_t i = 0; r >= 0 && i < idx->n;) {
		uint32_t k = MIN(idx->n - i, OPEN_ENTRIES);

		r = swu_pread_full(fd, buf, (size_t)k * SWU_CHUNK_ENTRY_SIZE,
				   SWU_CHUNK_HEADER_SIZE + (uint64_t)i * SWU_CHUNK_ENTRY_SIZE,
				   &got);
		if (r >= 0 && got != (size_t)k * SWU_CHUNK_ENTRY_SIZE)
			r = index_fail(ctx, "chunk index file ends at chunk %u of %u", i, idx->n);
		if (r >= 0)
			r = parse_entries(ctx, idx, buf, i, k);
		i += k;
	}
	if (r < 0)
		return r;
	idx->fd = fd;
	*ret = TAKE_PTR(idx);
	return 0;
}

/* --- the store ------------------------------------------------------------------------------- */

uint32_t swu_rolling_hash(const uint8_t *block)
{
	uint32_t h = 0;

	assert_return(block, 0);

	for (size_t i = 0; i < SWU_CHUNK_BLOCK; i++)
		h = h * SWU_ROLLING_M + (uint32_t)block[i] + 1;
	return h;
}

uint32_t swu_rolling_pow(void)
{
	uint32_t p = 1;

	for (size_t i = 1; i < SWU_CHUNK_BLOCK; i++)
		p *= SWU_ROLLING_M;
	return p;
}

uint32_t swu_store_record_block(const SwuChunkIndex *idx)
{
	assert_return(idx, 0);

	return swu_chunk_index_rolling(idx) ? SWU_STORE_RECORD_BYTE : SWU_STORE_RECORD_BLOCK;
}

static uint64_t record_size(const SwuChunkIndex *idx, uint32_t length)
{
	return SWU_STORE_RECORD_HEAD +
	       (uint64_t)swu_store_record_block(idx) * swu_chunk_n_blocks(length);
}

uint64_t swu_store_record_size(const SwuChunkIndex *idx, uint32_t i)
{
	assert_return(idx, 0);
	assert_return(i < idx->n, 0);

	return record_size(idx, swu_chunk_index_length(idx, i));
}

/* Records are fixed by the signed lengths: offset(i) = magic + sum of the sizes before it. */
uint64_t swu_store_record_offset(const SwuChunkIndex *idx, uint32_t i)
{
	uint64_t blocks = 0;

	assert_return(idx, 0);

	/* In a block index every chunk before i is whole blocks. */
	if (idx->params.align == SWU_CHUNK_BLOCK)
		blocks = idx->offsets[i] / SWU_CHUNK_BLOCK;
	else
		for (uint32_t k = 0; k < i; k++)
			blocks += swu_chunk_n_blocks(swu_chunk_index_length(idx, k));
	return SWU_STORE_MAGIC_SIZE + SWU_STORE_RECORD_HEAD * (uint64_t)i +
	       swu_store_record_block(idx) * blocks;
}

uint64_t swu_store_records_end(const SwuChunkIndex *idx)
{
	assert_return(idx, 0);

	return SWU_STORE_MAGIC_SIZE + SWU_STORE_RECORD_HEAD * (uint64_t)idx->n +
	       swu_store_record_block(idx) * (uint64_t)idx->n_blocks;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ZSTD_CCtx *, ZSTD_freeCCtx);

static int store_write(SwuContext *ctx, int fd, uint64_t base, const SwuChunkIndex *idx, int level,
		       int out_fd, uint64_t *ret_size)
{
	_cleanup_(ZSTD_freeCCtxp) ZSTD_CCtx *cctx = ZSTD_createCCtx();
	size_t bound = ZSTD_compressBound(SWU_CHUNK_BLOCK);
	uint32_t max_rec = (uint32_t)record_size(idx, idx->params.max);
	uint32_t rb = swu_store_record_block(idx);
	_cleanup_free_ uint8_t *chunk = malloc(idx->params.max);
	_cleanup_free_ uint8_t *frame = malloc(bound);
	_cleanup_free_ uint8_t *rec = malloc(max_rec);
	uint64_t pos = swu_store_records_end(idx), rpos = SWU_STORE_MAGIC_SIZE;
	int r;

	if (!cctx || !chunk || !frame || !rec)
		return -ENOMEM;
	r = swu_pwrite_all(out_fd, store_magic, sizeof(store_magic), 0);
	for (uint32_t i = 0; r >= 0 && i < idx->n; i++) {
		uint32_t len = swu_chunk_index_length(idx, i), nb = swu_chunk_n_blocks(len);
		size_t k;

		if (swu_context_cancelled(ctx))
			return -ECANCELED;
		r = swu_pread_full(fd, chunk, len, base + idx->offsets[i], &k);
		if (r < 0)
			return r;
		if (k != len)
			return -ENODATA;
		swu_put_le64(rec, pos);
		for (uint32_t b = 0; b < nb; b++) {
			uint32_t off = b * SWU_CHUNK_BLOCK, blen = MIN(SWU_CHUNK_BLOCK, len - off);
			size_t z = ZSTD_compressCCtx(cctx, frame, bound, chunk + off, blen, level);

			if (ZSTD_isError(z))
				return -EIO;
			uint8_t *e = rec + SWU_STORE_RECORD_HEAD + (size_t)rb * b;

			swu_put_le64(e, swu_xxh64(chunk + off, blen, 0));
			swu_put_le32(e + 8, (uint32_t)z);
			if (rb == SWU_STORE_RECORD_BYTE)
				swu_put_le32(e + 12, blen == SWU_CHUNK_BLOCK
							     ? swu_rolling_hash(chunk + off)
							     : 0);
			r = swu_pwrite_all(out_fd, frame, z, pos);
			if (r < 0)
				return r;
			pos += z;
		}
		r = swu_pwrite_all(out_fd, rec, record_size(idx, len), rpos);
		rpos += record_size(idx, len);
	}
	if (r < 0)
		return r;
	*ret_size = pos;
	return 0;
}

int swu_store_write(SwuContext *ctx, int fd, uint64_t base, const SwuChunkIndex *idx, int level,
		    int out_fd, uint64_t *ret_size)
{
	assert_return(ctx, -EINVAL);
	assert_return(fd >= 0, -EINVAL);
	assert_return(idx, -EINVAL);
	assert_return(out_fd >= 0, -EINVAL);
	assert_return(ret_size, -EINVAL);

	return store_write(ctx, fd, base, idx, level, out_fd, ret_size);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ZSTD_DCtx *, ZSTD_freeDCtx);

typedef struct StoreCheck {
	SwuContext *ctx;
	const SwuChunkIndex *idx;
	int fd;
	uint64_t size;
	ZSTD_DCtx *dctx;
	uint8_t *frame, *rec;
} StoreCheck;

static int read_exactly(int fd, void *p, size_t n, uint64_t at)
{
	size_t got = 0;
	int r = swu_pread_full(fd, p, n, at, &got);

	return r < 0 ? r : got == n ? 0 : -ENODATA;
}

/* Block @b of chunk @i: its frame at @pos, decoded into @out, checked against the record @e. */
static int check_block(StoreCheck *c, uint32_t i, uint32_t b, const uint8_t *e, uint64_t pos,
		       uint8_t *out, uint32_t blen)
{
	uint32_t z = swu_le32(e + 8);
	size_t d;
	int r;

	if (z == 0 || z > ZSTD_compressBound(blen))
		return swu_fail(c->ctx, -EBADMSG, "store", "frame",
				"chunk store: block %u of chunk %u claims a frame of %u bytes", b,
				i, z);
	if (pos > c->size || z > c->size - pos)
		return swu_fail(c->ctx, -EBADMSG, "store", "frame",
				"chunk store: block %u of chunk %u ends past the end of the store "
				"(%llu bytes)",
				b, i, (unsigned long long)c->size);
	r = read_exactly(c->fd, c->frame, z, pos);
	if (r < 0)
		return r;
	if (ZSTD_findFrameCompressedSize(c->frame, z) != z)
		return swu_fail(c->ctx, -EBADMSG, "store", "frame",
				"chunk store: block %u of chunk %u is not one zstd frame", b, i);
	d = ZSTD_decompressDCtx(c->dctx, out, blen, c->frame, z);
	if (ZSTD_isError(d) || d != blen)
		return swu_fail(c->ctx, -EBADMSG, "store", "frame",
				"chunk store: block %u of chunk %u does not decode to its %u "
				"bytes: %s",
				b, i, blen, ZSTD_isError(d) ? ZSTD_getErrorName(d) : "short");
	if (swu_xxh64(out, blen, 0) != swu_le64(e))
		return swu_fail(c->ctx, -EBADMSG, "store", "hash",
				"chunk store: block %u of chunk %u does not match the XXH64 of its "
				"record",
				b, i);
	if (swu_store_record_block(c->idx) == SWU_STORE_RECORD_BYTE &&
	    swu_le32(e + 12) != (blen == SWU_CHUNK_BLOCK ? swu_rolling_hash(out) : 0))
		return swu_fail(c->ctx, -EBADMSG, "store", "hash",
				"chunk store: block %u of chunk %u does not match the rolling hash "
				"of "
				"its record",
				b, i);
	return 0;
}

/* Chunk @i: its record at *@rpos, its frames from no earlier than *@frames_end. */
static int check_chunk(StoreCheck *c, uint32_t i, uint8_t *chunk, uint64_t *rpos,
		       uint64_t *frames_end)
{
	uint32_t len = swu_chunk_index_length(c->idx, i), rb = swu_store_record_block(c->idx);
	uint8_t want[SWU_SHA256_SIZE], got[SWU_SHA256_SIZE];
	uint64_t rsize = record_size(c->idx, len), pos;
	int r;

	r = read_exactly(c->fd, c->rec, rsize, *rpos);
	if (r < 0)
		return r;
	*rpos += rsize;
	pos = swu_le64(c->rec);
	if (pos < *frames_end)
		return swu_fail(c->ctx, -EBADMSG, "store", "layout",
				"chunk store: the frames of chunk %u start at %llu, before %llu "
				"(the "
				"records or the frames before them)",
				i, (unsigned long long)pos, (unsigned long long)*frames_end);
	for (uint32_t b = 0; b < swu_chunk_n_blocks(len); b++) {
		const uint8_t *e = c->rec + SWU_STORE_RECORD_HEAD + (size_t)rb * b;
		uint32_t off = b * SWU_CHUNK_BLOCK;

		r = check_block(c, i, b, e, pos, chunk + off, MIN(SWU_CHUNK_BLOCK, len - off));
		if (r < 0)
			return r;
		pos += swu_le32(e + 8);
	}
	*frames_end = pos;
	r = swu_chunk_index_sha256(c->idx, i, want);
	if (r >= 0)
		r = swu_sha256(chunk, len, got);
	if (r < 0)
		return r;
	if (memcmp(want, got, SWU_SHA256_SIZE) != 0)
		return swu_fail(c->ctx, -EBADMSG, "store", "hash",
				"chunk store: chunk %u does not match its SHA-256 in the index", i);
	return 0;
}

int swu_store_check(SwuContext *ctx, const SwuChunkIndex *idx, int fd, uint64_t size)
{
	_cleanup_(ZSTD_freeDCtxp) ZSTD_DCtx *dctx = ZSTD_createDCtx();
	_cleanup_free_ uint8_t *chunk = NULL, *frame = NULL, *rec = NULL;
	uint64_t rpos = SWU_STORE_MAGIC_SIZE, frames_end;
	uint8_t magic[SWU_STORE_MAGIC_SIZE];
	StoreCheck c;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(idx, -EINVAL);
	assert_return(fd >= 0, -EINVAL);

	chunk = malloc(idx->params.max);
	frame = malloc(ZSTD_compressBound(SWU_CHUNK_BLOCK));
	rec = malloc(record_size(idx, idx->params.max));
	if (!dctx || !chunk || !frame || !rec ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, SWU_STORE_WINDOW_LOG)))
		return -ENOMEM;
	c = (StoreCheck){ ctx, idx, fd, size, dctx, frame, rec };
	frames_end = swu_store_records_end(idx);
	r = size < SWU_STORE_MAGIC_SIZE ? -ENODATA : read_exactly(fd, magic, sizeof(magic), 0);
	if (r == -ENODATA || (r >= 0 && memcmp(magic, store_magic, sizeof(magic)) != 0))
		return swu_fail(ctx, -EBADMSG, "store", "magic", "chunk store: no SWUSTOR1 magic");
	if (r < 0)
		return r;
	if (size < frames_end)
		return swu_fail(ctx, -EBADMSG, "store", "layout",
				"chunk store: %llu bytes, its records alone take %llu",
				(unsigned long long)size, (unsigned long long)frames_end);
	for (uint32_t i = 0; i < idx->n; i++) {
		if (swu_context_cancelled(ctx))
			return -ECANCELED;
		r = check_chunk(&c, i, chunk, &rpos, &frames_end);
		if (r < 0)
			return r;
	}
	return 0;
}
