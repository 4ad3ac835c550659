/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "delta.h"
#include "fileio.h"
#include "macro.h"
#include "patch.h"

/* Where a chunk comes from: the kind in the top two bits, an offset in the active slot below. */
#define SRC_MISSING   UINT64_C(0)
#define SRC_IN_PLACE  (UINT64_C(1) << 62)
#define SRC_ACTIVE    (UINT64_C(2) << 62)
#define SRC_KIND(s)   ((s) & (UINT64_C(3) << 62))
#define SRC_OFFSET(s) ((s) & ~(UINT64_C(3) << 62))
#define FETCH	      UINT64_MAX /* a block of a missing chunk that the active slot does not hold */
/*
 * Missing chunks are handled in batches of about this many blocks (records, sources and the
 * level-2 table take some 40 bytes a block), so memory stays flat however much changed: each
 * batch costs one more read of the active slot.
 */
#define BATCH_BLOCKS (32u * 1024u)
/* Local bytes between two frames that one range may span (see swu_delta_plan()). */
#define JOIN_LOCAL_MAX (4u * 1024u * 1024u)
/*
 * A patch store's frames one range may join: each is a whole chunk (up to a 256 KiB chunk and
 * its reference read, decoded, hashed and written), and a range held in memory is fed in one go.
 */
#define JOIN_PATCH_FRAMES 32u
/* Rolling level 2: a bitmap of the wanted rolling hashes rules out most offsets at once. */
#define ROLL_BITS   21
#define SCAN_BUFFER (128u * 1024u)

struct SwuDelta {
	SwuContext *ctx;
	SwuChunkIndex *idx;
	int active_fd, inactive_fd;
	uint64_t active_length;
	/* a patch store (libswu/patch.h): a frame a missing chunk, decoded with a reference */
	bool patch;
	uint8_t *rbuf;
	/* the SHA-256 of the active slot's bytes the scan read, when asked for before it */
	bool want_active_sha256, have_active_sha256;
	uint8_t active_sha256[SWU_SHA256_SIZE];
	uint64_t *src; /* per chunk */
	char why[256];

	/* the missing chunks, in order; the current batch of them (missing, m), their records and
	 * the source of each of their blocks */
	uint32_t *all_missing, n_missing, batch_start, batch_blocks;
	uint64_t join_local_max;
	uint32_t *missing, m;
	uint64_t *rec_at;  /* m + 1: where each record starts in rec */
	uint64_t *rec_off; /* m: where each record starts in the store */
	uint32_t walk;	   /* the chunk whose record starts at walk_off: batches go in order */
	uint64_t walk_off;
	uint32_t *blk_at; /* m + 1: where each chunk's blocks start in bsrc */
	uint8_t *rec;
	uint64_t *bsrc;
	SwuRange *ranges;
	size_t n_ranges;
	bool planned;

	/* writing, in order */
	uint32_t cur, pending, cur_missing, cur_local; /* cur_local: bytes of cur from a slot */
	bool loaded;
	uint8_t *cbuf, *fbuf;
	size_t fhave;
	ZSTD_DCtx *dctx;
	/* the next frame to arrive: missing chunk fj, block fk, at [fstart, fend) of the store */
	uint32_t fj, fk;
	uint64_t fstart, fend;
	bool fvalid;
	uint64_t pos, range_end;

	SwuDeltaStats stats;
};

static int stop(SwuDelta *d, const char *fmt, ...) _printf_(2, 3);
static int stop(SwuDelta *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	return -EPROTO;
}

int swu_delta_new(SwuContext *ctx, SwuChunkIndex *idx, SwuDelta **ret)
{
	SwuDelta *d;

	assert_return(ctx, -EINVAL);
	assert_return(idx, -EINVAL);
	assert_return(ret, -EINVAL);

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->ctx = ctx;
	d->idx = idx;
	d->active_fd = d->inactive_fd = -EBADF;
	d->src = calloc(MAX(idx->n, 1u), sizeof(*d->src));
	d->cbuf = malloc(idx->params.max);
	d->fbuf = malloc(ZSTD_compressBound(SWU_CHUNK_BLOCK));
	d->dctx = ZSTD_createDCtx();
	if (!d->src || !d->cbuf || !d->fbuf || !d->dctx ||
	    ZSTD_isError(
		    ZSTD_DCtx_setParameter(d->dctx, ZSTD_d_windowLogMax, SWU_STORE_WINDOW_LOG))) {
		d->idx = NULL; /* the caller keeps it on failure */
		swu_delta_free(d);
		return -ENOMEM;
	}
	d->stats.chunks = idx->n;
	d->walk_off = SWU_STORE_MAGIC_SIZE;
	d->batch_blocks = BATCH_BLOCKS;
	d->join_local_max = JOIN_LOCAL_MAX;
	*ret = d;
	return 0;
}

SwuDelta *swu_delta_free(SwuDelta *d)
{
	if (!d)
		return NULL;
	swu_chunk_index_free(d->idx);
	free(d->src);
	free(d->all_missing);
	free(d->rec_at);
	free(d->rec_off);
	free(d->blk_at);
	free(d->rec);
	free(d->bsrc);
	free(d->ranges);
	free(d->cbuf);
	free(d->fbuf);
	free(d->rbuf);
	ZSTD_freeDCtx(d->dctx);
	free(d);
	return NULL;
}

const char *swu_delta_why(const SwuDelta *d)
{
	assert_return(d, NULL);

	return d->why;
}

void swu_delta_get_stats(const SwuDelta *d, SwuDeltaStats *ret)
{
	assert_return_void(d);
	assert_return_void(ret);

	*ret = d->stats;
}

/* --- level 1: whole chunks ------------------------------------------------------------------- */

typedef struct Table {
	uint32_t *head, *next, mask;
} Table;

static void table_done(Table *t)
{
	free(t->head);
	free(t->next);
}

static int table_init(Table *t, uint32_t n)
{
	uint32_t size = 16;

	while (size < n)
		size <<= 1;
	t->mask = size - 1;
	t->head = malloc(size * sizeof(uint32_t));
	t->next = malloc(MAX(n, 1u) * sizeof(uint32_t));
	if (!t->head || !t->next)
		return -ENOMEM;
	memset(t->head, 0xff, size * sizeof(uint32_t));
	return 0;
}

static void table_add(Table *t, uint64_t hash, uint32_t i)
{
	uint32_t *h = &t->head[hash & t->mask];

	t->next[i] = *h;
	*h = i;
}

static int scan_in_place(SwuDelta *d, int fd)
{
	const SwuChunkIndex *idx = d->idx;

	for (uint32_t i = 0; i < idx->n; i++) {
		uint32_t len = swu_chunk_index_length(idx, i);
		size_t got;
		int r;

		if (swu_context_cancelled(d->ctx))
			return -ECANCELED;
		r = swu_pread_full(fd, d->cbuf, len, idx->offsets[i], &got);
		if (r < 0)
			return r;
		if (got < len)
			break; /* the slot is smaller than the target: install checks refuse that */
		if (swu_chunk_fast_hash(d->cbuf, len) == swu_chunk_index_hash(idx, i))
			d->src[i] = SRC_IN_PLACE;
	}
	return 0;
}

typedef struct ActiveScan {
	SwuDelta *d;
	Table t;
	SwuSha256 *sha; /* the slot's bytes as they are cut, when asked for */
	uint64_t hashed;
} ActiveScan;

/*
 * Every chunk in the bucket of @c that it matches takes @c as its source and leaves the bucket:
 * a slot full of identical chunks (zeros) then costs one walk, not one per chunk.
 */
static int found_active(void *userdata, const SwuChunk *c)
{
	ActiveScan *s = userdata;
	SwuDelta *d = s->d;
	uint32_t *link = &s->t.head[c->hash & s->t.mask];

	if (s->sha) {
		int r = swu_sha256_update(s->sha, c->data, c->length);

		if (r < 0)
			return r;
		s->hashed += c->length;
	}
	while (*link != UINT32_MAX) {
		uint32_t i = *link;

		if (swu_chunk_index_hash(d->idx, i) == c->hash &&
		    swu_chunk_index_length(d->idx, i) == c->length) {
			d->src[i] = SRC_ACTIVE | c->offset;
			*link = s->t.next[i];
		} else
			link = &s->t.next[i];
	}
	return 0;
}

static int scan_active(SwuDelta *d, int fd, uint64_t length)
{
	ActiveScan s = { .d = d };
	SwuSha256 sha;
	int r;

	r = table_init(&s.t, d->idx->n);
	for (uint32_t i = 0; r >= 0 && i < d->idx->n; i++)
		if (d->src[i] == SRC_MISSING)
			table_add(&s.t, swu_chunk_index_hash(d->idx, i), i);
	if (r >= 0 && d->want_active_sha256) {
		r = swu_sha256_init(&sha);
		s.sha = r >= 0 ? &sha : NULL;
	}
	if (r >= 0)
		r = swu_chunk_scan(d->ctx, fd, length, &d->idx->params, /* allow_short= */ true,
				   found_active, &s);
	/* Every byte up to @length, or no hash: a slot shorter than the image is not the image. */
	if (r >= 0 && s.sha && s.hashed == length)
		r = swu_sha256_final(&sha, d->active_sha256);
	if (r >= 0 && s.sha && s.hashed == length)
		d->have_active_sha256 = true;
	if (s.sha)
		swu_sha256_done(&sha);
	table_done(&s.t);
	return r;
}

void swu_delta_want_active_sha256(SwuDelta *d)
{
	assert_return_void(d);

	d->want_active_sha256 = true;
}

int swu_delta_active_sha256(const SwuDelta *d, uint8_t ret[SWU_SHA256_SIZE])
{
	assert_return(d, -EINVAL);
	assert_return(ret, -EINVAL);

	if (!d->have_active_sha256)
		return -ENODATA;
	memcpy(ret, d->active_sha256, SWU_SHA256_SIZE);
	return 0;
}

int swu_delta_scan(SwuDelta *d, int active_fd, uint64_t active_length, int inactive_fd)
{
	int r = 0;

	assert_return(d, -EINVAL);

	if (!d->idx->fast)
		return -EINVAL; /* scanned already */
	d->active_fd = active_fd;
	d->active_length = active_fd >= 0 ? active_length : 0;
	d->inactive_fd = inactive_fd;
	if (inactive_fd >= 0)
		r = scan_in_place(d, inactive_fd);
	if (r >= 0 && active_fd >= 0)
		r = scan_active(d, active_fd, active_length);
	if (r < 0)
		return r;
	swu_chunk_index_drop_fast(d->idx); /* no more lookups: 8 bytes a chunk */
	for (uint32_t i = 0; i < d->idx->n; i++) {
		uint32_t len = swu_chunk_index_length(d->idx, i);

		switch (SRC_KIND(d->src[i])) {
		case SRC_IN_PLACE:
			d->stats.chunks_in_place++;
			d->stats.bytes_local += len;
			break;
		case SRC_ACTIVE:
			d->stats.chunks_active++;
			d->stats.bytes_local += len;
			break;
		default:
			d->stats.chunks_missing++;
			d->stats.blocks_missing += swu_chunk_n_blocks(len);
		}
	}
	return 0;
}

/* --- the records of the missing chunks -------------------------------------------------------- */

static uint64_t record_size(const SwuDelta *d, uint32_t i)
{
	return d->patch ? SWU_PATCH_RECORD_SIZE : swu_store_record_size(d->idx, i);
}

/*
 * The frames of a missing chunk (units): one a block in a chunk store, one for the whole chunk
 * in a patch store.
 */
static uint32_t units(const SwuDelta *d, uint32_t len)
{
	return d->patch ? 1 : swu_chunk_n_blocks(len);
}

static uint32_t unit_offset(const SwuDelta *d, uint32_t k)
{
	return d->patch ? 0 : k * SWU_CHUNK_BLOCK;
}

static uint32_t unit_length(const SwuDelta *d, uint32_t len, uint32_t k)
{
	return d->patch ? len : MIN(SWU_CHUNK_BLOCK, len - k * SWU_CHUNK_BLOCK);
}

int swu_delta_use_patch_store(SwuDelta *d)
{
	uint32_t max;
	uint8_t *f;

	assert_return(d, -EINVAL);

	/* After the scan, before the first record: the records' layout is the store's. */
	if (d->idx->fast || d->all_missing || d->active_fd < 0)
		return -EINVAL;
	if (d->patch)
		return 0;
	max = d->idx->params.max;
	d->rbuf = malloc(swu_patch_ref_max(max));
	f = realloc(d->fbuf, ZSTD_compressBound(max));
	if (f)
		d->fbuf = f;
	if (!d->rbuf || !f ||
	    ZSTD_isError(
		    ZSTD_DCtx_setParameter(d->dctx, ZSTD_d_windowLogMax, SWU_PATCH_WINDOW_LOG)))
		return -ENOMEM;
	d->patch = true;
	return 0;
}

#define NO_JOIN UINT64_MAX /* add_range(): a range of its own */

static int add_range(SwuDelta *d, uint64_t offset, uint64_t length, uint64_t gap, size_t *cap)
{
	SwuRange *last = d->n_ranges > 0 ? &d->ranges[d->n_ranges - 1] : NULL;

	if (last && gap != NO_JOIN && offset >= last->offset + last->length &&
	    offset - (last->offset + last->length) <= gap) {
		last->length = offset + length - last->offset;
		return 0;
	}
	if (d->n_ranges == *cap) {
		size_t c = MAX(*cap * 2, (size_t)64);
		SwuRange *a = realloc(d->ranges, c * sizeof(*a));

		if (!a)
			return -ENOMEM;
		d->ranges = a;
		*cap = c;
	}
	d->ranges[d->n_ranges++] = (SwuRange){ offset, length };
	return 0;
}

static int list_missing(SwuDelta *d)
{
	uint32_t j = 0;

	d->all_missing = malloc(MAX(d->stats.chunks_missing, 1u) * sizeof(uint32_t));
	if (!d->all_missing)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->idx->n; i++)
		if (d->src[i] == SRC_MISSING)
			d->all_missing[j++] = i;
	d->n_missing = j;
	return 0;
}

static void free_batch(SwuDelta *d)
{
	d->rec_at = mfree(d->rec_at);
	d->rec_off = mfree(d->rec_off);
	d->blk_at = mfree(d->blk_at);
	d->rec = mfree(d->rec);
	d->bsrc = mfree(d->bsrc);
	d->ranges = mfree(d->ranges);
	d->n_ranges = 0;
}

/* The next missing chunks, up to BATCH_BLOCKS blocks (at least one chunk). */
static int alloc_batch(SwuDelta *d)
{
	uint32_t m = 0, blocks = 0;

	free_batch(d);
	d->missing = d->all_missing + d->batch_start;
	while (d->batch_start + m < d->n_missing) {
		uint32_t nb = swu_chunk_n_blocks(swu_chunk_index_length(d->idx, d->missing[m]));

		if (m > 0 && blocks + nb > d->batch_blocks)
			break;
		blocks += nb;
		m++;
	}
	d->m = m;
	d->rec_at = malloc(((size_t)m + 1) * sizeof(uint64_t));
	d->rec_off = malloc(MAX((size_t)m, (size_t)1) * sizeof(uint64_t));
	d->blk_at = malloc(((size_t)m + 1) * sizeof(uint32_t));
	if (!d->rec_at || !d->rec_off || !d->blk_at)
		return -ENOMEM;
	d->rec_at[0] = 0;
	d->blk_at[0] = 0;
	for (uint32_t j = 0; j < m; j++) {
		uint32_t i = d->missing[j];

		/* Where its record is: the sizes of the records before it, added up once. */
		if (d->walk > i) {
			d->walk = 0; /* a batch again: from the start */
			d->walk_off = SWU_STORE_MAGIC_SIZE;
		}
		for (; d->walk < i; d->walk++)
			d->walk_off += record_size(d, d->walk);
		d->rec_off[j] = d->walk_off;
		d->rec_at[j + 1] = d->rec_at[j] + record_size(d, i);
		d->blk_at[j + 1] = d->blk_at[j] + units(d, swu_chunk_index_length(d->idx, i));
	}
	/* Zeroed: a record the server never sent fails its check (frames before the records). */
	d->rec = calloc(1, MAX(d->rec_at[m], (uint64_t)1));
	d->bsrc = malloc(MAX((size_t)d->blk_at[m], (size_t)1) * sizeof(uint64_t));
	if (!d->rec || !d->bsrc)
		return -ENOMEM;
	return 0;
}

void swu_delta_set_batch_blocks(SwuDelta *d, uint32_t blocks)
{
	assert_return_void(d);

	d->batch_blocks = MAX(blocks, 1u);
}

void swu_delta_set_join_local_max(SwuDelta *d, uint64_t bytes)
{
	assert_return_void(d);

	d->join_local_max = bytes;
}

bool swu_delta_batch_done(const SwuDelta *d)
{
	assert_return(d, false);

	return d->planned && d->cur < d->idx->n && d->src[d->cur] == SRC_MISSING &&
	       d->cur_missing >= d->m && d->batch_start + d->m < d->n_missing;
}

int swu_delta_next_batch(SwuDelta *d)
{
	assert_return(d, -EINVAL);

	if (!swu_delta_batch_done(d))
		return -EINVAL;
	d->batch_start += d->m;
	d->cur_missing = 0;
	d->planned = false;
	d->fvalid = false;
	free_batch(d);
	return 0;
}

int swu_delta_record_ranges(SwuDelta *d, uint64_t gap, const SwuRange **ret, size_t *ret_n)
{
	size_t cap = 0;
	int r = 0;

	assert_return(d, -EINVAL);
	assert_return(ret, -EINVAL);
	assert_return(ret_n, -EINVAL);

	if (!d->all_missing)
		r = list_missing(d);
	if (r >= 0)
		r = alloc_batch(d);
	for (uint32_t j = 0; r >= 0 && j < d->m; j++)
		r = add_range(d, d->rec_off[j], record_size(d, d->missing[j]), gap, &cap);
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->n_ranges; i++)
		d->stats.download += d->ranges[i].length;
	d->stats.requests += (uint32_t)d->n_ranges;
	*ret = d->ranges;
	*ret_n = d->n_ranges;
	return 0;
}

/* The missing chunk whose record holds store offset @offset, by binary search. */
static uint32_t missing_at(const SwuDelta *d, uint64_t offset)
{
	uint32_t lo = 0, hi = d->m;

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (d->rec_off[mid] <= offset)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int swu_delta_feed_records(SwuDelta *d, uint64_t offset, const void *data, size_t n)
{
	const uint8_t *p = data;

	assert_return(d, -EINVAL);
	assert_return(data || n == 0, -EINVAL);

	/* Bytes between the records of a coalesced range belong to chunks we have: dropped. */
	while (n > 0 && d->m > 0) {
		uint32_t j = missing_at(d, offset);
		uint64_t start = d->rec_off[j];
		uint64_t size = record_size(d, d->missing[j]), k;

		if (offset < start) {
			k = MIN((uint64_t)n, start - offset);
		} else if (offset >= start + size) {
			uint64_t next = j + 1 < d->m ? d->rec_off[j + 1] : UINT64_MAX;

			k = MIN((uint64_t)n, next - offset);
		} else {
			k = MIN((uint64_t)n, start + size - offset);
			memcpy(d->rec + d->rec_at[j] + (offset - start), p, k);
		}
		p += k;
		n -= k;
		offset += k;
	}
	return 0;
}

/* --- level 2: blocks, and the plan ------------------------------------------------------------ */

static const uint8_t *record(const SwuDelta *d, uint32_t j)
{
	return d->rec + d->rec_at[j];
}

/* Block @k of missing chunk @j in its record. */
static const uint8_t *record_block(const SwuDelta *d, uint32_t j, uint32_t k)
{
	return record(d, j) + SWU_STORE_RECORD_HEAD + (size_t)swu_store_record_block(d->idx) * k;
}

static uint32_t frame_size(const SwuDelta *d, uint32_t j, uint32_t k)
{
	return swu_le32((d->patch ? record(d, j) : record_block(d, j, k)) + 8);
}

static uint64_t frame_start(const SwuDelta *d, uint32_t j, uint32_t k)
{
	uint64_t s = swu_le64(record(d, j));

	for (uint32_t b = 0; b < k; b++)
		s += frame_size(d, j, b);
	return s;
}

/* A patch store's chunk: the active slot's bytes its frame is decoded with. */
static uint32_t ref_length(const SwuDelta *d, uint32_t j)
{
	return d->patch ? swu_le32(record(d, j) + 12) : 0;
}

static uint64_t ref_offset(const SwuDelta *d, uint32_t j)
{
	return swu_le64(record(d, j) + 16);
}

/*
 * The records are not signed: their frames must lie after the records, in order, each bounded; a
 * patch store's references inside the installed image, each at most swu_patch_ref_max().
 */
static int check_records(SwuDelta *d)
{
	uint64_t end = d->patch ? swu_patch_records_end(d->idx) : swu_store_records_end(d->idx);

	for (uint32_t j = 0; j < d->m; j++) {
		uint32_t len = swu_chunk_index_length(d->idx, d->missing[j]);
		uint32_t nb = units(d, len);
		uint64_t start = swu_le64(record(d, j));

		if (start < end || start > UINT64_MAX / 4)
			return stop(d, "chunk store: frames of chunk %u at %llu overlap",
				    d->missing[j], (unsigned long long)start);
		if (d->patch && (ref_length(d, j) > swu_patch_ref_max(len) ||
				 ref_offset(d, j) > d->active_length ||
				 ref_length(d, j) > d->active_length - ref_offset(d, j)))
			return stop(d,
				    "patch store: chunk %u references %u bytes at %llu, outside "
				    "the installed image or too many",
				    d->missing[j], ref_length(d, j),
				    (unsigned long long)ref_offset(d, j));
		for (uint32_t k = 0; k < nb; k++) {
			uint32_t blen = unit_length(d, len, k);
			uint32_t z = frame_size(d, j, k);

			if (z == 0 || z > ZSTD_compressBound(blen))
				return stop(d, "chunk store: frame %u of chunk %u claims %u bytes",
					    k, d->missing[j], z);
			start += z;
		}
		end = start;
	}
	return 0;
}

static uint64_t record_block_hash(const SwuDelta *d, uint32_t j, uint32_t k)
{
	return swu_le64(record_block(d, j, k));
}

/* Stores with rolling hashes: the block's. */
static uint32_t record_block_rolling(const SwuDelta *d, uint32_t j, uint32_t k)
{
	return swu_le32(record_block(d, j, k) + 12);
}

/* The missing chunk that block @b (of all missing blocks) belongs to, by binary search. */
static uint32_t missing_at_block(const SwuDelta *d, uint32_t b)
{
	uint32_t lo = 0, hi = d->m;

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (d->blk_at[mid] <= b)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Level 2 looks the missing blocks up by the exact value of their hash (the rolling hash when the
 * store has them, the high half of the fast hash otherwise), not by a bucket of it.
 * Records are unsigned: a store may give any values, so that a hash table would put them all in
 * the bucket of the all-zero window and make every offset of a zero run walk them. Here the
 * blocks are sorted by value, those of one value side by side, and a lookup is a binary search,
 * whatever the values. Each block a lookup meets is either found or refuted by its whole fast
 * hash; it leaves the search once found or after MISSES_MAX refutations, so a batch makes at
 * most MISSES_MAX probes a block, however long the slot and however the store lies. Nine bytes a
 * block: the batch's other tables take most of what a large delta's 16 MiB leave.
 */
typedef struct Wanted {
	uint32_t key; /* the value looked up */
	uint32_t blk; /* the block (of all missing blocks of the batch), GONE once out of the search */
} Wanted;

/* Entries out of the search: the last ones of their value (a batch has far fewer blocks). */
#define GONE UINT32_MAX

typedef struct Lookup {
	Wanted *e;
	uint32_t n;
	uint8_t *bits;	 /* rolling: a bitmap of the wanted values rules out most offsets */
	uint8_t *misses; /* matches of the value that the fast hash refuted, per block */
} Lookup;

/* A block whose value matched this often without its fast hash: a lying record. */
#define MISSES_MAX 8

static bool wanted_less(const Wanted *x, const Wanted *y)
{
	return x->key != y->key ? x->key < y->key : x->blk < y->blk;
}

static void wanted_sift(Wanted *e, uint32_t root, uint32_t n)
{
	for (uint32_t c; (c = 2 * root + 1) < n; root = c) {
		Wanted t;

		if (c + 1 < n && wanted_less(&e[c], &e[c + 1]))
			c++;
		if (!wanted_less(&e[root], &e[c]))
			return;
		t = e[root], e[root] = e[c], e[c] = t;
	}
}

/*
 * Sorts in place: glibc's qsort() merges through a copy of the whole array, which the 16 MiB
 * peak of a large delta has no room for.
 */
static void wanted_sort(Wanted *e, uint32_t n)
{
	for (uint32_t i = n / 2; i-- > 0;)
		wanted_sift(e, i, n);
	for (uint32_t i = n; i-- > 1;) {
		Wanted t = e[0];

		e[0] = e[i], e[i] = t;
		wanted_sift(e, 0, i);
	}
}

static void lookup_done(Lookup *l)
{
	free(l->e);
	free(l->bits);
	free(l->misses);
}

static inline uint32_t roll_bit(uint32_t h)
{
	return h >> (32 - ROLL_BITS);
}

static inline uint32_t fast_key(uint64_t x)
{
	return (uint32_t)(x >> 32);
}

/* Every whole block of the batch's missing chunks, by value (a short last block never matches). */
static int lookup_init(SwuDelta *d, Lookup *l, bool rolling)
{
	uint32_t total = d->blk_at[d->m];

	l->e = malloc(MAX(total, 1u) * sizeof(Wanted));
	l->misses = calloc(1, MAX(total, 1u));
	if (!l->e || !l->misses)
		return -ENOMEM;
	if (rolling) {
		l->bits = calloc(1, (size_t)1 << (ROLL_BITS - 3));
		if (!l->bits)
			return -ENOMEM;
	}
	for (uint32_t j = 0; j < d->m; j++) {
		uint32_t nb = d->blk_at[j + 1] - d->blk_at[j];
		uint32_t len = swu_chunk_index_length(d->idx, d->missing[j]);

		for (uint32_t k = 0; k < nb && (k + 1) * SWU_CHUNK_BLOCK <= len; k++) {
			uint32_t key = rolling ? record_block_rolling(d, j, k)
					       : fast_key(record_block_hash(d, j, k));

			l->e[l->n++] = (Wanted){ key, d->blk_at[j] + k };
			if (rolling)
				l->bits[roll_bit(key) >> 3] |= 1u << (roll_bit(key) & 7);
		}
	}
	wanted_sort(l->e, l->n);
	return 0;
}

/* The first entry of @key (l->n when none): a binary search. */
static uint32_t lookup_find(const Lookup *l, uint32_t key)
{
	uint32_t lo = 0, hi = l->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (l->e[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether entry @p is a block of value @key still looked for. */
static inline bool lookup_live(const Lookup *l, uint32_t p, uint32_t key)
{
	return p < l->n && l->e[p].key == key && l->e[p].blk != GONE;
}

/*
 * The window at @at, whose fast hash is @x: each block still looked for of the value whose first
 * entry is @p is found there or refuted; those found or refuted too often leave the search (the
 * others move up, so the entries still looked for stay first).
 */
static void lookup_take(SwuDelta *d, Lookup *l, uint32_t p, uint64_t x, uint64_t at)
{
	uint32_t key = l->e[p].key, keep = p;

	for (; lookup_live(l, p, key); p++) {
		uint32_t i = l->e[p].blk, j = missing_at_block(d, i);

		d->stats.probes++;
		if (record_block_hash(d, j, i - d->blk_at[j]) == x)
			d->bsrc[i] = at;
		else if (++l->misses[i] < MISSES_MAX)
			l->e[keep++].blk = i;
	}
	for (; keep < p; keep++)
		l->e[keep].blk = GONE;
}

/* Stores without rolling hashes: every 4 KiB boundary of the active slot, by fast hash. */
static int scan_aligned(SwuDelta *d, Lookup *l, const uint8_t *buf, size_t got, uint64_t off)
{
	for (size_t b = 0; b + SWU_CHUNK_BLOCK <= got; b += SWU_CHUNK_BLOCK) {
		uint64_t x = swu_xxh64(buf + b, SWU_CHUNK_BLOCK, 0);
		uint32_t p = lookup_find(l, fast_key(x));

		if (lookup_live(l, p, fast_key(x)))
			lookup_take(d, l, p, x, off + b);
	}
	return 0;
}

/*
 * Stores with rolling hashes: every byte offset of the active slot, by rolling hash (rsync's way);
 * a rolling match is confirmed by the fast hash before it counts. @buf holds @got bytes from
 * @off; windows starting in the first @got - 4095 bytes are looked at.
 */
static int scan_rolling(SwuDelta *d, Lookup *l, const uint8_t *buf, size_t got, uint64_t off)
{
	uint32_t pow = swu_rolling_pow(), h;

	if (got < SWU_CHUNK_BLOCK)
		return 0;
	h = swu_rolling_hash(buf);
	for (size_t b = 0;; b++) {
		if (l->bits[roll_bit(h) >> 3] & (1u << (roll_bit(h) & 7))) {
			uint32_t p = lookup_find(l, h);

			if (lookup_live(l, p, h))
				lookup_take(d, l, p, swu_xxh64(buf + b, SWU_CHUNK_BLOCK, 0),
					    off + b);
		}
		if (b + SWU_CHUNK_BLOCK >= got)
			break;
		h = swu_rolling_roll(h, pow, buf[b], buf[b + SWU_CHUNK_BLOCK]);
	}
	return 0;
}

static int scan_blocks(SwuDelta *d, int fd, uint64_t length)
{
	_cleanup_free_ uint8_t *buf = malloc(SCAN_BUFFER);
	bool rolling = swu_chunk_index_rolling(d->idx);
	/* Rolling windows overlap the next buffer: it starts 4095 bytes before this one ends. */
	size_t step = rolling ? SCAN_BUFFER - SWU_CHUNK_BLOCK + 1 : SCAN_BUFFER;
	Lookup l = {};
	int r;

	if (!buf)
		return -ENOMEM;
	if (d->blk_at[d->m] == 0)
		return 0; /* nothing missing in this batch to look for */
	r = lookup_init(d, &l, rolling);
	for (uint64_t off = 0; r >= 0 && l.n > 0 && off < length; off += step) {
		size_t want = (size_t)MIN((uint64_t)SCAN_BUFFER, length - off), got;

		if (swu_context_cancelled(d->ctx)) {
			r = -ECANCELED;
			break;
		}
		r = swu_pread_full(fd, buf, want, off, &got);
		if (r >= 0)
			r = rolling ? scan_rolling(d, &l, buf, got, off)
				    : scan_aligned(d, &l, buf, got, off);
		if (r >= 0 && (got < want || off + got >= length))
			break;
	}
	lookup_done(&l);
	return r;
}

/* Moves the frame iterator to the first block at or after (j, k) that must be fetched. */
static void seek_frame(SwuDelta *d, uint32_t j, uint32_t k)
{
	for (; j < d->m; j++, k = 0)
		for (; d->blk_at[j] + k < d->blk_at[j + 1]; k++)
			if (d->bsrc[d->blk_at[j] + k] == FETCH) {
				d->fj = j;
				d->fk = k;
				d->fstart = frame_start(d, j, k);
				d->fend = d->fstart + frame_size(d, j, k);
				d->fvalid = true;
				return;
			}
	d->fvalid = false;
}

/*
 * The records steer which bytes are fetched, and they are not signed: frames spread out so that
 * every range brings gaps (up to the coalescing gap each) could cost more than the blob. The
 * delta never does: the frames of a batch may cost no more than the blob from the writer's
 * offset (what falling back now costs), and all of the delta's downloads together (records and
 * frames, @spent before this batch's @planned frames) no more than the whole blob.
 */
static int check_cost(SwuDelta *d, uint64_t spent, uint64_t planned)
{
	uint64_t length = d->idx->length, written = d->idx->offsets[d->cur];
	uint64_t rest = length - MAX(written, MIN(spent, length));

	if (planned > rest)
		return stop(d,
			    "chunk store: its frames would cost %llu bytes, more than the %llu "
			    "bytes left before the delta costs more than the blob",
			    (unsigned long long)planned, (unsigned long long)rest);
	return 0;
}

int swu_delta_plan(SwuDelta *d, int active_fd, uint64_t active_length, uint64_t gap,
		   const SwuRange **ret, size_t *ret_n)
{
	uint64_t planned = 0;
	uint32_t prev = UINT32_MAX, joined = 0;
	size_t cap = 0;
	int r;

	assert_return(d, -EINVAL);
	assert_return(ret, -EINVAL);
	assert_return(ret_n, -EINVAL);

	r = check_records(d);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < d->blk_at[d->m]; i++)
		d->bsrc[i] = FETCH;
	/*
	 * At every byte offset when the store has rolling hashes, else at block boundaries. A patch
	 * store's records name no blocks: its chunks are fetched whole, and reference the slot.
	 */
	if (active_fd >= 0 && !d->patch) {
		r = scan_blocks(d, active_fd, active_length);
		if (r < 0)
			return r;
	}
	free(d->ranges);
	d->ranges = NULL;
	d->n_ranges = 0;
	for (seek_frame(d, 0, 0); d->fvalid; seek_frame(d, d->fj, d->fk + 1)) {
		uint32_t i = d->missing[d->fj];
		/*
		 * Chunks between two frames are written from the slots while the range that joins
		 * them streams: never more than join_local_max bytes of them, whatever offsets the
		 * (unsigned) records claim, so a callback's work stays bounded.
		 */
		bool far = prev != UINT32_MAX && i > prev + 1 &&
			   d->idx->offsets[i] - d->idx->offsets[prev + 1] > d->join_local_max;
		size_t before = d->n_ranges;

		if (d->patch && joined >= JOIN_PATCH_FRAMES)
			far = true;
		r = add_range(d, d->fstart, d->fend - d->fstart, far ? NO_JOIN : gap, &cap);
		joined = d->n_ranges > before ? 1 : joined + 1;
		if (r < 0)
			return r;
		prev = i;
	}
	for (uint32_t j = 0; j < d->m; j++) {
		uint32_t len = swu_chunk_index_length(d->idx, d->missing[j]);

		for (uint32_t k = 0; k < d->blk_at[j + 1] - d->blk_at[j]; k++)
			if (d->bsrc[d->blk_at[j] + k] != FETCH) {
				d->stats.blocks_active++;
				d->stats.bytes_local += unit_length(d, len, k);
			}
	}
	for (size_t i = 0; i < d->n_ranges; i++)
		planned += d->ranges[i].length;
	d->stats.download += planned;
	d->stats.requests += (uint32_t)d->n_ranges;
	r = check_cost(d, d->stats.download - planned, planned);
	if (r < 0)
		return r;
	seek_frame(d, 0, 0);
	d->planned = true;
	*ret = d->ranges;
	*ret_n = d->n_ranges;
	return 0;
}

/* --- writing --------------------------------------------------------------------------------- */

static int read_exact(SwuDelta *d, int fd, uint8_t *p, uint32_t n, uint64_t offset, uint32_t i)
{
	size_t got;
	int r;

	r = swu_pread_full(fd, p, n, offset, &got);
	if (r < 0)
		return r;
	if (got < n)
		return stop(d, "chunk %u: the slot ends before offset %llu", i,
			    (unsigned long long)(offset + n));
	return 0;
}

/* Reads what the slots hold of chunk d->cur into cbuf; counts the blocks still to arrive. */
static int load_chunk(SwuDelta *d)
{
	uint32_t i = d->cur, len = swu_chunk_index_length(d->idx, i);
	uint64_t s = d->src[i];
	int r = 0;

	d->pending = 0;
	d->cur_local = len;
	if (SRC_KIND(s) == SRC_IN_PLACE)
		r = read_exact(d, d->inactive_fd, d->cbuf, len, d->idx->offsets[i], i);
	else if (SRC_KIND(s) == SRC_ACTIVE)
		r = read_exact(d, d->active_fd, d->cbuf, len, SRC_OFFSET(s), i);
	else {
		uint32_t j = d->cur_missing;

		if (j >= d->m || d->missing[j] != i)
			return stop(d, "chunk %u: no plan", i);
		for (uint32_t k = 0; r >= 0 && k < d->blk_at[j + 1] - d->blk_at[j]; k++) {
			uint64_t b = d->bsrc[d->blk_at[j] + k];

			if (b == FETCH) {
				d->pending++;
				d->cur_local -= unit_length(d, len, k);
			} else
				r = read_exact(d, d->active_fd, d->cbuf + k * SWU_CHUNK_BLOCK,
					       SWU_CHUNK_BLOCK, b, i);
		}
	}
	if (r < 0)
		return r;
	d->loaded = true;
	return 0;
}

static const char *source_name(uint64_t s)
{
	switch (SRC_KIND(s)) {
	case SRC_IN_PLACE:
		return "the inactive slot";
	case SRC_ACTIVE:
		return "the active slot";
	default:
		return "the chunk store and the active slot";
	}
}

/* Chunk d->cur is complete in cbuf: checked against the signed index, then written. */
static int finish_chunk(SwuDelta *d, SwuSlotWriter *w)
{
	uint32_t i = d->cur, len = swu_chunk_index_length(d->idx, i);
	uint8_t digest[SWU_SHA256_SIZE], want[SWU_SHA256_SIZE];
	uint64_t s = d->src[i];
	int r;

	if (swu_slot_writer_offset(w) != d->idx->offsets[i])
		return stop(d, "chunk %u: the writer is at another offset", i);
	r = swu_sha256(d->cbuf, len, digest);
	if (r < 0)
		return r;
	r = swu_chunk_index_sha256(d->idx, i, want);
	if (r < 0)
		return stop(d, "chunk %u: its hash cannot be read from the index: %s", i,
			    strerror(-r));
	if (memcmp(digest, want, SWU_SHA256_SIZE) != 0)
		return stop(d, "chunk %u at offset %llu from %s does not match the index", i,
			    (unsigned long long)d->idx->offsets[i], source_name(s));
	r = SRC_KIND(s) == SRC_IN_PLACE ? swu_slot_writer_keep(w, d->cbuf, len)
					: swu_slot_writer_write(w, d->cbuf, len);
	if (r < 0)
		return r;
	if (s == SRC_MISSING)
		d->cur_missing++;
	d->stats.reused += d->cur_local;
	d->cur++;
	d->loaded = false;
	return 0;
}

int swu_delta_write_local(SwuDelta *d, SwuSlotWriter *w, uint64_t budget)
{
	uint64_t spent = 0;
	int r;

	assert_return(d, -EINVAL);
	assert_return(w, -EINVAL);

	if (!d->planned)
		return -EINVAL;
	while (d->cur < d->idx->n) {
		if (swu_context_cancelled(d->ctx))
			return -ECANCELED;
		if (d->src[d->cur] == SRC_MISSING && d->cur_missing >= d->m)
			return 0; /* the next batch's: swu_delta_next_batch() */
		if (!d->loaded) {
			r = load_chunk(d);
			if (r < 0)
				return r;
		}
		if (d->pending > 0)
			return 0;
		spent += swu_chunk_index_length(d->idx, d->cur);
		r = finish_chunk(d, w);
		if (r < 0)
			return r;
		if (spent >= budget)
			return 1;
	}
	return 0;
}

int swu_delta_begin_range(SwuDelta *d, size_t i)
{
	assert_return(d, -EINVAL);

	if (i >= d->n_ranges || !d->fvalid || d->fstart != d->ranges[i].offset || d->fhave != 0)
		return -EINVAL;
	d->pos = d->ranges[i].offset;
	d->range_end = d->pos + d->ranges[i].length;
	return 0;
}

static int decode_frame(SwuDelta *d, SwuSlotWriter *w)
{
	uint32_t j = d->fj, i = d->missing[j], len = swu_chunk_index_length(d->idx, i);
	uint32_t blen = unit_length(d, len, d->fk);
	ZSTD_inBuffer in = { d->fbuf, d->fhave, 0 };
	ZSTD_outBuffer out = { d->cbuf + unit_offset(d, d->fk), blen, 0 };
	size_t left, z;
	int r;

	/* Every chunk before this one is complete: write them, and load this one. */
	r = swu_delta_write_local(d, w, UINT64_MAX);
	if (r < 0)
		return r;
	if (d->cur != i || !d->loaded || d->pending == 0)
		return stop(d, "chunk %u: frames out of order", i);
	/*
	 * One zstd frame (not of the legacy formats, whose decoders ignore ZSTD_d_windowLogMax),
	 * decoded into exactly the unit: never more than its signed length. A patch store's frame
	 * (a window of up to 1 MiB) must state that length, so that it is decoded straight into the
	 * chunk in one pass, without a window buffer of the decoder's own.
	 */
	if (d->fhave < 4 || swu_le32(d->fbuf) != ZSTD_MAGICNUMBER ||
	    (d->patch && ZSTD_getFrameContentSize(d->fbuf, d->fhave) != blen))
		return stop(d, "chunk store: frame %u of chunk %u is not a zstd frame of %u bytes",
			    d->fk, i, blen);
	if (ZSTD_findFrameCompressedSize(d->fbuf, d->fhave) != d->fhave)
		return stop(d, "chunk store: block %u of chunk %u is not one zstd frame", d->fk, i);
	/*
	 * The streaming decoder, as it alone refuses a frame that declares a window above
	 * ZSTD_d_windowLogMax (ZSTD_decompressDCtx() ignores it); a frame whose length it states
	 * is decoded straight into the block, without a window buffer.
	 */
	(void)ZSTD_DCtx_reset(d->dctx, ZSTD_reset_session_only);
	/* A patch store's frame: decoded with its reference, read from the active slot. */
	if (ref_length(d, d->fj) > 0) {
		r = read_exact(d, d->active_fd, d->rbuf, ref_length(d, d->fj), ref_offset(d, d->fj),
			       i);
		if (r < 0)
			return r;
		if (ZSTD_isError(ZSTD_DCtx_refPrefix(d->dctx, d->rbuf, ref_length(d, d->fj))))
			return -ENOMEM;
		d->stats.frames_referenced++;
	}
	left = ZSTD_decompressStream(d->dctx, &out, &in);
	z = out.pos;
	if (ZSTD_isError(left) || left != 0 || z != blen)
		return stop(d, "chunk store: block %u of chunk %u does not decode to %u bytes: %s",
			    d->fk, i, blen,
			    ZSTD_isError(left) ? ZSTD_getErrorName(left)
			    : left != 0	       ? "longer"
					       : "short");
	d->fhave = 0;
	if (--d->pending == 0) {
		r = finish_chunk(d, w);
		if (r < 0)
			return r;
	}
	seek_frame(d, d->fj, d->fk + 1);
	return 0;
}

int swu_delta_feed(SwuDelta *d, SwuSlotWriter *w, const void *data, size_t n)
{
	const uint8_t *p = data;
	int r;

	assert_return(d, -EINVAL);
	assert_return(w, -EINVAL);
	assert_return(data || n == 0, -EINVAL);

	if (n > d->range_end - d->pos)
		return stop(d, "chunk store: more bytes than the range asked for");
	while (n > 0) {
		uint64_t k;

		if (!d->fvalid || d->fstart >= d->range_end)
			return stop(d, "chunk store: bytes past the last frame of a range");
		if (d->pos < d->fstart) { /* a gap of blocks we have, fetched to save a request */
			k = MIN((uint64_t)n, d->fstart - d->pos);
		} else {
			k = MIN((uint64_t)n, d->fend - d->pos);
			memcpy(d->fbuf + d->fhave, p, k);
			d->fhave += k;
		}
		p += k;
		n -= k;
		d->pos += k;
		if (d->pos == d->fend) {
			r = decode_frame(d, w);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int swu_delta_end_range(SwuDelta *d)
{
	assert_return(d, -EINVAL);

	if (d->pos != d->range_end || d->fhave != 0)
		return stop(d, "chunk store: a range ended at byte %llu, before %llu",
			    (unsigned long long)d->pos, (unsigned long long)d->range_end);
	return 0;
}

bool swu_delta_done(const SwuDelta *d)
{
	assert_return(d, false);

	return d->planned && d->cur == d->idx->n;
}
