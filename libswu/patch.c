/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <zstd.h>

#include "fileio.h"
#include "macro.h"
#include "patch.h"

#define NONE	    UINT64_MAX
#define SCAN_BUFFER (1024u * 1024u)
#define ROLL_BITS   24
/* Chunks the old image holds only reference themselves: any level finds the one match. */
#define FOUND_LEVEL 3
/* References tried for a chunk that changed: where its blocks and neighbours were. */
#define TRIES 4

/* Every block of the new image, in order (g: the block's number among all of them). */
typedef struct Blocks {
	uint32_t n;
	uint64_t *off;	  /* where it starts in the new image */
	uint32_t *len;	  /* 4096, or less for the last one of a chunk */
	uint64_t *xxh;	  /* XXH64 */
	uint32_t *roll;	  /* rolling hash, 0 for a short block */
	uint64_t *found;  /* where the old image holds it, NONE */
	int64_t *before;  /* old - new offset of the closest found block before it, or INT64_MAX */
	int64_t *after;	  /* the same after it */
	uint32_t *sorted; /* full blocks by (rolling hash, XXH64) */
	uint32_t n_sorted;
	uint32_t *uniq; /* the first of each content in that order: what the old scan looks for */
	uint32_t n_uniq;
	uint8_t *bits;
} Blocks;

static void blocks_done(Blocks *b)
{
	free(b->off);
	free(b->len);
	free(b->xxh);
	free(b->roll);
	free(b->found);
	free(b->before);
	free(b->after);
	free(b->sorted);
	free(b->uniq);
	free(b->bits);
}

static const Blocks *sort_blocks;

static int cmp_block(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	const Blocks *s = sort_blocks;

	if (s->roll[a] != s->roll[b])
		return s->roll[a] < s->roll[b] ? -1 : 1;
	if (s->xxh[a] != s->xxh[b])
		return s->xxh[a] < s->xxh[b] ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* Chunk @i of the image at @base in @fd into @buf (params.max bytes). */
static int read_chunk(SwuContext *ctx, int fd, uint64_t base, const SwuChunkIndex *idx, uint32_t i,
		      uint8_t *buf)
{
	uint32_t len = swu_chunk_index_length(idx, i);
	size_t got;
	int r;

	if (swu_context_cancelled(ctx))
		return -ECANCELED;
	r = swu_pread_full(fd, buf, len, base + idx->offsets[i], &got);
	return r < 0 ? r : got == len ? 0 : -ENODATA;
}

/* The hashes of every block of the new image, and the full ones sorted for the old scan. */
static int hash_blocks(SwuContext *ctx, int fd, uint64_t base, const SwuChunkIndex *idx, Blocks *b)
{
	_cleanup_free_ uint8_t *chunk = malloc(idx->params.max);
	uint32_t g = 0, kept = 0;

	b->n = idx->n_blocks;
	b->off = malloc(MAX(b->n, 1u) * sizeof(uint64_t));
	b->len = malloc(MAX(b->n, 1u) * sizeof(uint32_t));
	b->xxh = malloc(MAX(b->n, 1u) * sizeof(uint64_t));
	b->roll = malloc(MAX(b->n, 1u) * sizeof(uint32_t));
	b->found = malloc(MAX(b->n, 1u) * sizeof(uint64_t));
	b->before = malloc(MAX(b->n, 1u) * sizeof(int64_t));
	b->after = malloc(MAX(b->n, 1u) * sizeof(int64_t));
	b->sorted = malloc(MAX(b->n, 1u) * sizeof(uint32_t));
	b->uniq = malloc(MAX(b->n, 1u) * sizeof(uint32_t));
	b->bits = calloc(1, (size_t)1 << (ROLL_BITS - 3));
	if (!chunk || !b->off || !b->len || !b->xxh || !b->roll || !b->found || !b->before ||
	    !b->after || !b->sorted || !b->uniq || !b->bits)
		return -ENOMEM;
	for (uint32_t i = 0; i < idx->n; i++) {
		uint32_t len = swu_chunk_index_length(idx, i);
		int r = read_chunk(ctx, fd, base, idx, i, chunk);

		if (r < 0)
			return r;
		for (uint32_t o = 0; o < len; o += SWU_CHUNK_BLOCK, g++) {
			uint32_t blen = MIN(SWU_CHUNK_BLOCK, len - o);

			b->off[g] = idx->offsets[i] + o;
			b->len[g] = blen;
			b->xxh[g] = swu_xxh64(chunk + o, blen, 0);
			b->roll[g] = blen == SWU_CHUNK_BLOCK ? swu_rolling_hash(chunk + o) : 0;
			b->found[g] = NONE;
			if (blen == SWU_CHUNK_BLOCK) {
				b->sorted[kept++] = g;
				b->bits[b->roll[g] >> (32 - ROLL_BITS) >> 3] |=
					1u << ((b->roll[g] >> (32 - ROLL_BITS)) & 7);
			}
		}
	}
	b->n_sorted = kept;
	sort_blocks = b;
	qsort(b->sorted, kept, sizeof(uint32_t), cmp_block);
	sort_blocks = NULL;
	for (uint32_t p = 0; p < kept; p++) {
		uint32_t x = b->sorted[p], f = p > 0 ? b->sorted[p - 1] : x;

		if (p == 0 || b->roll[x] != b->roll[f] || b->xxh[x] != b->xxh[f])
			b->uniq[b->n_uniq++] = x;
	}
	return 0;
}

/* The first distinct content with rolling hash @h, b->n_uniq when none. */
static uint32_t find_roll(const Blocks *b, uint32_t h)
{
	uint32_t lo = 0, hi = b->n_uniq;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (b->roll[b->uniq[mid]] < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The window of the old image at @at matched rolling hash @h: the content of that hash and the
 * window's XXH64, if it has no place yet, takes this one (its other blocks take it afterwards).
 */
static void place(Blocks *b, uint32_t h, const uint8_t *w, uint64_t at)
{
	uint64_t x = 0;
	bool hashed = false;

	for (uint32_t p = find_roll(b, h); p < b->n_uniq && b->roll[b->uniq[p]] == h; p++) {
		uint32_t g = b->uniq[p];

		if (b->found[g] != NONE)
			continue;
		if (!hashed) {
			x = swu_xxh64(w, SWU_CHUNK_BLOCK, 0);
			hashed = true;
		}
		if (b->xxh[g] == x)
			b->found[g] = at;
	}
}

/* Every byte offset of the old image, by rolling hash: where it holds each block of the new. */
static int scan_old(SwuContext *ctx, int old_fd, uint64_t old_length, Blocks *b)
{
	_cleanup_free_ uint8_t *buf = malloc(SCAN_BUFFER);
	uint32_t pow = swu_rolling_pow();

	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; off < old_length; off += SCAN_BUFFER - SWU_CHUNK_BLOCK + 1) {
		size_t want = (size_t)MIN((uint64_t)SCAN_BUFFER, old_length - off), got;
		uint32_t h;
		int r;

		if (swu_context_cancelled(ctx))
			return -ECANCELED;
		r = swu_pread_full(old_fd, buf, want, off, &got);
		if (r < 0)
			return r;
		if (got < SWU_CHUNK_BLOCK)
			break;
		h = swu_rolling_hash(buf);
		for (size_t i = 0;; i++) {
			uint32_t bit = h >> (32 - ROLL_BITS);

			if (b->bits[bit >> 3] & (1u << (bit & 7)))
				place(b, h, buf + i, off + i);
			if (i + SWU_CHUNK_BLOCK >= got)
				break;
			h = swu_rolling_roll(h, pow, buf[i], buf[i + SWU_CHUNK_BLOCK]);
		}
		if (got < want || off + got >= old_length)
			break;
	}
	return 0;
}

/* For each block, how its closest found neighbours before and after it moved. */
static void anchor(Blocks *b)
{
	int64_t d = INT64_MAX;

	for (uint32_t g = 0; g < b->n; g++) {
		if (b->found[g] != NONE)
			d = (int64_t)(b->found[g] - b->off[g]);
		b->before[g] = d;
	}
	d = INT64_MAX;
	for (uint32_t g = b->n; g-- > 0;) {
		if (b->found[g] != NONE)
			d = (int64_t)(b->found[g] - b->off[g]);
		b->after[g] = d;
	}
}

typedef struct Writer {
	SwuContext *ctx;
	ZSTD_CCtx *cctx;
	int old_fd;
	uint64_t old_length;
	int level;
	uint8_t *ref, *frame, *best;
	size_t bound;
} Writer;

/*
 * @n bytes at @p compressed at @level with the old bytes [@at, @at + @len) as their prefix (none
 * when @len is 0), into w->frame; its size, or a negative errno. The window states the frame's
 * length: a device decodes it straight into the chunk.
 */
static ssize_t compress_with(Writer *w, const uint8_t *p, uint32_t n, uint64_t at, uint32_t len,
			     int level)
{
	size_t z, got;
	int r;

	if (len > 0) {
		r = swu_pread_full(w->old_fd, w->ref, len, at, &got);
		if (r < 0)
			return r;
		if (got != len)
			return -ENODATA;
	}
	if (ZSTD_isError(ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_and_parameters)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_windowLog, SWU_PATCH_WINDOW_LOG)) ||
	    (len > 0 && ZSTD_isError(ZSTD_CCtx_refPrefix(w->cctx, w->ref, len))))
		return -EIO;
	z = ZSTD_compress2(w->cctx, w->frame, w->bound, p, n);
	return ZSTD_isError(z) ? -EIO : (ssize_t)z;
}

/* The old bytes where [@off, @off + @n) of the new image moved from by @d, with some slack. */
static uint32_t window_at(const Writer *w, uint64_t off, int64_t d, uint32_t n, uint64_t *ret_at)
{
	int64_t lo = (int64_t)off + d - SWU_PATCH_SLACK,
		hi = (int64_t)off + d + n + SWU_PATCH_SLACK;

	lo = MAX(lo, (int64_t)0);
	hi = MIN(hi, (int64_t)w->old_length);
	if (hi <= lo)
		return 0;
	*ret_at = (uint64_t)lo;
	return (uint32_t)(hi - lo);
}

static void add_try(int64_t *tries, unsigned *n, int64_t d)
{
	if (d == INT64_MAX || *n == TRIES)
		return;
	for (unsigned i = 0; i < *n; i++)
		if (tries[i] == d)
			return;
	tries[(*n)++] = d;
}

/*
 * Chunk @i (@len bytes at @p, its blocks from @g on): its smallest frame into w->best, and its
 * reference in @ret_at and @ret_len (0: none). A chunk whose every block the old image holds, all
 * moved by one amount, references that; another tries no reference and where its own blocks and
 * its neighbours moved from.
 */
static ssize_t encode_chunk(Writer *w, const Blocks *b, uint32_t g, const uint8_t *p, uint32_t len,
			    uint64_t *ret_at, uint32_t *ret_len)
{
	uint32_t nb = swu_chunk_n_blocks(len);
	int64_t tries[TRIES];
	unsigned n = 0;
	bool same = true;
	ssize_t best = -1;

	*ret_at = 0;
	*ret_len = 0;
	for (uint32_t k = 0; k < nb; k++) {
		int64_t d = b->found[g + k] == NONE ? INT64_MAX
						    : (int64_t)(b->found[g + k] - b->off[g + k]);

		same = same && d != INT64_MAX && (n == 0 || d == tries[0]);
		add_try(tries, &n, d);
	}
	if (!same || n != 1) {
		same = false;
		add_try(tries, &n, b->before[g]);
		add_try(tries, &n, b->after[g + nb - 1]);
		best = compress_with(w, p, len, 0, 0, w->level);
		if (best < 0)
			return best;
		memcpy(w->best, w->frame, (size_t)best);
	}
	for (unsigned t = 0; t < n; t++) {
		uint64_t at = 0;
		uint32_t rlen = window_at(w, b->off[g], tries[t], len, &at);
		ssize_t z;

		if (rlen == 0)
			continue;
		z = compress_with(w, p, len, at, rlen, same ? FOUND_LEVEL : w->level);
		if (z < 0)
			return z;
		if (best < 0 || z < best) {
			best = z;
			*ret_at = at;
			*ret_len = rlen;
			memcpy(w->best, w->frame, (size_t)z);
		}
	}
	if (best < 0) { /* found, but the window fell outside the old image: cannot be */
		best = compress_with(w, p, len, 0, 0, w->level);
		if (best >= 0)
			memcpy(w->best, w->frame, (size_t)best);
	}
	return best;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ZSTD_CCtx *, ZSTD_freeCCtx);

static int write_store(Writer *w, int fd, uint64_t base, const SwuChunkIndex *idx, const Blocks *b,
		       int out_fd, uint64_t *ret_size, uint32_t *ret_referenced)
{
	_cleanup_free_ uint8_t *chunk = malloc(idx->params.max);
	uint64_t pos = swu_patch_records_end(idx);
	uint32_t g = 0, referenced = 0;
	int r;

	if (!chunk)
		return -ENOMEM;
	r = swu_pwrite_all(out_fd, SWU_PATCH_MAGIC, 8, 0);
	for (uint32_t i = 0; r >= 0 && i < idx->n; i++) {
		uint32_t len = swu_chunk_index_length(idx, i), rlen;
		uint8_t rec[SWU_PATCH_RECORD_SIZE];
		uint64_t at;
		ssize_t z;

		r = read_chunk(w->ctx, fd, base, idx, i, chunk);
		if (r < 0)
			return r;
		z = encode_chunk(w, b, g, chunk, len, &at, &rlen);
		if (z < 0)
			return (int)z;
		referenced += rlen > 0;
		swu_put_le64(rec, pos);
		swu_put_le32(rec + 8, (uint32_t)z);
		swu_put_le32(rec + 12, rlen);
		swu_put_le64(rec + 16, at);
		r = swu_pwrite_all(out_fd, rec, sizeof(rec),
				   8 + (uint64_t)SWU_PATCH_RECORD_SIZE * i);
		if (r >= 0)
			r = swu_pwrite_all(out_fd, w->best, (size_t)z, pos);
		pos += (uint64_t)z;
		g += swu_chunk_n_blocks(len);
	}
	if (r < 0)
		return r;
	*ret_size = pos;
	if (ret_referenced)
		*ret_referenced = referenced;
	return 0;
}

int swu_patch_store_write(SwuContext *ctx, int fd, uint64_t base, const SwuChunkIndex *idx,
			  int old_fd, uint64_t old_length, int level, int out_fd,
			  uint64_t *ret_size, uint32_t *ret_referenced)
{
	_cleanup_(ZSTD_freeCCtxp) ZSTD_CCtx *cctx = ZSTD_createCCtx();
	size_t bound;
	_cleanup_free_ uint8_t *ref = NULL, *frame = NULL, *best = NULL;
	Blocks b = {};
	Writer w;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(fd >= 0, -EINVAL);
	assert_return(idx, -EINVAL);
	assert_return(old_fd >= 0, -EINVAL);
	assert_return(out_fd >= 0, -EINVAL);
	assert_return(ret_size, -EINVAL);

	bound = ZSTD_compressBound(idx->params.max);
	ref = malloc(swu_patch_ref_max(idx->params.max));
	frame = malloc(bound);
	best = malloc(bound);
	if (!cctx || !ref || !frame || !best)
		return -ENOMEM;
	w = (Writer){ ctx, cctx, old_fd, old_length, level, ref, frame, best, bound };
	r = hash_blocks(ctx, fd, base, idx, &b);
	if (r >= 0)
		r = scan_old(ctx, old_fd, old_length, &b);
	if (r >= 0) {
		/* Blocks of one content: placed where the first of them was. */
		for (uint32_t p = 1; p < b.n_sorted; p++) {
			uint32_t x = b.sorted[p], f = b.sorted[p - 1];

			if (b.found[x] == NONE && b.roll[x] == b.roll[f] && b.xxh[x] == b.xxh[f])
				b.found[x] = b.found[f];
		}
		anchor(&b);
		r = write_store(&w, fd, base, idx, &b, out_fd, ret_size, ret_referenced);
	}
	blocks_done(&b);
	return r;
}

/* --- the check ------------------------------------------------------------------------------- */

DEFINE_TRIVIAL_CLEANUP_FUNC(ZSTD_DCtx *, ZSTD_freeDCtx);

static int read_exactly(int fd, void *p, size_t n, uint64_t at)
{
	size_t got = 0;
	int r = swu_pread_full(fd, p, n, at, &got);

	return r < 0 ? r : got == n ? 0 : -ENODATA;
}

#define patch_fail(ctx, rule, ...) swu_fail(ctx, -EBADMSG, "store", rule, __VA_ARGS__)

int swu_patch_store_check(SwuContext *ctx, const SwuChunkIndex *idx, int fd, uint64_t size,
			  int old_fd, uint64_t old_length)
{
	_cleanup_(ZSTD_freeDCtxp) ZSTD_DCtx *dctx = ZSTD_createDCtx();
	_cleanup_free_ uint8_t *chunk = NULL, *frame = NULL, *ref = NULL;
	uint64_t end = swu_patch_records_end(idx);
	uint8_t magic[8];
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(idx, -EINVAL);
	assert_return(fd >= 0, -EINVAL);
	assert_return(old_fd >= 0, -EINVAL);

	chunk = malloc(idx->params.max);
	frame = malloc(ZSTD_compressBound(idx->params.max));
	ref = malloc(swu_patch_ref_max(idx->params.max));
	if (!dctx || !chunk || !frame || !ref)
		return -ENOMEM;
	r = size < end ? -ENODATA : read_exactly(fd, magic, sizeof(magic), 0);
	if (r == -ENODATA || (r >= 0 && memcmp(magic, SWU_PATCH_MAGIC, 8) != 0))
		return patch_fail(ctx, "magic",
				  "patch store: no SWUPTCH1 magic, or shorter than "
				  "its records");
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < idx->n; i++) {
		uint32_t len = swu_chunk_index_length(idx, i), z, rlen;
		uint8_t rec[SWU_PATCH_RECORD_SIZE], want[SWU_SHA256_SIZE], got[SWU_SHA256_SIZE];
		uint64_t pos, at;
		size_t d;

		if (swu_context_cancelled(ctx))
			return -ECANCELED;
		r = read_exactly(fd, rec, sizeof(rec), 8 + (uint64_t)SWU_PATCH_RECORD_SIZE * i);
		if (r < 0)
			return r;
		pos = swu_le64(rec);
		z = swu_le32(rec + 8);
		rlen = swu_le32(rec + 12);
		at = swu_le64(rec + 16);
		if (pos < end || pos > size || z == 0 || z > size - pos ||
		    z > ZSTD_compressBound(len))
			return patch_fail(ctx, "layout",
					  "patch store: the frame of chunk %u (%u bytes at %llu) "
					  "overlaps, or lies past the end of the store",
					  i, z, (unsigned long long)pos);
		if (rlen > swu_patch_ref_max(len) || at > old_length || rlen > old_length - at)
			return patch_fail(ctx, "reference",
					  "patch store: chunk %u references %u bytes at %llu, "
					  "outside the old image or too many",
					  i, rlen, (unsigned long long)at);
		end = pos + z;
		r = read_exactly(fd, frame, z, pos);
		if (r >= 0 && rlen > 0)
			r = read_exactly(old_fd, ref, rlen, at);
		if (r < 0)
			return r;
		/* As a device takes it: one zstd frame that states the chunk's length. */
		if (z < 4 || swu_le32(frame) != ZSTD_MAGICNUMBER ||
		    ZSTD_getFrameContentSize(frame, z) != len ||
		    ZSTD_findFrameCompressedSize(frame, z) != z)
			return patch_fail(ctx, "frame",
					  "patch store: chunk %u is not one zstd frame", i);
		if (rlen > 0 && ZSTD_isError(ZSTD_DCtx_refPrefix(dctx, ref, rlen)))
			return -ENOMEM;
		d = ZSTD_decompressDCtx(dctx, chunk, len, frame, z);
		if (ZSTD_isError(d) || d != len)
			return patch_fail(ctx, "frame",
					  "patch store: chunk %u does not decode to its %u bytes: "
					  "%s",
					  i, len, ZSTD_isError(d) ? ZSTD_getErrorName(d) : "short");
		r = swu_chunk_index_sha256(idx, i, want);
		if (r >= 0)
			r = swu_sha256(chunk, len, got);
		if (r < 0)
			return r;
		if (memcmp(want, got, SWU_SHA256_SIZE) != 0)
			return patch_fail(ctx, "hash",
					  "patch store: chunk %u does not match its SHA-256 in the "
					  "index",
					  i);
	}
	return 0;
}
